//! COSE credential keys: every supported algorithm verifies its own signatures and refuses others', and malformed keys
//! are refused with the rule they break.

// Key-making helpers outside #[test] functions: a failure there should stop the test loudly.
#![allow(clippy::unwrap_used)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P521_SHA512_ASN1_SIGNING,
    EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, ML_DSA_44_SIGNING,
    ML_DSA_65_SIGNING, ML_DSA_87_SIGNING, PqdsaKeyPair, PqdsaSigningAlgorithm, RSA_PKCS1_SHA256,
    RSA_PSS_SHA256, RsaEncoding,
};
use ciborium::Value;
use tessera_webauthn::{CoseAlgorithm, CoseKey, CoseKeyParams, WebauthnError};

fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).unwrap();
    out
}

const MESSAGE: &[u8] = b"authenticatorData || SHA-256(clientDataJSON)";

fn ecdsa(alg: i64, crv: i64, signing: &'static EcdsaSigningAlgorithm) -> (Vec<u8>, Vec<u8>) {
    let pair = EcdsaKeyPair::generate(signing).unwrap();
    let point = pair.public_key().as_ref();
    let size = (point.len() - 1) / 2;
    let key = cbor(&Value::Map(vec![
        (int(1), int(2)),
        (int(3), int(alg)),
        (int(-1), int(crv)),
        (int(-2), Value::Bytes(point[1..=size].to_vec())),
        (int(-3), Value::Bytes(point[size + 1..].to_vec())),
    ]));
    let sig = pair
        .sign(&SystemRandom::new(), MESSAGE)
        .unwrap()
        .as_ref()
        .to_vec();
    (key, sig)
}

fn rsa(alg: i64, encoding: &'static dyn RsaEncoding) -> (Vec<u8>, Vec<u8>) {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    // PKCS#1 RSAPublicKey: SEQUENCE { INTEGER n, INTEGER e } with two-byte lengths for n.
    let der = pair.public_key().as_ref();
    let n_len = usize::from(der[6]) << 8 | usize::from(der[7]);
    let n = der[8..8 + n_len].to_vec();
    let e_len = usize::from(der[9 + n_len]);
    let e = der[10 + n_len..10 + n_len + e_len].to_vec();
    let key = cbor(&Value::Map(vec![
        (int(1), int(3)),
        (int(3), int(alg)),
        (int(-1), Value::Bytes(n)),
        (int(-2), Value::Bytes(e)),
    ]));
    let mut sig = vec![0; pair.public_modulus_len()];
    pair.sign(encoding, &SystemRandom::new(), MESSAGE, &mut sig)
        .unwrap();
    (key, sig)
}

fn ml_dsa(alg: i64, signing: &'static PqdsaSigningAlgorithm) -> (Vec<u8>, Vec<u8>) {
    let pair = PqdsaKeyPair::generate(signing).unwrap();
    let key = cbor(&Value::Map(vec![
        (int(1), int(7)),
        (int(3), int(alg)),
        (int(-1), Value::Bytes(pair.public_key().as_ref().to_vec())),
    ]));
    let mut sig = vec![0; signing.signature_len()];
    let len = pair.sign(MESSAGE, &mut sig).unwrap();
    sig.truncate(len);
    (key, sig)
}

fn ed25519(alg: i64) -> (Vec<u8>, Vec<u8>) {
    let pair = Ed25519KeyPair::generate().unwrap();
    let key = cbor(&Value::Map(vec![
        (int(1), int(1)),
        (int(3), int(alg)),
        (int(-1), int(6)),
        (int(-2), Value::Bytes(pair.public_key().as_ref().to_vec())),
    ]));
    (key, pair.sign(MESSAGE).as_ref().to_vec())
}

fn assert_verifies(expected: CoseAlgorithm, (key, sig): (Vec<u8>, Vec<u8>)) {
    let parsed = CoseKey::from_cbor(&key).unwrap();
    assert_eq!(parsed.algorithm(), expected);
    parsed.verify_signature(MESSAGE, &sig).unwrap();
    assert!(matches!(
        parsed.verify_signature(b"another message", &sig),
        Err(WebauthnError::BadSignature)
    ));
    let mut tampered = sig.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x40;
    assert!(parsed.verify_signature(MESSAGE, &tampered).is_err());
}

#[test]
fn es256_keys_verify() {
    assert_verifies(
        CoseAlgorithm::Es256,
        ecdsa(-7, 1, &ECDSA_P256_SHA256_ASN1_SIGNING),
    );
}

#[test]
fn esp256_keys_verify() {
    assert_verifies(
        CoseAlgorithm::Esp256,
        ecdsa(-9, 1, &ECDSA_P256_SHA256_ASN1_SIGNING),
    );
}

#[test]
fn es384_keys_verify() {
    assert_verifies(
        CoseAlgorithm::Es384,
        ecdsa(-35, 2, &ECDSA_P384_SHA384_ASN1_SIGNING),
    );
}

#[test]
fn es512_keys_verify() {
    assert_verifies(
        CoseAlgorithm::Es512,
        ecdsa(-36, 3, &ECDSA_P521_SHA512_ASN1_SIGNING),
    );
}

