//! FIDO Metadata Service (MDS3) BLOBs: a JWS whose `x5c` chain must reach the configured root, carrying one entry per
//! authenticator model with its description, attestation roots and status reports.
//!
//! The BLOB is loaded from bytes (a deployment downloads it; no I/O here) and judged at a given time.

use std::fmt;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use time::{Date, OffsetDateTime};

use crate::attestation::{AttestationError, parse_chain_for_metadata};
pub use crate::policy::CertificationLevel;

/// Upper bound on a BLOB's size (the public BLOB is a few MiB).
const MAX_BLOB: usize = 64 * 1024 * 1024;

/// Why a metadata BLOB was refused. Each variant is one rule; [`MetadataError::rule`] names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// The BLOB is not a compact JWS (three base64url parts).
    #[error("the metadata BLOB is not a compact JWS: {reason}")]
    JwsMalformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// The JWS `alg` is not ES256 or RS256, or does not fit the signing certificate key.
    #[error("the metadata BLOB algorithm {alg:?} is not supported")]
    AlgorithmUnsupported {
        /// The header's `alg`.
        alg: String,
    },
    /// The header's `x5c` chain does not verify or does not reach the configured root.
    #[error("the metadata BLOB signing chain is invalid: {0}")]
    ChainInvalid(AttestationError),
    /// The header's `x5c` chain is valid but does not reach the configured root.
    #[error("the metadata BLOB signing chain does not reach the configured root")]
    RootNotReached,
    /// The JWS signature does not verify with the signing certificate.
    #[error("the metadata BLOB signature does not verify")]
    SignatureInvalid,
    /// The payload is not the MDS3 JSON.
    #[error("the metadata BLOB payload is invalid: {0}")]
    PayloadInvalid(String),
    /// `nextUpdate` has passed: the BLOB is stale and a newer one must be downloaded.
    #[error("the metadata BLOB is stale: its nextUpdate was {next_update}")]
    Stale {
        /// The BLOB's `nextUpdate`.
        next_update: Date,
    },
    /// The BLOB is larger than this verifier accepts.
    #[error("the metadata BLOB is too large ({len} bytes)")]
    TooLarge {
        /// Its length.
        len: usize,
    },
}

impl MetadataError {
    /// Stable kebab-case name of the failed rule.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::JwsMalformed { .. } => "mds-jws-malformed",
            Self::AlgorithmUnsupported { .. } => "mds-algorithm-unsupported",
            Self::ChainInvalid(_) => "mds-chain-invalid",
            Self::RootNotReached => "mds-root-not-reached",
            Self::SignatureInvalid => "mds-signature-invalid",
            Self::PayloadInvalid(_) => "mds-payload-invalid",
            Self::Stale { .. } => "mds-stale",
            Self::TooLarge { .. } => "mds-too-large",
        }
    }
}

/// An authenticator status from a status report (FIDO Metadata Service §3.1.4 `AuthenticatorStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthenticatorStatus {
    /// `NOT_FIDO_CERTIFIED`.
    NotFidoCertified,
    /// `FIDO_CERTIFIED` (the legacy name for level 1).
    FidoCertified,
    /// `USER_VERIFICATION_BYPASS`: malware can bypass user verification.
    UserVerificationBypass,
    /// `ATTESTATION_KEY_COMPROMISE`: an attestation key has leaked.
    AttestationKeyCompromise,
    /// `USER_KEY_REMOTE_COMPROMISE`: credential keys can be extracted remotely.
    UserKeyRemoteCompromise,
    /// `USER_KEY_PHYSICAL_COMPROMISE`: credential keys can be extracted with physical access.
    UserKeyPhysicalCompromise,
    /// `UPDATE_AVAILABLE`.
    UpdateAvailable,
    /// `REVOKED`: the FIDO Alliance revoked the certification.
    Revoked,
    /// `SELF_ASSERTION_SUBMITTED`.
    SelfAssertionSubmitted,
    /// `FIDO_CERTIFIED_L1`.
    FidoCertifiedL1,
    /// `FIDO_CERTIFIED_L1plus`.
    FidoCertifiedL1Plus,
    /// `FIDO_CERTIFIED_L2`.
    FidoCertifiedL2,
    /// `FIDO_CERTIFIED_L2plus`.
    FidoCertifiedL2Plus,
    /// `FIDO_CERTIFIED_L3`.
    FidoCertifiedL3,
    /// `FIDO_CERTIFIED_L3plus`.
    FidoCertifiedL3Plus,
    /// A status this version does not know.
    Other(String),
}

