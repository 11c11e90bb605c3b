//! Editing an authenticator tenant (`/admin/authenticator/{tenant}/edit`): its display name, its WebAuthn origins
//! and its own address (`public_url`), what the API's `PATCH /tenants/{tenant}` changes beside the policy and
//! sessions (those are on [`super::policy`]'s page). Saving goes through `tenants::update_tenant`, which checks each
//! value as the API does; a refusal lands next to its field. The RP ID cannot change (passkeys are bound to it).
//! The form carries the tenant's revision: a save based on an older one is refused with the current values shown.

use axum::Router;
use axum::extract::{Path, RawForm, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tessera_core::TenantId;
use tessera_service::ServiceError;
use tessera_service::admin::audit::actions;
use tessera_service::admin::members;
use tessera_service::tenants::{self, SettingsChange, TenantUpdate};
use tessera_store::Tenant;

use super::authenticator::{audit_change, home_crumb, lines, page_error};
use super::broker::Submitted;
use super::views::{Field, FormPage, Frame, Link, place_error};
use super::{Ctx, ROOT, see_other};
use crate::common::state::AppState;
use crate::common::views::render;

/// The edit routes of authenticator tenants.
pub fn router() -> Router<AppState> {
    Router::new().route("/admin/authenticator/{tenant}/edit", get(form).post(save))
}

/// The conflict answer: the tenant changed since the form was opened.
const CHANGED: &str = "Someone else changed this tenant since you opened this page, so nothing was saved. The \
                       form now shows its current values: make your change again and save.";

/// The tenant's own address, empty when it is served under the service's.
fn own_address(tenant: &Tenant) -> Result<String, ServiceError> {
    tenants::tenant_settings(tenant).map(|s| s.public_url.unwrap_or_default())
}

fn fields(name: &str, origins: &str, public_url: &str, version: &str) -> Vec<Field> {
    vec![
        Field::text("version", "", version, "").kind("hidden"),
        Field::text(
            "display_name",
            "Display name",
            name,
            "Shown on its sign-in pages and in passkey prompts.",
        )
        .required(),
        Field::text(
            "origins",
            "Origins",
            origins,
            "One per line: the addresses its pages are opened at, each within the RP ID.",
        )
        .kind("textarea")
        .required(),
        Field::text(
            "public_url",
            "Own address",
            public_url,
            "Serve the tenant on its own address (https://login.example.com, one of its origins): its issuer is then \
             {address}/oidc. Empty: served under the service's address at /{tenant}/.",
        )
        .kind("url"),
    ]
}

fn current_fields(tenant: &Tenant) -> Result<Vec<Field>, ServiceError> {
    Ok(fields(
        &tenant.display_name,
        &tenant.origins.join("\n"),
        &own_address(tenant)?,
        &tenant.revision.to_string(),
    ))
}

fn snapshot(tenant: &Tenant) -> serde_json::Value {
    serde_json::json!({
        "id": tenant.id.to_string(),
        "display_name": tenant.display_name,
        "rp_id": tenant.rp_id,
        "origins": tenant.origins,
        "public_url": tenants::tenant_settings(tenant).ok().and_then(|s| s.public_url),
    })
}

fn form_page(
    ctx: &Ctx,
    tenant: &TenantId,
    fields: Vec<Field>,
    form_error: Option<String>,
    status: StatusCode,
) -> Response {
    let here = format!("{ROOT}/authenticator/{tenant}/");
    let mut crumbs = home_crumb();
    crumbs.push(Link::new(here.clone(), tenant.to_string(), "crumb-tenant"));
    render(
        &FormPage {
            frame: Frame::new(ctx, "Edit authenticator tenant", crumbs),
            heading: format!("Edit authenticator tenant {tenant}"),
            intro: vec![
                "The RP ID stays: passkeys are bound to it. Its policy and sessions are on the Authenticator policy \
                 page."
                    .into(),
            ],
            form_id: "tenant-edit-form".into(),
            action: format!("{ROOT}/authenticator/{tenant}/edit"),
            fields,
            form_error,
            submit: "Save".into(),
            submit_id: "tenant-edit-save".into(),
            cancel: Some(here),
        },
        status,
        ctx.set_csrf.clone(),
    )
}

/// `GET /admin/authenticator/{tenant}/edit`: the form, with the current values and revision.
async fn form(State(app): State<AppState>, ctx: Ctx, Path(tenant): Path<String>) -> Response {
    let id = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match members::authenticator_tenant(app.provider.store.as_ref(), &id).await {
        Ok(record) => match current_fields(&record) {
            Ok(fields) => form_page(&ctx, &id, fields, None, StatusCode::OK),
            Err(e) => page_error(e),
        },
        Err(e) => page_error(e),
    }
}

/// `POST /admin/authenticator/{tenant}/edit`: saves what changed, if the tenant is still at the form's revision.
async fn save(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    let id = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let store = app.provider.store.as_ref();
    let current = match members::authenticator_tenant(store, &id).await {
        Ok(t) => t,
        Err(e) => return page_error(e),
    };
    if form.get("version") != current.revision.to_string() {
        return match current_fields(&current) {
            Ok(fields) => form_page(
                &ctx,
                &id,
                fields,
                Some(CHANGED.into()),
                StatusCode::CONFLICT,
            ),
            Err(e) => page_error(e),
        };
    }
    let own = match own_address(&current) {
        Ok(own) => own,
        Err(e) => return page_error(e),
    };
    let name = form.get("display_name");
    let origins = lines(&form.get("origins"));
    let public_url = form.get("public_url");
    // Only what changed is sent: an unchanged own address is not checked again against the other tenants'.
    let update = TenantUpdate {
        display_name: (name != current.display_name).then(|| name.clone()),
        origins: (origins != current.origins).then(|| origins.clone()),
        settings: SettingsChange {
            public_url: (public_url != own)
                .then(|| (!public_url.is_empty()).then(|| public_url.clone())),
            ..SettingsChange::default()
        },
        ..TenantUpdate::default()
    };
    if update == TenantUpdate::default() {
        return see_other(&format!("{ROOT}/authenticator/{id}/?done=saved"));
    }
    match tenants::update_tenant_from(store, &id, current.revision, &update).await {
        Err(ServiceError::Changed { .. }) => match store.get_tenant(&id).await {
            Ok(Some(newer)) => match current_fields(&newer) {
                Ok(fields) => form_page(
                    &ctx,
                    &id,
                    fields,
                    Some(CHANGED.into()),
                    StatusCode::CONFLICT,
                ),
                Err(e) => page_error(e),
            },
            Ok(None) => page_error(ServiceError::TenantNotFound),
            Err(e) => page_error(e.into()),
        },
        Ok(changed) => {
            app.provider.tenants.invalidate(&id);
            if let Err(r) = audit_change(
                &app,
                &ctx,
                actions::TENANT_UPDATE,
                format!("tenants/{id}"),
                &id,
                (Some(snapshot(&current)), Some(snapshot(&changed))),
            )
            .await
            {
                return r;
            }
            see_other(&format!("{ROOT}/authenticator/{id}/?done=saved"))
        }
        Err(e) => {
            let mut shown = fields(
                &name,
                &form.get("origins"),
                &public_url,
                &form.get("version"),
            );
            match place_error(&mut shown, e) {
                Ok(form_error) => form_page(
                    &ctx,
                    &id,
                    shown,
                    form_error,
                    StatusCode::UNPROCESSABLE_ENTITY,
                ),
                Err(page) => (*page).into_response(),
            }
        }
    }
}
