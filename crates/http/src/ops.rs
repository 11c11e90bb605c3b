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
use tessera_webauthn::json::UserVerificationRequirement;
use tessera_webauthn::{
    Aaguid, AttestationPolicy, AuthenticatorPolicy, CertificationLevel, SignCountPolicy,
    SyncedPasskeys,
};

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

/// Creates a tenant with fresh RS256 and ES256 signing keys (stored encrypted under `master`) and the default
/// authenticator policy.
pub async fn create_tenant(
    store: &dyn Store,
    master: &MasterKey,
    new: NewTenant,
    now: OffsetDateTime,
) -> Result<Tenant, AppError> {
    create_tenant_with_policy(store, master, new, None, now).await
}

/// Creates a tenant as [`create_tenant`] does, with `policy` as its authenticator policy (`None`: the defaults).
pub async fn create_tenant_with_policy(
    store: &dyn Store,
    master: &MasterKey,
    new: NewTenant,
    policy: Option<&AuthenticatorPolicy>,
    now: OffsetDateTime,
) -> Result<Tenant, AppError> {
    if new.rp_id.is_empty() || new.rp_id.contains(['/', ':', ' ']) {
        return Err(AppError::InvalidArgument {
            name: "rp-id",
            message: "must be a domain name such as localhost".into(),
        });
    }
    validate_origins(&new.rp_id, &new.origins)?;
    let display_name = match &new.display_name {
        Some(name) => validate_display_name(name)?,
        None => new.id.to_string(),
    };
    let policy = match policy {
        Some(policy) => {
            validate_policy(policy)?;
            policy_json(policy)?
        }
        None => serde_json::json!({}),
    };
    let tenant = Tenant {
        display_name,
        id: new.id,
        rp_id: new.rp_id,
        origins: new.origins,
        policy,
        created_at: now,
        revision: Tenant::FIRST_REVISION,
    };
    let mut keys = Vec::new();
    for alg in [SigningAlg::Rs256, SigningAlg::Es256] {
        keys.push(new_signing_key(master, &tenant.id, alg, KeyStatus::Active, now).await?);
    }
    // One transaction: a tenant never exists without its keys.
    store
        .create_tenant_with_keys(&tenant, &keys)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => AppError::AlreadyExists("tenant"),
            other => other.into(),
        })?;
    Ok(tenant)
}

/// Checks WebAuthn origins for a tenant: at least one, each a bare origin within the RP ID.
fn validate_origins(rp_id: &str, origins: &[String]) -> Result<(), AppError> {
    if origins.is_empty() {
        return Err(AppError::InvalidArgument {
            name: "origin",
            message: "at least one origin is required".into(),
        });
    }
    for origin in origins {
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
        if host != rp_id && !host.ends_with(&format!(".{}", rp_id)) {
            return Err(AppError::InvalidArgument {
                name: "origin",
                message: format!("{origin:?} is not within the RP ID {:?}", rp_id),
            });
        }
    }
    Ok(())
}

/// Longest tenant display name accepted.
pub const MAX_TENANT_DISPLAY_NAME: usize = 128;

fn validate_display_name(raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    let refuse = |message: String| AppError::InvalidArgument {
        name: "display-name",
        message,
    };
    if name.is_empty() {
        return Err(refuse("must not be empty".into()));
    }
    if name.chars().any(crate::pages::signup::is_disallowed_char) {
        return Err(refuse(
            "must not contain control or invisible formatting characters".into(),
        ));
    }
    if name.chars().count() > MAX_TENANT_DISPLAY_NAME {
        return Err(refuse(format!(
            "may be at most {MAX_TENANT_DISPLAY_NAME} characters long"
        )));
    }
    Ok(name.to_owned())
}

