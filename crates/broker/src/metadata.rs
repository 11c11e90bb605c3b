//! An upstream provider's discovery document (OpenID Connect Discovery 1.0 §3, §4.3) and JWKS, validated for the
//! metadata URL and the identity-provider settings they belong to. The service runs this when a provider is saved,
//! so a wrong URL or a broken provider is a clear error then, not at the first sign-in.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tessera_oidc::{JwkSet, ResponseMode, SigningAlg, VerifyingKey};
use time::{Duration, OffsetDateTime};
use url::Url;

use crate::config::{IdentityProvider, MetadataUrl, check_web_url};

/// Why a provider's discovery document was refused. Each names the member that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// The document is not JSON.
    #[error("the discovery document is not JSON")]
    NotJson,
    /// The document is JSON but not an object.
    #[error("the discovery document is not a JSON object")]
    NotAnObject,
    /// A required member is absent.
    #[error("the discovery document has no {field}")]
    Missing {
        /// The member.
        field: &'static str,
    },
    /// A member has the wrong JSON type.
    #[error("{field} in the discovery document has the wrong type")]
    WrongType {
        /// The member.
        field: &'static str,
    },
    /// An endpoint or the issuer is not an absolute URL.
    #[error("{field} is not an absolute URL: {value}")]
    NotAUrl {
        /// The member.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// An endpoint or the issuer uses `http` off loopback.
    #[error("{field} must use https (http only on loopback hosts): {value}")]
    NotHttps {
        /// The member.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// An endpoint or the issuer has a fragment, or the issuer a query string.
    #[error("{field} must not contain a query string or fragment: {value}")]
    QueryOrFragment {
        /// The member.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// The `issuer` is not the metadata URL's prefix (Discovery §4.3).
    #[error("issuer {found} is not the metadata URL's issuer {expected}")]
    IssuerMismatch {
        /// What the metadata URL implies.
        expected: String,
        /// What the document says.
        found: String,
    },
    /// `response_types_supported` lacks `code`.
    #[error("response_types_supported does not include code")]
    CodeNotSupported,
    /// The configured response mode is not among `response_modes_supported` (default `query`, `fragment`).
    #[error(
        "response_modes_supported does not include {mode}, which the identity provider is configured to use"
    )]
    ResponseModeNotSupported {
        /// The configured mode.
        mode: &'static str,
    },
    /// The provider is configured with `response_mode=fragment`, which only script in a browser can read.
    #[error(
        "response mode fragment cannot be used with an identity provider (the broker cannot read a URL fragment): use form_post or query"
    )]
    FragmentUpstream,
    /// None of `id_token_signing_alg_values_supported` is one the broker accepts (RS256, ES256).
    #[error(
        "id_token_signing_alg_values_supported offers none of RS256, ES256 (offered: {offered})"
    )]
    NoAcceptedSigningAlgorithm {
        /// What the provider offers.
        offered: String,
    },
    /// `scopes_supported` is present and lacks `openid`.
    #[error("scopes_supported does not include openid")]
    OpenidScopeNotSupported,
    /// The configured client authentication is not among `token_endpoint_auth_methods_supported` (default
    /// `client_secret_basic`).
    #[error(
        "token_endpoint_auth_methods_supported does not include {method}, which the identity provider is configured to use"
    )]
    ClientAuthNotSupported {
        /// The configured method.
        method: &'static str,
    },
}

/// The parts of a provider's metadata the broker uses, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderMetadata {
    /// The issuer, compared byte for byte with ID tokens' `iss` and the authorization response's `iss`.
    pub issuer: String,
    /// Authorization endpoint.
    pub authorization_endpoint: String,
    /// Token endpoint.
    pub token_endpoint: String,
    /// Userinfo endpoint, if the provider has one.
    pub userinfo_endpoint: Option<String>,
    /// The provider's keys.
    pub jwks_uri: String,
    /// RP-initiated logout, if offered.
    pub end_session_endpoint: Option<String>,
    /// The ID-token algorithms the broker will accept from this provider: the provider's list intersected with
    /// RS256 and ES256.
    pub id_token_signing_algs: Vec<SigningAlg>,
    /// RFC 9207 `authorization_response_iss_parameter_supported`: when true, responses without `iss` are refused.
    pub iss_parameter_supported: bool,
    /// `claims_supported` as published (`None` when absent or not a list of strings): the claims the provider may
    /// supply at all, so that userinfo is not fetched for a mapped claim the provider never gives
    /// ([`ProviderMetadata::may_supply`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims_supported: Option<Vec<String>>,
    /// `acr_values_supported` as published (`None` when absent or not a list of strings): the authentication
    /// context classes the broker may ask for with `acr_values` when the flow requires multi-factor or
    /// phishing-resistant sign-ins ([`ProviderMetadata::supported_acr_values`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr_values_supported: Option<Vec<String>>,
}

