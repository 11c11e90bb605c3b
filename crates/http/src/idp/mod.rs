//! The authenticator service's routes: the OpenID provider's endpoints ([`oidc`]) and the passkey pages
//! ([`pages`]), with the browser sessions they share ([`session`]). Handlers call `tessera_service::provider` and
//! `tessera_service`'s tenants; [`crate::common`] gives them errors, layout, CSRF and limits.

use axum::Router;
use axum::extract::FromRef;

use crate::common::state::ProviderState;

pub mod oidc;
pub mod pages;
pub mod session;

/// The provider's routes: pages and OIDC endpoints, for any outer state its [`ProviderState`] is taken from (the
/// application's [`crate::AppState`], or the provider's state itself when the router is mounted alone).
pub fn router<S>(state: &ProviderState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    ProviderState: FromRef<S>,
{
    Router::new()
        .merge(pages::router(state))
        .merge(oidc::router(state))
}
