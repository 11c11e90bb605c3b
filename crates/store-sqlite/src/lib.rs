//! Tessera's embedded store: [`SqliteStore`], every role of [`tessera_store::Store`] on one SQLite file.
//!
//! - this file: [`SqliteStore`] and every operation, each one prepared (and cached) statement where it can be; a
//!   write with several statements (sign-up, rotation, revocation, user deletion) is all-or-nothing because every
//!   write runs in its own savepoint.
//! - `conn`: the connections (one writer with group commit, a few read-only readers, WAL with
//!   `synchronous=NORMAL`), the background checkpointer and the migration runner over `migrations/`.
//! - `convert`: timestamps (unix microseconds), JSON columns, identifiers, and SQLite errors → `StoreError`.
//! - `rows`: the rows SQLite returns and their conversion into records (undecodable data is `Corrupt`).
//!
//! SQLite is driven through `rusqlite` and statements run inline on the calling task: a sign-in's statements take
//! microseconds each, and a thread hop per statement (what an async driver with a worker thread does) would cost more
//! CPU than the statements themselves. Writers queue on an async mutex in front of the one writer connection, and
//! the writes of concurrent requests share one `COMMIT` (group commit, see `conn`).

mod admin;
mod broker;
mod conn;
mod convert;
mod ephemeral;
mod reserve;
mod rows;

use async_trait::async_trait;
use conn::Connections;
use convert::{db, to_json, ts};
use ephemeral::Ephemeral;
use rows::{
    AuthCodeRow, ClientRow, CredentialRow, PasskeyCols, SessionRow, SigningKeyRow, TenantRow,
    TokenRow, UserRow, passkey_at,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::Arc;
use tessera_core::{ClientId, TenantId, UserId};
use tessera_store::convert::{revision, revision_column};
use tessera_store::notify::{LocalHub, Notifier, Payload, Subscription, Topic};
use tessera_store::{
    AccessToken, AccountStatus, AuthCode, CeremonyStore, Client, ClientFilter, CodeRedemption,
    Credential, GrantPasskey, GrantStore, HealthStore, REDEEMED_CODE_RETENTION,
    REVOKED_GRANT_RETENTION, REVOKED_PASSKEY_RETENTION, RefreshRotation, RefreshToken, Result,
    Session, SignCountBump, SignCountRegression, SignCountUpdate, SigningKey, StoreError, Tenant,
    TenantContents, TenantDeletion, TenantStore, User, UserStore, check_expected,
    fold_display_name, fold_username,
};
use time::OffsetDateTime;

/// The SQLite implementation of [`tessera_store::Store`]. Cheap to clone; clones share the connections.
#[derive(Clone)]
pub struct SqliteStore {
    conns: Arc<Connections>,
    ephemeral: Arc<Ephemeral>,
    hub: Arc<LocalHub>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

impl SqliteStore {
    /// Runs bounded purge statements (`?1` the cut-off time, `?2` the batch size), one bounded statement per table,
    /// each its own short write, so that sign-ins interleave with a purge; returns the rows deleted.
    async fn purge_bounded(&self, statements: &[(&'static str, i64)], batch: i64) -> Result<u64> {
        let mut deleted = 0;
        for &(sql, before) in statements {
            deleted += self
                .conns
                .write(|conn| execute(conn, sql, params![before, batch]))
                .await? as u64;
        }
        Ok(deleted)
    }

    /// Opens (creating if needed) the database file at `path` in WAL mode with `synchronous=NORMAL`, and brings its
    /// schema up to date.
    ///
    /// A data dir that held a store keeps its identity beside the database file (`<file>.identity`): when that file is
    /// there but the database is missing or is another store's, opening refuses ([`StoreError::Unavailable`]) rather
    /// than starting over empty. [`SqliteStore::open_initialising`] is the explicit way to start a new store there.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, false).await
    }

    /// Opens as [`SqliteStore::open`] does, creating a new store even where an identity file says one was, and
    /// taking the new store's identity (an operator's explicit "initialise").
    pub async fn open_initialising(path: &Path) -> Result<Self> {
        Self::open_with(path, true).await
    }

    async fn open_with(path: &Path, initialise: bool) -> Result<Self> {
        // A store that cannot be written is refused at start, saying so, rather than served as if healthy.
        match Self::open_checked(path, initialise).await {
            Err(StoreError::Unavailable(reason)) => {
                Err(conn::unwritable(path).unwrap_or(StoreError::Unavailable(reason)))
            }
            other => other,
        }
    }

    async fn open_checked(path: &Path, initialise: bool) -> Result<Self> {
        let identity_path = identity_file(path);
        let remembered = std::fs::read_to_string(&identity_path)
            .ok()
            .map(|text| text.trim().to_owned());
        if remembered.is_some() && !path.exists() && !initialise {
            return Err(StoreError::Unavailable(format!(
                "{} says a store lived here, but its database {} is missing: restore it from a backup, or \
                 initialise a new, empty store explicitly (`tessera store init`)",
                identity_path.display(),
                path.display()
            )));
        }
        let readers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
        let conns = Connections::open(path, readers, reserve::DEFAULT_RESERVE_BYTES)?;
        let id = store_identity(&conns).await?;
        match remembered {
            Some(known) if known != id && !initialise => {
                conns.close().await;
                return Err(StoreError::Unavailable(format!(
                    "the database {} is not the store {} names (another file was put in its place): restore the \
                     right one, or initialise explicitly",
                    path.display(),
                    identity_path.display()
                )));
            }
            Some(known) if known == id => {}
            _ => std::fs::write(&identity_path, format!("{id}\n")).map_err(|e| {
                StoreError::Unavailable(format!("{}: {e}", identity_path.display()))
            })?,
        }
        Ok(Self {
            conns: Arc::new(conns),
            ephemeral: Arc::default(),
            hub: Arc::default(),
        })
    }

    /// Closes every connection; later operations fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.ephemeral.close();
        self.hub.close();
        self.conns.close().await;
    }
}

/// The identity file beside a database file: `<file>.identity`.
fn identity_file(path: &Path) -> std::path::PathBuf {
    beside(path, ".identity")
}

/// The directory that holds the database file (`.` for a bare file name).
pub(crate) fn directory_of(database: &Path) -> &Path {
    database
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The file beside the database whose name is the database's plus `suffix` (`tessera.db-wal`, `tessera.db.reserve`).
pub(crate) fn beside(database: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = database.file_name().unwrap_or_default().to_owned();
    name.push(suffix);
    database.with_file_name(name)
}

/// The store's identity, made (random) the first time the store is opened.
async fn store_identity(conns: &Connections) -> Result<String> {
    let fresh = {
        use std::hash::{BuildHasher, Hasher};
        let mut id = String::new();
        for round in 0..2u64 {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(round);
            hasher.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            hasher.write_u32(std::process::id());
            id.push_str(&format!("{:016x}", hasher.finish()));
        }
        id
    };
    conns
        .write(|conn| {
            execute(
                conn,
                "INSERT INTO store_identity (id) SELECT ?1 WHERE NOT EXISTS (SELECT 1 FROM store_identity)",
                [fresh.as_str()],
            )?;
            query_one(conn, "SELECT id FROM store_identity", [], |row| row.get(0))?
                .ok_or_else(|| StoreError::Corrupt("the store has no identity".into()))
        })
        .await
}

/// The stored client, read on the writer (the guard of a conditional write).
fn stored_client(
    conn: &Connection,
    tenant: &TenantId,
    client_id: &ClientId,
) -> Result<Option<Client>> {
    query_one(
        conn,
        "SELECT tenant, client_id, display_name, secret_hash, redirect_uris, \
         post_logout_redirect_uris, token_endpoint_auth_method, id_token_signed_response_alg, jwks, \
         allowed_scopes, created_at \
         FROM clients WHERE tenant = ?1 AND client_id = ?2",
        [tenant.as_str(), client_id.as_str()],
        ClientRow::read,
    )?
    .map(ClientRow::into_record)
    .transpose()
}

/// The stored user, read on the writer (the guard of a conditional write).
fn stored_user(conn: &Connection, tenant: &TenantId, user_id: &UserId) -> Result<Option<User>> {
    query_one(
        conn,
        "SELECT tenant, id, username, display_name, email, email_verified, user_handle, created_at, \
         disabled_at \
         FROM users WHERE tenant = ?1 AND id = ?2",
        [tenant.as_str(), user_id.as_str()],
        UserRow::read,
    )?
    .map(UserRow::into_record)
    .transpose()
}

/// The stored credential, read on the writer (the guard of a conditional write).
fn stored_credential(
    conn: &Connection,
    tenant: &TenantId,
    credential_id: &[u8],
) -> Result<Option<Credential>> {
    query_one(
        conn,
        "SELECT tenant, credential_id, user_id, public_key, alg, sign_count, uv_initialized, \
         backup_eligible, backup_state, transports, aaguid, attestation_format, nickname, \
         created_at, last_used_at, attestation_trusted \
         FROM credentials WHERE tenant = ?1 AND credential_id = ?2",
        params![tenant.as_str(), credential_id],
        CredentialRow::read,
    )?
    .map(CredentialRow::into_record)
    .transpose()
}

fn affected_one(rows: usize) -> Result<()> {
    if rows == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

fn exists(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<bool> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.exists(params))
        .map_err(db)
}

fn insert_credential(conn: &Connection, credential: &Credential) -> Result<()> {
    let transports = to_json(&credential.transports)?;
    conn.prepare_cached(
        "INSERT INTO credentials (tenant, credential_id, user_id, public_key, alg, sign_count, uv_initialized, \
         backup_eligible, backup_state, transports, aaguid, attestation_format, nickname, created_at, last_used_at, \
         attestation_trusted) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            credential.tenant.as_str(),
            credential.credential_id,
            credential.user_id.as_str(),
            credential.public_key,
            credential.alg,
            i64::from(credential.sign_count),
            credential.uv_initialized,
            credential.backup_eligible,
            credential.backup_state,
            transports,
            credential.aaguid.as_slice(),
            credential.attestation_format,
            credential.nickname,
            ts(credential.created_at),
            credential.last_used_at.map(ts),
            credential.attestation_trusted,
        ])
    })
    .map_err(db)?;
    // At most once per RP ID, across the tenants sharing it: the primary key refuses a second registration.
    execute(
        conn,
        "INSERT INTO credential_rp_ids (rp_id, credential_id, tenant) \
         SELECT rp_id, ?2, ?1 FROM tenants WHERE id = ?1",
        params![credential.tenant.as_str(), credential.credential_id],
    )?;
    Ok(())
}

