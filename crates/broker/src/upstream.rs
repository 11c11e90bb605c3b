//! The broker as a relying party of an upstream OpenID Provider: the authorization request (state, nonce, PKCE
//! S256), the authorization response (state, RFC 9207 `iss`, provider errors), the token request and response, the
//! ID token (OIDC Core §3.1.3.7, with algorithms pinned) and the userinfo response (OIDC Core §5.3.2).
//!
//! The service keeps an [`UpstreamTransaction`] between the redirect and the response, performs the HTTP calls,
//! and on [`IdTokenError::KeyNotInJwks`] refetches the JWKS once and validates again.

use std::fmt;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64_STD, URL_SAFE_NO_PAD as B64};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tessera_core::Secret;
use tessera_oidc::error::sanitize_description;
use tessera_oidc::jose::{peek_unverified, verify_jws};
use tessera_oidc::keys::JwsAlg;
use tessera_oidc::pkce::s256_challenge;
use tessera_oidc::{ErrorCode, OidcError, ResponseMode, SigningAlg, VerifyingKey};
use time::{Duration, OffsetDateTime};
use url::Url;

use crate::config::{IdentityProvider, ProviderId, UpstreamClientAuth};
use crate::metadata::{ProviderKeys, ProviderMetadata};

/// The clock skew tolerated on `exp`, `iat` and `nbf` (the OpenID Foundation suite allows ±5 minutes).
pub const DEFAULT_SKEW: Duration = Duration::minutes(5);

/// Fresh random bytes for one authorization request, from the caller's CSPRNG. Each becomes 43 base64url
/// characters: the `state`, the `nonce`, and the PKCE `code_verifier` (RFC 7636 §4.1 asks for 32 octets).
#[derive(Clone)]
pub struct UpstreamRandomness {
    /// For `state`.
    pub state: [u8; 32],
    /// For `nonce`.
    pub nonce: [u8; 32],
    /// For the PKCE `code_verifier`.
    pub code_verifier: [u8; 32],
}

impl fmt::Debug for UpstreamRandomness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UpstreamRandomness([redacted])")
    }
}

/// Options passed through from the app's request.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpstreamOptions<'a> {
    /// The app asked for `prompt=login`: the provider must authenticate the user again.
    pub prompt_login: bool,
    /// A `login_hint` to pass on.
    pub login_hint: Option<&'a str>,
    /// `ui_locales` to pass on.
    pub ui_locales: Option<&'a str>,
    /// The app's `max_age` (seconds), passed on: the provider must have authenticated the user within it, and the
    /// ID token must then carry `auth_time` (OIDC Core §3.1.2.1), which [`validate_id_token`] checks.
    pub max_age: Option<u64>,
    /// `acr_values` to ask for (space-separated, in order of preference): what the flow will require of the
    /// upstream sign-in (multi-factor, phishing-resistant), among the values the provider advertises.
    pub acr_values: Option<&'a str>,
}

/// A PKCE code verifier; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CodeVerifier(String);

impl CodeVerifier {
    /// The verifier, for the token request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeVerifier([redacted])")
    }
}

/// What the broker remembers about a redirect to a provider until the response comes back. The service stores it
/// (keyed by a hash of `state`) together with the app's request and the flow version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamTransaction {
    /// The provider the user was sent to.
    pub provider_id: ProviderId,
    /// Its issuer at that time: the authorization response's `iss` and the ID token's `iss` must equal it.
    pub issuer: String,
    /// The broker's client id at the provider.
    pub client_id: String,
    /// The `redirect_uri` sent (the token request repeats it).
    pub redirect_uri: String,
    /// The `state` sent.
    pub state: String,
    /// The `nonce` sent.
    pub nonce: String,
    /// The PKCE verifier whose S256 challenge was sent.
    pub code_verifier: CodeVerifier,
    /// How the response comes back.
    pub response_mode: ResponseMode,
    /// Whether the provider promised the RFC 9207 `iss` parameter.
    pub iss_parameter_required: bool,
    /// The algorithms accepted on this provider's ID tokens.
    pub id_token_signing_algs: Vec<SigningAlg>,
    /// The `max_age` sent: the ID token's `auth_time` must be present and within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u64>,
    /// Whether `prompt=login` was sent: an `auth_time` before the redirect shows the provider did not
    /// authenticate the user again.
    #[serde(default)]
    pub prompt_login: bool,
    /// When the redirect was made.
    #[serde(with = "time::serde::timestamp")]
    pub started_at: OffsetDateTime,
}

