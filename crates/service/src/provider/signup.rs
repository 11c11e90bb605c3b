//! Sign-up with a passkey, and the registration steps it shares with adding a passkey to an account: creation
//! options from the tenant's policy, and verification of the new credential (WebAuthn L3 §7.1, through the engine).
//!
//! The user row is written only with its verified first passkey (`create_user_with_credential`, one transaction),
//! so an abandoned sign-up leaves nothing but an expired ceremony.

use std::sync::Arc;
use tessera_core::text::is_disallowed_char;
use tessera_core::{Email, UserId, Username};

use tessera_store::{AdminStore, Credential, Store, StoreError, Tenant, User};
use tessera_webauthn::attestation::AttestationTrust;
use tessera_webauthn::json::{
    AttestationConveyancePreference, AuthenticatorAttachment,
    PublicKeyCredentialCreationOptionsJSON, UserEntity,
};
use tessera_webauthn::{
    AttestationPolicy, AuthenticatorPolicy, Base64UrlBytes, CoseAlgorithm, Mediation, OriginPolicy,
    RegistrationExpectation, RegistrationResponseJSON, VerifiedRegistration, WebauthnError,
    generate_challenge, verify_registration,
};
use time::OffsetDateTime;

use super::ceremony::{self, B64, REGISTER_KIND, RegisterCeremony, RegistrationPurpose};
use super::session::{AuthenticationFacts, NewSession, new_session};
use super::signin::descriptors;
use crate::error::{Result, ServiceError};

/// Longest passkey name, in characters.
pub const MAX_NICKNAME: usize = 64;

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
pub fn creation_options(
    tenant: &Tenant,
    policy: &AuthenticatorPolicy,
    user: UserEntity,
    challenge: &[u8],
    existing: &[Credential],
) -> PublicKeyCredentialCreationOptionsJSON {
    let attestation = if wants_attestation(policy) {
        AttestationConveyancePreference::Direct
    } else {
        AttestationConveyancePreference::None
    };
    PublicKeyCredentialCreationOptionsJSON::builder(
        tenant.rp_id.clone(),
        tenant.display_name.clone(),
        user,
        challenge.to_vec(),
    )
    .algorithms(&offered_algorithms(policy))
    .user_verification(policy.user_verification)
    .attestation(attestation)
    .exclude_credentials(descriptors(existing))
    .build()
}

/// A started registration: the ceremony id and the options for `navigator.credentials.create`.
#[derive(Debug)]
pub struct RegistrationOptions {
    /// The ceremony id the browser sends back.
    pub ceremony: String,
    /// The creation options, in the WebAuthn JSON serialization.
    pub options: PublicKeyCredentialCreationOptionsJSON,
}

/// A sign-up to start. The user's input is already parsed.
#[derive(Debug)]
pub struct BeginSignUp<'a> {
    /// The tenant.
    pub tenant: &'a Tenant,
    /// The tenant's authenticator policy.
    pub policy: &'a AuthenticatorPolicy,
    /// The new username.
    pub username: Username,
    /// The name shown to people (the username when the user gave none).
    pub display_name: String,
    /// The email address, if given.
    pub email: Option<Email>,
    /// The pending authorization to resume afterwards.
    pub authz: Option<String>,
    /// SHA-256 of the starting browser's CSRF token.
    pub binding: Vec<u8>,
    /// Now.
    pub now: OffsetDateTime,
}

/// Starts a sign-up: refuses one the tenant does not admit (the admin tenant's are by invitation only, checked in
/// `admin_store`, which is `None` when the admin role is not served: [`crate::admin::members::admit_sign_up`]) and
/// a taken username, makes the new user's id, handle and challenge, and stores the ceremony. Nothing else is
/// written.
pub async fn begin_sign_up(
    store: &dyn Store,
    admin_store: Option<&Arc<dyn AdminStore>>,
    begin: BeginSignUp<'_>,
) -> Result<RegistrationOptions> {
    let id = &begin.tenant.id;
    crate::admin::members::admit_sign_up(store, admin_store, id, begin.authz.as_deref(), begin.now)
        .await?;
    let username = String::from(begin.username);
    if store.find_user_by_username(id, &username).await?.is_some() {
        return Err(ServiceError::UsernameTaken);
    }
    let user_id = format!("u_{}", ceremony::random_id::<16>()?);
    let user_handle = ceremony::random_bytes::<32>()?.to_vec();
    let challenge = generate_challenge().map_err(|_| ServiceError::Random)?;
    let entity = UserEntity {
        id: Base64UrlBytes(user_handle.clone()),
        name: username.clone(),
        display_name: begin.display_name.clone(),
    };
    let options = creation_options(begin.tenant, begin.policy, entity, &challenge, &[]);
    let stored = RegisterCeremony {
        challenge: B64(challenge.to_vec()),
        user_id,
        user_handle: B64(user_handle),
        algorithms: options.offered_algorithms(),
        purpose: RegistrationPurpose::SignUp {
            username,
            display_name: begin.display_name,
            email: begin.email.map(String::from),
        },
        authz: begin.authz,
        binding: B64(begin.binding),
    };
    let ceremony = ceremony::put(store, id, REGISTER_KIND, &stored, begin.now).await?;
    Ok(RegistrationOptions { ceremony, options })
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

/// A registration response to verify against its (already consumed and browser-checked) ceremony.
pub struct NewCredential<'a> {
    /// The tenant.
    pub tenant: &'a Tenant,
    /// The tenant's authenticator policy.
    pub policy: &'a AuthenticatorPolicy,
    /// The ceremony.
    pub stored: &'a RegisterCeremony,
    /// The credential's `toJSON()`.
    pub credential: serde_json::Value,
    /// The user's name for the passkey, already checked; `None`: named after what the ceremony showed.
    pub nickname: Option<String>,
    /// The service's attestation trust anchors and metadata at `now`.
    pub trust: AttestationTrust<'a>,
    /// Now.
    pub now: OffsetDateTime,
}

