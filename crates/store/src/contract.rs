//! The store contract: one async test function per behaviour, which every backend's test file runs through
//! [`crate::store_contract_tests!`]. Each function gets a fresh, empty store and panics (as a test does) when the
//! backend breaks the rule its name states.

pub mod load;

use crate::{
    AccessToken, AuthCode, Client, CodeRedemption, Credential, KeyStatus, RefreshRotation,
    RefreshToken, Session, SignCountBump, SignCountUpdate, SigningKey, Store, StoreError, Tenant,
    User,
};
use async_trait::async_trait;
use std::future::Future;
use std::sync::Arc;
use tessera_core::{ClientId, TenantId, UserId};
use time::{Duration, OffsetDateTime, macros::datetime};

/// A fresh store for one contract test, and whatever must be cleaned up after it (a temp file, a schema).
#[async_trait]
pub trait Fixture: Send + 'static {
    /// The store under test.
    fn store(&self) -> Arc<dyn Store>;
    /// Removes what the fixture created; runs whether the test passed or not.
    async fn teardown(self);
}

/// Runs one contract function on a fixture's store, tears the fixture down, then reports the test's outcome.
pub async fn run<F, Fut>(fixture: impl Fixture, test: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let outcome = tokio::spawn(test(fixture.store())).await;
    fixture.teardown().await;
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(error) => panic!("contract test did not finish: {error}"),
        }
    }
}

