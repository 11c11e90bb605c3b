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
    AccessToken, Client, CodeRedemption, RefreshRotation, RefreshToken, Store, StoreError,
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
    let redemption = store
        .consume_auth_code(tenant, &handles::storage_key(code), now)
        .await?;
    let record = match redemption {
        CodeRedemption::Redeemed(record) => record,
        CodeRedemption::AlreadyRedeemed { grant_id } => {
            // RFC 6749 §4.1.2: a code used twice revokes the tokens issued from it.
            tracing::warn!(tenant = %tenant, "authorization code reused; revoking its grant");
            store.revoke_grant(tenant, &grant_id, now).await?;
            return Err(refuse(OidcError::AuthorizationCodeReused));
        }
        _ => return Err(refuse(OidcError::AuthorizationCodeUnknown)),
    };
    let grant: AuthorizationGrant = serde_json::from_slice(&record.payload)
        .map_err(|e| ServiceError::Corrupt(format!("authorization grant: {e}")))?;
    let issuance = match redeem_code(&grant, authenticated, redirect_uri, code_verifier, now) {
        Ok(issuance) => issuance,
        Err(e) => {
            // The code is spent either way; nothing was issued from it, but make sure nothing will be.
            store.revoke_grant(tenant, &record.grant_id, now).await?;
            return Err(refuse(e));
        }
    };
    let refresh = if issuance.wants_refresh_token() {
        Some(start_refresh_family(endpoint, client, &record.grant_id, &issuance).await?)
    } else {
        None
    };
    mint(endpoint, client, &record.grant_id, &issuance, refresh).await
}

/// Stores the first refresh token of a family, its record carrying the family's [`RefreshGrant`]; returns the token.
async fn start_refresh_family(
    endpoint: &TokenEndpoint<'_>,
    client: &Client,
    grant_id: &str,
    issuance: &Issuance,
) -> Result<String> {
    let now = endpoint.now;
    let family = RefreshGrant::new(issuance, now, endpoint.lifetimes.refresh);
    let payload = serde_json::to_vec(&family)
        .map_err(|e| ServiceError::Internal(format!("refresh grant: {e}")))?;
    let value = handles::issue(now)?;
    endpoint
        .store
        .put_refresh_token(&RefreshToken {
            token_hash: value.key,
            tenant: endpoint.runtime.tenant.id.clone(),
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
        Some(value.value),
    )
    .await
}

/// Mints the access token (stored hashed) and the ID token.
async fn mint(
    endpoint: &TokenEndpoint<'_>,
    client: &Client,
    grant_id: &str,
    issuance: &Issuance,
    refresh_token: Option<String>,
) -> Result<TokenResponse> {
    let (store, now, runtime) = (endpoint.store, endpoint.now, endpoint.runtime);
    let tenant = &runtime.tenant.id;
    let Some(user) = store
        .get_user(tenant, &issuance.user)
        .await?
        .filter(|user| user.disabled_at.is_none())
    else {
        // The user was deleted or disabled after the code was issued.
        store.revoke_grant(tenant, grant_id, now).await?;
        return Err(refuse(OidcError::GrantRevoked));
    };
    let lifetime = endpoint.lifetimes.access;
    let access = handles::issue(now)?;
    store
        .put_access_token(&AccessToken {
            token_hash: access.key.clone(),
            tenant: tenant.clone(),
            client_id: client.client_id.clone(),
            grant_id: grant_id.to_owned(),
            user_id: issuance.user.clone(),
            scope: issuance.scope_string(),
            payload: serde_json::to_vec(issuance)
                .map_err(|e| ServiceError::Internal(format!("issuance: {e}")))?,
            expires_at: now + lifetime,
        })
        .await
        .map_err(revoked_meanwhile)?;
    let id_token = if issuance.wants_id_token() {
        let alg =
            SigningAlg::parse(&client.id_token_signed_response_alg).unwrap_or(SigningAlg::Rs256);
        let key = runtime.keys.signing_key(alg).ok_or_else(|| {
            ServiceError::Keys(format!(
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
        Some(
            mint_id_token(key, &input)
                .map_err(|e| ServiceError::Internal(format!("id token: {e}")))?,
        )
    } else {
        None
    };
    Ok(TokenResponse {
        access_token: access.value,
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
