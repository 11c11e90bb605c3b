//! The `tessera` binary: one command for the server, the demo and the operator tools.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tessera_core::{Clock, SystemClock, TenantId};
use tessera_oidc::keys::{MasterKey, SigningAlg};
use tessera_server::config::{Config, StoreConfig};
use tessera_server::datadir::DataDir;
use tessera_server::{Application, ServerError, app, demo};
use tessera_service::clients::{self, ClientKind, LocalhostHttp, NewClient};
use tessera_service::keys::{self, Rotation};
use tessera_service::tenants::{self, NewTenant};
use tessera_store::Store;

mod webauthn_cli;

/// mimalloc instead of the system allocator: a sign-in makes a few thousand small allocations, and glibc's malloc and
/// free took about 7% of the server's CPU in the sign-in profile (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What `tessera bench` prints: the load generator links test authenticators, so it is not part of this binary.
const BENCH_MOVED: &str = "`tessera bench` is now the separate binary `tessera-bench` (cargo build --release -p tessera-bench; \
                           then `target/release/tessera-bench signin ...`, same options; docs/benchmarks.md)";

/// Tessera: passwordless identity (passkeys, OpenID Connect).
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server with a configuration file (and TESSERA__SECTION__KEY variables).
    Serve {
        /// The TOML configuration file.
        #[arg(long, env = "TESSERA_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Run a complete local demo on loopback: tenant `mytenant`, a client, and a relying party at /demo/.
    Demo(demo::DemoArgs),
    /// Identity-provider administration (tenants, clients).
    #[command(subcommand)]
    Idp(IdpCommand),
    /// Signing-key administration.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Verify or inspect WebAuthn responses (reads WebAuthn JSON on stdin).
    #[command(subcommand)]
    Webauthn(webauthn_cli::WebauthnCommand),
    /// Moved: the load generator is the `tessera-bench` binary (this prints where to find it).
    #[command(hide = true)]
    Bench {
        /// Ignored: the options belong to `tessera-bench`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Where an operator command finds the store and master key.
#[derive(Debug, Args)]
struct Target {
    /// The server's configuration file.
    #[arg(long, conflicts_with = "data_dir")]
    config: Option<PathBuf>,
    /// A data directory (SQLite + master key), as `tessera demo` uses.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum IdpCommand {
    /// Tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// OAuth / OpenID Connect clients.
    #[command(subcommand)]
    Client(ClientCommand),
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant with fresh signing keys.
    Create {
        /// The tenant id (path segment).
        #[arg(long)]
        id: String,
        /// The WebAuthn RP ID, e.g. `localhost` or `id.example.com`.
        #[arg(long)]
        rp_id: String,
        /// An allowed WebAuthn origin (repeatable), e.g. `http://localhost:8080`.
        #[arg(long = "origin", required = true)]
        origins: Vec<String>,
        /// Name shown to users.
        #[arg(long)]
        display_name: Option<String>,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        target: Target,
    },
    /// Change a tenant's display name, origins or authenticator policy (flags not given are kept).
    Update {
        /// The tenant id.
        #[arg(long)]
        id: String,
        /// Replace the allowed WebAuthn origins (repeatable).
        #[arg(long = "origin")]
        origins: Vec<String>,
        /// Name shown to users.
        #[arg(long)]
        display_name: Option<String>,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        target: Target,
    },
    /// Print a tenant's settings and authenticator policy.
    Show {
        /// The tenant id.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        target: Target,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        target: Target,
    },
}

/// A tenant's authenticator policy, as flags (`tessera_service::tenants::PolicyChange`).
#[derive(Debug, Args)]
struct PolicyArgs {
    /// Require user verification (the default).
    #[arg(long, overrides_with = "no_require_uv")]
    require_uv: bool,
    /// Only prefer user verification.
    #[arg(long, overrides_with = "require_uv")]
    no_require_uv: bool,
    /// How much attestation a registration must carry.
    #[arg(long, value_enum)]
    attestation: Option<AttestationArg>,
    /// Only these authenticator models (AAGUID, repeatable; replaces the list; needs trusted attestation).
    #[arg(long = "aaguid-allow", value_parser = parse_aaguid)]
    aaguid_allow: Vec<tessera_webauthn::Aaguid>,
    /// Refuse these authenticator models (AAGUID, repeatable; replaces the list).
    #[arg(long = "aaguid-deny", value_parser = parse_aaguid)]
    aaguid_deny: Vec<tessera_webauthn::Aaguid>,
    /// Empty the AAGUID allow-list.
    #[arg(long, conflicts_with = "aaguid_allow")]
    clear_aaguid_allow: bool,
    /// Empty the AAGUID deny-list.
    #[arg(long, conflicts_with = "aaguid_deny")]
    clear_aaguid_deny: bool,
    /// Minimum FIDO certification level (L1, L1plus, L2, L2plus, L3, L3plus, certified; `none` removes it).
    #[arg(long)]
    min_certification_level: Option<String>,
    /// Synced (backup-eligible) passkeys.
    #[arg(long, value_enum)]
    synced_passkeys: Option<AllowDeny>,
    /// What a signature counter that went backwards does.
    #[arg(long, value_enum)]
    sign_count: Option<SignCountArg>,
    /// The legacy U2F AppID of credentials registered before WebAuthn (an empty value removes it).
    #[arg(long)]
    legacy_appid: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AttestationArg {
    /// Any response, `none` included.
    None,
    /// A self or certified attestation statement.
    Any,
    /// A statement chaining to a configured trust anchor or FIDO metadata root.
    Trusted,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AllowDeny {
    /// Allowed.
    Allow,
    /// Refused.
    Deny,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SignCountArg {
    /// Refuse the sign-in (the default).
    Reject,
    /// Accept it and log the signal.
    Report,
}

fn parse_aaguid(text: &str) -> Result<tessera_webauthn::Aaguid, String> {
    text.trim().parse().map_err(|e| format!("{e}"))
}

impl PolicyArgs {
    fn change(&self) -> Result<tenants::PolicyChange, ServerError> {
        use tessera_webauthn::{AttestationPolicy, SignCountPolicy, SyncedPasskeys};
        let minimum_certification_level = match self.min_certification_level.as_deref() {
            None => None,
            Some(text) if text.trim().eq_ignore_ascii_case("none") => Some(None),
            Some(text) => Some(Some(tenants::parse_certification_level(text)?)),
        };
        let list = |values: &[tessera_webauthn::Aaguid], clear: bool| {
            if clear {
                Some(Vec::new())
            } else if values.is_empty() {
                None
            } else {
                Some(values.to_vec())
            }
        };
        Ok(tenants::PolicyChange {
            require_user_verification: match (self.require_uv, self.no_require_uv) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
            attestation: self.attestation.map(|a| match a {
                AttestationArg::None => AttestationPolicy::None,
                AttestationArg::Any => AttestationPolicy::Any,
                AttestationArg::Trusted => AttestationPolicy::Trusted,
            }),
            aaguid_allow: list(&self.aaguid_allow, self.clear_aaguid_allow),
            aaguid_deny: list(&self.aaguid_deny, self.clear_aaguid_deny),
            minimum_certification_level,
            synced_passkeys: self.synced_passkeys.map(|s| match s {
                AllowDeny::Allow => SyncedPasskeys::Allow,
                AllowDeny::Deny => SyncedPasskeys::Refuse,
            }),
            sign_count: self.sign_count.map(|s| match s {
                SignCountArg::Reject => SignCountPolicy::RejectClone,
                SignCountArg::Report => SignCountPolicy::ReportOnly,
            }),
            legacy_appid: self
                .legacy_appid
                .as_ref()
                .map(|a| Some(a.trim().to_owned()).filter(|a| !a.is_empty())),
        })
    }
}

/// Prints a tenant's settings and its policy (as stored, defaults filled in).
fn print_tenant(tenant: &tessera_store::Tenant) -> Result<(), ServerError> {
    let policy = tenants::tenant_policy(tenant)?;
    let shown = serde_json::json!({
        "id": tenant.id.to_string(),
        "display_name": tenant.display_name,
        "rp_id": tenant.rp_id,
        "origins": tenant.origins,
        "policy": policy,
    });
    let text = serde_json::to_string_pretty(&shown)
        .map_err(|e| ServerError::Parse(format!("tenant {}: {e}", tenant.id)))?;
    println!("{text}");
    Ok(())
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AuthMethod {
    /// HTTP Basic (default).
    Basic,
    /// Secret in the form body.
    Post,
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Register a client; prints its id and (once) its secret.
    Create {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// A redirect URI (repeatable), compared exactly.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// A post-logout redirect URI (repeatable).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (no secret; PKCE required).
        #[arg(long)]
        public: bool,
        /// ID token signing algorithm.
        #[arg(long, default_value = "RS256", value_parser = ["RS256", "ES256"])]
        id_token_alg: String,
        /// Client authentication method for a confidential client.
        #[arg(long, value_enum, default_value = "basic")]
        auth_method: AuthMethod,
        /// Name shown to users.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Start signing with new keys; old keys stay published until their tokens expire.
    Rotate {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// Sign with the new keys at once (suspected compromise) instead of publishing them first.
        #[arg(long)]
        immediately: bool,
        #[command(flatten)]
        target: Target,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Webauthn(command) = cli.command {
        return webauthn_cli::run(command);
    }
    if let Command::Bench { .. } = cli.command {
        eprintln!("{BENCH_MOVED}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), ServerError> {
    match command {
        Command::Serve { config } => serve(config).await,
        Command::Demo(args) => {
            init_tracing("info,tessera_http=info");
            demo::run(args).await
        }
        Command::Idp(IdpCommand::Tenant(TenantCommand::Create {
            id,
            rp_id,
            origins,
            display_name,
            policy,
            target,
        })) => {
            let change = policy.change()?;
            let (store, master) = open_target(&target).await?;
            let id = parse_tenant(&id)?;
            let mut chosen = tessera_webauthn::AuthenticatorPolicy::default();
            change.apply(&mut chosen);
            let tenant = tenants::create_tenant_with_policy(
                store.as_ref(),
                &master,
                NewTenant::parse(id, &rp_id, &origins, display_name)?,
                (!change.is_empty()).then_some(&chosen),
                SystemClock.now(),
            )
            .await?;
            println!(
                "created tenant {} (rp id {}, origins {})",
                tenant.id,
                tenant.rp_id,
                tenant.origins.join(" ")
            );
            Ok(())
        }
        Command::Idp(IdpCommand::Tenant(TenantCommand::Update {
            id,
            origins,
            display_name,
            policy,
            target,
        })) => {
            let update = tenants::TenantUpdate {
                display_name,
                origins: (!origins.is_empty()).then_some(origins),
                policy: policy.change()?,
                settings: tenants::SettingsChange::default(),
            };
            if update == tenants::TenantUpdate::default() {
                return Err(ServerError::Invalid {
                    key: "update",
                    message: "nothing to change: give at least one setting (see --help)".into(),
                });
            }
            let (store, _) = open_target(&target).await?;
            let tenant =
                tenants::update_tenant(store.as_ref(), &parse_tenant(&id)?, &update).await?;
            println!(
                "updated tenant {} (running servers apply it within a minute)",
                tenant.id
            );
            print_tenant(&tenant)
        }
        Command::Idp(IdpCommand::Tenant(TenantCommand::Show { id, target })) => {
            let (store, _) = open_target(&target).await?;
            let tenant =
                store
                    .get_tenant(&parse_tenant(&id)?)
                    .await?
                    .ok_or(ServerError::Service(
                        tessera_service::ServiceError::TenantNotFound,
                    ))?;
            print_tenant(&tenant)
        }
        Command::Idp(IdpCommand::Tenant(TenantCommand::List { target })) => {
            let (store, _) = open_target(&target).await?;
            for tenant in store.list_tenants().await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    tenant.id,
                    tenant.rp_id,
                    tenant.origins.join(","),
                    tenant.display_name
                );
            }
            Ok(())
        }
        Command::Idp(IdpCommand::Client(ClientCommand::Create {
            tenant,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            id_token_alg,
            auth_method,
            name,
            target,
        })) => {
            let (store, _) = open_target(&target).await?;
            let kind = match (public, auth_method) {
                (true, _) => ClientKind::Public,
                (false, AuthMethod::Basic) => ClientKind::ConfidentialBasic,
                (false, AuthMethod::Post) => ClientKind::ConfidentialPost,
            };
            let id_token_alg = SigningAlg::parse(&id_token_alg).ok_or_else(|| {
                ServerError::Demo(format!("unsupported --id-token-alg {id_token_alg}"))
            })?;
            let (client, secret) = clients::create_client(
                store.as_ref(),
                NewClient {
                    tenant: parse_tenant(&tenant)?,
                    redirect_uris: clients::parse_redirect_uris(
                        &redirect_uris,
                        LocalhostHttp::Refuse,
                    )?,
                    post_logout_redirect_uris: clients::parse_redirect_uris(
                        &post_logout_redirect_uris,
                        LocalhostHttp::Refuse,
                    )?,
                    kind,
                    id_token_alg,
                    name,
                },
                SystemClock.now(),
            )
            .await?;
            println!("client_id: {}", client.client_id);
            if let Some(secret) = secret {
                println!("client_secret: {}", secret.expose());
                println!("(the secret is shown only now; Tessera keeps only its hash)");
            }
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate {
            tenant,
            immediately,
            target,
        }) => {
            let (store, master) = open_target(&target).await?;
            let tenant = parse_tenant(&tenant)?;
            let rotation = if immediately {
                Rotation::Immediate
            } else {
                Rotation::Staged
            };
            let kids = keys::rotate_keys(
                store.as_ref(),
                &master,
                &tenant,
                rotation,
                SystemClock.now(),
            )
            .await?;
            println!("new signing keys for {tenant}: {}", kids.join(", "));
            match rotation {
                Rotation::Staged => println!(
                    "they are published now and start signing in about {} minutes; the old keys stay \
                     published until their tokens expire",
                    keys::KEY_PUBLICATION_DELAY.whole_minutes() + 1
                ),
                Rotation::Immediate => println!(
                    "running servers sign with them within a minute; the old keys stay published until \
                     their tokens expire"
                ),
            }
            Ok(())
        }
        Command::Webauthn(_) | Command::Bench { .. } => Ok(()),
    }
}

async fn serve(config_file: Option<PathBuf>) -> Result<(), ServerError> {
    let started = std::time::Instant::now();
    let shutdown = app::shutdown_signal();
    let config = Config::load(config_file.as_deref())?;
    init_tracing(&config.log_level);
    let app = Application::build(&config).await?;
    let addr = app.local_addr()?;
    tracing::info!(%addr, public_url = config.public_url.as_str(), ready_ms = started.elapsed().as_millis() as u64, "listening");
    app.run_until_stopped(shutdown).await
}

async fn open_target(target: &Target) -> Result<(Arc<dyn Store>, MasterKey), ServerError> {
    let (store_config, key) = match (&target.config, &target.data_dir) {
        (Some(file), _) => {
            let config = Config::load(Some(file))?;
            (config.store, config.master_key)
        }
        (None, Some(dir)) => {
            let dir = DataDir::open(dir)?;
            (
                StoreConfig::Sqlite {
                    path: dir.database(),
                },
                dir.master_key()?,
            )
        }
        (None, None) => {
            let config = Config::load(None)?;
            (config.store, config.master_key)
        }
    };
    let store = app::open_store(&store_config).await?;
    let master = MasterKey::from_bytes(&key).map_err(|e| ServerError::Invalid {
        key: "keys.master_key",
        message: e.to_string(),
    })?;
    Ok((store, master))
}

fn parse_tenant(id: &str) -> Result<TenantId, ServerError> {
    TenantId::parse(id).map_err(|e| ServerError::Invalid {
        key: "tenant",
        message: e.to_string(),
    })
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}
