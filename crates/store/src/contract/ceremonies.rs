//! Contract: One-time ceremony values ([`crate::CeremonyStore`]).

use super::*;

/// Twenty concurrent takes of one ceremony value: exactly one gets it.
pub async fn ceremony_take_is_single_use_under_concurrency(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let expires = T0 + Duration::minutes(5);
    store
        .put_ceremony(
            &t,
            "ch-1",
            "webauthn.get",
            b"challenge".to_vec(),
            expires,
            T0,
        )
        .await
        .expect("put");
    let mut takers = Vec::new();
    for _ in 0..20 {
        let store = Arc::clone(&store);
        let t = t.clone();
        takers.push(tokio::spawn(async move {
            store.take_ceremony(&t, "ch-1", "webauthn.get", T0).await
        }));
    }
    let mut winners = 0;
    for taker in takers {
        match taker.await.expect("task") {
            Ok(Some(payload)) => {
                assert_eq!(payload, b"challenge");
                winners += 1;
            }
            Ok(None) => {}
            Err(error) => panic!("take failed: {error}"),
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(
        store.take_ceremony(&t, "ch-1", "webauthn.get", T0).await,
        Ok(None)
    );
}

/// An expired ceremony value is neither taken nor peeked.
pub async fn ceremony_expired_is_not_returned(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let expires = T0 + Duration::minutes(5);
    store
        .put_ceremony(&t, "ch-1", "webauthn.get", b"x".to_vec(), expires, T0)
        .await
        .expect("put");
    assert_eq!(
        store
            .peek_ceremony(&t, "ch-1", "webauthn.get", expires)
            .await,
        Ok(None)
    );
    assert_eq!(
        store
            .take_ceremony(&t, "ch-1", "webauthn.get", expires)
            .await,
        Ok(None)
    );
    assert_eq!(
        store
            .take_ceremony(&t, "ch-1", "webauthn.get", expires + Duration::hours(1))
            .await,
        Ok(None)
    );
}

/// A value stored for one kind of ceremony is not returned for another, and is not consumed by the attempt.
pub async fn ceremony_of_another_kind_is_not_returned(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let expires = T0 + Duration::minutes(5);
    store
        .put_ceremony(&t, "ch-1", "webauthn.create", b"reg".to_vec(), expires, T0)
        .await
        .expect("put");
    assert_eq!(
        store.take_ceremony(&t, "ch-1", "webauthn.get", T0).await,
        Ok(None)
    );
    assert_eq!(
        store.peek_ceremony(&t, "ch-1", "webauthn.get", T0).await,
        Ok(None)
    );
    assert_eq!(
        store.take_ceremony(&t, "ch-1", "webauthn.create", T0).await,
        Ok(Some(b"reg".to_vec()))
    );
}

/// Peeking leaves the value for a later take.
pub async fn ceremony_peek_does_not_consume(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let expires = T0 + Duration::minutes(5);
    store
        .put_ceremony(&t, "req-1", "authorize", b"{}".to_vec(), expires, T0)
        .await
        .expect("put");
    for _ in 0..3 {
        assert_eq!(
            store.peek_ceremony(&t, "req-1", "authorize", T0).await,
            Ok(Some(b"{}".to_vec()))
        );
    }
    assert_eq!(
        store.take_ceremony(&t, "req-1", "authorize", T0).await,
        Ok(Some(b"{}".to_vec()))
    );
    assert_eq!(
        store.peek_ceremony(&t, "req-1", "authorize", T0).await,
        Ok(None)
    );
}

/// A ceremony id cannot be stored twice (it would let an attacker overwrite a pending value).
pub async fn ceremony_duplicate_id_is_conflict(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let expires = T0 + Duration::minutes(5);
    store
        .put_ceremony(&t, "ch-1", "webauthn.get", b"first".to_vec(), expires, T0)
        .await
        .expect("put");
    assert_eq!(
        store
            .put_ceremony(&t, "ch-1", "webauthn.get", b"second".to_vec(), expires, T0)
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.take_ceremony(&t, "ch-1", "webauthn.get", T0).await,
        Ok(Some(b"first".to_vec()))
    );
}
