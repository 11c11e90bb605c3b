//! Broker tenants: creation with their first signing keys (RS256 and ES256, encrypted under the master key, in one
//! transaction), reading, listing, and the key set that signs the tenant's application tokens.

use tessera_broker::policy_path::RESERVED_TENANT_NAMES;
use tessera_core::TenantId;
use tessera_oidc::keys::{KeySet, MasterKey, SigningAlg};
use tessera_store::{
    BrokerStore, BrokerTenant, BrokerTenantContents, KeyStatus, SigningKey, StoreError,
    TenantDeletion,
};
use time::OffsetDateTime;

use crate::error::{Result, ServiceError};
use crate::keys::{KEY_PUBLICATION_DELAY, Rotation, key_set, new_signing_key, retired_key_grace};
use crate::tenants::validate_display_name;

/// The longest token lifetime an application can have (1440 minutes): retired keys stay published that long.
const LONGEST_TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// What a new broker tenant needs.
#[derive(Debug, Clone)]
pub struct NewBrokerTenant {
    /// The path segment (`contoso`); not one of [`RESERVED_TENANT_NAMES`].
    pub id: TenantId,
    /// Name shown on the broker's pages; the id when absent.
    pub display_name: Option<String>,
}

/// Creates a broker tenant with fresh RS256 and ES256 signing keys, stored encrypted under `master` in the same
/// transaction as the tenant.
pub async fn create_broker_tenant(
    store: &dyn BrokerStore,
    master: &MasterKey,
    new: NewBrokerTenant,
    now: OffsetDateTime,
) -> Result<BrokerTenant> {
    if RESERVED_TENANT_NAMES.contains(&new.id.as_str()) {
        return Err(ServiceError::ReservedTenantName {
            name: new.id.to_string(),
        });
    }
    let display_name = match &new.display_name {
        Some(name) => validate_display_name(name)?,
        None => new.id.to_string(),
    };
    let tenant = BrokerTenant {
        id: new.id,
        display_name,
        created_at: now,
        revision: BrokerTenant::FIRST_REVISION,
    };
    let mut keys = Vec::new();
    for alg in [SigningAlg::Rs256, SigningAlg::Es256] {
        keys.push(new_signing_key(master, &tenant.id, alg, KeyStatus::Active, now).await?);
    }
    store
        .create_broker_tenant(&tenant, &keys)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => ServiceError::BrokerTenantExists,
            other => other.into(),
        })?;
    Ok(tenant)
}

/// Reads a broker tenant.
pub async fn get_broker_tenant(store: &dyn BrokerStore, tenant: &TenantId) -> Result<BrokerTenant> {
    store
        .get_broker_tenant(tenant)
        .await?
        .ok_or(ServiceError::BrokerTenantNotFound)
}

/// Lists the broker tenants, ordered by id.
pub async fn list_broker_tenants(store: &dyn BrokerStore) -> Result<Vec<BrokerTenant>> {
    Ok(store.list_broker_tenants().await?)
}

/// Changes to a broker tenant; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerTenantUpdate {
    /// Name shown on the broker's pages (checked as at creation).
    pub display_name: Option<String>,
}

/// Updates a broker tenant read at revision `based_on` and returns it as stored. If anyone changed it since, nothing
/// is written and [`ServiceError::BrokerTenantChanged`] says so (the caller reads it again). The HTTP layer then
/// invalidates its cache entry for the tenant.
pub async fn update_broker_tenant(
    store: &dyn BrokerStore,
    id: &TenantId,
    based_on: u64,
    update: &BrokerTenantUpdate,
) -> Result<BrokerTenant> {
    let mut tenant = get_broker_tenant(store, id).await?;
    if tenant.revision != based_on {
        return Err(ServiceError::BrokerTenantChanged);
    }
    if let Some(name) = &update.display_name {
        tenant.display_name = validate_display_name(name)?;
    }
    match store.update_broker_tenant(&tenant).await {
        Ok(revision) => {
            tenant.revision = revision;
            Ok(tenant)
        }
        Err(StoreError::Conflict) => Err(ServiceError::BrokerTenantChanged),
        Err(StoreError::NotFound) => Err(ServiceError::BrokerTenantNotFound),
        Err(other) => Err(other.into()),
    }
}

