//! Tenants on their own address, routed by `Host`.
//!
//! A tenant whose settings name a `public_url` (`https://login.contoso.com`, or `http://contoso.localhost:8080` on a
//! developer's machine) is served there at paths without the tenant segment: `/oidc/...`, `/login`, `/account`, and
//! `/` opens its account page. Its issuer is `{public_url}/oidc`, and its passkeys belong to its own RP ID, so the
//! browser never offers them on another tenant's pages. Such a tenant is not served under the service's address:
//! a `GET` there is sent to its own address (308), anything else is answered 404, so it has exactly one issuer.
//!
//! The routing happens before the router sees the request ([`route_by_host`] rewrites `/login` on the tenant's
//! host to `/{tenant}/login`); the map of addresses lives in memory ([`TenantHosts`]) and is refreshed from the
//! store at start, by the maintenance task, and when the tenant is changed through this process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tessera_core::TenantId;
use tessera_store::Tenant;

/// Paths every address serves as they are (the pages' script, style sheet and icon, and the health checks).
const SHARED_PREFIXES: [&str; 4] = ["/static/", "/favicon.ico", "/healthz", "/readyz"];

/// Which tenants have an address of their own: by authority (`host[:port]`, lowercase, no default port) and by
/// tenant.
#[derive(Default)]
pub struct TenantHosts {
    any: AtomicBool,
    map: RwLock<Arc<HostMap>>,
}

#[derive(Default)]
struct HostMap {
    by_authority: HashMap<String, TenantId>,
    by_tenant: HashMap<TenantId, String>,
}

impl TenantHosts {
    /// Replaces the map with the addresses `tenants` name (tenants with unreadable settings keep none).
    pub fn replace<'a>(&self, tenants: impl IntoIterator<Item = &'a Tenant>) {
        let mut map = HostMap::default();
        for tenant in tenants {
            let Some(url) = tessera_service::tenants::tenant_settings(tenant)
                .ok()
                .and_then(|s| s.public_url)
            else {
                continue;
            };
            let Some(authority) = origin_authority(&url) else {
                continue;
            };
            map.by_authority.insert(authority, tenant.id.clone());
            map.by_tenant.insert(tenant.id.clone(), url);
        }
        self.any.store(!map.by_tenant.is_empty(), Ordering::Release);
        *self.map.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(map);
    }

    /// Reloads the map from the store; on a store failure the map in force stays.
    pub async fn refresh(
        &self,
        store: &dyn tessera_store::Store,
    ) -> Result<(), tessera_store::StoreError> {
        let tenants = store.list_tenants().await?;
        self.replace(&tenants);
        Ok(())
    }

    /// The tenant's own address, if it has one.
    pub fn address_of(&self, tenant: &TenantId) -> Option<String> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        self.current().by_tenant.get(tenant).cloned()
    }

    fn current(&self) -> Arc<HostMap> {
        self.map.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The authority (`host[:port]`, lowercase, default port dropped) of an origin such as `https://id.example.com`.
pub(crate) fn origin_authority(origin: &str) -> Option<String> {
    let (scheme, rest) = origin.split_once("://")?;
    let authority = rest.split('/').next()?.to_ascii_lowercase();
    Some(strip_default_port(scheme, &authority))
}

/// `authority` without the default port of `scheme` (`:443` for https, `:80` for http).
pub(crate) fn strip_default_port(scheme: &str, authority: &str) -> String {
    let default = match scheme {
        "https" => ":443",
        "http" => ":80",
        _ => "",
    };
    match authority.strip_suffix(default) {
        Some(bare) if !default.is_empty() => bare.to_owned(),
        _ => authority.to_owned(),
    }
}

/// The authority a request names in `Host` (or its URI), lowercase, without `:80`/`:443`.
fn request_authority(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let raw = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))?;
    let raw = raw.to_ascii_lowercase();
    let bare = raw
        .strip_suffix(":443")
        .or_else(|| raw.strip_suffix(":80"))
        .unwrap_or(&raw);
    Some(bare.to_owned())
}

/// Routes a request by its `Host`: on a tenant's own address, paths gain the tenant segment; under the service's
/// address, a tenant that has its own is not served (see the module documentation).
pub async fn route_by_host(
    State(hosts): State<Arc<TenantHosts>>,
    mut request: Request<Body>,
    next: axum::middleware::Next,
) -> Response {
    if !hosts.any.load(Ordering::Acquire) {
        return next.run(request).await;
    }
    let map = hosts.current();
    let path = request.uri().path();
    if SHARED_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return next.run(request).await;
    }
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let own = request_authority(request.headers(), request.uri())
        .and_then(|authority| map.by_authority.get(&authority).cloned());
    match own {
        Some(tenant) => {
            if first != tenant.as_str() {
                let rewritten = if path == "/" {
                    format!("/{tenant}/account")
                } else {
                    format!("/{tenant}{path}")
                };
                let with_query = match request.uri().query() {
                    Some(query) => format!("{rewritten}?{query}"),
                    None => rewritten,
                };
                match with_query.parse::<Uri>() {
                    Ok(uri) => *request.uri_mut() = uri,
                    Err(_) => return StatusCode::BAD_REQUEST.into_response(),
                }
            }
            next.run(request).await
        }
        None => {
            let owner = TenantId::parse(first)
                .ok()
                .and_then(|id| map.by_tenant.get(&id).cloned());
            match owner {
                Some(address) => elsewhere(&request, first, &address),
                None => next.run(request).await,
            }
        }
    }
}

/// The answer for a tenant asked for under the service's address while it has its own: pages and other `GET`s
/// move there (308), other requests are not found here. (Answered before the router, so outside the security
/// layers: the few headers such an answer needs are set here.)
fn elsewhere(request: &Request<Body>, tenant: &str, address: &str) -> Response {
    let mut response = elsewhere_answer(request, tenant, address);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

fn elsewhere_answer(request: &Request<Body>, tenant: &str, address: &str) -> Response {
    let uri = request.uri();
    let rest = uri.path()[1 + tenant.len()..].to_owned();
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        let target = match uri.query() {
            Some(query) => format!("{address}{rest}?{query}"),
            None => format!("{address}{rest}"),
        };
        return (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, target)]).into_response();
    }
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("This tenant is served at {address}\n"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_drop_default_ports_and_case() {
        assert_eq!(
            origin_authority("https://Login.Contoso.com").as_deref(),
            Some("login.contoso.com")
        );
        assert_eq!(
            origin_authority("http://a.localhost:8080").as_deref(),
            Some("a.localhost:8080")
        );
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "LOGIN.contoso.com:443".parse().unwrap());
        assert_eq!(
            request_authority(&headers, &Uri::from_static("/x")).as_deref(),
            Some("login.contoso.com")
        );
    }
}
