//! `/{tenant}/oidc/authorize` and `/{tenant}/oidc/authorize/resume`.
//!
//! The handshake with the pages:
//! 1. `GET /authorize` validates the request with `tessera_oidc`'s rules. If the browser's session satisfies
//!    `prompt`/`max_age`/`id_token_hint`, the code is issued at once. Otherwise the validated request is stored as a
//!    ceremony of kind [`AUTHZ_CEREMONY`] ([`PendingAuthorization`], 10 minutes) and the browser is sent to
//!    `/{tenant}/login?authz={id}`.
//! 2. After a passkey sign-in or sign-up, the pages create the session and send the browser to
//!    `/{tenant}/oidc/authorize/resume?authz={id}` (or `...&error=access_denied` when the user cancels).
//! 3. `resume` takes the ceremony, re-checks the session, mints the code and answers the client.
//!
//! `POST /authorize` is answered with a 303 to the same endpoint as a GET with the same parameters, so that the
//! browser sends its `SameSite=Lax` session cookie (SECURITY.md §2 item 20).

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use tessera_core::TenantId;
use tessera_oidc::authorize::{
    AuthorizeContext, LoginDecision, SessionFacts, ValidatedAuthorization, authorization_response,
    decide_login, error_response, requested_client_id, validate_authorization,
};
use tessera_oidc::error::{AuthorizeError, OidcError};
use tessera_oidc::token::AuthorizationGrant;
use tessera_store::{AuthCode, Session};
use time::OffsetDateTime;

use super::{client_config, tenant_id};
use crate::common::reply::{PageError, deliver_authorization};
use crate::error::AppError;
use crate::session;
use crate::state::{AppState, TenantRuntime};
use tessera_service::handles;

pub use tessera_service::provider::authorize::{AUTHZ_CEREMONY, AUTHZ_TTL, PendingAuthorization};

/// `GET /{tenant}/oidc/authorize`.
pub async fn authorize_get(
    State(state): State<AppState>,
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
    State(state): State<AppState>,
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
    state: &AppState,
    tenant: &TenantId,
    pairs: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let runtime = state.tenant(tenant).await?;
    let client_id = match requested_client_id(pairs) {
        Ok(id) => id,
        Err(e) => return answer_error(&e, &runtime),
    };
    let Some(client) = state.store.get_client(tenant, &client_id).await? else {
        return answer_error(
            &AuthorizeError::no_redirect(&OidcError::UnknownClient),
            &runtime,
        );
    };
    let config = client_config(&client)?;
    let ctx = AuthorizeContext {
        issuer: &runtime.issuer,
        keys: runtime.keys.verifying_keys(),
    };
    let request = match validate_authorization(pairs, &config, &ctx) {
        Ok(request) => request,
        Err(e) => return answer_error(&e, &runtime),
    };
    let now = state.clock.now();
    let current = session::current(state, tenant, headers).await?;
    let facts = current.as_ref().map(|s| SessionFacts {
        user: s.user_id.clone(),
        auth_time: s.auth_time,
    });
    match decide_login(&request, facts.as_ref(), now) {
        LoginDecision::UseSession => match current {
            Some(session) => issue(state, tenant, &runtime.issuer, &request, &session).await,
            None => Err(AppError::Internal(
                "decide_login used a session that is absent".into(),
            )),
        },
        LoginDecision::Error(e) => answer_error(&e, &runtime),
        LoginDecision::MustAuthenticate => {
            let pending = PendingAuthorization {
                request,
                client_name: client.display_name,
                created_at: now.unix_timestamp(),
            };
            send_to_sign_in(state, tenant, &pending, now).await
        }
    }
}

async fn send_to_sign_in(
    state: &AppState,
    tenant: &TenantId,
    pending: &PendingAuthorization,
    now: OffsetDateTime,
) -> Result<Response, AppError> {
    let id = tessera_service::provider::authorize::store_pending(
        state.store.as_ref(),
        tenant,
        pending,
        now,
    )
    .await?;
    see_other(&format!("/{tenant}/login?authz={id}"))
}

/// `resume`'s query.
#[derive(Debug, Deserialize)]
pub struct ResumeQuery {
    authz: String,
    error: Option<String>,
}

