//! The passkey pages of the authenticator service, per tenant at `/{tenant}/...`, and the JSON calls their script makes.
//!
//! - [`login`]: the sign-in page (`GET /{tenant}/login?authz=...`) and `POST /{tenant}/webauthn/login/options|verify`
//!   (username-first, discoverable, conditional mediation, and re-verification before adding a passkey).
//! - [`signup`]: the sign-up page (`GET /{tenant}/signup`) and `POST /{tenant}/webauthn/register/options|verify`; the
//!   user row is written only with its verified first passkey, so an abandoned sign-up leaves nothing.
//! - [`account`]: the account page (`GET /{tenant}/account`), renaming and deleting passkeys, adding one
//!   (`POST /{tenant}/webauthn/add/options|verify`, after a fresh user verification) and signing out.
//! - [`landing`]: the landing page at `/` that `tessera demo` mounts (the demo, each tenant's pages).
//! - [`context`]: what every handler needs first: the tenant, its policy, its origins, the pending authorization.
//! - [`views`]: the compile-time checked templates (auto-escaped).
//!
//! Every POST passes [`crate::csrf`] (Origin and double-submit token). Sessions live in [`crate::session`]; the
//! one-time ceremonies and the sign-in use case in `tessera_service::provider`; error pages, layout and static assets
//! in [`crate::common`].

pub mod account;
pub mod context;
pub mod landing;
pub mod login;
pub mod signup;
pub mod views;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};

use crate::state::ProviderState;

/// The pages' routes, for any outer state the provider's state is taken from. The options endpoints (which create
/// challenges) are rate-limited per client address.
pub fn router<S>(state: &ProviderState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    ProviderState: FromRef<S>,
{
    let challenges = Router::new()
        .route("/{tenant}/webauthn/login/options", post(login::options))
        .route("/{tenant}/webauthn/register/options", post(signup::options))
        .route("/{tenant}/webauthn/add/options", post(account::add_options))
        .layer(crate::common::security::per_ip_rate_limit(
            &state.rate_limiters,
            &state.security.trusted_proxies,
            state.security.challenge_rate,
        ));
    Router::new()
        .route("/{tenant}/login", get(login::page))
        .route("/{tenant}/signup", get(signup::page))
        .route("/{tenant}/account", get(account::page))
        .route("/{tenant}/account/passkeys/rename", post(account::rename))
        .route("/{tenant}/account/passkeys/delete", post(account::delete))
        .route("/{tenant}/signout", post(account::sign_out))
        .route("/{tenant}/webauthn/login/verify", post(login::verify))
        .route("/{tenant}/webauthn/register/verify", post(signup::verify))
        .route("/{tenant}/webauthn/add/verify", post(account::add_verify))
        .route("/{tenant}/webauthn/delete", post(account::delete_json))
        .merge(challenges)
}
