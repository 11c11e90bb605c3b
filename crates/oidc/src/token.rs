//! The token endpoint: request parsing (RFC 6749 §3.2, §4.1.3, §6), client authentication (`client_secret_basic`,
//! `client_secret_post`, `private_key_jwt` per RFC 7523, `none`), and the rules for redeeming a code and a refresh
//! token. Storage (single use, rotation, reuse detection that revokes the family) is the caller's; the decisions
//! are here.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64_STD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_core::secret::{Redacted, redacted_option};
use tessera_core::{ClientId, Secret, UserId};
use time::{Duration, OffsetDateTime};

use crate::authorize::ValidatedAuthorization;
use crate::client::{ClientAuthConfig, ClientConfig};
use crate::error::OidcError;
use crate::id_token::AuthenticationFacts;
use crate::jose::{peek_unverified, verify_jws};
use crate::pkce::verify_pkce;

/// RFC 7523 §2.2 client assertion type.
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long an authorization code stays redeemable.
pub const CODE_LIFETIME: Duration = Duration::seconds(60);
/// Clock skew tolerated on client assertions' `exp` and `nbf`.
pub const ASSERTION_LEEWAY: Duration = Duration::seconds(60);
/// Client assertions whose `exp` lies further ahead than this are refused (RFC 7523 §3 allows it), which bounds how
/// long the caller must remember a `jti`.
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::hours(1);

/// A token-endpoint client authentication method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic with the form-urlencoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523, OIDC Core §9).
    PrivateKeyJwt,
    /// Public client: `client_id` only.
    None,
}

impl ClientAuthMethod {
    /// The registered metadata name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }
}

/// The credentials a token request presented. `Debug` shows no secret and no assertion.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientCredentials {
    /// `Authorization: Basic`.
    SecretBasic {
        /// The client.
        client_id: ClientId,
        /// Its secret.
        secret: Secret,
    },
    /// `client_id` + `client_secret` in the body.
    SecretPost {
        /// The client.
        client_id: ClientId,
        /// Its secret.
        secret: Secret,
    },
    /// `client_assertion` (RFC 7523). `client_id` is the form's, or else the assertion's unverified `sub`, for
    /// looking the client up only.
    PrivateKeyJwt {
        /// The client it claims to be.
        client_id: ClientId,
        /// The compact JWS.
        assertion: String,
    },
    /// `client_id` alone.
    None {
        /// The client.
        client_id: ClientId,
    },
}

impl ClientCredentials {
    /// The client to look up.
    pub fn client_id(&self) -> &ClientId {
        match self {
            Self::SecretBasic { client_id, .. }
            | Self::SecretPost { client_id, .. }
            | Self::PrivateKeyJwt { client_id, .. }
            | Self::None { client_id } => client_id,
        }
    }

    /// The method used.
    pub fn method(&self) -> ClientAuthMethod {
        match self {
            Self::SecretBasic { .. } => ClientAuthMethod::ClientSecretBasic,
            Self::SecretPost { .. } => ClientAuthMethod::ClientSecretPost,
            Self::PrivateKeyJwt { .. } => ClientAuthMethod::PrivateKeyJwt,
            Self::None { .. } => ClientAuthMethod::None,
        }
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SecretBasic { client_id, secret } => f
                .debug_struct("SecretBasic")
                .field("client_id", client_id)
                .field("secret", secret)
                .finish(),
            Self::SecretPost { client_id, secret } => f
                .debug_struct("SecretPost")
                .field("client_id", client_id)
                .field("secret", secret)
                .finish(),
            // A client assertion is a bearer credential until it expires.
            Self::PrivateKeyJwt { client_id, .. } => f
                .debug_struct("PrivateKeyJwt")
                .field("client_id", client_id)
                .field("assertion", &Redacted)
                .finish(),
            Self::None { client_id } => f
                .debug_struct("None")
                .field("client_id", client_id)
                .finish(),
        }
    }
}

/// The grant a token request asks to redeem. `Debug` shows no code, refresh token or PKCE verifier.
#[derive(Clone, PartialEq, Eq)]
pub enum Grant {
    /// `grant_type=authorization_code`.
    AuthorizationCode {
        /// The code.
        code: Secret,
        /// The `redirect_uri`, which must equal the authorization request's.
        redirect_uri: Option<String>,
        /// The PKCE verifier.
        code_verifier: Option<String>,
    },
    /// `grant_type=refresh_token`.
    RefreshToken {
        /// The refresh token.
        refresh_token: Secret,
        /// A narrower scope, if requested.
        scope: Option<Vec<String>>,
    },
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => f
                .debug_struct("AuthorizationCode")
                .field("code", code)
                .field("redirect_uri", redirect_uri)
                .field("code_verifier", &redacted_option(code_verifier))
                .finish(),
            Self::RefreshToken {
                refresh_token,
                scope,
            } => f
                .debug_struct("RefreshToken")
                .field("refresh_token", refresh_token)
                .field("scope", scope)
                .finish(),
        }
    }
}

/// A parsed token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// What to redeem.
    pub grant: Grant,
    /// Who is asking.
    pub credentials: ClientCredentials,
}

/// The one non-empty value of a form parameter, if present; a repeated one is refused.
fn form_value<'a>(
    form: &'a [(String, String)],
    name: &'static str,
) -> Result<Option<&'a str>, OidcError> {
    let mut found = None;
    for (n, v) in form {
        if n == name && !v.is_empty() {
            if found.is_some() {
                return Err(OidcError::DuplicateParameter {
                    name: name.to_owned(),
                });
            }
            found = Some(v.as_str());
        }
    }
    Ok(found)
}

