//! Property tests: arbitrary bytes for CBOR, authenticator data, clientDataJSON, COSE keys and whole JSON responses
//! never panic; they are refused with an error or, rarely, parsed.

mod common;

use common::*;
use proptest::prelude::*;
use tessera_webauthn::registration::AttestationObject;
use tessera_webauthn::{
    AuthenticationResponseJSON, AuthenticatorData, CollectedClientData, CoseKey,
    RegistrationResponseJSON, verify_authentication, verify_registration,
};

/// Arbitrary CBOR-ish bytes: mostly random, sometimes starting with a map header so decoders go deeper.
fn cbor_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        proptest::collection::vec(any::<u8>(), 0..256).prop_map(|mut v| {
            v.insert(0, 0xa5);
            v
        }),
        proptest::collection::vec(
            prop_oneof![
                Just(0x9fu8),
                Just(0xbf),
                Just(0x5b),
                Just(0xff),
                any::<u8>()
            ],
            0..64
        ),
    ]
}

/// Flips, truncates or extends a valid encoding.
fn mutate(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len();
    (
        0..len.max(1),
        any::<u8>(),
        0..len + 8,
        proptest::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(move |(at, byte, cut, extra)| {
            let mut v = valid.clone();
            if let Some(slot) = v.get_mut(at) {
                *slot ^= byte;
            }
            v.truncate(cut);
            v.extend_from_slice(&extra);
            v
        })
}

fn valid_registration_auth_data() -> Vec<u8> {
    Registration::new(TestKey::p256()).auth_data()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn cose_key_parsing_never_panics(bytes in cbor_like()) {
        let _ = CoseKey::from_cbor(&bytes);
    }

    #[test]
    fn mutated_cose_key_parsing_never_panics(bytes in mutate(TestKey::p256().cose())) {
        let _ = CoseKey::from_cbor(&bytes);
    }

    #[test]
    fn attestation_object_parsing_never_panics(bytes in cbor_like()) {
        let _ = AttestationObject::from_cbor(&bytes);
    }

    #[test]
    fn authenticator_data_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = AuthenticatorData::from_bytes(&bytes);
    }

    #[test]
    fn mutated_authenticator_data_parsing_never_panics(bytes in mutate(valid_registration_auth_data())) {
        let _ = AuthenticatorData::from_bytes(&bytes);
    }

    #[test]
    fn client_data_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = CollectedClientData::parse(&bytes);
    }

    #[test]
    fn client_data_text_parsing_never_panics(text in "\\PC{0,120}") {
        let _ = CollectedClientData::parse(text.as_bytes());
    }

    #[test]
    fn response_json_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = RegistrationResponseJSON::from_json(&bytes);
        let _ = AuthenticationResponseJSON::from_json(&bytes);
    }

    #[test]
    fn mutated_registration_response_never_panics(
        bytes in mutate(serde_json::to_vec(&Registration::new(TestKey::p256()).json()).unwrap())
    ) {
        if let Ok(response) = RegistrationResponseJSON::from_json(&bytes) {
            let env = Env::new();
            let _ = verify_registration(&response, &env.registration(), |_| false);
        }
    }

    #[test]
    fn mutated_attestation_object_never_panics(
        bytes in mutate(Registration::new(TestKey::ed25519()).attestation_object())
    ) {
        let reg = Registration::new(TestKey::ed25519());
        let mut json = reg.json();
        json["response"]["attestationObject"] = serde_json::json!(tessera_webauthn::base64url::encode(&bytes));
        let response = RegistrationResponseJSON::from_json(&serde_json::to_vec(&json).unwrap()).unwrap();
        let env = Env::new();
        let _ = verify_registration(&response, &env.registration(), |_| false);
    }

    #[test]
    fn mutated_assertion_never_panics(auth_data in mutate(vec![0u8; 37]), signature in proptest::collection::vec(any::<u8>(), 0..80)) {
        let key = TestKey::p256();
        let mut json = Assertion::new(&key).json();
        json["response"]["authenticatorData"] = serde_json::json!(tessera_webauthn::base64url::encode(&auth_data));
        json["response"]["signature"] = serde_json::json!(tessera_webauthn::base64url::encode(&signature));
        let response = AuthenticationResponseJSON::from_json(&serde_json::to_vec(&json).unwrap()).unwrap();
        let env = Env::new();
        let _ = verify_authentication(&response, &env.authentication(), &record_for(&key));
    }

    #[test]
    fn arbitrary_stored_key_never_panics(stored in cbor_like()) {
        let key = TestKey::p256();
        let mut record = record_for(&key);
        record.public_key = stored;
        let env = Env::new();
        let _ = verify_authentication(&Assertion::new(&key).response(), &env.authentication(), &record);
    }
}

#[test]
fn deeply_nested_cbor_is_refused_without_overflowing_the_stack() {
    let mut bytes = vec![0x81; 100_000];
    bytes.push(0x00);
    assert!(CoseKey::from_cbor(&bytes).is_err());
    assert!(AttestationObject::from_cbor(&bytes).is_err());
    let mut auth_data = vec![0u8; 32];
    auth_data.push(0x80); // ED
    auth_data.extend_from_slice(&[0, 0, 0, 0]);
    auth_data.extend_from_slice(&bytes);
    assert!(AuthenticatorData::from_bytes(&auth_data).is_err());
}

#[test]
fn huge_declared_cbor_lengths_are_refused_without_allocating() {
    // A byte string claiming 2^63 bytes, and an array claiming 2^32 elements.
    let bytes = [0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert!(CoseKey::from_cbor(&bytes).is_err());
    let bytes = [0x9b, 0, 0, 0, 1, 0, 0, 0, 0];
    assert!(AttestationObject::from_cbor(&bytes).is_err());
    // A text string and a map claiming 2^63 bytes and 2^32 pairs.
    let bytes = [0x7b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert!(AttestationObject::from_cbor(&bytes).is_err());
    let bytes = [0xbb, 0, 0, 0, 1, 0, 0, 0, 0];
    assert!(CoseKey::from_cbor(&bytes).is_err());
}
