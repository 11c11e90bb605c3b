//! Signing keys (RS256, ES256) on aws-lc-rs, JWKs and JWKS documents, verification keys, and private keys
//! encrypted at rest under a master key.
//!
//! A [`SigningKey`] parses its key pair once and is cheap to clone (`Arc`); its `kid` is the RFC 7638 JWK
//! thumbprint of its public key, so two different keys never share a `kid`.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RSA_PSS_2048_8192_SHA256, RsaKeyPair,
    RsaPublicKeyComponents, UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use tessera_core::TenantId;

use crate::error::OidcError;

/// An algorithm Tessera signs ID tokens and access tokens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, RSA 2048: the OIDC default every client supports.
    #[serde(rename = "RS256")]
    Rs256,
    /// ECDSA P-256 with SHA-256: the fast path.
    #[serde(rename = "ES256")]
    Es256,
}

impl SigningAlg {
    /// The JOSE name (`RS256`, `ES256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
        }
    }

    /// Parses a JOSE name; anything but `RS256` and `ES256` is refused.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "RS256" => Some(Self::Rs256),
            "ES256" => Some(Self::Es256),
            _ => None,
        }
    }
}

/// An algorithm Tessera accepts on JWS it verifies (ID token hints, access tokens, client assertions).
/// `none` and the HMAC family are absent on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwsAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// ECDSA P-256 with SHA-256.
    Es256,
}

impl JwsAlg {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
            Self::Es256 => "ES256",
        }
    }

    /// Parses a JOSE name; `none`, `HS*` and every other value are refused.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "RS256" => Some(Self::Rs256),
            "PS256" => Some(Self::Ps256),
            "ES256" => Some(Self::Es256),
            _ => None,
        }
    }
}

impl From<SigningAlg> for JwsAlg {
    fn from(alg: SigningAlg) -> Self {
        match alg {
            SigningAlg::Rs256 => Self::Rs256,
            SigningAlg::Es256 => Self::Es256,
        }
    }
}

/// A JSON Web Key (RFC 7517), public parts only. Unknown members are ignored when reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `RSA` or `EC` (others are read but unusable).
    pub kty: String,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Intended use (`sig`).
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Algorithm the key is pinned to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// EC curve (`P-256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

impl Jwk {
    /// The RFC 7638 thumbprint (SHA-256 of the required members in lexicographic order), base64url.
    pub fn thumbprint(&self) -> Result<String, OidcError> {
        let canonical = match self.kty.as_str() {
            "RSA" => {
                let (Some(e), Some(n)) = (&self.e, &self.n) else {
                    return Err(OidcError::UnusableJwk);
                };
                serde_json::json!({ "e": e, "kty": "RSA", "n": n })
            }
            "EC" => {
                let (Some(crv), Some(x), Some(y)) = (&self.crv, &self.x, &self.y) else {
                    return Err(OidcError::UnusableJwk);
                };
                serde_json::json!({ "crv": crv, "kty": "EC", "x": x, "y": y })
            }
            _ => return Err(OidcError::UnusableJwk),
        };
        // serde_json's map is ordered by key (no `preserve_order` feature), which is the RFC 7638 order.
        let bytes = serde_json::to_vec(&canonical).map_err(|_| OidcError::UnusableJwk)?;
        Ok(B64.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &bytes,
        )))
    }
}

/// A JWK Set (RFC 7517 §5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// Parses a JWKS document (for example a client's registered `jwks`).
    pub fn from_json(json: &str) -> Result<Self, OidcError> {
        serde_json::from_str(json).map_err(|_| OidcError::UnusableJwk)
    }

    /// The keys that can verify signatures; unusable entries (unknown types, encryption keys) are skipped.
    pub fn verifying_keys(&self) -> Vec<VerifyingKey> {
        self.keys
            .iter()
            .filter(|k| k.use_.as_deref().is_none_or(|u| u == "sig"))
            .filter_map(|k| VerifyingKey::from_jwk(k).ok())
            .collect()
    }
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

struct KeyInner {
    kid: String,
    alg: SigningAlg,
    pair: Pair,
    jwk: Jwk,
    pkcs8: Vec<u8>,
    verifying: VerifyingKey,
}

