//! Tessera's storage: one trait with intent-named atomic operations, and the contract every backend passes.
//!
//! - [`Store`]: the trait the HTTP layer holds as `Arc<dyn Store>`. Every tenant-scoped method takes the tenant first.
//!   One-time values are consumed atomically (`take_ceremony`, `consume_auth_code`, `rotate_refresh_token`), the sign
//!   counter moves by one conditional update (`bump_sign_count`), and sign-up is one transaction
//!   (`create_user_with_credential`). Never find-then-delete.
//! - [`records`]: the plain records stored ([`Tenant`], [`Client`], [`User`], [`Credential`], [`AuthCode`], tokens,
//!   [`Session`], [`SigningKey`]) and the outcomes of the atomic operations.
//! - [`error`]: [`StoreError`] — `NotFound | Conflict | Unavailable | Corrupt`. `Unavailable` fails closed.
//! - `contract` (feature `contract`): one async test function per behaviour, run by each backend's tests through
//!   `store_contract_tests!`, plus `contract::load`, the store work of one sign-in for load measurements.
//!
//! Implementations: `tessera-store-sqlite` (default, embedded) and `tessera-store-postgres` (multi-node).

pub mod broker;
pub mod broker_records;
pub mod error;
pub mod records;

#[cfg(feature = "contract")]
pub mod contract;
#[cfg(feature = "contract")]
pub mod contract_broker;

pub use broker::BrokerStore;
pub use broker_records::{
    BrokerApplication, BrokerSession, BrokerTenant, DirectoryIdentity, DirectoryPage,
    DirectoryUserRecord, FlowVersionRecord, IdentityProviderRecord, ProviderCache, UserFlowRecord,
};
pub use error::{Result, StoreError};
pub use records::{
    AccessToken, AuthCode, Client, CodeRedemption, Credential, KeyStatus, RefreshRotation,
    RefreshToken, Session, SignCountBump, SignCountUpdate, SigningKey, Tenant, User, fold_username,
};

use async_trait::async_trait;
use tessera_core::{ClientId, TenantId, UserId};
use time::{Duration, OffsetDateTime};

/// How long a redeemed authorization code is kept after its expiry, so that a late reuse is still recognised
/// (and the grant revoked) rather than reported as unknown.
pub const REDEEMED_CODE_RETENTION: Duration = Duration::hours(1);

/// How long a revoked grant is remembered, so that tokens from a redemption racing the revocation are refused.
pub const REVOKED_GRANT_RETENTION: Duration = Duration::days(1);

/// Tessera's storage. Implementations are cheap to share (`Arc<dyn Store>`) and safe to call concurrently, also from
/// several processes on one database (PostgreSQL).
///
/// Lookups return `Ok(None)` when nothing matches; mutations of a missing row return [`StoreError::NotFound`].
/// A database failure is always [`StoreError::Unavailable`], never `None` or `NotFound`.
#[async_trait]
pub trait Store: Send + Sync {
    // ---- tenants ----

    /// Creates a tenant; [`StoreError::Conflict`] if its id exists.
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()>;
    /// Reads a tenant.
    async fn get_tenant(&self, tenant: &TenantId) -> Result<Option<Tenant>>;
    /// Lists all tenants, ordered by id.
    async fn list_tenants(&self) -> Result<Vec<Tenant>>;
    /// Replaces a tenant's display name, RP id, origins and policy (not its id or creation time);
    /// [`StoreError::NotFound`] if it does not exist.
    async fn update_tenant(&self, tenant: &Tenant) -> Result<()>;

    // ---- clients ----

    /// Registers a client; [`StoreError::Conflict`] if its id exists in the tenant, [`StoreError::NotFound`] if the
    /// tenant does not exist.
    async fn create_client(&self, client: &Client) -> Result<()>;
    /// Reads a client.
    async fn get_client(&self, tenant: &TenantId, client_id: &ClientId) -> Result<Option<Client>>;
    /// Lists a tenant's clients, ordered by id.
    async fn list_clients(&self, tenant: &TenantId) -> Result<Vec<Client>>;
    /// Deletes a client; [`StoreError::NotFound`] if it does not exist.
    async fn delete_client(&self, tenant: &TenantId, client_id: &ClientId) -> Result<()>;

    // ---- users and credentials ----

