//! The broker as a relying party, against a provider that misbehaves on purpose. Tests are named after the
//! OpenID Foundation's RP certification modules for a code-flow RP (`oidcc-client-basic-certification-test-plan`),
//! one case each, plus RFC 9207 mix-up, `azp` and expiry cases.

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use common::*;
use serde_json::{Value, json};
use tessera_broker::config::UpstreamClientAuth;
use tessera_broker::metadata::{JwksError, MetadataError, ProviderKeys};
use tessera_broker::upstream::{
    AuthorizationOutcome, AuthorizationResponseError, IdTokenError, TokenResponseError,
    UserinfoError, token_request, validate_authorization_response, validate_id_token,
    validate_token_response, validate_userinfo,
};
use tessera_core::Secret;
use tessera_oidc::pkce::s256_challenge;
use tessera_oidc::{ErrorCode, ResponseMode, SigningAlg, SigningKey};
use time::Duration;

fn query_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .expect("url")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn check(
    provider: &TestProvider,
    token: &str,
    keys: &ProviderKeys,
) -> Result<tessera_broker::ValidatedIdToken, IdTokenError> {
    let redirect = provider.start();
    validate_id_token(token, keys, &expectations(&redirect.transaction))
}

// ---------------------------------------------------------------------------------------------------------------
// Authorization request and response

#[test]
fn rp_response_type_code() {
    let provider = TestProvider::new();
    let redirect = provider.start();
    let query = query_of(&redirect.url);
    assert!(redirect.url.starts_with(&format!("{ISSUER}/authorize?")));
    assert_eq!(param(&query, "response_type"), Some("code"));
    assert_eq!(param(&query, "client_id"), Some(CLIENT_ID));
    assert_eq!(param(&query, "redirect_uri"), Some(REDIRECT_URI));
    assert_eq!(param(&query, "scope"), Some("openid profile email"));
    assert_eq!(param(&query, "response_mode"), Some("form_post"));
    assert_eq!(param(&query, "code_challenge_method"), Some("S256"));
    let tx = &redirect.transaction;
    assert_eq!(param(&query, "state"), Some(tx.state.as_str()));
    assert_eq!(param(&query, "nonce"), Some(tx.nonce.as_str()));
    assert_eq!(
        param(&query, "code_challenge"),
        Some(s256_challenge(tx.code_verifier.expose()).as_str())
    );
    assert_eq!(
        tx.code_verifier.expose().len(),
        43,
        "32 random bytes, base64url"
    );
    assert_eq!(param(&query, "prompt"), None);

    let outcome = validate_authorization_response(
        &pairs(&[("code", "the-code"), ("state", &tx.state), ("iss", ISSUER)]),
        tx,
    )
    .expect("valid response");
    assert_eq!(outcome, AuthorizationOutcome::Code(Secret::new("the-code")));
}

#[test]
fn rp_authorization_request_keeps_the_endpoints_query_and_encodes_values() {
    let provider = TestProvider::new();
    let mut doc = provider.discovery();
    doc.insert(
        "authorization_endpoint".into(),
        json!(format!("{ISSUER}/authorize?tenant=a%20b")),
    );
    let metadata = validate(&provider.config, &doc).expect("metadata");
    let redirect = tessera_broker::upstream::authorization_request(
        &provider.config,
        &metadata,
        REDIRECT_URI,
        &randomness(),
        tessera_broker::upstream::UpstreamOptions {
            prompt_login: true,
            login_hint: Some("ada&admin=1"),
            ..Default::default()
        },
        NOW,
    )
    .expect("request");
    let query = query_of(&redirect.url);
    assert_eq!(param(&query, "tenant"), Some("a b"));
    assert_eq!(param(&query, "prompt"), Some("login"));
    assert_eq!(param(&query, "login_hint"), Some("ada&admin=1"));
    assert_eq!(
        param(&query, "admin"),
        None,
        "the hint could not inject a parameter"
    );
}

#[test]
fn rp_query_response_mode_sends_no_response_mode() {
    let mut provider = TestProvider::new();
    provider.config.response_mode = ResponseMode::Query;
    let query = query_of(&provider.start().url);
    assert_eq!(param(&query, "response_mode"), None);
}

#[test]
fn rp_state_mismatch_refused() {
    let provider = TestProvider::new();
    let tx = provider.start().transaction;
    assert_eq!(
        validate_authorization_response(
            &pairs(&[("code", "c"), ("state", "forged"), ("iss", ISSUER)]),
            &tx
        ),
        Err(AuthorizationResponseError::StateMismatch)
    );
    assert_eq!(
        validate_authorization_response(&pairs(&[("code", "c"), ("iss", ISSUER)]), &tx),
        Err(AuthorizationResponseError::StateMissing)
    );
    assert_eq!(
        validate_authorization_response(
            &pairs(&[
                ("code", "c"),
                ("code", "d"),
                ("state", &tx.state),
                ("iss", ISSUER)
            ]),
            &tx
        ),
        Err(AuthorizationResponseError::DuplicateParameter { name: "code" })
    );
}

