//! The broker store contract on SQLite (a temporary file per test).

use async_trait::async_trait;
use std::sync::Arc;
use tempfile::TempDir;
use tessera_store::BrokerStore;
use tessera_store::contract_broker::{self, BrokerFixture};
use tessera_store_sqlite::SqliteStore;

struct SqliteFixture {
    store: Arc<SqliteStore>,
    _dir: TempDir,
}

#[async_trait]
impl BrokerFixture for SqliteFixture {
    fn store(&self) -> Arc<dyn BrokerStore> {
        self.store.clone()
    }

    async fn teardown(self) {
        self.store.close().await;
    }
}

async fn setup() -> Option<SqliteFixture> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("tessera.db"))
        .await
        .expect("open");
    Some(SqliteFixture {
        store: Arc::new(store),
        _dir: dir,
    })
}

tessera_store::broker_store_contract_tests!(setup);

#[tokio::test]
async fn closed_store_is_unavailable_never_not_found() {
    let fixture = setup().await.expect("fixture");
    fixture.store.close().await;
    contract_broker::failure_is_unavailable_never_not_found(fixture.store()).await;
}

/// A row damaged behind the store's back is `Corrupt`, never skipped or reported missing.
#[tokio::test]
async fn undecodable_broker_row_is_corrupt_not_missing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tessera.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let tenant = contract_broker::broker_tenant("contoso");
    store
        .create_broker_tenant(&tenant, &[])
        .await
        .expect("tenant");
    store
        .create_identity_provider(&contract_broker::provider(&tenant.id, "passkeys"))
        .await
        .expect("provider");
    let raw = rusqlite::Connection::open(&path).expect("raw");
    raw.execute("UPDATE identity_providers SET jwks = '{not json'", [])
        .expect("damage");
    drop(raw);
    assert!(matches!(
        store.get_identity_provider(&tenant.id, "passkeys").await,
        Err(tessera_store::StoreError::Corrupt(_))
    ));
    store.close().await;
}
