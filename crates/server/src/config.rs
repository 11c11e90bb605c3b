//! Configuration: a TOML file plus `TESSERA__SECTION__KEY` environment variables, validated once at start.
//!
//! A bad configuration refuses to start with a message naming the key (`server.public_url: ...`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use tessera_http::{PublicUrl, RateRule, SecuritySettings};

use crate::error::ServerError;
use crate::listener::ListenerLimits;
use crate::trust::{MdsFiles, TrustFiles};
use rustls_pki_types::CertificateDer;
use tessera_http::state::AttestationSettings;
use tokio_rustls::TlsAcceptor;

/// The configuration as written (all sections).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `[server]`
    #[serde(default)]
    pub server: ServerSection,
    /// `[store]`
    #[serde(default)]
    pub store: StoreSection,
    /// `[keys]`
    #[serde(default)]
    pub keys: KeysSection,
    /// `[security]`
    #[serde(default)]
    pub security: SecuritySection,
    /// `[log]`
    #[serde(default)]
    pub log: LogSection,
    /// `[webauthn]`
    #[serde(default)]
    pub webauthn: WebauthnSection,
    /// `[metrics]`
    #[serde(default)]
    pub metrics: MetricsSection,
    /// `[broker]`
    #[serde(default)]
    pub broker: BrokerSection,
}

/// `[broker]`: how the identity broker reaches identity providers.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BrokerSection {
    /// PEM root certificates trusted, besides the Mozilla roots, for the broker's calls to identity providers
    /// (providers on a private PKI).
    pub trust_roots_file: Option<PathBuf>,
    /// `[broker.mail]`: how the broker sends local accounts' one-time codes. Without it, local sign-up shows "We
    /// could not send the code".
    pub mail: Option<MailSection>,
}

/// `[broker.mail]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSection {
    /// The `From` address (`Contoso <no-reply@contoso.example>`).
    pub from: String,
    /// `smtp` or `directory`.
    pub transport: String,
    /// `directory`: where each message is written as an `.eml` file.
    pub directory: Option<PathBuf>,
    /// `smtp`: the server's host name.
    pub host: Option<String>,
    /// `smtp`: the port (default 587 with `starttls`, 465 with `tls`, 25 with `none`).
    pub port: Option<u16>,
    /// `smtp`: `starttls` (default), `tls` (implicit TLS) or `none` (loopback hosts only).
    pub security: Option<String>,
    /// `smtp`: the user name, if the server wants credentials.
    pub username: Option<String>,
    /// `smtp`: the password (better from `TESSERA__BROKER__MAIL__PASSWORD`).
    pub password: Option<String>,
}

/// `[broker.mail]` validated into the mailer's settings (the SMTP roots are `[broker] trust_roots_file`'s).
fn mail_settings(
    section: &MailSection,
    roots: &[CertificateDer<'static>],
) -> Result<tessera_service::broker::mail::MailSettings, ServerError> {
    use tessera_service::broker::mail::{MailSettings, MailTransport, SmtpSecurity, SmtpSettings};
    let invalid = |key: &'static str, message: String| ServerError::Invalid { key, message };
    let transport = match section.transport.as_str() {
        "directory" => match &section.directory {
            Some(dir) if !dir.as_os_str().is_empty() => MailTransport::Directory(dir.clone()),
            _ => {
                return Err(ServerError::Missing {
                    key: "broker.mail.directory",
                });
            }
        },
        "smtp" => {
            let host = section
                .host
                .clone()
                .filter(|h| !h.trim().is_empty())
                .ok_or(ServerError::Missing {
                    key: "broker.mail.host",
                })?;
            let security = match section.security.as_deref().unwrap_or("starttls") {
                "starttls" => SmtpSecurity::StartTls,
                "tls" => SmtpSecurity::Tls,
                "none" => SmtpSecurity::None,
                other => {
                    return Err(invalid(
                        "broker.mail.security",
                        format!("{other:?} is not one of \"starttls\", \"tls\", \"none\""),
                    ));
                }
            };
            let port = section.port.unwrap_or(match security {
                SmtpSecurity::StartTls => 587,
                SmtpSecurity::Tls => 465,
                SmtpSecurity::None => 25,
            });
            MailTransport::Smtp(SmtpSettings {
                host,
                port,
                security,
                username: section.username.clone(),
                password: section
                    .password
                    .clone()
                    .map(tessera_core::secret::Secret::new),
                extra_roots_der: roots.iter().map(|r| r.as_ref().to_vec()).collect(),
            })
        }
        other => {
            return Err(invalid(
                "broker.mail.transport",
                format!("{other:?} is not one of \"smtp\", \"directory\""),
            ));
        }
    };
    let settings = MailSettings {
        from: section.from.clone(),
        transport,
    };
    // Checks the rest (the From address, plain SMTP off loopback) now, not at the first sign-up.
    tessera_service::broker::mail::Mailer::new(&settings)
        .map_err(|e| invalid("broker.mail", e.to_string()))?;
    Ok(settings)
}

/// `[metrics]`: Prometheus metrics, off by default, served on their own listener (never on the public port).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Record metrics and serve them at `http://{listen}/metrics`.
    pub enabled: bool,
    /// The metrics listener's socket address.
    pub listen: String,
}

