//! `GET {policy}/v2.0/.well-known/openid-configuration` and `GET {policy}/discovery/v2.0/keys`: from memory (the
//! tenant's and the flow's cached entries), cacheable, with CORS open to any origin (MSAL.js reads them from the
//! browser).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::signin::PolicyCall;
use crate::error::AppError;

/// The discovery document of the flow.
pub async fn discovery(call: PolicyCall<'_>) -> Result<Response, AppError> {
    call.state.tenant(call.tenant).await?;
    let Some(policy) = call.state.policy(call.tenant, call.policy).await? else {
        return Err(AppError::NotFound);
    };
    Ok(json_document(policy.discovery.clone()))
}

/// The broker tenant's JWK Set (the same for every flow of the tenant).
pub async fn keys(call: PolicyCall<'_>) -> Result<Response, AppError> {
    let runtime = call.state.tenant(call.tenant).await?;
    if call.state.policy(call.tenant, call.policy).await?.is_none() {
        return Err(AppError::NotFound);
    }
    Ok(json_document(runtime.jwks.clone()))
}

/// The answer to a CORS preflight on the public endpoints.
pub fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    cors(headers);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    response
}

/// `Access-Control-Allow-Origin: *` (RFC 9700 §2.6: never on authorize).
pub fn cors(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}

fn json_document(body: bytes::Bytes) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    cors(headers);
    response
}
