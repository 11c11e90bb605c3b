//! The identity broker's pages, in the tutorial's words: broker tenants; "Identity providers" → "Add" → "OpenID
//! Connect" and "Map this identity provider's claims"; "User flows" → "New user flow" → "Sign up and sign in",
//! "User attributes and token claims", "Application claims" and "Run user flow"; applications (reply URLs, the
//! secret shown once); the directory's users (search, disable, enable, delete).
//!
//! Each change calls the `tessera_service::broker` use case, invalidates the broker's cache of the tenant, and
//! writes an audit event.

use std::collections::HashMap;
use tessera_service::admin::audit::actions;
use tessera_service::admin::scope::Side;

use axum::Router;
use axum::extract::{Path, Query, RawForm, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tessera_broker::config::{
    ApplicationClaim, ClaimMapping, CollectedAttribute, FlowSettings, IdentityProvider,
    LocalAccounts, MetadataUrl, MfaSetting, PolicyId, ProviderId, ResponseType, UpstreamClientAuth,
    UserAttribute, parse_scope,
};
use tessera_core::{ClientId, Secret, TenantId, UserId};
use tessera_oidc::ResponseMode;
use tessera_service::ServiceError;
use tessera_service::admin::list_filters;
use tessera_service::broker::applications::{self, ApplicationUpdate, NewApplication};
use tessera_service::broker::{directory, flows, providers, tenants as broker_tenants};

use super::authenticator::audit_change as audit;
use super::views::{
    Button, Cell, Choice, DetailPage, Field, FormPage, Frame, Link, ListPage, Picker, RunForm,
    Search, Section, ShownOnce, filter_query, place_error,
};
use super::{Ctx, ROOT, not_found, see_other};
use crate::common::reply::PageError;
use crate::common::state::AppState;
use crate::common::views::render;

/// How many rows a list page shows.
pub const PAGE_SIZE: usize = 50;

/// A submitted form: each field's values in order (checkbox groups repeat a name).
pub struct Submitted(Vec<(String, String)>);

impl Submitted {
    /// Parses an urlencoded body.
    pub fn parse(body: &[u8]) -> Self {
        Self(form_urlencoded::parse(body).into_owned().collect())
    }

    /// A form from name and value pairs (a page's current values, shown as if submitted).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// The first value of `name`, trimmed (empty when absent).
    pub fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The CSRF token field.
    pub fn csrf(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == crate::common::csrf::CSRF_FIELD)
            .map(|(_, v)| v.as_str())
    }
}

/// A page number from `?page=` (1-based).
pub fn page_number(params: &HashMap<String, String>) -> usize {
    params
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1)
}

/// One page of `items` and the links to the first and next pages.
pub fn paged<T>(
    items: Vec<T>,
    page: usize,
    base: &str,
) -> (Vec<T>, Option<String>, Option<String>) {
    let total = items.len();
    let start = (page - 1).saturating_mul(PAGE_SIZE);
    let rows: Vec<T> = items.into_iter().skip(start).take(PAGE_SIZE).collect();
    let joiner = if base.contains('?') { '&' } else { '?' };
    let next = (start + PAGE_SIZE < total).then(|| format!("{base}{joiner}page={}", page + 1));
    let first = (page > 1).then(|| base.to_owned());
    (rows, next, first)
}

/// The links to the next and first pages of a list of `total` rows, on page `page`.
pub fn pager(page: usize, total: usize, base: &str) -> (Option<String>, Option<String>) {
    let start = (page - 1).saturating_mul(PAGE_SIZE);
    let joiner = if base.contains('?') { '&' } else { '?' };
    let next = (start + PAGE_SIZE < total).then(|| format!("{base}{joiner}page={}", page + 1));
    let first = (page > 1).then(|| base.to_owned());
    (next, first)
}

/// How many applications "Run user flow" offers to choose from.
const RUN_CHOICES: usize = 100;

pub(super) fn tenant_base(tenant: &TenantId) -> String {
    format!("{ROOT}/broker/{tenant}")
}

pub(super) fn crumbs(tenant: &TenantId) -> Vec<Link> {
    vec![
        Link::new(format!("{ROOT}/"), "Home", "crumb-home"),
        Link::new(
            format!("{}/", tenant_base(tenant)),
            format!("Broker tenant {tenant}"),
            "crumb-tenant",
        ),
    ]
}

pub(super) fn page_error(error: ServiceError) -> Response {
    match error {
        ServiceError::BrokerTenantNotFound
        | ServiceError::ProviderNotFound
        | ServiceError::FlowNotFound
        | ServiceError::ApplicationNotFound
        | ServiceError::DirectoryUserNotFound => not_found(),
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

pub(super) fn notice(params: &HashMap<String, String>) -> Option<String> {
    params.get("done").map(|done| {
        match done.as_str() {
            "created" => "Created.",
            "saved" => "Saved.",
            "deleted" => "Deleted.",
            "disabled" => "The user is disabled; their sessions and refresh tokens have ended.",
            "enabled" => "The user is enabled.",
            _ => "Done.",
        }
        .to_owned()
    })
}

/// The broker's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/broker/", get(tenants_list))
        .route("/admin/broker/new", get(new_tenant_form).post(new_tenant))
        .route("/admin/broker/{tenant}/", get(tenant_page))
        .route(
            "/admin/broker/{tenant}/identity-providers",
            get(providers_list),
        )
        .route(
            "/admin/broker/{tenant}/identity-providers/add",
            get(provider_types),
        )
        .route(
            "/admin/broker/{tenant}/identity-providers/add/oidc",
            get(provider_form).post(provider_create),
        )
        .route(
            "/admin/broker/{tenant}/identity-providers/{id}",
            get(provider_page),
        )
        .route(
            "/admin/broker/{tenant}/identity-providers/{id}/claims",
            get(claims_form).post(claims_save),
        )
        .route(
            "/admin/broker/{tenant}/identity-providers/{id}/edit",
            get(provider_edit_form).post(provider_edit_save),
        )
        .route(
            "/admin/broker/{tenant}/identity-providers/{id}/delete",
            axum::routing::post(provider_delete),
        )
        .route("/admin/broker/{tenant}/user-flows", get(flows_list))
        .route("/admin/broker/{tenant}/user-flows/new", get(flow_types))
        .route(
            "/admin/broker/{tenant}/user-flows/new/signup-signin",
            get(flow_form).post(flow_create),
        )
        .route("/admin/broker/{tenant}/user-flows/{policy}", get(flow_page))
        .route(
            "/admin/broker/{tenant}/user-flows/{policy}/attributes",
            get(attributes_form).post(attributes_save),
        )
        .route(
            "/admin/broker/{tenant}/user-flows/{policy}/claims",
            get(app_claims_form).post(app_claims_save),
        )
        .route(
            "/admin/broker/{tenant}/user-flows/{policy}/identity-providers",
            get(flow_providers_form).post(flow_providers_save),
        )
        .route("/admin/broker/{tenant}/user-flows/{policy}/run", get(run))
        .route("/admin/broker/{tenant}/applications", get(apps_list))
        .route(
            "/admin/broker/{tenant}/applications/new",
            get(app_form).post(app_create),
        )
        .route(
            "/admin/broker/{tenant}/applications/{id}",
            get(app_page).post(app_save),
        )
        .route(
            "/admin/broker/{tenant}/applications/{id}/delete",
            axum::routing::post(app_delete),
        )
        .route("/admin/broker/{tenant}/users", get(users_list))
        .route("/admin/broker/{tenant}/users/{id}", get(user_page))
        .route(
            "/admin/broker/{tenant}/users/{id}/{action}",
            axum::routing::post(user_action),
        )
}

// ---------------------------------------------------------------------------------------------------------------
// Home and broker tenants

/// `GET /admin/`: the tenants this administrator sees, of both roles.
pub async fn home(State(app): State<AppState>, ctx: Ctx) -> Response {
    let brokers = match broker_tenants::list_broker_tenants(app.broker.store.as_ref()).await {
        Ok(list) => list,
        Err(e) => return page_error(e),
    };
    let authenticators =
        match tessera_service::admin::members::authenticator_tenants(app.provider.store.as_ref())
            .await
        {
            Ok(list) => list,
            Err(e) => return page_error(e),
        };
    let mut sections = Vec::new();
    let mut broker_links: Vec<Link> = brokers
        .iter()
        .filter(|t| ctx.admin.sees_tenant(Some(Side::Broker), t.id.as_str()))
        .take(PAGE_SIZE)
        .map(|t| {
            Link::new(
                format!("{ROOT}/broker/{}/", t.id),
                format!("{} ({})", t.display_name, t.id),
                format!("broker-{}", t.id),
            )
        })
        .collect();
    broker_links.push(Link::new(
        format!("{ROOT}/broker/"),
        "All broker tenants (search)",
        "all-broker-tenants",
    ));
    if ctx.admin.is_global() {
        broker_links.push(Link::new(
            format!("{ROOT}/broker/new"),
            "New broker tenant",
            "new-broker-tenant",
        ));
    }
    sections.push(Section {
        heading: "Broker tenants".into(),
        id: "broker-tenants".into(),
        links: broker_links,
        ..Section::default()
    });
    let auth_links: Vec<Link> = authenticators
        .iter()
        .filter(|t| {
            t.id.as_str() != tessera_service::admin::members::ADMIN_TENANT
                && ctx
                    .admin
                    .sees_tenant(Some(Side::Authenticator), t.id.as_str())
        })
        .take(PAGE_SIZE)
        .map(|t| {
            Link::new(
                format!("{ROOT}/authenticator/{}/", t.id),
                format!("{} ({})", t.display_name, t.id),
                format!("authenticator-{}", t.id),
            )
        })
        .collect();
    sections.push(Section {
        heading: "Authenticator tenants".into(),
        id: "authenticator-tenants".into(),
        links: auth_links,
        ..Section::default()
    });
    let frame = Frame::new(&ctx, "Home", Vec::new());
    render(
        &DetailPage {
            frame,
            heading: "Tessera admin portal".into(),
            page_id: "portal-home".into(),
            intro: vec![
                "Configure the identity broker (identity providers, user flows, applications) and the \
                 authenticator service (tenants and their clients)."
                    .into(),
            ],
            secret: None,
            sections,
            run: None,
        },
        StatusCode::OK,
        ctx.set_csrf.clone(),
    )
}

/// `GET /admin/broker/`: the broker tenants this administrator sees, filtered by `q` (the id or display name starts
/// with it), 50 a page, the filter kept across the page links.
async fn tenants_list(
    State(app): State<AppState>,
    ctx: Ctx,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let tenants = match broker_tenants::list_broker_tenants(app.broker.store.as_ref()).await {
        Ok(list) => list,
        Err(e) => return page_error(e),
    };
    let q = list_filters::query(params.get("q").map(String::as_str));
    let visible: Vec<_> = tenants
        .into_iter()
        .filter(|t| ctx.admin.sees_tenant(Some(Side::Broker), t.id.as_str()))
        .filter(|t| {
            list_filters::starts_with_any(q.as_deref(), [t.id.as_str(), t.display_name.as_str()])
        })
        .collect();
    let kept = filter_query(&params, &["q"]);
    let list = if kept.is_empty() {
        format!("{ROOT}/broker/")
    } else {
        format!("{ROOT}/broker/?{kept}")
    };
    let (rows, next, first) = paged(visible, page_number(&params), &list);
    let rows = rows
        .into_iter()
        .map(|t| {
            vec![
                Cell::link(t.display_name.clone(), format!("{ROOT}/broker/{}/", t.id)),
                Cell::text(t.id.to_string()),
            ]
        })
        .collect();
    let mut actions = Vec::new();
    if ctx.admin.is_global() {
        actions.push(Link::new(
            format!("{ROOT}/broker/new"),
            "New broker tenant",
            "new-broker-tenant",
        ));
    }
    render(
        &ListPage {
            frame: Frame::new(
                &ctx,
                "Broker tenants",
                vec![Link::new(format!("{ROOT}/"), "Home", "crumb-home")],
            ),
            heading: "Broker tenants".into(),
            list_id: "broker-tenants".into(),
            intro: vec![
                "Tenants of the identity broker (identity providers, user flows, applications)."
                    .into(),
            ],
            actions,
            filters: vec![Search::text(
                "q",
                "Name or id (starts with)",
                params.get("q").cloned().unwrap_or_default(),
            )],
            columns: vec!["Name".into(), "Id".into()],
            rows,
            empty: if q.is_some() {
                "No broker tenant matches.".into()
            } else {
                "No broker tenant yet.".into()
            },
            next,
            first,
        },
        StatusCode::OK,
        ctx.set_csrf.clone(),
    )
}

fn tenant_fields() -> Vec<Field> {
    vec![
        Field::text(
            "id",
            "Tenant id",
            "",
            "Lowercase letters, digits and '-'; it appears in every URL (/{tenant}/...).",
        )
        .required(),
        Field::text(
            "display_name",
            "Display name",
            "",
            "Shown on the sign-in pages.",
        ),
    ]
}

fn tenant_form_page(ctx: &Ctx, fields: Vec<Field>, form_error: Option<String>) -> Response {
    FormPage {
        frame: Frame::new(
            ctx,
            "New broker tenant",
            vec![Link::new(format!("{ROOT}/"), "Home", "crumb-home")],
        ),
        heading: "New broker tenant".into(),
        intro: vec![
            "A broker tenant has its own identity providers, user flows, applications and users."
                .into(),
        ],
        form_id: "broker-tenant-form".into(),
        action: format!("{ROOT}/broker/new"),
        fields,
        form_error,
        submit: "Create".into(),
        submit_id: "create-button".into(),
        cancel: Some(format!("{ROOT}/")),
    }
    .respond(ctx.set_csrf.clone())
}

async fn new_tenant_form(ctx: Ctx) -> Response {
    if let Err(r) = ctx.global() {
        return *r;
    }
    tenant_form_page(&ctx, tenant_fields(), None)
}

async fn new_tenant(State(app): State<AppState>, ctx: Ctx, RawForm(body): RawForm) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    if let Err(r) = ctx.global() {
        return *r;
    }
    let mut fields = tenant_fields();
    fields[0].value = form.get("id");
    fields[1].value = form.get("display_name");
    let id = match TenantId::parse(&form.get("id")) {
        Ok(id) => id,
        Err(e) => {
            fields[0].error = Some(format!("{}.", capital(&e.to_string())));
            return tenant_form_page(&ctx, fields, None);
        }
    };
    let display = form.get("display_name");
    let created = broker_tenants::create_broker_tenant(
        app.broker.store.as_ref(),
        &app.broker.master_key,
        broker_tenants::NewBrokerTenant {
            id: id.clone(),
            display_name: (!display.is_empty()).then_some(display),
        },
        app.provider.clock.now(),
    )
    .await;
    match created {
        Ok(tenant) => {
            let after = serde_json::json!({"id": tenant.id.to_string(), "display_name": tenant.display_name});
            if let Err(r) = audit(
                &app,
                &ctx,
                actions::BROKER_TENANT_CREATE,
                format!("broker/{id}"),
                &id,
                (None, Some(after)),
            )
            .await
            {
                return r;
            }
            see_other(&format!("{}/?done=created", tenant_base(&id)))
        }
        Err(e) => match place_error(&mut fields, e) {
            Ok(form_error) => tenant_form_page(&ctx, fields, form_error),
            Err(page) => (*page).into_response(),
        },
    }
}

