//! OAuth 2.0 / OpenID Connect error codes, the crate's error enum, and the authorize-path split between errors that
//! may be redirected to the client and errors that must not be (RFC 6749 §4.1.2.1).

use serde::{Deserialize, Serialize};

use crate::authorize::ResponseMode;

/// A registered OAuth 2.0 / OpenID Connect error code (RFC 6749 §4.1.2.1 and §5.2, OIDC Core §3.1.2.6,
/// RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request is missing a parameter, repeats one, or is otherwise malformed.
    InvalidRequest,
    /// The client may not use this method or grant.
    UnauthorizedClient,
    /// The resource owner or the server denied the request.
    AccessDenied,
    /// The `response_type` is not supported.
    UnsupportedResponseType,
    /// The requested scope is invalid, unknown or not allowed.
    InvalidScope,
    /// An unexpected condition on the server.
    ServerError,
    /// The server is temporarily unable to handle the request.
    TemporarilyUnavailable,
    /// `prompt=none` but the user must sign in.
    LoginRequired,
    /// `prompt=none` but some interaction is needed.
    InteractionRequired,
    /// `prompt=none` but consent is needed.
    ConsentRequired,
    /// `prompt=none` but the user must choose an account.
    AccountSelectionRequired,
    /// The `request` parameter (request object) is not supported.
    RequestNotSupported,
    /// The `request_uri` parameter is not supported.
    RequestUriNotSupported,
    /// The `registration` parameter is not supported.
    RegistrationNotSupported,
    /// Client authentication failed.
    InvalidClient,
    /// The code, refresh token or other grant is invalid, expired, revoked or issued to another client.
    InvalidGrant,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// The access token is invalid (RFC 6750).
    InvalidToken,
    /// The access token lacks the scope needed (RFC 6750).
    InsufficientScope,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::InteractionRequired => "interaction_required",
            Self::ConsentRequired => "consent_required",
            Self::AccountSelectionRequired => "account_selection_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::RegistrationNotSupported => "registration_not_supported",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every rule this crate can refuse a request, token or key on. One variant per failed rule; [`OidcError::code`]
