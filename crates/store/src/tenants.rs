//! The tenants role: tenants, their OAuth clients and their signing keys.

use crate::{Client, ClientFilter, Result, SigningKey, Tenant, TenantContents, TenantDeletion};
use async_trait::async_trait;
use tessera_core::{ClientId, TenantId};
use time::OffsetDateTime;

/// Tenants, clients and signing keys: what an operator sets up and the provider reads on every request.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates a tenant and its signing keys in one transaction: all or nothing. The tenant starts at revision 1
    /// (whatever `tenant.revision` says). [`crate::StoreError::Conflict`] if the tenant id or a key's kid exists, or
    /// if a key belongs to another tenant.
    async fn create_tenant_with_keys(&self, tenant: &Tenant, keys: &[SigningKey]) -> Result<()>;
    /// Reads a tenant.
    async fn get_tenant(&self, tenant: &TenantId) -> Result<Option<Tenant>>;
    /// Lists all tenants, ordered by id.
    async fn list_tenants(&self) -> Result<Vec<Tenant>>;
    /// Replaces a tenant's display name, RP id, origins and policy (not its id or creation time), only if it is
    /// still at `tenant.revision` (the revision it was read at), and returns its new revision. A tenant changed
    /// since is [`crate::StoreError::Conflict`] (nothing is written: read it again and reapply the change), a
    /// missing one [`crate::StoreError::NotFound`].
    async fn update_tenant(&self, tenant: &Tenant) -> Result<u64>;
    /// Deletes a tenant with everything of it — clients, users and their passkeys, signing keys, sessions,
    /// authorization codes, access and refresh tokens, revoked-grant marks — in one transaction. Unless `force`, a
    /// tenant that still has clients or users is kept and [`TenantDeletion::NotEmpty`] says how many (counted in the
    /// same transaction, so nothing slips in between). [`crate::StoreError::NotFound`] if it does not exist.
    async fn delete_tenant(
        &self,
        tenant: &TenantId,
        force: bool,
    ) -> Result<TenantDeletion<TenantContents>>;

    /// Registers a client; [`crate::StoreError::Conflict`] if its id exists in the tenant,
    /// [`crate::StoreError::NotFound`] if the tenant does not exist.
    async fn create_client(&self, client: &Client) -> Result<()>;
    /// Reads a client.
    async fn get_client(&self, tenant: &TenantId, client_id: &ClientId) -> Result<Option<Client>>;
    /// Lists a tenant's clients, ordered by client id.
    async fn list_clients(&self, tenant: &TenantId) -> Result<Vec<Client>>;
    /// One page of a tenant's clients, ordered by client id (byte order, as Rust compares strings): at most
    /// `limit`, those whose id comes after `after` when given (a cursor: the last id of the previous page, which
    /// need not exist any more), and only those `filter` matches (applied before the limit, so pages of a filtered
    /// list neither miss nor repeat a client). Empty for an unknown tenant.
    async fn list_clients_page(
        &self,
        tenant: &TenantId,
        filter: &ClientFilter,
        after: Option<&ClientId>,
        limit: u32,
    ) -> Result<Vec<Client>>;
    /// Replaces a client's display name, redirect URIs and post-logout redirect URIs (nothing else: its secret,
    /// authentication method and algorithm stay); [`crate::StoreError::NotFound`] if it does not exist. With
    /// `expected` (the client as the caller read it) the write is conditional: if the stored client differs from it
    /// (someone changed it since), nothing is written and the answer is [`crate::StoreError::Changed`]; of two
    /// writes based on one read, exactly one succeeds.
    async fn update_client(&self, client: &Client, expected: Option<&Client>) -> Result<()>;
    /// Replaces the secret hash of a client that has one (a confidential client), so that the old secret stops
    /// working at once; [`crate::StoreError::NotFound`] if there is no such client or it has no secret (public).
    async fn replace_client_secret(
        &self,
        tenant: &TenantId,
        client_id: &ClientId,
        secret_hash: &[u8],
    ) -> Result<()>;
    /// Deletes a client together with its authorization codes and its access and refresh tokens, in one
    /// transaction (nothing it was issued keeps working); [`crate::StoreError::NotFound`] if it does not exist.
    /// With `expected`, only if the stored client still equals it ([`crate::StoreError::Changed`] otherwise, and
    /// nothing is deleted).
    async fn delete_client(
        &self,
        tenant: &TenantId,
        client_id: &ClientId,
        expected: Option<&Client>,
    ) -> Result<()>;

    /// Stores a signing key; [`crate::StoreError::Conflict`] if its kid exists in the tenant.
    async fn put_signing_key(&self, key: &SigningKey) -> Result<()>;
    /// Lists a tenant's signing keys (all statuses), oldest first.
    async fn list_signing_keys(&self, tenant: &TenantId) -> Result<Vec<SigningKey>>;
    /// Marks a key [`crate::KeyStatus::Active`] (it signs from now on); [`crate::StoreError::NotFound`] if absent,
    /// [`crate::StoreError::Conflict`] if it was retired.
    async fn activate_signing_key(&self, tenant: &TenantId, kid: &str) -> Result<()>;
    /// Marks a key retired at `at` (it stops signing but stays published); [`crate::StoreError::NotFound`] if
    /// absent. Retiring a retired key keeps its first retirement time.
    async fn retire_signing_key(
        &self,
        tenant: &TenantId,
        kid: &str,
        at: OffsetDateTime,
    ) -> Result<()>;
    /// Deletes the tenant's keys retired before `retired_before`; returns how many.
    async fn delete_retired_signing_keys(
        &self,
        tenant: &TenantId,
        retired_before: OffsetDateTime,
    ) -> Result<u64>;
}
