//! The audit trail of the admin surfaces: recording a change (who, what, when, before/after without secrets,
//! request id, client address) and listing it as a principal may see it (a tenant-limited token sees its tenants'
//! events only).

use std::sync::Arc;

use tessera_store::{AdminStore, AuditFilter, AuditPage};
use time::OffsetDateTime;

use super::api_tokens::{Principal, RequestContext, Role, audit_event};
use super::scope::{Scope, covers, side_of_target};
use crate::Result;

/// One change to record: its action (`broker.provider.create`), target (`broker/contoso/providers/acme`), tenant,
/// and the object before and after, without secrets.
#[derive(Debug, Clone)]
pub struct Change {
    /// What was done.
    pub action: &'static str,
    /// The object changed.
    pub target: String,
    /// The tenant it belongs to.
    pub tenant: Option<String>,
    /// The object before the change (`None` when created).
    pub before: Option<serde_json::Value>,
    /// The object after the change (`None` when deleted).
    pub after: Option<serde_json::Value>,
}

/// Appends the audit event of `change` made by `by`.
pub async fn record(
    store: &Arc<dyn AdminStore>,
    by: &Principal,
    change: Change,
    context: &RequestContext,
    now: OffsetDateTime,
) -> Result<()> {
    let event = audit_event(
        by.actor(),
        change.action,
        change.target,
        change.tenant,
        (change.before, change.after),
        context,
        now,
    )?;
    store.record_audit_event(&event).await?;
    Ok(())
}

/// Lists audit events matching `filter` as `by` may see them: a token limited to tenants sees only events of those
/// tenants.
pub async fn list(
    store: &Arc<dyn AdminStore>,
    by: &Principal,
    mut filter: AuditFilter,
    after: Option<&str>,
    limit: u32,
) -> Result<AuditPage> {
    let unrestricted = by.role == Role::GlobalAdmin || by.tenants.is_empty();
    if unrestricted {
        return Ok(store.list_audit_events(&filter, after, limit).await?);
    }
    filter.tenants = Some(scope_tenant_ids(&by.tenants));
    let mut page = store.list_audit_events(&filter, after, limit).await?;
    page.events
        .retain(|event| event_in_scope(&by.tenants, event));
    Ok(page)
}

