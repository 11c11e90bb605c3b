//! Whether this process records metrics, and the store's own: operation latency and failures, by backend and kind
//! (`read`, `write`). Emitted through the `metrics` facade; `tessera serve` installs the Prometheus recorder when
//! `[metrics] enabled` (docs/observability.md). Off, recording costs one relaxed load.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::StoreError;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Starts recording metrics in this process (the server does, once its recorder is installed).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether metrics are recorded.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The start of a timed store operation, when metrics are recorded.
pub fn start() -> Option<Instant> {
    enabled().then(Instant::now)
}

/// Records a store operation that began at `started`: its duration in `tessera_store_operation_duration_seconds`
/// and, when the store could not answer (unavailable or corrupt data, not a missing row or a conflict), one more
/// `tessera_store_errors_total`.
pub fn observe<T>(
    backend: &'static str,
    kind: &'static str,
    started: Option<Instant>,
    result: &Result<T, StoreError>,
) {
    let Some(started) = started else { return };
    let seconds = started.elapsed().as_secs_f64();
    HANDLES.with_borrow_mut(|handles| {
        handles
            .durations
            .entry((backend, kind))
            .or_insert_with(|| {
                metrics::histogram!(
                    "tessera_store_operation_duration_seconds",
                    "backend" => backend,
                    "kind" => kind
                )
            })
            .record(seconds);
    });
    if let Err(error) = result {
        failed(backend, error);
    }
}

/// Counts a store failure in `tessera_store_errors_total` (a missing row or a conflict is an answer, not a failure).
pub fn failed(backend: &'static str, error: &StoreError) {
    if enabled() && matches!(error, StoreError::Unavailable(_) | StoreError::Corrupt(_)) {
        HANDLES.with_borrow_mut(|handles| {
            handles
                .errors
                .entry(backend)
                .or_insert_with(
                    || metrics::counter!("tessera_store_errors_total", "backend" => backend),
                )
                .increment(1);
        });
    }
}

/// Each thread keeps the handles it has used, so recording takes no lock: the recorder's registry is consulted once
/// per thread and label set.
#[derive(Default)]
struct Handles {
    durations: HashMap<(&'static str, &'static str), metrics::Histogram>,
    errors: HashMap<&'static str, metrics::Counter>,
}

thread_local! {
    static HANDLES: RefCell<Handles> = RefCell::default();
}
