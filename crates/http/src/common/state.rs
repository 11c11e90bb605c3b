//! The state of the HTTP layer: [`AppState`], the composition root every router is built from, and the sub-states
//! each role's router extracts from it with [`axum::extract::FromRef`], so that a role's router can be mounted alone
//! on just its own state.
//!
//! - [`ProviderState`]: the authenticator service's (store, clock, public URL, security settings, per-tenant cache,
//!   master key, attestation sources, rate limiters); the `idp` router uses it.
//!
//! Every state is cheap to clone (a role's state is one `Arc` of its parts, axum clones it for every request) and
//! carries no globals, so a test can run many apps in one process.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ipnet::IpNet;
use tessera_core::{Clock, TenantId};
use tessera_service::broker::UpstreamClient;
use tessera_store::{AdminStore, Backend, BrokerStore, Store};

use crate::common::error::AppError;
use crate::common::security::{PerIpLimiter, RateLimiters, RateRule};
use tessera_webauthn::attestation::AttestationTrust;
use tessera_webauthn::mds::MetadataBlob;

/// The whole application's state: one sub-state per role, each taken by its router with `FromRef`. The server
/// builds one; the admin and cross-device rooms use it whole for now.
#[derive(Clone)]
pub struct AppState {
    /// The authenticator service's state (the store and the other shared parts live here).
    pub provider: ProviderState,
    /// The identity broker's state (its store role is the same backend as the provider's store).
    pub broker: BrokerState,
    /// The admin surfaces' store role (API tokens, bootstrap token, audit trail): the same backend.
    pub admin_store: Arc<dyn AdminStore>,
}

/// A role's state: one `Arc` of its parts (axum clones the state for every request), read through `Deref`.
pub struct RoleState<T>(Arc<T>);

impl<T> Clone for RoleState<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: Clone> RoleState<T> {
    /// The state of these parts.
    pub fn new(parts: T) -> Self {
        Self(Arc::new(parts))
    }

    /// The parts, to change them while the state is being built (copied first if another clone shares them).
    pub fn parts_mut(&mut self) -> &mut T {
        Arc::make_mut(&mut self.0)
    }
}

impl<T> std::ops::Deref for RoleState<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// The authenticator service's state: what the provider's endpoints and pages need, and nothing of the other
/// roles.
pub type ProviderState = RoleState<ProviderParts>;

/// What [`ProviderState`] holds.
#[derive(Clone)]
pub struct ProviderParts {
    /// The store every handler reads and writes.
    pub store: Arc<dyn Store>,
    /// The time source (a fixed clock in tests).
    pub clock: Arc<dyn Clock>,
    /// The public base URL, e.g. `http://localhost:8080`.
    pub public_url: PublicUrl,
    /// Cookie, proxy, limit and rate settings.
    pub security: Arc<SecuritySettings>,
    /// Per-tenant settings and signing keys, loaded once.
    pub tenants: Arc<TenantCache>,
    /// The master key that decrypts signing keys at rest.
    pub master_key: Arc<tessera_oidc::keys::MasterKey>,
    /// The attestation trust anchors and FIDO metadata registrations are verified with (replaceable at run time).
    pub attestation: Arc<AttestationSources>,
    /// Every per-address limiter made by [`crate::common::security::per_ip_rate_limit`], trimmed in the background.
    pub rate_limiters: RateLimiters,
    /// The tenants served on an address of their own, by `Host`.
    pub hosts: Arc<crate::common::hosts::TenantHosts>,
    /// The admin store, where the admin tenant's sign-up checks the enrolment it resumes (a pending invitation);
    /// `None` when the server does not serve the admin role: the admin tenant then admits no sign-up.
    pub admin_enrolments: Option<Arc<dyn AdminStore>>,
}

impl axum::extract::FromRef<AppState> for ProviderState {
    fn from_ref(app: &AppState) -> Self {
        app.provider.clone()
    }
}

impl AppState {
    /// Builds a state from its parts with an empty tenant cache; `backend` serves as the store and the broker store.
    pub fn new(
        backend: Arc<dyn Backend>,
        clock: Arc<dyn Clock>,
        public_url: PublicUrl,
        security: SecuritySettings,
        master_key: tessera_oidc::keys::MasterKey,
    ) -> Self {
        let security = Arc::new(security);
        let master_key = Arc::new(master_key);
        let rate_limiters = RateLimiters::default();
        let limits = BrokerLimits::new(&rate_limiters, &security);
        let broker_cache = Arc::new(BrokerCache::new(security.tenant_cache_ttl));
        Self {
            admin_store: backend.clone(),
            provider: ProviderState::new(ProviderParts {
                store: backend.clone(),
                clock: clock.clone(),
                public_url: public_url.clone(),
                security: security.clone(),
                tenants: Arc::new(TenantCache::default()),
                master_key: master_key.clone(),
                attestation: Arc::new(AttestationSources::default()),
                rate_limiters,
                hosts: Arc::new(crate::common::hosts::TenantHosts::default()),
                admin_enrolments: Some(backend.clone()),
            }),
            broker: BrokerState::new(BrokerParts {
                store: backend,
                clock,
                public_url,
                security,
                master_key,
                upstream: UpstreamClient::new(),
                cache: broker_cache,
                limits,
                mailer: None,
            }),
        }
    }

