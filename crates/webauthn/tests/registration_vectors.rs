//! Real authenticators' registrations (from the public RP test suites in `testdata/webauthn-vectors/` at the
//! repository root; `SOURCES.md` there says where each came from), run through the whole §7.1 procedure ([`verify_registration`]) with
//! Tessera's default policy. Each must come out as its source library decided, except where Tessera's policy
//! differs; those cases are listed in [`TESSERA_POLICY`] with the rule that refuses them and the reason.

// Helpers outside #[test] functions: a malformed vector file should stop the test loudly.
#![allow(clippy::unwrap_used)]

use serde_json::Value as Json;
use std::path::Path;
use tessera_webauthn::attestation::AttestationTrust;
use tessera_webauthn::base64url::decode;
use tessera_webauthn::json::{DEFAULT_ALGORITHMS, UserVerificationRequirement};
use tessera_webauthn::{
    AuthenticatorPolicy, CoseAlgorithm, Mediation, OriginPolicy, RegistrationExpectation,
    RegistrationResponseJSON, VerifiedRegistration, verify_registration,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

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

/// The time at which the vector's certificates are judged: its own, or inside its chain's validity window.
fn verify_time(vector: &Json) -> OffsetDateTime {
    let parse = |s: &str| OffsetDateTime::parse(s, &Rfc3339).ok();
    if let Some(t) = vector["attestation_verify_time"].as_str().and_then(parse) {
        return t;
    }
    if let (Some(from), Some(to)) = (
        vector["x5c_validity_window"][0].as_str().and_then(parse),
        vector["x5c_validity_window"][1].as_str().and_then(parse),
    ) {
        return from + (to - from) / 2;
    }
    OffsetDateTime::UNIX_EPOCH + time::Duration::days(19_500)
}

fn run(vector: &Json) -> Result<VerifiedRegistration, &'static str> {
    let response_bytes = serde_json::to_vec(&vector["response"]).unwrap();
    let response = RegistrationResponseJSON::from_json(&response_bytes).map_err(|e| e.rule())?;
    let challenge_text = vector["challenge_b64url"].as_str().unwrap();
    let challenge = decode(challenge_text).unwrap_or_else(|_| challenge_text.as_bytes().to_vec());
    let origins = OriginPolicy::new(strings(&vector["origin"]));
    let rp_ids = strings(&vector["rp_id"]);
    let mut algorithms: Vec<i64> = DEFAULT_ALGORITHMS.iter().map(|a| a.id()).collect();
    algorithms.extend([
        CoseAlgorithm::Es512.id(),
        CoseAlgorithm::Ps384.id(),
        CoseAlgorithm::InsecureRs1.id(),
    ]);
    if let Some(offered) = vector["supported_pub_key_algs"].as_array() {
        algorithms = offered.iter().filter_map(Json::as_i64).collect();
    }
    let policy = AuthenticatorPolicy {
        user_verification: if vector["require_user_verification"]
            .as_bool()
            .unwrap_or(false)
        {
            UserVerificationRequirement::Required
        } else {
            UserVerificationRequirement::Preferred
        },
        algorithms: algorithms.clone(),
        ..AuthenticatorPolicy::default()
    };
    let mediation = if vector["require_user_presence"].as_bool() == Some(false) {
        Mediation::Conditional
    } else {
        Mediation::Modal
    };
    let expectation = RegistrationExpectation {
        challenge: &challenge,
        origins: &origins,
        rp_ids: &rp_ids,
        algorithms: &algorithms,
        mediation,
        policy: &policy,
        trust: AttestationTrust::new(verify_time(vector)),
    };
    verify_registration(&response, &expectation, |_| false).map_err(|e| e.rule())
}

