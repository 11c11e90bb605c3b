//! The audit trail (newest first, filtered by actor, action, tenant and time, cursor-paged, each event's request
//! id, client address and the object before and after behind "Details"; a tenant admin sees only their tenants'
//! events) and the administrators (global admins only: invite a person with a role — a single-use,
//! short-lived link to the admin tenant's sign-up page, shown once —, see the pending invitations and withdraw one,
//! change an account's role, remove it).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tessera_service::ServiceError;
use tessera_service::admin::api_tokens::Role;
use tessera_service::admin::members::{self, MemberSpec};
use tessera_store::AuditFilter;

use super::broker::{Submitted, page_number, paged};
use super::views::{
    Button, Cell, Choice, DetailPage, Field, FormPage, Frame, Link, ListPage, Search, Section,
    ShownOnce, filter_query, place_error,
};
use super::{Ctx, ROOT, not_found, see_other};
use crate::common::reply::PageError;
use crate::common::state::AppState;
use crate::common::views::render;
use tessera_service::admin::list_filters;

/// The audit and administrator routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/audit", get(events))
        .route("/admin/admins", get(admins).post(add_admin))
        .route("/admin/admins/invite", get(invite_form).post(invite))
        .route("/admin/admins/invitations", get(invitations_list))
        .route("/admin/admins/{user}/delete", post(remove_admin))
        .route(
            "/admin/admins/invitations/{id}/withdraw",
            post(withdraw_invitation),
        )
}

const PAGE: u32 = 50;

/// One event of the audit page: its columns and, behind "Details", where the change came from and the object
/// before and after it (the store keeps them without secrets).
pub struct EventRow {
    /// The event id (element ids `event-{id}`, `details-{id}`).
    pub id: String,
    /// When, RFC 3339.
    pub at: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Which object.
    pub target: String,
    /// The tenant, if any.
    pub tenant: String,
    /// The request id, or "(none)".
    pub request_id: String,
    /// The client address, or "(none)".
    pub client_address: String,
    /// The object before, pretty JSON, or "(none)".
    pub before: String,
    /// The object after, pretty JSON, or "(none)".
    pub after: String,
}

/// The audit trail's page.
#[derive(askama::Template)]
#[template(path = "portal/audit.html")]
pub struct AuditPage {
    /// The frame.
    pub frame: Frame,
    /// The filter fields (actor, action, tenant, since, until), each with its error.
    pub filters: Vec<Field>,
    /// The filter errors, for the summary.
    pub errors: Vec<(String, String)>,
    /// The events.
    pub rows: Vec<EventRow>,
    /// The next page's URL.
    pub next: Option<String>,
    /// The first page's URL, when not on it.
    pub first: Option<String>,
}

/// A `since`/`until` filter value: RFC 3339, or a date and time as a `datetime-local` input sends it
/// (`2026-12-03T12:00`, read as UTC), or a date (its start, UTC).
fn filter_time(text: &str) -> Option<time::OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    if let Ok(at) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at);
    }
    let minutes = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let seconds = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    for format in [minutes, seconds] {
        if let Ok(at) = time::PrimitiveDateTime::parse(text, format) {
            return Some(at.assume_utc());
        }
    }
    time::Date::parse(text, format_description!("[year]-[month]-[day]"))
        .ok()
        .map(|day| day.midnight().assume_utc())
}

fn json_text(value: Option<&serde_json::Value>) -> String {
    value
        .and_then(|v| serde_json::to_string_pretty(v).ok())
        .unwrap_or_else(|| "(none)".into())
}

