//! Sign-in: the page, and the two JSON calls of its script.
//!
//! - `GET /{tenant}/login?authz=...`: username field (`autocomplete="username webauthn"` for autofill), a button for
//!   discoverable passkeys, links to sign up and to cancel (which answers the client `access_denied`).
//! - `POST /{tenant}/webauthn/login/options`: `{"username"?, "authz"?, "conditional"?, "reauth"?}` → `{"ceremony",
//!   "publicKey"}` (request options). With a username, `allowCredentials` lists that user's passkeys; without, the
//!   browser offers discoverable ones. `reauth` re-verifies the signed-in user before a passkey is added: limited to
//!   the user's own passkeys, and user verification is required whatever the tenant's policy says.
//! - `POST /{tenant}/webauthn/login/verify`: `{"ceremony", "credential"}` → `{"ok": true, "next"}` and a new session.
//!
//! The use case is `tessera_service::provider::signin`; these handlers check CSRF, read the body and the session
//! cookie, call it, and shape the answer.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tessera_service::provider::signin::{self, BeginSignIn, FinishSignIn, SignInFor};

use super::context::{self, PageTenant};
use super::views::{Layout, LoginPage, render};
use crate::common::reply::{ApiError, PageError};
use crate::error::AppError;
use crate::session;
use crate::state::ProviderState;

/// `GET /{tenant}/login?authz=...`: the sign-in page.
pub async fn page(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let tenant = context::tenant(&state, &tenant).await?;
    if let Some(wrong) = context::wrong_address(&state, &tenant, &headers, &uri) {
        return Err(wrong);
    }
    let authz = context::authz_id(context::query_param(query.as_deref(), "authz").as_deref())?;
    let id = tenant.id().clone();
    let mut pending = None;
    if let Some(authz) = &authz {
        let found = context::pending_authorization(&state, &id, authz)
            .await?
            .ok_or_else(|| expired_request(&tenant))?;
        // `prompt=create`: the client asks for the sign-up page.
        if found.wants_sign_up() {
            return Ok(context::see_other(
                &context::page_url(&id, "signup", Some(authz)),
                &[],
            ));
        }
        pending = Some(found);
    } else if session::current(&state, &id, &headers).await?.is_some() {
        return Ok(context::see_other(&format!("/{id}/account"), &[]));
    }
    let (csrf, set_cookie) = crate::csrf::token_for_page(&headers, tenant.id())?;
    let view = LoginPage {
        layout: Layout::new(
            "Sign in",
            &tenant.tenant.display_name,
            tenant.base(),
            Some(csrf.as_str()),
            "login",
            authz.as_deref(),
        ),
        client_name: pending.as_ref().map(|p| p.client_name.clone()),
        login_hint: pending
            .as_ref()
            .and_then(|p| p.login_hint())
            .unwrap_or_default()
            .to_owned(),
        signup_href: context::page_url(&id, "signup", authz.as_deref()),
        cancel_href: authz.as_deref().map(|a| context::cancel_url(&id, a)),
        notice: notice(query.as_deref()),
    };
    Ok(render(&view, StatusCode::OK, set_cookie))
}

/// The page shown when the pending authorization is gone: back to the application, or on to the sign-in page.
pub(crate) fn expired_request(tenant: &PageTenant) -> PageError {
    PageError::expired_request(&tenant.tenant.display_name, tenant.base())
}

/// The notice of the sign-in page, from its query (`?signed_out=1` after signing out).
fn notice(query: Option<&str>) -> Option<String> {
    context::query_param(query, "signed_out")
        .filter(|v| v == "1")
        .map(|_| "You are signed out.".to_owned())
}

/// The body of `POST /{tenant}/webauthn/login/options`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginOptionsRequest {
    /// Username-first sign-in.
    pub username: Option<String>,
    /// The pending authorization to resume afterwards.
    pub authz: Option<String>,
    /// The script asks for conditional mediation (autofill): never username-first.
    pub conditional: bool,
    /// Re-verify the signed-in user.
    pub reauth: bool,
}

