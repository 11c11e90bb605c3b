//! The identity broker's objects: broker tenants, applications (reply URLs; secrets shown once; regenerate),
//! identity providers (claim mapping; "test connection"), user flows (a change makes a new version; versions
//! listed and readable) and directory users (search, disable, enable, delete).
//!
//! Request bodies are this module's types, with the same JSON shape as `tessera_broker`'s configuration types,
//! which the service layer checks (`validate`), so that the OpenAPI document describes exactly what is accepted.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tessera_broker::config::{
    FlowSettings, IdentityProvider, PolicyId, ProviderId, UserFlow, UserFlowVersion,
};
use tessera_core::{ClientId, Secret, TenantId, UserId};
use tessera_service::admin::audit::Change;
use tessera_service::admin::audit::actions;
use tessera_service::broker::{applications, directory, flows, providers, tenants};
use tessera_service::keys::Rotation;
use tessera_store::{BrokerTenant, DirectoryUserRecord};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::{json, record};
use super::extract::{
    ApiJson, Caller, PageQuery, check_if_match, cursor_of, etag_of, page, with_etag,
};
use super::filters::{ClientQuery, KeyQuery, NameQuery, StatusQuery};
use super::problem::Problem;
use super::state::ApiState;
use super::tenants::{
    AlgName, ForceQuery, KeyPage, KeyView, RotateBody, Rotated, key_view, tenant_id,
};
use super::views::{page_of, rfc3339};
use crate::common::state::AppState;
use tessera_service::admin::list_filters::{self, KeyFilter};

/// The routes of this module.
pub fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(get_tenant, update_tenant, delete_tenant))
        .routes(routes!(list_keys))
        .routes(routes!(rotate_keys))
        .routes(routes!(list_applications, create_application))
        .routes(routes!(
            get_application,
            update_application,
            delete_application
        ))
        .routes(routes!(regenerate_secret))
        .routes(routes!(list_providers, create_provider))
        .routes(routes!(test_provider))
        .routes(routes!(get_provider, update_provider, delete_provider))
        .routes(routes!(set_claim_mapping))
        .routes(routes!(list_flows, create_flow))
        .routes(routes!(get_flow, update_flow, delete_flow))
        .routes(routes!(list_flow_versions))
        .routes(routes!(get_flow_version))
        .routes(routes!(search_users))
        .routes(routes!(get_user, delete_user))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
}

/// Converts between this module's body types and the broker's configuration types (same JSON shape), naming the
/// field the broker's parsing refuses.
fn convert<A: Serialize, B: DeserializeOwned>(value: &A, prefix: &str) -> Result<B, Problem> {
    let value = serde_json::to_value(value).map_err(|e| Problem::internal(&e, false))?;
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let field = match (prefix, path.as_str()) {
            ("", p) => p.to_owned(),
            (prefix, ".") => prefix.to_owned(),
            (prefix, p) => format!("{prefix}.{p}"),
        };
        let message = error.inner().to_string();
        let detail = super::problem::strip_field(&message);
        Problem::invalid_field(&field, detail)
    })
}

fn with_tag<T: Serialize>(view: T, tag: &str, status: StatusCode) -> Response {
    let mut response = (status, Json(view)).into_response();
    if let Ok(value) = HeaderValue::from_str(tag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

// ---------------------------------------------------------------------------------------------------------------
// Broker tenants

/// A broker tenant.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BrokerTenantView {
    /// The path segment (`contoso`).
    pub id: String,
    /// Shown on the broker's pages.
    pub display_name: String,
    /// When it was created.
    pub created_at: String,
    /// Its revision (every change moves it).
    pub revision: u64,
}

/// The API's view of a broker tenant (also what its audit events record).
pub fn broker_tenant_view(t: &BrokerTenant) -> BrokerTenantView {
    BrokerTenantView {
        id: t.id.to_string(),
        display_name: t.display_name.clone(),
        created_at: rfc3339(t.created_at),
        revision: t.revision,
    }
}

/// Changes to a broker tenant; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrokerTenantPatch {
    /// Shown on the broker's pages.
    pub display_name: Option<String>,
}

page_of!(BrokerTenantPage, BrokerTenantView, "broker tenants");

/// A new broker tenant.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBrokerTenantBody {
    /// The path segment: lowercase letters, digits and `-`; not `admin`, `demo`, `static` or `tfp`.
    pub id: String,
    /// Shown on the broker's pages (default: the id).
    #[serde(default)]
    pub display_name: Option<String>,
}

async fn broker_tenant(state: &ApiState, caller: &Caller, text: &str) -> Result<TenantId, Problem> {
    let id = tenant_id(caller, text)?;
    tenants::get_broker_tenant(state.broker.store.as_ref(), &id).await?;
    Ok(id)
}

