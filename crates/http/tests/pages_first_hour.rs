//! What a newcomer meets first, over HTTP without a socket: the landing page, a page opened at an address that is
//! not one of the tenant's origins, and a rate-limited JSON call of the pages.
//!
//! Tests are named after the rule they check.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tessera_core::{FixedClock, TenantId};
use tessera_http::idp::pages::landing::{self, Landing};
use tessera_http::{AppState, PublicUrl, RateRule, SecuritySettings};
use tessera_service::tenants as ops;
use tessera_store::Backend;
use tessera_store_sqlite::SqliteStore;
use tessera_testkit::TempSqlite;
use tower::ServiceExt;

const ORIGIN: &str = "http://localhost:8080";

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn send(router: &axum::Router, request: Request<Body>) -> Reply {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn get(path: &str, host: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(host) = host {
        request = request.header(header::HOST, host);
    }
    request
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A state on a fresh SQLite store with the tenants `(id, name)`, all of origin [`ORIGIN`].
async fn state_with(
    tenants: &[(&str, &str)],
    security: SecuritySettings,
) -> (AppState, TempSqlite) {
    let db = TempSqlite::new().unwrap_or_else(|e| panic!("{e}"));
    let store = SqliteStore::open(db.path())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let store: Arc<dyn Backend> = Arc::new(store);
    let master_key = tessera_oidc::MasterKey::generate().unwrap_or_else(|e| panic!("{e}"));
    let now = time::macros::datetime!(2026-06-01 12:00 UTC);
    for (id, name) in tenants {
        let new = ops::NewTenant::parse(
            TenantId::parse(id).unwrap_or_else(|e| panic!("{e}")),
            "localhost",
            &[ORIGIN.into()],
            Some((*name).into()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        ops::create_tenant(store.as_ref(), &master_key, new, now)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let state = AppState::new(
        store,
        Arc::new(FixedClock::new(now)),
        PublicUrl::parse(ORIGIN).unwrap_or_else(|e| panic!("{e}")),
        security,
        master_key,
    );
    (state, db)
}

fn landing_router(state: &AppState, demo_url: Option<&str>) -> axum::Router {
    let landing = landing::router(Landing {
        store: state.provider.store.clone(),
        public_url: state.provider.public_url.clone(),
        demo_url: demo_url.map(str::to_owned),
        run_user_flow: Default::default(),
    });
    tessera_http::security::apply(landing, state.provider.security.body_limit)
}

// ---- the landing page -------------------------------------------------------------------------------------------

#[tokio::test]
async fn landing_page_links_to_the_demo_and_each_tenants_account_page_and_discovery_document() {
    let (state, _db) = state_with(
        &[("mytenant", "My Tenant"), ("other", "Other Shop")],
        SecuritySettings::default(),
    )
    .await;
    let router = landing_router(&state, Some("http://localhost:8080/demo/"));
    let page = send(&router, get("/", None)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.header("content-type").starts_with("text/html"));
    for link in [
        "href=\"http://localhost:8080/demo/\"",
        "href=\"/mytenant/account\"",
        "href=\"http://localhost:8080/mytenant/oidc/.well-known/openid-configuration\"",
        "href=\"/other/account\"",
        "href=\"http://localhost:8080/other/oidc/.well-known/openid-configuration\"",
    ] {
        assert!(page.body.contains(link), "missing {link}: {}", page.body);
    }
    assert!(page.body.contains("My Tenant") && page.body.contains("Other Shop"));
    assert!(
        page.body.contains("development setup"),
        "says what it is: {}",
        page.body
    );
    // The same layout and CSP as the other pages: no inline script, strict script-src.
    let csp = page.header("content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!page.body.contains("<script>") && !page.body.contains(" style="));
    assert!(page.body.contains("<h1>Tessera is running</h1>"));
}

#[tokio::test]
async fn landing_page_without_demo_or_tenants_says_how_to_make_one() {
    let (state, _db) = state_with(&[], SecuritySettings::default()).await;
    let page = send(&landing_router(&state, None), get("/", None)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("/demo/"), "{}", page.body);
    assert!(
        page.body.contains("tessera idp tenant create"),
        "{}",
        page.body
    );
}

// ---- pages opened at another address -----------------------------------------------------------------------------

#[tokio::test]
async fn sign_in_page_opened_at_another_host_says_where_to_open_it() {
    let (state, _db) = state_with(&[("mytenant", "My Tenant")], SecuritySettings::default()).await;
    let router = tessera_http::router(state);
    for path in ["/mytenant/login?authz=abc123", "/mytenant/signup"] {
        let page = send(&router, get(path, Some("127.0.0.1:8080"))).await;
        assert_eq!(
            page.status,
            StatusCode::MISDIRECTED_REQUEST,
            "{path}: {}",
            page.body
        );
        assert!(
            page.body
                .contains(&format!("href=\"http://localhost:8080{path}\"")),
            "{path}: links to the same page at the tenant's origin: {}",
            page.body
        );
        assert!(
            page.body
                .contains("Open this page at http://localhost:8080"),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("127.0.0.1:8080"),
            "names the address used: {}",
            page.body
        );
        assert!(
            !page.body.contains("login-form") && !page.body.contains("signup-form"),
            "no form that would fail later: {}",
            page.body
        );
        assert!(
            page.headers.get(header::SET_COOKIE).is_none(),
            "{path}: nothing started"
        );
    }
}

#[tokio::test]
async fn sign_in_page_at_the_tenants_own_host_is_shown() {
    let (state, _db) = state_with(&[("mytenant", "My Tenant")], SecuritySettings::default()).await;
    let router = tessera_http::router(state);
    for host in ["localhost:8080", "LOCALHOST:8080"] {
        let page = send(&router, get("/mytenant/login", Some(host))).await;
        assert_eq!(page.status, StatusCode::OK, "{host}: {}", page.body);
        assert!(page.body.contains("id=\"login-form\""), "{host}");
    }
    // Another port of the same host is another origin too.
    let page = send(&router, get("/mytenant/login", Some("localhost:9999"))).await;
    assert_eq!(page.status, StatusCode::MISDIRECTED_REQUEST);
}

// ---- rate limits -----------------------------------------------------------------------------------------------------

#[tokio::test]
async fn rate_limited_json_call_answers_the_documented_json_error_with_retry_after() {
    let security = SecuritySettings {
        challenge_rate: RateRule::per_minute(1, 2),
        ..SecuritySettings::default()
    };
    let (state, _db) = state_with(&[("mytenant", "My Tenant")], security).await;
    let router = tessera_http::router(state);
    let mut last = None;
    for _ in 0..4 {
        let request = Request::post("/mytenant/webauthn/login/options")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ORIGIN, ORIGIN)
            .body(Body::from("{}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let reply = send(&router, request).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            last = Some(reply);
            break;
        }
    }
    let reply = last.unwrap_or_else(|| panic!("the third call within a minute is limited"));
    assert_eq!(reply.header("content-type"), "application/json");
    let retry: u64 = reply
        .header("retry-after")
        .parse()
        .unwrap_or_else(|e| panic!("Retry-After is whole seconds ({e})"));
    assert!(retry >= 1, "{retry}");
    let body: Value =
        serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("{e}: {}", reply.body));
    assert_eq!(body["ok"], false);
    assert_eq!(body["error"], "too_many_requests");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("Too many attempts"), "{message}");
    assert!(
        message.contains("Wait") && message.ends_with('.'),
        "{message}"
    );
}

// ---- the provider's router on its own state ---------------------------------------------------------------------

#[tokio::test]
async fn provider_router_mounts_alone_on_its_own_state() {
    let (state, _db) = state_with(&[("mytenant", "My Tenant")], SecuritySettings::default()).await;
    let provider = state.provider.clone();
    let router: axum::Router = tessera_http::idp::router(&provider).with_state(provider);
    let discovery = send(
        &router,
        get("/mytenant/oidc/.well-known/openid-configuration", None),
    )
    .await;
    assert_eq!(discovery.status, StatusCode::OK, "{}", discovery.body);
    assert!(
        discovery
            .body
            .contains("\"issuer\":\"http://localhost:8080/mytenant/oidc\""),
        "{}",
        discovery.body
    );
    let page = send(&router, get("/mytenant/login", Some("localhost:8080"))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
}

// ---- roles --------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_server_serves_only_its_roles_routes_and_always_health_and_assets() {
    let (state, _db) = state_with(&[("mytenant", "My Tenant")], SecuritySettings::default()).await;
    let discovery = "/mytenant/oidc/.well-known/openid-configuration";
    let broker_discovery = "/contoso/B2C_1_signupsignin/v2.0/.well-known/openid-configuration";
    let viewer = "/jwt?error=access_denied&state=x";

    let broker_only = tessera_http::router_with_roles(
        state.clone(),
        tessera_http::Roles {
            authenticator: false,
            broker: true,
            admin: false,
        },
    );
    for path in [discovery, "/mytenant/login", viewer] {
        let reply = send(&broker_only, get(path, Some("localhost:8080"))).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path} is another role's"
        );
    }
    let unknown_flow = send(&broker_only, get(broker_discovery, Some("localhost:8080"))).await;
    assert!(
        !unknown_flow.body.is_empty(),
        "the broker answers its own paths (an unknown tenant, in words)"
    );
    for path in ["/healthz", "/static/tessera.css", "/static/tessera.js"] {
        let reply = send(&broker_only, get(path, Some("localhost:8080"))).await;
        assert_eq!(reply.status, StatusCode::OK, "{path} is every role's");
    }

    let authenticator_only = tessera_http::router_with_roles(
        state.clone(),
        tessera_http::Roles {
            authenticator: true,
            broker: false,
            admin: false,
        },
    );
    let reply = send(&authenticator_only, get(discovery, Some("localhost:8080"))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    for path in [broker_discovery, viewer] {
        let reply = send(&authenticator_only, get(path, Some("localhost:8080"))).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path} is another role's"
        );
        assert!(reply.body.is_empty(), "{path}: {}", reply.body);
    }

    let all = tessera_http::router(state);
    let reply = send(&all, get(viewer, Some("localhost:8080"))).await;
    assert_ne!(
        reply.status,
        StatusCode::NOT_FOUND,
        "the token viewer is the admin role's"
    );
}
