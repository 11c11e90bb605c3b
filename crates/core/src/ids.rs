//! Identifier newtypes. Each has a `parse` that is the only way to build one from outside input.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Empty input.
    #[error("{kind} must not be empty")]
    Empty {
        /// Which identifier.
        kind: &'static str,
    },
    /// Longer than allowed.
    #[error("{kind} must be at most {max} characters")]
    TooLong {
        /// Which identifier.
        kind: &'static str,
        /// The limit.
        max: usize,
    },
    /// A character outside the allowed set.
    #[error("{kind} may contain only {allowed}")]
    BadCharacter {
        /// Which identifier.
        kind: &'static str,
        /// The allowed set, for the message.
        allowed: &'static str,
    },
}

fn check(
    value: &str,
    kind: &'static str,
    max: usize,
    allowed: &'static str,
    ok: impl Fn(char) -> bool,
) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.chars().count() > max {
        return Err(IdError::TooLong { kind, max });
    }
    if !value.chars().all(ok) {
        return Err(IdError::BadCharacter { kind, allowed });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The identifier as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A tenant's path segment (`mytenant`): lowercase letters, digits and `-`, up to 63 characters, starting with a
    /// letter or digit. It appears in URLs, so the set is kept URL-safe without encoding.
    TenantId
);
id_type!(
    /// A user's stable identifier within a tenant (the ID token's `sub`).
    UserId
);
id_type!(
    /// An OAuth client identifier.
    ClientId
);

impl TenantId {
    /// Parses a tenant path segment.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        const ALLOWED: &str = "lowercase letters, digits and '-', starting with a letter or digit";
        check(value, "tenant id", 63, ALLOWED, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
        })?;
        if value.starts_with('-') {
            return Err(IdError::BadCharacter {
                kind: "tenant id",
                allowed: ALLOWED,
            });
        }
        Ok(Self(value.to_owned()))
    }
}

impl UserId {
    /// Parses a user id: visible ASCII without spaces, up to 255 characters.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        check(value, "user id", 255, "visible ASCII characters", |c| {
            c.is_ascii_graphic()
        })?;
        Ok(Self(value.to_owned()))
    }
}

impl ClientId {
    /// Parses a client id: letters, digits, `-`, `_`, `.`, up to 128 characters.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        check(
            value,
            "client id",
            128,
            "letters, digits, '-', '_' and '.'",
            |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'),
        )?;
        Ok(Self(value.to_owned()))
    }
}

id_type!(
    /// The id of a one-time ceremony (a WebAuthn challenge, a pending authorization request) as a client sends it
    /// back: base64url characters (letters, digits, `-`, `_`), up to [`CeremonyId::MAX_LEN`]. Anything else (a NUL
    /// byte, invalid text, a path) cannot name a ceremony and is never looked up.
    CeremonyId
);

impl CeremonyId {
    /// The longest ceremony id accepted.
    pub const MAX_LEN: usize = 128;

    /// Parses a ceremony id.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        check(
            value,
            "ceremony id",
            Self::MAX_LEN,
            "letters, digits, '-' and '_'",
            |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'),
        )?;
        Ok(Self(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_id_accepts_the_tutorial_tenant() {
        assert_eq!(
            TenantId::parse("mytenant").map(|t| t.to_string()),
            Ok("mytenant".into())
        );
    }

    #[test]
    fn tenant_id_refuses_path_characters() {
        for bad in ["", "My", "a/b", "-x", "a b", "..", "ü"] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn client_id_refuses_spaces_and_colons() {
        assert!(ClientId::parse("a:b").is_err());
        assert!(ClientId::parse("a b").is_err());
        assert!(ClientId::parse("demo-rp_1.0").is_ok());
    }

    #[test]
    fn ceremony_ids_with_nul_bytes_or_path_characters_are_refused() {
        for bad in ["", "a\0b", "\0", "../x", "a b", "é", &"a".repeat(129)] {
            assert!(CeremonyId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(CeremonyId::parse("Zm9v-YmFy_baz").is_ok());
    }

    #[test]
    fn ids_deserialize_through_parse() {
        let bad: Result<TenantId, _> = serde_json::from_str("\"UPPER\"");
        assert!(bad.is_err());
    }
}
