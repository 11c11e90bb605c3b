//! `tessera webauthn ...`: verification and inspection of WebAuthn responses from the command line.

use clap::Subcommand;
use std::process::ExitCode;

/// WebAuthn operator tools.
#[derive(Debug, Subcommand)]
pub enum WebauthnCommand {
    /// Decode a response into readable JSON.
    Inspect,
}

/// Runs a `tessera webauthn` command.
pub fn run(command: WebauthnCommand) -> ExitCode {
    match command {
        WebauthnCommand::Inspect => {
            eprintln!("inspect: not available yet");
            ExitCode::from(2)
        }
    }
}
