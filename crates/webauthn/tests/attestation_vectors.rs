//! Real authenticators' attestation statements (from `testdata/webauthn-vectors/` at the repository root; `SOURCES.md`
//! there says where each came from), verified end to end through [`verify_attested`] at each vector's verification time.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ciborium::Value;
use tessera_webauthn::AuthenticatorData;
use tessera_webauthn::attestation::{
    AttestationError, AttestationFormat, AttestationOutcome, AttestationRequirement,
    AttestationTrust, AttestedCredential, SafetyNetCtsProfile, TpmTestManufacturer,
    verify_attested,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A registration vector, decoded.
struct Vector {
    fmt: String,
    att_stmt: Value,
    auth_data: Vec<u8>,
    client_data_hash: [u8; 32],
    now: OffsetDateTime,
    anchors: Vec<Vec<u8>>,
}

/// Vectors mix base64url and standard base64; accept both.
fn b64url(s: &str) -> Vec<u8> {
    let normalized: String = s
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    URL_SAFE_NO_PAD.decode(normalized).expect("base64url")
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body.trim()).expect("PEM body")
}

fn parse_time(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).expect("RFC 3339 time")
}

fn load(name: &str) -> Vector {
    let path = format!(
        "{}/../../testdata/webauthn-vectors/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("vector file");
    let json: serde_json::Value = serde_json::from_str(&text).expect("vector JSON");
    let response = &json["response"]["response"];
    let object = b64url(
        response["attestationObject"]
            .as_str()
            .expect("attestationObject"),
    );
    let client_data = b64url(response["clientDataJSON"].as_str().expect("clientDataJSON"));
    let value: Value = ciborium::de::from_reader(object.as_slice()).expect("CBOR");
    let map = value.as_map().expect("map");
    let get = |k: &str| {
        map.iter()
            .find(|(key, _)| key.as_text() == Some(k))
            .map(|(_, v)| v.clone())
            .expect(k)
    };
    let fmt = get("fmt").as_text().expect("fmt").to_owned();
    let att_stmt = get("attStmt");
    let auth_data = get("authData").as_bytes().expect("authData").clone();
    let now = match json["attestation_verify_time"].as_str() {
        Some(t) => parse_time(t),
        None => match json["x5c_validity_window"].as_array() {
            Some(w) => {
                let from = parse_time(w[0].as_str().expect("notBefore"));
                let to = parse_time(w[1].as_str().expect("notAfter"));
                from + (to - from) / 2
            }
            None => OffsetDateTime::now_utc(),
        },
    };
    let anchors = json["attestation_trust_anchors_pem"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| pem_to_der(p.as_str().expect("PEM")))
                .collect()
        })
        .unwrap_or_default();
    let mut client_data_hash = [0u8; 32];
    client_data_hash.copy_from_slice(digest::digest(&digest::SHA256, &client_data).as_ref());
    Vector {
        fmt,
        att_stmt,
        auth_data,
        client_data_hash,
        now,
        anchors,
    }
}

impl Vector {
    fn verify_with(
        &self,
        trust: &AttestationTrust<'_>,
    ) -> Result<AttestationOutcome, AttestationError> {
        let parsed = AuthenticatorData::from_bytes(&self.auth_data).expect("authData");
        let attested = parsed
            .attested_credential
            .expect("attested credential data");
        verify_attested(
            &self.fmt,
            &self.att_stmt,
            AttestedCredential {
                aaguid: attested.aaguid,
                credential_id: &attested.credential_id,
                public_key_cbor: &attested.public_key_cbor,
            },
            &self.auth_data,
            &self.client_data_hash,
            trust,
        )
    }

    fn verify(&self) -> Result<AttestationOutcome, AttestationError> {
        let mut trust = AttestationTrust::new(self.now);
        trust.trust_anchors = &self.anchors;
        self.verify_with(&trust)
    }
}

impl Vector {
    /// Flips the last byte of a byte-string field of attStmt.
    fn tamper_statement(&mut self, field: &str) {
        let map = match &mut self.att_stmt {
            Value::Map(m) => m,
            _ => panic!("attStmt is not a map"),
        };
        let (_, value) = map
            .iter_mut()
            .find(|(k, _)| k.as_text() == Some(field))
            .expect("field");
        match value {
            Value::Bytes(b) => {
                let last = b.len() - 1;
                b[last] ^= 0x01;
            }
            _ => panic!("not bytes"),
        }
    }

