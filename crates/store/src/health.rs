//! The health role: whether the store can still take writes, for the readiness endpoint.

use crate::Result;
use async_trait::async_trait;
use time::OffsetDateTime;

/// A cheap end-to-end check of the store's write path.
#[async_trait]
pub trait HealthStore: Send + Sync {
    /// Writes one tiny row (the probe's time) through the same path as every other write and commits it: `Ok` only
    /// if the store can persist right now. A read-only or unreachable database, or (SQLite) a database file that is
    /// no longer the one opened, is [`crate::StoreError::Unavailable`] with the reason.
    async fn probe_write(&self, now: OffsetDateTime) -> Result<()>;
}
