//! The `tessera-bench` binary: the load generator of `docs/benchmarks.md`.

use std::process::ExitCode;

use clap::Parser;
use tessera_bench::BenchCommand;

/// The same allocator as `tessera`, so that the load generator costs what it cost inside `tessera bench`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Measure Tessera: complete passkey sign-ins against a pinned child `tessera serve`.
#[derive(Debug, Parser)]
#[command(name = "tessera-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: BenchCommand,
}

fn main() -> ExitCode {
    tessera_service::broker::install_default_tls_provider();
    let cli = Cli::parse();
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
    match runtime.block_on(tessera_bench::run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
