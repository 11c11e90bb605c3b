//! Connections: one writer with group commit, a few readers, a background checkpointer, and the migration runner.
//!
//! Statements run inline on the calling task: SQLite answers an indexed statement in microseconds, far less than
//! the cost of handing it to another thread and back (two context switches).
//!
//! Group commit: a write operation runs inside its own `SAVEPOINT` within the writer's open transaction (begun by
//! the first operation of a batch), so a failed operation rolls back only its own changes. Its caller then yields
//! once, letting the other ready tasks add their operations to the same transaction, and the first caller of the
//! batch to come back commits it once for all of them. Every caller is answered only after that `COMMIT`.
//!
//! What can take milliseconds, the WAL checkpoint with its fsyncs, never runs on the writer (its
//! `wal_autocheckpoint` is 0) but on a background thread: `PASSIVE` every 100 ms, which blocks nobody. Under a
//! steady load a `PASSIVE` checkpoint never quite catches up with the commits, and the log only starts over once
//! every frame is copied back; so when the log is longer than [`CHECKPOINT_RESTART_FRAMES`], the thread takes the
//! writer (committing its open batch), copies back the few frames left, and lets it go. Writes
//! wait for it on the async mutex, never on SQLite's lock (whose busy handler would sleep on an async worker).

use crate::convert::db;
use crate::reserve::{DiskReserve, ReserveStep};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tessera_store::{Result, StoreError};
use tokio::sync::{Mutex, oneshot};

/// How long a statement waits for SQLite's file lock (another process, a checkpoint) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Nice value of the checkpoint thread (Linux applies it to the calling thread only).
const CHECKPOINT_NICE: i32 = 10;
/// How often the background thread copies the WAL back into the database (`PASSIVE`: blocks nobody).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// Past this many frames in the log (about 40 MB of 4 KiB pages), the background thread holds the writer for its
/// last `PASSIVE` checkpoint, so that the log starts over.
const CHECKPOINT_RESTART_FRAMES: i64 = 10_000;
/// The checkpoint thread checks the volume's free space (and its disk reserve) every this many rounds.
const RESERVE_CHECK_ROUNDS: u32 = 10;
/// Distinct statements the store prepares, kept compiled per connection.
const STATEMENT_CACHE: usize = 128;

/// The size (bytes) the write-ahead log file is cut back to whenever the log starts over.
pub(crate) const JOURNAL_SIZE_LIMIT: i64 = 4 * 1024 * 1024;

/// The schema migrations, in order; each runs once, recorded in `schema_migrations`.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "session facts and sid",
        include_str!("../migrations/0002_session_facts_sid.sql"),
    ),
    (
        3,
        "ceremonies in memory, clustered code, session and token tables",
        include_str!("../migrations/0003_ceremonies_in_memory_clustered_tables.sql"),
    ),
    (
        4,
        "tenant revision",
        include_str!("../migrations/0004_tenant_revision.sql"),
    ),
    (
        10,
        "identity broker",
        include_str!("../migrations/0010_broker.sql"),
    ),
    (
        11,
        "passkey-bound sessions and grants, credential ids once per RP ID",
        include_str!("../migrations/0011_passkey_bound_sessions_and_grants.sql"),
    ),
    (
        12,
        "tenant settings",
        include_str!("../migrations/0012_tenant_settings.sql"),
    ),
    (
        13,
        "store health probe",
        include_str!("../migrations/0013_store_health.sql"),
    ),
    (
        14,
        "store identity",
        include_str!("../migrations/0014_store_identity.sql"),
    ),
    (20, "admin", include_str!("../migrations/0020_admin.sql")),
    (
        21,
        "admin members",
        include_str!("../migrations/0021_admin_members.sql"),
    ),
    (
        22,
        "user disabled",
        include_str!("../migrations/0022_user_disabled.sql"),
    ),
    (
        23,
        "user display name folded",
        include_str!("../migrations/0023_user_display_name_folded.sql"),
    ),
    (
        24,
        "broker tenant revision",
        include_str!("../migrations/0024_broker_tenant_revision.sql"),
    ),
    (
        25,
        "admin invitations",
        include_str!("../migrations/0025_admin_invitations.sql"),
    ),
    (
        30,
        "fewer index pages per sign-in",
        include_str!("../migrations/0030_fewer_sign_in_index_pages.sql"),
    ),
    (
        31,
        "admin list filters",
        include_str!("../migrations/0031_admin_list_filters.sql"),
    ),
    (
        32,
        "identity provider summary columns",
        include_str!("../migrations/0032_provider_summary_columns.sql"),
    ),
    (
        33,
        "revoked passkeys instead of grant bonds",
        include_str!("../migrations/0033_revoked_passkeys.sql"),
    ),
    (
        35,
        "broker local accounts",
        include_str!("../migrations/0035_broker_local_accounts.sql"),
    ),
    (
        36,
        "broker list filters",
        include_str!("../migrations/0036_broker_list_filters.sql"),
    ),
];

