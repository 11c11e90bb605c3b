//! An authenticator tenant's OAuth clients: the list, a client's page, "Edit name and redirect URIs", "Regenerate
//! secret" (the new secret shown once) and "Delete", each behind a confirmation where it cannot be undone.
//!
//! Edits and deletions carry the version of the client they were based on — its API `ETag`, so the portal and the
//! API's `If-Match` agree on what "changed meanwhile" means: a save or delete based on an older version is refused
//! with a conflict message and the current client.

use std::collections::HashMap;
use tessera_service::admin::audit::actions;

use axum::extract::{Path, Query, RawForm, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tessera_core::{ClientId, TenantId};
use tessera_service::ServiceError;
use tessera_service::admin::{list_filters, members};
use tessera_service::clients::{self, ClientUpdate, LocalhostHttp};
use tessera_store::{Client, ClientFilter};

use super::authenticator::{audit_change, home_crumb, lines, page_error};
use super::broker::{PAGE_SIZE, Submitted};
use super::views::{
    Button, Cell, DetailPage, Field, FormPage, Frame, Link, ListPage, Search, Section, ShownOnce,
    filter_query, place_error,
};
use super::{Ctx, ROOT, not_found, see_other};
use crate::admin::api::extract::etag_of;
use crate::admin::api::tenants::client_view;
use crate::common::reply::PageError;
use crate::common::state::AppState;
use crate::common::views::render;

fn base(tenant: &TenantId) -> String {
    format!("{ROOT}/authenticator/{tenant}/clients")
}

fn crumbs(tenant: &TenantId, with_list: bool) -> Vec<Link> {
    let mut crumbs = home_crumb();
    crumbs.push(Link::new(
        format!("{ROOT}/authenticator/{tenant}/"),
        tenant.to_string(),
        "crumb-tenant",
    ));
    if with_list {
        crumbs.push(Link::new(base(tenant), "Clients", "crumb-clients"));
    }
    crumbs
}

/// The version a form is based on: the client's API `ETag`, without its quotes.
fn version(client: &Client) -> String {
    etag_of(&client_view(client)).trim_matches('"').to_owned()
}

fn client_json(client: &Client) -> serde_json::Value {
    serde_json::to_value(client_view(client)).unwrap_or_default()
}

/// Loopback `http` redirect URIs are accepted where the service itself runs on loopback `http`, as the API does.
fn localhost_http(app: &AppState) -> LocalhostHttp {
    if app.provider.public_url.is_https() {
        LocalhostHttp::default()
    } else {
        LocalhostHttp::InsecureAllow
    }
}

async fn load(app: &AppState, tenant: &TenantId, id: &str) -> Result<Client, Response> {
    members::authenticator_tenant(app.provider.store.as_ref(), tenant)
        .await
        .map_err(page_error)?;
    let id = ClientId::parse(id).map_err(|_| not_found())?;
    clients::get_client(app.provider.store.as_ref(), tenant, &id)
        .await
        .map_err(page_error)
}

/// `GET /admin/authenticator/{tenant}/clients[?q=][&client_type=][&after=]`: one page the store cuts, in client id
/// order, after the client id `after`, of the clients whose id or name starts with `q` (case-insensitive) and of the
/// kind `client_type` (`public`, `confidential`); "Next page" keeps the filter.
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
    let kind = list_filters::client_type(params.get("client_type").map(String::as_str));
    let kind_error = kind.as_ref().err().map(|e| e.detail.clone());
    // A value the filter does not take: the page says so next to the field, as a form does.
    let status = if kind_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let filter = ClientFilter {
        prefix: list_filters::query(params.get("q").map(String::as_str)),
        client_type: kind.unwrap_or_default(),
    };
    let filtered = filter != ClientFilter::default();
    let after = params.get("after").and_then(|a| ClientId::parse(a).ok());
    let page = match clients::list_clients_page(
        app.provider.store.as_ref(),
        &id,
        &filter,
        after.as_ref(),
        PAGE_SIZE as u32,
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return page_error(e),
    };
    let kept = filter_query(&params, &["q", "client_type"]);
    let list = if kept.is_empty() {
        base(&id)
    } else {
        format!("{}?{kept}", base(&id))
    };
    let joiner = if kept.is_empty() { '?' } else { '&' };
    let (rows, next, first) = (
        page.clients,
        page.next.map(|n| format!("{list}{joiner}after={n}")),
        after.map(|_| list.clone()),
    );
    let rows = rows
        .iter()
        .map(|c| {
            vec![
                Cell::link(
                    c.display_name.clone(),
                    format!("{}/{}", base(&id), c.client_id),
                ),
                Cell::text(c.client_id.to_string()),
                Cell::text(c.token_endpoint_auth_method.clone()),
                Cell::text(c.redirect_uris.join(" ")),
            ]
        })
        .collect();
    let mut actions = Vec::new();
    if ctx.admin.can_write() {
        actions.push(Link::new(
            format!("{}/new", base(&id)),
            "New client",
            "new-client",
        ));
    }
    let notice = params
        .get("done")
        .map(|_| "The client is deleted; what it was issued no longer works.".to_owned());
    render(
        &ListPage {
            frame: Frame::new(&ctx, "Clients", crumbs(&id, false)).with_notice(notice),
            heading: format!("Clients of {id}"),
            list_id: "clients-list".into(),
            intro: vec!["Applications that sign their users in at this tenant, such as the identity broker.".into()],
            actions,
            filters: vec![
                Search::text(
                    "q",
                    "Name or client ID (starts with)",
                    params.get("q").cloned().unwrap_or_default(),
                ),
                Search::choice(
                    "client_type",
                    "Client type",
                    params.get("client_type").cloned().unwrap_or_default(),
                    "Any",
                    &[
                        ("public", "Public (no secret)"),
                        ("confidential", "Confidential (with a secret)"),
                    ],
                )
                .refused(kind_error),
            ],
            columns: vec![
                "Name".into(),
                "Client ID".into(),
                "Authentication".into(),
                "Redirect URIs".into(),
            ],
            rows,
            empty: if filtered {
                "No client matches.".into()
            } else {
                "No client yet.".into()
            },
            next,
            first,
        },
        status,
        ctx.set_csrf.clone(),
    )
}

