//! The store contract on SQLite (a temporary file per test), plus SQLite-specific checks.

use async_trait::async_trait;
use std::sync::Arc;
use tempfile::TempDir;
use tessera_store::contract::{self, Fixture};
use tessera_store::prelude::*;
use tessera_store::{CodeRedemption, StoreError};
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
        .create_tenant_with_keys(&contract::tenant("alpha"), &[])
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
        .create_tenant_with_keys(&contract::tenant("alpha"), &[])
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

/// Migration 0002 keeps live sessions usable: the facts are read from their old `amr`, each gets its own `sid`.
#[tokio::test]
async fn migration_0002_keeps_live_sessions_with_their_facts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tessera.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("open v1");
        conn.execute_batch(include_str!("../migrations/0001_initial.sql"))
            .expect("schema v1");
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, \
             applied_at INTEGER NOT NULL) STRICT; \
             INSERT INTO schema_migrations VALUES (1, 'initial', 0); \
             INSERT INTO sessions (tenant, id_hash, user_id, auth_time, amr, acr, expires_at) \
               VALUES ('alpha', X'01', 'u1', 1767268800000000, '[\"swk\",\"user\",\"mfa\"]', 'phr', 1767297600000000); \
             INSERT INTO sessions (tenant, id_hash, user_id, auth_time, amr, acr, expires_at) \
               VALUES ('alpha', X'02', 'u2', 1767268800000000, '[\"hwk\",\"user\"]', 'phrh', 1767297600000000);",
        )
        .expect("v1 rows");
    }
    let store = SqliteStore::open(&path).await.expect("migrate to v2");
    let tenant = contract::tenant_id("alpha");
    let synced = store
        .get_session(&tenant, &[1], contract::T0)
        .await
        .expect("read")
        .expect("kept");
    assert!(synced.user_verified && synced.backup_eligible && !synced.attestation_trusted);
    let bound = store
        .get_session(&tenant, &[2], contract::T0)
        .await
        .expect("read")
        .expect("kept");
    assert!(!bound.user_verified && !bound.backup_eligible && !bound.attestation_trusted);
    assert!(!synced.sid.is_empty() && synced.sid != bound.sid);
    store.close().await;
}

/// Migration 0003 rebuilds the code, session and token tables clustered on their keys and keeps every row: a live
/// session, a code (redeemable once), an access token and a refresh token written under schema v2 are all found.
#[tokio::test]
async fn migration_0003_keeps_codes_sessions_and_tokens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tessera.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("open v2");
        conn.execute_batch(include_str!("../migrations/0001_initial.sql"))
            .expect("schema v1");
        conn.execute_batch(include_str!("../migrations/0002_session_facts_sid.sql"))
            .expect("schema v2");
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, \
             applied_at INTEGER NOT NULL) STRICT; \
             INSERT INTO schema_migrations VALUES (1, 'initial', 0), (2, 'session facts and sid', 0); \
             INSERT INTO sessions (tenant, id_hash, user_id, auth_time, expires_at, sid, user_verified, \
               backup_eligible, attestation_trusted) \
               VALUES ('alpha', X'01', 'u1', 1767268800000000, 1767297600000000, 'sid-1', 1, 0, 1); \
             INSERT INTO auth_codes (tenant, code_hash, client_id, grant_id, payload, expires_at) \
               VALUES ('alpha', X'C0DE', 'app', 'g1', X'7B7D', 1767297600000000); \
             INSERT INTO access_tokens (tenant, token_hash, client_id, grant_id, user_id, scope, payload, expires_at) \
               VALUES ('alpha', X'A7', 'app', 'g1', 'u1', 'openid', X'7B7D', 1767297600000000); \
             INSERT INTO refresh_tokens (tenant, token_hash, client_id, grant_id, user_id, scope, payload, expires_at) \
               VALUES ('alpha', X'F7', 'app', 'g1', 'u1', 'openid', X'7B7D', 1767297600000000);",
        )
        .expect("v2 rows");
    }
    let store = SqliteStore::open(&path).await.expect("migrate to v3");
    let tenant = contract::tenant_id("alpha");
    let session = store
        .get_session(&tenant, &[1], contract::T0)
        .await
        .expect("read session")
        .expect("session kept");
    assert_eq!(session.sid, "sid-1");
    assert!(session.user_verified && session.attestation_trusted && !session.backup_eligible);
    assert!(matches!(
        store.consume_auth_code(&tenant, &[0xC0, 0xDE], contract::T0).await,
        Ok(CodeRedemption::Redeemed(code)) if code.grant_id == "g1"
    ));
    assert!(matches!(
        store.consume_auth_code(&tenant, &[0xC0, 0xDE], contract::T0).await,
        Ok(CodeRedemption::AlreadyRedeemed { grant_id }) if grant_id == "g1"
    ));
    let access = store
        .get_access_token(&tenant, &[0xA7], contract::T0)
        .await
        .expect("read access token")
        .expect("access token kept");
    assert_eq!(access.grant_id, "g1");
    let refresh = store
        .get_refresh_token(&tenant, &[0xF7], contract::T0)
        .await
        .expect("read refresh token")
        .expect("refresh token kept");
    assert_eq!(refresh.grant_id, "g1");
    store.close().await;
}