impl ProviderMetadata {
    /// Whether the provider may supply `claim` (Discovery §3 `claims_supported`: "the Claim Names of the Claims
    /// that the OpenID Provider MAY be able to supply values for"); every claim when it publishes no list.
    pub fn may_supply(&self, claim: &str) -> bool {
        self.claims_supported
            .as_ref()
            .is_none_or(|list| list.iter().any(|c| c == claim))
    }

    /// The values of `wanted` (in its order) that the provider advertises in `acr_values_supported`; none when it
    /// publishes no list, since an unknown value may make a provider refuse the request.
    pub fn supported_acr_values<'w>(&self, wanted: &[&'w str]) -> Vec<&'w str> {
        let Some(supported) = &self.acr_values_supported else {
            return Vec::new();
        };
        wanted
            .iter()
            .copied()
            .filter(|w| supported.iter().any(|s| s == w))
            .collect()
    }
}

/// Validates a discovery document fetched from `provider`'s metadata URL.
///
/// Checks, each with its own error: JSON object; `issuer` present, an `https` URL (or `http` on loopback) without
/// query or fragment, and equal to the URL's prefix (Discovery §4.3; a trailing `/` on the issuer is accepted, as
/// §4.1 strips it before appending the well-known path); `authorization_endpoint`, `token_endpoint` and `jwks_uri`
/// present and `https` off loopback (and `userinfo_endpoint`, `end_session_endpoint` if present); `code` among
/// `response_types_supported`; the configured response mode among `response_modes_supported`; RS256 or ES256
/// among `id_token_signing_alg_values_supported`; `openid` among `scopes_supported` if listed; the configured
/// client authentication among `token_endpoint_auth_methods_supported`.
pub fn validate_provider_metadata(
    provider: &IdentityProvider,
    document: &[u8],
) -> Result<ProviderMetadata, MetadataError> {
    let url: &MetadataUrl = &provider.metadata_url;
    let value: Value = serde_json::from_slice(document).map_err(|_| MetadataError::NotJson)?;
    let Value::Object(doc) = value else {
        return Err(MetadataError::NotAnObject);
    };

    let issuer = required_str(&doc, "issuer")?;
    let issuer_url = endpoint(issuer, "issuer")?;
    if issuer_url.query().is_some() {
        return Err(MetadataError::QueryOrFragment {
            field: "issuer",
            value: issuer.into(),
        });
    }
    let expected = url.issuer_prefix();
    if issuer != expected && issuer.strip_suffix('/') != Some(expected) {
        return Err(MetadataError::IssuerMismatch {
            expected: expected.into(),
            found: issuer.into(),
        });
    }

    let authorization_endpoint = required_endpoint(&doc, "authorization_endpoint")?;
    let token_endpoint = required_endpoint(&doc, "token_endpoint")?;
    let jwks_uri = required_endpoint(&doc, "jwks_uri")?;
    let userinfo_endpoint = optional_endpoint(&doc, "userinfo_endpoint")?;
    let end_session_endpoint = optional_endpoint(&doc, "end_session_endpoint")?;

    let response_types = required_str_list(&doc, "response_types_supported")?;
    // Each entry is a space-separated combination; we need the one that is exactly `code`.
    if !response_types.iter().any(|t| {
        let mut parts = t.split_ascii_whitespace();
        parts.next() == Some("code") && parts.next().is_none()
    }) {
        return Err(MetadataError::CodeNotSupported);
    }

    // Discovery §3: when omitted, the default is ["query", "fragment"].
    let modes = optional_str_list(&doc, "response_modes_supported")?
        .unwrap_or_else(|| vec!["query".into(), "fragment".into()]);
    let mode = provider.response_mode;
    if mode == ResponseMode::Fragment {
        return Err(MetadataError::FragmentUpstream);
    }
    if !modes.iter().any(|m| m == mode.as_str()) {
        return Err(MetadataError::ResponseModeNotSupported {
            mode: mode.as_str(),
        });
    }

    let offered = required_str_list(&doc, "id_token_signing_alg_values_supported")?;
    let id_token_signing_algs: Vec<SigningAlg> = [SigningAlg::Rs256, SigningAlg::Es256]
        .into_iter()
        .filter(|alg| offered.iter().any(|o| o == alg.as_str()))
        .collect();
    if id_token_signing_algs.is_empty() {
        return Err(MetadataError::NoAcceptedSigningAlgorithm {
            offered: offered.join(" "),
        });
    }

    if let Some(scopes) = optional_str_list(&doc, "scopes_supported")?
        && !scopes.iter().any(|s| s == "openid")
    {
        return Err(MetadataError::OpenidScopeNotSupported);
    }

    // Discovery §3: when omitted, the default is client_secret_basic.
    let methods = optional_str_list(&doc, "token_endpoint_auth_methods_supported")?
        .unwrap_or_else(|| vec!["client_secret_basic".into()]);
    if !methods.iter().any(|m| m == provider.client_auth.as_str()) {
        return Err(MetadataError::ClientAuthNotSupported {
            method: provider.client_auth.as_str(),
        });
    }

    let iss_parameter_supported = match doc.get("authorization_response_iss_parameter_supported") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(MetadataError::WrongType {
                field: "authorization_response_iss_parameter_supported",
            });
        }
    };

    Ok(ProviderMetadata {
        issuer: issuer.into(),
        authorization_endpoint,
        token_endpoint,
        userinfo_endpoint,
        jwks_uri,
        end_session_endpoint,
        id_token_signing_algs,
        iss_parameter_supported,
        // Informational only: a malformed list is treated as none published (userinfo is fetched as before).
        claims_supported: optional_str_list(&doc, "claims_supported").ok().flatten(),
        acr_values_supported: optional_str_list(&doc, "acr_values_supported")
            .ok()
            .flatten(),
    })
}

