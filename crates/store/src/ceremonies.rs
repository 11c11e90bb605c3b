//! The ceremonies role: one-time values that live minutes (WebAuthn challenges, pending authorization requests,
//! client assertion `jti`s).

use crate::Result;
use async_trait::async_trait;
use tessera_core::TenantId;
use time::OffsetDateTime;

/// One-time ceremony values, each stored under an id for a `kind` of ceremony and consumed once.
#[async_trait]
pub trait CeremonyStore: Send + Sync {
    /// Stores a one-time value under `id` for a `kind` of ceremony, at the caller's `now`;
    /// [`crate::StoreError::Conflict`] if `id` exists.
    async fn put_ceremony(
        &self,
        tenant: &TenantId,
        id: &str,
        kind: &str,
        payload: Vec<u8>,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// Atomically removes and returns the value, only if it exists, is of `kind` and has not expired at `now`.
    /// Under concurrency exactly one caller gets it.
    async fn take_ceremony(
        &self,
        tenant: &TenantId,
        id: &str,
        kind: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>>;
    /// Reads the value without consuming it (same conditions as [`CeremonyStore::take_ceremony`]).
    async fn peek_ceremony(
        &self,
        tenant: &TenantId,
        id: &str,
        kind: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>>;
}
