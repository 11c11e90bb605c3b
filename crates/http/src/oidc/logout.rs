//! `GET|POST /{tenant}/oidc/logout`: OpenID Connect RP-Initiated Logout 1.0.
//!
//! With a valid `id_token_hint` the session is ended at once; without one the user confirms on a page (a cross-site
//! request carries no `SameSite=Lax` cookie, so a forged confirmation ends nothing). The browser is sent on only to
//! a `post_logout_redirect_uri` registered for the client, with `state` echoed; otherwise a "signed out" page.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use bytes::Bytes;
use tessera_core::TenantId;
use tessera_oidc::logout::{parse_logout_request, plan_logout, post_logout_redirect};

use super::{client_config, tenant_id};
use crate::error::{AppError, html_escape};
use crate::session;
use crate::state::AppState;

/// `GET /{tenant}/oidc/logout`.
pub async fn logout_get(
    State(state): State<AppState>,
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
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    logout(&state, &tenant_id(&tenant)?, &pairs, &headers).await
}

async fn logout(
    state: &AppState,
    tenant: &TenantId,
    pairs: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let runtime = state.tenant(tenant).await?;
    let request = parse_logout_request(pairs).map_err(|e| AppError::BadRequest(e.description()))?;
    let plan = plan_logout(&request, &runtime.issuer, runtime.keys.verifying_keys())
        .map_err(|e| AppError::BadRequest(e.description()))?;
    let config = match &plan.client_id {
        Some(id) => {
            let client = state
                .store
                .get_client(tenant, id)
                .await?
                .ok_or_else(|| AppError::BadRequest("unknown client".into()))?;
            Some(client_config(&client)?)
        }
        None => None,
    };
    // Only a registered post_logout_redirect_uri is ever used (RFC 9700 §4.11: no open redirector).
    let redirect = post_logout_redirect(&request, config.as_ref())
        .map_err(|e| AppError::BadRequest(e.description()))?;
    let current = session::current(state, tenant, headers).await?;
    let confirmed = pairs.iter().any(|(k, v)| k == "confirm" && v == "yes");
    // A valid hint for the signed-in user (or no session at all) is proof enough; otherwise the user confirms.
    let hinted_for_session = match (&plan.hinted_sub, &current) {
        (Some(sub), Some(session)) => sub == session.user_id.as_str(),
        (Some(_), None) => true,
        (None, _) => false,
    };
    if current.is_some() && !hinted_for_session && !confirmed {
        return Ok(confirm_page(tenant, pairs));
    }
    let clear = session::end(state, tenant, headers).await?;
    let mut response = match redirect {
        Some(location) => match HeaderValue::from_str(&location) {
            Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
            Err(_) => signed_out_page(),
        },
        None => signed_out_page(),
    };
    response.headers_mut().append(header::SET_COOKIE, clear);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn signed_out_page() -> Response {
    Html(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>Signed out</title><link rel=\"stylesheet\" href=\"/static/tessera.css\"></head><body><main>\
         <h1>Signed out</h1><p>You are signed out. You can close this window.</p></main></body></html>",
    )
    .into_response()
}

fn confirm_page(tenant: &TenantId, pairs: &[(String, String)]) -> Response {
    let mut fields = String::new();
    for (name, value) in pairs {
        if matches!(
            name.as_str(),
            "client_id" | "id_token_hint" | "post_logout_redirect_uri" | "state" | "ui_locales"
        ) {
            fields.push_str(&format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                html_escape(name),
                html_escape(value)
            ));
        }
    }
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>Sign out?</title><link rel=\"stylesheet\" href=\"/static/tessera.css\"></head><body><main>\
         <h1>Sign out?</h1><p>An application asked to sign you out.</p>\
         <form method=\"post\" action=\"/{tenant}/oidc/logout\">{fields}\
         <input type=\"hidden\" name=\"confirm\" value=\"yes\"><button type=\"submit\">Sign out</button></form>\
         </main></body></html>"
    );
    let mut response = Html(html).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