/// Generates one `#[tokio::test]` per contract function. `$setup` is an async fn returning
/// `Option<impl Fixture>`; `None` skips the test (for example PostgreSQL without `TEST_PG_URL`).
#[macro_export]
macro_rules! store_contract_tests {
    ($setup:path) => {
        $crate::store_contract_tests!(@tests $setup;
            tenant_create_read_list_update,
            tenant_duplicate_id_is_conflict,
            tenant_update_of_missing_tenant_is_not_found,
            client_create_read_list_delete,
            client_duplicate_id_is_conflict,
            client_of_missing_tenant_is_not_found,
            client_delete_of_missing_client_is_not_found,
            user_with_credential_round_trips,
            create_user_with_credential_is_all_or_nothing,
            create_user_with_credential_refuses_mismatched_owner,
            username_uniqueness_is_case_insensitive,
            user_handle_is_unique_per_tenant,
            user_update_and_list,
            user_update_to_taken_username_is_conflict,
            user_delete_removes_credentials_sessions_and_tokens,
            credential_id_is_unique_per_tenant,
            add_credential_requires_existing_user,
            rename_credential_requires_owner,
            delete_credential_requires_owner,
            last_credential_cannot_be_deleted,
            concurrent_deletes_keep_the_last_credential,
            sign_count_increase_is_recorded,
            sign_count_regression_is_refused,
            sign_count_stale_expected_value_is_refused,
            sign_count_zero_stays_allowed,
            sign_count_of_unknown_credential_is_not_found,
            sign_count_concurrent_bumps_have_one_winner,
            sign_in_record_bumps_the_counter_and_replaces_the_session,
            sign_in_record_refused_for_regression_changes_nothing,
            sign_in_record_accepted_despite_regression_starts_the_session,
            sign_in_record_of_unknown_credential_or_taken_session_changes_nothing,
            sign_in_records_racing_on_one_counter_start_one_session,
            unusual_values_round_trip,
            ceremony_take_is_single_use_under_concurrency,
            ceremony_expired_is_not_returned,
            ceremony_of_another_kind_is_not_returned,
            ceremony_peek_does_not_consume,
            ceremony_duplicate_id_is_conflict,
            auth_code_redemption_is_single_use_and_reuse_is_reported,
            auth_code_concurrent_redemption_has_one_winner,
            auth_code_expired_is_not_redeemed,
            auth_code_reuse_after_expiry_is_still_reported,
            access_token_is_returned_until_expiry,
            refresh_rotation_reuse_is_reported,
            refresh_rotation_of_unknown_or_expired_token_is_not_found,
            revoked_grant_tokens_are_gone_and_refused,
            revoked_grant_mark_is_kept_from_the_callers_now,
            refresh_token_lookup_returns_live_and_spent_tokens_with_payload,
            refresh_token_lookup_refuses_unknown_expired_and_revoked,
            session_create_read_expire_delete,
            session_facts_and_sid_round_trip,
            session_is_ended_by_sid_only_for_its_user,
            signing_key_rotation_lifecycle,
            tenant_isolation,
            purge_removes_expired_rows_in_bounded_batches,
            health_is_ok,
        );
    };
    (@tests $setup:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(fixture) = $setup().await {
                    $crate::contract::run(fixture, $crate::contract::$name).await;
                }
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------------------------
// Record builders, public so that backends' own tests can use them.

/// The fixed "now" of the contract tests (whole seconds, so every backend returns it exactly).
pub const T0: OffsetDateTime = datetime!(2026-01-01 12:00 UTC);

/// A tenant id from a literal known to be valid.
pub fn tenant_id(name: &str) -> TenantId {
    TenantId::parse(name).expect("valid tenant id")
}

/// A user id from a literal known to be valid.
pub fn user_id(name: &str) -> UserId {
    UserId::parse(name).expect("valid user id")
}

/// A client id from a literal known to be valid.
pub fn client_id(name: &str) -> ClientId {
    ClientId::parse(name).expect("valid client id")
}

/// A tenant record.
pub fn tenant(name: &str) -> Tenant {
    Tenant {
        id: tenant_id(name),
        display_name: format!("Tenant {name}"),
        rp_id: format!("{name}.example.com"),
        origins: vec![
            format!("https://{name}.example.com"),
            "https://login.example.com".into(),
        ],
        policy: serde_json::json!({ "user_verification": "required", "aaguid_deny": [] }),
        created_at: T0,
    }
}

/// A confidential client record.
pub fn client(tenant: &TenantId, id: &str) -> Client {
    Client {
        tenant: tenant.clone(),
        client_id: client_id(id),
        display_name: format!("App {id}"),
        secret_hash: Some(vec![7; 32]),
        redirect_uris: vec![
            "https://app.example.com/cb".into(),
            "http://127.0.0.1/cb".into(),
        ],
        post_logout_redirect_uris: vec!["https://app.example.com/bye".into()],
        token_endpoint_auth_method: "client_secret_basic".into(),
        id_token_signed_response_alg: "RS256".into(),
        jwks: None,
        allowed_scopes: vec!["openid".into(), "profile".into(), "email".into()],
        created_at: T0,
    }
}

/// A user record whose handle is derived from its id.
pub fn user(tenant: &TenantId, id: &str, username: &str) -> User {
    User {
        tenant: tenant.clone(),
        id: user_id(id),
        username: username.into(),
        display_name: format!("User {username}"),
        email: Some(format!("{id}@example.com")),
        email_verified: false,
        user_handle: format!("handle-{id}").into_bytes(),
        created_at: T0,
    }
}

/// A credential record owned by `user`.
pub fn credential(tenant: &TenantId, user: &str, id: &[u8]) -> Credential {
    Credential {
        tenant: tenant.clone(),
        credential_id: id.to_vec(),
        user_id: user_id(user),
        public_key: vec![0xa5, 0x01, 0x02, 0x03, 0x26],
        alg: -7,
        sign_count: 0,
        uv_initialized: true,
        backup_eligible: true,
        backup_state: false,
        transports: vec!["internal".into(), "hybrid".into()],
        aaguid: [0x11; 16],
        attestation_format: "none".into(),
        attestation_trusted: false,
        nickname: "Passkey".into(),
        created_at: T0,
        last_used_at: None,
    }
}

/// An authorization code expiring one minute after [`T0`].
pub fn auth_code(tenant: &TenantId, hash: &[u8], grant: &str) -> AuthCode {
    AuthCode {
        code_hash: hash.to_vec(),
        tenant: tenant.clone(),
        client_id: client_id("app"),
        grant_id: grant.into(),
        payload: br#"{"sub":"u1","scope":"openid"}"#.to_vec(),
        expires_at: T0 + Duration::minutes(1),
    }
}

/// An access token expiring one hour after [`T0`].
pub fn access_token(tenant: &TenantId, hash: &[u8], grant: &str) -> AccessToken {
    AccessToken {
        token_hash: hash.to_vec(),
        tenant: tenant.clone(),
        client_id: client_id("app"),
        grant_id: grant.into(),
        user_id: user_id("u1"),
        scope: "openid profile".into(),
        payload: br#"{"auth_time":0}"#.to_vec(),
        expires_at: T0 + Duration::hours(1),
    }
}

/// A refresh token expiring one day after [`T0`].
pub fn refresh_token(tenant: &TenantId, hash: &[u8], grant: &str) -> RefreshToken {
    RefreshToken {
        token_hash: hash.to_vec(),
        tenant: tenant.clone(),
        client_id: client_id("app"),
        grant_id: grant.into(),
        user_id: user_id("u1"),
        scope: "openid offline_access".into(),
        payload: br#"{"auth_time":0}"#.to_vec(),
        expires_at: T0 + Duration::days(1),
    }
}

/// A session expiring eight hours after [`T0`].
pub fn session(tenant: &TenantId, hash: &[u8], user: &str) -> Session {
    Session {
        id_hash: hash.to_vec(),
        tenant: tenant.clone(),
        sid: format!(
            "sid-{}",
            hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        user_id: user_id(user),
        auth_time: T0,
        user_verified: true,
        backup_eligible: false,
        attestation_trusted: true,
        expires_at: T0 + Duration::hours(8),
    }
}

/// A signing key record.
pub fn signing_key(tenant: &TenantId, kid: &str, status: KeyStatus) -> SigningKey {
    SigningKey {
        tenant: tenant.clone(),
        kid: kid.into(),
        alg: "ES256".into(),
        private_key_encrypted: vec![9; 48],
        public_jwk: serde_json::json!({ "kty": "EC", "crv": "P-256", "kid": kid, "x": "AA", "y": "AA" }),
        created_at: T0,
        retired_at: None,
        status,
    }
}

async fn with_tenant(store: &dyn Store, name: &str) -> TenantId {
    let tenant = tenant(name);
    store.create_tenant(&tenant).await.expect("create tenant");
    tenant.id
}

async fn with_user(store: &dyn Store, tenant: &TenantId, id: &str, credential_id: &[u8]) -> User {
    let user = user(tenant, id, &format!("name-{id}"));
    store
        .create_user_with_credential(&user, &credential(tenant, id, credential_id))
        .await
        .expect("create user with credential");
    user
}

// ---------------------------------------------------------------------------------------------------------------
// Tenants and clients.

/// A tenant reads back as stored, is listed, and is updated in place.
pub async fn tenant_create_read_list_update(store: Arc<dyn Store>) {
    let mut a = tenant("alpha");
    store.create_tenant(&a).await.expect("create alpha");
    store
        .create_tenant(&tenant("beta"))
        .await
        .expect("create beta");
    assert_eq!(store.get_tenant(&a.id).await.expect("get"), Some(a.clone()));
    let listed: Vec<String> = store
        .list_tenants()
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.id.to_string())
        .collect();
    assert_eq!(listed, ["alpha", "beta"]);

    a.display_name = "Alpha Corp".into();
    a.origins = vec!["https://alpha.example.org".into()];
    a.policy = serde_json::json!({ "user_verification": "preferred" });
    store.update_tenant(&a).await.expect("update");
    assert_eq!(store.get_tenant(&a.id).await.expect("get"), Some(a));
    assert_eq!(
        store
            .get_tenant(&tenant_id("gamma"))
            .await
            .expect("get missing"),
        None
    );
}

/// Creating a tenant whose id exists is a conflict and changes nothing.
pub async fn tenant_duplicate_id_is_conflict(store: Arc<dyn Store>) {
    let a = tenant("alpha");
    store.create_tenant(&a).await.expect("create");
    let mut again = tenant("alpha");
    again.display_name = "Impostor".into();
    assert_eq!(store.create_tenant(&again).await, Err(StoreError::Conflict));
    assert_eq!(store.get_tenant(&a.id).await.expect("get"), Some(a));
}

/// Updating a tenant that does not exist is not found.
pub async fn tenant_update_of_missing_tenant_is_not_found(store: Arc<dyn Store>) {
    assert_eq!(
        store.update_tenant(&tenant("ghost")).await,
        Err(StoreError::NotFound)
    );
}

/// A client reads back as stored (public and confidential), is listed, and is deleted.
pub async fn client_create_read_list_delete(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let confidential = client(&t, "web");
    let mut public = client(&t, "spa");
    public.secret_hash = None;
    public.token_endpoint_auth_method = "none".into();
    public.jwks = Some(serde_json::json!({ "keys": [] }));
    store
        .create_client(&confidential)
        .await
        .expect("create web");
    store.create_client(&public).await.expect("create spa");
    assert_eq!(
        store
            .get_client(&t, &confidential.client_id)
            .await
            .expect("get"),
        Some(confidential.clone())
    );
    assert_eq!(
        store.get_client(&t, &public.client_id).await.expect("get"),
        Some(public.clone())
    );
    assert_eq!(
        store.list_clients(&t).await.expect("list"),
        vec![public.clone(), confidential]
    );
    store
        .delete_client(&t, &public.client_id)
        .await
        .expect("delete");
    assert_eq!(
        store.get_client(&t, &public.client_id).await.expect("get"),
        None
    );
}

/// Registering a client id twice in a tenant is a conflict.
pub async fn client_duplicate_id_is_conflict(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    store
        .create_client(&client(&t, "web"))
        .await
        .expect("create");
    assert_eq!(
        store.create_client(&client(&t, "web")).await,
        Err(StoreError::Conflict)
    );
}

/// A client cannot be registered with a tenant that does not exist.
pub async fn client_of_missing_tenant_is_not_found(store: Arc<dyn Store>) {
    assert_eq!(
        store
            .create_client(&client(&tenant_id("ghost"), "web"))
            .await,
        Err(StoreError::NotFound)
    );
}

/// Deleting a client that does not exist is not found.
pub async fn client_delete_of_missing_client_is_not_found(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    assert_eq!(
        store.delete_client(&t, &client_id("nope")).await,
        Err(StoreError::NotFound)
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Users and credentials.

/// A user and credential read back as stored, by id, username, handle and credential id.
pub async fn user_with_credential_round_trips(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let mut u = user(&t, "u1", "Alice");
    u.email = None;
    u.email_verified = true;
    let c = credential(&t, "u1", b"cred-1");
    store
        .create_user_with_credential(&u, &c)
        .await
        .expect("sign up");
    assert_eq!(
        store.get_user(&t, &u.id).await.expect("get"),
        Some(u.clone())
    );
    assert_eq!(
        store
            .find_user_by_username(&t, "Alice")
            .await
            .expect("by name"),
        Some(u.clone())
    );
    assert_eq!(
        store
            .find_user_by_handle(&t, &u.user_handle)
            .await
            .expect("by handle"),
        Some(u.clone())
    );
    assert_eq!(
        store
            .find_user_by_handle(&t, b"other")
            .await
            .expect("by handle"),
        None
    );
    assert_eq!(
        store.get_credential(&t, b"cred-1").await.expect("get cred"),
        Some(c.clone())
    );
    assert_eq!(
        store.get_credential(&t, b"cred-2").await.expect("get cred"),
        None
    );

    let mut second = credential(&t, "u1", b"cred-2");
    second.created_at = T0 + Duration::seconds(5);
    second.aaguid = [0; 16];
    second.transports = vec![];
    second.sign_count = u32::MAX;
    store.add_credential(&second).await.expect("add");
    assert_eq!(
        store.list_credentials(&t, &u.id).await.expect("list"),
        vec![c, second]
    );
    assert_eq!(
        store
            .list_credentials(&t, &user_id("nobody"))
            .await
            .expect("list"),
        vec![]
    );
}

/// Sign-up creates both user and credential or neither: a duplicate credential id leaves no user behind.
pub async fn create_user_with_credential_is_all_or_nothing(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"taken").await;
    let late = user(&t, "u2", "bob");
    assert_eq!(
        store
            .create_user_with_credential(&late, &credential(&t, "u2", b"taken"))
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.get_user(&t, &late.id).await.expect("get"), None);
    assert_eq!(
        store
            .find_user_by_username(&t, "bob")
            .await
            .expect("by name"),
        None
    );
    assert_eq!(
        store
            .find_user_by_handle(&t, &late.user_handle)
            .await
            .expect("by handle"),
        None
    );
    // The name is still free afterwards.
    store
        .create_user_with_credential(&late, &credential(&t, "u2", b"fresh"))
        .await
        .expect("retry");
}

/// Sign-up refuses a credential that names another user as its owner.
pub async fn create_user_with_credential_refuses_mismatched_owner(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let u = user(&t, "u1", "alice");
    assert_eq!(
        store
            .create_user_with_credential(&u, &credential(&t, "u9", b"c"))
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.get_user(&t, &u.id).await.expect("get"), None);
}

/// Usernames are unique per tenant ignoring case, and found ignoring case.
pub async fn username_uniqueness_is_case_insensitive(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    store
        .create_user_with_credential(&user(&t, "u1", "Émile"), &credential(&t, "u1", b"c1"))
        .await
        .expect("first");
    assert_eq!(
        store
            .create_user_with_credential(&user(&t, "u2", "éMILE"), &credential(&t, "u2", b"c2"))
            .await,
        Err(StoreError::Conflict)
    );
    let found = store
        .find_user_by_username(&t, "ÉMILE")
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found.id, user_id("u1"));
    assert_eq!(
        found.username, "Émile",
        "the username keeps the case it was given"
    );
}

/// Two users of a tenant cannot share a user handle.
pub async fn user_handle_is_unique_per_tenant(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    let mut clash = user(&t, "u2", "bob");
    clash.user_handle = b"handle-u1".to_vec();
    assert_eq!(
        store
            .create_user_with_credential(&clash, &credential(&t, "u2", b"c2"))
            .await,
        Err(StoreError::Conflict)
    );
}

/// A user's profile is updated in place, and users are listed by id in pages.
pub async fn user_update_and_list(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let mut alice = with_user(&*store, &t, "u1", b"c1").await;
    let bob = with_user(&*store, &t, "u2", b"c2").await;
    let carol = with_user(&*store, &t, "u3", b"c3").await;
    alice.username = "Alice.New".into();
    alice.display_name = "Alice N.".into();
    alice.email = None;
    alice.email_verified = true;
    store.update_user(&alice).await.expect("update");
    assert_eq!(store.get_user(&t, &alice.id).await, Ok(Some(alice.clone())));
    assert_eq!(
        store.find_user_by_username(&t, "alice.new").await,
        Ok(Some(alice.clone()))
    );
    assert_eq!(store.find_user_by_username(&t, "name-u1").await, Ok(None));

    assert_eq!(
        store.list_users(&t, None, 2).await,
        Ok(vec![alice, bob.clone()])
    );
    assert_eq!(
        store.list_users(&t, Some(&bob.id), 2).await,
        Ok(vec![carol])
    );
    assert_eq!(store.list_users(&t, None, 0).await, Ok(vec![]));
    assert_eq!(
        store.update_user(&user(&t, "ghost", "ghost")).await,
        Err(StoreError::NotFound)
    );
}

/// Renaming a user to a name another user holds (ignoring case) is a conflict.
pub async fn user_update_to_taken_username_is_conflict(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    let mut bob = with_user(&*store, &t, "u2", b"c2").await;
    bob.username = "NAME-U1".into();
    assert_eq!(store.update_user(&bob).await, Err(StoreError::Conflict));
}

/// Deleting a user removes their credentials, sessions and tokens, and nothing of other users.
pub async fn user_delete_removes_credentials_sessions_and_tokens(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let alice = with_user(&*store, &t, "u1", b"c1").await;
    with_user(&*store, &t, "u2", b"c2").await;
    store
        .create_session(&session(&t, b"s1", "u1"))
        .await
        .expect("session");
    store
        .create_session(&session(&t, b"s2", "u2"))
        .await
        .expect("session");
    store
        .put_access_token(&access_token(&t, b"at", "g"))
        .await
        .expect("at");
    store
        .put_refresh_token(&refresh_token(&t, b"rt", "g"))
        .await
        .expect("rt");
    store.delete_user(&t, &alice.id).await.expect("delete");
    assert_eq!(store.get_user(&t, &alice.id).await, Ok(None));
    assert_eq!(store.get_credential(&t, b"c1").await, Ok(None));
    assert_eq!(store.get_session(&t, b"s1", T0).await, Ok(None));
    assert_eq!(store.get_access_token(&t, b"at", T0).await, Ok(None));
    assert_eq!(
        store
            .rotate_refresh_token(&t, b"rt", &refresh_token(&t, b"rt2", "g"), T0)
            .await,
        Ok(RefreshRotation::NotFound)
    );
    assert!(
        store
            .get_credential(&t, b"c2")
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        store
            .get_session(&t, b"s2", T0)
            .await
            .expect("get")
            .is_some()
    );
    assert_eq!(
        store.delete_user(&t, &alice.id).await,
        Err(StoreError::NotFound)
    );
    // The name is free again.
    with_user(&*store, &t, "u1", b"c1").await;
}

/// A credential id registered for one user cannot be added again, for the same or another user.
pub async fn credential_id_is_unique_per_tenant(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    with_user(&*store, &t, "u2", b"c2").await;
    assert_eq!(
        store.add_credential(&credential(&t, "u2", b"c1")).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.add_credential(&credential(&t, "u1", b"c1")).await,
        Err(StoreError::Conflict)
    );
    let owner = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("still there");
    assert_eq!(owner.user_id, user_id("u1"));
}

/// A credential cannot be added to a user who does not exist.
pub async fn add_credential_requires_existing_user(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    assert_eq!(
        store.add_credential(&credential(&t, "ghost", b"c1")).await,
        Err(StoreError::NotFound)
    );
}

/// Only the owner renames a credential.
pub async fn rename_credential_requires_owner(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let alice = with_user(&*store, &t, "u1", b"c1").await;
    let bob = with_user(&*store, &t, "u2", b"c2").await;
    assert_eq!(
        store
            .rename_credential(&t, &bob.id, b"c1", "mine now")
            .await,
        Err(StoreError::NotFound)
    );
    store
        .rename_credential(&t, &alice.id, b"c1", "Work laptop")
        .await
        .expect("rename");
    let c = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(c.nickname, "Work laptop");
    assert_eq!(
        store.rename_credential(&t, &alice.id, b"nope", "x").await,
        Err(StoreError::NotFound)
    );
}

/// Only the owner deletes a credential.
pub async fn delete_credential_requires_owner(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let alice = with_user(&*store, &t, "u1", b"c1").await;
    store
        .add_credential(&credential(&t, "u1", b"c1b"))
        .await
        .expect("add");
    let bob = with_user(&*store, &t, "u2", b"c2").await;
    store
        .add_credential(&credential(&t, "u2", b"c2b"))
        .await
        .expect("add");
    assert_eq!(
        store.delete_credential(&t, &bob.id, b"c1").await,
        Err(StoreError::NotFound)
    );
    assert!(
        store
            .get_credential(&t, b"c1")
            .await
            .expect("get")
            .is_some()
    );
    store
        .delete_credential(&t, &alice.id, b"c1")
        .await
        .expect("delete");
    assert_eq!(store.get_credential(&t, b"c1").await.expect("get"), None);
    assert_eq!(
        store.delete_credential(&t, &alice.id, b"c1").await,
        Err(StoreError::NotFound)
    );
}

/// A user's last credential cannot be deleted.
pub async fn last_credential_cannot_be_deleted(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let alice = with_user(&*store, &t, "u1", b"c1").await;
    assert_eq!(
        store.delete_credential(&t, &alice.id, b"c1").await,
        Err(StoreError::Conflict)
    );
    assert!(
        store
            .get_credential(&t, b"c1")
            .await
            .expect("get")
            .is_some()
    );
    store
        .add_credential(&credential(&t, "u1", b"c2"))
        .await
        .expect("add");
    store
        .delete_credential(&t, &alice.id, b"c1")
        .await
        .expect("delete one of two");
    assert_eq!(
        store.delete_credential(&t, &alice.id, b"c2").await,
        Err(StoreError::Conflict)
    );
}

/// Deleting both of a user's two credentials at once leaves exactly one: one delete wins, the other is refused.
pub async fn concurrent_deletes_keep_the_last_credential(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    for round in 0..5u8 {
        let id = format!("u{round}");
        let owner = with_user(&*store, &t, &id, &[b'a', round]).await;
        store
            .add_credential(&credential(&t, &id, &[b'b', round]))
            .await
            .expect("add");
        let (a, b) = ([b'a', round], [b'b', round]);
        let (first, second) = tokio::join!(
            store.delete_credential(&t, &owner.id, &a),
            store.delete_credential(&t, &owner.id, &b)
        );
        assert!(
            first.is_ok() != second.is_ok(),
            "round {round}: exactly one delete wins: {first:?} {second:?}"
        );
        assert!(matches!(
            (&first, &second),
            (Err(StoreError::Conflict), _) | (_, Err(StoreError::Conflict))
        ));
        assert_eq!(
            store
                .list_credentials(&t, &owner.id)
                .await
                .expect("list")
                .len(),
            1,
            "round {round}"
        );
    }
}

/// A higher counter is recorded with the backup state and last use.
pub async fn sign_count_increase_is_recorded(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    let used = T0 + Duration::minutes(3);
    assert_eq!(
        store.bump_sign_count(&t, b"c1", 0, 5, true, used).await,
        Ok(SignCountUpdate::Updated)
    );
    let c = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (c.sign_count, c.backup_state, c.last_used_at),
        (5, true, Some(used))
    );
    assert_eq!(
        store
            .bump_sign_count(&t, b"c1", 5, u32::MAX, false, used)
            .await,
        Ok(SignCountUpdate::Updated)
    );
    let c = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!((c.sign_count, c.backup_state), (u32::MAX, false));
}

/// A counter that does not increase is refused and changes nothing (WebAuthn L3 §7.2 clone signal).
pub async fn sign_count_regression_is_refused(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    assert_eq!(
        store.bump_sign_count(&t, b"c1", 0, 10, false, T0).await,
        Ok(SignCountUpdate::Updated)
    );
    for new in [10, 9, 0] {
        let later = T0 + Duration::minutes(1);
        assert_eq!(
            store.bump_sign_count(&t, b"c1", 10, new, true, later).await,
            Ok(SignCountUpdate::Regressed),
            "new = {new}"
        );
    }
    let c = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (c.sign_count, c.backup_state, c.last_used_at),
        (10, false, Some(T0))
    );
}

