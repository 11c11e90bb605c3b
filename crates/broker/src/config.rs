//! The broker's configuration objects and their validation: applications, OpenID Connect identity providers and
//! "sign up and sign in" user flows with immutable versions. Every [`ConfigError`] names the field it refuses, so
//! the admin API, portal and CLI can show it next to the input.

use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};
use tessera_core::ClientId;
use tessera_oidc::{
    ClientAuthConfig, ClientConfig, ClientType, ResponseMode, SecretHash, SigningAlg,
};
use time::{Duration, OffsetDateTime};
use url::Url;

/// Why a configuration object was refused. Each variant carries the field (a path such as `reply_urls[1]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required text field is empty.
    #[error("{field}: must not be empty")]
    Empty {
        /// The field.
        field: String,
    },
    /// A text field is longer than allowed.
    #[error("{field}: must be at most {max} characters")]
    TooLong {
        /// The field.
        field: String,
        /// The limit.
        max: usize,
    },
    /// A text field contains a control character.
    #[error("{field}: must not contain control characters")]
    ControlCharacter {
        /// The field.
        field: String,
    },
    /// A policy id does not start with `B2C_1_`.
    #[error("{field}: a user flow's policy id must start with B2C_1_")]
    PolicyPrefix {
        /// The field.
        field: String,
    },
    /// A policy id's name part has characters outside letters, digits, `_` and `-`, or is empty or too long.
    #[error("{field}: the name after B2C_1_ must be 1 to 64 letters, digits, '_' or '-'")]
    PolicyName {
        /// The field.
        field: String,
    },
    /// An identifier (provider id) has characters outside its set.
    #[error(
        "{field}: may contain only lowercase letters, digits and '-' (1 to 63, not starting with '-')"
    )]
    IdentifierSyntax {
        /// The field.
        field: String,
    },
    /// The identifier is reserved (`local` names the flow's local accounts).
    #[error("{field}: this identifier is reserved")]
    ReservedIdentifier {
        /// The field.
        field: String,
    },
    /// An application has no reply URL.
    #[error("{field}: at least one reply URL is required")]
    NoReplyUrl {
        /// The field.
        field: String,
    },
    /// A URL does not parse as an absolute URL.
    #[error("{field}: not an absolute URL")]
    NotAbsoluteUrl {
        /// The field.
        field: String,
    },
    /// A URL has a fragment (RFC 6749 §3.1.2 forbids it on redirect URIs; discovery URLs have none).
    #[error("{field}: must not contain a fragment (#...)")]
    UrlFragment {
        /// The field.
        field: String,
    },
    /// A URL carries user information (`user:password@`).
    #[error("{field}: must not contain user information")]
    UrlUserinfo {
        /// The field.
        field: String,
    },
    /// A URL uses `http` on a host that is not loopback.
    #[error("{field}: must use https (http is allowed only on loopback hosts)")]
    InsecureUrl {
        /// The field.
        field: String,
    },
    /// A reply URL uses a scheme that could run code or read local files.
    #[error("{field}: the URL scheme is not allowed")]
    ForbiddenScheme {
        /// The field.
        field: String,
    },
    /// A reply URL contains a wildcard.
    #[error("{field}: wildcards are not allowed; reply URLs are matched exactly")]
    UrlWildcard {
        /// The field.
        field: String,
    },
    /// The same URL is registered twice.
    #[error("{field}: listed twice")]
    DuplicateUrl {
        /// The field.
        field: String,
    },
    /// A confidential application without a client secret.
    #[error("{field}: a confidential application needs a client secret")]
    SecretRequired {
        /// The field.
        field: String,
    },
    /// A public application with a client secret.
    #[error("{field}: a public application must not have a client secret")]
    SecretNotAllowed {
        /// The field.
        field: String,
    },
    /// A token lifetime outside its allowed range.
    #[error("{field}: must be between {min} and {max} {unit}")]
    LifetimeOutOfRange {
        /// The field.
        field: String,
        /// Lowest allowed value.
        min: u32,
        /// Highest allowed value.
        max: u32,
        /// `minutes` or `days`.
        unit: &'static str,
    },
    /// A metadata URL that does not end in `/.well-known/openid-configuration`.
    #[error("{field}: must end with /.well-known/openid-configuration")]
    MetadataUrlNotWellKnown {
        /// The field.
        field: String,
    },
    /// A metadata URL with a query string (the issuer could not be its prefix).
    #[error("{field}: must not contain a query string")]
    MetadataUrlQuery {
        /// The field.
        field: String,
    },
    /// The scope does not include `openid`.
    #[error("{field}: must include openid")]
    ScopeLacksOpenid {
        /// The field.
        field: String,
    },
    /// A scope token with characters outside RFC 6749 §3.3.
    #[error(
        "{field}: scope values may contain only visible ASCII characters other than '\"' and '\\'"
    )]
    ScopeSyntax {
        /// The field.
        field: String,
    },
    /// A flow offers neither an identity provider nor local accounts.
    #[error("{field}: offer at least one identity provider or local accounts")]
    NoSignInMethod {
        /// The field.
        field: String,
    },
    /// A flow or rule names a provider twice.
    #[error("{field}: identity provider {provider} listed twice")]
    DuplicateProvider {
        /// The field.
        field: String,
        /// The provider id.
        provider: String,
    },
    /// A flow or rule names a provider the tenant (or the flow) does not have.
    #[error("{field}: no identity provider {provider}")]
    UnknownProvider {
        /// The field.
        field: String,
        /// The provider id.
        provider: String,
    },
    /// A custom attribute name outside `[A-Za-z][A-Za-z0-9_]{0,63}`.
    #[error(
        "{field}: a custom attribute name is a letter followed by up to 63 letters, digits or '_'"
    )]
    CustomAttributeName {
        /// The field.
        field: String,
    },
    /// A custom attribute defined twice (names compare case-insensitively).
    #[error("{field}: custom attribute {name} defined twice")]
    DuplicateCustomAttribute {
        /// The field.
        field: String,
        /// The name.
        name: String,
    },
    /// An attribute or claim refers to a custom attribute the flow version does not define.
    #[error("{field}: custom attribute {name} is not defined in this flow")]
    UndefinedCustomAttribute {
        /// The field.
        field: String,
        /// The name.
        name: String,
    },
    /// A user attribute listed twice.
    #[error("{field}: attribute listed twice")]
    DuplicateAttribute {
        /// The field.
        field: String,
    },
    /// An application claim listed twice.
    #[error("{field}: claim listed twice")]
    DuplicateClaim {
        /// The field.
        field: String,
    },
    /// Saved versions are not numbered 1, 2, 3, ...
    #[error("{field}: versions must be numbered 1, 2, 3, ... in order")]
    VersionNumbering {
        /// The field.
        field: String,
    },
    /// A flow without any version.
    #[error("{field}: a user flow has at least one version")]
    NoVersion {
        /// The field.
        field: String,
    },
    /// A `require_mfa` rule in a flow whose MFA setting is not `conditional` (with `off` it would contradict the
    /// setting; with `always` it is redundant and misleading).
    #[error("{field}: a require_mfa rule needs the flow's MFA setting to be conditional")]
    MfaRuleNeedsConditional {
        /// The field.
        field: String,
    },
}