pub(super) fn capital(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

async fn tenant_page(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let tenant = match ctx.see(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let record = match broker_tenants::get_broker_tenant(app.broker.store.as_ref(), &tenant).await {
        Ok(r) => r,
        Err(e) => return page_error(e),
    };
    let base = tenant_base(&tenant);
    let frame = Frame::new(
        &ctx,
        &record.display_name,
        vec![Link::new(format!("{ROOT}/"), "Home", "crumb-home")],
    )
    .with_notice(notice(&params));
    render(
        &DetailPage {
            frame,
            heading: format!("{} (broker tenant {})", record.display_name, tenant),
            page_id: "broker-tenant".into(),
            intro: vec![format!(
                "Its user flows answer at {}/{}/B2C_1_<name>/v2.0/.well-known/openid-configuration; identity \
                 providers send their answers to {}.",
                app.provider.public_url.as_str(),
                tenant,
                app.provider
                    .public_url
                    .join(&format!("/{tenant}/oauth2/authresp"))
            )],
            secret: None,
            sections: vec![Section {
                heading: "Manage".into(),
                id: "manage".into(),
                links: vec![
                    Link::new(
                        format!("{base}/identity-providers"),
                        "Identity providers",
                        "identity-providers-link",
                    ),
                    Link::new(
                        format!("{base}/user-flows"),
                        "User flows",
                        "user-flows-link",
                    ),
                    Link::new(
                        format!("{base}/applications"),
                        "Applications",
                        "applications-link",
                    ),
                    Link::new(format!("{base}/users"), "Users", "users-link"),
                    Link::new(format!("{base}/keys"), "Signing keys", "keys-link"),
                    Link::new(
                        format!("{ROOT}/audit?tenant={tenant}"),
                        "Audit events",
                        "tenant-audit-link",
                    ),
                ],
                ..Section::default()
            }]
            .into_iter()
            .chain(ctx.admin.can_write().then(|| Section {
                heading: "Display name".into(),
                id: "tenant-name".into(),
                facts: vec![("Display name".into(), record.display_name.clone())],
                links: vec![Link::new(
                    format!("{base}/rename"),
                    "Rename",
                    "rename-tenant",
                )],
                ..Section::default()
            }))
            .chain(super::lifecycle::tenant_delete_section(
                &ctx,
                format!("{base}/delete"),
                record.revision,
                "applications, identity providers, user flows or directory users",
            ))
            .collect(),
            run: None,
        },
        StatusCode::OK,
        ctx.set_csrf.clone(),
    )
}

// ---------------------------------------------------------------------------------------------------------------
// Identity providers

async fn providers_list(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let tenant = match ctx.see(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let base = tenant_base(&tenant);
    let list_url = format!("{base}/identity-providers");
    // One page the store cuts, in id order, after the id `after`: no provider's fetched documents are read.
    let after = params.get("after").and_then(|a| ProviderId::parse(a).ok());
    let q = list_filters::query(params.get("q").map(String::as_str));
    let page = match providers::list_provider_summaries_page(
        app.broker.store.as_ref(),
        &tenant,
        q.as_deref(),
        after.as_ref(),
        PAGE_SIZE as u32,
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return page_error(e),
    };
    let list_url = format!("{list_url}?{}", filter_query(&params, &["q"]));
    let next = page
        .next
        .map(|n| format!("{list_url}&after={}", n.as_str()));
    let first = after.map(|_| list_url.clone());
    let rows = page
        .providers
        .into_iter()
        .map(|s| s.config)
        .map(|p| {
            vec![
                Cell::link(
                    p.name.clone(),
                    format!("{base}/identity-providers/{}", p.id.as_str()),
                ),
                Cell::text("OpenID Connect"),
                Cell::text(p.metadata_url.as_str()),
            ]
        })
        .collect();
    let mut actions = Vec::new();
    if ctx.admin.can_write() {
        actions.push(Link::new(
            format!("{base}/identity-providers/add"),
            "Add",
            "add-provider",
        ));
    }
    render(
        &ListPage {
            frame: Frame::new(&ctx, "Identity providers", crumbs(&tenant))
                .with_notice(notice(&params)),
            heading: "Identity providers".into(),
            list_id: "providers".into(),
            intro: Vec::new(),
            actions,
            filters: vec![Search::text(
                "q",
                "Name or ID (starts with)",
                params.get("q").cloned().unwrap_or_default(),
            )],
            columns: vec!["Name".into(), "Type".into(), "Metadata URL".into()],
            rows,
            empty: if q.is_some() {
                "No identity provider matches.".into()
            } else {
                "No identity provider yet. Select Add to configure one.".into()
            },
            next,
            first,
        },
        StatusCode::OK,
        ctx.set_csrf.clone(),
    )
}

async fn provider_types(ctx: Ctx, Path(tenant): Path<String>) -> Response {
    let tenant = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let base = tenant_base(&tenant);
    let mut crumbs = crumbs(&tenant);
    crumbs.push(Link::new(
        format!("{base}/identity-providers"),
        "Identity providers",
        "crumb-providers",
    ));
    render(
        &DetailPage {
            frame: Frame::new(&ctx, "Add an identity provider", crumbs),
            heading: "Add an identity provider".into(),
            page_id: "provider-types".into(),
            intro: vec!["Select the identity provider type.".into()],
            secret: None,
            sections: vec![Section {
                heading: "Identity provider type".into(),
                id: "types".into(),
                links: vec![Link::new(
                    format!("{base}/identity-providers/add/oidc"),
                    "OpenID Connect",
                    "type-oidc",
                )],
                ..Section::default()
            }],
            run: None,
        },
        StatusCode::OK,
        ctx.set_csrf.clone(),
    )
}

fn provider_fields(form: Option<&Submitted>) -> Vec<Field> {
    let value =
        |name: &str, default: &str| form.map_or_else(|| default.to_owned(), |f| f.get(name));
    let response_mode = value("response_mode", "form_post");
    let client_auth = value("client_auth", "client_secret_basic");
    vec![
        Field::text(
            "name",
            "Name",
            &value("name", ""),
            "Shown to users on the choice page, e.g. \"Nok Nok Authentication Provider\".",
        )
        .required(),
        Field::text(
            "id",
            "Identifier",
            &value("id", ""),
            "Lowercase letters, digits and '-'; made from the name when left empty.",
        ),
        Field::text(
            "metadata_url",
            "Metadata URL",
            &value("metadata_url", ""),
            "The provider's discovery document, ending in /.well-known/openid-configuration.",
        )
        .kind("url")
        .required(),
        Field::text(
            "client_id",
            "Client ID",
            &value("client_id", ""),
            "The client id the provider issued to this broker.",
        )
        .required(),
        Field::text(
            "client_secret",
            "Client secret",
            "",
            "The client secret the provider issued; stored encrypted, never shown again.",
        )
        .kind("password")
        .required(),
        Field::text(
            "client_auth",
            "Client authentication",
            "",
            "How the broker presents the secret at the provider's token endpoint.",
        )
        .choices(
            "select",
            vec![
                Choice::new(
                    "client_secret_basic",
                    "client_secret_basic (HTTP Basic)",
                    client_auth == "client_secret_basic",
                ),
                Choice::new(
                    "client_secret_post",
                    "client_secret_post (in the form)",
                    client_auth == "client_secret_post",
                ),
            ],
        ),
        Field::text(
            "scope",
            "Scope",
            &value("scope", "openid profile email"),
            "Space-separated; must contain openid.",
        )
        .required(),
        Field::text("response_type", "Response type", "", "")
            .choices("select", vec![Choice::new("code", "code", true)]),
        Field::text(
            "response_mode",
            "Response mode",
            "",
            "form_post: the provider posts the answer back.",
        )
        .choices(
            "select",
            vec![
                Choice::new("form_post", "form_post", response_mode == "form_post"),
                Choice::new("query", "query", response_mode == "query"),
            ],
        ),
    ]
}

fn provider_form_page(
    ctx: &Ctx,
    tenant: &TenantId,
    fields: Vec<Field>,
    form_error: Option<String>,
) -> Response {
    let base = tenant_base(tenant);
    let mut crumbs = crumbs(tenant);
    crumbs.push(Link::new(
        format!("{base}/identity-providers"),
        "Identity providers",
        "crumb-providers",
    ));
    FormPage {
        frame: Frame::new(ctx, "OpenID Connect", crumbs),
        heading: "OpenID Connect".into(),
        intro: vec![format!(
            "Register this redirect URI at the provider: {}/oauth2/authresp under this server's address. The \
             metadata URL and its keys are fetched and checked when you save.",
            format_args!("/{tenant}")
        )],
        form_id: "provider-form".into(),
        action: format!("{base}/identity-providers/add/oidc"),
        fields,
        form_error,
        submit: "OK".into(),
        submit_id: "provider-save".into(),
        cancel: Some(format!("{base}/identity-providers")),
    }
    .respond(ctx.set_csrf.clone())
}

async fn provider_form(ctx: Ctx, Path(tenant): Path<String>) -> Response {
    let tenant = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    provider_form_page(&ctx, &tenant, provider_fields(None), None)
}

/// An identifier made from a name: lowercase letters and digits, other runs as one '-'.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(63).collect()
}

fn field_error(fields: &mut [Field], name: &str, message: String) {
    if let Some(f) = fields.iter_mut().find(|f| f.name == name) {
        f.error = Some(message);
    }
}

async fn provider_create(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    let tenant = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let mut fields = provider_fields(Some(&form));
    let id_text = match form.get("id") {
        id if id.is_empty() => slug(&form.get("name")),
        id => id,
    };
    let id = ProviderId::parse(&id_text);
    let metadata = MetadataUrl::parse(&form.get("metadata_url"));
    let secret = form.get("client_secret");
    if let Err(e) = &id {
        let target = if form.get("id").is_empty() {
            "name"
        } else {
            "id"
        };
        field_error(&mut fields, target, capital(&format!("{e}.")));
    }
    if let Err(e) = &metadata {
        field_error(&mut fields, "metadata_url", capital(&format!("{e}.")));
    }
    if secret.is_empty() {
        field_error(
            &mut fields,
            "client_secret",
            "Enter the client secret the provider issued.".into(),
        );
    }
    let (Ok(id), Ok(metadata_url)) = (id, metadata) else {
        return provider_form_page(&ctx, &tenant, fields, None);
    };
    if secret.is_empty() {
        return provider_form_page(&ctx, &tenant, fields, None);
    }
    let config = IdentityProvider {
        id: id.clone(),
        name: form.get("name"),
        metadata_url,
        client_id: form.get("client_id"),
        client_auth: if form.get("client_auth") == "client_secret_post" {
            UpstreamClientAuth::ClientSecretPost
        } else {
            UpstreamClientAuth::ClientSecretBasic
        },
        scope: parse_scope(&form.get("scope")),
        response_type: ResponseType::Code,
        response_mode: if form.get("response_mode") == "query" {
            ResponseMode::Query
        } else {
            ResponseMode::FormPost
        },
        claim_mapping: ClaimMapping::default(),
        domain_hint: None,
    };
    let saved = providers::save_identity_provider(
        app.broker.store.as_ref(),
        &app.broker.master_key,
        &app.broker.upstream,
        &tenant,
        config,
        Secret::new(secret),
        app.provider.clock.now(),
    )
    .await;
    match saved {
        Ok(view) => {
            app.broker.cache.invalidate(&tenant);
            let after = provider_json(&view.config);
            if let Err(r) = audit(
                &app,
                &ctx,
                actions::BROKER_PROVIDER_CREATE,
                format!("broker/{tenant}/identity-providers/{}", id.as_str()),
                &tenant,
                (None, Some(after)),
            )
            .await
            {
                return r;
            }
            see_other(&format!(
                "{}/identity-providers/{}?done=created",
                tenant_base(&tenant),
                id.as_str()
            ))
        }
        Err(e) => match place_error(&mut fields, e) {
            Ok(form_error) => provider_form_page(&ctx, &tenant, fields, form_error),
            Err(page) => (*page).into_response(),
        },
    }
}

fn provider_json(config: &IdentityProvider) -> serde_json::Value {
    serde_json::to_value(config).unwrap_or(serde_json::Value::Null)
}

async fn provider_page(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let tenant = match ctx.see(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Ok(id) = ProviderId::parse(&id) else {
        return not_found();
    };
    let view = match providers::get_identity_provider(app.broker.store.as_ref(), &tenant, &id).await
    {
        Ok(v) => v,
        Err(e) => return page_error(e),
    };
    provider_detail(
        &ctx,
        &tenant,
        &view,
        notice(&params),
        Vec::new(),
        StatusCode::OK,
    )
}

/// An identity provider's page, with `extra` sections at the end (the result of "Test connection").
pub(super) fn provider_detail(
    ctx: &Ctx,
    tenant: &TenantId,
    view: &providers::ProviderView,
    notice: Option<String>,
    extra: Vec<Section>,
    status: StatusCode,
) -> Response {
    let id = &view.config.id;
    let base = format!("{}/identity-providers/{}", tenant_base(tenant), id.as_str());
    let c = &view.config;
    let m = &c.claim_mapping;
    let none = || "(not mapped)".to_owned();
    let mut links = Vec::new();
    let mut buttons = Vec::new();
    if ctx.admin.can_write() {
        links.push(Link::new(
            format!("{base}/claims"),
            "Map this identity provider's claims",
            "map-claims",
        ));
        links.push(Link::new(
            format!("{base}/edit"),
            "Edit the connection",
            "edit-provider",
        ));
        buttons.push(Button {
            action: format!("{base}/test"),
            label: "Test connection".into(),
            id: "test-provider".into(),
            hidden: Vec::new(),
            danger: false,
        });
        buttons.push(Button {
            action: format!("{base}/delete"),
            label: "Delete".into(),
            id: "delete-provider".into(),
            hidden: Vec::new(),
            danger: true,
        });
    }
    let mut crumbs = crumbs(tenant);
    crumbs.push(Link::new(
        format!("{}/identity-providers", tenant_base(tenant)),
        "Identity providers",
        "crumb-providers",
    ));
    render(
        &DetailPage {
            frame: Frame::new(ctx, &c.name, crumbs).with_notice(notice),
            heading: c.name.clone(),
            page_id: "provider".into(),
            intro: Vec::new(),
            secret: None,
            sections: vec![
                Section {
                    heading: "OpenID Connect".into(),
                    id: "provider-settings".into(),
                    facts: vec![
                        ("Identifier".into(), c.id.to_string()),
                        ("Metadata URL".into(), c.metadata_url.as_str().to_owned()),
                        ("Issuer".into(), view.metadata.issuer.clone()),
                        ("Client ID".into(), c.client_id.clone()),
                        (
                            "Client secret".into(),
                            if view.has_client_secret {
                                "stored (encrypted)".into()
                            } else {
                                "none".into()
                            },
                        ),
                        (
                            "Client authentication".into(),
                            c.client_auth.as_str().into(),
                        ),
                        ("Scope".into(), c.scope_string()),
                        ("Response type".into(), c.response_type.as_str().into()),
                        ("Response mode".into(), c.response_mode.as_str().into()),
                        ("Signing keys".into(), view.signing_keys.to_string()),
                    ],
                    buttons,
                    ..Section::default()
                },
                Section {
                    heading: "Claim mapping".into(),
                    id: "claim-mapping".into(),
                    facts: vec![
                        ("User ID".into(), m.user_id.clone()),
                        (
                            "Display name".into(),
                            m.display_name.clone().unwrap_or_else(none),
                        ),
                        (
                            "Given name".into(),
                            m.given_name.clone().unwrap_or_else(none),
                        ),
                        ("Surname".into(), m.surname.clone().unwrap_or_else(none)),
                        ("Email".into(), m.email.clone().unwrap_or_else(none)),
                    ],
                    links,
                    ..Section::default()
                },
            ]
            .into_iter()
            .chain(extra)
            .collect(),
            run: None,
        },
        status,
        ctx.set_csrf.clone(),
    )
}

fn claim_fields(mapping: &ClaimMapping) -> Vec<Field> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        Field::text(
            "user_id",
            "User ID",
            &mapping.user_id,
            "The provider's claim that identifies the user (usually sub).",
        )
        .required(),
        Field::text(
            "display_name",
            "Display name",
            &opt(&mapping.display_name),
            "Empty: not mapped.",
        ),
        Field::text(
            "given_name",
            "Given name",
            &opt(&mapping.given_name),
            "Empty: not mapped.",
        ),
        Field::text(
            "surname",
            "Surname",
            &opt(&mapping.surname),
            "Empty: not mapped.",
        ),
        Field::text("email", "Email", &opt(&mapping.email), "Empty: not mapped."),
    ]
}

/// The version of a provider a form was opened at: when its configuration was last saved (the service checks the
/// configuration and this time again when the form is saved).
fn provider_version(view: &providers::ProviderView) -> String {
    view.updated_at.unix_timestamp_nanos().to_string()
}

/// `fields` with the hidden version of `view` they were filled from.
fn with_provider_version(mut fields: Vec<Field>, view: &providers::ProviderView) -> Vec<Field> {
    fields.push(Field::text("version", "", &provider_version(view), "").kind("hidden"));
    fields
}

/// Shown next to a provider's form saved from a version someone else changed meanwhile.
const PROVIDER_CHANGED: &str = "Someone else changed this identity provider since you opened this page, so nothing \
     was saved. The form now shows its current settings: check them and save again if you still want the change.";

fn claims_page(
    ctx: &Ctx,
    tenant: &TenantId,
    id: &ProviderId,
    name: &str,
    fields: Vec<Field>,
    form_error: Option<String>,
) -> Response {
    let base = format!("{}/identity-providers/{}", tenant_base(tenant), id.as_str());
    let mut crumbs = crumbs(tenant);
    crumbs.push(Link::new(
        format!("{}/identity-providers", tenant_base(tenant)),
        "Identity providers",
        "crumb-providers",
    ));
    crumbs.push(Link::new(base.clone(), name.to_owned(), "crumb-provider"));
    FormPage {
        frame: Frame::new(ctx, "Map this identity provider's claims", crumbs),
        heading: "Map this identity provider's claims".into(),
        intro: vec![format!(
            "Which claim of {name}'s ID token fills each attribute of the directory's user."
        )],
        form_id: "claims-form".into(),
        action: format!("{base}/claims"),
        fields,
        form_error,
        submit: "Save".into(),
        submit_id: "claims-save".into(),
        cancel: Some(base),
    }
    .respond(ctx.set_csrf.clone())
}

async fn claims_form(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, id)): Path<(String, String)>,
) -> Response {
    let tenant = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Ok(id) = ProviderId::parse(&id) else {
        return not_found();
    };
    match providers::get_identity_provider(app.broker.store.as_ref(), &tenant, &id).await {
        Ok(view) => claims_page(
            &ctx,
            &tenant,
            &id,
            &view.config.name,
            with_provider_version(claim_fields(&view.config.claim_mapping), &view),
            None,
        ),
        Err(e) => page_error(e),
    }
}

