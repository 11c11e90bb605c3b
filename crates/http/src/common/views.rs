//! The shared page layout, the error page template (askama: checked at compile time, HTML auto-escaped), and
//! rendering. Each role's pages add their own templates on this layout.
//!
//! Pages carry no inline script or style, so the strict CSP holds; every field and button has a stable `id` and a
//! label for the browser tests and for assistive technology.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// What every page shares: title, tenant, CSRF token, page kind and the pending authorization.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The page title.
    pub title: String,
    /// The tenant's display name.
    pub tenant_name: String,
    /// The tenant's base path, `/{tenant}` (the script's JSON calls are relative to it).
    pub base: String,
    /// The CSRF token, in a `<meta>` for the script and in hidden form fields.
    pub csrf: String,
    /// `login`, `signup`, `account` or `error`: tells the script what to wire.
    pub page: &'static str,
    /// The pending authorization id, or empty.
    pub authz: String,
    /// The script URL.
    pub script_src: String,
    /// The style sheet URL.
    pub style_src: String,
}

impl Layout {
    /// A layout for `page` of a tenant; `csrf` is the browser's CSRF token text, when the page has forms.
    pub fn new(
        title: &str,
        tenant_name: &str,
        base: String,
        csrf: Option<&str>,
        page: &'static str,
        authz: Option<&str>,
    ) -> Self {
        Self {
            title: title.to_owned(),
            tenant_name: tenant_name.to_owned(),
            base,
            csrf: csrf.unwrap_or_default().to_owned(),
            page,
            authz: authz.unwrap_or_default().to_owned(),
            script_src: crate::common::assets::script_src(),
            style_src: crate::common::assets::style_src(),
        }
    }
}

/// A human error page.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// Shared layout.
    pub layout: Layout,
    /// The heading.
    pub heading: String,
    /// What happened and what to do, in plain words.
    pub message: String,
    /// Where to go from here.
    pub back_href: Option<String>,
    /// The label of that link.
    pub back_label: String,
}

/// Renders a page with `status`, `Cache-Control: no-store`, and an optional `Set-Cookie`.
pub fn render(
    template: &impl Template,
    status: StatusCode,
    set_cookie: Option<HeaderValue>,
) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = (status, html).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if let Some(cookie) = set_cookie {
                headers.append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(error) => {
            tracing::error!(%error, "template rendering failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "Something went wrong on our side.",
            )
        }
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A minimal, self-contained HTML error page (no external resources).
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>{title}</title><link rel=\"stylesheet\" href=\"/static/tessera.css\"></head><body><main><h1>{title}</h1>\
         <p>{message}</p></main></body></html>",
        title = html_escape(title),
        message = html_escape(message),
    );
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}
