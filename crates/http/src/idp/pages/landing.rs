//! The landing page at `/` of `tessera demo`: what runs here and where to go (the demo application, each tenant's
//! account page and discovery document). Rendered like the other pages (shared layout, style sheet and CSP).
//!
//! It lists every tenant, so only the demo mounts it ([`router`]); a production server keeps `/` empty rather than
//! publish its tenants.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use tessera_store::Store;

use super::views::{LandingPage, LandingTenant, Layout, render};
use crate::common::reply::PageError;
use crate::state::PublicUrl;

/// What the landing page links to besides the tenants.
#[derive(Clone)]
pub struct Landing {
    /// The store the tenants are read from.
    pub store: Arc<dyn Store>,
    /// The service's public URL (the discovery documents' base).
    pub public_url: PublicUrl,
    /// The demo application's start page, when it is served.
    pub demo_url: Option<String>,
    /// The token viewer's "Run user flow" URL of the demo's broker flow, set once the broker is configured (the
    /// demo configures it after the server answers, so the link appears then).
    pub run_user_flow: Arc<OnceLock<RunUserFlow>>,
}

/// The demo's broker flow, for the landing page's "Run user flow" link.
#[derive(Clone, Debug)]
pub struct RunUserFlow {
    /// The user flow's name, e.g. `B2C_1_signupsignin`.
    pub policy: String,
    /// The token viewer's run URL for it.
    pub url: String,
}

/// The landing page's route (`GET /`).
pub fn router(landing: Landing) -> Router {
    Router::new()
        .route("/", get(page))
        .with_state(Arc::new(landing))
}

async fn page(State(landing): State<Arc<Landing>>) -> Result<Response, PageError> {
    // The admin tenant is the portal's, not one to try: it is left out.
    let tenants =
        tessera_service::admin::members::authenticator_tenants(landing.store.as_ref()).await?;
    let view = LandingPage {
        layout: Layout::new("Welcome", "Tessera", String::new(), None, "landing", None),
        demo_url: landing.demo_url.clone(),
        run_user_flow: landing.run_user_flow.get().cloned(),
        tenants: tenants
            .iter()
            .map(|t| {
                let settings = tessera_service::tenants::tenant_settings(t).unwrap_or_default();
                let issuer = settings.issuer(landing.public_url.as_str(), &t.id);
                LandingTenant {
                    id: t.id.to_string(),
                    name: t.display_name.clone(),
                    account_href: match &settings.public_url {
                        Some(own) => format!("{own}/account"),
                        None => format!("/{}/account", t.id),
                    },
                    discovery_href: format!("{issuer}/.well-known/openid-configuration"),
                }
            })
            .collect(),
    };
    Ok(render(&view, StatusCode::OK, None))
}
