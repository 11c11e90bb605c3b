//! The admin store contract on SQLite (a temporary file per test, closed and opened again to reopen the store).

use async_trait::async_trait;
use std::sync::Arc;
use tempfile::TempDir;
use tessera_store::AdminStore;
use tessera_store::contract_admin::AdminFixture;
use tessera_store_sqlite::SqliteStore;

struct SqliteFixture {
    store: Arc<SqliteStore>,
    dir: TempDir,
}

fn database(dir: &TempDir) -> std::path::PathBuf {
    dir.path().join("tessera.db")
}

#[async_trait]
impl AdminFixture for SqliteFixture {
    fn store(&self) -> Arc<dyn AdminStore> {
        self.store.clone()
    }

    async fn reopen(&mut self) {
        self.store.close().await;
        self.store = Arc::new(
            SqliteStore::open(&database(&self.dir))
                .await
                .expect("reopen"),
        );
    }

    async fn teardown(self) {
        self.store.close().await;
    }
}

async fn setup() -> Option<SqliteFixture> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&database(&dir)).await.expect("open");
    Some(SqliteFixture {
        store: Arc::new(store),
        dir,
    })
}

tessera_store::admin_store_contract_tests!(setup);
