//! An authenticator tenant's signing keys (`/admin/authenticator/{tenant}/keys`): each key's id, algorithm, state
//! and dates, newest first, and "Rotate keys" behind a confirmation page (published first, or at once for a
//! suspected compromise). The same `tessera_service::keys` calls as the API's.

use std::collections::HashMap;
use tessera_service::admin::audit::actions;

use axum::extract::{Path, Query, RawForm, State};
use axum::http::StatusCode;
use axum::response::Response;
use tessera_service::admin::list_filters::{self, KeyFilter};
use tessera_service::admin::members;
use tessera_service::keys::{self, Rotation};

use super::authenticator::{audit_change, home_crumb, page_error};
use super::broker::{Submitted, page_number, paged};
use super::views::{Cell, Choice, Field, FormPage, Frame, Link, ListPage, Search, filter_query};
use super::{Ctx, ROOT, see_other};
use crate::admin::api::views::rfc3339;
use crate::common::state::AppState;
use crate::common::views::render;

fn crumbs(tenant: &tessera_core::TenantId) -> Vec<Link> {
    let mut crumbs = home_crumb();
    crumbs.push(Link::new(
        format!("{ROOT}/authenticator/{tenant}/"),
        tenant.to_string(),
        "crumb-tenant",
    ));
    crumbs
}

