//! The OpenID Foundation "Basic OP" plan (`oidcc-basic-certification-test-plan`), one test per module, each also run
//! with `response_mode=form_post` as the "Form Post OP" plan does (`oidcc_formpost_*`), plus the form-post checks
//! (callback is a POST of form fields, nothing in the URL query).

use serde_json::Value;
use tessera_core::Clock;

use crate::helpers::{Mode, TestApp, pkce, read_callback, remove, set};

/// Declares `oidcc_<name>` (query) and `oidcc_formpost_<name>` (form_post) tests over one body.
macro_rules! both_modes {
    ($($query:ident, $form:ident => $body:ident;)*) => {$(
        #[tokio::test]
        async fn $query() {
            $body(Mode::Query).await;
        }
        #[tokio::test]
        async fn $form() {
            $body(Mode::FormPost).await;
        }
    )*};
}

both_modes! {
    oidcc_server, oidcc_formpost_server => server;
    oidcc_server_client_secret_post, oidcc_formpost_server_client_secret_post => server_client_secret_post;
    oidcc_response_type_missing, oidcc_formpost_response_type_missing => response_type_missing;
    oidcc_idtoken_signature, oidcc_formpost_idtoken_signature => idtoken_signature;
    oidcc_userinfo_get, oidcc_formpost_userinfo_get => userinfo_get;
    oidcc_userinfo_post_header, oidcc_formpost_userinfo_post_header => userinfo_post_header;
    oidcc_userinfo_post_body, oidcc_formpost_userinfo_post_body => userinfo_post_body;
    oidcc_ensure_request_without_nonce_succeeds_for_code_flow,
        oidcc_formpost_ensure_request_without_nonce_succeeds_for_code_flow => without_nonce;
    oidcc_scope_profile, oidcc_formpost_scope_profile => scope_profile;
    oidcc_scope_email, oidcc_formpost_scope_email => scope_email;
    oidcc_scope_address, oidcc_formpost_scope_address => scope_address;
    oidcc_scope_phone, oidcc_formpost_scope_phone => scope_phone;
    oidcc_scope_all, oidcc_formpost_scope_all => scope_all;
    oidcc_alternate_happy_flow, oidcc_formpost_alternate_happy_flow => alternate_happy_flow;
    oidcc_display_page, oidcc_formpost_display_page => display_page;
    oidcc_display_popup, oidcc_formpost_display_popup => display_popup;
    oidcc_prompt_login, oidcc_formpost_prompt_login => prompt_login;
    oidcc_prompt_none_not_logged_in, oidcc_formpost_prompt_none_not_logged_in => prompt_none_not_logged_in;
    oidcc_prompt_none_logged_in, oidcc_formpost_prompt_none_logged_in => prompt_none_logged_in;
    oidcc_max_age_1, oidcc_formpost_max_age_1 => max_age_1;
    oidcc_max_age_10000, oidcc_formpost_max_age_10000 => max_age_10000;
    oidcc_ensure_request_with_unknown_parameter_succeeds,
        oidcc_formpost_ensure_request_with_unknown_parameter_succeeds => unknown_parameter;
    oidcc_id_token_hint, oidcc_formpost_id_token_hint => id_token_hint;
    oidcc_login_hint, oidcc_formpost_login_hint => login_hint;
    oidcc_ui_locales, oidcc_formpost_ui_locales => ui_locales;
    oidcc_claims_locales, oidcc_formpost_claims_locales => claims_locales;
    oidcc_ensure_request_with_acr_values_succeeds, oidcc_formpost_ensure_request_with_acr_values_succeeds => acr_values;
    oidcc_codereuse, oidcc_formpost_codereuse => codereuse;
    oidcc_codereuse_30seconds, oidcc_formpost_codereuse_30seconds => codereuse_30seconds;
    oidcc_ensure_registered_redirect_uri, oidcc_formpost_ensure_registered_redirect_uri => registered_redirect_uri;
    oidcc_ensure_post_request_succeeds, oidcc_formpost_ensure_post_request_succeeds => post_request;
    oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported,
        oidcc_formpost_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported => request_uri_unsupported;
    oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported,
        oidcc_formpost_unsigned_request_object_supported_correctly_or_rejected_as_unsupported => request_object_unsupported;
    oidcc_claims_essential, oidcc_formpost_claims_essential => claims_essential;
    oidcc_ensure_request_object_with_redirect_uri, oidcc_formpost_ensure_request_object_with_redirect_uri => request_object_with_redirect_uri;
    oidcc_refresh_token, oidcc_formpost_refresh_token => refresh_token;
    oidcc_ensure_request_with_valid_pkce_succeeds, oidcc_formpost_ensure_request_with_valid_pkce_succeeds => valid_pkce;
}