/// The passkey columns of a grant's row as parameters: `credential_id`, `granted_at` (both `NULL` without one).
fn passkey_params(passkey: Option<&GrantPasskey>) -> (Option<&[u8]>, Option<i64>) {
    passkey.map_or((None, None), |p| {
        (Some(p.credential_id.as_slice()), Some(ts(p.granted_at)))
    })
}

/// Inserts an access token of the grant issued from `passkey` unless its grant was revoked (also through the
/// passkey); `false` if it was.
fn insert_access_token(
    conn: &Connection,
    token: &AccessToken,
    passkey: Option<&GrantPasskey>,
) -> Result<bool> {
    let (credential_id, granted_at) = passkey_params(passkey);
    let inserted = execute(
        conn,
        "INSERT INTO access_tokens (tenant, token_hash, client_id, grant_id, user_id, scope, payload, \
         expires_at, credential_id, granted_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 \
         WHERE NOT EXISTS (SELECT 1 FROM revoked_grants WHERE tenant = ?1 AND grant_id = ?4) \
         AND NOT EXISTS (SELECT 1 FROM revoked_passkeys \
           WHERE tenant = ?1 AND credential_id = ?9 AND revoked_at >= ?10)",
        params![
            token.tenant.as_str(),
            token.token_hash,
            token.client_id.as_str(),
            token.grant_id,
            token.user_id.as_str(),
            token.scope,
            token.payload,
            ts(token.expires_at),
            credential_id,
            granted_at,
        ],
    )?;
    Ok(inserted > 0)
}

/// Inserts a refresh token of the grant issued from `passkey` unless its grant was revoked (also through the
/// passkey); returns whether it was inserted.
fn insert_refresh_token(
    conn: &Connection,
    token: &RefreshToken,
    passkey: Option<&GrantPasskey>,
) -> Result<bool> {
    let (credential_id, granted_at) = passkey_params(passkey);
    let inserted = execute(
        conn,
        "INSERT INTO refresh_tokens (tenant, token_hash, client_id, grant_id, user_id, scope, payload, \
         expires_at, credential_id, granted_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 \
         WHERE NOT EXISTS (SELECT 1 FROM revoked_grants WHERE tenant = ?1 AND grant_id = ?4) \
         AND NOT EXISTS (SELECT 1 FROM revoked_passkeys \
           WHERE tenant = ?1 AND credential_id = ?9 AND revoked_at >= ?10)",
        params![
            token.tenant.as_str(),
            token.token_hash,
            token.client_id.as_str(),
            token.grant_id,
            token.user_id.as_str(),
            token.scope,
            token.payload,
            ts(token.expires_at),
            credential_id,
            granted_at,
        ],
    )?;
    Ok(inserted > 0)
}

/// A live access token (`?1` tenant, `?2` hash, `?3` now), unless its passkey was revoked at or after its grant.
pub(crate) const ACCESS_TOKEN_GET: &str = "SELECT tenant, token_hash, client_id, grant_id, user_id, scope, payload, \
     expires_at, credential_id, granted_at FROM access_tokens t \
     WHERE tenant = ?1 AND token_hash = ?2 AND expires_at > ?3 AND NOT EXISTS \
     (SELECT 1 FROM revoked_passkeys r WHERE r.tenant = ?1 AND r.credential_id = t.credential_id \
      AND r.revoked_at >= t.granted_at)";

/// Records that a passkey was revoked at `?3` (`?1` tenant, `?2` credential id): every code and token of a grant
/// issued from it until then is refused. A later revocation moves the time forward.
const REVOKE_PASSKEY: &str = "INSERT INTO revoked_passkeys (tenant, credential_id, revoked_at) VALUES (?1, ?2, ?3) \
     ON CONFLICT (tenant, credential_id) DO UPDATE SET revoked_at = max(revoked_at, excluded.revoked_at)";

/// The conditional counter update of a sign-in, made only when the bump follows the sign-count rule
/// ([`SignCountBump::moves_forward`]) and the stored counter is still the one the caller read.
fn bump_in(conn: &Connection, tenant: &TenantId, bump: &SignCountBump) -> Result<SignCountUpdate> {
    if bump.moves_forward() {
        let updated = execute(
            conn,
            "UPDATE credentials SET sign_count = ?4, backup_state = ?5, last_used_at = ?6 \
             WHERE tenant = ?1 AND credential_id = ?2 AND sign_count = ?3",
            params![
                tenant.as_str(),
                bump.credential_id,
                i64::from(bump.expected_old),
                i64::from(bump.new),
                bump.backup_state,
                ts(bump.used_at)
            ],
        )?;
        if updated > 0 {
            return Ok(SignCountUpdate::Updated);
        }
    }
    let known = exists(
        conn,
        "SELECT 1 FROM credentials WHERE tenant = ?1 AND credential_id = ?2",
        params![tenant.as_str(), bump.credential_id],
    )?;
    if known {
        Ok(SignCountUpdate::Regressed)
    } else {
        Err(StoreError::NotFound)
    }
}

