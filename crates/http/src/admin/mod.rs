//! The admin surfaces' routes will live here: the REST API at `/admin/api/v1/...` (JSON, with its OpenAPI document
//! at `/admin/api/v1/openapi.json`) and the portal at `/admin/`, calling `tessera_service`'s tenants, clients, keys
//! and admin use cases.

use axum::Router;

use crate::common::state::AppState;

/// The admin routes (none yet).
pub fn router() -> Router<AppState> {
    Router::new()
}
