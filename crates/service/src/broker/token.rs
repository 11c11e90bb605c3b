//! The broker's token, userinfo and logout endpoints for apps, under a user flow.
//!
//! The token endpoint applies the provider rules of `tessera-oidc` (client authentication per application, code
//! redemption with PKCE, refresh with rotation) to the broker's own store: a code is consumed atomically and a second
//! redemption revokes what the first issued (RFC 6749 §4.1.2); a reused refresh token revokes its whole family
//! (RFC 9700 §4.14.2). The ID token is `tessera_broker::claims::app_token_claims` signed with the broker tenant's
//! key for the application's algorithm; the access token is a JWT (RFC 9068) the broker's userinfo endpoint accepts.
//! MSAL's `client_info=1` adds `client_info` to the response.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tessera_broker::claims::{
    AppTokenInput, DirectoryUser, UpstreamProfile, app_token_claims, msal_client_info,
};
use tessera_broker::config::{Application, PolicyId, ProviderId};
use tessera_core::TenantId;
use tessera_oidc::access_token::{
    AccessTokenClaims, mint_access_token, verify_userinfo_access_token,
};
use tessera_oidc::error::OidcError;
use tessera_oidc::id_token::at_hash;
use tessera_oidc::jose::sign_jwt;
use tessera_oidc::keys::KeySet;
use tessera_oidc::logout::{parse_logout_request, plan_logout, post_logout_redirect};
use tessera_oidc::token::{
    AuthenticatedClient, ClientAuthContext, Grant, Issuance, RefreshGrant, authenticate_client,
    parse_token_request, redeem_code, redeem_refresh,
};
use tessera_store::{
    BrokerStore, CodeRedemption, DirectoryUserRecord, RefreshRotation, RefreshToken, StoreError,
};
use time::OffsetDateTime;

use super::runtime::{self, PolicyRuntime};
use super::session::BrokerGrant;
use crate::error::ServiceError;
use crate::handles;

/// Why a token, userinfo or logout request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// A provider rule refused it: answer with its OAuth error code.
    #[error(transparent)]
    Refused(#[from] OidcError),
    /// The service failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for EndpointError {
    fn from(error: StoreError) -> Self {
        Self::Service(error.into())
    }
}

/// What a refresh token's record carries: the provider rules' refresh grant and what the app token is made of.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BrokerRefresh {
    refresh: RefreshGrant,
    policy: String,
    flow_version: u32,
    provider_id: ProviderId,
    profile: UpstreamProfile,
}

/// A token request to a user flow's token endpoint.
pub struct TokenCall<'a> {
    /// The store.
    pub store: &'a dyn BrokerStore,
    /// The cached applications and flow versions.
    pub config: &'a runtime::ConfigCache,
    /// The broker tenant.
    pub tenant: &'a TenantId,
    /// The user flow whose token endpoint was called.
    pub policy: &'a PolicyRuntime,
    /// The tenant's keys.
    pub keys: &'a KeySet,
    /// The form body.
    pub pairs: &'a [(String, String)],
    /// The `Authorization` header, if one was sent.
    pub authorization: Option<&'a str>,
    /// Now.
    pub now: OffsetDateTime,
}

/// `POST {policy}/oauth2/v2.0/token`: the `authorization_code` and `refresh_token` grants. Returns the JSON body.
pub async fn token(call: TokenCall<'_>) -> Result<Value, EndpointError> {
    let request = parse_token_request(call.pairs, call.authorization)?;
    let Some(application) = call
        .config
        .application(call.store, call.tenant, request.credentials.client_id())
        .await?
    else {
        return Err(OidcError::ClientNotFound.into());
    };
    let config = application.client_config();
    let ctx = ClientAuthContext {
        issuer: &call.policy.urls.issuer,
        token_endpoint: &call.policy.urls.token,
        now: call.now,
    };
    let authenticated = authenticate_client(&request.credentials, &config, &ctx)?;
    let client_info = call
        .pairs
        .iter()
        .any(|(k, v)| k == "client_info" && v == "1");
    let mut body = match &request.grant {
        Grant::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            redeem_authorization_code(
                &call,
                &application,
                &authenticated,
                code.expose(),
                redirect_uri.as_deref(),
                code_verifier.as_deref(),
            )
            .await?
        }
        Grant::RefreshToken {
            refresh_token,
            scope,
        } => {
            refresh(
                &call,
                &application,
                &authenticated,
                refresh_token.expose(),
                scope.as_deref(),
            )
            .await?
        }
    };
    if client_info && let (Some(sub), Some(obj)) = (body.1.clone(), body.0.as_object_mut()) {
        obj.insert(
            "client_info".into(),
            json!(msal_client_info(&sub, &call.policy.policy, call.tenant)),
        );
    }
    Ok(body.0)
}

