//! A software authenticator whose every output field can be overridden.
//!
//! With default settings its responses are valid (`none` attestation, UP and UV set, a counter that
//! increments), so it doubles as a fast authenticator for benchmarks and integration tests. Each
//! member of [`Overrides`] replaces one field of the output; signatures are computed over the final
//! (overridden) bytes, so an override tests the relying party's check for that field and not merely
//! its signature check. Use [`Overrides::corrupt_signature`] for the latter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_lc_rs::digest::{SHA256, digest};
use ciborium::Value;
use serde::Serialize;
use serde_json::json;

use crate::ca::AttestationCert;
use crate::cbor::{self, b64url};
use crate::error::TestkitError;
use crate::helpers::random_bytes;
use crate::keys::{KeyAlg, SigningKey};
use crate::options::{CreationOptions, RequestOptions, default_rp_id};

/// authenticatorData flag bits (WebAuthn L3 §6.1).
pub mod flags {
    /// User present.
    pub const UP: u8 = 0x01;
    /// User verified.
    pub const UV: u8 = 0x04;
    /// Backup eligible.
    pub const BE: u8 = 0x08;
    /// Backup state.
    pub const BS: u8 = 0x10;
    /// Attested credential data included.
    pub const AT: u8 = 0x40;
    /// Extension data included.
    pub const ED: u8 = 0x80;
}

/// The attestation statement a registration carries.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum Attestation {
    /// `fmt: "none"`, empty `attStmt`.
    #[default]
    None,
    /// `fmt: "packed"` self attestation: `{alg, sig}` signed with the credential key.
    PackedSelf,
    /// `fmt: "packed"` basic attestation: `{alg: -7, sig, x5c: [cert]}` signed with the certificate's key.
    PackedBasic(Arc<AttestationCert>),
    /// `fmt: "fido-u2f"`: `{sig, x5c: [cert]}` over the U2F registration data (the credential key must be ES256).
    FidoU2f(Arc<AttestationCert>),
}

/// How the signature counter moves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignCounter {
    /// 0 at registration, then 1, 2, 3... on each assertion (a security key).
    #[default]
    Increment,
    /// Always 0 (most synced passkeys).
    Zero,
}

/// Per-flag overrides of authenticatorData flags; `None` keeps the honest value.
#[derive(Clone, Copy, Debug, Default)]
pub struct FlagOverrides {
    /// User present (bit 0).
    pub up: Option<bool>,
    /// User verified (bit 2).
    pub uv: Option<bool>,
    /// Backup eligible (bit 3).
    pub be: Option<bool>,
    /// Backup state (bit 4).
    pub bs: Option<bool>,
    /// Attested credential data included (bit 6); only the bit, the data stays.
    pub at: Option<bool>,
    /// Extension data included (bit 7); only the bit.
    pub ed: Option<bool>,
}

