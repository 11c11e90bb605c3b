//! Real authenticators' data: every case of `testdata/webauthn-vectors/` (103 registration and authentication
//! responses from the py_webauthn, SimpleWebAuthn and go-webauthn test suites) through the built `tessera webauthn
//! verify-*` binary, exactly as an operator would run it.
//!
//! Each case is run with the expectations its source used (RP IDs, origins, challenge, UV requirement, offered
//! algorithms, the time at which certificates are judged, and the trust anchors the source configured). Where the
//! sources agree, Tessera must reach the same verdict and return the same credential fields. Where they disagree
//! (see the vectors' README), [`POLICY`] states Tessera's verdict case by case with its reason, as documented in
//! `docs/webauthn-policy.md`; each of those cases is also re-run with the CLI switch that emulates the source's
//! setting, to show that only the policy differs.
//!
//! The vectors are part of the repository (`testdata/webauthn-vectors/`; `SOURCES.md` there says where each file
//! came from).

// Test code: a failed unwrap is a failed test (helpers outside #[test] need this too).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;

/// Every COSE algorithm Tessera implements (RS1 only behind `--insecure-allow-rs1`). The source libraries offer
/// long default lists (py_webauthn and SimpleWebAuthn include ES512, RS384/512, PS384/512); a case that names no
/// `supported_pub_key_algs` is run with all of ours, so that it tests verification, not the offered list.
const ALL_ALGS: [i64; 15] = [
    -7, -35, -36, -9, -8, -19, -257, -258, -259, -37, -38, -39, -48, -49, -50,
];

/// Tessera's verdict on a case where it differs from the source's `expected`, and why.
struct Policy {
    /// The vector file name.
    file: &'static str,
    /// `Ok(())` or `Err(rule)`: what `tessera webauthn` must answer.
    verdict: Result<(), &'static str>,
    /// CLI switches that emulate the source's setting; with them the source's `expected` must come out.
    emulate_source: Option<&'static [&'static str]>,
    /// Why Tessera decides so (docs/webauthn-policy.md).
    #[allow(dead_code)]
    reason: &'static str,
}

