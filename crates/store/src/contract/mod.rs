//! The store contract: one async test function per behaviour, which every backend's test file runs through
//! [`crate::store_contract_tests!`]. Each function gets a fresh, empty store and panics (as a test does) when the
//! backend breaks the rule its name states.
//!
//! By area: `tenants` (tenants, clients, signing keys), `users` (users, credentials), `conditional` (writes based
//! on a read: stale is `Changed`, and of two at once one wins), `grants` (the sign-count rule,
//! sign-in records, codes, tokens, sessions), `filters` (the admin lists' filters, paged), `ceremonies`, `notify` (wake-ups across nodes), and `general` (unusual values, tenant isolation, the
//! purge, failing closed). This file holds the fixture, the test generator and the record builders.

mod ceremonies;
mod conditional;
mod filters;
mod general;
mod grants;
mod notify;
mod tenants;
mod users;

pub use ceremonies::*;
pub use conditional::*;
pub use filters::*;
pub use general::*;
pub use grants::*;
pub use notify::*;
pub use tenants::*;
pub use users::*;

use crate::prelude::*;
use crate::{
    AccessToken, AuthCode, Client, CodeRedemption, Credential, GrantPasskey, KeyStatus,
    RefreshRotation, RefreshToken, Session, SignCountBump, SignCountRegression, SignCountUpdate,
    SigningKey, StoreError, Tenant, TenantContents, TenantDeletion, User,
};
use async_trait::async_trait;
use std::future::Future;
use std::sync::Arc;
use tessera_core::{ClientId, TenantId, UserId};
use time::{Duration, OffsetDateTime, macros::datetime};

/// A fresh store for one contract test, and whatever must be cleaned up after it (a temp file, a schema).
#[async_trait]
pub trait Fixture: Send + Sync + 'static {
    /// The store under test.
    fn store(&self) -> Arc<dyn Store>;
    /// A second store on the same database, as another node would open it, for the rules across nodes (the
    /// notifier). A single-node backend returns the store under test itself. The fixture closes it at teardown.
    async fn another_node(&self) -> Arc<dyn Store> {
        self.store()
    }
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
    finish(fixture, outcome).await;
}

/// Runs one contract function on a fixture's store and [`Fixture::another_node`], as [`run`] does.
pub async fn run_across_nodes<F, Fut>(fixture: impl Fixture, test: F)
where
    F: FnOnce(Arc<dyn Store>, Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let other = fixture.another_node().await;
    let outcome = tokio::spawn(test(fixture.store(), other)).await;
    finish(fixture, outcome).await;
}

