//! Test authenticators and helpers for Tessera's tests and benchmarks.
//!
//! - [`malicious`] — [`MaliciousAuthenticator`], our own authenticator on aws-lc-rs and ciborium whose
//!   every output field can be overridden; valid by default, so also the fast authenticator for
//!   benchmarks and integration tests.
//! - [`soft`] — [`SoftAuthenticator`], a valid authenticator on 1Password's `passkey` crates
//!   (discoverable credentials, ES256/EdDSA/ML-DSA).
//! - [`ca`] — [`TestCa`], a throw-away attestation CA for `packed` basic and `fido-u2f` statements and
//!   FIDO MDS3 BLOBs.
//! - [`keys`] — credential key pairs (ES256, ES384, Ed25519, RS256, PS256) and their COSE encoding.
//! - [`app`] — [`spawn_app`]: the real application on port 0 with a fresh store, and [`TestApp`], which drives it
//!   over HTTP (the one harness of every HTTP test).
//! - [`helpers`] — random values and throw-away SQLite files.
//! - [`error`] — [`TestkitError`].
//!
//! Both authenticators take ceremony options as JSON text (`PublicKeyCredentialCreationOptionsJSON`
//! or `PublicKeyCredentialRequestOptionsJSON`, bare or under `publicKey`) and an origin, and return
//! the response in the WebAuthn JSON serialization (`RegistrationResponseJSON`,
//! `AuthenticationResponseJSON`), ready to post to a relying party.

pub mod app;
pub mod ca;
mod cbor;
pub mod error;
pub mod helpers;
pub mod keys;
pub mod malicious;
mod options;
pub mod soft;

pub use app::{AppOptions, Backend, PgSchema, TestApp, spawn_app};
pub use ca::{AttestationCert, MdsEntry, TestCa};
pub use cbor::{b64url, b64url_decode};
pub use error::TestkitError;
pub use helpers::{TempSqlite, random_bytes, random_string};
pub use keys::{KeyAlg, SigningKey};
pub use malicious::{
    Attestation, Credential, FlagOverrides, MaliciousAuthenticator, Overrides, SignCounter,
};
pub use soft::SoftAuthenticator;