/// The cases on which Tessera's verdict is not the source library's, with the reason. Keep in step with
/// `docs/webauthn-policy.md`. A verdict `Err(rule)` matches the answer's `error` or its `detail`.
const POLICY: &[Policy] = &[
    // SimpleWebAuthn's `expectedType` option lets an RP accept other client data types. Tessera has no such option:
    // the type is fixed by the ceremony (§7.1 "Verify that the value of C.type is webauthn.create"), and these
    // responses carry exactly `webauthn.create`, so they verify.
    Policy {
        file: "simplewebauthn__reg__throw-when-response-type-is-not-expected-value.json",
        verdict: Ok(()),
        emulate_source: None,
        reason: "the client data type is fixed by the ceremony; there is no expectedType option",
    },
    Policy {
        file: "simplewebauthn__reg__throw-when-response-type-is-not-in-list-of-expected-types.json",
        verdict: Ok(()),
        emulate_source: None,
        reason: "the client data type is fixed by the ceremony; there is no expectedType option",
    },
    // go-webauthn's fixture pairs an Apple attestation object with another credential's id/rawId (go-webauthn checks
    // only the attestation statement there). Tessera requires rawId to name the credential in authData.
    Policy {
        file: "go-webauthn__reg__appletestresponse-0.json",
        verdict: Err("attested-credential-id-mismatch"),
        emulate_source: None,
        reason: "rawId must be the credential id of the attested credential data",
    },
    // Two early SimpleWebAuthn fixtures send `id`/`rawId` "bbb", which does not name the attested credential.
    // SimpleWebAuthn accepts them, py_webauthn refuses them; so does Tessera (as for the Apple case above).
    Policy {
        file: "simplewebauthn__reg__verify-packed-ec2-attestation.json",
        verdict: Err("attested-credential-id-mismatch"),
        emulate_source: None,
        reason: "rawId must be the credential id of the attested credential data",
    },
    Policy {
        file: "simplewebauthn__reg__verify-packed-x5c-attestation.json",
        verdict: Err("attested-credential-id-mismatch"),
        emulate_source: None,
        reason: "rawId must be the credential id of the attested credential data",
    },
    // SafetyNet `ctsProfileMatch: false`: Tessera requires the CTS profile (SimpleWebAuthn's default, which this
    // case turned off); `--insecure-ignore-safetynet-cts` is the source's setting.
    Policy {
        file: "simplewebauthn__reg__skip-cts-check-when-enforcement-option-is-false.json",
        verdict: Err("safetynet-cts-profile-mismatch"),
        emulate_source: Some(&["--insecure-ignore-safetynet-cts"]),
        reason: "a device that fails the CTS profile check is not trusted",
    },
    // Attestation objects must be CTAP2 canonical CBOR (CTAP 2.1 §8). These two FIDO conformance tool responses
    // (IBM FIDOTEST certificates; the second is also a test-manufacturer TPM) put `sig` after `x5c` in attStmt. No
    // switch restores the source's verdict: only a real authenticator's deviation would be accepted.
    Policy {
        file: "simplewebauthn__reg__succeed-if-id-fido-gen-ce-aaguid-extension-is-present-and-matches-aaguid-in-auth-data.json",
        verdict: Err("cbor-map-keys-unsorted"),
        emulate_source: None,
        reason: "attStmt keys out of CTAP2 canonical order, in test-tool output, not a real authenticator's",
    },
    Policy {
        file: "simplewebauthn__reg__succeed-if-id-fido-gen-ce-aaguid-extension-is-present-and-matches-aaguid-in-auth-data-2.json",
        verdict: Err("cbor-map-keys-unsorted"),
        emulate_source: None,
        reason: "attStmt keys out of CTAP2 canonical order, in test-tool output, not a real authenticator's",
    },
    // TPM attestations from the FIDO conformance tool carry manufacturer id:FFFFF1D0, which no real TPM has.
    // SimpleWebAuthn accepts it, py_webauthn refuses it; so does Tessera unless told this is a conformance test.
    Policy {
        file: "simplewebauthn__reg__validate-tpm-rsa-response-sha256.json",
        verdict: Err("tpm-manufacturer-unknown"),
        emulate_source: Some(&["--insecure-allow-tpm-test-manufacturer"]),
        reason: "the FIDO test TPM manufacturer is refused outside conformance testing",
    },
    Policy {
        file: "simplewebauthn__reg__verify-sha256-tpm-response.json",
        verdict: Err("tpm-manufacturer-unknown"),
        emulate_source: Some(&["--insecure-allow-tpm-test-manufacturer"]),
        reason: "the FIDO test TPM manufacturer is refused outside conformance testing",
    },
    Policy {
        file: "simplewebauthn__reg__verify-tpm-response.json",
        verdict: Err("tpm-manufacturer-unknown"),
        emulate_source: Some(&["--insecure-allow-tpm-test-manufacturer"]),
        reason: "the FIDO test TPM manufacturer is refused outside conformance testing",
    },
    // RS1 (RSASSA-PKCS1-v1_5 with SHA-1, -65535) credential keys from the FIDO conformance TPM: SHA-1 signatures are
    // forgeable in principle, so RS1 is off unless `--insecure-allow-rs1` (old TPMs) and offered.
    Policy {
        file: "simplewebauthn__reg__validate-tpm-rsa-response-sha1.json",
        verdict: Err("algorithm-not-allowed"),
        emulate_source: Some(&[
            "--insecure-allow-rs1",
            "--alg=-65535",
            "--insecure-allow-tpm-test-manufacturer",
        ]),
        reason: "RS1 is refused by default",
    },
    Policy {
        file: "simplewebauthn__reg__verify-sha1-tpm-response.json",
        verdict: Err("algorithm-not-allowed"),
        emulate_source: Some(&[
            "--insecure-allow-rs1",
            "--alg=-65535",
            "--insecure-allow-tpm-test-manufacturer",
        ]),
        reason: "RS1 is refused by default",
    },
];

