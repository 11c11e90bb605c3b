//! The `tessera` binary: one command for the server, the demo and the operator tools.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod webauthn_cli;

/// Tessera: passwordless identity (passkeys, OpenID Connect).
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify or inspect WebAuthn responses (reads WebAuthn JSON on stdin).
    #[command(subcommand)]
    Webauthn(webauthn_cli::WebauthnCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Webauthn(command) => webauthn_cli::run(command),
    }
}