#[test]
fn rp_mix_up_iss_parameter() {
    // RFC 9207 §2.4: the response's iss must be the issuer the transaction was sent to.
    let provider = TestProvider::new();
    let tx = provider.start().transaction;
    let other = "https://attacker.example/oidc";
    assert_eq!(
        validate_authorization_response(
            &pairs(&[("code", "c"), ("state", &tx.state), ("iss", other)]),
            &tx
        ),
        Err(AuthorizationResponseError::IssMismatch {
            expected: ISSUER.into(),
            found: other.into()
        })
    );
    // The provider advertises the parameter, so a response without it is refused.
    assert_eq!(
        validate_authorization_response(&pairs(&[("code", "c"), ("state", &tx.state)]), &tx),
        Err(AuthorizationResponseError::IssMissing)
    );
    // A provider that does not advertise it may omit it; a wrong one is still refused.
    let mut doc = provider.discovery();
    doc.remove("authorization_response_iss_parameter_supported");
    let metadata = validate(&provider.config, &doc).expect("metadata");
    let redirect = tessera_broker::upstream::authorization_request(
        &provider.config,
        &metadata,
        REDIRECT_URI,
        &randomness(),
        Default::default(),
        NOW,
    )
    .expect("request");
    let tx = redirect.transaction;
    assert!(matches!(
        validate_authorization_response(&pairs(&[("code", "c"), ("state", &tx.state)]), &tx),
        Ok(AuthorizationOutcome::Code(_))
    ));
    assert!(matches!(
        validate_authorization_response(
            &pairs(&[("code", "c"), ("state", &tx.state), ("iss", other)]),
            &tx
        ),
        Err(AuthorizationResponseError::IssMismatch { .. })
    ));
}

#[test]
fn rp_provider_errors_reach_the_app_as_oauth_errors() {
    let provider = TestProvider::new();
    let tx = provider.start().transaction;
    let denied = |error: &str, description: &str| match validate_authorization_response(
        &pairs(&[
            ("error", error),
            ("error_description", description),
            ("state", &tx.state),
            ("iss", ISSUER),
        ]),
        &tx,
    ) {
        Ok(AuthorizationOutcome::Denied(denial)) => denial,
        other => panic!("expected a denial, got {other:?}"),
    };
    let cancelled = denied("access_denied", "The user cancelled\r\nthe passkey prompt");
    assert_eq!(cancelled.app_error, ErrorCode::AccessDenied);
    assert_eq!(
        cancelled.app_description, "The user cancelled  the passkey prompt",
        "CR/LF removed"
    );
    let misconfigured = denied("invalid_scope", "scope foo is unknown");
    assert_eq!(misconfigured.app_error, ErrorCode::ServerError);
    assert!(
        !misconfigured.app_description.contains("foo"),
        "provider internals stay in the log"
    );
    assert_eq!(misconfigured.upstream_error, "invalid_scope");
    // An error response still needs the right state: a forged error must not reach the app as if real.
    assert_eq!(
        validate_authorization_response(
            &pairs(&[("error", "access_denied"), ("state", "x"), ("iss", ISSUER)]),
            &tx
        ),
        Err(AuthorizationResponseError::StateMismatch)
    );
}

// ---------------------------------------------------------------------------------------------------------------
// ID token

#[test]
fn rp_id_token_sig_rs256() {
    let provider = TestProvider::new();
    let token = provider.id_token(&provider.rsa, &provider.claims());
    let validated = check(&provider, &token, &provider.keys()).expect("valid");
    assert_eq!(validated.subject, "user-42");
    assert_eq!(validated.alg, SigningAlg::Rs256);
    assert_eq!(validated.acr.as_deref(), Some("phrh"));
    assert_eq!(validated.amr, ["pop", "hwk", "user", "mfa"]);
}

#[test]
fn rp_id_token_sig_es256() {
    let provider = TestProvider::new();
    let token = provider.id_token(&provider.ec, &provider.claims());
    assert_eq!(
        check(&provider, &token, &provider.keys())
            .expect("valid")
            .alg,
        SigningAlg::Es256
    );
}

#[test]
fn rp_id_token_issuer_mismatch() {
    let provider = TestProvider::new();
    let mut claims = provider.claims();
    claims.insert("iss".into(), json!("https://idp.example/othertenant/oidc"));
    let token = provider.id_token(&provider.rsa, &claims);
    assert!(matches!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::IssuerMismatch { .. })
    ));
    // A trailing slash is another issuer: compared byte for byte.
    claims.insert("iss".into(), json!(format!("{ISSUER}/")));
    let token = provider.id_token(&provider.rsa, &claims);
    assert!(matches!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::IssuerMismatch { .. })
    ));
}

#[test]
fn rp_id_token_sub() {
    let provider = TestProvider::new();
    let mut claims = provider.claims();
    claims.remove("sub");
    let token = provider.id_token(&provider.rsa, &claims);
    assert_eq!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::SubjectMissing)
    );
}

#[test]
fn rp_id_token_aud() {
    let provider = TestProvider::new();
    let mut claims = provider.claims();
    claims.insert("aud".into(), json!("some-other-client"));
    let token = provider.id_token(&provider.rsa, &claims);
    assert_eq!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::AudienceMismatch)
    );
}

