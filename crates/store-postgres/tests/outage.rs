//! A PostgreSQL outage, made by cutting a TCP proxy between the store and the database: once the store knows the
//! database is down, operations fail at once (no pool wait), and they work again when it answers. Runs when
//! `TEST_PG_URL` is set.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tessera_core::TenantId;
use tessera_store::StoreError;
use tessera_store::prelude::*;
use tessera_store_postgres::{PgConnectOptions, PostgresStore};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A TCP proxy from `listener` to `target`; every connection is cut when `cut` says `true`.
async fn proxy(listener: TcpListener, target: String, cut: watch::Receiver<bool>) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            return;
        };
        if *cut.borrow() {
            drop(inbound);
            continue;
        }
        let target = target.clone();
        let mut cut = cut.clone();
        tokio::spawn(async move {
            let Ok(mut outbound) = TcpStream::connect(&target).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                _ = cut.wait_for(|c| *c) => {}
            }
        });
    }
}

#[tokio::test]
async fn postgres_outage_fails_fast_once_known_and_recovers() {
    let Some(url) = std::env::var("TEST_PG_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!(
            "SKIPPED(pg): postgres_outage_fails_fast_once_known_and_recovers (TEST_PG_URL is not set)"
        );
        return;
    };
    let real = PgConnectOptions::from_str(&url).expect("url");
    let target = format!("{}:{}", real.get_host(), real.get_port());
    let schema = format!("t_outage_{}", std::process::id());
    let mut admin = PgConnection::connect(&url).await.expect("connect");
    sqlx::query(AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    )))
    .execute(&mut admin)
    .await
    .expect("schema");

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (cut, cut_rx) = watch::channel(false);
    tokio::spawn(proxy(listener, target, cut_rx));
    let options = real
        .clone()
        .host("127.0.0.1")
        .port(port)
        .options([("search_path", schema.as_str())]);
    let store = Arc::new(
        PostgresStore::connect_with(options, 4)
            .await
            .expect("store"),
    );
    let tenant = TenantId::parse("outage").expect("tenant");
    assert_eq!(store.get_tenant(&tenant).await, Ok(None));

    // The database goes away.
    cut.send(true).expect("cut");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.is_known_down() {
        assert!(Instant::now() < deadline, "the outage was never noticed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let started = Instant::now();
    let refused = store.get_tenant(&tenant).await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "{refused:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "failed fast, not after the pool wait: {:?}",
        started.elapsed()
    );

    // It comes back: the store takes requests again by itself.
    cut.send(false).expect("uncut");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if store.get_tenant(&tenant).await == Ok(None) {
            break;
        }
        assert!(Instant::now() < deadline, "the store never recovered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    store.close().await;
    sqlx::query(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(&mut admin)
    .await
    .expect("drop");
}
