//! Identity providers of a broker tenant (OpenID Connect, added by their metadata URL).
//!
//! Saving a provider checks everything the first sign-in would need, so a wrong URL or a broken provider is an
//! error at save time, naming what is wrong: the configuration (`tessera_broker::config`), the discovery document
//! fetched from the metadata URL (`validate_provider_metadata`), and the JWK Set fetched from its `jwks_uri`
//! (`ProviderKeys::parse`). The client secret is sealed under the master key, bound to the tenant and provider.
//! The runtime reads a provider with [`load_provider_for_sign_in`] and, on an unknown `kid`, calls
//! [`refetch_jwks`]; the server's maintenance task calls [`refresh_due_providers`].

use std::collections::HashMap;

use tessera_broker::config::{IdentityProvider, ProviderId};
use tessera_broker::metadata::{
    ProviderKeys, ProviderMetadata, jwks_refetch_allowed, refresh_due, validate_provider_metadata,
};
use tessera_core::{Secret, TenantId};
use tessera_oidc::keys::MasterKey;
use tessera_store::{
    BrokerStore, IdentityProviderRecord, IdentityProviderSummary, ProviderCache, StoreError,
};
use time::OffsetDateTime;

use super::tenants::require_tenant;
use super::upstream_client::UpstreamClient;
use crate::error::{Result, ServiceError};

/// A provider as shown to an operator: its configuration, what was fetched and when. Never its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderView {
    /// The configuration.
    pub config: IdentityProvider,
    /// The validated discovery document, as last fetched.
    pub metadata: ProviderMetadata,
    /// How many usable signing keys the last fetched JWKS holds.
    pub signing_keys: usize,
    /// Whether a client secret is stored.
    pub has_client_secret: bool,
    /// When the discovery document was last fetched.
    pub metadata_fetched_at: OffsetDateTime,
    /// When the JWKS was last fetched.
    pub jwks_fetched_at: OffsetDateTime,
    /// When the provider was added.
    pub created_at: OffsetDateTime,
    /// When its configuration was last saved.
    pub updated_at: OffsetDateTime,
}

/// A provider as a list shows it: its configuration and times, the issuer and key count kept beside them, without
/// the fetched documents or the secret (which a list never reads or decodes).
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSummary {
    /// The configuration.
    pub config: IdentityProvider,
    /// Whether a client secret is stored.
    pub has_client_secret: bool,
    /// The issuer its discovery document names, as last fetched.
    pub issuer: String,
    /// How many usable signing keys its JWKS held when last fetched.
    pub signing_keys: usize,
    /// When the discovery document was last fetched.
    pub metadata_fetched_at: OffsetDateTime,
    /// When the provider was added.
    pub created_at: OffsetDateTime,
    /// When its configuration was last saved.
    pub updated_at: OffsetDateTime,
}

/// One page of a tenant's providers, in id order, and the id to continue after when more follow.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSummaryPage {
    /// The providers of the page.
    pub providers: Vec<ProviderSummary>,
    /// The last id of the page when another page follows.
    pub next: Option<ProviderId>,
}

/// How many providers one store read returns when a whole list is read in pages.
const SUMMARY_CHUNK: u32 = 500;

/// A provider ready for a sign-in: its configuration, its client secret decrypted, and its cached metadata and
/// keys parsed. `Debug` never shows the secret.
#[derive(Debug, Clone)]
pub struct SignInProvider {
    /// The configuration.
    pub config: IdentityProvider,
    /// The client secret the provider issued to the broker.
    pub client_secret: Secret,
    /// The validated discovery document.
    pub metadata: ProviderMetadata,
    /// The provider's signing keys.
    pub keys: ProviderKeys,
    /// When the JWKS was fetched (for [`refetch_jwks`]'s bound).
    pub jwks_fetched_at: OffsetDateTime,
}

/// What a provider's documents gave when fetched and validated.
struct Fetched {
    metadata: ProviderMetadata,
    jwks: serde_json::Value,
    signing_keys: usize,
}

/// The associated data a provider's client secret is sealed with: a copied ciphertext opens for no other
/// provider or tenant.
fn secret_context(tenant: &TenantId, provider: &ProviderId) -> Vec<u8> {
    format!("broker-idp-secret\u{0}{tenant}\u{0}{provider}").into_bytes()
}

/// Fetches the discovery document from the metadata URL and validates it for `config`, then fetches and parses the
/// JWKS it names. Each failure names what is wrong.
async fn fetch_documents(client: &UpstreamClient, config: &IdentityProvider) -> Result<Fetched> {
    let url = config.metadata_url.as_str();
    let document = client
        .get_json(url)
        .await
        .map_err(|error| ServiceError::ProviderFetch {
            field: "metadata_url",
            error,
        })?;
    let metadata = validate_provider_metadata(config, &document.body).map_err(|error| {
        ServiceError::ProviderMetadata {
            url: url.to_owned(),
            error,
        }
    })?;
    let (jwks, keys) = fetch_jwks(client, &metadata).await?;
    Ok(Fetched {
        metadata,
        jwks,
        signing_keys: keys.keys().len(),
    })
}

async fn fetch_jwks(
    client: &UpstreamClient,
    metadata: &ProviderMetadata,
) -> Result<(serde_json::Value, ProviderKeys)> {
    let document =
        client
            .get_json(&metadata.jwks_uri)
            .await
            .map_err(|error| ServiceError::ProviderFetch {
                field: "jwks_uri",
                error,
            })?;
    let keys = ProviderKeys::parse(&document.body).map_err(|error| ServiceError::ProviderJwks {
        url: metadata.jwks_uri.clone(),
        error,
    })?;
    Ok((document.json(), keys))
}

fn cache_of(fetched: &Fetched, now: OffsetDateTime) -> Result<ProviderCache> {
    Ok(ProviderCache {
        metadata: to_json(&fetched.metadata)?,
        metadata_fetched_at: now,
        jwks: fetched.jwks.clone(),
        jwks_fetched_at: now,
        signing_keys: Some(key_count(fetched.signing_keys)),
    })
}

/// A number of keys as the store keeps it beside the summary.
fn key_count(keys: usize) -> u32 {
    u32::try_from(keys).unwrap_or(u32::MAX)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| ServiceError::Internal(format!("serialization: {e}")))
}

fn seal_secret(
    master: &MasterKey,
    tenant: &TenantId,
    provider: &ProviderId,
    secret: &Secret,
) -> Result<Vec<u8>> {
    if secret.expose().is_empty() {
        return Err(ServiceError::ProviderSecretRequired);
    }
    master
        .seal(
            &secret_context(tenant, provider),
            secret.expose().as_bytes(),
        )
        .map_err(|e| ServiceError::Keys(format!("sealing the client secret: {e}")))
}

/// What "test connection" found: the provider's validated discovery document and how many usable signing keys
/// its JWKS holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionReport {
    /// The validated discovery document.
    pub metadata: ProviderMetadata,
    /// Usable signing keys in the JWKS.
    pub signing_keys: usize,
}