    /// The same state reaching identity providers with `upstream` (tests give one with short limits).
    #[must_use]
    pub fn with_upstream(mut self, upstream: UpstreamClient) -> Self {
        self.broker.parts_mut().upstream = upstream;
        self
    }

    /// The same state sending the broker's mail (local accounts' one-time codes) with `mailer`.
    #[must_use]
    pub fn with_mailer(mut self, mailer: Arc<tessera_service::broker::mail::Mailer>) -> Self {
        self.broker.parts_mut().mailer = Some(mailer);
        self
    }

    /// The same state verifying attestations with `trust` (configured roots and a verified MDS BLOB).
    #[must_use]
    pub fn with_attestation(mut self, trust: AttestationSettings) -> Self {
        self.provider.parts_mut().attestation = Arc::new(AttestationSources::new(trust));
        self
    }

    /// Forgets rate-limit state of addresses that have been quiet long enough to be back at full burst.
    /// The server calls this periodically so the limiters' memory stays bounded.
    pub fn trim_rate_limiters(&self) {
        self.provider.rate_limiters.trim();
    }

    /// The store every role shares.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.provider.store
    }
}

/// The public base URL of the service, without a trailing slash (`http://localhost:8080`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl(Arc<str>);

/// Why a public URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicUrlError {
    /// Not an absolute URL.
    #[error("public_url is not an absolute URL: {0}")]
    NotAUrl(String),
    /// Not `http` or `https`.
    #[error("public_url must use https (or http on localhost)")]
    BadScheme,
    /// Has a query, fragment or credentials.
    #[error("public_url must not carry a query, fragment or user information")]
    ExtraParts,
}

impl PublicUrl {
    /// Parses a base URL. `http` is accepted only for `localhost`, its subdomains and loopback addresses.
    pub fn parse(value: &str) -> Result<Self, PublicUrlError> {
        let url = url::Url::parse(value).map_err(|e| PublicUrlError::NotAUrl(e.to_string()))?;
        let loopback = match url.host() {
            Some(_) => tessera_core::web::is_loopback_host(&url),
            None => return Err(PublicUrlError::NotAUrl(value.to_owned())),
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err(PublicUrlError::BadScheme),
        }
        if url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(PublicUrlError::ExtraParts);
        }
        let text = url.as_str().trim_end_matches('/').to_owned();
        Ok(Self(text.into()))
    }

    /// The base URL as a string, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The origin (`scheme://host[:port]`), for WebAuthn and CORS.
    pub fn origin(&self) -> String {
        url::Url::parse(&self.0)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| self.0.to_string())
    }

    /// Whether the URL uses `https` (cookies are `Secure` either way: browsers treat `localhost` as secure).
    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// The OpenID Connect issuer of a tenant: `{base}/{tenant}/oidc`.
    pub fn issuer(&self, tenant: &TenantId) -> String {
        format!("{}/{}/oidc", self.0, tenant)
    }

    /// An absolute URL for a path that starts with `/`.
    pub fn join(&self, path: &str) -> String {
        format!("{}{}", self.0, path)
    }
}

/// Security settings of the HTTP layer.
#[derive(Clone, Debug)]
pub struct SecuritySettings {
    /// Proxies whose `X-Forwarded-For` is believed (RFC 9700 §4.13); empty means none.
    pub trusted_proxies: Vec<IpNet>,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Per client address, on WebAuthn challenge creation.
    pub challenge_rate: RateRule,
    /// Per client address, on the token endpoint.
    pub token_rate: RateRule,
    /// How long a browser session lasts.
    pub session_ttl: Duration,
    /// Lifetime of access tokens (and of ID tokens).
    pub access_token_ttl: Duration,
    /// Lifetime of refresh tokens.
    pub refresh_token_ttl: Duration,
    /// How long a tenant's cached settings and keys are trusted before they are reloaded.
    pub tenant_cache_ttl: Duration,
    /// How recent a user verification must be to add or delete a passkey.
    pub fresh_verification: Duration,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            body_limit: 64 * 1024,
            challenge_rate: RateRule::per_minute(60, 20),
            token_rate: RateRule::per_minute(120, 30),
            session_ttl: Duration::from_secs(12 * 3600),
            access_token_ttl: Duration::from_secs(600),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            tenant_cache_ttl: Duration::from_secs(60),
            fresh_verification: Duration::from_secs(300),
        }
    }
}

