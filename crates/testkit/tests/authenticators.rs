//! The authenticators' output, checked by decoding it independently (the relying-party checks
//! themselves are `tessera-webauthn`'s; here we check that the authenticators say what they should).

// Test code: a failed unwrap is a failed test (helpers outside #[test] need this too).
#![allow(clippy::unwrap_used)]

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use ciborium::Value;
use serde_json::Value as Json;
use tessera_testkit::{
    Attestation, Credential, KeyAlg, MaliciousAuthenticator, Overrides, SignCounter,
    SoftAuthenticator, b64url, b64url_decode,
};

const ORIGIN: &str = "https://login.example.com";
const RP_ID: &str = "example.com";

fn creation_options(algs: &[i64]) -> String {
    let params: Vec<Json> = algs
        .iter()
        .map(|a| serde_json::json!({"type": "public-key", "alg": a}))
        .collect();
    serde_json::json!({
        "rp": {"id": RP_ID, "name": "Example"},
        "user": {"id": b64url(b"user-1"), "name": "alice", "displayName": "Alice"},
        "challenge": b64url(b"registration-challenge-0123456789"),
        "pubKeyCredParams": params,
        "authenticatorSelection": {"residentKey": "required", "userVerification": "required"},
        "attestation": "none",
    })
    .to_string()
}

fn request_options(allow: &[Vec<u8>]) -> String {
    let allow: Vec<Json> = allow
        .iter()
        .map(|id| serde_json::json!({"type": "public-key", "id": b64url(id)}))
        .collect();
    serde_json::json!({
        "rpId": RP_ID,
        "challenge": b64url(b"authentication-challenge-abcdef"),
        "allowCredentials": allow,
        "userVerification": "required",
    })
    .to_string()
}

fn field(json: &Json, path: &[&str]) -> Vec<u8> {
    let mut v = json;
    for p in path {
        v = &v[*p];
    }
    b64url_decode(v.as_str().unwrap()).unwrap()
}

fn attestation_object(response: &Json) -> (String, Value, Vec<u8>) {
    let bytes = field(response, &["response", "attestationObject"]);
    let value: Value = ciborium::from_reader(bytes.as_slice()).unwrap();
    let map = value.as_map().unwrap();
    let get = |k: &str| {
        map.iter()
            .find(|(key, _)| key.as_text() == Some(k))
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    (
        get("fmt").as_text().unwrap().to_owned(),
        get("attStmt"),
        get("authData").as_bytes().unwrap().clone(),
    )
}

fn client_data(response: &Json) -> Json {
    serde_json::from_slice(&field(response, &["response", "clientDataJSON"])).unwrap()
}

fn verify_es256(cose: &[u8], message: &[u8], sig: &[u8]) -> bool {
    let key: Value = ciborium::from_reader(cose).unwrap();
    let map = key.as_map().unwrap();
    let coord = |label: i64| {
        map.iter()
            .find(|(k, _)| k.as_integer() == Some(label.into()))
            .unwrap()
            .1
            .as_bytes()
            .unwrap()
            .clone()
    };
    let mut point = vec![4];
    point.extend(coord(-2));
    point.extend(coord(-3));
    UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, point)
        .verify(message, sig)
        .is_ok()
}

#[test]
fn honest_registration_has_the_webauthn_json_shape() {
    let (json, credential) = MaliciousAuthenticator::new()
        .register(&creation_options(&[-7]), ORIGIN)
        .unwrap();
    let response: Json = serde_json::from_str(&json).unwrap();
    assert_eq!(response["type"], "public-key");
    assert_eq!(response["id"], response["rawId"]);
    assert_eq!(field(&response, &["rawId"]), credential.id);
    let cd = client_data(&response);
    assert_eq!(cd["type"], "webauthn.create");
    assert_eq!(cd["origin"], ORIGIN);
    assert_eq!(cd["crossOrigin"], false);
    assert_eq!(
        cd["challenge"],
        b64url(b"registration-challenge-0123456789")
    );
    let (fmt, att_stmt, auth_data) = attestation_object(&response);
    assert_eq!(fmt, "none");
    assert_eq!(att_stmt, Value::Map(vec![]));
    assert_eq!(&auth_data[..32], digest(&SHA256, RP_ID.as_bytes()).as_ref());
    assert_eq!(auth_data[32], 0x01 | 0x04 | 0x40);
    assert_eq!(&auth_data[33..37], &[0, 0, 0, 0]);
    let id_len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
    assert_eq!(&auth_data[55..55 + id_len], credential.id.as_slice());
    assert_eq!(
        &auth_data[55 + id_len..],
        credential.cose_public_key().unwrap().as_slice()
    );
    assert_eq!(credential.user_handle, b"user-1");
    assert_eq!(credential.rp_id, RP_ID);
}