#[test]
fn rp_azp_required_with_several_audiences() {
    let provider = TestProvider::new();
    let mut claims = provider.claims();
    claims.insert("aud".into(), json!([CLIENT_ID, "another-api"]));
    let token = provider.id_token(&provider.rsa, &claims);
    assert_eq!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::AzpMissing)
    );
}

#[test]
fn rp_azp_mismatch() {
    let provider = TestProvider::new();
    let mut claims = provider.claims();
    claims.insert("aud".into(), json!([CLIENT_ID, "another-api"]));
    claims.insert("azp".into(), json!("another-api"));
    let token = provider.id_token(&provider.rsa, &claims);
    assert_eq!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::AzpMismatch {
            found: "another-api".into()
        })
    );
    // azp must be the client id even with a single audience.
    claims.insert("aud".into(), json!(CLIENT_ID));
    let token = provider.id_token(&provider.rsa, &claims);
    assert!(matches!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::AzpMismatch { .. })
    ));
}

#[test]
fn rp_azp_matching_with_several_audiences_accepted() {
    let provider = TestProvider::new();
    let mut claims = provider.claims();
    claims.insert("aud".into(), json!([CLIENT_ID, "another-api"]));
    claims.insert("azp".into(), json!(CLIENT_ID));
    let token = provider.id_token(&provider.rsa, &claims);
    assert!(check(&provider, &token, &provider.keys()).is_ok());
}

#[test]
fn rp_id_token_iat() {
    // The module sends an ID token without iat, which OIDC Core §2 requires.
    let provider = TestProvider::new();
    let mut claims = provider.claims();
    claims.remove("iat");
    let token = provider.id_token(&provider.rsa, &claims);
    assert_eq!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::IatMissing)
    );
}

#[test]
fn rp_id_token_iat_in_the_future_beyond_skew() {
    let provider = TestProvider::new();
    let mut claims = provider.claims();
    let now = NOW.unix_timestamp();
    claims.insert("iat".into(), json!(now + 299));
    let token = provider.id_token(&provider.rsa, &claims);
    assert!(
        check(&provider, &token, &provider.keys()).is_ok(),
        "within the 5-minute skew"
    );
    claims.insert("iat".into(), json!(now + 301));
    let token = provider.id_token(&provider.rsa, &claims);
    assert_eq!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::IssuedInFuture)
    );
}

#[test]
fn rp_id_token_expired() {
    let provider = TestProvider::new();
    let mut claims = provider.claims();
    let now = NOW.unix_timestamp();
    claims.insert("exp".into(), json!(now - 60));
    let token = provider.id_token(&provider.rsa, &claims);
    assert!(
        check(&provider, &token, &provider.keys()).is_ok(),
        "within the 5-minute skew"
    );
    claims.insert("exp".into(), json!(now - 301));
    let token = provider.id_token(&provider.rsa, &claims);
    assert_eq!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::Expired)
    );
    claims.remove("exp");
    let token = provider.id_token(&provider.rsa, &claims);
    assert_eq!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::ExpMissing)
    );
}

#[test]
fn rp_id_token_exp_in_milliseconds_refused() {
    let provider = TestProvider::new();
    let mut claims = provider.claims();
    claims.insert("exp".into(), json!((NOW.unix_timestamp() + 300) * 1000));
    let token = provider.id_token(&provider.rsa, &claims);
    assert_eq!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::TimeInMilliseconds { claim: "exp" })
    );
}

#[test]
fn rp_id_token_nbf_in_the_future_refused() {
    let provider = TestProvider::new();
    let mut claims = provider.claims();
    claims.insert("nbf".into(), json!(NOW.unix_timestamp() + 600));
    let token = provider.id_token(&provider.rsa, &claims);
    assert_eq!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::NotYetValid)
    );
}

fn tamper_signature(token: &str) -> String {
    let (rest, sig) = token.rsplit_once('.').expect("three parts");
    let mut sig = B64.decode(sig).expect("b64");
    sig[5] ^= 0x40;
    format!("{rest}.{}", B64.encode(sig))
}

#[test]
fn rp_id_token_bad_sig_rs256() {
    let provider = TestProvider::new();
    let token = tamper_signature(&provider.id_token(&provider.rsa, &provider.claims()));
    assert_eq!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::SignatureInvalid)
    );
    // Signed by another RSA key that claims the published key's kid.
    let impostor = SigningKey::generate(SigningAlg::Rs256).expect("rsa");
    let token = sign_with_header(
        &impostor,
        &json!({"alg": "RS256", "kid": provider.rsa.kid()}),
        &provider.claims(),
    );
    assert_eq!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::SignatureInvalid)
    );
}

#[test]
fn rp_id_token_bad_sig_es256() {
    let provider = TestProvider::new();
    let token = tamper_signature(&provider.id_token(&provider.ec, &provider.claims()));
    assert_eq!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::SignatureInvalid)
    );
    let impostor = SigningKey::generate(SigningAlg::Es256).expect("ec");
    let token = sign_with_header(
        &impostor,
        &json!({"alg": "ES256", "kid": provider.ec.kid()}),
        &provider.claims(),
    );
    assert_eq!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::SignatureInvalid)
    );
}

