//! The passkey pages of the real application (`tessera_testkit::spawn_app`: port 0, SQLite in a temp dir, public URL
//! `http://localhost:8080`), driven over HTTP with the testkit's software authenticators and a clock the tests
//! control.
//!
//! Tests are named after the rule they check.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tessera_core::{FixedClock, TenantId};
use tessera_http::{AppState, SecuritySettings};
use tessera_service::clients;
use tessera_service::tenants as ops;
use tessera_testkit::{
    AppOptions, Credential, MaliciousAuthenticator, Overrides, SignCounter, SoftAuthenticator,
    TestApp, spawn_app,
};

const ORIGIN: &str = "http://localhost:8080";
const TENANT: &str = "mytenant";
const SESSION_COOKIE: &str = "__Host-tessera-mytenant";
const CSRF_COOKIE: &str = "__Host-tessera-csrf-mytenant";

fn start_time() -> time::OffsetDateTime {
    time::macros::datetime!(2026-06-01 12:00 UTC)
}

struct App {
    /// The running application.
    app: TestApp,
    state: AppState,
    clock: Arc<FixedClock>,
    tenant: TenantId,
}

/// One browser: its cookies and the CSRF token of the last page it loaded.
#[derive(Default, Clone)]
struct Browser {
    cookies: HashMap<String, String>,
    csrf: String,
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect()
    }

    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

/// The options of every app here: tenant `mytenant` on `http://localhost:8080`, the clock at [`start_time`].
fn options(security: SecuritySettings) -> AppOptions {
    AppOptions {
        tenant: TENANT.into(),
        tenant_display_name: Some("My Tenant".into()),
        public_url: Some(ORIGIN.into()),
        start: Some(start_time()),
        security,
        ..AppOptions::default()
    }
}

async fn app_with(options: AppOptions) -> App {
    let app = spawn_app(options)
        .await
        .unwrap_or_else(|| panic!("sqlite app"));
    App {
        state: app.state.clone(),
        clock: app.clock.clone(),
        tenant: app.tenant.clone(),
        app,
    }
}

async fn app() -> App {
    app_with(options(SecuritySettings::default())).await
}

impl App {
    async fn send(&self, browser: &mut Browser, request: Request<Body>) -> Reply {
        let (parts, body) = request.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut outgoing = self
            .app
            .http
            .request(parts.method, self.app.socket_url(path))
            .body(body.to_vec());
        for (name, value) in &parts.headers {
            outgoing = outgoing.header(name, value);
        }
        if !parts.headers.contains_key(axum::http::header::HOST) {
            // As a browser at the public URL would: the pages refuse an address that is not the tenant's origin.
            outgoing = outgoing.header(axum::http::header::HOST, self.app.public_host());
        }
        let response = outgoing.send().await.unwrap_or_else(|e| panic!("{e}"));
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap_or_default();
        let reply = Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        for cookie in reply.set_cookies() {
            let first = cookie.split(';').next().unwrap_or_default();
            if let Some((name, value)) = first.split_once('=') {
                if value.is_empty() || cookie.contains("Max-Age=0") {
                    browser.cookies.remove(name);
                } else {
                    browser.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        if let Some(token) = meta_csrf(&reply.body) {
            browser.csrf = token;
        } else if reply.status.is_success()
            && reply.body.contains("\"next\"")
            && let Some(token) = reply
                .set_cookies()
                .iter()
                .find_map(|c| c.strip_prefix(&format!("{CSRF_COOKIE}=")))
        {
            // A sign-in or sign-up hands out a new CSRF token; the page the script goes to next embeds it.
            browser.csrf = token.split(';').next().unwrap_or_default().to_owned();
        }
        reply
    }

    fn cookie_header(browser: &Browser) -> String {
        browser
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn get(&self, browser: &mut Browser, path: &str) -> Reply {
        let request = Request::get(path)
            .header(header::COOKIE, Self::cookie_header(browser))
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        self.send(browser, request).await
    }

    async fn post_json_from(
        &self,
        browser: &mut Browser,
        path: &str,
        body: &Value,
        origin: Option<&str>,
    ) -> Reply {
        let mut request = Request::post(path)
            .header(header::COOKIE, Self::cookie_header(browser))
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-csrf-token", browser.csrf.clone());
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        let request = request
            .body(Body::from(body.to_string()))
            .unwrap_or_else(|e| panic!("{e}"));
        self.send(browser, request).await
    }

    async fn post_json(&self, browser: &mut Browser, path: &str, body: &Value) -> Reply {
        self.post_json_from(browser, path, body, Some(ORIGIN)).await
    }

    async fn post_form(&self, browser: &mut Browser, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let request = Request::post(path)
            .header(header::COOKIE, Self::cookie_header(browser))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, ORIGIN)
            .body(Body::from(body))
            .unwrap_or_else(|e| panic!("{e}"));
        self.send(browser, request).await
    }

    /// Loads the sign-up page and registers `username` with `authenticator`; returns the verify reply.
    async fn sign_up(
        &self,
        browser: &mut Browser,
        username: &str,
        authenticator: &MaliciousAuthenticator,
    ) -> (Reply, Credential) {
        let page = self.get(browser, "/mytenant/signup").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let options = self
            .post_json(
                browser,
                "/mytenant/webauthn/register/options",
                &json!({"username": username, "display_name": "Test User", "email": "t@example.com"}),
            )
            .await;
        assert_eq!(options.status, StatusCode::OK, "{}", options.body);
        let options = options.json();
        let (response, credential) = authenticator
            .register(&options["publicKey"].to_string(), ORIGIN)
            .unwrap_or_else(|e| panic!("{e}"));
        let verify = self
            .post_json(
                browser,
                "/mytenant/webauthn/register/verify",
                &json!({"ceremony": options["ceremony"], "credential": parse(&response)}),
            )
            .await;
        (verify, credential)
    }

    /// Asks for sign-in options (`body`), answers them with `credential`; returns the options and the verify reply.
    async fn sign_in(
        &self,
        browser: &mut Browser,
        body: Value,
        authenticator: &MaliciousAuthenticator,
        credential: &Credential,
    ) -> (Value, Value, Reply) {
        let options = self
            .post_json(browser, "/mytenant/webauthn/login/options", &body)
            .await;
        assert_eq!(options.status, StatusCode::OK, "{}", options.body);
        let options = options.json();
        let response = authenticator
            .authenticate(&options["publicKey"].to_string(), ORIGIN, credential)
            .unwrap_or_else(|e| panic!("{e}"));
        let response = parse(&response);
        let verify = self
            .post_json(
                browser,
                "/mytenant/webauthn/login/verify",
                &json!({"ceremony": options["ceremony"], "credential": response}),
            )
            .await;
        (options, response, verify)
    }

    async fn user_count(&self, username: &str) -> bool {
        self.state
            .provider
            .store
            .find_user_by_username(&self.tenant, username)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_some()
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}"))
}

fn meta_csrf(html: &str) -> Option<String> {
    let start =
        html.find("name=\"csrf-token\" content=\"")? + "name=\"csrf-token\" content=\"".len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned()).filter(|t| !t.is_empty())
}

fn credential_ids_in(html: &str) -> Vec<String> {
    html.split("data-credential-id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

// ---- happy paths ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn sign_up_then_sign_in_by_username_and_without_one() {
    let app = app().await;
    let mut browser = Browser::default();
    let authenticator = MaliciousAuthenticator::new();
    let (verify, credential) = app.sign_up(&mut browser, "alice", &authenticator).await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
    assert_eq!(verify.json()["next"], "/mytenant/account");
    assert!(browser.cookies.contains_key(SESSION_COOKIE));

    let account = app.get(&mut browser, "/mytenant/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.body.contains("alice"));
    assert_eq!(credential_ids_in(&account.body).len(), 1);

    // Sign out, then sign in username-first.
    let csrf = browser.csrf.clone();
    let out = app
        .post_form(&mut browser, "/mytenant/signout", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(!browser.cookies.contains_key(SESSION_COOKIE));
    let gone = app.get(&mut browser, "/mytenant/account").await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);

    app.get(&mut browser, "/mytenant/login").await;
    let (options, _, verify) = app
        .sign_in(
            &mut browser,
            json!({"username": "ALICE"}),
            &authenticator,
            &credential,
        )
        .await;
    assert_eq!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(options["publicKey"]["userVerification"], "required");
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
    assert_eq!(verify.json()["next"], "/mytenant/account");

    // Discoverable: no username, no allowCredentials.
    let (options, _, verify) = app
        .sign_in(&mut browser, json!({}), &authenticator, &credential)
        .await;
    assert!(options["publicKey"].get("allowCredentials").is_none());
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);

    // The session carries the ceremony's facts; oidc's single rule turns them into amr/acr. The soft
    // authenticator's attestation is not trusted, so its device-bound key is phishing-resistant but not `phrh`.
    let headers = cookie_headers(&browser);
    let session = tessera_http::session::current(&app.state.provider, &app.tenant, &headers)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no session"));
    let facts = tessera_http::session::authentication(&session);
    assert!(session.user_verified && !session.attestation_trusted);
    assert!(facts.amr().contains(&"mfa"));
    assert_eq!(facts.acr(), "phr");
    assert!(!session.sid.is_empty());
}

#[tokio::test]
async fn sign_up_and_discoverable_sign_in_with_the_passkey_crates_authenticator() {
    let app = app().await;
    let mut browser = Browser::default();
    app.get(&mut browser, "/mytenant/signup").await;
    let soft = SoftAuthenticator::new();
    let options = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/register/options",
            &json!({"username": "carol", "display_name": "Carol"}),
        )
        .await
        .json();
    let response = soft
        .register(&options["publicKey"].to_string(), ORIGIN)
        .unwrap_or_else(|e| panic!("{e}"));
    let verify = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/register/verify",
            &json!({"ceremony": options["ceremony"], "credential": parse(&response)}),
        )
        .await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);