impl ConfigError {
    /// The field the error refers to (for example `reply_urls[1]` or `claim_mapping.email`).
    pub fn field(&self) -> &str {
        match self {
            Self::Empty { field }
            | Self::TooLong { field, .. }
            | Self::ControlCharacter { field }
            | Self::PolicyPrefix { field }
            | Self::PolicyName { field }
            | Self::IdentifierSyntax { field }
            | Self::ReservedIdentifier { field }
            | Self::NoReplyUrl { field }
            | Self::NotAbsoluteUrl { field }
            | Self::UrlFragment { field }
            | Self::UrlUserinfo { field }
            | Self::InsecureUrl { field }
            | Self::ForbiddenScheme { field }
            | Self::UrlWildcard { field }
            | Self::DuplicateUrl { field }
            | Self::SecretRequired { field }
            | Self::SecretNotAllowed { field }
            | Self::LifetimeOutOfRange { field, .. }
            | Self::MetadataUrlNotWellKnown { field }
            | Self::MetadataUrlQuery { field }
            | Self::ScopeLacksOpenid { field }
            | Self::ScopeSyntax { field }
            | Self::NoSignInMethod { field }
            | Self::DuplicateProvider { field, .. }
            | Self::UnknownProvider { field, .. }
            | Self::CustomAttributeName { field }
            | Self::DuplicateCustomAttribute { field, .. }
            | Self::UndefinedCustomAttribute { field, .. }
            | Self::DuplicateAttribute { field }
            | Self::DuplicateClaim { field }
            | Self::VersionNumbering { field }
            | Self::NoVersion { field }
            | Self::MfaRuleNeedsConditional { field } => field,
        }
    }
}

fn check_text(value: &str, field: &str, max: usize) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Err(ConfigError::Empty {
            field: field.into(),
        });
    }
    if value.chars().count() > max {
        return Err(ConfigError::TooLong {
            field: field.into(),
            max,
        });
    }
    if value.chars().any(char::is_control) {
        return Err(ConfigError::ControlCharacter {
            field: field.into(),
        });
    }
    Ok(())
}

/// Whether a URL's host is a loopback address or `localhost` (where plain `http` is allowed, RFC 8252 §7.3).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Parses an absolute URL that is kept byte for byte: the WHATWG parser would silently drop surrounding spaces and
/// inner tabs or newlines, so such input is refused instead.
fn parse_url_exactly(value: &str, field: &str) -> Result<Url, ConfigError> {
    if value.chars().any(char::is_control) {
        return Err(ConfigError::ControlCharacter {
            field: field.into(),
        });
    }
    if value.chars().any(char::is_whitespace) {
        return Err(ConfigError::NotAbsoluteUrl {
            field: field.into(),
        });
    }
    Url::parse(value).map_err(|_| ConfigError::NotAbsoluteUrl {
        field: field.into(),
    })
}

