//! The log lines an operator relies on, captured as JSON from a global subscriber: one line per sign-up, sign-in and
//! refused request (unknown client, unregistered redirect URI, failed assertion with its check, bad client secret,
//! rate limit), each with the tenant, the client and the request id; the client's `X-Request-Id` kept when sane; and
//! never a code, token, secret or cookie value in any line.

use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};
use tessera_http::RateRule;
use tessera_testkit::SoftAuthenticator;

use crate::helpers::{AppOptions, Mode, TestApp, read_callback, set, spawn_app};
use crate::passkey::{Browser, Jar, authz_of};

/// Everything logged since the subscriber was installed, one JSON object per line.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    fn lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The lines with `message` whose fields include all of `expected`.
    fn find(&self, message: &str, expected: &[(&str, &str)]) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| l["message"] == message)
            .filter(|l| {
                expected.iter().all(|(k, v)| match *k {
                    "request_id" => l["span"]["request_id"] == *v,
                    _ => l[*k].as_str() == Some(*v),
                })
            })
            .collect()
    }
}

/// The process's one subscriber (the first caller installs it): JSON lines as `log.format = "json"` writes them.
fn captured() -> Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let _ = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter("info")
            .with_writer(logs.clone())
            .try_init();
        logs
    })
    .clone()
}

