//! The admin store contract on SQLite (a temporary file per test).

use async_trait::async_trait;
use std::sync::Arc;
use tempfile::TempDir;
use tessera_store::AdminStore;
use tessera_store::contract_admin::AdminFixture;
use tessera_store_sqlite::SqliteStore;

struct SqliteFixture {
    store: Arc<SqliteStore>,
    _dir: TempDir,
}

#[async_trait]
impl AdminFixture for SqliteFixture {
    fn store(&self) -> Arc<dyn AdminStore> {
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

tessera_store::admin_store_contract_tests!(setup);
