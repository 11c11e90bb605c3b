//! The portal's actions beside its forms, on SQLite and PostgreSQL: an identity provider's "Test connection" (the
//! result on its page, nothing stored), a broker application's new secret (shown once), editing an authenticator
//! tenant's name, origins and own address (errors next to the field, a stale form refused), a user flow's
//! multi-factor and conditional access settings (a new version), and the audit page's time filters and each
//! event's details. Each form needs its CSRF token; a tenant admin of another tenant gets a 404, a read-only admin
//! a 403.

use tessera_broker::config::{
    ClaimMapping, FlowSettings, IdentityProvider, LocalAccounts, MetadataUrl, MfaSetting, PolicyId,
    ProviderId, TokenLifetimes, UpstreamClientAuth,
};
use tessera_core::{Clock, TenantId};
use tessera_oidc::keys::SigningAlg;
use tessera_oidc::{ClientType, ResponseMode};
use tessera_service::broker::{applications, flows, providers, tenants as broker_tenants};
use tessera_service::clients::{self, ClientKind, LocalhostHttp, NewClient};
use tessera_store::{AuditEvent, AuditFilter};
use tessera_testkit::{Backend, TestApp};

use super::{app, form_of, get, location, portal_session, post};

both_stores!(
    provider_page_tests_the_connection_and_shows_the_result,
    application_secret_is_regenerated_and_shown_once,
    authenticator_tenant_edit_saves_checks_and_refuses_a_stale_form,
    flow_mfa_page_saves_a_new_version_from_the_version_shown,
    audit_page_filters_by_time_and_shows_each_events_details,
);

async fn broker_tenant(app: &TestApp, id: &str) -> TenantId {
    let tenant = TenantId::parse(id).expect("id");
    broker_tenants::create_broker_tenant(
        app.state.broker.store.as_ref(),
        &app.state.broker.master_key,
        broker_tenants::NewBrokerTenant {
            id: tenant.clone(),
            display_name: None,
        },
        app.clock.now(),
    )
    .await
    .expect("broker tenant");
    tenant
}

/// An authenticator tenant `op` (beside the app's own `acme`).
async fn op_tenant(app: &TestApp, op: &str) {
    tessera_service::tenants::create_tenant(
        app.state.provider.store.as_ref(),
        &app.state.provider.master_key,
        tessera_service::tenants::NewTenant::parse(
            TenantId::parse(op).expect("id"),
            "localhost",
            std::slice::from_ref(&app.base),
            None,
        )
        .expect("new tenant"),
        app.clock.now(),
    )
    .await
    .expect("tenant");
}

/// Adds the authenticator tenant `op` of the same app as identity provider `id` of broker tenant `tenant`.
async fn add_provider(app: &TestApp, tenant: &TenantId, id: &str, op: &str) {
    let (client, secret) = clients::create_client(
        app.state.provider.store.as_ref(),
        NewClient {
            tenant: TenantId::parse(op).expect("op"),
            redirect_uris: clients::parse_redirect_uris(
                &[format!("{}/{tenant}/oauth2/authresp", app.base)],
                LocalhostHttp::InsecureAllow,
            )
            .expect("uris"),
            post_logout_redirect_uris: Vec::new(),
            kind: ClientKind::ConfidentialBasic,
            id_token_alg: SigningAlg::Es256,
            name: Some("Broker".into()),
        },
        app.clock.now(),
    )
    .await
    .expect("client");
    let provider = IdentityProvider {
        id: ProviderId::parse(id).expect("id"),
        name: format!("{op} provider"),
        metadata_url: MetadataUrl::parse(&format!(
            "{}/{op}/oidc/.well-known/openid-configuration",
            app.base
        ))
        .expect("url"),
        client_id: client.client_id.to_string(),
        client_auth: UpstreamClientAuth::ClientSecretBasic,
        scope: vec!["openid".into(), "profile".into(), "email".into()],
        response_type: Default::default(),
        response_mode: ResponseMode::FormPost,
        claim_mapping: ClaimMapping::default(),
        domain_hint: None,
    };
    providers::save_identity_provider(
        app.state.broker.store.as_ref(),
        &app.state.provider.master_key,
        &app.state.broker.upstream,
        tenant,
        provider,
        secret.expect("secret"),
        app.clock.now(),
    )
    .await
    .expect("provider");
}

