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
use crate::state::ProviderState;

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

/// A token-endpoint-style form: its pairs and the one `Authorization` header, if sent.
type ClientForm<'h> = (Vec<(String, String)>, Option<&'h str>);

/// The form of a token-endpoint-style request (token, revocation): `application/x-www-form-urlencoded` only, and at
/// most one `Authorization` header.
pub(crate) fn client_form<'h>(
    headers: &'h HeaderMap,
    body: &[u8],
) -> Result<ClientForm<'h>, AppError> {
    if !super::is_form(headers) {
        return Err(AppError::oauth(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let mut authorizations = headers.get_all(header::AUTHORIZATION).iter();
    let authorization = authorizations.next().and_then(|v| v.to_str().ok());
    if authorizations.next().is_some() {
        return Err(refuse(&OidcError::MultipleClientAuthentications));
    }
    Ok((pairs, authorization))
}

/// `POST /{tenant}/oidc/token`.
pub async fn token(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let tenant = tenant_id(&tenant)?;
    let runtime = state.tenant(&tenant).await?;
    let (form, authorization) = client_form(&headers, &body)?;
    let endpoint = TokenEndpoint {
        store: state.store.as_ref(),
        runtime: &runtime,
        lifetimes: lifetimes(&state),
        now: state.clock.now(),
    };
    let body = token::exchange(
        &endpoint,
        TokenRequest {
            form: &form,
            authorization,
        },
    )
    .await?;
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
