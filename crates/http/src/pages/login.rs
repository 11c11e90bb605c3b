//! Sign-in: the page, and the two JSON calls of its script.
//!
//! - `GET /{tenant}/login?authz=...`: username field (`autocomplete="username webauthn"` for autofill), a button for
//!   discoverable passkeys, links to sign up and to cancel (which answers the client `access_denied`).
//! - `POST /{tenant}/webauthn/login/options`: `{"username"?, "authz"?, "conditional"?, "reauth"?}` → `{"ceremony",
//!   "publicKey"}` (request options). With a username, `allowCredentials` lists that user's passkeys; without, the
//!   browser offers discoverable ones. `reauth` re-verifies the signed-in user before a passkey is added: limited to
//!   the user's own passkeys, and user verification is required whatever the tenant's policy says.
//! - `POST /{tenant}/webauthn/login/verify`: `{"ceremony", "credential"}` → `{"ok": true, "next"}` and a new session.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tessera_store::{SignCountBump, SignCountUpdate, User};
use tessera_webauthn::authentication::{
    AuthenticationExpectation, CredentialRecord, UserIdentification,
};
use tessera_webauthn::json::{
    AuthenticatorTransport, PublicKeyCredentialDescriptor, UserVerificationRequirement,
};
use tessera_webauthn::{
    AuthenticationResponseJSON, AuthenticatorPolicy, OriginPolicy,
    PublicKeyCredentialRequestOptionsJSON, SignCountPolicy, WebauthnError, generate_challenge,
    verify_authentication,
};

use super::ceremony::{self, B64, IdentifiedUser, LOGIN_KIND, LoginCeremony};
use super::context::{self, PageTenant};
use super::reply::{ApiError, PageError};
use super::views::{Layout, LoginPage, render};
use crate::error::AppError;
use crate::session::{self, AuthenticationFacts};
use crate::state::AppState;

/// `GET /{tenant}/login?authz=...`: the sign-in page.
pub async fn page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let tenant = context::tenant(&state, &tenant).await?;
    if let Some(wrong) = context::wrong_address(&state, &tenant, &headers, &uri) {
        return Err(wrong);
    }
    let authz = context::authz_id(context::query_param(query.as_deref(), "authz").as_deref())?;
    let id = tenant.id().clone();
    let mut pending = None;
    if let Some(authz) = &authz {
        let found = context::pending_authorization(&state, &id, authz)
            .await?
            .ok_or_else(|| expired_request(&tenant))?;
        // `prompt=create`: the client asks for the sign-up page.
        if found.wants_sign_up() {
            return Ok(context::see_other(
                &context::page_url(&id, "signup", Some(authz)),
                &[],
            ));
        }
        pending = Some(found);
    } else if session::current(&state, &id, &headers).await?.is_some() {
        return Ok(context::see_other(&format!("/{id}/account"), &[]));
    }
    let (csrf, set_cookie) = crate::csrf::token_for_page(&headers)?;
    let view = LoginPage {
        layout: Layout::new(
            "Sign in",
            &tenant.tenant.display_name,
            tenant.base(),
            Some(&csrf),
            "login",
            authz.as_deref(),
        ),
        client_name: pending.as_ref().map(|p| p.client_name.clone()),
        login_hint: pending
            .as_ref()
            .and_then(|p| p.login_hint())
            .unwrap_or_default()
            .to_owned(),
        signup_href: context::page_url(&id, "signup", authz.as_deref()),
        cancel_href: authz.as_deref().map(|a| context::cancel_url(&id, a)),
        notice: notice(query.as_deref()),
    };
    Ok(render(&view, StatusCode::OK, set_cookie))
}

/// The page shown when the pending authorization is gone: back to the application, or on to the sign-in page.
pub(crate) fn expired_request(tenant: &PageTenant) -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        "This sign-in request has expired",
        "Too much time has passed, or the request was already completed. Go back to the application and start \
         again, or sign in here to manage your passkeys.",
    )
    .for_tenant(&tenant.tenant.display_name, tenant.base())
    .with_link(format!("{}/login", tenant.base()), "Go to the sign-in page")
}

/// The notice of the sign-in page, from its query (`?signed_out=1` after signing out).
fn notice(query: Option<&str>) -> Option<String> {
    context::query_param(query, "signed_out")
        .filter(|v| v == "1")
        .map(|_| "You are signed out.".to_owned())
}

/// The body of `POST /{tenant}/webauthn/login/options`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginOptionsRequest {
    /// Username-first sign-in.
    pub username: Option<String>,
    /// The pending authorization to resume afterwards.
    pub authz: Option<String>,
    /// The script asks for conditional mediation (autofill): never username-first.
    pub conditional: bool,
    /// Re-verify the signed-in user.
    pub reauth: bool,
}

