//! A broker tenant as its endpoints need it on every request: the tenant record, its decrypted signing keys and its
//! JWK Set serialized once, and per user flow the discovery document. The HTTP layer caches these entries; this
//! module loads them, and reads the configuration objects a sign-in uses (application, flow version, provider).

use bytes::Bytes;
use tessera_broker::config::{Application, FlowSettings, PolicyId};
use tessera_broker::policy_path::PolicyUrls;
use tessera_core::{ClientId, TenantId};
use tessera_oidc::keys::{KeySet, MasterKey};
use tessera_store::{BrokerStore, BrokerTenant, FlowVersionRecord};
use time::OffsetDateTime;

use crate::error::{Result, ServiceError};

/// A broker tenant's runtime entry.
pub struct BrokerRuntime {
    /// The tenant record.
    pub tenant: BrokerTenant,
    /// The decrypted signing keys (active, pending and recently retired).
    pub keys: KeySet,
    /// The JWK Set, serialized once (the same for every policy of the tenant).
    pub jwks: Bytes,
    /// When this entry was loaded (monotonic).
    pub loaded_at: std::time::Instant,
}

/// Loads a broker tenant and decrypts its keys ([`super::tenants::broker_key_set`]). An unknown tenant is
/// [`ServiceError::BrokerTenantNotFound`]; a store failure stays a store failure (503), never "unknown".
pub async fn load_broker_tenant(
    store: &dyn BrokerStore,
    master: &MasterKey,
    tenant: &TenantId,
    now: OffsetDateTime,
) -> Result<BrokerRuntime> {
    let record = super::tenants::get_broker_tenant(store, tenant).await?;
    let keys = super::tenants::broker_key_set(store, master, tenant, now).await?;
    let jwks = Bytes::copy_from_slice(keys.jwks_json());
    Ok(BrokerRuntime {
        tenant: record,
        keys,
        jwks,
        loaded_at: std::time::Instant::now(),
    })
}

/// A user flow as its endpoints need it: the policy id as configured and the discovery document.
pub struct PolicyRuntime {
    /// The policy id as configured (the URL may spell it in another case).
    pub policy: PolicyId,
    /// The broker's URLs under this policy.
    pub urls: PolicyUrls,
    /// The discovery document, serialized once.
    pub discovery: Bytes,
    /// When this entry was loaded (monotonic).
    pub loaded_at: std::time::Instant,
}

/// Loads a user flow of a broker tenant; `None` when the tenant has no such flow.
pub async fn load_policy(
    store: &dyn BrokerStore,
    base: &str,
    tenant: &TenantId,
    policy: &PolicyId,
) -> Result<Option<PolicyRuntime>> {
    let Some(flow) = store.get_flow(tenant, &policy.key()).await? else {
        return Ok(None);
    };
    let policy = PolicyId::parse(&flow.policy_id).map_err(|e| {
        ServiceError::Corrupt(format!("policy id of flow {}: {e}", flow.policy_key))
    })?;
    let urls = PolicyUrls::of(base, tenant, &policy);
    let discovery = urls
        .provider_metadata()
        .to_json()
        .map_err(|e| ServiceError::Internal(format!("discovery document: {e}")))?;
    Ok(Some(PolicyRuntime {
        policy,
        urls,
        discovery: Bytes::from(discovery),
        loaded_at: std::time::Instant::now(),
    }))
}

/// The flow's current version: its number and settings; `None` when the flow (or the tenant) is gone. One store
/// query (the sign-in path calls it on every authorization request).
pub async fn current_flow_version(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    policy: &PolicyId,
) -> Result<Option<(u32, FlowSettings)>> {
    match store
        .get_current_flow_version(tenant, &policy.key())
        .await?
    {
        Some(version) => Ok(Some((version.number, settings_of(policy, &version)?))),
        None => Ok(None),
    }
}

/// Version `number` of the flow (the one a sign-in started with); `None` when it is gone. One store query.
pub async fn flow_version(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    policy: &PolicyId,
    number: u32,
) -> Result<Option<FlowSettings>> {
    match store
        .get_flow_version(tenant, &policy.key(), number)
        .await?
    {
        Some(version) => Ok(Some(settings_of(policy, &version)?)),
        None => Ok(None),
    }
}

fn settings_of(policy: &PolicyId, version: &FlowVersionRecord) -> Result<FlowSettings> {
    serde_json::from_value(version.settings.clone()).map_err(|e| {
        ServiceError::Corrupt(format!(
            "user flow {policy} version {}: {e}",
            version.number
        ))
    })
}

/// An application of the tenant (with its secret hash); `None` when it is not registered.
pub async fn application(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    client_id: &ClientId,
) -> Result<Option<Application>> {
    match super::applications::get_application(store, tenant, client_id).await {
        Ok(application) => Ok(Some(application)),
        Err(ServiceError::ApplicationNotFound) => Ok(None),
        Err(other) => Err(other),
    }
}