impl Default for MetricsSection {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:9464".into(),
        }
    }
}

/// `[webauthn]`: what registrations' attestations are judged against (tenants choose how much they demand).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WebauthnSection {
    /// PEM file of attestation trust anchors (root or intermediate certificates).
    pub trust_anchors_file: Option<PathBuf>,
    /// A FIDO MDS3 metadata BLOB (JWS) file; needs `mds_root_file`.
    pub mds_blob_file: Option<PathBuf>,
    /// The root certificate (PEM or DER) the BLOB's signing chain must reach.
    pub mds_root_file: Option<PathBuf>,
}

/// `[server]`: where to listen and how the service is reached.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Socket address to bind, e.g. `0.0.0.0:8080`.
    pub listen: String,
    /// The public base URL (`https://id.example.com`); issuers are `{public_url}/{tenant}/oidc`.
    pub public_url: Option<String>,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
    /// `[server.limits]`: timeouts and the connection cap.
    #[serde(default)]
    pub limits: LimitsSection,
    /// `[server.tls]`: listen with TLS.
    #[serde(default)]
    pub tls: Option<TlsSection>,
    /// The roles this server serves (default all three): `authenticator`, `broker`, `admin`.
    #[serde(default = "all_roles")]
    pub roles: Vec<RoleName>,
}

/// A role a server can serve (`[server] roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    /// The authenticator service (passkeys, its OpenID provider).
    Authenticator,
    /// The identity broker (user flows).
    Broker,
    /// The admin API, portal and token viewer.
    Admin,
}

fn all_roles() -> Vec<RoleName> {
    vec![RoleName::Authenticator, RoleName::Broker, RoleName::Admin]
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            trusted_proxies: Vec::new(),
            limits: LimitsSection::default(),
            tls: None,
            roles: all_roles(),
        }
    }
}

/// `[server.limits]`: what slow, idle or numerous clients may hold ([`ListenerLimits`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Seconds allowed for a complete request head.
    pub header_timeout_seconds: u64,
    /// Seconds allowed for a complete request body, from its head.
    pub body_timeout_seconds: u64,
    /// Seconds a kept-alive connection may stay idle.
    pub idle_timeout_seconds: u64,
    /// Seconds allowed for a TLS handshake.
    pub tls_handshake_timeout_seconds: u64,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let d = ListenerLimits::default();
        Self {
            header_timeout_seconds: d.header_timeout.as_secs(),
            body_timeout_seconds: d.body_timeout.as_secs(),
            idle_timeout_seconds: d.idle_timeout.as_secs(),
            tls_handshake_timeout_seconds: d.tls_handshake_timeout.as_secs(),
            max_connections: d.max_connections,
        }
    }
}

/// `[server.tls]`: PEM files of the certificate chain and its private key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// `[store]`: which database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `sqlite` or `postgres`.
    pub kind: String,
    /// SQLite database file.
    pub path: Option<PathBuf>,
    /// PostgreSQL URL.
    pub url: Option<String>,
    /// Pool size.
    pub max_connections: u32,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            kind: "sqlite".into(),
            path: None,
            url: None,
            max_connections: 8,
        }
    }
}

/// `[keys]`: the master key that encrypts signing keys at rest.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct KeysSection {
    /// Base64 of 32 random bytes.
    pub master_key: Option<String>,
    /// A file holding the base64 master key.
    pub master_key_file: Option<PathBuf>,
}

/// `[security]`: limits and lifetimes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySection {
    /// Largest request body, in bytes.
    pub body_limit: usize,
    /// WebAuthn challenges per client address per minute.
    pub challenge_rate_per_minute: u32,
    /// Burst of challenge requests.
    pub challenge_burst: u32,
    /// Token requests per client address per minute.
    pub token_rate_per_minute: u32,
    /// Burst of token requests.
    pub token_burst: u32,
    /// Browser session lifetime, in seconds.
    pub session_ttl_seconds: u64,
    /// Access and ID token lifetime, in seconds.
    pub access_token_ttl_seconds: u64,
    /// Refresh token lifetime, in seconds.
    pub refresh_token_ttl_seconds: u64,
    /// How recent a user verification must be to add or delete a passkey, in seconds.
    pub fresh_verification_seconds: u64,
}

