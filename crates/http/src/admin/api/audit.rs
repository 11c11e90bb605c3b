//! The audit trail (`/audit-events`): every change made through the admin API, newest first, filtered by actor,
//! action (prefix), tenant and time, and cursor-paged. A tenant-limited token sees its tenants' events only.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use tessera_service::admin::audit;
use tessera_store::{AuditEvent, AuditFilter};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use super::extract::{Caller, PageQuery};
use super::problem::Problem;
use super::state::ApiState;
use super::views::{page_of, rfc3339};

/// One change.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEventView {
    /// Its id (time-ordered).
    pub id: String,
    /// When (RFC 3339).
    pub at: String,
    /// Who (`token:tok_...`, `bootstrap`).
    pub actor: String,
    /// What (`broker.provider.create`, `api_token.revoke`, ...).
    pub action: String,
    /// The object (`broker/contoso/identity-providers/acme`).
    pub target: String,
    /// Its tenant.
    pub tenant: Option<String>,
    /// The object before the change, without secrets.
    pub before: Option<serde_json::Value>,
    /// The object after the change, without secrets.
    pub after: Option<serde_json::Value>,
    /// The request's id (`x-request-id`).
    pub request_id: Option<String>,
    /// The client's address.
    pub client_address: Option<String>,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            at: rfc3339(e.at),
            actor: e.actor,
            action: e.action,
            target: e.target,
            tenant: e.tenant,
            before: e.before,
            after: e.after,
            request_id: e.request_id,
            client_address: e.client_address,
        }
    }
}

page_of!(AuditEventPage, AuditEventView, "audit events, newest first");

/// The filters of the audit trail.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Exactly this actor (`token:tok_...`).
    pub actor: Option<String>,
    /// Actions starting with this (`broker.` lists every broker change).
    pub action: Option<String>,
    /// Exactly this tenant.
    pub tenant: Option<String>,
    /// At or after this time (RFC 3339).
    pub since: Option<String>,
    /// Before this time (RFC 3339).
    pub until: Option<String>,
}

fn time_param(value: Option<&str>, name: &str) -> Result<Option<OffsetDateTime>, Problem> {
    value
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339).map_err(|_| {
                Problem::invalid_field(name, "an RFC 3339 time such as 2026-12-02T16:00:00Z")
            })
        })
        .transpose()
}

/// Lists audit events, newest first.
#[utoipa::path(get, path = "/audit-events", tag = "audit",
    params(AuditQuery, PageQuery),
    responses(
        (status = 200, description = "A page of events", body = AuditEventPage),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`tenant` names a tenant the token does not see", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    Query(filter): Query<AuditQuery>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<AuditEventPage>, Problem> {
    // Another tenant's trail does not exist for a tenant admin (404, as its objects), rather than an empty page.
    if let Some(tenant) = &filter.tenant {
        caller.require_tenant(tenant)?;
    }
    let filter = AuditFilter {
        actor: filter.actor.clone(),
        action_prefix: filter.action.clone(),
        tenant: filter.tenant.clone(),
        tenants: None,
        since: time_param(filter.since.as_deref(), "since")?,
        until: time_param(filter.until.as_deref(), "until")?,
    };
    let after = paging.after()?;
    let page = audit::list(
        &state.admin,
        &caller.principal,
        filter,
        after.as_deref(),
        paging.limit()?,
    )
    .await?;
    Ok(Json(AuditEventPage {
        items: page.events.into_iter().map(Into::into).collect(),
        next_cursor: page.next.as_deref().map(super::extract::cursor_of),
    }))
}

/// Records the audit event of a change made by `caller`.
pub async fn record(
    state: &ApiState,
    caller: &Caller,
    change: audit::Change,
) -> Result<(), Problem> {
    audit::record(
        &state.admin,
        &caller.principal,
        change,
        &caller.context,
        state.now(),
    )
    .await?;
    Ok(())
}

/// A view as audit JSON.
pub fn json<T: Serialize>(view: &T) -> Option<serde_json::Value> {
    serde_json::to_value(view).ok()
}
