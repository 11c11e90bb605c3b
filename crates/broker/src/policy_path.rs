//! The URL shapes apps written for Azure AD B2C use, parsed into (tenant, policy, endpoint), and the broker's own
//! endpoint URLs for its discovery document.
//!
//! Shapes (the policy compares case-insensitively: MSAL.js lowercases the whole authority):
//! - `/{tenant}/{policy}/{suffix}`: the authority `https://host/{tenant}/{policy}` that MSAL.js/msal-node use
//!   (discovery at `{authority}/v2.0/.well-known/openid-configuration`);
//! - `/tfp/{tenant}/{policy}/{suffix}`: the form MSAL.NET, Java, iOS and Android recognise as B2C;
//! - `/{tenant}/{suffix}?p={policy}`: the policy as a query parameter;
//! - `/{tenant}/oauth2/authresp`: the per-tenant redirect URI registered at upstream providers.
//!
//! Suffixes: `v2.0/.well-known/openid-configuration`, `discovery/v2.0/keys`, `oauth2/v2.0/authorize`,
//! `oauth2/v2.0/token`, `oauth2/v2.0/logout`, `openid/v2.0/userinfo`.

use tessera_core::TenantId;
use tessera_oidc::discovery::{Endpoints, ProviderMetadata};

use crate::config::PolicyId;

/// A broker endpoint under a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyEndpoint {
    /// `v2.0/.well-known/openid-configuration`.
    Discovery,
    /// `discovery/v2.0/keys`.
    Keys,
    /// `oauth2/v2.0/authorize`.
    Authorize,
    /// `oauth2/v2.0/token`.
    Token,
    /// `oauth2/v2.0/logout`.
    Logout,
    /// `openid/v2.0/userinfo`.
    Userinfo,
}

impl PolicyEndpoint {
    const ALL: [Self; 6] = [
        Self::Discovery,
        Self::Keys,
        Self::Authorize,
        Self::Token,
        Self::Logout,
        Self::Userinfo,
    ];

    /// The path after `/{tenant}/{policy}/`.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Discovery => "v2.0/.well-known/openid-configuration",
            Self::Keys => "discovery/v2.0/keys",
            Self::Authorize => "oauth2/v2.0/authorize",
            Self::Token => "oauth2/v2.0/token",
            Self::Logout => "oauth2/v2.0/logout",
            Self::Userinfo => "openid/v2.0/userinfo",
        }
    }

    fn from_segments(segments: &[&str]) -> Option<Self> {
        Self::ALL.into_iter().find(|endpoint| {
            let mut expected = endpoint.suffix().split('/');
            let mut given = segments.iter();
            loop {
                match (expected.next(), given.next()) {
                    (None, None) => return true,
                    (Some(e), Some(g)) if e.eq_ignore_ascii_case(g) => {}
                    _ => return false,
                }
            }
        })
    }
}

/// Where the policy came from, for logs and for answering in the same shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySource {
    /// `/{tenant}/{policy}/...`.
    Path,
    /// `/tfp/{tenant}/{policy}/...`.
    Tfp,
    /// `/{tenant}/...?p={policy}`.
    Query,
}

/// A parsed broker route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerRoute {
    /// An endpoint of a user flow.
    Policy {
        /// The tenant (lowercased: B2C tenant names are case-insensitive).
        tenant: TenantId,
        /// The policy, as the app wrote it; look the flow up with [`PolicyId::key`].
        policy: PolicyId,
        /// Which endpoint.
        endpoint: PolicyEndpoint,
        /// Where the policy came from.
        source: PolicySource,
    },
    /// `/{tenant}/oauth2/authresp`: a provider's authorization response.
    AuthResponse {
        /// The tenant.
        tenant: TenantId,
    },
}

