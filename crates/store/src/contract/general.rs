//! Contract: Rules across every role: unusual values, tenant isolation, the purge, and failing closed.

use super::*;

/// Edge values survive a round trip unchanged: empty and large binary values, NUL bytes, non-ASCII text, extreme
/// timestamps and counters, negative algorithm ids.
pub async fn unusual_values_round_trip(store: Arc<dyn Store>) {
    let mut tenant = tenant("edge");
    tenant.display_name = "Ünïcødé 🗝️ \"quotes\" 'single' \\ back".into();
    tenant.origins = vec![];
    tenant.policy = serde_json::json!({ "nested": { "list": [1, 2.5, null, true, "x"] } });
    tenant.created_at = datetime!(1900-01-01 00:00 UTC);
    store
        .create_tenant_with_keys(&tenant, &[])
        .await
        .expect("create");
    assert_eq!(store.get_tenant(&tenant.id).await, Ok(Some(tenant.clone())));

    let t = tenant.id;
    let mut u = user(&t, "u1", "Ünïcødé 🗝️");
    u.id = user_id("u1!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");
    u.user_handle = vec![0, 255, 0, 0, 1];
    u.email = Some(String::new());
    let mut c = credential(&t, u.id.as_str(), &[0u8; 1023]);
    c.public_key = vec![0; 4096];
    c.alg = -65_535;
    c.sign_count = u32::MAX;
    c.aaguid = [0xff; 16];
    c.nickname = String::new();
    c.transports = vec![];
    c.created_at = datetime!(9999-12-31 23:59:59 UTC);
    store
        .create_user_with_credential(&u, &c)
        .await
        .expect("sign up");
    assert_eq!(store.get_user(&t, &u.id).await, Ok(Some(u.clone())));
    assert_eq!(store.get_credential(&t, &[0u8; 1023]).await, Ok(Some(c)));
    assert_eq!(store.get_credential(&t, &[0u8; 1022]).await, Ok(None));
    assert_eq!(store.get_credential(&t, &[]).await, Ok(None));

    let expires = T0 + Duration::minutes(1);
    store
        .put_ceremony(&t, "", "", Vec::new(), expires, T0)
        .await
        .expect("empty ceremony");
    store
        .put_ceremony(&t, "big", "k", vec![7; 256 * 1024], expires, T0)
        .await
        .expect("big ceremony");
    assert_eq!(
        store.take_ceremony(&t, "", "", T0).await,
        Ok(Some(Vec::new()))
    );
    assert_eq!(
        store.take_ceremony(&t, "big", "k", T0).await,
        Ok(Some(vec![7; 256 * 1024]))
    );
    assert_eq!(
        store.take_ceremony(&t, "' OR 1=1 --", "k", T0).await,
        Ok(None)
    );
}

