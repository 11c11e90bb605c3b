//! The portal's administrators and how one becomes one.
//!
//! Administrators are users of the built-in admin tenant [`ADMIN_TENANT`] of the authenticator service (passkeys
//! only), made administrators by a row in the store ([`AdminMember`]) with a [`Role`]. The portal signs them in as
//! an OpenID Connect client ([`PORTAL_CLIENT`], public, PKCE) of that tenant. The first administrator comes from the
//! one-time bootstrap link (`tsb_...`, [`super::api_tokens::bootstrap_if_fresh`]); every change of membership is
//! written with its audit event in one transaction.
//!
//! Portal sessions are stored like the provider's browser sessions (only the hash of the cookie value), under the
//! session namespace [`PORTAL_SESSIONS`], which is no tenant: a provider session of the admin tenant is not a
//! portal session, nor the other way round.

use std::sync::Arc;

use tessera_core::{ClientId, TenantId};
use tessera_oidc::keys::{MasterKey, SigningAlg};
use tessera_store::{
    AdminInvitation, AdminMember, AdminStore, Client, InvitationCursor, Session, Store,
};
use time::{Duration, OffsetDateTime};

use super::api_tokens::{RequestContext, Role, audit_event};
use crate::handles::{self, random_token, sha256};
use crate::tenants::{self, NewTenant, TenantUpdate};
use crate::{Result, ServiceError};

/// The admin tenant's id. Not `admin`: `/admin/...` is the portal's own path, and a tenant's pages live at
/// `/{tenant}/...`.
pub const ADMIN_TENANT: &str = "tessera-admin";
/// The portal's client id at the admin tenant.
pub const PORTAL_CLIENT: &str = "tessera-portal";
/// The portal's redirect URI path (its callback).
pub const CALLBACK_PATH: &str = "/admin/callback";
/// The session namespace of portal sessions (not a tenant).
pub const PORTAL_SESSIONS: &str = "tessera-admin-portal";
/// A portal session ends after this long without use.
pub const SESSION_IDLE: Duration = Duration::minutes(30);
/// A portal session ends this long after sign-in, used or not.
pub const SESSION_LIFETIME: Duration = Duration::hours(8);
/// A session's last use is written at most this often.
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// A signed-in administrator: who, and what they may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// The admin tenant's user id.
    pub user_id: String,
    /// The username, for people.
    pub username: String,
    /// The role.
    pub role: Role,
    /// Its tenants (tenant admins and limited read-only admins); empty means all.
    pub tenants: Vec<String>,
}

impl Admin {
    /// The audit actor, `admin:{username}`.
    pub fn actor(&self) -> String {
        format!("admin:{}", self.username)
    }

    /// Whether the administrator may change anything.
    pub fn can_write(&self) -> bool {
        self.role != Role::ReadOnly
    }

    /// Whether the role is global admin (administrators, authenticator tenants, tokens).
    pub fn is_global(&self) -> bool {
        self.role == Role::GlobalAdmin
    }

    /// Whether `tenant` of `side` exists for this administrator (another tenant of a tenant admin answers 404, not
    /// 403); a scope may name one role's tenant only ([`super::scope`]). `side: None` asks about the id under either
    /// role (the audit trail's filter).
    pub fn sees_tenant(&self, side: Option<super::scope::Side>, tenant: &str) -> bool {
        match self.role {
            Role::GlobalAdmin => true,
            Role::ReadOnly if self.tenants.is_empty() => true,
            Role::TenantAdmin | Role::ReadOnly => super::scope::covers(&self.tenants, side, tenant),
        }
    }

    /// The tenant ids this administrator is limited to (`None`: all), for filtered lists such as the audit trail
    /// (a role-qualified scope gives its tenant id; [`super::audit::event_in_scope`] then keeps its role's events).
    pub fn tenant_filter(&self) -> Option<Vec<String>> {
        match self.role {
            Role::GlobalAdmin => None,
            Role::ReadOnly if self.tenants.is_empty() => None,
            _ => Some(super::audit::scope_tenant_ids(&self.tenants)),
        }
    }

    fn from_member(member: AdminMember) -> Result<Self> {
        let role = Role::parse(&member.role)
            .ok_or_else(|| ServiceError::Corrupt(format!("admin role {}", member.role)))?;
        Ok(Self {
            user_id: member.user_id,
            username: member.username,
            role,
            tenants: member.tenants,
        })
    }
}

fn member_view(member: &AdminMember) -> serde_json::Value {
    serde_json::json!({
        "user_id": member.user_id,
        "username": member.username,
        "role": member.role,
        "tenants": member.tenants,
    })
}

/// The admin tenant's id.
pub fn admin_tenant() -> Result<TenantId> {
    TenantId::parse(ADMIN_TENANT)
        .map_err(|e| ServiceError::Internal(format!("admin tenant id: {e}")))
}