impl AuthenticatorStatus {
    /// Reads the MDS3 status name.
    pub fn parse(name: &str) -> Self {
        match name {
            "NOT_FIDO_CERTIFIED" => Self::NotFidoCertified,
            "FIDO_CERTIFIED" => Self::FidoCertified,
            "USER_VERIFICATION_BYPASS" => Self::UserVerificationBypass,
            "ATTESTATION_KEY_COMPROMISE" => Self::AttestationKeyCompromise,
            "USER_KEY_REMOTE_COMPROMISE" => Self::UserKeyRemoteCompromise,
            "USER_KEY_PHYSICAL_COMPROMISE" => Self::UserKeyPhysicalCompromise,
            "UPDATE_AVAILABLE" => Self::UpdateAvailable,
            "REVOKED" => Self::Revoked,
            "SELF_ASSERTION_SUBMITTED" => Self::SelfAssertionSubmitted,
            "FIDO_CERTIFIED_L1" => Self::FidoCertifiedL1,
            "FIDO_CERTIFIED_L1plus" => Self::FidoCertifiedL1Plus,
            "FIDO_CERTIFIED_L2" => Self::FidoCertifiedL2,
            "FIDO_CERTIFIED_L2plus" => Self::FidoCertifiedL2Plus,
            "FIDO_CERTIFIED_L3" => Self::FidoCertifiedL3,
            "FIDO_CERTIFIED_L3plus" => Self::FidoCertifiedL3Plus,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The MDS3 status name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::NotFidoCertified => "NOT_FIDO_CERTIFIED",
            Self::FidoCertified => "FIDO_CERTIFIED",
            Self::UserVerificationBypass => "USER_VERIFICATION_BYPASS",
            Self::AttestationKeyCompromise => "ATTESTATION_KEY_COMPROMISE",
            Self::UserKeyRemoteCompromise => "USER_KEY_REMOTE_COMPROMISE",
            Self::UserKeyPhysicalCompromise => "USER_KEY_PHYSICAL_COMPROMISE",
            Self::UpdateAvailable => "UPDATE_AVAILABLE",
            Self::Revoked => "REVOKED",
            Self::SelfAssertionSubmitted => "SELF_ASSERTION_SUBMITTED",
            Self::FidoCertifiedL1 => "FIDO_CERTIFIED_L1",
            Self::FidoCertifiedL1Plus => "FIDO_CERTIFIED_L1plus",
            Self::FidoCertifiedL2 => "FIDO_CERTIFIED_L2",
            Self::FidoCertifiedL2Plus => "FIDO_CERTIFIED_L2plus",
            Self::FidoCertifiedL3 => "FIDO_CERTIFIED_L3",
            Self::FidoCertifiedL3Plus => "FIDO_CERTIFIED_L3plus",
            Self::Other(name) => name,
        }
    }

    /// Whether this status makes Tessera refuse the authenticator.
    pub fn refuses(&self) -> bool {
        matches!(
            self,
            Self::Revoked
                | Self::UserVerificationBypass
                | Self::AttestationKeyCompromise
                | Self::UserKeyRemoteCompromise
                | Self::UserKeyPhysicalCompromise
        )
    }
}

impl fmt::Display for AuthenticatorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One status report of a metadata entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The status.
    pub status: AuthenticatorStatus,
    /// When the status took effect, if given.
    pub effective_date: Option<Date>,
}