fn insert_signing_key(conn: &Connection, key: &SigningKey, jwk: &str) -> Result<()> {
    execute(
        conn,
        "INSERT INTO signing_keys (tenant, kid, alg, private_key_encrypted, public_jwk, created_at, \
         retired_at, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            key.tenant.as_str(),
            key.kid,
            key.alg,
            key.private_key_encrypted,
            jwk,
            ts(key.created_at),
            key.retired_at.map(ts),
            key.status.as_str(),
        ],
    )?;
    Ok(())
}

/// Ends a user's sessions and revokes their grants at `now` (every passkey of theirs is marked revoked, and the grants
/// of their access and refresh tokens are revoked, their rows deleted): a deleted or disabled user keeps nothing they
/// signed in for.
fn end_what_the_user_had(
    conn: &Connection,
    tenant: &TenantId,
    user_id: &UserId,
    now: OffsetDateTime,
) -> Result<()> {
    for revoke in [
        "INSERT INTO revoked_passkeys (tenant, credential_id, revoked_at) SELECT tenant, credential_id, ?3 \
         FROM credentials WHERE tenant = ?1 AND user_id = ?2 \
         ON CONFLICT (tenant, credential_id) DO UPDATE SET revoked_at = max(revoked_at, excluded.revoked_at)",
        "INSERT OR IGNORE INTO revoked_grants (tenant, grant_id, revoked_at) SELECT DISTINCT tenant, \
         grant_id, ?3 FROM access_tokens WHERE tenant = ?1 AND user_id = ?2",
        "INSERT OR IGNORE INTO revoked_grants (tenant, grant_id, revoked_at) SELECT DISTINCT tenant, \
         grant_id, ?3 FROM refresh_tokens WHERE tenant = ?1 AND user_id = ?2",
    ] {
        execute(
            conn,
            revoke,
            params![tenant.as_str(), user_id.as_str(), ts(now)],
        )?;
    }
    for sql in [
        "DELETE FROM access_tokens WHERE tenant = ?1 AND user_id = ?2",
        "DELETE FROM refresh_tokens WHERE tenant = ?1 AND user_id = ?2",
        "DELETE FROM sessions WHERE (tenant, id_hash) IN \
         (SELECT tenant, id_hash FROM sessions WHERE tenant = ?1 AND user_id = ?2)",
    ] {
        execute(conn, sql, params![tenant.as_str(), user_id.as_str()])?;
    }
    Ok(())
}

/// After a credential of `user_id` was deleted: deletes the sessions signed in with it (found through the user's,
/// `sessions_by_user`; the delete names the rows by their key from a subquery on the index, as SQLite plans a
/// `DELETE ... WHERE` on these clustered tables as a scan of the tenant's rows) and marks the passkey revoked at
/// `now`, which revokes the grants issued from it: their codes and tokens are refused when used.
fn end_what_the_credential_gave(
    conn: &Connection,
    tenant: &TenantId,
    user_id: &UserId,
    credential_id: &[u8],
    now: OffsetDateTime,
) -> Result<()> {
    execute(
        conn,
        CREDENTIAL_SESSIONS_DELETE,
        params![tenant.as_str(), user_id.as_str(), credential_id],
    )?;
    execute(
        conn,
        REVOKE_PASSKEY,
        params![tenant.as_str(), credential_id, ts(now)],
    )?;
    Ok(())
}

/// The sessions signed in with a passkey (`?1` tenant, `?2` user, `?3` credential).
pub(crate) const CREDENTIAL_SESSIONS_DELETE: &str = "DELETE FROM sessions WHERE (tenant, id_hash) IN \
     (SELECT tenant, id_hash FROM sessions WHERE tenant = ?1 AND user_id = ?2 AND credential_id = ?3)";

fn delete_session_row(conn: &Connection, tenant: &TenantId, id_hash: &[u8]) -> Result<()> {
    execute(
        conn,
        "DELETE FROM sessions WHERE tenant = ?1 AND id_hash = ?2",
        params![tenant.as_str(), id_hash],
    )?;
    Ok(())
}

fn insert_session(conn: &Connection, session: &Session) -> Result<()> {
    execute(
        conn,
        "INSERT INTO sessions (tenant, id_hash, sid, user_id, auth_time, user_verified, \
         backup_eligible, attestation_trusted, expires_at, credential_id, last_seen_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            session.tenant.as_str(),
            session.id_hash,
            session.sid,
            session.user_id.as_str(),
            ts(session.auth_time),
            session.user_verified,
            session.backup_eligible,
            session.attestation_trusted,
            ts(session.expires_at),
            session.credential_id,
            ts(session.last_seen_at),
        ],
    )?;
    Ok(())
}

fn insert_auth_code(conn: &Connection, code: &AuthCode) -> Result<()> {
    execute(
        conn,
        "INSERT INTO auth_codes (tenant, code_hash, client_id, grant_id, payload, expires_at, credential_id, \
         granted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            code.tenant.as_str(),
            code.code_hash,
            code.client_id.as_str(),
            code.grant_id,
            code.payload,
            ts(code.expires_at),
            passkey_params(code.passkey.as_ref()).0,
            passkey_params(code.passkey.as_ref()).1,
        ],
    )
    .map(drop)
}

/// A provider code row with its grant's passkey (`credential_id`, `granted_at` after the code's columns).
fn read_code(row: &rusqlite::Row<'_>) -> rusqlite::Result<(AuthCodeRow, PasskeyCols)> {
    Ok((AuthCodeRow::read(row)?, passkey_at(row, 6)?))
}

fn code_record((row, passkey): (AuthCodeRow, PasskeyCols)) -> Result<AuthCode> {
    Ok(AuthCode {
        passkey: passkey.into_passkey()?,
        ..row.into_record()?
    })
}

/// A provider token row with its grant's passkey (`credential_id`, `granted_at` after the token's columns).
fn read_token(row: &rusqlite::Row<'_>) -> rusqlite::Result<(TokenRow, PasskeyCols)> {
    Ok((TokenRow::read(row)?, passkey_at(row, 8)?))
}

fn refresh_record((row, passkey): (TokenRow, PasskeyCols)) -> Result<RefreshToken> {
    Ok(RefreshToken {
        passkey: passkey.into_passkey()?,
        ..row.into_refresh()?
    })
}

/// Runs one statement and returns how many rows it changed.
fn execute(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute(params))
        .map_err(db)
}

/// Runs one query expected to return at most one row.
fn query_one<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_row(params, read).optional())
        .map_err(db)
}

/// `text` with the `LIKE` wildcards and the escape character escaped (with `\`).
fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Runs one query returning any number of rows.
fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_map(params, read)?.collect())
        .map_err(db)
}

/// What a deleted client was issued, deleted with it.
const CLIENT_GRANTS_DELETE: [&str; 3] = [
    "DELETE FROM auth_codes WHERE tenant = ?1 AND client_id = ?2",
    "DELETE FROM access_tokens WHERE tenant = ?1 AND client_id = ?2",
    "DELETE FROM refresh_tokens WHERE tenant = ?1 AND client_id = ?2",
];

/// Everything of a tenant but its row, deleted with it (`?1` is the tenant); passkeys before their users.
const TENANT_DELETE: [&str; 11] = [
    "DELETE FROM credential_rp_ids WHERE tenant = ?1",
    "DELETE FROM credentials WHERE tenant = ?1",
    "DELETE FROM revoked_passkeys WHERE tenant = ?1",
    "DELETE FROM sessions WHERE tenant = ?1",
    "DELETE FROM auth_codes WHERE tenant = ?1",
    "DELETE FROM access_tokens WHERE tenant = ?1",
    "DELETE FROM refresh_tokens WHERE tenant = ?1",
    "DELETE FROM revoked_grants WHERE tenant = ?1",
    "DELETE FROM users WHERE tenant = ?1",
    "DELETE FROM clients WHERE tenant = ?1",
    "DELETE FROM signing_keys WHERE tenant = ?1",
];

