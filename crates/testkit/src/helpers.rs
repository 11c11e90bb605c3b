//! Small helpers for tests: random values and throw-away SQLite database files.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::TestkitError;

const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// `len` bytes from the system CSPRNG.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    // The system RNG does not fail on supported platforms; a zero buffer would only weaken a test value.
    let _ = aws_lc_rs::rand::fill(&mut out);
    out
}

/// A random ASCII alphanumeric string of `len` characters (usernames, tenant names, secrets).
pub fn random_string(len: usize) -> String {
    random_bytes(len)
        .into_iter()
        .map(|b| char::from(ALPHANUMERIC[usize::from(b) % ALPHANUMERIC.len()]))
        .collect()
}

/// A SQLite database file in a fresh temporary directory, removed (with its WAL files) on drop.
#[derive(Debug)]
pub struct TempSqlite {
    dir: PathBuf,
    path: PathBuf,
}

impl TempSqlite {
    /// Creates the directory; the database file itself is left for SQLite to create.
    pub fn new() -> Result<TempSqlite, TestkitError> {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tessera-test-{}-{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed),
            random_string(8)
        ));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("tessera.sqlite3");
        Ok(TempSqlite { dir, path })
    }

    /// The database file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A `sqlite://` URL that creates the file on first connection (`mode=rwc`).
    pub fn url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.path.display())
    }
}

impl Drop for TempSqlite {
    fn drop(&mut self) {
        // Best effort: a leftover temp directory must not fail a test.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_strings_are_alphanumeric_and_distinct() {
        let a = random_string(24);
        let b = random_string(24);
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn temp_sqlite_directory_is_removed_on_drop() {
        let db = TempSqlite::new().unwrap();
        let dir = db.path().parent().unwrap().to_path_buf();
        std::fs::write(db.path(), b"x").unwrap();
        assert!(db.url().starts_with("sqlite://"));
        drop(db);
        assert!(!dir.exists());
    }
}
