//! Typed text people enter: [`Username`] and [`Email`], and the characters no name may contain
//! ([`is_disallowed_char`]). Each type has a `parse` that is the only way in.

use std::fmt;

/// Whether `c` may not appear in a username or a name people read: control characters (NUL included, which
/// PostgreSQL refuses in text), and the invisible format characters that reorder or hide text (bidirectional
/// overrides and isolates, zero-width characters, the byte-order mark), which let one name pass for another.
pub fn is_disallowed_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Why a username was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsernameError {
    /// Nothing but spaces.
    #[error("the username is empty")]
    Empty,
    /// A control or invisible formatting character ([`is_disallowed_char`]).
    #[error("the username contains invisible or control characters")]
    DisallowedCharacter,
    /// Longer than [`Username::MAX_LEN`] characters.
    #[error("the username is longer than {} characters", Username::MAX_LEN)]
    TooLong,
    /// A character outside letters, digits and `. _ - @ +`.
    #[error("the username may contain only letters, digits and . _ - @ +")]
    BadCharacter,
}

/// A username: 1 to [`Username::MAX_LEN`] letters, digits and `. _ - @ +`, surrounding spaces removed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Longest username accepted, in characters.
    pub const MAX_LEN: usize = 64;

    /// Parses a username as typed (surrounding spaces are removed).
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(UsernameError::Empty);
        }
        if name.chars().any(is_disallowed_char) {
            return Err(UsernameError::DisallowedCharacter);
        }
        if name.chars().count() > Self::MAX_LEN {
            return Err(UsernameError::TooLong);
        }
        if !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'))
        {
            return Err(UsernameError::BadCharacter);
        }
        Ok(Self(name.to_owned()))
    }

    /// The username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why an email address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmailError {
    /// Longer than [`Email::MAX_LEN`] bytes, or containing spaces, control characters or `< > "`.
    #[error("the email address contains characters it may not contain, or is too long")]
    BadCharacter,
    /// Not `local@domain` with both parts present and one `@`.
    #[error("the email address is not of the form local@domain")]
    NotAnAddress,
}

/// An email address: `local@domain`, no spaces or control characters, at most [`Email::MAX_LEN`] bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Longest address accepted, in bytes (RFC 5321 §4.5.3.1.3 path limit).
    pub const MAX_LEN: usize = 254;

    /// Parses an address as typed (surrounding spaces are removed).
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let text = raw.trim();
        if text.len() > Self::MAX_LEN
            || text
                .chars()
                .any(|c| c.is_whitespace() || is_disallowed_char(c) || "<>\"".contains(c))
        {
            return Err(EmailError::BadCharacter);
        }
        match text.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
            {
                Ok(Self(text.to_owned()))
            }
            _ => Err(EmailError::NotAnAddress),
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! text_impls {
    ($name:ident) => {
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

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

text_impls!(Username);
text_impls!(Email);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_is_trimmed_and_keeps_its_allowed_punctuation() {
        assert_eq!(
            Username::parse("  alice.b@example ").map(String::from),
            Ok("alice.b@example".to_owned())
        );
    }

    #[test]
    fn username_with_disallowed_characters_is_refused() {
        assert_eq!(
            Username::parse("alice smith"),
            Err(UsernameError::BadCharacter)
        );
        assert_eq!(
            Username::parse("<script>"),
            Err(UsernameError::BadCharacter)
        );
        for raw in ["al\0ice", "bob\u{1b}[31m", "eve\u{202e}gnp", "a\u{200b}b"] {
            assert_eq!(
                Username::parse(raw),
                Err(UsernameError::DisallowedCharacter),
                "{raw:?}"
            );
        }
        assert_eq!(Username::parse("   "), Err(UsernameError::Empty));
        assert_eq!(
            Username::parse(&"a".repeat(Username::MAX_LEN + 1)),
            Err(UsernameError::TooLong)
        );
        assert!(Username::parse(&"é".repeat(Username::MAX_LEN)).is_ok());
    }

    #[test]
    fn bad_email_addresses_are_refused() {
        for raw in ["alice", "@example.com", "alice@", "a@b@c"] {
            assert_eq!(Email::parse(raw), Err(EmailError::NotAnAddress), "{raw:?}");
        }
        for raw in ["a b@example.com", "a\0@example.com", "<a@example.com>"] {
            assert_eq!(Email::parse(raw), Err(EmailError::BadCharacter), "{raw:?}");
        }
        let long = format!("{}@example.com", "a".repeat(Email::MAX_LEN));
        assert_eq!(Email::parse(&long), Err(EmailError::BadCharacter));
        assert_eq!(
            Email::parse(" a@example.com ").map(String::from),
            Ok("a@example.com".to_owned())
        );
    }
}