/// The session namespace of portal sessions.
pub fn portal_sessions() -> Result<TenantId> {
    TenantId::parse(PORTAL_SESSIONS)
        .map_err(|e| ServiceError::Internal(format!("portal session namespace: {e}")))
}

/// Makes sure the admin tenant exists (RP ID = the service's host, origin = the service's origin) with the
/// portal's client (redirect URI `{service_url}/admin/callback`); a new address (port) updates both.
pub async fn ensure_admin_tenant(
    store: &dyn Store,
    master: &MasterKey,
    service_url: &str,
    now: OffsetDateTime,
) -> Result<()> {
    let url = url::Url::parse(service_url)
        .map_err(|e| ServiceError::InvalidInput(format!("service URL: {e}")))?;
    let host = url
        .host_str()
        .ok_or_else(|| ServiceError::InvalidInput("service URL: no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let origin = url.origin().ascii_serialization();
    let id = admin_tenant()?;
    match store.get_tenant(&id).await? {
        None => {
            let new = NewTenant::parse(
                id.clone(),
                &host,
                std::slice::from_ref(&origin),
                Some("Tessera administrators".into()),
            )?;
            match tenants::create_tenant(store, master, new, now).await {
                Ok(_) | Err(ServiceError::TenantExists) => {}
                Err(other) => return Err(other),
            }
        }
        Some(tenant) if tenant.origins != [origin.clone()] && tenant.rp_id == host => {
            let update = TenantUpdate {
                origins: Some(vec![origin.clone()]),
                ..TenantUpdate::default()
            };
            tenants::update_tenant(store, &id, &update).await?;
        }
        Some(_) => {}
    }
    let redirect = format!("{}{CALLBACK_PATH}", service_url.trim_end_matches('/'));
    let client_id = ClientId::parse(PORTAL_CLIENT)
        .map_err(|e| ServiceError::Internal(format!("portal client id: {e}")))?;
    match store.get_client(&id, &client_id).await? {
        Some(client) if client.redirect_uris == [redirect.clone()] => {}
        Some(mut client) => {
            client.redirect_uris = vec![redirect];
            store.update_client(&client, None).await?;
        }
        None => {
            let client = Client {
                tenant: id.clone(),
                client_id,
                display_name: "Tessera admin portal".into(),
                secret_hash: None,
                redirect_uris: vec![redirect],
                post_logout_redirect_uris: Vec::new(),
                token_endpoint_auth_method: "none".into(),
                id_token_signed_response_alg: SigningAlg::Es256.as_str().to_owned(),
                jwks: None,
                allowed_scopes: vec!["openid".into(), "profile".into()],
                created_at: now,
            };
            match store.create_client(&client).await {
                Ok(()) | Err(tessera_store::StoreError::Conflict) => {}
                Err(other) => return Err(other.into()),
            }
        }
    }
    Ok(())
}

fn plausible_bootstrap(secret: &str) -> bool {
    secret.starts_with("tsb_") && secret.len() < 200
}

/// The hash of `secret` when it is the live bootstrap token (checked before the passkey enrolment starts; the
/// token is spent only after it, by [`finish_sign_in`]).
pub async fn live_bootstrap(
    store: &Arc<dyn AdminStore>,
    secret: &str,
    now: OffsetDateTime,
) -> Result<Option<Vec<u8>>> {
    if !plausible_bootstrap(secret) {
        return Ok(None);
    }
    let hash = sha256(secret.as_bytes());
    Ok(store
        .bootstrap_token_is_live(&hash, now)
        .await?
        .then_some(hash))
}

/// Spends the bootstrap token hashed `token_hash` and makes the admin tenant's user `user_id` the first global
/// admin, with its audit event, in one transaction. A wrong, expired or spent token is
/// [`ServiceError::InvalidBearerToken`] and nothing is written.
pub async fn redeem_bootstrap(
    store: &Arc<dyn AdminStore>,
    token_hash: &[u8],
    user_id: &str,
    username: &str,
    context: &RequestContext,
    now: OffsetDateTime,
) -> Result<Admin> {
    let member = AdminMember {
        user_id: user_id.into(),
        username: username.into(),
        role: Role::GlobalAdmin.as_str().into(),
        tenants: Vec::new(),
        created_by: "bootstrap".into(),
        created_at: now,
    };
    let audit = audit_event(
        "bootstrap".into(),
        "admin.bootstrap",
        format!("admins/{user_id}"),
        None,
        (None, Some(member_view(&member))),
        context,
        now,
    )?;
    if store
        .redeem_bootstrap_for_member(token_hash, now, &member, &audit)
        .await?
    {
        Admin::from_member(member)
    } else {
        Err(ServiceError::InvalidBearerToken)
    }
}

/// The ceremony kind of a pending portal sign-in.
const SIGN_IN_CEREMONY: &str = "portal.signin";
/// How long a started sign-in may take.
const SIGN_IN_LIFETIME: Duration = Duration::minutes(10);

/// A pending sign-in, kept as a one-time ceremony of the admin tenant under its `state`.
#[derive(serde::Serialize, serde::Deserialize)]
struct PendingSignIn {
    nonce: String,
    verifier: String,
    /// SHA-256 of the browser's CSRF token: the answer must come back to the browser that started.
    binding: Vec<u8>,
    /// The bootstrap token's hash, when the sign-in enrols the first administrator.
    bootstrap: Option<Vec<u8>>,
    /// The invitation's hash, when the sign-in enrols an invited administrator.
    #[serde(default)]
    invitation: Option<Vec<u8>>,
    next: String,
}

/// What a sign-in may enrol: nobody new (an existing administrator signs in), the first administrator (the
/// bootstrap token's hash) or an invited one (the invitation's hash). Only an enrolling sign-in may create an
/// account at the admin tenant ([`admit_sign_up`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enrolment {
    /// An administrator signs in.
    None,
    /// The first administrator, by the bootstrap link.
    Bootstrap(Vec<u8>),
    /// An invited administrator, by an invitation link.
    Invitation(Vec<u8>),
}

/// What the authorization request of a sign-in carries.
#[derive(Debug, Clone)]
pub struct SignInStart {
    /// `state` (also the pending sign-in's id).
    pub state: String,
    /// `nonce`.
    pub nonce: String,
    /// The PKCE `S256` challenge.
    pub code_challenge: String,
}

/// Starts a sign-in for the browser whose CSRF token hashes to `binding`; with an [`Enrolment`] (a live bootstrap
/// token's or invitation's hash) the sign-in enrols an administrator. `next` is where to go afterwards.
pub async fn begin_sign_in(
    store: &dyn Store,
    binding: Vec<u8>,
    enrolment: Enrolment,
    next: &str,
    now: OffsetDateTime,
) -> Result<SignInStart> {
    let (state, nonce, verifier) = super::token_viewer::new_secrets()?;
    let code_challenge = super::token_viewer::pkce_challenge(&verifier);
    let (bootstrap, invitation) = match enrolment {
        Enrolment::None => (None, None),
        Enrolment::Bootstrap(hash) => (Some(hash), None),
        Enrolment::Invitation(hash) => (None, Some(hash)),
    };
    let pending = PendingSignIn {
        nonce: nonce.clone(),
        verifier,
        binding,
        bootstrap,
        invitation,
        next: safe_next(next),
    };
    let payload = serde_json::to_vec(&pending)
        .map_err(|e| ServiceError::Internal(format!("pending sign-in: {e}")))?;
    store
        .put_ceremony(
            &admin_tenant()?,
            &state,
            SIGN_IN_CEREMONY,
            payload,
            now + SIGN_IN_LIFETIME,
            now,
        )
        .await?;
    Ok(SignInStart {
        state,
        nonce,
        code_challenge,
    })
}

/// Where a sign-in may continue to: a portal path, never another site.
pub fn safe_next(next: &str) -> String {
    let portal_path = next.starts_with("/admin/")
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.bytes().all(|b| b.is_ascii_graphic());
    if portal_path && !next.starts_with("/admin/signin") && !next.starts_with("/admin/callback") {
        next.to_owned()
    } else {
        "/admin/".to_owned()
    }
}

/// Why a sign-in did not end in a portal session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignInError {
    /// No pending sign-in for this `state` in this browser (expired, used, or started elsewhere).
    #[error("this sign-in has expired or was started in another browser")]
    Expired,
    /// The admin tenant answered with an error (the person cancelled, or a policy refused).
    #[error("the sign-in was not completed ({0})")]
    Refused(String),
    /// The code or the ID token was refused.
    #[error("the sign-in could not be verified: {0}")]
    Unverified(String),
    /// The account signed in, but is no administrator.
    #[error("{username} is not an administrator of this portal")]
    NotAnAdmin {
        /// Who signed in.
        username: String,
    },
    /// The bootstrap link was used meanwhile, or expired during the enrolment.
    #[error("the bootstrap link was used meanwhile or has expired")]
    BootstrapSpent,
    /// The invitation was used meanwhile, or expired during the enrolment.
    #[error("the invitation was used meanwhile or has expired")]
    InvitationSpent,
    /// Anything else.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// The answer of the admin tenant at the portal's callback.
pub struct Callback<'a> {
    /// `state`.
    pub state: &'a str,
    /// `code`, on success.
    pub code: Option<&'a str>,
    /// `error`, on failure.
    pub error: Option<&'a str>,
    /// SHA-256 of the browser's CSRF token.
    pub binding: &'a [u8],
}