/// A caller whose expected counter is stale (a concurrent sign-in moved it) is refused.
pub async fn sign_count_stale_expected_value_is_refused(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    assert_eq!(
        store.bump_sign_count(&t, b"c1", 0, 7, false, T0).await,
        Ok(SignCountUpdate::Updated)
    );
    assert_eq!(
        store.bump_sign_count(&t, b"c1", 0, 8, false, T0).await,
        Ok(SignCountUpdate::Regressed)
    );
    let c = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(c.sign_count, 7);
}

/// Authenticators without a counter (0 then 0) keep signing in.
pub async fn sign_count_zero_stays_allowed(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    for minute in 1..4 {
        let used = T0 + Duration::minutes(minute);
        assert_eq!(
            store.bump_sign_count(&t, b"c1", 0, 0, true, used).await,
            Ok(SignCountUpdate::Updated)
        );
    }
    let c = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (c.sign_count, c.last_used_at),
        (0, Some(T0 + Duration::minutes(3)))
    );
}

/// Bumping the counter of an unknown credential is not found, never "updated".
pub async fn sign_count_of_unknown_credential_is_not_found(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    assert_eq!(
        store.bump_sign_count(&t, b"nope", 0, 1, false, T0).await,
        Err(StoreError::NotFound)
    );
}

