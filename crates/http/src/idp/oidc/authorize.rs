//! `/{tenant}/oidc/authorize` and `/{tenant}/oidc/authorize/resume`: extract, call
//! `tessera_service::provider::authorize`, and turn its outcome into a redirect, a form post or a page.
//!
//! The handshake with the pages:
//! 1. `GET /authorize`: a request the browser's session satisfies gets its code at once; otherwise the validated
//!    request waits as a ceremony of kind [`AUTHZ_CEREMONY`] ([`PendingAuthorization`], 10 minutes) and the browser
//!    is sent to `/{tenant}/login?authz={id}`.
//! 2. After a passkey sign-in or sign-up, the pages create the session and send the browser to
//!    `/{tenant}/oidc/authorize/resume?authz={id}` (or `...&error=access_denied` when the user cancels).
//! 3. `resume` takes the ceremony, re-checks the session, mints the code and answers the client. A malformed `authz`
//!    is an expired request, never looked up.
//!
//! `POST /authorize` is answered with a 303 to the same endpoint as a GET with the same parameters, so that the
//! browser sends its `SameSite=Lax` session cookie (SECURITY.md §2 item 20).

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use tessera_core::{CeremonyId, TenantId};
use tessera_oidc::error::OidcError;
use tessera_service::provider::authorize::{self, AuthorizeEndpoint, AuthorizeOutcome};

use super::tenant_id;
use crate::common::reply::{PageError, deliver_authorization};
use crate::error::AppError;
use crate::session;
use crate::state::{ProviderState, TenantRuntime};

pub use tessera_service::provider::authorize::{AUTHZ_CEREMONY, AUTHZ_TTL, PendingAuthorization};

/// `GET /{tenant}/oidc/authorize`.
pub async fn authorize_get(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    authorize(&state, &tenant_id(&tenant)?, &pairs, &headers).await
}

/// `POST /{tenant}/oidc/authorize`: a 303 to the GET endpoint with the same parameters (OIDC Core §3.1.2.1 requires
/// POST; the redirect lets the browser send its `SameSite=Lax` cookie).
pub async fn authorize_post(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let tenant = tenant_id(&tenant)?;
    state.tenant(&tenant).await?;
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form_urlencoded::parse(&body))
        .finish();
    let location = format!("/{tenant}/oidc/authorize?{query}");
    see_other(&location)
}

/// The shared authorization logic of GET (and POST through its redirect).
async fn authorize(
    state: &ProviderState,
    tenant: &TenantId,
    pairs: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let runtime = state.tenant(tenant).await?;
    let current = session::current(state, tenant, headers).await?;
    let endpoint = AuthorizeEndpoint {
        store: state.store.as_ref(),
        runtime: &runtime,
        now: state.clock.now(),
    };
    let outcome = authorize::authorize(&endpoint, pairs, current.as_ref()).await?;
    answer(outcome, &runtime)
}

/// `resume`'s query.
#[derive(Debug, Deserialize)]
pub struct ResumeQuery {
    authz: String,
    error: Option<String>,
}

/// `GET /{tenant}/oidc/authorize/resume?authz={id}[&error=access_denied]`.
pub async fn resume(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    Query(query): Query<ResumeQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = tenant_id(&tenant)?;
    let runtime = state.tenant(&tenant).await?;
    let current = session::current(&state, &tenant, &headers).await?;
    let endpoint = AuthorizeEndpoint {
        store: state.store.as_ref(),
        runtime: &runtime,
        now: state.clock.now(),
    };
    let outcome = match CeremonyId::parse(&query.authz) {
        Ok(authz) => {
            authorize::resume(
                &endpoint,
                authz.as_str(),
                query.error.is_some(),
                current.as_ref(),
            )
            .await?
        }
        Err(_) => AuthorizeOutcome::Expired,
    };
    answer(outcome, &runtime)
}

/// The response for an outcome of the authorization use case.
fn answer(outcome: AuthorizeOutcome, runtime: &TenantRuntime) -> Result<Response, AppError> {
    let tenant = &runtime.tenant.id;
    match outcome {
        AuthorizeOutcome::Respond(response) => Ok(deliver_authorization(response)),
        AuthorizeOutcome::ShowError(cause) => {
            Ok(no_redirect_page(cause.as_ref(), runtime).into_response())
        }
        AuthorizeOutcome::SignIn { authz } => see_other(&format!("/{tenant}/login?authz={authz}")),
        AuthorizeOutcome::Expired => {
            // The pages' own page for a pending request that is gone: what happened, and a way onward.
            let base = format!("/{tenant}");
            Ok(PageError::expired_request(&runtime.tenant.display_name, base).into_response())
        }
    }
}

/// The page shown instead of redirecting (RFC 6749 §4.1.2.1): the pages' error page, in words people understand, with
/// the tenant's name and a way onward. The client is never redirected to from here.
pub fn no_redirect_page(cause: Option<&OidcError>, runtime: &TenantRuntime) -> PageError {
    let (heading, message) = no_redirect_words(cause, &runtime.tenant.display_name);
    let base = format!("/{}", runtime.tenant.id);
    let page = PageError::new(StatusCode::BAD_REQUEST, heading, &message)
        .for_tenant(&runtime.tenant.display_name, base.clone())
        .with_link(format!("{base}/account"), "Go to your account");
    // The log line names the rule that failed, which the page's words do not (they are for the user).
    match cause {
        Some(cause) => page.with_reason(format!(
            "{}: {}",
            cause.code().as_str(),
            cause.description()
        )),
        None => page,
    }
}

/// The heading and message of [`no_redirect_page`] for a failed rule.
fn no_redirect_words(cause: Option<&OidcError>, tenant_name: &str) -> (&'static str, String) {
    match cause {
        Some(OidcError::UnknownClient) => (
            "Unknown application",
            format!(
                "The application that sent you here is not registered with {tenant_name}. Go back to the \
                 application and try again, or tell its administrator."
            ),
        ),
        Some(OidcError::UnregisteredRedirectUri) => (
            "Sign-in request not accepted",
            "The application asked to send you back to an address it has not registered, so you were not sent \
             there. Go back to the application and tell its administrator."
                .to_owned(),
        ),
        Some(
            OidcError::MissingParameter { .. }
            | OidcError::DuplicateParameter { .. }
            | OidcError::MalformedParameter { .. },
        ) => (
            "Incomplete sign-in request",
            "The link that brought you here is incomplete or damaged. Go back to the application and start the \
             sign-in again."
                .to_owned(),
        ),
        _ => (
            "Sign-in request not accepted",
            "This sign-in request cannot be answered. Go back to the application and start the sign-in again."
                .to_owned(),
        ),
    }
}

fn see_other(location: &str) -> Result<Response, AppError> {
    let value = HeaderValue::from_str(location)
        .map_err(|_| AppError::BadRequest("unusable redirect".into()))?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, value),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response())
}