async fn finish(fixture: impl Fixture, outcome: Result<(), tokio::task::JoinError>) {
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
            client_create_and_read,
            client_duplicate_id_is_conflict,
            client_of_missing_tenant_is_not_found,
            client_list_update_and_missing,
            clients_page_in_client_id_order_after_a_cursor,
            clients_filtered_in_the_store_page_without_gaps_or_repeats,
            users_filtered_by_status_page_without_gaps_or_repeats,
            client_secret_replacement_keeps_only_the_new_hash,
            client_delete_removes_what_it_was_issued,
            signing_key_rotation_lifecycle,
            create_tenant_with_keys_is_all_or_nothing,
            create_tenant_with_keys_refuses_a_key_of_another_tenant,
            tenant_update_from_a_stale_revision_is_conflict,
            tenant_concurrent_updates_from_one_revision_have_one_winner,
            client_update_from_a_stale_read_is_changed,
            client_concurrent_updates_from_one_read_have_one_winner,
            user_writes_from_a_stale_read_are_changed,
            credential_writes_from_a_stale_read_are_changed,
            tenant_delete_refuses_what_is_not_empty_unless_forced,
            user_with_credential_round_trips,
            create_user_with_credential_is_all_or_nothing,
            create_user_with_credential_refuses_mismatched_owner,
            username_uniqueness_is_case_insensitive,
            user_handle_is_unique_per_tenant,
            credential_id_is_unique_per_tenant,
            add_credential_requires_existing_user,
            rename_credential_requires_owner,
            delete_credential_requires_owner,
            last_credential_cannot_be_deleted,
            deleting_a_credential_ends_its_sessions_and_revokes_its_grants,
            users_are_searched_by_username_prefix_and_paged,
            users_are_searched_by_display_name_prefix_too,
            deleting_a_user_ends_their_sessions_and_grants_and_frees_the_username,
            disabling_a_user_ends_their_sessions_and_grants_and_keeps_their_passkeys,
            code_stored_with_its_passkey_binding_is_revoked_with_the_passkey,
            credential_id_is_registered_once_per_rp_id,
            touched_session_reads_its_last_use,
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
            auth_code_redemption_is_single_use_and_reuse_is_reported,
            auth_code_concurrent_redemption_has_one_winner,
            auth_code_redeemed_with_its_tokens_in_one_write,
            auth_code_concurrent_redemption_with_tokens_has_one_winner,
            auth_code_expired_is_not_redeemed,
            auth_code_reuse_after_expiry_is_still_reported,
            access_token_is_returned_until_expiry,
            refresh_rotation_reuse_is_reported,
            refresh_rotation_of_unknown_or_expired_token_is_not_found,
            revoked_grant_tokens_are_gone_and_refused,
            revoked_grant_mark_is_kept_from_the_callers_now,
            refresh_token_lookup_returns_live_and_spent_tokens_with_payload,
            refresh_token_lookup_refuses_unknown_expired_and_revoked,
            session_facts_and_sid_round_trip,
            session_is_ended_by_sid_only_for_its_user,
            session_create_read_expire_delete,
            ceremony_take_is_single_use_under_concurrency,
            ceremony_expired_is_not_returned,
            ceremony_of_another_kind_is_not_returned,
            ceremony_peek_does_not_consume,
            ceremony_duplicate_id_is_conflict,
            unusual_values_round_trip,
            tenant_isolation,
            purge_removes_expired_rows_in_bounded_batches,
        );
        $crate::store_contract_tests!(@across_nodes $setup;
            notify_wakes_subscribers_on_every_node,
            notify_reaches_only_its_topic,
        );
    };
    (@across_nodes $setup:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(fixture) = $setup().await {
                    $crate::contract::run_across_nodes(fixture, $crate::contract::$name).await;
                }
            }
        )*
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
        revision: Tenant::FIRST_REVISION,
        settings: serde_json::json!({}),
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
        disabled_at: None,
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
        passkey: None,
    }
}

/// The grant passkey `credential_id`, its grant issued a minute before [`T0`].
pub fn issued_from(credential_id: &[u8]) -> Option<GrantPasskey> {
    Some(GrantPasskey {
        credential_id: credential_id.to_vec(),
        granted_at: T0 - Duration::minutes(1),
    })
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
        passkey: None,
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
        passkey: None,
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
        credential_id: None,
        last_seen_at: T0,
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
    store
        .create_tenant_with_keys(&tenant, &[])
        .await
        .expect("create tenant");
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

/// A counter update of credential `id` from `expected_old` to `new`.
fn sign_count_bump(id: &[u8], expected_old: u32, new: u32) -> SignCountBump {
    SignCountBump {
        credential_id: id.to_vec(),
        expected_old,
        new,
        backup_state: true,
        used_at: T0 + Duration::minutes(2),
    }
}

/// The counter update of one sign-in of user `u1` with clones refused, as the application makes it: the session
/// starts only when the counter moved forward.
async fn sign_in(
    store: &dyn Store,
    t: &TenantId,
    id: &[u8],
    expected_old: u32,
    new: u32,
    backup_state: bool,
    used_at: OffsetDateTime,
) -> Result<SignCountUpdate, StoreError> {
    let bump = SignCountBump {
        credential_id: id.to_vec(),
        expected_old,
        new,
        backup_state,
        used_at,
    };
    let hash = format!("sign-in-{expected_old}-{new}-{}", used_at.unix_timestamp());
    store
        .record_sign_in(
            &bump,
            SignCountRegression::Refuse,
            None,
            &session(t, hash.as_bytes(), "u1"),
        )
        .await
}
