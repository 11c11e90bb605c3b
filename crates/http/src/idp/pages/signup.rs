//! Sign-up: the page, and the two JSON calls of its script.
//!
//! - `GET /{tenant}/signup?authz=...`: username, display name, email, then "Create account with a passkey".
//! - `POST /{tenant}/webauthn/register/options`: `{"username", "display_name", "email"?, "authz"?}` → `{"ceremony",
//!   "publicKey"}` (creation options). Nothing is written but the one-time ceremony.
//! - `POST /{tenant}/webauthn/register/verify`: `{"ceremony", "credential", "nickname"?}` → `{"ok": true, "next"}`.
//!   The user and the verified passkey are written in one transaction (`create_user_with_credential`), so an abandoned
//!   sign-up leaves no user behind; a session starts.
//!
//! The use case is `tessera_service::provider::signup`; these handlers parse what the user typed (refusing it in
//! plain words), check CSRF, call it, and shape the answer.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use tessera_core::{Email, Username, UsernameError};
use tessera_service::provider::signup::{self, BeginSignUp, FinishSignUp};

use super::context;
use super::login::{OptionsReply, VerifyReply, VerifyRequest};
use super::views::{Layout, SignupPage, render};
use crate::common::reply::ApiError;
use crate::common::reply::PageError;
use crate::error::AppError;
use crate::session;
use crate::state::ProviderState;

/// Longest username accepted.
pub const MAX_USERNAME: usize = Username::MAX_LEN;
/// Longest display name accepted.
pub const MAX_DISPLAY_NAME: usize = 128;
/// Longest email address accepted.
pub const MAX_EMAIL: usize = tessera_core::Email::MAX_LEN;
/// Longest passkey name accepted.
pub use tessera_service::provider::signup::MAX_NICKNAME;

/// `GET /{tenant}/signup?authz=...`: the sign-up page.
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
    let pending = match &authz {
        Some(authz) => Some(
            context::pending_authorization(&state, &id, authz)
                .await?
                .ok_or_else(|| super::login::expired_request(&tenant))?,
        ),
        None => None,
    };
    if let Err(e) = tessera_service::admin::members::admit_sign_up(
        state.store.as_ref(),
        state.admin_enrolments.as_ref(),
        &id,
        authz.as_deref(),
        state.clock.now(),
    )
    .await
    {
        return Err(match e {
            e @ tessera_service::ServiceError::SignUpByInvitationOnly => PageError::new(
                StatusCode::FORBIDDEN,
                "Sign-up is by invitation only",
                &e.to_string(),
            )
            .with_link(
                context::page_url(&id, "login", authz.as_deref()),
                "Sign in with an existing account",
            )
            .with_reason("sign-up refused: no invitation".into()),
            other => other.into(),
        });
    }
    let (csrf, set_cookie) = crate::csrf::token_for_page(&headers, tenant.id())?;
    let view = SignupPage {
        layout: Layout::new(
            "Create your account",
            &tenant.tenant.display_name,
            tenant.base(),
            Some(csrf.as_str()),
            "signup",
            authz.as_deref(),
        ),
        client_name: pending.as_ref().map(|p| p.client_name.clone()),
        login_hint: pending
            .as_ref()
            .and_then(|p| p.login_hint())
            .unwrap_or_default()
            .to_owned(),
        login_href: context::page_url(&id, "login", authz.as_deref()),
        cancel_href: authz.as_deref().map(|a| context::cancel_url(&id, a)),
    };
    Ok(render(&view, StatusCode::OK, set_cookie))
}

pub use tessera_core::text::is_disallowed_char;

/// A username: 1 to [`MAX_USERNAME`] letters, digits and `. _ - @ +`, surrounding spaces removed
/// ([`Username::parse`]), refused in words people understand.
pub fn parse_username(raw: &str) -> Result<Username, AppError> {
    Username::parse(raw).map_err(|e| {
        AppError::BadRequest(match e {
            UsernameError::Empty => "Choose a username: it is how you will sign in.".into(),
            UsernameError::DisallowedCharacter => {
                "The username contains invisible or control characters. Type it again without them.".into()
            }
            UsernameError::TooLong => format!(
                "The username may be at most {MAX_USERNAME} characters long. Choose a shorter one."
            ),
            _ => "The username may contain only letters, digits and the characters . _ - @ +. Choose another one."
                .into(),
        })
    })
}

