//! The broker's own browser session (single sign-on across a tenant's apps) and the authorization codes it issues
//! to apps.
//!
//! A session is stored by the storage key of its cookie value ([`crate::handles`]); its payload remembers the
//! provider and the upstream sign-in (`amr`, `acr`, `auth_time`), so that a code issued from the session carries
//! the same facts as the sign-in that started it. A code's grant ([`BrokerGrant`]) carries the OP grant of
//! `tessera-oidc` (redirect URI, PKCE challenge, nonce, scopes) plus what the app token is made of.

use serde::{Deserialize, Serialize};
use tessera_broker::claims::UpstreamProfile;
use tessera_broker::config::ProviderId;
use tessera_core::{TenantId, UserId};
use tessera_oidc::authorize::{AuthorizationResponse, authorization_response};
use tessera_oidc::id_token::AuthenticationFacts;
use tessera_oidc::token::AuthorizationGrant;
use tessera_store::{AuthCode, BrokerSession, BrokerStore, StoreError};
use time::OffsetDateTime;

use super::signin::{AppAnswer, AppRequest, BrokerContext, CookieValue, SignInError, SignInStep};
use crate::error::{Result, ServiceError};
use crate::handles;

/// The prefix of the broker session cookie; the tenant id follows (one session per broker tenant). The `_` keeps
/// it apart from the authenticator service's `__Host-tessera-{tenant}`: tenant ids have no `_`.
pub const SESSION_COOKIE_PREFIX: &str = "__Host-tessera_broker_";

/// The broker session cookie's name for `tenant`.
pub fn session_cookie_name(tenant: &TenantId) -> String {
    format!("{SESSION_COOKIE_PREFIX}{tenant}")
}

/// What a broker session remembers about the sign-in that started it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPayload {
    /// The provider the user signed in with.
    pub provider_id: ProviderId,
    /// The upstream sign-in (issuer, subject, `amr`, `acr`, `auth_time`).
    pub profile: UpstreamProfile,
}

/// A live broker session.
#[derive(Debug, Clone)]
pub struct SsoSession {
    /// The stored record.
    pub record: BrokerSession,
    /// Its payload.
    pub payload: SessionPayload,
}

/// The browser's live session, from the storage key of its cookie value.
pub async fn current(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    key: &[u8],
    now: OffsetDateTime,
) -> Result<Option<SsoSession>> {
    let Some(record) = store.get_broker_session(tenant, key, now).await? else {
        return Ok(None);
    };
    let payload = serde_json::from_slice(&record.payload)
        .map_err(|e| ServiceError::Corrupt(format!("broker session: {e}")))?;
    Ok(Some(SsoSession { record, payload }))
}

/// Ends the session whose cookie value has storage key `key` (idempotent).
pub async fn end(store: &dyn BrokerStore, tenant: &TenantId, key: &[u8]) -> Result<()> {
    store.delete_broker_session(tenant, key).await?;
    Ok(())
}

/// What a code issued to an app is redeemed for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerGrant {
    /// The provider rules' grant: client, redirect URI, PKCE challenge, nonce, scopes, user (the object id).
    pub grant: AuthorizationGrant,
    /// The policy id as configured.
    pub policy: String,
    /// The flow version the sign-in ran on (its application claims).
    pub flow_version: u32,
    /// The provider the user signed in with.
    pub provider_id: ProviderId,
    /// The upstream sign-in.
    pub profile: UpstreamProfile,
    /// Whether this sign-in created the user (`newUser`).
    pub new_user: bool,
}

/// Who signed in, for [`sign_in`].
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    pub(crate) object_id: UserId,
    pub(crate) provider_id: ProviderId,
    pub(crate) profile: UpstreamProfile,
    pub(crate) new_user: bool,
}

/// Starts a broker session for the user and answers the app with a code: the sign-in time, the session and the
/// code in one store transaction ([`BrokerStore::start_broker_session`]).
pub(crate) async fn sign_in(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    app: &AppRequest,
    signed_in: SignedIn,
) -> Result<SignInStep, SignInError> {
    let start = new_session(ctx, tenant, app, signed_in)?;
    match ctx
        .store
        .start_broker_session(&start.session, &start.code.record, ctx.now)
        .await
    {
        Ok(()) => {}
        // The user was disabled (or deleted) a moment ago.
        Err(StoreError::Conflict | StoreError::NotFound) => {
            return super::signin::refuse(
                app,
                tessera_oidc::ErrorCode::AccessDenied,
                "This account is disabled.",
            );
        }
        Err(other) => return Err(other.into()),
    }
    start.answer(tenant, app)
}

