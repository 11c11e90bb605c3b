//! The broker store contract: one async test function per behaviour of [`BrokerStore`], which every backend's
//! `tests/broker_contract.rs` runs through [`crate::broker_store_contract_tests!`]. Each function gets a fresh, empty
//! store and panics (as a test does) when the backend breaks the rule its name states.

use crate::broker::{BrokerStore, policy_key};
use crate::broker_records::{
    BrokerApplication, BrokerSession, BrokerTenant, BrokerTenantContents, DirectoryIdentity,
    DirectoryUserRecord, FlowVersionRecord, IdentityProviderRecord, IdentityProviderSummary,
    LocalCredential, ProviderCache, UserFlowRecord,
};
use crate::{
    AccountStatus, AuthCode, CodeRedemption, KeyStatus, RefreshRotation, RefreshToken, SigningKey,
    StoreError, TenantDeletion,
};
use async_trait::async_trait;
use serde_json::json;
use std::future::Future;
use std::sync::Arc;
use tessera_core::{ClientId, TenantId, UserId};
use time::{Duration, OffsetDateTime, macros::datetime};

/// A fresh broker store for one contract test, and whatever must be cleaned up after it (a temp file, a schema).
#[async_trait]
pub trait BrokerFixture: Send + 'static {
    /// The store under test.
    fn store(&self) -> Arc<dyn BrokerStore>;
    /// Removes what the fixture created; runs whether the test passed or not.
    async fn teardown(self);
}

/// Runs one contract function on a fixture's store, tears the fixture down, then reports the test's outcome.
pub async fn run<F, Fut>(fixture: impl BrokerFixture, test: F)
where
    F: FnOnce(Arc<dyn BrokerStore>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let outcome = tokio::spawn(test(fixture.store())).await;
    fixture.teardown().await;
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(error) => panic!("broker contract test did not finish: {error}"),
        }
    }
}

/// Generates one `#[tokio::test]` per broker contract function. `$setup` is an async fn returning
/// `Option<impl BrokerFixture>`; `None` skips the test (for example PostgreSQL without `TEST_PG_URL`).
#[macro_export]
macro_rules! broker_store_contract_tests {
    ($setup:path) => {
        $crate::broker_store_contract_tests!(@tests $setup;
            broker_tenant_is_created_with_its_signing_keys_all_or_nothing,
            broker_tenant_update_from_a_stale_revision_is_conflict,
            broker_tenant_delete_refuses_what_is_not_empty_unless_forced,
            broker_key_rotation_retires_the_old_keys_in_one_transaction,
            broker_staged_rotation_publishes_and_activation_retires_older_keys_of_its_algorithm,
            flow_delete_removes_every_version,
            broker_application_keeps_only_the_secret_hash,
            broker_application_writes_from_a_stale_read_are_changed,
            identity_provider_writes_from_a_stale_read_are_changed,
            directory_user_writes_from_a_stale_read_are_changed,
            broker_applications_page_in_client_id_order,
            identity_provider_summaries_page_in_byte_order_without_documents,
            broker_applications_filtered_in_the_store_page_without_gaps_or_repeats,
            identity_provider_summaries_filtered_in_the_store_page_without_gaps_or_repeats,
            identity_provider_keeps_the_encrypted_secret_and_refreshes_its_metadata,
            flow_versions_are_append_only_and_raced_append_conflicts,
            flow_policy_key_is_unique_per_tenant,
            transaction_is_single_use,
            expired_transaction_is_not_returned,
            pending_signup_is_single_use_and_expires,
            directory_identity_is_unique_per_issuer_and_subject,
            create_user_with_identity_is_all_or_nothing,
            sign_up_writes_user_identity_session_and_code_together_or_not_at_all,
            abandoned_signup_leaves_no_user,
            returning_user_is_found_by_identity_never_by_email,
            broker_sign_in_is_recorded_and_refused_for_a_disabled_user,
            search_pages_with_cursor,
            search_filtered_by_status_pages_without_gaps_or_repeats,
            search_matches_email_and_name_prefixes_ignoring_case,
            disable_user_revokes_sessions_and_refresh_tokens,
            delete_user_removes_identities_sessions_and_tokens,
            broker_session_create_read_expire_delete,
            sign_in_session_and_code_are_written_together_or_not_at_all,
            broker_code_consumed_once,
            refresh_reuse_revokes_family,
            tenant_isolation,
            purge_removes_expired_broker_rows,
            local_sign_up_writes_user_passkey_session_and_code_together_or_not_at_all,
            local_credential_use_is_conditional_tenant_scoped_and_deleted_with_the_user,
            code_sends_are_limited_per_key_and_window,
            local_recovery_adds_a_passkey_with_session_and_code_together_or_not_at_all,
        );
    };
    (@tests $setup:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(fixture) = $setup().await {
                    $crate::contract_broker::run(fixture, $crate::contract_broker::$name).await;
                }
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------------------------
// Record builders.

/// The fixed "now" of the contract tests (whole seconds, so every backend returns it exactly).
pub const T0: OffsetDateTime = datetime!(2026-01-01 12:00 UTC);

fn tenant_id(name: &str) -> TenantId {
    TenantId::parse(name).expect("valid tenant id")
}

fn object_id(name: &str) -> UserId {
    UserId::parse(name).expect("valid object id")
}

fn app_id(name: &str) -> ClientId {
    ClientId::parse(name).expect("valid client id")
}

/// A broker tenant record.
pub fn broker_tenant(name: &str) -> BrokerTenant {
    BrokerTenant {
        id: tenant_id(name),
        display_name: format!("{name} (broker)"),
        created_at: T0,
        revision: BrokerTenant::FIRST_REVISION,
    }
}

/// A broker tenant's signing key.
pub fn broker_key(tenant: &TenantId, kid: &str) -> SigningKey {
    SigningKey {
        tenant: tenant.clone(),
        kid: kid.into(),
        alg: "ES256".into(),
        private_key_encrypted: vec![0xE5, 1, 2, 3],
        public_jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid}),
        created_at: T0,
        retired_at: None,
        status: KeyStatus::Active,
    }
}

/// An application with a secret hash.
pub fn application(tenant: &TenantId, id: &str) -> BrokerApplication {
    BrokerApplication {
        tenant: tenant.clone(),
        client_id: app_id(id),
        secret_hash: Some(vec![0x5E; 32]),
        settings: json!({"display_name": id, "reply_urls": ["https://app.example/cb"]}),
        created_at: T0,
    }
}

/// An identity provider with an encrypted secret and a cache fetched at `T0`.
pub fn provider(tenant: &TenantId, id: &str) -> IdentityProviderRecord {
    IdentityProviderRecord {
        tenant: tenant.clone(),
        provider_id: id.into(),
        config: json!({"id": id, "name": "Passkeys", "client_id": "broker"}),
        client_secret_encrypted: Some(vec![0xC1, 0xFE, 7]),
        cache: ProviderCache {
            metadata: json!({"issuer": "https://idp.example"}),
            metadata_fetched_at: T0,
            jwks: json!({"keys": []}),
            jwks_fetched_at: T0,
            signing_keys: Some(2),
        },
        created_at: T0,
        updated_at: T0,
    }
}

/// A user flow record for `policy_id`.
pub fn flow(tenant: &TenantId, policy_id: &str) -> UserFlowRecord {
    UserFlowRecord {
        tenant: tenant.clone(),
        policy_key: policy_key(policy_id),
        policy_id: policy_id.into(),
        kind: "sign_up_sign_in".into(),
        created_at: T0,
    }
}

/// Flow version `number` whose settings name it.
pub fn flow_version(number: u32) -> FlowVersionRecord {
    FlowVersionRecord {
        number,
        created_at: T0 + Duration::minutes(i64::from(number)),
        settings: json!({"identity_providers": ["passkeys"], "version_tag": number}),
    }
}

/// A directory user with an email and names.
pub fn directory_user(tenant: &TenantId, id: &str, name: &str, email: &str) -> DirectoryUserRecord {
    DirectoryUserRecord {
        tenant: tenant.clone(),
        object_id: object_id(id),
        display_name: Some(name.into()),
        given_name: name.split(' ').next().map(str::to_owned),
        surname: name.split(' ').nth(1).map(str::to_owned),
        email: Some(email.into()),
        custom: json!({"loyalty": "gold"}),
        identities: Vec::new(),
        created_at: T0,
        last_sign_in_at: None,
        disabled_at: None,
    }
}

/// An identity at the test issuer.
pub fn identity(subject: &str) -> DirectoryIdentity {
    DirectoryIdentity {
        issuer: "https://idp.example".into(),
        subject: subject.into(),
    }
}

