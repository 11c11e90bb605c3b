//! API tokens in the portal: the way from a passkey-signed-in administrator to the REST API and the `tessera admin`
//! CLI. List (50 a page; a global admin sees every token, others the ones they made), create (the secret is shown once, on the
//! answer of the form, never again), revoke. A token never grants more than its creator holds
//! (`api_tokens::issue`); every change writes its audit event in the same transaction.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tessera_service::ServiceError;
use tessera_service::admin::api_tokens::{self, Issuer, NewToken, Role};
use tessera_service::admin::list_filters::{self, TokenFilter};
use tessera_store::ApiTokenRecord;

use super::broker::{Submitted, page_number, paged};
use super::views::{
    Button, Cell, Choice, DetailPage, Field, FormPage, Frame, Link, ListPage, Search, Section,
    ShownOnce, filter_query, place_error,
};
use super::{Ctx, ROOT, not_found, see_other};
use crate::common::reply::PageError;
use crate::common::state::AppState;
use crate::common::views::render;

/// The API token routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/api-tokens", get(list).post(create))
        .route("/admin/api-tokens/new", get(new_form))
        .route("/admin/api-tokens/{id}", get(show))
        .route("/admin/api-tokens/{id}/revoke", post(revoke))
}

/// The longest lifetime a token may have, in days (as the API).
const MAX_DAYS: u32 = 366;

