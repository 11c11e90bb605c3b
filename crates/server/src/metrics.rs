//! `[metrics]`: the process's Prometheus recorder (the `metrics` facade's, from `metrics-exporter-prometheus`) and
//! its own listener answering `GET /metrics` in the Prometheus text format. The metrics are listed in
//! `docs/observability.md`.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::error::ServerError;

/// Latency buckets, in seconds: a sign-in step takes about a millisecond, a slow store a second.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// How often idle histogram data is compacted between scrapes.
const UPKEEP_PERIOD: Duration = Duration::from_secs(5);

/// Installs the recorder (once per process; later calls return the same handle) and switches recording on.
pub fn recorder() -> Result<PrometheusHandle, ServerError> {
    static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);
    let mut installed = HANDLE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(handle) = installed.as_ref() {
        return Ok(handle.clone());
    }
    let refused = |e: &dyn std::fmt::Display| ServerError::Invalid {
        key: "metrics.enabled",
        message: format!("cannot install the metrics recorder: {e}"),
    };
    let handle = PrometheusBuilder::new()
        .set_buckets(BUCKETS)
        .map_err(|e| refused(&e))?
        .install_recorder()
        .map_err(|e| refused(&e))?;
    describe();
    tessera_store::metrics::enable();
    *installed = Some(handle.clone());
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "tessera_http_requests_total",
        "HTTP requests answered, by route template and status"
    );
    describe_counter!(
        "tessera_sign_ins_total",
        "passkey sign-in verifications, by outcome (ok, refused, error)"
    );
    describe_counter!(
        "tessera_sign_ups_total",
        "passkey sign-up verifications, by outcome (ok, refused, error)"
    );
    describe_histogram!(
        "tessera_ceremony_duration_seconds",
        "time to answer a WebAuthn options or verify call, by route template"
    );
    describe_histogram!(
        "tessera_token_duration_seconds",
        "time to answer a token endpoint request"
    );
    describe_histogram!(
        "tessera_store_operation_duration_seconds",
        "time of one store operation, by backend and kind (read, write)"
    );
    describe_counter!(
        "tessera_store_errors_total",
        "store operations that could not be answered (unavailable, corrupt), by backend"
    );
    describe_gauge!("tessera_open_connections", "client connections open now");
    describe_counter!(
        "tessera_rate_limited_total",
        "requests refused by a per-address rate limit"
    );
}

/// Binds `addr` and serves `GET /metrics` there until the process ends; returns the bound address.
pub async fn serve(addr: SocketAddr, handle: PrometheusHandle) -> Result<SocketAddr, ServerError> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        ServerError::bind(
            format!("metrics.listen: cannot bind {addr}"),
            e,
            "metrics.listen",
        )
    })?;
    let bound = listener
        .local_addr()
        .map_err(|e| ServerError::io("metrics listener address", e))?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(UPKEEP_PERIOD);
        loop {
            ticker.tick().await;
            upkeep.run_upkeep();
        }
    });
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    handle.render(),
                )
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::warn!(%error, "the metrics listener stopped");
        }
    });
    Ok(bound)
}
