//! Contract: Tenants, clients and signing keys ([`crate::TenantStore`]).

use super::*;

/// A tenant reads back as stored, is listed, and is updated in place, one revision per update.
pub async fn tenant_create_read_list_update(store: Arc<dyn Store>) {
    let mut a = tenant("alpha");
    store
        .create_tenant_with_keys(&a, &[])
        .await
        .expect("create alpha");
    store
        .create_tenant_with_keys(&tenant("beta"), &[])
        .await
        .expect("create beta");
    assert_eq!(store.get_tenant(&a.id).await.expect("get"), Some(a.clone()));
    let listed: Vec<String> = store
        .list_tenants()
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.id.to_string())
        .collect();
    assert_eq!(listed, ["alpha", "beta"]);

    a.display_name = "Alpha Corp".into();
    a.origins = vec!["https://alpha.example.org".into()];
    a.policy = serde_json::json!({ "user_verification": "preferred" });
    assert_eq!(
        store.update_tenant(&a).await,
        Ok(2),
        "the update is revision 2"
    );
    a.revision = 2;
    assert_eq!(store.get_tenant(&a.id).await.expect("get"), Some(a.clone()));
    a.display_name = "Alpha Inc".into();
    assert_eq!(store.update_tenant(&a).await, Ok(3));
    assert_eq!(
        store
            .get_tenant(&tenant_id("gamma"))
            .await
            .expect("get missing"),
        None
    );
}

/// Creating a tenant whose id exists is a conflict and changes nothing.
pub async fn tenant_duplicate_id_is_conflict(store: Arc<dyn Store>) {
    let a = tenant("alpha");
    store
        .create_tenant_with_keys(&a, &[])
        .await
        .expect("create");
    let mut again = tenant("alpha");
    again.display_name = "Impostor".into();
    assert_eq!(
        store.create_tenant_with_keys(&again, &[]).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.get_tenant(&a.id).await.expect("get"), Some(a));
}

/// Updating a tenant that does not exist is not found.
pub async fn tenant_update_of_missing_tenant_is_not_found(store: Arc<dyn Store>) {
    assert_eq!(
        store.update_tenant(&tenant("ghost")).await,
        Err(StoreError::NotFound)
    );
}

/// A client reads back as stored (public and confidential).
pub async fn client_create_and_read(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let confidential = client(&t, "web");
    let mut public = client(&t, "spa");
    public.secret_hash = None;
    public.token_endpoint_auth_method = "none".into();
    public.jwks = Some(serde_json::json!({ "keys": [] }));
    store
        .create_client(&confidential)
        .await
        .expect("create web");
    store.create_client(&public).await.expect("create spa");
    assert_eq!(
        store
            .get_client(&t, &confidential.client_id)
            .await
            .expect("get"),
        Some(confidential.clone())
    );
    assert_eq!(
        store.get_client(&t, &public.client_id).await.expect("get"),
        Some(public.clone())
    );
    assert_eq!(
        store
            .get_client(&t, &client_id("other"))
            .await
            .expect("get"),
        None
    );
}

/// Registering a client id twice in a tenant is a conflict.
pub async fn client_duplicate_id_is_conflict(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    store
        .create_client(&client(&t, "web"))
        .await
        .expect("create");
    assert_eq!(
        store.create_client(&client(&t, "web")).await,
        Err(StoreError::Conflict)
    );
}

/// Replacing a confidential client's secret stores the new hash only; a public client (no secret), a missing
/// client and another tenant's client are not found, and nothing changes for them.
pub async fn client_secret_replacement_keeps_only_the_new_hash(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let other = with_tenant(&*store, "beta").await;
    store
        .create_client(&client(&t, "web"))
        .await
        .expect("create");
    let mut public = client(&t, "spa");
    public.secret_hash = None;
    public.token_endpoint_auth_method = "none".into();
    store.create_client(&public).await.expect("create public");
    store
        .replace_client_secret(&t, &client_id("web"), &[5; 32])
        .await
        .expect("replace");
    let read = store
        .get_client(&t, &client_id("web"))
        .await
        .expect("get")
        .expect("there");
    assert_eq!(read.secret_hash, Some(vec![5; 32]));
    assert_eq!(read.display_name, "App web", "nothing else changes");
    assert_eq!(
        store
            .replace_client_secret(&t, &client_id("spa"), &[5; 32])
            .await,
        Err(StoreError::NotFound),
        "a public client gets no secret"
    );
    let spa = store
        .get_client(&t, &client_id("spa"))
        .await
        .expect("get")
        .expect("there");
    assert_eq!(spa.secret_hash, None);
    assert_eq!(
        store
            .replace_client_secret(&t, &client_id("ghost"), &[5; 32])
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store
            .replace_client_secret(&other, &client_id("web"), &[5; 32])
            .await,
        Err(StoreError::NotFound),
        "another tenant's client id"
    );
}

