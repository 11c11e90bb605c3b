//! The authenticator service's pages: its tenants (RP ID, origins) and new OAuth clients (the "client id and
//! secret provided by the platform" of the tutorial: a confidential client's secret is shown once). A tenant's
//! policy, signing keys, client and user pages are in [`super::policy`], [`super::keys`], [`super::clients`] and
//! [`super::users`].

use std::collections::HashMap;
use tessera_service::admin::audit::actions;
use tessera_service::admin::scope::Side;

use axum::Router;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tessera_core::TenantId;
use tessera_oidc::keys::SigningAlg;
use tessera_service::ServiceError;
use tessera_service::admin::api_tokens::audit_event;
use tessera_service::admin::members;
use tessera_service::clients::{self, ClientKind, LocalhostHttp, NewClient};
use tessera_service::tenants::{self, NewTenant};

use super::broker::{Submitted, page_number, paged};
use super::views::{
    Cell, Choice, DetailPage, Field, FormPage, Frame, Link, ListPage, Section, ShownOnce,
    place_error,
};
use super::{Ctx, ROOT, not_found, see_other};
use crate::common::reply::PageError;
use crate::common::state::AppState;
use crate::common::views::render;

/// The authenticator service's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/authenticator/", get(list))
        .route("/admin/authenticator/new", get(new_form).post(create))
        .route("/admin/authenticator/{tenant}/", get(tenant_page))
        .route(
            "/admin/authenticator/{tenant}/clients/new",
            get(client_form).post(client_create),
        )
        .route(
            "/admin/authenticator/{tenant}/policy",
            get(super::policy::page).post(super::policy::save),
        )
        .route("/admin/authenticator/{tenant}/keys", get(super::keys::list))
        .route(
            "/admin/authenticator/{tenant}/keys/rotate",
            get(super::keys::confirm).post(super::keys::rotate),
        )
        .route(
            "/admin/authenticator/{tenant}/clients",
            get(super::clients::list),
        )
        .route(
            "/admin/authenticator/{tenant}/clients/{client}",
            get(super::clients::page).post(super::clients::save),
        )
        .route(
            "/admin/authenticator/{tenant}/clients/{client}/secret",
            post(super::clients::regenerate),
        )
        .route(
            "/admin/authenticator/{tenant}/clients/{client}/delete",
            post(super::clients::delete),
        )
        .route(
            "/admin/authenticator/{tenant}/users",
            get(super::users::list),
        )
        .route(
            "/admin/authenticator/{tenant}/users/{user}",
            get(super::users::page),
        )
        .route(
            "/admin/authenticator/{tenant}/users/{user}/disable",
            post(super::users::disable),
        )
        .route(
            "/admin/authenticator/{tenant}/users/{user}/enable",
            post(super::users::enable),
        )
        .route(
            "/admin/authenticator/{tenant}/users/{user}/delete",
            get(super::users::confirm_delete).post(super::users::delete),
        )
        .route(
            "/admin/authenticator/{tenant}/users/{user}/passkeys/{passkey}",
            get(super::users::rename_form).post(super::users::rename),
        )
        .route(
            "/admin/authenticator/{tenant}/users/{user}/passkeys/{passkey}/revoke",
            post(super::users::revoke),
        )
        .route(
            "/admin/authenticator/{tenant}/fido-metadata",
            get(super::users::fido_metadata),
        )
}

/// A service error as a page: an unknown tenant or client is the portal's 404.
pub(super) fn page_error(error: ServiceError) -> Response {
    match error {
        ServiceError::TenantNotFound | ServiceError::ClientNotFound => not_found(),
        ServiceError::Changed { what } => PageError::new(
            StatusCode::CONFLICT,
            "Changed meanwhile",
            &format!(
                "Someone else changed this {what} since you opened the page, so nothing was done. Reload it, \
                 check it and try again."
            ),
        )
        .into_response(),
        other => PageError::from(other).into_response(),
    }
}