async fn events(app: &TestApp, prefix: &str) -> Vec<AuditEvent> {
    app.state
        .admin_store
        .list_audit_events(
            &AuditFilter {
                action_prefix: Some(prefix.into()),
                ..Default::default()
            },
            None,
            100,
        )
        .await
        .expect("audit")
        .events
}

fn value_of(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} in {html}"))
        + marker.len();
    html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn provider_page_tests_the_connection_and_shows_the_result(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let tenant = broker_tenant(&app, "contoso").await;
    add_provider(&app, &tenant, "acme-idp", "acme").await;
    op_tenant(&app, "globex").await;
    add_provider(&app, &tenant, "globex-idp", "globex").await;
    // The provider's tenant goes away: its metadata URL now answers 404.
    tessera_service::tenants::delete_tenant(
        app.state.provider.store.as_ref(),
        &TenantId::parse("globex").expect("id"),
        true,
    )
    .await
    .expect("delete");
    app.state
        .provider
        .tenants
        .invalidate(&TenantId::parse("globex").expect("id"));
    let page = "/admin/broker/contoso/identity-providers/acme-idp";
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let html = get(&app, page, &root).await.text().await.expect("body");
    assert!(html.contains("id=\"test-provider\""), "{html}");
    assert!(
        !html.contains("id=\"connection-test\""),
        "no result before a test"
    );
    let (cookies, csrf) = form_of(&app, page, &root).await;

    let no_token = post(&app, &format!("{page}/test"), &cookies, String::new()).await;
    assert_eq!(no_token.status(), 403, "no CSRF token");

    let tested = post(
        &app,
        &format!("{page}/test"),
        &cookies,
        format!("csrf_token={csrf}"),
    )
    .await;
    assert_eq!(tested.status(), 200);
    let html = tested.text().await.expect("body");
    assert!(html.contains("id=\"connection-test\""), "{html}");
    assert!(html.contains("Connected"), "{html}");
    assert!(
        html.contains(&format!("{}/acme/oidc", app.base)),
        "the issuer found"
    );
    assert!(
        html.contains("id=\"provider-settings\""),
        "on the provider's page"
    );

    let broken = "/admin/broker/contoso/identity-providers/globex-idp";
    let failed = post(
        &app,
        &format!("{broken}/test"),
        &cookies,
        format!("csrf_token={csrf}"),
    )
    .await;
    assert_eq!(failed.status(), 422);
    let html = failed.text().await.expect("body");
    assert!(html.contains("id=\"connection-test\""), "{html}");
    assert!(html.contains("Failed"), "{html}");
    assert!(html.contains("Nothing was changed"), "{html}");
    let stored = providers::get_identity_provider(
        app.state.broker.store.as_ref(),
        &tenant,
        &ProviderId::parse("globex-idp").expect("id"),
    )
    .await
    .expect("still stored");
    assert_eq!(
        stored.config.name, "globex provider",
        "a test changes nothing"
    );

    // Another tenant's admin: 404; a read-only admin sees the page but may not test.
    let other = portal_session(&app, "fab", "tenant_admin", &["fabrikam"]).await;
    let (other_cookies, other_csrf) = form_of(&app, "/admin/", &other).await;
    let hidden = post(
        &app,
        &format!("{page}/test"),
        &other_cookies,
        format!("csrf_token={other_csrf}"),
    )
    .await;
    assert_eq!(hidden.status(), 404);
    let reader = portal_session(&app, "ro", "read_only", &[]).await;
    let html = get(&app, page, &reader).await.text().await.expect("body");
    assert!(
        !html.contains("id=\"test-provider\""),
        "no button to read-only"
    );
    let (reader_cookies, reader_csrf) = form_of(&app, page, &reader).await;
    let refused = post(
        &app,
        &format!("{page}/test"),
        &reader_cookies,
        format!("csrf_token={reader_csrf}"),
    )
    .await;
    assert_eq!(refused.status(), 403);
    assert!(
        events(&app, "broker.provider").await.is_empty(),
        "testing is no change"
    );
    app.stop().await;
}

