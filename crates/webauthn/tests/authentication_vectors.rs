//! Real authenticators' assertions (from the public RP test suites in `testdata/webauthn-vectors/` at the repository
//! root; `SOURCES.md` there says where each came from): each must come out as its source library decided, with
//! Tessera's rule.

// Helpers outside #[test] functions: a malformed vector file should stop the test loudly.
#![allow(clippy::unwrap_used)]

use serde_json::Value as Json;
use std::path::Path;
use tessera_webauthn::base64url::decode;
use tessera_webauthn::json::UserVerificationRequirement;
use tessera_webauthn::{
    AuthenticationExpectation, AuthenticationResponseJSON, AuthenticatorData, AuthenticatorPolicy,
    CredentialRecord, OriginPolicy, UserIdentification, verify_authentication,
};

fn strings(value: &Json) -> Vec<String> {
    match value {
        Json::String(s) => vec![s.clone()],
        Json::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Verifies one vector; returns `Ok(())` or the rule that refused it.
fn run(vector: &Json) -> Result<tessera_webauthn::VerifiedAuthentication, &'static str> {
    let response_bytes = serde_json::to_vec(&vector["response"]).unwrap();
    let response = AuthenticationResponseJSON::from_json(&response_bytes).map_err(|e| e.rule())?;
    // One source gives a challenge that is not canonical base64url ("shouldhavebeenthisvalue"): use its bytes.
    let challenge_text = vector["challenge_b64url"].as_str().unwrap();
    let challenge = decode(challenge_text).unwrap_or_else(|_| challenge_text.as_bytes().to_vec());
    let origins = OriginPolicy::new(strings(&vector["origin"]));
    let rp_ids = strings(&vector["rp_id"]);
    let policy = AuthenticatorPolicy {
        user_verification: if vector["require_user_verification"]
            .as_bool()
            .unwrap_or(false)
        {
            UserVerificationRequirement::Required
        } else {
            UserVerificationRequirement::Preferred
        },
        ..AuthenticatorPolicy::default()
    };
    // The vectors do not record the stored backup eligibility: take the one the authenticator reports.
    let auth_data = AuthenticatorData::from_bytes(response.response.authenticator_data.as_slice())
        .map_err(|e| e.rule())?;
    let user_handle = response
        .response
        .user_handle
        .as_ref()
        .map_or_else(|| b"user".to_vec(), |h| h.as_slice().to_vec());
    let record = CredentialRecord {
        credential_id: response.raw_id.as_slice().to_vec(),
        user_handle: user_handle.clone(),
        public_key: decode(vector["public_key"].as_str().unwrap()).unwrap(),
        sign_count: u32::try_from(vector["stored_sign_count"].as_u64().unwrap_or(0)).unwrap(),
        backup_eligible: auth_data.flags.backup_eligible(),
        backup_state: false,
        uv_initialized: false,
        transports: Vec::new(),
    };
    let expectation = AuthenticationExpectation {
        challenge: &challenge,
        origins: &origins,
        rp_ids: &rp_ids,
        appid: None,
        allow_credentials: &[],
        user: UserIdentification::Identified {
            user_handle: &user_handle,
        },
        policy: &policy,
    };
    verify_authentication(&response, &expectation, &record).map_err(|e| e.rule())
}

/// Tessera's rule for each refused vector (by file name).
const EXPECTED_RULES: &[(&str, &str)] = &[
    ("raises-exception-on-incorrect-public-key", "bad-signature"),
    (
        "raises-exception-on-uv-required-but-false",
        "user-verification-missing",
    ),
    ("return-authenticator-extension-output", "bad-signature"),
    (
        "throw-an-error-if-origin-not-in-list-of-expected-origins",
        "origin-not-allowed",
    ),
    (
        "throw-an-error-if-rp-id-not-in-list-of-possible-rp-ids",
        "rp-id-hash-mismatch",
    ),
    // SimpleWebAuthn's `expectedType` ("payment.get"); the RP ID does not match either, which refuses it here.
    (
        "throw-an-error-if-type-not-in-list-of-expected-types",
        "rp-id-hash-mismatch",
    ),
    (
        "throw-an-error-if-type-not-the-expected-type",
        "rp-id-hash-mismatch",
    ),
    (
        "throw-error-if-previous-counter-value-is-not-less-than-in-response",
        "sign-count-regressed",
    ),
    (
        "throw-when-response-challenge-is-not-expected-value",
        "challenge-mismatch",
    ),
    (
        "throw-when-response-origin-is-not-expected-value",
        "origin-not-allowed",
    ),
];

#[test]
fn real_assertions_come_out_as_their_sources_decided() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/webauthn-vectors");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("__auth__"))
        })
        .collect();
    entries.sort();
    assert_eq!(entries.len(), 28, "the 28 authentication vectors");
    let mut failures = Vec::new();
    for path in entries {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let vector: Json = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let outcome = run(&vector);
        match (vector["expected"].as_str(), &outcome) {
            (Some("ok"), Ok(verified)) => {
                let expected = &vector["expected_result"];
                if let Some(count) = expected["new_sign_count"].as_u64()
                    && u64::from(verified.sign_count) != count
                {
                    failures.push(format!(
                        "{name}: sign count {} != {count}",
                        verified.sign_count
                    ));
                }
                if let Some(uv) = expected["user_verified"].as_bool()
                    && verified.user_verified != uv
                {
                    failures.push(format!("{name}: user_verified {}", verified.user_verified));
                }
                if let Some(backed_up) = expected["credential_backed_up"].as_bool()
                    && verified.backup_state != backed_up
                {
                    failures.push(format!("{name}: backup state {}", verified.backup_state));
                }
            }
            (Some("error"), Err(rule)) => {
                let want = EXPECTED_RULES
                    .iter()
                    .find(|(suffix, _)| name.ends_with(suffix))
                    .map(|(_, r)| *r);
                if want != Some(*rule) {
                    failures.push(format!("{name}: refused with {rule}, expected {want:?}"));
                }
            }
            (expected, outcome) => {
                failures.push(format!(
                    "{name}: expected {expected:?}, got {:?}",
                    outcome.as_ref().err()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
