//! Measures passkey sign-ins' store work on PostgreSQL (`tessera_bench::store_load`) in a fresh schema that is
//! dropped afterwards. CPU-seconds are this client process's only; the server's are not counted.
//!
//! `cargo run --release -p tessera-server --example signin_ops_pg -- URL [SIGN_INS] [CONCURRENCY]`

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::str::FromStr;
use std::sync::Arc;
use tessera_bench::store_load as load;
use tessera_store_postgres::{PgConnectOptions, PostgresStore};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: signin_ops_pg URL [SIGN_INS] [CONCURRENCY]")?;
    let total: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5_000);
    let concurrency: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(8);
    // A schema named from the process id only: safe to splice into DDL.
    let schema = format!("bench_{}", std::process::id());
    let mut admin = PgConnection::connect(&url).await?;
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await?;
    let options = PgConnectOptions::from_str(&url)?.options([("search_path", schema.as_str())]);
    let pool_size = u32::try_from(concurrency).unwrap_or(u32::MAX).clamp(1, 32);
    let outcome = match PostgresStore::connect_with(options, pool_size).await {
        Ok(store) => {
            let store = Arc::new(store);
            let report = load::run(store.clone(), total, concurrency).await;
            store.close().await;
            report.map_err(Box::<dyn std::error::Error>::from)
        }
        Err(error) => Err(error.into()),
    };
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut admin)
        .await?;
    println!("PostgreSQL: {}", outcome?);
    Ok(())
}
