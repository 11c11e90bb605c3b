//! Typed web identities: [`RedirectUri`], [`Issuer`], [`RpId`] and [`Origin`], each with a `parse` that is the only
//! way in. URLs that OpenID Connect compares exactly (issuer, redirect URI) keep their original string and compare
//! it byte for byte; `url` is used to check them, never to rewrite them.

use std::fmt;

use url::{Host, Url};

/// Why a redirect URI cannot be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedirectUriError {
    /// Longer than [`RedirectUri::MAX_LEN`], or with spaces, control or quoting characters.
    #[error("too long, or contains spaces or quoting characters")]
    BadCharacter,
    /// Not an absolute URL.
    #[error("not an absolute URL")]
    NotAbsolute,
    /// Has a fragment (RFC 6749 §3.1.2).
    #[error("must not have a fragment")]
    Fragment,
    /// Has user information (`user:password@`).
    #[error("must not carry user information")]
    UserInfo,
    /// `http` on a host that is not a loopback IP (RFC 8252 §7.3, §8.3).
    #[error("http is allowed only on a loopback IP (127.0.0.1 or [::1]); use https")]
    HttpOffLoopback,
    /// An `https` URL whose host has characters no host name has.
    #[error("the host is not a domain name or IP address")]
    BadHost,
    /// A scheme that can run code or read local data (`javascript`, `data`, `file`, ...).
    #[error("this scheme is not allowed")]
    DangerousScheme,
    /// A private-use scheme that is not in reverse-domain form (RFC 8252 §7.1).
    #[error("a private-use scheme must be in reverse-domain form, like com.example.app")]
    PrivateSchemeNotReverseDomain,
}

/// A redirect URI a client may register: absolute, no fragment, no user info, no whitespace or quoting characters;
/// `https`, or `http` on a loopback IP only, or a private-use scheme in reverse-domain form (RFC 8252 §7.1).
/// It keeps the exact string registered.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RedirectUri(String);

const LOOPBACK_PREFIXES: [&str; 2] = ["http://127.0.0.1", "http://[::1]"];

/// Whether `uri` is an `http` URI on a loopback IP, with an optional port and nothing glued to the host.
pub fn is_http_loopback(uri: &str) -> bool {
    let Some(prefix) = LOOPBACK_PREFIXES.into_iter().find(|p| uri.starts_with(p)) else {
        return false;
    };
    let after = &uri[prefix.len()..];
    let rest = match after.strip_prefix(':') {
        Some(port_and_rest) => {
            let digits = port_and_rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || port_and_rest[..digits].parse::<u16>().is_err() {
                return false;
            }
            &port_and_rest[digits..]
        }
        None => after,
    };
    rest.is_empty() || rest.starts_with(['/', '?'])
}

impl RedirectUri {
    /// Longest redirect URI accepted.
    pub const MAX_LEN: usize = 2000;

    /// Parses a redirect URI offered for registration.
    pub fn parse(uri: &str) -> Result<Self, RedirectUriError> {
        if uri.len() > Self::MAX_LEN
            || !uri
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'<' | b'>' | b'\\' | b'`'))
        {
            return Err(RedirectUriError::BadCharacter);
        }
        let url = Url::parse(uri).map_err(|_| RedirectUriError::NotAbsolute)?;
        if url.fragment().is_some() || uri.contains('#') {
            return Err(RedirectUriError::Fragment);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(RedirectUriError::UserInfo);
        }
        match url.scheme() {
            "https" => {
                let host = url.host_str().ok_or(RedirectUriError::BadHost)?;
                if !host.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':')
                }) {
                    return Err(RedirectUriError::BadHost);
                }
            }
            "http" if is_http_loopback(uri) => {}
            "http" => return Err(RedirectUriError::HttpOffLoopback),
            "javascript" | "data" | "file" | "vbscript" | "blob" | "about" => {
                return Err(RedirectUriError::DangerousScheme);
            }
            scheme if scheme.contains('.') => {}
            _ => return Err(RedirectUriError::PrivateSchemeNotReverseDomain),
        }
        Ok(Self(uri.to_owned()))
    }

    /// Parses a redirect URI as [`RedirectUri::parse`] does, and also accepts `http://localhost` URIs (no fragment,
    /// no user info). RFC 8252 §8.3 advises loopback IPs instead; only a relying party served on `http://localhost`
    /// beside Tessera itself (the loopback demo) needs this.
    pub fn parse_insecure_allow_localhost_http(uri: &str) -> Result<Self, RedirectUriError> {
        let localhost = Url::parse(uri).is_ok_and(|u| {
            u.scheme() == "http"
                && u.host_str() == Some("localhost")
                && u.fragment().is_none()
                && u.username().is_empty()
                && u.password().is_none()
        });
        if localhost {
            Ok(Self(uri.to_owned()))
        } else {
            Self::parse(uri)
        }
    }

    /// The URI exactly as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why an issuer identifier was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IssuerError {
    /// Not an absolute URL with a host.
    #[error("the issuer is not an absolute URL")]
    NotAbsolute,
    /// Neither `https` nor `http` on localhost or a loopback address.
    #[error("the issuer must use https (or http on localhost, *.localhost or a loopback address)")]
    BadScheme,
    /// Has a query, a fragment or user information (OIDC Discovery §2), or a trailing slash.
    #[error("the issuer must not have a query, fragment, user information or trailing slash")]
    ExtraParts,
}

