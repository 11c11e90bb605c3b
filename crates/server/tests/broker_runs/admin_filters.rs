//! The admin API's list filters, over HTTP on SQLite and PostgreSQL: every list filters before the page is cut, so
//! following `next_cursor` with the same filter yields every match once and nothing else; a value a filter does not
//! take is a 422 problem naming the parameter.

use serde_json::{Value, json};
use tessera_core::{Clock, UserId};
use tessera_testkit::Backend;

use super::super::BROKER;
use super::{Api, admin};

both_stores!(
    filtered_lists_page_every_match_once_with_the_cursor,
    filters_of_passkeys_keys_users_and_tokens_select_what_they_name,
    a_value_a_filter_does_not_take_is_422_naming_the_parameter,
    every_list_documents_its_filters_in_the_openapi_document,
);

/// Every page of `path` (which holds the filter) at `limit` 2, following the cursor; the values of `key`.
async fn all_pages(api: &Api<'_>, path: &str, key: &str) -> Vec<Vec<String>> {
    let joiner = if path.contains('?') { '&' } else { '?' };
    let mut pages = Vec::new();
    let mut url = format!("{path}{joiner}limit=2");
    loop {
        let page = api.get(&url).await;
        assert_eq!(page.status, 200, "{url}: {}", page.text);
        let items: Vec<String> = page.body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("items: {}", page.text))
            .iter()
            .map(|i| i[key].as_str().unwrap_or_default().to_owned())
            .collect();
        assert!(items.len() <= 2, "{}", page.text);
        pages.push(items);
        match page.body["next_cursor"].as_str() {
            Some(cursor) => url = format!("{path}{joiner}limit=2&cursor={cursor}"),
            None => break,
        }
    }
    pages
}

fn flat(pages: Vec<Vec<String>>) -> Vec<String> {
    pages.concat()
}

