//! CTAP2 canonical CBOR (CTAP 2.1 §8) in attestation objects, credential public keys and authenticator extension
//! outputs: each rule refused with its own error, on bytes crafted by hand; and every real authenticator's data in
//! `tests/data` passes the check.

// Helpers outside #[test] functions: a malformed vector file should stop the test loudly.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Registration, TestKey};
use serde_json::Value as Json;
use std::path::Path;
use tessera_webauthn::canonical_cbor;
use tessera_webauthn::registration::AttestationObject;
use tessera_webauthn::{AuthenticatorData, WebauthnError, verify_registration};

/// A CBOR head (major type, argument) in its shortest form.
fn head(major: u8, argument: usize) -> Vec<u8> {
    let m = major << 5;
    match argument {
        0..=23 => vec![m | argument as u8],
        24..=0xff => vec![m | 24, argument as u8],
        0x100..=0xffff => {
            let mut out = vec![m | 25];
            out.extend_from_slice(&(argument as u16).to_be_bytes());
            out
        }
        _ => {
            let mut out = vec![m | 26];
            out.extend_from_slice(&(argument as u32).to_be_bytes());
            out
        }
    }
}

fn text(s: &str) -> Vec<u8> {
    let mut out = head(3, s.len());
    out.extend_from_slice(s.as_bytes());
    out
}

fn bytes(b: &[u8]) -> Vec<u8> {
    let mut out = head(2, b.len());
    out.extend_from_slice(b);
    out
}

/// `{"fmt": "none", "attStmt": {}, "authData": auth_data}` written by hand, members in the order given.
fn attestation_object(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = head(5, members.len());
    for (key, value) in members {
        out.extend(text(key));
        out.extend_from_slice(value);
    }
    out
}

fn none_members(auth_data: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("fmt", text("none")),
        ("attStmt", vec![0xa0]),
        ("authData", bytes(auth_data)),
    ]
}

/// The P-256 base point, a valid public key.
const P256_X: [u8; 32] = [
    0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
    0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
];
const P256_Y: [u8; 32] = [
    0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16,
    0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
];

/// A P-256 COSE key written by hand: `{1: 2, 3: -7, -1: 1, -2: x, -3: y}` in canonical order.
fn cose_key_entries() -> Vec<(Vec<u8>, Vec<u8>)> {
    let x = P256_X;
    let y = P256_Y;
    vec![
        (vec![0x01], vec![0x02]),
        (vec![0x03], vec![0x26]),
        (vec![0x20], vec![0x01]),
        (vec![0x21], bytes(&x)),
        (vec![0x22], bytes(&y)),
    ]
}

fn map(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = head(5, entries.len());
    for (k, v) in entries {
        out.extend_from_slice(k);
        out.extend_from_slice(v);
    }
    out
}

/// Authenticator data with attested credential data carrying `cose_key`, then `extensions` (ED) if given.
fn auth_data(cose_key: &[u8], extensions: Option<&[u8]>) -> Vec<u8> {
    let mut out = vec![0x49; 32];
    out.push(0x45 | if extensions.is_some() { 0x80 } else { 0 });
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&[0xaa; 16]);
    out.extend_from_slice(&[0, 4]);
    out.extend_from_slice(b"cred");
    out.extend_from_slice(cose_key);
    if let Some(ext) = extensions {
        out.extend_from_slice(ext);
    }
    out
}

fn rule_of_object(object: &[u8]) -> &'static str {
    match AttestationObject::from_cbor(object) {
        Ok(_) => "accepted",
        Err(e) => e.rule(),
    }
}

fn rule_of_auth_data(data: &[u8]) -> &'static str {
    match AuthenticatorData::from_bytes(data) {
        Ok(_) => "accepted",
        Err(e) => e.rule(),
    }
}

