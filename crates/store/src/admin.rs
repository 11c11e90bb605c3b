//! [`AdminStore`]: the admin surfaces' storage — API tokens, the one-time bootstrap token and the audit trail —
//! beside [`crate::Store`] and [`crate::BrokerStore`], under the same rules (lookups `Ok(None)`, database failures
//! [`crate::StoreError::Unavailable`]).
//!
//! A token's creation, revocation and the bootstrap exchange write their audit event in the same transaction, and so
//! do an invitation's creation, redemption and withdrawal.

use crate::Result;
use async_trait::async_trait;
use time::OffsetDateTime;

/// An API token for automation. Only the SHA-256 of its secret is stored; the secret is shown once, at creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRecord {
    /// The token's public id (`tok_...`), used to show, revoke and audit it.
    pub id: String,
    /// SHA-256 of the secret, the lookup key.
    pub token_hash: Vec<u8>,
    /// A name the creator gave it.
    pub name: String,
    /// The role it grants (`global_admin`, `tenant_admin`, `read_only`).
    pub role: String,
    /// The tenants it is limited to; empty means every tenant (only allowed with a global role).
    pub tenants: Vec<String>,
    /// Who created it (an audit actor such as `token:tok_...` or `bootstrap`).
    pub created_by: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
    /// When it last authenticated a request (updated at most once a minute).
    pub last_used_at: Option<OffsetDateTime>,
}

/// An administrator of the portal: a user of the built-in admin tenant of the authenticator service, with a role.
/// Written only together with its audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminMember {
    /// The user's id in the admin tenant (the `sub` of the portal's sign-in).
    pub user_id: String,
    /// The user's username there, for people.
    pub username: String,
    /// The role (`global_admin`, `tenant_admin`, `read_only`).
    pub role: String,
    /// The tenants it is limited to; empty means every tenant (global roles only).
    pub tenants: Vec<String>,
    /// Who made it an administrator (an audit actor such as `admin:{user id}` or `bootstrap`).
    pub created_by: String,
    /// When.
    pub created_at: OffsetDateTime,
}

/// An invitation for one person to become an administrator: single use, working until `expires_at` unless
/// withdrawn. Only the SHA-256 of its secret is stored; the secret is in the link, shown once at creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminInvitation {
    /// Its public id (`inv_...`), used to list, withdraw and audit it.
    pub id: String,
    /// SHA-256 of the secret, the lookup key.
    pub token_hash: Vec<u8>,
    /// The role it grants (`global_admin`, `tenant_admin`, `read_only`).
    pub role: String,
    /// The tenants it grants; empty means every tenant (global roles only).
    pub tenants: Vec<String>,
    /// Who made it (an audit actor such as `admin:ann` or `token:tok_...`).
    pub created_by: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

/// Where a page of pending invitations starts: after the invitation made at `created_at` with `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationCursor {
    /// The creation time of the last invitation of the previous page.
    pub created_at: OffsetDateTime,
    /// Its id.
    pub id: String,
}

/// One page of pending invitations, oldest first (by creation time, then id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationPage {
    /// The invitations.
    pub invitations: Vec<AdminInvitation>,
    /// Where the following page starts, when there may be one.
    pub next: Option<InvitationCursor>,
}

/// One change made through the admin surfaces. `before` and `after` never hold secrets.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// A time-ordered id; also the paging cursor.
    pub id: String,
    /// When the change was made.
    pub at: OffsetDateTime,
    /// Who made it (`token:tok_...`, `bootstrap`, `operator`).
    pub actor: String,
    /// What was done (`broker.provider.create`, `api_token.revoke`, ...).
    pub action: String,
    /// The object changed (`broker/contoso/providers/nok-nok`, ...).
    pub target: String,
    /// The tenant the object belongs to, if any (for tenant admins' filtered views).
    pub tenant: Option<String>,
    /// The object before the change (without secrets), if it existed.
    pub before: Option<serde_json::Value>,
    /// The object after the change (without secrets), unless it was deleted.
    pub after: Option<serde_json::Value>,
    /// The request id of the HTTP request that made it.
    pub request_id: Option<String>,
    /// The client's address.
    pub client_address: Option<String>,
}

/// Which audit events to list; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Exactly this actor.
    pub actor: Option<String>,
    /// Actions starting with this prefix (`broker.` lists every broker change).
    pub action_prefix: Option<String>,
    /// Exactly this tenant; with `tenants` also set, both must hold.
    pub tenant: Option<String>,
    /// Only these tenants (a tenant admin's view); `None` means no restriction.
    pub tenants: Option<Vec<String>>,
    /// At or after this time.
    pub since: Option<OffsetDateTime>,
    /// Before this time.
    pub until: Option<OffsetDateTime>,
}

/// One page of audit events, newest first; `next` is the cursor of the following page.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    /// The events.
    pub events: Vec<AuditEvent>,
    /// The id to pass as `after` for the next page, when there may be one.
    pub next: Option<String>,
}