/// "Test connection": fetches the metadata of `config` and its JWKS and checks them as saving would, without
/// storing anything. The error names the field at fault (`metadata_url`, `jwks_uri`, `response_mode`, ...).
pub async fn test_connection(
    client: &UpstreamClient,
    config: &IdentityProvider,
) -> Result<ConnectionReport> {
    config.validate()?;
    let fetched = fetch_documents(client, config).await?;
    Ok(ConnectionReport {
        metadata: fetched.metadata,
        signing_keys: fetched.signing_keys,
    })
}

/// Adds an identity provider: validates `config`, fetches and validates its metadata and JWKS, seals
/// `client_secret` under `master`, and stores all of it. Nothing is stored when any step fails.
pub async fn save_identity_provider(
    store: &dyn BrokerStore,
    master: &MasterKey,
    client: &UpstreamClient,
    tenant: &TenantId,
    config: IdentityProvider,
    client_secret: Secret,
    now: OffsetDateTime,
) -> Result<ProviderView> {
    require_tenant(store, tenant).await?;
    config.validate()?;
    if store
        .get_identity_provider(tenant, config.id.as_str())
        .await?
        .is_some()
    {
        return Err(ServiceError::ProviderExists {
            id: config.id.to_string(),
        });
    }
    let sealed = seal_secret(master, tenant, &config.id, &client_secret)?;
    let fetched = fetch_documents(client, &config).await?;
    let record = IdentityProviderRecord {
        tenant: tenant.clone(),
        provider_id: config.id.to_string(),
        config: to_json(&config)?,
        client_secret_encrypted: Some(sealed),
        cache: cache_of(&fetched, now)?,
        created_at: now,
        updated_at: now,
    };
    store
        .create_identity_provider(&record)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => ServiceError::ProviderExists {
                id: config.id.to_string(),
            },
            StoreError::NotFound => ServiceError::BrokerTenantNotFound,
            other => other.into(),
        })?;
    view(&record)
}

/// Replaces a provider's configuration (same id), fetching and validating its metadata and JWKS again. With
/// `client_secret` `None` the stored secret is kept.
///
/// With `expected` (the provider as the caller read it, whose `ETag` or form version it checked) the change is a
/// conditional write: if anyone saved the provider since (its configuration, secret or save time differ; a
/// metadata refresh does not count), nothing is written and [`ServiceError::Changed`] says so. Of two changes
/// based on one read exactly one is saved. `None` changes the stored provider.
#[allow(clippy::too_many_arguments)]
pub async fn update_identity_provider(
    store: &dyn BrokerStore,
    master: &MasterKey,
    client: &UpstreamClient,
    tenant: &TenantId,
    config: IdentityProvider,
    client_secret: Option<Secret>,
    now: OffsetDateTime,
    expected: Option<&ProviderView>,
) -> Result<ProviderView> {
    require_tenant(store, tenant).await?;
    config.validate()?;
    let existing = store
        .get_identity_provider(tenant, config.id.as_str())
        .await?
        .ok_or(ServiceError::ProviderNotFound)?;
    refuse_changed_provider(&existing, expected)?;
    let sealed = match &client_secret {
        Some(secret) => Some(seal_secret(master, tenant, &config.id, secret)?),
        None => existing.client_secret_encrypted.clone(),
    };
    let fetched = fetch_documents(client, &config).await?;
    let record = IdentityProviderRecord {
        config: to_json(&config)?,
        client_secret_encrypted: sealed,
        cache: cache_of(&fetched, now)?,
        updated_at: now,
        ..existing.clone()
    };
    store
        .update_identity_provider(&record, expected.map(|_| &existing))
        .await
        .map_err(not_found_as_provider)?;
    view(&record)
}

/// [`ServiceError::Changed`] if the caller's `expected` read is not the configuration stored now (the store's
/// conditional write on `existing` then closes the gap up to the write).
fn refuse_changed_provider(
    existing: &IdentityProviderRecord,
    expected: Option<&ProviderView>,
) -> Result<()> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let current = view(existing)?;
    let same = current.config == expected.config
        && current.has_client_secret == expected.has_client_secret
        && current.updated_at == expected.updated_at;
    if same {
        Ok(())
    } else {
        Err(ServiceError::Changed {
            what: "identity provider",
        })
    }
}

/// Reads a provider.
pub async fn get_identity_provider(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    provider: &ProviderId,
) -> Result<ProviderView> {
    require_tenant(store, tenant).await?;
    view(&record(store, tenant, provider).await?)
}

/// Lists a tenant's providers, ordered by id.
pub async fn list_identity_providers(
    store: &dyn BrokerStore,
    tenant: &TenantId,
) -> Result<Vec<ProviderView>> {
    require_tenant(store, tenant).await?;
    store
        .list_identity_providers(tenant)
        .await?
        .iter()
        .map(view)
        .collect()
}

/// Deletes a provider. Refused while the current version of a user flow offers it
/// ([`ServiceError::ProviderInUse`] names the flows); older versions keep naming it, and a sign-in still running on
/// one of them fails with "unknown identity provider". With `expected` (the provider as read), only if nobody saved
/// it since ([`ServiceError::Changed`] otherwise, and nothing is deleted).
pub async fn delete_identity_provider(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    provider: &ProviderId,
    expected: Option<&ProviderView>,
) -> Result<()> {
    require_tenant(store, tenant).await?;
    let guard = match expected {
        Some(_) => {
            let existing = record(store, tenant, provider).await?;
            refuse_changed_provider(&existing, expected)?;
            Some(existing)
        }
        None => None,
    };
    let using = super::flows::flows_offering(store, tenant, provider).await?;
    if !using.is_empty() {
        return Err(ServiceError::ProviderInUse {
            provider: provider.to_string(),
            flows: using,
        });
    }
    store
        .delete_identity_provider(tenant, provider.as_str(), guard.as_ref())
        .await
        .map_err(not_found_as_provider)
}

/// The ids of a tenant's providers (what flows may offer).
pub(crate) async fn provider_ids(
    store: &dyn BrokerStore,
    tenant: &TenantId,
) -> Result<Vec<ProviderId>> {
    all_summaries(store, tenant)
        .await?
        .iter()
        .map(|r| {
            ProviderId::parse(&r.provider_id)
                .map_err(|e| ServiceError::Corrupt(format!("provider id {:?}: {e}", r.provider_id)))
        })
        .collect()
}

/// Every summary of a tenant's providers, in id order, read a chunk at a time (no secret or fetched document).
async fn all_summaries(
    store: &dyn BrokerStore,
    tenant: &TenantId,
) -> Result<Vec<IdentityProviderSummary>> {
    let mut all: Vec<IdentityProviderSummary> = Vec::new();
    loop {
        let after = all.last().map(|s| s.provider_id.clone());
        let chunk = store
            .list_identity_provider_summaries(tenant, None, after.as_deref(), SUMMARY_CHUNK)
            .await?;
        let done = chunk.len() < SUMMARY_CHUNK as usize;
        all.extend(chunk);
        if done {
            return Ok(all);
        }
    }
}