/// Clients are listed per tenant by id; an update replaces the name and URIs only; a missing client is not found.
pub async fn client_list_update_and_missing(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let other = with_tenant(&*store, "beta").await;
    for id in ["web", "cli"] {
        store.create_client(&client(&t, id)).await.expect("create");
    }
    store
        .create_client(&client(&other, "elsewhere"))
        .await
        .expect("create other");
    let listed: Vec<String> = store
        .list_clients(&t)
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.client_id.to_string())
        .collect();
    assert_eq!(listed, ["cli", "web"]);
    let mut changed = client(&t, "web");
    changed.display_name = "Renamed".into();
    changed.redirect_uris = vec!["https://new.example.com/cb".into()];
    changed.post_logout_redirect_uris = Vec::new();
    changed.secret_hash = Some(vec![9; 32]);
    changed.token_endpoint_auth_method = "none".into();
    store.update_client(&changed, None).await.expect("update");
    let read = store
        .get_client(&t, &client_id("web"))
        .await
        .expect("get")
        .expect("still there");
    assert_eq!(read.display_name, "Renamed");
    assert_eq!(read.redirect_uris, ["https://new.example.com/cb"]);
    assert!(read.post_logout_redirect_uris.is_empty());
    assert_eq!(
        read.secret_hash,
        client(&t, "web").secret_hash,
        "the secret stays"
    );
    assert_eq!(read.token_endpoint_auth_method, "client_secret_basic");
    assert_eq!(
        store.update_client(&client(&t, "ghost"), None).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.delete_client(&t, &client_id("ghost"), None).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.delete_client(&t, &client_id("elsewhere"), None).await,
        Err(StoreError::NotFound),
        "another tenant's client"
    );
    assert!(
        store
            .list_clients(&tenant_id("nobody"))
            .await
            .expect("list")
            .is_empty()
    );
}

/// Deleting a client removes its codes and tokens with it; other clients' grants stay.
pub async fn client_delete_removes_what_it_was_issued(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    store
        .create_client(&client(&t, "app"))
        .await
        .expect("create app");
    store
        .create_client(&client(&t, "kept"))
        .await
        .expect("create kept");
    store
        .put_auth_code(&auth_code(&t, b"code-1", "grant-1"))
        .await
        .expect("code");
    store
        .put_access_token(&access_token(&t, b"at-1", "grant-1"))
        .await
        .expect("access");
    store
        .put_refresh_token(&refresh_token(&t, b"rt-1", "grant-1"))
        .await
        .expect("refresh");
    let mut kept = access_token(&t, b"at-kept", "grant-2");
    kept.client_id = client_id("kept");
    store.put_access_token(&kept).await.expect("kept token");
    store
        .delete_client(&t, &client_id("app"), None)
        .await
        .expect("delete");
    assert_eq!(store.get_client(&t, &client_id("app")).await, Ok(None));
    assert_eq!(
        store.consume_auth_code(&t, b"code-1", T0).await,
        Ok(CodeRedemption::NotFound)
    );
    assert_eq!(store.get_access_token(&t, b"at-1", T0).await, Ok(None));
    assert_eq!(store.get_refresh_token(&t, b"rt-1", T0).await, Ok(None));
    assert_eq!(
        store.get_access_token(&t, b"at-kept", T0).await,
        Ok(Some(kept))
    );
    assert!(
        store
            .get_client(&t, &client_id("kept"))
            .await
            .expect("get")
            .is_some()
    );
}

