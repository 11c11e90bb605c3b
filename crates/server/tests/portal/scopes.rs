//! A portal administrator whose scope names one role's tenant (`broker:acme`, `authenticator:acme`) sees that
//! role's tenant only: the other role's tenant of the same id answers 404 and is not listed, its audit events are
//! not shown. On SQLite and PostgreSQL.

use tessera_core::{Clock, TenantId};
use tessera_testkit::Backend;

use super::{app, form_of, get, portal_session, post};

both_stores!(
    role_qualified_scope_sees_only_its_roles_tenant_in_the_portal,
    invite_form_takes_role_qualified_scopes_and_refuses_a_bad_prefix_next_to_the_field,
);

async fn role_qualified_scope_sees_only_its_roles_tenant_in_the_portal(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    // A broker tenant with the id of the authenticator tenant `acme`.
    tessera_service::broker::tenants::create_broker_tenant(
        app.state.broker.store.as_ref(),
        &app.state.broker.master_key,
        tessera_service::broker::tenants::NewBrokerTenant {
            id: TenantId::parse("acme").expect("id"),
            display_name: None,
        },
        app.clock.now(),
    )
    .await
    .expect("broker tenant");
    let broker_pages = [
        "/admin/broker/acme/",
        "/admin/broker/acme/identity-providers",
        "/admin/broker/acme/user-flows",
        "/admin/broker/acme/applications",
        "/admin/broker/acme/users",
    ];
    let authenticator_pages = [
        "/admin/authenticator/acme/",
        "/admin/authenticator/acme/users",
        "/admin/authenticator/acme/clients",
        "/admin/authenticator/acme/policy",
        "/admin/authenticator/acme/keys",
    ];
    for (name, scope, broker, authenticator) in [
        ("bea", "broker:acme", true, false),
        ("ada", "authenticator:acme", false, true),
        ("bob", "acme", true, true),
    ] {
        let cookie = portal_session(&app, name, "tenant_admin", &[scope]).await;
        for path in broker_pages {
            let status = get(&app, path, &cookie).await.status().as_u16();
            assert_eq!(status, if broker { 200 } else { 404 }, "{scope}: {path}");
        }
        for path in authenticator_pages {
            let status = get(&app, path, &cookie).await.status().as_u16();
            assert_eq!(
                status,
                if authenticator { 200 } else { 404 },
                "{scope}: {path}"
            );
        }
        let home = get(&app, "/admin/", &cookie)
            .await
            .text()
            .await
            .expect("body");
        assert_eq!(home.contains("/admin/broker/acme/"), broker, "{scope}");
        assert_eq!(
            home.contains("/admin/authenticator/acme/"),
            authenticator,
            "{scope}"
        );
        let list = get(&app, "/admin/authenticator/", &cookie)
            .await
            .text()
            .await
            .expect("body");
        assert_eq!(
            list.contains("/admin/authenticator/acme/"),
            authenticator,
            "{scope}"
        );
        // The trail's `tenant` filter names the id under either role: allowed for all three.
        assert_eq!(
            get(&app, "/admin/audit?tenant=acme", &cookie)
                .await
                .status(),
            200,
            "{scope}"
        );
    }
    app.stop().await;
}

async fn invite_form_takes_role_qualified_scopes_and_refuses_a_bad_prefix_next_to_the_field(
    backend: Backend,
) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let cookie = portal_session(&app, "root", "global_admin", &[]).await;
    let (cookies, token) = form_of(&app, "/admin/admins/invite", &cookie).await;
    let invite = |tenants: &str| {
        let body = format!(
            "csrf_token={token}&role=tenant_admin&expires_in_minutes=60&tenants={}",
            url::form_urlencoded::byte_serialize(tenants.as_bytes()).collect::<String>()
        );
        post(&app, "/admin/admins/invite", &cookies, body)
    };
    let refused = invite("broker:acme brokr:acme").await;
    assert_eq!(refused.status(), 422);
    let page = refused.text().await.expect("body");
    assert!(page.contains("id=\"error-tenants\""), "{page}");
    assert!(page.contains("is not a role"), "{page}");
    let pending = || async {
        app.state
            .admin_store
            .list_admin_invitations(app.clock.now(), None, None, 10)
            .await
            .expect("store")
            .invitations
    };
    assert!(pending().await.is_empty(), "nothing made");
    let made = invite("broker:acme, authenticator:globex").await;
    assert_eq!(made.status(), 201);
    let pending = pending().await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].tenants, ["broker:acme", "authenticator:globex"]);
    app.stop().await;
}
