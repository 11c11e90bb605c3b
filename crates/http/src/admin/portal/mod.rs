//! The admin portal at `/admin/`: server-rendered pages over `tessera_service` (never the store directly for
//! business objects), for administrators signed in with a passkey at the built-in admin tenant.
//!
//! - [`signin`]: sign-in (the portal is an OpenID Connect client of the admin tenant: code flow with PKCE, the
//!   code redeemed in process by the token endpoint's own use case), the bootstrap link, sign-out.
//! - [`broker`]: broker tenants, "Identity providers" (Add → OpenID Connect, "Map this identity provider's
//!   claims"), "User flows" ("New user flow" → "Sign up and sign in", "User attributes and token claims",
//!   "Application claims", "Run user flow"), applications and the directory's users.
//! - [`authenticator`]: authenticator tenants and new OAuth clients; [`policy`]: a tenant's authenticator policy
//!   and sessions; [`keys`]: its signing keys (rotate); [`clients`]: its clients (edit, new secret, delete);
//!   [`users`]: its users and their passkeys (disable, delete, rename, revoke) and the loaded FIDO metadata.
//! - [`audit`]: the audit trail (filterable) and the administrators (invitations).
//! - [`lifecycle`]: deleting tenants of both roles and user flows; [`broker_keys`]: a broker tenant's signing keys
//!   (rotate); [`broker_rename`]: a broker tenant's display name; [`broker_actions`]: an identity provider's "Test
//!   connection", an application's new secret and a user flow's multi-factor and conditional access settings;
//!   [`tenant_edit`]: an authenticator tenant's name, origins and own address.
//! - [`views`]: the page frame, the generic form, list and detail pages, and how service errors land next to a
//!   field.
//!
//! Every page needs a portal session ([`Ctx`]); without one the answer is a 303 to `/admin/signin`. Every form
//! posts its CSRF token (double submit, `Origin` checked); a tenant the administrator does not see is a 404.

pub mod audit;
pub mod authenticator;
pub mod broker;
pub mod broker_actions;
pub mod broker_keys;
pub mod broker_rename;
pub mod clients;
pub mod keys;
pub mod lifecycle;
pub mod policy;
pub mod signin;
pub mod tenant_edit;
pub mod tokens;
pub mod users;
pub mod views;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tessera_core::TenantId;
use tessera_service::admin::api_tokens::RequestContext;
use tessera_service::admin::members::{self, Admin};
use tessera_service::admin::scope::Side;

use crate::common::csrf::{self, CsrfToken};
use crate::common::reply::PageError;
use crate::common::state::AppState;

/// The portal's root path.
pub const ROOT: &str = "/admin";

/// The portal session cookie's name: `__Host-` prefixed on https (the prefix requires `Secure` and `Path=/`, which
/// browsers only honour for secure origins; on plain `http://localhost` the name stays unprefixed).
pub fn session_cookie_name(app: &AppState) -> &'static str {
    if app.provider.public_url.is_https() {
        "__Host-tessera-admin"
    } else {
        "tessera-admin"
    }
}

/// The `Set-Cookie` value of a new portal session: `HttpOnly; Secure; SameSite=Strict`, for the session's absolute
/// lifetime (the idle timeout is enforced by the store's record).
pub fn session_cookie(app: &AppState, value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Strict",
        session_cookie_name(app),
        members::SESSION_LIFETIME.whole_seconds()
    ))
    .ok()
}

/// The `Set-Cookie` value that removes the portal session cookie.
pub fn clear_session_cookie(app: &AppState) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict",
        session_cookie_name(app)
    ))
    .ok()
}

/// The namespace the portal's CSRF cookie is named after (`__Host-tessera-csrf-tessera-admin-portal`).
pub(crate) fn csrf_namespace() -> Result<TenantId, Box<PageError>> {
    members::portal_sessions().map_err(|e| Box::new(PageError::from(e)))
}

/// A signed-in administrator's request: who, the page's CSRF token (and the cookie that installs it, when new),
/// and the request's headers for the CSRF check of a form.
pub struct Ctx {
    /// The administrator.
    pub admin: Admin,
    /// The CSRF token to embed in forms.
    pub csrf: CsrfToken,
    /// `Set-Cookie` for a new CSRF token.
    pub set_csrf: Option<HeaderValue>,
    headers: HeaderMap,
    own_origin: String,
    client_address: Option<String>,
    /// Whose tenant the page's path names: `/admin/broker/{t}/...` the broker's, `/admin/authenticator/{t}/...`
    /// the authenticator service's (a scope such as `broker:contoso` sees only that role's tenant).
    side: Option<Side>,
}

/// The role whose tenant a portal path names.
fn side_of_path(path: &str) -> Option<Side> {
    if path.starts_with("/admin/broker/") {
        Some(Side::Broker)
    } else if path.starts_with("/admin/authenticator/") {
        Some(Side::Authenticator)
    } else {
        None
    }
}

