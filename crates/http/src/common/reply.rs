//! How the pages answer when something is refused: a human HTML page for browsers, a small JSON object for the
//! script. Neither ever shows internals: server-side faults are logged (with the request id) and replaced by a
//! generic sentence. How an [`crate::common::error::AppError`] becomes one of them is in `error`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_webauthn::WebauthnError;

use super::views::{ErrorPage, Layout, render};
use tessera_oidc::authorize::AuthorizationResponse;

/// A refusal answered to the script as `{"ok": false, "error": code, "message": text}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable code the script may act on (`reauth_required`, `passkey_refused`, ...).
    pub code: &'static str,
    /// The WebAuthn rule that failed, when a passkey was refused.
    pub rule: Option<&'static str>,
    /// A message for people.
    pub message: String,
}

#[derive(Serialize)]
struct ApiErrorBody<'a> {
    ok: bool,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'a str>,
    message: &'a str,
}

impl ApiError {
    /// Adding or deleting a passkey needs a recent user verification.
    pub fn reauth_required() -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: "reauth_required",
            rule: None,
            message: "Confirm it is you with one of your passkeys first.".into(),
        }
    }

    /// A WebAuthn response refused by the verification engine, explained in plain words with what to do next.
    pub fn refused(error: &WebauthnError) -> Self {
        tracing::debug!(rule = error.rule(), %error, "passkey refused");
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "passkey_refused",
            rule: Some(error.rule()),
            message: refusal_message(error.rule(), &error.to_string()),
        }
    }

    /// A passkey refused by a rule of the pages (unknown credential, wrong account, regressed counter).
    pub fn refused_because(rule: &'static str, reason: &str) -> Self {
        tracing::debug!(rule, reason, "passkey refused");
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "passkey_refused",
            rule: Some(rule),
            message: refusal_message(rule, reason),
        }
    }
}

/// What a person reads when a passkey was refused: a capitalised sentence saying what happened and what to do next.
/// The rules people can act on get their own sentence; the others name the reason and offer another try.
pub fn refusal_message(rule: &str, reason: &str) -> String {
    let text = match rule {
        "origin-not-allowed"
        | "top-origin-not-allowed"
        | "cross-origin-not-allowed"
        | "rp-id-hash-mismatch" => {
            "This page was opened at an address that may not use your passkeys. Open the sign-in page from the \
             site's own address (check the address bar) and try again."
        }
        "challenge-mismatch" => {
            "This passkey request does not match the page. Reload the page and try again."
        }
        "user-verification-missing" => {
            "Your device did not verify you (fingerprint, face or PIN). Try again and confirm it is you when asked."
        }
        "user-presence-missing" => {
            "Your device did not confirm you were there. Try again and touch or confirm when asked."
        }
        "credential-unknown" => {
            "This passkey is not registered with this site. Use another passkey, or create an account."
        }
        "credential-not-allowed" | "user-handle-mismatch" => {
            "This passkey belongs to another account. Check the username, or use this account's passkey."
        }
        "synced-passkey-refused" => {
            "This site accepts only passkeys kept on one device, such as a security key. Use a security key, or a \
             passkey that is not synced."
        }
        "sign-count-regressed" => {
            "This passkey was refused because its signature counter went backwards, which can mean a copied \
             authenticator. Use another passkey, and tell the site's administrator."
        }
        "attestation-required" => {
            "This site accepts only authenticators that show their make and model (attestation), and this one did \
             not. Use a security key the site approves, and let the browser share its make and model when asked."
        }
        "attestation-untrusted" => {
            "This site accepts only authenticators whose make and model it can confirm, and this one could not be \
             confirmed. Use a security key the site approves, or ask the site's administrator which ones it accepts."
        }
        "aaguid-denied" => {
            "This site does not accept this kind of authenticator. Use another passkey or security key."
        }
        "aaguid-not-allowed" | "aaguid-not-attested" => {
            "This site accepts only certain authenticator models, and this one is not among them (or could not \
             prove it is). Use a security key the site approves."
        }
        "certification-level-not-attested" | "certification-level-too-low" => {
            "This site accepts only authenticators certified to a higher security level. Use a security key the \
             site approves."
        }
        "authenticator-status-refused" => {
            "This authenticator model has a known security problem, so this site no longer accepts it. Use another \
             passkey or security key."
        }
        "credential-already-registered" => {
            "This passkey is already registered. Sign in with it, or create a passkey on another device."
        }
        _ => {
            return format!(
                "This passkey was not accepted: {}. Try again, or use another passkey.",
                reason.trim_end_matches('.')
            );
        }
    };
    text.to_owned()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ApiErrorBody {
            ok: false,
            error: self.code,
            rule: self.rule,
            message: &self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let reason = match self.rule {
            Some(rule) => format!("{}: {rule}", self.code).into(),
            None => std::borrow::Cow::Borrowed(self.code),
        };
        crate::common::security::Refusal::mark(&mut response, reason);
        response
    }
}

