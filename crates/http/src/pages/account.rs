//! The account page and what it lets a signed-in user do.
//!
//! - `GET /{tenant}/account`: the user's passkeys (name, created, last used, synced or device-bound).
//! - `POST /{tenant}/account/passkeys/rename` (form: `csrf_token`, `credential`, `name`).
//! - `POST /{tenant}/account/passkeys/delete` (form: `csrf_token`, `credential`): the last passkey cannot be deleted
//!   (the store refuses it atomically), since the user would have no way back in.
//! - `POST /{tenant}/webauthn/add/options|verify`: add a passkey. Requires a user verification within the last five
//!   minutes ([`crate::session::has_fresh_verification`]); otherwise the answer is `reauth_required` and the script
//!   first re-verifies the user through the sign-in ceremony.
//! - `POST /{tenant}/signout` (form: `csrf_token`).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::HashMap;
use tessera_store::StoreError;
use tessera_webauthn::Base64UrlBytes;
use tessera_webauthn::json::UserEntity;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ceremony::{self, B64, REGISTER_KIND, RegisterCeremony, RegistrationPurpose};
use super::context::{self, PageTenant};
use super::login::{OptionsReply, VerifyReply, VerifyRequest};
use super::reply::{ApiError, PageError};
use super::signup::{MAX_NICKNAME, creation_options, parse_label, verify_new_credential};
use super::views::{AccountPage, Layout, PasskeyView, render};
use crate::error::AppError;
use crate::session::{self, SessionRecord};
use crate::state::AppState;

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
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let tenant = context::tenant(&state, &tenant).await?;
    let id = tenant.id().clone();
    let Some(session) = session::current(&state, &id, &headers).await? else {
        return Ok(context::see_other(&format!("/{id}/login"), &[]));
    };
    let Some(user) = state.store.get_user(&id, &session.user_id).await? else {
        let cleared = session::end(&state, &id, &headers).await?;
        return Ok(context::see_other(&format!("/{id}/login"), &[cleared]));
    };
    let credentials = state.store.list_credentials(&id, &user.id).await?;
    let passkeys = credentials
        .iter()
        .enumerate()
        .map(|(i, c)| PasskeyView {
            index: i + 1,
            id: URL_SAFE_NO_PAD.encode(&c.credential_id),
            name: c.nickname.clone(),
            kind: if c.backup_eligible {
                "Synced"
            } else {
                "This device only"
            },
            created: when(c.created_at),
            created_iso: iso(c.created_at),
            last_used: c.last_used_at.map(when),
            last_used_iso: c.last_used_at.map(iso).unwrap_or_default(),
        })
        .collect();
    let (csrf, set_cookie) = crate::csrf::token_for_page(&headers)?;
    let view = AccountPage {
        layout: Layout::new(
            "Your account",
            &tenant.tenant.display_name,
            tenant.base(),
            Some(&csrf),
            "account",
            None,
        ),
        username: user.username,
        display_name: user.display_name,
        can_delete: credentials.len() > 1,
        passkeys,
        notice: notice(query.as_deref()),
    };
    Ok(render(&view, StatusCode::OK, set_cookie))
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
    state: &AppState,
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
    State(state): State<AppState>,
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
    match state
        .store
        .rename_credential(tenant.id(), &session.user_id, &credential, &name)
        .await
    {
        Ok(()) => Ok(context::see_other(
            &format!("{}/account?done=renamed", tenant.base()),
            &[],
        )),
        Err(StoreError::NotFound) => Err(back(AppError::NotFound)),
        Err(other) => Err(back(other.into())),
    }
}

/// `POST /{tenant}/account/passkeys/delete`.
pub async fn delete(
    State(state): State<AppState>,
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
    match state
        .store
        .delete_credential(tenant.id(), &session.user_id, &credential)
        .await
    {
        Ok(()) => Ok(context::see_other(
            &format!("{}/account?done=deleted", tenant.base()),
            &[],
        )),
        Err(StoreError::Conflict) => Err(back(PageError::new(
            StatusCode::CONFLICT,
            "This passkey cannot be deleted",
            "It is your only passkey: without it you could not sign in any more. Add another passkey first.",
        ))),
        Err(StoreError::NotFound) => Err(back(AppError::NotFound.into())),
        Err(other) => Err(back(other.into())),
    }
}

/// `POST /{tenant}/signout`: ends the session and goes to the sign-in page.
pub async fn sign_out(
    State(state): State<AppState>,
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
        &format!("{}/login", tenant.base()),
        &[cleared],
    ))
}

/// `POST /{tenant}/webauthn/add/options`: creation options for another passkey of the signed-in user.
pub async fn add_options(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = context::tenant(&state, &tenant).await?;
    let csrf = tenant.verify_csrf(&state, &headers, crate::csrf::header_token(&headers))?;
    let id = tenant.id().clone();
    let policy = tenant.policy()?;
    let session = session::current(&state, &id, &headers)
        .await?
        .ok_or(AppError::SignInRequired)?;
    if !session::has_fresh_verification(&session, state.clock.now()) {
        return Err(ApiError::reauth_required());
    }
    let user = state
        .store
        .get_user(&id, &session.user_id)
        .await?
        .ok_or(AppError::SignInRequired)?;
    let existing = state.store.list_credentials(&id, &user.id).await?;
    let challenge =
        tessera_webauthn::generate_challenge().map_err(|e| AppError::Internal(e.to_string()))?;
    let entity = UserEntity {
        id: Base64UrlBytes(user.user_handle.clone()),
        name: user.username.clone(),
        display_name: user.display_name.clone(),
    };
    let options = creation_options(&tenant, &policy, entity, &challenge, &existing);
    let stored = RegisterCeremony {
        challenge: B64(challenge.to_vec()),
        user_id: user.id.to_string(),
        user_handle: B64(user.user_handle),
        algorithms: options.offered_algorithms(),
        purpose: RegistrationPurpose::AddPasskey,
        authz: None,
        binding: B64(csrf.binding()),
    };
    let ceremony = ceremony::put(&state, &id, REGISTER_KIND, &stored).await?;
    Ok(context::json_reply(
        &OptionsReply {
            ceremony,
            public_key: options,
        },
        None,
    ))
}

/// `POST /{tenant}/webauthn/add/verify`: stores the new passkey.
pub async fn add_verify(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = context::tenant(&state, &tenant).await?;
    let csrf = tenant.verify_csrf(&state, &headers, crate::csrf::header_token(&headers))?;
    let request: VerifyRequest = context::json_body(&body)?;
    let id = tenant.id().clone();
    let policy = tenant.policy()?;
    let session = session::current(&state, &id, &headers)
        .await?
        .ok_or(AppError::SignInRequired)?;
    let stored: RegisterCeremony =
        ceremony::take(&state, &id, REGISTER_KIND, &request.ceremony).await?;
    ceremony::check_binding(&stored.binding, &csrf)?;
    if stored.purpose != RegistrationPurpose::AddPasskey
        || stored.user_id != session.user_id.as_str()
    {
        return Err(AppError::CeremonyExpired.into());
    }
    let (_, credential) = verify_new_credential(
        &state,
        &tenant,
        &policy,
        &stored,
        request.credential,
        request.nickname.as_deref(),
    )
    .await?;
    match state.store.add_credential(&credential).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Err(AppError::BadRequest("This passkey is already registered.".into()).into());
        }
        Err(other) => return Err(other.into()),
    }
    let next = format!("{}/account?done=added", tenant.base());
    Ok(context::json_reply(&VerifyReply { ok: true, next }, None))
}
