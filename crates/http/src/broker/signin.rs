//! The sign-in path's HTTP side: `GET|POST {policy}/oauth2/v2.0/authorize`, `POST /{tenant}/broker/choose`,
//! `GET|POST /{tenant}/oauth2/authresp` and `POST /{tenant}/broker/signup`.
//!
//! Cookies (all `__Host-`: `Path=/`, `Secure`, no `Domain`; all `HttpOnly`):
//! - the correlation cookie of one upstream sign-in, `SameSite=None` because `form_post` arrives as a cross-site
//!   POST, for the transaction's lifetime; its hash is in the transaction and checked at `authresp` and at the
//!   attribute page's answer, then it is cleared;
//! - the broker session, `SameSite=Lax` (the app's authorization request is a top-level navigation).
//!
//! Every form carries the CSRF token of [`crate::csrf`] and passes its Origin check.

use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tessera_broker::config::PolicyId;
use tessera_core::TenantId;
use tessera_service::broker::local;
use tessera_service::broker::session::session_cookie_name;
use tessera_service::broker::signin::{
    self as service, AppAnswer, BeginSignIn, BrokerContext, CookieValue, SignInError, SignInStep,
    correlation_cookie_name,
};
use tessera_service::handles;
use tessera_store::broker::BROKER_TRANSACTION_LIFETIME;

use super::pages;
use crate::common::csrf;
use crate::common::reply::deliver_authorization;
use crate::common::state::BrokerState;
use crate::error::AppError;

/// A request to an endpoint of a user flow, after routing.
#[derive(Clone, Copy)]
pub struct PolicyCall<'a> {
    /// The broker's state.
    pub state: &'a BrokerState,
    /// The tenant from the URL.
    pub tenant: &'a TenantId,
    /// The policy from the URL (any case).
    pub policy: &'a PolicyId,
    /// The request's head.
    pub parts: &'a Parts,
    /// Its body.
    pub body: &'a Bytes,
}

impl PolicyCall<'_> {
    /// The query's pairs.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.parts.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect()
    }

    /// The body's pairs, when it is a form.
    pub fn form_pairs(&self) -> Vec<(String, String)> {
        form_pairs(&self.parts.headers, self.body)
    }
}

/// The pairs of a form body (empty unless `application/x-www-form-urlencoded`).
pub fn form_pairs(headers: &HeaderMap, body: &Bytes) -> Vec<(String, String)> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form_type {
        form_urlencoded::parse(body).into_owned().collect()
    } else {
        Vec::new()
    }
}

/// The request id the security layer gave this request: the correlation id shown on error pages.
fn correlation_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned()
}

fn context<'a>(state: &'a BrokerState) -> Result<BrokerContext<'a>, AppError> {
    Ok(BrokerContext {
        store: state.store.as_ref(),
        upstream: &state.upstream,
        master: &state.master_key,
        config: &state.cache.config,
        base: state.public_url.as_str(),
        session_ttl: time::Duration::try_from(state.security.session_ttl)
            .unwrap_or(time::Duration::HOUR),
        now: state.clock.now(),
    })
}

/// `GET {policy}/oauth2/v2.0/authorize`.
pub async fn authorize(call: PolicyCall<'_>) -> Result<Response, AppError> {
    let runtime = call.state.tenant(call.tenant).await?;
    let correlation = correlation_id(&call.parts.headers);
    let Some(policy) = call.state.policy(call.tenant, call.policy).await? else {
        return Ok(pages::sign_in_error(
            SignInError::UnknownFlow,
            call.tenant,
            &runtime.tenant.display_name,
            &correlation,
        ));
    };
    let pairs = call.query_pairs();
    let (token, csrf_cookie) = csrf::token_for_page(&call.parts.headers, call.tenant)?;
    let session = csrf::read_cookie(&call.parts.headers, &session_cookie_name(call.tenant))
        .filter(|v| handles::is_plausible(v))
        .map(handles::storage_key);
    let begin = BeginSignIn {
        tenant: call.tenant,
        policy: &policy,
        keys: &runtime.keys,
        pairs: &pairs,
        session,
        binding: token.binding(),
    };
    let step = service::begin_sign_in(context(call.state)?, begin).await;
    Ok(respond(
        call.state,
        call.tenant,
        &runtime.tenant.display_name,
        step,
        Some((token.as_str(), csrf_cookie)),
        &correlation,
        None,
    ))
}