async fn application_secret_is_regenerated_and_shown_once(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let tenant = broker_tenant(&app, "contoso").await;
    let store = app.state.broker.store.as_ref();
    let new = |name: &str, client_type| applications::NewApplication {
        display_name: name.into(),
        client_type,
        reply_urls: vec!["https://app.example/cb".into()],
        logout_urls: Vec::new(),
        token_lifetimes: TokenLifetimes::default(),
        id_token_signing_alg: SigningAlg::Rs256,
    };
    let (web, first) = applications::create_application(
        store,
        &tenant,
        new("Web app", ClientType::Confidential),
        app.clock.now(),
    )
    .await
    .expect("web");
    let first = first.expect("a confidential app has a secret");
    let (spa, _) = applications::create_application(
        store,
        &tenant,
        new("SPA", ClientType::Public),
        app.clock.now(),
    )
    .await
    .expect("spa");
    let here = format!("/admin/broker/contoso/applications/{}", web.client_id);
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let page = get(&app, &here, &root).await.text().await.expect("body");
    assert!(
        page.contains("id=\"regenerate-application-secret\""),
        "{page}"
    );
    let spa_here = format!("/admin/broker/contoso/applications/{}", spa.client_id);
    let spa_page = get(&app, &spa_here, &root)
        .await
        .text()
        .await
        .expect("body");
    assert!(
        !spa_page.contains("id=\"regenerate-application-secret\""),
        "a public app has no secret"
    );
    let (cookies, csrf) = form_of(&app, &here, &root).await;
    let no_token = post(&app, &format!("{here}/secret"), &cookies, String::new()).await;
    assert_eq!(no_token.status(), 403);
    let made = post(
        &app,
        &format!("{here}/secret"),
        &cookies,
        format!("csrf_token={csrf}"),
    )
    .await;
    assert_eq!(made.status(), 201);
    let html = made.text().await.expect("body");
    let marker = "id=\"secret-value\" readonly value=\"";
    let start = html.find(marker).expect("the secret, shown once") + marker.len();
    let secret = html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(secret.len() >= 32, "{secret}");
    assert_ne!(secret, first.expose());
    let again = get(&app, &here, &root).await.text().await.expect("body");
    assert!(!again.contains("id=\"secret-value\""), "never again");
    assert!(!again.contains(&secret));
    let stored = applications::get_application(store, &tenant, &web.client_id)
        .await
        .expect("app");
    assert_eq!(
        stored.secret_hash,
        Some(tessera_oidc::SecretHash::of(&secret)),
        "the new secret is the one that works"
    );
    let public = post(
        &app,
        &format!("{spa_here}/secret"),
        &cookies,
        format!("csrf_token={csrf}"),
    )
    .await;
    assert_eq!(public.status(), 422);
    let other = portal_session(&app, "fab", "tenant_admin", &["fabrikam"]).await;
    let (other_cookies, other_csrf) = form_of(&app, "/admin/", &other).await;
    let hidden = post(
        &app,
        &format!("{here}/secret"),
        &other_cookies,
        format!("csrf_token={other_csrf}"),
    )
    .await;
    assert_eq!(hidden.status(), 404);
    let trail = events(&app, "broker.application.secret").await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert!(
        !format!("{trail:?}").contains(&secret),
        "no secret in the audit"
    );
    app.stop().await;
}

