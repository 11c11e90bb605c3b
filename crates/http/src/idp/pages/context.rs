//! What every page handler needs first: the tenant and its policy, the origins a request may come from, and the
//! pending authorization request (the `authz` ceremony the authorization endpoint stored) that sign-in resumes.

use axum::http::HeaderMap;
use tessera_core::TenantId;
use tessera_store::Tenant;
use tessera_webauthn::AuthenticatorPolicy;

use crate::error::AppError;
use crate::state::ProviderState;

/// The ceremony kind under which the authorization endpoint stores a pending request.
pub const AUTHZ_KIND: &str = tessera_service::provider::authorize::AUTHZ_CEREMONY;

pub use tessera_service::provider::authorize::PendingAuthorization;

/// The longest pending-authorization id accepted in a URL.
const MAX_AUTHZ_LEN: usize = 128;

/// A tenant as the pages see it.
#[derive(Debug, Clone)]
pub struct PageTenant {
    /// The tenant record.
    pub tenant: Tenant,
}

impl PageTenant {
    /// The tenant id.
    pub fn id(&self) -> &TenantId {
        &self.tenant.id
    }

    /// The tenant's base path, `/{tenant}`.
    pub fn base(&self) -> String {
        format!("/{}", self.tenant.id)
    }

    /// The tenant's authenticator policy. A stored policy that does not parse fails closed.
    pub fn policy(&self) -> Result<AuthenticatorPolicy, AppError> {
        Ok(tessera_service::tenants::tenant_policy(&self.tenant)?)
    }

    /// Checks the CSRF rules of a state-changing request against this tenant's origins.
    pub fn verify_csrf(
        &self,
        state: &ProviderState,
        headers: &HeaderMap,
        submitted: Option<&str>,
    ) -> Result<crate::csrf::CsrfToken, AppError> {
        crate::csrf::verify(
            headers,
            self.id(),
            submitted,
            &self.tenant.origins,
            &state.public_url.origin(),
        )
    }
}

/// The page shown when a page of `tenant` is opened at an address that is not one of its allowed origins (for
/// example `http://127.0.0.1:8080` for a tenant of `http://localhost:8080`): the browser would refuse its passkeys
/// there, so the page says where to open it instead of failing later. `None` when the address is allowed, or when
/// the request names no host (then the passkey checks alone decide).
pub fn wrong_address(
    state: &ProviderState,
    tenant: &PageTenant,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Option<crate::common::reply::PageError> {
    let requested = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))?;
    let service = state.public_url.origin();
    let scheme = if service.starts_with("http://") {
        "http"
    } else {
        "https"
    };
    let requested =
        crate::common::hosts::strip_default_port(scheme, &requested.to_ascii_lowercase());
    let allowed = |origin: &String| {
        crate::common::hosts::origin_authority(origin).as_deref() == Some(requested.as_str())
    };
    if tenant.tenant.origins.iter().any(allowed) {
        return None;
    }
    // The service's own origin when the tenant allows it, else the tenant's first origin.
    let right = if tenant.tenant.origins.contains(&service) {
        service
    } else {
        tenant.tenant.origins.first()?.clone()
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let target = format!("{right}{path}");
    Some(
        crate::common::reply::PageError::new(
            axum::http::StatusCode::MISDIRECTED_REQUEST,
            &format!("Open this page at {right}"),
            &format!(
                "This page was opened at {scheme}://{requested}, where your browser will not use the passkeys of \
                 {name} (they belong to {right}). Open it at {target} instead.",
                name = tenant.tenant.display_name,
            ),
        )
        .for_tenant(&tenant.tenant.display_name, tenant.base())
        .with_link(target, &format!("Open it at {right}")),
    )
}

/// Loads the tenant named in the path: from the OIDC cache when it is there, else from the store.
/// A malformed or unknown tenant is [`AppError::UnknownTenant`]; a store failure stays a store failure.
pub async fn tenant(state: &ProviderState, raw: &str) -> Result<PageTenant, AppError> {
    let id = TenantId::parse(raw).map_err(|_| AppError::UnknownTenant)?;
    if let Some(entry) = state.tenants.cached(&id, state.security.tenant_cache_ttl) {
        return Ok(PageTenant {
            tenant: entry.tenant.clone(),
        });
    }
    let tenant = state
        .store
        .get_tenant(&id)
        .await?
        .ok_or(AppError::UnknownTenant)?;
    Ok(PageTenant { tenant })
}

