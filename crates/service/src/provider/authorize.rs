//! The authorization endpoint's use case, and the pending authorization between it and the pages.
//!
//! 1. [`authorize`] validates the request with `tessera_oidc`'s rules. If the browser's session satisfies
//!    `prompt`/`max_age`/`id_token_hint`, a code is issued at once. Otherwise the validated request is stored as a
//!    ceremony of kind [`AUTHZ_CEREMONY`] ([`PendingAuthorization`], [`AUTHZ_TTL`]) and the answer is
//!    [`AuthorizeOutcome::SignIn`]: the pages sign the user in or up, then hand the browser back.
//! 2. [`resume`] takes the ceremony, re-checks the session, mints the code and answers the client.
//!
//! The outcomes name what to do; the HTTP layer turns them into redirects, form posts and pages.

use serde::{Deserialize, Serialize};
use tessera_core::{CeremonyId, TenantId};
use tessera_oidc::authorize::{
    AuthorizationResponse, AuthorizeContext, LoginDecision, PromptValue, SessionFacts,
    ValidatedAuthorization, authorization_response, decide_login, error_response,
    requested_client_id, validate_authorization,
};
use tessera_oidc::error::{AuthorizeError, ErrorCode, OidcError};
use tessera_oidc::token::AuthorizationGrant;
use tessera_store::{AuthCode, GrantPasskey, Session, Store};
use time::OffsetDateTime;

use super::client_config;
use super::runtime::TenantRuntime;
use crate::error::{Result, ServiceError};
use crate::handles::{self, random_token};

/// The ceremony kind under which a pending authorization request waits for the user to sign in.
pub const AUTHZ_CEREMONY: &str = "authz";

/// How long a pending authorization request waits for the user.
pub const AUTHZ_TTL: time::Duration = time::Duration::minutes(10);

/// A validated authorization request waiting for the user to sign in, as stored in the `authz` ceremony.
/// The pages read it ([`pending_authorization`]) to show the client name and prefill the username from
/// `login_hint`; the authorization endpoint consumes it when it resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    /// The validated request.
    pub request: ValidatedAuthorization,
    /// The client's display name, for the sign-in page.
    pub client_name: String,
    /// When the request arrived (Unix seconds); a re-authentication demanded by `prompt=login` or `max_age` must be
    /// at least this recent.
    pub created_at: i64,
}

impl PendingAuthorization {
    /// Decodes a stored ceremony payload.
    pub fn decode(payload: &[u8]) -> Result<Self> {
        serde_json::from_slice(payload)
            .map_err(|e| ServiceError::Corrupt(format!("authz ceremony: {e}")))
    }

    /// The `login_hint`, if the client sent one.
    pub fn login_hint(&self) -> Option<&str> {
        self.request.login_hint.as_deref()
    }

    /// Whether the client asked for the sign-up page (`prompt=create`).
    pub fn wants_sign_up(&self) -> bool {
        self.request.has_prompt(PromptValue::Create)
    }

    /// Whether the request demands an authentication newer than itself (`prompt=login`, `select_account`,
    /// `create`, or `max_age`).
    pub fn demands_fresh_authentication(&self) -> bool {
        self.request.has_prompt(PromptValue::Login)
            || self.request.has_prompt(PromptValue::SelectAccount)
            || self.request.has_prompt(PromptValue::Create)
            || self.request.max_age.is_some()
    }
}

/// Stores `pending` for [`AUTHZ_TTL`] from `now`; returns the id the pages carry in their URLs.
pub async fn store_pending(
    store: &dyn Store,
    tenant: &TenantId,
    pending: &PendingAuthorization,
    now: OffsetDateTime,
) -> Result<String> {
    let id = random_token(24)?;
    let payload = serde_json::to_vec(pending)
        .map_err(|e| ServiceError::Internal(format!("authz ceremony: {e}")))?;
    store
        .put_ceremony(tenant, &id, AUTHZ_CEREMONY, payload, now + AUTHZ_TTL, now)
        .await?;
    Ok(id)
}

