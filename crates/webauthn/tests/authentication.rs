//! WebAuthn L3 §7.2 "Verifying an Authentication Assertion": one test per step and failure mode.

mod common;

use ciborium::Value;
use common::*;
use serde_json::json;
use tessera_webauthn::base64url::encode;
use tessera_webauthn::{
    AuthenticationResponseJSON, CoseAlgorithm, CredentialRecord, CrossOriginPolicy,
    SignCountPolicy, UserIdentification, VerifiedAuthentication, WebauthnError,
    verify_authentication,
};

fn verify(
    assertion: &Assertion<'_>,
    env: &Env,
    record: &CredentialRecord,
) -> Result<VerifiedAuthentication, WebauthnError> {
    verify_authentication(&assertion.response(), &env.authentication(), record)
}

fn rule(result: Result<VerifiedAuthentication, WebauthnError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => e.rule(),
    }
}

fn check(assertion: &Assertion<'_>) -> &'static str {
    rule(verify(assertion, &Env::new(), &record_for(assertion.key)))
}

// ---- happy paths ---------------------------------------------------------------------------------------------

#[test]
fn authentication_accepts_es256() {
    let key = TestKey::p256();
    let verified = verify(&Assertion::new(&key), &Env::new(), &record_for(&key)).expect("valid");
    assert_eq!(verified.algorithm, CoseAlgorithm::Es256);
    assert_eq!(verified.user_handle, USER);
    assert!(!verified.sign_count_regressed && !verified.appid_used);
}

#[test]
fn authentication_accepts_ed25519() {
    let key = TestKey::ed25519();
    assert_eq!(check(&Assertion::new(&key)), "ok");
}

#[test]
fn authentication_accepts_rs256() {
    let key = TestKey::rsa2048();
    assert_eq!(check(&Assertion::new(&key)), "ok");
}

#[test]
fn authentication_accepts_ml_dsa_44() {
    let key = TestKey::ml_dsa_44();
    assert_eq!(check(&Assertion::new(&key)), "ok");
}

#[test]
fn authentication_reports_new_sign_count_and_backup_state() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.flags = UP | UV | BE | BS;
    assertion.sign_count = 42;
    let mut record = record_for(&key);
    record.backup_eligible = true;
    record.sign_count = 41;
    let verified = verify(&assertion, &Env::new(), &record).expect("valid");
    assert_eq!(verified.sign_count, 42);
    assert!(verified.backup_state && verified.backup_eligible && verified.user_verified);
}

#[test]
fn authentication_tolerates_browser_json_variants() {
    let key = TestKey::p256();
    let assertion = Assertion::new(&key);
    let mut json = assertion.json();
    // Unknown members, null userHandle and attachment, extension results of an unexpected shape.
    json["response"]["userHandle"] = serde_json::Value::Null;
    json["response"]["somethingNew"] = json!(1);
    json["authenticatorAttachment"] = serde_json::Value::Null;
    json["clientExtensionResults"] = json!([1, 2, 3]);
    json["futureField"] = json!({"a": "b"});
    let response =
        AuthenticationResponseJSON::from_json(&serde_json::to_vec(&json).unwrap()).unwrap();
    let env = Env::new();
    let mut expectation = env.authentication();
    expectation.user = UserIdentification::Identified { user_handle: USER };
    assert_eq!(
        rule(verify_authentication(
            &response,
            &expectation,
            &record_for(&key)
        )),
        "ok"
    );

    // Padded base64url is accepted too.
    let mut json = assertion.json();
    let cdj = json["response"]["clientDataJSON"]
        .as_str()
        .unwrap()
        .to_owned();
    let pad = (4 - cdj.len() % 4) % 4;
    json["response"]["clientDataJSON"] = json!(format!("{cdj}{}", "=".repeat(pad)));
    let response =
        AuthenticationResponseJSON::from_json(&serde_json::to_vec(&json).unwrap()).unwrap();
    assert_eq!(
        rule(verify_authentication(
            &response,
            &env.authentication(),
            &record_for(&key)
        )),
        "ok"
    );
}

#[test]
fn authentication_refuses_response_json_that_is_not_json() {
    let err = AuthenticationResponseJSON::from_json(b"{\"id\":").unwrap_err();
    assert_eq!(err.rule(), "response-json-invalid");
}

#[test]
fn authentication_refuses_response_with_invalid_base64url() {
    let key = TestKey::p256();
    let mut json = Assertion::new(&key).json();
    json["response"]["signature"] = json!("***");
    let err =
        AuthenticationResponseJSON::from_json(&serde_json::to_vec(&json).unwrap()).unwrap_err();
    assert_eq!(err.rule(), "response-json-invalid");
}

