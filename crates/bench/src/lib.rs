//! `tessera-bench signin`: complete passkey sign-ins against a real `tessera serve` on loopback, measured the way
//! `shared/bench/peers/` measures node `oidc-provider` (server pinned to CPU 0, load on CPU 1, server CPU time from
//! `/proc`, medians over runs). A binary of its own because it links the test authenticators (`tessera-testkit`),
//! which the production `tessera` binary does not.
//!
//! - [`server`]: the server under test (generated configuration, tenant, client, child process, readiness).
//! - [`signin`]: the load generator's browser and relying party ([`signin::Driver`]).
//! - [`federated`]: the federated path (app → broker → authenticator service → broker → app token) and the
//!   broker's configuration for it.
//! - [`proc`]: CPU time and resident memory of a process, CPU pinning.
//! - [`stats`]: percentiles and medians.
//! - [`store_load`]: the store operations of sign-ins without HTTP, for the `signin_ops*` examples.
//! - [`error`]: [`BenchError`], the crate's one error type.

pub mod error;
pub mod federated;
pub mod proc;
pub mod server;
pub mod signin;
pub mod stats;
pub mod store_load;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use tessera_oidc::keys::{JwkSet, SigningAlg};
use tokio::task::JoinSet;

pub use crate::error::BenchError;
use federated::BrokerTarget;
use server::{BenchStore, ServerUnderTest};
use signin::{BenchUser, Driver};

/// `tessera-bench ...`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Complete passkey sign-ins (authorize → passkey → code → token) against a server this command starts.
    Signin(SigninArgs),
}

/// The store of the server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// Durable SQLite in a temporary directory.
    Sqlite,
    /// PostgreSQL at `--pg-url`.
    Postgres,
}

/// The ID token signing algorithm of the bench client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Alg {
    /// ECDSA P-256.
    #[value(name = "ES256")]
    Es256,
    /// RSA PKCS#1 v1.5 with SHA-256.
    #[value(name = "RS256")]
    Rs256,
}

impl Alg {
    fn name(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::Rs256 => "RS256",
        }
    }

    fn signing(self) -> SigningAlg {
        match self {
            Alg::Es256 => SigningAlg::Es256,
            Alg::Rs256 => SigningAlg::Rs256,
        }
    }
}

/// Which sign-in is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignInPath {
    /// An app signs in at the authenticator service (Tessera as the OpenID provider).
    Direct,
    /// An app signs in through the identity broker, which federates with the authenticator service of the same
    /// server (app → broker → authenticator service → broker → app token).
    Federated,
}

impl SignInPath {
    fn name(self) -> &'static str {
        match self {
            SignInPath::Direct => "direct",
            SignInPath::Federated => "federated",
        }
    }
}

/// Options of `tessera-bench signin`.
#[derive(Debug, Clone, Args)]
pub struct SigninArgs {
    /// The `tessera` binary to measure (default: `tessera` beside this binary, as `cargo build` places it).
    #[arg(long, env = "TESSERA_BIN")]
    pub server_bin: Option<PathBuf>,
    /// The server's store.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub store: StoreKind,
    /// PostgreSQL URL (with `--store postgres`).
    #[arg(long, env = "TEST_PG_URL")]
    pub pg_url: Option<String>,
    /// ID token signing algorithm of the bench client (on the federated path, of the broker's client at the
    /// authenticator service and of the app at the broker).
    #[arg(long, value_enum, default_value = "ES256")]
    pub alg: Alg,
    /// The sign-in measured.
    #[arg(long, value_enum, default_value = "direct")]
    pub path: SignInPath,
    /// Seconds per measured run.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Measured runs (at saturation); medians are taken over them.
    #[arg(long, default_value_t = 5)]
    pub runs: u32,
    /// Concurrent virtual users at saturation.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Users enrolled before the runs (at least `--concurrency`).
    #[arg(long, default_value_t = 50)]
    pub users: usize,
    /// One JSON line per run on stdout (the peer driver's keys), the summary on stderr.
    #[arg(long)]
    pub json: bool,
    /// CPU the server is pinned to.
    #[arg(long, default_value_t = 0)]
    pub server_cpu: usize,
    /// CPU the load generator (this process) is pinned to.
    #[arg(long, default_value_t = 1)]
    pub load_cpu: usize,
    /// Skip the run at half the saturated rate.
    #[arg(long)]
    pub no_half_load: bool,
}

