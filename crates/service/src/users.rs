//! The authenticator service's users, for operators: search by the start of the username or display name, read,
//! disable or enable, and delete (their passkeys go, their sessions end and their grants are revoked in the same
//! transaction); their passkeys: list, read, rename and revoke (never the last one). The admin API and the admin
//! portal both call these.

use tessera_core::{TenantId, UserId};
use tessera_store::{Credential, Store, StoreError, User};
use time::OffsetDateTime;

use crate::{Result, ServiceError};

/// The largest page of a search.
pub const MAX_PAGE_SIZE: u32 = 200;

/// The longest passkey name, in characters.
pub const MAX_PASSKEY_NAME: usize = 64;

/// One page of a search: the users, and the id the next page starts after (none on the last page).
#[derive(Debug, Clone)]
pub struct UserPage {
    /// The users of this page, ordered by id.
    pub users: Vec<User>,
    /// The last user's id when more follow.
    pub next: Option<UserId>,
}

/// The tenant's users whose username or display name starts with `query` (case-insensitively; empty: everyone),
/// ordered by id, after `after`: a page of at most `limit` (capped at [`MAX_PAGE_SIZE`]), telling whether more
/// follow; with `status`, only the enabled or only the disabled ones (in the store, before the page is cut).
pub async fn search_users(
    store: &dyn Store,
    tenant: &TenantId,
    query: &str,
    status: Option<tessera_store::AccountStatus>,
    after: Option<&UserId>,
    limit: u32,
) -> Result<UserPage> {
    if store.get_tenant(tenant).await?.is_none() {
        return Err(ServiceError::TenantNotFound);
    }
    let limit = limit.clamp(1, MAX_PAGE_SIZE);
    // One more than asked tells whether there is a next page.
    let mut users = store
        .search_users(tenant, query.trim(), status, after, limit + 1)
        .await?;
    let next = if users.len() > limit as usize {
        users.truncate(limit as usize);
        users.last().map(|u| u.id.clone())
    } else {
        None
    };
    Ok(UserPage { users, next })
}

/// A user of the tenant; [`ServiceError::UserNotFound`] if there is none with this id.
pub async fn get_user(store: &dyn Store, tenant: &TenantId, user: &UserId) -> Result<User> {
    store
        .get_user(tenant, user)
        .await?
        .ok_or(ServiceError::UserNotFound)
}

/// Disables a user at `now` (they cannot sign in; their sessions end and their access and refresh tokens stop
/// working at once), or enables them again; returns the user as now stored. With `expected` (the user as the
/// caller read it), only if nobody changed the user since: [`ServiceError::Changed`] otherwise, and nothing changes.
pub async fn set_disabled(
    store: &dyn Store,
    tenant: &TenantId,
    user: &UserId,
    disabled: bool,
    now: OffsetDateTime,
    expected: Option<&User>,
) -> Result<User> {
    store
        .set_user_disabled(tenant, user, disabled.then_some(now), now, expected)
        .await
        .map_err(user_error)?;
    get_user(store, tenant, user).await
}

/// Deletes a user: their passkeys are removed, their sessions end and their access and refresh tokens stop working
/// at once. Signing up again with the same username makes a new user. With `expected` (the user as read), only if
/// nobody changed the user since ([`ServiceError::Changed`] otherwise, and nothing is deleted).
pub async fn delete_user(
    store: &dyn Store,
    tenant: &TenantId,
    user: &UserId,
    now: OffsetDateTime,
    expected: Option<&User>,
) -> Result<()> {
    store
        .delete_user(tenant, user, now, expected)
        .await
        .map_err(user_error)
}

fn user_error(error: StoreError) -> ServiceError {
    match error {
        StoreError::NotFound => ServiceError::UserNotFound,
        StoreError::Changed => ServiceError::Changed { what: "user" },
        other => other.into(),
    }
}

/// A user's passkeys, oldest first (none for an unknown user: read the user first).
pub async fn list_passkeys(
    store: &dyn Store,
    tenant: &TenantId,
    user: &UserId,
) -> Result<Vec<Credential>> {
    Ok(store.list_credentials(tenant, user).await?)
}

/// One of a user's passkeys; [`ServiceError::PasskeyNotFound`] unless it exists and is theirs.
pub async fn get_passkey(
    store: &dyn Store,
    tenant: &TenantId,
    user: &UserId,
    credential_id: &[u8],
) -> Result<Credential> {
    match store.get_credential(tenant, credential_id).await? {
        Some(credential) if &credential.user_id == user => Ok(credential),
        _ => Err(ServiceError::PasskeyNotFound),
    }
}

/// A passkey name as typed, trimmed: 1 to [`MAX_PASSKEY_NAME`] printable characters, or
/// [`ServiceError::InvalidInput`] saying so.
pub fn passkey_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_PASSKEY_NAME
        || name.chars().any(char::is_control)
    {
        return Err(ServiceError::InvalidInput(format!(
            "A passkey name is 1 to {MAX_PASSKEY_NAME} printable characters."
        )));
    }
    Ok(name)
}

/// Renames one of a user's passkeys to `name` (checked by [`passkey_name`]); returns the passkey as now stored.
/// [`ServiceError::PasskeyNotFound`] unless it is theirs. With `expected` (the passkey as read), only if it did not
/// change since ([`ServiceError::Changed`] otherwise).
pub async fn rename_passkey(
    store: &dyn Store,
    tenant: &TenantId,
    user: &UserId,
    credential_id: &[u8],
    name: &str,
    expected: Option<&Credential>,
) -> Result<Credential> {
    let name = passkey_name(name)?;
    store
        .rename_credential(tenant, user, credential_id, name, expected)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ServiceError::PasskeyNotFound,
            StoreError::Changed => ServiceError::Changed { what: "passkey" },
            other => other.into(),
        })?;
    get_passkey(store, tenant, user, credential_id).await
}

/// Revokes one of a user's passkeys at `now`: the sessions signed in with it end and the tokens bound to it are
/// revoked at once. [`ServiceError::LastPasskey`] for the user's only passkey, [`ServiceError::PasskeyNotFound`]
/// unless it is theirs. With `expected` (the passkey as read), only if it did not change since
/// ([`ServiceError::Changed`] otherwise, and nothing is revoked).
pub async fn revoke_passkey(
    store: &dyn Store,
    tenant: &TenantId,
    user: &UserId,
    credential_id: &[u8],
    now: OffsetDateTime,
    expected: Option<&Credential>,
) -> Result<()> {
    store
        .delete_credential(tenant, user, credential_id, now, expected)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => ServiceError::LastPasskey,
            StoreError::NotFound => ServiceError::PasskeyNotFound,
            StoreError::Changed => ServiceError::Changed { what: "passkey" },
            other => other.into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passkey_names_are_trimmed_and_refused_when_empty_too_long_or_invisible() {
        assert_eq!(passkey_name("  Work laptop ").ok(), Some("Work laptop"));
        assert_eq!(passkey_name(&"é".repeat(64)).map(str::len).ok(), Some(128));
        for bad in ["", "   ", "a\u{7}b"] {
            assert!(
                matches!(passkey_name(bad), Err(ServiceError::InvalidInput(_))),
                "{bad:?}"
            );
        }
        assert!(passkey_name(&"a".repeat(65)).is_err());
    }
}