    let mut other = Browser::default();
    app.get(&mut other, "/mytenant/login").await;
    let options = app
        .post_json(&mut other, "/mytenant/webauthn/login/options", &json!({}))
        .await
        .json();
    let response = soft
        .authenticate(&options["publicKey"].to_string(), ORIGIN)
        .unwrap_or_else(|e| panic!("{e}"));
    let verify = app
        .post_json(
            &mut other,
            "/mytenant/webauthn/login/verify",
            &json!({"ceremony": options["ceremony"], "credential": parse(&response)}),
        )
        .await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
    assert!(other.cookies.contains_key(SESSION_COOKIE));
}

fn cookie_headers(browser: &Browser) -> axum::http::HeaderMap {
    let mut headers = axum::http::HeaderMap::new();
    if let Ok(value) = App::cookie_header(browser).parse() {
        headers.insert(header::COOKIE, value);
    }
    headers
}

const REDIRECT_URI: &str = "https://rp.example/cb";

/// Registers a confidential client and starts an authorization request at the real authorization endpoint; returns
/// the sign-in page path it sends the browser to.
async fn start_authorization(app: &App, browser: &mut Browser, extra: &str) -> String {
    let redirect_uri = clients::parse_redirect_uri(REDIRECT_URI, clients::LocalhostHttp::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let new = clients::NewClient {
        tenant: app.tenant.clone(),
        redirect_uris: vec![redirect_uri],
        post_logout_redirect_uris: Vec::new(),
        kind: clients::ClientKind::ConfidentialBasic,
        id_token_alg: tessera_oidc::keys::SigningAlg::Es256,
        name: Some("Demo App".into()),
    };
    let (client, _) = clients::create_client(app.state.provider.store.as_ref(), new, start_time())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client.client_id.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid profile"),
            ("state", "st4te"),
            ("nonce", "n0nce"),
        ])
        .finish();
    let reply = app
        .get(browser, &format!("/mytenant/oidc/authorize?{query}{extra}"))
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let location = reply.header("location");
    assert!(location.starts_with("/mytenant/login?authz="), "{location}");
    location
}

#[tokio::test]
async fn sign_in_with_a_pending_authorization_resumes_it_at_the_authorization_endpoint() {
    let app = app().await;
    let mut browser = Browser::default();
    let authenticator = MaliciousAuthenticator::new();
    let (_, credential) = app.sign_up(&mut browser, "dave", &authenticator).await;

    let mut fresh = Browser::default();
    let login = start_authorization(&app, &mut fresh, "&login_hint=dave").await;
    let authz = login
        .trim_start_matches("/mytenant/login?authz=")
        .to_owned();
    let page = app.get(&mut fresh, &login).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Demo App"));
    assert!(page.body.contains("value=\"dave\""));
    assert!(page.body.contains(&format!(
        "href=\"/mytenant/oidc/authorize/resume?authz={authz}&#38;error=access_denied\""
    )));
    assert!(page.body.contains("autocomplete=\"username webauthn\""));
    assert!(
        page.body
            .contains(&format!("href=\"/mytenant/signup?authz={authz}\""))
    );

    let (_, _, verify) = app
        .sign_in(
            &mut fresh,
            json!({"username": "dave", "authz": authz}),
            &authenticator,
            &credential,
        )
        .await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
    let next = verify.json()["next"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        next,
        format!("/mytenant/oidc/authorize/resume?authz={authz}")
    );
    let resumed = app.get(&mut fresh, &next).await;
    assert_eq!(resumed.status, StatusCode::SEE_OTHER, "{}", resumed.body);
    let location = resumed.header("location");
    assert!(
        location.starts_with(&format!("{REDIRECT_URI}?")),
        "{location}"
    );
    assert!(
        location.contains("code=") && location.contains("state=st4te"),
        "{location}"
    );
}

#[tokio::test]
async fn cancel_link_returns_access_denied_to_the_client() {
    let app = app().await;
    let mut browser = Browser::default();
    let login = start_authorization(&app, &mut browser, "").await;
    let page = app.get(&mut browser, &login).await;
    let start = page
        .body
        .find("id=\"cancel-link\" href=\"")
        .map(|i| i + "id=\"cancel-link\" href=\"".len());
    let href = start
        .and_then(|s| page.body[s..].split('"').next())
        .unwrap_or_default()
        .replace("&#38;", "&");
    let reply = app.get(&mut browser, &href).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let location = reply.header("location");
    assert!(
        location.starts_with(REDIRECT_URI) && location.contains("error=access_denied"),
        "{location}"
    );
}

#[tokio::test]
async fn sign_up_with_a_pending_authorization_resumes_it() {
    let app = app().await;
    let mut browser = Browser::default();
    let login = start_authorization(&app, &mut browser, "").await;
    let authz = login
        .trim_start_matches("/mytenant/login?authz=")
        .to_owned();
    let page = app
        .get(&mut browser, &format!("/mytenant/signup?authz={authz}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let options = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/register/options",
            &json!({"username": "uma", "authz": authz}),
        )
        .await
        .json();
    let (response, _) = MaliciousAuthenticator::new()
        .register(&options["publicKey"].to_string(), ORIGIN)
        .unwrap_or_else(|e| panic!("{e}"));
    let verify = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/register/verify",
            &json!({"ceremony": options["ceremony"], "credential": parse(&response)}),
        )
        .await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
    assert_eq!(
        verify.json()["next"],
        format!("/mytenant/oidc/authorize/resume?authz={authz}")
    );
    let resumed = app
        .get(
            &mut browser,
            &format!("/mytenant/oidc/authorize/resume?authz={authz}"),
        )
        .await;
    assert_eq!(resumed.status, StatusCode::SEE_OTHER, "{}", resumed.body);
    assert!(resumed.header("location").starts_with(REDIRECT_URI));
    assert!(resumed.header("location").contains("code="));
}

#[tokio::test]
async fn expired_pending_authorization_shows_a_human_error_page() {
    let app = app().await;
    let mut browser = Browser::default();
    let page = app
        .get(&mut browser, "/mytenant/login?authz=nosuchrequest")
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("This sign-in request has expired"));
    assert!(!page.body.contains("StoreError"));
}

// ---- CSRF and origin --------------------------------------------------------------------------------------------

#[tokio::test]
async fn csrf_token_missing_is_refused_with_403() {
    let app = app().await;
    let mut browser = Browser::default();
    app.get(&mut browser, "/mytenant/login").await;
    browser.csrf.clear();
    let reply = app
        .post_json(&mut browser, "/mytenant/webauthn/login/options", &json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json()["error"], "csrf");
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Reload")
    );
}

