//! A broker tenant as its endpoints need it on every request: the tenant record, its decrypted signing keys and its
//! JWK Set serialized once, and per user flow the discovery document. The HTTP layer caches these entries; this
//! module loads them, and reads the configuration objects a sign-in uses (application, flow version, provider).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tessera_broker::config::{Application, FlowSettings, PolicyId, ProviderId};
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
    pub loaded_at: Instant,
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
        loaded_at: Instant::now(),
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
    pub loaded_at: Instant,
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
        loaded_at: Instant::now(),
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

/// The longest a node trusts a cached identity provider, application or flow version without reading the store
/// again ([`ConfigCache`]): the bound on how long another node (PostgreSQL deployments) may still use a provider or
/// an application deleted, or a secret changed, elsewhere. The node that made the change forgets its entries at once.
pub const CONFIG_CACHE_TTL: Duration = Duration::from_secs(5);

struct Cached<V> {
    value: V,
    loaded_at: Instant,
}

/// One table of the [`ConfigCache`].
struct Table<K, V> {
    entries: RwLock<HashMap<K, Cached<V>>>,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Self {
            entries: RwLock::default(),
        }
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> Table<K, V> {
    fn get(&self, key: &K, ttl: Duration) -> Option<V> {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .filter(|e| e.loaded_at.elapsed() < ttl)
            .map(|e| e.value.clone())
    }

    /// Keeps `value`, loaded from the store while the cache was at `generation`, unless the cache was invalidated
    /// meanwhile (then the value may be older than the change, and the next request reads the store again).
    fn put(&self, key: K, value: V, generation: u64, current: &AtomicU64) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if current.load(Ordering::SeqCst) == generation {
            entries.insert(
                key,
                Cached {
                    value,
                    loaded_at: Instant::now(),
                },
            );
        }
    }

    fn retain(&self, keep: impl Fn(&K) -> bool) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|k, _| keep(k));
    }
}

/// The configuration objects every sign-in reads, kept in memory for at most a TTL ([`CONFIG_CACHE_TTL`] by
/// default): each identity provider ready for a sign-in (record read, client secret opened, configuration,
/// metadata and JWKS parsed once), each application (with its secret hash), each flow's current version and the
/// immutable flow versions. Only what exists is cached (an unknown client id or provider reads the store every
/// time, as before).
///
/// Invalidation: every configuration change made through this node (admin API, portal) calls
/// [`ConfigCache::invalidate_tenant`] (through the HTTP layer's broker cache), the JWKS refetch of an unknown `kid`
/// forgets its provider, and the scheduled metadata refresh clears the cache. A change made elsewhere (the CLI on
/// another process, another node sharing the PostgreSQL store) is seen within the TTL. A load that raced an
/// invalidation is not kept.
pub struct ConfigCache {
    ttl: Duration,
    generation: AtomicU64,
    providers: Table<(TenantId, String), Arc<super::providers::SignInProvider>>,
    applications: Table<(TenantId, ClientId), Arc<Application>>,
    current_flows: Table<(TenantId, String), (u32, Arc<FlowSettings>)>,
    flow_versions: Table<(TenantId, String, u32), Arc<FlowSettings>>,
}

impl Default for ConfigCache {
    fn default() -> Self {
        Self::new(CONFIG_CACHE_TTL)
    }
}