/// Replacements for fields of the responses; `None` (or empty) keeps the honest value.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `clientDataJSON.type` (honest: `webauthn.create` / `webauthn.get`).
    pub client_data_type: Option<String>,
    /// `clientDataJSON.challenge`, as the base64url text to put there.
    pub challenge: Option<String>,
    /// `clientDataJSON.origin`.
    pub origin: Option<String>,
    /// `clientDataJSON.crossOrigin` (honest: `false`).
    pub cross_origin: Option<bool>,
    /// `clientDataJSON.topOrigin` (honest: absent).
    pub top_origin: Option<String>,
    /// The whole `clientDataJSON`, raw bytes (wins over the fields above).
    pub client_data_json: Option<Vec<u8>>,
    /// The RP ID whose SHA-256 goes into authenticatorData (honest: options' `rpId`/`rp.id` or the origin's host).
    pub rp_id: Option<String>,
    /// The 32-byte rpIdHash itself (wins over `rp_id`).
    pub rp_id_hash: Option<[u8; 32]>,
    /// Individual flag bits.
    pub flags: FlagOverrides,
    /// The whole flags byte (wins over `flags`).
    pub flags_byte: Option<u8>,
    /// The signature counter in authenticatorData.
    pub sign_count: Option<u32>,
    /// The AAGUID in attested credential data.
    pub aaguid: Option<[u8; 16]>,
    /// The credential id: of the new credential (registration) or the one reported (authentication).
    pub credential_id: Option<Vec<u8>>,
    /// The `alg` label written into the COSE public key (the key itself is unchanged).
    pub cose_alg: Option<i64>,
    /// The whole COSE public key bytes in attested credential data.
    pub cose_key: Option<Vec<u8>>,
    /// Authenticator extension outputs (CBOR map bytes) appended after attested data; sets ED.
    pub extensions: Option<Vec<u8>>,
    /// Bytes appended to authenticatorData after everything else.
    pub extra_auth_data: Vec<u8>,
    /// The whole authenticatorData (wins over every authenticatorData field above).
    pub auth_data: Option<Vec<u8>>,
    /// The attestation `fmt` string.
    pub attestation_fmt: Option<String>,
    /// The whole `attStmt` CBOR value.
    pub att_stmt: Option<Value>,
    /// The whole `attestationObject` bytes.
    pub attestation_object: Option<Vec<u8>>,
    /// Flip one bit of every signature made (assertion and packed attestation).
    pub corrupt_signature: bool,
    /// The assertion signature bytes (or packed `sig`), replacing the computed one.
    pub signature: Option<Vec<u8>>,
    /// The credential `type` member (honest: `public-key`).
    pub credential_type: Option<String>,
    /// The `id` member of the response JSON.
    pub id: Option<String>,
    /// The `rawId` member of the response JSON.
    pub raw_id: Option<String>,
    /// `response.userHandle` in assertions: `Some(None)` omits it, `Some(Some(b))` sends `b`.
    pub user_handle: Option<Option<Vec<u8>>>,
    /// `clientExtensionResults` (honest: `{}`).
    pub client_extension_results: Option<serde_json::Value>,
}

/// A credential made by [`MaliciousAuthenticator::register`] (or [`Credential::generate`]).
///
/// Clones share the key and the signature counter.
#[derive(Clone, Debug)]
pub struct Credential {
    /// The credential id.
    pub id: Vec<u8>,
    /// The user handle (`user.id` of the creation options).
    pub user_handle: Vec<u8>,
    /// The RP ID it was registered for.
    pub rp_id: String,
    key: Arc<SigningKey>,
    counter: Arc<AtomicU32>,
}

impl Credential {
    /// Makes a credential without a ceremony: a fresh `alg` key and a random 32-byte id.
    pub fn generate(
        alg: KeyAlg,
        rp_id: &str,
        user_handle: &[u8],
    ) -> Result<Credential, TestkitError> {
        Ok(Credential {
            id: random_bytes(32),
            user_handle: user_handle.to_vec(),
            rp_id: rp_id.to_owned(),
            key: Arc::new(SigningKey::generate(alg)?),
            counter: Arc::new(AtomicU32::new(0)),
        })
    }

    /// The key's algorithm.
    pub fn alg(&self) -> KeyAlg {
        self.key.alg()
    }

    /// The credential id as base64url.
    pub fn id_b64url(&self) -> String {
        b64url(&self.id)
    }

    /// The public key as COSE_Key bytes.
    pub fn cose_public_key(&self) -> Result<Vec<u8>, TestkitError> {
        self.key.cose_public_key()
    }

    /// The public key as base64url COSE_Key, as `tessera webauthn verify-authentication --public-key` takes it.
    pub fn cose_public_key_b64url(&self) -> Result<String, TestkitError> {
        Ok(b64url(self.key.cose_public_key()?))
    }

    /// The last signature counter value emitted.
    pub fn sign_count(&self) -> u32 {
        self.counter.load(Ordering::SeqCst)
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }
}

/// A software authenticator whose output can be bent field by field (see the module docs).
#[derive(Clone, Debug)]
pub struct MaliciousAuthenticator {
    /// The key type; `None` picks the first of `pubKeyCredParams` it supports.
    pub key_alg: Option<KeyAlg>,
    /// The attestation statement of registrations.
    pub attestation: Attestation,
    /// The AAGUID (honest default: all zero, as passkeys with `none` attestation send).
    pub aaguid: [u8; 16],
    /// Whether the UV flag is set.
    pub user_verified: bool,
    /// Whether the BE flag is set.
    pub backup_eligible: bool,
    /// Whether the BS flag is set.
    pub backup_state: bool,
    /// How the signature counter moves.
    pub sign_counter: SignCounter,
    /// Field replacements.
    pub overrides: Overrides,
}

