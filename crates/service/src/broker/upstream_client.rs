//! [`UpstreamClient`]: the broker's HTTP client toward identity providers (discovery documents, JWK Sets, token and
//! userinfo endpoints).
//!
//! It is deliberately narrow: `https` only (plain `http` only to loopback hosts, for tests and a local demo), short
//! timeouts, no redirects followed, no proxies from the environment, and answers capped at [`MAX_BODY_BYTES`]. Its
//! errors name what failed and the URL (whose user information is refused up front), never a secret: neither the
//! client secret nor an access token reaches an error, a log line or a `Debug` output.

use std::sync::Arc;
use std::time::Duration;

use tessera_broker::config::is_loopback;
use tessera_broker::upstream::{TokenRequest, UserinfoRequest};
use url::Url;

/// How long a TCP (and TLS) connection to a provider may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from a provider; anything longer is refused as [`UpstreamError::TooLarge`].
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A certificate given as an extra trust root that cannot be one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("certificate {position} is not a usable trust root: {reason}")]
pub struct RootRefused {
    /// Its position in the file, from 1.
    pub position: usize,
    /// What the TLS library said.
    pub reason: String,
}

/// Why a request to an identity provider failed. Each variant names the URL (without query string) and what went
/// wrong; none carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The URL is not one the broker calls: not absolute, not `https` (nor `http` to a loopback host), or with user
    /// information.
    #[error("{url}: refused: {reason}")]
    UrlRefused {
        /// The URL as given (without query string).
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// No connection could be made (DNS, refused, TLS handshake or certificate).
    #[error("{url}: unreachable ({reason})")]
    Unreachable {
        /// The URL.
        url: String,
        /// What the transport reported, in a few words.
        reason: String,
    },
    /// No complete answer within the time limit.
    #[error("{url}: no answer within {seconds} s")]
    Timeout {
        /// The URL.
        url: String,
        /// The limit that was hit.
        seconds: u64,
    },
    /// The provider answered with an unexpected HTTP status (redirects are not followed, so 3xx lands here).
    #[error("{url}: answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The answer is not a JSON document.
    #[error("{url}: the answer is not JSON")]
    NotJson {
        /// The URL.
        url: String,
    },
    /// The answer is longer than [`MAX_BODY_BYTES`].
    #[error("{url}: the answer is larger than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: usize,
    },
}

/// A JSON answer: its status and its body, which is known to parse as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body as received (the pure validators of `tessera-broker` take bytes).
    pub body: Vec<u8>,
}

impl JsonResponse {
    /// The body parsed.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The broker's HTTP client toward identity providers. Cheap to clone (one connection pool shared); build it once
/// at start-up and pass it to the use cases (`&UpstreamClient`).
#[derive(Clone)]
pub struct UpstreamClient {
    http: reqwest::Client,
    max_body: usize,
    request_timeout: Duration,
}

impl Default for UpstreamClient {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient")
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

impl UpstreamClient {
    /// A client with the default limits ([`CONNECT_TIMEOUT`], [`REQUEST_TIMEOUT`], [`MAX_BODY_BYTES`]), trusting the
    /// Mozilla root certificates (`webpki-roots`), TLS by rustls on aws-lc-rs.
    pub fn new() -> Self {
        Self::with_limits(CONNECT_TIMEOUT, REQUEST_TIMEOUT, MAX_BODY_BYTES)
    }

    /// A client with other limits (tests use short ones).
    pub fn with_limits(
        connect_timeout: Duration,
        request_timeout: Duration,
        max_body: usize,
    ) -> Self {
        Self::build(
            connect_timeout,
            request_timeout,
            max_body,
            rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        )
    }

