//! Complete flows through the passkey pages with a software authenticator (`tessera-testkit`): authorize → sign-up
//! (or sign-in) with a passkey → resume → code → tokens, on SQLite and, when `TEST_PG_URL` is set, on PostgreSQL.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tessera_testkit::SoftAuthenticator;

use crate::helpers::{Backend, Mode, TestApp, read_callback, set};

/// A tiny cookie jar: name → value, from `Set-Cookie` headers.
#[derive(Default)]
pub(crate) struct Jar(pub(crate) BTreeMap<String, String>);

impl Jar {
    pub(crate) fn absorb(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all("set-cookie") {
            let Ok(text) = value.to_str() else { continue };
            let Some((name, rest)) = text.split_once('=') else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or_default();
            if value.is_empty() || text.contains("Max-Age=0") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    pub(crate) fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(crate) fn csrf(&self) -> String {
        self.0
            .get(&tessera_http::csrf::cookie_name(
                &tessera_core::TenantId::parse(tessera_testkit::app::TENANT).expect("tenant"),
            ))
            .cloned()
            .expect("csrf cookie")
    }
}

/// A browser: the app, and the cookies it was given.
pub(crate) struct Browser<'a> {
    pub(crate) app: &'a TestApp,
    pub(crate) jar: Jar,
}

impl Browser<'_> {
    pub(crate) async fn get(&mut self, path: &str) -> reqwest::Response {
        let response = self.app.get(path, Some(&self.jar.header())).await;
        self.jar.absorb(&response);
        response
    }

    /// A JSON call of the pages' script: same-origin, with the CSRF header.
    pub(crate) async fn call(&mut self, path: &str, body: Value) -> Value {
        let response = self
            .app
            .http
            .post(format!("{}{path}", self.app.base))
            .header("origin", self.app.base.as_str())
            .header("cookie", self.jar.header())
            .header(tessera_http::csrf::CSRF_HEADER, self.jar.csrf())
            .json(&body)
            .send()
            .await
            .expect("call");
        self.jar.absorb(&response);
        let status = response.status();
        let json: Value = response.json().await.expect("json");
        assert!(status.is_success(), "{path}: {status} {json}");
        json
    }
}

pub(crate) fn authz_of(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().expect("ascii");
    location.split("authz=").nth(1).expect("authz").to_owned()
}

async fn passkey_flows(app: &TestApp) {
    let authenticator = SoftAuthenticator::new();
    let mut browser = Browser {
        app,
        jar: Jar::default(),
    };
    let params = app.params(&app.basic, Mode::Query);

    // 1. An authorization request without a session goes to the sign-in page; the user signs up instead.
    let authz = authz_of(&app.authorize(&params, None).await);
    let page = browser.get(&format!("/acme/signup?authz={authz}")).await;
    assert_eq!(page.status(), 200);
    let options = browser
        .call(
            "/acme/webauthn/register/options",
            json!({"username": "erin", "display_name": "Erin", "email": "erin@example.com", "authz": authz}),
        )
        .await;
    let credential = authenticator
        .register(&options["publicKey"].to_string(), &app.base)
        .expect("the authenticator creates a passkey");
    let credential: Value = serde_json::from_str(&credential).expect("json");
    let done = browser
        .call(
            "/acme/webauthn/register/verify",
            json!({"ceremony": options["ceremony"], "credential": credential}),
        )
        .await;
    let next = done["next"].as_str().expect("next").to_owned();
    assert!(
        next.starts_with("/acme/oidc/authorize/resume?authz="),
        "{next}"
    );
    let callback = read_callback(browser.get(&next).await, Mode::Query).await;
    assert_eq!(callback.get("state").as_deref(), Some("st-123"));
    let tokens: Value = app
        .redeem(&app.basic, &callback.get("code").expect("code"))
        .await
        .json()
        .await
        .expect("json");
    let (_, first) = app
        .verify_id_token(tokens["id_token"].as_str().expect("id token"))
        .await;
    assert_eq!(first["preferred_username"], "erin");
    assert!(
        first["amr"]
            .as_array()
            .is_some_and(|a| a.iter().any(|m| m == "mfa")),
        "UV → mfa"
    );

    // 2. prompt=login: the same user signs in again, username first, with the passkey.
    let mut again = params.clone();
    set(&mut again, "prompt", "login");
    let authz = authz_of(&app.authorize(&again, Some(&browser.jar.header())).await);
    let page = browser.get(&format!("/acme/login?authz={authz}")).await;
    assert_eq!(page.status(), 200);
    let options = browser
        .call(
            "/acme/webauthn/login/options",
            json!({"username": "erin", "authz": authz}),
        )
        .await;
    let assertion = authenticator
        .authenticate(&options["publicKey"].to_string(), &app.base)
        .expect("the authenticator signs");
    let assertion: Value = serde_json::from_str(&assertion).expect("json");
    let done = browser
        .call(
            "/acme/webauthn/login/verify",
            json!({"ceremony": options["ceremony"], "credential": assertion}),
        )
        .await;
    let callback = read_callback(
        browser.get(done["next"].as_str().expect("next")).await,
        Mode::Query,
    )
    .await;
    let tokens: Value = app
        .redeem(&app.basic, &callback.get("code").expect("code"))
        .await
        .json()
        .await
        .expect("json");
    let (_, second) = app
        .verify_id_token(tokens["id_token"].as_str().expect("id token"))
        .await;
    assert_eq!(second["sub"], first["sub"], "the same user");

    // 3. prompt=none now succeeds silently with the session the pages created.
    let mut silent = params.clone();
    set(&mut silent, "prompt", "none");
    let callback = app
        .authorize_ok(&silent, &browser.jar.header(), Mode::Query)
        .await;
    assert!(callback.get("code").is_some());
}

#[tokio::test]
async fn passkey_sign_up_and_sign_in_complete_the_code_flow() {
    let app = TestApp::spawn().await;
    passkey_flows(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn passkey_flows_on_postgres() {
    let Some(app) = TestApp::spawn_on(Backend::Postgres).await else {
        return;
    };
    passkey_flows(&app).await;
    app.stop().await;
}
