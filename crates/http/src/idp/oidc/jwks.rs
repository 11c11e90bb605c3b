//! `GET /{tenant}/oidc/jwks`: the tenant's public signing keys, pre-serialized in memory.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::tenant_id;
use crate::error::AppError;
use crate::state::ProviderState;

/// Serves the JWK Set from the tenant cache (no store access while the entry is fresh).
pub async fn jwks(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
) -> Result<Response, AppError> {
    let tenant = tenant_id(&tenant)?;
    let runtime = state.tenant(&tenant).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwk-set+json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(super::PUBLIC_CACHE),
            ),
        ],
        runtime.jwks.clone(),
    )
        .into_response())
}