async fn claims_save(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, id)): Path<(String, String)>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    let tenant = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Ok(id) = ProviderId::parse(&id) else {
        return not_found();
    };
    let view = match providers::get_identity_provider(app.broker.store.as_ref(), &tenant, &id).await
    {
        Ok(v) => v,
        Err(e) => return page_error(e),
    };
    if form.get("version") != provider_version(&view) {
        let fields = with_provider_version(claim_fields(&view.config.claim_mapping), &view);
        let error = Some(PROVIDER_CHANGED.into());
        return claims_page(&ctx, &tenant, &id, &view.config.name, fields, error);
    }
    let opt = |name: &str| Some(form.get(name)).filter(|v| !v.is_empty());
    let mapping = ClaimMapping {
        user_id: form.get("user_id"),
        display_name: opt("display_name"),
        given_name: opt("given_name"),
        surname: opt("surname"),
        email: opt("email"),
    };
    let mut fields = with_provider_version(claim_fields(&mapping), &view);
    let before = provider_json(&view.config);
    let config = IdentityProvider {
        claim_mapping: mapping,
        ..view.config.clone()
    };
    let saved = providers::update_identity_provider(
        app.broker.store.as_ref(),
        &app.broker.master_key,
        &app.broker.upstream,
        &tenant,
        config,
        None,
        app.provider.clock.now(),
        Some(&view),
    )
    .await;
    match saved {
        Ok(saved) => {
            app.broker.cache.invalidate(&tenant);
            if let Err(r) = audit(
                &app,
                &ctx,
                actions::BROKER_PROVIDER_CLAIMS_UPDATE,
                format!("broker/{tenant}/identity-providers/{}", id.as_str()),
                &tenant,
                (Some(before), Some(provider_json(&saved.config))),
            )
            .await
            {
                return r;
            }
            see_other(&format!(
                "{}/identity-providers/{}?done=saved",
                tenant_base(&tenant),
                id.as_str()
            ))
        }
        Err(ServiceError::Changed { .. }) => {
            match providers::get_identity_provider(app.broker.store.as_ref(), &tenant, &id).await {
                Ok(now) => {
                    let fields =
                        with_provider_version(claim_fields(&now.config.claim_mapping), &now);
                    let error = Some(PROVIDER_CHANGED.into());
                    claims_page(&ctx, &tenant, &id, &now.config.name, fields, error)
                }
                Err(e) => page_error(e),
            }
        }
        Err(e) => match place_error(&mut fields, e) {
            Ok(form_error) => {
                claims_page(&ctx, &tenant, &id, &view.config.name, fields, form_error)
            }
            Err(page) => (*page).into_response(),
        },
    }
}

/// The edit form's fields: the add form's, without the identifier (it cannot change), the secret optional.
fn provider_edit_fields(config: &IdentityProvider, form: Option<&Submitted>) -> Vec<Field> {
    let current = Submitted(vec![
        ("name".into(), config.name.clone()),
        (
            "metadata_url".into(),
            config.metadata_url.as_str().to_owned(),
        ),
        ("client_id".into(), config.client_id.clone()),
        ("client_auth".into(), config.client_auth.as_str().to_owned()),
        ("scope".into(), config.scope_string()),
        (
            "response_mode".into(),
            config.response_mode.as_str().to_owned(),
        ),
    ]);
    let mut fields = provider_fields(Some(form.unwrap_or(&current)));
    fields.retain(|f| f.name != "id");
    if let Some(secret) = fields.iter_mut().find(|f| f.name == "client_secret") {
        secret.required = false;
        secret.hint = "Leave empty to keep the stored secret.".into();
    }
    fields
}

