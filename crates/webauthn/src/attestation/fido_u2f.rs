//! `fido-u2f` attestation (WebAuthn L3 §8.6), for CTAP1/U2F security keys.

use super::key::{CredentialKey, Curve, alg};
use super::x509::{self, SpkiKey};
use super::{AttestationError, Statement, Subject, TrustPath, Verified, parse_chain};

/// WebAuthn L3 §8.6 "Verification procedure".
pub(crate) fn verify(
    stmt: &Statement<'_>,
    subject: &Subject<'_>,
) -> Result<Verified, AttestationError> {
    let sig = stmt.bytes("sig", "sig missing or not a byte string")?;
    // "Check that x5c has exactly one element".
    let x5c = stmt.x5c()?.ok_or(stmt.malformed("x5c missing"))?;
    if x5c.len() != 1 {
        return Err(AttestationError::ChainLength { len: x5c.len() });
    }
    let chain = parse_chain(&x5c)?;
    let cert = &chain[0];
    // "If certificate public key is not an Elliptic Curve (EC) public key over the P-256 curve, terminate".
    match x509::spki_key(cert.public_key())? {
        SpkiKey::Ec {
            curve: Curve::P256, ..
        } => {}
        _ => return Err(AttestationError::U2fKeyNotP256),
    }
    // "Convert the COSE_KEY formatted credentialPublicKey to Raw ANSI X9.62 public key format".
    let CredentialKey::Ec2 {
        curve: Curve::P256,
        x,
        y,
        ..
    } = &subject.key
    else {
        return Err(AttestationError::U2fKeyNotP256);
    };
    // "Let verificationData be the concatenation of (0x00 || rpIdHash || clientDataHash || credentialId ||
    // publicKeyU2F)".
    let mut data = Vec::with_capacity(1 + 32 + 32 + subject.credential_id.len() + 65);
    data.push(0x00);
    data.extend_from_slice(subject.rp_id_hash());
    data.extend_from_slice(subject.client_data_hash);
    data.extend_from_slice(subject.credential_id);
    data.push(0x04);
    data.extend_from_slice(x);
    data.extend_from_slice(y);
    // "Verify the sig using verificationData and the certificate public key per SEC1 with SHA-256".
    x509::verify_with_cert_key(cert, alg::ES256, &data, sig)?;
    Ok(Verified {
        trust_path: TrustPath::Basic(vec![x5c[0].to_vec()]),
    })
}
