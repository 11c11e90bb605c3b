//! Connections: one writer, a few readers, a background checkpointer, and the migration runner.
//!
//! Statements run inline on the calling task: SQLite answers an indexed statement in microseconds, far less than
//! the cost of handing it to another thread and back (two context switches). What can take milliseconds, the WAL
//! checkpoint with its fsync, runs on a background thread instead of inside a sign-in.

use crate::convert::{db, ts};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;
use tessera_store::{Result, StoreError};
use time::OffsetDateTime;
use tokio::sync::Mutex;

/// How long a statement waits for SQLite's file lock (another process, a checkpoint) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the background thread copies the WAL back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// A backstop: the writer checkpoints by itself if the WAL grows past this many pages (about 40 MB).
const WRITER_AUTOCHECKPOINT_PAGES: i64 = 10_000;
/// Distinct statements the store prepares, kept compiled per connection.
const STATEMENT_CACHE: usize = 128;

/// The schema migrations, in order; each runs once, recorded in `schema_migrations`.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "session facts and sid",
        include_str!("../migrations/0002_session_facts_sid.sql"),
    ),
];

pub(crate) struct Connections {
    writer: Mutex<Option<Connection>>,
    readers: Vec<Mutex<Option<Connection>>>,
    next_reader: AtomicUsize,
    /// Dropping it (on close, or when the store is dropped) stops the checkpointer.
    checkpointer: std::sync::Mutex<Option<Sender<()>>>,
}

fn unavailable_closed() -> StoreError {
    StoreError::Unavailable("the store is closed".into())
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "foreign_keys", true).map_err(db)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(db)?;
    Ok(())
}

fn open_writer(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db)?;
    configure(&conn)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(db)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "journal_mode is {mode}, WAL is required"
        )));
    }
    conn.pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES)
        .map_err(db)?;
    Ok(conn)
}

fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db)?;
    configure(&conn)?;
    Ok(conn)
}

/// Applies the migrations not yet recorded, in one `BEGIN IMMEDIATE` transaction, so that two processes opening
/// the same file cannot both apply one.
fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
           version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT",
    )
    .map_err(db)?;
    let applied: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |row| row.get(0),
        )
        .map_err(db)?;
    let known = MIGRATIONS.last().map_or(0, |(version, _, _)| *version);
    if applied > known {
        return Err(StoreError::Corrupt(format!(
            "database schema version {applied} is newer than this build's {known}"
        )));
    }
    for (version, description, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > applied) {
        tx.execute_batch(sql).map_err(db)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, description, ts(OffsetDateTime::now_utc())],
        )
        .map_err(db)?;
    }
    tx.commit().map_err(db)
}

fn spawn_checkpointer(path: &Path) -> Result<Sender<()>> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("tessera-sqlite-checkpoint".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                // PASSIVE never blocks writers or readers; a failed round is retried on the next tick.
                let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            }
        })
        .map_err(|e| StoreError::Unavailable(format!("checkpoint thread: {e}")))?;
    Ok(stop)
}

impl Connections {
    pub(crate) fn open(path: &Path, readers: usize) -> Result<Self> {
        let mut writer = open_writer(path)?;
        migrate(&mut writer)?;
        let readers = (0..readers.max(1))
            .map(|_| open_reader(path).map(|conn| Mutex::new(Some(conn))))
            .collect::<Result<Vec<_>>>()?;
        let checkpointer = spawn_checkpointer(path)?;
        Ok(Self {
            writer: Mutex::new(Some(writer)),
            readers,
            next_reader: AtomicUsize::new(0),
            checkpointer: std::sync::Mutex::new(Some(checkpointer)),
        })
    }

    /// Runs `op` on the writer connection; writers queue here, not on SQLite's file lock.
    pub(crate) async fn write<T>(
        &self,
        op: impl FnOnce(&mut Connection) -> Result<T>,
    ) -> Result<T> {
        let mut guard = self.writer.lock().await;
        let conn = guard.as_mut().ok_or_else(unavailable_closed)?;
        op(conn)
    }

    /// Runs `op` on a free reader connection, or waits for one.
    pub(crate) async fn read<T>(&self, op: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        for reader in &self.readers {
            if let Ok(guard) = reader.try_lock() {
                return op(guard.as_ref().ok_or_else(unavailable_closed)?);
            }
        }
        let index = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let Some(reader) = self.readers.get(index) else {
            return Err(unavailable_closed());
        };
        let guard = reader.lock().await;
        op(guard.as_ref().ok_or_else(unavailable_closed)?)
    }

    /// Closes every connection and stops the checkpointer.
    pub(crate) async fn close(&self) {
        if let Ok(mut stop) = self.checkpointer.lock() {
            stop.take();
        }
        for reader in &self.readers {
            reader.lock().await.take();
        }
        self.writer.lock().await.take();
    }
}