#[test]
fn eddsa_and_ed25519_keys_verify() {
    assert_verifies(CoseAlgorithm::EdDsa, ed25519(-8));
    assert_verifies(CoseAlgorithm::Ed25519, ed25519(-19));
}

#[test]
fn rs256_keys_verify() {
    assert_verifies(CoseAlgorithm::Rs256, rsa(-257, &RSA_PKCS1_SHA256));
}

#[test]
fn ps256_keys_verify() {
    assert_verifies(CoseAlgorithm::Ps256, rsa(-37, &RSA_PSS_SHA256));
}

#[test]
fn ps256_key_refuses_a_pkcs1_signature() {
    let (key, _) = rsa(-37, &RSA_PSS_SHA256);
    let (_, pkcs1_sig) = rsa(-257, &RSA_PKCS1_SHA256);
    assert!(
        CoseKey::from_cbor(&key)
            .unwrap()
            .verify_signature(MESSAGE, &pkcs1_sig)
            .is_err()
    );
}

#[test]
fn ml_dsa_keys_verify() {
    assert_verifies(CoseAlgorithm::MlDsa44, ml_dsa(-48, &ML_DSA_44_SIGNING));
    assert_verifies(CoseAlgorithm::MlDsa65, ml_dsa(-49, &ML_DSA_65_SIGNING));
    assert_verifies(CoseAlgorithm::MlDsa87, ml_dsa(-50, &ML_DSA_87_SIGNING));
}

#[test]
fn ml_dsa_key_of_the_wrong_length_is_refused() {
    let (key, _) = ml_dsa(-48, &ML_DSA_44_SIGNING);
    let Value::Map(mut entries) = ciborium::de::from_reader::<Value, _>(key.as_slice()).unwrap()
    else {
        unreachable!()
    };
    entries[1].1 = int(-49); // an ML-DSA-44 key labelled ML-DSA-65
    let err = CoseKey::from_cbor(&cbor(&Value::Map(entries))).unwrap_err();
    assert_eq!(err.rule(), "cose-key-invalid");
}

#[test]
fn cose_key_with_trailing_bytes_is_refused() {
    let (mut key, _) = ecdsa(-7, 1, &ECDSA_P256_SHA256_ASN1_SIGNING);
    key.push(0);
    assert_eq!(
        CoseKey::from_cbor(&key).unwrap_err().rule(),
        "cose-key-invalid"
    );
}

#[test]
fn compressed_ec_point_is_refused() {
    let key = cbor(&Value::Map(vec![
        (int(1), int(2)),
        (int(3), int(-7)),
        (int(-1), int(1)),
        (int(-2), Value::Bytes(vec![1; 32])),
        (int(-3), Value::Bool(true)),
    ]));
    assert_eq!(
        CoseKey::from_cbor(&key).unwrap_err().rule(),
        "cose-key-invalid"
    );
}

#[test]
fn ed25519_key_on_another_curve_is_refused() {
    let key = cbor(&Value::Map(vec![
        (int(1), int(1)),
        (int(3), int(-8)),
        (int(-1), int(4)), // X25519
        (int(-2), Value::Bytes(vec![9; 32])),
    ]));
    assert_eq!(
        CoseKey::from_cbor(&key).unwrap_err().rule(),
        "curve-mismatch"
    );
}

#[test]
fn rsa_key_with_even_exponent_is_refused() {
    let key = cbor(&Value::Map(vec![
        (int(1), int(3)),
        (int(3), int(-257)),
        (int(-1), Value::Bytes(vec![0xC5; 256])),
        (int(-2), Value::Bytes(vec![1, 0, 0])),
    ]));
    assert_eq!(
        CoseKey::from_cbor(&key).unwrap_err().rule(),
        "cose-key-invalid"
    );
}

#[test]
fn rsa_key_over_8192_bits_is_refused() {
    let key = cbor(&Value::Map(vec![
        (int(1), int(3)),
        (int(3), int(-257)),
        (int(-1), Value::Bytes(vec![0xC5; 1025])),
        (int(-2), Value::Bytes(vec![1, 0, 1])),
    ]));
    assert_eq!(CoseKey::from_cbor(&key).unwrap_err().rule(), "rsa-key-size");
}

#[test]
fn key_built_from_params_equals_the_parsed_one() {
    let (key, sig) = ecdsa(-7, 1, &ECDSA_P256_SHA256_ASN1_SIGNING);
    let parsed = CoseKey::from_cbor(&key).unwrap();
    let rebuilt = CoseKey::from_params(CoseAlgorithm::Es256, parsed.params().clone()).unwrap();
    assert_eq!(rebuilt, parsed);
    rebuilt.verify_signature(MESSAGE, &sig).unwrap();
    assert!(matches!(parsed.params(), CoseKeyParams::Ec2 { crv: 1, .. }));
    assert_eq!(parsed.ec_uncompressed_point().unwrap().len(), 65);
}

#[test]
fn algorithm_ids_round_trip() {
    for alg in CoseAlgorithm::ALL {
        assert_eq!(CoseAlgorithm::from_id(alg.id()), Some(*alg));
    }
    assert_eq!(CoseAlgorithm::from_id(-47), None);
}
