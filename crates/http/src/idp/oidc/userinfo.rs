//! `GET|POST /{tenant}/oidc/userinfo` (OIDC Core §5.3): claims about the user an access token was issued for.
//!
//! The token comes in the `Authorization: Bearer` header (GET or POST) or, for POST, as the `access_token` form field
//! (RFC 6750 §2.2); never both (RFC 6750 §2: "MUST NOT use more than one method"), never in the query string.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tessera_core::TenantId;
use tessera_oidc::error::OidcError;

use super::{tenant_id, user_profile};
use crate::error::AppError;
use crate::state::AppState;
use tessera_service::handles;

/// `GET /{tenant}/oidc/userinfo`.
pub async fn userinfo_get(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = tenant_id(&tenant)?;
    let token = extract(&headers, &[])?;
    answer(&state, &tenant, &token).await
}

/// `POST /{tenant}/oidc/userinfo`.
pub async fn userinfo_post(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let tenant = tenant_id(&tenant)?;
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form: Vec<(String, String)> = if form_type {
        form_urlencoded::parse(&body).into_owned().collect()
    } else {
        Vec::new()
    };
    let token = extract(&headers, &form)?;
    answer(&state, &tenant, &token).await
}

/// RFC 6750 §2 with `tessera_oidc`'s rule: header or form body, never both, never twice.
fn extract(headers: &HeaderMap, form: &[(String, String)]) -> Result<String, AppError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let authorization = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(v), None) => Some(v.to_str().map_err(|_| AppError::InvalidToken)?),
        (Some(_), Some(_)) => return Err(AppError::BearerTokenRepeated),
    };
    tessera_oidc::access_token::bearer_token(authorization, form)
        .map(str::to_owned)
        .map_err(|e| match e {
            OidcError::AccessTokenMissing if authorization.is_none() => {
                AppError::BearerTokenMissing
            }
            OidcError::MultipleAccessTokens => AppError::BearerTokenRepeated,
            _ => AppError::InvalidToken,
        })
}

async fn answer(state: &AppState, tenant: &TenantId, token: &str) -> Result<Response, AppError> {
    state.tenant(tenant).await?;
    if token.len() > 512 {
        return Err(AppError::InvalidToken);
    }
    let now = state.clock.now();
    let record = state
        .store
        .get_access_token(tenant, &handles::storage_key(token), now)
        .await?
        .ok_or(AppError::InvalidToken)?;
    let issuance: tessera_oidc::token::Issuance = serde_json::from_slice(&record.payload)
        .map_err(|e| AppError::StoreCorrupt(format!("access token issuance: {e}")))?;
    // OIDC Core §5.3: the token must have been granted the openid scope.
    if !issuance.wants_id_token() {
        return Err(AppError::InvalidToken);
    }
    let user = state
        .store
        .get_user(tenant, &record.user_id)
        .await?
        .ok_or(AppError::InvalidToken)?;
    let claims = tessera_oidc::id_token::userinfo_claims(
        &user_profile(&user),
        &issuance.scopes,
        issuance.claims_request.as_ref(),
    );
    let mut response = axum::Json(claims).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}
