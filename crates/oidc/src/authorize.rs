//! The authorization endpoint: parsing and validating a request (OIDC Core §3.1.2.1, RFC 6749 §4.1.1, RFC 7636,
//! RFC 9700), deciding whether an existing session may be used (`prompt`, `max_age`, `id_token_hint`), and building
//! the response (query redirect or form_post page, with `iss` per RFC 9207).
//!
//! Usage by the HTTP layer:
//! 1. [`requested_client_id`] on the raw pairs; look the client up (unknown: [`AuthorizeError::no_redirect`] with
//!    [`OidcError::UnknownClient`], shown as a page).
//! 2. [`validate_authorization`] → a [`ValidatedAuthorization`] to keep (it serializes) while the user signs in.
//! 3. [`decide_login`] once, when the request arrives.
//! 4. After a code is issued, [`authorization_response`]; on failure [`error_response`].

use std::collections::HashMap;
use std::sync::LazyLock;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64_STD;
use serde::{Deserialize, Serialize};
use tessera_core::{ClientId, UserId};
use time::OffsetDateTime;

use crate::client::{ClientConfig, ClientType};
use crate::error::{AuthorizeError, OidcError, sanitize_description};
use crate::jose::verify_jws;
use crate::keys::VerifyingKey;
use crate::pkce::is_valid_s256_challenge;

/// Values longer than this are refused as malformed (state, nonce, hints...).
pub const MAX_PARAM_LEN: usize = 4096;

/// Scopes this provider understands; any other requested scope is ignored (OIDC Core §5.4 leaves unknown scope
/// values to be ignored, and conformance clients send `address` and `phone`).
pub const SUPPORTED_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// How the authorization response reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// Parameters in the redirect URI's query (the default for `response_type=code`).
    #[default]
    Query,
    /// An auto-submitting HTML form POSTed to the redirect URI (OAuth 2.0 Form Post Response Mode).
    FormPost,
    /// Parameters in the redirect URI's fragment (OAuth 2.0 Multiple Response Type Encoding Practices §2.1), which
    /// browser apps read in script (MSAL.js's default). [`validate_authorization`] never accepts it; the broker sets
    /// it for its browser apps (B2C does the same).
    Fragment,
}

impl ResponseMode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::FormPost => "form_post",
            Self::Fragment => "fragment",
        }
    }
}

/// One `prompt` value (OIDC Core §3.1.2.1; `create` from OpenID Connect Prompt Create 1.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptValue {
    /// No interaction: succeed silently or fail with `login_required`.
    None,
    /// Re-authenticate even with a session.
    Login,
    /// Ask for consent (Tessera's clients are registered by the tenant: there is no consent screen to show).
    Consent,
    /// Let the user choose an account: Tessera shows its sign-in page.
    SelectAccount,
    /// Show the sign-up page first.
    Create,
}

/// An authorization request that passed every rule, to keep while the user signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatedAuthorization {
    /// The client.
    pub client_id: ClientId,
    /// The registered redirect URI, exactly as the request sent it (the token request must repeat it).
    pub redirect_uri: String,
    /// How to answer.
    pub response_mode: ResponseMode,
    /// Granted scopes, in request order, without duplicates; always contains `openid`.
    pub scopes: Vec<String>,
    /// Opaque client state, echoed.
    pub state: Option<String>,
    /// The nonce to put in the ID token.
    pub nonce: Option<String>,
    /// The S256 PKCE challenge.
    pub code_challenge: Option<String>,
    /// `prompt` values.
    pub prompt: Vec<PromptValue>,
    /// `max_age` in seconds.
    pub max_age: Option<u64>,
    /// `login_hint`, to prefill the username.
    pub login_hint: Option<String>,
    /// The `sub` of a valid `id_token_hint`.
    pub id_token_hint_sub: Option<String>,
    /// Requested ACR values, in preference order.
    pub acr_values: Vec<String>,
    /// Preferred UI languages (BCP 47 tags).
    pub ui_locales: Vec<String>,
    /// Preferred claim languages.
    pub claims_locales: Vec<String>,
    /// `display` (page, popup, touch, wap); informative only.
    pub display: Option<String>,
    /// The `claims` request parameter, when it was a JSON object (OIDC Core §5.5); ignored otherwise.
    pub claims: Option<serde_json::Value>,
}

impl ValidatedAuthorization {
    /// Whether `prompt` contains `value`.
    pub fn has_prompt(&self, value: PromptValue) -> bool {
        self.prompt.contains(&value)
    }

    /// Whether the granted scopes contain `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// What the authorization endpoint needs besides the request and the client.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizeContext<'a> {
    /// This tenant's issuer (`{base}/{tenant}/oidc`).
    pub issuer: &'a str,
    /// Keys to verify an `id_token_hint` with (the tenant's current and recent keys).
    pub keys: &'a [VerifyingKey],
}

/// The parameters this endpoint reads; a repeated one is refused (RFC 6749 §3.1). Others are ignored, repeated or
/// not (RFC 8707 `resource`, for example, may legitimately repeat).
const KNOWN_PARAMETERS: [&str; 21] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "response_mode",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "id_token_hint",
    "acr_values",
    "ui_locales",
    "claims_locales",
    "display",
    "claims",
    "request",
    "request_uri",
    "registration",
];

/// Request parameters with RFC 6749 §3.1 rules applied: empty values count as absent, repeated names are noted.
struct Params<'a> {
    values: HashMap<&'a str, &'a str>,
    repeated: Vec<&'a str>,
}