/// The migration after which the stored application and provider names are folded in Rust.
const FOLD_BROKER_NAMES: i64 = 36;

/// Folds the display name of every stored broker application and the name of every identity provider.
fn fold_broker_names(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    for (select, update, fold) in [
        (
            "SELECT rowid, settings FROM broker_applications",
            "UPDATE broker_applications SET display_name_folded = ?2 WHERE rowid = ?1",
            tessera_store::broker::application_name_folded as fn(&serde_json::Value) -> String,
        ),
        (
            "SELECT rowid, config FROM identity_providers",
            "UPDATE identity_providers SET name_folded = ?2 WHERE rowid = ?1",
            tessera_store::broker::provider_name_folded,
        ),
    ] {
        let rows: Vec<(i64, String)> = {
            let mut stmt = tx.prepare(select).map_err(db)?;
            let rows = stmt
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)?
        };
        let mut update = tx.prepare(update).map_err(db)?;
        for (rowid, json) in rows {
            let value: serde_json::Value = serde_json::from_str(&json)
                .map_err(|e| StoreError::Corrupt(format!("stored JSON: {e}")))?;
            update
                .execute(rusqlite::params![rowid, fold(&value)])
                .map_err(db)?;
        }
    }
    Ok(())
}

/// The migration after which the stored client names are folded in Rust.
const FOLD_CLIENT_NAMES: i64 = 31;

/// Folds the display name of every stored client into `display_name_folded`.
fn fold_client_names(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    let names: Vec<(i64, String)> = {
        let mut stmt = tx
            .prepare("SELECT rowid, display_name FROM clients")
            .map_err(db)?;
        let rows = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)?
    };
    let mut update = tx
        .prepare("UPDATE clients SET display_name_folded = ?2 WHERE rowid = ?1")
        .map_err(db)?;
    for (rowid, name) in names {
        update
            .execute(rusqlite::params![
                rowid,
                tessera_store::fold_display_name(&name)
            ])
            .map_err(db)?;
    }
    Ok(())
}

/// The migration after which the stored display names are folded in Rust (SQLite's `lower` folds ASCII only).
const FOLD_DISPLAY_NAMES: i64 = 23;

/// Folds the display name of every stored user into `display_name_folded`.
fn fold_display_names(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    let names: Vec<(i64, String)> = {
        let mut stmt = tx
            .prepare("SELECT rowid, display_name FROM users")
            .map_err(db)?;
        let rows = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)?
    };
    let mut update = tx
        .prepare("UPDATE users SET display_name_folded = ?2 WHERE rowid = ?1")
        .map_err(db)?;
    for (rowid, name) in names {
        update
            .execute(rusqlite::params![
                rowid,
                tessera_store::fold_display_name(&name)
            ])
            .map_err(db)?;
    }
    Ok(())
}

/// The writer connection and the callers whose operations sit in its open transaction.
struct Writer {
    conn: Connection,
    /// The database file as opened: checked once per `COMMIT`, so no batch is acknowledged into an unlinked file.
    file: Arc<FileIdentity>,
    /// One sender per operation in the open batch; each receives the outcome of the batch's `COMMIT`.
    waiting: Vec<oneshot::Sender<Result<()>>>,
}

fn batch_lost() -> StoreError {
    StoreError::Unavailable("SQLite rolled back the write batch".into())
}

fn run_sql(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute([]))
        .map(|_| ())
        .map_err(db)
}

impl Writer {
    /// Runs `op` in its own savepoint inside the open batch (beginning one if needed): kept if it succeeds, rolled
    /// back alone if it fails.
    fn run<T>(&mut self, op: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        if self.conn.is_autocommit() {
            // Operations still waiting while no transaction is open lost their work to an automatic rollback
            // (I/O error, full disk): they must not be told that it was committed.
            for waiter in self.waiting.drain(..) {
                let _ = waiter.send(Err(batch_lost()));
            }
            run_sql(&self.conn, "BEGIN IMMEDIATE")?;
        }
        run_sql(&self.conn, "SAVEPOINT op")?;
        let result = op(&self.conn);
        let end = if result.is_ok() {
            run_sql(&self.conn, "RELEASE op")
        } else {
            run_sql(&self.conn, "ROLLBACK TO op").and_then(|()| run_sql(&self.conn, "RELEASE op"))
        };
        end.and(result)
    }