    /// Changes one bit of the RP ID hash, which every format signs over (directly or through a nonce).
    fn tamper_auth_data(&mut self) {
        self.auth_data[0] ^= 0x01;
    }

    fn trust(&self) -> AttestationTrust<'_> {
        let mut trust = AttestationTrust::new(self.now);
        trust.trust_anchors = &self.anchors;
        trust
    }
}

fn rule(result: Result<AttestationOutcome, AttestationError>) -> &'static str {
    match result {
        Ok(outcome) => panic!(
            "expected a refusal, got {:?} {}",
            outcome.format,
            outcome.trust_path.kind()
        ),
        Err(e) => e.rule(),
    }
}

// ---- §8.2 packed ------------------------------------------------------------------------------------------------

#[test]
fn packed_self_attestation_verifies_with_the_credential_key() {
    let outcome = load("simplewebauthn__reg__verify-packed-ec2-attestation")
        .verify()
        .expect("valid");
    assert_eq!(outcome.format, AttestationFormat::Packed);
    assert_eq!(outcome.trust_path.kind(), "self");
    assert!(!outcome.trusted);
}

#[test]
fn packed_self_attestation_with_rsa_pss_verifies() {
    for name in [
        "simplewebauthn__reg__verify-packed-attestation-with-rsa-pss-sha-256-public-key",
        "simplewebauthn__reg__verify-packed-attestation-with-rsa-pss-sha-384-public-key",
    ] {
        assert_eq!(load(name).verify().expect(name).trust_path.kind(), "self");
    }
}

#[test]
fn packed_self_attestation_with_es512_verifies() {
    let outcome = load("go-webauthn__reg__packedtestresponsees512-0")
        .verify()
        .expect("valid");
    assert_eq!(outcome.trust_path.kind(), "self");
}

#[test]
fn packed_x5c_attestation_verifies() {
    for name in [
        "py_webauthn__reg-packed__verify-attestation-from-yubikey-firefox",
        "py_webauthn__reg-packed__verify-attestation-with-okp-public-key",
        "simplewebauthn__reg__verify-packed-x5c-attestation",
        "go-webauthn__reg__packedtestresponsesolo2-0",
    ] {
        let outcome = load(name).verify().expect(name);
        assert_eq!(outcome.trust_path.kind(), "basic", "{name}");
        assert!(!outcome.trust_path.certificate_chain().is_empty());
    }
}

#[test]
fn packed_x5c_signature_tampered_is_refused() {
    let mut v = load("py_webauthn__reg-packed__verify-attestation-from-yubikey-firefox");
    v.tamper_statement("sig");
    assert_eq!(rule(v.verify()), "attestation-signature-invalid");
}

#[test]
fn packed_self_signature_over_other_auth_data_is_refused() {
    let mut v = load("simplewebauthn__reg__verify-packed-ec2-attestation");
    v.tamper_auth_data();
    assert_eq!(rule(v.verify()), "attestation-signature-invalid");
}

#[test]
fn packed_aaguid_extension_matching_is_accepted() {
    let v = load(
        "simplewebauthn__reg__succeed-if-id-fido-gen-ce-aaguid-extension-is-present-and-matches-aaguid-in-auth-data",
    );
    assert_eq!(v.verify().expect("valid").trust_path.kind(), "basic");
}

#[test]
fn packed_aaguid_extension_mismatch_is_refused() {
    let v = load(
        "simplewebauthn__reg__fail-if-id-fido-gen-ce-aaguid-extension-is-present-and-does-not-match-aaguid-in-auth-data",
    );
    assert_eq!(rule(v.verify()), "attestation-aaguid-extension-mismatch");
}

#[test]
fn packed_chain_not_reaching_an_anchor_is_refused_when_trust_is_required() {
    let v = load("py_webauthn__reg__raises-when-root-cert-invalid-for-response");
    let mut trust = v.trust();
    trust.requirement = AttestationRequirement::RequireTrusted;
    assert_eq!(rule(v.verify_with(&trust)), "attestation-untrusted");
    // Without the requirement the same statement is verified and reported untrusted.
    assert!(!v.verify().expect("valid").trusted);
}