/// Changes to a tenant's authenticator policy; `None` leaves a setting as it is. The `tessera idp tenant` commands,
/// `tessera webauthn` and (later) the admin API all go through it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyChange {
    /// User verification required (`true`) or only preferred (`false`).
    pub require_user_verification: Option<bool>,
    /// How much attestation registrations must carry.
    pub attestation: Option<AttestationPolicy>,
    /// The AAGUID allow-list, replaced whole (an empty list allows every model).
    pub aaguid_allow: Option<Vec<Aaguid>>,
    /// The AAGUID deny-list, replaced whole.
    pub aaguid_deny: Option<Vec<Aaguid>>,
    /// The minimum FIDO certification level (`Some(None)` removes it).
    pub minimum_certification_level: Option<Option<CertificationLevel>>,
    /// Synced (backup-eligible) passkeys allowed or refused.
    pub synced_passkeys: Option<SyncedPasskeys>,
    /// What a sign-count regression does.
    pub sign_count: Option<SignCountPolicy>,
    /// The legacy U2F AppID (`Some(None)` removes it).
    pub legacy_appid: Option<Option<String>>,
}

impl PolicyChange {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Applies the change to `policy`.
    pub fn apply(&self, policy: &mut AuthenticatorPolicy) {
        if let Some(required) = self.require_user_verification {
            policy.user_verification = if required {
                UserVerificationRequirement::Required
            } else {
                UserVerificationRequirement::Preferred
            };
        }
        if let Some(attestation) = self.attestation {
            policy.attestation = attestation;
        }
        if let Some(list) = &self.aaguid_allow {
            policy.aaguid_allow = dedup(list);
        }
        if let Some(list) = &self.aaguid_deny {
            policy.aaguid_deny = dedup(list);
        }
        if let Some(level) = self.minimum_certification_level {
            policy.minimum_certification_level = level;
        }
        if let Some(synced) = self.synced_passkeys {
            policy.synced_passkeys = synced;
        }
        if let Some(sign_count) = self.sign_count {
            policy.sign_count = sign_count;
        }
        if let Some(appid) = &self.legacy_appid {
            policy.legacy_appid = appid
                .as_deref()
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned);
        }
    }
}

fn dedup(list: &[Aaguid]) -> Vec<Aaguid> {
    let mut out: Vec<Aaguid> = Vec::with_capacity(list.len());
    for aaguid in list {
        if !out.contains(aaguid) {
            out.push(*aaguid);
        }
    }
    out
}

/// Checks a policy's settings against each other: no AAGUID both allowed and denied, a legacy AppID that is an
/// `https` URL (or `http` on localhost).
pub fn validate_policy(policy: &AuthenticatorPolicy) -> Result<(), AppError> {
    if let Some(both) = policy
        .aaguid_allow
        .iter()
        .find(|a| policy.aaguid_deny.contains(a))
    {
        return Err(AppError::InvalidArgument {
            name: "aaguid-allow",
            message: format!("{both} is both allowed and denied; remove it from one list"),
        });
    }
    if let Some(appid) = &policy.legacy_appid {
        let ok = url::Url::parse(appid).is_ok_and(|u| {
            u.scheme() == "https" || (u.scheme() == "http" && u.host_str() == Some("localhost"))
        });
        if !ok {
            return Err(AppError::InvalidArgument {
                name: "legacy-appid",
                message: format!(
                    "{appid:?} is not a U2F AppID like https://example.com/app-id.json"
                ),
            });
        }
    }
    Ok(())
}

/// Parses a FIDO certification level as operators write it: `L1`, `L1plus`, `L2`, `L2plus`, `L3`, `L3plus`,
/// `certified` (functional certification), or the MDS3 status name (`FIDO_CERTIFIED_L1`); case does not matter.
pub fn parse_certification_level(text: &str) -> Result<CertificationLevel, AppError> {
    let upper = text.trim().to_ascii_uppercase();
    let short = upper.strip_prefix("FIDO_CERTIFIED").unwrap_or(&upper);
    let short = short.strip_prefix('_').unwrap_or(short);
    let level = match short {
        "" | "CERTIFIED" => CertificationLevel::FidoCertified,
        "L1" => CertificationLevel::FidoCertifiedL1,
        "L1PLUS" | "L1+" => CertificationLevel::FidoCertifiedL1plus,
        "L2" => CertificationLevel::FidoCertifiedL2,
        "L2PLUS" | "L2+" => CertificationLevel::FidoCertifiedL2plus,
        "L3" => CertificationLevel::FidoCertifiedL3,
        "L3PLUS" | "L3+" => CertificationLevel::FidoCertifiedL3plus,
        _ => {
            return Err(AppError::InvalidArgument {
                name: "min-certification-level",
                message: format!(
                    "{text:?} is not one of L1, L1plus, L2, L2plus, L3, L3plus, certified"
                ),
            });
        }
    };
    Ok(level)
}

