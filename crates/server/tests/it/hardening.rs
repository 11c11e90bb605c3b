//! Issue 13's security rules, one test named after each, end to end over HTTP.

use serde_json::Value;
use tessera_core::Clock;

use crate::helpers::{Mode, TestApp, TestClient, set};

/// A token request authenticated exactly as given: `basic` sends the secret in `Authorization: Basic`, otherwise
/// in the form.
async fn token_as(
    app: &TestApp,
    client: &TestClient,
    basic: bool,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(String, String)> = form
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    let secret = client.secret.clone().expect("confidential client");
    let mut request = app.http.post(format!("{}/token", app.issuer));
    if basic {
        request = request.basic_auth(&client.id, Some(&secret));
    } else {
        form.push(("client_id".into(), client.id.clone()));
        form.push(("client_secret".into(), secret));
    }
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    request
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("token")
}

#[tokio::test]
async fn token_endpoint_auth_method_is_enforced() {
    let app = TestApp::spawn().await;
    let user = app.create_user("meth").await;
    let cookie = app.sign_in(&user).await;
    for (client, basic) in [(&app.basic, false), (&app.post, true)] {
        let params = app.params(client, Mode::Query);
        let callback = app.authorize_ok(&params, &cookie, Mode::Query).await;
        let code = callback.get("code").expect("code");
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
        ];
        let refused = token_as(&app, client, basic, &form).await;
        assert_eq!(refused.status(), 401, "{} with the other method", client.id);
        let body: Value = refused.json().await.expect("json");
        assert_eq!(body["error"], "invalid_client");
        // The registered method works (with a fresh code: the refused request did not spend this one).
        let accepted = token_as(&app, client, !basic, &form).await;
        assert_eq!(accepted.status(), 200, "{} with its own method", client.id);
    }
    app.stop().await;
}

