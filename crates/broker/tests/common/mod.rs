//! A provider that misbehaves on purpose: it signs ID tokens with real keys (aws-lc-rs through `tessera-oidc`) and
//! lets each test bend one thing (a header, a claim, the discovery document, the JWKS).

#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Map, Value, json};
use tessera_broker::config::{IdentityProvider, MetadataUrl, ProviderId};
use tessera_broker::metadata::{ProviderKeys, ProviderMetadata, validate_provider_metadata};
use tessera_broker::upstream::{
    AuthorizationRedirect, IdTokenExpectations, UpstreamOptions, UpstreamRandomness,
    authorization_request,
};
use tessera_oidc::{JwkSet, ResponseMode, SigningAlg, SigningKey};
use time::OffsetDateTime;
use time::macros::datetime;

pub const ISSUER: &str = "https://idp.example/mytenant/oidc";
pub const CLIENT_ID: &str = "broker-at-idp";
pub const REDIRECT_URI: &str = "https://broker.example/contoso/oauth2/authresp";
pub const NOW: OffsetDateTime = datetime!(2026-12-01 20:00 UTC);

pub struct TestProvider {
    pub rsa: SigningKey,
    pub ec: SigningKey,
    pub config: IdentityProvider,
}

impl TestProvider {
    pub fn new() -> Self {
        Self {
            rsa: SigningKey::generate(SigningAlg::Rs256).expect("rsa"),
            ec: SigningKey::generate(SigningAlg::Es256).expect("ec"),
            config: provider_config(ISSUER),
        }
    }

    /// A well-behaved discovery document, as JSON to bend.
    pub fn discovery(&self) -> Map<String, Value> {
        discovery_for(ISSUER)
    }

    pub fn metadata(&self) -> ProviderMetadata {
        validate(&self.config, &self.discovery()).expect("valid metadata")
    }

    /// The JWKS with both keys.
    pub fn keys(&self) -> ProviderKeys {
        keys_of(&[&self.rsa, &self.ec])
    }

    /// The authorization redirect (fixed randomness, so tests can compare).
    pub fn start(&self) -> AuthorizationRedirect {
        authorization_request(
            &self.config,
            &self.metadata(),
            REDIRECT_URI,
            &randomness(),
            UpstreamOptions::default(),
            NOW,
        )
        .expect("authorization request")
    }

    /// The claims of a good ID token for the transaction of [`TestProvider::start`].
    pub fn claims(&self) -> Map<String, Value> {
        let nonce = self.start().transaction.nonce;
        let now = NOW.unix_timestamp();
        json!({
            "iss": ISSUER,
            "sub": "user-42",
            "aud": CLIENT_ID,
            "exp": now + 300,
            "iat": now,
            "auth_time": now - 10,
            "nonce": nonce,
            "amr": ["pop", "hwk", "user", "mfa"],
            "acr": "phrh",
            "name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "email": "ada@example.com",
        })
        .as_object()
        .cloned()
        .expect("object")
    }

    /// Signs `claims` with `key`, header `{"alg", "kid"}`.
    pub fn id_token(&self, key: &SigningKey, claims: &Map<String, Value>) -> String {
        sign_with_header(
            key,
            &json!({"alg": key.alg().as_str(), "kid": key.kid(), "typ": "JWT"}),
            claims,
        )
    }
}

pub fn provider_config(issuer: &str) -> IdentityProvider {
    IdentityProvider {
        id: ProviderId::parse("tessera-passkeys").expect("id"),
        name: "Nok Nok Authentication Provider".into(),
        metadata_url: MetadataUrl::parse(&format!("{issuer}/.well-known/openid-configuration"))
            .expect("metadata url"),
        client_id: CLIENT_ID.into(),
        client_auth: Default::default(),
        scope: vec!["openid".into(), "profile".into(), "email".into()],
        response_type: Default::default(),
        response_mode: ResponseMode::FormPost,
        claim_mapping: Default::default(),
        domain_hint: None,
    }
}

pub fn discovery_for(issuer: &str) -> Map<String, Value> {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
    })
    .as_object()
    .cloned()
    .expect("object")
}

pub fn validate(
    config: &IdentityProvider,
    doc: &Map<String, Value>,
) -> Result<ProviderMetadata, tessera_broker::metadata::MetadataError> {
    let bytes = serde_json::to_vec(doc).expect("json");
    validate_provider_metadata(config, &bytes)
}

pub fn jwks_json(keys: &[&SigningKey]) -> Vec<u8> {
    serde_json::to_vec(&JwkSet {
        keys: keys.iter().map(|k| k.public_jwk().clone()).collect(),
    })
    .expect("jwks")
}

pub fn keys_of(keys: &[&SigningKey]) -> ProviderKeys {
    ProviderKeys::parse(&jwks_json(keys)).expect("keys")
}

pub fn randomness() -> UpstreamRandomness {
    UpstreamRandomness {
        state: [1; 32],
        nonce: [2; 32],
        code_verifier: [3; 32],
    }
}

/// A compact JWS with any header, signed with `key` (whatever the header claims).
pub fn sign_with_header(key: &SigningKey, header: &Value, claims: &Map<String, Value>) -> String {
    let mut token = B64.encode(serde_json::to_vec(header).expect("header"));
    token.push('.');
    token.push_str(&B64.encode(serde_json::to_vec(claims).expect("claims")));
    let signature = key.sign(token.as_bytes()).expect("sign");
    token.push('.');
    token.push_str(&B64.encode(signature));
    token
}

/// The expectations of the transaction of [`TestProvider::start`], at [`NOW`].
pub fn expectations(transaction: &tessera_broker::UpstreamTransaction) -> IdTokenExpectations<'_> {
    IdTokenExpectations::for_transaction(transaction, NOW)
}
