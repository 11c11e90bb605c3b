//! [`BrokerStore`]: the identity broker's storage, beside [`crate::Store`] and under the same rules.
//!
//! Every method takes the broker tenant first; lookups return `Ok(None)` when nothing matches; errors are
//! `NotFound | Conflict | Unavailable | Corrupt`, and a database failure is always [`crate::StoreError::Unavailable`].
//! Broker tenants are their own namespace: a broker tenant and an authenticator-service tenant with the same id
//! share no rows.

use crate::broker_records::{
    BrokerApplication, BrokerSession, BrokerTenant, BrokerTenantContents, DirectoryIdentity,
    DirectoryPage, DirectoryUserRecord, FlowVersionRecord, IdentityProviderRecord,
    IdentityProviderSummary, LocalCredential, ProviderCache, UserFlowRecord,
};
use crate::{
    AuthCode, CodeRedemption, RefreshRotation, RefreshToken, Result, SigningKey, TenantDeletion,
};
use async_trait::async_trait;
use tessera_core::{ClientId, TenantId, UserId};
use time::{Duration, OffsetDateTime};

/// How long a broker transaction (the correlation of an upstream sign-in) may live: long enough for a passkey prompt
/// that takes minutes. The caller sets each transaction's expiry; this is the value the service uses.
pub const BROKER_TRANSACTION_LIFETIME: Duration = Duration::minutes(15);

/// The identity broker's storage. Implementations are cheap to share (`Arc<dyn BrokerStore>`) and safe to call
/// concurrently, also from several processes on one database (PostgreSQL).
#[async_trait]
pub trait BrokerStore: Send + Sync {
    // ---- broker tenants and their signing keys ----

    /// Creates a broker tenant and its first signing keys in one transaction: all or nothing.
    /// [`crate::StoreError::Conflict`] if the id exists or two keys share a kid; every key's `tenant` must be the
    /// tenant's id (else `Conflict`).
    async fn create_broker_tenant(&self, tenant: &BrokerTenant, keys: &[SigningKey]) -> Result<()>;
    /// Reads a broker tenant.
    async fn get_broker_tenant(&self, tenant: &TenantId) -> Result<Option<BrokerTenant>>;
    /// Lists all broker tenants, ordered by id.
    async fn list_broker_tenants(&self) -> Result<Vec<BrokerTenant>>;
    /// Adds a signing key (rotation); `Conflict` if its kid exists, `NotFound` without the tenant.
    async fn put_broker_signing_key(&self, key: &SigningKey) -> Result<()>;
    /// Lists a broker tenant's signing keys (all statuses), oldest first.
    async fn list_broker_signing_keys(&self, tenant: &TenantId) -> Result<Vec<SigningKey>>;
    /// Rotates a broker tenant's signing keys in one transaction: stores `new`. If any of them is
    /// [`crate::KeyStatus::Active`] (an immediate rotation: they sign from now on), every other key not yet retired
    /// is retired at `at` (it stops signing and stays published until the caller's grace ends); pending keys (a
    /// staged rotation) are only published, and [`BrokerStore::activate_broker_signing_key`] switches to them
    /// later. `NotFound` without the tenant, `Conflict` if a kid exists or a key names another tenant; then nothing
    /// changes.
    async fn rotate_broker_signing_keys(
        &self,
        tenant: &TenantId,
        new: &[SigningKey],
        at: OffsetDateTime,
    ) -> Result<()>;
    /// Switches a broker tenant to a pending key in one transaction: marks `kid` active (it signs from now on) and
    /// retires at `at` every other key of its algorithm not yet retired and created no later than it (a newer
    /// pending key waits for its own turn). `NotFound` if the key is absent, `Conflict` if it was retired; then
    /// nothing changes.
    async fn activate_broker_signing_key(
        &self,
        tenant: &TenantId,
        kid: &str,
        at: OffsetDateTime,
    ) -> Result<()>;
    /// Replaces a broker tenant's display name, only if it is still at `tenant.revision` (the revision it was read
    /// at), and returns its new revision. `Conflict` if it changed since (nothing is written), `NotFound` if absent.
    async fn update_broker_tenant(&self, tenant: &BrokerTenant) -> Result<u64>;
    /// Deletes a broker tenant with everything of it — applications, identity providers, user flows and their
    /// versions, directory users with their identities, signing keys, sessions, codes, refresh tokens,
    /// transactions, pending sign-ups and revoked-grant marks — in one transaction. Unless `force`, a tenant that
    /// still has applications, identity providers, user flows or directory users is kept and
    /// [`TenantDeletion::NotEmpty`] says how many (counted in the same transaction). `NotFound` if absent.
    async fn delete_broker_tenant(
        &self,
        tenant: &TenantId,
        force: bool,
    ) -> Result<TenantDeletion<BrokerTenantContents>>;

