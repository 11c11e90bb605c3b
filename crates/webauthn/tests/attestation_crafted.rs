//! Crafted attestation statements, one failed rule each: certificates made with rcgen, statements signed with
//! aws-lc-rs. Real authenticators' data is in `attestation_vectors.rs`.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use ciborium::Value;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer,
    KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384,
};
use tessera_webauthn::attestation::{
    AttestationError, AttestationOutcome, AttestationTrust, AttestedCredential, verify_attested,
};
use time::OffsetDateTime;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-06-01 00:00 UTC);
const AAGUID: [u8; 16] = [0xaa; 16];

// ---- builders -------------------------------------------------------------------------------------------------------

fn validity(params: &mut CertificateParams) {
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    validity(&mut params);
    params
}

/// A self-signed CA: its issuer handle and DER.
fn ca(cn: &str) -> (Issuer<'static, KeyPair>, Vec<u8>) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    let params = ca_params(cn);
    let der = params.self_signed(&key).expect("cert").der().to_vec();
    (Issuer::new(params, key), der)
}

/// Subject and extensions of a packed attestation certificate (WebAuthn L3 §8.2.1), before customisation.
fn packed_leaf_params() -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CountryName, "SE");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Tessera Test");
    params
        .distinguished_name
        .push(DnType::OrganizationalUnitName, "Authenticator Attestation");
    params
        .distinguished_name
        .push(DnType::CommonName, "Crafted Authenticator");
    params.is_ca = IsCa::ExplicitNoCa;
    validity(&mut params);
    params
}

fn aaguid_extension(aaguid: [u8; 16], critical: bool) -> CustomExtension {
    let mut content = vec![0x04, 0x10];
    content.extend_from_slice(&aaguid);
    let mut ext = CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 45724, 1, 1, 4], content);
    ext.set_criticality(critical);
    ext
}

fn signer(key: &KeyPair) -> EcdsaKeyPair {
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key.serialize_der())
        .expect("P-256 key")
}

fn sign(key: &EcdsaKeyPair, message: &[u8]) -> Vec<u8> {
    key.sign(&SystemRandom::new(), message)
        .expect("sign")
        .as_ref()
        .to_vec()
}

fn cose_ec2(crv: i64, alg: i64, point: &[u8]) -> Vec<u8> {
    let size = (point.len() - 1) / 2;
    let map = Value::Map(vec![
        (Value::Integer(1.into()), Value::Integer(2.into())),
        (Value::Integer(3.into()), Value::Integer(alg.into())),
        (Value::Integer((-1).into()), Value::Integer(crv.into())),
        (
            Value::Integer((-2).into()),
            Value::Bytes(point[1..=size].to_vec()),
        ),
        (
            Value::Integer((-3).into()),
            Value::Bytes(point[size + 1..].to_vec()),
        ),
    ]);
    let mut out = Vec::new();
    ciborium::ser::into_writer(&map, &mut out).expect("CBOR");
    out
}

/// A registration for a credential key (given as its COSE_Key).
struct Registration {
    auth_data: Vec<u8>,
    client_data_hash: [u8; 32],
    credential_id: Vec<u8>,
    cose_key: Vec<u8>,
    point: Vec<u8>,
}

impl Registration {
    fn new(point: &[u8], cose_key: Vec<u8>) -> Self {
        let credential_id = vec![0xc1; 32];
        let mut auth_data = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"example.com")
            .as_ref()
            .to_vec();
        auth_data.push(0x45);
        auth_data.extend_from_slice(&[0, 0, 0, 1]);
        auth_data.extend_from_slice(&AAGUID);
        auth_data.extend_from_slice(&[0, 32]);
        auth_data.extend_from_slice(&credential_id);
        auth_data.extend_from_slice(&cose_key);
        Self {
            auth_data,
            client_data_hash: [0x3c; 32],
            credential_id,
            cose_key,
            point: point.to_vec(),
        }
    }

    /// A fresh P-256 credential; returns its signing key too.
    fn p256() -> (Self, EcdsaKeyPair) {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let point = key.public_key_raw().to_vec();
        (Self::new(&point, cose_ec2(1, -7, &point)), signer(&key))
    }

    fn signed_data(&self) -> Vec<u8> {
        [self.auth_data.as_slice(), &self.client_data_hash].concat()
    }

    fn verify(
        &self,
        fmt: &str,
        stmt: &Value,
        trust: &AttestationTrust<'_>,
    ) -> Result<AttestationOutcome, AttestationError> {
        verify_attested(
            fmt,
            stmt,
            AttestedCredential {
                aaguid: AAGUID,
                credential_id: &self.credential_id,
                public_key_cbor: &self.cose_key,
            },
            &self.auth_data,
            &self.client_data_hash,
            trust,
        )
    }
}

