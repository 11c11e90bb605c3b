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

use std::sync::Mutex;
use std::time::Duration;

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

/// A rate: `burst` requests at once, refilled at one request per `period`. Both are never zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateRule {
    period: Duration,
    burst: u32,
}

impl RateRule {
    /// `per_minute` requests per minute on average, with bursts of `burst` (both raised to at least 1).
    pub fn per_minute(per_minute: u32, burst: u32) -> Self {
        let per_minute = u64::from(per_minute.max(1));
        let period = Duration::from_micros(60_000_000 / per_minute).max(Duration::from_micros(1));
        Self {
            period,
            burst: burst.max(1),
        }
    }

    /// The time to earn back one request.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// How many requests may arrive at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }
}

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Applies the security headers, a body limit of `body_limit` bytes and request ids to a router. Between the two,
/// the admin API's error answers the framework makes (the body limit's 413 among them) become problem+json
/// (`admin::api::problem::framework_errors_as_problems`; it leaves every other path alone).
pub fn apply(router: Router, body_limit: usize) -> Router {
    router
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(axum::middleware::from_fn(
            crate::admin::api::problem::framework_errors_as_problems,
        ))
        .layer(axum::middleware::from_fn(secure_and_trace))
}

/// Why a request was refused, as the response carries it to the request's log line: a stable code (the OAuth
/// error, the pages' error code and WebAuthn rule, the error page's heading, `rate_limited`). Never a secret.
#[derive(Debug, Clone)]
pub struct Refusal(pub std::borrow::Cow<'static, str>);

impl Refusal {
    /// Marks `response` as refused because of `reason`.
    pub fn mark(response: &mut Response<Body>, reason: impl Into<std::borrow::Cow<'static, str>>) {
        response.extensions_mut().insert(Self(reason.into()));
    }
}

/// One middleware for what every response needs: a request id (the client's `X-Request-Id` when it is a plain token
/// of at most 64 characters, so a proxy's id carries through; otherwise a fresh one), a tracing span carrying it, one
/// log line for a refused request, and the security headers.
async fn secure_and_trace(
    mut request: Request<Body>,
    next: axum::middleware::Next,
) -> Response<Body> {
    use tracing::Instrument;
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .filter(|v| is_sane_request_id(v.as_bytes()))
        .cloned()
        .unwrap_or_else(request_id);
    request
        .headers_mut()
        .insert(X_REQUEST_ID.clone(), id.clone());
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_owned());
    // Only the OpenID Connect endpoints name a client in the request itself.
    let client = route
        .as_deref()
        .filter(|r| r.contains("/oidc/"))
        .and_then(|_| client_of(&request));
    // Only the path is logged: query strings carry codes, states and hints.
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or("-"),
        method = %request.method(),
        path = %request.uri().path()
    );
    let tenant = route
        .as_deref()
        .filter(|r| r.starts_with("/{tenant}"))
        .and_then(|_| request.uri().path().split('/').nth(1))
        .map(str::to_owned);
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    super::metrics::request(route.as_deref(), status.as_u16(), started.elapsed());
    if status.is_client_error() {
        let reason = response
            .extensions()
            .get::<Refusal>()
            .map_or("-", |r| r.0.as_ref());
        let route = route.as_deref().unwrap_or("-");
        let tenant = tenant.as_deref().unwrap_or("-");
        let client = client.as_deref().unwrap_or("-");
        span.in_scope(|| {
            if status == StatusCode::NOT_FOUND {
                tracing::debug!(
                    status = status.as_u16(),
                    route,
                    tenant,
                    client,
                    reason,
                    "request refused"
                );
            } else {
                tracing::warn!(
                    status = status.as_u16(),
                    route,
                    tenant,
                    client,
                    reason,
                    "request refused"
                );
            }
        });
    }
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
    // The pages run in their own browsing context group (no window of another origin keeps a handle on them), and
    // may use WebAuthn for themselves only, nothing else of the device.
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(PERMISSIONS_POLICY),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE && !headers.contains_key(header::RETRY_AFTER) {
        // A store outage: clients and load balancers are told when to try again.
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    headers.insert(X_REQUEST_ID.clone(), id);
    response
}

