//! Attestation statement formats (WebAuthn L3 §8) and the trust assessment of registration step
//! "assess the attestation trustworthiness".
//!
//! - [`verify_attestation_statement`] dispatches on `fmt` (matched case-sensitively) to one module per format:
//!   `packed`, `fido_u2f`, `tpm`, `android_key`, `android_safetynet`, `apple`, and `none` here;
//! - `x509` verifies certificate chains with aws-lc-rs; `key` reads the credential key for comparisons; `der` is a
//!   small DER reader;
//! - [`tpm`] also decodes TPM structures for display; [`pem`] reads certificate files (PEM or DER);
//! - [`roots`] holds well-known vendor roots (Apple, Google, GlobalSign) an operator may choose to trust;
//! - trust anchors come from [`AttestationTrust::trust_anchors`] and from the FIDO MDS entry for the authenticator
//!   ([`crate::mds`]).

mod android_key;
mod android_safetynet;
mod apple;
mod der;
mod fido_u2f;
mod key;
mod packed;
pub mod pem;
pub mod roots;
pub mod tpm;
mod x509;

use std::fmt;

use ciborium::Value;
use time::OffsetDateTime;
use x509_parser::prelude::X509Certificate;

use crate::mds::{AuthenticatorStatus, MetadataBlob, MetadataEntry};
use key::CredentialKey;