/// The client authentication of a token-endpoint-style request (token, revocation).
fn request_credentials(
    form: &[(String, String)],
    authorization: Option<&str>,
) -> Result<ClientCredentials, OidcError> {
    let get = |name| form_value(form, name);
    parse_credentials(
        authorization,
        get("client_id")?,
        get("client_secret")?,
        get("client_assertion")?,
        get("client_assertion_type")?,
    )
}

/// A token revocation request (RFC 7009 §2.1).
#[derive(Debug)]
pub struct RevocationRequest {
    /// The token to revoke.
    pub token: Secret,
    /// Who is asking.
    pub credentials: ClientCredentials,
}

/// Parses a revocation request: `token` (required), `token_type_hint` (optional, and only a hint: every kind of
/// token is looked up), and the client's authentication as at the token endpoint.
pub fn parse_revocation_request(
    form: &[(String, String)],
    authorization: Option<&str>,
) -> Result<RevocationRequest, OidcError> {
    let credentials = request_credentials(form, authorization)?;
    form_value(form, "token_type_hint")?;
    let token = form_value(form, "token")?.ok_or(OidcError::MissingParameter { name: "token" })?;
    Ok(RevocationRequest {
        token: Secret::new(token),
        credentials,
    })
}

/// Parses a token request: the form body pairs and the `Authorization` header, if any. Duplicate parameters and
/// more than one authentication method are refused.
pub fn parse_token_request(
    form: &[(String, String)],
    authorization: Option<&str>,
) -> Result<TokenRequest, OidcError> {
    let get = |name| form_value(form, name);
    let credentials = request_credentials(form, authorization)?;
    let grant = match get("grant_type")?
        .ok_or(OidcError::MissingParameter { name: "grant_type" })?
    {
        "authorization_code" => Grant::AuthorizationCode {
            code: Secret::new(get("code")?.ok_or(OidcError::MissingParameter { name: "code" })?),
            redirect_uri: get("redirect_uri")?.map(str::to_owned),
            code_verifier: get("code_verifier")?.map(str::to_owned),
        },
        "refresh_token" => Grant::RefreshToken {
            refresh_token: Secret::new(get("refresh_token")?.ok_or(
                OidcError::MissingParameter {
                    name: "refresh_token",
                },
            )?),
            scope: get("scope")?.map(|s| {
                s.split(' ')
                    .filter(|x| !x.is_empty())
                    .map(str::to_owned)
                    .collect()
            }),
        },
        _ => return Err(OidcError::UnsupportedGrantType),
    };
    Ok(TokenRequest { grant, credentials })
}

fn parse_credentials(
    authorization: Option<&str>,
    client_id: Option<&str>,
    client_secret: Option<&str>,
    assertion: Option<&str>,
    assertion_type: Option<&str>,
) -> Result<ClientCredentials, OidcError> {
    let parse_id = |id: &str| ClientId::parse(id).map_err(|_| OidcError::ClientNotFound);
    let basic = authorization.map(parse_basic).transpose()?;
    let methods = usize::from(basic.is_some())
        + usize::from(client_secret.is_some())
        + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(OidcError::MultipleClientAuthentications);
    }
    if let Some((id, secret)) = basic {
        let id = parse_id(&id)?;
        if client_id.is_some_and(|c| c != id.as_str()) {
            return Err(OidcError::ClientIdMismatch);
        }
        return Ok(ClientCredentials::SecretBasic {
            client_id: id,
            secret: Secret::new(secret),
        });
    }
    if let Some(secret) = client_secret {
        let id = parse_id(client_id.ok_or(OidcError::MissingParameter { name: "client_id" })?)?;
        return Ok(ClientCredentials::SecretPost {
            client_id: id,
            secret: Secret::new(secret),
        });
    }
    if let Some(assertion) = assertion {
        if assertion_type != Some(JWT_BEARER_ASSERTION_TYPE) {
            return Err(OidcError::UnsupportedClientAssertionType);
        }
        let id = match client_id {
            Some(id) => parse_id(id)?,
            None => {
                let (_, claims) =
                    peek_unverified(assertion).map_err(|_| OidcError::InvalidClientAssertion)?;
                parse_id(
                    claims
                        .get("sub")
                        .and_then(Value::as_str)
                        .ok_or(OidcError::InvalidClientAssertion)?,
                )?
            }
        };
        return Ok(ClientCredentials::PrivateKeyJwt {
            client_id: id,
            assertion: assertion.to_owned(),
        });
    }
    match client_id {
        Some(id) => Ok(ClientCredentials::None {
            client_id: parse_id(id)?,
        }),
        None => Err(OidcError::ClientAuthenticationMissing),
    }
}

/// RFC 6749 §2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn parse_basic(header: &str) -> Result<(String, String), OidcError> {
    let bad = || OidcError::MalformedBasicAuthorization;
    let (scheme, rest) = header.trim().split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = B64_STD.decode(rest.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let (id, secret) = (
        form_urldecode(id).ok_or_else(bad)?,
        form_urldecode(secret).ok_or_else(bad)?,
    );
    if id.is_empty() || secret.is_empty() {
        return Err(bad());
    }
    Ok((id, secret))
}

