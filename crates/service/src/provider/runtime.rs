//! A tenant as the provider's endpoints need it on every request: its record, its decrypted signing keys, and its
//! discovery and JWKS documents serialized once. The HTTP layer caches these entries; this module loads them.

use bytes::Bytes;
use tessera_core::{Issuer, TenantId};
use tessera_oidc::discovery::{Endpoints, ProviderMetadata};
use tessera_oidc::keys::{KeySet, MasterKey};
use tessera_store::{Store, Tenant};
use time::OffsetDateTime;

use crate::error::{Result, ServiceError};
use crate::keys::key_set;

/// A tenant's runtime entry: its record, its signing keys and its pre-serialized documents.
pub struct TenantRuntime {
    /// The tenant record.
    pub tenant: Tenant,
    /// The tenant's settings, parsed once.
    pub settings: crate::tenants::TenantSettings,
    /// The issuer: `{service_url}/{tenant}/oidc`, or `{public_url}/oidc` for a tenant on its own address.
    pub issuer: String,
    /// The decrypted signing keys (active and still-published).
    pub keys: KeySet,
    /// The endpoints advertised in the discovery document.
    pub endpoints: Endpoints,
    /// The discovery document, serialized once.
    pub discovery: Bytes,
    /// The JWK Set, serialized once.
    pub jwks: Bytes,
    /// When this entry was loaded (monotonic).
    pub loaded_at: std::time::Instant,
}

/// The authenticator service's endpoints under its issuer (`{issuer}/authorize`, `/token`, `/userinfo`, `/jwks`,
/// `/logout`), the stable URL shapes of ARCHITECTURE.md.
pub fn provider_endpoints(issuer: &Issuer) -> Endpoints {
    let issuer = issuer.as_str();
    Endpoints {
        authorization: format!("{issuer}/authorize"),
        token: format!("{issuer}/token"),
        userinfo: format!("{issuer}/userinfo"),
        jwks: format!("{issuer}/jwks"),
        end_session: format!("{issuer}/logout"),
    }
}

/// The provider's token revocation endpoint (RFC 7009): `{issuer}/revoke`.
pub fn revocation_endpoint(issuer: &Issuer) -> String {
    format!("{}/revoke", issuer.as_str())
}

/// What loading a tenant needs besides the store.
pub struct RuntimeSource<'a> {
    /// The master key that decrypts the signing keys.
    pub master: &'a std::sync::Arc<MasterKey>,
    /// The service's public base URL (`http://localhost:8080`), under which tenants without an address of their own
    /// are served.
    pub service_url: &'a str,
    /// How long retired keys stay published ([`crate::keys::retired_key_grace`]).
    pub grace: time::Duration,
    /// Now.
    pub now: OffsetDateTime,
}

/// Loads a tenant from the store. An unknown tenant is [`ServiceError::TenantNotFound`]; a store failure stays a
/// store failure (503), never "unknown".
pub async fn load_tenant(
    store: &dyn Store,
    tenant: &TenantId,
    source: RuntimeSource<'_>,
) -> Result<TenantRuntime> {
    let Some(record) = store.get_tenant(tenant).await? else {
        return Err(ServiceError::TenantNotFound);
    };
    let keys = store.list_signing_keys(tenant).await?;
    let master = source.master.clone();
    let tenant_id = tenant.clone();
    let (now, grace) = (source.now, source.grace);
    // Decrypting and parsing RSA keys takes a few milliseconds: keep it off the async workers.
    let keys = tokio::task::spawn_blocking(move || key_set(&keys, &master, &tenant_id, now, grace))
        .await
        .map_err(|e| ServiceError::Internal(format!("key loading task: {e}")))??;
    let settings = crate::tenants::tenant_settings(&record)?;
    let issuer = Issuer::parse(&settings.issuer(source.service_url, tenant))
        .map_err(|e| ServiceError::Corrupt(format!("issuer of tenant {tenant}: {e}")))?;
    let endpoints = provider_endpoints(&issuer);
    let discovery = ProviderMetadata::new(issuer.as_str(), endpoints.clone())
        .with_revocation(revocation_endpoint(&issuer))
        .to_json()
        .map_err(|e| ServiceError::Internal(format!("discovery document: {e}")))?;
    let jwks = Bytes::copy_from_slice(keys.jwks_json());
    Ok(TenantRuntime {
        settings,
        tenant: record,
        issuer: issuer.as_str().to_owned(),
        keys,
        endpoints,
        discovery: Bytes::from(discovery),
        jwks,
        loaded_at: std::time::Instant::now(),
    })
}
