//! The OpenID Provider metadata document (OpenID Connect Discovery 1.0 §3, RFC 8414, RFC 9207), built once per
//! issuer and served from memory. Only registered metadata names appear.

use serde::Serialize;

use crate::authorize::SUPPORTED_SCOPES;
use crate::error::OidcError;
use crate::id_token::{ACR_PHISHING_RESISTANT, ACR_PHISHING_RESISTANT_HARDWARE};

/// The endpoint URLs a provider document advertises. The caller gives them: the authenticator service's live under
/// its issuer (`{issuer}/authorize`, ...), the broker's under `/{tenant}/{policy}/...` (ARCHITECTURE.md's stable URL
/// shapes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The authorization endpoint.
    pub authorization: String,
    /// The token endpoint.
    pub token: String,
    /// The userinfo endpoint.
    pub userinfo: String,
    /// The JWK Set document.
    pub jwks: String,
    /// The RP-initiated logout endpoint.
    pub end_session: String,
}

/// The claims Tessera can put in ID tokens and userinfo responses.
pub const CLAIMS_SUPPORTED: [&str; 17] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "sid",
    "name",
    "preferred_username",
    "email",
    "email_verified",
    "updated_at",
];

/// OpenID Provider metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderMetadata {
    /// The issuer identifier.
    pub issuer: String,
    /// Authorization endpoint.
    pub authorization_endpoint: String,
    /// Token endpoint.
    pub token_endpoint: String,
    /// Userinfo endpoint.
    pub userinfo_endpoint: String,
    /// JWKS document.
    pub jwks_uri: String,
    /// RP-initiated logout endpoint.
    pub end_session_endpoint: String,
    /// Token revocation endpoint (RFC 7009), when the issuer has one ([`ProviderMetadata::with_revocation`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// Client authentication methods at the revocation endpoint (RFC 8414 §2), beside `revocation_endpoint`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint_auth_methods_supported: Option<Vec<&'static str>>,
    /// `openid`, `profile`, `email`, `offline_access`.
    pub scopes_supported: Vec<&'static str>,
    /// `code` only.
    pub response_types_supported: Vec<&'static str>,
    /// `query`, `form_post`.
    pub response_modes_supported: Vec<&'static str>,
    /// `authorization_code`, `refresh_token`.
    pub grant_types_supported: Vec<&'static str>,
    /// `public`.
    pub subject_types_supported: Vec<&'static str>,
    /// `RS256` (the default) and `ES256`.
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    /// Client authentication methods.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Algorithms accepted on `private_key_jwt` assertions.
    pub token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// Claims that may be returned.
    pub claims_supported: Vec<&'static str>,
    /// `normal`.
    pub claim_types_supported: Vec<&'static str>,
    /// `S256` only.
    pub code_challenge_methods_supported: Vec<&'static str>,
    /// `phr`, `phrh`.
    pub acr_values_supported: Vec<&'static str>,
    /// `page`, `popup`, `touch`, `wap` (accepted, all rendered the same responsive page).
    pub display_values_supported: Vec<&'static str>,
    /// The `prompt` values understood.
    pub prompt_values_supported: Vec<&'static str>,
    /// UI languages (BCP 47).
    pub ui_locales_supported: Vec<&'static str>,
    /// The `claims` parameter is honoured for the claims above.
    pub claims_parameter_supported: bool,
    /// Request objects are refused with `request_not_supported`.
    pub request_parameter_supported: bool,
    /// `request_uri` is refused with `request_uri_not_supported`.
    pub request_uri_parameter_supported: bool,
    /// Registration of `request_uri` values is moot.
    pub require_request_uri_registration: bool,
    /// RFC 9207: `iss` is in every authorization response.
    pub authorization_response_iss_parameter_supported: bool,
}

impl ProviderMetadata {
    /// The same metadata advertising the token revocation endpoint `endpoint` (RFC 7009), which authenticates clients
    /// as the token endpoint does.
    #[must_use]
    pub fn with_revocation(mut self, endpoint: String) -> Self {
        self.revocation_endpoint_auth_methods_supported =
            Some(self.token_endpoint_auth_methods_supported.clone());
        self.revocation_endpoint = Some(endpoint);
        self
    }

    /// The metadata of `issuer`, advertising `endpoints`.
    pub fn new(issuer: &str, endpoints: Endpoints) -> Self {
        Self {
            issuer: issuer.to_owned(),
            authorization_endpoint: endpoints.authorization,
            token_endpoint: endpoints.token,
            userinfo_endpoint: endpoints.userinfo,
            jwks_uri: endpoints.jwks,
            end_session_endpoint: endpoints.end_session,
            revocation_endpoint: None,
            revocation_endpoint_auth_methods_supported: None,
            scopes_supported: SUPPORTED_SCOPES.to_vec(),
            response_types_supported: vec!["code"],
            response_modes_supported: vec!["query", "form_post"],
            grant_types_supported: vec!["authorization_code", "refresh_token"],
            subject_types_supported: vec!["public"],
            id_token_signing_alg_values_supported: vec!["RS256", "ES256"],
            token_endpoint_auth_methods_supported: vec![
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "none",
            ],
            token_endpoint_auth_signing_alg_values_supported: vec!["RS256", "PS256", "ES256"],
            claims_supported: CLAIMS_SUPPORTED.to_vec(),
            claim_types_supported: vec!["normal"],
            code_challenge_methods_supported: vec!["S256"],
            acr_values_supported: vec![ACR_PHISHING_RESISTANT, ACR_PHISHING_RESISTANT_HARDWARE],
            display_values_supported: vec!["page", "popup", "touch", "wap"],
            prompt_values_supported: vec!["none", "login", "consent", "select_account", "create"],
            ui_locales_supported: vec!["en"],
            claims_parameter_supported: true,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            require_request_uri_registration: false,
            authorization_response_iss_parameter_supported: true,
        }
    }

