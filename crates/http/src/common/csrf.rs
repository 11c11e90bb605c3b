//! Cross-site request forgery protection for the pages' forms and JSON calls.
//!
//! Two independent checks guard every state-changing request of the pages:
//!
//! 1. **Double-submit token.** A random 32-byte token lives in the tenant's cookie [`cookie_name`] (`__Host-` prefixed, so a
//!    sibling subdomain cannot plant one; `HttpOnly`, `Secure`, `SameSite=Lax`). Each page embeds the same token;
//!    a form sends it back in the field [`CSRF_FIELD`], the script in the header [`CSRF_HEADER`]. Both must be present
//!    and equal, compared in constant time.
//! 2. **Origin.** A POST must carry an `Origin` header naming one of the tenant's allowed origins or the service's own
//!    origin. A foreign origin is refused. Browsers send `Origin: null` on form posts from a page whose referrer
//!    policy is `no-referrer` (ours, RFC 9700 §4.2.4); such a request (or one without `Origin`) is accepted only when
//!    the browser itself marks it `Sec-Fetch-Site: same-origin`, a header no page script can set.
//!
//! Either failure is a 403 with a human message.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use tessera_core::TenantId;

use crate::error::AppError;

/// The prefix of the CSRF cookies; the tenant id follows ([`cookie_name`]).
pub const CSRF_COOKIE_PREFIX: &str = "__Host-tessera-csrf-";

/// The CSRF cookie of a tenant, `__Host-tessera-csrf-{tenant}`: one per tenant, so a token handed out by one tenant's
/// pages is never accepted by another's. (Scoped by name, not by `Path`: the `__Host-` prefix, which keeps sibling
/// subdomains from planting the cookie, requires `Path=/`.)
pub fn cookie_name(tenant: &TenantId) -> String {
    format!("{CSRF_COOKIE_PREFIX}{tenant}")
}
/// The form field that carries the token.
pub const CSRF_FIELD: &str = "csrf_token";
/// The request header that carries the token on the script's JSON calls.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Length of the base64url text of a 32-byte token.
const TOKEN_LEN: usize = 43;

/// A CSRF token as it travels in the cookie and in pages.
#[derive(Clone, PartialEq, Eq)]
pub struct CsrfToken(String);

impl std::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfToken([redacted])")
    }
}

impl CsrfToken {
    /// The token text, to embed in a page.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the token: binds a WebAuthn ceremony to the browser that started it.
    pub fn binding(&self) -> Vec<u8> {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, self.0.as_bytes())
            .as_ref()
            .to_vec()
    }

    fn generate() -> Result<Self, AppError> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes)
            .map_err(|_| AppError::Internal("random generator failed".into()))?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    fn parse(value: &str) -> Option<Self> {
        let plausible = value.len() == TOKEN_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        plausible.then(|| Self(value.to_owned()))
    }
}

/// Reads the value of the cookie `name` from the request's `Cookie` headers (the first one, if repeated).
pub fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
}

/// The browser's CSRF token, if its cookie holds a well-formed one.
pub fn current(headers: &HeaderMap, tenant: &TenantId) -> Option<CsrfToken> {
    read_cookie(headers, &cookie_name(tenant)).and_then(CsrfToken::parse)
}

/// The token to embed in a page: the browser's own, or a new one with the `Set-Cookie` value that installs it.
pub fn token_for_page(
    headers: &HeaderMap,
    tenant: &TenantId,
) -> Result<(CsrfToken, Option<HeaderValue>), AppError> {
    if let Some(token) = current(headers, tenant) {
        return Ok((token, None));
    }
    let (token, cookie) = fresh(tenant)?;
    Ok((token, Some(cookie)))
}

/// A new token for `tenant` and the `Set-Cookie` value that installs it, replacing the browser's: handed out at
/// sign-in and sign-up, so a token known before (planted or read) is worthless afterwards.
pub fn fresh(tenant: &TenantId) -> Result<(CsrfToken, HeaderValue), AppError> {
    let token = CsrfToken::generate()?;
    let cookie = format!(
        "{}={}; Path=/; Secure; HttpOnly; SameSite=Lax",
        cookie_name(tenant),
        token.as_str()
    );
    let cookie = HeaderValue::from_str(&cookie).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok((token, cookie))
}

/// Checks a submitted token (form field or header) against the cookie, in constant time.
///
/// Returns the cookie's token so the caller can bind a ceremony to it.
pub fn verify_token(
    headers: &HeaderMap,
    tenant: &TenantId,
    submitted: Option<&str>,
) -> Result<CsrfToken, AppError> {
    let cookie = current(headers, tenant).ok_or(AppError::CsrfMismatch)?;
    let submitted = submitted
        .filter(|s| !s.is_empty())
        .ok_or(AppError::CsrfMismatch)?;
    aws_lc_rs::constant_time::verify_slices_are_equal(
        cookie.as_str().as_bytes(),
        submitted.as_bytes(),
    )
    .map_err(|_| AppError::CsrfMismatch)?;
    Ok(cookie)
}

/// The token the script sent in [`CSRF_HEADER`].
pub fn header_token(headers: &HeaderMap) -> Option<&str> {
    headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok())
}