/// Runs a bench command.
pub async fn run(command: BenchCommand) -> Result<(), BenchError> {
    match command {
        BenchCommand::Signin(args) => signin_bench(args).await,
    }
}

/// The result of one measured run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Completed sign-ins.
    pub logins: u64,
    /// Failed sign-ins.
    pub errors: u64,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// Wall time of the run, in seconds.
    pub seconds: f64,
    /// Server CPU seconds (utime + stime) used during the run.
    pub server_cpu_s: f64,
    /// CPU seconds the load generator (this process) used during the run.
    pub load_cpu_s: f64,
    /// Sorted whole-sign-in latencies, in milliseconds.
    pub latencies_ms: Vec<f64>,
}

impl RunResult {
    /// Sign-ins per wall second.
    pub fn logins_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.logins as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Sign-ins per server CPU-second.
    pub fn logins_per_server_cpu_s(&self) -> f64 {
        if self.server_cpu_s > 0.0 {
            self.logins as f64 / self.server_cpu_s
        } else {
            0.0
        }
    }

    /// Server CPU seconds per wall second.
    pub fn server_cpu_util(&self) -> f64 {
        if self.seconds > 0.0 {
            self.server_cpu_s / self.seconds
        } else {
            0.0
        }
    }

    /// Load-generator CPU seconds per wall second (near 1.0: the generator, not the server, is the limit).
    pub fn load_cpu_util(&self) -> f64 {
        if self.seconds > 0.0 {
            self.load_cpu_s / self.seconds
        } else {
            0.0
        }
    }
}

/// The enrolled users, lent to one sign-in at a time (a passkey's signature counter must not race itself).
struct Pool(Mutex<Vec<Arc<BenchUser>>>);

impl Pool {
    fn take(&self) -> Option<Arc<BenchUser>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    /// Waits (1 ms steps) for a free user; the wait counts in the sign-in's latency.
    async fn take_waiting(&self) -> Arc<BenchUser> {
        loop {
            if let Some(user) = self.take() {
                return user;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    fn give(&self, user: Arc<BenchUser>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(0, user);
    }
}

/// The sign-in a run repeats: direct, or through the broker described.
#[derive(Debug, Clone)]
pub enum Flow {
    /// At the authenticator service.
    Direct,
    /// Through the broker.
    Federated(Arc<BrokerTarget>),
}

/// One sign-in of `user` along `flow`; with `jwks`, the ID token's signature is checked.
async fn sign_in_along(
    driver: &Driver,
    flow: &Flow,
    user: &BenchUser,
    jwks: Option<&JwkSet>,
) -> Result<signin::SignedIn, BenchError> {
    match flow {
        Flow::Direct => driver.sign_in(user, jwks).await,
        Flow::Federated(broker) => driver.federated_sign_in(broker, user, jwks).await,
    }
}

/// One sign-in with a user from the pool; the latency in milliseconds on success.
async fn one(driver: &Driver, flow: &Flow, pool: &Pool, since: Instant) -> Result<f64, String> {
    let user = pool.take_waiting().await;
    let result = sign_in_along(driver, flow, &user, None).await;
    pool.give(user);
    match result {
        Ok(_) => Ok(since.elapsed().as_secs_f64() * 1000.0),
        Err(e) => Err(e.to_string()),
    }
}

/// `concurrency` virtual users signing in back to back for `seconds`.
async fn closed_loop(
    driver: &Arc<Driver>,
    flow: &Flow,
    pool: &Arc<Pool>,
    concurrency: usize,
    seconds: f64,
    pid: u32,
) -> Result<RunResult, BenchError> {
    let cpu0 = proc::cpu_seconds(pid)?;
    let own0 = proc::cpu_seconds(std::process::id())?;
    let t0 = Instant::now();
    let until = t0 + Duration::from_secs_f64(seconds);
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let driver = driver.clone();
        let flow = flow.clone();
        let pool = pool.clone();
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut first = None;
            while Instant::now() < until {
                match one(&driver, &flow, &pool, Instant::now()).await {
                    Ok(ms) => lat.push(ms),
                    Err(e) => {
                        errors += 1;
                        first.get_or_insert(e);
                    }
                }
            }
            (lat, errors, first)
        });
    }
    let mut result = RunResult {
        logins: 0,
        errors: 0,
        first_error: None,
        seconds: 0.0,
        server_cpu_s: 0.0,
        load_cpu_s: 0.0,
        latencies_ms: Vec::new(),
    };
    while let Some(joined) = tasks.join_next().await {
        let (lat, errors, first) =
            joined.map_err(|e| BenchError::Failed(format!("a virtual user failed: {e}")))?;
        result.latencies_ms.extend(lat);
        result.errors += errors;
        if result.first_error.is_none() {
            result.first_error = first;
        }
    }
    result.seconds = t0.elapsed().as_secs_f64();
    result.server_cpu_s = proc::cpu_seconds(pid)? - cpu0;
    result.load_cpu_s = proc::cpu_seconds(std::process::id())? - own0;
    result.logins = result.latencies_ms.len() as u64;
    stats::sort(&mut result.latencies_ms);
    Ok(result)
}