impl<'a> Params<'a> {
    fn new(pairs: &'a [(String, String)]) -> Self {
        let mut values = HashMap::with_capacity(pairs.len());
        let mut repeated = Vec::new();
        for (name, value) in pairs {
            if value.is_empty() {
                continue;
            }
            if values.insert(name.as_str(), value.as_str()).is_some()
                && KNOWN_PARAMETERS.contains(&name.as_str())
                && !repeated.contains(&name.as_str())
            {
                repeated.push(name.as_str());
            }
        }
        Self { values, repeated }
    }

    fn is_repeated(&self, name: &str) -> bool {
        self.repeated.contains(&name)
    }

    /// A single-valued parameter; repeated → error; too long → malformed.
    fn get(&self, name: &'static str) -> Result<Option<&'a str>, OidcError> {
        if self.is_repeated(name) {
            return Err(OidcError::DuplicateParameter {
                name: name.to_owned(),
            });
        }
        match self.values.get(name) {
            Some(v) if v.len() > MAX_PARAM_LEN => Err(OidcError::MalformedParameter { name }),
            Some(v) => Ok(Some(v)),
            None => Ok(None),
        }
    }

    fn require(&self, name: &'static str) -> Result<&'a str, OidcError> {
        self.get(name)?.ok_or(OidcError::MissingParameter { name })
    }
}

/// The `client_id` of a raw request, for the HTTP layer to look the client up. Every failure here is shown as an
/// error page, never redirected.
pub fn requested_client_id(pairs: &[(String, String)]) -> Result<ClientId, AuthorizeError> {
    let params = Params::new(pairs);
    let raw = params
        .require("client_id")
        .map_err(|e| AuthorizeError::no_redirect(&e))?;
    ClientId::parse(raw).map_err(|_| AuthorizeError::no_redirect(&OidcError::UnknownClient))
}

/// Validates an authorization request (GET query or POST form pairs) for `client`.
///
/// Until the client and redirect URI are established, failures are [`AuthorizeError::NoRedirect`]; afterwards they
/// are [`AuthorizeError::Redirect`] to that URI.
pub fn validate_authorization(
    pairs: &[(String, String)],
    client: &ClientConfig,
    ctx: &AuthorizeContext<'_>,
) -> Result<ValidatedAuthorization, AuthorizeError> {
    let params = Params::new(pairs);
    let no_redirect = |e: OidcError| AuthorizeError::no_redirect(&e);

    // RFC 6749 §4.1.2.1: an invalid client_id or redirect_uri is never redirected.
    let client_id = params.require("client_id").map_err(no_redirect)?;
    if client_id != client.client_id.as_str() {
        return Err(no_redirect(OidcError::UnknownClient));
    }
    // OIDC Core §3.1.2.1: redirect_uri is REQUIRED.
    let redirect_uri = params.require("redirect_uri").map_err(no_redirect)?;
    if !client.redirect_uri_registered(redirect_uri) {
        return Err(no_redirect(OidcError::UnregisteredRedirectUri));
    }

    // From here on, errors go back to the client. Pick how, and with which state, first.
    let mode_result = match params.get("response_mode") {
        Ok(None) => Ok(ResponseMode::Query),
        Ok(Some("query")) => Ok(ResponseMode::Query),
        Ok(Some("form_post")) => Ok(ResponseMode::FormPost),
        Ok(Some(_)) => Err(OidcError::UnsupportedResponseMode),
        Err(e) => Err(e),
    };
    let response_mode = *mode_result.as_ref().unwrap_or(&ResponseMode::Query);
    let state = params.get("state");
    let echo_state = state.as_ref().ok().copied().flatten();
    let fail = |e: OidcError| AuthorizeError::redirect(redirect_uri, response_mode, echo_state, &e);
    let state = state.map_err(fail)?;
    mode_result.map_err(fail)?;
    if let Some(name) = params.repeated.first() {
        return Err(fail(OidcError::DuplicateParameter {
            name: (*name).to_owned(),
        }));
    }

    if params.get("request").map_err(fail)?.is_some() {
        return Err(fail(OidcError::RequestObjectNotSupported));
    }
    if params.get("request_uri").map_err(fail)?.is_some() {
        return Err(fail(OidcError::RequestUriNotSupported));
    }
    if params.get("registration").map_err(fail)?.is_some() {
        return Err(fail(OidcError::RegistrationNotSupported));
    }

    // RFC 9700 §2.1.2: authorization code only.
    match params.require("response_type").map_err(fail)? {
        "code" => {}
        _ => return Err(fail(OidcError::UnsupportedResponseType)),
    }

    // OIDC Core §3.1.2.1: scope MUST contain openid. RFC 6749 §3.3: order does not matter.
    let scope = params.require("scope").map_err(fail)?;
    let requested: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    if !requested.contains(&"openid") {
        return Err(fail(OidcError::OpenidScopeMissing));
    }
    let mut scopes: Vec<String> = Vec::new();
    for s in requested {
        if SUPPORTED_SCOPES.contains(&s)
            && client.scope_allowed(s)
            && !scopes.iter().any(|g| g == s)
        {
            scopes.push(s.to_owned());
        }
    }

    // RFC 7636 / RFC 9700 §2.1.1: S256 only; `plain` (also the default when no method is sent) is refused.
    let code_challenge = params.get("code_challenge").map_err(fail)?;
    let method = params.get("code_challenge_method").map_err(fail)?;
    let code_challenge = match (code_challenge, method) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(fail(OidcError::MissingParameter {
                name: "code_challenge",
            }));
        }
        (Some(_), None | Some("plain")) => return Err(fail(OidcError::PkceMethodNotSupported)),
        (Some(challenge), Some("S256")) => {
            if !is_valid_s256_challenge(challenge) {
                return Err(fail(OidcError::PkceChallengeMalformed));
            }
            Some(challenge.to_owned())
        }
        (Some(_), Some(_)) => return Err(fail(OidcError::PkceMethodNotSupported)),
    };
    if code_challenge.is_none() && client.client_type() == ClientType::Public {
        return Err(fail(OidcError::PkceRequired));
    }

