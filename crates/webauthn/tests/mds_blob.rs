//! FIDO MDS3 BLOB verification, and metadata-driven attestation trust, on a small BLOB signed by our own test root.
//!
//! The files in `tests/data/mds/` are made by `regenerate_mds_test_data` (ignored; run it with
//! `cargo test -p tessera-webauthn --test mds_blob -- --ignored regenerate_mds_test_data`).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ciborium::Value;
use tessera_webauthn::attestation::{
    AttestationRequirement, AttestationTrust, AttestedCredential, verify_attested,
};
use tessera_webauthn::mds::{
    AuthenticatorStatus, CertificationLevel, MetadataBlob, MetadataError, key_identifier,
};
use time::OffsetDateTime;
use time::macros::datetime;

const GOOD: [u8; 16] = [0x11; 16];
const REVOKED: [u8; 16] = [0x22; 16];
const ATTESTED: [u8; 16] = [0x33; 16];
const UNKNOWN: [u8; 16] = [0x44; 16];
const NOW: OffsetDateTime = datetime!(2026-06-01 00:00 UTC);

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/data/mds/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("test data file")
}

fn blob() -> MetadataBlob {
    MetadataBlob::from_jws(&data("blob.jwt"), &data("mds-root.der"), NOW).expect("valid BLOB")
}

fn error(result: Result<MetadataBlob, MetadataError>) -> &'static str {
    match result {
        Ok(_) => panic!("expected a refusal"),
        Err(e) => e.rule(),
    }
}

// ---- BLOB verification ----------------------------------------------------------------------------------------------

#[test]
fn blob_signed_by_the_configured_root_is_accepted() {
    let blob = blob();
    assert_eq!(blob.no(), 7);
    assert_eq!(blob.next_update(), time::macros::date!(2030 - 01 - 01));
    assert_eq!(blob.entries().len(), 4);
    assert!(blob.legal_header().is_some_and(|h| h.contains("test")));
}

#[test]
fn blob_with_a_tampered_payload_is_refused() {
    let jws = String::from_utf8(data("blob.jwt")).expect("UTF-8");
    let parts: Vec<&str> = jws.trim().split('.').collect();
    let payload =
        String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).expect("payload")).expect("JSON");
    assert!(payload.contains("\"no\":7"));
    let payload = payload.replace("\"no\":7", "\"no\":8");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload),
        parts[2]
    );
    assert_eq!(
        error(MetadataBlob::from_jws(
            forged.as_bytes(),
            &data("mds-root.der"),
            NOW
        )),
        "mds-signature-invalid"
    );
}

#[test]
fn blob_with_a_tampered_signature_is_refused() {
    let jws = String::from_utf8(data("blob.jwt")).expect("UTF-8");
    let parts: Vec<&str> = jws.trim().split('.').collect();
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).expect("signature");
    sig[10] ^= 0x01;
    let forged = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
    assert_eq!(
        error(MetadataBlob::from_jws(
            forged.as_bytes(),
            &data("mds-root.der"),
            NOW
        )),
        "mds-signature-invalid"
    );
}

#[test]
fn blob_chain_not_reaching_the_configured_root_is_refused() {
    // The attestation root is a valid CA, but not the metadata root.
    assert_eq!(
        error(MetadataBlob::from_jws(
            &data("blob.jwt"),
            &data("attestation-root.der"),
            NOW
        )),
        "mds-root-not-reached"
    );
}

#[test]
fn blob_past_its_next_update_is_refused_as_stale() {
    let later = datetime!(2030-01-02 00:00 UTC);
    assert_eq!(
        error(MetadataBlob::from_jws(
            &data("blob.jwt"),
            &data("mds-root.der"),
            later
        )),
        "mds-stale"
    );
    // The day of nextUpdate itself is still current.
    assert!(
        MetadataBlob::from_jws(
            &data("blob.jwt"),
            &data("mds-root.der"),
            datetime!(2030-01-01 23:59 UTC)
        )
        .is_ok()
    );
}