/// Lists the broker tenants the caller may see.
#[utoipa::path(get, path = "/broker/tenants", tag = "broker",
    params(NameQuery, PageQuery),
    responses(
        (status = 200, description = "A page of broker tenants", body = BrokerTenantPage),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_tenants(
    State(state): State<ApiState>,
    caller: Caller,
    Query(filter): Query<NameQuery>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<BrokerTenantPage>, Problem> {
    let q = list_filters::query(filter.q.as_deref());
    let views = tenants::list_broker_tenants(state.broker.store.as_ref())
        .await?
        .iter()
        .filter(|t| caller.sees_tenant(t.id.as_str()))
        .filter(|t| list_filters::starts_with_any(q.as_deref(), [t.id.as_str(), &t.display_name]))
        .map(broker_tenant_view)
        .collect();
    let (items, next_cursor) = page(views, |t: &BrokerTenantView| t.id.clone(), &paging)?;
    Ok(Json(BrokerTenantPage { items, next_cursor }))
}

/// Creates a broker tenant with fresh signing keys (global admins only).
#[utoipa::path(post, path = "/broker/tenants", tag = "broker",
    request_body = NewBrokerTenantBody,
    responses(
        (status = 201, description = "The broker tenant", body = BrokerTenantView),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a global admin token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_tenant(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewBrokerTenantBody>,
) -> Result<Response, Problem> {
    caller.require_global()?;
    let id = TenantId::parse(&body.id).map_err(|e| Problem::invalid_field("id", e.to_string()))?;
    let tenant = tenants::create_broker_tenant(
        state.broker.store.as_ref(),
        &state.broker.master_key,
        tenants::NewBrokerTenant {
            id,
            display_name: body.display_name,
        },
        state.now(),
    )
    .await?;
    let view = broker_tenant_view(&tenant);
    record(
        &state,
        &caller,
        Change {
            action: actions::BROKER_TENANT_CREATE,
            target: format!("broker/{}", view.id),
            tenant: Some(view.id.clone()),
            before: None,
            after: json(&view),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, with_etag(view)).into_response())
}

/// Reads a broker tenant.
#[utoipa::path(get, path = "/broker/tenants/{tenant}", tag = "broker",
    params(("tenant" = String, Path, description = "The broker tenant id")),
    responses(
        (status = 200, description = "The broker tenant", body = BrokerTenantView, headers(("ETag" = String, description = "The version, for `If-Match`"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such broker tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_tenant(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let tenant = tenants::get_broker_tenant(state.broker.store.as_ref(), &id).await?;
    Ok(with_etag(broker_tenant_view(&tenant)))
}

/// Changes a broker tenant's display name (`If-Match` required).
#[utoipa::path(patch, path = "/broker/tenants/{tenant}", tag = "broker",
    params(("tenant" = String, Path, description = "The broker tenant id"),
           ("If-Match" = String, Header, description = "The `ETag` of the version read")),
    request_body = BrokerTenantPatch,
    responses(
        (status = 200, description = "The changed broker tenant", body = BrokerTenantView, headers(("ETag" = String, description = "The new version"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such broker tenant", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The broker tenant changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update_tenant(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<BrokerTenantPatch>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let read = tenants::get_broker_tenant(state.broker.store.as_ref(), &id).await?;
    let before = broker_tenant_view(&read);
    check_if_match(&headers, &etag_of(&before))?;
    let changed = tenants::update_broker_tenant(
        state.broker.store.as_ref(),
        &id,
        read.revision,
        &tenants::BrokerTenantUpdate {
            display_name: body.display_name,
        },
    )
    .await?;
    state.broker.cache.invalidate(&id);
    let after = broker_tenant_view(&changed);
    record(
        &state,
        &caller,
        Change {
            action: actions::BROKER_TENANT_UPDATE,
            target: format!("broker/{id}"),
            tenant: Some(id.to_string()),
            before: json(&before),
            after: json(&after),
        },
    )
    .await?;
    Ok(with_etag(after))
}

/// Deletes a broker tenant (global admins only, `If-Match` required). Refused (409, naming what remains) while it
/// has applications, identity providers, user flows or directory users, unless `?force=true`: then everything of
/// the tenant (its signing keys, sessions, codes and tokens too) goes with it, in one transaction.
#[utoipa::path(delete, path = "/broker/tenants/{tenant}", tag = "broker",
    params(("tenant" = String, Path, description = "The broker tenant id"), ForceQuery,
           ("If-Match" = String, Header, description = "The `ETag` of the version read")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a global admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such broker tenant (or not the caller's)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant still has applications, identity providers, user flows or directory users (the detail counts them)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The broker tenant changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_tenant(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(query): Query<ForceQuery>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    caller.require_global()?;
    let before =
        broker_tenant_view(&tenants::get_broker_tenant(state.broker.store.as_ref(), &id).await?);
    check_if_match(&headers, &etag_of(&before))?;
    let held = tenants::delete_broker_tenant(state.broker.store.as_ref(), &id, query.force).await?;
    state.broker.cache.invalidate(&id);
    let mut before = json(&before);
    if let Some(serde_json::Value::Object(fields)) = before.as_mut() {
        fields.insert(
            "deleted_with_it".into(),
            serde_json::json!({
                "applications": held.applications,
                "identity_providers": held.identity_providers,
                "user_flows": held.user_flows,
                "directory_users": held.directory_users,
            }),
        );
    }
    record(
        &state,
        &caller,
        Change {
            action: if query.force {
                actions::BROKER_TENANT_DELETE_FORCE
            } else {
                actions::BROKER_TENANT_DELETE
            },
            target: format!("broker/{id}"),
            tenant: Some(id.to_string()),
            before,
            after: None,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists a broker tenant's signing keys (public parts only), which sign its applications' tokens.
#[utoipa::path(get, path = "/broker/tenants/{tenant}/keys", tag = "broker",
    params(("tenant" = String, Path, description = "The broker tenant id"), KeyQuery, PageQuery),
    responses(
        (status = 200, description = "A page of keys", body = KeyPage),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such broker tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_keys(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(filter): Query<KeyQuery>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<KeyPage>, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let filter = KeyFilter::parse(filter.status.as_deref(), filter.alg.as_deref())?;
    let views = tenants::list_broker_keys(state.broker.store.as_ref(), &id)
        .await?
        .iter()
        .filter(|k| filter.matches(k))
        .map(key_view)
        .collect();
    let (items, next_cursor) = page(views, |k: &KeyView| k.kid.clone(), &paging)?;
    Ok(Json(KeyPage { items, next_cursor }))
}

/// Rotates a broker tenant's signing keys (a new RS256 and ES256 key), as an authenticator tenant's: by default
/// (`{"immediate": false}`) the new keys are published in the tenant's JWKS at once and start signing after seven
/// minutes; `{"immediate": true}` signs with them at once (a suspected compromise). The keys they replace are
/// retired when the new ones start signing and stay in the JWKS for a day (the longest token lifetime) plus clock
/// skew.
#[utoipa::path(post, path = "/broker/tenants/{tenant}/keys/rotate", tag = "broker",
    params(("tenant" = String, Path, description = "The broker tenant id")),
    request_body = RotateBody,
    responses(
        (status = 201, description = "The new keys", body = Rotated),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such broker tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn rotate_keys(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<RotateBody>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let rotation = if body.immediate {
        Rotation::Immediate
    } else {
        Rotation::Staged
    };
    let kids = tenants::rotate_broker_keys(
        state.broker.store.as_ref(),
        &state.broker.master_key,
        &id,
        rotation,
        state.now(),
    )
    .await?;
    state.broker.cache.invalidate(&id);
    record(
        &state,
        &caller,
        Change {
            action: actions::BROKER_TENANT_KEYS_ROTATE,
            target: format!("broker/{id}/keys"),
            tenant: Some(id.to_string()),
            before: None,
            after: Some(serde_json::json!({ "kids": kids, "immediate": body.immediate })),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(Rotated { kids })).into_response())
}

// ---------------------------------------------------------------------------------------------------------------
// Applications

/// Public (SPA, native: PKCE, no secret) or confidential (a web app with a secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientTypeName {
    /// Keeps a secret.
    Confidential,
    /// Cannot keep a secret: PKCE.
    Public,
}

/// Token lifetimes (Azure AD B2C's ranges).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenLifetimesBody {
    /// 5 to 1440 (default 60).
    pub access_token_minutes: u32,
    /// 5 to 1440 (default 60).
    pub id_token_minutes: u32,
    /// 1 to 90 (default 14).
    pub refresh_token_days: u32,
    /// 1 to 365 (default 90); `null`: no limit.
    pub refresh_sliding_window_days: Option<u32>,
}

impl Default for TokenLifetimesBody {
    fn default() -> Self {
        Self {
            access_token_minutes: 60,
            id_token_minutes: 60,
            refresh_token_days: 14,
            refresh_sliding_window_days: Some(90),
        }
    }
}

/// An application (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApplicationView {
    /// The application (client) id.
    pub client_id: String,
    /// Shown on the broker's pages.
    pub display_name: String,
    /// Public or confidential.
    pub client_type: ClientTypeName,
    /// Whether it has a secret.
    pub has_secret: bool,
    /// Reply URLs, matched exactly.
    pub reply_urls: Vec<String>,
    /// Post-logout URLs, matched exactly.
    pub logout_urls: Vec<String>,
    /// Token lifetimes.
    pub token_lifetimes: TokenLifetimesBody,
    /// The ID token signing algorithm.
    pub id_token_signing_alg: AlgName,
}

fn application_view(a: &tessera_broker::config::Application) -> Result<ApplicationView, Problem> {
    Ok(ApplicationView {
        client_id: a.client_id.to_string(),
        display_name: a.display_name.clone(),
        client_type: match a.client_type {
            tessera_oidc::ClientType::Confidential => ClientTypeName::Confidential,
            tessera_oidc::ClientType::Public => ClientTypeName::Public,
        },
        has_secret: a.secret_hash.is_some(),
        reply_urls: a.reply_urls.clone(),
        logout_urls: a.logout_urls.clone(),
        token_lifetimes: convert(&a.token_lifetimes, "token_lifetimes")?,
        id_token_signing_alg: match a.id_token_signing_alg {
            tessera_oidc::SigningAlg::Es256 => AlgName::Es256,
            _ => AlgName::Rs256,
        },
    })
}

page_of!(ApplicationPage, ApplicationView, "applications");

/// A new application.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApplicationBody {
    /// Shown on the broker's pages.
    pub display_name: String,
    /// Public or confidential.
    pub client_type: ClientTypeName,
    /// Reply URLs (`https`, or `http` on loopback), matched exactly.
    pub reply_urls: Vec<String>,
    /// Post-logout URLs.
    #[serde(default)]
    pub logout_urls: Vec<String>,
    /// Token lifetimes (defaults: 60 min, 60 min, 14 days, 90 days).
    #[serde(default)]
    pub token_lifetimes: TokenLifetimesBody,
    /// The ID token signing algorithm (default RS256).
    #[serde(default)]
    pub id_token_signing_alg: AlgName,
}

/// An application's settings, replaced whole (its id, type and secret stay).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationBody {
    /// Shown on the broker's pages.
    pub display_name: String,
    /// Reply URLs, matched exactly.
    pub reply_urls: Vec<String>,
    /// Post-logout URLs.
    #[serde(default)]
    pub logout_urls: Vec<String>,
    /// Token lifetimes.
    #[serde(default)]
    pub token_lifetimes: TokenLifetimesBody,
    /// The ID token signing algorithm.
    #[serde(default)]
    pub id_token_signing_alg: AlgName,
}

/// An application with its secret, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IssuedApplication {
    /// The application.
    pub application: ApplicationView,
    /// Its secret (confidential applications), not stored and never shown again.
    pub client_secret: Option<String>,
}

fn app_id(text: &str) -> Result<ClientId, Problem> {
    ClientId::parse(text).map_err(|_| Problem::not_found("the application"))
}

/// Lists a broker tenant's applications.
#[utoipa::path(get, path = "/broker/tenants/{tenant}/applications", tag = "applications",
    params(("tenant" = String, Path, description = "The broker tenant id"), ClientQuery, PageQuery),
    responses(
        (status = 200, description = "A page of applications", body = ApplicationPage),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such broker tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_applications(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(filter): Query<ClientQuery>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<ApplicationPage>, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    // One page cut by the store after filtering (the name folded at every write); a cursor that names no client id
    // is refused.
    let after = paging
        .after()?
        .map(|after| {
            ClientId::parse(&after)
                .map_err(|_| Problem::invalid_field("cursor", "not a cursor of this list"))
        })
        .transpose()?;
    let filter = tessera_store::ClientFilter {
        prefix: list_filters::query(filter.q.as_deref()),
        client_type: list_filters::client_type(filter.client_type.as_deref())?,
    };
    let (applications, next) = applications::list_applications_filtered_page(
        state.broker.store.as_ref(),
        &id,
        &filter,
        after.as_ref(),
        paging.limit()?,
    )
    .await?;
    let items = applications
        .iter()
        .map(application_view)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = next.as_ref().map(|last| cursor_of(last.as_str()));
    Ok(Json(ApplicationPage { items, next_cursor }))
}

/// Registers an application; a confidential one's secret is in this answer only.
#[utoipa::path(post, path = "/broker/tenants/{tenant}/applications", tag = "applications",
    params(("tenant" = String, Path, description = "The broker tenant id")),
    request_body = NewApplicationBody,
    responses(
        (status = 201, description = "The application and its secret", body = IssuedApplication),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such broker tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_application(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<NewApplicationBody>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let new = applications::NewApplication {
        display_name: body.display_name,
        client_type: match body.client_type {
            ClientTypeName::Confidential => tessera_oidc::ClientType::Confidential,
            ClientTypeName::Public => tessera_oidc::ClientType::Public,
        },
        reply_urls: body.reply_urls,
        logout_urls: body.logout_urls,
        token_lifetimes: convert(&body.token_lifetimes, "token_lifetimes")?,
        id_token_signing_alg: body.id_token_signing_alg.into(),
    };
    let (application, secret) =
        applications::create_application(state.broker.store.as_ref(), &id, new, state.now())
            .await?;
    state.broker.cache.invalidate(&id);
    let view = application_view(&application)?;
    record(
        &state,
        &caller,
        Change {
            action: actions::BROKER_APPLICATION_CREATE,
            target: format!("broker/{id}/applications/{}", view.client_id),
            tenant: Some(id.to_string()),
            before: None,
            after: json(&view),
        },
    )
    .await?;
    let body = IssuedApplication {
        application: view,
        client_secret: secret.map(|s| s.expose().to_owned()),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn load_application(
    state: &ApiState,
    tenant: &TenantId,
    client: &str,
) -> Result<ApplicationView, Problem> {
    Ok(load_application_record(state, tenant, client).await?.1)
}

/// An application as the service reads it and as the API shows it (the first is what a conditional write is based
/// on).
async fn load_application_record(
    state: &ApiState,
    tenant: &TenantId,
    client: &str,
) -> Result<(tessera_broker::config::Application, ApplicationView), Problem> {
    let application =
        applications::get_application(state.broker.store.as_ref(), tenant, &app_id(client)?)
            .await?;
    let view = application_view(&application)?;
    Ok((application, view))
}

/// Reads an application (with its `ETag`).
#[utoipa::path(get, path = "/broker/tenants/{tenant}/applications/{client_id}", tag = "applications",
    params(("tenant" = String, Path, description = "The broker tenant id"), ("client_id" = String, Path, description = "The application id")),
    responses(
        (status = 200, description = "The application", body = ApplicationView, headers(("ETag" = String, description = "The version, for `If-Match`"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such application", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_application(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, client)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    Ok(with_etag(load_application(&state, &id, &client).await?))
}

/// Replaces an application's settings (`If-Match` required).
#[utoipa::path(put, path = "/broker/tenants/{tenant}/applications/{client_id}", tag = "applications",
    params(("tenant" = String, Path, description = "The broker tenant id"), ("client_id" = String, Path, description = "The application id"),
           ("If-Match" = String, Header, description = "The `ETag` of the version read")),
    request_body = ApplicationBody,
    responses(
        (status = 200, description = "The changed application", body = ApplicationView, headers(("ETag" = String, description = "The new version"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such application", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The application changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update_application(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, client)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ApplicationBody>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let (read, before) = load_application_record(&state, &id, &client).await?;
    check_if_match(&headers, &etag_of(&before))?;
    let update = applications::ApplicationUpdate {
        display_name: body.display_name,
        reply_urls: body.reply_urls,
        logout_urls: body.logout_urls,
        token_lifetimes: convert(&body.token_lifetimes, "token_lifetimes")?,
        id_token_signing_alg: body.id_token_signing_alg.into(),
    };
    let changed = applications::update_application(
        state.broker.store.as_ref(),
        &id,
        &app_id(&client)?,
        update,
        Some(&read),
    )
    .await?;
    state.broker.cache.invalidate(&id);
    let after = application_view(&changed)?;
    record(
        &state,
        &caller,
        Change {
            action: actions::BROKER_APPLICATION_UPDATE,
            target: format!("broker/{id}/applications/{client}"),
            tenant: Some(id.to_string()),
            before: json(&before),
            after: json(&after),
        },
    )
    .await?;
    Ok(with_etag(after))
}

/// Deletes an application (`If-Match` required).
#[utoipa::path(delete, path = "/broker/tenants/{tenant}/applications/{client_id}", tag = "applications",
    params(("tenant" = String, Path, description = "The broker tenant id"), ("client_id" = String, Path, description = "The application id"),
           ("If-Match" = String, Header, description = "The `ETag` of the version read")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such application", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The application changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_application(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, client)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let (read, before) = load_application_record(&state, &id, &client).await?;
    check_if_match(&headers, &etag_of(&before))?;
    applications::delete_application(
        state.broker.store.as_ref(),
        &id,
        &app_id(&client)?,
        Some(&read),
    )
    .await?;
    state.broker.cache.invalidate(&id);
    record(
        &state,
        &caller,
        Change {
            action: actions::BROKER_APPLICATION_DELETE,
            target: format!("broker/{id}/applications/{client}"),
            tenant: Some(id.to_string()),
            before: json(&before),
            after: None,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a confidential application a new secret (shown in this answer only); the old one stops working.
#[utoipa::path(post, path = "/broker/tenants/{tenant}/applications/{client_id}/secret", tag = "applications",
    params(("tenant" = String, Path, description = "The broker tenant id"), ("client_id" = String, Path, description = "The application id")),
    responses(
        (status = 201, description = "The application and its new secret", body = IssuedApplication),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such application", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A public application has no secret", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn regenerate_secret(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, client)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let (application, secret) =
        applications::regenerate_secret(state.broker.store.as_ref(), &id, &app_id(&client)?)
            .await?;
    state.broker.cache.invalidate(&id);
    let view = application_view(&application)?;
    record(
        &state,
        &caller,
        Change {
            action: actions::BROKER_APPLICATION_SECRET_REGENERATE,
            target: format!("broker/{id}/applications/{client}"),
            tenant: Some(id.to_string()),
            before: None,
            after: json(&view),
        },
    )
    .await?;
    let body = IssuedApplication {
        application: view,
        client_secret: Some(secret.expose().to_owned()),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

// ---------------------------------------------------------------------------------------------------------------
// Identity providers

/// Which claim of the provider's ID token (or userinfo) fills each profile field; `null` leaves it unmapped.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimMappingBody {
    /// The user's id at the provider (default `sub`).
    #[serde(default = "default_sub")]
    pub user_id: String,
    /// Display name (default `name`).
    #[serde(default = "default_name")]
    pub display_name: Option<String>,
    /// Given name (default `given_name`).
    #[serde(default = "default_given")]
    pub given_name: Option<String>,
    /// Surname (default `family_name`).
    #[serde(default = "default_family")]
    pub surname: Option<String>,
    /// Email (default `email`).
    #[serde(default = "default_email")]
    pub email: Option<String>,
}

fn default_sub() -> String {
    "sub".into()
}
fn default_name() -> Option<String> {
    Some("name".into())
}
fn default_given() -> Option<String> {
    Some("given_name".into())
}
fn default_family() -> Option<String> {
    Some("family_name".into())
}
fn default_email() -> Option<String> {
    Some("email".into())
}

impl Default for ClaimMappingBody {
    fn default() -> Self {
        Self {
            user_id: default_sub(),
            display_name: default_name(),
            given_name: default_given(),
            surname: default_family(),
            email: default_email(),
        }
    }
}

/// How the broker sends its client secret to the provider's token endpoint.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthBody {
    /// HTTP Basic (default).
    #[default]
    ClientSecretBasic,
    /// In the form body.
    ClientSecretPost,
}

/// How the provider answers (the tutorial uses `form_post`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseModeBody {
    /// Parameters in the query.
    Query,
    /// An auto-submitted form.
    FormPost,
}

/// The response type (only the authorization code flow).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseTypeBody {
    /// `code`.
    #[default]
    Code,
}

/// An OpenID Connect identity provider's configuration.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderBody {
    /// Its id within the tenant (lowercase letters, digits, `-`).
    pub id: String,
    /// Display name, shown on the choice page.
    pub name: String,
    /// The provider's discovery document (`{issuer}/.well-known/openid-configuration`).
    pub metadata_url: String,
    /// The client id the provider issued to the broker.
    pub client_id: String,
    /// The client secret the provider issued (write only: never returned). Required when adding; when
    /// replacing, absent keeps the stored one.
    #[serde(default, skip_serializing)]
    pub client_secret: Option<String>,
    /// How the secret is sent.
    #[serde(default)]
    pub client_auth: ClientAuthBody,
    /// Scope values, space-separated (default `openid profile email`).
    #[serde(default = "default_scope")]
    pub scope: String,
    /// Always `code`.
    #[serde(default)]
    pub response_type: ResponseTypeBody,
    /// `form_post` or `query`.
    pub response_mode: ResponseModeBody,
    /// Where the profile fields come from.
    #[serde(default)]
    pub claim_mapping: ClaimMappingBody,
    /// The `domain_hint` that sends users straight to this provider.
    #[serde(default)]
    pub domain_hint: Option<String>,
}

fn default_scope() -> String {
    tessera_broker::config::DEFAULT_SCOPE.into()
}

impl ProviderBody {
    fn config(&self) -> Result<IdentityProvider, Problem> {
        let mut value = serde_json::to_value(self).map_err(|e| Problem::internal(&e, false))?;
        if let Some(object) = value.as_object_mut() {
            object.insert(
                "scope".into(),
                serde_json::json!(tessera_broker::config::parse_scope(&self.scope)),
            );
        }
        convert(&value, "")
    }
}

/// An identity provider as stored: its configuration (never its secret) and what was fetched.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderView {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The discovery document's URL.
    pub metadata_url: String,
    /// The client id.
    pub client_id: String,
    /// How the secret is sent.
    pub client_auth: ClientAuthBody,
    /// Scope values, space-separated.
    pub scope: String,
    /// Always `code`.
    pub response_type: ResponseTypeBody,
    /// `form_post` or `query`.
    pub response_mode: ResponseModeBody,
    /// Where the profile fields come from.
    pub claim_mapping: ClaimMappingBody,
    /// The `domain_hint`.
    pub domain_hint: Option<String>,
    /// Whether a client secret is stored.
    pub has_client_secret: bool,
    /// The issuer its metadata names.
    pub issuer: String,
    /// Usable signing keys in its JWKS, as last fetched.
    pub signing_keys: usize,
    /// When its metadata was last fetched.
    pub metadata_fetched_at: String,
    /// When it was added.
    pub created_at: String,
    /// When its configuration was last saved.
    pub updated_at: String,
}

fn provider_view(p: &providers::ProviderView) -> Result<ProviderView, Problem> {
    let mut view = config_view(&p.config)?;
    view.has_client_secret = p.has_client_secret;
    view.issuer.clone_from(&p.metadata.issuer);
    view.signing_keys = p.signing_keys;
    view.metadata_fetched_at = rfc3339(p.metadata_fetched_at);
    view.created_at = rfc3339(p.created_at);
    view.updated_at = rfc3339(p.updated_at);
    Ok(view)
}

/// A list's item: what a read shows, from the summary the store keeps (the same view; no document decoded).
fn provider_summary_view(p: &providers::ProviderSummary) -> Result<ProviderView, Problem> {
    let mut view = config_view(&p.config)?;
    view.has_client_secret = p.has_client_secret;
    view.issuer.clone_from(&p.issuer);
    view.signing_keys = p.signing_keys;
    view.metadata_fetched_at = rfc3339(p.metadata_fetched_at);
    view.created_at = rfc3339(p.created_at);
    view.updated_at = rfc3339(p.updated_at);
    Ok(view)
}

/// The view of a configuration, the stored facts left empty.
fn config_view(c: &IdentityProvider) -> Result<ProviderView, Problem> {
    let config = serde_json::to_value(c).map_err(|e| Problem::internal(&e, false))?;
    let field = |name: &str| config.get(name).cloned().unwrap_or_default();
    let parse = |name: &str| -> Result<serde_json::Value, Problem> { Ok(field(name)) };
    Ok(ProviderView {
        id: c.id.to_string(),
        name: c.name.clone(),
        metadata_url: c.metadata_url.as_str().to_owned(),
        client_id: c.client_id.clone(),
        client_auth: convert(&parse("client_auth")?, "client_auth")?,
        scope: c.scope_string(),
        response_type: ResponseTypeBody::Code,
        response_mode: convert(&parse("response_mode")?, "response_mode")?,
        claim_mapping: convert(&parse("claim_mapping")?, "claim_mapping")?,
        domain_hint: c.domain_hint.clone(),
        has_client_secret: false,
        issuer: String::new(),
        signing_keys: 0,
        metadata_fetched_at: String::new(),
        created_at: String::new(),
        updated_at: String::new(),
    })
}

/// The version tag of a provider: its configuration and when it was saved (not the background metadata refresh).
fn provider_tag(view: &ProviderView) -> String {
    etag_of(&(
        &view.name,
        &view.metadata_url,
        &view.client_id,
        &view.scope,
        &view.claim_mapping,
        &view.domain_hint,
        &view.updated_at,
        view.has_client_secret,
    ))
}

page_of!(ProviderPage, ProviderView, "identity providers");

fn provider_id(text: &str) -> Result<ProviderId, Problem> {
    ProviderId::parse(text).map_err(|_| Problem::not_found("the identity provider"))
}

async fn load_provider(
    state: &ApiState,
    tenant: &TenantId,
    id: &str,
) -> Result<(ProviderView, String), Problem> {
    let (_, view, tag) = load_provider_record(state, tenant, id).await?;
    Ok((view, tag))
}

/// A provider as the service reads it, as the API shows it, and its `ETag` (the first is what a conditional write
/// is based on).
async fn load_provider_record(
    state: &ApiState,
    tenant: &TenantId,
    id: &str,
) -> Result<(providers::ProviderView, ProviderView, String), Problem> {
    let read =
        providers::get_identity_provider(state.broker.store.as_ref(), tenant, &provider_id(id)?)
            .await?;
    let view = provider_view(&read)?;
    let tag = provider_tag(&view);
    Ok((read, view, tag))
}

/// Lists a broker tenant's identity providers.
#[utoipa::path(get, path = "/broker/tenants/{tenant}/identity-providers", tag = "identity-providers",
    params(("tenant" = String, Path, description = "The broker tenant id"), NameQuery, PageQuery),
    responses(
        (status = 200, description = "A page of identity providers", body = ProviderPage),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such broker tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_providers(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(filter): Query<NameQuery>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<ProviderPage>, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    // One page cut by the store, from the summaries (no secret, metadata or JWKS read); a cursor that names no
    // provider id is refused.
    let after = paging
        .after()?
        .map(|after| {
            ProviderId::parse(&after)
                .map_err(|_| Problem::invalid_field("cursor", "not a cursor of this list"))
        })
        .transpose()?;
    let q = list_filters::query(filter.q.as_deref());
    let page = providers::list_provider_summaries_page(
        state.broker.store.as_ref(),
        &id,
        q.as_deref(),
        after.as_ref(),
        paging.limit()?,
    )
    .await?;
    let items = page
        .providers
        .iter()
        .map(provider_summary_view)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = page.next.as_ref().map(|last| cursor_of(last.as_str()));
    Ok(Json(ProviderPage { items, next_cursor }))
}

/// Adds an identity provider: its metadata and JWKS are fetched and validated first (nothing is stored when
/// they are wrong; the problem names the field). The client secret is stored encrypted and never returned.
#[utoipa::path(post, path = "/broker/tenants/{tenant}/identity-providers", tag = "identity-providers",
    params(("tenant" = String, Path, description = "The broker tenant id")),
    request_body = ProviderBody,
    responses(
        (status = 201, description = "The identity provider", body = ProviderView, headers(("ETag" = String, description = "The version, for `If-Match`"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such broker tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid, or the metadata is unusable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_provider(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<ProviderBody>,
) -> Result<Response, Problem> {
    let id = broker_tenant(&state, &caller, &tenant).await?;
    let config = body.config()?;
    let Some(secret) = body.client_secret.as_deref().filter(|s| !s.is_empty()) else {
        return Err(Problem::invalid_field(
            "client_secret",
            "the client secret the provider issued is required",
        ));
    };
    let saved = providers::save_identity_provider(
        state.broker.store.as_ref(),
        &state.broker.master_key,
        &state.broker.upstream,
        &id,
        config,
        Secret::new(secret),
        state.now(),
    )
    .await?;
    state.broker.cache.invalidate(&id);
    // The answer is the stored version, as a read gives it: its `ETag` is what the next change must send (the
    // stores keep times at their own precision, so the value in hand may differ in its fraction of a second).
    let (view, tag) = load_provider(&state, &id, saved.config.id.as_str()).await?;
    record(
        &state,
        &caller,
        Change {
            action: actions::BROKER_PROVIDER_CREATE,
            target: format!("broker/{id}/identity-providers/{}", view.id),
            tenant: Some(id.to_string()),
            before: None,
            after: json(&view),
        },
    )
    .await?;
    Ok(with_tag(view, &tag, StatusCode::CREATED))
}

/// What "test connection" found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConnectionReport {
    /// Always `true` (a failure is a problem+json naming the field).
    pub ok: bool,
    /// The issuer of the metadata.
    pub issuer: String,
    /// The authorization endpoint.
    pub authorization_endpoint: String,
    /// The token endpoint.
    pub token_endpoint: String,
    /// The userinfo endpoint.
    pub userinfo_endpoint: Option<String>,
    /// The JWKS URL.
    pub jwks_uri: String,
    /// Usable signing keys in the JWKS.
    pub signing_keys: usize,
}

/// "Test connection": fetches the metadata and JWKS of a configuration and checks them as adding it would,
/// without storing anything; what is wrong comes back as problem+json naming the field (`metadata_url`,
/// `jwks_uri`, `response_mode`, ...). `client_secret` may be left out.
#[utoipa::path(post, path = "/broker/tenants/{tenant}/identity-providers/test", tag = "identity-providers",
    params(("tenant" = String, Path, description = "The broker tenant id")),
    request_body = ProviderBody,
    responses(
        (status = 200, description = "The provider is usable", body = ConnectionReport),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such broker tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "What is wrong, by field", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn test_provider(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<ProviderBody>,
) -> Result<Json<ConnectionReport>, Problem> {
    broker_tenant(&state, &caller, &tenant).await?;
    let config = body.config()?;
    let report = providers::test_connection(&state.broker.upstream, &config).await?;
    Ok(Json(ConnectionReport {
        ok: true,
        issuer: report.metadata.issuer,
        authorization_endpoint: report.metadata.authorization_endpoint,
        token_endpoint: report.metadata.token_endpoint,
        userinfo_endpoint: report.metadata.userinfo_endpoint,
        jwks_uri: report.metadata.jwks_uri,
        signing_keys: report.signing_keys,
    }))
}

/// Reads an identity provider (with its `ETag`).
#[utoipa::path(get, path = "/broker/tenants/{tenant}/identity-providers/{id}", tag = "identity-providers",
    params(("tenant" = String, Path, description = "The broker tenant id"), ("id" = String, Path, description = "The provider id")),
    responses(
        (status = 200, description = "The identity provider", body = ProviderView, headers(("ETag" = String, description = "The version, for `If-Match`"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such identity provider", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_provider(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, provider)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let (view, tag) = load_provider(&state, &id, &provider).await?;
    Ok(with_tag(view, &tag, StatusCode::OK))
}

/// A provider's replacement: the new configuration, the secret (`None` keeps the stored one), the view before, and
/// the audit action.
struct Replacement {
    config: IdentityProvider,
    secret: Option<Secret>,
    read: providers::ProviderView,
    before: ProviderView,
    action: &'static str,
}

async fn replace_provider(
    state: &ApiState,
    caller: &Caller,
    id: &TenantId,
    provider: &str,
    Replacement {
        config,
        secret,
        read,
        before,
        action,
    }: Replacement,
) -> Result<Response, Problem> {
    if config.id.as_str() != provider {
        return Err(Problem::invalid_field(
            "id",
            "the id in the body must be the one in the path",
        ));
    }
    let saved = providers::update_identity_provider(
        state.broker.store.as_ref(),
        &state.broker.master_key,
        &state.broker.upstream,
        id,
        config,
        secret,
        state.now(),
        Some(&read),
    )
    .await?;
    state.broker.cache.invalidate(id);
    let (after, tag) = load_provider(state, id, saved.config.id.as_str()).await?;
    record(
        state,
        caller,
        Change {
            action,
            target: format!("broker/{id}/identity-providers/{provider}"),
            tenant: Some(id.to_string()),
            before: json(&before),
            after: json(&after),
        },
    )
    .await?;
    Ok(with_tag(after, &tag, StatusCode::OK))
}

/// Replaces an identity provider's configuration (`If-Match` required); its metadata is fetched and validated
/// again. Without `client_secret` the stored secret stays.
#[utoipa::path(put, path = "/broker/tenants/{tenant}/identity-providers/{id}", tag = "identity-providers",
    params(("tenant" = String, Path, description = "The broker tenant id"), ("id" = String, Path, description = "The provider id"),
           ("If-Match" = String, Header, description = "The `ETag` of the version read")),
    request_body = ProviderBody,
    responses(
        (status = 200, description = "The changed identity provider", body = ProviderView, headers(("ETag" = String, description = "The new version"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such identity provider", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The provider changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid, or the metadata is unusable", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update_provider(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, provider)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ProviderBody>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let (read, before, tag) = load_provider_record(&state, &id, &provider).await?;
    check_if_match(&headers, &tag)?;
    let config = body.config()?;
    let secret = body
        .client_secret
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(Secret::new);
    let replacement = Replacement {
        config,
        secret,
        read,
        before,
        action: actions::BROKER_PROVIDER_UPDATE,
    };
    replace_provider(&state, &caller, &id, &provider, replacement).await
}

/// Replaces an identity provider's claim mapping ("Map this identity provider's claims"; `If-Match` required).
#[utoipa::path(put, path = "/broker/tenants/{tenant}/identity-providers/{id}/claim-mapping", tag = "identity-providers",
    params(("tenant" = String, Path, description = "The broker tenant id"), ("id" = String, Path, description = "The provider id"),
           ("If-Match" = String, Header, description = "The `ETag` of the provider as read")),
    request_body = ClaimMappingBody,
    responses(
        (status = 200, description = "The changed identity provider", body = ProviderView, headers(("ETag" = String, description = "The new version"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such identity provider", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The provider changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn set_claim_mapping(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, provider)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ClaimMappingBody>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let (read, before, tag) = load_provider_record(&state, &id, &provider).await?;
    check_if_match(&headers, &tag)?;
    let mut config = read.config.clone();
    config.claim_mapping = convert(&body, "claim_mapping")?;
    let replacement = Replacement {
        config,
        secret: None,
        read,
        before,
        action: actions::BROKER_PROVIDER_CLAIMS_UPDATE,
    };
    replace_provider(&state, &caller, &id, &provider, replacement).await
}

/// Deletes an identity provider (`If-Match` required); refused (409) while a user flow's current version offers
/// it.
#[utoipa::path(delete, path = "/broker/tenants/{tenant}/identity-providers/{id}", tag = "identity-providers",
    params(("tenant" = String, Path, description = "The broker tenant id"), ("id" = String, Path, description = "The provider id"),
           ("If-Match" = String, Header, description = "The `ETag` of the version read")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such identity provider", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A user flow offers it", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The provider changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_provider(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, provider)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let (read, before, tag) = load_provider_record(&state, &id, &provider).await?;
    check_if_match(&headers, &tag)?;
    providers::delete_identity_provider(
        state.broker.store.as_ref(),
        &id,
        &provider_id(&provider)?,
        Some(&read),
    )
    .await?;
    state.broker.cache.invalidate(&id);
    record(
        &state,
        &caller,
        Change {
            action: actions::BROKER_PROVIDER_DELETE,
            target: format!("broker/{id}/identity-providers/{provider}"),
            tenant: Some(id.to_string()),
            before: json(&before),
            after: None,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------------------------
// User flows

/// Whether local accounts are offered too.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LocalAccountsBody {
    /// Federated providers only.
    #[default]
    None,
    /// Local accounts by email.
    Email,
}

/// The multi-factor setting (judged on the upstream sign-in's `amr`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MfaBody {
    /// No requirement.
    #[default]
    Off,
    /// Every sign-in multi-factor.
    Always,
    /// As the conditional-access rules say.
    Conditional,
}

/// What a conditional-access rule does.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessActionBody {
    /// Let through.
    Allow,
    /// Refuse.
    Block,
    /// Refuse unless phishing-resistant upstream.
    RequirePhishingResistant,
    /// Refuse unless multi-factor upstream (only with MFA `conditional`).
    RequireMfa,
}

/// A conditional-access rule (empty lists match everything; the first matching rule decides).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessRuleBody {
    /// Its name.
    pub name: String,
    /// Application ids it applies to.
    #[serde(default)]
    pub applications: Vec<String>,
    /// Provider ids it applies to.
    #[serde(default)]
    pub identity_providers: Vec<String>,
    /// What it does.
    pub action: AccessActionBody,
}

/// Conditional access.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionalAccessBody {
    /// Whether the rules are evaluated.
    #[serde(default)]
    pub enforced: bool,
    /// The rules, in order.
    #[serde(default)]
    pub rules: Vec<AccessRuleBody>,
}

/// A custom attribute's type.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttributeTypeBody {
    /// Text.
    String,
    /// `true`/`false`.
    Boolean,
    /// A 64-bit integer.
    Integer,
}

/// A custom attribute (`extension_<name>` in tokens).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomAttributeBody {
    /// Its name (a letter, then letters, digits, `_`).
    pub name: String,
    /// The label on the attribute page.
    #[serde(default)]
    pub label: Option<String>,
    /// Its type.
    pub data_type: AttributeTypeBody,
}

/// A user attribute: `email`, `display_name`, `given_name`, `surname`, or `{"custom": "<name>"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserAttributeBody {
    /// Email address.
    Email,
    /// Display name.
    DisplayName,
    /// Given name.
    GivenName,
    /// Surname.
    Surname,
    /// A custom attribute of the flow.
    Custom(String),
}

/// An attribute collected at sign-up.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectedAttributeBody {
    /// The attribute.
    pub attribute: UserAttributeBody,
    /// Whether an empty value is refused (default `true`).
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

/// A claim in application tokens: `email` (`emails`), `display_name` (`name`), `given_name`, `surname`
/// (`family_name`), `identity_provider` (`idp`), `object_id` (`oid`), `new_user` (`newUser`), or
/// `{"custom": "<name>"}` (`extension_<name>`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationClaimBody {
    /// `emails`.
    Email,
    /// `name`.
    DisplayName,
    /// `given_name`.
    GivenName,
    /// `family_name`.
    Surname,
    /// `idp`.
    IdentityProvider,
    /// `oid`.
    ObjectId,
    /// `newUser`.
    NewUser,
    /// `extension_<name>`.
    Custom(String),
}

/// What a user flow does ("User attributes and token claims", "Application claims", providers, MFA, conditional
/// access).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowSettingsBody {
    /// The identity providers offered (ids), in display order.
    #[serde(default)]
    pub identity_providers: Vec<String>,
    /// Local accounts.
    #[serde(default)]
    pub local_accounts: LocalAccountsBody,
    /// Multi-factor setting.
    #[serde(default)]
    pub mfa: MfaBody,
    /// Conditional access.
    #[serde(default)]
    pub conditional_access: ConditionalAccessBody,
    /// Custom attributes of this flow.
    #[serde(default)]
    pub custom_attributes: Vec<CustomAttributeBody>,
    /// Attributes collected at sign-up, in page order.
    #[serde(default)]
    pub user_attributes: Vec<CollectedAttributeBody>,
    /// Claims returned to applications.
    #[serde(default)]
    pub application_claims: Vec<ApplicationClaimBody>,
}

/// A new "Sign up and sign in" user flow.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFlowBody {
    /// The policy id (`B2C_1_signupsignin`).
    pub name: String,
    /// What it does.
    pub settings: FlowSettingsBody,
}

/// A change of a user flow: the settings of its next version.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowChangeBody {
    /// What the new version does.
    pub settings: FlowSettingsBody,
}

/// A user flow: its current version's settings.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FlowView {
    /// The policy id.
    pub name: String,
    /// `sign_up_sign_in`.
    pub kind: String,
    /// The current version's number.
    pub current_version: u32,
    /// How many versions it has.
    pub versions: u32,
    /// The current version's settings.
    pub settings: FlowSettingsBody,
    /// When the current version was saved.
    pub updated_at: String,
}

/// One saved version of a user flow (immutable).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FlowVersionView {
    /// Its number, from 1.
    pub number: u32,
    /// When it was saved.
    pub created_at: String,
    /// What it does.
    pub settings: FlowSettingsBody,
}

page_of!(FlowPage, FlowView, "user flows");
page_of!(
    FlowVersionPage,
    FlowVersionView,
    "user flow versions, oldest first"
);

fn version_view(v: &UserFlowVersion) -> Result<FlowVersionView, Problem> {
    Ok(FlowVersionView {
        number: v.number(),
        created_at: rfc3339(v.created_at()),
        settings: convert(v.settings(), "settings")?,
    })
}

fn flow_view(flow: &UserFlow) -> Result<FlowView, Problem> {
    let current = flow.current();
    Ok(FlowView {
        name: flow.policy().to_string(),
        kind: "sign_up_sign_in".into(),
        current_version: current.number(),
        versions: u32::try_from(flow.versions().count()).unwrap_or(u32::MAX),
        settings: convert(current.settings(), "settings")?,
        updated_at: rfc3339(current.created_at()),
    })
}

/// A flow's settings are checked by the broker with field names relative to them: name them within the body.
fn in_settings(error: tessera_service::ServiceError) -> Problem {
    match error {
        tessera_service::ServiceError::BrokerConfig(config) => {
            let message = config.to_string();
            Problem::invalid_field(
                &format!("settings.{}", config.field()),
                super::problem::strip_field(&message),
            )
        }
        other => other.into(),
    }
}

fn flow_tag(view: &FlowView) -> String {
    format!("\"v{}\"", view.current_version)
}

fn policy_id(text: &str) -> Result<PolicyId, Problem> {
    PolicyId::parse(text).map_err(|_| Problem::not_found("the user flow"))
}

async fn load_flow(state: &ApiState, tenant: &TenantId, policy: &str) -> Result<UserFlow, Problem> {
    Ok(flows::get_user_flow(state.broker.store.as_ref(), tenant, &policy_id(policy)?).await?)
}

/// Lists a broker tenant's user flows.
#[utoipa::path(get, path = "/broker/tenants/{tenant}/user-flows", tag = "user-flows",
    params(("tenant" = String, Path, description = "The broker tenant id"), NameQuery, PageQuery),
    responses(
        (status = 200, description = "A page of user flows", body = FlowPage),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such broker tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_flows(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(filter): Query<NameQuery>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<FlowPage>, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let q = list_filters::query(filter.q.as_deref());
    let mut views = Vec::new();
    for summary in flows::list_user_flows(state.broker.store.as_ref(), &id).await? {
        if !list_filters::starts_with_any(q.as_deref(), [summary.policy.to_string().as_str()]) {
            continue;
        }
        let flow = flows::get_user_flow(state.broker.store.as_ref(), &id, &summary.policy).await?;
        views.push(flow_view(&flow)?);
    }
    let (items, next_cursor) = page(views, |f: &FlowView| f.name.to_ascii_lowercase(), &paging)?;
    Ok(Json(FlowPage { items, next_cursor }))
}

/// Creates a "Sign up and sign in" user flow (its version 1).
#[utoipa::path(post, path = "/broker/tenants/{tenant}/user-flows", tag = "user-flows",
    params(("tenant" = String, Path, description = "The broker tenant id")),
    request_body = NewFlowBody,
    responses(
        (status = 201, description = "The user flow", body = FlowView, headers(("ETag" = String, description = "The version, for `If-Match`"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such broker tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_flow(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<NewFlowBody>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let policy =
        PolicyId::parse(&body.name).map_err(|e| Problem::invalid_field("name", e.to_string()))?;
    let settings: FlowSettings = convert(&body.settings, "settings")?;
    let flow = flows::create_user_flow(
        state.broker.store.as_ref(),
        &id,
        policy,
        settings,
        state.now(),
    )
    .await
    .map_err(in_settings)?;
    state.broker.cache.invalidate(&id);
    let view = flow_view(&flow)?;
    let tag = flow_tag(&view);
    record(
        &state,
        &caller,
        Change {
            action: actions::BROKER_USER_FLOW_CREATE,
            target: format!("broker/{id}/user-flows/{}", view.name),
            tenant: Some(id.to_string()),
            before: None,
            after: json(&view),
        },
    )
    .await?;
    Ok(with_tag(view, &tag, StatusCode::CREATED))
}

/// Reads a user flow's current version (its `ETag` names the version).
#[utoipa::path(get, path = "/broker/tenants/{tenant}/user-flows/{name}", tag = "user-flows",
    params(("tenant" = String, Path, description = "The broker tenant id"), ("name" = String, Path, description = "The policy id (case-insensitive)")),
    responses(
        (status = 200, description = "The user flow", body = FlowView, headers(("ETag" = String, description = "The version, for `If-Match`"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user flow", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_flow(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let view = flow_view(&load_flow(&state, &id, &name).await?)?;
    let tag = flow_tag(&view);
    Ok(with_tag(view, &tag, StatusCode::OK))
}

/// Changes a user flow: its settings become a new version (`If-Match` naming the current version required);
/// sign-ins in progress finish on the version they started with.
#[utoipa::path(put, path = "/broker/tenants/{tenant}/user-flows/{name}", tag = "user-flows",
    params(("tenant" = String, Path, description = "The broker tenant id"), ("name" = String, Path, description = "The policy id"),
           ("If-Match" = String, Header, description = "The `ETag` of the version read")),
    request_body = FlowChangeBody,
    responses(
        (status = 200, description = "The user flow at its new version", body = FlowView, headers(("ETag" = String, description = "The new version"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user flow", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Another version was saved since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update_flow(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, name)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<FlowChangeBody>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let flow = load_flow(&state, &id, &name).await?;
    let before = flow_view(&flow)?;
    check_if_match(&headers, &flow_tag(&before))?;
    let settings: FlowSettings = convert(&body.settings, "settings")?;
    let revised = flows::revise_user_flow(
        state.broker.store.as_ref(),
        &id,
        flow.policy(),
        before.current_version,
        settings,
        state.now(),
    )
    .await
    .map_err(in_settings)?;
    state.broker.cache.invalidate(&id);
    let after = flow_view(&revised)?;
    let tag = flow_tag(&after);
    record(
        &state,
        &caller,
        Change {
            action: actions::BROKER_USER_FLOW_UPDATE,
            target: format!("broker/{id}/user-flows/{}", after.name),
            tenant: Some(id.to_string()),
            before: json(&before),
            after: json(&after),
        },
    )
    .await?;
    Ok(with_tag(after, &tag, StatusCode::OK))
}

/// Deletes a user flow with all its versions (`If-Match` naming the current version required). Sign-ins in
/// progress on it then fail with "unknown user flow", and tokens refreshed under it are refused.
#[utoipa::path(delete, path = "/broker/tenants/{tenant}/user-flows/{name}", tag = "user-flows",
    params(("tenant" = String, Path, description = "The broker tenant id"), ("name" = String, Path, description = "The policy id (case-insensitive)"),
           ("If-Match" = String, Header, description = "The `ETag` of the version read")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user flow", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Another version was saved since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_flow(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let flow = load_flow(&state, &id, &name).await?;
    let before = flow_view(&flow)?;
    check_if_match(&headers, &flow_tag(&before))?;
    flows::delete_user_flow(state.broker.store.as_ref(), &id, flow.policy()).await?;
    state.broker.cache.invalidate(&id);
    record(
        &state,
        &caller,
        Change {
            action: actions::BROKER_USER_FLOW_DELETE,
            target: format!("broker/{id}/user-flows/{}", before.name),
            tenant: Some(id.to_string()),
            before: json(&before),
            after: None,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists a user flow's versions, oldest first.
#[utoipa::path(get, path = "/broker/tenants/{tenant}/user-flows/{name}/versions", tag = "user-flows",
    params(("tenant" = String, Path, description = "The broker tenant id"), ("name" = String, Path, description = "The policy id"), PageQuery),
    responses(
        (status = 200, description = "A page of versions", body = FlowVersionPage),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user flow", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_flow_versions(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, name)): Path<(String, String)>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<FlowVersionPage>, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let flow = load_flow(&state, &id, &name).await?;
    let views = flow
        .versions()
        .map(version_view)
        .collect::<Result<Vec<_>, _>>()?;
    let (items, next_cursor) = page(
        views,
        |v: &FlowVersionView| format!("{:010}", v.number),
        &paging,
    )?;
    Ok(Json(FlowVersionPage { items, next_cursor }))
}

/// Reads one version of a user flow.
#[utoipa::path(get, path = "/broker/tenants/{tenant}/user-flows/{name}/versions/{number}", tag = "user-flows",
    params(("tenant" = String, Path, description = "The broker tenant id"), ("name" = String, Path, description = "The policy id"),
           ("number" = u32, Path, description = "The version number")),
    responses(
        (status = 200, description = "The version", body = FlowVersionView),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_flow_version(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, name, number)): Path<(String, String, String)>,
) -> Result<Json<FlowVersionView>, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let number: u32 = number
        .parse()
        .map_err(|_| Problem::not_found("the user flow version"))?;
    let version =
        flows::get_user_flow_version(state.broker.store.as_ref(), &id, &policy_id(&name)?, number)
            .await?;
    Ok(Json(version_view(&version)?))
}

// ---------------------------------------------------------------------------------------------------------------
// Directory users

/// A user of a broker tenant's directory.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DirectoryUserView {
    /// The object id (`oid`).
    pub object_id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Surname.
    pub surname: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Custom attributes.
    pub custom: serde_json::Value,
    /// The identities (issuer and subject at each provider).
    pub identities: Vec<IdentityView>,
    /// When the user signed up.
    pub created_at: String,
    /// When they last signed in.
    pub last_sign_in_at: Option<String>,
    /// When they were disabled.
    pub disabled_at: Option<String>,
}

/// A user's identity at a provider.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdentityView {
    /// The provider's issuer.
    pub issuer: String,
    /// The user's `sub` there.
    pub subject: String,
}

/// The API's view of a directory user (its `ETag` is the version the portal's forms carry too).
pub(crate) fn user_view(u: &DirectoryUserRecord) -> DirectoryUserView {
    DirectoryUserView {
        object_id: u.object_id.to_string(),
        display_name: u.display_name.clone(),
        given_name: u.given_name.clone(),
        surname: u.surname.clone(),
        email: u.email.clone(),
        custom: u.custom.clone(),
        identities: u
            .identities
            .iter()
            .map(|i| IdentityView {
                issuer: i.issuer.clone(),
                subject: i.subject.clone(),
            })
            .collect(),
        created_at: rfc3339(u.created_at),
        last_sign_in_at: u.last_sign_in_at.map(rfc3339),
        disabled_at: u.disabled_at.map(rfc3339),
    }
}

page_of!(DirectoryUserPage, DirectoryUserView, "directory users");

/// The directory search.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserSearch {
    /// Matches the start of the display name, given name, surname or email (empty: everyone).
    pub q: Option<String>,
}

fn object_id(text: &str) -> Result<UserId, Problem> {
    UserId::parse(text).map_err(|_| Problem::not_found("the user"))
}

/// Searches a broker tenant's directory.
#[utoipa::path(get, path = "/broker/tenants/{tenant}/users", tag = "directory",
    params(("tenant" = String, Path, description = "The broker tenant id"), UserSearch, StatusQuery, PageQuery),
    responses(
        (status = 200, description = "A page of users", body = DirectoryUserPage),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such broker tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn search_users(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(search): Query<UserSearch>,
    Query(status): Query<StatusQuery>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<DirectoryUserPage>, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let status = list_filters::account_status(status.status.as_deref())?;
    let after = paging
        .after()?
        .map(|a| {
            UserId::parse(&a)
                .map_err(|_| Problem::invalid_field("cursor", "not a cursor of this API"))
        })
        .transpose()?;
    let found = directory::search_users(
        state.broker.store.as_ref(),
        &id,
        search.q.as_deref().unwrap_or_default(),
        status,
        after.as_ref(),
        paging.limit()?,
    )
    .await?;
    Ok(Json(DirectoryUserPage {
        items: found.users.iter().map(user_view).collect(),
        next_cursor: found.next.map(|n| cursor_of(n.as_str())),
    }))
}

async fn load_user(
    state: &ApiState,
    tenant: &TenantId,
    user: &str,
) -> Result<DirectoryUserView, Problem> {
    Ok(load_user_record(state, tenant, user).await?.1)
}

/// A directory user as stored and as the API shows them (the record is what a conditional write is based on).
async fn load_user_record(
    state: &ApiState,
    tenant: &TenantId,
    user: &str,
) -> Result<(DirectoryUserRecord, DirectoryUserView), Problem> {
    let record =
        directory::get_user(state.broker.store.as_ref(), tenant, &object_id(user)?).await?;
    let view = user_view(&record);
    Ok((record, view))
}

/// Reads a directory user (with its `ETag`).
#[utoipa::path(get, path = "/broker/tenants/{tenant}/users/{object_id}", tag = "directory",
    params(("tenant" = String, Path, description = "The broker tenant id"), ("object_id" = String, Path, description = "The user's object id")),
    responses(
        (status = 200, description = "The user", body = DirectoryUserView, headers(("ETag" = String, description = "The version, for `If-Match`"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_user(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, user)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    Ok(with_etag(load_user(&state, &id, &user).await?))
}

/// Disables or enables a user from the version the `If-Match` names (428 without, 412 if it changed since, also
/// between this read and the write).
async fn user_action(
    state: &ApiState,
    caller: &Caller,
    headers: &HeaderMap,
    (tenant, user): (&str, &str),
    action: &'static str,
) -> Result<Response, Problem> {
    let id = tenant_id(caller, tenant)?;
    let (read, before) = load_user_record(state, &id, user).await?;
    check_if_match(headers, &etag_of(&before))?;
    let oid = object_id(user)?;
    let store = state.broker.store.as_ref();
    if action == actions::BROKER_USER_DISABLE {
        directory::disable_user(store, &id, &oid, state.now(), Some(&read)).await?;
    } else {
        directory::enable_user(store, &id, &oid, Some(&read)).await?;
    }
    let after = load_user(state, &id, user).await?;
    record(
        state,
        caller,
        Change {
            action,
            target: format!("broker/{id}/users/{user}"),
            tenant: Some(id.to_string()),
            before: json(&before),
            after: json(&after),
        },
    )
    .await?;
    Ok(with_etag(after))
}

/// Disables a user: their broker sessions and refresh tokens end at once, and they cannot sign in until enabled.
#[utoipa::path(post, path = "/broker/tenants/{tenant}/users/{object_id}/disable", tag = "directory",
    params(("tenant" = String, Path, description = "The broker tenant id"), ("object_id" = String, Path, description = "The user's object id"),
           ("If-Match" = String, Header, description = "The `ETag` of the user as read")),
    responses(
        (status = 200, description = "The disabled user", body = DirectoryUserView, headers(("ETag" = String, description = "The new version"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The user changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn disable_user(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    user_action(
        &state,
        &caller,
        &headers,
        (&tenant, &user),
        actions::BROKER_USER_DISABLE,
    )
    .await
}

/// Enables a disabled user.
#[utoipa::path(post, path = "/broker/tenants/{tenant}/users/{object_id}/enable", tag = "directory",
    params(("tenant" = String, Path, description = "The broker tenant id"), ("object_id" = String, Path, description = "The user's object id"),
           ("If-Match" = String, Header, description = "The `ETag` of the user as read")),
    responses(
        (status = 200, description = "The enabled user", body = DirectoryUserView, headers(("ETag" = String, description = "The new version"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The user changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn enable_user(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    user_action(
        &state,
        &caller,
        &headers,
        (&tenant, &user),
        actions::BROKER_USER_ENABLE,
    )
    .await
}

/// Deletes a user with their identities, sessions and refresh tokens (`If-Match` required).
#[utoipa::path(delete, path = "/broker/tenants/{tenant}/users/{object_id}", tag = "directory",
    params(("tenant" = String, Path, description = "The broker tenant id"), ("object_id" = String, Path, description = "The user's object id"),
           ("If-Match" = String, Header, description = "The `ETag` of the version read")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The user changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_user(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let (read, before) = load_user_record(&state, &id, &user).await?;
    check_if_match(&headers, &etag_of(&before))?;
    directory::delete_user(
        state.broker.store.as_ref(),
        &id,
        &object_id(&user)?,
        Some(&read),
    )
    .await?;
    record(
        &state,
        &caller,
        Change {
            action: actions::BROKER_USER_DELETE,
            target: format!("broker/{id}/users/{user}"),
            tenant: Some(id.to_string()),
            before: json(&before),
            after: None,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
