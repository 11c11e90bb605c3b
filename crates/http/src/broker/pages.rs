//! The broker's pages (askama, auto-escaped, no inline script or style): the choice page, the attribute page, the
//! signed-out page, and the error pages of a sign-in that cannot go back to the app. Error pages show a
//! correlation id (the request id) while the log gets one line naming the failed check.

use askama::Template;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tessera_broker::claims::{AttributeError, AttributeField};
use tessera_broker::config::{AttributeType, ProviderId, UserAttribute};
use tessera_core::TenantId;
use tessera_oidc::error::OidcError;
use tessera_service::broker::local::{CodePage, RecoverPage, RegisterPage};
use tessera_service::broker::signin::{AttributePage, ChoicePage, SignInError};

use crate::common::reply::PageError;
use crate::common::security::csp_with_form_action;
use crate::common::views::{Layout, render};
use crate::error::AppError;

/// The choice page.
#[derive(Template)]
#[template(path = "broker_choice.html")]
pub struct ChoiceView {
    /// Shared layout.
    pub layout: Layout,
    /// The application's name.
    pub application_name: String,
    /// The transaction handle.
    pub handle: String,
    /// The providers: id and name.
    pub providers: Vec<(ProviderId, String)>,
    /// Whether local accounts are offered.
    pub local_accounts: bool,
    /// The address typed in the sign-up form.
    pub email: String,
    /// What was wrong with it.
    pub local_error: Option<String>,
}

/// The one-time code page of a local sign-up.
#[derive(Template)]
#[template(path = "broker_local_code.html")]
pub struct CodeView {
    /// Shared layout.
    pub layout: Layout,
    /// The application's name.
    pub application_name: String,
    /// The transaction handle.
    pub handle: String,
    /// Where the code was sent.
    pub email: String,
    /// What was wrong with the last code.
    pub error: Option<String>,
    /// Whether the code recovers an account.
    pub recovery: bool,
}

/// The "Lost your passkey?" page.
#[derive(Template)]
#[template(path = "broker_local_recover.html")]
pub struct RecoverView {
    /// Shared layout.
    pub layout: Layout,
    /// The application's name.
    pub application_name: String,
    /// The choice page's handle.
    pub handle: String,
    /// The address typed.
    pub email: String,
    /// What was wrong with it.
    pub error: Option<String>,
}

/// The passkey registration page of a local sign-up.
#[derive(Template)]
#[template(path = "broker_local_register.html")]
pub struct RegisterView {
    /// Shared layout.
    pub layout: Layout,
    /// The application's name.
    pub application_name: String,
    /// The transaction handle.
    pub handle: String,
    /// The verified address.
    pub email: String,
    /// The creation options as JSON (the script reads them from the form's `data-options`).
    pub options: String,
    /// Whether this is a recovery (a new passkey for an existing account).
    pub recovery: bool,
    /// A recovery: how many passkeys the account has already (the page offers to remove them).
    pub other_passkeys: usize,
}

/// One field of the attribute page, as the template shows it.
pub struct FieldView {
    /// The form field name.
    pub name: String,
    /// Its label.
    pub label: String,
    /// `text`, `email`, `number` or `checkbox`.
    pub kind: &'static str,
    /// The `autocomplete` token.
    pub autocomplete: &'static str,
    /// Whether it must be filled in.
    pub required: bool,
    /// The prefilled value.
    pub value: String,
    /// What is wrong with it.
    pub error: Option<String>,
    /// Shown but not editable (a local account's verified address).
    pub readonly: bool,
}

/// The attribute page.
#[derive(Template)]
#[template(path = "broker_attributes.html")]
pub struct AttributesView {
    /// Shared layout.
    pub layout: Layout,
    /// The application's name.
    pub application_name: String,
    /// The pending sign-up handle.
    pub handle: String,
    /// The fields.
    pub fields: Vec<FieldView>,
    /// Every problem: field name and message.
    pub errors: Vec<(String, String)>,
    /// The correlation cookie's name.
    pub correlation: String,
}

/// The signed-out page.
#[derive(Template)]
#[template(path = "broker_signed_out.html")]
pub struct SignedOutView {
    /// Shared layout.
    pub layout: Layout,
}

fn layout(title: &str, tenant_name: &str, tenant: &str, csrf: Option<&str>) -> Layout {
    Layout::new(
        title,
        tenant_name,
        format!("/{tenant}"),
        csrf,
        "broker",
        None,
    )
}

/// Renders the choice page.
pub fn choice(
    page: ChoicePage,
    tenant_name: &str,
    tenant: &str,
    csrf: &str,
    set_cookie: Option<HeaderValue>,
) -> Response {
    let view = ChoiceView {
        layout: layout("Choose how to sign in", tenant_name, tenant, Some(csrf)),
        application_name: page.application_name,
        handle: page.handle,
        providers: page.providers,
        local_accounts: page.local_accounts,
        email: page.email,
        local_error: page.local_error,
    };
    let origins: Vec<&str> = page
        .provider_origins
        .iter()
        .chain(page.reply_origin.iter())
        .map(String::as_str)
        .collect();
    let status = if view.local_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    with_form_action(render(&view, status, set_cookie), &origins)
}

