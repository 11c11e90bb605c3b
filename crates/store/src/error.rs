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
    /// A conditional write found the row changed since the version it was based on (the `expected` value a
    /// caller read); nothing was written. The caller reads it again and decides.
    #[error("changed since it was read")]
    Changed,
    /// The database could not be reached or did not answer (closed pool, timeout, I/O error, busy).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored value could not be decoded into its record (bad JSON, wrong length, out-of-range number).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

/// The result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The guard of a conditional write, run on the stored row inside the write's transaction: `NotFound` without a
/// row, [`StoreError::Changed`] if `expected` is given and differs from it (`same` compares what counts), else `Ok`.
pub fn check_expected<T>(
    current: Option<&T>,
    expected: Option<&T>,
    same: impl Fn(&T, &T) -> bool,
) -> Result<()> {
    match (current, expected) {
        (None, _) => Err(StoreError::NotFound),
        (Some(current), Some(expected)) if !same(current, expected) => Err(StoreError::Changed),
        _ => Ok(()),
    }
}
