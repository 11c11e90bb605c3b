//! The portal's deletions and the broker tenant's signing keys page, on SQLite and PostgreSQL: "Delete" on a tenant
//! page of either role (refused while the tenant holds anything unless "Delete with everything in it"), "Delete" on
//! a user flow's page, and "Rotate keys" of a broker tenant (staged or immediate), each behind a confirmation, with
//! its CSRF token and the version it was shown at; renaming a broker tenant from the revision its form showed; the
//! clients list paged by the store; the role rules and an audit event for each change.

use tessera_broker::config::{FlowSettings, LocalAccounts, PolicyId, TokenLifetimes};
use tessera_core::{Clock, TenantId};
use tessera_oidc::ClientType;
use tessera_oidc::keys::SigningAlg;
use tessera_service::ServiceError;
use tessera_service::broker::{applications, flows, tenants as broker_tenants};
use tessera_store::KeyStatus;
use tessera_testkit::{Backend, TestApp};

use super::{app, form_of, get, location, portal_session, post};

both_stores!(
    tenant_pages_delete_after_confirmation_refusing_what_is_not_empty,
    flow_page_deletes_the_flow_with_its_version,
    broker_keys_page_lists_and_rotates_after_confirmation,
    clients_list_pages_through_the_store_in_client_id_order,
    broker_tenant_page_renames_from_the_revision_shown,
);

/// A broker tenant `contoso` with one application and the flow `B2C_1_signupsignin`.
async fn contoso(app: &TestApp) -> TenantId {
    let tenant = TenantId::parse("contoso").expect("id");
    let store = app.state.broker.store.as_ref();
    let now = app.clock.now();
    broker_tenants::create_broker_tenant(
        store,
        &app.state.broker.master_key,
        broker_tenants::NewBrokerTenant {
            id: tenant.clone(),
            display_name: Some("Contoso".into()),
        },
        now,
    )
    .await
    .expect("tenant");
    applications::create_application(
        store,
        &tenant,
        applications::NewApplication {
            display_name: "JWT viewer".into(),
            client_type: ClientType::Public,
            reply_urls: vec!["https://jwt.ms/".into()],
            logout_urls: Vec::new(),
            token_lifetimes: TokenLifetimes::default(),
            id_token_signing_alg: SigningAlg::Rs256,
        },
        now,
    )
    .await
    .expect("application");
    flows::create_user_flow(
        store,
        &tenant,
        PolicyId::from_name("signupsignin").expect("policy"),
        FlowSettings {
            local_accounts: LocalAccounts::Email,
            ..FlowSettings::default()
        },
        now,
    )
    .await
    .expect("flow");
    tenant
}

async fn audited(app: &TestApp, action: &str) -> usize {
    app.state
        .admin_store
        .list_audit_events(
            &tessera_store::AuditFilter {
                action_prefix: Some(action.into()),
                ..Default::default()
            },
            None,
            50,
        )
        .await
        .expect("audit")
        .events
        .iter()
        .filter(|e| e.action == action)
        .count()
}