async fn filtered_lists_page_every_match_once_with_the_cursor(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    // Clients of the authenticator tenant: the store filters them by id or name prefix and by type.
    for (name, public) in [
        ("Émile web", false),
        ("Portal", true),
        ("émile mobile", true),
        ("ÉMILE admin", false),
        ("Émile cli", true),
    ] {
        let mut body = json!({"name": name, "redirect_uris": ["https://app.example/cb"]});
        if public {
            body["token_endpoint_auth_method"] = json!("none");
        }
        let made = api.post("/tenants/acme/clients", &body).await;
        assert_eq!(made.status, 201, "{}", made.text);
    }
    let names = |pages: Vec<Vec<String>>| pages.into_iter().map(|p| p.len()).collect::<Vec<_>>();
    let emile = all_pages(&api, "/tenants/acme/clients?q=%C3%89MILE", "name").await;
    assert_eq!(names(emile.clone()), [2, 2], "full pages of matches only");
    let mut found = flat(emile);
    found.sort();
    assert_eq!(
        found,
        ["ÉMILE admin", "Émile cli", "Émile web", "émile mobile"],
        "every match once"
    );
    let public = flat(
        all_pages(
            &api,
            "/tenants/acme/clients?client_type=public&q=%C3%A9mile",
            "name",
        )
        .await,
    );
    let mut public = public;
    public.sort();
    assert_eq!(public, ["Émile cli", "émile mobile"]);
    let confidential = all_pages(
        &api,
        "/tenants/acme/clients?client_type=confidential",
        "name",
    )
    .await;
    assert!(
        flat(confidential)
            .iter()
            .all(|n| n != "Portal" && n != "Émile cli" && n != "émile mobile"),
        "no public client among the confidential ones"
    );
    let none = api.get("/tenants/acme/clients?q=zzz").await;
    assert_eq!(none.status, 200, "{}", none.text);
    assert_eq!(none.body["items"], json!([]));
    assert!(none.body["next_cursor"].is_null());

    // Broker tenants, applications, identity providers and user flows.
    for (id, name) in [
        ("fabrikam", "Fabrikam"),
        ("contoso", "Contoso"),
        ("fabric", "Fabric Inc"),
    ] {
        let made = api
            .post("/broker/tenants", &json!({"id": id, "display_name": name}))
            .await;
        assert_eq!(made.status, 201, "{}", made.text);
    }
    let fabric = flat(all_pages(&api, "/broker/tenants?q=FABRI", "id").await);
    assert_eq!(fabric, ["fabric", "fabrikam"], "by id, any case");
    assert_eq!(
        flat(all_pages(&api, "/broker/tenants?q=fabric%20i", "id").await),
        ["fabric"],
        "by display name"
    );
    let mut apps = Vec::new();
    for (name, kind) in [
        ("jwt-viewer", "public"),
        ("Jobs", "confidential"),
        ("Billing", "confidential"),
        ("jukebox", "public"),
        ("Journal", "public"),
    ] {
        let made = api
            .post(
                &format!("/broker/tenants/{BROKER}/applications"),
                &json!({"display_name": name, "client_type": kind, "reply_urls": ["https://app.example/cb"]}),
            )
            .await;
        assert_eq!(made.status, 201, "{}", made.text);
        apps.push(made.body);
    }
    let path = format!("/broker/tenants/{BROKER}/applications?q=J&client_type=public");
    let pages = all_pages(&api, &path, "display_name").await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    let mut shown = flat(pages);
    shown.sort();
    assert_eq!(shown, ["Journal", "jukebox", "jwt-viewer"]);
    let id_prefix: String = apps[1]["application"]["client_id"]
        .as_str()
        .or(apps[1]["client_id"].as_str())
        .unwrap_or_default()
        .chars()
        .take(8)
        .collect();
    assert!(!id_prefix.is_empty(), "{}", apps[1]);
    let by_id = flat(
        all_pages(
            &api,
            &format!(
                "/broker/tenants/{BROKER}/applications?q={}",
                id_prefix.to_uppercase()
            ),
            "display_name",
        )
        .await,
    );
    assert!(
        by_id.contains(&"Jobs".to_owned()),
        "by client id: {by_id:?}"
    );
    let flows = all_pages(
        &api,
        &format!("/broker/tenants/{BROKER}/user-flows?q=b2c"),
        "name",
    )
    .await;
    assert_eq!(flat(flows), Vec::<String>::new(), "no user flow yet");
    let providers = api
        .get(&format!(
            "/broker/tenants/{BROKER}/identity-providers?q=nok"
        ))
        .await;
    assert_eq!(providers.status, 200, "{}", providers.text);
    assert_eq!(providers.body["items"], json!([]));

    // Directory users by status: none yet, and the filter is still answered.
    let users = api
        .get(&format!("/broker/tenants/{BROKER}/users?status=disabled"))
        .await;
    assert_eq!(users.status, 200, "{}", users.text);
    app.stop().await;
}

