//! The tenant's authenticator policy and the service's attestation trust, applied by the sign-up and account pages:
//! trusted attestation against configured roots and a FIDO MDS3 BLOB, AAGUID lists, certification levels, the
//! configurable fresh-verification window, and names with control characters. The real application
//! (`tessera_testkit::spawn_app`, SQLite, public URL `http://localhost:8080`) driven over HTTP.
//!
//! Tests are named after the rule they check.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tessera_core::{FixedClock, TenantId};
use tessera_http::state::AttestationSettings;
use tessera_http::{AppState, SecuritySettings};
use tessera_service::tenants::{self as ops, PolicyChange, TenantUpdate};
use tessera_testkit::{
    AppOptions, Attestation, MaliciousAuthenticator, MdsEntry, TestApp, TestCa, spawn_app,
};
use tessera_webauthn::mds::MetadataBlob;
use tessera_webauthn::{Aaguid, AttestationPolicy, CertificationLevel};

const ORIGIN: &str = "http://localhost:8080";
const TENANT: &str = "mytenant";
const MODEL: [u8; 16] = [0x42; 16];

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

#[derive(Default)]
struct Browser {
    cookies: HashMap<String, String>,
    csrf: String,
}

struct Reply {
    status: StatusCode,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

async fn app_with(security: SecuritySettings, trust: AttestationSettings) -> App {
    let app = spawn_app(AppOptions {
        tenant: TENANT.into(),
        tenant_display_name: Some("My Tenant".into()),
        public_url: Some(ORIGIN.into()),
        start: Some(start_time()),
        security,
        attestation: trust,
        ..AppOptions::default()
    })
    .await
    .unwrap_or_else(|| panic!("sqlite app"));
    App {
        state: app.state.clone(),
        clock: app.clock.clone(),
        tenant: app.tenant.clone(),
        app,
    }
}

async fn app(trust: AttestationSettings) -> App {
    app_with(SecuritySettings::default(), trust).await
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
        for cookie in response.headers().get_all(header::SET_COOKIE) {
            let text = cookie.to_str().unwrap_or_default();
            let first = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = first.split_once('=') {
                if value.is_empty() || text.contains("Max-Age=0") {
                    browser.cookies.remove(name);
                } else {
                    browser.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let bytes = response.bytes().await.unwrap_or_default();
        let body = String::from_utf8_lossy(&bytes).into_owned();
        let marker = "name=\"csrf-token\" content=\"";
        if let Some(start) = body.find(marker).map(|i| i + marker.len())
            && let Some(end) = body[start..].find('"')
        {
            browser.csrf = body[start..start + end].to_owned();
        }
        Reply { status, body }
    }

    fn cookies(browser: &Browser) -> String {
        browser
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn get(&self, browser: &mut Browser, path: &str) -> Reply {
        let request = Request::get(path)
            .header(header::COOKIE, Self::cookies(browser))
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        self.send(browser, request).await
    }

    async fn post_json(&self, browser: &mut Browser, path: &str, body: &Value) -> Reply {
        let request = Request::post(path)
            .header(header::COOKIE, Self::cookies(browser))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ORIGIN, ORIGIN)
            .header("x-csrf-token", browser.csrf.clone())
            .body(Body::from(body.to_string()))
            .unwrap_or_else(|e| panic!("{e}"));
        self.send(browser, request).await
    }

    /// Sign-up options for `username`, answered by `authenticator`: (options reply, verify reply).
    async fn sign_up(
        &self,
        browser: &mut Browser,
        username: &str,
        authenticator: &MaliciousAuthenticator,
    ) -> (Value, Reply) {
        self.get(browser, "/mytenant/signup").await;
        let options = self
            .post_json(
                browser,
                "/mytenant/webauthn/register/options",
                &json!({"username": username, "display_name": "Test User"}),
            )
            .await;
        assert_eq!(options.status, StatusCode::OK, "{}", options.body);
        let options = options.json();
        let (response, _) = authenticator
            .register(&options["publicKey"].to_string(), ORIGIN)
            .unwrap_or_else(|e| panic!("{e}"));
        let response: Value = serde_json::from_str(&response).unwrap_or_else(|e| panic!("{e}"));
        let verify = self
            .post_json(
                browser,
                "/mytenant/webauthn/register/verify",
                &json!({"ceremony": options["ceremony"], "credential": response}),
            )
            .await;
        (options, verify)
    }

    async fn set_policy(&self, change: PolicyChange) {
        let update = TenantUpdate {
            policy: change,
            ..TenantUpdate::default()
        };
        ops::update_tenant(self.state.provider.store.as_ref(), &self.tenant, &update)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        self.state.provider.tenants.invalidate(&self.tenant);
    }
}

fn test_ca() -> TestCa {
    TestCa::new("Tessera Test Attestation Root").unwrap_or_else(|e| panic!("{e}"))
}

/// A security key of model [`MODEL`] whose packed attestation certificate `ca` issued.
fn attested_key(ca: &TestCa) -> MaliciousAuthenticator {
    let cert = ca
        .attestation_cert(Some(MODEL))
        .unwrap_or_else(|e| panic!("{e}"));
    MaliciousAuthenticator {
        aaguid: MODEL,
        ..MaliciousAuthenticator::new().with_attestation(Attestation::PackedBasic(Arc::new(cert)))
    }
}

fn anchors(ca: &TestCa) -> AttestationSettings {
    AttestationSettings {
        trust_anchors: vec![ca.root_der().to_vec()],
        metadata: None,
    }
}

/// An MDS3 BLOB signed by `mds_ca` holding one entry for [`MODEL`], rooted at `model_ca`, with `statuses`.
fn metadata(mds_ca: &TestCa, model_ca: &TestCa, statuses: &[&str]) -> Arc<MetadataBlob> {
    let entry = MdsEntry {
        aaguid: MODEL,
        description: "Tessera Test Key".into(),
        attestation_roots: vec![model_ca.root_der().to_vec()],
        status_reports: statuses
            .iter()
            .map(|s| ((*s).to_owned(), "2025-01-01".to_owned()))
            .collect(),
    };
    let jws = mds_ca
        .mds_blob(1, "2027-01-01", &[entry])
        .unwrap_or_else(|e| panic!("{e}"));
    let blob = MetadataBlob::from_jws(jws.as_bytes(), mds_ca.root_der(), start_time())
        .unwrap_or_else(|e| panic!("{e}"));
    Arc::new(blob)
}

fn trusted() -> PolicyChange {
    PolicyChange {
        attestation: Some(AttestationPolicy::Trusted),
        ..PolicyChange::default()
    }
}

fn refusal(reply: &Reply) -> (String, String) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let json = reply.json();
    (
        json["rule"].as_str().unwrap_or_default().to_owned(),
        json["message"].as_str().unwrap_or_default().to_owned(),
    )
}

// ---- attestation trust -----------------------------------------------------------------------------------------

#[tokio::test]
async fn sign_up_options_ask_for_no_attestation_unless_the_tenant_wants_it() {
    let ca = test_ca();
    let app = app(anchors(&ca)).await;
    let mut browser = Browser::default();
    let (options, verify) = app
        .sign_up(&mut browser, "ada", &MaliciousAuthenticator::new())
        .await;
    assert_eq!(options["publicKey"]["attestation"], "none");
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);

    app.set_policy(trusted()).await;
    let (options, _) = app.sign_up(&mut browser, "bea", &attested_key(&ca)).await;
    assert_eq!(options["publicKey"]["attestation"], "direct");
}

#[tokio::test]
async fn trusted_attestation_chained_to_a_configured_root_is_accepted() {
    let ca = test_ca();
    let app = app(anchors(&ca)).await;
    app.set_policy(trusted()).await;
    let mut browser = Browser::default();
    let (_, verify) = app.sign_up(&mut browser, "cleo", &attested_key(&ca)).await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
    let user = app
        .state
        .provider
        .store
        .find_user_by_username(&app.tenant, "cleo")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no user"));
    let credentials = app
        .state
        .provider
        .store
        .list_credentials(&app.tenant, &user.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(credentials.len(), 1);
    assert_eq!(credentials[0].attestation_format, "packed");
    assert_eq!(credentials[0].aaguid, MODEL);
}

#[tokio::test]
async fn trusted_attestation_policy_refuses_none_attestation_in_words() {
    let ca = test_ca();
    let app = app(anchors(&ca)).await;
    app.set_policy(trusted()).await;
    let mut browser = Browser::default();
    let (_, verify) = app
        .sign_up(&mut browser, "dora", &MaliciousAuthenticator::new())
        .await;
    let (rule, message) = refusal(&verify);
    assert!(
        rule == "attestation-required" || rule == "attestation-untrusted",
        "{rule}"
    );
    assert!(message.contains("make and model"), "{message}");
}

#[tokio::test]
async fn trusted_attestation_policy_refuses_self_attestation_in_words() {
    let ca = test_ca();
    let app = app(anchors(&ca)).await;
    app.set_policy(trusted()).await;
    let mut browser = Browser::default();
    let self_attested = MaliciousAuthenticator::new().with_attestation(Attestation::PackedSelf);
    let (_, verify) = app.sign_up(&mut browser, "eli", &self_attested).await;
    let (rule, message) = refusal(&verify);
    assert!(rule.starts_with("attestation-"), "{rule}");
    assert!(message.contains("make and model"), "{message}");
    assert!(
        !message.contains("attestation-"),
        "no rule ids for people: {message}"
    );
}

#[tokio::test]
async fn trusted_attestation_policy_refuses_a_chain_to_an_unconfigured_root() {
    let configured = test_ca();
    let other = test_ca();
    let app = app(anchors(&configured)).await;
    app.set_policy(trusted()).await;
    let mut browser = Browser::default();
    let (_, verify) = app
        .sign_up(&mut browser, "fay", &attested_key(&other))
        .await;
    let (rule, message) = refusal(&verify);
    assert_eq!(rule, "attestation-untrusted");
    assert!(message.contains("could not be confirmed"), "{message}");
}

#[tokio::test]
async fn trusted_attestation_policy_accepts_a_root_found_in_the_mds_blob() {
    let model_ca = test_ca();
    let mds_ca = test_ca();
    let trust = AttestationSettings {
        trust_anchors: Vec::new(),
        metadata: Some(metadata(&mds_ca, &model_ca, &["FIDO_CERTIFIED_L1"])),
    };
    let app = app(trust).await;
    app.set_policy(trusted()).await;
    let mut browser = Browser::default();
    let (_, verify) = app
        .sign_up(&mut browser, "gus", &attested_key(&model_ca))
        .await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
    let account = app.get(&mut browser, "/mytenant/account").await;
    assert!(
        account.body.contains("Tessera Test Key"),
        "a trusted model is named after its metadata description"
    );
}

#[tokio::test]
async fn aaguid_marked_revoked_in_the_mds_blob_is_refused() {
    let model_ca = test_ca();
    let mds_ca = test_ca();
    let trust = AttestationSettings {
        trust_anchors: Vec::new(),
        metadata: Some(metadata(
            &mds_ca,
            &model_ca,
            &["FIDO_CERTIFIED_L1", "REVOKED"],
        )),
    };
    // Status reports apply whatever the tenant's attestation policy: they can only refuse.
    let app = app(trust).await;
    let mut browser = Browser::default();
    let (_, verify) = app
        .sign_up(&mut browser, "hal", &attested_key(&model_ca))
        .await;
    let (rule, message) = refusal(&verify);
    assert_eq!(rule, "authenticator-status-refused");
    assert!(message.contains("known security problem"), "{message}");
}

#[tokio::test]
async fn aaguid_on_the_deny_list_is_refused() {
    let ca = test_ca();
    let app = app(anchors(&ca)).await;
    app.set_policy(PolicyChange {
        aaguid_deny: Some(vec![Aaguid(MODEL)]),
        ..PolicyChange::default()
    })
    .await;
    let mut browser = Browser::default();
    let (_, verify) = app.sign_up(&mut browser, "ivy", &attested_key(&ca)).await;
    let (rule, message) = refusal(&verify);
    assert_eq!(rule, "aaguid-denied");
    assert!(message.contains("does not accept this kind"), "{message}");
    let (_, verify) = app
        .sign_up(&mut browser, "ivy", &MaliciousAuthenticator::new())
        .await;
    assert_eq!(verify.status, StatusCode::OK, "other models still register");
}

#[tokio::test]
async fn aaguid_allow_list_needs_a_trusted_attestation_of_the_model() {
    let ca = test_ca();
    let app = app(anchors(&ca)).await;
    app.set_policy(PolicyChange {
        aaguid_allow: Some(vec![Aaguid(MODEL)]),
        ..PolicyChange::default()
    })
    .await;
    let mut browser = Browser::default();
    let claimed_only = MaliciousAuthenticator {
        aaguid: MODEL,
        ..MaliciousAuthenticator::new()
    };
    let (options, verify) = app.sign_up(&mut browser, "jon", &claimed_only).await;
    assert_eq!(
        options["publicKey"]["attestation"], "direct",
        "an allow-list needs the attestation that proves the model"
    );
    let (rule, _) = refusal(&verify);
    assert_eq!(rule, "aaguid-not-attested");
    let (_, verify) = app.sign_up(&mut browser, "jon", &attested_key(&ca)).await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
}

#[tokio::test]
async fn minimum_certification_level_is_read_from_the_mds_blob() {
    let model_ca = test_ca();
    let mds_ca = test_ca();
    let trust = AttestationSettings {
        trust_anchors: Vec::new(),
        metadata: Some(metadata(&mds_ca, &model_ca, &["FIDO_CERTIFIED_L1"])),
    };
    let app = app(trust).await;
    app.set_policy(PolicyChange {
        minimum_certification_level: Some(Some(CertificationLevel::FidoCertifiedL2)),
        ..PolicyChange::default()
    })
    .await;
    let mut browser = Browser::default();
    let (_, verify) = app
        .sign_up(&mut browser, "kim", &attested_key(&model_ca))
        .await;
    let (rule, message) = refusal(&verify);
    assert_eq!(rule, "certification-level-too-low");
    assert!(message.contains("higher security level"), "{message}");
    app.set_policy(PolicyChange {
        minimum_certification_level: Some(Some(CertificationLevel::FidoCertifiedL1)),
        ..PolicyChange::default()
    })
    .await;
    let (_, verify) = app
        .sign_up(&mut browser, "kim", &attested_key(&model_ca))
        .await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
}

#[tokio::test]
async fn synced_passkeys_denied_by_the_tenant_are_refused() {
    let app = app(AttestationSettings::default()).await;
    app.set_policy(PolicyChange {
        synced_passkeys: Some(tessera_webauthn::SyncedPasskeys::Refuse),
        ..PolicyChange::default()
    })
    .await;
    let mut browser = Browser::default();
    let synced = MaliciousAuthenticator {
        backup_eligible: true,
        backup_state: true,
        ..MaliciousAuthenticator::new()
    };
    let (_, verify) = app.sign_up(&mut browser, "lou", &synced).await;
    assert_eq!(refusal(&verify).0, "synced-passkey-refused");
}

// ---- tenant settings ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn tenant_update_refuses_an_aaguid_both_allowed_and_denied() {
    let app = app(AttestationSettings::default()).await;
    let update = TenantUpdate {
        policy: PolicyChange {
            aaguid_allow: Some(vec![Aaguid(MODEL)]),
            aaguid_deny: Some(vec![Aaguid(MODEL)]),
            ..PolicyChange::default()
        },
        ..TenantUpdate::default()
    };
    let refused = ops::update_tenant(app.state.provider.store.as_ref(), &app.tenant, &update).await;
    assert!(refused.is_err());
    let tenant = app
        .state
        .provider
        .store
        .get_tenant(&app.tenant)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no tenant"));
    assert_eq!(
        ops::tenant_policy(&tenant).map(|p| p.aaguid_deny).ok(),
        Some(Vec::new())
    );
}

#[tokio::test]
async fn tenant_update_refuses_origins_outside_the_rp_id_and_control_characters_in_names() {
    let app = app(AttestationSettings::default()).await;
    let store = app.state.provider.store.as_ref();
    let outside = TenantUpdate {
        origins: Some(vec!["https://evil.example".into()]),
        ..TenantUpdate::default()
    };
    assert!(
        ops::update_tenant(store, &app.tenant, &outside)
            .await
            .is_err()
    );
    let nul = TenantUpdate {
        display_name: Some("My\0Tenant".into()),
        ..TenantUpdate::default()
    };
    assert!(ops::update_tenant(store, &app.tenant, &nul).await.is_err());
    let unknown = TenantId::parse("nosuch").unwrap_or_else(|e| panic!("{e}"));
    let renamed = TenantUpdate {
        display_name: Some("Renamed".into()),
        ..TenantUpdate::default()
    };
    assert!(ops::update_tenant(store, &unknown, &renamed).await.is_err());
    let done = ops::update_tenant(store, &app.tenant, &renamed)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.display_name, "Renamed");
}