/// One authenticator model in the BLOB.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataEntry {
    /// The AAGUID (FIDO2 authenticators).
    pub aaguid: Option<[u8; 16]>,
    /// Lowercase hex SHA-1 key identifiers of attestation certificates (U2F authenticators).
    pub attestation_certificate_key_identifiers: Vec<String>,
    /// The model's description from its metadata statement.
    pub description: Option<String>,
    attestation_root_certificates: Vec<Vec<u8>>,
    /// Status reports, oldest first.
    pub status_reports: Vec<StatusReport>,
    /// The metadata statement as published (JSON), for display.
    pub metadata_statement: Option<serde_json::Value>,
}

impl MetadataEntry {
    /// The attestation root certificates (DER) from the metadata statement.
    pub fn attestation_root_certificates(&self) -> &[Vec<u8>] {
        &self.attestation_root_certificates
    }

    /// The status that makes Tessera refuse this authenticator, if any report has one: REVOKED,
    /// USER_VERIFICATION_BYPASS, ATTESTATION_KEY_COMPROMISE, USER_KEY_REMOTE_COMPROMISE or
    /// USER_KEY_PHYSICAL_COMPROMISE. A later report does not lift a compromise: devices already in the field stay
    /// affected.
    pub fn is_refused(&self) -> Option<AuthenticatorStatus> {
        self.status_reports
            .iter()
            .rev()
            .find(|r| r.status.refuses())
            .map(|r| r.status.clone())
    }

    /// The current certification level: the last certification status (`FIDO_CERTIFIED*`), unless a later report
    /// says NOT_FIDO_CERTIFIED or REVOKED.
    pub fn certification_level(&self) -> Option<CertificationLevel> {
        let mut level = None;
        for report in &self.status_reports {
            match &report.status {
                AuthenticatorStatus::NotFidoCertified | AuthenticatorStatus::Revoked => {
                    level = None
                }
                status => {
                    if let Some(l) = CertificationLevel::from_status(status.as_str()) {
                        level = Some(l);
                    }
                }
            }
        }
        level
    }
}

/// A verified MDS3 BLOB.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataBlob {
    no: u64,
    next_update: Date,
    legal_header: Option<String>,
    entries: Vec<MetadataEntry>,
}