/// An OpenID Connect issuer identifier: an `https` URL (or `http` on localhost or a loopback address) without query,
/// fragment or trailing slash. It keeps its exact string: ID tokens' `iss` must equal it byte for byte.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Issuer(String);

/// Whether a URL's host is a loopback one: `localhost` and its subdomains (`a.localhost`, which RFC 6761 §6.3 and
/// browsers resolve to loopback), or a loopback address.
pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl Issuer {
    /// Parses an issuer identifier.
    pub fn parse(text: &str) -> Result<Self, IssuerError> {
        let url = Url::parse(text).map_err(|_| IssuerError::NotAbsolute)?;
        if url.host().is_none() {
            return Err(IssuerError::NotAbsolute);
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback_host(&url) => {}
            _ => return Err(IssuerError::BadScheme),
        }
        if url.query().is_some()
            || url.fragment().is_some()
            || text.contains(['?', '#'])
            || !url.username().is_empty()
            || url.password().is_some()
            || text.ends_with('/')
        {
            return Err(IssuerError::ExtraParts);
        }
        Ok(Self(text.to_owned()))
    }

    /// The issuer exactly as configured.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a WebAuthn RP ID was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RpIdError {
    /// Empty, or with a character no domain name has (`/`, `:`, a space).
    #[error("must be a domain name such as localhost")]
    NotADomain,
}

/// A WebAuthn Relying Party ID: a domain name (`localhost` for local use), never a URL.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RpId(String);

impl RpId {
    /// Parses an RP ID.
    pub fn parse(text: &str) -> Result<Self, RpIdError> {
        if text.is_empty() || text.contains(['/', ':', ' ']) || text.chars().any(char::is_control) {
            return Err(RpIdError::NotADomain);
        }
        Ok(Self(text.to_owned()))
    }

    /// The RP ID.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a WebAuthn origin was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// Not a URL.
    #[error("is not an origin like https://id.example.com")]
    NotAnOrigin,
    /// A URL with more than `scheme://host[:port]` (a path, a trailing slash, a query).
    #[error("must be a bare origin (scheme://host[:port], no path or trailing slash)")]
    NotBare,
    /// Its host is neither the RP ID nor a subdomain of it (WebAuthn L3 §5.1.3 step 9).
    #[error("is not within the RP ID")]
    OutsideRpId,
}

/// A web origin (`scheme://host[:port]`) in its ASCII serialization, compared exactly with what browsers report.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Origin(String);

impl Origin {
    /// Parses a bare origin.
    pub fn parse(text: &str) -> Result<Self, OriginError> {
        let url = Url::parse(text).map_err(|_| OriginError::NotAnOrigin)?;
        if url.origin().ascii_serialization() != text {
            return Err(OriginError::NotBare);
        }
        Ok(Self(text.to_owned()))
    }

    /// Parses a bare origin whose host is `rp_id` or a subdomain of it, as WebAuthn requires of a tenant's origins.
    pub fn parse_within(text: &str, rp_id: &RpId) -> Result<Self, OriginError> {
        let origin = Self::parse(text)?;
        if origin.is_within(rp_id) {
            Ok(origin)
        } else {
            Err(OriginError::OutsideRpId)
        }
    }

    /// Whether the origin's host is `rp_id` or a subdomain of it.
    pub fn is_within(&self, rp_id: &RpId) -> bool {
        let host = Url::parse(&self.0)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        host == rp_id.as_str() || host.ends_with(&format!(".{}", rp_id.as_str()))
    }