/// A tenant's clients come in pages ordered by client id in byte order (upper case before `-`, `.`, `_` and lower
/// case), each starting after the previous page's last id (which need not exist any more); other tenants' clients
/// never appear, and an unknown tenant has none.
pub async fn clients_page_in_client_id_order_after_a_cursor(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let other = with_tenant(&*store, "beta").await;
    for id in ["web", "cli", "Zed", "app_2", "app-1", "app.3"] {
        store.create_client(&client(&t, id)).await.expect("create");
    }
    store
        .create_client(&client(&other, "apple"))
        .await
        .expect("create other");
    let ids = |page: Vec<Client>| -> Vec<String> {
        page.into_iter().map(|c| c.client_id.to_string()).collect()
    };
    let mut pages = Vec::new();
    let mut after: Option<ClientId> = None;
    loop {
        let page = store
            .list_clients_page(&t, &Default::default(), after.as_ref(), 2)
            .await
            .expect("page");
        assert!(page.len() <= 2, "at most the limit");
        let Some(last) = page.last() else { break };
        after = Some(last.client_id.clone());
        pages.push(ids(page));
    }
    assert_eq!(
        pages,
        [
            vec!["Zed", "app-1"],
            vec!["app.3", "app_2"],
            vec!["cli", "web"]
        ]
    );
    let whole = store
        .list_clients_page(&t, &Default::default(), None, 100)
        .await
        .expect("whole");
    assert_eq!(
        whole,
        store
            .list_clients_page(&t, &Default::default(), None, 100)
            .await
            .expect("again")
    );
    assert_eq!(
        whole.iter().find(|c| c.client_id.as_str() == "web"),
        Some(&client(&t, "web")),
        "clients read back as stored"
    );
    assert_eq!(
        ids(store
            .list_clients_page(&t, &Default::default(), Some(&client_id("b")), 10)
            .await
            .expect("after a gone id")),
        ["cli", "web"]
    );
    assert!(
        store
            .list_clients_page(&t, &Default::default(), Some(&client_id("web")), 10)
            .await
            .expect("after the last")
            .is_empty()
    );
    assert!(
        store
            .list_clients_page(&tenant_id("nobody"), &Default::default(), None, 10)
            .await
            .expect("unknown tenant")
            .is_empty()
    );
}

/// A client cannot be registered with a tenant that does not exist.
pub async fn client_of_missing_tenant_is_not_found(store: Arc<dyn Store>) {
    assert_eq!(
        store
            .create_client(&client(&tenant_id("ghost"), "web"))
            .await,
        Err(StoreError::NotFound)
    );
}

/// Keys go pending → active → retired → deleted, and are listed oldest first.
pub async fn signing_key_rotation_lifecycle(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let old = signing_key(&t, "k1", KeyStatus::Active);
    let mut new = signing_key(&t, "k2", KeyStatus::Pending);
    new.alg = "RS256".into();
    new.created_at = T0 + Duration::hours(1);
    store.put_signing_key(&old).await.expect("put");
    store.put_signing_key(&new).await.expect("put");
    assert_eq!(store.put_signing_key(&old).await, Err(StoreError::Conflict));
    assert_eq!(
        store.list_signing_keys(&t).await,
        Ok(vec![old.clone(), new.clone()])
    );

    let at = T0 + Duration::hours(2);
    store
        .activate_signing_key(&t, "k2")
        .await
        .expect("activate");
    store
        .retire_signing_key(&t, "k1", at)
        .await
        .expect("retire");
    store
        .retire_signing_key(&t, "k1", at + Duration::hours(1))
        .await
        .expect("retire again");
    assert_eq!(
        store.activate_signing_key(&t, "k1").await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.retire_signing_key(&t, "k9", at).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.activate_signing_key(&t, "k9").await,
        Err(StoreError::NotFound)
    );
    let keys = store.list_signing_keys(&t).await.expect("list");
    let states: Vec<_> = keys
        .iter()
        .map(|k| (k.kid.as_str(), k.status, k.retired_at))
        .collect();
    assert_eq!(
        states,
        [
            ("k1", KeyStatus::Retired, Some(at)),
            ("k2", KeyStatus::Active, None)
        ]
    );

    assert_eq!(store.delete_retired_signing_keys(&t, at).await, Ok(0));
    assert_eq!(
        store
            .delete_retired_signing_keys(&t, at + Duration::seconds(1))
            .await,
        Ok(1)
    );
    let kids: Vec<_> = store
        .list_signing_keys(&t)
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["k2"]);
}

