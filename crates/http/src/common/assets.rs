//! The pages' script, style sheet and icon, compiled into the binary and served from memory.
//!
//! Pages link them with a content hash in the query (`?v=...`), so they can be cached for a year: a new build with a
//! changed file gets a new URL.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// Where the script is served.
pub const SCRIPT_PATH: &str = "/static/tessera.js";
/// Where the style sheet is served.
pub const STYLE_PATH: &str = "/static/tessera.css";

/// Where the icon is served (browsers ask for it there by themselves).
pub const FAVICON_PATH: &str = "/favicon.ico";

const SCRIPT: &str = include_str!("../../static/tessera.js");
const FAVICON: &[u8] = include_bytes!("../../static/favicon.ico");
const STYLE: &str = include_str!("../../static/tessera.css");

const CACHE_FOREVER: &str = "public, max-age=31536000, immutable";
/// The icon's URL carries no fingerprint, so it is cached for a day only.
const CACHE_A_DAY: &str = "public, max-age=86400";

/// FNV-1a, 64 bits: a content fingerprint for cache busting (not a security hash).
const fn fingerprint(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

const SCRIPT_HASH: u64 = fingerprint(SCRIPT.as_bytes());
const STYLE_HASH: u64 = fingerprint(STYLE.as_bytes());

/// The script's URL with its content fingerprint.
pub fn script_src() -> String {
    format!("{SCRIPT_PATH}?v={SCRIPT_HASH:016x}")
}

/// The style sheet's URL with its content fingerprint.
pub fn style_src() -> String {
    format!("{STYLE_PATH}?v={STYLE_HASH:016x}")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(CACHE_FOREVER),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /static/tessera.js`.
pub async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /favicon.ico`: a 16×16 icon, so browsers log no missing-icon error.
pub async fn favicon() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/x-icon"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(CACHE_A_DAY)),
        ],
        FAVICON,
    )
        .into_response()
}

/// `GET /static/tessera.css`.
pub async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

/// The shared assets' routes (every role's pages use them): the script, the style sheet and the icon.
pub fn router<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    use axum::routing::get;
    axum::Router::new()
        .route(FAVICON_PATH, get(favicon))
        .route(SCRIPT_PATH, get(script))
        .route(STYLE_PATH, get(style))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_urls_carry_a_content_fingerprint() {
        assert!(script_src().starts_with("/static/tessera.js?v="));
        assert_ne!(fingerprint(b"a"), fingerprint(b"b"));
    }

    #[test]
    fn script_uses_no_eval_or_inline_handlers() {
        for forbidden in ["eval(", "new Function", "innerHTML", "document.write"] {
            assert!(!SCRIPT.contains(forbidden), "{forbidden}");
        }
    }
}