/// A refusal answered to a browser as a human page.
#[derive(Debug, Clone)]
pub struct PageError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The heading.
    pub heading: String,
    /// What happened and what to do.
    pub message: String,
    /// The tenant's display name and base path, when known.
    pub tenant: Option<(String, String)>,
    /// Where to go from here.
    pub back: Option<(String, String)>,
    /// Why, for the request's log line (the heading when absent). Never a secret.
    pub reason: Option<String>,
}

impl PageError {
    /// A page error with a heading and message.
    pub fn new(status: StatusCode, heading: &str, message: &str) -> Self {
        Self {
            status,
            heading: heading.into(),
            message: message.into(),
            tenant: None,
            back: None,
            reason: None,
        }
    }

    /// Names the tenant in the page header.
    pub fn for_tenant(mut self, name: &str, base: String) -> Self {
        self.tenant = Some((name.to_owned(), base));
        self
    }

    /// Adds a link onwards.
    pub fn with_link(mut self, href: String, label: &str) -> Self {
        self.back = Some((href, label.to_owned()));
        self
    }

    /// The same page, logged with `reason` (a rule's code and words) instead of its heading.
    #[must_use]
    pub fn with_reason(mut self, reason: String) -> Self {
        self.reason = Some(reason);
        self
    }

    /// The page shown when a pending authorization request is gone: back to the application, or on to the
    /// tenant's sign-in page (`base` is `/{tenant}`).
    pub fn expired_request(tenant_name: &str, base: String) -> Self {
        let login = format!("{base}/login");
        Self::new(
            StatusCode::BAD_REQUEST,
            "This sign-in request has expired",
            "Too much time has passed, or the request was already completed. Go back to the application and start \
             again, or sign in here to manage your passkeys.",
        )
        .for_tenant(tenant_name, base)
        .with_link(login, "Go to the sign-in page")
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (tenant_name, base) = self
            .tenant
            .unwrap_or_else(|| ("Tessera".into(), String::new()));
        let (back_href, back_label) = match self.back {
            Some((href, label)) => (Some(href), label),
            None => (None, String::new()),
        };
        let page = ErrorPage {
            layout: Layout::new(&self.heading, &tenant_name, base, None, "error", None),
            heading: self.heading,
            message: self.message,
            back_href,
            back_label,
        };
        let reason = self.reason.unwrap_or_else(|| page.heading.clone());
        let mut response = render(&page, self.status, None);
        crate::common::security::Refusal::mark(&mut response, reason);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// Answers a client with an authorization response: a 303 to its redirect URI (`query`), or the auto-submitting
/// form (`form_post`) with its own CSP; never cached.
pub fn deliver_authorization(response: AuthorizationResponse) -> Response {
    let mut response = match response {
        AuthorizationResponse::Redirect { location } => match HeaderValue::from_str(&location) {
            Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
            Err(_) => crate::common::error::AppError::AuthorizeNoRedirect(
                "The application's address cannot be used. Go back to the application and tell its administrator."
                    .into(),
            )
            .into_response(),
        },
        AuthorizationResponse::FormPost {
            html,
            content_security_policy,
        } => {
            let mut response = (
                StatusCode::OK,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                )],
                html,
            )
                .into_response();
            if let Ok(csp) = HeaderValue::from_str(&content_security_policy) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_SECURITY_POLICY, csp);
            }
            response
        }
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