    let prompt = parse_prompt(params.get("prompt").map_err(fail)?).map_err(fail)?;

    let max_age = match params.get("max_age").map_err(fail)? {
        None => None,
        Some(v) if !v.is_empty() && v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit()) => Some(
            v.parse::<u64>()
                .map_err(|_| fail(OidcError::MalformedParameter { name: "max_age" }))?,
        ),
        Some(_) => return Err(fail(OidcError::MalformedParameter { name: "max_age" })),
    };

    let id_token_hint_sub = match params.get("id_token_hint").map_err(fail)? {
        None => None,
        Some(hint) => Some(verify_id_token_hint(hint, ctx).map_err(fail)?),
    };

    let list = |name: &'static str| -> Result<Vec<String>, AuthorizeError> {
        Ok(params
            .get(name)
            .map_err(fail)?
            .map(|v| {
                v.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    };
    let acr_values = list("acr_values")?;
    let ui_locales = list("ui_locales")?;
    let claims_locales = list("claims_locales")?;
    let display = params
        .get("display")
        .map_err(fail)?
        .filter(|d| matches!(*d, "page" | "popup" | "touch" | "wap"))
        .map(str::to_owned);
    // The claims parameter is accepted leniently: a JSON object is kept, anything else is ignored.
    let claims = params
        .get("claims")
        .map_err(fail)?
        .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
        .filter(serde_json::Value::is_object);

    Ok(ValidatedAuthorization {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        response_mode,
        scopes,
        state: state.map(str::to_owned),
        nonce: params.get("nonce").map_err(fail)?.map(str::to_owned),
        code_challenge,
        prompt,
        max_age,
        login_hint: params.get("login_hint").map_err(fail)?.map(str::to_owned),
        id_token_hint_sub,
        acr_values,
        ui_locales,
        claims_locales,
        display,
        claims,
    })
}

fn parse_prompt(raw: Option<&str>) -> Result<Vec<PromptValue>, OidcError> {
    let mut values = Vec::new();
    for word in raw.unwrap_or_default().split(' ').filter(|s| !s.is_empty()) {
        let value = match word {
            "none" => PromptValue::None,
            "login" => PromptValue::Login,
            "consent" => PromptValue::Consent,
            "select_account" => PromptValue::SelectAccount,
            "create" => PromptValue::Create,
            _ => return Err(OidcError::UnsupportedPrompt),
        };
        if !values.contains(&value) {
            values.push(value);
        }
    }
    // OIDC Core §3.1.2.1: "If this parameter contains none with any other value, an error is returned."
    if values.contains(&PromptValue::None) && values.len() > 1 {
        return Err(OidcError::PromptNoneCombined);
    }
    Ok(values)
}

/// An `id_token_hint` must be an ID token this issuer signed. It may have expired (OIDC Core §3.1.2.1 lets the OP
/// accept expired hints): only the signature, `iss` and `sub` are checked.
fn verify_id_token_hint(hint: &str, ctx: &AuthorizeContext<'_>) -> Result<String, OidcError> {
    let jwt = verify_jws(hint, ctx.keys).map_err(|_| OidcError::InvalidIdTokenHint)?;
    if jwt.str_claim("iss") != Some(ctx.issuer) {
        return Err(OidcError::InvalidIdTokenHint);
    }
    jwt.str_claim("sub")
        .map(str::to_owned)
        .ok_or(OidcError::InvalidIdTokenHint)
}

/// What the provider knows about the browser's current sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFacts {
    /// The signed-in user.
    pub user: UserId,
    /// When the user last actively authenticated.
    #[serde(with = "time::serde::timestamp")]
    pub auth_time: OffsetDateTime,
}

/// Whether the request can be answered from the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginDecision {
    /// Issue a code for the session's user now.
    UseSession,
    /// Show the sign-in (or sign-up, for `prompt=create`) page; after it, issue the code without deciding again.
    MustAuthenticate,
    /// `prompt=none` and no usable session: send this error to the client.
    Error(AuthorizeError),
}

/// Applies `prompt`, `max_age` and `id_token_hint` to the session (OIDC Core §3.1.2.1, §3.1.2.3). Call it once,
/// when the request arrives: `prompt=login` would otherwise loop.
pub fn decide_login(
    request: &ValidatedAuthorization,
    session: Option<&SessionFacts>,
    now: OffsetDateTime,
) -> LoginDecision {
    let interactive_only = request.has_prompt(PromptValue::Login)
        || request.has_prompt(PromptValue::SelectAccount)
        || request.has_prompt(PromptValue::Create);
    let usable = session.filter(|s| {
        let fresh_enough = match request.max_age {
            // max_age=0 is "authenticate now", like prompt=login.
            Some(max_age) => {
                let elapsed = (now - s.auth_time).whole_seconds();
                elapsed < 0 || (elapsed as u64) < max_age
            }
            None => true,
        };
        let same_user = request
            .id_token_hint_sub
            .as_deref()
            .is_none_or(|sub| sub == s.user.as_str());
        fresh_enough && same_user && !interactive_only
    });
    match (usable, request.has_prompt(PromptValue::None)) {
        (Some(_), _) => LoginDecision::UseSession,
        (None, false) => LoginDecision::MustAuthenticate,
        (None, true) => LoginDecision::Error(AuthorizeError::redirect(
            &request.redirect_uri,
            request.response_mode,
            request.state.as_deref(),
            &OidcError::LoginRequired,
        )),
    }
}

