//! X.509 for attestation: parsing, keys, signatures with aws-lc-rs, and chain verification to trust anchors.

use aws_lc_rs::signature::{
    self, EcdsaVerificationAlgorithm, RsaParameters, UnparsedPublicKey, VerificationAlgorithm,
};
use time::OffsetDateTime;
use x509_parser::prelude::{ASN1Time, FromDer, X509Certificate};
use x509_parser::x509::SubjectPublicKeyInfo;

use super::AttestationError;
use super::der;
use super::key::{Curve, alg};

/// At most this many certificates in an `x5c` chain (real chains have two to four).
pub(crate) const MAX_CHAIN: usize = 8;

/// The id-fido-gen-ce-aaguid extension, 1.3.6.1.4.1.45724.1.1.4.
pub(crate) const OID_FIDO_AAGUID: &str = "1.3.6.1.4.1.45724.1.1.4";

/// Parses one DER certificate; trailing bytes are refused.
pub(crate) fn parse(
    der_bytes: &[u8],
    index: usize,
) -> Result<X509Certificate<'_>, AttestationError> {
    match X509Certificate::from_der(der_bytes) {
        Ok(([], cert)) => Ok(cert),
        _ => Err(AttestationError::CertificateMalformed { index }),
    }
}

/// A subject public key, decoded enough to verify with and to compare with the credential key.
#[derive(Debug)]
pub(crate) enum SpkiKey<'a> {
    Ec {
        curve: Curve,
        point: &'a [u8],
    },
    Rsa {
        der: &'a [u8],
        n: &'a [u8],
        e: &'a [u8],
    },
    Ed25519 {
        key: &'a [u8],
    },
}

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const OID_ED25519: &str = "1.3.101.112";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_P521: &str = "1.3.132.0.35";

/// Decodes a certificate's subject public key.
pub(crate) fn spki_key<'a>(
    spki: &'a SubjectPublicKeyInfo<'_>,
) -> Result<SpkiKey<'a>, AttestationError> {
    let algorithm = spki.algorithm.algorithm.to_id_string();
    let key: &'a [u8] = &spki.subject_public_key.data;
    match algorithm.as_str() {
        OID_EC_PUBLIC_KEY => {
            let curve_oid = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .ok_or(AttestationError::CertificateKeyUnsupported {
                    algorithm: algorithm.clone(),
                })?;
            let curve = match curve_oid.as_str() {
                OID_P256 => Curve::P256,
                OID_P384 => Curve::P384,
                OID_P521 => Curve::P521,
                _ => {
                    return Err(AttestationError::CertificateKeyUnsupported {
                        algorithm: curve_oid,
                    });
                }
            };
            Ok(SpkiKey::Ec { curve, point: key })
        }
        OID_RSA_ENCRYPTION => {
            let seq = der::read_all(key).filter(|t| t.is_universal(der::SEQUENCE));
            let mut parts = seq.map(|s| der::children(s.content));
            let n = parts.as_mut().and_then(Iterator::next).and_then(Result::ok);
            let e = parts.as_mut().and_then(Iterator::next).and_then(Result::ok);
            match (n, e) {
                (Some(n), Some(e))
                    if n.is_universal(der::INTEGER) && e.is_universal(der::INTEGER) =>
                {
                    Ok(SpkiKey::Rsa {
                        der: key,
                        n: n.content,
                        e: e.content,
                    })
                }
                _ => Err(AttestationError::CertificateKeyUnsupported { algorithm }),
            }
        }
        OID_ED25519 => Ok(SpkiKey::Ed25519 { key }),
        _ => Err(AttestationError::CertificateKeyUnsupported { algorithm }),
    }
}

