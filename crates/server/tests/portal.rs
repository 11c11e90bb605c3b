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
    policy_page_saves_checks_like_the_api_and_refuses_a_stale_edit,
    signing_keys_page_lists_and_rotates_after_confirmation,
    client_page_edits_regenerates_and_deletes_with_its_version,
    invitation_enrols_one_administrator_with_its_role_once,
    sign_up_at_the_admin_tenant_without_an_invitation_is_refused,
    expired_invitation_is_refused,
    withdrawn_invitation_leaves_the_list_and_its_link_fails_like_an_expired_one,
    invitation_made_before_a_restart_still_enrols_after_it,
    admin_tenant_sign_up_is_refused_where_the_admin_role_is_not_served,
);

#[path = "portal/lifecycle.rs"]
mod lifecycle;

#[path = "portal/actions.rs"]
mod actions;

#[path = "portal/scale.rs"]
mod scale;

#[path = "portal/scopes.rs"]
mod scopes;

#[path = "portal/stale_forms.rs"]
mod stale_forms;

#[path = "portal/filters.rs"]
mod filters;

#[path = "portal/picker.rs"]
mod picker;

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

/// A tiny cookie jar for a browser going through several hosts' pages.
#[derive(Default)]
struct Jar(std::collections::BTreeMap<String, String>);