fn statement(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::Text(k.to_owned()), v))
            .collect(),
    )
}

fn x5c(chain: &[&[u8]]) -> Value {
    Value::Array(chain.iter().map(|c| Value::Bytes(c.to_vec())).collect())
}

fn rule(result: Result<AttestationOutcome, AttestationError>) -> &'static str {
    match result {
        Ok(outcome) => panic!("expected a refusal, got {}", outcome.trust_path.kind()),
        Err(e) => e.rule(),
    }
}

/// A packed x5c statement over `reg` by a leaf made from `params` under `issuer`, with `extra` certificates after it.
fn packed_x5c(
    reg: &Registration,
    params: CertificateParams,
    issuer: &Issuer<'_, KeyPair>,
    extra: &[&[u8]],
) -> Value {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    let leaf = params.signed_by(&key, issuer).expect("leaf").der().to_vec();
    let chain: Vec<&[u8]> = std::iter::once(leaf.as_slice())
        .chain(extra.iter().copied())
        .collect();
    statement(vec![
        ("alg", Value::Integer((-7).into())),
        ("sig", Value::Bytes(sign(&signer(&key), &reg.signed_data()))),
        ("x5c", x5c(&chain)),
    ])
}

// ---- §8.2 packed: certificate requirements -------------------------------------------------------------------------

#[test]
fn packed_compliant_certificate_under_an_anchor_is_trusted() {
    let (root, root_der) = ca("Crafted Root");
    let (reg, _) = Registration::p256();
    let mut params = packed_leaf_params();
    params
        .custom_extensions
        .push(aaguid_extension(AAGUID, false));
    let stmt = packed_x5c(&reg, params, &root, &[]);
    let anchors = vec![root_der];
    let mut trust = AttestationTrust::new(NOW);
    trust.trust_anchors = &anchors;
    let outcome = reg.verify("packed", &stmt, &trust).expect("valid");
    assert!(outcome.trusted);
    assert_eq!(outcome.trust_path.kind(), "basic");
}

#[test]
fn packed_certificate_ou_not_authenticator_attestation_is_refused() {
    let (root, _) = ca("Crafted Root");
    let (reg, _) = Registration::p256();
    let mut params = packed_leaf_params();
    params
        .distinguished_name
        .remove(DnType::OrganizationalUnitName);
    params
        .distinguished_name
        .push(DnType::OrganizationalUnitName, "Engineering");
    let stmt = packed_x5c(&reg, params, &root, &[]);
    assert_eq!(
        rule(reg.verify("packed", &stmt, &AttestationTrust::new(NOW))),
        "attestation-certificate-subject-invalid"
    );
}

#[test]
fn packed_certificate_without_country_is_refused() {
    let (root, _) = ca("Crafted Root");
    let (reg, _) = Registration::p256();
    let mut params = packed_leaf_params();
    params.distinguished_name.remove(DnType::CountryName);
    let stmt = packed_x5c(&reg, params, &root, &[]);
    assert_eq!(
        rule(reg.verify("packed", &stmt, &AttestationTrust::new(NOW))),
        "attestation-certificate-subject-invalid"
    );
}

#[test]
fn packed_certificate_that_is_a_ca_is_refused() {
    let (root, _) = ca("Crafted Root");
    let (reg, _) = Registration::p256();
    let mut params = packed_leaf_params();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let stmt = packed_x5c(&reg, params, &root, &[]);
    assert_eq!(
        rule(reg.verify("packed", &stmt, &AttestationTrust::new(NOW))),
        "attestation-certificate-is-ca"
    );
}