/// A username typed on the sign-in page: trimmed; `None` when empty. One that sign-up would refuse cannot name an
/// account, so it is answered as unknown (without asking the store), and one with control characters is refused
/// with its own sentence.
pub fn parse_sign_in_username(raw: &str) -> Result<Option<Username>, AppError> {
    let name = raw.trim();
    if name.is_empty() {
        return Ok(None);
    }
    if name.chars().any(is_disallowed_char) {
        return Err(AppError::BadRequest(
            "The username contains invisible or control characters. Type it again without them."
                .into(),
        ));
    }
    parse_username(name).map(Some).map_err(|_| {
        AppError::BadRequest(
            "There is no account with this username. Check the spelling, or create an account."
                .into(),
        )
    })
}

/// A human name (display name, passkey name): no control or invisible formatting characters, at most `max`
/// characters, not empty, surrounding spaces removed.
pub fn parse_label(raw: &str, max: usize, what: &str) -> Result<String, AppError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(AppError::BadRequest(format!(
            "Enter {what}, then try again."
        )));
    }
    if text.chars().any(is_disallowed_char) {
        return Err(AppError::BadRequest(format!(
            "{} contains invisible or control characters. Remove them and try again.",
            capitalized(what)
        )));
    }
    if text.chars().count() > max {
        return Err(AppError::BadRequest(format!(
            "{} may be at most {max} characters long. Shorten it and try again.",
            capitalized(what)
        )));
    }
    Ok(text.to_owned())
}

/// `text` with its first letter in upper case, for messages that start with a field's name.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// An optional email address ([`tessera_core::Email::parse`]); empty is none.
pub fn parse_email(raw: Option<&str>) -> Result<Option<Email>, AppError> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    Email::parse(text).map(Some).map_err(|_| {
        AppError::BadRequest(
            "This does not look like an email address. Check it, or leave the field empty.".into(),
        )
    })
}

/// The body of `POST /{tenant}/webauthn/register/options`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RegisterOptionsRequest {
    /// The new username.
    pub username: String,
    /// The new user's name.
    pub display_name: String,
    /// The new user's email address.
    pub email: Option<String>,
    /// The pending authorization to resume afterwards.
    pub authz: Option<String>,
}