impl Default for MaliciousAuthenticator {
    fn default() -> Self {
        MaliciousAuthenticator {
            key_alg: None,
            attestation: Attestation::None,
            aaguid: [0; 16],
            user_verified: true,
            backup_eligible: false,
            backup_state: false,
            sign_counter: SignCounter::Increment,
            overrides: Overrides::default(),
        }
    }
}

#[derive(Serialize)]
struct ClientData<'a> {
    #[serde(rename = "type")]
    ty: &'a str,
    challenge: &'a str,
    origin: &'a str,
    #[serde(rename = "crossOrigin")]
    cross_origin: bool,
    #[serde(rename = "topOrigin", skip_serializing_if = "Option::is_none")]
    top_origin: Option<&'a str>,
}

impl MaliciousAuthenticator {
    /// An honest authenticator: valid output until fields are overridden.
    pub fn new() -> MaliciousAuthenticator {
        MaliciousAuthenticator::default()
    }

    /// Uses `alg` keys whatever the options offer.
    pub fn with_key_alg(mut self, alg: KeyAlg) -> MaliciousAuthenticator {
        self.key_alg = Some(alg);
        self
    }

    /// Uses this attestation statement for registrations.
    pub fn with_attestation(mut self, attestation: Attestation) -> MaliciousAuthenticator {
        self.attestation = attestation;
        self
    }

    /// Replaces the overrides.
    pub fn with_overrides(mut self, overrides: Overrides) -> MaliciousAuthenticator {
        self.overrides = overrides;
        self
    }

