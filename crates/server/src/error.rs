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
    /// The listening socket could not be bound; `hint` says what to do about it.
    #[error("{what}: {source}{}", hint.as_deref().map(|h| format!("; {h}")).unwrap_or_default())]
    Bind {
        /// What was being bound, e.g. `server.listen: cannot bind 127.0.0.1:8080`.
        what: String,
        /// The I/O error.
        source: std::io::Error,
        /// The way out, for an address in use or a privileged port.
        hint: Option<String>,
    },
    /// The demo's relying party could not complete a step.
    #[error("demo: {0}")]
    Demo(String),
}

impl ServerError {
    /// A failed bind of `addr`; `other_port` is how the operator picks another address (`--port 8081`, or
    /// `server.listen ...`), suggested when the address is in use.
    pub fn bind(what: impl Into<String>, source: std::io::Error, other_port: &str) -> Self {
        let hint = match source.kind() {
            std::io::ErrorKind::AddrInUse => Some(format!(
                "another process (perhaps another tessera) listens there: stop it, or choose another port with \
                 {other_port}"
            )),
            std::io::ErrorKind::PermissionDenied => Some(format!(
                "ports below 1024 need privileges: choose a port above 1024 with {other_port}"
            )),
            _ => None,
        };
        Self::Bind {
            what: what.into(),
            source,
            hint,
        }
    }

    /// An I/O error with a description of what was attempted.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}
