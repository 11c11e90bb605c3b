//! Conversions between records and SQLite values (timestamps, JSON columns), and from SQLite errors to
//! [`StoreError`]. Identifiers and numbers decode with `tessera_store::convert`, shared with PostgreSQL.

use rusqlite::ffi;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tessera_store::StoreError;
use time::OffsetDateTime;

/// Maps a SQLite error: uniqueness → `Conflict`, a missing parent row → `NotFound`, undecodable data →
/// `Corrupt`, and everything else (cannot open, I/O, busy, full disk) → `Unavailable`.
pub(crate) fn db(error: rusqlite::Error) -> StoreError {
    match &error {
        rusqlite::Error::SqliteFailure(failure, _) => match failure.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                StoreError::Conflict
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => StoreError::NotFound,
            ffi::SQLITE_CONSTRAINT_CHECK | ffi::SQLITE_CONSTRAINT_NOTNULL => {
                StoreError::Corrupt(error.to_string())
            }
            _ => StoreError::Unavailable(error.to_string()),
        },
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::InvalidColumnName(_)
        | rusqlite::Error::InvalidColumnIndex(_) => StoreError::Corrupt(error.to_string()),
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        _ => StoreError::Unavailable(error.to_string()),
    }
}

/// Unix microseconds; every `OffsetDateTime` fits in an `i64` of them.
pub(crate) fn ts(at: OffsetDateTime) -> i64 {
    let micros = at.unix_timestamp_nanos() / 1_000;
    i64::try_from(micros).unwrap_or(if micros < 0 { i64::MIN } else { i64::MAX })
}

pub(crate) fn from_ts(micros: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {micros}: {e}")))
}

pub(crate) fn from_opt_ts(micros: Option<i64>) -> Result<Option<OffsetDateTime>, StoreError> {
    micros.map(from_ts).transpose()
}

pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("JSON encoding: {e}")))
}

pub(crate) fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("JSON column: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_round_trip_to_the_microsecond() {
        let at = datetime!(2026-11-24 14:21:34.123456789 UTC);
        assert_eq!(
            from_ts(ts(at)),
            Ok(datetime!(2026-11-24 14:21:34.123456 UTC))
        );
        for edge in [
            datetime!(-9999-01-01 00:00 UTC),
            datetime!(9999-12-31 23:59:59.999999 UTC),
        ] {
            assert_eq!(from_ts(ts(edge)), Ok(edge));
        }
    }

    #[test]
    fn out_of_range_stored_timestamp_is_corrupt() {
        assert!(matches!(from_ts(i64::MAX), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn uniqueness_is_conflict_and_missing_parent_is_not_found() {
        let conn = rusqlite::Connection::open_in_memory().expect("memory");
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; CREATE TABLE p (id INTEGER PRIMARY KEY); \
             CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER NOT NULL REFERENCES p (id)); \
             INSERT INTO p VALUES (1);",
        )
        .expect("schema");
        let duplicate = conn.execute("INSERT INTO p VALUES (1)", []).map_err(db);
        assert_eq!(duplicate, Err(StoreError::Conflict));
        let orphan = conn.execute("INSERT INTO c VALUES (1, 2)", []).map_err(db);
        assert_eq!(orphan, Err(StoreError::NotFound));
        let bad_sql = conn
            .execute("INSERT INTO nowhere VALUES (1)", [])
            .map_err(db);
        assert!(matches!(bad_sql, Err(StoreError::Unavailable(_))));
    }
}