#[tokio::test]
async fn csrf_token_not_matching_the_cookie_is_refused() {
    let app = app().await;
    let mut browser = Browser::default();
    app.get(&mut browser, "/mytenant/login").await;
    browser.csrf = "A".repeat(43);
    let reply = app
        .post_json(&mut browser, "/mytenant/webauthn/login/options", &json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn csrf_cookie_missing_is_refused_on_forms() {
    let app = app().await;
    let mut browser = Browser::default();
    let authenticator = MaliciousAuthenticator::new();
    app.sign_up(&mut browser, "erin", &authenticator).await;
    let token = browser.csrf.clone();
    browser.cookies.remove(CSRF_COOKIE);
    let reply = app
        .post_form(&mut browser, "/mytenant/signout", &[("csrf_token", &token)])
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.body.contains("Reload the page"));
    assert!(
        browser.cookies.contains_key(SESSION_COOKIE),
        "the session must survive a refused sign-out"
    );
}

#[tokio::test]
async fn post_from_a_foreign_origin_is_refused() {
    let app = app().await;
    let mut browser = Browser::default();
    app.get(&mut browser, "/mytenant/signup").await;
    let body = json!({"username": "mallory"});
    let foreign = app
        .post_json_from(
            &mut browser,
            "/mytenant/webauthn/register/options",
            &body,
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    let missing = app
        .post_json_from(
            &mut browser,
            "/mytenant/webauthn/register/options",
            &body,
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn ceremony_started_in_another_browser_is_refused() {
    let app = app().await;
    let mut alice = Browser::default();
    let authenticator = MaliciousAuthenticator::new();
    let (_, credential) = app.sign_up(&mut alice, "frank", &authenticator).await;
    let options = app
        .post_json(
            &mut alice,
            "/mytenant/webauthn/login/options",
            &json!({"username": "frank"}),
        )
        .await
        .json();
    let response = authenticator
        .authenticate(&options["publicKey"].to_string(), ORIGIN, &credential)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut attacker = Browser::default();
    app.get(&mut attacker, "/mytenant/login").await;
    let reply = app
        .post_json(
            &mut attacker,
            "/mytenant/webauthn/login/verify",
            &json!({"ceremony": options["ceremony"], "credential": parse(&response)}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(!attacker.cookies.contains_key(SESSION_COOKIE));
}

// ---- challenges -------------------------------------------------------------------------------------------------

#[tokio::test]
async fn replayed_challenge_is_refused() {
    let app = app().await;
    let mut browser = Browser::default();
    let authenticator = MaliciousAuthenticator {
        sign_counter: SignCounter::Zero,
        ..MaliciousAuthenticator::new()
    };
    let (_, credential) = app.sign_up(&mut browser, "grace", &authenticator).await;
    let (options, response, verify) = app
        .sign_in(
            &mut browser,
            json!({"username": "grace"}),
            &authenticator,
            &credential,
        )
        .await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
    let replay = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/login/verify",
            &json!({"ceremony": options["ceremony"], "credential": response}),
        )
        .await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(replay.json()["error"], "ceremony_expired");
}

#[tokio::test]
async fn expired_challenge_is_refused() {
    let app = app().await;
    let mut browser = Browser::default();
    let authenticator = MaliciousAuthenticator::new();
    let (_, credential) = app.sign_up(&mut browser, "heidi", &authenticator).await;
    let options = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/login/options",
            &json!({"username": "heidi"}),
        )
        .await
        .json();
    let response = authenticator
        .authenticate(&options["publicKey"].to_string(), ORIGIN, &credential)
        .unwrap_or_else(|e| panic!("{e}"));
    app.clock
        .advance(time::Duration::minutes(5) + time::Duration::seconds(1));
    let reply = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/login/verify",
            &json!({"ceremony": options["ceremony"], "credential": parse(&response)}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"], "ceremony_expired");
}

#[tokio::test]
async fn abandoned_sign_up_leaves_no_user() {
    let app = app().await;
    let mut browser = Browser::default();
    app.get(&mut browser, "/mytenant/signup").await;
    let options = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/register/options",
            &json!({"username": "ivan", "display_name": "Ivan"}),
        )
        .await;
    assert_eq!(options.status, StatusCode::OK);
    assert!(
        !app.user_count("ivan").await,
        "options alone must not create the user"
    );
    // A late answer after the ceremony expired creates nothing either.
    let options = options.json();
    let (response, _) = MaliciousAuthenticator::new()
        .register(&options["publicKey"].to_string(), ORIGIN)
        .unwrap_or_else(|e| panic!("{e}"));
    app.clock.advance(time::Duration::minutes(6));
    let late = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/register/verify",
            &json!({"ceremony": options["ceremony"], "credential": parse(&response)}),
        )
        .await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST);
    assert!(!app.user_count("ivan").await);
}

#[tokio::test]
async fn refused_registration_leaves_no_user() {
    let app = app().await;
    let mut browser = Browser::default();
    let authenticator = MaliciousAuthenticator::new().with_overrides(Overrides {
        origin: Some("https://evil.example".into()),
        ..Overrides::default()
    });
    let (verify, _) = app.sign_up(&mut browser, "judy", &authenticator).await;
    assert_eq!(verify.status, StatusCode::BAD_REQUEST);
    assert_eq!(verify.json()["rule"], "origin-not-allowed");
    assert!(
        verify.json()["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("This page was opened at an address that may not use your passkeys")
    );
    assert!(!app.user_count("judy").await);
}

#[tokio::test]
async fn taken_username_is_refused_at_sign_up() {
    let app = app().await;
    let mut browser = Browser::default();
    app.sign_up(&mut browser, "ken", &MaliciousAuthenticator::new())
        .await;
    let reply = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/register/options",
            &json!({"username": "KEN"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

// ---- WebAuthn refusals through the pages -------------------------------------------------------------------------

#[tokio::test]
async fn assertion_without_user_verification_is_refused() {
    let app = app().await;
    let mut browser = Browser::default();
    let honest = MaliciousAuthenticator::new();
    let (_, credential) = app.sign_up(&mut browser, "leo", &honest).await;
    let lazy = MaliciousAuthenticator::new().with_overrides(Overrides {
        flags: tessera_testkit::FlagOverrides {
            uv: Some(false),
            ..Default::default()
        },
        ..Overrides::default()
    });
    let mut other = Browser::default();
    app.get(&mut other, "/mytenant/login").await;
    let (_, _, verify) = app
        .sign_in(&mut other, json!({"username": "leo"}), &lazy, &credential)
        .await;
    assert_eq!(verify.status, StatusCode::BAD_REQUEST);
    assert!(!other.cookies.contains_key(SESSION_COOKIE));
}

#[tokio::test]
async fn regressed_sign_count_is_refused() {
    let app = app().await;
    let mut browser = Browser::default();
    let authenticator = MaliciousAuthenticator::new();
    let (_, credential) = app.sign_up(&mut browser, "mia", &authenticator).await;
    let (_, _, first) = app
        .sign_in(
            &mut browser,
            json!({"username": "mia"}),
            &authenticator,
            &credential,
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let (_, _, second) = app
        .sign_in(
            &mut browser,
            json!({"username": "mia"}),
            &authenticator,
            &credential,
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    let clone = MaliciousAuthenticator::new().with_overrides(Overrides {
        sign_count: Some(1),
        ..Overrides::default()
    });
    let (_, _, cloned) = app
        .sign_in(
            &mut browser,
            json!({"username": "mia"}),
            &clone,
            &credential,
        )
        .await;
    assert_eq!(cloned.status, StatusCode::BAD_REQUEST);
    assert_eq!(cloned.json()["rule"], "sign-count-regressed");
}

#[tokio::test]
async fn passkey_of_another_account_is_refused_in_username_first_sign_in() {
    let app = app().await;
    let mut browser = Browser::default();
    let authenticator = MaliciousAuthenticator::new();
    app.sign_up(&mut browser, "nina", &authenticator).await;
    let mut other = Browser::default();
    let (_, oscar) = app.sign_up(&mut other, "oscar", &authenticator).await;
    let (_, _, verify) = app
        .sign_in(
            &mut browser,
            json!({"username": "nina"}),
            &authenticator,
            &oscar,
        )
        .await;
    assert_eq!(verify.status, StatusCode::BAD_REQUEST);
}

// ---- account page -----------------------------------------------------------------------------------------------

#[tokio::test]
async fn last_passkey_cannot_be_deleted() {
    let app = app().await;
    let mut browser = Browser::default();
    let authenticator = MaliciousAuthenticator::new();
    app.sign_up(&mut browser, "pat", &authenticator).await;
    let account = app.get(&mut browser, "/mytenant/account").await;
    assert!(account.body.contains("id=\"last-passkey-note\""));
    let ids = credential_ids_in(&account.body);
    let csrf = browser.csrf.clone();
    let reply = app
        .post_form(
            &mut browser,
            "/mytenant/account/passkeys/delete",
            &[("csrf_token", &csrf), ("credential", &ids[0])],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert!(reply.body.contains("only passkey"));
    let account = app.get(&mut browser, "/mytenant/account").await;
    assert_eq!(credential_ids_in(&account.body).len(), 1);
}

#[tokio::test]
async fn adding_a_passkey_without_fresh_user_verification_is_refused() {
    let app = app().await;
    let mut browser = Browser::default();
    let authenticator = MaliciousAuthenticator::new();
    let (_, credential) = app.sign_up(&mut browser, "quinn", &authenticator).await;
    app.get(&mut browser, "/mytenant/account").await;
    app.clock.advance(time::Duration::minutes(6));
    let refused = app
        .post_json(&mut browser, "/mytenant/webauthn/add/options", &json!({}))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json()["error"], "reauth_required");

    // Re-verify with the existing passkey, then add, rename and delete the first one.
    let (_, _, reauth) = app
        .sign_in(
            &mut browser,
            json!({"reauth": true}),
            &authenticator,
            &credential,
        )
        .await;
    assert_eq!(reauth.status, StatusCode::OK, "{}", reauth.body);
    let options = app
        .post_json(&mut browser, "/mytenant/webauthn/add/options", &json!({}))
        .await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.body);
    let options = options.json();
    assert_eq!(
        options["publicKey"]["excludeCredentials"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let second = MaliciousAuthenticator::new();
    let (response, _) = second
        .register(&options["publicKey"].to_string(), ORIGIN)
        .unwrap_or_else(|e| panic!("{e}"));
    let added = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/add/verify",
            &json!({"ceremony": options["ceremony"], "credential": parse(&response), "nickname": "Work laptop"}),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert_eq!(added.json()["next"], "/mytenant/account?done=added");

    let account = app.get(&mut browser, "/mytenant/account").await;
    assert!(account.body.contains("Work laptop"));
    let ids = credential_ids_in(&account.body);
    assert_eq!(ids.len(), 2);
    let csrf = browser.csrf.clone();
    let renamed = app
        .post_form(
            &mut browser,
            "/mytenant/account/passkeys/rename",
            &[
                ("csrf_token", &csrf),
                ("credential", &ids[0]),
                ("name", "Old <laptop>"),
            ],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::SEE_OTHER);
    let account = app.get(&mut browser, "/mytenant/account").await;
    assert!(account.body.contains("Old &#60;laptop&#62;"));
    let deleted = app
        .post_form(
            &mut browser,
            "/mytenant/account/passkeys/delete",
            &[("csrf_token", &csrf), ("credential", &ids[0])],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    // This browser last signed in with the deleted passkey (the re-verification): that session ended with it.
    let account = app.get(&mut browser, "/mytenant/account").await;
    assert_eq!(account.status, StatusCode::SEE_OTHER);
    assert_eq!(account.header("location"), "/mytenant/login");
    let store = app.state.provider.store.as_ref();
    let user = store
        .find_user_by_username(&app.tenant, "quinn")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no user"));
    let left: Vec<String> = store
        .list_credentials(&app.tenant, &user.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|c| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&c.credential_id))
        .collect();
    assert_eq!(left, vec![ids[1].clone()]);
}

#[tokio::test]
async fn adding_a_passkey_requires_a_session() {
    let app = app().await;
    let mut browser = Browser::default();
    app.get(&mut browser, "/mytenant/login").await;
    let reply = app
        .post_json(&mut browser, "/mytenant/webauthn/add/options", &json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn account_page_without_a_session_redirects_to_sign_in() {
    let app = app().await;
    let mut browser = Browser::default();
    let reply = app.get(&mut browser, "/mytenant/account").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), "/mytenant/login");
}

// ---- headers, cookies, assets -----------------------------------------------------------------------------------

#[tokio::test]
async fn security_headers_are_present_on_pages() {
    let app = app().await;
    let mut browser = Browser::default();
    for path in ["/mytenant/login", "/mytenant/signup"] {
        let page = app.get(&mut browser, path).await;
        assert_eq!(page.status, StatusCode::OK);
        let csp = page.header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert_eq!(page.header("x-frame-options"), "DENY");
        assert_eq!(page.header("referrer-policy"), "no-referrer");
        assert_eq!(page.header("x-content-type-options"), "nosniff");
        assert_eq!(page.header("cache-control"), "no-store");
    }
}

#[tokio::test]
async fn pages_have_no_inline_script_or_style_and_no_third_party_assets() {
    let app = app().await;
    let mut browser = Browser::default();
    app.sign_up(&mut browser, "rob", &MaliciousAuthenticator::new())
        .await;
    let mut anonymous = Browser::default();
    for (path, who) in [
        ("/mytenant/login", &mut anonymous),
        ("/mytenant/signup", &mut Browser::default()),
        ("/mytenant/account", &mut browser),
    ] {
        let page = app.get(who, path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(!page.body.contains("<script>"), "{path}");
        assert!(!page.body.contains("<style"), "{path}");
        assert!(!page.body.contains(" style="), "{path}");
        assert!(!page.body.contains(" onclick="), "{path}");
        assert!(!page.body.contains("https://"), "{path}");
    }
}

#[tokio::test]
async fn cookies_are_host_prefixed_http_only_secure_and_same_site() {
    let app = app().await;
    let mut browser = Browser::default();
    let page = app.get(&mut browser, "/mytenant/signup").await;
    let csrf_cookie = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with(CSRF_COOKIE))
        .unwrap_or_default();
    let options = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/register/options",
            &json!({"username": "sam"}),
        )
        .await
        .json();
    let (response, _) = MaliciousAuthenticator::new()
        .register(&options["publicKey"].to_string(), ORIGIN)
        .unwrap_or_else(|e| panic!("{e}"));
    let verify = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/register/verify",
            &json!({"ceremony": options["ceremony"], "credential": parse(&response)}),
        )
        .await;
    let session_cookie = verify
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with(SESSION_COOKIE))
        .unwrap_or_default();
    for cookie in [csrf_cookie, session_cookie] {
        assert!(cookie.starts_with("__Host-"), "{cookie}");
        for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
            assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
        }
        assert!(!cookie.contains("Domain="), "{cookie}");
    }
}

#[tokio::test]
async fn static_assets_are_served_from_memory_with_long_cache() {
    let app = app().await;
    let mut browser = Browser::default();
    let page = app.get(&mut browser, "/mytenant/login").await;
    assert!(page.body.contains("/static/tessera.js?v="));
    for (path, kind) in [
        ("/static/tessera.js", "text/javascript"),
        ("/static/tessera.css", "text/css"),
    ] {
        let asset = app.get(&mut browser, path).await;
        assert_eq!(asset.status, StatusCode::OK);
        assert!(asset.header("content-type").starts_with(kind));
        assert!(asset.header("cache-control").contains("max-age=31536000"));
    }
}

#[tokio::test]
async fn unknown_tenant_is_a_404_page() {
    let app = app().await;
    let mut browser = Browser::default();
    let reply = app.get(&mut browser, "/nosuchtenant/login").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = app.get(&mut browser, "/Bad_Tenant/login").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn garbage_bodies_are_refused_without_a_panic() {
    let app = app().await;
    let mut browser = Browser::default();
    app.get(&mut browser, "/mytenant/login").await;
    let verify_bodies = [
        json!("x"),
        json!({"ceremony": 5}),
        json!({"ceremony": "x", "credential": {"id": 1}}),
        json!([]),
    ];
    for path in [
        "/mytenant/webauthn/login/verify",
        "/mytenant/webauthn/register/verify",
        "/mytenant/webauthn/add/verify",
    ] {
        for body in &verify_bodies {
            let reply = app.post_json(&mut browser, path, body).await;
            assert!(
                reply.status.is_client_error(),
                "{path} {body}: {}",
                reply.status
            );
        }
    }
    let options_bodies = [
        json!("x"),
        json!(7),
        json!({"username": 5}),
        json!({"username": "a b"}),
    ];
    for path in [
        "/mytenant/webauthn/login/options",
        "/mytenant/webauthn/register/options",
    ] {
        for body in &options_bodies {
            let reply = app.post_json(&mut browser, path, body).await;
            assert!(
                reply.status.is_client_error(),
                "{path} {body}: {}",
                reply.status
            );
        }
    }
}

/// Browsers send `Origin: null` on form posts from a `no-referrer` page; `Sec-Fetch-Site` decides.
async fn sign_out_with(app: &App, browser: &mut Browser, headers: &[(&str, &str)]) -> Reply {
    let body = format!("csrf_token={}", browser.csrf);
    let mut request = Request::post("/mytenant/signout")
        .header(header::COOKIE, App::cookie_header(browser))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Body::from(body))
        .unwrap_or_else(|e| panic!("{e}"));
    app.send(browser, request).await
}

#[tokio::test]
async fn form_post_with_opaque_origin_needs_the_browsers_same_origin_mark() {
    let app = app().await;
    let mut browser = Browser::default();
    app.sign_up(&mut browser, "tina", &MaliciousAuthenticator::new())
        .await;
    let cross = sign_out_with(
        &app,
        &mut browser,
        &[("origin", "null"), ("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let bare = sign_out_with(&app, &mut browser, &[("origin", "null")]).await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN);
    assert!(browser.cookies.contains_key(SESSION_COOKIE));
    let same = sign_out_with(
        &app,
        &mut browser,
        &[("origin", "null"), ("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(same.status, StatusCode::SEE_OTHER);
    assert!(!browser.cookies.contains_key(SESSION_COOKIE));
}

#[tokio::test]
async fn passkey_of_another_user_cannot_be_renamed_or_deleted() {
    let app = app().await;
    let mut victim = Browser::default();
    app.sign_up(&mut victim, "uwe", &MaliciousAuthenticator::new())
        .await;
    let victim_ids = credential_ids_in(&app.get(&mut victim, "/mytenant/account").await.body);
    let mut attacker = Browser::default();
    app.sign_up(&mut attacker, "vera", &MaliciousAuthenticator::new())
        .await;
    app.get(&mut attacker, "/mytenant/account").await;
    let csrf = attacker.csrf.clone();
    let renamed = app
        .post_form(
            &mut attacker,
            "/mytenant/account/passkeys/rename",
            &[
                ("csrf_token", &csrf),
                ("credential", &victim_ids[0]),
                ("name", "pwned"),
            ],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::NOT_FOUND);
    let deleted = app
        .post_form(
            &mut attacker,
            "/mytenant/account/passkeys/delete",
            &[("csrf_token", &csrf), ("credential", &victim_ids[0])],
        )
        .await;
    assert!(deleted.status.is_client_error(), "{}", deleted.status);
    let page = app.get(&mut victim, "/mytenant/account").await;
    assert_eq!(credential_ids_in(&page.body), victim_ids);
    assert!(!page.body.contains("pwned"));
}

#[tokio::test]
async fn challenge_creation_is_rate_limited_per_client_address() {
    let app = app_with(AppOptions {
        tenant_display_name: None,
        ..options(SecuritySettings {
            challenge_rate: tessera_http::RateRule::per_minute(1, 3),
            ..SecuritySettings::default()
        })
    })
    .await;
    let mut browser = Browser::default();
    app.get(&mut browser, "/mytenant/login").await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let reply = app
            .post_json(&mut browser, "/mytenant/webauthn/login/options", &json!({}))
            .await;
        statuses.push(reply.status);
    }
    assert_eq!(&statuses[..3], &[StatusCode::OK; 3]);
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS);
    // Pages and verify calls are not limited by it.
    assert_eq!(
        app.get(&mut browser, "/mytenant/login").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn prompt_create_opens_the_sign_up_page() {
    let app = app().await;
    let mut browser = Browser::default();
    let login = start_authorization(&app, &mut browser, "&prompt=create").await;
    let reply = app.get(&mut browser, &login).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(
        reply
            .header("location")
            .starts_with("/mytenant/signup?authz=")
    );
}

#[tokio::test]
async fn sessions_and_passkeys_do_not_cross_tenants() {
    let app = app().await;
    let other = TenantId::parse("othertenant").unwrap_or_else(|e| panic!("{e}"));
    let new = ops::NewTenant::parse(other, "localhost", &[ORIGIN.into()], None)
        .unwrap_or_else(|e| panic!("{e}"));
    ops::create_tenant(
        app.state.provider.store.as_ref(),
        &app.state.provider.master_key,
        new,
        start_time(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let mut browser = Browser::default();
    let authenticator = MaliciousAuthenticator::new();
    let (_, credential) = app.sign_up(&mut browser, "walt", &authenticator).await;
    let account = app.get(&mut browser, "/othertenant/account").await;
    assert_eq!(
        account.status,
        StatusCode::SEE_OTHER,
        "a session of mytenant is no session of othertenant"
    );
    app.get(&mut browser, "/othertenant/login").await;
    let options = app
        .post_json(
            &mut browser,
            "/othertenant/webauthn/login/options",
            &json!({}),
        )
        .await
        .json();
    let response = authenticator
        .authenticate(&options["publicKey"].to_string(), ORIGIN, &credential)
        .unwrap_or_else(|e| panic!("{e}"));
    let verify = app
        .post_json(
            &mut browser,
            "/othertenant/webauthn/login/verify",
            &json!({"ceremony": options["ceremony"], "credential": parse(&response)}),
        )
        .await;
    assert_eq!(verify.status, StatusCode::BAD_REQUEST);
    // Unknown there; said without the reason, as the tenant hides whether accounts exist (the default).
    assert_eq!(verify.json()["rule"], "passkey-not-accepted");
}

#[tokio::test]
async fn store_unavailable_fails_closed_with_503_never_signed_out() {
    let app = app_with(AppOptions {
        tenant_display_name: None,
        ..options(SecuritySettings::default())
    })
    .await;
    let mut browser = Browser::default();
    app.sign_up(&mut browser, "xena", &MaliciousAuthenticator::new())
        .await;
    app.app.close_store().await;
    let account = app.get(&mut browser, "/mytenant/account").await;
    assert_eq!(account.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!account.body.contains("pool"), "{}", account.body);
    let options = app
        .post_json(&mut browser, "/mytenant/webauthn/login/options", &json!({}))
        .await;
    assert_eq!(options.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(options.json()["error"], "server_error");
}

/// Turns the tenant's account-enumeration protection off, so refusals name their precise rule.
async fn show_refusal_reasons(app: &App) {
    set_hide_accounts(app, false).await;
}

async fn set_hide_accounts(app: &App, hide: bool) {
    let update = ops::TenantUpdate {
        settings: ops::SettingsChange {
            hide_account_existence: Some(Some(hide)),
            ..ops::SettingsChange::default()
        },
        ..ops::TenantUpdate::default()
    };
    ops::update_tenant(app.state.provider.store.as_ref(), &app.tenant, &update)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    app.state.provider.tenants.invalidate(&app.tenant);
}

async fn set_policy(app: &App, policy: Value) {
    let mut tenant = app
        .state
        .provider
        .store
        .get_tenant(&app.tenant)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no tenant"));
    tenant.policy = policy;
    app.state
        .provider
        .store
        .update_tenant(&tenant)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    app.state.provider.tenants.invalidate(&app.tenant);
}

#[tokio::test]
async fn tenant_policy_refusing_synced_passkeys_is_applied_at_sign_up() {
    let app = app().await;
    set_policy(&app, json!({"synced_passkeys": "refuse"})).await;
    let mut browser = Browser::default();
    let synced = MaliciousAuthenticator {
        backup_eligible: true,
        backup_state: true,
        ..MaliciousAuthenticator::new()
    };
    let (verify, _) = app.sign_up(&mut browser, "yara", &synced).await;
    assert_eq!(verify.status, StatusCode::BAD_REQUEST, "{}", verify.body);
    assert_eq!(verify.json()["error"], "passkey_refused");
    assert!(!app.user_count("yara").await);
    let (verify, _) = app
        .sign_up(&mut browser, "yara", &MaliciousAuthenticator::new())
        .await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
}

#[tokio::test]
async fn reauth_requires_user_verification_even_when_the_tenant_does_not() {
    let app = app().await;
    set_policy(&app, json!({"user_verification": "preferred"})).await;
    let mut browser = Browser::default();
    let presence_only = MaliciousAuthenticator {
        user_verified: false,
        ..MaliciousAuthenticator::new()
    };
    let (verify, credential) = app.sign_up(&mut browser, "zack", &presence_only).await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
    app.get(&mut browser, "/mytenant/account").await;
    let refused = app
        .post_json(&mut browser, "/mytenant/webauthn/add/options", &json!({}))
        .await;
    assert_eq!(
        refused.json()["error"],
        "reauth_required",
        "no UV yet, so no fresh UV"
    );
    let (options, _, reauth) = app
        .sign_in(
            &mut browser,
            json!({"reauth": true}),
            &presence_only,
            &credential,
        )
        .await;
    assert_eq!(options["publicKey"]["userVerification"], "required");
    assert_eq!(reauth.status, StatusCode::BAD_REQUEST, "{}", reauth.body);
    let verifying = MaliciousAuthenticator::new();
    let (_, _, reauth) = app
        .sign_in(
            &mut browser,
            json!({"reauth": true}),
            &verifying,
            &credential,
        )
        .await;
    assert_eq!(reauth.status, StatusCode::OK, "{}", reauth.body);
    let allowed = app
        .post_json(&mut browser, "/mytenant/webauthn/add/options", &json!({}))
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
}

// ---- what people see --------------------------------------------------------------------------------------------

#[tokio::test]
async fn signing_out_lands_on_the_sign_in_page_saying_so() {
    let app = app().await;
    let mut browser = Browser::default();
    app.sign_up(&mut browser, "olive", &MaliciousAuthenticator::new())
        .await;
    app.get(&mut browser, "/mytenant/account").await;
    let csrf = browser.csrf.clone();
    let out = app
        .post_form(&mut browser, "/mytenant/signout", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let location = out.header("location");
    assert_eq!(location, "/mytenant/login?signed_out=1");
    let page = app.get(&mut browser, &location).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("You are signed out."), "{}", page.body);
    let plain = app.get(&mut browser, "/mytenant/login").await;
    assert!(!plain.body.contains("You are signed out."));
}

#[tokio::test]
async fn expired_sign_in_request_links_on_to_the_sign_in_page() {
    let app = app().await;
    let mut browser = Browser::default();
    let page = app
        .get(&mut browser, "/mytenant/login?authz=nosuchrequest")
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("Go back to the application"));
    assert!(
        page.body
            .contains("id=\"error-back-link\" href=\"/mytenant/login\"")
    );
    let signup = app
        .get(&mut browser, "/mytenant/signup?authz=nosuchrequest")
        .await;
    assert!(signup.body.contains("href=\"/mytenant/login\""));
}

#[tokio::test]
async fn new_passkey_is_shown_as_not_used_yet() {
    let app = app().await;
    let mut browser = Browser::default();
    app.sign_up(&mut browser, "nadia", &MaliciousAuthenticator::new())
        .await;
    let account = app.get(&mut browser, "/mytenant/account").await;
    assert!(account.body.contains("Not used yet"), "{}", account.body);
    assert!(!account.body.contains("never"));
}

#[tokio::test]
async fn favicon_is_served_from_memory_and_cached() {
    let app = app().await;
    let mut browser = Browser::default();
    let icon = app.get(&mut browser, "/favicon.ico").await;
    assert_eq!(icon.status, StatusCode::OK);
    assert_eq!(icon.header("content-type"), "image/x-icon");
    assert!(icon.header("cache-control").contains("max-age="));
    let page = app.get(&mut browser, "/mytenant/login").await;
    assert!(page.body.contains("rel=\"icon\" href=\"/favicon.ico\""));
}

#[tokio::test]
async fn refusal_from_another_origin_says_what_to_do_next() {
    let app = app().await;
    let mut browser = Browser::default();
    let authenticator = MaliciousAuthenticator::new().with_overrides(Overrides {
        origin: Some("http://127.0.0.1:8080".into()),
        ..Overrides::default()
    });
    let (verify, _) = app.sign_up(&mut browser, "oscar", &authenticator).await;
    assert_eq!(verify.json()["rule"], "origin-not-allowed");
    let message = verify.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.starts_with("This page was opened at an address"),
        "{message}"
    );
    assert!(message.contains("try again"), "{message}");
}

#[test]
fn every_refusal_message_starts_with_a_capital_and_ends_with_a_sentence() {
    for rule in [
        "origin-not-allowed",
        "challenge-mismatch",
        "user-verification-missing",
        "credential-unknown",
        "sign-count-regressed",
        "bad-signature",
    ] {
        let text =
            tessera_http::common::reply::refusal_message(rule, "the signature does not verify");
        assert!(text.starts_with(char::is_uppercase), "{rule}: {text}");
        assert!(text.ends_with('.'), "{rule}: {text}");
        assert!(!text.contains(".."), "{rule}: {text}");
    }
}

/// Signs up `username` and returns the browser on the account page, the authenticator and the first credential,
/// with a second passkey added (so one may be deleted).
async fn account_with_two_passkeys(
    app: &App,
    username: &str,
) -> (Browser, MaliciousAuthenticator, Credential, Vec<String>) {
    let mut browser = Browser::default();
    let authenticator = MaliciousAuthenticator::new();
    let (_, credential) = app.sign_up(&mut browser, username, &authenticator).await;
    app.get(&mut browser, "/mytenant/account").await;
    let options = app
        .post_json(&mut browser, "/mytenant/webauthn/add/options", &json!({}))
        .await
        .json();
    let (response, _) = MaliciousAuthenticator::new()
        .register(&options["publicKey"].to_string(), ORIGIN)
        .unwrap_or_else(|e| panic!("{e}"));
    let added = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/add/verify",
            &json!({"ceremony": options["ceremony"], "credential": parse(&response)}),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    let account = app.get(&mut browser, "/mytenant/account").await;
    let ids = credential_ids_in(&account.body);
    assert_eq!(ids.len(), 2);
    (browser, authenticator, credential, ids)
}

#[tokio::test]
async fn deleting_a_passkey_without_fresh_user_verification_is_refused() {
    let app = app().await;
    let (mut browser, authenticator, credential, mut ids) =
        account_with_two_passkeys(&app, "petra").await;
    // ids[0]: the passkey this browser re-verifies with below; ids[1]: the other one, which it deletes (deleting the
    // one a session was signed in with ends that session).
    let signed_in = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&credential.id);
    if ids[1] == signed_in {
        ids.swap(0, 1);
    }
    app.clock.advance(time::Duration::minutes(6));

    // The plain form: refused with a page saying what to do.
    let csrf = browser.csrf.clone();
    let form = app
        .post_form(
            &mut browser,
            "/mytenant/account/passkeys/delete",
            &[("csrf_token", &csrf), ("credential", &ids[1])],
        )
        .await;
    assert_eq!(form.status, StatusCode::FORBIDDEN);
    assert!(
        form.body.contains("Confirm it is you first"),
        "{}",
        form.body
    );

    // The script's call: reauth_required, then after a re-verification the passkey is deleted.
    let refused = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/delete",
            &json!({"credential": ids[1]}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json()["error"], "reauth_required");
    let account = app.get(&mut browser, "/mytenant/account").await;
    assert_eq!(credential_ids_in(&account.body).len(), 2, "nothing deleted");

    let (_, _, reauth) = app
        .sign_in(
            &mut browser,
            json!({"reauth": true}),
            &authenticator,
            &credential,
        )
        .await;
    assert_eq!(reauth.status, StatusCode::OK, "{}", reauth.body);
    let deleted = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/delete",
            &json!({"credential": ids[1]}),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(deleted.json()["next"], "/mytenant/account?done=deleted");
    let account = app.get(&mut browser, "/mytenant/account").await;
    assert_eq!(credential_ids_in(&account.body), vec![ids[0].clone()]);

    // The last one stays, through the script's call too.
    let last = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/delete",
            &json!({"credential": ids[0]}),
        )
        .await;
    assert_eq!(last.status, StatusCode::CONFLICT);
    assert_eq!(last.json()["error"], "last_passkey");
    assert!(
        last.json()["message"]
            .as_str()
            .unwrap_or_default()
            .contains("only passkey")
    );
}

#[tokio::test]
async fn deleting_a_passkey_needs_a_session_and_the_csrf_token() {
    let app = app().await;
    let (mut browser, _, _, ids) = account_with_two_passkeys(&app, "quentin").await;
    let mut stranger = Browser::default();
    app.get(&mut stranger, "/mytenant/login").await;
    let reply = app
        .post_json(
            &mut stranger,
            "/mytenant/webauthn/delete",
            &json!({"credential": ids[0]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    browser.csrf = "forged".into();
    let reply = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/delete",
            &json!({"credential": ids[0]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json()["error"], "csrf");
    let garbage = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/delete",
            &json!({"credential": 7}),
        )
        .await;
    assert!(garbage.status.is_client_error());
}

// ---- legacy U2F AppID (WebAuthn L3 §10.1.1) ----------------------------------------------------------------------

const LEGACY_APPID: &str = "https://localhost:8080/u2f/app-id.json";

fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// An authenticator that asserts as a U2F key registered under `appid` would: rpIdHash = SHA-256(appid), and the
/// client reports `clientExtensionResults.appid = true` when `client_says_appid`.
fn u2f_key(appid: &str, client_says_appid: bool) -> MaliciousAuthenticator {
    MaliciousAuthenticator::new().with_overrides(Overrides {
        rp_id_hash: Some(sha256(appid.as_bytes())),
        client_extension_results: Some(if client_says_appid {
            json!({"appid": true})
        } else {
            json!({})
        }),
        ..Overrides::default()
    })
}

#[tokio::test]
async fn credential_asserted_under_the_tenants_legacy_appid_verifies() {
    let app = app().await;
    set_policy(&app, json!({"legacy_appid": LEGACY_APPID})).await;
    let mut browser = Browser::default();
    let (_, credential) = app
        .sign_up(&mut browser, "uma", &MaliciousAuthenticator::new())
        .await;
    let mut other = Browser::default();
    app.get(&mut other, "/mytenant/login").await;
    let (options, _, verify) = app
        .sign_in(
            &mut other,
            json!({"username": "uma"}),
            &u2f_key(LEGACY_APPID, true),
            &credential,
        )
        .await;
    assert_eq!(options["publicKey"]["extensions"]["appid"], LEGACY_APPID);
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
    assert!(other.cookies.contains_key(SESSION_COOKIE));
}

#[tokio::test]
async fn legacy_appid_is_not_offered_without_allow_credentials_or_a_tenant_setting() {
    let app = app().await;
    let mut browser = Browser::default();
    app.sign_up(&mut browser, "vera", &MaliciousAuthenticator::new())
        .await;
    let options = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/login/options",
            &json!({"username": "vera"}),
        )
        .await
        .json();
    assert!(
        options["publicKey"]
            .get("extensions")
            .and_then(|e| e.get("appid"))
            .is_none()
    );
    set_policy(&app, json!({"legacy_appid": LEGACY_APPID})).await;
    let discoverable = app
        .post_json(&mut browser, "/mytenant/webauthn/login/options", &json!({}))
        .await
        .json();
    assert!(
        discoverable["publicKey"]
            .get("extensions")
            .and_then(|e| e.get("appid"))
            .is_none()
    );
}

#[tokio::test]
async fn assertion_under_an_appid_the_tenant_does_not_have_is_refused() {
    let app = app().await;
    show_refusal_reasons(&app).await;
    let mut browser = Browser::default();
    let (_, credential) = app
        .sign_up(&mut browser, "wanda", &MaliciousAuthenticator::new())
        .await;
    let (_, _, verify) = app
        .sign_in(
            &mut browser,
            json!({"username": "wanda"}),
            &u2f_key(LEGACY_APPID, true),
            &credential,
        )
        .await;
    assert_eq!(verify.status, StatusCode::BAD_REQUEST, "{}", verify.body);
    assert_eq!(verify.json()["rule"], "rp-id-hash-mismatch");
}

#[tokio::test]
async fn appid_hash_without_the_clients_appid_output_is_refused() {
    let app = app().await;
    show_refusal_reasons(&app).await;
    set_policy(&app, json!({"legacy_appid": LEGACY_APPID})).await;
    let mut browser = Browser::default();
    let (_, credential) = app
        .sign_up(&mut browser, "xenia", &MaliciousAuthenticator::new())
        .await;
    let (_, _, verify) = app
        .sign_in(
            &mut browser,
            json!({"username": "xenia"}),
            &u2f_key(LEGACY_APPID, false),
            &credential,
        )
        .await;
    assert_eq!(verify.status, StatusCode::BAD_REQUEST, "{}", verify.body);
    assert_eq!(verify.json()["rule"], "rp-id-hash-mismatch");
    let (_, _, other_appid) = app
        .sign_in(
            &mut browser,
            json!({"username": "xenia"}),
            &u2f_key("https://evil.example/app-id.json", true),
            &credential,
        )
        .await;
    assert_eq!(other_appid.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn messages_to_people_start_with_a_capital_letter_and_say_what_to_do() {
    let app = app().await;
    let mut browser = Browser::default();
    app.get(&mut browser, "/mytenant/signup").await;
    let mut replies = Vec::new();
    for (path, body) in [
        (
            "/mytenant/webauthn/register/options",
            json!({"username": "", "display_name": "A"}),
        ),
        (
            "/mytenant/webauthn/register/options",
            json!({"username": "ab cd", "display_name": "A"}),
        ),
        (
            "/mytenant/webauthn/register/options",
            json!({"username": "abc", "display_name": "A", "email": "not-an-address"}),
        ),
        (
            "/mytenant/webauthn/login/options",
            json!({"username": "nobody here"}),
        ),
        (
            "/mytenant/webauthn/login/options",
            json!({"authz": "../../x"}),
        ),
        (
            "/mytenant/webauthn/login/verify",
            json!({"ceremony": "gone", "credential": {}}),
        ),
        ("/mytenant/webauthn/add/options", json!({})),
        ("/mytenant/webauthn/delete", json!({"credential": "AAAA"})),
    ] {
        replies.push(app.post_json(&mut browser, path, &body).await);
    }
    replies.push(
        app.post_json_from(
            &mut browser,
            "/mytenant/webauthn/login/options",
            &json!({}),
            Some("https://evil.example"),
        )
        .await,
    );
    let garbage = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/login/options",
            &json!(null),
        )
        .await;
    replies.push(garbage);
    for reply in replies {
        assert!(
            reply.status.is_client_error(),
            "{} {}",
            reply.status,
            reply.body
        );
        let message = reply.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.starts_with(char::is_uppercase), "{message}");
        assert!(message.ends_with('.'), "{message}");
        const NEXT_STEPS: [&str; 12] = [
            "try again",
            "Try again",
            "Choose",
            "Enter",
            "Reload",
            "Sign in",
            "Check",
            "Go back",
            "Use ",
            "Add ",
            "Wait",
            "Open",
        ];
        assert!(
            NEXT_STEPS.iter().any(|step| message.contains(step)),
            "no next step: {message}"
        );
    }
}

#[tokio::test]
async fn account_page_links_back_only_to_a_registered_client_of_the_tenant() {
    let app = app().await;
    let mut browser = Browser::default();
    let (verify, _) = app
        .sign_up(&mut browser, "una", &MaliciousAuthenticator::new())
        .await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
    let new = clients::NewClient {
        tenant: app.tenant.clone(),
        redirect_uris: clients::parse_redirect_uris(
            &[REDIRECT_URI.into()],
            clients::LocalhostHttp::default(),
        )
        .unwrap_or_else(|e| panic!("{e}")),
        post_logout_redirect_uris: clients::parse_redirect_uris(
            &["https://rp.example/home".into()],
            clients::LocalhostHttp::default(),
        )
        .unwrap_or_else(|e| panic!("{e}")),
        kind: clients::ClientKind::ConfidentialBasic,
        id_token_alg: tessera_oidc::keys::SigningAlg::Es256,
        name: Some("Shop App".into()),
    };
    let (client, _) = clients::create_client(app.state.provider.store.as_ref(), new, start_time())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let page = app
        .get(
            &mut browser,
            &format!("/mytenant/account?client_id={}", client.client_id),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains(
            "<a id=\"back-to-app\" href=\"https://rp.example/home\">Back to Shop App</a>"
        ),
        "{}",
        page.body
    );
    // No client, or one that is not registered: no link, and nothing of the parameter on the page.
    for query in [
        "",
        "?client_id=unknown-client",
        "?client_id=https%3A%2F%2Fevil.example",
    ] {
        let page = app
            .get(&mut browser, &format!("/mytenant/account{query}"))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{query}");
        assert!(!page.body.contains("back-to-app"), "{query}");
        assert!(!page.body.contains("evil.example"), "{query}");
    }
}

#[tokio::test]
async fn deleting_a_passkey_asks_first_in_the_page_itself() {
    let app = app().await;
    let mut browser = Browser::default();
    app.sign_up(&mut browser, "vera", &MaliciousAuthenticator::new())
        .await;
    let page = app.get(&mut browser, "/mytenant/account").await;
    assert!(
        !page.body.contains("delete-confirm-"),
        "one passkey: nothing to delete"
    );
    let user = app
        .state
        .provider
        .store
        .find_user_by_username(&app.tenant, "vera")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("vera exists"));
    app.state
        .provider
        .store
        .add_credential(&tessera_store::Credential {
            tenant: app.tenant.clone(),
            credential_id: vec![7; 16],
            user_id: user.id.clone(),
            public_key: vec![1],
            alg: -7,
            sign_count: 0,
            uv_initialized: true,
            backup_eligible: false,
            backup_state: false,
            transports: vec!["usb".into(), "nfc".into()],
            aaguid: [0; 16],
            attestation_format: "none".into(),
            attestation_trusted: false,
            nickname: "Blue key".into(),
            created_at: start_time() + time::Duration::minutes(1),
            last_used_at: None,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let page = app.get(&mut browser, "/mytenant/account").await;
    // The delete button sits in a closed disclosure with the question: a first click only asks.
    let start = page
        .body
        .find("<details class=\"confirm\" id=\"delete-confirm-2\">")
        .unwrap_or_else(|| {
            panic!(
                "a closed confirmation for the second passkey: {}",
                page.body
            )
        });
    let end = page.body[start..]
        .find("</details>")
        .map_or(page.body.len(), |i| start + i);
    let confirmation = &page.body[start..end];
    assert!(
        confirmation.contains("Delete “Blue key”?"),
        "{confirmation}"
    );
    assert!(
        confirmation.contains("id=\"delete-button-2\""),
        "{confirmation}"
    );
    // A device-bound key reached over USB or NFC is a security key, not "this device".
    assert!(
        page.body
            .contains("<span class=\"badge\" id=\"passkey-kind-2\">Security key</span>"),
        "{}",
        page.body
    );
}

// ---- issue 13: security rules -----------------------------------------------------------------------------------

#[tokio::test]
async fn fresh_verification_is_checked_again_when_adding_a_passkey_is_committed() {
    let app = app_with(options(SecuritySettings {
        fresh_verification: std::time::Duration::from_secs(60),
        ..SecuritySettings::default()
    }))
    .await;
    let mut browser = Browser::default();
    let authenticator = MaliciousAuthenticator::new();
    let (verify, _) = app.sign_up(&mut browser, "uma", &authenticator).await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
    app.get(&mut browser, "/mytenant/account").await;
    // Started inside the window...
    let options = app
        .post_json(&mut browser, "/mytenant/webauthn/add/options", &json!({}))
        .await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.body);
    let options = options.json();
    // ...and committed after it (the ceremony itself is still alive).
    app.clock.advance(time::Duration::minutes(2));
    let (response, _) = MaliciousAuthenticator::new()
        .register(&options["publicKey"].to_string(), ORIGIN)
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/add/verify",
            &json!({"ceremony": options["ceremony"], "credential": parse(&response)}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(refused.json()["error"], "reauth_required");
    let account = app.get(&mut browser, "/mytenant/account").await;
    assert_eq!(credential_ids_in(&account.body).len(), 1, "nothing added");
}

#[tokio::test]
async fn csrf_cookie_is_per_tenant_and_rotated_at_sign_in_and_sign_up() {
    let app = app().await;
    let mut browser = Browser::default();
    let page = app.get(&mut browser, "/mytenant/signup").await;
    let set = page.set_cookies().join("\n");
    assert!(set.contains("__Host-tessera-csrf-mytenant="), "{set}");
    let before = browser
        .cookies
        .get(CSRF_COOKIE)
        .cloned()
        .unwrap_or_default();
    assert!(!before.is_empty());
    // The token of another tenant's cookie is not this tenant's.
    let mut other = browser.clone();
    other.cookies.remove(CSRF_COOKIE);
    other
        .cookies
        .insert("__Host-tessera-csrf-othertenant".into(), before.clone());
    let refused = app
        .post_json(
            &mut other,
            "/mytenant/webauthn/register/options",
            &json!({"username": "vic"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

    let authenticator = MaliciousAuthenticator::new();
    let (verify, credential) = app.sign_up(&mut browser, "vic", &authenticator).await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
    let after_sign_up = browser
        .cookies
        .get(CSRF_COOKIE)
        .cloned()
        .unwrap_or_default();
    assert!(
        !after_sign_up.is_empty() && after_sign_up != before,
        "rotated at sign-up"
    );

    browser.cookies.remove(SESSION_COOKIE);
    let login = app.get(&mut browser, "/mytenant/login").await;
    assert_eq!(login.status, StatusCode::OK);
    let (_, _, signed_in) = app
        .sign_in(&mut browser, json!({}), &authenticator, &credential)
        .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let after_sign_in = browser
        .cookies
        .get(CSRF_COOKIE)
        .cloned()
        .unwrap_or_default();
    assert!(
        !after_sign_in.is_empty() && after_sign_in != after_sign_up,
        "rotated at sign-in"
    );
    // The old token no longer passes.
    browser.csrf = before;
    let stale = app
        .post_json(&mut browser, "/mytenant/webauthn/add/options", &json!({}))
        .await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN, "{}", stale.body);
    assert_eq!(stale.json()["error"], "csrf");
}

#[tokio::test]
async fn pages_send_cross_origin_opener_and_permissions_policies() {
    let app = app().await;
    let mut browser = Browser::default();
    for path in ["/mytenant/login", "/mytenant/signup"] {
        let page = app.get(&mut browser, path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.header("cross-origin-opener-policy"), "same-origin");
        let permissions = page.header("permissions-policy");
        for feature in ["camera=()", "microphone=()", "geolocation=()"] {
            assert!(permissions.contains(feature), "{path}: {permissions}");
        }
        assert!(
            permissions.contains("publickey-credentials-get=(self)"),
            "{path}: {permissions}"
        );
    }
}

#[tokio::test]
async fn session_ends_after_the_tenants_idle_timeout() {
    let app = app().await;
    let update = ops::TenantUpdate {
        settings: ops::SettingsChange {
            session_idle_seconds: Some(Some(600)),
            ..ops::SettingsChange::default()
        },
        ..ops::TenantUpdate::default()
    };
    ops::update_tenant(app.state.provider.store.as_ref(), &app.tenant, &update)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    app.state.provider.tenants.invalidate(&app.tenant);
    let mut browser = Browser::default();
    let (verify, _) = app
        .sign_up(&mut browser, "walt", &MaliciousAuthenticator::new())
        .await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
    // Used every 9 minutes: alive past the idle timeout's length.
    for _ in 0..3 {
        app.clock.advance(time::Duration::minutes(9));
        let account = app.get(&mut browser, "/mytenant/account").await;
        assert_eq!(account.status, StatusCode::OK, "still signed in");
    }
    // Unused for 11 minutes: signed out, although the absolute lifetime (12 hours) is far.
    app.clock.advance(time::Duration::minutes(11));
    let account = app.get(&mut browser, "/mytenant/account").await;
    assert_eq!(account.status, StatusCode::SEE_OTHER);
    assert_eq!(account.header("location"), "/mytenant/login");
}

#[tokio::test]
async fn username_first_options_do_not_reveal_whether_an_account_exists() {
    let app = app().await;
    let mut browser = Browser::default();
    app.sign_up(&mut browser, "yves", &MaliciousAuthenticator::new())
        .await;
    let mut anonymous = Browser::default();
    app.get(&mut anonymous, "/mytenant/login").await;
    let ask = |name: &'static str| {
        let app = &app;
        let mut who = anonymous.clone();
        async move {
            app.post_json(
                &mut who,
                "/mytenant/webauthn/login/options",
                &json!({"username": name}),
            )
            .await
        }
    };
    let real = ask("yves").await;
    let unknown = ask("nobody").await;
    let again = ask("nobody").await;
    let other = ask("somebody").await;
    for reply in [&real, &unknown, &again, &other] {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let allow = |reply: &Reply| reply.json()["publicKey"]["allowCredentials"].clone();
    let shape = |reply: &Reply| {
        let list = allow(reply);
        let first = &list[0];
        (
            list.as_array().map(Vec::len),
            first["type"].clone(),
            first["transports"].clone(),
            first["id"].as_str().map(str::len),
        )
    };
    assert_eq!(
        shape(&real),
        shape(&unknown),
        "a decoy looks like a real passkey"
    );
    assert_eq!(
        allow(&unknown),
        allow(&again),
        "the same name gets the same decoy"
    );
    assert_ne!(
        allow(&unknown),
        allow(&other),
        "another name gets another decoy"
    );
    // A tenant that does not hide accounts says so plainly.
    set_hide_accounts(&app, false).await;
    let plain = ask("nobody").await;
    assert_eq!(plain.status, StatusCode::BAD_REQUEST);
    assert!(plain.body.contains("no account"), "{}", plain.body);
}

#[tokio::test]
async fn failed_assertion_answers_the_same_for_an_unknown_passkey_and_a_bad_signature() {
    let app = app().await;
    let mut browser = Browser::default();
    let authenticator = MaliciousAuthenticator::new();
    let (_, credential) = app.sign_up(&mut browser, "zora", &authenticator).await;
    browser.cookies.remove(SESSION_COOKIE);
    app.get(&mut browser, "/mytenant/login").await;
    // A bad signature from the registered passkey.
    let forger = MaliciousAuthenticator {
        overrides: Overrides {
            corrupt_signature: true,
            ..Overrides::default()
        },
        ..authenticator.clone()
    };
    let (_, _, bad_signature) = app
        .sign_in(
            &mut browser,
            json!({"username": "zora"}),
            &forger,
            &credential,
        )
        .await;
    // A passkey this site never saw, offered for the same account.
    let stranger = MaliciousAuthenticator::new();
    let mut unknown_credential = credential.clone();
    unknown_credential.id = b"never-registered-credential-id!!".to_vec();
    let (_, _, unknown) = app
        .sign_in(
            &mut browser,
            json!({"username": "zora"}),
            &MaliciousAuthenticator {
                overrides: Overrides {
                    credential_id: Some(unknown_credential.id.clone()),
                    ..Overrides::default()
                },
                ..stranger
            },
            &credential,
        )
        .await;
    for reply in [&bad_signature, &unknown] {
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    }
    assert_eq!(bad_signature.body, unknown.body, "one answer for both");
    assert_eq!(bad_signature.json()["rule"], "passkey-not-accepted");
}