/// A broker session of `user`.
pub fn broker_session(tenant: &TenantId, hash: &[u8], user: &str) -> BrokerSession {
    BrokerSession {
        id_hash: hash.to_vec(),
        tenant: tenant.clone(),
        object_id: object_id(user),
        sid: format!(
            "sid-{}",
            hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        auth_time: T0,
        payload: br#"{"idp":"passkeys","amr":["hwk"]}"#.to_vec(),
        expires_at: T0 + Duration::hours(8),
    }
}

/// A broker authorization code.
pub fn broker_code(tenant: &TenantId, hash: &[u8], grant: &str) -> AuthCode {
    AuthCode {
        code_hash: hash.to_vec(),
        tenant: tenant.clone(),
        client_id: app_id("app"),
        grant_id: grant.into(),
        payload: br#"{"nonce":"n"}"#.to_vec(),
        expires_at: T0 + Duration::minutes(1),
        passkey: None,
    }
}

/// A broker refresh token of `user` in family `grant`.
pub fn broker_refresh(tenant: &TenantId, hash: &[u8], grant: &str, user: &str) -> RefreshToken {
    RefreshToken {
        token_hash: hash.to_vec(),
        tenant: tenant.clone(),
        client_id: app_id("app"),
        grant_id: grant.into(),
        user_id: object_id(user),
        scope: "openid offline_access".into(),
        payload: br#"{"tfp":"B2C_1_signupsignin"}"#.to_vec(),
        expires_at: T0 + Duration::days(14),
        passkey: None,
    }
}

async fn with_tenant(store: &dyn BrokerStore, name: &str) -> TenantId {
    store
        .create_broker_tenant(&broker_tenant(name), &[])
        .await
        .expect("create broker tenant");
    tenant_id(name)
}

async fn with_user(store: &dyn BrokerStore, tenant: &TenantId, id: &str, subject: &str) {
    store
        .create_user_with_identity(
            &directory_user(tenant, id, "Ann Lee", &format!("{id}@example.com")),
            &identity(subject),
        )
        .await
        .expect("create user");
}

// ---------------------------------------------------------------------------------------------------------------
// Configuration objects.

/// A broker tenant is written with its signing keys in one transaction: a duplicate kid or a key of another tenant
/// leaves neither the tenant nor any key.
pub async fn broker_tenant_is_created_with_its_signing_keys_all_or_nothing(
    store: Arc<dyn BrokerStore>,
) {
    let t = tenant_id("contoso");
    let duplicate = [broker_key(&t, "k1"), broker_key(&t, "k1")];
    assert_eq!(
        store
            .create_broker_tenant(&broker_tenant("contoso"), &duplicate)
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.get_broker_tenant(&t).await, Ok(None));
    assert_eq!(store.list_broker_signing_keys(&t).await, Ok(vec![]));
    let foreign = [broker_key(&tenant_id("fabrikam"), "k1")];
    assert_eq!(
        store
            .create_broker_tenant(&broker_tenant("contoso"), &foreign)
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.get_broker_tenant(&t).await, Ok(None));

    let keys = [broker_key(&t, "k1")];
    store
        .create_broker_tenant(&broker_tenant("contoso"), &keys)
        .await
        .expect("create");
    assert_eq!(
        store.get_broker_tenant(&t).await,
        Ok(Some(broker_tenant("contoso")))
    );
    assert_eq!(
        store.list_broker_tenants().await,
        Ok(vec![broker_tenant("contoso")])
    );
    assert_eq!(store.list_broker_signing_keys(&t).await, Ok(keys.to_vec()));
    assert_eq!(
        store
            .create_broker_tenant(&broker_tenant("contoso"), &[])
            .await,
        Err(StoreError::Conflict)
    );
    let mut next = broker_key(&t, "k2");
    next.created_at = T0 + Duration::days(1);
    next.status = KeyStatus::Pending;
    store
        .put_broker_signing_key(&next)
        .await
        .expect("rotate in");
    assert_eq!(
        store.put_broker_signing_key(&next).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store
            .put_broker_signing_key(&broker_key(&tenant_id("nowhere"), "k"))
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.list_broker_signing_keys(&t).await,
        Ok(vec![broker_key(&t, "k1"), next])
    );
}

/// A broker tenant's display name changes only from the revision it was read at, one revision per update: of two
/// admins saving from one revision, the second gets `Conflict` and nothing of theirs is written.
pub async fn broker_tenant_update_from_a_stale_revision_is_conflict(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    let mut first = broker_tenant("contoso");
    first.display_name = "Contoso Ltd".into();
    assert_eq!(store.update_broker_tenant(&first).await, Ok(2));
    let mut stale = broker_tenant("contoso");
    stale.display_name = "Lost".into();
    assert_eq!(
        store.update_broker_tenant(&stale).await,
        Err(StoreError::Conflict)
    );
    let read = store
        .get_broker_tenant(&t)
        .await
        .expect("get")
        .expect("tenant");
    assert_eq!(read.display_name, "Contoso Ltd");
    assert_eq!(read.revision, 2);
    let mut next = read.clone();
    next.display_name = "Contoso".into();
    assert_eq!(store.update_broker_tenant(&next).await, Ok(3));
    assert_eq!(
        store.update_broker_tenant(&broker_tenant("nowhere")).await,
        Err(StoreError::NotFound)
    );
}

/// A broker tenant with applications, providers, flows or directory users is kept unless the deletion is forced
/// (the counts say what it holds); a forced deletion removes everything of it at once — keys, sessions, codes,
/// refresh tokens, pending sign-ups included — and leaves other tenants alone.
pub async fn broker_tenant_delete_refuses_what_is_not_empty_unless_forced(
    store: Arc<dyn BrokerStore>,
) {
    assert_eq!(
        store
            .delete_broker_tenant(&tenant_id("nowhere"), false)
            .await,
        Err(StoreError::NotFound)
    );
    let empty = tenant_id("empty");
    store
        .create_broker_tenant(&broker_tenant("empty"), &[broker_key(&empty, "k-empty")])
        .await
        .expect("create empty");
    assert_eq!(
        store.delete_broker_tenant(&empty, false).await,
        Ok(TenantDeletion::Deleted(BrokerTenantContents::default()))
    );
    assert_eq!(store.get_broker_tenant(&empty).await, Ok(None));
    assert_eq!(store.list_broker_signing_keys(&empty).await, Ok(vec![]));

    let t = tenant_id("contoso");
    store
        .create_broker_tenant(&broker_tenant("contoso"), &[broker_key(&t, "k1")])
        .await
        .expect("create contoso");
    let kept = with_tenant(&*store, "fabrikam").await;
    let expires = T0 + Duration::minutes(15);
    for tenant in [&t, &kept] {
        store
            .create_broker_application(&application(tenant, "app"))
            .await
            .expect("app");
        store
            .create_identity_provider(&provider(tenant, "passkeys"))
            .await
            .expect("idp");
        store
            .create_flow(&flow(tenant, "B2C_1_x"), &flow_version(1))
            .await
            .expect("flow");
        with_user(&*store, tenant, "u1", "sub-1").await;
        store
            .create_broker_session(&broker_session(tenant, b"s", "u1"))
            .await
            .expect("session");
        store
            .put_broker_auth_code(&broker_code(tenant, b"c", "g"))
            .await
            .expect("code");
        store
            .put_broker_refresh_token(&broker_refresh(tenant, b"r", "g", "u1"))
            .await
            .expect("refresh");
        store
            .put_pending_signup(tenant, b"ps", b"p", expires)
            .await
            .expect("pending");
    }
    let holds = BrokerTenantContents {
        applications: 1,
        identity_providers: 1,
        user_flows: 1,
        directory_users: 1,
    };
    assert_eq!(
        store.delete_broker_tenant(&t, false).await,
        Ok(TenantDeletion::NotEmpty(holds))
    );
    assert!(store.get_broker_tenant(&t).await.expect("get").is_some());
    assert!(
        store
            .get_broker_application(&t, &app_id("app"))
            .await
            .expect("get")
            .is_some()
    );

    assert_eq!(
        store.delete_broker_tenant(&t, true).await,
        Ok(TenantDeletion::Deleted(holds))
    );
    let key = policy_key("B2C_1_x");
    assert_eq!(store.get_broker_tenant(&t).await, Ok(None));
    assert_eq!(store.list_broker_applications(&t).await, Ok(vec![]));
    assert_eq!(store.list_identity_providers(&t).await, Ok(vec![]));
    assert_eq!(store.list_flows(&t).await, Ok(vec![]));
    assert_eq!(store.list_flow_versions(&t, &key).await, Ok(vec![]));
    assert_eq!(
        store.get_directory_user(&t, &object_id("u1")).await,
        Ok(None)
    );
    assert_eq!(
        store
            .find_user_by_identity(&t, "https://idp.example", "sub-1")
            .await,
        Ok(None)
    );
    assert_eq!(store.list_broker_signing_keys(&t).await, Ok(vec![]));
    assert_eq!(store.get_broker_session(&t, b"s", T0).await, Ok(None));
    assert_eq!(
        store.consume_broker_auth_code(&t, b"c", T0).await,
        Ok(CodeRedemption::NotFound)
    );
    assert_eq!(store.get_broker_refresh_token(&t, b"r", T0).await, Ok(None));
    assert_eq!(store.take_pending_signup(&t, b"ps", T0).await, Ok(None));
    assert_eq!(
        store.delete_broker_tenant(&t, true).await,
        Err(StoreError::NotFound)
    );

    assert!(store.get_broker_tenant(&kept).await.expect("get").is_some());
    assert_eq!(
        store.list_flow_versions(&kept, &key).await.map(|v| v.len()),
        Ok(1)
    );
    assert!(
        store
            .get_broker_session(&kept, b"s", T0)
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        store
            .get_broker_refresh_token(&kept, b"r", T0)
            .await
            .expect("get")
            .is_some()
    );
    // The freed id can be used again.
    store
        .create_broker_tenant(&broker_tenant("contoso"), &[broker_key(&t, "k1")])
        .await
        .expect("create contoso again");
}

/// A rotation stores the new keys and retires every key not yet retired, at the given time, in one transaction:
/// a duplicate kid or a key of another tenant changes nothing; an unknown tenant is `NotFound`.
pub async fn broker_key_rotation_retires_the_old_keys_in_one_transaction(
    store: Arc<dyn BrokerStore>,
) {
    let t = tenant_id("contoso");
    store
        .create_broker_tenant(&broker_tenant("contoso"), &[broker_key(&t, "k1")])
        .await
        .expect("create");
    let at = T0 + Duration::days(1);
    let mut k2 = broker_key(&t, "k2");
    k2.created_at = at;
    assert_eq!(
        store
            .rotate_broker_signing_keys(&t, &[k2.clone(), broker_key(&t, "k1")], at)
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store
            .rotate_broker_signing_keys(&t, &[broker_key(&tenant_id("fabrikam"), "k9")], at)
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.list_broker_signing_keys(&t).await,
        Ok(vec![broker_key(&t, "k1")]),
        "a refused rotation changes nothing"
    );
    assert_eq!(
        store
            .rotate_broker_signing_keys(&tenant_id("nowhere"), &[], at)
            .await,
        Err(StoreError::NotFound)
    );
    store
        .rotate_broker_signing_keys(&t, std::slice::from_ref(&k2), at)
        .await
        .expect("rotate");
    let mut k1 = broker_key(&t, "k1");
    k1.status = KeyStatus::Retired;
    k1.retired_at = Some(at);
    assert_eq!(
        store.list_broker_signing_keys(&t).await,
        Ok(vec![k1.clone(), k2.clone()])
    );
    let later = at + Duration::days(1);
    let mut k3 = broker_key(&t, "k3");
    k3.created_at = later;
    store
        .rotate_broker_signing_keys(&t, std::slice::from_ref(&k3), later)
        .await
        .expect("rotate again");
    k2.status = KeyStatus::Retired;
    k2.retired_at = Some(later);
    assert_eq!(
        store.list_broker_signing_keys(&t).await,
        Ok(vec![k1, k2, k3]),
        "a retired key keeps its first retirement time"
    );
}

/// A staged rotation (pending keys) retires nothing; activating a pending key makes it active and retires, at the
/// given time, the older unretired keys of its algorithm only (another algorithm's key and a newer pending key
/// stay). A retired key cannot be activated (`Conflict`), an unknown one is `NotFound`; then nothing changes.
pub async fn broker_staged_rotation_publishes_and_activation_retires_older_keys_of_its_algorithm(
    store: Arc<dyn BrokerStore>,
) {
    let t = tenant_id("contoso");
    let mut rsa = broker_key(&t, "r1");
    rsa.alg = "RS256".into();
    store
        .create_broker_tenant(
            &broker_tenant("contoso"),
            &[broker_key(&t, "k1"), rsa.clone()],
        )
        .await
        .expect("create");
    let at = T0 + Duration::days(1);
    let pending = |kid: &str, created_at: OffsetDateTime| {
        let mut key = broker_key(&t, kid);
        key.status = KeyStatus::Pending;
        key.created_at = created_at;
        key
    };
    let mut k2 = pending("k2", at);
    store
        .rotate_broker_signing_keys(&t, std::slice::from_ref(&k2), at)
        .await
        .expect("staged rotation");
    let mut k1 = broker_key(&t, "k1");
    assert_eq!(
        store.list_broker_signing_keys(&t).await,
        Ok(vec![k1.clone(), rsa.clone(), k2.clone()]),
        "a staged rotation only publishes"
    );
    let later = at + Duration::minutes(10);
    let k3 = pending("k3", later);
    store
        .put_broker_signing_key(&k3)
        .await
        .expect("a newer pending key");
    assert_eq!(
        store
            .activate_broker_signing_key(&t, "nothing", later)
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store
            .activate_broker_signing_key(&tenant_id("fabrikam"), "k2", later)
            .await,
        Err(StoreError::NotFound),
        "another tenant's key"
    );
    store
        .activate_broker_signing_key(&t, "k2", later)
        .await
        .expect("activate");
    k1.status = KeyStatus::Retired;
    k1.retired_at = Some(later);
    k2.status = KeyStatus::Active;
    assert_eq!(
        store.list_broker_signing_keys(&t).await,
        Ok(vec![k1.clone(), rsa.clone(), k2.clone(), k3.clone()]),
        "only the older key of its algorithm is retired"
    );
    assert_eq!(
        store.activate_broker_signing_key(&t, "k1", later).await,
        Err(StoreError::Conflict),
        "a retired key stays retired"
    );
    assert_eq!(
        store.list_broker_signing_keys(&t).await,
        Ok(vec![k1, rsa, k2, k3]),
        "a refused activation changes nothing"
    );
}

/// Deleting a flow removes it with all its versions; the policy key is free again, and other flows stay.
pub async fn flow_delete_removes_every_version(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    let key = policy_key("B2C_1_SignIn");
    store
        .create_flow(&flow(&t, "B2C_1_SignIn"), &flow_version(1))
        .await
        .expect("flow");
    store
        .append_flow_version(&t, &key, 1, &flow_version(2))
        .await
        .expect("v2");
    store
        .create_flow(&flow(&t, "B2C_1_kept"), &flow_version(1))
        .await
        .expect("kept");
    store.delete_flow(&t, &key).await.expect("delete");
    assert_eq!(store.get_flow(&t, &key).await, Ok(None));
    assert_eq!(store.list_flow_versions(&t, &key).await, Ok(vec![]));
    assert_eq!(store.get_flow_version(&t, &key, 1).await, Ok(None));
    assert_eq!(store.get_current_flow_version(&t, &key).await, Ok(None));
    assert_eq!(store.delete_flow(&t, &key).await, Err(StoreError::NotFound));
    assert_eq!(
        store.list_flows(&t).await.map(|f| f.len()),
        Ok(1),
        "the other flow stays"
    );
    store
        .create_flow(&flow(&t, "B2C_1_SignIn"), &flow_version(1))
        .await
        .expect("the name is free again");
}

/// An application is stored with its secret's hash and settings, read by client id, updated and deleted.
/// Applications page in client-id order with the tenant's total; another tenant's are not counted.
pub async fn broker_applications_page_in_client_id_order(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    let other = with_tenant(&*store, "fabrikam").await;
    for id in ["c", "a", "e", "b", "d"] {
        store
            .create_broker_application(&application(&t, id))
            .await
            .expect("create");
    }
    store
        .create_broker_application(&application(&other, "z"))
        .await
        .expect("create");
    let ids = |page: &[BrokerApplication]| -> Vec<String> {
        page.iter().map(|a| a.client_id.to_string()).collect()
    };
    let (first, total) = store
        .list_broker_applications_page(&t, 0, 2)
        .await
        .expect("page");
    assert_eq!((ids(&first), total), (vec!["a".into(), "b".into()], 5));
    let (last, _) = store
        .list_broker_applications_page(&t, 4, 2)
        .await
        .expect("page");
    assert_eq!(ids(&last), vec!["e".to_owned()]);
    assert_eq!(last[0], application(&t, "e"));
    let (beyond, total) = store
        .list_broker_applications_page(&t, 9, 2)
        .await
        .expect("page");
    assert!(beyond.is_empty());
    assert_eq!(total, 5);
}

/// Follows a filtered list's pages (`page` returns up to `limit` ids after the cursor) to the end: every id, in order.
async fn follow_pages<F, Fut>(limit: usize, mut page: F) -> Vec<String>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Vec<String>>,
{
    let mut all: Vec<String> = Vec::new();
    loop {
        let chunk = page(all.last().cloned()).await;
        assert!(chunk.len() <= limit, "a page holds at most its limit");
        let done = chunk.len() < limit;
        all.extend(chunk);
        if done {
            return all;
        }
    }
}

/// A filtered page of applications holds only matches (client id or display name prefix, folded Unicode
/// lowercase on both sides, so `é` finds `École`; the kind), cut by the store: following the cursor returns each
/// match once, in client id order, none missed, none repeated. A rename is found by its new name only.
pub async fn broker_applications_filtered_in_the_store_page_without_gaps_or_repeats(
    store: Arc<dyn BrokerStore>,
) {
    use crate::{ClientFilter, ClientType};
    let t = with_tenant(&*store, "contoso").await;
    let other = with_tenant(&*store, "fabrikam").await;
    let mut public_ids = Vec::new();
    for i in 0..23 {
        let id = format!("app-{i:02}");
        let mut app = application(&t, &id);
        // Every third is public; names alternate between two stems, the non-ASCII one with a capital É.
        let public = i % 3 == 0;
        app.settings = json!({
            "display_name": if i % 2 == 0 { format!("École {i}") } else { format!("Shop {i}") },
            "client_type": if public { "public" } else { "confidential" },
        });
        if public {
            app.secret_hash = None;
            public_ids.push(id.clone());
        }
        store.create_broker_application(&app).await.expect("create");
    }
    let mut elsewhere = application(&other, "app-99");
    elsewhere.settings = json!({"display_name": "École", "client_type": "public"});
    store
        .create_broker_application(&elsewhere)
        .await
        .expect("create");
    let list = |filter: ClientFilter, limit: usize| {
        let store = store.clone();
        let t = t.clone();
        follow_pages(limit, move |after| {
            let store = store.clone();
            let t = t.clone();
            let filter = filter.clone();
            async move {
                let after = after.map(|a| app_id(&a));
                store
                    .list_broker_applications_filtered(&t, &filter, after.as_ref(), limit as u32)
                    .await
                    .expect("page")
                    .into_iter()
                    .map(|a| a.client_id.to_string())
                    .collect()
            }
        })
    };
    let expected = |keep: &dyn Fn(usize) -> bool| -> Vec<String> {
        (0..23)
            .filter(|i| keep(*i))
            .map(|i| format!("app-{i:02}"))
            .collect()
    };
    let by_name = |q: &str| ClientFilter {
        prefix: Some(q.into()),
        client_type: None,
    };
    assert_eq!(
        list(by_name("é"), 4).await,
        expected(&|i| i % 2 == 0),
        "a folded non-ASCII prefix finds École, page after page"
    );
    assert_eq!(
        list(by_name("ÉCOLE 1"), 2).await,
        expected(&|i| i % 2 == 0 && format!("{i}").starts_with('1')),
    );
    assert_eq!(
        list(by_name("e"), 4).await,
        Vec::<String>::new(),
        "é is not e"
    );
    assert_eq!(
        list(by_name("APP-1"), 3).await,
        expected(&|i| (10..20).contains(&i)),
        "the client id, any case"
    );
    assert_eq!(
        list(by_name("app-%"), 3).await,
        Vec::<String>::new(),
        "% is no wildcard"
    );
    assert_eq!(
        list(
            ClientFilter {
                prefix: None,
                client_type: Some(ClientType::Public)
            },
            2
        )
        .await,
        public_ids
    );
    assert_eq!(
        list(
            ClientFilter {
                prefix: Some("shop".into()),
                client_type: Some(ClientType::Confidential)
            },
            5
        )
        .await,
        expected(&|i| i % 2 == 1 && i % 3 != 0)
    );
    assert_eq!(list(ClientFilter::default(), 7).await, expected(&|_| true));
    // A rename is folded at the update.
    let mut renamed = store
        .get_broker_application(&t, &app_id("app-01"))
        .await
        .expect("get")
        .expect("exists");
    renamed.settings["display_name"] = json!("Émile");
    store
        .update_broker_application(&renamed, None)
        .await
        .expect("update");
    assert_eq!(list(by_name("émi"), 4).await, vec!["app-01".to_owned()]);
    assert!(
        !list(by_name("shop"), 4)
            .await
            .contains(&"app-01".to_owned())
    );
}

/// A filtered page of provider summaries holds only those whose id or name starts with the prefix (folded Unicode
/// lowercase), cut by the store: following the cursor returns each match once, in id order.
pub async fn identity_provider_summaries_filtered_in_the_store_page_without_gaps_or_repeats(
    store: Arc<dyn BrokerStore>,
) {
    let t = with_tenant(&*store, "contoso").await;
    let other = with_tenant(&*store, "fabrikam").await;
    for i in 0..17 {
        let id = format!("idp-{i:02}");
        let mut p = provider(&t, &id);
        p.config["name"] = json!(if i % 2 == 0 {
            format!("Élan {i}")
        } else {
            format!("Nok Nok {i}")
        });
        store.create_identity_provider(&p).await.expect("create");
    }
    let mut elsewhere = provider(&other, "idp-00");
    elsewhere.config["name"] = json!("Élan");
    store
        .create_identity_provider(&elsewhere)
        .await
        .expect("create");
    let list = |q: Option<&'static str>, limit: usize| {
        let store = store.clone();
        let t = t.clone();
        follow_pages(limit, move |after| {
            let store = store.clone();
            let t = t.clone();
            async move {
                store
                    .list_identity_provider_summaries(&t, q, after.as_deref(), limit as u32)
                    .await
                    .expect("page")
                    .into_iter()
                    .map(|p| p.provider_id)
                    .collect()
            }
        })
    };
    let expected = |keep: &dyn Fn(usize) -> bool| -> Vec<String> {
        (0..17)
            .filter(|i| keep(*i))
            .map(|i| format!("idp-{i:02}"))
            .collect()
    };
    assert_eq!(list(Some("é"), 3).await, expected(&|i| i % 2 == 0));
    assert_eq!(
        list(Some("ÉLAN 1"), 2).await,
        expected(&|i| i % 2 == 0 && i >= 10)
    );
    assert_eq!(list(Some("nok nok"), 4).await, expected(&|i| i % 2 == 1));
    assert_eq!(list(Some("IDP-1"), 2).await, expected(&|i| i >= 10));
    assert_eq!(list(Some("e"), 2).await, Vec::<String>::new(), "é is not e");
    assert_eq!(
        list(Some("idp_"), 2).await,
        Vec::<String>::new(),
        "_ is no wildcard"
    );
    assert_eq!(list(None, 5).await, expected(&|_| true));
    // A rename is folded at the update.
    let mut renamed = store
        .get_identity_provider(&t, "idp-03")
        .await
        .expect("get")
        .expect("exists");
    renamed.config["name"] = json!("Émile");
    store
        .update_identity_provider(&renamed, None)
        .await
        .expect("update");
    assert_eq!(list(Some("émi"), 4).await, vec!["idp-03".to_owned()]);
    assert!(!list(Some("nok"), 4).await.contains(&"idp-03".to_owned()));
}

