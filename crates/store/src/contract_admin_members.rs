//! The admin store contract for the portal's administrators ([`AdminMember`]) and the bootstrap exchange that
//! makes the first one; run through [`crate::admin_store_contract_tests!`] with the rest of the admin contract.

use crate::StoreError;
use crate::admin::{AdminMember, AdminStore, AuditFilter};
use crate::contract_admin::event;
use std::sync::Arc;
use time::{Duration, OffsetDateTime, macros::datetime};

const T0: OffsetDateTime = datetime!(2026-01-01 10:00 UTC);

/// An administrator `user_id` with `role` and `tenants`, made at [`T0`].
pub fn member(user_id: &str, role: &str, tenants: &[&str]) -> AdminMember {
    AdminMember {
        user_id: user_id.into(),
        username: format!("{user_id}-name"),
        role: role.into(),
        tenants: tenants.iter().map(|t| (*t).to_owned()).collect(),
        created_by: "bootstrap".into(),
        created_at: T0,
    }
}

async fn audit_ids(store: &Arc<dyn AdminStore>) -> Vec<String> {
    store
        .list_audit_events(&AuditFilter::default(), None, 50)
        .await
        .expect("audit")
        .events
        .into_iter()
        .map(|e| e.id)
        .collect()
}

/// The bootstrap token makes the first administrator once: a wrong, expired or spent token writes nothing.
pub async fn bootstrap_redeemed_for_a_member_once_and_nothing_else(store: Arc<dyn AdminStore>) {
    let expires = T0 + Duration::minutes(30);
    store
        .put_bootstrap_token(b"boot", expires)
        .await
        .expect("put");
    assert!(
        store
            .bootstrap_token_is_live(b"boot", T0)
            .await
            .expect("live")
    );
    assert!(
        !store
            .bootstrap_token_is_live(b"wrong", T0)
            .await
            .expect("wrong")
    );
    assert!(
        !store
            .bootstrap_token_is_live(b"boot", expires)
            .await
            .expect("expired")
    );
    let first = member("u1", "global_admin", &[]);
    let audit = event("e1", "admin.bootstrap", None, T0);
    assert!(
        !store
            .redeem_bootstrap_for_member(b"wrong", T0, &first, &audit)
            .await
            .expect("wrong")
    );
    assert!(
        !store
            .redeem_bootstrap_for_member(b"boot", expires, &first, &audit)
            .await
            .expect("expired")
    );
    assert_eq!(store.count_admin_members().await.expect("count"), 0);
    assert!(
        audit_ids(&store).await.is_empty(),
        "no audit event for a refusal"
    );
    assert!(
        store
            .redeem_bootstrap_for_member(b"boot", T0, &first, &audit)
            .await
            .expect("redeem")
    );
    assert!(
        !store
            .redeem_bootstrap_for_member(
                b"boot",
                T0,
                &member("u2", "global_admin", &[]),
                &event("e2", "admin.bootstrap", None, T0)
            )
            .await
            .expect("again"),
        "a spent bootstrap token makes no second administrator"
    );
    assert!(
        !store
            .bootstrap_token_is_live(b"boot", T0)
            .await
            .expect("spent")
    );
    assert_eq!(
        store.get_admin_member("u1").await.expect("get"),
        Some(first)
    );
    assert_eq!(store.get_admin_member("u2").await.expect("get"), None);
    assert_eq!(audit_ids(&store).await, ["e1"]);
}

/// Administrators are created, changed and removed each with their audit event; removing a missing one is
/// `NotFound` and writes no event.
pub async fn admin_members_change_with_their_audit_event(store: Arc<dyn AdminStore>) {
    let a = member("u1", "global_admin", &[]);
    let b = member("u2", "tenant_admin", &["contoso", "fabrikam"]);
    store
        .put_admin_member(&a, &event("e1", "admin.member.create", None, T0))
        .await
        .expect("a");
    store
        .put_admin_member(&b, &event("e2", "admin.member.create", None, T0))
        .await
        .expect("b");
    assert_eq!(store.count_admin_members().await.expect("count"), 2);
    assert_eq!(
        store.list_admin_members().await.expect("list"),
        vec![a.clone(), b.clone()]
    );
    let changed = AdminMember {
        role: "read_only".into(),
        tenants: vec!["contoso".into()],
        created_by: "someone else".into(),
        ..b.clone()
    };
    store
        .put_admin_member(&changed, &event("e3", "admin.member.update", None, T0))
        .await
        .expect("change");
    let got = store
        .get_admin_member("u2")
        .await
        .expect("get")
        .expect("some");
    assert_eq!(got.role, "read_only");
    assert_eq!(got.tenants, ["contoso"]);
    assert_eq!(
        got.created_by, "bootstrap",
        "a change keeps who made it an administrator"
    );
    store
        .delete_admin_member("u2", &event("e4", "admin.member.delete", None, T0))
        .await
        .expect("delete");
    assert_eq!(
        store
            .delete_admin_member("u2", &event("e5", "admin.member.delete", None, T0))
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(store.get_admin_member("u2").await.expect("get"), None);
    assert_eq!(audit_ids(&store).await, ["e4", "e3", "e2", "e1"]);
}
