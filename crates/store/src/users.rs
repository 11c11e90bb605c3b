//! The users role: users and their WebAuthn credentials.

use crate::{AccountStatus, Credential, Result, User};
use async_trait::async_trait;
use tessera_core::{TenantId, UserId};

/// Users and their passkeys: sign-up, the account page and the lookups of a sign-in.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user and their first credential in one transaction: both or nothing.
    /// [`crate::StoreError::Conflict`] on a duplicate user id, username (case-insensitive), user handle or credential
    /// id (in the tenant, or in any tenant with the same RP ID); [`crate::StoreError::NotFound`] if the tenant does not exist. `credential.user_id` must equal `user.id`
    /// (else `Conflict`).
    async fn create_user_with_credential(&self, user: &User, credential: &Credential)
    -> Result<()>;
    /// Reads a user by id.
    async fn get_user(&self, tenant: &TenantId, user_id: &UserId) -> Result<Option<User>>;
    /// Finds a user by username, compared case-insensitively ([`crate::fold_username`]).
    async fn find_user_by_username(
        &self,
        tenant: &TenantId,
        username: &str,
    ) -> Result<Option<User>>;

    /// Adds a credential to an existing user; [`crate::StoreError::Conflict`] on a duplicate credential id in the
    /// tenant or in any tenant with the same RP ID, [`crate::StoreError::NotFound`] if the user does not exist.
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
    /// Renames one of a user's credentials; [`crate::StoreError::NotFound`] unless the user owns it. With `expected`
    /// (the credential as the caller read it), only if the stored one still equals it, else
    /// [`crate::StoreError::Changed`] and nothing is written.
    async fn rename_credential(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
        credential_id: &[u8],
        nickname: &str,
        expected: Option<&Credential>,
    ) -> Result<()>;
    /// Lists the tenant's users whose username or display name starts with `prefix` (compared case-insensitively:
    /// [`crate::fold_username`], [`crate::fold_display_name`]), ordered by id, at most `limit`, after the id `after`
    /// (the previous page's last); with `status`, only the enabled or only the disabled ones.
    async fn search_users(
        &self,
        tenant: &TenantId,
        prefix: &str,
        status: Option<AccountStatus>,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<Vec<User>>;
    /// Deletes a user with their credentials and, in the same transaction, ends their sessions and revokes their
    /// grants at `now` (access and refresh tokens deleted; a code issued from one of their passkeys' sessions
    /// redeems to nothing). [`crate::StoreError::NotFound`] if the user does not exist. With `expected` (the user as
    /// the caller read it), only if the stored user still equals it, else [`crate::StoreError::Changed`] and
    /// nothing is deleted.
    async fn delete_user(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
        now: time::OffsetDateTime,
        expected: Option<&User>,
    ) -> Result<()>;
    /// Disables a user at `disabled_at` (`Some`), ending their sessions and revoking their grants at `now` in the
    /// same transaction (as [`UserStore::delete_user`] does, keeping the user and their passkeys), or enables them
    /// again (`None`). [`crate::StoreError::NotFound`] if the user does not exist. With `expected`, only if the
    /// stored user still equals it, else [`crate::StoreError::Changed`] and nothing changes.
    async fn set_user_disabled(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
        disabled_at: Option<time::OffsetDateTime>,
        now: time::OffsetDateTime,
        expected: Option<&User>,
    ) -> Result<()>;
    /// Deletes one of a user's credentials, atomically refusing ([`crate::StoreError::Conflict`]) to delete the
    /// last one; [`crate::StoreError::NotFound`] unless the user owns it. In the same transaction the sessions
    /// signed in with it are deleted and the passkey is marked revoked at `now`: the codes and tokens of the grants
    /// issued from it ([`crate::GrantStore`], [`crate::GrantPasskey`]) are refused from then on, and new ones
    /// for those grants too. With `expected` (the
    /// credential as the caller read it), only if the stored one still equals it, else
    /// [`crate::StoreError::Changed`] and nothing is deleted.
    async fn delete_credential(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
        credential_id: &[u8],
        now: time::OffsetDateTime,
        expected: Option<&Credential>,
    ) -> Result<()>;
}