#[test]
fn rp_id_token_sig_none() {
    let provider = TestProvider::new();
    let header = B64.encode(br#"{"alg":"none"}"#);
    let payload = B64.encode(serde_json::to_vec(&provider.claims()).expect("json"));
    let token = format!("{header}.{payload}.");
    assert_eq!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::AlgorithmNotAllowed { alg: "none".into() })
    );
}

#[test]
fn rp_id_token_sig_hs256_refused() {
    // The classic confusion: an HMAC "signed" with the provider's public key as the secret.
    let provider = TestProvider::new();
    let header = B64.encode(format!(
        r#"{{"alg":"HS256","kid":"{}"}}"#,
        provider.rsa.kid()
    ));
    let payload = B64.encode(serde_json::to_vec(&provider.claims()).expect("json"));
    let key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        provider
            .rsa
            .public_jwk()
            .n
            .as_deref()
            .unwrap_or_default()
            .as_bytes(),
    );
    let signature = aws_lc_rs::hmac::sign(&key, format!("{header}.{payload}").as_bytes());
    let token = format!("{header}.{payload}.{}", B64.encode(signature.as_ref()));
    assert_eq!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::AlgorithmNotAllowed {
            alg: "HS256".into()
        })
    );
}

#[test]
fn rp_id_token_alg_not_advertised_by_the_provider_refused() {
    let provider = TestProvider::new();
    let mut doc = provider.discovery();
    doc.insert(
        "id_token_signing_alg_values_supported".into(),
        json!(["RS256"]),
    );
    let metadata = validate(&provider.config, &doc).expect("metadata");
    let redirect = tessera_broker::upstream::authorization_request(
        &provider.config,
        &metadata,
        REDIRECT_URI,
        &randomness(),
        Default::default(),
        NOW,
    )
    .expect("request");
    let token = provider.id_token(&provider.ec, &provider.claims());
    assert_eq!(
        validate_id_token(
            &token,
            &provider.keys(),
            &expectations(&redirect.transaction)
        ),
        Err(IdTokenError::AlgorithmNotAllowed {
            alg: "ES256".into()
        })
    );
}

#[test]
fn rp_id_token_kid_naming_a_key_of_another_type_refused() {
    let provider = TestProvider::new();
    let token = sign_with_header(
        &provider.ec,
        &json!({"alg": "ES256", "kid": provider.rsa.kid()}),
        &provider.claims(),
    );
    assert!(matches!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::AlgorithmNotAllowedForKey { .. })
    ));
}

#[test]
fn rp_id_token_kid_absent_single_jwks() {
    let provider = TestProvider::new();
    let token = sign_with_header(&provider.rsa, &json!({"alg": "RS256"}), &provider.claims());
    let keys = keys_of(&[&provider.rsa]);
    assert_eq!(
        check(&provider, &token, &keys)
            .expect("the only key verifies")
            .subject,
        "user-42"
    );
    // One RSA and one EC key: only one key can verify RS256, so there is no ambiguity either.
    assert!(check(&provider, &token, &provider.keys()).is_ok());
}

#[test]
fn rp_id_token_kid_absent_multiple_jwks() {
    // Decision: refuse (OIDC Core §10.1: with several keys in the JWKS, a kid MUST be given), rather than trying
    // each key; the RSA keys here both could verify RS256.
    let provider = TestProvider::new();
    let second = SigningKey::generate(SigningAlg::Rs256).expect("rsa");
    let token = sign_with_header(&provider.rsa, &json!({"alg": "RS256"}), &provider.claims());
    let keys = keys_of(&[&second, &provider.rsa]);
    assert_eq!(
        check(&provider, &token, &keys),
        Err(IdTokenError::AmbiguousKey { candidates: 2 })
    );
}

#[test]
fn rp_nonce_invalid() {
    let provider = TestProvider::new();
    let mut claims = provider.claims();
    claims.insert("nonce".into(), json!("a-nonce-from-another-transaction"));
    let token = provider.id_token(&provider.rsa, &claims);
    assert_eq!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::NonceMismatch)
    );
}

#[test]
fn rp_nonce_unless_code_flow() {
    // The code flow could go without a nonce; the broker sends one anyway (a second defence against code
    // injection, RFC 9700 §4.5), so an ID token without it is refused.
    let provider = TestProvider::new();
    let redirect = provider.start();
    assert_eq!(
        param(&query_of(&redirect.url), "nonce").map(str::len),
        Some(43)
    );
    let mut claims = provider.claims();
    claims.remove("nonce");
    let token = provider.id_token(&provider.rsa, &claims);
    assert_eq!(
        check(&provider, &token, &provider.keys()),
        Err(IdTokenError::NonceMissing)
    );
}

