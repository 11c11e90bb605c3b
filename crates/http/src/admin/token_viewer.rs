//! The built-in token viewer: `GET /jwt/run` starts a run of a user flow (state, nonce and PKCE verifier sealed in
//! a `__Host-` cookie), and `GET|POST /jwt` receives the broker's answer (query or `form_post`), redeems the code
//! in process and shows the ID token decoded and checked. The use cases are
//! `tessera_service::admin::token_viewer`'s.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_oidc::keys::VerifyingKey;
use tessera_service::admin::token_viewer::{
    self as service, ClaimView, KnownIssuer, PendingRun, RUN_COOKIE, RUN_LIFETIME, RunError,
    RunResponseMode, SignatureCheck,
};

use crate::common::csrf;
use crate::common::reply::PageError;
use crate::common::state::AppState;
use crate::common::views::{Layout, render};

/// The viewer's path (its reply URL is `{public url}/jwt`).
pub const VIEWER_PATH: &str = "/jwt";

/// The run URL of a user flow for an application, with the viewer as its reply URL.
pub fn run_url(public_url: &str, tenant: &str, policy: &str, client_id: &str) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("tenant", tenant)
        .append_pair("policy", policy)
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", &format!("{public_url}{VIEWER_PATH}"))
        .finish();
    format!("{public_url}{VIEWER_PATH}/run?{query}")
}

#[derive(Template)]
#[template(path = "token_viewer.html")]
struct ViewerPage {
    layout: Layout,
    error: Option<(String, String)>,
    token: Option<TokenView>,
    run_again: Option<String>,
}

struct TokenView {
    raw: String,
    issuer: String,
    verified_kid: Option<String>,
    failure: String,
    nonce_note: Option<String>,
    claims: Vec<ClaimView>,
    header: Vec<ClaimView>,
}

fn refused(error: RunError) -> PageError {
    match error {
        RunError::Service(e) => e.into(),
        RunError::UnknownFlow { .. } => PageError::new(
            StatusCode::NOT_FOUND,
            "Unknown user flow",
            &error.to_string(),
        ),
        RunError::RedirectUri(_) => PageError::new(
            StatusCode::BAD_REQUEST,
            "This reply URL cannot be used",
            &error.to_string(),
        ),
        RunError::NoPendingRun | RunError::StateMismatch => PageError::new(
            StatusCode::BAD_REQUEST,
            "This answer does not belong to a run started here",
            &format!("{error}. Start the user flow again."),
        ),
        RunError::CodeRefused(_) => PageError::new(
            StatusCode::BAD_REQUEST,
            "The code could not be redeemed",
            &format!("{error}. A code works once; start the user flow again."),
        ),
        other => PageError::new(StatusCode::BAD_REQUEST, "Bad request", &other.to_string()),
    }
    .with_link("/".into(), "Go to the start page")
}

fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-tessera-jwt-run=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax",
    )
}

