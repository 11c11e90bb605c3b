//! OAuth clients of a tenant: registration with a generated id and, for confidential clients, a secret shown once.

use tessera_core::{ClientId, RedirectUri, Secret, TenantId};
use tessera_oidc::keys::SigningAlg;
use tessera_store::{Client, Store, StoreError};
use time::OffsetDateTime;

use crate::error::{Result, ServiceError};
use crate::handles::{random_token, sha256};

/// The scopes every client may request unless registered otherwise.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// What a new client needs.
#[derive(Debug, Clone)]
pub struct NewClient {
    /// The tenant to register with.
    pub tenant: TenantId,
    /// Redirect URIs, compared exactly at authorization (at least one).
    pub redirect_uris: Vec<RedirectUri>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// A public client (no secret, PKCE required).
    pub kind: ClientKind,
    /// ID token signing algorithm.
    pub id_token_alg: SigningAlg,
    /// Name shown to users.
    pub name: Option<String>,
}

/// Whether `http://localhost` redirect URIs may be registered. RFC 8252 §8.3 advises loopback IPs instead, and
/// `tessera_oidc` refuses them; only the loopback demo opts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LocalhostHttp {
    /// Refused (the default).
    #[default]
    Refuse,
    /// Accepted, for a relying party served on `http://localhost` beside Tessera itself.
    InsecureAllow,
}

/// Parses a redirect URI (or post-logout redirect URI) as an operator types it.
pub fn parse_redirect_uri(text: &str, localhost_http: LocalhostHttp) -> Result<RedirectUri> {
    let parsed = match localhost_http {
        LocalhostHttp::Refuse => RedirectUri::parse(text),
        LocalhostHttp::InsecureAllow => RedirectUri::parse_insecure_allow_localhost_http(text),
    };
    parsed.map_err(|e| ServiceError::InvalidRedirectUri {
        reason: format!("{text:?}: {e}"),
    })
}

/// Parses a list of redirect URIs; see [`parse_redirect_uri`].
pub fn parse_redirect_uris(
    texts: &[String],
    localhost_http: LocalhostHttp,
) -> Result<Vec<RedirectUri>> {
    texts
        .iter()
        .map(|text| parse_redirect_uri(text, localhost_http))
        .collect()
}

/// Whether a client can keep a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// Authenticates with a secret, by `client_secret_basic` (the OIDC default).
    ConfidentialBasic,
    /// Authenticates with a secret in the form body (`client_secret_post`).
    ConfidentialPost,
    /// A native or browser app: no secret, PKCE required.
    Public,
}

/// Registers a client with a generated id. Returns the client and, for a confidential client, its secret: shown
/// once, only its SHA-256 is stored.
pub async fn create_client(
    store: &dyn Store,
    new: NewClient,
    now: OffsetDateTime,
) -> Result<(Client, Option<Secret>)> {
    if store.get_tenant(&new.tenant).await?.is_none() {
        return Err(ServiceError::TenantNotFound);
    }
    if new.redirect_uris.is_empty() {
        return Err(ServiceError::InvalidRedirectUri {
            reason: "at least one is required".into(),
        });
    }
    let client_id = ClientId::parse(&random_token(16)?)
        .map_err(|e| ServiceError::Internal(format!("generated client id refused: {e}")))?;
    let (secret, secret_hash, method) = match new.kind {
        ClientKind::Public => (None, None, "none"),
        kind => {
            let secret = Secret::new(random_token(32)?);
            let hash = sha256(secret.expose().as_bytes());
            let method = if kind == ClientKind::ConfidentialPost {
                "client_secret_post"
            } else {
                "client_secret_basic"
            };
            (Some(secret), Some(hash), method)
        }
    };
    let client = Client {
        tenant: new.tenant,
        display_name: new.name.unwrap_or_else(|| client_id.to_string()),
        client_id,
        secret_hash,
        redirect_uris: new.redirect_uris.into_iter().map(String::from).collect(),
        post_logout_redirect_uris: new
            .post_logout_redirect_uris
            .into_iter()
            .map(String::from)
            .collect(),
        token_endpoint_auth_method: method.to_owned(),
        id_token_signed_response_alg: new.id_token_alg.as_str().to_owned(),
        jwks: None,
        allowed_scopes: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        created_at: now,
    };
    store.create_client(&client).await.map_err(|e| match e {
        StoreError::Conflict => ServiceError::ClientExists,
        other => other.into(),
    })?;
    Ok((client, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_errors_name_the_uri_and_the_rule() {
        let error = parse_redirect_uri("http://rp.example/cb", LocalhostHttp::Refuse)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.starts_with("redirect-uri: \"http://rp.example/cb\": http is allowed only"),
            "{error}"
        );
        assert!(matches!(
            parse_redirect_uri("https://rp.example/cb#f", LocalhostHttp::InsecureAllow),
            Err(ServiceError::InvalidRedirectUri { .. })
        ));
        assert!(
            parse_redirect_uri("http://localhost:8081/cb", LocalhostHttp::InsecureAllow).is_ok()
        );
        assert!(parse_redirect_uri("http://localhost:8081/cb", LocalhostHttp::Refuse).is_err());
    }
}
