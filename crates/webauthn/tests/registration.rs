//! WebAuthn L3 §7.1 "Registering a New Credential": one test per step and failure mode.

mod common;

use ciborium::Value;
use common::*;
use serde_json::json;
use tessera_webauthn::base64url::encode;
use tessera_webauthn::registration::AttestationObject;
use tessera_webauthn::{
    Aaguid, AttestationPolicy, CertificationLevel, CoseAlgorithm, CrossOriginPolicy, Mediation,
    SyncedPasskeys, VerifiedRegistration, WebauthnError, verify_registration,
};

fn verify(reg: &Registration, env: &Env) -> Result<VerifiedRegistration, WebauthnError> {
    verify_registration(&reg.response(), &env.registration(), |_| false)
}

fn rule(result: Result<VerifiedRegistration, WebauthnError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => e.rule(),
    }
}

// ---- happy paths ---------------------------------------------------------------------------------------------

#[test]
fn registration_accepts_es256_none_attestation() {
    let reg = Registration::new(TestKey::p256());
    let verified = verify(&reg, &Env::new()).expect("valid registration");
    assert_eq!(verified.algorithm, CoseAlgorithm::Es256);
    assert_eq!(verified.attestation_format(), "none");
    assert_eq!(verified.trust_path(), "none");
}

#[test]
fn registration_accepts_ed25519() {
    let verified = verify(&Registration::new(TestKey::ed25519()), &Env::new()).expect("valid");
    assert_eq!(verified.algorithm, CoseAlgorithm::EdDsa);
}

#[test]
fn registration_accepts_rs256() {
    let verified = verify(&Registration::new(TestKey::rsa2048()), &Env::new()).expect("valid");
    assert_eq!(verified.algorithm, CoseAlgorithm::Rs256);
}

#[test]
fn registration_accepts_ml_dsa_44() {
    let verified = verify(&Registration::new(TestKey::ml_dsa_44()), &Env::new()).expect("valid");
    assert_eq!(verified.algorithm, CoseAlgorithm::MlDsa44);
}

#[test]
fn registration_reports_everything_a_store_keeps() {
    let mut reg = Registration::new(TestKey::p256());
    reg.flags = UP | UV | AT | BE | BS;
    reg.sign_count = 7;
    let verified = verify(&reg, &Env::new()).expect("valid");
    assert_eq!(verified.credential_id, reg.credential_id);
    assert_eq!(verified.public_key_cbor, reg.key.cose());
    assert_eq!(verified.sign_count, 7);
    assert!(verified.user_verified && verified.backup_eligible && verified.backup_state);
    assert_eq!(verified.aaguid, Aaguid(AAGUID));
    assert_eq!(
        verified.aaguid.to_string(),
        "cb69481e-8ff7-4039-93ec-0a2729a154a8"
    );
    assert_eq!(verified.transports.len(), 2);
    assert_eq!(verified.discoverable, Some(true));
    assert_eq!(
        verified.authenticator_attachment,
        Some(tessera_webauthn::json::AuthenticatorAttachment::Platform)
    );
    let record = verified.to_record(USER);
    assert_eq!(record.user_handle, USER);
    assert!(record.uv_initialized && record.backup_eligible);
}

// ---- credential identity -------------------------------------------------------------------------------------

#[test]
fn registration_refuses_credential_type_other_than_public_key() {
    let mut reg = Registration::new(TestKey::p256());
    reg.type_ = "password".into();
    assert_eq!(rule(verify(&reg, &Env::new())), "credential-type-invalid");
}

#[test]
fn registration_refuses_id_not_matching_raw_id() {
    let mut reg = Registration::new(TestKey::p256());
    reg.id = Some(encode(b"another-credential"));
    assert_eq!(rule(verify(&reg, &Env::new())), "credential-id-mismatch");
}

#[test]
fn registration_refuses_raw_id_not_matching_attested_credential_id() {
    let mut reg = Registration::new(TestKey::p256());
    reg.raw_id = Some(b"another-credential".to_vec());
    assert_eq!(
        rule(verify(&reg, &Env::new())),
        "attested-credential-id-mismatch"
    );
}

// ---- clientDataJSON ------------------------------------------------------------------------------------------

#[test]
fn registration_refuses_client_data_not_utf8() {
    let mut reg = Registration::new(TestKey::p256());
    reg.client_data.raw = Some(vec![b'{', 0xff, 0xfe, b'}']);
    assert_eq!(rule(verify(&reg, &Env::new())), "client-data-not-utf8");
}