/// `POST {policy}/oauth2/v2.0/authorize`: a 303 to the GET endpoint with the same parameters, so that the browser
/// sends its `SameSite=Lax` session cookie.
pub async fn authorize_post(call: PolicyCall<'_>) -> Result<Response, AppError> {
    call.state.tenant(call.tenant).await?;
    let mut pairs = call.query_pairs();
    pairs.extend(call.form_pairs());
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let location = format!("{}?{query}", call.parts.uri.path());
    let value = HeaderValue::from_str(&location)
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

/// `POST /{tenant}/broker/choose`: the provider the user picked on the choice page.
pub async fn choose(
    State(state): State<BrokerState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let tenant = TenantId::parse(&tenant).map_err(|_| AppError::NotFound)?;
    let runtime = state.tenant(&tenant).await?;
    let form = form_pairs(&headers, &body);
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let token = csrf::verify(
        &headers,
        &tenant,
        field(csrf::CSRF_FIELD),
        &[],
        &state.public_url.origin(),
    )?;
    let (Some(handle), Some(provider)) = (field("handle"), field("provider")) else {
        return Err(AppError::BadRequest("the form is incomplete".into()));
    };
    let step = service::choose_provider(
        context(&state)?,
        &tenant,
        handle,
        provider,
        &token.binding(),
    )
    .await;
    Ok(respond(
        &state,
        &tenant,
        &runtime.tenant.display_name,
        step,
        None,
        &correlation_id(&headers),
        None,
    ))
}

/// `GET|POST /{tenant}/oauth2/authresp`: the provider's authorization response (query, or `form_post` body).
pub async fn authresp(
    state: &BrokerState,
    tenant: &TenantId,
    parts: &Parts,
    body: &Bytes,
) -> Result<Response, AppError> {
    let runtime = state.tenant(tenant).await?;
    let params: Vec<(String, String)> = if parts.method == axum::http::Method::POST {
        form_pairs(&parts.headers, body)
    } else {
        form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect()
    };
    let cookie_name = params
        .iter()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| correlation_cookie_name(v));
    let correlation = cookie_name
        .as_deref()
        .and_then(|name| csrf::read_cookie(&parts.headers, name))
        .map(str::to_owned);
    let step =
        service::complete_upstream(context(state)?, tenant, &params, correlation.as_deref()).await;
    // The attribute page's form carries a CSRF token; the cross-site POST did not bring the cookie, so the page
    // sets one when the browser has none to show.
    let csrf = match &step {
        Ok(SignInStep::Attributes(_)) => Some(csrf::token_for_page(&parts.headers, tenant)?),
        _ => None,
    };
    let keep = matches!(step, Ok(SignInStep::Attributes(_)));
    Ok(respond(
        state,
        tenant,
        &runtime.tenant.display_name,
        step,
        csrf.as_ref().map(|(t, c)| (t.as_str(), c.clone())),
        &correlation_id(&parts.headers),
        cookie_name.filter(|_| !keep),
    ))
}

/// `POST /{tenant}/broker/signup`: the attribute page's answer.
pub async fn signup(
    State(state): State<BrokerState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let tenant = TenantId::parse(&tenant).map_err(|_| AppError::NotFound)?;
    let runtime = state.tenant(&tenant).await?;
    let form = form_pairs(&headers, &body);
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let token = csrf::verify(
        &headers,
        &tenant,
        field(csrf::CSRF_FIELD),
        &[],
        &state.public_url.origin(),
    )?;
    let Some(handle) = field("handle") else {
        return Err(AppError::BadRequest("the form is incomplete".into()));
    };
    // The correlation cookie of the upstream sign-in binds the pending sign-up to this browser; the form names it.
    let name = field("correlation")
        .filter(|n| n.starts_with(service::CORRELATION_COOKIE_PREFIX))
        .map(str::to_owned);
    let correlation = name
        .as_deref()
        .and_then(|n| csrf::read_cookie(&headers, n))
        .map(str::to_owned);
    let step = tessera_service::broker::signup::complete_signup(
        context(&state)?,
        &tenant,
        handle,
        &form,
        correlation.as_deref(),
        &token.binding(),
    )
    .await;
    let keep = matches!(step, Ok(SignInStep::Attributes(_)));
    Ok(respond(
        &state,
        &tenant,
        &runtime.tenant.display_name,
        step,
        Some((token.as_str(), None)),
        &correlation_id(&headers),
        name.filter(|_| !keep),
    ))
}

