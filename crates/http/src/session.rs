//! Browser sessions of the passkey pages, one per tenant.
//!
//! The cookie `__Host-tessera-{tenant}` (`Path=/; Secure; HttpOnly; SameSite=Lax`) holds a random 32-byte token; the
//! store keeps only its SHA-256, so a database leak yields no usable session. A session records what the WebAuthn
//! ceremony established ([`AuthenticationFacts`]: user verified, backup eligible, attestation trusted) and
//! `auth_time`, plus a public handle `sid` (random, never the cookie) for ID tokens and RP-initiated logout. The
//! authorization endpoint passes the facts on to the ID token, where `tessera_oidc` alone turns them into `amr` and
//! `acr`; the account page uses them to demand a fresh user verification before a passkey is added or deleted.

use axum::http::{HeaderMap, HeaderValue};
use tessera_core::{TenantId, UserId};
use time::OffsetDateTime;

use crate::csrf::read_cookie;
use crate::error::AppError;
use crate::handles;
use crate::state::AppState;

/// A live browser session, as the store keeps it.
pub use tessera_store::Session as SessionRecord;

/// What a verified WebAuthn ceremony established (UV, BE, trusted attestation); `tessera_oidc` alone turns it into
/// `amr` and `acr`.
pub use tessera_oidc::id_token::AuthenticationFacts;

/// The prefix of every session cookie; the tenant id follows.
pub const SESSION_COOKIE_PREFIX: &str = "__Host-tessera-";

/// How recent a user verification must be to add or delete a passkey.
pub const FRESH_VERIFICATION: time::Duration = time::Duration::minutes(5);

/// The authentication facts a session started with, for the ID token's `amr` and `acr`.
pub fn authentication(session: &SessionRecord) -> AuthenticationFacts {
    AuthenticationFacts {
        user_verified: session.user_verified,
        backup_eligible: session.backup_eligible,
        attestation_trusted: session.attestation_trusted,
    }
}

/// The session cookie's name for a tenant: `__Host-tessera-{tenant}`.
pub fn cookie_name(tenant: &TenantId) -> String {
    format!("{SESSION_COOKIE_PREFIX}{tenant}")
}

fn session_token(headers: &HeaderMap, tenant: &TenantId) -> Option<String> {
    let value = read_cookie(headers, &cookie_name(tenant))?;
    handles::is_plausible(value).then(|| value.to_owned())
}

/// The browser's live session with `tenant`, if its cookie names one.
///
/// A malformed, unknown or expired cookie is `Ok(None)`; a store failure is an error (never "signed out").
pub async fn current(
    state: &AppState,
    tenant: &TenantId,
    headers: &HeaderMap,
) -> Result<Option<SessionRecord>, AppError> {
    let Some(token) = session_token(headers, tenant) else {
        return Ok(None);
    };
    let now = state.clock.now();
    Ok(state
        .store
        .get_session(tenant, &handles::storage_key(&token), now)
        .await?)
}

/// A session made for `user` but not stored yet: the record, the `Set-Cookie` value that hands out its token, and
/// the hash of the browser's previous session with the tenant (if it sent one), which storing it must delete.
/// `Debug` never shows the cookie (it carries the session's bearer token).
pub struct NewSession {
    /// The record to store.
    pub record: SessionRecord,
    /// The cookie that carries the new token.
    pub cookie: HeaderValue,
    /// The storage key of the session this one replaces: a sign-in always gets a new token.
    pub replaces: Option<Vec<u8>>,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("record", &self.record)
            .field("cookie", &tessera_core::secret::Redacted)
            .field("replaces", &self.replaces)
            .finish()
    }
}

/// Makes a new session for `user` after a verified passkey ceremony, without storing it (see
/// [`tessera_store::Store::record_sign_in`], which stores it with the sign count in one transaction).
pub fn prepare(
    state: &AppState,
    tenant: &TenantId,
    headers: &HeaderMap,
    user: &UserId,
    authentication: AuthenticationFacts,
) -> Result<NewSession, AppError> {
    let replaces = session_token(headers, tenant).map(|old| handles::storage_key(&old));
    let now = state.clock.now();
    let token = handles::issue(now)?;
    let ttl =
        time::Duration::try_from(state.security.session_ttl).unwrap_or(time::Duration::hours(12));
    let record = SessionRecord {
        id_hash: token.key,
        tenant: tenant.clone(),
        sid: handles::time_ordered_id(now, 16)?,
        user_id: user.clone(),
        auth_time: now,
        user_verified: authentication.user_verified,
        backup_eligible: authentication.backup_eligible,
        attestation_trusted: authentication.attestation_trusted,
        expires_at: now + ttl,
    };
    let cookie = format!(
        "{}={}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
        cookie_name(tenant),
        token.value,
        ttl.whole_seconds()
    );
    let cookie = HeaderValue::from_str(&cookie).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(NewSession {
        record,
        cookie,
        replaces,
    })
}