async fn events(
    State(app): State<AppState>,
    ctx: Ctx,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let get = |name: &str| {
        params
            .get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let tenant = get("tenant");
    if tenant
        .as_ref()
        .is_some_and(|t| !ctx.admin.sees_tenant(None, t))
    {
        return not_found();
    }
    let value = |name: &str| params.get(name).cloned().unwrap_or_default();
    let mut filters = vec![
        Field::text(
            "actor",
            "Actor",
            &value("actor"),
            "Exactly, e.g. admin:ann or token:tok_…",
        )
        .kind("search"),
        Field::text(
            "action",
            "Action",
            &value("action"),
            "Starts with, e.g. broker.",
        )
        .kind("search"),
        Field::text("tenant", "Tenant", &value("tenant"), "").kind("search"),
        Field::text(
            "since",
            "From",
            &value("since"),
            "At or after this time (UTC): 2026-12-03, 2026-12-03T09:30 or RFC 3339.",
        )
        .kind("search"),
        Field::text(
            "until",
            "Until",
            &value("until"),
            "Before this time (UTC), written the same way.",
        )
        .kind("search"),
    ];
    let mut times = [None, None];
    for (slot, name) in times.iter_mut().zip(["since", "until"]) {
        if let Some(text) = get(name) {
            match filter_time(&text) {
                Some(at) => *slot = Some(at),
                None => {
                    if let Some(field) = filters.iter_mut().find(|f| f.name == name) {
                        field.error = Some(
                            "Not a time: write 2026-12-03, 2026-12-03T09:30 or an RFC 3339 time."
                                .into(),
                        );
                    }
                }
            }
        }
    }
    let errors: Vec<(String, String)> = filters
        .iter()
        .filter_map(|f| f.error.clone().map(|e| (f.name.clone(), e)))
        .collect();
    let frame = Frame::new(
        &ctx,
        "Audit events",
        vec![Link::new(format!("{ROOT}/"), "Home", "crumb-home")],
    );
    if !errors.is_empty() {
        return render(
            &AuditPage {
                frame,
                filters,
                errors,
                rows: Vec::new(),
                next: None,
                first: None,
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            ctx.set_csrf.clone(),
        );
    }
    let [since, until] = times;
    let filter = AuditFilter {
        actor: get("actor"),
        action_prefix: get("action"),
        tenant: tenant.clone(),
        tenants: ctx.admin.tenant_filter(),
        since,
        until,
    };
    let after = get("after");
    let mut page = match app
        .admin_store
        .list_audit_events(&filter, after.as_deref(), PAGE)
        .await
    {
        Ok(p) => p,
        Err(e) => return PageError::from(e).into_response(),
    };
    // A scope limited to one role's tenant (`broker:contoso`) sees that role's events of the tenant only.
    if filter.tenants.is_some() {
        page.events
            .retain(|e| tessera_service::admin::audit::event_in_scope(&ctx.admin.tenants, e));
    }
    let since_text = get("since");
    let until_text = get("until");
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            [
                ("actor", &filter.actor),
                ("action", &filter.action_prefix),
                ("tenant", &tenant),
                ("since", &since_text),
                ("until", &until_text),
            ]
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v.as_str()))),
        )
        .finish();
    let none = || "(none)".to_owned();
    let rows = page
        .events
        .iter()
        .map(|e| EventRow {
            id: e.id.clone(),
            at: e
                .at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            actor: e.actor.clone(),
            action: e.action.clone(),
            target: e.target.clone(),
            tenant: e.tenant.clone().unwrap_or_default(),
            request_id: e.request_id.clone().unwrap_or_else(none),
            client_address: e.client_address.clone().unwrap_or_else(none),
            before: json_text(e.before.as_ref()),
            after: json_text(e.after.as_ref()),
        })
        .collect();
    render(
        &AuditPage {
            frame,
            filters,
            errors,
            rows,
            next: page.next.map(|n| format!("{ROOT}/audit?{query}&after={n}")),
            first: after.map(|_| format!("{ROOT}/audit?{query}")),
        },
        StatusCode::OK,
        ctx.set_csrf.clone(),
    )
}

fn admin_fields(form: Option<&Submitted>) -> Vec<Field> {
    let value = |name: &str| form.map(|f| f.get(name)).unwrap_or_default();
    let role = form.map_or_else(|| "tenant_admin".to_owned(), |f| f.get("role"));
    vec![
        Field::text(
            "username",
            "Username",
            &value("username"),
            "An existing account of the admin tenant. To add someone new, invite them instead.",
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
                    "Tenant admin: everything in their tenants, nothing of the others",
                    role == "tenant_admin",
                ),
                Choice::new(
                    "read_only",
                    "Read-only (in their tenants, or all when none is given)",
                    role == "read_only",
                ),
            ],
        ),
        Field::text(
            "tenants",
            "Tenants",
            &value("tenants"),
            "Tenant ids separated by spaces or commas (tenant admins and limited read-only admins); broker:ID or \
             authenticator:ID for one role's tenant only, ID for both.",
        ),
    ]
}