impl ConfigCache {
    /// An empty cache whose entries live `ttl` (zero: nothing is kept).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            generation: AtomicU64::new(0),
            providers: Table::default(),
            applications: Table::default(),
            current_flows: Table::default(),
            flow_versions: Table::default(),
        }
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Forgets everything cached for `tenant` (after any change to its providers, applications or flows).
    pub fn invalidate_tenant(&self, tenant: &TenantId) {
        self.bump();
        self.providers.retain(|(t, _)| t != tenant);
        self.applications.retain(|(t, _)| t != tenant);
        self.current_flows.retain(|(t, _)| t != tenant);
        self.flow_versions.retain(|(t, _, _)| t != tenant);
    }

    /// Forgets one provider (its keys were refetched).
    pub fn forget_provider(&self, tenant: &TenantId, provider: &ProviderId) {
        self.bump();
        self.providers
            .retain(|(t, p)| t != tenant || p != provider.as_str());
    }

    /// Forgets everything (after the scheduled refresh of providers' documents).
    pub fn clear(&self) {
        self.bump();
        self.providers.retain(|_| false);
        self.applications.retain(|_| false);
        self.current_flows.retain(|_| false);
        self.flow_versions.retain(|_| false);
    }

    /// Provider `id` of the tenant ready for a sign-in ([`super::providers::load_provider_for_sign_in`]).
    pub async fn provider(
        &self,
        store: &dyn BrokerStore,
        master: &MasterKey,
        tenant: &TenantId,
        id: &ProviderId,
    ) -> Result<Arc<super::providers::SignInProvider>> {
        let key = (tenant.clone(), id.as_str().to_owned());
        if let Some(hit) = self.providers.get(&key, self.ttl) {
            return Ok(hit);
        }
        let generation = self.generation();
        let loaded =
            Arc::new(super::providers::load_provider_for_sign_in(store, master, tenant, id).await?);
        self.providers
            .put(key, loaded.clone(), generation, &self.generation);
        Ok(loaded)
    }

    /// An application of the tenant ([`application`]).
    pub async fn application(
        &self,
        store: &dyn BrokerStore,
        tenant: &TenantId,
        client_id: &ClientId,
    ) -> Result<Option<Arc<Application>>> {
        let key = (tenant.clone(), client_id.clone());
        if let Some(hit) = self.applications.get(&key, self.ttl) {
            return Ok(Some(hit));
        }
        let generation = self.generation();
        let Some(loaded) = application(store, tenant, client_id).await? else {
            return Ok(None);
        };
        let loaded = Arc::new(loaded);
        self.applications
            .put(key, loaded.clone(), generation, &self.generation);
        Ok(Some(loaded))
    }

    /// The flow's current version ([`current_flow_version`]).
    pub async fn current_flow_version(
        &self,
        store: &dyn BrokerStore,
        tenant: &TenantId,
        policy: &PolicyId,
    ) -> Result<Option<(u32, Arc<FlowSettings>)>> {
        let key = (tenant.clone(), policy.key());
        if let Some(hit) = self.current_flows.get(&key, self.ttl) {
            return Ok(Some(hit));
        }
        let generation = self.generation();
        let Some((number, settings)) = current_flow_version(store, tenant, policy).await? else {
            return Ok(None);
        };
        let loaded = (number, Arc::new(settings));
        self.current_flows
            .put(key, loaded.clone(), generation, &self.generation);
        Ok(Some(loaded))
    }

    /// Version `number` of the flow ([`flow_version`]).
    pub async fn flow_version(
        &self,
        store: &dyn BrokerStore,
        tenant: &TenantId,
        policy: &PolicyId,
        number: u32,
    ) -> Result<Option<Arc<FlowSettings>>> {
        let key = (tenant.clone(), policy.key(), number);
        if let Some(hit) = self.flow_versions.get(&key, self.ttl) {
            return Ok(Some(hit));
        }
        let generation = self.generation();
        let Some(settings) = flow_version(store, tenant, policy, number).await? else {
            return Ok(None);
        };
        let loaded = Arc::new(settings);
        self.flow_versions
            .put(key, loaded.clone(), generation, &self.generation);
        Ok(Some(loaded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::applications::{self, NewApplication};
    use crate::broker::providers;
    use crate::broker::tenants::{NewBrokerTenant, create_broker_tenant};
    use crate::broker::testing::{T0, Upstream, client, master, sqlite, tenant_id};
    use tessera_broker::config::TokenLifetimes;
    use tessera_core::Secret;
    use tessera_oidc::ClientType;
    use tessera_oidc::keys::SigningAlg;

    async fn with_tenant() -> (
        std::sync::Arc<tessera_store_sqlite::SqliteStore>,
        tempfile::TempDir,
        TenantId,
    ) {
        let (store, dir) = sqlite().await;
        let tenant = tenant_id("contoso");
        create_broker_tenant(
            store.as_ref(),
            &master(),
            NewBrokerTenant {
                id: tenant.clone(),
                display_name: None,
            },
            T0,
        )
        .await
        .expect("tenant");
        (store, dir, tenant)
    }

    async fn confidential_app(store: &dyn BrokerStore, tenant: &TenantId) -> (ClientId, Secret) {
        let (app, secret) = applications::create_application(
            store,
            tenant,
            NewApplication {
                display_name: "app".into(),
                client_type: ClientType::Confidential,
                reply_urls: vec!["https://jwt.ms".into()],
                logout_urls: vec![],
                token_lifetimes: TokenLifetimes::default(),
                id_token_signing_alg: SigningAlg::Es256,
            },
            T0,
        )
        .await
        .expect("app");
        (app.client_id, secret.expect("a secret"))
    }

    fn secret_accepted(app: &Application, secret: &Secret) -> bool {
        app.secret_hash
            .as_ref()
            .is_some_and(|h| h.matches(secret.expose()))
    }

    #[tokio::test]
    async fn a_changed_or_deleted_application_is_read_again_once_its_tenant_is_invalidated() {
        let (store, _dir, tenant) = with_tenant().await;
        let (id, first) = confidential_app(store.as_ref(), &tenant).await;
        let cache = ConfigCache::new(Duration::from_secs(3600));
        let cached = cache
            .application(store.as_ref(), &tenant, &id)
            .await
            .expect("read")
            .expect("registered");
        assert!(secret_accepted(&cached, &first));

        let (_, second) = applications::regenerate_secret(store.as_ref(), &tenant, &id)
            .await
            .expect("regenerate");
        let stale = cache
            .application(store.as_ref(), &tenant, &id)
            .await
            .expect("read")
            .expect("registered");
        assert!(
            Arc::ptr_eq(&stale, &cached),
            "within the TTL, the cached entry"
        );
        cache.invalidate_tenant(&tenant_id("other"));
        assert!(
            secret_accepted(
                &cache
                    .application(store.as_ref(), &tenant, &id)
                    .await
                    .expect("read")
                    .expect("registered"),
                &first
            ),
            "another tenant's change leaves this tenant's entries"
        );
        cache.invalidate_tenant(&tenant);
        let fresh = cache
            .application(store.as_ref(), &tenant, &id)
            .await
            .expect("read")
            .expect("registered");
        assert!(
            !secret_accepted(&fresh, &first),
            "the old secret stops working"
        );
        assert!(secret_accepted(&fresh, &second));

        applications::delete_application(store.as_ref(), &tenant, &id, None)
            .await
            .expect("delete");
        cache.invalidate_tenant(&tenant);
        assert!(
            cache
                .application(store.as_ref(), &tenant, &id)
                .await
                .expect("read")
                .is_none(),
            "a deleted application is unknown at once"
        );
    }

    #[tokio::test]
    async fn entries_expire_after_the_ttl_and_a_zero_ttl_keeps_nothing() {
        let (store, _dir, tenant) = with_tenant().await;
        let (id, first) = confidential_app(store.as_ref(), &tenant).await;
        let cache = ConfigCache::new(Duration::ZERO);
        cache
            .application(store.as_ref(), &tenant, &id)
            .await
            .expect("read");
        applications::regenerate_secret(store.as_ref(), &tenant, &id)
            .await
            .expect("regenerate");
        let read = cache
            .application(store.as_ref(), &tenant, &id)
            .await
            .expect("read")
            .expect("registered");
        assert!(!secret_accepted(&read, &first));

        let cache = ConfigCache::new(Duration::from_millis(50));
        let cached = cache
            .application(store.as_ref(), &tenant, &id)
            .await
            .expect("read")
            .expect("registered");
        applications::delete_application(store.as_ref(), &tenant, &id, None)
            .await
            .expect("delete");
        assert!(
            cache
                .application(store.as_ref(), &tenant, &id)
                .await
                .expect("read")
                .is_some_and(|a| Arc::ptr_eq(&a, &cached))
        );
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(
            cache
                .application(store.as_ref(), &tenant, &id)
                .await
                .expect("read")
                .is_none(),
            "past the TTL the deletion is seen without any invalidation"
        );
        assert!(CONFIG_CACHE_TTL <= Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_load_that_raced_an_invalidation_is_not_kept() {
        let cache = ConfigCache::new(Duration::from_secs(3600));
        let key = (tenant_id("contoso"), ClientId::parse("app").expect("id"));
        let before = cache.generation();
        cache.invalidate_tenant(&key.0);
        // A value read from the store before the invalidation may predate the change: it is not kept.
        let app = Arc::new(Application {
            display_name: "app".into(),
            client_id: key.1.clone(),
            client_type: ClientType::Public,
            secret_hash: None,
            reply_urls: vec!["https://jwt.ms".into()],
            logout_urls: vec![],
            token_lifetimes: TokenLifetimes::default(),
            id_token_signing_alg: SigningAlg::Es256,
        });
        cache
            .applications
            .put(key.clone(), app.clone(), before, &cache.generation);
        assert!(cache.applications.get(&key, cache.ttl).is_none());
        cache
            .applications
            .put(key.clone(), app, cache.generation(), &cache.generation);
        assert!(cache.applications.get(&key, cache.ttl).is_some());
    }

    #[tokio::test]
    async fn a_provider_is_opened_once_and_a_deleted_or_changed_one_is_seen_after_invalidation() {
        let (store, _dir, tenant) = with_tenant().await;
        let upstream = Upstream::start().await;
        let id = ProviderId::parse("noknok").expect("id");
        providers::save_identity_provider(
            store.as_ref(),
            &master(),
            &client(),
            &tenant,
            upstream.provider("noknok"),
            Secret::new("first-secret"),
            T0,
        )
        .await
        .expect("save");
        let cache = ConfigCache::new(Duration::from_secs(3600));
        let first = cache
            .provider(store.as_ref(), &master(), &tenant, &id)
            .await
            .expect("load");
        assert_eq!(first.client_secret.expose(), "first-secret");
        let again = cache
            .provider(store.as_ref(), &master(), &tenant, &id)
            .await
            .expect("load");
        assert!(Arc::ptr_eq(&first, &again), "one load per TTL");

        providers::update_identity_provider(
            store.as_ref(),
            &master(),
            &client(),
            &tenant,
            upstream.provider("noknok"),
            Some(Secret::new("second-secret")),
            T0,
            None,
        )
        .await
        .expect("update");
        cache.invalidate_tenant(&tenant);
        let updated = cache
            .provider(store.as_ref(), &master(), &tenant, &id)
            .await
            .expect("load");
        assert_eq!(updated.client_secret.expose(), "second-secret");

        cache.forget_provider(&tenant, &id);
        providers::delete_identity_provider(store.as_ref(), &tenant, &id, None)
            .await
            .expect("delete");
        assert!(matches!(
            cache
                .provider(store.as_ref(), &master(), &tenant, &id)
                .await,
            Err(crate::error::ServiceError::ProviderNotFound)
        ));
    }
}