impl SecuritySettings {
    /// Whether `ip` is a configured trusted proxy.
    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }
}

/// What registrations' attestations are judged against: the operator's trust anchors and a verified FIDO MDS3 BLOB.
/// Tenants choose how much attestation they demand (their policy); the anchors are the service's.
#[derive(Debug, Clone, Default)]
pub struct AttestationSettings {
    /// Trust anchors (DER certificates), e.g. from `webauthn.trust_anchors_file`.
    pub trust_anchors: Vec<Vec<u8>>,
    /// A FIDO MDS3 BLOB already verified against its root (authenticator roots, descriptions, status reports).
    pub metadata: Option<Arc<MetadataBlob>>,
}

impl AttestationSettings {
    /// The trust the engine applies at `now`, borrowing these anchors and metadata; every other switch at its
    /// safe default.
    pub fn trust_at(&self, now: time::OffsetDateTime) -> AttestationTrust<'_> {
        AttestationTrust {
            trust_anchors: &self.trust_anchors,
            metadata: self.metadata.as_deref(),
            ..AttestationTrust::new(now)
        }
    }
}

/// The current [`AttestationSettings`], swapped whole when the maintenance task reloads a changed MDS BLOB.
#[derive(Debug, Default)]
pub struct AttestationSources {
    current: RwLock<Arc<AttestationSettings>>,
}

impl AttestationSources {
    /// Sources holding `settings`.
    pub fn new(settings: AttestationSettings) -> Self {
        Self {
            current: RwLock::new(Arc::new(settings)),
        }
    }

    /// The settings in force now (a cheap clone of an `Arc`).
    pub fn current(&self) -> Arc<AttestationSettings> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the settings; ceremonies already verifying keep the ones they started with.
    pub fn replace(&self, settings: AttestationSettings) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
    }
}

pub use tessera_service::provider::runtime::TenantRuntime;

/// In-memory cache of [`TenantRuntime`]s, reloaded after `tenant_cache_ttl` or on [`TenantCache::invalidate`].
#[derive(Default)]
pub struct TenantCache {
    entries: RwLock<HashMap<TenantId, Arc<TenantRuntime>>>,
}

impl TenantCache {
    /// The cached entry, if fresh.
    pub fn cached(&self, tenant: &TenantId, ttl: Duration) -> Option<Arc<TenantRuntime>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .get(tenant)
            .filter(|e| e.loaded_at.elapsed() < ttl)
            .cloned()
    }

    /// Stores a freshly loaded entry.
    pub fn put(&self, entry: Arc<TenantRuntime>) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.insert(entry.tenant.id.clone(), entry);
    }

    /// Forgets a tenant, so the next request reloads it (after key rotation or a settings change).
    pub fn invalidate(&self, tenant: &TenantId) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.remove(tenant);
    }
}

impl ProviderState {
    /// The tenant's runtime entry: from memory when fresh, otherwise loaded from the store (keys decrypted once).
    /// An unknown tenant is [`AppError::UnknownTenant`]; a store failure is a 503, never "unknown".
    pub async fn tenant(&self, tenant: &TenantId) -> Result<Arc<TenantRuntime>, AppError> {
        if let Some(entry) = self.tenants.cached(tenant, self.security.tenant_cache_ttl) {
            return Ok(entry);
        }
        let source = tessera_service::provider::runtime::RuntimeSource {
            master: &self.master_key,
            service_url: self.public_url.as_str(),
            grace: tessera_service::keys::retired_key_grace(self.security.access_token_ttl),
            now: self.clock.now(),
        };
        let entry =
            tessera_service::provider::runtime::load_tenant(self.store.as_ref(), tenant, source)
                .await?;
        let entry = Arc::new(entry);
        self.tenants.put(entry.clone());
        Ok(entry)
    }
}

/// The identity broker's share of the state: its store role, the clock, the public URL, the settings, the master
/// key (providers' client secrets, the broker tenants' signing keys), the HTTP client toward identity providers and
/// the cache of broker tenants and user flows. `FromRef<AppState>` lets the broker's router be mounted alone.
pub type BrokerState = RoleState<BrokerParts>;

/// What [`BrokerState`] holds.
#[derive(Clone)]
pub struct BrokerParts {
    /// The broker's store role.
    pub store: Arc<dyn BrokerStore>,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// The public base URL.
    pub public_url: PublicUrl,
    /// Cookie, limit and lifetime settings.
    pub security: Arc<SecuritySettings>,
    /// The master key.
    pub master_key: Arc<tessera_oidc::keys::MasterKey>,
    /// The client toward identity providers.
    pub upstream: UpstreamClient,
    /// Broker tenants and user flows, loaded once.
    pub cache: Arc<BrokerCache>,
    /// The per-client-address limits of the broker's authorization and token endpoints.
    pub limits: BrokerLimits,
    /// The broker's mail (`[broker.mail]`): local accounts' one-time codes. `None`: no local sign-up.
    pub mailer: Option<Arc<tessera_service::broker::mail::Mailer>>,
}