/// Tenant A never sees, changes or consumes tenant B's rows, even when ids collide.
pub async fn tenant_isolation(store: Arc<dyn Store>) {
    let a = with_tenant(&*store, "alpha").await;
    let b = with_tenant(&*store, "beta").await;
    // The same ids in both tenants are allowed.
    let alice_a = with_user(&*store, &a, "u1", b"c1").await;
    with_user(&*store, &b, "u1", b"c1").await;
    store
        .add_credential(&credential(&a, "u1", b"only-a"))
        .await
        .expect("add");
    store
        .create_client(&client(&a, "app"))
        .await
        .expect("client a");
    let expires = T0 + Duration::minutes(5);
    store
        .put_ceremony(&a, "ch", "webauthn.get", b"a".to_vec(), expires, T0)
        .await
        .expect("put");
    store
        .put_auth_code(&auth_code(&a, b"code", "g"))
        .await
        .expect("code");
    store
        .put_access_token(&access_token(&a, b"at", "g"))
        .await
        .expect("at");
    store
        .put_refresh_token(&refresh_token(&a, b"rt", "g"))
        .await
        .expect("rt");
    store
        .create_session(&session(&a, b"s", "u1"))
        .await
        .expect("session");
    store
        .put_signing_key(&signing_key(&a, "k1", KeyStatus::Active))
        .await
        .expect("key");

    assert_eq!(store.get_credential(&b, b"only-a").await, Ok(None));
    assert_eq!(
        store
            .list_credentials(&b, &alice_a.id)
            .await
            .expect("list")
            .len(),
        1
    );
    assert_eq!(
        sign_in(&*store, &b, b"only-a", 0, 1, false, T0).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store
            .delete_credential(&b, &alice_a.id, b"only-a", T0, None)
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store
            .rename_credential(&b, &alice_a.id, b"only-a", "x", None)
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(store.get_client(&b, &client_id("app")).await, Ok(None));
    assert_eq!(
        store.peek_ceremony(&b, "ch", "webauthn.get", T0).await,
        Ok(None)
    );
    assert_eq!(
        store.take_ceremony(&b, "ch", "webauthn.get", T0).await,
        Ok(None)
    );
    assert_eq!(
        store.consume_auth_code(&b, b"code", T0).await,
        Ok(CodeRedemption::NotFound)
    );
    assert_eq!(store.get_access_token(&b, b"at", T0).await, Ok(None));
    assert_eq!(
        store
            .rotate_refresh_token(&b, b"rt", &refresh_token(&b, b"rt2", "g"), T0)
            .await,
        Ok(RefreshRotation::NotFound)
    );
    store.revoke_grant(&b, "g", T0).await.expect("revoke in b");
    assert_eq!(store.get_session(&b, b"s", T0).await, Ok(None));
    assert_eq!(
        store
            .delete_session_by_sid(&b, &user_id("u1"), &session(&a, b"s", "u1").sid)
            .await,
        Ok(false)
    );
    assert_eq!(store.list_signing_keys(&b).await, Ok(vec![]));
    assert_eq!(
        store.retire_signing_key(&b, "k1", T0).await,
        Err(StoreError::NotFound)
    );

    // Everything of tenant A is intact.
    assert_eq!(
        store
            .get_credential(&a, b"only-a")
            .await
            .expect("get")
            .map(|c| c.sign_count),
        Some(0)
    );
    assert_eq!(
        store.take_ceremony(&a, "ch", "webauthn.get", T0).await,
        Ok(Some(b"a".to_vec()))
    );
    assert!(matches!(
        store.consume_auth_code(&a, b"code", T0).await,
        Ok(CodeRedemption::Redeemed(_))
    ));
    assert!(
        store
            .get_access_token(&a, b"at", T0)
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        store
            .get_session(&a, b"s", T0)
            .await
            .expect("get")
            .is_some()
    );
    assert_eq!(
        store
            .put_access_token(&access_token(&a, b"at-new", "g"))
            .await,
        Ok(())
    );
    assert_eq!(store.list_signing_keys(&a).await.expect("list").len(), 1);
}

/// Purge deletes only expired rows, at most `batch` per table per call, and leaves live ones.
pub async fn purge_removes_expired_rows_in_bounded_batches(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let soon = T0 + Duration::minutes(1);
    let late = T0 + Duration::days(2);
    for i in 0..5u8 {
        store
            .put_ceremony(&t, &format!("old-{i}"), "k", vec![i], soon, T0)
            .await
            .expect("put");
        let mut s = session(&t, &[b's', i], "u1");
        s.expires_at = soon;
        store.create_session(&s).await.expect("session");
        let mut at = access_token(&t, &[b'a', i], "g");
        at.expires_at = soon;
        store.put_access_token(&at).await.expect("at");
    }
    store
        .put_ceremony(&t, "live", "k", vec![1], late, T0)
        .await
        .expect("put");
    let mut live_session = session(&t, b"live", "u1");
    live_session.expires_at = late;
    store.create_session(&live_session).await.expect("session");
    let mut live_token = access_token(&t, b"live", "g");
    live_token.expires_at = late;
    store.put_access_token(&live_token).await.expect("at");
    store
        .put_auth_code(&auth_code(&t, b"unredeemed", "g1"))
        .await
        .expect("code");
    store
        .put_refresh_token(&refresh_token(&t, b"rt", "g2"))
        .await
        .expect("rt");

    let now = T0 + Duration::days(1) + Duration::hours(1);
    let first = store.purge_expired(now, 2).await.expect("purge");
    assert!(first <= 2 * 7, "at most `batch` rows per table: {first}");
    assert!(first >= 2, "something was purged");
    let mut total = first;
    loop {
        let n = store.purge_expired(now, 2).await.expect("purge");
        if n == 0 {
            break;
        }
        total += n;
    }
    // 5 ceremonies + 5 sessions + 5 access tokens + 1 code + 1 refresh token.
    assert_eq!(total, 17);
    assert_eq!(
        store.peek_ceremony(&t, "live", "k", now).await,
        Ok(Some(vec![1]))
    );
    assert!(
        store
            .get_session(&t, b"live", now)
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        store
            .get_access_token(&t, b"live", now)
            .await
            .expect("get")
            .is_some()
    );
    assert_eq!(store.purge_expired(now, 0).await, Ok(0));
}

/// Every operation on a store whose database is gone (closed pool, unreachable server) fails with
/// [`StoreError::Unavailable`], never `None`, `NotFound` or a "regressed"/"reused" verdict. Backends call this with a
/// broken store.
pub async fn failure_is_unavailable_never_not_found(store: Arc<dyn Store>) {
    fn unavailable<T: std::fmt::Debug>(what: &str, result: Result<T, StoreError>) {
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{what}: {result:?}"
        );
    }
    let t = tenant_id("alpha");
    let u = user_id("u1");
    unavailable(
        "create_tenant_with_keys",
        store.create_tenant_with_keys(&tenant("alpha"), &[]).await,
    );
    unavailable("get_tenant", store.get_tenant(&t).await);
    unavailable("list_tenants", store.list_tenants().await);
    unavailable("update_tenant", store.update_tenant(&tenant("alpha")).await);
    unavailable("delete_tenant", store.delete_tenant(&t, true).await);
    unavailable(
        "create_client",
        store.create_client(&client(&t, "app")).await,
    );
    unavailable("get_client", store.get_client(&t, &client_id("app")).await);
    unavailable(
        "list_clients_page",
        store
            .list_clients_page(&t, &Default::default(), None, 10)
            .await,
    );
    unavailable(
        "record_sign_in",
        store
            .record_sign_in(
                &sign_count_bump(b"c", 0, 1),
                SignCountRegression::Refuse,
                None,
                &session(&t, b"s", "u1"),
            )
            .await,
    );
    unavailable(
        "create_user_with_credential",
        store
            .create_user_with_credential(&user(&t, "u1", "a"), &credential(&t, "u1", b"c"))
            .await,
    );
    unavailable("get_user", store.get_user(&t, &u).await);
    unavailable(
        "find_user_by_username",
        store.find_user_by_username(&t, "a").await,
    );
    unavailable(
        "add_credential",
        store.add_credential(&credential(&t, "u1", b"c")).await,
    );
    unavailable("get_credential", store.get_credential(&t, b"c").await);
    unavailable("list_credentials", store.list_credentials(&t, &u).await);
    unavailable(
        "rename_credential",
        store.rename_credential(&t, &u, b"c", "n", None).await,
    );
    unavailable(
        "delete_credential",
        store.delete_credential(&t, &u, b"c", T0, None).await,
    );
    unavailable(
        "put_ceremony",
        store.put_ceremony(&t, "c", "k", vec![], T0, T0).await,
    );
    unavailable("take_ceremony", store.take_ceremony(&t, "c", "k", T0).await);
    unavailable("peek_ceremony", store.peek_ceremony(&t, "c", "k", T0).await);
    unavailable(
        "put_auth_code",
        store.put_auth_code(&auth_code(&t, b"c", "g")).await,
    );
    unavailable(
        "consume_auth_code",
        store.consume_auth_code(&t, b"c", T0).await,
    );
    unavailable(
        "put_access_token",
        store.put_access_token(&access_token(&t, b"a", "g")).await,
    );
    unavailable(
        "get_access_token",
        store.get_access_token(&t, b"a", T0).await,
    );
    unavailable(
        "put_refresh_token",
        store.put_refresh_token(&refresh_token(&t, b"r", "g")).await,
    );
    unavailable(
        "rotate_refresh_token",
        store
            .rotate_refresh_token(&t, b"r", &refresh_token(&t, b"r2", "g"), T0)
            .await,
    );
    unavailable("revoke_grant", store.revoke_grant(&t, "g", T0).await);
    unavailable(
        "get_refresh_token",
        store.get_refresh_token(&t, b"rt", T0).await,
    );
    unavailable(
        "create_session",
        store.create_session(&session(&t, b"s", "u1")).await,
    );
    unavailable("get_session", store.get_session(&t, b"s", T0).await);
    unavailable("delete_session", store.delete_session(&t, b"s").await);
    unavailable(
        "delete_session_by_sid",
        store.delete_session_by_sid(&t, &u, "sid").await,
    );
    unavailable(
        "put_signing_key",
        store
            .put_signing_key(&signing_key(&t, "k", KeyStatus::Active))
            .await,
    );
    unavailable("list_signing_keys", store.list_signing_keys(&t).await);
    unavailable(
        "activate_signing_key",
        store.activate_signing_key(&t, "k").await,
    );
    unavailable(
        "retire_signing_key",
        store.retire_signing_key(&t, "k", T0).await,
    );
    unavailable(
        "delete_retired_signing_keys",
        store.delete_retired_signing_keys(&t, T0).await,
    );
    unavailable("purge_expired", store.purge_expired(T0, 10).await);
    let topic = crate::Topic::parse("crossdevice:x").expect("topic");
    let payload = crate::Payload::new("p").expect("payload");
    unavailable("notify", store.notify(&topic, &payload).await);
    unavailable("subscribe", store.subscribe(&topic).await);
}
