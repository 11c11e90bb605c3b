//! `tpm` attestation (WebAuthn L3 §8.3): TPM 2.0 `certInfo` (TPMS_ATTEST) and `pubArea` (TPMT_PUBLIC), signed by an
//! attestation identity key (AIK) certificate. [`TpmsAttest::decode`] and [`TpmtPublic::decode`] are public for
//! tools that show these structures (`tessera webauthn inspect`).

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
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        Some(u64::from_be_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
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

/// The name of a TPM algorithm id (`TPM_ALG_ID`, TCG Algorithm Registry) that attestations use.
pub fn algorithm_name(id: u16) -> Option<&'static str> {
    Some(match id {
        TPM_ALG_RSA => "TPM_ALG_RSA",
        TPM_ALG_SHA1 => "TPM_ALG_SHA1",
        TPM_ALG_SHA256 => "TPM_ALG_SHA256",
        TPM_ALG_SHA384 => "TPM_ALG_SHA384",
        TPM_ALG_SHA512 => "TPM_ALG_SHA512",
        TPM_ALG_NULL => "TPM_ALG_NULL",
        0x0014 => "TPM_ALG_RSASSA",
        0x0016 => "TPM_ALG_RSAPSS",
        0x0018 => "TPM_ALG_ECDSA",
        TPM_ALG_ECC => "TPM_ALG_ECC",
        _ => return None,
    })
}

/// The name of a TPM elliptic curve id (`TPM_ECC_CURVE`) that attestations use.
pub fn curve_name(id: u16) -> Option<&'static str> {
    Some(match id {
        TPM_ECC_NIST_P256 => "NIST_P256",
        TPM_ECC_NIST_P384 => "NIST_P384",
        TPM_ECC_NIST_P521 => "NIST_P521",
        _ => return None,
    })
}

/// `TPMS_ATTEST` with `TPMS_CERTIFY_INFO` (TPM 2.0 Part 2 §10.12.12), as a `tpm` statement's `certInfo` carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmsAttest<'a> {
    /// `magic`: `TPM_GENERATED_VALUE` (`0xff544347`) when the TPM made the structure.
    pub magic: u32,
    /// `type`: `TPM_ST_ATTEST_CERTIFY` (`0x8017`) for a certification.
    pub kind: u16,
    /// `qualifiedSigner`.
    pub qualified_signer: &'a [u8],
    /// `extraData`: the hash of `attToBeSigned`.
    pub extra_data: &'a [u8],
    /// `clockInfo.clock`.
    pub clock: u64,
    /// `clockInfo.resetCount`.
    pub reset_count: u32,
    /// `clockInfo.restartCount`.
    pub restart_count: u32,
    /// `clockInfo.safe`.
    pub safe: bool,
    /// `firmwareVersion`.
    pub firmware_version: u64,
    /// `attested.name`: `nameAlg ‖ H(pubArea)`.
    pub attested_name: &'a [u8],
    /// `attested.qualifiedName`.
    pub attested_qualified_name: &'a [u8],
    /// Bytes after the structure (none in a valid statement).
    pub trailing: &'a [u8],
}

impl<'a> TpmsAttest<'a> {
    /// Decodes the structure; `None` when it is truncated. Trailing bytes are kept in [`TpmsAttest::trailing`].
    pub fn decode(bytes: &'a [u8]) -> Option<Self> {
        let mut r = Reader { rest: bytes };
        Some(Self {
            magic: r.u32()?,
            kind: r.u16()?,
            qualified_signer: r.sized()?,
            extra_data: r.sized()?,
            clock: r.u64()?,
            reset_count: r.u32()?,
            restart_count: r.u32()?,
            safe: r.u8()? != 0,
            firmware_version: r.u64()?,
            attested_name: r.sized()?,
            attested_qualified_name: r.sized()?,
            trailing: r.rest,
        })
    }
}

/// `TPMT_PUBLIC` (TPM 2.0 Part 2 §12.2.4), as a `tpm` statement's `pubArea` carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmtPublic<'a> {
    /// `type`: `TPM_ALG_RSA` or `TPM_ALG_ECC` for a credential key.
    pub kind: u16,
    /// `nameAlg`: the hash of the key's Name.
    pub name_alg: u16,
    /// `objectAttributes`.
    pub object_attributes: u32,
    /// `authPolicy`.
    pub auth_policy: &'a [u8],
    /// `parameters` and `unique`, by key type.
    pub parameters: TpmtPublicParameters<'a>,
    /// Bytes after the structure (none in a valid statement); for a key type not decoded, everything after
    /// `authPolicy`.
    pub trailing: &'a [u8],
}

