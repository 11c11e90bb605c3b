//! A broker tenant as its endpoints need it on every request: the tenant record, its decrypted signing keys and its
//! JWK Set serialized once, and per user flow the discovery document. The HTTP layer caches these entries; this
//! module loads them, and reads the configuration objects a sign-in uses (application, flow version, provider).

use std::sync::Arc;

use bytes::Bytes;
use tessera_broker::config::{Application, FlowSettings, PolicyId};
use tessera_broker::policy_path::PolicyUrls;
use tessera_core::{ClientId, TenantId};
use tessera_oidc::keys::{KeySet, MasterKey};
use tessera_store::{BrokerStore, BrokerTenant};
use time::OffsetDateTime;

use crate::error::{Result, ServiceError};
use crate::keys::key_set;

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

/// Loads a broker tenant and decrypts its keys. An unknown tenant is [`ServiceError::TenantNotFound`]; a store
/// failure stays a store failure (503), never "unknown".
pub async fn load_broker_tenant(
    store: &dyn BrokerStore,
    master: &Arc<MasterKey>,
    tenant: &TenantId,
    grace: time::Duration,
    now: OffsetDateTime,
) -> Result<BrokerRuntime> {
    let Some(record) = store.get_broker_tenant(tenant).await? else {
        return Err(ServiceError::TenantNotFound);
    };
    let records = store.list_broker_signing_keys(tenant).await?;
    let master = master.clone();
    let id = tenant.clone();
    // Decrypting and parsing RSA keys takes a few milliseconds: keep it off the async workers.
    let keys = tokio::task::spawn_blocking(move || key_set(&records, &master, &id, now, grace))
        .await
        .map_err(|e| ServiceError::Internal(format!("key loading task: {e}")))??;
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

/// The flow's current version: its number and settings; `None` when the flow is gone.
pub async fn current_flow_version(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    policy: &PolicyId,
) -> Result<Option<(u32, FlowSettings)>> {
    match store
        .get_current_flow_version(tenant, &policy.key())
        .await?
    {
        Some(version) => Ok(Some((version.number, flow_settings(version.settings)?))),
        None => Ok(None),
    }
}

/// Version `number` of the flow (the one a sign-in started with); `None` when it is gone.
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
        Some(version) => Ok(Some(flow_settings(version.settings)?)),
        None => Ok(None),
    }
}

fn flow_settings(json: serde_json::Value) -> Result<FlowSettings> {
    serde_json::from_value(json).map_err(|e| ServiceError::Corrupt(format!("flow settings: {e}")))
}

/// An application of the tenant; `None` when it is not registered.
pub async fn application(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    client_id: &ClientId,
) -> Result<Option<Application>> {
    match store.get_broker_application(tenant, client_id).await? {
        Some(record) => Ok(Some(application_of(&record)?)),
        None => Ok(None),
    }
}

fn application_of(record: &tessera_store::BrokerApplication) -> Result<Application> {
    let mut application: Application = serde_json::from_value(record.settings.clone())
        .map_err(|e| ServiceError::Corrupt(format!("application {}: {e}", record.client_id)))?;
    application.secret_hash = match &record.secret_hash {
        Some(bytes) => Some(tessera_oidc::SecretHash::from_bytes(
            bytes.as_slice().try_into().map_err(|_| {
                ServiceError::Corrupt(format!("secret hash of {}", record.client_id))
            })?,
        )),
        None => None,
    };
    Ok(application)
}