/// `GET /admin/authenticator/{tenant}/keys[?page=][&done=rotated]`.
pub async fn list(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let id = match ctx.see(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    if let Err(e) = members::authenticator_tenant(app.provider.store.as_ref(), &id).await {
        return page_error(e);
    }
    let mut stored = match keys::list_keys(app.provider.store.as_ref(), &id).await {
        Ok(k) => k,
        Err(e) => return page_error(e),
    };
    stored.reverse();
    let base = format!("{ROOT}/authenticator/{id}/keys");
    let filtered = KeyFilters::from_params(&params);
    stored.retain(|k| filtered.filter.matches(k));
    let (rows, next, first) = paged(stored, page_number(&params), &filtered.list(&base));
    let rows = key_rows(&rows);
    let mut actions = Vec::new();
    if ctx.admin.can_write() {
        actions.push(Link::new(
            format!("{base}/rotate"),
            "Rotate keys",
            "rotate-keys",
        ));
    }
    let notice = params.get("done").map(|_| {
        "New keys made. Tokens are signed with them once they are published (at once if you chose so).".to_owned()
    });
    render(
        &ListPage {
            frame: Frame::new(&ctx, "Signing keys", crumbs(&id)).with_notice(notice),
            heading: format!("Signing keys of {id}"),
            list_id: "signing-keys".into(),
            intro: vec![
                "The keys this tenant signs its ID and access tokens with, newest first. All of them are published in its JWKS until the tokens they signed have expired."
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

/// The filter form of a signing-key list (either role): `status` and `alg`, filtering the whole list before the page
/// is cut, and kept by "Next page".
pub struct KeyFilters {
    /// The filter (a refused value filters nothing).
    pub filter: KeyFilter,
    /// Why `status` was refused.
    status_error: Option<String>,
    /// Why `alg` was refused.
    alg_error: Option<String>,
    /// The filter's part of the list's URL.
    kept: String,
}

impl KeyFilters {
    /// From the page's query parameters.
    pub fn from_params(params: &HashMap<String, String>) -> Self {
        let get = |name: &str| params.get(name).map(String::as_str);
        let status = list_filters::key_status(get("status"));
        let alg = list_filters::key_alg(get("alg"));
        Self {
            status_error: status.as_ref().err().map(|e| e.detail.clone()),
            alg_error: alg.as_ref().err().map(|e| e.detail.clone()),
            filter: KeyFilter {
                status: status.unwrap_or_default(),
                alg: alg.unwrap_or_default(),
            },
            kept: filter_query(params, &["status", "alg"]),
        }
    }

    /// The list's URL with the filter.
    pub fn list(&self, base: &str) -> String {
        if self.kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", self.kept)
        }
    }

    /// The form's fields.
    pub fn fields(&self, params: &HashMap<String, String>) -> Vec<Search> {
        let value = |name: &str| params.get(name).cloned().unwrap_or_default();
        vec![
            Search::choice(
                "status",
                "State",
                value("status"),
                "Any",
                &[
                    ("pending", "Published, not signing yet"),
                    ("active", "Signing"),
                    ("retired", "Retired"),
                ],
            )
            .refused(self.status_error.clone()),
            Search::choice(
                "alg",
                "Algorithm",
                value("alg"),
                "Any",
                &[("RS256", "RS256"), ("ES256", "ES256")],
            )
            .refused(self.alg_error.clone()),
        ]
    }

    /// What the empty list says.
    pub fn empty(&self) -> String {
        if self.filter == KeyFilter::default() {
            "No signing key.".into()
        } else {
            "No signing key matches.".into()
        }
    }

    /// 422 when a value was refused.
    pub fn status(&self) -> StatusCode {
        if self.status_error.is_some() || self.alg_error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        }
    }
}

fn rotate_page(ctx: &Ctx, tenant: &tessera_core::TenantId, choice: &str) -> Response {
    let mut crumbs = crumbs(tenant);
    crumbs.push(Link::new(
        format!("{ROOT}/authenticator/{tenant}/keys"),
        "Signing keys",
        "crumb-keys",
    ));
    FormPage {
        frame: Frame::new(ctx, "Rotate keys", crumbs),
        heading: format!("Rotate the signing keys of {tenant}?"),
        intro: vec![
            "This makes a new RS256 and a new ES256 key. The current keys are retired when the new ones start signing and stay published until the tokens they signed have expired."
                .into(),
        ],
        form_id: "rotate-form".into(),
        action: format!("{ROOT}/authenticator/{tenant}/keys/rotate"),
        fields: vec![
            Field::text("rotation", "When the new keys sign", "", "").choices(
                "radios",
                vec![
                    Choice::new(
                        "staged",
                        "After seven minutes, once every verifier can have fetched them (recommended)",
                        choice != "immediate",
                    ),
                    Choice::new(
                        "immediate",
                        "At once: a key may be compromised (verifiers with an older key set fail until they fetch it again)",
                        choice == "immediate",
                    ),
                ],
            ),
        ],
        form_error: None,
        submit: "Yes, rotate the keys".into(),
        submit_id: "rotate-confirm".into(),
        cancel: Some(format!("{ROOT}/authenticator/{tenant}/keys")),
    }
    .respond(ctx.set_csrf.clone())
}

/// `GET /admin/authenticator/{tenant}/keys/rotate`: the confirmation.
pub async fn confirm(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
) -> Response {
    let id = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    if let Err(e) = members::authenticator_tenant(app.provider.store.as_ref(), &id).await {
        return page_error(e);
    }
    rotate_page(&ctx, &id, "staged")
}

/// `POST /admin/authenticator/{tenant}/keys/rotate`.
pub async fn rotate(
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
    if let Err(e) = members::authenticator_tenant(app.provider.store.as_ref(), &id).await {
        return page_error(e);
    }
    let immediate = form.get("rotation") == "immediate";
    let rotation = if immediate {
        Rotation::Immediate
    } else {
        Rotation::Staged
    };
    let kids = match keys::rotate_keys(
        app.provider.store.as_ref(),
        &app.provider.master_key,
        &id,
        rotation,
        app.provider.clock.now(),
    )
    .await
    {
        Ok(kids) => kids,
        Err(e) => return page_error(e),
    };
    app.provider.tenants.invalidate(&id);
    if let Err(r) = audit_change(
        &app,
        &ctx,
        actions::TENANT_KEYS_ROTATE,
        format!("tenants/{id}/keys"),
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
    see_other(&format!("{ROOT}/authenticator/{id}/keys?done=rotated"))
}

/// The rows of a keys table (kid, algorithm, status, created, retired), shared by both roles' keys pages.
pub(super) fn key_rows(keys: &[tessera_store::SigningKey]) -> Vec<Vec<Cell>> {
    keys.iter()
        .map(|k| {
            vec![
                Cell::text(k.kid.clone()),
                Cell::text(k.alg.clone()),
                Cell::text(
                    match k.status {
                        tessera_store::KeyStatus::Pending => "published, signs soon",
                        tessera_store::KeyStatus::Active => "signing",
                        tessera_store::KeyStatus::Retired => "retired, still published",
                    }
                    .to_owned(),
                ),
                Cell::text(rfc3339(k.created_at)),
                Cell::text(k.retired_at.map(rfc3339).unwrap_or_default()),
            ]
        })
        .collect()
}