/// The redirect to the provider and the transaction to keep.
#[derive(Debug, Clone)]
pub struct AuthorizationRedirect {
    /// The URL to send the browser to.
    pub url: String,
    /// What to keep until the response.
    pub transaction: UpstreamTransaction,
}

/// Why an authorization request could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The provider's authorization endpoint does not parse (metadata not validated?).
    #[error("the provider's authorization endpoint is not a URL")]
    AuthorizationEndpoint,
    /// The metadata belongs to another provider than the one configured.
    #[error("the metadata given is not this provider's")]
    MetadataMismatch,
}

/// Builds the authorization request (OIDC Core §3.1.2.1) to `provider`: `response_type=code`, the configured
/// `scope` and `response_mode`, `state`, `nonce`, PKCE S256 (RFC 7636), `prompt=login` when the app asked for it,
/// the app's `max_age`, and the `acr_values` the flow asks for.
/// Parameters are appended to the endpoint's own query (RFC 6749 §3.1) with form encoding.
pub fn authorization_request(
    provider: &IdentityProvider,
    metadata: &ProviderMetadata,
    redirect_uri: &str,
    randomness: &UpstreamRandomness,
    options: UpstreamOptions<'_>,
    now: OffsetDateTime,
) -> Result<AuthorizationRedirect, RequestError> {
    if provider.metadata_url.issuer_prefix() != metadata.issuer.trim_end_matches('/') {
        return Err(RequestError::MetadataMismatch);
    }
    let state = B64.encode(randomness.state);
    let nonce = B64.encode(randomness.nonce);
    let verifier = B64.encode(randomness.code_verifier);
    let mut url = Url::parse(&metadata.authorization_endpoint)
        .map_err(|_| RequestError::AuthorizationEndpoint)?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("client_id", &provider.client_id)
            .append_pair("response_type", provider.response_type.as_str())
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &provider.scope_string())
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &s256_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        if provider.response_mode == ResponseMode::FormPost {
            query.append_pair("response_mode", "form_post");
        }
        if options.prompt_login {
            query.append_pair("prompt", "login");
        }
        if let Some(hint) = options.login_hint {
            query.append_pair("login_hint", hint);
        }
        if let Some(locales) = options.ui_locales {
            query.append_pair("ui_locales", locales);
        }
        if let Some(max_age) = options.max_age {
            query.append_pair("max_age", &max_age.to_string());
        }
        if let Some(acr_values) = options.acr_values.filter(|v| !v.trim().is_empty()) {
            query.append_pair("acr_values", acr_values);
        }
    }
    Ok(AuthorizationRedirect {
        url: url.into(),
        transaction: UpstreamTransaction {
            provider_id: provider.id.clone(),
            issuer: metadata.issuer.clone(),
            client_id: provider.client_id.clone(),
            redirect_uri: redirect_uri.into(),
            state,
            nonce,
            code_verifier: CodeVerifier(verifier),
            response_mode: provider.response_mode,
            iss_parameter_required: metadata.iss_parameter_supported,
            id_token_signing_algs: metadata.id_token_signing_algs.clone(),
            max_age: options.max_age,
            prompt_login: options.prompt_login,
            started_at: now,
        },
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Authorization response

/// A provider's authorization response, judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationOutcome {
    /// A code to redeem at the token endpoint.
    Code(Secret),
    /// The provider refused or the user cancelled: pass [`ProviderDenial::app_error`] to the app.
    Denied(ProviderDenial),
}

/// An error the provider returned (RFC 6749 §4.1.2.1), with what the app should receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderDenial {
    /// The provider's `error`, sanitized, for the log.
    pub upstream_error: String,
    /// The provider's `error_description`, sanitized, for the log.
    pub upstream_description: Option<String>,
    /// The error code to send to the app's reply URL with its `state`.
    pub app_error: ErrorCode,
    /// The `error_description` to send to the app.
    pub app_description: String,
}