fn provider_edit_page(
    ctx: &Ctx,
    tenant: &TenantId,
    config: &IdentityProvider,
    fields: Vec<Field>,
    form_error: Option<String>,
) -> Response {
    let base = format!(
        "{}/identity-providers/{}",
        tenant_base(tenant),
        config.id.as_str()
    );
    let mut crumbs = crumbs(tenant);
    crumbs.push(Link::new(
        format!("{}/identity-providers", tenant_base(tenant)),
        "Identity providers",
        "crumb-providers",
    ));
    crumbs.push(Link::new(
        base.clone(),
        config.name.clone(),
        "crumb-provider",
    ));
    FormPage {
        frame: Frame::new(ctx, "Edit the connection", crumbs),
        heading: format!("Edit {}", config.name),
        intro: vec![
            "The metadata URL and its keys are fetched and checked again when you save.".into(),
        ],
        form_id: "provider-edit-form".into(),
        action: format!("{base}/edit"),
        fields,
        form_error,
        submit: "Save".into(),
        submit_id: "provider-edit-save".into(),
        cancel: Some(base),
    }
    .respond(ctx.set_csrf.clone())
}

async fn provider_edit_form(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, id)): Path<(String, String)>,
) -> Response {
    let tenant = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Ok(id) = ProviderId::parse(&id) else {
        return not_found();
    };
    match providers::get_identity_provider(app.broker.store.as_ref(), &tenant, &id).await {
        Ok(view) => {
            let fields = with_provider_version(provider_edit_fields(&view.config, None), &view);
            provider_edit_page(&ctx, &tenant, &view.config, fields, None)
        }
        Err(e) => page_error(e),
    }
}

async fn provider_edit_save(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, id)): Path<(String, String)>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    let tenant = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Ok(id) = ProviderId::parse(&id) else {
        return not_found();
    };
    let view = match providers::get_identity_provider(app.broker.store.as_ref(), &tenant, &id).await
    {
        Ok(v) => v,
        Err(e) => return page_error(e),
    };
    if form.get("version") != provider_version(&view) {
        let fields = with_provider_version(provider_edit_fields(&view.config, None), &view);
        let error = Some(PROVIDER_CHANGED.into());
        return provider_edit_page(&ctx, &tenant, &view.config, fields, error);
    }
    let mut fields = with_provider_version(provider_edit_fields(&view.config, Some(&form)), &view);
    let metadata_url = match MetadataUrl::parse(&form.get("metadata_url")) {
        Ok(url) => url,
        Err(e) => {
            field_error(&mut fields, "metadata_url", capital(&format!("{e}.")));
            return provider_edit_page(&ctx, &tenant, &view.config, fields, None);
        }
    };
    let config = IdentityProvider {
        name: form.get("name"),
        metadata_url,
        client_id: form.get("client_id"),
        client_auth: if form.get("client_auth") == "client_secret_post" {
            UpstreamClientAuth::ClientSecretPost
        } else {
            UpstreamClientAuth::ClientSecretBasic
        },
        scope: parse_scope(&form.get("scope")),
        response_mode: if form.get("response_mode") == "query" {
            ResponseMode::Query
        } else {
            ResponseMode::FormPost
        },
        ..view.config.clone()
    };
    let secret = Some(form.get("client_secret"))
        .filter(|s| !s.is_empty())
        .map(Secret::new);
    let before = provider_json(&view.config);
    let saved = providers::update_identity_provider(
        app.broker.store.as_ref(),
        &app.broker.master_key,
        &app.broker.upstream,
        &tenant,
        config,
        secret,
        app.provider.clock.now(),
        Some(&view),
    )
    .await;
    match saved {
        Ok(saved) => {
            app.broker.cache.invalidate(&tenant);
            if let Err(r) = audit(
                &app,
                &ctx,
                actions::BROKER_PROVIDER_UPDATE,
                format!("broker/{tenant}/identity-providers/{}", id.as_str()),
                &tenant,
                (Some(before), Some(provider_json(&saved.config))),
            )
            .await
            {
                return r;
            }
            see_other(&format!(
                "{}/identity-providers/{}?done=saved",
                tenant_base(&tenant),
                id.as_str()
            ))
        }
        Err(ServiceError::Changed { .. }) => {
            match providers::get_identity_provider(app.broker.store.as_ref(), &tenant, &id).await {
                Ok(now) => {
                    let fields =
                        with_provider_version(provider_edit_fields(&now.config, None), &now);
                    let error = Some(PROVIDER_CHANGED.into());
                    provider_edit_page(&ctx, &tenant, &now.config, fields, error)
                }
                Err(e) => page_error(e),
            }
        }
        Err(e) => match place_error(&mut fields, e) {
            Ok(form_error) => provider_edit_page(&ctx, &tenant, &view.config, fields, form_error),
            Err(page) => (*page).into_response(),
        },
    }
}

async fn provider_delete(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, id)): Path<(String, String)>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    let tenant = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Ok(id) = ProviderId::parse(&id) else {
        return not_found();
    };
    let read = match providers::get_identity_provider(app.broker.store.as_ref(), &tenant, &id).await
    {
        Ok(v) => v,
        Err(e) => return page_error(e),
    };
    let before = provider_json(&read.config);
    match providers::delete_identity_provider(app.broker.store.as_ref(), &tenant, &id, Some(&read))
        .await
    {
        Ok(()) => {
            app.broker.cache.invalidate(&tenant);
            if let Err(r) = audit(
                &app,
                &ctx,
                actions::BROKER_PROVIDER_DELETE,
                format!("broker/{tenant}/identity-providers/{}", id.as_str()),
                &tenant,
                (Some(before), None),
            )
            .await
            {
                return r;
            }
            see_other(&format!(
                "{}/identity-providers?done=deleted",
                tenant_base(&tenant)
            ))
        }
        Err(e @ ServiceError::ProviderInUse { .. }) => PageError::new(
            StatusCode::CONFLICT,
            "Not possible",
            &capital(&format!("{e}.")),
        )
        .with_link(
            format!(
                "{}/identity-providers/{}",
                tenant_base(&tenant),
                id.as_str()
            ),
            "Back to the identity provider",
        )
        .into_response(),
        Err(e) => page_error(e),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// User flows

async fn flows_list(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let tenant = match ctx.see(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let page = page_number(&params);
    let offset = (page - 1).saturating_mul(PAGE_SIZE);
    let q = list_filters::query(params.get("q").map(String::as_str));
    let (rows, total) = match flows::list_user_flows_page(
        app.broker.store.as_ref(),
        &tenant,
        q.as_deref(),
        offset,
        PAGE_SIZE,
    )
    .await
    {
        Ok(l) => l,
        Err(e) => return page_error(e),
    };
    let base = tenant_base(&tenant);
    let kept = filter_query(&params, &["q"]);
    let list = if kept.is_empty() {
        format!("{base}/user-flows")
    } else {
        format!("{base}/user-flows?{kept}")
    };
    let (next, first) = pager(page, total, &list);
    let rows = rows
        .into_iter()
        .map(|f| {
            vec![
                Cell::link(
                    f.policy.to_string(),
                    format!("{base}/user-flows/{}", f.policy),
                ),
                Cell::text("Sign up and sign in"),
                Cell::text(f.current_version.to_string()),
            ]
        })
        .collect();
    let mut actions = Vec::new();
    if ctx.admin.can_write() {
        actions.push(Link::new(
            format!("{base}/user-flows/new"),
            "New user flow",
            "new-user-flow",
        ));
    }
    render(
        &ListPage {
            frame: Frame::new(&ctx, "User flows", crumbs(&tenant)).with_notice(notice(&params)),
            heading: "User flows".into(),
            list_id: "user-flows".into(),
            intro: Vec::new(),
            actions,
            filters: vec![Search::text(
                "q",
                "Policy name (starts with)",
                params.get("q").cloned().unwrap_or_default(),
            )],
            columns: vec!["Name".into(), "Type".into(), "Version".into()],
            rows,
            empty: if q.is_some() {
                "No user flow matches.".into()
            } else {
                "No user flow yet. Select New user flow to create one.".into()
            },
            next,
            first,
        },
        StatusCode::OK,
        ctx.set_csrf.clone(),
    )
}

async fn flow_types(ctx: Ctx, Path(tenant): Path<String>) -> Response {
    let tenant = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let base = tenant_base(&tenant);
    let mut crumbs = crumbs(&tenant);
    crumbs.push(Link::new(
        format!("{base}/user-flows"),
        "User flows",
        "crumb-flows",
    ));
    render(
        &DetailPage {
            frame: Frame::new(&ctx, "Create a user flow", crumbs),
            heading: "Create a user flow".into(),
            page_id: "flow-types".into(),
            intro: vec!["Select a user flow type.".into()],
            secret: None,
            sections: vec![Section {
                heading: "User flow type".into(),
                id: "types".into(),
                facts: vec![("Version".into(), "Recommended".into())],
                links: vec![Link::new(
                    format!("{base}/user-flows/new/signup-signin"),
                    "Sign up and sign in",
                    "type-signup-signin",
                )],
                ..Section::default()
            }],
            run: None,
        },
        StatusCode::OK,
        ctx.set_csrf.clone(),
    )
}

const ATTRIBUTES: [(&str, &str); 4] = [
    ("email", "Email Address"),
    ("display_name", "Display Name"),
    ("given_name", "Given Name"),
    ("surname", "Surname"),
];

const CLAIMS: [(&str, &str); 7] = [
    ("email", "Email Addresses (emails)"),
    ("display_name", "Display Name (name)"),
    ("given_name", "Given Name (given_name)"),
    ("surname", "Surname (family_name)"),
    ("identity_provider", "Identity Provider (idp)"),
    ("object_id", "User's Object ID (oid)"),
    ("new_user", "User is new (newUser)"),
];

fn attribute_name(attribute: &UserAttribute) -> String {
    match attribute {
        UserAttribute::Email => "email".into(),
        UserAttribute::DisplayName => "display_name".into(),
        UserAttribute::GivenName => "given_name".into(),
        UserAttribute::Surname => "surname".into(),
        UserAttribute::Custom(name) => format!("extension_{name}"),
    }
}

fn attribute_of(name: &str) -> Option<UserAttribute> {
    Some(match name {
        "email" => UserAttribute::Email,
        "display_name" => UserAttribute::DisplayName,
        "given_name" => UserAttribute::GivenName,
        "surname" => UserAttribute::Surname,
        _ => return None,
    })
}

fn claim_name(claim: &ApplicationClaim) -> String {
    match claim {
        ApplicationClaim::Email => "email".into(),
        ApplicationClaim::DisplayName => "display_name".into(),
        ApplicationClaim::GivenName => "given_name".into(),
        ApplicationClaim::Surname => "surname".into(),
        ApplicationClaim::IdentityProvider => "identity_provider".into(),
        ApplicationClaim::ObjectId => "object_id".into(),
        ApplicationClaim::NewUser => "new_user".into(),
        ApplicationClaim::Custom(name) => format!("extension_{name}"),
    }
}

fn claim_of(name: &str) -> Option<ApplicationClaim> {
    Some(match name {
        "email" => ApplicationClaim::Email,
        "display_name" => ApplicationClaim::DisplayName,
        "given_name" => ApplicationClaim::GivenName,
        "surname" => ApplicationClaim::Surname,
        "identity_provider" => ApplicationClaim::IdentityProvider,
        "object_id" => ApplicationClaim::ObjectId,
        "new_user" => ApplicationClaim::NewUser,
        _ => return None,
    })
}

fn attribute_field(settings: &FlowSettings) -> Field {
    let collected: Vec<String> = settings
        .user_attributes
        .iter()
        .map(|a| attribute_name(&a.attribute))
        .collect();
    Field::text(
        "collect",
        "Collect attribute",
        "",
        "Asked on the attribute page at sign-up when the identity provider did not send it.",
    )
    .choices(
        "checkboxes",
        ATTRIBUTES
            .iter()
            .map(|(v, l)| Choice::new(*v, *l, collected.iter().any(|c| c == v)))
            .collect(),
    )
}

fn claims_field(settings: &FlowSettings) -> Field {
    let returned: Vec<String> = settings.application_claims.iter().map(claim_name).collect();
    Field::text(
        "claims",
        "Return claim",
        "",
        "Put in the ID tokens the application receives.",
    )
    .choices(
        "checkboxes",
        CLAIMS
            .iter()
            .map(|(v, l)| Choice::new(*v, *l, returned.iter().any(|c| c == v)))
            .collect(),
    )
}

/// How many identity providers a flow form's search offers to add.
const PROVIDER_MATCHES: usize = 25;

/// The name of the query parameter of the providers' search (`{field}_q`).
const PROVIDER_QUERY: &str = "identity_providers_q";

/// The identity providers a flow offers: the `chosen` ones ticked (with their names, one summary read each), and a
/// search box whose matches (up to [`PROVIDER_MATCHES`], found in the store's pages of provider summaries; the first
/// providers by id when `query` is empty) can be ticked to add them. The search sends the form by GET to `page`
/// (the form's own page), which shows it again as it was with the matches of the new query.
async fn providers_field(
    app: &AppState,
    tenant: &TenantId,
    chosen: &[ProviderId],
    query: &str,
    page: &str,
) -> Result<Field, Response> {
    let store = app.broker.store.as_ref();
    let named = providers::provider_names(store, tenant, chosen)
        .await
        .map_err(page_error)?;
    let found =
        providers::search_provider_summaries(store, tenant, query, PROVIDER_MATCHES + chosen.len())
            .await
            .map_err(page_error)?;
    let mut matches: Vec<Choice> = found
        .providers
        .iter()
        .filter(|m| !chosen.contains(&m.id))
        .map(|m| Choice::new(m.id.as_str(), format!("{} ({})", m.name, m.id), false))
        .collect();
    let more = found.more || matches.len() > PROVIDER_MATCHES;
    matches.truncate(PROVIDER_MATCHES);
    let query = query.trim();
    let summary = match (query.is_empty(), matches.len(), more) {
        (true, 0, _) if chosen.is_empty() => "The tenant has no identity providers yet.".to_owned(),
        (true, 0, _) => "The tenant has no other identity providers.".to_owned(),
        (true, n, true) => format!(
            "The first {n} other identity providers by identifier; search to find the others."
        ),
        (true, _, false) => "The tenant's other identity providers:".to_owned(),
        (false, 0, _) => format!("No other identity provider matches “{query}”."),
        (false, n, true) => format!(
            "The first {n} that match “{query}”; type more of the name or identifier to see the others."
        ),
        (false, 1, false) => format!("1 identity provider matches “{query}”:"),
        (false, n, false) => format!("{n} identity providers match “{query}”:"),
    };
    let ticked = named
        .into_iter()
        .map(|(id, name)| {
            let label = match name {
                Some(name) => format!("{name} ({id})"),
                None => format!("{id} (not an identity provider of this tenant)"),
            };
            Choice::new(id.as_str(), label, true)
        })
        .collect();
    Ok(Field::text(
        "identity_providers",
        "Identity providers",
        "",
        "One: users go straight there. Several, or email signup too: users choose on a page. Untick one to \
         remove it; tick a match below to add it.",
    )
    .picker(
        ticked,
        Picker {
            action: format!("{page}#identity_providers-matches"),
            label: "Find an identity provider".into(),
            hint: "The start of its name, of a word of its name, or of its identifier. Search keeps what you \
                   entered on this page."
                .into(),
            query: query.to_owned(),
            matches,
            summary,
        },
    ))
}

fn apply_providers(form: &Submitted, settings: &mut FlowSettings) {
    let mut ids: Vec<ProviderId> = Vec::new();
    for id in form
        .all("identity_providers")
        .iter()
        .filter_map(|p| ProviderId::parse(p).ok())
    {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    settings.identity_providers = ids;
}

/// The form's values as its search button sent them (GET with `picker`), or `None` on a first visit.
fn search_draft(query: Option<&str>) -> Option<Submitted> {
    query
        .map(|q| Submitted::parse(q.as_bytes()))
        .filter(|d| !d.get("picker").is_empty())
}

/// A search sends the whole form by GET, its CSRF token too: the same page without it (303), so the token stays
/// out of the address bar, the history and the logs of what comes after. `None` when the query has none.
fn without_csrf(path: &str, query: Option<&str>) -> Option<Response> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query?.as_bytes())
        .into_owned()
        .collect();
    let field = crate::common::csrf::CSRF_FIELD;
    if !pairs.iter().any(|(k, _)| k == field) {
        return None;
    }
    let clean = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().filter(|(k, _)| k != field))
        .finish();
    Some(see_other(&format!("{path}?{clean}")))
}