/// Renders the one-time code page (422 after a wrong code).
pub fn local_code(
    page: CodePage,
    tenant_name: &str,
    tenant: &str,
    csrf: &str,
    set_cookie: Option<HeaderValue>,
) -> Response {
    let status = if page.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let view = CodeView {
        layout: layout("Check your email", tenant_name, tenant, Some(csrf)),
        application_name: page.application_name,
        handle: page.handle,
        email: page.email,
        error: page.error,
        recovery: page.recovery,
    };
    render(&view, status, set_cookie)
}

/// Renders the "Lost your passkey?" page (422 when the address was refused).
pub fn local_recover(
    page: RecoverPage,
    tenant_name: &str,
    tenant: &str,
    csrf: &str,
    set_cookie: Option<HeaderValue>,
) -> Response {
    let status = if page.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let view = RecoverView {
        layout: layout("Recover your account", tenant_name, tenant, Some(csrf)),
        application_name: page.application_name,
        handle: page.handle,
        email: page.email,
        error: page.error,
    };
    render(&view, status, set_cookie)
}

/// Renders the passkey registration page; `reply_origin` is where the form's answer may redirect (the app, when
/// the flow collects no attributes).
pub fn local_register(
    page: RegisterPage,
    tenant_name: &str,
    tenant: &str,
    csrf: &str,
    set_cookie: Option<HeaderValue>,
) -> Response {
    let options = serde_json::to_string(&page.options).unwrap_or_default();
    let origins: Vec<&str> = page.reply_origin.iter().map(String::as_str).collect();
    let title = if page.recovery.is_some() {
        "Create a new passkey"
    } else {
        "Create your passkey"
    };
    let view = RegisterView {
        layout: layout(title, tenant_name, tenant, Some(csrf)),
        application_name: page.application_name,
        handle: page.handle,
        email: page.email,
        options,
        recovery: page.recovery.is_some(),
        other_passkeys: page.recovery.unwrap_or(0),
    };
    with_form_action(render(&view, StatusCode::OK, set_cookie), &origins)
}