/// Why a path is not a broker route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyPathError {
    /// No known shape matches (the HTTP layer answers 404).
    #[error("not a broker URL")]
    UnknownShape,
    /// The tenant segment is not a tenant id.
    #[error("the tenant in the URL is not a valid tenant id")]
    InvalidTenant,
    /// The policy segment or `p` value is not `B2C_1_<name>`.
    #[error("the policy in the URL is not a user flow policy id (B2C_1_<name>)")]
    InvalidPolicy,
    /// An endpoint without a policy in the path and no `p` parameter.
    #[error("the URL names no policy (add it to the path or as p=)")]
    PolicyMissing,
    /// `p` given twice.
    #[error("the p parameter is repeated")]
    DuplicatePolicyParameter,
    /// A policy in the path and a different one in `p`.
    #[error("the policy in the path and the p parameter differ")]
    ConflictingPolicy,
}

/// Tenant names that would make URLs ambiguous; the service must refuse creating broker tenants with them.
pub const RESERVED_TENANT_NAMES: [&str; 4] = ["tfp", "admin", "demo", "static"];

/// Parses a request path (without the query) and its raw query string into a broker route.
pub fn parse_broker_path(path: &str, query: Option<&str>) -> Result<BrokerRoute, PolicyPathError> {
    let segments: Vec<&str> = path
        .strip_prefix('/')
        .ok_or(PolicyPathError::UnknownShape)?
        .split('/')
        .collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(PolicyPathError::UnknownShape);
    }
    let query_policy = query_policy(query)?;
    let tenant = |segment: &str| {
        TenantId::parse(&segment.to_ascii_lowercase()).map_err(|_| PolicyPathError::InvalidTenant)
    };

    if let [first, tenant_segment, policy_segment, rest @ ..] = segments.as_slice()
        && first.eq_ignore_ascii_case("tfp")
    {
        let endpoint = PolicyEndpoint::from_segments(rest).ok_or(PolicyPathError::UnknownShape)?;
        let policy = PolicyId::parse(policy_segment).map_err(|_| PolicyPathError::InvalidPolicy)?;
        return with_query_check(
            tenant(tenant_segment)?,
            policy,
            endpoint,
            PolicySource::Tfp,
            query_policy,
        );
    }

    match segments.as_slice() {
        [tenant_segment, oauth2, authresp]
            if oauth2.eq_ignore_ascii_case("oauth2")
                && authresp.eq_ignore_ascii_case("authresp") =>
        {
            Ok(BrokerRoute::AuthResponse {
                tenant: tenant(tenant_segment)?,
            })
        }
        [tenant_segment, rest @ ..] => {
            if let Some(endpoint) = PolicyEndpoint::from_segments(rest) {
                let policy = query_policy.ok_or(PolicyPathError::PolicyMissing)?;
                return Ok(BrokerRoute::Policy {
                    tenant: tenant(tenant_segment)?,
                    policy,
                    endpoint,
                    source: PolicySource::Query,
                });
            }
            let [policy_segment, rest @ ..] = rest else {
                return Err(PolicyPathError::UnknownShape);
            };
            let endpoint =
                PolicyEndpoint::from_segments(rest).ok_or(PolicyPathError::UnknownShape)?;
            let policy =
                PolicyId::parse(policy_segment).map_err(|_| PolicyPathError::InvalidPolicy)?;
            with_query_check(
                tenant(tenant_segment)?,
                policy,
                endpoint,
                PolicySource::Path,
                query_policy,
            )
        }
        [] => Err(PolicyPathError::UnknownShape),
    }
}

fn with_query_check(
    tenant: TenantId,
    policy: PolicyId,
    endpoint: PolicyEndpoint,
    source: PolicySource,
    query_policy: Option<PolicyId>,
) -> Result<BrokerRoute, PolicyPathError> {
    if query_policy.is_some_and(|q| q != policy) {
        return Err(PolicyPathError::ConflictingPolicy);
    }
    Ok(BrokerRoute::Policy {
        tenant,
        policy,
        endpoint,
        source,
    })
}