/// `GET /{tenant}/oidc/authorize/resume?authz={id}[&error=access_denied]`.
pub async fn resume(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(query): Query<ResumeQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let tenant = tenant_id(&tenant)?;
    let runtime = state.tenant(&tenant).await?;
    let now = state.clock.now();
    let Some(pending) = tessera_service::provider::authorize::take_pending(
        state.store.as_ref(),
        &tenant,
        &query.authz,
        now,
    )
    .await?
    else {
        // The pages' own page for a pending request that is gone: what happened, and a way onward.
        let base = format!("/{}", runtime.tenant.id);
        return Ok(PageError::expired_request(&runtime.tenant.display_name, base).into_response());
    };
    let request = &pending.request;
    let refuse = |cause: OidcError| {
        AuthorizeError::redirect(
            &request.redirect_uri,
            request.response_mode,
            request.state.as_deref(),
            &cause,
        )
    };
    if query.error.is_some() {
        // The user cancelled: whatever the page said, the client hears only `access_denied`.
        let denied = AuthorizeError::Redirect {
            redirect_uri: request.redirect_uri.clone(),
            response_mode: request.response_mode,
            state: request.state.clone(),
            error: tessera_oidc::error::ErrorCode::AccessDenied,
            description: "the user cancelled the sign-in".into(),
        };
        return answer_error(&denied, &runtime);
    }
    let Some(session) = session::current(&state, &tenant, &headers).await? else {
        // Not signed in (cookie lost or expired): back to the sign-in page with a fresh ceremony.
        return send_to_sign_in(&state, &tenant, &pending, now).await;
    };
    if pending.demands_fresh_authentication()
        && session.auth_time.unix_timestamp() < pending.created_at
    {
        return send_to_sign_in(&state, &tenant, &pending, now).await;
    }
    if request
        .id_token_hint_sub
        .as_deref()
        .is_some_and(|sub| sub != session.user_id.as_str())
    {
        return answer_error(&refuse(OidcError::LoginRequired), &runtime);
    }
    // The client may have been deleted while the user signed in.
    if state
        .store
        .get_client(&tenant, &request.client_id)
        .await?
        .is_none()
    {
        return answer_error(
            &AuthorizeError::no_redirect(&OidcError::UnknownClient),
            &runtime,
        );
    }
    issue(&state, &tenant, &runtime.issuer, request, &session).await
}

/// Mints a code for `session`'s user (stored hashed, with its grant) and answers the client.
async fn issue(
    state: &AppState,
    tenant: &TenantId,
    issuer: &str,
    request: &ValidatedAuthorization,
    session: &Session,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let code = handles::issue(now)?;
    let grant = AuthorizationGrant::new(
        request,
        session.user_id.clone(),
        session.auth_time,
        session::authentication(session),
        Some(session.sid.clone()),
        now,
    );
    let record = AuthCode {
        code_hash: code.key,
        tenant: tenant.clone(),
        client_id: request.client_id.clone(),
        grant_id: handles::time_ordered_id(now, 18)?,
        payload: serde_json::to_vec(&grant)
            .map_err(|e| AppError::Internal(format!("grant: {e}")))?,
        expires_at: grant.expires_at,
    };
    state.store.put_auth_code(&record).await?;
    let response = authorization_response(request, issuer, &code.value)
        .map_err(|e| AppError::Internal(format!("response: {e}")))?;
    Ok(deliver_authorization(response))
}

/// Answers an authorization error: redirected to the client when allowed, otherwise an error page.
fn answer_error(error: &AuthorizeError, runtime: &TenantRuntime) -> Result<Response, AppError> {
    match error_response(error, &runtime.issuer) {
        None => {
            let cause = match error {
                AuthorizeError::NoRedirect { cause, .. } => Some(cause),
                AuthorizeError::Redirect { .. } => None,
            };
            Ok(no_redirect_page(cause, runtime).into_response())
        }
        Some(Ok(response)) => Ok(deliver_authorization(response)),
        Some(Err(e)) => Ok(no_redirect_page(Some(&e), runtime).into_response()),
    }
}

/// The page shown instead of redirecting (RFC 6749 §4.1.2.1): the pages' error page, in words people understand, with
/// the tenant's name and a way onward. The client is never redirected to from here.
pub fn no_redirect_page(cause: Option<&OidcError>, runtime: &TenantRuntime) -> PageError {
    let (heading, message) = no_redirect_words(cause, &runtime.tenant.display_name);
    let base = format!("/{}", runtime.tenant.id);
    PageError::new(StatusCode::BAD_REQUEST, heading, &message)
        .for_tenant(&runtime.tenant.display_name, base.clone())
        .with_link(format!("{base}/account"), "Go to your account")
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