/// The authenticator policy stored with a tenant (an empty or absent policy is the default one).
pub fn tenant_policy(tenant: &Tenant) -> Result<AuthenticatorPolicy, AppError> {
    if tenant.policy.is_null() {
        return Ok(AuthenticatorPolicy::default());
    }
    serde_json::from_value(tenant.policy.clone()).map_err(|e| {
        AppError::StoreCorrupt(format!(
            "tenant {} has an unreadable policy: {e}",
            tenant.id
        ))
    })
}

fn policy_json(policy: &AuthenticatorPolicy) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(policy)
        .map_err(|e| AppError::Internal(format!("policy serialization: {e}")))
}

/// Changes to a tenant's settings; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantUpdate {
    /// Name shown to users.
    pub display_name: Option<String>,
    /// Allowed WebAuthn origins, replaced whole.
    pub origins: Option<Vec<String>>,
    /// Authenticator policy changes.
    pub policy: PolicyChange,
}

/// How often [`update_tenant`] reapplies a change that lost a race with another writer of the tenant.
const TENANT_UPDATE_ATTEMPTS: usize = 3;

/// Updates a tenant's display name, origins and authenticator policy (validated as at creation) and returns the
/// stored tenant. A server in the same process should then call `state.tenants.invalidate(id)`; other processes pick
/// the change up when their cache entry expires (`tenant_cache_ttl`, a minute).
///
/// The store writes the tenant only if nobody changed it since it was read (its revision); otherwise the change is
/// applied again to the newer tenant, so that neither writer's change is lost.
pub async fn update_tenant(
    store: &dyn Store,
    id: &TenantId,
    update: &TenantUpdate,
) -> Result<Tenant, AppError> {
    for _ in 0..TENANT_UPDATE_ATTEMPTS {
        let mut tenant = store.get_tenant(id).await?.ok_or(AppError::UnknownTenant)?;
        apply_tenant_update(&mut tenant, update)?;
        match store.update_tenant(&tenant).await {
            Ok(revision) => {
                tenant.revision = revision;
                return Ok(tenant);
            }
            Err(StoreError::Conflict) => continue,
            Err(StoreError::NotFound) => return Err(AppError::UnknownTenant),
            Err(other) => return Err(other.into()),
        }
    }
    Err(AppError::StoreConflict)
}

fn apply_tenant_update(tenant: &mut Tenant, update: &TenantUpdate) -> Result<(), AppError> {
    if let Some(name) = &update.display_name {
        tenant.display_name = validate_display_name(name)?;
    }
    if let Some(origins) = &update.origins {
        validate_origins(&tenant.rp_id, origins)?;
        tenant.origins = origins.clone();
    }
    if !update.policy.is_empty() {
        let mut policy = tenant_policy(tenant)?;
        update.policy.apply(&mut policy);
        validate_policy(&policy)?;
        tenant.policy = policy_json(&policy)?;
    }
    Ok(())
}

async fn add_signing_key(
    store: &dyn Store,
    master: &MasterKey,
    tenant: &TenantId,
    alg: SigningAlg,
    status: KeyStatus,
    now: OffsetDateTime,
) -> Result<String, AppError> {
    let record = new_signing_key(master, tenant, alg, status, now).await?;
    store.put_signing_key(&record).await?;
    Ok(record.kid)
}

/// A fresh signing key of `alg`, its private part encrypted under `master`, as the store keeps it.
async fn new_signing_key(
    master: &MasterKey,
    tenant: &TenantId,
    alg: SigningAlg,
    status: KeyStatus,
    now: OffsetDateTime,
) -> Result<tessera_store::SigningKey, AppError> {
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
    Ok(record)
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
