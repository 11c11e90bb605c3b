//! Credential key pairs on aws-lc-rs, and their COSE and SPKI encodings.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaKeyPair,
};
use ciborium::Value;

use crate::error::TestkitError;

/// COSE key type labels and values (RFC 9052/9053).
const KTY: i64 = 1;
const ALG: i64 = 3;
const CRV_OR_N: i64 = -1;
const X_OR_E: i64 = -2;
const Y: i64 = -3;
const KTY_OKP: i64 = 1;
const KTY_EC2: i64 = 2;
const KTY_RSA: i64 = 3;
const CRV_P256: i64 = 1;
const CRV_P384: i64 = 2;
const CRV_ED25519: i64 = 6;

/// A signature algorithm the malicious authenticator can make keys for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlg {
    /// ECDSA on P-256 with SHA-256 (COSE -7).
    Es256,
    /// ECDSA on P-384 with SHA-384 (COSE -35).
    Es384,
    /// EdDSA on Ed25519 (COSE -8).
    Ed25519,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit modulus (COSE -257).
    Rs256,
    /// RSASSA-PSS with SHA-256, 2048-bit modulus (COSE -37).
    Ps256,
}

impl KeyAlg {
    /// Every algorithm, in the order an authenticator prefers them.
    pub const ALL: [KeyAlg; 5] = [
        KeyAlg::Es256,
        KeyAlg::Ed25519,
        KeyAlg::Es384,
        KeyAlg::Rs256,
        KeyAlg::Ps256,
    ];

    /// The COSE algorithm identifier.
    pub const fn cose_alg(self) -> i64 {
        match self {
            KeyAlg::Es256 => -7,
            KeyAlg::Es384 => -35,
            KeyAlg::Ed25519 => -8,
            KeyAlg::Rs256 => -257,
            KeyAlg::Ps256 => -37,
        }
    }

    /// The algorithm with this COSE identifier, if supported.
    pub fn from_cose(alg: i64) -> Option<KeyAlg> {
        KeyAlg::ALL.into_iter().find(|a| a.cose_alg() == alg)
    }
}

enum Inner {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// A credential private key.
pub struct SigningKey {
    alg: KeyAlg,
    inner: Inner,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("private", &"[redacted]")
            .finish()
    }
}

