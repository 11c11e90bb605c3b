//! The portal's list filters, on SQLite and PostgreSQL: each list page has a GET filter form with labelled fields,
//! filters before the page is cut (the store's pages for clients and users), keeps the filter in its "Next page"
//! link, says "No ... matches" when nothing does, and shows a value it does not take next to its field (422).

use tessera_core::{Clock, TenantId};
use tessera_testkit::{Backend, TestApp};

use super::{app, get, portal_session};

both_stores!(
    clients_filter_form_filters_in_the_store_and_keeps_the_filter_across_pages,
    users_keys_and_tokens_pages_filter_and_say_when_nothing_matches,
    invitations_page_filters_by_role_and_keeps_it_across_pages,
    broker_tenants_list_is_linked_from_home_and_filters,
    broker_applications_filter_in_the_store_across_cursor_pages,
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

async fn invitations_page_filters_by_role_and_keeps_it_across_pages(backend: Backend) {
    use tessera_service::admin::api_tokens::{RequestContext, Role};
    use tessera_service::admin::members::{NewInvitation, create_invitation};
    let Some((app, _)) = app(backend).await else {
        return;
    };
    // 60 read-only invitations and 3 tenant-admin ones.
    let mut read_only = Vec::new();
    for n in 0..63 {
        let (role, tenants) = if n % 21 == 20 {
            (Role::TenantAdmin, vec!["acme".to_owned()])
        } else {
            (Role::ReadOnly, Vec::new())
        };
        let issued = create_invitation(
            &app.state.admin_store,
            "admin:root".into(),
            NewInvitation {
                role,
                tenants,
                lifetime: time::Duration::hours(1),
            },
            &RequestContext::default(),
            app.clock.now(),
        )
        .await
        .expect("invitation");
        if role == Role::ReadOnly {
            read_only.push(issued.id.clone());
        }
    }
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    // The Administrators page links to the filterable list.
    let admins = page(&app, "/admin/admins", &root, 200).await;
    assert_eq!(
        link_of(&admins, "invitations-list-link").as_deref(),
        Some("/admin/admins/invitations")
    );
    let first = page(&app, "/admin/admins/invitations?role=read_only", &root, 200).await;
    assert!(
        first.contains("<form id=\"filter-form\" method=\"get\""),
        "{first}"
    );
    assert!(
        first.contains("<label for=\"filter-role\">Role</label>"),
        "{first}"
    );
    assert!(
        first.contains("<option value=\"read_only\" selected>"),
        "the value is kept in the form: {first}"
    );
    // Every read-only invitation once, across the pages, and no tenant admin's.
    let mut seen: Vec<String> = Vec::new();
    let mut pages = 0;
    let mut body = first;
    loop {
        pages += 1;
        // The invitation ids of this page, in the page's order.
        let mut rest = body.as_str();
        while let Some(at) = rest.find("\">inv_") {
            let id = &rest[at + 2..];
            let id = &id[..id.find('<').expect("cell end")];
            seen.push(id.to_owned());
            rest = &rest[at + 2..];
        }
        assert!(!body.contains(">tenant admin</td>"), "{body}");
        match link_of(&body, "next-page") {
            Some(next) => {
                assert!(
                    next.contains("role=read_only"),
                    "the filter is kept: {next}"
                );
                body = page(&app, &next, &root, 200).await;
            }
            None => break,
        }
    }
    assert_eq!(pages, 2, "60 matches, 50 a page");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), seen.len(), "none repeated: {seen:?}");
    read_only.sort();
    assert_eq!(sorted, read_only, "none missed");
    let global = page(
        &app,
        "/admin/admins/invitations?role=global_admin",
        &root,
        200,
    )
    .await;
    assert!(
        global.contains("id=\"invitations-empty\">No invitations match."),
        "{global}"
    );
    let refused = page(&app, "/admin/admins/invitations?role=root", &root, 422).await;
    assert!(refused.contains("id=\"filter-error-role\""), "{refused}");
    // Global admins only.
    let reader = portal_session(&app, "reader", "read_only", &[]).await;
    assert_ne!(
        get(&app, "/admin/admins/invitations", &reader)
            .await
            .status(),
        200
    );
    app.stop().await;
}