/// A tenant and its keys are created together, or neither: a duplicate kid among the keys leaves no tenant behind,
/// and a tenant id that exists leaves its keys untouched.
pub async fn create_tenant_with_keys_is_all_or_nothing(store: Arc<dyn Store>) {
    let a = tenant("alpha");
    let rs = signing_key(&a.id, "rs", KeyStatus::Active);
    let es = signing_key(&a.id, "es", KeyStatus::Active);
    let twin = signing_key(&a.id, "rs", KeyStatus::Pending);
    assert_eq!(
        store
            .create_tenant_with_keys(&a, &[rs.clone(), es.clone(), twin])
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.get_tenant(&a.id).await, Ok(None));
    assert_eq!(store.list_signing_keys(&a.id).await, Ok(vec![]));

    let mut stale = a.clone();
    stale.revision = 7;
    store
        .create_tenant_with_keys(&stale, &[rs.clone(), es.clone()])
        .await
        .expect("create with keys");
    assert_eq!(
        store.get_tenant(&a.id).await,
        Ok(Some(a.clone())),
        "a new tenant is at revision 1"
    );
    let kids: Vec<_> = store
        .list_signing_keys(&a.id)
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["es", "rs"]);

    let mut again = tenant("alpha");
    again.display_name = "Impostor".into();
    let extra = signing_key(&a.id, "extra", KeyStatus::Active);
    assert_eq!(
        store.create_tenant_with_keys(&again, &[extra]).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.get_tenant(&a.id).await, Ok(Some(a.clone())));
    assert_eq!(
        store.list_signing_keys(&a.id).await.expect("list").len(),
        2,
        "the refused creation added no key"
    );
}

/// A key that names another tenant is refused, and nothing is created.
pub async fn create_tenant_with_keys_refuses_a_key_of_another_tenant(store: Arc<dyn Store>) {
    let beta = with_tenant(&*store, "beta").await;
    let a = tenant("alpha");
    let foreign = signing_key(&beta, "k1", KeyStatus::Active);
    assert_eq!(
        store.create_tenant_with_keys(&a, &[foreign]).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.get_tenant(&a.id).await, Ok(None));
    assert_eq!(store.list_signing_keys(&beta).await, Ok(vec![]));
}

/// An update that names a revision the tenant is no longer at is a conflict and writes nothing.
pub async fn tenant_update_from_a_stale_revision_is_conflict(store: Arc<dyn Store>) {
    let id = with_tenant(&*store, "alpha").await;
    let read = store.get_tenant(&id).await.expect("get").expect("exists");
    let mut first = read.clone();
    first.display_name = "First".into();
    assert_eq!(store.update_tenant(&first).await, Ok(2));

    let mut late = read;
    late.display_name = "Late".into();
    late.origins = vec!["https://late.example.com".into()];
    assert_eq!(store.update_tenant(&late).await, Err(StoreError::Conflict));
    let stored = store.get_tenant(&id).await.expect("get").expect("exists");
    assert_eq!(
        (stored.display_name.as_str(), stored.revision),
        ("First", 2),
        "the first update is kept"
    );
    assert_eq!(stored.origins, tenant("alpha").origins);

    let mut ahead = stored.clone();
    ahead.revision = 3;
    assert_eq!(
        store.update_tenant(&ahead).await,
        Err(StoreError::Conflict),
        "a revision not yet reached"
    );
}

/// Two updates of one tenant read at the same revision, run at once: exactly one wins, the other is a conflict,
/// and the stored tenant is the winner's.
pub async fn tenant_concurrent_updates_from_one_revision_have_one_winner(store: Arc<dyn Store>) {
    let id = with_tenant(&*store, "alpha").await;
    for round in 0..5u64 {
        let read = store.get_tenant(&id).await.expect("get").expect("exists");
        assert_eq!(read.revision, 1 + round);
        let (mut left, mut right) = (read.clone(), read);
        left.display_name = format!("Left {round}");
        right.display_name = format!("Right {round}");
        let (l, r) = tokio::join!(store.update_tenant(&left), store.update_tenant(&right));
        let winner = match (&l, &r) {
            (Ok(revision), Err(StoreError::Conflict)) => {
                assert_eq!(*revision, 2 + round);
                left.display_name.clone()
            }
            (Err(StoreError::Conflict), Ok(revision)) => {
                assert_eq!(*revision, 2 + round);
                right.display_name.clone()
            }
            other => panic!("round {round}: exactly one update wins: {other:?}"),
        };
        let stored = store.get_tenant(&id).await.expect("get").expect("exists");
        assert_eq!(stored.display_name, winner, "round {round}");
        assert_eq!(stored.revision, 2 + round);
    }
}

