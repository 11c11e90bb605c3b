//! `POST /{tenant}/oidc/token` (RFC 6749 §3.2, OIDC Core §3.1.3): extracts the form and the `Authorization` header,
//! calls `tessera_service::provider::token`, and answers JSON with `Cache-Control: no-store` and `Pragma: no-cache`.
//! The grants, client authentication by the registered method, code reuse and refresh rotation are the service's.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tessera_oidc::error::OidcError;
use tessera_service::provider::token::{self, TokenEndpoint, TokenLifetimes, TokenRequest};

use super::tenant_id;
use crate::error::AppError;
use crate::state::{ProviderState, TenantRuntime};

pub use tessera_service::provider::token::ASSERTION_JTI_RECORD;

/// An OAuth error from a failed rule, as the token endpoint reports it (`invalid_client` is a 401).
pub(crate) fn refuse(error: &OidcError) -> AppError {
    AppError::oauth_refusal(error)
}

/// The token lifetimes from the security settings.
pub(crate) fn lifetimes(state: &ProviderState) -> TokenLifetimes {
    TokenLifetimes {
        access: duration(state.security.access_token_ttl),
        refresh: duration(state.security.refresh_token_ttl),
    }
}

/// A token-endpoint-style request (token, revocation) as extracted: the tenant, the form and the single
/// `Authorization` header. Only `application/x-www-form-urlencoded` is accepted, with at most one `Authorization`.
pub(crate) struct ClientCall {
    runtime: std::sync::Arc<TenantRuntime>,
    form: Vec<(String, String)>,
    authorization: Option<String>,
}

impl ClientCall {
    /// Extracts the call from the tenant path segment, the headers and the body.
    pub(crate) async fn extract(
        state: &ProviderState,
        tenant: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Self, AppError> {
        let runtime = state.tenant(&tenant_id(tenant)?).await?;
        if !super::is_form(headers) {
            return Err(AppError::oauth(
                "invalid_request",
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let form = form_urlencoded::parse(body).into_owned().collect();
        let mut authorizations = headers.get_all(header::AUTHORIZATION).iter();
        let authorization = authorizations
            .next()
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if authorizations.next().is_some() {
            return Err(refuse(&OidcError::MultipleClientAuthentications));
        }
        Ok(Self {
            runtime,
            form,
            authorization,
        })
    }

    /// The endpoint the service works at.
    pub(crate) fn endpoint<'a>(&'a self, state: &'a ProviderState) -> TokenEndpoint<'a> {
        TokenEndpoint {
            store: state.store.as_ref(),
            runtime: &self.runtime,
            lifetimes: lifetimes(state),
            now: state.clock.now(),
        }
    }

    /// The request as the service takes it.
    pub(crate) fn request(&self) -> TokenRequest<'_> {
        TokenRequest {
            form: &self.form,
            authorization: self.authorization.as_deref(),
        }
    }
}

/// `POST /{tenant}/oidc/token`.
pub async fn token(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let call = ClientCall::extract(&state, &tenant, &headers, &body).await?;
    let body = token::exchange(&call.endpoint(&state), call.request()).await?;
    Ok(no_store((StatusCode::OK, axum::Json(body)).into_response()))
}

/// Adds `Cache-Control: no-store` and `Pragma: no-cache`.
pub(crate) fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn duration(value: std::time::Duration) -> time::Duration {
    time::Duration::try_from(value).unwrap_or(time::Duration::MINUTE)
}