/// The pending authorization `id`, if it is still live. It is read, not consumed: resuming consumes it
/// ([`take_pending`]). An id no pending authorization can have is `None` without asking the store.
pub async fn pending_authorization(
    store: &dyn Store,
    tenant: &TenantId,
    id: &str,
    now: OffsetDateTime,
) -> Result<Option<PendingAuthorization>> {
    let Ok(id) = CeremonyId::parse(id) else {
        return Ok(None);
    };
    match store
        .peek_ceremony(tenant, id.as_str(), AUTHZ_CEREMONY, now)
        .await?
    {
        Some(payload) => Ok(Some(PendingAuthorization::decode(&payload)?)),
        None => Ok(None),
    }
}

/// Consumes the pending authorization `id`; `None` when it is unknown, used, expired or not a possible id.
pub async fn take_pending(
    store: &dyn Store,
    tenant: &TenantId,
    id: &str,
    now: OffsetDateTime,
) -> Result<Option<PendingAuthorization>> {
    let Ok(id) = CeremonyId::parse(id) else {
        return Ok(None);
    };
    match store
        .take_ceremony(tenant, id.as_str(), AUTHZ_CEREMONY, now)
        .await?
    {
        Some(payload) => Ok(Some(PendingAuthorization::decode(&payload)?)),
        None => Ok(None),
    }
}

/// What the authorization endpoint answers.
#[derive(Debug)]
pub enum AuthorizeOutcome {
    /// Deliver this to the client: a code, or an error the client may hear (redirect or form post).
    Respond(AuthorizationResponse),
    /// Show an error page and never redirect (RFC 6749 §4.1.2.1); the failed rule, when known, for its words.
    ShowError(Option<OidcError>),
    /// The user must sign in (or sign up): the pages carry `authz` and resume afterwards.
    SignIn {
        /// The pending authorization's id.
        authz: String,
    },
    /// The pending authorization to resume is unknown, used or expired.
    Expired,
}

/// Where the authorization endpoint works.
pub struct AuthorizeEndpoint<'a> {
    /// The store.
    pub store: &'a dyn Store,
    /// The tenant's runtime entry.
    pub runtime: &'a TenantRuntime,
    /// Now.
    pub now: OffsetDateTime,
}

/// An authorization request (`pairs`, from the query or the form), with the browser's live session if any.
pub async fn authorize(
    endpoint: &AuthorizeEndpoint<'_>,
    pairs: &[(String, String)],
    session: Option<&Session>,
) -> Result<AuthorizeOutcome> {
    let runtime = endpoint.runtime;
    let tenant = &runtime.tenant.id;
    let client_id = match requested_client_id(pairs) {
        Ok(id) => id,
        Err(e) => return Ok(refusal(&e, runtime)),
    };
    let Some(client) = endpoint.store.get_client(tenant, &client_id).await? else {
        return Ok(AuthorizeOutcome::ShowError(Some(OidcError::UnknownClient)));
    };
    let config = client_config(&client)?;
    let ctx = AuthorizeContext {
        issuer: &runtime.issuer,
        keys: runtime.keys.verifying_keys(),
    };
    let request = match validate_authorization(pairs, &config, &ctx) {
        Ok(request) => request,
        Err(e) => return Ok(refusal(&e, runtime)),
    };
    let now = endpoint.now;
    let facts = session.map(|s| SessionFacts {
        user: s.user_id.clone(),
        auth_time: s.auth_time,
    });
    match decide_login(&request, facts.as_ref(), now) {
        LoginDecision::UseSession => match session {
            Some(session) => issue(endpoint, &request, session).await,
            None => Err(ServiceError::Internal(
                "decide_login used a session that is absent".into(),
            )),
        },
        LoginDecision::Error(e) => Ok(refusal(&e, runtime)),
        LoginDecision::MustAuthenticate => {
            let pending = PendingAuthorization {
                request,
                client_name: client.display_name,
                created_at: now.unix_timestamp(),
            };
            send_to_sign_in(endpoint, &pending).await
        }
    }
}

