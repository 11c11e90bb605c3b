//! `tpm` attestation (WebAuthn L3 §8.3): TPM 2.0 `certInfo` (TPMS_ATTEST) and `pubArea` (TPMT_PUBLIC), signed by an
//! attestation identity key (AIK) certificate.

use aws_lc_rs::digest;
use x509_parser::prelude::X509Certificate;

use super::key::{CredentialKey, Curve, alg, strip_zeros};
use super::{
    AttestationError, AttestationTrust, Statement, Subject, TpmTestManufacturer, TrustPath,
    Verified, der, parse_chain, x509,
};

const TPM_ALG_RSA: u16 = 0x0001;
const TPM_ALG_SHA1: u16 = 0x0004;
const TPM_ALG_SHA256: u16 = 0x000b;
const TPM_ALG_SHA384: u16 = 0x000c;
const TPM_ALG_SHA512: u16 = 0x000d;
const TPM_ALG_NULL: u16 = 0x0010;
const TPM_ALG_ECC: u16 = 0x0023;
const TPM_ECC_NIST_P256: u16 = 0x0003;
const TPM_ECC_NIST_P384: u16 = 0x0004;
const TPM_ECC_NIST_P521: u16 = 0x0005;
const TPM_GENERATED_VALUE: u32 = 0xff54_4347;
const TPM_ST_ATTEST_CERTIFY: u16 = 0x8017;
/// tcg-kp-AIKCertificate.
const OID_TCG_KP_AIK_CERTIFICATE: &str = "2.23.133.8.3";
/// DER contents of tcg-at-tpmManufacturer (2.23.133.2.1), tcg-at-tpmModel (.2) and tcg-at-tpmVersion (.3).
const OID_TPM_MANUFACTURER: [u8; 5] = [0x67, 0x81, 0x05, 0x02, 0x01];
const OID_TPM_MODEL: [u8; 5] = [0x67, 0x81, 0x05, 0x02, 0x02];
const OID_TPM_VERSION: [u8; 5] = [0x67, 0x81, 0x05, 0x02, 0x03];
/// The FIDO conformance tool's TPM manufacturer id.
const FIDO_TEST_MANUFACTURER: &str = "FFFFF1D0";
/// TCG TPM Vendor ID Registry (hex of the 4-byte vendor id, as in `id:XXXXXXXX`).
const TCG_VENDOR_IDS: &[&str] = &[
    "414D4400", // AMD
    "41544D4C", // Atmel
    "4252434D", // Broadcom
    "4353434F", // Cisco
    "464C5953", // Flyslice
    "524F4343", // Fuzhou Rockchip
    "474F4F47", // Google
    "48504900", // HPI
    "48504500", // HPE
    "48495349", // Huawei
    "49424D00", // IBM
    "49465800", // Infineon
    "494E5443", // Intel
    "4C454E00", // Lenovo
    "4D534654", // Microsoft
    "4E534D20", // National Semiconductor
    "4E545A00", // Nationz
    "4E544300", // Nuvoton
    "51434F4D", // Qualcomm
    "534D534E", // Samsung
    "534E5300", // Sinosun
    "534D5343", // SMSC
    "53544D20", // STMicroelectronics
    "54584E00", // Texas Instruments
    "57454300", // Winbond
    "5345414C", // Wisekey
];

/// A big-endian cursor over TPM structures.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.rest.split_at_checked(n)?;
        self.rest = rest;
        Some(head)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A TPM2B: a u16 size followed by that many bytes.
    fn sized(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
    /// A TPMT_*_SCHEME / TPMT_SYM_DEF_OBJECT: an algorithm, then details unless it is TPM_ALG_NULL.
    fn scheme(&mut self, detail_len: usize) -> Option<u16> {
        let alg = self.u16()?;
        if alg != TPM_ALG_NULL {
            self.take(detail_len)?;
        }
        Some(alg)
    }
}

/// The parts of a TPMT_PUBLIC the procedure checks.
#[derive(Debug)]
struct PubArea<'a> {
    name_alg: u16,
    key: PubAreaKey<'a>,
}

/// The public key in a TPMT_PUBLIC.
#[derive(Debug)]
enum PubAreaKey<'a> {
    Rsa {
        modulus: &'a [u8],
        exponent: u32,
    },
    Ecc {
        curve: Curve,
        x: &'a [u8],
        y: &'a [u8],
    },
}

fn pub_area_malformed(reason: &'static str) -> AttestationError {
    AttestationError::TpmPubAreaMalformed { reason }
}