    // ---- applications ----

    /// Registers an application; `Conflict` if its client id exists in the tenant, `NotFound` without the tenant.
    async fn create_broker_application(&self, application: &BrokerApplication) -> Result<()>;
    /// Reads an application by client id.
    async fn get_broker_application(
        &self,
        tenant: &TenantId,
        client_id: &ClientId,
    ) -> Result<Option<BrokerApplication>>;
    /// Lists a tenant's applications, ordered by client id.
    async fn list_broker_applications(&self, tenant: &TenantId) -> Result<Vec<BrokerApplication>>;
    /// One page of a tenant's applications, ordered by client id: at most `limit` from the `offset`-th, and how many
    /// the tenant has.
    async fn list_broker_applications_page(
        &self,
        tenant: &TenantId,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<BrokerApplication>, u64)>;
    /// One page of a tenant's applications whose client id or display name starts with `filter.prefix` (folded:
    /// Unicode lowercase, the name as [`crate::fold_display_name`] stores it at every write) and whose kind is
    /// `filter.client_type`, ordered by client id (bytes), after the client id `after`, at most `limit`. The filter
    /// is applied in the store, before the page is cut: following `after` neither misses nor repeats a match.
    async fn list_broker_applications_filtered(
        &self,
        tenant: &TenantId,
        filter: &crate::ClientFilter,
        after: Option<&ClientId>,
        limit: u32,
    ) -> Result<Vec<BrokerApplication>>;
    /// Replaces an application's secret hash and settings (not its id or creation time); `NotFound` if absent.
    /// With `expected` (the application as the caller read it) the write is conditional: `Changed` if the stored
    /// application differs from it, and nothing is written (of two writes based on one read, one succeeds).
    async fn update_broker_application(
        &self,
        application: &BrokerApplication,
        expected: Option<&BrokerApplication>,
    ) -> Result<()>;
    /// Deletes an application; `NotFound` if absent, `Changed` if `expected` is given and the stored application
    /// differs from it.
    async fn delete_broker_application(
        &self,
        tenant: &TenantId,
        client_id: &ClientId,
        expected: Option<&BrokerApplication>,
    ) -> Result<()>;

    // ---- identity providers ----