async fn admins_page(
    app: &AppState,
    ctx: &Ctx,
    fields: Vec<Field>,
    form_error: Option<String>,
    notice: Option<String>,
    page: usize,
) -> Response {
    let list = match members::list_admins(&app.admin_store).await {
        Ok(l) => l,
        Err(e) => return PageError::from(e).into_response(),
    };
    // The members, 50 a page.
    let (list, next, first) = paged(list, page, &format!("{ROOT}/admins"));
    let mut member_links = Vec::new();
    if let Some(href) = first {
        member_links.push(Link::new(href, "First page", "first-page"));
    }
    if let Some(href) = next {
        member_links.push(Link::new(href, "Next page", "next-page"));
    }
    let facts: Vec<(String, String)> = list
        .iter()
        .map(|m| {
            let scope = if m.tenants.is_empty() {
                String::new()
            } else {
                format!(" of {}", m.tenants.join(", "))
            };
            (
                m.username.clone(),
                format!("{}{scope}", m.role.replace('_', " ")),
            )
        })
        .collect();
    let buttons: Vec<Button> = list
        .iter()
        .filter(|m| m.user_id != ctx.admin.user_id)
        .map(|m| Button {
            action: format!("{ROOT}/admins/{}/delete", m.user_id),
            label: format!("Remove {}", m.username),
            id: format!("remove-{}", m.username),
            hidden: Vec::new(),
            danger: true,
        })
        .collect();
    let pending = match all_pending_invitations(app, app.provider.clock.now()).await {
        Ok(p) => p,
        Err(e) => return PageError::from(e).into_response(),
    };
    let mut invitation_facts: Vec<(String, String)> = pending
        .iter()
        .map(|i| {
            let scope = if i.tenants.is_empty() {
                String::new()
            } else {
                format!(" of {}", i.tenants.join(", "))
            };
            (
                i.id.clone(),
                format!(
                    "{}{scope}, made by {}, works until {}",
                    i.role.as_str().replace('_', " "),
                    i.created_by,
                    crate::admin::api::views::rfc3339(i.expires_at)
                ),
            )
        })
        .collect();
    if invitation_facts.is_empty() {
        invitation_facts.push(("None".into(), "No invitation is waiting to be used.".into()));
    }
    let invitation_buttons: Vec<Button> = pending
        .iter()
        .map(|i| Button {
            action: format!("{ROOT}/admins/invitations/{}/withdraw", i.id),
            label: format!("Withdraw {}", i.id),
            id: format!("withdraw-{}", i.id),
            hidden: Vec::new(),
            danger: true,
        })
        .collect();
    if form_error.is_some() || fields.iter().any(|f| f.error.is_some()) {
        return FormPage {
            frame: Frame::new(
                ctx,
                "Add an administrator",
                vec![Link::new(
                    format!("{ROOT}/admins"),
                    "Administrators",
                    "crumb-admins",
                )],
            ),
            heading: "Add an administrator".into(),
            intro: Vec::new(),
            form_id: "admin-form".into(),
            action: format!("{ROOT}/admins"),
            fields,
            form_error,
            submit: "Save".into(),
            submit_id: "admin-save".into(),
            cancel: Some(format!("{ROOT}/admins")),
        }
        .respond(ctx.set_csrf.clone());
    }
    let _ = fields;
    render(
        &DetailPage {
            frame: Frame::new(
                ctx,
                "Administrators",
                vec![Link::new(format!("{ROOT}/"), "Home", "crumb-home")],
            )
            .with_notice(notice),
            heading: "Administrators".into(),
            page_id: "admins".into(),
            intro: vec!["Users of the admin tenant with a role in the portal.".into()],
            secret: None,
            sections: vec![
                Section {
                    heading: "Members".into(),
                    id: "members".into(),
                    facts,
                    buttons,
                    links: member_links,
                },
                Section {
                    heading: "Invite".into(),
                    id: "invite-admin".into(),
                    facts: vec![(
                        "How".into(),
                        "An invitation is a link that works once, for a short time: the person opens it, creates a \
                         passkey and gets the role you chose. Nobody can sign up here without one."
                            .into(),
                    )],
                    links: vec![Link::new(
                        format!("{ROOT}/admins/invite"),
                        "Invite",
                        "invite-admin-link",
                    )],
                    ..Section::default()
                },
                Section {
                    heading: "Pending invitations".into(),
                    id: "pending-invitations".into(),
                    facts: invitation_facts,
                    buttons: invitation_buttons,
                    links: vec![Link::new(
                        format!("{ROOT}/admins/invitations"),
                        "Filter invitations by role",
                        "invitations-list-link",
                    )],
                },
                Section {
                    heading: "Add or change".into(),
                    id: "add-admin".into(),
                    links: vec![Link::new(
                        format!("{ROOT}/admins?add=1"),
                        "Change an account's role",
                        "add-admin-link",
                    )],
                    ..Section::default()
                },
            ],
            run: None,
        },
        StatusCode::OK,
        ctx.set_csrf.clone(),
    )
}