#[test]
fn hand_written_canonical_data_is_accepted() {
    let data = auth_data(
        &map(&cose_key_entries()),
        Some(&map(&[(text("credProtect"), vec![0x02])])),
    );
    assert_eq!(rule_of_auth_data(&data), "accepted");
    assert_eq!(
        rule_of_object(&attestation_object(&none_members(&data))),
        "accepted"
    );
}

#[test]
fn cbor_indefinite_length_refused() {
    let data = auth_data(&map(&cose_key_entries()), None);
    // The attestation object as an indefinite-length map (0xbf ... 0xff).
    let mut object = vec![0xbf];
    for (key, value) in none_members(&data) {
        object.extend(text(key));
        object.extend(value);
    }
    object.push(0xff);
    assert_eq!(rule_of_object(&object), "cbor-indefinite-length");
    // authData as an indefinite-length byte string of two chunks.
    let (first, second) = data.split_at(10);
    let mut chunked = vec![0x5f];
    chunked.extend(bytes(first));
    chunked.extend(bytes(second));
    chunked.push(0xff);
    let mut members = none_members(&data);
    members[2].1 = chunked;
    assert_eq!(
        rule_of_object(&attestation_object(&members)),
        "cbor-indefinite-length"
    );
    // An indefinite-length text string for fmt.
    let mut members = none_members(&data);
    members[0].1 = [vec![0x7f], text("no"), text("ne"), vec![0xff]].concat();
    assert_eq!(
        rule_of_object(&attestation_object(&members)),
        "cbor-indefinite-length"
    );
    // The COSE key's x coordinate as an indefinite-length byte string.
    let mut entries = cose_key_entries();
    entries[3].1 = [
        vec![0x5f],
        bytes(&[0x11; 16]),
        bytes(&[0x11; 16]),
        vec![0xff],
    ]
    .concat();
    assert_eq!(
        rule_of_auth_data(&auth_data(&map(&entries), None)),
        "cbor-indefinite-length"
    );
    // An indefinite-length array inside the attestation statement.
    let mut members = none_members(&data);
    members[1].1 = [
        vec![0xa1],
        text("x5c"),
        vec![0x9f],
        bytes(b"cert"),
        vec![0xff],
    ]
    .concat();
    assert_eq!(
        rule_of_object(&attestation_object(&members)),
        "cbor-indefinite-length"
    );
}

#[test]
fn cbor_non_minimal_integer_refused() {
    // alg -7 written as 0x38 0x06 (one extra byte) instead of 0x26.
    let mut entries = cose_key_entries();
    entries[1].1 = vec![0x38, 0x06];
    assert_eq!(
        rule_of_auth_data(&auth_data(&map(&entries), None)),
        "cbor-non-minimal-encoding"
    );
    // kty 2 as a two-byte integer.
    let mut entries = cose_key_entries();
    entries[0].1 = vec![0x19, 0x00, 0x02];
    assert_eq!(
        rule_of_auth_data(&auth_data(&map(&entries), None)),
        "cbor-non-minimal-encoding"
    );
    // A label (key) written long: 1 as 0x18 0x01.
    let mut entries = cose_key_entries();
    entries[0].0 = vec![0x18, 0x01];
    assert_eq!(
        rule_of_auth_data(&auth_data(&map(&entries), None)),
        "cbor-non-minimal-encoding"
    );
}