/// Home › Authenticator tenants.
pub(super) fn home_crumb() -> Vec<Link> {
    vec![
        Link::new(format!("{ROOT}/"), "Home", "crumb-home"),
        Link::new(
            format!("{ROOT}/authenticator/"),
            "Authenticator tenants",
            "crumb-authenticator",
        ),
    ]
}

async fn audit(
    app: &AppState,
    ctx: &Ctx,
    action: &str,
    target: String,
    tenant: &TenantId,
    after: serde_json::Value,
) -> Result<(), Response> {
    audit_change(app, ctx, action, target, tenant, (None, Some(after))).await
}

/// Writes the audit event of a change made on a page (before and after, without secrets).
pub(super) async fn audit_change(
    app: &AppState,
    ctx: &Ctx,
    action: &str,
    target: String,
    tenant: &TenantId,
    change: (Option<serde_json::Value>, Option<serde_json::Value>),
) -> Result<(), Response> {
    let event = audit_event(
        ctx.admin.actor(),
        action,
        target,
        Some(tenant.to_string()),
        change,
        &ctx.request_context(),
        app.provider.clock.now(),
    )
    .map_err(page_error)?;
    app.admin_store
        .record_audit_event(&event)
        .await
        .map_err(|e| PageError::from(e).into_response())
}

async fn list(
    State(app): State<AppState>,
    ctx: Ctx,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let tenants = match members::authenticator_tenants(app.provider.store.as_ref()).await {
        Ok(t) => t,
        Err(e) => return page_error(e),
    };
    let q = tessera_service::admin::list_filters::query(params.get("q").map(String::as_str));
    let visible: Vec<_> = tenants
        .into_iter()
        .filter(|t| {
            ctx.admin
                .sees_tenant(Some(Side::Authenticator), t.id.as_str())
        })
        .filter(|t| {
            tessera_service::admin::list_filters::starts_with_any(
                q.as_deref(),
                [t.id.as_str(), t.display_name.as_str()],
            )
        })
        .collect();
    let kept = super::views::filter_query(&params, &["q"]);
    let list = if kept.is_empty() {
        format!("{ROOT}/authenticator/")
    } else {
        format!("{ROOT}/authenticator/?{kept}")
    };
    let (rows, next, first) = paged(visible, page_number(&params), &list);
    let rows = rows
        .into_iter()
        .map(|t| {
            vec![
                Cell::link(
                    t.display_name.clone(),
                    format!("{ROOT}/authenticator/{}/", t.id),
                ),
                Cell::text(t.id.to_string()),
                Cell::text(t.rp_id.clone()),
                Cell::text(t.origins.join(" ")),
            ]
        })
        .collect();
    let mut actions = Vec::new();
    if ctx.admin.is_global() {
        actions.push(Link::new(
            format!("{ROOT}/authenticator/new"),
            "New authenticator tenant",
            "new-authenticator-tenant",
        ));
    }
    render(
        &ListPage {
            frame: Frame::new(
                &ctx,
                "Authenticator tenants",
                vec![Link::new(format!("{ROOT}/"), "Home", "crumb-home")],
            ),
            heading: "Authenticator tenants".into(),
            list_id: "authenticator-tenants".into(),
            intro: vec![
                "Tenants of the authenticator service (the FIDO server and OpenID provider)."
                    .into(),
            ],
            actions,
            filters: vec![super::views::Search::text(
                "q",
                "Name or id (starts with)",
                params.get("q").cloned().unwrap_or_default(),
            )],
            columns: vec!["Name".into(), "Id".into(), "RP ID".into(), "Origins".into()],
            rows,
            empty: if q.is_some() {
                "No authenticator tenant matches.".into()
            } else {
                "No authenticator tenant yet.".into()
            },
            next,
            first,
        },
        StatusCode::OK,
        ctx.set_csrf.clone(),
    )
}