    /// Answers `navigator.credentials.create()` with these options (JSON, bare or under `publicKey`)
    /// from `origin`: returns the `RegistrationResponseJSON` text and the new credential.
    pub fn register(
        &self,
        creation_options_json: &str,
        origin: &str,
    ) -> Result<(String, Credential), TestkitError> {
        let options = CreationOptions::parse(creation_options_json)?;
        let alg = match self.key_alg {
            Some(alg) => alg,
            None if options.algs.is_empty() => KeyAlg::Es256,
            None => options
                .algs
                .iter()
                .find_map(|a| KeyAlg::from_cose(*a))
                .ok_or(TestkitError::NoSupportedAlgorithm)?,
        };
        let rp_id = match &options.rp_id {
            Some(id) => id.clone(),
            None => default_rp_id(origin)?,
        };
        let key = SigningKey::generate(alg)?;
        let id = self
            .overrides
            .credential_id
            .clone()
            .unwrap_or_else(|| random_bytes(32));
        let credential = Credential {
            id: id.clone(),
            user_handle: options.user_id.clone(),
            rp_id: rp_id.clone(),
            key: Arc::new(key),
            counter: Arc::new(AtomicU32::new(0)),
        };

        let client_data_json =
            self.client_data_json("webauthn.create", &options.challenge, origin)?;
        let client_data_hash = digest(&SHA256, &client_data_json);

        let cose_key = match &self.overrides.cose_key {
            Some(bytes) => bytes.clone(),
            None => {
                let label = self.overrides.cose_alg.unwrap_or(alg.cose_alg());
                cbor::to_vec(&credential.key.cose_public_key_value(label))?
            }
        };
        let mut attested = Vec::with_capacity(18 + id.len() + cose_key.len());
        attested.extend_from_slice(&self.overrides.aaguid.unwrap_or(self.aaguid));
        attested.extend_from_slice(&u16::try_from(id.len()).unwrap_or(u16::MAX).to_be_bytes());
        attested.extend_from_slice(&id);
        attested.extend_from_slice(&cose_key);
        let auth_data = self.auth_data(&rp_id, 0, Some(&attested));

        let text = |t: &str| Value::Text(t.to_owned());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(client_data_hash.as_ref());
        let alg_label = self.overrides.cose_alg.unwrap_or(alg.cose_alg());
        let (fmt, att_stmt) = match &self.attestation {
            Attestation::None => ("none".to_owned(), Value::Map(Vec::new())),
            Attestation::PackedSelf => {
                let sig = self.signature(&credential.key, &signed)?;
                (
                    "packed".to_owned(),
                    Value::Map(vec![
                        (text("alg"), Value::Integer(alg_label.into())),
                        (text("sig"), Value::Bytes(sig)),
                    ]),
                )
            }
            Attestation::PackedBasic(cert) => {
                let sig = self.certificate_signature(cert, &signed)?;
                (
                    "packed".to_owned(),
                    Value::Map(vec![
                        (text("alg"), Value::Integer(KeyAlg::Es256.cose_alg().into())),
                        (text("sig"), Value::Bytes(sig)),
                        (
                            text("x5c"),
                            Value::Array(vec![Value::Bytes(cert.der().to_vec())]),
                        ),
                    ]),
                )
            }
            Attestation::FidoU2f(cert) => {
                // FIDO U2F registration data: 0x00 || rpIdHash || clientDataHash || credentialId || publicKeyU2F.
                let mut message = vec![0x00];
                message.extend_from_slice(auth_data.get(..32).unwrap_or_default());
                message.extend_from_slice(client_data_hash.as_ref());
                message.extend_from_slice(&id);
                message.extend_from_slice(&credential.key.uncompressed_point().unwrap_or_default());
                let sig = self.certificate_signature(cert, &message)?;
                (
                    "fido-u2f".to_owned(),
                    Value::Map(vec![
                        (text("sig"), Value::Bytes(sig)),
                        (
                            text("x5c"),
                            Value::Array(vec![Value::Bytes(cert.der().to_vec())]),
                        ),
                    ]),
                )
            }
        };
        let attestation_object = match &self.overrides.attestation_object {
            Some(bytes) => bytes.clone(),
            None => cbor::to_vec(&Value::Map(vec![
                (
                    Value::Text("fmt".into()),
                    Value::Text(self.overrides.attestation_fmt.clone().unwrap_or(fmt)),
                ),
                (
                    Value::Text("attStmt".into()),
                    self.overrides.att_stmt.clone().unwrap_or(att_stmt),
                ),
                (
                    Value::Text("authData".into()),
                    Value::Bytes(auth_data.clone()),
                ),
            ]))?,
        };

        let mut response = json!({
            "clientDataJSON": b64url(&client_data_json),
            "attestationObject": b64url(&attestation_object),
            "authenticatorData": b64url(&auth_data),
            "transports": ["internal", "hybrid"],
            "publicKeyAlgorithm": self.overrides.cose_alg.unwrap_or(alg.cose_alg()),
        });
        if let (Some(spki), Some(map)) = (credential.key.spki_der(), response.as_object_mut()) {
            map.insert("publicKey".into(), json!(b64url(spki)));
        }
        let json = self.credential_json(&id, response);
        Ok((json.to_string(), credential))
    }

    /// Answers `navigator.credentials.get()` with these options from `origin`, using `credential`:
    /// returns the `AuthenticationResponseJSON` text. `allowCredentials` is not consulted.
    pub fn authenticate(
        &self,
        request_options_json: &str,
        origin: &str,
        credential: &Credential,
    ) -> Result<String, TestkitError> {
        let options = RequestOptions::parse(request_options_json)?;
        let rp_id = match &options.rp_id {
            Some(id) => id.clone(),
            None => default_rp_id(origin)?,
        };
        let count = match self.sign_counter {
            SignCounter::Increment => credential
                .counter
                .fetch_add(1, Ordering::SeqCst)
                .wrapping_add(1),
            SignCounter::Zero => 0,
        };
        let client_data_json = self.client_data_json("webauthn.get", &options.challenge, origin)?;
        let auth_data = self.auth_data(&rp_id, count, None);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(digest(&SHA256, &client_data_json).as_ref());
        let signature = self.signature(&credential.key, &signed)?;

        let mut response = json!({
            "clientDataJSON": b64url(&client_data_json),
            "authenticatorData": b64url(&auth_data),
            "signature": b64url(&signature),
        });
        let user_handle = match &self.overrides.user_handle {
            Some(choice) => choice.clone(),
            None => Some(credential.user_handle.clone()),
        };
        if let (Some(handle), Some(map)) = (user_handle, response.as_object_mut()) {
            map.insert("userHandle".into(), json!(b64url(handle)));
        }
        let id = self
            .overrides
            .credential_id
            .clone()
            .unwrap_or_else(|| credential.id.clone());
        Ok(self.credential_json(&id, response).to_string())
    }

