//! The token endpoint's use case (RFC 6749 §3.2, OIDC Core §3.1.3): the `authorization_code` and `refresh_token`
//! grants, with client authentication by the method the client registered (`client_secret_basic`,
//! `client_secret_post`, `private_key_jwt` or `none`); any other method is `invalid_client`.
//!
//! The rules are `tessera_oidc::token`'s; this module does the storage around them. Codes are consumed atomically;
//! a second redemption gets `invalid_grant` and revokes what the first one issued (RFC 6749 §4.1.2). Refresh tokens
//! rotate on every use; a reused one revokes its whole family (RFC 9700 §4.14.2). Access and refresh tokens are plain
//! random values stored hashed, so they can be revoked; each refresh token's record carries its family's
//! [`RefreshGrant`].

use tessera_core::TenantId;
use tessera_oidc::error::OidcError;
use tessera_oidc::id_token::{IdTokenInput, mint_id_token};
use tessera_oidc::keys::SigningAlg;
use tessera_oidc::token::{
    AuthenticatedClient, AuthorizationGrant, ClientAuthContext, ClientCredentials, Grant, Issuance,
    RefreshGrant, TokenResponse, authenticate_client, parse_token_request, redeem_code,
    redeem_refresh,
};
use tessera_store::{
    AccessToken, Client, CodeRedemption, GrantPasskey, RefreshRotation, RefreshToken, Store,
    StoreError, User,
};
use time::OffsetDateTime;

use super::runtime::TenantRuntime;
use super::{client_config, user_profile};
use crate::error::{Result, ServiceError};
use crate::handles;

/// The ceremony kind that remembers a `private_key_jwt` assertion's `jti` until it expires.
pub const ASSERTION_JTI_RECORD: &str = "assertion_jti";

/// How long the tokens the endpoint issues live.
#[derive(Debug, Clone, Copy)]
pub struct TokenLifetimes {
    /// Access tokens (and ID tokens).
    pub access: time::Duration,
    /// Refresh token families, from the code's redemption.
    pub refresh: time::Duration,
}

/// A token request as the endpoint received it.
pub struct TokenRequest<'a> {
    /// The form's fields, in order.
    pub form: &'a [(String, String)],
    /// The single `Authorization` header, if any (the caller refuses two).
    pub authorization: Option<&'a str>,
}

/// Where the token endpoint works: the store, the tenant, the lifetimes and `now`.
pub struct TokenEndpoint<'a> {
    /// The store.
    pub store: &'a dyn Store,
    /// The tenant's runtime entry (issuer, keys, endpoints).
    pub runtime: &'a TenantRuntime,
    /// Token lifetimes.
    pub lifetimes: TokenLifetimes,
    /// Now.
    pub now: OffsetDateTime,
}

/// A refusal by an OAuth rule, as [`ServiceError::OAuth`].
fn refuse(error: OidcError) -> ServiceError {
    ServiceError::OAuth(error)
}

/// The registered `token_endpoint_auth_method` must be the one used: a secret sent in the body by a client
/// registered for HTTP Basic (or the reverse) is `invalid_client`, even when the secret is right.
pub fn check_registered_method(client: &Client, credentials: &ClientCredentials) -> Result<()> {
    if credentials.method().as_str() == client.token_endpoint_auth_method {
        Ok(())
    } else {
        tracing::debug!(
            client = %client.client_id,
            registered = %client.token_endpoint_auth_method,
            used = credentials.method().as_str(),
            "client authenticated with a method it did not register"
        );
        Err(refuse(OidcError::ClientAuthMethodNotAllowed))
    }
}

