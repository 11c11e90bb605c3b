//! Invitations of administrators (`/invitations`, global admins only): a single-use, short-lived link with which
//! one person enrols a passkey at the admin tenant and becomes an administrator with the invitation's role. The
//! link is in the answer of its creation only; only its SHA-256 is stored. Pending invitations are listed (never
//! their link) and can be withdrawn, after which the link fails like an expired one.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tessera_service::admin::members::{self, NewInvitation};
use tessera_store::InvitationCursor;
use utoipa::ToSchema;

use super::extract::{ApiJson, Caller, PageQuery, cursor_of};
use super::filters::RoleQuery;
use super::problem::Problem;
use super::state::ApiState;
use super::tokens::RoleName;
use super::views::{page_of, rfc3339};
use tessera_service::admin::list_filters;

/// A new invitation.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitationBody {
    /// The role the invited person gets.
    pub role: RoleName,
    /// Its tenants (required for `tenant_admin`, refused for `global_admin`): `broker:T` (only the broker's
    /// tenant T), `authenticator:T` (only the authenticator service's) or `T` (both roles' tenants T).
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Minutes until the link stops working (5 to 10080, default 1440: a day).
    #[serde(default)]
    pub expires_in_minutes: Option<u32>,
}

/// An invitation just made: its link, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IssuedInvitationView {
    /// Its public id (`inv_...`), as the audit trail names it.
    pub id: String,
    /// The link to give the invited person: it opens the admin tenant's sign-up page. Not stored, never shown
    /// again; it works once.
    pub invitation_url: String,
    /// The role it grants.
    pub role: String,
    /// The tenants it grants.
    pub tenants: Vec<String>,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
}

/// Invites an administrator (global admins only): a single-use link to the admin tenant's sign-up page.
#[utoipa::path(post, path = "/invitations", tag = "administrators",
    request_body = NewInvitationBody,
    responses(
        (status = 201, description = "The invitation and its link", body = IssuedInvitationView),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a global admin token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_invitation(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewInvitationBody>,
) -> Result<Response, Problem> {
    caller.require_global()?;
    let lifetime = match body.expires_in_minutes {
        Some(minutes) => time::Duration::minutes(i64::from(minutes)),
        None => members::DEFAULT_INVITATION_LIFETIME,
    };
    let issued = members::create_invitation(
        &state.admin,
        caller.principal.actor(),
        NewInvitation {
            role: body.role.into(),
            tenants: body.tenants,
            lifetime,
        },
        &caller.context,
        state.now(),
    )
    .await
    .map_err(|e| match e {
        tessera_service::ServiceError::InvalidInput(m) if m.starts_with("expires_in:") => {
            Problem::invalid_field("expires_in_minutes", super::problem::strip_field(&m))
        }
        other => other.into(),
    })?;
    let view = IssuedInvitationView {
        id: issued.id.clone(),
        invitation_url: issued.link(state.provider.public_url.as_str()),
        role: issued.role.as_str().to_owned(),
        tenants: issued.tenants.clone(),
        expires_at: rfc3339(issued.expires_at),
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// A pending invitation (made, not used, withdrawn or expired): never its link or secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationView {
    /// Its public id (`inv_...`), as the audit trail names it.
    pub id: String,
    /// The role it grants.
    pub role: String,
    /// The tenants it grants.
    pub tenants: Vec<String>,
    /// Who made it (`admin:ann`, `token:tok_...`).
    pub created_by: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
}

impl From<&members::PendingInvitation> for InvitationView {
    fn from(invitation: &members::PendingInvitation) -> Self {
        Self {
            id: invitation.id.clone(),
            role: invitation.role.as_str().to_owned(),
            tenants: invitation.tenants.clone(),
            created_by: invitation.created_by.clone(),
            created_at: rfc3339(invitation.created_at),
            expires_at: rfc3339(invitation.expires_at),
        }
    }
}

page_of!(InvitationPage, InvitationView, "pending invitations");

/// Lists the pending invitations (global admins only), oldest first: what each grants, who made it and until
/// when it works; never a link.
#[utoipa::path(get, path = "/invitations", tag = "administrators",
    params(RoleQuery, PageQuery),
    responses(
        (status = 200, description = "A page of pending invitations", body = InvitationPage),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a global admin token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_invitations(
    State(state): State<ApiState>,
    caller: Caller,
    Query(filter): Query<RoleQuery>,
    Query(query): Query<PageQuery>,
) -> Result<Json<InvitationPage>, Problem> {
    caller.require_global()?;
    let role = list_filters::role(filter.role.as_deref())?;
    let limit = query.limit()?;
    let after = query
        .after()?
        .map(|key| invitation_cursor(&key))
        .transpose()?;
    let pending =
        members::list_invitations(&state.admin, state.now(), role, after.as_ref(), limit).await?;
    Ok(Json(InvitationPage {
        items: pending
            .invitations
            .iter()
            .map(InvitationView::from)
            .collect(),
        next_cursor: pending.next.as_ref().map(|next| {
            cursor_of(&format!(
                "{}:{}",
                next.created_at.unix_timestamp_nanos() / 1000,
                next.id
            ))
        }),
    }))
}

/// The store's cursor from an API cursor's key: the creation time in Unix microseconds and the id (oldest first).
fn invitation_cursor(key: &str) -> Result<InvitationCursor, Problem> {
    let wrong = || Problem::invalid_field("cursor", "not a cursor of this API");
    let (micros, id) = key.split_once(':').ok_or_else(wrong)?;
    let micros: i128 = micros.parse().map_err(|_| wrong())?;
    let created_at =
        time::OffsetDateTime::from_unix_timestamp_nanos(micros * 1000).map_err(|_| wrong())?;
    Ok(InvitationCursor {
        created_at,
        id: id.to_owned(),
    })
}

/// Withdraws a pending invitation (global admins only): its link stops working at once, like an expired one.
#[utoipa::path(delete, path = "/invitations/{id}", tag = "administrators",
    params(("id" = String, Path, description = "The invitation's id (`inv_...`)")),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a global admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No pending invitation has this id (unknown, used, withdrawn or expired)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn withdraw_invitation(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    caller.require_global()?;
    match members::withdraw_invitation(
        &state.admin,
        caller.principal.actor(),
        &id,
        &caller.context,
        state.now(),
    )
    .await?
    {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(Problem::not_found("the invitation")),
    }
}