/// gives the OAuth error code to send and [`OidcError::description`] a safe `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    // --- request syntax -------------------------------------------------------------------------------------
    /// RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
    #[error("parameter {name} is repeated")]
    DuplicateParameter {
        /// The repeated parameter.
        name: String,
    },
    /// A required parameter is absent or empty.
    #[error("parameter {name} is missing")]
    MissingParameter {
        /// The missing parameter.
        name: &'static str,
    },
    /// A parameter's value is malformed.
    #[error("parameter {name} is malformed")]
    MalformedParameter {
        /// The malformed parameter.
        name: &'static str,
    },

    // --- authorize ------------------------------------------------------------------------------------------
    /// The `client_id` names no client of this tenant (never redirected).
    #[error("unknown client")]
    UnknownClient,
    /// The `redirect_uri` is not registered for the client (never redirected; RFC 9700 §4.1.3 exact match).
    #[error("redirect_uri is not registered for this client")]
    UnregisteredRedirectUri,
    /// Only `response_type=code` is supported (RFC 9700 §2.1.2: no implicit or hybrid flows).
    #[error("only response_type=code is supported")]
    UnsupportedResponseType,
    /// `response_mode` other than `query` or `form_post` (the fragment would carry the code in browser history).
    #[error("response_mode must be query or form_post")]
    UnsupportedResponseMode,
    /// OIDC Core §3.1.2.1: `scope` must contain `openid`.
    #[error("scope must contain openid")]
    OpenidScopeMissing,
    /// RFC 9700 §2.1.1: public clients must use PKCE.
    #[error("code_challenge is required for this client")]
    PkceRequired,
    /// RFC 7636 §4.2: only `S256` is accepted; `plain` exposes the verifier.
    #[error("code_challenge_method must be S256")]
    PkceMethodNotSupported,
    /// RFC 7636 §4.2: a challenge is 43 base64url characters (a SHA-256 digest).
    #[error("code_challenge is malformed")]
    PkceChallengeMalformed,
    /// OIDC Core §3.1.2.1: `prompt=none` must not be combined with other values.
    #[error("prompt=none cannot be combined with other prompt values")]
    PromptNoneCombined,
    /// An unknown `prompt` value.
    #[error("unsupported prompt value")]
    UnsupportedPrompt,
    /// The `request` parameter (signed or unsigned request object) is not supported.
    #[error("request objects are not supported")]
    RequestObjectNotSupported,
    /// The `request_uri` parameter is not supported.
    #[error("request_uri is not supported")]
    RequestUriNotSupported,
    /// The `registration` parameter is not supported.
    #[error("registration is not supported")]
    RegistrationNotSupported,
    /// The `id_token_hint` is not an ID token this issuer signed.
    #[error("id_token_hint is not valid")]
    InvalidIdTokenHint,
    /// `prompt=none` and the user has no usable session.
    #[error("the user must sign in")]
    LoginRequired,

    // --- PKCE at the token endpoint -------------------------------------------------------------------------
    /// RFC 7636 §4.4.1 / RFC 9700 §4.8: a challenge was sent, but no verifier.
    #[error("code_verifier is required")]
    PkceVerifierMissing,
    /// RFC 9700 §4.8 (PKCE downgrade): a verifier without a stored challenge is refused.
    #[error("code_verifier sent but no code_challenge was")]
    PkceVerifierUnexpected,
    /// RFC 7636 §4.1: 43-128 characters of `[A-Za-z0-9-._~]`.
    #[error("code_verifier is malformed")]
    PkceVerifierMalformed,
    /// RFC 7636 §4.6: `BASE64URL(SHA256(verifier))` differs from the challenge.
    #[error("code_verifier does not match code_challenge")]
    PkceMismatch,

    // --- token endpoint -------------------------------------------------------------------------------------
    /// The grant type is neither `authorization_code` nor `refresh_token`.
    #[error("unsupported grant_type")]
    UnsupportedGrantType,
    /// RFC 6749 §2.3: a client must use only one authentication method per request.
    #[error("more than one client authentication method used")]
    MultipleClientAuthentications,
    /// No client authentication and no `client_id`.
    #[error("client authentication is missing")]
    ClientAuthenticationMissing,
    /// The `Authorization` header is not valid HTTP Basic with form-urlencoded id and secret (RFC 6749 §2.3.1).
    #[error("malformed Basic authorization header")]
    MalformedBasicAuthorization,
    /// No client with this `client_id` (at the token endpoint this is `invalid_client`, RFC 6749 §5.2).
    #[error("client authentication failed")]
    ClientNotFound,
    /// The client authenticated with a method it did not register.
    #[error("client authentication method not allowed for this client")]
    ClientAuthMethodNotAllowed,
    /// The client secret is wrong.
    #[error("client authentication failed")]
    ClientSecretMismatch,
    /// The `client_id` parameter differs from the authenticated client.
    #[error("client_id does not match the authenticated client")]
    ClientIdMismatch,
    /// `client_assertion_type` is not `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    #[error("unsupported client_assertion_type")]
    UnsupportedClientAssertionType,
    /// The client assertion is not a usable JWT (syntax, claims, or `iss` ≠ `sub` ≠ `client_id`).
    #[error("client assertion is invalid")]
    InvalidClientAssertion,
    /// The client assertion's signature does not verify with the client's registered keys.
    #[error("client assertion signature is invalid")]
    ClientAssertionSignature,
    /// The client assertion's `aud` is neither the token endpoint nor the issuer.
    #[error("client assertion audience is wrong")]
    ClientAssertionAudience,
    /// The client assertion has expired, or lacks `exp`.
    #[error("client assertion has expired")]
    ClientAssertionExpired,
    /// The client assertion lacks a `jti`, needed to refuse replays.
    #[error("client assertion has no jti")]
    ClientAssertionJtiMissing,
    /// RFC 7523 §3 item 7: the client assertion's `jti` was already used within its lifetime.
    #[error("client assertion was already used")]
    ClientAssertionReplayed,
    /// The authorization code was never issued here, or expired before it was redeemed (RFC 6749 §5.2).
    #[error("authorization code is unknown or has expired")]
    AuthorizationCodeUnknown,
    /// The authorization code was redeemed before; what it issued is revoked (RFC 6749 §4.1.2).
    #[error("authorization code was already used; tokens issued from it are revoked")]
    AuthorizationCodeReused,
    /// The authorization code was issued to another client (RFC 6749 §4.1.3).
    #[error("code was issued to another client")]
    CodeClientMismatch,
    /// The `redirect_uri` differs from the one in the authorization request (RFC 6749 §4.1.3: identical).
    #[error("redirect_uri does not match the authorization request")]
    RedirectUriMismatch,
    /// The authorization code has expired.
    #[error("code has expired")]
    CodeExpired,
    /// The refresh token was issued to another client (RFC 9700 §4.14.2).
    #[error("refresh token was issued to another client")]
    RefreshClientMismatch,
    /// The refresh token's grant has expired.
    #[error("refresh token has expired")]
    RefreshTokenExpired,
    /// The refresh token was never issued here, has expired, or its grant was revoked.
    #[error("refresh token is unknown, expired or revoked")]
    RefreshTokenUnknown,
    /// A refresh token already exchanged was presented again: its whole family is revoked (RFC 9700 §4.14.2).
    #[error("refresh token was already used; its grant is revoked")]
    RefreshTokenReused,
    /// The grant was revoked (a reused code or refresh token, or the user was deleted) while tokens were issued.
    #[error("the grant was revoked")]
    GrantRevoked,
    /// A refresh may narrow the scope, never widen it (RFC 6749 §6).
    #[error("requested scope exceeds the original grant")]
    ScopeWidened,

    // --- JOSE -----------------------------------------------------------------------------------------------
    /// Not a compact JWS of three base64url parts with JSON header and payload.
    #[error("malformed JWT")]
    MalformedJwt,
    /// `alg=none` or another algorithm we do not accept.
    #[error("JWT algorithm not accepted")]
    JwtAlgorithmNotAllowed,
    /// No key with the JWT's `kid` (or no single candidate without one).
    #[error("no key matches the JWT")]
    JwtKeyNotFound,
    /// The JWT's `alg` differs from the algorithm pinned by the key.
    #[error("JWT algorithm does not match the key")]
    JwtAlgorithmMismatch,
    /// The signature does not verify.
    #[error("JWT signature is invalid")]
    JwtSignatureInvalid,
    /// The JWT's `iss` is not the expected issuer.
    #[error("JWT issuer is wrong")]
    JwtIssuerMismatch,
    /// The JWT's `aud` does not contain the expected audience.
    #[error("JWT audience is wrong")]
    JwtAudienceMismatch,
    /// The JWT has expired.
    #[error("JWT has expired")]
    JwtExpired,
    /// The JWT's `typ` header is not the expected one (access tokens are `at+jwt`, RFC 9068).
    #[error("JWT type is wrong")]
    JwtTypeMismatch,
    /// RFC 6750 §2: the access token was sent by more than one method.
    #[error("access token sent more than once")]
    MultipleAccessTokens,
    /// No access token in the request.
    #[error("access token is missing")]
    AccessTokenMissing,
    /// The access token does not carry the `openid` scope the userinfo endpoint needs.
    #[error("access token lacks the openid scope")]
    AccessTokenLacksOpenid,

    // --- keys -----------------------------------------------------------------------------------------------
    /// A JWK could not be turned into a verification key (unknown kty/crv, bad coordinates, RSA under 2048 bits).
    #[error("unusable JWK")]
    UnusableJwk,
    /// The private key could not be parsed or generated.
    #[error("signing key rejected")]
    KeyRejected,
    /// The master key is not 32 bytes.
    #[error("master key must be 32 bytes")]
    MasterKeyLength,
    /// The encrypted key does not decrypt under this master key, tenant and kid (wrong key or tampered).
    #[error("encrypted key does not decrypt")]
    KeyDecryption,
    /// A sealed secret does not open under this master key and context (wrong key, another owner, or tampered).
    #[error("sealed secret does not open")]
    SecretDecryption,
    /// A cryptographic primitive failed unexpectedly (signing, random generation).
    #[error("cryptographic operation failed")]
    Crypto,

    // --- logout / registration ------------------------------------------------------------------------------
    /// The `post_logout_redirect_uri` is not registered for the client.
    #[error("post_logout_redirect_uri is not registered for this client")]
    UnregisteredPostLogoutRedirectUri,
    /// A redirect URI offered for registration is not acceptable (fragment, http off loopback, not absolute).
    #[error("redirect URI is not acceptable for registration")]
    RedirectUriNotAcceptable,
}

