//! The provider's page templates (askama: checked at compile time, HTML auto-escaped): sign-in, sign-up, account.
//!
//! Pages carry no inline script or style, so the strict CSP holds; every field and button has a stable `id` and a
//! label for the browser tests and for assistive technology.

use askama::Template;

pub use crate::common::views::{ErrorPage, Layout, render};

/// The sign-in page.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    /// Shared layout.
    pub layout: Layout,
    /// The client the user is signing in to, if an authorization is pending.
    pub client_name: Option<String>,
    /// The username to prefill (`login_hint`).
    pub login_hint: String,
    /// The sign-up link.
    pub signup_href: String,
    /// The cancel link (only with a pending authorization).
    pub cancel_href: Option<String>,
    /// A confirmation shown above the form ("You are signed out.").
    pub notice: Option<String>,
}

/// The sign-up page.
#[derive(Template)]
#[template(path = "signup.html")]
pub struct SignupPage {
    /// Shared layout.
    pub layout: Layout,
    /// The client the user is signing up for, if an authorization is pending.
    pub client_name: Option<String>,
    /// The username to prefill (`login_hint`).
    pub login_hint: String,
    /// The sign-in link.
    pub login_href: String,
    /// The cancel link (only with a pending authorization).
    pub cancel_href: Option<String>,
}

/// One passkey on the account page.
#[derive(Debug, Clone)]
pub struct PasskeyView {
    /// 1-based position, used in element ids.
    pub index: usize,
    /// The credential id, base64url.
    pub id: String,
    /// The user's name for it.
    pub name: String,
    /// `Synced`, `Security key` or `This device only` ([`super::account::passkey_kind`]).
    pub kind: &'static str,
    /// Creation date, for people.
    pub created: String,
    /// Creation time, RFC 3339.
    pub created_iso: String,
    /// Last use, for people.
    pub last_used: Option<String>,
    /// Last use, RFC 3339 (empty if never).
    pub last_used_iso: String,
}

/// The account page.
#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    /// Shared layout.
    pub layout: Layout,
    /// The user's username.
    pub username: String,
    /// The user's display name.
    pub display_name: String,
    /// The user's passkeys, oldest first.
    pub passkeys: Vec<PasskeyView>,
    /// Whether a passkey may be deleted (more than one exists).
    pub can_delete: bool,
    /// A confirmation of the last action.
    pub notice: Option<String>,
    /// The application the user came from (`?client_id=`): its page and name.
    pub back_to_app: Option<(String, String)>,
}

/// One tenant on the landing page.
#[derive(Debug, Clone)]
pub struct LandingTenant {
    /// The tenant id (its path segment).
    pub id: String,
    /// The tenant's display name.
    pub name: String,
    /// `/{tenant}/account`.
    pub account_href: String,
    /// The tenant's discovery document URL.
    pub discovery_href: String,
}

/// The landing page of `tessera demo` at `/`.
#[derive(Template)]
#[template(path = "landing.html")]
pub struct LandingPage {
    /// Shared layout.
    pub layout: Layout,
    /// The demo application's start page, when it is served.
    pub demo_url: Option<String>,
    /// The "Run user flow" link of the demo's broker flow, once configured.
    pub run_user_flow: Option<super::landing::RunUserFlow>,
    /// Every tenant, by id.
    pub tenants: Vec<LandingTenant>,
}