/// Authenticates the client of a token or revocation request with the method it registered; remembers a
/// `private_key_jwt` assertion's `jti` so it is used once (RFC 7523 §3 item 7).
pub async fn authenticate(
    endpoint: &TokenEndpoint<'_>,
    credentials: &ClientCredentials,
) -> Result<(Client, AuthenticatedClient)> {
    let tenant = &endpoint.runtime.tenant.id;
    let Some(client) = endpoint
        .store
        .get_client(tenant, credentials.client_id())
        .await?
    else {
        return Err(refuse(OidcError::ClientNotFound));
    };
    let config = client_config(&client)?;
    let ctx = ClientAuthContext {
        issuer: &endpoint.runtime.issuer,
        token_endpoint: &endpoint.runtime.endpoints.token,
        now: endpoint.now,
    };
    let authenticated = authenticate_client(credentials, &config, &ctx).map_err(refuse)?;
    check_registered_method(&client, credentials)?;
    if let Some(guard) = &authenticated.replay_guard {
        // The jti is the client's text: stored under its hash, so no byte of it reaches the store as an id.
        let jti = handles::sha256(guard.jti.as_bytes());
        let id = format!("jti-{}-{}", client.client_id, hex(&jti));
        match endpoint
            .store
            .put_ceremony(
                tenant,
                &id,
                ASSERTION_JTI_RECORD,
                Vec::new(),
                guard.expires_at,
                endpoint.now,
            )
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Err(refuse(OidcError::ClientAssertionReplayed)),
            Err(other) => return Err(other.into()),
        }
    }
    Ok((client, authenticated))
}

/// Answers a token request: authenticates the client, redeems the grant and mints the tokens.
pub async fn exchange(
    endpoint: &TokenEndpoint<'_>,
    request: TokenRequest<'_>,
) -> Result<TokenResponse> {
    let parsed = parse_token_request(request.form, request.authorization).map_err(refuse)?;
    let (client, authenticated) = authenticate(endpoint, &parsed.credentials).await?;
    match &parsed.grant {
        Grant::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            code_grant(
                endpoint,
                &client,
                &authenticated,
                code.expose(),
                redirect_uri.as_deref(),
                code_verifier.as_deref(),
            )
            .await
        }
        Grant::RefreshToken {
            refresh_token,
            scope,
        } => {
            refresh_grant(
                endpoint,
                &client,
                &authenticated,
                refresh_token.expose(),
                scope.as_deref(),
            )
            .await
        }
    }
}

async fn code_grant(
    endpoint: &TokenEndpoint<'_>,
    client: &Client,
    authenticated: &AuthenticatedClient,
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
) -> Result<TokenResponse> {
    let (store, now) = (endpoint.store, endpoint.now);
    let tenant = &endpoint.runtime.tenant.id;
    let code_key = handles::storage_key(code);
    // The code is read first and spent in the same write that stores its tokens: one write per redemption.
    let Some(record) = store.peek_auth_code(tenant, &code_key, now).await? else {
        // Unknown, expired or already spent: spending it tells which.
        let redemption = store.consume_auth_code(tenant, &code_key, now).await?;
        return Err(refuse_redemption(endpoint, redemption).await);
    };
    let grant: AuthorizationGrant = serde_json::from_slice(&record.payload)
        .map_err(|e| ServiceError::Corrupt(format!("authorization grant: {e}")))?;
    let issuance = match redeem_code(&grant, authenticated, redirect_uri, code_verifier, now) {
        Ok(issuance) => issuance,
        Err(e) => {
            // The code is spent either way; nothing was issued from it, but make sure nothing will be.
            store.consume_auth_code(tenant, &code_key, now).await?;
            store.revoke_grant(tenant, &record.grant_id, now).await?;
            return Err(refuse(e));
        }
    };
    let user = live_user(endpoint, &record.grant_id, &issuance).await?;
    // The tokens are of the code's grant: revoking the passkey it was issued from revokes them.
    let passkey = record.passkey.as_ref();
    let (access, access_record) =
        new_access_token(endpoint, client, &record.grant_id, &issuance, passkey)?;
    let refresh = if issuance.wants_refresh_token() {
        Some(new_refresh_family(
            endpoint,
            client,
            &record.grant_id,
            &issuance,
            passkey,
        )?)
    } else {
        None
    };
    let redemption = store
        .redeem_auth_code(
            tenant,
            &code_key,
            now,
            &access_record,
            refresh.as_ref().map(|(_, stored)| stored),
        )
        .await
        .map_err(revoked_meanwhile)?;
    if !matches!(redemption, CodeRedemption::Redeemed(_)) {
        return Err(refuse_redemption(endpoint, redemption).await);
    }
    respond(
        endpoint,
        client,
        &issuance,
        &user,
        access,
        refresh.map(|(value, _)| value),
    )
}