/// Why an authorization response was refused (nothing in it may be used).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorizationResponseError {
    /// A parameter appears twice (RFC 6749 §3.1).
    #[error("the authorization response repeats the {name} parameter")]
    DuplicateParameter {
        /// The parameter.
        name: &'static str,
    },
    /// No `state`.
    #[error("the authorization response has no state")]
    StateMissing,
    /// `state` differs from the one sent.
    #[error("the authorization response's state is not the one sent")]
    StateMismatch,
    /// No `iss`, though the provider advertises `authorization_response_iss_parameter_supported` (RFC 9207 §2.4).
    #[error("the authorization response has no iss, though the provider promised it")]
    IssMissing,
    /// `iss` is not the issuer of the provider the transaction started with (mix-up, RFC 9207 §2.4).
    #[error(
        "the authorization response's iss {found} is not the issuer {expected} the sign-in was sent to"
    )]
    IssMismatch {
        /// The transaction's issuer.
        expected: String,
        /// The response's `iss`.
        found: String,
    },
    /// Neither `code` nor `error`.
    #[error("the authorization response has neither code nor error")]
    CodeMissing,
    /// Both `code` and `error`.
    #[error("the authorization response has both code and error")]
    CodeAndError,
}

/// Judges the parameters of the authorization response (query or form body) against the transaction: no repeated
/// parameter, `state` equal (compared in constant time), `iss` equal to the transaction's issuer when present and
/// required when the provider advertises it (RFC 9207), then either the code or the provider's error mapped to
/// what the app receives.
pub fn validate_authorization_response(
    params: &[(String, String)],
    transaction: &UpstreamTransaction,
) -> Result<AuthorizationOutcome, AuthorizationResponseError> {
    let get = |name: &'static str| -> Result<Option<&str>, AuthorizationResponseError> {
        let mut values = params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (_, Some(_)) => Err(AuthorizationResponseError::DuplicateParameter { name }),
            (value, None) => Ok(value),
        }
    };
    let state = get("state")?.ok_or(AuthorizationResponseError::StateMissing)?;
    if verify_slices_are_equal(state.as_bytes(), transaction.state.as_bytes()).is_err() {
        return Err(AuthorizationResponseError::StateMismatch);
    }
    match get("iss")? {
        Some(iss) if iss != transaction.issuer => {
            return Err(AuthorizationResponseError::IssMismatch {
                expected: transaction.issuer.clone(),
                found: iss.into(),
            });
        }
        None if transaction.iss_parameter_required => {
            return Err(AuthorizationResponseError::IssMissing);
        }
        _ => {}
    }
    let code = get("code")?;
    let error = get("error")?;
    let description = get("error_description")?;
    match (code, error) {
        (Some(_), Some(_)) => Err(AuthorizationResponseError::CodeAndError),
        (Some(code), None) if !code.is_empty() => Ok(AuthorizationOutcome::Code(Secret::new(code))),
        (_, Some(error)) => Ok(AuthorizationOutcome::Denied(map_provider_error(
            error,
            description,
        ))),
        _ => Err(AuthorizationResponseError::CodeMissing),
    }
}

