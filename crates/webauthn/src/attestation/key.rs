//! The credential public key as attestation needs it: raw parameters read from its COSE_Key CBOR, compared with
//! certificate keys and TPM public areas, and used to check self attestation signatures.

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use ciborium::Value;

use super::AttestationError;
use super::x509::{self, SpkiKey};

/// COSE algorithm identifiers used by attestation statements.
pub(crate) mod alg {
    pub const ES256: i64 = -7;
    pub const EDDSA: i64 = -8;
    pub const ES384: i64 = -35;
    pub const ES512: i64 = -36;
    pub const PS256: i64 = -37;
    pub const PS384: i64 = -38;
    pub const PS512: i64 = -39;
    pub const RS256: i64 = -257;
    pub const RS384: i64 = -258;
    pub const RS512: i64 = -259;
    pub const RS1: i64 = -65535;
}

/// Named elliptic curves (COSE `crv` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
    P521,
    Ed25519,
}

/// The credential key's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CredentialKey {
    /// An ML-DSA key (COSE kty AKP = 7); added by A so `none`/self attestation accept ML-DSA credentials.
    Akp {
        alg: i64,
        public: Vec<u8>,
    },
    Ec2 {
        alg: i64,
        curve: Curve,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    Rsa {
        alg: i64,
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Okp {
        alg: i64,
        curve: Curve,
        x: Vec<u8>,
    },
}

fn int_of(v: &Value) -> Option<i64> {
    v.as_integer().and_then(|i| i64::try_from(i).ok())
}

fn malformed(reason: &'static str) -> AttestationError {
    AttestationError::CredentialKeyMalformed { reason }
}

/// Strips leading zero bytes of a big-endian unsigned integer.
pub(crate) fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

impl CredentialKey {
    /// Parses the COSE_Key CBOR of the attested credential data.
    pub(crate) fn from_cose(cbor: &[u8]) -> Result<Self, AttestationError> {
        let value: Value = ciborium::de::from_reader(cbor).map_err(|_| malformed("not CBOR"))?;
        let map = value.as_map().ok_or(malformed("not a CBOR map"))?;
        let get = |label: i64| {
            map.iter()
                .find(|(k, _)| int_of(k) == Some(label))
                .map(|(_, v)| v)
        };
        let bytes = |label: i64, what: &'static str| -> Result<Vec<u8>, AttestationError> {
            get(label)
                .and_then(Value::as_bytes)
                .cloned()
                .ok_or(malformed(what))
        };
        let kty = get(1).and_then(int_of).ok_or(malformed("kty missing"))?;
        let alg = get(3).and_then(int_of).ok_or(malformed("alg missing"))?;
        match kty {
            2 => {
                let curve = match get(-1).and_then(int_of) {
                    Some(1) => Curve::P256,
                    Some(2) => Curve::P384,
                    Some(3) => Curve::P521,
                    _ => return Err(malformed("unsupported EC2 curve")),
                };
                let x = bytes(-2, "EC2 x missing")?;
                let y = bytes(-3, "EC2 y missing")?;
                let size = curve_size(curve);
                if x.len() != size || y.len() != size {
                    return Err(malformed("EC2 coordinate length"));
                }
                Ok(Self::Ec2 { alg, curve, x, y })
            }
            3 => Ok(Self::Rsa {
                alg,
                n: bytes(-1, "RSA n missing")?,
                e: bytes(-2, "RSA e missing")?,
            }),
            1 => {
                let curve = match get(-1).and_then(int_of) {
                    Some(6) => Curve::Ed25519,
                    _ => return Err(malformed("unsupported OKP curve")),
                };
                let x = bytes(-2, "OKP x missing")?;
                if x.len() != 32 {
                    return Err(malformed("Ed25519 key length"));
                }
                Ok(Self::Okp { alg, curve, x })
            }
            7 => Ok(Self::Akp {
                alg,
                public: bytes(-1, "AKP pub missing")?,
            }),
            _ => Err(malformed("unsupported key type")),
        }
    }

    /// The COSE algorithm the key declares.
    pub(crate) fn alg(&self) -> i64 {
        match self {
            Self::Ec2 { alg, .. }
            | Self::Rsa { alg, .. }
            | Self::Okp { alg, .. }
            | Self::Akp { alg, .. } => *alg,
        }
    }

    /// Whether a certificate's subject public key is this key.
    pub(crate) fn matches_spki(&self, spki: &SpkiKey<'_>) -> bool {
        match (self, spki) {
            (Self::Ec2 { curve, x, y, .. }, SpkiKey::Ec { curve: c, point }) => {
                curve == c && point.len() == 1 + x.len() + y.len() && point[0] == 0x04 && {
                    let (px, py) = point[1..].split_at(x.len());
                    px == x.as_slice() && py == y.as_slice()
                }
            }
            (Self::Rsa { n, e, .. }, SpkiKey::Rsa { n: cn, e: ce, .. }) => {
                strip_zeros(n) == strip_zeros(cn) && strip_zeros(e) == strip_zeros(ce)
            }
            (Self::Okp { x, .. }, SpkiKey::Ed25519 { key }) => x.as_slice() == *key,
            _ => false,
        }
    }

    /// Verifies `signature` over `message` with this key under COSE algorithm `alg` (self attestation).
    pub(crate) fn verify(
        &self,
        alg: i64,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), AttestationError> {
        let bad = AttestationError::SignatureInvalid;
        match self {
            Self::Ec2 { curve, x, y, .. } => {
                let algorithm = x509::ecdsa_for(*curve, alg)?;
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                UnparsedPublicKey::new(algorithm, point)
                    .verify(message, signature)
                    .map_err(|_| bad)
            }
            Self::Rsa { n, e, .. } => {
                let params = x509::rsa_for(alg)?;
                let key = RsaPublicKeyComponents {
                    n: strip_zeros(n),
                    e: strip_zeros(e),
                };
                key.verify(params, message, signature).map_err(|_| bad)
            }
            Self::Okp { x, .. } => {
                if alg != alg::EDDSA {
                    return Err(AttestationError::AlgorithmUnsupported { alg });
                }
                UnparsedPublicKey::new(&signature::ED25519, x)
                    .verify(message, signature)
                    .map_err(|_| bad)
            }
            Self::Akp {
                alg: key_alg,
                public,
            } => {
                let algorithm: &'static signature::PqdsaVerificationAlgorithm =
                    match (alg, *key_alg) {
                        (-48, -48) => &signature::ML_DSA_44,
                        (-49, -49) => &signature::ML_DSA_65,
                        (-50, -50) => &signature::ML_DSA_87,
                        _ => return Err(AttestationError::AlgorithmUnsupported { alg }),
                    };
                UnparsedPublicKey::new(algorithm, public)
                    .verify(message, signature)
                    .map_err(|_| bad)
            }
        }
    }
}

/// Coordinate size in bytes of a Weierstrass curve.
pub(crate) fn curve_size(curve: Curve) -> usize {
    match curve {
        Curve::P256 | Curve::Ed25519 => 32,
        Curve::P384 => 48,
        Curve::P521 => 66,
    }
}