/// An authorization response, ready for the HTTP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationResponse {
    /// Answer with a 303 to `location` (`response_mode=query`).
    Redirect {
        /// The redirect URI with the response parameters in its query.
        location: String,
    },
    /// Answer 200 with this page and these headers (`response_mode=form_post`): nothing goes in a query string.
    FormPost {
        /// The auto-submitting page.
        html: String,
        /// The `Content-Security-Policy` header value to send with it.
        content_security_policy: String,
    },
}

/// The success response: `code`, `state` and `iss` (RFC 9207) delivered by the request's response mode.
pub fn authorization_response(
    request: &ValidatedAuthorization,
    issuer: &str,
    code: &str,
) -> Result<AuthorizationResponse, OidcError> {
    let mut params: Vec<(&str, &str)> = vec![("code", code)];
    if let Some(state) = &request.state {
        params.push(("state", state));
    }
    params.push(("iss", issuer));
    respond(&request.redirect_uri, request.response_mode, &params)
}

/// The error response for a redirectable error; `None` for [`AuthorizeError::NoRedirect`], which the HTTP layer
/// shows as an error page.
pub fn error_response(
    error: &AuthorizeError,
    issuer: &str,
) -> Option<Result<AuthorizationResponse, OidcError>> {
    match error {
        AuthorizeError::NoRedirect { .. } => None,
        AuthorizeError::Redirect {
            redirect_uri,
            response_mode,
            state,
            error,
            description,
        } => {
            // Sanitized again here: a caller may have built the error by hand.
            let description = sanitize_description(description);
            let mut params: Vec<(&str, &str)> = vec![("error", error.as_str())];
            if !description.is_empty() {
                params.push(("error_description", &description));
            }
            if let Some(state) = state {
                params.push(("state", state));
            }
            params.push(("iss", issuer));
            Some(respond(redirect_uri, *response_mode, &params))
        }
    }
}

fn respond(
    redirect_uri: &str,
    mode: ResponseMode,
    params: &[(&str, &str)],
) -> Result<AuthorizationResponse, OidcError> {
    match mode {
        ResponseMode::Query => {
            let mut url =
                url::Url::parse(redirect_uri).map_err(|_| OidcError::RedirectUriNotAcceptable)?;
            url.set_fragment(None);
            {
                let mut query = url.query_pairs_mut();
                for (name, value) in params {
                    query.append_pair(name, value);
                }
            }
            Ok(AuthorizationResponse::Redirect {
                location: url.into(),
            })
        }
        ResponseMode::FormPost => Ok(form_post_page(redirect_uri, params)),
        ResponseMode::Fragment => {
            let mut url =
                url::Url::parse(redirect_uri).map_err(|_| OidcError::RedirectUriNotAcceptable)?;
            let fragment: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish();
            url.set_fragment(Some(&fragment));
            Ok(AuthorizationResponse::Redirect {
                location: url.into(),
            })
        }
    }
}

const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";

static FORM_POST_CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = B64_STD.encode(digest(&SHA256, FORM_POST_SCRIPT.as_bytes()));
    // The only script allowed is the one-liner above, by hash; no form-action, so that a client's callback may
    // redirect onward to another origin after the POST.
    format!(
        "default-src 'none'; script-src 'sha256-{hash}'; base-uri 'none'; frame-ancestors 'none'"
    )
});

fn form_post_page(redirect_uri: &str, params: &[(&str, &str)]) -> AuthorizationResponse {
    let mut html = String::with_capacity(512);
    html.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Continuing</title>\
         <meta name=\"referrer\" content=\"no-referrer\"></head>\n<body>\n<form method=\"post\" action=\"",
    );
    escape_into(&mut html, redirect_uri);
    html.push_str("\">\n");
    for (name, value) in params {
        html.push_str("<input type=\"hidden\" name=\"");
        escape_into(&mut html, name);
        html.push_str("\" value=\"");
        escape_into(&mut html, value);
        html.push_str("\">\n");
    }
    html.push_str(
        "<noscript><button type=\"submit\">Continue</button></noscript>\n</form>\n<script>",
    );
    html.push_str(FORM_POST_SCRIPT);
    html.push_str("</script>\n</body></html>\n");
    AuthorizationResponse::FormPost {
        html,
        content_security_policy: FORM_POST_CSP.clone(),
    }
}