#[async_trait]
impl TenantStore for SqliteStore {
    async fn create_tenant_with_keys(&self, tenant: &Tenant, keys: &[SigningKey]) -> Result<()> {
        if keys.iter().any(|key| key.tenant != tenant.id) {
            return Err(StoreError::Conflict);
        }
        let (origins, policy) = (to_json(&tenant.origins)?, to_json(&tenant.policy)?);
        let settings = to_json(&tenant.settings)?;
        let jwks = keys
            .iter()
            .map(|key| to_json(&key.public_jwk))
            .collect::<Result<Vec<_>>>()?;
        self.conns
            .write(|conn| {
                // The store runs every write in its own savepoint: an error undoes all of it.
                execute(
                    conn,
                    "INSERT INTO tenants (id, display_name, rp_id, origins, policy, created_at, revision, \
                     settings) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        tenant.id.as_str(),
                        tenant.display_name,
                        tenant.rp_id,
                        origins,
                        policy,
                        ts(tenant.created_at),
                        revision_column(Tenant::FIRST_REVISION),
                        settings,
                    ],
                )?;
                for (key, jwk) in keys.iter().zip(&jwks) {
                    insert_signing_key(conn, key, jwk)?;
                }
                Ok(())
            })
            .await
    }

    async fn get_tenant(&self, tenant: &TenantId) -> Result<Option<Tenant>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT id, display_name, rp_id, origins, policy, created_at, revision, settings \
                     FROM tenants WHERE id = ?1",
                    [tenant.as_str()],
                    TenantRow::read,
                )
            })
            .await?
            .map(TenantRow::into_record)
            .transpose()
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        self.conns
            .read(|conn| {
                query_all(
                    conn,
                    "SELECT id, display_name, rp_id, origins, policy, created_at, revision, settings \
                     FROM tenants ORDER BY id",
                    [],
                    TenantRow::read,
                )
            })
            .await?
            .into_iter()
            .map(TenantRow::into_record)
            .collect()
    }

    async fn update_tenant(&self, tenant: &Tenant) -> Result<u64> {
        let (origins, policy) = (to_json(&tenant.origins)?, to_json(&tenant.policy)?);
        let settings = to_json(&tenant.settings)?;
        self.conns
            .write(|conn| {
                let updated: Option<i64> = query_one(
                    conn,
                    "UPDATE tenants SET display_name = ?2, rp_id = ?3, origins = ?4, policy = ?5, \
                     settings = ?7, revision = revision + 1 WHERE id = ?1 AND revision = ?6 RETURNING revision",
                    params![
                        tenant.id.as_str(),
                        tenant.display_name,
                        tenant.rp_id,
                        origins,
                        policy,
                        revision_column(tenant.revision),
                        settings,
                    ],
                    |row| row.get(0),
                )?;
                if let Some(updated_revision) = updated {
                    return revision(updated_revision);
                }
                let known = exists(
                    conn,
                    "SELECT 1 FROM tenants WHERE id = ?1",
                    [tenant.id.as_str()],
                )?;
                Err(if known {
                    StoreError::Conflict
                } else {
                    StoreError::NotFound
                })
            })
            .await
    }

    async fn delete_tenant(
        &self,
        tenant: &TenantId,
        force: bool,
    ) -> Result<TenantDeletion<TenantContents>> {
        self.conns
            .write(|conn| {
                let counts: Option<(i64, i64)> = query_one(
                    conn,
                    "SELECT (SELECT COUNT(*) FROM clients WHERE tenant = ?1), \
                            (SELECT COUNT(*) FROM users WHERE tenant = ?1) \
                     FROM tenants WHERE id = ?1",
                    [tenant.as_str()],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )?;
                let Some((clients, users)) = counts else {
                    return Err(StoreError::NotFound);
                };
                let contents = TenantContents {
                    clients: u64::try_from(clients).unwrap_or(0),
                    users: u64::try_from(users).unwrap_or(0),
                };
                if !force && !contents.is_empty() {
                    return Ok(TenantDeletion::NotEmpty(contents));
                }
                for sql in TENANT_DELETE {
                    execute(conn, sql, [tenant.as_str()])?;
                }
                execute(conn, "DELETE FROM tenants WHERE id = ?1", [tenant.as_str()])?;
                Ok(TenantDeletion::Deleted(contents))
            })
            .await
    }

    async fn create_client(&self, client: &Client) -> Result<()> {
        let redirect_uris = to_json(&client.redirect_uris)?;
        let post_logout = to_json(&client.post_logout_redirect_uris)?;
        let jwks = client.jwks.as_ref().map(to_json).transpose()?;
        let scopes = to_json(&client.allowed_scopes)?;
        self.conns
            .write(|conn| {
                execute(
                    conn,
                    "INSERT INTO clients (tenant, client_id, display_name, secret_hash, redirect_uris, \
                     post_logout_redirect_uris, token_endpoint_auth_method, id_token_signed_response_alg, jwks, \
                     allowed_scopes, created_at, display_name_folded) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    params![
                        client.tenant.as_str(),
                        client.client_id.as_str(),
                        client.display_name,
                        client.secret_hash,
                        redirect_uris,
                        post_logout,
                        client.token_endpoint_auth_method,
                        client.id_token_signed_response_alg,
                        jwks,
                        scopes,
                        ts(client.created_at),
                        fold_display_name(&client.display_name),
                    ],
                )
            })
            .await?;
        Ok(())
    }

    async fn get_client(&self, tenant: &TenantId, client_id: &ClientId) -> Result<Option<Client>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT tenant, client_id, display_name, secret_hash, redirect_uris, \
                     post_logout_redirect_uris, token_endpoint_auth_method, id_token_signed_response_alg, jwks, \
                     allowed_scopes, created_at \
                     FROM clients WHERE tenant = ?1 AND client_id = ?2",
                    [tenant.as_str(), client_id.as_str()],
                    ClientRow::read,
                )
            })
            .await?
            .map(ClientRow::into_record)
            .transpose()
    }

    async fn list_clients(&self, tenant: &TenantId) -> Result<Vec<Client>> {
        self.conns
            .read(|conn| {
                query_all(
                    conn,
                    "SELECT tenant, client_id, display_name, secret_hash, redirect_uris, \
                     post_logout_redirect_uris, token_endpoint_auth_method, id_token_signed_response_alg, jwks, \
                     allowed_scopes, created_at \
                     FROM clients WHERE tenant = ?1 ORDER BY client_id",
                    [tenant.as_str()],
                    ClientRow::read,
                )
            })
            .await?
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
        let after = after.map(|a| a.as_str().to_owned()).unwrap_or_default();
        let (id_pattern, name_pattern, public) =
            tessera_store::filters::client_filter_binds(filter);
        self.conns
            .read(|conn| {
                query_all(
                    conn,
                    "SELECT tenant, client_id, display_name, secret_hash, redirect_uris, \
                     post_logout_redirect_uris, token_endpoint_auth_method, id_token_signed_response_alg, jwks, \
                     allowed_scopes, created_at \
                     FROM clients WHERE tenant = ?1 AND client_id > ?2 \
                     AND (lower(client_id) LIKE ?4 ESCAPE '\\' OR display_name_folded LIKE ?5 ESCAPE '\\') \
                     AND (?6 IS NULL OR (token_endpoint_auth_method = 'none') = ?6) \
                     ORDER BY client_id LIMIT ?3",
                    params![
                        tenant.as_str(),
                        after,
                        i64::from(limit),
                        id_pattern,
                        name_pattern,
                        public
                    ],
                    ClientRow::read,
                )
            })
            .await?
            .into_iter()
            .map(ClientRow::into_record)
            .collect()
    }

    async fn update_client(&self, client: &Client, expected: Option<&Client>) -> Result<()> {
        let redirect_uris = to_json(&client.redirect_uris)?;
        let post_logout = to_json(&client.post_logout_redirect_uris)?;
        let changed = self
            .conns
            .write(|conn| {
                // On the single writer: the check and the update see the same row.
                if expected.is_some() {
                    let current = stored_client(conn, &client.tenant, &client.client_id)?;
                    check_expected(current.as_ref(), expected, PartialEq::eq)?;
                }
                execute(
                    conn,
                    "UPDATE clients SET display_name = ?3, redirect_uris = ?4, post_logout_redirect_uris = ?5, \
                     display_name_folded = ?6 WHERE tenant = ?1 AND client_id = ?2",
                    params![
                        client.tenant.as_str(),
                        client.client_id.as_str(),
                        client.display_name,
                        redirect_uris,
                        post_logout,
                        fold_display_name(&client.display_name),
                    ],
                )
            })
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn replace_client_secret(
        &self,
        tenant: &TenantId,
        client_id: &ClientId,
        secret_hash: &[u8],
    ) -> Result<()> {
        let hash = secret_hash.to_vec();
        let changed = self
            .conns
            .write(|conn| {
                execute(
                    conn,
                    "UPDATE clients SET secret_hash = ?3 \
                     WHERE tenant = ?1 AND client_id = ?2 AND secret_hash IS NOT NULL",
                    params![tenant.as_str(), client_id.as_str(), hash],
                )
            })
            .await?;
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
        let key = [tenant.as_str(), client_id.as_str()];
        self.conns
            .write(|conn| {
                if expected.is_some() {
                    let current = stored_client(conn, tenant, client_id)?;
                    check_expected(current.as_ref(), expected, PartialEq::eq)?;
                }
                // The store runs every write in its own savepoint: an error undoes all of it.
                let deleted = execute(
                    conn,
                    "DELETE FROM clients WHERE tenant = ?1 AND client_id = ?2",
                    key,
                )?;
                if deleted == 0 {
                    return Err(StoreError::NotFound);
                }
                for sql in CLIENT_GRANTS_DELETE {
                    execute(conn, sql, key)?;
                }
                Ok(())
            })
            .await
    }

    async fn put_signing_key(&self, key: &SigningKey) -> Result<()> {
        let jwk = to_json(&key.public_jwk)?;
        self.conns
            .write(|conn| insert_signing_key(conn, key, &jwk))
            .await
    }

    async fn list_signing_keys(&self, tenant: &TenantId) -> Result<Vec<SigningKey>> {
        self.conns
            .read(|conn| {
                query_all(
                    conn,
                    "SELECT tenant, kid, alg, private_key_encrypted, public_jwk, created_at, retired_at, \
                     status \
                     FROM signing_keys WHERE tenant = ?1 ORDER BY created_at, kid",
                    [tenant.as_str()],
                    SigningKeyRow::read,
                )
            })
            .await?
            .into_iter()
            .map(SigningKeyRow::into_record)
            .collect()
    }

    async fn activate_signing_key(&self, tenant: &TenantId, kid: &str) -> Result<()> {
        self.conns
            .write(|conn| {
                let changed = execute(
                    conn,
                    "UPDATE signing_keys SET status = 'active' WHERE tenant = ?1 AND kid = ?2 AND status <> 'retired'",
                    [tenant.as_str(), kid],
                )?;
                if changed > 0 {
                    return Ok(());
                }
                let known = exists(
                    conn,
                    "SELECT 1 FROM signing_keys WHERE tenant = ?1 AND kid = ?2",
                    [tenant.as_str(), kid],
                )?;
                Err(if known { StoreError::Conflict } else { StoreError::NotFound })
            })
            .await
    }

    async fn retire_signing_key(
        &self,
        tenant: &TenantId,
        kid: &str,
        at: OffsetDateTime,
    ) -> Result<()> {
        let changed = self
            .conns
            .write(|conn| {
                execute(
                    conn,
                    "UPDATE signing_keys SET status = 'retired', retired_at = COALESCE(retired_at, ?3) \
                     WHERE tenant = ?1 AND kid = ?2",
                    params![tenant.as_str(), kid, ts(at)],
                )
            })
            .await?;
        affected_one(changed)
    }

    async fn delete_retired_signing_keys(
        &self,
        tenant: &TenantId,
        retired_before: OffsetDateTime,
    ) -> Result<u64> {
        let deleted = self
            .conns
            .write(|conn| {
                execute(
                    conn,
                    "DELETE FROM signing_keys WHERE tenant = ?1 AND status = 'retired' AND retired_at < ?2",
                    params![tenant.as_str(), ts(retired_before)],
                )
            })
            .await?;
        Ok(deleted as u64)
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user_with_credential(
        &self,
        user: &User,
        credential: &Credential,
    ) -> Result<()> {
        if credential.user_id != user.id || credential.tenant != user.tenant {
            return Err(StoreError::Conflict);
        }
        self.conns
            .write(|conn| {
                // The store runs every write in its own savepoint: an error undoes all of it.
                execute(
                    conn,
                    "INSERT INTO users (tenant, id, username, username_folded, display_name, email, \
                     email_verified, user_handle, created_at, display_name_folded) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        user.tenant.as_str(),
                        user.id.as_str(),
                        user.username,
                        fold_username(&user.username),
                        user.display_name,
                        user.email,
                        user.email_verified,
                        user.user_handle,
                        ts(user.created_at),
                        fold_display_name(&user.display_name),
                    ],
                )?;
                insert_credential(conn, credential)?;
                Ok(())
            })
            .await
    }

    async fn get_user(&self, tenant: &TenantId, user_id: &UserId) -> Result<Option<User>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT tenant, id, username, display_name, email, email_verified, user_handle, created_at, \
                     disabled_at \
                     FROM users WHERE tenant = ?1 AND id = ?2",
                    [tenant.as_str(), user_id.as_str()],
                    UserRow::read,
                )
            })
            .await?
            .map(UserRow::into_record)
            .transpose()
    }

    async fn find_user_by_username(
        &self,
        tenant: &TenantId,
        username: &str,
    ) -> Result<Option<User>> {
        let folded = fold_username(username);
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT tenant, id, username, display_name, email, email_verified, user_handle, created_at, \
                     disabled_at \
                     FROM users WHERE tenant = ?1 AND username_folded = ?2",
                    [tenant.as_str(), folded.as_str()],
                    UserRow::read,
                )
            })
            .await?
            .map(UserRow::into_record)
            .transpose()
    }

    async fn add_credential(&self, credential: &Credential) -> Result<()> {
        self.conns
            .write(|conn| insert_credential(conn, credential))
            .await
    }

    async fn get_credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
    ) -> Result<Option<Credential>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT tenant, credential_id, user_id, public_key, alg, sign_count, uv_initialized, \
                     backup_eligible, backup_state, transports, aaguid, attestation_format, nickname, \
                     created_at, last_used_at, attestation_trusted \
                     FROM credentials WHERE tenant = ?1 AND credential_id = ?2",
                    params![tenant.as_str(), credential_id],
                    CredentialRow::read,
                )
            })
            .await?
            .map(CredentialRow::into_record)
            .transpose()
    }

    async fn list_credentials(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
    ) -> Result<Vec<Credential>> {
        self.conns
            .read(|conn| {
                query_all(
                    conn,
                    "SELECT tenant, credential_id, user_id, public_key, alg, sign_count, uv_initialized, \
                     backup_eligible, backup_state, transports, aaguid, attestation_format, nickname, \
                     created_at, last_used_at, attestation_trusted \
                     FROM credentials WHERE tenant = ?1 AND user_id = ?2 ORDER BY created_at, credential_id",
                    [tenant.as_str(), user_id.as_str()],
                    CredentialRow::read,
                )
            })
            .await?
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
        let changed = self
            .conns
            .write(|conn| {
                if expected.is_some() {
                    let current = stored_credential(conn, tenant, credential_id)?
                        .filter(|c| &c.user_id == user_id);
                    check_expected(current.as_ref(), expected, PartialEq::eq)?;
                }
                execute(
                    conn,
                    "UPDATE credentials SET nickname = ?4 WHERE tenant = ?1 AND user_id = ?2 AND credential_id = ?3",
                    params![tenant.as_str(), user_id.as_str(), credential_id, nickname],
                )
            })
            .await?;
        affected_one(changed)
    }

    async fn search_users(
        &self,
        tenant: &TenantId,
        prefix: &str,
        status: Option<AccountStatus>,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<Vec<User>> {
        let disabled = tessera_store::filters::status_bind(status);
        let pattern = format!("{}%", like_escape(&fold_username(prefix)));
        let display_pattern = format!("{}%", like_escape(&fold_display_name(prefix)));
        let after = after.map(|a| a.as_str().to_owned()).unwrap_or_default();
        self.conns
            .read(|conn| {
                query_all(
                    conn,
                    "SELECT tenant, id, username, display_name, email, email_verified, user_handle, created_at, \
                     disabled_at \
                     FROM users WHERE tenant = ?1 \
                     AND (username_folded LIKE ?2 ESCAPE '\\' OR display_name_folded LIKE ?5 ESCAPE '\\') \
                     AND (?6 IS NULL OR (disabled_at IS NOT NULL) = ?6) \
                     AND id > ?3 ORDER BY id LIMIT ?4",
                    params![
                        tenant.as_str(),
                        pattern,
                        after,
                        i64::from(limit),
                        display_pattern,
                        disabled
                    ],
                    UserRow::read,
                )
            })
            .await?
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
        self.conns
            .write(|conn| {
                let key = params![tenant.as_str(), user_id.as_str()];
                if expected.is_some() {
                    let current = stored_user(conn, tenant, user_id)?;
                    check_expected(current.as_ref(), expected, PartialEq::eq)?;
                }
                if !exists(
                    conn,
                    "SELECT 1 FROM users WHERE tenant = ?1 AND id = ?2",
                    key,
                )? {
                    return Err(StoreError::NotFound);
                }
                end_what_the_user_had(conn, tenant, user_id, now)?;
                for sql in [
                    "DELETE FROM credential_rp_ids WHERE tenant = ?1 AND credential_id IN \
                     (SELECT credential_id FROM credentials WHERE tenant = ?1 AND user_id = ?2)",
                    "DELETE FROM credentials WHERE tenant = ?1 AND user_id = ?2",
                    "DELETE FROM users WHERE tenant = ?1 AND id = ?2",
                ] {
                    execute(conn, sql, key)?;
                }
                Ok(())
            })
            .await
    }

    async fn set_user_disabled(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
        disabled_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
        expected: Option<&User>,
    ) -> Result<()> {
        self.conns
            .write(|conn| {
                if expected.is_some() {
                    let current = stored_user(conn, tenant, user_id)?;
                    check_expected(current.as_ref(), expected, PartialEq::eq)?;
                }
                let changed = execute(
                    conn,
                    "UPDATE users SET disabled_at = ?3 WHERE tenant = ?1 AND id = ?2",
                    params![tenant.as_str(), user_id.as_str(), disabled_at.map(ts)],
                )?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                if disabled_at.is_some() {
                    end_what_the_user_had(conn, tenant, user_id, now)?;
                }
                Ok(())
            })
            .await
    }

    async fn delete_credential(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
        credential_id: &[u8],
        now: OffsetDateTime,
        expected: Option<&Credential>,
    ) -> Result<()> {
        self.conns
            .write(|conn| {
                if expected.is_some() {
                    let current = stored_credential(conn, tenant, credential_id)?
                        .filter(|c| &c.user_id == user_id);
                    check_expected(current.as_ref(), expected, PartialEq::eq)?;
                }
                // One statement on the single writer: the count and the delete see the same state.
                let deleted = execute(
                    conn,
                    "DELETE FROM credentials WHERE tenant = ?1 AND user_id = ?2 AND credential_id = ?3 \
                     AND (SELECT COUNT(*) FROM credentials WHERE tenant = ?1 AND user_id = ?2) > 1",
                    params![tenant.as_str(), user_id.as_str(), credential_id],
                )?;
                if deleted > 0 {
                    return end_what_the_credential_gave(conn, tenant, user_id, credential_id, now);
                }
                let owned = exists(
                    conn,
                    "SELECT 1 FROM credentials WHERE tenant = ?1 AND user_id = ?2 AND credential_id = ?3",
                    params![tenant.as_str(), user_id.as_str(), credential_id],
                )?;
                Err(if owned { StoreError::Conflict } else { StoreError::NotFound })
            })
            .await
    }
}

