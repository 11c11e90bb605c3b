//! COSE public keys (RFC 9052/9053, RFC 8230 for RSA, draft-ietf-cose-dilithium for ML-DSA) as WebAuthn
//! authenticators send them, parsed strictly and verified with aws-lc-rs.
//!
//! Strict means: `alg` is required and must belong to the key type, the curve must match the algorithm, EC points
//! must be uncompressed and on the curve, RSA moduli are 2048 to 8192 bits, duplicate labels are refused, and nothing
//! may follow the key.

use crate::error::WebauthnError;
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents, VerificationAlgorithm};
use ciborium::Value;
use std::fmt;

/// Largest COSE key accepted (an ML-DSA-87 key is 2592 bytes of key material).
pub const MAX_COSE_KEY_LEN: usize = 8 * 1024;

/// COSE algorithms Tessera knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CoseAlgorithm {
    /// ECDSA with SHA-256 on P-256 (-7).
    Es256,
    /// ECDSA with SHA-384 on P-384 (-35).
    Es384,
    /// ECDSA with SHA-512 on P-521 (-36).
    Es512,
    /// ECDSA with SHA-256, fully specified to P-256 (ESP256, -9).
    Esp256,
    /// EdDSA (-8); Tessera accepts the Ed25519 curve only.
    EdDsa,
    /// Ed25519, fully specified (-19).
    Ed25519,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (-257).
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384 (-258).
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512 (-259).
    Rs512,
    /// RSASSA-PSS with SHA-256 (-37).
    Ps256,
    /// RSASSA-PSS with SHA-384 (-38).
    Ps384,
    /// RSASSA-PSS with SHA-512 (-39).
    Ps512,
    /// ML-DSA-44 (-48).
    MlDsa44,
    /// ML-DSA-65 (-49).
    MlDsa65,
    /// ML-DSA-87 (-50).
    MlDsa87,
    /// RSASSA-PKCS1-v1_5 with SHA-1 (-65535): parsed, but verified only through
    /// [`CoseKey::insecure_verify_signature_allowing_rs1`].
    InsecureRs1,
}

impl CoseAlgorithm {
    /// Every algorithm, for iteration.
    pub const ALL: &'static [Self] = &[
        Self::Es256,
        Self::Es384,
        Self::Es512,
        Self::Esp256,
        Self::EdDsa,
        Self::Ed25519,
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::MlDsa44,
        Self::MlDsa65,
        Self::MlDsa87,
        Self::InsecureRs1,
    ];

    /// The COSE algorithm identifier.
    #[must_use]
    pub fn id(self) -> i64 {
        match self {
            Self::Es256 => -7,
            Self::Es384 => -35,
            Self::Es512 => -36,
            Self::Esp256 => -9,
            Self::EdDsa => -8,
            Self::Ed25519 => -19,
            Self::Rs256 => -257,
            Self::Rs384 => -258,
            Self::Rs512 => -259,
            Self::Ps256 => -37,
            Self::Ps384 => -38,
            Self::Ps512 => -39,
            Self::MlDsa44 => -48,
            Self::MlDsa65 => -49,
            Self::MlDsa87 => -50,
            Self::InsecureRs1 => -65535,
        }
    }

    /// The algorithm with this COSE identifier, if Tessera knows it.
    #[must_use]
    pub fn from_id(id: i64) -> Option<Self> {
        Self::ALL.iter().copied().find(|alg| alg.id() == id)
    }

    /// The conventional name (`ES256`, `EdDSA`, `ML-DSA-65`...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
            Self::Esp256 => "ESP256",
            Self::EdDsa => "EdDSA",
            Self::Ed25519 => "Ed25519",
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::MlDsa44 => "ML-DSA-44",
            Self::MlDsa65 => "ML-DSA-65",
            Self::MlDsa87 => "ML-DSA-87",
            Self::InsecureRs1 => "RS1",
        }
    }

    fn key_type(self) -> i64 {
        match self {
            Self::Es256 | Self::Es384 | Self::Es512 | Self::Esp256 => KTY_EC2,
            Self::EdDsa | Self::Ed25519 => KTY_OKP,
            Self::Rs256
            | Self::Rs384
            | Self::Rs512
            | Self::Ps256
            | Self::Ps384
            | Self::Ps512
            | Self::InsecureRs1 => KTY_RSA,
            Self::MlDsa44 | Self::MlDsa65 | Self::MlDsa87 => KTY_AKP,
        }
    }
}

impl fmt::Display for CoseAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.id())
    }
}