/// The summary a list shows. A provider stored before migration 0032 and not saved or refreshed since has no key
/// count (nor, with metadata naming none, an issuer) beside its summary: that one provider is read whole and its
/// documents decoded, as its own page would, until the next refresh writes them.
async fn summary(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    record: &IdentityProviderSummary,
) -> Result<ProviderSummary> {
    let config = decode_config_value(&record.provider_id, &record.config)?;
    let (issuer, signing_keys) = match (&record.issuer, record.signing_keys) {
        (Some(issuer), Some(keys)) => (issuer.clone(), usize::try_from(keys).unwrap_or(usize::MAX)),
        _ => {
            let full = self::record(store, tenant, &config.id).await?;
            (
                decode_metadata(&full)?.issuer,
                decode_keys(&full)?.keys().len(),
            )
        }
    };
    Ok(ProviderSummary {
        config,
        has_client_secret: record.has_client_secret,
        issuer,
        signing_keys,
        metadata_fetched_at: record.metadata_fetched_at,
        created_at: record.created_at,
        updated_at: record.updated_at,
    })
}

/// A page of a tenant's providers ordered by id, after the id `after`: at most `limit` (1 to
/// [`crate::users::MAX_PAGE_SIZE`]), with the id to continue after when more follow. With `q` (folded:
/// [`crate::admin::list_filters::query`]), only those whose id or name starts with it: the store filters on the id
/// and the name folded at every write (migration 0036) before it cuts the page, so the page holds only matches and
/// the next one starts after its last (none missed, none repeated). Only the page's configurations are read and
/// decoded, never the secret or the fetched documents; [`ServiceError::TenantNotFound`] for an unknown tenant.
pub async fn list_provider_summaries_page(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    q: Option<&str>,
    after: Option<&ProviderId>,
    limit: u32,
) -> Result<ProviderSummaryPage> {
    require_tenant(store, tenant).await?;
    let limit = limit.clamp(1, crate::users::MAX_PAGE_SIZE);
    // One more than asked tells whether there is a next page.
    let rows = store
        .list_identity_provider_summaries(tenant, q, after.map(ProviderId::as_str), limit + 1)
        .await?;
    let mut providers = Vec::with_capacity(rows.len());
    for row in rows.iter().take(limit as usize) {
        providers.push(summary(store, tenant, row).await?);
    }
    let next = if rows.len() > limit as usize {
        providers.last().map(|p| p.config.id.clone())
    } else {
        None
    };
    Ok(ProviderSummaryPage { providers, next })
}

/// A provider for a sign-in: configuration, decrypted client secret, cached metadata and keys.
pub async fn load_provider_for_sign_in(
    store: &dyn BrokerStore,
    master: &MasterKey,
    tenant: &TenantId,
    provider: &ProviderId,
) -> Result<SignInProvider> {
    let record = record(store, tenant, provider).await?;
    let config = decode_config(&record)?;
    let sealed = record.client_secret_encrypted.as_deref().ok_or_else(|| {
        ServiceError::Corrupt(format!("identity provider {provider} has no client secret"))
    })?;
    let secret = master
        .open(&secret_context(tenant, provider), sealed)
        .map_err(|e| {
            ServiceError::Keys(format!(
                "client secret of identity provider {provider}: {e}"
            ))
        })?;
    let secret = String::from_utf8(secret).map_err(|_| {
        ServiceError::Corrupt(format!("client secret of identity provider {provider}"))
    })?;
    Ok(SignInProvider {
        config,
        client_secret: Secret::new(secret),
        metadata: decode_metadata(&record)?,
        keys: decode_keys(&record)?,
        jwks_fetched_at: record.cache.jwks_fetched_at,
    })
}

/// Fetches a provider's JWKS again after an ID token named a `kid` it lacks, if the last fetch is old enough
/// (`jwks_refetch_allowed`, one minute): then returns the new keys, stored with the fetch time. `None` means too
/// soon; the token is refused as it stands. A failed fetch is an error and, so that made-up `kid`s cannot make the
/// broker call a failing provider on every request, counts as a fetch for that bound (the keys already held stay).
pub async fn refetch_jwks(
    store: &dyn BrokerStore,
    client: &UpstreamClient,
    tenant: &TenantId,
    provider: &ProviderId,
    now: OffsetDateTime,
) -> Result<Option<ProviderKeys>> {
    let record = record(store, tenant, provider).await?;
    if !jwks_refetch_allowed(record.cache.jwks_fetched_at, now) {
        return Ok(None);
    }
    let metadata = decode_metadata(&record)?;
    let fetched = fetch_jwks(client, &metadata).await;
    let (jwks, signing_keys) = match &fetched {
        Ok((jwks, keys)) => (jwks.clone(), Some(key_count(keys.keys().len()))),
        Err(_) => (record.cache.jwks.clone(), record.cache.signing_keys),
    };
    let cache = ProviderCache {
        jwks,
        jwks_fetched_at: now,
        signing_keys,
        ..record.cache
    };
    store
        .refresh_provider_metadata(tenant, provider.as_str(), &cache)
        .await
        .map_err(not_found_as_provider)?;
    fetched.map(|(_, keys)| Some(keys))
}

/// What a scheduled refresh did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshReport {
    /// Providers whose metadata and JWKS were fetched, validated and stored.
    pub refreshed: usize,
    /// Providers whose refresh failed, as `(tenant, provider, error)`; they keep their cached documents and are
    /// tried again later ([`RefreshBackoff`]).
    pub failed: Vec<(TenantId, String, String)>,
}

/// The longest wait between two refresh attempts of a failing provider.
pub const MAX_REFRESH_BACKOFF: time::Duration = time::Duration::hours(1);

/// When failing providers are tried again: a minute after the first failure, then 2, 4, 8 ... minutes later, at
/// most [`MAX_REFRESH_BACKOFF`]; a success forgets the failures. The maintenance task keeps one in memory across its
/// rounds, so a provider that is down costs a request now and then instead of one (and up to a timeout) per round.
#[derive(Debug, Clone, Default)]
pub struct RefreshBackoff {
    failing: HashMap<(TenantId, String), (u32, OffsetDateTime)>,
}

impl RefreshBackoff {
    /// Whether `provider` of `tenant` may be tried at `now`.
    fn allows(&self, tenant: &TenantId, provider: &str, now: OffsetDateTime) -> bool {
        self.failing
            .get(&(tenant.clone(), provider.to_owned()))
            .is_none_or(|(_, next)| *next <= now)
    }

    fn failed(&mut self, tenant: &TenantId, provider: &str, now: OffsetDateTime) {
        let entry = self
            .failing
            .entry((tenant.clone(), provider.to_owned()))
            .or_insert((0, now));
        entry.0 = entry.0.saturating_add(1);
        let wait = time::Duration::minutes(1i64 << entry.0.saturating_sub(1).min(6));
        entry.1 = now + wait.min(MAX_REFRESH_BACKOFF);
    }

