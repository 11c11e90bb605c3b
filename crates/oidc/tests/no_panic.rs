//! Nothing panics on any input: arbitrary parameters, headers, tokens, JWKs and key bytes are refused or accepted,
//! never crash the caller.

use proptest::prelude::*;
use tessera_core::ClientId;
use tessera_oidc::access_token::{bearer_token, verify_access_token};
use tessera_oidc::authorize::{AuthorizeContext, requested_client_id, validate_authorization};
use tessera_oidc::client::{
    ClientAuthConfig, ClientConfig, SecretHash, redirect_uri_matches,
    validate_redirect_uri_for_registration,
};
use tessera_oidc::jose::{peek_unverified, verify_jws};
use tessera_oidc::keys::{JwkSet, MasterKey, SigningAlg, SigningKey};
use tessera_oidc::logout::{parse_logout_request, plan_logout};
use tessera_oidc::pkce::verify_pkce;
use tessera_oidc::token::{ClientAuthContext, authenticate_client, parse_token_request};
use time::OffsetDateTime;

const NAMES: [&str; 24] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "response_mode",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "id_token_hint",
    "claims",
    "request",
    "grant_type",
    "code",
    "code_verifier",
    "refresh_token",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "post_logout_redirect_uri",
    "access_token",
    "x",
];

fn client() -> ClientConfig {
    ClientConfig {
        client_id: ClientId::parse("rp").expect("id"),
        redirect_uris: vec!["https://rp.example/cb".into(), "http://127.0.0.1/cb".into()],
        post_logout_redirect_uris: vec!["https://rp.example/bye".into()],
        auth: ClientAuthConfig::ClientSecret {
            secret_hash: SecretHash::of("s"),
        },
        allowed_scopes: vec![],
        id_token_alg: SigningAlg::Es256,
    }
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        Just("rp".to_owned()),
        Just("https://rp.example/cb".to_owned()),
        Just("code".to_owned()),
        Just("openid".to_owned()),
        Just("authorization_code".to_owned()),
        Just("S256".to_owned()),
        "[a-zA-Z0-9._~-]{0,130}",
        "[A-Za-z0-9_-]{1,40}\\.[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}",
    ]
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(
        (
            prop_oneof![
                proptest::sample::select(NAMES.to_vec()).prop_map(str::to_owned),
                any::<String>()
            ],
            value(),
        ),
        0..14,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn authorize_never_panics(p in pairs()) {
        let _ = requested_client_id(&p);
        let _ = validate_authorization(&p, &client(), &AuthorizeContext { issuer: "https://op.example/t/oidc", keys: &[] });
    }

    #[test]
    fn token_request_never_panics(p in pairs(), header in proptest::option::of(prop_oneof![any::<String>(), "Basic [A-Za-z0-9+/=%]{0,60}"])) {
        if let Ok(req) = parse_token_request(&p, header.as_deref()) {
            let ctx = ClientAuthContext { issuer: "i", token_endpoint: "t", now: OffsetDateTime::UNIX_EPOCH };
            let _ = authenticate_client(&req.credentials, &client(), &ctx);
        }
    }

    #[test]
    fn logout_and_bearer_never_panic(p in pairs(), header in proptest::option::of(any::<String>())) {
        if let Ok(req) = parse_logout_request(&p) {
            let _ = plan_logout(&req, "i", &[]);
        }
        let _ = bearer_token(header.as_deref(), &p);
    }

    #[test]
    fn jws_verification_never_panics(token in value(), junk in any::<String>()) {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let keys = [key.verifying_key().clone()];
        for t in [&token, &junk] {
            let _ = verify_jws(t, &keys);
            let _ = peek_unverified(t);
            let _ = verify_access_token(t, &keys, "i", OffsetDateTime::UNIX_EPOCH);
        }
    }

    #[test]
    fn pkce_and_redirect_rules_never_panic(a in any::<String>(), b in any::<String>()) {
        let _ = verify_pkce(Some(&a), Some(&b));
        let _ = redirect_uri_matches(&a, &b);
        let _ = redirect_uri_matches("http://127.0.0.1/cb", &b);
        let _ = validate_redirect_uri_for_registration(&a);
        let _ = MasterKey::from_base64(&a);
    }

    #[test]
    fn jwks_and_key_bytes_never_panic(json in any::<String>(), n in "[A-Za-z0-9_-]{0,400}", bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = JwkSet::from_json(&json).map(|s| s.verifying_keys());
        let doc = format!(r#"{{"keys":[{{"kty":"RSA","n":"{n}","e":"{n}"}},{{"kty":"EC","crv":"P-256","x":"{n}","y":"{n}"}}]}}"#);
        let _ = JwkSet::from_json(&doc).map(|s| s.verifying_keys());
        let _ = SigningKey::from_pkcs8(SigningAlg::Rs256, &bytes);
        let _ = SigningKey::from_pkcs8(SigningAlg::Es256, &bytes);
    }
}