/// `GET /jwt/run?tenant=&policy=&client_id=&redirect_uri=[&response_mode=]`: a 303 to the flow's authorize URL.
pub async fn run(
    State(app): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let param = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
    let response_mode = RunResponseMode::parse(params.get("response_mode").map(String::as_str))
        .ok_or_else(|| {
            refused(RunError::BadRequest(
                "response_mode must be query or form_post".into(),
            ))
        })?;
    let viewer_url = app.broker.public_url.join(VIEWER_PATH);
    let (tenant, policy) = service::check_run_request(
        app.broker.store.as_ref(),
        param("tenant"),
        param("policy"),
        param("client_id"),
        param("redirect_uri"),
        &viewer_url,
    )
    .await
    .map_err(refused)?;
    let Some(flow) = app.broker.policy(&tenant, &policy).await? else {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            "Unknown user flow",
            "This user flow does not exist.",
        ));
    };
    let (state, nonce, verifier) = service::new_secrets()?;
    let pending = PendingRun {
        tenant: tenant.to_string(),
        policy: flow.policy.to_string(),
        client_id: param("client_id").to_owned(),
        redirect_uri: viewer_url,
        state,
        nonce,
        verifier,
        response_mode,
        expires_at: (app.broker.clock.now() + RUN_LIFETIME).unix_timestamp(),
    };
    let sealed = pending.seal(&app.broker.master_key)?;
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &pending.client_id)
        .append_pair("redirect_uri", &pending.redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("response_mode", response_mode.as_str())
        .append_pair("scope", "openid")
        .append_pair("state", &pending.state)
        .append_pair("nonce", &pending.nonce)
        .append_pair(
            "code_challenge",
            &service::pkce_challenge(&pending.verifier),
        )
        .append_pair("code_challenge_method", "S256")
        .finish();
    let location = format!("{}?{query}", flow.urls.authorize);
    let cookie = format!(
        "{RUN_COOKIE}={sealed}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Lax",
        RUN_LIFETIME.whole_seconds()
    );
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    let location = HeaderValue::from_str(&location)
        .map_err(|_| PageError::new(StatusCode::BAD_REQUEST, "Bad request", "Bad run URL."))?;
    headers.insert(header::LOCATION, location);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        headers.append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `GET /jwt`: the broker's answer in the query (or nothing: the empty viewer, whose script forwards a fragment).
pub async fn show_get(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    answer(&app, &headers, &params).await
}

/// `POST /jwt`: the broker's `form_post` answer (or a token posted by the viewer's script from a fragment).
pub async fn show_post(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(params): Form<HashMap<String, String>>,
) -> Response {
    answer(&app, &headers, &params).await
}

async fn answer(app: &AppState, headers: &HeaderMap, params: &HashMap<String, String>) -> Response {
    let pending = csrf::read_cookie(headers, RUN_COOKIE)
        .map(|sealed| PendingRun::open(&app.broker.master_key, sealed, app.broker.clock.now()));
    let has_cookie = pending.is_some();
    let run_again = pending.as_ref().and_then(|p| p.as_ref().ok()).map(|p| {
        run_url(
            app.broker.public_url.as_str(),
            &p.tenant,
            &p.policy,
            &p.client_id,
        )
    });
    let mut response = match answer_inner(app, pending, params).await {
        Ok((error, token)) => render(
            &ViewerPage {
                layout: Layout::new("Token viewer", "Tessera", String::new(), None, "jwt", None),
                error,
                token,
                run_again,
            },
            StatusCode::OK,
            None,
        ),
        Err(e) => e.into_response(),
    };
    if has_cookie {
        response
            .headers_mut()
            .append(header::SET_COOKIE, clear_cookie());
    }
    response
}

type Shown = (Option<(String, String)>, Option<TokenView>);

async fn answer_inner(
    app: &AppState,
    pending: Option<Result<PendingRun, RunError>>,
    params: &HashMap<String, String>,
) -> Result<Shown, PageError> {
    if let Some(code) = params.get("error") {
        let description = params.get("error_description").cloned().unwrap_or_default();
        return Ok((Some((code.clone(), description)), None));
    }
    if let Some(code) = params.get("code") {
        let run = pending
            .ok_or(RunError::NoPendingRun)
            .and_then(|p| p)
            .map_err(refused)?;
        let state = params.get("state").map(String::as_str).unwrap_or_default();
        if !run.state_matches(state) {
            return Err(refused(RunError::StateMismatch));
        }
        let tenant = tessera_core::TenantId::parse(&run.tenant)
            .map_err(|_| refused(RunError::NoPendingRun))?;
        let policy = tessera_broker::config::PolicyId::parse(&run.policy)
            .map_err(|_| refused(RunError::NoPendingRun))?;
        let runtime = app.broker.tenant(&tenant).await?;
        let Some(flow) = app.broker.policy(&tenant, &policy).await? else {
            return Err(refused(RunError::NoPendingRun));
        };
        let id_token = service::redeem(
            app.broker.store.as_ref(),
            &tenant,
            &flow,
            &runtime.keys,
            &run,
            code,
            app.broker.clock.now(),
        )
        .await
        .map_err(refused)?;
        let view = token_view(app, &id_token, Some(&run.nonce)).await?;
        return Ok((None, Some(view)));
    }
    if let Some(id_token) = params.get("id_token") {
        let view = token_view(app, id_token, None).await?;
        return Ok((None, Some(view)));
    }
    Ok((None, None))
}

/// The current verifying keys of `iss` when it is exactly one of this server's issuers.
async fn issuer_keys(app: &AppState, iss: &str) -> Option<Vec<VerifyingKey>> {
    match service::known_issuer(app.broker.public_url.as_str(), iss)? {
        KnownIssuer::Broker { tenant, policy } => {
            let flow = app.broker.policy(&tenant, &policy).await.ok()??;
            if flow.urls.issuer != iss {
                return None;
            }
            let runtime = app.broker.tenant(&tenant).await.ok()?;
            Some(runtime.keys.verifying_keys().to_vec())
        }
        KnownIssuer::Provider { tenant } => {
            let runtime = app.provider.tenant(&tenant).await.ok()?;
            (runtime.issuer == iss).then(|| runtime.keys.verifying_keys().to_vec())
        }
    }
}

async fn token_view(
    app: &AppState,
    token: &str,
    expected_nonce: Option<&str>,
) -> Result<TokenView, PageError> {
    let decoded = service::decode(token).map_err(refused)?;
    let issuer = decoded.issuer.clone().unwrap_or_default();
    let check = match issuer_keys(app, &issuer).await {
        Some(keys) => service::check_signature(token, &issuer, &keys),
        None => SignatureCheck::Failed(format!(
            "The issuer \"{issuer}\" is not one of this server's user flows or tenants, so its keys are not \
             known here (the viewer never fetches keys from a URL named by a token)."
        )),
    };
    let nonce_note = expected_nonce.map(|expected| {
        let same = decoded.nonce.as_deref().is_some_and(|n| {
            aws_lc_rs::constant_time::verify_slices_are_equal(n.as_bytes(), expected.as_bytes())
                .is_ok()
        });
        if same {
            "The nonce is the one this run sent.".to_owned()
        } else {
            "The nonce is NOT the one this run sent: do not trust this token.".to_owned()
        }
    });
    let (verified_kid, failure) = match check {
        SignatureCheck::Verified { kid, .. } => (Some(kid), String::new()),
        SignatureCheck::Failed(why) => (None, why),
    };
    Ok(TokenView {
        raw: token.to_owned(),
        issuer,
        verified_kid,
        failure,
        nonce_note,
        claims: decoded.claims,
        header: decoded.header,
    })
}