    /// A client with the default limits trusting, besides the Mozilla root certificates, `extra_roots` (providers on
    /// a private PKI: `[broker] trust_roots_file`).
    ///
    /// # Errors
    /// [`RootRefused`] naming the certificate (by position) that is not a usable trust anchor.
    pub fn with_extra_roots(
        extra_roots: &[rustls::pki_types::CertificateDer<'static>],
    ) -> Result<Self, RootRefused> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for (index, root) in extra_roots.iter().enumerate() {
            roots.add(root.clone()).map_err(|e| RootRefused {
                position: index + 1,
                reason: e.to_string(),
            })?;
        }
        Ok(Self::build(
            CONNECT_TIMEOUT,
            REQUEST_TIMEOUT,
            MAX_BODY_BYTES,
            roots,
        ))
    }

    fn build(
        connect_timeout: Duration,
        request_timeout: Duration,
        max_body: usize,
        roots: rustls::RootCertStore,
    ) -> Self {
        // For the process's other reqwest clients (see `install_default_tls_provider`); this one needs none.
        install_default_tls_provider();
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the safe default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        // Building fails only for settings this client never uses (a TLS backend it was not given, a DNS resolver
        // reading system files, proxies from the environment): with these fixed settings it always succeeds.
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(connect_timeout)
            .timeout(request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the upstream client's fixed settings build");
        Self {
            http,
            max_body,
            request_timeout,
        }
    }

    /// GETs a JSON document (a discovery document, a JWK Set): any status but 200 is [`UpstreamError::Status`].
    pub async fn get_json(&self, url: &str) -> Result<JsonResponse, UpstreamError> {
        let target = checked_url(url)?;
        let response = self.send(url, self.http.get(target)).await?;
        self.read_json(url, response, true).await
    }

    /// GETs a JSON document with `Authorization: Bearer <access_token>` (the userinfo endpoint); any status but 200
    /// is [`UpstreamError::Status`]. The token is never part of an error.
    pub async fn get_json_bearer(
        &self,
        url: &str,
        access_token: &str,
    ) -> Result<JsonResponse, UpstreamError> {
        self.get_userinfo(&UserinfoRequest {
            url: url.to_owned(),
            authorization: format!("Bearer {access_token}"),
        })
        .await
    }

    /// Sends a userinfo request built by `tessera_broker::upstream::userinfo_request`: GET with its
    /// `Authorization: Bearer` header ([`UpstreamClient::get_json_bearer`]).
    pub async fn get_userinfo(
        &self,
        request: &UserinfoRequest,
    ) -> Result<JsonResponse, UpstreamError> {
        let target = checked_url(&request.url)?;
        let mut value = reqwest::header::HeaderValue::try_from(request.authorization.as_str())
            .map_err(|_| UpstreamError::UrlRefused {
                url: display_url(&request.url),
                reason: "the access token is not a valid header value",
            })?;
        value.set_sensitive(true);
        let request_builder = self
            .http
            .get(target)
            .header(reqwest::header::AUTHORIZATION, value);
        let response = self.send(&request.url, request_builder).await?;
        self.read_json(&request.url, response, true).await
    }

    /// POSTs a form (`application/x-www-form-urlencoded`), with an `Authorization` header value when given (the
    /// `Basic ...` of `client_secret_basic`, built by `tessera_broker::upstream::token_request`). Returns the
    /// status and the JSON body whatever the status: a token endpoint answers its errors as JSON with 400 or 401
    /// (RFC 6749 §5.2). A non-JSON error page is [`UpstreamError::Status`].
    pub async fn post_form(
        &self,
        url: &str,
        authorization: Option<&str>,
        form: &[(String, String)],
    ) -> Result<JsonResponse, UpstreamError> {
        let target = checked_url(url)?;
        let mut request = self.http.post(target).form(form);
        if let Some(value) = authorization {
            let mut value = reqwest::header::HeaderValue::try_from(value).map_err(|_| {
                UpstreamError::UrlRefused {
                    url: display_url(url),
                    reason: "the client credentials are not a valid header value",
                }
            })?;
            value.set_sensitive(true);
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        let response = self.send(url, request).await?;
        self.read_json(url, response, false).await
    }

    /// Sends a token request built by `tessera_broker::upstream::token_request` ([`UpstreamClient::post_form`]).
    pub async fn post_token_request(
        &self,
        request: &TokenRequest,
    ) -> Result<JsonResponse, UpstreamError> {
        self.post_form(
            &request.url,
            request.authorization.as_deref(),
            &request.form,
        )
        .await
    }

    async fn send(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, UpstreamError> {
        request
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.transport_error(url, &e))
    }

    fn transport_error(&self, url: &str, error: &reqwest::Error) -> UpstreamError {
        transport_error(url, error, self.request_timeout)
    }

    /// Reads at most `max_body` bytes and checks that they are JSON. With `require_ok`, a status other than 200 is
    /// an error; otherwise any status with a JSON body is returned.
    async fn read_json(
        &self,
        url: &str,
        mut response: reqwest::Response,
        require_ok: bool,
    ) -> Result<JsonResponse, UpstreamError> {
        let status = response.status().as_u16();
        if require_ok && status != 200 {
            return Err(UpstreamError::Status {
                url: display_url(url),
                status,
            });
        }
        let too_large = || UpstreamError::TooLarge {
            url: display_url(url),
            limit: self.max_body,
        };
        if response
            .content_length()
            .is_some_and(|n| n > self.max_body as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(url, &e))?
        {
            if body.len() + chunk.len() > self.max_body {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
            return Err(if (200..300).contains(&status) {
                UpstreamError::NotJson {
                    url: display_url(url),
                }
            } else {
                UpstreamError::Status {
                    url: display_url(url),
                    status,
                }
            });
        }
        Ok(JsonResponse { status, body })
    }
}

/// Makes rustls on aws-lc-rs the process's default TLS provider; idempotent.
///
/// This client's TLS feature of reqwest (`rustls-tls-no-provider`) is enabled for every reqwest client of the
/// workspace (Cargo unifies features), and reqwest then builds each client with rustls on the process's default
/// provider, panicking with "No provider set" when there is none. Every place that builds a `reqwest::Client` of
/// its own calls this first (the server's `main`, the demo, testkit, the load generator); [`UpstreamClient`] needs
/// none, it brings its own configuration.
pub fn install_default_tls_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The URL as errors show it: without query string (a misconfigured endpoint could carry a token in it).
fn display_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            let _ = parsed.set_password(None);
            let _ = parsed.set_username("");
            parsed.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_owned(),
    }
}

/// The rule for every URL the broker calls: absolute, `https` (or `http` to a loopback host), no user information.
pub fn checked_url(url: &str) -> Result<Url, UpstreamError> {
    let refused = |reason| UpstreamError::UrlRefused {
        url: display_url(url),
        reason,
    };
    let parsed = Url::parse(url).map_err(|_| refused("not an absolute URL"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refused("user information in the URL"));
    }
    if parsed.host().is_none() {
        return Err(refused("no host"));
    }
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        "http" => Err(refused("http is allowed only to loopback hosts; use https")),
        _ => Err(refused("only https URLs are fetched")),
    }
}

fn transport_error(url: &str, error: &reqwest::Error, timeout: Duration) -> UpstreamError {
    if error.is_timeout() {
        return UpstreamError::Timeout {
            url: display_url(url),
            seconds: timeout.as_secs(),
        };
    }
    // The innermost cause names the problem ("connection refused", "invalid peer certificate: UnknownIssuer");
    // reqwest's own message repeats the URL, which `url` already gives without its query.
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        source = next;
    }
    let reason = if error.is_connect() || error.is_request() || error.is_body() {
        source.to_string()
    } else {
        "transport error".to_owned()
    };
    UpstreamError::Unreachable {
        url: display_url(url),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::IntoResponse;
    use axum::routing::{get, post};

    /// Serves `router` on a loopback port; returns its base URL.
    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        format!("http://{addr}")
    }

