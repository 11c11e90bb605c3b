//! Liveness and readiness for load balancers and orchestrators.
//!
//! - `GET /healthz` (liveness): `200 ok` while the process serves requests; it touches nothing else, so a slow or
//!   failed store never gets a live process restarted.
//! - `GET /readyz` (readiness): `200` only after a write to the store committed just now
//!   ([`tessera_store::HealthStore::probe_write`]), within [`PROBE_TIMEOUT`]; otherwise `503` with `Retry-After`, and
//!   the reason in the log. A read-only, unreachable or replaced database is "not ready".

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tessera_core::Clock;
use tessera_store::Store;

/// How long readiness waits for the store's write before answering "not ready".
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Seconds a load balancer is told to wait before asking again after "not ready".
pub const RETRY_AFTER_SECONDS: &str = "5";

/// What the health endpoints need: the store and the clock.
#[derive(Clone)]
pub struct Health {
    /// The store whose writes readiness checks.
    pub store: Arc<dyn Store>,
    /// The time source.
    pub clock: Arc<dyn Clock>,
}

/// `/healthz` and `/readyz`.
pub fn router<S: Clone + Send + Sync + 'static>(health: Health) -> Router<S> {
    Router::new()
        .route("/healthz", get(live))
        .route("/readyz", get(ready))
        .with_state(health)
}

async fn live() -> Response {
    answer(StatusCode::OK, "ok\n")
}

async fn ready(State(health): State<Health>) -> Response {
    let probe = tokio::time::timeout(PROBE_TIMEOUT, health.store.probe_write(health.clock.now()));
    match probe.await {
        Ok(Ok(())) => answer(StatusCode::OK, "ready\n"),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "not ready: the store cannot take writes");
            not_ready("not ready: the store cannot take writes\n")
        }
        Err(_) => {
            tracing::error!("not ready: the store did not answer in time");
            not_ready("not ready: the store did not answer in time\n")
        }
    }
}

fn not_ready(text: &'static str) -> Response {
    let mut response = answer(StatusCode::SERVICE_UNAVAILABLE, text);
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECONDS),
    );
    response
}

fn answer(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        text,
    )
        .into_response()
}