#[test]
fn packed_aaguid_extension_mismatch_is_refused() {
    let (root, _) = ca("Crafted Root");
    let (reg, _) = Registration::p256();
    let mut params = packed_leaf_params();
    params
        .custom_extensions
        .push(aaguid_extension([0xbb; 16], false));
    let stmt = packed_x5c(&reg, params, &root, &[]);
    assert_eq!(
        rule(reg.verify("packed", &stmt, &AttestationTrust::new(NOW))),
        "attestation-aaguid-extension-mismatch"
    );
}

#[test]
fn packed_aaguid_extension_marked_critical_is_refused() {
    let (root, _) = ca("Crafted Root");
    let (reg, _) = Registration::p256();
    let mut params = packed_leaf_params();
    params
        .custom_extensions
        .push(aaguid_extension(AAGUID, true));
    let stmt = packed_x5c(&reg, params, &root, &[]);
    assert_eq!(
        rule(reg.verify("packed", &stmt, &AttestationTrust::new(NOW))),
        "attestation-aaguid-extension-malformed"
    );
}

// ---- §8.2 packed: statement shape and self attestation -------------------------------------------------------------

#[test]
fn packed_self_attestation_verifies() {
    let (reg, key) = Registration::p256();
    let stmt = statement(vec![
        ("alg", Value::Integer((-7).into())),
        ("sig", Value::Bytes(sign(&key, &reg.signed_data()))),
    ]);
    assert_eq!(
        reg.verify("packed", &stmt, &AttestationTrust::new(NOW))
            .expect("valid")
            .trust_path
            .kind(),
        "self"
    );
}

#[test]
fn packed_self_attestation_alg_not_the_credential_alg_is_refused() {
    let (reg, key) = Registration::p256();
    let stmt = statement(vec![
        ("alg", Value::Integer((-257).into())),
        ("sig", Value::Bytes(sign(&key, &reg.signed_data()))),
    ]);
    assert_eq!(
        rule(reg.verify("packed", &stmt, &AttestationTrust::new(NOW))),
        "attestation-algorithm-mismatch"
    );
}

#[test]
fn packed_self_attestation_signed_by_another_key_is_refused() {
    let (reg, _) = Registration::p256();
    let (_, other) = Registration::p256();
    let stmt = statement(vec![
        ("alg", Value::Integer((-7).into())),
        ("sig", Value::Bytes(sign(&other, &reg.signed_data()))),
    ]);
    assert_eq!(
        rule(reg.verify("packed", &stmt, &AttestationTrust::new(NOW))),
        "attestation-signature-invalid"
    );
}

#[test]
fn packed_statement_without_sig_is_refused() {
    let (reg, _) = Registration::p256();
    let stmt = statement(vec![("alg", Value::Integer((-7).into()))]);
    assert_eq!(
        rule(reg.verify("packed", &stmt, &AttestationTrust::new(NOW))),
        "attestation-statement-malformed"
    );
}

#[test]
fn packed_ecdaa_is_refused() {
    let (reg, key) = Registration::p256();
    let stmt = statement(vec![
        ("alg", Value::Integer((-7).into())),
        ("sig", Value::Bytes(sign(&key, &reg.signed_data()))),
        ("ecdaaKeyId", Value::Bytes(vec![1; 32])),
    ]);
    assert_eq!(
        rule(reg.verify("packed", &stmt, &AttestationTrust::new(NOW))),
        "attestation-statement-malformed"
    );
}

#[test]
fn attestation_statement_that_is_not_a_map_is_refused() {
    let (reg, _) = Registration::p256();
    assert_eq!(
        rule(reg.verify("packed", &Value::Bytes(vec![]), &AttestationTrust::new(NOW))),
        "attestation-statement-malformed"
    );
}