/// A pages JSON call that may be refused: its status and body.
async fn call_raw(browser: &mut Browser<'_>, path: &str, body: Value) -> (u16, Value) {
    let response = browser
        .app
        .http
        .post(format!("{}{path}", browser.app.base))
        .header("origin", browser.app.base.as_str())
        .header("cookie", browser.jar.header())
        .header(tessera_http::csrf::CSRF_HEADER, browser.jar.csrf())
        .json(&body)
        .send()
        .await
        .expect("call");
    browser.jar.absorb(&response);
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_sign_in_and_refusals_log_one_line_each_and_never_a_secret() {
    let logs = captured();
    let app = TestApp::spawn().await;
    let tenant = app.tenant.to_string();
    let client = app.basic.id.clone();
    let authenticator = SoftAuthenticator::new();
    let mut browser = Browser {
        app: &app,
        jar: Jar::default(),
    };
    let params = app.params(&app.basic, Mode::Query);
    let mut secrets: Vec<String> = vec![app.basic.secret.clone().expect("secret")];

    // Sign-up for the client's authorization request.
    let authz = authz_of(&app.authorize(&params, None).await);
    secrets.push(authz.clone());
    browser.get(&format!("/acme/signup?authz={authz}")).await;
    let options = browser
        .call(
            "/acme/webauthn/register/options",
            json!({"username": "lena", "display_name": "Lena", "email": "lena@example.com", "authz": authz}),
        )
        .await;
    let credential = authenticator
        .register(&options["publicKey"].to_string(), &app.base)
        .expect("register");
    let credential: Value = serde_json::from_str(&credential).expect("json");
    let done = browser
        .call(
            "/acme/webauthn/register/verify",
            json!({"ceremony": options["ceremony"], "credential": credential}),
        )
        .await;
    let signed_up = logs.find("signed up", &[("tenant", &tenant), ("client", &client)]);
    assert_eq!(signed_up.len(), 1, "{}", logs.text());
    assert!(
        signed_up[0]["span"]["request_id"]
            .as_str()
            .is_some_and(|id| id.len() == 16),
        "{}",
        signed_up[0]
    );
    assert_eq!(signed_up[0]["level"], "INFO");
    let callback = read_callback(
        browser.get(done["next"].as_str().expect("next")).await,
        Mode::Query,
    )
    .await;
    let code = callback.get("code").expect("code");
    let tokens: Value = app
        .redeem(&app.basic, &code)
        .await
        .json()
        .await
        .expect("tokens");
    secrets.push(code);
    for name in ["access_token", "id_token"] {
        secrets.push(tokens[name].as_str().expect("token").to_owned());
    }

    // Sign-in again (prompt=login), then an assertion made for another origin: refused, naming the check.
    let mut again = params.clone();
    set(&mut again, "prompt", "login");
    let authz = authz_of(&app.authorize(&again, Some(&browser.jar.header())).await);
    browser.get(&format!("/acme/login?authz={authz}")).await;
    let options = browser
        .call(
            "/acme/webauthn/login/options",
            json!({"username": "lena", "authz": authz}),
        )
        .await;
    let forged = authenticator
        .authenticate(&options["publicKey"].to_string(), "http://evil.localhost:9")
        .expect("sign for the wrong origin");
    let forged: Value = serde_json::from_str(&forged).expect("json");
    let (status, _) = call_raw(
        &mut browser,
        "/acme/webauthn/login/verify",
        json!({"ceremony": options["ceremony"], "credential": forged}),
    )
    .await;
    assert_eq!(status, 400);
    // The client hears one refusal for every failed check (account enumeration protection); the log names the
    // check: the refusal line, and the service's line with the precise reason.
    let refused = logs.find(
        "request refused",
        &[
            ("tenant", &tenant),
            ("route", "/{tenant}/webauthn/login/verify"),
        ],
    );
    assert!(
        refused.iter().any(|l| l["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("passkey_refused: "))),
        "{}",
        logs.text()
    );
    let precise = logs.find(
        "passkey refused (answered without the reason)",
        &[("tenant", &tenant)],
    );
    assert!(
        precise.iter().any(|l| l["error"]
            .as_str()
            .is_some_and(|e| e.contains("origin") && e.contains("evil.localhost"))),
        "{}",
        logs.text()
    );
    let options = browser
        .call(
            "/acme/webauthn/login/options",
            json!({"username": "lena", "authz": authz}),
        )
        .await;
    let assertion = authenticator
        .authenticate(&options["publicKey"].to_string(), &app.base)
        .expect("sign");
    let assertion: Value = serde_json::from_str(&assertion).expect("json");
    browser
        .call(
            "/acme/webauthn/login/verify",
            json!({"ceremony": options["ceremony"], "credential": assertion}),
        )
        .await;
    assert_eq!(
        logs.find("signed in", &[("tenant", &tenant), ("client", &client)])
            .len(),
        1,
        "{}",
        logs.text()
    );
    for (name, value) in &browser.jar.0 {
        secrets.push(format!("{name}={value}"));
        secrets.push(value.clone());
    }

    // An unknown client and an unregistered redirect URI: refused pages, logged with the client and request id.
    let mut unknown = params.clone();
    set(&mut unknown, "client_id", "no-such-client");
    let response = app
        .http
        .get(format!("{}/authorize", app.issuer))
        .query(&unknown)
        .header("x-request-id", "trace-42.a")
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["x-request-id"], "trace-42.a");
    let lines = logs.find(
        "request refused",
        &[
            ("client", "no-such-client"),
            ("reason", "invalid_request: unknown client"),
            ("request_id", "trace-42.a"),
            ("tenant", &tenant),
        ],
    );
    assert_eq!(lines.len(), 1, "{}", logs.text());
    assert_eq!(lines[0]["level"], "WARN");
    let mut elsewhere = params.clone();
    set(
        &mut elsewhere,
        "redirect_uri",
        "https://attacker.example/cb",
    );
    let response = app
        .http
        .get(format!("{}/authorize", app.issuer))
        .query(&elsewhere)
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), 400);
    let echoed = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_ne!(echoed, "bad id with spaces", "an unusable id is replaced");
    assert_eq!(
        logs.find(
            "request refused",
            &[
                ("client", &client),
                ("request_id", &echoed),
                (
                    "reason",
                    "invalid_request: redirect_uri is not registered for this client"
                )
            ]
        )
        .len(),
        1,
        "{}",
        logs.text()
    );

    // A wrong client secret at the token endpoint.
    let mut wrong = app.basic.clone();
    wrong.secret = Some("not-the-secret".into());
    let response = app.redeem(&wrong, "some-code").await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        logs.find(
            "request refused",
            &[
                ("client", &client),
                ("reason", "invalid_client"),
                ("route", "/{tenant}/oidc/token")
            ]
        )
        .len(),
        1,
        "{}",
        logs.text()
    );

    let text = logs.text();
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret value is in the logs: {secret}"
        );
    }
    assert!(!text.contains("not-the-secret"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_request_is_logged_once() {
    let logs = captured();
    let options = AppOptions {
        tenant: "ratelimited".into(),
        security: tessera_http::SecuritySettings {
            token_rate: RateRule::per_minute(1, 1),
            ..Default::default()
        },
        ..AppOptions::default()
    };
    let app = spawn_app(options).await.expect("app");
    for _ in 0..3 {
        app.redeem(&app.basic, "nothing").await;
    }
    let lines = logs.find(
        "request refused",
        &[
            ("tenant", "ratelimited"),
            ("reason", "rate_limited"),
            ("client", &app.basic.id),
        ],
    );
    assert_eq!(lines.len(), 2, "{}", logs.text());
    assert_eq!(lines[0]["status"], 429);
    app.stop().await;
}