fn query_policy(query: Option<&str>) -> Result<Option<PolicyId>, PolicyPathError> {
    let Some(query) = query else {
        return Ok(None);
    };
    let mut values = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "p")
        .map(|(_, v)| v.into_owned());
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(_), Some(_)) => Err(PolicyPathError::DuplicatePolicyParameter),
        (Some(p), None) => PolicyId::parse(&p)
            .map(Some)
            .map_err(|_| PolicyPathError::InvalidPolicy),
    }
}

/// The broker's URLs for one tenant and policy, in the path form, as its discovery document lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyUrls {
    /// The issuer: `{base}/{tenant}/{policy}/v2.0`, so that the discovery URL is `{issuer}/.well-known/...` as
    /// OpenID Connect Discovery requires (Azure AD B2C's issuer does not follow that rule; MSAL does not check it).
    pub issuer: String,
    /// `{base}/{tenant}/{policy}/v2.0/.well-known/openid-configuration`.
    pub discovery: String,
    /// `{base}/{tenant}/{policy}/discovery/v2.0/keys`.
    pub jwks: String,
    /// `{base}/{tenant}/{policy}/oauth2/v2.0/authorize`.
    pub authorize: String,
    /// `{base}/{tenant}/{policy}/oauth2/v2.0/token`.
    pub token: String,
    /// `{base}/{tenant}/{policy}/oauth2/v2.0/logout` (MSAL requires `end_session_endpoint`).
    pub logout: String,
    /// `{base}/{tenant}/{policy}/openid/v2.0/userinfo`.
    pub userinfo: String,
    /// `{base}/{tenant}/oauth2/authresp`: the redirect URI to register at upstream providers.
    pub auth_response: String,
}

impl PolicyUrls {
    /// The URLs under `base` (the public origin and path prefix, no trailing slash needed), with the policy as
    /// configured.
    pub fn of(base: &str, tenant: &TenantId, policy: &PolicyId) -> Self {
        let base = base.trim_end_matches('/');
        let root = format!("{base}/{tenant}/{policy}");
        let url = |endpoint: PolicyEndpoint| format!("{root}/{}", endpoint.suffix());
        Self {
            issuer: format!("{root}/v2.0"),
            discovery: url(PolicyEndpoint::Discovery),
            jwks: url(PolicyEndpoint::Keys),
            authorize: url(PolicyEndpoint::Authorize),
            token: url(PolicyEndpoint::Token),
            logout: url(PolicyEndpoint::Logout),
            userinfo: url(PolicyEndpoint::Userinfo),
            auth_response: format!("{base}/{tenant}/oauth2/authresp"),
        }
    }
}

/// The claims the broker's app tokens can carry (Azure AD B2C's names).
pub const BROKER_CLAIMS_SUPPORTED: [&str; 22] = [
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "sub",
    "oid",
    "tfp",
    "ver",
    "auth_time",
    "acr",
    "amr",
    "nonce",
    "at_hash",
    "sid",
    "idp",
    "newUser",
    "emails",
    "name",
    "given_name",
    "family_name",
    "extension_*",
];

impl PolicyUrls {
    /// The broker's discovery document for this policy: the OpenID Provider metadata of `tessera-oidc` with the
    /// broker's endpoints, its claims, and the client authentication its applications use (a secret, or none for
    /// public clients with PKCE). MSAL reads `issuer`, `authorization_endpoint`, `token_endpoint`,
    /// `end_session_endpoint` and `jwks_uri`.
    pub fn provider_metadata(&self) -> ProviderMetadata {
        let mut metadata = ProviderMetadata::new(
            &self.issuer,
            Endpoints {
                authorization: self.authorize.clone(),
                token: self.token.clone(),
                userinfo: self.userinfo.clone(),
                jwks: self.jwks.clone(),
                end_session: self.logout.clone(),
            },
        );
        metadata.claims_supported = BROKER_CLAIMS_SUPPORTED.to_vec();
        metadata.token_endpoint_auth_methods_supported =
            vec!["client_secret_basic", "client_secret_post", "none"];
        metadata.token_endpoint_auth_signing_alg_values_supported = Vec::new();
        metadata
    }
}
