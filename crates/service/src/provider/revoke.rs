//! Token revocation (RFC 7009): a client ends the tokens it holds, for example at sign-out.
//!
//! The client authenticates as at the token endpoint, with its registered method. A refresh token or an access token
//! of that client revokes its grant: the whole rotation family and every access token issued from it (RFC 7009 §2.1,
//! RFC 9700 §4.14.2). A token that is unknown, expired, already revoked or another client's is answered the same as
//! a revoked one (RFC 7009 §2.2: "invalid tokens do not cause an error response"), so the endpoint tells nobody
//! whether a value was ever a token.

use tessera_oidc::token::parse_revocation_request;

use super::token::{TokenEndpoint, TokenRequest, authenticate};
use crate::error::{Result, ServiceError};
use crate::handles;

/// What a revocation did, for the log (the client hears 200 either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The token's grant was revoked.
    Revoked,
    /// No token of this client had this value (unknown, expired, revoked or another client's).
    NothingToRevoke,
}

/// Answers a revocation request: authenticates the client, then revokes the grant of the token if it is the
/// client's.
pub async fn revoke(endpoint: &TokenEndpoint<'_>, request: TokenRequest<'_>) -> Result<Revocation> {
    let parsed = parse_revocation_request(request.form, request.authorization)
        .map_err(ServiceError::OAuth)?;
    let (client, _) = authenticate(endpoint, &parsed.credentials).await?;
    let token = parsed.token.expose();
    let (store, now) = (endpoint.store, endpoint.now);
    let tenant = &endpoint.runtime.tenant.id;
    if token.len() > super::userinfo::MAX_TOKEN_LEN || !handles::is_plausible(token) {
        return Ok(Revocation::NothingToRevoke);
    }
    let key = handles::storage_key(token);
    let grant = match store.get_refresh_token(tenant, &key, now).await? {
        Some(refresh) => Some((refresh.client_id, refresh.grant_id)),
        None => store
            .get_access_token(tenant, &key, now)
            .await?
            .map(|access| (access.client_id, access.grant_id)),
    };
    match grant {
        Some((owner, grant_id)) if owner == client.client_id => {
            store.revoke_grant(tenant, &grant_id, now).await?;
            tracing::info!(tenant = %tenant, client = %client.client_id, "token revoked with its grant");
            Ok(Revocation::Revoked)
        }
        Some(_) => {
            tracing::warn!(tenant = %tenant, client = %client.client_id, "revocation of another client's token ignored");
            Ok(Revocation::NothingToRevoke)
        }
        None => Ok(Revocation::NothingToRevoke),
    }
}
