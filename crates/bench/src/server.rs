//! The server under test: a generated configuration in a temporary directory, a tenant and a confidential client
//! created through the same operations as `tessera idp`, and `tessera serve` (the production binary, not this one)
//! started as a child process pinned to CPU 0.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tessera_core::{Clock, Secret, SystemClock, TenantId};
use tessera_oidc::keys::{MasterKey, SigningAlg};
use tessera_service::clients::{self, ClientKind, LocalhostHttp, NewClient};
use tessera_service::tenants::{self, NewTenant};

use crate::error::BenchError;
use tessera_server::app;
use tessera_server::config::{StoreConfig, generate_master_key};

/// The redirect URI of the bench client (never followed: the code is read from the `Location` header).
pub const REDIRECT_URI: &str = "https://rp.bench.invalid/cb";

/// How long the server may take to accept its first connection before the bench gives up.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Which store the server under test uses.
#[derive(Debug, Clone)]
pub enum BenchStore {
    /// A durable SQLite file in the temporary directory (the default store settings).
    Sqlite,
    /// A PostgreSQL database (the tenant gets a fresh random id, so runs never collide).
    Postgres {
        /// The connection URL.
        url: String,
    },
}

/// What the load generator needs to know about the prepared tenant.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://localhost:PORT` (the tenant's origin and the public URL).
    pub base: String,
    /// The loopback address the server listens on.
    pub addr: SocketAddr,
    /// The tenant id.
    pub tenant: String,
    /// `{base}/{tenant}/oidc`.
    pub issuer: String,
    /// The confidential client (`client_secret_basic`).
    pub client_id: String,
    /// Its secret (`Debug` shows `[redacted]`).
    pub client_secret: Secret,
}

/// A running server under test; killed when dropped.
pub struct ServerUnderTest {
    child: Child,
    /// Its process id (also the id `taskset` had: it execs the server).
    pub pid: u32,
    /// Spawn to first accepted TCP connection.
    pub ready: Duration,
    /// The prepared tenant and client.
    pub target: Target,
    store: StoreConfig,
    master_key: String,
    _dir: tempfile::TempDir,
}

impl ServerUnderTest {
    /// Prepares a configuration, tenant and client whose ID tokens use `alg`, then starts `tessera serve` (the
    /// binary at `tessera`) pinned to CPU `cpu` and waits for it to accept a connection.
    pub async fn start(
        tessera: &Path,
        store: &BenchStore,
        alg: SigningAlg,
        cpu: usize,
    ) -> Result<ServerUnderTest, BenchError> {
        let dir = tempfile::Builder::new()
            .prefix("tessera-bench-")
            .tempdir()
            .map_err(|e| BenchError::io("create a temporary directory", e))?;
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let base = format!("http://localhost:{port}");
        let master_b64 = generate_master_key()?;
        let (store_config, tenant_id) = match store {
            BenchStore::Sqlite => (
                StoreConfig::Sqlite {
                    path: dir.path().join("tessera.db"),
                },
                "bench".to_owned(),
            ),
            BenchStore::Postgres { url } => (
                StoreConfig::Postgres {
                    url: url.clone(),
                    max_connections: 8,
                },
                format!("bench{}", random_hex(4)?),
            ),
        };
        let config_path = dir.path().join("tessera.toml");
        write_config(&config_path, addr, &base, &store_config, &master_b64)?;

        // Tenant and client, through the operations `tessera idp` uses; the store is closed before the server starts.
        let (client_id, client_secret) = {
            let store = app::open_store(&store_config).await?;
            let key = tessera_server::config::decode_master_key(&master_b64, "keys.master_key")?;
            let master =
                MasterKey::from_bytes(&key).map_err(|e| tessera_server::ServerError::Invalid {
                    key: "keys.master_key",
                    message: e.to_string(),
                })?;
            let tenant = TenantId::parse(&tenant_id)
                .map_err(|e| BenchError::Failed(format!("tenant id {tenant_id}: {e}")))?;
            tenants::create_tenant(
                store.as_ref(),
                &master,
                NewTenant::parse(
                    tenant.clone(),
                    "localhost",
                    std::slice::from_ref(&base),
                    Some("Bench".into()),
                )?,
                SystemClock.now(),
            )
            .await?;
            let (client, secret) = clients::create_client(
                store.as_ref(),
                NewClient {
                    tenant,
                    redirect_uris: vec![clients::parse_redirect_uri(
                        REDIRECT_URI,
                        LocalhostHttp::Refuse,
                    )?],
                    post_logout_redirect_uris: Vec::new(),
                    kind: ClientKind::ConfidentialBasic,
                    id_token_alg: alg,
                    name: Some("Bench RP".into()),
                },
                SystemClock.now(),
            )
            .await?;
            let secret = secret.ok_or_else(|| {
                BenchError::Failed("the confidential client has no secret".into())
            })?;
            (client.client_id.to_string(), secret)
        };

        let log = std::fs::File::create(dir.path().join("server.log"))
            .map_err(|e| BenchError::io("create the server log", e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| BenchError::io("duplicate the server log", e))?;
        let started = Instant::now();
        let child = Command::new("taskset")
            .arg("-c")
            .arg(cpu.to_string())
            .arg(tessera)
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .env_remove("TESSERA_CONFIG")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| BenchError::io("start `taskset -c 0 tessera serve`", e))?;
        let pid = child.id();
        let mut server = ServerUnderTest {
            child,
            pid,
            ready: Duration::ZERO,
            target: Target {
                issuer: format!("{base}/{tenant_id}/oidc"),
                base,
                addr,
                tenant: tenant_id,
                client_id,
                client_secret,
            },
            store: store_config,
            master_key: master_b64,
            _dir: dir,
        };
        server.ready = server.wait_ready(started)?;
        Ok(server)
    }