/// Verifies a registration response (WebAuthn L3 §7.1, through the engine) and builds the credential record to
/// store for the ceremony's user.
pub async fn verify_new_credential(
    store: &dyn Store,
    new: NewCredential<'_>,
) -> Result<(VerifiedRegistration, Credential)> {
    let id = &new.tenant.id;
    let user_id = UserId::parse(&new.stored.user_id)
        .map_err(|e| ServiceError::Corrupt(format!("ceremony user id: {e}")))?;
    let response: RegistrationResponseJSON = serde_json::from_value(new.credential)
        .map_err(|e| WebauthnError::ResponseJsonInvalid(e.to_string()))?;
    // §7.1 "Verify that the credentialId is not yet registered for any user": asked before the (synchronous) engine
    // runs; the store's unique constraint remains the final guard against a race.
    let exists = store
        .get_credential(id, response.raw_id.as_slice())
        .await?
        .is_some();
    let origins = OriginPolicy::new(new.tenant.origins.clone());
    let rp_ids = [new.tenant.rp_id.clone()];
    let expectation = RegistrationExpectation {
        challenge: &new.stored.challenge.0,
        origins: &origins,
        rp_ids: &rp_ids,
        algorithms: &new.stored.algorithms,
        mediation: Mediation::Modal,
        policy: new.policy,
        trust: new.trust,
    };
    let verified = verify_registration(&response, &expectation, |_| exists)?;
    let record = Credential {
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
        nickname: new.nickname.unwrap_or_else(|| default_nickname(&verified)),
        created_at: new.now,
        last_used_at: None,
    };
    Ok((verified, record))
}

/// A sign-up to finish.
pub struct FinishSignUp<'a> {
    /// The tenant.
    pub tenant: &'a Tenant,
    /// The tenant's authenticator policy.
    pub policy: &'a AuthenticatorPolicy,
    /// The ceremony id from [`begin_sign_up`].
    pub ceremony: &'a str,
    /// SHA-256 of the finishing browser's CSRF token.
    pub binding: &'a [u8],
    /// The credential's `toJSON()`.
    pub credential: serde_json::Value,
    /// The user's name for the passkey, already checked.
    pub nickname: Option<String>,
    /// The service's attestation trust anchors and metadata at `now`.
    pub trust: AttestationTrust<'a>,
    /// The storage key of the browser's previous session with the tenant, which the new one replaces.
    pub replaces: Option<Vec<u8>>,
    /// How long the new session lasts.
    pub session_ttl: time::Duration,
    /// Now.
    pub now: OffsetDateTime,
}

/// A finished sign-up: the new user's session (stored) and where the browser goes next.
#[derive(Debug)]
pub struct SignedUp {
    /// The new session; its token goes to the browser once.
    pub session: NewSession,
    /// The pending authorization to resume, if the sign-up was for one.
    pub authz: Option<String>,
}

/// Finishes a sign-up: consumes the ceremony, verifies the new passkey, writes the user with it in one transaction
/// and starts a session (the browser's previous session with the tenant, if any, is deleted first).
pub async fn finish_sign_up(store: &dyn Store, finish: FinishSignUp<'_>) -> Result<SignedUp> {
    let id = &finish.tenant.id;
    let stored: RegisterCeremony =
        ceremony::take(store, id, REGISTER_KIND, finish.ceremony, finish.now).await?;
    ceremony::check_binding(&stored.binding, finish.binding)?;
    let RegistrationPurpose::SignUp {
        username,
        display_name,
        email,
    } = &stored.purpose
    else {
        return Err(ServiceError::CeremonyExpired);
    };
    let (verified, credential) = verify_new_credential(
        store,
        NewCredential {
            tenant: finish.tenant,
            policy: finish.policy,
            stored: &stored,
            credential: finish.credential,
            nickname: finish.nickname,
            trust: finish.trust,
            now: finish.now,
        },
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
        disabled_at: None,
    };
    match store.create_user_with_credential(&user, &credential).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => return Err(ServiceError::SignUpRaced),
        Err(other) => return Err(other.into()),
    }
    let authentication = AuthenticationFacts {
        user_verified: verified.user_verified,
        backup_eligible: verified.backup_eligible,
        attestation_trusted: verified.attestation.trusted,
    };
    let session = new_session(
        id,
        &user.id,
        authentication,
        Some(&credential.credential_id),
        finish.now,
        finish.session_ttl,
    )?;
    if let Some(old) = &finish.replaces {
        store.delete_session(id, old).await?;
    }
    store.create_session(&session.record).await?;
    let client = ceremony::client_for_log(store, id, stored.authz.as_deref(), finish.now).await;
    tracing::info!(
        tenant = %id,
        client,
        user = %user.id,
        attestation_trusted = verified.attestation.trusted,
        "signed up"
    );
    Ok(SignedUp {
        session,
        authz: stored.authz,
    })
}