#[test]
fn honest_assertion_is_signed_over_auth_data_and_client_data_hash() {
    let authenticator = MaliciousAuthenticator::new();
    let (_, credential) = authenticator
        .register(&creation_options(&[-7]), ORIGIN)
        .unwrap();
    let json = authenticator
        .authenticate(&request_options(&[]), ORIGIN, &credential)
        .unwrap();
    let response: Json = serde_json::from_str(&json).unwrap();
    let auth_data = field(&response, &["response", "authenticatorData"]);
    let cdj = field(&response, &["response", "clientDataJSON"]);
    let mut message = auth_data.clone();
    message.extend_from_slice(digest(&SHA256, &cdj).as_ref());
    let sig = field(&response, &["response", "signature"]);
    assert!(verify_es256(
        &credential.cose_public_key().unwrap(),
        &message,
        &sig
    ));
    assert_eq!(field(&response, &["response", "userHandle"]), b"user-1");
    assert_eq!(&auth_data[33..37], &[0, 0, 0, 1], "the counter increments");
    assert_eq!(credential.sign_count(), 1);
    assert_eq!(client_data(&response)["type"], "webauthn.get");
}

#[test]
fn first_supported_offered_algorithm_is_chosen() {
    for (offered, expected) in [
        (vec![-999, -8, -7], KeyAlg::Ed25519),
        (vec![-257], KeyAlg::Rs256),
        (vec![-35], KeyAlg::Es384),
        (vec![-37], KeyAlg::Ps256),
    ] {
        let (json, credential) = MaliciousAuthenticator::new()
            .register(&creation_options(&offered), ORIGIN)
            .unwrap();
        assert_eq!(credential.alg(), expected);
        let response: Json = serde_json::from_str(&json).unwrap();
        assert_eq!(
            response["response"]["publicKeyAlgorithm"],
            expected.cose_alg()
        );
    }
}

#[test]
fn no_supported_algorithm_is_refused() {
    let result = MaliciousAuthenticator::new().register(&creation_options(&[-999]), ORIGIN);
    assert!(matches!(
        result,
        Err(tessera_testkit::TestkitError::NoSupportedAlgorithm)
    ));
}

#[test]
fn packed_self_attestation_signs_with_the_credential_key() {
    let (json, credential) = MaliciousAuthenticator::new()
        .with_attestation(Attestation::PackedSelf)
        .register(&creation_options(&[-7]), ORIGIN)
        .unwrap();
    let response: Json = serde_json::from_str(&json).unwrap();
    let (fmt, att_stmt, auth_data) = attestation_object(&response);
    assert_eq!(fmt, "packed");
    let map = att_stmt.as_map().unwrap();
    let sig = map[1].1.as_bytes().unwrap();
    assert_eq!(map[0].1.as_integer(), Some((-7).into()));
    let mut message = auth_data;
    message.extend_from_slice(
        digest(&SHA256, &field(&response, &["response", "clientDataJSON"])).as_ref(),
    );
    assert!(verify_es256(
        &credential.cose_public_key().unwrap(),
        &message,
        sig
    ));
}

#[test]
fn overridden_client_data_fields_appear_in_client_data_json() {
    let authenticator = MaliciousAuthenticator::new().with_overrides(Overrides {
        client_data_type: Some("webauthn.get".into()),
        origin: Some("https://evil.example".into()),
        challenge: Some("AAAA".into()),
        cross_origin: Some(true),
        top_origin: Some("https://top.example".into()),
        ..Overrides::default()
    });
    let (json, _) = authenticator
        .register(&creation_options(&[-7]), ORIGIN)
        .unwrap();
    let cd = client_data(&serde_json::from_str(&json).unwrap());
    assert_eq!(cd["type"], "webauthn.get");
    assert_eq!(cd["origin"], "https://evil.example");
    assert_eq!(cd["challenge"], "AAAA");
    assert_eq!(cd["crossOrigin"], true);
    assert_eq!(cd["topOrigin"], "https://top.example");
}

#[test]
fn overridden_auth_data_fields_appear_in_auth_data() {
    let mut authenticator = MaliciousAuthenticator::new();
    authenticator.overrides.rp_id = Some("evil.example".into());
    authenticator.overrides.flags.up = Some(false);
    authenticator.overrides.flags.uv = Some(false);
    authenticator.overrides.flags.bs = Some(true);
    authenticator.overrides.sign_count = Some(7);
    authenticator.overrides.extra_auth_data = vec![0xAA, 0xBB];
    authenticator.overrides.corrupt_signature = true;
    let credential = Credential::generate(KeyAlg::Es256, RP_ID, b"u").unwrap();
    let json = authenticator
        .authenticate(
            &request_options(std::slice::from_ref(&credential.id)),
            ORIGIN,
            &credential,
        )
        .unwrap();
    let response: Json = serde_json::from_str(&json).unwrap();
    let auth_data = field(&response, &["response", "authenticatorData"]);
    assert_eq!(&auth_data[..32], digest(&SHA256, b"evil.example").as_ref());
    assert_eq!(auth_data[32], 0x10);
    assert_eq!(&auth_data[33..37], &[0, 0, 0, 7]);
    assert_eq!(&auth_data[37..], &[0xAA, 0xBB]);
    let mut message = auth_data.clone();
    message.extend_from_slice(
        digest(&SHA256, &field(&response, &["response", "clientDataJSON"])).as_ref(),
    );
    let sig = field(&response, &["response", "signature"]);
    assert!(!verify_es256(
        &credential.cose_public_key().unwrap(),
        &message,
        &sig
    ));
}