/// A private signing key with its `kid`, parsed once and shared.
#[derive(Clone)]
pub struct SigningKey {
    inner: Arc<KeyInner>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.inner.kid)
            .field("alg", &self.inner.alg)
            .field("private", &"[redacted]")
            .finish()
    }
}

impl SigningKey {
    /// Generates a fresh key: RSA 2048 for RS256, P-256 for ES256.
    pub fn generate(alg: SigningAlg) -> Result<Self, OidcError> {
        let pkcs8 = match alg {
            SigningAlg::Rs256 => {
                let pair =
                    RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| OidcError::KeyRejected)?;
                let der: Pkcs8V1Der<'static> = pair.as_der().map_err(|_| OidcError::KeyRejected)?;
                der.as_ref().to_vec()
            }
            SigningAlg::Es256 => {
                let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| OidcError::KeyRejected)?;
                pair.to_pkcs8v1()
                    .map_err(|_| OidcError::KeyRejected)?
                    .as_ref()
                    .to_vec()
            }
        };
        Self::from_pkcs8(alg, &pkcs8)
    }

    /// Loads a key from its PKCS#8 (v1) DER encoding. RSA keys under 2048 bits are refused.
    pub fn from_pkcs8(alg: SigningAlg, pkcs8: &[u8]) -> Result<Self, OidcError> {
        let (pair, mut jwk) = match alg {
            SigningAlg::Rs256 => {
                let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| OidcError::KeyRejected)?;
                if pair.public_modulus_len() < 256 {
                    return Err(OidcError::KeyRejected);
                }
                let public = pair.public_key();
                let jwk = Jwk {
                    kty: "RSA".into(),
                    kid: None,
                    use_: Some("sig".into()),
                    alg: Some("RS256".into()),
                    n: Some(B64.encode(public.modulus().big_endian_without_leading_zero())),
                    e: Some(B64.encode(public.exponent().big_endian_without_leading_zero())),
                    crv: None,
                    x: None,
                    y: None,
                };
                (Pair::Rsa(pair), jwk)
            }
            SigningAlg::Es256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(|_| OidcError::KeyRejected)?;
                let point = pair.public_key().as_ref();
                // Uncompressed SEC1 point: 0x04 || x (32) || y (32).
                if point.len() != 65 || point[0] != 4 {
                    return Err(OidcError::KeyRejected);
                }
                let jwk = Jwk {
                    kty: "EC".into(),
                    kid: None,
                    use_: Some("sig".into()),
                    alg: Some("ES256".into()),
                    n: None,
                    e: None,
                    crv: Some("P-256".into()),
                    x: Some(B64.encode(&point[1..33])),
                    y: Some(B64.encode(&point[33..65])),
                };
                (Pair::Ec(pair), jwk)
            }
        };
        let kid = jwk.thumbprint()?;
        jwk.kid = Some(kid.clone());
        let verifying = VerifyingKey::from_jwk(&jwk)?;
        Ok(Self {
            inner: Arc::new(KeyInner {
                kid,
                alg,
                pair,
                jwk,
                pkcs8: pkcs8.to_vec(),
                verifying,
            }),
        })
    }

    /// The key id: the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.inner.kid
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> SigningAlg {
        self.inner.alg
    }

    /// The public JWK, with `kid`, `use=sig` and `alg`.
    pub fn public_jwk(&self) -> &Jwk {
        &self.inner.jwk
    }

    /// The key that verifies this key's signatures.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.inner.verifying
    }

    /// Signs `message` with the key's algorithm; returns the JWS signature bytes (RSA: modulus length; ES256: the
    /// fixed 64-byte `r || s` form JWS requires).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, OidcError> {
        let rng = SystemRandom::new();
        match &self.inner.pair {
            Pair::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(|_| OidcError::Crypto)?;
                Ok(sig)
            }
            Pair::Ec(pair) => Ok(pair
                .sign(&rng, message)
                .map_err(|_| OidcError::Crypto)?
                .as_ref()
                .to_vec()),
        }
    }

    /// Encrypts the PKCS#8 private key with AES-256-GCM under `master`, a fresh random nonce, and the tenant, kid
    /// and algorithm as associated data, so a ciphertext moved to another tenant or kid does not decrypt.
    pub fn encrypt(
        &self,
        master: &MasterKey,
        tenant: &TenantId,
    ) -> Result<EncryptedSigningKey, OidcError> {
        let key = master.aead()?;
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| OidcError::Crypto)?;
        let aad = key_aad(tenant, &self.inner.kid, self.inner.alg);
        let mut in_out = self.inner.pkcs8.clone();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad.as_bytes()),
            &mut in_out,
        )
        .map_err(|_| OidcError::Crypto)?;
        Ok(EncryptedSigningKey {
            kid: self.inner.kid.clone(),
            alg: self.inner.alg,
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(in_out),
        })
    }

    /// Decrypts a key stored by [`SigningKey::encrypt`] and checks that it is the key its `kid` names.
    pub fn decrypt(
        stored: &EncryptedSigningKey,
        master: &MasterKey,
        tenant: &TenantId,
    ) -> Result<Self, OidcError> {
        let key = master.aead()?;
        let nonce: [u8; NONCE_LEN] = B64
            .decode(&stored.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(OidcError::KeyDecryption)?;
        let mut in_out = B64
            .decode(&stored.ciphertext)
            .map_err(|_| OidcError::KeyDecryption)?;
        let aad = key_aad(tenant, &stored.kid, stored.alg);
        let plain = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| OidcError::KeyDecryption)?;
        let signing = Self::from_pkcs8(stored.alg, plain)?;
        if signing.kid() != stored.kid {
            return Err(OidcError::KeyDecryption);
        }
        Ok(signing)
    }
}