    fn client_data_json(
        &self,
        ty: &str,
        challenge: &[u8],
        origin: &str,
    ) -> Result<Vec<u8>, TestkitError> {
        if let Some(raw) = &self.overrides.client_data_json {
            return Ok(raw.clone());
        }
        let challenge_text = b64url(challenge);
        let data = ClientData {
            ty: self.overrides.client_data_type.as_deref().unwrap_or(ty),
            challenge: self
                .overrides
                .challenge
                .as_deref()
                .unwrap_or(&challenge_text),
            origin: self.overrides.origin.as_deref().unwrap_or(origin),
            cross_origin: self.overrides.cross_origin.unwrap_or(false),
            top_origin: self.overrides.top_origin.as_deref(),
        };
        serde_json::to_vec(&data).map_err(|e| TestkitError::Cbor(e.to_string()))
    }

    fn auth_data(&self, rp_id: &str, count: u32, attested: Option<&[u8]>) -> Vec<u8> {
        if let Some(raw) = &self.overrides.auth_data {
            return raw.clone();
        }
        let o = &self.overrides;
        let rp_id_hash = match (o.rp_id_hash, &o.rp_id) {
            (Some(hash), _) => hash,
            (None, Some(id)) => sha256(id.as_bytes()),
            (None, None) => sha256(rp_id.as_bytes()),
        };
        let bit = |honest: bool, over: Option<bool>, mask: u8| {
            if over.unwrap_or(honest) { mask } else { 0 }
        };
        let flags_byte = o.flags_byte.unwrap_or(
            bit(true, o.flags.up, flags::UP)
                | bit(self.user_verified, o.flags.uv, flags::UV)
                | bit(self.backup_eligible, o.flags.be, flags::BE)
                | bit(self.backup_state, o.flags.bs, flags::BS)
                | bit(attested.is_some(), o.flags.at, flags::AT)
                | bit(o.extensions.is_some(), o.flags.ed, flags::ED),
        );
        let count = o.sign_count.unwrap_or(match self.sign_counter {
            SignCounter::Increment => count,
            SignCounter::Zero => 0,
        });
        let mut out = Vec::with_capacity(37 + attested.map_or(0, <[u8]>::len));
        out.extend_from_slice(&rp_id_hash);
        out.push(flags_byte);
        out.extend_from_slice(&count.to_be_bytes());
        if let Some(attested) = attested {
            out.extend_from_slice(attested);
        }
        if let Some(extensions) = &o.extensions {
            out.extend_from_slice(extensions);
        }
        out.extend_from_slice(&o.extra_auth_data);
        out
    }

    fn signature(&self, key: &SigningKey, message: &[u8]) -> Result<Vec<u8>, TestkitError> {
        let mut signature = match &self.overrides.signature {
            Some(sig) => sig.clone(),
            None => key.sign(message)?,
        };
        if self.overrides.corrupt_signature
            && let Some(last) = signature.last_mut()
        {
            *last ^= 0x01;
        }
        Ok(signature)
    }

    fn certificate_signature(
        &self,
        cert: &AttestationCert,
        message: &[u8],
    ) -> Result<Vec<u8>, TestkitError> {
        let mut signature = match &self.overrides.signature {
            Some(sig) => sig.clone(),
            None => cert.sign(message)?,
        };
        if self.overrides.corrupt_signature
            && let Some(last) = signature.last_mut()
        {
            *last ^= 0x01;
        }
        Ok(signature)
    }

    fn credential_json(&self, id: &[u8], response: serde_json::Value) -> serde_json::Value {
        let o = &self.overrides;
        json!({
            "id": o.id.clone().unwrap_or_else(|| b64url(id)),
            "rawId": o.raw_id.clone().unwrap_or_else(|| b64url(id)),
            "type": o.credential_type.as_deref().unwrap_or("public-key"),
            "response": response,
            "authenticatorAttachment": "platform",
            "clientExtensionResults": o.client_extension_results.clone().unwrap_or_else(|| json!({})),
        })
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest(&SHA256, data).as_ref());
    out
}