/// The ECDSA verification algorithm for a curve and a COSE algorithm.
pub(crate) fn ecdsa_for(
    curve: Curve,
    cose_alg: i64,
) -> Result<&'static EcdsaVerificationAlgorithm, AttestationError> {
    Ok(match (curve, cose_alg) {
        (Curve::P256, alg::ES256) => &signature::ECDSA_P256_SHA256_ASN1,
        (Curve::P256, alg::ES384) => &signature::ECDSA_P256_SHA384_ASN1,
        (Curve::P256, alg::ES512) => &signature::ECDSA_P256_SHA512_ASN1,
        (Curve::P384, alg::ES256) => &signature::ECDSA_P384_SHA256_ASN1,
        (Curve::P384, alg::ES384) => &signature::ECDSA_P384_SHA384_ASN1,
        (Curve::P384, alg::ES512) => &signature::ECDSA_P384_SHA512_ASN1,
        (Curve::P521, alg::ES256) => &signature::ECDSA_P521_SHA256_ASN1,
        (Curve::P521, alg::ES384) => &signature::ECDSA_P521_SHA384_ASN1,
        (Curve::P521, alg::ES512) => &signature::ECDSA_P521_SHA512_ASN1,
        _ => return Err(AttestationError::AlgorithmUnsupported { alg: cose_alg }),
    })
}

/// The RSA verification parameters for a COSE algorithm.
pub(crate) fn rsa_for(cose_alg: i64) -> Result<&'static RsaParameters, AttestationError> {
    Ok(match cose_alg {
        alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        alg::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        alg::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        alg::RS1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        alg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        alg::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        alg::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return Err(AttestationError::AlgorithmUnsupported { alg: cose_alg }),
    })
}

/// Verifies an attestation statement signature made with a certificate's key under a COSE algorithm.
pub(crate) fn verify_with_cert_key(
    cert: &X509Certificate<'_>,
    cose_alg: i64,
    message: &[u8],
    sig: &[u8],
) -> Result<(), AttestationError> {
    let key = spki_key(cert.public_key())?;
    let (algorithm, bytes): (&'static dyn VerificationAlgorithm, &[u8]) = match key {
        SpkiKey::Ec { curve, point } => (ecdsa_for(curve, cose_alg)?, point),
        SpkiKey::Rsa { der, .. } => (rsa_for(cose_alg)?, der),
        SpkiKey::Ed25519 { key } if cose_alg == alg::EDDSA => (&signature::ED25519, key),
        SpkiKey::Ed25519 { .. } => {
            return Err(AttestationError::AlgorithmUnsupported { alg: cose_alg });
        }
    };
    UnparsedPublicKey::new(algorithm, bytes)
        .verify(message, sig)
        .map_err(|_| AttestationError::SignatureInvalid)
}

/// Hash named by an X.509 signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

fn hash_from_oid(oid: &str) -> Option<Hash> {
    match oid {
        "1.3.14.3.2.26" => Some(Hash::Sha1),
        "2.16.840.1.101.3.4.2.1" => Some(Hash::Sha256),
        "2.16.840.1.101.3.4.2.2" => Some(Hash::Sha384),
        "2.16.840.1.101.3.4.2.3" => Some(Hash::Sha512),
        _ => None,
    }
}

/// The hash of RSASSA-PSS-params (RFC 4055), given the SEQUENCE's content: `[0] hashAlgorithm` (default SHA-1).
fn pss_hash(params: &[u8]) -> Option<Hash> {
    for child in der::children(params) {
        let child = child.ok()?;
        if child.class == der::Class::Context && child.number == 0 {
            let alg_id = der::read_all(child.content).filter(|t| t.is_universal(der::SEQUENCE))?;
            let (oid, _) = der::read(alg_id.content)?;
            if !oid.is_universal(der::OID) {
                return None;
            }
            let oid = x509_parser::der_parser::oid::Oid::new(oid.content.into()).to_id_string();
            return hash_from_oid(&oid);
        }
    }
    Some(Hash::Sha1)
}

