//! Security rules of the HTTP shell, each with a negative test: headers, limits, PKCE downgrade, client binding,
//! store failure, key rotation, logout redirects, cancelled sign-in.

use serde_json::Value;
use tessera_core::Clock;

use crate::helpers::{Mode, TestApp, pkce, read_callback, remove, set};

async fn signed_in(app: &TestApp) -> String {
    let user = app.create_user("alice").await;
    app.sign_in(&user).await
}

async fn code(app: &TestApp, params: &[(String, String)], cookie: &str) -> String {
    app.authorize_ok(params, cookie, Mode::Query)
        .await
        .get("code")
        .expect("code")
}

async fn oauth_error(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("json error");
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn pages_carry_csp_frame_referrer_and_nosniff_headers() {
    let app = TestApp::spawn().await;
    let mut params = app.params(&app.basic, Mode::Query);
    set(&mut params, "redirect_uri", "https://attacker.example/cb");
    let response = app.authorize(&params, None).await;
    let h = response.headers();
    let csp = h["content-security-policy"].to_str().expect("csp");
    for directive in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h.get("x-request-id").is_some(), "request id for support");
    app.stop().await;
}

#[tokio::test]
async fn form_post_page_allows_only_its_own_script_and_no_framing() {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let response = app
        .authorize(&app.params(&app.basic, Mode::FormPost), Some(&cookie))
        .await;
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    app.stop().await;
}

#[tokio::test]
async fn pkce_downgrade_is_refused() {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    // RFC 9700 §4.8: a verifier sent when no challenge was is refused.
    let code = code(&app, &app.params(&app.basic, Mode::Query), &cookie).await;
    let (verifier, _) = pkce();
    let response = app
        .token(
            &app.basic,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", crate::helpers::REDIRECT),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(oauth_error(response).await, (400, "invalid_grant".into()));
    app.stop().await;
}

#[tokio::test]
async fn pkce_verifier_mismatch_is_refused() {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let (_, challenge) = pkce();
    let (other_verifier, _) = pkce();
    let mut params = app.params(&app.basic, Mode::Query);
    set(&mut params, "code_challenge", &challenge);
    set(&mut params, "code_challenge_method", "S256");
    let code = code(&app, &params, &cookie).await;
    let response = app
        .token(
            &app.basic,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", crate::helpers::REDIRECT),
                ("code_verifier", &other_verifier),
            ],
        )
        .await;
    assert_eq!(oauth_error(response).await, (400, "invalid_grant".into()));
    app.stop().await;
}

#[tokio::test]
async fn public_client_without_pkce_is_refused() {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let response = app
        .authorize(&app.params(&app.public, Mode::Query), Some(&cookie))
        .await;
    let callback = read_callback(response, Mode::Query).await;
    assert_eq!(callback.get("error").as_deref(), Some("invalid_request"));
    assert!(callback.get("code").is_none());
    app.stop().await;
}

#[tokio::test]
async fn wrong_client_secret_is_invalid_client() {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let code = code(&app, &app.params(&app.basic, Mode::Query), &cookie).await;
    let mut impostor = app.basic.clone();
    impostor.secret = Some("wrong".into());
    let response = app.redeem(&impostor, &code).await;
    assert!(response.headers().get("www-authenticate").is_some());
    assert_eq!(oauth_error(response).await, (401, "invalid_client".into()));
    app.stop().await;
}

#[tokio::test]
async fn code_issued_to_another_client_is_refused() {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let code = code(&app, &app.params(&app.basic, Mode::Query), &cookie).await;
    let response = app.redeem(&app.es256, &code).await;
    assert_eq!(oauth_error(response).await, (400, "invalid_grant".into()));
    // The code is spent: the rightful client cannot use it after an attempt by another.
    let response = app.redeem(&app.basic, &code).await;
    assert_eq!(oauth_error(response).await, (400, "invalid_grant".into()));
    app.stop().await;
}

#[tokio::test]
async fn redirect_uri_mismatch_at_the_token_endpoint_is_refused() {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let code = code(&app, &app.params(&app.basic, Mode::Query), &cookie).await;
    let response = app
        .token(
            &app.basic,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://rp.example/other"),
            ],
        )
        .await;
    assert_eq!(oauth_error(response).await, (400, "invalid_grant".into()));
    app.stop().await;
}

#[tokio::test]
async fn expired_code_is_refused() {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let code = code(&app, &app.params(&app.basic, Mode::Query), &cookie).await;
    app.clock.advance(time::Duration::seconds(61));
    let response = app.redeem(&app.basic, &code).await;
    assert_eq!(oauth_error(response).await, (400, "invalid_grant".into()));
    app.stop().await;
}

#[tokio::test]
async fn duplicate_parameters_are_refused() {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let mut params = app.params(&app.basic, Mode::Query);
    params.push(("scope".into(), "openid email".into()));
    let callback = read_callback(app.authorize(&params, Some(&cookie)).await, Mode::Query).await;
    assert_eq!(callback.get("error").as_deref(), Some("invalid_request"));
    app.stop().await;
}