/// Maps a provider's `error` to the app's: a user's refusal and the `prompt=none` outcomes pass through,
/// `temporarily_unavailable` too; anything else means the broker or the provider is misconfigured, and the app
/// gets `server_error` (the operator's log keeps the provider's words).
fn map_provider_error(error: &str, description: Option<&str>) -> ProviderDenial {
    let upstream_error = sanitize_description(error);
    let upstream_description = description.map(sanitize_description);
    let (app_error, default_text) = match error {
        "access_denied" => (
            ErrorCode::AccessDenied,
            "The user cancelled or was refused at the identity provider.",
        ),
        "login_required" => (ErrorCode::LoginRequired, "The user must sign in."),
        "interaction_required" => (
            ErrorCode::InteractionRequired,
            "The identity provider needs the user to interact.",
        ),
        "consent_required" => (ErrorCode::ConsentRequired, "The user must give consent."),
        "account_selection_required" => (
            ErrorCode::AccountSelectionRequired,
            "The user must choose an account.",
        ),
        "temporarily_unavailable" => (
            ErrorCode::TemporarilyUnavailable,
            "The identity provider is temporarily unavailable.",
        ),
        _ => (
            ErrorCode::ServerError,
            "The identity provider could not complete the sign-in.",
        ),
    };
    let app_description = match (&upstream_description, app_error) {
        (Some(text), code) if code != ErrorCode::ServerError && !text.trim().is_empty() => {
            text.clone()
        }
        _ => default_text.into(),
    };
    ProviderDenial {
        upstream_error,
        upstream_description,
        app_error,
        app_description,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Token request and response

/// A token request to send (RFC 6749 §4.1.3): POST `url` with the form body, and the `Authorization` header when
/// the provider takes `client_secret_basic`.
#[derive(Clone)]
pub struct TokenRequest {
    /// The provider's token endpoint.
    pub url: String,
    /// The form fields.
    pub form: Vec<(String, String)>,
    /// The `Authorization` header value (`Basic ...`), for `client_secret_basic`.
    pub authorization: Option<String>,
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("url", &self.url)
            .field("form", &"[redacted]")
            .finish()
    }
}

/// Builds the token request that redeems `code` with the transaction's PKCE verifier and redirect URI.
pub fn token_request(
    provider: &IdentityProvider,
    metadata: &ProviderMetadata,
    transaction: &UpstreamTransaction,
    code: &Secret,
    client_secret: &Secret,
) -> TokenRequest {
    let mut form = vec![
        ("grant_type".to_owned(), "authorization_code".to_owned()),
        ("code".to_owned(), code.expose().to_owned()),
        ("redirect_uri".to_owned(), transaction.redirect_uri.clone()),
        (
            "code_verifier".to_owned(),
            transaction.code_verifier.expose().to_owned(),
        ),
    ];
    let authorization = match provider.client_auth {
        UpstreamClientAuth::ClientSecretBasic => {
            // RFC 6749 §2.3.1: both parts are form-urlencoded before being joined and base64-encoded.
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!(
                "{}:{}",
                encode(&provider.client_id),
                encode(client_secret.expose())
            );
            Some(format!("Basic {}", B64_STD.encode(pair)))
        }
        UpstreamClientAuth::ClientSecretPost => {
            form.push(("client_id".into(), provider.client_id.clone()));
            form.push(("client_secret".into(), client_secret.expose().into()));
            None
        }
    };
    TokenRequest {
        url: metadata.token_endpoint.clone(),
        form,
        authorization,
    }
}

/// The tokens a provider returned.
#[derive(Debug, Clone)]
pub struct UpstreamTokens {
    /// The ID token, still to be validated with [`validate_id_token`].
    pub id_token: String,
    /// The access token, for userinfo.
    pub access_token: Secret,
}

/// Why a token response was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenResponseError {
    /// The body is not a JSON object.
    #[error("the token response is not a JSON object")]
    NotJson,
    /// The provider answered with an error (RFC 6749 §5.2).
    #[error("the token endpoint answered {error}")]
    Refused {
        /// The provider's `error`, sanitized.
        error: String,
        /// Its `error_description`, sanitized.
        description: Option<String>,
    },
    /// No `access_token`.
    #[error("the token response has no access_token")]
    AccessTokenMissing,
    /// `token_type` is not `Bearer` (compared case-insensitively, RFC 6749 §5.1).
    #[error("the token response's token_type is not Bearer")]
    NotBearer,
    /// No `id_token` (OIDC Core §3.1.3.3 requires it).
    #[error("the token response has no id_token")]
    IdTokenMissing,
}

/// Judges a token endpoint's JSON body.
pub fn validate_token_response(body: &[u8]) -> Result<UpstreamTokens, TokenResponseError> {
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(body) else {
        return Err(TokenResponseError::NotJson);
    };
    if let Some(error) = doc.get("error") {
        return Err(TokenResponseError::Refused {
            error: sanitize_description(error.as_str().unwrap_or("(not a string)")),
            description: doc
                .get("error_description")
                .and_then(Value::as_str)
                .map(sanitize_description),
        });
    }
    let access_token = doc
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(TokenResponseError::AccessTokenMissing)?;
    if !doc
        .get("token_type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
    {
        return Err(TokenResponseError::NotBearer);
    }
    let id_token = doc
        .get("id_token")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(TokenResponseError::IdTokenMissing)?;
    Ok(UpstreamTokens {
        id_token: id_token.into(),
        access_token: Secret::new(access_token),
    })
}

// ---------------------------------------------------------------------------------------------------------------
// ID token

/// What an ID token must match.
#[derive(Debug, Clone, Copy)]
pub struct IdTokenExpectations<'a> {
    /// The issuer, exactly.
    pub issuer: &'a str,
    /// The broker's client id at the provider: must be among `aud`, and equal `azp` when present.
    pub client_id: &'a str,
    /// The nonce sent.
    pub nonce: &'a str,
    /// Accepted algorithms (a subset of RS256, ES256).
    pub algorithms: &'a [SigningAlg],
    /// Now.
    pub now: OffsetDateTime,
    /// Tolerated clock skew.
    pub skew: Duration,
    /// The `max_age` sent, if any: `auth_time` is then required and must be within it (with the skew).
    pub max_age: Option<u64>,
    /// With `prompt=login`, when the redirect was made: an `auth_time` earlier than this (beyond the skew) shows
    /// that the provider reused an older sign-in.
    pub authenticated_after: Option<OffsetDateTime>,
}