async fn create_broker_tenant(app: &TestApp, id: &str, name: &str) {
    tessera_service::broker::tenants::create_broker_tenant(
        app.state.broker.store.as_ref(),
        &app.state.broker.master_key,
        tessera_service::broker::tenants::NewBrokerTenant {
            id: TenantId::parse(id).expect("id"),
            display_name: Some(name.into()),
        },
        app.clock.now(),
    )
    .await
    .expect("tenant");
}

async fn broker_tenants_list_is_linked_from_home_and_filters(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    for n in 0..55 {
        create_broker_tenant(&app, &format!("b{n:02}"), &format!("Étoile {n}")).await;
    }
    create_broker_tenant(&app, "contoso", "Contoso").await;
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let home = page(&app, "/admin/", &root, 200).await;
    assert_eq!(
        link_of(&home, "all-broker-tenants").as_deref(),
        Some("/admin/broker/")
    );
    let first = page(&app, "/admin/broker/?q=%C3%A9TOILE", &root, 200).await;
    assert!(first.contains("<label for=\"filter-q\">"), "{first}");
    assert!(!first.contains(">contoso</td>"), "{first}");
    let next = link_of(&first, "next-page").expect("55 matches: two pages");
    assert!(
        next.contains("q=%C3%A9TOILE") || next.contains("q=%C3%A9toile"),
        "{next}"
    );
    let second = page(&app, &next, &root, 200).await;
    assert!(second.contains(">b54</td>"), "{second}");
    assert!(!second.contains(">b00</td>"), "{second}");
    let none = page(&app, "/admin/broker/?q=zz", &root, 200).await;
    assert!(none.contains("No broker tenant matches."), "{none}");
    // A tenant admin sees only their tenant.
    let admin = portal_session(&app, "ann", "tenant_admin", &["contoso"]).await;
    let theirs = page(&app, "/admin/broker/", &admin, 200).await;
    assert!(theirs.contains(">contoso</td>"), "{theirs}");
    assert!(!theirs.contains(">b00</td>"), "{theirs}");
    app.stop().await;
}

async fn broker_applications_filter_in_the_store_across_cursor_pages(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    create_broker_tenant(&app, "contoso", "Contoso").await;
    let tenant = TenantId::parse("contoso").expect("id");
    let store = app.state.broker.store.as_ref();
    // 130 applications: even ones public and named "École n", odd ones confidential "Shop n".
    let mut ecoles = Vec::new();
    for n in 0..130 {
        let public = n % 2 == 0;
        let (application, _) = tessera_service::broker::applications::create_application(
            store,
            &tenant,
            tessera_service::broker::applications::NewApplication {
                display_name: if public {
                    format!("École {n}")
                } else {
                    format!("Shop {n}")
                },
                client_type: if public {
                    tessera_oidc::ClientType::Public
                } else {
                    tessera_oidc::ClientType::Confidential
                },
                reply_urls: vec!["https://app.example/cb".into()],
                logout_urls: vec![],
                token_lifetimes: Default::default(),
                id_token_signing_alg: tessera_oidc::SigningAlg::Rs256,
            },
            app.clock.now(),
        )
        .await
        .expect("application");
        if public {
            ecoles.push(application.client_id.to_string());
        }
    }
    ecoles.sort();
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let mut seen = Vec::new();
    let mut body = page(
        &app,
        "/admin/broker/contoso/applications?q=%C3%A9cole&client_type=public",
        &root,
        200,
    )
    .await;
    loop {
        assert!(!body.contains("Shop "), "{body}");
        for id in &ecoles {
            if body.contains(&format!(">{id}</td>")) {
                seen.push(id.clone());
            }
        }
        match link_of(&body, "next-page") {
            Some(next) => {
                assert!(
                    next.contains("client_type=public") && next.contains("after="),
                    "{next}"
                );
                body = page(&app, &next, &root, 200).await;
            }
            None => break,
        }
    }
    assert_eq!(seen, ecoles, "each match once, in client id order");
    let none = page(
        &app,
        "/admin/broker/contoso/applications?q=ecole",
        &root,
        200,
    )
    .await;
    assert!(none.contains("No application matches."), "{none}");
    page(
        &app,
        "/admin/broker/contoso/applications?client_type=web",
        &root,
        422,
    )
    .await;
    app.stop().await;
}
