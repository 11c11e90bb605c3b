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

/// The OIDC routes. CORS is allowed on discovery, JWKS, token and userinfo only (RFC 9700 §2.6: never on authorize).
pub fn router(state: &AppState) -> Router<AppState> {
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

/// The `tessera_oidc` view of a stored client.
pub(crate) fn client_config(
    client: &tessera_store::Client,
) -> Result<tessera_oidc::client::ClientConfig, crate::error::AppError> {
    use tessera_oidc::client::{ClientAuthConfig, ClientConfig, SecretHash};
    let corrupt = |what: &str| {
        crate::error::AppError::StoreCorrupt(format!("client {}: {what}", client.client_id))
    };
    let auth = match client.token_endpoint_auth_method.as_str() {
        "none" => ClientAuthConfig::None,
        "private_key_jwt" => {
            let jwks = client
                .jwks
                .clone()
                .ok_or_else(|| corrupt("private_key_jwt without jwks"))?;
            ClientAuthConfig::PrivateKeyJwt {
                jwks: serde_json::from_value(jwks).map_err(|_| corrupt("bad jwks"))?,
            }
        }
        _ => {
            let hash = client
                .secret_hash
                .as_deref()
                .ok_or_else(|| corrupt("no secret hash"))?;
            let bytes: [u8; 32] = hash.try_into().map_err(|_| corrupt("secret hash length"))?;
            ClientAuthConfig::ClientSecret {
                secret_hash: SecretHash::from_bytes(bytes),
            }
        }
    };
    let id_token_alg = tessera_oidc::keys::SigningAlg::parse(&client.id_token_signed_response_alg)
        .ok_or_else(|| corrupt("id token algorithm"))?;
    Ok(ClientConfig {
        client_id: client.client_id.clone(),
        redirect_uris: client.redirect_uris.clone(),
        post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
        auth,
        allowed_scopes: client.allowed_scopes.clone(),
        id_token_alg,
    })
}

/// The `tessera_oidc` view of a stored user.
pub(crate) fn user_profile(user: &tessera_store::User) -> tessera_oidc::id_token::UserProfile {
    tessera_oidc::id_token::UserProfile {
        sub: user.id.clone(),
        username: user.username.clone(),
        name: Some(user.display_name.clone()).filter(|n| !n.is_empty()),
        email: user.email.clone(),
        email_verified: user.email_verified,
        updated_at: None,
    }
}