/// The refusal of a code that was not redeemed now: a spent one (RFC 6749 §4.1.2) revokes the tokens issued from
/// it.
async fn refuse_redemption(
    endpoint: &TokenEndpoint<'_>,
    redemption: CodeRedemption,
) -> ServiceError {
    let tenant = &endpoint.runtime.tenant.id;
    match redemption {
        CodeRedemption::AlreadyRedeemed { grant_id } => {
            tracing::warn!(tenant = %tenant, "authorization code reused; revoking its grant");
            match endpoint
                .store
                .revoke_grant(tenant, &grant_id, endpoint.now)
                .await
            {
                Ok(()) => refuse(OidcError::AuthorizationCodeReused),
                Err(e) => e.into(),
            }
        }
        _ => refuse(OidcError::AuthorizationCodeUnknown),
    }
}

/// The first refresh token of a family, its record carrying the family's [`RefreshGrant`], made but not stored.
fn new_refresh_family(
    endpoint: &TokenEndpoint<'_>,
    client: &Client,
    grant_id: &str,
    issuance: &Issuance,
    passkey: Option<&GrantPasskey>,
) -> Result<(String, RefreshToken)> {
    let now = endpoint.now;
    let family = RefreshGrant::new(issuance, now, endpoint.lifetimes.refresh);
    let payload = serde_json::to_vec(&family)
        .map_err(|e| ServiceError::Internal(format!("refresh grant: {e}")))?;
    let value = handles::issue(now)?;
    let record = RefreshToken {
        token_hash: value.key,
        tenant: endpoint.runtime.tenant.id.clone(),
        client_id: client.client_id.clone(),
        grant_id: grant_id.to_owned(),
        user_id: issuance.user.clone(),
        scope: issuance.scope_string(),
        payload,
        expires_at: family.expires_at,
        passkey: passkey.cloned(),
    };
    Ok((value.value, record))
}

async fn refresh_grant(
    endpoint: &TokenEndpoint<'_>,
    client: &Client,
    authenticated: &AuthenticatedClient,
    presented: &str,
    scope: Option<&[String]>,
) -> Result<TokenResponse> {
    let (store, now) = (endpoint.store, endpoint.now);
    let tenant: &TenantId = &endpoint.runtime.tenant.id;
    let presented_hash = handles::storage_key(presented);
    let Some(stored) = store
        .get_refresh_token(tenant, &presented_hash, now)
        .await?
    else {
        return Err(refuse(OidcError::RefreshTokenUnknown));
    };
    let family: RefreshGrant = serde_json::from_slice(&stored.payload)
        .map_err(|e| ServiceError::Corrupt(format!("refresh grant: {e}")))?;
    // RFC 9700 §4.14.2: bound to the client; a refresh may narrow the scope, never widen it.
    let issuance = redeem_refresh(&family, authenticated, scope, now).map_err(refuse)?;
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
        passkey: stored.passkey.clone(),
    };
    match store
        .rotate_refresh_token(tenant, &presented_hash, &successor, now)
        .await
        .map_err(revoked_meanwhile)?
    {
        RefreshRotation::Rotated(old)
            if old.client_id == client.client_id && old.grant_id == stored.grant_id => {}
        RefreshRotation::Rotated(old) => {
            store.revoke_grant(tenant, &old.grant_id, now).await?;
            store.revoke_grant(tenant, &stored.grant_id, now).await?;
            return Err(refuse(OidcError::RefreshClientMismatch));
        }
        RefreshRotation::Reused { grant_id } => {
            // RFC 9700 §4.14.2: reuse of a rotated token revokes the whole family.
            tracing::warn!(tenant = %tenant, "refresh token reused; revoking its grant");
            store.revoke_grant(tenant, &grant_id, now).await?;
            return Err(refuse(OidcError::RefreshTokenReused));
        }
        _ => return Err(refuse(OidcError::RefreshTokenUnknown)),
    }
    mint(
        endpoint,
        client,
        &stored.grant_id,
        &issuance,
        stored.passkey.as_ref(),
        Some(value.value),
    )
    .await
}

