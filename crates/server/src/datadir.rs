//! A self-contained data directory: `tessera.db` (SQLite) and `master.key` (base64, mode 0600), created on first use.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::ServerError;

/// A data directory for `--data-dir` and `tessera demo`.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Opens (creating, mode 0700) the directory.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, ServerError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| {
            ServerError::io(
                format!("cannot create data directory {}", root.display()),
                e,
            )
        })?;
        restrict(&root, 0o700)?;
        Ok(Self { root })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SQLite database file.
    pub fn database(&self) -> PathBuf {
        self.root.join("tessera.db")
    }

    /// The master key, generated into `master.key` (0600) on first use.
    pub fn master_key(&self) -> Result<[u8; 32], ServerError> {
        let path = self.root.join("master.key");
        if !path.exists() {
            let key = crate::config::generate_master_key()?;
            write_private(&path, key.as_bytes())?;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| ServerError::MasterKeyFile {
            path: path.clone(),
            message: e.to_string(),
        })?;
        crate::config::decode_master_key(&text, "keys.master_key_file")
    }
}

/// Removes the data directory `root` and everything in it (`tessera demo --reset`); returns what it says it did,
/// naming the files removed.
pub fn reset(root: &Path) -> Result<String, ServerError> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(format!(
                "--reset: nothing to remove ({} does not exist yet).",
                root.display()
            ));
        }
        Err(e) => {
            return Err(ServerError::io(
                format!("cannot read {}", root.display()),
                e,
            ));
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    std::fs::remove_dir_all(root)
        .map_err(|e| ServerError::io(format!("cannot remove {}", root.display()), e))?;
    Ok(if names.is_empty() {
        format!("--reset: removed the empty directory {}.", root.display())
    } else {
        format!(
            "--reset: removed {} and its {} ({}): the database with every tenant, user, passkey and client in it, and \
             the master key. Starting over.",
            root.display(),
            if names.len() == 1 { "file" } else { "files" },
            names.join(", ")
        )
    })
}

/// Writes a file readable by its owner only (0600), replacing it.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), ServerError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| ServerError::io(format!("cannot write {}", path.display()), e))?;
    file.write_all(contents)
        .map_err(|e| ServerError::io(format!("cannot write {}", path.display()), e))?;
    restrict(path, 0o600)
}

fn restrict(path: &Path, mode: u32) -> Result<(), ServerError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
            ServerError::io(format!("cannot set permissions of {}", path.display()), e)
        })?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}
