//! `POST {policy}/oauth2/v2.0/token`, `GET|POST {policy}/openid/v2.0/userinfo` and
//! `GET|POST {policy}/oauth2/v2.0/logout`: extract, call `tessera_service::broker::token`, shape the answer.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_oidc::error::OidcError;
use tessera_service::broker::session::session_cookie_name;
use tessera_service::broker::token::{self as service, EndpointError, LogoutOutcome, TokenCall};
use tessera_service::handles;

use super::documents::cors;
use super::pages;
use super::signin::PolicyCall;
use crate::common::csrf;
use crate::error::AppError;

fn refused(error: EndpointError) -> AppError {
    match error {
        EndpointError::Refused(e) => AppError::oauth_refusal(&e),
        EndpointError::Service(e) => e.into(),
        _ => AppError::Internal("unhandled endpoint error".into()),
    }
}

/// The token endpoint.
pub async fn token(call: PolicyCall<'_>) -> Result<Response, AppError> {
    let runtime = call.state.tenant(call.tenant).await?;
    let Some(policy) = call.state.policy(call.tenant, call.policy).await? else {
        return Err(AppError::NotFound);
    };
    let form_type = call
        .parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return Err(AppError::oauth(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let pairs = call.form_pairs();
    let mut authorizations = call.parts.headers.get_all(header::AUTHORIZATION).iter();
    let authorization = authorizations.next().and_then(|v| v.to_str().ok());
    if authorizations.next().is_some() {
        return Err(AppError::oauth_refusal(
            &OidcError::MultipleClientAuthentications,
        ));
    }
    let body = service::token(TokenCall {
        store: call.state.store.as_ref(),
        config: &call.state.cache.config,
        tenant: call.tenant,
        policy: &policy,
        keys: &runtime.keys,
        pairs: &pairs,
        authorization,
        now: call.state.clock.now(),
    })
    .await
    .map_err(refused)?;
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    cors(headers);
    Ok(response)
}

/// The userinfo endpoint: the token from `Authorization: Bearer` or (POST) the `access_token` form field, never
/// both (RFC 6750 §2).
pub async fn userinfo(call: PolicyCall<'_>) -> Result<Response, AppError> {
    let runtime = call.state.tenant(call.tenant).await?;
    let Some(policy) = call.state.policy(call.tenant, call.policy).await? else {
        return Err(AppError::NotFound);
    };
    let form = call.form_pairs();
    let mut values = call.parts.headers.get_all(header::AUTHORIZATION).iter();
    let authorization = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(v), None) => Some(v.to_str().map_err(|_| AppError::InvalidToken)?),
        (Some(_), Some(_)) => return Err(AppError::BearerTokenRepeated),
    };
    let token =
        tessera_oidc::access_token::bearer_token(authorization, &form).map_err(|e| match e {
            OidcError::AccessTokenMissing if authorization.is_none() => {
                AppError::BearerTokenMissing
            }
            OidcError::MultipleAccessTokens => AppError::BearerTokenRepeated,
            _ => AppError::InvalidToken,
        })?;
    let claims = service::userinfo(
        call.state.store.as_ref(),
        call.tenant,
        &policy,
        &runtime.keys,
        token,
        call.state.clock.now(),
    )
    .await
    .map_err(|e| match e {
        EndpointError::Refused(OidcError::AccessTokenLacksOpenid) => {
            AppError::oauth_refusal(&OidcError::AccessTokenLacksOpenid)
        }
        EndpointError::Refused(_) => AppError::InvalidToken,
        other => refused(other),
    })?;
    let mut response = (StatusCode::OK, axum::Json(claims)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    cors(headers);
    Ok(response)
}

/// The logout endpoint: ends the broker session and clears its cookie; sends the browser on only to a logout URL
/// the app registered, otherwise shows the signed-out page.
pub async fn logout(call: PolicyCall<'_>) -> Result<Response, AppError> {
    let runtime = call.state.tenant(call.tenant).await?;
    let Some(policy) = call.state.policy(call.tenant, call.policy).await? else {
        return Err(AppError::NotFound);
    };
    let mut pairs = call.query_pairs();
    if call.parts.method == axum::http::Method::POST {
        pairs.extend(call.form_pairs());
    }
    let name = session_cookie_name(call.tenant);
    let session = csrf::read_cookie(&call.parts.headers, &name)
        .filter(|v| handles::is_plausible(v))
        .map(handles::storage_key);
    let outcome = service::logout(
        call.state.store.as_ref(),
        call.tenant,
        &policy,
        &runtime.keys,
        &pairs,
        session.as_deref(),
    )
    .await;
    let mut response = match outcome {
        Ok(LogoutOutcome::Redirect(url)) => {
            let value = HeaderValue::from_str(&url)
                .map_err(|_| AppError::BadRequest("unusable redirect".into()))?;
            (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, value),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
            )
                .into_response()
        }
        Ok(LogoutOutcome::SignedOut) => {
            pages::signed_out(&runtime.tenant.display_name, call.tenant.as_str())
        }
        Err(EndpointError::Refused(e)) => {
            tracing::info!(reason = %e, "broker logout without redirect");
            pages::signed_out(&runtime.tenant.display_name, call.tenant.as_str())
        }
        Err(other) => return Err(refused(other)),
    };
    if let Ok(value) = HeaderValue::from_str(&format!(
        "{name}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax"
    )) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}