/// Parses an absolute `https` URL (or `http` on loopback) without fragment or user information.
pub(crate) fn check_web_url(value: &str, field: &str) -> Result<Url, ConfigError> {
    let url = parse_url_exactly(value, field)?;
    if url.fragment().is_some() {
        return Err(ConfigError::UrlFragment {
            field: field.into(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::UrlUserinfo {
            field: field.into(),
        });
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(ConfigError::InsecureUrl {
            field: field.into(),
        }),
        _ => Err(ConfigError::NotAbsoluteUrl {
            field: field.into(),
        }),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Policy ids and provider ids

/// A user flow's policy id, `B2C_1_<name>`. Compared case-insensitively (as Azure AD B2C does, and as MSAL needs:
/// it lowercases the authority URL), but kept and shown as configured.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PolicyId(String);

impl PolicyId {
    /// The prefix every user-flow policy id carries.
    pub const PREFIX: &'static str = "B2C_1_";

    /// Parses a policy id; the `B2C_1_` prefix matches in any case.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        Self::parse_field(value, "policy")
    }

    pub(crate) fn parse_field(value: &str, field: &str) -> Result<Self, ConfigError> {
        let prefix_len = Self::PREFIX.len();
        if value.len() < prefix_len
            || !value.is_char_boundary(prefix_len)
            || !value[..prefix_len].eq_ignore_ascii_case(Self::PREFIX)
        {
            return Err(ConfigError::PolicyPrefix {
                field: field.into(),
            });
        }
        let name = &value[prefix_len..];
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ConfigError::PolicyName {
                field: field.into(),
            });
        }
        Ok(Self(value.to_owned()))
    }

    /// The policy id of the flow called `name`: `B2C_1_<name>`.
    pub fn from_name(name: &str) -> Result<Self, ConfigError> {
        Self::parse_field(&format!("{}{name}", Self::PREFIX), "name")
    }

    /// The id as configured.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name after `B2C_1_`.
    pub fn name(&self) -> &str {
        &self.0[Self::PREFIX.len()..]
    }

    /// The lowercase form: the key to look a flow up by.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl PartialEq for PolicyId {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for PolicyId {}

impl Hash for PolicyId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.0.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
}

impl fmt::Debug for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PolicyId({:?})", self.0)
    }
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PolicyId {
    type Error = ConfigError;
    fn try_from(value: String) -> Result<Self, ConfigError> {
        Self::parse(&value)
    }
}

impl From<PolicyId> for String {
    fn from(value: PolicyId) -> String {
        value.0
    }
}

/// An identity provider's id within a broker tenant (`tessera-passkeys`): lowercase letters, digits and `-`, up to
/// 63 characters. Flows, rules and the `idp` hint name providers by it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderId(String);

/// The id of local accounts where a provider id is expected ([`ProviderId::local`]).
pub const LOCAL_ACCOUNTS_ID: &str = "local";

impl ProviderId {
    /// Parses a provider id.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        Self::parse_field(value, "id")
    }

    fn parse_field(value: &str, field: &str) -> Result<Self, ConfigError> {
        let ok = !value.is_empty()
            && value.len() <= 63
            && !value.starts_with('-')
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(ConfigError::IdentifierSyntax {
                field: field.into(),
            })
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id that stands for the flow's local accounts in sessions, grants, the choice page and the `idp` hint
    /// ([`LOCAL_ACCOUNTS_ID`]); no identity provider may have it.
    pub fn local() -> Self {
        Self(LOCAL_ACCOUNTS_ID.to_owned())
    }

    /// Whether this is [`ProviderId::local`].
    pub fn is_local(&self) -> bool {
        self.0 == LOCAL_ACCOUNTS_ID
    }
}

impl fmt::Debug for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProviderId({:?})", self.0)
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ProviderId {
    type Error = ConfigError;
    fn try_from(value: String) -> Result<Self, ConfigError> {
        Self::parse(&value)
    }
}

impl From<ProviderId> for String {
    fn from(value: ProviderId) -> String {
        value.0
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Applications

/// How long the tokens an application receives live. The ranges are Azure AD B2C's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenLifetimes {
    /// Access token lifetime, 5 to 1440 minutes (default 60).
    pub access_token_minutes: u32,
    /// ID token lifetime, 5 to 1440 minutes (default 60).
    pub id_token_minutes: u32,
    /// Refresh token lifetime, 1 to 90 days (default 14).
    pub refresh_token_days: u32,
    /// How long a chain of rotated refresh tokens may be used before the user signs in again, 1 to 365 days
    /// (default 90); `None` means no limit.
    pub refresh_sliding_window_days: Option<u32>,
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            access_token_minutes: 60,
            id_token_minutes: 60,
            refresh_token_days: 14,
            refresh_sliding_window_days: Some(90),
        }
    }
}