async fn signed_in(app: &TestApp) -> String {
    let user = app.create_user("alice").await;
    app.sign_in(&user).await
}

/// The checks every flow runs (`PerformStandardIdTokenChecks` and the token response checks).
async fn standard_checks(
    app: &TestApp,
    tokens: &Value,
    client_id: &str,
    nonce: Option<&str>,
) -> Value {
    assert_eq!(tokens["token_type"], "Bearer");
    let expires_in = tokens["expires_in"].as_i64().expect("expires_in");
    assert!(
        expires_in > 0 && expires_in < 86_400,
        "expires_in {expires_in}"
    );
    assert!(
        tokens["access_token"]
            .as_str()
            .is_some_and(|t| t.len() >= 32)
    );
    let id_token = tokens["id_token"].as_str().expect("id_token");
    let (header, claims) = app.verify_id_token(id_token).await;
    assert!(header["kid"].as_str().is_some(), "kid in the header");
    assert_eq!(claims["iss"], app.issuer.as_str());
    let aud_ok = claims["aud"] == client_id
        || claims["aud"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == client_id));
    assert!(aud_ok, "aud {:?}", claims["aud"]);
    let now = app.clock.now().unix_timestamp();
    let exp = claims["exp"].as_i64().expect("exp");
    let iat = claims["iat"].as_i64().expect("iat");
    assert!(
        exp > now && exp < now + 86_400,
        "exp in seconds, in the future"
    );
    assert!((iat - now).abs() <= 300, "iat within 5 minutes");
    let auth_time = claims["auth_time"].as_i64().expect("auth_time");
    assert!(auth_time <= now + 300);
    assert!(claims["sub"].as_str().is_some_and(|s| !s.is_empty()));
    match nonce {
        Some(n) => assert_eq!(claims["nonce"], n),
        None => assert!(claims.get("nonce").is_none()),
    }
    assert!(
        claims["amr"].as_array().is_some_and(|a| !a.is_empty()),
        "amr present"
    );
    assert!(claims["acr"].as_str().is_some(), "acr present");
    claims
}

async fn server(mode: Mode) {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let callback = app
        .authorize_ok(&app.params(&app.basic, mode), &cookie, mode)
        .await;
    assert_eq!(
        callback.get("state").as_deref(),
        Some("st-123"),
        "state echoed"
    );
    assert_eq!(
        callback.get("iss").as_deref(),
        Some(app.issuer.as_str()),
        "RFC 9207 iss"
    );
    let code = callback.get("code").expect("code");
    let response = app.redeem(&app.basic, &code).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .is_ok_and(|v| v.starts_with("application/json"))
    );
    let tokens: Value = response.json().await.expect("json");
    standard_checks(&app, &tokens, &app.basic.id, Some("n-456")).await;
    let jwks = app.jwks().await;
    let mut kids: Vec<_> = jwks.keys.iter().filter_map(|k| k.kid.clone()).collect();
    let count = kids.len();
    kids.sort();
    kids.dedup();
    assert_eq!(kids.len(), count, "distinct kids in JWKS");
    app.stop().await;
}