fn flow_fields(providers: Field, settings: &FlowSettings, name: &str) -> Vec<Field> {
    let mfa = match settings.mfa {
        MfaSetting::Off => "off",
        MfaSetting::Always => "always",
        MfaSetting::Conditional => "conditional",
    };
    vec![
        Field::text(
            "name",
            "Name",
            name,
            "The policy id is B2C_1_ followed by the name (letters, digits, '_' and '-').",
        )
        .required(),
        providers,
        Field::text(
            "local_accounts",
            "Email signup (local accounts)",
            if settings.local_accounts == LocalAccounts::Email {
                "true"
            } else {
                ""
            },
            "",
        )
        .kind("checkbox"),
        Field::text(
            "mfa",
            "Multi-factor authentication",
            "",
            "The broker judges the identity provider's sign-in (amr).",
        )
        .choices(
            "radios",
            vec![
                Choice::new("off", "Off", mfa == "off"),
                Choice::new("always", "Always on", mfa == "always"),
                Choice::new("conditional", "Conditional", mfa == "conditional"),
            ],
        ),
        Field::text(
            "conditional_access",
            "Enforce conditional access policies",
            if settings.conditional_access.enforced {
                "true"
            } else {
                ""
            },
            "",
        )
        .kind("checkbox"),
        attribute_field(settings),
        claims_field(settings),
    ]
}

fn settings_from(form: &Submitted, based_on: &FlowSettings) -> FlowSettings {
    let mut settings = based_on.clone();
    apply_providers(form, &mut settings);
    settings.local_accounts = if form.get("local_accounts") == "true" {
        LocalAccounts::Email
    } else {
        LocalAccounts::None
    };
    settings.mfa = match form.get("mfa").as_str() {
        "always" => MfaSetting::Always,
        "conditional" => MfaSetting::Conditional,
        _ => MfaSetting::Off,
    };
    settings.conditional_access.enforced = form.get("conditional_access") == "true";
    apply_attributes(form, &mut settings);
    apply_claims(form, &mut settings);
    settings
}

fn apply_attributes(form: &Submitted, settings: &mut FlowSettings) {
    let custom: Vec<CollectedAttribute> = settings
        .user_attributes
        .iter()
        .filter(|a| matches!(a.attribute, UserAttribute::Custom(_)))
        .cloned()
        .collect();
    settings.user_attributes = form
        .all("collect")
        .iter()
        .filter_map(|a| attribute_of(a))
        .map(|attribute| CollectedAttribute {
            attribute,
            required: true,
        })
        .chain(custom)
        .collect();
}

fn apply_claims(form: &Submitted, settings: &mut FlowSettings) {
    let custom: Vec<ApplicationClaim> = settings
        .application_claims
        .iter()
        .filter(|c| matches!(c, ApplicationClaim::Custom(_)))
        .cloned()
        .collect();
    settings.application_claims = form
        .all("claims")
        .iter()
        .filter_map(|c| claim_of(c))
        .chain(custom)
        .collect();
}

fn flow_form_page(
    ctx: &Ctx,
    tenant: &TenantId,
    fields: Vec<Field>,
    form_error: Option<String>,
) -> Response {
    let base = tenant_base(tenant);
    let mut crumbs = crumbs(tenant);
    crumbs.push(Link::new(
        format!("{base}/user-flows"),
        "User flows",
        "crumb-flows",
    ));
    FormPage {
        frame: Frame::new(ctx, "Sign up and sign in", crumbs),
        heading: "Sign up and sign in".into(),
        intro: vec!["Version: Recommended.".into()],
        form_id: "flow-form".into(),
        action: format!("{base}/user-flows/new/signup-signin"),
        fields,
        form_error,
        submit: "Create".into(),
        submit_id: "flow-create".into(),
        cancel: Some(format!("{base}/user-flows")),
    }
    .respond(ctx.set_csrf.clone())
}

/// "New user flow" → "Sign up and sign in": the defaults (the email collected, the object id returned, the first
/// identity provider chosen), or, after its search button, the form as it was sent with the search's matches.
async fn flow_form(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let tenant = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let page = format!("{}/user-flows/new/signup-signin", tenant_base(&tenant));
    if let Some(clean) = without_csrf(&page, query.as_deref()) {
        return clean;
    }
    let (settings, name, search) = match search_draft(query.as_deref()) {
        Some(draft) => (
            settings_from(&draft, &FlowSettings::default()),
            draft.get("name"),
            draft.get(PROVIDER_QUERY),
        ),
        None => {
            let first = match providers::search_provider_summaries(
                app.broker.store.as_ref(),
                &tenant,
                "",
                1,
            )
            .await
            {
                Ok(found) => found.providers.into_iter().map(|m| m.id).collect(),
                Err(e) => return page_error(e),
            };
            let defaults = FlowSettings {
                user_attributes: vec![CollectedAttribute {
                    attribute: UserAttribute::Email,
                    required: true,
                }],
                application_claims: vec![ApplicationClaim::ObjectId],
                identity_providers: first,
                ..FlowSettings::default()
            };
            (defaults, String::new(), String::new())
        }
    };
    let picker =
        match providers_field(&app, &tenant, &settings.identity_providers, &search, &page).await {
            Ok(f) => f,
            Err(r) => return r,
        };
    flow_form_page(&ctx, &tenant, flow_fields(picker, &settings, &name), None)
}

async fn flow_create(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    let tenant = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let settings = settings_from(&form, &FlowSettings::default());
    let name = form.get("name");
    let page = format!("{}/user-flows/new/signup-signin", tenant_base(&tenant));
    let picker = match providers_field(
        &app,
        &tenant,
        &settings.identity_providers,
        &form.get(PROVIDER_QUERY),
        &page,
    )
    .await
    {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut fields = flow_fields(picker, &settings, &name);
    let policy = match PolicyId::from_name(&name) {
        Ok(p) => p,
        Err(e) => {
            field_error(&mut fields, "name", capital(&format!("{e}.")));
            return flow_form_page(&ctx, &tenant, fields, None);
        }
    };
    let now = app.provider.clock.now();
    match flows::create_user_flow(
        app.broker.store.as_ref(),
        &tenant,
        policy.clone(),
        settings.clone(),
        now,
    )
    .await
    {
        Ok(_) => {
            app.broker.cache.invalidate(&tenant);
            let after = serde_json::to_value(&settings).unwrap_or_default();
            if let Err(r) = audit(
                &app,
                &ctx,
                actions::BROKER_USER_FLOW_CREATE,
                format!("broker/{tenant}/user-flows/{policy}"),
                &tenant,
                (None, Some(after)),
            )
            .await
            {
                return r;
            }
            see_other(&format!(
                "{}/user-flows/{policy}?done=created",
                tenant_base(&tenant)
            ))
        }
        Err(e) => match place_error(&mut fields, e) {
            Ok(form_error) => flow_form_page(&ctx, &tenant, fields, form_error),
            Err(page) => (*page).into_response(),
        },
    }
}

fn words_mfa(mfa: MfaSetting) -> &'static str {
    match mfa {
        MfaSetting::Off => "Off",
        MfaSetting::Always => "Always on",
        MfaSetting::Conditional => "Conditional",
    }
}

fn labels(names: Vec<String>, table: &[(&str, &str)]) -> String {
    let words: Vec<String> = names
        .iter()
        .map(|n| {
            table
                .iter()
                .find(|(v, _)| v == n)
                .map_or_else(|| n.clone(), |(_, l)| (*l).to_owned())
        })
        .collect();
    if words.is_empty() {
        "(none)".into()
    } else {
        words.join(", ")
    }
}

