//! Registration ceremony verification: WebAuthn L3 §7.1 "Registering a New Credential", step by step.

use crate::attestation::{
    AttestationOutcome, AttestationRequirement, AttestationTrust, AttestedCredential, TrustPath,
    verify_attested,
};
use crate::authdata::{AuthenticatorData, AuthenticatorFlags};
use crate::authentication::CredentialRecord;
use crate::canonical_cbor::{CborPart, require_canonical_prefix};
use crate::clientdata::{CeremonyType, CollectedClientData, OriginPolicy, verify_client_data};
use crate::cose::{CoseAlgorithm, CoseKey, read_cbor_prefix};
use crate::error::WebauthnError;
use crate::json::{
    AuthenticatorAttachment, AuthenticatorTransport, RegistrationResponseJSON,
    check_credential_identity,
};
use crate::policy::{Aaguid, AttestationPolicy, AuthenticatorPolicy, SyncedPasskeys};
use aws_lc_rs::digest;
use ciborium::Value;

/// Largest attestation object accepted (TPM and Android chains included).
pub const MAX_ATTESTATION_OBJECT_LEN: usize = 128 * 1024;

/// How the credential was requested (`CredentialMediationRequirement`), which decides whether UP is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mediation {
    /// A modal `create()`: user presence is required.
    #[default]
    Modal,
    /// Conditional create (automatic passkey upgrade): the authenticator may skip user presence.
    Conditional,
}

/// What the relying party expects of one registration ceremony.
#[derive(Debug, Clone)]
pub struct RegistrationExpectation<'a> {
    /// The challenge issued in the creation options (already consumed from the store).
    pub challenge: &'a [u8],
    /// The tenant's origins and embedding policy.
    pub origins: &'a OriginPolicy,
    /// RP IDs whose SHA-256 is accepted as `rpIdHash` (usually one).
    pub rp_ids: &'a [String],
    /// COSE algorithm ids offered in `pubKeyCredParams`.
    pub algorithms: &'a [i64],
    /// Modal or conditional create.
    pub mediation: Mediation,
    /// The tenant's authenticator policy.
    pub policy: &'a AuthenticatorPolicy,
    /// Trust anchors, FIDO metadata and the time at which certificates are judged.
    pub trust: AttestationTrust<'a>,
}

/// A verified registration: everything a store keeps about the new credential, and what the ceremony showed.
#[derive(Debug, Clone)]
pub struct VerifiedRegistration {
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The credential public key.
    pub public_key: CoseKey,
    /// The credential public key as COSE_Key CBOR (what a store keeps).
    pub public_key_cbor: Vec<u8>,
    /// The key's algorithm.
    pub algorithm: CoseAlgorithm,
    /// The initial signature counter.
    pub sign_count: u32,
    /// UV was set (the store's `uvInitialized`).
    pub user_verified: bool,
    /// BE: a synced, multi-device credential.
    pub backup_eligible: bool,
    /// BS: currently backed up.
    pub backup_state: bool,
    /// The raw flags.
    pub flags: AuthenticatorFlags,
    /// Transports the client reported.
    pub transports: Vec<AuthenticatorTransport>,
    /// The authenticator model.
    pub aaguid: Aaguid,
    /// The verified attestation: format, trust path, whether it is anchored, and the metadata entry.
    pub attestation: AttestationOutcome,
    /// `authenticatorAttachment`, if the client reported a known value.
    pub authenticator_attachment: Option<AuthenticatorAttachment>,
    /// `credProps.rk` as the client reported it (informational, never trusted).
    pub discoverable: Option<bool>,
    /// The client extension outputs, as sent (informational, never trusted).
    pub client_extension_results: serde_json::Value,
    /// The authenticator extension outputs (informational).
    pub authenticator_extensions: Option<Value>,
}

