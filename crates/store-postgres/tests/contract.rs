//! The store contract on PostgreSQL, each test in its own fresh schema (`CREATE SCHEMA t_<random>` and a
//! `search_path` on the pool) so that tests run in parallel and leave nothing behind. Runs when `TEST_PG_URL` is set
//! (for example `postgres://postgres@127.0.0.1:5432/test`); otherwise each test prints
//! `SKIPPED(pg): <test>` on stderr, which `scripts/test` counts.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tessera_store::StoreError;
use tessera_store::contract::{self, Fixture};
use tessera_store::prelude::*;
use tessera_store_postgres::{PgConnectOptions, PostgresStore};

struct PgFixture {
    store: Arc<PostgresStore>,
    url: String,
    schema: String,
    other_nodes: Mutex<Vec<Arc<PostgresStore>>>,
}

#[async_trait]
impl Fixture for PgFixture {
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    async fn another_node(&self) -> Arc<dyn Store> {
        let node = Arc::new(
            PostgresStore::connect_with(options_in(&self.url, &self.schema), 4)
                .await
                .expect("connect another node"),
        );
        self.other_nodes
            .lock()
            .expect("fixture lock")
            .push(Arc::clone(&node));
        node
    }

    async fn teardown(self) {
        let others = std::mem::take(&mut *self.other_nodes.lock().expect("fixture lock"));
        for node in others {
            node.close().await;
        }
        self.store.close().await;
        drop_schema(&self.url, &self.schema).await;
    }
}

fn test_url() -> Option<String> {
    match std::env::var("TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            // Written to the real stderr (not the captured test output), one line per test, so that a run shows
            // it and `scripts/test` counts it as skipped rather than passed.
            let thread = std::thread::current();
            let line = format!(
                "SKIPPED(pg): {} (TEST_PG_URL is not set)\n",
                thread.name().unwrap_or("a PostgreSQL contract test")
            );
            // One write, so that the line is not interleaved with the test runner's own output.
            let _ = std::io::stderr().write_all(line.as_bytes());
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
        other_nodes: Mutex::default(),
    })
}

tessera_store::store_contract_tests!(setup);

#[tokio::test]
async fn closed_store_is_unavailable_never_not_found() {
    let Some(fixture) = setup().await else { return };
    fixture.store.close().await;
    contract::failure_is_unavailable_never_not_found(fixture.store()).await;
    fixture.teardown().await;
}