async fn flow_page(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, policy)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let tenant = match ctx.see(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Ok(policy) = PolicyId::parse(&policy) else {
        return not_found();
    };
    let flow = match flows::get_user_flow(app.broker.store.as_ref(), &tenant, &policy).await {
        Ok(f) => f,
        Err(e) => return page_error(e),
    };
    let (apps, app_count) = match applications::list_applications_page(
        app.broker.store.as_ref(),
        &tenant,
        0,
        RUN_CHOICES,
    )
    .await
    {
        Ok(a) => a,
        Err(e) => return page_error(e),
    };
    let current = flow.current();
    let s = current.settings();
    let base = format!("{}/user-flows/{}", tenant_base(&tenant), flow.policy());
    let issuer = app
        .provider
        .public_url
        .join(&format!("/{tenant}/{}/v2.0", flow.policy()));
    let mut links = Vec::new();
    if ctx.admin.can_write() {
        links.push(Link::new(
            format!("{base}/attributes"),
            "User attributes and token claims",
            "user-attributes",
        ));
        links.push(Link::new(
            format!("{base}/identity-providers"),
            "Identity providers",
            "flow-identity-providers",
        ));
        links.push(Link::new(
            format!("{base}/claims"),
            "Application claims",
            "application-claims",
        ));
        links.push(Link::new(
            format!("{base}/mfa"),
            "Multi-factor authentication and conditional access",
            "flow-mfa",
        ));
    }
    let viewer = app
        .provider
        .public_url
        .join(crate::admin::token_viewer::VIEWER_PATH);
    let mut reply_urls = Vec::new();
    let applications: Vec<Choice> = apps
        .iter()
        .enumerate()
        .map(|(i, a)| {
            Choice::new(
                a.client_id.to_string(),
                format!("{} ({})", a.display_name, a.client_id),
                i == 0,
            )
        })
        .collect();
    for a in &apps {
        for url in &a.reply_urls {
            let first = reply_urls.is_empty();
            let label = if *url == viewer {
                format!("{url} (token viewer, {})", a.display_name)
            } else {
                format!("{url} ({})", a.display_name)
            };
            reply_urls.push(Choice::new(url.clone(), label, first));
        }
    }
    let versions: Vec<(String, String)> = flow
        .versions()
        .map(|v| {
            (
                format!("Version {}", v.number()),
                v.created_at().date().to_string(),
            )
        })
        .collect();
    let mut crumbs = crumbs(&tenant);
    crumbs.push(Link::new(
        format!("{}/user-flows", tenant_base(&tenant)),
        "User flows",
        "crumb-flows",
    ));
    render(
        &DetailPage {
            frame: Frame::new(&ctx, flow.policy().as_str(), crumbs).with_notice(notice(&params)),
            heading: flow.policy().to_string(),
            page_id: "user-flow".into(),
            intro: {
                let mut intro = vec![format!(
                    "Sign up and sign in, version {}. Discovery document: {issuer}/.well-known/openid-configuration",
                    current.number()
                )];
                if app_count > RUN_CHOICES {
                    intro.push(format!(
                        "Run user flow offers the first {RUN_CHOICES} of the tenant's {app_count} applications."
                    ));
                }
                intro
            },
            secret: None,
            sections: vec![
                Section {
                    heading: "Properties".into(),
                    id: "flow-settings".into(),
                    facts: vec![
                        ("Identity providers".into(), {
                            let ids: Vec<String> = s
                                .identity_providers
                                .iter()
                                .map(ToString::to_string)
                                .collect();
                            if ids.is_empty() {
                                "(none)".into()
                            } else {
                                ids.join(", ")
                            }
                        }),
                        (
                            "Email signup".into(),
                            if s.local_accounts == LocalAccounts::Email {
                                "Yes".into()
                            } else {
                                "No".into()
                            },
                        ),
                        (
                            "Multi-factor authentication".into(),
                            words_mfa(s.mfa).into(),
                        ),
                        (
                            "Enforce conditional access policies".into(),
                            if s.conditional_access.enforced {
                                "Yes".into()
                            } else {
                                "No".into()
                            },
                        ),
                        (
                            "Collect attributes".into(),
                            labels(
                                s.user_attributes
                                    .iter()
                                    .map(|a| attribute_name(&a.attribute))
                                    .collect(),
                                &ATTRIBUTES,
                            ),
                        ),
                        (
                            "Application claims".into(),
                            labels(
                                s.application_claims.iter().map(claim_name).collect(),
                                &CLAIMS,
                            ),
                        ),
                    ],
                    links,
                    ..Section::default()
                },
                Section {
                    heading: "Versions".into(),
                    id: "flow-versions".into(),
                    facts: versions,
                    ..Section::default()
                },
            ]
            .into_iter()
            .chain(super::lifecycle::flow_delete_section(
                &ctx,
                format!("{base}/delete"),
                current.number(),
            ))
            .collect(),
            run: Some(RunForm {
                action: format!("{base}/run"),
                applications,
                reply_urls,
            }),
        },
        StatusCode::OK,
        ctx.set_csrf.clone(),
    )
}

fn one_field_page(
    ctx: &Ctx,
    tenant: &TenantId,
    policy: &PolicyId,
    which: &str,
    field: Field,
    version: u32,
    form_error: Option<String>,
) -> Response {
    let base = format!("{}/user-flows/{policy}", tenant_base(tenant));
    let (heading, path, intro) = if which == "claims" {
        (
            "Application claims",
            "claims",
            "The claims the user flow returns to the application in its tokens.",
        )
    } else if which == "identity-providers" {
        (
            "Identity providers",
            "identity-providers",
            "The identity providers users of this flow sign in with. With more than one, the broker shows a page \
             where users choose.",
        )
    } else {
        (
            "User attributes and token claims",
            "attributes",
            "The attributes collected from the user at sign-up.",
        )
    };
    let mut crumbs = crumbs(tenant);
    crumbs.push(Link::new(
        format!("{}/user-flows", tenant_base(tenant)),
        "User flows",
        "crumb-flows",
    ));
    crumbs.push(Link::new(base.clone(), policy.to_string(), "crumb-flow"));
    let mut fields = vec![field];
    fields.push(Field::text("based_on", "", &version.to_string(), "").kind("hidden"));
    FormPage {
        frame: Frame::new(ctx, heading, crumbs),
        heading: heading.into(),
        intro: vec![intro.into(), "Saving makes a new version of the user flow; sign-ins already running finish on theirs.".into()],
        form_id: format!("{path}-form"),
        action: format!("{base}/{path}"),
        fields,
        form_error,
        submit: "Save".into(),
        submit_id: format!("{path}-save"),
        cancel: Some(base),
    }
    .respond(ctx.set_csrf.clone())
}

/// Saves `settings` as the next version of `policy`, based on version `based_on` (the one the form showed): the
/// tenant's cached configuration is dropped, the audit event written, and the answer is the redirect to the flow's
/// page. A refused revision (the flow changed meanwhile, an invalid setting) comes back for the form to show.
pub(super) async fn revise_flow(
    app: &AppState,
    ctx: &Ctx,
    tenant: &TenantId,
    policy: &PolicyId,
    based_on: u32,
    before: &FlowSettings,
    settings: FlowSettings,
) -> Result<Response, ServiceError> {
    let after = serde_json::to_value(&settings).ok();
    flows::revise_user_flow(
        app.broker.store.as_ref(),
        tenant,
        policy,
        based_on,
        settings,
        app.provider.clock.now(),
    )
    .await?;
    app.broker.cache.invalidate(tenant);
    let change = (serde_json::to_value(before).ok(), after);
    if let Err(r) = audit(
        app,
        ctx,
        actions::BROKER_USER_FLOW_UPDATE,
        format!("broker/{tenant}/user-flows/{policy}"),
        tenant,
        change,
    )
    .await
    {
        return Ok(r);
    }
    Ok(see_other(&format!(
        "{}/user-flows/{policy}?done=saved",
        tenant_base(tenant)
    )))
}

pub(super) async fn load_flow(
    app: &AppState,
    ctx: &Ctx,
    tenant: &str,
    policy: &str,
) -> Result<(TenantId, tessera_broker::config::UserFlow), Box<Response>> {
    let tenant = ctx.write(tenant)?;
    let policy = PolicyId::parse(policy).map_err(|_| Box::new(not_found()))?;
    let flow = flows::get_user_flow(app.broker.store.as_ref(), &tenant, &policy)
        .await
        .map_err(|e| Box::new(page_error(e)))?;
    Ok((tenant, flow))
}

async fn attributes_form(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, policy)): Path<(String, String)>,
) -> Response {
    match load_flow(&app, &ctx, &tenant, &policy).await {
        Ok((tenant, flow)) => {
            let current = flow.current();
            one_field_page(
                &ctx,
                &tenant,
                flow.policy(),
                "attributes",
                attribute_field(current.settings()),
                current.number(),
                None,
            )
        }
        Err(r) => *r,
    }
}

async fn app_claims_form(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, policy)): Path<(String, String)>,
) -> Response {
    match load_flow(&app, &ctx, &tenant, &policy).await {
        Ok((tenant, flow)) => {
            let current = flow.current();
            one_field_page(
                &ctx,
                &tenant,
                flow.policy(),
                "claims",
                claims_field(current.settings()),
                current.number(),
                None,
            )
        }
        Err(r) => *r,
    }
}

async fn revise(
    app: AppState,
    ctx: Ctx,
    tenant: String,
    policy: String,
    body: &[u8],
    which: &str,
) -> Response {
    let form = Submitted::parse(body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    let (tenant, flow) = match load_flow(&app, &ctx, &tenant, &policy).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let current = flow.current();
    let before = current.settings().clone();
    let mut settings = before.clone();
    let field = match which {
        "claims" => {
            apply_claims(&form, &mut settings);
            claims_field(&settings)
        }
        "identity-providers" => {
            apply_providers(&form, &mut settings);
            let page = format!(
                "{}/user-flows/{}/identity-providers",
                tenant_base(&tenant),
                flow.policy()
            );
            match providers_field(
                &app,
                &tenant,
                &settings.identity_providers,
                &form.get(PROVIDER_QUERY),
                &page,
            )
            .await
            {
                Ok(f) => f,
                Err(r) => return r,
            }
        }
        _ => {
            apply_attributes(&form, &mut settings);
            attribute_field(&settings)
        }
    };
    let based_on = form.get("based_on").parse::<u32>().unwrap_or(0);
    let policy = flow.policy().clone();
    match revise_flow(
        &app,
        &ctx,
        &tenant,
        &policy,
        based_on,
        &before,
        settings.clone(),
    )
    .await
    {
        Ok(saved) => saved,
        Err(ServiceError::FlowChanged { .. }) => {
            // `current` was read after the other save: the form again with its settings, 409.
            let latest = current.settings();
            let field = match which {
                "claims" => claims_field(latest),
                "identity-providers" => {
                    let page = format!(
                        "{}/user-flows/{policy}/identity-providers",
                        tenant_base(&tenant)
                    );
                    match providers_field(&app, &tenant, &latest.identity_providers, "", &page)
                        .await
                    {
                        Ok(f) => f,
                        Err(r) => return r,
                    }
                }
                _ => attribute_field(latest),
            };
            let mut answer = one_field_page(
                &ctx,
                &tenant,
                &policy,
                which,
                field,
                current.number(),
                Some(
                    "Someone else saved a new version of this user flow since you opened this page, so nothing \
                     was saved. The form now shows the current settings: make your change again and save."
                        .into(),
                ),
            );
            *answer.status_mut() = StatusCode::CONFLICT;
            answer
        }
        Err(e) => {
            let mut fields = vec![field];
            match place_error(&mut fields, e) {
                Ok(form_error) => {
                    let field = fields.remove(0);
                    one_field_page(
                        &ctx,
                        &tenant,
                        &policy,
                        which,
                        field,
                        current.number(),
                        form_error,
                    )
                }
                Err(page) => (*page).into_response(),
            }
        }
    }
}

/// A flow's "Identity providers": the current version's, or, after the search button, the providers as the form
/// sent them (and the version it was opened at, so a save still refuses a flow changed meanwhile).
async fn flow_providers_form(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, policy)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let (tenant, flow) = match load_flow(&app, &ctx, &tenant, &policy).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let page = format!(
        "{}/user-flows/{}/identity-providers",
        tenant_base(&tenant),
        flow.policy()
    );
    if let Some(clean) = without_csrf(&page, query.as_deref()) {
        return clean;
    }
    let current = flow.current();
    let (chosen, based_on, search) = match search_draft(query.as_deref()) {
        Some(draft) => {
            let mut settings = current.settings().clone();
            apply_providers(&draft, &mut settings);
            (
                settings.identity_providers,
                draft
                    .get("based_on")
                    .parse::<u32>()
                    .unwrap_or(current.number()),
                draft.get(PROVIDER_QUERY),
            )
        }
        None => (
            current.settings().identity_providers.clone(),
            current.number(),
            String::new(),
        ),
    };
    let field = match providers_field(&app, &tenant, &chosen, &search, &page).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    one_field_page(
        &ctx,
        &tenant,
        flow.policy(),
        "identity-providers",
        field,
        based_on,
        None,
    )
}

async fn flow_providers_save(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, policy)): Path<(String, String)>,
    RawForm(body): RawForm,
) -> Response {
    revise(app, ctx, tenant, policy, &body, "identity-providers").await
}

async fn attributes_save(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, policy)): Path<(String, String)>,
    RawForm(body): RawForm,
) -> Response {
    revise(app, ctx, tenant, policy, &body, "attributes").await
}

async fn app_claims_save(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, policy)): Path<(String, String)>,
    RawForm(body): RawForm,
) -> Response {
    revise(app, ctx, tenant, policy, &body, "claims").await
}

