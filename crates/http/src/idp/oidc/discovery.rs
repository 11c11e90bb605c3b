//! `GET /{tenant}/oidc/.well-known/openid-configuration`: the OpenID Provider metadata, pre-serialized in memory.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::tenant_id;
use crate::error::AppError;
use crate::state::ProviderState;

/// Serves the discovery document from the tenant cache (no store access while the entry is fresh).
pub async fn discovery(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
) -> Result<Response, AppError> {
    let tenant = tenant_id(&tenant)?;
    let runtime = state.tenant(&tenant).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(super::PUBLIC_CACHE),
            ),
        ],
        runtime.discovery.clone(),
    )
        .into_response())
}
