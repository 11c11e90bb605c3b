//! [`AuthenticatorPolicy`]: what a tenant accepts from authenticators. Serializable, with safe defaults: user
//! verification required, any attestation (or none), synced passkeys allowed, a sign-count regression refused.

use crate::cose::CoseAlgorithm;
use crate::json::{DEFAULT_ALGORITHMS, UserVerificationRequirement};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// An authenticator model identifier (AAGUID), written as a UUID (`cb69481e-8ff7-4039-93ec-0a2729a154a8`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Aaguid(pub [u8; 16]);

impl Aaguid {
    /// The all-zero AAGUID that authenticators send when they do not identify their model.
    pub const ZERO: Self = Self([0; 16]);

    /// Whether this is the all-zero AAGUID.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for Aaguid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Aaguid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Aaguid({self})")
    }
}

/// Why a string is not an AAGUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an AAGUID (expected 32 hexadecimal digits, dashes allowed in UUID positions)")]
pub struct AaguidParseError;

impl FromStr for Aaguid {
    type Err = AaguidParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex: Vec<u8> = s.bytes().filter(|b| *b != b'-').collect();
        if hex.len() != 32 || s.len() > 36 {
            return Err(AaguidParseError);
        }
        let mut out = [0u8; 16];
        for (slot, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            let text = std::str::from_utf8(pair).map_err(|_| AaguidParseError)?;
            *slot = u8::from_str_radix(text, 16).map_err(|_| AaguidParseError)?;
        }
        Ok(Self(out))
    }
}

impl Serialize for Aaguid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Aaguid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// How much attestation a tenant demands at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttestationPolicy {
    /// Any response, including `fmt: "none"` (a statement that is present is still verified).
    #[default]
    None,
    /// An attestation statement (self or certified) must be present.
    Any,
    /// The statement must chain to a trust anchor (policy roots or FIDO metadata).
    Trusted,
}

/// FIDO certification levels, lowest first (as FIDO MDS3 status reports name them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CertificationLevel {
    /// Not certified.
    NotFidoCertified,
    /// FIDO Certified (functional).
    FidoCertified,
    /// Level 1.
    FidoCertifiedL1,
    /// Level 1+.
    FidoCertifiedL1plus,
    /// Level 2.
    FidoCertifiedL2,
    /// Level 2+.
    FidoCertifiedL2plus,
    /// Level 3.
    FidoCertifiedL3,
    /// Level 3+.
    FidoCertifiedL3plus,
}

impl CertificationLevel {
    /// The MDS3 status string (`FIDO_CERTIFIED_L1`...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFidoCertified => "NOT_FIDO_CERTIFIED",
            Self::FidoCertified => "FIDO_CERTIFIED",
            Self::FidoCertifiedL1 => "FIDO_CERTIFIED_L1",
            Self::FidoCertifiedL1plus => "FIDO_CERTIFIED_L1plus",
            Self::FidoCertifiedL2 => "FIDO_CERTIFIED_L2",
            Self::FidoCertifiedL2plus => "FIDO_CERTIFIED_L2plus",
            Self::FidoCertifiedL3 => "FIDO_CERTIFIED_L3",
            Self::FidoCertifiedL3plus => "FIDO_CERTIFIED_L3plus",
        }
    }

    /// Parses an MDS3 status string; `None` for statuses that are not certification levels.
    #[must_use]
    pub fn from_status(status: &str) -> Option<Self> {
        Some(match status {
            "NOT_FIDO_CERTIFIED" => Self::NotFidoCertified,
            "FIDO_CERTIFIED" => Self::FidoCertified,
            "FIDO_CERTIFIED_L1" => Self::FidoCertifiedL1,
            "FIDO_CERTIFIED_L1plus" => Self::FidoCertifiedL1plus,
            "FIDO_CERTIFIED_L2" => Self::FidoCertifiedL2,
            "FIDO_CERTIFIED_L2plus" => Self::FidoCertifiedL2plus,
            "FIDO_CERTIFIED_L3" => Self::FidoCertifiedL3,
            "FIDO_CERTIFIED_L3plus" => Self::FidoCertifiedL3plus,
            _ => return None,
        })
    }
}

/// Whether synced (backup-eligible, multi-device) passkeys may be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncedPasskeys {
    /// Allowed (default).
    #[default]
    Allow,
    /// Only device-bound credentials (BE=0) are registered.
    Refuse,
}

/// What to do with a sign-count clone signal (§7.2 step "signCount").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignCountPolicy {
    /// Refuse the assertion (default).
    #[default]
    RejectClone,
    /// Accept it, and report the signal in the result.
    ReportOnly,
}

/// A tenant's authenticator policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthenticatorPolicy {
    /// User verification: `required` (default; passwordless means it) checks the UV flag; the others do not.
    pub user_verification: UserVerificationRequirement,
    /// Attestation demanded at registration.
    pub attestation: AttestationPolicy,
    /// If non-empty, only these authenticator models may register.
    pub aaguid_allow: Vec<Aaguid>,
    /// These authenticator models may not register.
    pub aaguid_deny: Vec<Aaguid>,
    /// If set, the FIDO metadata must certify the model at least at this level.
    pub minimum_certification_level: Option<CertificationLevel>,
    /// Synced passkeys allowed or refused.
    pub synced_passkeys: SyncedPasskeys,
    /// Sign-count clone signal handling.
    pub sign_count: SignCountPolicy,
    /// COSE algorithm identifiers accepted for new credentials.
    pub algorithms: Vec<i64>,
    /// Accept RSASSA-PKCS1-v1_5 with SHA-1 (RS1) credentials and attestations. Off by default; old TPMs need it.
    pub insecure_allow_rs1: bool,
    /// The legacy U2F AppID (e.g. `https://example.com/app-id.json`) of credentials registered before WebAuthn:
    /// sign-in options then carry the `appid` extension, and an assertion the client made under it is accepted.
    pub legacy_appid: Option<String>,
}

impl Default for AuthenticatorPolicy {
    fn default() -> Self {
        Self {
            user_verification: UserVerificationRequirement::Required,
            attestation: AttestationPolicy::None,
            aaguid_allow: Vec::new(),
            aaguid_deny: Vec::new(),
            minimum_certification_level: None,
            synced_passkeys: SyncedPasskeys::Allow,
            sign_count: SignCountPolicy::RejectClone,
            algorithms: DEFAULT_ALGORITHMS.iter().map(|a| a.id()).collect(),
            insecure_allow_rs1: false,
            legacy_appid: None,
        }
    }
}

impl AuthenticatorPolicy {
    /// Whether the UV flag must be set.
    #[must_use]
    pub fn requires_user_verification(&self) -> bool {
        self.user_verification == UserVerificationRequirement::Required
    }

    /// Whether a new credential may use this algorithm.
    #[must_use]
    pub fn allows_algorithm(&self, alg: CoseAlgorithm) -> bool {
        if alg == CoseAlgorithm::InsecureRs1 && !self.insecure_allow_rs1 {
            return false;
        }
        self.algorithms.contains(&alg.id())
    }
}
