//! Tessera's HTTP layer: axum routers over the pure protocol crates and the store.
//!
//! - [`state`]: [`AppState`], shared by every handler (store, clock, public URL, security settings, tenant cache).
//! - [`error`]: [`AppError`], the one error type, and how it becomes a response (page, OAuth JSON, 503).
//! - [`security`]: security headers, body limit, request ids, and [`security::per_ip_rate_limit`].
//! - [`oidc`]: the OpenID Connect provider endpoints at `/{tenant}/oidc/...`, one module per endpoint.
//! - [`pages`]: the passkey pages (sign-in, sign-up, account), with [`session`] (browser sessions) and [`csrf`].
//!
//! [`router`] assembles everything into one [`axum::Router`].

pub mod csrf;
pub mod error;
pub mod oidc;
pub mod pages;
pub mod security;
pub mod session;
pub mod state;

pub use error::AppError;
pub use state::{AppState, PublicUrl, RateRule, SecuritySettings};

/// The whole HTTP application: the passkey pages, the OIDC endpoints and the security layers.
///
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()` so the rate limiters see client addresses.
pub fn router(state: AppState) -> axum::Router {
    let app = axum::Router::new()
        .merge(pages::router(&state))
        .merge(oidc::router(&state))
        .with_state(state.clone());
    security::apply(app, &state)
}
