//! What the HTTP layer records through the `metrics` facade, when `tessera_store::metrics::enabled()` (the server's
//! `[metrics] enabled`): every request by route template and status, sign-ins and sign-ups by outcome, ceremony and
//! token endpoint latency, and rate-limit refusals. Names and labels are listed in `docs/observability.md`.
//!
//! Recording takes no lock: each thread keeps the handles it has used (one registry lookup per thread and label
//! set), and a handle is an atomic.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use metrics::{Counter, Histogram};

/// The handles one thread has used.
#[derive(Default)]
struct Handles {
    /// Route template → (status, counter).
    requests: HashMap<String, Vec<(u16, Counter)>>,
    /// Ceremony route template → latency histogram.
    ceremonies: HashMap<String, Histogram>,
    /// Everything with fixed labels, by name and label.
    fixed: HashMap<(&'static str, &'static str), Counter>,
    token: Option<Histogram>,
}

thread_local! {
    static HANDLES: RefCell<Handles> = RefCell::default();
}

/// Records one answered request: `route` is its template (`/{tenant}/oidc/token`), never the raw path, so the label
/// set stays bounded.
pub fn request(route: Option<&str>, status: u16, elapsed: Duration) {
    if !tessera_store::metrics::enabled() {
        return;
    }
    let route = route.unwrap_or("unmatched");
    let seconds = elapsed.as_secs_f64();
    let outcome = match status {
        200..=399 => "ok",
        400..=499 => "refused",
        _ => "error",
    };
    HANDLES.with_borrow_mut(|handles| {
        let per_route = match handles.requests.get_mut(route) {
            Some(per_route) => per_route,
            None => handles.requests.entry(route.to_owned()).or_default(),
        };
        match per_route.iter().find(|(s, _)| *s == status) {
            Some((_, counter)) => counter.increment(1),
            None => {
                let counter = metrics::counter!(
                    "tessera_http_requests_total",
                    "route" => route.to_owned(),
                    "status" => status.to_string()
                );
                counter.increment(1);
                per_route.push((status, counter));
            }
        }
        if route.ends_with("/webauthn/login/verify") {
            fixed(handles, "tessera_sign_ins_total", outcome).increment(1);
        } else if route.ends_with("/webauthn/register/verify") {
            fixed(handles, "tessera_sign_ups_total", outcome).increment(1);
        }
        if route.contains("/webauthn/") {
            match handles.ceremonies.get(route) {
                Some(histogram) => histogram.record(seconds),
                None => {
                    let histogram = metrics::histogram!(
                        "tessera_ceremony_duration_seconds",
                        "route" => route.to_owned()
                    );
                    histogram.record(seconds);
                    handles.ceremonies.insert(route.to_owned(), histogram);
                }
            }
        } else if route.ends_with("/oidc/token") {
            handles
                .token
                .get_or_insert_with(|| metrics::histogram!("tessera_token_duration_seconds"))
                .record(seconds);
        }
    });
}

/// A counter whose one label, `outcome`, has a fixed value.
fn fixed<'a>(handles: &'a mut Handles, name: &'static str, outcome: &'static str) -> &'a Counter {
    handles
        .fixed
        .entry((name, outcome))
        .or_insert_with(|| metrics::counter!(name, "outcome" => outcome))
}

/// Counts a request refused by a per-address rate limiter.
pub fn rate_limited() {
    if tessera_store::metrics::enabled() {
        HANDLES.with_borrow_mut(|handles| {
            handles
                .fixed
                .entry(("tessera_rate_limited_total", ""))
                .or_insert_with(|| metrics::counter!("tessera_rate_limited_total"))
                .increment(1);
        });
    }
}