    /// Commits the open batch and answers every caller waiting on it.
    fn commit(&mut self) {
        let outcome = if self.conn.is_autocommit() {
            Err(batch_lost())
        } else {
            self.file
                .check()
                .and_then(|()| run_sql(&self.conn, "COMMIT"))
        };
        if outcome.is_err() && !self.conn.is_autocommit() {
            let _ = run_sql(&self.conn, "ROLLBACK");
        }
        for waiter in self.waiting.drain(..) {
            let _ = waiter.send(outcome.clone());
        }
    }
}

/// A caller's place in the open batch. If the caller is dropped before the batch is committed (a cancelled
/// request), it commits the batch itself when the writer is free; if the writer is busy, the batch is committed by
/// another of its callers, or else by the checkpoint thread's next round: a transaction is never left open.
struct Pending<'a> {
    writer: &'a Mutex<Option<Writer>>,
    outcome: oneshot::Receiver<Result<()>>,
}

impl Pending<'_> {
    fn outcome(&mut self) -> Option<Result<()>> {
        match self.outcome.try_recv() {
            Ok(outcome) => Some(outcome),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some(Err(unavailable_closed())),
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.outcome().is_none()
            && let Ok(mut guard) = self.writer.try_lock()
            && let Some(writer) = guard.as_mut()
        {
            writer.commit();
        }
    }
}

/// The database file as it was opened (device and inode): a file deleted or replaced under the running server is
/// noticed before the next write, which would otherwise be acknowledged into an unlinked file.
struct FileIdentity {
    path: std::path::PathBuf,
    dev: u64,
    ino: u64,
    lost: std::sync::atomic::AtomicBool,
}

impl FileIdentity {
    fn of(path: &Path) -> Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).map_err(|e| {
            StoreError::Unavailable(format!("database file {}: {e}", path.display()))
        })?;
        Ok(Self {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
            lost: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// `Ok` while the path still names the file opened (one `statx`); once it does not, every later call fails too
    /// (the store cannot persist any more), and the first failure is logged at error level.
    fn check(&self) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let same = self.known_lost().is_ok()
            && std::fs::metadata(&self.path)
                .is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino);
        if same {
            return Ok(());
        }
        if !self.lost.swap(true, Ordering::Relaxed) {
            tracing::error!(
                path = %self.path.display(),
                "the database file was deleted or replaced while the server ran: refusing every write; restore the \
                 file from a backup and restart"
            );
        }
        Err(self.lost_error())
    }

    /// `Err` once a check found the file gone or replaced (no system call): a write fails before it runs.
    fn known_lost(&self) -> Result<()> {
        if self.lost.load(std::sync::atomic::Ordering::Relaxed) {
            Err(self.lost_error())
        } else {
            Ok(())
        }
    }

    fn lost_error(&self) -> StoreError {
        StoreError::Unavailable(format!(
            "the database file {} is no longer the one opened (deleted or replaced)",
            self.path.display()
        ))
    }
}

pub(crate) struct Connections {
    file: Arc<FileIdentity>,
    writer: Arc<Mutex<Option<Writer>>>,
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
    // `temp_store` stays at its default: each operation's savepoint sub-journal is then buffered in one 64 KiB block
    // (emptied when the savepoint is released) and goes to a temporary file only past it, which an operation of a
    // sign-in never reaches. `temp_store = MEMORY` keeps it in 1 KiB chunks instead, four allocations and frees per
    // page an operation changes: 2 % of a sign-in's instructions.
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
    // No checkpoint (and its fsync) on a commit: that would block the async task that commits.
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(db)?;
    // When the log starts over (after the checkpoint thread copied it back), its file is cut back to this size, so
    // a burst's log does not keep its disk space while idle.
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)
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
        if *version == FOLD_DISPLAY_NAMES {
            fold_display_names(&tx)?;
        }
        if *version == FOLD_CLIENT_NAMES {
            fold_client_names(&tx)?;
        }
        if *version == FOLD_BROKER_NAMES {
            fold_broker_names(&tx)?;
        }
        // Bookkeeping only, so the database stamps it: no operation of the store reads the clock.
        tx.execute(
            "INSERT INTO schema_migrations (version, description, applied_at) \
             VALUES (?1, ?2, CAST(unixepoch('subsec') * 1000000 AS INTEGER))",
            rusqlite::params![version, description],
        )
        .map_err(db)?;
    }
    tx.commit().map_err(db)
}

/// Runs one `PASSIVE` checkpoint (never blocks writers or readers) and returns the frames in the log.
fn checkpoint_passive(conn: &Connection) -> i64 {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        row.get::<_, i64>(1)
    })
    .unwrap_or(0)
}

/// Commits an open batch whose callers were all dropped (cancelled while another task held the writer).
fn commit_abandoned_batch(writer: &Mutex<Option<Writer>>) {
    if let Ok(mut guard) = writer.try_lock()
        && let Some(open) = guard.as_mut()
        && !open.conn.is_autocommit()
        && open.waiting.iter().all(oneshot::Sender::is_closed)
    {
        open.commit();
    }
}

