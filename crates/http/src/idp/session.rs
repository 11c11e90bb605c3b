//! Browser sessions of the passkey pages, one per tenant: the cookie that carries a session's token.
//!
//! The cookie `__Host-tessera-{tenant}` (`Path=/; Secure; HttpOnly; SameSite=Lax`) holds a bearer token from
//! `tessera_service::handles` (8 bytes of its issue time, then 32 random bytes, base64url); the store keeps only its
//! storage key (time prefix and SHA-256), so a database leak yields no usable session. What a session records and
//! proves (`amr`/`acr` facts, verification freshness) is `tessera_service::provider::session`'s.

use axum::http::{HeaderMap, HeaderValue};
use tessera_core::{Secret, TenantId};
use tessera_service::handles;
use tessera_service::provider::session::live_session;

use crate::csrf::read_cookie;
use crate::error::AppError;
use crate::state::ProviderState;

/// A live browser session, as the store keeps it.
pub use tessera_store::Session as SessionRecord;

pub use tessera_service::provider::session::{
    AuthenticationFacts, authentication, has_verification_within,
};

/// The prefix of every session cookie; the tenant id follows.
pub const SESSION_COOKIE_PREFIX: &str = "__Host-tessera-";

/// How recent a user verification must be to add or delete a passkey.
pub const FRESH_VERIFICATION: time::Duration = time::Duration::minutes(5);

/// The session cookie's name for a tenant: `__Host-tessera-{tenant}`.
pub fn cookie_name(tenant: &TenantId) -> String {
    format!("{SESSION_COOKIE_PREFIX}{tenant}")
}

fn session_token(headers: &HeaderMap, tenant: &TenantId) -> Option<String> {
    let value = read_cookie(headers, &cookie_name(tenant))?;
    handles::is_plausible(value).then(|| value.to_owned())
}

/// The browser's live session with `tenant`, if its cookie names one: within the absolute lifetime and the
/// tenant's idle timeout (`tessera_service::provider::session::live_session`).
///
/// A malformed, unknown, expired or idle cookie is `Ok(None)`; a store failure is an error (never "signed out").
pub async fn current(
    state: &ProviderState,
    tenant: &TenantId,
    headers: &HeaderMap,
) -> Result<Option<SessionRecord>, AppError> {
    let Some(token) = session_token(headers, tenant) else {
        return Ok(None);
    };
    let idle = state.tenant(tenant).await?.settings.session_idle();
    let key = handles::storage_key(&token);
    Ok(live_session(state.store.as_ref(), tenant, &key, state.clock.now(), idle).await?)
}

/// The storage key of the browser's current session token with `tenant`, if it sent one: a new sign-in replaces
/// (deletes) that session, so a sign-in always gets a new token.
pub fn previous_key(headers: &HeaderMap, tenant: &TenantId) -> Option<Vec<u8>> {
    session_token(headers, tenant).map(|old| handles::storage_key(&old))
}

/// How long a new browser session with `tenant` lasts: the tenant's `session_lifetime_seconds`, else the server's
/// `security.session_ttl`.
pub fn ttl(state: &ProviderState, tenant: &tessera_store::Tenant) -> time::Duration {
    let server =
        time::Duration::try_from(state.security.session_ttl).unwrap_or(time::Duration::hours(12));
    tessera_service::tenants::tenant_settings(tenant)
        .map_or(server, |settings| settings.session_lifetime(server))
}

/// The `Set-Cookie` value that hands `token` to the browser for `ttl`.
pub fn cookie(
    tenant: &TenantId,
    token: &Secret,
    ttl: time::Duration,
) -> Result<HeaderValue, AppError> {
    let cookie = format!(
        "{}={}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
        cookie_name(tenant),
        token.expose(),
        ttl.whole_seconds()
    );
    HeaderValue::from_str(&cookie).map_err(|e| AppError::Internal(e.to_string()))
}

/// Ends the browser's session with `tenant` (if any); returns the `Set-Cookie` value that clears the cookie.
pub async fn end(
    state: &ProviderState,
    tenant: &TenantId,
    headers: &HeaderMap,
) -> Result<HeaderValue, AppError> {
    if let Some(token) = session_token(headers, tenant) {
        state
            .store
            .delete_session(tenant, &handles::storage_key(&token))
            .await?;
    }
    Ok(clear_cookie(tenant))
}

/// The `Set-Cookie` value that removes the tenant's session cookie from the browser.
pub fn clear_cookie(tenant: &TenantId) -> HeaderValue {
    let cookie = format!(
        "{}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0",
        cookie_name(tenant)
    );
    HeaderValue::from_str(&cookie)
        .unwrap_or_else(|_| HeaderValue::from_static("__Host-tessera-=; Max-Age=0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookie_of_wrong_shape_is_ignored() {
        let tenant = TenantId::parse("t").unwrap_or_else(|e| panic!("{e}"));
        let mut headers = HeaderMap::new();
        headers.insert(
            "cookie",
            HeaderValue::from_static("__Host-tessera-t=../../etc"),
        );
        assert!(session_token(&headers, &tenant).is_none());
    }

    #[test]
    fn cleared_cookie_keeps_the_host_prefix_attributes() {
        let tenant = TenantId::parse("mytenant").unwrap_or_else(|e| panic!("{e}"));
        let value = clear_cookie(&tenant);
        let text = value.to_str().unwrap_or_default();
        assert!(text.starts_with("__Host-tessera-mytenant=;"));
        assert!(text.contains("Path=/") && text.contains("Secure") && text.contains("Max-Age=0"));
    }
}
