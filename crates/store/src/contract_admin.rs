//! The admin store contract: one async test function per behaviour of [`AdminStore`], which every backend's
//! `tests/admin_contract.rs` runs through [`crate::admin_store_contract_tests!`].

use crate::StoreError;
use crate::admin::{AdminStore, ApiTokenRecord, AuditEvent, AuditFilter};
use async_trait::async_trait;
use serde_json::json;
use std::future::Future;
use std::sync::Arc;
use time::{Duration, OffsetDateTime, macros::datetime};

/// A fresh admin store for one contract test, and whatever must be cleaned up after it.
#[async_trait]
pub trait AdminFixture: Send + 'static {
    /// The store under test.
    fn store(&self) -> Arc<dyn AdminStore>;
    /// Closes the store and opens it again on the same data (SQLite: the same file; PostgreSQL: a new pool on the
    /// same schema), as a restart of the server would; [`AdminFixture::store`] then gives the reopened store.
    async fn reopen(&mut self);
    /// Removes what the fixture created; runs whether the test passed or not.
    async fn teardown(self);
}

/// Runs one contract function on a fixture's store, tears the fixture down, then reports the test's outcome.
pub async fn run<F, Fut>(fixture: impl AdminFixture, test: F)
where
    F: FnOnce(Arc<dyn AdminStore>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let outcome = tokio::spawn(test(fixture.store())).await;
    fixture.teardown().await;
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(error) => panic!("admin contract test did not finish: {error}"),
        }
    }
}

/// Runs `before` on a fixture's store, reopens the store ([`AdminFixture::reopen`]), runs `after` on the reopened
/// one, tears the fixture down, then reports the test's outcome.
pub async fn run_across_reopen<F, Fut, G, Gut>(mut fixture: impl AdminFixture, before: F, after: G)
where
    F: FnOnce(Arc<dyn AdminStore>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
    G: FnOnce(Arc<dyn AdminStore>) -> Gut,
    Gut: Future<Output = ()> + Send + 'static,
{
    let outcome = match tokio::spawn(before(fixture.store())).await {
        Ok(()) => {
            fixture.reopen().await;
            tokio::spawn(after(fixture.store())).await
        }
        Err(error) => Err(error),
    };
    fixture.teardown().await;
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(error) => panic!("admin contract test did not finish: {error}"),
        }
    }
}

/// Generates one `#[tokio::test]` per admin contract function. `$setup` is an async fn returning
/// `Option<impl AdminFixture>`; `None` skips the test.
#[macro_export]
macro_rules! admin_store_contract_tests {
    ($setup:path) => {
        $crate::admin_store_contract_tests!(@tests $setup;
            api_token_keeps_only_the_hash_and_its_audit_event,
            api_token_revocation_keeps_the_first_time_and_audits,
            api_token_hash_is_unique_and_nothing_half_written,
            bootstrap_token_is_single_use_and_expires,
            audit_events_filter_and_page_newest_first,
            bootstrap_redeemed_for_a_member_once_and_nothing_else,
            admin_members_change_with_their_audit_event,
            invitation_is_found_by_hash_and_id_and_unique,
            invitations_are_listed_oldest_first_in_pages,
            invitations_filtered_by_role_page_without_gaps_or_repeats,
            invitation_is_redeemed_once_under_concurrency,
            invitation_withdrawn_with_its_audit_event_redeems_nothing,
            purge_removes_expired_invitations_in_batches,
        );

        #[tokio::test]
        async fn invitation_survives_reopening_the_store() {
            let Some(fixture) = $setup().await else {
                eprintln!("SKIPPED(database): invitation_survives_reopening_the_store");
                return;
            };
            $crate::contract_admin::run_across_reopen(
                fixture,
                $crate::contract_admin::invitation_made_before_reopening,
                $crate::contract_admin::invitation_still_pending_after_reopening,
            )
            .await;
        }
    };
    (@tests $setup:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some(fixture) = $setup().await else {
                    eprintln!("SKIPPED(database): {}", stringify!($name));
                    return;
                };
                $crate::contract_admin::run(fixture, $crate::contract_admin::$name).await;
            }
        )*
    };
}