/// Fields of a source's `expected_result` that do not describe the response, with the reason.
const RESULT_EXCEPTIONS: &[(&str, &str, &str)] = &[(
    "py_webauthn__reg__verifies-response-optional-user-presence.json",
    "user_verified",
    "the source reports false, but the authenticator data's flags byte is 0x45: UP, UV and AT are set",
)];

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/webauthn-vectors")
}

fn load_cases() -> Vec<(String, Value)> {
    let dir = vectors_dir();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "the WebAuthn vectors are missing: cannot read {} ({e}); they are part of the repository",
            dir.display()
        )
    });
    let mut cases: Vec<(String, Value)> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.file_name().is_some_and(|n| n != "index.json")
        })
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let json = serde_json::from_slice(&std::fs::read(&p).unwrap())
                .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
            (name, json)
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        cases.len() >= 100,
        "expected the 103 vectors in {}, found {}",
        dir.display(),
        cases.len()
    );
    cases
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The PEM roots the source configured for this case, if any.
fn trust_anchor_pems(case: &Value) -> Vec<String> {
    let mut pems = strings(case.get("attestation_trust_anchors_pem"));
    if let Some(Value::Object(by_fmt)) = case.get("extra_root_certs_pem_b64url_by_fmt") {
        for encoded in by_fmt.values().flat_map(|v| strings(Some(v))) {
            let pem = URL_SAFE_NO_PAD
                .decode(encoded.trim_end_matches('='))
                .or_else(|_| STANDARD.decode(&encoded))
                .unwrap();
            pems.push(String::from_utf8(pem).unwrap());
        }
    }
    pems
}

/// The `tessera webauthn` arguments that reproduce the source's expectations for this case.
fn cli_args(name: &str, case: &Value, anchors_file: Option<&Path>) -> Vec<String> {
    let registration = case["kind"] == "registration";
    let mut args = vec![
        "webauthn".to_owned(),
        if registration {
            "verify-registration"
        } else {
            "verify-authentication"
        }
        .to_owned(),
    ];
    let mut rp_ids = strings(case.get("rp_id"));
    if rp_ids.is_empty() {
        // The source ran without an expected RP ID (it then skips the rpIdHash check). Tessera always checks it, so
        // the case runs with the RP ID a browser derives from the origin: its host.
        rp_ids = strings(case.get("origin"))
            .iter()
            .filter_map(|o| {
                o.split("://")
                    .nth(1)
                    .map(|h| h.split([':', '/']).next().unwrap_or(h).to_owned())
            })
            .collect();
    }
    for rp_id in rp_ids {
        args.push(format!("--rp-id={rp_id}"));
    }
    for origin in strings(case.get("origin")) {
        args.push(format!("--origin={origin}"));
    }
    args.push(format!(
        "--challenge={}",
        case["challenge_b64url"].as_str().unwrap()
    ));
    if case.get("require_user_verification") == Some(&Value::Bool(false)) {
        args.push("--no-require-uv".to_owned());
    }
    if registration {
        match case.get("supported_pub_key_algs").and_then(Value::as_array) {
            Some(algs) => args.extend(algs.iter().map(|a| format!("--alg={a}"))),
            None => args.extend(ALL_ALGS.iter().map(|a| format!("--alg={a}"))),
        }
        if let Some(now) = case.get("attestation_verify_time").and_then(Value::as_str) {
            args.push(format!("--now={now}"));
        }
        if let Some(path) = anchors_file {
            // The source anchored this format's chains in these roots and refused chains that do not reach them.
            args.extend([
                "--trust-anchors".to_owned(),
                path.display().to_string(),
                "--require-trusted-attestation".to_owned(),
            ]);
        }
    } else {
        let key = case["public_key"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no public_key"));
        args.push(format!("--public-key={key}"));
        if let Some(count) = case.get("stored_sign_count").and_then(Value::as_u64) {
            args.push(format!("--sign-count={count}"));
        }
        if let Some(id) = case.get("credential_id").and_then(Value::as_str) {
            args.push(format!("--credential-id={id}"));
        }
    }
    args
}

/// What the binary answered.
#[derive(Debug)]
struct Answer {
    code: i32,
    json: Value,
}

impl Answer {
    fn verdict(&self) -> Result<(), String> {
        if self.code == 0 && self.json["ok"] == true {
            Ok(())
        } else {
            Err(self.json["error"].as_str().unwrap_or("?").to_owned())
        }
    }

    /// Whether the answer is the policy's verdict (`Err(rule)` matches `error` or `detail`).
    fn matches(&self, verdict: Result<(), &str>) -> bool {
        match verdict {
            Ok(()) => self.verdict().is_ok(),
            Err(rule) => {
                self.code == 1
                    && (self.json["error"].as_str() == Some(rule)
                        || self.json["detail"].as_str() == Some(rule))
            }
        }
    }
}

fn run_cli(args: &[String], stdin: &[u8]) -> Answer {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().unwrap();
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "tessera {args:?} printed no JSON object ({e}); stdout: {} stderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    Answer {
        code: output.status.code().unwrap_or(-1),
        json,
    }
}