#[test]
fn cbor_non_minimal_length_refused() {
    let data = auth_data(&map(&cose_key_entries()), None);
    // authData's length in four bytes although it fits in one (its length is below 256).
    assert!(data.len() < 256);
    let mut long = vec![0x5a];
    long.extend_from_slice(&(data.len() as u32).to_be_bytes());
    long.extend_from_slice(&data);
    let mut members = none_members(&data);
    members[2].1 = long;
    assert_eq!(
        rule_of_object(&attestation_object(&members)),
        "cbor-non-minimal-encoding"
    );
    // The map's own length: 3 members written as 0xb8 0x03.
    let object = attestation_object(&none_members(&data));
    let long_map = [vec![0xb8, 0x03], object[1..].to_vec()].concat();
    assert_eq!(rule_of_object(&long_map), "cbor-non-minimal-encoding");
    // The text "fmt" with its length in an extra byte.
    let mut object = vec![0xa3, 0x78, 0x03];
    object.extend_from_slice(b"fmt");
    object.extend(text("none"));
    for (key, value) in &none_members(&data)[1..] {
        object.extend(text(key));
        object.extend_from_slice(value);
    }
    assert_eq!(rule_of_object(&object), "cbor-non-minimal-encoding");
    // The COSE key's y coordinate: 32 bytes with a two-byte length.
    let mut entries = cose_key_entries();
    entries[4].1 = [vec![0x59, 0x00, 0x20], P256_Y.to_vec()].concat();
    assert_eq!(
        rule_of_auth_data(&auth_data(&map(&entries), None)),
        "cbor-non-minimal-encoding"
    );
}

#[test]
fn cbor_unsorted_map_keys_refused() {
    let data = auth_data(&map(&cose_key_entries()), None);
    // attStmt before fmt: "attStmt" (7 bytes) sorts after "fmt" (3).
    let mut members = none_members(&data);
    members.swap(0, 1);
    assert_eq!(
        rule_of_object(&attestation_object(&members)),
        "cbor-map-keys-unsorted"
    );
    // Byte-wise order ("attStmt" < "authData" < "fmt") is RFC 8949's deterministic order, not CTAP2's.
    let members = vec![
        ("attStmt", vec![0xa0]),
        ("authData", bytes(&data)),
        ("fmt", text("none")),
    ];
    assert_eq!(
        rule_of_object(&attestation_object(&members)),
        "cbor-map-keys-unsorted"
    );
    // COSE key with alg (3) before kty (1).
    let mut entries = cose_key_entries();
    entries.swap(0, 1);
    assert_eq!(
        rule_of_auth_data(&auth_data(&map(&entries), None)),
        "cbor-map-keys-unsorted"
    );
    // Negative labels before positive ones (-1 before 3).
    let mut entries = cose_key_entries();
    entries.swap(1, 2);
    assert_eq!(
        rule_of_auth_data(&auth_data(&map(&entries), None)),
        "cbor-map-keys-unsorted"
    );
    // Extension outputs out of order: "hmac-secret" (11 bytes) before "credProtect" (11) sorts by bytes: c < h.
    let extensions = map(&[
        (text("hmac-secret"), vec![0xf5]),
        (text("credProtect"), vec![0x02]),
    ]);
    assert_eq!(
        rule_of_auth_data(&auth_data(&map(&cose_key_entries()), Some(&extensions))),
        "cbor-map-keys-unsorted"
    );
}

#[test]
fn cbor_duplicate_map_keys_refused() {
    let data = auth_data(&map(&cose_key_entries()), None);
    let mut members = none_members(&data);
    members.insert(1, ("fmt", text("packed")));
    assert_eq!(
        rule_of_object(&attestation_object(&members)),
        "cbor-duplicate-map-key"
    );
    let mut entries = cose_key_entries();
    entries.insert(2, (vec![0x03], vec![0x26]));
    assert_eq!(
        rule_of_auth_data(&auth_data(&map(&entries), None)),
        "cbor-duplicate-map-key"
    );
}

#[test]
fn cbor_tags_refused() {
    let data = auth_data(&map(&cose_key_entries()), None);
    // authData wrapped in tag 24 ("encoded CBOR data item").
    let mut members = none_members(&data);
    members[2].1 = [vec![0xd8, 0x18], bytes(&data)].concat();
    assert_eq!(
        rule_of_object(&attestation_object(&members)),
        "cbor-tag-present"
    );
}