#[async_trait]
impl GrantStore for SqliteStore {
    async fn record_sign_in(
        &self,
        bump: &SignCountBump,
        on_regression: SignCountRegression,
        replaces: Option<&[u8]>,
        session: &Session,
    ) -> Result<SignCountUpdate> {
        self.conns
            .write(|conn| {
                let update = bump_in(conn, &session.tenant, bump)?;
                if update == SignCountUpdate::Regressed
                    && on_regression == SignCountRegression::Refuse
                {
                    return Ok(update);
                }
                if let Some(previous) = replaces {
                    delete_session_row(conn, &session.tenant, previous)?;
                }
                insert_session(conn, session)?;
                Ok(update)
            })
            .await
    }

    async fn put_auth_code(&self, code: &AuthCode) -> Result<()> {
        self.conns.write(|conn| insert_auth_code(conn, code)).await
    }

    async fn consume_auth_code(
        &self,
        tenant: &TenantId,
        code_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<CodeRedemption> {
        let (redeemed, spent) = self
            .conns
            .write(|conn| {
                let redeemed = query_one(
                    conn,
                    "UPDATE auth_codes SET redeemed_at = ?3 \
                     WHERE tenant = ?1 AND code_hash = ?2 AND redeemed_at IS NULL AND expires_at > ?3 \
                     RETURNING tenant, code_hash, client_id, grant_id, payload, expires_at, credential_id, \
                     granted_at",
                    params![tenant.as_str(), code_hash, ts(now)],
                    read_code,
                )?;
                if redeemed.is_some() {
                    return Ok((redeemed, None));
                }
                let spent: Option<String> = query_one(
                    conn,
                    "SELECT grant_id \
                     FROM auth_codes WHERE tenant = ?1 AND code_hash = ?2 AND redeemed_at IS NOT NULL",
                    params![tenant.as_str(), code_hash],
                    |row| row.get(0),
                )?;
                Ok((None, spent))
            })
            .await?;
        Ok(match (redeemed, spent) {
            (Some(row), _) => CodeRedemption::Redeemed(code_record(row)?),
            (None, Some(grant_id)) => CodeRedemption::AlreadyRedeemed { grant_id },
            (None, None) => CodeRedemption::NotFound,
        })
    }

    async fn peek_auth_code(
        &self,
        tenant: &TenantId,
        code_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<AuthCode>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT tenant, code_hash, client_id, grant_id, payload, expires_at, credential_id, granted_at \
                     FROM auth_codes \
                     WHERE tenant = ?1 AND code_hash = ?2 AND redeemed_at IS NULL AND expires_at > ?3",
                    params![tenant.as_str(), code_hash, ts(now)],
                    read_code,
                )
            })
            .await?
            .map(code_record)
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
        let (redeemed, spent) = self
            .conns
            .write(|conn| {
                let redeemed = query_one(
                    conn,
                    "UPDATE auth_codes SET redeemed_at = ?3 \
                     WHERE tenant = ?1 AND code_hash = ?2 AND redeemed_at IS NULL AND expires_at > ?3 \
                     RETURNING tenant, code_hash, client_id, grant_id, payload, expires_at, credential_id, \
                     granted_at",
                    params![tenant.as_str(), code_hash, ts(now)],
                    read_code,
                )?;
                if let Some(row) = redeemed {
                    let record = code_record(row)?;
                    let of_grant = |grant: &str| grant == record.grant_id;
                    // The tokens are of the code's grant, hence of its passkey.
                    let passkey = record.passkey.as_ref();
                    if !of_grant(&access.grant_id)
                        || refresh.is_some_and(|r| !of_grant(&r.grant_id))
                        || !insert_access_token(conn, access, passkey)?
                        || !refresh.map_or(Ok(true), |r| insert_refresh_token(conn, r, passkey))?
                    {
                        // Rolled back with the savepoint: the code stays as it was.
                        return Err(StoreError::Conflict);
                    }
                    return Ok((Some(record), None));
                }
                let spent: Option<String> = query_one(
                    conn,
                    "SELECT grant_id \
                     FROM auth_codes WHERE tenant = ?1 AND code_hash = ?2 AND redeemed_at IS NOT NULL",
                    params![tenant.as_str(), code_hash],
                    |row| row.get(0),
                )?;
                Ok((None, spent))
            })
            .await?;
        Ok(match (redeemed, spent) {
            (Some(record), _) => CodeRedemption::Redeemed(record),
            (None, Some(grant_id)) => CodeRedemption::AlreadyRedeemed { grant_id },
            (None, None) => CodeRedemption::NotFound,
        })
    }

    async fn put_access_token(&self, token: &AccessToken) -> Result<()> {
        let inserted = self
            .conns
            .write(|conn| insert_access_token(conn, token, token.passkey.as_ref()))
            .await?;
        if inserted {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    async fn get_access_token(
        &self,
        tenant: &TenantId,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<AccessToken>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    ACCESS_TOKEN_GET,
                    params![tenant.as_str(), token_hash, ts(now)],
                    read_token,
                )
            })
            .await?
            .map(|(row, passkey)| {
                Ok(AccessToken {
                    passkey: passkey.into_passkey()?,
                    ..row.into_access()?
                })
            })
            .transpose()
    }

    async fn put_refresh_token(&self, token: &RefreshToken) -> Result<()> {
        let inserted = self
            .conns
            .write(|conn| insert_refresh_token(conn, token, token.passkey.as_ref()))
            .await?;
        if inserted {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    async fn get_refresh_token(
        &self,
        tenant: &TenantId,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<RefreshToken>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT tenant, token_hash, client_id, grant_id, user_id, scope, payload, expires_at, \
                     credential_id, granted_at FROM refresh_tokens t \
                     WHERE tenant = ?1 AND token_hash = ?2 AND expires_at > ?3 AND NOT EXISTS \
                     (SELECT 1 FROM revoked_passkeys r WHERE r.tenant = ?1 AND r.credential_id = t.credential_id \
                      AND r.revoked_at >= t.granted_at)",
                    params![tenant.as_str(), token_hash, ts(now)],
                    read_token,
                )
            })
            .await?
            .map(refresh_record)
            .transpose()
    }

    async fn rotate_refresh_token(
        &self,
        tenant: &TenantId,
        old_hash: &[u8],
        new: &RefreshToken,
        now: OffsetDateTime,
    ) -> Result<RefreshRotation> {
        let (rotated, reused) = self
            .conns
            .write(|conn| {
                // The store runs every write in its own savepoint: an error undoes all of it.
                let spent = query_one(
                    conn,
                    "UPDATE refresh_tokens SET rotated_at = ?3 \
                     WHERE tenant = ?1 AND token_hash = ?2 AND rotated_at IS NULL AND expires_at > ?3 \
                     AND NOT EXISTS (SELECT 1 FROM revoked_passkeys r WHERE r.tenant = ?1 \
                       AND r.credential_id = refresh_tokens.credential_id \
                       AND r.revoked_at >= refresh_tokens.granted_at) \
                     RETURNING tenant, token_hash, client_id, grant_id, user_id, scope, payload, expires_at, \
                     credential_id, granted_at",
                    params![tenant.as_str(), old_hash, ts(now)],
                    read_token,
                )?;
                if let Some(old) = spent {
                    let old = refresh_record(old)?;
                    // The successor is of the same grant, hence of its passkey.
                    if !insert_refresh_token(conn, new, old.passkey.as_ref())? {
                        return Err(StoreError::Conflict);
                    }
                    return Ok((Some(old), None));
                }
                let reused: Option<String> = query_one(
                    conn,
                    "SELECT grant_id FROM refresh_tokens t \
                     WHERE tenant = ?1 AND token_hash = ?2 AND rotated_at IS NOT NULL AND NOT EXISTS \
                     (SELECT 1 FROM revoked_passkeys r WHERE r.tenant = ?1 AND r.credential_id = t.credential_id \
                      AND r.revoked_at >= t.granted_at)",
                    params![tenant.as_str(), old_hash],
                    |row| row.get(0),
                )?;
                Ok((None, reused))
            })
            .await?;
        Ok(match (rotated, reused) {
            (Some(old), _) => RefreshRotation::Rotated(old),
            (None, Some(grant_id)) => RefreshRotation::Reused { grant_id },
            (None, None) => RefreshRotation::NotFound,
        })
    }

    async fn revoke_grant(
        &self,
        tenant: &TenantId,
        grant_id: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        let key = [tenant.as_str(), grant_id];
        self.conns
            .write(|conn| {
                // The store runs every write in its own savepoint: an error undoes all of it.
                execute(
                    conn,
                    "INSERT OR IGNORE INTO revoked_grants (tenant, grant_id, revoked_at) VALUES (?1, ?2, ?3)",
                    params![tenant.as_str(), grant_id, ts(now)],
                )?;
                execute(conn, "DELETE FROM access_tokens WHERE tenant = ?1 AND grant_id = ?2", key)?;
                execute(conn, "DELETE FROM refresh_tokens WHERE tenant = ?1 AND grant_id = ?2", key)?;
                Ok(())
            })
            .await
    }

    async fn touch_session(
        &self,
        tenant: &TenantId,
        id_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<()> {
        self.conns
            .write(|conn| {
                execute(
                    conn,
                    "UPDATE sessions SET last_seen_at = ?3 WHERE tenant = ?1 AND id_hash = ?2",
                    params![tenant.as_str(), id_hash, ts(now)],
                )
                .map(drop)
            })
            .await
    }

    async fn create_session(&self, session: &Session) -> Result<()> {
        self.conns.write(|conn| insert_session(conn, session)).await
    }

    async fn get_session(
        &self,
        tenant: &TenantId,
        id_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<Session>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT tenant, id_hash, sid, user_id, auth_time, user_verified, backup_eligible, \
                     attestation_trusted, credential_id, last_seen_at, expires_at \
                     FROM sessions WHERE tenant = ?1 AND id_hash = ?2 AND expires_at > ?3",
                    params![tenant.as_str(), id_hash, ts(now)],
                    SessionRow::read,
                )
            })
            .await?
            .map(SessionRow::into_record)
            .transpose()
    }

    async fn delete_session(&self, tenant: &TenantId, id_hash: &[u8]) -> Result<()> {
        self.conns
            .write(|conn| delete_session_row(conn, tenant, id_hash))
            .await
    }

    async fn delete_session_by_sid(
        &self,
        tenant: &TenantId,
        user_id: &UserId,
        sid: &str,
    ) -> Result<bool> {
        let deleted = self
            .conns
            .write(|conn| {
                execute(
                    conn,
                    "DELETE FROM sessions WHERE tenant = ?1 AND sid = ?2 AND user_id = ?3",
                    [tenant.as_str(), sid, user_id.as_str()],
                )
            })
            .await?;
        Ok(deleted > 0)
    }

    async fn purge_expired(&self, now: OffsetDateTime, batch: u32) -> Result<u64> {
        let now_ts = ts(now);
        let codes_before = ts(now - REDEEMED_CODE_RETENTION);
        let grants_before = ts(now - REVOKED_GRANT_RETENTION);
        let passkeys_before = ts(now - REVOKED_PASSKEY_RETENTION);
        let batch = i64::from(batch);
        let statements = [
            (
                "DELETE FROM auth_codes WHERE (tenant, code_hash) IN \
                 (SELECT tenant, code_hash FROM auth_codes WHERE expires_at <= ?1 LIMIT ?2)",
                codes_before,
            ),
            (
                "DELETE FROM access_tokens WHERE (tenant, token_hash) IN \
                 (SELECT tenant, token_hash FROM access_tokens WHERE expires_at <= ?1 LIMIT ?2)",
                now_ts,
            ),
            (
                "DELETE FROM refresh_tokens WHERE (tenant, token_hash) IN \
                 (SELECT tenant, token_hash FROM refresh_tokens WHERE expires_at <= ?1 LIMIT ?2)",
                now_ts,
            ),
            (
                "DELETE FROM sessions WHERE (tenant, id_hash) IN \
                 (SELECT tenant, id_hash FROM sessions WHERE expires_at <= ?1 LIMIT ?2)",
                now_ts,
            ),
            (
                "DELETE FROM revoked_grants WHERE rowid IN \
                 (SELECT rowid FROM revoked_grants WHERE revoked_at <= ?1 LIMIT ?2)",
                grants_before,
            ),
            (
                "DELETE FROM revoked_passkeys WHERE (tenant, credential_id) IN \
                 (SELECT tenant, credential_id FROM revoked_passkeys WHERE revoked_at <= ?1 LIMIT ?2)",
                passkeys_before,
            ),
        ];
        let ephemeral = self
            .ephemeral
            .purge(now, usize::try_from(batch).unwrap_or(0))?;
        Ok(ephemeral + self.purge_bounded(&statements, batch).await?)
    }
}