async fn server_client_secret_post(mode: Mode) {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let tokens = app.full_flow(&app.post, &cookie, mode).await;
    standard_checks(&app, &tokens, &app.post.id, Some("n-456")).await;
    app.stop().await;
}

async fn response_type_missing(mode: Mode) {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let mut params = app.params(&app.basic, mode);
    remove(&mut params, "response_type");
    let callback = read_callback(app.authorize(&params, Some(&cookie)).await, mode).await;
    let error = callback.get("error").expect("error");
    assert!(
        error == "invalid_request" || error == "unsupported_response_type",
        "{error}"
    );
    assert_eq!(callback.get("state").as_deref(), Some("st-123"));
    assert_eq!(callback.get("iss").as_deref(), Some(app.issuer.as_str()));
    assert!(callback.get("code").is_none());
    let description = callback.get("error_description").unwrap_or_default();
    assert!(
        !description.contains(['\r', '\n', '\t']),
        "no CR/LF/TAB in error_description"
    );
    app.stop().await;
}

async fn idtoken_signature(mode: Mode) {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let tokens = app.full_flow(&app.basic, &cookie, mode).await;
    let (header, _) = app
        .verify_id_token(tokens["id_token"].as_str().expect("id_token"))
        .await;
    assert_eq!(header["alg"], "RS256", "RS256 by default");
    let kid = header["kid"].as_str().expect("kid");
    assert!(
        app.jwks()
            .await
            .keys
            .iter()
            .any(|k| k.kid.as_deref() == Some(kid)),
        "kid published"
    );
    app.stop().await;
}

async fn userinfo_sub(response: reqwest::Response, expected_sub: &str) -> Value {
    assert_eq!(response.status(), 200);
    let claims: Value = response.json().await.expect("json");
    assert_eq!(claims["sub"], expected_sub);
    claims
}

async fn tokens_and_sub(app: &TestApp, mode: Mode) -> (String, String) {
    let cookie = signed_in(app).await;
    let tokens = app.full_flow(&app.basic, &cookie, mode).await;
    let (_, claims) = app
        .verify_id_token(tokens["id_token"].as_str().expect("id_token"))
        .await;
    (
        tokens["access_token"].as_str().expect("at").to_owned(),
        claims["sub"].as_str().expect("sub").to_owned(),
    )
}

async fn userinfo_get(mode: Mode) {
    let app = TestApp::spawn().await;
    let (at, sub) = tokens_and_sub(&app, mode).await;
    let response = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(&at)
        .send()
        .await
        .expect("userinfo");
    let claims = userinfo_sub(response, &sub).await;
    assert_eq!(claims["preferred_username"], "alice");
    let refused = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth("nope")
        .send()
        .await
        .expect("ui");
    assert_eq!(refused.status(), 401);
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .is_ok_and(|v| v.contains("invalid_token"))
    );
    // RFC 6750 §3.1: no token at all is a bare challenge without an error code.
    let missing = app.get("/acme/oidc/userinfo", None).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    app.stop().await;
}

async fn userinfo_post_header(mode: Mode) {
    let app = TestApp::spawn().await;
    let (at, sub) = tokens_and_sub(&app, mode).await;
    let response = app
        .http
        .post(format!("{}/userinfo", app.issuer))
        .bearer_auth(&at)
        .send()
        .await
        .expect("userinfo");
    userinfo_sub(response, &sub).await;
    app.stop().await;
}

async fn userinfo_post_body(mode: Mode) {
    let app = TestApp::spawn().await;
    let (at, sub) = tokens_and_sub(&app, mode).await;
    let response = app
        .http
        .post(format!("{}/userinfo", app.issuer))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("access_token={at}"))
        .send()
        .await
        .expect("userinfo");
    userinfo_sub(response, &sub).await;
    // RFC 6750 §2: never two methods at once.
    let both = app
        .http
        .post(format!("{}/userinfo", app.issuer))
        .bearer_auth(&at)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("access_token={at}"))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(both.status(), 400);
    app.stop().await;
}

