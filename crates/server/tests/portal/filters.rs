//! The portal's list filters, on SQLite and PostgreSQL: each list page has a GET filter form with labelled fields,
//! filters before the page is cut (the store's pages for clients and users), keeps the filter in its "Next page"
//! link, says "No ... matches" when nothing does, and shows a value it does not take next to its field (422).

use tessera_core::{Clock, TenantId};
use tessera_testkit::{Backend, TestApp};

use super::{app, get, portal_session};

both_stores!(
    clients_filter_form_filters_in_the_store_and_keeps_the_filter_across_pages,
    users_keys_and_tokens_pages_filter_and_say_when_nothing_matches,
);

fn link_of(body: &str, id: &str) -> Option<String> {
    let start = body.find(&format!("id=\"{id}\" href=\""))? + id.len() + 12;
    let rest = &body[start..];
    Some(
        rest[..rest.find('"')?]
            .replace("&amp;", "&")
            .replace("&#38;", "&"),
    )
}

async fn page(app: &TestApp, path: &str, cookie: &str, status: u16) -> String {
    let answer = get(app, path, cookie).await;
    assert_eq!(answer.status(), status, "{path}");
    answer.text().await.expect("body")
}

async fn clients_filter_form_filters_in_the_store_and_keeps_the_filter_across_pages(
    backend: Backend,
) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let tenant = TenantId::parse("acme").expect("id");
    let store = app.state.provider.store.as_ref();
    let now = app.clock.now();
    // 120 clients: the even ones public ("Émile n", no secret), the odd ones confidential ("Other n").
    for n in 0..120 {
        let public = n % 2 == 0;
        store
            .create_client(&tessera_store::Client {
                tenant: tenant.clone(),
                client_id: tessera_core::ClientId::parse(&format!("c-{n:03}")).expect("id"),
                display_name: if public {
                    format!("Émile {n}")
                } else {
                    format!("Other {n}")
                },
                secret_hash: (!public).then(|| vec![7; 32]),
                redirect_uris: vec!["https://filters.example/cb".into()],
                post_logout_redirect_uris: Vec::new(),
                token_endpoint_auth_method: if public {
                    "none".into()
                } else {
                    "client_secret_basic".into()
                },
                id_token_signed_response_alg: "RS256".into(),
                jwks: None,
                allowed_scopes: vec!["openid".into()],
                created_at: now,
            })
            .await
            .expect("client");
    }
    let public: Vec<String> = (0..120)
        .filter(|n| n % 2 == 0)
        .map(|n| format!("c-{n:03}"))
        .collect();
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let first = page(
        &app,
        "/admin/authenticator/acme/clients?q=%C3%A9MILE&client_type=public",
        &root,
        200,
    )
    .await;
    // The form: a GET form with a label for each field, the values kept.
    assert!(
        first.contains("<form id=\"filter-form\" method=\"get\""),
        "{first}"
    );
    assert!(first.contains("<label for=\"filter-q\">"), "{first}");
    assert!(
        first.contains("<label for=\"filter-client_type\">"),
        "{first}"
    );
    assert!(
        first.contains("value=\"éMILE\""),
        "the query is kept: {first}"
    );
    assert!(
        first.contains("<option value=\"public\" selected>"),
        "the type is kept: {first}"
    );
    let mut shown = Vec::new();
    let mut body = first;
    let mut pages = 0;
    loop {
        pages += 1;
        let on_page: Vec<String> = (0..120)
            .map(|n| format!("c-{n:03}"))
            .filter(|id| body.contains(&format!(">{id}</td>")))
            .collect();
        assert!(on_page.len() <= 50);
        shown.extend(on_page);
        let Some(next) = link_of(&body, "next-page") else {
            break;
        };
        assert!(
            next.contains("client_type=public") && next.contains("q="),
            "the next page keeps the filter: {next} in {body}"
        );
        body = page(&app, &next, &root, 200).await;
        assert!(pages < 5);
    }
    assert_eq!(pages, 2, "60 matches in two pages of 50");
    assert_eq!(
        shown, public,
        "every public client once, in client id order"
    );

    let none = page(
        &app,
        "/admin/authenticator/acme/clients?q=nobody",
        &root,
        200,
    )
    .await;
    assert!(
        none.contains("id=\"clients-list-empty\">No client matches."),
        "{none}"
    );
    let refused = page(
        &app,
        "/admin/authenticator/acme/clients?client_type=web",
        &root,
        422,
    )
    .await;
    assert!(
        refused.contains("id=\"filter-error-client_type\"")
            && refused.contains("aria-invalid=\"true\""),
        "the refused value is named next to its field: {refused}"
    );
    app.stop().await;
}

async fn users_keys_and_tokens_pages_filter_and_say_when_nothing_matches(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let ann = app.create_user("ann").await;
    let bob = app.create_user("bob").await;
    let now = app.clock.now();
    app.state
        .provider
        .store
        .set_user_disabled(&app.tenant, &bob, Some(now), now, None)
        .await
        .expect("disable");
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let disabled = page(
        &app,
        "/admin/authenticator/acme/users?status=disabled",
        &root,
        200,
    )
    .await;
    assert!(
        disabled.contains("<label for=\"filter-status\">"),
        "{disabled}"
    );
    assert!(disabled.contains(&format!("/users/{bob}\"")), "{disabled}");
    assert!(!disabled.contains(&format!("/users/{ann}\"")), "{disabled}");
    let none = page(
        &app,
        "/admin/authenticator/acme/users?status=disabled&q=ann",
        &root,
        200,
    )
    .await;
    assert!(none.contains("No user matches."), "{none}");
    page(
        &app,
        "/admin/authenticator/acme/users?status=locked",
        &root,
        422,
    )
    .await;

    // A user's passkeys: by name, algorithm (COSE) and model.
    let user_page = format!("/admin/authenticator/acme/users/{ann}");
    let named = page(&app, &format!("{user_page}?q=TE"), &root, 200).await;
    assert!(named.contains("<label for=\"filter-alg\">"), "{named}");
    assert!(
        named.contains("id=\"passkeys\""),
        "the passkey is listed: {named}"
    );
    let rs256 = page(&app, &format!("{user_page}?alg=-257"), &root, 200).await;
    assert!(
        rs256.contains("id=\"passkeys-empty\">No passkey matches."),
        "{rs256}"
    );
    let es256 = page(&app, &format!("{user_page}?alg=-7"), &root, 200).await;
    assert!(es256.contains("id=\"passkeys\""), "{es256}");
    page(&app, &format!("{user_page}?aaguid=zz"), &root, 422).await;

    let es256 = page(&app, "/admin/authenticator/acme/keys?alg=ES256", &root, 200).await;
    assert!(es256.contains(">ES256</td>"), "{es256}");
    assert!(!es256.contains(">RS256</td>"), "{es256}");
    let retired = page(
        &app,
        "/admin/authenticator/acme/keys?status=retired",
        &root,
        200,
    )
    .await;
    assert!(retired.contains("No signing key matches."), "{retired}");
    page(&app, "/admin/authenticator/acme/keys?alg=HS256", &root, 422).await;

    let tokens = page(&app, "/admin/api-tokens?role=read_only&q=zz", &root, 200).await;
    assert!(tokens.contains("No API token matches."), "{tokens}");
    assert!(tokens.contains("<label for=\"filter-role\">"), "{tokens}");
    app.stop().await;
}
