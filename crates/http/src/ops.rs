//! Operator operations on tenants, clients and signing keys, shared by the `tessera` CLI and (later) the admin API.
//!
//! Each takes the store, the master key and `now` explicitly, so it runs the same from a one-shot command or a
//! request handler. Signing keys are generated and encrypted with `tessera_oidc`'s functions and stored encrypted.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use tessera_core::{ClientId, Secret, TenantId};
use tessera_oidc::keys::{EncryptedSigningKey, KeySet, MasterKey, SigningAlg, SigningKey};
use tessera_store::{Client, KeyStatus, Store, StoreError, Tenant};
use time::OffsetDateTime;

use crate::error::AppError;

/// The scopes every client may request unless registered otherwise.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// What a new tenant needs.
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// The path segment.
    pub id: TenantId,
    /// The WebAuthn RP ID (a registrable domain, `localhost` for local use).
    pub rp_id: String,
    /// Origins allowed in WebAuthn responses, compared exactly.
    pub origins: Vec<String>,
    /// Name shown to users; the id when absent.
    pub display_name: Option<String>,
}

/// Creates a tenant with fresh RS256 and ES256 signing keys (stored encrypted under `master`).
pub async fn create_tenant(
    store: &dyn Store,
    master: &MasterKey,
    new: NewTenant,
    now: OffsetDateTime,
) -> Result<Tenant, AppError> {
    if new.rp_id.is_empty() || new.rp_id.contains(['/', ':', ' ']) {
        return Err(AppError::InvalidArgument {
            name: "rp-id",
            message: "must be a domain name such as localhost".into(),
        });
    }
    if new.origins.is_empty() {
        return Err(AppError::InvalidArgument {
            name: "origin",
            message: "at least one origin is required".into(),
        });
    }
    for origin in &new.origins {
        let parsed = url::Url::parse(origin).map_err(|_| AppError::InvalidArgument {
            name: "origin",
            message: format!("{origin:?} is not an origin like https://id.example.com"),
        })?;
        if parsed.origin().ascii_serialization() != *origin {
            return Err(AppError::InvalidArgument {
                name: "origin",
                message: format!(
                    "{origin:?} must be a bare origin (scheme://host[:port], no path or trailing slash)"
                ),
            });
        }
        // WebAuthn: the RP ID must be the origin's host or a registrable suffix of it.
        let host = parsed.host_str().unwrap_or_default();
        if host != new.rp_id && !host.ends_with(&format!(".{}", new.rp_id)) {
            return Err(AppError::InvalidArgument {
                name: "origin",
                message: format!("{origin:?} is not within the RP ID {:?}", new.rp_id),
            });
        }
    }
    let tenant = Tenant {
        display_name: new.display_name.unwrap_or_else(|| new.id.to_string()),
        id: new.id,
        rp_id: new.rp_id,
        origins: new.origins,
        policy: serde_json::json!({}),
        created_at: now,
    };
    store.create_tenant(&tenant).await.map_err(|e| match e {
        StoreError::Conflict => AppError::AlreadyExists("tenant"),
        other => other.into(),
    })?;
    for alg in [SigningAlg::Rs256, SigningAlg::Es256] {
        add_signing_key(store, master, &tenant.id, alg, KeyStatus::Active, now).await?;
    }
    Ok(tenant)
}

async fn add_signing_key(
    store: &dyn Store,
    master: &MasterKey,
    tenant: &TenantId,
    alg: SigningAlg,
    status: KeyStatus,
    now: OffsetDateTime,
) -> Result<String, AppError> {
    // RSA generation takes tens of milliseconds: keep it off the async workers.
    let key = tokio::task::spawn_blocking(move || SigningKey::generate(alg))
        .await
        .map_err(|e| AppError::Internal(format!("key generation task: {e}")))?
        .map_err(|e| AppError::Internal(format!("key generation: {e}")))?;
    let encrypted = key
        .encrypt(master, tenant)
        .map_err(|e| AppError::Internal(format!("key encryption: {e}")))?;
    let record = tessera_store::SigningKey {
        tenant: tenant.clone(),
        kid: key.kid().to_owned(),
        alg: alg.as_str().to_owned(),
        private_key_encrypted: serde_json::to_vec(&encrypted)
            .map_err(|e| AppError::Internal(format!("key serialization: {e}")))?,
        public_jwk: serde_json::to_value(key.public_jwk())
            .map_err(|e| AppError::Internal(format!("key serialization: {e}")))?,
        created_at: now,
        retired_at: None,
        status,
    };
    store.put_signing_key(&record).await?;
    Ok(record.kid)
}