pub use crate::contract_admin_invitations::{
    invitation_is_found_by_hash_and_id_and_unique, invitation_is_redeemed_once_under_concurrency,
    invitation_made_before_reopening, invitation_still_pending_after_reopening,
    invitation_withdrawn_with_its_audit_event_redeems_nothing,
    invitations_are_listed_oldest_first_in_pages,
    invitations_filtered_by_role_page_without_gaps_or_repeats,
    purge_removes_expired_invitations_in_batches,
};
pub use crate::contract_admin_members::{
    admin_members_change_with_their_audit_event,
    bootstrap_redeemed_for_a_member_once_and_nothing_else,
};

const T0: OffsetDateTime = datetime!(2026-01-01 10:00 UTC);

/// A token record `id` with hash `hash`, valid a day from [`T0`].
pub fn token(id: &str, hash: &[u8]) -> ApiTokenRecord {
    ApiTokenRecord {
        id: id.into(),
        token_hash: hash.to_vec(),
        name: format!("{id} automation"),
        role: "tenant_admin".into(),
        tenants: vec!["contoso".into(), "fabrikam".into()],
        created_by: "bootstrap".into(),
        created_at: T0,
        expires_at: T0 + Duration::days(1),
        revoked_at: None,
        last_used_at: None,
    }
}

/// An audit event `id` of `action` on `tenant`.
pub fn event(id: &str, action: &str, tenant: Option<&str>, at: OffsetDateTime) -> AuditEvent {
    AuditEvent {
        id: id.into(),
        at,
        actor: "token:tok_1".into(),
        action: action.into(),
        target: format!("thing/{id}"),
        tenant: tenant.map(Into::into),
        before: None,
        after: Some(json!({"name": id, "nested": {"list": [1, 2]}})),
        request_id: Some("req-1".into()),
        client_address: Some("127.0.0.1".into()),
    }
}

/// A token is found by its hash and id, and its creation's audit event was written with it.
pub async fn api_token_keeps_only_the_hash_and_its_audit_event(store: Arc<dyn AdminStore>) {
    let record = token("tok_1", b"hash-1");
    store
        .create_api_token(&record, &event("e1", "api_token.create", None, T0))
        .await
        .expect("create");
    assert_eq!(
        store.find_api_token(b"hash-1").await.expect("find"),
        Some(record.clone())
    );
    assert_eq!(
        store.get_api_token("tok_1").await.expect("get"),
        Some(record.clone())
    );
    assert_eq!(store.find_api_token(b"other").await.expect("find"), None);
    assert_eq!(store.count_api_tokens().await.expect("count"), 1);
    let page = store
        .list_audit_events(&AuditFilter::default(), None, 10)
        .await
        .expect("audit");
    assert_eq!(page.events, vec![event("e1", "api_token.create", None, T0)]);
    store
        .touch_api_token("tok_1", T0 + Duration::minutes(5))
        .await
        .expect("touch");
    store
        .touch_api_token("tok_1", T0)
        .await
        .expect("touch older");
    let touched = store
        .get_api_token("tok_1")
        .await
        .expect("get")
        .expect("some");
    assert_eq!(touched.last_used_at, Some(T0 + Duration::minutes(5)));
    assert_eq!(
        store.touch_api_token("tok_missing", T0).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(store.list_api_tokens().await.expect("list").len(), 1);
}

/// Revoking sets the time once, writes its event, and a missing token is `NotFound` with no event.
pub async fn api_token_revocation_keeps_the_first_time_and_audits(store: Arc<dyn AdminStore>) {
    store
        .create_api_token(
            &token("tok_1", b"h1"),
            &event("e1", "api_token.create", None, T0),
        )
        .await
        .expect("create");
    let first = T0 + Duration::hours(1);
    store
        .revoke_api_token(
            "tok_1",
            first,
            &event("e2", "api_token.revoke", None, first),
        )
        .await
        .expect("revoke");
    store
        .revoke_api_token(
            "tok_1",
            first + Duration::hours(1),
            &event("e3", "api_token.revoke", None, first),
        )
        .await
        .expect("revoke again");
    let got = store
        .get_api_token("tok_1")
        .await
        .expect("get")
        .expect("some");
    assert_eq!(got.revoked_at, Some(first));
    assert_eq!(
        store
            .revoke_api_token("nope", first, &event("e4", "api_token.revoke", None, first))
            .await,
        Err(StoreError::NotFound)
    );
    let page = store
        .list_audit_events(&AuditFilter::default(), None, 10)
        .await
        .expect("audit");
    let ids: Vec<_> = page.events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["e3", "e2", "e1"]);
}