fn tenant_fields(app: &AppState, form: Option<&Submitted>) -> Vec<Field> {
    let origin = app.provider.public_url.origin();
    let host = url::Url::parse(&origin)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let value =
        |name: &str, default: &str| form.map_or_else(|| default.to_owned(), |f| f.get(name));
    vec![
        Field::text(
            "id",
            "Tenant id",
            &value("id", ""),
            "Lowercase letters, digits and '-'; its issuer is /{id}/oidc.",
        )
        .required(),
        Field::text(
            "display_name",
            "Display name",
            &value("display_name", ""),
            "Shown on its sign-in pages.",
        ),
        Field::text(
            "rp_id",
            "RP ID",
            &value("rp_id", &host),
            "The domain passkeys are bound to; cannot change later.",
        )
        .required(),
        Field::text(
            "origins",
            "Origins",
            &value("origins", &origin),
            "One per line: the addresses its pages are opened at, each within the RP ID.",
        )
        .kind("textarea")
        .required(),
    ]
}

fn tenant_form_page(ctx: &Ctx, fields: Vec<Field>, form_error: Option<String>) -> Response {
    FormPage {
        frame: Frame::new(ctx, "New authenticator tenant", home_crumb()),
        heading: "New authenticator tenant".into(),
        intro: Vec::new(),
        form_id: "authenticator-tenant-form".into(),
        action: format!("{ROOT}/authenticator/new"),
        fields,
        form_error,
        submit: "Create".into(),
        submit_id: "create-button".into(),
        cancel: Some(format!("{ROOT}/authenticator/")),
    }
    .respond(ctx.set_csrf.clone())
}

async fn new_form(State(app): State<AppState>, ctx: Ctx) -> Response {
    if let Err(r) = ctx.global() {
        return *r;
    }
    tenant_form_page(&ctx, tenant_fields(&app, None), None)
}

