//! What every operation extracts: the authenticated [`Caller`] (its API token's role and tenants, and where the
//! request came from, for the audit trail), JSON bodies that name the invalid field ([`ApiJson`]), paging
//! parameters ([`PageQuery`]) and the `ETag`/`If-Match` rules ([`etag_of`], [`check_if_match`]).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, Method, header, request::Parts};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tessera_service::admin::api_tokens::{self, Principal, RequestContext};
use tessera_service::admin::scope::Side;
use utoipa::IntoParams;

use super::problem::Problem;
use super::state::ApiState;

/// The caller of an operation: the principal its bearer token names, and the request's id and client address.
/// Extracting it answers 401 (no, unknown, expired or revoked token) and 403 (a read-only token on anything but
/// `GET`).
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who is calling.
    pub principal: Principal,
    /// Where the request came from.
    pub context: RequestContext,
    /// Whose tenant the path names: the broker's (`/broker/tenants/{t}/...`), the authenticator service's
    /// (`/tenants/{t}/...`), or neither (`None`: tokens, the audit trail), so that a scope limited to one role's
    /// tenant (`broker:contoso`) finds the other role's tenant of that id unknown.
    pub side: Option<Side>,
}

/// The role whose tenants a path of the API names (the path under [`super::BASE`], or the whole path).
pub fn side_of_path(path: &str) -> Option<Side> {
    let path = path.strip_prefix(super::BASE).unwrap_or(path);
    if path.starts_with("/broker/tenants") {
        Some(Side::Broker)
    } else if path.starts_with("/tenants") {
        Some(Side::Authenticator)
    } else {
        None
    }
}

impl Caller {
    /// Whether the caller sees `tenant` of the role its path names.
    pub fn sees_tenant(&self, tenant: &str) -> bool {
        self.principal.sees_tenant(self.side, tenant)
    }

    /// 404 unless the caller may see `tenant` of the role its path names (another tenant's objects, or the other
    /// role's tenant of a role-qualified scope, do not exist for a tenant admin).
    pub fn require_tenant(&self, tenant: &str) -> Result<(), Problem> {
        if self.sees_tenant(tenant) {
            Ok(())
        } else {
            Err(Problem::not_found("the tenant"))
        }
    }

    /// 403 unless the caller is a global admin (creating and deleting tenants).
    pub fn require_global(&self) -> Result<(), Problem> {
        if self.principal.role == api_tokens::Role::GlobalAdmin {
            Ok(())
        } else {
            Err(Problem::forbidden("only a global admin token may do this"))
        }
    }
}

/// The request's id and client address, as the audit trail records them.
pub fn request_context(parts: &Parts, state: &ApiState) -> RequestContext {
    let request_id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let client_address = peer.map(|peer| {
        crate::common::security::client_ip(
            Some(peer),
            &parts.headers,
            &state.provider.security.trusted_proxies,
        )
        .to_string()
    });
    RequestContext {
        request_id,
        client_address,
    }
}

/// The bearer secret of an `Authorization` header (RFC 6750 §2.1; the scheme is case-insensitive).
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, Problem> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Problem::token_invalid());
    }
    let value = value.to_str().map_err(|_| Problem::token_invalid())?;
    match value.split_once(' ') {
        Some((scheme, secret)) if scheme.eq_ignore_ascii_case("bearer") => Ok(Some(secret.trim())),
        _ => Err(Problem::token_invalid()),
    }
}

impl<S> FromRequestParts<S> for Caller
where
    ApiState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let state = ApiState::from_ref(state);
        let Some(secret) = bearer(&parts.headers)? else {
            return Err(Problem::token_missing());
        };
        let principal =
            api_tokens::authenticate(&state.admin, secret, state.provider.clock.now()).await?;
        if !principal.can_write() && !matches!(parts.method, Method::GET | Method::HEAD) {
            return Err(Problem::forbidden("this API token is read-only"));
        }
        let context = request_context(parts, &state);
        // A nested router sees the path without the API's prefix: either is understood.
        let side = side_of_path(parts.uri.path());
        Ok(Self {
            principal,
            context,
            side,
        })
    }
}