    /// The origin.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! web_impls {
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

web_impls!(RedirectUri);
web_impls!(Issuer);
web_impls!(RpId);
web_impls!(Origin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_keeps_its_exact_string() {
        let uri = "https://RP.example/cb?x=1";
        assert_eq!(
            RedirectUri::parse(uri).map(String::from),
            Ok(uri.to_owned())
        );
        assert!(RedirectUri::parse("http://127.0.0.1:8080/cb").is_ok());
        assert!(RedirectUri::parse("http://[::1]/cb").is_ok());
        assert!(RedirectUri::parse("com.example.app:/cb").is_ok());
    }

    #[test]
    fn http_redirect_uri_off_loopback_is_refused() {
        for uri in [
            "http://rp.example/cb",
            "http://localhost/cb",
            "http://127.0.0.1.evil.example/cb",
        ] {
            assert_eq!(
                RedirectUri::parse(uri),
                Err(RedirectUriError::HttpOffLoopback),
                "{uri}"
            );
        }
    }

    #[test]
    fn redirect_uri_with_a_fragment_is_refused() {
        assert_eq!(
            RedirectUri::parse("https://rp.example/cb#x"),
            Err(RedirectUriError::Fragment)
        );
        assert_eq!(
            RedirectUri::parse("https://rp.example/cb#"),
            Err(RedirectUriError::Fragment)
        );
    }

    #[test]
    fn redirect_uri_refuses_user_info_dangerous_schemes_and_spaces() {
        assert_eq!(
            RedirectUri::parse("https://u:p@rp.example/cb"),
            Err(RedirectUriError::UserInfo)
        );
        assert_eq!(
            RedirectUri::parse("javascript:alert(1)"),
            Err(RedirectUriError::DangerousScheme)
        );
        assert_eq!(
            RedirectUri::parse("myapp:/cb"),
            Err(RedirectUriError::PrivateSchemeNotReverseDomain)
        );
        assert_eq!(
            RedirectUri::parse("https://rp.example/a b"),
            Err(RedirectUriError::BadCharacter)
        );
        assert_eq!(
            RedirectUri::parse("/cb"),
            Err(RedirectUriError::NotAbsolute)
        );
    }

    #[test]
    fn localhost_http_redirect_uri_needs_the_insecure_opt_in() {
        let uri = "http://localhost:8081/callback";
        assert!(RedirectUri::parse(uri).is_err());
        assert!(RedirectUri::parse_insecure_allow_localhost_http(uri).is_ok());
        assert_eq!(
            RedirectUri::parse_insecure_allow_localhost_http("http://localhost/cb#x"),
            Err(RedirectUriError::Fragment)
        );
    }

    #[test]
    fn issuer_refuses_query_fragment_trailing_slash_and_plain_http() {
        assert!(Issuer::parse("https://id.example/mytenant/oidc").is_ok());
        assert!(Issuer::parse("http://localhost:8080/t/oidc").is_ok());
        assert!(Issuer::parse("http://acme.localhost:8080/oidc").is_ok());
        assert_eq!(
            Issuer::parse("http://localhost.example/oidc"),
            Err(IssuerError::BadScheme)
        );
        assert_eq!(
            Issuer::parse("http://id.example/t/oidc"),
            Err(IssuerError::BadScheme)
        );
        for bad in [
            "https://id.example/t/oidc?x=1",
            "https://id.example/t/oidc#f",
            "https://id.example/t/oidc/",
            "https://u@id.example/t/oidc",
        ] {
            assert_eq!(Issuer::parse(bad), Err(IssuerError::ExtraParts), "{bad}");
        }
        assert_eq!(Issuer::parse("id.example"), Err(IssuerError::NotAbsolute));
    }

    #[test]
    fn rp_id_is_a_domain_not_a_url() {
        assert!(RpId::parse("localhost").is_ok());
        for bad in ["", "https://id.example", "id.example:443", "a b"] {
            assert_eq!(RpId::parse(bad), Err(RpIdError::NotADomain), "{bad:?}");
        }
    }

    #[test]
    fn origin_outside_the_rp_id_is_refused() {
        let rp = RpId::parse("example.com").unwrap_or_else(|e| panic!("{e}"));
        assert!(Origin::parse_within("https://id.example.com", &rp).is_ok());
        assert!(Origin::parse_within("https://example.com", &rp).is_ok());
        assert_eq!(
            Origin::parse_within("https://evil.com", &rp),
            Err(OriginError::OutsideRpId)
        );
        assert_eq!(
            Origin::parse_within("https://notexample.com", &rp),
            Err(OriginError::OutsideRpId)
        );
    }

    #[test]
    fn origin_must_be_bare() {
        assert_eq!(
            Origin::parse("https://id.example.com/"),
            Err(OriginError::NotBare)
        );
        assert_eq!(
            Origin::parse("https://id.example.com/login"),
            Err(OriginError::NotBare)
        );
        assert_eq!(
            Origin::parse("id.example.com"),
            Err(OriginError::NotAnOrigin)
        );
    }
}