impl VerifiedRegistration {
    /// The attestation format identifier (`none`, `packed`, ...).
    #[must_use]
    pub fn attestation_format(&self) -> &'static str {
        self.attestation.format.as_str()
    }

    /// The trust path kind: `none`, `self`, `basic` or `attca`.
    #[must_use]
    pub fn trust_path(&self) -> &'static str {
        self.attestation.trust_path.kind()
    }

    /// The record a store keeps for this credential, owned by `user_handle`.
    #[must_use]
    pub fn to_record(&self, user_handle: &[u8]) -> CredentialRecord {
        CredentialRecord {
            credential_id: self.credential_id.clone(),
            user_handle: user_handle.to_vec(),
            public_key: self.public_key_cbor.clone(),
            sign_count: self.sign_count,
            backup_eligible: self.backup_eligible,
            backup_state: self.backup_state,
            uv_initialized: self.user_verified,
            transports: self.transports.clone(),
        }
    }
}

/// The decoded attestation object (`fmt`, `attStmt`, `authData`).
#[derive(Debug, Clone, PartialEq)]
pub struct AttestationObject {
    /// The statement format identifier.
    pub fmt: String,
    /// The statement (a CBOR map).
    pub att_stmt: Value,
    /// The raw authenticator data.
    pub auth_data: Vec<u8>,
}

impl AttestationObject {
    /// Decodes the CBOR attestation object strictly: CTAP2 canonical CBOR ([`crate::canonical_cbor`]), a map with
    /// exactly `fmt` (text), `attStmt` (map) and `authData` (bytes), no duplicates, nothing after it.
    ///
    /// # Errors
    /// [`WebauthnError::AttestationObjectInvalid`], [`WebauthnError::InputTooLarge`] or a `Cbor*` variant naming
    /// the canonical-form rule broken.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, WebauthnError> {
        if bytes.len() > MAX_ATTESTATION_OBJECT_LEN {
            return Err(WebauthnError::InputTooLarge {
                field: "attestationObject",
                len: bytes.len(),
                max: MAX_ATTESTATION_OBJECT_LEN,
            });
        }
        let invalid = |reason: &str| WebauthnError::AttestationObjectInvalid(reason.to_owned());
        require_canonical_prefix(bytes, CborPart::AttestationObject)?;
        let (value, used) =
            read_cbor_prefix(bytes).map_err(WebauthnError::AttestationObjectInvalid)?;
        if used != bytes.len() {
            return Err(invalid("bytes after the attestation object"));
        }
        let Value::Map(entries) = value else {
            return Err(invalid("not a CBOR map"));
        };
        let (mut fmt, mut att_stmt, mut auth_data) = (None, None, None);
        for (key, value) in entries {
            let duplicate = match (key.as_text(), value) {
                (Some("fmt"), Value::Text(text)) => fmt.replace(text).is_some(),
                (Some("attStmt"), value @ Value::Map(_)) => att_stmt.replace(value).is_some(),
                (Some("authData"), Value::Bytes(bytes)) => auth_data.replace(bytes).is_some(),
                (Some("fmt" | "attStmt" | "authData"), _) => {
                    return Err(invalid("a member has the wrong type"));
                }
                // Unknown members (none are defined) are ignored, as CBOR maps in WebAuthn are extensible.
                _ => false,
            };
            if duplicate {
                return Err(invalid("duplicate member"));
            }
        }
        Ok(Self {
            fmt: fmt.ok_or_else(|| invalid("fmt is missing"))?,
            att_stmt: att_stmt.ok_or_else(|| invalid("attStmt is missing"))?,
            auth_data: auth_data.ok_or_else(|| invalid("authData is missing"))?,
        })
    }
}