/// How long new keys are published before they sign: relying parties may cache the JWKS for its `max-age` (300 s)
/// and every node caches a tenant for up to a minute, so a token signed by a new key always finds that key in the
/// JWKS its verifier holds.
pub const KEY_PUBLICATION_DELAY: time::Duration = time::Duration::minutes(7);

/// How a rotation switches to the new keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// Publish the new keys now; they start signing after [`KEY_PUBLICATION_DELAY`] (the maintenance task switches).
    Staged,
    /// Sign with the new keys at once (a suspected key compromise); verifiers holding an older JWKS fail until they
    /// fetch it again.
    Immediate,
}

/// Rotates a tenant's signing keys: a new RS256 and an ES256 key, signing now or after publication (`rotation`).
/// The keys they replace are retired when the new ones start signing, and stay published until the tokens they
/// signed have expired (see [`retired_key_grace`]). Returns the new kids.
pub async fn rotate_keys(
    store: &dyn Store,
    master: &MasterKey,
    tenant: &TenantId,
    rotation: Rotation,
    now: OffsetDateTime,
) -> Result<Vec<String>, AppError> {
    if store.get_tenant(tenant).await?.is_none() {
        return Err(AppError::UnknownTenant);
    }
    let old = store.list_signing_keys(tenant).await?;
    let status = match rotation {
        Rotation::Staged => KeyStatus::Pending,
        Rotation::Immediate => KeyStatus::Active,
    };
    let mut kids = Vec::new();
    for alg in [SigningAlg::Rs256, SigningAlg::Es256] {
        kids.push(add_signing_key(store, master, tenant, alg, status, now).await?);
    }
    if rotation == Rotation::Immediate {
        for key in old.iter().filter(|k| k.status != KeyStatus::Retired) {
            store.retire_signing_key(tenant, &key.kid, now).await?;
        }
    }
    Ok(kids)
}

/// Switches a tenant to its pending keys once they have been published for [`KEY_PUBLICATION_DELAY`]: the newest
/// due pending key of each algorithm becomes active and every other unretired key of that algorithm is retired.
/// Returns whether anything changed (the caller then reloads the tenant).
pub async fn activate_due_keys(
    store: &dyn Store,
    tenant: &TenantId,
    now: OffsetDateTime,
) -> Result<bool, AppError> {
    let keys = store.list_signing_keys(tenant).await?;
    let mut changed = false;
    for alg in [SigningAlg::Rs256, SigningAlg::Es256] {
        let due = keys.iter().rev().find(|k| {
            k.alg == alg.as_str()
                && k.status == KeyStatus::Pending
                && k.created_at + KEY_PUBLICATION_DELAY <= now
        });
        let Some(due) = due else { continue };
        store.activate_signing_key(tenant, &due.kid).await?;
        for other in keys
            .iter()
            .filter(|k| k.alg == alg.as_str() && k.kid != due.kid && k.status != KeyStatus::Retired)
        {
            // Only keys older than the one switched to: a newer pending key waits for its own turn.
            if other.created_at <= due.created_at {
                store.retire_signing_key(tenant, &other.kid, now).await?;
            }
        }
        changed = true;
    }
    Ok(changed)
}

/// How long a retired key stays published: the longest lifetime of a token it may have signed, plus clock skew.
pub fn retired_key_grace(access_token_ttl: std::time::Duration) -> time::Duration {
    time::Duration::try_from(access_token_ttl).unwrap_or(time::Duration::HOUR)
        + time::Duration::minutes(5)
}

