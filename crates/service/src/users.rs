//! The authenticator service's users, for operators: search by username and delete (their passkeys go, their
//! sessions end and their grants are revoked in the same transaction).

use tessera_core::{TenantId, UserId};
use tessera_store::{Store, StoreError, User};
use time::OffsetDateTime;

use crate::{Result, ServiceError};

/// The largest page of a search.
pub const MAX_PAGE_SIZE: u32 = 200;

/// The tenant's users whose username starts with `query` (case-insensitively; empty: everyone), ordered by id,
/// after `after`; `limit` is capped at [`MAX_PAGE_SIZE`].
pub async fn search_users(
    store: &dyn Store,
    tenant: &TenantId,
    query: &str,
    after: Option<&UserId>,
    limit: u32,
) -> Result<Vec<User>> {
    if store.get_tenant(tenant).await?.is_none() {
        return Err(ServiceError::TenantNotFound);
    }
    Ok(store
        .search_users(tenant, query.trim(), after, limit.clamp(1, MAX_PAGE_SIZE))
        .await?)
}

/// Disables a user at `now` (they cannot sign in; their sessions end and their access and refresh tokens stop
/// working at once), or enables them again; returns the user as now stored.
pub async fn set_disabled(
    store: &dyn Store,
    tenant: &TenantId,
    user: &UserId,
    disabled: bool,
    now: OffsetDateTime,
) -> Result<User> {
    store
        .set_user_disabled(tenant, user, disabled.then_some(now), now)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ServiceError::UserNotFound,
            other => other.into(),
        })?;
    store
        .get_user(tenant, user)
        .await?
        .ok_or(ServiceError::UserNotFound)
}

/// Deletes a user: their passkeys are removed, their sessions end and their access and refresh tokens stop working
/// at once. Signing up again with the same username makes a new user.
pub async fn delete_user(
    store: &dyn Store,
    tenant: &TenantId,
    user: &UserId,
    now: OffsetDateTime,
) -> Result<()> {
    store
        .delete_user(tenant, user, now)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ServiceError::UserNotFound,
            other => other.into(),
        })
}