impl SigningKey {
    /// Generates a fresh key pair for `alg`.
    pub fn generate(alg: KeyAlg) -> Result<SigningKey, TestkitError> {
        let failed = |_| TestkitError::KeyGeneration(alg);
        let inner = match alg {
            KeyAlg::Es256 => Inner::Ecdsa(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).map_err(failed)?,
            ),
            KeyAlg::Es384 => Inner::Ecdsa(
                EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING).map_err(failed)?,
            ),
            KeyAlg::Ed25519 => Inner::Ed25519(Ed25519KeyPair::generate().map_err(failed)?),
            KeyAlg::Rs256 | KeyAlg::Ps256 => {
                Inner::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).map_err(failed)?)
            }
        };
        Ok(SigningKey { alg, inner })
    }

    /// The key's algorithm.
    pub fn alg(&self) -> KeyAlg {
        self.alg
    }

    /// Signs `message` as WebAuthn expects for the algorithm (ECDSA signatures DER-encoded).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, TestkitError> {
        let rng = SystemRandom::new();
        let failed = |_| TestkitError::Signing(self.alg);
        match &self.inner {
            Inner::Ecdsa(key) => Ok(key.sign(&rng, message).map_err(failed)?.as_ref().to_vec()),
            Inner::Ed25519(key) => Ok(key.sign(message).as_ref().to_vec()),
            Inner::Rsa(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                let padding = if self.alg == KeyAlg::Ps256 {
                    &RSA_PSS_SHA256
                } else {
                    &RSA_PKCS1_SHA256
                };
                key.sign(padding, &rng, message, &mut signature)
                    .map_err(failed)?;
                Ok(signature)
            }
        }
    }

    /// The public key as a COSE_Key map whose `alg` label is `alg_label`.
    pub fn cose_public_key_value(&self, alg_label: i64) -> Value {
        let int = |i: i64| Value::Integer(i.into());
        let mut entries = Vec::with_capacity(5);
        match &self.inner {
            Inner::Ecdsa(key) => {
                let point = key.public_key().as_ref();
                let coordinates = point.get(1..).unwrap_or_default();
                let (x, y) = coordinates.split_at(coordinates.len() / 2);
                let crv = if self.alg == KeyAlg::Es384 {
                    CRV_P384
                } else {
                    CRV_P256
                };
                entries.push((int(KTY), int(KTY_EC2)));
                entries.push((int(ALG), int(alg_label)));
                entries.push((int(CRV_OR_N), int(crv)));
                entries.push((int(X_OR_E), Value::Bytes(x.to_vec())));
                entries.push((int(Y), Value::Bytes(y.to_vec())));
            }
            Inner::Ed25519(key) => {
                entries.push((int(KTY), int(KTY_OKP)));
                entries.push((int(ALG), int(alg_label)));
                entries.push((int(CRV_OR_N), int(CRV_ED25519)));
                entries.push((
                    int(X_OR_E),
                    Value::Bytes(key.public_key().as_ref().to_vec()),
                ));
            }
            Inner::Rsa(key) => {
                let public = key.public_key();
                entries.push((int(KTY), int(KTY_RSA)));
                entries.push((int(ALG), int(alg_label)));
                entries.push((
                    int(CRV_OR_N),
                    Value::Bytes(public.modulus().big_endian_without_leading_zero().to_vec()),
                ));
                entries.push((
                    int(X_OR_E),
                    Value::Bytes(public.exponent().big_endian_without_leading_zero().to_vec()),
                ));
            }
        }
        Value::Map(entries)
    }

    /// The uncompressed EC point (`0x04 || x || y`) of an ECDSA key; `None` for other keys.
    pub fn uncompressed_point(&self) -> Option<Vec<u8>> {
        match &self.inner {
            Inner::Ecdsa(key) => Some(key.public_key().as_ref().to_vec()),
            Inner::Ed25519(_) | Inner::Rsa(_) => None,
        }
    }

    /// The public key as COSE_Key bytes (CTAP2 canonical order), with its true `alg`.
    pub fn cose_public_key(&self) -> Result<Vec<u8>, TestkitError> {
        crate::cbor::to_vec(&self.cose_public_key_value(self.alg.cose_alg()))
    }

    /// The public key as a DER SubjectPublicKeyInfo (the `publicKey` member of the JSON response).
    pub fn spki_der(&self) -> Option<Vec<u8>> {
        let der = match &self.inner {
            Inner::Ecdsa(key) => key.public_key().as_der().ok()?.as_ref().to_vec(),
            Inner::Ed25519(key) => key.public_key().as_der().ok()?.as_ref().to_vec(),
            Inner::Rsa(key) => key.public_key().as_der().ok()?.as_ref().to_vec(),
        };
        Some(der)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alg_signs_and_encodes_a_cose_key() {
        for alg in KeyAlg::ALL {
            let key = SigningKey::generate(alg).unwrap();
            assert!(!key.sign(b"message").unwrap().is_empty());
            let cose: Value =
                ciborium::from_reader(key.cose_public_key().unwrap().as_slice()).unwrap();
            let map = cose.as_map().unwrap();
            let alg_entry = map
                .iter()
                .find(|(k, _)| k.as_integer() == Some(3.into()))
                .unwrap();
            assert_eq!(alg_entry.1.as_integer(), Some(alg.cose_alg().into()));
            assert!(key.spki_der().is_some());
        }
    }

    #[test]
    fn ecdsa_coordinates_have_the_curve_length() {
        let key = SigningKey::generate(KeyAlg::Es384).unwrap();
        let cose = key.cose_public_key_value(-35);
        let map = cose.as_map().unwrap();
        for (label, len) in [(-2_i64, 48_usize), (-3, 48)] {
            let (_, v) = map
                .iter()
                .find(|(k, _)| k.as_integer() == Some(label.into()))
                .unwrap();
            assert_eq!(v.as_bytes().unwrap().len(), len);
        }
    }
}