#[tokio::test]
async fn unreachable_server_is_unavailable() {
    let result = PostgresStore::connect("postgres://tessera@127.0.0.1:1/tessera", 2).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn malformed_url_is_unavailable() {
    let result = PostgresStore::connect("mysql://nope", 2).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_at_once_migrate_once() {
    let Some(url) = test_url() else { return };
    let schema = fresh_schema();
    create_schema(&url, &schema).await;
    let mut nodes = Vec::new();
    for _ in 0..4 {
        let options = options_in(&url, &schema);
        nodes.push(tokio::spawn(async move {
            PostgresStore::connect_with(options, 2).await
        }));
    }
    let mut stores = Vec::new();
    for node in nodes {
        stores.push(node.await.expect("task").expect("every node starts"));
    }
    let first = &stores[0];
    first
        .create_tenant_with_keys(&contract::tenant("alpha"), &[])
        .await
        .expect("create");
    for store in &stores {
        assert!(
            store
                .get_tenant(&contract::tenant_id("alpha"))
                .await
                .expect("get")
                .is_some()
        );
        store.close().await;
    }
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn undecodable_row_is_corrupt_not_missing() {
    let Some(fixture) = setup().await else { return };
    let store = fixture.store();
    let t = contract::tenant_id("alpha");
    store
        .create_tenant_with_keys(&contract::tenant("alpha"), &[])
        .await
        .expect("tenant");
    let user = contract::user(&t, "u1", "alice");
    store
        .create_user_with_credential(&user, &contract::credential(&t, "u1", b"c1"))
        .await
        .expect("sign up");

    let mut raw = PgConnection::connect_with(&options_in(&fixture.url, &fixture.schema))
        .await
        .expect("raw");
    sqlx::query("UPDATE credentials SET aaguid = '\\x00'")
        .execute(&mut raw)
        .await
        .expect("damage");
    raw.close().await.expect("close");

    assert!(matches!(
        store.get_credential(&t, b"c1").await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.list_credentials(&t, &user.id).await,
        Err(StoreError::Corrupt(_))
    ));
    fixture.teardown().await;
}

/// Ceremonies never wait for a commit fsync: their table is unlogged, the durable tables are not.
#[tokio::test]
async fn only_the_ceremony_table_is_unlogged() {
    let Some(fixture) = setup().await else { return };
    let mut raw = PgConnection::connect_with(&options_in(&fixture.url, &fixture.schema))
        .await
        .expect("raw");
    let unlogged: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relpersistence = 'u' ORDER BY 1",
    )
    .bind(&fixture.schema)
    .fetch_all(&mut raw)
    .await
    .expect("catalog");
    raw.close().await.expect("close");
    assert_eq!(unlogged, ["ceremonies"]);
    fixture.teardown().await;
}

/// Migration 0033 moves the grant bonds of migration 0011 (`grant_credentials`) onto their grants' code and token
/// rows and drops the bond table; deleting the passkey afterwards still revokes exactly those grants.
#[tokio::test]
async fn migration_0033_moves_grant_bonds_onto_codes_and_tokens() {
    let Some(url) = test_url() else { return };
    let schema = fresh_schema();
    create_schema(&url, &schema).await;
    {
        let pool = sqlx::PgPool::connect_with(options_in(&url, &schema))
            .await
            .expect("pool");
        let mut before = sqlx::migrate!("./migrations");
        before.migrations = std::borrow::Cow::Owned(
            before
                .migrations
                .iter()
                .filter(|m| m.version < 33)
                .cloned()
                .collect(),
        );
        before.run(&pool).await.expect("migrate to v25");
        // Grants g1 (passkey AA: a code and two tokens), g2 (passkey BB: a token), g3 (no passkey: a token).
        sqlx::raw_sql(
            "INSERT INTO sessions (tenant, id_hash, user_id, auth_time, expires_at, sid, user_verified, \
               backup_eligible, attestation_trusted, credential_id, last_seen_at) \
               VALUES ('alpha', '\\x01', 'u1', '2026-01-01Z', '2100-01-01Z', 'sid-1', true, false, true, '\\xaa', \
               '2026-01-01Z'); \
             INSERT INTO grant_credentials (tenant, grant_id, credential_id, expires_at) \
               VALUES ('alpha', 'g1', '\\xaa', '2100-01-01Z'), ('alpha', 'g2', '\\xbb', '2100-01-01Z'); \
             INSERT INTO auth_codes (tenant, code_hash, client_id, grant_id, payload, expires_at) \
               VALUES ('alpha', '\\xc1', 'app', 'g1', '\\x7b7d', '2100-01-01Z'); \
             INSERT INTO access_tokens (tenant, token_hash, client_id, grant_id, user_id, scope, payload, \
               expires_at) VALUES \
               ('alpha', '\\xa1', 'app', 'g1', 'u1', 'openid', '\\x7b7d', '2100-01-01Z'), \
               ('alpha', '\\xa2', 'app', 'g2', 'u1', 'openid', '\\x7b7d', '2100-01-01Z'), \
               ('alpha', '\\xa3', 'app', 'g3', 'u1', 'openid', '\\x7b7d', '2100-01-01Z'); \
             INSERT INTO refresh_tokens (tenant, token_hash, client_id, grant_id, user_id, scope, payload, \
               expires_at) VALUES ('alpha', '\\xf1', 'app', 'g1', 'u1', 'openid', '\\x7b7d', '2100-01-01Z');",
        )
        .execute(&pool)
        .await
        .expect("v25 rows");
        pool.close().await;
    }
    let store = PostgresStore::connect_with(options_in(&url, &schema), 4)
        .await
        .expect("migrate to v33");
    let t = contract::tenant_id("alpha");
    let now = contract::T0 + time::Duration::seconds(1);
    let epoch = |credential: &[u8]| {
        Some(tessera_store::GrantPasskey {
            credential_id: credential.to_vec(),
            granted_at: time::OffsetDateTime::UNIX_EPOCH,
        })
    };
    let token = |hash: &'static [u8]| {
        let store = &store;
        let t = &t;
        async move { store.get_access_token(t, hash, now).await.expect("get") }
    };
    assert_eq!(token(b"\xA1").await.and_then(|a| a.passkey), epoch(b"\xAA"));
    assert_eq!(token(b"\xA2").await.and_then(|a| a.passkey), epoch(b"\xBB"));
    assert_eq!(token(b"\xA3").await.map(|a| a.passkey), Some(None));
    store
        .create_tenant_with_keys(&contract::tenant("alpha"), &[])
        .await
        .expect("tenant");
    store
        .create_user_with_credential(
            &contract::user(&t, "u1", "alice"),
            &contract::credential(&t, "u1", b"\xAA"),
        )
        .await
        .expect("user");
    store
        .add_credential(&contract::credential(&t, "u1", b"\xBB"))
        .await
        .expect("second passkey");
    store
        .delete_credential(&t, &contract::user_id("u1"), b"\xAA", contract::T0, None)
        .await
        .expect("delete AA");
    assert_eq!(store.get_session(&t, &[1], now).await.expect("get"), None);
    assert_eq!(token(b"\xA1").await, None);
    assert_eq!(
        store
            .get_refresh_token(&t, b"\xF1", now)
            .await
            .expect("get"),
        None
    );
    let mut late = contract::access_token(&t, b"late", "g1");
    late.passkey = None;
    assert_eq!(
        store.redeem_auth_code(&t, b"\xC1", now, &late, None).await,
        Err(StoreError::Conflict),
        "the code of g1 redeems to nothing"
    );
    assert!(token(b"\xA2").await.is_some());
    assert!(token(b"\xA3").await.is_some());
    store.close().await;
    drop_schema(&url, &schema).await;
}

/// A client stored without its folded name (before migration 0031, or by an older node) is folded in Rust when a
/// store opens — beyond ASCII, which the database's `lower` under the C locale is not — and then found by the start
/// of its name.
#[tokio::test]
async fn clients_stored_without_a_folded_name_are_folded_on_open() {
    let Some(fixture) = setup().await else { return };
    let store = fixture.store();
    let t = contract::tenant_id("alpha");
    store
        .create_tenant_with_keys(&contract::tenant("alpha"), &[])
        .await
        .expect("tenant");
    let mut client = contract::client(&t, "web");
    client.display_name = "Émile Web".into();
    store.create_client(&client).await.expect("client");
    let mut raw = PgConnection::connect_with(&options_in(&fixture.url, &fixture.schema))
        .await
        .expect("connect");
    sqlx::query("UPDATE clients SET display_name_folded = NULL")
        .execute(&mut raw)
        .await
        .expect("as an older node wrote it");
    raw.close().await.expect("close");
    let filter = tessera_store::ClientFilter {
        prefix: Some("ÉMILE W".into()),
        client_type: None,
    };
    assert!(
        store
            .list_clients_page(&t, &filter, None, 10)
            .await
            .expect("list")
            .is_empty(),
        "not folded yet"
    );
    let reopened = PostgresStore::connect_with(options_in(&fixture.url, &fixture.schema), 2)
        .await
        .expect("reopen");
    let found = reopened
        .list_clients_page(&t, &filter, None, 10)
        .await
        .expect("list");
    assert_eq!(found.len(), 1, "folded when the store opened");
    assert_eq!(found[0], client);
    reopened.close().await;
    fixture.teardown().await;
}

/// A schema migrated up to (and with) `version` only, as a node of that release left it.
async fn schema_at(url: &str, schema: &str, version: i64) -> PgConnection {
    let mut raw = PgConnection::connect_with(&options_in(url, schema))
        .await
        .expect("connect");
    sqlx::migrate!("./migrations")
        .run_to(version, &mut raw)
        .await
        .expect("migrate to the older version");
    raw
}

/// Migration 0032 backfills each stored identity provider's issuer from its metadata (a provider whose metadata
/// names none keeps none); the key count (the broker's JWKS rule, not SQL's) stays unknown until the next save or
/// refresh.
#[tokio::test]
async fn migration_0032_backfills_the_provider_summaries_issuer() {
    let Some(url) = test_url() else { return };
    let schema = fresh_schema();
    create_schema(&url, &schema).await;
    let mut raw = schema_at(&url, &schema, 31).await;
    sqlx::raw_sql(
        "INSERT INTO broker_tenants (id, display_name, created_at) VALUES ('contoso', 'Contoso', now()); \
         INSERT INTO identity_providers (tenant, provider_id, config, client_secret_encrypted, metadata, \
           metadata_fetched_at, jwks, jwks_fetched_at, created_at, updated_at) VALUES \
           ('contoso', 'a', '{\"id\":\"a\"}', '\\x01', '{\"issuer\":\"https://a.example\"}', now(), '{\"keys\":[]}', \
            now(), now(), now()), \
           ('contoso', 'b', '{\"id\":\"b\"}', NULL, '{\"jwks_uri\":\"https://b.example/k\"}', now(), \
            '{\"keys\":[]}', now(), now(), now()), \
           ('contoso', 'c', '{\"id\":\"c\"}', NULL, '{\"issuer\":7}', now(), '{\"keys\":[]}', now(), now(), now());",
    )
    .execute(&mut raw)
    .await
    .expect("rows of release 0031");
    raw.close().await.expect("close");
    let store = PostgresStore::connect_with(options_in(&url, &schema), 2)
        .await
        .expect("migrate to the current version");
    let summaries = tessera_store::BrokerStore::list_identity_provider_summaries(
        &store,
        &contract::tenant_id("contoso"),
        None,
        None,
        10,
    )
    .await
    .expect("summaries");
    let facts: Vec<_> = summaries
        .iter()
        .map(|s| {
            (
                s.provider_id.as_str(),
                s.issuer.as_deref(),
                s.signing_keys,
                s.has_client_secret,
            )
        })
        .collect();
    assert_eq!(
        facts,
        [
            ("a", Some("https://a.example"), None, true),
            ("b", None, None, false),
            ("c", None, None, false),
        ],
        "the issuer is backfilled only where the metadata names one as a string"
    );
    store.close().await;
    drop_schema(&url, &schema).await;
}

/// Migration 0036 leaves the applications and providers stored before it (or by an older node) without a folded
/// name; the store folds them in Rust when it opens — beyond ASCII — and the filtered lists find them.
#[tokio::test]
async fn migration_0036_application_and_provider_names_are_folded_on_open() {
    let Some(url) = test_url() else { return };
    let schema = fresh_schema();
    create_schema(&url, &schema).await;
    let mut raw = schema_at(&url, &schema, 35).await;
    sqlx::raw_sql(
        "INSERT INTO broker_tenants (id, display_name, created_at) VALUES ('contoso', 'Contoso', now()); \
         INSERT INTO broker_applications (tenant, client_id, secret_hash, settings, created_at) VALUES \
           ('contoso', 'app-1', NULL, '{\"display_name\":\"École\",\"client_type\":\"public\"}', now()), \
           ('contoso', 'app-2', NULL, '{\"display_name\":\"Shop\",\"client_type\":\"public\"}', now()); \
         INSERT INTO identity_providers (tenant, provider_id, config, client_secret_encrypted, metadata, \
           metadata_fetched_at, jwks, jwks_fetched_at, created_at, updated_at) VALUES \
           ('contoso', 'a', '{\"id\":\"a\",\"name\":\"Élan\"}', NULL, '{}', now(), '{\"keys\":[]}', now(), now(), now()), \
           ('contoso', 'b', '{\"id\":\"b\",\"name\":\"Nok Nok\"}', NULL, '{}', now(), '{\"keys\":[]}', now(), now(), now());",
    )
    .execute(&mut raw)
    .await
    .expect("rows of release 0035");
    raw.close().await.expect("close");
    let store = PostgresStore::connect_with(options_in(&url, &schema), 2)
        .await
        .expect("migrate to the current version");
    let tenant = contract::tenant_id("contoso");
    let filter = tessera_store::ClientFilter {
        prefix: Some("ÉCO".into()),
        client_type: Some(tessera_store::ClientType::Public),
    };
    let apps = tessera_store::BrokerStore::list_broker_applications_filtered(
        &store, &tenant, &filter, None, 10,
    )
    .await
    .expect("applications");
    assert_eq!(
        apps.iter()
            .map(|a| a.client_id.as_str())
            .collect::<Vec<_>>(),
        ["app-1"]
    );
    let providers = tessera_store::BrokerStore::list_identity_provider_summaries(
        &store,
        &tenant,
        Some("él"),
        None,
        10,
    )
    .await
    .expect("summaries");
    assert_eq!(
        providers
            .iter()
            .map(|p| p.provider_id.as_str())
            .collect::<Vec<_>>(),
        ["a"]
    );
    store.close().await;
    drop_schema(&url, &schema).await;
}