/// The tenant ids `scopes` name (`broker:contoso` → `contoso`), each once: what the store filters the trail by.
pub fn scope_tenant_ids(scopes: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = scopes
        .iter()
        .filter_map(|s| Scope::parse(s).ok())
        .map(|s| s.tenant.to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Whether `scopes` see `event`: its tenant, of the role its target names (`broker/...`, `tenants/...`), so that
/// `broker:contoso` does not see the authenticator tenant `contoso`'s trail. The page may then hold fewer events
/// than asked; its cursor still continues after the last event the store read.
pub fn event_in_scope(scopes: &[String], event: &tessera_store::AuditEvent) -> bool {
    event
        .tenant
        .as_deref()
        .is_some_and(|t| covers(scopes, side_of_target(&event.target), t))
}

/// The one vocabulary of audit actions, used by the admin API and the admin portal alike, so that filtering the
/// trail by an action (or a prefix such as `broker.user_flow.`) finds a change wherever it was made. Targets are
/// spelled the API's way too: `tenants/{t}`, `tenants/{t}/policy`, `tenants/{t}/keys`, `tenants/{t}/clients/{c}`,
/// `tenants/{t}/users/{u}`, `tenants/{t}/users/{u}/passkeys/{p}`, `broker/{t}`, `broker/{t}/keys`,
/// `broker/{t}/applications/{a}`, `broker/{t}/identity-providers/{p}`, `broker/{t}/user-flows/{p}`,
/// `broker/{t}/users/{u}`.
pub mod actions {
    /// An authenticator-service tenant was created.
    pub const TENANT_CREATE: &str = "tenant.create";
    /// A tenant's name, origins or settings changed.
    pub const TENANT_UPDATE: &str = "tenant.update";
    /// An empty tenant was deleted.
    pub const TENANT_DELETE: &str = "tenant.delete";
    /// A tenant was deleted with everything it held.
    pub const TENANT_DELETE_FORCE: &str = "tenant.delete.force";
    /// A tenant's WebAuthn policy changed.
    pub const TENANT_POLICY_UPDATE: &str = "tenant.policy.update";
    /// A tenant's signing keys were rotated.
    pub const TENANT_KEYS_ROTATE: &str = "tenant.keys.rotate";
    /// A client was registered.
    pub const CLIENT_CREATE: &str = "client.create";
    /// A client's name or redirect URIs changed.
    pub const CLIENT_UPDATE: &str = "client.update";
    /// A client got a new secret.
    pub const CLIENT_SECRET_REGENERATE: &str = "client.secret.regenerate";
    /// A client was deleted.
    pub const CLIENT_DELETE: &str = "client.delete";
    /// A user was disabled.
    pub const USER_DISABLE: &str = "user.disable";
    /// A user was enabled again.
    pub const USER_ENABLE: &str = "user.enable";
    /// A user was deleted.
    pub const USER_DELETE: &str = "user.delete";
    /// A user's passkey was renamed.
    pub const USER_PASSKEY_RENAME: &str = "user.passkey.rename";
    /// A user's passkey was revoked.
    pub const USER_PASSKEY_REVOKE: &str = "user.passkey.revoke";
    /// A broker tenant was created.
    pub const BROKER_TENANT_CREATE: &str = "broker.tenant.create";
    /// A broker tenant was renamed.
    pub const BROKER_TENANT_UPDATE: &str = "broker.tenant.update";
    /// An empty broker tenant was deleted.
    pub const BROKER_TENANT_DELETE: &str = "broker.tenant.delete";
    /// A broker tenant was deleted with everything it held.
    pub const BROKER_TENANT_DELETE_FORCE: &str = "broker.tenant.delete.force";
    /// A broker tenant's signing keys were rotated.
    pub const BROKER_TENANT_KEYS_ROTATE: &str = "broker.tenant.keys.rotate";
    /// An application was registered.
    pub const BROKER_APPLICATION_CREATE: &str = "broker.application.create";
    /// An application's settings changed.
    pub const BROKER_APPLICATION_UPDATE: &str = "broker.application.update";
    /// An application got a new secret.
    pub const BROKER_APPLICATION_SECRET_REGENERATE: &str = "broker.application.secret.regenerate";
    /// An application was deleted.
    pub const BROKER_APPLICATION_DELETE: &str = "broker.application.delete";
    /// An identity provider was added.
    pub const BROKER_PROVIDER_CREATE: &str = "broker.provider.create";
    /// An identity provider's configuration changed.
    pub const BROKER_PROVIDER_UPDATE: &str = "broker.provider.update";
    /// An identity provider's claim mapping changed.
    pub const BROKER_PROVIDER_CLAIMS_UPDATE: &str = "broker.provider.claims.update";
    /// An identity provider was deleted.
    pub const BROKER_PROVIDER_DELETE: &str = "broker.provider.delete";
    /// A user flow was created.
    pub const BROKER_USER_FLOW_CREATE: &str = "broker.user_flow.create";
    /// A user flow got a new version.
    pub const BROKER_USER_FLOW_UPDATE: &str = "broker.user_flow.update";
    /// A user flow was deleted.
    pub const BROKER_USER_FLOW_DELETE: &str = "broker.user_flow.delete";
    /// A directory user was disabled.
    pub const BROKER_USER_DISABLE: &str = "broker.user.disable";
    /// A directory user was enabled again.
    pub const BROKER_USER_ENABLE: &str = "broker.user.enable";
    /// A directory user was deleted.
    pub const BROKER_USER_DELETE: &str = "broker.user.delete";
}