/// The answer to an options call: the ceremony id and the WebAuthn options for the browser.
#[derive(Debug, Serialize)]
pub struct OptionsReply<T> {
    /// The ceremony id to send back with the response.
    pub ceremony: String,
    /// The options, in the WebAuthn JSON serialization.
    #[serde(rename = "publicKey")]
    pub public_key: T,
}

/// The body of a verify call.
#[derive(Debug, Deserialize)]
pub struct VerifyRequest {
    /// The ceremony id from the options call.
    pub ceremony: String,
    /// The credential's `toJSON()`.
    pub credential: serde_json::Value,
    /// A name for a new passkey (registration only).
    #[serde(default)]
    pub nickname: Option<String>,
}

/// The answer to a successful verify call.
#[derive(Debug, Serialize)]
pub struct VerifyReply {
    /// Always `true`.
    pub ok: bool,
    /// Where the browser goes next.
    pub next: String,
}

/// Whether the tenant hides whether accounts exist (its `hide_account_existence` setting, on by default).
fn hides_accounts(tenant: &PageTenant) -> Result<bool, AppError> {
    Ok(tessera_service::tenants::tenant_settings(&tenant.tenant)?.hides_account_existence())
}

/// `POST /{tenant}/webauthn/login/options`.
pub async fn options(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = context::tenant(&state, &tenant).await?;
    let csrf = tenant.verify_csrf(&state, &headers, crate::csrf::header_token(&headers))?;
    let request: LoginOptionsRequest = context::json_body(&body)?;
    let id = tenant.id().clone();
    let authz = context::authz_id(request.authz.as_deref())?;
    let who = if request.reauth {
        let session = session::current(&state, &id, &headers)
            .await?
            .ok_or(AppError::SignInRequired)?;
        SignInFor::Reauth(session.user_id)
    } else {
        let username = match request.username.as_deref() {
            Some(raw) if !request.conditional => super::signup::parse_sign_in_username(raw)?,
            _ => None,
        };
        match username {
            Some(username) => SignInFor::Username(username),
            None => SignInFor::Discoverable,
        }
    };
    let started = signin::begin_sign_in(
        state.store.as_ref(),
        BeginSignIn {
            tenant: &tenant.tenant,
            policy: tenant.policy()?,
            who,
            authz,
            binding: csrf.binding(),
            decoys: hides_accounts(&tenant)?
                .then(|| state.master_key.derive(signin::DECOY_KEY_PURPOSE)),
            now: state.clock.now(),
        },
    )
    .await?;
    Ok(context::json_reply(
        &OptionsReply {
            ceremony: started.ceremony,
            public_key: started.options,
        },
        None,
    ))
}

/// `POST /{tenant}/webauthn/login/verify`.
pub async fn verify(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = context::tenant(&state, &tenant).await?;
    let csrf = tenant.verify_csrf(&state, &headers, crate::csrf::header_token(&headers))?;
    let request: VerifyRequest = context::json_body(&body)?;
    let id = tenant.id().clone();
    let signed_in = signin::finish_sign_in(
        state.store.as_ref(),
        FinishSignIn {
            tenant: &tenant.tenant,
            policy: tenant.policy()?,
            ceremony: &request.ceremony,
            binding: &csrf.binding(),
            credential: request.credential,
            replaces: session::previous_key(&headers, &id),
            session_ttl: session::ttl(&state, &tenant.tenant),
            hide_accounts: hides_accounts(&tenant)?,
            now: state.clock.now(),
        },
    )
    .await?;
    let cookie = session::cookie(
        &id,
        &signed_in.session.token,
        session::ttl(&state, &tenant.tenant),
    )?;
    let next = context::next_after_sign_in(&id, signed_in.authz.as_deref());
    let mut reply = context::json_reply(&VerifyReply { ok: true, next }, Some(cookie));
    if !signed_in.reauth {
        // A new sign-in gets a new CSRF token: one known before it is worthless after.
        let (_, csrf) = crate::csrf::fresh(&id)?;
        reply
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, csrf);
    }
    Ok(reply)
}
