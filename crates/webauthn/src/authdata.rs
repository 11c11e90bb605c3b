//! Authenticator data (WebAuthn L3 §6.1): `rpIdHash (32) || flags (1) || signCount (4) || [attestedCredentialData]
//! || [extensions]`, parsed with strict length checks; trailing bytes are refused. The credential public key and the
//! extension outputs must be CTAP2 canonical CBOR ([`crate::canonical_cbor`]).

use crate::canonical_cbor::{CborPart, require_canonical_prefix};
use crate::cose::{CoseKey, read_cbor_prefix};
use crate::error::WebauthnError;
use ciborium::Value;

/// Largest authenticator data accepted.
pub const MAX_AUTH_DATA_LEN: usize = 64 * 1024;

/// Longest credential id a relying party accepts (§7.1 step "Verify that the credentialId is ≤ 1023 bytes").
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;

/// The flags byte of authenticator data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AuthenticatorFlags(pub u8);

impl AuthenticatorFlags {
    /// UP: user present.
    pub const UP: u8 = 0x01;
    /// UV: user verified.
    pub const UV: u8 = 0x04;
    /// BE: backup eligible.
    pub const BE: u8 = 0x08;
    /// BS: backed up.
    pub const BS: u8 = 0x10;
    /// AT: attested credential data included.
    pub const AT: u8 = 0x40;
    /// ED: extension data included.
    pub const ED: u8 = 0x80;

    /// User present.
    #[must_use]
    pub fn user_present(self) -> bool {
        self.0 & Self::UP != 0
    }
    /// User verified.
    #[must_use]
    pub fn user_verified(self) -> bool {
        self.0 & Self::UV != 0
    }
    /// Backup eligible (a multi-device, "synced" credential).
    #[must_use]
    pub fn backup_eligible(self) -> bool {
        self.0 & Self::BE != 0
    }
    /// Currently backed up.
    #[must_use]
    pub fn backup_state(self) -> bool {
        self.0 & Self::BS != 0
    }
    /// Attested credential data present.
    #[must_use]
    pub fn attested_credential_data(self) -> bool {
        self.0 & Self::AT != 0
    }
    /// Extension data present.
    #[must_use]
    pub fn extension_data(self) -> bool {
        self.0 & Self::ED != 0
    }
}

/// Attested credential data (§6.5.1): the new credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedCredentialData {
    /// The authenticator model's AAGUID.
    pub aaguid: [u8; 16],
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The credential public key, parsed.
    pub public_key: CoseKey,
    /// The credential public key exactly as the authenticator encoded it (what a store keeps).
    pub public_key_cbor: Vec<u8>,
}

/// Parsed authenticator data.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthenticatorData {
    /// SHA-256 of the RP ID the authenticator scoped the credential to.
    pub rp_id_hash: [u8; 32],
    /// The flags.
    pub flags: AuthenticatorFlags,
    /// The signature counter (0 when the authenticator has none).
    pub sign_count: u32,
    /// Present when AT is set.
    pub attested_credential: Option<AttestedCredentialData>,
    /// The authenticator extension outputs (a CBOR map) when ED is set. Reported, never trusted.
    pub extensions: Option<Value>,
}

fn invalid(reason: impl Into<String>) -> WebauthnError {
    WebauthnError::AuthenticatorDataInvalid(reason.into())
}

impl AuthenticatorData {
    /// Parses authenticator data.
    ///
    /// # Errors
    /// [`WebauthnError::AuthenticatorDataInvalid`], [`WebauthnError::AuthenticatorDataTrailingBytes`],
    /// [`WebauthnError::CredentialIdTooLong`], [`WebauthnError::InputTooLarge`], a COSE key error or a `Cbor*` variant
    /// naming the canonical-form rule the key or extensions break.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WebauthnError> {
        if bytes.len() > MAX_AUTH_DATA_LEN {
            return Err(WebauthnError::InputTooLarge {
                field: "authenticatorData",
                len: bytes.len(),
                max: MAX_AUTH_DATA_LEN,
            });
        }
        let (head, mut rest) = bytes
            .split_first_chunk::<37>()
            .ok_or_else(|| invalid(format!("{} bytes, at least 37 are required", bytes.len())))?;
        let (rp_id_hash, tail) = head
            .split_first_chunk::<32>()
            .ok_or_else(|| invalid("short"))?;
        let [flags_byte, c0, c1, c2, c3] = *tail else {
            return Err(invalid("short"));
        };
        let flags = AuthenticatorFlags(flags_byte);
        let sign_count = u32::from_be_bytes([c0, c1, c2, c3]);

        let attested_credential = if flags.attested_credential_data() {
            let (aaguid, after) = rest
                .split_first_chunk::<16>()
                .ok_or_else(|| invalid("attested credential data is shorter than its AAGUID"))?;
            let (len_bytes, after) = after
                .split_first_chunk::<2>()
                .ok_or_else(|| invalid("attested credential data has no credential id length"))?;
            let id_len = usize::from(u16::from_be_bytes(*len_bytes));
            if id_len > MAX_CREDENTIAL_ID_LEN {
                return Err(WebauthnError::CredentialIdTooLong(id_len));
            }
            if after.len() < id_len {
                return Err(invalid("the credential id is longer than the data"));
            }
            let (credential_id, after) = after.split_at(id_len);
            require_canonical_prefix(after, CborPart::CredentialPublicKey)?;
            let (public_key, used) = CoseKey::from_cbor_prefix(after)?;
            let (key_cbor, after) = after.split_at(used);
            rest = after;
            Some(AttestedCredentialData {
                aaguid: *aaguid,
                credential_id: credential_id.to_vec(),
                public_key,
                public_key_cbor: key_cbor.to_vec(),
            })
        } else {
            None
        };

        let extensions = if flags.extension_data() {
            require_canonical_prefix(rest, CborPart::AuthenticatorExtensions)?;
            let (value, used) =
                read_cbor_prefix(rest).map_err(|e| invalid(format!("extensions: {e}")))?;
            if !matches!(value, Value::Map(_)) {
                return Err(invalid("extensions are not a CBOR map"));
            }
            rest = &rest[used..];
            Some(value)
        } else {
            None
        };

        if !rest.is_empty() {
            return Err(WebauthnError::AuthenticatorDataTrailingBytes(rest.len()));
        }
        Ok(Self {
            rp_id_hash: *rp_id_hash,
            flags,
            sign_count,
            attested_credential,
            extensions,
        })
    }
}
