//! Signing keys of a tenant: generation (stored encrypted under the master key), staged and immediate rotation,
//! activation of due keys, and loading the publishable key set.

use tessera_core::TenantId;
use tessera_oidc::keys::{EncryptedSigningKey, KeySet, MasterKey, SigningAlg, SigningKey};
use tessera_store::{KeyStatus, Store};
use time::OffsetDateTime;

use crate::error::{Result, ServiceError};

/// Generates a signing key of `alg`, stores it encrypted under `master` with `status`, and returns its kid.
pub(crate) async fn add_signing_key(
    store: &dyn Store,
    master: &MasterKey,
    tenant: &TenantId,
    alg: SigningAlg,
    status: KeyStatus,
    now: OffsetDateTime,
) -> Result<String> {
    let record = new_signing_key(master, tenant, alg, status, now).await?;
    store.put_signing_key(&record).await?;
    Ok(record.kid)
}

/// A fresh signing key of `alg`, its private part encrypted under `master`, as the store keeps it.
pub(crate) async fn new_signing_key(
    master: &MasterKey,
    tenant: &TenantId,
    alg: SigningAlg,
    status: KeyStatus,
    now: OffsetDateTime,
) -> Result<tessera_store::SigningKey> {
    // RSA generation takes tens of milliseconds: keep it off the async workers.
    let key = tokio::task::spawn_blocking(move || SigningKey::generate(alg))
        .await
        .map_err(|e| ServiceError::Internal(format!("key generation task: {e}")))?
        .map_err(|e| ServiceError::Keys(format!("generation: {e}")))?;
    let encrypted = key
        .encrypt(master, tenant)
        .map_err(|e| ServiceError::Keys(format!("encryption: {e}")))?;
    let record = tessera_store::SigningKey {
        tenant: tenant.clone(),
        kid: key.kid().to_owned(),
        alg: alg.as_str().to_owned(),
        private_key_encrypted: serde_json::to_vec(&encrypted)
            .map_err(|e| ServiceError::Internal(format!("key serialization: {e}")))?,
        public_jwk: serde_json::to_value(key.public_jwk())
            .map_err(|e| ServiceError::Internal(format!("key serialization: {e}")))?,
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

/// A tenant's signing keys (every status), oldest first; [`ServiceError::TenantNotFound`] for an unknown tenant.
pub async fn list_keys(
    store: &dyn Store,
    tenant: &TenantId,
) -> Result<Vec<tessera_store::SigningKey>> {
    if store.get_tenant(tenant).await?.is_none() {
        return Err(ServiceError::TenantNotFound);
    }
    Ok(store.list_signing_keys(tenant).await?)
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
) -> Result<Vec<String>> {
    if store.get_tenant(tenant).await?.is_none() {
        return Err(ServiceError::TenantNotFound);
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
) -> Result<bool> {
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
) -> Result<KeySet> {
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
            .map_err(|e| ServiceError::Corrupt(format!("signing key {}: {e}", record.kid)))?;
        let key = SigningKey::decrypt(&stored, master, tenant).map_err(|e| {
            ServiceError::Keys(format!("signing key {} of {tenant}: {e}", record.kid))
        })?;
        keys.push(key);
    }
    KeySet::new(keys).map_err(|e| ServiceError::Keys(format!("key set of {tenant}: {e}")))
}
