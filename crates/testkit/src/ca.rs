//! A throw-away attestation certificate authority (rcgen on aws-lc-rs), for `packed` basic and `fido-u2f`
//! attestations that chain to a root the test controls.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, DnType, IsCa, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use serde_json::json;

use crate::cbor::b64url;
use crate::error::TestkitError;

/// The FIDO `id-fido-gen-ce-aaguid` extension OID (1.3.6.1.4.1.45724.1.1.4).
const OID_FIDO_AAGUID: [u64; 10] = [1, 3, 6, 1, 4, 1, 45724, 1, 1, 4];

fn ca_error(e: impl std::fmt::Display) -> TestkitError {
    TestkitError::Certificate(e.to_string())
}

/// A root CA that issues attestation certificates.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// One authenticator model in a test FIDO MDS3 BLOB.
#[derive(Clone, Debug, Default)]
pub struct MdsEntry {
    /// The model's AAGUID.
    pub aaguid: [u8; 16],
    /// The metadata statement's `description`.
    pub description: String,
    /// The statement's `attestationRootCertificates` (DER).
    pub attestation_roots: Vec<Vec<u8>>,
    /// Status reports: `(status, effectiveDate "YYYY-MM-DD")`, e.g. `("FIDO_CERTIFIED_L1", "2024-01-01")`.
    pub status_reports: Vec<(String, String)>,
}

/// An attestation certificate and its private key.
pub struct AttestationCert {
    der: Vec<u8>,
    key: EcdsaKeyPair,
}

impl std::fmt::Debug for AttestationCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestationCert")
            .field("der_len", &self.der.len())
            .finish_non_exhaustive()
    }
}

impl AttestationCert {
    /// The certificate (DER), to put in `x5c`.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The certificate's P-256 public key (uncompressed point).
    pub fn public_key(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }

    /// Signs `message` with ES256 (DER signature), as attestation statements carry it.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, TestkitError> {
        self.key
            .sign(&SystemRandom::new(), message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| TestkitError::Signing(crate::keys::KeyAlg::Es256))
    }
}

impl TestCa {
    /// A fresh self-signed P-256 root named `common_name`.
    pub fn new(common_name: &str) -> Result<TestCa, TestkitError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(ca_error)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(ca_error)?;
        params.distinguished_name.push(DnType::CountryName, "US");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Tessera Test");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, key).map_err(ca_error)?;
        Ok(TestCa { issuer })
    }

    /// The root certificate (DER).
    pub fn root_der(&self) -> &[u8] {
        self.issuer.der()
    }

    /// The root certificate (PEM), as `--trust-anchors` reads it.
    pub fn root_pem(&self) -> String {
        self.issuer.pem()
    }

    /// Issues a certificate meeting the `packed` requirements (WebAuthn L3 §8.2.1: version 3, subject C/O/OU
    /// "Authenticator Attestation"/CN, not a CA), with the AAGUID extension when `aaguid` is given.
    pub fn attestation_cert(
        &self,
        aaguid: Option<[u8; 16]>,
    ) -> Result<AttestationCert, TestkitError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(ca_error)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(ca_error)?;
        params.distinguished_name.push(DnType::CountryName, "US");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Tessera Test");
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, "Authenticator Attestation");
        params
            .distinguished_name
            .push(DnType::CommonName, "Tessera Test Authenticator");
        params.is_ca = IsCa::ExplicitNoCa;
        if let Some(aaguid) = aaguid {
            // extnValue is an OCTET STRING holding the 16 AAGUID bytes.
            let mut content = vec![0x04, 0x10];
            content.extend_from_slice(&aaguid);
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(&OID_FIDO_AAGUID, content));
        }
        let cert = params.signed_by(&key, &self.issuer).map_err(ca_error)?;
        let signing =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key.serialize_der())
                .map_err(ca_error)?;
        Ok(AttestationCert {
            der: cert.der().to_vec(),
            key: signing,
        })
    }

    /// Signs a FIDO MDS3 BLOB (compact JWS, ES256, `x5c` = a signing certificate issued by this CA) holding
    /// `entries`; `next_update` is `YYYY-MM-DD`. Verify it with this CA's root as the MDS root.
    pub fn mds_blob(
        &self,
        no: u64,
        next_update: &str,
        entries: &[MdsEntry],
    ) -> Result<String, TestkitError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(ca_error)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(ca_error)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "Tessera Test Metadata Signer");
        params.is_ca = IsCa::ExplicitNoCa;
        let cert = params.signed_by(&key, &self.issuer).map_err(ca_error)?;
        let signer =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key.serialize_der())
                .map_err(ca_error)?;

        let entries: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                let roots: Vec<String> = e
                    .attestation_roots
                    .iter()
                    .map(|r| STANDARD.encode(r))
                    .collect();
                let reports: Vec<serde_json::Value> = e
                    .status_reports
                    .iter()
                    .map(|(status, date)| json!({"status": status, "effectiveDate": date}))
                    .collect();
                json!({
                    "aaguid": uuid(&e.aaguid),
                    "metadataStatement": {
                        "aaguid": uuid(&e.aaguid),
                        "description": e.description,
                        "schema": 3,
                        "protocolFamily": "fido2",
                        "attestationTypes": ["basic_full"],
                        "attestationRootCertificates": roots,
                    },
                    "statusReports": reports,
                    "timeOfLastStatusChange": e.status_reports.last().map(|(_, d)| d.clone()),
                })
            })
            .collect();
        let header = json!({"alg": "ES256", "typ": "JWT", "x5c": [STANDARD.encode(cert.der())]});
        let payload = json!({
            "legalHeader": "Tessera test metadata: not for production.",
            "no": no,
            "nextUpdate": next_update,
            "entries": entries,
        });
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string()),
            b64url(payload.to_string())
        );
        let signature = signer
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| TestkitError::Signing(crate::keys::KeyAlg::Es256))?;
        Ok(format!("{signing_input}.{}", b64url(signature.as_ref())))
    }
}

/// An AAGUID in UUID form.
pub fn uuid(aaguid: &[u8; 16]) -> String {
    let hex: String = aaguid.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