async fn tenant_pages_delete_after_confirmation_refusing_what_is_not_empty(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let tenant = contoso(&app).await;
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let page = get(&app, "/admin/broker/contoso/", &root).await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.expect("body");
    assert!(
        body.contains("id=\"delete-tenant\"") && body.contains("id=\"delete-tenant-force\""),
        "{body}"
    );
    // Tenant admins and read-only admins see no such button and cannot post it.
    let own = portal_session(&app, "own", "tenant_admin", &["contoso"]).await;
    let page = get(&app, "/admin/broker/contoso/", &own)
        .await
        .text()
        .await
        .expect("body");
    assert!(!page.contains("id=\"delete-tenant\""), "{page}");
    let (own_cookies, own_csrf) = form_of(&app, "/admin/broker/contoso/", &own).await;
    let denied = post(
        &app,
        "/admin/broker/contoso/delete",
        &own_cookies,
        format!("csrf_token={own_csrf}&version=1&force=yes"),
    )
    .await;
    assert_eq!(denied.status(), 404, "global admins only");
    let other = portal_session(&app, "other", "tenant_admin", &["fabrikam"]).await;
    assert_eq!(
        get(&app, "/admin/broker/contoso/", &other).await.status(),
        404
    );

    let (cookies, csrf) = form_of(&app, "/admin/broker/contoso/", &root).await;
    let refused = post(
        &app,
        "/admin/broker/contoso/delete",
        &cookies,
        "version=1&force=yes".into(),
    )
    .await;
    assert_eq!(refused.status(), 403, "no CSRF token");
    let stale = post(
        &app,
        "/admin/broker/contoso/delete",
        &cookies,
        format!("csrf_token={csrf}&version=0&force=yes"),
    )
    .await;
    assert_eq!(stale.status(), 409);
    assert!(
        stale
            .text()
            .await
            .expect("body")
            .contains("changed meanwhile")
    );
    let not_empty = post(
        &app,
        "/admin/broker/contoso/delete",
        &cookies,
        format!("csrf_token={csrf}&version=1&force=no"),
    )
    .await;
    assert_eq!(not_empty.status(), 409);
    let body = not_empty.text().await.expect("body");
    assert!(
        body.contains("1 application") && body.contains("1 user flow"),
        "names what remains: {body}"
    );
    let store = app.state.broker.store.as_ref();
    assert!(
        broker_tenants::get_broker_tenant(store, &tenant)
            .await
            .is_ok()
    );
    let forced = post(
        &app,
        "/admin/broker/contoso/delete",
        &cookies,
        format!("csrf_token={csrf}&version=1&force=yes"),
    )
    .await;
    assert_eq!(forced.status(), 303);
    assert_eq!(location(&forced), "/admin/");
    assert!(matches!(
        broker_tenants::get_broker_tenant(store, &tenant).await,
        Err(ServiceError::BrokerTenantNotFound)
    ));
    assert_eq!(
        get(&app, "/admin/broker/contoso/", &root).await.status(),
        404
    );
    assert_eq!(audited(&app, "broker.tenant.delete.force").await, 1);

    // An authenticator tenant: the same buttons and rules.
    let page = get(&app, "/admin/authenticator/acme/", &root)
        .await
        .text()
        .await
        .expect("body");
    assert!(page.contains("id=\"delete-tenant-force\""), "{page}");
    let acme = TenantId::parse("acme").expect("id");
    let revision = app
        .state
        .provider
        .store
        .get_tenant(&acme)
        .await
        .expect("read")
        .expect("acme")
        .revision;
    let reader = portal_session(&app, "reader", "read_only", &[]).await;
    let (reader_cookies, reader_csrf) = form_of(&app, "/admin/authenticator/acme/", &reader).await;
    let denied = post(
        &app,
        "/admin/authenticator/acme/delete",
        &reader_cookies,
        format!("csrf_token={reader_csrf}&version={revision}&force=yes"),
    )
    .await;
    assert_eq!(denied.status(), 403, "read-only");
    let (cookies, csrf) = form_of(&app, "/admin/authenticator/acme/", &root).await;
    let refused = post(
        &app,
        "/admin/authenticator/acme/delete",
        &cookies,
        format!("csrf_token={csrf}&version={revision}&force=no"),
    )
    .await;
    assert_eq!(refused.status(), 409);
    assert!(
        refused
            .text()
            .await
            .expect("body")
            .contains("The tenant still has"),
        "names what remains"
    );
    let forced = post(
        &app,
        "/admin/authenticator/acme/delete",
        &cookies,
        format!("csrf_token={csrf}&version={revision}&force=yes"),
    )
    .await;
    assert_eq!(forced.status(), 303);
    assert!(
        app.state
            .provider
            .store
            .get_tenant(&acme)
            .await
            .expect("read")
            .is_none()
    );
    assert_eq!(
        get(&app, "/admin/authenticator/acme/", &root)
            .await
            .status(),
        404
    );
    assert_eq!(audited(&app, "tenant.delete.force").await, 1);
    app.stop().await;
}

