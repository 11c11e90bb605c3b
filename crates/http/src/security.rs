//! Security layers: response headers (CSP, framing, referrer, sniffing), request body limit, request ids, and a
//! per-client-address rate limiter for challenge routes and the token endpoint.
//!
//! The client address is the peer address, or — only when the peer is a configured trusted proxy (RFC 9700 §4.13) —
//! the right-most `X-Forwarded-For` entry that is not itself a trusted proxy.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};
use governor::middleware::NoOpMiddleware;
use ipnet::IpNet;
use tower_governor::GovernorLayer;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::KeyExtractor;
use tower_http::limit::RequestBodyLimitLayer;

use crate::state::{AppState, RateRule};

/// The default Content-Security-Policy of every page (a handler may send its own, e.g. the form_post page).
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The default CSP with `form-action` widened to `'self'` plus the given origins (each must be an origin the server
/// chose, e.g. a client's registered redirect URI origin).
pub fn csp_with_form_action(extra: &[&str]) -> String {
    let mut targets = String::from("'self'");
    for origin in extra {
        if origin
            .chars()
            .all(|c| c.is_ascii_graphic() && c != ';' && c != ',')
        {
            targets.push(' ');
            targets.push_str(origin);
        }
    }
    CSP.replace("form-action 'self'", &format!("form-action {targets}"))
}

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Applies the security headers, body limit and request ids to a router.
pub fn apply(router: Router, state: &AppState) -> Router {
    router
        .layer(RequestBodyLimitLayer::new(state.security.body_limit))
        .layer(axum::middleware::from_fn(secure_and_trace))
}

/// One middleware for what every response needs: a fresh request id (never the client's, which could forge log
/// lines), a tracing span carrying it, and the security headers.
async fn secure_and_trace(
    mut request: Request<Body>,
    next: axum::middleware::Next,
) -> Response<Body> {
    use tracing::Instrument;
    let id = request_id();
    request
        .headers_mut()
        .insert(X_REQUEST_ID.clone(), id.clone());
    // Only the path is logged: query strings carry codes, states and hints.
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or("-"),
        method = %request.method(),
        path = %request.uri().path()
    );
    let mut response = next.run(request).instrument(span).await;
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(X_REQUEST_ID.clone(), id);
    response
}

/// 16 random hex characters (a counter if the random generator fails, which only makes ids guessable).
fn request_id() -> HeaderValue {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bytes = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        bytes = COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes();
    }
    let mut text = [0u8; 16];
    for (i, b) in bytes.iter().enumerate() {
        text[2 * i] = HEX[usize::from(b >> 4)];
        text[2 * i + 1] = HEX[usize::from(b & 0xf)];
    }
    HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// The client address of a request, honouring `X-Forwarded-For` only from trusted proxies.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let Some(peer) = peer else {
        return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    };
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    // Walk the chain from the nearest hop outwards; stop at the first address we do not trust.
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .map(|s| s.parse::<IpAddr>().ok())
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default();
    for hop in hops.into_iter().rev() {
        client = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    client
}

/// Rate-limit key: the client address as [`client_ip`] finds it.
#[derive(Clone, Debug)]
pub struct ClientIpKey {
    trusted: Arc<Vec<IpNet>>,
}

impl KeyExtractor for ClientIpKey {
    type Key = IpAddr;

    fn extract<T>(&self, req: &Request<T>) -> Result<Self::Key, tower_governor::GovernorError> {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(client_ip(peer, req.headers(), &self.trusted))
    }
}

/// The configuration type shared by the per-address limiters.
pub type PerIpConfig = GovernorConfig<ClientIpKey, NoOpMiddleware>;

/// The layer returned by [`per_ip_rate_limit`].
pub type PerIpRateLimit = GovernorLayer<ClientIpKey, NoOpMiddleware, Body>;

/// A per-client-address rate limiter following `rule`. Over the limit, the answer is 429 with `Retry-After`.
/// Each call makes an independent limiter; its memory is trimmed by [`AppState::trim_rate_limiters`].
pub fn per_ip_rate_limit(state: &AppState, rule: RateRule) -> PerIpRateLimit {
    let mut builder = GovernorConfigBuilder::default().key_extractor(ClientIpKey {
        trusted: Arc::new(state.security.trusted_proxies.clone()),
    });
    builder.period(rule.period()).burst_size(rule.burst());
    // RateRule's constructor guarantees a non-zero period and burst, the only inputs `finish` refuses.
    let config = Arc::new(
        builder
            .finish()
            .expect("RateRule holds a non-zero period and burst"),
    );
    state.register_rate_limiter(config.clone());
    GovernorLayer::new(config).error_handler(too_many_requests)
}

/// The answer over the limit: 429 with `Retry-After` and the pages' documented JSON error (`docs/pages.md`),
/// `{"ok": false, "error": "too_many_requests", "message": ...}`, which also carries the message as OAuth's
/// `error_description` for the token endpoint's clients.
fn too_many_requests(error: tower_governor::GovernorError) -> Response<Body> {
    let wait = match &error {
        tower_governor::GovernorError::TooManyRequests { wait_time, .. } => *wait_time,
        _ => 1,
    }
    .max(1);
    let message = if wait == 1 {
        "Too many attempts from this address. Wait a second, then try again.".to_owned()
    } else {
        format!("Too many attempts from this address. Wait {wait} seconds, then try again.")
    };
    let body = serde_json::json!({
        "ok": false,
        "error": "too_many_requests",
        "message": message,
        "error_description": message,
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
        headers.insert(header::RETRY_AFTER, value);
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().filter_map(|s| s.parse().ok()).collect()
    }

    #[test]
    fn forwarded_for_is_ignored_from_an_untrusted_peer() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        let peer: IpAddr = "203.0.113.9"
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(
            client_ip(Some(peer), &headers, &nets(&["10.0.0.0/8"])),
            peer
        );
    }

    #[test]
    fn forwarded_for_is_honoured_from_a_trusted_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 10.0.0.7"),
        );
        let peer: IpAddr = "10.0.0.2"
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let expected: IpAddr = "1.2.3.4".parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(
            client_ip(Some(peer), &headers, &nets(&["10.0.0.0/8"])),
            expected
        );
    }

    #[test]
    fn spoofed_left_most_forwarded_entry_is_not_believed() {
        let mut headers = HeaderMap::new();
        // The attacker (5.6.7.8) prepends a fake address; the trusted proxy appends the real peer.
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("9.9.9.9, 5.6.7.8"),
        );
        let peer: IpAddr = "10.0.0.2"
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let expected: IpAddr = "5.6.7.8".parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(
            client_ip(Some(peer), &headers, &nets(&["10.0.0.0/8"])),
            expected
        );
    }

    #[test]
    fn csp_form_action_extension_refuses_injection() {
        let csp = csp_with_form_action(&["https://rp.example", "https://x; script-src *"]);
        assert!(csp.contains("form-action 'self' https://rp.example;"));
        assert!(!csp.contains("script-src *"));
    }
}
