//! API tokens and the one-time bootstrap token of the admin surfaces: issue (the secret is shown once and stored as
//! its SHA-256), authenticate (unknown, expired and revoked tokens are all [`ServiceError::InvalidBearerToken`]),
//! revoke, and the first start's bootstrap exchange for the first global-admin token.

use super::scope::{self, Side};
use crate::handles::{random_token, sha256, time_ordered_id};
use crate::{Result, ServiceError};
use std::sync::Arc;
use tessera_store::{AdminStore, ApiTokenRecord, AuditEvent};
use time::{Duration, OffsetDateTime};

/// How long a bootstrap token printed at first start works.
pub const BOOTSTRAP_LIFETIME: Duration = Duration::minutes(30);
/// How long the first API token (from the bootstrap exchange) works.
pub const FIRST_TOKEN_LIFETIME: Duration = Duration::days(30);
/// A token's `last_used_at` is written at most this often.
const TOUCH_EVERY: Duration = Duration::minutes(1);
/// The prefix of API token secrets, so that secret scanners recognise them.
const SECRET_PREFIX: &str = "tsr_";

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, on every tenant.
    GlobalAdmin,
    /// Everything, on its tenants only; other tenants do not exist for it.
    TenantAdmin,
    /// Reading only, on its tenants (or every tenant when it has none).
    ReadOnly,
}

impl Role {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GlobalAdmin => "global_admin",
            Self::TenantAdmin => "tenant_admin",
            Self::ReadOnly => "read_only",
        }
    }

    /// Parses the stored and API name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "global_admin" => Some(Self::GlobalAdmin),
            "tenant_admin" => Some(Self::TenantAdmin),
            "read_only" => Some(Self::ReadOnly),
            _ => None,
        }
    }
}

/// Who is calling, as an authenticated token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's public id.
    pub token_id: String,
    /// Its role.
    pub role: Role,
    /// The tenants it is limited to; empty means all (global admin, or an unrestricted read-only token).
    pub tenants: Vec<String>,
}

impl Principal {
    /// The audit actor (`token:tok_...`).
    pub fn actor(&self) -> String {
        format!("token:{}", self.token_id)
    }

    /// Whether it may change anything.
    pub fn can_write(&self) -> bool {
        self.role != Role::ReadOnly
    }

    /// Whether `tenant` of `side` exists for it (a tenant admin's other tenants answer as unknown, never
    /// "forbidden"); its scopes may name a role's tenant only ([`super::scope`]). `side: None` asks about the id
    /// under either role (the audit trail's filter).
    pub fn sees_tenant(&self, side: Option<Side>, tenant: &str) -> bool {
        match self.role {
            Role::GlobalAdmin => true,
            Role::ReadOnly if self.tenants.is_empty() => true,
            Role::TenantAdmin | Role::ReadOnly => scope::covers(&self.tenants, side, tenant),
        }
    }
}

/// A token just issued: the secret, shown once, and what was stored.
pub struct IssuedToken {
    /// The bearer secret; never stored, never logged.
    pub secret: String,
    /// The stored record (with the hash only).
    pub record: ApiTokenRecord,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("secret", &"[redacted]")
            .field("record", &self.record.id)
            .finish()
    }
}

/// Where a change came from, for its audit event.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The HTTP request id.
    pub request_id: Option<String>,
    /// The client's address.
    pub client_address: Option<String>,
}

/// What a new token should be.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// A name for people.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its tenants (required for a tenant admin; must be empty for a global admin).
    pub tenants: Vec<String>,
    /// How long it works.
    pub lifetime: Duration,
}

/// The audit event of a change (`(before, after)`, without secrets), with a fresh time-ordered id.
pub fn audit_event(
    actor: String,
    action: &str,
    target: String,
    tenant: Option<String>,
    (before, after): (Option<serde_json::Value>, Option<serde_json::Value>),
    context: &RequestContext,
    now: OffsetDateTime,
) -> Result<AuditEvent> {
    Ok(AuditEvent {
        id: time_ordered_id(now, 8)?,
        at: now,
        actor,
        action: action.into(),
        target,
        tenant,
        before,
        after,
        request_id: context.request_id.clone(),
        client_address: context.client_address.clone(),
    })
}

