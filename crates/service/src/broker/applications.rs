//! Applications registered with a broker tenant: the apps that sign users in through its user flows. The client id
//! is generated (a UUID, as Azure AD B2C's application ids are, so never starting with `-`); a confidential app's
//! secret is returned once and only its SHA-256 is stored.

use tessera_broker::config::{Application, TokenLifetimes};
use tessera_core::{ClientId, Secret, TenantId};
use tessera_oidc::{ClientType, SecretHash, SigningAlg};
use tessera_store::{BrokerApplication, BrokerStore, StoreError};
use time::OffsetDateTime;

use super::tenants::require_tenant;
use crate::error::{Result, ServiceError};
use crate::handles::random_token;

/// What a new application needs (everything but its id and secret, which are generated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApplication {
    /// Shown on the broker's pages.
    pub display_name: String,
    /// Public (SPA, native: PKCE, no secret) or confidential (a web app that keeps a secret).
    pub client_type: ClientType,
    /// Reply URLs, matched exactly.
    pub reply_urls: Vec<String>,
    /// Post-logout URLs, matched exactly.
    pub logout_urls: Vec<String>,
    /// Token lifetimes (B2C's ranges).
    pub token_lifetimes: TokenLifetimes,
    /// The algorithm of its ID tokens.
    pub id_token_signing_alg: SigningAlg,
}

/// Changes to an application: everything but its id, type and secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationUpdate {
    /// Shown on the broker's pages.
    pub display_name: String,
    /// Reply URLs, matched exactly.
    pub reply_urls: Vec<String>,
    /// Post-logout URLs, matched exactly.
    pub logout_urls: Vec<String>,
    /// Token lifetimes.
    pub token_lifetimes: TokenLifetimes,
    /// The algorithm of its ID tokens.
    pub id_token_signing_alg: SigningAlg,
}

/// A fresh application id: a random (version 4) UUID in lowercase hex.
fn new_client_id() -> Result<ClientId> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| ServiceError::Random)?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let id = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    ClientId::parse(&id).map_err(|e| ServiceError::Internal(format!("generated client id: {e}")))
}

/// Registers an application. Returns it and, for a confidential one, its secret: shown once, stored as a hash.
pub async fn create_application(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    new: NewApplication,
    now: OffsetDateTime,
) -> Result<(Application, Option<Secret>)> {
    require_tenant(store, tenant).await?;
    let secret = match new.client_type {
        ClientType::Confidential => Some(Secret::new(random_token(32)?)),
        ClientType::Public => None,
    };
    let application = Application {
        display_name: new.display_name.trim().to_owned(),
        client_id: new_client_id()?,
        client_type: new.client_type,
        secret_hash: secret.as_ref().map(|s| SecretHash::of(s.expose())),
        reply_urls: new.reply_urls,
        logout_urls: new.logout_urls,
        token_lifetimes: new.token_lifetimes,
        id_token_signing_alg: new.id_token_signing_alg,
    };
    application.validate()?;
    store
        .create_broker_application(&record(tenant, &application, now)?)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ServiceError::BrokerTenantNotFound,
            StoreError::Conflict => {
                ServiceError::Internal("a generated application id exists already".into())
            }
            other => other.into(),
        })?;
    Ok((application, secret))
}

/// Reads an application (with its secret hash, for the token endpoint).
pub async fn get_application(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    client_id: &ClientId,
) -> Result<Application> {
    let record = store
        .get_broker_application(tenant, client_id)
        .await?
        .ok_or(ServiceError::ApplicationNotFound)?;
    decode(&record)
}

/// Lists a tenant's applications, ordered by client id.
pub async fn list_applications(
    store: &dyn BrokerStore,
    tenant: &TenantId,
) -> Result<Vec<Application>> {
    require_tenant(store, tenant).await?;
    store
        .list_broker_applications(tenant)
        .await?
        .iter()
        .map(decode)
        .collect()
}

