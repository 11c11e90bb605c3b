//! Signing in to the portal, the bootstrap link, and signing out.
//!
//! The portal is an OpenID Connect client (`tessera-portal`, public, PKCE `S256`) of the built-in admin tenant:
//! `/admin/signin/start` sends the browser to the tenant's authorization endpoint, where the administrator signs in
//! with a passkey on the tenant's own pages; `/admin/callback` takes the one-time pending sign-in (bound to the
//! browser by its CSRF token), redeems the code in process with the token endpoint's use case, verifies the ID
//! token and starts a portal session. `/admin/bootstrap?token=tsb_...` does the same with `prompt=create` (the
//! sign-up page), and the sign-in that comes back spends the bootstrap token and makes the new user the first
//! global admin, in one transaction with its audit event.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_service::admin::members::{self, Callback, Enrolment, SignInError};
use tessera_service::provider::token::{TokenEndpoint, TokenLifetimes};

use super::views::Frame;
use super::{Ctx, ROOT, clear_session_cookie, csrf_namespace, see_other, session_cookie};
use crate::common::csrf;
use crate::common::reply::PageError;
use crate::common::state::AppState;
use crate::common::views::render;

#[derive(Template)]
#[template(path = "portal/signin.html")]
struct SignInPage {
    frame: Frame,
    heading: String,
    intro: Vec<String>,
    start: Option<String>,
}

fn bare_frame(title: &str) -> Frame {
    Frame {
        title: title.to_owned(),
        csrf: String::new(),
        username: String::new(),
        role: String::new(),
        nav: Vec::new(),
        crumbs: Vec::new(),
        notice: None,
        style_src: crate::common::assets::style_src(),
        script_src: crate::common::assets::script_src(),
    }
}

fn retry(page: PageError) -> Response {
    page.with_link(format!("{ROOT}/signin"), "Sign in again")
        .into_response()
}

/// `GET /admin/signin[?next=][&signed_out=1]`: the sign-in page.
pub async fn page(Query(params): Query<HashMap<String, String>>) -> Response {
    let next = members::safe_next(params.get("next").map(String::as_str).unwrap_or("/admin/"));
    let start = format!(
        "{ROOT}/signin/start?next={}",
        form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
    );
    let mut intro = Vec::new();
    if params.contains_key("signed_out") {
        intro.push("You are signed out.".to_owned());
    }
    intro.push(
        "Administrators sign in with a passkey of the Tessera admin tenant. There is no password."
            .to_owned(),
    );
    render(
        &SignInPage {
            frame: bare_frame("Sign in"),
            heading: "Sign in to the Tessera admin portal".into(),
            intro,
            start: Some(start),
        },
        StatusCode::OK,
        None,
    )
}