/// The key of a [`TpmtPublic`]: `parameters` (`TPMU_PUBLIC_PARMS`) and `unique` (`TPMU_PUBLIC_ID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TpmtPublicParameters<'a> {
    /// `TPMS_RSA_PARMS` and the modulus.
    Rsa {
        /// `symmetric.algorithm`.
        symmetric: u16,
        /// `scheme.scheme`.
        scheme: u16,
        /// `keyBits`.
        key_bits: u16,
        /// `exponent`, with 0 read as the default 65537.
        exponent: u32,
        /// `unique.rsa`: the modulus.
        modulus: &'a [u8],
    },
    /// `TPMS_ECC_PARMS` and the point.
    Ecc {
        /// `symmetric.algorithm`.
        symmetric: u16,
        /// `scheme.scheme`.
        scheme: u16,
        /// `curveID`.
        curve: u16,
        /// `kdf.scheme`.
        kdf: u16,
        /// `unique.ecc.x`.
        x: &'a [u8],
        /// `unique.ecc.y`.
        y: &'a [u8],
    },
    /// A key type this decoder does not read.
    Other,
}

impl<'a> TpmtPublic<'a> {
    /// Decodes the structure; `None` when it is truncated. Trailing bytes are kept in [`TpmtPublic::trailing`].
    pub fn decode(bytes: &'a [u8]) -> Option<Self> {
        let mut r = Reader { rest: bytes };
        let kind = r.u16()?;
        let name_alg = r.u16()?;
        let object_attributes = r.u32()?;
        let auth_policy = r.sized()?;
        let parameters = match kind {
            TPM_ALG_RSA => {
                let symmetric = r.scheme(4)?; // keyBits, mode
                let scheme = r.scheme(2)?; // hashAlg
                let key_bits = r.u16()?;
                let exponent = r.u32()?;
                let modulus = r.sized()?;
                TpmtPublicParameters::Rsa {
                    symmetric,
                    scheme,
                    key_bits,
                    // TPM 2.0 Part 2 §12.2.3.5: "an exponent of zero indicates that the exponent is the default of
                    // 2^16 + 1".
                    exponent: if exponent == 0 { 65537 } else { exponent },
                    modulus,
                }
            }
            TPM_ALG_ECC => TpmtPublicParameters::Ecc {
                symmetric: r.scheme(4)?,
                scheme: r.scheme(2)?,
                curve: r.u16()?,
                kdf: r.scheme(2)?,
                x: r.sized()?,
                y: r.sized()?,
            },
            _ => TpmtPublicParameters::Other,
        };
        Some(Self {
            kind,
            name_alg,
            object_attributes,
            auth_policy,
            parameters,
            trailing: r.rest,
        })
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

/// Parses TPMT_PUBLIC down to its key; all bytes must be consumed.
fn parse_pub_area(bytes: &[u8]) -> Result<PubArea<'_>, AttestationError> {
    let public = TpmtPublic::decode(bytes).ok_or_else(|| pub_area_malformed("truncated"))?;
    let key = match public.parameters {
        TpmtPublicParameters::Rsa {
            exponent, modulus, ..
        } => PubAreaKey::Rsa { modulus, exponent },
        TpmtPublicParameters::Ecc { curve, x, y, .. } => PubAreaKey::Ecc {
            curve: match curve {
                TPM_ECC_NIST_P256 => Curve::P256,
                TPM_ECC_NIST_P384 => Curve::P384,
                TPM_ECC_NIST_P521 => Curve::P521,
                _ => return Err(pub_area_malformed("unsupported ECC curve")),
            },
            x,
            y,
        },
        TpmtPublicParameters::Other => return Err(pub_area_malformed("unsupported key type")),
    };
    if !public.trailing.is_empty() {
        return Err(pub_area_malformed("trailing bytes"));
    }
    Ok(PubArea {
        name_alg: public.name_alg,
        key,
    })
}

/// Parses TPMS_ATTEST with TPMS_CERTIFY_INFO; all bytes must be consumed.
fn parse_cert_info(bytes: &[u8]) -> Result<TpmsAttest<'_>, AttestationError> {
    let attest = TpmsAttest::decode(bytes).ok_or(AttestationError::TpmCertInfoMalformed {
        reason: "truncated",
    })?;
    if !attest.trailing.is_empty() {
        return Err(AttestationError::TpmCertInfoMalformed {
            reason: "trailing bytes",
        });
    }
    Ok(attest)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sized(bytes: &[u8]) -> Vec<u8> {
        let mut out = u16::try_from(bytes.len())
            .expect("short")
            .to_be_bytes()
            .to_vec();
        out.extend_from_slice(bytes);
        out
    }

    fn cert_info() -> Vec<u8> {
        let mut out = TPM_GENERATED_VALUE.to_be_bytes().to_vec();
        out.extend(TPM_ST_ATTEST_CERTIFY.to_be_bytes());
        out.extend(sized(b"signer"));
        out.extend(sized(&[7; 32]));
        out.extend(42u64.to_be_bytes());
        out.extend(3u32.to_be_bytes());
        out.extend(4u32.to_be_bytes());
        out.push(1);
        out.extend(0x0102_0304_0506_0708u64.to_be_bytes());
        out.extend(sized(&[0x00, 0x0b, 9, 9]));
        out.extend(sized(b"qn"));
        out
    }

