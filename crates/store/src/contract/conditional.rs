//! Conditional writes: an update or deletion based on the object as read (`expected`) changes nothing and answers
//! [`StoreError::Changed`] once someone else changed it, and of two such writes run at once exactly one succeeds.

use super::*;

/// Joins two store calls run at once and asserts that exactly one succeeded and the other found the row changed;
/// returns whether the first one won.
fn one_winner<T: std::fmt::Debug>(
    what: &str,
    left: &crate::Result<T>,
    right: &crate::Result<T>,
) -> bool {
    match (left, right) {
        (Ok(_), Err(StoreError::Changed)) => true,
        (Err(StoreError::Changed), Ok(_)) => false,
        other => panic!("{what}: exactly one of two writes from one read wins: {other:?}"),
    }
}

/// A client update or deletion from a stale read is `Changed` and writes nothing; from the current read it works.
pub async fn client_update_from_a_stale_read_is_changed(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    store
        .create_client(&client(&t, "app"))
        .await
        .expect("create");
    let read = store
        .get_client(&t, &client_id("app"))
        .await
        .expect("get")
        .expect("exists");
    let mut first = read.clone();
    first.display_name = "First".into();
    store
        .update_client(&first, Some(&read))
        .await
        .expect("from the current read");
    let mut late = read.clone();
    late.display_name = "Late".into();
    assert_eq!(
        store.update_client(&late, Some(&read)).await,
        Err(StoreError::Changed)
    );
    assert_eq!(
        store
            .delete_client(&t, &client_id("app"), Some(&read))
            .await,
        Err(StoreError::Changed)
    );
    let stored = store
        .get_client(&t, &client_id("app"))
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(stored.display_name, "First", "the first update is kept");
    assert_eq!(
        store.update_client(&client(&t, "ghost"), Some(&read)).await,
        Err(StoreError::NotFound)
    );
    store
        .delete_client(&t, &client_id("app"), Some(&stored))
        .await
        .expect("delete from the current read");
    assert_eq!(
        store.get_client(&t, &client_id("app")).await.expect("get"),
        None
    );
}

/// Two client updates from one read, run at once: exactly one is stored.
pub async fn client_concurrent_updates_from_one_read_have_one_winner(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    store
        .create_client(&client(&t, "app"))
        .await
        .expect("create");
    for round in 0..5 {
        let read = store
            .get_client(&t, &client_id("app"))
            .await
            .expect("get")
            .expect("exists");
        let (mut left, mut right) = (read.clone(), read.clone());
        left.display_name = format!("Left {round}");
        right.display_name = format!("Right {round}");
        let (l, r) = tokio::join!(
            store.update_client(&left, Some(&read)),
            store.update_client(&right, Some(&read))
        );
        let winner = if one_winner("client", &l, &r) {
            left
        } else {
            right
        };
        let stored = store
            .get_client(&t, &client_id("app"))
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(stored.display_name, winner.display_name, "round {round}");
    }
}

/// Disabling, enabling or deleting a user from a stale read is `Changed`; of two disables from one read, one wins.
pub async fn user_writes_from_a_stale_read_are_changed(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let alice = with_user(&*store, &t, "u1", b"c1").await;
    let read = store
        .get_user(&t, &alice.id)
        .await
        .expect("get")
        .expect("exists");
    let (l, r) = tokio::join!(
        store.set_user_disabled(&t, &alice.id, Some(T0), T0, Some(&read)),
        store.set_user_disabled(
            &t,
            &alice.id,
            Some(T0 + Duration::seconds(1)),
            T0,
            Some(&read)
        )
    );
    let first_won = one_winner("disable", &l, &r);
    let disabled = store
        .get_user(&t, &alice.id)
        .await
        .expect("get")
        .expect("exists");
    let expected_at = if first_won {
        T0
    } else {
        T0 + Duration::seconds(1)
    };
    assert_eq!(disabled.disabled_at, Some(expected_at));
    assert_eq!(
        store
            .set_user_disabled(&t, &alice.id, None, T0, Some(&read))
            .await,
        Err(StoreError::Changed),
        "enabling from the read before the disable"
    );
    assert_eq!(
        store.delete_user(&t, &alice.id, T0, Some(&read)).await,
        Err(StoreError::Changed)
    );
    assert!(
        store.get_user(&t, &alice.id).await.expect("get").is_some(),
        "kept"
    );
    store
        .delete_user(&t, &alice.id, T0, Some(&disabled))
        .await
        .expect("delete from the current read");
    assert_eq!(store.get_user(&t, &alice.id).await.expect("get"), None);
    assert_eq!(
        store.delete_user(&t, &alice.id, T0, Some(&disabled)).await,
        Err(StoreError::NotFound)
    );
}

/// Renaming or revoking a passkey from a stale read is `Changed`; of two renames from one read, one wins.
pub async fn credential_writes_from_a_stale_read_are_changed(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let alice = with_user(&*store, &t, "u1", b"c1").await;
    store
        .add_credential(&credential(&t, "u1", b"c2"))
        .await
        .expect("second passkey");
    let read = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("exists");
    let (l, r) = tokio::join!(
        store.rename_credential(&t, &alice.id, b"c1", "Left", Some(&read)),
        store.rename_credential(&t, &alice.id, b"c1", "Right", Some(&read))
    );
    let name = if one_winner("rename", &l, &r) {
        "Left"
    } else {
        "Right"
    };
    let renamed = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(renamed.nickname, name);
    assert_eq!(
        store
            .delete_credential(&t, &alice.id, b"c1", T0, Some(&read))
            .await,
        Err(StoreError::Changed)
    );
    assert!(
        store
            .get_credential(&t, b"c1")
            .await
            .expect("get")
            .is_some()
    );
    store
        .delete_credential(&t, &alice.id, b"c1", T0, Some(&renamed))
        .await
        .expect("revoke from the current read");
    assert_eq!(store.get_credential(&t, b"c1").await.expect("get"), None);
    // Another user's passkey does not match, whatever `expected` says.
    let bob = with_user(&*store, &t, "u2", b"c3").await;
    let theirs = store
        .get_credential(&t, b"c2")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        store
            .rename_credential(&t, &bob.id, b"c2", "Mine", Some(&theirs))
            .await,
        Err(StoreError::NotFound)
    );
}
