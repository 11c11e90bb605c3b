//! A small in-test authenticator whose every field can be overridden, for building valid and broken ceremonies.

#![allow(dead_code)]

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ML_DSA_44_SIGNING,
    PqdsaKeyPair, RSA_PKCS1_SHA256,
};
use ciborium::Value;
use serde_json::json;
use tessera_webauthn::attestation::AttestationTrust;
use tessera_webauthn::base64url::encode;
use tessera_webauthn::{
    AuthenticationExpectation, AuthenticationResponseJSON, AuthenticatorPolicy, CredentialRecord,
    Mediation, OriginPolicy, RegistrationExpectation, RegistrationResponseJSON, UserIdentification,
};

pub const RP_ID: &str = "login.example.com";
pub const ORIGIN: &str = "https://login.example.com";
pub const CHALLENGE: &[u8] = b"0123456789abcdef0123456789abcdef";
pub const USER: &[u8] = b"user-handle-0001";
pub const AAGUID: [u8; 16] = [
    0xcb, 0x69, 0x48, 0x1e, 0x8f, 0xf7, 0x40, 0x39, 0x93, 0xec, 0x0a, 0x27, 0x29, 0xa1, 0x54, 0xa8,
];

pub const UP: u8 = 0x01;
pub const UV: u8 = 0x04;
pub const BE: u8 = 0x08;
pub const BS: u8 = 0x10;
pub const AT: u8 = 0x40;
pub const ED: u8 = 0x80;

pub fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

pub fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).expect("CBOR encoding");
    out
}

pub fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

/// A signing key of one of the algorithms the tests exercise.
pub enum TestKey {
    P256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
    MlDsa44(PqdsaKeyPair),
}

impl TestKey {
    pub fn p256() -> Self {
        Self::P256(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("P-256 key"))
    }
    pub fn ed25519() -> Self {
        Self::Ed25519(Ed25519KeyPair::generate().expect("Ed25519 key"))
    }
    pub fn rsa2048() -> Self {
        Self::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key"))
    }
    pub fn ml_dsa_44() -> Self {
        Self::MlDsa44(PqdsaKeyPair::generate(&ML_DSA_44_SIGNING).expect("ML-DSA key"))
    }

    pub fn alg(&self) -> i64 {
        match self {
            Self::P256(_) => -7,
            Self::Ed25519(_) => -8,
            Self::Rsa(_) => -257,
            Self::MlDsa44(_) => -48,
        }
    }

    /// The COSE_Key map.
    pub fn cose_value(&self) -> Value {
        match self {
            Self::P256(k) => {
                let point = k.public_key().as_ref();
                Value::Map(vec![
                    (int(1), int(2)),
                    (int(3), int(-7)),
                    (int(-1), int(1)),
                    (int(-2), Value::Bytes(point[1..33].to_vec())),
                    (int(-3), Value::Bytes(point[33..65].to_vec())),
                ])
            }
            Self::Ed25519(k) => Value::Map(vec![
                (int(1), int(1)),
                (int(3), int(-8)),
                (int(-1), int(6)),
                (int(-2), Value::Bytes(k.public_key().as_ref().to_vec())),
            ]),
            Self::Rsa(k) => {
                let (n, e) = rsa_public_components(k.public_key().as_ref());
                Value::Map(vec![
                    (int(1), int(3)),
                    (int(3), int(-257)),
                    (int(-1), Value::Bytes(n)),
                    (int(-2), Value::Bytes(e)),
                ])
            }
            Self::MlDsa44(k) => Value::Map(vec![
                (int(1), int(7)),
                (int(3), int(-48)),
                (int(-1), Value::Bytes(k.public_key().as_ref().to_vec())),
            ]),
        }
    }

    pub fn cose(&self) -> Vec<u8> {
        cbor(&self.cose_value())
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::P256(k) => k
                .sign(&SystemRandom::new(), message)
                .expect("sign")
                .as_ref()
                .to_vec(),
            Self::Ed25519(k) => k.sign(message).as_ref().to_vec(),
            Self::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
                    .expect("sign");
                sig
            }
            Self::MlDsa44(k) => {
                let mut sig = vec![0; 2420];
                let len = k.sign(message, &mut sig).expect("sign");
                sig.truncate(len);
                sig
            }
        }
    }
}

/// Reads `SEQUENCE { INTEGER n, INTEGER e }` (PKCS#1 RSAPublicKey).
fn rsa_public_components(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn read_tlv(input: &[u8]) -> (&[u8], &[u8]) {
        let (len, header) = match input[1] {
            l if l < 0x80 => (usize::from(l), 2),
            0x81 => (usize::from(input[2]), 3),
            0x82 => (usize::from(input[2]) << 8 | usize::from(input[3]), 4),
            _ => panic!("unexpected DER length"),
        };
        (&input[header..header + len], &input[header + len..])
    }
    let (seq, _) = read_tlv(der);
    let (n, rest) = read_tlv(seq);
    let (e, _) = read_tlv(rest);
    let strip = |b: &[u8]| {
        b.iter()
            .skip_while(|x| **x == 0)
            .copied()
            .collect::<Vec<u8>>()
    };
    (strip(n), strip(e))
}

