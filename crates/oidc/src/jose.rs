//! JWS compact serialization: signing with a [`SigningKey`] and verification against pinned [`VerifyingKey`]s.
//!
//! Verification refuses `alg=none`, the HMAC family and any algorithm the selected key is not pinned to (RFC 8725
//! §3.1), refuses `crit` headers it cannot understand, and bounds the token size.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Map, Value};

use crate::error::OidcError;
use crate::keys::{JwsAlg, SigningKey, VerifyingKey};

/// A JSON object, as JWS headers and claims sets are.
pub type JsonObject = Map<String, Value>;

/// Tokens longer than this are refused before any decoding.
pub const MAX_JWT_LEN: usize = 16 * 1024;

/// Signs `claims` as a compact JWS with header `{"alg","kid","typ":"JWT"}`.
pub fn sign_jwt(key: &SigningKey, claims: &Value) -> Result<String, OidcError> {
    sign_jwt_typed(key, "JWT", claims)
}

/// Signs `claims` as a compact JWS with the given `typ` header (for example `at+jwt`, RFC 9068).
pub fn sign_jwt_typed(key: &SigningKey, typ: &str, claims: &Value) -> Result<String, OidcError> {
    let header = serde_json::json!({ "alg": key.alg().as_str(), "kid": key.kid(), "typ": typ });
    let header = serde_json::to_vec(&header).map_err(|_| OidcError::Crypto)?;
    let payload = serde_json::to_vec(claims).map_err(|_| OidcError::Crypto)?;
    let mut token = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 400);
    B64.encode_string(&header, &mut token);
    token.push('.');
    B64.encode_string(&payload, &mut token);
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    B64.encode_string(&signature, &mut token);
    Ok(token)
}

/// A JWS whose signature verified.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedJwt {
    /// The algorithm it was signed with.
    pub alg: JwsAlg,
    /// The `kid` header, if any.
    pub kid: Option<String>,
    /// The `typ` header, if any.
    pub typ: Option<String>,
    /// The claims.
    pub claims: Map<String, Value>,
}

impl VerifiedJwt {
    /// A string claim.
    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A numeric-date claim in whole seconds.
    pub fn time_claim(&self, name: &str) -> Option<i64> {
        self.claims
            .get(name)
            .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
    }

    /// Whether `aud` (a string or an array of strings) contains `audience`.
    pub fn audience_contains(&self, audience: &str) -> bool {
        match self.claims.get("aud") {
            Some(Value::String(s)) => s == audience,
            Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(audience)),
            _ => false,
        }
    }
}

/// The header and claims of a JWS, decoded **without** checking the signature. Only for choosing which keys to
/// verify with (for example the client named by a client assertion); never trust what it returns.
pub fn peek_unverified(token: &str) -> Result<(JsonObject, JsonObject), OidcError> {
    let (header_b64, payload_b64, _) = split(token)?;
    Ok((decode_object(header_b64)?, decode_object(payload_b64)?))
}

/// Verifies a compact JWS against `keys`: the key is chosen by `kid` (or, without a `kid`, the only key that
/// allows the algorithm), the algorithm must be one the key is pinned to, and the signature must verify. Claims
/// are not judged here.
pub fn verify_jws(token: &str, keys: &[VerifyingKey]) -> Result<VerifiedJwt, OidcError> {
    let (header_b64, payload_b64, sig_b64) = split(token)?;
    let header = decode_object(header_b64)?;
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(OidcError::MalformedJwt)?;
    let alg = JwsAlg::parse(alg_name).ok_or(OidcError::JwtAlgorithmNotAllowed)?;
    if header.contains_key("crit") {
        // RFC 7515 §4.1.11: we understand no extension, so a critical one must make us refuse.
        return Err(OidcError::MalformedJwt);
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(OidcError::MalformedJwt),
    };
    let typ = match header.get("typ") {
        None => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(_) => return Err(OidcError::MalformedJwt),
    };
    let key = match &kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.kid() == Some(kid.as_str()))
            .ok_or(OidcError::JwtKeyNotFound)?,
        None => {
            let mut candidates = keys.iter().filter(|k| k.allows(alg));
            match (candidates.next(), candidates.next()) {
                (Some(only), None) => only,
                _ => return Err(OidcError::JwtKeyNotFound),
            }
        }
    };
    let signature = B64.decode(sig_b64).map_err(|_| OidcError::MalformedJwt)?;
    let signing_input_len = header_b64.len() + 1 + payload_b64.len();
    key.verify(alg, &token.as_bytes()[..signing_input_len], &signature)?;
    let claims = decode_object(payload_b64)?;
    Ok(VerifiedJwt {
        alg,
        kid,
        typ,
        claims,
    })
}

fn split(token: &str) -> Result<(&str, &str, &str), OidcError> {
    if token.len() > MAX_JWT_LEN {
        return Err(OidcError::MalformedJwt);
    }
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() => Ok((h, p, s)),
        _ => Err(OidcError::MalformedJwt),
    }
}

