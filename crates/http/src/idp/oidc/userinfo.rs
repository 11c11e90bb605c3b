//! `GET|POST /{tenant}/oidc/userinfo` (OIDC Core §5.3): claims about the user an access token was issued for.
//!
//! The token comes in the `Authorization: Bearer` header (GET or POST) or, for POST, as the `access_token` form field
//! (RFC 6750 §2.2); never both (RFC 6750 §2: "MUST NOT use more than one method"), never in the query string.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tessera_core::TenantId;
use tessera_oidc::error::OidcError;

use super::tenant_id;
use crate::error::AppError;
use crate::state::ProviderState;

/// `GET /{tenant}/oidc/userinfo`.
pub async fn userinfo_get(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = tenant_id(&tenant)?;
    let token = extract(&headers, &[])?;
    answer(&state, &tenant, &token).await
}

/// `POST /{tenant}/oidc/userinfo`.
pub async fn userinfo_post(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let tenant = tenant_id(&tenant)?;
    let form: Vec<(String, String)> = if super::is_form(&headers) {
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

async fn answer(
    state: &ProviderState,
    tenant: &TenantId,
    token: &str,
) -> Result<Response, AppError> {
    state.tenant(tenant).await?;
    let claims = tessera_service::provider::userinfo::claims(
        state.store.as_ref(),
        tenant,
        token,
        state.clock.now(),
    )
    .await?;
    Ok(super::token::no_store(axum::Json(claims).into_response()))
}
