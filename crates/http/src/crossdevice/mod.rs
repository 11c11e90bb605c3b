//! Cross-device sign-in's routes will live here: starting a sign-in that a phone approves (QR code), the phone's
//! companion endpoints, and the waiting request's answer, calling `tessera_service::crossdevice`.

use axum::Router;

use crate::common::state::AppState;

/// The cross-device routes (none yet).
pub fn router() -> Router<AppState> {
    Router::new()
}