/// The answer to an options call: the ceremony id and the WebAuthn options for the browser.
#[derive(Debug, Serialize)]
pub struct OptionsReply<T> {
    /// The ceremony id to send back with the response.
    pub ceremony: String,
    /// The options, in the WebAuthn JSON serialization.
    #[serde(rename = "publicKey")]
    pub public_key: T,
}

/// The body of a verify call.
#[derive(Debug, Deserialize)]
pub struct VerifyRequest {
    /// The ceremony id from the options call.
    pub ceremony: String,
    /// The credential's `toJSON()`.
    pub credential: serde_json::Value,
    /// A name for a new passkey (registration only).
    #[serde(default)]
    pub nickname: Option<String>,
}

/// The answer to a successful verify call.
#[derive(Debug, Serialize)]
pub struct VerifyReply {
    /// Always `true`.
    pub ok: bool,
    /// Where the browser goes next.
    pub next: String,
}

/// The tenant's policy, with user verification required for a re-verification (it must prove a fresh UV).
fn effective_policy(mut policy: AuthenticatorPolicy, reauth: bool) -> AuthenticatorPolicy {
    if reauth {
        policy.user_verification = UserVerificationRequirement::Required;
    }
    policy
}

pub(crate) fn descriptors(
    credentials: &[tessera_store::Credential],
) -> Vec<PublicKeyCredentialDescriptor> {
    credentials
        .iter()
        .map(|c| {
            let transports = c
                .transports
                .iter()
                .cloned()
                .map(AuthenticatorTransport::from)
                .collect();
            PublicKeyCredentialDescriptor::new(c.credential_id.clone(), transports)
        })
        .collect()
}

/// The tenant's legacy U2F AppID, when the ceremony names credentials (`allowCredentials`) it could apply to.
fn legacy_appid(policy: &AuthenticatorPolicy, names_credentials: bool) -> Option<&str> {
    policy
        .legacy_appid
        .as_deref()
        .map(str::trim)
        .filter(|a| names_credentials && !a.is_empty())
}

/// `POST /{tenant}/webauthn/login/options`.
pub async fn options(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = context::tenant(&state, &tenant).await?;
    let csrf = tenant.verify_csrf(&state, &headers, crate::csrf::header_token(&headers))?;
    let request: LoginOptionsRequest = context::json_body(&body)?;
    let id = tenant.id().clone();
    let policy = effective_policy(tenant.policy()?, request.reauth);
    let authz = context::authz_id(request.authz.as_deref())?;

    let user: Option<User> = if request.reauth {
        let session = session::current(&state, &id, &headers)
            .await?
            .ok_or(AppError::SignInRequired)?;
        Some(
            state
                .store
                .get_user(&id, &session.user_id)
                .await?
                .ok_or(AppError::SignInRequired)?,
        )
    } else {
        let username = match request.username.as_deref() {
            Some(raw) if !request.conditional => super::signup::parse_sign_in_username(raw)?,
            _ => None,
        };
        match username {
            Some(username) => Some(state.store.find_user_by_username(&id, &username).await?.ok_or_else(|| {
                AppError::BadRequest(
                    "There is no account with this username. Check the spelling, or create an account.".into(),
                )
            })?),
            None => None,
        }
    };
    let allow = match &user {
        Some(user) => {
            let credentials = state.store.list_credentials(&id, &user.id).await?;
            if credentials.is_empty() {
                return Err(AppError::BadRequest("This account has no passkey any more. Create a new account, or ask the site's administrator for help.".into()).into());
            }
            descriptors(&credentials)
        }
        None => Vec::new(),
    };
    let challenge = generate_challenge().map_err(|e| AppError::Internal(e.to_string()))?;
    let mut builder = PublicKeyCredentialRequestOptionsJSON::builder(
        tenant.tenant.rp_id.clone(),
        challenge.to_vec(),
    )
    .allow_credentials(allow.clone())
    .user_verification(policy.user_verification);
    // WebAuthn L3 §10.1.1 (FIDO AppID extension): credentials registered under the tenant's legacy U2F AppID are
    // non-discoverable, so the extension only means something with an `allowCredentials` list.
    if let Some(appid) = legacy_appid(&policy, !allow.is_empty()) {
        builder = builder.appid(appid);
    }
    let options = builder.build();
    let stored = LoginCeremony {
        challenge: B64(challenge.to_vec()),
        user: user.map(|u| IdentifiedUser {
            id: u.id.to_string(),
            handle: B64(u.user_handle),
        }),
        allow: allow.into_iter().map(|d| B64(d.id.0)).collect(),
        authz,
        binding: B64(csrf.binding()),
        reauth: request.reauth,
    };
    let ceremony = ceremony::put(&state, &id, LOGIN_KIND, &stored).await?;
    Ok(context::json_reply(
        &OptionsReply {
            ceremony,
            public_key: options,
        },
        None,
    ))
}

