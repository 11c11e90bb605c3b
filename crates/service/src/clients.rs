//! OAuth clients of a tenant: registration with a generated id and, for confidential clients, a secret shown once.

use tessera_core::{ClientId, RedirectUri, RedirectUriError, Secret, TenantId};
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
    /// Name shown to users; without one, [`default_name`] of the first redirect URI.
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

/// What a redirect URI may be, said after every refusal.
pub const REDIRECT_URI_RULES: &str = "accepted: https://... on any host, http:// only on a loopback IP \
     (http://127.0.0.1:PORT/... or http://[::1]:PORT/...), or a private-use scheme in reverse-domain form \
     (com.example.app:/callback)";

/// Parses a redirect URI (or post-logout redirect URI) as an operator types it. A refusal names the URI, says why
/// and what is accepted; `http://localhost` gets its own advice (RFC 8252 §8.3: use the loopback IP).
pub fn parse_redirect_uri(text: &str, localhost_http: LocalhostHttp) -> Result<RedirectUri> {
    let parsed = match localhost_http {
        LocalhostHttp::Refuse => RedirectUri::parse(text),
        LocalhostHttp::InsecureAllow => RedirectUri::parse_insecure_allow_localhost_http(text),
    };
    parsed.map_err(|e| {
        let localhost = url::Url::parse(text)
            .is_ok_and(|u| u.scheme() == "http" && u.host_str() == Some("localhost"));
        let reason = if localhost && e == RedirectUriError::HttpOffLoopback {
            let suggestion = text.replacen("localhost", "127.0.0.1", 1);
            format!(
                "{text:?}: http://localhost is refused because the name can resolve to another machine \
                 (RFC 8252 §8.3); register {suggestion:?} and have the application listen on 127.0.0.1, or \
                 pass --allow-localhost-http for a development client; {REDIRECT_URI_RULES}"
            )
        } else {
            format!("{text:?}: {e}; {REDIRECT_URI_RULES}")
        };
        ServiceError::InvalidRedirectUri { reason }
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
        display_name: match new.name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => checked_name(name)?,
            _ => default_name(&new.redirect_uris[0]),
        },
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

/// The name a client gets when the operator gives none: the host (and port) of its first redirect URI, or the
/// private-use scheme (`com.example.app`) — what users recognise, never a random id.
pub fn default_name(first: &RedirectUri) -> String {
    match url::Url::parse(first.as_str()) {
        Ok(url) => match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) if !host.is_empty() => host.to_owned(),
            _ => url.scheme().to_owned(),
        },
        Err(_) => first.as_str().to_owned(),
    }
}

/// Checks a display name an operator gives: not blank, at most 200 characters, no control characters.
fn checked_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ServiceError::InvalidDisplayName {
            reason: "a client name must be 1 to 200 characters, without control characters".into(),
        });
    }
    Ok(name.to_owned())
}

/// A tenant's clients, ordered by id; [`ServiceError::TenantNotFound`] for an unknown tenant.
pub async fn list_clients(store: &dyn Store, tenant: &TenantId) -> Result<Vec<Client>> {
    if store.get_tenant(tenant).await?.is_none() {
        return Err(ServiceError::TenantNotFound);
    }
    Ok(store.list_clients(tenant).await?)
}

/// One page of a tenant's clients: the clients, and the id the next page starts after (none on the last page).
#[derive(Debug, Clone)]
pub struct ClientPage {
    /// The clients of this page, ordered by client id.
    pub clients: Vec<Client>,
    /// The last client's id when more follow.
    pub next: Option<ClientId>,
}

/// A tenant's clients ordered by client id, those `filter` matches (in the store, before the page is cut), after
/// `after`: a page of at most `limit` (1 to [`crate::users::MAX_PAGE_SIZE`]), telling whether more follow;
/// [`ServiceError::TenantNotFound`] for an unknown tenant.
pub async fn list_clients_page(
    store: &dyn Store,
    tenant: &TenantId,
    filter: &tessera_store::ClientFilter,
    after: Option<&ClientId>,
    limit: u32,
) -> Result<ClientPage> {
    if store.get_tenant(tenant).await?.is_none() {
        return Err(ServiceError::TenantNotFound);
    }
    let limit = limit.clamp(1, crate::users::MAX_PAGE_SIZE);
    // One more than asked tells whether there is a next page.
    let mut clients = store
        .list_clients_page(tenant, filter, after, limit + 1)
        .await?;
    let next = if clients.len() > limit as usize {
        clients.truncate(limit as usize);
        clients.last().map(|c| c.client_id.clone())
    } else {
        None
    };
    Ok(ClientPage { clients, next })
}