/// Loads and decrypts a tenant's publishable keys, signing keys first (newest active key of each algorithm), then
/// pending and retired keys still within `grace` of their retirement.
pub fn key_set(
    records: &[tessera_store::SigningKey],
    master: &MasterKey,
    tenant: &TenantId,
    now: OffsetDateTime,
    grace: time::Duration,
) -> Result<KeySet, AppError> {
    let mut ordered: Vec<&tessera_store::SigningKey> = Vec::with_capacity(records.len());
    ordered.extend(
        records
            .iter()
            .rev()
            .filter(|k| k.status == KeyStatus::Active),
    );
    ordered.extend(
        records
            .iter()
            .rev()
            .filter(|k| k.status == KeyStatus::Pending),
    );
    ordered.extend(records.iter().rev().filter(|k| {
        k.status == KeyStatus::Retired && k.retired_at.is_none_or(|at| at + grace > now)
    }));
    let mut keys = Vec::with_capacity(ordered.len());
    for record in ordered {
        let stored: EncryptedSigningKey = serde_json::from_slice(&record.private_key_encrypted)
            .map_err(|e| AppError::StoreCorrupt(format!("signing key {}: {e}", record.kid)))?;
        let key = SigningKey::decrypt(&stored, master, tenant).map_err(|e| {
            AppError::Internal(format!("signing key {} of {tenant}: {e}", record.kid))
        })?;
        keys.push(key);
    }
    KeySet::new(keys).map_err(|e| AppError::Internal(format!("key set of {tenant}: {e}")))
}

/// What a new client needs.
#[derive(Debug, Clone)]
pub struct NewClient {
    /// The tenant to register with.
    pub tenant: TenantId,
    /// Redirect URIs, compared exactly at authorization.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (no secret, PKCE required).
    pub kind: ClientKind,
    /// ID token signing algorithm.
    pub id_token_alg: SigningAlg,
    /// Name shown to users.
    pub name: Option<String>,
    /// Whether `http://localhost` redirect URIs are accepted (the demo's relying party needs one).
    pub localhost_http: LocalhostHttp,
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

fn localhost_http_uri(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| {
        u.scheme() == "http"
            && u.host_str() == Some("localhost")
            && u.fragment().is_none()
            && u.username().is_empty()
            && u.password().is_none()
    })
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
) -> Result<(Client, Option<Secret>), AppError> {
    if store.get_tenant(&new.tenant).await?.is_none() {
        return Err(AppError::UnknownTenant);
    }
    if new.redirect_uris.is_empty() {
        return Err(AppError::InvalidArgument {
            name: "redirect-uri",
            message: "at least one is required".into(),
        });
    }
    for uri in new
        .redirect_uris
        .iter()
        .chain(&new.post_logout_redirect_uris)
    {
        if new.localhost_http == LocalhostHttp::InsecureAllow && localhost_http_uri(uri) {
            continue;
        }
        tessera_oidc::client::validate_redirect_uri_for_registration(uri).map_err(|e| {
            AppError::InvalidArgument {
                name: "redirect-uri",
                message: format!("{uri:?}: {e}"),
            }
        })?;
    }
    let client_id = ClientId::parse(&random_token(16)?)
        .map_err(|e| AppError::Internal(format!("generated client id refused: {e}")))?;
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
        redirect_uris: new.redirect_uris,
        post_logout_redirect_uris: new.post_logout_redirect_uris,
        token_endpoint_auth_method: method.to_owned(),
        id_token_signed_response_alg: new.id_token_alg.as_str().to_owned(),
        jwks: None,
        allowed_scopes: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        created_at: now,
    };
    store.create_client(&client).await.map_err(|e| match e {
        StoreError::Conflict => AppError::AlreadyExists("client"),
        other => other.into(),
    })?;
    Ok((client, secret))
}

/// `n` random bytes as base64url without padding.
pub fn random_token(n: usize) -> Result<String, AppError> {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| AppError::Internal("random generation failed".into()))?;
    Ok(B64.encode(bytes))
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}