/// `application/x-www-form-urlencoded` decoding of one component: `+` is a space, `%XX` a byte, and the result
/// must be UTF-8.
fn form_urldecode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// What client authentication needs besides the request and the client.
#[derive(Debug, Clone, Copy)]
pub struct ClientAuthContext<'a> {
    /// The tenant's issuer (an accepted client-assertion audience).
    pub issuer: &'a str,
    /// The token endpoint URL (the other accepted audience).
    pub token_endpoint: &'a str,
    /// Now.
    pub now: OffsetDateTime,
}

/// A `jti` the caller must record until `expires_at` and refuse if seen again (RFC 7523 §3 item 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionReplayGuard {
    /// The assertion's `jti`.
    pub jti: String,
    /// Its `exp`.
    pub expires_at: OffsetDateTime,
}

/// A client that proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedClient {
    /// The client.
    pub client_id: ClientId,
    /// How it authenticated.
    pub method: ClientAuthMethod,
    /// For `private_key_jwt`: the `jti` to check for replay.
    pub replay_guard: Option<AssertionReplayGuard>,
}

/// Authenticates `credentials` against the registered `client` (found by [`ClientCredentials::client_id`]; if the
/// store has none, answer [`OidcError::ClientNotFound`]).
pub fn authenticate_client(
    credentials: &ClientCredentials,
    client: &ClientConfig,
    ctx: &ClientAuthContext<'_>,
) -> Result<AuthenticatedClient, OidcError> {
    if credentials.client_id() != &client.client_id {
        return Err(OidcError::ClientIdMismatch);
    }
    let replay_guard = match (credentials, &client.auth) {
        (
            ClientCredentials::SecretBasic { secret, .. }
            | ClientCredentials::SecretPost { secret, .. },
            ClientAuthConfig::ClientSecret { secret_hash },
        ) => {
            if !secret_hash.matches(secret.expose()) {
                return Err(OidcError::ClientSecretMismatch);
            }
            None
        }
        (
            ClientCredentials::PrivateKeyJwt { assertion, .. },
            ClientAuthConfig::PrivateKeyJwt { jwks },
        ) => Some(verify_client_assertion(
            assertion,
            &client.client_id,
            &jwks.verifying_keys(),
            ctx,
        )?),
        (ClientCredentials::None { .. }, ClientAuthConfig::None) => None,
        _ => return Err(OidcError::ClientAuthMethodNotAllowed),
    };
    Ok(AuthenticatedClient {
        client_id: client.client_id.clone(),
        method: credentials.method(),
        replay_guard,
    })
}

fn verify_client_assertion(
    assertion: &str,
    client_id: &ClientId,
    keys: &[crate::keys::VerifyingKey],
    ctx: &ClientAuthContext<'_>,
) -> Result<AssertionReplayGuard, OidcError> {
    let jwt = verify_jws(assertion, keys).map_err(|e| match e {
        OidcError::JwtSignatureInvalid
        | OidcError::JwtKeyNotFound
        | OidcError::JwtAlgorithmMismatch => OidcError::ClientAssertionSignature,
        _ => OidcError::InvalidClientAssertion,
    })?;
    // RFC 7523 §3 / OIDC Core §9: iss and sub are both the client_id.
    if jwt.str_claim("iss") != Some(client_id.as_str())
        || jwt.str_claim("sub") != Some(client_id.as_str())
    {
        return Err(OidcError::InvalidClientAssertion);
    }
    if !jwt.audience_contains(ctx.token_endpoint) && !jwt.audience_contains(ctx.issuer) {
        return Err(OidcError::ClientAssertionAudience);
    }
    let now = ctx.now.unix_timestamp();
    let exp = jwt
        .time_claim("exp")
        .ok_or(OidcError::ClientAssertionExpired)?;
    if exp.saturating_add(ASSERTION_LEEWAY.whole_seconds()) <= now {
        return Err(OidcError::ClientAssertionExpired);
    }
    if exp > now + MAX_ASSERTION_LIFETIME.whole_seconds() {
        return Err(OidcError::InvalidClientAssertion);
    }
    if jwt
        .time_claim("nbf")
        .is_some_and(|nbf| nbf > now + ASSERTION_LEEWAY.whole_seconds())
    {
        return Err(OidcError::InvalidClientAssertion);
    }
    let jti = jwt
        .str_claim("jti")
        .filter(|j| !j.is_empty())
        .ok_or(OidcError::ClientAssertionJtiMissing)?;
    let expires_at =
        OffsetDateTime::from_unix_timestamp(exp).map_err(|_| OidcError::InvalidClientAssertion)?;
    Ok(AssertionReplayGuard {
        jti: jti.to_owned(),
        expires_at,
    })
}

/// What the authorization endpoint stores under a code (hashed) until the token endpoint redeems it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationGrant {
    /// The client the code was issued to.
    pub client_id: ClientId,
    /// The authorization request's `redirect_uri`, exactly.
    pub redirect_uri: String,
    /// The authenticated user.
    pub user: UserId,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The nonce, for the ID token.
    pub nonce: Option<String>,
    /// The S256 PKCE challenge.
    pub code_challenge: Option<String>,
    /// When the user authenticated.
    #[serde(with = "time::serde::timestamp")]
    pub auth_time: OffsetDateTime,
    /// How the user authenticated.
    pub authentication: AuthenticationFacts,
    /// The browser session id (`sid`).
    pub sid: Option<String>,
    /// The `claims` request parameter.
    pub claims_request: Option<Value>,
    /// When the code stops being redeemable.
    #[serde(with = "time::serde::timestamp")]
    pub expires_at: OffsetDateTime,
}