#[test]
fn x5c_empty_is_refused() {
    let (reg, key) = Registration::p256();
    let stmt = statement(vec![
        ("alg", Value::Integer((-7).into())),
        ("sig", Value::Bytes(sign(&key, &reg.signed_data()))),
        ("x5c", Value::Array(vec![])),
    ]);
    assert_eq!(
        rule(reg.verify("packed", &stmt, &AttestationTrust::new(NOW))),
        "attestation-chain-length"
    );
}

#[test]
fn x5c_entry_not_a_certificate_is_refused() {
    let (reg, key) = Registration::p256();
    let stmt = statement(vec![
        ("alg", Value::Integer((-7).into())),
        ("sig", Value::Bytes(sign(&key, &reg.signed_data()))),
        ("x5c", x5c(&[b"not a certificate"])),
    ]);
    assert_eq!(
        rule(reg.verify("packed", &stmt, &AttestationTrust::new(NOW))),
        "attestation-certificate-malformed"
    );
}

// ---- chain verification --------------------------------------------------------------------------------------------

#[test]
fn chain_through_an_intermediate_to_an_anchor_is_trusted() {
    let (root, root_der) = ca("Crafted Root");
    let inter_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    let inter_params = ca_params("Crafted Intermediate");
    let inter_der = inter_params
        .signed_by(&inter_key, &root)
        .expect("inter")
        .der()
        .to_vec();
    let inter = Issuer::new(inter_params, inter_key);
    let (reg, _) = Registration::p256();
    let stmt = packed_x5c(&reg, packed_leaf_params(), &inter, &[&inter_der]);
    let anchors = vec![root_der];
    let mut trust = AttestationTrust::new(NOW);
    trust.trust_anchors = &anchors;
    assert!(reg.verify("packed", &stmt, &trust).expect("valid").trusted);
    // The same chain with no anchor is verified but untrusted.
    assert!(
        !reg.verify("packed", &stmt, &AttestationTrust::new(NOW))
            .expect("valid")
            .trusted
    );
}

#[test]
fn chain_with_an_unrelated_next_certificate_is_refused() {
    let (root, _) = ca("Crafted Root");
    let (_, unrelated_der) = ca("Someone Else");
    let (reg, _) = Registration::p256();
    let stmt = packed_x5c(&reg, packed_leaf_params(), &root, &[&unrelated_der]);
    assert_eq!(
        rule(reg.verify("packed", &stmt, &AttestationTrust::new(NOW))),
        "attestation-chain-broken"
    );
}

#[test]
fn chain_with_an_impostor_issuer_of_the_same_name_is_refused() {
    let (root, _) = ca("Crafted Root");
    let (_, impostor_der) = ca("Crafted Root");
    let (reg, _) = Registration::p256();
    let stmt = packed_x5c(&reg, packed_leaf_params(), &root, &[&impostor_der]);
    assert_eq!(
        rule(reg.verify("packed", &stmt, &AttestationTrust::new(NOW))),
        "attestation-chain-signature-invalid"
    );
}

#[test]
fn chain_issued_by_a_non_ca_certificate_is_refused() {
    let (root, _) = ca("Crafted Root");
    let issuer_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    let mut issuer_params = ca_params("Not A CA");
    issuer_params.is_ca = IsCa::ExplicitNoCa;
    let issuer_der = issuer_params
        .signed_by(&issuer_key, &root)
        .expect("issuer")
        .der()
        .to_vec();
    let not_ca = Issuer::new(issuer_params, issuer_key);
    let (reg, _) = Registration::p256();
    let stmt = packed_x5c(&reg, packed_leaf_params(), &not_ca, &[&issuer_der]);
    assert_eq!(
        rule(reg.verify("packed", &stmt, &AttestationTrust::new(NOW))),
        "attestation-chain-issuer-not-ca"
    );
}

#[test]
fn chain_not_yet_valid_is_refused() {
    let (root, _) = ca("Crafted Root");
    let (reg, _) = Registration::p256();
    let stmt = packed_x5c(&reg, packed_leaf_params(), &root, &[]);
    let trust = AttestationTrust::new(datetime!(2024-12-31 23:59 UTC));
    assert_eq!(
        rule(reg.verify("packed", &stmt, &trust)),
        "attestation-certificate-expired"
    );
}