/// Refusals, by file name suffix: the rule Tessera gives. Where the source accepted the case, the entry says why
/// Tessera's policy differs.
const TESSERA_POLICY: &[(&str, &str)] = &[
    // Refused by the sources too.
    (
        "verify-attestation-with-unsupported-token-binding-status",
        "client-data-json-invalid",
    ),
    (
        "raises-exception-on-unsupported-attestation-type",
        "attestation-format-unsupported",
    ),
    (
        "raises-useful-error-on-bad-attestation-object",
        "attestation-object-invalid",
    ),
    ("raises-when-root-cert-invalid-for-response", "ok"),
    (
        "enforce-cts-check-by-default",
        "safetynet-cts-profile-mismatch",
    ),
    (
        "throw-an-error-if-origin-not-in-list-of-expected-origins",
        "origin-not-allowed",
    ),
    (
        "throw-an-error-if-rp-id-not-in-list-of-possible-rp-ids",
        "rp-id-hash-mismatch",
    ),
    (
        "throw-when-response-challenge-is-not-expected-value",
        "challenge-mismatch",
    ),
    (
        "throw-when-response-origin-is-not-expected-value",
        "origin-not-allowed",
    ),
    // SimpleWebAuthn's `expectedType` option ("something.get"): Tessera expects only "webauthn.create", which these
    // responses carry, so nothing else refuses them.
    ("throw-when-response-type-is-not-expected-value", "ok"),
    (
        "throw-when-response-type-is-not-in-list-of-expected-types",
        "ok",
    ),
    // Policy: ctsProfileMatch is required (SimpleWebAuthn's default; its test turns the check off).
    (
        "skip-cts-check-when-enforcement-option-is-false",
        "safetynet-cts-profile-mismatch",
    ),
    // Policy: `rawId` must be the credential id in authData. These fixtures carry placeholder ids ("aaa", "bbb",
    // or another credential's id); the sources check only the attestation statement or ignore rawId.
    (
        "verify-packed-ec2-attestation",
        "attested-credential-id-mismatch",
    ),
    (
        "verify-packed-x5c-attestation",
        "attested-credential-id-mismatch",
    ),
    ("appletestresponse-0", "attested-credential-id-mismatch"),
    // Policy: an RP ID is always required (SimpleWebAuthn skips the rpIdHash check when none is given).
    (
        "not-set-rpid-in-registrationinfo-when-not-expected",
        "rp-id-hash-mismatch",
    ),
    // Policy: attestation objects must be CTAP2 canonical CBOR. These four are the FIDO conformance tool's test
    // responses (IBM FIDOTEST certificates), not a real authenticator's: their attestation statements put `sig`
    // last. Their attestation statements themselves (the AAGUID extension, the test TPM manufacturer) are still
    // judged in attestation_vectors.rs, which verifies the statement without the envelope.
    (
        "does-not-match-aaguid-in-auth-data",
        "cbor-map-keys-unsorted",
    ),
    (
        "does-not-match-aaguid-in-auth-data-2",
        "cbor-map-keys-unsorted",
    ),
    (
        "succeed-if-id-fido-gen-ce-aaguid-extension-is-present-and-matches-aaguid-in-auth-data",
        "cbor-map-keys-unsorted",
    ),
    (
        "succeed-if-id-fido-gen-ce-aaguid-extension-is-present-and-matches-aaguid-in-auth-data-2",
        "cbor-map-keys-unsorted",
    ),
    // Policy: TPMs from the FIDO conformance tool's manufacturer id:FFFFF1D0 are refused by default
    // (TpmTestManufacturer::Refuse); SimpleWebAuthn accepts them.
    (
        "validate-tpm-rsa-response-sha256",
        "tpm-manufacturer-unknown",
    ),
    ("verify-sha256-tpm-response", "tpm-manufacturer-unknown"),
    ("verify-tpm-response", "tpm-manufacturer-unknown"),
    // Policy: RS1 credential keys are refused unless the tenant sets insecure_allow_rs1.
    ("validate-tpm-rsa-response-sha1", "algorithm-not-allowed"),
    ("verify-sha1-tpm-response", "algorithm-not-allowed"),
];

#[test]
fn real_registrations_come_out_as_their_sources_decided_or_as_tessera_policy_says() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/webauthn-vectors");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("__reg"))
        })
        .collect();
    entries.sort();
    assert_eq!(entries.len(), 75, "the 75 registration vectors");
    let mut failures = Vec::new();
    for path in entries {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let vector: Json = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let outcome = run(&vector);
        let got = outcome.as_ref().map_or_else(|rule| *rule, |_| "ok");
        let policy = TESSERA_POLICY
            .iter()
            .find(|(suffix, _)| name.ends_with(suffix))
            .map(|(_, r)| *r);
        let want = match (policy, vector["expected"].as_str()) {
            (Some(rule), _) => rule,
            (None, Some("ok")) => "ok",
            (None, _) => "some refusal listed in TESSERA_POLICY",
        };
        if got != want {
            failures.push(format!("{name}: got {got}, want {want}"));
            continue;
        }
        if let (Ok(verified), Some(expected)) = (&outcome, vector["expected_result"].as_object()) {
            if let Some(fmt) = expected.get("fmt").and_then(Json::as_str)
                && fmt != verified.attestation_format()
            {
                failures.push(format!("{name}: fmt {}", verified.attestation_format()));
            }
            if let Some(count) = expected.get("sign_count").and_then(Json::as_u64)
                && count != u64::from(verified.sign_count)
            {
                failures.push(format!("{name}: sign count {}", verified.sign_count));
            }
            if let Some(key) = expected.get("credential_public_key").and_then(Json::as_str)
                && decode(key).ok().as_deref() != Some(verified.public_key_cbor.as_slice())
            {
                failures.push(format!("{name}: public key differs"));
            }
            if let Some(aaguid) = expected.get("aaguid").and_then(Json::as_str)
                && aaguid != verified.aaguid.to_string()
            {
                failures.push(format!("{name}: aaguid {}", verified.aaguid));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches: {failures:#?}",
        failures.len()
    );
}