impl OidcError {
    /// The OAuth error code this failure is reported with.
    pub fn code(&self) -> ErrorCode {
        use OidcError as E;
        match self {
            E::DuplicateParameter { .. }
            | E::MissingParameter { .. }
            | E::MalformedParameter { .. }
            | E::UnknownClient
            | E::UnregisteredRedirectUri
            | E::UnsupportedResponseMode
            | E::PkceRequired
            | E::PkceMethodNotSupported
            | E::PkceChallengeMalformed
            | E::PromptNoneCombined
            | E::UnsupportedPrompt
            | E::InvalidIdTokenHint
            | E::PkceVerifierMalformed
            | E::UnregisteredPostLogoutRedirectUri
            | E::RedirectUriNotAcceptable
            | E::MalformedBasicAuthorization
            | E::MultipleClientAuthentications => ErrorCode::InvalidRequest,
            E::UnsupportedResponseType => ErrorCode::UnsupportedResponseType,
            E::OpenidScopeMissing | E::ScopeWidened => ErrorCode::InvalidScope,
            E::RequestObjectNotSupported => ErrorCode::RequestNotSupported,
            E::RequestUriNotSupported => ErrorCode::RequestUriNotSupported,
            E::RegistrationNotSupported => ErrorCode::RegistrationNotSupported,
            E::LoginRequired => ErrorCode::LoginRequired,
            E::PkceVerifierMissing
            | E::PkceVerifierUnexpected
            | E::PkceMismatch
            | E::CodeClientMismatch
            | E::RedirectUriMismatch
            | E::CodeExpired
            | E::AuthorizationCodeUnknown
            | E::AuthorizationCodeReused
            | E::RefreshClientMismatch
            | E::RefreshTokenExpired
            | E::RefreshTokenUnknown
            | E::RefreshTokenReused
            | E::GrantRevoked => ErrorCode::InvalidGrant,
            E::UnsupportedGrantType => ErrorCode::UnsupportedGrantType,
            E::ClientAuthenticationMissing
            | E::ClientNotFound
            | E::ClientAssertionSignature
            | E::ClientAuthMethodNotAllowed
            | E::ClientSecretMismatch
            | E::ClientIdMismatch
            | E::UnsupportedClientAssertionType
            | E::InvalidClientAssertion
            | E::ClientAssertionAudience
            | E::ClientAssertionExpired
            | E::ClientAssertionJtiMissing
            | E::ClientAssertionReplayed => ErrorCode::InvalidClient,
            E::MalformedJwt
            | E::JwtAlgorithmNotAllowed
            | E::JwtKeyNotFound
            | E::JwtAlgorithmMismatch
            | E::JwtSignatureInvalid
            | E::JwtIssuerMismatch
            | E::JwtAudienceMismatch
            | E::JwtExpired
            | E::JwtTypeMismatch
            | E::AccessTokenMissing => ErrorCode::InvalidToken,
            E::MultipleAccessTokens => ErrorCode::InvalidRequest,
            E::AccessTokenLacksOpenid => ErrorCode::InsufficientScope,
            E::UnusableJwk
            | E::KeyRejected
            | E::MasterKeyLength
            | E::KeyDecryption
            | E::SecretDecryption
            | E::Crypto => ErrorCode::ServerError,
        }
    }