fn b64_bytes(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .or_else(|_| STANDARD.decode(text))
        .unwrap_or_else(|_| text.as_bytes().to_vec())
}

/// Differences between the source's `expected_result` and Tessera's answer.
fn result_mismatches(case: &Value, answer: &Value) -> Vec<String> {
    let Some(Value::Object(expected)) = case.get("expected_result") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut check = |what: &str, want: Value, got: &Value| {
        if &want != got {
            out.push(format!("{what}: source {want}, tessera {got}"));
        }
    };
    for (key, want) in expected {
        match key.as_str() {
            "credential_id" => check(
                key,
                Value::String(URL_SAFE_NO_PAD.encode(b64_bytes(want.as_str().unwrap_or_default()))),
                &answer["credential_id"],
            ),
            "credential_public_key" => check(
                key,
                Value::String(URL_SAFE_NO_PAD.encode(b64_bytes(want.as_str().unwrap_or_default()))),
                &answer["public_key"],
            ),
            "fmt" => check(key, want.clone(), &answer["attestation_format"]),
            "aaguid" => check(
                key,
                Value::String(want.as_str().unwrap_or_default().to_lowercase()),
                &answer["aaguid"],
            ),
            "sign_count" | "new_sign_count" | "newCounter" => {
                check(key, want.clone(), &answer["sign_count"])
            }
            "user_verified" | "userVerified" => check(key, want.clone(), &answer["user_verified"]),
            "credential_backed_up" | "credentialBackedUp" => {
                check(key, want.clone(), &answer["backup_state"])
            }
            "credential_device_type" | "credentialDeviceType" => {
                let multi = matches!(want.as_str(), Some("multi_device" | "multiDevice"));
                check(key, Value::Bool(multi), &answer["backup_eligible"]);
            }
            // Informational (attestation object echo, credential type, rpID/origin the source matched).
            _ => {}
        }
    }
    out
}

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
}