/// `POST /{tenant}/webauthn/login/verify`.
pub async fn verify(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = context::tenant(&state, &tenant).await?;
    let csrf = tenant.verify_csrf(&state, &headers, crate::csrf::header_token(&headers))?;
    let request: VerifyRequest = context::json_body(&body)?;
    let id = tenant.id().clone();
    let stored: LoginCeremony = ceremony::take(&state, &id, LOGIN_KIND, &request.ceremony).await?;
    ceremony::check_binding(&stored.binding, &csrf)?;
    let policy = effective_policy(tenant.policy()?, stored.reauth);

    let response: AuthenticationResponseJSON = serde_json::from_value(request.credential)
        .map_err(|e| ApiError::refused(&WebauthnError::ResponseJsonInvalid(e.to_string())))?;
    let credential = state
        .store
        .get_credential(&id, response.raw_id.as_slice())
        .await?
        .ok_or_else(|| {
            ApiError::refused_because("credential-unknown", "it is not registered with this site")
        })?;
    if let Some(expected) = &stored.user
        && credential.user_id.as_str() != expected.id
    {
        return Err(ApiError::refused_because(
            "credential-not-allowed",
            "it belongs to another account",
        ));
    }
    let user = state
        .store
        .get_user(&id, &credential.user_id)
        .await?
        .ok_or_else(|| AppError::StoreCorrupt("credential without its user".into()))?;

    let record = CredentialRecord {
        credential_id: credential.credential_id.clone(),
        user_handle: user.user_handle.clone(),
        public_key: credential.public_key.clone(),
        sign_count: credential.sign_count,
        backup_eligible: credential.backup_eligible,
        backup_state: credential.backup_state,
        uv_initialized: credential.uv_initialized,
        transports: credential
            .transports
            .iter()
            .cloned()
            .map(AuthenticatorTransport::from)
            .collect(),
    };
    let origins = OriginPolicy::new(tenant.tenant.origins.clone());
    let rp_ids = [tenant.tenant.rp_id.clone()];
    let allow: Vec<Vec<u8>> = stored.allow.iter().map(|b| b.0.clone()).collect();
    let identified_handle = stored.user.as_ref().map(|u| u.handle.0.clone());
    let expectation = AuthenticationExpectation {
        challenge: &stored.challenge.0,
        origins: &origins,
        rp_ids: &rp_ids,
        appid: legacy_appid(&policy, !allow.is_empty()),
        allow_credentials: &allow,
        user: match &identified_handle {
            Some(handle) => UserIdentification::Identified {
                user_handle: handle,
            },
            None => UserIdentification::Discoverable,
        },
        policy: &policy,
    };
    let verified = verify_authentication(&response, &expectation, &record)
        .map_err(|e| ApiError::refused(&e))?;

    // WebAuthn L3 §7.2 "Update storedSignCount ...": one conditional update, in the same transaction as the new
    // session. A lost race or a counter that did not move forward is the clone signal, handled per the tenant's
    // policy: refused, the sign-in changes nothing and gets no session.
    let authentication = AuthenticationFacts {
        user_verified: verified.user_verified,
        backup_eligible: verified.backup_eligible,
        attestation_trusted: credential.attestation_trusted,
    };
    let new_session = session::prepare(&state, &id, &headers, &user.id, authentication)?;
    let refuse_clones = policy.sign_count == SignCountPolicy::RejectClone;
    let bump = SignCountBump {
        credential_id: credential.credential_id.clone(),
        expected_old: credential.sign_count,
        new: verified.sign_count,
        backup_state: verified.backup_state,
        used_at: new_session.record.auth_time,
    };
    let update = state
        .store
        .record_sign_in(
            &bump,
            refuse_clones,
            new_session.replaces.as_deref(),
            &new_session.record,
        )
        .await?;
    if update == SignCountUpdate::Regressed {
        if refuse_clones {
            return Err(ApiError::refused_because(
                "sign-count-regressed",
                "its signature counter did not move forward, which can mean a cloned authenticator",
            ));
        }
        tracing::warn!(tenant = %id, user = %user.id, "sign counter did not move forward; accepted by policy");
    }
    let cookie = new_session.cookie;
    let next = context::next_after_sign_in(&id, stored.authz.as_deref());
    Ok(context::json_reply(
        &VerifyReply { ok: true, next },
        Some(cookie),
    ))
}