/// Migration 0004 gives every tenant revision 1, from which the first guarded update proceeds.
#[tokio::test]
async fn migration_0004_starts_existing_tenants_at_revision_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tessera.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("open v3");
        for sql in [
            include_str!("../migrations/0001_initial.sql"),
            include_str!("../migrations/0002_session_facts_sid.sql"),
            include_str!("../migrations/0003_ceremonies_in_memory_clustered_tables.sql"),
        ] {
            conn.execute_batch(sql).expect("schema");
        }
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, \
             applied_at INTEGER NOT NULL) STRICT; \
             INSERT INTO schema_migrations VALUES (1, 'initial', 0), (2, 'session facts and sid', 0), \
               (3, 'ceremonies in memory, clustered code, session and token tables', 0); \
             INSERT INTO tenants (id, display_name, rp_id, origins, policy, created_at) \
               VALUES ('alpha', 'Alpha', 'alpha.example.com', '[]', '{}', 1767268800000000);",
        )
        .expect("v3 rows");
    }
    let store = SqliteStore::open(&path).await.expect("migrate to v4");
    let mut tenant = store
        .get_tenant(&contract::tenant_id("alpha"))
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(tenant.revision, 1);
    tenant.display_name = "Alpha Corp".into();
    assert_eq!(store.update_tenant(&tenant).await, Ok(2));
    store.close().await;
}

/// Migration 0023 folds the display names of the users stored before it (beyond ASCII, as new users are folded),
/// so they are found by the start of their display name too.
#[tokio::test]
async fn migration_0023_folds_existing_display_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tessera.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("open v22");
        let migrations = [
            include_str!("../migrations/0001_initial.sql"),
            include_str!("../migrations/0002_session_facts_sid.sql"),
            include_str!("../migrations/0003_ceremonies_in_memory_clustered_tables.sql"),
            include_str!("../migrations/0004_tenant_revision.sql"),
            include_str!("../migrations/0010_broker.sql"),
            include_str!("../migrations/0011_passkey_bound_sessions_and_grants.sql"),
            include_str!("../migrations/0012_tenant_settings.sql"),
            include_str!("../migrations/0013_store_health.sql"),
            include_str!("../migrations/0014_store_identity.sql"),
            include_str!("../migrations/0020_admin.sql"),
            include_str!("../migrations/0021_admin_members.sql"),
            include_str!("../migrations/0022_user_disabled.sql"),
        ];
        for sql in migrations {
            conn.execute_batch(sql).expect("schema");
        }
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, \
             applied_at INTEGER NOT NULL) STRICT; \
             INSERT INTO schema_migrations VALUES (1, '', 0), (2, '', 0), (3, '', 0), (4, '', 0), (10, '', 0), \
               (11, '', 0), (12, '', 0), (13, '', 0), (14, '', 0), (20, '', 0), (21, '', 0), (22, '', 0); \
             INSERT INTO tenants (id, display_name, rp_id, origins, policy, created_at) \
               VALUES ('alpha', 'Alpha', 'alpha.example.com', '[]', '{}', 1767268800000000); \
             INSERT INTO users (tenant, id, username, username_folded, display_name, email, email_verified, \
               user_handle, created_at) \
               VALUES ('alpha', 'u1', 'emile', 'emile', 'Émile Zola', NULL, 0, X'01', 1767268800000000);",
        )
        .expect("v22 rows");
    }
    let store = SqliteStore::open(&path).await.expect("migrate to v23");
    let found = store
        .search_users(&contract::tenant_id("alpha"), "ÉMILE Z", None, None, 10)
        .await
        .expect("search");
    assert_eq!(found.len(), 1, "found by the start of the display name");
    assert_eq!(found[0].display_name, "Émile Zola");
    store.close().await;
}