    /// Creates a user and their first credential in one transaction: both or nothing. [`StoreError::Conflict`] on a
    /// duplicate user id, username (case-insensitive), user handle or credential id; [`StoreError::NotFound`] if the
    /// tenant does not exist. `credential.user_id` must equal `user.id` (else `Conflict`).
    async fn create_user_with_credential(&self, user: &User, credential: &Credential)
    -> Result<()>;
    /// Reads a user by id.
    async fn get_user(&self, tenant: &TenantId, user_id: &UserId) -> Result<Option<User>>;
    /// Finds a user by username, compared case-insensitively.
    async fn find_user_by_username(
        &self,
        tenant: &TenantId,
        username: &str,
    ) -> Result<Option<User>>;
    /// Finds a user by WebAuthn user handle.
    async fn find_user_by_handle(
        &self,
        tenant: &TenantId,
        user_handle: &[u8],
    ) -> Result<Option<User>>;

    /// Lists a tenant's users ordered by id, at most `limit`, starting after `after` (keyset pagination).
    async fn list_users(
        &self,
        tenant: &TenantId,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<Vec<User>>;
    /// Replaces a user's username, display name, email and email_verified (not the id, handle or creation time);
    /// [`StoreError::NotFound`] if absent, [`StoreError::Conflict`] if the new username is taken (case-insensitive).
    async fn update_user(&self, user: &User) -> Result<()>;
    /// Deletes a user with their credentials, sessions, and access and refresh tokens, in one transaction;
    /// [`StoreError::NotFound`] if absent.
    async fn delete_user(&self, tenant: &TenantId, user_id: &UserId) -> Result<()>;

    /// Adds a credential to an existing user; [`StoreError::Conflict`] on a duplicate credential id in the tenant,
    /// [`StoreError::NotFound`] if the user does not exist.
    async fn add_credential(&self, credential: &Credential) -> Result<()>;
    /// Reads a credential by id.
    async fn get_credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
    ) -> Result<Option<Credential>>;
    /// Lists a user's credentials, oldest first.
    async fn list_credentials(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
    ) -> Result<Vec<Credential>>;
    /// Renames one of a user's credentials; [`StoreError::NotFound`] unless the user owns it.
    async fn rename_credential(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
        credential_id: &[u8],
        nickname: &str,
    ) -> Result<()>;
    /// Deletes one of a user's credentials, atomically refusing ([`StoreError::Conflict`]) to delete the last one;
    /// [`StoreError::NotFound`] unless the user owns it.
    async fn delete_credential(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
        credential_id: &[u8],
    ) -> Result<()>;
    /// After a verified assertion: one conditional update that sets the counter to `new`, the backup state and the
    /// last use, only if the stored counter is still `expected_old` and `new > expected_old` (or both are zero).
    /// Otherwise nothing changes and [`SignCountUpdate::Regressed`] is returned. [`StoreError::NotFound`] if the
    /// credential does not exist.
    async fn bump_sign_count(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        expected_old: u32,
        new: u32,
        backup_state: bool,
        used_at: OffsetDateTime,
    ) -> Result<SignCountUpdate>;

    /// A verified sign-in, in one transaction: the counter update of [`Store::bump_sign_count`] on the credential
    /// of `bump` in `session.tenant`; then, unless the counter regressed and `refuse_regressed` is set, the browser's
    /// previous session `replaces` (if any) is deleted and `session` created. Returns the counter's outcome: the
    /// session exists afterwards exactly when it is [`SignCountUpdate::Updated`] or `refuse_regressed` is false.
    /// [`StoreError::NotFound`] (nothing changed) if the credential does not exist; [`StoreError::Conflict`]
    /// (nothing changed) if the session's hash or `sid` exists.
    async fn record_sign_in(
        &self,
        bump: &SignCountBump,
        refuse_regressed: bool,
        replaces: Option<&[u8]>,
        session: &Session,
    ) -> Result<SignCountUpdate>;

    // ---- one-time ceremony values (WebAuthn challenges, pending authorization requests) ----

