//! `POST /{tenant}/oidc/revoke` (RFC 7009): extracts the form and the client's authentication, calls
//! `tessera_service::provider::revoke`, and answers `200` with an empty body for every token, known or not.
//! A client that does not authenticate as registered gets `invalid_client` (401), a request without `token`
//! `invalid_request`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tessera_service::provider::revoke;

use super::token::{ClientCall, no_store};
use crate::error::AppError;
use crate::state::ProviderState;

/// `POST /{tenant}/oidc/revoke`.
pub async fn revoke(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let call = ClientCall::extract(&state, &tenant, &headers, &body).await?;
    revoke::revoke(&call.endpoint(&state), call.request()).await?;
    Ok(no_store(StatusCode::OK.into_response()))
}
