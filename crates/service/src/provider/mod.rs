//! The authenticator service's use cases (the FIDO2 server that is an OpenID provider).
//!
//! - [`signin`]: passkey sign-in (options, then verification that starts a session).
//! - [`signup`]: passkey sign-up (the user is written with its verified first passkey), and the registration steps
//!   shared with adding a passkey.
//! - [`account`]: what a signed-in user does with their passkeys (list, rename, add, delete).
//! - [`ceremony`]: one-time WebAuthn ceremonies between options and verification (5 minutes, consumed on verify,
//!   bound to the browser that started them).
//! - [`session`]: new browser sessions as records, what they prove (`amr`/`acr` facts), verification freshness.
//! - [`authorize`]: the authorization endpoint's decisions and the pending authorization request the pages resume
//!   after sign-in.
//! - [`token`]: the token endpoint (code and refresh grants, client authentication by the registered method).
//! - [`revoke`]: token revocation (RFC 7009): a revoked token revokes its grant.
//! - [`userinfo`]: the claims an access token grants.
//! - [`logout`]: RP-initiated logout's decision.
//! - [`runtime`]: a tenant's runtime entry (record, decrypted keys, discovery and JWKS documents), loaded once and
//!   cached by the HTTP layer.

pub mod account;
pub mod authorize;
pub mod ceremony;
pub mod logout;
pub mod revoke;
pub mod runtime;
pub mod session;
pub mod signin;
pub mod signup;
pub mod token;
pub mod userinfo;

use crate::error::{Result, ServiceError};

/// The `tessera_oidc` view of a stored client.
pub fn client_config(client: &tessera_store::Client) -> Result<tessera_oidc::client::ClientConfig> {
    use tessera_oidc::client::{ClientAuthConfig, ClientConfig, SecretHash};
    let corrupt =
        |what: &str| ServiceError::Corrupt(format!("client {}: {what}", client.client_id));
    let auth = match client.token_endpoint_auth_method.as_str() {
        "none" => ClientAuthConfig::None,
        "private_key_jwt" => {
            let jwks = client
                .jwks
                .clone()
                .ok_or_else(|| corrupt("private_key_jwt without jwks"))?;
            ClientAuthConfig::PrivateKeyJwt {
                jwks: serde_json::from_value(jwks).map_err(|_| corrupt("bad jwks"))?,
            }
        }
        _ => {
            let hash = client
                .secret_hash
                .as_deref()
                .ok_or_else(|| corrupt("no secret hash"))?;
            let bytes: [u8; 32] = hash.try_into().map_err(|_| corrupt("secret hash length"))?;
            ClientAuthConfig::ClientSecret {
                secret_hash: SecretHash::from_bytes(bytes),
            }
        }
    };
    let id_token_alg = tessera_oidc::keys::SigningAlg::parse(&client.id_token_signed_response_alg)
        .ok_or_else(|| corrupt("id token algorithm"))?;
    Ok(ClientConfig {
        client_id: client.client_id.clone(),
        redirect_uris: client.redirect_uris.clone(),
        post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
        auth,
        allowed_scopes: client.allowed_scopes.clone(),
        id_token_alg,
    })
}

/// The `tessera_oidc` view of a stored user.
pub fn user_profile(user: &tessera_store::User) -> tessera_oidc::id_token::UserProfile {
    tessera_oidc::id_token::UserProfile {
        sub: user.id.clone(),
        username: user.username.clone(),
        name: Some(user.display_name.clone()).filter(|n| !n.is_empty()),
        email: user.email.clone(),
        email_verified: user.email_verified,
        updated_at: None,
    }
}