async fn without_nonce(mode: Mode) {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let mut params = app.params(&app.basic, mode);
    remove(&mut params, "nonce");
    let callback = app.authorize_ok(&params, &cookie, mode).await;
    let response = app
        .redeem(&app.basic, &callback.get("code").expect("code"))
        .await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.expect("json");
    standard_checks(&app, &tokens, &app.basic.id, None).await;
    app.stop().await;
}

async fn scope_flow(mode: Mode, scope: &str) -> (TestApp, Value) {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let mut params = app.params(&app.basic, mode);
    set(&mut params, "scope", scope);
    let callback = app.authorize_ok(&params, &cookie, mode).await;
    let response = app
        .redeem(&app.basic, &callback.get("code").expect("code"))
        .await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.expect("json");
    let at = tokens["access_token"].as_str().expect("at").to_owned();
    let info: Value = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(at)
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("json");
    (app, info)
}

async fn scope_profile(mode: Mode) {
    let (app, info) = scope_flow(mode, "openid profile").await;
    assert_eq!(info["preferred_username"], "alice");
    assert_eq!(info["name"], "alice Example");
    assert!(
        info.get("email").is_none(),
        "email only with the email scope"
    );
    app.stop().await;
}

async fn scope_email(mode: Mode) {
    let (app, info) = scope_flow(mode, "openid email").await;
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["email_verified"], false);
    assert!(
        info.get("name").is_none(),
        "name only with the profile scope"
    );
    app.stop().await;
}

async fn scope_address(mode: Mode) {
    // We hold no address: the scope is accepted and ignored.
    let (app, info) = scope_flow(mode, "openid address").await;
    assert!(info["sub"].is_string());
    app.stop().await;
}

async fn scope_phone(mode: Mode) {
    let (app, info) = scope_flow(mode, "openid phone").await;
    assert!(info["sub"].is_string());
    app.stop().await;
}

async fn scope_all(mode: Mode) {
    let (app, info) = scope_flow(mode, "openid profile email address phone").await;
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["preferred_username"], "alice");
    app.stop().await;
}

async fn alternate_happy_flow(mode: Mode) {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let mut params = app.params(&app.basic, mode);
    set(&mut params, "scope", "email profile openid");
    params.reverse();
    let callback = app.authorize_ok(&params, &cookie, mode).await;
    assert_eq!(
        app.redeem(&app.basic, &callback.get("code").expect("code"))
            .await
            .status(),
        200
    );
    app.stop().await;
}

async fn with_param_succeeds(mode: Mode, name: &str, value: &str) {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let mut params = app.params(&app.basic, mode);
    set(&mut params, name, value);
    let callback = app.authorize_ok(&params, &cookie, mode).await;
    assert!(
        callback.get("code").is_some(),
        "{name}={value} must not cause an error"
    );
    assert_eq!(
        app.redeem(&app.basic, &callback.get("code").expect("code"))
            .await
            .status(),
        200
    );
    app.stop().await;
}

async fn display_page(mode: Mode) {
    with_param_succeeds(mode, "display", "page").await;
}

async fn display_popup(mode: Mode) {
    with_param_succeeds(mode, "display", "popup").await;
}

async fn unknown_parameter(mode: Mode) {
    with_param_succeeds(mode, "extra", "foobar").await;
}

async fn ui_locales(mode: Mode) {
    with_param_succeeds(mode, "ui_locales", "se").await;
}

async fn claims_locales(mode: Mode) {
    with_param_succeeds(mode, "claims_locales", "se").await;
}

async fn acr_values(mode: Mode) {
    with_param_succeeds(mode, "acr_values", "phr phrh").await;
}

async fn claims_essential(mode: Mode) {
    with_param_succeeds(
        mode,
        "claims",
        r#"{"userinfo":{"name":{"essential":true}}}"#,
    )
    .await;
}

