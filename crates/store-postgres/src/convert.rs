//! Conversions between records and PostgreSQL values, and from `sqlx` errors to [`StoreError`].

use sqlx::error::ErrorKind;
use tessera_core::{ClientId, TenantId, UserId};
use tessera_store::StoreError;

/// Maps a database error: uniqueness → `Conflict`, a missing parent row → `NotFound`, undecodable data →
/// `Corrupt`, and everything else (closed pool, unreachable server, timeout, serialization failure) →
/// `Unavailable`.
pub(crate) fn db(error: sqlx::Error) -> StoreError {
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

pub(crate) fn tenant_id(value: &str) -> Result<TenantId, StoreError> {
    TenantId::parse(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn user_id(value: &str) -> Result<UserId, StoreError> {
    UserId::parse(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn client_id(value: &str) -> Result<ClientId, StoreError> {
    ClientId::parse(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn sign_count(value: i64) -> Result<u32, StoreError> {
    u32::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("sign count {value} out of range")))
}

pub(crate) fn aaguid(value: &[u8]) -> Result<[u8; 16], StoreError> {
    <[u8; 16]>::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("AAGUID of {} bytes", value.len())))
}