    fn succeeded(&mut self, tenant: &TenantId, provider: &str) {
        self.failing.remove(&(tenant.clone(), provider.to_owned()));
    }
}

/// Fetches again the metadata and JWKS of every provider (of every broker tenant) last fetched
/// `METADATA_REFRESH_INTERVAL` (24 h) ago or more, validates them as at save time, and stores them. A provider
/// whose new documents fail keeps the ones it has (and the failure is reported), so a provider's bad day does not
/// take away keys that still verify; `backoff` spaces out its next attempts.
pub async fn refresh_due_providers(
    store: &dyn BrokerStore,
    client: &UpstreamClient,
    backoff: &mut RefreshBackoff,
    now: OffsetDateTime,
) -> Result<RefreshReport> {
    let mut report = RefreshReport::default();
    for tenant in store.list_broker_tenants().await? {
        for record in store.list_identity_providers(&tenant.id).await? {
            let fetched_at = record
                .cache
                .metadata_fetched_at
                .min(record.cache.jwks_fetched_at);
            if !refresh_due(fetched_at, now)
                || !backoff.allows(&tenant.id, &record.provider_id, now)
            {
                continue;
            }
            match refresh_one(store, client, &record, now).await {
                Ok(()) => {
                    backoff.succeeded(&tenant.id, &record.provider_id);
                    report.refreshed += 1;
                }
                Err(e) => {
                    backoff.failed(&tenant.id, &record.provider_id, now);
                    report.failed.push((
                        tenant.id.clone(),
                        record.provider_id.clone(),
                        e.to_string(),
                    ));
                }
            }
        }
    }
    Ok(report)
}

async fn refresh_one(
    store: &dyn BrokerStore,
    client: &UpstreamClient,
    record: &IdentityProviderRecord,
    now: OffsetDateTime,
) -> Result<()> {
    let config = decode_config(record)?;
    let fetched = fetch_documents(client, &config).await?;
    store
        .refresh_provider_metadata(
            &record.tenant,
            &record.provider_id,
            &cache_of(&fetched, now)?,
        )
        .await
        .map_err(not_found_as_provider)
}

async fn record(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    provider: &ProviderId,
) -> Result<IdentityProviderRecord> {
    store
        .get_identity_provider(tenant, provider.as_str())
        .await?
        .ok_or(ServiceError::ProviderNotFound)
}

fn not_found_as_provider(error: StoreError) -> ServiceError {
    match error {
        StoreError::NotFound => ServiceError::ProviderNotFound,
        StoreError::Changed => ServiceError::Changed {
            what: "identity provider",
        },
        other => other.into(),
    }
}

fn decode_config(record: &IdentityProviderRecord) -> Result<IdentityProvider> {
    decode_config_value(&record.provider_id, &record.config)
}

fn decode_config_value(provider_id: &str, config: &serde_json::Value) -> Result<IdentityProvider> {
    serde_json::from_value(config.clone())
        .map_err(|e| ServiceError::Corrupt(format!("identity provider {provider_id}: {e}")))
}

fn decode_metadata(record: &IdentityProviderRecord) -> Result<ProviderMetadata> {
    serde_json::from_value(record.cache.metadata.clone()).map_err(|e| {
        ServiceError::Corrupt(format!(
            "metadata of identity provider {}: {e}",
            record.provider_id
        ))
    })
}

fn decode_keys(record: &IdentityProviderRecord) -> Result<ProviderKeys> {
    let bytes = serde_json::to_vec(&record.cache.jwks)
        .map_err(|e| ServiceError::Internal(format!("serialization: {e}")))?;
    ProviderKeys::parse(&bytes).map_err(|e| {
        ServiceError::Corrupt(format!(
            "JWKS of identity provider {}: {e}",
            record.provider_id
        ))
    })
}

fn view(record: &IdentityProviderRecord) -> Result<ProviderView> {
    Ok(ProviderView {
        config: decode_config(record)?,
        metadata: decode_metadata(record)?,
        signing_keys: decode_keys(record)?.keys().len(),
        has_client_secret: record.client_secret_encrypted.is_some(),
        metadata_fetched_at: record.cache.metadata_fetched_at,
        jwks_fetched_at: record.cache.jwks_fetched_at,
        created_at: record.created_at,
        updated_at: record.updated_at,
    })
}

/// A tenant's providers' configurations only (no fetched documents decoded), ordered by id: for lists and choices.
pub async fn list_provider_configs(
    store: &dyn BrokerStore,
    tenant: &TenantId,
) -> Result<Vec<IdentityProvider>> {
    require_tenant(store, tenant).await?;
    all_summaries(store, tenant)
        .await?
        .iter()
        .map(|s| decode_config_value(&s.provider_id, &s.config))
        .collect()
}

/// One provider a search found: its id and name (from the configuration of its summary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMatch {
    /// The id.
    pub id: ProviderId,
    /// The display name.
    pub name: String,
}

/// What [`search_provider_summaries`] found: at most the `limit` asked for, in id order, and whether more match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMatches {
    /// The matches.
    pub providers: Vec<ProviderMatch>,
    /// More providers match than were returned.
    pub more: bool,
}

/// The greatest string below every id that starts with `prefix` (ids are lowercase letters, digits and `-`, all
/// above `,` and below `~`), for the store's exclusive `after`: the last byte lowered by one, then `~`.
fn seek_before(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    match bytes.last_mut() {
        Some(last) => *last -= 1,
        None => return String::new(),
    }
    bytes.push(b'~');
    String::from_utf8(bytes).unwrap_or_default()
}

/// Whether `query` (lowercase) is the start of `name` or of one of its words, ignoring case.
fn name_matches(name: &str, query: &str) -> bool {
    let name = name.to_lowercase();
    name.starts_with(query)
        || name
            .split(|c: char| c.is_whitespace() || c == '-' || c == '(')
            .any(|word| !word.is_empty() && word.starts_with(query))
}

fn match_of(summary: &IdentityProviderSummary) -> Result<ProviderMatch> {
    let id = ProviderId::parse(&summary.provider_id).map_err(|e| {
        ServiceError::Corrupt(format!("provider id {:?}: {e}", summary.provider_id))
    })?;
    let name = summary
        .config
        .get("name")
        .and_then(serde_json::Value::as_str)
        .unwrap_or(summary.provider_id.as_str())
        .to_owned();
    Ok(ProviderMatch { id, name })
}

/// How many summaries one store read of a search returns.
const SEARCH_CHUNK: u32 = 250;