/// Parses TPMT_PUBLIC (TPM 2.0 Part 2 §12.2.4) down to its key; all bytes must be consumed.
fn parse_pub_area(bytes: &[u8]) -> Result<PubArea<'_>, AttestationError> {
    let mut r = Reader { rest: bytes };
    let truncated = || pub_area_malformed("truncated");
    let kind = r.u16().ok_or_else(truncated)?;
    let name_alg = r.u16().ok_or_else(truncated)?;
    let _object_attributes = r.u32().ok_or_else(truncated)?;
    let _auth_policy = r.sized().ok_or_else(truncated)?;
    let key = match kind {
        TPM_ALG_RSA => {
            r.scheme(4).ok_or_else(truncated)?; // symmetric: keyBits, mode
            r.scheme(2).ok_or_else(truncated)?; // scheme: hashAlg
            let _key_bits = r.u16().ok_or_else(truncated)?;
            let exponent = r.u32().ok_or_else(truncated)?;
            let modulus = r.sized().ok_or_else(truncated)?;
            // TPM 2.0 Part 2 §12.2.3.5: "an exponent of zero indicates that the exponent is the default of 2^16 + 1".
            PubAreaKey::Rsa {
                modulus,
                exponent: if exponent == 0 { 65537 } else { exponent },
            }
        }
        TPM_ALG_ECC => {
            r.scheme(4).ok_or_else(truncated)?;
            r.scheme(2).ok_or_else(truncated)?;
            let curve = match r.u16().ok_or_else(truncated)? {
                TPM_ECC_NIST_P256 => Curve::P256,
                TPM_ECC_NIST_P384 => Curve::P384,
                TPM_ECC_NIST_P521 => Curve::P521,
                _ => return Err(pub_area_malformed("unsupported ECC curve")),
            };
            r.scheme(2).ok_or_else(truncated)?; // kdf
            let x = r.sized().ok_or_else(truncated)?;
            let y = r.sized().ok_or_else(truncated)?;
            PubAreaKey::Ecc { curve, x, y }
        }
        _ => return Err(pub_area_malformed("unsupported key type")),
    };
    if !r.rest.is_empty() {
        return Err(pub_area_malformed("trailing bytes"));
    }
    Ok(PubArea { name_alg, key })
}

/// The TPMS_ATTEST fields the procedure checks.
struct CertInfo<'a> {
    magic: u32,
    kind: u16,
    extra_data: &'a [u8],
    attested_name: &'a [u8],
}

/// Parses TPMS_ATTEST (TPM 2.0 Part 2 §10.12.12) with TPMS_CERTIFY_INFO; all bytes must be consumed.
fn parse_cert_info(bytes: &[u8]) -> Result<CertInfo<'_>, AttestationError> {
    let malformed = || AttestationError::TpmCertInfoMalformed {
        reason: "truncated",
    };
    let mut r = Reader { rest: bytes };
    let magic = r.u32().ok_or_else(malformed)?;
    let kind = r.u16().ok_or_else(malformed)?;
    let _qualified_signer = r.sized().ok_or_else(malformed)?;
    let extra_data = r.sized().ok_or_else(malformed)?;
    let _clock_info = r.take(17).ok_or_else(malformed)?;
    let _firmware_version = r.take(8).ok_or_else(malformed)?;
    let attested_name = r.sized().ok_or_else(malformed)?;
    let _qualified_name = r.sized().ok_or_else(malformed)?;
    if !r.rest.is_empty() {
        return Err(AttestationError::TpmCertInfoMalformed {
            reason: "trailing bytes",
        });
    }
    Ok(CertInfo {
        magic,
        kind,
        extra_data,
        attested_name,
    })
}

/// The hash a COSE signature algorithm uses.
fn hash_of_alg(cose_alg: i64) -> Result<&'static digest::Algorithm, AttestationError> {
    Ok(match cose_alg {
        alg::RS1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        alg::RS256 | alg::ES256 | alg::PS256 => &digest::SHA256,
        alg::RS384 | alg::ES384 | alg::PS384 => &digest::SHA384,
        alg::RS512 | alg::ES512 | alg::PS512 => &digest::SHA512,
        _ => return Err(AttestationError::AlgorithmUnsupported { alg: cose_alg }),
    })
}

