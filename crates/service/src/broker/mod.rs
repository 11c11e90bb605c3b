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
//! The runtime sign-in path (authorize, `/{tenant}/oauth2/authresp`, the attribute page, token, userinfo, logout)
//! joins these modules; `docs/broker.md` lists the functions each side provides.

pub mod applications;
pub mod directory;
pub mod flows;
pub mod providers;
pub mod tenants;
pub mod upstream_client;

#[cfg(test)]
pub(crate) mod testing;

pub use upstream_client::{
    JsonResponse, UpstreamClient, UpstreamError, install_default_tls_provider,
};
