//! Interoperability with a JOSE library not written here (`jsonwebtoken`, on aws-lc-rs): our ID tokens and access
//! tokens verify against our JWKS document, and its client assertions verify with our `private_key_jwt` rules.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RsaKeyPair};
use jsonwebtoken::jwk::JwkSet as LibJwkSet;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use serde_json::{Value, json};
use tessera_core::{ClientId, UserId};
use tessera_oidc::access_token::{ACCESS_TOKEN_LIFETIME, AccessTokenClaims, mint_access_token};
use tessera_oidc::client::{ClientAuthConfig, ClientConfig};
use tessera_oidc::id_token::{AuthenticationFacts, IdTokenInput, UserProfile, mint_id_token};
use tessera_oidc::keys::{JwkSet, KeySet, SigningAlg, SigningKey};
use tessera_oidc::token::{
    ClientAuthContext, JWT_BEARER_ASSERTION_TYPE, authenticate_client, parse_token_request,
};
use time::{Duration, OffsetDateTime};

const ISS: &str = "https://op.example/acme/oidc";

fn key_set() -> KeySet {
    KeySet::new(vec![
        SigningKey::generate(SigningAlg::Rs256).expect("rs256"),
        SigningKey::generate(SigningAlg::Es256).expect("es256"),
    ])
    .expect("set")
}

fn lib_decode(token: &str, jwks_json: &[u8], alg: Algorithm, audience: &str) -> Value {
    let jwks: LibJwkSet = serde_json::from_slice(jwks_json).expect("jsonwebtoken parses our JWKS");
    let header = decode_header(token).expect("header");
    assert_eq!(header.alg, alg);
    let kid = header.kid.expect("kid in header");
    let jwk = jwks.find(&kid).expect("kid present in JWKS");
    let key = DecodingKey::from_jwk(jwk).expect("decoding key from our JWK");
    let mut validation = Validation::new(alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[ISS]);
    decode::<Value>(token, &key, &validation)
        .expect("jsonwebtoken accepts our token")
        .claims
}

#[test]
fn id_token_verifies_with_jsonwebtoken_against_our_jwks() {
    let keys = key_set();
    let user = UserProfile {
        sub: UserId::parse("u-1").expect("user"),
        username: "alice".into(),
        name: Some("Alice".into()),
        email: Some("alice@example.com".into()),
        email_verified: true,
        updated_at: None,
    };
    let client = ClientId::parse("rp").expect("client");
    let scopes = vec!["openid".to_owned(), "profile".to_owned()];
    let facts = AuthenticationFacts {
        user_verified: true,
        backup_eligible: true,
        attestation_trusted: false,
    };
    let now = OffsetDateTime::now_utc();
    for (alg, lib_alg) in [
        (SigningAlg::Rs256, Algorithm::RS256),
        (SigningAlg::Es256, Algorithm::ES256),
    ] {
        let key = keys.signing_key(alg).expect("key of alg");
        let input = IdTokenInput {
            issuer: ISS,
            client_id: &client,
            user: &user,
            scopes: &scopes,
            claims_request: None,
            nonce: Some("nonce-1"),
            auth_time: now,
            amr: &facts.amr(),
            acr: facts.acr(),
            sid: None,
            access_token: Some("at"),
            now,
            lifetime: Duration::minutes(5),
        };
        let token = mint_id_token(key, &input).expect("mint");
        let claims = lib_decode(&token, keys.jwks_json(), lib_alg, "rp");
        assert_eq!(claims["sub"], "u-1");
        assert_eq!(claims["nonce"], "nonce-1");
        assert_eq!(claims["name"], "Alice");
    }
}

#[test]
fn access_token_verifies_with_jsonwebtoken() {
    let keys = key_set();
    let now = OffsetDateTime::now_utc();
    let claims = AccessTokenClaims {
        sub: UserId::parse("u-1").expect("user"),
        client_id: ClientId::parse("rp").expect("client"),
        scopes: vec!["openid".into()],
        jti: "j".into(),
        grant_id: None,
        sid: None,
        auth_time: now,
        expires_at: now + ACCESS_TOKEN_LIFETIME,
    };
    let key = keys.signing_key(SigningAlg::Es256).expect("es256");
    let token = mint_access_token(key, ISS, &claims, now).expect("mint");
    assert_eq!(
        decode_header(&token).expect("header").typ.as_deref(),
        Some("at+jwt")
    );
    let decoded = lib_decode(&token, keys.jwks_json(), Algorithm::ES256, ISS);
    assert_eq!(decoded["client_id"], "rp");
}

