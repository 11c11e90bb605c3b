//! The admin store contract for invitations of administrators ([`AdminInvitation`]): kept durably (a reopened store
//! still holds them), listed oldest first in pages, redeemed once under concurrency, withdrawn, expired and purged,
//! each change with its audit event. Run through [`crate::admin_store_contract_tests!`] with the rest of the admin
//! contract.

use crate::StoreError;
use crate::admin::{AdminInvitation, AdminStore, AuditFilter, InvitationCursor};
use crate::contract_admin::event;
use crate::contract_admin_members::member;
use std::sync::Arc;
use time::{Duration, OffsetDateTime, macros::datetime};

const T0: OffsetDateTime = datetime!(2026-01-01 10:00 UTC);

/// An invitation `id` hashed `hash`, made `made` after [`T0`] and working a day from [`T0`].
pub fn invitation(id: &str, hash: &[u8], made: Duration) -> AdminInvitation {
    AdminInvitation {
        id: id.into(),
        token_hash: hash.to_vec(),
        role: "tenant_admin".into(),
        tenants: vec!["contoso".into(), "fabrikam".into()],
        created_by: "admin:ann".into(),
        created_at: T0 + made,
        expires_at: T0 + Duration::days(1),
    }
}

async fn audit_actions(store: &Arc<dyn AdminStore>) -> Vec<String> {
    let mut events = store
        .list_audit_events(&AuditFilter::default(), None, 50)
        .await
        .expect("audit")
        .events;
    events.reverse();
    events.into_iter().map(|e| e.action).collect()
}

async fn pending_ids(store: &Arc<dyn AdminStore>, now: OffsetDateTime) -> Vec<String> {
    store
        .list_admin_invitations(now, None, None, 100)
        .await
        .expect("list")
        .invitations
        .into_iter()
        .map(|i| i.id)
        .collect()
}

/// An invitation is found by its hash and its id while pending, written with its audit event; a second one with
/// the same id or hash is `Conflict` and writes nothing, its audit event neither.
pub async fn invitation_is_found_by_hash_and_id_and_unique(store: Arc<dyn AdminStore>) {
    let made = invitation("inv_1", b"hash-1", Duration::ZERO);
    store
        .create_admin_invitation(&made, &event("e1", "admin.invitation.create", None, T0))
        .await
        .expect("create");
    assert_eq!(
        store.find_admin_invitation(b"hash-1", T0).await,
        Ok(Some(made.clone()))
    );
    assert_eq!(
        store.get_admin_invitation("inv_1", T0).await,
        Ok(Some(made.clone()))
    );
    assert_eq!(store.find_admin_invitation(b"other", T0).await, Ok(None));
    assert_eq!(store.get_admin_invitation("inv_2", T0).await, Ok(None));
    for duplicate in [
        invitation("inv_2", b"hash-1", Duration::ZERO),
        invitation("inv_1", b"hash-2", Duration::ZERO),
    ] {
        assert_eq!(
            store
                .create_admin_invitation(
                    &duplicate,
                    &event("e2", "admin.invitation.create", None, T0)
                )
                .await,
            Err(StoreError::Conflict)
        );
    }
    assert_eq!(store.find_admin_invitation(b"hash-2", T0).await, Ok(None));
    assert_eq!(pending_ids(&store, T0).await, ["inv_1"]);
    assert_eq!(audit_actions(&store).await, ["admin.invitation.create"]);
}