/// A finished sign-in: who, their new session, and where to go.
#[derive(Debug)]
pub struct SignedIn {
    /// The administrator.
    pub admin: Admin,
    /// The new portal session.
    pub session: PortalSession,
    /// Where to go now.
    pub next: String,
}

/// Finishes a sign-in: takes the pending sign-in (once), redeems the code with the admin tenant's token endpoint
/// use case (PKCE, the portal's redirect URI), verifies the ID token (signature with the tenant's keys, issuer,
/// audience, nonce, expiry), then either spends the bootstrap token (first administrator) or looks the user up as
/// an administrator, and starts a portal session.
pub async fn finish_sign_in(
    store: &dyn Store,
    admin_store: &Arc<dyn AdminStore>,
    endpoint: &crate::provider::token::TokenEndpoint<'_>,
    redirect_uri: &str,
    answer: Callback<'_>,
    context: &RequestContext,
) -> std::result::Result<SignedIn, SignInError> {
    let now = endpoint.now;
    let tenant = admin_tenant()?;
    let Some(payload) = store
        .take_ceremony(&tenant, answer.state, SIGN_IN_CEREMONY, now)
        .await
        .map_err(ServiceError::from)?
    else {
        return Err(SignInError::Expired);
    };
    let pending: PendingSignIn = serde_json::from_slice(&payload)
        .map_err(|e| ServiceError::Corrupt(format!("pending sign-in: {e}")))?;
    if aws_lc_rs::constant_time::verify_slices_are_equal(&pending.binding, answer.binding).is_err()
    {
        return Err(SignInError::Expired);
    }
    if let Some(error) = answer.error {
        return Err(SignInError::Refused(error.chars().take(64).collect()));
    }
    let code = answer
        .code
        .ok_or_else(|| SignInError::Unverified("no code".into()))?;
    let form: Vec<(String, String)> = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", pending.verifier.as_str()),
        ("client_id", PORTAL_CLIENT),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let tokens = crate::provider::token::exchange(
        endpoint,
        crate::provider::token::TokenRequest {
            form: &form,
            authorization: None,
        },
    )
    .await
    .map_err(|e| SignInError::Unverified(e.to_string()))?;
    let id_token = tokens
        .id_token
        .ok_or_else(|| SignInError::Unverified("no ID token".into()))?;
    let verified =
        tessera_oidc::jose::verify_jws(&id_token, endpoint.runtime.keys.verifying_keys())
            .map_err(|e| SignInError::Unverified(e.to_string()))?;
    let same = |a: &str, b: &str| {
        aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
    };
    let audience_ok = match verified.claims.get("aud") {
        Some(serde_json::Value::String(aud)) => aud == PORTAL_CLIENT,
        Some(serde_json::Value::Array(auds)) => auds.iter().any(|a| a == PORTAL_CLIENT),
        _ => false,
    };
    let checks = verified.str_claim("iss") == Some(endpoint.runtime.issuer.as_str())
        && audience_ok
        && verified
            .str_claim("nonce")
            .is_some_and(|n| same(n, &pending.nonce))
        && verified
            .time_claim("exp")
            .is_some_and(|exp| exp > now.unix_timestamp());
    if !checks {
        return Err(SignInError::Unverified(
            "the ID token's issuer, audience, nonce or expiry is wrong".into(),
        ));
    }
    let sub = verified
        .str_claim("sub")
        .ok_or_else(|| SignInError::Unverified("no sub".into()))?;
    let user_id = tessera_core::UserId::parse(sub)
        .map_err(|e| SignInError::Unverified(format!("sub: {e}")))?;
    let user = store
        .get_user(&tenant, &user_id)
        .await
        .map_err(ServiceError::from)?
        .ok_or_else(|| SignInError::Unverified("the user is gone".into()))?;
    let auth_time = verified
        .time_claim("auth_time")
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .unwrap_or(now);
    let admin = match (&pending.bootstrap, &pending.invitation) {
        (Some(hash), _) => {
            match redeem_bootstrap(admin_store, hash, sub, &user.username, context, now).await {
                Ok(admin) => admin,
                Err(ServiceError::InvalidBearerToken) => return Err(SignInError::BootstrapSpent),
                Err(other) => return Err(other.into()),
            }
        }
        (None, Some(hash)) => {
            match redeem_invitation(admin_store, hash, sub, &user.username, context, now).await {
                Ok(admin) => admin,
                Err(ServiceError::InvalidBearerToken) => return Err(SignInError::InvitationSpent),
                Err(other) => return Err(other.into()),
            }
        }
        (None, None) => match admin_for(admin_store, sub).await? {
            Some(admin) => admin,
            None => {
                return Err(SignInError::NotAnAdmin {
                    username: user.username,
                });
            }
        },
    };
    let session = start_session(store, &user_id, auth_time, now).await?;
    Ok(SignedIn {
        admin,
        session,
        next: pending.next,
    })
}

