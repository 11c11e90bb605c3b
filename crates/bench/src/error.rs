//! The one error type of the load generator.

use tessera_server::ServerError;

/// Why a bench could not run or a measured sign-in failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A step of a measured sign-in failed or the server under test misbehaved.
    #[error("bench: {0}")]
    Failed(String),
    /// A required option is absent.
    #[error("{key}: required")]
    Missing {
        /// The option, e.g. `--pg-url`.
        key: &'static str,
    },
    /// A file, process or socket operation failed; `what` says which.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Preparing the server under test (configuration, store) failed.
    #[error("{0}")]
    Server(#[from] ServerError),
    /// Creating the bench tenant or client failed.
    #[error("{0}")]
    Operation(#[from] tessera_service::ServiceError),
}

impl BenchError {
    /// An I/O error with a description of what was attempted.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}