/// A JSON request body. A body that is not JSON is a 400; a value of the wrong shape a 422 naming the field (its
/// JSON path).
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json")
                    || v.eq_ignore_ascii_case("application/merge-patch+json")
            });
        if !json {
            return Err(Problem::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "JSON expected",
                "send the body as `Content-Type: application/json`",
            ));
        }
        // A body over the limit is 413, as the limit's own answer; another failure to read it 400.
        let bytes = bytes::Bytes::from_request(request, state)
            .await
            .map_err(|e| Problem::from_framework(e.status(), &e.body_text()))?;
        parse_json(&bytes).map(Self)
    }
}

/// Decodes a JSON body, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => Ok(value),
        Err(error) => {
            let inner = error.inner();
            if !inner.is_data() {
                return Err(Problem::malformed(format!("the body is not JSON: {inner}")));
            }
            let mut field = error.path().to_string();
            let message = inner.to_string();
            // "missing field `x`" points at the object that lacks it.
            if let Some(missing) = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next())
            {
                field = if field == "." {
                    missing.to_owned()
                } else {
                    format!("{field}.{missing}")
                };
            }
            let detail = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            Err(Problem::invalid_field(
                if field == "." { "body" } else { &field },
                detail,
            ))
        }
    }
}

/// `?limit=&cursor=` of every list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many items (1 to 200, default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The largest page.
pub const MAX_LIMIT: u32 = 200;

impl PageQuery {
    /// The page size, checked.
    pub fn limit(&self) -> Result<u32, Problem> {
        match self.limit {
            None => Ok(50),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(Problem::invalid_field("limit", "between 1 and 200")),
        }
    }

    /// The key the page starts after, decoded from the cursor.
    pub fn after(&self) -> Result<Option<String>, Problem> {
        self.cursor
            .as_deref()
            .map(|c| {
                B64.decode(c)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| Problem::invalid_field("cursor", "not a cursor of this API"))
            })
            .transpose()
    }
}

/// The opaque cursor for a key.
pub fn cursor_of(key: &str) -> String {
    B64.encode(key.as_bytes())
}

/// One page of `items` (already filtered), ordered by `key`, after the query's cursor.
pub fn page<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> String,
    query: &PageQuery,
) -> Result<(Vec<T>, Option<String>), Problem> {
    let limit = query.limit()? as usize;
    let after = query.after()?;
    items.sort_by_key(|item| key(item));
    let mut items: Vec<T> = match after {
        Some(after) => items.into_iter().filter(|i| key(i) > after).collect(),
        None => items,
    };
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| cursor_of(&key(last)))
    } else {
        None
    };
    Ok((items, next))
}

/// The strong entity tag of a resource's representation: a digest of its JSON.
pub fn etag_of<T: Serialize>(view: &T) -> String {
    let bytes = serde_json::to_vec(view).unwrap_or_default();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    format!("\"{}\"", B64.encode(&digest.as_ref()[..18]))
}

/// RFC 9110 §13.1.1 and RFC 6585 §3: a change needs `If-Match` (428 without) naming the current version (412
/// otherwise); `*` matches any existing version.
pub fn check_if_match(headers: &HeaderMap, current: &str) -> Result<(), Problem> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Err(Problem::precondition_required());
    };
    let value = value.to_str().map_err(|_| Problem::precondition_failed())?;
    let matches = value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == current);
    if matches {
        Ok(())
    } else {
        Err(Problem::precondition_failed())
    }
}

/// A response with its `ETag`.
pub fn with_etag<T: Serialize>(view: T) -> axum::response::Response {
    use axum::response::IntoResponse;
    let tag = etag_of(&view);
    let mut response = axum::Json(view).into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(&tag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}