    /// Stores a one-time value under `id` for a `kind` of ceremony; [`StoreError::Conflict`] if `id` exists.
    async fn put_ceremony(
        &self,
        tenant: &TenantId,
        id: &str,
        kind: &str,
        payload: Vec<u8>,
        expires_at: OffsetDateTime,
    ) -> Result<()>;
    /// Atomically removes and returns the value, only if it exists, is of `kind` and has not expired at `now`.
    /// Under concurrency exactly one caller gets it.
    async fn take_ceremony(
        &self,
        tenant: &TenantId,
        id: &str,
        kind: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>>;
    /// Reads the value without consuming it (same conditions as [`Store::take_ceremony`]).
    async fn peek_ceremony(
        &self,
        tenant: &TenantId,
        id: &str,
        kind: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>>;

    // ---- authorization codes ----

    /// Stores a new authorization code; [`StoreError::Conflict`] if its hash exists.
    async fn put_auth_code(&self, code: &AuthCode) -> Result<()>;
    /// Redeems a code with one conditional update: the first redemption of a live code gets it, a later one learns
    /// the grant to revoke. Redeemed codes are kept [`REDEEMED_CODE_RETENTION`] past expiry to recognise reuse.
    async fn consume_auth_code(
        &self,
        tenant: &TenantId,
        code_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<CodeRedemption>;

    // ---- tokens ----

    /// Stores an access token; [`StoreError::Conflict`] if its hash exists or its grant was revoked.
    async fn put_access_token(&self, token: &AccessToken) -> Result<()>;
    /// Reads a live (unexpired, unrevoked) access token.
    async fn get_access_token(
        &self,
        tenant: &TenantId,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<AccessToken>>;
    /// Stores a refresh token; [`StoreError::Conflict`] if its hash exists or its grant was revoked.
    async fn put_refresh_token(&self, token: &RefreshToken) -> Result<()>;
    /// Reads an unexpired refresh token of an unrevoked grant, **spent or not**, with its family's payload: the caller
    /// checks the grant's rules, then [`Store::rotate_refresh_token`] decides atomically between rotation and reuse.
    async fn get_refresh_token(
        &self,
        tenant: &TenantId,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<RefreshToken>>;
    /// Atomically spends a live refresh token and stores its successor (`new`, normally of the same grant).
    /// A token already spent is reuse: [`RefreshRotation::Reused`], and the caller revokes the grant.
    async fn rotate_refresh_token(
        &self,
        tenant: &TenantId,
        old_hash: &[u8],
        new: &RefreshToken,
        now: OffsetDateTime,
    ) -> Result<RefreshRotation>;
    /// Revokes a grant at `now`: deletes its access and refresh tokens and refuses new ones for it (the mark is kept
    /// [`REVOKED_GRANT_RETENTION`] from `now`). Idempotent: a second revocation keeps the first time.
    async fn revoke_grant(
        &self,
        tenant: &TenantId,
        grant_id: &str,
        now: OffsetDateTime,
    ) -> Result<()>;

    // ---- browser sessions ----

    /// Stores a session; [`StoreError::Conflict`] if its hash exists.
    async fn create_session(&self, session: &Session) -> Result<()>;
    /// Reads a live session.
    async fn get_session(
        &self,
        tenant: &TenantId,
        id_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<Session>>;
    /// Deletes a session (signs out). Idempotent.
    async fn delete_session(&self, tenant: &TenantId, id_hash: &[u8]) -> Result<()>;
    /// Deletes the session with public handle `sid` if it belongs to `user_id` (RP-initiated logout with an ID token's
    /// `sid`); returns whether one was deleted.
    async fn delete_session_by_sid(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
        sid: &str,
    ) -> Result<bool>;
    /// Deletes all of a user's sessions; returns how many.
    async fn delete_user_sessions(&self, tenant: &TenantId, user_id: &UserId) -> Result<u64>;

    // ---- signing keys ----

    /// Stores a signing key; [`StoreError::Conflict`] if its kid exists in the tenant.
    async fn put_signing_key(&self, key: &SigningKey) -> Result<()>;
    /// Lists a tenant's signing keys (all statuses), oldest first.
    async fn list_signing_keys(&self, tenant: &TenantId) -> Result<Vec<SigningKey>>;
    /// Marks a key [`KeyStatus::Active`] (it signs from now on); [`StoreError::NotFound`] if absent,
    /// [`StoreError::Conflict`] if it was retired.
    async fn activate_signing_key(&self, tenant: &TenantId, kid: &str) -> Result<()>;
    /// Marks a key retired at `at` (it stops signing but stays published); [`StoreError::NotFound`] if absent.
    /// Retiring a retired key keeps its first retirement time.
    async fn retire_signing_key(
        &self,
        tenant: &TenantId,
        kid: &str,
        at: OffsetDateTime,
    ) -> Result<()>;
    /// Deletes the tenant's keys retired before `retired_before`; returns how many.
    async fn delete_retired_signing_keys(
        &self,
        tenant: &TenantId,
        retired_before: OffsetDateTime,
    ) -> Result<u64>;

    // ---- maintenance ----

    /// Deletes expired ceremonies, codes (redeemed ones after [`REDEEMED_CODE_RETENTION`]), tokens, sessions and
    /// revoked-grant marks, at most `batch` rows per table per call; returns how many rows were deleted.
    async fn purge_expired(&self, now: OffsetDateTime, batch: u32) -> Result<u64>;
    /// Checks that the database answers.
    async fn health(&self) -> Result<()>;
}
