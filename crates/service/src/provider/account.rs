//! What a signed-in user does with their passkeys on the account page: list, rename, add and delete.
//!
//! Adding and deleting a passkey are sensitive: both need a user verification within the tenant's window
//! ([`Sensitive::window`]), checked when the ceremony starts **and again when the action is committed**, so a
//! ceremony started just inside the window cannot be finished long after it. Deleting a passkey ends the sessions
//! signed in with it and revokes the grants (refresh and access tokens) obtained through those sessions, in the
//! store's transaction that deletes it: a user who removes a stolen passkey is safe at once. The last passkey
//! cannot be deleted (the store refuses it atomically), since the user would have no way back in.

use tessera_core::{TenantId, UserId};
use tessera_store::{Credential, Session, Store, StoreError, Tenant, User};
use tessera_webauthn::json::UserEntity;
use tessera_webauthn::{AuthenticatorPolicy, Base64UrlBytes};
use time::OffsetDateTime;

use super::ceremony::{self, B64, REGISTER_KIND, RegisterCeremony, RegistrationPurpose};
use super::session::has_verification_within;
use super::signup::{NewCredential, RegistrationOptions, creation_options, verify_new_credential};
use crate::error::{Result, ServiceError};

/// A sensitive action's freshness rule: the session's user verification must be at most `window` old at `now`.
#[derive(Debug, Clone, Copy)]
pub struct Sensitive {
    /// How recent the verification must be (`security.fresh_verification_seconds`).
    pub window: time::Duration,
    /// Now.
    pub now: OffsetDateTime,
}

impl Sensitive {
    /// [`ServiceError::ReauthRequired`] unless `session` proves a recent enough verification.
    pub fn check(&self, session: &Session) -> Result<()> {
        if has_verification_within(session, self.now, self.window) {
            Ok(())
        } else {
            Err(ServiceError::ReauthRequired)
        }
    }
}

/// The signed-in user and their passkeys, oldest first. A session whose user is gone is
/// [`ServiceError::SignInRequired`].
pub async fn passkeys(
    store: &dyn Store,
    tenant: &TenantId,
    session: &Session,
) -> Result<(User, Vec<Credential>)> {
    let user = signed_in_user(store, tenant, &session.user_id).await?;
    let credentials = store.list_credentials(tenant, &user.id).await?;
    Ok((user, credentials))
}

async fn signed_in_user(store: &dyn Store, tenant: &TenantId, user: &UserId) -> Result<User> {
    store
        .get_user(tenant, user)
        .await?
        .ok_or(ServiceError::SignInRequired)
}

/// Renames one of the session user's passkeys to `name` (already checked); [`ServiceError::PasskeyNotFound`]
/// unless the user owns it.
pub async fn rename_passkey(
    store: &dyn Store,
    tenant: &TenantId,
    session: &Session,
    credential: &[u8],
    name: &str,
) -> Result<()> {
    match store
        .rename_credential(tenant, &session.user_id, credential, name, None)
        .await
    {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound) => Err(ServiceError::PasskeyNotFound),
        Err(other) => Err(other.into()),
    }
}

/// Deletes one of the session user's passkeys, with the sessions signed in with it and the grants obtained through
/// them. [`ServiceError::ReauthRequired`] without a fresh verification, [`ServiceError::LastPasskey`] for the only
/// one, [`ServiceError::PasskeyNotFound`] unless the user owns it.
pub async fn delete_passkey(
    store: &dyn Store,
    tenant: &TenantId,
    session: &Session,
    credential: &[u8],
    sensitive: Sensitive,
) -> Result<()> {
    sensitive.check(session)?;
    match store
        .delete_credential(tenant, &session.user_id, credential, sensitive.now, None)
        .await
    {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict) => Err(ServiceError::LastPasskey),
        Err(StoreError::NotFound) => Err(ServiceError::PasskeyNotFound),
        Err(other) => Err(other.into()),
    }
}

/// Starts adding a passkey for the session's user: creation options excluding their passkeys, and the ceremony
/// (bound to the browser by `binding`).
pub async fn begin_add_passkey(
    store: &dyn Store,
    tenant: &Tenant,
    policy: &AuthenticatorPolicy,
    session: &Session,
    binding: Vec<u8>,
    sensitive: Sensitive,
) -> Result<RegistrationOptions> {
    sensitive.check(session)?;
    let user = signed_in_user(store, &tenant.id, &session.user_id).await?;
    let existing = store.list_credentials(&tenant.id, &user.id).await?;
    let challenge = tessera_webauthn::generate_challenge()
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let entity = UserEntity {
        id: Base64UrlBytes(user.user_handle.clone()),
        name: user.username.clone(),
        display_name: user.display_name.clone(),
    };
    let options = creation_options(tenant, policy, entity, &challenge, &existing);
    let stored = RegisterCeremony {
        challenge: B64(challenge.to_vec()),
        user_id: user.id.to_string(),
        user_handle: B64(user.user_handle),
        algorithms: options.offered_algorithms(),
        purpose: RegistrationPurpose::AddPasskey,
        authz: None,
        binding: B64(binding),
    };
    let ceremony = ceremony::put(store, &tenant.id, REGISTER_KIND, &stored, sensitive.now).await?;
    Ok(RegistrationOptions { ceremony, options })
}

/// A passkey to add: the ceremony id and the browser's answer.
pub struct AddPasskey<'a> {
    /// The ceremony id from [`begin_add_passkey`].
    pub ceremony: &'a str,
    /// The SHA-256 of the finishing browser's CSRF token.
    pub binding: &'a [u8],
    /// The credential's `toJSON()`.
    pub credential: serde_json::Value,
    /// The user's name for it, already checked.
    pub nickname: Option<String>,
    /// The service's attestation trust at `now`.
    pub trust: tessera_webauthn::attestation::AttestationTrust<'a>,
}

/// Verifies and stores the new passkey. The freshness of the session's verification is checked again here, at
/// commit; a passkey registered already (in this tenant, or in another tenant sharing the RP ID) is
/// [`ServiceError::PasskeyAlreadyRegistered`].
pub async fn finish_add_passkey(
    store: &dyn Store,
    tenant: &Tenant,
    policy: &AuthenticatorPolicy,
    session: &Session,
    add: AddPasskey<'_>,
    sensitive: Sensitive,
) -> Result<Credential> {
    let stored: RegisterCeremony = ceremony::take(
        store,
        &tenant.id,
        REGISTER_KIND,
        add.ceremony,
        sensitive.now,
    )
    .await?;
    ceremony::check_binding(&stored.binding, add.binding)?;
    if stored.purpose != RegistrationPurpose::AddPasskey
        || stored.user_id != session.user_id.as_str()
    {
        return Err(ServiceError::CeremonyExpired);
    }
    // Checked again at commit: a ceremony started inside the window cannot be finished after it.
    sensitive.check(session)?;
    let (_, credential) = verify_new_credential(
        store,
        NewCredential {
            tenant,
            policy,
            stored: &stored,
            credential: add.credential,
            nickname: add.nickname,
            trust: add.trust,
            now: sensitive.now,
        },
    )
    .await?;
    match store.add_credential(&credential).await {
        Ok(()) => Ok(credential),
        Err(StoreError::Conflict) => Err(ServiceError::PasskeyAlreadyRegistered),
        Err(other) => Err(other.into()),
    }
}