#[derive(Deserialize)]
struct JwsHeader {
    alg: String,
    #[serde(default)]
    x5c: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBlob {
    #[serde(default)]
    legal_header: Option<String>,
    no: u64,
    next_update: String,
    entries: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    #[serde(default)]
    aaguid: Option<String>,
    #[serde(default)]
    attestation_certificate_key_identifiers: Vec<String>,
    #[serde(default)]
    metadata_statement: Option<serde_json::Value>,
    #[serde(default)]
    status_reports: Vec<RawStatusReport>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStatusReport {
    status: String,
    #[serde(default)]
    effective_date: Option<String>,
}

const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
    time::macros::format_description!("[year]-[month]-[day]");

fn parse_date(s: &str) -> Result<Date, MetadataError> {
    Date::parse(s, DATE_FORMAT)
        .map_err(|_| MetadataError::PayloadInvalid(format!("invalid date {s:?}")))
}

/// Parses an AAGUID written as a UUID (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, any case).
pub fn parse_aaguid(s: &str) -> Option<[u8; 16]> {
    let bytes = s.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut digits = Vec::with_capacity(32);
    for (i, &b) in bytes.iter().enumerate() {
        match (i, b) {
            (8 | 13 | 18 | 23, b'-') => {}
            (8 | 13 | 18 | 23, _) => return None,
            (_, b'0'..=b'9') => digits.push(b - b'0'),
            (_, b'a'..=b'f') => digits.push(b - b'a' + 10),
            (_, b'A'..=b'F') => digits.push(b - b'A' + 10),
            _ => return None,
        }
    }
    let mut out = [0u8; 16];
    for (slot, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *slot = (pair[0] << 4) | pair[1];
    }
    Some(out)
}

/// The MDS `attestationCertificateKeyIdentifier` of a subject public key: lowercase hex SHA-1 of the BIT STRING
/// contents of the certificate's subjectPublicKey.
pub fn key_identifier(subject_public_key: &[u8]) -> String {
    digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, subject_public_key)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl MetadataBlob {
    /// [`MetadataBlob::from_jws`] against any of `roots_der` (a root file may hold more than one certificate, as in
    /// a rollover): the first root the BLOB verifies against wins; otherwise the error of the last one
    /// ([`MetadataError::RootNotReached`] when `roots_der` is empty).
    pub fn from_jws_with_roots(
        bytes: &[u8],
        roots_der: &[Vec<u8>],
        now: OffsetDateTime,
    ) -> Result<Self, MetadataError> {
        let mut last = MetadataError::RootNotReached;
        for root in roots_der {
            match Self::from_jws(bytes, root, now) {
                Ok(blob) => return Ok(blob),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Verifies and parses a BLOB: the JWS `x5c` chain must reach `root_der` at `now`, the ES256 or RS256 signature
    /// must verify with its first certificate, and `nextUpdate` must not have passed.
    pub fn from_jws(
        bytes: &[u8],
        root_der: &[u8],
        now: OffsetDateTime,
    ) -> Result<Self, MetadataError> {
        if bytes.len() > MAX_BLOB {
            return Err(MetadataError::TooLarge { len: bytes.len() });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| MetadataError::JwsMalformed {
            reason: "not UTF-8",
        })?;
        let text = text.trim();
        let mut parts = text.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(MetadataError::JwsMalformed {
                reason: "not three parts",
            });
        };
        let header: JwsHeader = URL_SAFE_NO_PAD
            .decode(h64)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(MetadataError::JwsMalformed { reason: "header" })?;
        let sig = URL_SAFE_NO_PAD
            .decode(s64)
            .map_err(|_| MetadataError::JwsMalformed {
                reason: "signature",
            })?;
        let chain_der: Vec<Vec<u8>> = header
            .x5c
            .iter()
            .map(|c| STANDARD.decode(c))
            .collect::<Result<_, _>>()
            .map_err(|_| MetadataError::JwsMalformed {
                reason: "x5c entry is not base64",
            })?;
        let signing_input = &text.as_bytes()[..h64.len() + 1 + p64.len()];
        let anchored =
            parse_chain_for_metadata(&chain_der, root_der, now, &header.alg, signing_input, &sig)?;
        if !anchored {
            return Err(MetadataError::RootNotReached);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(p64)
            .map_err(|_| MetadataError::JwsMalformed { reason: "payload" })?;
        let blob = Self::from_payload(&payload)?;
        if now.date() > blob.next_update {
            return Err(MetadataError::Stale {
                next_update: blob.next_update,
            });
        }
        Ok(blob)
    }

    /// Parses the (already verified) JSON payload.
    fn from_payload(payload: &[u8]) -> Result<Self, MetadataError> {
        let raw: RawBlob = serde_json::from_slice(payload)
            .map_err(|e| MetadataError::PayloadInvalid(e.to_string()))?;
        let mut entries = Vec::with_capacity(raw.entries.len());
        for entry in raw.entries {
            let aaguid = match entry.aaguid.as_deref() {
                Some(s) => Some(parse_aaguid(s).ok_or_else(|| {
                    MetadataError::PayloadInvalid(format!("invalid AAGUID {s:?}"))
                })?),
                None => None,
            };
            let statement = entry.metadata_statement;
            let description = statement
                .as_ref()
                .and_then(|s| s.get("description"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned);
            let roots = statement
                .as_ref()
                .and_then(|s| s.get("attestationRootCertificates"))
                .and_then(serde_json::Value::as_array)
                .map(|a| a.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|v| {
                    v.as_str()
                        .and_then(|s| STANDARD.decode(s).ok())
                        .ok_or_else(|| {
                            MetadataError::PayloadInvalid(
                                "invalid attestation root certificate".into(),
                            )
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut status_reports = entry
                .status_reports
                .iter()
                .map(|r| {
                    Ok(StatusReport {
                        status: AuthenticatorStatus::parse(&r.status),
                        effective_date: r.effective_date.as_deref().map(parse_date).transpose()?,
                    })
                })
                .collect::<Result<Vec<_>, MetadataError>>()?;
            // Stable sort: reports without a date keep their place relative to each other.
            status_reports.sort_by_key(|r| r.effective_date);
            entries.push(MetadataEntry {
                aaguid,
                attestation_certificate_key_identifiers: entry
                    .attestation_certificate_key_identifiers
                    .iter()
                    .map(|k| k.to_ascii_lowercase())
                    .collect(),
                description,
                attestation_root_certificates: roots,
                status_reports,
                metadata_statement: statement,
            });
        }
        Ok(Self {
            no: raw.no,
            next_update: parse_date(&raw.next_update)?,
            legal_header: raw.legal_header,
            entries,
        })
    }

    /// The BLOB's serial number (`no`); a newer BLOB has a larger one.
    pub fn no(&self) -> u64 {
        self.no
    }

    /// The date by which a newer BLOB will be published.
    pub fn next_update(&self) -> Date {
        self.next_update
    }

    /// The legal header.
    pub fn legal_header(&self) -> Option<&str> {
        self.legal_header.as_deref()
    }

    /// All entries.
    pub fn entries(&self) -> &[MetadataEntry] {
        &self.entries
    }

    /// The entry for a FIDO2 authenticator's AAGUID.
    pub fn entry(&self, aaguid: &[u8; 16]) -> Option<&MetadataEntry> {
        self.entries
            .iter()
            .find(|e| e.aaguid.as_ref() == Some(aaguid))
    }

    /// The entry for a U2F authenticator by attestation certificate key identifier (hex, any case).
    pub fn entry_by_key_identifier(&self, key_identifier: &str) -> Option<&MetadataEntry> {
        let wanted = key_identifier.to_ascii_lowercase();
        self.entries
            .iter()
            .find(|e| e.attestation_certificate_key_identifiers.contains(&wanted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aaguid_parses_only_canonical_uuids() {
        let parsed = parse_aaguid("ee882879-721c-4913-9775-3DFCCE97072A").expect("valid");
        assert_eq!(parsed[0], 0xee);
        assert_eq!(parsed[15], 0x2a);
        assert!(parse_aaguid("+e882879-721c-4913-9775-3dfcce97072a").is_none());
        assert!(parse_aaguid("ee882879721c-4913-9775-3dfcce97072a-").is_none());
        assert!(parse_aaguid("ee882879-721c-4913-9775-3dfcce97072").is_none());
        assert!(parse_aaguid("éé882879-721c-4913-9775-3dfcce9707").is_none());
    }

    #[test]
    fn compromise_is_not_lifted_by_a_later_update() {
        let entry = MetadataEntry {
            aaguid: None,
            attestation_certificate_key_identifiers: Vec::new(),
            description: None,
            attestation_root_certificates: Vec::new(),
            status_reports: vec![
                StatusReport {
                    status: AuthenticatorStatus::FidoCertifiedL1,
                    effective_date: None,
                },
                StatusReport {
                    status: AuthenticatorStatus::UserVerificationBypass,
                    effective_date: None,
                },
                StatusReport {
                    status: AuthenticatorStatus::UpdateAvailable,
                    effective_date: None,
                },
            ],
            metadata_statement: None,
        };
        assert_eq!(
            entry.is_refused(),
            Some(AuthenticatorStatus::UserVerificationBypass)
        );
        assert_eq!(
            entry.certification_level(),
            Some(CertificationLevel::FidoCertifiedL1)
        );
    }
}