impl TokenLifetimes {
    /// Checks every lifetime against its range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let check = |value: u32, field: &str, min: u32, max: u32, unit: &'static str| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::LifetimeOutOfRange {
                    field: format!("token_lifetimes.{field}"),
                    min,
                    max,
                    unit,
                })
            }
        };
        check(
            self.access_token_minutes,
            "access_token_minutes",
            5,
            1440,
            "minutes",
        )?;
        check(
            self.id_token_minutes,
            "id_token_minutes",
            5,
            1440,
            "minutes",
        )?;
        check(self.refresh_token_days, "refresh_token_days", 1, 90, "days")?;
        if let Some(days) = self.refresh_sliding_window_days {
            check(days, "refresh_sliding_window_days", 1, 365, "days")?;
        }
        Ok(())
    }

    /// The access token lifetime.
    pub fn access_token(&self) -> Duration {
        Duration::minutes(i64::from(self.access_token_minutes))
    }

    /// The ID token lifetime.
    pub fn id_token(&self) -> Duration {
        Duration::minutes(i64::from(self.id_token_minutes))
    }

    /// The refresh token lifetime.
    pub fn refresh_token(&self) -> Duration {
        Duration::days(i64::from(self.refresh_token_days))
    }
}

/// An application registered with a broker tenant (the app that signs users in through a user flow).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    /// Shown on the choice and attribute pages.
    pub display_name: String,
    /// The application (client) id.
    pub client_id: ClientId,
    /// Public (SPA, native; PKCE, no secret) or confidential (web app with a secret).
    pub client_type: ClientType,
    /// SHA-256 of the client secret (the secret itself is shown once, when created).
    #[serde(default)]
    pub secret_hash: Option<SecretHash>,
    /// Reply (redirect) URLs, matched exactly.
    pub reply_urls: Vec<String>,
    /// Where the app may be sent after sign-out (`post_logout_redirect_uri`), matched exactly.
    #[serde(default)]
    pub logout_urls: Vec<String>,
    /// Token lifetimes.
    #[serde(default)]
    pub token_lifetimes: TokenLifetimes,
    /// The algorithm the app's ID tokens are signed with.
    pub id_token_signing_alg: SigningAlg,
}

/// Schemes a reply URL may never use: they run code or read local files in the browser.
const FORBIDDEN_SCHEMES: [&str; 6] = ["javascript", "data", "file", "vbscript", "blob", "about"];

impl Application {
    /// Checks every field; the first problem found is returned, naming its field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_text(&self.display_name, "display_name", 256)?;
        match (self.client_type, &self.secret_hash) {
            (ClientType::Confidential, None) => {
                return Err(ConfigError::SecretRequired {
                    field: "client_secret".into(),
                });
            }
            (ClientType::Public, Some(_)) => {
                return Err(ConfigError::SecretNotAllowed {
                    field: "client_secret".into(),
                });
            }
            _ => {}
        }
        if self.reply_urls.is_empty() {
            return Err(ConfigError::NoReplyUrl {
                field: "reply_urls".into(),
            });
        }
        check_url_list(&self.reply_urls, "reply_urls")?;
        check_url_list(&self.logout_urls, "logout_urls")?;
        self.token_lifetimes.validate()
    }

    /// The client as the OpenID Connect provider rules of `tessera-oidc` see it, so the broker's authorize and
    /// token endpoints apply the same checks as the authenticator service's.
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig {
            client_id: self.client_id.clone(),
            redirect_uris: self.reply_urls.clone(),
            post_logout_redirect_uris: self.logout_urls.clone(),
            auth: match &self.secret_hash {
                Some(hash) => ClientAuthConfig::ClientSecret {
                    secret_hash: hash.clone(),
                },
                None => ClientAuthConfig::None,
            },
            allowed_scopes: Vec::new(),
            id_token_alg: self.id_token_signing_alg,
        }
    }

    /// Whether `url` is a registered reply URL: byte-for-byte comparison (with the RFC 8252 §7.3 port exception
    /// for `http://127.0.0.1` and `http://[::1]` that the provider rules share).
    pub fn reply_url_registered(&self, url: &str) -> bool {
        self.client_config().redirect_uri_registered(url)
    }
}

fn check_url_list(urls: &[String], list: &str) -> Result<(), ConfigError> {
    let mut seen = HashSet::new();
    for (i, value) in urls.iter().enumerate() {
        let field = format!("{list}[{i}]");
        check_reply_url(value, &field)?;
        if !seen.insert(value.as_str()) {
            return Err(ConfigError::DuplicateUrl { field });
        }
    }
    Ok(())
}