    /// The document as JSON bytes, to serialize once and serve from memory.
    pub fn to_json(&self) -> Result<Vec<u8>, OidcError> {
        serde_json::to_vec(self).map_err(|_| OidcError::Crypto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://op.example/acme/oidc";

    fn endpoints(base: &str) -> Endpoints {
        Endpoints {
            authorization: format!("{base}/authorize"),
            token: format!("{base}/token"),
            userinfo: format!("{base}/userinfo"),
            jwks: format!("{base}/jwks"),
            end_session: format!("{base}/logout"),
        }
    }

    fn metadata() -> ProviderMetadata {
        ProviderMetadata::new(ISS, endpoints(ISS))
    }

    fn doc() -> serde_json::Value {
        let bytes = metadata().to_json().expect("json");
        serde_json::from_slice(&bytes).expect("parse")
    }

    #[test]
    fn endpoints_are_the_callers_not_derived_from_the_issuer() {
        let broker = "https://id.example/acme/B2C_1_signin";
        let d = ProviderMetadata::new("https://id.example/acme/v2.0", endpoints(broker));
        assert_eq!(d.issuer, "https://id.example/acme/v2.0");
        assert_eq!(d.authorization_endpoint, format!("{broker}/authorize"));
        assert_eq!(d.jwks_uri, format!("{broker}/jwks"));
    }

    #[test]
    fn oidcc_discovery_endpoint_verification() {
        let d = doc();
        assert_eq!(d["issuer"], ISS);
        assert_eq!(d["authorization_endpoint"], format!("{ISS}/authorize"));
        assert_eq!(d["token_endpoint"], format!("{ISS}/token"));
        assert_eq!(d["userinfo_endpoint"], format!("{ISS}/userinfo"));
        assert_eq!(d["jwks_uri"], format!("{ISS}/jwks"));
        assert_eq!(d["end_session_endpoint"], format!("{ISS}/logout"));
        assert!(
            d["scopes_supported"]
                .as_array()
                .is_some_and(|a| a.contains(&"openid".into()))
        );
        assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(d["subject_types_supported"], serde_json::json!(["public"]));
        assert!(
            d["id_token_signing_alg_values_supported"]
                .as_array()
                .is_some_and(|a| a.contains(&"RS256".into()))
        );
        assert_eq!(
            d["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(d["authorization_response_iss_parameter_supported"], true);
        assert_eq!(d["request_parameter_supported"], false);
        assert_eq!(d["request_uri_parameter_supported"], false);
        assert_eq!(d["claims_parameter_supported"], true);
    }

    #[test]
    fn discovery_lists_only_rp_initiated_logout() {
        let d = doc();
        for unsupported in [
            "frontchannel_logout_supported",
            "frontchannel_logout_session_supported",
            "backchannel_logout_supported",
            "backchannel_logout_session_supported",
            "check_session_iframe",
        ] {
            assert!(d.get(unsupported).is_none(), "{unsupported} is advertised");
        }
        assert_eq!(d["end_session_endpoint"], format!("{ISS}/logout"));
        let claims = d["claims_supported"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(claims.iter().any(|c| c == "sid"));
    }

    #[test]
    fn discovery_has_only_registered_metadata_names() {
        // OpenID Connect Discovery 1.0 §3, RFC 8414 §2, RFC 9207 §3, OpenID Connect Prompt Create 1.0 §4.
        const REGISTERED: [&str; 27] = [
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "userinfo_endpoint",
            "jwks_uri",
            "end_session_endpoint",
            "scopes_supported",
            "response_types_supported",
            "response_modes_supported",
            "grant_types_supported",
            "subject_types_supported",
            "id_token_signing_alg_values_supported",
            "token_endpoint_auth_methods_supported",
            "token_endpoint_auth_signing_alg_values_supported",
            "claims_supported",
            "claim_types_supported",
            "code_challenge_methods_supported",
            "acr_values_supported",
            "display_values_supported",
            "prompt_values_supported",
            "ui_locales_supported",
            "claims_parameter_supported",
            "request_parameter_supported",
            "request_uri_parameter_supported",
            "require_request_uri_registration",
            "authorization_response_iss_parameter_supported",
            "registration_endpoint",
        ];
        let d = doc();
        for key in d
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            assert!(
                REGISTERED.contains(&key.as_str()),
                "unregistered metadata {key}"
            );
        }
    }

    #[test]
    fn discovery_never_advertises_none_or_plain() {
        let text = String::from_utf8(metadata().to_json().expect("json")).expect("utf8");
        assert!(!text.contains("\"plain\""));
        assert!(!text.contains("\"token\""));
        let d = doc();
        assert!(
            !d["id_token_signing_alg_values_supported"]
                .as_array()
                .is_some_and(|a| a.contains(&"none".into()))
        );
    }
}
