//! `packed` attestation (WebAuthn L3 §8.2): self attestation, or basic/AttCA with an `x5c` chain.

use x509_parser::prelude::X509Certificate;

use super::{AttestationError, Statement, Subject, TrustPath, Verified, parse_chain, x509};

/// WebAuthn L3 §8.2 "Verification procedure".
pub(crate) fn verify(
    stmt: &Statement<'_>,
    subject: &Subject<'_>,
) -> Result<Verified, AttestationError> {
    let alg = stmt.alg()?;
    let sig = stmt.bytes("sig", "sig missing or not a byte string")?;
    if stmt.get("ecdaaKeyId").is_some() {
        return Err(stmt.malformed("ECDAA is not supported"));
    }
    let message = subject.to_be_signed();
    match stmt.x5c()? {
        Some(x5c) => {
            let chain = parse_chain(&x5c)?;
            let leaf = &chain[0];
            // "Verify that sig is a valid signature over the concatenation of authenticatorData and clientDataHash
            // using the attestation public key in attestnCert with the algorithm specified in alg."
            x509::verify_with_cert_key(leaf, alg, &message, sig)?;
            // "Verify that attestnCert meets the requirements in § 8.2.1".
            check_certificate(leaf)?;
            // "If attestnCert contains an extension with OID 1.3.6.1.4.1.45724.1.1.4 (id-fido-gen-ce-aaguid) verify
            // that the value of this extension matches the aaguid in authenticatorData."
            x509::check_aaguid_extension(leaf, &subject.aaguid)?;
            Ok(Verified {
                trust_path: TrustPath::Basic(x5c.iter().map(|c| c.to_vec()).collect()),
            })
        }
        None => {
            // Self attestation: "Validate that alg matches the algorithm of the credentialPublicKey in authenticatorData."
            let credential = subject.key.alg();
            if alg != credential {
                return Err(AttestationError::AlgorithmMismatch {
                    statement: alg,
                    credential,
                });
            }
            // "Verify that sig is a valid signature ... using the credential public key with alg."
            subject.key.verify(alg, &message, sig)?;
            Ok(Verified {
                trust_path: TrustPath::SelfAttestation,
            })
        }
    }
}

/// WebAuthn L3 §8.2.1 "Certificate Requirements for Packed Attestation Statements".
pub(crate) fn check_certificate(cert: &X509Certificate<'_>) -> Result<(), AttestationError> {
    // "Version MUST be set to 3 (which is indicated by an ASN.1 INTEGER with value 2)."
    if cert.version().0 != 2 {
        return Err(AttestationError::CertificateNotVersion3);
    }
    let subject = cert.subject();
    let one = |values: Vec<&str>, reason: &'static str| -> Result<String, AttestationError> {
        match values.as_slice() {
            [v] if !v.is_empty() => Ok((*v).to_owned()),
            _ => Err(AttestationError::CertificateSubjectInvalid { reason }),
        }
    };
    // "Subject-C: ISO 3166 code specifying the country where the Authenticator vendor is incorporated".
    let country = one(
        subject
            .iter_country()
            .filter_map(|a| a.as_str().ok())
            .collect(),
        "C missing",
    )?;
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(AttestationError::CertificateSubjectInvalid {
            reason: "C is not an ISO 3166 code",
        });
    }
    // "Subject-O: Legal name of the Authenticator vendor".
    one(
        subject
            .iter_organization()
            .filter_map(|a| a.as_str().ok())
            .collect(),
        "O missing",
    )?;
    // "Subject-OU: Literal string 'Authenticator Attestation'".
    let ou = one(
        subject
            .iter_organizational_unit()
            .filter_map(|a| a.as_str().ok())
            .collect(),
        "OU missing",
    )?;
    if ou != "Authenticator Attestation" {
        return Err(AttestationError::CertificateSubjectInvalid {
            reason: "OU is not \"Authenticator Attestation\"",
        });
    }
    // "Subject-CN: A UTF8String of the vendor's choosing".
    one(
        subject
            .iter_common_name()
            .filter_map(|a| a.as_str().ok())
            .collect(),
        "CN missing",
    )?;
    // "The Basic Constraints extension MUST have the CA component set to false."
    if x509::is_ca(cert)? {
        return Err(AttestationError::CertificateIsCa);
    }
    Ok(())
}