/// Verifies a registration response (WebAuthn L3 §7.1) against the ceremony's expectation and the tenant policy.
///
/// `credential_exists` answers whether a credential id is already registered **for any user**. If the store cannot
/// answer, do not call this function (fail closed); the store's unique constraint remains the final guard.
///
/// # Errors
/// The [`WebauthnError`] variant of the first rule the response breaks.
pub fn verify_registration(
    response: &RegistrationResponseJSON,
    expectation: &RegistrationExpectation<'_>,
    credential_exists: impl FnOnce(&[u8]) -> bool,
) -> Result<VerifiedRegistration, WebauthnError> {
    let policy = expectation.policy;
    let raw_id = check_credential_identity(&response.id, &response.raw_id, &response.type_)?;

    // Steps "Let JSONtext be the result of running UTF-8 decode on clientDataJSON" and "Let C ... be the result of
    // running an implementation-specific JSON parser on JSONtext".
    let client_data_json = response.response.client_data_json.as_slice();
    let client_data = CollectedClientData::parse(client_data_json)?;
    // Steps type, challenge, origin, crossOrigin, topOrigin.
    verify_client_data(
        &client_data,
        CeremonyType::Create,
        expectation.challenge,
        expectation.origins,
    )?;

    // Step "Let hash be the result of computing a hash over response.clientDataJSON using SHA-256".
    let client_data_hash = sha256(client_data_json);

    // Step "Perform CBOR decoding on the attestationObject field ... to obtain fmt, authData and attStmt".
    let attestation_object =
        AttestationObject::from_cbor(response.response.attestation_object.as_slice())?;
    let auth_data = AuthenticatorData::from_bytes(&attestation_object.auth_data)?;
    let attested = auth_data
        .attested_credential
        .as_ref()
        .ok_or(WebauthnError::AttestedCredentialDataMissing)?;

    // Step "Verify that the rpIdHash in authData is the SHA-256 hash of the RP ID expected by the Relying Party".
    if !expectation
        .rp_ids
        .iter()
        .any(|rp_id| sha256(rp_id.as_bytes()) == auth_data.rp_id_hash)
    {
        return Err(WebauthnError::RpIdHashMismatch);
    }
    // Step "If options.mediation is not set to conditional, verify that the UP bit of the flags in authData is set".
    if expectation.mediation != Mediation::Conditional && !auth_data.flags.user_present() {
        return Err(WebauthnError::UserPresenceMissing);
    }
    // Step "If the Relying Party requires user verification for this registration, verify that the UV bit ... is set".
    if policy.requires_user_verification() && !auth_data.flags.user_verified() {
        return Err(WebauthnError::UserVerificationMissing);
    }
    // Step "If the BE bit of the flags in authData is not set, verify that the BS bit is not set".
    if !auth_data.flags.backup_eligible() && auth_data.flags.backup_state() {
        return Err(WebauthnError::BackupStateInconsistent);
    }
    // Step "If the Relying Party uses the credential's backup eligibility to inform its user experience flows and/or
    // policies, evaluate the BE bit".
    if auth_data.flags.backup_eligible() && policy.synced_passkeys == SyncedPasskeys::Refuse {
        return Err(WebauthnError::SyncedPasskeyRefused);
    }
    // Step "Verify that the "alg" parameter in the credential public key in authData matches the alg attribute of one
    // of the items in pkOptions.pubKeyCredParams".
    let algorithm = attested.public_key.algorithm();
    if !expectation.algorithms.contains(&algorithm.id()) || !policy.allows_algorithm(algorithm) {
        return Err(WebauthnError::AlgorithmNotAllowed(algorithm.id()));
    }
    // The credential id in authData must be the one the client reports (credential.rawId).
    if attested.credential_id != raw_id {
        return Err(WebauthnError::AttestedCredentialIdMismatch);
    }

    // Steps "Determine the attestation statement format ... USASCII case-sensitive match", "Verify that attStmt is a
    // correct attestation statement", "obtain a list of acceptable trust anchors" and "Assess the attestation
    // trustworthiness" (delegated to the attestation module, which also applies MDS status reports).
    let mut trust = expectation.trust.clone();
    if policy.attestation == AttestationPolicy::Trusted {
        trust.requirement = AttestationRequirement::RequireTrusted;
    }
    let outcome = verify_attested(
        &attestation_object.fmt,
        &attestation_object.att_stmt,
        AttestedCredential {
            aaguid: attested.aaguid,
            credential_id: &attested.credential_id,
            public_key_cbor: &attested.public_key_cbor,
        },
        &attestation_object.auth_data,
        &client_data_hash,
        &trust,
    )?;
    apply_attestation_policy(policy, &outcome)?;

    // Step "Verify that the credentialId is ≤ 1023 bytes" (also refused while parsing authData).
    if raw_id.len() > crate::authdata::MAX_CREDENTIAL_ID_LEN {
        return Err(WebauthnError::CredentialIdTooLong(raw_id.len()));
    }
    // Step "Verify that the credentialId is not yet registered for any user".
    if credential_exists(raw_id) {
        return Err(WebauthnError::CredentialAlreadyRegistered);
    }

    // Step "Process the client extension outputs ... and the authenticator extension outputs": reported only.
    let discoverable = response
        .client_extension_results
        .get("credProps")
        .and_then(|props| props.get("rk"))
        .and_then(serde_json::Value::as_bool);

    Ok(VerifiedRegistration {
        credential_id: raw_id.to_vec(),
        public_key: attested.public_key.clone(),
        public_key_cbor: attested.public_key_cbor.clone(),
        algorithm,
        sign_count: auth_data.sign_count,
        user_verified: auth_data.flags.user_verified(),
        backup_eligible: auth_data.flags.backup_eligible(),
        backup_state: auth_data.flags.backup_state(),
        flags: auth_data.flags,
        transports: response.response.transports.clone(),
        aaguid: Aaguid(attested.aaguid),
        attestation: outcome,
        authenticator_attachment: response.attachment(),
        discoverable,
        client_extension_results: response.client_extension_results.clone(),
        authenticator_extensions: auth_data.extensions.clone(),
    })
}

