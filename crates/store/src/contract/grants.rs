//! Contract: The sign-count rule and sign-in records, authorization codes, tokens and sessions ([`crate::GrantStore`]).

use super::*;

/// A higher counter is recorded with the backup state and last use.
pub async fn sign_count_increase_is_recorded(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    let used = T0 + Duration::minutes(3);
    assert_eq!(
        sign_in(&*store, &t, b"c1", 0, 5, true, used).await,
        Ok(SignCountUpdate::Updated)
    );
    let c = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (c.sign_count, c.backup_state, c.last_used_at),
        (5, true, Some(used))
    );
    assert_eq!(
        sign_in(&*store, &t, b"c1", 5, u32::MAX, false, used).await,
        Ok(SignCountUpdate::Updated)
    );
    let c = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!((c.sign_count, c.backup_state), (u32::MAX, false));
}

/// A counter that does not increase is refused and changes nothing (WebAuthn L3 §7.2 clone signal).
pub async fn sign_count_regression_is_refused(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    assert_eq!(
        sign_in(&*store, &t, b"c1", 0, 10, false, T0).await,
        Ok(SignCountUpdate::Updated)
    );
    for new in [10, 9, 0] {
        let later = T0 + Duration::minutes(1);
        assert_eq!(
            sign_in(&*store, &t, b"c1", 10, new, true, later).await,
            Ok(SignCountUpdate::Regressed),
            "new = {new}"
        );
    }
    let c = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (c.sign_count, c.backup_state, c.last_used_at),
        (10, false, Some(T0))
    );
}

/// A caller whose expected counter is stale (a concurrent sign-in moved it) is refused.
pub async fn sign_count_stale_expected_value_is_refused(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    assert_eq!(
        sign_in(&*store, &t, b"c1", 0, 7, false, T0).await,
        Ok(SignCountUpdate::Updated)
    );
    assert_eq!(
        sign_in(&*store, &t, b"c1", 0, 8, false, T0).await,
        Ok(SignCountUpdate::Regressed)
    );
    let c = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(c.sign_count, 7);
}

/// Authenticators without a counter (0 then 0) keep signing in.
pub async fn sign_count_zero_stays_allowed(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    for minute in 1..4 {
        let used = T0 + Duration::minutes(minute);
        assert_eq!(
            sign_in(&*store, &t, b"c1", 0, 0, true, used).await,
            Ok(SignCountUpdate::Updated)
        );
    }
    let c = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (c.sign_count, c.last_used_at),
        (0, Some(T0 + Duration::minutes(3)))
    );
}

/// Bumping the counter of an unknown credential is not found, never "updated".
pub async fn sign_count_of_unknown_credential_is_not_found(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    assert_eq!(
        sign_in(&*store, &t, b"nope", 0, 1, false, T0).await,
        Err(StoreError::NotFound)
    );
}

/// Two sign-ins racing with the same stored counter: exactly one bump lands.
pub async fn sign_count_concurrent_bumps_have_one_winner(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    let mut tasks = Vec::new();
    for new in 1..=10u32 {
        let store = Arc::clone(&store);
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            sign_in(&*store, &t, b"c1", 0, new, false, T0).await
        }));
    }
    let mut updated = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(SignCountUpdate::Updated) => updated += 1,
            Ok(SignCountUpdate::Regressed) => {}
            Err(error) => panic!("bump failed: {error}"),
        }
    }
    assert_eq!(updated, 1);
    let c = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("exists");
    assert!((1..=10).contains(&c.sign_count));
}

async fn sign_count_of(store: &dyn Store, t: &TenantId, id: &[u8]) -> u32 {
    store
        .get_credential(t, id)
        .await
        .expect("get")
        .expect("exists")
        .sign_count
}

async fn has_session(store: &dyn Store, t: &TenantId, hash: &[u8]) -> bool {
    store
        .get_session(t, hash, T0)
        .await
        .expect("get session")
        .is_some()
}

