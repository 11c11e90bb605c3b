//! The identity broker's use cases: configuration (broker tenants, applications, identity providers, user flows,
//! the directory) and the upstream HTTP client. The pure decisions live in `tessera_broker`; these functions
//! orchestrate them with the [`tessera_store::BrokerStore`], the master key and the [`UpstreamClient`], as
//! [`crate::provider`] does for the authenticator service. The broker talks to a provider only over OpenID Connect,
//! never through this crate's other modules.
//!
//! - [`upstream_client`]: [`UpstreamClient`], the only way the broker reaches a provider (`https`, or `http` to
//!   loopback; timeouts; no redirects; answers capped).
//! - [`tenants`]: broker tenants with their signing keys.
//! - [`applications`]: the apps that sign users in (client id generated, secret shown once).
//! - [`providers`]: identity providers, checked at save time against their fetched metadata and JWKS; their
//!   client secrets sealed under the master key; scheduled refresh and the runtime's unknown-`kid` refetch.
//! - [`flows`]: user flows with immutable versions.
//! - [`directory`]: the tenant's users, for operators.
//!
//! The runtime (the sign-in path and the broker's own endpoints for apps):
//!
//! - [`runtime`]: a broker tenant's keys and JWKS, a user flow's discovery document (cached by the HTTP layer),
//!   and reading the application and flow version a sign-in uses.
//! - [`signin`]: the app's authorization request, the choice page's answer, and the provider's answer at
//!   `/{tenant}/oauth2/authresp` (transaction, correlation cookie, code redemption, ID token, userinfo, claim
//!   mapping, access rules).
//! - [`signup`]: the attribute page's pending sign-up and the directory user written in one transaction.
//! - [`local`]: local accounts, passwordless: email verified by a one-time code, a passkey registered with the
//!   broker itself, and the passkey sign-in.
//! - [`mail`]: the broker's outgoing mail (SMTP or a directory of `.eml` files).
//! - [`session`]: the broker's single sign-on session and the codes it issues to apps.
//! - [`token`]: the token endpoint (code with PKCE, refresh with rotation and reuse detection), userinfo, logout.
//! - [`federation`]: a provider as a sign-in uses it (cached metadata and keys, the opened client secret).
//!
//! `docs/broker.md` lists the functions each side provides.

pub mod applications;
pub mod directory;
pub mod federation;
pub mod flows;
pub mod local;
pub mod mail;
pub mod providers;
pub mod runtime;
pub mod session;
pub mod signin;
pub mod signup;
pub mod tenants;
pub mod token;
pub mod upstream_client;

#[cfg(test)]
pub(crate) mod testing;

pub use upstream_client::{
    JsonResponse, RootRefused, UpstreamClient, UpstreamError, install_default_tls_provider,
};