#[test]
fn blob_signer_certificate_expired_is_refused() {
    let much_later = datetime!(2046-01-01 00:00 UTC);
    assert_eq!(
        error(MetadataBlob::from_jws(
            &data("blob.jwt"),
            &data("mds-root.der"),
            much_later
        )),
        "mds-chain-invalid"
    );
}

#[test]
fn blob_that_is_not_a_jws_is_refused() {
    assert_eq!(
        error(MetadataBlob::from_jws(
            b"not a jws",
            &data("mds-root.der"),
            NOW
        )),
        "mds-jws-malformed"
    );
    assert_eq!(
        error(MetadataBlob::from_jws(
            b"a.b.c.d",
            &data("mds-root.der"),
            NOW
        )),
        "mds-jws-malformed"
    );
    assert_eq!(
        error(MetadataBlob::from_jws(
            &[0xff, 0xfe],
            &data("mds-root.der"),
            NOW
        )),
        "mds-jws-malformed"
    );
}

// ---- entries --------------------------------------------------------------------------------------------------------

#[test]
fn entry_found_by_aaguid_carries_description_and_certification_level() {
    let blob = blob();
    let good = blob.entry(&GOOD).expect("entry");
    assert_eq!(good.description.as_deref(), Some("Tessera Test Key (good)"));
    assert_eq!(good.is_refused(), None);
    assert_eq!(
        good.certification_level(),
        Some(CertificationLevel::FidoCertifiedL2)
    );
    assert!(good.certification_level() > Some(CertificationLevel::FidoCertifiedL1plus));
}

#[test]
fn unknown_aaguid_has_no_entry() {
    assert!(blob().entry(&UNKNOWN).is_none());
}

#[test]
fn revoked_authenticator_is_refused_and_loses_its_certification() {
    let blob = blob();
    let revoked = blob.entry(&REVOKED).expect("entry");
    assert_eq!(revoked.is_refused(), Some(AuthenticatorStatus::Revoked));
    assert_eq!(revoked.certification_level(), None);
}

#[test]
fn entry_found_by_u2f_key_identifier() {
    let leaf = data("attestation-leaf.der");
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf).expect("certificate");
    let id = key_identifier(&cert.public_key().subject_public_key.data);
    let blob = blob();
    let entry = blob
        .entry_by_key_identifier(&id.to_uppercase())
        .expect("entry");
    assert_eq!(
        entry.is_refused(),
        Some(AuthenticatorStatus::AttestationKeyCompromise)
    );
}

// ---- attestation trust from metadata ----------------------------------------------------------------------------------

/// A packed (or fido-u2f) registration signed by the shipped attestation leaf for a fresh P-256 credential.
struct Registration {
    auth_data: Vec<u8>,
    client_data_hash: [u8; 32],
    credential_id: Vec<u8>,
    cose_key: Vec<u8>,
    aaguid: [u8; 16],
}

fn cose_p256(point: &[u8]) -> Vec<u8> {
    let map = Value::Map(vec![
        (Value::Integer(1.into()), Value::Integer(2.into())),
        (Value::Integer(3.into()), Value::Integer((-7).into())),
        (Value::Integer((-1).into()), Value::Integer(1.into())),
        (
            Value::Integer((-2).into()),
            Value::Bytes(point[1..33].to_vec()),
        ),
        (
            Value::Integer((-3).into()),
            Value::Bytes(point[33..65].to_vec()),
        ),
    ]);
    let mut out = Vec::new();
    ciborium::ser::into_writer(&map, &mut out).expect("CBOR");
    out
}

fn registration(aaguid: [u8; 16]) -> Registration {
    let rng = SystemRandom::new();
    let pk8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("key");
    let credential =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pk8.as_ref()).expect("key");
    let cose_key = cose_p256(credential.public_key().as_ref());
    let credential_id = vec![0xc1; 16];
    let mut auth_data = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"example.com")
        .as_ref()
        .to_vec();
    auth_data.push(0x45); // UP | UV | AT
    auth_data.extend_from_slice(&[0, 0, 0, 0]);
    auth_data.extend_from_slice(&aaguid);
    auth_data.extend_from_slice(&(credential_id.len() as u16).to_be_bytes());
    auth_data.extend_from_slice(&credential_id);
    auth_data.extend_from_slice(&cose_key);
    Registration {
        auth_data,
        client_data_hash: [0x5a; 32],
        credential_id,
        cose_key,
        aaguid,
    }
}

