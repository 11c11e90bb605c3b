//! The admin store contract on PostgreSQL, each test in its own fresh schema (`CREATE SCHEMA t_<random>` and a
//! `search_path` on the pool). Runs when `TEST_PG_URL` is set; otherwise each test prints that it was skipped.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};
use tessera_store::AdminStore;
use tessera_store::contract_admin::AdminFixture;
use tessera_store_postgres::{PgConnectOptions, PostgresStore};

struct PgFixture {
    store: Arc<PostgresStore>,
    url: String,
    schema: String,
}

#[async_trait]
impl AdminFixture for PgFixture {
    fn store(&self) -> Arc<dyn AdminStore> {
        self.store.clone()
    }

    async fn reopen(&mut self) {
        self.store.close().await;
        self.store = Arc::new(
            PostgresStore::connect_with(options_in(&self.url, &self.schema), 8)
                .await
                .expect("reconnect"),
        );
    }

    async fn teardown(self) {
        self.store.close().await;
        drop_schema(&self.url, &self.schema).await;
    }
}

fn test_url() -> Option<String> {
    match std::env::var("TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            static SKIPPED: Once = Once::new();
            SKIPPED.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "PostgreSQL admin contract tests skipped: TEST_PG_URL is not set"
                );
            });
            None
        }
    }
}

static SCHEMAS: AtomicU64 = AtomicU64::new(0);

/// A schema name made of a random 64-bit number: safe to splice into DDL, which takes no bind parameters.
fn fresh_schema() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u64(SCHEMAS.fetch_add(1, Ordering::Relaxed));
    format!("t_{:016x}", hasher.finish())
}

async fn create_schema(url: &str, schema: &str) {
    let mut admin = PgConnection::connect(url)
        .await
        .expect("connect TEST_PG_URL");
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .expect("create schema");
    admin.close().await.expect("close");
}

async fn drop_schema(url: &str, schema: &str) {
    let mut admin = PgConnection::connect(url)
        .await
        .expect("connect TEST_PG_URL");
    sqlx::query(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(&mut admin)
    .await
    .expect("drop schema");
    admin.close().await.expect("close");
}

fn options_in(url: &str, schema: &str) -> PgConnectOptions {
    PgConnectOptions::from_str(url)
        .expect("TEST_PG_URL parses")
        .options([("search_path", schema)])
}

async fn setup() -> Option<PgFixture> {
    let url = test_url()?;
    let schema = fresh_schema();
    create_schema(&url, &schema).await;
    let store = PostgresStore::connect_with(options_in(&url, &schema), 8)
        .await
        .expect("connect");
    Some(PgFixture {
        store: Arc::new(store),
        url,
        schema,
    })
}

tessera_store::admin_store_contract_tests!(setup);
