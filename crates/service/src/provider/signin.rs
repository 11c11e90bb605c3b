//! Sign-in with a passkey: the options (challenge) and the verification that starts a session, as one use case the
//! pages' handlers call. Username-first, discoverable and conditional (autofill) sign-ins, and the re-verification
//! of a signed-in user before a passkey is added or deleted (user verification then required whatever the policy).

use tessera_core::{TenantId, UserId, Username};
use tessera_store::{
    Credential, SignCountBump, SignCountRegression, SignCountUpdate, Store, Tenant, User,
};
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
use time::OffsetDateTime;

use super::ceremony::{self, B64, IdentifiedUser, LOGIN_KIND, LoginCeremony};
use super::session::{AuthenticationFacts, NewSession, new_session};
use crate::error::{Result, ServiceError};

/// Who a sign-in is for.
#[derive(Debug, Clone)]
pub enum SignInFor {
    /// Any discoverable passkey (or conditional mediation): the browser offers what it has.
    Discoverable,
    /// Username-first: that account's passkeys only.
    Username(Username),
    /// A re-verification of the signed-in user (user verification required).
    Reauth(UserId),
}

/// A sign-in to start.
#[derive(Debug, Clone)]
pub struct BeginSignIn<'a> {
    /// The tenant.
    pub tenant: &'a Tenant,
    /// The tenant's authenticator policy.
    pub policy: AuthenticatorPolicy,
    /// Who it is for.
    pub who: SignInFor,
    /// The pending authorization to resume afterwards.
    pub authz: Option<String>,
    /// SHA-256 of the starting browser's CSRF token: only that browser may finish the ceremony.
    pub binding: Vec<u8>,
    /// The key of the decoy passkeys, when the tenant hides whether accounts exist ([`decoy_credentials`]); `None`
    /// answers an unknown username with [`ServiceError::UnknownUsername`].
    pub decoys: Option<[u8; 32]>,
    /// Now.
    pub now: OffsetDateTime,
}

/// The purpose the decoy key is derived for from the master key.
pub const DECOY_KEY_PURPOSE: &str = "tessera/provider/decoy-credential-ids/v1";

/// The passkey a username without one (no account, or an account without passkeys) is answered with when the
/// tenant hides whether accounts exist: one credential id of 32 bytes, HMAC-SHA256 of the tenant and the folded
/// username under `key`. The same name always gets the same id, so asking twice reveals nothing; nobody without the
/// key can tell it from a real one.
pub fn decoy_credentials(
    key: &[u8; 32],
    tenant: &TenantId,
    username: &Username,
) -> Vec<PublicKeyCredentialDescriptor> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let mut message = tenant.as_str().as_bytes().to_vec();
    message.push(0);
    message.extend_from_slice(tessera_store::fold_username(username.as_str()).as_bytes());
    let id = aws_lc_rs::hmac::sign(&key, &message).as_ref().to_vec();
    vec![PublicKeyCredentialDescriptor::new(
        id,
        vec![
            AuthenticatorTransport::Internal,
            AuthenticatorTransport::Hybrid,
        ],
    )]
}

/// What a refused sign-in says when the tenant hides whether accounts exist: the same whatever the cause (an
/// unknown passkey, another account's, a bad signature, a flag the engine refused); the cause goes to the log.
pub const HIDDEN_REFUSAL: ServiceError = ServiceError::PasskeyRule {
    rule: "passkey-not-accepted",
    reason: "this passkey could not be verified for this site",
};

/// A started sign-in: the ceremony id and the options for `navigator.credentials.get`.
#[derive(Debug)]
pub struct SignInOptions {
    /// The ceremony id the browser sends back.
    pub ceremony: String,
    /// The request options, in the WebAuthn JSON serialization.
    pub options: PublicKeyCredentialRequestOptionsJSON,
}

/// The tenant's policy, with user verification required for a re-verification (it must prove a fresh UV).
fn effective_policy(mut policy: AuthenticatorPolicy, reauth: bool) -> AuthenticatorPolicy {
    if reauth {
        policy.user_verification = UserVerificationRequirement::Required;
    }
    policy
}