impl Jar {
    fn absorb(&mut self, response: &reqwest::Response) {
        for cookie in set_cookies(response) {
            if let Some((name, value)) = cookie.split_once('=') {
                if value.is_empty() {
                    self.0.remove(name);
                } else {
                    self.0.insert(name.to_owned(), value.to_owned());
                }
            }
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn get(&self, name: &str) -> String {
        self.0.get(name).cloned().unwrap_or_default()
    }

    /// A page at the app's public address (where the tenants' pages answer; another `Host` is misdirected).
    async fn open(&mut self, app: &TestApp, url: &str) -> reqwest::Response {
        let path = url.trim_start_matches(&app.base).to_owned();
        let mut request = app.http.get(format!("{}{path}", app.base));
        if !self.0.is_empty() {
            request = request.header("cookie", self.header());
        }
        let response = request.send().await.expect("get");
        self.absorb(&response);
        response
    }
}

/// The admin tenant's JSON call of its pages' script (same origin, CSRF header): status and body.
async fn admin_tenant_call(
    app: &TestApp,
    jar: &mut Jar,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let csrf = jar.get(&tessera_http::csrf::cookie_name(&admin_tenant()));
    let response = app
        .http
        .post(format!("{}{path}", app.base))
        .header("origin", app.base.clone())
        .header("cookie", jar.header())
        .header(tessera_http::csrf::CSRF_HEADER, csrf)
        .json(&body)
        .send()
        .await
        .expect("call");
    jar.absorb(&response);
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// How far an enrolment from a portal link (bootstrap or invitation) got.
enum Enrolled {
    /// The sign-up page refused (status and body).
    PageRefused(u16, String),
    /// The portal's callback answered.
    Callback(reqwest::Response),
}

/// A person opens `link` (or continues from `start`, the link's answer), signs up at the admin tenant as
/// `username` with a new passkey, and comes back to the portal.
async fn enrol(app: &TestApp, jar: &mut Jar, start: reqwest::Response, username: &str) -> Enrolled {
    assert_eq!(start.status(), 303, "the link starts a sign-in");
    jar.absorb(&start);
    let authorize = location(&start);
    assert!(authorize.contains("prompt=create"), "{authorize}");
    let to_login = jar.open(app, &authorize).await;
    assert_eq!(to_login.status(), 303);
    // The sign-in page sends a `prompt=create` request on to the sign-up page.
    let to_signup = jar.open(app, &location(&to_login)).await;
    assert_eq!(to_signup.status(), 303);
    let signup = location(&to_signup);
    assert!(signup.contains("/tessera-admin/signup?authz="), "{signup}");
    let authz = signup.split("authz=").nth(1).unwrap_or_default().to_owned();
    let page = jar.open(app, &signup).await;
    let status = page.status().as_u16();
    if status != 200 {
        return Enrolled::PageRefused(status, page.text().await.unwrap_or_default());
    }
    let (status, options) = admin_tenant_call(
        app,
        jar,
        "/tessera-admin/webauthn/register/options",
        serde_json::json!({"username": username, "display_name": username, "authz": authz}),
    )
    .await;
    assert_eq!(status, 200, "the sign-up page admitted it: {options}");
    let credential = tessera_testkit::SoftAuthenticator::new()
        .register(&options["publicKey"].to_string(), &app.base)
        .expect("a passkey");
    let credential: serde_json::Value = serde_json::from_str(&credential).expect("json");
    let (status, done) = admin_tenant_call(
        app,
        jar,
        "/tessera-admin/webauthn/register/verify",
        serde_json::json!({"ceremony": options["ceremony"], "credential": credential}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    let resumed = jar.open(app, done["next"].as_str().expect("next")).await;
    assert_eq!(resumed.status(), 303);
    let callback = location(&resumed);
    assert!(callback.contains("/admin/callback?"), "{callback}");
    Enrolled::Callback(jar.open(app, &callback).await)
}

async fn admins_with(app: &TestApp, username: &str) -> Option<AdminMember> {
    app.state
        .admin_store
        .list_admin_members()
        .await
        .expect("members")
        .into_iter()
        .find(|m| m.username == username)
}

/// An invitation made on the portal's "Administrators" → "Invite" page: its link.
async fn invite_on_the_portal(app: &TestApp, cookie: &str, form: &str) -> String {
    let (cookies, csrf) = form_of(app, "/admin/admins/invite", cookie).await;
    let made = post(
        app,
        "/admin/admins/invite",
        &cookies,
        format!("csrf_token={csrf}&{form}"),
    )
    .await;
    assert_eq!(made.status(), 201);
    let body = made.text().await.expect("body");
    let marker = "id=\"secret-value\" readonly value=\"";
    let start = body.find(marker).expect("the link, shown once") + marker.len();
    let link = body[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .replace("&amp;", "&");
    assert!(
        link.starts_with(&format!("{}/admin/invitation?token=tsi_", app.base)),
        "{link}"
    );
    link
}

async fn policy_page_saves_checks_like_the_api_and_refuses_a_stale_edit(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let cookie = portal_session(&app, "root", "global_admin", &[]).await;
    let path = "/admin/authenticator/acme/policy";
    let (cookies, csrf) = form_of(&app, path, &cookie).await;
    let tenant = TenantId::parse("acme").expect("id");
    let revision = app
        .state
        .provider
        .store
        .get_tenant(&tenant)
        .await
        .expect("store")
        .expect("acme")
        .revision;
    let model = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
    let form = |version: u64, extra: &str| {
        format!(
            "csrf_token={csrf}&version={version}&user_verification=required&attestation=trusted&aaguid_allow={model}\
             &min_certification_level=L2&synced_passkeys=refuse&algorithms=-7&algorithms=-8&sign_count=reject_clone\
             &session_idle_seconds=600&session_lifetime_seconds=&hide_account_existence=off{extra}"
        )
    };
    let saved = post(&app, path, &cookies, form(revision, "")).await;
    assert_eq!(saved.status(), 303);
    assert_eq!(location(&saved), "/admin/authenticator/acme/?done=policy");
    let stored = app
        .state
        .provider
        .store
        .get_tenant(&tenant)
        .await
        .expect("store")
        .expect("acme");
    let policy = tessera_service::tenants::tenant_policy(&stored).expect("policy");
    assert_eq!(
        policy.attestation,
        tessera_webauthn::AttestationPolicy::Trusted
    );
    assert_eq!(policy.algorithms, [-7, -8]);
    assert_eq!(policy.aaguid_allow.len(), 1);
    let settings = tessera_service::tenants::tenant_settings(&stored).expect("settings");
    assert_eq!(settings.session_idle_seconds, Some(600));
    assert!(!settings.hides_account_existence());
    let page = get(&app, path, &cookie).await.text().await.expect("body");
    assert!(
        page.contains("value=\"trusted\" checked"),
        "the page shows what is stored"
    );
    // Refusals land next to their field (the same checks as the API's), and nothing is written.
    for (extra, field) in [
        (format!("&aaguid_deny={model}"), "aaguid_allow"),
        ("&aaguid_deny=not-an-aaguid".to_owned(), "aaguid_deny"),
        ("&legacy_appid=ftp://old.example".to_owned(), "legacy_appid"),
    ] {
        let refused = post(&app, path, &cookies, form(stored.revision, &extra)).await;
        assert_eq!(refused.status(), 422, "{extra}");
        let body = refused.text().await.expect("body");
        assert!(
            body.contains(&format!("id=\"error-{field}\"")),
            "{extra}: {body}"
        );
    }
    let no_algorithms = form(stored.revision, "").replace("&algorithms=-7&algorithms=-8", "");
    let refused = post(&app, path, &cookies, no_algorithms).await;
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .expect("body")
            .contains("id=\"error-algorithms\"")
    );
    let bad_idle =
        form(stored.revision, "").replace("session_idle_seconds=600", "session_idle_seconds=soon");
    let refused = post(&app, path, &cookies, bad_idle).await;
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .expect("body")
            .contains("id=\"error-session_idle_seconds\"")
    );
    let short_idle =
        form(stored.revision, "").replace("session_idle_seconds=600", "session_idle_seconds=5");
    let refused = post(&app, path, &cookies, short_idle).await;
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .expect("body")
            .contains("id=\"error-session_idle_seconds\"")
    );
    let unchanged = app
        .state
        .provider
        .store
        .get_tenant(&tenant)
        .await
        .expect("store")
        .expect("acme");
    assert_eq!(unchanged.revision, stored.revision, "nothing was written");
    // Someone else saved meanwhile: the old form is refused with the current settings.
    let stale = post(&app, path, &cookies, form(revision, "")).await;
    assert_eq!(stale.status(), 409);
    assert!(
        stale
            .text()
            .await
            .expect("body")
            .contains("Someone else changed this tenant")
    );
    let no_csrf = post(
        &app,
        path,
        &cookies,
        form(stored.revision, "").replacen(&format!("csrf_token={csrf}"), "", 1),
    )
    .await;
    assert_eq!(no_csrf.status(), 403);
    let reader = portal_session(&app, "reader", "read_only", &[]).await;
    let (reader_cookies, reader_csrf) = form_of(&app, path, &reader).await;
    let read_only = post(
        &app,
        path,
        &reader_cookies,
        form(stored.revision, "").replace(&csrf, &reader_csrf),
    )
    .await;
    assert_eq!(read_only.status(), 403);
    let other = portal_session(&app, "other", "tenant_admin", &["globex"]).await;
    assert_eq!(get(&app, path, &other).await.status(), 404);
    let audit = app
        .state
        .admin_store
        .list_audit_events(
            &tessera_store::AuditFilter {
                action_prefix: Some("tenant.policy.update".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .expect("audit");
    assert_eq!(audit.events.len(), 1);
    assert_eq!(
        audit.events[0]
            .after
            .as_ref()
            .map(|a| a["policy"]["attestation"].clone()),
        Some(serde_json::json!("trusted"))
    );
    app.stop().await;
}

async fn signing_keys_page_lists_and_rotates_after_confirmation(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let cookie = portal_session(&app, "root", "global_admin", &[]).await;
    let tenant = TenantId::parse("acme").expect("id");
    let before = app
        .state
        .provider
        .store
        .list_signing_keys(&tenant)
        .await
        .expect("keys");
    let list = get(&app, "/admin/authenticator/acme/keys", &cookie).await;
    assert_eq!(list.status(), 200);
    let body = list.text().await.expect("body");
    for key in &before {
        assert!(body.contains(&key.kid), "{body}");
    }
    assert!(body.contains("signing") && body.contains("ES256") && body.contains("RS256"));
    let (cookies, csrf) = form_of(&app, "/admin/authenticator/acme/keys/rotate", &cookie).await;
    let refused = post(
        &app,
        "/admin/authenticator/acme/keys/rotate",
        &cookies,
        "rotation=staged".into(),
    )
    .await;
    assert_eq!(refused.status(), 403, "no CSRF token");
    let rotated = post(
        &app,
        "/admin/authenticator/acme/keys/rotate",
        &cookies,
        format!("csrf_token={csrf}&rotation=staged"),
    )
    .await;
    assert_eq!(rotated.status(), 303);
    let after = app
        .state
        .provider
        .store
        .list_signing_keys(&tenant)
        .await
        .expect("keys");
    assert_eq!(after.len(), before.len() + 2);
    let list = get(&app, "/admin/authenticator/acme/keys?done=rotated", &cookie)
        .await
        .text()
        .await
        .expect("body");
    assert!(list.contains("published, signs soon"), "{list}");
    assert!(list.contains("New keys made"));
    let reader = portal_session(&app, "reader", "read_only", &[]).await;
    assert!(
        !get(&app, "/admin/authenticator/acme/keys", &reader)
            .await
            .text()
            .await
            .expect("body")
            .contains("id=\"rotate-keys\"")
    );
    assert_eq!(
        get(&app, "/admin/authenticator/acme/keys/rotate", &reader)
            .await
            .status(),
        403
    );
    let other = portal_session(&app, "other", "tenant_admin", &["globex"]).await;
    assert_eq!(
        get(&app, "/admin/authenticator/acme/keys", &other)
            .await
            .status(),
        404
    );
    let audit = app
        .state
        .admin_store
        .list_audit_events(
            &tessera_store::AuditFilter {
                action_prefix: Some("tenant.keys.rotate".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .expect("audit");
    assert_eq!(audit.events.len(), 1);
    app.stop().await;
}

async fn client_page_edits_regenerates_and_deletes_with_its_version(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let cookie = portal_session(&app, "root", "global_admin", &[]).await;
    let tenant = TenantId::parse("acme").expect("id");
    let (client, secret) = tessera_service::clients::create_client(
        app.state.provider.store.as_ref(),
        tessera_service::clients::NewClient {
            tenant: tenant.clone(),
            redirect_uris: vec![
                tessera_core::RedirectUri::parse("https://rp.example/cb").expect("uri"),
            ],
            post_logout_redirect_uris: Vec::new(),
            kind: tessera_service::clients::ClientKind::ConfidentialBasic,
            id_token_alg: tessera_oidc::keys::SigningAlg::Rs256,
            name: Some("Web shop".into()),
        },
        app.clock.now(),
    )
    .await
    .expect("client");
    let old_secret = secret.expect("secret").expose().to_owned();
    let here = format!("/admin/authenticator/acme/clients/{}", client.client_id);
    let list = get(&app, "/admin/authenticator/acme/clients", &cookie)
        .await
        .text()
        .await
        .expect("body");
    assert!(list.contains(&here), "the list links the client");
    let (cookies, csrf) = form_of(&app, &format!("{here}?edit=1"), &cookie).await;
    let edit = get(&app, &format!("{here}?edit=1"), &cookie)
        .await
        .text()
        .await
        .expect("body");
    let marker = "name=\"version\" value=\"";
    let start = edit.find(marker).expect("the version") + marker.len();
    let version = edit[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned();
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let save = |version: &str, name: &str, uris: &str| {
        format!(
            "csrf_token={csrf}&version={}&name={}&redirect_uris={}&post_logout_redirect_uris=",
            encode(version),
            encode(name),
            encode(uris)
        )
    };
    let refused = post(
        &app,
        &here,
        &cookies,
        save(&version, "Web shop", "http://rp.example/cb"),
    )
    .await;
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .expect("body")
            .contains("id=\"error-redirect_uris\"")
    );
    let saved = post(
        &app,
        &here,
        &cookies,
        save(
            &version,
            "Web shop 2",
            "https://rp.example/cb\nhttps://rp.example/cb2",
        ),
    )
    .await;
    assert_eq!(saved.status(), 303);
    let stored = tessera_service::clients::get_client(
        app.state.provider.store.as_ref(),
        &tenant,
        &client.client_id,
    )
    .await
    .expect("client");
    assert_eq!(stored.display_name, "Web shop 2");
    assert_eq!(stored.redirect_uris.len(), 2);
    // A second admin's form from before the change: a clear conflict, nothing overwritten.
    let stale = post(
        &app,
        &here,
        &cookies,
        save(&version, "Bob's name", "https://rp.example/cb"),
    )
    .await;
    assert_eq!(stale.status(), 409);
    assert!(
        stale
            .text()
            .await
            .expect("body")
            .contains("Someone else changed this client")
    );
    let page = get(&app, &here, &cookie).await.text().await.expect("body");
    let start = page.find(marker).expect("the version") + marker.len();
    let current = page[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(current, version);
    let stale_secret = post(
        &app,
        &format!("{here}/secret"),
        &cookies,
        format!("csrf_token={csrf}&version={}", encode(&version)),
    )
    .await;
    assert_eq!(stale_secret.status(), 409);
    let regenerated = post(
        &app,
        &format!("{here}/secret"),
        &cookies,
        format!("csrf_token={csrf}&version={}", encode(&current)),
    )
    .await;
    assert_eq!(regenerated.status(), 201);
    let body = regenerated.text().await.expect("body");
    assert!(body.contains("id=\"secret-value\""), "shown once");
    assert!(!body.contains(&old_secret));
    assert!(
        !get(&app, &here, &cookie)
            .await
            .text()
            .await
            .expect("body")
            .contains("id=\"secret-value\""),
        "never again"
    );
    let after = tessera_service::clients::get_client(
        app.state.provider.store.as_ref(),
        &tenant,
        &client.client_id,
    )
    .await
    .expect("client");
    assert_ne!(
        after.secret_hash, stored.secret_hash,
        "the old secret no longer works"
    );
    let deleted = post(
        &app,
        &format!("{here}/delete"),
        &cookies,
        format!("csrf_token={csrf}&version={}", encode(&current)),
    )
    .await;
    assert_eq!(deleted.status(), 303);
    assert_eq!(get(&app, &here, &cookie).await.status(), 404);
    let audit = app
        .state
        .admin_store
        .list_audit_events(
            &tessera_store::AuditFilter {
                action_prefix: Some("client.".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .expect("audit");
    let mut actions: Vec<&str> = audit.events.iter().map(|e| e.action.as_str()).collect();
    actions.sort_unstable();
    assert_eq!(
        actions,
        ["client.delete", "client.secret.regenerate", "client.update"]
    );
    assert!(!format!("{:?}", audit.events).contains(&old_secret));
    app.stop().await;
}

async fn invitation_enrols_one_administrator_with_its_role_once(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let tenant_admin = portal_session(&app, "acme-admin", "tenant_admin", &["acme"]).await;
    assert_eq!(
        get(&app, "/admin/admins/invite", &tenant_admin)
            .await
            .status(),
        404,
        "global admins only"
    );
    let link = invite_on_the_portal(
        &app,
        &root,
        "role=tenant_admin&tenants=acme&expires_in_minutes=60",
    )
    .await;
    // Two browsers open the link; the first to create a passkey becomes the administrator.
    let mut first = Jar::default();
    let first_start = first.open(&app, &link).await;
    let mut second = Jar::default();
    let second_start = second.open(&app, &link).await;
    let Enrolled::Callback(done) = enrol(&app, &mut first, first_start, "invited").await else {
        panic!("the invitation admits the sign-up");
    };
    assert_eq!(done.status(), 303);
    assert_eq!(location(&done), "/admin/");
    let member = admins_with(&app, "invited")
        .await
        .expect("an administrator");
    assert_eq!(member.role, "tenant_admin");
    assert_eq!(member.tenants, ["acme"]);
    let home = first.open(&app, "/admin/").await;
    assert_eq!(home.status(), 200);
    assert!(
        home.text()
            .await
            .expect("body")
            .contains("invited</strong> (tenant admin of acme)")
    );
    match enrol(&app, &mut second, second_start, "late").await {
        Enrolled::PageRefused(status, body) => {
            assert_eq!(status, 403);
            assert!(body.contains("by invitation only"), "{body}");
        }
        _ => panic!("a used invitation admits no second sign-up"),
    }
    assert!(admins_with(&app, "late").await.is_none());
    let again = get(&app, link.trim_start_matches(&app.base), "").await;
    assert_eq!(again.status(), 404, "used: the link never works again");
    assert!(
        again
            .text()
            .await
            .expect("body")
            .contains("This invitation does not work")
    );
    let audit = app
        .state
        .admin_store
        .list_audit_events(
            &tessera_store::AuditFilter {
                action_prefix: Some("admin.invitation".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .expect("audit");
    let mut actions: Vec<&str> = audit.events.iter().map(|e| e.action.as_str()).collect();
    actions.sort_unstable();
    assert_eq!(
        actions,
        ["admin.invitation.create", "admin.invitation.redeem"]
    );
    let created = audit
        .events
        .iter()
        .find(|e| e.action == "admin.invitation.create")
        .expect("created");
    assert_eq!(created.actor, "admin:root");
    let token = link.split("token=").nth(1).unwrap_or_default();
    assert!(
        !format!("{:?}", audit.events).contains(token),
        "the secret is in no audit event"
    );
    app.stop().await;
}

async fn sign_up_at_the_admin_tenant_without_an_invitation_is_refused(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let bare = Jar::default().open(&app, "/tessera-admin/signup").await;
    assert_eq!(bare.status(), 403);
    assert!(
        bare.text()
            .await
            .expect("body")
            .contains("Accounts here are made by invitation only")
    );
    // Through the portal's ordinary sign-in: the login page's "create an account" leads to the same refusal.
    let mut jar = Jar::default();
    let start = jar.open(&app, "/admin/signin/start").await;
    let to_login = jar.open(&app, &location(&start)).await;
    assert_eq!(to_login.status(), 303);
    let login = location(&to_login);
    let authz = login.split("authz=").nth(1).unwrap_or_default().to_owned();
    let page = jar
        .open(&app, &format!("/tessera-admin/signup?authz={authz}"))
        .await;
    assert_eq!(page.status(), 403);
    let login_page = jar.open(&app, &login).await;
    assert_eq!(login_page.status(), 200);
    let (status, refused) = admin_tenant_call(
        &app,
        &mut jar,
        "/tessera-admin/webauthn/register/options",
        serde_json::json!({"username": "intruder", "display_name": "Intruder", "authz": authz}),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    assert!(
        refused.to_string().contains("by invitation only"),
        "{refused}"
    );
    let (status, _) = admin_tenant_call(
        &app,
        &mut jar,
        "/tessera-admin/webauthn/register/options",
        serde_json::json!({"username": "intruder", "display_name": "Intruder"}),
    )
    .await;
    assert_eq!(status, 403, "no authorization request: no sign-up either");
    assert!(
        app.state
            .provider
            .store
            .find_user_by_username(&admin_tenant(), "intruder")
            .await
            .expect("store")
            .is_none()
    );
    // Other tenants stay open.
    assert_eq!(
        Jar::default().open(&app, "/acme/signup").await.status(),
        200
    );
    app.stop().await;
}

async fn expired_invitation_is_refused(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let unused =
        invite_on_the_portal(&app, &root, "role=read_only&tenants=&expires_in_minutes=60").await;
    // The shortest invitation (five minutes), opened in time and used after it expired, while the portal's own
    // sign-in (ten minutes) is still pending: the sign-up is refused and nobody gets a role.
    let short = members::create_invitation(
        &app.state.admin_store,
        "admin:root".into(),
        members::NewInvitation {
            role: tessera_service::admin::api_tokens::Role::ReadOnly,
            tenants: Vec::new(),
            lifetime: members::MIN_INVITATION_LIFETIME,
        },
        &tessera_service::admin::api_tokens::RequestContext::default(),
        app.clock.now(),
    )
    .await
    .expect("invitation");
    let mut jar = Jar::default();
    let start = jar.open(&app, &short.link(&app.base)).await;
    app.clock.advance(time::Duration::minutes(6));
    let Enrolled::PageRefused(status, body) = enrol(&app, &mut jar, start, "slow").await else {
        panic!("an expired invitation admits no sign-up");
    };
    assert_eq!(status, 403);
    assert!(body.contains("by invitation only"), "{body}");
    assert!(admins_with(&app, "slow").await.is_none());
    app.clock.advance(time::Duration::minutes(55));
    let expired = get(&app, unused.trim_start_matches(&app.base), "").await;
    assert_eq!(expired.status(), 404);
    assert!(set_cookies(&expired).is_empty(), "nothing starts");
    // The maintenance round purges the expired invitation: not even at a time it was pending is it found again.
    let hash =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, short.secret.expose().as_bytes())
            .as_ref()
            .to_vec();
    let made_at = short.expires_at - members::MIN_INVITATION_LIFETIME;
    let stored = |at| app.state.admin_store.find_admin_invitation(&hash, at);
    assert!(
        stored(made_at).await.expect("find").is_some(),
        "kept until purged"
    );
    tessera_server::app::maintenance_round(&app.state).await;
    assert!(stored(made_at).await.expect("find").is_none(), "purged");
    app.stop().await;
}

async fn withdrawn_invitation_leaves_the_list_and_its_link_fails_like_an_expired_one(
    backend: Backend,
) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let link = invite_on_the_portal(
        &app,
        &root,
        "role=tenant_admin&tenants=acme&expires_in_minutes=60",
    )
    .await;
    let kept =
        invite_on_the_portal(&app, &root, "role=read_only&tenants=&expires_in_minutes=60").await;
    let token = link.split("token=").nth(1).unwrap_or_default().to_owned();
    // Someone opened the link before it was withdrawn: their enrolment is refused afterwards too.
    let mut early = Jar::default();
    let early_start = early.open(&app, &link).await;
    let pending =
        members::list_invitations(&app.state.admin_store, app.clock.now(), None, None, 50)
            .await
            .expect("list");
    let id = pending
        .invitations
        .iter()
        .find(|i| i.tenants == ["acme"])
        .expect("the tenant admin's invitation")
        .id
        .clone();
    // The administrators page lists both, with a Withdraw button each, and never a link.
    let page = get(&app, "/admin/admins", &root).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("body");
    assert!(html.contains("Pending invitations"), "{html}");
    assert!(
        html.contains(&id) && html.contains("tenant admin of acme, made by admin:root"),
        "{html}"
    );
    assert!(
        html.contains(&format!("/admin/admins/invitations/{id}/withdraw")),
        "{html}"
    );
    assert!(html.contains(&format!("id=\"withdraw-{id}\"")), "{html}");
    assert!(
        !html.contains(&token) && !html.contains("token=tsi_"),
        "no link on the page"
    );
    let action = format!("/admin/admins/invitations/{id}/withdraw");
    // Without its CSRF token, or by a tenant admin: refused, nothing withdrawn.
    let (cookies, csrf) = form_of(&app, "/admin/admins", &root).await;
    let refused = post(&app, &action, &cookies, String::new()).await;
    assert_eq!(refused.status(), 403, "no CSRF token");
    let tenant_admin = portal_session(&app, "acme-admin", "tenant_admin", &["acme"]).await;
    let (their_cookies, their_csrf) = form_of(&app, "/admin/", &tenant_admin).await;
    let theirs = post(
        &app,
        &action,
        &their_cookies,
        format!("csrf_token={their_csrf}"),
    )
    .await;
    assert_eq!(theirs.status(), 404, "global admins only");
    assert_eq!(
        get(&app, link.trim_start_matches(&app.base), "")
            .await
            .status(),
        303,
        "still pending"
    );
    // Withdrawn: the page says so and no longer lists it; its link shows the page of an expired one.
    let done = post(&app, &action, &cookies, format!("csrf_token={csrf}")).await;
    assert_eq!(done.status(), 303);
    assert_eq!(location(&done), "/admin/admins?done=withdrawn");
    let after = get(&app, "/admin/admins?done=withdrawn", &root).await;
    let html = after.text().await.expect("body");
    assert!(html.contains("Invitation withdrawn"), "{html}");
    assert!(!html.contains(&id), "{html}");
    let again = post(&app, &action, &cookies, format!("csrf_token={csrf}")).await;
    assert_eq!(again.status(), 404, "withdrawn once");
    match enrol(&app, &mut early, early_start, "early").await {
        Enrolled::PageRefused(status, body) => {
            assert_eq!(status, 403);
            assert!(body.contains("by invitation only"), "{body}");
        }
        _ => panic!("a withdrawn invitation admits no sign-up"),
    }
    assert!(admins_with(&app, "early").await.is_none());
    let opened = get(&app, link.trim_start_matches(&app.base), "").await;
    assert_eq!(opened.status(), 404);
    assert!(set_cookies(&opened).is_empty(), "nothing starts");
    assert!(
        opened
            .text()
            .await
            .expect("body")
            .contains("This invitation does not work")
    );
    assert_eq!(
        get(&app, kept.trim_start_matches(&app.base), "")
            .await
            .status(),
        303,
        "the other invitation still works"
    );
    let audit = app
        .state
        .admin_store
        .list_audit_events(
            &tessera_store::AuditFilter {
                action_prefix: Some("admin.invitation.withdraw".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .expect("audit");
    assert_eq!(audit.events.len(), 1);
    assert_eq!(audit.events[0].actor, "admin:root");
    assert_eq!(audit.events[0].target, format!("admins/invitations/{id}"));
    assert!(!format!("{:?}", audit.events).contains(&token));
    app.stop().await;
}

async fn invitation_made_before_a_restart_still_enrols_after_it(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let link = invite_on_the_portal(
        &app,
        &root,
        "role=tenant_admin&tenants=acme&expires_in_minutes=10080",
    )
    .await;
    let withdrawn =
        invite_on_the_portal(&app, &root, "role=read_only&tenants=&expires_in_minutes=60").await;
    let withdrawn_id =
        members::list_invitations(&app.state.admin_store, app.clock.now(), None, None, 50)
            .await
            .expect("list")
            .invitations
            .into_iter()
            .find(|i| i.role == tessera_service::admin::api_tokens::Role::ReadOnly)
            .expect("the read-only invitation")
            .id;
    let (cookies, csrf) = form_of(&app, "/admin/admins", &root).await;
    let done = post(
        &app,
        &format!("/admin/admins/invitations/{withdrawn_id}/withdraw"),
        &cookies,
        format!("csrf_token={csrf}"),
    )
    .await;
    assert_eq!(done.status(), 303, "withdrawn before the restart");
    // A restart (SQLite: the database file closed and opened again, what the process kept in memory gone).
    let app = app.restart().await;
    let page = get(&app, "/admin/admins", &root).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("body");
    assert!(
        html.contains("tenant admin of acme, made by admin:root"),
        "still pending after the restart: {html}"
    );
    assert!(!html.contains(&withdrawn_id), "still withdrawn: {html}");
    let gone = get(&app, withdrawn.trim_start_matches(&app.base), "").await;
    assert_eq!(gone.status(), 404, "a withdrawn invitation stays withdrawn");
    // Used two days later: the seven-day invitation still works.
    app.clock.advance(time::Duration::days(2));
    let mut jar = Jar::default();
    let start = jar.open(&app, &link).await;
    let Enrolled::Callback(done) = enrol(&app, &mut jar, start, "after-restart").await else {
        panic!("the invitation made before the restart admits the sign-up after it");
    };
    assert_eq!(done.status(), 303);
    assert_eq!(location(&done), "/admin/");
    let member = admins_with(&app, "after-restart")
        .await
        .expect("an administrator");
    assert_eq!(member.role, "tenant_admin");
    assert_eq!(member.tenants, ["acme"]);
    let again = get(&app, link.trim_start_matches(&app.base), "").await;
    assert_eq!(again.status(), 404, "used once, across the restart too");
    app.stop().await;
}

async fn admin_tenant_sign_up_is_refused_where_the_admin_role_is_not_served(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let link = invite_on_the_portal(
        &app,
        &root,
        "role=tenant_admin&tenants=acme&expires_in_minutes=60",
    )
    .await;
    // The invitation's sign-in reaches the admin tenant's sign-up page.
    let mut jar = Jar::default();
    let start = jar.open(&app, &link).await;
    assert_eq!(start.status(), 303);
    let to_login = jar.open(&app, &location(&start)).await;
    let to_signup = jar.open(&app, &location(&to_login)).await;
    let signup = location(&to_signup);
    assert!(signup.contains("/tessera-admin/signup?authz="), "{signup}");
    let signup_path = signup.trim_start_matches(&app.base).to_owned();
    // The same store served by a server without the admin role: its authenticator pages work, and the admin
    // tenant's sign-up admits nothing, the pending invitation included.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = tessera_http::router_with_roles(
        app.state.clone(),
        tessera_http::Roles {
            admin: false,
            ..tessera_http::Roles::ALL
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tessera_server::listener::serve(
        listener,
        router,
        tessera_server::listener::ListenerLimits::default(),
        None,
        async move {
            let _ = stopped.await;
        },
    ));
    let without_admin = |path: &str| {
        app.http
            .get(format!("http://{addr}{path}"))
            .header("host", app.public_host())
            .send()
    };
    let refused = without_admin(&signup_path).await.expect("sign-up page");
    assert_eq!(refused.status(), 403);
    assert!(
        refused
            .text()
            .await
            .expect("body")
            .contains("Accounts here are made by invitation only")
    );
    assert_eq!(
        without_admin("/acme/signup")
            .await
            .expect("another tenant")
            .status(),
        200,
        "the authenticator pages work without the admin role"
    );
    assert_eq!(
        without_admin(link.trim_start_matches(&app.base))
            .await
            .expect("the link")
            .status(),
        404,
        "no portal without the admin role"
    );
    let _ = stop.send(());
    server.await.expect("stopped").expect("served");
    // The server with the admin role admits the same sign-up.
    assert_eq!(jar.open(&app, &signup).await.status(), 200);
    app.stop().await;
}

/// The authenticator service's users and their passkeys on the portal (list and search, a user's page, disable and
/// enable, delete after confirmation, rename and revoke passkeys) and the loaded FIDO metadata: each change with
/// its CSRF token and audit event, each refusal a negative test.
mod users_pages {
    use super::*;
    use std::sync::Arc;
    use tessera_testkit::{MdsEntry, SoftAuthenticator, TestCa};

    both_stores!(
        users_are_listed_paged_and_found_by_username_or_display_name,
        user_page_shows_the_passkeys_and_their_model,
        disabled_user_cannot_sign_in_until_enabled_again,
        user_is_deleted_after_confirmation_and_only_with_the_csrf_token,
        passkey_rename_shows_its_error_next_to_the_field,
        passkey_rename_from_a_name_changed_meanwhile_shows_the_error_next_to_the_form,
        revoking_the_last_passkey_is_refused,
        another_tenants_admin_gets_404_and_a_read_only_admin_changes_nothing,
        fido_metadata_page_lists_and_filters_the_loaded_models,
    );

    /// The model the test metadata knows.
    const MODEL: [u8; 16] = [0x5e; 16];
    /// Another model, revoked.
    const OTHER: [u8; 16] = [0x0a, 0xb1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x77];

    /// A user of `tenant` with `passkeys` passkeys named `key 1`, `key 2`, ... (the first of model [`MODEL`], signed
    /// 7 times, used once), made as sign-up would.
    pub(super) async fn user_with_passkeys(
        app: &TestApp,
        tenant: &TenantId,
        username: &str,
        display_name: &str,
        passkeys: usize,
    ) -> UserId {
        let id = UserId::parse(&format!("u-{}", tessera_testkit::random_string(12))).expect("id");
        let now = app.clock.now();
        let user = User {
            tenant: tenant.clone(),
            id: id.clone(),
            username: username.into(),
            display_name: display_name.into(),
            email: None,
            email_verified: false,
            user_handle: tessera_testkit::random_bytes(16),
            created_at: now,
            disabled_at: None,
        };
        let credential = |n: usize| Credential {
            tenant: tenant.clone(),
            credential_id: tessera_testkit::random_bytes(16),
            user_id: id.clone(),
            public_key: vec![1, 2, 3],
            alg: -7,
            sign_count: if n == 1 { 7 } else { 0 },
            uv_initialized: true,
            backup_eligible: true,
            backup_state: true,
            transports: vec!["internal".into()],
            aaguid: if n == 1 { MODEL } else { [0; 16] },
            attestation_format: "none".into(),
            attestation_trusted: false,
            nickname: format!("key {n}"),
            created_at: now,
            last_used_at: (n == 1).then_some(now),
        };
        let store = &app.state.provider.store;
        store
            .create_user_with_credential(&user, &credential(1))
            .await
            .expect("user");
        for n in 2..=passkeys {
            store.add_credential(&credential(n)).await.expect("passkey");
        }
        id
    }

    /// Loads FIDO metadata with [`MODEL`] ("Tessera Test Key", certified) and [`OTHER`] ("Other Key", revoked).
    fn load_metadata(app: &TestApp) {
        let ca = TestCa::new("MDS Root").expect("ca");
        let entries = [
            MdsEntry {
                aaguid: MODEL,
                description: "Tessera Test Key".into(),
                attestation_roots: vec![ca.root_der().to_vec()],
                status_reports: vec![("FIDO_CERTIFIED_L1".into(), "2025-01-01".into())],
            },
            MdsEntry {
                aaguid: OTHER,
                description: "Other Key".into(),
                attestation_roots: vec![ca.root_der().to_vec()],
                status_reports: vec![("REVOKED".into(), "2025-02-01".into())],
            },
        ];
        let jws = ca.mds_blob(3, "2099-01-01", &entries).expect("blob");
        let blob = tessera_webauthn::mds::MetadataBlob::from_jws(
            jws.as_bytes(),
            ca.root_der(),
            app.clock.now(),
        )
        .expect("verified");
        app.state
            .provider
            .attestation
            .replace(tessera_http::state::AttestationSettings {
                trust_anchors: Vec::new(),
                metadata: Some(Arc::new(blob)),
            });
    }

    fn user_path(user: &UserId) -> String {
        format!("/admin/authenticator/acme/users/{user}")
    }

    async fn text(app: &TestApp, path: &str, cookie: &str) -> (u16, String) {
        let response = get(app, path, cookie).await;
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    async fn audit_events(app: &TestApp, action: &str) -> Vec<AuditEvent> {
        app.state
            .admin_store
            .list_audit_events(
                &tessera_store::AuditFilter {
                    action_prefix: Some(action.into()),
                    ..Default::default()
                },
                None,
                10,
            )
            .await
            .expect("audit")
            .events
    }

    /// The `version` field of the form posting to `action` on `html` (form-encoded for a body).
    pub(super) fn version_for(html: &str, action: &str) -> String {
        let form = html
            .split(&format!("action=\"{action}\""))
            .nth(1)
            .unwrap_or_else(|| panic!("a form posting to {action}"));
        let marker = "name=\"version\" value=\"";
        let start = form.find(marker).expect("its version") + marker.len();
        let version = form[start..].split('"').next().unwrap_or_default();
        url::form_urlencoded::byte_serialize(version.as_bytes()).collect()
    }

    fn passkey_hrefs(html: &str) -> Vec<String> {
        html.split("href=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .filter(|href| href.contains("/passkeys/"))
            .map(str::to_owned)
            .collect()
    }

    async fn users_are_listed_paged_and_found_by_username_or_display_name(backend: Backend) {
        let Some((app, _)) = app(backend).await else {
            return;
        };
        let acme = app.tenant.clone();
        for n in 0..55 {
            user_with_passkeys(
                &app,
                &acme,
                &format!("user{n:02}"),
                &format!("Person {n}"),
                1,
            )
            .await;
        }
        let erin = user_with_passkeys(&app, &acme, "erin", "Zoë Example", 1).await;
        let cookie = portal_session(&app, "root", "global_admin", &[]).await;
        let (status, tenant_page) = text(&app, "/admin/authenticator/acme/", &cookie).await;
        assert_eq!(status, 200);
        assert!(tenant_page.contains("href=\"/admin/authenticator/acme/users\""));
        assert!(tenant_page.contains("href=\"/admin/authenticator/acme/fido-metadata\""));

        let (status, first) = text(&app, "/admin/authenticator/acme/users", &cookie).await;
        assert_eq!(status, 200);
        assert_eq!(first.matches("<tr>").count() - 1, 50, "50 per page");
        let marker = "id=\"next-page\" href=\"";
        let start = first.find(marker).expect("a next page") + marker.len();
        let next = first[start..]
            .split('"')
            .next()
            .expect("href")
            .replace("&amp;", "&")
            .replace("&#38;", "&");
        assert!(next.contains("after="), "{next}");
        let (status, second) = text(&app, &next, &cookie).await;
        assert_eq!(status, 200);
        assert_eq!(
            second.matches("<tr>").count() - 1,
            6,
            "the other six: {next}"
        );
        assert!(second.contains("id=\"first-page\""));
        assert!(!second.contains("id=\"next-page\""));

        let (_, by_display_name) =
            text(&app, "/admin/authenticator/acme/users?q=zo%C3%AB", &cookie).await;
        assert!(
            by_display_name.contains(&user_path(&erin)),
            "{by_display_name}"
        );
        assert_eq!(by_display_name.matches("<tr>").count() - 1, 1);
        let (_, by_username) = text(&app, "/admin/authenticator/acme/users?q=ERI", &cookie).await;
        assert!(by_username.contains(&user_path(&erin)));
        assert_eq!(by_username.matches("<tr>").count() - 1, 1);
        let (_, prefix_only) =
            text(&app, "/admin/authenticator/acme/users?q=example", &cookie).await;
        assert!(
            prefix_only.contains("No user matches."),
            "the start, not a word inside"
        );
        let (_, persons) = text(&app, "/admin/authenticator/acme/users?q=person+5", &cookie).await;
        assert_eq!(persons.matches("<tr>").count() - 1, 6, "Person 5, 50..54");
        app.stop().await;
    }

    async fn user_page_shows_the_passkeys_and_their_model(backend: Backend) {
        let Some((app, _)) = app(backend).await else {
            return;
        };
        load_metadata(&app);
        let ann = user_with_passkeys(&app, &app.tenant, "ann", "Ann Example", 2).await;
        let cookie = portal_session(&app, "root", "global_admin", &[]).await;
        let (status, page) = text(&app, &user_path(&ann), &cookie).await;
        assert_eq!(status, 200);
        for expected in [
            "ann",
            "Ann Example",
            "Enabled",
            "key 1",
            "key 2",
            "Tessera Test Key",
            &tessera_testkit::ca::uuid(&MODEL),
            "<td data-label=\"Sign count\">7</td>",
            "Never",
            "Not told (zero AAGUID)",
            "id=\"disable-user\"",
            "id=\"delete-user\"",
            "id=\"revoke-passkey-1\"",
            "id=\"rename-passkey-2\"",
        ] {
            assert!(page.contains(expected), "{expected}: {page}");
        }
        assert_eq!(
            get(&app, "/admin/authenticator/acme/users/u-nobody", &cookie)
                .await
                .status(),
            404
        );
        app.stop().await;
    }

    /// The acme tenant's JSON call of its pages' script (same origin, CSRF header): status and body.
    async fn acme_call(
        app: &TestApp,
        jar: &mut Jar,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let csrf = jar.get(&tessera_http::csrf::cookie_name(&app.tenant));
        let response = app
            .http
            .post(format!("{}{path}", app.base))
            .header("origin", app.base.clone())
            .header("cookie", jar.header())
            .header(tessera_http::csrf::CSRF_HEADER, csrf)
            .json(&body)
            .send()
            .await
            .expect("call");
        jar.absorb(&response);
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// An authorization request's pending authorization (`authz`), from the 303 to the sign-in page.
    async fn pending_authorization(app: &TestApp, prompt_login: bool) -> String {
        let mut params = app.params(&app.basic, tessera_testkit::app::Mode::Query);
        if prompt_login {
            params.push(("prompt".into(), "login".into()));
        }
        let response = app.authorize(&params, None).await;
        assert_eq!(response.status(), 303);
        location(&response)
            .split("authz=")
            .nth(1)
            .expect("authz")
            .to_owned()
    }

    /// `username` signs up at acme through its pages with a new passkey.
    async fn sign_up(app: &TestApp, username: &str) -> SoftAuthenticator {
        let mut jar = Jar::default();
        let authz = pending_authorization(app, false).await;
        let page = jar.open(app, &format!("/acme/signup?authz={authz}")).await;
        assert_eq!(page.status(), 200);
        let (status, options) = acme_call(
            app,
            &mut jar,
            "/acme/webauthn/register/options",
            serde_json::json!({"username": username, "display_name": username, "authz": authz}),
        )
        .await;
        assert_eq!(status, 200, "{options}");
        let authenticator = SoftAuthenticator::new();
        let credential = authenticator
            .register(&options["publicKey"].to_string(), &app.base)
            .expect("a passkey");
        let credential: serde_json::Value = serde_json::from_str(&credential).expect("json");
        let (status, done) = acme_call(
            app,
            &mut jar,
            "/acme/webauthn/register/verify",
            serde_json::json!({"ceremony": options["ceremony"], "credential": credential}),
        )
        .await;
        assert_eq!(status, 200, "{done}");
        authenticator
    }

    /// `username` signs in at acme with their passkey: the sign-in's last status (200: signed in; 0: the options
    /// offered none of the authenticator's passkeys).
    async fn sign_in(app: &TestApp, authenticator: &SoftAuthenticator, username: &str) -> u16 {
        let mut jar = Jar::default();
        let authz = pending_authorization(app, true).await;
        let page = jar.open(app, &format!("/acme/login?authz={authz}")).await;
        assert_eq!(page.status(), 200);
        let (status, options) = acme_call(
            app,
            &mut jar,
            "/acme/webauthn/login/options",
            serde_json::json!({"username": username, "authz": authz}),
        )
        .await;
        if status != 200 {
            return status;
        }
        let Ok(assertion) =
            authenticator.authenticate(&options["publicKey"].to_string(), &app.base)
        else {
            return 0;
        };
        let assertion: serde_json::Value = serde_json::from_str(&assertion).expect("json");
        acme_call(
            app,
            &mut jar,
            "/acme/webauthn/login/verify",
            serde_json::json!({"ceremony": options["ceremony"], "credential": assertion}),
        )
        .await
        .0
    }

    async fn disabled_user_cannot_sign_in_until_enabled_again(backend: Backend) {
        let Some((app, _)) = app(backend).await else {
            return;
        };
        let authenticator = sign_up(&app, "erin").await;
        assert_eq!(sign_in(&app, &authenticator, "erin").await, 200);
        let erin = app
            .state
            .provider
            .store
            .search_users(&app.tenant, "erin", None, None, 1)
            .await
            .expect("search")[0]
            .id
            .clone();
        let cookie = portal_session(&app, "root", "global_admin", &[]).await;
        let (cookies, token) = form_of(&app, &user_path(&erin), &cookie).await;
        let (_, page) = text(&app, &user_path(&erin), &cookie).await;
        let disable = format!("{}/disable", user_path(&erin));
        let version = version_for(&page, &disable);

        let disabled = post(
            &app,
            &disable,
            &cookies,
            format!("csrf_token={token}&version={version}"),
        )
        .await;
        assert_eq!(disabled.status(), 303);
        assert_eq!(
            location(&disabled),
            format!("{}?done=disabled", user_path(&erin))
        );
        assert_ne!(
            sign_in(&app, &authenticator, "erin").await,
            200,
            "a disabled user cannot sign in"
        );
        let (_, page) = text(&app, &user_path(&erin), &cookie).await;
        assert!(page.contains("Disabled since"), "{page}");
        assert!(page.contains("id=\"enable-user\""));
        let enable = format!("{}/enable", user_path(&erin));
        let version = version_for(&page, &enable);
        let events = audit_events(&app, "user.disable").await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].actor, "admin:root");
        assert_eq!(events[0].tenant.as_deref(), Some("acme"));
        assert!(
            events[0]
                .after
                .as_ref()
                .is_some_and(|a| a["disabled_at"].is_string())
        );

        let enabled = post(
            &app,
            &enable,
            &cookies,
            format!("csrf_token={token}&version={version}"),
        )
        .await;
        assert_eq!(enabled.status(), 303);
        assert_eq!(
            sign_in(&app, &authenticator, "erin").await,
            200,
            "enabled again, the passkey works"
        );
        assert_eq!(audit_events(&app, "user.enable").await.len(), 1);
        app.stop().await;
    }

    async fn user_is_deleted_after_confirmation_and_only_with_the_csrf_token(backend: Backend) {
        let Some((app, _)) = app(backend).await else {
            return;
        };
        let bob = user_with_passkeys(&app, &app.tenant, "bob", "Bob Example", 2).await;
        let cookie = portal_session(&app, "root", "global_admin", &[]).await;
        let confirm = format!("{}/delete", user_path(&bob));
        let (status, page) = text(&app, &confirm, &cookie).await;
        assert_eq!(status, 200);
        assert!(page.contains("Delete the user bob?"), "{page}");
        assert!(page.contains("id=\"delete-confirm\""));
        let (cookies, token) = form_of(&app, &confirm, &cookie).await;
        let missing = post(&app, &confirm, &cookies, String::new()).await;
        assert_eq!(missing.status(), 403, "no CSRF token");
        let wrong = post(
            &app,
            &confirm,
            &cookies,
            format!("csrf_token={}", "A".repeat(43)),
        )
        .await;
        assert_eq!(wrong.status(), 403, "a token that is not the cookie's");
        let store = &app.state.provider.store;
        assert!(
            store
                .get_user(&app.tenant, &bob)
                .await
                .expect("store")
                .is_some(),
            "nothing deleted"
        );
        assert!(audit_events(&app, "user.delete").await.is_empty());

        let version = version_for(&page, &confirm);
        let deleted = post(
            &app,
            &confirm,
            &cookies,
            format!("csrf_token={token}&version={version}"),
        )
        .await;
        assert_eq!(deleted.status(), 303);
        assert_eq!(
            location(&deleted),
            "/admin/authenticator/acme/users?done=deleted"
        );
        assert!(
            store
                .get_user(&app.tenant, &bob)
                .await
                .expect("store")
                .is_none()
        );
        assert!(
            store
                .list_credentials(&app.tenant, &bob)
                .await
                .expect("store")
                .is_empty(),
            "their passkeys are gone"
        );
        assert_eq!(get(&app, &user_path(&bob), &cookie).await.status(), 404);
        let events = audit_events(&app, "user.delete").await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].target, format!("tenants/acme/users/{bob}"));
        assert!(
            events[0]
                .before
                .as_ref()
                .is_some_and(|b| b["username"] == "bob")
        );
        assert!(events[0].after.is_none());
        let again = post(&app, &confirm, &cookies, format!("csrf_token={token}")).await;
        assert_eq!(again.status(), 404, "gone");
        app.stop().await;
    }

    async fn passkey_rename_shows_its_error_next_to_the_field(backend: Backend) {
        let Some((app, _)) = app(backend).await else {
            return;
        };
        let ann = user_with_passkeys(&app, &app.tenant, "ann", "Ann Example", 1).await;
        let cookie = portal_session(&app, "root", "global_admin", &[]).await;
        let (_, page) = text(&app, &user_path(&ann), &cookie).await;
        let rename = passkey_hrefs(&page)
            .into_iter()
            .next()
            .expect("rename link");
        let (cookies, token) = form_of(&app, &rename, &cookie).await;
        for bad in ["", "+++", &"x".repeat(65)] {
            let refused = post(
                &app,
                &rename,
                &cookies,
                format!("csrf_token={token}&version=key+1&nickname={bad}"),
            )
            .await;
            assert_eq!(refused.status(), 422, "{bad:?}");
            let body = refused.text().await.expect("body");
            assert!(body.contains("id=\"error-nickname\""), "{body}");
            assert!(body.contains("1 to 64 printable characters"), "{body}");
            assert!(body.contains("aria-describedby=\"hint-nickname error-nickname\""));
        }
        let store = &app.state.provider.store;
        let names =
            |list: Vec<Credential>| list.into_iter().map(|c| c.nickname).collect::<Vec<_>>();
        assert_eq!(
            names(
                store
                    .list_credentials(&app.tenant, &ann)
                    .await
                    .expect("store")
            ),
            ["key 1"],
            "nothing renamed"
        );
        let missing = post(&app, &rename, &cookies, "nickname=Work+laptop".into()).await;
        assert_eq!(missing.status(), 403, "no CSRF token");
        let renamed = post(
            &app,
            &rename,
            &cookies,
            format!("csrf_token={token}&version=key+1&nickname=+Work+laptop+"),
        )
        .await;
        assert_eq!(renamed.status(), 303);
        assert_eq!(
            names(
                store
                    .list_credentials(&app.tenant, &ann)
                    .await
                    .expect("store")
            ),
            ["Work laptop"]
        );
        let events = audit_events(&app, "user.passkey.rename").await;
        assert_eq!(events.len(), 1);
        assert!(
            events[0]
                .before
                .as_ref()
                .is_some_and(|b| b["nickname"] == "key 1")
        );
        assert!(
            events[0]
                .after
                .as_ref()
                .is_some_and(|a| a["nickname"] == "Work laptop")
        );
        app.stop().await;
    }

    async fn passkey_rename_from_a_name_changed_meanwhile_shows_the_error_next_to_the_form(
        backend: Backend,
    ) {
        let Some((app, _)) = app(backend).await else {
            return;
        };
        let ann = user_with_passkeys(&app, &app.tenant, "ann", "Ann Example", 1).await;
        let cookie = portal_session(&app, "root", "global_admin", &[]).await;
        let (_, page) = text(&app, &user_path(&ann), &cookie).await;
        let rename = passkey_hrefs(&page)
            .into_iter()
            .next()
            .expect("rename link");
        // The form carries the name it was opened with.
        let (_, form) = text(&app, &rename, &cookie).await;
        assert!(
            form.contains("name=\"version\"") && form.contains("value=\"key 1\""),
            "{form}"
        );
        let (cookies, token) = form_of(&app, &rename, &cookie).await;
        // Another admin renames it meanwhile.
        let store = &app.state.provider.store;
        let credential = store
            .list_credentials(&app.tenant, &ann)
            .await
            .expect("store")
            .remove(0);
        store
            .rename_credential(&app.tenant, &ann, &credential.credential_id, "Phone", None)
            .await
            .expect("rename");
        let refused = post(
            &app,
            &rename,
            &cookies,
            format!("csrf_token={token}&version=key+1&nickname=Laptop"),
        )
        .await;
        assert_eq!(refused.status(), 422);
        let body = refused.text().await.expect("body");
        assert!(body.contains("id=\"form-error\""), "{body}");
        assert!(
            body.contains("changed this passkey since you opened this page"),
            "{body}"
        );
        assert!(
            body.contains("value=\"Phone\""),
            "the form shows the current name: {body}"
        );
        let names: Vec<String> = store
            .list_credentials(&app.tenant, &ann)
            .await
            .expect("store")
            .into_iter()
            .map(|c| c.nickname)
            .collect();
        assert_eq!(names, ["Phone"], "the other admin's name is kept");
        assert!(audit_events(&app, "user.passkey.rename").await.is_empty());
        // From the current name, the save goes through.
        let saved = post(
            &app,
            &rename,
            &cookies,
            format!("csrf_token={token}&version=Phone&nickname=Laptop"),
        )
        .await;
        assert_eq!(saved.status(), 303);
        app.stop().await;
    }

    async fn revoking_the_last_passkey_is_refused(backend: Backend) {
        let Some((app, _)) = app(backend).await else {
            return;
        };
        let ann = user_with_passkeys(&app, &app.tenant, "ann", "Ann Example", 2).await;
        let cookie = portal_session(&app, "root", "global_admin", &[]).await;
        let (cookies, token) = form_of(&app, &user_path(&ann), &cookie).await;
        let (_, page) = text(&app, &user_path(&ann), &cookie).await;
        let hrefs = passkey_hrefs(&page);
        assert_eq!(hrefs.len(), 2, "{page}");
        let first = format!("{}/revoke", hrefs[0]);
        let version = version_for(&page, &first);
        let second = format!("{}/revoke", hrefs[1]);
        // The page now offers no revoke form for the only passkey: post the one it showed before.
        let second_version = version_for(&page, &second);
        let revoked = post(
            &app,
            &first,
            &cookies,
            format!("csrf_token={token}&version={version}"),
        )
        .await;
        assert_eq!(revoked.status(), 303);
        assert_eq!(
            location(&revoked),
            format!("{}?done=revoked", user_path(&ann))
        );
        let (_, page) = text(&app, &user_path(&ann), &cookie).await;
        assert!(
            page.contains("The only passkey cannot be revoked."),
            "{page}"
        );
        let last = post(
            &app,
            &second,
            &cookies,
            format!("csrf_token={token}&version={second_version}"),
        )
        .await;
        assert_eq!(last.status(), 409, "the API's answer too");
        let body = last.text().await.expect("body");
        assert!(body.contains("This passkey cannot be revoked"), "{body}");
        assert!(body.contains("only passkey"), "{body}");
        let left = app
            .state
            .provider
            .store
            .list_credentials(&app.tenant, &ann)
            .await
            .expect("store");
        assert_eq!(left.len(), 1, "the last passkey stays");
        assert!(
            hrefs[1].ends_with(&format!("/passkeys/{}", B64.encode(&left[0].credential_id))),
            "the one not revoked"
        );
        assert_eq!(audit_events(&app, "user.passkey.revoke").await.len(), 1);
        app.stop().await;
    }

    async fn another_tenants_admin_gets_404_and_a_read_only_admin_changes_nothing(
        backend: Backend,
    ) {
        let Some((app, _)) = app(backend).await else {
            return;
        };
        let store = app.state.provider.store.as_ref();
        let globex = TenantId::parse("globex").expect("id");
        tessera_service::tenants::create_tenant(
            store,
            &app.state.provider.master_key,
            tessera_service::tenants::NewTenant::parse(
                globex.clone(),
                "localhost",
                std::slice::from_ref(&app.base),
                None,
            )
            .expect("new tenant"),
            app.clock.now(),
        )
        .await
        .expect("tenant");
        let gus = user_with_passkeys(&app, &globex, "gus", "Gus Example", 2).await;
        let ann = user_with_passkeys(&app, &app.tenant, "ann", "Ann Example", 2).await;
        let theirs = format!("/admin/authenticator/globex/users/{gus}");

        let admin = portal_session(&app, "acme-admin", "tenant_admin", &["acme"]).await;
        assert_eq!(
            get(&app, "/admin/authenticator/acme/users", &admin)
                .await
                .status(),
            200
        );
        let (cookies, token) = form_of(&app, &user_path(&ann), &admin).await;
        for path in [
            "/admin/authenticator/globex/users".to_owned(),
            "/admin/authenticator/globex/users?q=gus".to_owned(),
            theirs.clone(),
            format!("{theirs}/delete"),
            "/admin/authenticator/globex/fido-metadata".to_owned(),
        ] {
            assert_eq!(get(&app, &path, &admin).await.status(), 404, "{path}");
        }
        for action in ["disable", "delete"] {
            let refused = post(
                &app,
                &format!("{theirs}/{action}"),
                &cookies,
                format!("csrf_token={token}"),
            )
            .await;
            assert_eq!(refused.status(), 404, "{action}");
        }
        let gus_now = store
            .get_user(&globex, &gus)
            .await
            .expect("store")
            .expect("still there");
        assert!(gus_now.disabled_at.is_none(), "not disabled");

        let reader = portal_session(&app, "reader", "read_only", &["acme"]).await;
        let (status, page) = text(&app, &user_path(&ann), &reader).await;
        assert_eq!(status, 200);
        for button in [
            "disable-user",
            "delete-user",
            "revoke-passkey-1",
            "rename-passkey-1",
        ] {
            assert!(!page.contains(&format!("id=\"{button}\"")), "{button}");
        }
        assert!(page.contains("key 1"), "the passkeys are shown");
        assert_eq!(
            get(&app, &format!("{}/delete", user_path(&ann)), &reader)
                .await
                .status(),
            403
        );
        let (cookies, token) = form_of(&app, &user_path(&ann), &reader).await;
        let hrefs = passkey_hrefs(&page);
        assert!(hrefs.is_empty(), "no rename link for a reader");
        let passkey = B64.encode(
            &store
                .list_credentials(&app.tenant, &ann)
                .await
                .expect("store")[0]
                .credential_id,
        );
        for path in [
            format!("{}/disable", user_path(&ann)),
            format!("{}/delete", user_path(&ann)),
            format!("{}/passkeys/{passkey}/revoke", user_path(&ann)),
        ] {
            let refused = post(&app, &path, &cookies, format!("csrf_token={token}")).await;
            assert_eq!(refused.status(), 403, "{path}");
        }
        let renamed = post(
            &app,
            &format!("{}/passkeys/{passkey}", user_path(&ann)),
            &cookies,
            format!("csrf_token={token}&nickname=mine"),
        )
        .await;
        assert_eq!(renamed.status(), 403);
        let ann_now = store
            .get_user(&app.tenant, &ann)
            .await
            .expect("store")
            .expect("kept");
        assert!(ann_now.disabled_at.is_none());
        assert_eq!(
            store
                .list_credentials(&app.tenant, &ann)
                .await
                .expect("store")
                .len(),
            2,
            "nothing revoked"
        );
        assert!(audit_events(&app, "user.").await.is_empty());
        app.stop().await;
    }

    async fn fido_metadata_page_lists_and_filters_the_loaded_models(backend: Backend) {
        let Some((app, _)) = app(backend).await else {
            return;
        };
        let cookie = portal_session(&app, "root", "global_admin", &[]).await;
        let path = "/admin/authenticator/acme/fido-metadata";
        let (status, none) = text(&app, path, &cookie).await;
        assert_eq!(status, 200);
        assert!(none.contains("No FIDO metadata is loaded"), "{none}");
        load_metadata(&app);
        let (status, all) = text(&app, path, &cookie).await;
        assert_eq!(status, 200);
        let model = tessera_testkit::ca::uuid(&MODEL);
        let other = tessera_testkit::ca::uuid(&OTHER);
        for expected in [
            "Tessera Test Key",
            "Other Key",
            "FIDO_CERTIFIED_L1",
            "REVOKED",
            &model,
            &other,
            "BLOB number 3",
        ] {
            assert!(all.contains(expected), "{expected}: {all}");
        }
        let (_, by_description) = text(&app, &format!("{path}?q=tessera+test"), &cookie).await;
        assert!(by_description.contains("Tessera Test Key"));
        assert!(!by_description.contains("Other Key"));
        let (_, by_aaguid) = text(
            &app,
            &format!("{path}?q={}", &other[..13].to_uppercase()),
            &cookie,
        )
        .await;
        assert!(by_aaguid.contains("Other Key"), "{by_aaguid}");
        assert!(!by_aaguid.contains("Tessera Test Key"));
        let (_, undashed) = text(&app, &format!("{path}?q=0ab10000"), &cookie).await;
        assert!(undashed.contains("Other Key"));
        let (_, nothing) = text(&app, &format!("{path}?q=no+such+model"), &cookie).await;
        assert!(nothing.contains("No authenticator model matches."));
        app.stop().await;
    }
}