#[test]
fn self_attestation_is_refused_when_trust_is_required() {
    let v = load("simplewebauthn__reg__verify-packed-ec2-attestation");
    let mut trust = v.trust();
    trust.requirement = AttestationRequirement::RequireTrusted;
    assert_eq!(rule(v.verify_with(&trust)), "attestation-untrusted");
}

#[test]
fn certificate_expired_at_verification_time_is_refused() {
    let mut v = load("py_webauthn__reg-packed__verify-attestation-from-yubikey-firefox");
    v.now = OffsetDateTime::UNIX_EPOCH;
    assert_eq!(rule(v.verify()), "attestation-certificate-expired");
}

// ---- fmt matching ---------------------------------------------------------------------------------------------------

#[test]
fn fmt_is_matched_case_sensitively() {
    let mut v = load("simplewebauthn__reg__verify-packed-ec2-attestation");
    v.fmt = "Packed".to_owned();
    assert_eq!(rule(v.verify()), "attestation-format-unsupported");
}

#[test]
fn unknown_fmt_is_refused() {
    let v = load("py_webauthn__reg__raises-exception-on-unsupported-attestation-type");
    assert_eq!(rule(v.verify()), "attestation-format-unsupported");
}

#[test]
fn none_with_a_non_empty_statement_is_refused() {
    let mut v = load("simplewebauthn__reg__verify-packed-ec2-attestation");
    v.fmt = "none".to_owned();
    assert_eq!(rule(v.verify()), "attestation-none-statement-not-empty");
}

// ---- §8.6 fido-u2f --------------------------------------------------------------------------------------------------

#[test]
fn fido_u2f_attestation_verifies() {
    for name in [
        "simplewebauthn__reg__verify-fido-u2f-attestation",
        "simplewebauthn__reg__verify-fido-u2f-attestation-that-specifies-sha-1-in-its-leaf-cert-public-key",
        "py_webauthn__reg-fido-u2f__verify-attestation-from-yubikey-firefox",
        "py_webauthn__reg-fido-u2f__verify-attestation-from-fido-conformance",
        "go-webauthn__reg__u2ftestresponse-0",
    ] {
        let outcome = load(name).verify().expect(name);
        assert_eq!(outcome.format, AttestationFormat::FidoU2f);
        assert_eq!(outcome.trust_path.kind(), "basic", "{name}");
    }
}

#[test]
fn fido_u2f_signature_over_other_rp_id_hash_is_refused() {
    let mut v = load("simplewebauthn__reg__verify-fido-u2f-attestation");
    v.tamper_auth_data();
    assert_eq!(rule(v.verify()), "attestation-signature-invalid");
}

#[test]
fn fido_u2f_signature_over_other_client_data_is_refused() {
    let mut v = load("simplewebauthn__reg__verify-fido-u2f-attestation");
    v.client_data_hash[0] ^= 0x01;
    assert_eq!(rule(v.verify()), "attestation-signature-invalid");
}

// ---- §8.3 tpm -------------------------------------------------------------------------------------------------------

#[test]
fn tpm_rsa_attestation_from_real_laptops_verifies() {
    for name in [
        "py_webauthn__reg-tpm__verify-attestation-dell-xps-13",
        "py_webauthn__reg-tpm__verify-attestation-lenovo-carbon-x1",
        "py_webauthn__reg-tpm__verify-attestation-surface-pro-4",
    ] {
        let outcome = load(name).verify().expect(name);
        assert_eq!(outcome.format, AttestationFormat::Tpm);
        assert_eq!(outcome.trust_path.kind(), "attca", "{name}");
    }
}

#[test]
fn tpm_ecc_pub_area_verifies() {
    for name in [
        "py_webauthn__reg-tpm__verify-tpm-with-ecc-public-area-type",
        "simplewebauthn__reg__verify-tpm-response-with-ecc-public-area-type",
    ] {
        assert_eq!(load(name).verify().expect(name).trust_path.kind(), "attca");
    }
}

#[test]
fn tpm_san_in_both_compliant_and_common_non_compliant_structures_is_accepted() {
    for name in [
        "simplewebauthn__reg__verify-tpm-response-with-spec-compliant-tcgattpm-san-structure",
        "simplewebauthn__reg__verify-tpm-response-with-non-spec-compliant-tcgattpm-san-structure",
    ] {
        assert_eq!(load(name).verify().expect(name).trust_path.kind(), "attca");
    }
}