fn attestation_key() -> EcdsaKeyPair {
    EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &data("attestation-leaf.pk8"),
    )
    .expect("leaf key")
}

fn packed_statement(reg: &Registration) -> Value {
    let mut message = reg.auth_data.clone();
    message.extend_from_slice(&reg.client_data_hash);
    let sig = attestation_key()
        .sign(&SystemRandom::new(), &message)
        .expect("sign");
    Value::Map(vec![
        (Value::Text("alg".into()), Value::Integer((-7).into())),
        (
            Value::Text("sig".into()),
            Value::Bytes(sig.as_ref().to_vec()),
        ),
        (
            Value::Text("x5c".into()),
            Value::Array(vec![Value::Bytes(data("attestation-leaf.der"))]),
        ),
    ])
}

fn u2f_statement(reg: &Registration) -> Value {
    let credential_point = {
        let value: Value = ciborium::de::from_reader(reg.cose_key.as_slice()).expect("COSE");
        let map = value.as_map().expect("map").clone();
        let coord = |label: i64| {
            map.iter()
                .find(|(k, _)| k.as_integer() == Some(label.into()))
                .and_then(|(_, v)| v.as_bytes().cloned())
                .expect("coordinate")
        };
        [vec![0x04], coord(-2), coord(-3)].concat()
    };
    let mut message = vec![0x00];
    message.extend_from_slice(&reg.auth_data[..32]);
    message.extend_from_slice(&reg.client_data_hash);
    message.extend_from_slice(&reg.credential_id);
    message.extend_from_slice(&credential_point);
    let sig = attestation_key()
        .sign(&SystemRandom::new(), &message)
        .expect("sign");
    Value::Map(vec![
        (
            Value::Text("sig".into()),
            Value::Bytes(sig.as_ref().to_vec()),
        ),
        (
            Value::Text("x5c".into()),
            Value::Array(vec![Value::Bytes(data("attestation-leaf.der"))]),
        ),
    ])
}

fn verify(
    fmt: &str,
    stmt: &Value,
    reg: &Registration,
    trust: &AttestationTrust<'_>,
) -> Result<
    tessera_webauthn::attestation::AttestationOutcome,
    tessera_webauthn::attestation::AttestationError,
> {
    verify_attested(
        fmt,
        stmt,
        AttestedCredential {
            aaguid: reg.aaguid,
            credential_id: &reg.credential_id,
            public_key_cbor: &reg.cose_key,
        },
        &reg.auth_data,
        &reg.client_data_hash,
        trust,
    )
}

#[test]
fn attestation_chaining_to_an_mds_root_is_trusted() {
    let blob = blob();
    let reg = registration(ATTESTED);
    let mut trust = AttestationTrust::new(NOW);
    trust.metadata = Some(&blob);
    trust.requirement = AttestationRequirement::RequireTrusted;
    let outcome = verify("packed", &packed_statement(&reg), &reg, &trust).expect("trusted");
    assert!(outcome.trusted);
    assert_eq!(
        outcome.metadata.and_then(|m| m.description),
        Some("Tessera Test Key (attested)".to_owned())
    );
}

#[test]
fn attestation_without_metadata_or_anchor_is_untrusted() {
    let reg = registration(ATTESTED);
    let trust = AttestationTrust::new(NOW);
    let outcome = verify("packed", &packed_statement(&reg), &reg, &trust).expect("verified");
    assert!(!outcome.trusted);
    assert!(outcome.metadata.is_none());
}

#[test]
fn attestation_chaining_to_a_policy_anchor_is_trusted() {
    let reg = registration(ATTESTED);
    let anchors = vec![data("attestation-root.der")];
    let mut trust = AttestationTrust::new(NOW);
    trust.trust_anchors = &anchors;
    assert!(
        verify("packed", &packed_statement(&reg), &reg, &trust)
            .expect("verified")
            .trusted
    );
}

