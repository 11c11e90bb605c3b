//! The OpenID Connect provider endpoints, per tenant at `/{tenant}/oidc/...`, one module per endpoint.
//!
//! - [`discovery`]: `/.well-known/openid-configuration`, served from memory.
//! - [`jwks`]: `/jwks`, served from memory.
//! - [`authorize`]: `/authorize` (GET; POST is answered with a 303 to GET) and `/authorize/resume`, where the pages
//!   hand a signed-in user back after sign-in or sign-up.
//! - [`token`]: `/token` (authorization code and refresh token grants).
//! - [`userinfo`]: `/userinfo` (GET and POST).
//! - [`logout`]: `/logout` (RP-initiated logout).
//!
//! The rules live in `tessera_oidc`; these modules extract, call the rules and the store, and shape responses.

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

pub mod authorize;
pub mod discovery;
pub mod jwks;
pub mod logout;
pub mod token;
pub mod userinfo;

mod tenant;

pub use tenant::load_tenant;

/// The OIDC routes. CORS is allowed on discovery, JWKS, token and userinfo only (RFC 9700 §2.6: never on authorize).
pub fn router(state: &AppState) -> Router<AppState> {
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([axum::http::header::AUTHORIZATION, axum::http::header::CONTENT_TYPE]);
    let open = Router::new()
        .route("/{tenant}/oidc/.well-known/openid-configuration", get(discovery::discovery))
        .route("/{tenant}/oidc/jwks", get(jwks::jwks))
        .route("/{tenant}/oidc/userinfo", get(userinfo::userinfo_get).post(userinfo::userinfo_post))
        .merge(
            Router::new()
                .route("/{tenant}/oidc/token", axum::routing::post(token::token))
                .layer(crate::security::per_ip_rate_limit(state, state.security.token_rate)),
        )
        .layer(cors);
    Router::new()
        .route("/{tenant}/oidc/authorize", get(authorize::authorize_get).post(authorize::authorize_post))
        .route("/{tenant}/oidc/authorize/resume", get(authorize::resume))
        .route("/{tenant}/oidc/logout", get(logout::logout_get).post(logout::logout_post))
        .merge(open)
}