/// The token as the audit trail and the API show it: no hash, no secret.
pub fn public_view(token: &ApiTokenRecord) -> serde_json::Value {
    serde_json::json!({
        "id": token.id,
        "name": token.name,
        "role": token.role,
        "tenants": token.tenants,
        "created_by": token.created_by,
        "created_at": token.created_at.unix_timestamp(),
        "expires_at": token.expires_at.unix_timestamp(),
        "revoked_at": token.revoked_at.map(OffsetDateTime::unix_timestamp),
    })
}

fn new_record(spec: &NewToken, created_by: String, now: OffsetDateTime) -> Result<IssuedToken> {
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ServiceError::InvalidInput(
            "name: give the token a name of 1 to 100 characters".into(),
        ));
    }
    match spec.role {
        Role::GlobalAdmin if !spec.tenants.is_empty() => {
            return Err(ServiceError::InvalidInput(
                "tenants: a global admin token is not limited to tenants".into(),
            ));
        }
        Role::TenantAdmin if spec.tenants.is_empty() => {
            return Err(ServiceError::InvalidInput(
                "tenants: a tenant admin token needs at least one tenant".into(),
            ));
        }
        _ => {}
    }
    scope::check(&spec.tenants)?;
    if spec.lifetime <= Duration::ZERO || spec.lifetime > Duration::days(366) {
        return Err(ServiceError::InvalidInput(
            "expires_in: a token lives between 1 second and 366 days".into(),
        ));
    }
    let secret = format!("{SECRET_PREFIX}{}", random_token(32)?);
    let record = ApiTokenRecord {
        id: format!("tok_{}", random_token(12)?),
        token_hash: sha256(secret.as_bytes()),
        name: name.into(),
        role: spec.role.as_str().into(),
        tenants: spec.tenants.clone(),
        created_by,
        created_at: now,
        expires_at: now + spec.lifetime,
        revoked_at: None,
        last_used_at: None,
    };
    Ok(IssuedToken { secret, record })
}

/// Who makes or revokes a token: an API token ([`Principal`]) or a portal administrator
/// ([`super::members::Admin`]). Neither can grant more than it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    /// The audit actor and the new token's `created_by` (`token:tok_...`, `admin:{username}`).
    pub actor: String,
    /// Its role.
    pub role: Role,
    /// Its tenants (empty: all).
    pub tenants: Vec<String>,
    /// The token it authenticated with, if any (a token may always see and revoke itself).
    pub token_id: Option<String>,
}

impl From<&Principal> for Issuer {
    fn from(p: &Principal) -> Self {
        Self {
            actor: p.actor(),
            role: p.role,
            tenants: p.tenants.clone(),
            token_id: Some(p.token_id.clone()),
        }
    }
}

impl From<&super::members::Admin> for Issuer {
    fn from(a: &super::members::Admin) -> Self {
        Self {
            actor: a.actor(),
            role: a.role,
            tenants: a.tenants.clone(),
            token_id: None,
        }
    }
}

impl Issuer {
    /// Whether `token` is this issuer's to see and revoke: a global admin's every token, otherwise the ones it
    /// made and itself.
    pub fn sees(&self, token: &ApiTokenRecord) -> bool {
        self.role == Role::GlobalAdmin
            || token.created_by == self.actor
            || self.token_id.as_deref() == Some(token.id.as_str())
    }
}

/// Issues a token for `by` (who must be a global admin, or a tenant admin issuing within its tenants); the token
/// and its audit event are stored in one transaction.
pub async fn issue(
    store: &Arc<dyn AdminStore>,
    by: impl Into<Issuer>,
    spec: &NewToken,
    context: &RequestContext,
    now: OffsetDateTime,
) -> Result<IssuedToken> {
    let by: Issuer = by.into();
    let allowed = match by.role {
        Role::GlobalAdmin => true,
        Role::TenantAdmin => {
            spec.role != Role::GlobalAdmin
                && !spec.tenants.is_empty()
                && scope::within(&by.tenants, &spec.tenants)
        }
        Role::ReadOnly => false,
    };
    if !allowed {
        return Err(ServiceError::InvalidInput(
            "role: a token cannot grant more than its creator holds".into(),
        ));
    }
    let issued = new_record(spec, by.actor.clone(), now)?;
    let audit = audit_event(
        by.actor,
        "api_token.create",
        format!("api-tokens/{}", issued.record.id),
        None,
        (None, Some(public_view(&issued.record))),
        context,
        now,
    )?;
    store.create_api_token(&issued.record, &audit).await?;
    Ok(issued)
}