/// A reply URL: `https`, `http` on loopback, or a private-use scheme of a native app (RFC 8252 §7.1, such as
/// `msal<client-id>://auth` or `com.example.app:/callback`); never a fragment, user information or wildcard.
fn check_reply_url(value: &str, field: &str) -> Result<(), ConfigError> {
    if value.contains('*') {
        return Err(ConfigError::UrlWildcard {
            field: field.into(),
        });
    }
    let url = parse_url_exactly(value, field)?;
    match url.scheme() {
        "https" | "http" => check_web_url(value, field).map(|_| ()),
        scheme if FORBIDDEN_SCHEMES.contains(&scheme) => Err(ConfigError::ForbiddenScheme {
            field: field.into(),
        }),
        _ if url.fragment().is_some() => Err(ConfigError::UrlFragment {
            field: field.into(),
        }),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Identity providers

/// The URL of an OpenID Provider's discovery document, `{issuer}/.well-known/openid-configuration`. Kept as
/// given, since the issuer it implies is compared byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MetadataUrl(String);

/// The path every metadata URL ends with (OpenID Connect Discovery 1.0 §4).
pub const WELL_KNOWN_SUFFIX: &str = "/.well-known/openid-configuration";

impl MetadataUrl {
    /// Parses a metadata URL: `https` (or `http` on loopback), no query, fragment or user information, ending in
    /// `/.well-known/openid-configuration`.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        const FIELD: &str = "metadata_url";
        let url = check_web_url(value, FIELD)?;
        if url.query().is_some() {
            return Err(ConfigError::MetadataUrlQuery {
                field: FIELD.into(),
            });
        }
        if !value.ends_with(WELL_KNOWN_SUFFIX) {
            return Err(ConfigError::MetadataUrlNotWellKnown {
                field: FIELD.into(),
            });
        }
        Ok(Self(value.to_owned()))
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The issuer this URL belongs to: everything before `/.well-known/openid-configuration` (Discovery §4.3
    /// requires the discovered `issuer` to be identical to it).
    pub fn issuer_prefix(&self) -> &str {
        &self.0[..self.0.len() - WELL_KNOWN_SUFFIX.len()]
    }
}

impl TryFrom<String> for MetadataUrl {
    type Error = ConfigError;
    fn try_from(value: String) -> Result<Self, ConfigError> {
        Self::parse(&value)
    }
}

impl From<MetadataUrl> for String {
    fn from(value: MetadataUrl) -> String {
        value.0
    }
}

/// Which response type the broker asks a provider for. Only the authorization code flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseType {
    /// `code`.
    #[default]
    Code,
}

impl ResponseType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        "code"
    }
}

/// How the broker authenticates to a provider's token endpoint with the client secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamClientAuth {
    /// HTTP Basic (RFC 6749 §2.3.1), the default of OpenID Connect.
    #[default]
    ClientSecretBasic,
    /// In the form body.
    ClientSecretPost,
}

impl UpstreamClientAuth {
    /// The `token_endpoint_auth_methods_supported` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }
}

fn default_user_id() -> String {
    "sub".into()
}
fn default_display_name() -> Option<String> {
    Some("name".into())
}
fn default_given_name() -> Option<String> {
    Some("given_name".into())
}
fn default_surname() -> Option<String> {
    Some("family_name".into())
}
fn default_email() -> Option<String> {
    Some("email".into())
}

/// Which claim of the provider's ID token (or userinfo) fills each profile field. `None` leaves a field unmapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimMapping {
    /// The user's id at the provider (default `sub`); with the issuer, the key of the user's identity.
    #[serde(default = "default_user_id")]
    pub user_id: String,
    /// Display name (default `name`).
    #[serde(default = "default_display_name")]
    pub display_name: Option<String>,
    /// Given name (default `given_name`).
    #[serde(default = "default_given_name")]
    pub given_name: Option<String>,
    /// Surname (default `family_name`).
    #[serde(default = "default_surname")]
    pub surname: Option<String>,
    /// Email (default `email`).
    #[serde(default = "default_email")]
    pub email: Option<String>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            user_id: default_user_id(),
            display_name: default_display_name(),
            given_name: default_given_name(),
            surname: default_surname(),
            email: default_email(),
        }
    }
}

impl ClaimMapping {
    /// Checks that each mapped claim name is a plausible JSON member name.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_text(&self.user_id, "claim_mapping.user_id", 128)?;
        for (name, field) in [
            (&self.display_name, "claim_mapping.display_name"),
            (&self.given_name, "claim_mapping.given_name"),
            (&self.surname, "claim_mapping.surname"),
            (&self.email, "claim_mapping.email"),
        ] {
            if let Some(name) = name {
                check_text(name, field, 128)?;
            }
        }
        Ok(())
    }
}

/// The default scope requested from a provider.
pub const DEFAULT_SCOPE: &str = "openid profile email";

fn default_scope() -> Vec<String> {
    parse_scope(DEFAULT_SCOPE)
}

/// Splits a space-separated scope string into its values.
pub fn parse_scope(scope: &str) -> Vec<String> {
    scope.split_ascii_whitespace().map(str::to_owned).collect()
}

/// A federated identity provider of type OpenID Connect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityProvider {
    /// Its id within the tenant.
    pub id: ProviderId,
    /// Display name, shown on the choice page ("Nok Nok Authentication Provider").
    pub name: String,
    /// The provider's discovery document.
    pub metadata_url: MetadataUrl,
    /// The client id the provider issued to the broker.
    pub client_id: String,
    /// How the broker sends its client secret (the secret itself is stored encrypted by the service layer).
    #[serde(default)]
    pub client_auth: UpstreamClientAuth,
    /// Scope values requested (default `openid profile email`).
    #[serde(default = "default_scope")]
    pub scope: Vec<String>,
    /// Always `code`.
    #[serde(default)]
    pub response_type: ResponseType,
    /// `form_post` (as the tutorial configures) or `query`.
    pub response_mode: ResponseMode,
    /// Where the profile fields come from.
    #[serde(default)]
    pub claim_mapping: ClaimMapping,
    /// The `domain_hint` value that sends a user straight to this provider (for example `example.com`).
    #[serde(default)]
    pub domain_hint: Option<String>,
}

