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
/// is the previous page's `next`; with `status`, only the enabled or only the disabled ones (in the store, before
/// the page is cut).
pub async fn search_users(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    query: &str,
    status: Option<tessera_store::AccountStatus>,
    after: Option<&UserId>,
    limit: u32,
) -> Result<DirectoryPage> {
    require_tenant(store, tenant).await?;
    Ok(store
        .search_directory_users(
            tenant,
            query.trim(),
            status,
            after,
            limit.clamp(1, MAX_PAGE_SIZE),
        )
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
/// in until enabled. With `expected` (the user as the caller read it), only if nobody changed the user since:
/// [`ServiceError::Changed`] otherwise, and nothing changes (so for [`enable_user`] and [`delete_user`]).
pub async fn disable_user(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    object_id: &UserId,
    now: OffsetDateTime,
    expected: Option<&DirectoryUserRecord>,
) -> Result<()> {
    store
        .disable_directory_user(tenant, object_id, now, expected)
        .await
        .map_err(not_found_as_user)
}

/// Enables a disabled user.
pub async fn enable_user(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    object_id: &UserId,
    expected: Option<&DirectoryUserRecord>,
) -> Result<()> {
    store
        .enable_directory_user(tenant, object_id, expected)
        .await
        .map_err(not_found_as_user)
}

/// Deletes a user with their identities, sessions and refresh tokens; signing in again makes a new user.
pub async fn delete_user(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    object_id: &UserId,
    expected: Option<&DirectoryUserRecord>,
) -> Result<()> {
    store
        .delete_directory_user(tenant, object_id, expected)
        .await
        .map_err(not_found_as_user)
}

fn not_found_as_user(error: StoreError) -> ServiceError {
    match error {
        StoreError::NotFound => ServiceError::DirectoryUserNotFound,
        StoreError::Changed => ServiceError::Changed { what: "user" },
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tenants::{NewBrokerTenant, create_broker_tenant};
    use crate::broker::testing::{T0, master, sqlite, tenant_id};
    use tessera_store::DirectoryIdentity;

    fn user(tenant: &TenantId, n: u32, email: &str) -> DirectoryUserRecord {
        DirectoryUserRecord {
            tenant: tenant.clone(),
            object_id: UserId::parse(&format!("oid-{n:03}")).expect("oid"),
            display_name: Some(format!("User {n}")),
            given_name: None,
            surname: None,
            email: Some(email.into()),
            custom: serde_json::json!({}),
            identities: vec![],
            created_at: T0,
            last_sign_in_at: None,
            disabled_at: None,
        }
    }

    #[tokio::test]
    async fn operators_search_page_disable_enable_and_delete_users() {
        let (store, _dir) = sqlite().await;
        let tenant = tenant_id("contoso");
        create_broker_tenant(
            store.as_ref(),
            &master(),
            NewBrokerTenant {
                id: tenant.clone(),
                display_name: None,
            },
            T0,
        )
        .await
        .expect("tenant");
        for n in 0..5 {
            let email = if n < 3 {
                format!("ann{n}@example.com")
            } else {
                format!("bob{n}@example.com")
            };
            store
                .create_user_with_identity(
                    &user(&tenant, n, &email),
                    &DirectoryIdentity {
                        issuer: "https://idp.example".into(),
                        subject: format!("sub-{n}"),
                    },
                )
                .await
                .expect("user");
        }
        let first = search_users(store.as_ref(), &tenant, " ANN ", None, None, 2)
            .await
            .expect("search");
        assert_eq!(first.users.len(), 2);
        let next = first.next.clone().expect("a second page");
        let second = search_users(store.as_ref(), &tenant, "ann", None, Some(&next), 2)
            .await
            .expect("page 2");
        assert_eq!(second.users.len(), 1);
        assert!(second.next.is_none());
        assert_eq!(
            search_users(store.as_ref(), &tenant, "", None, None, 0)
                .await
                .expect("at least one per page")
                .users
                .len(),
            1
        );
        assert_eq!(
            search_users(store.as_ref(), &tenant, "", None, None, 10_000)
                .await
                .expect("all")
                .users
                .len(),
            5
        );

        let oid = UserId::parse("oid-001").expect("oid");
        disable_user(store.as_ref(), &tenant, &oid, T0, None)
            .await
            .expect("disable");
        let disabled = get_user(store.as_ref(), &tenant, &oid).await.expect("get");
        assert_eq!(disabled.disabled_at, Some(T0));
        assert_eq!(disabled.identities.len(), 1);
        assert!(
            store
                .record_broker_sign_in(&tenant, &oid, T0)
                .await
                .is_err(),
            "a disabled user does not sign in"
        );
        enable_user(store.as_ref(), &tenant, &oid, None)
            .await
            .expect("enable");
        assert!(
            get_user(store.as_ref(), &tenant, &oid)
                .await
                .expect("get")
                .disabled_at
                .is_none()
        );
        delete_user(store.as_ref(), &tenant, &oid, None)
            .await
            .expect("delete");
        for result in [
            get_user(store.as_ref(), &tenant, &oid).await.map(|_| ()),
            disable_user(store.as_ref(), &tenant, &oid, T0, None).await,
            enable_user(store.as_ref(), &tenant, &oid, None).await,
            delete_user(store.as_ref(), &tenant, &oid, None).await,
        ] {
            assert!(matches!(result, Err(ServiceError::DirectoryUserNotFound)));
        }
        assert!(
            store
                .find_user_by_identity(&tenant, "https://idp.example", "sub-1")
                .await
                .expect("find")
                .is_none(),
            "the identity went with the user"
        );
        assert!(matches!(
            search_users(store.as_ref(), &tenant_id("fabrikam"), "", None, None, 10).await,
            Err(ServiceError::BrokerTenantNotFound)
        ));
    }
}
