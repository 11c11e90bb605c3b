//! `GET|POST /{tenant}/oidc/logout`: OpenID Connect RP-Initiated Logout 1.0. The decision is
//! `tessera_service::provider::logout`'s; this module renders its pages and clears the cookie.
//!
//! With a valid `id_token_hint` the session it names is ended at once: the session whose public handle is the hint's
//! `sid` (whichever browser holds it), or, for a hint without `sid`, the browser's session when it is the hint's user.
//! Otherwise the user confirms on a page (a cross-site request carries no `SameSite=Lax` cookie, so a forged
//! confirmation ends nothing). The browser is sent on only to a `post_logout_redirect_uri` registered for the client,
//! with `state` echoed; otherwise a "signed out" page. Both pages are rendered like the other pages (shared layout and
//! style sheet). Front- and back-channel logout are not offered.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tessera_core::TenantId;
use tessera_oidc::error::OidcError;
use tessera_service::provider::logout::{self, LogoutOutcome};

use super::tenant_id;
use crate::common::reply::PageError;
use crate::common::views::{Layout, render};
use crate::error::AppError;
use crate::session;
use crate::state::ProviderState;

/// The parameters the confirmation page carries over to its POST.
const CARRIED_OVER: [&str; 5] = [
    "client_id",
    "id_token_hint",
    "post_logout_redirect_uri",
    "state",
    "ui_locales",
];

/// The page asking the user to confirm a logout that no valid `id_token_hint` vouches for.
#[derive(askama::Template)]
#[template(path = "logout_confirm.html")]
struct ConfirmPage {
    layout: Layout,
    fields: Vec<(String, String)>,
}

/// `GET /{tenant}/oidc/logout`.
pub async fn logout_get(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    logout(&state, &tenant_id(&tenant)?, &pairs, &headers).await
}

/// `POST /{tenant}/oidc/logout` (form-encoded, as the confirmation page and some clients send it).
pub async fn logout_post(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    logout(&state, &tenant_id(&tenant)?, &pairs, &headers).await
}

async fn logout(
    state: &ProviderState,
    tenant: &TenantId,
    pairs: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let runtime = state.tenant(tenant).await?;
    let name = &runtime.tenant.display_name;
    let current = session::current(state, tenant, headers).await?;
    let outcome = logout::logout(state.store.as_ref(), &runtime, pairs, current.as_ref()).await?;
    let redirect = match outcome {
        LogoutOutcome::Refused(e) => return Ok(refused_page(&e, name, tenant)),
        LogoutOutcome::Confirm => return Ok(confirm_page(name, tenant, pairs)),
        LogoutOutcome::SignedOut { redirect } => redirect,
    };
    let clear = session::end(state, tenant, headers).await?;
    let mut response = match redirect {
        Some(location) => match HeaderValue::from_str(&location) {
            Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
            Err(_) => signed_out_page(name, tenant),
        },
        None => signed_out_page(name, tenant),
    };
    response.headers_mut().append(header::SET_COOKIE, clear);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A logout request that cannot be honoured: nothing is ended and nobody is redirected; the pages' error page says
/// why in plain words, with a way to sign out by hand.
fn refused_page(cause: &OidcError, tenant_name: &str, tenant: &TenantId) -> Response {
    let message = match cause {
        OidcError::InvalidIdTokenHint => {
            "The application sent a sign-in token that this site did not issue, so you are still signed in. Go to \
             your account to sign out."
        }
        OidcError::UnregisteredPostLogoutRedirectUri => {
            "The application asked to send you to an address it has not registered, so you are still signed in. Go \
             to your account to sign out, and tell the application's administrator."
        }
        OidcError::UnknownClient | OidcError::ClientIdMismatch => {
            "The application that sent you here is not registered with this site, so you are still signed in. Go to \
             your account to sign out."
        }
        _ => {
            "The sign-out link is incomplete or damaged, so you are still signed in. Go to your account to sign \
             out."
        }
    };
    PageError::new(StatusCode::BAD_REQUEST, "Sign-out not completed", message)
        .for_tenant(tenant_name, format!("/{tenant}"))
        .with_link(format!("/{tenant}/account"), "Go to your account")
        .into_response()
}

/// The "signed out" page, in the pages' layout, with a way back in.
fn signed_out_page(tenant_name: &str, tenant: &TenantId) -> Response {
    PageError::new(
        StatusCode::OK,
        "Signed out",
        "You are signed out. You can close this window, or sign in again.",
    )
    .for_tenant(tenant_name, format!("/{tenant}"))
    .with_link(format!("/{tenant}/login"), "Sign in again")
    .into_response()
}

fn confirm_page(tenant_name: &str, tenant: &TenantId, pairs: &[(String, String)]) -> Response {
    let fields = pairs
        .iter()
        .filter(|(name, _)| CARRIED_OVER.contains(&name.as_str()))
        .cloned()
        .collect();
    let page = ConfirmPage {
        layout: Layout::new(
            "Sign out?",
            tenant_name,
            format!("/{tenant}"),
            None,
            "logout",
            None,
        ),
        fields,
    };
    render(&page, StatusCode::OK, None)
}