#[async_trait]
impl CeremonyStore for SqliteStore {
    async fn put_ceremony(
        &self,
        tenant: &TenantId,
        id: &str,
        kind: &str,
        payload: Vec<u8>,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.ephemeral
            .put_ceremony(tenant, id, kind, payload, expires_at, now)
    }

    async fn take_ceremony(
        &self,
        tenant: &TenantId,
        id: &str,
        kind: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>> {
        self.ephemeral.take_ceremony(tenant, id, kind, now)
    }

    async fn peek_ceremony(
        &self,
        tenant: &TenantId,
        id: &str,
        kind: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>> {
        self.ephemeral.peek_ceremony(tenant, id, kind, now)
    }
}

/// One node: a notification wakes this process's subscriptions, directly.
#[async_trait]
impl HealthStore for SqliteStore {
    async fn probe_write(&self, now: OffsetDateTime) -> Result<()> {
        self.conns
            .write(|conn| {
                execute(
                    conn,
                    "INSERT INTO store_health (id, checked_at) VALUES (1, ?1) \
                     ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                    params![ts(now)],
                )
                .map(drop)
            })
            .await
    }
}

#[async_trait]
impl Notifier for SqliteStore {
    async fn notify(&self, topic: &Topic, payload: &Payload) -> Result<()> {
        self.hub.check_open()?;
        self.hub.publish(topic.as_str(), payload.as_str());
        Ok(())
    }

    async fn subscribe(&self, topic: &Topic) -> Result<Subscription> {
        self.hub.subscribe(topic)
    }
}

#[cfg(test)]
mod identity_tests {
    use super::*;

    #[tokio::test]
    async fn start_refuses_an_empty_store_where_one_was_unless_told_to_initialise() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("tessera.db");
        let store = SqliteStore::open(&path).await.expect("first start");
        store.close().await;
        assert!(dir.path().join("tessera.db.identity").exists());
        // The database file is lost: the next start does not silently begin again with nothing.
        std::fs::remove_file(&path).expect("unlink");
        let _ = std::fs::remove_file(dir.path().join("tessera.db-wal"));
        let _ = std::fs::remove_file(dir.path().join("tessera.db-shm"));
        let refused = SqliteStore::open(&path).await;
        assert!(
            matches!(&refused, Err(StoreError::Unavailable(m)) if m.contains("missing")),
            "{:?}",
            refused.err()
        );
        assert!(!path.exists(), "no empty store was created");
        // Another store's file in its place is refused too.
        let other_dir = tempfile::tempdir().expect("dir");
        let other = other_dir.path().join("tessera.db");
        SqliteStore::open(&other)
            .await
            .expect("other")
            .close()
            .await;
        std::fs::copy(&other, &path).expect("copy");
        let foreign = SqliteStore::open(&path).await;
        assert!(
            matches!(&foreign, Err(StoreError::Unavailable(m)) if m.contains("not the store")),
            "{:?}",
            foreign.err()
        );
        // Told to initialise, it starts (and takes the new identity); later starts are normal again.
        SqliteStore::open_initialising(&path)
            .await
            .expect("initialised")
            .close()
            .await;
        SqliteStore::open(&path)
            .await
            .expect("normal start")
            .close()
            .await;
    }
}

#[cfg(test)]
mod revocation_plan_tests {
    use super::{ACCESS_TOKEN_GET, CREDENTIAL_SESSIONS_DELETE, SqliteStore};

