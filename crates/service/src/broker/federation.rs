//! An identity provider as a sign-in uses it ([`super::providers::load_provider_for_sign_in`]), with every failure
//! to load it reported as the provider's, and the configurations the choice page and `domain_hint` need.

use std::sync::Arc;

use tessera_broker::config::{IdentityProvider, ProviderId};
use tessera_core::TenantId;
use tessera_oidc::keys::MasterKey;
use tessera_store::BrokerStore;

pub use super::providers::SignInProvider as ProviderRuntime;
use super::runtime::ConfigCache;
use super::signin::SignInError;
use crate::error::ServiceError;

/// Provider `id` of the tenant, from the [`ConfigCache`] or loaded into it. A provider that is gone, or whose
/// stored secret, metadata or keys no longer open or parse, is a [`SignInError::Provider`] naming what is wrong; a
/// store failure stays a store failure.
pub async fn load(
    cache: &ConfigCache,
    store: &dyn BrokerStore,
    master: &MasterKey,
    tenant: &TenantId,
    id: &ProviderId,
) -> Result<Arc<ProviderRuntime>, SignInError> {
    match cache.provider(store, master, tenant, id).await {
        Ok(provider) => Ok(provider),
        Err(ServiceError::Store(e)) => Err(ServiceError::Store(e).into()),
        Err(other) => Err(SignInError::Provider {
            provider: id.to_string(),
            check: other.to_string(),
        }),
    }
}

/// The configurations of the tenant's providers (for `domain_hint` and the choice page's names).
pub async fn list_configs(
    store: &dyn BrokerStore,
    tenant: &TenantId,
) -> Result<Vec<IdentityProvider>, SignInError> {
    Ok(super::providers::list_provider_configs(store, tenant).await?)
}