/// A pending authorization id as it may appear in URLs: base64url-ish characters only, bounded length.
pub fn authz_id(raw: Option<&str>) -> Result<Option<String>, AppError> {
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let plausible = raw.len() <= MAX_AUTHZ_LEN
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
    if plausible {
        Ok(Some(raw.to_owned()))
    } else {
        Err(AppError::BadRequest(
            "The address of this page is damaged. Go back to the application and start again."
                .into(),
        ))
    }
}

/// The pending authorization `id` (stored by the authorization endpoint), if it is still live. It is read, not
/// consumed: the resume endpoint consumes it.
pub async fn pending_authorization(
    state: &ProviderState,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<PendingAuthorization>, AppError> {
    Ok(tessera_service::provider::authorize::pending_authorization(
        state.store.as_ref(),
        tenant,
        id,
        state.clock.now(),
    )
    .await?)
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Where the authorization endpoint takes a signed-in user back: `/{tenant}/oidc/authorize/resume?authz=...`.
pub fn resume_url(tenant: &TenantId, authz: &str) -> String {
    format!("/{tenant}/oidc/authorize/resume?authz={}", encode(authz))
}

/// Where a cancelled sign-in goes: the resume endpoint with `error=access_denied`, which answers the client.
pub fn cancel_url(tenant: &TenantId, authz: &str) -> String {
    format!("{}&error=access_denied", resume_url(tenant, authz))
}

/// Where to go after a successful sign-in or sign-up: back to the client when an authorization is pending, else to
/// the account page.
pub fn next_after_sign_in(tenant: &TenantId, authz: Option<&str>) -> String {
    match authz {
        Some(id) => resume_url(tenant, id),
        None => format!("/{tenant}/account"),
    }
}

/// A page path with an optional `authz` query.
pub fn page_url(tenant: &TenantId, page: &str, authz: Option<&str>) -> String {
    match authz {
        Some(id) => format!("/{tenant}/{page}?authz={}", encode(id)),
        None => format!("/{tenant}/{page}"),
    }
}

/// The first value of `name` in a raw query string.
pub fn query_param(raw: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, v)| v.into_owned())
}

/// Parses a JSON request body of the script.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(body).map_err(|e| {
        tracing::debug!(error = %e, "unreadable JSON body");
        AppError::BadRequest("The request could not be read. Reload the page and try again.".into())
    })
}

/// A successful JSON answer, `no-store`, with an optional `Set-Cookie`.
pub fn json_reply(
    value: &impl serde::Serialize,
    set_cookie: Option<axum::http::HeaderValue>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = axum::Json(value).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    if let Some(cookie) = set_cookie {
        headers.append(axum::http::header::SET_COOKIE, cookie);
    }
    response
}

/// A `303 See Other` to `location` (RFC 9700 §4.12: never 307 after a POST), with optional `Set-Cookie` values.
pub fn see_other(
    location: &str,
    set_cookies: &[axum::http::HeaderValue],
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = axum::http::StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = axum::http::HeaderValue::from_str(location) {
        headers.insert(axum::http::header::LOCATION, value);
    }
    headers.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    for cookie in set_cookies {
        headers.append(axum::http::header::SET_COOKIE, cookie.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authz_id_refuses_url_breaking_characters() {
        assert!(authz_id(Some("abc&error=x")).is_err());
        assert!(authz_id(Some("a/b")).is_err());
        assert!(authz_id(Some(&"a".repeat(129))).is_err());
        assert_eq!(
            authz_id(Some("abc_-1")).ok().flatten(),
            Some("abc_-1".into())
        );
        assert_eq!(authz_id(Some("")).ok().flatten(), None);
    }

    #[test]
    fn resume_and_cancel_urls_are_relative_to_the_tenant() {
        let tenant = TenantId::parse("mytenant").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            resume_url(&tenant, "abc"),
            "/mytenant/oidc/authorize/resume?authz=abc"
        );
        assert_eq!(
            cancel_url(&tenant, "abc"),
            "/mytenant/oidc/authorize/resume?authz=abc&error=access_denied"
        );
        assert_eq!(next_after_sign_in(&tenant, None), "/mytenant/account");
    }
}