/// A sign-in record bumps the counter, deletes the browser's previous session and starts the new one, together.
pub async fn sign_in_record_bumps_the_counter_and_replaces_the_session(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    store
        .create_session(&session(&t, b"old", "u1"))
        .await
        .expect("old session");
    assert_eq!(
        store
            .record_sign_in(
                &sign_count_bump(b"c1", 0, 3),
                SignCountRegression::Refuse,
                Some(b"old"),
                &session(&t, b"new", "u1")
            )
            .await,
        Ok(SignCountUpdate::Updated)
    );
    assert_eq!(sign_count_of(&*store, &t, b"c1").await, 3);
    let c = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (c.backup_state, c.last_used_at),
        (true, Some(T0 + Duration::minutes(2)))
    );
    assert!(!has_session(&*store, &t, b"old").await);
    assert!(has_session(&*store, &t, b"new").await);
}

/// A regressed counter with the policy refusing clones: no counter change, no new session, the old one kept.
pub async fn sign_in_record_refused_for_regression_changes_nothing(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    sign_in(&*store, &t, b"c1", 0, 10, false, T0)
        .await
        .expect("bump");
    store
        .create_session(&session(&t, b"old", "u1"))
        .await
        .expect("old session");
    assert_eq!(
        store
            .record_sign_in(
                &sign_count_bump(b"c1", 10, 9),
                SignCountRegression::Refuse,
                Some(b"old"),
                &session(&t, b"new", "u1")
            )
            .await,
        Ok(SignCountUpdate::Regressed)
    );
    assert_eq!(sign_count_of(&*store, &t, b"c1").await, 10);
    assert!(has_session(&*store, &t, b"old").await);
    assert!(!has_session(&*store, &t, b"new").await);
}

/// A regressed counter that the policy accepts: the counter stays, the session starts, and the outcome says so.
pub async fn sign_in_record_accepted_despite_regression_starts_the_session(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    sign_in(&*store, &t, b"c1", 0, 10, false, T0)
        .await
        .expect("bump");
    assert_eq!(
        store
            .record_sign_in(
                &sign_count_bump(b"c1", 10, 10),
                SignCountRegression::Accept,
                None,
                &session(&t, b"new", "u1")
            )
            .await,
        Ok(SignCountUpdate::Regressed)
    );
    assert_eq!(sign_count_of(&*store, &t, b"c1").await, 10);
    assert!(has_session(&*store, &t, b"new").await);
}

/// An unknown credential is `NotFound`, a session hash that exists is `Conflict`; neither changes anything.
pub async fn sign_in_record_of_unknown_credential_or_taken_session_changes_nothing(
    store: Arc<dyn Store>,
) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    assert_eq!(
        store
            .record_sign_in(
                &sign_count_bump(b"nope", 0, 1),
                SignCountRegression::Accept,
                None,
                &session(&t, b"s1", "u1")
            )
            .await,
        Err(StoreError::NotFound)
    );
    assert!(!has_session(&*store, &t, b"s1").await);
    store
        .create_session(&session(&t, b"taken", "u1"))
        .await
        .expect("session");
    store
        .create_session(&session(&t, b"old", "u1"))
        .await
        .expect("old session");
    assert_eq!(
        store
            .record_sign_in(
                &sign_count_bump(b"c1", 0, 5),
                SignCountRegression::Refuse,
                Some(b"old"),
                &session(&t, b"taken", "u1")
            )
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        sign_count_of(&*store, &t, b"c1").await,
        0,
        "the bump was rolled back"
    );
    assert!(
        has_session(&*store, &t, b"old").await,
        "the old session was kept"
    );
}

/// Ten sign-ins with the same stored counter, clones refused: one counter update and one session, never more.
pub async fn sign_in_records_racing_on_one_counter_start_one_session(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    let mut tasks = Vec::new();
    for n in 1..=10u8 {
        let store = Arc::clone(&store);
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let outcome = store
                .record_sign_in(
                    &sign_count_bump(b"c1", 0, u32::from(n)),
                    SignCountRegression::Refuse,
                    None,
                    &session(&t, &[n], "u1"),
                )
                .await;
            (n, outcome)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            (n, Ok(SignCountUpdate::Updated)) => winners.push(n),
            (_, Ok(SignCountUpdate::Regressed)) => {}
            (_, Err(error)) => panic!("record failed: {error}"),
        }
    }
    assert_eq!(winners.len(), 1);
    for n in 1..=10u8 {
        assert_eq!(
            has_session(&*store, &t, &[n]).await,
            winners.contains(&n),
            "session {n}"
        );
    }
}