async fn admins(
    State(app): State<AppState>,
    ctx: Ctx,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = ctx.global() {
        return *r;
    }
    if params.contains_key("add") {
        return FormPage {
            frame: Frame::new(
                &ctx,
                "Add an administrator",
                vec![Link::new(
                    format!("{ROOT}/admins"),
                    "Administrators",
                    "crumb-admins",
                )],
            ),
            heading: "Add an administrator".into(),
            intro: Vec::new(),
            form_id: "admin-form".into(),
            action: format!("{ROOT}/admins"),
            fields: admin_fields(None),
            form_error: None,
            submit: "Save".into(),
            submit_id: "admin-save".into(),
            cancel: Some(format!("{ROOT}/admins")),
        }
        .respond(ctx.set_csrf.clone());
    }
    let notice = params.get("done").map(|done| {
        if done == "withdrawn" {
            "Invitation withdrawn: its link no longer works.".to_owned()
        } else {
            "Saved.".to_owned()
        }
    });
    admins_page(
        &app,
        &ctx,
        admin_fields(None),
        None,
        notice,
        page_number(&params),
    )
    .await
}

async fn add_admin(State(app): State<AppState>, ctx: Ctx, RawForm(body): RawForm) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    if let Err(r) = ctx.global() {
        return *r;
    }
    let mut fields = admin_fields(Some(&form));
    let tenants: Vec<String> = form
        .get("tenants")
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    let role = Role::parse(&form.get("role"));
    let result = match (
        role,
        members::admin_tenant_user(app.provider.store.as_ref(), &form.get("username")).await,
    ) {
        (None, _) => Err(ServiceError::InvalidInput("role: choose a role".into())),
        (_, Err(e)) => Err(e),
        (Some(role), Ok(user)) => {
            members::put_admin(
                &app.admin_store,
                &ctx.admin,
                MemberSpec {
                    user_id: user.id.to_string(),
                    username: user.username,
                    role,
                    tenants,
                },
                &ctx.request_context(),
                app.provider.clock.now(),
            )
            .await
        }
    };
    match result {
        Ok(_) => see_other(&format!("{ROOT}/admins?done=saved")),
        Err(e) => match place_error(&mut fields, e) {
            Ok(form_error) => admins_page(&app, &ctx, fields, form_error, None, 1).await,
            Err(page) => (*page).into_response(),
        },
    }
}

