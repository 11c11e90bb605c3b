//! OpenID Connect provider rules for Tessera: pure functions from values (requests, stored grants, keys, `now`) to
//! decisions, tokens and documents. No I/O, no HTTP or database types.
//!
//! - [`error`]: OAuth error codes, [`OidcError`] (one variant per failed rule), and [`AuthorizeError`], which
//!   separates errors that may be redirected to the client from those that must not be.
//! - [`client`]: [`ClientConfig`], the registered client; redirect-URI matching and registration checks; secret
//!   hashes.
//! - [`authorize`]: authorization request validation, `prompt`/`max_age` decisions, query and form_post responses.
//! - [`pkce`]: S256 verification and the downgrade rules.
//! - [`token`]: token request parsing, client authentication (secret basic/post, `private_key_jwt`, none), code and
//!   refresh-token redemption rules.
//! - [`access_token`]: JWT access tokens (RFC 9068) and bearer-token extraction for userinfo.
//! - [`id_token`]: ID token and userinfo claims, `amr`/`acr` from the WebAuthn facts, `at_hash`.
//! - [`keys`]: RS256/ES256 signing keys on aws-lc-rs, JWKs and JWKS, keys encrypted at rest.
//! - [`jose`]: JWS compact signing and verification (no `alg=none`, algorithm pinned by key).
//! - [`discovery`]: the OpenID Provider metadata document.
//! - [`logout`]: RP-initiated logout rules.

pub mod access_token;
pub mod authorize;
pub mod client;
pub mod discovery;
pub mod error;
pub mod id_token;
pub mod jose;
pub mod keys;
pub mod logout;
pub mod pkce;
pub mod token;

pub use authorize::{ResponseMode, ValidatedAuthorization};
pub use client::{ClientAuthConfig, ClientConfig, ClientType, SecretHash};
pub use error::{AuthorizeError, ErrorCode, OidcError};
pub use keys::{
    EncryptedSigningKey, Jwk, JwkSet, KeySet, MasterKey, SigningAlg, SigningKey, VerifyingKey,
};
