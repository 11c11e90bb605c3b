//! Tessera's multi-node store: [`PostgresStore`], every role of [`tessera_store::Store`] on PostgreSQL.
//!
//! - this file: [`PostgresStore`] — connecting (migrations under PostgreSQL's advisory lock, so several nodes may
//!   start at once), and every operation, each one prepared statement where it can be, a short transaction where it
//!   must (sign-up, last-credential deletion, rotation, revocation).
//! - `convert`: `sqlx` errors → `StoreError` (identifiers and numbers decode with `tessera_store::convert`).
//! - `notify`: the notifier, `NOTIFY` to send and one `LISTEN`ing connection per node.
//! - `rows`: the rows PostgreSQL returns and their conversion into records (undecodable data is `Corrupt`).
//! - `migrations/` (embedded with `sqlx::migrate!`): the schema.
//!
//! Atomicity comes from row locks under the default READ COMMITTED isolation: a conditional `UPDATE`/`DELETE`
//! re-checks its condition on the latest row version after waiting for a concurrent writer, so one-time values are
//! consumed once; the last-credential rule locks the user row first.

mod admin;
mod broker;
mod convert;
mod notify;
mod rows;
mod timed;

pub use sqlx::postgres::PgConnectOptions;

use async_trait::async_trait;
use convert::db;
use notify::PgNotifier;
use rows::{
    ClientRow, CredentialRow, ProviderCodeRow, ProviderTokenRow, SessionRow, SigningKeyRow,
    TenantRow, UserRow,
};
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration as StdDuration;
use tessera_core::{ClientId, TenantId, UserId};
use tessera_store::convert::{revision, revision_column};
use tessera_store::{
    AccessToken, AccountStatus, AuthCode, CeremonyStore, Client, ClientFilter, CodeRedemption,
    Credential, GrantPasskey, GrantStore, REDEEMED_CODE_RETENTION, REVOKED_GRANT_RETENTION,
    REVOKED_PASSKEY_RETENTION, RefreshRotation, RefreshToken, Result, Session, SignCountBump,
    SignCountRegression, SignCountUpdate, SigningKey, StoreError, Tenant, TenantContents,
    TenantDeletion, TenantStore, User, UserStore, check_expected, fold_display_name, fold_username,
};
use tessera_store::{HealthStore, Notifier, Payload, Subscription, Topic};
use time::OffsetDateTime;

/// How long an operation waits for a connection before the store is reported unavailable.
const WAIT: StdDuration = StdDuration::from_secs(5);

/// How often the outage watch asks the database whether it answers.
const PROBE_EVERY: StdDuration = StdDuration::from_millis(500);
/// How long one probe may take before it counts as a failure.
const PROBE_TIMEOUT: StdDuration = StdDuration::from_secs(2);
/// How many probes in a row must fail before the store is known down (one slow answer is not an outage).
const FAILURES_FOR_OUTAGE: u32 = 2;

/// The PostgreSQL implementation of [`tessera_store::Store`]. Cheap to clone; clones share the pool.
///
/// A watch beside the pool (its own connection, so a busy pool is not mistaken for an outage) asks the database
/// every [`PROBE_EVERY`] whether it answers. Once [`FAILURES_FOR_OUTAGE`] probes in a row failed, the store is known
/// down and every operation fails at once with [`StoreError::Unavailable`] instead of waiting [`WAIT`] for a
/// connection; the first probe that succeeds opens it again.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    notifier: Arc<PgNotifier>,
    outage: Arc<Outage>,
}

/// Whether the database is known down, as the watch last saw it.
#[derive(Debug, Default)]
struct Outage {
    down: std::sync::atomic::AtomicBool,
    closed: std::sync::atomic::AtomicBool,
}

impl PostgresStore {
    /// The pool, unless the database is known down: then [`StoreError::Unavailable`] at once.
    fn pool(&self) -> Result<&PgPool> {
        if self.outage.down.load(std::sync::atomic::Ordering::Relaxed) {
            Err(StoreError::Unavailable(
                "the database does not answer (failing fast until it does again)".into(),
            ))
        } else {
            Ok(&self.pool)
        }
    }

    /// Whether the store currently fails fast because the database does not answer.
    pub fn is_known_down(&self) -> bool {
        self.outage.down.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The outage watch: probes the database on its own connection until the store is dropped or closed.
async fn watch_outage(outage: std::sync::Weak<Outage>, options: PgConnectOptions) {
    use sqlx::Connection;
    use std::sync::atomic::Ordering;
    let mut conn: Option<PgConnection> = None;
    let mut failures = 0u32;
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let Some(state) = outage.upgrade() else {
            return;
        };
        if state.closed.load(Ordering::Relaxed) {
            return;
        }
        let probe = tokio::time::timeout(PROBE_TIMEOUT, async {
            if conn.is_none() {
                conn = Some(PgConnection::connect_with(&options).await?);
            }
            match conn.as_mut() {
                Some(c) => sqlx::query("SELECT 1").execute(c).await.map(drop),
                None => Ok(()),
            }
        })
        .await;
        if matches!(probe, Ok(Ok(()))) {
            failures = 0;
            if state.down.swap(false, Ordering::Relaxed) {
                tracing::warn!("the database answers again; the store takes requests");
            }
        } else {
            conn = None;
            failures += 1;
            if failures >= FAILURES_FOR_OUTAGE && !state.down.swap(true, Ordering::Relaxed) {
                tracing::error!("the database does not answer; failing fast until it does");
            }
        }
    }
}

impl PostgresStore {
    /// The pool as an executor that times each statement (when metrics are on).
    fn timed(&self) -> Result<timed::Timed<'_>> {
        self.pool().map(timed::Timed)
    }

    /// Runs bounded purge statements (`$1` the cut-off time, `$2` the batch size), each its own short statement so
    /// sign-ins interleave with a purge; returns the rows deleted.
    async fn purge_bounded(
        &self,
        statements: impl IntoIterator<
            Item = (
                sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
                OffsetDateTime,
            ),
        >,
        batch: i64,
    ) -> Result<u64> {
        let mut deleted = 0;
        for (statement, before) in statements {
            let done = statement
                .bind(before)
                .bind(batch)
                .execute(self.timed()?)
                .await
                .map_err(db)?;
            deleted += done.rows_affected();
        }
        Ok(deleted)
    }

    /// Connects to `url` (`postgres://user@host:port/db?sslmode=...`) with a pool of at most `max_connections`, and
    /// brings the schema up to date. Safe when several nodes start at once: migrations run under an advisory lock.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("database URL: {e}")))?;
        Self::connect_with(options, max_connections).await
    }

    /// Like [`PostgresStore::connect`], with options built by the caller (for example a `search_path` set through
    /// [`PgConnectOptions::options`] to keep Tessera's tables in their own schema).
    pub async fn connect_with(options: PgConnectOptions, max_connections: u32) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(WAIT)
            // A ping per checkout would double every operation's round trips; a connection found broken fails its
            // statement as `Unavailable` and is discarded by the pool.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(db)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(migrate_error)?;
        fold_legacy_client_names(&pool).await?;
        fold_legacy_broker_names(&pool).await?;
        let notifier = Arc::new(PgNotifier::new(&pool).await?);
        let outage = Arc::new(Outage::default());
        tokio::spawn(watch_outage(Arc::downgrade(&outage), options));
        Ok(Self {
            pool,
            notifier,
            outage,
        })
    }

    /// Closes every connection; later operations fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.outage
            .closed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.notifier.close();
        self.pool.close().await;
    }
}