/// The descriptors of `credentials`, for `allowCredentials` or `excludeCredentials`.
pub fn descriptors(credentials: &[Credential]) -> Vec<PublicKeyCredentialDescriptor> {
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

/// Starts a sign-in: finds the account (if named), makes a challenge and stores the ceremony.
pub async fn begin_sign_in(store: &dyn Store, begin: BeginSignIn<'_>) -> Result<SignInOptions> {
    let id = &begin.tenant.id;
    let reauth = matches!(begin.who, SignInFor::Reauth(_));
    let policy = effective_policy(begin.policy, reauth);
    let user: Option<User> = match &begin.who {
        SignInFor::Discoverable => None,
        SignInFor::Reauth(user) => Some(
            store
                .get_user(id, user)
                .await?
                .ok_or(ServiceError::SignInRequired)?,
        ),
        SignInFor::Username(username) => {
            match store.find_user_by_username(id, username.as_str()).await? {
                // A disabled account offers no passkey: it is answered as one without passkeys.
                Some(user) if user.disabled_at.is_some() && begin.decoys.is_some() => None,
                Some(user) => Some(user),
                None if begin.decoys.is_some() => None,
                None => return Err(ServiceError::UnknownUsername),
            }
        }
    };
    let mut allow = match &user {
        Some(user) => descriptors(&store.list_credentials(id, &user.id).await?),
        None => Vec::new(),
    };
    if allow.is_empty()
        && let SignInFor::Username(username) = &begin.who
    {
        // No account, or one without passkeys: a decoy, or the plain answer when the tenant allows it.
        match &begin.decoys {
            Some(key) => allow = decoy_credentials(key, id, username),
            None if user.is_some() => return Err(ServiceError::NoPasskey),
            None => return Err(ServiceError::UnknownUsername),
        }
    } else if allow.is_empty() && user.is_some() {
        return Err(ServiceError::NoPasskey);
    }
    let challenge = generate_challenge().map_err(|_| ServiceError::Random)?;
    let mut builder = PublicKeyCredentialRequestOptionsJSON::builder(
        begin.tenant.rp_id.clone(),
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
        authz: begin.authz,
        binding: B64(begin.binding),
        reauth,
    };
    let ceremony = ceremony::put(store, id, LOGIN_KIND, &stored, begin.now).await?;
    Ok(SignInOptions { ceremony, options })
}

/// A sign-in to finish.
#[derive(Debug)]
pub struct FinishSignIn<'a> {
    /// The tenant.
    pub tenant: &'a Tenant,
    /// The tenant's authenticator policy.
    pub policy: AuthenticatorPolicy,
    /// The ceremony id from [`begin_sign_in`].
    pub ceremony: &'a str,
    /// SHA-256 of the finishing browser's CSRF token.
    pub binding: &'a [u8],
    /// The credential's `toJSON()`.
    pub credential: serde_json::Value,
    /// The storage key of the browser's previous session with the tenant, which the new one replaces.
    pub replaces: Option<Vec<u8>>,
    /// How long the new session lasts.
    pub session_ttl: time::Duration,
    /// Whether the tenant hides whether accounts exist: every refusal of the passkey is then [`HIDDEN_REFUSAL`].
    pub hide_accounts: bool,
    /// Now.
    pub now: OffsetDateTime,
}

/// A finished sign-in: the stored session and where the browser goes next.
#[derive(Debug)]
pub struct SignedIn {
    /// The new session, stored; its token goes to the browser once.
    pub session: NewSession,
    /// The pending authorization to resume, if the sign-in was for one.
    pub authz: Option<String>,
    /// Whether it was the re-verification of a signed-in user (the page carries on with its CSRF token).
    pub reauth: bool,
}

/// Finishes a sign-in: consumes the ceremony, verifies the assertion (WebAuthn L3 §7.2), and stores the new sign
/// count with the new session in one transaction. A counter that did not move forward is the clone signal, handled
/// per the tenant's policy: refused, the sign-in changes nothing and gets no session.
pub async fn finish_sign_in(store: &dyn Store, finish: FinishSignIn<'_>) -> Result<SignedIn> {
    let id: &TenantId = &finish.tenant.id;
    let stored: LoginCeremony =
        ceremony::take(store, id, LOGIN_KIND, finish.ceremony, finish.now).await?;
    ceremony::check_binding(&stored.binding, finish.binding)?;
    let hide = finish.hide_accounts;
    match verify_and_record(store, finish, stored).await {
        Err(error) if hide && reveals_the_account(&error) => {
            tracing::info!(tenant = %id, %error, "passkey refused (answered without the reason)");
            Err(HIDDEN_REFUSAL)
        }
        other => other,
    }
}

