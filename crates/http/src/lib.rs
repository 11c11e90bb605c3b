//! Tessera's HTTP layer: axum routers in rooms by role, each handler extracting, calling `tessera_service` (or the
//! pure protocol crates) and mapping the result to a response.
//!
//! - [`common`]: what every role shares: [`AppState`], [`AppError`] and the human error pages, security headers and
//!   rate limits, CSRF, the page layout and static assets. It imports no handler and no page.
//! - [`idp`]: the authenticator service (the OpenID provider with passkeys): its OIDC endpoints at
//!   `/{tenant}/oidc/...` and its pages (sign-in, sign-up, account) with their browser sessions.
//! - [`broker`]: the identity broker's user flows (`/{tenant}/{policy}/...`).
//! - [`admin`]: the built-in token viewer (`/jwt/run`, `/jwt`) for now; the admin API and portal to come.
//! - [`crossdevice`]: the router of the role to come (empty for now).
//!
//! The rule of dependencies: `common` ← `idp` (and the future roles); no role imports another. [`router`] assembles
//! everything into one [`axum::Router`].

pub mod admin;
pub mod broker;
pub mod common;
pub mod crossdevice;
pub mod idp;

pub use common::error::AppError;
pub use common::security::RateRule;
pub use common::state::{AppState, ProviderState, PublicUrl, SecuritySettings};
pub use common::{assets, csrf, error, security, state};
pub use idp::{oidc, pages, session};

/// Which roles a server serves (`[server] roles`): every node of a deployment may serve all three, or each role
/// may run on hosts of its own over the same store. Health endpoints and static assets are always served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// The authenticator service: its OIDC endpoints and passkey pages (and cross-device sign-in).
    pub authenticator: bool,
    /// The identity broker's user flows.
    pub broker: bool,
    /// The admin API, the portal and the token viewer.
    pub admin: bool,
}

impl Roles {
    /// All three roles (the default).
    pub const ALL: Roles = Roles {
        authenticator: true,
        broker: true,
        admin: true,
    };
}

impl Default for Roles {
    fn default() -> Self {
        Self::ALL
    }
}

/// The whole HTTP application: the passkey pages, the OIDC endpoints and the security layers.
///
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()` so the rate limiters see client addresses.
pub fn router(state: AppState) -> axum::Router {
    router_with_roles(state, Roles::ALL)
}

/// The HTTP application with only `roles`' routes (a path of another role answers 404).
pub fn router_with_roles(mut state: AppState, roles: Roles) -> axum::Router {
    if !roles.admin {
        // Without the admin role there are no enrolments to admit at the admin tenant's sign-up.
        state.provider.parts_mut().admin_enrolments = None;
    }
    let mut app = axum::Router::new()
        .merge(common::health::router(common::health::Health {
            store: state.provider.store.clone(),
            clock: state.provider.clock.clone(),
        }))
        .merge(common::assets::router());
    if roles.authenticator {
        app = app
            .merge(idp::router(&state.provider))
            .merge(crossdevice::router());
    }
    if roles.broker {
        app = app.merge(broker::router());
    }
    if roles.admin {
        app = app.merge(admin::router());
    }
    let app = app.with_state(state.clone());
    let app = security::apply(app, state.provider.security.body_limit);
    // Routing by `Host` rewrites paths, so it wraps the whole router: layers on a router run after routing (and
    // the security layers need the matched route for their log lines and metrics).
    let by_host = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(
            state.provider.hosts.clone(),
            common::hosts::route_by_host,
        ))
        .service(app);
    axum::Router::new().fallback_service(by_host)
}