async fn redeem_authorization_code(
    call: &TokenCall<'_>,
    application: &Application,
    authenticated: &AuthenticatedClient,
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
) -> Result<(Value, Option<String>), EndpointError> {
    let (store, tenant, now) = (call.store, call.tenant, call.now);
    let record = match store
        .consume_broker_auth_code(tenant, &handles::storage_key(code), now)
        .await?
    {
        CodeRedemption::Redeemed(record) => record,
        CodeRedemption::AlreadyRedeemed { grant_id } => {
            // RFC 6749 §4.1.2: a code used twice revokes the tokens issued from it.
            tracing::warn!(tenant = %tenant, "broker authorization code reused; revoking its grant");
            store.revoke_broker_grant(tenant, &grant_id, now).await?;
            return Err(OidcError::AuthorizationCodeReused.into());
        }
        _ => return Err(OidcError::AuthorizationCodeUnknown.into()),
    };
    let grant: BrokerGrant = serde_json::from_slice(&record.payload)
        .map_err(|e| ServiceError::Corrupt(format!("broker grant: {e}")))?;
    let same_policy = PolicyId::parse(&grant.policy).is_ok_and(|p| p == call.policy.policy);
    let issuance = redeem_code(
        &grant.grant,
        authenticated,
        redirect_uri,
        code_verifier,
        now,
    )
    .and_then(|issuance| {
        if same_policy {
            Ok(issuance)
        } else {
            Err(OidcError::AuthorizationCodeUnknown)
        }
    });
    let issuance = match issuance {
        Ok(issuance) => issuance,
        Err(e) => {
            // The code is spent either way; make sure nothing is ever issued from it.
            store
                .revoke_broker_grant(tenant, &record.grant_id, now)
                .await?;
            return Err(e.into());
        }
    };
    let refresh = if issuance.wants_refresh_token() {
        let family = BrokerRefresh {
            refresh: RefreshGrant::new(&issuance, now, application.token_lifetimes.refresh_token()),
            policy: grant.policy.clone(),
            flow_version: grant.flow_version,
            provider_id: grant.provider_id.clone(),
            profile: grant.profile.clone(),
        };
        Some(store_refresh(call, &record.grant_id, &family, None).await?)
    } else {
        None
    };
    let minted = Mint {
        application,
        grant_id: &record.grant_id,
        issuance: &issuance,
        flow_version: grant.flow_version,
        profile: &grant.profile,
        new_user: grant.new_user,
        refresh,
    };
    mint(call, minted).await
}

async fn refresh(
    call: &TokenCall<'_>,
    application: &Application,
    authenticated: &AuthenticatedClient,
    presented: &str,
    scope: Option<&[String]>,
) -> Result<(Value, Option<String>), EndpointError> {
    let (store, tenant, now) = (call.store, call.tenant, call.now);
    let presented_hash = handles::storage_key(presented);
    let Some(stored) = store
        .get_broker_refresh_token(tenant, &presented_hash, now)
        .await?
    else {
        return Err(OidcError::RefreshTokenUnknown.into());
    };
    let family: BrokerRefresh = serde_json::from_slice(&stored.payload)
        .map_err(|e| ServiceError::Corrupt(format!("broker refresh grant: {e}")))?;
    if !PolicyId::parse(&family.policy).is_ok_and(|p| p == call.policy.policy) {
        return Err(OidcError::RefreshTokenUnknown.into());
    }
    // RFC 9700 §4.14.2: bound to the client; a refresh may narrow the scope, never widen it.
    let issuance = redeem_refresh(&family.refresh, authenticated, scope, now)?;
    let value = store_refresh(call, &stored.grant_id, &family, Some(&presented_hash)).await?;
    let minted = Mint {
        application,
        grant_id: &stored.grant_id,
        issuance: &issuance,
        flow_version: family.flow_version,
        profile: &family.profile,
        new_user: false,
        refresh: Some(value),
    };
    mint(call, minted).await
}