/// The administrator the admin tenant's user `user_id` is, if any.
pub async fn admin_for(store: &Arc<dyn AdminStore>, user_id: &str) -> Result<Option<Admin>> {
    store
        .get_admin_member(user_id)
        .await?
        .map(Admin::from_member)
        .transpose()
}

/// Every administrator, oldest first.
pub async fn list_admins(store: &Arc<dyn AdminStore>) -> Result<Vec<AdminMember>> {
    Ok(store.list_admin_members().await?)
}

/// What an administrator should be.
#[derive(Debug, Clone)]
pub struct MemberSpec {
    /// The admin tenant's user.
    pub user_id: String,
    /// Its username.
    pub username: String,
    /// The role.
    pub role: Role,
    /// The tenants (required for a tenant admin, refused for a global admin).
    pub tenants: Vec<String>,
}

/// Makes (or changes) an administrator; only a global admin may, and the change is written with its audit event.
pub async fn put_admin(
    store: &Arc<dyn AdminStore>,
    by: &Admin,
    spec: MemberSpec,
    context: &RequestContext,
    now: OffsetDateTime,
) -> Result<AdminMember> {
    if !by.is_global() {
        return Err(ServiceError::InvalidInput(
            "role: only a global admin manages administrators".into(),
        ));
    }
    check_role_tenants(spec.role, &spec.tenants)?;
    let before = store.get_admin_member(&spec.user_id).await?;
    if spec.user_id == by.user_id && spec.role != Role::GlobalAdmin {
        return Err(ServiceError::InvalidInput(
            "role: you cannot take away your own global admin role".into(),
        ));
    }
    let member = AdminMember {
        user_id: spec.user_id.clone(),
        username: spec.username,
        role: spec.role.as_str().into(),
        tenants: spec.tenants,
        created_by: before
            .as_ref()
            .map_or_else(|| by.actor(), |b| b.created_by.clone()),
        created_at: before.as_ref().map_or(now, |b| b.created_at),
    };
    let action = if before.is_some() {
        "admin.member.update"
    } else {
        "admin.member.create"
    };
    let audit = audit_event(
        by.actor(),
        action,
        format!("admins/{}", spec.user_id),
        None,
        (before.as_ref().map(member_view), Some(member_view(&member))),
        context,
        now,
    )?;
    store.put_admin_member(&member, &audit).await?;
    Ok(member)
}