/// Tokens (with `offline_access`) for `client` from a session of `cookie`.
async fn tokens_for(app: &TestApp, client: &TestClient, cookie: &str) -> Value {
    let mut params = app.params(client, Mode::Query);
    set(&mut params, "scope", "openid offline_access");
    let callback = app.authorize_ok(&params, cookie, Mode::Query).await;
    let code = callback.get("code").expect("code");
    let response = app.redeem(client, &code).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

async fn userinfo_status(app: &TestApp, access_token: &str) -> u16 {
    app.http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("userinfo")
        .status()
        .as_u16()
}

async fn refresh_status(app: &TestApp, client: &TestClient, refresh_token: &str) -> u16 {
    app.token(
        client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
    .status()
    .as_u16()
}

async fn account_status(app: &TestApp, cookie: &str) -> u16 {
    let path = format!("/{}/account", app.tenant);
    app.get(&path, Some(cookie)).await.status().as_u16()
}

#[tokio::test]
async fn deleting_a_passkey_ends_its_sessions_and_revokes_its_tokens() {
    let app = TestApp::spawn().await;
    let user = app.create_user("stolen").await;
    let store = app.state.provider.store.clone();
    let stolen = store
        .list_credentials(&app.tenant, &user)
        .await
        .expect("credentials")[0]
        .credential_id
        .clone();
    // The thief's session and tokens come from the stolen passkey...
    let thief = app.sign_in(&user).await;
    let thief_tokens = tokens_for(&app, &app.basic, &thief).await;
    // ...the user's from another passkey, added later.
    let mut kept = store
        .list_credentials(&app.tenant, &user)
        .await
        .expect("credentials")[0]
        .clone();
    kept.credential_id = b"kept-passkey".to_vec();
    store.add_credential(&kept).await.expect("add");
    let owner_session = {
        // A session signed in with the kept passkey.
        let mut facts = tessera_oidc::id_token::AuthenticationFacts {
            user_verified: true,
            backup_eligible: true,
            attestation_trusted: false,
        };
        facts.user_verified = true;
        let (cookie, _) = app.sign_in_with(&user, facts).await;
        cookie
    };
    let session_key = |cookie: &str| {
        let token = cookie.split_once('=').expect("cookie").1.to_owned();
        tessera_service::handles::storage_key(&token)
    };
    // Bind the second session to the kept passkey, as a sign-in with it records.
    let mut record = store
        .get_session(&app.tenant, &session_key(&owner_session), app.clock.now())
        .await
        .expect("get")
        .expect("session");
    store
        .delete_session(&app.tenant, &record.id_hash)
        .await
        .expect("delete");
    record.credential_id = Some(kept.credential_id.clone());
    store.create_session(&record).await.expect("session");
    let owner_tokens = tokens_for(&app, &app.basic, &owner_session).await;

    for (cookie, tokens) in [(&thief, &thief_tokens), (&owner_session, &owner_tokens)] {
        assert_eq!(account_status(&app, cookie).await, 200);
        let access = tokens["access_token"].as_str().expect("at");
        assert_eq!(userinfo_status(&app, access).await, 200);
    }

    // The user removes the stolen passkey.
    let session = store
        .get_session(&app.tenant, &record.id_hash, app.clock.now())
        .await
        .expect("get")
        .expect("session");
    tessera_service::provider::account::delete_passkey(
        store.as_ref(),
        &app.tenant,
        &session,
        &stolen,
        tessera_service::provider::account::Sensitive {
            window: time::Duration::minutes(5),
            now: app.clock.now(),
        },
    )
    .await
    .expect("delete the stolen passkey");

    // The thief is out at once: session, access token, refresh token.
    assert_eq!(account_status(&app, &thief).await, 303, "session ended");
    let thief_access = thief_tokens["access_token"].as_str().expect("at");
    assert_eq!(userinfo_status(&app, thief_access).await, 401);
    let thief_refresh = thief_tokens["refresh_token"].as_str().expect("rt");
    assert_eq!(refresh_status(&app, &app.basic, thief_refresh).await, 400);
    // The user keeps what came from the other passkey.
    assert_eq!(account_status(&app, &owner_session).await, 200);
    let access = owner_tokens["access_token"].as_str().expect("at");
    assert_eq!(userinfo_status(&app, access).await, 200);
    let refresh = owner_tokens["refresh_token"].as_str().expect("rt");
    assert_eq!(refresh_status(&app, &app.basic, refresh).await, 200);
    app.stop().await;
}

async fn revoke(app: &TestApp, client: &TestClient, form: &[(&str, &str)]) -> reqwest::Response {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut request = app
        .http
        .post(format!("{}/revoke", app.issuer))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(secret) = &client.secret {
        request = request.basic_auth(&client.id, Some(secret));
    }
    request.send().await.expect("revoke")
}

#[tokio::test]
async fn token_revocation_revokes_the_family_requires_client_authentication_and_answers_unknown_tokens_200()
 {
    let app = TestApp::spawn().await;
    let user = app.create_user("rev").await;
    let cookie = app.sign_in(&user).await;

    let discovery: Value = app
        .get(
            &format!("/{}/oidc/.well-known/openid-configuration", app.tenant),
            None,
        )
        .await
        .json()
        .await
        .expect("discovery");
    assert_eq!(
        discovery["revocation_endpoint"],
        format!("{}/revoke", app.issuer)
    );

    let tokens = tokens_for(&app, &app.basic, &cookie).await;
    let refresh = tokens["refresh_token"].as_str().expect("rt");
    let access = tokens["access_token"].as_str().expect("at");
    // Rotate once: the family now has a newer refresh token; revoking the old value (spent) still finds it.
    let rotated: Value = app
        .token(
            &app.basic,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await
        .json()
        .await
        .expect("json");
    let newest = rotated["refresh_token"].as_str().expect("rt");
    let newest_access = rotated["access_token"].as_str().expect("at");

    // Without client authentication: refused, nothing revoked.
    let anonymous = app
        .http
        .post(format!("{}/revoke", app.issuer))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={newest}"))
        .send()
        .await
        .expect("revoke");
    assert_eq!(anonymous.status(), 401);
    assert_eq!(userinfo_status(&app, newest_access).await, 200);

    // Another client cannot revoke this client's token: answered 200, nothing revoked.
    let secret = app.post.secret.clone().expect("secret");
    let foreign = app
        .http
        .post(format!("{}/revoke", app.issuer))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("token", newest),
                    ("client_id", app.post.id.as_str()),
                    ("client_secret", secret.as_str()),
                ])
                .finish(),
        )
        .send()
        .await
        .expect("revoke");
    assert_eq!(foreign.status(), 200);
    assert_eq!(userinfo_status(&app, newest_access).await, 200);

    // Unknown tokens: 200.
    let unknown = revoke(&app, &app.basic, &[("token", "never-issued")]).await;
    assert_eq!(unknown.status(), 200);
    let missing = revoke(&app, &app.basic, &[]).await;
    assert_eq!(missing.status(), 400);

    // Revoking the first refresh token revokes its family: every refresh and access token of it.
    let revoked = revoke(
        &app,
        &app.basic,
        &[("token", refresh), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(revoked.headers()["cache-control"], "no-store");
    assert_eq!(userinfo_status(&app, access).await, 401);
    assert_eq!(userinfo_status(&app, newest_access).await, 401);
    assert_eq!(refresh_status(&app, &app.basic, newest).await, 400);
    // Revoking again: still 200.
    assert_eq!(
        revoke(&app, &app.basic, &[("token", refresh)])
            .await
            .status(),
        200
    );

    // An access token revokes its grant too.
    let tokens = tokens_for(&app, &app.basic, &cookie).await;
    let access = tokens["access_token"].as_str().expect("at");
    assert_eq!(
        revoke(&app, &app.basic, &[("token", access)])
            .await
            .status(),
        200
    );
    assert_eq!(userinfo_status(&app, access).await, 401);
    let refresh = tokens["refresh_token"].as_str().expect("rt");
    assert_eq!(refresh_status(&app, &app.basic, refresh).await, 400);
    app.stop().await;
}

#[tokio::test]
async fn liveness_answers_and_readiness_follows_the_store() {
    let app = TestApp::spawn().await;
    let live = app.get("/healthz", None).await;
    assert_eq!(live.status(), 200);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), 200);
    // The store goes away: still alive, no longer ready, and told when to ask again.
    app.close_store().await;
    assert_eq!(app.get("/healthz", None).await.status(), 200);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.headers()["retry-after"], "5");
    app.stop().await;
}