/// Why an attestation statement was refused. Each variant is one rule; [`AttestationError::rule`] names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// `fmt` is not one of the supported attestation statement formats.
    #[error("attestation format {fmt:?} is not supported")]
    FormatUnsupported {
        /// The format identifier the authenticator sent.
        fmt: String,
    },
    /// The attestation statement does not have the shape its format requires.
    #[error("the {format} attestation statement is malformed: {reason}")]
    StatementMalformed {
        /// The format.
        format: AttestationFormat,
        /// What is wrong.
        reason: &'static str,
    },
    /// A `none` attestation carried a non-empty statement.
    #[error("a \"none\" attestation statement must be empty")]
    NoneStatementNotEmpty,
    /// The authenticator data carries no attested credential data.
    #[error("the authenticator data carries no attested credential data")]
    AttestedCredentialDataMissing,
    /// The credential public key could not be read.
    #[error("the credential public key is malformed: {reason}")]
    CredentialKeyMalformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// Self attestation: `alg` differs from the credential key's algorithm.
    #[error(
        "the attestation algorithm {statement} differs from the credential key algorithm {credential}"
    )]
    AlgorithmMismatch {
        /// `alg` from the statement.
        statement: i64,
        /// `alg` of the credential key.
        credential: i64,
    },
    /// The signature algorithm is not supported for this key.
    #[error("signature algorithm {alg} is not supported for this key")]
    AlgorithmUnsupported {
        /// COSE algorithm identifier.
        alg: i64,
    },
    /// The attestation signature does not verify.
    #[error("the attestation signature does not verify")]
    SignatureInvalid,
    /// A certificate could not be parsed.
    #[error("attestation certificate {index} is not a valid X.509 certificate")]
    CertificateMalformed {
        /// Position in `x5c`.
        index: usize,
    },
    /// A certificate key type or curve is not supported.
    #[error("certificate public key algorithm {algorithm} is not supported")]
    CertificateKeyUnsupported {
        /// The key algorithm or curve OID.
        algorithm: String,
    },
    /// A certificate signature algorithm is not supported.
    #[error("certificate {index} uses the unsupported signature algorithm {algorithm}")]
    CertificateAlgorithmUnsupported {
        /// Position in `x5c`.
        index: usize,
        /// Signature algorithm OID.
        algorithm: String,
    },
    /// The attestation certificate is not an X.509 version 3 certificate.
    #[error("the attestation certificate is not X.509 version 3")]
    CertificateNotVersion3,
    /// The attestation certificate subject does not meet the format's requirements.
    #[error("the attestation certificate subject is invalid: {reason}")]
    CertificateSubjectInvalid {
        /// Which requirement failed.
        reason: &'static str,
    },
    /// The attestation certificate is a CA certificate.
    #[error("the attestation certificate must not be a CA certificate")]
    CertificateIsCa,
    /// A certificate is expired or not yet valid at the verification time.
    #[error("certificate {index} is not valid at the verification time")]
    CertificateNotValidAtTime {
        /// Position in the chain.
        index: usize,
    },
    /// The chain is empty or too long.
    #[error("the certificate chain has {len} certificates")]
    ChainLength {
        /// Number of certificates.
        len: usize,
    },
    /// A certificate's issuer is not the next certificate's subject.
    #[error("certificate {index} is not issued by the next certificate in the chain")]
    ChainBroken {
        /// Position in the chain.
        index: usize,
    },
    /// An issuing certificate is not a CA.
    #[error("certificate {index} issues another certificate but is not a CA")]
    ChainIssuerNotCa {
        /// Position in the chain.
        index: usize,
    },
    /// A certificate's signature does not verify with its issuer's key.
    #[error("the signature on certificate {index} does not verify with its issuer's key")]
    ChainSignatureInvalid {
        /// Position in the chain.
        index: usize,
    },
    /// The id-fido-gen-ce-aaguid extension is critical or not a 16-byte OCTET STRING.
    #[error("the id-fido-gen-ce-aaguid certificate extension is malformed or critical")]
    AaguidExtensionMalformed,
    /// The id-fido-gen-ce-aaguid extension does not match the AAGUID in the authenticator data.
    #[error(
        "the id-fido-gen-ce-aaguid certificate extension does not match the authenticator's AAGUID"
    )]
    AaguidExtensionMismatch,
    /// Trust is required and the attestation does not reach a trust anchor.
    #[error("the attestation ({trust_path}) does not chain to a trusted root")]
    Untrusted {
        /// The trust path kind that was verified.
        trust_path: &'static str,
    },
    /// The FIDO metadata marks the authenticator as compromised or revoked.
    #[error("the FIDO metadata status of this authenticator is {status}")]
    AuthenticatorStatusRefused {
        /// The refusing status.
        status: AuthenticatorStatus,
    },
    /// fido-u2f: the credential key or certificate key is not an uncompressed P-256 key.
    #[error("fido-u2f attestation requires P-256 keys")]
    U2fKeyNotP256,
    /// tpm: `ver` is not "2.0".
    #[error("the TPM attestation version is not 2.0")]
    TpmVersionUnsupported,
    /// tpm: `pubArea` could not be parsed.
    #[error("the TPM pubArea is malformed: {reason}")]
    TpmPubAreaMalformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// tpm: the key in `pubArea` is not the credential public key.
    #[error("the TPM pubArea key is not the credential public key")]
    TpmPubAreaKeyMismatch,
    /// tpm: `certInfo` could not be parsed.
    #[error("the TPM certInfo is malformed: {reason}")]
    TpmCertInfoMalformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// tpm: `certInfo.magic` is not TPM_GENERATED_VALUE.
    #[error("the TPM certInfo magic is not TPM_GENERATED_VALUE")]
    TpmMagicInvalid,
    /// tpm: `certInfo.type` is not TPM_ST_ATTEST_CERTIFY.
    #[error("the TPM certInfo type is not TPM_ST_ATTEST_CERTIFY")]
    TpmTypeInvalid,
    /// tpm: `extraData` is not the hash of attToBeSigned.
    #[error("the TPM certInfo extraData is not the hash of authenticatorData and clientDataHash")]
    TpmExtraDataMismatch,
    /// tpm: `attested.name` is not the name of `pubArea`.
    #[error("the TPM certInfo attested name is not the name of pubArea")]
    TpmNameMismatch,
    /// tpm: the AIK certificate subject alternative name is missing or lacks the TCG attributes.
    #[error("the TPM AIK certificate subject alternative name is invalid: {reason}")]
    TpmSanInvalid {
        /// What is wrong.
        reason: &'static str,
    },
    /// tpm: the TPM manufacturer is not a registered TCG vendor (or is the FIDO test id, refused by policy).
    #[error("TPM manufacturer {manufacturer:?} is not accepted")]
    TpmManufacturerUnknown {
        /// The manufacturer attribute.
        manufacturer: String,
    },
    /// tpm: the AIK certificate lacks the extended key usage tcg-kp-AIKCertificate (2.23.133.8.3).
    #[error("the TPM AIK certificate lacks the tcg-kp-AIKCertificate extended key usage")]
    TpmEkuMissing,
    /// android-key / apple: the leaf certificate key is not the credential key.
    #[error("the attestation certificate key is not the credential public key")]
    CertificateKeyMismatch,
    /// android-key: the key description extension is missing or malformed.
    #[error("the Android key description extension is missing or malformed")]
    AndroidKeyDescriptionMalformed,
    /// android-key: `attestationChallenge` is not the client data hash.
    #[error("the Android key attestation challenge is not the client data hash")]
    AndroidKeyChallengeMismatch,
    /// android-key: `allApplications` is present.
    #[error("the Android key is usable by all applications (allApplications present)")]
    AndroidKeyAllApplications,
    /// android-key: `origin` is not KM_ORIGIN_GENERATED.
    #[error(
        "the Android key was not generated in the keystore (origin is not KM_ORIGIN_GENERATED)"
    )]
    AndroidKeyOriginNotGenerated,
    /// android-key: `purpose` does not contain KM_PURPOSE_SIGN.
    #[error("the Android key purpose does not include signing")]
    AndroidKeyPurposeNotSign,
    /// android-safetynet: the JWS response is malformed.
    #[error("the SafetyNet response is malformed: {reason}")]
    SafetyNetResponseMalformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// android-safetynet: the nonce is not base64(SHA-256(authData || clientDataHash)).
    #[error("the SafetyNet nonce does not match the authenticator data and client data hash")]
    SafetyNetNonceMismatch,
    /// android-safetynet: the leaf certificate is not issued to attest.android.com.
    #[error("the SafetyNet certificate is not issued to attest.android.com")]
    SafetyNetHostnameMismatch,
    /// android-safetynet: the timestamp is not within the last 60 seconds of the verification time.
    #[error("the SafetyNet timestamp is not within 60 seconds of the verification time")]
    SafetyNetTimestampOutOfRange,
    /// android-safetynet: `ctsProfileMatch` is false and policy requires it.
    #[error("the SafetyNet device does not pass the CTS profile check")]
    SafetyNetCtsProfileMismatch,
    /// apple: the nonce extension is missing or does not match.
    #[error("the Apple nonce extension does not match the authenticator data and client data hash")]
    AppleNonceMismatch,
}

