//! Measures the store's share of passkey sign-ins on SQLite (`tessera_bench::store_load`), per CPU-second of
//! this process, which here includes all of SQLite's work.
//!
//! `cargo run --release -p tessera-server --example signin_ops -- [SIGN_INS] [CONCURRENCY]`

use std::sync::Arc;
use tessera_bench::store_load as load;
use tessera_store_sqlite::SqliteStore;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let total: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let concurrency: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(8);
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open(&dir.path().join("bench.db")).await?);
    let report = load::run(store.clone(), total, concurrency).await?;
    println!("SQLite (WAL, synchronous=NORMAL): {report}");
    store.close().await;
    Ok(())
}