impl<'a> IdTokenExpectations<'a> {
    /// The expectations for the transaction's ID token, with [`DEFAULT_SKEW`].
    pub fn for_transaction(transaction: &'a UpstreamTransaction, now: OffsetDateTime) -> Self {
        Self {
            issuer: &transaction.issuer,
            client_id: &transaction.client_id,
            nonce: &transaction.nonce,
            algorithms: &transaction.id_token_signing_algs,
            now,
            skew: DEFAULT_SKEW,
            max_age: transaction.max_age,
            authenticated_after: transaction.prompt_login.then_some(transaction.started_at),
        }
    }
}

/// An ID token that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedIdToken {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `auth_time`, if present.
    pub auth_time: Option<OffsetDateTime>,
    /// `amr` (RFC 8176), empty if absent.
    pub amr: Vec<String>,
    /// `acr`, if present.
    pub acr: Option<String>,
    /// The algorithm it was signed with.
    pub alg: SigningAlg,
    /// Every claim, for the claim mapping.
    pub claims: Map<String, Value>,
}

/// Why an ID token was refused. [`IdTokenError::KeyNotInJwks`] is the one outcome where the caller should refetch
/// the provider's JWKS once and validate again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdTokenError {
    /// Not a compact JWS with JSON header and claims, or a `crit` header.
    #[error("the ID token is not a well-formed JWS")]
    Malformed,
    /// The `alg` is not one the broker accepts from this provider (`none`, `HS*` and anything but RS256/ES256
    /// advertised by the provider).
    #[error("the ID token's algorithm {alg} is not accepted")]
    AlgorithmNotAllowed {
        /// The header's `alg`.
        alg: String,
    },
    /// The key the `kid` names is of another type or pinned to another algorithm.
    #[error("the key {kid} may not verify {alg} signatures")]
    AlgorithmNotAllowedForKey {
        /// The key.
        kid: String,
        /// The header's `alg`.
        alg: String,
    },
    /// No key in the JWKS has this `kid` (or, without a `kid`, none can verify this algorithm): the provider may have
    /// rotated its keys. Refetch the JWKS once and validate again; a second time it is final.
    #[error("no key in the provider's JWKS matches (kid {kid:?}); refetch the JWKS once")]
    KeyNotInJwks {
        /// The header's `kid`.
        kid: Option<String>,
    },
    /// No `kid` and several keys that could verify it: refused, as OIDC Core §10.1 requires a `kid` when the JWKS
    /// holds several keys (and as the OpenID Foundation's `rp-id_token-kid-absent-multiple-jwks` expects).
    #[error("the ID token has no kid and {candidates} keys could verify it")]
    AmbiguousKey {
        /// How many keys matched the algorithm.
        candidates: usize,
    },
    /// The signature does not verify.
    #[error("the ID token's signature is invalid")]
    SignatureInvalid,
    /// No `iss`.
    #[error("the ID token has no iss")]
    IssuerMissing,
    /// `iss` is not the provider's issuer, exactly.
    #[error("the ID token's iss {found} is not {expected}")]
    IssuerMismatch {
        /// The issuer expected.
        expected: String,
        /// The token's.
        found: String,
    },
    /// `aud` does not contain the broker's client id.
    #[error("the ID token's aud does not contain the client id")]
    AudienceMismatch,
    /// Several audiences and no `azp`.
    #[error("the ID token has several audiences and no azp")]
    AzpMissing,
    /// `azp` is not the broker's client id.
    #[error("the ID token's azp {found} is not the client id")]
    AzpMismatch {
        /// The token's `azp`.
        found: String,
    },
    /// No `exp`.
    #[error("the ID token has no exp")]
    ExpMissing,
    /// Expired (beyond the skew).
    #[error("the ID token expired")]
    Expired,
    /// A time claim looks like milliseconds, not seconds.
    #[error("the ID token's {claim} is in milliseconds, not seconds")]
    TimeInMilliseconds {
        /// The claim.
        claim: &'static str,
    },
    /// No `iat` (OIDC Core §2 requires it).
    #[error("the ID token has no iat")]
    IatMissing,
    /// `iat` is in the future beyond the skew.
    #[error("the ID token's iat is in the future")]
    IssuedInFuture,
    /// `nbf` is in the future beyond the skew.
    #[error("the ID token is not valid yet (nbf)")]
    NotYetValid,
    /// No `nonce`, though one was sent.
    #[error("the ID token has no nonce")]
    NonceMissing,
    /// `nonce` differs from the one sent.
    #[error("the ID token's nonce is not the one sent")]
    NonceMismatch,
    /// No `sub` (or an empty one).
    #[error("the ID token has no sub")]
    SubjectMissing,
    /// A claim has the wrong JSON type.
    #[error("the ID token's {claim} claim has the wrong type")]
    ClaimType {
        /// The claim.
        claim: &'static str,
    },
    /// No `auth_time`, though `max_age` was sent (OIDC Core §3.1.2.1 makes it required then).
    #[error("the ID token has no auth_time, though max_age was sent")]
    AuthTimeMissing,
    /// `auth_time` is older than the `max_age` sent (beyond the skew): the provider did not authenticate the user
    /// again.
    #[error("the ID token's auth_time is {age} s old, beyond the max_age of {max_age} s sent")]
    AuthenticationTooOld {
        /// Seconds since `auth_time`.
        age: i64,
        /// The `max_age` sent.
        max_age: u64,
    },
    /// `prompt=login` was sent and `auth_time` is before the redirect (beyond the skew): the provider reused an
    /// earlier sign-in.
    #[error("the ID token's auth_time is before the prompt=login redirect")]
    NotReauthenticated,
}