impl AuthorizationGrant {
    /// The grant for a code issued now, for the request's client, to `user`, valid for [`CODE_LIFETIME`].
    pub fn new(
        request: &ValidatedAuthorization,
        user: UserId,
        auth_time: OffsetDateTime,
        authentication: AuthenticationFacts,
        sid: Option<String>,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            user,
            scopes: request.scopes.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            auth_time,
            authentication,
            sid,
            claims_request: request.claims.clone(),
            expires_at: now + CODE_LIFETIME,
        }
    }
}

/// What to mint after a successful redemption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issuance {
    /// The client (the ID token's `aud`).
    pub client_id: ClientId,
    /// The user (`sub`).
    pub user: UserId,
    /// Scopes of the access token.
    pub scopes: Vec<String>,
    /// The nonce for the ID token (code grants only).
    pub nonce: Option<String>,
    /// When the user authenticated.
    #[serde(with = "time::serde::timestamp")]
    pub auth_time: OffsetDateTime,
    /// How the user authenticated (`amr`, `acr`).
    pub authentication: AuthenticationFacts,
    /// The session id.
    pub sid: Option<String>,
    /// The `claims` request parameter.
    pub claims_request: Option<Value>,
}

impl Issuance {
    /// An ID token is minted when `openid` was granted.
    pub fn wants_id_token(&self) -> bool {
        self.scopes.iter().any(|s| s == "openid")
    }

    /// A refresh token is issued when `offline_access` was granted.
    pub fn wants_refresh_token(&self) -> bool {
        self.scopes.iter().any(|s| s == "offline_access")
    }

    /// The space-separated scope for the token response.
    pub fn scope_string(&self) -> String {
        self.scopes.join(" ")
    }
}

/// The facts of a stored code that the redemption rules judge, borrowed from wherever the caller keeps them.
#[derive(Debug, Clone, Copy)]
pub struct CodeFacts<'a> {
    /// The client the code was issued to.
    pub client_id: &'a ClientId,
    /// The authorization request's `redirect_uri`.
    pub redirect_uri: &'a str,
    /// The S256 challenge sent with the authorization request.
    pub code_challenge: Option<&'a str>,
    /// When the code stops being redeemable.
    pub expires_at: OffsetDateTime,
}

/// The rules for redeeming a code (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 9700 §4.5 and §4.8): issued to this client,
/// not expired, `redirect_uri` present and identical, PKCE verified (and not downgraded).
pub fn check_code_redemption(
    code: &CodeFacts<'_>,
    client: &AuthenticatedClient,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), OidcError> {
    // "ensure that the authorization code was issued to the authenticated confidential client"
    if code.client_id != &client.client_id {
        return Err(OidcError::CodeClientMismatch);
    }
    if now >= code.expires_at {
        return Err(OidcError::CodeExpired);
    }
    // "ensure that the redirect_uri parameter is present if [it] was included in the initial authorization request
    // ..., and if included ensure that their values are identical."
    match redirect_uri {
        None => {
            return Err(OidcError::MissingParameter {
                name: "redirect_uri",
            });
        }
        Some(uri) if uri != code.redirect_uri => return Err(OidcError::RedirectUriMismatch),
        Some(_) => {}
    }
    verify_pkce(code.code_challenge, code_verifier)
}

/// Redeems a code's stored grant with [`check_code_redemption`] and returns what to mint. The caller has already
/// consumed the code atomically; a second redemption must fail there and revoke what the first issued.
pub fn redeem_code(
    grant: &AuthorizationGrant,
    client: &AuthenticatedClient,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    now: OffsetDateTime,
) -> Result<Issuance, OidcError> {
    let facts = CodeFacts {
        client_id: &grant.client_id,
        redirect_uri: &grant.redirect_uri,
        code_challenge: grant.code_challenge.as_deref(),
        expires_at: grant.expires_at,
    };
    check_code_redemption(&facts, client, redirect_uri, code_verifier, now)?;
    Ok(Issuance {
        client_id: grant.client_id.clone(),
        user: grant.user.clone(),
        scopes: grant.scopes.clone(),
        nonce: grant.nonce.clone(),
        auth_time: grant.auth_time,
        authentication: grant.authentication,
        sid: grant.sid.clone(),
        claims_request: grant.claims_request.clone(),
    })
}

/// What the token endpoint stores under a refresh token (hashed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshGrant {
    /// The client it is bound to.
    pub client_id: ClientId,
    /// The user.
    pub user: UserId,
    /// The scopes of the original grant: a refresh may narrow them, never widen.
    pub scopes: Vec<String>,
    /// When the user authenticated.
    #[serde(with = "time::serde::timestamp")]
    pub auth_time: OffsetDateTime,
    /// How.
    pub authentication: AuthenticationFacts,
    /// The session id.
    pub sid: Option<String>,
    /// The `claims` request parameter.
    pub claims_request: Option<Value>,
    /// When it stops working.
    #[serde(with = "time::serde::timestamp")]
    pub expires_at: OffsetDateTime,
}

