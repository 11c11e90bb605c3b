//! RP-initiated logout's use case (OpenID Connect RP-Initiated Logout 1.0).
//!
//! With a valid `id_token_hint` the session it names is ended at once: the session whose public handle is the hint's
//! `sid` (whichever browser holds it), or, for a hint without `sid`, the browser's session when it is the hint's user.
//! Otherwise the user confirms (a cross-site request carries no `SameSite=Lax` cookie, so a forged confirmation ends
//! nothing). The browser is sent on only to a `post_logout_redirect_uri` registered for the client, with `state`
//! echoed.

use tessera_core::UserId;
use tessera_oidc::error::OidcError;
use tessera_oidc::logout::{parse_logout_request, plan_logout, post_logout_redirect};
use tessera_store::{Session, Store};

use super::client_config;
use super::runtime::TenantRuntime;
use crate::error::Result;

/// What a logout request leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutOutcome {
    /// The request cannot be honoured: nothing was ended and nobody is redirected.
    Refused(OidcError),
    /// The browser has a session no valid hint vouches for: the user confirms first.
    Confirm,
    /// End the browser's session, then send it to `redirect` (a registered URI with `state`) or show "signed out".
    SignedOut {
        /// Where to send the browser.
        redirect: Option<String>,
    },
}

/// Decides a logout request (`pairs`, from the query or the form) for the browser's live session `current`, ending
/// the session a hint names by its `sid` on the way.
pub async fn logout(
    store: &dyn Store,
    runtime: &TenantRuntime,
    pairs: &[(String, String)],
    current: Option<&Session>,
) -> Result<LogoutOutcome> {
    let tenant = &runtime.tenant.id;
    let request = match parse_logout_request(pairs) {
        Ok(request) => request,
        Err(e) => return Ok(LogoutOutcome::Refused(e)),
    };
    let plan = match plan_logout(&request, &runtime.issuer, runtime.keys.verifying_keys()) {
        Ok(plan) => plan,
        Err(e) => return Ok(LogoutOutcome::Refused(e)),
    };
    let config = match &plan.client_id {
        Some(id) => match store.get_client(tenant, id).await? {
            Some(client) => Some(client_config(&client)?),
            None => return Ok(LogoutOutcome::Refused(OidcError::UnknownClient)),
        },
        None => None,
    };
    // Only a registered post_logout_redirect_uri is ever used (RFC 9700 §4.11: no open redirector).
    let redirect = match post_logout_redirect(&request, config.as_ref()) {
        Ok(redirect) => redirect,
        Err(e) => return Ok(LogoutOutcome::Refused(e)),
    };
    // The session the hint names by its public handle ends, whichever browser holds it (its user must match).
    if let Some((sid, sub)) = plan.session_to_end()
        && let Ok(user) = UserId::parse(sub)
    {
        store.delete_session_by_sid(tenant, &user, sid).await?;
    }
    let confirmed = pairs.iter().any(|(k, v)| k == "confirm" && v == "yes");
    // The browser's session ends without asking when the hint names it: by `sid` when the hint has one, else by `sub`.
    let hinted_for_session =
        current.is_some_and(|s| plan.names_session(&s.sid, s.user_id.as_str()));
    if current.is_some() && !hinted_for_session && !confirmed {
        return Ok(LogoutOutcome::Confirm);
    }
    Ok(LogoutOutcome::SignedOut { redirect })
}