    /// Adds a provider whose metadata the caller has validated; `Conflict` if its id exists in the tenant,
    /// `NotFound` without the tenant.
    async fn create_identity_provider(&self, provider: &IdentityProviderRecord) -> Result<()>;
    /// Reads a provider.
    async fn get_identity_provider(
        &self,
        tenant: &TenantId,
        provider_id: &str,
    ) -> Result<Option<IdentityProviderRecord>>;
    /// Lists a tenant's providers, ordered by id.
    async fn list_identity_providers(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<IdentityProviderRecord>>;
    /// Lists up to `limit` of a tenant's providers with ids greater than `after`, ordered by id, without their
    /// secrets and cached documents (a list page reads only what it shows). With `prefix`, only those whose id or
    /// name starts with it (folded: Unicode lowercase; the name as [`crate::fold_display_name`] stores it at every
    /// write), filtered in the store before the page is cut.
    async fn list_identity_provider_summaries(
        &self,
        tenant: &TenantId,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<IdentityProviderSummary>>;
    /// Replaces a provider's configuration, encrypted secret, cache and update time (after the caller validated the
    /// metadata again); `NotFound` if absent. With `expected` (the provider as the caller read it), only if the
    /// stored provider's configuration, secret and update time still equal it
    /// ([`IdentityProviderRecord::same_configuration`]: a metadata refresh in between does not count), else
    /// `Changed` and nothing is written.
    async fn update_identity_provider(
        &self,
        provider: &IdentityProviderRecord,
        expected: Option<&IdentityProviderRecord>,
    ) -> Result<()>;
    /// Replaces only a provider's cached metadata and JWKS (a scheduled refresh, or an unknown `kid`);
    /// `NotFound` if absent.
    async fn refresh_provider_metadata(
        &self,
        tenant: &TenantId,
        provider_id: &str,
        cache: &ProviderCache,
    ) -> Result<()>;
    /// Deletes a provider; `NotFound` if absent, `Changed` if `expected` is given and the stored provider's
    /// configuration differs from it ([`IdentityProviderRecord::same_configuration`]).
    async fn delete_identity_provider(
        &self,
        tenant: &TenantId,
        provider_id: &str,
        expected: Option<&IdentityProviderRecord>,
    ) -> Result<()>;

    // ---- user flows, with append-only versions ----

    /// Creates a flow with its first version (which must be number 1, else `Conflict`) in one transaction;
    /// `Conflict` if the policy key exists in the tenant, `NotFound` without the tenant.
    async fn create_flow(&self, flow: &UserFlowRecord, first: &FlowVersionRecord) -> Result<()>;
    /// Reads a flow.
    async fn get_flow(&self, tenant: &TenantId, policy_key: &str)
    -> Result<Option<UserFlowRecord>>;
    /// Lists a tenant's flows, ordered by policy key.
    async fn list_flows(&self, tenant: &TenantId) -> Result<Vec<UserFlowRecord>>;
    /// Appends `version` (numbered `expected_last + 1`, else `Conflict`) only if the flow's last version is still
    /// `expected_last`: of two admins saving from the same version, one gets `Conflict`. `NotFound` without the flow.
    async fn append_flow_version(
        &self,
        tenant: &TenantId,
        policy_key: &str,
        expected_last: u32,
        version: &FlowVersionRecord,
    ) -> Result<()>;
    /// Reads one version of a flow (the one a sign-in in progress started with).
    async fn get_flow_version(
        &self,
        tenant: &TenantId,
        policy_key: &str,
        number: u32,
    ) -> Result<Option<FlowVersionRecord>>;
    /// Reads a flow's last version.
    async fn get_current_flow_version(
        &self,
        tenant: &TenantId,
        policy_key: &str,
    ) -> Result<Option<FlowVersionRecord>>;
    /// Lists a flow's versions, oldest first.
    async fn list_flow_versions(
        &self,
        tenant: &TenantId,
        policy_key: &str,
    ) -> Result<Vec<FlowVersionRecord>>;
    /// Deletes a flow with all its versions in one transaction; `NotFound` if absent. Sign-ins in progress on it
    /// then find no version to finish on.
    async fn delete_flow(&self, tenant: &TenantId, policy_key: &str) -> Result<()>;

    // ---- transactions and pending sign-ups (single use, with expiry) ----

    /// Stores an upstream sign-in's transaction under the hash of its `state`; `Conflict` if the hash exists.
    async fn put_broker_transaction(
        &self,
        tenant: &TenantId,
        state_hash: &[u8],
        payload: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<()>;
    /// Removes and returns a transaction in one statement, only if it has not expired at `now`: exactly one of any
    /// number of concurrent callers (on any node) gets it.
    async fn take_broker_transaction(
        &self,
        tenant: &TenantId,
        state_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>>;
    /// Stores a sign-up waiting for the attribute page under the hash of its handle; `Conflict` if it exists.
    async fn put_pending_signup(
        &self,
        tenant: &TenantId,
        handle_hash: &[u8],
        payload: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<()>;
    /// Removes and returns a pending sign-up in one statement, only if it has not expired at `now`.
    async fn take_pending_signup(
        &self,
        tenant: &TenantId,
        handle_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>>;

    // ---- directory ----

    /// Finds the user an `(issuer, subject)` identity signs in as (never by email).
    async fn find_user_by_identity(
        &self,
        tenant: &TenantId,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<DirectoryUserRecord>>;
    /// Reads a user by object id.
    async fn get_directory_user(
        &self,
        tenant: &TenantId,
        object_id: &UserId,
    ) -> Result<Option<DirectoryUserRecord>>;
    /// Writes a new user and their first identity in one transaction: both or nothing. `Conflict` on a duplicate
    /// object id or an identity that already signs in as someone; `NotFound` without the tenant. The record's own
    /// `identities`, `last_sign_in_at` and `disabled_at` are ignored: the user has exactly `identity`.
    async fn create_user_with_identity(
        &self,
        user: &DirectoryUserRecord,
        identity: &DirectoryIdentity,
    ) -> Result<()>;
    /// Records a sign-in at `at`; `NotFound` if the user is absent, `Conflict` if they are disabled.
    async fn record_broker_sign_in(
        &self,
        tenant: &TenantId,
        object_id: &UserId,
        at: OffsetDateTime,
    ) -> Result<()>;
    /// Searches users whose email, display name, given name or surname starts with `query` (Unicode lowercase on
    /// both sides; an empty query matches everyone), ordered by object id, at most `limit` per page, starting after
    /// the cursor `after` (the previous page's `next`); with `status`, only the enabled or only the disabled ones.
    async fn search_directory_users(
        &self,
        tenant: &TenantId,
        query: &str,
        status: Option<crate::AccountStatus>,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<DirectoryPage>;
    /// Disables a user at `at` and, in the same transaction, deletes their broker sessions and refresh tokens;
    /// later sessions and refresh tokens for them are refused. Disabling a disabled user keeps the first time.
    /// `NotFound` if absent. With `expected` (the user as the caller read it), only if the stored user still
    /// equals it, else `Changed` and nothing changes (so for the next three methods).
    async fn disable_directory_user(
        &self,
        tenant: &TenantId,
        object_id: &UserId,
        at: OffsetDateTime,
        expected: Option<&DirectoryUserRecord>,
    ) -> Result<()>;
    /// Enables a disabled user again; `NotFound` if absent, `Changed` as for disabling.
    async fn enable_directory_user(
        &self,
        tenant: &TenantId,
        object_id: &UserId,
        expected: Option<&DirectoryUserRecord>,
    ) -> Result<()>;
    /// Deletes a user with their identities, sessions and refresh tokens in one transaction; `NotFound` if absent,
    /// `Changed` as for disabling.
    async fn delete_directory_user(
        &self,
        tenant: &TenantId,
        object_id: &UserId,
        expected: Option<&DirectoryUserRecord>,
    ) -> Result<()>;

    // ---- sessions, codes and refresh tokens of broker tenants (the provider's rules) ----

    /// Stores a session; `Conflict` if its hash or `sid` exists or its user is disabled, `NotFound` without the user.
    async fn create_broker_session(&self, session: &BrokerSession) -> Result<()>;
    /// Reads a live session.
    async fn get_broker_session(
        &self,
        tenant: &TenantId,
        id_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<BrokerSession>>;
    /// Deletes a session (sign-out). Idempotent.
    async fn delete_broker_session(&self, tenant: &TenantId, id_hash: &[u8]) -> Result<()>;
    /// Stores an authorization code for an app; `Conflict` if its hash exists.
    async fn put_broker_auth_code(&self, code: &AuthCode) -> Result<()>;
    /// A sign-in's writes in one transaction: records the sign-in of the session's user at `at`
    /// ([`BrokerStore::record_broker_sign_in`]), stores the session ([`BrokerStore::create_broker_session`]) and
    /// the app's code ([`BrokerStore::put_broker_auth_code`]). All or nothing: `NotFound` without the user,
    /// `Conflict` if they are disabled or a hash or `sid` exists, and then nothing is written.
    async fn start_broker_session(
        &self,
        session: &BrokerSession,
        code: &AuthCode,
        at: OffsetDateTime,
    ) -> Result<()>;
    /// A sign-up's writes in one transaction: the new user with their first identity
    /// ([`BrokerStore::create_user_with_identity`]), their sign-in at `at`, the session and the app's code
    /// ([`BrokerStore::start_broker_session`]). All or nothing, so a sign-up that fails at its last step leaves no
    /// user behind: `Conflict` on a duplicate object id, an identity that already signs in as someone, or a hash or
    /// `sid` that exists; `NotFound` without the tenant.
    async fn sign_up_broker_user(
        &self,
        user: &DirectoryUserRecord,
        identity: &DirectoryIdentity,
        session: &BrokerSession,
        code: &AuthCode,
        at: OffsetDateTime,
    ) -> Result<()>;
    /// Redeems a code with one conditional update, as [`crate::Store::consume_auth_code`]: the first redemption of
    /// a live code gets it, a later one learns the grant to revoke.
    async fn consume_broker_auth_code(
        &self,
        tenant: &TenantId,
        code_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<CodeRedemption>;
    /// Stores a refresh token (`user_id` is the object id); `Conflict` if its hash exists, its grant was revoked or
    /// its user is disabled, `NotFound` without the user.
    async fn put_broker_refresh_token(&self, token: &RefreshToken) -> Result<()>;
    /// Reads an unexpired refresh token of an unrevoked grant, spent or not.
    async fn get_broker_refresh_token(
        &self,
        tenant: &TenantId,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<RefreshToken>>;
    /// Atomically spends a live refresh token and stores its successor. A token already spent is reuse: in the
    /// same transaction its whole family (grant) is revoked, and [`RefreshRotation::Reused`] returned.
    async fn rotate_broker_refresh_token(
        &self,
        tenant: &TenantId,
        old_hash: &[u8],
        new: &RefreshToken,
        now: OffsetDateTime,
    ) -> Result<RefreshRotation>;
    /// Revokes a grant at `now`: deletes its refresh tokens and refuses new ones for it (kept
    /// [`crate::REVOKED_GRANT_RETENTION`]). Idempotent.
    async fn revoke_broker_grant(
        &self,
        tenant: &TenantId,
        grant_id: &str,
        now: OffsetDateTime,
    ) -> Result<()>;

    // ---- local accounts (passkeys registered with the broker itself) ----

    /// A local sign-up's writes in one transaction: the new user with their local identity, their passkey
    /// (`credential`, whose `object_id` must be the user's), their sign-in at `at`, the session and the app's code.
    /// All or nothing, as [`BrokerStore::sign_up_broker_user`]: `Conflict` also when the credential id is registered
    /// already (in this broker tenant).
    async fn sign_up_local_user(
        &self,
        user: &DirectoryUserRecord,
        identity: &DirectoryIdentity,
        credential: &LocalCredential,
        session: &BrokerSession,
        code: &AuthCode,
        at: OffsetDateTime,
    ) -> Result<()>;
    /// A local account's recovery (a lost passkey, the address verified again) in one transaction: a new passkey
    /// for the existing user `credential.object_id` (the same object id, identities and claims), with
    /// `remove_others` their other passkeys deleted, then their sign-in at `at`, the session and the app's code (as
    /// [`BrokerStore::start_broker_session`]). All or nothing: `NotFound` without the user, `Conflict` if they are
    /// disabled, the credential id is registered already (in this broker tenant) or a hash or `sid` exists.
    async fn recover_local_account(
        &self,
        credential: &LocalCredential,
        remove_others: bool,
        session: &BrokerSession,
        code: &AuthCode,
        at: OffsetDateTime,
    ) -> Result<()>;
    /// Reads a local account's passkey by its credential id, in this broker tenant only.
    async fn get_local_credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
    ) -> Result<Option<LocalCredential>>;
    /// The passkeys of a directory user, oldest first.
    async fn list_local_credentials(
        &self,
        tenant: &TenantId,
        object_id: &UserId,
    ) -> Result<Vec<LocalCredential>>;
    /// Records a verified sign-in with a passkey: the new counter and backup state and the time, with one
    /// conditional update on the counter the caller verified against (`expected_old`). `false` when the credential
    /// is gone or its counter moved meanwhile (a concurrent sign-in), and then nothing changes.
    async fn record_local_credential_use(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        expected_old: u32,
        new: u32,
        backup_state: bool,
        at: OffsetDateTime,
    ) -> Result<bool>;
    /// Counts one more one-time code sent for `key_hash` (the hash of an email address or a client address): `true`
    /// and counted when fewer than `limit` were sent in the current window of `window` (a window starts at the
    /// first send after the last one ended), `false` and nothing counted otherwise. One statement's worth of
    /// atomicity: concurrent callers never exceed `limit` between them.
    async fn count_code_send(
        &self,
        tenant: &TenantId,
        key_hash: &[u8],
        window: Duration,
        limit: u32,
        now: OffsetDateTime,
    ) -> Result<bool>;

    // ---- maintenance ----

    /// Deletes expired transactions, pending sign-ups, sessions, codes (redeemed ones after
    /// [`crate::REDEEMED_CODE_RETENTION`]), refresh tokens and revoked-grant marks, at most `batch` rows per table
    /// per call; returns how many rows were deleted.
    async fn purge_expired_broker(&self, now: OffsetDateTime, batch: u32) -> Result<u64>;
}

/// Folds a policy id into its key: Unicode lowercase (`B2C_1_SignUpSignIn` and `b2c_1_signupsignin` are one flow).
pub fn policy_key(policy_id: &str) -> String {
    policy_id.to_lowercase()
}

/// Folds a directory value (email, name) or a search query for prefix search: Unicode lowercase.
pub fn fold_search(value: &str) -> String {
    value.to_lowercase()
}

/// The folded display name of a broker application (its settings' `display_name`), stored beside it for the
/// admin lists' filter.
pub fn application_name_folded(settings: &serde_json::Value) -> String {
    crate::fold_display_name(settings["display_name"].as_str().unwrap_or_default())
}

/// The folded name of an identity provider (its configuration's `name`), stored beside it for the admin lists'
/// filter.
pub fn provider_name_folded(config: &serde_json::Value) -> String {
    crate::fold_display_name(config["name"].as_str().unwrap_or_default())
}

/// The SQL filter values of a provider list's `prefix`: the id pattern (ASCII lowercase: provider ids are ASCII)
/// and the name pattern (Unicode lowercase, as [`provider_name_folded`] stores it); no prefix matches every row.
pub fn provider_prefix_binds(prefix: Option<&str>) -> (String, String) {
    let prefix = prefix.unwrap_or_default().trim();
    (
        crate::filters::like_prefix(&prefix.to_ascii_lowercase()),
        crate::filters::like_prefix(&crate::fold_display_name(prefix)),
    )
}

/// The SQL `LIKE` pattern matching values that start with `query`: `%`, `_` and `\` are escaped with `\`.
pub fn prefix_pattern(query: &str) -> String {
    let mut pattern = String::with_capacity(query.len() + 1);
    for c in fold_search(query).chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_pattern_escapes_wildcards_and_folds_case() {
        assert_eq!(prefix_pattern("Ann"), "ann%");
        assert_eq!(prefix_pattern("a_b%c\\"), "a\\_b\\%c\\\\%");
        assert_eq!(prefix_pattern(""), "%");
    }

    #[test]
    fn policy_key_ignores_case() {
        assert_eq!(
            policy_key("B2C_1_SignUpSignIn"),
            policy_key("b2c_1_signupsignin")
        );
    }
}
