//! `tessera webauthn ...` as an operator runs it: exit codes (0 verified, 1 refused, 2 unusable input), the shape of
//! the one JSON object printed, `inspect`, and one refusal per WebAuthn rule, driven by the malicious authenticator.

// Test code: a failed unwrap is a failed test (helpers outside #[test] need this too).
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use ciborium::Value as Cbor;
use serde_json::{Value, json};
use tessera_testkit::{
    Attestation, AttestationCert, Credential, KeyAlg, MaliciousAuthenticator, MdsEntry, Overrides,
    SignCounter, SoftAuthenticator, TempSqlite, TestCa, b64url,
};

const RP_ID: &str = "example.com";
const ORIGIN: &str = "https://login.example.com";
const CHALLENGE: &[u8] = b"a-challenge-of-32-bytes-for-test";

fn creation_options() -> String {
    json!({
        "rp": {"id": RP_ID, "name": "Example"},
        "user": {"id": b64url(b"user-1"), "name": "alice", "displayName": "Alice"},
        "challenge": b64url(CHALLENGE),
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -8}],
    })
    .to_string()
}

fn request_options() -> String {
    json!({"rpId": RP_ID, "challenge": b64url(CHALLENGE), "userVerification": "required"})
        .to_string()
}

struct Answer {
    code: i32,
    json: Value,
    stderr: String,
}