/// Deletes a broker tenant with everything of it (applications, identity providers, user flows, directory users,
/// signing keys, sessions, codes, refresh tokens) in one transaction and returns what it held. Unless `force`, a
/// tenant with applications, identity providers, user flows or directory users is kept:
/// [`ServiceError::BrokerTenantNotEmpty`] counts them.
pub async fn delete_broker_tenant(
    store: &dyn BrokerStore,
    id: &TenantId,
    force: bool,
) -> Result<BrokerTenantContents> {
    match store.delete_broker_tenant(id, force).await {
        Ok(TenantDeletion::Deleted(held)) => Ok(held),
        Ok(TenantDeletion::NotEmpty(held)) => Err(ServiceError::BrokerTenantNotEmpty {
            applications: held.applications,
            identity_providers: held.identity_providers,
            user_flows: held.user_flows,
            directory_users: held.directory_users,
        }),
        Err(StoreError::NotFound) => Err(ServiceError::BrokerTenantNotFound),
        Err(other) => Err(other.into()),
    }
}

/// A broker tenant's signing keys (every status), oldest first.
pub async fn list_broker_keys(store: &dyn BrokerStore, id: &TenantId) -> Result<Vec<SigningKey>> {
    get_broker_tenant(store, id).await?;
    Ok(store.list_broker_signing_keys(id).await?)
}

/// Rotates a broker tenant's signing keys: a new RS256 and ES256 key, signing now or after publication
/// (`rotation`), as an authenticator tenant's ([`crate::keys::rotate_keys`]). Staged, they are published in the
/// tenant's JWKS at once and start signing after [`KEY_PUBLICATION_DELAY`], when the maintenance task calls
/// [`activate_due_broker_keys`]; immediate, they sign at once and the keys they replace are retired in the same
/// transaction. Retired keys stay in the JWKS for the longest token lifetime (a day) plus clock skew, so tokens
/// they signed keep verifying. Returns the new kids; the HTTP layer then invalidates its cache entry for the tenant.
pub async fn rotate_broker_keys(
    store: &dyn BrokerStore,
    master: &MasterKey,
    id: &TenantId,
    rotation: Rotation,
    now: OffsetDateTime,
) -> Result<Vec<String>> {
    get_broker_tenant(store, id).await?;
    let status = match rotation {
        Rotation::Staged => KeyStatus::Pending,
        Rotation::Immediate => KeyStatus::Active,
    };
    let mut keys = Vec::new();
    for alg in [SigningAlg::Rs256, SigningAlg::Es256] {
        keys.push(new_signing_key(master, id, alg, status, now).await?);
    }
    store
        .rotate_broker_signing_keys(id, &keys, now)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ServiceError::BrokerTenantNotFound,
            other => other.into(),
        })?;
    Ok(keys.into_iter().map(|k| k.kid).collect())
}

/// Switches a broker tenant to its pending keys once they have been published for [`KEY_PUBLICATION_DELAY`], as
/// [`crate::keys::activate_due_keys`] does for an authenticator tenant: the newest due pending key of each
/// algorithm becomes active and the older unretired keys of that algorithm are retired. Returns whether anything
/// changed (the caller then invalidates its cache entry for the tenant).
pub async fn activate_due_broker_keys(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    now: OffsetDateTime,
) -> Result<bool> {
    let keys = store.list_broker_signing_keys(tenant).await?;
    let mut changed = false;
    for alg in [SigningAlg::Rs256, SigningAlg::Es256] {
        let due = keys.iter().rev().find(|k| {
            k.alg == alg.as_str()
                && k.status == KeyStatus::Pending
                && k.created_at + KEY_PUBLICATION_DELAY <= now
        });
        let Some(due) = due else { continue };
        store
            .activate_broker_signing_key(tenant, &due.kid, now)
            .await?;
        changed = true;
    }
    Ok(changed)
}

/// The broker tenant's signing keys, decrypted: they sign application tokens and are published at
/// `/{tenant}/{policy}/discovery/v2.0/keys`.
pub async fn broker_key_set(
    store: &dyn BrokerStore,
    master: &MasterKey,
    tenant: &TenantId,
    now: OffsetDateTime,
) -> Result<KeySet> {
    get_broker_tenant(store, tenant).await?;
    let records = store.list_broker_signing_keys(tenant).await?;
    key_set(
        &records,
        master,
        tenant,
        now,
        retired_key_grace(LONGEST_TOKEN_LIFETIME),
    )
}

