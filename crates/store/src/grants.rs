//! The grants role: what a sign-in and the OAuth flows issue (browser sessions, authorization codes, access and
//! refresh tokens, revoked grants), and the background purge of what expired.

use crate::{
    AccessToken, AuthCode, CodeRedemption, RefreshRotation, RefreshToken, Result, Session,
    SignCountBump, SignCountRegression, SignCountUpdate,
};
use async_trait::async_trait;
use tessera_core::{TenantId, UserId};
use time::OffsetDateTime;

/// Sessions, codes and tokens. Secrets are stored by their SHA-256 only.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// A verified sign-in, in one transaction: the credential's counter update ([`SignCountBump`], on the
    /// credential of `bump` in `session.tenant`: one conditional update, made only when
    /// [`SignCountBump::moves_forward`]); then, unless the counter regressed and `on_regression` is
    /// [`SignCountRegression::Refuse`], the browser's previous session `replaces` (if any) is deleted and `session`
    /// created. Returns the counter's outcome: the session exists afterwards exactly when it is
    /// [`SignCountUpdate::Updated`] or `on_regression` is [`SignCountRegression::Accept`].
    /// [`crate::StoreError::NotFound`] (nothing changed) if the credential does not exist;
    /// [`crate::StoreError::Conflict`] (nothing changed) if the session's hash or `sid` exists.
    async fn record_sign_in(
        &self,
        bump: &SignCountBump,
        on_regression: SignCountRegression,
        replaces: Option<&[u8]>,
        session: &Session,
    ) -> Result<SignCountUpdate>;

    /// Stores a new authorization code (with its grant's passkey, [`AuthCode::passkey`], if any);
    /// [`crate::StoreError::Conflict`] if its hash exists.
    async fn put_auth_code(&self, code: &AuthCode) -> Result<()>;
    /// Redeems a code with one conditional update: the first redemption of a live code gets it, a later one learns
    /// the grant to revoke. Redeemed codes are kept [`crate::REDEEMED_CODE_RETENTION`] past expiry to recognise
    /// reuse.
    async fn consume_auth_code(
        &self,
        tenant: &TenantId,
        code_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<CodeRedemption>;

    /// Reads a live, unredeemed code without spending it: the caller checks the grant's rules (client, redirect
    /// URI, PKCE), then spends it with [`GrantStore::redeem_auth_code`] (or [`GrantStore::consume_auth_code`] when
    /// it refuses). `None` if there is no such live, unredeemed code.
    async fn peek_auth_code(
        &self,
        tenant: &TenantId,
        code_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<AuthCode>>;
    /// Redeems a code and stores the tokens issued from it, in one transaction: the first redemption of a live code
    /// marks it redeemed and stores `access` (and `refresh`), all of the code's grant; a later one changes nothing
    /// and learns the grant to revoke ([`CodeRedemption::AlreadyRedeemed`]); an unknown or expired code is
    /// [`CodeRedemption::NotFound`]. The tokens are stored with the code's passkey ([`AuthCode::passkey`], whatever
    /// theirs says). [`crate::StoreError::Conflict`] (nothing changed) if a token's hash exists or the grant was
    /// revoked (also through its passkey).
    async fn redeem_auth_code(
        &self,
        tenant: &TenantId,
        code_hash: &[u8],
        now: OffsetDateTime,
        access: &AccessToken,
        refresh: Option<&RefreshToken>,
    ) -> Result<CodeRedemption>;

    /// Stores an access token; [`crate::StoreError::Conflict`] if its hash exists or its grant was revoked (also
    /// through its passkey).
    async fn put_access_token(&self, token: &AccessToken) -> Result<()>;
    /// Reads a live (unexpired, unrevoked) access token: not one whose passkey was revoked at or after its grant.
    async fn get_access_token(
        &self,
        tenant: &TenantId,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<AccessToken>>;
    /// Stores a refresh token; [`crate::StoreError::Conflict`] if its hash exists or its grant was revoked (also
    /// through its passkey).
    async fn put_refresh_token(&self, token: &RefreshToken) -> Result<()>;
    /// Reads an unexpired refresh token of an unrevoked grant (nor one of a revoked passkey), **spent or not**, with its family's payload: the
    /// caller checks the grant's rules, then [`GrantStore::rotate_refresh_token`] decides atomically between
    /// rotation and reuse.
    async fn get_refresh_token(
        &self,
        tenant: &TenantId,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<RefreshToken>>;
    /// Atomically spends a live refresh token and stores its successor (`new`, normally of the same grant, stored
    /// with the spent token's passkey). A token whose passkey was revoked is [`RefreshRotation::NotFound`].
    /// A token already spent is reuse: [`RefreshRotation::Reused`], and the caller revokes the grant.
    async fn rotate_refresh_token(
        &self,
        tenant: &TenantId,
        old_hash: &[u8],
        new: &RefreshToken,
        now: OffsetDateTime,
    ) -> Result<RefreshRotation>;
    /// Revokes a grant at `now`: deletes its access and refresh tokens and refuses new ones for it (the mark is kept
    /// [`crate::REVOKED_GRANT_RETENTION`] from `now`). Idempotent: a second revocation keeps the first time.
    async fn revoke_grant(
        &self,
        tenant: &TenantId,
        grant_id: &str,
        now: OffsetDateTime,
    ) -> Result<()>;

    /// Records that a live session was used at `now` (its `last_seen_at`, for the idle timeout). Idempotent; a
    /// missing session is no error.
    async fn touch_session(
        &self,
        tenant: &TenantId,
        id_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<()>;

    /// Stores a session; [`crate::StoreError::Conflict`] if its hash exists.
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
    /// Deletes the session with public handle `sid` if it belongs to `user_id` (RP-initiated logout with an ID
    /// token's `sid`); returns whether one was deleted.
    async fn delete_session_by_sid(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
        sid: &str,
    ) -> Result<bool>;

    /// Deletes expired ceremonies, codes (redeemed ones after [`crate::REDEEMED_CODE_RETENTION`]), tokens,
    /// sessions and revoked-grant marks, at most `batch` rows per table per call; returns how many rows were
    /// deleted.
    async fn purge_expired(&self, now: OffsetDateTime, batch: u32) -> Result<u64>;
}