#[test]
fn tpm_fido_test_manufacturer_is_refused_by_default() {
    let v = load("simplewebauthn__reg__verify-tpm-response");
    assert_eq!(rule(v.verify()), "tpm-manufacturer-unknown");
}

#[test]
fn tpm_fido_test_manufacturer_is_accepted_when_allowed_including_sha1() {
    for name in [
        "simplewebauthn__reg__verify-tpm-response",
        "simplewebauthn__reg__verify-sha1-tpm-response",
        "simplewebauthn__reg__verify-sha256-tpm-response",
        "simplewebauthn__reg__validate-tpm-rsa-response-sha1",
    ] {
        let v = load(name);
        let mut trust = v.trust();
        trust.tpm_test_manufacturer = TpmTestManufacturer::InsecureAllow;
        assert_eq!(
            v.verify_with(&trust).expect(name).trust_path.kind(),
            "attca"
        );
    }
}

#[test]
fn tpm_aaguid_extension_mismatch_is_refused() {
    let v = load(
        "simplewebauthn__reg__fail-if-id-fido-gen-ce-aaguid-extension-is-present-and-does-not-match-aaguid-in-auth-data-2",
    );
    let mut trust = v.trust();
    trust.tpm_test_manufacturer = TpmTestManufacturer::InsecureAllow;
    assert_eq!(
        rule(v.verify_with(&trust)),
        "attestation-aaguid-extension-mismatch"
    );
}

#[test]
fn tpm_extra_data_not_matching_auth_data_is_refused() {
    let mut v = load("py_webauthn__reg-tpm__verify-attestation-dell-xps-13");
    v.tamper_auth_data();
    assert_eq!(rule(v.verify()), "tpm-extra-data-mismatch");
}

#[test]
fn tpm_signature_over_cert_info_tampered_is_refused() {
    let mut v = load("py_webauthn__reg-tpm__verify-attestation-dell-xps-13");
    v.tamper_statement("sig");
    assert_eq!(rule(v.verify()), "attestation-signature-invalid");
}

#[test]
fn tpm_pub_area_not_the_credential_key_is_refused() {
    let mut v = load("py_webauthn__reg-tpm__verify-attestation-dell-xps-13");
    v.tamper_statement("pubArea");
    assert_eq!(rule(v.verify()), "tpm-pub-area-key-mismatch");
}

#[test]
fn tpm_cert_info_tampered_breaks_the_aik_signature() {
    let mut v = load("py_webauthn__reg-tpm__verify-attestation-dell-xps-13");
    v.tamper_statement("certInfo");
    assert_eq!(rule(v.verify()), "attestation-signature-invalid");
}

// ---- §8.4 android-key -----------------------------------------------------------------------------------------------

#[test]
fn android_key_attestation_verifies_and_anchors_to_the_google_root() {
    for name in [
        "simplewebauthn__reg__verify-android-keystore-response-from-a-pixel-8a-in-january-2025",
        "simplewebauthn__reg__verify-android-keystore-response-from-a-samsung-galaxy-s9-running-android-10",
    ] {
        let outcome = load(name).verify().expect(name);
        assert_eq!(outcome.format, AttestationFormat::AndroidKey);
        assert!(outcome.trusted, "{name}");
    }
}

#[test]
fn android_key_attestation_without_anchor_is_untrusted() {
    let v = load("py_webauthn__reg-android-key__verify-attestation-android-key-hardware-authority");
    assert!(!v.verify().expect("valid").trusted);
    let mut trust = v.trust();
    trust.requirement = AttestationRequirement::RequireTrusted;
    assert_eq!(rule(v.verify_with(&trust)), "attestation-untrusted");
}

#[test]
fn android_key_signature_over_other_client_data_is_refused() {
    let mut v = load(
        "simplewebauthn__reg__verify-android-keystore-response-from-a-pixel-8a-in-january-2025",
    );
    v.client_data_hash[31] ^= 0x80;
    assert_eq!(rule(v.verify()), "attestation-signature-invalid");
}

#[test]
fn android_key_chain_expired_is_refused() {
    let mut v = load(
        "simplewebauthn__reg__verify-android-keystore-response-from-a-pixel-8a-in-january-2025",
    );
    v.now += time::Duration::days(365 * 40);
    assert_eq!(rule(v.verify()), "attestation-certificate-expired");
}

// ---- §8.5 android-safetynet -----------------------------------------------------------------------------------------

