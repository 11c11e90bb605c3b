//! Invitations of administrators (`/invitations`, global admins only): a single-use, short-lived link with which
//! one person enrols a passkey at the admin tenant and becomes an administrator with the invitation's role. The
//! link is in the answer of its creation only; only its SHA-256 is stored.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tessera_service::admin::members::{self, NewInvitation};
use utoipa::ToSchema;

use super::extract::{ApiJson, Caller};
use super::problem::Problem;
use super::state::ApiState;
use super::tokens::RoleName;
use super::views::rfc3339;

/// A new invitation.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitationBody {
    /// The role the invited person gets.
    pub role: RoleName,
    /// Its tenants (required for `tenant_admin`, refused for `global_admin`).
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
        state.provider.store.as_ref(),
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
