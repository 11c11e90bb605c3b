//! `[metrics]`: the Prometheus recorder and its own listener. The counters move with the requests that drive them
//! (requests by route and status, sign-ins by outcome, rate-limit refusals, store operations, token latency), and
//! recording a request costs a fraction of a microsecond.

use std::time::{Duration, Instant};

use serde_json::json;
use tessera_http::RateRule;

use crate::helpers::{AppOptions, spawn_app};

/// The sum of the samples of `name` whose labels include every `k="v"` of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.split(['{', ' '])
                .next()
                .is_some_and(|series| series == name)
        })
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_requests_and_are_served_on_their_own_listener() {
    let handle = tessera_server::metrics::recorder().expect("recorder");
    let bound = tessera_server::metrics::serve("127.0.0.1:0".parse().expect("addr"), handle)
        .await
        .expect("metrics listener");
    let options = AppOptions {
        tenant: "metered".into(),
        security: tessera_http::SecuritySettings {
            token_rate: RateRule::per_minute(1, 2),
            ..Default::default()
        },
        ..AppOptions::default()
    };
    let app = spawn_app(options).await.expect("app");
    let http = reqwest::Client::new();
    let scrape = async || {
        let response = http
            .get(format!("http://{bound}/metrics"))
            .send()
            .await
            .expect("scrape");
        assert_eq!(response.status(), 200);
        response.text().await.expect("text")
    };
    let before = scrape().await;

    let discovery = app
        .get("/metered/oidc/.well-known/openid-configuration", None)
        .await;
    assert_eq!(discovery.status(), 200);
    for _ in 0..3 {
        app.redeem(&app.basic, "no-such-code").await;
    }
    let refused = app
        .http
        .post(format!("{}/metered/webauthn/login/verify", app.base))
        .json(&json!({"ceremony": "x", "credential": {}}))
        .send()
        .await
        .expect("verify");
    assert!(refused.status().is_client_error());
    let on_public_port = app.get("/metrics", None).await;
    assert_eq!(on_public_port.status(), 404, "never on the public port");

    let after = scrape().await;
    let moved =
        |name: &str, labels: &[&str]| sample(&after, name, labels) - sample(&before, name, labels);
    assert!(
        moved(
            "tessera_http_requests_total",
            &[
                r#"route="/{tenant}/oidc/.well-known/openid-configuration""#,
                r#"status="200""#
            ]
        ) >= 1.0,
        "{after}"
    );
    assert!(
        moved(
            "tessera_http_requests_total",
            &[r#"route="/{tenant}/oidc/token""#, r#"status="429""#]
        ) >= 1.0,
        "{after}"
    );
    assert!(moved("tessera_rate_limited_total", &[]) >= 1.0, "{after}");
    assert!(
        moved("tessera_sign_ins_total", &[r#"outcome="refused""#]) >= 1.0,
        "{after}"
    );
    assert!(
        moved("tessera_token_duration_seconds_count", &[]) >= 2.0,
        "{after}"
    );
    assert!(
        moved(
            "tessera_store_operation_duration_seconds_count",
            &[r#"backend="sqlite""#, r#"kind="read""#]
        ) >= 1.0,
        "{after}"
    );
    assert!(
        sample(&after, "tessera_open_connections", &[]) >= 0.0,
        "{after}"
    );
    assert!(after.contains("# HELP tessera_sign_ins_total"), "{after}");
    app.stop().await;

    // PostgreSQL statements are timed too (when TEST_PG_URL is set).
    if let Some(pg) = crate::helpers::TestApp::spawn_on(crate::helpers::Backend::Postgres).await {
        let before = scrape().await;
        app_discovery(&pg).await;
        let after = scrape().await;
        let labels = [r#"backend="postgres""#, r#"kind="query""#];
        assert!(
            sample(
                &after,
                "tessera_store_operation_duration_seconds_count",
                &labels
            ) > sample(
                &before,
                "tessera_store_operation_duration_seconds_count",
                &labels
            ),
            "{after}"
        );
        pg.stop().await;
    }

    // What a request costs the server when metrics are on: a thread-local lookup and an atomic add.
    let runs = 200_000;
    let started = Instant::now();
    for i in 0..runs {
        tessera_http::common::metrics::request(
            Some("/{tenant}/oidc/token"),
            if i % 2 == 0 { 200 } else { 400 },
            Duration::from_micros(300),
        );
    }
    let per_request = started.elapsed() / runs;
    eprintln!("recording one request's metrics: {per_request:?}");
    assert!(per_request < Duration::from_micros(5), "{per_request:?}");
}

/// A request that reads the store: the discovery document of a tenant not yet cached.
async fn app_discovery(app: &crate::helpers::TestApp) {
    let response = app
        .get("/acme/oidc/.well-known/openid-configuration", None)
        .await;
    assert_eq!(response.status(), 200);
}
