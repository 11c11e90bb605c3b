//! The store contract on SQLite (a temporary file per test), plus SQLite-specific checks.

use async_trait::async_trait;
use std::sync::Arc;
use tempfile::TempDir;
use tessera_store::contract::{self, Fixture};
use tessera_store::{Store, StoreError};
use tessera_store_sqlite::SqliteStore;

struct SqliteFixture {
    store: Arc<SqliteStore>,
    _dir: TempDir,
}

#[async_trait]
impl Fixture for SqliteFixture {
    fn store(&self) -> Arc<dyn Store> {
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

tessera_store::store_contract_tests!(setup);

#[tokio::test]
async fn closed_store_is_unavailable_never_not_found() {
    let fixture = setup().await.expect("fixture");
    fixture.store.close().await;
    contract::failure_is_unavailable_never_not_found(fixture.store()).await;
}

#[tokio::test]
async fn open_uses_wal_and_keeps_data_across_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tessera.db");
    let store = SqliteStore::open(&path).await.expect("open");
    store
        .create_tenant(&contract::tenant("alpha"))
        .await
        .expect("create");
    assert!(
        dir.path().join("tessera.db-wal").exists(),
        "WAL journal in use"
    );
    store.close().await;

    // Reopening runs the (already applied) migrations again and finds the data.
    let store = SqliteStore::open(&path).await.expect("reopen");
    let tenant = store
        .get_tenant(&contract::tenant_id("alpha"))
        .await
        .expect("get");
    assert_eq!(tenant, Some(contract::tenant("alpha")));
    store.close().await;
}

#[tokio::test]
async fn open_of_unusable_path_is_unavailable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let result = SqliteStore::open(&dir.path().join("missing-dir").join("tessera.db")).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn undecodable_row_is_corrupt_not_missing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tessera.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let t = contract::tenant_id("alpha");
    store
        .create_tenant(&contract::tenant("alpha"))
        .await
        .expect("tenant");
    let user = contract::user(&t, "u1", "alice");
    store
        .create_user_with_credential(&user, &contract::credential(&t, "u1", b"c1"))
        .await
        .expect("sign up");

    // Damage the stored AAGUID and policy behind the store's back.
    let raw = rusqlite::Connection::open(&path).expect("raw");
    raw.execute("UPDATE credentials SET aaguid = x'00'", [])
        .expect("damage");
    raw.execute("UPDATE tenants SET policy = '{not json'", [])
        .expect("damage");
    drop(raw);

    assert!(matches!(
        store.get_credential(&t, b"c1").await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.list_credentials(&t, &user.id).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.get_tenant(&t).await,
        Err(StoreError::Corrupt(_))
    ));
    store.close().await;
}
