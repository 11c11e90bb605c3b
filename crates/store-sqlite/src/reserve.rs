//! The disk reserve: a file of allocated blocks beside the database that the store gives back when its volume is
//! full, so that the write-ahead log can still be checkpointed and cut back, and takes again once space returns.
//!
//! Without it, a log that filled the volume could not be copied back (the database file may need to grow for that)
//! and the store stayed unable to write until someone freed space from outside.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

/// The reserve's size: a few checkpoints' worth of database growth.
pub(crate) const DEFAULT_RESERVE_BYTES: u64 = 16 * 1024 * 1024;

/// What the free-space check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReserveStep {
    /// Nothing to do.
    Keep,
    /// The volume is (nearly) full: the reserve was released; checkpoint and truncate the log now.
    Released,
    /// Space returned: the reserve is held again.
    Restored,
}

/// The reserve file and whether it is held.
pub(crate) struct DiskReserve {
    path: PathBuf,
    bytes: u64,
    held: bool,
}

impl DiskReserve {
    /// The reserve for the database at `database` (`<file>.reserve`), taken now if the volume has room; a volume
    /// without room starts without it (and takes it once space returns). `bytes == 0` disables it.
    pub(crate) fn take(database: &Path, bytes: u64) -> Self {
        let mut reserve = Self {
            path: crate::beside(database, ".reserve"),
            bytes,
            held: false,
        };
        if bytes > 0 {
            reserve.held = reserve.allocate();
            if !reserve.held {
                tracing::warn!(
                    path = %reserve.path.display(),
                    bytes,
                    "no room for the store's disk reserve: starting without it (it is taken once space returns)"
                );
            }
        }
        reserve
    }

    /// Releases the reserve when the volume's free space is below a quarter of it, and takes it again once the
    /// volume has room for it twice over (so that taking it never fills the volume itself).
    pub(crate) fn adjust(&mut self) -> ReserveStep {
        if self.bytes == 0 {
            return ReserveStep::Keep;
        }
        let Some(free) = free_bytes(&self.path) else {
            return ReserveStep::Keep;
        };
        if self.held && free < self.bytes / 4 {
            let _ = std::fs::remove_file(&self.path);
            self.held = false;
            tracing::error!(
                path = %self.path.display(),
                free,
                released = self.bytes,
                "the store's volume is full: released the disk reserve to checkpoint and cut back the write-ahead \
                 log; writes fail until space is freed"
            );
            return ReserveStep::Released;
        }
        if !self.held && free >= self.bytes.saturating_mul(2) && self.allocate() {
            self.held = true;
            tracing::info!(path = %self.path.display(), free, "space returned: the store's disk reserve is held again");
            return ReserveStep::Restored;
        }
        ReserveStep::Keep
    }

    /// Allocates the reserve's blocks (not a sparse file: the space must be the store's).
    fn allocate(&self) -> bool {
        let file = match OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.path)
        {
            Ok(file) => file,
            Err(_) => return false,
        };
        let allocated =
            rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, self.bytes)
                .is_ok()
                && file.sync_all().is_ok();
        if !allocated {
            drop(file);
            let _ = std::fs::remove_file(&self.path);
        }
        allocated
    }
}

/// Bytes an unprivileged process may still write on the volume that holds `path`.
fn free_bytes(path: &Path) -> Option<u64> {
    let stats = rustix::fs::statvfs(crate::directory_of(path)).ok()?;
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}