impl RefreshGrant {
    /// The refresh grant for an issuance, valid for `lifetime`. On rotation, keep the original grant's scopes and
    /// expiry by storing the same value under the new token.
    pub fn new(issuance: &Issuance, now: OffsetDateTime, lifetime: Duration) -> Self {
        Self {
            client_id: issuance.client_id.clone(),
            user: issuance.user.clone(),
            scopes: issuance.scopes.clone(),
            auth_time: issuance.auth_time,
            authentication: issuance.authentication,
            sid: issuance.sid.clone(),
            claims_request: issuance.claims_request.clone(),
            expires_at: now + lifetime,
        }
    }
}

/// Redeems a refresh token's stored grant (RFC 6749 §6, RFC 9700 §4.14.2: bound to the client; scope narrowing
/// only).
pub fn redeem_refresh(
    grant: &RefreshGrant,
    client: &AuthenticatedClient,
    requested_scopes: Option<&[String]>,
    now: OffsetDateTime,
) -> Result<Issuance, OidcError> {
    if grant.client_id != client.client_id {
        return Err(OidcError::RefreshClientMismatch);
    }
    if now >= grant.expires_at {
        return Err(OidcError::RefreshTokenExpired);
    }
    let scopes = match requested_scopes {
        None => grant.scopes.clone(),
        Some(requested) => {
            if requested.iter().any(|s| !grant.scopes.contains(s)) {
                return Err(OidcError::ScopeWidened);
            }
            grant
                .scopes
                .iter()
                .filter(|s| requested.contains(s))
                .cloned()
                .collect()
        }
    };
    Ok(Issuance {
        client_id: grant.client_id.clone(),
        user: grant.user.clone(),
        scopes,
        nonce: None,
        auth_time: grant.auth_time,
        authentication: grant.authentication,
        sid: grant.sid.clone(),
        claims_request: grant.claims_request.clone(),
    })
}