/// A NUL byte (and other text no identifier has) in a client-supplied identifier is "not found or expired", never a
/// store error, on both stores.
async fn nul_bytes_in_identifiers_on(app: TestApp) {
    let tenant = app.tenant.to_string();
    let base = app.base.clone();
    let post = |path: String, body: Value| {
        let app = &app;
        let base = base.clone();
        async move {
            // A page first, for the CSRF cookie and token.
            let page = app.get(&format!("/{}/login", app.tenant), None).await;
            let cookie = page
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|c| c.starts_with("__Host-tessera-csrf-"))
                .expect("csrf cookie")
                .split(';')
                .next()
                .expect("pair")
                .to_owned();
            let token = cookie.split_once('=').expect("pair").1.to_owned();
            app.http
                .post(format!("{base}{path}"))
                .header("origin", base.as_str())
                .header("cookie", cookie)
                .header("x-csrf-token", token)
                .json(&body)
                .send()
                .await
                .expect("post")
        }
    };
    for ceremony in ["a\u{0}b", "\u{0}", "x\u{fffd}y", "../../etc"] {
        for path in ["webauthn/login/verify", "webauthn/register/verify"] {
            let response = post(
                format!("/{tenant}/{path}"),
                serde_json::json!({"ceremony": ceremony, "credential": {}}),
            )
            .await;
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("json");
            assert_eq!(status, 400, "{path} {ceremony:?}: {body}");
            assert_eq!(body["error"], "ceremony_expired", "{path} {ceremony:?}");
        }
    }
    for authz in ["%00", "a%00b", "%C3%28"] {
        let resume = app
            .get(
                &format!("/{tenant}/oidc/authorize/resume?authz={authz}"),
                None,
            )
            .await;
        assert_ne!(resume.status().as_u16(), 503, "resume {authz}");
        assert!(
            resume.status().is_client_error() || resume.status().is_success(),
            "resume {authz}"
        );
        let login = app
            .get(&format!("/{tenant}/login?authz={authz}"), None)
            .await;
        assert_ne!(login.status().as_u16(), 503, "login {authz}");
    }
    app.stop().await;
}

#[tokio::test]
async fn nul_bytes_in_identifiers_are_not_found_never_a_store_error_on_sqlite() {
    nul_bytes_in_identifiers_on(TestApp::spawn().await).await;
}

#[tokio::test]
async fn nul_bytes_in_identifiers_are_not_found_never_a_store_error_on_postgres() {
    let Some(app) = TestApp::spawn_on(crate::helpers::Backend::Postgres).await else {
        eprintln!("skipped: TEST_PG_URL is not set");
        return;
    };
    nul_bytes_in_identifiers_on(app).await;
}

#[tokio::test]
async fn store_outage_answers_503_with_retry_after_on_every_endpoint() {
    let app = TestApp::spawn().await;
    let user = app.create_user("outage").await;
    let cookie = app.sign_in(&user).await;
    let tokens = tokens_for(&app, &app.basic, &cookie).await;
    app.close_store().await;
    let token = app.redeem(&app.basic, "whatever").await;
    let userinfo = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(tokens["access_token"].as_str().expect("at"))
        .send()
        .await
        .expect("userinfo");
    let account = app
        .get(&format!("/{}/account", app.tenant), Some(&cookie))
        .await;
    for (what, response) in [
        ("token", token),
        ("userinfo", userinfo),
        ("account", account),
    ] {
        assert_eq!(response.status(), 503, "{what}");
        assert!(response.headers().get("retry-after").is_some(), "{what}");
    }
    app.stop().await;
}

#[tokio::test]
async fn unlinked_sqlite_database_fails_readiness_and_refuses_writes() {
    let app = TestApp::spawn().await;
    let user = app.create_user("unlinked").await;
    assert_eq!(app.get("/readyz", None).await.status(), 200);
    let path = app.sqlite_path().expect("sqlite");
    std::fs::remove_file(&path).expect("unlink the database file");
    // Not ready, and no write is acknowledged into the unlinked file: a sign-in's session is refused with 503.
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), 503);
    let session = app
        .state
        .provider
        .store
        .create_session(&tessera_store::Session {
            id_hash: vec![7; 32],
            tenant: app.tenant.clone(),
            user_id: user,
            sid: "after-unlink".into(),
            auth_time: app.clock.now(),
            user_verified: true,
            backup_eligible: false,
            attestation_trusted: false,
            credential_id: None,
            last_seen_at: app.clock.now(),
            expires_at: app.clock.now() + time::Duration::hours(1),
        })
        .await;
    assert!(
        matches!(session, Err(tessera_store::StoreError::Unavailable(_))),
        "{session:?}"
    );
    app.stop().await;
}
