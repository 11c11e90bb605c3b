//! Loading a tenant's runtime entry: its record, its decrypted signing keys, and its discovery and JWKS documents
//! serialized once.

use bytes::Bytes;
use tessera_core::TenantId;
use tessera_oidc::discovery::ProviderMetadata;

use crate::error::AppError;
use crate::ops::{key_set, retired_key_grace};
use crate::state::{AppState, TenantRuntime};

/// Loads a tenant from the store. An unknown tenant is [`AppError::UnknownTenant`]; a store failure stays a store
/// failure (503), never "unknown".
pub async fn load_tenant(state: &AppState, tenant: &TenantId) -> Result<TenantRuntime, AppError> {
    let Some(record) = state.store.get_tenant(tenant).await? else {
        return Err(AppError::UnknownTenant);
    };
    let keys = state.store.list_signing_keys(tenant).await?;
    let now = state.clock.now();
    let grace = retired_key_grace(state.security.access_token_ttl);
    let master = state.master_key.clone();
    let tenant_id = tenant.clone();
    // Decrypting and parsing RSA keys takes a few milliseconds: keep it off the async workers.
    let keys = tokio::task::spawn_blocking(move || key_set(&keys, &master, &tenant_id, now, grace))
        .await
        .map_err(|e| AppError::Internal(format!("key loading task: {e}")))??;
    let issuer = state.issuer(tenant);
    let discovery = ProviderMetadata::new(&issuer)
        .to_json()
        .map_err(|e| AppError::Internal(format!("discovery document: {e}")))?;
    let jwks = Bytes::copy_from_slice(keys.jwks_json());
    Ok(TenantRuntime {
        tenant: record,
        issuer,
        keys,
        discovery: Bytes::from(discovery),
        jwks,
        loaded_at: std::time::Instant::now(),
    })
}