impl AttestationError {
    /// Stable kebab-case name of the failed rule.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::FormatUnsupported { .. } => "attestation-format-unsupported",
            Self::StatementMalformed { .. } => "attestation-statement-malformed",
            Self::NoneStatementNotEmpty => "attestation-none-statement-not-empty",
            Self::AttestedCredentialDataMissing => "attested-credential-data-missing",
            Self::CredentialKeyMalformed { .. } => "attestation-credential-key-malformed",
            Self::AlgorithmMismatch { .. } => "attestation-algorithm-mismatch",
            Self::AlgorithmUnsupported { .. } => "attestation-algorithm-unsupported",
            Self::SignatureInvalid => "attestation-signature-invalid",
            Self::CertificateMalformed { .. } => "attestation-certificate-malformed",
            Self::CertificateKeyUnsupported { .. } => "attestation-certificate-key-unsupported",
            Self::CertificateAlgorithmUnsupported { .. } => {
                "attestation-certificate-algorithm-unsupported"
            }
            Self::CertificateNotVersion3 => "attestation-certificate-not-v3",
            Self::CertificateSubjectInvalid { .. } => "attestation-certificate-subject-invalid",
            Self::CertificateIsCa => "attestation-certificate-is-ca",
            Self::CertificateNotValidAtTime { .. } => "attestation-certificate-expired",
            Self::ChainLength { .. } => "attestation-chain-length",
            Self::ChainBroken { .. } => "attestation-chain-broken",
            Self::ChainIssuerNotCa { .. } => "attestation-chain-issuer-not-ca",
            Self::ChainSignatureInvalid { .. } => "attestation-chain-signature-invalid",
            Self::AaguidExtensionMalformed => "attestation-aaguid-extension-malformed",
            Self::AaguidExtensionMismatch => "attestation-aaguid-extension-mismatch",
            Self::Untrusted { .. } => "attestation-untrusted",
            Self::AuthenticatorStatusRefused { .. } => "authenticator-status-refused",
            Self::U2fKeyNotP256 => "fido-u2f-key-not-p256",
            Self::TpmVersionUnsupported => "tpm-version-unsupported",
            Self::TpmPubAreaMalformed { .. } => "tpm-pub-area-malformed",
            Self::TpmPubAreaKeyMismatch => "tpm-pub-area-key-mismatch",
            Self::TpmCertInfoMalformed { .. } => "tpm-cert-info-malformed",
            Self::TpmMagicInvalid => "tpm-magic-invalid",
            Self::TpmTypeInvalid => "tpm-type-invalid",
            Self::TpmExtraDataMismatch => "tpm-extra-data-mismatch",
            Self::TpmNameMismatch => "tpm-name-mismatch",
            Self::TpmSanInvalid { .. } => "tpm-aik-san-invalid",
            Self::TpmManufacturerUnknown { .. } => "tpm-manufacturer-unknown",
            Self::TpmEkuMissing => "tpm-aik-eku-missing",
            Self::CertificateKeyMismatch => "attestation-certificate-key-mismatch",
            Self::AndroidKeyDescriptionMalformed => "android-key-description-malformed",
            Self::AndroidKeyChallengeMismatch => "android-key-challenge-mismatch",
            Self::AndroidKeyAllApplications => "android-key-all-applications",
            Self::AndroidKeyOriginNotGenerated => "android-key-origin-not-generated",
            Self::AndroidKeyPurposeNotSign => "android-key-purpose-not-sign",
            Self::SafetyNetResponseMalformed { .. } => "safetynet-response-malformed",
            Self::SafetyNetNonceMismatch => "safetynet-nonce-mismatch",
            Self::SafetyNetHostnameMismatch => "safetynet-hostname-mismatch",
            Self::SafetyNetTimestampOutOfRange => "safetynet-timestamp-out-of-range",
            Self::SafetyNetCtsProfileMismatch => "safetynet-cts-profile-mismatch",
            Self::AppleNonceMismatch => "apple-nonce-mismatch",
        }
    }
}