impl IdentityProvider {
    /// Checks every field; the metadata URL was checked when parsed. Fetching and validating the provider's
    /// metadata is [`crate::metadata::validate_provider_metadata`], which the service runs at save time too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id.is_local() {
            return Err(ConfigError::ReservedIdentifier { field: "id".into() });
        }
        check_text(&self.name, "name", 256)?;
        check_text(&self.client_id, "client_id", 256)?;
        if !self.scope.iter().any(|s| s == "openid") {
            return Err(ConfigError::ScopeLacksOpenid {
                field: "scope".into(),
            });
        }
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
        if self.scope.iter().any(|s| {
            s.is_empty()
                || !s
                    .bytes()
                    .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
        }) {
            return Err(ConfigError::ScopeSyntax {
                field: "scope".into(),
            });
        }
        self.claim_mapping.validate()?;
        if let Some(hint) = &self.domain_hint {
            check_text(hint, "domain_hint", 253)?;
        }
        Ok(())
    }

    /// The scope as sent: values joined by spaces.
    pub fn scope_string(&self) -> String {
        self.scope.join(" ")
    }
}

// ---------------------------------------------------------------------------------------------------------------
// User flows

/// Whether a flow also offers local accounts (users who sign up with the broker itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalAccounts {
    /// Federated providers only.
    #[default]
    None,
    /// Local accounts identified by email address.
    Email,
}

/// The flow's multi-factor setting. The broker has no second factor of its own (Tessera is passwordless; the user
/// authenticates at the provider): when MFA is required it asks the provider for it with `acr_values` (those the
/// provider advertises) and accepts the sign-in only when the upstream `amr` shows multi-factor
/// ([`crate::claims::is_multi_factor`], judged by [`crate::claims::evaluate_access`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaSetting {
    /// No requirement.
    #[default]
    Off,
    /// Every sign-in must have been multi-factor upstream.
    Always,
    /// Multi-factor only when the conditional-access rule that decides the sign-in is
    /// [`AccessAction::RequireMfa`] (and conditional access is enforced).
    Conditional,
}

/// What a conditional-access rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessAction {
    /// Let the sign-in through (an exception placed before broader rules).
    Allow,
    /// Refuse the sign-in.
    Block,
    /// Refuse unless the upstream sign-in was phishing-resistant (asked of the provider with `acr_values`).
    RequirePhishingResistant,
    /// Refuse unless the upstream sign-in was multi-factor (asked of the provider with `acr_values`); only in a
    /// flow whose MFA setting is [`MfaSetting::Conditional`].
    RequireMfa,
}

/// One conditional-access rule. Empty condition lists match everything; rules are evaluated in order and the
/// first that matches decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRule {
    /// Shown in logs and to the operator.
    pub name: String,
    /// The applications the rule applies to (empty: all).
    #[serde(default)]
    pub applications: Vec<ClientId>,
    /// The identity providers the rule applies to (empty: all).
    #[serde(default)]
    pub identity_providers: Vec<ProviderId>,
    /// What happens when it matches.
    pub action: AccessAction,
}

/// "Enforce conditional access policies" and the rules evaluated at sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConditionalAccess {
    /// Whether the rules are evaluated at all.
    pub enforced: bool,
    /// The rules, in order.
    #[serde(default)]
    pub rules: Vec<AccessRule>,
}

/// The type of a custom attribute's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeType {
    /// Text, up to 256 characters.
    String,
    /// `true` or `false`.
    Boolean,
    /// A signed 64-bit integer.
    Integer,
}

/// A custom attribute a flow defines (it appears in tokens as `extension_<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomAttribute {
    /// Its name.
    pub name: String,
    /// The label on the attribute page (default: the name).
    #[serde(default)]
    pub label: Option<String>,
    /// Its type.
    pub data_type: AttributeType,
}

/// A user attribute the flow can collect at sign-up.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserAttribute {
    /// Email address.
    Email,
    /// Display name.
    DisplayName,
    /// Given name.
    GivenName,
    /// Surname.
    Surname,
    /// A custom attribute the flow defines.
    Custom(String),
}

impl UserAttribute {
    /// The form field name on the attribute page (`extension_<name>` for custom attributes).
    pub fn form_field(&self) -> String {
        match self {
            Self::Email => "email".into(),
            Self::DisplayName => "display_name".into(),
            Self::GivenName => "given_name".into(),
            Self::Surname => "surname".into(),
            Self::Custom(name) => format!("extension_{name}"),
        }
    }
}