    /// A human-readable `error_description`: visible ASCII and spaces only (RFC 6749 §4.1.2.1 restricts it to
    /// `%x20-21 / %x23-5B / %x5D-7E`), so no CR, LF, TAB, quote or backslash can reach a header or a page.
    pub fn description(&self) -> String {
        sanitize_description(&self.to_string())
    }

    /// The JSON error body of the token and userinfo endpoints (RFC 6749 §5.2): `error` and `error_description`.
    pub fn error_body(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.code().as_str(), "error_description": self.description() })
    }
}

/// Restricts a description to RFC 6749's `error_description` character set, replacing anything else by a space
/// and truncating to 200 characters.
pub fn sanitize_description(text: &str) -> String {
    text.chars()
        .map(|c| {
            if matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E') {
                c
            } else {
                ' '
            }
        })
        .take(200)
        .collect()
}

/// An authorization-endpoint failure, split by where it may be shown (RFC 6749 §4.1.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client and redirect URI are known and registered: the error goes back to the client.
    Redirect {
        /// The validated, registered redirect URI.
        redirect_uri: String,
        /// How to deliver it.
        response_mode: ResponseMode,
        /// The client's `state`, echoed.
        state: Option<String>,
        /// The error code.
        error: ErrorCode,
        /// A sanitized description.
        description: String,
    },
    /// Unknown client, missing, malformed or unregistered redirect URI: show an error page, never redirect.
    NoRedirect {
        /// The error code.
        error: ErrorCode,
        /// A sanitized description.
        description: String,
        /// The rule that failed, so the page can explain it to people in their words.
        cause: OidcError,
    },
}