/// Mints the access token (stored hashed) and the ID token of a refreshed grant.
async fn mint(
    endpoint: &TokenEndpoint<'_>,
    client: &Client,
    grant_id: &str,
    issuance: &Issuance,
    passkey: Option<&GrantPasskey>,
    refresh_token: Option<String>,
) -> Result<TokenResponse> {
    let user = live_user(endpoint, grant_id, issuance).await?;
    let (access, record) = new_access_token(endpoint, client, grant_id, issuance, passkey)?;
    endpoint
        .store
        .put_access_token(&record)
        .await
        .map_err(revoked_meanwhile)?;
    respond(endpoint, client, issuance, &user, access, refresh_token)
}

/// The grant's user, if they may still be issued tokens; a user deleted or disabled after the grant was issued
/// revokes it.
async fn live_user(
    endpoint: &TokenEndpoint<'_>,
    grant_id: &str,
    issuance: &Issuance,
) -> Result<User> {
    let (store, now) = (endpoint.store, endpoint.now);
    let tenant = &endpoint.runtime.tenant.id;
    match store
        .get_user(tenant, &issuance.user)
        .await?
        .filter(|user| user.disabled_at.is_none())
    {
        Some(user) => Ok(user),
        None => {
            store.revoke_grant(tenant, grant_id, now).await?;
            Err(refuse(OidcError::GrantRevoked))
        }
    }
}

/// A new access token: its value and its record (stored by its hash), not yet stored.
fn new_access_token(
    endpoint: &TokenEndpoint<'_>,
    client: &Client,
    grant_id: &str,
    issuance: &Issuance,
    passkey: Option<&GrantPasskey>,
) -> Result<(String, AccessToken)> {
    let access = handles::issue(endpoint.now)?;
    let record = AccessToken {
        token_hash: access.key,
        tenant: endpoint.runtime.tenant.id.clone(),
        client_id: client.client_id.clone(),
        grant_id: grant_id.to_owned(),
        user_id: issuance.user.clone(),
        scope: issuance.scope_string(),
        payload: serde_json::to_vec(issuance)
            .map_err(|e| ServiceError::Internal(format!("issuance: {e}")))?,
        expires_at: endpoint.now + endpoint.lifetimes.access,
        passkey: passkey.cloned(),
    };
    Ok((access.value, record))
}

/// The token response: the stored access token's value, the ID token signed now, the refresh token if any.
fn respond(
    endpoint: &TokenEndpoint<'_>,
    client: &Client,
    issuance: &Issuance,
    user: &User,
    access: String,
    refresh_token: Option<String>,
) -> Result<TokenResponse> {
    let (now, runtime) = (endpoint.now, endpoint.runtime);
    let tenant = &runtime.tenant.id;
    let lifetime = endpoint.lifetimes.access;
    let id_token = if issuance.wants_id_token() {
        let alg =
            SigningAlg::parse(&client.id_token_signed_response_alg).unwrap_or(SigningAlg::Rs256);
        let key = runtime.keys.signing_key(alg).ok_or_else(|| {
            ServiceError::Keys(format!(
                "tenant {tenant} has no {} signing key",
                alg.as_str()
            ))
        })?;
        let profile = user_profile(user);
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
            access_token: Some(&access),
            now,
            lifetime,
        };
        Some(
            mint_id_token(key, &input)
                .map_err(|e| ServiceError::Internal(format!("id token: {e}")))?,
        )
    } else {
        None
    };
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer".into(),
        expires_in: u64::try_from(lifetime.whole_seconds()).unwrap_or(0),
        id_token,
        refresh_token,
        scope: issuance.scope_string(),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A store `Conflict` while storing a token means the grant was revoked meanwhile (a concurrent code reuse).
fn revoked_meanwhile(error: StoreError) -> ServiceError {
    match error {
        StoreError::Conflict => refuse(OidcError::GrantRevoked),
        other => other.into(),
    }
}
