//! Tenant policy driven by FIDO metadata, through the whole §7.1 procedure: status reports, certification level and
//! AAGUID lists on a trusted packed attestation. Uses the small MDS3 BLOB and attestation CA that
//! `tests/data/mds/` ships (signed by a test root; see its README).

mod common;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use ciborium::Value;
use common::*;
use tessera_webauthn::attestation::AttestationTrust;
use tessera_webauthn::mds::MetadataBlob;
use tessera_webauthn::{
    Aaguid, AttestationPolicy, CertificationLevel, RegistrationResponseJSON, VerifiedRegistration,
    WebauthnError, verify_registration,
};
use time::macros::datetime;

const L2_MODEL: [u8; 16] = [0x11; 16];
const REVOKED_MODEL: [u8; 16] = [0x22; 16];
const ATTESTED_L1_MODEL: [u8; 16] = [0x33; 16];

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/data/mds/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("test data")
}

fn blob() -> MetadataBlob {
    let now = datetime!(2026-06-01 00:00 UTC);
    MetadataBlob::from_jws(&data("blob.jwt"), &data("mds-root.der"), now).expect("valid BLOB")
}

/// A registration of `aaguid`; with `certified`, a packed attestation by the test attestation CA's leaf.
fn registration(aaguid: [u8; 16], certified: bool) -> RegistrationResponseJSON {
    let mut reg = Registration::new(TestKey::p256());
    reg.aaguid = aaguid;
    if certified {
        let leaf = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &data("attestation-leaf.pk8"),
        )
        .expect("leaf key");
        let mut message = reg.auth_data();
        message.extend_from_slice(&sha256(&reg.client_data.to_bytes()));
        let sig = leaf.sign(&SystemRandom::new(), &message).expect("sign");
        reg.fmt = "packed".into();
        reg.att_stmt = Some(Value::Map(vec![
            (Value::Text("alg".into()), int(-7)),
            (
                Value::Text("sig".into()),
                Value::Bytes(sig.as_ref().to_vec()),
            ),
            (
                Value::Text("x5c".into()),
                Value::Array(vec![Value::Bytes(data("attestation-leaf.der"))]),
            ),
        ]));
    }
    reg.response()
}

fn verify(
    response: &RegistrationResponseJSON,
    env: &Env,
    blob: &MetadataBlob,
) -> Result<VerifiedRegistration, WebauthnError> {
    let mut expectation = env.registration();
    expectation.trust = AttestationTrust {
        metadata: Some(blob),
        ..AttestationTrust::new(datetime!(2026-06-01 00:00 UTC))
    };
    verify_registration(response, &expectation, |_| false)
}

fn rule(result: Result<VerifiedRegistration, WebauthnError>) -> &'static str {
    result.map_or_else(|e| e.rule(), |_| "ok")
}

#[test]
fn registration_trusts_a_packed_attestation_anchored_by_metadata() {
    let blob = blob();
    let verified =
        verify(&registration(ATTESTED_L1_MODEL, true), &Env::new(), &blob).expect("valid");
    assert_eq!(verified.trust_path(), "basic");
    assert!(verified.attestation.trusted);
    assert!(verified.attestation.metadata.is_some());
}

#[test]
fn registration_refuses_a_model_that_metadata_reports_revoked() {
    let blob = blob();
    let result = verify(&registration(REVOKED_MODEL, false), &Env::new(), &blob);
    assert!(
        matches!(result, Err(WebauthnError::Attestation(_))),
        "{result:?}"
    );
}

#[test]
fn registration_refuses_certification_level_below_the_minimum() {
    let blob = blob();
    let mut env = Env::new();
    env.policy.minimum_certification_level = Some(CertificationLevel::FidoCertifiedL2);
    let result = verify(&registration(ATTESTED_L1_MODEL, true), &env, &blob);
    assert_eq!(rule(result), "certification-level-too-low");
}

#[test]
fn registration_accepts_certification_level_at_the_minimum() {
    let blob = blob();
    let mut env = Env::new();
    env.policy.minimum_certification_level = Some(CertificationLevel::FidoCertifiedL1);
    env.policy.attestation = AttestationPolicy::Trusted;
    assert_eq!(
        rule(verify(&registration(ATTESTED_L1_MODEL, true), &env, &blob)),
        "ok"
    );
}

#[test]
fn registration_refuses_certification_claimed_through_an_unattested_aaguid() {
    // The L2 model's AAGUID, claimed by an authenticator that sends no attestation.
    let blob = blob();
    let mut env = Env::new();
    env.policy.minimum_certification_level = Some(CertificationLevel::FidoCertifiedL1);
    let result = verify(&registration(L2_MODEL, false), &env, &blob);
    assert_eq!(rule(result), "certification-level-not-attested");
}

#[test]
fn registration_accepts_an_allowed_aaguid_with_trusted_attestation() {
    let blob = blob();
    let mut env = Env::new();
    env.policy.aaguid_allow = vec![Aaguid(ATTESTED_L1_MODEL)];
    assert_eq!(
        rule(verify(&registration(ATTESTED_L1_MODEL, true), &env, &blob)),
        "ok"
    );
    assert_eq!(
        rule(verify(&registration(ATTESTED_L1_MODEL, false), &env, &blob)),
        "aaguid-not-attested"
    );
}

#[test]
fn registration_refuses_a_denied_aaguid_even_when_attested() {
    let blob = blob();
    let mut env = Env::new();
    env.policy.aaguid_deny = vec![Aaguid(ATTESTED_L1_MODEL)];
    assert_eq!(
        rule(verify(&registration(ATTESTED_L1_MODEL, true), &env, &blob)),
        "aaguid-denied"
    );
}
