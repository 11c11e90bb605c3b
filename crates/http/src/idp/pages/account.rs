//! The account page and what it lets a signed-in user do.
//!
//! - `GET /{tenant}/account`: the user's passkeys (name, created, last used, synced or device-bound).
//! - `POST /{tenant}/account/passkeys/rename` (form: `csrf_token`, `credential`, `name`).
//! - `POST /{tenant}/account/passkeys/delete` (form: `csrf_token`, `credential`) and `POST /{tenant}/webauthn/delete`
//!   (the script's JSON form of it): the last passkey cannot be deleted (the store refuses it atomically), since the
//!   user would have no way back in.
//! - `POST /{tenant}/webauthn/add/options|verify`: add a passkey.
//!
//! Adding and deleting a passkey both require a user verification within the configured window (`fresh_window`,
//! `security.fresh_verification_seconds`, 300 s by default); otherwise the answer is `reauth_required` and the script first
//! re-verifies the user through the sign-in ceremony, then retries. The use cases are
//! `tessera_service::provider::account`'s; these handlers check CSRF and the form, call them, and shape the answer.
//! - `POST /{tenant}/signout` (form: `csrf_token`).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use std::collections::HashMap;
use tessera_service::ServiceError;
use tessera_service::provider::account::{self, AddPasskey, Sensitive};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::context::{self, PageTenant};
use super::login::{OptionsReply, VerifyReply, VerifyRequest};
use super::signup::{MAX_NICKNAME, parse_label, parse_nickname};
use super::views::{AccountPage, Layout, PasskeyView, render};
use crate::common::reply::{ApiError, PageError};
use crate::error::AppError;
use crate::session::{self, SessionRecord};
use crate::state::ProviderState;

