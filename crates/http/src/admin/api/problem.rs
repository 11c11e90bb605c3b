//! Errors of the admin API as `application/problem+json` (RFC 9457): `type`, `title`, `status`, `detail`, and
//! `errors: [{field, detail}]` naming each invalid field. Internals are logged with the request id, never shown.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_service::ServiceError;
use tessera_store::StoreError;
use utoipa::ToSchema;

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer (RFC 9457 problem details).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:tessera:problem:<kind>`).
    #[serde(rename = "type")]
    #[schema(example = "urn:tessera:problem:invalid-field")]
    pub kind: String,
    /// A short summary of the kind of problem.
    #[schema(example = "A field is invalid")]
    pub title: String,
    /// The HTTP status code.
    #[schema(example = 422)]
    pub status: u16,
    /// What went wrong this time, in words for people.
    pub detail: String,
    /// The invalid fields, each with what is wrong with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(skip)]
    challenge: Option<&'static str>,
}

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// The field, as a JSON path into the request body or the name of a query parameter (`metadata_url`,
    /// `claim_mapping.email`, `user_attributes[0]`).
    pub field: String,
    /// What is wrong with it.
    pub detail: String,
}

impl Problem {
    /// A problem of `kind` (a slug) with `status`, `title` and `detail`.
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:tessera:problem:{kind}"),
            title: title.into(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            challenge: None,
        }
    }

    /// 422: `field` is invalid.
    pub fn invalid_field(field: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let mut problem = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field",
            "A field is invalid",
            format!("{field}: {detail}"),
        );
        problem.errors.push(FieldError {
            field: field.into(),
            detail,
        });
        problem
    }

    /// 400: the body is not the JSON the operation takes.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "The request is malformed",
            detail,
        )
    }

    /// 404 (also what a tenant admin gets for another tenant's objects).
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("{what} does not exist"),
        )
    }

    /// 401 without a token (`WWW-Authenticate: Bearer`, RFC 6750 §3).
    pub fn token_missing() -> Self {
        let mut problem = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            "send an API token as `Authorization: Bearer tsr_...`",
        );
        problem.challenge = Some("Bearer realm=\"tessera-admin\"");
        problem
    }

    /// 401 with an unknown, expired or revoked token (RFC 6750 §3.1 `invalid_token`).
    pub fn token_invalid() -> Self {
        let mut problem = Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid-token",
            "Invalid API token",
            "the API token is unknown, expired or revoked",
        );
        problem.challenge = Some("Bearer realm=\"tessera-admin\", error=\"invalid_token\"");
        problem
    }

    /// 403: the token's role does not allow this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Not allowed for this token",
            detail,
        )
    }

    /// 409: the object exists, or the change conflicts with others.
    pub fn conflict(field: Option<&str>, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let mut problem = Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail.clone());
        if let Some(field) = field {
            problem.errors.push(FieldError {
                field: field.into(),
                detail,
            });
        }
        problem
    }

    /// 412: `If-Match` names another version than the current one.
    pub fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            "The object changed",
            "someone changed this object since you read it: read it again (GET) and apply your change to the \
             current version (its ETag)",
        )
    }

    /// 428: a change of a mutable object without `If-Match`.
    pub fn precondition_required() -> Self {
        Self::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition-required",
            "If-Match required",
            "send the ETag of the version you read as `If-Match`, so that no one else's change is overwritten",
        )
    }

    /// 500 or 503 for a fault on our side; the cause goes to the log only.
    pub fn internal(cause: &dyn std::fmt::Display, unavailable: bool) -> Self {
        if unavailable {
            tracing::error!(error = %cause, "admin API: store unavailable");
            Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Temporarily unavailable",
                "the service is temporarily unavailable; try again",
            )
        } else {
            tracing::error!(error = %cause, "admin API request failed");
            Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Something went wrong on our side",
                "the error was logged with this request's id (`x-request-id`)",
            )
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self.challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        let reason = self
            .kind
            .trim_start_matches("urn:tessera:problem:")
            .to_owned();
        crate::common::security::Refusal::mark(&mut response, reason);
        response
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::not_found("the object"),
            StoreError::Conflict => {
                Self::conflict(None, "the change conflicts with the stored data")
            }
            StoreError::Changed => Self::precondition_failed(),
            StoreError::Unavailable(_) => Self::internal(&error, true),
            other => Self::internal(&other, false),
        }
    }
}

/// Splits `"field: detail"` messages of the service layer into their field and detail.
fn field_and_detail(message: &str) -> Option<(&str, &str)> {
    let (field, detail) = message.split_once(": ")?;
    let plausible = !field.is_empty()
        && field.len() <= 64
        && field
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.[]-".contains(&b));
    plausible.then_some((field, detail))
}

impl From<ServiceError> for Problem {
    fn from(error: ServiceError) -> Self {
        let text = error.to_string();
        match error {
            ServiceError::TenantNotFound | ServiceError::BrokerTenantNotFound => {
                Self::not_found("the tenant")
            }
            ServiceError::ClientNotFound => Self::not_found("the client"),
            ServiceError::ApplicationNotFound => Self::not_found("the application"),
            ServiceError::ProviderNotFound => Self::not_found("the identity provider"),
            ServiceError::FlowNotFound => Self::not_found("the user flow"),
            ServiceError::FlowVersionNotFound { .. } => Self::not_found("the user flow version"),
            ServiceError::DirectoryUserNotFound | ServiceError::UserNotFound => {
                Self::not_found("the user")
            }
            ServiceError::PasskeyNotFound => Self::not_found("the passkey"),
            ServiceError::TenantExists | ServiceError::BrokerTenantExists => {
                Self::conflict(Some("id"), "a tenant with this id exists already")
            }
            ServiceError::ClientExists => Self::conflict(Some("client_id"), text),
            ServiceError::ProviderExists { .. } | ServiceError::FlowExists { .. } => {
                let field = error.field().unwrap_or("id").to_owned();
                let detail = field_and_detail(&text).map_or(text.as_str(), |(_, d)| d);
                Self::conflict(Some(&field), detail)
            }
            ServiceError::ProviderInUse { .. } | ServiceError::LastPasskey => {
                Self::conflict(None, text)
            }
            ServiceError::TenantNotEmpty { .. } | ServiceError::BrokerTenantNotEmpty { .. } => {
                Self::new(
                    StatusCode::CONFLICT,
                    "tenant-not-empty",
                    "The tenant is not empty",
                    text,
                )
            }
            ServiceError::FlowChanged { .. }
            | ServiceError::BrokerTenantChanged
            | ServiceError::Changed { .. } => Self::precondition_failed(),
            ServiceError::InvalidRpId { reason } => Self::invalid_field("rp_id", reason),
            ServiceError::InvalidOrigin { reason } => Self::invalid_field("origins", reason),
            ServiceError::InvalidDisplayName { reason } => {
                Self::invalid_field("display_name", reason)
            }
            ServiceError::InvalidRedirectUri { reason } => {
                Self::invalid_field("redirect_uris", reason)
            }
            ServiceError::InvalidPolicy { setting, reason } => {
                Self::invalid_field(&setting.replace('-', "_"), reason)
            }
            ServiceError::InvalidBearerToken => Self::token_invalid(),
            ServiceError::Store(StoreError::Unavailable(_)) => Self::internal(&text, true),
            ref e if e.is_internal() => Self::internal(&text, false),
            ref e if e.field().is_some() => {
                let field = e.field().unwrap_or_default().to_owned();
                let detail = field_and_detail(&text)
                    .filter(|(f, _)| *f == field)
                    .map_or(text.as_str(), |(_, d)| d);
                Self::invalid_field(&field, detail)
            }
            _ => match field_and_detail(&text) {
                Some((field, detail)) => Self::invalid_field(field, detail),
                None => Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "refused",
                    "The request was refused",
                    text,
                ),
            },
        }
    }
}

/// The detail of a message that may start with its own field name (`"metadata_url: must use https"`).
pub fn strip_field(message: &str) -> &str {
    let message = message.split(" at line ").next().unwrap_or(message);
    field_and_detail(message).map_or(message, |(_, detail)| detail)
}

impl Problem {
    /// The problem for an error answer the framework made rather than a handler (an extractor's rejection, a
    /// method the path does not answer, the body limit): `status` kept, `text` (the framework's plain-text reason,
    /// which names no secret) as the detail of a 4xx. A 5xx shows nothing but the request id, as ours do.
    pub fn from_framework(status: StatusCode, text: &str) -> Self {
        let text = text.trim();
        let detail = |fallback: &str| {
            if text.is_empty() {
                fallback.to_owned()
            } else {
                text.to_owned()
            }
        };
        match status {
            StatusCode::BAD_REQUEST => {
                // axum: "Failed to deserialize query string: limit: invalid digit found in string".
                if let Some(rest) = text.strip_prefix("Failed to deserialize query string: ") {
                    let mut problem = Self::new(
                        status,
                        "malformed-query",
                        "A query parameter is malformed",
                        text,
                    );
                    if let Some((field, reason)) = field_and_detail(rest) {
                        problem.errors.push(FieldError {
                            field: field.into(),
                            detail: reason.into(),
                        });
                    }
                    problem
                } else {
                    Self::malformed(detail("the request is malformed"))
                }
            }
            StatusCode::NOT_FOUND => Self::not_found("this operation"),
            StatusCode::METHOD_NOT_ALLOWED => Self::new(
                status,
                "method-not-allowed",
                "Method not allowed",
                "this path does not answer this method; the `Allow` header lists those it answers",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                status,
                "payload-too-large",
                "The body is too large",
                "the request body is larger than this server accepts",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(
                status,
                "unsupported-media-type",
                "JSON expected",
                "send the body as `Content-Type: application/json`",
            ),
            StatusCode::TOO_MANY_REQUESTS => Self::new(
                status,
                "too-many-requests",
                "Too many requests",
                detail("slow down and try again later"),
            ),
            StatusCode::SERVICE_UNAVAILABLE => Self::internal(&detail("unavailable"), true),
            s if s.is_server_error() => {
                let mut problem = Self::internal(&detail("framework error"), false);
                problem.status = s.as_u16();
                problem
            }
            s => Self::new(
                s,
                "refused",
                s.canonical_reason().unwrap_or("Refused"),
                detail("the request was refused"),
            ),
        }
    }
}

/// Whether `response` is already a problem+json answer.
fn is_problem(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON))
}

/// Middleware: every error answer under the API's path is `application/problem+json`, also those the framework
/// makes before or instead of a handler — axum's `Json`/`Query`/`Path` rejections (plain text), the router's 405,
/// the body limit's 413 — with their status kept (and their headers, such as `Allow`). Runs inside the request-id
/// and logging layer and outside the body limit (`crate::common::security::apply`), so it sees all of them.
pub async fn framework_errors_as_problems(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    let api = path == super::BASE
        || path
            .strip_prefix(super::BASE)
            .is_some_and(|rest| rest.starts_with('/'));
    let response = next.run(request).await;
    let status = response.status();
    if !api || !(status.is_client_error() || status.is_server_error()) || is_problem(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    // The framework's reasons are one short line; anything longer is cut, never buffered whole.
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let mut answer = Problem::from_framework(status, &text).into_response();
    let ours: Vec<header::HeaderName> = answer.headers().keys().cloned().collect();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_LENGTH && !ours.contains(name) {
            answer.headers_mut().append(name.clone(), value.clone());
        }
    }
    answer
}
