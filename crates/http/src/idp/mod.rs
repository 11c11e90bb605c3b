//! The authenticator service's routes: the OpenID provider's endpoints ([`oidc`]) and the passkey pages
//! ([`pages`]), with the browser sessions they share ([`session`]). Handlers call `tessera_service::provider` and
//! `tessera_service`'s tenants; [`crate::common`] gives them errors, layout, CSRF and limits.

use axum::Router;

use crate::common::state::AppState;

pub mod oidc;
pub mod pages;
pub mod session;

/// The provider's routes: pages and OIDC endpoints.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(pages::router(state))
        .merge(oidc::router(state))
}