async fn valid_pkce(mode: Mode) {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let (verifier, challenge) = pkce();
    let mut params = app.params(&app.basic, mode);
    set(&mut params, "code_challenge", &challenge);
    set(&mut params, "code_challenge_method", "S256");
    let callback = app.authorize_ok(&params, &cookie, mode).await;
    let code = callback.get("code").expect("code");
    let response = app
        .token(
            &app.basic,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &app.basic.redirect_uri),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}

/// A redirect to the sign-in page (the user must authenticate), with a pending `authz` ceremony.
fn assert_sent_to_sign_in(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(location.starts_with("/acme/login?authz="), "{location}");
    location["/acme/login?authz=".len()..].to_owned()
}

async fn prompt_login(mode: Mode) {
    let app = TestApp::spawn().await;
    let user = app.create_user("alice").await;
    let cookie = app.sign_in(&user).await;
    let first = app.full_flow(&app.basic, &cookie, mode).await;
    let (_, first_claims) = app
        .verify_id_token(first["id_token"].as_str().expect("id"))
        .await;
    app.clock.advance(time::Duration::seconds(2));
    let mut params = app.params(&app.basic, mode);
    set(&mut params, "prompt", "login");
    let response = app.authorize(&params, Some(&cookie)).await;
    let authz = assert_sent_to_sign_in(&response);
    // The user signs in again (a new session), then the pages resume the request.
    let cookie = app.sign_in(&user).await;
    let resumed = app
        .get(
            &format!("/acme/oidc/authorize/resume?authz={authz}"),
            Some(&cookie),
        )
        .await;
    let callback = read_callback(resumed, mode).await;
    let response = app
        .redeem(&app.basic, &callback.get("code").expect("code"))
        .await;
    let second: Value = response.json().await.expect("json");
    let (_, second_claims) = app
        .verify_id_token(second["id_token"].as_str().expect("id"))
        .await;
    assert!(
        second_claims["auth_time"].as_i64() > first_claims["auth_time"].as_i64(),
        "later auth_time"
    );
    assert_eq!(second_claims["sub"], first_claims["sub"]);
    app.stop().await;
}

async fn prompt_none_not_logged_in(mode: Mode) {
    let app = TestApp::spawn().await;
    let mut params = app.params(&app.basic, mode);
    set(&mut params, "prompt", "none");
    let callback = read_callback(app.authorize(&params, None).await, mode).await;
    assert_eq!(callback.get("error").as_deref(), Some("login_required"));
    assert_eq!(callback.get("state").as_deref(), Some("st-123"));
    assert_eq!(callback.get("iss").as_deref(), Some(app.issuer.as_str()));
    app.stop().await;
}

async fn prompt_none_logged_in(mode: Mode) {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let first = app.full_flow(&app.basic, &cookie, mode).await;
    let (_, a) = app
        .verify_id_token(first["id_token"].as_str().expect("id"))
        .await;
    let mut params = app.params(&app.basic, mode);
    set(&mut params, "prompt", "none");
    let callback = app.authorize_ok(&params, &cookie, mode).await;
    let second: Value = app
        .redeem(&app.basic, &callback.get("code").expect("code"))
        .await
        .json()
        .await
        .expect("json");
    let (_, b) = app
        .verify_id_token(second["id_token"].as_str().expect("id"))
        .await;
    assert_eq!(a["sub"], b["sub"]);
    assert_eq!(a["auth_time"], b["auth_time"]);
    app.stop().await;
}

async fn max_age_1(mode: Mode) {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    app.clock.advance(time::Duration::seconds(2));
    let mut params = app.params(&app.basic, mode);
    set(&mut params, "max_age", "1");
    let response = app.authorize(&params, Some(&cookie)).await;
    let authz = assert_sent_to_sign_in(&response);
    // Resuming with the old session is not enough: it is older than the request.
    let again = app
        .get(
            &format!("/acme/oidc/authorize/resume?authz={authz}"),
            Some(&cookie),
        )
        .await;
    assert_sent_to_sign_in(&again);
    app.stop().await;
}

