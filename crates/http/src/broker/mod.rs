//! The identity broker's routes will live here, per tenant and user flow: `/{tenant}/{policy}/v2.0/...` (discovery,
//! keys, authorize, token, logout) and `/{tenant}/oauth2/authresp` for upstream providers' answers. Handlers will
//! call `tessera_service::broker`; the broker talks to the provider only over OIDC.

use axum::Router;

use crate::common::state::AppState;

/// The broker's routes (none yet).
pub fn router() -> Router<AppState> {
    Router::new()
}