/// HTML-escapes text for an element body or a double-quoted attribute.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ClientAuthConfig, SecretHash};
    use crate::error::ErrorCode;
    use crate::jose::sign_jwt;
    use crate::keys::{SigningAlg, SigningKey};

    const ISS: &str = "https://op.example/acme/oidc";
    const CB: &str = "https://rp.example/cb";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn confidential() -> ClientConfig {
        ClientConfig {
            client_id: ClientId::parse("rp").expect("id"),
            redirect_uris: vec![CB.into()],
            post_logout_redirect_uris: vec![],
            auth: ClientAuthConfig::ClientSecret {
                secret_hash: SecretHash::of("secret"),
            },
            allowed_scopes: vec![],
            id_token_alg: SigningAlg::Rs256,
        }
    }

    fn public() -> ClientConfig {
        ClientConfig {
            auth: ClientAuthConfig::None,
            ..confidential()
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    fn base() -> Vec<(String, String)> {
        pairs(&[
            ("response_type", "code"),
            ("client_id", "rp"),
            ("redirect_uri", CB),
            ("scope", "openid profile"),
            ("state", "st"),
            ("nonce", "n-0S6_WzA2Mj"),
        ])
    }

    fn with(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut p = base();
        for (name, value) in extra {
            p.retain(|(n, _)| n != name);
            p.push(((*name).to_owned(), (*value).to_owned()));
        }
        p
    }

    fn validate(
        p: &[(String, String)],
        client: &ClientConfig,
    ) -> Result<ValidatedAuthorization, AuthorizeError> {
        validate_authorization(
            p,
            client,
            &AuthorizeContext {
                issuer: ISS,
                keys: &[],
            },
        )
    }

    fn redirected_code(
        r: Result<ValidatedAuthorization, AuthorizeError>,
    ) -> (ErrorCode, Option<String>) {
        match r {
            Err(AuthorizeError::Redirect {
                error,
                state,
                redirect_uri,
                ..
            }) => {
                assert_eq!(redirect_uri, CB);
                (error, state)
            }
            other => panic!("expected a redirected error, got {other:?}"),
        }
    }

    #[test]
    fn oidcc_server_happy_request_validates() {
        let v = validate(&base(), &confidential()).expect("valid");
        assert_eq!(v.scopes, vec!["openid", "profile"]);
        assert_eq!(v.state.as_deref(), Some("st"));
        assert_eq!(v.nonce.as_deref(), Some("n-0S6_WzA2Mj"));
        assert_eq!(v.response_mode, ResponseMode::Query);
        let json = serde_json::to_string(&v).expect("serialize");
        let back: ValidatedAuthorization = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, v);
    }

    #[test]
    fn oidcc_alternate_happy_flow_reordered_scope_and_params() {
        let mut p = with(&[("scope", "profile  openid")]);
        p.reverse();
        let v = validate(&p, &confidential()).expect("valid");
        assert_eq!(v.scopes, vec!["profile", "openid"]);
    }

    #[test]
    fn oidcc_ensure_request_with_unknown_parameter_succeeds() {
        assert!(validate(&with(&[("extra", "foobar")]), &confidential()).is_ok());
    }

    #[test]
    fn repeated_unknown_parameter_is_ignored() {
        let mut p = with(&[("resource", "https://api.example/a")]);
        p.push(("resource".into(), "https://api.example/b".into()));
        assert!(validate(&p, &confidential()).is_ok());
    }

    #[test]
    fn oidcc_ensure_request_without_nonce_succeeds_for_code_flow() {
        let p: Vec<_> = base().into_iter().filter(|(n, _)| n != "nonce").collect();
        assert_eq!(validate(&p, &confidential()).expect("valid").nonce, None);
    }

    #[test]
    fn unknown_scopes_are_ignored() {
        let v = validate(
            &with(&[("scope", "openid address phone email")]),
            &confidential(),
        )
        .expect("valid");
        assert_eq!(v.scopes, vec!["openid", "email"]);
    }

    #[test]
    fn scopes_not_allowed_for_the_client_are_not_granted() {
        let client = ClientConfig {
            allowed_scopes: vec!["email".into()],
            ..confidential()
        };
        let v = validate(
            &with(&[("scope", "openid profile email offline_access")]),
            &client,
        )
        .expect("valid");
        assert_eq!(v.scopes, vec!["openid", "email"]);
    }

    #[test]
    fn duplicate_parameter_refused() {
        let mut p = base();
        p.push(("scope".into(), "openid email".into()));
        let (code, state) = redirected_code(validate(&p, &confidential()));
        assert_eq!(code, ErrorCode::InvalidRequest);
        assert_eq!(state.as_deref(), Some("st"));
    }

    #[test]
    fn duplicate_state_refused_without_echoing_either() {
        let mut p = base();
        p.push(("state".into(), "other".into()));
        let (code, state) = redirected_code(validate(&p, &confidential()));
        assert_eq!(code, ErrorCode::InvalidRequest);
        assert_eq!(state, None);
    }

    #[test]
    fn duplicate_redirect_uri_not_redirected() {
        let mut p = base();
        p.push(("redirect_uri".into(), CB.into()));
        assert!(matches!(
            validate(&p, &confidential()),
            Err(AuthorizeError::NoRedirect { .. })
        ));
    }

    #[test]
    fn duplicate_client_id_not_redirected() {
        let mut p = base();
        p.push(("client_id".into(), "rp".into()));
        assert!(matches!(
            requested_client_id(&p),
            Err(AuthorizeError::NoRedirect { .. })
        ));
        assert!(matches!(
            validate(&p, &confidential()),
            Err(AuthorizeError::NoRedirect { .. })
        ));
    }

    #[test]
    fn oidcc_ensure_registered_redirect_uri() {
        let r = validate(
            &with(&[("redirect_uri", "https://attacker.example/cb")]),
            &confidential(),
        );
        assert_eq!(
            r.err(),
            Some(AuthorizeError::NoRedirect {
                error: ErrorCode::InvalidRequest,
                description: OidcError::UnregisteredRedirectUri.description(),
                cause: OidcError::UnregisteredRedirectUri,
            })
        );
    }

    #[test]
    fn missing_redirect_uri_not_redirected() {
        let p: Vec<_> = base()
            .into_iter()
            .filter(|(n, _)| n != "redirect_uri")
            .collect();
        assert!(matches!(
            validate(&p, &confidential()),
            Err(AuthorizeError::NoRedirect { .. })
        ));
    }

    #[test]
    fn client_id_of_another_client_not_redirected() {
        let r = validate(&with(&[("client_id", "other")]), &confidential());
        assert!(matches!(r, Err(AuthorizeError::NoRedirect { .. })));
    }

    #[test]
    fn requested_client_id_missing_or_malformed_not_redirected() {
        assert!(matches!(
            requested_client_id(&[]),
            Err(AuthorizeError::NoRedirect { .. })
        ));
        let bad = pairs(&[("client_id", "a b")]);
        assert!(matches!(
            requested_client_id(&bad),
            Err(AuthorizeError::NoRedirect { .. })
        ));
        assert_eq!(
            requested_client_id(&base()).ok().map(|c| c.to_string()),
            Some("rp".into())
        );
    }

    #[test]
    fn oidcc_response_type_missing() {
        let p: Vec<_> = base()
            .into_iter()
            .filter(|(n, _)| n != "response_type")
            .collect();
        assert_eq!(
            redirected_code(validate(&p, &confidential())).0,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn implicit_and_hybrid_response_types_refused() {
        for rt in ["token", "id_token", "code id_token", "code token", "none"] {
            let (code, _) =
                redirected_code(validate(&with(&[("response_type", rt)]), &confidential()));
            assert_eq!(code, ErrorCode::UnsupportedResponseType, "{rt}");
        }
    }

    #[test]
    fn fragment_response_mode_refused() {
        let (code, _) = redirected_code(validate(
            &with(&[("response_mode", "fragment")]),
            &confidential(),
        ));
        assert_eq!(code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn fragment_response_puts_code_state_and_iss_in_the_fragment() {
        let mut v = validate(&base(), &confidential()).expect("valid");
        v.response_mode = ResponseMode::Fragment;
        let Ok(AuthorizationResponse::Redirect { location }) =
            authorization_response(&v, ISS, "the-code")
        else {
            panic!("a redirect");
        };
        let url = url::Url::parse(&location).expect("url");
        assert_eq!(url.query(), None, "nothing in the query");
        let fragment: HashMap<String, String> =
            url::form_urlencoded::parse(url.fragment().expect("a fragment").as_bytes())
                .into_owned()
                .collect();
        assert_eq!(fragment["code"], "the-code");
        assert_eq!(fragment["iss"], ISS);
        assert!(fragment.contains_key("state"));
    }

    #[test]
    fn form_post_response_mode_accepted() {
        let v = validate(&with(&[("response_mode", "form_post")]), &confidential()).expect("valid");
        assert_eq!(v.response_mode, ResponseMode::FormPost);
        let bad = validate(
            &with(&[("response_mode", "form_post"), ("response_type", "token")]),
            &confidential(),
        );
        assert!(matches!(
            bad,
            Err(AuthorizeError::Redirect {
                response_mode: ResponseMode::FormPost,
                ..
            })
        ));
    }

    #[test]
    fn scope_without_openid_refused() {
        let (code, _) = redirected_code(validate(
            &with(&[("scope", "profile email")]),
            &confidential(),
        ));
        assert_eq!(code, ErrorCode::InvalidScope);
    }

    #[test]
    fn oidcc_ensure_request_with_valid_pkce_succeeds() {
        let v = validate(
            &with(&[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ]),
            &confidential(),
        )
        .expect("valid");
        assert_eq!(v.code_challenge.as_deref(), Some(CHALLENGE));
    }

    #[test]
    fn pkce_plain_refused() {
        let r = validate(
            &with(&[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "plain"),
            ]),
            &confidential(),
        );
        assert_eq!(redirected_code(r).0, ErrorCode::InvalidRequest);
        // No method means plain (RFC 7636 §4.3): refused as well.
        let r = validate(&with(&[("code_challenge", CHALLENGE)]), &confidential());
        assert_eq!(redirected_code(r).0, ErrorCode::InvalidRequest);
    }

    #[test]
    fn pkce_malformed_challenge_refused() {
        let r = validate(
            &with(&[
                ("code_challenge", "short"),
                ("code_challenge_method", "S256"),
            ]),
            &confidential(),
        );
        assert_eq!(redirected_code(r).0, ErrorCode::InvalidRequest);
    }

    #[test]
    fn public_client_without_pkce_refused() {
        let (code, _) = redirected_code(validate(&base(), &public()));
        assert_eq!(code, ErrorCode::InvalidRequest);
        let ok = validate(
            &with(&[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ]),
            &public(),
        );
        assert!(ok.is_ok());
    }

    #[test]
    fn request_object_rejected_as_not_supported() {
        let (code, _) = redirected_code(validate(
            &with(&[("request", "eyJhbGciOiJub25lIn0.e30.")]),
            &confidential(),
        ));
        assert_eq!(code, ErrorCode::RequestNotSupported);
    }

    #[test]
    fn request_uri_rejected_as_not_supported() {
        let (code, _) = redirected_code(validate(
            &with(&[("request_uri", "https://rp.example/r")]),
            &confidential(),
        ));
        assert_eq!(code, ErrorCode::RequestUriNotSupported);
    }

    #[test]
    fn registration_rejected_as_not_supported() {
        let (code, _) =
            redirected_code(validate(&with(&[("registration", "{}")]), &confidential()));
        assert_eq!(code, ErrorCode::RegistrationNotSupported);
    }

    #[test]
    fn prompt_none_combined_with_login_refused() {
        let (code, _) = redirected_code(validate(
            &with(&[("prompt", "none login")]),
            &confidential(),
        ));
        assert_eq!(code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn unknown_prompt_refused() {
        let (code, _) = redirected_code(validate(&with(&[("prompt", "dance")]), &confidential()));
        assert_eq!(code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn max_age_must_be_a_non_negative_integer() {
        assert_eq!(
            validate(&with(&[("max_age", "10000")]), &confidential())
                .expect("ok")
                .max_age,
            Some(10000)
        );
        for bad in ["-1", "1.5", "abc", "99999999999"] {
            let (code, _) = redirected_code(validate(&with(&[("max_age", bad)]), &confidential()));
            assert_eq!(code, ErrorCode::InvalidRequest, "{bad}");
        }
    }

    #[test]
    fn oidcc_display_page_and_popup_and_locales_and_hints_do_not_error() {
        let v = validate(
            &with(&[
                ("display", "popup"),
                ("ui_locales", "fr-CA fr en"),
                ("claims_locales", "de"),
                ("login_hint", "alice"),
                ("acr_values", "phrh phr"),
                ("claims", r#"{"id_token":{"name":{"essential":true}}}"#),
            ]),
            &confidential(),
        )
        .expect("valid");
        assert_eq!(v.display.as_deref(), Some("popup"));
        assert_eq!(v.ui_locales, vec!["fr-CA", "fr", "en"]);
        assert_eq!(v.acr_values, vec!["phrh", "phr"]);
        assert_eq!(v.login_hint.as_deref(), Some("alice"));
        assert!(v.claims.is_some());
    }

    #[test]
    fn malformed_claims_parameter_is_ignored() {
        let v = validate(&with(&[("claims", "{not json")]), &confidential()).expect("valid");
        assert_eq!(v.claims, None);
    }

    #[test]
    fn oversized_parameter_refused() {
        let big = "x".repeat(MAX_PARAM_LEN + 1);
        let (code, _) = redirected_code(validate(&with(&[("nonce", &big)]), &confidential()));
        assert_eq!(code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn empty_parameters_count_as_absent() {
        let v = validate(&with(&[("state", ""), ("prompt", "")]), &confidential()).expect("valid");
        assert_eq!(v.state, None);
        assert!(v.prompt.is_empty());
    }

    #[test]
    fn oidcc_id_token_hint_verified_against_our_keys() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let hint = sign_jwt(
            &key,
            &serde_json::json!({"iss": ISS, "sub": "user-1", "aud": "rp", "exp": 1}),
        )
        .expect("sign");
        let keys = [key.verifying_key().clone()];
        let ctx = AuthorizeContext {
            issuer: ISS,
            keys: &keys,
        };
        let v = validate_authorization(
            &with(&[("id_token_hint", &hint), ("prompt", "none")]),
            &confidential(),
            &ctx,
        )
        .expect("valid");
        assert_eq!(v.id_token_hint_sub.as_deref(), Some("user-1"));

        let foreign = sign_jwt(
            &key,
            &serde_json::json!({"iss": "https://evil.example", "sub": "user-1"}),
        )
        .expect("sign");
        let r =
            validate_authorization(&with(&[("id_token_hint", &foreign)]), &confidential(), &ctx);
        assert_eq!(redirected_code(r).0, ErrorCode::InvalidRequest);

        let other_key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let forged = sign_jwt(
            &other_key,
            &serde_json::json!({"iss": ISS, "sub": "user-1"}),
        )
        .expect("sign");
        let r = validate_authorization(&with(&[("id_token_hint", &forged)]), &confidential(), &ctx);
        assert_eq!(redirected_code(r).0, ErrorCode::InvalidRequest);
    }

    fn session(user: &str, secs_ago: i64, now: OffsetDateTime) -> SessionFacts {
        SessionFacts {
            user: UserId::parse(user).expect("user"),
            auth_time: now - time::Duration::seconds(secs_ago),
        }
    }

    const NOW: OffsetDateTime = time::macros::datetime!(2026-06-01 12:00 UTC);

    #[test]
    fn oidcc_prompt_none_not_logged_in() {
        let v = validate(&with(&[("prompt", "none")]), &confidential()).expect("valid");
        match decide_login(&v, None, NOW) {
            LoginDecision::Error(AuthorizeError::Redirect { error, state, .. }) => {
                assert_eq!(error, ErrorCode::LoginRequired);
                assert_eq!(state.as_deref(), Some("st"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn oidcc_prompt_none_logged_in() {
        let v = validate(&with(&[("prompt", "none")]), &confidential()).expect("valid");
        assert_eq!(
            decide_login(&v, Some(&session("u1", 60, NOW)), NOW),
            LoginDecision::UseSession
        );
    }

    #[test]
    fn oidcc_prompt_login() {
        let v = validate(&with(&[("prompt", "login")]), &confidential()).expect("valid");
        assert_eq!(
            decide_login(&v, Some(&session("u1", 1, NOW)), NOW),
            LoginDecision::MustAuthenticate
        );
    }

    #[test]
    fn no_session_must_authenticate() {
        let v = validate(&base(), &confidential()).expect("valid");
        assert_eq!(decide_login(&v, None, NOW), LoginDecision::MustAuthenticate);
        assert_eq!(
            decide_login(&v, Some(&session("u1", 99_999, NOW)), NOW),
            LoginDecision::UseSession
        );
    }

    #[test]
    fn oidcc_max_age_1() {
        let v = validate(&with(&[("max_age", "1")]), &confidential()).expect("valid");
        assert_eq!(
            decide_login(&v, Some(&session("u1", 2, NOW)), NOW),
            LoginDecision::MustAuthenticate
        );
        assert_eq!(
            decide_login(&v, Some(&session("u1", 1, NOW)), NOW),
            LoginDecision::MustAuthenticate
        );
        let none = validate(
            &with(&[("max_age", "1"), ("prompt", "none")]),
            &confidential(),
        )
        .expect("valid");
        assert!(matches!(
            decide_login(&none, Some(&session("u1", 2, NOW)), NOW),
            LoginDecision::Error(_)
        ));
    }

    #[test]
    fn oidcc_max_age_10000() {
        let v = validate(&with(&[("max_age", "10000")]), &confidential()).expect("valid");
        assert_eq!(
            decide_login(&v, Some(&session("u1", 5, NOW)), NOW),
            LoginDecision::UseSession
        );
    }

    #[test]
    fn max_age_0_forces_authentication() {
        let v = validate(&with(&[("max_age", "0")]), &confidential()).expect("valid");
        assert_eq!(
            decide_login(&v, Some(&session("u1", 0, NOW)), NOW),
            LoginDecision::MustAuthenticate
        );
    }

    #[test]
    fn id_token_hint_for_another_user_is_not_silently_answered() {
        let mut v = validate(&with(&[("prompt", "none")]), &confidential()).expect("valid");
        v.id_token_hint_sub = Some("u2".into());
        assert!(matches!(
            decide_login(&v, Some(&session("u1", 5, NOW)), NOW),
            LoginDecision::Error(_)
        ));
        v.id_token_hint_sub = Some("u1".into());
        assert_eq!(
            decide_login(&v, Some(&session("u1", 5, NOW)), NOW),
            LoginDecision::UseSession
        );
    }

    #[test]
    fn query_response_carries_code_state_and_iss_encoded() {
        let mut v = validate(&with(&[("state", "a b&c=d#e")]), &confidential()).expect("valid");
        v.redirect_uri = "https://rp.example/cb?keep=1".into();
        let r = authorization_response(&v, ISS, "c0de+/").expect("response");
        let AuthorizationResponse::Redirect { location } = r else {
            panic!("not a redirect")
        };
        assert_eq!(
            location,
            "https://rp.example/cb?keep=1&code=c0de%2B%2F&state=a+b%26c%3Dd%23e&iss=https%3A%2F%2Fop.example%2Facme%2Foidc"
        );
    }

    #[test]
    fn form_post_response_puts_nothing_in_the_query_and_escapes_values() {
        let v = validate(
            &with(&[
                ("response_mode", "form_post"),
                ("state", "\"><script>x</script>"),
            ]),
            &confidential(),
        )
        .expect("valid");
        let r = authorization_response(&v, ISS, "abc").expect("response");
        let AuthorizationResponse::FormPost {
            html,
            content_security_policy,
        } = r
        else {
            panic!("not form_post")
        };
        assert!(html.contains("action=\"https://rp.example/cb\""));
        assert!(html.contains("name=\"code\" value=\"abc\""));
        assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;x&lt;/script&gt;\""));
        assert!(!html.contains("<script>x"));
        assert!(html.contains(&format!("name=\"iss\" value=\"{ISS}\"")));
        assert!(content_security_policy.starts_with("default-src 'none'; script-src 'sha256-"));
        assert!(content_security_policy.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn form_post_script_hash_matches_the_page_script() {
        let expected = B64_STD.encode(digest(&SHA256, b"document.forms[0].submit();"));
        assert!(FORM_POST_CSP.contains(&expected));
    }

    #[test]
    fn error_response_redirects_with_error_state_and_iss() {
        let err =
            validate(&with(&[("response_type", "token")]), &confidential()).expect_err("refused");
        let Some(Ok(AuthorizationResponse::Redirect { location })) = error_response(&err, ISS)
        else {
            panic!("no redirect")
        };
        let url = url::Url::parse(&location).expect("url");
        let q: HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(
            q.get("error").map(String::as_str),
            Some("unsupported_response_type")
        );
        assert_eq!(q.get("state").map(String::as_str), Some("st"));
        assert_eq!(q.get("iss").map(String::as_str), Some(ISS));
        assert!(
            !q.get("error_description")
                .is_some_and(|d| d.contains(['\r', '\n', '\t']))
        );
    }

    #[test]
    fn hand_built_error_description_is_sanitized_on_the_way_out() {
        let err = AuthorizeError::Redirect {
            redirect_uri: CB.into(),
            response_mode: ResponseMode::Query,
            state: None,
            error: ErrorCode::AccessDenied,
            description: "user\r\ncancelled\t".into(),
        };
        let Some(Ok(AuthorizationResponse::Redirect { location })) = error_response(&err, ISS)
        else {
            panic!("no redirect")
        };
        let url = url::Url::parse(&location).expect("url");
        let q: HashMap<_, _> = url.query_pairs().into_owned().collect();
        let d = q.get("error_description").cloned().unwrap_or_default();
        assert!(!d.contains(['\r', '\n', '\t']), "{d:?}");
        assert!(d.starts_with("user"));
    }

    #[test]
    fn no_redirect_error_has_no_response() {
        let err = validate(
            &with(&[("redirect_uri", "https://evil.example/")]),
            &confidential(),
        )
        .expect_err("refused");
        assert!(error_response(&err, ISS).is_none());
    }
}