pub async fn identity_provider_summaries_page_in_byte_order_without_documents(
    store: Arc<dyn BrokerStore>,
) {
    let t = with_tenant(&*store, "contoso").await;
    let other = with_tenant(&*store, "fabrikam").await;
    // Byte order puts '-' before digits before letters, whatever a database's collation would say.
    for id in ["b", "a0", "a-2", "c", "a-1"] {
        store
            .create_identity_provider(&provider(&t, id))
            .await
            .expect("create");
    }
    store
        .create_identity_provider(&provider(&other, "a"))
        .await
        .expect("create");
    let mut refreshed = provider(&t, "b").cache;
    refreshed.metadata_fetched_at = T0 + Duration::hours(1);
    refreshed.metadata =
        json!({"issuer": "https://other.example", "jwks_uri": "https://other.example/k"});
    refreshed.signing_keys = Some(5);
    store
        .refresh_provider_metadata(&t, "b", &refreshed)
        .await
        .expect("refresh");
    let ids = |page: &[IdentityProviderSummary]| -> Vec<String> {
        page.iter().map(|p| p.provider_id.clone()).collect()
    };
    let first = store
        .list_identity_provider_summaries(&t, None, None, 2)
        .await
        .expect("page");
    assert_eq!(ids(&first), vec!["a-1".to_owned(), "a-2".to_owned()]);
    let second = store
        .list_identity_provider_summaries(&t, None, Some("a-2"), 2)
        .await
        .expect("page");
    assert_eq!(ids(&second), vec!["a0".to_owned(), "b".to_owned()]);
    assert_eq!(
        second[1],
        IdentityProviderSummary {
            provider_id: "b".into(),
            config: provider(&t, "b").config,
            created_at: T0,
            updated_at: T0,
            metadata_fetched_at: T0 + Duration::hours(1),
            has_client_secret: true,
            issuer: Some("https://other.example".into()),
            signing_keys: Some(5),
        },
        "a refresh writes the summary's issuer and key count"
    );
    // A save writes them too, and a provider without a secret says so (its secret is never read).
    let mut saved = store
        .get_identity_provider(&t, "a0")
        .await
        .expect("get")
        .expect("exists");
    saved.client_secret_encrypted = None;
    saved.cache.metadata = json!({"issuer": "https://saved.example"});
    saved.cache.signing_keys = Some(3);
    saved.updated_at = T0 + Duration::hours(2);
    store
        .update_identity_provider(&saved, None)
        .await
        .expect("update");
    let a0 = &store
        .list_identity_provider_summaries(&t, None, Some("a-2"), 1)
        .await
        .expect("page")[0];
    assert_eq!(
        (a0.has_client_secret, a0.issuer.as_deref(), a0.signing_keys),
        (false, Some("https://saved.example"), Some(3))
    );
    assert_eq!(first[0].issuer.as_deref(), Some("https://idp.example"));
    assert_eq!(first[0].signing_keys, Some(2));
    let last = store
        .list_identity_provider_summaries(&t, None, Some("b"), 2)
        .await
        .expect("page");
    assert_eq!(ids(&last), vec!["c".to_owned()]);
    assert_eq!(
        store
            .list_identity_provider_summaries(&t, None, Some("c"), 2)
            .await,
        Ok(vec![])
    );
    let other_page = store
        .list_identity_provider_summaries(&other, None, None, 10)
        .await
        .expect("page");
    assert_eq!(ids(&other_page), vec!["a".to_owned()]);
    assert_eq!(
        store
            .list_identity_provider_summaries(&tenant_id("nobody"), None, None, 10)
            .await,
        Ok(vec![])
    );
}

pub async fn broker_application_keeps_only_the_secret_hash(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    let app = application(&t, "app");
    store.create_broker_application(&app).await.expect("create");
    assert_eq!(
        store.create_broker_application(&app).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store
            .create_broker_application(&application(&tenant_id("nowhere"), "app"))
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.get_broker_application(&t, &app_id("app")).await,
        Ok(Some(app.clone()))
    );
    let mut public = application(&t, "spa");
    public.secret_hash = None;
    store
        .create_broker_application(&public)
        .await
        .expect("create");
    assert_eq!(
        store.list_broker_applications(&t).await,
        Ok(vec![app.clone(), public.clone()])
    );

    let mut changed = app.clone();
    changed.secret_hash = Some(vec![0x77; 32]);
    changed.settings = json!({"display_name": "renamed"});
    store
        .update_broker_application(&changed, None)
        .await
        .expect("update");
    assert_eq!(
        store.get_broker_application(&t, &app_id("app")).await,
        Ok(Some(changed))
    );
    assert_eq!(
        store
            .update_broker_application(&application(&t, "ghost"), None)
            .await,
        Err(StoreError::NotFound)
    );
    store
        .delete_broker_application(&t, &app_id("app"), None)
        .await
        .expect("delete");
    assert_eq!(
        store.get_broker_application(&t, &app_id("app")).await,
        Ok(None)
    );
    assert_eq!(
        store
            .delete_broker_application(&t, &app_id("app"), None)
            .await,
        Err(StoreError::NotFound)
    );
}

