//! API tokens (`/api-tokens`) and the first start's bootstrap exchange (`/bootstrap`). A token's secret is in the
//! answer of its creation only; lists and reads show its public fields.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use tessera_service::admin::api_tokens::{self, NewToken, Role};
use tessera_store::ApiTokenRecord;
use utoipa::ToSchema;

use super::extract::{ApiJson, Caller, PageQuery, page, request_context};
use super::filters::TokenQuery;
use super::problem::Problem;
use super::state::ApiState;
use super::views::{page_of, rfc3339};
use tessera_service::admin::list_filters::TokenFilter;

/// An API token as shown after its creation: never its secret or hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiTokenView {
    /// Its public id (`tok_...`).
    pub id: String,
    /// The name its creator gave it.
    pub name: String,
    /// `global_admin`, `tenant_admin` or `read_only`.
    pub role: String,
    /// The tenants it is limited to (empty: every tenant).
    pub tenants: Vec<String>,
    /// Who created it (`token:tok_...` or `bootstrap`).
    pub created_by: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it stops working.
    pub expires_at: String,
    /// When it was revoked.
    pub revoked_at: Option<String>,
    /// When it last authenticated a request (to the minute).
    pub last_used_at: Option<String>,
}

impl From<&ApiTokenRecord> for ApiTokenView {
    fn from(t: &ApiTokenRecord) -> Self {
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            role: t.role.clone(),
            tenants: t.tenants.clone(),
            created_by: t.created_by.clone(),
            created_at: rfc3339(t.created_at),
            expires_at: rfc3339(t.expires_at),
            revoked_at: t.revoked_at.map(rfc3339),
            last_used_at: t.last_used_at.map(rfc3339),
        }
    }
}

page_of!(ApiTokenPage, ApiTokenView, "API tokens");

/// A token just created: its secret, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IssuedApiToken {
    /// The token.
    pub token: ApiTokenView,
    /// The bearer secret (`tsr_...`): send it as `Authorization: Bearer ...`. It is not stored and cannot be shown
    /// again.
    pub secret: String,
}

/// The role of a new token.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleName {
    /// Everything on every tenant.
    GlobalAdmin,
    /// Everything on its tenants; other tenants do not exist for it.
    TenantAdmin,
    /// `GET` only (on its tenants, or every tenant without any).
    ReadOnly,
}

impl From<RoleName> for Role {
    fn from(role: RoleName) -> Self {
        match role {
            RoleName::GlobalAdmin => Role::GlobalAdmin,
            RoleName::TenantAdmin => Role::TenantAdmin,
            RoleName::ReadOnly => Role::ReadOnly,
        }
    }
}

/// A new API token.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiToken {
    /// A name for people (1 to 100 characters).
    pub name: String,
    /// Its role.
    pub role: RoleName,
    /// The tenants it is limited to (required for `tenant_admin`, empty for `global_admin`): `broker:T` (only the
    /// broker's tenant T), `authenticator:T` (only the authenticator service's) or `T` (both roles' tenants T).
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Days until it expires (1 to 366, default 90).
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// The bootstrap exchange.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BootstrapRequest {
    /// The one-time bootstrap secret (`tsb_...`) printed at the first start.
    pub bootstrap_token: String,
    /// A name for the first token (default `first admin`).
    #[serde(default)]
    pub name: Option<String>,
}

fn issued(issued: api_tokens::IssuedToken) -> impl IntoResponse {
    (
        StatusCode::CREATED,
        Json(IssuedApiToken {
            token: ApiTokenView::from(&issued.record),
            secret: issued.secret,
        }),
    )
}

/// Exchanges the bootstrap secret for the first global-admin token (once).
#[utoipa::path(post, path = "/bootstrap", tag = "api-tokens",
    request_body = BootstrapRequest,
    responses(
        (status = 201, description = "The first global-admin token; its secret is shown only here", body = IssuedApiToken),
        (status = 401, description = "The bootstrap secret is unknown, used, replaced or expired", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn bootstrap(
    State(state): State<ApiState>,
    parts: axum::http::request::Parts,
    ApiJson(body): ApiJson<BootstrapRequest>,
) -> Result<impl IntoResponse, Problem> {
    let context = request_context(&parts, &state);
    let name = body.name.as_deref().unwrap_or("first admin");
    let token = api_tokens::redeem_bootstrap(
        &state.admin,
        &body.bootstrap_token,
        name,
        &context,
        state.now(),
    )
    .await?;
    Ok(issued(token))
}

/// Creates an API token (it never grants more than the caller's own).
#[utoipa::path(post, path = "/api-tokens", tag = "api-tokens",
    request_body = NewApiToken,
    responses(
        (status = 201, description = "The token; its secret is shown only here", body = IssuedApiToken),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewApiToken>,
) -> Result<impl IntoResponse, Problem> {
    let days = body.expires_in_days.unwrap_or(90);
    if !(1..=366).contains(&days) {
        return Err(Problem::invalid_field(
            "expires_in_days",
            "between 1 and 366",
        ));
    }
    let spec = NewToken {
        name: body.name,
        role: body.role.into(),
        tenants: body.tenants,
        lifetime: time::Duration::days(i64::from(days)),
    };
    let token = api_tokens::issue(
        &state.admin,
        &caller.principal,
        &spec,
        &caller.context,
        state.now(),
    )
    .await?;
    Ok(issued(token))
}

/// Whether `caller` may see `token`: a global admin sees every token, others the ones they made and their own.
fn visible(caller: &Caller, token: &ApiTokenRecord) -> bool {
    caller.principal.role == Role::GlobalAdmin
        || token.created_by == caller.principal.actor()
        || token.id == caller.principal.token_id
}

/// Lists API tokens (without secrets), oldest id first.
#[utoipa::path(get, path = "/api-tokens", tag = "api-tokens",
    params(TokenQuery, PageQuery),
    responses(
        (status = 200, description = "A page of tokens", body = ApiTokenPage),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    Query(filter): Query<TokenQuery>,
    Query(query): Query<PageQuery>,
) -> Result<Json<ApiTokenPage>, Problem> {
    let filter = TokenFilter::parse(filter.q.as_deref(), filter.role.as_deref())?;
    let tokens: Vec<ApiTokenView> = state
        .admin
        .list_api_tokens()
        .await?
        .iter()
        .filter(|t| visible(&caller, t) && filter.matches(t))
        .map(ApiTokenView::from)
        .collect();
    let (items, next_cursor) = page(tokens, |t| t.id.clone(), &query)?;
    Ok(Json(ApiTokenPage { items, next_cursor }))
}

/// Reads an API token (without its secret).
#[utoipa::path(get, path = "/api-tokens/{id}", tag = "api-tokens",
    params(("id" = String, Path, description = "The token's id (`tok_...`)")),
    responses(
        (status = 200, description = "The token", body = ApiTokenView),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ApiTokenView>, Problem> {
    match state.admin.get_api_token(&id).await? {
        Some(token) if visible(&caller, &token) => Ok(Json(ApiTokenView::from(&token))),
        _ => Err(Problem::not_found("the API token")),
    }
}

/// Revokes an API token: it stops working at once.
#[utoipa::path(delete, path = "/api-tokens/{id}", tag = "api-tokens",
    params(("id" = String, Path, description = "The token's id (`tok_...`)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    match state.admin.get_api_token(&id).await? {
        Some(token) if visible(&caller, &token) => {}
        _ => return Err(Problem::not_found("the API token")),
    }
    api_tokens::revoke(
        &state.admin,
        &caller.principal,
        &id,
        &caller.context,
        state.now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