async fn authenticator_tenant_edit_saves_checks_and_refuses_a_stale_form(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let home = get(&app, "/admin/authenticator/acme/", &root)
        .await
        .text()
        .await
        .expect("body");
    assert!(home.contains("id=\"edit-tenant\""), "{home}");
    let path = "/admin/authenticator/acme/edit";
    let form = get(&app, path, &root).await.text().await.expect("body");
    let version = value_of(&form, "version");
    let (cookies, csrf) = form_of(&app, path, &root).await;
    let body = |version: &str, name: &str, origins: &str, public_url: &str| {
        format!(
            "csrf_token={csrf}&version={}&display_name={}&origins={}&public_url={}",
            encode(version),
            encode(name),
            encode(origins),
            encode(public_url)
        )
    };
    let no_token = post(
        &app,
        path,
        &cookies,
        format!("version={version}&display_name=x&origins=x"),
    )
    .await;
    assert_eq!(no_token.status(), 403);

    // Checked as the API checks it; the error next to its field, nothing saved.
    let foreign = post(
        &app,
        path,
        &cookies,
        body(&version, "Acme", "https://evil.example", ""),
    )
    .await;
    assert_eq!(foreign.status(), 422);
    assert!(
        foreign
            .text()
            .await
            .expect("body")
            .contains("id=\"error-origins\"")
    );
    let blank = post(&app, path, &cookies, body(&version, " ", &app.base, "")).await;
    assert_eq!(blank.status(), 422);
    assert!(
        blank
            .text()
            .await
            .expect("body")
            .contains("id=\"error-display_name\"")
    );
    let address = post(
        &app,
        path,
        &cookies,
        body(&version, "Acme", &app.base, "ftp://login.example"),
    )
    .await;
    assert_eq!(address.status(), 422);
    assert!(
        address
            .text()
            .await
            .expect("body")
            .contains("id=\"error-public_url\"")
    );
    let tenant = TenantId::parse("acme").expect("id");
    let unchanged = tessera_service::admin::members::authenticator_tenant(
        app.state.provider.store.as_ref(),
        &tenant,
    )
    .await
    .expect("tenant");
    assert_eq!(unchanged.revision.to_string(), version, "nothing saved");

    let saved = post(
        &app,
        path,
        &cookies,
        body(&version, "Acme Corporation", &app.base, ""),
    )
    .await;
    assert_eq!(saved.status(), 303);
    assert_eq!(location(&saved), "/admin/authenticator/acme/?done=saved");
    let changed = tessera_service::admin::members::authenticator_tenant(
        app.state.provider.store.as_ref(),
        &tenant,
    )
    .await
    .expect("tenant");
    assert_eq!(changed.display_name, "Acme Corporation");
    assert_eq!(changed.origins.as_slice(), std::slice::from_ref(&app.base));

    // A second admin's form from before that change: refused with the current values, nothing overwritten.
    let stale = post(
        &app,
        path,
        &cookies,
        body(&version, "Bob's name", &app.base, ""),
    )
    .await;
    assert_eq!(stale.status(), 409);
    let html = stale.text().await.expect("body");
    assert!(html.contains("Someone else changed this tenant"), "{html}");
    assert!(html.contains("Acme Corporation"), "the current name shown");
    let after = tessera_service::admin::members::authenticator_tenant(
        app.state.provider.store.as_ref(),
        &tenant,
    )
    .await
    .expect("tenant");
    assert_eq!(after.display_name, "Acme Corporation");

    // Roles: a tenant admin of another tenant gets 404, a read-only admin 403.
    let other = portal_session(&app, "fab", "tenant_admin", &["fabrikam"]).await;
    assert_eq!(get(&app, path, &other).await.status(), 404);
    let reader = portal_session(&app, "ro", "read_only", &[]).await;
    assert_eq!(get(&app, path, &reader).await.status(), 403);
    let trail = events(&app, "tenant.update").await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(
        trail[0].after.as_ref().map(|a| a["display_name"].clone()),
        Some(serde_json::json!("Acme Corporation"))
    );
    app.stop().await;
}

async fn flow_mfa_page_saves_a_new_version_from_the_version_shown(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let tenant = broker_tenant(&app, "contoso").await;
    let store = app.state.broker.store.as_ref();
    let policy = PolicyId::from_name("signupsignin").expect("policy");
    flows::create_user_flow(
        store,
        &tenant,
        policy.clone(),
        FlowSettings {
            local_accounts: LocalAccounts::Email,
            ..FlowSettings::default()
        },
        app.clock.now(),
    )
    .await
    .expect("flow");
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let flow_page = get(
        &app,
        "/admin/broker/contoso/user-flows/B2C_1_signupsignin",
        &root,
    )
    .await
    .text()
    .await
    .expect("body");
    assert!(flow_page.contains("id=\"flow-mfa\""), "{flow_page}");
    let path = "/admin/broker/contoso/user-flows/B2C_1_signupsignin/mfa";
    let form = get(&app, path, &root).await.text().await.expect("body");
    assert_eq!(value_of(&form, "based_on"), "1");
    let (cookies, csrf) = form_of(&app, path, &root).await;
    let no_token = post(&app, path, &cookies, "mfa=always&based_on=1".into()).await;
    assert_eq!(no_token.status(), 403);
    let garbled = post(
        &app,
        path,
        &cookies,
        format!("csrf_token={csrf}&mfa=sometimes&based_on=1"),
    )
    .await;
    assert_eq!(garbled.status(), 422);
    assert!(
        garbled
            .text()
            .await
            .expect("body")
            .contains("id=\"error-mfa\"")
    );
    let saved = post(
        &app,
        path,
        &cookies,
        format!("csrf_token={csrf}&mfa=always&conditional_access=true&based_on=1"),
    )
    .await;
    assert_eq!(saved.status(), 303);
    let flow = flows::get_user_flow(store, &tenant, &policy)
        .await
        .expect("flow");
    assert_eq!(flow.versions().count(), 2, "a new version");
    assert_eq!(flow.current().settings().mfa, MfaSetting::Always);
    assert!(flow.current().settings().conditional_access.enforced);
    assert_eq!(
        flow.current().settings().local_accounts,
        LocalAccounts::Email,
        "the rest is kept"
    );
    let stale = post(
        &app,
        path,
        &cookies,
        format!("csrf_token={csrf}&mfa=off&based_on=1"),
    )
    .await;
    assert_eq!(stale.status(), 409, "saved from version 1, now at 2");
    assert_eq!(
        flows::get_user_flow(store, &tenant, &policy)
            .await
            .expect("flow")
            .versions()
            .count(),
        2,
        "nothing saved"
    );
    let other = portal_session(&app, "fab", "tenant_admin", &["fabrikam"]).await;
    assert_eq!(get(&app, path, &other).await.status(), 404);
    app.stop().await;
}