/// The creator and audit actor of tokens made by the operator's own tools on the server (`tessera demo`).
pub const OPERATOR: &str = "operator";

/// Issues a token on the operator's behalf (the demo's token scoped to its tenants), with its audit event in the
/// same transaction. Such tokens do not count as an administered installation for [`bootstrap_if_fresh`].
pub async fn issue_by_operator(
    store: &Arc<dyn AdminStore>,
    spec: &NewToken,
    context: &RequestContext,
    now: OffsetDateTime,
) -> Result<IssuedToken> {
    let issued = new_record(spec, OPERATOR.into(), now)?;
    let audit = audit_event(
        OPERATOR.into(),
        "api_token.create",
        format!("api-tokens/{}", issued.record.id),
        None,
        (None, Some(public_view(&issued.record))),
        context,
        now,
    )?;
    store.create_api_token(&issued.record, &audit).await?;
    Ok(issued)
}

/// Authenticates a bearer secret: unknown, expired and revoked tokens are all
/// [`ServiceError::InvalidBearerToken`]. The lookup is by the secret's hash, so no secret is compared byte by byte.
pub async fn authenticate(
    store: &Arc<dyn AdminStore>,
    secret: &str,
    now: OffsetDateTime,
) -> Result<Principal> {
    if !secret.starts_with(SECRET_PREFIX) || secret.len() > 200 {
        return Err(ServiceError::InvalidBearerToken);
    }
    let Some(token) = store.find_api_token(&sha256(secret.as_bytes())).await? else {
        return Err(ServiceError::InvalidBearerToken);
    };
    if token.revoked_at.is_some() || token.expires_at <= now {
        return Err(ServiceError::InvalidBearerToken);
    }
    let role = Role::parse(&token.role)
        .ok_or_else(|| ServiceError::Corrupt(format!("token role {}", token.role)))?;
    if token.last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY) {
        store.touch_api_token(&token.id, now).await?;
    }
    Ok(Principal {
        token_id: token.id,
        role,
        tenants: token.tenants,
    })
}

/// Revokes a token (it stops working at once) and writes the audit event in the same transaction.
pub async fn revoke(
    store: &Arc<dyn AdminStore>,
    by: impl Into<Issuer>,
    id: &str,
    context: &RequestContext,
    now: OffsetDateTime,
) -> Result<()> {
    let by: Issuer = by.into();
    let Some(before) = store.get_api_token(id).await? else {
        return Err(ServiceError::InvalidInput("id: no such API token".into()));
    };
    if !by.sees(&before) {
        return Err(ServiceError::InvalidInput("id: no such API token".into()));
    }
    let mut after = before.clone();
    after.revoked_at = Some(before.revoked_at.unwrap_or(now));
    let audit = audit_event(
        by.actor,
        "api_token.revoke",
        format!("api-tokens/{id}"),
        None,
        (Some(public_view(&before)), Some(public_view(&after))),
        context,
        now,
    )?;
    store.revoke_api_token(id, now, &audit).await?;
    Ok(())
}

/// At first start (no administrator exists and no API token was ever created but by the [`OPERATOR`]), makes a
/// bootstrap token valid [`BOOTSTRAP_LIFETIME`] and returns
/// its secret to print; `None` once the installation has a token. A new start replaces an unused bootstrap token.
pub async fn bootstrap_if_fresh(
    store: &Arc<dyn AdminStore>,
    now: OffsetDateTime,
) -> Result<Option<String>> {
    if store.count_admin_members().await? > 0 {
        return Ok(None);
    }
    // Tokens the operator's own tools made (the demo's) do not make an installation administered.
    if store.count_api_tokens().await? > 0
        && store
            .list_api_tokens()
            .await?
            .iter()
            .any(|t| t.created_by != OPERATOR)
    {
        return Ok(None);
    }
    let secret = format!("tsb_{}", random_token(32)?);
    store
        .put_bootstrap_token(&sha256(secret.as_bytes()), now + BOOTSTRAP_LIFETIME)
        .await?;
    Ok(Some(secret))
}