#[tokio::test]
async fn unknown_client_gets_an_error_page_never_a_redirect() {
    let app = TestApp::spawn().await;
    let mut params = app.params(&app.basic, Mode::Query);
    set(&mut params, "client_id", "nobody");
    let response = app.authorize(&params, None).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    let mut params = app.params(&app.basic, Mode::Query);
    remove(&mut params, "redirect_uri");
    let response = app.authorize(&params, None).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    app.stop().await;
}

#[tokio::test]
async fn token_endpoint_is_rate_limited_per_client_address() {
    let app = TestApp::spawn().await;
    let mut limited = None;
    for _ in 0..60 {
        let response = app
            .token(
                &app.basic,
                &[("grant_type", "authorization_code"), ("code", "x")],
            )
            .await;
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
    }
    let response = limited.expect("a burst of token requests is limited");
    assert!(response.headers().get("retry-after").is_some());
    app.stop().await;
}

#[tokio::test]
async fn oversized_request_body_is_refused() {
    let app = TestApp::spawn().await;
    let body = format!("grant_type=authorization_code&code={}", "a".repeat(200_000));
    let response = app
        .http
        .post(format!("{}/token", app.issuer))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), 413);
    app.stop().await;
}

#[tokio::test]
async fn unavailable_store_is_a_503_never_not_found() {
    let app = TestApp::spawn().await;
    app.close_store().await;
    let response = app
        .get("/acme/oidc/.well-known/openid-configuration", None)
        .await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());
    let response = app.get("/acme/oidc/authorize?client_id=x", None).await;
    assert_eq!(response.status(), 503);
}