/// One round of the checkpoint thread: commit an abandoned batch; `PASSIVE`; then, if the log is longer than `restart_past` frames, a second
/// `PASSIVE` for the frames committed meanwhile, and a last one while holding the writer, which copies back the few
/// frames left, so that the writer's next commit starts the log over. A failed round is retried on the next tick.
///
/// A log started over this way (under a steady load) keeps its file: the writer's `journal_size_limit` is lifted
/// for that restart, so the commits that follow overwrite the file's pages instead of growing a file just cut back
/// (each cut drops every cached page of the log and the regrowth allocates them again: about 1 % of a direct
/// sign-in's server CPU, in the kernel). A later round with a short log puts the limit back, so the restart that
/// comes once the load has dropped cuts the file back to [`JOURNAL_SIZE_LIMIT`].
fn checkpoint_round(
    conn: &Connection,
    writer: &Mutex<Option<Writer>>,
    restart_past: i64,
    log_kept: &mut bool,
) {
    commit_abandoned_batch(writer);
    if checkpoint_passive(conn) <= restart_past {
        if *log_kept
            && writer
                .blocking_lock()
                .as_mut()
                .is_some_and(|open| set_journal_size_limit(&open.conn, JOURNAL_SIZE_LIMIT))
        {
            *log_kept = false;
        }
        return;
    }
    checkpoint_passive(conn);
    let mut guard = writer.blocking_lock();
    let Some(open) = guard.as_mut() else {
        return;
    };
    if !open.conn.is_autocommit() {
        open.commit();
    }
    if !*log_kept {
        *log_kept = set_journal_size_limit(&open.conn, KEEP_LOG_FILE);
    }
    checkpoint_passive(conn);
}

/// A `journal_size_limit` that never cuts the log's file back.
const KEEP_LOG_FILE: i64 = -1;

/// Sets the writer's `journal_size_limit` (how far its log's file is cut back when the log starts over); false when
/// SQLite refused.
fn set_journal_size_limit(writer: &Connection, bytes: i64) -> bool {
    writer
        .pragma_update(None, "journal_size_limit", bytes)
        .is_ok()
}

/// After the disk reserve was released on a full volume: commits the open batch and copies the whole log back,
/// truncating its file, so that the space it held returns to the volume.
fn checkpoint_truncate(conn: &Connection, writer: &Mutex<Option<Writer>>) {
    let mut guard = writer.blocking_lock();
    if let Some(open) = guard.as_mut()
        && !open.conn.is_autocommit()
    {
        open.commit();
    }
    let outcome = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
        row.get::<_, i64>(0)
    });
    drop(guard);
    match outcome {
        Ok(0) => tracing::warn!("write-ahead log copied back and truncated on the full volume"),
        Ok(_) => tracing::warn!("write-ahead log could not be truncated yet (readers); retrying"),
        Err(e) => {
            tracing::error!(error = %e, "write-ahead log checkpoint on the full volume failed; retrying")
        }
    }
}

fn spawn_checkpointer(
    path: &Path,
    writer: Weak<Mutex<Option<Writer>>>,
    mut reserve: DiskReserve,
) -> Result<Sender<()>> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
    let path_owned = path.to_owned();
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("tessera-sqlite-checkpoint".into())
        .spawn(move || {
            // Below the request workers: its page copies and fsyncs may wait, a sign-in should not wait behind them.
            // Best effort: where it is refused, the thread runs at the process's priority.
            let _ = rustix::process::setpriority_process(None, CHECKPOINT_NICE);
            let mut round = 0_u32;
            let mut truncate_pending = false;
            let mut log_kept = false;
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                let Some(writer) = writer.upgrade() else {
                    return;
                };
                checkpoint_round(&conn, &writer, CHECKPOINT_RESTART_FRAMES, &mut log_kept);
                round = round.wrapping_add(1);
                if round.is_multiple_of(RESERVE_CHECK_ROUNDS) {
                    match reserve.adjust() {
                        ReserveStep::Released => truncate_pending = true,
                        ReserveStep::Restored => truncate_pending = false,
                        ReserveStep::Keep => {}
                    }
                    if truncate_pending {
                        checkpoint_truncate(&conn, &writer);
                        truncate_pending =
                            std::fs::metadata(wal_file(&path_owned)).is_ok_and(|m| m.len() > 0);
                    }
                }
            }
        })
        .map_err(|e| StoreError::Unavailable(format!("checkpoint thread: {e}")))?;
    Ok(stop)
}

