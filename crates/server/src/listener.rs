//! The HTTP listener: accepts TCP (optionally TLS) connections and serves the router on each with HTTP/1.1 or HTTP/2
//! (hyper-util's `auto` builder), under limits that slow or idle clients cannot outlast.
//!
//! - **Header timeout**: a new connection (after its TLS handshake) must deliver a complete request head within it;
//!   so must a kept-alive connection once the first byte of its next request has arrived.
//! - **Body timeout**: a request body must arrive completely within it, counted from the request head
//!   (tower-http's `RequestBodyDeadline`; the handler then answers 400).
//! - **Idle timeout**: a kept-alive connection with no request in flight and no byte of a new one is closed after it.
//! - **TLS handshake timeout**.
//! - **Connection cap**: at most `max_connections` are open; at the cap the listener stops accepting (new
//!   connections wait in the kernel's backlog) until one closes: back-pressure, never accept-and-drop.
//! - **Descriptor exhaustion** (`EMFILE`/`ENFILE`, and `ENOBUFS`/`ENOMEM`): accepting pauses for
//!   [`ACCEPT_BACKOFF`] and the condition is logged once per [`EXHAUSTION_LOG_INTERVAL`]; open connections keep
//!   being served, and accepting resumes as descriptors are freed.
//!
//! The header and idle timeouts are enforced here, per connection, rather than with hyper's `header_read_timeout`:
//! hyper 1.x restarts that timer as soon as a kept-alive connection goes idle, so it would close idle connections
//! after the header timeout and no separate idle timeout could exist.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower_http::timeout::RequestBodyDeadlineLayer;
use tower_service::Service;

/// How long accepting pauses after the process ran out of file descriptors (or kernel memory for sockets).
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one log line per this interval about descriptor exhaustion or the connection cap.
pub const EXHAUSTION_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The listener's limits (`[server.limits]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Time allowed for a complete request head.
    pub header_timeout: Duration,
    /// Time allowed for a complete request body, from its head.
    pub body_timeout: Duration,
    /// Time a kept-alive connection may stay idle between requests.
    pub idle_timeout: Duration,
    /// Time allowed for a TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            tls_handshake_timeout: Duration::from_secs(10),
            max_connections: 4096,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets in-flight requests finish,
/// closes idle connections, and returns when every connection is closed.
///
/// # Errors
/// None today: accept errors are handled (retried, or backed off on descriptor exhaustion); the `Result` leaves
/// room for fatal listener errors.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let router = router.layer(RequestBodyDeadlineLayer::new(limits.body_timeout));
    let max_connections = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(max_connections));
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    let mut exhaustion = RateLimitedLog::default();
    let mut at_cap = RateLimitedLog::default();
    loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                at_cap.warn(|suppressed| {
                    tracing::warn!(
                        max_connections,
                        times_since_last_report = suppressed,
                        "connection cap reached: new connections wait until one closes (server.limits.max_connections)"
                    );
                });
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    permit = permits.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                }
            }
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) if is_resource_exhaustion(&error) => {
                    exhaustion.warn(|suppressed| {
                        tracing::error!(
                            %error,
                            times_since_last_report = suppressed,
                            backoff_ms = ACCEPT_BACKOFF.as_millis() as u64,
                            "cannot accept connections: out of file descriptors or socket memory; \
                             open connections are still served (raise the open-file limit or lower \
                             server.limits.max_connections)"
                        );
                    });
                    tokio::select! {
                        biased;
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    }
                }
                // A connection that failed between the kernel's accept and ours (reset, aborted): the next one.
                Err(error) => {
                    tracing::debug!(%error, "accept failed");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            peer,
            router.clone(),
            limits,
            tls.clone(),
            closing_rx.clone(),
            permit,
        ));
    }
    drop(listener);
    let _ = closing_tx.send(true);
    // Every connection holds a permit until it closes: having them all back means all are closed.
    let _ = permits.acquire_many(max_connections as u32).await;
    Ok(())
}

/// Whether an accept error means the process or system is out of descriptors or socket memory, which retrying at
/// once cannot cure.
fn is_resource_exhaustion(error: &io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM on Linux and the BSDs alike for the first two; the others are Linux's.
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    const ENOMEM: i32 = 12;
    const ENOBUFS: i32 = 105;
    matches!(
        error.raw_os_error(),
        Some(EMFILE | ENFILE | ENOMEM | ENOBUFS)
    ) || error.kind() == io::ErrorKind::OutOfMemory
}

/// Logs at most once per [`EXHAUSTION_LOG_INTERVAL`], counting the occurrences it did not log.
#[derive(Default)]
struct RateLimitedLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    fn warn(&mut self, log: impl FnOnce(u64)) {
        let now = Instant::now();
        match self.last {
            Some(last) if now.duration_since(last) < EXHAUSTION_LOG_INTERVAL => {
                self.suppressed += 1
            }
            _ => {
                log(self.suppressed);
                self.last = Some(now);
                self.suppressed = 0;
            }
        }
    }
}

/// One open connection in the `tessera_open_connections` gauge, for as long as it lives (when metrics are on).
struct OpenConnection(bool);

impl OpenConnection {
    fn counted() -> Self {
        let on = tessera_store::metrics::enabled();
        if on {
            metrics::gauge!("tessera_open_connections").increment(1.0);
        }
        Self(on)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        if self.0 {
            metrics::gauge!("tessera_open_connections").decrement(1.0);
        }
    }
}