/// Sign-ins started at a fixed `rate` per second for `seconds` (open loop): each latency counts from the moment its
/// sign-in was due, so a stalled server cannot hide its queueing.
async fn fixed_rate(
    driver: &Arc<Driver>,
    flow: &Flow,
    pool: &Arc<Pool>,
    rate: f64,
    seconds: f64,
    pid: u32,
) -> Result<RunResult, BenchError> {
    let cpu0 = proc::cpu_seconds(pid)?;
    let own0 = proc::cpu_seconds(std::process::id())?;
    let t0 = Instant::now();
    let total = (rate * seconds).floor() as u64;
    let mut started = 0u64;
    let mut tasks = JoinSet::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while started < total {
        ticker.tick().await;
        let due = ((t0.elapsed().as_secs_f64() * rate).floor() as u64).min(total);
        while started < due {
            let at = t0 + Duration::from_secs_f64(started as f64 / rate);
            let driver = driver.clone();
            let flow = flow.clone();
            let pool = pool.clone();
            tasks.spawn(async move { one(&driver, &flow, &pool, at).await });
            started += 1;
        }
    }
    let mut result = RunResult {
        logins: 0,
        errors: 0,
        first_error: None,
        seconds: 0.0,
        server_cpu_s: 0.0,
        load_cpu_s: 0.0,
        latencies_ms: Vec::with_capacity(total as usize),
    };
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(ms)) => result.latencies_ms.push(ms),
            Ok(Err(e)) => {
                result.errors += 1;
                result.first_error.get_or_insert(e);
            }
            Err(e) => {
                result.errors += 1;
                result.first_error.get_or_insert(e.to_string());
            }
        }
    }
    result.seconds = t0.elapsed().as_secs_f64();
    result.server_cpu_s = proc::cpu_seconds(pid)? - cpu0;
    result.load_cpu_s = proc::cpu_seconds(std::process::id())? - own0;
    result.logins = result.latencies_ms.len() as u64;
    stats::sort(&mut result.latencies_ms);
    Ok(result)
}

/// Sign-in with a signature check of the ID token (the first login of each run).
async fn checked_sign_in(
    driver: &Driver,
    flow: &Flow,
    pool: &Pool,
    jwks: &JwkSet,
) -> Result<(), BenchError> {
    let user = pool
        .take()
        .ok_or_else(|| BenchError::Failed("no free bench user".into()))?;
    let result = sign_in_along(driver, flow, &user, Some(jwks)).await;
    pool.give(user);
    result.map(|_| ())
}

/// The binary to start: `explicit`, or `tessera` in the directory of this executable.
fn server_binary(explicit: Option<&std::path::Path>) -> Result<PathBuf, BenchError> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None => std::env::current_exe()
            .map_err(|e| BenchError::io("locate the tessera-bench binary", e))?
            .with_file_name(format!("tessera{}", std::env::consts::EXE_SUFFIX)),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(BenchError::Failed(format!(
            "no tessera binary at {} (build it with `cargo build --release -p tessera-server`, or pass --server-bin)",
            path.display()
        )))
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