impl IdTokenError {
    /// Whether the caller should refetch the JWKS once and try again.
    pub fn calls_for_jwks_refetch(&self) -> bool {
        matches!(self, Self::KeyNotInJwks { .. })
    }

    /// Whether the token is sound but its sign-in is not as fresh as the app asked (`max_age`, `prompt=login`):
    /// the app hears `login_required` at its reply URL instead of the broken-provider page.
    pub fn is_stale_authentication(&self) -> bool {
        matches!(
            self,
            Self::AuthTimeMissing | Self::AuthenticationTooOld { .. } | Self::NotReauthenticated
        )
    }
}

/// Numeric dates above this (year 5138 in seconds) are taken for milliseconds.
const MILLISECONDS_THRESHOLD: i64 = 100_000_000_000;

/// Validates an ID token from the token endpoint (OIDC Core §3.1.3.7):
///
/// 1. header: `alg` among the expected algorithms (so `none` and `HS*` never pass), no `crit`;
/// 2. key: by `kid`; without `kid`, the only key able to verify `alg`, and refusal when several could
///    ([`IdTokenError::AmbiguousKey`]); an unknown `kid` is [`IdTokenError::KeyNotInJwks`];
/// 3. signature, with the key's pinned algorithm;
/// 4. `iss` exact; `aud` contains the client id; with several audiences `azp` is required, and when present
///    it must be the client id;
/// 5. `exp` in the future and `iat` not in the future, `nbf` passed, each with the skew; times in milliseconds
///    are refused;
/// 6. `nonce` equal (constant time); `sub` present; `auth_time`, `amr`, `acr` of the right types;
/// 7. freshness: with `max_age` sent, `auth_time` is required and `now - auth_time` may not exceed `max_age` plus
///    the skew; with `prompt=login` sent, an `auth_time` (when present) may not precede the redirect by more than
///    the skew.
pub fn validate_id_token(
    token: &str,
    keys: &ProviderKeys,
    expected: &IdTokenExpectations<'_>,
) -> Result<ValidatedIdToken, IdTokenError> {
    let (header, _) = peek_unverified(token).map_err(|_| IdTokenError::Malformed)?;
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(IdTokenError::Malformed)?;
    let alg = SigningAlg::parse(alg_name)
        .filter(|a| expected.algorithms.contains(a))
        .ok_or_else(|| IdTokenError::AlgorithmNotAllowed {
            alg: sanitize_description(alg_name),
        })?;
    let jws_alg = JwsAlg::from(alg);
    let key = select_key(&header, keys.keys(), jws_alg)?;
    let verified = verify_jws(token, std::slice::from_ref(key)).map_err(|e| match e {
        OidcError::JwtSignatureInvalid => IdTokenError::SignatureInvalid,
        OidcError::JwtAlgorithmMismatch | OidcError::JwtAlgorithmNotAllowed => {
            IdTokenError::AlgorithmNotAllowedForKey {
                kid: key.kid().unwrap_or_default().into(),
                alg: alg.as_str().into(),
            }
        }
        _ => IdTokenError::Malformed,
    })?;
    let claims = verified.claims;

    match claims.get("iss") {
        None => return Err(IdTokenError::IssuerMissing),
        Some(Value::String(iss)) if iss == expected.issuer => {}
        Some(Value::String(iss)) => {
            return Err(IdTokenError::IssuerMismatch {
                expected: expected.issuer.into(),
                found: iss.clone(),
            });
        }
        Some(_) => return Err(IdTokenError::ClaimType { claim: "iss" }),
    }

    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&expected.client_id) {
        return Err(IdTokenError::AudienceMismatch);
    }
    match claims.get("azp") {
        None if audiences.len() > 1 => return Err(IdTokenError::AzpMissing),
        None => {}
        Some(Value::String(azp)) if azp == expected.client_id => {}
        Some(Value::String(azp)) => {
            return Err(IdTokenError::AzpMismatch { found: azp.clone() });
        }
        Some(_) => return Err(IdTokenError::ClaimType { claim: "azp" }),
    }

    let now = expected.now.unix_timestamp();
    let skew = expected.skew.whole_seconds();
    let exp = time_claim(&claims, "exp")?.ok_or(IdTokenError::ExpMissing)?;
    if now >= exp.saturating_add(skew) {
        return Err(IdTokenError::Expired);
    }
    let iat = time_claim(&claims, "iat")?.ok_or(IdTokenError::IatMissing)?;
    if iat > now.saturating_add(skew) {
        return Err(IdTokenError::IssuedInFuture);
    }
    if let Some(nbf) = time_claim(&claims, "nbf")?
        && nbf > now.saturating_add(skew)
    {
        return Err(IdTokenError::NotYetValid);
    }

    match claims.get("nonce") {
        None => return Err(IdTokenError::NonceMissing),
        Some(Value::String(nonce)) => {
            if verify_slices_are_equal(nonce.as_bytes(), expected.nonce.as_bytes()).is_err() {
                return Err(IdTokenError::NonceMismatch);
            }
        }
        Some(_) => return Err(IdTokenError::ClaimType { claim: "nonce" }),
    }

    let subject = match claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
        Some(Value::String(_)) | None => return Err(IdTokenError::SubjectMissing),
        Some(_) => return Err(IdTokenError::ClaimType { claim: "sub" }),
    };
    let auth_time = time_claim(&claims, "auth_time")?
        .map(|t| {
            OffsetDateTime::from_unix_timestamp(t)
                .map_err(|_| IdTokenError::ClaimType { claim: "auth_time" })
        })
        .transpose()?;
    if let Some(max_age) = expected.max_age {
        let at = auth_time.ok_or(IdTokenError::AuthTimeMissing)?;
        let age = (expected.now - at).whole_seconds();
        let limit = i64::try_from(max_age)
            .unwrap_or(i64::MAX)
            .saturating_add(skew);
        if age > limit {
            return Err(IdTokenError::AuthenticationTooOld { age, max_age });
        }
    }
    if let (Some(after), Some(at)) = (expected.authenticated_after, auth_time)
        && at + expected.skew < after
    {
        return Err(IdTokenError::NotReauthenticated);
    }
    let amr = match claims.get("amr") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(IdTokenError::ClaimType { claim: "amr" })?,
        Some(_) => return Err(IdTokenError::ClaimType { claim: "amr" }),
    };
    let acr = match claims.get("acr") {
        None => None,
        Some(Value::String(acr)) => Some(acr.clone()),
        Some(_) => return Err(IdTokenError::ClaimType { claim: "acr" }),
    };

    Ok(ValidatedIdToken {
        issuer: expected.issuer.into(),
        subject,
        auth_time,
        amr,
        acr,
        alg,
        claims,
    })
}