/// The tenant's attestation rules, applied to a verified statement.
fn apply_attestation_policy(
    policy: &AuthenticatorPolicy,
    outcome: &AttestationOutcome,
) -> Result<(), WebauthnError> {
    let aaguid = Aaguid(outcome.aaguid);
    match policy.attestation {
        AttestationPolicy::None => {}
        AttestationPolicy::Any => {
            if outcome.trust_path == TrustPath::None {
                return Err(WebauthnError::AttestationRequired);
            }
        }
        AttestationPolicy::Trusted => {
            if outcome.trust_path == TrustPath::None {
                return Err(WebauthnError::AttestationRequired);
            }
            if !outcome.trusted {
                return Err(WebauthnError::AttestationUntrusted(
                    outcome.trust_path.kind().to_owned(),
                ));
            }
        }
    }
    if policy.aaguid_deny.contains(&aaguid) {
        return Err(WebauthnError::AaguidDenied(aaguid.to_string()));
    }
    if !policy.aaguid_allow.is_empty() {
        if !policy.aaguid_allow.contains(&aaguid) {
            return Err(WebauthnError::AaguidNotAllowed(aaguid.to_string()));
        }
        // An AAGUID is only the authenticator's claim unless a trusted attestation vouches for it.
        if !outcome.trusted {
            return Err(WebauthnError::AaguidNotAttested(aaguid.to_string()));
        }
    }
    if let Some(minimum) = policy.minimum_certification_level {
        // As for the allow list: metadata found by an unattested AAGUID says nothing about this authenticator.
        if !outcome.trusted {
            return Err(WebauthnError::CertificationLevelNotAttested(
                minimum.as_str().to_owned(),
            ));
        }
        let level = outcome
            .metadata
            .as_ref()
            .and_then(crate::mds::MetadataEntry::certification_level);
        if level.is_none_or(|level| level < minimum) {
            return Err(WebauthnError::CertificationLevelTooLow(
                minimum.as_str().to_owned(),
            ));
        }
    }
    Ok(())
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = digest::digest(&digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}
