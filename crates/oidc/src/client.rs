//! What the provider knows about a registered client: its redirect URIs, how it authenticates, its scopes and its
//! ID-token algorithm; the redirect-URI rules (RFC 9700 §4.1.3 exact match, RFC 8252 §7.3 loopback port).

use std::fmt;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use tessera_core::ClientId;

use crate::error::OidcError;
use crate::keys::{JwkSet, SigningAlg};

/// A registered OAuth client, as the store hands it to this crate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientConfig {
    /// The client identifier.
    pub client_id: ClientId,
    /// Registered redirect URIs, compared byte for byte (loopback port excepted).
    pub redirect_uris: Vec<String>,
    /// Registered `post_logout_redirect_uri` values, compared byte for byte.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// How the client authenticates at the token endpoint; [`ClientAuthConfig::None`] makes it public.
    pub auth: ClientAuthConfig,
    /// Scopes this client may be granted besides `openid`; empty means every scope the provider supports.
    #[serde(default)]
    pub allowed_scopes: Vec<String>,
    /// Algorithm of the ID tokens this client receives (`id_token_signed_response_alg`, default RS256).
    #[serde(default = "default_alg")]
    pub id_token_alg: SigningAlg,
}

fn default_alg() -> SigningAlg {
    SigningAlg::Rs256
}

/// Whether a client can keep a secret (RFC 6749 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientType {
    /// Holds a secret or a private key.
    Confidential,
    /// Native or browser app: PKCE is mandatory.
    Public,
}

/// A client's registered token-endpoint authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum ClientAuthConfig {
    /// Public client (`token_endpoint_auth_method=none`).
    None,
    /// `client_secret_basic` or `client_secret_post`; only the SHA-256 of the secret is kept.
    ClientSecret {
        /// SHA-256 of the secret.
        secret_hash: SecretHash,
    },
    /// `private_key_jwt` against the client's registered JWKS.
    PrivateKeyJwt {
        /// The client's public keys.
        jwks: JwkSet,
    },
}

impl ClientConfig {
    /// Public or confidential, from the registered authentication.
    pub fn client_type(&self) -> ClientType {
        match self.auth {
            ClientAuthConfig::None => ClientType::Public,
            _ => ClientType::Confidential,
        }
    }

    /// Whether `redirect_uri` is registered: simple string comparison (RFC 9700 §2.1, RFC 3986 §6.2.1), except that
    /// the port of an `http://127.0.0.1` or `http://[::1]` URI may differ (RFC 8252 §7.3). `localhost` gets no such
    /// exception (RFC 8252 §8.3).
    pub fn redirect_uri_registered(&self, redirect_uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| redirect_uri_matches(registered, redirect_uri))
    }

    /// Whether `uri` is a registered `post_logout_redirect_uri` (exact string comparison).
    pub fn post_logout_redirect_uri_registered(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|r| r == uri)
    }

    /// Whether the client may be granted `scope` (`openid` always).
    pub fn scope_allowed(&self, scope: &str) -> bool {
        scope == "openid"
            || self.allowed_scopes.is_empty()
            || self.allowed_scopes.iter().any(|s| s == scope)
    }
}

/// The SHA-256 of a client secret, compared in constant time. Serialized as base64url.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretHash([u8; 32]);

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash([redacted])")
    }
}

impl SecretHash {
    /// Hashes a secret. Secrets are high-entropy random strings, so a fast hash is right (no password KDF, which
    /// would make every token request a denial-of-service lever).
    pub fn of(secret: &str) -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, secret.as_bytes()).as_ref());
        Self(out)
    }

    /// Wraps a stored digest.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `secret` hashes to this value; the digests are compared in constant time.
    pub fn matches(&self, secret: &str) -> bool {
        verify_slices_are_equal(Self::of(secret).0.as_slice(), self.0.as_slice()).is_ok()
    }
}

impl TryFrom<String> for SecretHash {
    type Error = OidcError;
    fn try_from(value: String) -> Result<Self, OidcError> {
        let bytes = B64
            .decode(value)
            .map_err(|_| OidcError::MalformedParameter {
                name: "secret_hash",
            })?;
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| OidcError::MalformedParameter {
                name: "secret_hash",
            })
    }
}

impl From<SecretHash> for String {
    fn from(value: SecretHash) -> String {
        B64.encode(value.0)
    }
}

const LOOPBACK_PREFIXES: [&str; 2] = ["http://127.0.0.1", "http://[::1]"];

