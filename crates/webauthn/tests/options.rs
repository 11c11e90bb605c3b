//! The WebAuthn L3 JSON serialization: options Tessera sends, and responses as browsers send them.

use serde_json::json;
use tessera_webauthn::json::{
    AttestationConveyancePreference, AuthenticatorTransport, PublicKeyCredentialDescriptor,
    PublicKeyCredentialHint, ResidentKeyRequirement, UserEntity, UserVerificationRequirement,
};
use tessera_webauthn::{
    CoseAlgorithm, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON,
    RegistrationResponseJSON, generate_challenge,
};

fn user() -> UserEntity {
    UserEntity {
        id: b"user-1".to_vec().into(),
        name: "ada@example.com".into(),
        display_name: "Ada".into(),
    }
}

#[test]
fn creation_options_serialize_as_the_l3_json_type() {
    let options = PublicKeyCredentialCreationOptionsJSON::builder(
        "example.com",
        "Example",
        user(),
        vec![1, 2, 3],
    )
    .algorithms(&[CoseAlgorithm::Es256, CoseAlgorithm::Rs256])
    .exclude_credentials(vec![PublicKeyCredentialDescriptor::new(
        b"cred".to_vec(),
        vec![
            AuthenticatorTransport::Usb,
            AuthenticatorTransport::Other("future".into()),
        ],
    )])
    .resident_key(ResidentKeyRequirement::Required)
    .attestation(AttestationConveyancePreference::Direct)
    .attestation_formats(vec!["packed".into()])
    .hints(vec![PublicKeyCredentialHint::SecurityKey])
    .timeout_ms(Some(60_000))
    .build();
    let value = serde_json::to_value(&options).unwrap();
    assert_eq!(
        value,
        json!({
            "rp": {"id": "example.com", "name": "Example"},
            "user": {"id": "dXNlci0x", "name": "ada@example.com", "displayName": "Ada"},
            "challenge": "AQID",
            "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
            "timeout": 60000,
            "excludeCredentials": [{"id": "Y3JlZA", "type": "public-key", "transports": ["usb", "future"]}],
            "authenticatorSelection": {"residentKey": "required", "requireResidentKey": true, "userVerification": "required"},
            "hints": ["security-key"],
            "attestation": "direct",
            "attestationFormats": ["packed"],
            "extensions": {"credProps": true}
        })
    );
    assert_eq!(options.offered_algorithms(), vec![-7, -257]);
    let back: PublicKeyCredentialCreationOptionsJSON = serde_json::from_value(value).unwrap();
    assert_eq!(back, options);
}

#[test]
fn creation_options_offer_the_default_algorithms() {
    let options =
        PublicKeyCredentialCreationOptionsJSON::builder("example.com", "Example", user(), vec![9])
            .build();
    let algs = options.offered_algorithms();
    assert_eq!(&algs[..5], &[-7, -8, -35, -257, -37]);
    assert!(algs.contains(&-48) && algs.contains(&-49) && algs.contains(&-50));
}

#[test]
fn request_options_serialize_as_the_l3_json_type() {
    let options = PublicKeyCredentialRequestOptionsJSON::builder("example.com", vec![0xff, 0xfe])
        .allow_credentials(vec![PublicKeyCredentialDescriptor::new(
            b"cred".to_vec(),
            vec![
                AuthenticatorTransport::Hybrid,
                AuthenticatorTransport::Internal,
            ],
        )])
        .user_verification(UserVerificationRequirement::Preferred)
        .appid("https://example.com/appid.json")
        .build();
    assert_eq!(
        serde_json::to_value(&options).unwrap(),
        json!({
            "challenge": "__4",
            "timeout": 300000,
            "rpId": "example.com",
            "allowCredentials": [{"id": "Y3JlZA", "type": "public-key", "transports": ["hybrid", "internal"]}],
            "userVerification": "preferred",
            "extensions": {"appid": "https://example.com/appid.json"}
        })
    );
}

#[test]
fn discoverable_request_options_omit_allow_credentials() {
    let options = PublicKeyCredentialRequestOptionsJSON::builder("example.com", vec![1]).build();
    let value = serde_json::to_value(&options).unwrap();
    assert!(value.get("allowCredentials").is_none());
    assert_eq!(value["userVerification"], "required");
}

#[test]
fn registration_response_parsing_tolerates_missing_optional_fields() {
    let response = RegistrationResponseJSON::from_json(
        br#"{"id":"AAEC","rawId":"AAEC","type":"public-key",
            "response":{"clientDataJSON":"e30","attestationObject":"oA","transports":null,"publicKey":null}}"#,
    )
    .unwrap();
    assert!(response.response.transports.is_empty());
    assert!(response.response.public_key.is_none());
    assert!(response.authenticator_attachment.is_none());
    assert!(response.client_extension_results.is_null());
    assert_eq!(response.raw_id.as_slice(), &[0, 1, 2]);
}