/// Stores a refresh token of the family `grant_id`: the first one, or (with `replaces`) the successor of a
/// presented one, spending it atomically. Reuse of a spent token revokes the family.
async fn store_refresh(
    call: &TokenCall<'_>,
    grant_id: &str,
    family: &BrokerRefresh,
    replaces: Option<&[u8]>,
) -> Result<String, EndpointError> {
    let (store, tenant, now) = (call.store, call.tenant, call.now);
    let value = handles::issue(now)?;
    let record = RefreshToken {
        token_hash: value.key.clone(),
        tenant: tenant.clone(),
        client_id: family.refresh.client_id.clone(),
        grant_id: grant_id.to_owned(),
        user_id: family.refresh.user.clone(),
        scope: family.refresh.scopes.join(" "),
        payload: serde_json::to_vec(family)
            .map_err(|e| ServiceError::Internal(format!("broker refresh grant: {e}")))?,
        expires_at: family.refresh.expires_at,
        passkey: None,
    };
    let Some(old) = replaces else {
        store
            .put_broker_refresh_token(&record)
            .await
            .map_err(revoked_meanwhile)?;
        return Ok(value.value);
    };
    match store
        .rotate_broker_refresh_token(tenant, old, &record, now)
        .await
        .map_err(revoked_meanwhile)?
    {
        RefreshRotation::Rotated(spent)
            if spent.client_id == family.refresh.client_id && spent.grant_id == grant_id =>
        {
            Ok(value.value)
        }
        RefreshRotation::Rotated(spent) => {
            store
                .revoke_broker_grant(tenant, &spent.grant_id, now)
                .await?;
            store.revoke_broker_grant(tenant, grant_id, now).await?;
            Err(OidcError::RefreshClientMismatch.into())
        }
        RefreshRotation::Reused { grant_id } => {
            // RFC 9700 §4.14.2: reuse of a rotated token revokes the whole family.
            tracing::warn!(tenant = %tenant, "broker refresh token reused; revoking its family");
            store.revoke_broker_grant(tenant, &grant_id, now).await?;
            Err(OidcError::RefreshTokenReused.into())
        }
        _ => Err(OidcError::RefreshTokenUnknown.into()),
    }
}

/// A store `Conflict` while storing a token means the grant was revoked (or the user disabled) meanwhile.
fn revoked_meanwhile(error: StoreError) -> EndpointError {
    match error {
        StoreError::Conflict | StoreError::NotFound => OidcError::GrantRevoked.into(),
        other => other.into(),
    }
}

struct Mint<'a> {
    application: &'a Application,
    grant_id: &'a str,
    issuance: &'a Issuance,
    flow_version: u32,
    profile: &'a UpstreamProfile,
    new_user: bool,
    refresh: Option<String>,
}

/// Mints the access token and the app's ID token; returns the body and the object id (for `client_info`).
async fn mint(
    call: &TokenCall<'_>,
    minted: Mint<'_>,
) -> Result<(Value, Option<String>), EndpointError> {
    let (store, tenant, now) = (call.store, call.tenant, call.now);
    let issuance = minted.issuance;
    let user = match store.get_directory_user(tenant, &issuance.user).await? {
        Some(user) if user.disabled_at.is_none() => user,
        _ => {
            // Deleted or disabled since the code was issued.
            store
                .revoke_broker_grant(tenant, minted.grant_id, now)
                .await?;
            return Err(OidcError::GrantRevoked.into());
        }
    };
    let Some(settings) = call
        .config
        .flow_version(store, tenant, &call.policy.policy, minted.flow_version)
        .await?
    else {
        return Err(OidcError::GrantRevoked.into());
    };
    let application = minted.application;
    let key = call
        .keys
        .signing_key(application.id_token_signing_alg)
        .ok_or_else(|| {
            ServiceError::Keys(format!(
                "broker tenant {tenant} has no {} signing key",
                application.id_token_signing_alg.as_str()
            ))
        })?;
    let issuer = &call.policy.urls.issuer;
    let lifetimes = &application.token_lifetimes;
    let access = mint_access_token(
        key,
        issuer,
        &AccessTokenClaims {
            sub: issuance.user.clone(),
            client_id: issuance.client_id.clone(),
            scopes: issuance.scopes.clone(),
            jti: handles::random_token(16)?,
            grant_id: Some(minted.grant_id.to_owned()),
            sid: issuance.sid.clone(),
            auth_time: issuance.auth_time,
            expires_at: now + lifetimes.access_token(),
        },
        now,
    )
    .map_err(|e| ServiceError::Keys(format!("access token: {e}")))?;
    let directory_user = directory_user(&user)?;
    let mut claims = app_token_claims(&AppTokenInput {
        issuer,
        audience: &issuance.client_id,
        policy: &call.policy.policy,
        settings: &settings,
        user: &directory_user,
        upstream: minted.profile,
        new_user: minted.new_user,
        nonce: issuance.nonce.as_deref(),
        signed_in_at: issuance.auth_time,
        now,
        lifetime: lifetimes.id_token(),
    });
    claims.insert("at_hash".into(), json!(at_hash(&access)));
    if let Some(sid) = &issuance.sid {
        claims.insert("sid".into(), json!(sid));
    }
    let id_token = sign_jwt(key, &Value::Object(claims))
        .map_err(|e| ServiceError::Keys(format!("id token: {e}")))?;
    let mut body = Map::new();
    body.insert("access_token".into(), json!(access));
    body.insert("token_type".into(), json!("Bearer"));
    body.insert(
        "expires_in".into(),
        json!(lifetimes.access_token().whole_seconds()),
    );
    body.insert("id_token".into(), json!(id_token));
    body.insert(
        "id_token_expires_in".into(),
        json!(lifetimes.id_token().whole_seconds()),
    );
    body.insert("not_before".into(), json!(now.unix_timestamp()));
    body.insert("scope".into(), json!(issuance.scope_string()));
    if let Some(refresh) = minted.refresh {
        body.insert("refresh_token".into(), json!(refresh));
        body.insert(
            "refresh_token_expires_in".into(),
            json!(lifetimes.refresh_token().whole_seconds()),
        );
    }
    Ok((
        Value::Object(body),
        Some(user.object_id.as_str().to_owned()),
    ))
}