fn required_str<'a>(
    doc: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, MetadataError> {
    match doc.get(field) {
        None | Some(Value::Null) => Err(MetadataError::Missing { field }),
        Some(Value::String(s)) if s.is_empty() => Err(MetadataError::Missing { field }),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(MetadataError::WrongType { field }),
    }
}

fn endpoint(value: &str, field: &'static str) -> Result<Url, MetadataError> {
    check_web_url(value, field).map_err(|e| match e {
        crate::config::ConfigError::InsecureUrl { .. } => MetadataError::NotHttps {
            field,
            value: value.into(),
        },
        crate::config::ConfigError::UrlFragment { .. } => MetadataError::QueryOrFragment {
            field,
            value: value.into(),
        },
        _ => MetadataError::NotAUrl {
            field,
            value: value.into(),
        },
    })
}

fn required_endpoint(
    doc: &Map<String, Value>,
    field: &'static str,
) -> Result<String, MetadataError> {
    let value = required_str(doc, field)?;
    endpoint(value, field)?;
    Ok(value.into())
}

fn optional_endpoint(
    doc: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, MetadataError> {
    match doc.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => required_endpoint(doc, field).map(Some),
    }
}

fn optional_str_list(
    doc: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<Vec<String>>, MetadataError> {
    match doc.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or(MetadataError::WrongType { field })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(MetadataError::WrongType { field }),
    }
}

fn required_str_list(
    doc: &Map<String, Value>,
    field: &'static str,
) -> Result<Vec<String>, MetadataError> {
    optional_str_list(doc, field)?.ok_or(MetadataError::Missing { field })
}

/// Why a provider's JWKS was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// Not a JWK Set document (RFC 7517 §5).
    #[error("the JWKS is not a JSON object with a keys array")]
    NotAJwkSet,
    /// No key the broker can verify ID tokens with (RSA of at least 2048 bits for RS256, P-256 for ES256).
    #[error("the JWKS has no usable signing key (RSA 2048+ or EC P-256, use=sig)")]
    NoUsableKey,
    /// Two signing keys share a `kid`, so a token's `kid` could not choose between them.
    #[error("two signing keys in the JWKS share the kid {kid}")]
    DuplicateKid {
        /// The shared kid.
        kid: String,
    },
}

/// A provider's signing keys, parsed from its JWKS. Keys that cannot verify signatures (encryption keys, unknown
/// types, short RSA moduli) are left out.
#[derive(Debug, Clone)]
pub struct ProviderKeys {
    keys: Vec<VerifyingKey>,
}

impl ProviderKeys {
    /// Parses a JWKS document.
    pub fn parse(document: &[u8]) -> Result<Self, JwksError> {
        let set: JwkSet = serde_json::from_slice(document).map_err(|_| JwksError::NotAJwkSet)?;
        let keys = set.verifying_keys();
        if keys.is_empty() {
            return Err(JwksError::NoUsableKey);
        }
        let mut kids = HashSet::new();
        for key in &keys {
            if let Some(kid) = key.kid()
                && !kids.insert(kid)
            {
                return Err(JwksError::DuplicateKid { kid: kid.into() });
            }
        }
        Ok(Self { keys })
    }

    /// The keys.
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }
}

/// How long fetched metadata and JWKS are used before the scheduled refresh.
pub const METADATA_REFRESH_INTERVAL: Duration = Duration::hours(24);

/// The least time between two JWKS fetches of one provider. An unknown `kid` asks for a refetch, and anyone can
/// send a token with a made-up `kid`; this bound keeps that from turning the broker into a request amplifier.
pub const MIN_JWKS_REFETCH_INTERVAL: Duration = Duration::minutes(1);

/// Whether the scheduled refresh of metadata and JWKS fetched at `fetched_at` is due.
pub fn refresh_due(fetched_at: OffsetDateTime, now: OffsetDateTime) -> bool {
    now - fetched_at >= METADATA_REFRESH_INTERVAL
}

/// Whether an unknown `kid` may refetch the JWKS last fetched at `fetched_at`. When not, the ID token is refused
/// as it stands.
pub fn jwks_refetch_allowed(fetched_at: OffsetDateTime, now: OffsetDateTime) -> bool {
    now - fetched_at >= MIN_JWKS_REFETCH_INTERVAL
}