    fn ecc_pub_area(curve: u16) -> Vec<u8> {
        let mut out = TPM_ALG_ECC.to_be_bytes().to_vec();
        out.extend(TPM_ALG_SHA256.to_be_bytes());
        out.extend(0x0006_0072u32.to_be_bytes());
        out.extend(sized(b""));
        out.extend(TPM_ALG_NULL.to_be_bytes()); // symmetric
        out.extend(TPM_ALG_NULL.to_be_bytes()); // scheme
        out.extend(curve.to_be_bytes());
        out.extend(TPM_ALG_NULL.to_be_bytes()); // kdf
        out.extend(sized(&[1; 32]));
        out.extend(sized(&[2; 32]));
        out
    }

    #[test]
    fn cert_info_decodes_every_field_and_keeps_trailing_bytes() {
        let bytes = cert_info();
        let attest = TpmsAttest::decode(&bytes).expect("decodes");
        assert_eq!(attest.magic, TPM_GENERATED_VALUE);
        assert_eq!(attest.kind, TPM_ST_ATTEST_CERTIFY);
        assert_eq!(attest.qualified_signer, b"signer");
        assert_eq!(attest.extra_data, &[7; 32]);
        assert_eq!(
            (
                attest.clock,
                attest.reset_count,
                attest.restart_count,
                attest.safe
            ),
            (42, 3, 4, true)
        );
        assert_eq!(attest.firmware_version, 0x0102_0304_0506_0708);
        assert_eq!(attest.attested_name, &[0x00, 0x0b, 9, 9]);
        assert_eq!(attest.attested_qualified_name, b"qn");
        assert!(attest.trailing.is_empty());
        assert!(parse_cert_info(&bytes).is_ok());

        let mut longer = bytes.clone();
        longer.push(0xff);
        assert_eq!(
            TpmsAttest::decode(&longer).expect("decodes").trailing,
            &[0xff]
        );
        assert_eq!(
            parse_cert_info(&longer).err(),
            Some(AttestationError::TpmCertInfoMalformed {
                reason: "trailing bytes"
            })
        );
    }

    #[test]
    fn truncated_structures_do_not_decode() {
        let bytes = cert_info();
        assert!(TpmsAttest::decode(&bytes[..bytes.len() - 1]).is_none());
        let area = ecc_pub_area(TPM_ECC_NIST_P256);
        assert!(TpmtPublic::decode(&area[..area.len() - 1]).is_none());
        assert_eq!(
            parse_pub_area(&area[..10]).err(),
            Some(AttestationError::TpmPubAreaMalformed {
                reason: "truncated"
            })
        );
    }

    #[test]
    fn pub_area_decodes_an_ecc_key_and_the_verifier_refuses_an_unknown_curve() {
        let area = ecc_pub_area(TPM_ECC_NIST_P256);
        let public = TpmtPublic::decode(&area).expect("decodes");
        assert_eq!(
            (public.kind, public.name_alg),
            (TPM_ALG_ECC, TPM_ALG_SHA256)
        );
        assert_eq!(public.object_attributes, 0x0006_0072);
        assert_eq!(
            public.parameters,
            TpmtPublicParameters::Ecc {
                symmetric: TPM_ALG_NULL,
                scheme: TPM_ALG_NULL,
                curve: TPM_ECC_NIST_P256,
                kdf: TPM_ALG_NULL,
                x: &[1; 32],
                y: &[2; 32],
            }
        );
        assert!(parse_pub_area(&area).is_ok());

        let odd = ecc_pub_area(0x0042);
        assert!(TpmtPublic::decode(&odd).is_some());
        assert_eq!(
            parse_pub_area(&odd).err(),
            Some(AttestationError::TpmPubAreaMalformed {
                reason: "unsupported ECC curve"
            })
        );
        assert_eq!(curve_name(0x0042), None);
        assert_eq!(curve_name(TPM_ECC_NIST_P256), Some("NIST_P256"));
    }

    #[test]
    fn pub_area_of_an_unknown_key_type_keeps_its_rest_undecoded() {
        let mut area = 0x0008u16.to_be_bytes().to_vec(); // TPM_ALG_KEYEDHASH
        area.extend(TPM_ALG_SHA256.to_be_bytes());
        area.extend(0u32.to_be_bytes());
        area.extend(sized(b""));
        area.extend([5, 6, 7]);
        let public = TpmtPublic::decode(&area).expect("decodes");
        assert_eq!(public.parameters, TpmtPublicParameters::Other);
        assert_eq!(public.trailing, &[5, 6, 7]);
        assert_eq!(
            parse_pub_area(&area).err(),
            Some(AttestationError::TpmPubAreaMalformed {
                reason: "unsupported key type"
            })
        );
    }
}