/// Turns a step into a response. `csrf` is the page token (and its cookie, when new) for pages with forms;
/// `clear` names a correlation cookie to delete.
fn respond(
    state: &BrokerState,
    tenant: &TenantId,
    tenant_name: &str,
    step: Result<SignInStep, SignInError>,
    csrf: Option<(&str, Option<HeaderValue>)>,
    correlation: &str,
    clear: Option<String>,
) -> Response {
    let (csrf_token, csrf_cookie) = csrf.unwrap_or(("", None));
    let mut response = match step {
        Err(error) => pages::sign_in_error(error, tenant, tenant_name, correlation),
        Ok(SignInStep::Upstream {
            location,
            correlation,
        }) => match HeaderValue::from_str(&location) {
            Ok(value) => {
                let mut response = (
                    StatusCode::SEE_OTHER,
                    [
                        (header::LOCATION, value),
                        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                    ],
                )
                    .into_response();
                append_cookie(&mut response, &correlation_cookie(&correlation));
                response
            }
            Err(_) => AppError::Internal("provider authorization URL is not a header".into())
                .into_response(),
        },
        Ok(SignInStep::Choose(page)) => {
            pages::choice(page, tenant_name, tenant.as_str(), csrf_token, csrf_cookie)
        }
        Ok(SignInStep::Attributes(page)) => {
            pages::attributes(page, tenant_name, tenant.as_str(), csrf_token, csrf_cookie)
        }
        Ok(SignInStep::LocalCode(page)) => {
            pages::local_code(page, tenant_name, tenant.as_str(), csrf_token, csrf_cookie)
        }
        Ok(SignInStep::LocalRegister(page)) => {
            pages::local_register(*page, tenant_name, tenant.as_str(), csrf_token, csrf_cookie)
        }
        Ok(SignInStep::LocalRecover(page)) => {
            pages::local_recover(page, tenant_name, tenant.as_str(), csrf_token, csrf_cookie)
        }
        Ok(SignInStep::Answer(AppAnswer { response, session })) => {
            let mut answer = deliver_authorization(response);
            if let Some(session) = session {
                let max_age = state.security.session_ttl.as_secs();
                append_cookie(
                    &mut answer,
                    &format!(
                        "{}={}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Lax",
                        session.name, session.value
                    ),
                );
            }
            answer
        }
    };
    if let Some(name) = clear {
        append_cookie(
            &mut response,
            &format!("{name}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=None"),
        );
    }
    response
}

fn correlation_cookie(cookie: &CookieValue) -> String {
    format!(
        "{}={}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=None",
        cookie.name,
        cookie.value,
        BROKER_TRANSACTION_LIFETIME.whole_seconds()
    )
}

fn append_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// A local-account form: the tenant, its display name, the fields, and the CSRF token checked (field and Origin).
struct LocalForm {
    tenant: TenantId,
    tenant_name: String,
    form: Vec<(String, String)>,
    token: csrf::CsrfToken,
}

impl LocalForm {
    async fn read(
        state: &BrokerState,
        tenant: &str,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<Self, AppError> {
        let tenant = TenantId::parse(tenant).map_err(|_| AppError::NotFound)?;
        let runtime = state.tenant(&tenant).await?;
        let form = form_pairs(headers, body);
        let submitted = form
            .iter()
            .find(|(k, _)| k == csrf::CSRF_FIELD)
            .map(|(_, v)| v.clone());
        let token = csrf::verify(
            headers,
            &tenant,
            submitted.as_deref(),
            &[],
            &state.public_url.origin(),
        )?;
        Ok(Self {
            tenant_name: runtime.tenant.display_name.clone(),
            tenant,
            form,
            token,
        })
    }

    fn field(&self, name: &str) -> Result<&str, AppError> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| AppError::BadRequest("the form is incomplete".into()))
    }

    fn respond(
        &self,
        state: &BrokerState,
        headers: &HeaderMap,
        step: Result<SignInStep, SignInError>,
    ) -> Response {
        respond(
            state,
            &self.tenant,
            &self.tenant_name,
            step,
            Some((self.token.as_str(), None)),
            &correlation_id(headers),
            None,
        )
    }
}

/// The client's address (for the code-send limits) and the request's head and body (at most the body limit).
async fn read_with_client_address(
    state: &BrokerState,
    request: axum::extract::Request,
) -> Result<(String, axum::http::request::Parts, Bytes), AppError> {
    let client = state.limits.authorize.client_address(&request).to_string();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, state.security.body_limit)
        .await
        .map_err(|_| AppError::BadRequest("the form is too large".into()))?;
    Ok((client, parts, body))
}

/// `POST /{tenant}/broker/local/email`: "Sign up with email" (mails a one-time code).
pub async fn local_email(
    State(state): State<BrokerState>,
    Path(tenant): Path<String>,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    let (client, parts, body) = read_with_client_address(&state, request).await?;
    let form = LocalForm::read(&state, &tenant, &parts.headers, &body).await?;
    let send = local::SendCode {
        handle: form.field("handle")?,
        binding: &form.token.binding(),
        email: form.field("email")?,
        client: &client,
    };
    let step = local::send_code(
        context(&state)?,
        state.mailer.as_deref(),
        &form.tenant,
        send,
    )
    .await;
    Ok(form.respond(&state, &parts.headers, step))
}