/// Checks that `Origin` names one of `allowed` (exact string comparison) or `own_origin`.
pub fn verify_origin(
    headers: &HeaderMap,
    allowed: &[String],
    own_origin: &str,
) -> Result<(), AppError> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    match origin {
        Some(origin) if origin != "null" => {
            if origin == own_origin || allowed.iter().any(|a| a == origin) {
                Ok(())
            } else {
                Err(AppError::Forbidden(
                    "This request came from a site that is not allowed here. Open the page from this site's own address and try again.".into(),
                ))
            }
        }
        // Opaque or absent origin: only the browser's own same-origin mark vouches for the request.
        _ => {
            let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
            if fetch_site == Some("same-origin") {
                Ok(())
            } else {
                Err(AppError::Forbidden(
                    "This request did not say which site it came from. Reload the page and try again.".into(),
                ))
            }
        }
    }
}

/// Both checks for a state-changing request: `Origin`, then the double-submit token.
pub fn verify(
    headers: &HeaderMap,
    tenant: &TenantId,
    submitted: Option<&str>,
    allowed: &[String],
    own_origin: &str,
) -> Result<CsrfToken, AppError> {
    verify_origin(headers, allowed, own_origin)?;
    verify_token(headers, tenant, submitted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(value) {
                map.append(*name, value);
            }
        }
        map
    }

    fn tenant() -> TenantId {
        TenantId::parse("t").unwrap_or_else(|e| panic!("{e}"))
    }

    const CSRF_COOKIE: &str = "__Host-tessera-csrf-t";

    const TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn csrf_token_matching_the_cookie_is_accepted() {
        let h = headers(&[("cookie", &format!("a=b; {CSRF_COOKIE}={TOKEN}"))]);
        assert!(verify_token(&h, &tenant(), Some(TOKEN)).is_ok());
    }

    #[test]
    fn csrf_token_missing_is_refused() {
        let h = headers(&[("cookie", &format!("{CSRF_COOKIE}={TOKEN}"))]);
        assert!(matches!(
            verify_token(&h, &tenant(), None),
            Err(AppError::CsrfMismatch)
        ));
        assert!(matches!(
            verify_token(&h, &tenant(), Some("")),
            Err(AppError::CsrfMismatch)
        ));
    }

    #[test]
    fn csrf_token_without_cookie_is_refused() {
        let h = headers(&[]);
        assert!(matches!(
            verify_token(&h, &tenant(), Some(TOKEN)),
            Err(AppError::CsrfMismatch)
        ));
    }

    #[test]
    fn csrf_token_differing_from_cookie_is_refused() {
        let h = headers(&[("cookie", &format!("{CSRF_COOKIE}={TOKEN}"))]);
        let other = "BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(matches!(
            verify_token(&h, &tenant(), Some(other)),
            Err(AppError::CsrfMismatch)
        ));
    }

    #[test]
    fn csrf_cookie_of_wrong_shape_is_ignored() {
        let h = headers(&[("cookie", &format!("{CSRF_COOKIE}=short"))]);
        assert!(current(&h, &tenant()).is_none());
        assert!(verify_token(&h, &tenant(), Some("short")).is_err());
    }

    #[test]
    fn page_token_reuses_the_cookie_or_sets_a_new_one() {
        let h = headers(&[("cookie", &format!("{CSRF_COOKIE}={TOKEN}"))]);
        let (token, set) = token_for_page(&h, &tenant()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(token.as_str(), TOKEN);
        assert!(set.is_none());
        let (fresh, set) =
            token_for_page(&HeaderMap::new(), &tenant()).unwrap_or_else(|e| panic!("{e}"));
        let set = set
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        assert!(set.starts_with(&format!("{CSRF_COOKIE}={}", fresh.as_str())));
        for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
            assert!(set.contains(attribute), "{set}");
        }
    }

    #[test]
    fn origin_missing_is_refused() {
        assert!(verify_origin(&HeaderMap::new(), &[], "http://localhost:8080").is_err());
    }

    #[test]
    fn opaque_origin_is_accepted_only_when_the_browser_marks_it_same_origin() {
        let own = "https://id.example";
        let same = headers(&[("origin", "null"), ("sec-fetch-site", "same-origin")]);
        assert!(verify_origin(&same, &[], own).is_ok());
        let cross = headers(&[("origin", "null"), ("sec-fetch-site", "cross-site")]);
        assert!(verify_origin(&cross, &[], own).is_err());
        let same_site = headers(&[("origin", "null"), ("sec-fetch-site", "same-site")]);
        assert!(verify_origin(&same_site, &[], own).is_err());
        let bare = headers(&[("origin", "null")]);
        assert!(verify_origin(&bare, &[], own).is_err());
        let foreign = headers(&[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(verify_origin(&foreign, &[], own).is_err());
    }

    #[test]
    fn origin_foreign_is_refused() {
        let h = headers(&[("origin", "https://evil.example")]);
        assert!(
            verify_origin(&h, &["https://login.example".into()], "https://id.example").is_err()
        );
        let null = headers(&[("origin", "null")]);
        assert!(verify_origin(&null, &[], "https://id.example").is_err());
    }

    #[test]
    fn origin_allowed_or_own_is_accepted() {
        let h = headers(&[("origin", "https://login.example")]);
        assert!(verify_origin(&h, &["https://login.example".into()], "https://id.example").is_ok());
        let own = headers(&[("origin", "https://id.example")]);
        assert!(verify_origin(&own, &[], "https://id.example").is_ok());
    }
}