impl Default for SecuritySection {
    fn default() -> Self {
        let d = SecuritySettings::default();
        Self {
            body_limit: d.body_limit,
            challenge_rate_per_minute: 60,
            challenge_burst: 20,
            token_rate_per_minute: 120,
            token_burst: 30,
            session_ttl_seconds: d.session_ttl.as_secs(),
            access_token_ttl_seconds: d.access_token_ttl.as_secs(),
            refresh_token_ttl_seconds: d.refresh_token_ttl.as_secs(),
            fresh_verification_seconds: d.fresh_verification.as_secs(),
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// A `tracing` filter, e.g. `info` or `tessera_http=debug,info`.
    pub level: String,
    /// `text` (one line per event, colours only on a terminal) or `json` (one JSON object per line, for collectors).
    pub format: String,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

/// How log lines are written (`log.format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines; ANSI colours only when stdout is a terminal.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `message`, the event's fields, and `span` (the request's
    /// `request_id`, `method`, `path`).
    Json,
}

/// Which database, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// An SQLite file.
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A PostgreSQL server.
    Postgres {
        /// The connection URL.
        url: String,
        /// Pool size.
        max_connections: u32,
    },
}

/// The validated configuration the server runs with.
#[derive(Clone)]
pub struct Config {
    /// Address to bind.
    pub listen: SocketAddr,
    /// Public base URL.
    pub public_url: PublicUrl,
    /// The database.
    pub store: StoreConfig,
    /// The 32-byte master key.
    pub master_key: [u8; 32],
    /// Security settings for the HTTP layer.
    pub security: SecuritySettings,
    /// The log filter.
    pub log_level: String,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// Where to serve `/metrics`, when `[metrics] enabled`.
    pub metrics: Option<SocketAddr>,
    /// The `[webauthn]` trust files.
    pub trust_files: TrustFiles,
    /// Trust anchors and FIDO metadata, loaded and verified from `trust_files`.
    pub attestation: AttestationSettings,
    /// The listener's timeouts and connection cap.
    pub limits: ListenerLimits,
    /// The TLS acceptor, when `[server.tls]` is set.
    pub tls: Option<TlsAcceptor>,
    /// The roles served.
    pub roles: tessera_http::Roles,
    /// Root certificates the broker trusts besides the Mozilla roots (`[broker] trust_roots_file`).
    pub upstream_roots: Vec<CertificateDer<'static>>,
    /// The broker's mail (`[broker.mail]`).
    pub mail: Option<tessera_service::broker::mail::MailSettings>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("store", &self.store)
            .field("master_key", &"[redacted]")
            .field("limits", &self.limits)
            .field("tls", &self.tls.is_some())
            .field("roles", &self.roles)
            .field("upstream_roots", &self.upstream_roots.len())
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Reads `file` (if given), then `TESSERA__SECTION__KEY` variables over it, and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Self, ServerError> {
        let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ServerError::Parse(format!(
                    "configuration file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__").lowercase(true));
        Self::from_figment(figment).map_err(name_the_variable)
    }

    /// Extracts and validates a configuration from any figment (tests build one from strings).
    pub fn from_figment(figment: Figment) -> Result<Self, ServerError> {
        let raw: RawConfig = figment
            .extract()
            .map_err(|e| ServerError::Parse(describe_figment_error(&e)))?;
        Self::validate(raw)
    }

