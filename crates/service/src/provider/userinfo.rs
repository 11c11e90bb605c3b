//! The userinfo endpoint's use case (OIDC Core §5.3): the claims about the user an access token was issued for.
//! Where the token came from (header or form) is the HTTP layer's concern.

use tessera_core::TenantId;
use tessera_store::Store;
use time::OffsetDateTime;

use super::user_profile;
use crate::error::{Result, ServiceError};
use crate::handles;

/// The longest bearer token looked up; anything longer is not one of ours.
pub const MAX_TOKEN_LEN: usize = 512;

/// The claims `token` grants, as a JSON object. A token that is unknown, expired, revoked, not granted `openid`, or
/// whose user is gone is [`ServiceError::InvalidBearerToken`].
pub async fn claims(
    store: &dyn Store,
    tenant: &TenantId,
    token: &str,
    now: OffsetDateTime,
) -> Result<serde_json::Value> {
    if token.len() > MAX_TOKEN_LEN || !handles::is_plausible(token) {
        return Err(ServiceError::InvalidBearerToken);
    }
    let record = store
        .get_access_token(tenant, &handles::storage_key(token), now)
        .await?
        .ok_or(ServiceError::InvalidBearerToken)?;
    let issuance: tessera_oidc::token::Issuance = serde_json::from_slice(&record.payload)
        .map_err(|e| ServiceError::Corrupt(format!("access token issuance: {e}")))?;
    // OIDC Core §5.3: the token must have been granted the openid scope.
    if !issuance.wants_id_token() {
        return Err(ServiceError::InvalidBearerToken);
    }
    let user = store
        .get_user(tenant, &record.user_id)
        .await?
        .filter(|user| user.disabled_at.is_none())
        .ok_or(ServiceError::InvalidBearerToken)?;
    Ok(tessera_oidc::id_token::userinfo_claims(
        &user_profile(&user),
        &issuance.scopes,
        issuance.claims_request.as_ref(),
    ))
}