#[test]
fn jwks_kids_are_distinct() {
    let keys = key_set();
    let jwks: Value = serde_json::from_slice(keys.jwks_json()).expect("json");
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(kids.len(), 2);
    assert_ne!(kids[0], kids[1]);
    for k in jwks["keys"].as_array().expect("keys") {
        assert!(
            k.get("d").is_none() && k.get("p").is_none(),
            "no private members in the JWKS"
        );
    }
}

/// A client key made outside our `keys` module, its JWK written by hand as a client would register it.
fn client_key(alg: Algorithm) -> (EncodingKey, Value) {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    match alg {
        Algorithm::ES256 => {
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("ec");
            let pkcs8 = pair.to_pkcs8v1().expect("pkcs8");
            let point = pair.public_key().as_ref();
            let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "c1", "x": b64(&point[1..33]), "y": b64(&point[33..])});
            (EncodingKey::from_ec_der(pkcs8.as_ref()), jwk)
        }
        _ => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa");
            let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).expect("pkcs8");
            let public = pair.public_key();
            let jwk = json!({
                "kty": "RSA", "kid": "c1",
                "n": b64(public.modulus().big_endian_without_leading_zero()),
                "e": b64(public.exponent().big_endian_without_leading_zero()),
            });
            (EncodingKey::from_rsa_der(&pkcs1_of(pkcs8.as_ref())), jwk)
        }
    }
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo` (the OCTET STRING after version and algorithm),
/// which is what `jsonwebtoken` takes for RSA.
fn pkcs1_of(pkcs8: &[u8]) -> Vec<u8> {
    fn header(der: &[u8], at: usize) -> (u8, usize, usize) {
        let tag = der[at];
        let first = der[at + 1];
        if first < 0x80 {
            (tag, at + 2, first as usize)
        } else {
            let n = (first & 0x7f) as usize;
            let len = der[at + 2..at + 2 + n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | *b as usize);
            (tag, at + 2 + n, len)
        }
    }
    let (_, body, _) = header(pkcs8, 0); // PrivateKeyInfo SEQUENCE
    let (_, v, vlen) = header(pkcs8, body); // version INTEGER
    let (_, a, alen) = header(pkcs8, v + vlen); // AlgorithmIdentifier
    let (tag, k, klen) = header(pkcs8, a + alen); // privateKey OCTET STRING
    assert_eq!(tag, 0x04);
    pkcs8[k..k + klen].to_vec()
}

#[test]
fn private_key_jwt_from_jsonwebtoken_is_accepted() {
    for alg in [Algorithm::ES256, Algorithm::RS256, Algorithm::PS256] {
        let (encoding, jwk) = client_key(alg);
        let jwks = JwkSet::from_json(&json!({ "keys": [jwk] }).to_string()).expect("client jwks");
        let client = ClientConfig {
            client_id: ClientId::parse("rp").expect("id"),
            redirect_uris: vec!["https://rp.example/cb".into()],
            post_logout_redirect_uris: vec![],
            auth: ClientAuthConfig::PrivateKeyJwt { jwks },
            allowed_scopes: vec![],
            id_token_alg: SigningAlg::Rs256,
        };
        let now = OffsetDateTime::now_utc();
        let mut header = Header::new(alg);
        header.kid = Some("c1".into());
        let assertion = encode(
            &header,
            &json!({"iss": "rp", "sub": "rp", "aud": format!("{ISS}/token"), "jti": "abc", "exp": now.unix_timestamp() + 60}),
            &encoding,
        )
        .expect("encode");
        let form: Vec<(String, String)> = [
            ("grant_type", "authorization_code"),
            ("code", "c"),
            ("redirect_uri", "https://rp.example/cb"),
            ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
        let request = parse_token_request(&form, None).expect("parse");
        assert_eq!(
            request.credentials.client_id().as_str(),
            "rp",
            "client found from the assertion's sub"
        );
        let ctx = ClientAuthContext {
            issuer: ISS,
            token_endpoint: &format!("{ISS}/token"),
            now,
        };
        let authed = authenticate_client(&request.credentials, &client, &ctx).expect("accepted");
        assert_eq!(
            authed.replay_guard.map(|g| g.jti).as_deref(),
            Some("abc"),
            "{alg:?}"
        );
    }
}
