//! The identity broker's use cases will live here: user flows (`B2C_1_signupsignin`-style policies per tenant),
//! upstream federation (authorization requests to upstream providers and their `/{tenant}/oauth2/authresp`
//! answers), claim mapping, and the broker's own authorize/token orchestration at `/{tenant}/{policy}/...`. The pure
//! decisions belong in `tessera_broker`; this module will orchestrate them with the store, as [`crate::provider`]
//! does for the authenticator service. The broker talks to the provider only over OIDC, never through this crate.
