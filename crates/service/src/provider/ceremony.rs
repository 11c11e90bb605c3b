//! One-time WebAuthn ceremonies kept in the store between the options call and the verify call.
//!
//! Each ceremony lives [`CEREMONY_TTL`] under a random id, is consumed atomically on verify (`take_ceremony`: a
//! replayed or expired challenge finds nothing), and is bound to the browser that started it (SHA-256 of its CSRF
//! token, computed by the HTTP layer), so a ceremony id leaked to another browser is useless there.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tessera_core::{CeremonyId, TenantId};

use tessera_store::Store;
use time::OffsetDateTime;

use crate::error::{Result, ServiceError};

/// How long a challenge may be answered.
pub const CEREMONY_TTL: time::Duration = time::Duration::minutes(5);

/// The store kind of a sign-in ceremony.
pub const LOGIN_KIND: &str = "webauthn.login";
/// The store kind of a registration ceremony (sign-up or added passkey).
pub const REGISTER_KIND: &str = "webauthn.register";

/// Bytes carried as base64url text in the stored JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct B64(pub Vec<u8>);

impl TryFrom<String> for B64 {
    type Error = base64::DecodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        URL_SAFE_NO_PAD.decode(value).map(B64)
    }
}

impl From<B64> for String {
    fn from(value: B64) -> String {
        URL_SAFE_NO_PAD.encode(value.0)
    }
}

/// A sign-in in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginCeremony {
    /// The challenge sent.
    pub challenge: B64,
    /// Username-first (or re-verification): the identified user's id and handle.
    pub user: Option<IdentifiedUser>,
    /// The `allowCredentials` sent.
    pub allow: Vec<B64>,
    /// The pending authorization to resume afterwards.
    pub authz: Option<String>,
    /// SHA-256 of the starting browser's CSRF token.
    pub binding: B64,
    /// A re-verification of the signed-in user (user verification required).
    #[serde(default)]
    pub reauth: bool,
}

/// The account a username-first sign-in is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentifiedUser {
    /// The user id.
    pub id: String,
    /// The user's WebAuthn user handle.
    pub handle: B64,
}

/// Whether a registration creates an account or adds a passkey to one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RegistrationPurpose {
    /// Sign-up: the user row is written together with the verified credential.
    SignUp {
        /// The new user's username.
        username: String,
        /// The new user's display name.
        display_name: String,
        /// The new user's email, if given.
        email: Option<String>,
    },
    /// An additional passkey for the signed-in user.
    AddPasskey,
}

/// A registration in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterCeremony {
    /// The challenge sent.
    pub challenge: B64,
    /// The user id (new for a sign-up, the signed-in user's when adding).
    pub user_id: String,
    /// The WebAuthn user handle sent as `user.id`.
    pub user_handle: B64,
    /// The COSE algorithms offered.
    pub algorithms: Vec<i64>,
    /// Sign-up or added passkey.
    pub purpose: RegistrationPurpose,
    /// The pending authorization to resume afterwards.
    pub authz: Option<String>,
    /// SHA-256 of the starting browser's CSRF token.
    pub binding: B64,
}

/// Random bytes from the system generator.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| ServiceError::Random)?;
    Ok(bytes)
}

/// `N` random bytes as base64url text (ids), never beginning with `-` ([`crate::handles::random_token`]).
pub fn random_id<const N: usize>() -> Result<String> {
    crate::handles::random_token(N)
}

/// The client a sign-in or sign-up is for (its pending authorization's), for the log line; read only when that line
/// is logged, and `-` when the ceremony resumes no authorization (the account page) or it is gone.
pub async fn client_for_log(
    store: &dyn Store,
    tenant: &TenantId,
    authz: Option<&str>,
    now: OffsetDateTime,
) -> String {
    match authz {
        Some(authz) if tracing::enabled!(tracing::Level::INFO) => {
            crate::provider::authorize::pending_authorization(store, tenant, authz, now)
                .await
                .ok()
                .flatten()
                .map_or_else(|| "-".to_owned(), |p| p.request.client_id.to_string())
        }
        _ => "-".to_owned(),
    }
}

/// Stores a ceremony for [`CEREMONY_TTL`] from `now`; returns its id.
pub async fn put<T: Serialize>(
    store: &dyn Store,
    tenant: &TenantId,
    kind: &str,
    value: &T,
    now: OffsetDateTime,
) -> Result<String> {
    let id = random_id::<24>()?;
    let payload =
        serde_json::to_vec(value).map_err(|e| ServiceError::Internal(format!("ceremony: {e}")))?;
    store
        .put_ceremony(tenant, &id, kind, payload, now + CEREMONY_TTL, now)
        .await?;
    Ok(id)
}

/// Consumes a ceremony: unknown, used, expired or of another kind is [`ServiceError::CeremonyExpired`], and so is an
/// id no ceremony can have ([`CeremonyId::parse`]: a NUL byte, invalid text, a path), which never reaches the store.
/// The caller then checks the browser binding with [`check_binding`].
pub async fn take<T: DeserializeOwned>(
    store: &dyn Store,
    tenant: &TenantId,
    kind: &str,
    id: &str,
    now: OffsetDateTime,
) -> Result<T> {
    let Ok(id) = CeremonyId::parse(id) else {
        return Err(ServiceError::CeremonyExpired);
    };
    let payload = store
        .take_ceremony(tenant, id.as_str(), kind, now)
        .await?
        .ok_or(ServiceError::CeremonyExpired)?;
    serde_json::from_slice(&payload)
        .map_err(|e| ServiceError::Corrupt(format!("ceremony payload: {e}")))
}

/// Checks, in constant time, that the ceremony was started by the browser whose binding (SHA-256 of its CSRF token)
/// is `browser`.
pub fn check_binding(binding: &B64, browser: &[u8]) -> Result<()> {
    aws_lc_rs::constant_time::verify_slices_are_equal(&binding.0, browser)
        .map_err(|_| ServiceError::CeremonyFromOtherBrowser)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceremony_payload_round_trips_through_json() {
        let ceremony = LoginCeremony {
            challenge: B64(vec![1, 2, 3]),
            user: None,
            allow: vec![B64(vec![9; 16])],
            authz: Some("abc".into()),
            binding: B64(vec![0; 32]),
            reauth: false,
        };
        let json = serde_json::to_vec(&ceremony).unwrap_or_default();
        let back: LoginCeremony = serde_json::from_slice(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, ceremony);
    }
}

#[cfg(test)]
mod binding_tests {
    use super::*;

    #[test]
    fn ceremony_finished_in_another_browser_is_refused() {
        let binding = B64(vec![7; 32]);
        assert!(check_binding(&binding, &[7; 32]).is_ok());
        assert!(matches!(
            check_binding(&binding, &[8; 32]),
            Err(ServiceError::CeremonyFromOtherBrowser)
        ));
        assert!(check_binding(&binding, &[]).is_err());
    }
}
