//! [`WebauthnError`]: one variant per verification rule that can fail.

use thiserror::Error;

/// Why a WebAuthn response (or an input to a ceremony) was refused.
///
/// Each variant is one rule; [`WebauthnError::rule`] gives its stable kebab-case name, used by the CLI's `"error"`
/// field and by logs. Display messages are meant for operators.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WebauthnError {
    // ---- input shape -------------------------------------------------------------------------------------------
    /// The response JSON could not be parsed (including a base64url member that does not decode).
    #[error("the response is not valid WebAuthn JSON: {0}")]
    ResponseJsonInvalid(String),
    /// An input exceeds the size this verifier accepts.
    #[error("the field `{field}` is too large ({len} bytes, at most {max})")]
    InputTooLarge {
        /// The field name.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The credential's `type` is not `public-key`.
    #[error("the credential type is {found:?}, expected \"public-key\"")]
    CredentialTypeInvalid {
        /// The type the client sent.
        found: String,
    },
    /// `id` and `rawId` name different credentials.
    #[error("the credential `id` does not match its `rawId`")]
    CredentialIdMismatch,

    // ---- clientDataJSON ----------------------------------------------------------------------------------------
    /// `clientDataJSON` is not UTF-8.
    #[error("clientDataJSON is not valid UTF-8")]
    ClientDataNotUtf8,
    /// `clientDataJSON` is not the JSON the specification describes.
    #[error("clientDataJSON is not valid client data: {0}")]
    ClientDataJsonInvalid(String),
    /// `C.type` is not the ceremony's type.
    #[error("client data type is {found:?}, expected {expected:?}")]
    ClientDataTypeMismatch {
        /// `webauthn.create` or `webauthn.get`.
        expected: &'static str,
        /// What the client sent.
        found: String,
    },
    /// `C.challenge` is not the challenge this ceremony issued.
    #[error("the challenge in the client data is not the one issued for this ceremony")]
    ChallengeMismatch,
    /// `C.origin` is not in the tenant's allowed origins.
    #[error("origin {origin:?} is not an allowed origin for this relying party")]
    OriginNotAllowed {
        /// The origin the client reported.
        origin: String,
    },
    /// `C.crossOrigin` is true but the relying party does not expect to be embedded.
    #[error("the ceremony ran in a cross-origin iframe, which this relying party does not allow")]
    CrossOriginNotAllowed,
    /// `C.topOrigin` is not an expected parent origin.
    #[error("top origin {top_origin:?} is not an allowed embedding origin")]
    TopOriginNotAllowed {
        /// The top origin the client reported.
        top_origin: String,
    },
    /// A cross-origin ceremony did not report its `topOrigin`.
    #[error("the ceremony ran cross-origin but the client data carries no topOrigin")]
    TopOriginMissing,

    // ---- attestation object and authenticator data --------------------------------------------------------------
    /// The attestation object is not the CBOR map `{fmt, attStmt, authData}`.
    #[error("the attestation object is malformed: {0}")]
    AttestationObjectInvalid(String),
    /// The authenticator data is malformed (short, bad CBOR, bad lengths).
    #[error("the authenticator data is malformed: {0}")]
    AuthenticatorDataInvalid(String),
    /// The authenticator data has bytes after its last declared part.
    #[error("the authenticator data has {0} unexpected trailing bytes")]
    AuthenticatorDataTrailingBytes(usize),
    /// Registration without attested credential data (AT flag clear).
    #[error("the authenticator data carries no attested credential data")]
    AttestedCredentialDataMissing,
    /// An assertion carrying attested credential data (AT flag set).
    #[error("the assertion's authenticator data unexpectedly carries attested credential data")]
    AttestedCredentialDataUnexpected,
    /// `rpIdHash` is not SHA-256 of any accepted RP ID.
    #[error("the authenticator data's rpIdHash does not match the relying party ID")]
    RpIdHashMismatch,
    /// The UP flag is clear.
    #[error("the authenticator did not report user presence")]
    UserPresenceMissing,
    /// The UV flag is clear although user verification is required.
    #[error("user verification is required but the authenticator did not verify the user")]
    UserVerificationMissing,
    /// BS is set although BE is clear.
    #[error(
        "the authenticator reports a backed-up credential that is not backup eligible (BS=1, BE=0)"
    )]
    BackupStateInconsistent,
    /// BE differs from the value stored at registration.
    #[error("the credential's backup eligibility changed since registration")]
    BackupEligibilityChanged,
    /// The tenant refuses synced (backup-eligible) passkeys.
    #[error("synced (backup-eligible) passkeys are not allowed by this tenant's policy")]
    SyncedPasskeyRefused,

    // ---- CBOR encoding (CTAP2 canonical form, CTAP 2.1 §8) -------------------------------------------------------
    /// Authenticator CBOR holds an indefinite-length string, array or map.
    #[error(
        "the {part} holds an indefinite-length item (byte {offset}); CTAP2 canonical CBOR has none"
    )]
    CborIndefiniteLength {
        /// Which CBOR: `attestation object`, `credential public key` or `authenticator extensions`.
        part: &'static str,
        /// Byte offset of the item in that part.
        offset: usize,
    },
    /// Authenticator CBOR encodes an integer, length or simple value in more bytes than needed.
    #[error("the {part} encodes a value or length in more bytes than needed (byte {offset})")]
    CborNonMinimalEncoding {
        /// Which CBOR.
        part: &'static str,
        /// Byte offset of the item.
        offset: usize,
    },
    /// A map in authenticator CBOR has its keys out of CTAP2 canonical order.
    #[error("a map in the {part} has its keys out of canonical order (key at byte {offset})")]
    CborMapKeysUnsorted {
        /// Which CBOR.
        part: &'static str,
        /// Byte offset of the first key out of order.
        offset: usize,
    },
    /// A map in authenticator CBOR has the same key twice.
    #[error("a map in the {part} has a duplicate key (byte {offset})")]
    CborDuplicateMapKey {
        /// Which CBOR.
        part: &'static str,
        /// Byte offset of the repeated key.
        offset: usize,
    },
    /// Authenticator CBOR holds a tag, which CTAP2 does not allow.
    #[error("the {part} holds a CBOR tag (byte {offset}); CTAP2 canonical CBOR has none")]
    CborTagPresent {
        /// Which CBOR.
        part: &'static str,
        /// Byte offset of the tag.
        offset: usize,
    },

    // ---- keys and algorithms -----------------------------------------------------------------------------------
    /// The COSE key is malformed or inconsistent.
    #[error("the COSE public key is invalid: {0}")]
    CoseKeyInvalid(String),
    /// The COSE algorithm is not implemented.
    #[error("COSE algorithm {0} is not supported")]
    AlgorithmUnsupported(i64),
    /// The algorithm was not offered in `pubKeyCredParams` or is not allowed by policy.
    #[error("COSE algorithm {0} is not among the algorithms allowed for this ceremony")]
    AlgorithmNotAllowed(i64),
    /// The COSE key's curve does not belong with its algorithm.
    #[error("the key's curve {crv} does not match algorithm {alg}")]
    CurveMismatch {
        /// The COSE algorithm.
        alg: i64,
        /// The COSE curve.
        crv: i64,
    },
    /// The EC public key is not a point on its curve.
    #[error("the public key is not a valid point on its curve")]
    EcPointInvalid,
    /// The RSA modulus is shorter than 2048 bits (or longer than 8192).
    #[error("the RSA key has {bits} bits; between 2048 and 8192 are accepted")]
    RsaKeySize {
        /// The modulus length in bits.
        bits: usize,
    },
    /// The signature does not verify with the credential public key.
    #[error("the signature does not verify with the credential's public key")]
    BadSignature,

    // ---- credentials and users ---------------------------------------------------------------------------------
    /// The credential id is longer than 1023 bytes.
    #[error("the credential id is {0} bytes long; at most 1023 are allowed")]
    CredentialIdTooLong(usize),
    /// The credential id in authData differs from `rawId`.
    #[error("the credential id in the authenticator data differs from the response's rawId")]
    AttestedCredentialIdMismatch,
    /// The credential id is already registered (to any user).
    #[error("this credential is already registered")]
    CredentialAlreadyRegistered,
    /// The credential is not in `allowCredentials`.
    #[error("the credential used is not one of those allowed for this sign-in")]
    CredentialNotAllowed,
    /// The response names a different credential than the stored record given.
    #[error("the response's credential id does not match the stored credential record")]
    CredentialRecordMismatch,
    /// A discoverable sign-in without `userHandle`.
    #[error("the assertion carries no user handle, which a sign-in without a username requires")]
    UserHandleMissing,
    /// `userHandle` does not name the credential's owner.
    #[error("the assertion's user handle does not belong to the credential's owner")]
    UserHandleMismatch,
    /// Clone signal: the sign count did not increase.
    #[error(
        "the signature counter did not increase (stored {stored}, received {received}): the authenticator may be cloned"
    )]
    SignCountRegressed {
        /// The count stored for the credential.
        stored: u32,
        /// The count in this assertion.
        received: u32,
    },

    // ---- tenant policy -----------------------------------------------------------------------------------------
    /// The policy requires attestation but the response carries none.
    #[error("this tenant requires attestation, but the authenticator sent none")]
    AttestationRequired,
    /// The policy requires a trusted attestation but the chain is not anchored.
    #[error("this tenant requires a trusted attestation, but the trust path is {0}")]
    AttestationUntrusted(String),
    /// The AAGUID is on the tenant's deny list.
    #[error("authenticator model {0} is denied by this tenant's policy")]
    AaguidDenied(String),
    /// The tenant has an AAGUID allow list and this one is not on it.
    #[error("authenticator model {0} is not on this tenant's allow list")]
    AaguidNotAllowed(String),
    /// The AAGUID is on the allow list, but no trusted attestation vouches for it.
    #[error(
        "authenticator model {0} is on the allow list, but its attestation is not trusted, so the model is unproven"
    )]
    AaguidNotAttested(String),
    /// The tenant demands a certification level, but no trusted attestation proves the authenticator model.
    #[error(
        "this tenant demands FIDO certification ({0} or better), but the attestation is not trusted, so the model is unproven"
    )]
    CertificationLevelNotAttested(String),
    /// The authenticator's certification level is below the tenant's minimum.
    #[error("the authenticator's FIDO certification level is below this tenant's minimum ({0})")]
    CertificationLevelTooLow(String),

    // ---- environment -------------------------------------------------------------------------------------------
    /// The system random generator failed.
    #[error("the system random number generator failed")]
    RandomUnavailable,

    // ---- delegated ---------------------------------------------------------------------------------------------
    /// The attestation statement failed its format's verification.
    #[error(transparent)]
    Attestation(#[from] crate::attestation::AttestationError),
    /// The FIDO metadata could not be used.
    #[error(transparent)]
    Metadata(#[from] crate::mds::MetadataError),
}

impl WebauthnError {
    /// The stable kebab-case name of the rule that failed (e.g. `challenge-mismatch`).
    #[must_use]
    pub fn rule(&self) -> &'static str {
        match self {
            Self::ResponseJsonInvalid(_) => "response-json-invalid",
            Self::InputTooLarge { .. } => "input-too-large",
            Self::CredentialTypeInvalid { .. } => "credential-type-invalid",
            Self::CredentialIdMismatch => "credential-id-mismatch",
            Self::ClientDataNotUtf8 => "client-data-not-utf8",
            Self::ClientDataJsonInvalid(_) => "client-data-json-invalid",
            Self::ClientDataTypeMismatch { .. } => "client-data-type-mismatch",
            Self::ChallengeMismatch => "challenge-mismatch",
            Self::OriginNotAllowed { .. } => "origin-not-allowed",
            Self::CrossOriginNotAllowed => "cross-origin-not-allowed",
            Self::TopOriginNotAllowed { .. } => "top-origin-not-allowed",
            Self::TopOriginMissing => "top-origin-missing",
            Self::AttestationObjectInvalid(_) => "attestation-object-invalid",
            Self::AuthenticatorDataInvalid(_) => "authenticator-data-invalid",
            Self::AuthenticatorDataTrailingBytes(_) => "authenticator-data-trailing-bytes",
            Self::AttestedCredentialDataMissing => "attested-credential-data-missing",
            Self::AttestedCredentialDataUnexpected => "attested-credential-data-unexpected",
            Self::RpIdHashMismatch => "rp-id-hash-mismatch",
            Self::UserPresenceMissing => "user-presence-missing",
            Self::UserVerificationMissing => "user-verification-missing",
            Self::BackupStateInconsistent => "backup-state-inconsistent",
            Self::BackupEligibilityChanged => "backup-eligibility-changed",
            Self::SyncedPasskeyRefused => "synced-passkey-refused",
            Self::CborIndefiniteLength { .. } => "cbor-indefinite-length",
            Self::CborNonMinimalEncoding { .. } => "cbor-non-minimal-encoding",
            Self::CborMapKeysUnsorted { .. } => "cbor-map-keys-unsorted",
            Self::CborDuplicateMapKey { .. } => "cbor-duplicate-map-key",
            Self::CborTagPresent { .. } => "cbor-tag-present",
            Self::CoseKeyInvalid(_) => "cose-key-invalid",
            Self::AlgorithmUnsupported(_) => "algorithm-unsupported",
            Self::AlgorithmNotAllowed(_) => "algorithm-not-allowed",
            Self::CurveMismatch { .. } => "curve-mismatch",
            Self::EcPointInvalid => "ec-point-invalid",
            Self::RsaKeySize { .. } => "rsa-key-size",
            Self::BadSignature => "bad-signature",
            Self::CredentialIdTooLong(_) => "credential-id-too-long",
            Self::AttestedCredentialIdMismatch => "attested-credential-id-mismatch",
            Self::CredentialAlreadyRegistered => "credential-already-registered",
            Self::CredentialNotAllowed => "credential-not-allowed",
            Self::CredentialRecordMismatch => "credential-record-mismatch",
            Self::UserHandleMissing => "user-handle-missing",
            Self::UserHandleMismatch => "user-handle-mismatch",
            Self::SignCountRegressed { .. } => "sign-count-regressed",
            Self::AttestationRequired => "attestation-required",
            Self::AttestationUntrusted(_) => "attestation-untrusted",
            Self::AaguidDenied(_) => "aaguid-denied",
            Self::AaguidNotAllowed(_) => "aaguid-not-allowed",
            Self::AaguidNotAttested(_) => "aaguid-not-attested",
            Self::CertificationLevelNotAttested(_) => "certification-level-not-attested",
            Self::CertificationLevelTooLow(_) => "certification-level-too-low",
            Self::RandomUnavailable => "random-unavailable",
            Self::Attestation(e) => e.rule(),
            Self::Metadata(e) => e.rule(),
        }
    }
}