fn detail(
    app: &AppState,
    ctx: &Ctx,
    tenant: &TenantId,
    client: &Client,
    secret: Option<String>,
    notice: Option<String>,
) -> Response {
    let here = format!("{}/{}", base(tenant), client.client_id);
    let confidential = client.secret_hash.is_some();
    let mut sections = vec![Section {
        heading: "Client".into(),
        id: "client-overview".into(),
        facts: vec![
            ("Client ID".into(), client.client_id.to_string()),
            ("Redirect URIs".into(), client.redirect_uris.join(" ")),
            (
                "Post-logout redirect URIs".into(),
                client.post_logout_redirect_uris.join(" "),
            ),
            (
                "Authentication".into(),
                client.token_endpoint_auth_method.clone(),
            ),
            (
                "Metadata URL".into(),
                format!(
                    "{}/.well-known/openid-configuration",
                    app.provider.public_url.issuer(tenant)
                ),
            ),
        ],
        ..Section::default()
    }];
    let hidden = vec![("version".to_owned(), version(client))];
    if ctx.admin.can_write() {
        sections[0].links.push(Link::new(
            format!("{here}?edit=1"),
            "Edit name and redirect URIs",
            "edit-client",
        ));
        if confidential {
            sections.push(Section {
                heading: "Client secret".into(),
                id: "client-secret".into(),
                facts: vec![(
                    "Secret".into(),
                    "Set (only its hash is stored; it cannot be shown again)".into(),
                )],
                buttons: vec![Button {
                    action: format!("{here}/secret"),
                    label: "Regenerate secret".into(),
                    id: "regenerate-secret".into(),
                    hidden: hidden.clone(),
                    danger: true,
                }],
                ..Section::default()
            });
        }
        sections.push(Section {
            heading: "Delete".into(),
            id: "client-delete".into(),
            facts: vec![(
                "What it ends".into(),
                "Its codes and tokens stop working; its users and their passkeys stay.".into(),
            )],
            buttons: vec![Button {
                action: format!("{here}/delete"),
                label: "Delete".into(),
                id: "delete-client".into(),
                hidden,
                danger: true,
            }],
            ..Section::default()
        });
    }
    let status = if secret.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    render(
        &DetailPage {
            frame: Frame::new(ctx, &client.display_name, crumbs(tenant, true)).with_notice(notice),
            heading: client.display_name.clone(),
            page_id: "client".into(),
            intro: Vec::new(),
            secret: secret.map(|value| ShownOnce {
                label: "Client secret".into(),
                value,
            }),
            sections,
            run: None,
        },
        status,
        ctx.set_csrf.clone(),
    )
}