/// `GET .../user-flows/{policy}/run?application=&reply_url=`: "Run user flow". With the token viewer as reply URL,
/// to the viewer's run (PKCE, code redeemed by the viewer); otherwise straight to the flow's authorization
/// endpoint with that reply URL (the application redeems the code).
async fn run(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, policy)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let tenant = match ctx.see(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Ok(policy) = PolicyId::parse(&policy) else {
        return not_found();
    };
    let flow = match flows::get_user_flow(app.broker.store.as_ref(), &tenant, &policy).await {
        Ok(f) => f,
        Err(e) => return page_error(e),
    };
    let Ok(client_id) = ClientId::parse(
        params
            .get("application")
            .map(String::as_str)
            .unwrap_or_default(),
    ) else {
        return bad_run("Choose an application.");
    };
    let application =
        match applications::get_application(app.broker.store.as_ref(), &tenant, &client_id).await {
            Ok(a) => a,
            Err(ServiceError::ApplicationNotFound) => {
                return bad_run("This application is not registered in the tenant.");
            }
            Err(e) => return page_error(e),
        };
    let reply_url = params.get("reply_url").cloned().unwrap_or_default();
    if !application.reply_url_registered(&reply_url) {
        return bad_run(
            "This reply URL is not one of the application's reply URLs. Choose one of them.",
        );
    }
    let public = app.provider.public_url.as_str();
    let viewer = app
        .provider
        .public_url
        .join(crate::admin::token_viewer::VIEWER_PATH);
    if reply_url == viewer {
        return see_other(&crate::admin::token_viewer::run_url(
            public,
            tenant.as_str(),
            flow.policy().as_str(),
            client_id.as_str(),
        ));
    }
    let mut nonce = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut nonce).is_err() {
        return PageError::from(ServiceError::Random).into_response();
    }
    let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id.as_str())
        .append_pair("redirect_uri", &reply_url)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("nonce", &nonce)
        .finish();
    see_other(&format!(
        "{public}/{tenant}/{}/oauth2/v2.0/authorize?{query}",
        flow.policy()
    ))
}

fn bad_run(message: &str) -> Response {
    PageError::new(StatusCode::BAD_REQUEST, "This run cannot start", message).into_response()
}

// ---------------------------------------------------------------------------------------------------------------
// Applications

