//! Tessera's embedded store: [`SqliteStore`], the [`tessera_store::Store`] trait on one SQLite file.
//!
//! - this file: [`SqliteStore`] — opening (WAL, `synchronous=NORMAL`, migrations), and every operation, each one
//!   prepared statement where it can be, a short transaction where it must (sign-up, rotation, revocation).
//! - `convert`: timestamps (unix microseconds), JSON columns, identifiers, and `sqlx` errors → `StoreError`.
//! - `rows`: the rows SQLite returns and their conversion into records (undecodable data is `Corrupt`).
//! - `migrations/` (embedded with `sqlx::migrate!`): the schema.
//!
//! Writes go through one writer connection (SQLite allows one writer at a time; queuing them in the pool is cheaper
//! than `SQLITE_BUSY` retries) and reads through a pool of read-only connections, which WAL lets run beside the writer.

mod convert;
mod rows;

use async_trait::async_trait;
use convert::{db, to_json, ts};
use rows::{
    AuthCodeRow, ClientRow, CredentialRow, SessionRow, SigningKeyRow, TenantRow, TokenRow, UserRow,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::time::Duration as StdDuration;
use tessera_core::{ClientId, TenantId, UserId};
use tessera_store::{
    AccessToken, AuthCode, Client, CodeRedemption, Credential, REDEEMED_CODE_RETENTION,
    REVOKED_GRANT_RETENTION, RefreshRotation, RefreshToken, Result, Session, SignCountUpdate,
    SigningKey, Store, StoreError, Tenant, User, fold_username,
};
use time::OffsetDateTime;

/// How many read-only connections serve lookups beside the writer.
const READERS: u32 = 4;
/// How long an operation waits for a connection or a lock before the store is reported unavailable.
const WAIT: StdDuration = StdDuration::from_secs(5);

/// The SQLite implementation of [`Store`]. Cheap to clone; clones share the connections.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` in WAL mode with `synchronous=NORMAL`, and brings its
    /// schema up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(WAIT);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(WAIT)
            .connect_with(options.clone())
            .await
            .map_err(db)?;
        sqlx::migrate!("./migrations")
            .run(&writer)
            .await
            .map_err(migrate_error)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(WAIT)
            .connect_with(options.read_only(true))
            .await
            .map_err(db)?;
        Ok(Self { writer, reader })
    }

    /// Closes every connection; later operations fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// Whether a row exists: used after a conditional statement matched nothing, to tell "not found" from
    /// "refused". Runs on the writer so that it sees the statement's outcome.
    async fn credential_exists(&self, tenant: &TenantId, credential_id: &[u8]) -> Result<bool> {
        sqlx::query("SELECT 1 FROM credentials WHERE tenant = ?1 AND credential_id = ?2")
            .bind(tenant.as_str())
            .bind(credential_id)
            .fetch_optional(&self.writer)
            .await
            .map(|row| row.is_some())
            .map_err(db)
    }
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

