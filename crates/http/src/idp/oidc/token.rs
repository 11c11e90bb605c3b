//! `POST /{tenant}/oidc/token` (RFC 6749 §3.2, OIDC Core §3.1.3): the `authorization_code` and `refresh_token`
//! grants, with client authentication by `client_secret_basic`, `client_secret_post`, `private_key_jwt` or `none`.
//!
//! The rules are `tessera_oidc::token`'s; this module does the storage around them. Codes are consumed atomically;
//! a second redemption gets `invalid_grant` and revokes what the first one issued (RFC 6749 §4.1.2). Refresh tokens
//! rotate on every use; a reused one revokes its whole family (RFC 9700 §4.14.2). Access and refresh tokens are plain
//! random values stored hashed, so they can be revoked; each refresh token's record carries its family's
//! [`RefreshGrant`]. Responses carry `Cache-Control: no-store` and `Pragma: no-cache`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tessera_core::TenantId;
use tessera_oidc::error::OidcError;
use tessera_oidc::id_token::{IdTokenInput, mint_id_token};
use tessera_oidc::keys::SigningAlg;
use tessera_oidc::token::{
    AuthenticatedClient, AuthorizationGrant, ClientAuthContext, Grant, Issuance, RefreshGrant,
    TokenResponse, authenticate_client, parse_token_request, redeem_code, redeem_refresh,
};
use tessera_store::{
    AccessToken, Client, CodeRedemption, RefreshRotation, RefreshToken, StoreError,
};
use time::OffsetDateTime;

use super::{client_config, tenant_id, user_profile};
use crate::error::AppError;
use crate::state::{AppState, TenantRuntime};
use tessera_service::handles;

/// The ceremony kind that remembers a `private_key_jwt` assertion's `jti` until it expires.
pub const ASSERTION_JTI_RECORD: &str = "assertion_jti";

/// An OAuth error from a failed rule, as the token endpoint reports it (`invalid_client` is a 401).
pub(crate) fn refuse(error: &OidcError) -> AppError {
    AppError::oauth_refusal(error)
}