// ---- §8.6 fido-u2f -------------------------------------------------------------------------------------------------

fn u2f_statement(reg: &Registration, cert_key: &KeyPair, cert_der: &[u8]) -> Value {
    let message = [
        &[0x00][..],
        &reg.auth_data[..32],
        &reg.client_data_hash,
        &reg.credential_id,
        &reg.point,
    ]
    .concat();
    let sig = if cert_key.algorithm() == &PKCS_ECDSA_P256_SHA256 {
        sign(&signer(cert_key), &message)
    } else {
        vec![0x30, 0]
    };
    statement(vec![("sig", Value::Bytes(sig)), ("x5c", x5c(&[cert_der]))])
}

fn u2f_cert(
    alg: &'static rcgen::SignatureAlgorithm,
    issuer: &Issuer<'_, KeyPair>,
) -> (KeyPair, Vec<u8>) {
    let key = KeyPair::generate_for(alg).expect("key");
    let der = packed_leaf_params()
        .signed_by(&key, issuer)
        .expect("cert")
        .der()
        .to_vec();
    (key, der)
}

#[test]
fn fido_u2f_crafted_statement_verifies() {
    let (root, _) = ca("U2F Root");
    let (reg, _) = Registration::p256();
    let (key, der) = u2f_cert(&PKCS_ECDSA_P256_SHA256, &root);
    let outcome = reg
        .verify(
            "fido-u2f",
            &u2f_statement(&reg, &key, &der),
            &AttestationTrust::new(NOW),
        )
        .expect("valid");
    assert_eq!(outcome.trust_path.kind(), "basic");
}

#[test]
fn fido_u2f_certificate_key_not_p256_is_refused() {
    let (root, _) = ca("U2F Root");
    let (reg, _) = Registration::p256();
    let (key, der) = u2f_cert(&PKCS_ECDSA_P384_SHA384, &root);
    assert_eq!(
        rule(reg.verify(
            "fido-u2f",
            &u2f_statement(&reg, &key, &der),
            &AttestationTrust::new(NOW)
        )),
        "fido-u2f-key-not-p256"
    );
}

#[test]
fn fido_u2f_credential_key_not_p256_is_refused() {
    let (root, _) = ca("U2F Root");
    let p384 = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).expect("key");
    let point = p384.public_key_raw().to_vec();
    let reg = Registration::new(&point, cose_ec2(2, -35, &point));
    let (key, der) = u2f_cert(&PKCS_ECDSA_P256_SHA256, &root);
    assert_eq!(
        rule(reg.verify(
            "fido-u2f",
            &u2f_statement(&reg, &key, &der),
            &AttestationTrust::new(NOW)
        )),
        "fido-u2f-key-not-p256"
    );
}

#[test]
fn fido_u2f_with_more_than_one_certificate_is_refused() {
    let (root, root_der) = ca("U2F Root");
    let (reg, _) = Registration::p256();
    let (key, der) = u2f_cert(&PKCS_ECDSA_P256_SHA256, &root);
    let mut stmt = u2f_statement(&reg, &key, &der);
    if let Value::Map(m) = &mut stmt {
        m[1].1 = x5c(&[&der, &root_der]);
    }
    assert_eq!(
        rule(reg.verify("fido-u2f", &stmt, &AttestationTrust::new(NOW))),
        "attestation-chain-length"
    );
}

#[test]
fn fido_u2f_signature_over_another_credential_id_is_refused() {
    let (root, _) = ca("U2F Root");
    let (mut reg, _) = Registration::p256();
    let (key, der) = u2f_cert(&PKCS_ECDSA_P256_SHA256, &root);
    let stmt = u2f_statement(&reg, &key, &der);
    reg.credential_id[0] ^= 1;
    assert_eq!(
        rule(reg.verify("fido-u2f", &stmt, &AttestationTrust::new(NOW))),
        "attestation-signature-invalid"
    );
}

// ---- §8.4 android-key ----------------------------------------------------------------------------------------------