/// WebAuthn L3 §8.3 "Verification procedure".
pub(crate) fn verify(
    stmt: &Statement<'_>,
    subject: &Subject<'_>,
    trust: &AttestationTrust<'_>,
) -> Result<Verified, AttestationError> {
    if stmt.get("ver").and_then(|v| v.as_text()) != Some("2.0") {
        return Err(AttestationError::TpmVersionUnsupported);
    }
    let alg = stmt.alg()?;
    let sig = stmt.bytes("sig", "sig missing or not a byte string")?;
    let cert_info_bytes = stmt.bytes("certInfo", "certInfo missing or not a byte string")?;
    let pub_area_bytes = stmt.bytes("pubArea", "pubArea missing or not a byte string")?;
    if stmt.get("ecdaaKeyId").is_some() {
        return Err(stmt.malformed("ECDAA is not supported"));
    }
    let x5c = stmt.x5c()?.ok_or(stmt.malformed("x5c missing"))?;

    // "Verify that the public key specified by the parameters and unique fields of pubArea is identical to the
    // credentialPublicKey in the attestedCredentialData in authenticatorData."
    let pub_area = parse_pub_area(pub_area_bytes)?;
    let same = match (pub_area.key, &subject.key) {
        (PubAreaKey::Rsa { modulus, exponent }, CredentialKey::Rsa { n, e, .. }) => {
            strip_zeros(modulus) == strip_zeros(n)
                && strip_zeros(&exponent.to_be_bytes()) == strip_zeros(e)
        }
        (
            PubAreaKey::Ecc { curve, x, y },
            CredentialKey::Ec2 {
                curve: c,
                x: cx,
                y: cy,
                ..
            },
        ) => curve == *c && x == cx.as_slice() && y == cy.as_slice(),
        _ => false,
    };
    if !same {
        return Err(AttestationError::TpmPubAreaKeyMismatch);
    }

    // "Validate that certInfo is valid":
    let cert_info = parse_cert_info(cert_info_bytes)?;
    // "Verify that magic is set to TPM_GENERATED_VALUE."
    if cert_info.magic != TPM_GENERATED_VALUE {
        return Err(AttestationError::TpmMagicInvalid);
    }
    // "Verify that type is set to TPM_ST_ATTEST_CERTIFY."
    if cert_info.kind != TPM_ST_ATTEST_CERTIFY {
        return Err(AttestationError::TpmTypeInvalid);
    }
    // "Verify that extraData is set to the hash of attToBeSigned using the hash algorithm employed in 'alg'."
    let att_hash = digest::digest(hash_of_alg(alg)?, &subject.to_be_signed());
    if cert_info.extra_data != att_hash.as_ref() {
        return Err(AttestationError::TpmExtraDataMismatch);
    }
    // "Verify that attested contains a TPMS_CERTIFY_INFO structure ... whose name field contains a valid Name for
    // pubArea, as computed using the algorithm in the nameAlg field of pubArea".
    check_name(cert_info.attested_name, pub_area.name_alg, pub_area_bytes)?;

    let chain = parse_chain(&x5c)?;
    let aik = &chain[0];
    // "Verify the sig is a valid signature over certInfo using the attestation public key in aikCert with the
    // algorithm specified in alg."
    x509::verify_with_cert_key(aik, alg, cert_info_bytes, sig)?;
    // "Verify that aikCert meets the requirements in § 8.3.1".
    check_aik_certificate(aik, trust)?;
    // "If aikCert contains an extension with OID 1.3.6.1.4.1.45724.1.1.4 (id-fido-gen-ce-aaguid) verify that the
    // value of this extension matches the aaguid in authenticatorData."
    x509::check_aaguid_extension(aik, &subject.aaguid)?;
    Ok(Verified {
        trust_path: TrustPath::AttestationCa(x5c.iter().map(|c| c.to_vec()).collect()),
    })
}

/// A TPM Name is `nameAlg || H_nameAlg(pubArea)`, with pubArea's own nameAlg.
fn check_name(name: &[u8], name_alg: u16, pub_area: &[u8]) -> Result<(), AttestationError> {
    let (alg_bytes, hash) = name
        .split_at_checked(2)
        .ok_or(AttestationError::TpmNameMismatch)?;
    if u16::from_be_bytes([alg_bytes[0], alg_bytes[1]]) != name_alg {
        return Err(AttestationError::TpmNameMismatch);
    }
    let algorithm = match name_alg {
        TPM_ALG_SHA1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        TPM_ALG_SHA256 => &digest::SHA256,
        TPM_ALG_SHA384 => &digest::SHA384,
        TPM_ALG_SHA512 => &digest::SHA512,
        _ => return Err(AttestationError::TpmNameMismatch),
    };
    if digest::digest(algorithm, pub_area).as_ref() != hash {
        return Err(AttestationError::TpmNameMismatch);
    }
    Ok(())
}