/// A provider keeps the encrypted client secret as given; a metadata refresh replaces only the cache.
pub async fn identity_provider_keeps_the_encrypted_secret_and_refreshes_its_metadata(
    store: Arc<dyn BrokerStore>,
) {
    let t = with_tenant(&*store, "contoso").await;
    let idp = provider(&t, "passkeys");
    store.create_identity_provider(&idp).await.expect("create");
    assert_eq!(
        store.create_identity_provider(&idp).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.get_identity_provider(&t, "passkeys").await,
        Ok(Some(idp.clone()))
    );

    let cache = ProviderCache {
        metadata: json!({"issuer": "https://idp.example", "jwks_uri": "https://idp.example/jwks"}),
        metadata_fetched_at: T0 + Duration::hours(1),
        jwks: json!({"keys": [{"kid": "new"}]}),
        jwks_fetched_at: T0 + Duration::hours(1),
        signing_keys: Some(1),
    };
    store
        .refresh_provider_metadata(&t, "passkeys", &cache)
        .await
        .expect("refresh");
    let refreshed = store
        .get_identity_provider(&t, "passkeys")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(refreshed.cache, cache);
    assert_eq!(refreshed.config, idp.config);
    assert_eq!(
        refreshed.client_secret_encrypted,
        idp.client_secret_encrypted
    );
    assert_eq!(
        store.refresh_provider_metadata(&t, "ghost", &cache).await,
        Err(StoreError::NotFound)
    );

    let mut edited = refreshed.clone();
    edited.config = json!({"id": "passkeys", "name": "Renamed"});
    edited.client_secret_encrypted = None;
    edited.updated_at = T0 + Duration::hours(2);
    store
        .update_identity_provider(&edited, None)
        .await
        .expect("update");
    assert_eq!(store.list_identity_providers(&t).await, Ok(vec![edited]));
    store
        .delete_identity_provider(&t, "passkeys", None)
        .await
        .expect("delete");
    assert_eq!(store.get_identity_provider(&t, "passkeys").await, Ok(None));
    assert_eq!(
        store.delete_identity_provider(&t, "passkeys", None).await,
        Err(StoreError::NotFound)
    );
}