/// A second token with the same hash is `Conflict`, and its audit event is not written either.
pub async fn api_token_hash_is_unique_and_nothing_half_written(store: Arc<dyn AdminStore>) {
    store
        .create_api_token(
            &token("tok_1", b"same"),
            &event("e1", "api_token.create", None, T0),
        )
        .await
        .expect("create");
    assert_eq!(
        store
            .create_api_token(
                &token("tok_2", b"same"),
                &event("e2", "api_token.create", None, T0)
            )
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.get_api_token("tok_2").await.expect("get"), None);
    let page = store
        .list_audit_events(&AuditFilter::default(), None, 10)
        .await
        .expect("audit");
    assert_eq!(page.events.len(), 1);
}

/// The bootstrap token is spent once; a wrong, replaced or expired one writes nothing.
pub async fn bootstrap_token_is_single_use_and_expires(store: Arc<dyn AdminStore>) {
    let audit = event("e1", "bootstrap.redeem", None, T0);
    store
        .put_bootstrap_token(b"old", T0 + Duration::minutes(30))
        .await
        .expect("put");
    store
        .put_bootstrap_token(b"boot", T0 + Duration::minutes(30))
        .await
        .expect("replace");
    let first = token("tok_1", b"h1");
    assert!(
        !store
            .redeem_bootstrap_token(b"old", T0, &first, &audit)
            .await
            .expect("replaced one")
    );
    assert!(
        !store
            .redeem_bootstrap_token(b"boot", T0 + Duration::minutes(30), &first, &audit)
            .await
            .expect("expired")
    );
    assert_eq!(store.count_api_tokens().await.expect("count"), 0);
    assert!(
        store
            .redeem_bootstrap_token(b"boot", T0, &first, &audit)
            .await
            .expect("redeem")
    );
    assert!(
        !store
            .redeem_bootstrap_token(
                b"boot",
                T0,
                &token("tok_2", b"h2"),
                &event("e2", "x", None, T0)
            )
            .await
            .expect("second")
    );
    assert_eq!(store.count_api_tokens().await.expect("count"), 1);
    assert!(store.get_api_token("tok_1").await.expect("get").is_some());
}

/// Filters combine; pages are newest first and the cursor continues without repeats.
pub async fn audit_events_filter_and_page_newest_first(store: Arc<dyn AdminStore>) {
    for i in 0..7u8 {
        let tenant = if i % 2 == 0 { "contoso" } else { "fabrikam" };
        let action = if i < 4 {
            "broker.provider.create"
        } else {
            "provider.client.update"
        };
        store
            .record_audit_event(&event(
                &format!("e{i}"),
                action,
                Some(tenant),
                T0 + Duration::minutes(i64::from(i)),
            ))
            .await
            .expect("record");
    }
    store
        .record_audit_event(&event("e9", "api_token.create", None, T0))
        .await
        .expect("record");
    assert_eq!(
        store
            .record_audit_event(&event("e9", "again", None, T0))
            .await,
        Err(StoreError::Conflict)
    );
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_audit_events(&AuditFilter::default(), after.as_deref(), 3)
            .await
            .expect("page");
        assert!(page.events.len() <= 3);
        seen.extend(page.events.iter().map(|e| e.id.clone()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["e9", "e6", "e5", "e4", "e3", "e2", "e1", "e0"]);
    let filter = AuditFilter {
        action_prefix: Some("broker.".into()),
        tenants: Some(vec!["contoso".into()]),
        ..AuditFilter::default()
    };
    let page = store
        .list_audit_events(&filter, None, 10)
        .await
        .expect("filtered");
    let ids: Vec<_> = page.events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["e2", "e0"]);
    let filter = AuditFilter {
        tenant: Some("fabrikam".into()),
        since: Some(T0 + Duration::minutes(3)),
        until: Some(T0 + Duration::minutes(5)),
        actor: Some("token:tok_1".into()),
        ..AuditFilter::default()
    };
    let page = store
        .list_audit_events(&filter, None, 10)
        .await
        .expect("filtered");
    let ids: Vec<_> = page.events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["e3"]);
    let none = AuditFilter {
        tenants: Some(vec![]),
        ..AuditFilter::default()
    };
    assert!(
        store
            .list_audit_events(&none, None, 10)
            .await
            .expect("empty")
            .events
            .is_empty()
    );
}
