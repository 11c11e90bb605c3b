//! `android-key` attestation (WebAuthn L3 §8.4) and the Android Keystore key description extension.

use super::x509;
use super::{
    AndroidKeyEnforcement, AttestationError, Statement, Subject, TrustPath, Verified, der,
    parse_chain,
};

/// The Android key attestation extension, 1.3.6.1.4.1.11129.2.1.17.
const OID_KEY_DESCRIPTION: &str = "1.3.6.1.4.1.11129.2.1.17";
/// AuthorizationList tags (Android Keymaster `Tag` numbers).
const TAG_PURPOSE: u32 = 1;
const TAG_ALL_APPLICATIONS: u32 = 600;
const TAG_ORIGIN: u32 = 702;
/// KM_PURPOSE_SIGN.
const PURPOSE_SIGN: u64 = 2;
/// KM_ORIGIN_GENERATED.
const ORIGIN_GENERATED: u64 = 0;

/// WebAuthn L3 §8.4 "Verification procedure".
pub(crate) fn verify(
    stmt: &Statement<'_>,
    subject: &Subject<'_>,
    enforcement: AndroidKeyEnforcement,
) -> Result<Verified, AttestationError> {
    let alg = stmt.alg()?;
    let sig = stmt.bytes("sig", "sig missing or not a byte string")?;
    let x5c = stmt.x5c()?.ok_or(stmt.malformed("x5c missing"))?;
    let chain = parse_chain(&x5c)?;
    let leaf = &chain[0];
    // "Verify that sig is a valid signature over the concatenation of authenticatorData and clientDataHash using the
    // public key in the first certificate in x5c with the algorithm specified in alg."
    x509::verify_with_cert_key(leaf, alg, &subject.to_be_signed(), sig)?;
    // "Verify that the public key in the first certificate in x5c matches the credentialPublicKey".
    if !subject
        .key
        .matches_spki(&x509::spki_key(leaf.public_key())?)
    {
        return Err(AttestationError::CertificateKeyMismatch);
    }
    let ext = leaf
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == OID_KEY_DESCRIPTION)
        .ok_or(AttestationError::AndroidKeyDescriptionMalformed)?;
    let description =
        KeyDescription::parse(ext.value).ok_or(AttestationError::AndroidKeyDescriptionMalformed)?;
    // "Verify that the attestationChallenge field in the attestation certificate extension data is identical to
    // clientDataHash."
    if description.attestation_challenge != subject.client_data_hash.as_slice() {
        return Err(AttestationError::AndroidKeyChallengeMismatch);
    }
    // "The AuthorizationList.allApplications field is not present on either authorization list".
    if description.software.all_applications || description.tee.all_applications {
        return Err(AttestationError::AndroidKeyAllApplications);
    }
    // "For the following, use only the teeEnforced authorization list if the RP wants to accept only keys from a
    // trusted execution environment, otherwise use the union of teeEnforced and softwareEnforced." The union is the
    // default; the hardware itself is vouched for by the chain's anchor (docs/webauthn-policy.md).
    let software = match enforcement {
        AndroidKeyEnforcement::TeeOrSoftware => Some(&description.software),
        AndroidKeyEnforcement::TeeOnly => None,
    };
    let origin = description.tee.origin.or(software.and_then(|s| s.origin));
    if origin != Some(ORIGIN_GENERATED) {
        return Err(AttestationError::AndroidKeyOriginNotGenerated);
    }
    let software_purposes = software.map(|s| s.purposes.as_slice()).unwrap_or_default();
    let signs = description
        .tee
        .purposes
        .iter()
        .chain(software_purposes)
        .any(|&p| p == PURPOSE_SIGN);
    if !signs {
        return Err(AttestationError::AndroidKeyPurposeNotSign);
    }
    Ok(Verified {
        trust_path: TrustPath::Basic(x5c.iter().map(|c| c.to_vec()).collect()),
    })
}

/// The fields of the KeyDescription this procedure checks.
#[derive(Debug, Default)]
struct KeyDescription<'a> {
    attestation_challenge: &'a [u8],
    software: AuthorizationList,
    tee: AuthorizationList,
}

/// The fields of an AuthorizationList this procedure checks.
#[derive(Debug, Default)]
struct AuthorizationList {
    purposes: Vec<u64>,
    all_applications: bool,
    origin: Option<u64>,
}

impl<'a> KeyDescription<'a> {
    /// `KeyDescription ::= SEQUENCE { attestationVersion, attestationSecurityLevel, keymasterVersion,
    /// keymasterSecurityLevel, attestationChallenge OCTET STRING, uniqueId OCTET STRING, softwareEnforced
    /// AuthorizationList, teeEnforced AuthorizationList, ... }`.
    fn parse(value: &'a [u8]) -> Option<Self> {
        let seq = der::read_all(value).filter(|t| t.is_universal(der::SEQUENCE))?;
        let fields = der::children(seq.content)
            .collect::<Result<Vec<_>, ()>>()
            .ok()?;
        let [_, _, _, _, challenge, _, software, tee, ..] = fields.as_slice() else {
            return None;
        };
        if !challenge.is_universal(der::OCTET_STRING)
            || !software.is_universal(der::SEQUENCE)
            || !tee.is_universal(der::SEQUENCE)
        {
            return None;
        }
        Some(Self {
            attestation_challenge: challenge.content,
            software: AuthorizationList::parse(software.content)?,
            tee: AuthorizationList::parse(tee.content)?,
        })
    }
}

impl AuthorizationList {
    fn parse(content: &[u8]) -> Option<Self> {
        let mut list = Self::default();
        for item in der::children(content) {
            let item = item.ok()?;
            if item.class != der::Class::Context {
                continue;
            }
            match item.number {
                TAG_PURPOSE => {
                    let set = der::read_all(item.content).filter(|t| t.is_universal(der::SET))?;
                    for purpose in der::children(set.content) {
                        let purpose = purpose.ok().filter(|p| p.is_universal(der::INTEGER))?;
                        list.purposes.push(der::small_uint(purpose.content)?);
                    }
                }
                TAG_ALL_APPLICATIONS => list.all_applications = true,
                TAG_ORIGIN => {
                    let origin =
                        der::read_all(item.content).filter(|t| t.is_universal(der::INTEGER))?;
                    list.origin = Some(der::small_uint(origin.content)?);
                }
                _ => {}
            }
        }
        Some(list)
    }
}
