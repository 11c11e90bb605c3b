//! The one error type of the store.

/// Why a store operation failed.
///
/// `Unavailable` must make callers fail closed (HTTP 503): it never means "not found, so allowed".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The row the operation needs does not exist (or belongs to another tenant).
    #[error("not found")]
    NotFound,
    /// The operation would break a uniqueness or state rule (duplicate id, last credential, revoked grant).
    #[error("conflict with existing data")]
    Conflict,
    /// The database could not be reached or did not answer (closed pool, timeout, I/O error, busy).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored value could not be decoded into its record (bad JSON, wrong length, out-of-range number).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

/// The result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
