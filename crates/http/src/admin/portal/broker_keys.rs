//! A broker tenant's signing keys (`/admin/broker/{tenant}/keys`), which sign its applications' tokens: each key's
//! id, algorithm, state and dates, newest first, and "Rotate keys" behind a confirmation page (published first, or
//! at once for a suspected compromise). The same `tessera_service::broker::tenants` calls as the API's; mirrors
//! [`super::keys`] of an authenticator tenant.

use std::collections::HashMap;
use tessera_service::admin::audit::actions;

use axum::Router;
use axum::extract::{Path, Query, RawForm, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tessera_core::TenantId;
use tessera_service::ServiceError;
use tessera_service::broker::tenants as broker_tenants;
use tessera_service::keys::Rotation;

use super::authenticator::audit_change;
use super::broker::{Submitted, page_number, paged};
use super::views::{Choice, Field, FormPage, Frame, Link, ListPage};
use super::{Ctx, ROOT, not_found, see_other};
use crate::common::reply::PageError;
use crate::common::state::AppState;
use crate::common::views::render;

/// The signing-key routes of broker tenants.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/broker/{tenant}/keys", get(list))
        .route(
            "/admin/broker/{tenant}/keys/rotate",
            get(confirm).post(rotate),
        )
}

fn page_error(error: ServiceError) -> Response {
    match error {
        ServiceError::BrokerTenantNotFound => not_found(),
        other => PageError::from(other).into_response(),
    }
}

fn crumbs(tenant: &TenantId) -> Vec<Link> {
    vec![
        Link::new(format!("{ROOT}/"), "Home", "crumb-home"),
        Link::new(
            format!("{ROOT}/broker/{tenant}/"),
            format!("Broker tenant {tenant}"),
            "crumb-tenant",
        ),
    ]
}

/// `GET /admin/broker/{tenant}/keys[?page=][&done=rotated]`.
async fn list(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let id = match ctx.see(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let mut stored = match broker_tenants::list_broker_keys(app.broker.store.as_ref(), &id).await {
        Ok(k) => k,
        Err(e) => return page_error(e),
    };
    stored.reverse();
    let base = format!("{ROOT}/broker/{id}/keys");
    let filtered = super::keys::KeyFilters::from_params(&params);
    stored.retain(|k| filtered.filter.matches(k));
    let (rows, next, first) = paged(stored, page_number(&params), &filtered.list(&base));
    let rows = super::keys::key_rows(&rows);
    let mut actions = Vec::new();
    if ctx.admin.can_write() {
        actions.push(Link::new(
            format!("{base}/rotate"),
            "Rotate keys",
            "rotate-keys",
        ));
    }
    let notice = params.get("done").map(|_| {
        "New keys made. Applications' tokens are signed with them once they are published (at once if you chose so); the old keys stay published for a day."
            .to_owned()
    });
    render(
        &ListPage {
            frame: Frame::new(&ctx, "Signing keys", crumbs(&id)).with_notice(notice),
            heading: format!("Signing keys of broker tenant {id}"),
            list_id: "signing-keys".into(),
            intro: vec![
                "The keys this broker tenant signs its applications' ID and access tokens with, newest first. Retired keys stay in its JWKS for a day, the longest token lifetime, so tokens they signed keep verifying."
                    .into(),
            ],
            actions,
            filters: filtered.fields(&params),
            columns: vec![
                "Key id (kid)".into(),
                "Algorithm".into(),
                "State".into(),
                "Created".into(),
                "Retired".into(),
            ],
            rows,
            empty: filtered.empty(),
            next,
            first,
        },
        filtered.status(),
        ctx.set_csrf.clone(),
    )
}

/// `GET /admin/broker/{tenant}/keys/rotate`: the confirmation.
async fn confirm(State(app): State<AppState>, ctx: Ctx, Path(tenant): Path<String>) -> Response {
    let id = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    if let Err(e) = broker_tenants::get_broker_tenant(app.broker.store.as_ref(), &id).await {
        return page_error(e);
    }
    let mut crumbs = crumbs(&id);
    crumbs.push(Link::new(
        format!("{ROOT}/broker/{id}/keys"),
        "Signing keys",
        "crumb-keys",
    ));
    FormPage {
        frame: Frame::new(&ctx, "Rotate keys", crumbs),
        heading: format!("Rotate the signing keys of broker tenant {id}?"),
        intro: vec![
            "This makes a new RS256 and a new ES256 key for applications' tokens. The current keys are retired when the new ones start signing and stay published for a day, so tokens they signed keep verifying."
                .into(),
        ],
        form_id: "rotate-form".into(),
        action: format!("{ROOT}/broker/{id}/keys/rotate"),
        fields: vec![
            Field::text("rotation", "When the new keys sign", "", "").choices(
                "radios",
                vec![
                    Choice::new(
                        "staged",
                        "After seven minutes, once every application can have fetched them (recommended)",
                        true,
                    ),
                    Choice::new(
                        "immediate",
                        "At once: a key may be compromised (applications with an older key set fail until they fetch it again)",
                        false,
                    ),
                ],
            ),
        ],
        form_error: None,
        submit: "Yes, rotate the keys".into(),
        submit_id: "rotate-confirm".into(),
        cancel: Some(format!("{ROOT}/broker/{id}/keys")),
    }
    .respond(ctx.set_csrf.clone())
}

/// `POST /admin/broker/{tenant}/keys/rotate`.
async fn rotate(
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
    let immediate = form.get("rotation") == "immediate";
    let rotation = if immediate {
        Rotation::Immediate
    } else {
        Rotation::Staged
    };
    let kids = match broker_tenants::rotate_broker_keys(
        app.broker.store.as_ref(),
        &app.broker.master_key,
        &id,
        rotation,
        app.broker.clock.now(),
    )
    .await
    {
        Ok(kids) => kids,
        Err(e) => return page_error(e),
    };
    app.broker.cache.invalidate(&id);
    if let Err(r) = audit_change(
        &app,
        &ctx,
        actions::BROKER_TENANT_KEYS_ROTATE,
        format!("broker/{id}/keys"),
        &id,
        (
            None,
            Some(serde_json::json!({ "kids": kids, "immediate": immediate })),
        ),
    )
    .await
    {
        return r;
    }
    see_other(&format!("{ROOT}/broker/{id}/keys?done=rotated"))
}