/// Two sign-ins racing with the same stored counter: exactly one bump lands.
pub async fn sign_count_concurrent_bumps_have_one_winner(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    let mut tasks = Vec::new();
    for new in 1..=10u32 {
        let store = Arc::clone(&store);
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            store.bump_sign_count(&t, b"c1", 0, new, false, T0).await
        }));
    }
    let mut updated = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(SignCountUpdate::Updated) => updated += 1,
            Ok(SignCountUpdate::Regressed) => {}
            Err(error) => panic!("bump failed: {error}"),
        }
    }
    assert_eq!(updated, 1);
    let c = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("exists");
    assert!((1..=10).contains(&c.sign_count));
}

fn bump(id: &[u8], expected_old: u32, new: u32) -> SignCountBump {
    SignCountBump {
        credential_id: id.to_vec(),
        expected_old,
        new,
        backup_state: true,
        used_at: T0 + Duration::minutes(2),
    }
}

async fn sign_count_of(store: &dyn Store, t: &TenantId, id: &[u8]) -> u32 {
    store
        .get_credential(t, id)
        .await
        .expect("get")
        .expect("exists")
        .sign_count
}

async fn has_session(store: &dyn Store, t: &TenantId, hash: &[u8]) -> bool {
    store
        .get_session(t, hash, T0)
        .await
        .expect("get session")
        .is_some()
}

/// A sign-in record bumps the counter, deletes the browser's previous session and starts the new one, together.
pub async fn sign_in_record_bumps_the_counter_and_replaces_the_session(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    store
        .create_session(&session(&t, b"old", "u1"))
        .await
        .expect("old session");
    assert_eq!(
        store
            .record_sign_in(
                &bump(b"c1", 0, 3),
                true,
                Some(b"old"),
                &session(&t, b"new", "u1")
            )
            .await,
        Ok(SignCountUpdate::Updated)
    );
    assert_eq!(sign_count_of(&*store, &t, b"c1").await, 3);
    let c = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (c.backup_state, c.last_used_at),
        (true, Some(T0 + Duration::minutes(2)))
    );
    assert!(!has_session(&*store, &t, b"old").await);
    assert!(has_session(&*store, &t, b"new").await);
}

/// A regressed counter with the policy refusing clones: no counter change, no new session, the old one kept.
pub async fn sign_in_record_refused_for_regression_changes_nothing(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    store
        .bump_sign_count(&t, b"c1", 0, 10, false, T0)
        .await
        .expect("bump");
    store
        .create_session(&session(&t, b"old", "u1"))
        .await
        .expect("old session");
    assert_eq!(
        store
            .record_sign_in(
                &bump(b"c1", 10, 9),
                true,
                Some(b"old"),
                &session(&t, b"new", "u1")
            )
            .await,
        Ok(SignCountUpdate::Regressed)
    );
    assert_eq!(sign_count_of(&*store, &t, b"c1").await, 10);
    assert!(has_session(&*store, &t, b"old").await);
    assert!(!has_session(&*store, &t, b"new").await);
}

/// A regressed counter that the policy accepts: the counter stays, the session starts, and the outcome says so.
pub async fn sign_in_record_accepted_despite_regression_starts_the_session(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    store
        .bump_sign_count(&t, b"c1", 0, 10, false, T0)
        .await
        .expect("bump");
    assert_eq!(
        store
            .record_sign_in(
                &bump(b"c1", 10, 10),
                false,
                None,
                &session(&t, b"new", "u1")
            )
            .await,
        Ok(SignCountUpdate::Regressed)
    );
    assert_eq!(sign_count_of(&*store, &t, b"c1").await, 10);
    assert!(has_session(&*store, &t, b"new").await);
}

/// An unknown credential is `NotFound`, a session hash that exists is `Conflict`; neither changes anything.
pub async fn sign_in_record_of_unknown_credential_or_taken_session_changes_nothing(
    store: Arc<dyn Store>,
) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    assert_eq!(
        store
            .record_sign_in(&bump(b"nope", 0, 1), false, None, &session(&t, b"s1", "u1"))
            .await,
        Err(StoreError::NotFound)
    );
    assert!(!has_session(&*store, &t, b"s1").await);
    store
        .create_session(&session(&t, b"taken", "u1"))
        .await
        .expect("session");
    store
        .create_session(&session(&t, b"old", "u1"))
        .await
        .expect("old session");
    assert_eq!(
        store
            .record_sign_in(
                &bump(b"c1", 0, 5),
                true,
                Some(b"old"),
                &session(&t, b"taken", "u1")
            )
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        sign_count_of(&*store, &t, b"c1").await,
        0,
        "the bump was rolled back"
    );
    assert!(
        has_session(&*store, &t, b"old").await,
        "the old session was kept"
    );
}

/// Ten sign-ins with the same stored counter, clones refused: one counter update and one session, never more.
pub async fn sign_in_records_racing_on_one_counter_start_one_session(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    let mut tasks = Vec::new();
    for n in 1..=10u8 {
        let store = Arc::clone(&store);
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let outcome = store
                .record_sign_in(
                    &bump(b"c1", 0, u32::from(n)),
                    true,
                    None,
                    &session(&t, &[n], "u1"),
                )
                .await;
            (n, outcome)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            (n, Ok(SignCountUpdate::Updated)) => winners.push(n),
            (_, Ok(SignCountUpdate::Regressed)) => {}
            (_, Err(error)) => panic!("record failed: {error}"),
        }
    }
    assert_eq!(winners.len(), 1);
    for n in 1..=10u8 {
        assert_eq!(
            has_session(&*store, &t, &[n]).await,
            winners.contains(&n),
            "session {n}"
        );
    }
}