// ---- credential and user -------------------------------------------------------------------------------------

#[test]
fn authentication_refuses_credential_type_other_than_public_key() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.type_ = "otp".into();
    assert_eq!(check(&assertion), "credential-type-invalid");
}

#[test]
fn authentication_refuses_id_not_matching_raw_id() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.id = Some(encode(b"other"));
    assert_eq!(check(&assertion), "credential-id-mismatch");
}

#[test]
fn authentication_refuses_credential_not_in_allow_credentials() {
    let key = TestKey::p256();
    let mut env = Env::new();
    env.allow = vec![b"some-other-credential".to_vec()];
    assert_eq!(
        rule(verify(&Assertion::new(&key), &env, &record_for(&key))),
        "credential-not-allowed"
    );
    env.allow.push(b"credential-0001-abcdef".to_vec());
    assert_eq!(
        rule(verify(&Assertion::new(&key), &env, &record_for(&key))),
        "ok"
    );
}

#[test]
fn authentication_refuses_record_of_another_credential() {
    let key = TestKey::p256();
    let mut record = record_for(&key);
    record.credential_id = b"another".to_vec();
    assert_eq!(
        rule(verify(&Assertion::new(&key), &Env::new(), &record)),
        "credential-record-mismatch"
    );
}

#[test]
fn authentication_refuses_identified_user_who_does_not_own_the_credential() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.user_handle = None;
    let env = Env::new();
    let mut expectation = env.authentication();
    expectation.user = UserIdentification::Identified {
        user_handle: b"someone-else",
    };
    let result = verify_authentication(&assertion.response(), &expectation, &record_for(&key));
    assert_eq!(rule(result), "user-handle-mismatch");
}

#[test]
fn authentication_refuses_identified_user_with_foreign_user_handle() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.user_handle = Some(b"someone-else".to_vec());
    let env = Env::new();
    let mut expectation = env.authentication();
    expectation.user = UserIdentification::Identified { user_handle: USER };
    let result = verify_authentication(&assertion.response(), &expectation, &record_for(&key));
    assert_eq!(rule(result), "user-handle-mismatch");
}

#[test]
fn authentication_accepts_identified_user_without_user_handle() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.user_handle = None;
    let env = Env::new();
    let mut expectation = env.authentication();
    expectation.user = UserIdentification::Identified { user_handle: USER };
    let result = verify_authentication(&assertion.response(), &expectation, &record_for(&key));
    assert_eq!(rule(result), "ok");
}

#[test]
fn authentication_refuses_discoverable_flow_without_user_handle() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.user_handle = None;
    assert_eq!(check(&assertion), "user-handle-missing");
    assertion.user_handle = Some(Vec::new());
    assert_eq!(check(&assertion), "user-handle-missing");
}

#[test]
fn authentication_refuses_discoverable_flow_with_foreign_user_handle() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.user_handle = Some(b"someone-else".to_vec());
    assert_eq!(check(&assertion), "user-handle-mismatch");
}

// ---- clientDataJSON ------------------------------------------------------------------------------------------

#[test]
fn authentication_refuses_client_data_type_create() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.client_data.type_ = "webauthn.create".into();
    assert_eq!(check(&assertion), "client-data-type-mismatch");
}

#[test]
fn authentication_refuses_replayed_challenge() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.client_data.challenge = encode(b"the challenge of an earlier sign-in");
    assert_eq!(check(&assertion), "challenge-mismatch");
}

#[test]
fn authentication_refuses_client_data_not_utf8() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.client_data.raw = Some(vec![0xC3, 0x28]);
    assert_eq!(check(&assertion), "client-data-not-utf8");
}

#[test]
fn authentication_refuses_client_data_invalid_json() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.client_data.raw = Some(b"[]".to_vec());
    assert_eq!(check(&assertion), "client-data-json-invalid");
}

#[test]
fn authentication_refuses_wrong_origin() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.client_data.origin = "https://login.example.com:8443".into();
    assert_eq!(check(&assertion), "origin-not-allowed");
}

#[test]
fn authentication_refuses_cross_origin_when_not_expected() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.client_data.cross_origin = Some(true);
    assertion.client_data.top_origin = Some("https://shop.example.org".into());
    assert_eq!(check(&assertion), "cross-origin-not-allowed");
}