#[test]
fn safetynet_cts_profile_mismatch_is_refused_by_default() {
    let v = load("simplewebauthn__reg__enforce-cts-check-by-default");
    assert_eq!(rule(v.verify()), "safetynet-cts-profile-mismatch");
}

#[test]
fn safetynet_verifies_when_cts_is_ignored_by_policy() {
    let v = load("simplewebauthn__reg__skip-cts-check-when-enforcement-option-is-false");
    let mut trust = v.trust();
    trust.safetynet_cts = SafetyNetCtsProfile::InsecureIgnore;
    let outcome = v.verify_with(&trust).expect("valid");
    assert_eq!(outcome.format, AttestationFormat::AndroidSafetyNet);
    assert!(outcome.trusted);
}

#[test]
fn safetynet_nonce_not_matching_auth_data_is_refused() {
    let mut v = load("simplewebauthn__reg__skip-cts-check-when-enforcement-option-is-false");
    v.tamper_auth_data();
    let mut trust = v.trust();
    trust.safetynet_cts = SafetyNetCtsProfile::InsecureIgnore;
    assert_eq!(rule(v.verify_with(&trust)), "safetynet-nonce-mismatch");
}

#[test]
fn safetynet_timestamp_older_than_a_minute_is_refused() {
    let mut v = load("simplewebauthn__reg__skip-cts-check-when-enforcement-option-is-false");
    v.now += time::Duration::seconds(61);
    let mut trust = v.trust();
    trust.safetynet_cts = SafetyNetCtsProfile::InsecureIgnore;
    assert_eq!(
        rule(v.verify_with(&trust)),
        "safetynet-timestamp-out-of-range"
    );
}

#[test]
fn safetynet_jws_signature_tampered_is_refused() {
    let mut v = load("simplewebauthn__reg__skip-cts-check-when-enforcement-option-is-false");
    // The JWS is text: change the last signature character to another base64url character.
    if let Value::Map(m) = &mut v.att_stmt
        && let Some((_, Value::Bytes(b))) =
            m.iter_mut().find(|(k, _)| k.as_text() == Some("response"))
    {
        let last = b.len() - 2;
        b[last] = if b[last] == b'A' { b'B' } else { b'A' };
    }
    let mut trust = v.trust();
    trust.safetynet_cts = SafetyNetCtsProfile::InsecureIgnore;
    assert_eq!(rule(v.verify_with(&trust)), "attestation-signature-invalid");
}

// ---- §8.8 apple -----------------------------------------------------------------------------------------------------

#[test]
fn apple_attestation_verifies_and_anchors_to_the_apple_root() {
    let outcome = load("simplewebauthn__reg__verify-apple-attestation")
        .verify()
        .expect("valid");
    assert_eq!(outcome.format, AttestationFormat::Apple);
    assert_eq!(outcome.trust_path.kind(), "attca");
    assert!(outcome.trusted);
    assert!(
        load("py_webauthn__reg-apple__verify-attestation-apple-passkey")
            .verify()
            .is_ok()
    );
}

#[test]
fn apple_nonce_not_matching_auth_data_is_refused() {
    let mut v = load("simplewebauthn__reg__verify-apple-attestation");
    v.tamper_auth_data();
    assert_eq!(rule(v.verify()), "apple-nonce-mismatch");
}

#[test]
fn apple_certificate_key_not_the_credential_key_is_refused() {
    // The Apple statement speaks for one credential key; present it with another credential's authData.
    let apple = load("simplewebauthn__reg__verify-apple-attestation");
    let other = load("py_webauthn__reg-apple__verify-attestation-apple-passkey");
    let parsed = AuthenticatorData::from_bytes(&other.auth_data).expect("authData");
    let attested = parsed.attested_credential.expect("attested");
    let result = verify_attested(
        &apple.fmt,
        &apple.att_stmt,
        AttestedCredential {
            aaguid: attested.aaguid,
            credential_id: &attested.credential_id,
            public_key_cbor: &attested.public_key_cbor,
        },
        &apple.auth_data,
        &apple.client_data_hash,
        &apple.trust(),
    );
    assert_eq!(rule(result), "attestation-certificate-key-mismatch");
}

