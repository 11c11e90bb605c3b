//! The pending authorization: an authorization request validated by the authorization endpoint, waiting (as a
//! ceremony of kind [`AUTHZ_CEREMONY`], [`AUTHZ_TTL`]) for the user to sign in or sign up on the pages, which then
//! hand the browser back to the endpoint to resume it.

use serde::{Deserialize, Serialize};
use tessera_core::TenantId;
use tessera_oidc::authorize::{PromptValue, ValidatedAuthorization};
use tessera_store::Store;
use time::OffsetDateTime;

use crate::error::{Result, ServiceError};
use crate::handles::random_token;

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
/// ([`take_pending`]).
pub async fn pending_authorization(
    store: &dyn Store,
    tenant: &TenantId,
    id: &str,
    now: OffsetDateTime,
) -> Result<Option<PendingAuthorization>> {
    match store.peek_ceremony(tenant, id, AUTHZ_CEREMONY, now).await? {
        Some(payload) => Ok(Some(PendingAuthorization::decode(&payload)?)),
        None => Ok(None),
    }
}

/// Consumes the pending authorization `id`; `None` when it is unknown, used or expired.
pub async fn take_pending(
    store: &dyn Store,
    tenant: &TenantId,
    id: &str,
    now: OffsetDateTime,
) -> Result<Option<PendingAuthorization>> {
    match store.take_ceremony(tenant, id, AUTHZ_CEREMONY, now).await? {
        Some(payload) => Ok(Some(PendingAuthorization::decode(&payload)?)),
        None => Ok(None),
    }
}
