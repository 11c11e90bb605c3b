//! Browser sessions of the provider, as records: a new session after a verified passkey ceremony, what it proves
//! about the authentication, and how recent its user verification is. The cookie that carries its token is the HTTP
//! layer's.
//!
//! The token is a bearer secret from [`crate::handles`] (its issue time, then 32 random bytes); the store keeps only
//! its storage key (time prefix and SHA-256), so a database leak yields no usable session. A session also has a
//! public handle `sid` (random, never the token) for ID tokens and RP-initiated logout.

use tessera_core::{Secret, TenantId, UserId};
use tessera_store::{Session, Store};
use time::OffsetDateTime;

use crate::error::Result;
use crate::handles;

/// What a verified WebAuthn ceremony established (UV, BE, trusted attestation); [`AuthenticationFacts::amr`] and
/// [`AuthenticationFacts::acr`] map it to the ID token's values.
pub use tessera_oidc::id_token::AuthenticationFacts;

/// A session made for a user but not stored yet, and the bearer token that finds it.
#[derive(Debug)]
pub struct NewSession {
    /// The record to store.
    pub record: Session,
    /// The token handed to the browser once.
    pub token: Secret,
}

/// Makes a new session for `user` at `now`, lasting `ttl`, recording `authentication` and the passkey it was signed
/// in with (`credential`), so that deleting the passkey ends the session.
pub fn new_session(
    tenant: &TenantId,
    user: &UserId,
    authentication: AuthenticationFacts,
    credential: Option<&[u8]>,
    now: OffsetDateTime,
    ttl: time::Duration,
) -> Result<NewSession> {
    let token = handles::issue(now)?;
    let record = Session {
        id_hash: token.key,
        tenant: tenant.clone(),
        sid: handles::time_ordered_id(now, 16)?,
        user_id: user.clone(),
        auth_time: now,
        user_verified: authentication.user_verified,
        backup_eligible: authentication.backup_eligible,
        attestation_trusted: authentication.attestation_trusted,
        credential_id: credential.map(<[u8]>::to_vec),
        last_seen_at: now,
        expires_at: now + ttl,
    };
    Ok(NewSession {
        record,
        token: Secret::new(token.value),
    })
}

/// How often a session's last use is written: at most once per this interval, so a busy session costs no write per
/// request.
pub const TOUCH_INTERVAL: time::Duration = time::Duration::minutes(1);

/// The session stored under `key` if it is live at `now`: within its absolute lifetime (the store's check) and used
/// within `idle` (the idle timeout). An idle session is deleted and answered `None`; a live one has its last use
/// recorded (at most every [`TOUCH_INTERVAL`]).
pub async fn live_session(
    store: &dyn Store,
    tenant: &TenantId,
    key: &[u8],
    now: OffsetDateTime,
    idle: time::Duration,
) -> Result<Option<Session>> {
    let Some(session) = store.get_session(tenant, key, now).await? else {
        return Ok(None);
    };
    let unused = now - session.last_seen_at;
    if unused > idle {
        tracing::debug!(tenant = %tenant, "session ended after its idle timeout");
        store.delete_session(tenant, key).await?;
        return Ok(None);
    }
    if unused >= TOUCH_INTERVAL {
        store.touch_session(tenant, key, now).await?;
    }
    Ok(Some(session))
}

/// The authentication facts a session started with, for the ID token's `amr` and `acr`.
pub fn authentication(session: &Session) -> AuthenticationFacts {
    AuthenticationFacts {
        user_verified: session.user_verified,
        backup_eligible: session.backup_eligible,
        attestation_trusted: session.attestation_trusted,
    }
}

/// Whether the session proves a user verification within `window` of `now` (a session from the future never does).
pub fn has_verification_within(
    session: &Session,
    now: OffsetDateTime,
    window: time::Duration,
) -> bool {
    session.user_verified && session.auth_time <= now && now - session.auth_time <= window
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(auth_time: OffsetDateTime, user_verified: bool) -> Session {
        Session {
            id_hash: vec![0; 32],
            tenant: TenantId::parse("t").unwrap_or_else(|e| panic!("{e}")),
            sid: "sid".into(),
            user_id: UserId::parse("u").unwrap_or_else(|e| panic!("{e}")),
            auth_time,
            user_verified,
            backup_eligible: false,
            attestation_trusted: false,
            credential_id: None,
            last_seen_at: auth_time,
            expires_at: auth_time + time::Duration::hours(1),
        }
    }

    #[test]
    fn session_facts_give_the_oidc_amr_and_acr() {
        let t = time::macros::datetime!(2026-01-01 00:00 UTC);
        let mut s = session(t, true);
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
        assert!(!has_verification_within(&session(t, false), t, window));
    }

    #[test]
    fn new_session_token_finds_its_record_and_is_redacted_in_debug() {
        let t = time::macros::datetime!(2026-01-01 00:00 UTC);
        let tenant = TenantId::parse("t").unwrap_or_else(|e| panic!("{e}"));
        let user = UserId::parse("u").unwrap_or_else(|e| panic!("{e}"));
        let facts = AuthenticationFacts {
            user_verified: true,
            backup_eligible: false,
            attestation_trusted: false,
        };
        let new = new_session(
            &tenant,
            &user,
            facts,
            Some(b"c"),
            t,
            time::Duration::hours(12),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(handles::storage_key(new.token.expose()), new.record.id_hash);
        assert_eq!(new.record.expires_at, t + time::Duration::hours(12));
        assert!(!format!("{new:?}").contains(new.token.expose()));
    }
}