/// Verifies that `cert` was signed by the holder of `issuer_spki`, from the TBS bytes and the signature algorithm.
pub(crate) fn verify_cert_signature(
    cert: &X509Certificate<'_>,
    issuer_spki: &SubjectPublicKeyInfo<'_>,
    index: usize,
) -> Result<(), AttestationError> {
    let sig_oid = cert.signature_algorithm.algorithm.to_id_string();
    let unsupported = || AttestationError::CertificateAlgorithmUnsupported {
        index,
        algorithm: sig_oid.clone(),
    };
    let key = spki_key(issuer_spki)?;
    let (algorithm, key_bytes): (&'static dyn VerificationAlgorithm, &[u8]) =
        match (sig_oid.as_str(), &key) {
            ("1.2.840.10045.4.3.2", SpkiKey::Ec { curve, point }) => {
                (ecdsa_for(*curve, alg::ES256)?, point)
            }
            ("1.2.840.10045.4.3.3", SpkiKey::Ec { curve, point }) => {
                (ecdsa_for(*curve, alg::ES384)?, point)
            }
            ("1.2.840.10045.4.3.4", SpkiKey::Ec { curve, point }) => {
                (ecdsa_for(*curve, alg::ES512)?, point)
            }
            (
                "1.2.840.10045.4.1",
                SpkiKey::Ec {
                    curve: Curve::P256,
                    point,
                },
            ) => (&signature::ECDSA_P256_SHA1_ASN1, point),
            ("1.2.840.113549.1.1.5", SpkiKey::Rsa { der, .. }) => (
                &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                der,
            ),
            ("1.2.840.113549.1.1.11", SpkiKey::Rsa { der, .. }) => {
                (&signature::RSA_PKCS1_2048_8192_SHA256, der)
            }
            ("1.2.840.113549.1.1.12", SpkiKey::Rsa { der, .. }) => {
                (&signature::RSA_PKCS1_2048_8192_SHA384, der)
            }
            ("1.2.840.113549.1.1.13", SpkiKey::Rsa { der, .. }) => {
                (&signature::RSA_PKCS1_2048_8192_SHA512, der)
            }
            ("1.2.840.113549.1.1.10", SpkiKey::Rsa { der, .. }) => {
                let hash = cert
                    .signature_algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| pss_hash(p.data));
                let algorithm: &'static dyn VerificationAlgorithm = match hash {
                    Some(Hash::Sha256) => &signature::RSA_PSS_2048_8192_SHA256,
                    Some(Hash::Sha384) => &signature::RSA_PSS_2048_8192_SHA384,
                    Some(Hash::Sha512) => &signature::RSA_PSS_2048_8192_SHA512,
                    _ => return Err(unsupported()),
                };
                (algorithm, der)
            }
            ("1.3.101.112", SpkiKey::Ed25519 { key }) => (&signature::ED25519, key),
            _ => return Err(unsupported()),
        };
    UnparsedPublicKey::new(algorithm, key_bytes)
        .verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
        .map_err(|_| AttestationError::ChainSignatureInvalid { index })
}

/// Whether the certificate is valid at `now`.
pub(crate) fn valid_at(cert: &X509Certificate<'_>, now: OffsetDateTime) -> bool {
    ASN1Time::from_timestamp(now.unix_timestamp()).is_ok_and(|t| cert.validity().is_valid_at(t))
}

/// Whether the certificate may issue a chain with `cas_below` intermediate CAs under it: a CA by basic constraints
/// within its path length, with keyCertSign if it states a key usage; or a version 1 certificate (old roots).
fn may_issue(cert: &X509Certificate<'_>, cas_below: usize) -> bool {
    let constraints = match cert.basic_constraints() {
        Ok(Some(bc)) => {
            bc.value.ca
                && bc
                    .value
                    .path_len_constraint
                    .is_none_or(|n| usize::try_from(n).is_ok_and(|n| cas_below <= n))
        }
        Ok(None) => cert.version().0 == 0,
        Err(_) => false,
    };
    let usage = match cert.key_usage() {
        Ok(Some(ku)) => ku.value.key_cert_sign(),
        Ok(None) => true,
        Err(_) => false,
    };
    constraints && usage
}

/// Result of a chain verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChainTrust {
    /// The chain ends at, or is issued by, one of the anchors.
    Anchored,
    /// The chain is internally consistent but reaches no anchor.
    Unanchored,
}