async fn flow_page_deletes_the_flow_with_its_version(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let tenant = contoso(&app).await;
    let path = "/admin/broker/contoso/user-flows/B2C_1_signupsignin";
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let page = get(&app, path, &root).await.text().await.expect("body");
    assert!(page.contains("id=\"delete-flow\""), "{page}");
    let reader = portal_session(&app, "reader", "read_only", &[]).await;
    let page = get(&app, path, &reader).await.text().await.expect("body");
    assert!(!page.contains("id=\"delete-flow\""), "{page}");
    let other = portal_session(&app, "other", "tenant_admin", &["fabrikam"]).await;
    let (other_cookies, other_csrf) = form_of(&app, "/admin/", &other).await;
    let hidden = post(
        &app,
        &format!("{path}/delete"),
        &other_cookies,
        format!("csrf_token={other_csrf}&version=1"),
    )
    .await;
    assert_eq!(hidden.status(), 404, "another tenant's admin");

    let (cookies, csrf) = form_of(&app, path, &root).await;
    let refused = post(
        &app,
        &format!("{path}/delete"),
        &cookies,
        "version=1".into(),
    )
    .await;
    assert_eq!(refused.status(), 403, "no CSRF token");
    let stale = post(
        &app,
        &format!("{path}/delete"),
        &cookies,
        format!("csrf_token={csrf}&version=2"),
    )
    .await;
    assert_eq!(stale.status(), 409, "not the version shown");
    let policy = PolicyId::from_name("signupsignin").expect("policy");
    let store = app.state.broker.store.as_ref();
    assert!(flows::get_user_flow(store, &tenant, &policy).await.is_ok());
    let deleted = post(
        &app,
        &format!("{path}/delete"),
        &cookies,
        format!("csrf_token={csrf}&version=1"),
    )
    .await;
    assert_eq!(deleted.status(), 303);
    assert_eq!(
        location(&deleted),
        "/admin/broker/contoso/user-flows?done=deleted"
    );
    assert!(matches!(
        flows::get_user_flow(store, &tenant, &policy).await,
        Err(ServiceError::FlowNotFound)
    ));
    assert_eq!(get(&app, path, &root).await.status(), 404);
    assert_eq!(audited(&app, "broker.user_flow.delete").await, 1);
    app.stop().await;
}

async fn broker_keys_page_lists_and_rotates_after_confirmation(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let tenant = contoso(&app).await;
    let store = app.state.broker.store.as_ref();
    let before = store.list_broker_signing_keys(&tenant).await.expect("keys");
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let home = get(&app, "/admin/broker/contoso/", &root)
        .await
        .text()
        .await
        .expect("body");
    assert!(home.contains("/admin/broker/contoso/keys"), "{home}");
    let list = get(&app, "/admin/broker/contoso/keys", &root).await;
    assert_eq!(list.status(), 200);
    let body = list.text().await.expect("body");
    for key in &before {
        assert!(body.contains(&key.kid), "{body}");
    }
    assert!(body.contains("id=\"rotate-keys\""), "{body}");
    let (cookies, csrf) = form_of(&app, "/admin/broker/contoso/keys/rotate", &root).await;
    let refused = post(
        &app,
        "/admin/broker/contoso/keys/rotate",
        &cookies,
        String::new(),
    )
    .await;
    assert_eq!(refused.status(), 403, "no CSRF token");
    let confirm = get(&app, "/admin/broker/contoso/keys/rotate", &root)
        .await
        .text()
        .await
        .expect("body");
    assert!(
        confirm.contains("value=\"staged\"") && confirm.contains("value=\"immediate\""),
        "both choices: {confirm}"
    );
    // Staged (the default): the new keys are published, the old ones still sign.
    let rotated = post(
        &app,
        "/admin/broker/contoso/keys/rotate",
        &cookies,
        format!("csrf_token={csrf}&rotation=staged"),
    )
    .await;
    assert_eq!(rotated.status(), 303);
    let staged = store.list_broker_signing_keys(&tenant).await.expect("keys");
    assert_eq!(staged.len(), before.len() + 2);
    for key in &staged {
        let old = before.iter().any(|k| k.kid == key.kid);
        let expected = if old {
            KeyStatus::Active
        } else {
            KeyStatus::Pending
        };
        assert_eq!(key.status, expected, "{}", key.kid);
    }
    let list = get(&app, "/admin/broker/contoso/keys?done=rotated", &root)
        .await
        .text()
        .await
        .expect("body");
    assert!(
        list.contains("published, signs soon") && list.contains("New keys made"),
        "{list}"
    );
    // Immediate: the newest keys sign at once, every other key is retired and still published.
    let rotated = post(
        &app,
        "/admin/broker/contoso/keys/rotate",
        &cookies,
        format!("csrf_token={csrf}&rotation=immediate"),
    )
    .await;
    assert_eq!(rotated.status(), 303);
    let after = store.list_broker_signing_keys(&tenant).await.expect("keys");
    assert_eq!(after.len(), staged.len() + 2);
    for key in &after {
        let old = staged.iter().any(|k| k.kid == key.kid);
        let expected = if old {
            KeyStatus::Retired
        } else {
            KeyStatus::Active
        };
        assert_eq!(key.status, expected, "{}", key.kid);
    }
    let list = get(&app, "/admin/broker/contoso/keys?done=rotated", &root)
        .await
        .text()
        .await
        .expect("body");
    assert!(list.contains("retired, still published"), "{list}");
    let reader = portal_session(&app, "reader", "read_only", &[]).await;
    assert!(
        !get(&app, "/admin/broker/contoso/keys", &reader)
            .await
            .text()
            .await
            .expect("body")
            .contains("id=\"rotate-keys\"")
    );
    assert_eq!(
        get(&app, "/admin/broker/contoso/keys/rotate", &reader)
            .await
            .status(),
        403
    );
    let other = portal_session(&app, "other", "tenant_admin", &["fabrikam"]).await;
    assert_eq!(
        get(&app, "/admin/broker/contoso/keys", &other)
            .await
            .status(),
        404
    );
    assert_eq!(audited(&app, "broker.tenant.keys.rotate").await, 2);
    app.stop().await;
}