#[test]
fn registration_strips_client_data_byte_order_mark() {
    let mut reg = Registration::new(TestKey::p256());
    let mut raw = vec![0xEF, 0xBB, 0xBF];
    raw.extend_from_slice(&reg.client_data.to_bytes());
    reg.client_data.raw = Some(raw);
    assert_eq!(rule(verify(&reg, &Env::new())), "ok");
}

#[test]
fn registration_refuses_client_data_invalid_json() {
    let mut reg = Registration::new(TestKey::p256());
    reg.client_data.raw = Some(b"{\"type\":\"webauthn.create\",".to_vec());
    assert_eq!(rule(verify(&reg, &Env::new())), "client-data-json-invalid");
}

#[test]
fn registration_refuses_client_data_type_get() {
    let mut reg = Registration::new(TestKey::p256());
    reg.client_data.type_ = "webauthn.get".into();
    assert_eq!(rule(verify(&reg, &Env::new())), "client-data-type-mismatch");
}

#[test]
fn registration_refuses_wrong_challenge() {
    let mut reg = Registration::new(TestKey::p256());
    reg.client_data.challenge = encode(b"another challenge, another day!!");
    assert_eq!(rule(verify(&reg, &Env::new())), "challenge-mismatch");
}

#[test]
fn registration_refuses_challenge_that_is_not_base64url() {
    let mut reg = Registration::new(TestKey::p256());
    reg.client_data.challenge = "not base64url!".into();
    assert_eq!(rule(verify(&reg, &Env::new())), "challenge-mismatch");
}

#[test]
fn registration_accepts_padded_challenge() {
    let mut reg = Registration::new(TestKey::p256());
    reg.client_data.challenge = format!("{}=", encode(CHALLENGE));
    assert_eq!(rule(verify(&reg, &Env::new())), "ok");
}

#[test]
fn registration_refuses_wrong_origin() {
    let mut reg = Registration::new(TestKey::p256());
    reg.client_data.origin = "https://evil.example.net".into();
    assert_eq!(rule(verify(&reg, &Env::new())), "origin-not-allowed");
}

#[test]
fn registration_refuses_origin_that_only_starts_with_an_allowed_one() {
    let mut reg = Registration::new(TestKey::p256());
    reg.client_data.origin = format!("{ORIGIN}.evil.example.net");
    assert_eq!(rule(verify(&reg, &Env::new())), "origin-not-allowed");
}

#[test]
fn registration_refuses_http_origin_for_https_rp() {
    let mut reg = Registration::new(TestKey::p256());
    reg.client_data.origin = "http://login.example.com".into();
    assert_eq!(rule(verify(&reg, &Env::new())), "origin-not-allowed");
}

#[test]
fn registration_refuses_cross_origin_when_not_expected() {
    let mut reg = Registration::new(TestKey::p256());
    reg.client_data.cross_origin = Some(true);
    assert_eq!(rule(verify(&reg, &Env::new())), "cross-origin-not-allowed");
}

#[test]
fn registration_accepts_cross_origin_false() {
    let mut reg = Registration::new(TestKey::p256());
    reg.client_data.cross_origin = Some(false);
    assert_eq!(rule(verify(&reg, &Env::new())), "ok");
}

#[test]
fn registration_refuses_top_origin_when_not_embedded() {
    let mut reg = Registration::new(TestKey::p256());
    reg.client_data.top_origin = Some("https://shop.example.org".into());
    assert_eq!(rule(verify(&reg, &Env::new())), "top-origin-not-allowed");
}

#[test]
fn registration_accepts_cross_origin_from_allowed_top_origin() {
    let mut env = Env::new();
    env.origins.cross_origin =
        CrossOriginPolicy::AllowFrom(vec!["https://shop.example.org".into()]);
    let mut reg = Registration::new(TestKey::p256());
    reg.client_data.cross_origin = Some(true);
    reg.client_data.top_origin = Some("https://shop.example.org".into());
    assert_eq!(rule(verify(&reg, &env)), "ok");
}

#[test]
fn registration_refuses_cross_origin_from_unlisted_top_origin() {
    let mut env = Env::new();
    env.origins.cross_origin =
        CrossOriginPolicy::AllowFrom(vec!["https://shop.example.org".into()]);
    let mut reg = Registration::new(TestKey::p256());
    reg.client_data.cross_origin = Some(true);
    reg.client_data.top_origin = Some("https://evil.example.net".into());
    assert_eq!(rule(verify(&reg, &env)), "top-origin-not-allowed");
}

