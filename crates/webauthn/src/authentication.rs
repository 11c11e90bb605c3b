//! Authentication ceremony verification: WebAuthn L3 §7.2 "Verifying an Authentication Assertion", step by step.

use crate::authdata::{AuthenticatorData, AuthenticatorFlags};
use crate::clientdata::{CeremonyType, CollectedClientData, OriginPolicy, verify_client_data};
use crate::cose::{CoseAlgorithm, CoseKey};
use crate::error::WebauthnError;
use crate::json::{
    AuthenticationResponseJSON, AuthenticatorAttachment, AuthenticatorTransport,
    PublicKeyCredentialDescriptor, check_credential_identity,
};
use crate::policy::{AuthenticatorPolicy, SignCountPolicy};
use crate::registration::sha256;
use ciborium::Value;

/// A credential as a store keeps it (§7.1 step "Create and store a new credential record").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The owner's user handle.
    pub user_handle: Vec<u8>,
    /// The COSE_Key CBOR of the credential public key.
    pub public_key: Vec<u8>,
    /// The last signature counter seen.
    pub sign_count: u32,
    /// BE at registration (it never changes).
    pub backup_eligible: bool,
    /// BS last seen.
    pub backup_state: bool,
    /// Whether the credential has ever verified the user.
    pub uv_initialized: bool,
    /// Transports reported at registration.
    pub transports: Vec<AuthenticatorTransport>,
}

impl CredentialRecord {
    /// The descriptor to list this credential in `allowCredentials` or `excludeCredentials`.
    #[must_use]
    pub fn descriptor(&self) -> PublicKeyCredentialDescriptor {
        PublicKeyCredentialDescriptor::new(self.credential_id.clone(), self.transports.clone())
    }
}

/// Whether the user was identified before the assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserIdentification<'a> {
    /// Username-first: this user handle is the account signing in.
    Identified {
        /// The identified account's user handle.
        user_handle: &'a [u8],
    },
    /// Discoverable credential (no username): the response's `userHandle` names the account.
    Discoverable,
}

/// What the relying party expects of one authentication ceremony.
#[derive(Debug, Clone)]
pub struct AuthenticationExpectation<'a> {
    /// The challenge issued in the request options (already consumed from the store).
    pub challenge: &'a [u8],
    /// The tenant's origins and embedding policy.
    pub origins: &'a OriginPolicy,
    /// RP IDs whose SHA-256 is accepted as `rpIdHash` (usually one).
    pub rp_ids: &'a [String],
    /// The legacy U2F AppID sent in the `appid` extension, if any.
    pub appid: Option<&'a str>,
    /// The `allowCredentials` ids sent in the options (empty: any credential).
    pub allow_credentials: &'a [Vec<u8>],
    /// Whether the user was identified before the ceremony.
    pub user: UserIdentification<'a>,
    /// The tenant's authenticator policy.
    pub policy: &'a AuthenticatorPolicy,
}

/// A verified assertion: the updates for the credential record and what the ceremony showed. Apply the updates
/// only after any further relying-party checks (§7.2 step "Update storedSignCount ...").
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedAuthentication {
    /// The credential used.
    pub credential_id: Vec<u8>,
    /// The account it belongs to.
    pub user_handle: Vec<u8>,
    /// The new signature counter to store.
    pub sign_count: u32,
    /// Clone signal: the counter did not increase (with policy `report_only`, the assertion was still accepted).
    pub sign_count_regressed: bool,
    /// UV was set.
    pub user_verified: bool,
    /// BE.
    pub backup_eligible: bool,
    /// BS, to store as the new backup state.
    pub backup_state: bool,
    /// The raw flags.
    pub flags: AuthenticatorFlags,
    /// The credential key's algorithm.
    pub algorithm: CoseAlgorithm,
    /// The rpIdHash matched the legacy U2F AppID rather than the RP ID.
    pub appid_used: bool,
    /// `authenticatorAttachment`, if the client reported a known value.
    pub authenticator_attachment: Option<AuthenticatorAttachment>,
    /// The authenticator extension outputs (informational).
    pub authenticator_extensions: Option<Value>,
}