/// The `href` of the link with `id` on a page.
fn link_of(body: &str, id: &str) -> Option<String> {
    let start = body.find(&format!("id=\"{id}\" href=\""))? + id.len() + 12;
    let rest = &body[start..];
    Some(rest[..rest.find('"')?].replace("&amp;", "&"))
}

async fn clients_list_pages_through_the_store_in_client_id_order(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let tenant = TenantId::parse("acme").expect("id");
    let store = app.state.provider.store.as_ref();
    let now = app.clock.now();
    for n in 0..60 {
        store
            .create_client(&tessera_store::Client {
                tenant: tenant.clone(),
                client_id: tessera_core::ClientId::parse(&format!("paged-{n:03}")).expect("id"),
                display_name: format!("Paged {n}"),
                secret_hash: None,
                redirect_uris: vec!["https://paged.example/cb".into()],
                post_logout_redirect_uris: Vec::new(),
                token_endpoint_auth_method: "none".into(),
                id_token_signed_response_alg: "RS256".into(),
                jwks: None,
                allowed_scopes: vec!["openid".into()],
                created_at: now,
            })
            .await
            .expect("client");
    }
    let everyone: Vec<String> = store
        .list_clients(&tenant)
        .await
        .expect("clients")
        .into_iter()
        .map(|c| c.client_id.to_string())
        .collect();
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let mut path = "/admin/authenticator/acme/clients".to_owned();
    let mut shown = Vec::new();
    let mut pages = 0;
    loop {
        let page = get(&app, &path, &root).await;
        assert_eq!(page.status(), 200, "{path}");
        let body = page.text().await.expect("body");
        pages += 1;
        assert_eq!(
            link_of(&body, "first-page").is_some(),
            pages > 1,
            "a first-page link after the first page: {body}"
        );
        let on_page: Vec<String> = everyone
            .iter()
            .filter(|id| body.contains(&format!(">{id}</td>")))
            .cloned()
            .collect();
        assert!(on_page.len() <= 50, "{}", on_page.len());
        shown.extend(on_page);
        match link_of(&body, "next-page") {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!(pages, 2, "60 clients and more in two pages of 50");
    shown.sort();
    let mut expected = everyone.clone();
    expected.sort();
    assert_eq!(shown, expected, "every client once");
    // A search still finds a client whatever page it is on.
    let found = get(&app, "/admin/authenticator/acme/clients?q=paged-059", &root)
        .await
        .text()
        .await
        .expect("body");
    assert!(found.contains(">paged-059</td>"), "{found}");
    assert!(!found.contains(">paged-000</td>"), "{found}");
    app.stop().await;
}

async fn broker_tenant_page_renames_from_the_revision_shown(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let tenant = contoso(&app).await;
    let store = app.state.broker.store.as_ref();
    async fn stored(
        store: &dyn tessera_store::BrokerStore,
        tenant: &TenantId,
    ) -> tessera_store::BrokerTenant {
        broker_tenants::get_broker_tenant(store, tenant)
            .await
            .expect("tenant")
    }
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let page = get(&app, "/admin/broker/contoso/", &root)
        .await
        .text()
        .await
        .expect("body");
    assert!(
        page.contains("id=\"rename-tenant\" href=\"/admin/broker/contoso/rename\""),
        "{page}"
    );
    let (cookies, csrf) = form_of(&app, "/admin/broker/contoso/rename", &root).await;
    let form = get(&app, "/admin/broker/contoso/rename", &root)
        .await
        .text()
        .await
        .expect("body");
    assert!(
        form.contains("name=\"version\" value=\"1\"") && form.contains("value=\"Contoso\""),
        "the form carries the revision and name shown: {form}"
    );
    let rename = |body: String| post(&app, "/admin/broker/contoso/rename", &cookies, body);
    assert_eq!(
        rename("version=1&display_name=Nope".into()).await.status(),
        403,
        "no CSRF token"
    );
    // A refused name: the message next to the field, nothing saved.
    let refused = rename(format!("csrf_token={csrf}&version=1&display_name=+")).await;
    assert_eq!(refused.status(), 422);
    let body = refused.text().await.expect("body");
    assert!(body.contains("id=\"error-display_name\""), "{body}");
    assert_eq!(stored(store, &tenant).await.display_name, "Contoso");

    let saved = rename(format!(
        "csrf_token={csrf}&version=1&display_name=Contoso+Ltd"
    ))
    .await;
    assert_eq!(saved.status(), 303);
    assert_eq!(location(&saved), "/admin/broker/contoso/?done=saved");
    let now = stored(store, &tenant).await;
    assert_eq!(
        (now.display_name.as_str(), now.revision),
        ("Contoso Ltd", 2)
    );
    let page = get(&app, "/admin/broker/contoso/?done=saved", &root)
        .await
        .text()
        .await
        .expect("body");
    assert!(
        page.contains("Contoso Ltd") && page.contains("Saved."),
        "{page}"
    );

    // The same form again, still at revision 1: refused, showing the current name, not overwriting it.
    let stale = rename(format!("csrf_token={csrf}&version=1&display_name=Lost")).await;
    assert_eq!(stale.status(), 409);
    let body = stale.text().await.expect("body");
    assert!(body.contains("changed this broker tenant"), "{body}");
    assert!(
        body.contains("value=\"Contoso Ltd\"") && body.contains("name=\"version\" value=\"2\""),
        "{body}"
    );
    let garbled = rename(format!("csrf_token={csrf}&version=x&display_name=Lost")).await;
    assert_eq!(garbled.status(), 409);
    assert_eq!(stored(store, &tenant).await.display_name, "Contoso Ltd");

    // Read-only: no link, no form, no save; another tenant's admin: not found.
    let reader = portal_session(&app, "reader", "read_only", &[]).await;
    let page = get(&app, "/admin/broker/contoso/", &reader)
        .await
        .text()
        .await
        .expect("body");
    assert!(!page.contains("id=\"rename-tenant\""), "{page}");
    assert_eq!(
        get(&app, "/admin/broker/contoso/rename", &reader)
            .await
            .status(),
        403
    );
    let (reader_cookies, reader_csrf) = form_of(&app, "/admin/broker/contoso/", &reader).await;
    let refused = post(
        &app,
        "/admin/broker/contoso/rename",
        &reader_cookies,
        format!("csrf_token={reader_csrf}&version=2&display_name=Reader"),
    )
    .await;
    assert_eq!(refused.status(), 403);
    let other = portal_session(&app, "other", "tenant_admin", &["fabrikam"]).await;
    assert_eq!(
        get(&app, "/admin/broker/contoso/rename", &other)
            .await
            .status(),
        404
    );
    assert_eq!(stored(store, &tenant).await.display_name, "Contoso Ltd");
    assert_eq!(audited(&app, "broker.tenant.update").await, 1);
    app.stop().await;
}
