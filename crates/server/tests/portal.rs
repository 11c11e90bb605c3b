//! The admin portal's gates over HTTP (the real application on a socket): no session → the sign-in page; a form
//! without its CSRF token → 403; a tenant admin → 404 on another tenant; the bootstrap link → the portal's OIDC
//! sign-in at the admin tenant, making the first global admin, once (a used, wrong or expired link is refused and
//! makes nobody an administrator). Every test runs on SQLite and on PostgreSQL (`TEST_PG_URL`; skipped when unset).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use tessera_core::{Clock, TenantId, UserId};
use tessera_service::admin::members;
use tessera_store::{AdminMember, AuditEvent, Credential, Session, User};
use tessera_testkit::{Backend, TestApp};

macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(tessera_testkit::Backend::Sqlite).await;
                }
            )*
        }
        mod pg {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(tessera_testkit::Backend::Postgres).await;
                }
            )*
        }
    };
}

both_stores!(
    portal_without_a_session_redirects_to_sign_in,
    portal_form_without_its_csrf_token_is_refused,
    tenant_admin_gets_404_for_another_tenant,
    bootstrap_link_makes_the_first_global_admin_once,
    bootstrap_link_wrong_or_expired_is_refused,
    bootstrap_link_spent_meanwhile_makes_no_second_admin,
    account_of_the_admin_tenant_without_a_role_gets_no_session,
    read_only_admin_sees_but_cannot_change,
    portal_session_ends_when_idle_at_its_lifetime_and_at_sign_out,
    portal_api_token_is_shown_once_works_and_is_revoked,
    flow_identity_providers_page_refuses_what_it_must,
);

/// The app with the admin tenant, and the bootstrap link `print_bootstrap` printed.
async fn app(backend: Backend) -> Option<(TestApp, String)> {
    let app = TestApp::spawn_on(backend).await?;
    let link =
        tessera_server::app::print_bootstrap(&app.state, tessera_server::app::BootstrapNotice::Log)
            .await
            .expect("bootstrap")
            .expect("a fresh install prints a link");
    Some((app, link))
}

fn admin_tenant() -> TenantId {
    members::admin_tenant().expect("admin tenant")
}

/// A user of the admin tenant (as its sign-up page would make one) and a provider session of it: the `Cookie`.
async fn admin_tenant_user(app: &TestApp, username: &str) -> (UserId, String) {
    let tenant = admin_tenant();
    let id = UserId::parse(&format!("u-{}", tessera_testkit::random_string(9))).expect("id");
    let now = app.clock.now();
    let user = User {
        tenant: tenant.clone(),
        id: id.clone(),
        username: username.into(),
        display_name: username.into(),
        email: None,
        email_verified: false,
        user_handle: tessera_testkit::random_bytes(16),
        created_at: now,
        disabled_at: None,
    };
    let credential = Credential {
        tenant: tenant.clone(),
        credential_id: tessera_testkit::random_bytes(16),
        user_id: id.clone(),
        public_key: vec![1, 2, 3],
        alg: -7,
        sign_count: 0,
        uv_initialized: true,
        backup_eligible: true,
        backup_state: true,
        transports: vec!["internal".into()],
        aaguid: [0; 16],
        attestation_format: "none".into(),
        attestation_trusted: false,
        nickname: "test".into(),
        created_at: now,
        last_used_at: None,
    };
    let store = &app.state.provider.store;
    store
        .create_user_with_credential(&user, &credential)
        .await
        .expect("user");
    let token = B64.encode(tessera_testkit::random_bytes(32));
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec();
    store
        .create_session(&Session {
            id_hash: hash,
            tenant: tenant.clone(),
            user_id: id.clone(),
            sid: tessera_testkit::random_string(22),
            auth_time: now,
            user_verified: true,
            backup_eligible: true,
            attestation_trusted: false,
            credential_id: Some(credential.credential_id.clone()),
            last_seen_at: now,
            expires_at: now + time::Duration::hours(1),
        })
        .await
        .expect("session");
    let cookie = format!("{}={token}", tessera_http::session::cookie_name(&tenant));
    (id, cookie)
}