fn when(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

fn iso(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

fn notice(query: Option<&str>) -> Option<String> {
    let text = match context::query_param(query, "done").as_deref() {
        Some("renamed") => "The passkey was renamed.",
        Some("deleted") => "The passkey was deleted.",
        Some("added") => "Your new passkey is ready.",
        _ => return None,
    };
    Some(text.to_owned())
}

/// `GET /{tenant}/account`: the account page, or a 303 to sign-in.
pub async fn page(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let tenant = context::tenant(&state, &tenant).await?;
    let id = tenant.id().clone();
    let Some(session) = session::current(&state, &id, &headers).await? else {
        return Ok(context::see_other(&format!("/{id}/login"), &[]));
    };
    let (user, credentials) = match account::passkeys(state.store.as_ref(), &id, &session).await {
        Ok(found) => found,
        Err(ServiceError::SignInRequired) => {
            let cleared = session::end(&state, &id, &headers).await?;
            return Ok(context::see_other(&format!("/{id}/login"), &[cleared]));
        }
        Err(other) => return Err(other.into()),
    };
    let passkeys = credentials
        .iter()
        .enumerate()
        .map(|(i, c)| PasskeyView {
            index: i + 1,
            id: URL_SAFE_NO_PAD.encode(&c.credential_id),
            name: c.nickname.clone(),
            kind: passkey_kind(c.backup_eligible, &c.transports),
            created: when(c.created_at),
            created_iso: iso(c.created_at),
            last_used: c.last_used_at.map(when),
            last_used_iso: c.last_used_at.map(iso).unwrap_or_default(),
        })
        .collect();
    let (csrf, set_cookie) = crate::csrf::token_for_page(&headers, tenant.id())?;
    let view = AccountPage {
        layout: Layout::new(
            "Your account",
            &tenant.tenant.display_name,
            tenant.base(),
            Some(csrf.as_str()),
            "account",
            None,
        ),
        username: user.username,
        display_name: user.display_name,
        can_delete: credentials.len() > 1,
        passkeys,
        notice: notice(query.as_deref()),
        back_to_app: application_link(&state, &tenant, query.as_deref()).await?,
    };
    Ok(render(&view, StatusCode::OK, set_cookie))
}

/// How the account page names a passkey's kind: `Synced` (backup eligible), `Security key` (device-bound and
/// reached over USB, NFC or Bluetooth, a roaming authenticator), else `This device only`.
pub fn passkey_kind(backup_eligible: bool, transports: &[String]) -> &'static str {
    let roaming = transports
        .iter()
        .any(|t| matches!(t.as_str(), "usb" | "nfc" | "ble"));
    let built_in = transports
        .iter()
        .any(|t| matches!(t.as_str(), "internal" | "hybrid"));
    if backup_eligible {
        "Synced"
    } else if roaming && !built_in {
        "Security key"
    } else {
        "This device only"
    }
}

/// The link back to the application named by `?client_id=` (its name, and its first registered post-logout
/// redirect URI, which the client registered as a page of its own): only a registered client of this tenant gets
/// a link, so the parameter cannot send people elsewhere.
async fn application_link(
    state: &ProviderState,
    tenant: &PageTenant,
    query: Option<&str>,
) -> Result<Option<(String, String)>, PageError> {
    let Some(raw) = context::query_param(query, "client_id") else {
        return Ok(None);
    };
    let Ok(client_id) = tessera_core::ClientId::parse(&raw) else {
        return Ok(None);
    };
    let client = state.store.get_client(tenant.id(), &client_id).await?;
    Ok(client.and_then(|c| {
        c.post_logout_redirect_uris
            .first()
            .map(|uri| (uri.clone(), c.display_name.clone()))
    }))
}

/// The fields of an urlencoded form (the first value of each name).
fn form_fields(body: &[u8]) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    for (key, value) in form_urlencoded::parse(body) {
        fields
            .entry(key.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    fields
}

/// A form POST of the account page: CSRF checks, then the signed-in session.
async fn signed_in_form(
    state: &ProviderState,
    raw_tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(PageTenant, SessionRecord, HashMap<String, String>), PageError> {
    let tenant = context::tenant(state, raw_tenant).await?;
    let fields = form_fields(body);
    let decorate = |e: PageError| e.for_tenant(&tenant.tenant.display_name, tenant.base());
    tenant
        .verify_csrf(
            state,
            headers,
            fields.get(crate::csrf::CSRF_FIELD).map(String::as_str),
        )
        .map_err(|e| {
            decorate(PageError::from(e))
                .with_link(format!("{}/account", tenant.base()), "Back to your account")
        })?;
    let session = session::current(state, tenant.id(), headers)
        .await?
        .ok_or_else(|| {
            decorate(PageError::from(AppError::SignInRequired))
                .with_link(format!("{}/login", tenant.base()), "Sign in")
        })?;
    Ok((tenant, session, fields))
}

fn credential_field(fields: &HashMap<String, String>) -> Result<Vec<u8>, AppError> {
    fields
        .get("credential")
        .and_then(|c| URL_SAFE_NO_PAD.decode(c.trim_end_matches('=')).ok())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| AppError::BadRequest("The form did not say which passkey.".into()))
}

/// `POST /{tenant}/account/passkeys/rename`.
pub async fn rename(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let (tenant, session, fields) = signed_in_form(&state, &tenant, &headers, &body).await?;
    let back = |e: AppError| {
        PageError::from(e)
            .for_tenant(&tenant.tenant.display_name, tenant.base())
            .with_link(format!("{}/account", tenant.base()), "Back to your account")
    };
    let credential = credential_field(&fields).map_err(back)?;
    let name = parse_label(
        fields.get("name").map(String::as_str).unwrap_or_default(),
        MAX_NICKNAME,
        "a name",
    )
    .map_err(back)?;
    account::rename_passkey(
        state.store.as_ref(),
        tenant.id(),
        &session,
        &credential,
        &name,
    )
    .await
    .map_err(|e| back(e.into()))?;
    Ok(context::see_other(
        &format!("{}/account?done=renamed", tenant.base()),
        &[],
    ))
}

/// How recent a user verification must be to add or delete a passkey: `security.fresh_verification_seconds`
/// ([`crate::state::SecuritySettings::fresh_verification`], 300 s unless configured).
pub(crate) fn fresh_window(state: &ProviderState) -> time::Duration {
    time::Duration::try_from(state.security.fresh_verification)
        .unwrap_or(session::FRESH_VERIFICATION)
}

/// The freshness rule of a sensitive action now.
fn sensitive(state: &ProviderState) -> Sensitive {
    Sensitive {
        window: fresh_window(state),
        now: state.clock.now(),
    }
}

const LAST_PASSKEY_HEADING: &str = "This passkey cannot be deleted";
const LAST_PASSKEY_MESSAGE: &str = "It is your only passkey: without it you could not sign in any more. Add another passkey first.";

/// Deletes one of the signed-in user's passkeys (the service's use case).
async fn delete_passkey(
    state: &ProviderState,
    tenant: &PageTenant,
    session: &SessionRecord,
    credential: &[u8],
) -> Result<(), ServiceError> {
    account::delete_passkey(
        state.store.as_ref(),
        tenant.id(),
        session,
        credential,
        sensitive(state),
    )
    .await
}

/// `POST /{tenant}/account/passkeys/delete` (a plain form; the script sends [`delete_json`] instead, which can
/// re-verify the user first).
pub async fn delete(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let (tenant, session, fields) = signed_in_form(&state, &tenant, &headers, &body).await?;
    let back = |e: PageError| {
        e.for_tenant(&tenant.tenant.display_name, tenant.base())
            .with_link(format!("{}/account", tenant.base()), "Back to your account")
    };
    let credential = credential_field(&fields).map_err(|e| back(e.into()))?;
    match delete_passkey(&state, &tenant, &session, &credential).await {
        Ok(()) => Ok(context::see_other(
            &format!("{}/account?done=deleted", tenant.base()),
            &[],
        )),
        Err(ServiceError::ReauthRequired) => Err(back(PageError::new(
            StatusCode::FORBIDDEN,
            "Confirm it is you first",
            "Deleting a passkey needs a recent confirmation with one of your passkeys. Go back to your account \
             and press Delete again: your browser will ask you to confirm.",
        ))),
        Err(ServiceError::LastPasskey) => Err(back(PageError::new(
            StatusCode::CONFLICT,
            LAST_PASSKEY_HEADING,
            LAST_PASSKEY_MESSAGE,
        ))),
        Err(other) => Err(back(other.into())),
    }
}

/// The body of `POST /{tenant}/webauthn/delete`.
#[derive(Debug, Deserialize)]
pub struct DeleteRequest {
    /// The passkey's credential id, base64url.
    pub credential: String,
}

/// `POST /{tenant}/webauthn/delete`: `{"credential"}` → `{"ok": true, "next"}`, or `reauth_required` (the script
/// then re-verifies the user with `login/options` `{"reauth": true}` and retries), or `last_passkey`.
pub async fn delete_json(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = context::tenant(&state, &tenant).await?;
    tenant.verify_csrf(&state, &headers, crate::csrf::header_token(&headers))?;
    let request: DeleteRequest = context::json_body(&body)?;
    let session = session::current(&state, tenant.id(), &headers)
        .await?
        .ok_or(AppError::SignInRequired)?;
    let mut fields = HashMap::new();
    fields.insert("credential".to_owned(), request.credential);
    let credential = credential_field(&fields)?;
    match delete_passkey(&state, &tenant, &session, &credential).await {
        Ok(()) => {
            let next = format!("{}/account?done=deleted", tenant.base());
            Ok(context::json_reply(&VerifyReply { ok: true, next }, None))
        }
        Err(ServiceError::LastPasskey) => Err(ApiError {
            status: StatusCode::CONFLICT,
            code: "last_passkey",
            rule: None,
            message: format!(
                "{LAST_PASSKEY_HEADING}: it is now your only passkey, and without it you could not sign in any \
                 more. Reload the page to see your passkeys as they are, and add another passkey first."
            ),
        }),
        Err(other) => Err(other.into()),
    }
}

/// `POST /{tenant}/signout`: ends the session and goes to the sign-in page.
pub async fn sign_out(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let tenant = context::tenant(&state, &tenant).await?;
    let fields = form_fields(&body);
    tenant
        .verify_csrf(
            &state,
            &headers,
            fields.get(crate::csrf::CSRF_FIELD).map(String::as_str),
        )
        .map_err(|e| PageError::from(e).for_tenant(&tenant.tenant.display_name, tenant.base()))?;
    let cleared = session::end(&state, tenant.id(), &headers).await?;
    Ok(context::see_other(
        &format!("{}/login?signed_out=1", tenant.base()),
        &[cleared],
    ))
}

/// `POST /{tenant}/webauthn/add/options`: creation options for another passkey of the signed-in user.
pub async fn add_options(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = context::tenant(&state, &tenant).await?;
    let csrf = tenant.verify_csrf(&state, &headers, crate::csrf::header_token(&headers))?;
    let policy = tenant.policy()?;
    let session = session::current(&state, tenant.id(), &headers)
        .await?
        .ok_or(AppError::SignInRequired)?;
    let started = account::begin_add_passkey(
        state.store.as_ref(),
        &tenant.tenant,
        &policy,
        &session,
        csrf.binding(),
        sensitive(&state),
    )
    .await?;
    Ok(context::json_reply(
        &OptionsReply {
            ceremony: started.ceremony,
            public_key: started.options,
        },
        None,
    ))
}

/// `POST /{tenant}/webauthn/add/verify`: stores the new passkey.
pub async fn add_verify(
    State(state): State<ProviderState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = context::tenant(&state, &tenant).await?;
    let csrf = tenant.verify_csrf(&state, &headers, crate::csrf::header_token(&headers))?;
    let request: VerifyRequest = context::json_body(&body)?;
    let policy = tenant.policy()?;
    let nickname = parse_nickname(request.nickname.as_deref())?;
    let session = session::current(&state, tenant.id(), &headers)
        .await?
        .ok_or(AppError::SignInRequired)?;
    let rules = sensitive(&state);
    let attestation = state.attestation.current();
    account::finish_add_passkey(
        state.store.as_ref(),
        &tenant.tenant,
        &policy,
        &session,
        AddPasskey {
            ceremony: &request.ceremony,
            binding: &csrf.binding(),
            credential: request.credential,
            nickname,
            trust: attestation.trust_at(rules.now),
        },
        rules,
    )
    .await?;
    let next = format!("{}/account?done=added", tenant.base());
    Ok(context::json_reply(&VerifyReply { ok: true, next }, None))
}

#[cfg(test)]
mod tests {
    use super::passkey_kind;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn passkey_kinds_say_where_the_passkey_lives() {
        assert_eq!(
            passkey_kind(true, &strings(&["internal", "hybrid"])),
            "Synced"
        );
        assert_eq!(passkey_kind(false, &strings(&["usb"])), "Security key");
        assert_eq!(
            passkey_kind(false, &strings(&["nfc", "usb"])),
            "Security key"
        );
        assert_eq!(
            passkey_kind(false, &strings(&["internal"])),
            "This device only"
        );
        // Nothing reported, or a built-in authenticator that also speaks USB: not called a security key.
        assert_eq!(passkey_kind(false, &[]), "This device only");
        assert_eq!(
            passkey_kind(false, &strings(&["internal", "usb"])),
            "This device only"
        );
    }
}