#[test]
fn rp_key_rotation_op_sign_key() {
    let provider = TestProvider::new();
    let rotated = SigningKey::generate(SigningAlg::Rs256).expect("rsa");
    let token = provider.id_token(&rotated, &provider.claims());
    // The cached JWKS does not know the new kid: the outcome asks for one refetch.
    let cached = provider.keys();
    let first = check(&provider, &token, &cached).expect_err("unknown kid");
    assert_eq!(
        first,
        IdTokenError::KeyNotInJwks {
            kid: Some(rotated.kid().into())
        }
    );
    assert!(first.calls_for_jwks_refetch());
    // The refetched JWKS has the new key: success.
    let refetched = ProviderKeys::parse(&jwks_json(&[&rotated, &provider.ec])).expect("jwks");
    assert_eq!(
        check(&provider, &token, &refetched).expect("valid").subject,
        "user-42"
    );
    // Refetches are bounded: a made-up kid cannot make the broker fetch the JWKS on every request.
    use tessera_broker::metadata::jwks_refetch_allowed;
    assert!(!jwks_refetch_allowed(NOW, NOW + Duration::seconds(59)));
    assert!(jwks_refetch_allowed(NOW, NOW + Duration::seconds(60)));
    assert!(tessera_broker::metadata::refresh_due(
        NOW,
        NOW + Duration::hours(24)
    ));
    assert!(!tessera_broker::metadata::refresh_due(
        NOW,
        NOW + Duration::hours(23)
    ));
    // Other failures never ask for a refetch.
    assert!(!IdTokenError::SignatureInvalid.calls_for_jwks_refetch());
    assert!(!IdTokenError::AmbiguousKey { candidates: 2 }.calls_for_jwks_refetch());
}