fn edit_fields(name: &str, redirects: &str, logout: &str, version: &str) -> Vec<Field> {
    vec![
        Field::text("version", "", version, "").kind("hidden"),
        Field::text(
            "name",
            "Name",
            name,
            "Shown on the consent and sign-in pages.",
        )
        .required(),
        Field::text(
            "redirect_uris",
            "Redirect URIs",
            redirects,
            "One per line, matched exactly; for a broker: {broker}/{tenant}/oauth2/authresp.",
        )
        .kind("textarea")
        .required(),
        Field::text(
            "post_logout_redirect_uris",
            "Post-logout redirect URIs",
            logout,
            "One per line; where the client may send users after signing out.",
        )
        .kind("textarea"),
    ]
}

fn edit_page(
    ctx: &Ctx,
    tenant: &TenantId,
    client: &Client,
    fields: Vec<Field>,
    form_error: Option<String>,
    status: Option<StatusCode>,
) -> Response {
    let here = format!("{}/{}", base(tenant), client.client_id);
    let page = FormPage {
        frame: Frame::new(ctx, "Edit client", crumbs(tenant, true)),
        heading: format!("Edit {}", client.display_name),
        intro: Vec::new(),
        form_id: "client-edit-form".into(),
        action: here.clone(),
        fields,
        form_error,
        submit: "Save".into(),
        submit_id: "client-save".into(),
        cancel: Some(here),
    };
    match status {
        Some(status) => render(&page, status, ctx.set_csrf.clone()),
        None => page.respond(ctx.set_csrf.clone()),
    }
}

fn current_fields(client: &Client) -> Vec<Field> {
    edit_fields(
        &client.display_name,
        &client.redirect_uris.join("\n"),
        &client.post_logout_redirect_uris.join("\n"),
        &version(client),
    )
}

fn notice(params: &HashMap<String, String>) -> Option<String> {
    params.get("done").map(|done| {
        match done.as_str() {
            "saved" => "Saved.",
            _ => "Done.",
        }
        .to_owned()
    })
}

/// The conflict answer: the client changed since the page was opened.
const CHANGED: &str = "Someone else changed this client since you opened this page. The form now shows the \
                       current client: make your change again and save.";

/// `GET /admin/authenticator/{tenant}/clients/{client}[?edit=1]`.
pub async fn page(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, client)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let id = match ctx.see(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let client = match load(&app, &id, &client).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if params.contains_key("edit") && ctx.admin.can_write() {
        return edit_page(&ctx, &id, &client, current_fields(&client), None, None);
    }
    detail(&app, &ctx, &id, &client, None, notice(&params))
}