/// Edge values survive a round trip unchanged: empty and large binary values, NUL bytes, non-ASCII text, extreme
/// timestamps and counters, negative algorithm ids.
pub async fn unusual_values_round_trip(store: Arc<dyn Store>) {
    let mut tenant = tenant("edge");
    tenant.display_name = "Ünïcødé 🗝️ \"quotes\" 'single' \\ back".into();
    tenant.origins = vec![];
    tenant.policy = serde_json::json!({ "nested": { "list": [1, 2.5, null, true, "x"] } });
    tenant.created_at = datetime!(1900-01-01 00:00 UTC);
    store.create_tenant(&tenant).await.expect("create");
    assert_eq!(store.get_tenant(&tenant.id).await, Ok(Some(tenant.clone())));

    let t = tenant.id;
    let mut u = user(&t, "u1", "Ünïcødé 🗝️");
    u.id = user_id("u1!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");
    u.user_handle = vec![0, 255, 0, 0, 1];
    u.email = Some(String::new());
    let mut c = credential(&t, u.id.as_str(), &[0u8; 1023]);
    c.public_key = vec![0; 4096];
    c.alg = -65_535;
    c.sign_count = u32::MAX;
    c.aaguid = [0xff; 16];
    c.nickname = String::new();
    c.transports = vec![];
    c.created_at = datetime!(9999-12-31 23:59:59 UTC);
    store
        .create_user_with_credential(&u, &c)
        .await
        .expect("sign up");
    assert_eq!(store.get_user(&t, &u.id).await, Ok(Some(u.clone())));
    assert_eq!(
        store.find_user_by_handle(&t, &[0, 255, 0, 0, 1]).await,
        Ok(Some(u.clone()))
    );
    assert_eq!(store.get_credential(&t, &[0u8; 1023]).await, Ok(Some(c)));
    assert_eq!(store.get_credential(&t, &[0u8; 1022]).await, Ok(None));
    assert_eq!(store.get_credential(&t, &[]).await, Ok(None));

    let expires = T0 + Duration::minutes(1);
    store
        .put_ceremony(&t, "", "", Vec::new(), expires)
        .await
        .expect("empty ceremony");
    store
        .put_ceremony(&t, "big", "k", vec![7; 256 * 1024], expires)
        .await
        .expect("big ceremony");
    assert_eq!(
        store.take_ceremony(&t, "", "", T0).await,
        Ok(Some(Vec::new()))
    );
    assert_eq!(
        store.take_ceremony(&t, "big", "k", T0).await,
        Ok(Some(vec![7; 256 * 1024]))
    );
    assert_eq!(
        store.take_ceremony(&t, "' OR 1=1 --", "k", T0).await,
        Ok(None)
    );
}

// ---------------------------------------------------------------------------------------------------------------
// One-time values.