#[test]
fn rp_id_token_garbage_never_panics() {
    let provider = TestProvider::new();
    for junk in [
        "",
        ".",
        "..",
        "a.b.c",
        "e30.e30.",
        "eyJhbGciOiJSUzI1NiJ9.W10.AA",
        &"a".repeat(20_000),
    ] {
        assert!(
            check(&provider, junk, &provider.keys()).is_err(),
            "{junk:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Token endpoint and userinfo

#[test]
fn rp_token_endpoint_client_secret_basic() {
    let provider = TestProvider::new();
    let redirect = provider.start();
    let request = token_request(
        &provider.config,
        &provider.metadata(),
        &redirect.transaction,
        &Secret::new("the-code"),
        &Secret::new("s3cr:t+&"),
    );
    assert_eq!(request.url, format!("{ISSUER}/token"));
    let header = request.authorization.expect("basic");
    let decoded = STANDARD
        .decode(header.strip_prefix("Basic ").expect("basic"))
        .expect("b64");
    // RFC 6749 §2.3.1: form-urlencoded before base64.
    assert_eq!(
        String::from_utf8(decoded).expect("utf8"),
        "broker-at-idp:s3cr%3At%2B%26"
    );
    let form = request.form;
    assert_eq!(param(&form, "grant_type"), Some("authorization_code"));
    assert_eq!(param(&form, "code"), Some("the-code"));
    assert_eq!(param(&form, "redirect_uri"), Some(REDIRECT_URI));
    assert_eq!(
        param(&form, "code_verifier"),
        Some(redirect.transaction.code_verifier.expose())
    );
    assert_eq!(param(&form, "client_secret"), None);
}

#[test]
fn rp_token_endpoint_client_secret_post() {
    let mut provider = TestProvider::new();
    provider.config.client_auth = UpstreamClientAuth::ClientSecretPost;
    let redirect = provider.start();
    let request = token_request(
        &provider.config,
        &provider.metadata(),
        &redirect.transaction,
        &Secret::new("c"),
        &Secret::new("s"),
    );
    assert!(request.authorization.is_none());
    assert_eq!(param(&request.form, "client_id"), Some(CLIENT_ID));
    assert_eq!(param(&request.form, "client_secret"), Some("s"));
}

#[test]
fn rp_token_response_checks() {
    let ok = validate_token_response(
        br#"{"access_token":"at","token_type":"bearer","id_token":"x.y.z"}"#,
    )
    .expect("ok");
    assert_eq!(ok.id_token, "x.y.z");
    assert_eq!(
        validate_token_response(br#"{"error":"invalid_grant","error_description":"code\nreused"}"#)
            .err(),
        Some(TokenResponseError::Refused {
            error: "invalid_grant".into(),
            description: Some("code reused".into())
        })
    );
    assert_eq!(
        validate_token_response(br#"{"access_token":"at","token_type":"Bearer"}"#).err(),
        Some(TokenResponseError::IdTokenMissing)
    );
    assert_eq!(
        validate_token_response(br#"{"access_token":"at","token_type":"DPoP","id_token":"x"}"#)
            .err(),
        Some(TokenResponseError::NotBearer)
    );
    assert_eq!(
        validate_token_response(b"<html>").err(),
        Some(TokenResponseError::NotJson)
    );
}

#[test]
fn rp_userinfo_bad_sub_claim() {
    let provider = TestProvider::new();
    let token = provider.id_token(&provider.rsa, &provider.claims());
    let id_token = check(&provider, &token, &provider.keys()).expect("valid");
    assert_eq!(
        validate_userinfo(
            br#"{"sub":"someone-else","email":"mallory@example.com"}"#,
            &id_token
        ),
        Err(UserinfoError::SubjectMismatch)
    );
    assert_eq!(
        validate_userinfo(br#"{"email":"x@example.com"}"#, &id_token),
        Err(UserinfoError::SubjectMissing)
    );
    let claims = validate_userinfo(br#"{"sub":"user-42","email":"ada@example.com"}"#, &id_token)
        .expect("ok");
    assert_eq!(claims.get("email"), Some(&json!("ada@example.com")));
}

/// `rp-userinfo-bearer-header`: the access token goes in `Authorization: Bearer` (RFC 6750 §2.1) to the userinfo
/// endpoint as published. (`UpstreamClient::get_userinfo` in `tessera-service` sends exactly this header; its own
/// test checks it reaches a loopback server.)
#[test]
fn rp_userinfo_bearer_header() {
    let provider = TestProvider::new();
    let request =
        tessera_broker::upstream::userinfo_request(&provider.metadata(), &Secret::new("at-42.x_y"))
            .expect("the provider has a userinfo endpoint");
    assert_eq!(request.authorization, "Bearer at-42.x_y");
    assert_eq!(request.url, format!("{ISSUER}/userinfo"));
    assert!(
        !format!("{request:?}").contains("at-42"),
        "the token stays out of logs"
    );
    // No userinfo endpoint: nothing to ask.
    let mut doc = provider.discovery();
    doc.remove("userinfo_endpoint");
    let metadata = validate(&provider.config, &doc).expect("metadata");
    assert!(tessera_broker::upstream::userinfo_request(&metadata, &Secret::new("at")).is_none());
}

/// `rp-userinfo-bearer-body`: the OpenID Foundation's module has the RP send the token as a form body parameter
/// (RFC 6750 §2.2, a POST). The broker does not: the header (§2.1) is the method every resource server MUST
/// support, and a body needs a POST some userinfo endpoints refuse. This case pins that choice: the token is in
/// the header only, never in the URL (§2.3), so it reaches the provider once and no log of a URL carries it.
#[test]
fn rp_userinfo_bearer_body() {
    let provider = TestProvider::new();
    let mut doc = provider.discovery();
    doc.insert(
        "userinfo_endpoint".into(),
        json!(format!("{ISSUER}/userinfo?tenant=mytenant")),
    );
    let metadata = validate(&provider.config, &doc).expect("metadata");
    let request =
        tessera_broker::upstream::userinfo_request(&metadata, &Secret::new("at-secret-1"))
            .expect("request");
    assert_eq!(request.url, format!("{ISSUER}/userinfo?tenant=mytenant"));
    assert!(!request.url.contains("at-secret-1"));
    assert!(!request.url.contains("access_token"));
    assert_eq!(request.authorization, "Bearer at-secret-1");
}

/// OIDC Core §3.1.2.1 and §3.1.3.7 item 13: the app's `max_age` goes to the provider, and the ID token must then
/// carry an `auth_time` within it (with the skew).
#[test]
fn rp_max_age_is_sent_and_auth_time_required_within_it() {
    let provider = TestProvider::new();
    let redirect = tessera_broker::upstream::authorization_request(
        &provider.config,
        &provider.metadata(),
        REDIRECT_URI,
        &randomness(),
        tessera_broker::upstream::UpstreamOptions {
            max_age: Some(60),
            ..Default::default()
        },
        NOW,
    )
    .expect("request");
    let query = query_of(&redirect.url);
    assert_eq!(param(&query, "max_age"), Some("60"));
    assert_eq!(param(&query, "prompt"), None);
    assert_eq!(redirect.transaction.max_age, Some(60));
    let expected = expectations(&redirect.transaction);
    let with_auth_time = |auth_time: Option<i64>| {
        let mut claims = provider.claims();
        match auth_time {
            Some(t) => claims.insert("auth_time".into(), json!(t)),
            None => claims.remove("auth_time"),
        };
        validate_id_token(
            &provider.id_token(&provider.rsa, &claims),
            &provider.keys(),
            &expected,
        )
    };
    let now = NOW.unix_timestamp();
    assert!(with_auth_time(Some(now - 10)).is_ok());
    assert!(
        with_auth_time(Some(now - 60 - 300)).is_ok(),
        "within max_age plus the skew"
    );
    assert_eq!(
        with_auth_time(Some(now - 60 - 301)),
        Err(IdTokenError::AuthenticationTooOld {
            age: 361,
            max_age: 60
        })
    );
    let missing = with_auth_time(None);
    assert_eq!(missing, Err(IdTokenError::AuthTimeMissing));
    assert!(missing.is_err_and(|e| e.is_stale_authentication()));
    // Without max_age, auth_time stays optional and any age.
    let plain = provider.start();
    let mut claims = provider.claims();
    claims.remove("auth_time");
    assert!(
        validate_id_token(
            &provider.id_token(&provider.rsa, &claims),
            &provider.keys(),
            &expectations(&plain.transaction)
        )
        .is_ok()
    );
}

/// `prompt=login`: an `auth_time` from before the redirect (beyond the skew) shows the provider reused an older
/// sign-in.
#[test]
fn rp_prompt_login_refuses_an_earlier_sign_in() {
    let provider = TestProvider::new();
    let redirect = tessera_broker::upstream::authorization_request(
        &provider.config,
        &provider.metadata(),
        REDIRECT_URI,
        &randomness(),
        tessera_broker::upstream::UpstreamOptions {
            prompt_login: true,
            ..Default::default()
        },
        NOW,
    )
    .expect("request");
    let expected = expectations(&redirect.transaction);
    let now = NOW.unix_timestamp();
    let at = |auth_time: i64| {
        let mut claims = provider.claims();
        claims.insert("auth_time".into(), json!(auth_time));
        validate_id_token(
            &provider.id_token(&provider.rsa, &claims),
            &provider.keys(),
            &expected,
        )
    };
    assert!(at(now).is_ok());
    assert!(at(now - 300).is_ok(), "within the skew");
    assert_eq!(at(now - 3600), Err(IdTokenError::NotReauthenticated));
}

/// The flow's requirements are asked of the provider with `acr_values`, when it advertises them.
#[test]
fn rp_acr_values_are_sent_when_asked() {
    let provider = TestProvider::new();
    let redirect = tessera_broker::upstream::authorization_request(
        &provider.config,
        &provider.metadata(),
        REDIRECT_URI,
        &randomness(),
        tessera_broker::upstream::UpstreamOptions {
            acr_values: Some("phrh phr"),
            ..Default::default()
        },
        NOW,
    )
    .expect("request");
    assert_eq!(
        param(&query_of(&redirect.url), "acr_values"),
        Some("phrh phr")
    );
    assert_eq!(param(&query_of(&provider.start().url), "acr_values"), None);
}

// ---------------------------------------------------------------------------------------------------------------
// Discovery and JWKS

#[test]
fn rp_discovery_openid_configuration() {
    let provider = TestProvider::new();
    let metadata = provider.metadata();
    assert_eq!(metadata.issuer, ISSUER);
    assert_eq!(
        metadata.authorization_endpoint,
        format!("{ISSUER}/authorize")
    );
    assert_eq!(metadata.token_endpoint, format!("{ISSUER}/token"));
    assert_eq!(
        metadata.userinfo_endpoint.as_deref(),
        Some(format!("{ISSUER}/userinfo").as_str())
    );
    assert_eq!(metadata.jwks_uri, format!("{ISSUER}/jwks"));
    assert_eq!(
        metadata.id_token_signing_algs,
        [SigningAlg::Rs256, SigningAlg::Es256]
    );
    assert!(metadata.iss_parameter_supported);
}

#[test]
fn rp_discovery_issuer_not_matching_config() {
    let provider = TestProvider::new();
    let mut doc = provider.discovery();
    doc.insert(
        "issuer".into(),
        json!("https://idp.example/othertenant/oidc"),
    );
    assert_eq!(
        validate(&provider.config, &doc),
        Err(MetadataError::IssuerMismatch {
            expected: ISSUER.into(),
            found: "https://idp.example/othertenant/oidc".into()
        })
    );
    // Discovery §4.1 strips a trailing slash before appending the well-known path, so it is the same issuer.
    doc.insert("issuer".into(), json!(format!("{ISSUER}/")));
    assert_eq!(
        validate(&provider.config, &doc).expect("ok").issuer,
        format!("{ISSUER}/")
    );
}

#[test]
fn rp_discovery_jwks_uri_keys() {
    let provider = TestProvider::new();
    let mut doc = provider.discovery();
    doc.remove("jwks_uri");
    assert_eq!(
        validate(&provider.config, &doc),
        Err(MetadataError::Missing { field: "jwks_uri" })
    );
    doc.insert("jwks_uri".into(), json!("http://idp.example/jwks"));
    assert!(matches!(
        validate(&provider.config, &doc),
        Err(MetadataError::NotHttps {
            field: "jwks_uri",
            ..
        })
    ));
    // The keys at jwks_uri verify the provider's tokens; unusable entries are skipped.
    let mut jwks: Value =
        serde_json::from_slice(&jwks_json(&[&provider.rsa, &provider.ec])).expect("json");
    jwks["keys"]
        .as_array_mut()
        .expect("keys")
        .push(json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}));
    let keys = ProviderKeys::parse(&serde_json::to_vec(&jwks).expect("json")).expect("keys");
    assert_eq!(keys.keys().len(), 2);
    let token = provider.id_token(&provider.ec, &provider.claims());
    assert!(check(&provider, &token, &keys).is_ok());
    // A JWKS with nothing usable, or two keys sharing a kid, is refused.
    assert_eq!(
        ProviderKeys::parse(br#"{"keys":[]}"#).err(),
        Some(JwksError::NoUsableKey)
    );
    assert_eq!(
        ProviderKeys::parse(b"[]").err(),
        Some(JwksError::NotAJwkSet)
    );
    assert!(matches!(
        ProviderKeys::parse(&jwks_json(&[&provider.rsa, &provider.rsa])),
        Err(JwksError::DuplicateKid { .. })
    ));
}

#[test]
fn rp_discovery_endpoints_must_be_https_off_loopback() {
    let provider = TestProvider::new();
    for field in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
    ] {
        let mut doc = provider.discovery();
        doc.insert(field.into(), json!("http://idp.example/x"));
        assert!(
            matches!(validate(&provider.config, &doc), Err(MetadataError::NotHttps { field: f, .. }) if f == field),
            "{field}"
        );
    }
    for field in ["authorization_endpoint", "token_endpoint"] {
        let mut doc = provider.discovery();
        doc.remove(field);
        assert!(
            matches!(validate(&provider.config, &doc), Err(MetadataError::Missing { field: f }) if f == field)
        );
    }
    // On loopback, plain http is fine (tests and the demo).
    let loopback = "http://127.0.0.1:8080/mytenant/oidc";
    let config = provider_config(loopback);
    assert!(validate(&config, &discovery_for(loopback)).is_ok());
    // An http issuer off loopback is refused, even when the metadata URL is http too (it cannot be: the
    // metadata URL is refused at configuration time).
    assert!(
        tessera_broker::config::MetadataUrl::parse(
            "http://idp.example/.well-known/openid-configuration"
        )
        .is_err()
    );
}

#[test]
fn rp_discovery_capabilities_checked() {
    let provider = TestProvider::new();
    let mut doc = provider.discovery();
    doc.insert(
        "response_types_supported".into(),
        json!(["id_token", "code id_token"]),
    );
    assert_eq!(
        validate(&provider.config, &doc),
        Err(MetadataError::CodeNotSupported)
    );

    let mut doc = provider.discovery();
    doc.insert("response_modes_supported".into(), json!(["query"]));
    assert_eq!(
        validate(&provider.config, &doc),
        Err(MetadataError::ResponseModeNotSupported { mode: "form_post" })
    );
    doc.remove("response_modes_supported");
    assert_eq!(
        validate(&provider.config, &doc),
        Err(MetadataError::ResponseModeNotSupported { mode: "form_post" }),
        "the default is query and fragment"
    );
    // Fragment, even where the provider offers it: the broker's server never sees a URL fragment.
    let mut config = provider.config.clone();
    config.response_mode = tessera_oidc::ResponseMode::Fragment;
    assert_eq!(
        validate(&config, &doc),
        Err(MetadataError::FragmentUpstream)
    );

    let mut doc = provider.discovery();
    doc.insert(
        "id_token_signing_alg_values_supported".into(),
        json!(["HS256", "none", "PS512"]),
    );
    assert!(matches!(
        validate(&provider.config, &doc),
        Err(MetadataError::NoAcceptedSigningAlgorithm { .. })
    ));

    let mut doc = provider.discovery();
    doc.insert(
        "token_endpoint_auth_methods_supported".into(),
        json!(["private_key_jwt"]),
    );
    assert_eq!(
        validate(&provider.config, &doc),
        Err(MetadataError::ClientAuthNotSupported {
            method: "client_secret_basic"
        })
    );

    let mut doc = provider.discovery();
    doc.insert("scopes_supported".into(), json!(["profile"]));
    assert_eq!(
        validate(&provider.config, &doc),
        Err(MetadataError::OpenidScopeNotSupported)
    );

    let config = &provider.config;
    assert_eq!(
        tessera_broker::metadata::validate_provider_metadata(config, b"<html>"),
        Err(MetadataError::NotJson)
    );
    assert_eq!(
        tessera_broker::metadata::validate_provider_metadata(config, b"[1]"),
        Err(MetadataError::NotAnObject)
    );
}

#[test]
fn rp_skew_is_configurable() {
    let provider = TestProvider::new();
    let mut claims = provider.claims();
    claims.insert("exp".into(), json!(NOW.unix_timestamp() - 60));
    let token = provider.id_token(&provider.rsa, &claims);
    let redirect = provider.start();
    let mut expected = expectations(&redirect.transaction);
    expected.skew = Duration::seconds(30);
    assert_eq!(
        validate_id_token(&token, &provider.keys(), &expected),
        Err(IdTokenError::Expired)
    );
}

#[test]
fn rp_scope_userinfo_claims() {
    // Claims the ID token lacks come from userinfo, once its sub is checked.
    let provider = TestProvider::new();
    let mut claims = provider.claims();
    claims.remove("email");
    claims.remove("name");
    let token = provider.id_token(&provider.rsa, &claims);
    let id_token = check(&provider, &token, &provider.keys()).expect("valid");
    let mapping = &provider.config.claim_mapping;
    assert_eq!(
        tessera_broker::claims::missing_mapped_claims(mapping, &id_token),
        ["name", "email"]
    );
    let userinfo = validate_userinfo(
        br#"{"sub":"user-42","email":"ada@example.com","name":"Ada"}"#,
        &id_token,
    )
    .expect("userinfo");
    let profile =
        tessera_broker::claims::map_claims(mapping, &id_token, Some(&userinfo)).expect("profile");
    assert_eq!(profile.email.as_deref(), Some("ada@example.com"));
    assert_eq!(profile.display_name.as_deref(), Some("Ada"));
}
