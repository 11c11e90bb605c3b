//! Sign-up: the page, and the two JSON calls of its script.
//!
//! - `GET /{tenant}/signup?authz=...`: username, display name, email, then "Create account with a passkey".
//! - `POST /{tenant}/webauthn/register/options`: `{"username", "display_name", "email"?, "authz"?}` → `{"ceremony",
//!   "publicKey"}` (creation options). Nothing is written but the one-time ceremony.
//! - `POST /{tenant}/webauthn/register/verify`: `{"ceremony", "credential", "nickname"?}` → `{"ok": true, "next"}`.
//!   The user and the verified passkey are written in one transaction (`create_user_with_credential`), so an abandoned
//!   sign-up leaves no user behind; a session starts.
//!
//! The registration steps shared with adding a passkey (`creation_options`, `verify_new_credential`) live here.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use tessera_core::UserId;
use tessera_store::{StoreError, User};
use tessera_webauthn::json::{
    AttestationConveyancePreference, AuthenticatorAttachment,
    PublicKeyCredentialCreationOptionsJSON, UserEntity,
};
use tessera_webauthn::{
    AttestationPolicy, AuthenticatorPolicy, Base64UrlBytes, CoseAlgorithm, Mediation, OriginPolicy,
    RegistrationExpectation, RegistrationResponseJSON, VerifiedRegistration, WebauthnError,
    generate_challenge, verify_registration,
};

use super::ceremony::{self, B64, REGISTER_KIND, RegisterCeremony, RegistrationPurpose};
use super::context::{self, PageTenant};
use super::login::{OptionsReply, VerifyReply, VerifyRequest, descriptors};
use super::reply::{ApiError, PageError};
use super::views::{Layout, SignupPage, render};
use crate::error::AppError;
use crate::session::{self, AuthenticationFacts};
use crate::state::AppState;

/// Longest username accepted.
pub const MAX_USERNAME: usize = 64;
/// Longest display name accepted.
pub const MAX_DISPLAY_NAME: usize = 128;
/// Longest email address accepted.
pub const MAX_EMAIL: usize = 254;
/// Longest passkey name accepted.
pub const MAX_NICKNAME: usize = 64;

