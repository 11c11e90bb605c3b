//! `android-safetynet` attestation (WebAuthn L3 §8.5): a SafetyNet JWS over base64(SHA-256(authData ||
//! clientDataHash)).

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::X509Certificate;

use super::x509;
use super::{
    AttestationError, AttestationTrust, SafetyNetCtsProfile, Statement, Subject, TrustPath,
    Verified,
};

/// The SafetyNet signing certificate's hostname.
const HOSTNAME: &str = "attest.android.com";
/// How far the SafetyNet timestamp may be from the verification time.
const TIMESTAMP_WINDOW_MS: i128 = 60_000;
/// Upper bound on the JWS size (real responses are about 5 KiB).
const MAX_RESPONSE: usize = 64 * 1024;

#[derive(Deserialize)]
struct Header {
    alg: String,
    x5c: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    nonce: String,
    timestamp_ms: i64,
    #[serde(default)]
    cts_profile_match: bool,
}

fn malformed(reason: &'static str) -> AttestationError {
    AttestationError::SafetyNetResponseMalformed { reason }
}

/// WebAuthn L3 §8.5 "Verification procedure".
pub(crate) fn verify(
    stmt: &Statement<'_>,
    subject: &Subject<'_>,
    trust: &AttestationTrust<'_>,
) -> Result<Verified, AttestationError> {
    // "Verify that attStmt is valid CBOR conforming to the syntax defined above".
    let ver = stmt
        .get("ver")
        .and_then(|v| v.as_text())
        .ok_or(stmt.malformed("ver missing"))?;
    if ver.is_empty() {
        return Err(stmt.malformed("ver is empty"));
    }
    let response = stmt.bytes("response", "response missing or not a byte string")?;
    if response.len() > MAX_RESPONSE {
        return Err(malformed("response too large"));
    }
    let jws = std::str::from_utf8(response).map_err(|_| malformed("response is not UTF-8"))?;
    let mut parts = jws.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("response is not a compact JWS"));
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(h64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(malformed("JWS header"))?;
    let payload_bytes = URL_SAFE_NO_PAD
        .decode(p64)
        .map_err(|_| malformed("JWS payload encoding"))?;
    let payload: Payload =
        serde_json::from_slice(&payload_bytes).map_err(|_| malformed("JWS payload"))?;
    let sig = URL_SAFE_NO_PAD
        .decode(s64)
        .map_err(|_| malformed("JWS signature encoding"))?;
    if header.x5c.is_empty() || header.x5c.len() > x509::MAX_CHAIN {
        return Err(AttestationError::ChainLength {
            len: header.x5c.len(),
        });
    }
    let chain_der: Vec<Vec<u8>> = header
        .x5c
        .iter()
        .map(|c| {
            STANDARD
                .decode(c)
                .map_err(|_| malformed("x5c entry is not base64"))
        })
        .collect::<Result<_, _>>()?;
    let leaf = x509::parse(&chain_der[0], 0)?;

    // Google: "Verify the signature of the JWS message" with the leaf certificate.
    let signing_input = &jws.as_bytes()[..h64.len() + 1 + p64.len()];
    verify_jws_signature(&leaf, &header.alg, signing_input, &sig)?;
    // Google: "Verify that the certificate was issued to the hostname attest.android.com".
    if !issued_to_hostname(&leaf) {
        return Err(AttestationError::SafetyNetHostnameMismatch);
    }
    // "Verify that the nonce attribute in the payload of response is identical to the Base64 encoding of the SHA-256
    // hash of the concatenation of authenticatorData and clientDataHash."
    let expected = STANDARD.encode(digest::digest(&digest::SHA256, &subject.to_be_signed()));
    if payload.nonce != expected {
        return Err(AttestationError::SafetyNetNonceMismatch);
    }
    let now_ms = trust.now.unix_timestamp_nanos() / 1_000_000;
    if (now_ms - i128::from(payload.timestamp_ms)).abs() > TIMESTAMP_WINDOW_MS {
        return Err(AttestationError::SafetyNetTimestampOutOfRange);
    }
    if !payload.cts_profile_match && trust.safetynet_cts == SafetyNetCtsProfile::Require {
        return Err(AttestationError::SafetyNetCtsProfileMismatch);
    }
    Ok(Verified {
        trust_path: TrustPath::Basic(chain_der),
    })
}

/// Verifies the JWS signature (RS256 or ES256) with the leaf certificate key.
fn verify_jws_signature(
    leaf: &X509Certificate<'_>,
    alg: &str,
    signing_input: &[u8],
    sig: &[u8],
) -> Result<(), AttestationError> {
    match x509::verify_jws(leaf, alg, signing_input, sig)? {
        x509::JwsCheck::Valid => Ok(()),
        x509::JwsCheck::AlgorithmMismatch => Err(malformed(
            "JWS algorithm does not match the certificate key",
        )),
        x509::JwsCheck::SignatureInvalid => Err(AttestationError::SignatureInvalid),
    }
}

fn issued_to_hostname(cert: &X509Certificate<'_>) -> bool {
    let in_san = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .is_some_and(|san| {
            san.value
                .general_names
                .iter()
                .any(|n| matches!(n, GeneralName::DNSName(d) if *d == HOSTNAME))
        });
    in_san
        || cert
            .subject()
            .iter_common_name()
            .any(|cn| cn.as_str() == Ok(HOSTNAME))
}