/// Client data with every field settable.
#[derive(Clone)]
pub struct ClientData {
    pub type_: String,
    pub challenge: String,
    pub origin: String,
    pub cross_origin: Option<bool>,
    pub top_origin: Option<String>,
    /// Replaces the serialized JSON entirely.
    pub raw: Option<Vec<u8>>,
}

impl ClientData {
    pub fn new(type_: &str) -> Self {
        Self {
            type_: type_.to_owned(),
            challenge: encode(CHALLENGE),
            origin: ORIGIN.to_owned(),
            cross_origin: None,
            top_origin: None,
            raw: None,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let mut value =
            json!({"type": self.type_, "challenge": self.challenge, "origin": self.origin});
        if let Some(cross) = self.cross_origin {
            value["crossOrigin"] = json!(cross);
        }
        if let Some(top) = &self.top_origin {
            value["topOrigin"] = json!(top);
        }
        serde_json::to_vec(&value).expect("JSON")
    }
}

/// A registration to be produced by [`TestKey`], every field overridable.
pub struct Registration {
    pub key: TestKey,
    pub client_data: ClientData,
    pub rp_id: String,
    pub flags: u8,
    pub sign_count: u32,
    pub aaguid: [u8; 16],
    pub credential_id: Vec<u8>,
    /// `rawId` and `id` in the JSON (default: `credential_id`).
    pub raw_id: Option<Vec<u8>>,
    pub id: Option<String>,
    pub type_: String,
    /// Replaces the COSE key in authData.
    pub cose_key: Option<Vec<u8>>,
    pub extensions: Option<Value>,
    pub trailing: Vec<u8>,
    pub fmt: String,
    /// `None`: an empty map for `none`, a self-attestation for `packed`.
    pub att_stmt: Option<Value>,
    pub transports: serde_json::Value,
    pub client_extension_results: serde_json::Value,
}

impl Registration {
    pub fn new(key: TestKey) -> Self {
        Self {
            key,
            client_data: ClientData::new("webauthn.create"),
            rp_id: RP_ID.to_owned(),
            flags: UP | UV | AT,
            sign_count: 0,
            aaguid: AAGUID,
            credential_id: b"credential-0001-abcdef".to_vec(),
            raw_id: None,
            id: None,
            type_: "public-key".to_owned(),
            cose_key: None,
            extensions: None,
            trailing: Vec::new(),
            fmt: "none".to_owned(),
            att_stmt: None,
            transports: json!(["internal", "hybrid"]),
            client_extension_results: json!({"credProps": {"rk": true}}),
        }
    }

    pub fn auth_data(&self) -> Vec<u8> {
        let mut out = sha256(self.rp_id.as_bytes());
        let mut flags = self.flags;
        if self.extensions.is_some() {
            flags |= ED;
        }
        out.push(flags);
        out.extend_from_slice(&self.sign_count.to_be_bytes());
        if self.flags & AT != 0 {
            out.extend_from_slice(&self.aaguid);
            out.extend_from_slice(&(self.credential_id.len() as u16).to_be_bytes());
            out.extend_from_slice(&self.credential_id);
            out.extend_from_slice(&self.cose_key.clone().unwrap_or_else(|| self.key.cose()));
        }
        if let Some(ext) = &self.extensions {
            out.extend_from_slice(&cbor(ext));
        }
        out.extend_from_slice(&self.trailing);
        out
    }

    pub fn attestation_object(&self) -> Vec<u8> {
        let auth_data = self.auth_data();
        let client_data = self.client_data.to_bytes();
        let att_stmt = self.att_stmt.clone().unwrap_or_else(|| {
            if self.fmt == "packed" {
                let mut message = auth_data.clone();
                message.extend_from_slice(&sha256(&client_data));
                Value::Map(vec![
                    (Value::Text("alg".into()), int(self.key.alg())),
                    (
                        Value::Text("sig".into()),
                        Value::Bytes(self.key.sign(&message)),
                    ),
                ])
            } else {
                Value::Map(vec![])
            }
        });
        cbor(&Value::Map(vec![
            (Value::Text("fmt".into()), Value::Text(self.fmt.clone())),
            (Value::Text("attStmt".into()), att_stmt),
            (Value::Text("authData".into()), Value::Bytes(auth_data)),
        ]))
    }

