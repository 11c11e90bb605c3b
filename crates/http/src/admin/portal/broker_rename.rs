//! Renaming a broker tenant (`/admin/broker/{tenant}/rename`): its display name, in a form that carries the
//! revision it was shown at, so a save based on an older revision is refused with the current name instead of
//! overwriting someone else's change. The same `tessera_service::broker::tenants::update_broker_tenant` call and
//! audit event (`broker.tenant.update`) as the API's `PATCH /broker/tenants/{tenant}`.

use axum::Router;
use axum::extract::{Path, RawForm, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tessera_core::TenantId;
use tessera_service::ServiceError;
use tessera_service::admin::audit::actions;
use tessera_service::broker::tenants as broker_tenants;
use tessera_store::BrokerTenant;

use super::authenticator::audit_change;
use super::broker::Submitted;
use super::views::{Field, FormPage, Frame, Link, place_error};
use super::{Ctx, ROOT, not_found, see_other};
use crate::admin::api::broker::broker_tenant_view;
use crate::common::reply::PageError;
use crate::common::state::AppState;
use crate::common::views::render;

/// The rename routes of broker tenants.
pub fn router() -> Router<AppState> {
    Router::new().route("/admin/broker/{tenant}/rename", get(form).post(save))
}

/// The conflict answer: the tenant changed since the form was opened.
const CHANGED: &str = "Someone else changed this broker tenant since you opened this page, so nothing was saved. \
                       The form now shows its current name: make your change again and save.";

fn page_error(error: ServiceError) -> Response {
    match error {
        ServiceError::BrokerTenantNotFound => not_found(),
        other => PageError::from(other).into_response(),
    }
}

fn fields(display_name: &str, revision: &str) -> Vec<Field> {
    vec![
        Field::text("version", "", revision, "").kind("hidden"),
        Field::text(
            "display_name",
            "Display name",
            display_name,
            "Shown on the broker's sign-in pages.",
        )
        .required(),
    ]
}

fn current_fields(tenant: &BrokerTenant) -> Vec<Field> {
    fields(&tenant.display_name, &tenant.revision.to_string())
}

fn form_page(
    ctx: &Ctx,
    tenant: &TenantId,
    fields: Vec<Field>,
    form_error: Option<String>,
    status: StatusCode,
) -> Response {
    let here = format!("{ROOT}/broker/{tenant}/");
    render(
        &FormPage {
            frame: Frame::new(
                ctx,
                "Rename broker tenant",
                vec![
                    Link::new(format!("{ROOT}/"), "Home", "crumb-home"),
                    Link::new(
                        here.clone(),
                        format!("Broker tenant {tenant}"),
                        "crumb-tenant",
                    ),
                ],
            ),
            heading: format!("Rename broker tenant {tenant}"),
            intro: vec![
                "The display name only: the tenant id stays, and so do the URLs that contain it."
                    .into(),
            ],
            form_id: "rename-form".into(),
            action: format!("{ROOT}/broker/{tenant}/rename"),
            fields,
            form_error,
            submit: "Save".into(),
            submit_id: "rename-save".into(),
            cancel: Some(here),
        },
        status,
        ctx.set_csrf.clone(),
    )
}

/// `GET /admin/broker/{tenant}/rename`: the form, with the current name and revision.
async fn form(State(app): State<AppState>, ctx: Ctx, Path(tenant): Path<String>) -> Response {
    let id = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match broker_tenants::get_broker_tenant(app.broker.store.as_ref(), &id).await {
        Ok(record) => form_page(&ctx, &id, current_fields(&record), None, StatusCode::OK),
        Err(e) => page_error(e),
    }
}

/// `POST /admin/broker/{tenant}/rename`: saves the name, if the tenant is still at the form's revision.
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
    let store = app.broker.store.as_ref();
    let existing = match broker_tenants::get_broker_tenant(store, &id).await {
        Ok(record) => record,
        Err(e) => return page_error(e),
    };
    let conflict = |current: &BrokerTenant| {
        form_page(
            &ctx,
            &id,
            current_fields(current),
            Some(CHANGED.into()),
            StatusCode::CONFLICT,
        )
    };
    // A missing or garbled version is no version this page showed: treated as changed meanwhile.
    let Ok(based_on) = form.get("version").parse::<u64>() else {
        return conflict(&existing);
    };
    let update = broker_tenants::BrokerTenantUpdate {
        display_name: Some(form.get("display_name")),
    };
    match broker_tenants::update_broker_tenant(store, &id, based_on, &update).await {
        Ok(changed) => {
            app.broker.cache.invalidate(&id);
            let json = |t: &BrokerTenant| serde_json::to_value(broker_tenant_view(t)).ok();
            if let Err(r) = audit_change(
                &app,
                &ctx,
                actions::BROKER_TENANT_UPDATE,
                format!("broker/{id}"),
                &id,
                (json(&existing), json(&changed)),
            )
            .await
            {
                return r;
            }
            see_other(&format!("{ROOT}/broker/{id}/?done=saved"))
        }
        Err(ServiceError::BrokerTenantChanged) => {
            match broker_tenants::get_broker_tenant(store, &id).await {
                Ok(current) => conflict(&current),
                Err(e) => page_error(e),
            }
        }
        Err(e) => {
            let mut fields = fields(&form.get("display_name"), &form.get("version"));
            match place_error(&mut fields, e) {
                Ok(form_error) => form_page(
                    &ctx,
                    &id,
                    fields,
                    form_error,
                    StatusCode::UNPROCESSABLE_ENTITY,
                ),
                Err(page) => (*page).into_response(),
            }
        }
    }
}