/// Checks that a role and its tenants fit: a global admin has none, a tenant admin at least one, each a tenant id.
fn check_role_tenants(role: Role, tenants: &[String]) -> Result<()> {
    match role {
        Role::GlobalAdmin if !tenants.is_empty() => {
            return Err(ServiceError::InvalidInput(
                "tenants: a global admin is not limited to tenants".into(),
            ));
        }
        Role::TenantAdmin if tenants.is_empty() => {
            return Err(ServiceError::InvalidInput(
                "tenants: a tenant admin needs at least one tenant".into(),
            ));
        }
        _ => {}
    }
    super::scope::check(tenants)
}

/// Removes an administrator (not oneself), with its audit event.
pub async fn remove_admin(
    store: &Arc<dyn AdminStore>,
    by: &Admin,
    user_id: &str,
    context: &RequestContext,
    now: OffsetDateTime,
) -> Result<()> {
    if !by.is_global() || user_id == by.user_id {
        return Err(ServiceError::InvalidInput(
            "user: you cannot remove this administrator".into(),
        ));
    }
    let Some(before) = store.get_admin_member(user_id).await? else {
        return Err(ServiceError::InvalidInput(
            "user: no such administrator".into(),
        ));
    };
    let audit = audit_event(
        by.actor(),
        "admin.member.delete",
        format!("admins/{user_id}"),
        None,
        (Some(member_view(&before)), None),
        context,
        now,
    )?;
    store.delete_admin_member(user_id, &audit).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Invitations

/// How a link names an invitation secret.
const INVITATION_PREFIX: &str = "tsi_";
/// Where an invitation link points (`{service_url}/admin/invitation?token=tsi_...`).
pub const INVITATION_PATH: &str = "/admin/invitation";
/// How long an invitation works unless its creator says otherwise.
pub const DEFAULT_INVITATION_LIFETIME: Duration = Duration::hours(24);
/// The longest an invitation may work.
pub const MAX_INVITATION_LIFETIME: Duration = Duration::days(7);
/// The shortest an invitation may work.
pub const MIN_INVITATION_LIFETIME: Duration = Duration::minutes(5);

/// What a new invitation grants and for how long.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    /// The role the invited person gets.
    pub role: Role,
    /// Its tenants (required for a tenant admin, refused for a global admin).
    pub tenants: Vec<String>,
    /// How long the link works ([`MIN_INVITATION_LIFETIME`] to [`MAX_INVITATION_LIFETIME`]).
    pub lifetime: Duration,
}

