//! The listener under slow, idle and numerous clients, at the file-descriptor limit, and with TLS (issues 13, 14):
//! each fault is created for real (sockets that stall, a child `tessera serve` under `prlimit`), beside a normal
//! client that must still be answered promptly.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_core::{Clock, SystemClock, TenantId};
use tessera_http::{PublicUrl, SecuritySettings};
use tessera_oidc::keys::MasterKey;
use tessera_server::Application;
use tessera_server::listener::ListenerLimits;
use tessera_service::tenants::{self as ops, NewTenant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

const TENANT: &str = "acme";
const DISCOVERY: &str = "/acme/oidc/.well-known/openid-configuration";

struct Server {
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn spawn(limits: ListenerLimits, tls: Option<TlsAcceptor>) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = tessera_server::app::open_sqlite(&dir.path().join("t.db"))
        .await
        .expect("sqlite");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base = format!("{scheme}://localhost:{}", addr.port());
    let master = MasterKey::generate().expect("master key");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    ops::create_tenant(
        store.as_ref(),
        &master,
        NewTenant::parse(
            TenantId::parse(TENANT).expect("tenant"),
            "localhost",
            std::slice::from_ref(&base),
            None,
        )
        .expect("new tenant"),
        clock.now(),
    )
    .await
    .expect("tenant");
    let app = Application::from_parts(
        listener,
        store,
        clock,
        PublicUrl::parse(&base).expect("public url"),
        SecuritySettings::default(),
        master,
    )
    .with_listener(limits, tls);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = app
            .run_until_stopped(async move {
                let _ = stopped.await;
            })
            .await;
    });
    Server {
        addr,
        stop: Some(stop),
        _dir: dir,
    }
}

fn limits(header: u64, body: u64, idle: u64, max_connections: usize) -> ListenerLimits {
    ListenerLimits {
        header_timeout: Duration::from_millis(header),
        body_timeout: Duration::from_millis(body),
        idle_timeout: Duration::from_millis(idle),
        tls_handshake_timeout: Duration::from_millis(header),
        max_connections,
    }
}

fn request(path: &str, connection: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: {connection}\r\n\r\n")
}

/// Reads one HTTP/1.1 response with a `Content-Length` body; `None` if the connection ends or `wait` passes first.
async fn read_response<S: AsyncRead + Unpin>(stream: &mut S, wait: Duration) -> Option<String> {
    let mut data = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if data.len() >= head_end + 4 + length {
                return Some(text);
            }
        }
        let mut buf = [0u8; 4096];
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(n)) => data.extend_from_slice(&buf[..n]),
        }
    }
}