async fn apps_list(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let tenant = match ctx.see(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    // One page the store cuts after filtering, in client id order, after the id `after`.
    let after = params.get("after").and_then(|a| ClientId::parse(a).ok());
    let q = list_filters::query(params.get("q").map(String::as_str));
    let kind = list_filters::client_type(params.get("client_type").map(String::as_str));
    let kind_error = kind.as_ref().err().map(|e| e.detail.clone());
    let kind = kind.unwrap_or_default();
    let filter = tessera_store::ClientFilter {
        prefix: q.clone(),
        client_type: kind,
    };
    let (rows, next_after) = match applications::list_applications_filtered_page(
        app.broker.store.as_ref(),
        &tenant,
        &filter,
        after.as_ref(),
        PAGE_SIZE as u32,
    )
    .await
    {
        Ok(l) => l,
        Err(e) => return page_error(e),
    };
    let base = tenant_base(&tenant);
    let list = format!(
        "{base}/applications?{}",
        filter_query(&params, &["q", "client_type"])
    );
    let next = next_after.map(|n| format!("{list}&after={}", n.as_str()));
    let first = after.map(|_| list.clone());
    let rows = rows
        .into_iter()
        .map(|a| {
            vec![
                Cell::link(
                    a.display_name.clone(),
                    format!("{base}/applications/{}", a.client_id),
                ),
                Cell::text(a.client_id.to_string()),
                Cell::text(a.reply_urls.join(" ")),
            ]
        })
        .collect();
    let mut actions = Vec::new();
    if ctx.admin.can_write() {
        actions.push(Link::new(
            format!("{base}/applications/new"),
            "New registration",
            "new-application",
        ));
    }
    render(
        &ListPage {
            frame: Frame::new(&ctx, "Applications", crumbs(&tenant)).with_notice(notice(&params)),
            heading: "Applications".into(),
            list_id: "applications".into(),
            intro: Vec::new(),
            actions,
            filters: vec![
                Search::text(
                    "q",
                    "Name or application (client) ID (starts with)",
                    params.get("q").cloned().unwrap_or_default(),
                ),
                Search::choice(
                    "client_type",
                    "Platform",
                    params.get("client_type").cloned().unwrap_or_default(),
                    "Any",
                    &[
                        ("public", "Public (single-page, mobile, desktop)"),
                        ("confidential", "Confidential (web, with a secret)"),
                    ],
                )
                .refused(kind_error.clone()),
            ],
            columns: vec![
                "Name".into(),
                "Application (client) ID".into(),
                "Reply URLs".into(),
            ],
            rows,
            empty: if q.is_some() || kind.is_some() {
                "No application matches.".into()
            } else {
                "No application yet.".into()
            },
            next,
            first,
        },
        if kind_error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        ctx.set_csrf.clone(),
    )
}

fn app_fields(form: Option<&Submitted>, viewer: &str) -> Vec<Field> {
    let value =
        |name: &str, default: &str| form.map_or_else(|| default.to_owned(), |f| f.get(name));
    let kind = value("client_type", "public");
    vec![
        Field::text(
            "display_name",
            "Name",
            &value("display_name", ""),
            "Shown on the broker's pages.",
        )
        .required(),
        Field::text("client_type", "Platform", "", "").choices(
            "radios",
            vec![
                Choice::new(
                    "public",
                    "Single-page or native app (public: PKCE, no secret)",
                    kind == "public",
                ),
                Choice::new(
                    "confidential",
                    "Web app (confidential: gets a client secret)",
                    kind == "confidential",
                ),
            ],
        ),
        Field::text(
            "reply_urls",
            "Reply URLs",
            &value("reply_urls", viewer),
            &format!("One per line, matched exactly. The built-in token viewer is {viewer}."),
        )
        .kind("textarea")
        .required(),
    ]
}

fn app_form_page(
    ctx: &Ctx,
    tenant: &TenantId,
    fields: Vec<Field>,
    form_error: Option<String>,
) -> Response {
    let base = tenant_base(tenant);
    let mut crumbs = crumbs(tenant);
    crumbs.push(Link::new(
        format!("{base}/applications"),
        "Applications",
        "crumb-applications",
    ));
    FormPage {
        frame: Frame::new(ctx, "Register an application", crumbs),
        heading: "Register an application".into(),
        intro: Vec::new(),
        form_id: "application-form".into(),
        action: format!("{base}/applications/new"),
        fields,
        form_error,
        submit: "Register".into(),
        submit_id: "application-create".into(),
        cancel: Some(format!("{base}/applications")),
    }
    .respond(ctx.set_csrf.clone())
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn app_form(State(app): State<AppState>, ctx: Ctx, Path(tenant): Path<String>) -> Response {
    let tenant = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let viewer = app
        .provider
        .public_url
        .join(crate::admin::token_viewer::VIEWER_PATH);
    app_form_page(&ctx, &tenant, app_fields(None, &viewer), None)
}

pub(super) fn app_json(a: &tessera_broker::config::Application) -> serde_json::Value {
    serde_json::json!({
        "client_id": a.client_id.to_string(),
        "display_name": a.display_name,
        "reply_urls": a.reply_urls,
        "logout_urls": a.logout_urls,
    })
}

async fn app_create(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    let tenant = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let viewer = app
        .provider
        .public_url
        .join(crate::admin::token_viewer::VIEWER_PATH);
    let mut fields = app_fields(Some(&form), &viewer);
    let reply_urls = lines(&form.get("reply_urls"));
    let created = applications::create_application(
        app.broker.store.as_ref(),
        &tenant,
        NewApplication {
            display_name: form.get("display_name"),
            client_type: if form.get("client_type") == "confidential" {
                tessera_oidc::ClientType::Confidential
            } else {
                tessera_oidc::ClientType::Public
            },
            reply_urls,
            // Logout URLs are their own list (the API's `logout_urls`): a reply URL is not one by being a reply URL.
            logout_urls: Vec::new(),
            token_lifetimes: tessera_broker::config::TokenLifetimes::default(),
            id_token_signing_alg: tessera_oidc::keys::SigningAlg::Rs256,
        },
        app.provider.clock.now(),
    )
    .await;
    match created {
        Ok((application, secret)) => {
            app.broker.cache.invalidate(&tenant);
            if let Err(r) = audit(
                &app,
                &ctx,
                actions::BROKER_APPLICATION_CREATE,
                format!("broker/{tenant}/applications/{}", application.client_id),
                &tenant,
                (None, Some(app_json(&application))),
            )
            .await
            {
                return r;
            }
            app_detail(
                &app,
                &ctx,
                &tenant,
                &application,
                secret.map(|s| s.expose().to_owned()),
                Some("Created.".into()),
            )
        }
        Err(e) => match place_error(&mut fields, e) {
            Ok(form_error) => app_form_page(&ctx, &tenant, fields, form_error),
            Err(page) => (*page).into_response(),
        },
    }
}

pub(super) fn app_detail(
    app: &AppState,
    ctx: &Ctx,
    tenant: &TenantId,
    application: &tessera_broker::config::Application,
    secret: Option<String>,
    notice: Option<String>,
) -> Response {
    let base = format!(
        "{}/applications/{}",
        tenant_base(tenant),
        application.client_id
    );
    let mut crumbs = crumbs(tenant);
    crumbs.push(Link::new(
        format!("{}/applications", tenant_base(tenant)),
        "Applications",
        "crumb-applications",
    ));
    let mut sections = vec![Section {
        heading: "Overview".into(),
        id: "application-overview".into(),
        facts: vec![
            (
                "Application (client) ID".into(),
                application.client_id.to_string(),
            ),
            (
                "Platform".into(),
                if application.secret_hash.is_some() {
                    "Web app (confidential)".into()
                } else {
                    "Public (PKCE)".into()
                },
            ),
            ("Reply URLs".into(), application.reply_urls.join(" ")),
            (
                "Issuer (per user flow)".into(),
                app.provider
                    .public_url
                    .join(&format!("/{tenant}/B2C_1_<name>/v2.0")),
            ),
        ],
        ..Section::default()
    }];
    let mut status = StatusCode::OK;
    if ctx.admin.can_write() {
        sections[0].links.push(Link::new(
            format!("{base}?edit=1"),
            "Edit name and reply URLs",
            "edit-application",
        ));
        if application.secret_hash.is_some() {
            sections.push(Section {
                heading: "Client secret".into(),
                id: "application-secret".into(),
                facts: vec![(
                    "Secret".into(),
                    "Set (only its hash is stored; it cannot be shown again)".into(),
                )],
                buttons: vec![Button {
                    action: format!("{base}/secret"),
                    label: "Regenerate secret".into(),
                    id: "regenerate-application-secret".into(),
                    hidden: Vec::new(),
                    danger: true,
                }],
                ..Section::default()
            });
        }
        sections.push(Section {
            heading: "Delete".into(),
            id: "application-delete".into(),
            buttons: vec![Button {
                action: format!("{base}/delete"),
                label: "Delete".into(),
                id: "delete-application".into(),
                hidden: Vec::new(),
                danger: true,
            }],
            ..Section::default()
        });
    }
    if secret.is_some() {
        status = StatusCode::CREATED;
    }
    let page = DetailPage {
        frame: Frame::new(ctx, &application.display_name, crumbs).with_notice(notice),
        heading: application.display_name.clone(),
        page_id: "application".into(),
        intro: Vec::new(),
        secret: secret.map(|value| ShownOnce {
            label: "Client secret".into(),
            value,
        }),
        sections,
        run: None,
    };
    render(&page, status, ctx.set_csrf.clone())
}

async fn app_page(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let tenant = match ctx.see(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Ok(id) = ClientId::parse(&id) else {
        return not_found();
    };
    let application =
        match applications::get_application(app.broker.store.as_ref(), &tenant, &id).await {
            Ok(a) => a,
            Err(e) => return page_error(e),
        };
    if params.contains_key("edit") && ctx.admin.can_write() {
        let mut fields = edit_fields(
            &application.display_name,
            &application.reply_urls.join("\n"),
        );
        fields.iter_mut().for_each(|f| f.error = None);
        let fields = with_app_version(fields, &application);
        return edit_page(&ctx, &tenant, &application, fields, None);
    }
    app_detail(&app, &ctx, &tenant, &application, None, notice(&params))
}

/// The version of an application an edit form was opened at: the digest of its settings (as its API `ETag`).
fn app_version(application: &tessera_broker::config::Application) -> String {
    crate::admin::api::extract::etag_of(&app_json(application))
}

/// `fields` with the hidden version of `application` they were filled from.
fn with_app_version(
    mut fields: Vec<Field>,
    application: &tessera_broker::config::Application,
) -> Vec<Field> {
    fields.push(Field::text("version", "", &app_version(application), "").kind("hidden"));
    fields
}

/// Shown next to an application's edit form saved from a version someone else changed meanwhile.
const APP_CHANGED: &str = "Someone else changed this application since you opened this page, so nothing was \
     saved. The form now shows its current settings: check them and save again if you still want the change.";

/// The edit form with `application`'s current settings and, next to it, why nothing was saved.
fn app_changed_page(
    ctx: &Ctx,
    tenant: &TenantId,
    application: &tessera_broker::config::Application,
) -> Response {
    let fields = edit_fields(
        &application.display_name,
        &application.reply_urls.join("\n"),
    );
    let mut fields = with_app_version(fields, application);
    fields.iter_mut().for_each(|f| f.error = None);
    edit_page(ctx, tenant, application, fields, Some(APP_CHANGED.into()))
}

fn edit_fields(name: &str, reply_urls: &str) -> Vec<Field> {
    vec![
        Field::text("display_name", "Name", name, "").required(),
        Field::text(
            "reply_urls",
            "Reply URLs",
            reply_urls,
            "One per line, matched exactly.",
        )
        .kind("textarea")
        .required(),
    ]
}

fn edit_page(
    ctx: &Ctx,
    tenant: &TenantId,
    application: &tessera_broker::config::Application,
    fields: Vec<Field>,
    form_error: Option<String>,
) -> Response {
    let base = format!(
        "{}/applications/{}",
        tenant_base(tenant),
        application.client_id
    );
    let mut crumbs = crumbs(tenant);
    crumbs.push(Link::new(
        format!("{}/applications", tenant_base(tenant)),
        "Applications",
        "crumb-applications",
    ));
    FormPage {
        frame: Frame::new(ctx, "Edit application", crumbs),
        heading: format!("Edit {}", application.display_name),
        intro: Vec::new(),
        form_id: "application-edit-form".into(),
        action: base.clone(),
        fields,
        form_error,
        submit: "Save".into(),
        submit_id: "application-save".into(),
        cancel: Some(base),
    }
    .respond(ctx.set_csrf.clone())
}

async fn app_save(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, id)): Path<(String, String)>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    let tenant = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Ok(id) = ClientId::parse(&id) else {
        return not_found();
    };
    let existing =
        match applications::get_application(app.broker.store.as_ref(), &tenant, &id).await {
            Ok(a) => a,
            Err(e) => return page_error(e),
        };
    if form.get("version") != app_version(&existing) {
        return app_changed_page(&ctx, &tenant, &existing);
    }
    let reply_urls = lines(&form.get("reply_urls"));
    let fields = edit_fields(&form.get("display_name"), &form.get("reply_urls"));
    let mut fields = with_app_version(fields, &existing);
    let updated = applications::update_application(
        app.broker.store.as_ref(),
        &tenant,
        &id,
        ApplicationUpdate {
            display_name: form.get("display_name"),
            reply_urls,
            logout_urls: existing.logout_urls.clone(),
            token_lifetimes: existing.token_lifetimes,
            id_token_signing_alg: existing.id_token_signing_alg,
        },
        Some(&existing),
    )
    .await;
    match updated {
        Ok(application) => {
            app.broker.cache.invalidate(&tenant);
            if let Err(r) = audit(
                &app,
                &ctx,
                actions::BROKER_APPLICATION_UPDATE,
                format!("broker/{tenant}/applications/{id}"),
                &tenant,
                (Some(app_json(&existing)), Some(app_json(&application))),
            )
            .await
            {
                return r;
            }
            see_other(&format!(
                "{}/applications/{id}?done=saved",
                tenant_base(&tenant)
            ))
        }
        Err(ServiceError::Changed { .. }) => {
            match applications::get_application(app.broker.store.as_ref(), &tenant, &id).await {
                Ok(now) => app_changed_page(&ctx, &tenant, &now),
                Err(e) => page_error(e),
            }
        }
        Err(e) => match place_error(&mut fields, e) {
            Ok(form_error) => edit_page(&ctx, &tenant, &existing, fields, form_error),
            Err(page) => (*page).into_response(),
        },
    }
}

async fn app_delete(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, id)): Path<(String, String)>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    let tenant = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Ok(id) = ClientId::parse(&id) else {
        return not_found();
    };
    let read = match applications::get_application(app.broker.store.as_ref(), &tenant, &id).await {
        Ok(a) => a,
        Err(e) => return page_error(e),
    };
    let before = app_json(&read);
    match applications::delete_application(app.broker.store.as_ref(), &tenant, &id, Some(&read))
        .await
    {
        Ok(()) => {
            app.broker.cache.invalidate(&tenant);
            if let Err(r) = audit(
                &app,
                &ctx,
                actions::BROKER_APPLICATION_DELETE,
                format!("broker/{tenant}/applications/{id}"),
                &tenant,
                (Some(before), None),
            )
            .await
            {
                return r;
            }
            see_other(&format!(
                "{}/applications?done=deleted",
                tenant_base(&tenant)
            ))
        }
        Err(e) => page_error(e),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Directory users

async fn users_list(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let tenant = match ctx.see(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let query = params.get("q").cloned().unwrap_or_default();
    let wanted = list_filters::account_status(params.get("status").map(String::as_str));
    let status_error = wanted.as_ref().err().map(|e| e.detail.clone());
    let wanted = wanted.unwrap_or_default();
    let after = params.get("after").and_then(|a| UserId::parse(a).ok());
    let page = match directory::search_users(
        app.broker.store.as_ref(),
        &tenant,
        &query,
        wanted,
        after.as_ref(),
        PAGE_SIZE as u32,
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return page_error(e),
    };
    let base = format!("{}/users", tenant_base(&tenant));
    let list = format!("{base}?{}", filter_query(&params, &["q", "status"]));
    let rows = page
        .users
        .iter()
        .map(|u| {
            vec![
                Cell::link(
                    u.display_name.clone().unwrap_or_else(|| "(no name)".into()),
                    format!("{base}/{}", u.object_id),
                ),
                Cell::text(u.email.clone().unwrap_or_default()),
                Cell::text(u.object_id.to_string()),
                Cell::text(if u.disabled_at.is_some() {
                    "Disabled"
                } else {
                    "Enabled"
                }),
            ]
        })
        .collect();
    render(
        &ListPage {
            frame: Frame::new(&ctx, "Users", crumbs(&tenant)).with_notice(notice(&params)),
            heading: "Users".into(),
            list_id: "users".into(),
            intro: Vec::new(),
            actions: Vec::new(),
            filters: vec![
                Search::text("q", "Search by email or name (starts with)", query.clone()),
                Search::choice(
                    "status",
                    "Status",
                    params.get("status").cloned().unwrap_or_default(),
                    "Any",
                    &[("enabled", "Enabled"), ("disabled", "Disabled")],
                )
                .refused(status_error.clone()),
            ],
            columns: vec![
                "Name".into(),
                "Email".into(),
                "Object ID".into(),
                "Status".into(),
            ],
            rows,
            empty: if query.trim().is_empty() && wanted.is_none() {
                "No user yet.".into()
            } else {
                "No user matches.".into()
            },
            next: page.next.map(|n| format!("{list}&after={n}")),
            first: after.map(|_| list.clone()),
        },
        if status_error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        ctx.set_csrf.clone(),
    )
}

async fn user_page(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let tenant = match ctx.see(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Ok(id) = UserId::parse(&id) else {
        return not_found();
    };
    let user = match directory::get_user(app.broker.store.as_ref(), &tenant, &id).await {
        Ok(u) => u,
        Err(e) => return page_error(e),
    };
    let base = format!("{}/users/{id}", tenant_base(&tenant));
    let mut buttons = Vec::new();
    if ctx.admin.can_write() {
        // The version shown (the API's `ETag`): a click based on it does nothing if the user changed meanwhile.
        let version = vec![("version".to_owned(), directory_user_version(&user))];
        if user.disabled_at.is_some() {
            buttons.push(Button {
                action: format!("{base}/enable"),
                label: "Enable".into(),
                id: "enable-user".into(),
                hidden: version.clone(),
                danger: false,
            });
        } else {
            buttons.push(Button {
                action: format!("{base}/disable"),
                label: "Disable".into(),
                id: "disable-user".into(),
                hidden: version.clone(),
                danger: false,
            });
        }
        buttons.push(Button {
            action: format!("{base}/delete"),
            label: "Delete".into(),
            id: "delete-user".into(),
            hidden: version,
            danger: true,
        });
    }
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut facts = vec![
        ("Object ID".into(), id.to_string()),
        ("Display name".into(), text(&user.display_name)),
        ("Given name".into(), text(&user.given_name)),
        ("Surname".into(), text(&user.surname)),
        ("Email".into(), text(&user.email)),
        ("Created".into(), user.created_at.date().to_string()),
        (
            "Status".into(),
            if user.disabled_at.is_some() {
                "Disabled".into()
            } else {
                "Enabled".into()
            },
        ),
    ];
    for identity in &user.identities {
        facts.push((
            "Identity".into(),
            format!("{} ({})", identity.subject, identity.issuer),
        ));
    }
    let mut crumbs = crumbs(&tenant);
    crumbs.push(Link::new(
        format!("{}/users", tenant_base(&tenant)),
        "Users",
        "crumb-users",
    ));
    render(
        &DetailPage {
            frame: Frame::new(&ctx, "User", crumbs).with_notice(notice(&params)),
            heading: user.display_name.clone().unwrap_or_else(|| id.to_string()),
            page_id: "directory-user".into(),
            intro: Vec::new(),
            secret: None,
            sections: vec![Section {
                heading: "Profile".into(),
                id: "user-profile".into(),
                facts,
                buttons,
                ..Section::default()
            }],
            run: None,
        },
        StatusCode::OK,
        ctx.set_csrf.clone(),
    )
}

async fn user_action(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, id, action)): Path<(String, String, String)>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    let tenant = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Ok(id) = UserId::parse(&id) else {
        return not_found();
    };
    let store = app.broker.store.as_ref();
    let now = app.provider.clock.now();
    // Based on the version the page showed, and the write on the user as read now: a change saved since the page
    // was opened, or between this read and the write, is refused, not overwritten.
    let read = match directory::get_user(store, &tenant, &id).await {
        Ok(user) => user,
        Err(e) => return page_error(e),
    };
    let here = format!("{}/users/{id}", tenant_base(&tenant));
    let shown = form.get("version");
    if shown.is_empty() || shown != directory_user_version(&read) {
        return directory_user_changed(here);
    }
    let (result, done, action) = match action.as_str() {
        "disable" => (
            directory::disable_user(store, &tenant, &id, now, Some(&read)).await,
            "disabled",
            actions::BROKER_USER_DISABLE,
        ),
        "enable" => (
            directory::enable_user(store, &tenant, &id, Some(&read)).await,
            "enabled",
            actions::BROKER_USER_ENABLE,
        ),
        "delete" => (
            directory::delete_user(store, &tenant, &id, Some(&read)).await,
            "deleted",
            actions::BROKER_USER_DELETE,
        ),
        _ => return not_found(),
    };
    match result {
        Ok(()) => {
            if let Err(r) = audit(
                &app,
                &ctx,
                action,
                format!("broker/{tenant}/users/{id}"),
                &tenant,
                (None, None),
            )
            .await
            {
                return r;
            }
            if done == "deleted" {
                see_other(&format!("{}/users?done=deleted", tenant_base(&tenant)))
            } else {
                see_other(&format!("{}/users/{id}?done={done}", tenant_base(&tenant)))
            }
        }
        Err(ServiceError::Changed { .. }) => directory_user_changed(here),
        Err(e) => page_error(e),
    }
}

/// The version of a directory user a page shows: the API's `ETag` of it (without its quotes).
fn directory_user_version(user: &tessera_store::DirectoryUserRecord) -> String {
    crate::admin::api::extract::etag_of(&crate::admin::api::broker::user_view(user))
        .trim_matches('"')
        .to_owned()
}

/// 409: the form was based on an older version of the directory user; nothing was done.
fn directory_user_changed(back: String) -> Response {
    PageError::new(
        StatusCode::CONFLICT,
        "Changed since you opened this page",
        "Someone else changed this user since you opened this page, so nothing was done. Look at it again as \
         it is now, and repeat the action if you still want it.",
    )
    .with_link(back, "Back to the user as it is now")
    .into_response()
}
