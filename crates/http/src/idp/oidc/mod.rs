//! The OpenID Connect provider endpoints, per tenant at `/{tenant}/oidc/...`, one module per endpoint.
//!
//! - [`discovery`]: `/.well-known/openid-configuration`, served from memory.
//! - [`jwks`]: `/jwks`, served from memory.
//! - [`authorize`]: `/authorize` (GET; POST is answered with a 303 to GET) and `/authorize/resume`, where the pages
//!   hand a signed-in user back after sign-in or sign-up.
//! - [`token`]: `/token` (authorization code and refresh token grants).
//! - [`revoke`]: `/revoke` (RFC 7009 token revocation; a revoked token revokes its grant).
//! - [`userinfo`]: `/userinfo` (GET and POST).
//! - [`logout`]: `/logout` (RP-initiated logout).
//!
//! The rules live in `tessera_oidc`; these modules extract, call the rules and the store, and shape responses.

use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;

use crate::state::ProviderState;

pub mod authorize;
pub mod discovery;
pub mod jwks;
pub mod logout;
pub mod revoke;
pub mod token;
pub mod userinfo;

/// The OIDC routes. CORS is allowed on discovery, JWKS, token, revocation and userinfo only (RFC 9700 §2.6: never on authorize).
pub fn router<S>(state: &ProviderState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    ProviderState: FromRef<S>,
{
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
        ]);
    let open = Router::new()
        .route(
            "/{tenant}/oidc/.well-known/openid-configuration",
            get(discovery::discovery),
        )
        .route("/{tenant}/oidc/jwks", get(jwks::jwks))
        .route(
            "/{tenant}/oidc/userinfo",
            get(userinfo::userinfo_get).post(userinfo::userinfo_post),
        )
        .merge(
            Router::new()
                .route("/{tenant}/oidc/token", axum::routing::post(token::token))
                .route("/{tenant}/oidc/revoke", axum::routing::post(revoke::revoke))
                .layer(crate::common::security::per_ip_rate_limit(
                    &state.rate_limiters,
                    &state.security.trusted_proxies,
                    state.security.token_rate,
                )),
        )
        .layer(cors);
    Router::new()
        .route(
            "/{tenant}/oidc/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route("/{tenant}/oidc/authorize/resume", get(authorize::resume))
        .route(
            "/{tenant}/oidc/logout",
            get(logout::logout_get).post(logout::logout_post),
        )
        .merge(open)
}

/// `Cache-Control` of the documents served from memory.
pub(crate) const PUBLIC_CACHE: &str = "public, max-age=300";

/// Parses the tenant path segment; a malformed one is an unknown tenant.
pub(crate) fn tenant_id(raw: &str) -> Result<tessera_core::TenantId, crate::error::AppError> {
    tessera_core::TenantId::parse(raw).map_err(|_| crate::error::AppError::UnknownTenant)
}

/// Whether the request's body is `application/x-www-form-urlencoded`.
pub(crate) fn is_form(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}