#[test]
fn registration_refuses_cross_origin_without_top_origin() {
    let mut env = Env::new();
    env.origins.cross_origin =
        CrossOriginPolicy::AllowFrom(vec!["https://shop.example.org".into()]);
    let mut reg = Registration::new(TestKey::p256());
    reg.client_data.cross_origin = Some(true);
    assert_eq!(rule(verify(&reg, &env)), "top-origin-missing");
}

// ---- attestation object and authenticator data ---------------------------------------------------------------

#[test]
fn registration_refuses_attestation_object_that_is_not_cbor() {
    let reg = Registration::new(TestKey::p256());
    let mut json = reg.json();
    json["response"]["attestationObject"] = json!(encode(b"\xff\x00garbage"));
    let response =
        tessera_webauthn::RegistrationResponseJSON::from_json(&serde_json::to_vec(&json).unwrap())
            .unwrap();
    let env = Env::new();
    assert_eq!(
        rule(verify_registration(&response, &env.registration(), |_| {
            false
        })),
        "attestation-object-invalid"
    );
}

#[test]
fn registration_refuses_attestation_object_with_trailing_bytes() {
    let reg = Registration::new(TestKey::p256());
    let mut object = reg.attestation_object();
    object.push(0);
    assert_eq!(
        AttestationObject::from_cbor(&object).unwrap_err().rule(),
        "attestation-object-invalid"
    );
}

#[test]
fn registration_refuses_attestation_object_without_fmt() {
    let bytes = cbor(&Value::Map(vec![
        (Value::Text("attStmt".into()), Value::Map(vec![])),
        (Value::Text("authData".into()), Value::Bytes(vec![0; 37])),
    ]));
    assert_eq!(
        AttestationObject::from_cbor(&bytes).unwrap_err().rule(),
        "attestation-object-invalid"
    );
}

#[test]
fn registration_refuses_attestation_object_with_duplicate_members() {
    let bytes = cbor(&Value::Map(vec![
        (Value::Text("fmt".into()), Value::Text("none".into())),
        (Value::Text("fmt".into()), Value::Text("packed".into())),
        (Value::Text("attStmt".into()), Value::Map(vec![])),
        (Value::Text("authData".into()), Value::Bytes(vec![0; 37])),
    ]));
    assert_eq!(
        AttestationObject::from_cbor(&bytes).unwrap_err().rule(),
        "cbor-duplicate-map-key"
    );
}

#[test]
fn registration_refuses_missing_attested_credential_data() {
    let mut reg = Registration::new(TestKey::p256());
    reg.flags = UP | UV;
    assert_eq!(
        rule(verify(&reg, &Env::new())),
        "attested-credential-data-missing"
    );
}

#[test]
fn registration_refuses_authenticator_data_trailing_bytes() {
    let mut reg = Registration::new(TestKey::p256());
    reg.trailing = vec![0, 1, 2];
    assert_eq!(
        rule(verify(&reg, &Env::new())),
        "authenticator-data-trailing-bytes"
    );
}

#[test]
fn registration_refuses_extension_flag_without_extension_map() {
    let mut reg = Registration::new(TestKey::p256());
    reg.flags |= ED;
    assert_eq!(
        rule(verify(&reg, &Env::new())),
        "authenticator-data-invalid"
    );
}

#[test]
fn registration_reports_extension_outputs_without_trusting_them() {
    let mut reg = Registration::new(TestKey::p256());
    reg.extensions = Some(Value::Map(vec![(
        Value::Text("credProtect".into()),
        int(2),
    )]));
    reg.client_extension_results = json!({"credProps": "nonsense", "unknown": [1, {"a": null}]});
    let verified = verify(&reg, &Env::new()).expect("valid");
    assert!(verified.authenticator_extensions.is_some());
    assert_eq!(verified.discoverable, None);
}

#[test]
fn registration_refuses_rp_id_hash_mismatch() {
    let mut reg = Registration::new(TestKey::p256());
    reg.rp_id = "example.net".into();
    assert_eq!(rule(verify(&reg, &Env::new())), "rp-id-hash-mismatch");
}