const KTY_OKP: i64 = 1;
const KTY_EC2: i64 = 2;
const KTY_RSA: i64 = 3;
const KTY_AKP: i64 = 7;
const CRV_P256: i64 = 1;
const CRV_P384: i64 = 2;
const CRV_P521: i64 = 3;
const CRV_ED25519: i64 = 6;

/// The key material of a [`CoseKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoseKeyParams {
    /// An elliptic-curve key with both coordinates (kty 2).
    Ec2 {
        /// COSE curve (1 = P-256, 2 = P-384, 3 = P-521).
        crv: i64,
        /// x coordinate, big-endian, field-size bytes.
        x: Vec<u8>,
        /// y coordinate, big-endian, field-size bytes.
        y: Vec<u8>,
    },
    /// An octet key pair (kty 1): Ed25519.
    Okp {
        /// COSE curve (6 = Ed25519).
        crv: i64,
        /// The public key.
        x: Vec<u8>,
    },
    /// An RSA key (kty 3).
    Rsa {
        /// Modulus, big-endian without leading zeros.
        n: Vec<u8>,
        /// Public exponent, big-endian.
        e: Vec<u8>,
    },
    /// An algorithm key pair (kty 7): ML-DSA.
    Akp {
        /// The raw public key.
        public: Vec<u8>,
    },
}

/// A credential public key, parsed and ready to verify signatures.
#[derive(Clone)]
pub struct CoseKey {
    alg: CoseAlgorithm,
    params: CoseKeyParams,
    verifier: ParsedPublicKey,
}

impl fmt::Debug for CoseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoseKey")
            .field("alg", &self.alg)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PartialEq for CoseKey {
    fn eq(&self, other: &Self) -> bool {
        self.alg == other.alg && self.params == other.params
    }
}

impl Eq for CoseKey {}

fn invalid(reason: impl Into<String>) -> WebauthnError {
    WebauthnError::CoseKeyInvalid(reason.into())
}

/// Reads one CBOR item from the front of `bytes`; returns it and the number of bytes it took.
pub(crate) fn read_cbor_prefix(bytes: &[u8]) -> Result<(Value, usize), String> {
    let mut rest = bytes;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut rest, 16)
        .map_err(|e| format!("bad CBOR: {e}"))?;
    Ok((value, bytes.len() - rest.len()))
}

fn int_of(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(i) => i64::try_from(i128::from(*i)).ok(),
        _ => None,
    }
}

impl CoseKey {
    /// Parses a COSE_Key from CBOR; the whole input must be the key.
    ///
    /// # Errors
    /// [`WebauthnError::CoseKeyInvalid`], [`WebauthnError::AlgorithmUnsupported`], [`WebauthnError::CurveMismatch`],
    /// [`WebauthnError::EcPointInvalid`] or [`WebauthnError::RsaKeySize`].
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, WebauthnError> {
        let (key, used) = Self::from_cbor_prefix(bytes)?;
        if used != bytes.len() {
            return Err(invalid(format!(
                "{} bytes after the key",
                bytes.len() - used
            )));
        }
        Ok(key)
    }

    /// Parses a COSE_Key from the front of `bytes`; returns the key and the number of bytes it took.
    ///
    /// # Errors
    /// As [`CoseKey::from_cbor`].
    pub fn from_cbor_prefix(bytes: &[u8]) -> Result<(Self, usize), WebauthnError> {
        if bytes.len() > MAX_COSE_KEY_LEN * 2 {
            // The key may be followed by extensions; only bound the read itself.
            let (value, used) =
                read_cbor_prefix(&bytes[..MAX_COSE_KEY_LEN * 2]).map_err(invalid)?;
            return Ok((Self::from_value(&value, used)?, used));
        }
        let (value, used) = read_cbor_prefix(bytes).map_err(invalid)?;
        Ok((Self::from_value(&value, used)?, used))
    }