fn decode_object(part: &str) -> Result<Map<String, Value>, OidcError> {
    let bytes = B64.decode(part).map_err(|_| OidcError::MalformedJwt)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(OidcError::MalformedJwt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningAlg;

    fn key(alg: SigningAlg) -> SigningKey {
        SigningKey::generate(alg).expect("key")
    }

    #[test]
    fn signed_jwt_verifies_with_its_key() {
        for alg in [SigningAlg::Es256, SigningAlg::Rs256] {
            let k = key(alg);
            let token = sign_jwt(&k, &serde_json::json!({"sub": "u1"})).expect("sign");
            let verified =
                verify_jws(&token, std::slice::from_ref(k.verifying_key())).expect("verify");
            assert_eq!(verified.str_claim("sub"), Some("u1"));
            assert_eq!(verified.kid.as_deref(), Some(k.kid()));
            assert_eq!(verified.typ.as_deref(), Some("JWT"));
        }
    }

    #[test]
    fn alg_none_token_refused() {
        let k = key(SigningAlg::Es256);
        let header = B64.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, k.kid()));
        let payload = B64.encode(r#"{"sub":"admin"}"#);
        let token = format!("{header}.{payload}.");
        assert_eq!(
            verify_jws(&token, std::slice::from_ref(k.verifying_key())).err(),
            Some(OidcError::JwtAlgorithmNotAllowed)
        );
    }

    #[test]
    fn hs256_token_refused() {
        let k = key(SigningAlg::Rs256);
        let header = B64.encode(r#"{"alg":"HS256"}"#);
        let token = format!("{header}.{}.AAAA", B64.encode("{}"));
        assert_eq!(
            verify_jws(&token, std::slice::from_ref(k.verifying_key())).err(),
            Some(OidcError::JwtAlgorithmNotAllowed)
        );
    }

    #[test]
    fn tampered_signature_refused() {
        let k = key(SigningAlg::Es256);
        let token = sign_jwt(&k, &serde_json::json!({"sub": "u1"})).expect("sign");
        let (rest, sig) = token.rsplit_once('.').expect("parts");
        let mut sig = B64.decode(sig).expect("sig");
        sig[10] ^= 1;
        let tampered = format!("{rest}.{}", B64.encode(sig));
        assert_eq!(
            verify_jws(&tampered, std::slice::from_ref(k.verifying_key())).err(),
            Some(OidcError::JwtSignatureInvalid)
        );
    }

    #[test]
    fn tampered_payload_refused() {
        let k = key(SigningAlg::Rs256);
        let token = sign_jwt(&k, &serde_json::json!({"sub": "u1"})).expect("sign");
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(r#"{"sub":"admin"}"#),
            parts[2]
        );
        assert_eq!(
            verify_jws(&forged, std::slice::from_ref(k.verifying_key())).err(),
            Some(OidcError::JwtSignatureInvalid)
        );
    }

    #[test]
    fn alg_not_pinned_by_key_refused() {
        // An RS256 key asked to verify a PS256 signature: the key is pinned to RS256 by its JWK.
        let k = key(SigningAlg::Rs256);
        let header = B64.encode(format!(r#"{{"alg":"PS256","kid":"{}"}}"#, k.kid()));
        let token = format!("{header}.{}.AAAA", B64.encode("{}"));
        assert_eq!(
            verify_jws(&token, std::slice::from_ref(k.verifying_key())).err(),
            Some(OidcError::JwtAlgorithmMismatch)
        );
    }

    #[test]
    fn unknown_kid_refused() {
        let k = key(SigningAlg::Es256);
        let other = key(SigningAlg::Es256);
        let token = sign_jwt(&other, &serde_json::json!({})).expect("sign");
        assert_eq!(
            verify_jws(&token, std::slice::from_ref(k.verifying_key())).err(),
            Some(OidcError::JwtKeyNotFound)
        );
    }

    #[test]
    fn crit_header_refused() {
        let k = key(SigningAlg::Es256);
        let header = B64.encode(format!(
            r#"{{"alg":"ES256","kid":"{}","crit":["exp"]}}"#,
            k.kid()
        ));
        let token = format!("{header}.{}.AAAA", B64.encode("{}"));
        assert_eq!(
            verify_jws(&token, std::slice::from_ref(k.verifying_key())).err(),
            Some(OidcError::MalformedJwt)
        );
    }

    #[test]
    fn garbage_never_panics() {
        let k = key(SigningAlg::Es256);
        for junk in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d",
            "e30.e30.",
            "W10.e30.AA",
            &"a".repeat(MAX_JWT_LEN + 1),
        ] {
            assert!(
                verify_jws(junk, std::slice::from_ref(k.verifying_key())).is_err(),
                "{junk:?}"
            );
        }
    }
}