fn key_aad(tenant: &TenantId, kid: &str, alg: SigningAlg) -> String {
    format!(
        "tessera-signing-key\u{0}{tenant}\u{0}{kid}\u{0}{}",
        alg.as_str()
    )
}

/// The associated data of a sealed secret: a label that keeps it apart from signing keys, then the caller's context.
fn sealed_aad(context: &[u8]) -> Vec<u8> {
    let mut aad = b"tessera-sealed-secret\0".to_vec();
    aad.extend_from_slice(context);
    aad
}

/// A private key as stored: AES-256-GCM ciphertext of its PKCS#8 encoding (tag appended), base64url.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedSigningKey {
    /// The key id (RFC 7638 thumbprint), also bound as associated data.
    pub kid: String,
    /// The key's algorithm, also bound as associated data.
    pub alg: SigningAlg,
    /// The 96-bit GCM nonce, base64url.
    pub nonce: String,
    /// Ciphertext and tag, base64url.
    pub ciphertext: String,
}

/// The 32-byte key that encrypts signing keys at rest. `Debug` never shows it.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// Wraps 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, OidcError> {
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| OidcError::MasterKeyLength)
    }

    /// Decodes a master key from base64 (standard or URL-safe, padded or not), as configuration carries it.
    pub fn from_base64(text: &str) -> Result<Self, OidcError> {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
        let text = text.trim();
        let bytes = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &B64]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or(OidcError::MasterKeyLength)?;
        Self::from_bytes(&bytes)
    }

    /// A fresh random master key (for `tessera` setup commands and tests).
    pub fn generate() -> Result<Self, OidcError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| OidcError::Crypto)?;
        Ok(Self(bytes))
    }

    /// A 32-byte key for one `purpose`, derived from this one (HMAC-SHA256 of the purpose under the master key), so
    /// that other secrets of the service need no key of their own and reveal nothing about this one.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.0);
        let tag = aws_lc_rs::hmac::sign(&key, purpose.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// The key as base64url, for writing it into a configuration once.
    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }

    /// Encrypts an arbitrary secret (an identity provider's client secret) with AES-256-GCM under this key and a
    /// fresh random nonce. `context` is bound as associated data and must be given again to [`MasterKey::open`]:
    /// name the owner in it (for example the tenant and provider id), so a ciphertext copied to another owner does
    /// not open. The result is the nonce followed by the ciphertext and its tag.
    pub fn seal(&self, context: &[u8], secret: &[u8]) -> Result<Vec<u8>, OidcError> {
        let key = self.aead()?;
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| OidcError::Crypto)?;
        let mut in_out = secret.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(sealed_aad(context).as_slice()),
            &mut in_out,
        )
        .map_err(|_| OidcError::Crypto)?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + in_out.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// Decrypts what [`MasterKey::seal`] produced with the same `context`; a wrong key, another context or any
    /// changed byte is [`OidcError::SecretDecryption`].
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OidcError> {
        if sealed.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(OidcError::SecretDecryption);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OidcError::SecretDecryption)?;
        let key = self.aead()?;
        let mut in_out = ciphertext.to_vec();
        let plain = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(sealed_aad(context).as_slice()),
                &mut in_out,
            )
            .map_err(|_| OidcError::SecretDecryption)?;
        Ok(plain.to_vec())
    }

    fn aead(&self) -> Result<LessSafeKey, OidcError> {
        Ok(LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &self.0).map_err(|_| OidcError::Crypto)?,
        ))
    }
}