/// `POST /{tenant}/oidc/token`.
pub async fn token(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let tenant = tenant_id(&tenant)?;
    let runtime = state.tenant(&tenant).await?;
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return Err(AppError::oauth(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let mut authorizations = headers.get_all(header::AUTHORIZATION).iter();
    let authorization = authorizations.next().and_then(|v| v.to_str().ok());
    if authorizations.next().is_some() {
        return Err(refuse(&OidcError::MultipleClientAuthentications));
    }
    let request = parse_token_request(&pairs, authorization).map_err(|e| refuse(&e))?;
    let Some(client) = state
        .store
        .get_client(&tenant, request.credentials.client_id())
        .await?
    else {
        return Err(refuse(&OidcError::ClientNotFound));
    };
    let config = client_config(&client)?;
    let token_endpoint = &runtime.endpoints.token;
    let now = state.clock.now();
    let ctx = ClientAuthContext {
        issuer: &runtime.issuer,
        token_endpoint,
        now,
    };
    let authenticated =
        authenticate_client(&request.credentials, &config, &ctx).map_err(|e| refuse(&e))?;
    if let Some(guard) = &authenticated.replay_guard {
        // RFC 7523 §3 item 7: a client assertion is used once; its jti is remembered until it expires.
        let id = format!("jti:{}:{}", client.client_id, guard.jti);
        match state
            .store
            .put_ceremony(
                &tenant,
                &id,
                ASSERTION_JTI_RECORD,
                Vec::new(),
                guard.expires_at,
                now,
            )
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Err(refuse(&OidcError::ClientAssertionReplayed)),
            Err(other) => return Err(other.into()),
        }
    }
    let body = match &request.grant {
        Grant::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            let redemption = state
                .store
                .consume_auth_code(&tenant, &handles::storage_key(code.expose()), now)
                .await?;
            let record = match redemption {
                CodeRedemption::Redeemed(record) => record,
                CodeRedemption::AlreadyRedeemed { grant_id } => {
                    // RFC 6749 §4.1.2: a code used twice revokes the tokens issued from it.
                    tracing::warn!(tenant = %tenant, "authorization code reused; revoking its grant");
                    state.store.revoke_grant(&tenant, &grant_id, now).await?;
                    return Err(refuse(&OidcError::AuthorizationCodeReused));
                }
                _ => return Err(refuse(&OidcError::AuthorizationCodeUnknown)),
            };
            let grant: AuthorizationGrant = serde_json::from_slice(&record.payload)
                .map_err(|e| AppError::StoreCorrupt(format!("authorization grant: {e}")))?;
            let issuance = match redeem_code(
                &grant,
                &authenticated,
                redirect_uri.as_deref(),
                code_verifier.as_deref(),
                now,
            ) {
                Ok(issuance) => issuance,
                Err(e) => {
                    // The code is spent either way; nothing was issued from it, but make sure nothing will be.
                    state
                        .store
                        .revoke_grant(&tenant, &record.grant_id, now)
                        .await?;
                    return Err(refuse(&e));
                }
            };
            let refresh = if issuance.wants_refresh_token() {
                Some(
                    start_refresh_family(
                        &state,
                        &tenant,
                        &client,
                        &record.grant_id,
                        &issuance,
                        now,
                    )
                    .await?,
                )
            } else {
                None
            };
            mint(
                &state,
                &tenant,
                &runtime,
                &client,
                &record.grant_id,
                &issuance,
                refresh,
                now,
            )
            .await?
        }
        Grant::RefreshToken {
            refresh_token,
            scope,
        } => {
            refresh_grant(
                &state,
                &tenant,
                &runtime,
                &client,
                &authenticated,
                refresh_token.expose(),
                scope,
                now,
            )
            .await?
        }
    };
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Stores the first refresh token of a family, its record carrying the family's [`RefreshGrant`]; returns the token.
async fn start_refresh_family(
    state: &AppState,
    tenant: &TenantId,
    client: &Client,
    grant_id: &str,
    issuance: &Issuance,
    now: OffsetDateTime,
) -> Result<String, AppError> {
    let lifetime = duration(state.security.refresh_token_ttl);
    let family = RefreshGrant::new(issuance, now, lifetime);
    let payload = serde_json::to_vec(&family)
        .map_err(|e| AppError::Internal(format!("refresh grant: {e}")))?;
    let value = handles::issue(now)?;
    state
        .store
        .put_refresh_token(&RefreshToken {
            token_hash: value.key,
            tenant: tenant.clone(),
            client_id: client.client_id.clone(),
            grant_id: grant_id.to_owned(),
            user_id: issuance.user.clone(),
            scope: issuance.scope_string(),
            payload,
            expires_at: family.expires_at,
        })
        .await
        .map_err(revoked_meanwhile)?;
    Ok(value.value)
}

#[allow(clippy::too_many_arguments)]
async fn refresh_grant(
    state: &AppState,
    tenant: &TenantId,
    runtime: &TenantRuntime,
    client: &Client,
    authenticated: &AuthenticatedClient,
    presented: &str,
    scope: &Option<Vec<String>>,
    now: OffsetDateTime,
) -> Result<serde_json::Value, AppError> {
    let presented_hash = handles::storage_key(presented);
    let Some(stored) = state
        .store
        .get_refresh_token(tenant, &presented_hash, now)
        .await?
    else {
        return Err(refuse(&OidcError::RefreshTokenUnknown));
    };
    let family: RefreshGrant = serde_json::from_slice(&stored.payload)
        .map_err(|e| AppError::StoreCorrupt(format!("refresh grant: {e}")))?;
    // RFC 9700 §4.14.2: bound to the client; a refresh may narrow the scope, never widen it.
    let issuance =
        redeem_refresh(&family, authenticated, scope.as_deref(), now).map_err(|e| refuse(&e))?;
    let value = handles::issue(now)?;
    let successor = RefreshToken {
        token_hash: value.key.clone(),
        tenant: tenant.clone(),
        client_id: stored.client_id.clone(),
        grant_id: stored.grant_id.clone(),
        user_id: family.user.clone(),
        scope: family.scopes.join(" "),
        payload: stored.payload.clone(),
        expires_at: family.expires_at,
    };
    match state
        .store
        .rotate_refresh_token(tenant, &presented_hash, &successor, now)
        .await
        .map_err(revoked_meanwhile)?
    {
        RefreshRotation::Rotated(old)
            if old.client_id == client.client_id && old.grant_id == stored.grant_id => {}
        RefreshRotation::Rotated(old) => {
            state.store.revoke_grant(tenant, &old.grant_id, now).await?;
            state
                .store
                .revoke_grant(tenant, &stored.grant_id, now)
                .await?;
            return Err(refuse(&OidcError::RefreshClientMismatch));
        }
        RefreshRotation::Reused { grant_id } => {
            // RFC 9700 §4.14.2: reuse of a rotated token revokes the whole family.
            tracing::warn!(tenant = %tenant, "refresh token reused; revoking its grant");
            state.store.revoke_grant(tenant, &grant_id, now).await?;
            return Err(refuse(&OidcError::RefreshTokenReused));
        }
        _ => return Err(refuse(&OidcError::RefreshTokenUnknown)),
    }
    mint(
        state,
        tenant,
        runtime,
        client,
        &stored.grant_id,
        &issuance,
        Some(value.value),
        now,
    )
    .await
}

/// Mints the access token (stored hashed) and the ID token, and shapes the response body.
#[allow(clippy::too_many_arguments)]
async fn mint(
    state: &AppState,
    tenant: &TenantId,
    runtime: &TenantRuntime,
    client: &Client,
    grant_id: &str,
    issuance: &Issuance,
    refresh_token: Option<String>,
    now: OffsetDateTime,
) -> Result<serde_json::Value, AppError> {
    let Some(user) = state.store.get_user(tenant, &issuance.user).await? else {
        // The user was deleted after the code was issued.
        state.store.revoke_grant(tenant, grant_id, now).await?;
        return Err(refuse(&OidcError::GrantRevoked));
    };
    let lifetime = duration(state.security.access_token_ttl);
    let access = handles::issue(now)?;
    state
        .store
        .put_access_token(&AccessToken {
            token_hash: access.key.clone(),
            tenant: tenant.clone(),
            client_id: client.client_id.clone(),
            grant_id: grant_id.to_owned(),
            user_id: issuance.user.clone(),
            scope: issuance.scope_string(),
            payload: serde_json::to_vec(issuance)
                .map_err(|e| AppError::Internal(format!("issuance: {e}")))?,
            expires_at: now + lifetime,
        })
        .await
        .map_err(revoked_meanwhile)?;
    let id_token = if issuance.wants_id_token() {
        let alg =
            SigningAlg::parse(&client.id_token_signed_response_alg).unwrap_or(SigningAlg::Rs256);
        let key = runtime.keys.signing_key(alg).ok_or_else(|| {
            AppError::Internal(format!(
                "tenant {tenant} has no {} signing key",
                alg.as_str()
            ))
        })?;
        let profile = user_profile(&user);
        let amr = issuance.authentication.amr();
        let input = IdTokenInput {
            issuer: &runtime.issuer,
            client_id: &client.client_id,
            user: &profile,
            scopes: &issuance.scopes,
            claims_request: issuance.claims_request.as_ref(),
            nonce: issuance.nonce.as_deref(),
            auth_time: issuance.auth_time,
            amr: &amr,
            acr: issuance.authentication.acr(),
            sid: issuance.sid.as_deref(),
            access_token: Some(&access.value),
            now,
            lifetime,
        };
        Some(mint_id_token(key, &input).map_err(|e| AppError::Internal(format!("id token: {e}")))?)
    } else {
        None
    };
    let response = TokenResponse {
        access_token: access.value,
        token_type: "Bearer".into(),
        expires_in: u64::try_from(lifetime.whole_seconds()).unwrap_or(0),
        id_token,
        refresh_token,
        scope: issuance.scope_string(),
    };
    serde_json::to_value(response).map_err(|e| AppError::Internal(format!("token response: {e}")))
}

/// A store `Conflict` while storing a token means the grant was revoked meanwhile (a concurrent code reuse).
fn revoked_meanwhile(error: StoreError) -> AppError {
    match error {
        StoreError::Conflict => refuse(&OidcError::GrantRevoked),
        other => other.into(),
    }
}

fn duration(value: std::time::Duration) -> time::Duration {
    time::Duration::try_from(value).unwrap_or(time::Duration::MINUTE)
}