/// Starts a session for `user` after a verified passkey ceremony; returns the record and the `Set-Cookie` value.
///
/// The browser's previous session with the tenant, if any, is deleted first: a sign-in always gets a new token.
pub async fn start(
    state: &AppState,
    tenant: &TenantId,
    headers: &HeaderMap,
    user: &UserId,
    authentication: AuthenticationFacts,
) -> Result<(SessionRecord, HeaderValue), AppError> {
    let new = prepare(state, tenant, headers, user, authentication)?;
    if let Some(old) = &new.replaces {
        state.store.delete_session(tenant, old).await?;
    }
    state.store.create_session(&new.record).await?;
    Ok((new.record, new.cookie))
}

/// Ends the browser's session with `tenant` (if any); returns the `Set-Cookie` value that clears the cookie.
pub async fn end(
    state: &AppState,
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

/// Whether the session proves a user verification within [`FRESH_VERIFICATION`] of `now`.
pub fn has_fresh_verification(session: &SessionRecord, now: OffsetDateTime) -> bool {
    has_verification_within(session, now, FRESH_VERIFICATION)
}

/// Whether the session proves a user verification within `window` of `now` (a session from the future never does).
pub fn has_verification_within(
    session: &SessionRecord,
    now: OffsetDateTime,
    window: time::Duration,
) -> bool {
    session.user_verified && session.auth_time <= now && now - session.auth_time <= window
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_facts_give_the_oidc_amr_and_acr() {
        let t = time::macros::datetime!(2026-01-01 00:00 UTC);
        let mut s = session(t, true);
        s.backup_eligible = false;
        s.attestation_trusted = true;
        let facts = authentication(&s);
        assert_eq!(facts.amr(), vec!["pop", "hwk", "user", "mfa"]);
        assert_eq!(facts.acr(), "phrh");
        s.attestation_trusted = false;
        assert_eq!(authentication(&s).acr(), "phr");
        s.backup_eligible = true;
        s.user_verified = false;
        assert_eq!(authentication(&s).amr(), vec!["pop", "swk", "user"]);
    }

    #[test]
    fn debug_of_a_new_session_does_not_show_the_cookie_token() {
        let t = time::macros::datetime!(2026-01-01 00:00 UTC);
        let new = NewSession {
            record: session(t, true),
            cookie: HeaderValue::from_static("__Host-tessera-t=AAAAtokenZZZZ; Path=/; Secure"),
            replaces: None,
        };
        let shown = format!("{new:?}");
        assert!(!shown.contains("AAAAtokenZZZZ"), "{shown}");
        assert!(shown.contains("cookie: [redacted]"), "{shown}");
    }

    fn session(auth_time: OffsetDateTime, user_verified: bool) -> SessionRecord {
        SessionRecord {
            id_hash: vec![0; 32],
            tenant: TenantId::parse("t").unwrap_or_else(|e| panic!("{e}")),
            sid: "sid".into(),
            user_id: UserId::parse("u").unwrap_or_else(|e| panic!("{e}")),
            auth_time,
            user_verified,
            backup_eligible: false,
            attestation_trusted: false,
            expires_at: auth_time + time::Duration::hours(1),
        }
    }

    #[test]
    fn fresh_verification_expires_after_five_minutes() {
        let t = time::macros::datetime!(2026-01-01 00:00 UTC);
        let s = session(t, true);
        assert!(has_fresh_verification(&s, t + time::Duration::minutes(5)));
        assert!(!has_fresh_verification(
            &s,
            t + time::Duration::minutes(5) + time::Duration::seconds(1)
        ));
    }

    #[test]
    fn verification_window_is_the_one_given() {
        let t = time::macros::datetime!(2026-01-01 00:00 UTC);
        let s = session(t, true);
        let window = time::Duration::seconds(30);
        assert!(has_verification_within(&s, t + window, window));
        assert!(!has_verification_within(
            &s,
            t + window + time::Duration::seconds(1),
            window
        ));
        assert!(!has_verification_within(
            &s,
            t - time::Duration::seconds(1),
            window
        ));
    }

    #[test]
    fn fresh_verification_needs_user_verification() {
        let t = time::macros::datetime!(2026-01-01 00:00 UTC);
        assert!(!has_fresh_verification(&session(t, false), t));
    }

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