/// The attestation statement formats Tessera verifies (WebAuthn L3 §8, IANA "WebAuthn Attestation Statement Format
/// Identifiers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttestationFormat {
    /// `none`.
    None,
    /// `packed`.
    Packed,
    /// `fido-u2f`.
    FidoU2f,
    /// `tpm`.
    Tpm,
    /// `android-key`.
    AndroidKey,
    /// `android-safetynet`.
    AndroidSafetyNet,
    /// `apple`.
    Apple,
}

impl AttestationFormat {
    /// Matches a `fmt` value case-sensitively; unknown formats are `None`.
    pub fn parse(fmt: &str) -> Option<Self> {
        Some(match fmt {
            "none" => Self::None,
            "packed" => Self::Packed,
            "fido-u2f" => Self::FidoU2f,
            "tpm" => Self::Tpm,
            "android-key" => Self::AndroidKey,
            "android-safetynet" => Self::AndroidSafetyNet,
            "apple" => Self::Apple,
            _ => return None,
        })
    }

    /// The format identifier as it appears in `fmt`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Packed => "packed",
            Self::FidoU2f => "fido-u2f",
            Self::Tpm => "tpm",
            Self::AndroidKey => "android-key",
            Self::AndroidSafetyNet => "android-safetynet",
            Self::Apple => "apple",
        }
    }
}

