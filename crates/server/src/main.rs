//! The `tessera` binary: one command for the server, the demo and the operator tools.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use tessera_server::config::{Config, LogFormat};
use tessera_server::{Application, ServerError, app, demo};

mod admin_cli;
mod operator;
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
    /// The admin REST API from the command line (a running server's `/admin/api/v1`; `tessera admin login` first).
    Admin(admin_cli::AdminArgs),
    /// Offline identity-provider administration on the database (tenants, clients): for bootstrap and recovery;
    /// day-to-day changes go through `tessera admin`.
    #[command(subcommand, after_help = operator::OFFLINE_IDP)]
    Idp(operator::IdpCommand),
    /// Offline signing-key rotation on the database: for bootstrap and recovery; day-to-day rotation goes through
    /// `tessera admin key rotate` and `tessera admin broker-key rotate`.
    #[command(subcommand, after_help = operator::OFFLINE_KEYS)]
    Keys(operator::KeysCommand),
    /// Offline store administration on the database (initialise a new SQLite store where one was lost): for
    /// bootstrap and recovery; everything else goes through `tessera admin`.
    #[command(subcommand, after_help = operator::OFFLINE_STORE)]
    Store(operator::StoreCommand),
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

fn main() -> ExitCode {
    tessera_service::broker::install_default_tls_provider();
    let cli = Cli::parse();
    if let Command::Webauthn(command) = cli.command {
        return webauthn_cli::run(command);
    }
    if let Command::Bench { .. } = cli.command {
        eprintln!("{BENCH_MOVED}");
        return ExitCode::from(2);
    }
    // The admin client makes a few sequential calls: one thread is enough.
    let admin = matches!(cli.command, Command::Admin(_));
    let runtime = match if admin {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Command::Admin(args) = cli.command {
        return runtime.block_on(admin_cli::run::<Cli>(args));
    }
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
            init_tracing("info,tessera_http=info", LogFormat::Text);
            demo::run(args).await
        }
        Command::Idp(command) => operator::run_idp(command).await,
        Command::Keys(command) => operator::run_keys(command).await,
        Command::Store(command) => operator::run_store(command).await,
        Command::Webauthn(_) | Command::Bench { .. } | Command::Admin(_) => Ok(()),
    }
}

async fn serve(config_file: Option<PathBuf>) -> Result<(), ServerError> {
    let started = std::time::Instant::now();
    let shutdown = app::shutdown_signal();
    let config = Config::load(config_file.as_deref())?;
    init_tracing(&config.log_level, config.log_format);
    let app = Application::build(&config).await?;
    app::print_bootstrap(app.state(), app::BootstrapNotice::Log).await?;
    if let Some(metrics) = config.metrics {
        let bound =
            tessera_server::metrics::serve(metrics, tessera_server::metrics::recorder()?).await?;
        tracing::info!(%bound, "metrics at http://{bound}/metrics");
    }
    let addr = app.local_addr()?;
    tracing::info!(%addr, public_url = config.public_url.as_str(), ready_ms = started.elapsed().as_millis() as u64, "listening");
    app.run_until_stopped(shutdown).await
}

/// Logs to stdout with `filter` (or `RUST_LOG`): text with colours only on a terminal, or one JSON object per line.
fn init_tracing(filter: &str, format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stdout().is_terminal())
            .try_init(),
    };
}