/// `POST /admin/authenticator/{tenant}/clients/{client}`: saves the edit.
pub async fn save(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, client)): Path<(String, String)>,
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
    let existing = match load(&app, &id, &client).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if form.get("version") != version(&existing) {
        return edit_page(
            &ctx,
            &id,
            &existing,
            current_fields(&existing),
            Some(CHANGED.into()),
            Some(StatusCode::CONFLICT),
        );
    }
    let mut fields = edit_fields(
        &form.get("name"),
        &form.get("redirect_uris"),
        &form.get("post_logout_redirect_uris"),
        &form.get("version"),
    );
    let localhost = localhost_http(&app);
    let result = match (
        clients::parse_redirect_uris(&lines(&form.get("redirect_uris")), localhost),
        clients::parse_redirect_uris(&lines(&form.get("post_logout_redirect_uris")), localhost),
    ) {
        (Err(e), _) => Err(e),
        (_, Err(e)) => {
            if let Some(field) = fields
                .iter_mut()
                .find(|f| f.name == "post_logout_redirect_uris")
            {
                let text = e.to_string();
                let detail = text
                    .split_once(": ")
                    .map_or(text.as_str(), |(_, rest)| rest);
                field.error = Some(format!("{detail}."));
            }
            return edit_page(&ctx, &id, &existing, fields, None, None);
        }
        (Ok(redirect_uris), Ok(logout)) => {
            clients::update_client(
                app.provider.store.as_ref(),
                &id,
                &existing.client_id,
                ClientUpdate {
                    name: Some(form.get("name")),
                    redirect_uris: Some(redirect_uris),
                    post_logout_redirect_uris: Some(logout),
                },
                Some(&existing),
            )
            .await
        }
    };
    match result {
        Ok(changed) => {
            if let Err(r) = audit_change(
                &app,
                &ctx,
                actions::CLIENT_UPDATE,
                format!("tenants/{id}/clients/{}", changed.client_id),
                &id,
                (Some(client_json(&existing)), Some(client_json(&changed))),
            )
            .await
            {
                return r;
            }
            see_other(&format!("{}/{}?done=saved", base(&id), changed.client_id))
        }
        // Saved by someone else between this form's check and the write.
        Err(ServiceError::Changed { .. }) => match load(&app, &id, &client).await {
            Ok(current) => edit_page(
                &ctx,
                &id,
                &current,
                current_fields(&current),
                Some(CHANGED.into()),
                Some(StatusCode::CONFLICT),
            ),
            Err(r) => r,
        },
        Err(e) => match place_error(&mut fields, e) {
            Ok(form_error) => edit_page(&ctx, &id, &existing, fields, form_error, None),
            Err(page) => (*page).into_response(),
        },
    }
}

fn conflict(tenant: &TenantId, client: &Client) -> Response {
    PageError::new(
        StatusCode::CONFLICT,
        "This client changed meanwhile",
        "Someone else changed this client since you opened its page, so nothing was done. Look at it again and \
         decide anew.",
    )
    .with_link(
        format!("{}/{}", base(tenant), client.client_id),
        "Back to the client",
    )
    .into_response()
}

/// `POST /admin/authenticator/{tenant}/clients/{client}/secret`: a new secret, shown once.
pub async fn regenerate(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, client)): Path<(String, String)>,
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
    let existing = match load(&app, &id, &client).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if form.get("version") != version(&existing) {
        return conflict(&id, &existing);
    }
    match clients::regenerate_secret(app.provider.store.as_ref(), &id, &existing.client_id).await {
        Ok((changed, secret)) => {
            if let Err(r) = audit_change(
                &app,
                &ctx,
                actions::CLIENT_SECRET_REGENERATE,
                format!("tenants/{id}/clients/{}", changed.client_id),
                &id,
                (None, Some(client_json(&changed))),
            )
            .await
            {
                return r;
            }
            detail(
                &app,
                &ctx,
                &id,
                &changed,
                Some(secret.expose().to_owned()),
                Some("New secret made: the old one no longer works.".into()),
            )
        }
        Err(tessera_service::ServiceError::InvalidInput(_)) => PageError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "No secret to regenerate",
            "This is a public client: it has no secret and proves itself with PKCE.",
        )
        .into_response(),
        Err(e) => page_error(e),
    }
}

/// `POST /admin/authenticator/{tenant}/clients/{client}/delete`.
pub async fn delete(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, client)): Path<(String, String)>,
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
    let existing = match load(&app, &id, &client).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if form.get("version") != version(&existing) {
        return conflict(&id, &existing);
    }
    match clients::delete_client(
        app.provider.store.as_ref(),
        &id,
        &existing.client_id,
        Some(&existing),
    )
    .await
    {
        Ok(()) => {
            if let Err(r) = audit_change(
                &app,
                &ctx,
                actions::CLIENT_DELETE,
                format!("tenants/{id}/clients/{}", existing.client_id),
                &id,
                (Some(client_json(&existing)), None),
            )
            .await
            {
                return r;
            }
            see_other(&format!("{}?done=deleted", base(&id)))
        }
        Err(ServiceError::Changed { .. }) => conflict(&id, &existing),
        Err(e) => page_error(e),
    }
}