async fn filters_of_passkeys_keys_users_and_tokens_select_what_they_name(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    // Users by status (and prefix), paged: five "ann" accounts, two of them disabled.
    let mut ids: Vec<UserId> = Vec::new();
    for i in 0..5 {
        ids.push(app.create_user(&format!("ann{i}")).await);
    }
    app.create_user("bob").await;
    let now = app.clock.now();
    for id in [&ids[1], &ids[3]] {
        app.state
            .provider
            .store
            .set_user_disabled(&app.tenant, id, Some(now), now, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let mut disabled =
        flat(all_pages(&api, "/tenants/acme/users?q=ANN&status=disabled", "id").await);
    disabled.sort();
    let mut expected = vec![ids[1].to_string(), ids[3].to_string()];
    expected.sort();
    assert_eq!(disabled, expected);
    let enabled = all_pages(&api, "/tenants/acme/users?q=ann&status=enabled", "id").await;
    assert_eq!(enabled.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    assert!(flat(enabled).iter().all(|id| !expected.contains(id)));

    // A user's passkeys by name, algorithm and AAGUID.
    let owner = &ids[0];
    let model = [
        0x08u8, 0x98, 0x70, 0x58, 0xca, 0xdc, 0x4b, 0x81, 0xb6, 0xe1, 0x30, 0xde, 0x50, 0xdc, 0xbe,
        0x96,
    ];
    for (n, (name, alg, aaguid)) in [
        ("Work laptop", -257, [0u8; 16]),
        ("work phone", -7, model),
        ("Home key", -8, model),
    ]
    .into_iter()
    .enumerate()
    {
        let mut credential = app
            .state
            .provider
            .store
            .list_credentials(&app.tenant, owner)
            .await
            .unwrap_or_else(|e| panic!("{e}"))[0]
            .clone();
        credential.credential_id = format!("extra-{n}").into_bytes();
        credential.nickname = name.into();
        credential.alg = alg;
        credential.aaguid = aaguid;
        app.state
            .provider
            .store
            .add_credential(&credential)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let passkeys = format!("/tenants/acme/users/{owner}/passkeys");
    let mut work = flat(all_pages(&api, &format!("{passkeys}?q=WORK"), "nickname").await);
    work.sort();
    assert_eq!(work, ["Work laptop", "work phone"]);
    assert_eq!(
        flat(all_pages(&api, &format!("{passkeys}?alg=RS256"), "nickname").await),
        ["Work laptop"]
    );
    let mut es256 = flat(all_pages(&api, &format!("{passkeys}?alg=-7"), "nickname").await);
    es256.sort();
    assert_eq!(
        es256,
        ["test", "work phone"],
        "with the account's first passkey"
    );
    let mut of_model = flat(
        all_pages(
            &api,
            &format!("{passkeys}?aaguid=08987058-CADC-4B81-B6E1-30DE50DCBE96"),
            "nickname",
        )
        .await,
    );
    of_model.sort();
    assert_eq!(of_model, ["Home key", "work phone"]);

    // Signing keys by status and algorithm, on both roles.
    let keys = api.get("/tenants/acme/keys?status=active&alg=ES256").await;
    assert_eq!(keys.status, 200, "{}", keys.text);
    let items = keys.body["items"].as_array().cloned().unwrap_or_default();
    assert!(!items.is_empty(), "{}", keys.text);
    assert!(
        items
            .iter()
            .all(|k| k["status"] == "active" && k["alg"] == "ES256")
    );
    let retired = api.get("/tenants/acme/keys?status=retired").await;
    assert_eq!(retired.body["items"], json!([]), "{}", retired.text);
    let made = api.post("/broker/tenants", &json!({"id": BROKER})).await;
    assert_eq!(made.status, 201, "{}", made.text);
    let broker_keys = api
        .get(&format!("/broker/tenants/{BROKER}/keys?alg=rs256"))
        .await;
    let items = broker_keys.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!items.is_empty(), "{}", broker_keys.text);
    assert!(
        items.iter().all(|k| k["alg"] == "RS256"),
        "{}",
        broker_keys.text
    );

    // API tokens by name and role.
    for (name, role) in [
        ("deploy bot", "read_only"),
        ("Deploy admin", "global_admin"),
    ] {
        let made = api
            .post(
                "/api-tokens",
                &json!({"name": name, "role": role, "expires_in_days": 1}),
            )
            .await;
        assert_eq!(made.status, 201, "{}", made.text);
    }
    assert_eq!(
        flat(all_pages(&api, "/api-tokens?q=DEPLOY&role=read_only", "name").await),
        ["deploy bot"]
    );
    let mut deploy = flat(all_pages(&api, "/api-tokens?q=deploy", "name").await);
    deploy.sort();
    assert_eq!(deploy, ["Deploy admin", "deploy bot"]);

    // Invitations by role.
    let invited = api
        .post(
            "/invitations",
            &json!({"role": "read_only", "tenants": ["acme"]}),
        )
        .await;
    assert_eq!(invited.status, 201, "{}", invited.text);
    let read_only = api.get("/invitations?role=read_only").await;
    assert_eq!(
        read_only.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        read_only.text
    );
    let global = api.get("/invitations?role=global_admin").await;
    assert_eq!(global.body["items"], json!([]), "{}", global.text);
    app.stop().await;
}

async fn a_value_a_filter_does_not_take_is_422_naming_the_parameter(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    let made = api.post("/broker/tenants", &json!({"id": BROKER})).await;
    assert_eq!(made.status, 201, "{}", made.text);
    let user = app.create_user("ann").await;
    let cases: Vec<(String, &str)> = vec![
        (
            "/tenants/acme/clients?client_type=secret".into(),
            "client_type",
        ),
        ("/tenants/acme/users?status=gone".into(), "status"),
        (format!("/tenants/acme/users/{user}/passkeys?alg=-9"), "alg"),
        (
            format!("/tenants/acme/users/{user}/passkeys?aaguid=0898"),
            "aaguid",
        ),
        ("/tenants/acme/keys?status=old".into(), "status"),
        ("/tenants/acme/keys?alg=HS256".into(), "alg"),
        (
            format!("/broker/tenants/{BROKER}/keys?status=staged"),
            "status",
        ),
        (
            format!("/broker/tenants/{BROKER}/applications?client_type=web"),
            "client_type",
        ),
        (
            format!("/broker/tenants/{BROKER}/users?status=locked"),
            "status",
        ),
        ("/api-tokens?role=root".into(), "role"),
        ("/invitations?role=owner".into(), "role"),
        ("/audit-events?since=yesterday".into(), "since"),
        ("/audit-events?until=2026-13-01".into(), "until"),
    ];
    for (path, param) in cases {
        let answer: Value = {
            let a = api.get(&path).await;
            assert_eq!(a.problem(422), [param], "{path}");
            a.body
        };
        assert!(
            answer["errors"][0]["detail"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{path}: says what it takes: {answer}"
        );
    }
    app.stop().await;
}

async fn every_list_documents_its_filters_in_the_openapi_document(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    let document = api.anonymous().get("/openapi.json").await;
    assert_eq!(document.status, 200, "{}", document.text);
    let expected: [(&str, &[&str]); 14] = [
        ("/tenants", &["q"]),
        ("/tenants/{tenant}/clients", &["q", "client_type"]),
        ("/tenants/{tenant}/users", &["q", "status"]),
        (
            "/tenants/{tenant}/users/{user_id}/passkeys",
            &["q", "alg", "aaguid"],
        ),
        ("/tenants/{tenant}/keys", &["status", "alg"]),
        ("/broker/tenants", &["q"]),
        ("/broker/tenants/{tenant}/keys", &["status", "alg"]),
        (
            "/broker/tenants/{tenant}/applications",
            &["q", "client_type"],
        ),
        ("/broker/tenants/{tenant}/identity-providers", &["q"]),
        ("/broker/tenants/{tenant}/user-flows", &["q"]),
        ("/broker/tenants/{tenant}/users", &["q", "status"]),
        ("/api-tokens", &["q", "role"]),
        ("/invitations", &["role"]),
        (
            "/audit-events",
            &["actor", "action", "tenant", "since", "until"],
        ),
    ];
    for (path, names) in expected {
        let parameters =
            &document.body["paths"][format!("/admin/api/v1{path}")]["get"]["parameters"];
        let documented: Vec<(&str, &str)> = parameters
            .as_array()
            .unwrap_or_else(|| panic!("{path}: parameters in {}", document.text))
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or_default(),
                    p["in"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        for name in names.iter().chain(&["limit", "cursor"]) {
            assert!(
                documented.contains(&(*name, "query")),
                "{path} documents `{name}`: {documented:?}"
            );
        }
        for p in parameters.as_array().into_iter().flatten() {
            if names.contains(&p["name"].as_str().unwrap_or_default()) {
                assert!(
                    p["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{path}: `{}` says what it filters",
                    p["name"]
                );
            }
        }
    }
    app.stop().await;
}