#[derive(Clone)]
enum PublicKey {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    P256(Vec<u8>),
}

/// A public key that verifies JWS signatures, pinned to the algorithms its JWK allows.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: Option<String>,
    algs: Vec<JwsAlg>,
    key: PublicKey,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("algs", &self.algs)
            .finish()
    }
}

impl VerifyingKey {
    /// Builds a verification key from a JWK. An RSA key is pinned to its `alg` (RS256 or PS256), or to both when
    /// the JWK names none; a P-256 key to ES256. RSA moduli under 2048 bits are refused.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, OidcError> {
        let b64 = |v: &Option<String>| -> Result<Vec<u8>, OidcError> {
            B64.decode(v.as_deref().ok_or(OidcError::UnusableJwk)?)
                .map_err(|_| OidcError::UnusableJwk)
        };
        let declared = match jwk.alg.as_deref() {
            None => None,
            Some(a) => Some(JwsAlg::parse(a).ok_or(OidcError::UnusableJwk)?),
        };
        let (key, algs) = match jwk.kty.as_str() {
            "RSA" => {
                let n = b64(&jwk.n)?;
                let e = b64(&jwk.e)?;
                let n_trimmed: Vec<u8> = n.iter().copied().skip_while(|b| *b == 0).collect();
                if n_trimmed.len() < 256 || e.is_empty() || e.len() > 8 {
                    return Err(OidcError::UnusableJwk);
                }
                let algs = match declared {
                    None => vec![JwsAlg::Rs256, JwsAlg::Ps256],
                    Some(a @ (JwsAlg::Rs256 | JwsAlg::Ps256)) => vec![a],
                    Some(JwsAlg::Es256) => return Err(OidcError::UnusableJwk),
                };
                (PublicKey::Rsa { n: n_trimmed, e }, algs)
            }
            "EC" => {
                if jwk.crv.as_deref() != Some("P-256")
                    || declared.is_some_and(|a| a != JwsAlg::Es256)
                {
                    return Err(OidcError::UnusableJwk);
                }
                let x = b64(&jwk.x)?;
                let y = b64(&jwk.y)?;
                if x.len() != 32 || y.len() != 32 {
                    return Err(OidcError::UnusableJwk);
                }
                let mut point = Vec::with_capacity(65);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                (PublicKey::P256(point), vec![JwsAlg::Es256])
            }
            _ => return Err(OidcError::UnusableJwk),
        };
        Ok(Self {
            kid: jwk.kid.clone(),
            algs,
            key,
        })
    }

    /// The key id, if the JWK had one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Whether this key may verify signatures made with `alg`.
    pub fn allows(&self, alg: JwsAlg) -> bool {
        self.algs.contains(&alg)
    }

    /// Verifies `signature` over `message` with `alg`, which must be one the key is pinned to.
    pub fn verify(&self, alg: JwsAlg, message: &[u8], signature: &[u8]) -> Result<(), OidcError> {
        if !self.allows(alg) {
            return Err(OidcError::JwtAlgorithmMismatch);
        }
        let result = match (&self.key, alg) {
            (PublicKey::Rsa { n, e }, JwsAlg::Rs256) => RsaPublicKeyComponents { n, e }.verify(
                &RSA_PKCS1_2048_8192_SHA256,
                message,
                signature,
            ),
            (PublicKey::Rsa { n, e }, JwsAlg::Ps256) => RsaPublicKeyComponents { n, e }.verify(
                &RSA_PSS_2048_8192_SHA256,
                message,
                signature,
            ),
            (PublicKey::P256(point), JwsAlg::Es256) => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(message, signature)
            }
            _ => return Err(OidcError::JwtAlgorithmMismatch),
        };
        result.map_err(|_| OidcError::JwtSignatureInvalid)
    }
}