    fn from_value(value: &Value, encoded_len: usize) -> Result<Self, WebauthnError> {
        if encoded_len > MAX_COSE_KEY_LEN {
            return Err(WebauthnError::InputTooLarge {
                field: "credentialPublicKey",
                len: encoded_len,
                max: MAX_COSE_KEY_LEN,
            });
        }
        let Value::Map(entries) = value else {
            return Err(invalid("not a CBOR map"));
        };
        let mut kty = None;
        let mut alg = None;
        let mut m1: Option<&Value> = None;
        let mut m2: Option<&Value> = None;
        let mut m3: Option<&Value> = None;
        for (label, v) in entries {
            let label = int_of(label).ok_or_else(|| invalid("a label is not an integer"))?;
            let slot = match label {
                1 => {
                    if kty
                        .replace(int_of(v).ok_or_else(|| invalid("kty is not an integer"))?)
                        .is_some()
                    {
                        return Err(invalid("duplicate label 1 (kty)"));
                    }
                    continue;
                }
                3 => {
                    if alg
                        .replace(int_of(v).ok_or_else(|| invalid("alg is not an integer"))?)
                        .is_some()
                    {
                        return Err(invalid("duplicate label 3 (alg)"));
                    }
                    continue;
                }
                -1 => &mut m1,
                -2 => &mut m2,
                -3 => &mut m3,
                // Other labels (kid, key_ops, base IV) carry nothing a verifier needs.
                _ => continue,
            };
            if slot.replace(v).is_some() {
                return Err(invalid(format!("duplicate label {label}")));
            }
        }
        let kty = kty.ok_or_else(|| invalid("kty (1) is missing"))?;
        let alg_id = alg.ok_or_else(|| invalid("alg (3) is missing"))?;
        let alg =
            CoseAlgorithm::from_id(alg_id).ok_or(WebauthnError::AlgorithmUnsupported(alg_id))?;
        if alg.key_type() != kty {
            return Err(invalid(format!(
                "key type {kty} does not belong with algorithm {alg}"
            )));
        }
        let bytes_of = |v: Option<&Value>, name: &str| -> Result<Vec<u8>, WebauthnError> {
            match v {
                Some(Value::Bytes(b)) => Ok(b.clone()),
                Some(_) => Err(invalid(format!("{name} is not a byte string"))),
                None => Err(invalid(format!("{name} is missing"))),
            }
        };
        let params = match kty {
            KTY_EC2 => {
                let crv = m1
                    .and_then(int_of)
                    .ok_or_else(|| invalid("crv (-1) is missing"))?;
                let x = bytes_of(m2, "x (-2)")?;
                let y = bytes_of(m3, "y (-3)")?;
                CoseKeyParams::Ec2 { crv, x, y }
            }
            KTY_OKP => {
                let crv = m1
                    .and_then(int_of)
                    .ok_or_else(|| invalid("crv (-1) is missing"))?;
                CoseKeyParams::Okp {
                    crv,
                    x: bytes_of(m2, "x (-2)")?,
                }
            }
            KTY_RSA => CoseKeyParams::Rsa {
                n: bytes_of(m1, "n (-1)")?,
                e: bytes_of(m2, "e (-2)")?,
            },
            _ => CoseKeyParams::Akp {
                public: bytes_of(m1, "pub (-1)")?,
            },
        };
        Self::from_params(alg, params)
    }