fn tlv(tag: &[u8], content: &[u8]) -> Vec<u8> {
    let mut out = tag.to_vec();
    match content.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend_from_slice(&[0x81, n as u8]),
        n => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// What to put in a crafted key description.
struct KeyDescription {
    challenge: [u8; 32],
    all_applications: bool,
    origin: u8,
    purpose: u8,
    /// Put `origin` and `purpose` in `softwareEnforced` rather than `teeEnforced`.
    in_software: bool,
}

impl KeyDescription {
    fn der(&self) -> Vec<u8> {
        let int = |v: u8| tlv(&[0x02], &[v]);
        let enumerated = |v: u8| tlv(&[0x0a], &[v]);
        let mut software = Vec::new();
        if self.all_applications {
            software.extend(tlv(&[0xbf, 0x84, 0x58], &[0x05, 0x00])); // [600] allApplications NULL
        }
        let mut lists = tlv(&[0xa1], &tlv(&[0x31], &int(self.purpose))); // [1] purpose SET OF INTEGER
        lists.extend(tlv(&[0xbf, 0x85, 0x3e], &int(self.origin))); // [702] origin INTEGER
        let tee = if self.in_software {
            software.extend(lists);
            Vec::new()
        } else {
            lists
        };
        let body = [
            int(3),
            enumerated(1),
            int(4),
            enumerated(1),
            tlv(&[0x04], &self.challenge),
            tlv(&[0x04], &[]),
            tlv(&[0x30], &software),
            tlv(&[0x30], &tee),
        ]
        .concat();
        tlv(&[0x30], &body)
    }
}

/// An android-key statement whose leaf certifies `cert_key` and carries `description`.
fn android_key(
    reg: &Registration,
    credential: &KeyPair,
    cert_key: &KeyPair,
    description: Option<&KeyDescription>,
) -> Value {
    let (root, _) = ca("Android Root");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "Android Keystore Key");
    validity(&mut params);
    if let Some(d) = description {
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 11129, 2, 1, 17],
                d.der(),
            ));
    }
    let leaf = params
        .signed_by(cert_key, &root)
        .expect("leaf")
        .der()
        .to_vec();
    statement(vec![
        ("alg", Value::Integer((-7).into())),
        (
            "sig",
            Value::Bytes(sign(&signer(credential), &reg.signed_data())),
        ),
        ("x5c", x5c(&[&leaf])),
    ])
}

fn android_registration() -> (Registration, KeyPair) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    let point = key.public_key_raw().to_vec();
    (Registration::new(&point, cose_ec2(1, -7, &point)), key)
}

fn good_description(reg: &Registration) -> KeyDescription {
    KeyDescription {
        challenge: reg.client_data_hash,
        all_applications: false,
        origin: 0,
        purpose: 2,
        in_software: false,
    }
}

#[test]
fn android_key_crafted_statement_verifies() {
    let (reg, key) = android_registration();
    let stmt = android_key(&reg, &key, &key, Some(&good_description(&reg)));
    assert_eq!(
        reg.verify("android-key", &stmt, &AttestationTrust::new(NOW))
            .expect("valid")
            .trust_path
            .kind(),
        "basic"
    );
}

#[test]
fn android_key_challenge_not_the_client_data_hash_is_refused() {
    let (reg, key) = android_registration();
    let description = KeyDescription {
        challenge: [0; 32],
        ..good_description(&reg)
    };
    let stmt = android_key(&reg, &key, &key, Some(&description));
    assert_eq!(
        rule(reg.verify("android-key", &stmt, &AttestationTrust::new(NOW))),
        "android-key-challenge-mismatch"
    );
}

#[test]
fn android_key_usable_by_all_applications_is_refused() {
    let (reg, key) = android_registration();
    let description = KeyDescription {
        all_applications: true,
        ..good_description(&reg)
    };
    let stmt = android_key(&reg, &key, &key, Some(&description));
    assert_eq!(
        rule(reg.verify("android-key", &stmt, &AttestationTrust::new(NOW))),
        "android-key-all-applications"
    );
}

