//! The one error type of the HTTP layer, [`AppError`], and how each variant becomes a response.
//!
//! The client sees a short message (and the request id in the `x-request-id` header); the log gets the cause, inside
//! the request's span. A store failure is always a 503 or 500, never "not found".

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_service::ServiceError;
use tessera_store::StoreError;

use crate::common::reply::{ApiError, PageError};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The tenant in the path does not exist.
    #[error("unknown tenant")]
    UnknownTenant,
    /// The page or object does not exist.
    #[error("not found")]
    NotFound,
    /// The request is malformed (missing or bad parameter); the message names what.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A form arrived without a valid CSRF token.
    #[error("the form token is missing or does not match")]
    CsrfMismatch,
    /// The page needs a signed-in user and there is none.
    #[error("sign-in required")]
    SignInRequired,
    /// The ceremony (challenge or pending authorization) is unknown, used or expired.
    #[error("this sign-in attempt expired or was already used")]
    CeremonyExpired,
    /// A WebAuthn response was refused; the message names the rule.
    #[error("passkey refused: {0}")]
    WebAuthnRefused(String),
    /// The user may not do this (for example delete their last passkey).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Too many requests from this client address.
    #[error("too many requests")]
    TooManyRequests,
    /// An authorization request that must not be redirected to the client (unknown client, unregistered
    /// redirect URI; RFC 6749 §4.1.2.1): shown as an error page.
    #[error("authorization request refused: {0}")]
    AuthorizeNoRedirect(String),
    /// An OAuth 2.0 error answered as JSON (token endpoint): `error`, `error_description`, status.
    #[error("oauth error {code}: {description}")]
    OAuth {
        /// HTTP status (400, or 401 for `invalid_client`).
        status: StatusCode,
        /// The RFC 6749 §5.2 error code.
        code: &'static str,
        /// A human-readable description without CR, LF or TAB.
        description: String,
    },
    /// A bearer token was missing, unknown, expired or revoked (RFC 6750 §3.1).
    #[error("invalid bearer token")]
    InvalidToken,
    /// A request to a bearer-protected endpoint carried no token at all (RFC 6750 §3.1: no error code then).
    #[error("bearer token missing")]
    BearerTokenMissing,
    /// A request carried its bearer token in more than one place (RFC 6750 §2).
    #[error("more than one bearer token")]
    BearerTokenRepeated,
    /// The store could not answer: fail closed with 503.
    #[error("store unavailable: {0}")]
    StoreUnavailable(String),
    /// The store returned data that cannot be decoded.
    #[error("corrupt stored data: {0}")]
    StoreCorrupt(String),
    /// The store refused an operation on a missing row, where the caller expected it to exist.
    #[error("store: row not found")]
    StoreNotFound,
    /// The store refused an operation that conflicts with existing data.
    #[error("store: conflict")]
    StoreConflict,
    /// An operator argument is unusable (CLI or admin API); `name` is the argument.
    #[error("{name}: {message}")]
    InvalidArgument {
        /// The argument or field at fault.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The object to create exists already (`tenant`, `client`).
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    /// A server-side fault (key loading, serialization); the message is logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(m) => Self::StoreUnavailable(m),
            StoreError::Corrupt(m) => Self::StoreCorrupt(m),
            StoreError::NotFound => Self::StoreNotFound,
            StoreError::Conflict | StoreError::Changed => Self::StoreConflict,
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<ServiceError> for AppError {
    fn from(error: ServiceError) -> Self {
        let argument =
            |name: &'static str, message: String| Self::InvalidArgument { name, message };
        match error {
            ServiceError::TenantNotFound | ServiceError::BrokerTenantNotFound => {
                Self::UnknownTenant
            }
            ServiceError::ClientNotFound => Self::NotFound,
            ServiceError::TenantExists => Self::AlreadyExists("tenant"),
            ServiceError::ClientExists => Self::AlreadyExists("client"),
            ServiceError::InvalidRpId { reason } => argument("rp-id", reason),
            ServiceError::InvalidOrigin { reason } => argument("origin", reason),
            ServiceError::InvalidDisplayName { reason } => argument("display-name", reason),
            ServiceError::InvalidRedirectUri { reason } => argument("redirect-uri", reason),
            ServiceError::InvalidPolicy { setting, reason } => argument(setting, reason),
            ServiceError::InvalidInput(message) => Self::BadRequest(message),
            e @ (ServiceError::UsernameTaken
            | ServiceError::SignUpRaced
            | ServiceError::UnknownUsername
            | ServiceError::NoPasskey) => Self::BadRequest(e.to_string()),
            ServiceError::SignInRequired => Self::SignInRequired,
            ServiceError::CeremonyExpired => Self::CeremonyExpired,
            e @ (ServiceError::CeremonyFromOtherBrowser | ServiceError::SignUpByInvitationOnly) => {
                Self::Forbidden(e.to_string())
            }
            ServiceError::PasskeyRefused(e) => Self::WebAuthnRefused(e.to_string()),
            ServiceError::PasskeyRule { reason, .. } => Self::WebAuthnRefused(reason.to_owned()),
            ServiceError::OAuth(e) => Self::oauth_refusal(&e),
            ServiceError::InvalidBearerToken => Self::InvalidToken,
            e @ ServiceError::ReauthRequired => Self::Forbidden(e.to_string()),
            e @ ServiceError::LastPasskey => Self::Forbidden(e.to_string()),
            ServiceError::Changed { .. } => Self::StoreConflict,
            e @ ServiceError::UserDisabled => Self::Forbidden(e.to_string()),
            ServiceError::PasskeyNotFound => Self::NotFound,
            e @ ServiceError::PasskeyAlreadyRegistered => Self::BadRequest(e.to_string()),
            ServiceError::Store(e) => e.into(),
            ServiceError::Corrupt(message) => Self::StoreCorrupt(message),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl AppError {
    /// An OAuth error from a failed rule, as the token and revocation endpoints report it (`invalid_client` is a
    /// 401).
    pub fn oauth_refusal(error: &tessera_oidc::error::OidcError) -> Self {
        let code = error.code();
        let status = if code == tessera_oidc::error::ErrorCode::InvalidClient {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        Self::OAuth {
            status,
            code: code.as_str(),
            description: error.description(),
        }
    }

    /// A token-endpoint style OAuth error with status 400.
    pub fn oauth(code: &'static str, description: impl Into<String>) -> Self {
        Self::OAuth {
            status: StatusCode::BAD_REQUEST,
            code,
            description: description.into(),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnknownTenant | Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_)
            | Self::CeremonyExpired
            | Self::WebAuthnRefused(_)
            | Self::AuthorizeNoRedirect(_) => StatusCode::BAD_REQUEST,
            Self::CsrfMismatch | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::InvalidArgument { .. } => StatusCode::BAD_REQUEST,
            Self::AlreadyExists(_) => StatusCode::CONFLICT,
            Self::SignInRequired | Self::InvalidToken | Self::BearerTokenMissing => {
                StatusCode::UNAUTHORIZED
            }
            Self::BearerTokenRepeated => StatusCode::BAD_REQUEST,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::OAuth { status, .. } => *status,
            Self::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::StoreConflict => StatusCode::CONFLICT,
            Self::StoreCorrupt(_) | Self::StoreNotFound | Self::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The message a client may see (internals are replaced by a generic sentence).
    pub fn public_message(&self) -> String {
        match self {
            Self::StoreUnavailable(_) => {
                "The service is temporarily unavailable. Please try again.".into()
            }
            Self::StoreCorrupt(_)
            | Self::StoreNotFound
            | Self::StoreConflict
            | Self::Internal(_) => "Something went wrong on our side.".into(),
            other => strip_controls(&other.to_string()),
        }
    }
}

/// Removes CR, LF, TAB and other control characters (OIDC conformance: none in `error_description`).
pub fn strip_controls(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

pub use super::views::{error_page, html_escape};

impl AppError {
    /// A stable word for the log line of a refused request ([`crate::security::Refusal`]): the OAuth error code, or
    /// the kind of refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnknownTenant => "unknown_tenant",
            Self::NotFound => "not_found",
            Self::BadRequest(_) => "bad_request",
            Self::CsrfMismatch => "csrf_mismatch",
            Self::SignInRequired => "sign_in_required",
            Self::CeremonyExpired => "ceremony_expired",
            Self::WebAuthnRefused(_) => "passkey_refused",
            Self::Forbidden(_) => "forbidden",
            Self::TooManyRequests => "rate_limited",
            Self::AuthorizeNoRedirect(_) => "authorization_refused",
            Self::OAuth { code, .. } => code,
            Self::InvalidToken => "invalid_token",
            Self::BearerTokenMissing => "bearer_token_missing",
            Self::BearerTokenRepeated => "bearer_token_repeated",
            Self::StoreUnavailable(_) => "store_unavailable",
            Self::StoreCorrupt(_) => "store_corrupt",
            Self::StoreNotFound => "store_not_found",
            Self::StoreConflict => "store_conflict",
            Self::InvalidArgument { name, .. } => name,
            Self::AlreadyExists(_) => "already_exists",
            Self::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let reason = self.reason();
        let mut response = self.respond();
        crate::common::security::Refusal::mark(&mut response, reason);
        response
    }
}

impl AppError {
    fn respond(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::debug!(error = %self, "refusal detail");
        }
        match self {
            Self::OAuth {
                status,
                code,
                description,
            } => {
                let body = serde_json::json!({ "error": code, "error_description": strip_controls(&description) });
                let mut response = (status, axum::Json(body)).into_response();
                let headers = response.headers_mut();
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
                if status == StatusCode::UNAUTHORIZED {
                    headers.insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"tessera\""),
                    );
                }
                response
            }
            Self::InvalidToken | Self::BearerTokenMissing | Self::BearerTokenRepeated => {
                let (code, challenge) = match self {
                    Self::BearerTokenMissing => (None, "Bearer"),
                    Self::BearerTokenRepeated => {
                        (Some("invalid_request"), "Bearer error=\"invalid_request\"")
                    }
                    _ => (Some("invalid_token"), "Bearer error=\"invalid_token\""),
                };
                let mut response = match code {
                    Some(code) => {
                        (status, axum::Json(serde_json::json!({ "error": code }))).into_response()
                    }
                    None => status.into_response(),
                };
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
                response
            }
            Self::AuthorizeNoRedirect(message) => {
                PageError::new(status, "Sign-in request not accepted", &message).into_response()
            }
            other => {
                let heading = match status {
                    StatusCode::NOT_FOUND => "Not found",
                    StatusCode::FORBIDDEN => "Not allowed",
                    StatusCode::UNAUTHORIZED => "Sign-in required",
                    StatusCode::TOO_MANY_REQUESTS => "Too many requests",
                    StatusCode::SERVICE_UNAVAILABLE => "Temporarily unavailable",
                    s if s.is_server_error() => "Something went wrong",
                    _ => "Request refused",
                };
                // The pages' error page: shared layout and style sheet (and `Retry-After` on a 503).
                PageError::new(status, heading, &capitalised(&other.public_message()))
                    .into_response()
            }
        }
    }
}

/// The plain-words message for an [`AppError`] on a page or in the script.
fn human(error: &AppError) -> (&'static str, String) {
    match error {
        AppError::UnknownTenant => (
            "unknown_tenant",
            "This sign-in page does not exist. Check the address.".into(),
        ),
        AppError::NotFound => (
            "not_found",
            "That does not exist (any more). Go back and reload the page.".into(),
        ),
        AppError::BadRequest(m) => ("bad_request", m.clone()),
        AppError::CsrfMismatch => (
            "csrf",
            "This page has expired or was opened elsewhere. Reload the page and try again.".into(),
        ),
        AppError::SignInRequired => (
            "sign_in_required",
            "You are not signed in (any more). Sign in, then try again.".into(),
        ),
        AppError::CeremonyExpired => (
            "ceremony_expired",
            "This passkey request expired or was already used. Try again.".into(),
        ),
        AppError::WebAuthnRefused(m) => (
            "passkey_refused",
            format!("This passkey was not accepted: {m}"),
        ),
        AppError::Forbidden(m) => ("forbidden", m.clone()),
        AppError::TooManyRequests => (
            "too_many_requests",
            "Too many attempts. Wait a minute, then try again.".into(),
        ),
        other => ("server_error", other.public_message()),
    }
}

fn log_refusal(error: &AppError) {
    if error.status().is_server_error() {
        tracing::error!(%error, "page request failed");
    } else {
        tracing::debug!(%error, "page request refused");
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        log_refusal(&error);
        let (code, message) = human(&error);
        Self {
            status: error.status(),
            code,
            rule: None,
            message,
        }
    }
}

impl From<tessera_service::ServiceError> for ApiError {
    fn from(error: tessera_service::ServiceError) -> Self {
        use tessera_service::ServiceError;
        match error {
            ServiceError::PasskeyRefused(e) => Self::refused(&e),
            ServiceError::PasskeyRule { rule, reason } => Self::refused_because(rule, reason),
            ServiceError::ReauthRequired => Self::reauth_required(),
            ServiceError::UserDisabled => Self::refused_because(
                "account-disabled",
                "this account is disabled: ask the site's administrator",
            ),
            other => AppError::from(other).into(),
        }
    }
}

impl From<tessera_service::ServiceError> for PageError {
    fn from(error: tessera_service::ServiceError) -> Self {
        AppError::from(error).into()
    }
}

impl From<tessera_store::StoreError> for ApiError {
    fn from(error: tessera_store::StoreError) -> Self {
        AppError::from(error).into()
    }
}

impl From<AppError> for PageError {
    fn from(error: AppError) -> Self {
        log_refusal(&error);
        let status = error.status();
        let heading = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::UNAUTHORIZED => "Please sign in",
            StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
            StatusCode::CONFLICT => "Not possible",
            s if s.is_server_error() => "Something went wrong",
            _ => "Request refused",
        };
        let (_, message) = human(&error);
        Self::new(status, heading, &message)
    }
}

impl From<tessera_store::StoreError> for PageError {
    fn from(error: tessera_store::StoreError) -> Self {
        AppError::from(error).into()
    }
}

/// The text with its first letter in upper case, for messages shown as sentences.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_unavailable_is_a_503_never_a_not_found() {
        let error: AppError = StoreError::Unavailable("pool closed".into()).into();
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!error.public_message().contains("pool closed"));
    }

    #[test]
    fn service_errors_keep_their_meaning_over_http() {
        let unavailable: AppError =
            ServiceError::Store(StoreError::Unavailable("pool closed".into())).into();
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        let unknown: AppError = ServiceError::TenantNotFound.into();
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
        let exists: AppError = ServiceError::TenantExists.into();
        assert_eq!(exists.status(), StatusCode::CONFLICT);
        let uri: AppError = ServiceError::InvalidRedirectUri {
            reason: "\"http://rp.example/cb\": use https".into(),
        }
        .into();
        assert_eq!(uri.status(), StatusCode::BAD_REQUEST);
        assert!(uri.to_string().starts_with("redirect-uri: "));
        let taken: AppError = ServiceError::UsernameTaken.into();
        assert_eq!(taken.status(), StatusCode::BAD_REQUEST);
        assert!(taken.public_message().contains("username is taken"));
        let other_browser: AppError = ServiceError::CeremonyFromOtherBrowser.into();
        assert_eq!(other_browser.status(), StatusCode::FORBIDDEN);
        let corrupt: AppError = ServiceError::Corrupt("bad json at row 7".into()).into();
        assert_eq!(corrupt.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!corrupt.public_message().contains("row 7"));
        let random: AppError = ServiceError::Random.into();
        assert_eq!(random.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn error_description_has_no_control_characters() {
        assert_eq!(strip_controls("a\r\nb\tc"), "a  b c");
    }

    #[tokio::test]
    async fn authorize_refusal_is_the_styled_page_with_a_capitalised_heading() {
        let response =
            AppError::AuthorizeNoRedirect("The address cannot be used.".into()).into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        let html = String::from_utf8_lossy(&body);
        assert!(
            html.contains("<h1 id=\"error-title\">Sign-in request not accepted</h1>"),
            "{html}"
        );
        assert!(html.contains("The address cannot be used."));
        assert!(html.contains("stylesheet"));
    }

    #[test]
    fn error_pages_escape_html() {
        assert_eq!(
            html_escape("<script>\"&'"),
            "&lt;script&gt;&quot;&amp;&#39;"
        );
    }

    #[test]
    fn store_failure_is_a_503_without_internals() {
        let error: ApiError = AppError::StoreUnavailable("pool closed at 10.0.0.3".into()).into();
        assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!error.message.contains("10.0.0.3"));
    }

    #[test]
    fn service_refusals_of_a_passkey_keep_their_rule_for_the_script() {
        let error: ApiError = tessera_service::ServiceError::PasskeyRule {
            rule: "sign-count-regressed",
            reason: "its counter went backwards",
        }
        .into();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.code, "passkey_refused");
        assert_eq!(error.rule, Some("sign-count-regressed"));
        let expired: ApiError = tessera_service::ServiceError::CeremonyExpired.into();
        assert_eq!(expired.code, "ceremony_expired");
    }

    #[test]
    fn missing_csrf_token_is_a_403_with_a_human_message() {
        let error: PageError = AppError::CsrfMismatch.into();
        assert_eq!(error.status, StatusCode::FORBIDDEN);
        assert!(error.message.contains("Reload the page"));
    }
}
