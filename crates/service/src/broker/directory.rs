//! A broker tenant's user directory, for operators: search (prefix of email or a name, paged by object id), read,
//! disable (which ends the user's sessions and refresh tokens at once), enable, delete.

use tessera_core::{TenantId, UserId};
use tessera_store::{BrokerStore, DirectoryPage, DirectoryUserRecord, StoreError};
use time::OffsetDateTime;

use super::tenants::require_tenant;
use crate::error::{Result, ServiceError};

/// The largest page a search returns.
pub const MAX_PAGE_SIZE: u32 = 100;

/// Searches users whose email, display name, given name or surname starts with `query` (case-insensitive; empty
/// matches everyone), ordered by object id; `limit` is capped at [`MAX_PAGE_SIZE`] (and at least 1), and `after`
/// is the previous page's `next`.
pub async fn search_users(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    query: &str,
    after: Option<&UserId>,
    limit: u32,
) -> Result<DirectoryPage> {
    require_tenant(store, tenant).await?;
    Ok(store
        .search_directory_users(tenant, query.trim(), after, limit.clamp(1, MAX_PAGE_SIZE))
        .await?)
}

/// Reads a user with their identities.
pub async fn get_user(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    object_id: &UserId,
) -> Result<DirectoryUserRecord> {
    store
        .get_directory_user(tenant, object_id)
        .await?
        .ok_or(ServiceError::DirectoryUserNotFound)
}

/// Disables a user: their broker sessions and refresh tokens end in the same transaction, and they cannot sign
/// in until enabled.
pub async fn disable_user(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    object_id: &UserId,
    now: OffsetDateTime,
) -> Result<()> {
    store
        .disable_directory_user(tenant, object_id, now)
        .await
        .map_err(not_found_as_user)
}

/// Enables a disabled user.
pub async fn enable_user(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    object_id: &UserId,
) -> Result<()> {
    store
        .enable_directory_user(tenant, object_id)
        .await
        .map_err(not_found_as_user)
}

/// Deletes a user with their identities, sessions and refresh tokens; signing in again makes a new user.
pub async fn delete_user(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    object_id: &UserId,
) -> Result<()> {
    store
        .delete_directory_user(tenant, object_id)
        .await
        .map_err(not_found_as_user)
}

fn not_found_as_user(error: StoreError) -> ServiceError {
    match error {
        StoreError::NotFound => ServiceError::DirectoryUserNotFound,
        other => other.into(),
    }
}