/// The broker's per-client-address rate limits, with the provider's rules and trusted proxies: its token endpoint
/// follows `token_rate` as the provider's does, its authorization endpoint `challenge_rate` (each request starts
/// a stored upstream transaction, as a passkey challenge is stored).
#[derive(Clone)]
pub struct BrokerLimits {
    /// `{policy}/oauth2/v2.0/authorize`, GET and POST.
    pub authorize: PerIpLimiter,
    /// `{policy}/oauth2/v2.0/token`.
    pub token: PerIpLimiter,
}

impl BrokerLimits {
    /// The limits of `security`, registered in `limiters` (trimmed with the provider's).
    pub fn new(limiters: &RateLimiters, security: &SecuritySettings) -> Self {
        let trusted = &security.trusted_proxies;
        Self {
            authorize: PerIpLimiter::new(limiters, trusted, security.challenge_rate),
            token: PerIpLimiter::new(limiters, trusted, security.token_rate),
        }
    }
}

impl axum::extract::FromRef<AppState> for BrokerState {
    fn from_ref(state: &AppState) -> Self {
        state.broker.clone()
    }
}

pub use tessera_service::broker::runtime::{BrokerRuntime, ConfigCache, PolicyRuntime};

/// In-memory cache of broker tenants and their user flows, reloaded after `tenant_cache_ttl` or on
/// [`BrokerCache::invalidate`], and of the identity providers, applications and flow versions sign-ins read
/// (`config`, reloaded after at most [`tessera_service::broker::runtime::CONFIG_CACHE_TTL`]).
pub struct BrokerCache {
    tenants: RwLock<HashMap<TenantId, Arc<BrokerRuntime>>>,
    policies: RwLock<HashMap<(TenantId, String), Arc<PolicyRuntime>>>,
    /// Providers ready for a sign-in, applications and flow versions.
    pub config: ConfigCache,
}

impl Default for BrokerCache {
    fn default() -> Self {
        Self::new(Duration::MAX)
    }
}

impl BrokerCache {
    /// An empty cache whose provider, application and flow-version entries live at most `config_ttl` (and never
    /// longer than [`tessera_service::broker::runtime::CONFIG_CACHE_TTL`]).
    pub fn new(config_ttl: Duration) -> Self {
        Self {
            tenants: RwLock::default(),
            policies: RwLock::default(),
            config: ConfigCache::new(
                config_ttl.min(tessera_service::broker::runtime::CONFIG_CACHE_TTL),
            ),
        }
    }

    /// Forgets a broker tenant, its flows, providers and applications (after any change to its configuration).
    pub fn invalidate(&self, tenant: &TenantId) {
        self.config.invalidate_tenant(tenant);
        self.tenants
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(tenant);
        self.policies
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(t, _), _| t != tenant);
    }
}

impl BrokerState {
    /// The broker tenant's runtime entry: from memory when fresh, otherwise loaded (keys decrypted once). An unknown
    /// tenant is [`AppError::UnknownTenant`]; a store failure is a 503.
    pub async fn tenant(&self, tenant: &TenantId) -> Result<Arc<BrokerRuntime>, AppError> {
        let ttl = self.security.tenant_cache_ttl;
        if let Some(entry) = self
            .cache
            .tenants
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
            .filter(|e| e.loaded_at.elapsed() < ttl)
        {
            return Ok(entry.clone());
        }
        let entry = tessera_service::broker::runtime::load_broker_tenant(
            self.store.as_ref(),
            &self.master_key,
            tenant,
            self.clock.now(),
        )
        .await?;
        let entry = Arc::new(entry);
        self.cache
            .tenants
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant.clone(), entry.clone());
        Ok(entry)
    }

    /// The user flow `policy` of the tenant (the policy compared case-insensitively); `None` when there is none.
    pub async fn policy(
        &self,
        tenant: &TenantId,
        policy: &tessera_broker::config::PolicyId,
    ) -> Result<Option<Arc<PolicyRuntime>>, AppError> {
        let key = (tenant.clone(), policy.key());
        let ttl = self.security.tenant_cache_ttl;
        if let Some(entry) = self
            .cache
            .policies
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .filter(|e| e.loaded_at.elapsed() < ttl)
        {
            return Ok(Some(entry.clone()));
        }
        let Some(entry) = tessera_service::broker::runtime::load_policy(
            self.store.as_ref(),
            self.public_url.as_str(),
            tenant,
            policy,
        )
        .await?
        else {
            return Ok(None);
        };
        let entry = Arc::new(entry);
        self.cache
            .policies
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, entry.clone());
        Ok(Some(entry))
    }
}