async fn remove_admin(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(user): Path<String>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    if let Err(r) = ctx.global() {
        return *r;
    }
    match members::remove_admin(
        &app.admin_store,
        &ctx.admin,
        &user,
        &ctx.request_context(),
        app.provider.clock.now(),
    )
    .await
    {
        Ok(()) => see_other(&format!("{ROOT}/admins?done=removed")),
        Err(ServiceError::InvalidInput(_)) => not_found(),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// How many invitations a page of the invitations list shows.
const INVITATIONS_PAGE: u32 = 50;

/// The pending invitations, oldest first, 50 a page (`?after=` the last one's creation time in Unix microseconds
/// and id), filtered by `role` in the store before the page is cut (a GET form, kept across the page links); a role
/// the filter does not take is 422 next to the field.
async fn invitations_list(
    State(app): State<AppState>,
    ctx: Ctx,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = ctx.global() {
        return *r;
    }
    let role = list_filters::role(params.get("role").map(String::as_str));
    let role_error = role.as_ref().err().map(|e| e.detail.clone());
    let role = role.unwrap_or_default();
    let after = params.get("after").and_then(|a| invitation_cursor(a));
    let page = match members::list_invitations(
        &app.admin_store,
        app.provider.clock.now(),
        role,
        after.as_ref(),
        INVITATIONS_PAGE,
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return PageError::from(e).into_response(),
    };
    let list = format!(
        "{ROOT}/admins/invitations?{}",
        filter_query(&params, &["role"])
    );
    let next = page.next.as_ref().map(|n| {
        format!(
            "{list}&after={}:{}",
            n.created_at.unix_timestamp_nanos() / 1000,
            n.id
        )
    });
    let first = after.map(|_| list.clone());
    let rows = page
        .invitations
        .iter()
        .map(|i| {
            vec![
                Cell::text(i.id.clone()),
                Cell::text(i.role.as_str().replace('_', " ")),
                Cell::text(if i.tenants.is_empty() {
                    "all".to_owned()
                } else {
                    i.tenants.join(", ")
                }),
                Cell::text(i.created_by.clone()),
                Cell::text(crate::admin::api::views::rfc3339(i.expires_at)),
            ]
        })
        .collect();
    render(
        &ListPage {
            frame: Frame::new(
                &ctx,
                "Pending invitations",
                vec![
                    Link::new(format!("{ROOT}/"), "Home", "crumb-home"),
                    Link::new(format!("{ROOT}/admins"), "Administrators", "crumb-admins"),
                ],
            ),
            heading: "Pending invitations".into(),
            list_id: "invitations".into(),
            intro: vec![
                "Invitations not used, withdrawn or expired yet, oldest first. Withdraw one on the                  Administrators page."
                    .into(),
            ],
            actions: vec![Link::new(
                format!("{ROOT}/admins/invite"),
                "Invite",
                "invite-admin-link",
            )],
            filters: vec![
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
                "Invitation".into(),
                "Role".into(),
                "Tenants".into(),
                "Made by".into(),
                "Works until".into(),
            ],
            rows,
            empty: if role.is_some() || role_error.is_some() {
                "No invitations match.".into()
            } else {
                "No invitation is waiting to be used.".into()
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

/// The store's cursor from a page link's `after`: the creation time in Unix microseconds and the id.
fn invitation_cursor(text: &str) -> Option<tessera_store::InvitationCursor> {
    let (micros, id) = text.split_once(':')?;
    let micros: i128 = micros.parse().ok()?;
    let created_at = time::OffsetDateTime::from_unix_timestamp_nanos(micros * 1000).ok()?;
    Some(tessera_store::InvitationCursor {
        created_at,
        id: id.to_owned(),
    })
}

/// Every pending invitation, oldest first, read page by page.
async fn all_pending_invitations(
    app: &AppState,
    now: time::OffsetDateTime,
) -> Result<Vec<members::PendingInvitation>, ServiceError> {
    let mut pending = Vec::new();
    let mut after = None;
    loop {
        let page =
            members::list_invitations(&app.admin_store, now, None, after.as_ref(), 200).await?;
        pending.extend(page.invitations);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(pending),
        }
    }
}

/// Withdraws a pending invitation (after the button's confirmation): its link then fails like an expired one.
async fn withdraw_invitation(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    if let Err(r) = ctx.global() {
        return *r;
    }
    match members::withdraw_invitation(
        &app.admin_store,
        ctx.admin.actor(),
        &id,
        &ctx.request_context(),
        app.provider.clock.now(),
    )
    .await
    {
        Ok(Some(_)) => see_other(&format!("{ROOT}/admins?done=withdrawn")),
        Ok(None) => not_found(),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// The lifetimes an invitation may be given on the form, in minutes.
const INVITATION_LIFETIMES: &[(&str, &str)] =
    &[("60", "1 hour"), ("1440", "24 hours"), ("10080", "7 days")];

fn invite_fields(form: Option<&Submitted>) -> Vec<Field> {
    let value = |name: &str| form.map(|f| f.get(name)).unwrap_or_default();
    let role = form.map_or_else(|| "tenant_admin".to_owned(), |f| f.get("role"));
    let expires = form.map_or_else(|| "1440".to_owned(), |f| f.get("expires_in_minutes"));
    vec![
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
                    "Tenant admin: everything in their tenants, nothing of the others",
                    role == "tenant_admin",
                ),
                Choice::new(
                    "read_only",
                    "Read-only (in their tenants, or all when none is given)",
                    role == "read_only",
                ),
            ],
        ),
        Field::text(
            "tenants",
            "Tenants",
            &value("tenants"),
            "Tenant ids separated by spaces or commas (tenant admins and limited read-only admins); broker:ID or \
             authenticator:ID for one role's tenant only, ID for both.",
        ),
        Field::text(
            "expires_in_minutes",
            "The link works for",
            "",
            "It works once; after this it does nothing.",
        )
        .choices(
            "select",
            INVITATION_LIFETIMES
                .iter()
                .map(|(minutes, label)| Choice::new(*minutes, *label, expires == *minutes))
                .collect(),
        ),
    ]
}

fn invite_page(ctx: &Ctx, fields: Vec<Field>, form_error: Option<String>) -> Response {
    FormPage {
        frame: Frame::new(
            ctx,
            "Invite an administrator",
            vec![Link::new(format!("{ROOT}/admins"), "Administrators", "crumb-admins")],
        ),
        heading: "Invite an administrator".into(),
        intro: vec![
            "You get a link to give the person (it is shown once). With it they create their passkey at the admin tenant and get the role you choose here."
                .into(),
        ],
        form_id: "invite-form".into(),
        action: format!("{ROOT}/admins/invite"),
        fields,
        form_error,
        submit: "Create invitation".into(),
        submit_id: "invite-create".into(),
        cancel: Some(format!("{ROOT}/admins")),
    }
    .respond(ctx.set_csrf.clone())
}

async fn invite_form(ctx: Ctx) -> Response {
    if let Err(r) = ctx.global() {
        return *r;
    }
    invite_page(&ctx, invite_fields(None), None)
}

async fn invite(State(app): State<AppState>, ctx: Ctx, RawForm(body): RawForm) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    if let Err(r) = ctx.global() {
        return *r;
    }
    let mut fields = invite_fields(Some(&form));
    let tenants: Vec<String> = form
        .get("tenants")
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    let minutes = INVITATION_LIFETIMES
        .iter()
        .find(|(m, _)| *m == form.get("expires_in_minutes"))
        .and_then(|(m, _)| m.parse::<i64>().ok());
    let result = match (Role::parse(&form.get("role")), minutes) {
        (None, _) => Err(ServiceError::InvalidInput("role: choose a role".into())),
        (_, None) => Err(ServiceError::InvalidInput(
            "expires_in_minutes: choose how long the link works".into(),
        )),
        (Some(role), Some(minutes)) => {
            members::create_invitation(
                &app.admin_store,
                ctx.admin.actor(),
                members::NewInvitation {
                    role,
                    tenants,
                    lifetime: time::Duration::minutes(minutes),
                },
                &ctx.request_context(),
                app.provider.clock.now(),
            )
            .await
        }
    };
    match result {
        Ok(issued) => {
            let scope = if issued.tenants.is_empty() {
                String::new()
            } else {
                format!(" of {}", issued.tenants.join(", "))
            };
            render(
                &DetailPage {
                    frame: Frame::new(
                        &ctx,
                        "Invitation",
                        vec![Link::new(format!("{ROOT}/admins"), "Administrators", "crumb-admins")],
                    )
                    .with_notice(Some("Invitation created.".into())),
                    heading: "Invitation".into(),
                    page_id: "invitation".into(),
                    intro: vec![
                        "Give this link to the person you invite, by a channel you trust. Whoever opens it first can become an administrator."
                            .into(),
                    ],
                    secret: Some(ShownOnce {
                        label: "Invitation link".into(),
                        value: issued.link(app.provider.public_url.as_str()),
                    }),
                    sections: vec![Section {
                        heading: "What it grants".into(),
                        id: "invitation-overview".into(),
                        facts: vec![
                            ("Role".into(), format!("{}{scope}", issued.role.as_str().replace('_', " "))),
                            ("Works until".into(), crate::admin::api::views::rfc3339(issued.expires_at)),
                            ("Id".into(), issued.id.clone()),
                        ],
                        links: vec![Link::new(format!("{ROOT}/admins"), "Back to the administrators", "back-to-admins")],
                        ..Section::default()
                    }],
                    run: None,
                },
                StatusCode::CREATED,
                ctx.set_csrf.clone(),
            )
        }
        Err(e) => match place_error(&mut fields, e) {
            Ok(form_error) => invite_page(&ctx, fields, form_error),
            Err(page) => (*page).into_response(),
        },
    }
}