/// Pending invitations are listed oldest first (by creation time, then id), in pages whose cursor continues without
/// repeats or gaps; an expired one is not listed.
pub async fn invitations_are_listed_oldest_first_in_pages(store: Arc<dyn AdminStore>) {
    let made = [
        invitation("inv_c", b"c", Duration::minutes(1)),
        invitation("inv_a", b"a", Duration::minutes(2)),
        invitation("inv_b", b"b", Duration::minutes(2)),
        invitation("inv_d", b"d", Duration::microseconds(60_000_001)),
        AdminInvitation {
            expires_at: T0 + Duration::hours(1),
            ..invitation("inv_short", b"short", Duration::minutes(3))
        },
    ];
    for (n, one) in made.iter().enumerate() {
        store
            .create_admin_invitation(
                one,
                &event(&format!("e{n}"), "admin.invitation.create", None, T0),
            )
            .await
            .expect("create");
    }
    let mut seen = Vec::new();
    let mut after: Option<InvitationCursor> = None;
    loop {
        let page = store
            .list_admin_invitations(T0, None, after.as_ref(), 2)
            .await
            .expect("page");
        assert!(page.invitations.len() <= 2);
        seen.extend(page.invitations.iter().map(|i| i.id.clone()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["inv_c", "inv_d", "inv_a", "inv_b", "inv_short"]);
    assert_eq!(
        pending_ids(&store, T0 + Duration::hours(1)).await,
        ["inv_c", "inv_d", "inv_a", "inv_b"],
        "an invitation is not pending from its expiry on"
    );
    let listed = store
        .list_admin_invitations(T0, None, None, 1)
        .await
        .expect("first");
    assert_eq!(listed.invitations, vec![made[0].clone()]);
    assert_eq!(
        listed.next,
        Some(InvitationCursor {
            created_at: made[0].created_at,
            id: "inv_c".into(),
        })
    );
}

/// Of many concurrent redemptions of one invitation, exactly one makes its administrator (with its audit event);
/// the invitation is then gone. An expired or unknown one makes nobody an administrator and writes nothing.
pub async fn invitation_is_redeemed_once_under_concurrency(store: Arc<dyn AdminStore>) {
    store
        .create_admin_invitation(
            &invitation("inv_1", b"hash-1", Duration::ZERO),
            &event("e0", "admin.invitation.create", None, T0),
        )
        .await
        .expect("create");
    let expires = T0 + Duration::days(1);
    assert!(
        !store
            .redeem_admin_invitation(
                b"hash-1",
                expires,
                &member("late", "tenant_admin", &["contoso"]),
                &event("late", "admin.invitation.redeem", None, expires)
            )
            .await
            .expect("expired"),
        "an expired invitation makes nobody an administrator"
    );
    assert!(
        !store
            .redeem_admin_invitation(
                b"unknown",
                T0,
                &member("nobody", "tenant_admin", &["contoso"]),
                &event("unknown", "admin.invitation.redeem", None, T0)
            )
            .await
            .expect("unknown")
    );
    let racers: Vec<_> = (0..10)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .redeem_admin_invitation(
                        b"hash-1",
                        T0,
                        &member(&format!("u{n}"), "tenant_admin", &["contoso"]),
                        &event(&format!("e{}", n + 1), "admin.invitation.redeem", None, T0),
                    )
                    .await
                    .expect("redeem")
            })
        })
        .collect();
    let mut winners = 0;
    for racer in racers {
        if racer.await.expect("racer") {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "one of ten concurrent redemptions wins");
    assert_eq!(store.count_admin_members().await, Ok(1));
    assert_eq!(store.find_admin_invitation(b"hash-1", T0).await, Ok(None));
    assert_eq!(pending_ids(&store, T0).await, Vec::<String>::new());
    assert_eq!(
        audit_actions(&store).await,
        ["admin.invitation.create", "admin.invitation.redeem"]
    );
}

/// Withdrawing a pending invitation removes it with its audit event: its link then redeems nothing. Withdrawing it
/// again, or an expired or unknown one, is `false` and writes nothing.
pub async fn invitation_withdrawn_with_its_audit_event_redeems_nothing(store: Arc<dyn AdminStore>) {
    for (id, hash) in [("inv_1", b"hash-1"), ("inv_2", b"hash-2")] {
        store
            .create_admin_invitation(
                &invitation(id, hash, Duration::ZERO),
                &event(id, "admin.invitation.create", None, T0),
            )
            .await
            .expect("create");
    }
    let withdraw = event("w1", "admin.invitation.withdraw", None, T0);
    assert_eq!(
        store
            .withdraw_admin_invitation("inv_1", T0, &withdraw)
            .await,
        Ok(true)
    );
    assert_eq!(store.find_admin_invitation(b"hash-1", T0).await, Ok(None));
    assert_eq!(
        store
            .redeem_admin_invitation(
                b"hash-1",
                T0,
                &member("u1", "tenant_admin", &["contoso"]),
                &event("r1", "admin.invitation.redeem", None, T0)
            )
            .await,
        Ok(false),
        "a withdrawn invitation makes nobody an administrator"
    );
    assert_eq!(
        store
            .withdraw_admin_invitation("inv_1", T0, &event("w2", "x", None, T0))
            .await,
        Ok(false)
    );
    assert_eq!(
        store
            .withdraw_admin_invitation("inv_9", T0, &event("w3", "x", None, T0))
            .await,
        Ok(false)
    );
    let expires = T0 + Duration::days(1);
    assert_eq!(
        store
            .withdraw_admin_invitation("inv_2", expires, &event("w4", "x", None, T0))
            .await,
        Ok(false),
        "an expired invitation is not pending any more"
    );
    assert_eq!(pending_ids(&store, T0).await, ["inv_2"]);
    assert_eq!(store.count_admin_members().await, Ok(0));
    assert_eq!(
        audit_actions(&store).await,
        [
            "admin.invitation.create",
            "admin.invitation.create",
            "admin.invitation.withdraw"
        ]
    );
}