#[test]
fn cbor_not_well_formed_is_the_parts_own_invalid_error() {
    let data = auth_data(&map(&cose_key_entries()), None);
    let object = attestation_object(&none_members(&data));
    // Truncated, a reserved additional-information value, a stray break.
    assert_eq!(
        rule_of_object(&object[..object.len() - 1]),
        "attestation-object-invalid"
    );
    assert_eq!(rule_of_object(&[0xbc]), "attestation-object-invalid");
    assert_eq!(rule_of_object(&[0xff]), "attestation-object-invalid");
    let mut entries = cose_key_entries();
    entries[3].1 = vec![0x5c];
    assert_eq!(
        rule_of_auth_data(&auth_data(&map(&entries), None)),
        "cose-key-invalid"
    );
    let broken_extensions = [0xa1, 0x61, 0xff, 0x01];
    assert_eq!(
        rule_of_auth_data(&auth_data(
            &map(&cose_key_entries()),
            Some(&broken_extensions)
        )),
        "authenticator-data-invalid"
    );
}

/// The whole registration procedure refuses a response whose only fault is the key order of its COSE key: the
/// rule is applied where a relying party would see it, not only in the parser.
#[test]
fn a_registration_with_a_non_canonical_cose_key_is_refused() {
    let env = common::Env::new();
    let good = Registration::new(TestKey::p256());
    assert!(verify_registration(&good.response(), &env.registration(), |_| false).is_ok());
    let mut reordered = Registration::new(TestKey::p256());
    let canonical = reordered.key.cose();
    // {3: -7, 1: 2, ...}: swap the first two entries (each two bytes) after the map head.
    let mut swapped = canonical.clone();
    swapped[1..3].copy_from_slice(&canonical[3..5]);
    swapped[3..5].copy_from_slice(&canonical[1..3]);
    reordered.cose_key = Some(swapped);
    let outcome = verify_registration(&reordered.response(), &env.registration(), |_| false);
    assert!(
        matches!(
            outcome,
            Err(WebauthnError::CborMapKeysUnsorted {
                part: "credential public key",
                ..
            })
        ),
        "{outcome:?}"
    );
}

/// The members in the order `fmt`, `authData`, `attStmt` are the one deviation accepted (a Feitian BioPass FIDO2
/// registration has it, see `canonical_cbor::check_attestation_object_prefix`): exactly that order, and nothing else
/// loosened with it.
#[test]
fn cbor_ctap_member_order_of_the_attestation_object_is_the_one_deviation_accepted() {
    let data = auth_data(&map(&cose_key_entries()), None);
    let mut members = none_members(&data);
    members.swap(1, 2);
    assert_eq!(rule_of_object(&attestation_object(&members)), "accepted");
    // Any other order of the three members is still refused.
    for order in [[1, 0, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0]] {
        let shuffled: Vec<_> = order
            .iter()
            .map(|&i| none_members(&data)[i].clone())
            .collect();
        assert_eq!(
            rule_of_object(&attestation_object(&shuffled)),
            "cbor-map-keys-unsorted",
            "{order:?}"
        );
    }
    // In that order, a value still has to be canonical: here attStmt is an indefinite-length map.
    members[2].1 = vec![0xbf, 0xff];
    assert_eq!(
        rule_of_object(&attestation_object(&members)),
        "cbor-indefinite-length"
    );
    // And a fourth member in the same order is not the CTAP order.
    let mut members = none_members(&data);
    members.swap(1, 2);
    members.push(("zzzzzzzzz", vec![0xf6]));
    assert_eq!(
        rule_of_object(&attestation_object(&members)),
        "cbor-map-keys-unsorted"
    );
    // Inside the authenticator data there is no such deviation.
    let mut entries = cose_key_entries();
    entries.swap(0, 1);
    assert_eq!(
        rule_of_auth_data(&auth_data(&map(&entries), None)),
        "cbor-map-keys-unsorted"
    );
}