/// A tenant's signing keys. The first key of each algorithm in the list signs; every key is published in the
/// JWKS and accepted for verification, so a rotated-out key placed after the new one keeps its tokens valid.
#[derive(Clone, Debug)]
pub struct KeySet {
    keys: Vec<SigningKey>,
    verifying: Vec<VerifyingKey>,
    jwks_json: Arc<[u8]>,
}

impl KeySet {
    /// Builds the set, dropping duplicate kids (the first wins) and serializing the JWKS once.
    pub fn new(keys: Vec<SigningKey>) -> Result<Self, OidcError> {
        let mut unique: Vec<SigningKey> = Vec::with_capacity(keys.len());
        for key in keys {
            if !unique.iter().any(|k| k.kid() == key.kid()) {
                unique.push(key);
            }
        }
        let jwks = JwkSet {
            keys: unique.iter().map(|k| k.public_jwk().clone()).collect(),
        };
        let jwks_json = serde_json::to_vec(&jwks).map_err(|_| OidcError::Crypto)?;
        let verifying = unique.iter().map(|k| k.verifying_key().clone()).collect();
        Ok(Self {
            keys: unique,
            verifying,
            jwks_json: jwks_json.into(),
        })
    }

    /// The key that signs with `alg`, if the set has one.
    pub fn signing_key(&self, alg: SigningAlg) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.alg() == alg)
    }

    /// All keys, in preference order.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The public JWKS.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.keys.iter().map(|k| k.public_jwk().clone()).collect(),
        }
    }

    /// The JWKS document, serialized once, for the HTTP layer to serve from memory.
    pub fn jwks_json(&self) -> &[u8] {
        &self.jwks_json
    }

    /// The verification keys of every key in the set.
    pub fn verifying_keys(&self) -> &[VerifyingKey] {
        &self.verifying
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str) -> TenantId {
        TenantId::parse(name).expect("tenant")
    }

    #[test]
    fn kid_is_the_rfc7638_thumbprint() {
        // RFC 7638 §3.1 example key and thumbprint.
        let jwk = Jwk {
            kty: "RSA".into(),
            kid: None,
            use_: None,
            alg: None,
            n: Some("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw".into()),
            e: Some("AQAB".into()),
            crv: None,
            x: None,
            y: None,
        };
        assert_eq!(
            jwk.thumbprint().ok().as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn generated_keys_have_distinct_kids_and_public_jwks() {
        let a = SigningKey::generate(SigningAlg::Es256).expect("es256");
        let b = SigningKey::generate(SigningAlg::Es256).expect("es256");
        assert_ne!(a.kid(), b.kid());
        assert_eq!(a.public_jwk().kid.as_deref(), Some(a.kid()));
        assert_eq!(a.public_jwk().crv.as_deref(), Some("P-256"));
        let set = KeySet::new(vec![a.clone(), b, a]).expect("set");
        assert_eq!(set.jwks().keys.len(), 2, "duplicate kid dropped");
    }

    #[test]
    fn rs256_key_is_2048_bits_and_round_trips_through_pkcs8() {
        let key = SigningKey::generate(SigningAlg::Rs256).expect("rs256");
        let n = B64
            .decode(key.public_jwk().n.as_deref().unwrap_or_default())
            .expect("n");
        assert_eq!(n.len(), 256);
        let again = SigningKey::from_pkcs8(SigningAlg::Rs256, &key.inner.pkcs8).expect("reload");
        assert_eq!(again.kid(), key.kid());
        let sig = key.sign(b"msg").expect("sign");
        again
            .verifying_key()
            .verify(JwsAlg::Rs256, b"msg", &sig)
            .expect("verify");
    }

    #[test]
    fn encrypted_key_decrypts_only_under_the_same_master_tenant_and_kid() {
        let master = MasterKey::generate().expect("master");
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let stored = key.encrypt(&master, &tenant("acme")).expect("encrypt");
        let back = SigningKey::decrypt(&stored, &master, &tenant("acme")).expect("decrypt");
        assert_eq!(back.kid(), key.kid());

        assert_eq!(
            SigningKey::decrypt(&stored, &master, &tenant("other")).err(),
            Some(OidcError::KeyDecryption),
            "moved to another tenant"
        );
        let other_master = MasterKey::generate().expect("master");
        assert_eq!(
            SigningKey::decrypt(&stored, &other_master, &tenant("acme")).err(),
            Some(OidcError::KeyDecryption)
        );
        let mut relabelled = stored.clone();
        relabelled.kid = "someone-else".into();
        assert_eq!(
            SigningKey::decrypt(&relabelled, &master, &tenant("acme")).err(),
            Some(OidcError::KeyDecryption)
        );
        let mut tampered = stored;
        tampered.ciphertext.replace_range(
            0..1,
            if tampered.ciphertext.starts_with('A') {
                "B"
            } else {
                "A"
            },
        );
        assert_eq!(
            SigningKey::decrypt(&tampered, &master, &tenant("acme")).err(),
            Some(OidcError::KeyDecryption)
        );
    }

    #[test]
    fn encryption_uses_a_fresh_nonce_each_time() {
        let master = MasterKey::generate().expect("master");
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let a = key.encrypt(&master, &tenant("acme")).expect("a");
        let b = key.encrypt(&master, &tenant("acme")).expect("b");
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn sealed_secret_opens_only_under_the_same_key_and_context() {
        let master = MasterKey::generate().expect("master");
        let sealed = master.seal(b"acme\0noknok", b"s3cret").expect("seal");
        assert_eq!(
            master.open(b"acme\0noknok", &sealed).expect("open"),
            b"s3cret"
        );
        assert!(
            !sealed.windows(6).any(|w| w == b"s3cret"),
            "the secret is not in the ciphertext"
        );
        let again = master.seal(b"acme\0noknok", b"s3cret").expect("seal");
        assert_ne!(sealed, again, "a fresh nonce each time");

        let other = MasterKey::generate().expect("master");
        assert_eq!(
            other.open(b"acme\0noknok", &sealed).err(),
            Some(OidcError::SecretDecryption),
            "wrong master key"
        );
        assert_eq!(
            master.open(b"acme\0other", &sealed).err(),
            Some(OidcError::SecretDecryption),
            "moved to another owner"
        );
        for i in [0, NONCE_LEN, sealed.len() - 1] {
            let mut tampered = sealed.clone();
            tampered[i] ^= 1;
            assert_eq!(
                master.open(b"acme\0noknok", &tampered).err(),
                Some(OidcError::SecretDecryption),
                "byte {i} changed"
            );
        }
        assert_eq!(
            master
                .open(b"acme\0noknok", &sealed[..NONCE_LEN + 15])
                .err(),
            Some(OidcError::SecretDecryption),
            "truncated"
        );
        let empty = master.seal(b"", b"").expect("seal empty");
        assert_eq!(master.open(b"", &empty).expect("open empty"), b"");
    }

    #[test]
    fn master_key_must_be_32_bytes_and_never_prints() {
        assert_eq!(
            MasterKey::from_bytes(&[0u8; 31]).err(),
            Some(OidcError::MasterKeyLength)
        );
        let key = MasterKey::from_bytes(&[7u8; 32]).expect("key");
        assert_eq!(format!("{key:?}"), "MasterKey([redacted])");
        let back = MasterKey::from_base64(&key.to_base64()).expect("b64");
        assert_eq!(back.0, key.0);
    }

    #[test]
    fn small_rsa_jwk_is_unusable() {
        let jwk = Jwk {
            kty: "RSA".into(),
            kid: None,
            use_: None,
            alg: None,
            n: Some(B64.encode([0xc3u8; 128])),
            e: Some("AQAB".into()),
            crv: None,
            x: None,
            y: None,
        };
        assert_eq!(
            VerifyingKey::from_jwk(&jwk).err(),
            Some(OidcError::UnusableJwk)
        );
    }

    #[test]
    fn ec_jwk_claiming_rs256_is_unusable() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let mut jwk = key.public_jwk().clone();
        jwk.alg = Some("RS256".into());
        assert_eq!(
            VerifyingKey::from_jwk(&jwk).err(),
            Some(OidcError::UnusableJwk)
        );
    }
}