#[test]
fn registration_accepts_any_of_several_rp_ids() {
    let mut env = Env::new();
    env.rp_ids.push("example.com".into());
    let mut reg = Registration::new(TestKey::p256());
    reg.rp_id = "example.com".into();
    assert_eq!(rule(verify(&reg, &env)), "ok");
}

#[test]
fn registration_refuses_missing_user_presence() {
    let mut reg = Registration::new(TestKey::p256());
    reg.flags = UV | AT;
    assert_eq!(rule(verify(&reg, &Env::new())), "user-presence-missing");
}

#[test]
fn registration_accepts_missing_user_presence_with_conditional_mediation() {
    let mut reg = Registration::new(TestKey::p256());
    reg.flags = UV | AT;
    let env = Env::new();
    let mut expectation = env.registration();
    expectation.mediation = Mediation::Conditional;
    assert_eq!(
        rule(verify_registration(&reg.response(), &expectation, |_| {
            false
        })),
        "ok"
    );
}

#[test]
fn registration_refuses_missing_user_verification_when_required() {
    let mut reg = Registration::new(TestKey::p256());
    reg.flags = UP | AT;
    assert_eq!(rule(verify(&reg, &Env::new())), "user-verification-missing");
}

#[test]
fn registration_accepts_missing_user_verification_when_not_required() {
    let mut env = Env::new();
    env.policy.user_verification = tessera_webauthn::json::UserVerificationRequirement::Preferred;
    let mut reg = Registration::new(TestKey::p256());
    reg.flags = UP | AT;
    let verified = verify(&reg, &env).expect("valid");
    assert!(!verified.user_verified);
}

#[test]
fn registration_refuses_backup_state_without_backup_eligibility() {
    let mut reg = Registration::new(TestKey::p256());
    reg.flags |= BS;
    assert_eq!(rule(verify(&reg, &Env::new())), "backup-state-inconsistent");
}

#[test]
fn registration_refuses_synced_passkey_when_policy_refuses_them() {
    let mut env = Env::new();
    env.policy.synced_passkeys = SyncedPasskeys::Refuse;
    let mut reg = Registration::new(TestKey::p256());
    reg.flags |= BE;
    assert_eq!(rule(verify(&reg, &env)), "synced-passkey-refused");
    reg.flags &= !BE;
    assert_eq!(rule(verify(&reg, &env)), "ok");
}

// ---- keys and algorithms -------------------------------------------------------------------------------------

#[test]
fn registration_refuses_algorithm_not_offered() {
    let mut env = Env::new();
    env.algorithms = vec![-8];
    assert_eq!(
        rule(verify(&Registration::new(TestKey::p256()), &env)),
        "algorithm-not-allowed"
    );
}

#[test]
fn registration_refuses_algorithm_not_allowed_by_policy() {
    let mut env = Env::new();
    env.policy.algorithms = vec![-7];
    assert_eq!(
        rule(verify(&Registration::new(TestKey::ed25519()), &env)),
        "algorithm-not-allowed"
    );
}

#[test]
fn registration_refuses_cose_key_curve_mismatch() {
    let mut reg = Registration::new(TestKey::p256());
    let Value::Map(mut entries) = reg.key.cose_value() else {
        unreachable!()
    };
    entries[2].1 = int(2); // P-384 with ES256
    reg.cose_key = Some(cbor(&Value::Map(entries)));
    assert_eq!(rule(verify(&reg, &Env::new())), "curve-mismatch");
}

#[test]
fn registration_refuses_ec_point_not_on_curve() {
    let mut reg = Registration::new(TestKey::p256());
    let Value::Map(mut entries) = reg.key.cose_value() else {
        unreachable!()
    };
    entries[4].1 = Value::Bytes(vec![0x42; 32]);
    reg.cose_key = Some(cbor(&Value::Map(entries)));
    assert_eq!(rule(verify(&reg, &Env::new())), "ec-point-invalid");
}

#[test]
fn registration_refuses_cose_key_without_alg() {
    let mut reg = Registration::new(TestKey::p256());
    let Value::Map(mut entries) = reg.key.cose_value() else {
        unreachable!()
    };
    entries.remove(1);
    reg.cose_key = Some(cbor(&Value::Map(entries)));
    assert_eq!(rule(verify(&reg, &Env::new())), "cose-key-invalid");
}