    /// Configures the identity broker of the running server for the federated path
    /// ([`crate::federated::prepare_broker`]), through a second connection to its store that is closed afterwards.
    pub async fn prepare_broker(&self) -> Result<crate::federated::BrokerTarget, BenchError> {
        let store = app::open_store(&self.store).await?;
        let key = tessera_server::config::decode_master_key(&self.master_key, "keys.master_key")?;
        let master =
            MasterKey::from_bytes(&key).map_err(|e| tessera_server::ServerError::Invalid {
                key: "keys.master_key",
                message: e.to_string(),
            })?;
        crate::federated::prepare_broker(store.as_ref(), &master, &self.target).await
    }

    /// Polls the port until a connection is accepted; fails if the child exits or the timeout passes.
    fn wait_ready(&mut self, started: Instant) -> Result<Duration, BenchError> {
        loop {
            if TcpStream::connect(self.target.addr).is_ok() {
                return Ok(started.elapsed());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(BenchError::Failed(format!(
                    "the server exited before accepting connections ({status}); its log: {}",
                    self.log_tail()
                )));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(BenchError::Failed(format!(
                    "the server did not accept connections within {START_TIMEOUT:?}; its log: {}",
                    self.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_micros(250));
        }
    }

    /// The last lines of the server's log (for error messages).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    fn log_path(&self) -> PathBuf {
        self._dir.path().join("server.log")
    }

    /// Asks the server to stop (SIGTERM through `kill`), then kills it if it has not stopped within 5 s.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerUnderTest {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The generated `tessera.toml`: durable default store settings, quiet logs, and client-address rate limits raised
/// so that one load generator on loopback is not throttled (every request comes from 127.0.0.1).
pub fn config_toml(addr: SocketAddr, base: &str, store: &StoreConfig, master_key: &str) -> String {
    let store = match store {
        StoreConfig::Sqlite { path } => format!(
            "kind = \"sqlite\"\npath = {}\n",
            toml_string(&path.to_string_lossy())
        ),
        StoreConfig::Postgres {
            url,
            max_connections,
        } => format!(
            "kind = \"postgres\"\nurl = {}\nmax_connections = {max_connections}\n",
            toml_string(url)
        ),
    };
    format!(
        "[server]\nlisten = \"{addr}\"\npublic_url = \"{base}\"\n\n[store]\n{store}\n[keys]\nmaster_key = \"{master_key}\"\n\n\
         [security]\nchallenge_rate_per_minute = 1000000000\nchallenge_burst = 1000000\n\
         token_rate_per_minute = 1000000000\ntoken_burst = 1000000\n\n[log]\nlevel = \"warn\"\n"
    )
}

fn write_config(
    path: &Path,
    addr: SocketAddr,
    base: &str,
    store: &StoreConfig,
    master_key: &str,
) -> Result<(), BenchError> {
    let mut file = std::fs::File::create(path)
        .map_err(|e| BenchError::io("write the bench configuration", e))?;
    file.write_all(config_toml(addr, base, store, master_key).as_bytes())
        .map_err(|e| BenchError::io("write the bench configuration", e))
}

/// A TOML basic string with `"` and `\` escaped.
fn toml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<u16, BenchError> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| BenchError::io("find a free port", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| BenchError::io("find a free port", e))
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> Result<String, BenchError> {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| BenchError::Failed("random generation failed".into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_the_target_does_not_show_the_client_secret() {
        let target = Target {
            base: "http://localhost:18099".into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 18099)),
            tenant: "bench".into(),
            issuer: "http://localhost:18099/bench/oidc".into(),
            client_id: "client-1".into(),
            client_secret: Secret::new("client-SECRET"),
        };
        let shown = format!("{target:?}");
        assert!(!shown.contains("client-SECRET"), "{shown}");
        assert!(shown.contains("client-1"), "{shown}");
    }

    #[test]
    fn generated_config_is_accepted_by_the_server_configuration() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 18080));
        let store = StoreConfig::Sqlite {
            path: PathBuf::from("/tmp/we \"ird\\dir/tessera.db"),
        };
        let key = generate_master_key().expect("key");
        let text = config_toml(addr, "http://localhost:18080", &store, &key);
        let figment = figment::Figment::from(figment::providers::Serialized::defaults(
            tessera_server::config::RawConfig::default(),
        ))
        .merge(<figment::providers::Toml as figment::providers::Format>::string(&text));
        let config = tessera_server::config::Config::from_figment(figment).expect("valid");
        assert_eq!(config.listen, addr);
        assert_eq!(config.store, store);
        assert_eq!(config.log_level, "warn");
        // One load generator on 127.0.0.1 must not be throttled by the per-address limits.
        assert!(text.contains("challenge_rate_per_minute = 1000000000"));
        assert!(text.contains("token_rate_per_minute = 1000000000"));
    }

    #[test]
    fn generated_postgres_config_keeps_the_url() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 18081));
        let store = StoreConfig::Postgres {
            url: "postgres://postgres@127.0.0.1:5432/test".into(),
            max_connections: 8,
        };
        let key = generate_master_key().expect("key");
        let text = config_toml(addr, "http://localhost:18081", &store, &key);
        let figment = figment::Figment::from(figment::providers::Serialized::defaults(
            tessera_server::config::RawConfig::default(),
        ))
        .merge(<figment::providers::Toml as figment::providers::Format>::string(&text));
        let config = tessera_server::config::Config::from_figment(figment).expect("valid");
        assert_eq!(config.store, store);
    }

    #[test]
    fn random_hex_has_two_digits_per_byte() {
        let hex = random_hex(4).expect("random");
        assert_eq!(hex.len(), 8);
        assert!(
            hex.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }
}