/// One client; [`ServiceError::TenantNotFound`] or [`ServiceError::ClientNotFound`].
pub async fn get_client(store: &dyn Store, tenant: &TenantId, id: &ClientId) -> Result<Client> {
    if store.get_tenant(tenant).await?.is_none() {
        return Err(ServiceError::TenantNotFound);
    }
    store
        .get_client(tenant, id)
        .await?
        .ok_or(ServiceError::ClientNotFound)
}

/// What an update changes; `None` keeps the stored value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientUpdate {
    /// A new name shown to users.
    pub name: Option<String>,
    /// New redirect URIs (replacing all; at least one).
    pub redirect_uris: Option<Vec<RedirectUri>>,
    /// New post-logout redirect URIs (replacing all; may be empty).
    pub post_logout_redirect_uris: Option<Vec<RedirectUri>>,
}

impl ClientUpdate {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// Changes a client's name or redirect URIs; its id, secret and authentication method stay. Takes effect at the
/// next request (clients are not cached).
///
/// With `expected` (the client as the caller read it, whose `ETag` or form version it checked) the change is a
/// conditional write: if anyone changed the client since, nothing is written and [`ServiceError::Changed`] says
/// so; of two changes based on one read exactly one is saved. `None` (the offline CLI) changes the stored client.
pub async fn update_client(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ClientId,
    update: ClientUpdate,
    expected: Option<&Client>,
) -> Result<Client> {
    let mut client = get_client(store, tenant, id).await?;
    refuse_changed(&client, expected, "client")?;
    if let Some(name) = &update.name {
        client.display_name = checked_name(name)?;
    }
    if let Some(uris) = update.redirect_uris {
        if uris.is_empty() {
            return Err(ServiceError::InvalidRedirectUri {
                reason: "at least one is required".into(),
            });
        }
        client.redirect_uris = uris.into_iter().map(String::from).collect();
    }
    if let Some(uris) = update.post_logout_redirect_uris {
        client.post_logout_redirect_uris = uris.into_iter().map(String::from).collect();
    }
    store
        .update_client(&client, expected)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ServiceError::ClientNotFound,
            StoreError::Changed => ServiceError::Changed { what: "client" },
            other => other.into(),
        })?;
    Ok(client)
}

/// [`ServiceError::Changed`] if the caller's `expected` read is not what is stored now (checked again by the
/// store's conditional write, which closes the gap between this read and the write).
pub(crate) fn refuse_changed<T: PartialEq>(
    current: &T,
    expected: Option<&T>,
    what: &'static str,
) -> Result<()> {
    match expected {
        Some(expected) if expected != current => Err(ServiceError::Changed { what }),
        _ => Ok(()),
    }
}

/// Gives a confidential client a new secret: returned this once, only its SHA-256 stored; the old secret stops
/// working at once. A public client has none ([`ServiceError::InvalidInput`] naming `secret`).
pub async fn regenerate_secret(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ClientId,
) -> Result<(Client, Secret)> {
    let mut client = get_client(store, tenant, id).await?;
    if client.secret_hash.is_none() {
        return Err(ServiceError::InvalidInput(
            "secret: a public client has no secret".into(),
        ));
    }
    let secret = Secret::new(random_token(32)?);
    let hash = sha256(secret.expose().as_bytes());
    store
        .replace_client_secret(tenant, id, &hash)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ServiceError::ClientNotFound,
            other => other.into(),
        })?;
    client.secret_hash = Some(hash);
    Ok((client, secret))
}

/// Deletes a client and everything it was issued (codes, access and refresh tokens): its users' next token
/// request or userinfo call fails. Users, passkeys and browser sessions stay. With `expected` (the client as
/// read), only if nobody changed it since ([`ServiceError::Changed`] otherwise, and nothing is deleted).
pub async fn delete_client(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ClientId,
    expected: Option<&Client>,
) -> Result<()> {
    if store.get_tenant(tenant).await?.is_none() {
        return Err(ServiceError::TenantNotFound);
    }
    store
        .delete_client(tenant, id, expected)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ServiceError::ClientNotFound,
            StoreError::Changed => ServiceError::Changed { what: "client" },
            other => other.into(),
        })
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