/// Why the store at `path` cannot be written, when that is so: a read-only file system, or a database file or
/// directory this process may not write (a server needs a writable store: it would otherwise answer as if healthy
/// and fail every sign-in).
pub(crate) fn unwritable(path: &Path) -> Option<StoreError> {
    use rustix::fs::{Access, access};
    let refused = access(crate::directory_of(path), Access::WRITE_OK)
        .err()
        .or_else(|| {
            access(path, Access::WRITE_OK)
                .err()
                .filter(|e| *e != rustix::io::Errno::NOENT)
        })?;
    Some(StoreError::Unavailable(format!(
        "the store {} cannot be written ({refused}): the server needs a writable database file and directory",
        path.display()
    )))
}

/// The write-ahead log's file beside the database.
fn wal_file(database: &Path) -> std::path::PathBuf {
    crate::beside(database, "-wal")
}

impl Connections {
    /// Opens the writer (migrating), `readers` readers and the checkpoint thread, with a disk reserve of
    /// `reserve_bytes` beside the database (0: none).
    pub(crate) fn open(path: &Path, readers: usize, reserve_bytes: u64) -> Result<Self> {
        let mut writer = open_writer(path)?;
        migrate(&mut writer)?;
        let readers = (0..readers.max(1))
            .map(|_| open_reader(path).map(|conn| Mutex::new(Some(conn))))
            .collect::<Result<Vec<_>>>()?;
        let file = Arc::new(FileIdentity::of(path)?);
        let writer = Arc::new(Mutex::new(Some(Writer {
            conn: writer,
            file: Arc::clone(&file),
            waiting: Vec::new(),
        })));
        let reserve = DiskReserve::take(path, reserve_bytes);
        let checkpointer = spawn_checkpointer(path, Arc::downgrade(&writer), reserve)?;
        Ok(Self {
            file,
            writer,
            readers,
            next_reader: AtomicUsize::new(0),
            checkpointer: std::sync::Mutex::new(Some(checkpointer)),
        })
    }

    /// Runs `op` on the writer connection in its own savepoint, and answers once the group commit that includes it
    /// is durable: `op`'s changes are kept only if it returns `Ok`, and its result is returned only after `COMMIT`.
    /// A database file deleted or replaced since it was opened fails the batch's `COMMIT`, and every write after it
    /// ([`StoreError::Unavailable`]).
    pub(crate) async fn write<T>(&self, op: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.file.known_lost()?;
        let started = tessera_store::metrics::start();
        let result = self.write_batched(op).await;
        tessera_store::metrics::observe("sqlite", "write", started, &result);
        result
    }

    async fn write_batched<T>(&self, op: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let (sender, receiver) = oneshot::channel();
        let result = {
            let mut guard = self.writer.lock().await;
            let writer = guard.as_mut().ok_or_else(unavailable_closed)?;
            let result = writer.run(op);
            if writer.conn.is_autocommit() && writer.waiting.is_empty() {
                // Nothing was begun (BEGIN failed): there is no batch to wait for.
                return result;
            }
            writer.waiting.push(sender);
            result
        };
        let mut pending = Pending {
            writer: &self.writer,
            outcome: receiver,
        };
        // Let the other ready tasks add their operations to this batch before it is committed.
        tokio::task::yield_now().await;
        let outcome = match pending.outcome() {
            Some(outcome) => outcome,
            None => {
                let mut guard = self.writer.lock().await;
                match pending.outcome() {
                    Some(outcome) => outcome,
                    None => {
                        let writer = guard.as_mut().ok_or_else(unavailable_closed)?;
                        writer.commit();
                        drop(guard);
                        pending.outcome().unwrap_or_else(|| Err(batch_lost()))
                    }
                }
            }
        };
        outcome.and(result)
    }

    /// Runs `op` on a free reader connection, or waits for one.
    pub(crate) async fn read<T>(&self, op: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let started = tessera_store::metrics::start();
        let result = self.read_any(op).await;
        tessera_store::metrics::observe("sqlite", "read", started, &result);
        result
    }

    async fn read_any<T>(&self, op: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
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
        let mut writer = self.writer.lock().await;
        if let Some(open) = writer.as_mut() {
            open.commit();
        }
        writer.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &tempfile::TempDir) -> Connections {
        Connections::open(&dir.path().join("t.db"), 2, 0).expect("open")
    }

    async fn with_table(conns: &Connections) {
        conns
            .write(|conn| run_sql(conn, "CREATE TABLE t (v TEXT PRIMARY KEY) STRICT"))
            .await
            .expect("table");
    }

    fn insert(conn: &Connection, v: &str) -> Result<()> {
        conn.execute("INSERT INTO t (v) VALUES (?1)", [v])
            .map(|_| ())
            .map_err(db)
    }

    fn committed(dir: &tempfile::TempDir, v: &str) -> bool {
        let raw = Connection::open(dir.path().join("t.db")).expect("raw");
        raw.query_row("SELECT COUNT(*) FROM t WHERE v = ?1", [v], |row| {
            row.get::<_, i64>(0)
        })
        .expect("count")
            == 1
    }