/// Changes an application's settings; its id, type and secret stay. Nothing changes when the result is refused.
///
/// With `expected` (the application as the caller read it, whose `ETag` or form version it checked) the change is
/// a conditional write: if anyone changed the application since, nothing is written and [`ServiceError::Changed`]
/// says so; of two changes based on one read exactly one is saved. `None` changes the stored application.
pub async fn update_application(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    client_id: &ClientId,
    update: ApplicationUpdate,
    expected: Option<&Application>,
) -> Result<Application> {
    let existing = read_expected(store, tenant, client_id, expected).await?;
    let application = Application {
        display_name: update.display_name.trim().to_owned(),
        reply_urls: update.reply_urls,
        logout_urls: update.logout_urls,
        token_lifetimes: update.token_lifetimes,
        id_token_signing_alg: update.id_token_signing_alg,
        ..decode(&existing)?
    };
    application.validate()?;
    store
        .update_broker_application(
            &record(tenant, &application, existing.created_at)?,
            expected.map(|_| &existing),
        )
        .await
        .map_err(not_found_as_application)?;
    Ok(application)
}

/// The stored application, and [`ServiceError::Changed`] if the caller's `expected` read is not what it decodes to
/// (the store's conditional write on this record then closes the gap up to the write).
async fn read_expected(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    client_id: &ClientId,
    expected: Option<&Application>,
) -> Result<BrokerApplication> {
    let existing = store
        .get_broker_application(tenant, client_id)
        .await?
        .ok_or(ServiceError::ApplicationNotFound)?;
    if let Some(expected) = expected
        && &decode(&existing)? != expected
    {
        return Err(ServiceError::Changed {
            what: "application",
        });
    }
    Ok(existing)
}

/// Gives a confidential application a new secret, returned once (only its hash is stored); the old secret stops
/// working at once. A public application has none ([`ServiceError::InvalidInput`] naming `client_type`).
pub async fn regenerate_secret(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    client_id: &ClientId,
) -> Result<(Application, Secret)> {
    let existing = store
        .get_broker_application(tenant, client_id)
        .await?
        .ok_or(ServiceError::ApplicationNotFound)?;
    let mut application = decode(&existing)?;
    if application.client_type != ClientType::Confidential {
        return Err(ServiceError::InvalidInput(
            "client_type: a public application has no secret".into(),
        ));
    }
    let secret = Secret::new(random_token(32)?);
    application.secret_hash = Some(SecretHash::of(secret.expose()));
    // Based on the application just read: a change saved in between is not overwritten.
    store
        .update_broker_application(
            &record(tenant, &application, existing.created_at)?,
            Some(&existing),
        )
        .await
        .map_err(not_found_as_application)?;
    Ok((application, secret))
}

/// Deletes an application. With `expected` (the application as read), only if nobody changed it since
/// ([`ServiceError::Changed`] otherwise, and nothing is deleted).
pub async fn delete_application(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    client_id: &ClientId,
    expected: Option<&Application>,
) -> Result<()> {
    let guard = match expected {
        Some(_) => Some(read_expected(store, tenant, client_id, expected).await?),
        None => None,
    };
    store
        .delete_broker_application(tenant, client_id, guard.as_ref())
        .await
        .map_err(not_found_as_application)
}

fn not_found_as_application(error: StoreError) -> ServiceError {
    match error {
        StoreError::NotFound => ServiceError::ApplicationNotFound,
        StoreError::Changed => ServiceError::Changed {
            what: "application",
        },
        other => other.into(),
    }
}

/// The store's shape: the secret hash in its own column, the rest of the application as JSON.
fn record(
    tenant: &TenantId,
    application: &Application,
    created_at: OffsetDateTime,
) -> Result<BrokerApplication> {
    let mut settings = serde_json::to_value(Application {
        secret_hash: None,
        ..application.clone()
    })
    .map_err(|e| ServiceError::Internal(format!("serialization: {e}")))?;
    if let Some(object) = settings.as_object_mut() {
        object.remove("secret_hash");
    }
    Ok(BrokerApplication {
        tenant: tenant.clone(),
        client_id: application.client_id.clone(),
        secret_hash: application
            .secret_hash
            .as_ref()
            .map(|h| h.as_bytes().to_vec()),
        settings,
        created_at,
    })
}