#[test]
fn authentication_refuses_cross_origin_from_unlisted_top_origin() {
    let key = TestKey::p256();
    let mut env = Env::new();
    env.origins.cross_origin =
        CrossOriginPolicy::AllowFrom(vec!["https://shop.example.org".into()]);
    let mut assertion = Assertion::new(&key);
    assertion.client_data.cross_origin = Some(true);
    assertion.client_data.top_origin = Some("https://evil.example.net".into());
    assert_eq!(
        rule(verify(&assertion, &env, &record_for(&key))),
        "top-origin-not-allowed"
    );
    assertion.client_data.top_origin = Some("https://shop.example.org".into());
    assert_eq!(rule(verify(&assertion, &env, &record_for(&key))), "ok");
}

// ---- authenticator data --------------------------------------------------------------------------------------

#[test]
fn authentication_refuses_rp_id_hash_mismatch() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.rp_id = "example.org".into();
    assert_eq!(check(&assertion), "rp-id-hash-mismatch");
}

#[test]
fn authentication_accepts_appid_hash_when_the_client_used_appid() {
    let key = TestKey::p256();
    let appid = "https://login.example.com/u2f/appid.json";
    let mut assertion = Assertion::new(&key);
    assertion.rp_id = appid.into();
    assertion.client_extension_results = json!({"appid": true});
    let env = Env::new();
    let mut expectation = env.authentication();
    expectation.appid = Some(appid);
    let verified = verify_authentication(&assertion.response(), &expectation, &record_for(&key))
        .expect("valid");
    assert!(verified.appid_used);
}

#[test]
fn authentication_refuses_appid_hash_when_the_client_did_not_report_appid() {
    let key = TestKey::p256();
    let appid = "https://login.example.com/u2f/appid.json";
    let mut assertion = Assertion::new(&key);
    assertion.rp_id = appid.into();
    assertion.client_extension_results = json!({"appid": false});
    let env = Env::new();
    let mut expectation = env.authentication();
    expectation.appid = Some(appid);
    let result = verify_authentication(&assertion.response(), &expectation, &record_for(&key));
    assert_eq!(rule(result), "rp-id-hash-mismatch");
}

#[test]
fn authentication_refuses_appid_hash_when_no_appid_was_requested() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.rp_id = "https://login.example.com/u2f/appid.json".into();
    assertion.client_extension_results = json!({"appid": true});
    assert_eq!(check(&assertion), "rp-id-hash-mismatch");
}

#[test]
fn authentication_refuses_missing_user_presence() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.flags = UV;
    assert_eq!(check(&assertion), "user-presence-missing");
}

#[test]
fn authentication_refuses_missing_user_verification_when_required() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.flags = UP;
    assert_eq!(check(&assertion), "user-verification-missing");
}

#[test]
fn authentication_accepts_missing_user_verification_when_not_required() {
    let key = TestKey::p256();
    let mut env = Env::new();
    env.policy.user_verification = tessera_webauthn::json::UserVerificationRequirement::Discouraged;
    let mut assertion = Assertion::new(&key);
    assertion.flags = UP;
    let verified = verify(&assertion, &env, &record_for(&key)).expect("valid");
    assert!(!verified.user_verified);
}

#[test]
fn authentication_refuses_backup_state_without_backup_eligibility() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.flags |= BS;
    assert_eq!(check(&assertion), "backup-state-inconsistent");
}

#[test]
fn authentication_refuses_changed_backup_eligibility() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.flags |= BE;
    assert_eq!(check(&assertion), "backup-eligibility-changed");
    let mut record = record_for(&key);
    record.backup_eligible = true;
    assertion.flags &= !BE;
    assert_eq!(
        rule(verify(&assertion, &Env::new(), &record)),
        "backup-eligibility-changed"
    );
}

#[test]
fn authentication_refuses_attested_credential_data_in_an_assertion() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.flags |= AT;
    let mut trailing = AAGUID.to_vec();
    trailing.extend_from_slice(&[0, 1, 9]);
    trailing.extend_from_slice(&key.cose());
    assertion.trailing = trailing;
    assert_eq!(check(&assertion), "attested-credential-data-unexpected");
}

#[test]
fn authentication_refuses_authenticator_data_trailing_bytes() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.trailing = vec![0];
    assert_eq!(check(&assertion), "authenticator-data-trailing-bytes");
}

#[test]
fn authentication_refuses_short_authenticator_data() {
    let key = TestKey::p256();
    let mut json = Assertion::new(&key).json();
    json["response"]["authenticatorData"] = json!(encode(&[0u8; 36]));
    let response =
        AuthenticationResponseJSON::from_json(&serde_json::to_vec(&json).unwrap()).unwrap();
    let result = verify_authentication(&response, &Env::new().authentication(), &record_for(&key));
    assert_eq!(rule(result), "authenticator-data-invalid");
}