    #[tokio::test]
    async fn deleted_or_replaced_database_file_refuses_writes() {
        for replace in [false, true] {
            let dir = tempfile::tempdir().expect("dir");
            let conns = open(&dir);
            with_table(&conns).await;
            conns
                .write(|conn| insert(conn, "before"))
                .await
                .expect("write");
            let path = dir.path().join("t.db");
            std::fs::remove_file(&path).expect("unlink");
            if replace {
                std::fs::write(&path, b"").expect("an empty file in its place");
            }
            let refused = conns.write(|conn| insert(conn, "after")).await;
            assert!(
                matches!(&refused, Err(StoreError::Unavailable(m)) if m.contains("no longer the one opened")),
                "replace={replace}: {refused:?}"
            );
            if replace {
                // Still refused: the store does not take the new file for its own.
                assert!(conns.write(|conn| insert(conn, "later")).await.is_err());
            }
            conns.close().await;
        }
    }

    #[tokio::test]
    async fn an_operation_larger_than_the_sub_journal_buffer_rolls_back_alone() {
        let dir = tempfile::tempdir().expect("dir");
        let conns = open(&dir);
        with_table(&conns).await;
        for n in 0..400 {
            conns
                .write(move |conn| insert(conn, &format!("{n:04}-{}", "x".repeat(900))))
                .await
                .expect("fill");
        }
        // Rewrites every row (some 100 pages, past the sub-journal's 64 KiB buffer), then fails: only this
        // operation's changes go, the other operation of the same batch stays.
        let large = conns.write(|conn| {
            conn.execute("UPDATE t SET v = 'y' || v", []).map_err(db)?;
            Err::<(), _>(StoreError::Conflict)
        });
        let small = conns.write(|conn| insert(conn, "kept"));
        let (large, small) = tokio::join!(large, small);
        assert_eq!(large, Err(StoreError::Conflict));
        assert_eq!(small, Ok(()));
        assert!(committed(&dir, "kept"));
        let raw = Connection::open(dir.path().join("t.db")).expect("raw");
        let rewritten: i64 = raw
            .query_row("SELECT COUNT(*) FROM t WHERE v LIKE 'y%'", [], |row| {
                row.get(0)
            })
            .expect("count");
        assert_eq!(rewritten, 0, "the failed operation left nothing");
        conns.close().await;
    }

    #[tokio::test]
    async fn writer_never_checkpoints_on_commit() {
        let dir = tempfile::tempdir().expect("dir");
        let conns = open(&dir);
        let pages: i64 = conns
            .write(|conn| {
                conn.query_row("PRAGMA wal_autocheckpoint", [], |row| row.get(0))
                    .map_err(db)
            })
            .await
            .expect("pragma");
        assert_eq!(pages, 0);
        conns.close().await;
    }

    #[tokio::test]
    async fn concurrent_writes_share_one_commit_and_answer_after_it() {
        let dir = tempfile::tempdir().expect("dir");
        let conns = open(&dir);
        with_table(&conns).await;
        let first = conns.write(|conn| insert(conn, "a"));
        let second = conns.write(|conn| {
            insert(conn, "b")?;
            // Same transaction as "a": this writer sees it, nobody else does yet.
            let seen: i64 = conn
                .query_row("SELECT COUNT(*) FROM t WHERE v = 'a'", [], |row| row.get(0))
                .map_err(db)?;
            Ok((seen, committed(&dir, "a")))
        });
        let (first, second) = tokio::join!(first, second);
        assert_eq!(first, Ok(()));
        assert_eq!(second, Ok((1, false)), "one open transaction for both");
        assert!(committed(&dir, "a") && committed(&dir, "b"));
        conns.close().await;
    }

    #[tokio::test]
    async fn failed_write_in_a_shared_commit_rolls_back_only_itself() {
        let dir = tempfile::tempdir().expect("dir");
        let conns = open(&dir);
        with_table(&conns).await;
        conns
            .write(|conn| insert(conn, "taken"))
            .await
            .expect("seed");
        let (kept, failed, after) = tokio::join!(
            conns.write(|conn| insert(conn, "a")),
            conns.write(|conn| {
                insert(conn, "half")?;
                insert(conn, "taken")
            }),
            conns.write(|conn| insert(conn, "b")),
        );
        assert_eq!(kept, Ok(()));
        assert_eq!(failed, Err(StoreError::Conflict));
        assert_eq!(after, Ok(()));
        assert!(committed(&dir, "a") && committed(&dir, "b"));
        assert!(!committed(&dir, "half"), "the failed write is undone whole");
        conns.close().await;
    }