/// Renders the attribute page (422 when it shows problems).
pub fn attributes(
    page: AttributePage,
    tenant_name: &str,
    tenant: &str,
    csrf: &str,
    set_cookie: Option<HeaderValue>,
) -> Response {
    let message = |field: &AttributeField, error: &AttributeError| -> String {
        let label = &field.label;
        match error {
            AttributeError::Required { .. } => format!("Enter your {}.", label.to_lowercase()),
            AttributeError::InvalidEmail { .. } => {
                "Enter an email address like name@example.com.".into()
            }
            AttributeError::TooLong { max, .. } => {
                format!("{label} can be at most {max} characters long.")
            }
            AttributeError::ControlCharacter { .. } => {
                format!("{label} contains characters that cannot be used.")
            }
            AttributeError::NotABoolean { .. } => format!("Tick or untick {label}."),
            AttributeError::NotAnInteger { .. } => format!("{label} must be a whole number."),
            _ => format!("Check {label} and send the form once."),
        }
    };
    let mut errors = Vec::new();
    let fields = page
        .fields
        .iter()
        .map(|field| {
            let error = page
                .errors
                .iter()
                .find(|e| e.field() == field.name)
                .map(|e| message(field, e));
            if let Some(text) = &error {
                errors.push((field.name.clone(), text.clone()));
            }
            let (kind, autocomplete) = match (&field.attribute, field.data_type) {
                (UserAttribute::Email, _) => ("email", "email"),
                (UserAttribute::DisplayName, _) => ("text", "name"),
                (UserAttribute::GivenName, _) => ("text", "given-name"),
                (UserAttribute::Surname, _) => ("text", "family-name"),
                (_, AttributeType::Boolean) => ("checkbox", "off"),
                (_, AttributeType::Integer) => ("number", "off"),
                _ => ("text", "off"),
            };
            FieldView {
                name: field.name.clone(),
                label: field.label.clone(),
                kind,
                autocomplete,
                required: field.required,
                value: field.value.clone().unwrap_or_default(),
                error,
                readonly: page.verified_email.is_some()
                    && matches!(field.attribute, UserAttribute::Email),
            }
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let view = AttributesView {
        layout: layout("Complete your profile", tenant_name, tenant, Some(csrf)),
        application_name: page.application_name,
        handle: page.handle,
        fields,
        errors,
        correlation: page.correlation_name,
    };
    let origins: Vec<&str> = page.reply_origin.iter().map(String::as_str).collect();
    with_form_action(render(&view, status, set_cookie), &origins)
}

/// The page's CSP with `form-action` allowing `origins` too: the form's answer redirects there (to the app's reply
/// URL, or the chosen provider), and browsers hold redirects after a form to `form-action` as well.
fn with_form_action(mut response: Response, origins: &[&str]) -> Response {
    if !origins.is_empty()
        && let Ok(csp) = HeaderValue::from_str(&csp_with_form_action(origins))
    {
        response
            .headers_mut()
            .insert(axum::http::header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// Renders the signed-out page.
pub fn signed_out(tenant_name: &str, tenant: &str) -> Response {
    let view = SignedOutView {
        layout: layout("Signed out", tenant_name, tenant, None),
    };
    render(&view, StatusCode::OK, None)
}

/// The page for a sign-in that cannot continue. Server-side faults become [`AppError`]s (logged, generic page); a
/// broken provider is logged in one line naming the tenant, the provider and the failed check, and the page shows the
/// correlation id.
pub fn sign_in_error(
    error: SignInError,
    tenant: &TenantId,
    tenant_name: &str,
    correlation: &str,
) -> Response {
    let page = |status: StatusCode, heading: &str, message: String| {
        PageError::new(status, heading, &message)
            .for_tenant(tenant_name, String::new())
            .into_response()
    };
    match error {
        SignInError::NoRedirect(cause) => {
            tracing::info!(reason = %cause, "broker authorization request refused without redirect");
            let (heading, message) = match cause {
                OidcError::UnknownClient => (
                    "Unknown application",
                    format!(
                        "The application that sent you here is not registered with {tenant_name}. Go back to \
                         the application and try again, or tell its administrator."
                    ),
                ),
                OidcError::UnregisteredRedirectUri => (
                    "Sign-in request not accepted",
                    "The application asked to send you back to an address it has not registered, so you were \
                     not sent there. Go back to the application and tell its administrator."
                        .to_owned(),
                ),
                _ => (
                    "Sign-in request not accepted",
                    "The link that brought you here is incomplete or damaged. Go back to the application and \
                     start the sign-in again."
                        .to_owned(),
                ),
            };
            page(StatusCode::BAD_REQUEST, heading, message)
        }
        SignInError::UnknownFlow => page(
            StatusCode::NOT_FOUND,
            "Unknown sign-in page",
            "This sign-in address does not exist. Go back to the application and try again, or tell its \
             administrator."
                .into(),
        ),
        SignInError::Expired => page(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired",
            "Too much time has passed, or this sign-in was already completed (perhaps in another tab). Go back to \
             the application and sign in again."
                .into(),
        ),
        SignInError::OtherBrowser => {
            tracing::warn!(
                correlation,
                "broker sign-in refused: correlation cookie missing or wrong"
            );
            page(
                StatusCode::BAD_REQUEST,
                "Sign-in started elsewhere",
                format!(
                    "This sign-in was started in another browser or window, or your browser blocked a cookie it \
                     needs. Go back to the application and sign in again from this window. Reference: \
                     {correlation}"
                ),
            )
        }
        SignInError::ProviderNotOffered => page(
            StatusCode::BAD_REQUEST,
            "Sign-in option not available",
            "The sign-in option you chose is not offered here any more. Go back to the application and start \
             again."
                .into(),
        ),
        SignInError::MailUnavailable => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "We could not send the code",
            format!(
                "The verification code could not be sent. Try again in a few minutes. If it keeps happening, \
                 tell the site's support this reference: {correlation}"
            ),
        ),
        SignInError::TooManyAttempts => page(
            StatusCode::BAD_REQUEST,
            "Too many wrong codes",
            "The code was entered wrongly too many times, so it no longer works. Go back to the application and \
             sign up again to get a new code."
                .into(),
        ),
        SignInError::Passkey { rule, reason } => {
            tracing::info!(correlation, tenant = %tenant, rule = %rule, reason = %reason, "local passkey refused");
            page(
                StatusCode::BAD_REQUEST,
                "Passkey not accepted",
                format!(
                    "This passkey could not be used to sign in here ({rule}). Go back to the application and try \
                     again, or sign up with your email. Reference: {correlation}"
                ),
            )
        }
        SignInError::Provider { provider, check } => {
            tracing::warn!(
                correlation,
                tenant = %tenant,
                provider = %provider,
                check = %check,
                "identity provider check failed"
            );
            page(
                StatusCode::BAD_GATEWAY,
                "We could not sign you in",
                format!(
                    "The sign-in service you were sent to did not answer as expected, so we stopped for your \
                     safety. Try again in a few minutes. If it keeps happening, tell the site's support this \
                     reference: {correlation}"
                ),
            )
        }
        SignInError::Service(e) => AppError::from(e).into_response(),
        _ => AppError::Internal("unhandled sign-in error".into()).into_response(),
    }
}