fn select_key<'k>(
    header: &Map<String, Value>,
    keys: &'k [VerifyingKey],
    alg: JwsAlg,
) -> Result<&'k VerifyingKey, IdTokenError> {
    match header.get("kid") {
        Some(Value::String(kid)) => {
            let key = keys
                .iter()
                .find(|k| k.kid() == Some(kid.as_str()))
                .ok_or_else(|| IdTokenError::KeyNotInJwks {
                    kid: Some(kid.clone()),
                })?;
            if !key.allows(alg) {
                return Err(IdTokenError::AlgorithmNotAllowedForKey {
                    kid: kid.clone(),
                    alg: alg.as_str().into(),
                });
            }
            Ok(key)
        }
        Some(_) => Err(IdTokenError::Malformed),
        None => {
            let candidates: Vec<&VerifyingKey> = keys.iter().filter(|k| k.allows(alg)).collect();
            match candidates.as_slice() {
                [] => Err(IdTokenError::KeyNotInJwks { kid: None }),
                [only] => Ok(only),
                several => Err(IdTokenError::AmbiguousKey {
                    candidates: several.len(),
                }),
            }
        }
    }
}

fn time_claim(
    claims: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<i64>, IdTokenError> {
    let value = match claims.get(claim) {
        None => return Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .ok_or(IdTokenError::ClaimType { claim })?,
        Some(_) => return Err(IdTokenError::ClaimType { claim }),
    };
    if value > MILLISECONDS_THRESHOLD {
        return Err(IdTokenError::TimeInMilliseconds { claim });
    }
    Ok(Some(value))
}

// ---------------------------------------------------------------------------------------------------------------
// Userinfo

/// A userinfo request to send (OIDC Core §5.3.1): GET `url` with `Authorization: Bearer <access token>`
/// (RFC 6750 §2.1). The broker never sends the token in a form body (§2.2, which needs a POST that not every
/// provider's userinfo endpoint accepts) nor in the query (§2.3, where it ends up in logs): the header is the one
/// way every resource server MUST support.
#[derive(Clone)]
pub struct UserinfoRequest {
    /// The provider's userinfo endpoint, as published (no token added to it).
    pub url: String,
    /// The `Authorization` header value (`Bearer ...`).
    pub authorization: String,
}

impl fmt::Debug for UserinfoRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserinfoRequest")
            .field("url", &self.url)
            .field("authorization", &"[redacted]")
            .finish()
    }
}