#[test]
fn android_key_imported_rather_than_generated_is_refused() {
    let (reg, key) = android_registration();
    let description = KeyDescription {
        origin: 2,
        ..good_description(&reg)
    };
    let stmt = android_key(&reg, &key, &key, Some(&description));
    assert_eq!(
        rule(reg.verify("android-key", &stmt, &AttestationTrust::new(NOW))),
        "android-key-origin-not-generated"
    );
}

#[test]
fn android_key_purpose_without_sign_is_refused() {
    let (reg, key) = android_registration();
    let description = KeyDescription {
        purpose: 0,
        ..good_description(&reg)
    };
    let stmt = android_key(&reg, &key, &key, Some(&description));
    assert_eq!(
        rule(reg.verify("android-key", &stmt, &AttestationTrust::new(NOW))),
        "android-key-purpose-not-sign"
    );
}

#[test]
fn android_key_description_missing_is_refused() {
    let (reg, key) = android_registration();
    let stmt = android_key(&reg, &key, &key, None);
    assert_eq!(
        rule(reg.verify("android-key", &stmt, &AttestationTrust::new(NOW))),
        "android-key-description-malformed"
    );
}

#[test]
fn android_key_certificate_for_another_key_is_refused() {
    let (reg, key) = android_registration();
    let other = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    // Signed by the certificate's key, but that key is not the credential key.
    let stmt = android_key(&reg, &other, &other, Some(&good_description(&reg)));
    let _ = key;
    assert_eq!(
        rule(reg.verify("android-key", &stmt, &AttestationTrust::new(NOW))),
        "attestation-certificate-key-mismatch"
    );
}

#[test]
fn chain_containing_a_configured_intermediate_anchor_is_trusted() {
    let (root, root_der) = ca("Crafted Root");
    let inter_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    let inter_params = ca_params("Crafted Intermediate");
    let inter_der = inter_params
        .signed_by(&inter_key, &root)
        .expect("inter")
        .der()
        .to_vec();
    let inter = Issuer::new(inter_params, inter_key);
    let (reg, _) = Registration::p256();
    let stmt = packed_x5c(&reg, packed_leaf_params(), &inter, &[&inter_der, &root_der]);
    let anchors = vec![inter_der.clone()];
    let mut trust = AttestationTrust::new(NOW);
    trust.trust_anchors = &anchors;
    assert!(reg.verify("packed", &stmt, &trust).expect("valid").trusted);
}

#[test]
fn android_key_generated_in_software_is_accepted_unless_tee_is_required() {
    let (reg, key) = android_registration();
    let description = KeyDescription {
        in_software: true,
        ..good_description(&reg)
    };
    let stmt = android_key(&reg, &key, &key, Some(&description));
    assert!(
        reg.verify("android-key", &stmt, &AttestationTrust::new(NOW))
            .is_ok()
    );
    let mut trust = AttestationTrust::new(NOW);
    trust.android_key_enforcement = tessera_webauthn::attestation::AndroidKeyEnforcement::TeeOnly;
    assert_eq!(
        rule(reg.verify("android-key", &stmt, &trust)),
        "android-key-origin-not-generated"
    );
}

#[test]
fn chain_exceeding_a_path_length_constraint_is_refused() {
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    let mut root_params = ca_params("Crafted Root");
    root_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let root_der = root_params
        .self_signed(&root_key)
        .expect("root")
        .der()
        .to_vec();
    let root = Issuer::new(root_params, root_key);
    let inter_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    let inter_params = ca_params("Crafted Intermediate");
    let inter_der = inter_params
        .signed_by(&inter_key, &root)
        .expect("inter")
        .der()
        .to_vec();
    let inter = Issuer::new(inter_params, inter_key);
    let (reg, _) = Registration::p256();
    let stmt = packed_x5c(&reg, packed_leaf_params(), &inter, &[&inter_der, &root_der]);
    assert_eq!(
        rule(reg.verify("packed", &stmt, &AttestationTrust::new(NOW))),
        "attestation-chain-issuer-not-ca"
    );
    // Given as an anchor rather than in the chain, the root does not anchor the chain either.
    let short = packed_x5c(&reg, packed_leaf_params(), &inter, &[&inter_der]);
    let anchors = vec![root_der];
    let mut trust = AttestationTrust::new(NOW);
    trust.trust_anchors = &anchors;
    assert!(
        !reg.verify("packed", &short, &trust)
            .expect("verified")
            .trusted
    );
}

