//! The one error type of the server crate: configuration, start-up and operator commands.

use std::path::PathBuf;

/// Why the server or a command could not do its work. Configuration messages start with the key at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration file or an environment variable could not be parsed or has the wrong type.
    #[error("{0}")]
    Parse(String),
    /// A configuration key has an unusable value.
    #[error("{key}: {message}")]
    Invalid {
        /// The dotted key, e.g. `server.public_url`.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A required configuration key is absent.
    #[error("{key}: required")]
    Missing {
        /// The dotted key.
        key: &'static str,
    },
    /// The master key file could not be read.
    #[error("keys.master_key_file: cannot read {path}: {message}")]
    MasterKeyFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// The store could not be opened or migrated.
    #[error("store: {0}")]
    Store(#[from] tessera_store::StoreError),
    /// A use case (tenant, client, keys) failed.
    #[error("{0}")]
    Service(#[from] tessera_service::ServiceError),
    /// A file or socket operation failed; `what` says which.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The demo's relying party could not complete a step.
    #[error("demo: {0}")]
    Demo(String),
}

impl ServerError {
    /// An I/O error with a description of what was attempted.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}