impl Ctx {
    /// Checks a form's CSRF token (and the request's `Origin`); a failure is a 403 page.
    pub fn verify_form(&self, submitted: Option<&str>) -> Result<(), Box<Response>> {
        let namespace = csrf_namespace().map_err(|e| Box::new((*e).into_response()))?;
        csrf::verify(&self.headers, &namespace, submitted, &[], &self.own_origin)
            .map(|_| ())
            .map_err(|e| Box::new(PageError::from(e).into_response()))
    }

    /// Where the change came from, for its audit event.
    pub fn request_context(&self) -> RequestContext {
        let request_id = self
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        RequestContext {
            request_id,
            client_address: self.client_address.clone(),
        }
    }

    /// A 404 unless the administrator sees `tenant` (a tenant admin's other tenants do not exist for them).
    pub fn see(&self, tenant: &str) -> Result<TenantId, Box<Response>> {
        if !self.admin.sees_tenant(self.side, tenant) {
            return Err(Box::new(not_found()));
        }
        TenantId::parse(tenant).map_err(|_| Box::new(not_found()))
    }

    /// A 404 unless the administrator may change `tenant`.
    pub fn write(&self, tenant: &str) -> Result<TenantId, Box<Response>> {
        let id = self.see(tenant)?;
        if !self.admin.can_write() {
            return Err(Box::new(read_only()));
        }
        Ok(id)
    }

    /// A 404 unless the administrator is a global admin (administrators, new tenants).
    pub fn global(&self) -> Result<(), Box<Response>> {
        if self.admin.is_global() {
            Ok(())
        } else {
            Err(Box::new(not_found()))
        }
    }
}

/// The portal's "not found" page (also what a tenant admin sees of another tenant).
pub fn not_found() -> Response {
    PageError::new(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is nothing here, or it is not yours to see.",
    )
    .with_link(format!("{ROOT}/"), "Go to the portal's start page")
    .into_response()
}

fn read_only() -> Response {
    PageError::new(
        StatusCode::FORBIDDEN,
        "Read-only",
        "Your role may look at this but not change it.",
    )
    .with_link(format!("{ROOT}/"), "Go to the portal's start page")
    .into_response()
}

/// A 303 to `location`.
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn to_sign_in(parts: &Parts) -> Response {
    let here = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let mut target = format!("{ROOT}/signin");
    if parts.method == axum::http::Method::GET && here.starts_with(ROOT) && here != target {
        target.push_str("?next=");
        target.push_str(&form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>());
    }
    see_other(&target)
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let now = app.provider.clock.now();
        let Some(value) = csrf::read_cookie(&parts.headers, session_cookie_name(app)) else {
            return Err(to_sign_in(parts));
        };
        let store = app.provider.store.as_ref();
        let session = members::current_session(store, value, now)
            .await
            .map_err(|e| PageError::from(e).into_response())?;
        let Some(session) = session else {
            return Err(to_sign_in(parts));
        };
        let admin = members::admin_for(&app.admin_store, session.user_id.as_str())
            .await
            .map_err(|e| PageError::from(e).into_response())?;
        let Some(admin) = admin else {
            // No longer an administrator: the session is worth nothing any more.
            let _ = members::end_session(store, value).await;
            return Err(to_sign_in(parts));
        };
        let namespace = csrf_namespace().map_err(|e| (*e).into_response())?;
        let (csrf, set_csrf) = csrf::token_for_page(&parts.headers, &namespace)
            .map_err(|e| PageError::from(e).into_response())?;
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|axum::extract::ConnectInfo(addr)| addr.ip());
        let client_address = peer.map(|peer| {
            crate::common::security::client_ip(
                Some(peer),
                &parts.headers,
                &app.provider.security.trusted_proxies,
            )
            .to_string()
        });
        Ok(Self {
            admin,
            csrf,
            set_csrf,
            headers: parts.headers.clone(),
            own_origin: app.provider.public_url.origin(),
            client_address,
            side: side_of_path(parts.uri.path()),
        })
    }
}

/// The portal's routes, all under `/admin`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { see_other("/admin/") }))
        .route("/admin/", get(broker::home))
        .route("/admin/signin", get(signin::page))
        .route("/admin/signin/start", get(signin::start))
        .route("/admin/callback", get(signin::callback))
        .route("/admin/bootstrap", get(signin::bootstrap))
        .route("/admin/invitation", get(signin::invitation))
        .route("/admin/signout", post(signin::sign_out))
        .merge(broker::router())
        .merge(authenticator::router())
        .merge(audit::router())
        .merge(tokens::router())
        .merge(lifecycle::router())
        .merge(broker_keys::router())
        .merge(broker_rename::router())
        .merge(broker_actions::router())
        .merge(tenant_edit::router())
}
