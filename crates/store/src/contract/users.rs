//! Contract: Users and credentials ([`crate::UserStore`]).

use super::*;

/// A user and credential read back as stored, by id, username, handle and credential id.
pub async fn user_with_credential_round_trips(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let mut u = user(&t, "u1", "Alice");
    u.email = None;
    u.email_verified = true;
    let c = credential(&t, "u1", b"cred-1");
    store
        .create_user_with_credential(&u, &c)
        .await
        .expect("sign up");
    assert_eq!(
        store.get_user(&t, &u.id).await.expect("get"),
        Some(u.clone())
    );
    assert_eq!(
        store
            .find_user_by_username(&t, "Alice")
            .await
            .expect("by name"),
        Some(u.clone())
    );
    assert_eq!(
        store.get_credential(&t, b"cred-1").await.expect("get cred"),
        Some(c.clone())
    );
    assert_eq!(
        store.get_credential(&t, b"cred-2").await.expect("get cred"),
        None
    );

    let mut second = credential(&t, "u1", b"cred-2");
    second.created_at = T0 + Duration::seconds(5);
    second.aaguid = [0; 16];
    second.transports = vec![];
    second.sign_count = u32::MAX;
    store.add_credential(&second).await.expect("add");
    assert_eq!(
        store.list_credentials(&t, &u.id).await.expect("list"),
        vec![c, second]
    );
    assert_eq!(
        store
            .list_credentials(&t, &user_id("nobody"))
            .await
            .expect("list"),
        vec![]
    );
}

/// Sign-up creates both user and credential or neither: a duplicate credential id leaves no user behind.
pub async fn create_user_with_credential_is_all_or_nothing(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"taken").await;
    let late = user(&t, "u2", "bob");
    assert_eq!(
        store
            .create_user_with_credential(&late, &credential(&t, "u2", b"taken"))
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.get_user(&t, &late.id).await.expect("get"), None);
    assert_eq!(
        store
            .find_user_by_username(&t, "bob")
            .await
            .expect("by name"),
        None
    );
    // The name and the user handle are still free afterwards.
    store
        .create_user_with_credential(&late, &credential(&t, "u2", b"fresh"))
        .await
        .expect("retry");
}

/// Sign-up refuses a credential that names another user as its owner.
pub async fn create_user_with_credential_refuses_mismatched_owner(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let u = user(&t, "u1", "alice");
    assert_eq!(
        store
            .create_user_with_credential(&u, &credential(&t, "u9", b"c"))
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.get_user(&t, &u.id).await.expect("get"), None);
}

/// Usernames are unique per tenant ignoring case, and found ignoring case.
pub async fn username_uniqueness_is_case_insensitive(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    store
        .create_user_with_credential(&user(&t, "u1", "Émile"), &credential(&t, "u1", b"c1"))
        .await
        .expect("first");
    assert_eq!(
        store
            .create_user_with_credential(&user(&t, "u2", "éMILE"), &credential(&t, "u2", b"c2"))
            .await,
        Err(StoreError::Conflict)
    );
    let found = store
        .find_user_by_username(&t, "ÉMILE")
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found.id, user_id("u1"));
    assert_eq!(
        found.username, "Émile",
        "the username keeps the case it was given"
    );
}

/// Two users of a tenant cannot share a user handle.
pub async fn user_handle_is_unique_per_tenant(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    let mut clash = user(&t, "u2", "bob");
    clash.user_handle = b"handle-u1".to_vec();
    assert_eq!(
        store
            .create_user_with_credential(&clash, &credential(&t, "u2", b"c2"))
            .await,
        Err(StoreError::Conflict)
    );
}

/// A credential id registered for one user cannot be added again, for the same or another user.
pub async fn credential_id_is_unique_per_tenant(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    with_user(&*store, &t, "u1", b"c1").await;
    with_user(&*store, &t, "u2", b"c2").await;
    assert_eq!(
        store.add_credential(&credential(&t, "u2", b"c1")).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.add_credential(&credential(&t, "u1", b"c1")).await,
        Err(StoreError::Conflict)
    );
    let owner = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("still there");
    assert_eq!(owner.user_id, user_id("u1"));
}

