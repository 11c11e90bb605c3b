//! Secrets that cannot leak through `Debug` or logs.

use std::fmt;

/// A secret string (client secret, code, refresh token). `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it must leave the process (a response, a hash).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// A stand-in whose `Debug` prints `[redacted]`, for hand-written `Debug` impls of types with secret fields:
/// `f.debug_struct("Issued").field("value", &Redacted)`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// `Some([redacted])` or `None`, for an optional secret field in a hand-written `Debug`.
pub fn redacted_option<T>(value: &Option<T>) -> Option<Redacted> {
    value.as_ref().map(|_| Redacted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_the_secret() {
        let secret = Secret::new("hunter2-very-secret");
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert_eq!(secret.expose(), "hunter2-very-secret");
    }

    #[test]
    fn redacted_stand_in_prints_only_the_mark() {
        assert_eq!(format!("{Redacted:?}"), "[redacted]");
        assert_eq!(
            format!("{:?}", redacted_option(&Some("x"))),
            "Some([redacted])"
        );
        assert_eq!(format!("{:?}", redacted_option::<&str>(&None)), "None");
    }
}