async fn audit_page_filters_by_time_and_shows_each_events_details(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let day = |d: u8| {
        time::Date::from_calendar_date(2026, time::Month::March, d)
            .expect("date")
            .with_hms(12, 0, 0)
            .expect("time")
            .assume_utc()
    };
    for (n, d) in [(1, 1u8), (2, 2), (3, 3)] {
        app.state
            .admin_store
            .record_audit_event(&AuditEvent {
                id: format!("ev-time-{n}"),
                at: day(d),
                actor: "admin:ann".into(),
                action: "broker.application.update".into(),
                target: format!("broker/contoso/applications/app{n}"),
                tenant: Some("contoso".into()),
                before: Some(serde_json::json!({"display_name": format!("old name {n}")})),
                after: Some(serde_json::json!({"display_name": format!("new name {n}")})),
                request_id: Some(format!("req-{n}")),
                client_address: Some("192.0.2.7".into()),
            })
            .await
            .expect("audit");
    }
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let page = |query: &str| {
        let path = format!("/admin/audit?action=broker.application.{query}");
        let app = &app;
        let root = root.clone();
        async move { get(app, &path, &root).await }
    };
    let all = page("").await.text().await.expect("body");
    for n in 1..=3 {
        assert!(
            all.contains(&format!("id=\"details-ev-time-{n}\"")),
            "{all}"
        );
        assert!(all.contains(&format!("req-{n}")), "request id shown");
        assert!(all.contains(&format!("old name {n}")), "before shown");
        assert!(all.contains(&format!("new name {n}")), "after shown");
    }
    assert!(all.contains("192.0.2.7"), "client address shown");
    assert!(all.contains("id=\"filter-since\"") && all.contains("id=\"filter-until\""));

    let since = page("&since=2026-03-02").await.text().await.expect("body");
    assert!(!since.contains("ev-time-1"), "before since: left out");
    assert!(since.contains("ev-time-2") && since.contains("ev-time-3"));
    let until = page("&until=2026-03-02T12:00")
        .await
        .text()
        .await
        .expect("body");
    assert!(until.contains("ev-time-1"), "{until}");
    assert!(
        !until.contains("ev-time-2") && !until.contains("ev-time-3"),
        "until is exclusive"
    );
    let both = page("&since=2026-03-01T13:00:00Z&until=2026-03-03")
        .await
        .text()
        .await
        .expect("body");
    assert!(both.contains("ev-time-2"));
    assert!(!both.contains("ev-time-1") && !both.contains("ev-time-3"));

    let wrong = page("&since=yesterday").await;
    assert_eq!(wrong.status(), 422);
    let html = wrong.text().await.expect("body");
    assert!(html.contains("id=\"error-since\""), "{html}");
    assert!(html.contains("value=\"yesterday\""), "the value kept");

    // A tenant admin of another tenant sees none of these events, details included.
    let other = portal_session(&app, "fab", "tenant_admin", &["fabrikam"]).await;
    let theirs = get(&app, "/admin/audit", &other)
        .await
        .text()
        .await
        .expect("body");
    assert!(!theirs.contains("ev-time-") && !theirs.contains("old name"));
    app.stop().await;
}