/// Two operators changing different settings of one tenant at once: the store refuses the write made from a stale
/// revision, `ops::update_tenant` reapplies that change to the newer tenant, and neither change is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tenant_updates_lose_no_change() {
    let app = app(AttestationSettings::default()).await;
    let store = app.state.provider.store.as_ref();
    for round in 0..5 {
        let rename = TenantUpdate {
            display_name: Some(format!("Renamed {round}")),
            ..TenantUpdate::default()
        };
        let origins = vec![
            ORIGIN.to_owned(),
            format!("http://localhost:{}", 9000 + round),
        ];
        let reorigin = TenantUpdate {
            origins: Some(origins.clone()),
            ..TenantUpdate::default()
        };
        let (renamed, reoriginated) = tokio::join!(
            ops::update_tenant(store, &app.tenant, &rename),
            ops::update_tenant(store, &app.tenant, &reorigin)
        );
        renamed.unwrap_or_else(|e| panic!("{e}"));
        reoriginated.unwrap_or_else(|e| panic!("{e}"));
        let stored = store
            .get_tenant(&app.tenant)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no tenant"));
        assert_eq!(
            stored.display_name,
            format!("Renamed {round}"),
            "round {round}"
        );
        assert_eq!(stored.origins, origins, "round {round}");
        assert_eq!(stored.revision, 3 + 2 * round, "two updates per round");
    }
}