/// `GET /{tenant}/signup?authz=...`: the sign-up page.
pub async fn page(
    State(state): State<AppState>,
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
    let (csrf, set_cookie) = crate::csrf::token_for_page(&headers)?;
    let view = SignupPage {
        layout: Layout::new(
            "Create your account",
            &tenant.tenant.display_name,
            tenant.base(),
            Some(&csrf),
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

/// Whether `c` may not appear in a username or a name people read: control characters (NUL included, which
/// PostgreSQL refuses in text), and the invisible format characters that reorder or hide text (bidirectional
/// overrides and isolates, zero-width characters, the byte-order mark), which let one name pass for another.
pub fn is_disallowed_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// A username: 1 to [`MAX_USERNAME`] letters, digits and `. _ - @ +`, surrounding spaces removed.
pub fn parse_username(raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(AppError::BadRequest(
            "Choose a username: it is how you will sign in.".into(),
        ));
    }
    if name.chars().any(is_disallowed_char) {
        return Err(AppError::BadRequest(
            "The username contains invisible or control characters. Type it again without them."
                .into(),
        ));
    }
    if name.chars().count() > MAX_USERNAME {
        return Err(AppError::BadRequest(format!(
            "The username may be at most {MAX_USERNAME} characters long. Choose a shorter one."
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'))
    {
        return Err(AppError::BadRequest(
            "The username may contain only letters, digits and the characters . _ - @ +. Choose another one.".into(),
        ));
    }
    Ok(name.to_owned())
}

/// A username typed on the sign-in page: trimmed; `None` when empty. One that sign-up would refuse cannot name an
/// account, so it is answered as unknown (without asking the store), and one with control characters is refused
/// with its own sentence.
pub fn parse_sign_in_username(raw: &str) -> Result<Option<String>, AppError> {
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

/// An optional email address: `local@domain`, no spaces or control characters, at most [`MAX_EMAIL`] characters.
pub fn parse_email(raw: Option<&str>) -> Result<Option<String>, AppError> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let bad = || {
        AppError::BadRequest(
            "This does not look like an email address. Check it, or leave the field empty.".into(),
        )
    };
    if text.len() > MAX_EMAIL
        || text
            .chars()
            .any(|c| c.is_whitespace() || is_disallowed_char(c) || "<>\"".contains(c))
    {
        return Err(bad());
    }
    match text.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(Some(text.to_owned()))
        }
        _ => Err(bad()),
    }
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

/// The algorithms the tenant accepts, as the engine knows them, in the engine's order of preference.
fn offered_algorithms(policy: &AuthenticatorPolicy) -> Vec<CoseAlgorithm> {
    policy
        .algorithms
        .iter()
        .filter_map(|id| CoseAlgorithm::from_id(*id))
        .filter(|a| policy.allows_algorithm(*a))
        .collect()
}

/// Whether the tenant's policy needs an attestation statement: it demands one, or it judges the model (an AAGUID
/// allow-list or a minimum certification level count only a trusted attestation as proof).
pub fn wants_attestation(policy: &AuthenticatorPolicy) -> bool {
    policy.attestation != AttestationPolicy::None
        || !policy.aaguid_allow.is_empty()
        || policy.minimum_certification_level.is_some()
}

/// Creation options for `user` at the tenant, excluding the credentials the user already has.
pub(crate) fn creation_options(
    tenant: &PageTenant,
    policy: &AuthenticatorPolicy,
    user: UserEntity,
    challenge: &[u8],
    existing: &[tessera_store::Credential],
) -> PublicKeyCredentialCreationOptionsJSON {
    let attestation = if wants_attestation(policy) {
        AttestationConveyancePreference::Direct
    } else {
        AttestationConveyancePreference::None
    };
    PublicKeyCredentialCreationOptionsJSON::builder(
        tenant.tenant.rp_id.clone(),
        tenant.tenant.display_name.clone(),
        user,
        challenge.to_vec(),
    )
    .algorithms(&offered_algorithms(policy))
    .user_verification(policy.user_verification)
    .attestation(attestation)
    .exclude_credentials(descriptors(existing))
    .build()
}

/// `POST /{tenant}/webauthn/register/options`.
pub async fn options(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = context::tenant(&state, &tenant).await?;
    let csrf = tenant.verify_csrf(&state, &headers, crate::csrf::header_token(&headers))?;
    let request: RegisterOptionsRequest = context::json_body(&body)?;
    let id = tenant.id().clone();
    let policy = tenant.policy()?;
    let authz = context::authz_id(request.authz.as_deref())?;
    let username = parse_username(&request.username)?;
    let display_name = if request.display_name.trim().is_empty() {
        username.clone()
    } else {
        parse_label(&request.display_name, MAX_DISPLAY_NAME, "your name")?
    };
    let email = parse_email(request.email.as_deref())?;
    if state
        .store
        .find_user_by_username(&id, &username)
        .await?
        .is_some()
    {
        return Err(AppError::BadRequest(
            "This username is taken. Choose another one, or sign in.".into(),
        )
        .into());
    }

    let user_id = format!("u_{}", ceremony::random_id::<16>()?);
    let user_handle = ceremony::random_bytes::<32>()?.to_vec();
    let challenge = generate_challenge().map_err(|e| AppError::Internal(e.to_string()))?;
    let entity = UserEntity {
        id: Base64UrlBytes(user_handle.clone()),
        name: username.clone(),
        display_name: display_name.clone(),
    };
    let options = creation_options(&tenant, &policy, entity, &challenge, &[]);
    let stored = RegisterCeremony {
        challenge: B64(challenge.to_vec()),
        user_id,
        user_handle: B64(user_handle),
        algorithms: options.offered_algorithms(),
        purpose: RegistrationPurpose::SignUp {
            username,
            display_name,
            email,
        },
        authz,
        binding: B64(csrf.binding()),
    };
    let ceremony = ceremony::put(&state, &id, REGISTER_KIND, &stored).await?;
    Ok(context::json_reply(
        &OptionsReply {
            ceremony,
            public_key: options,
        },
        None,
    ))
}

/// The default name of a new passkey, from what the ceremony showed.
fn default_nickname(verified: &VerifiedRegistration) -> String {
    // A model vouched for by a trusted attestation is named after its FIDO metadata description ("YubiKey 5 NFC");
    // an untrusted statement's description would only repeat the authenticator's own claim.
    let described = verified
        .attestation
        .metadata
        .as_ref()
        .filter(|_| verified.attestation.trusted)
        .and_then(|entry| entry.description.as_deref())
        .map(|d| {
            d.chars()
                .filter(|c| !is_disallowed_char(*c))
                .take(MAX_NICKNAME)
                .collect::<String>()
        })
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    if let Some(description) = described {
        return description;
    }
    if verified.backup_eligible {
        return "Synced passkey".into();
    }
    match verified.authenticator_attachment {
        Some(AuthenticatorAttachment::Platform) => "Passkey on this device".into(),
        Some(AuthenticatorAttachment::CrossPlatform) => "Security key".into(),
        None => "Passkey".into(),
    }
}

/// Verifies a registration response against its ceremony (WebAuthn L3 §7.1, through the engine) and builds the
/// credential record to store for `stored.user_id`.
pub(crate) async fn verify_new_credential(
    state: &AppState,
    tenant: &PageTenant,
    policy: &AuthenticatorPolicy,
    stored: &RegisterCeremony,
    credential: serde_json::Value,
    nickname: Option<&str>,
) -> Result<(VerifiedRegistration, tessera_store::Credential), ApiError> {
    let id = tenant.id();
    let nickname = match nickname.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => Some(parse_label(name, MAX_NICKNAME, "a name for the passkey")?),
        None => None,
    };
    let user_id =
        UserId::parse(&stored.user_id).map_err(|e| AppError::StoreCorrupt(e.to_string()))?;
    let response: RegistrationResponseJSON = serde_json::from_value(credential)
        .map_err(|e| ApiError::refused(&WebauthnError::ResponseJsonInvalid(e.to_string())))?;
    // §7.1 "Verify that the credentialId is not yet registered for any user": asked before the (synchronous) engine
    // runs; the store's unique constraint remains the final guard against a race.
    let exists = state
        .store
        .get_credential(id, response.raw_id.as_slice())
        .await?
        .is_some();
    let now = state.clock.now();
    // The service's trust anchors and FIDO metadata; the tenant's policy decides how much attestation it demands.
    let attestation = state.attestation.current();
    let origins = OriginPolicy::new(tenant.tenant.origins.clone());
    let rp_ids = [tenant.tenant.rp_id.clone()];
    let expectation = RegistrationExpectation {
        challenge: &stored.challenge.0,
        origins: &origins,
        rp_ids: &rp_ids,
        algorithms: &stored.algorithms,
        mediation: Mediation::Modal,
        policy,
        trust: attestation.trust_at(now),
    };
    let verified = verify_registration(&response, &expectation, |_| exists)
        .map_err(|e| ApiError::refused(&e))?;
    let record = tessera_store::Credential {
        tenant: id.clone(),
        credential_id: verified.credential_id.clone(),
        user_id,
        public_key: verified.public_key_cbor.clone(),
        alg: verified.algorithm.id(),
        sign_count: verified.sign_count,
        uv_initialized: verified.user_verified,
        backup_eligible: verified.backup_eligible,
        backup_state: verified.backup_state,
        transports: verified
            .transports
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect(),
        aaguid: verified.aaguid.0,
        attestation_format: verified.attestation_format().to_owned(),
        attestation_trusted: verified.attestation.trusted,
        nickname: nickname.unwrap_or_else(|| default_nickname(&verified)),
        created_at: now,
        last_used_at: None,
    };
    Ok((verified, record))
}

/// `POST /{tenant}/webauthn/register/verify`.
pub async fn verify(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = context::tenant(&state, &tenant).await?;
    let csrf = tenant.verify_csrf(&state, &headers, crate::csrf::header_token(&headers))?;
    let request: VerifyRequest = context::json_body(&body)?;
    let id = tenant.id().clone();
    let policy = tenant.policy()?;
    let stored: RegisterCeremony =
        ceremony::take(&state, &id, REGISTER_KIND, &request.ceremony).await?;
    ceremony::check_binding(&stored.binding, &csrf)?;
    let RegistrationPurpose::SignUp {
        username,
        display_name,
        email,
    } = &stored.purpose
    else {
        return Err(AppError::CeremonyExpired.into());
    };
    let (verified, credential) = verify_new_credential(
        &state,
        &tenant,
        &policy,
        &stored,
        request.credential,
        request.nickname.as_deref(),
    )
    .await?;
    let user = User {
        tenant: id.clone(),
        id: credential.user_id.clone(),
        username: username.clone(),
        display_name: display_name.clone(),
        email: email.clone(),
        email_verified: false,
        user_handle: stored.user_handle.0.clone(),
        created_at: credential.created_at,
    };
    match state
        .store
        .create_user_with_credential(&user, &credential)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Err(AppError::BadRequest(
                "This username was taken a moment ago, or this passkey is already registered. Choose another username and try again, or sign in."
                    .into(),
            )
            .into());
        }
        Err(other) => return Err(other.into()),
    }
    let authentication = AuthenticationFacts {
        user_verified: verified.user_verified,
        backup_eligible: verified.backup_eligible,
        attestation_trusted: verified.attestation.trusted,
    };
    let (_, cookie) = session::start(&state, &id, &headers, &user.id, authentication).await?;
    let next = context::next_after_sign_in(&id, stored.authz.as_deref());
    Ok(context::json_reply(
        &VerifyReply { ok: true, next },
        Some(cookie),
    ))
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
            parse_username("  alice.b@example ").ok().as_deref(),
            Some("alice.b@example")
        );
    }

    #[test]
    fn email_must_have_a_local_part_and_a_domain() {
        assert!(parse_email(Some("alice")).is_err());
        assert!(parse_email(Some("@example.com")).is_err());
        assert!(parse_email(Some("a b@example.com")).is_err());
        assert_eq!(parse_email(Some(" ")).ok().flatten(), None);
        assert_eq!(
            parse_email(Some("a@example.com")).ok().flatten().as_deref(),
            Some("a@example.com")
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
        assert_eq!(parse_sign_in_username("   ").ok(), Some(None));
        assert_eq!(
            parse_sign_in_username(" alice ").ok(),
            Some(Some("alice".to_owned()))
        );
        let text = message(parse_sign_in_username(&"a".repeat(MAX_USERNAME + 1)));
        assert!(text.starts_with("There is no account"), "{text}");
    }

    #[test]
    fn emails_with_nul_are_refused() {
        assert!(parse_email(Some("a\0@example.com")).is_err());
    }
}