/// Migrations 0030 and 0033 keep what passkey revocation needs: bonds stored before them (migration 0011's
/// `grant_credentials`) move onto their grants' code and token rows, the bond table goes, and deleting the passkey
/// afterwards still revokes exactly those grants and ends its sessions.
#[tokio::test]
async fn migration_0033_moves_grant_bonds_onto_codes_and_tokens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tessera.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("open v25");
        let migrations = [
            include_str!("../migrations/0001_initial.sql"),
            include_str!("../migrations/0002_session_facts_sid.sql"),
            include_str!("../migrations/0003_ceremonies_in_memory_clustered_tables.sql"),
            include_str!("../migrations/0004_tenant_revision.sql"),
            include_str!("../migrations/0010_broker.sql"),
            include_str!("../migrations/0011_passkey_bound_sessions_and_grants.sql"),
            include_str!("../migrations/0012_tenant_settings.sql"),
            include_str!("../migrations/0013_store_health.sql"),
            include_str!("../migrations/0014_store_identity.sql"),
            include_str!("../migrations/0020_admin.sql"),
            include_str!("../migrations/0021_admin_members.sql"),
            include_str!("../migrations/0022_user_disabled.sql"),
            include_str!("../migrations/0023_user_display_name_folded.sql"),
            include_str!("../migrations/0024_broker_tenant_revision.sql"),
            include_str!("../migrations/0025_admin_invitations.sql"),
        ];
        for sql in migrations {
            conn.execute_batch(sql).expect("schema");
        }
        // Grants g1 (passkey AA: a code and two tokens), g2 (passkey BB: a token), g3 (no passkey: a token).
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, \
             applied_at INTEGER NOT NULL) STRICT; \
             INSERT INTO schema_migrations VALUES (1, '', 0), (2, '', 0), (3, '', 0), (4, '', 0), (10, '', 0), \
               (11, '', 0), (12, '', 0), (13, '', 0), (14, '', 0), (20, '', 0), (21, '', 0), (22, '', 0), \
               (23, '', 0), (24, '', 0), (25, '', 0); \
             INSERT INTO sessions (tenant, id_hash, user_id, auth_time, expires_at, sid, user_verified, \
               backup_eligible, attestation_trusted, credential_id, last_seen_at) \
               VALUES ('alpha', X'01', 'u1', 1767268800000000, 4102444800000000, 'sid-1', 1, 0, 1, X'AA', \
               1767268800000000); \
             INSERT INTO grant_credentials (tenant, grant_id, credential_id, expires_at) \
               VALUES ('alpha', 'g1', X'AA', 4102444800000000), ('alpha', 'g2', X'BB', 4102444800000000); \
             INSERT INTO auth_codes (tenant, code_hash, client_id, grant_id, payload, expires_at) \
               VALUES ('alpha', X'C1', 'app', 'g1', X'7B7D', 4102444800000000); \
             INSERT INTO access_tokens (tenant, token_hash, client_id, grant_id, user_id, scope, payload, \
               expires_at) VALUES \
               ('alpha', X'A1', 'app', 'g1', 'u1', 'openid', X'7B7D', 4102444800000000), \
               ('alpha', X'A2', 'app', 'g2', 'u1', 'openid', X'7B7D', 4102444800000000), \
               ('alpha', X'A3', 'app', 'g3', 'u1', 'openid', X'7B7D', 4102444800000000); \
             INSERT INTO refresh_tokens (tenant, token_hash, client_id, grant_id, user_id, scope, payload, \
               expires_at) VALUES ('alpha', X'F1', 'app', 'g1', 'u1', 'openid', X'7B7D', 4102444800000000);",
        )
        .expect("v25 rows");
    }
    let store = SqliteStore::open(&path).await.expect("migrate to v33");
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
    assert_eq!(
        store
            .peek_auth_code(&t, b"\xC1", now)
            .await
            .expect("peek")
            .and_then(|c| c.passkey),
        epoch(b"\xAA")
    );
    // Deleting passkey AA (its user registered now) revokes g1 and ends its session; g2 and g3 stay.
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
    let user = contract::user_id("u1");
    store
        .delete_credential(&t, &user, b"\xAA", contract::T0, None)
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
    let conn = rusqlite::Connection::open(&path).expect("reopen");
    let bond_tables: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_schema WHERE name LIKE 'grant_credentials%'",
            [],
            |row| row.get(0),
        )
        .expect("schema");
    assert_eq!(bond_tables, 0, "no bond table or index is left");
}

