//! Decoding of stored values into the records' types, shared by the backends: a value that does not decode is
//! [`StoreError::Corrupt`], never skipped.

use crate::StoreError;
use tessera_core::{ClientId, TenantId, UserId};

/// A stored tenant id.
pub fn tenant_id(value: &str) -> Result<TenantId, StoreError> {
    TenantId::parse(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A stored user id.
pub fn user_id(value: &str) -> Result<UserId, StoreError> {
    UserId::parse(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A stored client id.
pub fn client_id(value: &str) -> Result<ClientId, StoreError> {
    ClientId::parse(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A stored signature counter (a `u32` kept in a signed 64-bit column).
pub fn sign_count(value: i64) -> Result<u32, StoreError> {
    u32::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("sign count {value} out of range")))
}

/// A stored tenant revision (at least 1).
pub fn revision(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value)
        .ok()
        .filter(|r| *r >= 1)
        .ok_or_else(|| StoreError::Corrupt(format!("tenant revision {value} out of range")))
}

/// A stored AAGUID (16 bytes).
pub fn aaguid(value: &[u8]) -> Result<[u8; 16], StoreError> {
    <[u8; 16]>::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("AAGUID of {} bytes", value.len())))
}

/// A revision as the backends store it (a signed 64-bit column).
pub fn revision_column(revision: u64) -> i64 {
    i64::try_from(revision).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_aaguid_length_and_counter_range_are_corrupt() {
        assert!(matches!(aaguid(&[0; 15]), Err(StoreError::Corrupt(_))));
        assert_eq!(aaguid(&[7; 16]), Ok([7; 16]));
        assert!(matches!(sign_count(-1), Err(StoreError::Corrupt(_))));
        assert!(matches!(sign_count(1 << 32), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn revision_below_one_is_corrupt() {
        assert_eq!(revision(1), Ok(1));
        assert!(matches!(revision(0), Err(StoreError::Corrupt(_))));
        assert!(matches!(revision(-3), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn invalid_identifiers_are_corrupt() {
        assert!(matches!(tenant_id(""), Err(StoreError::Corrupt(_))));
        assert!(matches!(user_id(""), Err(StoreError::Corrupt(_))));
        assert!(matches!(client_id(""), Err(StoreError::Corrupt(_))));
    }
}