/// An attribute collected at sign-up, and whether the user must fill it in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectedAttribute {
    /// The attribute.
    pub attribute: UserAttribute,
    /// Whether an empty value is refused.
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

/// A claim the flow puts in application tokens (besides the ones always present: `sub`, `tfp`, `ver`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationClaim {
    /// `emails` (an array, as Azure AD B2C puts it).
    Email,
    /// `name`.
    DisplayName,
    /// `given_name`.
    GivenName,
    /// `family_name`.
    Surname,
    /// `idp`: the identity provider's issuer.
    IdentityProvider,
    /// `oid`: the user's object id.
    ObjectId,
    /// `newUser`: `true` on the sign-in that created the user.
    NewUser,
    /// `extension_<name>`: a custom attribute.
    Custom(String),
}

/// The kind of user flow. Only "sign up and sign in" so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserFlowKind {
    /// Sign up and sign in.
    #[default]
    SignUpSignIn,
}

/// What a user flow version does. Saved into an immutable [`UserFlowVersion`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FlowSettings {
    /// The identity providers offered, in display order.
    #[serde(default)]
    pub identity_providers: Vec<ProviderId>,
    /// Whether local accounts are offered too.
    #[serde(default)]
    pub local_accounts: LocalAccounts,
    /// The multi-factor setting.
    #[serde(default)]
    pub mfa: MfaSetting,
    /// Conditional access.
    #[serde(default)]
    pub conditional_access: ConditionalAccess,
    /// Custom attributes this flow knows.
    #[serde(default)]
    pub custom_attributes: Vec<CustomAttribute>,
    /// Attributes collected at sign-up, in page order.
    #[serde(default)]
    pub user_attributes: Vec<CollectedAttribute>,
    /// Claims put in application tokens.
    #[serde(default)]
    pub application_claims: Vec<ApplicationClaim>,
}

impl FlowSettings {
    /// Checks the settings against the tenant's identity providers.
    pub fn validate(&self, tenant_providers: &[ProviderId]) -> Result<(), ConfigError> {
        if self.identity_providers.is_empty() && self.local_accounts == LocalAccounts::None {
            return Err(ConfigError::NoSignInMethod {
                field: "identity_providers".into(),
            });
        }
        check_provider_list(
            &self.identity_providers,
            tenant_providers,
            "identity_providers",
        )?;
        let mut custom = HashSet::new();
        for (i, attribute) in self.custom_attributes.iter().enumerate() {
            let field = format!("custom_attributes[{i}]");
            if !valid_custom_name(&attribute.name) {
                return Err(ConfigError::CustomAttributeName { field });
            }
            if let Some(label) = &attribute.label {
                check_text(label, &format!("{field}.label"), 128)?;
            }
            if !custom.insert(attribute.name.to_ascii_lowercase()) {
                return Err(ConfigError::DuplicateCustomAttribute {
                    field,
                    name: attribute.name.clone(),
                });
            }
        }
        let defined = |name: &str, field: String| {
            if self.custom_attribute(name).is_some() {
                Ok(())
            } else {
                Err(ConfigError::UndefinedCustomAttribute {
                    field,
                    name: name.into(),
                })
            }
        };
        let mut seen = HashSet::new();
        for (i, collected) in self.user_attributes.iter().enumerate() {
            let field = format!("user_attributes[{i}]");
            if let UserAttribute::Custom(name) = &collected.attribute {
                defined(name, field.clone())?;
            }
            if !seen.insert(collected.attribute.form_field().to_ascii_lowercase()) {
                return Err(ConfigError::DuplicateAttribute { field });
            }
        }
        let mut seen = HashSet::new();
        for (i, claim) in self.application_claims.iter().enumerate() {
            let field = format!("application_claims[{i}]");
            let key = match claim {
                ApplicationClaim::Custom(name) => {
                    defined(name, field.clone())?;
                    format!("custom:{}", name.to_ascii_lowercase())
                }
                other => format!("{other:?}"),
            };
            if !seen.insert(key) {
                return Err(ConfigError::DuplicateClaim { field });
            }
        }
        for (i, rule) in self.conditional_access.rules.iter().enumerate() {
            let field = format!("conditional_access.rules[{i}]");
            check_text(&rule.name, &format!("{field}.name"), 128)?;
            check_provider_list(
                &rule.identity_providers,
                &self.identity_providers,
                &format!("{field}.identity_providers"),
            )?;
            if rule.action == AccessAction::RequireMfa && self.mfa != MfaSetting::Conditional {
                return Err(ConfigError::MfaRuleNeedsConditional {
                    field: format!("{field}.action"),
                });
            }
        }
        Ok(())
    }