/// A directory record as the app-token rules see it.
pub fn directory_user(record: &DirectoryUserRecord) -> Result<DirectoryUser, ServiceError> {
    let custom = serde_json::from_value(record.custom.clone())
        .map_err(|e| ServiceError::Corrupt(format!("custom attributes: {e}")))?;
    Ok(DirectoryUser {
        object_id: record.object_id.as_str().to_owned(),
        display_name: record.display_name.clone(),
        given_name: record.given_name.clone(),
        surname: record.surname.clone(),
        email: record.email.clone(),
        custom,
    })
}

/// `GET|POST {policy}/openid/v2.0/userinfo` with the broker's access token: the directory user's claims.
pub async fn userinfo(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    policy: &PolicyRuntime,
    keys: &KeySet,
    token: &str,
    now: OffsetDateTime,
) -> Result<Value, EndpointError> {
    let claims =
        verify_userinfo_access_token(token, keys.verifying_keys(), &policy.urls.issuer, now)?;
    let Some(user) = store.get_directory_user(tenant, &claims.sub).await? else {
        return Err(OidcError::GrantRevoked.into());
    };
    if user.disabled_at.is_some() {
        return Err(OidcError::GrantRevoked.into());
    }
    let user = directory_user(&user)?;
    let mut body = Map::new();
    body.insert("sub".into(), json!(user.object_id));
    body.insert("oid".into(), json!(user.object_id));
    body.insert("tfp".into(), json!(policy.policy.as_str()));
    if let Some(name) = &user.display_name {
        body.insert("name".into(), json!(name));
    }
    if let Some(name) = &user.given_name {
        body.insert("given_name".into(), json!(name));
    }
    if let Some(name) = &user.surname {
        body.insert("family_name".into(), json!(name));
    }
    if let Some(email) = &user.email {
        body.insert("emails".into(), json!([email]));
    }
    for (name, value) in &user.custom {
        body.insert(
            format!("extension_{name}"),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
    }
    Ok(Value::Object(body))
}

/// Where a logout sends the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutOutcome {
    /// To the app's registered logout URL (with its `state`).
    Redirect(String),
    /// No (valid) logout URL was given: show the signed-out page.
    SignedOut,
}

/// `GET|POST {policy}/oauth2/v2.0/logout`: ends the browser's broker session (if any) and sends it to the app's
/// `post_logout_redirect_uri` only when the app (named by `client_id` or a valid `id_token_hint`) registered it.
pub async fn logout(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    policy: &PolicyRuntime,
    keys: &KeySet,
    pairs: &[(String, String)],
    session: Option<&[u8]>,
) -> Result<LogoutOutcome, EndpointError> {
    if let Some(key) = session {
        super::session::end(store, tenant, key).await?;
    }
    let request = parse_logout_request(pairs)?;
    let plan = plan_logout(&request, &policy.urls.issuer, keys.verifying_keys())?;
    let application = match &plan.client_id {
        Some(id) => runtime::application(store, tenant, id).await?,
        None => None,
    };
    let config = application.as_ref().map(Application::client_config);
    match post_logout_redirect(&request, config.as_ref())? {
        Some(url) => Ok(LogoutOutcome::Redirect(url)),
        None => Ok(LogoutOutcome::SignedOut),
    }
}