    /// Validates a raw configuration.
    pub fn validate(raw: RawConfig) -> Result<Self, ServerError> {
        let listen: SocketAddr = raw
            .server
            .listen
            .parse()
            .map_err(|_| ServerError::Invalid {
                key: "server.listen",
                message: format!(
                    "{:?} is not a socket address like 0.0.0.0:8080",
                    raw.server.listen
                ),
            })?;
        let public_url = match &raw.server.public_url {
            Some(url) => PublicUrl::parse(url).map_err(|e| ServerError::Invalid {
                key: "server.public_url",
                message: e.to_string(),
            })?,
            None => {
                return Err(ServerError::Missing {
                    key: "server.public_url",
                });
            }
        };
        let limits = validate_limits(&raw.server.limits)?;
        let tls = match &raw.server.tls {
            Some(files) => Some(crate::tls::acceptor(&files.cert, &files.key)?),
            None => None,
        };
        let upstream_roots = match &raw.broker.trust_roots_file {
            Some(file) => crate::tls::upstream_roots(file)?,
            None => Vec::new(),
        };
        let mail = match &raw.broker.mail {
            Some(section) => Some(mail_settings(section, &upstream_roots)?),
            None => None,
        };
        let mut trusted_proxies = Vec::new();
        for entry in &raw.server.trusted_proxies {
            let net = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| ServerError::Invalid {
                    key: "server.trusted_proxies",
                    message: format!("{entry:?} is not an IP address or CIDR range"),
                })?;
            trusted_proxies.push(net);
        }
        let store = match raw.store.kind.as_str() {
            "sqlite" => match raw.store.path {
                Some(path) if !path.as_os_str().is_empty() => StoreConfig::Sqlite { path },
                _ => return Err(ServerError::Missing { key: "store.path" }),
            },
            "postgres" => {
                let url = raw
                    .store
                    .url
                    .filter(|u| !u.is_empty())
                    .ok_or(ServerError::Missing { key: "store.url" })?;
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err(ServerError::Invalid {
                        key: "store.url",
                        message: "must start with postgres:// or postgresql://".into(),
                    });
                }
                if raw.store.max_connections == 0 {
                    return Err(ServerError::Invalid {
                        key: "store.max_connections",
                        message: "must be at least 1".into(),
                    });
                }
                StoreConfig::Postgres {
                    url,
                    max_connections: raw.store.max_connections,
                }
            }
            other => {
                return Err(ServerError::Invalid {
                    key: "store.kind",
                    message: format!("{other:?} is not one of \"sqlite\", \"postgres\""),
                });
            }
        };
        let master_key = match (&raw.keys.master_key, &raw.keys.master_key_file) {
            (Some(_), Some(_)) => {
                return Err(ServerError::Invalid {
                    key: "keys.master_key",
                    message: "set either keys.master_key or keys.master_key_file, not both".into(),
                });
            }
            (Some(text), None) => decode_master_key(text, "keys.master_key")?,
            (None, Some(path)) => {
                let text =
                    std::fs::read_to_string(path).map_err(|e| ServerError::MasterKeyFile {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                decode_master_key(&text, "keys.master_key_file")?
            }
            (None, None) => {
                return Err(ServerError::Invalid {
                    key: "keys.master_key",
                    message: MASTER_KEY_HOWTO.into(),
                });
            }
        };
        let s = &raw.security;
        if s.body_limit < 1024 || s.body_limit > 16 * 1024 * 1024 {
            return Err(ServerError::Invalid {
                key: "security.body_limit",
                message: "must be between 1024 and 16777216 bytes".into(),
            });
        }
        let positive = |value: u64, key: &'static str| {
            if value == 0 {
                Err(ServerError::Invalid {
                    key,
                    message: "must be greater than 0".into(),
                })
            } else {
                Ok(())
            }
        };
        positive(
            u64::from(s.challenge_rate_per_minute),
            "security.challenge_rate_per_minute",
        )?;
        positive(u64::from(s.challenge_burst), "security.challenge_burst")?;
        positive(
            u64::from(s.token_rate_per_minute),
            "security.token_rate_per_minute",
        )?;
        positive(u64::from(s.token_burst), "security.token_burst")?;
        positive(s.session_ttl_seconds, "security.session_ttl_seconds")?;
        positive(
            s.access_token_ttl_seconds,
            "security.access_token_ttl_seconds",
        )?;
        positive(
            s.refresh_token_ttl_seconds,
            "security.refresh_token_ttl_seconds",
        )?;
        if s.refresh_token_ttl_seconds
            > tessera_store::MAX_GRANT_LIFETIME
                .whole_seconds()
                .unsigned_abs()
        {
            // Revoked passkeys are remembered for a bounded time: no grant may outlive that.
            return Err(ServerError::Invalid {
                key: "security.refresh_token_ttl_seconds",
                message: "must be at most 31622400 (366 days)".into(),
            });
        }
        positive(
            s.fresh_verification_seconds,
            "security.fresh_verification_seconds",
        )?;
        if s.fresh_verification_seconds > 24 * 3600 {
            return Err(ServerError::Invalid {
                key: "security.fresh_verification_seconds",
                message: "must be at most 86400 (a day)".into(),
            });
        }
        let security = SecuritySettings {
            trusted_proxies,
            body_limit: s.body_limit,
            challenge_rate: RateRule::per_minute(s.challenge_rate_per_minute, s.challenge_burst),
            token_rate: RateRule::per_minute(s.token_rate_per_minute, s.token_burst),
            session_ttl: Duration::from_secs(s.session_ttl_seconds),
            access_token_ttl: Duration::from_secs(s.access_token_ttl_seconds),
            refresh_token_ttl: Duration::from_secs(s.refresh_token_ttl_seconds),
            fresh_verification: Duration::from_secs(s.fresh_verification_seconds),
            ..SecuritySettings::default()
        };
        let w = &raw.webauthn;
        let nonempty = |p: &Option<PathBuf>| p.clone().filter(|p| !p.as_os_str().is_empty());
        let mds = match (nonempty(&w.mds_blob_file), nonempty(&w.mds_root_file)) {
            (Some(blob), Some(root)) => Some(MdsFiles { blob, root }),
            (Some(_), None) => {
                return Err(ServerError::Missing {
                    key: "webauthn.mds_root_file",
                });
            }
            (None, Some(_)) => {
                return Err(ServerError::Missing {
                    key: "webauthn.mds_blob_file",
                });
            }
            (None, None) => None,
        };
        let trust_files = TrustFiles {
            trust_anchors_file: nonempty(&w.trust_anchors_file),
            mds,
        };
        let attestation = crate::trust::load(&trust_files, time::OffsetDateTime::now_utc())?;
        if tracing_subscriber::EnvFilter::try_new(&raw.log.level).is_err() {
            return Err(ServerError::Invalid {
                key: "log.level",
                message: format!("{:?} is not a log filter", raw.log.level),
            });
        }
        let log_format = match raw.log.format.trim().to_ascii_lowercase().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => {
                return Err(ServerError::Invalid {
                    key: "log.format",
                    message: format!("{:?} is not one of \"text\", \"json\"", raw.log.format),
                });
            }
        };
        let metrics = if raw.metrics.enabled {
            let addr: SocketAddr =
                raw.metrics
                    .listen
                    .parse()
                    .map_err(|_| ServerError::Invalid {
                        key: "metrics.listen",
                        message: format!(
                            "{:?} is not a socket address like 127.0.0.1:9464",
                            raw.metrics.listen
                        ),
                    })?;
            if addr == listen || (addr.port() == listen.port() && addr.port() != 0) {
                return Err(ServerError::Invalid {
                    key: "metrics.listen",
                    message: format!(
                        "{addr} is the server's own port: metrics get a listener of their own, e.g. 127.0.0.1:9464"
                    ),
                });
            }
            Some(addr)
        } else {
            None
        };
        if raw.server.roles.is_empty() {
            return Err(ServerError::Invalid {
                key: "server.roles",
                message: "name at least one of \"authenticator\", \"broker\", \"admin\"".into(),
            });
        }
        let roles = tessera_http::Roles {
            authenticator: raw.server.roles.contains(&RoleName::Authenticator),
            broker: raw.server.roles.contains(&RoleName::Broker),
            admin: raw.server.roles.contains(&RoleName::Admin),
        };
        Ok(Self {
            roles,
            metrics,
            listen,
            public_url,
            store,
            master_key,
            security,
            log_level: raw.log.level,
            log_format,
            trust_files,
            attestation,
            limits,
            tls,
            upstream_roots,
            mail,
        })
    }
}