    /// The definition of the custom attribute `name` (case-insensitive).
    pub fn custom_attribute(&self, name: &str) -> Option<&CustomAttribute> {
        self.custom_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Whether the flow puts `claim` in application tokens.
    pub fn returns(&self, claim: &ApplicationClaim) -> bool {
        self.application_claims.contains(claim)
    }
}

fn valid_custom_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && name.len() <= 64
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn check_provider_list(
    list: &[ProviderId],
    known: &[ProviderId],
    field: &str,
) -> Result<(), ConfigError> {
    let mut seen = HashSet::new();
    for (i, provider) in list.iter().enumerate() {
        let item = format!("{field}[{i}]");
        if !known.contains(provider) {
            return Err(ConfigError::UnknownProvider {
                field: item,
                provider: provider.to_string(),
            });
        }
        if !seen.insert(provider) {
            return Err(ConfigError::DuplicateProvider {
                field: item,
                provider: provider.to_string(),
            });
        }
    }
    Ok(())
}

/// One saved version of a user flow. It cannot be changed: a change makes a new version, and a sign-in in progress
/// finishes on the version it started with (it keeps the number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserFlowVersion {
    number: u32,
    #[serde(with = "time::serde::timestamp")]
    created_at: OffsetDateTime,
    settings: FlowSettings,
}

impl UserFlowVersion {
    /// The version number, from 1.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// When it was saved.
    pub fn created_at(&self) -> OffsetDateTime {
        self.created_at
    }

    /// What it does.
    pub fn settings(&self) -> &FlowSettings {
        &self.settings
    }
}

/// A "sign up and sign in" user flow: its policy id and its versions, the last one current. It always has a first
/// version; deserializing checks the versions as [`UserFlow::from_versions`] does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "UserFlowRecord", into = "UserFlowRecord")]
pub struct UserFlow {
    policy: PolicyId,
    kind: UserFlowKind,
    first: UserFlowVersion,
    later: Vec<UserFlowVersion>,
}

/// The stored shape of a flow: `{policy, kind, versions: [...]}`.
#[derive(Serialize, Deserialize)]
struct UserFlowRecord {
    policy: PolicyId,
    #[serde(default)]
    kind: UserFlowKind,
    versions: Vec<UserFlowVersion>,
}

impl TryFrom<UserFlowRecord> for UserFlow {
    type Error = ConfigError;
    fn try_from(record: UserFlowRecord) -> Result<Self, ConfigError> {
        let mut flow = Self::from_versions(record.policy, record.versions)?;
        flow.kind = record.kind;
        Ok(flow)
    }
}

impl From<UserFlow> for UserFlowRecord {
    fn from(flow: UserFlow) -> Self {
        let mut versions = Vec::with_capacity(flow.later.len() + 1);
        versions.push(flow.first);
        versions.extend(flow.later);
        Self {
            policy: flow.policy,
            kind: flow.kind,
            versions,
        }
    }
}

impl UserFlow {
    /// A new flow with its first version.
    pub fn create(
        policy: PolicyId,
        settings: FlowSettings,
        tenant_providers: &[ProviderId],
        now: OffsetDateTime,
    ) -> Result<Self, ConfigError> {
        settings.validate(tenant_providers)?;
        Ok(Self {
            policy,
            kind: UserFlowKind::SignUpSignIn,
            first: UserFlowVersion {
                number: 1,
                created_at: now,
                settings,
            },
            later: Vec::new(),
        })
    }

    /// Rebuilds a flow from stored versions, checking that they are numbered 1, 2, 3, ...
    pub fn from_versions(
        policy: PolicyId,
        versions: Vec<UserFlowVersion>,
    ) -> Result<Self, ConfigError> {
        if versions
            .iter()
            .zip(1u32..)
            .any(|(version, expected)| version.number != expected)
        {
            return Err(ConfigError::VersionNumbering {
                field: "versions".into(),
            });
        }
        let mut versions = versions.into_iter();
        let first = versions.next().ok_or(ConfigError::NoVersion {
            field: "versions".into(),
        })?;
        Ok(Self {
            policy,
            kind: UserFlowKind::SignUpSignIn,
            first,
            later: versions.collect(),
        })
    }

    /// Saves changed settings as a new version and returns it; on error nothing changes.
    pub fn revise(
        &mut self,
        settings: FlowSettings,
        tenant_providers: &[ProviderId],
        now: OffsetDateTime,
    ) -> Result<&UserFlowVersion, ConfigError> {
        settings.validate(tenant_providers)?;
        let number = self.current().number + 1;
        self.later.push(UserFlowVersion {
            number,
            created_at: now,
            settings,
        });
        Ok(self.current())
    }

    /// The policy id.
    pub fn policy(&self) -> &PolicyId {
        &self.policy
    }

    /// The kind of flow.
    pub fn kind(&self) -> UserFlowKind {
        self.kind
    }

    /// The version new sign-ins start on: the last one.
    pub fn current(&self) -> &UserFlowVersion {
        self.later.last().unwrap_or(&self.first)
    }

    /// A given version (the one a sign-in in progress started with).
    pub fn version(&self, number: u32) -> Option<&UserFlowVersion> {
        match number {
            0 => None,
            1 => Some(&self.first),
            n => self.later.get(usize::try_from(n - 2).ok()?),
        }
    }

    /// All versions, oldest first.
    pub fn versions(&self) -> impl Iterator<Item = &UserFlowVersion> {
        std::iter::once(&self.first).chain(&self.later)
    }
}
