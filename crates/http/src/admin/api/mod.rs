//! The admin REST API at `/admin/api/v1`: JSON resources for both roles, authenticated by API tokens, documented by
//! the OpenAPI 3.1 document at `/admin/api/v1/openapi.json` that is generated from these handlers (utoipa): the
//! router and the document come from the same `routes!` list, so neither can name an operation the other lacks.
//!
//! - [`extract`]: the authenticated [`Caller`](extract::Caller) (401/403), JSON bodies naming the invalid field,
//!   cursor paging, `ETag`/`If-Match` (412/428).
//! - [`filters`]: the lists' filter parameters (422 naming the parameter for a value it does not take).
//! - [`problem`]: errors as `application/problem+json` (RFC 9457), also the framework's own rejections.
//! - [`responses`]: the errors each operation can answer, added to the document by rule; unique operation ids.
//! - [`state`]: [`ApiState`](state::ApiState), taken from the application state with `FromRef`.
//! - [`tokens`]: API tokens and the bootstrap exchange; [`audit`]: the audit trail; [`admins`]: invitations of
//!   administrators.
//! - [`tenants`]: authenticator-service tenants, their policy (read, change), the FIDO metadata, signing keys,
//!   clients (with a new secret), users' passkeys.
//! - [`broker`]: broker tenants, applications, identity providers (with "test connection"), user flows and their
//!   versions, directory users.

pub mod admins;
pub mod audit;
pub mod broker;
pub mod extract;
pub mod filters;
pub mod problem;
pub mod responses;
pub mod state;
pub mod tenants;
pub mod tokens;
pub mod views;

use std::sync::{Arc, OnceLock};

use axum::extract::{Extension, OriginalUri, State};
use axum::response::IntoResponse;
use tower::ServiceExt;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::common::state::AppState;
use problem::Problem;

/// Where the API is mounted.
pub const BASE: &str = "/admin/api/v1";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera admin API",
        version = "1",
        description = "Configure Tessera's authenticator service and identity broker: tenants, clients, passkeys, \
                       applications, identity providers, user flows, directory users, signing keys, API tokens and \
                       the audit trail. Authenticate with `Authorization: Bearer tsr_...`. Lists are cursor-paged \
                       (`limit`, `cursor` → `{items, next_cursor}`). Changes of mutable objects need the `ETag` of \
                       the version read as `If-Match` (412 when it changed, 428 without). Errors are \
                       `application/problem+json` (RFC 9457) with `errors: [{field, detail}]`.",
        license(name = "Apache-2.0"),
    ),
    modifiers(&BearerScheme),
    components(schemas(Problem, problem::FieldError)),
    tags(
        (name = "api-tokens", description = "API tokens and the first start's bootstrap exchange"),
        (name = "audit", description = "The audit trail"),
        (name = "administrators", description = "Invitations of portal administrators"),
        (name = "tenants", description = "Authenticator-service tenants, policy, FIDO metadata and signing keys"),
        (name = "clients", description = "Authenticator-service OAuth clients"),
        (name = "users", description = "Authenticator-service users and their passkeys"),
        (name = "broker", description = "Broker tenants"),
        (name = "applications", description = "Broker applications"),
        (name = "identity-providers", description = "Broker identity providers"),
        (name = "user-flows", description = "Broker user flows and their versions"),
        (name = "directory", description = "Broker directory users"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tsr_... API token")
                    .description(Some(
                        "An API token (`tsr_...`) from `POST /bootstrap` or `POST /api-tokens`",
                    ))
                    .build(),
            ),
        );
    }
}

/// The generated OpenAPI document, serialised once when the router is built (the document's tree is not kept).
#[derive(Clone)]
pub struct Document(pub axum::body::Bytes);

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi(Extension(document): Extension<Document>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        document.0,
    )
}

/// Every documented operation, at its path under [`BASE`], with the document.
pub fn api() -> OpenApiRouter<AppState> {
    let inner = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(openapi))
        .routes(routes!(tokens::bootstrap))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::get, tokens::revoke))
        .routes(routes!(audit::list))
        .routes(routes!(admins::list_invitations, admins::create_invitation))
        .routes(routes!(admins::withdraw_invitation));
    let inner = tenants::routes(inner);
    let inner = broker::routes(inner);
    let mut api = OpenApiRouter::new().nest(BASE, inner);
    // A new router's document carries the generating library's own `info`: this API's goes in its place.
    api.get_openapi_mut().info = ApiDoc::openapi().info;
    responses::complete(api.get_openapi_mut());
    api
}

/// The API's router, built on its first request: an idle server holds neither the routes nor the document (their
/// construction is most of what the admin role allocates at start-up, 6 MiB, kept by the allocator afterwards).
/// [`router_now`] is what it builds. Mounted with `nest`, whose own path parameter axum leaves out of the ones the
/// documented routes extract; the request goes on at its original path.
pub fn router() -> axum::Router<AppState> {
    let built: Arc<OnceLock<axum::Router>> = Arc::default();
    let lazy = axum::Router::new().fallback(
        move |State(state): State<AppState>,
              OriginalUri(uri): OriginalUri,
              mut request: axum::extract::Request| {
            let built = Arc::clone(&built);
            async move {
                *request.uri_mut() = uri;
                let router = built.get_or_init(|| router_now().with_state(state)).clone();
                match router.oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            }
        },
    );
    axum::Router::new().nest(BASE, lazy)
}

/// The API's router (the document served at `openapi.json`); unknown paths under it answer a problem+json 404.
fn router_now() -> axum::Router<AppState> {
    let (router, document) = api().split_for_parts();
    let json = serde_json::to_vec(&document).unwrap_or_else(|e| {
        tracing::error!(error = %e, "the OpenAPI document could not be serialised");
        b"{}".to_vec()
    });
    let document = Document(json.into());
    router
        .route(
            &format!("{BASE}/{{*rest}}"),
            axum::routing::any(|| async { Problem::not_found("this operation") }),
        )
        .layer(Extension(document))
}

/// The OpenAPI document (for tests and tools), as served.
pub fn document() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}