/// A credential cannot be added to a user who does not exist.
pub async fn add_credential_requires_existing_user(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    assert_eq!(
        store.add_credential(&credential(&t, "ghost", b"c1")).await,
        Err(StoreError::NotFound)
    );
}

/// Only the owner renames a credential.
pub async fn rename_credential_requires_owner(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let alice = with_user(&*store, &t, "u1", b"c1").await;
    let bob = with_user(&*store, &t, "u2", b"c2").await;
    assert_eq!(
        store
            .rename_credential(&t, &bob.id, b"c1", "mine now", None)
            .await,
        Err(StoreError::NotFound)
    );
    store
        .rename_credential(&t, &alice.id, b"c1", "Work laptop", None)
        .await
        .expect("rename");
    let c = store
        .get_credential(&t, b"c1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(c.nickname, "Work laptop");
    assert_eq!(
        store
            .rename_credential(&t, &alice.id, b"nope", "x", None)
            .await,
        Err(StoreError::NotFound)
    );
}

/// Only the owner deletes a credential.
pub async fn delete_credential_requires_owner(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let alice = with_user(&*store, &t, "u1", b"c1").await;
    store
        .add_credential(&credential(&t, "u1", b"c1b"))
        .await
        .expect("add");
    let bob = with_user(&*store, &t, "u2", b"c2").await;
    store
        .add_credential(&credential(&t, "u2", b"c2b"))
        .await
        .expect("add");
    assert_eq!(
        store.delete_credential(&t, &bob.id, b"c1", T0, None).await,
        Err(StoreError::NotFound)
    );
    assert!(
        store
            .get_credential(&t, b"c1")
            .await
            .expect("get")
            .is_some()
    );
    store
        .delete_credential(&t, &alice.id, b"c1", T0, None)
        .await
        .expect("delete");
    assert_eq!(store.get_credential(&t, b"c1").await.expect("get"), None);
    assert_eq!(
        store
            .delete_credential(&t, &alice.id, b"c1", T0, None)
            .await,
        Err(StoreError::NotFound)
    );
}

/// A user's last credential cannot be deleted.
pub async fn last_credential_cannot_be_deleted(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let alice = with_user(&*store, &t, "u1", b"c1").await;
    assert_eq!(
        store
            .delete_credential(&t, &alice.id, b"c1", T0, None)
            .await,
        Err(StoreError::Conflict)
    );
    assert!(
        store
            .get_credential(&t, b"c1")
            .await
            .expect("get")
            .is_some()
    );
    store
        .add_credential(&credential(&t, "u1", b"c2"))
        .await
        .expect("add");
    store
        .delete_credential(&t, &alice.id, b"c1", T0, None)
        .await
        .expect("delete one of two");
    assert_eq!(
        store
            .delete_credential(&t, &alice.id, b"c2", T0, None)
            .await,
        Err(StoreError::Conflict)
    );
}

/// Deleting both of a user's two credentials at once leaves exactly one: one delete wins, the other is refused.
pub async fn concurrent_deletes_keep_the_last_credential(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    for round in 0..5u8 {
        let id = format!("u{round}");
        let owner = with_user(&*store, &t, &id, &[b'a', round]).await;
        store
            .add_credential(&credential(&t, &id, &[b'b', round]))
            .await
            .expect("add");
        let (a, b) = ([b'a', round], [b'b', round]);
        let (first, second) = tokio::join!(
            store.delete_credential(&t, &owner.id, &a, T0, None),
            store.delete_credential(&t, &owner.id, &b, T0, None)
        );
        assert!(
            first.is_ok() != second.is_ok(),
            "round {round}: exactly one delete wins: {first:?} {second:?}"
        );
        assert!(matches!(
            (&first, &second),
            (Err(StoreError::Conflict), _) | (_, Err(StoreError::Conflict))
        ));
        assert_eq!(
            store
                .list_credentials(&t, &owner.id)
                .await
                .expect("list")
                .len(),
            1,
            "round {round}"
        );
    }
}

/// Deleting a passkey deletes the sessions signed in with it and revokes the grants bound to it (their tokens are
/// gone and new ones refused); the user's other sessions and grants stay.
pub async fn deleting_a_credential_ends_its_sessions_and_revokes_its_grants(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let alice = with_user(&*store, &t, "u1", b"stolen").await;
    store
        .add_credential(&credential(&t, "u1", b"kept"))
        .await
        .expect("add");
    let mut with_stolen = session(&t, b"s-stolen", "u1");
    with_stolen.credential_id = Some(b"stolen".to_vec());
    let mut with_kept = session(&t, b"s-kept", "u1");
    with_kept.credential_id = Some(b"kept".to_vec());
    for s in [&with_stolen, &with_kept] {
        store.create_session(s).await.expect("session");
    }
    for (grant, passkey) in [("g-stolen", b"stolen".as_slice()), ("g-kept", b"kept")] {
        let mut access = access_token(&t, format!("at-{grant}").as_bytes(), grant);
        access.passkey = issued_from(passkey);
        store.put_access_token(&access).await.expect("access token");
        let mut refresh = refresh_token(&t, format!("rt-{grant}").as_bytes(), grant);
        refresh.passkey = issued_from(passkey);
        store
            .put_refresh_token(&refresh)
            .await
            .expect("refresh token");
    }
    store
        .delete_credential(&t, &alice.id, b"stolen", T0, None)
        .await
        .expect("delete");
    let now = T0 + Duration::seconds(1);
    assert_eq!(
        store.get_session(&t, b"s-stolen", now).await.expect("get"),
        None
    );
    assert!(
        store
            .get_session(&t, b"s-kept", now)
            .await
            .expect("get")
            .is_some()
    );
    assert_eq!(
        store
            .get_access_token(&t, b"at-g-stolen", now)
            .await
            .expect("get"),
        None
    );
    assert_eq!(
        store
            .get_refresh_token(&t, b"rt-g-stolen", now)
            .await
            .expect("get"),
        None
    );
    assert!(
        store
            .get_access_token(&t, b"at-g-kept", now)
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        store
            .get_refresh_token(&t, b"rt-g-kept", now)
            .await
            .expect("get")
            .is_some()
    );
    // A code of the revoked grant redeemed later gets no tokens.
    let mut late = access_token(&t, b"at-late", "g-stolen");
    late.passkey = issued_from(b"stolen");
    assert_eq!(
        store.put_access_token(&late).await,
        Err(StoreError::Conflict)
    );
    // A grant issued after the revocation from a passkey registered again with the same id is not revoked.
    with_user(&*store, &t, "u9", b"stolen").await;
    let mut later = access_token(&t, b"at-after", "g-after");
    later.passkey = Some(GrantPasskey {
        credential_id: b"stolen".to_vec(),
        granted_at: T0 + Duration::seconds(1),
    });
    store.put_access_token(&later).await.expect("a later grant");
    assert!(
        store
            .get_access_token(&t, b"at-after", now)
            .await
            .expect("get")
            .is_some()
    );
}

/// A code stored with its passkey binding in one write: redeemed normally; deleting that passkey revokes its grant
/// (no token for it afterwards), and a code whose hash exists stores neither the code nor the binding.
pub async fn code_stored_with_its_passkey_binding_is_revoked_with_the_passkey(
    store: Arc<dyn Store>,
) {
    let t = with_tenant(&*store, "alpha").await;
    let alice = with_user(&*store, &t, "u1", b"pk-1").await;
    for passkey in [b"pk-2", b"pk-3"] {
        store
            .add_credential(&credential(&t, "u1", passkey))
            .await
            .expect("add");
    }
    let mut code = auth_code(&t, b"code-1", "g-1");
    code.passkey = issued_from(b"pk-1");
    store.put_auth_code(&code).await.expect("put");
    // The same hash again, of the other passkey: refused, and that passkey is not stored either.
    let mut again = auth_code(&t, b"code-1", "g-2");
    again.payload = b"{}".to_vec();
    again.passkey = issued_from(b"pk-2");
    assert_eq!(store.put_auth_code(&again).await, Err(StoreError::Conflict));
    assert_eq!(
        store.peek_auth_code(&t, b"code-1", T0).await,
        Ok(Some(code.clone())),
        "the code keeps its passkey"
    );
    // Redeemed: the tokens are stored with the code's passkey, whatever theirs says.
    let mut unbound = access_token(&t, b"at-g-1", "g-1");
    unbound.passkey = None;
    let mut refresh = refresh_token(&t, b"rt-g-1", "g-1");
    refresh.passkey = issued_from(b"pk-3");
    assert_eq!(
        store
            .redeem_auth_code(&t, b"code-1", T0, &unbound, Some(&refresh))
            .await,
        Ok(CodeRedemption::Redeemed(code.clone()))
    );
    let mut other = access_token(&t, b"at-g-2", "g-2");
    other.passkey = issued_from(b"pk-2");
    store.put_access_token(&other).await.expect("access token");
    // A second code of the same passkey, not yet redeemed.
    let mut pending = auth_code(&t, b"code-2", "g-3");
    pending.passkey = issued_from(b"pk-1");
    store.put_auth_code(&pending).await.expect("put");
    // Deleting pk-3 revokes nothing of g-1: its tokens are of the code's passkey.
    store
        .delete_credential(&t, &alice.id, b"pk-3", T0, None)
        .await
        .expect("delete pk-3");
    let now = T0 + Duration::seconds(1);
    assert!(
        store
            .get_refresh_token(&t, b"rt-g-1", now)
            .await
            .expect("get")
            .is_some()
    );
    store
        .delete_credential(&t, &alice.id, b"pk-1", T0, None)
        .await
        .expect("delete pk-1");
    for token in [b"at-g-1".as_slice()] {
        assert_eq!(
            store.get_access_token(&t, token, now).await.expect("get"),
            None
        );
    }
    assert_eq!(
        store
            .get_refresh_token(&t, b"rt-g-1", now)
            .await
            .expect("get"),
        None
    );
    // The refresh token of the revoked grant does not rotate (nor count as reuse).
    let mut successor = refresh_token(&t, b"rt-g-1-next", "g-1");
    successor.passkey = None;
    assert_eq!(
        store
            .rotate_refresh_token(&t, b"rt-g-1", &successor, now)
            .await,
        Ok(RefreshRotation::NotFound)
    );
    let mut late = access_token(&t, b"at-late", "g-1");
    late.passkey = issued_from(b"pk-1");
    assert_eq!(
        store.put_access_token(&late).await,
        Err(StoreError::Conflict)
    );
    // The pending code of pk-1 redeems to nothing; the code is not spent.
    let mut pending_access = access_token(&t, b"at-g-3", "g-3");
    pending_access.passkey = None;
    assert_eq!(
        store
            .redeem_auth_code(&t, b"code-2", now, &pending_access, None)
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store
            .get_access_token(&t, b"at-g-3", now)
            .await
            .expect("get"),
        None
    );
    // The other passkey's grant is untouched.
    assert!(
        store
            .get_access_token(&t, b"at-g-2", now)
            .await
            .expect("get")
            .is_some()
    );
}

/// A credential id is registered at most once per RP ID, also across tenants that share the RP ID; tenants with
/// another RP ID may hold the same id.
pub async fn credential_id_is_registered_once_per_rp_id(store: Arc<dyn Store>) {
    let shared = tenant("shop");
    let mut sibling = tenant("shop-eu");
    sibling.rp_id = shared.rp_id.clone();
    for t in [&shared, &sibling] {
        store.create_tenant_with_keys(t, &[]).await.expect("tenant");
    }
    let other = with_tenant(&*store, "elsewhere").await;
    with_user(&*store, &shared.id, "u1", b"cred").await;
    let twin = user(&sibling.id, "u1", "name-u1");
    assert_eq!(
        store
            .create_user_with_credential(&twin, &credential(&sibling.id, "u1", b"cred"))
            .await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.get_user(&sibling.id, &twin.id).await.expect("get"),
        None
    );
    with_user(&*store, &sibling.id, "u1", b"own").await;
    assert_eq!(
        store
            .add_credential(&credential(&sibling.id, "u1", b"cred"))
            .await,
        Err(StoreError::Conflict)
    );
    with_user(&*store, &other, "u1", b"cred").await;
    // Once deleted, the id may be registered again under the RP ID.
    store
        .add_credential(&credential(&shared.id, "u1", b"second"))
        .await
        .expect("add");
    store
        .delete_credential(&shared.id, &user_id("u1"), b"cred", T0, None)
        .await
        .expect("delete");
    store
        .add_credential(&credential(&sibling.id, "u1", b"cred"))
        .await
        .expect("registered again");
}

/// A session's last use starts at its creation and moves with `touch_session`.
pub async fn touched_session_reads_its_last_use(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    store
        .create_session(&session(&t, b"s1", "u1"))
        .await
        .expect("session");
    let read = |at| {
        let store = store.clone();
        let t = t.clone();
        async move {
            store
                .get_session(&t, b"s1", at)
                .await
                .expect("get")
                .expect("live")
        }
    };
    assert_eq!(read(T0).await.last_seen_at, T0);
    store
        .touch_session(&t, b"s1", T0 + Duration::minutes(3))
        .await
        .expect("touch");
    assert_eq!(
        read(T0 + Duration::minutes(4)).await.last_seen_at,
        T0 + Duration::minutes(3)
    );
    store
        .touch_session(&t, b"missing", T0)
        .await
        .expect("no error for a missing session");
}

/// Users are found by the start of their username (case-insensitively, `%` and `_` taken literally), by id, paged.
pub async fn users_are_searched_by_username_prefix_and_paged(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let other = with_tenant(&*store, "beta").await;
    for (id, name) in [
        ("u1", "Ann"),
        ("u2", "anna_b"),
        ("u3", "bob"),
        ("u4", "an%"),
    ] {
        let user = user(&t, id, name);
        store
            .create_user_with_credential(&user, &credential(&t, id, id.as_bytes()))
            .await
            .expect("create");
    }
    with_user(&*store, &other, "u9", b"other").await;
    let ids =
        |users: Vec<User>| -> Vec<String> { users.iter().map(|u| u.id.to_string()).collect() };
    let an = store
        .search_users(&t, "AN", None, None, 10)
        .await
        .expect("search");
    assert_eq!(ids(an), ["u1", "u2", "u4"]);
    let literal = store
        .search_users(&t, "an%", None, None, 10)
        .await
        .expect("search");
    assert_eq!(ids(literal), ["u4"]);
    let underscore = store
        .search_users(&t, "anna_", None, None, 10)
        .await
        .expect("search");
    assert_eq!(ids(underscore), ["u2"]);
    let first = store
        .search_users(&t, "", None, None, 2)
        .await
        .expect("page");
    assert_eq!(ids(first.clone()), ["u1", "u2"]);
    let next = store
        .search_users(&t, "", None, Some(&first[1].id), 2)
        .await
        .expect("page");
    assert_eq!(ids(next), ["u3", "u4"]);
}

/// Users are found by the start of their display name as well (Unicode case folded), never by a word inside it;
/// a user whose username and display name both match is listed once.
pub async fn users_are_searched_by_display_name_prefix_too(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    for (id, username, display_name) in [
        ("u1", "ann", "Zoë Quinn"),
        ("u2", "bob", "Annabel Lee"),
        ("u3", "zed", "Bob Marley"),
        ("u4", "émile", "Émile Zola"),
    ] {
        let mut user = user(&t, id, username);
        user.display_name = display_name.into();
        store
            .create_user_with_credential(&user, &credential(&t, id, id.as_bytes()))
            .await
            .expect("create");
    }
    let ids = async |prefix: &str| -> Vec<String> {
        store
            .search_users(&t, prefix, None, None, 10)
            .await
            .expect("search")
            .iter()
            .map(|u| u.id.to_string())
            .collect()
    };
    assert_eq!(ids("ZOË").await, ["u1"], "display name, any case");
    assert_eq!(ids("ann").await, ["u1", "u2"], "username or display name");
    assert_eq!(ids("bob").await, ["u2", "u3"]);
    assert_eq!(ids("émile").await, ["u4"], "matched by both, listed once");
    assert!(
        ids("lee").await.is_empty(),
        "the start only, not a word inside"
    );
    assert!(ids("z%").await.is_empty(), "`%` taken literally");
    let first = store
        .search_users(&t, "b", None, None, 1)
        .await
        .expect("page");
    let next = store
        .search_users(&t, "b", None, Some(&first[0].id), 1)
        .await
        .expect("page");
    assert_eq!(
        (first[0].id.as_str(), next[0].id.as_str()),
        ("u2", "u3"),
        "paged by id"
    );
}

/// Deleting a user removes their passkeys, ends their sessions and revokes their grants, all at once; another
/// user keeps theirs; the username is free again.
pub async fn deleting_a_user_ends_their_sessions_and_grants_and_frees_the_username(
    store: Arc<dyn Store>,
) {
    let t = with_tenant(&*store, "alpha").await;
    let alice = with_user(&*store, &t, "u1", b"alice-key").await;
    store
        .add_credential(&credential(&t, "u1", b"alice-2"))
        .await
        .expect("add");
    let bob = with_user(&*store, &t, "u2", b"bob-key").await;
    let mut alices = session(&t, b"s-alice", "u1");
    alices.credential_id = Some(b"alice-key".to_vec());
    let mut bobs = session(&t, b"s-bob", "u2");
    bobs.credential_id = Some(b"bob-key".to_vec());
    for s in [&alices, &bobs] {
        store.create_session(s).await.expect("session");
    }
    let mut alices_code = auth_code(&t, b"code-alice", "g-alice-2");
    alices_code.passkey = issued_from(b"alice-key");
    store.put_auth_code(&alices_code).await.expect("code");
    let mut access = access_token(&t, b"at-alice", "g-alice");
    access.passkey = issued_from(b"alice-key");
    store.put_access_token(&access).await.expect("access token");
    let mut refresh = refresh_token(&t, b"rt-alice", "g-alice");
    refresh.passkey = issued_from(b"alice-key");
    store
        .put_refresh_token(&refresh)
        .await
        .expect("refresh token");
    let mut bobs_token = refresh_token(&t, b"rt-bob", "g-bob");
    bobs_token.user_id = bob.id.clone();
    store
        .put_refresh_token(&bobs_token)
        .await
        .expect("bob's token");
    store
        .delete_user(&t, &alice.id, T0, None)
        .await
        .expect("delete");
    let now = T0 + Duration::seconds(1);
    assert_eq!(store.get_user(&t, &alice.id).await.expect("get"), None);
    assert!(
        store
            .list_credentials(&t, &alice.id)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        store.get_session(&t, b"s-alice", now).await.expect("get"),
        None
    );
    assert_eq!(
        store
            .get_access_token(&t, b"at-alice", now)
            .await
            .expect("get"),
        None
    );
    assert_eq!(
        store
            .get_refresh_token(&t, b"rt-alice", now)
            .await
            .expect("get"),
        None
    );
    assert!(
        store
            .get_session(&t, b"s-bob", now)
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        store
            .get_refresh_token(&t, b"rt-bob", now)
            .await
            .expect("get")
            .is_some()
    );
    // A token of the revoked grant put later (a code redeemed after the delete) is refused.
    let mut late = access_token(&t, b"at-late", "g-alice");
    late.passkey = issued_from(b"alice-key");
    assert_eq!(
        store.put_access_token(&late).await,
        Err(StoreError::Conflict)
    );
    // Alice's code issued before the delete redeems to nothing.
    let mut from_code = access_token(&t, b"at-alice-2", "g-alice-2");
    from_code.passkey = None;
    assert_eq!(
        store
            .redeem_auth_code(&t, b"code-alice", now, &from_code, None)
            .await,
        Err(StoreError::Conflict)
    );
    // The username and the passkey id are free again.
    with_user(&*store, &t, "u3", b"alice-key").await;
    let again = user(&t, "u4", "name-u1");
    store
        .create_user_with_credential(&again, &credential(&t, "u4", b"u4-key"))
        .await
        .expect("the username is free");
    assert_eq!(
        store.delete_user(&t, &alice.id, T0, None).await,
        Err(StoreError::NotFound)
    );
}

pub async fn disabling_a_user_ends_their_sessions_and_grants_and_keeps_their_passkeys(
    store: Arc<dyn Store>,
) {
    let t = with_tenant(&*store, "alpha").await;
    let alice = with_user(&*store, &t, "u1", b"alice-key").await;
    let bob = with_user(&*store, &t, "u2", b"bob-key").await;
    let mut alices = session(&t, b"s-alice", "u1");
    alices.credential_id = Some(b"alice-key".to_vec());
    let mut bobs = session(&t, b"s-bob", "u2");
    bobs.credential_id = Some(b"bob-key".to_vec());
    for s in [&alices, &bobs] {
        store.create_session(s).await.expect("session");
    }
    let mut alices_code = auth_code(&t, b"code-alice", "g-alice-2");
    alices_code.passkey = issued_from(b"alice-key");
    store.put_auth_code(&alices_code).await.expect("code");
    let mut refresh = refresh_token(&t, b"rt-alice", "g-alice");
    refresh.passkey = issued_from(b"alice-key");
    store
        .put_refresh_token(&refresh)
        .await
        .expect("refresh token");
    let disabled_at = T0 + Duration::seconds(5);
    store
        .set_user_disabled(&t, &alice.id, Some(disabled_at), disabled_at, None)
        .await
        .expect("disable");
    let now = T0 + Duration::seconds(6);
    let stored = store
        .get_user(&t, &alice.id)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(stored.disabled_at, Some(disabled_at));
    assert_eq!(
        store
            .list_credentials(&t, &alice.id)
            .await
            .expect("list")
            .len(),
        1,
        "passkeys stay"
    );
    assert_eq!(
        store.get_session(&t, b"s-alice", now).await.expect("get"),
        None
    );
    assert_eq!(
        store
            .get_refresh_token(&t, b"rt-alice", now)
            .await
            .expect("get"),
        None
    );
    let mut late = access_token(&t, b"at-late", "g-alice");
    late.passkey = issued_from(b"alice-key");
    assert_eq!(
        store.put_access_token(&late).await,
        Err(StoreError::Conflict),
        "a token of the revoked grant is refused"
    );
    let mut from_code = access_token(&t, b"at-alice-2", "g-alice-2");
    from_code.passkey = None;
    assert_eq!(
        store
            .redeem_auth_code(&t, b"code-alice", now, &from_code, None)
            .await,
        Err(StoreError::Conflict),
        "a code issued before the disable redeems to nothing"
    );
    assert!(
        store
            .get_session(&t, b"s-bob", now)
            .await
            .expect("get")
            .is_some(),
        "others are untouched"
    );
    assert_eq!(
        store
            .get_user(&t, &bob.id)
            .await
            .expect("get")
            .map(|u| u.disabled_at),
        Some(None)
    );

    store
        .set_user_disabled(&t, &alice.id, None, now, None)
        .await
        .expect("enable");
    assert_eq!(
        store
            .get_user(&t, &alice.id)
            .await
            .expect("get")
            .map(|u| u.disabled_at),
        Some(None)
    );
    // Enabled again: a grant issued from her passkey after the disable lives.
    let mut after = access_token(&t, b"at-after", "g-after");
    after.passkey = Some(GrantPasskey {
        credential_id: b"alice-key".to_vec(),
        granted_at: now,
    });
    store.put_access_token(&after).await.expect("a later grant");
    assert!(
        store
            .get_access_token(&t, b"at-after", now)
            .await
            .expect("get")
            .is_some()
    );
    let nobody = tessera_core::UserId::parse("nobody").expect("id");
    assert_eq!(
        store
            .set_user_disabled(&t, &nobody, Some(now), now, None)
            .await,
        Err(StoreError::NotFound)
    );
}