/// Byte offsets inside a TPMS_ATTEST: (type, attested name).
fn cert_info_offsets(cert_info: &[u8]) -> (usize, usize) {
    let sized = |at: usize| usize::from(u16::from_be_bytes([cert_info[at], cert_info[at + 1]]));
    let signer = 6;
    let extra = signer + 2 + sized(signer);
    let name = extra + 2 + sized(extra) + 17 + 8;
    (4, name + 2 + 2) // skip the name's size and its nameAlg: point at the digest
}

fn with_cert_info(v: &mut Vector, edit: impl FnOnce(&mut Vec<u8>)) {
    if let Value::Map(m) = &mut v.att_stmt
        && let Some((_, Value::Bytes(b))) =
            m.iter_mut().find(|(k, _)| k.as_text() == Some("certInfo"))
    {
        edit(b);
    }
}

#[test]
fn tpm_magic_not_tpm_generated_value_is_refused() {
    let mut v = load("py_webauthn__reg-tpm__verify-attestation-dell-xps-13");
    with_cert_info(&mut v, |b| b[0] ^= 0x01);
    assert_eq!(rule(v.verify()), "tpm-magic-invalid");
}

#[test]
fn tpm_type_not_attest_certify_is_refused() {
    let mut v = load("py_webauthn__reg-tpm__verify-attestation-dell-xps-13");
    with_cert_info(&mut v, |b| {
        let (ty, _) = cert_info_offsets(b);
        b[ty + 1] ^= 0x01;
    });
    assert_eq!(rule(v.verify()), "tpm-type-invalid");
}

#[test]
fn tpm_attested_name_not_the_pub_area_name_is_refused() {
    let mut v = load("py_webauthn__reg-tpm__verify-attestation-dell-xps-13");
    with_cert_info(&mut v, |b| {
        let (_, name) = cert_info_offsets(b);
        b[name] ^= 0x01;
    });
    assert_eq!(rule(v.verify()), "tpm-name-mismatch");
}

#[test]
fn tpm_version_other_than_2_0_is_refused() {
    let mut v = load("py_webauthn__reg-tpm__verify-attestation-dell-xps-13");
    if let Value::Map(m) = &mut v.att_stmt
        && let Some((_, ver)) = m.iter_mut().find(|(k, _)| k.as_text() == Some("ver"))
    {
        *ver = Value::Text("1.2".into());
    }
    assert_eq!(rule(v.verify()), "tpm-version-unsupported");
}

#[test]
fn tpm_cert_info_truncated_is_refused() {
    let mut v = load("py_webauthn__reg-tpm__verify-attestation-dell-xps-13");
    with_cert_info(&mut v, |b| b.truncate(b.len() - 3));
    assert_eq!(rule(v.verify()), "tpm-cert-info-malformed");
}

#[test]
fn verify_attestation_statement_requires_attested_credential_data() {
    let v = load("simplewebauthn__reg__verify-packed-ec2-attestation");
    let mut parsed = AuthenticatorData::from_bytes(&v.auth_data).expect("authData");
    parsed.attested_credential = None;
    let result = tessera_webauthn::attestation::verify_attestation_statement(
        &v.fmt,
        &v.att_stmt,
        &parsed,
        &v.auth_data,
        &v.client_data_hash,
        &v.trust(),
    );
    assert_eq!(rule(result), "attested-credential-data-missing");
}

#[test]
fn well_known_roots_anchor_android_key_apple_and_safetynet() {
    let roots = tessera_webauthn::attestation::roots::well_known();
    for name in [
        "py_webauthn__reg-android-key__verify-attestation-android-key-hardware-authority",
        "simplewebauthn__reg__verify-android-keystore-response-from-a-pixel-8a-in-january-2025",
        "simplewebauthn__reg__verify-apple-attestation",
        "py_webauthn__reg-apple__verify-attestation-apple-passkey",
    ] {
        let v = load(name);
        let mut trust = AttestationTrust::new(v.now);
        trust.trust_anchors = &roots;
        trust.requirement = AttestationRequirement::RequireTrusted;
        assert!(v.verify_with(&trust).expect(name).trusted, "{name}");
    }
    let v = load("simplewebauthn__reg__skip-cts-check-when-enforcement-option-is-false");
    let mut trust = AttestationTrust::new(v.now);
    trust.trust_anchors = &roots;
    trust.safetynet_cts = SafetyNetCtsProfile::InsecureIgnore;
    assert!(v.verify_with(&trust).expect("safetynet").trusted);
}