/// How long until the peer closes the connection (reads and discards anything it sends); `None` if it stays open
/// for `wait`.
async fn time_until_closed<S: AsyncRead + Unpin>(
    stream: &mut S,
    wait: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

async fn discovery_status(addr: std::net::SocketAddr) -> (Option<String>, Duration) {
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(request(DISCOVERY, "close").as_bytes())
        .await
        .expect("write");
    let response = read_response(&mut stream, Duration::from_secs(5)).await;
    (response, start.elapsed())
}

fn is_ok(response: &Option<String>) -> bool {
    response
        .as_deref()
        .is_some_and(|r| r.starts_with("HTTP/1.1 200"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_connections_are_closed_after_header_timeout() {
    let server = spawn(limits(1000, 5000, 5000, 1000), None).await;
    let mut slow = Vec::new();
    for i in 0..200 {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        // Half of them send half a request head, the others nothing at all.
        if i % 2 == 0 {
            stream
                .write_all(b"GET /acme/oidc/.well-known/openid-configuration HTTP/1.1\r\nHost: loc")
                .await
                .expect("write");
        }
        slow.push(stream);
    }
    let opened = Instant::now();
    // A normal client beside them is answered at once.
    let (response, took) = discovery_status(server.addr).await;
    assert!(is_ok(&response), "{response:?}");
    assert!(
        took < Duration::from_millis(500),
        "normal client took {took:?}"
    );
    // Every slow connection is closed once the header timeout (1 s) has passed, not before.
    for stream in &mut slow {
        let closed = time_until_closed(stream, Duration::from_secs(4)).await;
        assert!(
            closed.is_some(),
            "a slow connection was still open after 4 s"
        );
    }
    let all_closed = opened.elapsed();
    assert!(
        all_closed >= Duration::from_millis(900) && all_closed < Duration::from_secs(3),
        "slow connections closed after {all_closed:?}"
    );
    let (response, _) = discovery_status(server.addr).await;
    assert!(is_ok(&response));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keepalive_closed_after_idle_timeout_not_the_header_timeout() {
    let server = spawn(limits(1000, 5000, 3000, 100), None).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(request(DISCOVERY, "keep-alive").as_bytes())
        .await
        .expect("write");
    assert!(is_ok(
        &read_response(&mut stream, Duration::from_secs(2)).await
    ));
    // Idle for longer than the header timeout, shorter than the idle timeout: still open and usable.
    assert_eq!(
        time_until_closed(&mut stream, Duration::from_millis(1800)).await,
        None,
        "an idle keep-alive connection was closed at the header timeout"
    );
    stream
        .write_all(request(DISCOVERY, "keep-alive").as_bytes())
        .await
        .expect("write");
    assert!(is_ok(
        &read_response(&mut stream, Duration::from_secs(2)).await
    ));
    // Then idle past the idle timeout (3 s): closed by the server.
    let closed = time_until_closed(&mut stream, Duration::from_secs(6)).await;
    let closed = closed.expect("the idle connection was not closed within 6 s");
    assert!(
        closed >= Duration::from_millis(2800) && closed < Duration::from_millis(4500),
        "closed after {closed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_that_starts_a_head_must_finish_it_within_the_header_timeout() {
    let server = spawn(limits(1000, 5000, 10_000, 100), None).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(request(DISCOVERY, "keep-alive").as_bytes())
        .await
        .expect("write");
    assert!(is_ok(
        &read_response(&mut stream, Duration::from_secs(2)).await
    ));
    stream
        .write_all(b"GET / HTTP/1.1\r\n")
        .await
        .expect("write");
    let closed = time_until_closed(&mut stream, Duration::from_secs(4)).await;
    let closed = closed.expect("a stalled second request head was not cut off");
    assert!(
        closed >= Duration::from_millis(900) && closed < Duration::from_millis(2500),
        "closed after {closed:?} (the idle timeout is 10 s)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_body_is_cut_off_after_body_timeout() {
    let server = spawn(limits(5000, 1000, 5000, 100), None).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(
            b"POST /acme/oidc/token HTTP/1.1\r\nHost: localhost\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type",
        )
        .await
        .expect("write");
    let start = Instant::now();
    let response = read_response(&mut stream, Duration::from_secs(4)).await;
    let took = start.elapsed();
    let response = response.expect("no answer to a stalled body");
    assert!(response.starts_with("HTTP/1.1 4"), "{response}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "answered after {took:?}"
    );
    assert!(
        time_until_closed(&mut stream, Duration::from_secs(2))
            .await
            .is_some(),
        "the connection with an unfinished body stayed open"
    );
    // Meanwhile and after, normal clients are served.
    let (response, took) = discovery_status(server.addr).await;
    assert!(is_ok(&response) && took < Duration::from_millis(500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_applies_back_pressure() {
    let server = spawn(limits(30_000, 30_000, 30_000, 3), None).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        stream
            .write_all(request(DISCOVERY, "keep-alive").as_bytes())
            .await
            .expect("write");
        assert!(is_ok(
            &read_response(&mut stream, Duration::from_secs(2)).await
        ));
        held.push(stream);
    }
    // A fourth connection is not accepted while three are open: the kernel queues it, nothing answers, nothing
    // closes it.
    let mut waiting = TcpStream::connect(server.addr).await.expect("connect");
    waiting
        .write_all(request(DISCOVERY, "close").as_bytes())
        .await
        .expect("write");
    let start = Instant::now();
    assert_eq!(
        read_response(&mut waiting, Duration::from_millis(800)).await,
        None,
        "a connection over the cap was served"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(750),
        "a connection over the cap was closed instead of waiting"
    );
    // One held connection closes: the waiting one is accepted and answered.
    drop(held.pop());
    let response = read_response(&mut waiting, Duration::from_secs(2)).await;
    assert!(is_ok(&response), "{response:?}");
    // The held ones are still served on their own connections.
    for stream in &mut held {
        stream
            .write_all(request(DISCOVERY, "keep-alive").as_bytes())
            .await
            .expect("write");
        assert!(is_ok(&read_response(stream, Duration::from_secs(2)).await));
    }
}

// ---- file-descriptor exhaustion, in a child `tessera serve` under prlimit ----------------------------------------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which is in parentheses and may hold spaces): state is field 3.
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields[11].parse().expect("utime");
    let stime: u64 = fields[12].parse().expect("stime");
    utime + stime
}

fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

struct ChildServer(Child);

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_config(dir: &Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("tessera.toml");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://localhost:{port}\"\n\
         [server.limits]\nheader_timeout_seconds = 60\nidle_timeout_seconds = 60\n\
         [store]\nkind = \"sqlite\"\npath = \"{}\"\n\
         [keys]\nmaster_key = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n",
        dir.join("tessera.db").display()
    );
    std::fs::write(&path, text).expect("config");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptor_exhaustion_does_not_spin() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let config = write_config(dir.path(), port);
    let log = std::fs::File::create(dir.path().join("server.log")).expect("log");
    let mut command = Command::new("prlimit");
    command
        .args(["--nofile=64:64", "--"])
        .arg(env!("CARGO_BIN_EXE_tessera"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log));
    for (name, _) in std::env::vars() {
        if name.starts_with("TESSERA__") {
            command.env_remove(name);
        }
    }
    let child = ChildServer(command.spawn().expect("prlimit and tessera"));
    let pid = child.0.id();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let started = Instant::now();
    let mut keep_alive = loop {
        if let Ok(stream) = TcpStream::connect(addr).await {
            break stream;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    keep_alive
        .write_all(request(DISCOVERY, "keep-alive").as_bytes())
        .await
        .expect("write");
    let first = read_response(&mut keep_alive, Duration::from_secs(5)).await;
    assert!(first.is_some(), "no answer before exhaustion");

    // More idle connections than the process has descriptors: it runs out and must not spin on accept.
    let mut hogs = Vec::new();
    for _ in 0..150 {
        hogs.push(
            TcpStream::connect(addr)
                .await
                .expect("connect (kernel backlog)"),
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ticks = clock_ticks_per_second();
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = cpu_ticks(pid) - before;
    assert!(
        used * 10 <= ticks,
        "the server used {used} of {ticks} clock ticks in a second at the descriptor limit"
    );
    let log_text = std::fs::read_to_string(dir.path().join("server.log")).expect("log");
    let reports = log_text.matches("cannot accept connections").count();
    assert!(
        (1..=2).contains(&reports),
        "descriptor exhaustion logged {reports} times:\n{log_text}"
    );
    // The connection that was already open is still served.
    keep_alive
        .write_all(request(DISCOVERY, "keep-alive").as_bytes())
        .await
        .expect("write");
    assert!(
        read_response(&mut keep_alive, Duration::from_secs(3))
            .await
            .is_some(),
        "an open connection was not served at the descriptor limit"
    );
    // Once the idle sockets go away, new connections are served again, promptly.
    drop(hogs);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (response, took) = discovery_status(addr).await;
    assert!(response.is_some(), "no answer after descriptors were freed");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

// ---- TLS ------------------------------------------------------------------------------------------------------

struct TestCert {
    cert_pem: String,
    key_pem: String,
    der: rustls::pki_types::CertificateDer<'static>,
}

fn test_cert() -> TestCert {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    TestCert {
        cert_pem: certified.cert.pem(),
        key_pem: certified.signing_key.serialize_pem(),
        der: certified.cert.der().clone(),
    }
}

fn acceptor_for(dir: &Path, cert: &TestCert) -> TlsAcceptor {
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, &cert.cert_pem).expect("cert file");
    std::fs::write(&key_path, &cert.key_pem).expect("key file");
    tessera_server::tls::acceptor(&cert_path, &key_path).expect("acceptor")
}

async fn tls_connect(
    addr: std::net::SocketAddr,
    cert: &TestCert,
) -> std::io::Result<impl AsyncRead + AsyncWrite + Unpin> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der.clone()).expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    connector.connect(name, tcp).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listener_serves_discovery() {
    let dir = tempfile::tempdir().expect("dir");
    let cert = test_cert();
    let server = spawn(
        limits(2000, 2000, 2000, 100),
        Some(acceptor_for(dir.path(), &cert)),
    )
    .await;
    let mut stream = tls_connect(server.addr, &cert)
        .await
        .expect("TLS handshake");
    stream
        .write_all(request(DISCOVERY, "close").as_bytes())
        .await
        .expect("write");
    let response = read_response(&mut stream, Duration::from_secs(3)).await;
    assert!(is_ok(&response), "{response:?}");
    let issuer = format!(
        "\"issuer\":\"https://localhost:{}/acme/oidc\"",
        server.addr.port()
    );
    assert!(
        response.as_deref().is_some_and(|r| r.contains(&issuer)),
        "{response:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_the_tls_port_fails_cleanly() {
    let dir = tempfile::tempdir().expect("dir");
    let cert = test_cert();
    let server = spawn(
        limits(2000, 2000, 2000, 100),
        Some(acceptor_for(dir.path(), &cert)),
    )
    .await;
    let mut plain = TcpStream::connect(server.addr).await.expect("connect");
    plain
        .write_all(request(DISCOVERY, "close").as_bytes())
        .await
        .expect("write");
    let start = Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(2), plain.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the plain connection was left open");
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP was answered on the TLS port"
    );
    // The listener is unharmed.
    let mut stream = tls_connect(server.addr, &cert)
        .await
        .expect("TLS handshake");
    stream
        .write_all(request(DISCOVERY, "close").as_bytes())
        .await
        .expect("write");
    assert!(is_ok(
        &read_response(&mut stream, Duration::from_secs(3)).await
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_handshake_timeout_closes_silent_connections() {
    let dir = tempfile::tempdir().expect("dir");
    let cert = test_cert();
    let server = spawn(
        limits(1000, 2000, 5000, 100),
        Some(acceptor_for(dir.path(), &cert)),
    )
    .await;
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let closed = time_until_closed(&mut silent, Duration::from_secs(4)).await;
    let closed = closed.expect("a connection that never started its handshake stayed open");
    assert!(
        closed >= Duration::from_millis(900) && closed < Duration::from_millis(2500),
        "closed after {closed:?}"
    );
}

#[test]
fn tls_files_that_are_missing_unreadable_or_mismatched_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().expect("dir");
    let one = test_cert();
    let other = test_cert();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let cert = write("cert.pem", &one.cert_pem);
    let key = write("key.pem", &one.key_pem);
    let other_key = write("other-key.pem", &other.key_pem);
    let garbage = write("garbage.pem", "not PEM at all\n");
    let missing = dir.path().join("missing.pem");
    let message = |cert: &Path, key: &Path| match tessera_server::tls::acceptor(cert, key) {
        Ok(_) => "accepted".to_owned(),
        Err(e) => e.to_string(),
    };
    assert_eq!(message(&cert, &key), "accepted");
    let m = message(&missing, &key);
    assert!(m.starts_with("server.tls.cert: cannot read"), "{m}");
    let m = message(&garbage, &key);
    assert!(
        m.starts_with("server.tls.cert:") && m.contains("no PEM certificate"),
        "{m}"
    );
    let m = message(&cert, &missing);
    assert!(m.starts_with("server.tls.key: cannot read"), "{m}");
    let m = message(&cert, &garbage);
    assert!(
        m.starts_with("server.tls.key:") && m.contains("no PEM private key"),
        "{m}"
    );
    // A key file holding only a certificate has no key either.
    let m = message(&cert, &cert);
    assert!(m.starts_with("server.tls.key:"), "{m}");
    let m = message(&cert, &other_key);
    assert!(
        m.starts_with("server.tls.key:") && m.contains("does not belong to the certificate"),
        "{m}"
    );
}