/// An administrator with `role` on `tenants` and a portal session: the `Cookie` header value.
async fn portal_session(app: &TestApp, username: &str, role: &str, tenants: &[&str]) -> String {
    let (id, _) = admin_tenant_user(app, username).await;
    let now = app.clock.now();
    app.state
        .admin_store
        .put_admin_member(
            &AdminMember {
                user_id: id.to_string(),
                username: username.into(),
                role: role.into(),
                tenants: tenants.iter().map(|t| (*t).to_owned()).collect(),
                created_by: "test".into(),
                created_at: now,
            },
            &AuditEvent {
                id: format!("setup-{username}"),
                at: now,
                actor: "test".into(),
                action: "admin.member.create".into(),
                target: format!("admins/{id}"),
                tenant: None,
                before: None,
                after: None,
                request_id: None,
                client_address: None,
            },
        )
        .await
        .expect("member");
    let session = members::start_session(app.state.provider.store.as_ref(), &id, now, now)
        .await
        .expect("portal session");
    format!("tessera-admin={}", session.cookie_value)
}

async fn get(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    let mut request = app.http.get(app.socket_url(path));
    if !cookie.is_empty() {
        request = request.header("cookie", cookie);
    }
    request.send().await.expect("get")
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// `name=value` of each `Set-Cookie` of a response.
fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .collect()
}

fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf-token\" content=\"";
    let start = html.find(marker).expect("csrf meta") + marker.len();
    html[start..start + 43].to_owned()
}

async fn portal_without_a_session_redirects_to_sign_in(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    for path in [
        "/admin/",
        "/admin/broker/contoso/identity-providers",
        "/admin/audit",
    ] {
        let response = get(&app, path, "").await;
        assert_eq!(response.status(), 303, "{path}");
        assert!(
            location(&response).starts_with("/admin/signin"),
            "{path}: {}",
            location(&response)
        );
    }
    let response = get(&app, "/admin/", "tessera-admin=not-a-session-value-at-all").await;
    assert_eq!(response.status(), 303, "a made-up cookie is no session");
    let page = get(&app, "/admin/signin", "").await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.expect("body");
    assert!(body.contains("Sign in with a passkey"));
    assert!(
        !body.to_lowercase().contains("password\""),
        "no password field anywhere"
    );
    app.stop().await;
}

