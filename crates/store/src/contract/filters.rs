//! The admin lists' filters in the store: a filtered list comes in pages that hold only matches, and following the
//! cursor page by page yields every match once (none missed, none repeated), in the list's order.

use super::*;
use crate::{AccountStatus, ClientFilter, ClientType};

/// Every page of `filter`'s clients, two at a time, following the cursor (the last id of the previous page).
async fn client_pages(store: &dyn Store, t: &TenantId, filter: &ClientFilter) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut after: Option<ClientId> = None;
    loop {
        let page = store
            .list_clients_page(t, filter, after.as_ref(), 2)
            .await
            .expect("page");
        assert!(page.len() <= 2, "at most the limit");
        let Some(last) = page.last() else { break };
        after = Some(last.client_id.clone());
        pages.push(page.iter().map(|c| c.client_id.to_string()).collect());
    }
    pages
}

/// Clients filtered by the start of their id or name (case-insensitive, Unicode folded, wildcards literal) and by
/// kind (public: `token_endpoint_auth_method` `none`) come in full pages of matches only, in client id order; the
/// pages together hold every match once; another tenant's clients never match; a renamed client is found by its
/// new name only.
pub async fn clients_filtered_in_the_store_page_without_gaps_or_repeats(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    let other = with_tenant(&*store, "beta").await;
    let rows = [
        ("a1", "Émile web", false),
        ("a2", "Portal", true),
        ("a3", "émile mobile", true),
        ("a4", "ÉMILE admin", false),
        ("emi-5", "Batch", false),
        ("a6", "Émile_cli", true),
        ("a7", "Émil%", false),
    ];
    for (id, name, public) in rows {
        let mut c = client(&t, id);
        c.display_name = name.into();
        if public {
            c.secret_hash = None;
            c.token_endpoint_auth_method = "none".into();
        }
        store.create_client(&c).await.expect("create");
    }
    let mut foreign = client(&other, "a0");
    foreign.display_name = "Émile elsewhere".into();
    store.create_client(&foreign).await.expect("create other");

    let by = |prefix: &str, kind: Option<ClientType>| ClientFilter {
        prefix: Some(prefix.to_owned()),
        client_type: kind,
    };
    let flat = |pages: Vec<Vec<String>>| -> Vec<String> { pages.concat() };

    let emile = client_pages(&*store, &t, &by("émile", None)).await;
    assert_eq!(
        emile,
        [vec!["a1", "a3"], vec!["a4", "a6"]],
        "name prefix in any case, full pages, no other row"
    );
    assert_eq!(
        flat(client_pages(&*store, &t, &by("ÉMI", None)).await),
        ["a1", "a3", "a4", "a6", "a7"],
        "every name starting so (`é` is not `e`: not `emi-5`)"
    );
    assert_eq!(
        flat(client_pages(&*store, &t, &by("EMI-", None)).await),
        ["emi-5"],
        "the client id's start, in any case"
    );
    assert_eq!(
        flat(client_pages(&*store, &t, &by("émil%", None)).await),
        ["a7"],
        "`%` is taken literally"
    );
    assert_eq!(
        flat(client_pages(&*store, &t, &by("émile_", None)).await),
        ["a6"],
        "`_` is taken literally"
    );
    assert!(
        client_pages(&*store, &t, &by("web", None)).await.is_empty(),
        "the start only, not a word inside"
    );
    assert_eq!(
        flat(client_pages(&*store, &t, &by("émile", Some(ClientType::Public))).await),
        ["a3", "a6"]
    );
    let confidential = ClientFilter {
        prefix: None,
        client_type: Some(ClientType::Confidential),
    };
    assert_eq!(
        client_pages(&*store, &t, &confidential).await,
        [vec!["a1", "a4"], vec!["a7", "emi-5"]]
    );
    let public = ClientFilter {
        prefix: Some(String::new()),
        client_type: Some(ClientType::Public),
    };
    assert_eq!(
        flat(client_pages(&*store, &t, &public).await),
        ["a2", "a3", "a6"],
        "an empty prefix matches every name"
    );
    // Every page of every filter is the whole filtered list cut in order.
    let all = flat(client_pages(&*store, &t, &ClientFilter::default()).await);
    assert_eq!(all, ["a1", "a2", "a3", "a4", "a6", "a7", "emi-5"]);

    // A rename is searched by its new name at once.
    let mut renamed = store
        .get_client(&t, &client_id("a2"))
        .await
        .expect("get")
        .expect("a2");
    renamed.display_name = "Émile portal".into();
    store.update_client(&renamed, None).await.expect("rename");
    assert_eq!(
        flat(client_pages(&*store, &t, &by("ÉMILE P", None)).await),
        ["a2"]
    );
    assert!(
        client_pages(&*store, &t, &by("portal", None))
            .await
            .is_empty(),
        "the old name no longer matches"
    );
}

/// Users filtered by status (and a prefix) page in id order with no user missed or repeated; a user enabled again
/// moves back to the enabled ones.
pub async fn users_filtered_by_status_page_without_gaps_or_repeats(store: Arc<dyn Store>) {
    let t = with_tenant(&*store, "alpha").await;
    for i in 0..9u8 {
        let id = format!("u{i}");
        let name = if i % 2 == 0 {
            format!("ann{i}")
        } else {
            format!("bob{i}")
        };
        let user = user(&t, &id, &name);
        store
            .create_user_with_credential(&user, &credential(&t, &id, id.as_bytes()))
            .await
            .expect("create");
    }
    for i in [1u8, 2, 4, 7] {
        store
            .set_user_disabled(&t, &user_id(&format!("u{i}")), Some(T0), T0, None)
            .await
            .expect("disable");
    }
    let pages = async |prefix: &str, status: Option<AccountStatus>| -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut after: Option<UserId> = None;
        loop {
            let page = store
                .search_users(&t, prefix, status, after.as_ref(), 2)
                .await
                .expect("page");
            assert!(page.len() <= 2, "at most the limit");
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            pages.push(page.iter().map(|u| u.id.to_string()).collect::<Vec<_>>());
        }
        pages
    };
    assert_eq!(
        pages("", Some(AccountStatus::Disabled)).await,
        [vec!["u1", "u2"], vec!["u4", "u7"]]
    );
    assert_eq!(
        pages("", Some(AccountStatus::Enabled)).await,
        [vec!["u0", "u3"], vec!["u5", "u6"], vec!["u8"]]
    );
    assert_eq!(
        pages("ANN", Some(AccountStatus::Disabled)).await.concat(),
        ["u2", "u4"]
    );
    assert_eq!(
        pages("", None).await.concat().len(),
        9,
        "no status: everyone"
    );
    store
        .set_user_disabled(&t, &user_id("u2"), None, T0, None)
        .await
        .expect("enable");
    assert_eq!(
        pages("ann", Some(AccountStatus::Enabled)).await.concat(),
        ["u0", "u2", "u6", "u8"]
    );
}