/// Verifies an `x5c` chain (leaf first): each certificate valid at `now`, issued by the next (names, signature, CA
/// constraint), and the last one either an anchor or issued by one.
pub(crate) fn verify_chain(
    chain: &[X509Certificate<'_>],
    anchors: &[&[u8]],
    now: OffsetDateTime,
) -> Result<ChainTrust, AttestationError> {
    if chain.is_empty() || chain.len() > MAX_CHAIN {
        return Err(AttestationError::ChainLength { len: chain.len() });
    }
    for (index, cert) in chain.iter().enumerate() {
        if !valid_at(cert, now) {
            return Err(AttestationError::CertificateNotValidAtTime { index });
        }
    }
    for (index, pair) in chain.windows(2).enumerate() {
        let (cert, issuer) = (&pair[0], &pair[1]);
        if cert.issuer().as_raw() != issuer.subject().as_raw() {
            return Err(AttestationError::ChainBroken { index });
        }
        if !may_issue(issuer, index) {
            return Err(AttestationError::ChainIssuerNotCa { index: index + 1 });
        }
        verify_cert_signature(cert, issuer.public_key(), index)?;
    }
    // A chain that contains an anchor (a root sent along, or a configured intermediate) is anchored there: every
    // link below it has been verified above.
    if chain.iter().any(|cert| anchors.contains(&cert.as_raw())) {
        return Ok(ChainTrust::Anchored);
    }
    let last_index = chain.len() - 1;
    let last = &chain[last_index];
    for anchor_der in anchors {
        let Ok(([], anchor)) = X509Certificate::from_der(anchor_der) else {
            continue;
        };
        if anchor.subject().as_raw() == last.issuer().as_raw()
            && may_issue(&anchor, last_index)
            && verify_cert_signature(last, anchor.public_key(), last_index).is_ok()
        {
            return Ok(ChainTrust::Anchored);
        }
    }
    Ok(ChainTrust::Unanchored)
}

/// Reads the id-fido-gen-ce-aaguid extension: `None` if absent; an error if malformed or critical.
pub(crate) fn aaguid_extension(
    cert: &X509Certificate<'_>,
) -> Result<Option<[u8; 16]>, AttestationError> {
    let Some(ext) = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == OID_FIDO_AAGUID)
    else {
        return Ok(None);
    };
    if ext.critical {
        return Err(AttestationError::AaguidExtensionMalformed);
    }
    let inner = der::read_all(ext.value)
        .filter(|t| t.is_universal(der::OCTET_STRING))
        .ok_or(AttestationError::AaguidExtensionMalformed)?;
    let aaguid: [u8; 16] = inner
        .content
        .try_into()
        .map_err(|_| AttestationError::AaguidExtensionMalformed)?;
    Ok(Some(aaguid))
}

/// WebAuthn L3 §8.2.1 / §8.3.1 step "If the certificate contains an id-fido-gen-ce-aaguid extension, verify that
/// the value of this extension matches the aaguid in authenticatorData".
pub(crate) fn check_aaguid_extension(
    cert: &X509Certificate<'_>,
    aaguid: &[u8; 16],
) -> Result<(), AttestationError> {
    match aaguid_extension(cert)? {
        Some(found) if &found != aaguid => Err(AttestationError::AaguidExtensionMismatch),
        _ => Ok(()),
    }
}

/// Basic constraints CA component, false when the extension is absent.
pub(crate) fn is_ca(cert: &X509Certificate<'_>) -> Result<bool, AttestationError> {
    match cert.basic_constraints() {
        Ok(bc) => Ok(bc.is_some_and(|b| b.value.ca)),
        Err(_) => Err(AttestationError::CertificateMalformed { index: 0 }),
    }
}

/// Outcome of a JWS signature check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JwsCheck {
    Valid,
    AlgorithmMismatch,
    SignatureInvalid,
}

/// Verifies a compact JWS signature (RS256 or ES256) with a certificate's key.
pub(crate) fn verify_jws(
    cert: &X509Certificate<'_>,
    jws_alg: &str,
    signing_input: &[u8],
    sig: &[u8],
) -> Result<JwsCheck, AttestationError> {
    let key = spki_key(cert.public_key())?;
    let (algorithm, bytes): (&'static dyn VerificationAlgorithm, &[u8]) = match (jws_alg, &key) {
        ("RS256", SpkiKey::Rsa { der, .. }) => (&signature::RSA_PKCS1_2048_8192_SHA256, der),
        (
            "ES256",
            SpkiKey::Ec {
                curve: Curve::P256,
                point,
            },
        ) => (&signature::ECDSA_P256_SHA256_FIXED, point),
        _ => return Ok(JwsCheck::AlgorithmMismatch),
    };
    Ok(
        match UnparsedPublicKey::new(algorithm, bytes).verify(signing_input, sig) {
            Ok(()) => JwsCheck::Valid,
            Err(_) => JwsCheck::SignatureInvalid,
        },
    )
}