/// Exchanges the bootstrap token for the first global-admin API token, once: a used, replaced or expired bootstrap
/// token is [`ServiceError::InvalidBearerToken`] and nothing is written.
pub async fn redeem_bootstrap(
    store: &Arc<dyn AdminStore>,
    bootstrap_secret: &str,
    name: &str,
    context: &RequestContext,
    now: OffsetDateTime,
) -> Result<IssuedToken> {
    let spec = NewToken {
        name: name.into(),
        role: Role::GlobalAdmin,
        tenants: Vec::new(),
        lifetime: FIRST_TOKEN_LIFETIME,
    };
    let issued = new_record(&spec, "bootstrap".into(), now)?;
    let audit = audit_event(
        "bootstrap".into(),
        "bootstrap.redeem",
        format!("api-tokens/{}", issued.record.id),
        None,
        (None, Some(public_view(&issued.record))),
        context,
        now,
    )?;
    let redeemed = store
        .redeem_bootstrap_token(
            &sha256(bootstrap_secret.as_bytes()),
            now,
            &issued.record,
            &audit,
        )
        .await?;
    if redeemed {
        Ok(issued)
    } else {
        Err(ServiceError::InvalidBearerToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_store_sqlite::SqliteStore;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

    async fn store() -> (Arc<dyn AdminStore>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("dir");
        let store = SqliteStore::open(&dir.path().join("t.db"))
            .await
            .expect("open");
        (Arc::new(store), dir)
    }

    #[tokio::test]
    async fn operator_tokens_do_not_end_the_bootstrap_but_an_admin_token_does() {
        let (store, _dir) = store().await;
        let ctx = RequestContext::default();
        let spec = NewToken {
            name: "demo".into(),
            role: Role::TenantAdmin,
            tenants: vec!["mytenant".into()],
            lifetime: Duration::days(30),
        };
        let demo = issue_by_operator(&store, &spec, &ctx, NOW)
            .await
            .expect("operator token");
        assert_eq!(demo.record.created_by, OPERATOR);
        let boot = bootstrap_if_fresh(&store, NOW)
            .await
            .expect("boot")
            .expect("still fresh: only the operator's token exists");
        redeem_bootstrap(&store, &boot, "first", &ctx, NOW)
            .await
            .expect("redeem");
        assert!(
            bootstrap_if_fresh(&store, NOW)
                .await
                .expect("boot")
                .is_none()
        );
    }

    #[tokio::test]
    async fn bootstrap_token_is_single_use_and_then_no_new_one_is_made() {
        let (store, _dir) = store().await;
        let boot = bootstrap_if_fresh(&store, NOW)
            .await
            .expect("boot")
            .expect("fresh");
        let ctx = RequestContext::default();
        let first = redeem_bootstrap(&store, &boot, "first", &ctx, NOW)
            .await
            .expect("redeem");
        let principal = authenticate(&store, &first.secret, NOW)
            .await
            .expect("auth");
        assert_eq!(principal.role, Role::GlobalAdmin);
        assert!(matches!(
            redeem_bootstrap(&store, &boot, "again", &ctx, NOW).await,
            Err(ServiceError::InvalidBearerToken)
        ));
        assert_eq!(
            bootstrap_if_fresh(&store, NOW).await.expect("second start"),
            None
        );
        assert!(!format!("{first:?}").contains(&first.secret));
    }

    #[tokio::test]
    async fn expired_bootstrap_token_is_refused() {
        let (store, _dir) = store().await;
        let boot = bootstrap_if_fresh(&store, NOW)
            .await
            .expect("boot")
            .expect("fresh");
        assert!(matches!(
            redeem_bootstrap(
                &store,
                &boot,
                "late",
                &RequestContext::default(),
                NOW + BOOTSTRAP_LIFETIME
            )
            .await,
            Err(ServiceError::InvalidBearerToken)
        ));
    }

    #[tokio::test]
    async fn expired_revoked_and_unknown_tokens_do_not_authenticate() {
        let (store, _dir) = store().await;
        let boot = bootstrap_if_fresh(&store, NOW)
            .await
            .expect("boot")
            .expect("fresh");
        let ctx = RequestContext::default();
        let admin = redeem_bootstrap(&store, &boot, "first", &ctx, NOW)
            .await
            .expect("redeem");
        let root = authenticate(&store, &admin.secret, NOW)
            .await
            .expect("auth");
        let spec = NewToken {
            name: "ci".into(),
            role: Role::TenantAdmin,
            tenants: vec!["contoso".into()],
            lifetime: Duration::hours(1),
        };
        let token = issue(&store, &root, &spec, &ctx, NOW).await.expect("issue");
        let scoped = authenticate(&store, &token.secret, NOW)
            .await
            .expect("auth");
        assert!(scoped.sees_tenant(None, "contoso") && !scoped.sees_tenant(None, "fabrikam"));
        assert!(matches!(
            authenticate(&store, &token.secret, NOW + Duration::hours(1)).await,
            Err(ServiceError::InvalidBearerToken)
        ));
        revoke(&store, &root, &token.record.id, &ctx, NOW)
            .await
            .expect("revoke");
        assert!(matches!(
            authenticate(&store, &token.secret, NOW).await,
            Err(ServiceError::InvalidBearerToken)
        ));
        assert!(matches!(
            authenticate(&store, "tsr_not-a-token", NOW).await,
            Err(ServiceError::InvalidBearerToken)
        ));
        let escalate = NewToken {
            role: Role::GlobalAdmin,
            tenants: Vec::new(),
            ..spec
        };
        let scoped_writer = Principal {
            role: Role::TenantAdmin,
            ..scoped
        };
        assert!(
            issue(&store, &scoped_writer, &escalate, &ctx, NOW)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn portal_admins_issue_and_revoke_within_their_role_only() {
        let (store, _dir) = store().await;
        let ctx = RequestContext::default();
        let admin = |role, tenants: &[&str]| super::super::members::Admin {
            user_id: "u1".into(),
            username: "ann".into(),
            role,
            tenants: tenants.iter().map(|t| (*t).to_owned()).collect(),
        };
        let spec = |role, tenants: &[&str]| NewToken {
            name: "automation".into(),
            role,
            tenants: tenants.iter().map(|t| (*t).to_owned()).collect(),
            lifetime: Duration::days(1),
        };
        let global = admin(Role::GlobalAdmin, &[]);
        let token = issue(&store, &global, &spec(Role::GlobalAdmin, &[]), &ctx, NOW)
            .await
            .expect("a global admin issues a global token");
        assert_eq!(token.record.created_by, "admin:ann");
        let principal = authenticate(&store, &token.secret, NOW)
            .await
            .expect("it works");
        assert_eq!(principal.role, Role::GlobalAdmin);
        // A portal admin's token ends the bootstrap like any administrator's.
        assert_eq!(bootstrap_if_fresh(&store, NOW).await.expect("boot"), None);

        let tenant_admin = admin(Role::TenantAdmin, &["contoso"]);
        for refused in [
            spec(Role::GlobalAdmin, &[]),
            spec(Role::TenantAdmin, &["fabrikam"]),
            spec(Role::TenantAdmin, &["contoso", "fabrikam"]),
        ] {
            assert!(matches!(
                issue(&store, &tenant_admin, &refused, &ctx, NOW).await,
                Err(ServiceError::InvalidInput(m)) if m.starts_with("role:")
            ));
        }
        let own = issue(
            &store,
            &tenant_admin,
            &spec(Role::TenantAdmin, &["contoso"]),
            &ctx,
            NOW,
        )
        .await
        .expect("within its tenants");
        let reader = admin(Role::ReadOnly, &[]);
        assert!(
            issue(
                &store,
                &reader,
                &spec(Role::ReadOnly, &["contoso"]),
                &ctx,
                NOW
            )
            .await
            .is_err()
        );

        // Another admin's token is not theirs to revoke; their own is, and it stops working at once.
        let other = super::super::members::Admin {
            username: "bob".into(),
            ..tenant_admin.clone()
        };
        assert!(
            revoke(&store, &other, &own.record.id, &ctx, NOW)
                .await
                .is_err()
        );
        revoke(&store, &tenant_admin, &own.record.id, &ctx, NOW)
            .await
            .expect("revoke its own");
        assert!(matches!(
            authenticate(&store, &own.secret, NOW).await,
            Err(ServiceError::InvalidBearerToken)
        ));
        let events = store
            .list_audit_events(&tessera_store::AuditFilter::default(), None, 10)
            .await
            .expect("audit");
        assert!(
            events
                .events
                .iter()
                .any(|e| e.action == "api_token.revoke" && e.actor == "admin:ann")
        );
    }
}