/// A tenant's providers whose id starts with `query`, or whose name or one of its words does (case-insensitive),
/// in id order: at most `limit`, and whether more match. An empty query gives the first `limit` providers. Read a
/// page of summaries at a time from the store (never a secret or fetched document, no configuration decoded): an
/// id prefix is first looked up where the store's id order puts it, so a query that names enough ids reads one
/// page; otherwise pages follow until `limit` plus one match or the end of the list.
pub async fn search_provider_summaries(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    query: &str,
    limit: usize,
) -> Result<ProviderMatches> {
    require_tenant(store, tenant).await?;
    let limit = limit.clamp(1, crate::users::MAX_PAGE_SIZE as usize);
    let want = u32::try_from(limit + 1).unwrap_or(u32::MAX);
    let query = query.trim().to_lowercase();
    let mut found: Vec<ProviderMatch> = Vec::new();
    if query.is_empty() {
        for summary in store
            .list_identity_provider_summaries(tenant, None, None, want)
            .await?
        {
            found.push(match_of(&summary)?);
        }
    } else {
        // The ids that start with the query (as an id: spaces become '-'), in one page where they begin.
        let as_id = query.replace(' ', "-");
        let id_like = as_id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if id_like {
            let page = store
                .list_identity_provider_summaries(tenant, None, Some(&seek_before(&as_id)), want)
                .await?;
            for summary in page
                .iter()
                .take_while(|s| s.provider_id.starts_with(&as_id))
            {
                found.push(match_of(summary)?);
            }
        }
        // Then the names, a page at a time, until enough match.
        let mut after: Option<String> = None;
        while found.len() <= limit {
            let page = store
                .list_identity_provider_summaries(tenant, None, after.as_deref(), SEARCH_CHUNK)
                .await?;
            let done = page.len() < SEARCH_CHUNK as usize;
            for summary in &page {
                let m = match_of(summary)?;
                if name_matches(&m.name, &query) && !found.iter().any(|f| f.id == m.id) {
                    found.push(m);
                }
            }
            after = page.last().map(|s| s.provider_id.clone());
            if done {
                break;
            }
        }
        found.sort_by(|a, b| a.id.cmp(&b.id));
    }
    let more = found.len() > limit;
    found.truncate(limit);
    Ok(ProviderMatches {
        providers: found,
        more,
    })
}

