//! From `sqlx` errors to [`StoreError`]. Stored identifiers and numbers decode with `tessera_store::convert`, shared
//! with SQLite.

use sqlx::error::ErrorKind;
use tessera_store::StoreError;

/// Maps a database error: uniqueness → `Conflict`, a missing parent row → `NotFound`, undecodable data →
/// `Corrupt`, and everything else (closed pool, unreachable server, timeout, serialization failure) →
/// `Unavailable`.
pub(crate) fn db(error: sqlx::Error) -> StoreError {
    let error = classify(error);
    tessera_store::metrics::failed("postgres", &error);
    error
}

fn classify(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Database(e) => match e.kind() {
            ErrorKind::UniqueViolation => StoreError::Conflict,
            ErrorKind::ForeignKeyViolation => StoreError::NotFound,
            ErrorKind::CheckViolation | ErrorKind::NotNullViolation => {
                StoreError::Corrupt(e.message().to_owned())
            }
            _ => StoreError::Unavailable(e.to_string()),
        },
        sqlx::Error::RowNotFound => StoreError::NotFound,
        e @ (sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. }) => StoreError::Corrupt(e.to_string()),
        e => StoreError::Unavailable(e.to_string()),
    }
}