/// The admin surfaces' storage.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Stores a new API token and its audit event in one transaction; `Conflict` if its id or hash exists.
    async fn create_api_token(&self, token: &ApiTokenRecord, audit: &AuditEvent) -> Result<()>;
    /// Reads a token by id.
    async fn get_api_token(&self, id: &str) -> Result<Option<ApiTokenRecord>>;
    /// Finds a token by the SHA-256 of its secret (expired and revoked ones too: the caller decides).
    async fn find_api_token(&self, token_hash: &[u8]) -> Result<Option<ApiTokenRecord>>;
    /// Lists every token, oldest first.
    async fn list_api_tokens(&self) -> Result<Vec<ApiTokenRecord>>;
    /// Revokes a token at `at` and writes its audit event in one transaction; revoking again keeps the first time.
    /// `NotFound` if absent.
    async fn revoke_api_token(
        &self,
        id: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<()>;
    /// Records that a token was used at `at`. Idempotent; `NotFound` if absent.
    async fn touch_api_token(&self, id: &str, at: OffsetDateTime) -> Result<()>;
    /// How many tokens were ever created and not deleted (revoked ones count): zero means a fresh install.
    async fn count_api_tokens(&self) -> Result<u64>;

    /// Replaces the bootstrap token (there is at most one) by the one hashed `token_hash`, valid until `expires_at`.
    async fn put_bootstrap_token(
        &self,
        token_hash: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<()>;
    /// Spends the bootstrap token and stores the first API token with its audit event, in one transaction, only if
    /// `token_hash` is the live bootstrap token at `now`. `Ok(false)` (and nothing written) otherwise: of any
    /// number of concurrent callers, on any node, one gets `true`.
    async fn redeem_bootstrap_token(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
        first: &ApiTokenRecord,
        audit: &AuditEvent,
    ) -> Result<bool>;

    /// Whether `token_hash` is the live (unspent, unexpired at `now`) bootstrap token. Writes nothing.
    async fn bootstrap_token_is_live(&self, token_hash: &[u8], now: OffsetDateTime)
    -> Result<bool>;
    /// Spends the bootstrap token and stores the first administrator with its audit event, in one transaction,
    /// only if `token_hash` is the live bootstrap token at `now`; `Ok(false)` (nothing written) otherwise.
    async fn redeem_bootstrap_for_member(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
        first: &AdminMember,
        audit: &AuditEvent,
    ) -> Result<bool>;
    /// Reads an administrator by admin-tenant user id.
    async fn get_admin_member(&self, user_id: &str) -> Result<Option<AdminMember>>;
    /// Lists every administrator, oldest first.
    async fn list_admin_members(&self) -> Result<Vec<AdminMember>>;
    /// How many administrators exist.
    async fn count_admin_members(&self) -> Result<u64>;
    /// Creates or replaces an administrator (role, tenants) and writes its audit event, in one transaction.
    async fn put_admin_member(&self, member: &AdminMember, audit: &AuditEvent) -> Result<()>;
    /// Removes an administrator and writes its audit event, in one transaction; `NotFound` (nothing written) if
    /// absent.
    async fn delete_admin_member(&self, user_id: &str, audit: &AuditEvent) -> Result<()>;

    /// Stores a new invitation and its audit event in one transaction; `Conflict` (nothing written) if its id or hash
    /// exists.
    async fn create_admin_invitation(
        &self,
        invitation: &AdminInvitation,
        audit: &AuditEvent,
    ) -> Result<()>;
    /// The invitation hashed `token_hash` if it is pending at `now` (not redeemed, withdrawn or expired). Writes
    /// nothing.
    async fn find_admin_invitation(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<AdminInvitation>>;
    /// The invitation `id` if it is pending at `now`.
    async fn get_admin_invitation(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<AdminInvitation>>;
    /// The invitations pending at `now`, oldest first (by creation time, then id), at most `limit`, after `after`;
    /// with `role` (`global_admin`, `tenant_admin`, `read_only`), only those that make that role.
    async fn list_admin_invitations(
        &self,
        now: OffsetDateTime,
        role: Option<&str>,
        after: Option<&InvitationCursor>,
        limit: u32,
    ) -> Result<InvitationPage>;
    /// Spends the invitation hashed `token_hash` and stores the administrator it makes with its audit event, in one
    /// transaction, only if the invitation is pending at `now`; `Ok(false)` (nothing written) otherwise: of any
    /// number of concurrent callers, on any node, one gets `true`.
    async fn redeem_admin_invitation(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
        member: &AdminMember,
        audit: &AuditEvent,
    ) -> Result<bool>;
    /// Withdraws the invitation `id` and writes its audit event, in one transaction, only if it is pending at
    /// `now`; `Ok(false)` (nothing written) otherwise. Of a withdrawal and a redemption racing, one wins.
    async fn withdraw_admin_invitation(
        &self,
        id: &str,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool>;
    /// Deletes at most `batch` invitations expired at `now`; returns how many. Call it in a loop until it returns
    /// less than `batch`.
    async fn purge_expired_admin(&self, now: OffsetDateTime, batch: u32) -> Result<u64>;

    /// Appends an audit event; `Conflict` if its id exists.
    async fn record_audit_event(&self, event: &AuditEvent) -> Result<()>;
    /// Lists audit events matching `filter`, newest first, at most `limit`, after the cursor `after`.
    async fn list_audit_events(
        &self,
        filter: &AuditFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<AuditPage>;
}