/// The non-empty lines of a textarea, trimmed.
pub(super) fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn create(State(app): State<AppState>, ctx: Ctx, RawForm(body): RawForm) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    if let Err(r) = ctx.global() {
        return *r;
    }
    let mut fields = tenant_fields(&app, Some(&form));
    let id = match TenantId::parse(&form.get("id")) {
        Ok(id) if id.as_str().starts_with(members::ADMIN_TENANT) => {
            fields[0].error = Some("This id is reserved for the admin tenant.".into());
            return tenant_form_page(&ctx, fields, None);
        }
        Ok(id) => id,
        Err(e) => {
            fields[0].error = Some(format!("{e}."));
            return tenant_form_page(&ctx, fields, None);
        }
    };
    let display = form.get("display_name");
    let result = match NewTenant::parse(
        id.clone(),
        &form.get("rp_id"),
        &lines(&form.get("origins")),
        (!display.is_empty()).then_some(display),
    ) {
        Ok(new) => {
            tenants::create_tenant(
                app.provider.store.as_ref(),
                &app.provider.master_key,
                new,
                app.provider.clock.now(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(tenant) => {
            let after = serde_json::json!({"id": tenant.id.to_string(), "rp_id": tenant.rp_id, "origins": tenant.origins});
            if let Err(r) = audit(
                &app,
                &ctx,
                actions::TENANT_CREATE,
                format!("tenants/{id}"),
                &id,
                after,
            )
            .await
            {
                return r;
            }
            see_other(&format!("{ROOT}/authenticator/{id}/"))
        }
        Err(e) => match place_error(&mut fields, e) {
            Ok(form_error) => tenant_form_page(&ctx, fields, form_error),
            Err(page) => (*page).into_response(),
        },
    }
}

async fn tenant_page(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let id = match ctx.see(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let tenant = match members::authenticator_tenant(app.provider.store.as_ref(), &id).await {
        Ok(t) => t,
        Err(e) => return page_error(e),
    };
    let issuer = app.provider.public_url.issuer(&id);
    let mut sections = vec![Section {
        heading: "Overview".into(),
        id: "authenticator-overview".into(),
        facts: vec![
            ("Issuer".into(), issuer.clone()),
            (
                "Metadata URL".into(),
                format!("{issuer}/.well-known/openid-configuration"),
            ),
            ("RP ID".into(), tenant.rp_id.clone()),
            ("Origins".into(), tenant.origins.join(" ")),
        ],
        links: vec![
            Link::new(
                format!("{ROOT}/authenticator/{id}/policy"),
                "Authenticator policy",
                "tenant-policy",
            ),
            Link::new(
                format!("{ROOT}/authenticator/{id}/keys"),
                "Signing keys",
                "tenant-keys",
            ),
            Link::new(
                format!("{ROOT}/authenticator/{id}/clients"),
                "Clients",
                "tenant-clients",
            ),
            Link::new(
                format!("{ROOT}/authenticator/{id}/users"),
                "Users",
                "tenant-users",
            ),
            Link::new(
                format!("{ROOT}/authenticator/{id}/fido-metadata"),
                "FIDO metadata",
                "tenant-fido-metadata",
            ),
        ],
        ..Section::default()
    }];
    if ctx.admin.can_write() {
        sections[0].links.insert(
            0,
            Link::new(
                format!("{ROOT}/authenticator/{id}/edit"),
                "Edit name, origins and address",
                "edit-tenant",
            ),
        );
    }
    // The clients page lists and searches them (paged); this page only leads there.
    let client_facts = vec![(
        "Clients".into(),
        "Applications that sign their users in here, such as the identity broker.".into(),
    )];
    let mut links = vec![Link::new(
        format!("{ROOT}/authenticator/{id}/clients"),
        "All clients",
        "all-clients",
    )];
    if ctx.admin.can_write() {
        links.push(Link::new(
            format!("{ROOT}/authenticator/{id}/clients/new"),
            "New client",
            "new-client",
        ));
    }
    sections.push(Section {
        heading: "Clients".into(),
        id: "clients".into(),
        facts: client_facts,
        links,
        ..Section::default()
    });
    sections.extend(super::lifecycle::tenant_delete_section(
        &ctx,
        format!("{ROOT}/authenticator/{id}/delete"),
        tenant.revision,
        "clients or users",
    ));
    let notice = params.get("done").map(|done| {
        if done == "policy" {
            "Saved: new registrations and sign-ins follow the new policy.".to_owned()
        } else {
            "Saved.".to_owned()
        }
    });
    render(
        &DetailPage {
            frame: Frame::new(&ctx, &tenant.display_name, home_crumb()).with_notice(notice),
            heading: format!("{} (authenticator tenant {id})", tenant.display_name),
            page_id: "authenticator-tenant".into(),
            intro: Vec::new(),
            secret: None,
            sections,
            run: None,
        },
        StatusCode::OK,
        ctx.set_csrf.clone(),
    )
}

fn client_fields(form: Option<&Submitted>) -> Vec<Field> {
    let value =
        |name: &str, default: &str| form.map_or_else(|| default.to_owned(), |f| f.get(name));
    let kind = value("kind", "confidential_basic");
    vec![
        Field::text(
            "name",
            "Name",
            &value("name", ""),
            "Shown on the consent and sign-in pages.",
        )
        .required(),
        Field::text(
            "redirect_uris",
            "Redirect URIs",
            &value("redirect_uris", ""),
            "One per line, matched exactly; for a broker: {broker}/{tenant}/oauth2/authresp.",
        )
        .kind("textarea")
        .required(),
        Field::text("kind", "Client type", "", "").choices(
            "radios",
            vec![
                Choice::new(
                    "confidential_basic",
                    "Confidential, secret in HTTP Basic (client_secret_basic)",
                    kind == "confidential_basic",
                ),
                Choice::new(
                    "confidential_post",
                    "Confidential, secret in the form (client_secret_post)",
                    kind == "confidential_post",
                ),
                Choice::new("public", "Public (PKCE, no secret)", kind == "public"),
            ],
        ),
        Field::text(
            "allow_localhost_http",
            "Allow http://localhost addresses (development only)",
            &value("allow_localhost_http", ""),
            "",
        )
        .kind("checkbox"),
    ]
}

fn client_form_page(
    ctx: &Ctx,
    tenant: &TenantId,
    fields: Vec<Field>,
    form_error: Option<String>,
) -> Response {
    let mut crumbs = home_crumb();
    crumbs.push(Link::new(
        format!("{ROOT}/authenticator/{tenant}/"),
        tenant.to_string(),
        "crumb-tenant",
    ));
    FormPage {
        frame: Frame::new(ctx, "New client", crumbs),
        heading: "New client".into(),
        intro: vec!["An OAuth client of this tenant, e.g. the identity broker that adds it as an identity provider.".into()],
        form_id: "client-form".into(),
        action: format!("{ROOT}/authenticator/{tenant}/clients/new"),
        fields,
        form_error,
        submit: "Create".into(),
        submit_id: "client-create".into(),
        cancel: Some(format!("{ROOT}/authenticator/{tenant}/")),
    }
    .respond(ctx.set_csrf.clone())
}

async fn client_form(
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
    client_form_page(&ctx, &id, client_fields(None), None)
}

async fn client_create(
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
    let mut fields = client_fields(Some(&form));
    let localhost = if form.get("allow_localhost_http") == "true" {
        LocalhostHttp::InsecureAllow
    } else {
        LocalhostHttp::Refuse
    };
    let kind = match form.get("kind").as_str() {
        "public" => ClientKind::Public,
        "confidential_post" => ClientKind::ConfidentialPost,
        _ => ClientKind::ConfidentialBasic,
    };
    let name = form.get("name");
    let result = match clients::parse_redirect_uris(&lines(&form.get("redirect_uris")), localhost) {
        Ok(redirect_uris) => {
            clients::create_client(
                app.provider.store.as_ref(),
                NewClient {
                    tenant: id.clone(),
                    redirect_uris,
                    post_logout_redirect_uris: Vec::new(),
                    kind,
                    id_token_alg: SigningAlg::Rs256,
                    name: (!name.is_empty()).then_some(name),
                },
                app.provider.clock.now(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok((client, secret)) => {
            let after = serde_json::json!({"client_id": client.client_id.to_string(), "name": client.display_name, "redirect_uris": client.redirect_uris});
            if let Err(r) = audit(
                &app,
                &ctx,
                actions::CLIENT_CREATE,
                format!("tenants/{id}/clients/{}", client.client_id),
                &id,
                after,
            )
            .await
            {
                return r;
            }
            let mut crumbs = home_crumb();
            crumbs.push(Link::new(
                format!("{ROOT}/authenticator/{id}/"),
                id.to_string(),
                "crumb-tenant",
            ));
            render(
                &DetailPage {
                    frame: Frame::new(&ctx, &client.display_name, crumbs)
                        .with_notice(Some("Created.".into())),
                    heading: client.display_name.clone(),
                    page_id: "client".into(),
                    intro: Vec::new(),
                    secret: secret.map(|s| ShownOnce {
                        label: "Client secret".into(),
                        value: s.expose().to_owned(),
                    }),
                    sections: vec![Section {
                        heading: "Client".into(),
                        id: "client-overview".into(),
                        facts: vec![
                            ("Client ID".into(), client.client_id.to_string()),
                            ("Redirect URIs".into(), client.redirect_uris.join(" ")),
                            (
                                "Authentication".into(),
                                client.token_endpoint_auth_method.clone(),
                            ),
                            (
                                "Metadata URL".into(),
                                format!(
                                    "{}/.well-known/openid-configuration",
                                    app.provider.public_url.issuer(&id)
                                ),
                            ),
                        ],
                        links: vec![Link::new(
                            format!("{ROOT}/authenticator/{id}/"),
                            "Back to the tenant",
                            "back-to-tenant",
                        )],
                        ..Section::default()
                    }],
                    run: None,
                },
                StatusCode::CREATED,
                ctx.set_csrf.clone(),
            )
        }
        Err(e) => match place_error(&mut fields, e) {
            Ok(form_error) => client_form_page(&ctx, &id, fields, form_error),
            Err(page) => (*page).into_response(),
        },
    }
}