#[test]
fn aaguid_extension_mismatch_in_a_trusted_chain_is_refused() {
    // The shipped leaf's id-fido-gen-ce-aaguid extension names ATTESTED; claim GOOD instead.
    let blob = blob();
    let reg = registration(GOOD);
    let mut trust = AttestationTrust::new(NOW);
    trust.metadata = Some(&blob);
    let err = verify("packed", &packed_statement(&reg), &reg, &trust).expect_err("refused");
    assert_eq!(err.rule(), "attestation-aaguid-extension-mismatch");
}

#[test]
fn revoked_authenticator_is_refused_at_registration() {
    let blob = blob();
    let reg = registration(REVOKED);
    let mut trust = AttestationTrust::new(NOW);
    trust.metadata = Some(&blob);
    let err = verify("none", &Value::Map(vec![]), &reg, &trust).expect_err("refused");
    assert_eq!(err.rule(), "authenticator-status-refused");
}

#[test]
fn u2f_authenticator_with_compromised_attestation_key_is_refused() {
    let blob = blob();
    let reg = registration([0; 16]);
    let stmt = u2f_statement(&reg);
    let trust = AttestationTrust::new(NOW);
    assert!(
        verify("fido-u2f", &stmt, &reg, &trust).is_ok(),
        "valid without metadata"
    );
    let mut trust = AttestationTrust::new(NOW);
    trust.metadata = Some(&blob);
    let err = verify("fido-u2f", &stmt, &reg, &trust).expect_err("refused");
    assert_eq!(err.rule(), "authenticator-status-refused");
}

// ---- the generator ----------------------------------------------------------------------------------------------------