    /// Builds a key from its algorithm and material, with the same checks as parsing.
    ///
    /// # Errors
    /// As [`CoseKey::from_cbor`].
    pub fn from_params(alg: CoseAlgorithm, params: CoseKeyParams) -> Result<Self, WebauthnError> {
        let verifier = match (&params, alg) {
            (CoseKeyParams::Ec2 { crv, x, y }, _) => {
                let (want_crv, size, algorithm): (i64, usize, &'static dyn VerificationAlgorithm) =
                    match alg {
                        CoseAlgorithm::Es256 | CoseAlgorithm::Esp256 => {
                            (CRV_P256, 32, &signature::ECDSA_P256_SHA256_ASN1)
                        }
                        CoseAlgorithm::Es384 => (CRV_P384, 48, &signature::ECDSA_P384_SHA384_ASN1),
                        CoseAlgorithm::Es512 => (CRV_P521, 66, &signature::ECDSA_P521_SHA512_ASN1),
                        _ => return Err(invalid(format!("an EC2 key cannot be used with {alg}"))),
                    };
                if *crv != want_crv {
                    return Err(WebauthnError::CurveMismatch {
                        alg: alg.id(),
                        crv: *crv,
                    });
                }
                if x.len() != size || y.len() != size {
                    return Err(invalid(format!(
                        "coordinates must be {size} bytes (x is {}, y is {})",
                        x.len(),
                        y.len()
                    )));
                }
                let mut point = Vec::with_capacity(1 + 2 * size);
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                ParsedPublicKey::new(algorithm, point).map_err(|_| WebauthnError::EcPointInvalid)?
            }
            (CoseKeyParams::Okp { crv, x }, CoseAlgorithm::EdDsa | CoseAlgorithm::Ed25519) => {
                if *crv != CRV_ED25519 {
                    return Err(WebauthnError::CurveMismatch {
                        alg: alg.id(),
                        crv: *crv,
                    });
                }
                if x.len() != 32 {
                    return Err(invalid(format!(
                        "an Ed25519 key is 32 bytes, not {}",
                        x.len()
                    )));
                }
                ParsedPublicKey::new(&signature::ED25519, x)
                    .map_err(|_| WebauthnError::EcPointInvalid)?
            }
            (CoseKeyParams::Rsa { n, e }, _) => {
                let params_alg: &'static signature::RsaParameters = match alg {
                    CoseAlgorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    CoseAlgorithm::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    CoseAlgorithm::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    CoseAlgorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
                    CoseAlgorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
                    CoseAlgorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
                    CoseAlgorithm::InsecureRs1 => {
                        &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
                    }
                    _ => return Err(invalid(format!("an RSA key cannot be used with {alg}"))),
                };
                let n_trimmed = strip_leading_zeros(n);
                let bits = n_trimmed
                    .first()
                    .map_or(0, |top| n_trimmed.len() * 8 - top.leading_zeros() as usize);
                if !(2048..=8192).contains(&bits) {
                    return Err(WebauthnError::RsaKeySize { bits });
                }
                let e_trimmed = strip_leading_zeros(e);
                if e_trimmed.is_empty()
                    || e_trimmed.len() > 4
                    || e_trimmed.last().is_none_or(|low| low & 1 == 0)
                    || e_trimmed == [1]
                {
                    return Err(invalid(
                        "the RSA public exponent must be odd, greater than 1, at most 32 bits",
                    ));
                }
                RsaPublicKeyComponents {
                    n: n_trimmed,
                    e: e_trimmed,
                }
                .to_parsed_public_key(params_alg)
                .map_err(|_| invalid("RSA key rejected"))?
            }
            (CoseKeyParams::Akp { public }, _) => {
                let (len, algorithm): (usize, &'static dyn VerificationAlgorithm) = match alg {
                    CoseAlgorithm::MlDsa44 => (1312, &signature::ML_DSA_44),
                    CoseAlgorithm::MlDsa65 => (1952, &signature::ML_DSA_65),
                    CoseAlgorithm::MlDsa87 => (2592, &signature::ML_DSA_87),
                    _ => return Err(invalid(format!("an AKP key cannot be used with {alg}"))),
                };
                if public.len() != len {
                    return Err(invalid(format!(
                        "an {} key is {len} bytes, not {}",
                        alg.name(),
                        public.len()
                    )));
                }
                ParsedPublicKey::new(algorithm, public)
                    .map_err(|_| invalid("ML-DSA key rejected"))?
            }
            (CoseKeyParams::Okp { .. }, _) => {
                return Err(invalid(format!("an OKP key cannot be used with {alg}")));
            }
        };
        Ok(Self {
            alg,
            params,
            verifier,
        })
    }

    /// The key's COSE algorithm.
    #[must_use]
    pub fn algorithm(&self) -> CoseAlgorithm {
        self.alg
    }

    /// The key material.
    #[must_use]
    pub fn params(&self) -> &CoseKeyParams {
        &self.params
    }

    /// For EC2 keys, the SEC1 uncompressed point `04 || x || y` (what FIDO U2F attestation signs over).
    #[must_use]
    pub fn ec_uncompressed_point(&self) -> Option<Vec<u8>> {
        match &self.params {
            CoseKeyParams::Ec2 { x, y, .. } => {
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                Some(point)
            }
            _ => None,
        }
    }

    /// Verifies `signature` over `message` (ECDSA signatures are DER, as WebAuthn specifies). RS1 is refused here.
    ///
    /// # Errors
    /// [`WebauthnError::BadSignature`], or [`WebauthnError::AlgorithmNotAllowed`] for an RS1 key.
    pub fn verify_signature(&self, message: &[u8], signature: &[u8]) -> Result<(), WebauthnError> {
        if self.alg == CoseAlgorithm::InsecureRs1 {
            return Err(WebauthnError::AlgorithmNotAllowed(self.alg.id()));
        }
        self.insecure_verify_signature_allowing_rs1(message, signature)
    }

    /// As [`CoseKey::verify_signature`], but also verifies RSASSA-PKCS1-v1_5 with SHA-1 (RS1), which old TPMs use.
    /// Call it only where a policy has explicitly allowed SHA-1.
    ///
    /// # Errors
    /// [`WebauthnError::BadSignature`].
    pub fn insecure_verify_signature_allowing_rs1(
        &self,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), WebauthnError> {
        self.verifier
            .verify_sig(message, signature)
            .map_err(|_| WebauthnError::BadSignature)
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}
