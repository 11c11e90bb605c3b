//! The identity broker's records, as plain values.
//!
//! The store keeps the broker's configuration objects (an application's settings, an identity provider's
//! configuration, a user flow version's settings) as opaque JSON, as it keeps a tenant's authenticator policy: the
//! types and their rules live in `tessera-broker`, and the service layer converts. What the store must compare,
//! order, search or keep unique is a typed field here (client ids, provider ids, policy keys, version numbers, the
//! directory's names and emails, `(issuer, subject)`).

use tessera_core::{ClientId, TenantId, UserId};
use time::OffsetDateTime;

/// A broker tenant: the directory, applications, providers and user flows of one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerTenant {
    /// The tenant's path segment.
    pub id: TenantId,
    /// Name shown on pages.
    pub display_name: String,
    /// When the tenant was created.
    pub created_at: OffsetDateTime,
    /// How many times the tenant was written: 1 when created, one more on every update
    /// ([`crate::BrokerStore::update_broker_tenant`] names the revision it read, so no change is lost).
    pub revision: u64,
}

impl BrokerTenant {
    /// The revision of a broker tenant just created.
    pub const FIRST_REVISION: u64 = 1;
}

/// What a broker tenant still holds, counted when it is deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrokerTenantContents {
    /// Its applications.
    pub applications: u64,
    /// Its identity providers.
    pub identity_providers: u64,
    /// Its user flows.
    pub user_flows: u64,
    /// Its directory users.
    pub directory_users: u64,
}

impl BrokerTenantContents {
    /// Whether the tenant holds none of them.
    pub fn is_empty(&self) -> bool {
        self.applications == 0
            && self.identity_providers == 0
            && self.user_flows == 0
            && self.directory_users == 0
    }
}

/// An application registered with a broker tenant. The secret is only ever stored as its SHA-256.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerApplication {
    /// The broker tenant.
    pub tenant: TenantId,
    /// The application (client) id, unique per tenant.
    pub client_id: ClientId,
    /// SHA-256 of the client secret; `None` for a public client.
    pub secret_hash: Option<Vec<u8>>,
    /// The rest of the application (`tessera_broker::config::Application` without its secret), as JSON.
    pub settings: serde_json::Value,
    /// When it was registered.
    pub created_at: OffsetDateTime,
}

/// What the broker last fetched from a provider: its discovery document and its JWK Set, each with its time.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderCache {
    /// The validated discovery document (`tessera_broker::metadata::ProviderMetadata`), as JSON.
    pub metadata: serde_json::Value,
    /// When the discovery document was fetched.
    pub metadata_fetched_at: OffsetDateTime,
    /// The provider's JWK Set, as fetched.
    pub jwks: serde_json::Value,
    /// When the JWK Set was fetched.
    pub jwks_fetched_at: OffsetDateTime,
    /// How many usable signing keys the JWK Set holds, as the broker counted them when it fetched it (kept beside
    /// the summary, so a list need not parse the JWKS). `None` for a provider stored before migration 0032 and not
    /// saved or refreshed since.
    pub signing_keys: Option<u32>,
}

impl ProviderCache {
    /// The issuer the discovery document names (kept beside the summary, migration 0032).
    pub fn issuer(&self) -> Option<&str> {
        self.metadata
            .get("issuer")
            .and_then(serde_json::Value::as_str)
    }
}

/// A federated OpenID Connect provider of a broker tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityProviderRecord {
    /// The broker tenant.
    pub tenant: TenantId,
    /// The provider's id, unique per tenant.
    pub provider_id: String,
    /// The configuration (`tessera_broker::config::IdentityProvider`), as JSON.
    pub config: serde_json::Value,
    /// The client secret the provider issued to the broker, encrypted by the caller under the master key; the store
    /// never sees it in the clear. `None` for a provider that needs none.
    pub client_secret_encrypted: Option<Vec<u8>>,
    /// The cached metadata and keys.
    pub cache: ProviderCache,
    /// When the provider was added.
    pub created_at: OffsetDateTime,
    /// When its configuration was last saved.
    pub updated_at: OffsetDateTime,
}

impl IdentityProviderRecord {
    /// Whether two reads show the same configuration: everything an admin writes (the configuration, the encrypted
    /// secret, the update time), not the cached metadata a scheduled refresh replaces.
    pub fn same_configuration(&self, other: &Self) -> bool {
        self.tenant == other.tenant
            && self.provider_id == other.provider_id
            && self.config == other.config
            && self.client_secret_encrypted == other.client_secret_encrypted
            && self.created_at == other.created_at
            && self.updated_at == other.updated_at
    }
}