/// The successful token response body (RFC 6749 §5.1, OIDC Core §3.1.3.3). Send with `Cache-Control: no-store`.
/// `Debug` shows no token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Access token lifetime in seconds.
    pub expires_in: u64,
    /// The ID token, when `openid` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The new refresh token, when one is issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The granted scope.
    pub scope: String,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &Redacted)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("id_token", &redacted_option(&self.id_token))
            .field("refresh_token", &redacted_option(&self.refresh_token))
            .field("scope", &self.scope)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::SecretHash;
    use crate::jose::sign_jwt;
    use crate::keys::{JwkSet, SigningAlg, SigningKey};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    const ISS: &str = "https://op.example/acme/oidc";
    const TOKEN_EP: &str = "https://op.example/acme/oidc/token";
    const NOW: OffsetDateTime = time::macros::datetime!(2026-06-01 12:00 UTC);
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn form(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    fn id(s: &str) -> ClientId {
        ClientId::parse(s).expect("id")
    }

    fn secret_client() -> ClientConfig {
        ClientConfig {
            client_id: id("rp"),
            redirect_uris: vec!["https://rp.example/cb".into()],
            post_logout_redirect_uris: vec![],
            auth: ClientAuthConfig::ClientSecret {
                secret_hash: SecretHash::of("s3cret:+/="),
            },
            allowed_scopes: vec![],
            id_token_alg: SigningAlg::Rs256,
        }
    }

    fn ctx() -> ClientAuthContext<'static> {
        ClientAuthContext {
            issuer: ISS,
            token_endpoint: TOKEN_EP,
            now: NOW,
        }
    }

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", B64_STD.encode(format!("{id}:{secret}")))
    }

    const CODE_FORM: [(&str, &str); 3] = [
        ("grant_type", "authorization_code"),
        ("code", "abc"),
        ("redirect_uri", "https://rp.example/cb"),
    ];

    #[test]
    fn oidcc_server_client_secret_basic_with_form_urlencoding() {
        // RFC 6749 §2.3.1: the secret "s3cret:+/=" is sent form-urlencoded inside Basic.
        let header = basic("rp", "s3cret%3A%2B%2F%3D");
        let req = parse_token_request(&form(&CODE_FORM), Some(&header)).expect("parse");
        assert_eq!(
            req.credentials.method(),
            ClientAuthMethod::ClientSecretBasic
        );
        let authed = authenticate_client(&req.credentials, &secret_client(), &ctx()).expect("auth");
        assert_eq!(authed.client_id, id("rp"));
    }

    #[test]
    fn oidcc_server_client_secret_post() {
        let mut f = form(&CODE_FORM);
        f.extend(form(&[
            ("client_id", "rp"),
            ("client_secret", "s3cret:+/="),
        ]));
        let req = parse_token_request(&f, None).expect("parse");
        assert_eq!(req.credentials.method(), ClientAuthMethod::ClientSecretPost);
        assert!(authenticate_client(&req.credentials, &secret_client(), &ctx()).is_ok());
    }

    #[test]
    fn wrong_client_secret_refused() {
        let req =
            parse_token_request(&form(&CODE_FORM), Some(&basic("rp", "wrong"))).expect("parse");
        assert_eq!(
            authenticate_client(&req.credentials, &secret_client(), &ctx()).err(),
            Some(OidcError::ClientSecretMismatch)
        );
    }

    #[test]
    fn duplicate_token_parameter_refused() {
        let mut f = form(&CODE_FORM);
        f.push(("code".into(), "other".into()));
        assert_eq!(
            parse_token_request(&f, Some(&basic("rp", "x"))).err(),
            Some(OidcError::DuplicateParameter {
                name: "code".into()
            })
        );
    }

    #[test]
    fn two_client_authentication_methods_refused() {
        let mut f = form(&CODE_FORM);
        f.extend(form(&[("client_id", "rp"), ("client_secret", "s3cret")]));
        assert_eq!(
            parse_token_request(&f, Some(&basic("rp", "s3cret"))).err(),
            Some(OidcError::MultipleClientAuthentications)
        );
        let mut f = form(&CODE_FORM);
        f.extend(form(&[
            ("client_assertion", "a.b.c"),
            ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
        ]));
        assert_eq!(
            parse_token_request(&f, Some(&basic("rp", "s3cret"))).err(),
            Some(OidcError::MultipleClientAuthentications)
        );
    }

    #[test]
    fn basic_client_id_must_match_form_client_id() {
        let mut f = form(&CODE_FORM);
        f.push(("client_id".into(), "other".into()));
        assert_eq!(
            parse_token_request(&f, Some(&basic("rp", "x"))).err(),
            Some(OidcError::ClientIdMismatch)
        );
    }

    #[test]
    fn malformed_basic_header_refused() {
        for h in [
            "Bearer abc",
            "Basic !!!",
            "Basic",
            &format!("Basic {}", B64_STD.encode("nocolon")),
            &basic("rp", "%zz"),
        ] {
            assert_eq!(
                parse_token_request(&form(&CODE_FORM), Some(h)).err(),
                Some(OidcError::MalformedBasicAuthorization),
                "{h}"
            );
        }
    }

    #[test]
    fn basic_percent_escape_must_be_two_hex_digits() {
        assert_eq!(form_urldecode("a%2Bb+c"), Some("a+b c".into()));
        assert_eq!(form_urldecode("%+1"), None);
        assert_eq!(form_urldecode("%2"), None);
        assert_eq!(form_urldecode("%ff"), None, "not UTF-8");
    }

    #[test]
    fn private_key_jwt_huge_exp_does_not_overflow() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let mut claims = good_claims();
        claims["exp"] = serde_json::json!(i64::MAX);
        assert_eq!(
            auth_jwt(&key, &jwt_client(&key), claims.clone()).err(),
            Some(OidcError::InvalidClientAssertion)
        );
        claims["exp"] = serde_json::json!(i64::MIN);
        assert_eq!(
            auth_jwt(&key, &jwt_client(&key), claims).err(),
            Some(OidcError::ClientAssertionExpired)
        );
    }

    #[test]
    fn unsupported_grant_types_refused() {
        for gt in [
            "password",
            "client_credentials",
            "implicit",
            "urn:ietf:params:oauth:grant-type:device_code",
        ] {
            let f = form(&[("grant_type", gt), ("client_id", "rp")]);
            assert_eq!(
                parse_token_request(&f, None).err(),
                Some(OidcError::UnsupportedGrantType),
                "{gt}"
            );
        }
    }

    #[test]
    fn missing_client_authentication_refused() {
        assert_eq!(
            parse_token_request(&form(&CODE_FORM), None).err(),
            Some(OidcError::ClientAuthenticationMissing)
        );
    }

    #[test]
    fn public_client_cannot_use_a_secret_client_and_vice_versa() {
        let mut f = form(&CODE_FORM);
        f.push(("client_id".into(), "rp".into()));
        let req = parse_token_request(&f, None).expect("parse");
        assert_eq!(
            authenticate_client(&req.credentials, &secret_client(), &ctx()).err(),
            Some(OidcError::ClientAuthMethodNotAllowed)
        );
        let public = ClientConfig {
            auth: ClientAuthConfig::None,
            ..secret_client()
        };
        assert!(authenticate_client(&req.credentials, &public, &ctx()).is_ok());
        let req = parse_token_request(&form(&CODE_FORM), Some(&basic("rp", "x"))).expect("parse");
        assert_eq!(
            authenticate_client(&req.credentials, &public, &ctx()).err(),
            Some(OidcError::ClientAuthMethodNotAllowed)
        );
    }

    fn jwt_client(key: &SigningKey) -> ClientConfig {
        ClientConfig {
            auth: ClientAuthConfig::PrivateKeyJwt {
                jwks: JwkSet {
                    keys: vec![key.public_jwk().clone()],
                },
            },
            ..secret_client()
        }
    }

    fn assertion(key: &SigningKey, claims: Value) -> Vec<(String, String)> {
        let jwt = sign_jwt(key, &claims).expect("sign");
        let mut f = form(&CODE_FORM);
        f.push(("client_assertion".into(), jwt));
        f.push((
            "client_assertion_type".into(),
            JWT_BEARER_ASSERTION_TYPE.into(),
        ));
        f
    }

    fn good_claims() -> Value {
        serde_json::json!({"iss": "rp", "sub": "rp", "aud": TOKEN_EP, "exp": NOW.unix_timestamp() + 60, "jti": "j1"})
    }

    fn auth_jwt(
        key: &SigningKey,
        client: &ClientConfig,
        claims: Value,
    ) -> Result<AuthenticatedClient, OidcError> {
        let req = parse_token_request(&assertion(key, claims), None)?;
        authenticate_client(&req.credentials, client, &ctx())
    }

    #[test]
    fn private_key_jwt_accepted_and_jti_returned() {
        for alg in [SigningAlg::Es256, SigningAlg::Rs256] {
            let key = SigningKey::generate(alg).expect("key");
            let authed = auth_jwt(&key, &jwt_client(&key), good_claims()).expect("auth");
            assert_eq!(authed.method, ClientAuthMethod::PrivateKeyJwt);
            let guard = authed.replay_guard.expect("guard");
            assert_eq!(guard.jti, "j1");
            assert_eq!(guard.expires_at.unix_timestamp(), NOW.unix_timestamp() + 60);
        }
    }

    #[test]
    fn private_key_jwt_issuer_audience_accepted() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let mut claims = good_claims();
        claims["aud"] = serde_json::json!([ISS]);
        assert!(auth_jwt(&key, &jwt_client(&key), claims).is_ok());
    }

    #[test]
    fn private_key_jwt_wrong_aud_refused() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let mut claims = good_claims();
        claims["aud"] = serde_json::json!("https://other.example/token");
        assert_eq!(
            auth_jwt(&key, &jwt_client(&key), claims).err(),
            Some(OidcError::ClientAssertionAudience)
        );
    }

    #[test]
    fn private_key_jwt_expired_refused() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let mut claims = good_claims();
        claims["exp"] = serde_json::json!(NOW.unix_timestamp() - 61);
        assert_eq!(
            auth_jwt(&key, &jwt_client(&key), claims.clone()).err(),
            Some(OidcError::ClientAssertionExpired)
        );
        claims.as_object_mut().map(|o| o.remove("exp"));
        assert_eq!(
            auth_jwt(&key, &jwt_client(&key), claims).err(),
            Some(OidcError::ClientAssertionExpired)
        );
    }

    #[test]
    fn private_key_jwt_far_future_exp_refused() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let mut claims = good_claims();
        claims["exp"] = serde_json::json!(NOW.unix_timestamp() + 86_400);
        assert_eq!(
            auth_jwt(&key, &jwt_client(&key), claims).err(),
            Some(OidcError::InvalidClientAssertion)
        );
    }

    #[test]
    fn private_key_jwt_bad_signature_refused() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let registered = SigningKey::generate(SigningAlg::Es256).expect("key");
        let mut client = jwt_client(&registered);
        // Same kid as the signing key, different key material: the signature must fail.
        if let ClientAuthConfig::PrivateKeyJwt { jwks } = &mut client.auth {
            jwks.keys[0].kid = Some(key.kid().to_owned());
        }
        assert_eq!(
            auth_jwt(&key, &client, good_claims()).err(),
            Some(OidcError::ClientAssertionSignature)
        );
    }

    #[test]
    fn private_key_jwt_iss_sub_must_be_client_id() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let mut claims = good_claims();
        claims["iss"] = serde_json::json!("someone");
        assert_eq!(
            auth_jwt(&key, &jwt_client(&key), claims).err(),
            Some(OidcError::InvalidClientAssertion)
        );
    }

    #[test]
    fn private_key_jwt_without_jti_refused() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let mut claims = good_claims();
        claims.as_object_mut().map(|o| o.remove("jti"));
        assert_eq!(
            auth_jwt(&key, &jwt_client(&key), claims).err(),
            Some(OidcError::ClientAssertionJtiMissing)
        );
    }

    #[test]
    fn private_key_jwt_wrong_assertion_type_refused() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let mut f = assertion(&key, good_claims());
        f.retain(|(n, _)| n != "client_assertion_type");
        f.push((
            "client_assertion_type".into(),
            "urn:ietf:params:oauth:client-assertion-type:saml2-bearer".into(),
        ));
        assert_eq!(
            parse_token_request(&f, None).err(),
            Some(OidcError::UnsupportedClientAssertionType)
        );
    }

    #[test]
    fn private_key_jwt_alg_none_refused() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let header = B64.encode(r#"{"alg":"none"}"#);
        let payload = B64.encode(good_claims().to_string());
        let mut f = form(&CODE_FORM);
        f.push(("client_assertion".into(), format!("{header}.{payload}.")));
        f.push((
            "client_assertion_type".into(),
            JWT_BEARER_ASSERTION_TYPE.into(),
        ));
        let req = parse_token_request(&f, None).expect("parse");
        assert_eq!(
            authenticate_client(&req.credentials, &jwt_client(&key), &ctx()).err(),
            Some(OidcError::InvalidClientAssertion)
        );
    }

    fn authed(client: &str) -> AuthenticatedClient {
        AuthenticatedClient {
            client_id: id(client),
            method: ClientAuthMethod::ClientSecretBasic,
            replay_guard: None,
        }
    }

    fn grant(challenge: Option<&str>) -> AuthorizationGrant {
        AuthorizationGrant {
            client_id: id("rp"),
            redirect_uri: "https://rp.example/cb".into(),
            user: UserId::parse("u1").expect("user"),
            scopes: vec!["openid".into(), "offline_access".into()],
            nonce: Some("n".into()),
            code_challenge: challenge.map(str::to_owned),
            auth_time: NOW - Duration::seconds(10),
            authentication: AuthenticationFacts {
                user_verified: true,
                backup_eligible: false,
                attestation_trusted: false,
            },
            sid: None,
            claims_request: None,
            expires_at: NOW + Duration::seconds(30),
        }
    }

    const CB: Option<&str> = Some("https://rp.example/cb");

    #[test]
    fn code_redeems_for_its_client() {
        let issued = redeem_code(&grant(None), &authed("rp"), CB, None, NOW).expect("redeem");
        assert_eq!(issued.nonce.as_deref(), Some("n"));
        assert!(issued.wants_id_token());
        assert!(issued.wants_refresh_token());
    }

    #[test]
    fn code_for_another_client_refused() {
        assert_eq!(
            redeem_code(&grant(None), &authed("evil"), CB, None, NOW).err(),
            Some(OidcError::CodeClientMismatch)
        );
    }

    #[test]
    fn redirect_uri_mismatch_refused() {
        assert_eq!(
            redeem_code(
                &grant(None),
                &authed("rp"),
                Some("https://rp.example/cb/"),
                None,
                NOW
            )
            .err(),
            Some(OidcError::RedirectUriMismatch)
        );
        assert_eq!(
            redeem_code(&grant(None), &authed("rp"), None, None, NOW).err(),
            Some(OidcError::MissingParameter {
                name: "redirect_uri"
            })
        );
    }

    #[test]
    fn expired_code_refused() {
        let later = NOW + Duration::seconds(30);
        assert_eq!(
            redeem_code(&grant(None), &authed("rp"), CB, None, later).err(),
            Some(OidcError::CodeExpired)
        );
    }

    #[test]
    fn code_pkce_rules_apply() {
        assert!(
            redeem_code(
                &grant(Some(CHALLENGE)),
                &authed("rp"),
                CB,
                Some(VERIFIER),
                NOW
            )
            .is_ok()
        );
        assert_eq!(
            redeem_code(&grant(Some(CHALLENGE)), &authed("rp"), CB, None, NOW).err(),
            Some(OidcError::PkceVerifierMissing)
        );
        assert_eq!(
            redeem_code(&grant(None), &authed("rp"), CB, Some(VERIFIER), NOW).err(),
            Some(OidcError::PkceVerifierUnexpected)
        );
    }

    #[test]
    fn authorization_grant_serializes_for_the_store() {
        let g = grant(Some(CHALLENGE));
        let json = serde_json::to_string(&g).expect("json");
        assert_eq!(
            serde_json::from_str::<AuthorizationGrant>(&json).expect("back"),
            g
        );
    }

    fn refresh_grant() -> RefreshGrant {
        let issued = redeem_code(&grant(None), &authed("rp"), CB, None, NOW).expect("redeem");
        RefreshGrant::new(&issued, NOW, Duration::days(30))
    }

    #[test]
    fn oidcc_refresh_token_bound_to_client() {
        assert_eq!(
            redeem_refresh(&refresh_grant(), &authed("other"), None, NOW).err(),
            Some(OidcError::RefreshClientMismatch)
        );
        let issued = redeem_refresh(&refresh_grant(), &authed("rp"), None, NOW).expect("refresh");
        assert_eq!(issued.nonce, None);
        assert_eq!(issued.scopes, vec!["openid", "offline_access"]);
    }

    #[test]
    fn refresh_scope_may_narrow_never_widen() {
        let narrowed = redeem_refresh(
            &refresh_grant(),
            &authed("rp"),
            Some(&["openid".into()]),
            NOW,
        )
        .expect("narrow");
        assert_eq!(narrowed.scopes, vec!["openid"]);
        assert_eq!(
            redeem_refresh(
                &refresh_grant(),
                &authed("rp"),
                Some(&["openid".into(), "email".into()]),
                NOW
            )
            .err(),
            Some(OidcError::ScopeWidened)
        );
    }

    #[test]
    fn expired_refresh_token_refused() {
        let later = NOW + Duration::days(31);
        assert_eq!(
            redeem_refresh(&refresh_grant(), &authed("rp"), None, later).err(),
            Some(OidcError::RefreshTokenExpired)
        );
    }

    #[test]
    fn refresh_request_parses_scope() {
        let f = form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "rt"),
            ("scope", "openid"),
            ("client_id", "rp"),
        ]);
        let req = parse_token_request(&f, None).expect("parse");
        assert!(
            matches!(req.grant, Grant::RefreshToken { scope: Some(ref s), .. } if s == &vec!["openid".to_owned()])
        );
    }

    #[test]
    fn debug_of_a_token_response_shows_no_token() {
        let response = TokenResponse {
            access_token: "at-SECRET-1".into(),
            token_type: "Bearer".into(),
            expires_in: 300,
            id_token: Some("it-SECRET-2".into()),
            refresh_token: Some("rt-SECRET-3".into()),
            scope: "openid".into(),
        };
        let shown = format!("{response:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("Bearer") && shown.contains("300"), "{shown}");
    }

    #[test]
    fn debug_of_a_token_request_shows_no_code_verifier_secret_or_assertion() {
        let f = form(&[
            ("grant_type", "authorization_code"),
            ("code", "code-SECRET-1"),
            ("redirect_uri", "https://rp.example/cb"),
            ("code_verifier", "verifier-SECRET-2"),
        ]);
        let request =
            parse_token_request(&f, Some(&basic("rp", "secret-SECRET-3"))).expect("parses");
        let shown = format!("{request:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("https://rp.example/cb"), "{shown}");

        let f = form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "rt-SECRET-4"),
            ("client_id", "rp"),
            ("client_assertion", "eyJ.assertion-SECRET-5.sig"),
            ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
        ]);
        let request = parse_token_request(&f, None).expect("parses");
        assert!(matches!(
            request.credentials,
            ClientCredentials::PrivateKeyJwt { .. }
        ));
        let shown = format!("{request:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