impl AuthorizeError {
    /// An error that must be shown to the user and never redirected.
    pub fn no_redirect(cause: &OidcError) -> Self {
        Self::NoRedirect {
            error: cause.code(),
            description: cause.description(),
            cause: cause.clone(),
        }
    }

    /// An error to send back to a validated redirect URI.
    pub fn redirect(
        redirect_uri: &str,
        response_mode: ResponseMode,
        state: Option<&str>,
        cause: &OidcError,
    ) -> Self {
        Self::Redirect {
            redirect_uri: redirect_uri.to_owned(),
            response_mode,
            state: state.map(str::to_owned),
            error: cause.code(),
            description: cause.description(),
        }
    }

    /// The error code.
    pub fn error(&self) -> ErrorCode {
        match self {
            Self::Redirect { error, .. } | Self::NoRedirect { error, .. } => *error,
        }
    }

    /// The sanitized description.
    pub fn description(&self) -> &str {
        match self {
            Self::Redirect { description, .. } | Self::NoRedirect { description, .. } => {
                description
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_description_never_contains_cr_lf_tab() {
        let err = OidcError::DuplicateParameter {
            name: "a\r\nSet-Cookie: x\t\"\\".into(),
        };
        let d = err.description();
        assert!(!d.contains(['\r', '\n', '\t', '"', '\\']), "{d:?}");
        assert!(d.starts_with("parameter a  Set-Cookie: x"));
    }

    #[test]
    fn error_description_is_bounded() {
        let long = "x".repeat(10_000);
        assert_eq!(sanitize_description(&long).len(), 200);
    }

    #[test]
    fn code_and_refresh_failures_are_invalid_grant_with_their_own_words() {
        for (error, words) in [
            (
                OidcError::AuthorizationCodeUnknown,
                "authorization code is unknown",
            ),
            (
                OidcError::AuthorizationCodeReused,
                "authorization code was already used",
            ),
            (OidcError::RefreshTokenUnknown, "refresh token is unknown"),
            (
                OidcError::RefreshTokenReused,
                "refresh token was already used",
            ),
            (OidcError::GrantRevoked, "grant was revoked"),
        ] {
            assert_eq!(error.code(), ErrorCode::InvalidGrant, "{error:?}");
            assert!(error.description().contains(words), "{error:?}");
        }
    }

    #[test]
    fn replayed_client_assertion_is_invalid_client() {
        let error = OidcError::ClientAssertionReplayed;
        assert_eq!(error.code(), ErrorCode::InvalidClient);
        assert_eq!(error.description(), "client assertion was already used");
    }

    #[test]
    fn error_codes_are_the_registered_strings() {
        assert_eq!(ErrorCode::InvalidRequest.as_str(), "invalid_request");
        assert_eq!(
            ErrorCode::RequestUriNotSupported.as_str(),
            "request_uri_not_supported"
        );
        assert_eq!(
            OidcError::PkceVerifierUnexpected.code(),
            ErrorCode::InvalidGrant
        );
        assert_eq!(
            OidcError::ClientAssertionAudience.code(),
            ErrorCode::InvalidClient
        );
        assert_eq!(
            OidcError::RequestObjectNotSupported.code().as_str(),
            "request_not_supported"
        );
        let json = serde_json::to_string(&ErrorCode::LoginRequired).unwrap_or_default();
        assert_eq!(json, "\"login_required\"");
    }
}