/// Fails with [`ServiceError::BrokerTenantNotFound`] unless the broker tenant exists.
pub(crate) async fn require_tenant(store: &dyn BrokerStore, tenant: &TenantId) -> Result<()> {
    get_broker_tenant(store, tenant).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::testing::{T0, master, sqlite, tenant_id};

    #[tokio::test]
    async fn a_broker_tenant_update_from_an_old_revision_is_refused_and_a_rotation_keeps_the_old_keys_published()
     {
        let (store, _dir) = sqlite().await;
        let master = master();
        let id = tenant_id("contoso");
        create_broker_tenant(
            store.as_ref(),
            &master,
            NewBrokerTenant {
                id: id.clone(),
                display_name: None,
            },
            T0,
        )
        .await
        .expect("create");
        let rename = |name: &str| BrokerTenantUpdate {
            display_name: Some(name.into()),
        };
        let renamed = update_broker_tenant(store.as_ref(), &id, 1, &rename(" Contoso Ltd "))
            .await
            .expect("update");
        assert_eq!(
            (renamed.display_name.as_str(), renamed.revision),
            ("Contoso Ltd", 2)
        );
        assert!(matches!(
            update_broker_tenant(store.as_ref(), &id, 1, &rename("Lost")).await,
            Err(ServiceError::BrokerTenantChanged)
        ));
        assert!(matches!(
            update_broker_tenant(store.as_ref(), &id, 2, &rename("\u{202e}x")).await,
            Err(ServiceError::InvalidDisplayName { .. })
        ));
        assert_eq!(
            get_broker_tenant(store.as_ref(), &id)
                .await
                .expect("get")
                .display_name,
            "Contoso Ltd"
        );

        let old: Vec<String> = list_broker_keys(store.as_ref(), &id)
            .await
            .expect("keys")
            .into_iter()
            .map(|k| k.kid)
            .collect();
        let later = T0 + time::Duration::hours(1);
        let new = rotate_broker_keys(store.as_ref(), &master, &id, Rotation::Immediate, later)
            .await
            .expect("rotate");
        let keys = broker_key_set(store.as_ref(), &master, &id, later)
            .await
            .expect("key set");
        let jwks: serde_json::Value = serde_json::from_slice(keys.jwks_json()).expect("jwks");
        let published: Vec<&str> = jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter_map(|k| k["kid"].as_str())
            .collect();
        for kid in old.iter().chain(&new) {
            assert!(published.contains(&kid.as_str()), "{kid} published");
        }
        let signer = keys
            .signing_key(SigningAlg::Es256)
            .expect("an ES256 signer");
        assert!(new.iter().any(|k| k == signer.kid()), "the new key signs");
        let gone = later + time::Duration::days(2);
        let keys = broker_key_set(store.as_ref(), &master, &id, gone)
            .await
            .expect("key set");
        let jwks: serde_json::Value = serde_json::from_slice(keys.jwks_json()).expect("jwks");
        assert_eq!(
            jwks["keys"].as_array().map(Vec::len),
            Some(2),
            "retired keys leave the JWKS after the longest token lifetime"
        );
        assert!(matches!(
            rotate_broker_keys(
                store.as_ref(),
                &master,
                &tenant_id("nowhere"),
                Rotation::Staged,
                later
            )
            .await,
            Err(ServiceError::BrokerTenantNotFound)
        ));
        assert!(matches!(
            delete_broker_tenant(store.as_ref(), &tenant_id("nowhere"), true).await,
            Err(ServiceError::BrokerTenantNotFound)
        ));
        assert_eq!(
            delete_broker_tenant(store.as_ref(), &id, false)
                .await
                .expect("delete"),
            BrokerTenantContents::default()
        );
    }

    /// The kids a key set publishes, and the kid of its ES256 signer.
    fn published_and_signer(keys: &KeySet) -> (Vec<String>, String) {
        let jwks: serde_json::Value = serde_json::from_slice(keys.jwks_json()).expect("jwks");
        let published = jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter_map(|k| k["kid"].as_str().map(str::to_owned))
            .collect();
        let signer = keys
            .signing_key(SigningAlg::Es256)
            .expect("an ES256 signer")
            .kid()
            .to_owned();
        (published, signer)
    }

    #[tokio::test]
    async fn a_staged_broker_rotation_publishes_the_new_keys_before_the_maintenance_task_switches_to_them()
     {
        let (store, _dir) = sqlite().await;
        let master = master();
        let id = tenant_id("contoso");
        create_broker_tenant(
            store.as_ref(),
            &master,
            NewBrokerTenant {
                id: id.clone(),
                display_name: None,
            },
            T0,
        )
        .await
        .expect("create");
        let (old, old_signer) = published_and_signer(
            &broker_key_set(store.as_ref(), &master, &id, T0)
                .await
                .expect("key set"),
        );
        let at = T0 + time::Duration::hours(1);
        let new = rotate_broker_keys(store.as_ref(), &master, &id, Rotation::Staged, at)
            .await
            .expect("rotate");
        let (published, signer) = published_and_signer(
            &broker_key_set(store.as_ref(), &master, &id, at)
                .await
                .expect("key set"),
        );
        for kid in old.iter().chain(&new) {
            assert!(published.contains(kid), "{kid} published");
        }
        assert_eq!(signer, old_signer, "the old key still signs");
        let early = at + time::Duration::minutes(1);
        assert!(
            !activate_due_broker_keys(store.as_ref(), &id, early)
                .await
                .expect("activate")
        );
        let due = at + KEY_PUBLICATION_DELAY;
        assert!(
            activate_due_broker_keys(store.as_ref(), &id, due)
                .await
                .expect("activate")
        );
        let (published, signer) = published_and_signer(
            &broker_key_set(store.as_ref(), &master, &id, due)
                .await
                .expect("key set"),
        );
        assert!(new.contains(&signer), "the new key signs");
        assert!(
            published.contains(&old_signer),
            "the old key stays published"
        );
        let statuses: Vec<KeyStatus> = list_broker_keys(store.as_ref(), &id)
            .await
            .expect("keys")
            .into_iter()
            .map(|k| k.status)
            .collect();
        assert_eq!(
            statuses,
            [
                KeyStatus::Retired,
                KeyStatus::Retired,
                KeyStatus::Active,
                KeyStatus::Active
            ]
        );
        assert!(
            !activate_due_broker_keys(store.as_ref(), &id, due)
                .await
                .expect("again"),
            "nothing left to switch"
        );
    }

    #[tokio::test]
    async fn a_broker_tenant_is_created_with_both_signing_keys_and_reserved_names_are_refused() {
        let (store, _dir) = sqlite().await;
        let master = master();
        let created = create_broker_tenant(
            store.as_ref(),
            &master,
            NewBrokerTenant {
                id: tenant_id("contoso"),
                display_name: Some("  Contoso  ".into()),
            },
            T0,
        )
        .await
        .expect("create");
        assert_eq!(created.display_name, "Contoso");
        let keys = broker_key_set(store.as_ref(), &master, &tenant_id("contoso"), T0)
            .await
            .expect("keys");
        let jwks: serde_json::Value = serde_json::from_slice(keys.jwks_json()).expect("jwks");
        let mut algs: Vec<&str> = jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter_map(|k| k["alg"].as_str())
            .collect();
        algs.sort_unstable();
        assert_eq!(algs, ["ES256", "RS256"]);
        let stored = store
            .list_broker_signing_keys(&tenant_id("contoso"))
            .await
            .expect("list");
        assert!(
            stored
                .iter()
                .all(|k| !String::from_utf8_lossy(&k.private_key_encrypted).contains("PRIVATE")),
            "private keys are stored encrypted"
        );

        assert!(matches!(
            create_broker_tenant(
                store.as_ref(),
                &master,
                NewBrokerTenant {
                    id: tenant_id("contoso"),
                    display_name: None
                },
                T0
            )
            .await,
            Err(ServiceError::BrokerTenantExists)
        ));
        for reserved in RESERVED_TENANT_NAMES {
            let error = create_broker_tenant(
                store.as_ref(),
                &master,
                NewBrokerTenant {
                    id: tenant_id(reserved),
                    display_name: None,
                },
                T0,
            )
            .await
            .expect_err("reserved");
            assert!(
                matches!(&error, ServiceError::ReservedTenantName { name } if name == reserved),
                "{error}"
            );
        }
        let names: Vec<String> = list_broker_tenants(store.as_ref())
            .await
            .expect("list")
            .into_iter()
            .map(|t| t.id.to_string())
            .collect();
        assert_eq!(names, ["contoso"]);
        assert!(matches!(
            get_broker_tenant(store.as_ref(), &tenant_id("fabrikam")).await,
            Err(ServiceError::BrokerTenantNotFound)
        ));
        assert!(matches!(
            create_broker_tenant(
                store.as_ref(),
                &master,
                NewBrokerTenant {
                    id: tenant_id("fabrikam"),
                    display_name: Some("\u{202e}evil".into())
                },
                T0
            )
            .await,
            Err(ServiceError::InvalidDisplayName { .. })
        ));
        assert!(
            store
                .get_broker_tenant(&tenant_id("fabrikam"))
                .await
                .expect("read")
                .is_none(),
            "nothing half-written"
        );
    }
}
