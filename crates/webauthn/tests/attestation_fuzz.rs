//! Nothing in attestation or MDS verification panics on any input: arbitrary statements, and real statements with
//! arbitrary bytes changed.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ciborium::Value;
use proptest::prelude::*;
use tessera_webauthn::AuthenticatorData;
use tessera_webauthn::attestation::{
    AttestationTrust, AttestedCredential, TpmTestManufacturer, verify_attested,
};
use tessera_webauthn::mds::MetadataBlob;
use time::macros::datetime;

const FORMATS: [&str; 7] = [
    "none",
    "packed",
    "fido-u2f",
    "tpm",
    "android-key",
    "android-safetynet",
    "apple",
];
const VECTORS: [&str; 6] = [
    "py_webauthn__reg-packed__verify-attestation-from-yubikey-firefox",
    "simplewebauthn__reg__verify-fido-u2f-attestation",
    "py_webauthn__reg-tpm__verify-attestation-dell-xps-13",
    "simplewebauthn__reg__verify-android-keystore-response-from-a-pixel-8a-in-january-2025",
    "simplewebauthn__reg__skip-cts-check-when-enforcement-option-is-false",
    "simplewebauthn__reg__verify-apple-attestation",
];

struct Real {
    fmt: String,
    att_stmt: Value,
    auth_data: Vec<u8>,
    aaguid: [u8; 16],
    credential_id: Vec<u8>,
    public_key_cbor: Vec<u8>,
    client_data_hash: [u8; 32],
}

fn b64(s: &str) -> Vec<u8> {
    let s: String = s.trim_end_matches('=').replace('+', "-").replace('/', "_");
    URL_SAFE_NO_PAD.decode(s).expect("base64")
}

fn load(name: &str) -> Real {
    let path = format!(
        "{}/../../testdata/webauthn-vectors/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("JSON");
    let response = &json["response"]["response"];
    let object: Value = ciborium::de::from_reader(
        b64(response["attestationObject"].as_str().expect("ao")).as_slice(),
    )
    .expect("CBOR");
    let map = object.as_map().expect("map");
    let get = |k: &str| {
        map.iter()
            .find(|(key, _)| key.as_text() == Some(k))
            .map(|(_, v)| v.clone())
            .expect(k)
    };
    let auth_data = get("authData").as_bytes().expect("authData").clone();
    let parsed = AuthenticatorData::from_bytes(&auth_data).expect("authData");
    let attested = parsed.attested_credential.expect("attested");
    let mut client_data_hash = [0u8; 32];
    client_data_hash.copy_from_slice(
        digest::digest(
            &digest::SHA256,
            &b64(response["clientDataJSON"].as_str().expect("cdj")),
        )
        .as_ref(),
    );
    Real {
        fmt: get("fmt").as_text().expect("fmt").to_owned(),
        att_stmt: get("attStmt"),
        auth_data,
        aaguid: attested.aaguid,
        credential_id: attested.credential_id,
        public_key_cbor: attested.public_key_cbor,
        client_data_hash,
    }
}

fn trust() -> AttestationTrust<'static> {
    let mut trust = AttestationTrust::new(datetime!(2025-01-01 00:00 UTC));
    trust.tpm_test_manufacturer = TpmTestManufacturer::InsecureAllow;
    trust
}

/// Arbitrary CBOR values of the shapes statements use.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|i| Value::Integer(i.into())),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Value::Bytes),
        "[a-z0-9.]{0,12}".prop_map(Value::Text),
        Just(Value::Null),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        Just("alg"),
                        Just("sig"),
                        Just("x5c"),
                        Just("ver"),
                        Just("certInfo"),
                        Just("pubArea"),
                        Just("response"),
                        Just("ecdaaKeyId")
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|entries| Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (Value::Text(k.into()), v))
                    .collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_statements_never_panic(fmt in 0..FORMATS.len(), stmt in value(), key in proptest::collection::vec(any::<u8>(), 0..80)) {
        let real = load(VECTORS[0]);
        for public_key_cbor in [real.public_key_cbor.as_slice(), key.as_slice()] {
            let _ = verify_attested(
                FORMATS[fmt],
                &stmt,
                AttestedCredential { aaguid: real.aaguid, credential_id: &real.credential_id, public_key_cbor },
                &real.auth_data,
                &real.client_data_hash,
                &trust(),
            );
        }
    }

    #[test]
    fn real_statements_with_bytes_changed_never_panic(vector in 0..VECTORS.len(), field in 0usize..8, at in any::<usize>(), byte in any::<u8>(), cut in any::<bool>()) {
        let real = load(VECTORS[vector]);
        let mut stmt = real.att_stmt.clone();
        if let Value::Map(entries) = &mut stmt {
            let n = entries.len();
            let (_, value) = &mut entries[field % n];
            let target = match value {
                Value::Bytes(b) => Some(b),
                Value::Array(certs) if !certs.is_empty() => {
                    let i = at % certs.len();
                    match &mut certs[i] { Value::Bytes(b) => Some(b), _ => None }
                }
                _ => None,
            };
            if let Some(bytes) = target && !bytes.is_empty() {
                let i = at % bytes.len();
                if cut { bytes.truncate(i) } else { bytes[i] = byte }
            }
        }
        let _ = verify_attested(
            &real.fmt,
            &stmt,
            AttestedCredential { aaguid: real.aaguid, credential_id: &real.credential_id, public_key_cbor: &real.public_key_cbor },
            &real.auth_data,
            &real.client_data_hash,
            &trust(),
        );
    }

    #[test]
    fn arbitrary_metadata_blobs_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), dots in any::<bool>()) {
        let root = std::fs::read(format!("{}/tests/data/mds/mds-root.der", env!("CARGO_MANIFEST_DIR"))).expect("root");
        let input = if dots {
            let text = URL_SAFE_NO_PAD.encode(&bytes);
            let third = text.len() / 3;
            format!("{}.{}.{}", &text[..third], &text[third..2 * third], &text[2 * third..]).into_bytes()
        } else {
            bytes
        };
        let _ = MetadataBlob::from_jws(&input, &root, datetime!(2026-06-01 00:00 UTC));
        let _ = MetadataBlob::from_jws(&input, &input, datetime!(2026-06-01 00:00 UTC));
    }
}