fn when(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn status(token: &ApiTokenRecord, now: time::OffsetDateTime) -> String {
    match token.revoked_at {
        Some(at) => format!("revoked {}", when(at)),
        None if token.expires_at <= now => "expired".into(),
        None => "active".into(),
    }
}

fn crumbs() -> Vec<Link> {
    vec![
        Link::new(format!("{ROOT}/"), "Home", "crumb-home"),
        Link::new(format!("{ROOT}/api-tokens"), "API tokens", "crumb-tokens"),
    ]
}

async fn list(
    State(app): State<AppState>,
    ctx: Ctx,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let issuer = Issuer::from(&ctx.admin);
    let tokens = match app.admin_store.list_api_tokens().await {
        Ok(t) => t,
        Err(e) => return PageError::from(e).into_response(),
    };
    let now = app.provider.clock.now();
    let get = |name: &str| params.get(name).map(String::as_str);
    let q = list_filters::query(get("q"));
    let role = list_filters::role(get("role"));
    let role_error = role.as_ref().err().map(|e| e.detail.clone());
    let filter = TokenFilter {
        q,
        role: role.unwrap_or_default(),
    };
    let visible: Vec<&ApiTokenRecord> = tokens
        .iter()
        .filter(|t| issuer.sees(t) && filter.matches(t))
        .collect();
    let kept = filter_query(&params, &["q", "role"]);
    let list = if kept.is_empty() {
        format!("{ROOT}/api-tokens")
    } else {
        format!("{ROOT}/api-tokens?{kept}")
    };
    let (shown, next, first) = paged(visible, page_number(&params), &list);
    let rows = shown
        .into_iter()
        .map(|t| {
            vec![
                Cell::link(t.name.clone(), format!("{ROOT}/api-tokens/{}", t.id)),
                Cell::text(t.role.replace('_', " ")),
                Cell::text(t.tenants.join(", ")),
                Cell::text(t.created_by.clone()),
                Cell::text(when(t.expires_at)),
                Cell::text(status(t, now)),
            ]
        })
        .collect();
    let actions = if ctx.admin.can_write() {
        vec![Link::new(
            format!("{ROOT}/api-tokens/new"),
            "New API token",
            "new-token",
        )]
    } else {
        Vec::new()
    };
    render(
        &ListPage {
            frame: Frame::new(
                &ctx,
                "API tokens",
                vec![Link::new(format!("{ROOT}/"), "Home", "crumb-home")],
            ),
            heading: "API tokens".into(),
            list_id: "api-tokens".into(),
            intro: vec![
                "Tokens for the admin REST API (/admin/api/v1) and the tessera admin CLI. A token never grants \
                 more than your own role."
                    .into(),
            ],
            actions,
            filters: vec![
                Search::text(
                    "q",
                    "Name (starts with)",
                    params.get("q").cloned().unwrap_or_default(),
                ),
                Search::choice(
                    "role",
                    "Role",
                    params.get("role").cloned().unwrap_or_default(),
                    "Any",
                    &[
                        ("global_admin", "global admin"),
                        ("tenant_admin", "tenant admin"),
                        ("read_only", "read only"),
                    ],
                )
                .refused(role_error.clone()),
            ],
            columns: vec![
                "Name".into(),
                "Role".into(),
                "Tenants".into(),
                "Created by".into(),
                "Expires".into(),
                "Status".into(),
            ],
            rows,
            empty: if filter == TokenFilter::default() {
                "No API token yet.".into()
            } else {
                "No API token matches.".into()
            },
            next,
            first,
        },
        if role_error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        ctx.set_csrf.clone(),
    )
}

fn token_fields(form: Option<&Submitted>) -> Vec<Field> {
    let value = |name: &str| form.map(|f| f.get(name)).unwrap_or_default();
    let role = form.map_or_else(|| "tenant_admin".to_owned(), |f| f.get("role"));
    let days = form.map_or_else(|| "90".to_owned(), |f| f.get("expires_in_days"));
    vec![
        Field::text(
            "name",
            "Name",
            &value("name"),
            "Who or what uses it, for people reading the list (for example: deploy pipeline).",
        )
        .required(),
        Field::text("role", "Role", "", "").choices(
            "radios",
            vec![
                Choice::new(
                    "global_admin",
                    "Global admin: everything",
                    role == "global_admin",
                ),
                Choice::new(
                    "tenant_admin",
                    "Tenant admin: everything in its tenants, nothing of the others",
                    role == "tenant_admin",
                ),
                Choice::new(
                    "read_only",
                    "Read-only (in its tenants, or all when none is given)",
                    role == "read_only",
                ),
            ],
        ),
        Field::text(
            "tenants",
            "Tenants",
            &value("tenants"),
            "Tenant ids separated by spaces or commas (tenant admin and limited read-only tokens); broker:ID or \
             authenticator:ID for one role's tenant only, ID for both.",
        ),
        Field::text(
            "expires_in_days",
            "Expires in (days)",
            &days,
            "1 to 366 days.",
        )
        .required(),
    ]
}

fn form_page(ctx: &Ctx, fields: Vec<Field>, form_error: Option<String>) -> Response {
    FormPage {
        frame: Frame::new(ctx, "New API token", crumbs()),
        heading: "New API token".into(),
        intro: vec!["Its secret is shown once, on the next page.".into()],
        form_id: "token-form".into(),
        action: format!("{ROOT}/api-tokens"),
        fields,
        form_error,
        submit: "Create".into(),
        submit_id: "token-create".into(),
        cancel: Some(format!("{ROOT}/api-tokens")),
    }
    .respond(ctx.set_csrf.clone())
}

async fn new_form(ctx: Ctx) -> Response {
    form_page(&ctx, token_fields(None), None)
}

fn token_page(
    app: &AppState,
    ctx: &Ctx,
    token: &ApiTokenRecord,
    secret: Option<String>,
    notice: Option<String>,
) -> Response {
    let now = app.provider.clock.now();
    let mut facts = vec![
        ("Id".to_owned(), token.id.clone()),
        ("Role".to_owned(), token.role.replace('_', " ")),
    ];
    if !token.tenants.is_empty() {
        facts.push(("Tenants".into(), token.tenants.join(", ")));
    }
    facts.extend([
        ("Created by".into(), token.created_by.clone()),
        ("Created".into(), when(token.created_at)),
        ("Expires".into(), when(token.expires_at)),
        ("Status".into(), status(token, now)),
    ]);
    let buttons = if token.revoked_at.is_none() && ctx.admin.can_write() {
        vec![Button {
            action: format!("{ROOT}/api-tokens/{}/revoke", token.id),
            label: "Revoke this token".into(),
            id: "revoke-token".into(),
            hidden: Vec::new(),
            danger: true,
        }]
    } else {
        Vec::new()
    };
    let mut sections = vec![Section {
        heading: "Token".into(),
        id: "token-overview".into(),
        facts,
        buttons,
        ..Section::default()
    }];
    if secret.is_some() {
        sections.push(Section {
            heading: "Use it".into(),
            id: "token-use".into(),
            facts: vec![
                (
                    "REST API".into(),
                    "Authorization: Bearer <the token>".into(),
                ),
                (
                    "CLI".into(),
                    format!(
                        "tessera admin login --url {} --token-stdin",
                        app.provider.public_url.origin()
                    ),
                ),
            ],
            ..Section::default()
        });
    }
    render(
        &DetailPage {
            frame: Frame::new(ctx, &token.name, crumbs()).with_notice(notice),
            heading: token.name.clone(),
            page_id: "api-token".into(),
            intro: Vec::new(),
            secret: secret.map(|value| ShownOnce {
                label: "API token".into(),
                value,
            }),
            sections,
            run: None,
        },
        StatusCode::OK,
        ctx.set_csrf.clone(),
    )
}

async fn create(State(app): State<AppState>, ctx: Ctx, RawForm(body): RawForm) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    let mut fields = token_fields(Some(&form));
    let days = form.get("expires_in_days").trim().parse::<u32>().ok();
    let result = match (Role::parse(&form.get("role")), days) {
        (None, _) => Err(ServiceError::InvalidInput("role: choose a role".into())),
        (_, None | Some(0)) => Err(ServiceError::InvalidInput(format!(
            "expires_in_days: a number of days from 1 to {MAX_DAYS}"
        ))),
        (_, Some(d)) if d > MAX_DAYS => Err(ServiceError::InvalidInput(format!(
            "expires_in_days: a number of days from 1 to {MAX_DAYS}"
        ))),
        (Some(role), Some(days)) => {
            let spec = NewToken {
                name: form.get("name"),
                role,
                tenants: form
                    .get("tenants")
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect(),
                lifetime: time::Duration::days(i64::from(days)),
            };
            api_tokens::issue(
                &app.admin_store,
                &ctx.admin,
                &spec,
                &ctx.request_context(),
                app.provider.clock.now(),
            )
            .await
        }
    };
    match result {
        Ok(issued) => token_page(
            &app,
            &ctx,
            &issued.record,
            Some(issued.secret),
            Some("Created.".into()),
        ),
        Err(e) => match place_error(&mut fields, e) {
            Ok(form_error) => form_page(&ctx, fields, form_error),
            Err(page) => (*page).into_response(),
        },
    }
}

/// The token `id`, if the administrator may see it.
async fn visible(app: &AppState, ctx: &Ctx, id: &str) -> Result<ApiTokenRecord, Response> {
    match app.admin_store.get_api_token(id).await {
        Ok(Some(token)) if Issuer::from(&ctx.admin).sees(&token) => Ok(token),
        Ok(_) => Err(not_found()),
        Err(e) => Err(PageError::from(e).into_response()),
    }
}

async fn show(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match visible(&app, &ctx, &id).await {
        Ok(token) => {
            let notice = params.get("done").map(|_| "Revoked.".to_owned());
            token_page(&app, &ctx, &token, None, notice)
        }
        Err(r) => r,
    }
}

async fn revoke(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    if let Err(r) = visible(&app, &ctx, &id).await {
        return r;
    }
    if !ctx.admin.can_write() {
        return not_found();
    }
    match api_tokens::revoke(
        &app.admin_store,
        &ctx.admin,
        &id,
        &ctx.request_context(),
        app.provider.clock.now(),
    )
    .await
    {
        Ok(()) => see_other(&format!("{ROOT}/api-tokens/{id}?done=revoked")),
        Err(e) => PageError::from(e).into_response(),
    }
}