async fn portal_form_without_its_csrf_token_is_refused(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let cookie = portal_session(&app, "root", "global_admin", &[]).await;
    let form = get(&app, "/admin/broker/new", &cookie).await;
    assert_eq!(form.status(), 200);
    let csrf_cookie = set_cookies(&form)
        .into_iter()
        .find(|c| c.starts_with("__Host-tessera-csrf-"))
        .expect("csrf cookie");
    let csrf = csrf_of(&form.text().await.expect("body"));
    let cookies = format!("{cookie}; {csrf_cookie}");
    let post = |body: String| {
        app.http
            .post(app.socket_url("/admin/broker/new"))
            .header("cookie", cookies.clone())
            .header("origin", app.base.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let refused = post("id=fabrikam&display_name=Fabrikam".into())
        .await
        .expect("post");
    assert_eq!(refused.status(), 403, "no CSRF token");
    let wrong = post(format!("csrf_token={}&id=fabrikam", "A".repeat(43)))
        .await
        .expect("post");
    assert_eq!(wrong.status(), 403, "a CSRF token that is not the cookie's");
    let tenant = TenantId::parse("fabrikam").expect("id");
    assert!(
        app.state
            .broker
            .store
            .get_broker_tenant(&tenant)
            .await
            .expect("store")
            .is_none(),
        "nothing written"
    );
    let foreign = app
        .http
        .post(app.socket_url("/admin/broker/new"))
        .header("cookie", cookies.clone())
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={csrf}&id=fabrikam"))
        .send()
        .await
        .expect("post");
    assert_eq!(foreign.status(), 403, "a foreign Origin");
    let created = post(format!(
        "csrf_token={csrf}&id=fabrikam&display_name=Fabrikam"
    ))
    .await
    .expect("post");
    assert_eq!(created.status(), 303, "with the token the form works");
    assert!(
        app.state
            .broker
            .store
            .get_broker_tenant(&tenant)
            .await
            .expect("store")
            .is_some()
    );
    let audit = app
        .state
        .admin_store
        .list_audit_events(
            &tessera_store::AuditFilter {
                action_prefix: Some("broker.tenant.create".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .expect("audit");
    assert_eq!(audit.events.len(), 1, "one audit event for the one change");
    assert_eq!(audit.events[0].actor, "admin:root");
    assert_eq!(audit.events[0].tenant.as_deref(), Some("fabrikam"));
    assert_eq!(audit.events[0].client_address.as_deref(), Some("127.0.0.1"));
    let invalid = post(format!("csrf_token={csrf}&id=Not+An+Id"))
        .await
        .expect("post");
    assert_eq!(
        invalid.status(),
        422,
        "a refused value is shown next to its field"
    );
    let body = invalid.text().await.expect("body");
    assert!(body.contains("id=\"error-id\""), "{body}");
    assert!(
        body.contains("aria-describedby=\"hint-id error-id\""),
        "{body}"
    );
    app.stop().await;
}

async fn tenant_admin_gets_404_for_another_tenant(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let master = &app.state.broker.master_key;
    for id in ["contoso", "fabrikam"] {
        tessera_service::broker::tenants::create_broker_tenant(
            app.state.broker.store.as_ref(),
            master,
            tessera_service::broker::tenants::NewBrokerTenant {
                id: TenantId::parse(id).expect("id"),
                display_name: None,
            },
            app.clock.now(),
        )
        .await
        .expect("broker tenant");
    }
    let cookie = portal_session(&app, "ann", "tenant_admin", &["contoso"]).await;
    let own = get(&app, "/admin/broker/contoso/", &cookie).await;
    assert_eq!(own.status(), 200);
    for path in [
        "/admin/broker/fabrikam/",
        "/admin/broker/fabrikam/identity-providers",
        "/admin/broker/fabrikam/user-flows",
        "/admin/broker/fabrikam/applications",
        "/admin/broker/fabrikam/users",
        "/admin/audit?tenant=fabrikam",
        "/admin/authenticator/acme/",
        "/admin/admins",
        "/admin/broker/new",
    ] {
        let response = get(&app, path, &cookie).await;
        assert_eq!(response.status(), 404, "{path}");
    }
    let home = get(&app, "/admin/", &cookie)
        .await
        .text()
        .await
        .expect("body");
    assert!(home.contains("/admin/broker/contoso/"));
    assert!(
        !home.contains("fabrikam"),
        "the other tenant is not even listed"
    );
    let global = portal_session(&app, "root", "global_admin", &[]).await;
    assert_eq!(
        get(&app, "/admin/broker/fabrikam/", &global).await.status(),
        200
    );
    app.stop().await;
}

/// Follows the bootstrap link through the admin tenant's authorization endpoint with a signed-in provider session
/// (the passkey ceremony itself is the pages' and is tested there; `prompt=create` is dropped so the session
/// answers at once) to the portal's callback. Returns the callback's response.
async fn through_sign_in(
    app: &TestApp,
    start: reqwest::Response,
    provider_cookie: &str,
) -> reqwest::Response {
    assert_eq!(start.status(), 303);
    let csrf = set_cookies(&start)
        .into_iter()
        .find(|c| c.starts_with("__Host-tessera-csrf-"))
        .expect("csrf cookie");
    let authorize = location(&start).replace("&prompt=create", "");
    assert!(
        authorize.starts_with(&format!("{}/tessera-admin/oidc/authorize?", app.base)),
        "{authorize}"
    );
    let path = authorize.trim_start_matches(&app.base).to_owned();
    let answered = get(app, &path, provider_cookie).await;
    assert_eq!(
        answered.status(),
        303,
        "the admin tenant answers with a code"
    );
    let callback = location(&answered);
    assert!(
        callback.starts_with(&format!("{}/admin/callback?", app.base)),
        "{callback}"
    );
    get(app, callback.trim_start_matches(&app.base), &csrf).await
}

async fn bootstrap_link_makes_the_first_global_admin_once(backend: Backend) {
    let Some((app, link)) = app(backend).await else {
        return;
    };
    let path = link.trim_start_matches(&app.base).to_owned();
    let (id, provider_cookie) = admin_tenant_user(&app, "first").await;
    let start = get(&app, &path, "").await;
    assert!(
        location(&start).contains("prompt=create"),
        "the bootstrap link opens the sign-up page"
    );
    let state = url::Url::parse(&location(&start))
        .expect("authorize URL")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let csrf = set_cookies(&start)
        .into_iter()
        .find(|c| c.starts_with("__Host-tessera-csrf-"))
        .expect("csrf cookie");
    let done = through_sign_in(&app, start, &provider_cookie).await;
    assert_eq!(done.status(), 303);
    assert_eq!(location(&done), "/admin/");
    let session = done
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tessera-admin="))
        .expect("portal session cookie")
        .to_owned();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(attribute), "{session}");
    }
    let cookie = session.split(';').next().unwrap_or_default().to_owned();
    let replayed = get(
        &app,
        &format!("/admin/callback?code=x&state={state}"),
        &csrf,
    )
    .await;
    assert_eq!(
        replayed.status(),
        400,
        "a replayed callback finds no pending sign-in"
    );
    let home = get(&app, "/admin/", &cookie).await;
    assert_eq!(home.status(), 200);
    assert!(
        home.text()
            .await
            .expect("body")
            .contains("first</strong> (global admin)")
    );
    let member = app
        .state
        .admin_store
        .get_admin_member(id.as_str())
        .await
        .expect("store")
        .expect("member");
    assert_eq!(member.role, "global_admin");
    let audit = app
        .state
        .admin_store
        .list_audit_events(
            &tessera_store::AuditFilter {
                action_prefix: Some("admin.bootstrap".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .expect("audit");
    assert_eq!(audit.events.len(), 1, "the bootstrap wrote its audit event");
    assert_eq!(audit.events[0].actor, "bootstrap");
    assert_eq!(audit.events[0].client_address.as_deref(), Some("127.0.0.1"));
    // Used: the link never works again, and a restart prints none.
    let again = get(&app, &path, "").await;
    assert_eq!(again.status(), 404);
    assert!(
        tessera_server::app::print_bootstrap(&app.state, tessera_server::app::BootstrapNotice::Log)
            .await
            .expect("start")
            .is_none()
    );
    assert_eq!(
        app.state
            .admin_store
            .count_admin_members()
            .await
            .expect("count"),
        1
    );
    app.stop().await;
}

async fn bootstrap_link_wrong_or_expired_is_refused(backend: Backend) {
    let Some((app, link)) = app(backend).await else {
        return;
    };
    for wrong in [
        "/admin/bootstrap",
        "/admin/bootstrap?token=tsb_wrong",
        "/admin/bootstrap?token=tsr_notbootstrap",
    ] {
        let response = get(&app, wrong, "").await;
        assert_eq!(response.status(), 404, "{wrong}");
        assert!(set_cookies(&response).is_empty(), "nothing starts");
    }
    app.clock.advance(time::Duration::minutes(31));
    let expired = get(&app, link.trim_start_matches(&app.base), "").await;
    assert_eq!(expired.status(), 404, "expired");
    assert_eq!(
        app.state
            .admin_store
            .count_admin_members()
            .await
            .expect("count"),
        0
    );
    app.stop().await;
}

async fn bootstrap_link_spent_meanwhile_makes_no_second_admin(backend: Backend) {
    let Some((app, link)) = app(backend).await else {
        return;
    };
    let path = link.trim_start_matches(&app.base).to_owned();
    // Two browsers open the link before either finishes: only the first to finish becomes an administrator.
    let first_start = get(&app, &path, "").await;
    let second_start = get(&app, &path, "").await;
    let (_, first_cookie) = admin_tenant_user(&app, "first").await;
    let (second, second_cookie) = admin_tenant_user(&app, "second").await;
    let first = through_sign_in(&app, first_start, &first_cookie).await;
    assert_eq!(first.status(), 303);
    let late = through_sign_in(&app, second_start, &second_cookie).await;
    assert_eq!(late.status(), 410, "the link was spent meanwhile");
    assert!(
        !set_cookies(&late)
            .iter()
            .any(|c| c.starts_with("tessera-admin=")),
        "no session"
    );
    assert!(
        app.state
            .admin_store
            .get_admin_member(second.as_str())
            .await
            .expect("store")
            .is_none()
    );
    assert_eq!(
        app.state
            .admin_store
            .count_admin_members()
            .await
            .expect("count"),
        1
    );
    app.stop().await;
}

async fn account_of_the_admin_tenant_without_a_role_gets_no_session(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let (_, provider_cookie) = admin_tenant_user(&app, "stranger").await;
    let start = get(&app, "/admin/signin/start", "").await;
    let answer = through_sign_in(&app, start, &provider_cookie).await;
    assert_eq!(answer.status(), 403);
    assert!(
        !set_cookies(&answer)
            .iter()
            .any(|c| c.starts_with("tessera-admin=")),
        "no session"
    );
    assert!(
        answer
            .text()
            .await
            .expect("body")
            .contains("not an administrator")
    );
    app.stop().await;
}

/// "No page over 50 ms server time at 1,000 objects": 1,000 each of user flows, applications, directory users and
/// audit events in one broker tenant; each list page (paged) is fetched five times over loopback HTTP and its median
/// printed, and held to the target (50 ms, measured from the client, so server time is less) even in a debug build.
#[tokio::test]
async fn portal_lists_stay_fast_at_1000_objects() {
    use tessera_broker::config::{FlowSettings, LocalAccounts, PolicyId};
    let Some((app, _)) = app(Backend::Sqlite).await else {
        return;
    };
    let tenant = TenantId::parse("contoso").expect("id");
    let store = app.state.broker.store.as_ref();
    let now = app.clock.now();
    tessera_service::broker::tenants::create_broker_tenant(
        store,
        &app.state.broker.master_key,
        tessera_service::broker::tenants::NewBrokerTenant {
            id: tenant.clone(),
            display_name: None,
        },
        now,
    )
    .await
    .expect("tenant");
    let settings = FlowSettings {
        local_accounts: LocalAccounts::Email,
        ..FlowSettings::default()
    };
    for n in 0..1000 {
        let policy = PolicyId::from_name(&format!("flow{n:04}")).expect("policy");
        tessera_service::broker::flows::create_user_flow(
            store,
            &tenant,
            policy,
            settings.clone(),
            now,
        )
        .await
        .expect("flow");
        tessera_service::broker::applications::create_application(
            store,
            &tenant,
            tessera_service::broker::applications::NewApplication {
                display_name: format!("app {n}"),
                client_type: tessera_oidc::ClientType::Public,
                reply_urls: vec![format!("https://app{n}.example/cb")],
                logout_urls: Vec::new(),
                token_lifetimes: tessera_broker::config::TokenLifetimes::default(),
                id_token_signing_alg: tessera_oidc::keys::SigningAlg::Rs256,
            },
            now,
        )
        .await
        .expect("application");
        let object_id = UserId::parse(&format!("user-{n:04}")).expect("id");
        store
            .create_user_with_identity(
                &tessera_store::DirectoryUserRecord {
                    tenant: tenant.clone(),
                    object_id,
                    display_name: Some(format!("User {n}")),
                    given_name: None,
                    surname: None,
                    email: Some(format!("user{n}@example.com")),
                    custom: serde_json::json!({}),
                    identities: Vec::new(),
                    created_at: now,
                    last_sign_in_at: None,
                    disabled_at: None,
                },
                &tessera_store::DirectoryIdentity {
                    issuer: "https://idp.example".into(),
                    subject: format!("s{n}"),
                },
            )
            .await
            .expect("user");
        app.state
            .admin_store
            .record_audit_event(&AuditEvent {
                id: format!("ev-{n:04}"),
                at: now,
                actor: "test".into(),
                action: "broker.application.create".into(),
                target: format!("broker/contoso/applications/{n}"),
                tenant: Some("contoso".into()),
                before: None,
                after: None,
                request_id: None,
                client_address: None,
            })
            .await
            .expect("audit");
    }
    let cookie = portal_session(&app, "root", "global_admin", &[]).await;
    let bound = 50;
    for path in [
        "/admin/",
        "/admin/broker/contoso/user-flows",
        "/admin/broker/contoso/applications",
        "/admin/broker/contoso/users",
        "/admin/broker/contoso/users?q=user9",
        "/admin/audit",
        "/admin/audit?tenant=contoso&action=broker.",
        "/admin/broker/contoso/user-flows/B2C_1_flow0999",
    ] {
        let mut times = Vec::new();
        for _ in 0..5 {
            let started = std::time::Instant::now();
            let response = get(&app, path, &cookie).await;
            assert_eq!(response.status(), 200, "{path}");
            let body = response.text().await.expect("body");
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            assert!(
                body.len() < 400_000,
                "{path} is paged ({} bytes)",
                body.len()
            );
        }
        times.sort_by(f64::total_cmp);
        let median = times[2];
        eprintln!("portal page {path}: median {median:.1} ms at 1,000 objects");
        assert!(median < f64::from(bound), "{path}: {median:.1} ms");
    }
    app.stop().await;
}

/// A form of `path` (GET) and its CSRF cookie and token: the `Cookie` header to post with, and the token.
async fn form_of(app: &TestApp, path: &str, cookie: &str) -> (String, String) {
    let form = get(app, path, cookie).await;
    assert_eq!(form.status(), 200, "{path}");
    let csrf_cookie = set_cookies(&form)
        .into_iter()
        .find(|c| c.starts_with("__Host-tessera-csrf-"))
        .map(|c| format!("; {c}"))
        .unwrap_or_default();
    let token = csrf_of(&form.text().await.expect("body"));
    (format!("{cookie}{csrf_cookie}"), token)
}

async fn post(app: &TestApp, path: &str, cookies: &str, body: String) -> reqwest::Response {
    app.http
        .post(app.socket_url(path))
        .header("cookie", cookies)
        .header("origin", app.base.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("post")
}

async fn read_only_admin_sees_but_cannot_change(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let tenant = TenantId::parse("contoso").expect("id");
    tessera_service::broker::tenants::create_broker_tenant(
        app.state.broker.store.as_ref(),
        &app.state.broker.master_key,
        tessera_service::broker::tenants::NewBrokerTenant {
            id: tenant.clone(),
            display_name: None,
        },
        app.clock.now(),
    )
    .await
    .expect("tenant");
    let cookie = portal_session(&app, "reader", "read_only", &["contoso"]).await;
    let (cookies, token) = form_of(&app, "/admin/broker/contoso/applications", &cookie).await;
    let list = get(&app, "/admin/broker/contoso/applications", &cookie).await;
    assert!(
        !list
            .text()
            .await
            .expect("body")
            .contains("New registration"),
        "no way to add"
    );
    assert_eq!(
        get(&app, "/admin/broker/contoso/applications/new", &cookie)
            .await
            .status(),
        403
    );
    let refused = post(
        &app,
        "/admin/broker/contoso/applications/new",
        &cookies,
        format!("csrf_token={token}&display_name=x&client_type=public&reply_urls=https%3A%2F%2Fa.example%2Fcb"),
    )
    .await;
    assert_eq!(refused.status(), 403);
    assert!(
        app.state
            .broker
            .store
            .list_broker_applications(&tenant)
            .await
            .expect("store")
            .is_empty(),
        "nothing written"
    );
    assert_eq!(
        get(&app, "/admin/broker/fabrikam/", &cookie).await.status(),
        404
    );
    app.stop().await;
}

async fn portal_session_ends_when_idle_at_its_lifetime_and_at_sign_out(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    // Idle: unused for 30 minutes.
    let cookie = portal_session(&app, "root", "global_admin", &[]).await;
    assert_eq!(get(&app, "/admin/", &cookie).await.status(), 200);
    app.clock.advance(time::Duration::minutes(29));
    assert_eq!(
        get(&app, "/admin/", &cookie).await.status(),
        200,
        "used within the idle timeout"
    );
    app.clock.advance(time::Duration::minutes(31));
    assert_eq!(
        get(&app, "/admin/", &cookie).await.status(),
        303,
        "idle too long"
    );
    // Absolute: used every 20 minutes, still over after 8 hours.
    let cookie = portal_session(&app, "ann", "global_admin", &[]).await;
    for _ in 0..23 {
        app.clock.advance(time::Duration::minutes(20));
        assert_eq!(get(&app, "/admin/", &cookie).await.status(), 200);
    }
    app.clock.advance(time::Duration::minutes(21));
    assert_eq!(
        get(&app, "/admin/", &cookie).await.status(),
        303,
        "past the absolute lifetime"
    );
    // Sign-out needs the CSRF token, then the session is gone.
    let cookie = portal_session(&app, "bob", "global_admin", &[]).await;
    let (cookies, token) = form_of(&app, "/admin/", &cookie).await;
    assert_eq!(
        post(&app, "/admin/signout", &cookies, String::new())
            .await
            .status(),
        403
    );
    assert_eq!(
        get(&app, "/admin/", &cookie).await.status(),
        200,
        "not signed out without the token"
    );
    let out = post(
        &app,
        "/admin/signout",
        &cookies,
        format!("csrf_token={token}"),
    )
    .await;
    assert_eq!(out.status(), 303);
    assert!(
        set_cookies(&out).iter().any(|c| c == "tessera-admin="),
        "the cookie is cleared"
    );
    assert_eq!(
        get(&app, "/admin/", &cookie).await.status(),
        303,
        "the session is gone"
    );
    app.stop().await;
}

/// A server on an IP address (where browsers refuse passkeys) still starts: making the admin tenant never stops a
/// start.
#[tokio::test]
async fn public_url_on_an_ip_address_still_starts() {
    let db = tessera_testkit::TempSqlite::new().expect("temp");
    let store = tessera_store_sqlite::SqliteStore::open(db.path())
        .await
        .expect("sqlite");
    let store: std::sync::Arc<dyn tessera_store::Backend> = std::sync::Arc::new(store);
    let state = tessera_http::AppState::new(
        store.clone(),
        std::sync::Arc::new(tessera_core::SystemClock),
        tessera_http::PublicUrl::parse("http://127.0.0.1:8080").expect("url"),
        tessera_http::SecuritySettings::default(),
        tessera_oidc::keys::MasterKey::generate().expect("key"),
    );
    for start in ["first", "second"] {
        let started =
            tessera_server::app::print_bootstrap(&state, tessera_server::app::BootstrapNotice::Log)
                .await;
        assert!(started.is_ok(), "{start} start: {started:?}");
    }
    assert!(
        store
            .get_tenant(&admin_tenant())
            .await
            .expect("store")
            .is_some()
    );
}

/// The value of the portal's shown-once secret field, if the page has one.
fn secret_of(html: &str) -> Option<String> {
    let marker = "id=\"secret-value\" readonly value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

async fn bearer_get(app: &TestApp, path: &str, secret: &str) -> reqwest::StatusCode {
    app.http
        .get(app.socket_url(path))
        .bearer_auth(secret)
        .send()
        .await
        .expect("api")
        .status()
}

async fn portal_api_token_is_shown_once_works_and_is_revoked(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let (cookies, csrf) = form_of(&app, "/admin/api-tokens/new", &root).await;

    // Without its CSRF token the form changes nothing.
    let refused = post(
        &app,
        "/admin/api-tokens",
        &cookies,
        "name=ci&role=global_admin&expires_in_days=30".into(),
    )
    .await;
    assert_eq!(refused.status(), 403);
    assert!(
        app.state
            .admin_store
            .list_api_tokens()
            .await
            .expect("tokens")
            .is_empty()
    );

    // A bad lifetime is refused next to its field, and nothing is made.
    let bad = post(
        &app,
        "/admin/api-tokens",
        &cookies,
        format!("csrf_token={csrf}&name=ci&role=global_admin&expires_in_days=400"),
    )
    .await;
    let bad = bad.text().await.expect("body");
    assert!(bad.contains("id=\"error-expires_in_days\""), "{bad}");
    assert!(secret_of(&bad).is_none());

    let created = post(
        &app,
        "/admin/api-tokens",
        &cookies,
        format!("csrf_token={csrf}&name=ci+pipeline&role=global_admin&tenants=&expires_in_days=30"),
    )
    .await;
    assert_eq!(created.status(), 200);
    assert_eq!(
        created
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let page = created.text().await.expect("body");
    let secret = secret_of(&page).expect("the secret, shown once");
    assert!(secret.starts_with("tsr_"), "{secret}");
    let tokens = app
        .state
        .admin_store
        .list_api_tokens()
        .await
        .expect("tokens");
    assert_eq!(tokens.len(), 1);
    let token = &tokens[0];
    assert_eq!(token.created_by, "admin:root");
    assert_eq!(token.role, "global_admin");
    assert_eq!(
        bearer_get(&app, "/admin/api/v1/broker/tenants", &secret).await,
        200,
        "the token works with the API"
    );

    // The list and the token's page name it, and never show the secret again.
    for path in [
        "/admin/api-tokens".to_owned(),
        format!("/admin/api-tokens/{}", token.id),
    ] {
        let shown = get(&app, &path, &root).await;
        assert_eq!(shown.status(), 200, "{path}");
        let html = shown.text().await.expect("body");
        assert!(html.contains("ci pipeline"), "{path}");
        assert!(!html.contains(&secret), "{path} shows no secret");
    }

    // A tenant admin cannot make a token above their role, and does not see the global admin's token.
    let ann = portal_session(&app, "ann", "tenant_admin", &["contoso"]).await;
    let (ann_cookies, ann_csrf) = form_of(&app, "/admin/api-tokens/new", &ann).await;
    let escalate = post(
        &app,
        "/admin/api-tokens",
        &ann_cookies,
        format!("csrf_token={ann_csrf}&name=mine&role=global_admin&expires_in_days=30"),
    )
    .await
    .text()
    .await
    .expect("body");
    assert!(escalate.contains("id=\"error-role\""), "{escalate}");
    assert!(secret_of(&escalate).is_none());
    assert_eq!(
        app.state
            .admin_store
            .list_api_tokens()
            .await
            .expect("tokens")
            .len(),
        1,
        "nothing made"
    );
    let foreign = format!("/admin/api-tokens/{}", token.id);
    assert_eq!(get(&app, &foreign, &ann).await.status(), 404);
    let listed = get(&app, "/admin/api-tokens", &ann)
        .await
        .text()
        .await
        .expect("body");
    assert!(
        !listed.contains("ci pipeline"),
        "not in the tenant admin's list"
    );
    let not_theirs = post(
        &app,
        &format!("{foreign}/revoke"),
        &ann_cookies,
        format!("csrf_token={ann_csrf}"),
    )
    .await;
    assert_eq!(not_theirs.status(), 404);
    assert_eq!(
        bearer_get(&app, "/admin/api/v1/broker/tenants", &secret).await,
        200
    );

    // Revoked: it stops working at once, with its audit event.
    let revoked = post(
        &app,
        &format!("{foreign}/revoke"),
        &cookies,
        format!("csrf_token={csrf}"),
    )
    .await;
    assert_eq!(revoked.status(), 303);
    assert_eq!(
        bearer_get(&app, "/admin/api/v1/broker/tenants", &secret).await,
        401
    );
    let events = app
        .state
        .admin_store
        .list_audit_events(&tessera_store::AuditFilter::default(), None, 50)
        .await
        .expect("audit");
    for action in ["api_token.create", "api_token.revoke"] {
        assert!(
            events
                .events
                .iter()
                .any(|e| e.action == action && e.actor == "admin:root"),
            "{action}"
        );
    }
    app.stop().await;
}

/// A user flow's "Identity providers" page: another tenant's admin gets 404, a form without its CSRF token 403, a
/// provider the tenant does not have is refused next to the field; none of them makes a new version.
async fn flow_identity_providers_page_refuses_what_it_must(backend: Backend) {
    use tessera_broker::config::{FlowSettings, LocalAccounts, PolicyId};
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let tenant = TenantId::parse("contoso").expect("id");
    let store = app.state.broker.store.as_ref();
    let now = app.clock.now();
    tessera_service::broker::tenants::create_broker_tenant(
        store,
        &app.state.broker.master_key,
        tessera_service::broker::tenants::NewBrokerTenant {
            id: tenant.clone(),
            display_name: None,
        },
        now,
    )
    .await
    .expect("tenant");
    let policy = PolicyId::from_name("signupsignin").expect("policy");
    tessera_service::broker::flows::create_user_flow(
        store,
        &tenant,
        policy.clone(),
        FlowSettings {
            local_accounts: LocalAccounts::Email,
            ..FlowSettings::default()
        },
        now,
    )
    .await
    .expect("flow");
    let path = "/admin/broker/contoso/user-flows/B2C_1_signupsignin/identity-providers";
    let versions = || async {
        tessera_service::broker::flows::get_user_flow(store, &tenant, &policy)
            .await
            .expect("flow")
            .versions()
            .count()
    };

    let other = portal_session(&app, "fab", "tenant_admin", &["fabrikam"]).await;
    assert_eq!(get(&app, path, &other).await.status(), 404);

    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let (cookies, csrf) = form_of(&app, path, &root).await;
    let refused = post(
        &app,
        path,
        &cookies,
        "identity_providers=nobody&based_on=1".into(),
    )
    .await;
    assert_eq!(refused.status(), 403, "no CSRF token");
    let unknown = post(
        &app,
        path,
        &cookies,
        format!("csrf_token={csrf}&identity_providers=nobody&based_on=1"),
    )
    .await;
    let page = unknown.text().await.expect("body");
    assert!(page.contains("id=\"error-identity_providers\""), "{page}");
    assert_eq!(versions().await, 1, "no new version");
    app.stop().await;
}