/// WebAuthn L3 §8.3.1 "TPM Attestation Statement Certificate Requirements".
fn check_aik_certificate(
    cert: &X509Certificate<'_>,
    trust: &AttestationTrust<'_>,
) -> Result<(), AttestationError> {
    // "Version MUST be set to 3."
    if cert.version().0 != 2 {
        return Err(AttestationError::CertificateNotVersion3);
    }
    // "Subject field MUST be set to empty."
    if cert.subject().iter_attributes().next().is_some() {
        return Err(AttestationError::CertificateSubjectInvalid {
            reason: "the AIK certificate subject is not empty",
        });
    }
    // "The Subject Alternative Name extension MUST be set as defined in [TPMv2-EK-Profile] section 3.2.9."
    let san = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == "2.5.29.17")
        .ok_or(AttestationError::TpmSanInvalid {
            reason: "subject alternative name missing",
        })?;
    let attributes = TpmAttributes::find(san.value);
    let manufacturer = attributes
        .manufacturer
        .ok_or(AttestationError::TpmSanInvalid {
            reason: "no tpmManufacturer",
        })?;
    if attributes.model.is_none() || attributes.version.is_none() {
        return Err(AttestationError::TpmSanInvalid {
            reason: "no tpmModel or tpmVersion",
        });
    }
    check_manufacturer(&manufacturer, trust)?;
    // "The Extended Key Usage extension MUST contain the OID 2.23.133.8.3".
    let eku = cert
        .extended_key_usage()
        .ok()
        .flatten()
        .ok_or(AttestationError::TpmEkuMissing)?;
    if !eku
        .value
        .other
        .iter()
        .any(|oid| oid.to_id_string() == OID_TCG_KP_AIK_CERTIFICATE)
    {
        return Err(AttestationError::TpmEkuMissing);
    }
    // "The Basic Constraints extension MUST have the CA component set to false."
    if x509::is_ca(cert)? {
        return Err(AttestationError::CertificateIsCa);
    }
    Ok(())
}

fn check_manufacturer(
    manufacturer: &str,
    trust: &AttestationTrust<'_>,
) -> Result<(), AttestationError> {
    let unknown = || AttestationError::TpmManufacturerUnknown {
        manufacturer: manufacturer.to_owned(),
    };
    let id = manufacturer.strip_prefix("id:").ok_or_else(unknown)?;
    if id.eq_ignore_ascii_case(FIDO_TEST_MANUFACTURER) {
        return match trust.tpm_test_manufacturer {
            TpmTestManufacturer::InsecureAllow => Ok(()),
            TpmTestManufacturer::Refuse => Err(unknown()),
        };
    }
    if TCG_VENDOR_IDS.iter().any(|v| v.eq_ignore_ascii_case(id)) {
        Ok(())
    } else {
        Err(unknown())
    }
}

/// The TCG attributes in the AIK certificate's SAN directoryName.
#[derive(Debug, Default)]
struct TpmAttributes {
    manufacturer: Option<String>,
    model: Option<String>,
    version: Option<String>,
}

impl TpmAttributes {
    /// Walks the SAN's DER for each `AttributeTypeAndValue` naming a TCG attribute. This accepts both the
    /// spec-compliant structure (one RDN per attribute) and the common non-compliant one (one multi-valued RDN, or
    /// the attributes in a single SEQUENCE).
    fn find(san: &[u8]) -> Self {
        let mut found = Self::default();
        found.walk(san, 0);
        found
    }

    fn walk(&mut self, bytes: &[u8], depth: usize) {
        if depth > 8 {
            return;
        }
        let mut previous_oid: Option<&[u8]> = None;
        for tlv in der::children(bytes) {
            let Ok(tlv) = tlv else { return };
            if tlv.is_universal(der::OID) {
                previous_oid = Some(tlv.content);
                continue;
            }
            if let Some(oid) = previous_oid.take() {
                let value = std::str::from_utf8(tlv.content).ok().map(str::to_owned);
                match oid {
                    o if o == OID_TPM_MANUFACTURER => self.manufacturer = value,
                    o if o == OID_TPM_MODEL => self.model = value,
                    o if o == OID_TPM_VERSION => self.version = value,
                    _ => {}
                }
            }
            if tlv.constructed {
                self.walk(tlv.content, depth + 1);
            }
        }
    }
}