/// `GET /admin/signin/start?next=`: to the admin tenant's authorization endpoint.
pub async fn start(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let next = params.get("next").map(String::as_str).unwrap_or("/admin/");
    match begin(&app, &headers, Enrolment::None, next).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// `GET /admin/bootstrap?token=tsb_...`: the first administrator's passkey enrolment (the admin tenant's sign-up
/// page). A wrong, expired or used link is refused before anything starts.
pub async fn bootstrap(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let token = params.get("token").map(String::as_str).unwrap_or_default();
    let now = app.provider.clock.now();
    match members::live_bootstrap(&app.admin_store, token, now).await {
        Ok(Some(hash)) => match begin(&app, &headers, Enrolment::Bootstrap(hash), "/admin/").await {
            Ok(response) => response,
            Err(e) => e.into_response(),
        },
        Ok(None) => PageError::new(
            StatusCode::NOT_FOUND,
            "This bootstrap link does not work",
            "A bootstrap link works once, for 30 minutes after the server printed it. This one is wrong, has \
             expired, or was used already. If there is no administrator yet, restart the server to get a new \
             link; otherwise sign in.",
        )
        .with_link(format!("{ROOT}/signin"), "Go to the sign-in page")
        .with_reason("bootstrap link refused".into())
        .into_response(),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// `GET /admin/invitation?token=tsi_...`: an invited administrator's passkey enrolment (the admin tenant's
/// sign-up page). A wrong, expired or used invitation is refused before anything starts.
pub async fn invitation(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let token = params.get("token").map(String::as_str).unwrap_or_default();
    let now = app.provider.clock.now();
    match members::live_invitation(&app.admin_store, token, now).await {
        Ok(Some(hash)) => {
            match begin(&app, &headers, Enrolment::Invitation(hash), "/admin/").await {
                Ok(response) => response,
                Err(e) => e.into_response(),
            }
        }
        Ok(None) => PageError::new(
            StatusCode::NOT_FOUND,
            "This invitation does not work",
            "An invitation works once, and only until the time the global admin who made it chose. This one is \
             wrong, has expired, or was used already. Ask a global admin for a new one.",
        )
        .with_link(format!("{ROOT}/signin"), "Go to the sign-in page")
        .with_reason("invitation refused".into())
        .into_response(),
        Err(e) => PageError::from(e).into_response(),
    }
}

async fn begin(
    app: &AppState,
    headers: &HeaderMap,
    enrolment: Enrolment,
    next: &str,
) -> Result<Response, PageError> {
    let now = app.provider.clock.now();
    let namespace = csrf_namespace().map_err(|e| *e)?;
    let (token, set_csrf) = csrf::token_for_page(headers, &namespace)?;
    let enrol = enrolment != Enrolment::None;
    let started = members::begin_sign_in(
        app.provider.store.as_ref(),
        token.binding(),
        enrolment,
        next,
        now,
    )
    .await?;
    let runtime = app.provider.tenant(&members::admin_tenant()?).await?;
    let redirect_uri = app.provider.public_url.join(members::CALLBACK_PATH);
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("client_id", members::PORTAL_CLIENT)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile")
        .append_pair("state", &started.state)
        .append_pair("nonce", &started.nonce)
        .append_pair("code_challenge", &started.code_challenge)
        .append_pair("code_challenge_method", "S256");
    if enrol {
        query.append_pair("prompt", "create");
    }
    let location = format!("{}?{}", runtime.endpoints.authorization, query.finish());
    let mut response = see_other(&location);
    if let Some(cookie) = set_csrf {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `GET /admin/callback?code=&state=` (or `?error=&state=`): the admin tenant's answer.
pub async fn callback(
    State(app): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let namespace = match csrf_namespace() {
        Ok(namespace) => namespace,
        Err(e) => return (*e).into_response(),
    };
    let Some(token) = csrf::current(&headers, &namespace) else {
        return retry(expired());
    };
    let runtime = match members::admin_tenant() {
        Ok(id) => match app.provider.tenant(&id).await {
            Ok(runtime) => runtime,
            Err(e) => return PageError::from(e).into_response(),
        },
        Err(e) => return PageError::from(e).into_response(),
    };
    let endpoint = TokenEndpoint {
        store: app.provider.store.as_ref(),
        runtime: &runtime,
        lifetimes: TokenLifetimes {
            access: seconds(app.provider.security.access_token_ttl),
            refresh: seconds(app.provider.security.refresh_token_ttl),
        },
        now: app.provider.clock.now(),
    };
    let binding = token.binding();
    let answer = Callback {
        state: params.get("state").map(String::as_str).unwrap_or_default(),
        code: params.get("code").map(String::as_str),
        error: params.get("error").map(String::as_str),
        binding: &binding,
    };
    let redirect_uri = app.provider.public_url.join(members::CALLBACK_PATH);
    let context = tessera_service::admin::api_tokens::RequestContext {
        request_id: headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        client_address: extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|axum::extract::ConnectInfo(addr)| {
                crate::common::security::client_ip(
                    Some(addr.ip()),
                    &headers,
                    &app.provider.security.trusted_proxies,
                )
                .to_string()
            }),
    };
    match members::finish_sign_in(
        app.provider.store.as_ref(),
        &app.admin_store,
        &endpoint,
        &redirect_uri,
        answer,
        &context,
    )
    .await
    {
        Ok(signed_in) => {
            tracing::info!(admin = %signed_in.admin.username, "portal sign-in");
            let mut response = see_other(&signed_in.next);
            if let Some(cookie) = session_cookie(&app, &signed_in.session.cookie_value) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(SignInError::Expired) => retry(expired()),
        Err(SignInError::Refused(code)) => retry(
            PageError::new(
                StatusCode::BAD_REQUEST,
                "You are not signed in",
                "The sign-in was cancelled or refused. Try again.",
            )
            .with_reason(format!("portal sign-in refused: {code}")),
        ),
        Err(SignInError::NotAnAdmin { username }) => retry(
            PageError::new(
                StatusCode::FORBIDDEN,
                "This account is not an administrator",
                &format!(
                    "You signed in as {username}, but this account has no role in the portal. Ask a global \
                     admin to add you."
                ),
            )
            .with_reason("portal sign-in: not an administrator".into()),
        ),
        Err(SignInError::BootstrapSpent) => retry(
            PageError::new(
                StatusCode::GONE,
                "This bootstrap link does not work any more",
                "It was used meanwhile, or it expired while you enrolled your passkey. Ask the administrator it \
                 made, or restart the server if there is none.",
            )
            .with_reason("bootstrap link spent".into()),
        ),
        Err(SignInError::InvitationSpent) => retry(
            PageError::new(
                StatusCode::GONE,
                "This invitation does not work any more",
                "It was used meanwhile, or it expired while you enrolled your passkey. Ask a global admin for a \
                 new one.",
            )
            .with_reason("invitation spent".into()),
        ),
        Err(SignInError::Unverified(why)) => retry(
            PageError::new(
                StatusCode::BAD_REQUEST,
                "The sign-in could not be verified",
                "Start the sign-in again.",
            )
            .with_reason(format!("portal sign-in unverified: {why}")),
        ),
        Err(SignInError::Service(e)) => PageError::from(e).into_response(),
        Err(other) => PageError::from(tessera_service::ServiceError::Internal(other.to_string()))
            .into_response(),
    }
}

fn expired() -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        "This sign-in has expired",
        "Too much time has passed, it was completed already, or it was started in another browser.",
    )
    .with_reason("portal sign-in expired".into())
}

fn seconds(value: std::time::Duration) -> time::Duration {
    time::Duration::try_from(value).unwrap_or(time::Duration::MINUTE)
}

/// `POST /admin/signout`: ends the portal session.
pub async fn sign_out(
    State(app): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(refused) = ctx.verify_form(form.get(csrf::CSRF_FIELD).map(String::as_str)) {
        return *refused;
    }
    if let Some(value) = csrf::read_cookie(&headers, super::session_cookie_name(&app))
        && let Err(e) = members::end_session(app.provider.store.as_ref(), value).await
    {
        return PageError::from(e).into_response();
    }
    let mut response = see_other(&format!("{ROOT}/signin?signed_out=1"));
    if let Some(cookie) = clear_session_cookie(&app) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}
