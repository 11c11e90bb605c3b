//! The admin surfaces' routes: the portal at `/admin/` ([`portal`]), and the built-in token viewer
//! ([`token_viewer`]: `/jwt/run` and `/jwt`), where "Run user flow" ends. The REST API at `/admin/api/v1/...`
//! ([`api`]) calls the same `tessera_service` use cases.

pub mod api;
pub mod portal;
pub mod token_viewer;

use axum::Router;
use axum::routing::get;

use crate::common::state::AppState;

/// The admin routes: the REST API (`/admin/api/v1`), the portal (`/admin/...`) and the token viewer.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(api::router())
        .merge(portal::router())
        .route("/jwt/run", get(token_viewer::run))
        .route(
            "/jwt",
            get(token_viewer::show_get).post(token_viewer::show_post),
        )
}
