//! The identity broker's pure core (Azure AD B2C's role): values in, including `now`, decisions or errors out. No
//! I/O: the service layer stores, fetches and serves; this crate decides.
//!
//! - [`config`]: applications, OpenID Connect identity providers (claim mapping), "sign up and sign in" user
//!   flows with immutable versions, and their validation ([`config::ConfigError`] names the field).
//! - [`metadata`]: an upstream provider's discovery document and JWKS, validated for its metadata URL.
//! - [`upstream`]: the broker as a relying party: authorization request (state, nonce, PKCE), authorization
//!   response (state, RFC 9207 `iss`, provider errors), token request/response, the ID token fully validated, and
//!   userinfo.
//! - [`claims`]: the claim mapping, the attribute page, conditional access and MFA, and the application token's
//!   claims.
//! - [`policy_path`]: the B2C URL shapes (`/{tenant}/{policy}/...`, `/tfp/...`, `?p=`, `/{tenant}/oauth2/authresp`).
//! - [`choice`]: straight to one provider, or the choice page.

pub mod choice;
pub mod claims;
pub mod config;
pub mod metadata;
pub mod policy_path;
pub mod upstream;

pub use config::{
    Application, ConfigError, IdentityProvider, PolicyId, ProviderId, UserFlow, UserFlowVersion,
};
pub use metadata::{ProviderKeys, ProviderMetadata};
pub use upstream::{IdTokenError, UpstreamTransaction, ValidatedIdToken};