/// Whether a client-sent request id may be kept: 1 to 64 of `A-Z a-z 0-9 - _ .` (nothing that could forge or split
/// a log line).
fn is_sane_request_id(value: &[u8]) -> bool {
    (1..=64).contains(&value.len())
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The client a request names, for its log line: the `client_id` query parameter, or the user name of HTTP Basic
/// client authentication (never the password). Only printable ids of at most 128 characters.
fn client_of(request: &Request<Body>) -> Option<String> {
    use base64::Engine;
    let from_query = request.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "client_id")
            .map(|(_, v)| v.into_owned())
    });
    let from_basic = || {
        let value = request
            .headers()
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?;
        let encoded = value.strip_prefix("Basic ")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, _) = text.split_once(':')?;
        Some(
            url::form_urlencoded::parse(format!("u={user}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default(),
        )
    };
    from_query
        .or_else(from_basic)
        .filter(|c| !c.is_empty() && c.len() <= 128 && c.chars().all(|ch| ch.is_ascii_graphic()))
}

/// The `Permissions-Policy` of every response: passkeys for this origin only; camera, microphone, location, payment,
/// USB and the like for nobody.
pub const PERMISSIONS_POLICY: &str = "publickey-credentials-get=(self), publickey-credentials-create=(self), \
camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), hid=(), bluetooth=(), \
display-capture=(), browsing-topics=()";

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

/// Every per-address limiter of an application, so their memory can be trimmed in the background.
#[derive(Clone, Default)]
pub struct RateLimiters(Arc<Mutex<Vec<Arc<PerIpConfig>>>>);

impl RateLimiters {
    fn register(&self, config: Arc<PerIpConfig>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(config);
    }

    /// Forgets rate-limit state of addresses that have been quiet long enough to be back at full burst.
    pub fn trim(&self) {
        let limiters = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for config in limiters {
            config.limiter().retain_recent();
            config.limiter().shrink_to_fit();
        }
    }
}

/// A per-client-address limiter's configuration following `rule`, registered in `limiters` so its memory is
/// trimmed.
fn per_ip_config(limiters: &RateLimiters, key: ClientIpKey, rule: RateRule) -> Arc<PerIpConfig> {
    let mut builder = GovernorConfigBuilder::default().key_extractor(key);
    builder.period(rule.period()).burst_size(rule.burst());
    // RateRule's constructor guarantees a non-zero period and burst, the only inputs `finish` refuses.
    let config = Arc::new(
        builder
            .finish()
            .expect("RateRule holds a non-zero period and burst"),
    );
    limiters.register(config.clone());
    config
}

/// A per-client-address rate limiter following `rule`, believing `X-Forwarded-For` only from `trusted` proxies.
/// Over the limit, the answer is 429 with `Retry-After`. Each call makes an independent limiter, registered in
/// `limiters` so its memory is trimmed.
pub fn per_ip_rate_limit(
    limiters: &RateLimiters,
    trusted: &[IpNet],
    rule: RateRule,
) -> PerIpRateLimit {
    let key = ClientIpKey {
        trusted: Arc::new(trusted.to_vec()),
    };
    GovernorLayer::new(per_ip_config(limiters, key, rule)).error_handler(too_many_requests)
}

/// The limiter of [`per_ip_rate_limit`] for a handler to check itself, where no route layer can hold it (the
/// broker's B2C-shaped URLs are served by one fallback): the same key, rule and 429 answer.
#[derive(Clone)]
pub struct PerIpLimiter {
    config: Arc<PerIpConfig>,
    key: ClientIpKey,
}

impl PerIpLimiter {
    /// A limiter following `rule` (see [`per_ip_rate_limit`]).
    pub fn new(limiters: &RateLimiters, trusted: &[IpNet], rule: RateRule) -> Self {
        let key = ClientIpKey {
            trusted: Arc::new(trusted.to_vec()),
        };
        Self {
            config: per_ip_config(limiters, key.clone(), rule),
            key,
        }
    }

    /// The client address `request` names (its peer address, or a trusted proxy's `X-Forwarded-For`), as this
    /// limiter keys it; the unspecified address when the request carries no peer address (tests without a socket).
    pub fn client_address<T>(&self, request: &Request<T>) -> IpAddr {
        self.key
            .extract(request)
            .unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED))
    }

    /// Counts a request from the client `request` names (its peer address, or a trusted proxy's
    /// `X-Forwarded-For`): the 429 answer (`Retry-After`) when that client is over the limit, `None` otherwise.
    pub fn check<T>(&self, request: &Request<T>) -> Option<Response<Body>> {
        use governor::clock::{Clock, DefaultClock};
        let client = self.key.extract(request).ok()?;
        let negative = self.config.limiter().check_key(&client).err()?;
        let wait_time = negative
            .wait_time_from(DefaultClock::default().now())
            .as_secs();
        Some(too_many_requests(
            tower_governor::GovernorError::TooManyRequests {
                wait_time,
                headers: None,
            },
        ))
    }
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
    Refusal::mark(&mut response, "rate_limited");
    super::metrics::rate_limited();
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