/// A code is redeemed once; a second redemption reports the grant to revoke (`oidcc-codereuse`).
pub async fn auth_code_redemption_is_single_use_and_reuse_is_reported(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let code = auth_code(&t, b"code-hash", "grant-1");
    store.put_auth_code(&code).await.expect("put");
    assert_eq!(store.put_auth_code(&code).await, Err(StoreError::Conflict));
    assert_eq!(
        store.consume_auth_code(&t, b"code-hash", T0).await,
        Ok(CodeRedemption::Redeemed(code))
    );
    let reuse = CodeRedemption::AlreadyRedeemed {
        grant_id: "grant-1".into(),
    };
    assert_eq!(
        store
            .consume_auth_code(&t, b"code-hash", T0 + Duration::seconds(30))
            .await,
        Ok(reuse)
    );
    assert_eq!(
        store.consume_auth_code(&t, b"other", T0).await,
        Ok(CodeRedemption::NotFound)
    );
}

/// Twenty concurrent redemptions of one code: exactly one gets it, the others see reuse.
pub async fn auth_code_concurrent_redemption_has_one_winner(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    store
        .put_auth_code(&auth_code(&t, b"code-hash", "grant-1"))
        .await
        .expect("put");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = Arc::clone(&store);
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            store.consume_auth_code(&t, b"code-hash", T0).await
        }));
    }
    let (mut redeemed, mut reused) = (0, 0);
    for task in tasks {
        match task.await.expect("task") {
            Ok(CodeRedemption::Redeemed(_)) => redeemed += 1,
            Ok(CodeRedemption::AlreadyRedeemed { grant_id }) => {
                assert_eq!(grant_id, "grant-1");
                reused += 1;
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((redeemed, reused), (1, 19));
}

/// A code is peeked without being spent, then redeemed together with its access and refresh tokens; a second
/// redemption stores nothing and reports the grant; a token of another grant, or a revoked grant, changes nothing.
pub async fn auth_code_redeemed_with_its_tokens_in_one_write(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let code = auth_code(&t, b"code-hash", "grant-1");
    store.put_auth_code(&code).await.expect("put");
    assert_eq!(
        store.peek_auth_code(&t, b"code-hash", T0).await,
        Ok(Some(code.clone()))
    );
    assert_eq!(
        store
            .peek_auth_code(&t, b"code-hash", code.expires_at)
            .await,
        Ok(None),
        "an expired code is not peeked"
    );
    let stranger = access_token(&t, b"at-x", "grant-2");
    assert_eq!(
        store
            .redeem_auth_code(&t, b"code-hash", T0, &stranger, None)
            .await,
        Err(StoreError::Conflict),
        "a token of another grant"
    );
    assert_eq!(store.get_access_token(&t, b"at-x", T0).await, Ok(None));
    let access = access_token(&t, b"at-1", "grant-1");
    let refresh = refresh_token(&t, b"rt-1", "grant-1");
    assert_eq!(
        store
            .redeem_auth_code(&t, b"code-hash", T0, &access, Some(&refresh))
            .await,
        Ok(CodeRedemption::Redeemed(code.clone()))
    );
    assert_eq!(
        store.get_access_token(&t, b"at-1", T0).await,
        Ok(Some(access))
    );
    assert!(matches!(
        store.get_refresh_token(&t, b"rt-1", T0).await,
        Ok(Some(_))
    ));
    assert_eq!(
        store.peek_auth_code(&t, b"code-hash", T0).await,
        Ok(None),
        "a spent code is not peeked"
    );
    let again = access_token(&t, b"at-2", "grant-1");
    assert_eq!(
        store
            .redeem_auth_code(&t, b"code-hash", T0, &again, None)
            .await,
        Ok(CodeRedemption::AlreadyRedeemed {
            grant_id: "grant-1".into()
        })
    );
    assert_eq!(store.get_access_token(&t, b"at-2", T0).await, Ok(None));
    assert_eq!(
        store.redeem_auth_code(&t, b"other", T0, &again, None).await,
        Ok(CodeRedemption::NotFound)
    );

    let revoked = auth_code(&t, b"code-2", "grant-3");
    store.put_auth_code(&revoked).await.expect("put");
    store.revoke_grant(&t, "grant-3", T0).await.expect("revoke");
    let late = access_token(&t, b"at-3", "grant-3");
    assert_eq!(
        store.redeem_auth_code(&t, b"code-2", T0, &late, None).await,
        Err(StoreError::Conflict),
        "a revoked grant gets no token"
    );
    assert_eq!(store.get_access_token(&t, b"at-3", T0).await, Ok(None));
}

/// Twenty concurrent redemptions of one code, each with its own access token: one is stored, the others see reuse.
pub async fn auth_code_concurrent_redemption_with_tokens_has_one_winner(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    store
        .put_auth_code(&auth_code(&t, b"code-hash", "grant-1"))
        .await
        .expect("put");
    let mut tasks = Vec::new();
    for n in 0..20u8 {
        let store = Arc::clone(&store);
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let token = access_token(&t, &[b'a', n], "grant-1");
            (
                n,
                store
                    .redeem_auth_code(&t, b"code-hash", T0, &token, None)
                    .await,
            )
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            (n, Ok(CodeRedemption::Redeemed(_))) => winners.push(n),
            (_, Ok(CodeRedemption::AlreadyRedeemed { grant_id })) => {
                assert_eq!(grant_id, "grant-1")
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    for n in 0..20u8 {
        let stored = store
            .get_access_token(&t, &[b'a', n], T0)
            .await
            .expect("read");
        assert_eq!(stored.is_some(), winners.contains(&n), "token {n}");
    }
}

/// An expired code is not redeemed.
pub async fn auth_code_expired_is_not_redeemed(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let code = auth_code(&t, b"code-hash", "grant-1");
    store.put_auth_code(&code).await.expect("put");
    assert_eq!(
        store
            .consume_auth_code(&t, b"code-hash", code.expires_at)
            .await,
        Ok(CodeRedemption::NotFound)
    );
}

/// Reuse of a redeemed code is still reported after the code's expiry, and after a purge
/// (`oidcc-codereuse-30seconds`).
pub async fn auth_code_reuse_after_expiry_is_still_reported(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let code = auth_code(&t, b"code-hash", "grant-1");
    store.put_auth_code(&code).await.expect("put");
    assert!(matches!(
        store.consume_auth_code(&t, b"code-hash", T0).await,
        Ok(CodeRedemption::Redeemed(_))
    ));
    let later = code.expires_at + Duration::minutes(5);
    store.purge_expired(later, 100).await.expect("purge");
    assert_eq!(
        store.consume_auth_code(&t, b"code-hash", later).await,
        Ok(CodeRedemption::AlreadyRedeemed {
            grant_id: "grant-1".into()
        })
    );
}

/// An access token is returned while live and not after its expiry.
pub async fn access_token_is_returned_until_expiry(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let token = access_token(&t, b"at-1", "grant-1");
    store.put_access_token(&token).await.expect("put");
    assert_eq!(
        store.put_access_token(&token).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.get_access_token(&t, b"at-1", T0).await,
        Ok(Some(token.clone()))
    );
    assert_eq!(
        store.get_access_token(&t, b"at-1", token.expires_at).await,
        Ok(None)
    );
    assert_eq!(store.get_access_token(&t, b"at-2", T0).await, Ok(None));
}

/// Rotating a refresh token spends it; presenting it again is reuse (RFC 9700 §4.14.2).
pub async fn refresh_rotation_reuse_is_reported(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let first = refresh_token(&t, b"rt-1", "grant-1");
    store.put_refresh_token(&first).await.expect("put");
    let second = refresh_token(&t, b"rt-2", "grant-1");
    assert_eq!(
        store.rotate_refresh_token(&t, b"rt-1", &second, T0).await,
        Ok(RefreshRotation::Rotated(first))
    );
    let third = refresh_token(&t, b"rt-3", "grant-1");
    assert_eq!(
        store.rotate_refresh_token(&t, b"rt-1", &third, T0).await,
        Ok(RefreshRotation::Reused {
            grant_id: "grant-1".into()
        })
    );
    // The reused attempt stored nothing; the successor is still live until the caller revokes the grant.
    assert_eq!(
        store
            .rotate_refresh_token(&t, b"rt-3", &refresh_token(&t, b"rt-4", "grant-1"), T0)
            .await,
        Ok(RefreshRotation::NotFound)
    );
    assert!(matches!(
        store.rotate_refresh_token(&t, b"rt-2", &third, T0).await,
        Ok(RefreshRotation::Rotated(_))
    ));
}

/// Unknown and expired refresh tokens are not rotated.
pub async fn refresh_rotation_of_unknown_or_expired_token_is_not_found(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let first = refresh_token(&t, b"rt-1", "grant-1");
    store.put_refresh_token(&first).await.expect("put");
    let next = refresh_token(&t, b"rt-2", "grant-1");
    assert_eq!(
        store.rotate_refresh_token(&t, b"nope", &next, T0).await,
        Ok(RefreshRotation::NotFound)
    );
    assert_eq!(
        store
            .rotate_refresh_token(&t, b"rt-1", &next, first.expires_at)
            .await,
        Ok(RefreshRotation::NotFound)
    );
    // Nothing was stored by the failed rotations.
    assert_eq!(
        store
            .rotate_refresh_token(&t, b"rt-2", &refresh_token(&t, b"rt-3", "grant-1"), T0)
            .await,
        Ok(RefreshRotation::NotFound)
    );
}

/// Revoking a grant removes its tokens and refuses new ones; other grants are untouched.
pub async fn revoked_grant_tokens_are_gone_and_refused(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    store
        .put_access_token(&access_token(&t, b"at-1", "grant-1"))
        .await
        .expect("put");
    store
        .put_refresh_token(&refresh_token(&t, b"rt-1", "grant-1"))
        .await
        .expect("put");
    store
        .put_access_token(&access_token(&t, b"at-9", "grant-9"))
        .await
        .expect("put");
    store.revoke_grant(&t, "grant-1", T0).await.expect("revoke");
    store
        .revoke_grant(&t, "grant-1", T0)
        .await
        .expect("revoke is idempotent");
    assert_eq!(store.get_access_token(&t, b"at-1", T0).await, Ok(None));
    assert_eq!(
        store
            .rotate_refresh_token(&t, b"rt-1", &refresh_token(&t, b"rt-2", "grant-1"), T0)
            .await,
        Ok(RefreshRotation::NotFound)
    );
    assert_eq!(
        store
            .put_access_token(&access_token(&t, b"at-2", "grant-1"))
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store
            .put_refresh_token(&refresh_token(&t, b"rt-3", "grant-1"))
            .await,
        Err(StoreError::Conflict)
    );
    assert!(
        store
            .get_access_token(&t, b"at-9", T0)
            .await
            .expect("get")
            .is_some()
    );
}

/// The revoked-grant mark is dated by the caller's `now`, not the system clock: it lasts
/// [`crate::REVOKED_GRANT_RETENTION`] from that time and is purged after it.
pub async fn revoked_grant_mark_is_kept_from_the_callers_now(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    // Far from the system clock, so that a backend dating the mark by the system clock fails.
    let then = datetime!(2020-03-01 08:00 UTC);
    store
        .revoke_grant(&t, "grant-1", then)
        .await
        .expect("revoke");
    let mut token = refresh_token(&t, b"rt-1", "grant-1");
    token.expires_at = then + Duration::days(30);
    assert_eq!(
        store.put_refresh_token(&token).await,
        Err(StoreError::Conflict)
    );
    // Within the retention the mark survives a purge; after it, it is purged and the grant id is free again.
    store
        .purge_expired(
            then + crate::REVOKED_GRANT_RETENTION - Duration::seconds(1),
            100,
        )
        .await
        .expect("purge");
    assert_eq!(
        store.put_refresh_token(&token).await,
        Err(StoreError::Conflict)
    );
    store
        .purge_expired(
            then + crate::REVOKED_GRANT_RETENTION + Duration::seconds(1),
            100,
        )
        .await
        .expect("purge");
    assert_eq!(store.put_refresh_token(&token).await, Ok(()));
}

/// A refresh token is found by its hash with its family's payload, also once spent, so that the caller can learn
/// the family and let the rotation tell reuse apart.
pub async fn refresh_token_lookup_returns_live_and_spent_tokens_with_payload(
    store: Arc<dyn Store>,
) {
    let t = with_tenant(&*store, "alpha").await;
    let mut first = refresh_token(&t, b"rt-1", "grant-1");
    first.payload = br#"{"family":"grant-1","scopes":["openid","offline_access"]}"#.to_vec();
    store.put_refresh_token(&first).await.expect("put");
    assert_eq!(
        store.get_refresh_token(&t, b"rt-1", T0).await,
        Ok(Some(first.clone()))
    );
    let mut second = refresh_token(&t, b"rt-2", "grant-1");
    second.payload = first.payload.clone();
    assert!(matches!(
        store.rotate_refresh_token(&t, b"rt-1", &second, T0).await,
        Ok(RefreshRotation::Rotated(_))
    ));
    assert_eq!(
        store.get_refresh_token(&t, b"rt-1", T0).await,
        Ok(Some(first))
    );
    assert_eq!(
        store.get_refresh_token(&t, b"rt-2", T0).await,
        Ok(Some(second))
    );
}

/// Unknown, expired, revoked and other tenants' refresh tokens are not found.
pub async fn refresh_token_lookup_refuses_unknown_expired_and_revoked(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let other = with_tenant(&*store, "beta").await;
    let first = refresh_token(&t, b"rt-1", "grant-1");
    store.put_refresh_token(&first).await.expect("put");
    assert_eq!(store.get_refresh_token(&t, b"nope", T0).await, Ok(None));
    assert_eq!(store.get_refresh_token(&other, b"rt-1", T0).await, Ok(None));
    assert_eq!(
        store.get_refresh_token(&t, b"rt-1", first.expires_at).await,
        Ok(None)
    );
    store.revoke_grant(&t, "grant-1", T0).await.expect("revoke");
    assert_eq!(store.get_refresh_token(&t, b"rt-1", T0).await, Ok(None));
}

/// A session keeps its public `sid` and the authentication facts (UV, BE, trusted attestation) it started with.
pub async fn session_facts_and_sid_round_trip(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    for (i, (uv, be, trusted)) in [
        (true, false, true),
        (false, true, false),
        (true, true, false),
    ]
    .into_iter()
    .enumerate()
    {
        let mut s = session(&t, format!("s-{i}").as_bytes(), "u1");
        s.user_verified = uv;
        s.backup_eligible = be;
        s.attestation_trusted = trusted;
        store.create_session(&s).await.expect("create");
        let read = store
            .get_session(&t, &s.id_hash, T0)
            .await
            .expect("get")
            .expect("live");
        assert_eq!(read, s);
    }
    // The sid is unique in the tenant.
    let mut twin = session(&t, b"s-9", "u1");
    twin.sid = session(&t, b"s-0", "u1").sid;
    assert_eq!(store.create_session(&twin).await, Err(StoreError::Conflict));
}

/// Logout by `sid` ends that session only, and only when it belongs to the user the ID token names.
pub async fn session_is_ended_by_sid_only_for_its_user(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let other = with_tenant(&*store, "beta").await;
    let s1 = session(&t, b"s-1", "u1");
    let s2 = session(&t, b"s-2", "u1");
    store.create_session(&s1).await.expect("create");
    store.create_session(&s2).await.expect("create");
    assert_eq!(
        store
            .delete_session_by_sid(&t, &user_id("u2"), &s1.sid)
            .await,
        Ok(false)
    );
    assert_eq!(
        store
            .delete_session_by_sid(&other, &user_id("u1"), &s1.sid)
            .await,
        Ok(false)
    );
    assert_eq!(
        store
            .delete_session_by_sid(&t, &user_id("u1"), &s1.sid)
            .await,
        Ok(true)
    );
    assert_eq!(store.get_session(&t, b"s-1", T0).await, Ok(None));
    assert!(
        store
            .get_session(&t, b"s-2", T0)
            .await
            .expect("get")
            .is_some()
    );
    assert_eq!(
        store
            .delete_session_by_sid(&t, &user_id("u1"), &s1.sid)
            .await,
        Ok(false)
    );
}

/// A session reads back while live, not after expiry, and is deleted (idempotently).
pub async fn session_create_read_expire_delete(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let s1 = session(&t, b"s-1", "u1");
    store.create_session(&s1).await.expect("create");
    assert_eq!(store.create_session(&s1).await, Err(StoreError::Conflict));
    assert_eq!(
        store.get_session(&t, b"s-1", T0).await,
        Ok(Some(s1.clone()))
    );
    assert_eq!(store.get_session(&t, b"s-1", s1.expires_at).await, Ok(None));
    store.delete_session(&t, b"s-1").await.expect("delete");
    store
        .delete_session(&t, b"s-1")
        .await
        .expect("delete is idempotent");
    assert_eq!(store.get_session(&t, b"s-1", T0).await, Ok(None));
}