/// Whether a refusal could tell an unknown passkey from a known one: every refusal of the response itself (before
/// its signature is known good). A counter that went back is said as such: only a holder of the key can get there.
fn reveals_the_account(error: &ServiceError) -> bool {
    match error {
        ServiceError::PasskeyRefused(e) => e.rule() != "sign-count-regressed",
        ServiceError::PasskeyRule { rule, .. } => *rule != "sign-count-regressed",
        _ => false,
    }
}

async fn verify_and_record(
    store: &dyn Store,
    finish: FinishSignIn<'_>,
    stored: LoginCeremony,
) -> Result<SignedIn> {
    let id: &TenantId = &finish.tenant.id;
    let policy = effective_policy(finish.policy, stored.reauth);

    let response: AuthenticationResponseJSON = serde_json::from_value(finish.credential)
        .map_err(|e| WebauthnError::ResponseJsonInvalid(e.to_string()))?;
    let credential = store
        .get_credential(id, response.raw_id.as_slice())
        .await?
        .ok_or(ServiceError::PasskeyRule {
            rule: "credential-unknown",
            reason: "it is not registered with this site",
        })?;
    if let Some(expected) = &stored.user
        && credential.user_id.as_str() != expected.id
    {
        return Err(ServiceError::PasskeyRule {
            rule: "credential-not-allowed",
            reason: "it belongs to another account",
        });
    }
    let user = store
        .get_user(id, &credential.user_id)
        .await?
        .ok_or_else(|| ServiceError::Corrupt("credential without its user".into()))?;

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
    let origins = OriginPolicy::new(finish.tenant.origins.clone());
    let rp_ids = [finish.tenant.rp_id.clone()];
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
    let verified = verify_authentication(&response, &expectation, &record)?;
    // Said only to the holder of the key (after the signature is known good): the account is disabled.
    if user.disabled_at.is_some() {
        return Err(ServiceError::UserDisabled);
    }

    // WebAuthn L3 §7.2 "Update storedSignCount ...": one conditional update, in the same transaction as the new
    // session.
    let authentication = AuthenticationFacts {
        user_verified: verified.user_verified,
        backup_eligible: verified.backup_eligible,
        attestation_trusted: credential.attestation_trusted,
    };
    let session = new_session(
        id,
        &user.id,
        authentication,
        Some(&credential.credential_id),
        finish.now,
        finish.session_ttl,
    )?;
    let on_regression = if policy.sign_count == SignCountPolicy::RejectClone {
        SignCountRegression::Refuse
    } else {
        SignCountRegression::Accept
    };
    let bump = SignCountBump {
        credential_id: credential.credential_id.clone(),
        expected_old: credential.sign_count,
        new: verified.sign_count,
        backup_state: verified.backup_state,
        used_at: session.record.auth_time,
    };
    let update = store
        .record_sign_in(
            &bump,
            on_regression,
            finish.replaces.as_deref(),
            &session.record,
        )
        .await?;
    if update == SignCountUpdate::Regressed {
        if on_regression == SignCountRegression::Refuse {
            return Err(ServiceError::PasskeyRule {
                rule: "sign-count-regressed",
                reason: "its signature counter did not move forward, which can mean a cloned authenticator",
            });
        }
        tracing::warn!(tenant = %id, user = %user.id, "sign counter did not move forward; accepted by policy");
    }
    let client = ceremony::client_for_log(store, id, stored.authz.as_deref(), finish.now).await;
    tracing::info!(
        tenant = %id,
        client,
        user = %user.id,
        user_verified = verified.user_verified,
        reauth = stored.reauth,
        "signed in"
    );
    Ok(SignedIn {
        session,
        authz: stored.authz,
        reauth: stored.reauth,
    })
}