/// Migration 0031 folds the display names of the clients stored before it (beyond ASCII, as new clients are
/// folded), so the admin lists find them by the start of their name.
#[tokio::test]
async fn migration_0031_folds_existing_client_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tessera.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("open v30");
        let migrations = [
            include_str!("../migrations/0001_initial.sql"),
            include_str!("../migrations/0002_session_facts_sid.sql"),
            include_str!("../migrations/0003_ceremonies_in_memory_clustered_tables.sql"),
            include_str!("../migrations/0004_tenant_revision.sql"),
            include_str!("../migrations/0010_broker.sql"),
            include_str!("../migrations/0011_passkey_bound_sessions_and_grants.sql"),
            include_str!("../migrations/0012_tenant_settings.sql"),
            include_str!("../migrations/0013_store_health.sql"),
            include_str!("../migrations/0014_store_identity.sql"),
            include_str!("../migrations/0020_admin.sql"),
            include_str!("../migrations/0021_admin_members.sql"),
            include_str!("../migrations/0022_user_disabled.sql"),
            include_str!("../migrations/0023_user_display_name_folded.sql"),
            include_str!("../migrations/0024_broker_tenant_revision.sql"),
            include_str!("../migrations/0025_admin_invitations.sql"),
            include_str!("../migrations/0030_fewer_sign_in_index_pages.sql"),
        ];
        for sql in migrations {
            conn.execute_batch(sql).expect("schema");
        }
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, \
             applied_at INTEGER NOT NULL) STRICT; \
             INSERT INTO schema_migrations VALUES (1, '', 0), (2, '', 0), (3, '', 0), (4, '', 0), (10, '', 0), \
               (11, '', 0), (12, '', 0), (13, '', 0), (14, '', 0), (20, '', 0), (21, '', 0), (22, '', 0), \
               (23, '', 0), (24, '', 0), (25, '', 0), (30, '', 0); \
             INSERT INTO tenants (id, display_name, rp_id, origins, policy, created_at) \
               VALUES ('alpha', 'Alpha', 'alpha.example.com', '[]', '{}', 1767268800000000); \
             INSERT INTO clients (tenant, client_id, display_name, secret_hash, redirect_uris, \
               post_logout_redirect_uris, token_endpoint_auth_method, id_token_signed_response_alg, jwks, \
               allowed_scopes, created_at) \
               VALUES ('alpha', 'web', 'Émile Web', NULL, '[]', '[]', 'none', 'RS256', NULL, '[]', \
               1767268800000000);",
        )
        .expect("v30 rows");
    }
    let store = SqliteStore::open(&path).await.expect("migrate to v31");
    let filter = tessera_store::ClientFilter {
        prefix: Some("ÉMILE W".into()),
        client_type: Some(tessera_store::ClientType::Public),
    };
    let found = store
        .list_clients_page(&contract::tenant_id("alpha"), &filter, None, 10)
        .await
        .expect("list");
    assert_eq!(found.len(), 1, "found by the start of its name");
    assert_eq!(found[0].display_name, "Émile Web");
    store.close().await;
}

/// Migration 0032 keeps each identity provider's issuer beside its summary, backfilled from the stored metadata; the
/// key count (the broker's JWKS rule, not SQL's) stays unknown until the provider is saved or refreshed again.
#[tokio::test]
async fn migration_0032_backfills_the_provider_summaries_issuer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tessera.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("open v30");
        let migrations = [
            include_str!("../migrations/0001_initial.sql"),
            include_str!("../migrations/0002_session_facts_sid.sql"),
            include_str!("../migrations/0003_ceremonies_in_memory_clustered_tables.sql"),
            include_str!("../migrations/0004_tenant_revision.sql"),
            include_str!("../migrations/0010_broker.sql"),
            include_str!("../migrations/0011_passkey_bound_sessions_and_grants.sql"),
            include_str!("../migrations/0012_tenant_settings.sql"),
            include_str!("../migrations/0013_store_health.sql"),
            include_str!("../migrations/0014_store_identity.sql"),
            include_str!("../migrations/0020_admin.sql"),
            include_str!("../migrations/0021_admin_members.sql"),
            include_str!("../migrations/0022_user_disabled.sql"),
            include_str!("../migrations/0023_user_display_name_folded.sql"),
            include_str!("../migrations/0024_broker_tenant_revision.sql"),
            include_str!("../migrations/0025_admin_invitations.sql"),
            include_str!("../migrations/0030_fewer_sign_in_index_pages.sql"),
        ];
        for sql in migrations {
            conn.execute_batch(sql).expect("schema");
        }
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, \
             applied_at INTEGER NOT NULL) STRICT; \
             INSERT INTO schema_migrations VALUES (1, '', 0), (2, '', 0), (3, '', 0), (4, '', 0), (10, '', 0), \
               (11, '', 0), (12, '', 0), (13, '', 0), (14, '', 0), (20, '', 0), (21, '', 0), (22, '', 0), \
               (23, '', 0), (24, '', 0), (25, '', 0), (30, '', 0); \
             INSERT INTO broker_tenants (id, display_name, created_at) VALUES ('contoso', 'Contoso', 0); \
             INSERT INTO identity_providers (tenant, provider_id, config, client_secret_encrypted, metadata, \
               metadata_fetched_at, jwks, jwks_fetched_at, created_at, updated_at) VALUES \
               ('contoso', 'a', '{\"id\":\"a\"}', X'01', '{\"issuer\":\"https://a.example\"}', 5, '{\"keys\":[]}', 5, 1, 2), \
               ('contoso', 'b', '{\"id\":\"b\"}', NULL, '{\"jwks_uri\":\"https://b.example/k\"}', 5, '{\"keys\":[]}', 5, 1, 2);",
        )
        .expect("v30 rows");
    }
    let store = SqliteStore::open(&path).await.expect("migrate to v32");
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
            ("b", None, None, false)
        ]
    );
    store.close().await;
}