    fn plan(conn: &rusqlite::Connection, sql: &str, params: impl rusqlite::Params) -> Vec<String> {
        conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .and_then(|mut stmt| {
                stmt.query_map(params, |row| row.get(3))?
                    .collect::<Result<Vec<String>, _>>()
            })
            .expect("query plan")
    }

    /// Ending what a deleted passkey gave goes through the indexes, not through every session of the tenant (SQLite
    /// plans a plain `DELETE ... WHERE` on these clustered tables as a scan of the tenant's rows); a token's check
    /// of its passkey is one lookup by key.
    #[tokio::test]
    async fn passkey_revocation_deletes_through_the_indexes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tessera.db");
        SqliteStore::open(&path).await.expect("open").close().await;
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
             INSERT INTO sessions (tenant, id_hash, user_id, auth_time, expires_at, sid, user_verified, \
               backup_eligible, attestation_trusted, credential_id, last_seen_at) \
             SELECT 'alpha', randomblob(32), 'u' || (i % 300), 0, 1, 'sid-' || i, 1, 0, 1, randomblob(16), 0 FROM n",
        )
        .expect("sessions");
        let sessions = plan(
            &conn,
            CREDENTIAL_SESSIONS_DELETE,
            rusqlite::params!["alpha", "u1", [0xAAu8]],
        );
        assert!(
            sessions.iter().any(|step| step
                .contains("sessions_by_user (tenant=? AND user_id=? AND credential_id=?)")),
            "{sessions:?}"
        );
        let token = plan(
            &conn,
            ACCESS_TOKEN_GET,
            rusqlite::params!["alpha", [0xAAu8], 0],
        );
        for index in [
            "SEARCH t USING PRIMARY KEY (tenant=? AND token_hash=?)",
            "SEARCH r USING PRIMARY KEY (tenant=? AND credential_id=?)",
        ] {
            assert!(
                token.iter().any(|step| step.contains(index)),
                "{index}: {token:?}"
            );
        }
    }
}