/// A provider as a list shows it: its configuration and times, without the encrypted secret and the cached
/// metadata and JWKS (which a list need not read or decode).
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityProviderSummary {
    /// The provider's id, unique per tenant.
    pub provider_id: String,
    /// The configuration (`tessera_broker::config::IdentityProvider`), as JSON.
    pub config: serde_json::Value,
    /// When the provider was added.
    pub created_at: OffsetDateTime,
    /// When its configuration was last saved.
    pub updated_at: OffsetDateTime,
    /// When its discovery document was last fetched.
    pub metadata_fetched_at: OffsetDateTime,
    /// Whether a client secret is stored (the secret itself is not read).
    pub has_client_secret: bool,
    /// The issuer its discovery document names ([`ProviderCache::issuer`]), as last fetched.
    pub issuer: Option<String>,
    /// The usable signing keys of its JWKS, as last fetched ([`ProviderCache::signing_keys`]; `None` before
    /// migration 0032's provider is saved or refreshed again).
    pub signing_keys: Option<u32>,
}

/// A user flow: its key and policy id. Its behaviour is in its versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFlowRecord {
    /// The broker tenant.
    pub tenant: TenantId,
    /// The policy id folded to lowercase (policy ids are compared case-insensitively, as B2C does), unique per
    /// tenant.
    pub policy_key: String,
    /// The policy id as configured (`B2C_1_signupsignin`).
    pub policy_id: String,
    /// The flow's kind (`sign_up_sign_in`).
    pub kind: String,
    /// When the flow was created.
    pub created_at: OffsetDateTime,
}

/// One immutable version of a user flow.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowVersionRecord {
    /// The version number, from 1, one more than the previous one.
    pub number: u32,
    /// When it was saved.
    pub created_at: OffsetDateTime,
    /// The version's settings (`tessera_broker::config::FlowSettings`), as JSON.
    pub settings: serde_json::Value,
}

/// A federated identity of a directory user: the provider's issuer and its subject for the user.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DirectoryIdentity {
    /// The provider's issuer, exactly as in its ID tokens.
    pub issuer: String,
    /// The provider's `sub` for the user.
    pub subject: String,
}

/// A passkey registered with the broker itself for a local account (the broker as WebAuthn relying party, RP ID the
/// broker's host). Found by its credential id; deleted with its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCredential {
    /// The broker tenant.
    pub tenant: TenantId,
    /// The credential id, unique per broker tenant.
    pub credential_id: Vec<u8>,
    /// The directory user it signs in as.
    pub object_id: UserId,
    /// The WebAuthn user handle sent at registration (`user.id`), checked against the assertion's `userHandle`.
    pub user_handle: Vec<u8>,
    /// The credential public key, COSE-encoded.
    pub public_key: Vec<u8>,
    /// The COSE algorithm of the key.
    pub alg: i64,
    /// The last signature counter seen.
    pub sign_count: u32,
    /// Whether user verification was performed at registration.
    pub uv_initialized: bool,
    /// The BE flag at registration.
    pub backup_eligible: bool,
    /// The BS flag at the last ceremony.
    pub backup_state: bool,
    /// Transports the client reported.
    pub transports: Vec<String>,
    /// When it was registered.
    pub created_at: OffsetDateTime,
    /// When it was last used to sign in.
    pub last_used_at: Option<OffsetDateTime>,
}

/// A user of a broker tenant's directory.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryUserRecord {
    /// The broker tenant.
    pub tenant: TenantId,
    /// The object id (the app tokens' `sub` and `oid`), unique per tenant.
    pub object_id: UserId,
    /// Display name.
    pub display_name: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Surname.
    pub surname: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Custom attributes by name, as a JSON object.
    pub custom: serde_json::Value,
    /// The federated identities that sign in as this user, ordered by issuer and subject.
    pub identities: Vec<DirectoryIdentity>,
    /// When the user signed up.
    pub created_at: OffsetDateTime,
    /// When the user last signed in through the broker.
    pub last_sign_in_at: Option<OffsetDateTime>,
    /// When the user was disabled; a disabled user has no sessions or refresh tokens and gets none.
    pub disabled_at: Option<OffsetDateTime>,
}

/// One page of a directory search.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryPage {
    /// The users of this page, ordered by object id.
    pub users: Vec<DirectoryUserRecord>,
    /// Where the next page starts, or `None` when this is the last one.
    pub next: Option<UserId>,
}

/// A browser session at a broker tenant, stored by the hash of its cookie value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSession {
    /// SHA-256 of the session cookie value.
    pub id_hash: Vec<u8>,
    /// The broker tenant.
    pub tenant: TenantId,
    /// The signed-in directory user.
    pub object_id: UserId,
    /// The session's public handle (the app ID tokens' `sid`), unique per tenant.
    pub sid: String,
    /// When the user last authenticated upstream.
    pub auth_time: OffsetDateTime,
    /// Opaque JSON the broker wants back (the provider used, its `amr`/`acr`).
    pub payload: Vec<u8>,
    /// Expiry.
    pub expires_at: OffsetDateTime,
}