/// Resumes the pending authorization `authz` after the pages: `cancelled` when the user cancelled there. Without a
/// session (or with one older than a demanded re-authentication) the user is sent to sign in again.
pub async fn resume(
    endpoint: &AuthorizeEndpoint<'_>,
    authz: &str,
    cancelled: bool,
    session: Option<&Session>,
) -> Result<AuthorizeOutcome> {
    let runtime = endpoint.runtime;
    let tenant = &runtime.tenant.id;
    let Some(pending) = take_pending(endpoint.store, tenant, authz, endpoint.now).await? else {
        return Ok(AuthorizeOutcome::Expired);
    };
    let request = &pending.request;
    if cancelled {
        // The user cancelled: whatever the page said, the client hears only `access_denied`.
        let denied = AuthorizeError::Redirect {
            redirect_uri: request.redirect_uri.clone(),
            response_mode: request.response_mode,
            state: request.state.clone(),
            error: ErrorCode::AccessDenied,
            description: "the user cancelled the sign-in".into(),
        };
        return Ok(refusal(&denied, runtime));
    }
    let Some(session) = session else {
        // Not signed in (cookie lost or expired): back to the sign-in page with a fresh ceremony.
        return send_to_sign_in(endpoint, &pending).await;
    };
    if pending.demands_fresh_authentication()
        && session.auth_time.unix_timestamp() < pending.created_at
    {
        return send_to_sign_in(endpoint, &pending).await;
    }
    if request
        .id_token_hint_sub
        .as_deref()
        .is_some_and(|sub| sub != session.user_id.as_str())
    {
        let refused = AuthorizeError::redirect(
            &request.redirect_uri,
            request.response_mode,
            request.state.as_deref(),
            &OidcError::LoginRequired,
        );
        return Ok(refusal(&refused, runtime));
    }
    // The client may have been deleted while the user signed in.
    if endpoint
        .store
        .get_client(tenant, &request.client_id)
        .await?
        .is_none()
    {
        return Ok(AuthorizeOutcome::ShowError(Some(OidcError::UnknownClient)));
    }
    issue(endpoint, request, session).await
}

async fn send_to_sign_in(
    endpoint: &AuthorizeEndpoint<'_>,
    pending: &PendingAuthorization,
) -> Result<AuthorizeOutcome> {
    let authz = store_pending(
        endpoint.store,
        &endpoint.runtime.tenant.id,
        pending,
        endpoint.now,
    )
    .await?;
    Ok(AuthorizeOutcome::SignIn { authz })
}

/// Mints a code for `session`'s user (stored hashed, with its grant) and the response that delivers it.
async fn issue(
    endpoint: &AuthorizeEndpoint<'_>,
    request: &ValidatedAuthorization,
    session: &Session,
) -> Result<AuthorizeOutcome> {
    let now = endpoint.now;
    let code = handles::issue(now)?;
    let grant = AuthorizationGrant::new(
        request,
        session.user_id.clone(),
        session.auth_time,
        super::session::authentication(session),
        Some(session.sid.clone()),
        now,
    );
    let record = AuthCode {
        code_hash: code.key,
        tenant: endpoint.runtime.tenant.id.clone(),
        client_id: request.client_id.clone(),
        grant_id: handles::time_ordered_id(now, 18)?,
        payload: serde_json::to_vec(&grant)
            .map_err(|e| ServiceError::Internal(format!("grant: {e}")))?,
        expires_at: grant.expires_at,
        // Revoking the passkey the session was signed in with revokes this grant (and every token issued from it).
        passkey: session
            .credential_id
            .as_ref()
            .map(|credential_id| GrantPasskey {
                credential_id: credential_id.clone(),
                granted_at: now,
            }),
    };
    endpoint.store.put_auth_code(&record).await?;
    let response = authorization_response(request, &endpoint.runtime.issuer, &code.value)
        .map_err(|e| ServiceError::Internal(format!("response: {e}")))?;
    Ok(AuthorizeOutcome::Respond(response))
}

/// An authorization error as an outcome: redirected to the client when allowed, otherwise an error page.
pub fn refusal(error: &AuthorizeError, runtime: &TenantRuntime) -> AuthorizeOutcome {
    match error_response(error, &runtime.issuer) {
        None => AuthorizeOutcome::ShowError(match error {
            AuthorizeError::NoRedirect { cause, .. } => Some(cause.clone()),
            AuthorizeError::Redirect { .. } => None,
        }),
        Some(Ok(response)) => AuthorizeOutcome::Respond(response),
        Some(Err(e)) => AuthorizeOutcome::ShowError(Some(e)),
    }
}