/// Migration 0036 folds the names of the applications and identity providers stored before it (in Rust, by the
/// migration runner: SQLite's `lower` folds ASCII only), so the filtered lists find them by a non-ASCII prefix.
#[tokio::test]
async fn migration_0036_folds_existing_application_and_provider_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tessera.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("open v35");
        let migrations = [
            include_str!("../migrations/0001_initial.sql"),
            include_str!("../migrations/0002_session_facts_sid.sql"),
            include_str!("../migrations/0003_ceremonies_in_memory_clustered_tables.sql"),
            include_str!("../migrations/0004_tenant_revision.sql"),
            include_str!("../migrations/0010_broker.sql"),
            include_str!("../migrations/0011_passkey_bound_sessions_and_grants.sql"),
            include_str!("../migrations/0012_tenant_settings.sql"),
            include_str!("../migrations/0013_store_health.sql"),
            include_str!("../migrations/0014_store_identity.sql"),
            include_str!("../migrations/0020_admin.sql"),
            include_str!("../migrations/0021_admin_members.sql"),
            include_str!("../migrations/0022_user_disabled.sql"),
            include_str!("../migrations/0023_user_display_name_folded.sql"),
            include_str!("../migrations/0024_broker_tenant_revision.sql"),
            include_str!("../migrations/0025_admin_invitations.sql"),
            include_str!("../migrations/0030_fewer_sign_in_index_pages.sql"),
            include_str!("../migrations/0031_admin_list_filters.sql"),
            include_str!("../migrations/0032_provider_summary_columns.sql"),
            include_str!("../migrations/0035_broker_local_accounts.sql"),
        ];
        for sql in migrations {
            conn.execute_batch(sql).expect("schema");
        }
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, \
             applied_at INTEGER NOT NULL) STRICT; \
             INSERT INTO schema_migrations VALUES (1, '', 0), (2, '', 0), (3, '', 0), (4, '', 0), (10, '', 0), \
               (11, '', 0), (12, '', 0), (13, '', 0), (14, '', 0), (20, '', 0), (21, '', 0), (22, '', 0), \
               (23, '', 0), (24, '', 0), (25, '', 0), (30, '', 0), (31, '', 0), (32, '', 0), (35, '', 0); \
             INSERT INTO broker_tenants (id, display_name, created_at) VALUES ('contoso', 'Contoso', 0); \
             INSERT INTO broker_applications (tenant, client_id, secret_hash, settings, created_at) VALUES \
               ('contoso', 'app-1', NULL, '{\"display_name\":\"École\",\"client_type\":\"public\"}', 1), \
               ('contoso', 'app-2', NULL, '{\"display_name\":\"Shop\",\"client_type\":\"public\"}', 1); \
             INSERT INTO identity_providers (tenant, provider_id, config, client_secret_encrypted, metadata, \
               metadata_fetched_at, jwks, jwks_fetched_at, created_at, updated_at) VALUES \
               ('contoso', 'a', '{\"id\":\"a\",\"name\":\"Élan\"}', NULL, '{}', 5, '{\"keys\":[]}', 5, 1, 2), \
               ('contoso', 'b', '{\"id\":\"b\",\"name\":\"Nok Nok\"}', NULL, '{}', 5, '{\"keys\":[]}', 5, 1, 2);",
        )
        .expect("v35 rows");
    }
    let store = SqliteStore::open(&path).await.expect("migrate to v36");
    let tenant = contract::tenant_id("contoso");
    let filter = tessera_store::ClientFilter {
        prefix: Some("éco".into()),
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
        Some("ÉL"),
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
}