/// An invitation just made: its link's secret is here only (only its SHA-256 is stored).
pub struct IssuedInvitation {
    /// Its public id (`inv_...`), as the audit trail names it.
    pub id: String,
    /// The secret (`tsi_...`) the link carries.
    pub secret: tessera_core::Secret,
    /// The role it grants.
    pub role: Role,
    /// The tenants it grants.
    pub tenants: Vec<String>,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for IssuedInvitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedInvitation")
            .field("id", &self.id)
            .field("secret", &tessera_core::secret::Redacted)
            .field("role", &self.role)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl IssuedInvitation {
    /// The link to hand to the invited person.
    pub fn link(&self, service_url: &str) -> String {
        format!(
            "{}{INVITATION_PATH}?token={}",
            service_url.trim_end_matches('/'),
            self.secret.expose()
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn invitation_view(invitation: &AdminInvitation) -> serde_json::Value {
    serde_json::json!({
        "id": invitation.id,
        "role": invitation.role,
        "tenants": invitation.tenants,
        "expires_at": invitation.expires_at.unix_timestamp(),
    })
}

/// Makes an invitation for one person to enrol a passkey at the admin tenant and become an administrator with
/// `new.role`: single use, working for `new.lifetime` (across restarts: it is kept in the admin store), stored as
/// the SHA-256 of its secret, with its audit event in the same transaction. The caller must have checked that
/// `actor` is a global admin (the portal, the API).
pub async fn create_invitation(
    admin_store: &Arc<dyn AdminStore>,
    actor: String,
    new: NewInvitation,
    context: &RequestContext,
    now: OffsetDateTime,
) -> Result<IssuedInvitation> {
    check_role_tenants(new.role, &new.tenants)?;
    if new.lifetime < MIN_INVITATION_LIFETIME || new.lifetime > MAX_INVITATION_LIFETIME {
        return Err(ServiceError::InvalidInput(format!(
            "expires_in: an invitation works between {} minutes and {} days",
            MIN_INVITATION_LIFETIME.whole_minutes(),
            MAX_INVITATION_LIFETIME.whole_days()
        )));
    }
    let secret = tessera_core::Secret::new(format!("{INVITATION_PREFIX}{}", random_token(32)?));
    let hash = sha256(secret.expose().as_bytes());
    let id = format!("inv_{}", &hex(&hash)[..16]);
    let invitation = AdminInvitation {
        id: id.clone(),
        token_hash: hash,
        role: new.role.as_str().into(),
        tenants: new.tenants.clone(),
        created_by: actor.clone(),
        created_at: now,
        expires_at: now + new.lifetime,
    };
    let audit = audit_event(
        actor,
        "admin.invitation.create",
        format!("admins/invitations/{id}"),
        None,
        (None, Some(invitation_view(&invitation))),
        context,
        now,
    )?;
    admin_store
        .create_admin_invitation(&invitation, &audit)
        .await?;
    Ok(IssuedInvitation {
        id,
        secret,
        role: new.role,
        tenants: new.tenants,
        expires_at: invitation.expires_at,
    })
}

/// A pending invitation as listed: what it grants, who made it and until when it works. Never its secret, nor
/// anything a link could be made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingInvitation {
    /// Its public id (`inv_...`).
    pub id: String,
    /// The role it grants.
    pub role: Role,
    /// The tenants it grants.
    pub tenants: Vec<String>,
    /// Who made it (an audit actor, `admin:ann` or `token:tok_...`).
    pub created_by: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

impl PendingInvitation {
    fn from_record(invitation: &AdminInvitation) -> Result<Self> {
        Ok(Self {
            id: invitation.id.clone(),
            role: Role::parse(&invitation.role).ok_or_else(|| {
                ServiceError::Corrupt(format!("invitation {}: role", invitation.id))
            })?,
            tenants: invitation.tenants.clone(),
            created_by: invitation.created_by.clone(),
            created_at: invitation.created_at,
            expires_at: invitation.expires_at,
        })
    }
}

/// One page of pending invitations, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingInvitations {
    /// The invitations.
    pub invitations: Vec<PendingInvitation>,
    /// Where the following page starts, when there may be one.
    pub next: Option<InvitationCursor>,
}

/// The pending invitations (unused, not withdrawn, unexpired at `now`), oldest first (then by id), at most `limit`
/// after `after`; with `role`, only those that make that role (in the store, before the page is cut). The caller
/// must have checked that the reader is a global admin.
pub async fn list_invitations(
    admin_store: &Arc<dyn AdminStore>,
    now: OffsetDateTime,
    role: Option<Role>,
    after: Option<&InvitationCursor>,
    limit: u32,
) -> Result<PendingInvitations> {
    let page = admin_store
        .list_admin_invitations(now, role.map(Role::as_str), after, limit)
        .await?;
    Ok(PendingInvitations {
        invitations: page
            .invitations
            .iter()
            .map(PendingInvitation::from_record)
            .collect::<Result<Vec<_>>>()?,
        next: page.next,
    })
}

/// Withdraws the pending invitation `id` (`inv_...`): its link then fails like an expired one, also in a browser
/// that opened it before. Writes the audit event `admin.invitation.withdraw` in the same transaction. `Ok(None)`
/// when no pending invitation has this id (unknown, used, withdrawn or expired; of a withdrawal and a redemption
/// racing, one wins). The caller must have checked that `actor` is a global admin.
pub async fn withdraw_invitation(
    admin_store: &Arc<dyn AdminStore>,
    actor: String,
    id: &str,
    context: &RequestContext,
    now: OffsetDateTime,
) -> Result<Option<PendingInvitation>> {
    let Some(invitation) = admin_store.get_admin_invitation(id, now).await? else {
        return Ok(None);
    };
    let withdrawn = PendingInvitation::from_record(&invitation)?;
    let audit = audit_event(
        actor,
        "admin.invitation.withdraw",
        format!("admins/invitations/{id}"),
        None,
        (Some(invitation_view(&invitation)), None),
        context,
        now,
    )?;
    if admin_store
        .withdraw_admin_invitation(id, now, &audit)
        .await?
    {
        Ok(Some(withdrawn))
    } else {
        Ok(None)
    }
}

/// The hash of `secret` when it is a live invitation (unused, not withdrawn and unexpired); nothing is written.
pub async fn live_invitation(
    admin_store: &Arc<dyn AdminStore>,
    secret: &str,
    now: OffsetDateTime,
) -> Result<Option<Vec<u8>>> {
    if !secret.starts_with(INVITATION_PREFIX) || secret.len() > 200 {
        return Ok(None);
    }
    let hash = sha256(secret.as_bytes());
    let live = admin_store
        .find_admin_invitation(&hash, now)
        .await?
        .is_some();
    Ok(live.then_some(hash))
}

/// Spends the invitation hashed `hash` and makes the admin tenant's user `user_id` an administrator with its role,
/// with the audit event `admin.invitation.redeem`, in one transaction (of any number of concurrent callers, one
/// succeeds). A used, withdrawn or expired invitation is [`ServiceError::InvalidBearerToken`] and nobody gets a
/// role.
pub async fn redeem_invitation(
    admin_store: &Arc<dyn AdminStore>,
    hash: &[u8],
    user_id: &str,
    username: &str,
    context: &RequestContext,
    now: OffsetDateTime,
) -> Result<Admin> {
    let Some(invitation) = admin_store.find_admin_invitation(hash, now).await? else {
        return Err(ServiceError::InvalidBearerToken);
    };
    let before = admin_store.get_admin_member(user_id).await?;
    let member = AdminMember {
        user_id: user_id.into(),
        username: username.into(),
        role: invitation.role.clone(),
        tenants: invitation.tenants.clone(),
        created_by: before
            .as_ref()
            .map_or_else(|| invitation.created_by.clone(), |b| b.created_by.clone()),
        created_at: before.as_ref().map_or(now, |b| b.created_at),
    };
    let audit = audit_event(
        format!("invitation:{}", invitation.id),
        "admin.invitation.redeem",
        format!("admins/{user_id}"),
        None,
        (before.as_ref().map(member_view), Some(member_view(&member))),
        context,
        now,
    )?;
    if admin_store
        .redeem_admin_invitation(hash, now, &member, &audit)
        .await?
    {
        Admin::from_member(member)
    } else {
        Err(ServiceError::InvalidBearerToken)
    }
}

/// Whether a new account may be made at `tenant` by a sign-up that resumes the pending authorization `authz`.
/// Every tenant but the admin tenant is open; the admin tenant admits only a sign-up the portal started for an
/// enrolment (the bootstrap link, or an invitation still pending in `admin_store`): the pending authorization is
/// the portal's, and its `state` names a pending portal sign-in carrying the enrolment. Without an admin store (the
/// server does not serve the admin role) there is no enrolment to admit. Anything else is
/// [`ServiceError::SignUpByInvitationOnly`].
pub async fn admit_sign_up(
    store: &dyn Store,
    admin_store: Option<&Arc<dyn AdminStore>>,
    tenant: &TenantId,
    authz: Option<&str>,
    now: OffsetDateTime,
) -> Result<()> {
    if tenant.as_str() != ADMIN_TENANT {
        return Ok(());
    }
    let refused = Err(ServiceError::SignUpByInvitationOnly);
    let (Some(admin_store), Some(authz)) = (admin_store, authz) else {
        return refused;
    };
    let Some(pending) =
        crate::provider::authorize::pending_authorization(store, tenant, authz, now).await?
    else {
        return refused;
    };
    let (true, Some(state)) = (
        pending.request.client_id.as_str() == PORTAL_CLIENT,
        pending.request.state.as_deref(),
    ) else {
        return refused;
    };
    let Some(payload) = store
        .peek_ceremony(tenant, state, SIGN_IN_CEREMONY, now)
        .await?
    else {
        return refused;
    };
    let sign_in: PendingSignIn = serde_json::from_slice(&payload)
        .map_err(|e| ServiceError::Corrupt(format!("pending sign-in: {e}")))?;
    match (&sign_in.bootstrap, &sign_in.invitation) {
        (Some(_), _) => Ok(()),
        (None, Some(hash)) => {
            let live = admin_store
                .find_admin_invitation(hash, now)
                .await?
                .is_some();
            if live { Ok(()) } else { refused }
        }
        (None, None) => refused,
    }
}

/// The authenticator service's tenants an operator manages: every tenant but the admin tenant, ordered by id.
pub async fn authenticator_tenants(store: &dyn Store) -> Result<Vec<tessera_store::Tenant>> {
    let mut tenants: Vec<_> = store
        .list_tenants()
        .await?
        .into_iter()
        .filter(|t| t.id.as_str() != ADMIN_TENANT)
        .collect();
    tenants.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    Ok(tenants)
}

/// An authenticator tenant an operator manages (never the admin tenant): [`ServiceError::TenantNotFound`] if
/// there is none.
pub async fn authenticator_tenant(
    store: &dyn Store,
    id: &TenantId,
) -> Result<tessera_store::Tenant> {
    if id.as_str() == ADMIN_TENANT {
        return Err(ServiceError::TenantNotFound);
    }
    store
        .get_tenant(id)
        .await?
        .ok_or(ServiceError::TenantNotFound)
}

/// The admin tenant's user signed up as `username`, to make an administrator of.
pub async fn admin_tenant_user(store: &dyn Store, username: &str) -> Result<tessera_store::User> {
    store
        .find_user_by_username(&admin_tenant()?, username.trim())
        .await?
        .ok_or_else(|| {
            ServiceError::InvalidInput(
                "username: no account of the admin tenant has this username; invite the person instead"
                    .into(),
            )
        })
}

/// A portal session just started: the cookie value (shown once to the browser) and what was stored.
pub struct PortalSession {
    /// The cookie value; never stored, never logged.
    pub cookie_value: String,
    /// The stored session (with the hash only).
    pub session: Session,
}

impl std::fmt::Debug for PortalSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalSession")
            .field("cookie_value", &tessera_core::secret::Redacted)
            .field("user_id", &self.session.user_id)
            .finish()
    }
}

/// Starts a portal session for the admin tenant's user `user_id` (who signed in with a passkey at `auth_time`).
pub async fn start_session(
    store: &dyn Store,
    user_id: &tessera_core::UserId,
    auth_time: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<PortalSession> {
    let issued = handles::issue(now)?;
    let session = Session {
        id_hash: issued.key,
        tenant: portal_sessions()?,
        user_id: user_id.clone(),
        sid: random_token(16)?,
        auth_time,
        user_verified: true,
        backup_eligible: false,
        attestation_trusted: false,
        credential_id: None,
        last_seen_at: now,
        expires_at: now + SESSION_LIFETIME,
    };
    store.create_session(&session).await?;
    Ok(PortalSession {
        cookie_value: issued.value,
        session,
    })
}

/// The live portal session of a cookie value: within its absolute lifetime and used within [`SESSION_IDLE`]. An
/// idle one is deleted; a used one has its last use written (at most once a minute).
pub async fn current_session(
    store: &dyn Store,
    cookie_value: &str,
    now: OffsetDateTime,
) -> Result<Option<Session>> {
    if !handles::is_plausible(cookie_value) {
        return Ok(None);
    }
    let namespace = portal_sessions()?;
    let key = handles::storage_key(cookie_value);
    let Some(session) = store.get_session(&namespace, &key, now).await? else {
        return Ok(None);
    };
    if now - session.last_seen_at >= SESSION_IDLE {
        store.delete_session(&namespace, &key).await?;
        return Ok(None);
    }
    if now - session.last_seen_at >= TOUCH_EVERY {
        store.touch_session(&namespace, &key, now).await?;
    }
    Ok(Some(session))
}

/// Ends a portal session (sign-out). Idempotent.
pub async fn end_session(store: &dyn Store, cookie_value: &str) -> Result<()> {
    if handles::is_plausible(cookie_value) {
        store
            .delete_session(&portal_sessions()?, &handles::storage_key(cookie_value))
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(role: Role, tenants: &[&str]) -> Admin {
        Admin {
            user_id: "u".into(),
            username: "ann".into(),
            role,
            tenants: tenants.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    #[test]
    fn sign_in_continues_only_to_a_portal_path() {
        assert_eq!(
            safe_next("/admin/broker/contoso/"),
            "/admin/broker/contoso/"
        );
        for foreign in [
            "https://evil.example/admin/",
            "//evil.example/admin/",
            "/admin/\\evil",
            "/elsewhere",
            "/admin/signin?next=/admin/",
            "/admin/callback?code=x",
            "/admin/ x",
            "",
        ] {
            assert_eq!(safe_next(foreign), "/admin/", "{foreign:?}");
        }
    }

    #[test]
    fn tenant_admin_sees_only_its_tenants() {
        let a = admin(Role::TenantAdmin, &["contoso"]);
        assert!(a.sees_tenant(None, "contoso"));
        assert!(!a.sees_tenant(None, "fabrikam"));
        assert_eq!(a.tenant_filter(), Some(vec!["contoso".to_owned()]));
        assert!(admin(Role::GlobalAdmin, &[]).sees_tenant(None, "fabrikam"));
        assert!(!admin(Role::ReadOnly, &[]).can_write());
    }
}