#[test]
fn user_handle_can_be_omitted_or_replaced() {
    let credential = Credential::generate(KeyAlg::Ed25519, RP_ID, b"owner").unwrap();
    let mut authenticator = MaliciousAuthenticator::new();
    authenticator.overrides.user_handle = Some(None);
    let json = authenticator
        .authenticate(&request_options(&[]), ORIGIN, &credential)
        .unwrap();
    assert!(
        serde_json::from_str::<Json>(&json).unwrap()["response"]
            .get("userHandle")
            .is_none()
    );
    authenticator.overrides.user_handle = Some(Some(b"intruder".to_vec()));
    let json = authenticator
        .authenticate(&request_options(&[]), ORIGIN, &credential)
        .unwrap();
    let response: Json = serde_json::from_str(&json).unwrap();
    assert_eq!(field(&response, &["response", "userHandle"]), b"intruder");
}

#[test]
fn zero_counter_stays_zero() {
    let mut authenticator = MaliciousAuthenticator::new();
    authenticator.sign_counter = SignCounter::Zero;
    let credential = Credential::generate(KeyAlg::Es256, RP_ID, b"u").unwrap();
    for _ in 0..2 {
        let json = authenticator
            .authenticate(&request_options(&[]), ORIGIN, &credential)
            .unwrap();
        let auth_data = field(
            &serde_json::from_str(&json).unwrap(),
            &["response", "authenticatorData"],
        );
        assert_eq!(&auth_data[33..37], &[0, 0, 0, 0]);
    }
}

#[test]
fn options_under_public_key_are_accepted() {
    let wrapped = format!("{{\"publicKey\": {}}}", creation_options(&[-7]));
    assert!(
        MaliciousAuthenticator::new()
            .register(&wrapped, ORIGIN)
            .is_ok()
    );
}

#[test]
fn malformed_options_are_errors_not_panics() {
    let authenticator = MaliciousAuthenticator::new();
    for bad in [
        "",
        "[]",
        "{}",
        "{\"challenge\": 5}",
        "{\"challenge\": \"!!\", \"rp\": {}, \"user\": {\"id\": \"AA\"}}",
    ] {
        assert!(authenticator.register(bad, ORIGIN).is_err(), "{bad}");
    }
    let credential = Credential::generate(KeyAlg::Es256, RP_ID, b"u").unwrap();
    assert!(
        authenticator
            .authenticate("{}", ORIGIN, &credential)
            .is_err()
    );
    assert!(
        authenticator
            .authenticate("{\"challenge\": \"AAAA\"}", "not a url", &credential)
            .is_err()
    );
}

#[test]
fn soft_authenticator_registers_and_signs_in_with_a_discoverable_credential() {
    let soft = SoftAuthenticator::new();
    let json = soft.register(&creation_options(&[-7, -8]), ORIGIN).unwrap();
    let registration: Json = serde_json::from_str(&json).unwrap();
    let (fmt, _, auth_data) = attestation_object(&registration);
    assert_eq!(fmt, "none");
    assert_eq!(auth_data[32] & 0x45, 0x45, "UP, UV and AT set");
    assert_eq!(client_data(&registration)["origin"], ORIGIN);
    assert_eq!(
        soft.credential_ids(),
        vec![field(&registration, &["rawId"])]
    );

    let json = soft.authenticate(&request_options(&[]), ORIGIN).unwrap();
    let assertion: Json = serde_json::from_str(&json).unwrap();
    assert_eq!(assertion["rawId"], registration["rawId"]);
    assert_eq!(field(&assertion, &["response", "userHandle"]), b"user-1");
    let id_len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
    let cose = &auth_data[55 + id_len..];
    let mut message = field(&assertion, &["response", "authenticatorData"]);
    message.extend_from_slice(
        digest(&SHA256, &field(&assertion, &["response", "clientDataJSON"])).as_ref(),
    );
    assert!(verify_es256(
        cose,
        &message,
        &field(&assertion, &["response", "signature"])
    ));
}