/// A sign-in not yet stored: the session, the app's code and the session cookie.
pub(crate) struct NewSession {
    /// The session's record.
    pub(crate) session: BrokerSession,
    /// The app's code.
    code: NewCode,
    /// The cookie's value.
    cookie: String,
}

impl NewSession {
    /// The code's record.
    pub(crate) fn code_record(&self) -> &AuthCode {
        &self.code.record
    }

    /// The answer to the app once the session and code are stored: the code at its reply URL, the cookie set.
    pub(crate) fn answer(
        self,
        tenant: &TenantId,
        app: &AppRequest,
    ) -> Result<SignInStep, SignInError> {
        Ok(SignInStep::Answer(AppAnswer {
            response: self.code.response(app)?,
            session: Some(CookieValue {
                name: session_cookie_name(tenant),
                value: self.cookie,
            }),
        }))
    }
}

/// Mints the session, its cookie and the app's code for a sign-in, without storing them.
pub(crate) fn new_session(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    app: &AppRequest,
    signed_in: SignedIn,
) -> Result<NewSession, SignInError> {
    let payload = SessionPayload {
        provider_id: signed_in.provider_id,
        profile: signed_in.profile,
    };
    let cookie = handles::issue(ctx.now)?;
    let session = BrokerSession {
        id_hash: cookie.key,
        tenant: tenant.clone(),
        object_id: signed_in.object_id.clone(),
        sid: handles::time_ordered_id(ctx.now, 12)?,
        auth_time: payload.profile.auth_time.unwrap_or(ctx.now),
        payload: serde_json::to_vec(&payload)
            .map_err(|e| ServiceError::Internal(format!("broker session: {e}")))?,
        expires_at: ctx.now + ctx.session_ttl,
    };
    let code = new_code(
        ctx,
        tenant,
        app,
        &signed_in.object_id,
        &session.sid,
        &payload,
        signed_in.new_user,
    )?;
    Ok(NewSession {
        session,
        code,
        cookie: cookie.value,
    })
}

/// A code for the app, not yet stored: its record and its value.
struct NewCode {
    record: AuthCode,
    value: String,
}

impl NewCode {
    /// The response to the app's reply URL.
    fn response(&self, app: &AppRequest) -> Result<AuthorizationResponse, SignInError> {
        authorization_response(&app.request, &app.issuer, &self.value)
            .map_err(|e| SignInError::Service(ServiceError::Internal(format!("response: {e}"))))
    }
}

/// Mints a code for the app (stored hashed, with its [`BrokerGrant`]) and builds the response to its reply URL.
pub(crate) async fn issue_code(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    app: &AppRequest,
    object_id: &UserId,
    sid: &str,
    payload: &SessionPayload,
    new_user: bool,
) -> Result<AuthorizationResponse, SignInError> {
    let code = new_code(ctx, tenant, app, object_id, sid, payload, new_user)?;
    ctx.store.put_broker_auth_code(&code.record).await?;
    code.response(app)
}

fn new_code(
    ctx: BrokerContext<'_>,
    tenant: &TenantId,
    app: &AppRequest,
    object_id: &UserId,
    sid: &str,
    payload: &SessionPayload,
    new_user: bool,
) -> Result<NewCode, SignInError> {
    let code = handles::issue(ctx.now)?;
    let amr = &payload.profile.amr;
    let has = |v: &str| amr.iter().any(|a| a == v);
    // The provider rules' grant wants the WebAuthn facts; the broker's tokens carry the upstream amr/acr instead,
    // so these only echo them.
    let facts = AuthenticationFacts {
        user_verified: has("mfa"),
        backup_eligible: has("swk"),
        attestation_trusted: payload.profile.acr.as_deref() == Some("phrh"),
    };
    let auth_time = payload.profile.auth_time.unwrap_or(ctx.now);
    let grant = BrokerGrant {
        grant: AuthorizationGrant::new(
            &app.request,
            object_id.clone(),
            auth_time,
            facts,
            Some(sid.to_owned()),
            ctx.now,
        ),
        policy: app.policy.clone(),
        flow_version: app.flow_version,
        provider_id: payload.provider_id.clone(),
        profile: payload.profile.clone(),
        new_user,
    };
    let record = AuthCode {
        code_hash: code.key,
        tenant: tenant.clone(),
        client_id: app.request.client_id.clone(),
        grant_id: handles::time_ordered_id(ctx.now, 18)?,
        payload: serde_json::to_vec(&grant)
            .map_err(|e| ServiceError::Internal(format!("broker grant: {e}")))?,
        expires_at: grant.grant.expires_at,
        passkey: None,
    };
    Ok(NewCode {
        record,
        value: code.value,
    })
}
