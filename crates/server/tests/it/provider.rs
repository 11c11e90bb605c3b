//! What the provider derives and refuses, end to end: `amr`/`acr` computed once by `tessera_oidc` from the facts a
//! session holds, the session's public `sid` in ID tokens and RP-initiated logout by it, token-endpoint errors named
//! after their rule, refresh tokens as plain random values, and the error and logout pages in the pages' layout.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tessera_core::{ClientId, Clock};
use tessera_oidc::id_token::AuthenticationFacts;
use tessera_oidc::jose::sign_jwt;
use tessera_oidc::keys::{JwkSet, SigningAlg, SigningKey};

use crate::helpers::{Mode, TestApp, random, set};

fn facts(
    user_verified: bool,
    backup_eligible: bool,
    attestation_trusted: bool,
) -> AuthenticationFacts {
    AuthenticationFacts {
        user_verified,
        backup_eligible,
        attestation_trusted,
    }
}

async fn id_token_claims(app: &TestApp, cookie: &str) -> Value {
    let tokens = app.full_flow(&app.basic, cookie, Mode::Query).await;
    let (_, claims) = app
        .verify_id_token(tokens["id_token"].as_str().expect("id token"))
        .await;
    claims
}

async fn error_of(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("json error");
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn id_token_amr_and_acr_follow_the_session_facts() {
    let app = TestApp::spawn().await;
    let user = app.create_user("amelia").await;
    let cases = [
        // Device-bound key, UV, attestation trusted: hardware-protected phishing resistance.
        (
            facts(true, false, true),
            json!(["pop", "hwk", "user", "mfa"]),
            "phrh",
        ),
        // Device-bound but its attestation was not trusted: only `phr`, whatever the key claims.
        (
            facts(true, false, false),
            json!(["pop", "hwk", "user", "mfa"]),
            "phr",
        ),
        // Synced passkey without UV: a software key, one factor.
        (
            facts(false, true, false),
            json!(["pop", "swk", "user"]),
            "phr",
        ),
    ];
    for (facts, amr, acr) in cases {
        let (cookie, _) = app.sign_in_with(&user, facts).await;
        let claims = id_token_claims(&app, &cookie).await;
        assert_eq!(claims["amr"], amr, "{facts:?}");
        assert_eq!(claims["acr"], acr, "{facts:?}");
        assert_eq!(
            claims["amr"],
            json!(facts.amr()),
            "one rule, in tessera_oidc"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn id_token_sid_is_the_sessions_public_handle_not_its_cookie() {
    let app = TestApp::spawn().await;
    let user = app.create_user("sidney").await;
    let (cookie, sid) = app.sign_in_with(&user, facts(true, true, false)).await;
    let claims = id_token_claims(&app, &cookie).await;
    assert_eq!(claims["sid"], sid.as_str());
    let secret = cookie.split_once('=').map(|(_, v)| v).unwrap_or_default();
    assert!(!secret.is_empty() && !sid.contains(secret) && !secret.contains(&sid));
    app.stop().await;
}

async fn logout(app: &TestApp, form: &[(&str, &str)], cookie: Option<&str>) -> reqwest::Response {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut request = app
        .http
        .post(format!("{}/logout", app.issuer))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.expect("logout")
}

/// Whether the session behind `cookie` still answers `prompt=none` silently.
async fn still_signed_in(app: &TestApp, cookie: &str) -> bool {
    let mut params = app.params(&app.basic, Mode::Query);
    set(&mut params, "prompt", "none");
    let response = app.authorize(&params, Some(cookie)).await;
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    location.contains("code=")
}

#[tokio::test]
async fn logout_with_id_token_hint_ends_the_session_its_sid_names() {
    let app = TestApp::spawn().await;
    let user = app.create_user("lou").await;
    let (first, _) = app.sign_in_with(&user, facts(true, true, false)).await;
    let (second, _) = app.sign_in_with(&user, facts(true, true, false)).await;
    let tokens = app.full_flow(&app.basic, &first, Mode::Query).await;
    let hint = tokens["id_token"].as_str().expect("id token");
    // Sent without any cookie (another browser, or a cookie the request does not carry): the hinted session ends.
    let response = logout(&app, &[("id_token_hint", hint)], None).await;
    assert_eq!(response.status(), 200);
    assert!(
        !still_signed_in(&app, &first).await,
        "the hinted session ended"
    );
    assert!(
        still_signed_in(&app, &second).await,
        "another session of the user stays"
    );
    app.stop().await;
}

#[tokio::test]
async fn logout_hint_for_another_session_asks_before_ending_the_browsers_own() {
    let app = TestApp::spawn().await;
    let user = app.create_user("lena").await;
    let (hinted, _) = app.sign_in_with(&user, facts(true, true, false)).await;
    let (browser, _) = app.sign_in_with(&user, facts(true, true, false)).await;
    let tokens = app.full_flow(&app.basic, &hinted, Mode::Query).await;
    let hint = tokens["id_token"].as_str().expect("id token");
    let response = logout(&app, &[("id_token_hint", hint)], Some(&browser)).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("html");
    assert!(
        html.contains("<h1 id=\"logout-title\">Sign out?</h1>"),
        "{html}"
    );
    assert!(
        html.contains("tessera") && html.contains("stylesheet"),
        "styled like the pages"
    );
    assert!(
        html.contains("name=\"id_token_hint\""),
        "the hint is carried over"
    );
    assert!(!still_signed_in(&app, &hinted).await);
    assert!(
        still_signed_in(&app, &browser).await,
        "nothing ended without confirmation"
    );
    app.stop().await;
}

#[tokio::test]
async fn logout_pages_are_the_pages_with_a_heading_and_a_way_onward() {
    let app = TestApp::spawn().await;
    let response = logout(&app, &[], None).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("html");
    assert!(
        html.contains("<h1 id=\"error-title\">Signed out</h1>"),
        "{html}"
    );
    assert!(
        html.contains("href=\"/acme/login\""),
        "a way back in: {html}"
    );
    assert!(html.contains("Acme"), "the tenant's name");

    let response = logout(&app, &[("id_token_hint", "not.a.token")], None).await;
    assert_eq!(response.status(), 400);
    let html = response.text().await.expect("html");
    assert!(
        html.contains("<h1 id=\"error-title\">Sign-out not completed</h1>"),
        "{html}"
    );
    assert!(html.contains("href=\"/acme/account\""), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn authorize_error_page_is_the_pages_error_page_and_never_redirects() {
    let app = TestApp::spawn().await;
    let mut params = app.params(&app.basic, Mode::Query);
    set(&mut params, "client_id", "nobody");
    let response = app.authorize(&params, None).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    let html = response.text().await.expect("html");
    assert!(
        html.contains("<h1 id=\"error-title\">Unknown application</h1>"),
        "{html}"
    );
    assert!(html.contains("not registered with Acme"), "{html}");
    assert!(
        html.contains("stylesheet") && html.contains("href=\"/acme/account\""),
        "{html}"
    );

    let mut params = app.params(&app.basic, Mode::Query);
    set(&mut params, "redirect_uri", "https://attacker.example/cb");
    let response = app.authorize(&params, None).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    let html = response.text().await.expect("html");
    assert!(
        html.contains("<h1 id=\"error-title\">Sign-in request not accepted</h1>"),
        "{html}"
    );
    assert!(
        !html.contains("attacker.example"),
        "the unregistered address is not linked"
    );
    app.stop().await;
}

#[tokio::test]
async fn resume_of_a_finished_or_unknown_request_is_the_pages_expired_page() {
    let app = TestApp::spawn().await;
    let response = app
        .get("/acme/oidc/authorize/resume?authz=no-such-request", None)
        .await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    let html = response.text().await.expect("html");
    assert!(
        html.contains("<h1 id=\"error-title\">This sign-in request has expired</h1>"),
        "{html}"
    );
    assert!(html.contains("href=\"/acme/login\""), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn token_errors_name_the_failed_rule() {
    let app = TestApp::spawn().await;
    let user = app.create_user("tess").await;
    let cookie = app.sign_in(&user).await;

    let (status, error, description) = error_of(app.redeem(&app.basic, "never-issued").await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert_eq!(description, "authorization code is unknown or has expired");

    let mut params = app.params(&app.basic, Mode::Query);
    set(&mut params, "scope", "openid offline_access");
    let callback = app.authorize_ok(&params, &cookie, Mode::Query).await;
    let code = callback.get("code").expect("code");
    let tokens: Value = app
        .redeem(&app.basic, &code)
        .await
        .json()
        .await
        .expect("json");
    let (status, error, description) = error_of(app.redeem(&app.basic, &code).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert!(
        description.starts_with("authorization code was already used"),
        "{description}"
    );

    // The reused code revoked its grant; a fresh grant shows refresh-token reuse.
    let callback = app.authorize_ok(&params, &cookie, Mode::Query).await;
    let tokens_2: Value = app
        .redeem(&app.basic, &callback.get("code").expect("code"))
        .await
        .json()
        .await
        .expect("json");
    let refresh = tokens_2["refresh_token"].as_str().expect("refresh token");
    let refreshed = app
        .token(
            &app.basic,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    let (status, error, description) = error_of(
        app.token(
            &app.basic,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await,
    )
    .await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert!(
        description.starts_with("refresh token was already used"),
        "{description}"
    );

    let revoked = tokens["refresh_token"].as_str().expect("refresh token");
    let (_, error, description) = error_of(
        app.token(
            &app.basic,
            &[("grant_type", "refresh_token"), ("refresh_token", revoked)],
        )
        .await,
    )
    .await;
    assert_eq!(error, "invalid_grant");
    assert_eq!(description, "refresh token is unknown, expired or revoked");
    app.stop().await;
}

/// Refresh tokens carry 256 random bits after their issue time and nothing a client could read or forge (no grant,
/// client or user id); each rotation gives a new unpredictable value, and a value altered by one character is refused.
#[tokio::test]
async fn refresh_tokens_are_random_values_after_their_issue_time() {
    let app = TestApp::spawn().await;
    let user = app.create_user("rafe").await;
    let cookie = app.sign_in(&user).await;
    let mut params = app.params(&app.basic, Mode::Query);
    set(&mut params, "scope", "openid offline_access");
    let callback = app.authorize_ok(&params, &cookie, Mode::Query).await;
    let tokens: Value = app
        .redeem(&app.basic, &callback.get("code").expect("code"))
        .await
        .json()
        .await
        .expect("json");
    let mut refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let issued_at = app.clock.now().unix_timestamp_nanos() / 1_000;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..3 {
        let raw = URL_SAFE_NO_PAD.decode(&refresh).expect("base64url");
        assert_eq!(raw.len(), 40, "{refresh}");
        let time = u64::from_be_bytes(raw[..8].try_into().expect("8 bytes"));
        assert_eq!(i128::from(time), issued_at, "the prefix is the issue time");
        assert!(seen.insert(raw[8..].to_vec()), "random part repeated");
        for id in [app.basic.id.as_str(), "rafe", user.as_str()] {
            assert!(!refresh.contains(id), "{refresh} names {id}");
        }
        let mut forged = refresh.clone().into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).expect("ascii");
        let refused = app
            .token(
                &app.basic,
                &[("grant_type", "refresh_token"), ("refresh_token", &forged)],
            )
            .await;
        assert_eq!(refused.status(), 400, "a forged refresh token is refused");
        let next: Value = app
            .token(
                &app.basic,
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            )
            .await
            .json()
            .await
            .expect("json");
        refresh = next["refresh_token"].as_str().expect("rotated").to_owned();
    }
    app.stop().await;
}

#[tokio::test]
async fn replayed_client_assertion_is_invalid_client() {
    let app = TestApp::spawn().await;
    let key = SigningKey::generate(SigningAlg::Es256).expect("key");
    let jwks = JwkSet {
        keys: vec![key.public_jwk().clone()],
    };
    let client_id = ClientId::parse("jwt-client").expect("client id");
    let now = app.clock.now();
    app.state
        .provider
        .store
        .create_client(&tessera_store::Client {
            tenant: app.tenant.clone(),
            client_id: client_id.clone(),
            display_name: "JWT RP".into(),
            secret_hash: None,
            redirect_uris: vec![crate::helpers::REDIRECT.into()],
            post_logout_redirect_uris: vec![],
            token_endpoint_auth_method: "private_key_jwt".into(),
            id_token_signed_response_alg: "ES256".into(),
            jwks: Some(serde_json::to_value(&jwks).expect("jwks")),
            allowed_scopes: vec!["openid".into()],
            created_at: now,
        })
        .await
        .expect("client");
    let assertion = sign_jwt(
        &key,
        &json!({
            "iss": "jwt-client", "sub": "jwt-client", "aud": format!("{}/token", app.issuer),
            "jti": random(20), "iat": now.unix_timestamp(), "exp": now.unix_timestamp() + 120,
        }),
    )
    .expect("assertion");
    let send = async || {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "authorization_code"),
                ("code", "never-issued"),
                ("redirect_uri", crate::helpers::REDIRECT),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.as_str()),
            ])
            .finish();
        app.http
            .post(format!("{}/token", app.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("token")
    };
    // The first use authenticates the client (and fails on the code); the second is a replay.
    let (_, error, _) = error_of(send().await).await;
    assert_eq!(error, "invalid_grant");
    let (status, error, description) = error_of(send().await).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    assert_eq!(description, "client assertion was already used");
    app.stop().await;
}