async fn signin_bench(args: SigninArgs) -> Result<(), BenchError> {
    let store = match args.store {
        StoreKind::Sqlite => BenchStore::Sqlite,
        StoreKind::Postgres => BenchStore::Postgres {
            url: args
                .pg_url
                .clone()
                .filter(|u| !u.is_empty())
                .ok_or(BenchError::Missing { key: "--pg-url" })?,
        },
    };
    if args.concurrency == 0 || args.runs == 0 || args.seconds == 0 {
        return Err(BenchError::Failed(
            "--concurrency, --runs and --seconds must be at least 1".into(),
        ));
    }
    let users = args.users.max(args.concurrency);
    let store_name = match args.store {
        StoreKind::Sqlite => "sqlite",
        StoreKind::Postgres => "postgres",
    };
    let say = |line: String| {
        if args.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };

    let tessera = server_binary(args.server_bin.as_deref())?;
    let server =
        ServerUnderTest::start(&tessera, &store, args.alg.signing(), args.server_cpu).await?;
    let pid = server.pid;
    proc::pin(std::process::id(), args.load_cpu)?;
    let ready_ms = server.ready.as_secs_f64() * 1000.0;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle_rss_kb, _) = proc::memory_kib(pid)?;
    say(format!(
        "server pid {pid} on CPU {}, load on CPU {}; store {store_name}, ID tokens {}, path {}; accepted a connection {ready_ms:.1} ms after spawn; idle RSS {idle_rss_kb} KiB",
        args.server_cpu,
        args.load_cpu,
        args.alg.name(),
        args.path.name()
    ));

    let driver = Arc::new(Driver::new(server.target.clone(), args.alg.name())?);
    let mut enrolled = Vec::with_capacity(users);
    for i in 0..users {
        let user = driver.enrol(&format!("bench-user-{i}")).await?;
        enrolled.push(Arc::new(user));
    }
    say(format!(
        "enrolled {users} users through the sign-up endpoints"
    ));
    let (flow, jwks) = match args.path {
        SignInPath::Direct => (Flow::Direct, driver.jwks().await?),
        SignInPath::Federated => {
            let broker = server.prepare_broker().await?;
            // Each user's first federated sign-in creates its directory entry (untimed): the runs measure
            // returning users.
            for user in &enrolled {
                driver.federated_sign_in(&broker, user, None).await?;
            }
            let jwks = driver.broker_jwks(&broker).await?;
            say(format!(
                "broker tenant {} with user flow {}; every user signed in once through it",
                broker.tenant, broker.policy
            ));
            (Flow::Federated(Arc::new(broker)), jwks)
        }
    };
    let pool = Arc::new(Pool(Mutex::new(enrolled)));

    // Warm-up, as the peer driver does (2 s, not recorded).
    checked_sign_in(&driver, &flow, &pool, &jwks).await?;
    closed_loop(&driver, &flow, &pool, args.concurrency, 2.0, pid).await?;

    let mut results = Vec::new();
    for run in 1..=args.runs {
        checked_sign_in(&driver, &flow, &pool, &jwks).await?;
        let r = closed_loop(
            &driver,
            &flow,
            &pool,
            args.concurrency,
            args.seconds as f64,
            pid,
        )
        .await?;
        let (rss, hwm) = proc::memory_kib(pid)?;
        let line = json!({
            "mode": "saturated", "path": args.path.name(), "store": store_name, "alg": args.alg.name(), "run": run,
            "concurrency": args.concurrency, "seconds": round2(r.seconds), "logins": r.logins, "errors": r.errors,
            "logins_per_s": r.logins_per_s().round(),
            "p50_ms": round2(stats::quantile(&r.latencies_ms, 0.5)),
            "p99_ms": round2(stats::quantile(&r.latencies_ms, 0.99)),
            "server_cpu_s": round2(r.server_cpu_s), "server_cpu_util": round2(r.server_cpu_util()),
            "load_cpu_util": round2(r.load_cpu_util()),
            "logins_per_server_cpu_s": r.logins_per_server_cpu_s().round(),
            "server_rss_kb": rss, "server_peak_rss_kb": hwm, "idle_rss_kb": idle_rss_kb,
            "ready_ms": round2(ready_ms),
        });
        if args.json {
            println!("{line}");
        } else {
            say(format!(
                "run {run}: {:.0} sign-ins/s, {:.0} per server CPU-s (server util {:.2}, load generator util {:.2}), p50 {:.2} ms, p99 {:.2} ms, errors {}, RSS {rss} KiB, peak {hwm} KiB",
                r.logins_per_s(),
                r.logins_per_server_cpu_s(),
                r.server_cpu_util(),
                r.load_cpu_util(),
                stats::quantile(&r.latencies_ms, 0.5),
                stats::quantile(&r.latencies_ms, 0.99),
                r.errors
            ));
        }
        if let Some(e) = &r.first_error {
            eprintln!("run {run}: first error: {e}");
        }
        results.push(r);
    }

    let med = |f: &dyn Fn(&RunResult) -> f64| {
        let values: Vec<f64> = results.iter().map(f).collect();
        stats::median_min_max(&values).unwrap_or_default()
    };
    let show = |(m, lo, hi): (f64, f64, f64), digits: usize| {
        format!("{m:.digits$} [{lo:.digits$}..{hi:.digits$}]")
    };
    let rate = med(&|r| r.logins_per_s());
    say(format!(
        "medians over {} runs: sign-ins/s {}; per server CPU-s {}; p50 ms {}; p99 ms {}; server CPU util {}; load generator CPU util {}",
        results.len(),
        show(rate, 0),
        show(med(&|r| r.logins_per_server_cpu_s()), 0),
        show(med(&|r| stats::quantile(&r.latencies_ms, 0.5)), 2),
        show(med(&|r| stats::quantile(&r.latencies_ms, 0.99)), 2),
        show(med(&|r| r.server_cpu_util()), 2),
        show(med(&|r| r.load_cpu_util()), 2),
    ));

    if !args.no_half_load && rate.0 >= 2.0 {
        let target = rate.0 / 2.0;
        checked_sign_in(&driver, &flow, &pool, &jwks).await?;
        let r = fixed_rate(&driver, &flow, &pool, target, args.seconds as f64, pid).await?;
        let p50 = stats::quantile(&r.latencies_ms, 0.5);
        let p99 = stats::quantile(&r.latencies_ms, 0.99);
        if args.json {
            println!(
                "{}",
                json!({
                    "mode": "half_load", "path": args.path.name(), "store": store_name, "alg": args.alg.name(),
                    "target_per_s": target.round(), "half_logins_per_s": r.logins_per_s().round(),
                    "half_p50_ms": round2(p50), "half_p99_ms": round2(p99),
                    "half_server_cpu_util": round2(r.server_cpu_util()),
                    "half_logins_per_server_cpu_s": r.logins_per_server_cpu_s().round(),
                    "half_errors": r.errors,
                })
            );
        }
        say(format!(
            "half load ({target:.0}/s fixed rate): {:.0} sign-ins/s, p50 {p50:.2} ms, p99 {p99:.2} ms, server CPU util {:.2}, errors {}",
            r.logins_per_s(),
            r.server_cpu_util(),
            r.errors
        ));
        if let Some(e) = &r.first_error {
            eprintln!("half load: first error: {e}");
        }
    }
    let (rss, hwm) = proc::memory_kib(pid)?;
    say(format!(
        "server memory: idle {idle_rss_kb} KiB, now {rss} KiB, peak (VmHWM) {hwm} KiB; ready {ready_ms:.1} ms"
    ));
    server.stop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(logins: u64, seconds: f64, cpu: f64) -> RunResult {
        RunResult {
            logins,
            errors: 0,
            first_error: None,
            seconds,
            server_cpu_s: cpu,
            load_cpu_s: 0.0,
            latencies_ms: Vec::new(),
        }
    }

    #[test]
    fn rates_are_per_wall_second_and_per_server_cpu_second() {
        let r = result(1000, 2.0, 0.5);
        assert_eq!(r.logins_per_s(), 500.0);
        assert_eq!(r.logins_per_server_cpu_s(), 2000.0);
        assert_eq!(r.server_cpu_util(), 0.25);
    }

    #[test]
    fn rates_of_an_empty_run_are_zero_not_infinite() {
        let r = result(0, 0.0, 0.0);
        assert_eq!(r.logins_per_s(), 0.0);
        assert_eq!(r.logins_per_server_cpu_s(), 0.0);
        assert_eq!(r.server_cpu_util(), 0.0);
    }

    #[test]
    fn command_line_reads_the_documented_options() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(subcommand)]
            bench: BenchCommand,
        }
        let cli = Cli::try_parse_from([
            "bench",
            "signin",
            "--store",
            "postgres",
            "--pg-url",
            "postgres://x@h/db",
            "--alg",
            "RS256",
            "--seconds",
            "3",
            "--runs",
            "2",
            "--concurrency",
            "8",
            "--users",
            "20",
            "--json",
            "--path",
            "federated",
        ])
        .expect("parses");
        let BenchCommand::Signin(a) = cli.bench;
        assert_eq!(a.path, SignInPath::Federated);
        assert_eq!(a.store, StoreKind::Postgres);
        assert_eq!(a.alg, Alg::Rs256);
        assert_eq!((a.seconds, a.runs, a.concurrency, a.users), (3, 2, 8, 20));
        assert!(a.json);
        assert!(Cli::try_parse_from(["bench", "signin", "--alg", "HS256"]).is_err());
        let BenchCommand::Signin(default) = Cli::try_parse_from(["bench", "signin"])
            .expect("parses")
            .bench;
        assert_eq!(default.path, SignInPath::Direct);
    }
}