mod generate {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa,
        Issuer, KeyPair, PKCS_ECDSA_P256_SHA256,
    };

    fn validity(params: &mut CertificateParams) {
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(2045, 1, 1);
    }

    fn ca(cn: &str) -> (CertificateParams, KeyPair, Vec<u8>) {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Tessera Test");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        validity(&mut params);
        let der = params
            .self_signed(&key)
            .expect("self-signed")
            .der()
            .to_vec();
        (params, key, der)
    }

    /// Writes `tests/data/mds/*`: the metadata root, the BLOB, and an attestation root and leaf (with its key).
    #[test]
    #[ignore = "regenerates the shipped test data"]
    fn regenerate_mds_test_data() {
        let dir = format!("{}/tests/data/mds", env!("CARGO_MANIFEST_DIR"));
        let write = |name: &str, bytes: &[u8]| {
            std::fs::write(format!("{dir}/{name}"), bytes).expect("write")
        };

        // Metadata root and BLOB signer.
        let (root_params, root_key, root_der) = ca("Tessera Test MDS Root");
        let root = Issuer::new(root_params, root_key);
        let signer_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let mut signer = CertificateParams::new(Vec::<String>::new()).expect("params");
        signer
            .distinguished_name
            .push(DnType::OrganizationName, "Tessera Test");
        signer
            .distinguished_name
            .push(DnType::CommonName, "Tessera Test MDS Signer");
        signer.is_ca = IsCa::ExplicitNoCa;
        validity(&mut signer);
        let signer_der = signer
            .signed_by(&signer_key, &root)
            .expect("signed")
            .der()
            .to_vec();

        // Attestation root and a packed-compliant leaf whose AAGUID extension names ATTESTED.
        let (att_root_params, att_root_key, att_root_der) = ca("Tessera Test Attestation Root");
        let att_root = Issuer::new(att_root_params, att_root_key);
        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let mut leaf = CertificateParams::new(Vec::<String>::new()).expect("params");
        leaf.distinguished_name.push(DnType::CountryName, "US");
        leaf.distinguished_name
            .push(DnType::OrganizationName, "Tessera Test");
        leaf.distinguished_name
            .push(DnType::OrganizationalUnitName, "Authenticator Attestation");
        leaf.distinguished_name
            .push(DnType::CommonName, "Tessera Test Authenticator");
        leaf.is_ca = IsCa::ExplicitNoCa;
        let mut aaguid_ext = vec![0x04, 0x10];
        aaguid_ext.extend_from_slice(&ATTESTED);
        leaf.custom_extensions
            .push(CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 45724, 1, 1, 4],
                aaguid_ext,
            ));
        validity(&mut leaf);
        let leaf_der = leaf
            .signed_by(&leaf_key, &att_root)
            .expect("signed")
            .der()
            .to_vec();
        let (_, leaf_cert) = x509_parser::parse_x509_certificate(&leaf_der).expect("leaf");
        let leaf_key_id = key_identifier(&leaf_cert.public_key().subject_public_key.data);

        let uuid = |a: [u8; 16]| {
            let h: String = a.iter().map(|b| format!("{b:02x}")).collect();
            format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            )
        };
        let payload = serde_json::json!({
            "legalHeader": "Tessera test metadata: made by tests/mds_blob.rs, not for production.",
            "no": 7,
            "nextUpdate": "2030-01-01",
            "entries": [
                {
                    "aaguid": uuid(GOOD),
                    "metadataStatement": { "description": "Tessera Test Key (good)", "attestationRootCertificates": [] },
                    "statusReports": [ { "status": "FIDO_CERTIFIED_L2", "effectiveDate": "2025-02-01" } ],
                    "timeOfLastStatusChange": "2025-02-01"
                },
                {
                    "aaguid": uuid(REVOKED),
                    "metadataStatement": { "description": "Tessera Test Key (revoked)", "attestationRootCertificates": [] },
                    "statusReports": [
                        { "status": "REVOKED", "effectiveDate": "2025-03-01" },
                        { "status": "FIDO_CERTIFIED_L1", "effectiveDate": "2024-01-01" }
                    ],
                    "timeOfLastStatusChange": "2025-03-01"
                },
                {
                    "aaguid": uuid(ATTESTED),
                    "metadataStatement": {
                        "description": "Tessera Test Key (attested)",
                        "attestationRootCertificates": [ STANDARD.encode(&att_root_der) ]
                    },
                    "statusReports": [ { "status": "FIDO_CERTIFIED_L1", "effectiveDate": "2025-01-15" } ],
                    "timeOfLastStatusChange": "2025-01-15"
                },
                {
                    "attestationCertificateKeyIdentifiers": [ leaf_key_id ],
                    "metadataStatement": {
                        "description": "Tessera Test U2F Key (compromised)",
                        "attestationRootCertificates": [ STANDARD.encode(&att_root_der) ]
                    },
                    "statusReports": [
                        { "status": "FIDO_CERTIFIED", "effectiveDate": "2024-06-01" },
                        { "status": "ATTESTATION_KEY_COMPROMISE", "effectiveDate": "2025-04-01" }
                    ],
                    "timeOfLastStatusChange": "2025-04-01"
                }
            ]
        });
        let header = serde_json::json!({ "alg": "ES256", "typ": "JWT", "x5c": [ STANDARD.encode(&signer_der) ] });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        let jws_key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &signer_key.serialize_der(),
        )
        .expect("key");
        let sig = jws_key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .expect("sign");
        let jws = format!("{signing_input}.{}\n", URL_SAFE_NO_PAD.encode(sig.as_ref()));

        write("mds-root.der", &root_der);
        write("blob.jwt", jws.as_bytes());
        write("attestation-root.der", &att_root_der);
        write("attestation-leaf.der", &leaf_der);
        write("attestation-leaf.pk8", &leaf_key.serialize_der());
    }
}

#[test]
fn metadata_of_an_untrusted_attestation_is_not_reported() {
    // `none` claiming a certified model's AAGUID: the claim must not grant its certification level.
    let blob = blob();
    let reg = registration(GOOD);
    let mut trust = AttestationTrust::new(NOW);
    trust.metadata = Some(&blob);
    let outcome = verify("none", &Value::Map(vec![]), &reg, &trust).expect("verified");
    assert!(!outcome.trusted);
    assert!(outcome.metadata.is_none());
}