/// Splits a loopback URI into (prefix, rest-after-port); `None` if it is not an `http` loopback-IP URI.
fn split_loopback(uri: &str) -> Option<(&'static str, &str)> {
    let prefix = LOOPBACK_PREFIXES.into_iter().find(|p| uri.starts_with(p))?;
    let after = &uri[prefix.len()..];
    let rest = match after.strip_prefix(':') {
        Some(port_and_rest) => {
            let digits = port_and_rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || port_and_rest[..digits].parse::<u16>().is_err() {
                return None;
            }
            &port_and_rest[digits..]
        }
        None => after,
    };
    if rest.is_empty() || rest.starts_with(['/', '?']) {
        Some((prefix, rest))
    } else {
        None
    }
}

/// One registered URI against one requested URI (see [`ClientConfig::redirect_uri_registered`]).
pub fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    match (split_loopback(registered), split_loopback(requested)) {
        (Some((p1, r1)), Some((p2, r2))) => p1 == p2 && r1 == r2,
        _ => false,
    }
}

/// Checks a redirect URI offered for registration: absolute, no fragment, no user info, no whitespace or
/// quoting characters; `https`, or `http` on a loopback IP only, or a private-use scheme in reverse-domain form
/// (RFC 8252 §7.1).
pub fn validate_redirect_uri_for_registration(uri: &str) -> Result<(), OidcError> {
    tessera_core::RedirectUri::parse(uri)
        .map(drop)
        .map_err(|_| OidcError::RedirectUriNotAcceptable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(uris: &[&str]) -> ClientConfig {
        ClientConfig {
            client_id: ClientId::parse("app").expect("id"),
            redirect_uris: uris.iter().map(|s| (*s).to_owned()).collect(),
            post_logout_redirect_uris: vec![],
            auth: ClientAuthConfig::None,
            allowed_scopes: vec![],
            id_token_alg: SigningAlg::Rs256,
        }
    }

    #[test]
    fn redirect_uri_exact_match_only() {
        let c = client(&["https://rp.example/cb"]);
        assert!(c.redirect_uri_registered("https://rp.example/cb"));
        for near in [
            "https://rp.example/cb/",
            "https://rp.example/cb?x=1",
            "https://RP.example/cb",
            "https://rp.example/CB",
            "https://rp.example:443/cb",
            "https://rp.example/cb#f",
            "https://rp.example/c%62",
            "https://rp.example.evil/cb",
            "http://rp.example/cb",
        ] {
            assert!(!c.redirect_uri_registered(near), "{near} accepted");
        }
    }

    #[test]
    fn loopback_redirect_uri_port_may_vary() {
        let c = client(&["http://127.0.0.1/cb", "http://[::1]:8080/cb"]);
        assert!(c.redirect_uri_registered("http://127.0.0.1:51004/cb"));
        assert!(c.redirect_uri_registered("http://127.0.0.1/cb"));
        assert!(c.redirect_uri_registered("http://[::1]:1/cb"));
        assert!(!c.redirect_uri_registered("http://127.0.0.1:51004/other"));
        assert!(!c.redirect_uri_registered("http://127.0.0.1:99999/cb"));
        assert!(!c.redirect_uri_registered("http://127.0.0.1.evil/cb"));
        assert!(!c.redirect_uri_registered("http://127.0.0.1:80@evil/cb"));
        assert!(!c.redirect_uri_registered("http://[::1]:8080/cb/x"));
    }

    #[test]
    fn localhost_gets_no_port_variance() {
        let c = client(&["http://localhost/cb"]);
        assert!(!c.redirect_uri_registered("http://localhost:8080/cb"));
    }

    #[test]
    fn registration_refuses_unsafe_redirect_uris() {
        for ok in [
            "https://rp.example/cb",
            "http://127.0.0.1:8080/cb",
            "com.example.app:/oauth",
            "https://rp.example/cb?a=1",
        ] {
            assert_eq!(validate_redirect_uri_for_registration(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://rp.example/cb",
            "https://rp.example/cb#frag",
            "javascript:alert(1)",
            "data:text/html,x",
            "/relative",
            "https://user:pw@rp.example/cb",
            "https://rp.example/c b",
            "https://rp.example/\"x",
            "http://localhost/cb",
            "myapp:/cb",
        ] {
            assert!(
                validate_redirect_uri_for_registration(bad).is_err(),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn secret_hash_matches_only_the_secret() {
        let h = SecretHash::of("s3cret");
        assert!(h.matches("s3cret"));
        assert!(!h.matches("s3cret "));
        assert!(!h.matches(""));
        let json = serde_json::to_string(&h).expect("json");
        let back: SecretHash = serde_json::from_str(&json).expect("back");
        assert_eq!(back, h);
        assert_eq!(format!("{h:?}"), "SecretHash([redacted])");
    }
}