/// The purge deletes invitations expired at `now`, at most `batch` per call, and keeps the pending ones.
pub async fn purge_removes_expired_invitations_in_batches(store: Arc<dyn AdminStore>) {
    for n in 0..5u8 {
        let expires_at = if n < 3 {
            T0 + Duration::hours(1)
        } else {
            T0 + Duration::days(1)
        };
        store
            .create_admin_invitation(
                &AdminInvitation {
                    expires_at,
                    ..invitation(&format!("inv_{n}"), &[n], Duration::ZERO)
                },
                &event(&format!("e{n}"), "admin.invitation.create", None, T0),
            )
            .await
            .expect("create");
    }
    assert_eq!(store.purge_expired_admin(T0, 10).await, Ok(0));
    let later = T0 + Duration::hours(1);
    assert_eq!(store.purge_expired_admin(later, 2).await, Ok(2));
    assert_eq!(store.purge_expired_admin(later, 2).await, Ok(1));
    assert_eq!(store.purge_expired_admin(later, 2).await, Ok(0));
    assert_eq!(pending_ids(&store, T0).await, ["inv_3", "inv_4"]);
    assert_eq!(store.purge_expired_admin(later, 0).await, Ok(0));
}

/// Before the store is closed and opened again: a pending invitation, and one withdrawn.
pub async fn invitation_made_before_reopening(store: Arc<dyn AdminStore>) {
    for (id, hash) in [("inv_kept", b"kept"), ("inv_gone", b"gone")] {
        store
            .create_admin_invitation(
                &invitation(id, hash, Duration::ZERO),
                &event(id, "admin.invitation.create", None, T0),
            )
            .await
            .expect("create");
    }
    assert_eq!(
        store
            .withdraw_admin_invitation(
                "inv_gone",
                T0,
                &event("w", "admin.invitation.withdraw", None, T0)
            )
            .await,
        Ok(true)
    );
}

/// After the store was closed and opened again (a restart): the pending invitation is still there and redeems once;
/// the withdrawn one stays withdrawn.
pub async fn invitation_still_pending_after_reopening(store: Arc<dyn AdminStore>) {
    let kept = invitation("inv_kept", b"kept", Duration::ZERO);
    assert_eq!(
        store.find_admin_invitation(b"kept", T0).await,
        Ok(Some(kept))
    );
    assert_eq!(store.find_admin_invitation(b"gone", T0).await, Ok(None));
    assert_eq!(pending_ids(&store, T0).await, ["inv_kept"]);
    assert_eq!(
        store
            .redeem_admin_invitation(
                b"kept",
                T0,
                &member("u1", "tenant_admin", &["contoso"]),
                &event("r", "admin.invitation.redeem", None, T0)
            )
            .await,
        Ok(true)
    );
    assert!(
        store
            .get_admin_member("u1")
            .await
            .expect("member")
            .is_some()
    );
}

/// Pending invitations filtered by role are listed in the store before the page is cut: each page holds only that
/// role's invitations, and the pages together hold every one once, oldest first.
pub async fn invitations_filtered_by_role_page_without_gaps_or_repeats(store: Arc<dyn AdminStore>) {
    for (n, role) in [
        "read_only",
        "tenant_admin",
        "read_only",
        "global_admin",
        "read_only",
        "read_only",
    ]
    .iter()
    .enumerate()
    {
        let id = format!("inv_{n}");
        let one = AdminInvitation {
            role: (*role).into(),
            tenants: if *role == "global_admin" {
                Vec::new()
            } else {
                vec!["contoso".into()]
            },
            ..invitation(&id, id.as_bytes(), Duration::minutes(n as i64))
        };
        store
            .create_admin_invitation(
                &one,
                &event(&format!("e{n}"), "admin.invitation.create", None, T0),
            )
            .await
            .expect("create");
    }
    let pages = async |role: Option<&str>| -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut after: Option<InvitationCursor> = None;
        loop {
            let page = store
                .list_admin_invitations(T0, role, after.as_ref(), 2)
                .await
                .expect("page");
            assert!(page.invitations.len() <= 2);
            if !page.invitations.is_empty() {
                pages.push(
                    page.invitations
                        .iter()
                        .map(|i| i.id.clone())
                        .collect::<Vec<_>>(),
                );
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        pages
    };
    assert_eq!(
        pages(Some("read_only")).await,
        [vec!["inv_0", "inv_2"], vec!["inv_4", "inv_5"]]
    );
    assert_eq!(pages(Some("global_admin")).await, [vec!["inv_3"]]);
    assert!(pages(Some("nobody")).await.is_empty());
    assert_eq!(pages(None).await.concat().len(), 6, "no role: every one");
}