fn decode(record: &BrokerApplication) -> Result<Application> {
    let corrupt = |what: String| {
        ServiceError::Corrupt(format!("broker application {}: {what}", record.client_id))
    };
    let mut application: Application =
        serde_json::from_value(record.settings.clone()).map_err(|e| corrupt(e.to_string()))?;
    application.client_id = record.client_id.clone();
    application.secret_hash = match &record.secret_hash {
        Some(bytes) => Some(SecretHash::from_bytes(
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| corrupt("secret hash is not 32 bytes".into()))?,
        )),
        None => None,
    };
    Ok(application)
}

/// One page of a tenant's applications (ordered by client id): `limit` from `offset`, and how many there are. Only
/// the page's applications are read and decoded (no filter: [`list_applications_filtered_page`] pages a filtered
/// list).
pub async fn list_applications_page(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    offset: usize,
    limit: usize,
) -> Result<(Vec<Application>, usize)> {
    require_tenant(store, tenant).await?;
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let (records, total) = store
        .list_broker_applications_page(tenant, clamp(offset), clamp(limit))
        .await?;
    let page = records.iter().map(decode).collect::<Result<Vec<_>>>()?;
    Ok((page, usize::try_from(total).unwrap_or(usize::MAX)))
}

/// A page of a tenant's applications ordered by client id, after the client id `after`: at most `limit` (1 to
/// [`crate::users::MAX_PAGE_SIZE`]) of those passing `filter` (the client id or display name starts with its
/// prefix, folded: [`crate::admin::list_filters::query`]; of its kind), and the client id to continue after when
/// more follow. The store filters before it cuts the page (on the name folded at every write, migration 0036), so
/// following the cursor neither misses nor repeats an application; only the page's applications are decoded.
pub async fn list_applications_filtered_page(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    filter: &tessera_store::ClientFilter,
    after: Option<&ClientId>,
    limit: u32,
) -> Result<(Vec<Application>, Option<ClientId>)> {
    require_tenant(store, tenant).await?;
    let limit = limit.clamp(1, crate::users::MAX_PAGE_SIZE);
    let records = store
        .list_broker_applications_filtered(tenant, filter, after, limit + 1)
        .await?;
    let page = records
        .iter()
        .take(limit as usize)
        .map(decode)
        .collect::<Result<Vec<_>>>()?;
    let next = if records.len() > limit as usize {
        page.last().map(|a| a.client_id.clone())
    } else {
        None
    };
    Ok((page, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tenants::{NewBrokerTenant, create_broker_tenant};
    use crate::broker::testing::{T0, master, sqlite, tenant_id};

    fn jwt_viewer(client_type: ClientType) -> NewApplication {
        NewApplication {
            display_name: "jwt-viewer".into(),
            client_type,
            reply_urls: vec!["https://jwt.ms".into(), "msalapp://auth".into()],
            logout_urls: vec![],
            token_lifetimes: TokenLifetimes::default(),
            id_token_signing_alg: SigningAlg::Rs256,
        }
    }

    #[tokio::test]
    async fn applications_get_a_generated_id_and_a_secret_shown_once() {
        let (store, _dir) = sqlite().await;
        let tenant = tenant_id("contoso");
        create_broker_tenant(
            store.as_ref(),
            &master(),
            NewBrokerTenant {
                id: tenant.clone(),
                display_name: None,
            },
            T0,
        )
        .await
        .expect("tenant");
        let (app, secret) = create_application(
            store.as_ref(),
            &tenant,
            jwt_viewer(ClientType::Confidential),
            T0,
        )
        .await
        .expect("create");
        let id = app.client_id.to_string();
        assert_eq!(id.len(), 36);
        assert!(!id.starts_with('-'));
        assert_eq!(id.as_bytes()[14], b'4', "a version 4 UUID: {id}");
        let secret = secret.expect("a confidential app gets a secret");
        let record = store
            .get_broker_application(&tenant, &app.client_id)
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(
            record.secret_hash.as_deref(),
            Some(SecretHash::of(secret.expose()).as_bytes().as_slice()),
            "only the hash is stored"
        );
        assert!(!record.settings.to_string().contains(secret.expose()));
        assert!(record.settings.get("secret_hash").is_none());
        let read = get_application(store.as_ref(), &tenant, &app.client_id)
            .await
            .expect("get");
        assert_eq!(read, app);
        assert!(
            read.secret_hash
                .as_ref()
                .is_some_and(|h| h.matches(secret.expose()))
        );
        assert!(read.reply_url_registered("https://jwt.ms"));
        assert!(!read.reply_url_registered("https://jwt.ms/"));

        let (public, none) =
            create_application(store.as_ref(), &tenant, jwt_viewer(ClientType::Public), T0)
                .await
                .expect("public");
        assert!(none.is_none() && public.secret_hash.is_none());
        assert_ne!(public.client_id, app.client_id);
        assert_eq!(
            list_applications(store.as_ref(), &tenant)
                .await
                .expect("list")
                .len(),
            2
        );

        // Reply URL rules, each naming its field; nothing is stored.
        for (url, field) in [
            ("javascript:alert(1)", "reply_urls[0]"),
            ("http://app.example.com/cb", "reply_urls[0]"),
            ("https://app.example.com/*", "reply_urls[0]"),
            ("https://app.example.com/cb#x", "reply_urls[0]"),
        ] {
            let mut bad = jwt_viewer(ClientType::Public);
            bad.reply_urls = vec![url.into()];
            let error = create_application(store.as_ref(), &tenant, bad, T0)
                .await
                .expect_err(url);
            assert_eq!(error.field(), Some(field), "{url}: {error}");
        }
        assert_eq!(
            list_applications(store.as_ref(), &tenant)
                .await
                .expect("list")
                .len(),
            2
        );

        let update = ApplicationUpdate {
            display_name: "JWT".into(),
            reply_urls: vec!["https://jwt.ms".into(), "http://localhost:8080/jwt".into()],
            logout_urls: vec!["https://jwt.ms/out".into()],
            token_lifetimes: TokenLifetimes {
                access_token_minutes: 30,
                ..TokenLifetimes::default()
            },
            id_token_signing_alg: SigningAlg::Es256,
        };
        let updated = update_application(
            store.as_ref(),
            &tenant,
            &app.client_id,
            update.clone(),
            None,
        )
        .await
        .expect("update");
        assert_eq!(updated.display_name, "JWT");
        assert!(
            updated
                .secret_hash
                .as_ref()
                .is_some_and(|h| h.matches(secret.expose())),
            "the secret stays"
        );
        assert_eq!(
            get_application(store.as_ref(), &tenant, &app.client_id)
                .await
                .expect("get"),
            updated
        );
        let mut too_long = update.clone();
        too_long.token_lifetimes.access_token_minutes = 2000;
        assert_eq!(
            update_application(store.as_ref(), &tenant, &app.client_id, too_long, None)
                .await
                .expect_err("lifetime")
                .field(),
            Some("token_lifetimes.access_token_minutes")
        );
        delete_application(store.as_ref(), &tenant, &app.client_id, None)
            .await
            .expect("delete");
        assert!(matches!(
            get_application(store.as_ref(), &tenant, &app.client_id).await,
            Err(ServiceError::ApplicationNotFound)
        ));
        assert!(matches!(
            delete_application(store.as_ref(), &tenant, &app.client_id, None).await,
            Err(ServiceError::ApplicationNotFound)
        ));
        assert!(matches!(
            update_application(store.as_ref(), &tenant, &app.client_id, update, None).await,
            Err(ServiceError::ApplicationNotFound)
        ));
        assert!(matches!(
            create_application(
                store.as_ref(),
                &tenant_id("fabrikam"),
                jwt_viewer(ClientType::Public),
                T0
            )
            .await,
            Err(ServiceError::BrokerTenantNotFound)
        ));
    }
}