/// Twenty concurrent takes of one ceremony value: exactly one gets it.
pub async fn ceremony_take_is_single_use_under_concurrency(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let expires = T0 + Duration::minutes(5);
    store
        .put_ceremony(&t, "ch-1", "webauthn.get", b"challenge".to_vec(), expires)
        .await
        .expect("put");
    let mut takers = Vec::new();
    for _ in 0..20 {
        let store = Arc::clone(&store);
        let t = t.clone();
        takers.push(tokio::spawn(async move {
            store.take_ceremony(&t, "ch-1", "webauthn.get", T0).await
        }));
    }
    let mut winners = 0;
    for taker in takers {
        match taker.await.expect("task") {
            Ok(Some(payload)) => {
                assert_eq!(payload, b"challenge");
                winners += 1;
            }
            Ok(None) => {}
            Err(error) => panic!("take failed: {error}"),
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(
        store.take_ceremony(&t, "ch-1", "webauthn.get", T0).await,
        Ok(None)
    );
}

/// An expired ceremony value is neither taken nor peeked.
pub async fn ceremony_expired_is_not_returned(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let expires = T0 + Duration::minutes(5);
    store
        .put_ceremony(&t, "ch-1", "webauthn.get", b"x".to_vec(), expires)
        .await
        .expect("put");
    assert_eq!(
        store
            .peek_ceremony(&t, "ch-1", "webauthn.get", expires)
            .await,
        Ok(None)
    );
    assert_eq!(
        store
            .take_ceremony(&t, "ch-1", "webauthn.get", expires)
            .await,
        Ok(None)
    );
    assert_eq!(
        store
            .take_ceremony(&t, "ch-1", "webauthn.get", expires + Duration::hours(1))
            .await,
        Ok(None)
    );
}

/// A value stored for one kind of ceremony is not returned for another, and is not consumed by the attempt.
pub async fn ceremony_of_another_kind_is_not_returned(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let expires = T0 + Duration::minutes(5);
    store
        .put_ceremony(&t, "ch-1", "webauthn.create", b"reg".to_vec(), expires)
        .await
        .expect("put");
    assert_eq!(
        store.take_ceremony(&t, "ch-1", "webauthn.get", T0).await,
        Ok(None)
    );
    assert_eq!(
        store.peek_ceremony(&t, "ch-1", "webauthn.get", T0).await,
        Ok(None)
    );
    assert_eq!(
        store.take_ceremony(&t, "ch-1", "webauthn.create", T0).await,
        Ok(Some(b"reg".to_vec()))
    );
}

/// Peeking leaves the value for a later take.
pub async fn ceremony_peek_does_not_consume(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let expires = T0 + Duration::minutes(5);
    store
        .put_ceremony(&t, "req-1", "authorize", b"{}".to_vec(), expires)
        .await
        .expect("put");
    for _ in 0..3 {
        assert_eq!(
            store.peek_ceremony(&t, "req-1", "authorize", T0).await,
            Ok(Some(b"{}".to_vec()))
        );
    }
    assert_eq!(
        store.take_ceremony(&t, "req-1", "authorize", T0).await,
        Ok(Some(b"{}".to_vec()))
    );
    assert_eq!(
        store.peek_ceremony(&t, "req-1", "authorize", T0).await,
        Ok(None)
    );
}

/// A ceremony id cannot be stored twice (it would let an attacker overwrite a pending value).
pub async fn ceremony_duplicate_id_is_conflict(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let expires = T0 + Duration::minutes(5);
    store
        .put_ceremony(&t, "ch-1", "webauthn.get", b"first".to_vec(), expires)
        .await
        .expect("put");
    assert_eq!(
        store
            .put_ceremony(&t, "ch-1", "webauthn.get", b"second".to_vec(), expires)
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.take_ceremony(&t, "ch-1", "webauthn.get", T0).await,
        Ok(Some(b"first".to_vec()))
    );
}

/// A code is redeemed once; a second redemption reports the grant to revoke (`oidcc-codereuse`).
pub async fn auth_code_redemption_is_single_use_and_reuse_is_reported(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let code = auth_code(&t, b"code-hash", "grant-1");
    store.put_auth_code(&code).await.expect("put");
    assert_eq!(store.put_auth_code(&code).await, Err(StoreError::Conflict));
    assert_eq!(
        store.consume_auth_code(&t, b"code-hash", T0).await,
        Ok(CodeRedemption::Redeemed(code))
    );
    let reuse = CodeRedemption::AlreadyRedeemed {
        grant_id: "grant-1".into(),
    };
    assert_eq!(
        store
            .consume_auth_code(&t, b"code-hash", T0 + Duration::seconds(30))
            .await,
        Ok(reuse)
    );
    assert_eq!(
        store.consume_auth_code(&t, b"other", T0).await,
        Ok(CodeRedemption::NotFound)
    );
}

/// Twenty concurrent redemptions of one code: exactly one gets it, the others see reuse.
pub async fn auth_code_concurrent_redemption_has_one_winner(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    store
        .put_auth_code(&auth_code(&t, b"code-hash", "grant-1"))
        .await
        .expect("put");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = Arc::clone(&store);
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            store.consume_auth_code(&t, b"code-hash", T0).await
        }));
    }
    let (mut redeemed, mut reused) = (0, 0);
    for task in tasks {
        match task.await.expect("task") {
            Ok(CodeRedemption::Redeemed(_)) => redeemed += 1,
            Ok(CodeRedemption::AlreadyRedeemed { grant_id }) => {
                assert_eq!(grant_id, "grant-1");
                reused += 1;
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((redeemed, reused), (1, 19));
}

/// An expired code is not redeemed.
pub async fn auth_code_expired_is_not_redeemed(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let code = auth_code(&t, b"code-hash", "grant-1");
    store.put_auth_code(&code).await.expect("put");
    assert_eq!(
        store
            .consume_auth_code(&t, b"code-hash", code.expires_at)
            .await,
        Ok(CodeRedemption::NotFound)
    );
}

/// Reuse of a redeemed code is still reported after the code's expiry, and after a purge
/// (`oidcc-codereuse-30seconds`).
pub async fn auth_code_reuse_after_expiry_is_still_reported(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let code = auth_code(&t, b"code-hash", "grant-1");
    store.put_auth_code(&code).await.expect("put");
    assert!(matches!(
        store.consume_auth_code(&t, b"code-hash", T0).await,
        Ok(CodeRedemption::Redeemed(_))
    ));
    let later = code.expires_at + Duration::minutes(5);
    store.purge_expired(later, 100).await.expect("purge");
    assert_eq!(
        store.consume_auth_code(&t, b"code-hash", later).await,
        Ok(CodeRedemption::AlreadyRedeemed {
            grant_id: "grant-1".into()
        })
    );
}

/// An access token is returned while live and not after its expiry.
pub async fn access_token_is_returned_until_expiry(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let token = access_token(&t, b"at-1", "grant-1");
    store.put_access_token(&token).await.expect("put");
    assert_eq!(
        store.put_access_token(&token).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.get_access_token(&t, b"at-1", T0).await,
        Ok(Some(token.clone()))
    );
    assert_eq!(
        store.get_access_token(&t, b"at-1", token.expires_at).await,
        Ok(None)
    );
    assert_eq!(store.get_access_token(&t, b"at-2", T0).await, Ok(None));
}

/// Rotating a refresh token spends it; presenting it again is reuse (RFC 9700 §4.14.2).
pub async fn refresh_rotation_reuse_is_reported(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let first = refresh_token(&t, b"rt-1", "grant-1");
    store.put_refresh_token(&first).await.expect("put");
    let second = refresh_token(&t, b"rt-2", "grant-1");
    assert_eq!(
        store.rotate_refresh_token(&t, b"rt-1", &second, T0).await,
        Ok(RefreshRotation::Rotated(first))
    );
    let third = refresh_token(&t, b"rt-3", "grant-1");
    assert_eq!(
        store.rotate_refresh_token(&t, b"rt-1", &third, T0).await,
        Ok(RefreshRotation::Reused {
            grant_id: "grant-1".into()
        })
    );
    // The reused attempt stored nothing; the successor is still live until the caller revokes the grant.
    assert_eq!(
        store
            .rotate_refresh_token(&t, b"rt-3", &refresh_token(&t, b"rt-4", "grant-1"), T0)
            .await,
        Ok(RefreshRotation::NotFound)
    );
    assert!(matches!(
        store.rotate_refresh_token(&t, b"rt-2", &third, T0).await,
        Ok(RefreshRotation::Rotated(_))
    ));
}

/// Unknown and expired refresh tokens are not rotated.
pub async fn refresh_rotation_of_unknown_or_expired_token_is_not_found(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let first = refresh_token(&t, b"rt-1", "grant-1");
    store.put_refresh_token(&first).await.expect("put");
    let next = refresh_token(&t, b"rt-2", "grant-1");
    assert_eq!(
        store.rotate_refresh_token(&t, b"nope", &next, T0).await,
        Ok(RefreshRotation::NotFound)
    );
    assert_eq!(
        store
            .rotate_refresh_token(&t, b"rt-1", &next, first.expires_at)
            .await,
        Ok(RefreshRotation::NotFound)
    );
    // Nothing was stored by the failed rotations.
    assert_eq!(
        store
            .rotate_refresh_token(&t, b"rt-2", &refresh_token(&t, b"rt-3", "grant-1"), T0)
            .await,
        Ok(RefreshRotation::NotFound)
    );
}

/// Revoking a grant removes its tokens and refuses new ones; other grants are untouched.
pub async fn revoked_grant_tokens_are_gone_and_refused(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    store
        .put_access_token(&access_token(&t, b"at-1", "grant-1"))
        .await
        .expect("put");
    store
        .put_refresh_token(&refresh_token(&t, b"rt-1", "grant-1"))
        .await
        .expect("put");
    store
        .put_access_token(&access_token(&t, b"at-9", "grant-9"))
        .await
        .expect("put");
    store.revoke_grant(&t, "grant-1", T0).await.expect("revoke");
    store
        .revoke_grant(&t, "grant-1", T0)
        .await
        .expect("revoke is idempotent");
    assert_eq!(store.get_access_token(&t, b"at-1", T0).await, Ok(None));
    assert_eq!(
        store
            .rotate_refresh_token(&t, b"rt-1", &refresh_token(&t, b"rt-2", "grant-1"), T0)
            .await,
        Ok(RefreshRotation::NotFound)
    );
    assert_eq!(
        store
            .put_access_token(&access_token(&t, b"at-2", "grant-1"))
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store
            .put_refresh_token(&refresh_token(&t, b"rt-3", "grant-1"))
            .await,
        Err(StoreError::Conflict)
    );
    assert!(
        store
            .get_access_token(&t, b"at-9", T0)
            .await
            .expect("get")
            .is_some()
    );
}

/// The revoked-grant mark is dated by the caller's `now`, not the system clock: it lasts
/// [`crate::REVOKED_GRANT_RETENTION`] from that time and is purged after it.
pub async fn revoked_grant_mark_is_kept_from_the_callers_now(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    // Far from the system clock, so that a backend dating the mark by the system clock fails.
    let then = datetime!(2020-03-01 08:00 UTC);
    store
        .revoke_grant(&t, "grant-1", then)
        .await
        .expect("revoke");
    let mut token = refresh_token(&t, b"rt-1", "grant-1");
    token.expires_at = then + Duration::days(30);
    assert_eq!(
        store.put_refresh_token(&token).await,
        Err(StoreError::Conflict)
    );
    // Within the retention the mark survives a purge; after it, it is purged and the grant id is free again.
    store
        .purge_expired(
            then + crate::REVOKED_GRANT_RETENTION - Duration::seconds(1),
            100,
        )
        .await
        .expect("purge");
    assert_eq!(
        store.put_refresh_token(&token).await,
        Err(StoreError::Conflict)
    );
    store
        .purge_expired(
            then + crate::REVOKED_GRANT_RETENTION + Duration::seconds(1),
            100,
        )
        .await
        .expect("purge");
    assert_eq!(store.put_refresh_token(&token).await, Ok(()));
}

/// A refresh token is found by its hash with its family's payload, also once spent, so that the caller can learn
/// the family and let the rotation tell reuse apart.
pub async fn refresh_token_lookup_returns_live_and_spent_tokens_with_payload(
    store: Arc<dyn Store>,
) {
    let t = with_tenant(&*store, "alpha").await;
    let mut first = refresh_token(&t, b"rt-1", "grant-1");
    first.payload = br#"{"family":"grant-1","scopes":["openid","offline_access"]}"#.to_vec();
    store.put_refresh_token(&first).await.expect("put");
    assert_eq!(
        store.get_refresh_token(&t, b"rt-1", T0).await,
        Ok(Some(first.clone()))
    );
    let mut second = refresh_token(&t, b"rt-2", "grant-1");
    second.payload = first.payload.clone();
    assert!(matches!(
        store.rotate_refresh_token(&t, b"rt-1", &second, T0).await,
        Ok(RefreshRotation::Rotated(_))
    ));
    assert_eq!(
        store.get_refresh_token(&t, b"rt-1", T0).await,
        Ok(Some(first))
    );
    assert_eq!(
        store.get_refresh_token(&t, b"rt-2", T0).await,
        Ok(Some(second))
    );
}

/// Unknown, expired, revoked and other tenants' refresh tokens are not found.
pub async fn refresh_token_lookup_refuses_unknown_expired_and_revoked(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let other = with_tenant(&*store, "beta").await;
    let first = refresh_token(&t, b"rt-1", "grant-1");
    store.put_refresh_token(&first).await.expect("put");
    assert_eq!(store.get_refresh_token(&t, b"nope", T0).await, Ok(None));
    assert_eq!(store.get_refresh_token(&other, b"rt-1", T0).await, Ok(None));
    assert_eq!(
        store.get_refresh_token(&t, b"rt-1", first.expires_at).await,
        Ok(None)
    );
    store.revoke_grant(&t, "grant-1", T0).await.expect("revoke");
    assert_eq!(store.get_refresh_token(&t, b"rt-1", T0).await, Ok(None));
}

// ---------------------------------------------------------------------------------------------------------------
// Sessions and keys.

/// A session keeps its public `sid` and the authentication facts (UV, BE, trusted attestation) it started with.
pub async fn session_facts_and_sid_round_trip(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    for (i, (uv, be, trusted)) in [
        (true, false, true),
        (false, true, false),
        (true, true, false),
    ]
    .into_iter()
    .enumerate()
    {
        let mut s = session(&t, format!("s-{i}").as_bytes(), "u1");
        s.user_verified = uv;
        s.backup_eligible = be;
        s.attestation_trusted = trusted;
        store.create_session(&s).await.expect("create");
        let read = store
            .get_session(&t, &s.id_hash, T0)
            .await
            .expect("get")
            .expect("live");
        assert_eq!(read, s);
    }
    // The sid is unique in the tenant.
    let mut twin = session(&t, b"s-9", "u1");
    twin.sid = session(&t, b"s-0", "u1").sid;
    assert_eq!(store.create_session(&twin).await, Err(StoreError::Conflict));
}

/// Logout by `sid` ends that session only, and only when it belongs to the user the ID token names.
pub async fn session_is_ended_by_sid_only_for_its_user(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let other = with_tenant(&*store, "beta").await;
    let s1 = session(&t, b"s-1", "u1");
    let s2 = session(&t, b"s-2", "u1");
    store.create_session(&s1).await.expect("create");
    store.create_session(&s2).await.expect("create");
    assert_eq!(
        store
            .delete_session_by_sid(&t, &user_id("u2"), &s1.sid)
            .await,
        Ok(false)
    );
    assert_eq!(
        store
            .delete_session_by_sid(&other, &user_id("u1"), &s1.sid)
            .await,
        Ok(false)
    );
    assert_eq!(
        store
            .delete_session_by_sid(&t, &user_id("u1"), &s1.sid)
            .await,
        Ok(true)
    );
    assert_eq!(store.get_session(&t, b"s-1", T0).await, Ok(None));
    assert!(
        store
            .get_session(&t, b"s-2", T0)
            .await
            .expect("get")
            .is_some()
    );
    assert_eq!(
        store
            .delete_session_by_sid(&t, &user_id("u1"), &s1.sid)
            .await,
        Ok(false)
    );
}

/// A session reads back while live, not after expiry, and is deleted singly or per user.
pub async fn session_create_read_expire_delete(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let s1 = session(&t, b"s-1", "u1");
    store.create_session(&s1).await.expect("create");
    assert_eq!(store.create_session(&s1).await, Err(StoreError::Conflict));
    assert_eq!(
        store.get_session(&t, b"s-1", T0).await,
        Ok(Some(s1.clone()))
    );
    assert_eq!(store.get_session(&t, b"s-1", s1.expires_at).await, Ok(None));
    store.delete_session(&t, b"s-1").await.expect("delete");
    store
        .delete_session(&t, b"s-1")
        .await
        .expect("delete is idempotent");
    assert_eq!(store.get_session(&t, b"s-1", T0).await, Ok(None));

    store
        .create_session(&session(&t, b"s-2", "u1"))
        .await
        .expect("create");
    store
        .create_session(&session(&t, b"s-3", "u1"))
        .await
        .expect("create");
    store
        .create_session(&session(&t, b"s-4", "u2"))
        .await
        .expect("create");
    assert_eq!(store.delete_user_sessions(&t, &user_id("u1")).await, Ok(2));
    assert_eq!(store.get_session(&t, b"s-2", T0).await, Ok(None));
    assert!(
        store
            .get_session(&t, b"s-4", T0)
            .await
            .expect("get")
            .is_some()
    );
}

/// Keys go pending → active → retired → deleted, and are listed oldest first.
pub async fn signing_key_rotation_lifecycle(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let old = signing_key(&t, "k1", KeyStatus::Active);
    let mut new = signing_key(&t, "k2", KeyStatus::Pending);
    new.alg = "RS256".into();
    new.created_at = T0 + Duration::hours(1);
    store.put_signing_key(&old).await.expect("put");
    store.put_signing_key(&new).await.expect("put");
    assert_eq!(store.put_signing_key(&old).await, Err(StoreError::Conflict));
    assert_eq!(
        store.list_signing_keys(&t).await,
        Ok(vec![old.clone(), new.clone()])
    );

    let at = T0 + Duration::hours(2);
    store
        .activate_signing_key(&t, "k2")
        .await
        .expect("activate");
    store
        .retire_signing_key(&t, "k1", at)
        .await
        .expect("retire");
    store
        .retire_signing_key(&t, "k1", at + Duration::hours(1))
        .await
        .expect("retire again");
    assert_eq!(
        store.activate_signing_key(&t, "k1").await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.retire_signing_key(&t, "k9", at).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.activate_signing_key(&t, "k9").await,
        Err(StoreError::NotFound)
    );
    let keys = store.list_signing_keys(&t).await.expect("list");
    let states: Vec<_> = keys
        .iter()
        .map(|k| (k.kid.as_str(), k.status, k.retired_at))
        .collect();
    assert_eq!(
        states,
        [
            ("k1", KeyStatus::Retired, Some(at)),
            ("k2", KeyStatus::Active, None)
        ]
    );

    assert_eq!(store.delete_retired_signing_keys(&t, at).await, Ok(0));
    assert_eq!(
        store
            .delete_retired_signing_keys(&t, at + Duration::seconds(1))
            .await,
        Ok(1)
    );
    let kids: Vec<_> = store
        .list_signing_keys(&t)
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["k2"]);
}

// ---------------------------------------------------------------------------------------------------------------
// Isolation, purge, health.

/// Tenant A never sees, changes or consumes tenant B's rows, even when ids collide.
pub async fn tenant_isolation(store: Arc<dyn Store>) {
    let a = with_tenant(&*store, "alpha").await;
    let b = with_tenant(&*store, "beta").await;
    // The same ids in both tenants are allowed.
    let alice_a = with_user(&*store, &a, "u1", b"c1").await;
    with_user(&*store, &b, "u1", b"c1").await;
    store
        .add_credential(&credential(&a, "u1", b"only-a"))
        .await
        .expect("add");
    store
        .create_client(&client(&a, "app"))
        .await
        .expect("client a");
    let expires = T0 + Duration::minutes(5);
    store
        .put_ceremony(&a, "ch", "webauthn.get", b"a".to_vec(), expires)
        .await
        .expect("put");
    store
        .put_auth_code(&auth_code(&a, b"code", "g"))
        .await
        .expect("code");
    store
        .put_access_token(&access_token(&a, b"at", "g"))
        .await
        .expect("at");
    store
        .put_refresh_token(&refresh_token(&a, b"rt", "g"))
        .await
        .expect("rt");
    store
        .create_session(&session(&a, b"s", "u1"))
        .await
        .expect("session");
    store
        .put_signing_key(&signing_key(&a, "k1", KeyStatus::Active))
        .await
        .expect("key");

    assert_eq!(store.get_credential(&b, b"only-a").await, Ok(None));
    assert_eq!(
        store
            .list_credentials(&b, &alice_a.id)
            .await
            .expect("list")
            .len(),
        1
    );
    assert_eq!(
        store.bump_sign_count(&b, b"only-a", 0, 1, false, T0).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.delete_credential(&b, &alice_a.id, b"only-a").await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store
            .rename_credential(&b, &alice_a.id, b"only-a", "x")
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(store.get_client(&b, &client_id("app")).await, Ok(None));
    assert_eq!(store.list_clients(&b).await, Ok(vec![]));
    assert_eq!(
        store.delete_client(&b, &client_id("app")).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.peek_ceremony(&b, "ch", "webauthn.get", T0).await,
        Ok(None)
    );
    assert_eq!(
        store.take_ceremony(&b, "ch", "webauthn.get", T0).await,
        Ok(None)
    );
    assert_eq!(
        store.consume_auth_code(&b, b"code", T0).await,
        Ok(CodeRedemption::NotFound)
    );
    assert_eq!(store.get_access_token(&b, b"at", T0).await, Ok(None));
    assert_eq!(
        store
            .rotate_refresh_token(&b, b"rt", &refresh_token(&b, b"rt2", "g"), T0)
            .await,
        Ok(RefreshRotation::NotFound)
    );
    store.revoke_grant(&b, "g", T0).await.expect("revoke in b");
    assert_eq!(store.get_session(&b, b"s", T0).await, Ok(None));
    assert_eq!(store.delete_user_sessions(&b, &user_id("u1")).await, Ok(0));
    assert_eq!(store.list_signing_keys(&b).await, Ok(vec![]));
    assert_eq!(
        store.retire_signing_key(&b, "k1", T0).await,
        Err(StoreError::NotFound)
    );

    // Everything of tenant A is intact.
    assert_eq!(
        store
            .get_credential(&a, b"only-a")
            .await
            .expect("get")
            .map(|c| c.sign_count),
        Some(0)
    );
    assert_eq!(
        store.take_ceremony(&a, "ch", "webauthn.get", T0).await,
        Ok(Some(b"a".to_vec()))
    );
    assert!(matches!(
        store.consume_auth_code(&a, b"code", T0).await,
        Ok(CodeRedemption::Redeemed(_))
    ));
    assert!(
        store
            .get_access_token(&a, b"at", T0)
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        store
            .get_session(&a, b"s", T0)
            .await
            .expect("get")
            .is_some()
    );
    assert_eq!(
        store
            .put_access_token(&access_token(&a, b"at-new", "g"))
            .await,
        Ok(())
    );
    assert_eq!(store.list_signing_keys(&a).await.expect("list").len(), 1);
}

/// Purge deletes only expired rows, at most `batch` per table per call, and leaves live ones.
pub async fn purge_removes_expired_rows_in_bounded_batches(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let soon = T0 + Duration::minutes(1);
    let late = T0 + Duration::days(2);
    for i in 0..5u8 {
        store
            .put_ceremony(&t, &format!("old-{i}"), "k", vec![i], soon)
            .await
            .expect("put");
        let mut s = session(&t, &[b's', i], "u1");
        s.expires_at = soon;
        store.create_session(&s).await.expect("session");
        let mut at = access_token(&t, &[b'a', i], "g");
        at.expires_at = soon;
        store.put_access_token(&at).await.expect("at");
    }
    store
        .put_ceremony(&t, "live", "k", vec![1], late)
        .await
        .expect("put");
    let mut live_session = session(&t, b"live", "u1");
    live_session.expires_at = late;
    store.create_session(&live_session).await.expect("session");
    let mut live_token = access_token(&t, b"live", "g");
    live_token.expires_at = late;
    store.put_access_token(&live_token).await.expect("at");
    store
        .put_auth_code(&auth_code(&t, b"unredeemed", "g1"))
        .await
        .expect("code");
    store
        .put_refresh_token(&refresh_token(&t, b"rt", "g2"))
        .await
        .expect("rt");

    let now = T0 + Duration::days(1) + Duration::hours(1);
    let first = store.purge_expired(now, 2).await.expect("purge");
    assert!(first <= 2 * 7, "at most `batch` rows per table: {first}");
    assert!(first >= 2, "something was purged");
    let mut total = first;
    loop {
        let n = store.purge_expired(now, 2).await.expect("purge");
        if n == 0 {
            break;
        }
        total += n;
    }
    // 5 ceremonies + 5 sessions + 5 access tokens + 1 code + 1 refresh token.
    assert_eq!(total, 17);
    assert_eq!(
        store.peek_ceremony(&t, "live", "k", now).await,
        Ok(Some(vec![1]))
    );
    assert!(
        store
            .get_session(&t, b"live", now)
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        store
            .get_access_token(&t, b"live", now)
            .await
            .expect("get")
            .is_some()
    );
    assert_eq!(store.purge_expired(now, 0).await, Ok(0));
}

/// A reachable store reports healthy.
pub async fn health_is_ok(store: Arc<dyn Store>) {
    assert_eq!(store.health().await, Ok(()));
}

/// Every operation on a store whose database is gone (closed pool, unreachable server) fails with
/// [`StoreError::Unavailable`], never `None`, `NotFound` or a "regressed"/"reused" verdict. Backends call this with a
/// broken store.
pub async fn failure_is_unavailable_never_not_found(store: Arc<dyn Store>) {
    fn unavailable<T: std::fmt::Debug>(what: &str, result: Result<T, StoreError>) {
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{what}: {result:?}"
        );
    }
    let t = tenant_id("alpha");
    let u = user_id("u1");
    unavailable("health", store.health().await);
    unavailable("create_tenant", store.create_tenant(&tenant("alpha")).await);
    unavailable("get_tenant", store.get_tenant(&t).await);
    unavailable("list_tenants", store.list_tenants().await);
    unavailable("update_tenant", store.update_tenant(&tenant("alpha")).await);
    unavailable(
        "create_client",
        store.create_client(&client(&t, "app")).await,
    );
    unavailable("get_client", store.get_client(&t, &client_id("app")).await);
    unavailable("list_clients", store.list_clients(&t).await);
    unavailable(
        "delete_client",
        store.delete_client(&t, &client_id("app")).await,
    );
    unavailable(
        "create_user_with_credential",
        store
            .create_user_with_credential(&user(&t, "u1", "a"), &credential(&t, "u1", b"c"))
            .await,
    );
    unavailable("get_user", store.get_user(&t, &u).await);
    unavailable(
        "find_user_by_username",
        store.find_user_by_username(&t, "a").await,
    );
    unavailable(
        "find_user_by_handle",
        store.find_user_by_handle(&t, b"h").await,
    );
    unavailable(
        "add_credential",
        store.add_credential(&credential(&t, "u1", b"c")).await,
    );
    unavailable("get_credential", store.get_credential(&t, b"c").await);
    unavailable("list_credentials", store.list_credentials(&t, &u).await);
    unavailable(
        "rename_credential",
        store.rename_credential(&t, &u, b"c", "n").await,
    );
    unavailable(
        "delete_credential",
        store.delete_credential(&t, &u, b"c").await,
    );
    unavailable(
        "bump_sign_count",
        store.bump_sign_count(&t, b"c", 0, 1, false, T0).await,
    );
    unavailable(
        "put_ceremony",
        store.put_ceremony(&t, "c", "k", vec![], T0).await,
    );
    unavailable("take_ceremony", store.take_ceremony(&t, "c", "k", T0).await);
    unavailable("peek_ceremony", store.peek_ceremony(&t, "c", "k", T0).await);
    unavailable(
        "put_auth_code",
        store.put_auth_code(&auth_code(&t, b"c", "g")).await,
    );
    unavailable(
        "consume_auth_code",
        store.consume_auth_code(&t, b"c", T0).await,
    );
    unavailable(
        "put_access_token",
        store.put_access_token(&access_token(&t, b"a", "g")).await,
    );
    unavailable(
        "get_access_token",
        store.get_access_token(&t, b"a", T0).await,
    );
    unavailable(
        "put_refresh_token",
        store.put_refresh_token(&refresh_token(&t, b"r", "g")).await,
    );
    unavailable(
        "rotate_refresh_token",
        store
            .rotate_refresh_token(&t, b"r", &refresh_token(&t, b"r2", "g"), T0)
            .await,
    );
    unavailable("revoke_grant", store.revoke_grant(&t, "g", T0).await);
    unavailable(
        "get_refresh_token",
        store.get_refresh_token(&t, b"rt", T0).await,
    );
    unavailable(
        "create_session",
        store.create_session(&session(&t, b"s", "u1")).await,
    );
    unavailable("get_session", store.get_session(&t, b"s", T0).await);
    unavailable("delete_session", store.delete_session(&t, b"s").await);
    unavailable(
        "delete_session_by_sid",
        store.delete_session_by_sid(&t, &u, "sid").await,
    );
    unavailable(
        "delete_user_sessions",
        store.delete_user_sessions(&t, &u).await,
    );
    unavailable(
        "put_signing_key",
        store
            .put_signing_key(&signing_key(&t, "k", KeyStatus::Active))
            .await,
    );
    unavailable("list_signing_keys", store.list_signing_keys(&t).await);
    unavailable(
        "activate_signing_key",
        store.activate_signing_key(&t, "k").await,
    );
    unavailable(
        "retire_signing_key",
        store.retire_signing_key(&t, "k", T0).await,
    );
    unavailable(
        "delete_retired_signing_keys",
        store.delete_retired_signing_keys(&t, T0).await,
    );
    unavailable("purge_expired", store.purge_expired(T0, 10).await);
}