#[test]
fn registration_response_parsing_keeps_unknown_transports() {
    let response = RegistrationResponseJSON::from_json(
        br#"{"id":"AAEC","rawId":"AAEC","type":"public-key","authenticatorAttachment":"cross-platform",
            "response":{"clientDataJSON":"e30","attestationObject":"oA==","transports":["usb","quantum"]},
            "clientExtensionResults":{"credProps":{"rk":false}}}"#,
    )
    .unwrap();
    assert_eq!(
        response.response.transports,
        vec![
            AuthenticatorTransport::Usb,
            AuthenticatorTransport::Other("quantum".into())
        ]
    );
    assert_eq!(
        response.attachment(),
        Some(tessera_webauthn::json::AuthenticatorAttachment::CrossPlatform)
    );
}

#[test]
fn response_parsing_refuses_oversized_input() {
    let big = vec![b' '; tessera_webauthn::json::MAX_RESPONSE_JSON_LEN + 1];
    assert_eq!(
        RegistrationResponseJSON::from_json(&big)
            .unwrap_err()
            .rule(),
        "input-too-large"
    );
}

#[test]
fn challenges_are_32_random_bytes() {
    let a = generate_challenge().unwrap();
    let b = generate_challenge().unwrap();
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
}

#[test]
fn policy_deserializes_with_defaults() {
    let policy: tessera_webauthn::AuthenticatorPolicy =
        serde_json::from_value(json!({"synced_passkeys": "refuse", "aaguid_deny": ["cb69481e-8ff7-4039-93ec-0a2729a154a8"]}))
            .unwrap();
    assert!(policy.requires_user_verification());
    assert_eq!(
        policy.synced_passkeys,
        tessera_webauthn::SyncedPasskeys::Refuse
    );
    assert_eq!(
        policy.aaguid_deny[0].to_string(),
        "cb69481e-8ff7-4039-93ec-0a2729a154a8"
    );
    assert_eq!(
        policy.sign_count,
        tessera_webauthn::SignCountPolicy::RejectClone
    );
    let round: tessera_webauthn::AuthenticatorPolicy =
        serde_json::from_value(serde_json::to_value(&policy).unwrap()).unwrap();
    assert_eq!(round, policy);
}

#[test]
fn policy_refuses_malformed_aaguid() {
    let result: Result<tessera_webauthn::AuthenticatorPolicy, _> =
        serde_json::from_value(json!({"aaguid_allow": ["not-a-uuid"]}));
    assert!(result.is_err());
}

#[test]
fn every_error_has_a_distinct_rule_name() {
    use tessera_webauthn::WebauthnError as E;
    let errors = [
        E::ChallengeMismatch,
        E::OriginNotAllowed {
            origin: String::new(),
        },
        E::RpIdHashMismatch,
        E::UserPresenceMissing,
        E::UserVerificationMissing,
        E::BadSignature,
        E::SignCountRegressed {
            stored: 1,
            received: 1,
        },
        E::BackupStateInconsistent,
        E::BackupEligibilityChanged,
        E::CredentialAlreadyRegistered,
    ];
    let mut names: Vec<_> = errors.iter().map(E::rule).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), errors.len());
    assert!(errors.iter().all(|e| !e.to_string().is_empty()));
}

#[test]
fn base64url_decoding_accepts_padding_and_the_standard_alphabet() {
    use tessera_webauthn::base64url::{decode, encode};
    let bytes = [0xfb, 0xff, 0xbf, 0x01];
    assert_eq!(encode(&bytes), "-_-_AQ");
    assert_eq!(decode("-_-_AQ").unwrap(), bytes);
    assert_eq!(decode("-_-_AQ==").unwrap(), bytes);
    assert_eq!(decode("+/+/AQ").unwrap(), bytes);
    assert!(decode("-_-_A").is_err());
    assert!(decode("a b").is_err());
}

#[test]
fn creation_options_follow_the_tenant_policy() {
    let policy = tessera_webauthn::AuthenticatorPolicy {
        algorithms: vec![-8, -7, -65535, 12345],
        attestation: tessera_webauthn::AttestationPolicy::Trusted,
        user_verification: UserVerificationRequirement::Preferred,
        ..Default::default()
    };
    let options =
        PublicKeyCredentialCreationOptionsJSON::builder("example.com", "Example", user(), vec![1])
            .policy(&policy)
            .build();
    assert_eq!(options.offered_algorithms(), vec![-8, -7]);
    assert_eq!(options.attestation, AttestationConveyancePreference::Direct);
    assert_eq!(
        options.authenticator_selection.unwrap().user_verification,
        UserVerificationRequirement::Preferred
    );
    let request = PublicKeyCredentialRequestOptionsJSON::builder("example.com", vec![1])
        .policy(&policy)
        .build();
    assert_eq!(
        request.user_verification,
        UserVerificationRequirement::Preferred
    );
}