/// The conditional counter update of a sign-in on `conn`, made only when the bump follows the sign-count rule
/// ([`SignCountBump::moves_forward`]) and the stored counter is still the one the caller read.
async fn bump_on(
    conn: &mut PgConnection,
    tenant: &TenantId,
    bump: &SignCountBump,
) -> Result<SignCountUpdate> {
    if bump.moves_forward() {
        let done = sqlx::query(
            "UPDATE credentials SET sign_count = $4, backup_state = $5, last_used_at = $6 \
             WHERE tenant = $1 AND credential_id = $2 AND sign_count = $3",
        )
        .bind(tenant.as_str())
        .bind(&bump.credential_id)
        .bind(i64::from(bump.expected_old))
        .bind(i64::from(bump.new))
        .bind(bump.backup_state)
        .bind(bump.used_at)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
        if done.rows_affected() > 0 {
            return Ok(SignCountUpdate::Updated);
        }
    }
    let known = sqlx::query("SELECT 1 FROM credentials WHERE tenant = $1 AND credential_id = $2")
        .bind(tenant.as_str())
        .bind(&bump.credential_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?
        .is_some();
    if known {
        Ok(SignCountUpdate::Regressed)
    } else {
        Err(StoreError::NotFound)
    }
}

/// After a credential was deleted: deletes the sessions signed in with it and marks the passkey revoked at `now`,
/// which revokes the grants issued from it (their codes and tokens are refused when used).
async fn end_what_the_credential_gave(
    conn: &mut PgConnection,
    tenant: &TenantId,
    credential_id: &[u8],
    now: OffsetDateTime,
) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE tenant = $1 AND credential_id = $2")
        .bind(tenant.as_str())
        .bind(credential_id)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    sqlx::query(
        "INSERT INTO revoked_passkeys (tenant, credential_id, revoked_at) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant, credential_id) \
         DO UPDATE SET revoked_at = GREATEST(revoked_passkeys.revoked_at, EXCLUDED.revoked_at)",
    )
    .bind(tenant.as_str())
    .bind(credential_id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

async fn insert_session(conn: &mut PgConnection, session: &Session) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (tenant, id_hash, sid, user_id, auth_time, user_verified, backup_eligible, \
         attestation_trusted, expires_at, credential_id, last_seen_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(session.tenant.as_str())
    .bind(&session.id_hash)
    .bind(&session.sid)
    .bind(session.user_id.as_str())
    .bind(session.auth_time)
    .bind(session.user_verified)
    .bind(session.backup_eligible)
    .bind(session.attestation_trusted)
    .bind(session.expires_at)
    .bind(session.credential_id.as_deref())
    .bind(session.last_seen_at)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Folds, in Rust, the display names of the clients stored without their folded form (before migration 0031, or by
/// an older node): `lower` folds only ASCII under the C locale. Once every row is folded this is one `SELECT` that
/// finds nothing.
async fn fold_legacy_client_names(pool: &PgPool) -> Result<()> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT tenant, client_id, display_name FROM clients WHERE display_name_folded IS NULL",
    )
    .fetch_all(pool)
    .await
    .map_err(db)?;
    for (tenant, client_id, name) in rows {
        // Only a row still unfolded: a concurrent rename has folded it already.
        sqlx::query(
            "UPDATE clients SET display_name_folded = $3 \
             WHERE tenant = $1 AND client_id = $2 AND display_name = $4 AND display_name_folded IS NULL",
        )
        .bind(&tenant)
        .bind(&client_id)
        .bind(fold_display_name(&name))
        .bind(&name)
        .execute(pool)
        .await
        .map_err(db)?;
    }
    Ok(())
}

/// Folds, in Rust, the names of the broker applications and identity providers stored without their folded form
/// (before migration 0036, or by an older node), as [`fold_legacy_client_names`] does for clients. Once every row
/// is folded these are two `SELECT`s that find nothing.
async fn fold_legacy_broker_names(pool: &PgPool) -> Result<()> {
    for (select, update) in [
        (
            "SELECT tenant, client_id, settings FROM broker_applications WHERE display_name_folded IS NULL",
            "UPDATE broker_applications SET display_name_folded = $3 \
             WHERE tenant = $1 AND client_id = $2 AND settings = $4 AND display_name_folded IS NULL",
        ),
        (
            "SELECT tenant, provider_id, config FROM identity_providers WHERE name_folded IS NULL",
            "UPDATE identity_providers SET name_folded = $3 \
             WHERE tenant = $1 AND provider_id = $2 AND config = $4 AND name_folded IS NULL",
        ),
    ] {
        let rows: Vec<(String, String, serde_json::Value)> =
            sqlx::query_as(select).fetch_all(pool).await.map_err(db)?;
        let provider = select.contains("identity_providers");
        for (tenant, id, json) in rows {
            let folded = if provider {
                tessera_store::broker::provider_name_folded(&json)
            } else {
                tessera_store::broker::application_name_folded(&json)
            };
            // Only a row still unfolded and unchanged: a concurrent save has folded it already.
            sqlx::query(update)
                .bind(&tenant)
                .bind(&id)
                .bind(folded)
                .bind(&json)
                .execute(pool)
                .await
                .map_err(db)?;
        }
    }
    Ok(())
}

fn migrate_error(error: sqlx::migrate::MigrateError) -> StoreError {
    match error {
        sqlx::migrate::MigrateError::Execute(e) => db(e),
        other => StoreError::Corrupt(format!("schema migration: {other}")),
    }
}

fn affected_one(rows: u64) -> Result<()> {
    if rows == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// What a deleted client was issued, deleted with it.
const CLIENT_GRANTS_DELETE: [&str; 3] = [
    "DELETE FROM auth_codes WHERE tenant = $1 AND client_id = $2",
    "DELETE FROM access_tokens WHERE tenant = $1 AND client_id = $2",
    "DELETE FROM refresh_tokens WHERE tenant = $1 AND client_id = $2",
];

/// Everything of a tenant but its row, deleted with it (`$1` is the tenant); passkeys before their users.
const TENANT_DELETE: [&str; 12] = [
    "DELETE FROM credential_rp_ids WHERE tenant = $1",
    "DELETE FROM credentials WHERE tenant = $1",
    "DELETE FROM revoked_passkeys WHERE tenant = $1",
    "DELETE FROM sessions WHERE tenant = $1",
    "DELETE FROM auth_codes WHERE tenant = $1",
    "DELETE FROM access_tokens WHERE tenant = $1",
    "DELETE FROM refresh_tokens WHERE tenant = $1",
    "DELETE FROM revoked_grants WHERE tenant = $1",
    "DELETE FROM ceremonies WHERE tenant = $1",
    "DELETE FROM users WHERE tenant = $1",
    "DELETE FROM clients WHERE tenant = $1",
    "DELETE FROM signing_keys WHERE tenant = $1",
];

#[async_trait]
impl TenantStore for PostgresStore {
    async fn create_tenant_with_keys(&self, tenant: &Tenant, keys: &[SigningKey]) -> Result<()> {
        if keys.iter().any(|key| key.tenant != tenant.id) {
            return Err(StoreError::Conflict);
        }
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO tenants (id, display_name, rp_id, origins, policy, created_at, revision, settings) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(tenant.id.as_str())
        .bind(&tenant.display_name)
        .bind(&tenant.rp_id)
        .bind(tenant.origins.as_slice())
        .bind(&tenant.policy)
        .bind(tenant.created_at)
        .bind(revision_column(Tenant::FIRST_REVISION))
        .bind(&tenant.settings)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        for key in keys {
            insert_signing_key(key)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn get_tenant(&self, tenant: &TenantId) -> Result<Option<Tenant>> {
        sqlx::query_as::<_, TenantRow>("SELECT * FROM tenants WHERE id = $1")
            .bind(tenant.as_str())
            .fetch_optional(self.timed()?)
            .await
            .map_err(db)?
            .map(TenantRow::into_record)
            .transpose()
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        sqlx::query_as::<_, TenantRow>("SELECT * FROM tenants ORDER BY id")
            .fetch_all(self.timed()?)
            .await
            .map_err(db)?
            .into_iter()
            .map(TenantRow::into_record)
            .collect()
    }

    async fn update_tenant(&self, tenant: &Tenant) -> Result<u64> {
        // One conditional update: a concurrent writer's row lock makes this one wait, then re-check the revision on
        // the newest row version (READ COMMITTED), so of two updates from one revision exactly one matches.
        let updated: Option<i64> = sqlx::query_scalar(
            "UPDATE tenants SET display_name = $2, rp_id = $3, origins = $4, policy = $5, settings = $7, \
             revision = revision + 1 WHERE id = $1 AND revision = $6 RETURNING revision",
        )
        .bind(tenant.id.as_str())
        .bind(&tenant.display_name)
        .bind(&tenant.rp_id)
        .bind(tenant.origins.as_slice())
        .bind(&tenant.policy)
        .bind(revision_column(tenant.revision))
        .bind(&tenant.settings)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?;
        if let Some(updated_revision) = updated {
            return revision(updated_revision);
        }
        let known = sqlx::query("SELECT 1 FROM tenants WHERE id = $1")
            .bind(tenant.id.as_str())
            .fetch_optional(self.timed()?)
            .await
            .map_err(db)?;
        Err(if known.is_some() {
            StoreError::Conflict
        } else {
            StoreError::NotFound
        })
    }

    async fn delete_tenant(
        &self,
        tenant: &TenantId,
        force: bool,
    ) -> Result<TenantDeletion<TenantContents>> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        // The tenant's row, locked: clients and users referring to it cannot be added until this transaction
        // ends, so the counts hold.
        let known = sqlx::query("SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE")
            .bind(tenant.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if known.is_none() {
            return Err(StoreError::NotFound);
        }
        let (clients, users): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM clients WHERE tenant = $1), \
                    (SELECT COUNT(*) FROM users WHERE tenant = $1)",
        )
        .bind(tenant.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let contents = TenantContents {
            clients: u64::try_from(clients).unwrap_or(0),
            users: u64::try_from(users).unwrap_or(0),
        };
        if !force && !contents.is_empty() {
            return Ok(TenantDeletion::NotEmpty(contents));
        }
        for sql in TENANT_DELETE {
            sqlx::query(sql)
                .bind(tenant.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(TenantDeletion::Deleted(contents))
    }

    async fn create_client(&self, client: &Client) -> Result<()> {
        sqlx::query(
            "INSERT INTO clients (tenant, client_id, display_name, secret_hash, redirect_uris, \
             post_logout_redirect_uris, token_endpoint_auth_method, id_token_signed_response_alg, jwks, \
             allowed_scopes, created_at, display_name_folded) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(client.tenant.as_str())
        .bind(client.client_id.as_str())
        .bind(&client.display_name)
        .bind(client.secret_hash.as_deref())
        .bind(client.redirect_uris.as_slice())
        .bind(client.post_logout_redirect_uris.as_slice())
        .bind(&client.token_endpoint_auth_method)
        .bind(&client.id_token_signed_response_alg)
        .bind(client.jwks.as_ref())
        .bind(client.allowed_scopes.as_slice())
        .bind(client.created_at)
        .bind(fold_display_name(&client.display_name))
        .execute(self.timed()?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn get_client(&self, tenant: &TenantId, client_id: &ClientId) -> Result<Option<Client>> {
        sqlx::query_as::<_, ClientRow>("SELECT * FROM clients WHERE tenant = $1 AND client_id = $2")
            .bind(tenant.as_str())
            .bind(client_id.as_str())
            .fetch_optional(self.timed()?)
            .await
            .map_err(db)?
            .map(ClientRow::into_record)
            .transpose()
    }

    async fn list_clients(&self, tenant: &TenantId) -> Result<Vec<Client>> {
        sqlx::query_as::<_, ClientRow>("SELECT * FROM clients WHERE tenant = $1 ORDER BY client_id")
            .bind(tenant.as_str())
            .fetch_all(self.timed()?)
            .await
            .map_err(db)?
            .into_iter()
            .map(ClientRow::into_record)
            .collect()
    }

    async fn list_clients_page(
        &self,
        tenant: &TenantId,
        filter: &ClientFilter,
        after: Option<&ClientId>,
        limit: u32,
    ) -> Result<Vec<Client>> {
        let (id_pattern, name_pattern, public) =
            tessera_store::filters::client_filter_binds(filter);
        // Byte order (`COLLATE "C"`), whatever the database's collation: the order the API's cursors assume.
        // Client ids are ASCII, so `lower` folds them fully; names are matched on the form folded in Rust.
        sqlx::query_as::<_, ClientRow>(
            "SELECT * FROM clients WHERE tenant = $1 AND client_id COLLATE \"C\" > $2 \
             AND (lower(client_id) LIKE $4 ESCAPE '\\' OR display_name_folded LIKE $5 ESCAPE '\\') \
             AND ($6::boolean IS NULL OR (token_endpoint_auth_method = 'none') = $6) \
             ORDER BY client_id COLLATE \"C\" LIMIT $3",
        )
        .bind(tenant.as_str())
        .bind(after.map(|a| a.as_str().to_owned()).unwrap_or_default())
        .bind(i64::from(limit))
        .bind(id_pattern)
        .bind(name_pattern)
        .bind(public)
        .fetch_all(self.timed()?)
        .await
        .map_err(db)?
        .into_iter()
        .map(ClientRow::into_record)
        .collect()
    }

    async fn update_client(&self, client: &Client, expected: Option<&Client>) -> Result<()> {
        // The row is locked before the check: a concurrent conditional write waits, then sees this one's result.
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        if expected.is_some() {
            let current = locked_client(&mut tx, &client.tenant, &client.client_id).await?;
            check_expected(current.as_ref(), expected, PartialEq::eq)?;
        }
        let changed = sqlx::query(
            "UPDATE clients SET display_name = $3, redirect_uris = $4, post_logout_redirect_uris = $5, \
             display_name_folded = $6 WHERE tenant = $1 AND client_id = $2",
        )
        .bind(client.tenant.as_str())
        .bind(client.client_id.as_str())
        .bind(&client.display_name)
        .bind(client.redirect_uris.as_slice())
        .bind(client.post_logout_redirect_uris.as_slice())
        .bind(fold_display_name(&client.display_name))
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(db)
    }

    async fn replace_client_secret(
        &self,
        tenant: &TenantId,
        client_id: &ClientId,
        secret_hash: &[u8],
    ) -> Result<()> {
        let changed = sqlx::query(
            "UPDATE clients SET secret_hash = $3 \
             WHERE tenant = $1 AND client_id = $2 AND secret_hash IS NOT NULL",
        )
        .bind(tenant.as_str())
        .bind(client_id.as_str())
        .bind(secret_hash)
        .execute(self.timed()?)
        .await
        .map_err(db)?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_client(
        &self,
        tenant: &TenantId,
        client_id: &ClientId,
        expected: Option<&Client>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        if expected.is_some() {
            let current = locked_client(&mut tx, tenant, client_id).await?;
            check_expected(current.as_ref(), expected, PartialEq::eq)?;
        }
        let deleted = sqlx::query("DELETE FROM clients WHERE tenant = $1 AND client_id = $2")
            .bind(tenant.as_str())
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        for sql in CLIENT_GRANTS_DELETE {
            sqlx::query(sql)
                .bind(tenant.as_str())
                .bind(client_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn put_signing_key(&self, key: &SigningKey) -> Result<()> {
        insert_signing_key(key)
            .execute(self.timed()?)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn list_signing_keys(&self, tenant: &TenantId) -> Result<Vec<SigningKey>> {
        sqlx::query_as::<_, SigningKeyRow>(
            "SELECT * FROM signing_keys WHERE tenant = $1 ORDER BY created_at, kid",
        )
        .bind(tenant.as_str())
        .fetch_all(self.timed()?)
        .await
        .map_err(db)?
        .into_iter()
        .map(SigningKeyRow::into_record)
        .collect()
    }

    async fn activate_signing_key(&self, tenant: &TenantId, kid: &str) -> Result<()> {
        let done = sqlx::query(
            "UPDATE signing_keys SET status = 'active' WHERE tenant = $1 AND kid = $2 AND status <> 'retired'",
        )
        .bind(tenant.as_str())
        .bind(kid)
        .execute(self.timed()?)
        .await
        .map_err(db)?;
        if done.rows_affected() > 0 {
            return Ok(());
        }
        let exists = sqlx::query("SELECT 1 FROM signing_keys WHERE tenant = $1 AND kid = $2")
            .bind(tenant.as_str())
            .bind(kid)
            .fetch_optional(self.timed()?)
            .await
            .map_err(db)?;
        Err(if exists.is_some() {
            StoreError::Conflict
        } else {
            StoreError::NotFound
        })
    }

    async fn retire_signing_key(
        &self,
        tenant: &TenantId,
        kid: &str,
        at: OffsetDateTime,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE signing_keys SET status = 'retired', retired_at = COALESCE(retired_at, $3) \
             WHERE tenant = $1 AND kid = $2",
        )
        .bind(tenant.as_str())
        .bind(kid)
        .bind(at)
        .execute(self.timed()?)
        .await
        .map_err(db)?;
        affected_one(done.rows_affected())
    }

    async fn delete_retired_signing_keys(
        &self,
        tenant: &TenantId,
        retired_before: OffsetDateTime,
    ) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM signing_keys WHERE tenant = $1 AND status = 'retired' AND retired_at < $2",
        )
        .bind(tenant.as_str())
        .bind(retired_before)
        .execute(self.timed()?)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }
}

/// Ends a user's sessions and revokes their grants at `now` (every passkey of theirs is marked revoked, and the grants
/// of their access and refresh tokens are revoked, their rows deleted), inside `tx`: a deleted or disabled user keeps
/// nothing they signed in for.
/// The stored client, locked until the transaction ends (the guard of a conditional write).
async fn locked_client(
    conn: &mut PgConnection,
    tenant: &TenantId,
    client_id: &ClientId,
) -> Result<Option<Client>> {
    sqlx::query_as::<_, ClientRow>(
        "SELECT * FROM clients WHERE tenant = $1 AND client_id = $2 FOR UPDATE",
    )
    .bind(tenant.as_str())
    .bind(client_id.as_str())
    .fetch_optional(conn)
    .await
    .map_err(db)?
    .map(ClientRow::into_record)
    .transpose()
}

/// The stored user, locked until the transaction ends (the guard of a conditional write).
async fn locked_user(
    conn: &mut PgConnection,
    tenant: &TenantId,
    user_id: &UserId,
) -> Result<Option<User>> {
    sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE tenant = $1 AND id = $2 FOR UPDATE")
        .bind(tenant.as_str())
        .bind(user_id.as_str())
        .fetch_optional(conn)
        .await
        .map_err(db)?
        .map(UserRow::into_record)
        .transpose()
}

/// The stored credential, locked until the transaction ends (the guard of a conditional write).
async fn locked_credential(
    conn: &mut PgConnection,
    tenant: &TenantId,
    credential_id: &[u8],
) -> Result<Option<Credential>> {
    sqlx::query_as::<_, CredentialRow>(
        "SELECT * FROM credentials WHERE tenant = $1 AND credential_id = $2 FOR UPDATE",
    )
    .bind(tenant.as_str())
    .bind(credential_id)
    .fetch_optional(conn)
    .await
    .map_err(db)?
    .map(CredentialRow::into_record)
    .transpose()
}

async fn end_what_the_user_had(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant: &TenantId,
    user_id: &UserId,
    now: OffsetDateTime,
) -> Result<()> {
    for revoke in [
        "INSERT INTO revoked_passkeys (tenant, credential_id, revoked_at) SELECT tenant, credential_id, $3 \
         FROM credentials WHERE tenant = $1 AND user_id = $2 ON CONFLICT (tenant, credential_id) \
         DO UPDATE SET revoked_at = GREATEST(revoked_passkeys.revoked_at, EXCLUDED.revoked_at)",
        "INSERT INTO revoked_grants (tenant, grant_id, revoked_at) SELECT DISTINCT tenant, grant_id, $3 \
         FROM access_tokens WHERE tenant = $1 AND user_id = $2 ON CONFLICT DO NOTHING",
        "INSERT INTO revoked_grants (tenant, grant_id, revoked_at) SELECT DISTINCT tenant, grant_id, $3 \
         FROM refresh_tokens WHERE tenant = $1 AND user_id = $2 ON CONFLICT DO NOTHING",
    ] {
        sqlx::query(revoke)
            .bind(tenant.as_str())
            .bind(user_id.as_str())
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(db)?;
    }
    for sql in [
        "DELETE FROM access_tokens WHERE tenant = $1 AND user_id = $2",
        "DELETE FROM refresh_tokens WHERE tenant = $1 AND user_id = $2",
        "DELETE FROM sessions WHERE tenant = $1 AND user_id = $2",
    ] {
        sqlx::query(sql)
            .bind(tenant.as_str())
            .bind(user_id.as_str())
            .execute(&mut **tx)
            .await
            .map_err(db)?;
    }
    Ok(())
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn create_user_with_credential(
        &self,
        user: &User,
        credential: &Credential,
    ) -> Result<()> {
        if credential.user_id != user.id || credential.tenant != user.tenant {
            return Err(StoreError::Conflict);
        }
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO users (tenant, id, username, username_folded, display_name, email, email_verified, \
             user_handle, created_at, display_name_folded) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(user.tenant.as_str())
        .bind(user.id.as_str())
        .bind(&user.username)
        .bind(fold_username(&user.username))
        .bind(&user.display_name)
        .bind(user.email.as_deref())
        .bind(user.email_verified)
        .bind(&user.user_handle)
        .bind(user.created_at)
        .bind(fold_display_name(&user.display_name))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        insert_credential(credential)?
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn get_user(&self, tenant: &TenantId, user_id: &UserId) -> Result<Option<User>> {
        sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(user_id.as_str())
            .fetch_optional(self.timed()?)
            .await
            .map_err(db)?
            .map(UserRow::into_record)
            .transpose()
    }

    async fn find_user_by_username(
        &self,
        tenant: &TenantId,
        username: &str,
    ) -> Result<Option<User>> {
        sqlx::query_as::<_, UserRow>(
            "SELECT * FROM users WHERE tenant = $1 AND username_folded = $2",
        )
        .bind(tenant.as_str())
        .bind(fold_username(username))
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?
        .map(UserRow::into_record)
        .transpose()
    }

    async fn add_credential(&self, credential: &Credential) -> Result<()> {
        insert_credential(credential)?
            .execute(self.timed()?)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn get_credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
    ) -> Result<Option<Credential>> {
        sqlx::query_as::<_, CredentialRow>(
            "SELECT * FROM credentials WHERE tenant = $1 AND credential_id = $2",
        )
        .bind(tenant.as_str())
        .bind(credential_id)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?
        .map(CredentialRow::into_record)
        .transpose()
    }

    async fn list_credentials(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
    ) -> Result<Vec<Credential>> {
        sqlx::query_as::<_, CredentialRow>(
            "SELECT * FROM credentials WHERE tenant = $1 AND user_id = $2 ORDER BY created_at, credential_id",
        )
        .bind(tenant.as_str())
        .bind(user_id.as_str())
        .fetch_all(self.timed()?)
        .await
        .map_err(db)?
        .into_iter()
        .map(CredentialRow::into_record)
        .collect()
    }

    async fn rename_credential(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
        credential_id: &[u8],
        nickname: &str,
        expected: Option<&Credential>,
    ) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        if expected.is_some() {
            let current = locked_credential(&mut tx, tenant, credential_id)
                .await?
                .filter(|c| &c.user_id == user_id);
            check_expected(current.as_ref(), expected, PartialEq::eq)?;
        }
        let done = sqlx::query(
            "UPDATE credentials SET nickname = $4 WHERE tenant = $1 AND user_id = $2 AND credential_id = $3",
        )
        .bind(tenant.as_str())
        .bind(user_id.as_str())
        .bind(credential_id)
        .bind(nickname)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        affected_one(done.rows_affected())?;
        tx.commit().await.map_err(db)
    }

    async fn search_users(
        &self,
        tenant: &TenantId,
        prefix: &str,
        status: Option<AccountStatus>,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<Vec<User>> {
        let like = |folded: String| {
            format!(
                "{}%",
                folded
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        };
        sqlx::query_as::<_, UserRow>(
            "SELECT * FROM users WHERE tenant = $1 \
             AND (username_folded LIKE $2 ESCAPE '\\' OR display_name_folded LIKE $5 ESCAPE '\\') \
             AND ($6::boolean IS NULL OR (disabled_at IS NOT NULL) = $6) \
             AND id > $3 ORDER BY id LIMIT $4",
        )
        .bind(tenant.as_str())
        .bind(like(fold_username(prefix)))
        .bind(after.map(|a| a.as_str().to_owned()).unwrap_or_default())
        .bind(i64::from(limit))
        .bind(like(fold_display_name(prefix)))
        .bind(tessera_store::filters::status_bind(status))
        .fetch_all(self.timed()?)
        .await
        .map_err(db)?
        .into_iter()
        .map(UserRow::into_record)
        .collect()
    }

    async fn delete_user(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
        now: OffsetDateTime,
        expected: Option<&User>,
    ) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        let owner = locked_user(&mut tx, tenant, user_id).await?;
        check_expected(owner.as_ref(), expected, PartialEq::eq)?;
        end_what_the_user_had(&mut tx, tenant, user_id, now).await?;
        for sql in [
            "DELETE FROM credential_rp_ids WHERE tenant = $1 AND credential_id IN \
             (SELECT credential_id FROM credentials WHERE tenant = $1 AND user_id = $2)",
            "DELETE FROM credentials WHERE tenant = $1 AND user_id = $2",
            "DELETE FROM users WHERE tenant = $1 AND id = $2",
        ] {
            sqlx::query(sql)
                .bind(tenant.as_str())
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn set_user_disabled(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
        disabled_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
        expected: Option<&User>,
    ) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        if expected.is_some() {
            let current = locked_user(&mut tx, tenant, user_id).await?;
            check_expected(current.as_ref(), expected, PartialEq::eq)?;
        }
        let changed =
            sqlx::query("UPDATE users SET disabled_at = $3 WHERE tenant = $1 AND id = $2")
                .bind(tenant.as_str())
                .bind(user_id.as_str())
                .bind(disabled_at)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        if disabled_at.is_some() {
            end_what_the_user_had(&mut tx, tenant, user_id, now).await?;
        }
        tx.commit().await.map_err(db)
    }

    async fn delete_credential(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
        credential_id: &[u8],
        now: OffsetDateTime,
        expected: Option<&Credential>,
    ) -> Result<()> {
        // Lock the owner first: two concurrent deletes of a user's last two credentials are serialized, and the
        // second statement's fresh READ COMMITTED snapshot sees the first one's outcome.
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        let owner = sqlx::query("SELECT 1 FROM users WHERE tenant = $1 AND id = $2 FOR UPDATE")
            .bind(tenant.as_str())
            .bind(user_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if owner.is_none() {
            return Err(StoreError::NotFound);
        }
        if expected.is_some() {
            // Under the owner's lock, which every conditional write of their passkeys takes first or waits on.
            let current = locked_credential(&mut tx, tenant, credential_id)
                .await?
                .filter(|c| &c.user_id == user_id);
            check_expected(current.as_ref(), expected, PartialEq::eq)?;
        }
        let done = sqlx::query(
            "DELETE FROM credentials WHERE tenant = $1 AND user_id = $2 AND credential_id = $3 \
             AND (SELECT COUNT(*) FROM credentials WHERE tenant = $1 AND user_id = $2) > 1",
        )
        .bind(tenant.as_str())
        .bind(user_id.as_str())
        .bind(credential_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() > 0 {
            end_what_the_credential_gave(&mut tx, tenant, credential_id, now).await?;
            return tx.commit().await.map_err(db);
        }
        let owned = sqlx::query(
            "SELECT 1 FROM credentials WHERE tenant = $1 AND user_id = $2 AND credential_id = $3",
        )
        .bind(tenant.as_str())
        .bind(user_id.as_str())
        .bind(credential_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        Err(if owned.is_some() {
            StoreError::Conflict
        } else {
            StoreError::NotFound
        })
    }
}

#[async_trait]
impl GrantStore for PostgresStore {
    async fn record_sign_in(
        &self,
        bump: &SignCountBump,
        on_regression: SignCountRegression,
        replaces: Option<&[u8]>,
        session: &Session,
    ) -> Result<SignCountUpdate> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        let update = bump_on(&mut tx, &session.tenant, bump).await?;
        if update == SignCountUpdate::Regressed && on_regression == SignCountRegression::Refuse {
            return Ok(update);
        }
        if let Some(previous) = replaces {
            sqlx::query("DELETE FROM sessions WHERE tenant = $1 AND id_hash = $2")
                .bind(session.tenant.as_str())
                .bind(previous)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        insert_session(&mut tx, session).await?;
        tx.commit().await.map_err(db)?;
        Ok(update)
    }

    async fn put_auth_code(&self, code: &AuthCode) -> Result<()> {
        sqlx::query(
            "INSERT INTO auth_codes (tenant, code_hash, client_id, grant_id, payload, expires_at, \
             credential_id, granted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(code.tenant.as_str())
        .bind(&code.code_hash)
        .bind(code.client_id.as_str())
        .bind(&code.grant_id)
        .bind(&code.payload)
        .bind(code.expires_at)
        .bind(code.passkey.as_ref().map(|p| p.credential_id.as_slice()))
        .bind(code.passkey.as_ref().map(|p| p.granted_at))
        .execute(self.timed()?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn consume_auth_code(
        &self,
        tenant: &TenantId,
        code_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<CodeRedemption> {
        let redeemed = sqlx::query_as::<_, ProviderCodeRow>(
            "UPDATE auth_codes SET redeemed_at = $3 \
             WHERE tenant = $1 AND code_hash = $2 AND redeemed_at IS NULL AND expires_at > $3 \
             RETURNING tenant, code_hash, client_id, grant_id, payload, expires_at, credential_id, granted_at",
        )
        .bind(tenant.as_str())
        .bind(code_hash)
        .bind(now)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?;
        if let Some(row) = redeemed {
            return Ok(CodeRedemption::Redeemed(row.into_record()?));
        }
        let spent: Option<String> = sqlx::query_scalar(
            "SELECT grant_id FROM auth_codes WHERE tenant = $1 AND code_hash = $2 AND redeemed_at IS NOT NULL",
        )
        .bind(tenant.as_str())
        .bind(code_hash)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?;
        Ok(match spent {
            Some(grant_id) => CodeRedemption::AlreadyRedeemed { grant_id },
            None => CodeRedemption::NotFound,
        })
    }

    async fn peek_auth_code(
        &self,
        tenant: &TenantId,
        code_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<AuthCode>> {
        sqlx::query_as::<_, ProviderCodeRow>(
            "SELECT tenant, code_hash, client_id, grant_id, payload, expires_at, credential_id, granted_at \
             FROM auth_codes \
             WHERE tenant = $1 AND code_hash = $2 AND redeemed_at IS NULL AND expires_at > $3",
        )
        .bind(tenant.as_str())
        .bind(code_hash)
        .bind(now)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?
        .map(ProviderCodeRow::into_record)
        .transpose()
    }

    async fn redeem_auth_code(
        &self,
        tenant: &TenantId,
        code_hash: &[u8],
        now: OffsetDateTime,
        access: &AccessToken,
        refresh: Option<&RefreshToken>,
    ) -> Result<CodeRedemption> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        let redeemed = sqlx::query_as::<_, ProviderCodeRow>(
            "UPDATE auth_codes SET redeemed_at = $3 \
             WHERE tenant = $1 AND code_hash = $2 AND redeemed_at IS NULL AND expires_at > $3 \
             RETURNING tenant, code_hash, client_id, grant_id, payload, expires_at, credential_id, granted_at",
        )
        .bind(tenant.as_str())
        .bind(code_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(row) = redeemed {
            let record = row.into_record()?;
            let of_grant = |grant: &str| grant == record.grant_id;
            if !of_grant(&access.grant_id) || refresh.is_some_and(|r| !of_grant(&r.grant_id)) {
                return Err(StoreError::Conflict);
            }
            // The tokens are of the code's grant, hence of its passkey.
            let passkey = record.passkey.as_ref();
            let stored = insert_access_token(access, passkey)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            if stored.rows_affected() == 0 {
                return Err(StoreError::Conflict);
            }
            if let Some(refresh) = refresh {
                let stored = insert_refresh_token(refresh, passkey)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                if stored.rows_affected() == 0 {
                    return Err(StoreError::Conflict);
                }
            }
            tx.commit().await.map_err(db)?;
            return Ok(CodeRedemption::Redeemed(record));
        }
        let spent: Option<String> = sqlx::query_scalar(
            "SELECT grant_id FROM auth_codes WHERE tenant = $1 AND code_hash = $2 AND redeemed_at IS NOT NULL",
        )
        .bind(tenant.as_str())
        .bind(code_hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(match spent {
            Some(grant_id) => CodeRedemption::AlreadyRedeemed { grant_id },
            None => CodeRedemption::NotFound,
        })
    }

    async fn put_access_token(&self, token: &AccessToken) -> Result<()> {
        let done = insert_access_token(token, token.passkey.as_ref())
            .execute(self.timed()?)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            Err(StoreError::Conflict)
        } else {
            Ok(())
        }
    }

    async fn get_access_token(
        &self,
        tenant: &TenantId,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<AccessToken>> {
        sqlx::query_as::<_, ProviderTokenRow>(
            "SELECT tenant, token_hash, client_id, grant_id, user_id, scope, payload, expires_at, credential_id, \
             granted_at FROM access_tokens t WHERE tenant = $1 AND token_hash = $2 AND expires_at > $3 \
             AND NOT EXISTS (SELECT 1 FROM revoked_grants r WHERE r.tenant = $1 AND r.grant_id = t.grant_id) \
             AND NOT EXISTS (SELECT 1 FROM revoked_passkeys p WHERE p.tenant = $1 \
             AND p.credential_id = t.credential_id AND p.revoked_at >= t.granted_at)",
        )
        .bind(tenant.as_str())
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?
        .map(ProviderTokenRow::into_access)
        .transpose()
    }

    async fn put_refresh_token(&self, token: &RefreshToken) -> Result<()> {
        let done = insert_refresh_token(token, token.passkey.as_ref())
            .execute(self.timed()?)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            Err(StoreError::Conflict)
        } else {
            Ok(())
        }
    }

    async fn get_refresh_token(
        &self,
        tenant: &TenantId,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<RefreshToken>> {
        sqlx::query_as::<_, ProviderTokenRow>(
            "SELECT tenant, token_hash, client_id, grant_id, user_id, scope, payload, expires_at, credential_id, \
             granted_at FROM refresh_tokens t WHERE tenant = $1 AND token_hash = $2 AND expires_at > $3 \
             AND NOT EXISTS (SELECT 1 FROM revoked_grants r WHERE r.tenant = $1 AND r.grant_id = t.grant_id) \
             AND NOT EXISTS (SELECT 1 FROM revoked_passkeys p WHERE p.tenant = $1 \
             AND p.credential_id = t.credential_id AND p.revoked_at >= t.granted_at)",
        )
        .bind(tenant.as_str())
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?
        .map(ProviderTokenRow::into_refresh)
        .transpose()
    }

    async fn rotate_refresh_token(
        &self,
        tenant: &TenantId,
        old_hash: &[u8],
        new: &RefreshToken,
        now: OffsetDateTime,
    ) -> Result<RefreshRotation> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        let spent = sqlx::query_as::<_, ProviderTokenRow>(
            "UPDATE refresh_tokens t SET rotated_at = $3 \
             WHERE tenant = $1 AND token_hash = $2 AND rotated_at IS NULL AND expires_at > $3 \
             AND NOT EXISTS (SELECT 1 FROM revoked_grants r \
                             WHERE r.tenant = $1 AND r.grant_id = t.grant_id) \
             AND NOT EXISTS (SELECT 1 FROM revoked_passkeys p WHERE p.tenant = $1 \
             AND p.credential_id = t.credential_id AND p.revoked_at >= t.granted_at) \
             RETURNING tenant, token_hash, client_id, grant_id, user_id, scope, payload, expires_at, \
             credential_id, granted_at",
        )
        .bind(tenant.as_str())
        .bind(old_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(old) = spent {
            let old = old.into_refresh()?;
            // The successor is of the same grant, hence of its passkey.
            let done = insert_refresh_token(new, old.passkey.as_ref())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::Conflict);
            }
            tx.commit().await.map_err(db)?;
            return Ok(RefreshRotation::Rotated(old));
        }
        let reused: Option<String> = sqlx::query_scalar(
            "SELECT grant_id FROM refresh_tokens t WHERE tenant = $1 AND token_hash = $2 \
             AND rotated_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM revoked_passkeys p WHERE p.tenant = $1 \
             AND p.credential_id = t.credential_id AND p.revoked_at >= t.granted_at)",
        )
        .bind(tenant.as_str())
        .bind(old_hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(match reused {
            Some(grant_id) => RefreshRotation::Reused { grant_id },
            None => RefreshRotation::NotFound,
        })
    }

    async fn revoke_grant(
        &self,
        tenant: &TenantId,
        grant_id: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        sqlx::query("INSERT INTO revoked_grants (tenant, grant_id, revoked_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(tenant.as_str())
            .bind(grant_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM access_tokens WHERE tenant = $1 AND grant_id = $2")
            .bind(tenant.as_str())
            .bind(grant_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM refresh_tokens WHERE tenant = $1 AND grant_id = $2")
            .bind(tenant.as_str())
            .bind(grant_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn touch_session(
        &self,
        tenant: &TenantId,
        id_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $3 WHERE tenant = $1 AND id_hash = $2")
            .bind(tenant.as_str())
            .bind(id_hash)
            .bind(now)
            .execute(self.pool()?)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn create_session(&self, session: &Session) -> Result<()> {
        let mut conn = self.pool()?.acquire().await.map_err(db)?;
        insert_session(&mut conn, session).await
    }

    async fn get_session(
        &self,
        tenant: &TenantId,
        id_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<Session>> {
        sqlx::query_as::<_, SessionRow>(
            "SELECT * FROM sessions WHERE tenant = $1 AND id_hash = $2 AND expires_at > $3",
        )
        .bind(tenant.as_str())
        .bind(id_hash)
        .bind(now)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?
        .map(SessionRow::into_record)
        .transpose()
    }

    async fn delete_session(&self, tenant: &TenantId, id_hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE tenant = $1 AND id_hash = $2")
            .bind(tenant.as_str())
            .bind(id_hash)
            .execute(self.timed()?)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn delete_session_by_sid(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
        sid: &str,
    ) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM sessions WHERE tenant = $1 AND sid = $2 AND user_id = $3")
                .bind(tenant.as_str())
                .bind(sid)
                .bind(user_id.as_str())
                .execute(self.timed()?)
                .await
                .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }

    async fn purge_expired(&self, now: OffsetDateTime, batch: u32) -> Result<u64> {
        let now_ts = now;
        let codes_before = now - REDEEMED_CODE_RETENTION;
        let grants_before = now - REVOKED_GRANT_RETENTION;
        let passkeys_before = now - REVOKED_PASSKEY_RETENTION;
        let batch = i64::from(batch);
        // One bounded statement per table, each its own short transaction; several nodes may purge at once.
        let statements = [
            (
                sqlx::query(
                    "DELETE FROM ceremonies WHERE ctid IN \
                     (SELECT ctid FROM ceremonies WHERE expires_at <= $1 LIMIT $2)",
                ),
                now_ts,
            ),
            (
                sqlx::query(
                    "DELETE FROM auth_codes WHERE ctid IN \
                     (SELECT ctid FROM auth_codes WHERE expires_at <= $1 LIMIT $2)",
                ),
                codes_before,
            ),
            (
                sqlx::query(
                    "DELETE FROM access_tokens WHERE ctid IN \
                     (SELECT ctid FROM access_tokens WHERE expires_at <= $1 LIMIT $2)",
                ),
                now_ts,
            ),
            (
                sqlx::query(
                    "DELETE FROM refresh_tokens WHERE ctid IN \
                     (SELECT ctid FROM refresh_tokens WHERE expires_at <= $1 LIMIT $2)",
                ),
                now_ts,
            ),
            (
                sqlx::query(
                    "DELETE FROM sessions WHERE ctid IN \
                     (SELECT ctid FROM sessions WHERE expires_at <= $1 LIMIT $2)",
                ),
                now_ts,
            ),
            (
                sqlx::query(
                    "DELETE FROM revoked_grants WHERE ctid IN \
                     (SELECT ctid FROM revoked_grants WHERE revoked_at <= $1 LIMIT $2)",
                ),
                grants_before,
            ),
            (
                sqlx::query(
                    "DELETE FROM revoked_passkeys WHERE ctid IN \
                     (SELECT ctid FROM revoked_passkeys WHERE revoked_at <= $1 LIMIT $2)",
                ),
                passkeys_before,
            ),
        ];
        self.purge_bounded(statements, batch).await
    }
}

#[async_trait]
impl CeremonyStore for PostgresStore {
    async fn put_ceremony(
        &self,
        tenant: &TenantId,
        id: &str,
        kind: &str,
        payload: Vec<u8>,
        expires_at: OffsetDateTime,
        _now: OffsetDateTime,
    ) -> Result<()> {
        sqlx::query("INSERT INTO ceremonies (tenant, id, kind, payload, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(tenant.as_str())
            .bind(id)
            .bind(kind)
            .bind(payload)
            .bind(expires_at)
            .execute(self.timed()?)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn take_ceremony(
        &self,
        tenant: &TenantId,
        id: &str,
        kind: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar(
            "DELETE FROM ceremonies WHERE tenant = $1 AND id = $2 AND kind = $3 AND expires_at > $4 \
             RETURNING payload",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(kind)
        .bind(now)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)
    }

    async fn peek_ceremony(
        &self,
        tenant: &TenantId,
        id: &str,
        kind: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar(
            "SELECT payload FROM ceremonies WHERE tenant = $1 AND id = $2 AND kind = $3 AND expires_at > $4",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(kind)
        .bind(now)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)
    }
}

fn insert_credential(
    credential: &Credential,
) -> Result<sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>> {
    // At most once per RP ID, across the tenants sharing it: the registry's primary key refuses a second one.
    Ok(sqlx::query(
        "WITH inserted AS (INSERT INTO credentials (tenant, credential_id, user_id, public_key, alg, sign_count, \
         uv_initialized, backup_eligible, backup_state, transports, aaguid, attestation_format, nickname, created_at, \
         last_used_at, attestation_trusted) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
         $16) RETURNING tenant, credential_id) \
         INSERT INTO credential_rp_ids (rp_id, credential_id, tenant) \
         SELECT t.rp_id, i.credential_id, i.tenant FROM inserted i JOIN tenants t ON t.id = i.tenant",
    )
    .bind(credential.tenant.as_str())
    .bind(&credential.credential_id)
    .bind(credential.user_id.as_str())
    .bind(&credential.public_key)
    .bind(credential.alg)
    .bind(i64::from(credential.sign_count))
    .bind(credential.uv_initialized)
    .bind(credential.backup_eligible)
    .bind(credential.backup_state)
    .bind(credential.transports.as_slice())
    .bind(&credential.aaguid[..])
    .bind(&credential.attestation_format)
    .bind(&credential.nickname)
    .bind(credential.created_at)
    .bind(credential.last_used_at)
    .bind(credential.attestation_trusted))
}

/// Inserts an access token of the grant issued from `passkey` unless its grant was revoked, also through the
/// passkey (no row affected then).
fn insert_access_token<'a>(
    token: &'a AccessToken,
    passkey: Option<&'a GrantPasskey>,
) -> sqlx::query::Query<'a, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(
        "INSERT INTO access_tokens (tenant, token_hash, client_id, grant_id, user_id, scope, payload, expires_at, \
         credential_id, granted_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 \
         WHERE NOT EXISTS (SELECT 1 FROM revoked_grants WHERE tenant = $1 AND grant_id = $4) \
         AND NOT EXISTS (SELECT 1 FROM revoked_passkeys \
           WHERE tenant = $1 AND credential_id = $9 AND revoked_at >= $10)",
    )
    .bind(token.tenant.as_str())
    .bind(&token.token_hash)
    .bind(token.client_id.as_str())
    .bind(&token.grant_id)
    .bind(token.user_id.as_str())
    .bind(&token.scope)
    .bind(&token.payload)
    .bind(token.expires_at)
    .bind(passkey.map(|p| p.credential_id.as_slice()))
    .bind(passkey.map(|p| p.granted_at))
}

/// Inserts a refresh token of the grant issued from `passkey` unless its grant was revoked, also through the
/// passkey (no row affected then).
fn insert_refresh_token<'a>(
    token: &'a RefreshToken,
    passkey: Option<&'a GrantPasskey>,
) -> sqlx::query::Query<'a, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(
        "INSERT INTO refresh_tokens (tenant, token_hash, client_id, grant_id, user_id, scope, payload, expires_at, \
         credential_id, granted_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 \
         WHERE NOT EXISTS (SELECT 1 FROM revoked_grants WHERE tenant = $1 AND grant_id = $4) \
         AND NOT EXISTS (SELECT 1 FROM revoked_passkeys \
           WHERE tenant = $1 AND credential_id = $9 AND revoked_at >= $10)",
    )
    .bind(token.tenant.as_str())
    .bind(&token.token_hash)
    .bind(token.client_id.as_str())
    .bind(&token.grant_id)
    .bind(token.user_id.as_str())
    .bind(&token.scope)
    .bind(&token.payload)
    .bind(token.expires_at)
    .bind(passkey.map(|p| p.credential_id.as_slice()))
    .bind(passkey.map(|p| p.granted_at))
}

fn insert_signing_key(
    key: &SigningKey,
) -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(
        "INSERT INTO signing_keys (tenant, kid, alg, private_key_encrypted, public_jwk, created_at, retired_at, \
         status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(key.tenant.as_str())
    .bind(&key.kid)
    .bind(&key.alg)
    .bind(&key.private_key_encrypted)
    .bind(&key.public_jwk)
    .bind(key.created_at)
    .bind(key.retired_at)
    .bind(key.status.as_str())
}

/// `NOTIFY` reaches every node's listening connection, each of which wakes its own subscriptions.
#[async_trait]
impl HealthStore for PostgresStore {
    async fn probe_write(&self, now: OffsetDateTime) -> Result<()> {
        sqlx::query(
            "INSERT INTO store_health (id, checked_at) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET checked_at = EXCLUDED.checked_at",
        )
        .bind(now.unix_timestamp())
        .execute(self.pool()?)
        .await
        .map_err(db)?;
        Ok(())
    }
}

#[async_trait]
impl Notifier for PostgresStore {
    async fn notify(&self, topic: &Topic, payload: &Payload) -> Result<()> {
        self.notifier.notify(self.pool()?, topic, payload).await
    }

    async fn subscribe(&self, topic: &Topic) -> Result<Subscription> {
        self.notifier.subscribe(&self.pool, topic).await
    }
}