fn validate_limits(l: &LimitsSection) -> Result<ListenerLimits, ServerError> {
    let seconds = |value: u64, key: &'static str| {
        if (1..=3600).contains(&value) {
            Ok(Duration::from_secs(value))
        } else {
            Err(ServerError::Invalid {
                key,
                message: "must be between 1 and 3600 seconds".into(),
            })
        }
    };
    if l.max_connections == 0 || l.max_connections > 1_000_000 {
        return Err(ServerError::Invalid {
            key: "server.limits.max_connections",
            message: "must be between 1 and 1000000".into(),
        });
    }
    Ok(ListenerLimits {
        header_timeout: seconds(
            l.header_timeout_seconds,
            "server.limits.header_timeout_seconds",
        )?,
        body_timeout: seconds(l.body_timeout_seconds, "server.limits.body_timeout_seconds")?,
        idle_timeout: seconds(l.idle_timeout_seconds, "server.limits.idle_timeout_seconds")?,
        tls_handshake_timeout: seconds(
            l.tls_handshake_timeout_seconds,
            "server.limits.tls_handshake_timeout_seconds",
        )?,
        max_connections: l.max_connections,
    })
}

/// Decodes a base64 master key (32 bytes); errors name `key`.
pub fn decode_master_key(text: &str, key: &'static str) -> Result<[u8; 32], ServerError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| ServerError::Invalid {
            key,
            message: "is not valid base64".into(),
        })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| ServerError::Invalid {
        key,
        message: format!("must decode to 32 bytes, got {}", bytes.len()),
    })
}

/// The prefix of the environment variables that override the file (`TESSERA__SERVER__LISTEN`).
pub const ENV_PREFIX: &str = "TESSERA__";