#[test]
fn every_vector_comes_out_as_expected_or_as_tessera_policy_says() {
    let cases = load_cases();
    let policy: BTreeMap<&str, &Policy> = POLICY.iter().map(|p| (p.file, p)).collect();
    for p in POLICY {
        assert!(
            cases.iter().any(|(n, _)| n == p.file),
            "POLICY names a missing vector {}",
            p.file
        );
    }
    let mut failures = Vec::new();
    let mut tally: BTreeMap<String, Tally> = BTreeMap::new();
    let temp = std::env::temp_dir().join(format!("tessera-vectors-{}", std::process::id()));
    std::fs::create_dir_all(&temp).unwrap();

    for (index, (name, case)) in cases.iter().enumerate() {
        let pems = trust_anchor_pems(case);
        let anchors_file = (!pems.is_empty()).then(|| {
            let path = temp.join(format!("anchors-{index}.pem"));
            std::fs::write(&path, pems.join("\n")).unwrap();
            path
        });
        let args = cli_args(name, case, anchors_file.as_deref());
        let stdin = serde_json::to_vec(&case["response"]).unwrap();
        let answer = run_cli(&args, &stdin);
        let source_ok = case["expected"] == "ok";
        let mut problems = Vec::new();

        if !(answer.code == 0 || answer.code == 1) {
            problems.push(format!(
                "exit code {} (unusable input?): {}",
                answer.code, answer.json
            ));
        }
        match policy.get(name.as_str()) {
            None => {
                if answer.verdict().is_ok() != source_ok {
                    problems.push(format!(
                        "source says {}, tessera says {} ({})",
                        case["expected"],
                        answer.verdict().map_or_else(|e| e, |()| "ok".into()),
                        answer.json["message"].as_str().unwrap_or_default()
                    ));
                }
            }
            Some(p) => {
                if !answer.matches(p.verdict) {
                    problems.push(format!(
                        "policy says {:?}, tessera says {}",
                        p.verdict, answer.json
                    ));
                }
                if let Some(switches) = p.emulate_source {
                    let mut emulated = args.clone();
                    emulated.extend(switches.iter().map(|s| (*s).to_owned()));
                    let again = run_cli(&emulated, &stdin);
                    if again.verdict().is_ok() != source_ok {
                        problems.push(format!(
                            "with {switches:?} tessera should agree with the source: {}",
                            again.json
                        ));
                    }
                }
            }
        }
        if answer.verdict().is_ok() {
            problems.extend(
                result_mismatches(case, &answer.json)
                    .into_iter()
                    .filter(|m| {
                        !RESULT_EXCEPTIONS.iter().any(|(file, field, _)| {
                            file == name && m.starts_with(&format!("{field}:"))
                        })
                    }),
            );
        }

        let format = case
            .get("attestation_format")
            .and_then(Value::as_str)
            .map_or_else(
                || case["kind"].as_str().unwrap_or("?").to_owned(),
                |f| format!("registration/{f}"),
            );
        let entry = tally.entry(format).or_default();
        if problems.is_empty() {
            entry.passed += 1;
        } else {
            entry.failed += 1;
            failures.push(format!("{name}:\n    {}", problems.join("\n    ")));
        }
    }
    let _ = std::fs::remove_dir_all(&temp);

    let summary: Vec<String> = tally
        .iter()
        .map(|(format, t)| format!("{format}: {} passed, {} failed", t.passed, t.failed))
        .collect();
    let (passed, failed) = tally
        .values()
        .fold((0, 0), |(p, f), t| (p + t.passed, f + t.failed));
    println!(
        "WebAuthn vectors: {passed} passed, {failed} failed of {} ({} by Tessera policy)\n  {}",
        cases.len(),
        POLICY.len(),
        summary.join("\n  ")
    );
    assert!(
        failures.is_empty(),
        "{} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn standard_base64_in_a_response_is_read_tolerantly() {
    // py_webauthn's TPM fixtures carry the attestation object in standard base64 ('+', '/'); real clients have
    // sent that too. Tessera reads base64url with or without padding and tolerates the standard alphabet.
    let (_, case) = load_cases()
        .into_iter()
        .find(|(name, _)| name == "py_webauthn__reg-tpm__verify-attestation-dell-xps-13.json")
        .unwrap();
    let attestation_object = case["response"]["response"]["attestationObject"]
        .as_str()
        .unwrap();
    assert!(
        attestation_object.contains(['+', '/']),
        "the fixture is no longer standard base64"
    );
    let args = cli_args("dell", &case, None);
    let answer = run_cli(&args, &serde_json::to_vec(&case["response"]).unwrap());
    assert_eq!(answer.code, 0, "{}", answer.json);
}