    fn client() -> UpstreamClient {
        UpstreamClient::with_limits(Duration::from_secs(2), Duration::from_millis(500), 1024)
    }

    fn json(body: &'static str) -> impl IntoResponse {
        ([(header::CONTENT_TYPE, "application/json")], body)
    }

    #[tokio::test]
    async fn reads_json_documents_and_names_each_failure() {
        let base = serve(
            Router::new()
                .route("/ok", get(|| async { json(r#"{"issuer":"x"}"#) }))
                .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
                .route("/html", get(|| async { "<html>hello</html>" }))
                .route(
                    "/moved",
                    get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/ok")]) }),
                )
                .route("/big", get(|| async { "x".repeat(2000) }))
                .route(
                    "/slow",
                    get(|| async {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        json("{}")
                    }),
                ),
        )
        .await;
        let client = client();
        let ok = client.get_json(&format!("{base}/ok")).await.expect("ok");
        assert_eq!(ok.status, 200);
        assert_eq!(ok.json()["issuer"], "x");

        assert_eq!(
            client.get_json(&format!("{base}/missing")).await,
            Err(UpstreamError::Status {
                url: format!("{base}/missing"),
                status: 404
            })
        );
        assert_eq!(
            client.get_json(&format!("{base}/html")).await,
            Err(UpstreamError::NotJson {
                url: format!("{base}/html")
            })
        );
        assert_eq!(
            client.get_json(&format!("{base}/moved")).await,
            Err(UpstreamError::Status {
                url: format!("{base}/moved"),
                status: 302
            }),
            "redirects are not followed"
        );
        assert_eq!(
            client.get_json(&format!("{base}/big")).await,
            Err(UpstreamError::TooLarge {
                url: format!("{base}/big"),
                limit: 1024
            })
        );
        assert!(matches!(
            client.get_json(&format!("{base}/slow")).await,
            Err(UpstreamError::Timeout { .. })
        ));
    }

    /// Serves one raw HTTP/1.1 answer per connection (for answers axum would not produce).
    async fn serve_raw(answer: Vec<u8>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let _ = socket.write_all(&answer).await;
                let _ = socket.shutdown().await;
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_chunked_answer_without_length_is_capped_too() {
        let mut answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n[\r\n".to_vec();
        for _ in 0..20 {
            answer.extend_from_slice(format!("64\r\n{}\r\n", " ".repeat(100)).as_bytes());
        }
        answer.extend_from_slice(b"1\r\n]\r\n0\r\n\r\n");
        let base = serve_raw(answer).await;
        assert!(matches!(
            client().get_json(&format!("{base}/jwks")).await,
            Err(UpstreamError::TooLarge { limit: 1024, .. })
        ));
        let small =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n".to_vec();
        let base = serve_raw(small).await;
        assert_eq!(
            client()
                .get_json(&format!("{base}/jwks"))
                .await
                .expect("small")
                .body,
            b"{}"
        );
    }

    #[tokio::test]
    async fn posts_forms_with_credentials_and_returns_json_errors_with_their_status() {
        async fn token(headers: HeaderMap, body: String) -> axum::response::Response {
            let auth = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if auth != "Basic Y2xpZW50OnMzY3JldA==" {
                return (
                    StatusCode::UNAUTHORIZED,
                    json(r#"{"error":"invalid_client"}"#),
                )
                    .into_response();
            }
            if body != "grant_type=authorization_code&code=a+b%26c" {
                return (
                    StatusCode::BAD_REQUEST,
                    json(r#"{"error":"invalid_grant"}"#),
                )
                    .into_response();
            }
            json(r#"{"access_token":"at","token_type":"Bearer","id_token":"x"}"#).into_response()
        }
        async fn userinfo(headers: HeaderMap) -> axum::response::Response {
            match headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
            {
                Some("Bearer at-123") => json(r#"{"sub":"u1"}"#).into_response(),
                _ => StatusCode::UNAUTHORIZED.into_response(),
            }
        }
        let base = serve(
            Router::new()
                .route("/token", post(token))
                .route("/userinfo", get(userinfo))
                .route(
                    "/broken",
                    post(|| async { (StatusCode::BAD_GATEWAY, "<h1>bad gateway</h1>") }),
                ),
        )
        .await;
        let client = client();
        let form = vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), "a b&c".to_owned()),
        ];
        let url = format!("{base}/token");
        let good = client
            .post_form(&url, Some("Basic Y2xpZW50OnMzY3JldA=="), &form)
            .await
            .expect("token");
        assert!(good.is_success());
        assert_eq!(good.json()["access_token"], "at");

        let refused = client
            .post_form(&url, Some("Basic d3Jvbmc6d3Jvbmc="), &form)
            .await
            .expect("a JSON error is an answer");
        assert_eq!(refused.status, 401);
        assert_eq!(refused.json()["error"], "invalid_client");

        let broken = client
            .post_form(&format!("{base}/broken"), None, &form)
            .await
            .expect_err("an HTML error page");
        assert_eq!(
            broken,
            UpstreamError::Status {
                url: format!("{base}/broken"),
                status: 502
            }
        );

        let info = client
            .get_json_bearer(&format!("{base}/userinfo"), "at-123")
            .await
            .expect("userinfo");
        assert_eq!(info.json()["sub"], "u1");
        let denied = client
            .get_json_bearer(&format!("{base}/userinfo"), "secret-token-xyz")
            .await
            .expect_err("wrong token");
        assert!(!denied.to_string().contains("secret-token-xyz"));
        assert!(!format!("{denied:?}").contains("secret-token-xyz"));
    }

    #[tokio::test]
    async fn only_https_or_loopback_http_urls_are_fetched() {
        let client = client();
        for (url, reason) in [
            (
                "http://idp.example.com/.well-known/openid-configuration",
                "http is allowed only to loopback hosts; use https",
            ),
            ("ftp://127.0.0.1/x", "only https URLs are fetched"),
            ("file:///etc/passwd", "no host"),
            ("/relative", "not an absolute URL"),
            (
                "https://user:pw@idp.example.com/x",
                "user information in the URL",
            ),
        ] {
            match client.get_json(url).await {
                Err(UpstreamError::UrlRefused { reason: got, url }) => {
                    assert_eq!(got, reason, "{url}");
                    assert!(!url.contains("pw"), "no password in errors: {url}");
                }
                other => panic!("{url}: {other:?}"),
            }
        }
        assert!(checked_url("http://localhost:8080/x").is_ok());
        assert!(checked_url("http://[::1]:8080/x").is_ok());
        assert!(checked_url("https://idp.example.com/x").is_ok());
        let shown = client
            .get_json("http://idp.example.com/jwks?token=abc")
            .await
            .expect_err("refused")
            .to_string();
        assert!(!shown.contains("abc"), "no query in errors: {shown}");
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        assert!(matches!(
            client().get_json(&format!("http://{addr}/x")).await,
            Err(UpstreamError::Unreachable { .. })
        ));
    }

    #[tokio::test]
    async fn https_is_verified_tls_and_a_self_signed_certificate_is_refused() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
        let cert = certified.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der())
            .expect("key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let handshakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = handshakes.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if let Ok(mut tls) = acceptor.accept(socket).await {
                    let mut request = [0u8; 4096];
                    let _ = tls.read(&mut request).await;
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                        .await;
                }
            }
        });
        match client()
            .get_json(&format!("https://localhost:{port}/jwks"))
            .await
        {
            Err(UpstreamError::Unreachable { reason, .. }) => {
                assert!(reason.to_lowercase().contains("certificate"), "{reason}")
            }
            other => panic!("a self-signed certificate must be refused: {other:?}"),
        }
        assert!(handshakes.load(std::sync::atomic::Ordering::SeqCst) >= 1);
        // TLS toward a port that speaks plain HTTP fails too: https never falls back.
        let base = serve(Router::new().route("/x", get(|| async { json("{}") }))).await;
        let url = base.replace("http://", "https://") + "/x";
        assert!(matches!(
            client().get_json(&url).await,
            Err(UpstreamError::Unreachable { .. })
        ));
    }
}