async fn max_age_10000(mode: Mode) {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    app.clock.advance(time::Duration::seconds(2));
    let mut params = app.params(&app.basic, mode);
    set(&mut params, "max_age", "10000");
    let callback = app.authorize_ok(&params, &cookie, mode).await;
    assert!(callback.get("code").is_some());
    app.stop().await;
}

async fn id_token_hint(mode: Mode) {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let first = app.full_flow(&app.basic, &cookie, mode).await;
    let hint = first["id_token"].as_str().expect("id").to_owned();
    let (_, a) = app.verify_id_token(&hint).await;
    let mut params = app.params(&app.basic, mode);
    set(&mut params, "prompt", "none");
    set(&mut params, "id_token_hint", &hint);
    let callback = app.authorize_ok(&params, &cookie, mode).await;
    let second: Value = app
        .redeem(&app.basic, &callback.get("code").expect("code"))
        .await
        .json()
        .await
        .expect("json");
    let (_, b) = app
        .verify_id_token(second["id_token"].as_str().expect("id"))
        .await;
    assert_eq!(a["sub"], b["sub"]);
    app.stop().await;
}

async fn login_hint(mode: Mode) {
    let app = TestApp::spawn().await;
    let mut params = app.params(&app.basic, mode);
    set(&mut params, "login_hint", "alice");
    let response = app.authorize(&params, None).await;
    let authz = assert_sent_to_sign_in(&response);
    let tenant = app.tenant.clone();
    let payload = app
        .state
        .provider
        .store
        .peek_ceremony(
            &tenant,
            &authz,
            tessera_http::oidc::authorize::AUTHZ_CEREMONY,
            app.clock.now(),
        )
        .await
        .expect("store")
        .expect("pending request");
    let pending =
        tessera_http::oidc::authorize::PendingAuthorization::decode(&payload).expect("decode");
    assert_eq!(pending.login_hint(), Some("alice"));
    assert_eq!(pending.client_name, "Basic RP");
    app.stop().await;
}

async fn codereuse_after(mode: Mode, wait: time::Duration) {
    codereuse_on(TestApp::spawn().await, mode, wait).await;
}

async fn codereuse_on(app: TestApp, mode: Mode, wait: time::Duration) {
    let cookie = signed_in(&app).await;
    let callback = app
        .authorize_ok(&app.params(&app.basic, mode), &cookie, mode)
        .await;
    let code = callback.get("code").expect("code");
    let first = app.redeem(&app.basic, &code).await;
    assert_eq!(first.status(), 200);
    let tokens: Value = first.json().await.expect("json");
    let at = tokens["access_token"].as_str().expect("at").to_owned();
    app.clock.advance(wait);
    let second = app.redeem(&app.basic, &code).await;
    assert_eq!(second.status(), 400);
    let error: Value = second.json().await.expect("json");
    assert_eq!(error["error"], "invalid_grant");
    // RFC 6749 §4.1.2: the tokens issued from the first use are revoked.
    let info = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(at)
        .send()
        .await
        .expect("ui");
    assert_eq!(info.status(), 401);
    app.stop().await;
}

async fn codereuse(mode: Mode) {
    codereuse_after(mode, time::Duration::ZERO).await;
}

async fn codereuse_30seconds(mode: Mode) {
    codereuse_after(mode, time::Duration::seconds(30)).await;
}

async fn registered_redirect_uri(mode: Mode) {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let mut params = app.params(&app.basic, mode);
    set(&mut params, "redirect_uri", "https://attacker.example/cb");
    let response = app.authorize(&params, Some(&cookie)).await;
    assert_eq!(response.status(), 400, "an error page");
    assert!(
        response.headers().get("location").is_none(),
        "never a redirect"
    );
    let html = response.text().await.expect("page");
    assert!(
        !html.contains("attacker.example"),
        "the page does not link to the unregistered URI"
    );
    assert!(
        !html.contains("<form"),
        "no form_post to the unregistered URI"
    );
    app.stop().await;
}

