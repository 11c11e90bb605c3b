//! PKCE (RFC 7636) with `S256` only, and the RFC 9700 §4.8 downgrade rules.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use crate::error::OidcError;

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`.
pub fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len()) && verifier.bytes().all(is_unreserved)
}

/// An S256 challenge is the base64url (no padding) of a SHA-256 digest: exactly 43 characters of the base64url
/// alphabet.
pub fn is_valid_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `BASE64URL(SHA256(ASCII(code_verifier)))` (RFC 7636 §4.2).
pub fn s256_challenge(verifier: &str) -> String {
    B64.encode(digest(&SHA256, verifier.as_bytes()))
}

/// Checks the verifier sent to the token endpoint against the challenge stored with the code.
///
/// - a challenge without a verifier is refused (RFC 7636 §4.4.1);
/// - a verifier without a challenge is refused (PKCE downgrade, RFC 9700 §4.8);
/// - the verifier must be 43-128 unreserved characters and hash to the challenge, compared in constant time.
pub fn verify_pkce(
    stored_challenge: Option<&str>,
    verifier: Option<&str>,
) -> Result<(), OidcError> {
    match (stored_challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OidcError::PkceVerifierUnexpected),
        (Some(_), None) => Err(OidcError::PkceVerifierMissing),
        (Some(challenge), Some(verifier)) => {
            if !is_valid_verifier(verifier) {
                return Err(OidcError::PkceVerifierMalformed);
            }
            let computed = s256_challenge(verifier);
            verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes())
                .map_err(|_| OidcError::PkceMismatch)
        }
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn s256_matches_rfc7636_appendix_b() {
        assert_eq!(s256_challenge(VERIFIER), CHALLENGE);
        assert_eq!(verify_pkce(Some(CHALLENGE), Some(VERIFIER)), Ok(()));
    }

    #[test]
    fn pkce_downgrade_verifier_without_challenge_refused() {
        assert_eq!(
            verify_pkce(None, Some(VERIFIER)),
            Err(OidcError::PkceVerifierUnexpected)
        );
    }

    #[test]
    fn pkce_challenge_without_verifier_refused() {
        assert_eq!(
            verify_pkce(Some(CHALLENGE), None),
            Err(OidcError::PkceVerifierMissing)
        );
    }

    #[test]
    fn pkce_wrong_verifier_refused() {
        let other = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx";
        assert_eq!(
            verify_pkce(Some(CHALLENGE), Some(other)),
            Err(OidcError::PkceMismatch)
        );
    }

    #[test]
    fn pkce_plain_verifier_equal_to_challenge_refused() {
        // A client using `plain` sends verifier == challenge; under S256 that never matches.
        assert_eq!(
            verify_pkce(Some(CHALLENGE), Some(CHALLENGE)),
            Err(OidcError::PkceMismatch)
        );
    }

    #[test]
    fn pkce_verifier_syntax_enforced() {
        assert_eq!(
            verify_pkce(Some(CHALLENGE), Some("short")),
            Err(OidcError::PkceVerifierMalformed)
        );
        let bad_char = format!("{}+", &VERIFIER[..43]);
        assert_eq!(
            verify_pkce(Some(CHALLENGE), Some(&bad_char)),
            Err(OidcError::PkceVerifierMalformed)
        );
        let too_long = "a".repeat(129);
        assert_eq!(
            verify_pkce(Some(CHALLENGE), Some(&too_long)),
            Err(OidcError::PkceVerifierMalformed)
        );
        assert!(is_valid_verifier(&"a~._-".repeat(20)));
    }

    #[test]
    fn s256_challenge_syntax() {
        assert!(is_valid_s256_challenge(CHALLENGE));
        assert!(!is_valid_s256_challenge("abc"));
        assert!(!is_valid_s256_challenge(&format!("{}=", &CHALLENGE[..42])));
    }
}
