//! An identity provider as a sign-in uses it: its configuration, its cached (validated) metadata and keys, and its
//! client secret opened from the master key.

use tessera_broker::config::{IdentityProvider, ProviderId};
use tessera_broker::metadata::{ProviderKeys, ProviderMetadata};
use tessera_core::{Secret, TenantId};
use tessera_oidc::keys::MasterKey;
use tessera_store::{BrokerStore, IdentityProviderRecord, ProviderCache};

use super::signin::SignInError;
use crate::error::ServiceError;

/// A provider ready for a sign-in.
pub struct ProviderRuntime {
    /// The configuration.
    pub config: IdentityProvider,
    /// The metadata validated when it was fetched.
    pub metadata: ProviderMetadata,
    /// The keys of the cached JWK Set.
    pub keys: ProviderKeys,
    /// The cache as stored (its fetch times decide whether a refetch is allowed).
    pub cache: ProviderCache,
    /// The client secret the provider issued to the broker (empty when it issued none).
    pub client_secret: Secret,
}

/// Loads provider `id` of the tenant. A provider that is gone, or whose cached metadata or keys no longer parse, is
/// a [`SignInError::Provider`] naming what is wrong.
pub async fn load(
    store: &dyn BrokerStore,
    master: &MasterKey,
    tenant: &TenantId,
    id: &ProviderId,
) -> Result<ProviderRuntime, SignInError> {
    let failure = |check: String| SignInError::Provider {
        provider: id.to_string(),
        check,
    };
    let Some(record) = store.get_identity_provider(tenant, id.as_str()).await? else {
        return Err(failure(
            "the identity provider is no longer configured".into(),
        ));
    };
    let config = config_of(&record)?;
    let metadata: ProviderMetadata = serde_json::from_value(record.cache.metadata.clone())
        .map_err(|e| failure(format!("cached metadata does not parse: {e}")))?;
    let jwks = serde_json::to_vec(&record.cache.jwks)
        .map_err(|e| ServiceError::Internal(format!("jwks: {e}")))?;
    let keys = ProviderKeys::parse(&jwks).map_err(|e| failure(format!("cached JWKS: {e}")))?;
    let client_secret = match &record.client_secret_encrypted {
        Some(sealed) => open_client_secret(master, tenant, id, sealed)?,
        None => Secret::new(""),
    };
    Ok(ProviderRuntime {
        config,
        metadata,
        keys,
        cache: record.cache,
        client_secret,
    })
}

/// The configurations of the tenant's providers (for `domain_hint` and the choice page's names).
pub async fn list_configs(
    store: &dyn BrokerStore,
    tenant: &TenantId,
) -> Result<Vec<IdentityProvider>, SignInError> {
    store
        .list_identity_providers(tenant)
        .await?
        .iter()
        .map(config_of)
        .collect()
}

fn config_of(record: &IdentityProviderRecord) -> Result<IdentityProvider, SignInError> {
    serde_json::from_value(record.config.clone()).map_err(|e| {
        SignInError::Service(ServiceError::Corrupt(format!(
            "identity provider {}: {e}",
            record.provider_id
        )))
    })
}

fn open_client_secret(
    master: &MasterKey,
    tenant: &TenantId,
    id: &ProviderId,
    sealed: &[u8],
) -> Result<Secret, ServiceError> {
    let context = format!("broker-idp-secret\0{tenant}\0{id}");
    let plain = master
        .open(context.as_bytes(), sealed)
        .map_err(|e| ServiceError::Keys(format!("client secret of {id}: {e}")))?;
    String::from_utf8(plain)
        .map(Secret::new)
        .map_err(|_| ServiceError::Corrupt(format!("client secret of {id} is not text")))
}