impl fmt::Display for AttestationFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The attestation type and trust path established by a verified statement (WebAuthn L3 §6.5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustPath {
    /// No attestation (`none`).
    None,
    /// Self attestation: signed by the credential key itself.
    SelfAttestation,
    /// Basic attestation: an attestation certificate chain (DER, leaf first).
    Basic(Vec<Vec<u8>>),
    /// Attestation CA or anonymization CA (TPM AIK, Apple): a chain (DER, leaf first).
    AttestationCa(Vec<Vec<u8>>),
}

impl TrustPath {
    /// Stable name: `none`, `self`, `basic` or `attca`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::SelfAttestation => "self",
            Self::Basic(_) => "basic",
            Self::AttestationCa(_) => "attca",
        }
    }

    /// The certificate chain (DER, leaf first); empty for `none` and self attestation.
    pub fn certificate_chain(&self) -> &[Vec<u8>] {
        match self {
            Self::Basic(chain) | Self::AttestationCa(chain) => chain,
            Self::None | Self::SelfAttestation => &[],
        }
    }
}

/// Whether an attestation that reaches no trust anchor (including `none` and self attestation) is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttestationRequirement {
    /// Verify what is sent, report whether it is trusted, accept either way (the passkey default).
    #[default]
    AllowUntrusted,
    /// Refuse attestations that do not chain to a configured anchor or an MDS root.
    RequireTrusted,
}

/// Whether a TPM whose manufacturer is the FIDO conformance tool's `id:FFFFF1D0` is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TpmTestManufacturer {
    /// Refuse it: no real TPM carries it.
    #[default]
    Refuse,
    /// Accept it (conformance testing only).
    InsecureAllow,
}

/// Whether SafetyNet's `ctsProfileMatch` must be true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SafetyNetCtsProfile {
    /// Refuse devices that fail the CTS profile check.
    #[default]
    Require,
    /// Accept them (only `basicIntegrity` and the signature are checked).
    InsecureIgnore,
}

/// Where android-key's `origin` and `purpose` may come from (WebAuthn L3 §8.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AndroidKeyEnforcement {
    /// The union of `teeEnforced` and `softwareEnforced` (the specification's default).
    #[default]
    TeeOrSoftware,
    /// `teeEnforced` only: accept only keys held by a trusted execution environment or secure element.
    TeeOnly,
}

/// What the relying party trusts, and the time at which certificates are judged.
#[derive(Debug, Clone)]
pub struct AttestationTrust<'a> {
    /// The time at which certificates, SafetyNet timestamps and metadata are judged.
    pub now: OffsetDateTime,
    /// Trust anchors from policy (DER root or intermediate certificates).
    pub trust_anchors: &'a [Vec<u8>],
    /// A verified FIDO MDS3 BLOB: its entries add trust anchors and status reports by AAGUID or key identifier.
    pub metadata: Option<&'a MetadataBlob>,
    /// Whether untrusted attestation is accepted.
    pub requirement: AttestationRequirement,
    /// The FIDO test TPM manufacturer policy.
    pub tpm_test_manufacturer: TpmTestManufacturer,
    /// The SafetyNet CTS profile policy.
    pub safetynet_cts: SafetyNetCtsProfile,
    /// Which Android key authorization lists may show that the key was generated for signing.
    pub android_key_enforcement: AndroidKeyEnforcement,
}

impl AttestationTrust<'static> {
    /// Tessera's defaults at `now`: no anchors, no metadata, untrusted attestation accepted, test TPMs refused,
    /// SafetyNet CTS required.
    pub fn new(now: OffsetDateTime) -> Self {
        Self {
            now,
            trust_anchors: &[],
            metadata: None,
            requirement: AttestationRequirement::default(),
            tpm_test_manufacturer: TpmTestManufacturer::default(),
            safetynet_cts: SafetyNetCtsProfile::default(),
            android_key_enforcement: AndroidKeyEnforcement::default(),
        }
    }
}

