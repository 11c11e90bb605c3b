//! The identity broker's routes, per broker tenant and user flow, in the shapes apps written for Azure AD B2C use:
//! `/{tenant}/{policy}/...`, `/tfp/{tenant}/{policy}/...` and `/{tenant}/...?p={policy}`, all parsed by
//! `tessera_broker::policy_path::parse_broker_path`, plus `/{tenant}/oauth2/authresp` for the providers' answers.
//! Because those shapes have a free second segment, they are served by the router's fallback ([`dispatch`]), so
//! they never clash with `/{tenant}/oidc/...` and the pages; the broker's own form targets are ordinary routes.
//!
//! - [`documents`]: discovery and JWKS, from memory.
//! - [`signin`]: authorize (GET; POST is a 303 to GET), the choice page's answer, `authresp` and the attribute
//!   page's answer, with the correlation and session cookies.
//! - [`endpoints`]: token, userinfo and logout.
//! - [`pages`]: the choice, attribute, signed-out and error pages.
//!
//! Handlers take [`BrokerState`] only, so the broker's router can be mounted alone; the use cases are
//! `tessera_service::broker`'s.

pub mod documents;
pub mod endpoints;
pub mod pages;
pub mod signin;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tessera_broker::policy_path::{
    BrokerRoute, PolicyEndpoint, PolicyPathError, parse_broker_path,
};

use crate::common::state::BrokerState;
use crate::error::AppError;

/// The broker's routes: its two form targets, and every B2C-shaped URL through the fallback.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    BrokerState: axum::extract::FromRef<S>,
{
    Router::new()
        .route("/{tenant}/broker/choose", post(signin::choose))
        .route("/{tenant}/broker/signup", post(signin::signup))
        .route("/{tenant}/broker/local/email", post(signin::local_email))
        .route("/{tenant}/broker/local/code", post(signin::local_code))
        .route(
            "/{tenant}/broker/local/recover",
            post(signin::local_recover),
        )
        .route(
            "/{tenant}/broker/local/recover/email",
            post(signin::local_recover_email),
        )
        .route(
            "/{tenant}/broker/local/register",
            post(signin::local_register),
        )
        .route(
            "/{tenant}/broker/local/passkey",
            post(signin::local_passkey),
        )
        .route(
            "/{tenant}/broker/local/passkey/options",
            post(signin::local_passkey_options),
        )
        .fallback(dispatch)
}

/// Routes a request by its B2C shape; anything else is a 404.
pub async fn dispatch(State(state): State<BrokerState>, request: Request<Body>) -> Response {
    let route = match parse_broker_path(request.uri().path(), request.uri().query()) {
        Ok(route) => route,
        Err(PolicyPathError::UnknownShape | PolicyPathError::InvalidTenant) => {
            return AppError::NotFound.into_response();
        }
        Err(e) => return AppError::BadRequest(e.to_string()).into_response(),
    };
    // The per-address limits, before the body is read (preflights are not counted).
    if let BrokerRoute::Policy { endpoint, .. } = &route {
        let limiter = match (endpoint, request.method()) {
            (_, &Method::OPTIONS) => None,
            (PolicyEndpoint::Authorize, _) => Some(&state.limits.authorize),
            (PolicyEndpoint::Token, _) => Some(&state.limits.token),
            _ => None,
        };
        if let Some(refused) = limiter.and_then(|l| l.check(&request)) {
            return refused;
        }
    }
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, state.security.body_limit).await {
        Ok(body) => body,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let method = parts.method.clone();
    let result = match route {
        BrokerRoute::AuthResponse { tenant } => match method {
            Method::GET | Method::POST => signin::authresp(&state, &tenant, &parts, &body).await,
            _ => Ok(StatusCode::METHOD_NOT_ALLOWED.into_response()),
        },
        BrokerRoute::Policy {
            tenant,
            policy,
            endpoint,
            ..
        } => {
            let call = signin::PolicyCall {
                state: &state,
                tenant: &tenant,
                policy: &policy,
                parts: &parts,
                body: &body,
            };
            match (endpoint, &method) {
                (PolicyEndpoint::Discovery, &Method::GET) => documents::discovery(call).await,
                (PolicyEndpoint::Keys, &Method::GET) => documents::keys(call).await,
                (PolicyEndpoint::Authorize, &Method::GET) => signin::authorize(call).await,
                (PolicyEndpoint::Authorize, &Method::POST) => signin::authorize_post(call).await,
                (PolicyEndpoint::Token, &Method::POST) => endpoints::token(call).await,
                (PolicyEndpoint::Userinfo, &Method::GET | &Method::POST) => {
                    endpoints::userinfo(call).await
                }
                (PolicyEndpoint::Logout, &Method::GET | &Method::POST) => {
                    endpoints::logout(call).await
                }
                (PolicyEndpoint::Discovery | PolicyEndpoint::Keys, &Method::OPTIONS)
                | (PolicyEndpoint::Token | PolicyEndpoint::Userinfo, &Method::OPTIONS) => {
                    Ok(documents::preflight())
                }
                _ => Ok(StatusCode::METHOD_NOT_ALLOWED.into_response()),
            }
        }
    };
    result.unwrap_or_else(IntoResponse::into_response)
}