/// What a missing master key says: what it is and how to make one.
const MASTER_KEY_HOWTO: &str = "required: the base64 of 32 random bytes, which encrypts the signing keys at rest. \
     Make one with `head -c 32 /dev/urandom | base64` and set it as keys.master_key (or the environment variable \
     TESSERA__KEYS__MASTER_KEY), or write it to a file (mode 0600) and set keys.master_key_file to its path";

/// The environment variable that sets the dotted `key`, when one is set (its name as the environment spells it).
pub fn env_var_for(key: &str) -> Option<String> {
    let wanted = format!("{ENV_PREFIX}{}", key.replace('.', "__"));
    std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .find(|name| name.eq_ignore_ascii_case(&wanted))
}

/// Adds the environment variable to a message about a key it set, so the operator looks in the right place.
fn name_the_variable(error: ServerError) -> ServerError {
    match error {
        ServerError::Invalid { key, message } => match env_var_for(key) {
            Some(var) => ServerError::Invalid {
                key,
                message: format!("{message} (set by the environment variable {var})"),
            },
            None => ServerError::Invalid { key, message },
        },
        other => other,
    }
}

/// Figment's messages, one per fault, each starting with the dotted key; an unknown key lists the valid ones of its
/// section, and a value from the environment names its variable.
fn describe_figment_error(error: &figment::Error) -> String {
    error
        .clone()
        .into_iter()
        .map(|e| {
            let path = e.path.join(".");
            let from_env = e
                .metadata
                .as_ref()
                .is_some_and(|m| m.name.contains("environment"));
            let mut text = match &e.kind {
                figment::error::Kind::UnknownField(found, expected) => {
                    let section = match e.path.len() {
                        0 | 1 => "the sections are".to_owned(),
                        n => format!("the keys of [{}] are", e.path[..n - 1].join(".")),
                    };
                    format!("unknown key {found:?}; {section}: {}", expected.join(", "))
                }
                kind => kind.to_string(),
            };
            if from_env {
                let var = env_var_for(&path).unwrap_or_else(|| {
                    format!("{ENV_PREFIX}{}", path.replace('.', "__")).to_uppercase()
                });
                text.push_str(&format!(" (set by the environment variable {var})"));
            }
            if path.is_empty() {
                text
            } else {
                format!("{path}: {text}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A new random master key, base64-encoded.
pub fn generate_master_key() -> Result<String, ServerError> {
    let mut key = [0u8; 32];
    aws_lc_rs::rand::fill(&mut key).map_err(|_| ServerError::Invalid {
        key: "keys.master_key",
        message: "random generation failed".into(),
    })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    fn load(toml: &str) -> Result<Config, ServerError> {
        Config::from_figment(
            Figment::from(Serialized::defaults(RawConfig::default())).merge(Toml::string(toml)),
        )
    }

    fn good() -> String {
        format!(
            "[server]\npublic_url = \"http://localhost:8080\"\n[store]\nkind = \"sqlite\"\npath = \"/tmp/x.db\"\n\
             [keys]\nmaster_key = \"{KEY}\"\n"
        )
    }

    #[test]
    fn roles_default_to_all_and_a_subset_serves_only_those() {
        let all = load(&good()).map(|c| c.roles).map_err(|e| e.to_string());
        assert_eq!(all, Ok(tessera_http::Roles::ALL));
        let toml = good().replace("[server]\n", "[server]\nroles = [\"broker\", \"admin\"]\n");
        let some = load(&toml).map(|c| c.roles).map_err(|e| e.to_string());
        assert_eq!(
            some,
            Ok(tessera_http::Roles {
                authenticator: false,
                broker: true,
                admin: true
            })
        );
        let none = good().replace("[server]\n", "[server]\nroles = []\n");
        let message = load(&none).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.starts_with("server.roles:"), "{message}");
        let unknown = good().replace("[server]\n", "[server]\nroles = [\"relay\"]\n");
        let message = load(&unknown)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("roles"), "{message}");
    }

    #[test]
    fn a_complete_configuration_is_accepted() {
        let config = load(&good()).map_err(|e| e.to_string());
        assert!(config.is_ok(), "{config:?}");
    }

    #[test]
    fn a_short_master_key_is_refused_naming_the_key() {
        let toml = good().replace(KEY, "c2hvcnQ=");
        let message = load(&toml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.starts_with("keys.master_key:"), "{message}");
    }

    #[test]
    fn an_unknown_store_kind_is_refused_naming_the_key() {
        let toml = good().replace("kind = \"sqlite\"", "kind = \"mysql\"");
        let message = load(&toml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.starts_with("store.kind:"), "{message}");
    }

    #[test]
    fn a_plain_http_public_url_off_loopback_is_refused() {
        let toml = good().replace("http://localhost:8080", "http://id.example.com");
        let message = load(&toml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.starts_with("server.public_url:"), "{message}");
    }

    #[test]
    fn a_wrongly_typed_value_is_refused_naming_the_key() {
        let toml = format!("{}[security]\nbody_limit = \"big\"\n", good());
        let message = load(&toml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("security.body_limit"), "{message}");
    }

    #[test]
    fn an_unknown_key_is_refused_naming_it() {
        let toml = format!("{}[security]\nbody_limt = 100000\n", good());
        let message = load(&toml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("body_limt"), "{message}");
    }

    #[test]
    fn an_unknown_key_lists_the_valid_keys_of_its_section_once_quoted() {
        let toml = format!("{}[security]\nbody_limt = 100000\n", good());
        let message = load(&toml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.starts_with(
                "security.body_limt: unknown key \"body_limt\"; the keys of [security] are: body_limit, "
            ),
            "{message}"
        );
        assert!(!message.contains('`'), "no doubled backticks: {message}");
        let toml = format!("{}[bogus]\nx = 1\n", good());
        let message = load(&toml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("the sections are: server, store, keys, security, log"),
            "{message}"
        );
    }

    #[test]
    fn a_missing_master_key_says_how_to_make_one() {
        let toml = good().replace(&format!("master_key = \"{KEY}\""), "");
        let message = load(&toml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.starts_with("keys.master_key: required"),
            "{message}"
        );
        assert!(
            message.contains("head -c 32 /dev/urandom | base64"),
            "{message}"
        );
        assert!(message.contains("keys.master_key_file"), "{message}");
    }

    #[test]
    fn log_format_is_text_by_default_json_on_request_and_nothing_else() {
        assert_eq!(
            load(&good()).map(|c| c.log_format).ok(),
            Some(LogFormat::Text)
        );
        let json = format!("{}[log]\nformat = \"json\"\n", good());
        assert_eq!(
            load(&json).map(|c| c.log_format).ok(),
            Some(LogFormat::Json)
        );
        let bad = format!("{}[log]\nformat = \"xml\"\n", good());
        let message = load(&bad).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.starts_with("log.format:"), "{message}");
    }

    #[test]
    fn metrics_are_off_by_default_and_on_their_own_port_when_enabled() {
        assert_eq!(load(&good()).map(|c| c.metrics).ok(), Some(None));
        let on = format!("{}[metrics]\nenabled = true\n", good());
        assert_eq!(
            load(&on).map(|c| c.metrics.map(|a| a.to_string())).ok(),
            Some(Some("127.0.0.1:9464".into()))
        );
        let same = format!(
            "{}[metrics]\nenabled = true\nlisten = \"127.0.0.1:8080\"\n",
            good()
        );
        let message = load(&same).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.starts_with("metrics.listen:"), "{message}");
    }

    #[test]
    fn a_bad_trusted_proxy_is_refused_naming_the_key() {
        let toml = good().replace("[store]", "trusted_proxies = [\"10.0.0.0/33\"]\n[store]");
        let message = load(&toml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.starts_with("server.trusted_proxies:"), "{message}");
    }

    #[test]
    fn fresh_verification_defaults_to_five_minutes_and_is_configurable() {
        let config = load(&good()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.security.fresh_verification, Duration::from_secs(300));
        let toml = format!("{}[security]\nfresh_verification_seconds = 2\n", good());
        let config = load(&toml).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.security.fresh_verification, Duration::from_secs(2));
    }

    #[test]
    fn a_refresh_lifetime_over_366_days_is_refused_naming_the_key() {
        let ok = format!(
            "{}[security]\nrefresh_token_ttl_seconds = 31622400\n",
            good()
        );
        assert!(load(&ok).is_ok(), "366 days is allowed");
        let toml = format!(
            "{}[security]\nrefresh_token_ttl_seconds = 31622401\n",
            good()
        );
        let message = load(&toml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.starts_with("security.refresh_token_ttl_seconds:"),
            "{message}"
        );
    }

    #[test]
    fn a_zero_fresh_verification_window_is_refused_naming_the_key() {
        let toml = format!("{}[security]\nfresh_verification_seconds = 0\n", good());
        let message = load(&toml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.starts_with("security.fresh_verification_seconds:"),
            "{message}"
        );
    }

    #[test]
    fn listener_limits_default_and_are_configurable() {
        let config = load(&good()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.limits, ListenerLimits::default());
        assert_eq!(config.limits.header_timeout, Duration::from_secs(10));
        assert_eq!(config.limits.idle_timeout, Duration::from_secs(60));
        let toml = good().replace(
            "[store]",
            "[server.limits]\nidle_timeout_seconds = 5\nmax_connections = 10\n[store]",
        );
        let config = load(&toml).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.limits.idle_timeout, Duration::from_secs(5));
        assert_eq!(config.limits.max_connections, 10);
        assert!(config.tls.is_none());
    }

    #[test]
    fn bad_listener_limits_are_refused_naming_the_key() {
        for (line, key) in [
            (
                "header_timeout_seconds = 0",
                "server.limits.header_timeout_seconds:",
            ),
            (
                "body_timeout_seconds = 7200",
                "server.limits.body_timeout_seconds:",
            ),
            ("max_connections = 0", "server.limits.max_connections:"),
        ] {
            let toml = good().replace("[store]", &format!("[server.limits]\n{line}\n[store]"));
            let message = load(&toml).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(message.starts_with(key), "{line}: {message}");
        }
    }

    #[test]
    fn a_tls_section_with_a_missing_key_file_is_refused_naming_the_key() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let ca = tessera_testkit::TestCa::new("Root").unwrap_or_else(|e| panic!("{e}"));
        let cert = write(dir.path(), "cert.pem", ca.root_pem().as_bytes());
        let toml = good().replace(
            "[store]",
            &format!("[server.tls]\ncert = \"{cert}\"\nkey = \"/nonexistent/key.pem\"\n[store]"),
        );
        let message = load(&toml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.starts_with("server.tls.key: cannot read"),
            "{message}"
        );
        let toml = good().replace("[store]", "[server.tls]\ncert = \"/x.pem\"\n[store]");
        let message = load(&toml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("key"), "{message}");
    }

    #[test]
    fn an_mds_blob_without_its_root_is_refused_naming_the_missing_key() {
        let toml = format!("{}[webauthn]\nmds_blob_file = \"/tmp/blob.jwt\"\n", good());
        let message = load(&toml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.starts_with("webauthn.mds_root_file:"), "{message}");
    }

    fn write(dir: &std::path::Path, name: &str, data: &[u8]) -> String {
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap_or_else(|e| panic!("{e}"));
        path.display().to_string()
    }

    #[test]
    fn trust_anchors_and_a_verified_mds_blob_are_loaded_at_start() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let ca = tessera_testkit::TestCa::new("Root").unwrap_or_else(|e| panic!("{e}"));
        let blob = ca
            .mds_blob(7, "2099-01-01", &[])
            .unwrap_or_else(|e| panic!("{e}"));
        let anchors = write(dir.path(), "anchors.pem", ca.root_pem().as_bytes());
        let blob = write(dir.path(), "mds.jwt", blob.as_bytes());
        let root = write(dir.path(), "mds-root.pem", ca.root_pem().as_bytes());
        let toml = format!(
            "{}[webauthn]\ntrust_anchors_file = \"{anchors}\"\nmds_blob_file = \"{blob}\"\nmds_root_file = \"{root}\"\n",
            good()
        );
        let config = load(&toml).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.attestation.trust_anchors.len(), 1);
        assert_eq!(
            config.attestation.metadata.as_ref().map(|m| m.no()),
            Some(7)
        );
    }

    #[test]
    fn an_mds_blob_signed_under_another_root_is_refused_naming_the_key() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let signer = tessera_testkit::TestCa::new("Signer").unwrap_or_else(|e| panic!("{e}"));
        let other = tessera_testkit::TestCa::new("Other").unwrap_or_else(|e| panic!("{e}"));
        let blob = signer
            .mds_blob(1, "2099-01-01", &[])
            .unwrap_or_else(|e| panic!("{e}"));
        let blob = write(dir.path(), "mds.jwt", blob.as_bytes());
        let root = write(dir.path(), "mds-root.pem", other.root_pem().as_bytes());
        let toml = format!(
            "{}[webauthn]\nmds_blob_file = \"{blob}\"\nmds_root_file = \"{root}\"\n",
            good()
        );
        let message = load(&toml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.starts_with("webauthn.mds_blob_file:"), "{message}");
    }

    #[test]
    fn a_trust_anchors_file_that_is_not_pem_is_refused_naming_the_key() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let anchors = write(dir.path(), "anchors.pem", b"not a certificate\n");
        let toml = format!("{}[webauthn]\ntrust_anchors_file = \"{anchors}\"\n", good());
        let message = load(&toml).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.starts_with("webauthn.trust_anchors_file:"),
            "{message}"
        );
        let missing = good() + "[webauthn]\ntrust_anchors_file = \"/nonexistent/roots.pem\"\n";
        let message = load(&missing)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            message.starts_with("webauthn.trust_anchors_file:"),
            "{message}"
        );
    }
}