#[test]
fn soft_authenticator_without_user_verification_leaves_uv_clear() {
    let soft = SoftAuthenticator::without_user_verification();
    let options = creation_options(&[-7]).replace("\"required\"}", "\"discouraged\"}");
    let json = soft.register(&options, ORIGIN).unwrap();
    let (_, _, auth_data) = attestation_object(&serde_json::from_str(&json).unwrap());
    assert_eq!(auth_data[32] & 0x04, 0);
}

#[test]
fn soft_authenticator_refuses_an_origin_outside_the_rp_id() {
    let soft = SoftAuthenticator::new();
    assert!(
        soft.register(&creation_options(&[-7]), "https://evil.example")
            .is_err()
    );
}

#[test]
fn packed_basic_attestation_is_signed_by_the_certificate_key() {
    let ca = tessera_testkit::TestCa::new("Tessera Test Root").unwrap();
    let cert = std::sync::Arc::new(ca.attestation_cert(Some([7; 16])).unwrap());
    let mut authenticator =
        MaliciousAuthenticator::new().with_attestation(Attestation::PackedBasic(cert.clone()));
    authenticator.aaguid = [7; 16];
    let (json, _) = authenticator
        .register(&creation_options(&[-7]), ORIGIN)
        .unwrap();
    let response: Json = serde_json::from_str(&json).unwrap();
    let (fmt, att_stmt, auth_data) = attestation_object(&response);
    assert_eq!(fmt, "packed");
    let map = att_stmt.as_map().unwrap();
    let x5c = map[2].1.as_array().unwrap();
    assert_eq!(x5c[0].as_bytes().unwrap().as_slice(), cert.der());
    let mut message = auth_data;
    message.extend_from_slice(
        digest(&SHA256, &field(&response, &["response", "clientDataJSON"])).as_ref(),
    );
    let sig = map[1].1.as_bytes().unwrap();
    assert!(
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, cert.public_key())
            .verify(&message, sig)
            .is_ok()
    );
    assert!(ca.root_pem().starts_with("-----BEGIN CERTIFICATE-----"));
}

#[test]
fn fido_u2f_attestation_signs_the_u2f_registration_data() {
    let ca = tessera_testkit::TestCa::new("Tessera U2F Root").unwrap();
    let cert = std::sync::Arc::new(ca.attestation_cert(None).unwrap());
    let authenticator =
        MaliciousAuthenticator::new().with_attestation(Attestation::FidoU2f(cert.clone()));
    let (json, credential) = authenticator
        .register(&creation_options(&[-7]), ORIGIN)
        .unwrap();
    let response: Json = serde_json::from_str(&json).unwrap();
    let (fmt, att_stmt, auth_data) = attestation_object(&response);
    assert_eq!(fmt, "fido-u2f");
    let mut message = vec![0];
    message.extend_from_slice(&auth_data[..32]);
    message.extend_from_slice(
        digest(&SHA256, &field(&response, &["response", "clientDataJSON"])).as_ref(),
    );
    message.extend_from_slice(&credential.id);
    message.extend_from_slice(&credential.key().uncompressed_point().unwrap());
    let sig = att_stmt.as_map().unwrap()[0].1.as_bytes().unwrap().clone();
    assert!(
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, cert.public_key())
            .verify(&message, &sig)
            .is_ok()
    );
}

#[test]
fn authenticators_and_credentials_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<MaliciousAuthenticator>();
    shareable::<Credential>();
    shareable::<SoftAuthenticator>();
    shareable::<tessera_testkit::TestCa>();
}

#[test]
fn mds_blob_is_a_compact_jws_with_the_entries() {
    let ca = tessera_testkit::TestCa::new("MDS root").unwrap();
    let blob = ca
        .mds_blob(
            3,
            "2099-12-31",
            &[tessera_testkit::MdsEntry {
                aaguid: [0xAB; 16],
                description: "Model".into(),
                attestation_roots: vec![ca.root_der().to_vec()],
                status_reports: vec![("FIDO_CERTIFIED_L2".into(), "2025-01-02".into())],
            }],
        )
        .unwrap();
    let parts: Vec<&str> = blob.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Json = serde_json::from_slice(&b64url_decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["x5c"].as_array().unwrap().len(), 1);
    let payload: Json = serde_json::from_slice(&b64url_decode(parts[1]).unwrap()).unwrap();
    assert_eq!(payload["no"], 3);
    assert_eq!(payload["nextUpdate"], "2099-12-31");
    assert_eq!(
        payload["entries"][0]["aaguid"],
        "abababab-abab-abab-abab-abababababab"
    );
    assert_eq!(
        payload["entries"][0]["statusReports"][0]["status"],
        "FIDO_CERTIFIED_L2"
    );
    assert_eq!(
        b64url_decode(parts[2]).unwrap().len(),
        64,
        "ES256 JWS signatures are r || s"
    );
}