/// A tenant with clients or users is kept unless the deletion is forced (and the counts say what it holds); a
/// forced deletion removes the tenant with its clients, users, passkeys, keys, sessions, codes and tokens at once,
/// and leaves other tenants alone.
pub async fn tenant_delete_refuses_what_is_not_empty_unless_forced(store: Arc<dyn Store>) {
    assert_eq!(
        store.delete_tenant(&tenant_id("nowhere"), false).await,
        Err(StoreError::NotFound)
    );
    let empty = tenant("empty");
    store
        .create_tenant_with_keys(
            &empty,
            &[signing_key(&empty.id, "k-empty", KeyStatus::Active)],
        )
        .await
        .expect("create empty");
    assert_eq!(
        store.delete_tenant(&empty.id, false).await,
        Ok(TenantDeletion::Deleted(TenantContents::default()))
    );
    assert_eq!(store.get_tenant(&empty.id).await, Ok(None));
    assert_eq!(store.list_signing_keys(&empty.id).await, Ok(vec![]));

    let full = tenant("alpha");
    store
        .create_tenant_with_keys(
            &full,
            &[signing_key(&full.id, "k-alpha", KeyStatus::Active)],
        )
        .await
        .expect("create alpha");
    let t = full.id.clone();
    let kept = with_tenant(&*store, "beta").await;
    for tenant in [&t, &kept] {
        store
            .create_client(&client(tenant, "app"))
            .await
            .expect("client");
        with_user(&*store, tenant, "u1", b"cred-1").await;
        store
            .create_session(&session(tenant, b"sess-1", "u1"))
            .await
            .expect("session");
        store
            .put_auth_code(&auth_code(tenant, b"code-1", "grant-1"))
            .await
            .expect("code");
        store
            .put_access_token(&access_token(tenant, b"at-1", "grant-1"))
            .await
            .expect("access");
        store
            .put_refresh_token(&refresh_token(tenant, b"rt-1", "grant-1"))
            .await
            .expect("refresh");
    }
    let holds = TenantContents {
        clients: 1,
        users: 1,
    };
    assert_eq!(
        store.delete_tenant(&t, false).await,
        Ok(TenantDeletion::NotEmpty(holds))
    );
    assert!(store.get_tenant(&t).await.expect("get").is_some());
    assert!(
        store
            .get_client(&t, &client_id("app"))
            .await
            .expect("get")
            .is_some()
    );

    assert_eq!(
        store.delete_tenant(&t, true).await,
        Ok(TenantDeletion::Deleted(holds))
    );
    assert_eq!(store.get_tenant(&t).await, Ok(None));
    assert_eq!(store.get_client(&t, &client_id("app")).await, Ok(None));
    assert_eq!(store.get_user(&t, &user_id("u1")).await, Ok(None));
    assert_eq!(store.get_credential(&t, b"cred-1").await, Ok(None));
    assert_eq!(store.list_signing_keys(&t).await, Ok(vec![]));
    assert_eq!(store.get_session(&t, b"sess-1", T0).await, Ok(None));
    assert_eq!(
        store.consume_auth_code(&t, b"code-1", T0).await,
        Ok(CodeRedemption::NotFound)
    );
    assert_eq!(store.get_access_token(&t, b"at-1", T0).await, Ok(None));
    assert_eq!(store.get_refresh_token(&t, b"rt-1", T0).await, Ok(None));
    assert_eq!(
        store.delete_tenant(&t, true).await,
        Err(StoreError::NotFound)
    );

    assert!(store.get_tenant(&kept).await.expect("get").is_some());
    assert!(
        store
            .get_user(&kept, &user_id("u1"))
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        store
            .get_session(&kept, b"sess-1", T0)
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        store
            .get_access_token(&kept, b"at-1", T0)
            .await
            .expect("get")
            .is_some()
    );
    // The freed id can be used again.
    store
        .create_tenant_with_keys(
            &full,
            &[signing_key(&full.id, "k-alpha", KeyStatus::Active)],
        )
        .await
        .expect("create alpha again");
}
