//! Deleting what cannot be brought back, each behind a confirmation: a tenant of either role (global admins only;
//! refused while it still holds anything unless "Delete with everything in it" is chosen) and a broker user flow
//! with all its versions. The same `tessera_service` calls as the API's `DELETE` operations; each form carries the
//! version of the object it was shown at, so a deletion based on an older version is refused.

use axum::Router;
use axum::extract::{Path, RawForm, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tessera_broker::config::PolicyId;
use tessera_core::TenantId;
use tessera_service::ServiceError;
use tessera_service::admin::audit::actions;
use tessera_service::admin::members;
use tessera_service::broker::{flows, tenants as broker_tenants};
use tessera_service::tenants;

use super::authenticator::audit_change;
use super::broker::Submitted;
use super::views::{Button, Section};
use super::{Ctx, ROOT, not_found, see_other};
use crate::common::reply::PageError;
use crate::common::state::AppState;

/// The deletion routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/authenticator/{tenant}/delete",
            post(delete_authenticator_tenant),
        )
        .route("/admin/broker/{tenant}/delete", post(delete_broker_tenant))
        .route(
            "/admin/broker/{tenant}/user-flows/{policy}/delete",
            post(delete_flow),
        )
}

/// The "Delete tenant" section of a tenant's page, for global admins who may write: "Delete" (refused while the
/// tenant holds anything) and "Delete with everything in it", each asking first. `holds` says what would go.
pub fn tenant_delete_section(
    ctx: &Ctx,
    action: String,
    revision: u64,
    holds: &str,
) -> Option<Section> {
    if !(ctx.admin.is_global() && ctx.admin.can_write()) {
        return None;
    }
    let hidden = |force: &str| {
        vec![
            ("version".to_owned(), revision.to_string()),
            ("force".to_owned(), force.to_owned()),
        ]
    };
    Some(Section {
        heading: "Delete tenant".into(),
        id: "tenant-delete".into(),
        facts: vec![(
            "What it ends".into(),
            format!(
                "A tenant that still has {holds} is kept unless you delete it with everything in it: then all of \
                 that goes too, with its signing keys, sessions and tokens. This cannot be undone."
            ),
        )],
        buttons: vec![
            Button {
                action: action.clone(),
                label: "Delete".into(),
                id: "delete-tenant".into(),
                hidden: hidden("no"),
                danger: true,
            },
            Button {
                action,
                label: "Delete with everything in it".into(),
                id: "delete-tenant-force".into(),
                hidden: hidden("yes"),
                danger: true,
            },
        ],
        ..Section::default()
    })
}

/// The "Delete" section of a user flow's page, for administrators who may write.
pub fn flow_delete_section(ctx: &Ctx, action: String, version: u32) -> Option<Section> {
    if !ctx.admin.can_write() {
        return None;
    }
    Some(Section {
        heading: "Delete user flow".into(),
        id: "flow-delete".into(),
        facts: vec![(
            "What it ends".into(),
            "All its versions go; sign-ins in progress on it fail and ask the user to start again, and \
             applications can no longer use it. This cannot be undone."
                .into(),
        )],
        buttons: vec![Button {
            action,
            label: "Delete".into(),
            id: "delete-flow".into(),
            hidden: vec![("version".to_owned(), version.to_string())],
            danger: true,
        }],
        ..Section::default()
    })
}

/// A page saying nothing was done, with the reason and a way back.
fn refused(status: StatusCode, title: &str, detail: &str, back: String) -> Response {
    PageError::new(status, title, detail)
        .with_link(back, "Go back")
        .into_response()
}

fn changed_meanwhile(what: &str, back: String) -> Response {
    refused(
        StatusCode::CONFLICT,
        &format!("This {what} changed meanwhile"),
        &format!(
            "Someone else changed this {what} since you opened its page, so nothing was deleted. Look at it again \
             and decide anew."
        ),
        back,
    )
}

fn not_empty(error: &ServiceError, back: String) -> Response {
    let text = error.to_string();
    let mut detail = String::with_capacity(text.len() + 1);
    let mut chars = text.chars();
    if let Some(first) = chars.next() {
        detail.extend(first.to_uppercase());
        detail.push_str(chars.as_str());
    }
    detail.push('.');
    refused(StatusCode::CONFLICT, "Not deleted", &detail, back)
}

/// The checks every deletion form passes: CSRF, a tenant the administrator may change, and (for tenants) a global
/// admin.
fn writable(
    ctx: &Ctx,
    form: &Submitted,
    tenant: &str,
    global: bool,
) -> Result<TenantId, Box<Response>> {
    ctx.verify_form(form.csrf())?;
    let id = ctx.write(tenant)?;
    if global {
        ctx.global()?;
    }
    Ok(id)
}

