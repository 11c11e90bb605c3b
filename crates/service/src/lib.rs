//! Tessera's use cases, without HTTP: what the web handlers, the `tessera` CLI and (later) the admin API call.
//!
//! Each use case takes the store, the keys and `now` explicitly, and returns values or a [`ServiceError`] naming what
//! went wrong; the callers turn those into pages, JSON or exit codes. No axum, HTTP or hyper type appears here.
//!
//! - [`tenants`]: tenants and their authenticator policy (create with keys, update, policy parsing and checks).
//! - [`clients`]: OAuth client registration.
//! - [`keys`]: signing key generation, rotation, activation, and the publishable key set.
//! - [`provider`]: the authenticator service (the OpenID provider with passkeys): sign-up, sign-in, the pending
//!   authorization between the authorization endpoint and the pages, and the tenant's runtime entry.
//! - [`users`]: the authenticator service's users and their passkeys for operators (search, disable, delete,
//!   rename and revoke passkeys); [`metadata`]: the loaded FIDO metadata's models.
//! - [`handles`]: bearer secrets (cookies, codes, tokens), their storage keys, and time-ordered public ids.
//! - [`broker`], [`admin`], [`crossdevice`]: rooms for the roles to come (documented, empty).
//! - [`error`]: the error type, [`ServiceError`].

pub mod admin;
pub mod broker;
pub mod clients;
pub mod crossdevice;
pub mod error;
pub mod handles;
pub mod keys;
pub mod metadata;
pub mod provider;
pub mod tenants;
pub mod users;

pub use error::{Result, ServiceError};