/// The result of a verified attestation statement.
#[derive(Debug, Clone)]
pub struct AttestationOutcome {
    /// The statement format.
    pub format: AttestationFormat,
    /// The attestation type and its certificate chain.
    pub trust_path: TrustPath,
    /// The AAGUID from the attested credential data.
    pub aaguid: [u8; 16],
    /// Whether the chain reached a configured anchor or an MDS attestation root.
    pub trusted: bool,
    /// The FIDO metadata entry for this authenticator, when the attestation is trusted (an untrusted AAGUID is only
    /// a claim; its status reports are still applied and can refuse the registration).
    pub metadata: Option<MetadataEntry>,
}

/// What a format procedure needs from the registration, independent of how authData was parsed.
pub(crate) struct Subject<'a> {
    pub aaguid: [u8; 16],
    pub credential_id: &'a [u8],
    pub key: CredentialKey,
    pub auth_data: &'a [u8],
    pub client_data_hash: &'a [u8; 32],
}

impl Subject<'_> {
    /// `authenticatorData || clientDataHash`, the message most formats sign.
    pub(crate) fn to_be_signed(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(self.auth_data.len() + 32);
        m.extend_from_slice(self.auth_data);
        m.extend_from_slice(self.client_data_hash);
        m
    }

    /// The RP ID hash: the first 32 bytes of authData.
    pub(crate) fn rp_id_hash(&self) -> &[u8] {
        self.auth_data.get(..32).unwrap_or_default()
    }
}

/// What a format procedure verified: the trust path, whose chain `assess_trust` then anchors.
pub(crate) struct Verified {
    pub trust_path: TrustPath,
}

/// Statement map accessor with format-specific errors.
pub(crate) struct Statement<'a> {
    format: AttestationFormat,
    map: &'a [(Value, Value)],
}

impl<'a> Statement<'a> {
    fn new(format: AttestationFormat, value: &'a Value) -> Result<Self, AttestationError> {
        let malformed = |reason| AttestationError::StatementMalformed { format, reason };
        let map = value.as_map().ok_or(malformed("not a map"))?;
        // Statement keys are text, each at most once: a duplicate could make two verifiers read different values.
        for (i, (key, _)) in map.iter().enumerate() {
            let name = key.as_text().ok_or(malformed("a key is not text"))?;
            if map[..i].iter().any(|(k, _)| k.as_text() == Some(name)) {
                return Err(malformed("duplicate key"));
            }
        }
        Ok(Self { format, map })
    }

    pub(crate) fn malformed(&self, reason: &'static str) -> AttestationError {
        AttestationError::StatementMalformed {
            format: self.format,
            reason,
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&'a Value> {
        self.map
            .iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .map(|(_, v)| v)
    }

    pub(crate) fn alg(&self) -> Result<i64, AttestationError> {
        self.get("alg")
            .and_then(Value::as_integer)
            .and_then(|i| i64::try_from(i).ok())
            .ok_or(self.malformed("alg missing or not an integer"))
    }

    pub(crate) fn bytes(
        &self,
        name: &str,
        reason: &'static str,
    ) -> Result<&'a [u8], AttestationError> {
        self.get(name)
            .and_then(Value::as_bytes)
            .map(Vec::as_slice)
            .ok_or(self.malformed(reason))
    }