    #[tokio::test]
    async fn cancelled_write_is_committed_and_frees_the_writer() {
        let dir = tempfile::tempdir().expect("dir");
        let conns = open(&dir);
        with_table(&conns).await;
        // Polled once: the write runs, then yields before its commit, and is dropped there.
        tokio::select! {
            biased;
            _ = conns.write(|conn| insert(conn, "dropped")) => panic!("the write should yield before committing"),
            () = std::future::ready(()) => {}
        }
        assert!(committed(&dir, "dropped"), "no transaction left open");
        conns
            .write(|conn| insert(conn, "next"))
            .await
            .expect("the writer is free");
        assert!(committed(&dir, "next"));
        conns.close().await;
    }

    #[tokio::test]
    async fn long_log_is_restarted_by_the_checkpoint_thread_holding_the_writer() {
        let dir = tempfile::tempdir().expect("dir");
        let conns = open(&dir);
        with_table(&conns).await;
        for i in 0..20 {
            let v = i.to_string();
            conns.write(|conn| insert(conn, &v)).await.expect("insert");
        }
        // An open batch: the round must commit it before it checkpoints, not wait behind it.
        conns
            .writer
            .lock()
            .await
            .as_mut()
            .expect("open")
            .run(|conn| insert(conn, "batched"))
            .expect("run");
        let raw = Connection::open(dir.path().join("t.db")).expect("raw");
        let writer = conns.writer.clone();
        std::thread::spawn(move || checkpoint_round(&raw, &writer, 0, &mut false))
            .join()
            .expect("round");
        assert!(
            committed(&dir, "batched"),
            "the open batch was committed first"
        );
        conns
            .write(|conn| insert(conn, "next"))
            .await
            .expect("write");
        let raw = Connection::open(dir.path().join("t.db")).expect("raw");
        let (log, done): (i64, i64) = raw
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                Ok((row.get(1)?, row.get(2)?))
            })
            .expect("checkpoint");
        assert!(log < 5 && done == log, "the log started over: {log} frames");
        conns.close().await;
    }

    /// Writes 3,000 rows of 3 KB one by one and returns the log's size, past [`JOURNAL_SIZE_LIMIT`].
    async fn write_a_burst(conns: &Connections, wal: &Path) -> u64 {
        let row = "x".repeat(3000);
        for i in 0..3000 {
            let v = format!("{i}-{row}");
            conns.write(|conn| insert(conn, &v)).await.expect("insert");
        }
        let burst = std::fs::metadata(wal).expect("wal").len();
        assert!(
            burst > u64::try_from(JOURNAL_SIZE_LIMIT).unwrap_or(0),
            "the burst grew the log: {burst}"
        );
        burst
    }

    #[tokio::test]
    async fn write_ahead_log_is_cut_back_to_its_limit_after_a_burst() {
        let dir = tempfile::tempdir().expect("dir");
        let conns = open(&dir);
        with_table(&conns).await;
        let wal = dir.path().join("t.db-wal");
        let limit = u64::try_from(JOURNAL_SIZE_LIMIT).unwrap_or(0);
        let burst = write_a_burst(&conns, &wal).await;
        // Idle but for a trickle of writes: the checkpoint thread copies the log back, a commit starts it over, and
        // its file is cut back.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut i = 0;
        loop {
            i += 1;
            let v = format!("trickle-{i}");
            conns.write(|conn| insert(conn, &v)).await.expect("write");
            let size = std::fs::metadata(&wal).expect("wal").len();
            if size <= limit {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the log kept its burst size: {burst} -> {size} bytes"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        conns.close().await;
    }

    /// Under a steady load (the log started over by the thread holding the writer) the log's file keeps its size;
    /// once the load has dropped, the next restart cuts it back.
    #[tokio::test]
    async fn forced_restart_keeps_the_log_file_and_a_quiet_restart_cuts_it_back() {
        let dir = tempfile::tempdir().expect("dir");
        let conns = open(&dir);
        with_table(&conns).await;
        // Nothing but these rounds checkpoints: the store's own thread is stopped.
        drop(conns.checkpointer.lock().expect("lock").take());
        let wal = dir.path().join("t.db-wal");
        let limit = u64::try_from(JOURNAL_SIZE_LIMIT).unwrap_or(0);
        let burst = write_a_burst(&conns, &wal).await;
        let raw = Arc::new(std::sync::Mutex::new(
            Connection::open(dir.path().join("t.db")).expect("raw"),
        ));
        let round = |restart_past: i64, kept: bool| {
            let raw = Arc::clone(&raw);
            let writer = conns.writer.clone();
            std::thread::spawn(move || {
                let mut kept = kept;
                checkpoint_round(&raw.lock().expect("raw"), &writer, restart_past, &mut kept);
                kept
            })
            .join()
            .expect("round")
        };
        let kept = round(0, false);
        assert!(kept, "the forced restart lifts the limit");
        conns
            .write(|conn| insert(conn, "after the forced restart"))
            .await
            .expect("write");
        let size = std::fs::metadata(&wal).expect("wal").len();
        assert_eq!(
            size, burst,
            "the log started over in its file, which kept its size"
        );
        // The load drops: a round with a short log puts the limit back, and the next restart cuts the file back.
        let kept = round(i64::MAX, kept);
        assert!(!kept, "the limit is back");
        round(i64::MAX, kept);
        conns
            .write(|conn| insert(conn, "quiet"))
            .await
            .expect("write");
        let size = std::fs::metadata(&wal).expect("wal").len();
        assert!(
            size <= limit,
            "the quiet restart cut the log back: {size} bytes"
        );
        conns.close().await;
    }

    #[tokio::test]
    async fn abandoned_batch_is_committed_by_the_checkpoint_thread() {
        let dir = tempfile::tempdir().expect("dir");
        let conns = open(&dir);
        with_table(&conns).await;
        let (sender, receiver) = oneshot::channel();
        {
            let mut guard = conns.writer.lock().await;
            let writer = guard.as_mut().expect("open");
            writer.run(|conn| insert(conn, "orphan")).expect("run");
            writer.waiting.push(sender);
        }
        drop(receiver);
        assert!(!committed(&dir, "orphan"));
        let raw = Connection::open(dir.path().join("t.db")).expect("raw");
        let writer = conns.writer.clone();
        std::thread::spawn(move || checkpoint_round(&raw, &writer, i64::MAX, &mut false))
            .join()
            .expect("round");
        assert!(committed(&dir, "orphan"), "no transaction left open");
        conns.close().await;
    }

    /// A small volume of its own (tmpfs), unmounted when dropped.
    struct SmallVolume {
        dir: tempfile::TempDir,
    }

    impl SmallVolume {
        fn mount(megabytes: u32) -> Option<Self> {
            let dir = tempfile::tempdir().expect("dir");
            let mounted = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            mounted.then_some(Self { dir })
        }
    }

    impl Drop for SmallVolume {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg(self.dir.path())
                .status();
        }
    }

    fn free_bytes(dir: &Path) -> u64 {
        let stats = rustix::fs::statvfs(dir).expect("statvfs");
        stats.f_bavail * stats.f_frsize
    }

    async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
        for _ in 0..100 {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("not within 10 s: {what}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_volume_releases_the_disk_reserve_recovers_by_itself_and_takes_it_back_when_space_returns()
     {
        let Some(volume) = SmallVolume::mount(32) else {
            println!(
                "SKIPPED(mount): full_volume_releases_the_disk_reserve (mounting a tmpfs needs root)"
            );
            return;
        };
        let root = volume.dir.path();
        let database = root.join("t.db");
        let reserve_bytes = 4 * 1024 * 1024;
        let conns = Connections::open(&database, 2, reserve_bytes).expect("open");
        let reserve_file = root.join("t.db.reserve");
        assert_eq!(
            std::fs::metadata(&reserve_file).map(|m| m.len()).ok(),
            Some(reserve_bytes),
            "the reserve is taken at start"
        );
        conns
            .write(|conn| run_sql(conn, "CREATE TABLE t (v TEXT NOT NULL)"))
            .await
            .expect("create");
        // Something else on the volume takes all but 2 MiB.
        let filler_path = root.join("filler");
        let filler = std::fs::File::create(&filler_path).expect("filler");
        let take = free_bytes(root) - 2 * 1024 * 1024;
        rustix::fs::fallocate(&filler, rustix::fs::FallocateFlags::empty(), 0, take).expect("fill");
        drop(filler);

        let row = "x".repeat(64 * 1024);
        let mut refused = false;
        for _ in 0..2_000 {
            if conns.write(|conn| insert(conn, &row)).await.is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused, "the burst fills the volume");

        // No one frees space from outside: the store gives back its reserve, copies the log back, truncates it,
        // and takes rows of the same size again (half a megabyte of them).
        eventually("writes succeed again on the full volume", async || {
            for _ in 0..8 {
                if conns.write(|conn| insert(conn, &row)).await.is_err() {
                    return false;
                }
            }
            true
        })
        .await;
        assert!(
            !reserve_file.exists(),
            "the reserve was given back while the volume is full"
        );

        // Space returns: the reserve is taken again.
        std::fs::remove_file(&filler_path).expect("free the volume");
        eventually("the reserve is held again", async || {
            std::fs::metadata(&reserve_file).is_ok_and(|m| m.len() == reserve_bytes)
        })
        .await;
        conns
            .write(|conn| insert(conn, "after"))
            .await
            .expect("write");
        conns.close().await;
        drop(volume);
    }
}