    pub fn json(&self) -> serde_json::Value {
        let raw_id = self
            .raw_id
            .clone()
            .unwrap_or_else(|| self.credential_id.clone());
        json!({
            "id": self.id.clone().unwrap_or_else(|| encode(&raw_id)),
            "rawId": encode(&raw_id),
            "type": self.type_,
            "response": {
                "clientDataJSON": encode(&self.client_data.to_bytes()),
                "attestationObject": encode(&self.attestation_object()),
                "transports": self.transports,
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": self.client_extension_results,
        })
    }

    pub fn response(&self) -> RegistrationResponseJSON {
        RegistrationResponseJSON::from_json(&serde_json::to_vec(&self.json()).expect("JSON"))
            .expect("parsable response")
    }
}

/// An assertion to be produced by [`TestKey`], every field overridable.
pub struct Assertion<'k> {
    pub key: &'k TestKey,
    pub client_data: ClientData,
    pub rp_id: String,
    pub flags: u8,
    pub sign_count: u32,
    pub credential_id: Vec<u8>,
    pub id: Option<String>,
    pub type_: String,
    pub user_handle: Option<Vec<u8>>,
    pub extensions: Option<Value>,
    pub trailing: Vec<u8>,
    /// Replaces the signature.
    pub signature: Option<Vec<u8>>,
    pub client_extension_results: serde_json::Value,
}

impl<'k> Assertion<'k> {
    pub fn new(key: &'k TestKey) -> Self {
        Self {
            key,
            client_data: ClientData::new("webauthn.get"),
            rp_id: RP_ID.to_owned(),
            flags: UP | UV,
            sign_count: 0,
            credential_id: b"credential-0001-abcdef".to_vec(),
            id: None,
            type_: "public-key".to_owned(),
            user_handle: Some(USER.to_vec()),
            extensions: None,
            trailing: Vec::new(),
            signature: None,
            client_extension_results: json!({}),
        }
    }

    pub fn auth_data(&self) -> Vec<u8> {
        let mut out = sha256(self.rp_id.as_bytes());
        let mut flags = self.flags;
        if self.extensions.is_some() {
            flags |= ED;
        }
        out.push(flags);
        out.extend_from_slice(&self.sign_count.to_be_bytes());
        if let Some(ext) = &self.extensions {
            out.extend_from_slice(&cbor(ext));
        }
        out.extend_from_slice(&self.trailing);
        out
    }

    pub fn json(&self) -> serde_json::Value {
        let auth_data = self.auth_data();
        let client_data = self.client_data.to_bytes();
        let signature = self.signature.clone().unwrap_or_else(|| {
            let mut message = auth_data.clone();
            message.extend_from_slice(&sha256(&client_data));
            self.key.sign(&message)
        });
        json!({
            "id": self.id.clone().unwrap_or_else(|| encode(&self.credential_id)),
            "rawId": encode(&self.credential_id),
            "type": self.type_,
            "response": {
                "clientDataJSON": encode(&client_data),
                "authenticatorData": encode(&auth_data),
                "signature": encode(&signature),
                "userHandle": self.user_handle.as_ref().map(|h| encode(h)),
            },
            "authenticatorAttachment": "cross-platform",
            "clientExtensionResults": self.client_extension_results,
        })
    }

    pub fn response(&self) -> AuthenticationResponseJSON {
        AuthenticationResponseJSON::from_json(&serde_json::to_vec(&self.json()).expect("JSON"))
            .expect("parsable response")
    }
}

/// The values an expectation borrows.
pub struct Env {
    pub origins: OriginPolicy,
    pub rp_ids: Vec<String>,
    pub algorithms: Vec<i64>,
    pub policy: AuthenticatorPolicy,
    pub allow: Vec<Vec<u8>>,
}

impl Env {
    pub fn new() -> Self {
        Self {
            origins: OriginPolicy::new(vec![ORIGIN.to_owned()]),
            rp_ids: vec![RP_ID.to_owned()],
            algorithms: vec![-7, -8, -257, -37, -35, -48, -49, -50],
            policy: AuthenticatorPolicy::default(),
            allow: Vec::new(),
        }
    }

    pub fn registration(&self) -> RegistrationExpectation<'_> {
        RegistrationExpectation {
            challenge: CHALLENGE,
            origins: &self.origins,
            rp_ids: &self.rp_ids,
            algorithms: &self.algorithms,
            mediation: Mediation::Modal,
            policy: &self.policy,
            trust: AttestationTrust::new(
                time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000),
            ),
        }
    }

    pub fn authentication(&self) -> AuthenticationExpectation<'_> {
        AuthenticationExpectation {
            challenge: CHALLENGE,
            origins: &self.origins,
            rp_ids: &self.rp_ids,
            appid: None,
            allow_credentials: &self.allow,
            user: UserIdentification::Discoverable,
            policy: &self.policy,
        }
    }
}

/// The stored record for `key` as registered by [`Registration::new`].
pub fn record_for(key: &TestKey) -> CredentialRecord {
    CredentialRecord {
        credential_id: b"credential-0001-abcdef".to_vec(),
        user_handle: USER.to_vec(),
        public_key: key.cose(),
        sign_count: 0,
        backup_eligible: false,
        backup_state: false,
        uv_initialized: true,
        transports: Vec::new(),
    }
}