    /// `x5c` as DER byte strings; `None` if absent.
    pub(crate) fn x5c(&self) -> Result<Option<Vec<&'a [u8]>>, AttestationError> {
        let Some(v) = self.get("x5c") else {
            return Ok(None);
        };
        let array = v.as_array().ok_or(self.malformed("x5c is not an array"))?;
        if array.is_empty() || array.len() > x509::MAX_CHAIN {
            return Err(AttestationError::ChainLength { len: array.len() });
        }
        array
            .iter()
            .map(|c| {
                c.as_bytes()
                    .map(Vec::as_slice)
                    .ok_or(self.malformed("x5c entry is not a byte string"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

/// Parses every certificate of a chain.
pub(crate) fn parse_chain<'a>(
    chain: &[&'a [u8]],
) -> Result<Vec<X509Certificate<'a>>, AttestationError> {
    chain
        .iter()
        .enumerate()
        .map(|(i, der)| x509::parse(der, i))
        .collect()
}

/// The attested credential data an attestation statement speaks for.
#[derive(Debug, Clone, Copy)]
pub struct AttestedCredential<'a> {
    /// The authenticator's AAGUID.
    pub aaguid: [u8; 16],
    /// The credential id.
    pub credential_id: &'a [u8],
    /// The credential public key, as its COSE_Key CBOR.
    pub public_key_cbor: &'a [u8],
}

/// Verifies an attestation statement (WebAuthn L3 §7.1 steps "verify that attStmt is a correct attestation
/// statement" and "assess the attestation trustworthiness"), from the attested credential data's parts.
///
/// `auth_data_bytes` are the raw authenticator data, which most formats sign over.
pub fn verify_attested(
    fmt: &str,
    att_stmt: &Value,
    credential: AttestedCredential<'_>,
    auth_data_bytes: &[u8],
    client_data_hash: &[u8; 32],
    trust: &AttestationTrust<'_>,
) -> Result<AttestationOutcome, AttestationError> {
    let AttestedCredential {
        aaguid,
        credential_id,
        public_key_cbor: credential_public_key_cbor,
    } = credential;
    let format =
        AttestationFormat::parse(fmt).ok_or_else(|| AttestationError::FormatUnsupported {
            fmt: fmt.to_owned(),
        })?;
    let subject = Subject {
        aaguid,
        credential_id,
        key: CredentialKey::from_cose(credential_public_key_cbor)?,
        auth_data: auth_data_bytes,
        client_data_hash,
    };
    let verified = if format == AttestationFormat::None {
        // WebAuthn L3 §8.7: "If attStmt is a properly formed attestation statement (an empty map)".
        match att_stmt.as_map() {
            Some(map) if map.is_empty() => Verified {
                trust_path: TrustPath::None,
            },
            _ => return Err(AttestationError::NoneStatementNotEmpty),
        }
    } else {
        let stmt = Statement::new(format, att_stmt)?;
        match format {
            AttestationFormat::Packed => packed::verify(&stmt, &subject)?,
            AttestationFormat::FidoU2f => fido_u2f::verify(&stmt, &subject)?,
            AttestationFormat::Tpm => tpm::verify(&stmt, &subject, trust)?,
            AttestationFormat::AndroidKey => {
                android_key::verify(&stmt, &subject, trust.android_key_enforcement)?
            }
            AttestationFormat::AndroidSafetyNet => {
                android_safetynet::verify(&stmt, &subject, trust)?
            }
            AttestationFormat::Apple => apple::verify(&stmt, &subject)?,
            AttestationFormat::None => Verified {
                trust_path: TrustPath::None,
            },
        }
    };
    assess_trust(format, verified.trust_path, &subject, trust)
}

/// [`verify_attested`] for parsed authenticator data: `auth_data` must carry attested credential data, and
/// `auth_data_bytes` are the bytes it was parsed from.
pub fn verify_attestation_statement(
    fmt: &str,
    att_stmt: &Value,
    auth_data: &crate::authdata::AuthenticatorData,
    auth_data_bytes: &[u8],
    client_data_hash: &[u8; 32],
    trust: &AttestationTrust<'_>,
) -> Result<AttestationOutcome, AttestationError> {
    let attested = auth_data
        .attested_credential
        .as_ref()
        .ok_or(AttestationError::AttestedCredentialDataMissing)?;
    let credential = AttestedCredential {
        aaguid: attested.aaguid,
        credential_id: &attested.credential_id,
        public_key_cbor: &attested.public_key_cbor,
    };
    verify_attested(
        fmt,
        att_stmt,
        credential,
        auth_data_bytes,
        client_data_hash,
        trust,
    )
}

/// WebAuthn L3 §7.1 steps "obtain a list of acceptable trust anchors" and "assess the attestation trustworthiness".
fn assess_trust(
    format: AttestationFormat,
    trust_path: TrustPath,
    subject: &Subject<'_>,
    trust: &AttestationTrust<'_>,
) -> Result<AttestationOutcome, AttestationError> {
    let chain_der = trust_path.certificate_chain();
    let metadata = lookup_metadata(format, chain_der, subject, trust)?;
    if let Some(entry) = metadata
        && let Some(status) = entry.is_refused()
    {
        return Err(AttestationError::AuthenticatorStatusRefused { status });
    }
    let trusted = if chain_der.is_empty() {
        false
    } else {
        let chain_refs: Vec<&[u8]> = chain_der.iter().map(Vec::as_slice).collect();
        let chain = parse_chain(&chain_refs)?;
        let mut anchors: Vec<&[u8]> = trust.trust_anchors.iter().map(Vec::as_slice).collect();
        if let Some(entry) = metadata {
            anchors.extend(
                entry
                    .attestation_root_certificates()
                    .iter()
                    .map(Vec::as_slice),
            );
        }
        x509::verify_chain(&chain, &anchors, trust.now)? == x509::ChainTrust::Anchored
    };
    if !trusted && trust.requirement == AttestationRequirement::RequireTrusted {
        return Err(AttestationError::Untrusted {
            trust_path: trust_path.kind(),
        });
    }
    Ok(AttestationOutcome {
        format,
        trust_path,
        aaguid: subject.aaguid,
        trusted,
        // Without a trusted chain the AAGUID is only the authenticator's claim: its status reports were applied
        // above (they can only refuse), but its description and certification level are not vouched for.
        metadata: metadata.filter(|_| trusted).cloned(),
    })
}

/// The metadata entry by AAGUID, or for U2F by the attestation certificate key identifier.
fn lookup_metadata<'m>(
    format: AttestationFormat,
    chain_der: &[Vec<u8>],
    subject: &Subject<'_>,
    trust: &AttestationTrust<'m>,
) -> Result<Option<&'m MetadataEntry>, AttestationError> {
    let Some(blob) = trust.metadata else {
        return Ok(None);
    };
    if format == AttestationFormat::FidoU2f || subject.aaguid == [0; 16] {
        if let Some(leaf) = chain_der.first() {
            let cert = x509::parse(leaf, 0)?;
            let id = crate::mds::key_identifier(&cert.public_key().subject_public_key.data);
            return Ok(blob.entry_by_key_identifier(&id));
        }
        return Ok(None);
    }
    Ok(blob.entry(&subject.aaguid))
}

/// For [`crate::mds`]: verifies a BLOB's `x5c` chain to `root_der` and its JWS signature with the first certificate.
/// Returns whether the chain reached the root.
pub(crate) fn parse_chain_for_metadata(
    chain_der: &[Vec<u8>],
    root_der: &[u8],
    now: OffsetDateTime,
    jws_alg: &str,
    signing_input: &[u8],
    sig: &[u8],
) -> Result<bool, crate::mds::MetadataError> {
    use crate::mds::MetadataError;
    if chain_der.is_empty() {
        return Err(MetadataError::JwsMalformed {
            reason: "x5c missing",
        });
    }
    let refs: Vec<&[u8]> = chain_der.iter().map(Vec::as_slice).collect();
    let chain = parse_chain(&refs).map_err(MetadataError::ChainInvalid)?;
    match x509::verify_jws(&chain[0], jws_alg, signing_input, sig)
        .map_err(MetadataError::ChainInvalid)?
    {
        x509::JwsCheck::Valid => {}
        x509::JwsCheck::AlgorithmMismatch => {
            return Err(MetadataError::AlgorithmUnsupported {
                alg: jws_alg.to_owned(),
            });
        }
        x509::JwsCheck::SignatureInvalid => return Err(MetadataError::SignatureInvalid),
    }
    let trust =
        x509::verify_chain(&chain, &[root_der], now).map_err(MetadataError::ChainInvalid)?;
    Ok(trust == x509::ChainTrust::Anchored)
}