#[test]
fn chain_issuer_without_key_cert_sign_is_refused() {
    let (root, _) = ca("Crafted Root");
    let inter_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    let mut inter_params = ca_params("Crafted Intermediate");
    inter_params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    let inter_der = inter_params
        .signed_by(&inter_key, &root)
        .expect("inter")
        .der()
        .to_vec();
    let inter = Issuer::new(inter_params, inter_key);
    let (reg, _) = Registration::p256();
    let stmt = packed_x5c(&reg, packed_leaf_params(), &inter, &[&inter_der]);
    assert_eq!(
        rule(reg.verify("packed", &stmt, &AttestationTrust::new(NOW))),
        "attestation-chain-issuer-not-ca"
    );
}

#[test]
fn statement_with_a_duplicate_key_is_refused() {
    let (reg, key) = Registration::p256();
    let sig = Value::Bytes(sign(&key, &reg.signed_data()));
    let stmt = statement(vec![
        ("alg", Value::Integer((-7).into())),
        ("sig", sig.clone()),
        ("sig", Value::Bytes(vec![0; 8])),
    ]);
    assert_eq!(
        rule(reg.verify("packed", &stmt, &AttestationTrust::new(NOW))),
        "attestation-statement-malformed"
    );
}

#[test]
fn statement_with_a_non_text_key_is_refused() {
    let (reg, key) = Registration::p256();
    let stmt = Value::Map(vec![
        (Value::Text("alg".into()), Value::Integer((-7).into())),
        (
            Value::Text("sig".into()),
            Value::Bytes(sign(&key, &reg.signed_data())),
        ),
        (Value::Integer(1.into()), Value::Null),
    ]);
    assert_eq!(
        rule(reg.verify("packed", &stmt, &AttestationTrust::new(NOW))),
        "attestation-statement-malformed"
    );
}

#[test]
fn chains_signed_with_each_supported_certificate_algorithm_verify() {
    for alg in [
        &rcgen::PKCS_RSA_SHA256,
        &rcgen::PKCS_RSA_SHA384,
        &rcgen::PKCS_RSA_SHA512,
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &rcgen::PKCS_ECDSA_P521_SHA512,
        &rcgen::PKCS_ED25519,
    ] {
        let root_key = KeyPair::generate_for(alg).expect("root key");
        let root_params = ca_params("Crafted Root");
        let root_der = root_params
            .self_signed(&root_key)
            .expect("root")
            .der()
            .to_vec();
        let root = Issuer::new(root_params, root_key);
        let (reg, _) = Registration::p256();
        let stmt = packed_x5c(&reg, packed_leaf_params(), &root, &[]);
        let anchors = vec![root_der];
        let mut trust = AttestationTrust::new(NOW);
        trust.trust_anchors = &anchors;
        let outcome = reg
            .verify("packed", &stmt, &trust)
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert!(outcome.trusted, "{alg:?}");
    }
}

#[test]
fn chain_signed_with_rsa_pss_verifies() {
    // Made by tests/data/pss/make.sh (openssl): an RSA root that signs with RSASSA-PSS SHA-256.
    let dir = format!("{}/tests/data/pss", env!("CARGO_MANIFEST_DIR"));
    let read = |name: &str| std::fs::read(format!("{dir}/{name}")).expect("test data");
    let leaf_key =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &read("leaf.pk8")).expect("key");
    let (reg, _) = Registration::p256();
    let stmt = statement(vec![
        ("alg", Value::Integer((-7).into())),
        ("sig", Value::Bytes(sign(&leaf_key, &reg.signed_data()))),
        ("x5c", x5c(&[&read("leaf.der")])),
    ]);
    let anchors = vec![read("root.der")];
    let mut trust = AttestationTrust::new(datetime!(2030-01-01 00:00 UTC));
    trust.trust_anchors = &anchors;
    assert!(reg.verify("packed", &stmt, &trust).expect("valid").trusted);
}