/// `POST /admin/authenticator/{tenant}/delete` (`force=yes` deletes it with everything in it).
async fn delete_authenticator_tenant(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    let id = match writable(&ctx, &form, &tenant, true) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let back = format!("{ROOT}/authenticator/{id}/");
    let existing = match members::authenticator_tenant(app.provider.store.as_ref(), &id).await {
        Ok(t) => t,
        Err(ServiceError::TenantNotFound) => return not_found(),
        Err(e) => return PageError::from(e).into_response(),
    };
    if form.get("version") != existing.revision.to_string() {
        return changed_meanwhile("tenant", back);
    }
    let force = form.get("force") == "yes";
    let held = match tenants::delete_tenant(app.provider.store.as_ref(), &id, force).await {
        Ok(held) => held,
        Err(e @ ServiceError::TenantNotEmpty { .. }) => return not_empty(&e, back),
        Err(ServiceError::TenantNotFound) => return not_found(),
        Err(e) => return PageError::from(e).into_response(),
    };
    app.provider.tenants.invalidate(&id);
    let before = serde_json::json!({
        "id": id.as_str(),
        "display_name": existing.display_name,
        "rp_id": existing.rp_id,
        "origins": existing.origins,
        "revision": existing.revision,
        "deleted_with_it": { "clients": held.clients, "users": held.users },
    });
    let action = if force {
        actions::TENANT_DELETE_FORCE
    } else {
        actions::TENANT_DELETE
    };
    if let Err(r) = audit_change(
        &app,
        &ctx,
        action,
        format!("tenants/{id}"),
        &id,
        (Some(before), None),
    )
    .await
    {
        return r;
    }
    see_other(&format!("{ROOT}/"))
}

/// `POST /admin/broker/{tenant}/delete` (`force=yes` deletes it with everything in it).
async fn delete_broker_tenant(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    let id = match writable(&ctx, &form, &tenant, true) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let back = format!("{ROOT}/broker/{id}/");
    let existing = match broker_tenants::get_broker_tenant(app.broker.store.as_ref(), &id).await {
        Ok(t) => t,
        Err(ServiceError::BrokerTenantNotFound) => return not_found(),
        Err(e) => return PageError::from(e).into_response(),
    };
    if form.get("version") != existing.revision.to_string() {
        return changed_meanwhile("tenant", back);
    }
    let force = form.get("force") == "yes";
    let held =
        match broker_tenants::delete_broker_tenant(app.broker.store.as_ref(), &id, force).await {
            Ok(held) => held,
            Err(e @ ServiceError::BrokerTenantNotEmpty { .. }) => return not_empty(&e, back),
            Err(ServiceError::BrokerTenantNotFound) => return not_found(),
            Err(e) => return PageError::from(e).into_response(),
        };
    app.broker.cache.invalidate(&id);
    let before = serde_json::json!({
        "id": id.as_str(),
        "display_name": existing.display_name,
        "revision": existing.revision,
        "deleted_with_it": {
            "applications": held.applications,
            "identity_providers": held.identity_providers,
            "user_flows": held.user_flows,
            "directory_users": held.directory_users,
        },
    });
    let action = if force {
        actions::BROKER_TENANT_DELETE_FORCE
    } else {
        actions::BROKER_TENANT_DELETE
    };
    if let Err(r) = audit_change(
        &app,
        &ctx,
        action,
        format!("broker/{id}"),
        &id,
        (Some(before), None),
    )
    .await
    {
        return r;
    }
    see_other(&format!("{ROOT}/"))
}

/// `POST /admin/broker/{tenant}/user-flows/{policy}/delete`.
async fn delete_flow(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, policy)): Path<(String, String)>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    let id = match writable(&ctx, &form, &tenant, false) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let Ok(policy) = PolicyId::parse(&policy) else {
        return not_found();
    };
    let flow = match flows::get_user_flow(app.broker.store.as_ref(), &id, &policy).await {
        Ok(f) => f,
        Err(ServiceError::BrokerTenantNotFound | ServiceError::FlowNotFound) => return not_found(),
        Err(e) => return PageError::from(e).into_response(),
    };
    let current = flow.current().number();
    if form.get("version") != current.to_string() {
        return changed_meanwhile(
            "user flow",
            format!("{ROOT}/broker/{id}/user-flows/{}", flow.policy()),
        );
    }
    match flows::delete_user_flow(app.broker.store.as_ref(), &id, flow.policy()).await {
        Ok(()) => {}
        Err(ServiceError::BrokerTenantNotFound | ServiceError::FlowNotFound) => return not_found(),
        Err(e) => return PageError::from(e).into_response(),
    }
    app.broker.cache.invalidate(&id);
    let before = serde_json::json!({
        "name": flow.policy().to_string(),
        "current_version": current,
        "versions": flow.versions().count(),
    });
    if let Err(r) = audit_change(
        &app,
        &ctx,
        actions::BROKER_USER_FLOW_DELETE,
        format!("broker/{id}/user-flows/{}", flow.policy()),
        &id,
        (Some(before), None),
    )
    .await
    {
        return r;
    }
    see_other(&format!("{ROOT}/broker/{id}/user-flows?done=deleted"))
}