#[test]
fn registration_refuses_cose_key_with_duplicate_labels() {
    let mut reg = Registration::new(TestKey::p256());
    let Value::Map(mut entries) = reg.key.cose_value() else {
        unreachable!()
    };
    // A second -2 right after the first: the canonical check names it (a later one would be out of order).
    entries.insert(4, (int(-2), Value::Bytes(vec![1; 32])));
    reg.cose_key = Some(cbor(&Value::Map(entries)));
    assert_eq!(rule(verify(&reg, &Env::new())), "cbor-duplicate-map-key");
}

#[test]
fn registration_refuses_key_type_not_matching_algorithm() {
    let mut reg = Registration::new(TestKey::p256());
    let Value::Map(mut entries) = reg.key.cose_value() else {
        unreachable!()
    };
    entries[1].1 = int(-8); // EdDSA on an EC2 key
    reg.cose_key = Some(cbor(&Value::Map(entries)));
    assert_eq!(rule(verify(&reg, &Env::new())), "cose-key-invalid");
}

#[test]
fn registration_refuses_rsa_key_under_2048_bits() {
    let mut reg = Registration::new(TestKey::rsa2048());
    let mut n = vec![0xC1; 128];
    n[127] |= 1;
    reg.cose_key = Some(cbor(&Value::Map(vec![
        (int(1), int(3)),
        (int(3), int(-257)),
        (int(-1), Value::Bytes(n)),
        (int(-2), Value::Bytes(vec![1, 0, 1])),
    ])));
    assert_eq!(rule(verify(&reg, &Env::new())), "rsa-key-size");
}

#[test]
fn registration_refuses_unsupported_algorithm() {
    let mut reg = Registration::new(TestKey::p256());
    let Value::Map(mut entries) = reg.key.cose_value() else {
        unreachable!()
    };
    entries[1].1 = int(-47); // ES256K
    reg.cose_key = Some(cbor(&Value::Map(entries)));
    assert_eq!(rule(verify(&reg, &Env::new())), "algorithm-unsupported");
}

#[test]
fn registration_refuses_rs1_without_insecure_flag() {
    let mut env = Env::new();
    env.algorithms.push(-65535);
    env.policy.algorithms.push(-65535);
    let mut reg = Registration::new(TestKey::rsa2048());
    let Value::Map(mut entries) = reg.key.cose_value() else {
        unreachable!()
    };
    entries[1].1 = int(-65535);
    reg.cose_key = Some(cbor(&Value::Map(entries)));
    assert_eq!(rule(verify(&reg, &env)), "algorithm-not-allowed");
    env.policy.insecure_allow_rs1 = true;
    assert_eq!(rule(verify(&reg, &env)), "ok");
}

// ---- credential id -------------------------------------------------------------------------------------------

#[test]
fn registration_refuses_credential_id_longer_than_1023_bytes() {
    let mut reg = Registration::new(TestKey::p256());
    reg.credential_id = vec![7; 1024];
    assert_eq!(rule(verify(&reg, &Env::new())), "credential-id-too-long");
}

#[test]
fn registration_accepts_credential_id_of_1023_bytes() {
    let mut reg = Registration::new(TestKey::p256());
    reg.credential_id = vec![7; 1023];
    assert_eq!(rule(verify(&reg, &Env::new())), "ok");
}

#[test]
fn registration_refuses_credential_already_registered() {
    let reg = Registration::new(TestKey::p256());
    let env = Env::new();
    let mut asked = Vec::new();
    let result = verify_registration(&reg.response(), &env.registration(), |id| {
        asked = id.to_vec();
        true
    });
    assert_eq!(rule(result), "credential-already-registered");
    assert_eq!(asked, reg.credential_id);
}

// ---- attestation and tenant policy ---------------------------------------------------------------------------

#[test]
fn registration_refuses_unknown_attestation_format() {
    let mut reg = Registration::new(TestKey::p256());
    reg.fmt = "None".into();
    assert!(matches!(
        verify(&reg, &Env::new()),
        Err(WebauthnError::Attestation(_))
    ));
}

#[test]
fn registration_refuses_none_attestation_with_a_statement() {
    let mut reg = Registration::new(TestKey::p256());
    reg.att_stmt = Some(Value::Map(vec![(
        Value::Text("sig".into()),
        Value::Bytes(vec![1]),
    )]));
    assert!(matches!(
        verify(&reg, &Env::new()),
        Err(WebauthnError::Attestation(_))
    ));
}

#[test]
fn registration_refuses_none_attestation_when_policy_requires_attestation() {
    let mut env = Env::new();
    env.policy.attestation = AttestationPolicy::Any;
    assert_eq!(
        rule(verify(&Registration::new(TestKey::p256()), &env)),
        "attestation-required"
    );
}