#[tokio::test]
async fn immediate_rotation_signs_new_tokens_and_old_keys_stay_published() {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let before = app.full_flow(&app.basic, &cookie, Mode::Query).await;
    let old_token = before["id_token"].as_str().expect("id").to_owned();
    let (old_header, _) = app.verify_id_token(&old_token).await;
    let kids = tessera_service::keys::rotate_keys(
        app.state.provider.store.as_ref(),
        &app.state.provider.master_key,
        &app.tenant,
        tessera_service::keys::Rotation::Immediate,
        app.clock.now(),
    )
    .await
    .expect("rotate");
    app.state.provider.tenants.invalidate(&app.tenant);
    let after = app.full_flow(&app.basic, &cookie, Mode::Query).await;
    let (new_header, _) = app
        .verify_id_token(after["id_token"].as_str().expect("id"))
        .await;
    assert_ne!(new_header["kid"], old_header["kid"]);
    assert!(
        kids.iter().any(|k| new_header["kid"] == k.as_str()),
        "signed with a new key"
    );
    // The old token still verifies against the published JWKS.
    app.verify_id_token(&old_token).await;
    assert_eq!(app.jwks().await.keys.len(), 4);
    // Once its tokens have expired, the retired key is no longer published.
    app.clock.advance(time::Duration::hours(2));
    app.state.provider.tenants.invalidate(&app.tenant);
    assert_eq!(app.jwks().await.keys.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn staged_rotation_publishes_new_keys_before_they_sign() {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let kids = tessera_service::keys::rotate_keys(
        app.state.provider.store.as_ref(),
        &app.state.provider.master_key,
        &app.tenant,
        tessera_service::keys::Rotation::Staged,
        app.clock.now(),
    )
    .await
    .expect("rotate");
    app.state.provider.tenants.invalidate(&app.tenant);
    assert_eq!(app.jwks().await.keys.len(), 4, "published at once");
    let early = app.full_flow(&app.basic, &cookie, Mode::Query).await;
    let early_token = early["id_token"].as_str().expect("id").to_owned();
    let (early_header, _) = app.verify_id_token(&early_token).await;
    assert!(
        !kids.iter().any(|k| early_header["kid"] == k.as_str()),
        "not signing yet"
    );
    // Not due yet: nothing changes.
    tessera_server::app::maintenance_round(&app.state).await;
    let again = app.full_flow(&app.basic, &cookie, Mode::Query).await;
    let (again_header, _) = app
        .verify_id_token(again["id_token"].as_str().expect("id"))
        .await;
    assert_eq!(again_header["kid"], early_header["kid"]);
    // After the publication delay, the maintenance task switches.
    app.clock
        .advance(tessera_service::keys::KEY_PUBLICATION_DELAY + time::Duration::seconds(1));
    tessera_server::app::maintenance_round(&app.state).await;
    let late = app.full_flow(&app.basic, &cookie, Mode::Query).await;
    let (late_header, _) = app
        .verify_id_token(late["id_token"].as_str().expect("id"))
        .await;
    assert!(
        kids.iter().any(|k| late_header["kid"] == k.as_str()),
        "the new key signs"
    );
    app.verify_id_token(&early_token).await;
    app.clock.advance(time::Duration::hours(2));
    tessera_server::app::maintenance_round(&app.state).await;
    app.state.provider.tenants.invalidate(&app.tenant);
    assert_eq!(app.jwks().await.keys.len(), 2);
    assert_eq!(
        app.state
            .provider
            .store
            .list_signing_keys(&app.tenant)
            .await
            .expect("keys")
            .len(),
        2
    );
    app.stop().await;
}

#[tokio::test]
async fn logout_redirects_only_to_a_registered_post_logout_uri() {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let tokens = app.full_flow(&app.basic, &cookie, Mode::Query).await;
    let hint = tokens["id_token"].as_str().expect("id");
    let bad = app
        .get(&format!("/acme/oidc/logout?id_token_hint={hint}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"), Some(&cookie))
        .await;
    assert_eq!(bad.status(), 400);
    assert!(bad.headers().get("location").is_none());
    let good = app
        .get(&format!("/acme/oidc/logout?id_token_hint={hint}&post_logout_redirect_uri=https%3A%2F%2Frp.example%2Fbye&state=s1"), Some(&cookie))
        .await;
    assert_eq!(good.status(), 303);
    assert_eq!(
        good.headers()["location"],
        "https://rp.example/bye?state=s1"
    );
    // The session is gone: prompt=none now fails.
    let mut params = app.params(&app.basic, Mode::Query);
    set(&mut params, "prompt", "none");
    let callback = read_callback(app.authorize(&params, Some(&cookie)).await, Mode::Query).await;
    assert_eq!(callback.get("error").as_deref(), Some("login_required"));
    app.stop().await;
}

#[tokio::test]
async fn logout_without_hint_asks_for_confirmation() {
    let app = TestApp::spawn().await;
    let cookie = signed_in(&app).await;
    let page = app.get("/acme/oidc/logout", Some(&cookie)).await;
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .expect("html")
            .contains("name=\"confirm\"")
    );
    // Still signed in.
    let mut params = app.params(&app.basic, Mode::Query);
    set(&mut params, "prompt", "none");
    let callback = read_callback(app.authorize(&params, Some(&cookie)).await, Mode::Query).await;
    assert!(callback.get("code").is_some());
    app.stop().await;
}

#[tokio::test]
async fn cancelled_sign_in_answers_access_denied_to_the_registered_uri() {
    let app = TestApp::spawn().await;
    let response = app
        .authorize(&app.params(&app.basic, Mode::Query), None)
        .await;
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let authz = location.split("authz=").nth(1).expect("authz").to_owned();
    let resumed = app
        .get(
            &format!("/acme/oidc/authorize/resume?authz={authz}&error=access_denied"),
            None,
        )
        .await;
    let callback = read_callback(resumed, Mode::Query).await;
    assert_eq!(callback.get("error").as_deref(), Some("access_denied"));
    assert_eq!(callback.get("state").as_deref(), Some("st-123"));
    assert_eq!(callback.get("iss").as_deref(), Some(app.issuer.as_str()));
    // The pending request is used up.
    let again = app
        .get(&format!("/acme/oidc/authorize/resume?authz={authz}"), None)
        .await;
    assert_eq!(again.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn resume_without_a_session_goes_back_to_sign_in() {
    let app = TestApp::spawn().await;
    let response = app
        .authorize(&app.params(&app.basic, Mode::Query), None)
        .await;
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let authz = location.split("authz=").nth(1).expect("authz").to_owned();
    let resumed = app
        .get(&format!("/acme/oidc/authorize/resume?authz={authz}"), None)
        .await;
    assert_eq!(resumed.status(), 303);
    assert!(
        resumed.headers()["location"]
            .to_str()
            .is_ok_and(|l| l.starts_with("/acme/login?authz="))
    );
    app.stop().await;
}

#[tokio::test]
async fn maintenance_deletes_retired_keys_once_their_tokens_expired() {
    let app = TestApp::spawn().await;
    tessera_service::keys::rotate_keys(
        app.state.provider.store.as_ref(),
        &app.state.provider.master_key,
        &app.tenant,
        tessera_service::keys::Rotation::Immediate,
        app.clock.now(),
    )
    .await
    .expect("rotate");
    tessera_server::app::maintenance_round(&app.state).await;
    let keys = app
        .state
        .provider
        .store
        .list_signing_keys(&app.tenant)
        .await
        .expect("keys");
    assert_eq!(
        keys.len(),
        4,
        "retired keys are kept while their tokens may be alive"
    );
    app.clock.advance(time::Duration::hours(2));
    tessera_server::app::maintenance_round(&app.state).await;
    let keys = app
        .state
        .provider
        .store
        .list_signing_keys(&app.tenant)
        .await
        .expect("keys");
    assert_eq!(keys.len(), 2, "only the current keys remain");
    app.stop().await;
}
