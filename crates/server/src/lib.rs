//! The `tessera` server: configuration, start-up and the operator commands behind the binary.
//!
//! - [`config`]: the TOML + environment configuration, validated at start ([`config::Config`]).
//! - [`app`]: [`app::Application`] — bind, open the store, serve until stopped, background maintenance.
//! - [`datadir`]: a self-contained data directory (SQLite file and master key), for `--data-dir` and the demo.
//! - [`demo`]: `tessera demo`, with a small built-in relying party at `/demo/`.
//! - [`listener`]: the HTTP listener: header, body, idle and TLS handshake timeouts, the connection cap, surviving
//!   descriptor exhaustion.
//! - [`metrics`]: `[metrics]`: the Prometheus recorder and its own `/metrics` listener.
//! - [`tls`]: `[server.tls]` certificate and key files, loaded into a rustls acceptor.
//! - [`trust`]: attestation trust anchors and the FIDO MDS3 BLOB from the `[webauthn]` files (reloaded on change).
//! - [`error`]: [`error::ServerError`], the crate's one error type.
//!
//! Tenant, client and key operations live in `tessera_service`, shared with the HTTP layer and the admin API. The
//! load generator is the separate `tessera-bench` binary (`crates/bench`): this crate links no test code.

pub mod app;
pub mod config;
pub mod datadir;
pub mod demo;
pub mod error;
pub mod listener;
pub mod metrics;
pub mod tls;
pub mod trust;

pub use app::Application;
pub use config::Config;
pub use error::ServerError;
