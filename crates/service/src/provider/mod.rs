//! The authenticator service's use cases (the FIDO2 server that is an OpenID provider).
//!
//! - [`signin`]: passkey sign-in (options, then verification that starts a session).
//! - [`signup`]: passkey sign-up (the user is written with its verified first passkey), and the registration steps
//!   shared with adding a passkey.
//! - [`ceremony`]: one-time WebAuthn ceremonies between options and verification (5 minutes, consumed on verify,
//!   bound to the browser that started them).
//! - [`session`]: new browser sessions as records, what they prove (`amr`/`acr` facts), verification freshness.
//! - [`authorize`]: the pending authorization request the pages resume after sign-in.
//! - [`runtime`]: a tenant's runtime entry (record, decrypted keys, discovery and JWKS documents), loaded once and
//!   cached by the HTTP layer.

pub mod authorize;
pub mod ceremony;
pub mod runtime;
pub mod session;
pub mod signin;
pub mod signup;