/// `POST /{tenant}/broker/local/code`: the one-time code.
pub async fn local_code(
    State(state): State<BrokerState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = LocalForm::read(&state, &tenant, &headers, &body).await?;
    let step = local::verify_code(
        context(&state)?,
        &form.tenant,
        form.field("handle")?,
        &form.token.binding(),
        form.field("code")?,
    )
    .await;
    Ok(form.respond(&state, &headers, step))
}

/// `POST /{tenant}/broker/local/register`: the new passkey (`credential`: its `toJSON()`).
pub async fn local_register(
    State(state): State<BrokerState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = LocalForm::read(&state, &tenant, &headers, &body).await?;
    let step = local::finish_registration(
        context(&state)?,
        &form.tenant,
        form.field("handle")?,
        &form.token.binding(),
        form.field("credential")?,
        form.field("remove_others").is_ok_and(|v| v == "yes"),
    )
    .await;
    Ok(form.respond(&state, &headers, step))
}

/// `POST /{tenant}/broker/local/recover`: the choice page's "Lost your passkey?" (the page asking for the address).
pub async fn local_recover(
    State(state): State<BrokerState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = LocalForm::read(&state, &tenant, &headers, &body).await?;
    let step = local::recovery_page(
        context(&state)?,
        &form.tenant,
        form.field("handle")?,
        &form.token.binding(),
    )
    .await;
    Ok(form.respond(&state, &headers, step))
}

/// `POST /{tenant}/broker/local/recover/email`: the recovery page's address (mails a one-time code when it is a
/// local account's; the same answer otherwise).
pub async fn local_recover_email(
    State(state): State<BrokerState>,
    Path(tenant): Path<String>,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    let (client, parts, body) = read_with_client_address(&state, request).await?;
    let form = LocalForm::read(&state, &tenant, &parts.headers, &body).await?;
    let send = local::SendCode {
        handle: form.field("handle")?,
        binding: &form.token.binding(),
        email: form.field("email")?,
        client: &client,
    };
    let step = local::send_recovery_code(
        context(&state)?,
        state.mailer.as_deref(),
        &form.tenant,
        send,
    )
    .await;
    Ok(form.respond(&state, &parts.headers, step))
}

/// `POST /{tenant}/broker/local/passkey`: the passkey sign-in's assertion (`credential`: its `toJSON()`).
pub async fn local_passkey(
    State(state): State<BrokerState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = LocalForm::read(&state, &tenant, &headers, &body).await?;
    let step = local::finish_passkey_sign_in(
        context(&state)?,
        &form.tenant,
        form.field("ceremony")?,
        &form.token.binding(),
        form.field("credential")?,
    )
    .await;
    Ok(form.respond(&state, &headers, step))
}

/// The body of `POST /{tenant}/broker/local/passkey/options`.
#[derive(serde::Deserialize)]
pub struct PasskeyOptionsRequest {
    /// The choice page's handle.
    pub handle: String,
    /// Email-first: the address typed (its account's passkeys are offered).
    #[serde(default)]
    pub email: Option<String>,
}

/// `POST /{tenant}/broker/local/passkey/options` (JSON, CSRF token in `X-CSRF-Token`): a challenge for a
/// discoverable passkey, `{"ceremony": ..., "publicKey": {...}}`.
pub async fn local_passkey_options(
    State(state): State<BrokerState>,
    Path(tenant): Path<String>,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    // Each call stores a challenge: limited per client address as the authorization endpoint is.
    if let Some(refused) = state.limits.authorize.check(&request) {
        return Ok(refused);
    }
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let body = axum::body::to_bytes(body, state.security.body_limit)
        .await
        .map_err(|_| AppError::BadRequest("the request is too large".into()))?;
    let request: PasskeyOptionsRequest = serde_json::from_slice(&body)
        .map_err(|_| AppError::BadRequest("the request is not the expected JSON".into()))?;
    let tenant = TenantId::parse(&tenant).map_err(|_| AppError::NotFound)?;
    state.tenant(&tenant).await?;
    let token = csrf::verify(
        &headers,
        &tenant,
        csrf::header_token(&headers),
        &[],
        &state.public_url.origin(),
    )?;
    match local::passkey_options(
        context(&state)?,
        &tenant,
        &request.handle,
        &token.binding(),
        request.email.as_deref(),
    )
    .await
    {
        Ok(options) => Ok((
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            axum::Json(serde_json::json!({
                "ceremony": options.ceremony,
                "publicKey": options.options,
            })),
        )
            .into_response()),
        Err(SignInError::Service(e)) => Err(AppError::from(e)),
        Err(e) => Ok((
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({
                "ok": false,
                "error": "sign_in_expired",
                "message": format!("This sign-in cannot continue ({e}). Go back to the application and start again."),
            })),
        )
            .into_response()),
    }
}