/// Vectors that are not canonical and are not from real authenticators: the FIDO conformance tool's test
/// responses (certificates "IBM FIDOTEST" / "FIDOTEST-TPM-INTERMEDIATE") in SimpleWebAuthn's tests, whose
/// attestation statements put `sig` last (after `x5c`, and in the TPM ones after `pubArea` and `certInfo`).
/// Tessera refuses them (`cbor-map-keys-unsorted`).
const NOT_CANONICAL_TEST_TOOL_OUTPUT: &[&str] = &[
    "simplewebauthn__reg__fail-if-id-fido-gen-ce-aaguid-extension-is-present-and-does-not-match-aaguid-in-auth-data-2.json",
    "simplewebauthn__reg__fail-if-id-fido-gen-ce-aaguid-extension-is-present-and-does-not-match-aaguid-in-auth-data.json",
    "simplewebauthn__reg__succeed-if-id-fido-gen-ce-aaguid-extension-is-present-and-matches-aaguid-in-auth-data-2.json",
    "simplewebauthn__reg__succeed-if-id-fido-gen-ce-aaguid-extension-is-present-and-matches-aaguid-in-auth-data.json",
];

/// The vectors whose attestation object needs the CTAP member-order deviation (Feitian BioPass FIDO2 USB).
const CTAP_MEMBER_ORDER: &[&str] = &["go-webauthn__reg__packedtestresponsees256-0.json"];

/// Every attestation object, authenticator data and stored public key in the vectors of real authenticators and
/// RP libraries passes the canonical check, except the test-tool output listed above; only the Feitian
/// registration needs the member-order deviation.
#[test]
fn every_real_authenticator_vector_is_ctap2_canonical() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/webauthn-vectors");
    let mut checked = 0;
    let mut refused = Vec::new();
    let mut deviating = Vec::new();
    for file in json_files(&root) {
        let vector: Json = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let name = file.strip_prefix(&root).unwrap().display().to_string();
        let response = &vector["response"]["response"];
        let mut problems = Vec::new();
        if let Some(raw) = response["attestationObject"]
            .as_str()
            .and_then(decode_any_base64)
        {
            checked += 1;
            if let Err(v) = canonical_cbor::check_attestation_object_prefix(&raw) {
                problems.extend(canonical_problem(v));
            } else if canonical_cbor::check_prefix(&raw).is_err() {
                deviating.push(name.clone());
            }
            if let Ok(object) = AttestationObject::from_cbor(&raw) {
                problems.extend(cbor_rule(
                    AuthenticatorData::from_bytes(&object.auth_data).err(),
                ));
            }
        }
        if let Some(raw) = response["authenticatorData"]
            .as_str()
            .and_then(decode_any_base64)
        {
            checked += 1;
            problems.extend(cbor_rule(AuthenticatorData::from_bytes(&raw).err()));
        }
        if let Some(raw) = vector["public_key"].as_str().and_then(decode_any_base64) {
            checked += 1;
            if let Err(v) = canonical_cbor::check(&raw) {
                problems.extend(canonical_problem(v));
            }
        }
        if !problems.is_empty() {
            refused.push(format!("{name}: {}", problems.join("; ")));
        }
    }
    assert!(
        checked > 150,
        "only {checked} CBOR items found in the vectors"
    );
    let refused_names: Vec<&str> = refused
        .iter()
        .map(|line| line.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        refused_names, NOT_CANONICAL_TEST_TOOL_OUTPUT,
        "{refused:#?}"
    );
    assert_eq!(deviating, CTAP_MEMBER_ORDER);
}

/// A canonical-form violation worth reporting (not-CBOR inputs are other tests' business).
fn canonical_problem(violation: canonical_cbor::CanonicalViolation) -> Option<String> {
    (!matches!(violation.rule, canonical_cbor::CanonicalRule::Malformed(_)))
        .then(|| violation.to_string())
}

fn cbor_rule(error: Option<WebauthnError>) -> Option<String> {
    error
        .filter(|e| e.rule().starts_with("cbor-"))
        .map(|e| e.to_string())
}

fn decode_any_base64(text: &str) -> Option<Vec<u8>> {
    let normalized: String = text
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    tessera_webauthn::base64url::decode(&normalized).ok()
}

fn json_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(json_files(&path));
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    out.sort();
    out
}
