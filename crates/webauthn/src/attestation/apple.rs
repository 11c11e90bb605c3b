//! `apple` anonymous attestation (WebAuthn L3 §8.8).

use aws_lc_rs::digest;

use super::{AttestationError, Statement, Subject, TrustPath, Verified, der, parse_chain};

/// Apple's nonce extension, 1.2.840.113635.100.8.2.
const OID_APPLE_NONCE: &str = "1.2.840.113635.100.8.2";

/// WebAuthn L3 §8.8 "Verification procedure".
pub(crate) fn verify(
    stmt: &Statement<'_>,
    subject: &Subject<'_>,
) -> Result<Verified, AttestationError> {
    let x5c = stmt.x5c()?.ok_or(stmt.malformed("x5c missing"))?;
    let chain = parse_chain(&x5c)?;
    let cred_cert = &chain[0];
    // "Concatenate authenticatorData and clientDataHash to form nonceToHash. Perform SHA-256 hash of nonceToHash to
    // produce nonce."
    let nonce = digest::digest(&digest::SHA256, &subject.to_be_signed());
    // "Verify that nonce equals the value of the extension with OID 1.2.840.113635.100.8.2 in credCert."
    let ext = cred_cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == OID_APPLE_NONCE)
        .ok_or(AttestationError::AppleNonceMismatch)?;
    let found = nonce_from_extension(ext.value).ok_or(AttestationError::AppleNonceMismatch)?;
    if found != nonce.as_ref() {
        return Err(AttestationError::AppleNonceMismatch);
    }
    // "Verify that the credential public key equals the Subject Public Key of credCert."
    let key = super::x509::spki_key(cred_cert.public_key())?;
    if !subject.key.matches_spki(&key) {
        return Err(AttestationError::CertificateKeyMismatch);
    }
    Ok(Verified {
        trust_path: TrustPath::AttestationCa(x5c.iter().map(|c| c.to_vec()).collect()),
    })
}

/// The extension value is `SEQUENCE { [1] EXPLICIT OCTET STRING nonce }`.
fn nonce_from_extension(value: &[u8]) -> Option<&[u8]> {
    let seq = der::read_all(value).filter(|t| t.is_universal(der::SEQUENCE))?;
    let tagged =
        der::read_all(seq.content).filter(|t| t.class == der::Class::Context && t.number == 1)?;
    let octets = der::read_all(tagged.content).filter(|t| t.is_universal(der::OCTET_STRING))?;
    Some(octets.content)
}
