//! Tessera's integration tests: the real application on port 0, driven over HTTP.
//!
//! - `admin_cli`: `tessera admin` against a running demo: bootstrap, the tutorial replayed, exit codes.
//! - `basic_op`: the OpenID "Basic OP" and "Form Post OP" plans, one test per conformance module.
//! - `config_op`: the "Config OP" plan (discovery) and CORS.
//! - `interop`: the `openidconnect` crate as the client (RS256, ES256, public client, PostgreSQL) and the demo RP.
//! - `passkey`: complete flows through the passkey pages with a software authenticator.
//! - `provider`: what the provider derives and refuses: `amr`/`acr` from session facts, `sid` and logout by it,
//!   token-endpoint errors by rule, refresh tokens as plain values, the error and logout pages.
//! - `security`: headers, rate limits, PKCE downgrade, store failure, key rotation.
//! - `binary`: the `tessera` binary: configuration refusal, start-up time, the demo, log output.
//! - `metrics`: the Prometheus counters move with requests, on their own listener.
//! - `hosts`: tenants on their own address, routed by `Host` (own RP ID, origins and issuer).
//! - `logs`: one log line per sign-in, sign-up and refused request, with tenant, client and request id; no secret.

mod admin_cli;
mod basic_op;
mod binary;
mod config_op;
mod hardening;
mod helpers;
mod hosts;
mod interop;
mod logs;
mod metrics;
mod passkey;
mod provider;
mod security;
