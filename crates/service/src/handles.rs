//! Bearer secrets (session cookies, authorization codes, access and refresh tokens), the keys they are stored under,
//! and time-ordered public ids (grant ids, session ids).
//!
//! A secret is 8 bytes of its issue time (big-endian unix microseconds) followed by 32 random bytes, base64url
//! encoded; it is stored under `time prefix ‖ SHA-256(secret)`, never in the clear. Keys made of a bare hash are
//! spread uniformly over the store's indexes, so every insert lands on a different index page and each sign-in
//! writes a whole page per index; keys that begin with the time land at the indexes' right edge, where the inserts
//! of concurrent sign-ins share pages (and the recent rows that the next requests read are the cached ones). The
//! prefix is chosen by whoever presents a secret but buys nothing: the lookup key ends with the hash of the whole
//! value, so only the issued value finds its record. Secrets issued before this format (32 bytes, stored under
//! their bare SHA-256) are still found.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Result, ServiceError};
use time::OffsetDateTime;

/// Random bytes in a secret: 256 bits.
const RANDOM_LEN: usize = 32;
/// Bytes of the issue time in front of them.
const TIME_LEN: usize = 8;
/// Characters of an encoded secret (40 bytes in base64url without padding).
pub const SECRET_LEN: usize = 54;
/// Characters of a secret of the earlier format (32 random bytes).
pub const LEGACY_SECRET_LEN: usize = 43;

/// A freshly issued secret: the value handed out once, and the key its record is stored under. `Debug` shows the
/// key, never the value.
pub struct Issued {
    /// The bearer value (cookie, code or token).
    pub value: String,
    /// `time prefix ‖ SHA-256(value)`.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("value", &tessera_core::secret::Redacted)
            .field("key", &self.key)
            .finish()
    }
}

fn micros(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap_or(0)
}

/// Issues a new secret at `now`.
pub fn issue(now: OffsetDateTime) -> Result<Issued> {
    let mut raw = [0u8; TIME_LEN + RANDOM_LEN];
    raw[..TIME_LEN].copy_from_slice(&micros(now).to_be_bytes());
    aws_lc_rs::rand::fill(&mut raw[TIME_LEN..]).map_err(|_| ServiceError::Random)?;
    let value = URL_SAFE_NO_PAD.encode(raw);
    let key = storage_key(&value);
    Ok(Issued { value, key })
}

/// The key a presented secret's record is stored under. Any string has one; only an issued value's finds a record.
pub fn storage_key(value: &str) -> Vec<u8> {
    let digest = sha256(value.as_bytes());
    let prefix = (value.len() == SECRET_LEN)
        .then(|| URL_SAFE_NO_PAD.decode(&value.as_bytes()[..12]).ok())
        .flatten();
    match prefix {
        // 12 characters are 9 bytes; the first 8 are the time.
        Some(mut key) if key.len() > TIME_LEN => {
            key.truncate(TIME_LEN);
            key.extend_from_slice(&digest);
            key
        }
        _ => digest,
    }
}

/// Whether `value` has the shape of a secret (either format): base64url characters of one of the two lengths.
pub fn is_plausible(value: &str) -> bool {
    (value.len() == SECRET_LEN || value.len() == LEGACY_SECRET_LEN)
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A public id that sorts by creation time: 16 hex digits of `now` in unix microseconds, then `random_bytes` random
/// bytes in base64url. For grant ids and session ids, which are indexed.
pub fn time_ordered_id(now: OffsetDateTime, random_bytes: usize) -> Result<String> {
    Ok(format!(
        "{:016x}{}",
        micros(now),
        random_token(random_bytes)?
    ))
}

/// `n` random bytes as base64url without padding, never beginning with `-` (a command line would read such an id
/// or secret as an option): a value that would is drawn again, so all others stay equally likely.
pub fn random_token(n: usize) -> Result<String> {
    let mut bytes = vec![0u8; n];
    loop {
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| ServiceError::Random)?;
        let token = URL_SAFE_NO_PAD.encode(&bytes);
        if !token.starts_with('-') {
            return Ok(token);
        }
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-24 12:00 UTC);

    #[test]
    fn debug_of_an_issued_secret_does_not_show_its_value() {
        let issued = issue(T0).expect("issue");
        let shown = format!("{issued:?}");
        assert!(!shown.contains(&issued.value), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn issued_secret_is_found_under_its_key_and_nothing_else_is() {
        let issued = issue(T0).expect("issue");
        assert_eq!(issued.value.len(), SECRET_LEN);
        assert!(is_plausible(&issued.value));
        assert_eq!(storage_key(&issued.value), issued.key);
        let mut forged = issued.value.clone().into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).expect("ascii");
        assert_ne!(
            storage_key(&forged),
            issued.key,
            "same time prefix, other secret"
        );
    }

    #[test]
    fn keys_of_later_secrets_sort_after_earlier_ones() {
        let earlier = issue(T0).expect("issue");
        let later = issue(T0 + time::Duration::microseconds(1)).expect("issue");
        assert!(earlier.key < later.key);
        let a = time_ordered_id(T0, 12).expect("id");
        let b = time_ordered_id(T0 + time::Duration::seconds(1), 12).expect("id");
        assert!(a < b);
        assert_ne!(
            time_ordered_id(T0, 12).expect("id"),
            time_ordered_id(T0, 12).expect("id")
        );
    }

    #[test]
    fn random_tokens_never_begin_with_a_dash() {
        // A leading `-` has probability 1/64 per draw: 20 000 samples would show about 300 without the rule.
        let mut first_chars = std::collections::BTreeSet::new();
        for n in [1, 16, 24, 32] {
            for _ in 0..5_000 {
                let token = random_token(n).expect("token");
                assert!(!token.starts_with('-'), "{token}");
                first_chars.insert(token.as_bytes()[0]);
            }
        }
        assert!(
            first_chars.contains(&b'_'),
            "other characters stay possible"
        );
        assert_eq!(
            first_chars.len(),
            63,
            "every character but `-` begins some token"
        );
    }

    #[test]
    fn earlier_format_is_still_stored_under_its_bare_hash() {
        let legacy = URL_SAFE_NO_PAD.encode([7u8; 32]);
        assert_eq!(legacy.len(), LEGACY_SECRET_LEN);
        assert!(is_plausible(&legacy));
        assert_eq!(storage_key(&legacy), sha256(legacy.as_bytes()));
    }

    #[test]
    fn malformed_values_are_implausible_and_never_panic() {
        for value in ["", "short", &"é".repeat(27), &"!".repeat(SECRET_LEN)] {
            assert!(!is_plausible(value));
            assert!(!storage_key(value).is_empty());
        }
    }
}