#[async_trait]
impl Store for SqliteStore {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()> {
        sqlx::query(
            "INSERT INTO tenants (id, display_name, rp_id, origins, policy, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(tenant.id.as_str())
        .bind(&tenant.display_name)
        .bind(&tenant.rp_id)
        .bind(to_json(&tenant.origins)?)
        .bind(to_json(&tenant.policy)?)
        .bind(ts(tenant.created_at))
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn get_tenant(&self, tenant: &TenantId) -> Result<Option<Tenant>> {
        sqlx::query_as::<_, TenantRow>("SELECT * FROM tenants WHERE id = ?1")
            .bind(tenant.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?
            .map(TenantRow::into_record)
            .transpose()
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        sqlx::query_as::<_, TenantRow>("SELECT * FROM tenants ORDER BY id")
            .fetch_all(&self.reader)
            .await
            .map_err(db)?
            .into_iter()
            .map(TenantRow::into_record)
            .collect()
    }

    async fn update_tenant(&self, tenant: &Tenant) -> Result<()> {
        let done = sqlx::query(
            "UPDATE tenants SET display_name = ?2, rp_id = ?3, origins = ?4, policy = ?5 WHERE id = ?1",
        )
        .bind(tenant.id.as_str())
        .bind(&tenant.display_name)
        .bind(&tenant.rp_id)
        .bind(to_json(&tenant.origins)?)
        .bind(to_json(&tenant.policy)?)
        .execute(&self.writer)
        .await
        .map_err(db)?;
        affected_one(done.rows_affected())
    }

    async fn create_client(&self, client: &Client) -> Result<()> {
        sqlx::query(
            "INSERT INTO clients (tenant, client_id, display_name, secret_hash, redirect_uris, \
             post_logout_redirect_uris, token_endpoint_auth_method, id_token_signed_response_alg, jwks, \
             allowed_scopes, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .bind(client.tenant.as_str())
        .bind(client.client_id.as_str())
        .bind(&client.display_name)
        .bind(client.secret_hash.as_deref())
        .bind(to_json(&client.redirect_uris)?)
        .bind(to_json(&client.post_logout_redirect_uris)?)
        .bind(&client.token_endpoint_auth_method)
        .bind(&client.id_token_signed_response_alg)
        .bind(client.jwks.as_ref().map(to_json).transpose()?)
        .bind(to_json(&client.allowed_scopes)?)
        .bind(ts(client.created_at))
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn get_client(&self, tenant: &TenantId, client_id: &ClientId) -> Result<Option<Client>> {
        sqlx::query_as::<_, ClientRow>("SELECT * FROM clients WHERE tenant = ?1 AND client_id = ?2")
            .bind(tenant.as_str())
            .bind(client_id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?
            .map(ClientRow::into_record)
            .transpose()
    }

    async fn list_clients(&self, tenant: &TenantId) -> Result<Vec<Client>> {
        sqlx::query_as::<_, ClientRow>("SELECT * FROM clients WHERE tenant = ?1 ORDER BY client_id")
            .bind(tenant.as_str())
            .fetch_all(&self.reader)
            .await
            .map_err(db)?
            .into_iter()
            .map(ClientRow::into_record)
            .collect()
    }

    async fn delete_client(&self, tenant: &TenantId, client_id: &ClientId) -> Result<()> {
        let done = sqlx::query("DELETE FROM clients WHERE tenant = ?1 AND client_id = ?2")
            .bind(tenant.as_str())
            .bind(client_id.as_str())
            .execute(&self.writer)
            .await
            .map_err(db)?;
        affected_one(done.rows_affected())
    }

    async fn create_user_with_credential(
        &self,
        user: &User,
        credential: &Credential,
    ) -> Result<()> {
        if credential.user_id != user.id || credential.tenant != user.tenant {
            return Err(StoreError::Conflict);
        }
        let mut tx = self.writer.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO users (tenant, id, username, username_folded, display_name, email, email_verified, \
             user_handle, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(user.tenant.as_str())
        .bind(user.id.as_str())
        .bind(&user.username)
        .bind(fold_username(&user.username))
        .bind(&user.display_name)
        .bind(user.email.as_deref())
        .bind(user.email_verified)
        .bind(&user.user_handle)
        .bind(ts(user.created_at))
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
        sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE tenant = ?1 AND id = ?2")
            .bind(tenant.as_str())
            .bind(user_id.as_str())
            .fetch_optional(&self.reader)
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
            "SELECT * FROM users WHERE tenant = ?1 AND username_folded = ?2",
        )
        .bind(tenant.as_str())
        .bind(fold_username(username))
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .map(UserRow::into_record)
        .transpose()
    }

    async fn find_user_by_handle(
        &self,
        tenant: &TenantId,
        user_handle: &[u8],
    ) -> Result<Option<User>> {
        sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE tenant = ?1 AND user_handle = ?2")
            .bind(tenant.as_str())
            .bind(user_handle)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?
            .map(UserRow::into_record)
            .transpose()
    }

    async fn list_users(
        &self,
        tenant: &TenantId,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<Vec<User>> {
        // Ids are never empty, so "" sorts before every one of them.
        sqlx::query_as::<_, UserRow>(
            "SELECT * FROM users WHERE tenant = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        )
        .bind(tenant.as_str())
        .bind(after.map_or("", UserId::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?
        .into_iter()
        .map(UserRow::into_record)
        .collect()
    }

    async fn update_user(&self, user: &User) -> Result<()> {
        let done = sqlx::query(
            "UPDATE users SET username = ?3, username_folded = ?4, display_name = ?5, email = ?6, \
             email_verified = ?7 WHERE tenant = ?1 AND id = ?2",
        )
        .bind(user.tenant.as_str())
        .bind(user.id.as_str())
        .bind(&user.username)
        .bind(fold_username(&user.username))
        .bind(&user.display_name)
        .bind(user.email.as_deref())
        .bind(user.email_verified)
        .execute(&self.writer)
        .await
        .map_err(db)?;
        affected_one(done.rows_affected())
    }

    async fn delete_user(&self, tenant: &TenantId, user_id: &UserId) -> Result<()> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        sqlx::query("DELETE FROM sessions WHERE tenant = ?1 AND user_id = ?2")
            .bind(tenant.as_str())
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM access_tokens WHERE tenant = ?1 AND user_id = ?2")
            .bind(tenant.as_str())
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM refresh_tokens WHERE tenant = ?1 AND user_id = ?2")
            .bind(tenant.as_str())
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // Credentials go with the user (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM users WHERE tenant = ?1 AND id = ?2")
            .bind(tenant.as_str())
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        affected_one(done.rows_affected())?;
        tx.commit().await.map_err(db)
    }

    async fn add_credential(&self, credential: &Credential) -> Result<()> {
        insert_credential(credential)?
            .execute(&self.writer)
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
            "SELECT * FROM credentials WHERE tenant = ?1 AND credential_id = ?2",
        )
        .bind(tenant.as_str())
        .bind(credential_id)
        .fetch_optional(&self.reader)
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
            "SELECT * FROM credentials WHERE tenant = ?1 AND user_id = ?2 ORDER BY created_at, credential_id",
        )
        .bind(tenant.as_str())
        .bind(user_id.as_str())
        .fetch_all(&self.reader)
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
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE credentials SET nickname = ?4 WHERE tenant = ?1 AND user_id = ?2 AND credential_id = ?3",
        )
        .bind(tenant.as_str())
        .bind(user_id.as_str())
        .bind(credential_id)
        .bind(nickname)
        .execute(&self.writer)
        .await
        .map_err(db)?;
        affected_one(done.rows_affected())
    }

    async fn delete_credential(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
        credential_id: &[u8],
    ) -> Result<()> {
        // One statement on the single writer: the count and the delete see the same state.
        let done = sqlx::query(
            "DELETE FROM credentials WHERE tenant = ?1 AND user_id = ?2 AND credential_id = ?3 \
             AND (SELECT COUNT(*) FROM credentials WHERE tenant = ?1 AND user_id = ?2) > 1",
        )
        .bind(tenant.as_str())
        .bind(user_id.as_str())
        .bind(credential_id)
        .execute(&self.writer)
        .await
        .map_err(db)?;
        if done.rows_affected() > 0 {
            return Ok(());
        }
        let owned = sqlx::query(
            "SELECT 1 FROM credentials WHERE tenant = ?1 AND user_id = ?2 AND credential_id = ?3",
        )
        .bind(tenant.as_str())
        .bind(user_id.as_str())
        .bind(credential_id)
        .fetch_optional(&self.writer)
        .await
        .map_err(db)?;
        Err(if owned.is_some() {
            StoreError::Conflict
        } else {
            StoreError::NotFound
        })
    }

    async fn bump_sign_count(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        expected_old: u32,
        new: u32,
        backup_state: bool,
        used_at: OffsetDateTime,
    ) -> Result<SignCountUpdate> {
        // WebAuthn L3 §7.2: a counter that does not increase (unless both are zero) is a clone signal.
        let increases = new > expected_old || (new == 0 && expected_old == 0);
        if increases {
            let done = sqlx::query(
                "UPDATE credentials SET sign_count = ?4, backup_state = ?5, last_used_at = ?6 \
                 WHERE tenant = ?1 AND credential_id = ?2 AND sign_count = ?3",
            )
            .bind(tenant.as_str())
            .bind(credential_id)
            .bind(i64::from(expected_old))
            .bind(i64::from(new))
            .bind(backup_state)
            .bind(ts(used_at))
            .execute(&self.writer)
            .await
            .map_err(db)?;
            if done.rows_affected() > 0 {
                return Ok(SignCountUpdate::Updated);
            }
        }
        if self.credential_exists(tenant, credential_id).await? {
            Ok(SignCountUpdate::Regressed)
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn put_ceremony(
        &self,
        tenant: &TenantId,
        id: &str,
        kind: &str,
        payload: Vec<u8>,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        sqlx::query("INSERT INTO ceremonies (tenant, id, kind, payload, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)")
            .bind(tenant.as_str())
            .bind(id)
            .bind(kind)
            .bind(payload)
            .bind(ts(expires_at))
            .execute(&self.writer)
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
            "DELETE FROM ceremonies WHERE tenant = ?1 AND id = ?2 AND kind = ?3 AND expires_at > ?4 \
             RETURNING payload",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(kind)
        .bind(ts(now))
        .fetch_optional(&self.writer)
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
            "SELECT payload FROM ceremonies WHERE tenant = ?1 AND id = ?2 AND kind = ?3 AND expires_at > ?4",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(kind)
        .bind(ts(now))
        .fetch_optional(&self.reader)
        .await
        .map_err(db)
    }

    async fn put_auth_code(&self, code: &AuthCode) -> Result<()> {
        sqlx::query(
            "INSERT INTO auth_codes (tenant, code_hash, client_id, grant_id, payload, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(code.tenant.as_str())
        .bind(&code.code_hash)
        .bind(code.client_id.as_str())
        .bind(&code.grant_id)
        .bind(&code.payload)
        .bind(ts(code.expires_at))
        .execute(&self.writer)
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
        let redeemed = sqlx::query_as::<_, AuthCodeRow>(
            "UPDATE auth_codes SET redeemed_at = ?3 \
             WHERE tenant = ?1 AND code_hash = ?2 AND redeemed_at IS NULL AND expires_at > ?3 \
             RETURNING tenant, code_hash, client_id, grant_id, payload, expires_at",
        )
        .bind(tenant.as_str())
        .bind(code_hash)
        .bind(ts(now))
        .fetch_optional(&self.writer)
        .await
        .map_err(db)?;
        if let Some(row) = redeemed {
            return Ok(CodeRedemption::Redeemed(row.into_record()?));
        }
        let spent: Option<String> = sqlx::query_scalar(
            "SELECT grant_id FROM auth_codes WHERE tenant = ?1 AND code_hash = ?2 AND redeemed_at IS NOT NULL",
        )
        .bind(tenant.as_str())
        .bind(code_hash)
        .fetch_optional(&self.writer)
        .await
        .map_err(db)?;
        Ok(match spent {
            Some(grant_id) => CodeRedemption::AlreadyRedeemed { grant_id },
            None => CodeRedemption::NotFound,
        })
    }

    async fn put_access_token(&self, token: &AccessToken) -> Result<()> {
        let done = sqlx::query(
            "INSERT INTO access_tokens (tenant, token_hash, client_id, grant_id, user_id, scope, payload, expires_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 \
             WHERE NOT EXISTS (SELECT 1 FROM revoked_grants WHERE tenant = ?1 AND grant_id = ?4)",
        )
        .bind(token.tenant.as_str())
        .bind(&token.token_hash)
        .bind(token.client_id.as_str())
        .bind(&token.grant_id)
        .bind(token.user_id.as_str())
        .bind(&token.scope)
        .bind(&token.payload)
        .bind(ts(token.expires_at))
        .execute(&self.writer)
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
        sqlx::query_as::<_, TokenRow>(
            "SELECT tenant, token_hash, client_id, grant_id, user_id, scope, payload, expires_at \
             FROM access_tokens WHERE tenant = ?1 AND token_hash = ?2 AND expires_at > ?3",
        )
        .bind(tenant.as_str())
        .bind(token_hash)
        .bind(ts(now))
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .map(TokenRow::into_access)
        .transpose()
    }

    async fn put_refresh_token(&self, token: &RefreshToken) -> Result<()> {
        let done = insert_refresh_token(token)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            Err(StoreError::Conflict)
        } else {
            Ok(())
        }
    }

    async fn rotate_refresh_token(
        &self,
        tenant: &TenantId,
        old_hash: &[u8],
        new: &RefreshToken,
        now: OffsetDateTime,
    ) -> Result<RefreshRotation> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let spent = sqlx::query_as::<_, TokenRow>(
            "UPDATE refresh_tokens SET rotated_at = ?3 \
             WHERE tenant = ?1 AND token_hash = ?2 AND rotated_at IS NULL AND expires_at > ?3 \
             RETURNING tenant, token_hash, client_id, grant_id, user_id, scope, payload, expires_at",
        )
        .bind(tenant.as_str())
        .bind(old_hash)
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(old) = spent {
            let done = insert_refresh_token(new)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::Conflict);
            }
            tx.commit().await.map_err(db)?;
            return Ok(RefreshRotation::Rotated(old.into_refresh()?));
        }
        let reused: Option<String> = sqlx::query_scalar(
            "SELECT grant_id FROM refresh_tokens WHERE tenant = ?1 AND token_hash = ?2 AND rotated_at IS NOT NULL",
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

    async fn revoke_grant(&self, tenant: &TenantId, grant_id: &str) -> Result<()> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        sqlx::query("INSERT OR IGNORE INTO revoked_grants (tenant, grant_id, revoked_at) VALUES (?1, ?2, ?3)")
            .bind(tenant.as_str())
            .bind(grant_id)
            .bind(ts(OffsetDateTime::now_utc()))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM access_tokens WHERE tenant = ?1 AND grant_id = ?2")
            .bind(tenant.as_str())
            .bind(grant_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM refresh_tokens WHERE tenant = ?1 AND grant_id = ?2")
            .bind(tenant.as_str())
            .bind(grant_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn create_session(&self, session: &Session) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (tenant, id_hash, user_id, auth_time, amr, acr, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(session.tenant.as_str())
        .bind(&session.id_hash)
        .bind(session.user_id.as_str())
        .bind(ts(session.auth_time))
        .bind(to_json(&session.amr)?)
        .bind(&session.acr)
        .bind(ts(session.expires_at))
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn get_session(
        &self,
        tenant: &TenantId,
        id_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<Session>> {
        sqlx::query_as::<_, SessionRow>(
            "SELECT * FROM sessions WHERE tenant = ?1 AND id_hash = ?2 AND expires_at > ?3",
        )
        .bind(tenant.as_str())
        .bind(id_hash)
        .bind(ts(now))
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .map(SessionRow::into_record)
        .transpose()
    }

    async fn delete_session(&self, tenant: &TenantId, id_hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE tenant = ?1 AND id_hash = ?2")
            .bind(tenant.as_str())
            .bind(id_hash)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn delete_user_sessions(&self, tenant: &TenantId, user_id: &UserId) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE tenant = ?1 AND user_id = ?2")
            .bind(tenant.as_str())
            .bind(user_id.as_str())
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn put_signing_key(&self, key: &SigningKey) -> Result<()> {
        sqlx::query(
            "INSERT INTO signing_keys (tenant, kid, alg, private_key_encrypted, public_jwk, created_at, retired_at, \
             status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(key.tenant.as_str())
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.private_key_encrypted)
        .bind(to_json(&key.public_jwk)?)
        .bind(ts(key.created_at))
        .bind(key.retired_at.map(ts))
        .bind(key.status.as_str())
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn list_signing_keys(&self, tenant: &TenantId) -> Result<Vec<SigningKey>> {
        sqlx::query_as::<_, SigningKeyRow>(
            "SELECT * FROM signing_keys WHERE tenant = ?1 ORDER BY created_at, kid",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(db)?
        .into_iter()
        .map(SigningKeyRow::into_record)
        .collect()
    }

    async fn activate_signing_key(&self, tenant: &TenantId, kid: &str) -> Result<()> {
        let done = sqlx::query(
            "UPDATE signing_keys SET status = 'active' WHERE tenant = ?1 AND kid = ?2 AND status <> 'retired'",
        )
        .bind(tenant.as_str())
        .bind(kid)
        .execute(&self.writer)
        .await
        .map_err(db)?;
        if done.rows_affected() > 0 {
            return Ok(());
        }
        let exists = sqlx::query("SELECT 1 FROM signing_keys WHERE tenant = ?1 AND kid = ?2")
            .bind(tenant.as_str())
            .bind(kid)
            .fetch_optional(&self.writer)
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
            "UPDATE signing_keys SET status = 'retired', retired_at = COALESCE(retired_at, ?3) \
             WHERE tenant = ?1 AND kid = ?2",
        )
        .bind(tenant.as_str())
        .bind(kid)
        .bind(ts(at))
        .execute(&self.writer)
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
            "DELETE FROM signing_keys WHERE tenant = ?1 AND status = 'retired' AND retired_at < ?2",
        )
        .bind(tenant.as_str())
        .bind(ts(retired_before))
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn purge_expired(&self, now: OffsetDateTime, batch: u32) -> Result<u64> {
        let now_ts = ts(now);
        let codes_before = ts(now - REDEEMED_CODE_RETENTION);
        let grants_before = ts(now - REVOKED_GRANT_RETENTION);
        let batch = i64::from(batch);
        // One bounded statement per table, each its own short write, so that sign-ins interleave with a purge.
        let statements = [
            (
                sqlx::query(
                    "DELETE FROM ceremonies WHERE rowid IN \
                     (SELECT rowid FROM ceremonies WHERE expires_at <= ?1 LIMIT ?2)",
                ),
                now_ts,
            ),
            (
                sqlx::query(
                    "DELETE FROM auth_codes WHERE rowid IN \
                     (SELECT rowid FROM auth_codes WHERE expires_at <= ?1 LIMIT ?2)",
                ),
                codes_before,
            ),
            (
                sqlx::query(
                    "DELETE FROM access_tokens WHERE rowid IN \
                     (SELECT rowid FROM access_tokens WHERE expires_at <= ?1 LIMIT ?2)",
                ),
                now_ts,
            ),
            (
                sqlx::query(
                    "DELETE FROM refresh_tokens WHERE rowid IN \
                     (SELECT rowid FROM refresh_tokens WHERE expires_at <= ?1 LIMIT ?2)",
                ),
                now_ts,
            ),
            (
                sqlx::query(
                    "DELETE FROM sessions WHERE rowid IN \
                     (SELECT rowid FROM sessions WHERE expires_at <= ?1 LIMIT ?2)",
                ),
                now_ts,
            ),
            (
                sqlx::query(
                    "DELETE FROM revoked_grants WHERE rowid IN \
                     (SELECT rowid FROM revoked_grants WHERE revoked_at <= ?1 LIMIT ?2)",
                ),
                grants_before,
            ),
        ];
        let mut deleted = 0;
        for (statement, before) in statements {
            let done = statement
                .bind(before)
                .bind(batch)
                .execute(&self.writer)
                .await
                .map_err(db)?;
            deleted += done.rows_affected();
        }
        Ok(deleted)
    }

    async fn health(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(db)?;
        Ok(())
    }
}

fn insert_credential(
    credential: &Credential,
) -> Result<sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>> {
    let transports = to_json(&credential.transports)?;
    Ok(sqlx::query(
        "INSERT INTO credentials (tenant, credential_id, user_id, public_key, alg, sign_count, uv_initialized, \
         backup_eligible, backup_state, transports, aaguid, attestation_format, nickname, created_at, last_used_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
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
    .bind(transports)
    .bind(credential.aaguid.as_slice())
    .bind(&credential.attestation_format)
    .bind(&credential.nickname)
    .bind(ts(credential.created_at))
    .bind(credential.last_used_at.map(ts)))
}

fn insert_refresh_token(
    token: &RefreshToken,
) -> sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    sqlx::query(
        "INSERT INTO refresh_tokens (tenant, token_hash, client_id, grant_id, user_id, scope, payload, expires_at) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 \
         WHERE NOT EXISTS (SELECT 1 FROM revoked_grants WHERE tenant = ?1 AND grant_id = ?4)",
    )
    .bind(token.tenant.as_str())
    .bind(&token.token_hash)
    .bind(token.client_id.as_str())
    .bind(&token.grant_id)
    .bind(token.user_id.as_str())
    .bind(&token.scope)
    .bind(&token.payload)
    .bind(ts(token.expires_at))
}