/// `POST /{tenant}/webauthn/register/options`.
pub async fn options(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = context::tenant(&state, &tenant).await?;
    let csrf = tenant.verify_csrf(&state, &headers, crate::csrf::header_token(&headers))?;
    let request: RegisterOptionsRequest = context::json_body(&body)?;
    let policy = tenant.policy()?;
    let authz = context::authz_id(request.authz.as_deref())?;
    let username = parse_username(&request.username)?;
    let display_name = if request.display_name.trim().is_empty() {
        username.to_string()
    } else {
        parse_label(&request.display_name, MAX_DISPLAY_NAME, "your name")?
    };
    let email = parse_email(request.email.as_deref())?;
    let started = signup::begin_sign_up(
        state.store.as_ref(),
        state.admin_enrolments.as_ref(),
        BeginSignUp {
            tenant: &tenant.tenant,
            policy: &policy,
            username,
            display_name,
            email,
            authz,
            binding: csrf.binding(),
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

/// The user's name for a new passkey, checked; `None` when not given.
pub(crate) fn parse_nickname(nickname: Option<&str>) -> Result<Option<String>, AppError> {
    match nickname.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => Ok(Some(parse_label(
            name,
            MAX_NICKNAME,
            "a name for the passkey",
        )?)),
        None => Ok(None),
    }
}

/// `POST /{tenant}/webauthn/register/verify`.
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
    let policy = tenant.policy()?;
    let nickname = parse_nickname(request.nickname.as_deref())?;
    let now = state.clock.now();
    let attestation = state.attestation.current();
    let signed_up = signup::finish_sign_up(
        state.store.as_ref(),
        FinishSignUp {
            tenant: &tenant.tenant,
            policy: &policy,
            ceremony: &request.ceremony,
            binding: &csrf.binding(),
            credential: request.credential,
            nickname,
            trust: attestation.trust_at(now),
            replaces: session::previous_key(&headers, &id),
            session_ttl: session::ttl(&state, &tenant.tenant),
            now,
        },
    )
    .await?;
    let cookie = session::cookie(
        &id,
        &signed_up.session.token,
        session::ttl(&state, &tenant.tenant),
    )?;
    let next = context::next_after_sign_in(&id, signed_up.authz.as_deref());
    let mut reply = context::json_reply(&VerifyReply { ok: true, next }, Some(cookie));
    // A new account's session gets a new CSRF token: one known before it is worthless after.
    let (_, csrf) = crate::csrf::fresh(&id)?;
    reply
        .headers_mut()
        .append(axum::http::header::SET_COOKIE, csrf);
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_refuses_spaces_and_markup() {
        assert!(parse_username("alice smith").is_err());
        assert!(parse_username("<script>").is_err());
        assert!(parse_username("").is_err());
        assert!(parse_username(&"a".repeat(65)).is_err());
        assert_eq!(
            parse_username("  alice.b@example ").ok().map(String::from),
            Some("alice.b@example".to_owned())
        );
    }

    #[test]
    fn email_must_have_a_local_part_and_a_domain() {
        assert!(parse_email(Some("alice")).is_err());
        assert!(parse_email(Some("@example.com")).is_err());
        assert!(parse_email(Some("a b@example.com")).is_err());
        assert!(matches!(parse_email(Some(" ")), Ok(None)));
        assert_eq!(
            parse_email(Some("a@example.com"))
                .ok()
                .flatten()
                .map(String::from),
            Some("a@example.com".to_owned())
        );
    }

    #[test]
    fn labels_refuse_control_characters() {
        assert!(parse_label("a\u{7}b", 10, "a name").is_err());
        assert!(parse_label("abcdefghijk", 10, "a name").is_err());
    }

    fn message(result: Result<impl std::fmt::Debug, AppError>) -> String {
        match result {
            Err(AppError::BadRequest(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn usernames_with_nul_or_control_characters_are_refused_in_words() {
        for raw in ["al\0ice", "\0", "bob\u{1b}[31m", "eve\u{202e}gnp"] {
            let text = message(parse_username(raw));
            assert!(text.contains("control characters"), "{raw:?}: {text}");
            let text = message(parse_sign_in_username(raw));
            assert!(text.contains("control characters"), "{raw:?}: {text}");
        }
    }

    #[test]
    fn display_names_with_nul_or_invisible_characters_are_refused_in_words() {
        for raw in ["Ann\0", "Ann\u{200b}Lee", "\u{feff}Ann", "A\nB"] {
            let text = message(parse_label(raw, MAX_DISPLAY_NAME, "your name"));
            assert!(text.starts_with("Your name contains"), "{raw:?}: {text}");
        }
        assert_eq!(
            parse_label("  Ann Lee  ", MAX_DISPLAY_NAME, "your name")
                .ok()
                .as_deref(),
            Some("Ann Lee")
        );
        let long = "é".repeat(MAX_DISPLAY_NAME + 1);
        assert!(message(parse_label(&long, MAX_DISPLAY_NAME, "your name")).contains("at most"));
    }

    #[test]
    fn sign_in_username_that_could_not_exist_is_unknown_without_a_lookup() {
        assert!(matches!(parse_sign_in_username("   "), Ok(None)));
        assert_eq!(
            parse_sign_in_username(" alice ")
                .ok()
                .flatten()
                .map(String::from),
            Some("alice".to_owned())
        );
        let text = message(parse_sign_in_username(&"a".repeat(MAX_USERNAME + 1)));
        assert!(text.starts_with("There is no account"), "{text}");
    }

    #[test]
    fn emails_with_nul_are_refused() {
        assert!(parse_email(Some("a\0@example.com")).is_err());
    }
}