async fn post_request(mode: Mode) {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let params = app.params(&app.basic, mode);
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let response = app
        .http
        .post(format!("{}/authorize", app.issuer))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("post");
    // SECURITY.md §2 item 20: a 303 to the GET endpoint, which the browser follows with its Lax cookie.
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(location.starts_with("/acme/oidc/authorize?"), "{location}");
    let callback = read_callback(app.get(&location, Some(&cookie)).await, mode).await;
    assert_eq!(
        app.redeem(&app.basic, &callback.get("code").expect("code"))
            .await
            .status(),
        200
    );
    app.stop().await;
}

async fn rejected_as(mode: Mode, name: &str, value: &str, error: &str) {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let mut params = app.params(&app.basic, mode);
    set(&mut params, name, value);
    let callback = read_callback(app.authorize(&params, Some(&cookie)).await, mode).await;
    assert_eq!(callback.get("error").as_deref(), Some(error));
    assert_eq!(callback.get("state").as_deref(), Some("st-123"));
    app.stop().await;
}

async fn request_uri_unsupported(mode: Mode) {
    rejected_as(
        mode,
        "request_uri",
        "https://rp.example/request.jwt",
        "request_uri_not_supported",
    )
    .await;
}

async fn request_object_unsupported(mode: Mode) {
    let unsigned = "eyJhbGciOiJub25lIn0.eyJzdGF0ZSI6InN0LTEyMyJ9.";
    rejected_as(mode, "request", unsigned, "request_not_supported").await;
}

async fn request_object_with_redirect_uri(mode: Mode) {
    // The request object is refused as unsupported; the outer, registered redirect_uri receives the error.
    let unsigned =
        "eyJhbGciOiJub25lIn0.eyJyZWRpcmVjdF91cmkiOiJodHRwczovL2F0dGFja2VyLmV4YW1wbGUvY2IifQ.";
    rejected_as(mode, "request", unsigned, "request_not_supported").await;
}

async fn refresh_token(mode: Mode) {
    refresh_token_on(TestApp::spawn().await, mode).await;
}

async fn refresh_token_on(app: TestApp, mode: Mode) {
    let cookie = signed_in(&app).await;
    let mut params = app.params(&app.basic, mode);
    set(&mut params, "scope", "openid profile offline_access");
    let callback = app.authorize_ok(&params, &cookie, mode).await;
    let tokens: Value = app
        .redeem(&app.basic, &callback.get("code").expect("code"))
        .await
        .json()
        .await
        .expect("json");
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    // RFC 6749 Appendix A.17: VSCHAR only.
    assert!(refresh.bytes().all(|b| (0x20..=0x7e).contains(&b)));
    // Bound to the client: another client cannot use it (and does not spend it).
    let stolen = app
        .token(
            &app.es256,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(stolen.status(), 400);
    let refreshed = app
        .token(
            &app.basic,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.expect("json");
    let rotated = refreshed["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();
    assert_ne!(rotated, refresh, "rotation");
    standard_checks(&app, &refreshed, &app.basic.id, None).await;
    // Reuse of the spent token revokes the family, including the rotated one.
    let reuse = app
        .token(
            &app.basic,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(reuse.status(), 400);
    let after = app
        .token(
            &app.basic,
            &[("grant_type", "refresh_token"), ("refresh_token", &rotated)],
        )
        .await;
    assert_eq!(after.status(), 400, "the family is revoked after reuse");
    app.stop().await;
}

/// The one-time and rotation rules rest on the store's atomic operations: run them on PostgreSQL too.
#[tokio::test]
async fn oidcc_codereuse_30seconds_on_postgres() {
    let Some(app) = TestApp::spawn_on(crate::helpers::Backend::Postgres).await else {
        return;
    };
    codereuse_on(app, Mode::Query, time::Duration::seconds(30)).await;
}

#[tokio::test]
async fn oidcc_refresh_token_on_postgres() {
    let Some(app) = TestApp::spawn_on(crate::helpers::Backend::Postgres).await else {
        return;
    };
    refresh_token_on(app, Mode::Query).await;
}