/// Builds the userinfo request for `access_token`; `None` when the provider has no userinfo endpoint.
pub fn userinfo_request(
    metadata: &ProviderMetadata,
    access_token: &Secret,
) -> Option<UserinfoRequest> {
    let url = metadata.userinfo_endpoint.clone()?;
    Some(UserinfoRequest {
        url,
        authorization: format!("Bearer {}", access_token.expose()),
    })
}

/// Why a userinfo response was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserinfoError {
    /// Not a JSON object (signed or encrypted userinfo responses are not supported).
    #[error("the userinfo response is not a JSON object")]
    NotJson,
    /// No `sub`.
    #[error("the userinfo response has no sub")]
    SubjectMissing,
    /// `sub` differs from the ID token's (OIDC Core §5.3.2: the response MUST NOT be used).
    #[error("the userinfo response's sub is not the ID token's")]
    SubjectMismatch,
}

/// Validates a userinfo response body against the ID token it belongs to and returns its claims.
pub fn validate_userinfo(
    body: &[u8],
    id_token: &ValidatedIdToken,
) -> Result<Map<String, Value>, UserinfoError> {
    let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(body) else {
        return Err(UserinfoError::NotJson);
    };
    match claims.get("sub").and_then(Value::as_str) {
        None => Err(UserinfoError::SubjectMissing),
        Some(sub) if sub == id_token.subject => Ok(claims),
        Some(_) => Err(UserinfoError::SubjectMismatch),
    }
}