#[test]
fn authentication_reports_authenticator_extensions() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.extensions = Some(Value::Map(vec![(
        Value::Text("largeBlob".into()),
        Value::Bool(true),
    )]));
    let verified = verify(&assertion, &Env::new(), &record_for(&key)).expect("valid");
    assert!(verified.authenticator_extensions.is_some());
}

// ---- signature -----------------------------------------------------------------------------------------------

#[test]
fn authentication_refuses_tampered_signature() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    let mut sig = {
        let json = assertion.json();
        tessera_webauthn::base64url::decode(json["response"]["signature"].as_str().unwrap())
            .unwrap()
    };
    let last = sig.len() - 1;
    sig[last] ^= 1;
    assertion.signature = Some(sig);
    assert_eq!(check(&assertion), "bad-signature");
}

#[test]
fn authentication_refuses_signature_by_another_key() {
    let key = TestKey::p256();
    let other = TestKey::p256();
    assert_eq!(
        rule(verify(
            &Assertion::new(&other),
            &Env::new(),
            &record_for(&key)
        )),
        "bad-signature"
    );
}

#[test]
fn authentication_refuses_signature_over_other_client_data() {
    let key = TestKey::ed25519();
    let assertion = Assertion::new(&key);
    let mut json = assertion.json();
    let mut other = assertion.client_data.clone();
    other.raw = Some(
        String::from_utf8(assertion.client_data.to_bytes())
            .unwrap()
            .replace('}', ",\"x\":1}")
            .into_bytes(),
    );
    json["response"]["clientDataJSON"] = json!(encode(&other.to_bytes()));
    let response =
        AuthenticationResponseJSON::from_json(&serde_json::to_vec(&json).unwrap()).unwrap();
    let result = verify_authentication(&response, &Env::new().authentication(), &record_for(&key));
    assert_eq!(rule(result), "bad-signature");
}

#[test]
fn authentication_refuses_empty_signature() {
    let key = TestKey::rsa2048();
    let mut assertion = Assertion::new(&key);
    assertion.signature = Some(Vec::new());
    assert_eq!(check(&assertion), "bad-signature");
}

#[test]
fn authentication_refuses_stored_rs1_key_without_insecure_flag() {
    let key = TestKey::rsa2048();
    let mut record = record_for(&key);
    let Value::Map(mut entries) = key.cose_value() else {
        unreachable!()
    };
    entries[1].1 = int(-65535);
    record.public_key = cbor(&Value::Map(entries));
    assert_eq!(
        rule(verify(&Assertion::new(&key), &Env::new(), &record)),
        "algorithm-not-allowed"
    );
}

#[test]
fn authentication_refuses_corrupt_stored_key() {
    let key = TestKey::p256();
    let mut record = record_for(&key);
    record.public_key = vec![0xa0];
    assert_eq!(
        rule(verify(&Assertion::new(&key), &Env::new(), &record)),
        "cose-key-invalid"
    );
}

// ---- signature counter ---------------------------------------------------------------------------------------

#[test]
fn authentication_refuses_sign_count_regression() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.sign_count = 4;
    let mut record = record_for(&key);
    record.sign_count = 5;
    assert_eq!(
        rule(verify(&assertion, &Env::new(), &record)),
        "sign-count-regressed"
    );
}

#[test]
fn authentication_refuses_repeated_nonzero_sign_count() {
    let key = TestKey::p256();
    let mut assertion = Assertion::new(&key);
    assertion.sign_count = 5;
    let mut record = record_for(&key);
    record.sign_count = 5;
    assert_eq!(
        rule(verify(&assertion, &Env::new(), &record)),
        "sign-count-regressed"
    );
}

#[test]
fn authentication_refuses_zero_sign_count_after_nonzero() {
    let key = TestKey::p256();
    let mut record = record_for(&key);
    record.sign_count = 5;
    assert_eq!(
        rule(verify(&Assertion::new(&key), &Env::new(), &record)),
        "sign-count-regressed"
    );
}

#[test]
fn authentication_accepts_zero_sign_counts_on_both_sides() {
    let key = TestKey::p256();
    let verified = verify(&Assertion::new(&key), &Env::new(), &record_for(&key)).expect("valid");
    assert!(!verified.sign_count_regressed);
}

#[test]
fn authentication_reports_sign_count_regression_when_policy_only_reports() {
    let key = TestKey::p256();
    let mut env = Env::new();
    env.policy.sign_count = SignCountPolicy::ReportOnly;
    let mut assertion = Assertion::new(&key);
    assertion.sign_count = 3;
    let mut record = record_for(&key);
    record.sign_count = 9;
    let verified = verify(&assertion, &env, &record).expect("accepted by policy");
    assert!(verified.sign_count_regressed);
    assert_eq!(verified.sign_count, 3);
}