#[test]
fn registration_refuses_untrusted_attestation_when_policy_requires_trusted() {
    let mut env = Env::new();
    env.policy.attestation = AttestationPolicy::Trusted;
    let result = verify(&Registration::new(TestKey::p256()), &env);
    assert!(matches!(
        rule(result),
        "attestation-untrusted" | "attestation-required"
    ));
}

#[test]
fn registration_refuses_denied_aaguid() {
    let mut env = Env::new();
    env.policy.aaguid_deny = vec![Aaguid(AAGUID)];
    assert_eq!(
        rule(verify(&Registration::new(TestKey::p256()), &env)),
        "aaguid-denied"
    );
}

#[test]
fn registration_refuses_aaguid_not_on_allow_list() {
    let mut env = Env::new();
    env.policy.aaguid_allow = vec!["00000000-0000-0000-0000-000000000001".parse().unwrap()];
    assert_eq!(
        rule(verify(&Registration::new(TestKey::p256()), &env)),
        "aaguid-not-allowed"
    );
}

#[test]
fn registration_refuses_allowed_aaguid_without_trusted_attestation() {
    let mut env = Env::new();
    env.policy.aaguid_allow = vec![Aaguid(AAGUID)];
    assert_eq!(
        rule(verify(&Registration::new(TestKey::p256()), &env)),
        "aaguid-not-attested"
    );
}

#[test]
fn registration_refuses_minimum_certification_level_without_trusted_attestation() {
    let mut env = Env::new();
    env.policy.minimum_certification_level = Some(CertificationLevel::FidoCertifiedL1);
    assert_eq!(
        rule(verify(&Registration::new(TestKey::p256()), &env)),
        "certification-level-not-attested"
    );
}

#[test]
fn registration_refuses_unknown_token_binding_status() {
    let mut reg = Registration::new(TestKey::p256());
    let mut text = String::from_utf8(reg.client_data.to_bytes()).unwrap();
    text.pop();
    text.push_str(",\"tokenBinding\":{\"status\":\"not-supported\"}}");
    reg.client_data.raw = Some(text.into_bytes());
    assert_eq!(rule(verify(&reg, &Env::new())), "client-data-json-invalid");
}

#[test]
fn registration_ignores_token_binding_of_another_shape() {
    let mut reg = Registration::new(TestKey::p256());
    let mut text = String::from_utf8(reg.client_data.to_bytes()).unwrap();
    text.pop();
    text.push_str(",\"tokenBinding\":\"unused\"}");
    reg.client_data.raw = Some(text.into_bytes());
    assert_eq!(rule(verify(&reg, &Env::new())), "ok");
}

#[test]
fn registration_accepts_packed_self_attestation() {
    let mut reg = Registration::new(TestKey::p256());
    reg.fmt = "packed".into();
    let verified = verify(&reg, &Env::new()).expect("valid");
    assert_eq!(verified.attestation_format(), "packed");
    assert_eq!(verified.trust_path(), "self");
    assert!(!verified.attestation.trusted);
}

#[test]
fn registration_refuses_packed_self_attestation_over_other_client_data() {
    let mut reg = Registration::new(TestKey::ed25519());
    reg.fmt = "packed".into();
    let object = reg.attestation_object();
    reg.client_data.origin = "https://login.example.com".into();
    reg.client_data.cross_origin = Some(false);
    let mut json = reg.json();
    json["response"]["attestationObject"] = json!(encode(&object));
    let response =
        tessera_webauthn::RegistrationResponseJSON::from_json(&serde_json::to_vec(&json).unwrap())
            .unwrap();
    let env = Env::new();
    let result = verify_registration(&response, &env.registration(), |_| false);
    assert!(
        matches!(result, Err(WebauthnError::Attestation(_))),
        "{result:?}"
    );
}

#[test]
fn registration_refuses_self_attestation_when_policy_requires_trusted_attestation() {
    let mut env = Env::new();
    env.policy.attestation = AttestationPolicy::Trusted;
    let mut reg = Registration::new(TestKey::p256());
    reg.fmt = "packed".into();
    assert_eq!(rule(verify(&reg, &env)), "attestation-untrusted");
    env.policy.attestation = AttestationPolicy::Any;
    assert_eq!(rule(verify(&reg, &env)), "ok");
}