/// Verifies an authentication response (WebAuthn L3 §7.2) with the stored record of the credential it names.
///
/// Look the record up by `response.raw_id`; in a username-first flow, pass the identified user's handle in the
/// expectation, and this function checks that the user owns the credential.
///
/// # Errors
/// The [`WebauthnError`] variant of the first rule the response breaks.
pub fn verify_authentication(
    response: &AuthenticationResponseJSON,
    expectation: &AuthenticationExpectation<'_>,
    record: &CredentialRecord,
) -> Result<VerifiedAuthentication, WebauthnError> {
    let policy = expectation.policy;
    let raw_id = check_credential_identity(&response.id, &response.raw_id, &response.type_)?;

    // Step "If options.allowCredentials is not empty, verify that credential.id identifies one of the public key
    // credentials listed in options.allowCredentials".
    if !expectation.allow_credentials.is_empty()
        && !expectation.allow_credentials.iter().any(|id| id == raw_id)
    {
        return Err(WebauthnError::CredentialNotAllowed);
    }
    if record.credential_id != raw_id {
        return Err(WebauthnError::CredentialRecordMismatch);
    }
    // Step "Identify the user being authenticated and let credentialRecord be the credential record for the
    // credential". An empty userHandle is treated as absent (some U2F-era clients send one).
    let user_handle = response
        .response
        .user_handle
        .as_ref()
        .map(|h| h.as_slice())
        .filter(|h| !h.is_empty());
    match expectation.user {
        UserIdentification::Identified {
            user_handle: identified,
        } => {
            // "verify that the identified user account contains a credential record whose id equals
            // credential.rawId ... If response.userHandle is present, verify that it equals the user handle".
            if record.user_handle != identified || user_handle.is_some_and(|h| h != identified) {
                return Err(WebauthnError::UserHandleMismatch);
            }
        }
        UserIdentification::Discoverable => {
            // "verify that response.userHandle is present. Verify that the user account identified by
            // response.userHandle contains a credential record whose id equals credential.rawId".
            let handle = user_handle.ok_or(WebauthnError::UserHandleMissing)?;
            if record.user_handle != handle {
                return Err(WebauthnError::UserHandleMismatch);
            }
        }
    }

    // Steps "Let JSONtext be the result of running UTF-8 decode on cData" and "Let C ... be the result of running an
    // implementation-specific JSON parser on JSONtext", then type, challenge, origin, crossOrigin, topOrigin.
    let client_data_json = response.response.client_data_json.as_slice();
    let client_data = CollectedClientData::parse(client_data_json)?;
    verify_client_data(
        &client_data,
        CeremonyType::Get,
        expectation.challenge,
        expectation.origins,
    )?;

    let auth_data_bytes = response.response.authenticator_data.as_slice();
    let auth_data = AuthenticatorData::from_bytes(auth_data_bytes)?;
    if auth_data.attested_credential.is_some() {
        return Err(WebauthnError::AttestedCredentialDataUnexpected);
    }
    // Step "Verify that the rpIdHash in authData is the SHA-256 hash of the RP ID expected by the Relying Party"; with
    // the appid extension (§10.1.1), the hash of the AppID is also accepted when the client reports using it.
    let mut appid_used = false;
    if !expectation
        .rp_ids
        .iter()
        .any(|rp_id| sha256(rp_id.as_bytes()) == auth_data.rp_id_hash)
    {
        match expectation.appid {
            Some(appid)
                if response.appid_used() && sha256(appid.as_bytes()) == auth_data.rp_id_hash =>
            {
                appid_used = true;
            }
            _ => return Err(WebauthnError::RpIdHashMismatch),
        }
    }
    // Step "Verify that the UP bit of the flags in authData is set".
    if !auth_data.flags.user_present() {
        return Err(WebauthnError::UserPresenceMissing);
    }
    // Step "Determine whether user verification is required for this assertion ... verify that the UV bit is set".
    if policy.requires_user_verification() && !auth_data.flags.user_verified() {
        return Err(WebauthnError::UserVerificationMissing);
    }
    // Step "If the BE bit of the flags in authData is not set, verify that the BS bit is not set".
    if !auth_data.flags.backup_eligible() && auth_data.flags.backup_state() {
        return Err(WebauthnError::BackupStateInconsistent);
    }
    // Step "If the credential backup state is used as part of Relying Party business logic or policy ... compare BE
    // with credentialRecord.backupEligible": BE is fixed at creation, so a change is refused.
    if auth_data.flags.backup_eligible() != record.backup_eligible {
        return Err(WebauthnError::BackupEligibilityChanged);
    }

    // Steps "Let hash be the result of computing a hash over the cData using SHA-256" and "Using
    // credentialRecord.publicKey, verify that sig is a valid signature over the binary concatenation of authData and
    // hash".
    let key = CoseKey::from_cbor(&record.public_key)?;
    let hash = sha256(client_data_json);
    let mut message = Vec::with_capacity(auth_data_bytes.len() + hash.len());
    message.extend_from_slice(auth_data_bytes);
    message.extend_from_slice(&hash);
    let signature = response.response.signature.as_slice();
    if policy.insecure_allow_rs1 {
        key.insecure_verify_signature_allowing_rs1(&message, signature)?;
    } else {
        key.verify_signature(&message, signature)?;
    }

    // Step "If authData.signCount is nonzero or credentialRecord.signCount is nonzero ... greater than
    // credentialRecord.signCount: the signature counter is valid; less than or equal: ... may be cloned".
    let received = auth_data.sign_count;
    let regressed = (received != 0 || record.sign_count != 0) && received <= record.sign_count;
    if regressed && policy.sign_count == SignCountPolicy::RejectClone {
        return Err(WebauthnError::SignCountRegressed {
            stored: record.sign_count,
            received,
        });
    }

    Ok(VerifiedAuthentication {
        credential_id: raw_id.to_vec(),
        user_handle: record.user_handle.clone(),
        sign_count: received,
        sign_count_regressed: regressed,
        user_verified: auth_data.flags.user_verified(),
        backup_eligible: auth_data.flags.backup_eligible(),
        backup_state: auth_data.flags.backup_state(),
        flags: auth_data.flags,
        algorithm: key.algorithm(),
        appid_used,
        authenticator_attachment: response.attachment(),
        authenticator_extensions: auth_data.extensions,
    })
}