/// Versions are only ever appended: each is numbered one more than the last, a stale expected number is refused,
/// and of two admins appending from the same version exactly one succeeds. Old versions stay readable.
pub async fn flow_versions_are_append_only_and_raced_append_conflicts(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    let key = policy_key("B2C_1_SignUpSignIn");
    assert_eq!(
        store
            .create_flow(&flow(&t, "B2C_1_SignUpSignIn"), &flow_version(2))
            .await,
        Err(StoreError::Conflict),
        "the first version is number 1"
    );
    assert_eq!(store.get_flow(&t, &key).await, Ok(None));
    store
        .create_flow(&flow(&t, "B2C_1_SignUpSignIn"), &flow_version(1))
        .await
        .expect("create");
    assert_eq!(
        store.get_flow(&t, &key).await,
        Ok(Some(flow(&t, "B2C_1_SignUpSignIn")))
    );

    // A number that does not follow the expected one, and a stale expected number, change nothing.
    assert_eq!(
        store
            .append_flow_version(&t, &key, 1, &flow_version(3))
            .await,
        Err(StoreError::Conflict)
    );
    store
        .append_flow_version(&t, &key, 1, &flow_version(2))
        .await
        .expect("append 2");
    assert_eq!(
        store
            .append_flow_version(&t, &key, 1, &flow_version(2))
            .await,
        Err(StoreError::Conflict),
        "saving from version 1 again"
    );
    assert_eq!(
        store
            .append_flow_version(&t, &key, 0, &flow_version(1))
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store
            .append_flow_version(&t, "b2c_1_ghost", 1, &flow_version(2))
            .await,
        Err(StoreError::NotFound)
    );

    // Two admins save from version 2 at once.
    let racers: Vec<_> = (0..2)
        .map(|i| {
            let store = store.clone();
            let t = t.clone();
            let key = key.clone();
            tokio::spawn(async move {
                let mut version = flow_version(3);
                version.settings = json!({"admin": i});
                store.append_flow_version(&t, &key, 2, &version).await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for racer in racers {
        outcomes.push(racer.await.expect("join"));
    }
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Err(StoreError::Conflict))
            .count(),
        1,
        "{outcomes:?}"
    );

    let versions = store.list_flow_versions(&t, &key).await.expect("list");
    assert_eq!(
        versions.iter().map(|v| v.number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        versions.first(),
        Some(&flow_version(1)),
        "version 1 is unchanged"
    );
    assert_eq!(
        store
            .get_current_flow_version(&t, &key)
            .await
            .expect("current")
            .map(|v| v.number),
        Some(3)
    );
    assert_eq!(
        store.get_flow_version(&t, &key, 2).await,
        Ok(Some(flow_version(2)))
    );
    assert_eq!(store.get_flow_version(&t, &key, 4).await, Ok(None));
    assert_eq!(
        store.get_current_flow_version(&t, "b2c_1_ghost").await,
        Ok(None)
    );
}

/// A policy id names one flow per tenant, whatever its case.
pub async fn flow_policy_key_is_unique_per_tenant(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    store
        .create_flow(&flow(&t, "B2C_1_signupsignin"), &flow_version(1))
        .await
        .expect("create");
    assert_eq!(
        store
            .create_flow(&flow(&t, "B2C_1_SIGNUPSIGNIN"), &flow_version(1))
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store
            .create_flow(&flow(&tenant_id("nowhere"), "B2C_1_x"), &flow_version(1))
            .await,
        Err(StoreError::NotFound)
    );
    store
        .create_flow(&flow(&t, "B2C_1_profile"), &flow_version(1))
        .await
        .expect("second flow");
    let keys: Vec<_> = store
        .list_flows(&t)
        .await
        .expect("list")
        .into_iter()
        .map(|f| f.policy_key)
        .collect();
    assert_eq!(keys, ["b2c_1_profile", "b2c_1_signupsignin"]);
}

// ---------------------------------------------------------------------------------------------------------------
// Transactions and pending sign-ups.

/// A transaction is taken once: of many concurrent takers (one per node, say) exactly one gets it, and it survives
/// minutes before that.
pub async fn transaction_is_single_use(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    let expires = T0 + Duration::minutes(15);
    store
        .put_broker_transaction(&t, b"state-hash", b"txn", expires)
        .await
        .expect("put");
    assert_eq!(
        store
            .put_broker_transaction(&t, b"state-hash", b"other", expires)
            .await,
        Err(StoreError::Conflict)
    );
    let later = T0 + Duration::minutes(10);
    let takers: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            let t = t.clone();
            tokio::spawn(async move {
                store
                    .take_broker_transaction(&t, b"state-hash", later)
                    .await
            })
        })
        .collect();
    let mut winners = 0;
    for taker in takers {
        match taker.await.expect("join") {
            Ok(Some(payload)) => {
                assert_eq!(payload, b"txn");
                winners += 1;
            }
            Ok(None) => {}
            Err(error) => panic!("take failed: {error}"),
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(
        store
            .take_broker_transaction(&t, b"state-hash", later)
            .await,
        Ok(None)
    );
}

/// A transaction past its expiry is never returned, and is gone after the attempt.
pub async fn expired_transaction_is_not_returned(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    let expires = T0 + Duration::minutes(15);
    store
        .put_broker_transaction(&t, b"s", b"txn", expires)
        .await
        .expect("put");
    assert_eq!(
        store.take_broker_transaction(&t, b"s", expires).await,
        Ok(None)
    );
    assert_eq!(
        store
            .take_broker_transaction(&t, b"s", expires - Duration::seconds(1))
            .await,
        Ok(Some(b"txn".to_vec())),
        "live until its expiry"
    );
}

/// A pending sign-up is taken once and not after its expiry.
pub async fn pending_signup_is_single_use_and_expires(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    let expires = T0 + Duration::minutes(30);
    store
        .put_pending_signup(&t, b"h1", b"profile", expires)
        .await
        .expect("put");
    assert_eq!(
        store.put_pending_signup(&t, b"h1", b"again", expires).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.take_pending_signup(&t, b"h1", T0).await,
        Ok(Some(b"profile".to_vec()))
    );
    assert_eq!(store.take_pending_signup(&t, b"h1", T0).await, Ok(None));
    store
        .put_pending_signup(&t, b"h2", b"profile", expires)
        .await
        .expect("put");
    assert_eq!(
        store.take_pending_signup(&t, b"h2", expires).await,
        Ok(None)
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Directory.

/// One `(issuer, subject)` signs in as one user: a second user with the same identity is refused, while the same
/// subject at another issuer is another identity.
pub async fn directory_identity_is_unique_per_issuer_and_subject(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    with_user(&*store, &t, "u1", "sub-1").await;
    assert_eq!(
        store
            .create_user_with_identity(
                &directory_user(&t, "u2", "Bob Ray", "bob@example.com"),
                &identity("sub-1")
            )
            .await,
        Err(StoreError::Conflict)
    );
    let elsewhere = DirectoryIdentity {
        issuer: "https://other-idp.example".into(),
        subject: "sub-1".into(),
    };
    store
        .create_user_with_identity(
            &directory_user(&t, "u2", "Bob Ray", "bob@example.com"),
            &elsewhere,
        )
        .await
        .expect("same subject, other issuer");
    let first = store
        .find_user_by_identity(&t, "https://idp.example", "sub-1")
        .await
        .expect("find")
        .expect("u1");
    assert_eq!(first.object_id.as_str(), "u1");
    assert_eq!(first.identities, vec![identity("sub-1")]);
    let second = store
        .find_user_by_identity(&t, "https://other-idp.example", "sub-1")
        .await
        .expect("find")
        .expect("u2");
    assert_eq!(second.object_id.as_str(), "u2");
    assert_eq!(
        store
            .find_user_by_identity(&t, "https://idp.example", "SUB-1")
            .await,
        Ok(None),
        "subjects are compared exactly"
    );
}

/// A new user is written with their identity or not at all: a duplicate identity leaves no user row, a duplicate
/// object id leaves no identity row.
pub async fn create_user_with_identity_is_all_or_nothing(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    with_user(&*store, &t, "u1", "sub-1").await;
    let u2 = directory_user(&t, "u2", "Bob Ray", "bob@example.com");
    assert_eq!(
        store
            .create_user_with_identity(&u2, &identity("sub-1"))
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.get_directory_user(&t, &object_id("u2")).await,
        Ok(None)
    );

    let again = directory_user(&t, "u1", "Someone Else", "else@example.com");
    assert_eq!(
        store
            .create_user_with_identity(&again, &identity("sub-9"))
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store
            .find_user_by_identity(&t, "https://idp.example", "sub-9")
            .await,
        Ok(None)
    );
    assert_eq!(
        store
            .create_user_with_identity(
                &directory_user(&tenant_id("nowhere"), "u3", "C D", "c@example.com"),
                &identity("sub-3")
            )
            .await,
        Err(StoreError::NotFound)
    );

    let stored = store
        .get_directory_user(&t, &object_id("u1"))
        .await
        .expect("get")
        .expect("u1");
    let mut expected = directory_user(&t, "u1", "Ann Lee", "u1@example.com");
    expected.identities = vec![identity("sub-1")];
    assert_eq!(stored, expected);
}

/// A sign-up's user, identity, sign-in time, session and code are written in one transaction: when the last write
/// fails (a code hash or session that exists), no user is left behind, and a duplicate identity writes nothing.
pub async fn sign_up_writes_user_identity_session_and_code_together_or_not_at_all(
    store: Arc<dyn BrokerStore>,
) {
    let t = with_tenant(&*store, "contoso").await;
    let at = T0 + Duration::minutes(2);
    let u1 = directory_user(&t, "u1", "Ann Lee", "ann@example.com");
    store
        .sign_up_broker_user(
            &u1,
            &identity("sub-1"),
            &broker_session(&t, b"s1", "u1"),
            &broker_code(&t, b"c1", "g1"),
            at,
        )
        .await
        .expect("sign up");
    let stored = store
        .get_directory_user(&t, &object_id("u1"))
        .await
        .expect("get")
        .expect("u1");
    assert_eq!(stored.identities, vec![identity("sub-1")]);
    assert_eq!(stored.last_sign_in_at, Some(at));
    assert!(
        store
            .get_broker_session(&t, b"s1", T0)
            .await
            .expect("get")
            .is_some()
    );
    assert!(matches!(
        store.consume_broker_auth_code(&t, b"c1", T0).await,
        Ok(CodeRedemption::Redeemed(_))
    ));

    // The code's hash is taken: the new user, their identity and the session are all undone.
    let u2 = directory_user(&t, "u2", "Bob Ray", "bob@example.com");
    assert_eq!(
        store
            .sign_up_broker_user(
                &u2,
                &identity("sub-2"),
                &broker_session(&t, b"s2", "u2"),
                &broker_code(&t, b"c1", "g2"),
                at,
            )
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.get_directory_user(&t, &object_id("u2")).await,
        Ok(None)
    );
    assert_eq!(
        store
            .find_user_by_identity(&t, "https://idp.example", "sub-2")
            .await,
        Ok(None)
    );
    assert_eq!(store.get_broker_session(&t, b"s2", T0).await, Ok(None));

    // The session's hash is taken: the same.
    assert_eq!(
        store
            .sign_up_broker_user(
                &u2,
                &identity("sub-2"),
                &broker_session(&t, b"s1", "u2"),
                &broker_code(&t, b"c2", "g2"),
                at,
            )
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.get_directory_user(&t, &object_id("u2")).await,
        Ok(None)
    );
    assert_eq!(
        store.consume_broker_auth_code(&t, b"c2", T0).await,
        Ok(CodeRedemption::NotFound)
    );

    // The identity already signs in as u1: nothing is written.
    assert_eq!(
        store
            .sign_up_broker_user(
                &u2,
                &identity("sub-1"),
                &broker_session(&t, b"s3", "u2"),
                &broker_code(&t, b"c3", "g3"),
                at,
            )
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.get_directory_user(&t, &object_id("u2")).await,
        Ok(None)
    );
    assert_eq!(store.get_broker_session(&t, b"s3", T0).await, Ok(None));

    // Afterwards the same sign-up succeeds.
    store
        .sign_up_broker_user(
            &u2,
            &identity("sub-2"),
            &broker_session(&t, b"s2", "u2"),
            &broker_code(&t, b"c2", "g2"),
            at,
        )
        .await
        .expect("sign up u2");
    assert!(
        store
            .get_directory_user(&t, &object_id("u2"))
            .await
            .expect("get")
            .is_some()
    );
}

/// A sign-up abandoned on the attribute page leaves nothing: the pending sign-up expires and is purged, and the
/// directory has no user or identity for it.
pub async fn abandoned_signup_leaves_no_user(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    let expires = T0 + Duration::minutes(30);
    store
        .put_pending_signup(&t, b"handle", br#"{"sub":"new-sub"}"#, expires)
        .await
        .expect("pending");
    // The user never submits the page.
    let later = expires + Duration::minutes(1);
    let mut purged = 0;
    loop {
        let n = store.purge_expired_broker(later, 100).await.expect("purge");
        if n == 0 {
            break;
        }
        purged += n;
    }
    assert_eq!(purged, 1);
    assert_eq!(store.take_pending_signup(&t, b"handle", T0).await, Ok(None));
    assert_eq!(
        store
            .find_user_by_identity(&t, "https://idp.example", "new-sub")
            .await,
        Ok(None)
    );
    let page = store
        .search_directory_users(&t, "", None, None, 10)
        .await
        .expect("search");
    assert!(page.users.is_empty());
}

/// A returning user is found by the identity only: the same email at another identity finds nobody.
pub async fn returning_user_is_found_by_identity_never_by_email(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    with_user(&*store, &t, "u1", "sub-1").await;
    assert_eq!(
        store
            .find_user_by_identity(&t, "https://idp.example", "u1@example.com")
            .await,
        Ok(None)
    );
    assert_eq!(
        store
            .find_user_by_identity(&t, "https://evil.example", "sub-1")
            .await,
        Ok(None)
    );
}

/// A sign-in sets the last sign-in time; a disabled user's sign-in is refused and changes nothing.
pub async fn broker_sign_in_is_recorded_and_refused_for_a_disabled_user(
    store: Arc<dyn BrokerStore>,
) {
    let t = with_tenant(&*store, "contoso").await;
    with_user(&*store, &t, "u1", "sub-1").await;
    let u1 = object_id("u1");
    let at = T0 + Duration::hours(3);
    store
        .record_broker_sign_in(&t, &u1, at)
        .await
        .expect("record");
    let user = store
        .get_directory_user(&t, &u1)
        .await
        .expect("get")
        .expect("u1");
    assert_eq!(user.last_sign_in_at, Some(at));
    assert_eq!(
        store
            .record_broker_sign_in(&t, &object_id("ghost"), at)
            .await,
        Err(StoreError::NotFound)
    );
    store
        .disable_directory_user(&t, &u1, at, None)
        .await
        .expect("disable");
    assert_eq!(
        store
            .record_broker_sign_in(&t, &u1, at + Duration::hours(1))
            .await,
        Err(StoreError::Conflict)
    );
    let user = store
        .get_directory_user(&t, &u1)
        .await
        .expect("get")
        .expect("u1");
    assert_eq!(user.last_sign_in_at, Some(at));
    assert_eq!(user.disabled_at, Some(at));
    store
        .enable_directory_user(&t, &u1, None)
        .await
        .expect("enable");
    store
        .record_broker_sign_in(&t, &u1, at + Duration::hours(2))
        .await
        .expect("enabled again");
    assert_eq!(
        store
            .enable_directory_user(&t, &object_id("ghost"), None)
            .await,
        Err(StoreError::NotFound)
    );
}

/// A search is paged by a cursor: the pages together hold every match exactly once, in object id order, and the
/// last page has no cursor.
pub async fn search_pages_with_cursor(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    for i in 0..7 {
        let id = format!("u{i}");
        store
            .create_user_with_identity(
                &directory_user(&t, &id, "Ann Lee", &format!("ann{i}@example.com")),
                &identity(&format!("sub-{i}")),
            )
            .await
            .expect("create");
    }
    store
        .create_user_with_identity(
            &directory_user(&t, "x1", "Bob Ray", "bob@example.com"),
            &identity("sub-bob"),
        )
        .await
        .expect("create");
    let mut seen = Vec::new();
    let mut cursor: Option<UserId> = None;
    let mut pages = 0;
    loop {
        let page = store
            .search_directory_users(&t, "ann", None, cursor.as_ref(), 3)
            .await
            .expect("search");
        assert!(page.users.len() <= 3);
        pages += 1;
        seen.extend(
            page.users
                .into_iter()
                .map(|u| u.object_id.as_str().to_owned()),
        );
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 10, "the cursor moves forward");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["u0", "u1", "u2", "u3", "u4", "u5", "u6"]);
}

/// A search filtered by status (enabled or disabled) is filtered in the store before the page is cut: every page
/// holds only matches and the pages together hold every match once, in object id order; enabling a user moves
/// them back.
pub async fn search_filtered_by_status_pages_without_gaps_or_repeats(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    for i in 0..8 {
        let id = format!("u{i}");
        store
            .create_user_with_identity(
                &directory_user(&t, &id, "Ann Lee", &format!("ann{i}@example.com")),
                &identity(&format!("sub-{i}")),
            )
            .await
            .expect("create");
    }
    for i in [0, 3, 4, 7] {
        store
            .disable_directory_user(&t, &object_id(&format!("u{i}")), T0, None)
            .await
            .expect("disable");
    }
    let pages = async |status: Option<AccountStatus>| -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut cursor: Option<UserId> = None;
        loop {
            let page = store
                .search_directory_users(&t, "ANN", status, cursor.as_ref(), 3)
                .await
                .expect("search");
            assert!(page.users.len() <= 3);
            pages.push(
                page.users
                    .iter()
                    .map(|u| u.object_id.as_str().to_owned())
                    .collect::<Vec<_>>(),
            );
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
            assert!(pages.len() < 10, "the cursor moves forward");
        }
        pages
    };
    assert_eq!(
        pages(Some(AccountStatus::Disabled)).await,
        [vec!["u0", "u3", "u4"], vec!["u7"]]
    );
    assert_eq!(
        pages(Some(AccountStatus::Enabled)).await,
        [vec!["u1", "u2", "u5"], vec!["u6"]]
    );
    assert_eq!(pages(None).await.concat().len(), 8);
    store
        .enable_directory_user(&t, &object_id("u3"), None)
        .await
        .expect("enable");
    assert_eq!(
        pages(Some(AccountStatus::Enabled)).await.concat(),
        ["u1", "u2", "u3", "u5", "u6"]
    );
}

/// Search matches the start of the email, display name, given name or surname, ignoring case; `%` and `_` in the
/// query are literal characters, not wildcards.
pub async fn search_matches_email_and_name_prefixes_ignoring_case(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    let users = [
        ("u1", "Émile Zola", "emile@example.com"),
        ("u2", "Ann Lee", "ann_lee@example.com"),
        ("u3", "Bob Ray", "annex@example.com"),
    ];
    for (id, name, email) in users {
        store
            .create_user_with_identity(&directory_user(&t, id, name, email), &identity(id))
            .await
            .expect("create");
    }
    let ids = |page: crate::broker_records::DirectoryPage| {
        page.users
            .into_iter()
            .map(|u| u.object_id.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let search = |q: &'static str| {
        let store = store.clone();
        let t = t.clone();
        async move {
            store
                .search_directory_users(&t, q, None, None, 10)
                .await
                .expect("search")
        }
    };
    assert_eq!(
        ids(search("éMILE").await),
        ["u1"],
        "display name, Unicode case"
    );
    assert_eq!(ids(search("zola").await), ["u1"], "surname");
    assert_eq!(
        ids(search("ANN").await),
        ["u2", "u3"],
        "given name and email"
    );
    assert_eq!(ids(search("ann_").await), ["u2"], "_ is literal");
    assert_eq!(ids(search("%").await), Vec::<String>::new(), "% is literal");
    assert_eq!(ids(search("ray").await), ["u3"]);
    assert_eq!(
        ids(search("mile").await),
        Vec::<String>::new(),
        "prefixes only"
    );
    assert_eq!(ids(search("").await), ["u1", "u2", "u3"]);
}

/// Disabling a user deletes their broker sessions and refresh tokens in the same transaction and refuses new ones;
/// other users keep theirs.
pub async fn disable_user_revokes_sessions_and_refresh_tokens(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    with_user(&*store, &t, "u1", "sub-1").await;
    with_user(&*store, &t, "u2", "sub-2").await;
    for (hash, user) in [(b"s1", "u1"), (b"s2", "u2")] {
        store
            .create_broker_session(&broker_session(&t, hash, user))
            .await
            .expect("session");
    }
    for (hash, grant, user) in [(b"r1", "g1", "u1"), (b"r2", "g2", "u2")] {
        store
            .put_broker_refresh_token(&broker_refresh(&t, hash, grant, user))
            .await
            .expect("refresh");
    }
    let u1 = object_id("u1");
    store
        .disable_directory_user(&t, &u1, T0 + Duration::hours(1), None)
        .await
        .expect("disable");
    assert_eq!(store.get_broker_session(&t, b"s1", T0).await, Ok(None));
    assert_eq!(
        store.get_broker_refresh_token(&t, b"r1", T0).await,
        Ok(None)
    );
    assert_eq!(
        store
            .rotate_broker_refresh_token(&t, b"r1", &broker_refresh(&t, b"r1b", "g1", "u1"), T0)
            .await,
        Ok(RefreshRotation::NotFound)
    );
    assert_eq!(
        store
            .create_broker_session(&broker_session(&t, b"s3", "u1"))
            .await,
        Err(StoreError::Conflict),
        "no new session for a disabled user"
    );
    assert_eq!(
        store
            .put_broker_refresh_token(&broker_refresh(&t, b"r3", "g3", "u1"))
            .await,
        Err(StoreError::Conflict),
        "no new refresh token for a disabled user"
    );
    assert!(
        store
            .get_broker_session(&t, b"s2", T0)
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        store
            .get_broker_refresh_token(&t, b"r2", T0)
            .await
            .expect("get")
            .is_some()
    );
    // Disabling again keeps the first time.
    store
        .disable_directory_user(&t, &u1, T0 + Duration::hours(5), None)
        .await
        .expect("disable again");
    let user = store
        .get_directory_user(&t, &u1)
        .await
        .expect("get")
        .expect("u1");
    assert_eq!(user.disabled_at, Some(T0 + Duration::hours(1)));
    assert_eq!(
        store
            .disable_directory_user(&t, &object_id("ghost"), T0, None)
            .await,
        Err(StoreError::NotFound)
    );
}

/// Deleting a user removes their identities (the identity may sign up again), sessions and refresh tokens.
pub async fn delete_user_removes_identities_sessions_and_tokens(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    with_user(&*store, &t, "u1", "sub-1").await;
    store
        .create_broker_session(&broker_session(&t, b"s1", "u1"))
        .await
        .expect("session");
    store
        .put_broker_refresh_token(&broker_refresh(&t, b"r1", "g1", "u1"))
        .await
        .expect("refresh");
    let u1 = object_id("u1");
    store
        .delete_directory_user(&t, &u1, None)
        .await
        .expect("delete");
    assert_eq!(store.get_directory_user(&t, &u1).await, Ok(None));
    assert_eq!(
        store
            .find_user_by_identity(&t, "https://idp.example", "sub-1")
            .await,
        Ok(None)
    );
    assert_eq!(store.get_broker_session(&t, b"s1", T0).await, Ok(None));
    assert_eq!(
        store.get_broker_refresh_token(&t, b"r1", T0).await,
        Ok(None)
    );
    assert_eq!(
        store.delete_directory_user(&t, &u1, None).await,
        Err(StoreError::NotFound)
    );
    with_user(&*store, &t, "u9", "sub-1").await;
}

// ---------------------------------------------------------------------------------------------------------------
// Sessions, codes, refresh tokens.

/// A session is read while live, by tenant and hash; it needs its user; its `sid` is unique; sign-out deletes it.
pub async fn broker_session_create_read_expire_delete(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    with_user(&*store, &t, "u1", "sub-1").await;
    let session = broker_session(&t, b"s1", "u1");
    store.create_broker_session(&session).await.expect("create");
    assert_eq!(
        store.create_broker_session(&session).await,
        Err(StoreError::Conflict)
    );
    let mut same_sid = broker_session(&t, b"s2", "u1");
    same_sid.sid = session.sid.clone();
    assert_eq!(
        store.create_broker_session(&same_sid).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store
            .create_broker_session(&broker_session(&t, b"s3", "ghost"))
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.get_broker_session(&t, b"s1", T0).await,
        Ok(Some(session.clone()))
    );
    assert_eq!(
        store
            .get_broker_session(&t, b"s1", session.expires_at)
            .await,
        Ok(None)
    );
    store
        .delete_broker_session(&t, b"s1")
        .await
        .expect("delete");
    assert_eq!(store.get_broker_session(&t, b"s1", T0).await, Ok(None));
    store
        .delete_broker_session(&t, b"s1")
        .await
        .expect("idempotent");
}

/// A returning user's sign-in, session and code are one transaction: all three are written, or (disabled user,
/// unknown user, a code hash taken) none is.
pub async fn sign_in_session_and_code_are_written_together_or_not_at_all(
    store: Arc<dyn BrokerStore>,
) {
    let t = with_tenant(&*store, "contoso").await;
    with_user(&*store, &t, "u1", "sub-1").await;
    let u1 = object_id("u1");
    let at = T0 + Duration::minutes(5);
    store
        .start_broker_session(
            &broker_session(&t, b"s1", "u1"),
            &broker_code(&t, b"c1", "g1"),
            at,
        )
        .await
        .expect("sign in");
    let user = store
        .get_directory_user(&t, &u1)
        .await
        .expect("get")
        .expect("u1");
    assert_eq!(user.last_sign_in_at, Some(at));
    assert!(
        store
            .get_broker_session(&t, b"s1", T0)
            .await
            .expect("get")
            .is_some()
    );
    assert!(matches!(
        store.consume_broker_auth_code(&t, b"c1", T0).await,
        Ok(CodeRedemption::Redeemed(_))
    ));

    // The code's hash is taken: the session is not left behind, nor the sign-in time.
    let later = at + Duration::minutes(5);
    assert_eq!(
        store
            .start_broker_session(
                &broker_session(&t, b"s2", "u1"),
                &broker_code(&t, b"c1", "g2"),
                later,
            )
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.get_broker_session(&t, b"s2", T0).await, Ok(None));
    let user = store
        .get_directory_user(&t, &u1)
        .await
        .expect("get")
        .expect("u1");
    assert_eq!(user.last_sign_in_at, Some(at), "rolled back");

    assert_eq!(
        store
            .start_broker_session(
                &broker_session(&t, b"s3", "ghost"),
                &broker_code(&t, b"c3", "g3"),
                later,
            )
            .await,
        Err(StoreError::NotFound)
    );
    store
        .disable_directory_user(&t, &u1, later, None)
        .await
        .expect("disable");
    assert_eq!(
        store
            .start_broker_session(
                &broker_session(&t, b"s4", "u1"),
                &broker_code(&t, b"c4", "g4"),
                later,
            )
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.get_broker_session(&t, b"s4", T0).await, Ok(None));
    for code in [b"c3".as_slice(), b"c4"] {
        assert_eq!(
            store.consume_broker_auth_code(&t, code, T0).await,
            Ok(CodeRedemption::NotFound),
            "no code of a refused sign-in"
        );
    }
}

/// A code is redeemed once, also under concurrency; a later attempt learns the grant to revoke; an expired code is
/// not redeemed.
pub async fn broker_code_consumed_once(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    let code = broker_code(&t, b"c1", "g1");
    store.put_broker_auth_code(&code).await.expect("put");
    assert_eq!(
        store.put_broker_auth_code(&code).await,
        Err(StoreError::Conflict)
    );
    let redeemers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let t = t.clone();
            tokio::spawn(async move { store.consume_broker_auth_code(&t, b"c1", T0).await })
        })
        .collect();
    let mut redeemed = 0;
    for redeemer in redeemers {
        match redeemer.await.expect("join") {
            Ok(CodeRedemption::Redeemed(got)) => {
                assert_eq!(got, code);
                redeemed += 1;
            }
            Ok(CodeRedemption::AlreadyRedeemed { grant_id }) => assert_eq!(grant_id, "g1"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(redeemed, 1);
    let expired = broker_code(&t, b"c2", "g2");
    store.put_broker_auth_code(&expired).await.expect("put");
    assert_eq!(
        store
            .consume_broker_auth_code(&t, b"c2", expired.expires_at)
            .await,
        Ok(CodeRedemption::NotFound)
    );
    assert_eq!(
        store.consume_broker_auth_code(&t, b"nope", T0).await,
        Ok(CodeRedemption::NotFound)
    );
}

/// Rotation spends a token and stores its successor atomically; presenting a spent token again is reuse, which
/// revokes the whole family in the same transaction: the successor is gone and the family takes no new tokens.
pub async fn refresh_reuse_revokes_family(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    with_user(&*store, &t, "u1", "sub-1").await;
    let first = broker_refresh(&t, b"r1", "g1", "u1");
    store.put_broker_refresh_token(&first).await.expect("put");
    let other_family = broker_refresh(&t, b"o1", "g2", "u1");
    store
        .put_broker_refresh_token(&other_family)
        .await
        .expect("put");
    let second = broker_refresh(&t, b"r2", "g1", "u1");
    assert_eq!(
        store
            .rotate_broker_refresh_token(&t, b"r1", &second, T0)
            .await,
        Ok(RefreshRotation::Rotated(first.clone()))
    );
    assert_eq!(
        store.get_broker_refresh_token(&t, b"r2", T0).await,
        Ok(Some(second.clone()))
    );
    // The spent token is still readable (the caller learns its family), and presenting it again is reuse.
    assert!(
        store
            .get_broker_refresh_token(&t, b"r1", T0)
            .await
            .expect("get")
            .is_some()
    );
    let third = broker_refresh(&t, b"r3", "g1", "u1");
    assert_eq!(
        store
            .rotate_broker_refresh_token(&t, b"r1", &third, T0)
            .await,
        Ok(RefreshRotation::Reused {
            grant_id: "g1".into()
        })
    );
    assert_eq!(
        store.get_broker_refresh_token(&t, b"r2", T0).await,
        Ok(None)
    );
    assert_eq!(
        store.get_broker_refresh_token(&t, b"r3", T0).await,
        Ok(None)
    );
    assert_eq!(
        store
            .rotate_broker_refresh_token(&t, b"r2", &third, T0)
            .await,
        Ok(RefreshRotation::NotFound)
    );
    assert_eq!(
        store
            .put_broker_refresh_token(&broker_refresh(&t, b"r4", "g1", "u1"))
            .await,
        Err(StoreError::Conflict),
        "the revoked family takes no new token"
    );
    assert_eq!(
        store.get_broker_refresh_token(&t, b"o1", T0).await,
        Ok(Some(other_family)),
        "another family is untouched"
    );
    // An explicit revocation (sign-out) ends a family too.
    store
        .revoke_broker_grant(&t, "g2", T0)
        .await
        .expect("revoke");
    assert_eq!(
        store.get_broker_refresh_token(&t, b"o1", T0).await,
        Ok(None)
    );
}

/// Nothing of tenant A is visible, changed or consumed through tenant B, even with the same ids and hashes.
pub async fn tenant_isolation(store: Arc<dyn BrokerStore>) {
    let a = with_tenant(&*store, "alpha").await;
    let b = with_tenant(&*store, "beta").await;
    store
        .create_broker_application(&application(&a, "app"))
        .await
        .expect("app");
    store
        .create_identity_provider(&provider(&a, "passkeys"))
        .await
        .expect("idp");
    store
        .create_flow(&flow(&a, "B2C_1_x"), &flow_version(1))
        .await
        .expect("flow");
    with_user(&*store, &a, "u1", "sub-1").await;
    store
        .create_broker_session(&broker_session(&a, b"s", "u1"))
        .await
        .expect("session");
    store
        .put_broker_auth_code(&broker_code(&a, b"c", "g"))
        .await
        .expect("code");
    store
        .put_broker_refresh_token(&broker_refresh(&a, b"r", "g", "u1"))
        .await
        .expect("refresh");
    let expires = T0 + Duration::minutes(15);
    store
        .put_broker_transaction(&a, b"st", b"txn", expires)
        .await
        .expect("txn");
    store
        .put_pending_signup(&a, b"ps", b"p", expires)
        .await
        .expect("pending");
    let key = policy_key("B2C_1_x");

    assert_eq!(
        store.get_broker_application(&b, &app_id("app")).await,
        Ok(None)
    );
    assert_eq!(store.list_broker_applications(&b).await, Ok(vec![]));
    assert_eq!(store.get_identity_provider(&b, "passkeys").await, Ok(None));
    assert_eq!(store.list_identity_providers(&b).await, Ok(vec![]));
    assert_eq!(store.get_flow(&b, &key).await, Ok(None));
    assert_eq!(store.list_flows(&b).await, Ok(vec![]));
    assert_eq!(store.get_current_flow_version(&b, &key).await, Ok(None));
    assert_eq!(
        store
            .append_flow_version(&b, &key, 1, &flow_version(2))
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store
            .find_user_by_identity(&b, "https://idp.example", "sub-1")
            .await,
        Ok(None)
    );
    assert_eq!(
        store.get_directory_user(&b, &object_id("u1")).await,
        Ok(None)
    );
    assert!(
        store
            .search_directory_users(&b, "", None, None, 10)
            .await
            .expect("search")
            .users
            .is_empty()
    );
    assert_eq!(store.get_broker_session(&b, b"s", T0).await, Ok(None));
    assert_eq!(
        store.consume_broker_auth_code(&b, b"c", T0).await,
        Ok(CodeRedemption::NotFound)
    );
    assert_eq!(store.get_broker_refresh_token(&b, b"r", T0).await, Ok(None));
    assert_eq!(store.take_broker_transaction(&b, b"st", T0).await, Ok(None));
    assert_eq!(store.take_pending_signup(&b, b"ps", T0).await, Ok(None));
    // Mutations through B change nothing of A.
    assert_eq!(
        store
            .delete_broker_application(&b, &app_id("app"), None)
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.delete_identity_provider(&b, "passkeys", None).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store
            .disable_directory_user(&b, &object_id("u1"), T0, None)
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store
            .delete_directory_user(&b, &object_id("u1"), None)
            .await,
        Err(StoreError::NotFound)
    );
    store.delete_broker_session(&b, b"s").await.expect("no-op");
    store.revoke_broker_grant(&b, "g", T0).await.expect("no-op");
    // B may use the same identity for its own user.
    with_user(&*store, &b, "u1", "sub-1").await;

    assert!(
        store
            .get_broker_application(&a, &app_id("app"))
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        store
            .get_identity_provider(&a, "passkeys")
            .await
            .expect("get")
            .is_some()
    );
    let user = store
        .get_directory_user(&a, &object_id("u1"))
        .await
        .expect("get")
        .expect("u1");
    assert_eq!(user.disabled_at, None);
    assert!(
        store
            .get_broker_session(&a, b"s", T0)
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        store
            .get_broker_refresh_token(&a, b"r", T0)
            .await
            .expect("get")
            .is_some()
    );
    assert!(matches!(
        store.consume_broker_auth_code(&a, b"c", T0).await,
        Ok(CodeRedemption::Redeemed(_))
    ));
    assert_eq!(
        store.take_broker_transaction(&a, b"st", T0).await,
        Ok(Some(b"txn".to_vec()))
    );
    assert_eq!(
        store.take_pending_signup(&a, b"ps", T0).await,
        Ok(Some(b"p".to_vec()))
    );
}

/// Purge deletes only expired rows, at most `batch` per table per call, and leaves live ones.
pub async fn purge_removes_expired_broker_rows(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    with_user(&*store, &t, "u1", "sub-1").await;
    let soon = T0 + Duration::minutes(1);
    let late = T0 + Duration::days(30);
    for i in 0..3u8 {
        store
            .put_broker_transaction(&t, &[b't', i], b"x", soon)
            .await
            .expect("txn");
        store
            .put_pending_signup(&t, &[b'p', i], b"x", soon)
            .await
            .expect("pending");
        let mut session = broker_session(&t, &[b's', i], "u1");
        session.expires_at = soon;
        store
            .create_broker_session(&session)
            .await
            .expect("session");
    }
    store
        .put_broker_transaction(&t, b"live", b"x", late)
        .await
        .expect("txn");
    let mut live = broker_session(&t, b"live", "u1");
    live.expires_at = late;
    store.create_broker_session(&live).await.expect("session");
    store
        .put_broker_auth_code(&broker_code(&t, b"c", "g"))
        .await
        .expect("code");
    let mut expiring = broker_refresh(&t, b"r", "g", "u1");
    expiring.expires_at = soon;
    store
        .put_broker_refresh_token(&expiring)
        .await
        .expect("refresh");
    store
        .revoke_broker_grant(&t, "old", T0)
        .await
        .expect("revoke");

    let now = T0 + Duration::days(2);
    let first = store.purge_expired_broker(now, 2).await.expect("purge");
    assert!(first <= 2 * 6, "at most `batch` rows per table: {first}");
    let mut total = first;
    loop {
        let n = store.purge_expired_broker(now, 2).await.expect("purge");
        if n == 0 {
            break;
        }
        total += n;
    }
    // 3 transactions + 3 pending sign-ups + 3 sessions + 1 code + 1 refresh token + 1 revoked-grant mark.
    assert_eq!(total, 12);
    assert!(
        store
            .get_broker_session(&t, b"live", now)
            .await
            .expect("get")
            .is_some()
    );
    assert_eq!(
        store.take_broker_transaction(&t, b"live", now).await,
        Ok(Some(b"x".to_vec()))
    );
    assert_eq!(store.purge_expired_broker(now, 0).await, Ok(0));
}

/// Every operation on a store whose database is gone fails with [`StoreError::Unavailable`], never `None`,
/// `NotFound`, or a "reused" verdict. Backends call this with a broken store.
pub async fn failure_is_unavailable_never_not_found(store: Arc<dyn BrokerStore>) {
    fn unavailable<T: std::fmt::Debug>(what: &str, result: Result<T, StoreError>) {
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{what}: {result:?}"
        );
    }
    let t = tenant_id("contoso");
    let u = object_id("u1");
    let key = policy_key("B2C_1_x");
    unavailable(
        "create_broker_tenant",
        store
            .create_broker_tenant(&broker_tenant("contoso"), &[])
            .await,
    );
    unavailable("get_broker_tenant", store.get_broker_tenant(&t).await);
    unavailable("list_broker_tenants", store.list_broker_tenants().await);
    unavailable(
        "put_broker_signing_key",
        store.put_broker_signing_key(&broker_key(&t, "k")).await,
    );
    unavailable(
        "list_broker_signing_keys",
        store.list_broker_signing_keys(&t).await,
    );
    unavailable(
        "rotate_broker_signing_keys",
        store
            .rotate_broker_signing_keys(&t, &[broker_key(&t, "k2")], T0)
            .await,
    );
    unavailable(
        "activate_broker_signing_key",
        store.activate_broker_signing_key(&t, "k2", T0).await,
    );
    unavailable(
        "update_broker_tenant",
        store.update_broker_tenant(&broker_tenant("contoso")).await,
    );
    unavailable(
        "delete_broker_tenant",
        store.delete_broker_tenant(&t, true).await,
    );
    unavailable("delete_flow", store.delete_flow(&t, &key).await);
    unavailable(
        "create_broker_application",
        store.create_broker_application(&application(&t, "a")).await,
    );
    unavailable(
        "get_broker_application",
        store.get_broker_application(&t, &app_id("a")).await,
    );
    unavailable(
        "list_broker_applications",
        store.list_broker_applications(&t).await,
    );
    unavailable(
        "list_broker_applications_filtered",
        store
            .list_broker_applications_filtered(&t, &crate::ClientFilter::default(), None, 10)
            .await,
    );
    unavailable(
        "update_broker_application",
        store
            .update_broker_application(&application(&t, "a"), None)
            .await,
    );
    unavailable(
        "delete_broker_application",
        store
            .delete_broker_application(&t, &app_id("a"), None)
            .await,
    );
    unavailable(
        "create_identity_provider",
        store.create_identity_provider(&provider(&t, "p")).await,
    );
    unavailable(
        "get_identity_provider",
        store.get_identity_provider(&t, "p").await,
    );
    unavailable(
        "list_identity_providers",
        store.list_identity_providers(&t).await,
    );
    unavailable(
        "update_identity_provider",
        store
            .update_identity_provider(&provider(&t, "p"), None)
            .await,
    );
    unavailable(
        "refresh_provider_metadata",
        store
            .refresh_provider_metadata(&t, "p", &provider(&t, "p").cache)
            .await,
    );
    unavailable(
        "delete_identity_provider",
        store.delete_identity_provider(&t, "p", None).await,
    );
    unavailable(
        "create_flow",
        store
            .create_flow(&flow(&t, "B2C_1_x"), &flow_version(1))
            .await,
    );
    unavailable("get_flow", store.get_flow(&t, &key).await);
    unavailable("list_flows", store.list_flows(&t).await);
    unavailable(
        "append_flow_version",
        store
            .append_flow_version(&t, &key, 1, &flow_version(2))
            .await,
    );
    unavailable(
        "get_flow_version",
        store.get_flow_version(&t, &key, 1).await,
    );
    unavailable(
        "get_current_flow_version",
        store.get_current_flow_version(&t, &key).await,
    );
    unavailable(
        "list_flow_versions",
        store.list_flow_versions(&t, &key).await,
    );
    unavailable(
        "put_broker_transaction",
        store.put_broker_transaction(&t, b"s", b"x", T0).await,
    );
    unavailable(
        "take_broker_transaction",
        store.take_broker_transaction(&t, b"s", T0).await,
    );
    unavailable(
        "put_pending_signup",
        store.put_pending_signup(&t, b"h", b"x", T0).await,
    );
    unavailable(
        "take_pending_signup",
        store.take_pending_signup(&t, b"h", T0).await,
    );
    unavailable(
        "find_user_by_identity",
        store.find_user_by_identity(&t, "i", "s").await,
    );
    unavailable("get_directory_user", store.get_directory_user(&t, &u).await);
    unavailable(
        "create_user_with_identity",
        store
            .create_user_with_identity(
                &directory_user(&t, "u1", "A B", "a@example.com"),
                &identity("s"),
            )
            .await,
    );
    unavailable(
        "record_broker_sign_in",
        store.record_broker_sign_in(&t, &u, T0).await,
    );
    unavailable(
        "search_directory_users",
        store.search_directory_users(&t, "a", None, None, 10).await,
    );
    unavailable(
        "disable_directory_user",
        store.disable_directory_user(&t, &u, T0, None).await,
    );
    unavailable(
        "enable_directory_user",
        store.enable_directory_user(&t, &u, None).await,
    );
    unavailable(
        "delete_directory_user",
        store.delete_directory_user(&t, &u, None).await,
    );
    unavailable(
        "create_broker_session",
        store
            .create_broker_session(&broker_session(&t, b"s", "u1"))
            .await,
    );
    unavailable(
        "get_broker_session",
        store.get_broker_session(&t, b"s", T0).await,
    );
    unavailable(
        "delete_broker_session",
        store.delete_broker_session(&t, b"s").await,
    );
    unavailable(
        "put_broker_auth_code",
        store
            .put_broker_auth_code(&broker_code(&t, b"c", "g"))
            .await,
    );
    unavailable(
        "consume_broker_auth_code",
        store.consume_broker_auth_code(&t, b"c", T0).await,
    );
    unavailable(
        "put_broker_refresh_token",
        store
            .put_broker_refresh_token(&broker_refresh(&t, b"r", "g", "u1"))
            .await,
    );
    unavailable(
        "get_broker_refresh_token",
        store.get_broker_refresh_token(&t, b"r", T0).await,
    );
    unavailable(
        "rotate_broker_refresh_token",
        store
            .rotate_broker_refresh_token(&t, b"r", &broker_refresh(&t, b"r2", "g", "u1"), T0)
            .await,
    );
    unavailable(
        "revoke_broker_grant",
        store.revoke_broker_grant(&t, "g", T0).await,
    );
    unavailable(
        "purge_expired_broker",
        store.purge_expired_broker(T0, 10).await,
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Conditional writes: based on the object as read (`expected`), a stale read is `Changed` and writes nothing, and of
// two writes from one read run at once exactly one succeeds.

/// Asserts that exactly one of two writes from one read succeeded and the other found the row changed; returns
/// whether the first one won.
fn one_winner(what: &str, left: &crate::Result<()>, right: &crate::Result<()>) -> bool {
    match (left, right) {
        (Ok(()), Err(StoreError::Changed)) => true,
        (Err(StoreError::Changed), Ok(())) => false,
        other => panic!("{what}: exactly one of two writes from one read wins: {other:?}"),
    }
}

/// An application update or deletion from a stale read is `Changed`; of two updates from one read, one wins.
pub async fn broker_application_writes_from_a_stale_read_are_changed(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    store
        .create_broker_application(&application(&t, "app"))
        .await
        .expect("create");
    for round in 0..3 {
        let read = store
            .get_broker_application(&t, &app_id("app"))
            .await
            .expect("get")
            .expect("exists");
        let (mut left, mut right) = (read.clone(), read.clone());
        left.settings = json!({"display_name": format!("Left {round}")});
        right.settings = json!({"display_name": format!("Right {round}")});
        let (l, r) = tokio::join!(
            store.update_broker_application(&left, Some(&read)),
            store.update_broker_application(&right, Some(&read))
        );
        let winner = if one_winner("application", &l, &r) {
            left
        } else {
            right
        };
        let stored = store
            .get_broker_application(&t, &app_id("app"))
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(stored.settings, winner.settings, "round {round}");
        assert_eq!(
            store
                .delete_broker_application(&t, &app_id("app"), Some(&read))
                .await,
            Err(StoreError::Changed),
            "deleting from the read before the change"
        );
    }
    let current = store
        .get_broker_application(&t, &app_id("app"))
        .await
        .expect("get")
        .expect("exists");
    store
        .delete_broker_application(&t, &app_id("app"), Some(&current))
        .await
        .expect("delete from the current read");
    assert_eq!(
        store
            .delete_broker_application(&t, &app_id("app"), Some(&current))
            .await,
        Err(StoreError::NotFound)
    );
}

/// A provider update or deletion from a stale read is `Changed`; a metadata refresh in between is not a change.
pub async fn identity_provider_writes_from_a_stale_read_are_changed(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    store
        .create_identity_provider(&provider(&t, "passkeys"))
        .await
        .expect("create");
    let read = store
        .get_identity_provider(&t, "passkeys")
        .await
        .expect("get")
        .expect("exists");
    // The scheduled refresh replaces only the cache: a save based on the read before it still goes through.
    let refreshed = ProviderCache {
        metadata: json!({"issuer": "https://idp.example", "refreshed": true}),
        metadata_fetched_at: T0 + Duration::hours(1),
        jwks: json!({"keys": []}),
        jwks_fetched_at: T0 + Duration::hours(1),
        signing_keys: Some(0),
    };
    store
        .refresh_provider_metadata(&t, "passkeys", &refreshed)
        .await
        .expect("refresh");
    let (mut left, mut right) = (read.clone(), read.clone());
    left.config = json!({"id": "passkeys", "name": "Left"});
    left.updated_at = T0 + Duration::hours(2);
    right.config = json!({"id": "passkeys", "name": "Right"});
    right.updated_at = T0 + Duration::hours(3);
    let (l, r) = tokio::join!(
        store.update_identity_provider(&left, Some(&read)),
        store.update_identity_provider(&right, Some(&read))
    );
    let winner = if one_winner("provider", &l, &r) {
        left
    } else {
        right
    };
    let stored = store
        .get_identity_provider(&t, "passkeys")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(stored.config, winner.config);
    assert_eq!(
        store
            .delete_identity_provider(&t, "passkeys", Some(&read))
            .await,
        Err(StoreError::Changed)
    );
    store
        .delete_identity_provider(&t, "passkeys", Some(&stored))
        .await
        .expect("delete from the current read");
    assert_eq!(
        store
            .get_identity_provider(&t, "passkeys")
            .await
            .expect("get"),
        None
    );
}

/// Disabling, enabling or deleting a directory user from a stale read is `Changed`; of two at once, one wins.
pub async fn directory_user_writes_from_a_stale_read_are_changed(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    with_user(&*store, &t, "u1", "sub-1").await;
    let u1 = object_id("u1");
    let read = store
        .get_directory_user(&t, &u1)
        .await
        .expect("get")
        .expect("exists");
    let later = T0 + Duration::seconds(1);
    let (l, r) = tokio::join!(
        store.disable_directory_user(&t, &u1, T0, Some(&read)),
        store.disable_directory_user(&t, &u1, later, Some(&read))
    );
    let at = if one_winner("disable", &l, &r) {
        T0
    } else {
        later
    };
    let now = store
        .get_directory_user(&t, &u1)
        .await
        .expect("get")
        .expect("the disabled user is kept");
    assert_eq!(now.disabled_at, Some(at), "the winner's time, once");
    assert_eq!(
        store.enable_directory_user(&t, &u1, Some(&read)).await,
        Err(StoreError::Changed),
        "enabling from the read before the disable"
    );
    store
        .enable_directory_user(&t, &u1, Some(&now))
        .await
        .expect("enable from the current read");
    let enabled = store
        .get_directory_user(&t, &u1)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(enabled.disabled_at, None);
    assert_eq!(
        store.delete_directory_user(&t, &u1, Some(&now)).await,
        Err(StoreError::Changed)
    );
    store
        .delete_directory_user(&t, &u1, Some(&enabled))
        .await
        .expect("delete from the current read");
    assert_eq!(
        store
            .disable_directory_user(&t, &u1, T0, Some(&enabled))
            .await,
        Err(StoreError::NotFound)
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Local accounts.

/// A local account's passkey.
pub fn local_credential(tenant: &TenantId, id: &[u8], user: &str) -> LocalCredential {
    LocalCredential {
        tenant: tenant.clone(),
        credential_id: id.to_vec(),
        object_id: object_id(user),
        user_handle: format!("handle-{user}").into_bytes(),
        public_key: vec![0xa5, 1, 2, 3],
        alg: -7,
        sign_count: 0,
        uv_initialized: true,
        backup_eligible: true,
        backup_state: false,
        transports: vec!["internal".into(), "hybrid".into()],
        created_at: T0,
        last_used_at: None,
    }
}

fn local_identity(user: &str) -> DirectoryIdentity {
    DirectoryIdentity {
        issuer: "urn:tessera:local:contoso".into(),
        subject: user.into(),
    }
}

/// A local sign-up writes the user, the local identity, the passkey, the session and the code in one transaction:
/// a passkey already registered, or a code hash that exists, leaves no user and no passkey behind.
pub async fn local_sign_up_writes_user_passkey_session_and_code_together_or_not_at_all(
    store: Arc<dyn BrokerStore>,
) {
    let t = with_tenant(&*store, "contoso").await;
    let at = T0 + Duration::minutes(1);
    let u1 = directory_user(&t, "u1", "Ann Lee", "ann@example.com");
    store
        .sign_up_local_user(
            &u1,
            &local_identity("u1"),
            &local_credential(&t, b"cred-1", "u1"),
            &broker_session(&t, b"s1", "u1"),
            &broker_code(&t, b"c1", "g1"),
            at,
        )
        .await
        .expect("local sign up");
    assert_eq!(
        store.get_local_credential(&t, b"cred-1").await,
        Ok(Some(local_credential(&t, b"cred-1", "u1")))
    );
    let user = store
        .find_user_by_identity(&t, "urn:tessera:local:contoso", "u1")
        .await
        .expect("find")
        .expect("u1");
    assert_eq!(user.last_sign_in_at, Some(at));
    assert!(
        store
            .get_broker_session(&t, b"s1", T0)
            .await
            .expect("session")
            .is_some()
    );

    // The passkey is registered already: nothing of u2 is written.
    let u2 = directory_user(&t, "u2", "Bob Ray", "bob@example.com");
    assert_eq!(
        store
            .sign_up_local_user(
                &u2,
                &local_identity("u2"),
                &local_credential(&t, b"cred-1", "u2"),
                &broker_session(&t, b"s2", "u2"),
                &broker_code(&t, b"c2", "g2"),
                at,
            )
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.get_directory_user(&t, &object_id("u2")).await,
        Ok(None)
    );
    assert_eq!(store.get_broker_session(&t, b"s2", T0).await, Ok(None));

    // The code's hash is taken (the last write fails): no user, no passkey.
    assert_eq!(
        store
            .sign_up_local_user(
                &u2,
                &local_identity("u2"),
                &local_credential(&t, b"cred-2", "u2"),
                &broker_session(&t, b"s2", "u2"),
                &broker_code(&t, b"c1", "g2"),
                at,
            )
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.get_directory_user(&t, &object_id("u2")).await,
        Ok(None)
    );
    assert_eq!(store.get_local_credential(&t, b"cred-2").await, Ok(None));

    // A passkey of another user than the record's is refused.
    assert_eq!(
        store
            .sign_up_local_user(
                &u2,
                &local_identity("u2"),
                &local_credential(&t, b"cred-2", "u1"),
                &broker_session(&t, b"s2", "u2"),
                &broker_code(&t, b"c2", "g2"),
                at,
            )
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.get_directory_user(&t, &object_id("u2")).await,
        Ok(None)
    );
}

/// A local account's recovery writes the new passkey (and, when asked, removes the others), the sign-in, the session
/// and the code in one transaction: a disabled or missing user, a credential id registered already, or a code hash
/// that exists leaves everything as it was.
pub async fn local_recovery_adds_a_passkey_with_session_and_code_together_or_not_at_all(
    store: Arc<dyn BrokerStore>,
) {
    let t = with_tenant(&*store, "contoso").await;
    let u1 = directory_user(&t, "u1", "Ann Lee", "ann@example.com");
    store
        .sign_up_local_user(
            &u1,
            &local_identity("u1"),
            &local_credential(&t, b"cred-1", "u1"),
            &broker_session(&t, b"s1", "u1"),
            &broker_code(&t, b"c1", "g1"),
            T0,
        )
        .await
        .expect("local sign up");
    let ids = |list: Vec<LocalCredential>| -> Vec<Vec<u8>> {
        list.into_iter().map(|c| c.credential_id).collect()
    };
    let at = T0 + Duration::minutes(5);
    // Kept: the old passkey and the new one, the sign-in time moved, the session and code stored.
    store
        .recover_local_account(
            &local_credential(&t, b"cred-2", "u1"),
            false,
            &broker_session(&t, b"s2", "u1"),
            &broker_code(&t, b"c2", "g2"),
            at,
        )
        .await
        .expect("recover");
    assert_eq!(
        store
            .list_local_credentials(&t, &object_id("u1"))
            .await
            .map(ids),
        Ok(vec![b"cred-1".to_vec(), b"cred-2".to_vec()])
    );
    let user = store
        .get_directory_user(&t, &object_id("u1"))
        .await
        .expect("read")
        .expect("u1");
    assert_eq!(user.last_sign_in_at, Some(at));
    assert_eq!(user.identities.len(), 1, "the same identity");
    assert!(
        store
            .get_broker_session(&t, b"s2", T0)
            .await
            .expect("session")
            .is_some()
    );

    // A code hash that exists: no new passkey, no session, nothing removed.
    assert_eq!(
        store
            .recover_local_account(
                &local_credential(&t, b"cred-3", "u1"),
                true,
                &broker_session(&t, b"s3", "u1"),
                &broker_code(&t, b"c2", "g3"),
                at,
            )
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.get_local_credential(&t, b"cred-3").await, Ok(None));
    assert_eq!(store.get_broker_session(&t, b"s3", T0).await, Ok(None));
    assert_eq!(
        store
            .list_local_credentials(&t, &object_id("u1"))
            .await
            .map(ids),
        Ok(vec![b"cred-1".to_vec(), b"cred-2".to_vec()])
    );
    // A credential id registered already.
    assert_eq!(
        store
            .recover_local_account(
                &local_credential(&t, b"cred-1", "u1"),
                true,
                &broker_session(&t, b"s3", "u1"),
                &broker_code(&t, b"c3", "g3"),
                at,
            )
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store
            .list_local_credentials(&t, &object_id("u1"))
            .await
            .map(|l| l.len()),
        Ok(2)
    );
    // Removing the others: only the new passkey is left.
    store
        .recover_local_account(
            &local_credential(&t, b"cred-3", "u1"),
            true,
            &broker_session(&t, b"s3", "u1"),
            &broker_code(&t, b"c3", "g3"),
            at,
        )
        .await
        .expect("recover, removing the others");
    assert_eq!(
        store
            .list_local_credentials(&t, &object_id("u1"))
            .await
            .map(ids),
        Ok(vec![b"cred-3".to_vec()])
    );
    // A disabled user: refused, nothing written.
    store
        .disable_directory_user(&t, &object_id("u1"), at, None)
        .await
        .expect("disable");
    assert_eq!(
        store
            .recover_local_account(
                &local_credential(&t, b"cred-4", "u1"),
                true,
                &broker_session(&t, b"s4", "u1"),
                &broker_code(&t, b"c4", "g4"),
                at,
            )
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.get_local_credential(&t, b"cred-4").await, Ok(None));
    assert_eq!(store.get_broker_session(&t, b"s4", T0).await, Ok(None));
    assert_eq!(
        store
            .list_local_credentials(&t, &object_id("u1"))
            .await
            .map(|l| l.len()),
        Ok(1)
    );
    // A missing user.
    assert_eq!(
        store
            .recover_local_account(
                &local_credential(&t, b"cred-5", "nobody"),
                false,
                &broker_session(&t, b"s5", "nobody"),
                &broker_code(&t, b"c5", "g5"),
                at,
            )
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(store.get_local_credential(&t, b"cred-5").await, Ok(None));
    // A passkey of another user than the session's is refused.
    assert_eq!(
        store
            .recover_local_account(
                &local_credential(&t, b"cred-6", "u2"),
                false,
                &broker_session(&t, b"s6", "u1"),
                &broker_code(&t, b"c6", "g6"),
                at,
            )
            .await,
        Err(StoreError::Conflict)
    );
}

/// A passkey's counter moves by one conditional update; passkeys are per broker tenant and go with their user.
pub async fn local_credential_use_is_conditional_tenant_scoped_and_deleted_with_the_user(
    store: Arc<dyn BrokerStore>,
) {
    let t = with_tenant(&*store, "contoso").await;
    let other = with_tenant(&*store, "fabrikam").await;
    let u1 = directory_user(&t, "u1", "Ann Lee", "ann@example.com");
    store
        .sign_up_local_user(
            &u1,
            &local_identity("u1"),
            &local_credential(&t, b"cred-1", "u1"),
            &broker_session(&t, b"s1", "u1"),
            &broker_code(&t, b"c1", "g1"),
            T0,
        )
        .await
        .expect("local sign up");
    assert_eq!(
        store.get_local_credential(&other, b"cred-1").await,
        Ok(None)
    );
    assert_eq!(
        store.list_local_credentials(&t, &object_id("u1")).await,
        Ok(vec![local_credential(&t, b"cred-1", "u1")])
    );
    assert_eq!(
        store.list_local_credentials(&other, &object_id("u1")).await,
        Ok(vec![])
    );
    let used = T0 + Duration::minutes(5);
    assert_eq!(
        store
            .record_local_credential_use(&t, b"cred-1", 0, 7, true, used)
            .await,
        Ok(true)
    );
    // A second update from the same old counter (a concurrent sign-in) changes nothing.
    assert_eq!(
        store
            .record_local_credential_use(&t, b"cred-1", 0, 8, false, used)
            .await,
        Ok(false)
    );
    assert_eq!(
        store
            .record_local_credential_use(&other, b"cred-1", 7, 9, false, used)
            .await,
        Ok(false)
    );
    let stored = store
        .get_local_credential(&t, b"cred-1")
        .await
        .expect("get")
        .expect("cred-1");
    assert_eq!(stored.sign_count, 7);
    assert!(stored.backup_state);
    assert_eq!(stored.last_used_at, Some(used));

    store
        .delete_directory_user(&t, &object_id("u1"), None)
        .await
        .expect("delete");
    assert_eq!(store.get_local_credential(&t, b"cred-1").await, Ok(None));
}

/// Code sends are counted per key and window: the limit holds within a window, a new window starts after it,
/// keys and tenants are counted apart, and concurrent sends never pass the limit.
pub async fn code_sends_are_limited_per_key_and_window(store: Arc<dyn BrokerStore>) {
    let t = with_tenant(&*store, "contoso").await;
    let other = with_tenant(&*store, "fabrikam").await;
    let window = Duration::hours(1);
    for i in 0..3 {
        assert_eq!(
            store
                .count_code_send(&t, b"ann", window, 3, T0 + Duration::minutes(i))
                .await,
            Ok(true),
            "send {i}"
        );
    }
    let late = T0 + Duration::minutes(59);
    assert_eq!(
        store.count_code_send(&t, b"ann", window, 3, late).await,
        Ok(false)
    );
    assert_eq!(
        store.count_code_send(&t, b"bob", window, 3, late).await,
        Ok(true)
    );
    assert_eq!(
        store.count_code_send(&other, b"ann", window, 3, late).await,
        Ok(true)
    );
    // The window that started at T0 is over: counting starts again.
    let next = T0 + Duration::minutes(61);
    assert_eq!(
        store.count_code_send(&t, b"ann", window, 3, next).await,
        Ok(true)
    );

    // Twenty concurrent sends for a fresh key: exactly the limit get through.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            store.count_code_send(&t, b"race", window, 5, T0).await
        }));
    }
    let mut passed = 0;
    for task in tasks {
        if task.await.expect("join").expect("count") {
            passed += 1;
        }
    }
    assert_eq!(passed, 5);

    // Ended windows are purged.
    let mut purged = 0;
    loop {
        let n = store
            .purge_expired_broker(T0 + Duration::hours(3), 100)
            .await
            .expect("purge");
        purged += n;
        if n == 0 {
            break;
        }
    }
    assert!(purged >= 4, "purged {purged}");
    assert_eq!(
        store
            .count_code_send(&t, b"ann", window, 1, T0 + Duration::hours(3))
            .await,
        Ok(true)
    );
}
