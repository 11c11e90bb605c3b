//! The broker store contract on PostgreSQL, each test in its own fresh schema (`CREATE SCHEMA t_<random>` and a
//! `search_path` on the pool). Runs when `TEST_PG_URL` is set; otherwise each test prints that it was skipped.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};
use tessera_store::contract_broker::{self, BrokerFixture};
use tessera_store::{BrokerStore, StoreError};
use tessera_store_postgres::{PgConnectOptions, PostgresStore};
use time::Duration;

struct PgFixture {
    store: Arc<PostgresStore>,
    url: String,
    schema: String,
}

#[async_trait]
impl BrokerFixture for PgFixture {
    fn store(&self) -> Arc<dyn BrokerStore> {
        self.store.clone()
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
                    "PostgreSQL broker contract tests skipped: TEST_PG_URL is not set"
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

tessera_store::broker_store_contract_tests!(setup);

#[tokio::test]
async fn closed_store_is_unavailable_never_not_found() {
    let Some(fixture) = setup().await else { return };
    fixture.store.close().await;
    contract_broker::failure_is_unavailable_never_not_found(fixture.store()).await;
    fixture.teardown().await;
}

/// A transaction stored by one node is taken on another (the provider's response may reach any node), once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_is_taken_once_across_nodes() {
    let Some(fixture) = setup().await else { return };
    let other_node = PostgresStore::connect_with(options_in(&fixture.url, &fixture.schema), 2)
        .await
        .expect("second node");
    let tenant = contract_broker::broker_tenant("contoso");
    let store = fixture.store();
    store
        .create_broker_tenant(&tenant, &[])
        .await
        .expect("tenant");
    let expires = contract_broker::T0 + Duration::minutes(15);
    store
        .put_broker_transaction(&tenant.id, b"state", b"txn", expires)
        .await
        .expect("put on node 1");
    let later = contract_broker::T0 + Duration::minutes(5);
    let (here, there) = tokio::join!(
        store.take_broker_transaction(&tenant.id, b"state", later),
        other_node.take_broker_transaction(&tenant.id, b"state", later),
    );
    let winners = [here.expect("node 1"), there.expect("node 2")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
    assert_eq!(winners, [b"txn".to_vec()]);
    other_node.close().await;
    fixture.teardown().await;
}

/// A row damaged behind the store's back is `Corrupt`, never skipped or reported missing.
#[tokio::test]
async fn undecodable_broker_row_is_corrupt_not_missing() {
    let Some(fixture) = setup().await else { return };
    let store = fixture.store();
    let tenant = contract_broker::broker_tenant("contoso");
    store
        .create_broker_tenant(&tenant, &[])
        .await
        .expect("tenant");
    store
        .create_flow(
            &contract_broker::flow(&tenant.id, "B2C_1_x"),
            &contract_broker::flow_version(1),
        )
        .await
        .expect("flow");
    let mut raw = PgConnection::connect_with(&options_in(&fixture.url, &fixture.schema))
        .await
        .expect("raw");
    sqlx::query("ALTER TABLE user_flow_versions DROP CONSTRAINT user_flow_versions_number_check")
        .execute(&mut raw)
        .await
        .expect("drop check");
    sqlx::query("UPDATE user_flow_versions SET number = -1")
        .execute(&mut raw)
        .await
        .expect("damage");
    raw.close().await.expect("close");
    assert!(matches!(
        store.list_flow_versions(&tenant.id, "b2c_1_x").await,
        Err(StoreError::Corrupt(_))
    ));
    fixture.teardown().await;
}