fn tessera(args: &[&str], stdin: &[u8]) -> Answer {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The binary may exit before reading stdin (argument errors): a broken pipe is not a test failure.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let output = child.wait_with_output().unwrap();
    Answer {
        code: output.status.code().unwrap_or(-1),
        json: serde_json::from_slice(&output.stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn challenge_flag() -> String {
    format!("--challenge={}", b64url(CHALLENGE))
}

fn verify_registration(response: &str, extra: &[&str]) -> Answer {
    let challenge = challenge_flag();
    let mut args = vec![
        "webauthn",
        "verify-registration",
        "--rp-id",
        RP_ID,
        "--origin",
        ORIGIN,
        &challenge,
    ];
    args.extend_from_slice(extra);
    tessera(&args, response.as_bytes())
}

fn register_with(authenticator: &MaliciousAuthenticator) -> (String, Credential) {
    authenticator.register(&creation_options(), ORIGIN).unwrap()
}

fn refused_registration(overrides: Overrides) -> Answer {
    let (response, _) = register_with(&MaliciousAuthenticator::new().with_overrides(overrides));
    verify_registration(&response, &[])
}

fn assert_refused(answer: &Answer, rule: &str) {
    assert_eq!(
        answer.code, 1,
        "expected refusal {rule}, got {} {}",
        answer.json, answer.stderr
    );
    assert_eq!(answer.json["ok"], false);
    assert_eq!(answer.json["error"], rule, "{}", answer.json);
    assert!(
        answer.json["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

fn registered() -> (Credential, MaliciousAuthenticator) {
    let authenticator = MaliciousAuthenticator::new();
    let (_, credential) = register_with(&authenticator);
    (credential, authenticator)
}

fn verify_authentication(response: &str, credential: &Credential, extra: &[&str]) -> Answer {
    let challenge = challenge_flag();
    let key = format!(
        "--public-key={}",
        credential.cose_public_key_b64url().unwrap()
    );
    let mut args = vec![
        "webauthn",
        "verify-authentication",
        "--rp-id",
        RP_ID,
        "--origin",
        ORIGIN,
        &challenge,
        &key,
    ];
    args.extend_from_slice(extra);
    tessera(&args, response.as_bytes())
}

fn assertion(authenticator: &MaliciousAuthenticator, credential: &Credential) -> String {
    authenticator
        .authenticate(&request_options(), ORIGIN, credential)
        .unwrap()
}

// ---- exit 0: verified, and the shape of the answer -----------------------------------------------------------------

#[test]
fn verified_registration_exits_0_with_the_credential_fields() {
    let (response, credential) = register_with(&MaliciousAuthenticator::new());
    let answer = verify_registration(&response, &[]);
    assert_eq!(answer.code, 0, "{} {}", answer.json, answer.stderr);
    let j = &answer.json;
    assert_eq!(j["ok"], true);
    assert_eq!(j["credential_id"], credential.id_b64url());
    assert_eq!(
        j["public_key"],
        credential.cose_public_key_b64url().unwrap()
    );
    assert_eq!(j["algorithm"], -7);
    assert_eq!(j["aaguid"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(j["attestation_format"], "none");
    assert_eq!(j["trust_path"], "none");
    assert_eq!(
        j["flags"],
        json!({"byte": "0x45", "up": true, "uv": true, "be": false, "bs": false, "at": true, "ed": false})
    );
    assert_eq!(j["sign_count"], 0);
    assert_eq!(j["user_verified"], true);
    assert_eq!(j["backup_eligible"], false);
    assert_eq!(j["backup_state"], false);
    assert!(j.get("extensions").is_some());
}

#[test]
fn packed_self_attestation_reports_the_self_trust_path() {
    let authenticator = MaliciousAuthenticator::new().with_attestation(Attestation::PackedSelf);
    let (response, _) = register_with(&authenticator);
    let answer = verify_registration(&response, &[]);
    assert_eq!(answer.code, 0, "{}", answer.json);
    assert_eq!(answer.json["attestation_format"], "packed");
    assert_eq!(answer.json["trust_path"], "self");
}

#[test]
fn every_offered_key_type_verifies() {
    for (alg, cose) in [
        (KeyAlg::Es256, "-7"),
        (KeyAlg::Ed25519, "-8"),
        (KeyAlg::Es384, "-35"),
        (KeyAlg::Rs256, "-257"),
        (KeyAlg::Ps256, "-37"),
    ] {
        let authenticator = MaliciousAuthenticator::new().with_key_alg(alg);
        let (response, credential) = register_with(&authenticator);
        let answer = verify_registration(&response, &[]);
        assert_eq!(answer.code, 0, "{alg:?}: {}", answer.json);
        assert_eq!(answer.json["algorithm"].to_string(), cose);
        let response = assertion(&authenticator, &credential);
        let answer = verify_authentication(&response, &credential, &[]);
        assert_eq!(answer.code, 0, "{alg:?}: {}", answer.json);
    }
}

#[test]
fn verified_authentication_exits_0_with_the_counter_and_user() {
    let (credential, authenticator) = registered();
    let answer = verify_authentication(&assertion(&authenticator, &credential), &credential, &[]);
    assert_eq!(answer.code, 0, "{} {}", answer.json, answer.stderr);
    let j = &answer.json;
    assert_eq!(j["ok"], true);
    assert_eq!(j["credential_id"], credential.id_b64url());
    assert_eq!(j["user_handle"], b64url(b"user-1"));
    assert_eq!(j["sign_count"], 1);
    assert_eq!(j["sign_count_regressed"], false);
    assert_eq!(j["user_verified"], true);
    assert_eq!(j["flags"]["up"], true);
    assert_eq!(j["backup_state"], false);
}

// ---- a third-party authenticator: 1Password's passkey crates -----------------------------------------------------

#[test]
fn passkey_crate_authenticator_registers_and_signs_in_with_every_algorithm_it_has() {
    // ES256, EdDSA and the post-quantum ML-DSA-44/65/87, as the passkey crates make them.
    for alg in [-7_i64, -8, -48, -49, -50] {
        let soft = SoftAuthenticator::new();
        let options = json!({
            "rp": {"id": RP_ID, "name": "Example"},
            "user": {"id": b64url(b"user-1"), "name": "alice", "displayName": "Alice"},
            "challenge": b64url(CHALLENGE),
            "pubKeyCredParams": [{"type": "public-key", "alg": alg}],
            "authenticatorSelection": {"residentKey": "required", "userVerification": "required"},
        })
        .to_string();
        let response = soft.register(&options, ORIGIN).unwrap();
        let alg_flag = format!("--alg={alg}");
        let answer = verify_registration(&response, &[&alg_flag]);
        assert_eq!(answer.code, 0, "alg {alg}: {}", answer.json);
        assert_eq!(answer.json["algorithm"], alg);
        let key = answer.json["public_key"].as_str().unwrap().to_owned();

        let assertion = soft.authenticate(&request_options(), ORIGIN).unwrap();
        let challenge = challenge_flag();
        let key_flag = format!("--public-key={key}");
        let answer = tessera(
            &[
                "webauthn",
                "verify-authentication",
                "--rp-id",
                RP_ID,
                "--origin",
                ORIGIN,
                &challenge,
                &key_flag,
                "--discoverable",
                &format!("--user-handle={}", b64url(b"user-1")),
            ],
            assertion.as_bytes(),
        );
        assert_eq!(answer.code, 0, "alg {alg}: {}", answer.json);
        assert_eq!(answer.json["user_verified"], true);
    }
}

#[test]
fn passkey_crate_authenticator_without_user_verification_is_refused() {
    let soft = SoftAuthenticator::without_user_verification();
    let options = json!({
        "rp": {"id": RP_ID, "name": "Example"},
        "user": {"id": b64url(b"user-1"), "name": "alice", "displayName": "Alice"},
        "challenge": b64url(CHALLENGE),
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        "authenticatorSelection": {"userVerification": "discouraged"},
    })
    .to_string();
    let response = soft.register(&options, ORIGIN).unwrap();
    assert_refused(
        &verify_registration(&response, &[]),
        "user-verification-missing",
    );
}

// ---- exit 1: one refusal per rule (registration, WebAuthn L3 §7.1) --------------------------------------------------

#[test]
fn client_data_type_must_be_webauthn_create() {
    let answer = refused_registration(Overrides {
        client_data_type: Some("webauthn.get".into()),
        ..Overrides::default()
    });
    assert_refused(&answer, "client-data-type-mismatch");
}

#[test]
fn challenge_must_be_the_issued_one() {
    let answer = refused_registration(Overrides {
        challenge: Some(b64url(b"another challenge")),
        ..Overrides::default()
    });
    assert_refused(&answer, "challenge-mismatch");
}

#[test]
fn origin_must_be_allowed() {
    let answer = refused_registration(Overrides {
        origin: Some("https://evil.example".into()),
        ..Overrides::default()
    });
    assert_refused(&answer, "origin-not-allowed");
}

#[test]
fn cross_origin_is_refused_unless_a_top_origin_is_allowed() {
    let answer = refused_registration(Overrides {
        cross_origin: Some(true),
        ..Overrides::default()
    });
    assert_refused(&answer, "cross-origin-not-allowed");
}

#[test]
fn top_origin_must_be_an_allowed_parent() {
    let overrides = Overrides {
        cross_origin: Some(true),
        top_origin: Some("https://evil.example".into()),
        ..Overrides::default()
    };
    let (response, _) = register_with(&MaliciousAuthenticator::new().with_overrides(overrides));
    let answer = verify_registration(&response, &["--top-origin", "https://portal.example"]);
    assert_refused(&answer, "top-origin-not-allowed");
    let answer = verify_registration(&response, &["--top-origin", "https://evil.example"]);
    assert_eq!(
        answer.code, 0,
        "an allowed top origin verifies: {}",
        answer.json
    );
}

#[test]
fn rp_id_hash_must_match_the_rp_id() {
    let answer = refused_registration(Overrides {
        rp_id: Some("evil.example".into()),
        ..Overrides::default()
    });
    assert_refused(&answer, "rp-id-hash-mismatch");
}

#[test]
fn user_presence_is_required() {
    let mut overrides = Overrides::default();
    overrides.flags.up = Some(false);
    assert_refused(&refused_registration(overrides), "user-presence-missing");
}

#[test]
fn user_verification_is_required_by_default_and_can_be_waived() {
    let mut authenticator = MaliciousAuthenticator::new();
    authenticator.user_verified = false;
    let (response, _) = register_with(&authenticator);
    assert_refused(
        &verify_registration(&response, &[]),
        "user-verification-missing",
    );
    let answer = verify_registration(&response, &["--no-require-uv"]);
    assert_eq!(answer.code, 0, "{}", answer.json);
    assert_eq!(answer.json["user_verified"], false);
}

#[test]
fn backup_state_requires_backup_eligibility() {
    let mut overrides = Overrides::default();
    overrides.flags.bs = Some(true);
    assert_refused(
        &refused_registration(overrides),
        "backup-state-inconsistent",
    );
}

#[test]
fn synced_passkey_flags_are_reported() {
    let mut authenticator = MaliciousAuthenticator::new();
    authenticator.backup_eligible = true;
    authenticator.backup_state = true;
    let (response, _) = register_with(&authenticator);
    let answer = verify_registration(&response, &[]);
    assert_eq!(answer.code, 0, "{}", answer.json);
    assert_eq!(answer.json["backup_eligible"], true);
    assert_eq!(answer.json["backup_state"], true);
}

#[test]
fn algorithm_must_be_among_those_offered() {
    let (response, _) = register_with(&MaliciousAuthenticator::new());
    let answer = verify_registration(&response, &["--alg=-257"]);
    assert_refused(&answer, "algorithm-not-allowed");
}

#[test]
fn attestation_signature_must_verify() {
    let authenticator = MaliciousAuthenticator::new()
        .with_attestation(Attestation::PackedSelf)
        .with_overrides(Overrides {
            corrupt_signature: true,
            ..Overrides::default()
        });
    let (response, _) = register_with(&authenticator);
    let answer = verify_registration(&response, &[]);
    assert_refused(&answer, "attestation-signature-invalid");
}

#[test]
fn attestation_format_must_be_known() {
    let answer = refused_registration(Overrides {
        attestation_fmt: Some("Packed".into()),
        ..Overrides::default()
    });
    assert_refused(&answer, "attestation-format-unsupported");
}

#[test]
fn untrusted_attestation_is_refused_when_trust_is_required() {
    let (response, _) = register_with(&MaliciousAuthenticator::new());
    let answer = verify_registration(&response, &["--require-trusted-attestation"]);
    assert_eq!(answer.code, 1, "{}", answer.json);
    assert_eq!(answer.json["ok"], false);
}

#[test]
fn credential_type_must_be_public_key() {
    let answer = refused_registration(Overrides {
        credential_type: Some("password".into()),
        ..Overrides::default()
    });
    assert_refused(&answer, "credential-type-invalid");
}

#[test]
fn id_must_match_raw_id() {
    let answer = refused_registration(Overrides {
        id: Some(b64url(b"some other credential")),
        ..Overrides::default()
    });
    assert_refused(&answer, "credential-id-mismatch");
}

#[test]
fn authenticator_data_must_not_have_trailing_bytes() {
    let answer = refused_registration(Overrides {
        extra_auth_data: vec![0, 1, 2],
        ..Overrides::default()
    });
    assert_refused(&answer, "authenticator-data-trailing-bytes");
}

#[test]
fn cose_key_alg_must_match_the_key() {
    let answer = refused_registration(Overrides {
        cose_alg: Some(-8),
        ..Overrides::default()
    });
    assert_eq!(answer.code, 1, "{}", answer.json);
}

#[test]
fn client_data_must_be_json() {
    let answer = refused_registration(Overrides {
        client_data_json: Some(b"{\"type\": \"webauthn.create\"".to_vec()),
        ..Overrides::default()
    });
    assert_refused(&answer, "client-data-json-invalid");
}

#[test]
fn client_data_must_be_utf8() {
    let answer = refused_registration(Overrides {
        client_data_json: Some(vec![0xFF, 0xFE, 0x7B, 0x7D]),
        ..Overrides::default()
    });
    assert_refused(&answer, "client-data-not-utf8");
}

#[test]
fn credential_id_longer_than_1023_bytes_is_refused() {
    let answer = refused_registration(Overrides {
        credential_id: Some(vec![7; 1024]),
        ..Overrides::default()
    });
    assert_refused(&answer, "credential-id-too-long");
}

#[test]
fn raw_id_must_be_the_attested_credential_id() {
    let other = b64url(b"not the attested credential");
    let answer = refused_registration(Overrides {
        id: Some(other.clone()),
        raw_id: Some(other),
        ..Overrides::default()
    });
    assert_refused(&answer, "attested-credential-id-mismatch");
}

#[test]
fn registration_requires_attested_credential_data() {
    let mut auth_data = tessera_sha256(RP_ID.as_bytes());
    auth_data.extend_from_slice(&[0x05, 0, 0, 0, 0]);
    let answer = refused_registration(Overrides {
        auth_data: Some(auth_data),
        ..Overrides::default()
    });
    assert_refused(&answer, "attested-credential-data-missing");
}

#[test]
fn ec_public_key_must_be_on_its_curve() {
    // A COSE EC2 P-256 key whose coordinates are not a curve point.
    let key = cbor_map(vec![
        (1, Cbor::Integer(2.into())),
        (3, Cbor::Integer((-7).into())),
        (-1, Cbor::Integer(1.into())),
        (-2, Cbor::Bytes(vec![1; 32])),
        (-3, Cbor::Bytes(vec![2; 32])),
    ]);
    let answer = refused_registration(Overrides {
        cose_key: Some(key),
        ..Overrides::default()
    });
    assert_refused(&answer, "ec-point-invalid");
}

#[test]
fn rsa_keys_shorter_than_2048_bits_are_refused() {
    let mut modulus = vec![0xC5; 128];
    modulus[127] = 0x01;
    let key = cbor_map(vec![
        (1, Cbor::Integer(3.into())),
        (3, Cbor::Integer((-257).into())),
        (-1, Cbor::Bytes(modulus)),
        (-2, Cbor::Bytes(vec![1, 0, 1])),
    ]);
    let answer = refused_registration(Overrides {
        cose_key: Some(key),
        ..Overrides::default()
    });
    assert_refused(&answer, "rsa-key-size");
}

#[test]
fn none_attestation_statement_must_be_empty() {
    let answer = refused_registration(Overrides {
        att_stmt: Some(Cbor::Map(vec![(
            Cbor::Text("sig".into()),
            Cbor::Bytes(vec![1]),
        )])),
        ..Overrides::default()
    });
    assert_refused(&answer, "attestation-none-statement-not-empty");
}

#[test]
fn packed_self_attestation_alg_must_be_the_credential_keys() {
    let authenticator = MaliciousAuthenticator::new()
        .with_attestation(Attestation::PackedSelf)
        .with_overrides(Overrides {
            att_stmt: Some(Cbor::Map(vec![
                (Cbor::Text("alg".into()), Cbor::Integer((-8).into())),
                (Cbor::Text("sig".into()), Cbor::Bytes(vec![0; 64])),
            ])),
            ..Overrides::default()
        });
    let (response, _) = register_with(&authenticator);
    assert_refused(
        &verify_registration(&response, &[]),
        "attestation-algorithm-mismatch",
    );
}

#[test]
fn attestation_object_must_be_cbor() {
    let answer = refused_registration(Overrides {
        attestation_object: Some(vec![0xA3, 0x63, 0x66]),
        ..Overrides::default()
    });
    assert_refused(&answer, "attestation-object-invalid");
}

fn tessera_sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

fn cbor_map(entries: Vec<(i64, Cbor)>) -> Vec<u8> {
    let map = Cbor::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Cbor::Integer(k.into()), v))
            .collect(),
    );
    let mut out = Vec::new();
    ciborium::into_writer(&map, &mut out).unwrap();
    out
}

// ---- attestation trust: our own CA --------------------------------------------------------------------------------

/// A registration with a `packed` basic (or `fido-u2f`) attestation from a fresh CA, and the CA root in a PEM file.
fn attested_registration(
    attestation: fn(Arc<AttestationCert>) -> Attestation,
    cert_aaguid: Option<[u8; 16]>,
    authenticator_aaguid: [u8; 16],
) -> (String, TempSqlite, PathBuf) {
    let ca = TestCa::new("Tessera CLI Test Root").unwrap();
    let cert = Arc::new(ca.attestation_cert(cert_aaguid).unwrap());
    let mut authenticator = MaliciousAuthenticator::new().with_attestation(attestation(cert));
    authenticator.aaguid = authenticator_aaguid;
    let (response, _) = register_with(&authenticator);
    let dir = TempSqlite::new().unwrap();
    let root = dir.path().with_file_name("root.pem");
    std::fs::write(&root, ca.root_pem()).unwrap();
    (response, dir, root)
}

const AAGUID: [u8; 16] = [0x11; 16];

#[test]
fn basic_attestation_reaching_a_trust_anchor_is_trusted() {
    let (response, _dir, root) =
        attested_registration(Attestation::PackedBasic, Some(AAGUID), AAGUID);
    let anchors = format!("--trust-anchors={}", root.display());
    let answer = verify_registration(&response, &[&anchors, "--require-trusted-attestation"]);
    assert_eq!(answer.code, 0, "{}", answer.json);
    assert_eq!(answer.json["attestation_format"], "packed");
    assert_eq!(answer.json["trust_path"], "basic");
    assert_eq!(answer.json["attestation_trusted"], true);
    assert_eq!(
        answer.json["aaguid"],
        "11111111-1111-1111-1111-111111111111"
    );
    assert_eq!(
        answer.json["certificate_chain"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn basic_attestation_without_its_anchor_is_untrusted() {
    let (response, _dir, _root) =
        attested_registration(Attestation::PackedBasic, Some(AAGUID), AAGUID);
    let answer = verify_registration(&response, &[]);
    assert_eq!(
        answer.code, 0,
        "accepted but reported untrusted: {}",
        answer.json
    );
    assert_eq!(answer.json["attestation_trusted"], false);
    let answer = verify_registration(&response, &["--require-trusted-attestation"]);
    assert_eq!(answer.code, 1, "{}", answer.json);
    // Another CA's root does not anchor it either.
    let (_, _other_dir, other_root) =
        attested_registration(Attestation::PackedBasic, None, [0; 16]);
    let anchors = format!("--trust-anchors={}", other_root.display());
    let answer = verify_registration(&response, &[&anchors, "--require-trusted-attestation"]);
    assert_eq!(answer.code, 1, "{}", answer.json);
}

#[test]
fn aaguid_extension_must_match_the_authenticator_data() {
    let (response, _dir, _root) =
        attested_registration(Attestation::PackedBasic, Some(AAGUID), [0x22; 16]);
    assert_refused(
        &verify_registration(&response, &[]),
        "attestation-aaguid-extension-mismatch",
    );
}

#[test]
fn fido_u2f_attestation_verifies_with_its_anchor() {
    let (response, _dir, root) = attested_registration(Attestation::FidoU2f, None, [0; 16]);
    let anchors = format!("--trust-anchors={}", root.display());
    let answer = verify_registration(&response, &[&anchors, "--require-trusted-attestation"]);
    assert_eq!(answer.code, 0, "{}", answer.json);
    assert_eq!(answer.json["attestation_format"], "fido-u2f");
    assert_eq!(answer.json["trust_path"], "basic");
    assert_eq!(answer.json["attestation_trusted"], true);
}

#[test]
fn fido_u2f_attestation_signature_must_verify() {
    let ca = TestCa::new("Tessera CLI Test Root").unwrap();
    let cert = Arc::new(ca.attestation_cert(None).unwrap());
    let authenticator = MaliciousAuthenticator::new()
        .with_attestation(Attestation::FidoU2f(cert))
        .with_overrides(Overrides {
            corrupt_signature: true,
            ..Overrides::default()
        });
    let (response, _) = register_with(&authenticator);
    assert_refused(
        &verify_registration(&response, &[]),
        "attestation-signature-invalid",
    );
}

// ---- FIDO MDS3 ----------------------------------------------------------------------------------------------------

/// A packed basic registration from `vendor`'s CA, an MDS3 BLOB (signed by `mds`) describing the model with
/// `statuses`, and the files `--mds`/`--mds-root` read.
struct MdsSetup {
    response: String,
    dir: TempSqlite,
    blob: PathBuf,
    mds_root: PathBuf,
}

fn mds_setup(statuses: &[(&str, &str)], next_update: &str) -> MdsSetup {
    let vendor = TestCa::new("Vendor Attestation Root").unwrap();
    let mds = TestCa::new("Tessera Test MDS Root").unwrap();
    let cert = Arc::new(vendor.attestation_cert(Some(AAGUID)).unwrap());
    let mut authenticator =
        MaliciousAuthenticator::new().with_attestation(Attestation::PackedBasic(cert));
    authenticator.aaguid = AAGUID;
    let (response, _) = register_with(&authenticator);
    let entry = MdsEntry {
        aaguid: AAGUID,
        description: "Tessera Test Key".into(),
        attestation_roots: vec![vendor.root_der().to_vec()],
        status_reports: statuses
            .iter()
            .map(|(s, d)| ((*s).to_owned(), (*d).to_owned()))
            .collect(),
    };
    let dir = TempSqlite::new().unwrap();
    let blob = dir.path().with_file_name("blob.jwt");
    std::fs::write(&blob, mds.mds_blob(7, next_update, &[entry]).unwrap()).unwrap();
    let mds_root = dir.path().with_file_name("mds-root.pem");
    std::fs::write(&mds_root, mds.root_pem()).unwrap();
    MdsSetup {
        response,
        dir,
        blob,
        mds_root,
    }
}

fn mds_flags(setup: &MdsSetup) -> [String; 2] {
    [
        format!("--mds={}", setup.blob.display()),
        format!("--mds-root={}", setup.mds_root.display()),
    ]
}

#[test]
fn mds_attestation_roots_make_the_model_trusted() {
    let setup = mds_setup(&[("FIDO_CERTIFIED_L1", "2024-01-01")], "2099-01-01");
    let [blob, root] = mds_flags(&setup);
    let answer = verify_registration(
        &setup.response,
        &[&blob, &root, "--require-trusted-attestation"],
    );
    assert_eq!(answer.code, 0, "{}", answer.json);
    assert_eq!(answer.json["attestation_trusted"], true);
    assert_eq!(answer.json["metadata"]["description"], "Tessera Test Key");
    assert_eq!(
        answer.json["metadata"]["status_reports"][0]["status"],
        "FIDO_CERTIFIED_L1"
    );
    let _ = &setup.dir;
}

#[test]
fn revoked_model_is_refused() {
    let setup = mds_setup(
        &[
            ("FIDO_CERTIFIED_L1", "2024-01-01"),
            ("REVOKED", "2025-01-01"),
        ],
        "2099-01-01",
    );
    let [blob, root] = mds_flags(&setup);
    let answer = verify_registration(&setup.response, &[&blob, &root]);
    assert_refused(&answer, "authenticator-status-refused");
}

#[test]
fn mds_blob_must_reach_the_mds_root() {
    let setup = mds_setup(&[], "2099-01-01");
    let other = TestCa::new("Another Root").unwrap();
    let other_root = setup.dir.path().with_file_name("other-root.pem");
    std::fs::write(&other_root, other.root_pem()).unwrap();
    let blob = format!("--mds={}", setup.blob.display());
    let root = format!("--mds-root={}", other_root.display());
    let answer = verify_registration(&setup.response, &[&blob, &root]);
    assert_eq!(answer.code, 2, "{}", answer.json);
    assert_eq!(answer.json["error"], "unusable-input");
    assert_eq!(answer.json["rule"], "mds-root-not-reached");
}

#[test]
fn stale_mds_blob_is_unusable() {
    let setup = mds_setup(&[], "2020-01-01");
    let [blob, root] = mds_flags(&setup);
    let answer = verify_registration(&setup.response, &[&blob, &root]);
    assert_eq!(answer.code, 2, "{}", answer.json);
    assert_eq!(answer.json["rule"], "mds-stale");
}

#[test]
fn mds_without_its_root_is_a_usage_error() {
    let setup = mds_setup(&[], "2099-01-01");
    let blob = format!("--mds={}", setup.blob.display());
    let answer = verify_registration(&setup.response, &[&blob]);
    assert_eq!(answer.code, 2);
    assert!(answer.stderr.contains("--mds-root"), "{}", answer.stderr);
}

// ---- exit 1: one refusal per rule (authentication, WebAuthn L3 §7.2) ------------------------------------------------

#[test]
fn assertion_signature_must_verify() {
    let (credential, mut authenticator) = registered();
    authenticator.overrides.corrupt_signature = true;
    let answer = verify_authentication(&assertion(&authenticator, &credential), &credential, &[]);
    assert_refused(&answer, "bad-signature");
}

#[test]
fn assertion_must_be_signed_by_the_stored_key() {
    let (credential, authenticator) = registered();
    let other = Credential::generate(KeyAlg::Es256, RP_ID, b"user-1").unwrap();
    let response = assertion(&authenticator, &credential);
    // Same credential id, someone else's key.
    let answer = verify_authentication(
        &response,
        &other,
        &[&format!("--credential-id={}", credential.id_b64url())],
    );
    assert_refused(&answer, "bad-signature");
}

#[test]
fn client_data_type_must_be_webauthn_get() {
    let (credential, mut authenticator) = registered();
    authenticator.overrides.client_data_type = Some("webauthn.create".into());
    let answer = verify_authentication(&assertion(&authenticator, &credential), &credential, &[]);
    assert_refused(&answer, "client-data-type-mismatch");
}

#[test]
fn assertion_origin_must_be_allowed() {
    let (credential, mut authenticator) = registered();
    authenticator.overrides.origin = Some("https://login.example.com.evil.example".into());
    let answer = verify_authentication(&assertion(&authenticator, &credential), &credential, &[]);
    assert_refused(&answer, "origin-not-allowed");
}

#[test]
fn assertion_rp_id_hash_must_match() {
    let (credential, mut authenticator) = registered();
    authenticator.overrides.rp_id = Some("evil.example".into());
    let answer = verify_authentication(&assertion(&authenticator, &credential), &credential, &[]);
    assert_refused(&answer, "rp-id-hash-mismatch");
}

#[test]
fn assertion_requires_user_presence() {
    let (credential, mut authenticator) = registered();
    authenticator.overrides.flags.up = Some(false);
    let answer = verify_authentication(&assertion(&authenticator, &credential), &credential, &[]);
    assert_refused(&answer, "user-presence-missing");
}

#[test]
fn assertion_requires_user_verification_by_default() {
    let (credential, mut authenticator) = registered();
    authenticator.user_verified = false;
    let response = assertion(&authenticator, &credential);
    assert_refused(
        &verify_authentication(&response, &credential, &[]),
        "user-verification-missing",
    );
    let answer = verify_authentication(&response, &credential, &["--no-require-uv"]);
    assert_eq!(answer.code, 0, "{}", answer.json);
}

#[test]
fn sign_count_that_does_not_increase_is_a_clone_signal() {
    let (credential, authenticator) = registered();
    let response = assertion(&authenticator, &credential);
    assert_refused(
        &verify_authentication(&response, &credential, &["--sign-count=5"]),
        "sign-count-regressed",
    );
    let answer = verify_authentication(
        &response,
        &credential,
        &["--sign-count=5", "--sign-count-policy=report"],
    );
    assert_eq!(answer.code, 0, "{}", answer.json);
    assert_eq!(answer.json["sign_count_regressed"], true);
}

#[test]
fn zero_counters_are_not_a_clone_signal() {
    let (credential, mut authenticator) = registered();
    authenticator.sign_counter = SignCounter::Zero;
    let answer = verify_authentication(&assertion(&authenticator, &credential), &credential, &[]);
    assert_eq!(answer.code, 0, "{}", answer.json);
    assert_eq!(answer.json["sign_count"], 0);
}

#[test]
fn user_handle_must_be_the_identified_users() {
    let (credential, authenticator) = registered();
    let response = assertion(&authenticator, &credential);
    let other = format!("--user-handle={}", b64url(b"user-2"));
    assert_refused(
        &verify_authentication(&response, &credential, &[&other]),
        "user-handle-mismatch",
    );
    let owner = format!("--user-handle={}", b64url(b"user-1"));
    assert_eq!(
        verify_authentication(&response, &credential, &[&owner]).code,
        0
    );
}

#[test]
fn discoverable_sign_in_requires_a_user_handle() {
    let (credential, mut authenticator) = registered();
    authenticator.overrides.user_handle = Some(None);
    let answer = verify_authentication(
        &assertion(&authenticator, &credential),
        &credential,
        &["--discoverable"],
    );
    assert_refused(&answer, "user-handle-missing");
}

#[test]
fn credential_must_be_in_allow_credentials() {
    let (credential, authenticator) = registered();
    let response = assertion(&authenticator, &credential);
    let other = format!("--allow-credential={}", b64url(b"another credential"));
    assert_refused(
        &verify_authentication(&response, &credential, &[&other]),
        "credential-not-allowed",
    );
    let allowed = format!("--allow-credential={}", credential.id_b64url());
    assert_eq!(
        verify_authentication(&response, &credential, &[&other, &allowed]).code,
        0
    );
}

#[test]
fn credential_must_be_the_stored_one() {
    let (credential, authenticator) = registered();
    let response = assertion(&authenticator, &credential);
    let stored = format!("--credential-id={}", b64url(b"the stored credential"));
    assert_refused(
        &verify_authentication(&response, &credential, &[&stored]),
        "credential-record-mismatch",
    );
}

#[test]
fn backup_eligibility_must_not_change() {
    let (credential, authenticator) = registered();
    let response = assertion(&authenticator, &credential);
    assert_refused(
        &verify_authentication(&response, &credential, &["--backup-eligible=true"]),
        "backup-eligibility-changed",
    );
}

#[test]
fn short_authenticator_data_is_refused() {
    let (credential, mut authenticator) = registered();
    authenticator.overrides.auth_data = Some(vec![0; 20]);
    let answer = verify_authentication(&assertion(&authenticator, &credential), &credential, &[]);
    assert_refused(&answer, "authenticator-data-invalid");
}

#[test]
fn assertion_challenge_must_be_the_issued_one() {
    let (credential, mut authenticator) = registered();
    authenticator.overrides.challenge = Some(b64url(b"replayed challenge"));
    let answer = verify_authentication(&assertion(&authenticator, &credential), &credential, &[]);
    assert_refused(&answer, "challenge-mismatch");
}

// ---- exit 2: unusable input ----------------------------------------------------------------------------------------

#[test]
fn stdin_that_is_not_json_exits_2() {
    let answer = verify_registration("this is not json", &[]);
    assert_eq!(answer.code, 2);
    assert_eq!(answer.json["ok"], false);
    assert_eq!(answer.json["error"], "unusable-input");
}

#[test]
fn json_that_is_not_a_credential_is_refused() {
    let answer = verify_registration("{\"hello\": 1}", &[]);
    assert_refused(&answer, "response-json-invalid");
}

#[test]
fn undecodable_flag_values_exit_2() {
    let (response, credential) = register_with(&MaliciousAuthenticator::new());
    for args in [
        vec![
            "webauthn",
            "verify-registration",
            "--rp-id",
            RP_ID,
            "--origin",
            ORIGIN,
            "--challenge",
            "!!!",
        ],
        vec![
            "webauthn",
            "verify-registration",
            "--rp-id",
            RP_ID,
            "--origin",
            ORIGIN,
            "--challenge",
            "AAAA",
            "--now",
            "yesterday",
        ],
        vec![
            "webauthn",
            "verify-registration",
            "--rp-id",
            RP_ID,
            "--origin",
            ORIGIN,
            "--challenge",
            "AAAA",
            "--trust-anchors",
            "/nonexistent/roots.pem",
        ],
        vec![
            "webauthn",
            "verify-authentication",
            "--rp-id",
            RP_ID,
            "--origin",
            ORIGIN,
            "--challenge",
            "AAAA",
            "--public-key",
            "@@@",
        ],
    ] {
        let answer = tessera(&args, response.as_bytes());
        assert_eq!(answer.code, 2, "{args:?}: {}", answer.json);
        assert_eq!(answer.json["error"], "unusable-input", "{args:?}");
    }
    let _ = credential;
}

#[test]
fn missing_required_flags_exit_2() {
    let (response, _) = register_with(&MaliciousAuthenticator::new());
    let answer = tessera(
        &[
            "webauthn",
            "verify-registration",
            "--origin",
            ORIGIN,
            "--challenge",
            "AAAA",
        ],
        response.as_bytes(),
    );
    assert_eq!(answer.code, 2);
    assert!(answer.stderr.contains("--rp-id"), "{}", answer.stderr);
}

#[test]
fn trust_anchor_file_without_certificates_exits_2() {
    let dir = tessera_testkit::TempSqlite::new().unwrap();
    let path = dir.path().with_file_name("roots.pem");
    std::fs::write(&path, "not a certificate").unwrap();
    let (response, _) = register_with(&MaliciousAuthenticator::new());
    let anchors = format!("--trust-anchors={}", path.display());
    let answer = verify_registration(&response, &[&anchors]);
    assert_eq!(answer.code, 2, "{}", answer.json);
}

// ---- inspect -------------------------------------------------------------------------------------------------------

#[test]
fn inspect_decodes_a_registration() {
    let authenticator = MaliciousAuthenticator::new().with_attestation(Attestation::PackedSelf);
    let (response, credential) = register_with(&authenticator);
    let answer = tessera(&["webauthn", "inspect"], response.as_bytes());
    assert_eq!(answer.code, 0, "{}", answer.stderr);
    let j = &answer.json;
    assert_eq!(j["kind"], "registration");
    assert_eq!(j["id_matches_raw_id"], true);
    assert_eq!(j["client_data"]["json"]["type"], "webauthn.create");
    assert_eq!(j["client_data"]["json"]["origin"], ORIGIN);
    assert_eq!(
        j["client_data"]["challenge_bytes"]["utf8"],
        "a-challenge-of-32-bytes-for-test"
    );
    assert_eq!(j["client_data"]["strict_parse"], "ok");
    assert_eq!(j["attestation"]["fmt"], "packed");
    assert_eq!(j["attestation"]["att_stmt"]["alg"]["name"], "ES256");
    let auth_data = &j["authenticator_data"];
    assert_eq!(auth_data["flags"]["uv"], true);
    assert_eq!(auth_data["sign_count"], 0);
    assert_eq!(auth_data["trailing_bytes"], 0);
    assert_eq!(auth_data["strict_parse"], "ok");
    let attested = &auth_data["attested_credential_data"];
    assert_eq!(attested["credential_id"], credential.id_b64url());
    assert_eq!(attested["aaguid"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(attested["public_key"]["kty"]["name"], "EC2");
    assert_eq!(attested["public_key"]["crv"]["name"], "P-256");
    assert_eq!(attested["public_key"]["alg"]["name"], "ES256");
    assert_eq!(attested["public_key"]["x"].as_str().map(str::len), Some(43));
}

#[test]
fn inspect_decodes_an_assertion() {
    let (credential, authenticator) = registered();
    let response = assertion(&authenticator, &credential);
    let answer = tessera(&["webauthn", "inspect"], response.as_bytes());
    assert_eq!(answer.code, 0);
    let j = &answer.json;
    assert_eq!(j["kind"], "authentication");
    assert_eq!(j["client_data"]["json"]["type"], "webauthn.get");
    assert_eq!(j["authenticator_data"]["sign_count"], 1);
    assert_eq!(j["user_handle"]["utf8"], "user-1");
    assert!(j["signature"]["length"].as_u64().is_some_and(|l| l > 60));
}

#[test]
fn inspect_shows_what_is_broken_without_failing() {
    let (credential, mut authenticator) = registered();
    authenticator.overrides.extra_auth_data = vec![0xFF; 3];
    authenticator.overrides.client_data_json = Some(b"{not json".to_vec());
    let response = assertion(&authenticator, &credential);
    let answer = tessera(&["webauthn", "inspect"], response.as_bytes());
    assert_eq!(answer.code, 0);
    assert_eq!(answer.json["authenticator_data"]["trailing_bytes"], 3);
    assert_eq!(
        answer.json["authenticator_data"]["strict_parse"]["error"],
        "authenticator-data-trailing-bytes"
    );
    assert_eq!(answer.json["client_data"]["raw"], "{not json");
    assert!(answer.json["client_data"]["strict_parse"]["error"].is_string());
}

#[test]
fn inspect_of_garbage_attestation_object_reports_it() {
    let response = json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {"clientDataJSON": b64url(b"{}"), "attestationObject": b64url([0xFF, 0x00, 0x13])},
    });
    let answer = tessera(&["webauthn", "inspect"], response.to_string().as_bytes());
    assert_eq!(answer.code, 0);
    assert!(
        answer.json["attestation"]["error"].is_string(),
        "{}",
        answer.json
    );
}

#[test]
fn inspect_of_non_json_exits_2() {
    let answer = tessera(&["webauthn", "inspect"], b"\x00\x01");
    assert_eq!(answer.code, 2);
    assert_eq!(answer.json["error"], "unusable-input");
}

/// The real authenticators' vectors, part of the repository (`testdata/webauthn-vectors/SOURCES.md`).
fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/webauthn-vectors")
}

#[test]
fn inspect_shows_attestation_certificates_and_the_aaguid_extension() {
    let file = vectors_dir().join(
        "simplewebauthn__reg__succeed-if-id-fido-gen-ce-aaguid-extension-is-present-and-matches-aaguid-in-auth-data.json",
    );
    let case: Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap_or_else(|e| {
            panic!("the WebAuthn vectors are missing ({}: {e})", file.display())
        }))
        .unwrap();
    let answer = tessera(
        &["webauthn", "inspect"],
        case["response"].to_string().as_bytes(),
    );
    assert_eq!(answer.code, 0);
    let certs = answer.json["attestation"]["att_stmt"]["x5c"]
        .as_array()
        .unwrap();
    let leaf = &certs[0];
    assert!(leaf["subject"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(leaf["issuer"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(leaf["not_after"].is_string());
    let aaguid_ext = leaf["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "id-fido-gen-ce-aaguid")
        .unwrap();
    assert_eq!(
        aaguid_ext["value"],
        answer.json["authenticator_data"]["attested_credential_data"]["aaguid"]
    );
}

#[test]
fn inspect_decodes_tpm_structures() {
    let file = vectors_dir().join("py_webauthn__reg-tpm__verify-attestation-dell-xps-13.json");
    let case: Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap_or_else(|e| {
            panic!("the WebAuthn vectors are missing ({}: {e})", file.display())
        }))
        .unwrap();
    let answer = tessera(
        &["webauthn", "inspect"],
        case["response"].to_string().as_bytes(),
    );
    assert_eq!(answer.code, 0);
    let stmt = &answer.json["attestation"]["att_stmt"];
    let cert_info = &stmt["certInfo"]["decoded"];
    assert_eq!(cert_info["magic_is_tpm_generated_value"], true, "{stmt}");
    assert_eq!(cert_info["type_is_attest_certify"], true);
    assert_eq!(cert_info["trailing_bytes"], 0);
    let pub_area = &stmt["pubArea"]["decoded"];
    assert_eq!(pub_area["type"]["name"], "TPM_ALG_RSA");
    assert_eq!(pub_area["parameters"]["key_bits"], 2048);
    assert_eq!(pub_area["trailing_bytes"], 0);
}

// ---- tenant policy flags (the policy type `tessera idp tenant` sets) -----------------------------------------------

fn synced_registration() -> String {
    let authenticator = MaliciousAuthenticator {
        backup_eligible: true,
        backup_state: true,
        ..MaliciousAuthenticator::new()
    };
    register_with(&authenticator).0
}

#[test]
fn synced_passkeys_denied_are_refused() {
    let response = synced_registration();
    assert_refused(
        &verify_registration(&response, &["--synced-passkeys", "deny"]),
        "synced-passkey-refused",
    );
    let allowed = verify_registration(&response, &["--synced-passkeys", "allow"]);
    assert_eq!(allowed.code, 0, "{}", allowed.json);
}

#[test]
fn aaguid_on_the_deny_list_is_refused() {
    let (response, _dir, _root) =
        attested_registration(Attestation::PackedBasic, Some(AAGUID), AAGUID);
    assert_refused(
        &verify_registration(
            &response,
            &["--aaguid-deny", "11111111-1111-1111-1111-111111111111"],
        ),
        "aaguid-denied",
    );
    let other = verify_registration(
        &response,
        &["--aaguid-deny", "22222222-2222-2222-2222-222222222222"],
    );
    assert_eq!(other.code, 0, "{}", other.json);
}

#[test]
fn aaguid_allow_list_needs_a_trusted_attestation_of_the_model() {
    let (response, _dir, root) =
        attested_registration(Attestation::PackedBasic, Some(AAGUID), AAGUID);
    let allow = "11111111111111111111111111111111";
    assert_refused(
        &verify_registration(&response, &["--aaguid-allow", allow]),
        "aaguid-not-attested",
    );
    let anchors = format!("--trust-anchors={}", root.display());
    let trusted = verify_registration(&response, &["--aaguid-allow", allow, &anchors]);
    assert_eq!(trusted.code, 0, "{}", trusted.json);
    assert_refused(
        &verify_registration(
            &response,
            &[
                "--aaguid-allow",
                "22222222-2222-2222-2222-222222222222",
                &anchors,
            ],
        ),
        "aaguid-not-allowed",
    );
}

#[test]
fn minimum_certification_level_is_read_from_the_mds_blob() {
    let setup = mds_setup(&[("FIDO_CERTIFIED_L1", "2024-01-01")], "2099-01-01");
    let [blob, root] = mds_flags(&setup);
    assert_refused(
        &verify_registration(
            &setup.response,
            &[&blob, &root, "--min-certification-level", "L2"],
        ),
        "certification-level-too-low",
    );
    let enough = verify_registration(
        &setup.response,
        &[&blob, &root, "--min-certification-level", "L1"],
    );
    assert_eq!(enough.code, 0, "{}", enough.json);
    let _ = &setup.dir;
}

#[test]
fn bad_policy_flags_are_unusable_input() {
    let (response, _) = register_with(&MaliciousAuthenticator::new());
    let level = verify_registration(&response, &["--min-certification-level", "L9"]);
    assert_eq!(level.code, 2, "{}", level.json);
    assert!(
        level.json["message"]
            .as_str()
            .is_some_and(|m| m.contains("min-certification-level"))
    );
    let both = verify_registration(
        &response,
        &[
            "--aaguid-allow",
            "11111111-1111-1111-1111-111111111111",
            "--aaguid-deny",
            "11111111-1111-1111-1111-111111111111",
        ],
    );
    assert_eq!(both.code, 2, "{}", both.json);
    let aaguid = verify_registration(&response, &["--aaguid-deny", "nope"]);
    assert_eq!(aaguid.code, 2, "clap refuses it: {}", aaguid.stderr);
}