/// One connection: the TLS handshake if any, then HTTP until the client leaves, a timeout fires or the server
/// shuts down. Holds its connection-cap permit until it returns.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ListenerLimits,
    tls: Option<TlsAcceptor>,
    mut closing: watch::Receiver<bool>,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    let _open = OpenConnection::counted();
    let Some(acceptor) = tls else {
        return serve_http(stream, peer, router, limits, closing).await;
    };
    let handshake = tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(stream));
    let stream = tokio::select! {
        done = handshake => match done {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
        _ = closing.wait_for(|closing| *closing) => return,
    };
    serve_http(stream, peer, router, limits, closing).await;
}

async fn serve_http<S>(
    stream: S,
    peer: SocketAddr,
    router: Router,
    limits: ListenerLimits,
    mut closing: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let service = ConnectionService {
        router,
        peer: ConnectInfo(peer),
        activity: activity.clone(),
    };
    let builder = auto::Builder::new(TokioExecutor::new());
    let mut conn = pin!(builder.serve_connection_with_upgrades(io, service));
    let mut watchdog = pin!(activity.watchdog(limits));
    let mut shutting_down = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                return;
            }
            reason = &mut watchdog => {
                tracing::debug!(%peer, reason, "closing connection");
                return;
            }
            _ = closing.wait_for(|closing| *closing), if !shutting_down => {
                shutting_down = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Marks "no time recorded" in [`Activity::first_byte_ms`].
const NOT_YET: u64 = u64::MAX;

/// What a connection is doing, shared by its I/O (bytes read), its service (requests in flight) and its watchdog.
struct Activity {
    /// The connection's start (after any TLS handshake); the times below are milliseconds since it.
    origin: Instant,
    in_flight: AtomicUsize,
    /// Whether a request has completed (the first request's head is timed from the start).
    served: AtomicBool,
    /// When the connection last went quiet (its last request in flight completed).
    quiet_since_ms: AtomicU64,
    /// When the first byte arrived since it went quiet, or [`NOT_YET`].
    first_byte_ms: AtomicU64,
    /// Woken when the deadline may have moved earlier or appeared.
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            quiet_since_ms: AtomicU64::new(0),
            first_byte_ms: AtomicU64::new(NOT_YET),
            changed: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(NOT_YET - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.origin + Duration::from_millis(ms)
    }

    /// Bytes were read from the client.
    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.first_byte_ms.load(Ordering::Relaxed) == NOT_YET
        {
            self.first_byte_ms.store(self.now_ms(), Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    fn request_started(self: &Arc<Self>) -> RequestInFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        RequestInFlight {
            activity: self.clone(),
        }
    }

    /// The moment the connection must be closed, and why; `None` while a request is in flight.
    fn deadline(&self, limits: ListenerLimits) -> Option<(Instant, &'static str)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        if !self.served.load(Ordering::Acquire) {
            return Some((self.origin + limits.header_timeout, "header timeout"));
        }
        match self.first_byte_ms.load(Ordering::Acquire) {
            NOT_YET => Some((
                self.at(self.quiet_since_ms.load(Ordering::Acquire)) + limits.idle_timeout,
                "idle timeout",
            )),
            first => Some((self.at(first) + limits.header_timeout, "header timeout")),
        }
    }

    /// Completes when the connection has outlived its header or idle deadline, with the reason.
    async fn watchdog(&self, limits: ListenerLimits) -> &'static str {
        let sleep = tokio::time::sleep(limits.idle_timeout);
        let mut sleep = pin!(sleep);
        loop {
            match self.deadline(limits) {
                None => self.changed.notified().await,
                Some((deadline, reason)) => {
                    if deadline <= Instant::now() {
                        return reason;
                    }
                    sleep.as_mut().reset(deadline.into());
                    tokio::select! {
                        () = sleep.as_mut() => {}
                        () = self.changed.notified() => {}
                    }
                }
            }
        }
    }
}

/// A request being handled; when the last one on a connection completes, the connection is quiet (idle) again.
struct RequestInFlight {
    activity: Arc<Activity>,
}

impl Drop for RequestInFlight {
    fn drop(&mut self) {
        let activity = &self.activity;
        if activity.in_flight.load(Ordering::Acquire) == 1 {
            activity
                .quiet_since_ms
                .store(activity.now_ms(), Ordering::Release);
            activity.first_byte_ms.store(NOT_YET, Ordering::Release);
            activity.served.store(true, Ordering::Release);
        }
        if activity.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            activity.changed.notify_one();
        }
    }
}

/// The connection's stream, reporting reads to its [`Activity`].
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The router as hyper calls it on one connection: adds the peer address (`ConnectInfo`) and counts the request in
/// flight until its response is ready.
#[derive(Clone)]
struct ConnectionService {
    router: Router,
    peer: ConnectInfo<SocketAddr>,
    activity: Arc<Activity>,
}

type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<axum::response::Response, Infallible>> + Send>>;

impl hyper::service::Service<hyper::Request<Incoming>> for ConnectionService {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, mut request: hyper::Request<Incoming>) -> Self::Future {
        let in_flight = self.activity.request_started();
        request.extensions_mut().insert(self.peer);
        let mut router = self.router.clone();
        let response = router.call(request.map(axum::body::Body::new));
        Box::pin(async move {
            let response = response.await;
            drop(in_flight);
            response
        })
    }
}
