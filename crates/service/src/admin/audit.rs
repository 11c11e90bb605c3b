//! The audit trail of the admin surfaces: recording a change (who, what, when, before/after without secrets,
//! request id, client address) and listing it as a principal may see it (a tenant-limited token sees its tenants'
//! events only).

use std::sync::Arc;

use tessera_store::{AdminStore, AuditFilter, AuditPage};
use time::OffsetDateTime;

use super::api_tokens::{Principal, RequestContext, Role, audit_event};
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
    if !unrestricted {
        filter.tenants = Some(by.tenants.clone());
    }
    Ok(store.list_audit_events(&filter, after, limit).await?)
}