/// The names of the providers `ids` (for a form that shows them chosen): each looked up where the store's id order
/// puts it (one summary read each, no secret or fetched document); `None` for an id the tenant has no provider of.
pub async fn provider_names(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    ids: &[ProviderId],
) -> Result<Vec<(ProviderId, Option<String>)>> {
    let mut named = Vec::with_capacity(ids.len());
    for id in ids {
        let page = store
            .list_identity_provider_summaries(tenant, None, Some(&seek_before(id.as_str())), 1)
            .await?;
        let name = match page.first() {
            Some(s) if s.provider_id == id.as_str() => Some(match_of(s)?.name),
            _ => None,
        };
        named.push((id.clone(), name));
    }
    Ok(named)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::testing::{T0, Upstream, client, jwks_of, master, sqlite, tenant_id};
    use crate::broker::upstream_client::UpstreamError;
    use serde_json::json;
    use tessera_broker::metadata::{JwksError, MetadataError};
    use tessera_oidc::keys::{SigningAlg, SigningKey};
    use tessera_store_sqlite::SqliteStore;

    #[test]
    fn seek_before_sorts_below_every_id_with_the_prefix_and_above_the_rest() {
        let ids = [
            "a", "a-b", "idp-0", "idp-08", "idp-08z", "idp-09", "idp-090", "idp-1", "idp-", "z9",
        ];
        for prefix in ["idp-09", "idp-", "idp-0", "a", "z", "idp-1", "0"] {
            let seek = seek_before(prefix);
            for id in ids {
                assert_eq!(
                    id > seek.as_str() && id < format!("{prefix}~").as_str(),
                    id.starts_with(prefix),
                    "{id} against {prefix} (seek {seek:?})"
                );
            }
        }
        assert_eq!(seek_before(""), "");
    }

    #[test]
    fn names_match_at_their_start_or_a_word_in_any_case() {
        assert!(name_matches("Nok Nok Authentication Provider", "nok"));
        assert!(name_matches("Nok Nok Authentication Provider", "auth"));
        assert!(name_matches("Nok Nok Authentication Provider", "nok nok a"));
        assert!(name_matches("Partner (EU-west) passkeys", "west"));
        assert!(!name_matches(
            "Nok Nok Authentication Provider",
            "thentication"
        ));
        assert!(!name_matches("Provider 9", "provider 99"));
    }

    async fn with_tenant() -> (std::sync::Arc<SqliteStore>, tempfile::TempDir, TenantId) {
        let (store, dir) = sqlite().await;
        let tenant = tenant_id("contoso");
        crate::broker::tenants::create_broker_tenant(
            store.as_ref(),
            &master(),
            crate::broker::tenants::NewBrokerTenant {
                id: tenant.clone(),
                display_name: None,
            },
            T0,
        )
        .await
        .expect("tenant");
        (store, dir, tenant)
    }

    fn secret() -> Secret {
        Secret::new("idp-client-secret-42")
    }

    #[tokio::test]
    async fn a_provider_added_by_its_metadata_url_is_stored_with_validated_metadata_and_a_sealed_secret()
     {
        let (store, _dir, tenant) = with_tenant().await;
        let upstream = Upstream::start().await;
        let saved = save_identity_provider(
            store.as_ref(),
            &master(),
            &client(),
            &tenant,
            upstream.provider("noknok"),
            secret(),
            T0,
        )
        .await
        .expect("save");
        assert_eq!(saved.metadata.issuer, upstream.issuer());
        assert_eq!(
            saved.metadata.jwks_uri,
            format!("{}/jwks", upstream.issuer())
        );
        assert!(saved.metadata.iss_parameter_supported);
        assert_eq!(saved.signing_keys, 1);
        assert!(saved.has_client_secret);
        assert_eq!(saved.metadata_fetched_at, T0);

        let record = store
            .get_identity_provider(&tenant, "noknok")
            .await
            .expect("read")
            .expect("stored");
        let sealed = record.client_secret_encrypted.clone().expect("sealed");
        assert!(
            !sealed
                .windows(secret().expose().len())
                .any(|w| w == secret().expose().as_bytes()),
            "the client secret is not stored in the clear"
        );
        assert!(!format!("{saved:?}").contains(secret().expose()));

        let id = ProviderId::parse("noknok").expect("id");
        let ready = load_provider_for_sign_in(store.as_ref(), &master(), &tenant, &id)
            .await
            .expect("load");
        assert_eq!(ready.client_secret.expose(), secret().expose());
        assert_eq!(ready.metadata, saved.metadata);
        assert_eq!(ready.keys.keys().len(), 1);
        assert!(!format!("{ready:?}").contains(secret().expose()));

        let other_master = tessera_oidc::keys::MasterKey::from_bytes(&[9u8; 32]).expect("key");
        assert!(matches!(
            load_provider_for_sign_in(store.as_ref(), &other_master, &tenant, &id).await,
            Err(ServiceError::Keys(_))
        ));
        // The sealed secret copied to another provider does not open there.
        let mut copied = upstream.provider("copy");
        copied.name = "Copy".into();
        save_identity_provider(
            store.as_ref(),
            &master(),
            &client(),
            &tenant,
            copied,
            Secret::new("other"),
            T0,
        )
        .await
        .expect("second provider");
        let mut moved = store
            .get_identity_provider(&tenant, "copy")
            .await
            .expect("read")
            .expect("stored");
        moved.client_secret_encrypted = Some(sealed);
        store
            .update_identity_provider(&moved, None)
            .await
            .expect("update");
        let copy = ProviderId::parse("copy").expect("id");
        assert!(matches!(
            load_provider_for_sign_in(store.as_ref(), &master(), &tenant, &copy).await,
            Err(ServiceError::Keys(_))
        ));

        let listed: Vec<String> = list_identity_providers(store.as_ref(), &tenant)
            .await
            .expect("list")
            .into_iter()
            .map(|p| p.config.id.to_string())
            .collect();
        assert_eq!(listed, ["copy", "noknok"]);
        assert!(matches!(
            save_identity_provider(
                store.as_ref(),
                &master(),
                &client(),
                &tenant,
                upstream.provider("noknok"),
                secret(),
                T0
            )
            .await,
            Err(ServiceError::ProviderExists { id }) if id == "noknok"
        ));
    }

    #[tokio::test]
    async fn a_summary_page_shows_the_issuer_and_keys_also_of_a_provider_stored_before_migration_0032()
     {
        let (store, _dir, tenant) = with_tenant().await;
        let upstream = Upstream::start().await;
        for id in ["a", "b"] {
            save_identity_provider(
                store.as_ref(),
                &master(),
                &client(),
                &tenant,
                upstream.provider(id),
                secret(),
                T0,
            )
            .await
            .expect("save");
        }
        // "b" as a provider stored before migration 0032 and not refreshed since: no key count beside it.
        let mut old = store
            .get_identity_provider(&tenant, "b")
            .await
            .expect("read")
            .expect("stored");
        old.cache.signing_keys = None;
        store
            .refresh_provider_metadata(&tenant, "b", &old.cache)
            .await
            .expect("refresh");
        let page = list_provider_summaries_page(store.as_ref(), &tenant, None, None, 10)
            .await
            .expect("page");
        let facts: Vec<_> = page
            .providers
            .iter()
            .map(|p| {
                (
                    p.config.id.to_string(),
                    p.issuer.clone(),
                    p.signing_keys,
                    p.has_client_secret,
                )
            })
            .collect();
        let expected = |id: &str| (id.to_owned(), upstream.issuer(), 1, true);
        assert_eq!(facts, [expected("a"), expected("b")]);
        assert_eq!(page.next, None);
    }

    /// Saves `config` in a fresh tenant and returns the error, checking that nothing was stored.
    async fn refused(config: IdentityProvider) -> ServiceError {
        let (store, _dir, tenant) = with_tenant().await;
        let error = save_identity_provider(
            store.as_ref(),
            &master(),
            &client(),
            &tenant,
            config,
            secret(),
            T0,
        )
        .await
        .expect_err("refused");
        assert!(
            store
                .list_identity_providers(&tenant)
                .await
                .expect("list")
                .is_empty(),
            "nothing stored after: {error}"
        );
        assert!(!error.to_string().contains(secret().expose()));
        error
    }

    #[tokio::test]
    async fn every_broken_provider_is_refused_at_save_time_naming_what_is_wrong() {
        let upstream = Upstream::start().await;

        // A metadata URL that answers 404 (a typo in the path).
        let mut wrong_path = upstream.provider("noknok");
        wrong_path.metadata_url = tessera_broker::config::MetadataUrl::parse(&format!(
            "{}/other/.well-known/openid-configuration",
            upstream.base
        ))
        .expect("url");
        let error = refused(wrong_path).await;
        assert!(
            matches!(
                &error,
                ServiceError::ProviderFetch {
                    field: "metadata_url",
                    error: UpstreamError::Status { status: 404, .. }
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().starts_with("metadata_url: "), "{error}");

        // Nobody listening there.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let mut unreachable = upstream.provider("noknok");
        unreachable.metadata_url = tessera_broker::config::MetadataUrl::parse(&format!(
            "http://127.0.0.1:{port}/.well-known/openid-configuration"
        ))
        .expect("url");
        assert!(matches!(
            refused(unreachable).await,
            ServiceError::ProviderFetch {
                field: "metadata_url",
                error: UpstreamError::Unreachable { .. }
            }
        ));

        // Not JSON.
        upstream.set_discovery_bytes(b"<html>login</html>");
        assert!(matches!(
            refused(upstream.provider("noknok")).await,
            ServiceError::ProviderFetch {
                field: "metadata_url",
                error: UpstreamError::NotJson { .. }
            }
        ));

        // The issuer is another one than the metadata URL's.
        let mut document = upstream.discovery();
        document["issuer"] = json!(format!("{}/elsewhere", upstream.base));
        upstream.set_discovery(&document);
        let error = refused(upstream.provider("noknok")).await;
        assert!(
            matches!(&error, ServiceError::ProviderMetadata { error: MetadataError::IssuerMismatch { expected, .. }, .. } if *expected == upstream.issuer()),
            "{error:?}"
        );

        // A plain-http issuer off loopback.
        let mut document = upstream.discovery();
        document["issuer"] = json!("http://idp.example.com/idp");
        upstream.set_discovery(&document);
        assert!(matches!(
            refused(upstream.provider("noknok")).await,
            ServiceError::ProviderMetadata {
                error: MetadataError::NotHttps {
                    field: "issuer",
                    ..
                },
                ..
            }
        ));

        // No jwks_uri.
        let mut document = upstream.discovery();
        document.as_object_mut().expect("object").remove("jwks_uri");
        upstream.set_discovery(&document);
        let error = refused(upstream.provider("noknok")).await;
        assert!(matches!(
            error,
            ServiceError::ProviderMetadata {
                error: MetadataError::Missing { field: "jwks_uri" },
                ..
            }
        ));
        assert!(error.to_string().contains("jwks_uri"), "{error}");

        // form_post configured, the provider offers only query.
        let mut document = upstream.discovery();
        document["response_modes_supported"] = json!(["query"]);
        upstream.set_discovery(&document);
        assert!(matches!(
            refused(upstream.provider("noknok")).await,
            ServiceError::ProviderMetadata {
                error: MetadataError::ResponseModeNotSupported { mode: "form_post" },
                ..
            }
        ));

        // A JWKS without any key that can verify (a symmetric key, a 1024-bit RSA key would be the same).
        upstream.set_discovery(&upstream.discovery());
        upstream.set_jwks(&json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}]}));
        let error = refused(upstream.provider("noknok")).await;
        assert!(
            matches!(&error, ServiceError::ProviderJwks { error: JwksError::NoUsableKey, url } if url.ends_with("/idp/jwks")),
            "{error:?}"
        );
        assert!(error.to_string().starts_with("jwks_uri: "), "{error}");

        // A JWKS URL that answers 500.
        upstream.set_jwks(&json!(null));
        upstream.set_discovery(&{
            let mut document = upstream.discovery();
            document["jwks_uri"] = json!(format!("{}/missing-jwks", upstream.issuer()));
            document
        });
        assert!(matches!(
            refused(upstream.provider("noknok")).await,
            ServiceError::ProviderFetch {
                field: "jwks_uri",
                error: UpstreamError::Status { status: 404, .. }
            }
        ));

        // The configuration itself, before any fetch: the scope must contain openid.
        let mut no_openid = upstream.provider("noknok");
        no_openid.scope = vec!["profile".into()];
        let error = refused(no_openid).await;
        assert!(
            matches!(&error, ServiceError::BrokerConfig(e) if e.field() == "scope"),
            "{error:?}"
        );
        let error = refused(upstream.provider("noknok")).await;
        assert!(matches!(error, ServiceError::ProviderFetch { .. }));
    }

    #[tokio::test]
    async fn an_empty_client_secret_is_refused_and_an_unknown_tenant_named() {
        let (store, _dir, tenant) = with_tenant().await;
        let upstream = Upstream::start().await;
        assert!(matches!(
            save_identity_provider(
                store.as_ref(),
                &master(),
                &client(),
                &tenant,
                upstream.provider("noknok"),
                Secret::new(""),
                T0
            )
            .await,
            Err(ServiceError::ProviderSecretRequired)
        ));
        assert!(matches!(
            save_identity_provider(
                store.as_ref(),
                &master(),
                &client(),
                &tenant_id("fabrikam"),
                upstream.provider("noknok"),
                secret(),
                T0
            )
            .await,
            Err(ServiceError::BrokerTenantNotFound)
        ));
    }

    #[tokio::test]
    async fn an_update_fetches_again_and_keeps_the_secret_unless_a_new_one_is_given() {
        let (store, _dir, tenant) = with_tenant().await;
        let upstream = Upstream::start().await;
        let id = ProviderId::parse("noknok").expect("id");
        save_identity_provider(
            store.as_ref(),
            &master(),
            &client(),
            &tenant,
            upstream.provider("noknok"),
            secret(),
            T0,
        )
        .await
        .expect("save");
        let later = T0 + time::Duration::hours(1);
        let mut renamed = upstream.provider("noknok");
        renamed.name = "Nok Nok (passkeys)".into();
        renamed.client_auth = tessera_broker::config::UpstreamClientAuth::ClientSecretPost;
        let updated = update_identity_provider(
            store.as_ref(),
            &master(),
            &client(),
            &tenant,
            renamed,
            None,
            later,
            None,
        )
        .await
        .expect("update");
        assert_eq!(updated.config.name, "Nok Nok (passkeys)");
        assert_eq!(updated.updated_at, later);
        assert_eq!(updated.created_at, T0);
        assert_eq!(updated.metadata_fetched_at, later, "fetched again");
        let ready = load_provider_for_sign_in(store.as_ref(), &master(), &tenant, &id)
            .await
            .expect("load");
        assert_eq!(
            ready.client_secret.expose(),
            secret().expose(),
            "old secret kept"
        );

        update_identity_provider(
            store.as_ref(),
            &master(),
            &client(),
            &tenant,
            upstream.provider("noknok"),
            Some(Secret::new("rotated-secret")),
            later,
            None,
        )
        .await
        .expect("update with secret");
        let ready = load_provider_for_sign_in(store.as_ref(), &master(), &tenant, &id)
            .await
            .expect("load");
        assert_eq!(ready.client_secret.expose(), "rotated-secret");

        // An update whose new metadata fails changes nothing.
        let mut document = upstream.discovery();
        document["response_types_supported"] = json!(["id_token"]);
        upstream.set_discovery(&document);
        let mut renamed = upstream.provider("noknok");
        renamed.name = "Broken".into();
        assert!(matches!(
            update_identity_provider(
                store.as_ref(),
                &master(),
                &client(),
                &tenant,
                renamed,
                Some(Secret::new("never-stored")),
                later,
                None
            )
            .await,
            Err(ServiceError::ProviderMetadata {
                error: MetadataError::CodeNotSupported,
                ..
            })
        ));
        let kept = get_identity_provider(store.as_ref(), &tenant, &id)
            .await
            .expect("get");
        assert_eq!(kept.config.name, "Nok Nok Authentication Provider");
        let ready = load_provider_for_sign_in(store.as_ref(), &master(), &tenant, &id)
            .await
            .expect("load");
        assert_eq!(ready.client_secret.expose(), "rotated-secret");
        assert!(matches!(
            update_identity_provider(
                store.as_ref(),
                &master(),
                &client(),
                &tenant,
                upstream.provider("absent"),
                None,
                later,
                None
            )
            .await,
            Err(ServiceError::ProviderNotFound)
        ));
    }

    #[tokio::test]
    async fn the_scheduled_refresh_replaces_rotated_keys_and_keeps_the_old_documents_when_the_provider_breaks()
     {
        // rp-key-rotation-op-sign-key, at the service level: the provider rotates its signing key; after the
        // refresh the broker holds the new key (and no longer the old one).
        let (store, _dir, tenant) = with_tenant().await;
        let upstream = Upstream::start().await;
        let old = SigningKey::generate(SigningAlg::Rs256).expect("key");
        upstream.set_jwks(&jwks_of(std::slice::from_ref(&old)));
        let id = ProviderId::parse("noknok").expect("id");
        save_identity_provider(
            store.as_ref(),
            &master(),
            &client(),
            &tenant,
            upstream.provider("noknok"),
            secret(),
            T0,
        )
        .await
        .expect("save");
        let new = SigningKey::generate(SigningAlg::Es256).expect("key");
        upstream.set_jwks(&jwks_of(std::slice::from_ref(&new)));

        let mut backoff = RefreshBackoff::default();
        let soon = T0 + time::Duration::hours(23);
        let report = refresh_due_providers(store.as_ref(), &client(), &mut backoff, soon)
            .await
            .expect("refresh");
        assert_eq!(report, RefreshReport::default(), "not due yet");

        let due = T0 + time::Duration::hours(24);
        let report = refresh_due_providers(store.as_ref(), &client(), &mut backoff, due)
            .await
            .expect("refresh");
        assert_eq!(report.refreshed, 1);
        let ready = load_provider_for_sign_in(store.as_ref(), &master(), &tenant, &id)
            .await
            .expect("load");
        let kids: Vec<&str> = ready.keys.keys().iter().filter_map(|k| k.kid()).collect();
        assert_eq!(kids, [new.kid()]);
        let view = get_identity_provider(store.as_ref(), &tenant, &id)
            .await
            .expect("get");
        assert_eq!(view.metadata_fetched_at, due);
        assert_eq!(view.jwks_fetched_at, due);

        // The provider breaks: its documents stay as they were, the failure is reported, and the next round
        // tries again.
        let mut document = upstream.discovery();
        document["issuer"] = json!("https://attacker.example");
        upstream.set_discovery(&document);
        let next = due + time::Duration::hours(24);
        let report = refresh_due_providers(store.as_ref(), &client(), &mut backoff, next)
            .await
            .expect("refresh");
        assert_eq!(report.refreshed, 0);
        assert_eq!(report.failed.len(), 1);
        assert!(report.failed[0].2.contains("issuer"), "{:?}", report.failed);
        let ready = load_provider_for_sign_in(store.as_ref(), &master(), &tenant, &id)
            .await
            .expect("load");
        assert_eq!(ready.metadata.issuer, upstream.issuer());
        assert_eq!(ready.keys.keys()[0].kid(), Some(new.kid()));
        // The next attempts are spaced out: 1 minute after the failure, then 2 more, then 4 more ...
        for (after, tried) in [
            (30, false),
            (60, true),
            (120, false),
            (180, true),
            (400, false),
            (420, true),
        ] {
            let at = next + time::Duration::seconds(after);
            let report = refresh_due_providers(store.as_ref(), &client(), &mut backoff, at)
                .await
                .expect("refresh");
            assert_eq!(
                report.failed.len(),
                usize::from(tried),
                "{after} s after the failure"
            );
        }
        // Once the provider is back, the refresh succeeds and the failures are forgotten.
        upstream.set_discovery(&upstream.discovery());
        let back = next + time::Duration::hours(2);
        let report = refresh_due_providers(store.as_ref(), &client(), &mut backoff, back)
            .await
            .expect("refresh");
        assert_eq!(report.refreshed, 1);
        assert!(backoff.failing.is_empty());
    }

    #[tokio::test]
    async fn an_unknown_kid_refetches_the_jwks_at_most_once_a_minute() {
        let (store, _dir, tenant) = with_tenant().await;
        let upstream = Upstream::start().await;
        let id = ProviderId::parse("noknok").expect("id");
        save_identity_provider(
            store.as_ref(),
            &master(),
            &client(),
            &tenant,
            upstream.provider("noknok"),
            secret(),
            T0,
        )
        .await
        .expect("save");
        let fetched = upstream.jwks_fetches();
        let rotated = SigningKey::generate(SigningAlg::Es256).expect("key");
        upstream.set_jwks(&jwks_of(std::slice::from_ref(&rotated)));

        let too_soon = T0 + time::Duration::seconds(59);
        assert!(
            refetch_jwks(store.as_ref(), &client(), &tenant, &id, too_soon)
                .await
                .expect("refetch")
                .is_none()
        );
        assert_eq!(
            upstream.jwks_fetches(),
            fetched,
            "no request within the minute"
        );

        let allowed = T0 + time::Duration::minutes(1);
        let keys = refetch_jwks(store.as_ref(), &client(), &tenant, &id, allowed)
            .await
            .expect("refetch")
            .expect("allowed");
        assert_eq!(keys.keys()[0].kid(), Some(rotated.kid()));
        assert_eq!(upstream.jwks_fetches(), fetched + 1);
        let ready = load_provider_for_sign_in(store.as_ref(), &master(), &tenant, &id)
            .await
            .expect("load");
        assert_eq!(ready.jwks_fetched_at, allowed);
        assert_eq!(ready.keys.keys()[0].kid(), Some(rotated.kid()));
        assert!(
            refetch_jwks(
                store.as_ref(),
                &client(),
                &tenant,
                &id,
                allowed + time::Duration::seconds(30)
            )
            .await
            .expect("refetch")
            .is_none(),
            "the bound counts from the last fetch"
        );

        // A failing JWKS endpoint: the error is returned, the keys held stay, and the attempt counts.
        upstream.set_jwks(&json!({"keys": []}));
        let later = allowed + time::Duration::minutes(5);
        assert!(matches!(
            refetch_jwks(store.as_ref(), &client(), &tenant, &id, later).await,
            Err(ServiceError::ProviderJwks {
                error: JwksError::NoUsableKey,
                ..
            })
        ));
        let ready = load_provider_for_sign_in(store.as_ref(), &master(), &tenant, &id)
            .await
            .expect("load");
        assert_eq!(ready.keys.keys()[0].kid(), Some(rotated.kid()));
        assert!(
            refetch_jwks(
                store.as_ref(),
                &client(),
                &tenant,
                &id,
                later + time::Duration::seconds(10)
            )
            .await
            .expect("refetch")
            .is_none()
        );
        assert!(matches!(
            refetch_jwks(
                store.as_ref(),
                &client(),
                &tenant,
                &ProviderId::parse("absent").expect("id"),
                later
            )
            .await,
            Err(ServiceError::ProviderNotFound)
        ));
    }

    #[tokio::test]
    async fn pg_providers_and_flows_are_configured_the_same_on_postgresql() {
        let Some(pg) = crate::broker::testing::postgres().await else {
            return;
        };
        let store = pg.store.clone();
        let tenant = tenant_id("contoso");
        crate::broker::tenants::create_broker_tenant(
            store.as_ref(),
            &master(),
            crate::broker::tenants::NewBrokerTenant {
                id: tenant.clone(),
                display_name: None,
            },
            T0,
        )
        .await
        .expect("tenant");
        let upstream = Upstream::start().await;
        let id = ProviderId::parse("noknok").expect("id");
        save_identity_provider(
            store.as_ref(),
            &master(),
            &client(),
            &tenant,
            upstream.provider("noknok"),
            secret(),
            T0,
        )
        .await
        .expect("save");
        let ready = load_provider_for_sign_in(store.as_ref(), &master(), &tenant, &id)
            .await
            .expect("load");
        assert_eq!(ready.client_secret.expose(), secret().expose());
        assert_eq!(ready.metadata.issuer, upstream.issuer());
        let rotated = SigningKey::generate(SigningAlg::Rs256).expect("key");
        upstream.set_jwks(&jwks_of(std::slice::from_ref(&rotated)));
        let keys = refetch_jwks(
            store.as_ref(),
            &client(),
            &tenant,
            &id,
            T0 + time::Duration::minutes(2),
        )
        .await
        .expect("refetch")
        .expect("allowed");
        assert_eq!(keys.keys()[0].kid(), Some(rotated.kid()));

        let policy = tessera_broker::config::PolicyId::from_name("signupsignin").expect("policy");
        let settings = tessera_broker::config::FlowSettings {
            identity_providers: vec![id.clone()],
            ..Default::default()
        };
        crate::broker::flows::create_user_flow(
            store.as_ref(),
            &tenant,
            policy.clone(),
            settings.clone(),
            T0,
        )
        .await
        .expect("flow");
        crate::broker::flows::revise_user_flow(
            store.as_ref(),
            &tenant,
            &policy,
            1,
            settings.clone(),
            T0,
        )
        .await
        .expect("revise");
        assert!(matches!(
            crate::broker::flows::revise_user_flow(
                store.as_ref(),
                &tenant,
                &policy,
                1,
                settings,
                T0
            )
            .await,
            Err(ServiceError::FlowChanged { current: 2 })
        ));
        assert!(matches!(
            delete_identity_provider(store.as_ref(), &tenant, &id, None).await,
            Err(ServiceError::ProviderInUse { .. })
        ));
        pg.teardown().await;
    }
}