// ---- names people type ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn username_with_nul_is_refused_in_words_at_sign_up_and_sign_in() {
    let app = app(AttestationSettings::default()).await;
    let mut browser = Browser::default();
    app.get(&mut browser, "/mytenant/signup").await;
    let reply = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/register/options",
            &json!({"username": "al\u{0}ice", "display_name": "Alice"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(
        reply.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("control characters"))
    );
    app.get(&mut browser, "/mytenant/login").await;
    let reply = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/login/options",
            &json!({"username": "al\u{0}ice"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let too_long = app
        .post_json(
            &mut browser,
            "/mytenant/webauthn/login/options",
            &json!({"username": "a".repeat(500)}),
        )
        .await;
    assert_eq!(
        too_long.status,
        StatusCode::BAD_REQUEST,
        "{}",
        too_long.body
    );
}

#[tokio::test]
async fn display_name_with_control_characters_is_refused_in_words() {
    let app = app(AttestationSettings::default()).await;
    let mut browser = Browser::default();
    app.get(&mut browser, "/mytenant/signup").await;
    for name in ["Al\u{0}ice", "Al\u{202e}ice", "Al\nice"] {
        let reply = app
            .post_json(
                &mut browser,
                "/mytenant/webauthn/register/options",
                &json!({"username": "alice", "display_name": name}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        let message = reply.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.starts_with("Your name contains"), "{message}");
    }
}

// ---- fresh verification window -------------------------------------------------------------------------------------

#[tokio::test]
async fn fresh_verification_window_comes_from_the_security_settings() {
    let security = SecuritySettings {
        fresh_verification: Duration::from_secs(10),
        ..SecuritySettings::default()
    };
    let app = app_with(security, AttestationSettings::default()).await;
    let mut browser = Browser::default();
    let (_, verify) = app
        .sign_up(&mut browser, "mo", &MaliciousAuthenticator::new())
        .await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
    app.get(&mut browser, "/mytenant/account").await;
    app.clock.advance(time::Duration::seconds(5));
    let within = app
        .post_json(&mut browser, "/mytenant/webauthn/add/options", &json!({}))
        .await;
    assert_eq!(within.status, StatusCode::OK, "{}", within.body);
    app.clock.advance(time::Duration::seconds(6));
    let stale = app
        .post_json(&mut browser, "/mytenant/webauthn/add/options", &json!({}))
        .await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN, "{}", stale.body);
    assert_eq!(stale.json()["error"], "reauth_required");
}
