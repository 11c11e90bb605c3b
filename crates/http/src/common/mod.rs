//! What every role's routes share. Nothing here imports a handler or a page of a role.
//!
//! - [`state`]: [`AppState`](state::AppState) and the role sub-states ([`ProviderState`](state::ProviderState)).
//! - [`health`]: liveness (`/healthz`) and readiness (`/readyz`, a write to the store).
//! - [`error`]: [`AppError`](error::AppError), the one error type, and how it becomes a response (page, OAuth JSON,
//!   503); the mapping from `tessera_service`'s errors.
//! - [`reply`]: human error pages ([`PageError`](reply::PageError)) and the script's JSON errors
//!   ([`ApiError`](reply::ApiError)).
//! - [`security`]: security headers (CSP, COOP, Permissions-Policy, ...), body limit, request ids, refusal log lines,
//!   and per-address rate limits.
//! - [`metrics`]: the request, sign-in, ceremony and token metrics (recorded only when the server enables them).
//! - [`csrf`]: Origin check and double-submit token for state-changing requests.
//! - [`views`]: the shared page layout, the error page template and rendering.
//! - [`hosts`]: tenants on an address of their own, routed by `Host` before the router sees the request.
//! - [`assets`]: the script, style sheet and icon, served from memory.

pub mod assets;
pub mod csrf;
pub mod error;
pub mod health;
pub mod hosts;
pub mod metrics;
pub mod reply;
pub mod security;
pub mod state;
pub mod views;
