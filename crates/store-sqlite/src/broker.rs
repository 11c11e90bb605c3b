//! [`BrokerStore`] on SQLite: the identity broker's tables of migration 0010.
//!
//! Every write runs on the one writer connection in its own savepoint (see `conn`), so a write of several
//! statements (a tenant with its keys, a user with their identity, a disable with its revocations, a rotation or a
//! reuse with its revocation) is all or nothing, and writes never interleave: the checks a write makes before it
//! inserts (the user is enabled, the flow's last version) still hold when it inserts.

use crate::convert::{from_json, from_opt_ts, from_ts, to_json, ts};
use crate::rows::{AuthCodeRow, SigningKeyRow, TokenRow};
use crate::{SqliteStore, affected_one, execute, exists, query_all, query_one};
use async_trait::async_trait;
use rusqlite::{Connection, params};
use tessera_core::{ClientId, TenantId, UserId};
use tessera_store::broker::{fold_search, prefix_pattern};
use tessera_store::convert::{client_id, revision, revision_column, tenant_id, user_id};
use tessera_store::{
    AuthCode, BrokerApplication, BrokerSession, BrokerStore, BrokerTenant, BrokerTenantContents,
    CodeRedemption, DirectoryIdentity, DirectoryPage, DirectoryUserRecord, FlowVersionRecord,
    IdentityProviderRecord, IdentityProviderSummary, KeyStatus, LocalCredential, ProviderCache,
    REDEEMED_CODE_RETENTION, REVOKED_GRANT_RETENTION, RefreshRotation, RefreshToken, Result,
    SigningKey, StoreError, TenantDeletion, UserFlowRecord, check_expected,
};
use time::OffsetDateTime;

/// The kind of a broker transaction among the in-memory ceremonies.
const TRANSACTION_KIND: &str = "broker-transaction";

/// A broker transaction's key among the in-memory ceremonies: a prefix no ceremony id has (`:`), then the hash
/// of its `state` in hex.
fn transaction_id(state_hash: &[u8]) -> String {
    use std::fmt::Write;
    let mut id = String::with_capacity(4 + 2 * state_hash.len());
    id.push_str("btx:");
    for byte in state_hash {
        let _ = write!(id, "{byte:02x}");
    }
    id
}

/// Declares a row struct and its reader, which takes the fields from the query's columns in order (each column
/// named as its field: [`crate::rows::column`]).
macro_rules! broker_row {
    ($name:ident { $($field:ident: $ty:ty,)* }) => {
        struct $name {
            $($field: $ty,)*
        }

        impl $name {
            #[allow(unused_assignments)]
            fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                let mut index = 0;
                Ok(Self {
                    $($field: {
                        let value = crate::rows::column(row, index, stringify!($field))?;
                        index += 1;
                        value
                    },)*
                })
            }
        }
    };
}

broker_row!(BrokerTenantRow {
    id: String,
    display_name: String,
    created_at: i64,
    revision: i64,
});

impl BrokerTenantRow {
    fn into_record(self) -> Result<BrokerTenant> {
        Ok(BrokerTenant {
            id: tenant_id(&self.id)?,
            display_name: self.display_name,
            created_at: from_ts(self.created_at)?,
            revision: revision(self.revision)?,
        })
    }
}

/// Everything of a broker tenant but its row, deleted with it (`?1` is the tenant).
const BROKER_TENANT_DELETE: [&str; 15] = [
    "DELETE FROM broker_transactions WHERE tenant = ?1",
    "DELETE FROM broker_code_sends WHERE tenant = ?1",
    "DELETE FROM broker_local_credentials WHERE tenant = ?1",
    "DELETE FROM pending_signups WHERE tenant = ?1",
    "DELETE FROM broker_auth_codes WHERE tenant = ?1",
    "DELETE FROM broker_refresh_tokens WHERE tenant = ?1",
    "DELETE FROM broker_revoked_grants WHERE tenant = ?1",
    "DELETE FROM broker_sessions WHERE tenant = ?1",
    "DELETE FROM directory_identities WHERE tenant = ?1",
    "DELETE FROM directory_users WHERE tenant = ?1",
    "DELETE FROM user_flow_versions WHERE tenant = ?1",
    "DELETE FROM user_flows WHERE tenant = ?1",
    "DELETE FROM identity_providers WHERE tenant = ?1",
    "DELETE FROM broker_applications WHERE tenant = ?1",
    "DELETE FROM broker_signing_keys WHERE tenant = ?1",
];

/// How many applications, providers, flows and directory users a broker tenant has.
fn broker_tenant_contents(conn: &Connection, tenant: &TenantId) -> Result<BrokerTenantContents> {
    let counts: Option<[i64; 4]> = query_one(
        conn,
        "SELECT (SELECT COUNT(*) FROM broker_applications WHERE tenant = ?1), \
                (SELECT COUNT(*) FROM identity_providers WHERE tenant = ?1), \
                (SELECT COUNT(*) FROM user_flows WHERE tenant = ?1), \
                (SELECT COUNT(*) FROM directory_users WHERE tenant = ?1)",
        [tenant.as_str()],
        |row| Ok([row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?]),
    )?;
    let [
        applications,
        identity_providers,
        user_flows,
        directory_users,
    ] = counts
        .unwrap_or_default()
        .map(|n| u64::try_from(n).unwrap_or(0));
    Ok(BrokerTenantContents {
        applications,
        identity_providers,
        user_flows,
        directory_users,
    })
}

broker_row!(ApplicationRow {
    tenant: String,
    client_id: String,
    secret_hash: Option<Vec<u8>>,
    settings: String,
    created_at: i64,
});

impl ApplicationRow {
    fn into_record(self) -> Result<BrokerApplication> {
        Ok(BrokerApplication {
            tenant: tenant_id(&self.tenant)?,
            client_id: client_id(&self.client_id)?,
            secret_hash: self.secret_hash,
            settings: from_json(&self.settings)?,
            created_at: from_ts(self.created_at)?,
        })
    }
}

broker_row!(ProviderRow {
    tenant: String,
    provider_id: String,
    config: String,
    client_secret_encrypted: Option<Vec<u8>>,
    metadata: String,
    metadata_fetched_at: i64,
    jwks: String,
    jwks_fetched_at: i64,
    created_at: i64,
    updated_at: i64,
    signing_keys: Option<i64>,
});

broker_row!(ProviderSummaryRow {
    provider_id: String,
    config: String,
    created_at: i64,
    updated_at: i64,
    metadata_fetched_at: i64,
    has_client_secret: bool,
    issuer: Option<String>,
    signing_keys: Option<i64>,
});

/// A stored key count (never negative; a damaged one is corrupt, not zero).
fn key_count(stored: Option<i64>) -> Result<Option<u32>> {
    stored
        .map(|n| {
            u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("signing key count {n}")))
        })
        .transpose()
}

impl ProviderSummaryRow {
    fn into_summary(self) -> Result<IdentityProviderSummary> {
        Ok(IdentityProviderSummary {
            provider_id: self.provider_id,
            config: from_json(&self.config)?,
            created_at: from_ts(self.created_at)?,
            updated_at: from_ts(self.updated_at)?,
            metadata_fetched_at: from_ts(self.metadata_fetched_at)?,
            has_client_secret: self.has_client_secret,
            issuer: self.issuer,
            signing_keys: key_count(self.signing_keys)?,
        })
    }
}

impl ProviderRow {
    fn into_record(self) -> Result<IdentityProviderRecord> {
        Ok(IdentityProviderRecord {
            tenant: tenant_id(&self.tenant)?,
            provider_id: self.provider_id,
            config: from_json(&self.config)?,
            client_secret_encrypted: self.client_secret_encrypted,
            cache: ProviderCache {
                metadata: from_json(&self.metadata)?,
                metadata_fetched_at: from_ts(self.metadata_fetched_at)?,
                jwks: from_json(&self.jwks)?,
                jwks_fetched_at: from_ts(self.jwks_fetched_at)?,
                signing_keys: key_count(self.signing_keys)?,
            },
            created_at: from_ts(self.created_at)?,
            updated_at: from_ts(self.updated_at)?,
        })
    }
}

broker_row!(FlowRow {
    tenant: String,
    policy_key: String,
    policy_id: String,
    kind: String,
    created_at: i64,
});

impl FlowRow {
    fn into_record(self) -> Result<UserFlowRecord> {
        Ok(UserFlowRecord {
            tenant: tenant_id(&self.tenant)?,
            policy_key: self.policy_key,
            policy_id: self.policy_id,
            kind: self.kind,
            created_at: from_ts(self.created_at)?,
        })
    }
}

broker_row!(FlowVersionRow {
    number: i64,
    created_at: i64,
    settings: String,
});

impl FlowVersionRow {
    fn into_record(self) -> Result<FlowVersionRecord> {
        Ok(FlowVersionRecord {
            number: u32::try_from(self.number).map_err(|_| {
                StoreError::Corrupt(format!("flow version {} out of range", self.number))
            })?,
            created_at: from_ts(self.created_at)?,
            settings: from_json(&self.settings)?,
        })
    }
}

broker_row!(DirectoryUserRow {
    tenant: String,
    object_id: String,
    display_name: Option<String>,
    given_name: Option<String>,
    surname: Option<String>,
    email: Option<String>,
    custom: String,
    created_at: i64,
    last_sign_in_at: Option<i64>,
    disabled_at: Option<i64>,
    identities: String,
});

impl DirectoryUserRow {
    fn into_record(self) -> Result<DirectoryUserRecord> {
        let pairs: Vec<(String, String)> = from_json(&self.identities)?;
        let mut identities: Vec<DirectoryIdentity> = pairs
            .into_iter()
            .map(|(issuer, subject)| DirectoryIdentity { issuer, subject })
            .collect();
        identities.sort();
        Ok(DirectoryUserRecord {
            tenant: tenant_id(&self.tenant)?,
            object_id: user_id(&self.object_id)?,
            display_name: self.display_name,
            given_name: self.given_name,
            surname: self.surname,
            email: self.email,
            custom: from_json(&self.custom)?,
            identities,
            created_at: from_ts(self.created_at)?,
            last_sign_in_at: from_opt_ts(self.last_sign_in_at)?,
            disabled_at: from_opt_ts(self.disabled_at)?,
        })
    }
}

broker_row!(BrokerSessionRow {
    tenant: String,
    id_hash: Vec<u8>,
    sid: String,
    object_id: String,
    auth_time: i64,
    payload: Vec<u8>,
    expires_at: i64,
});

impl BrokerSessionRow {
    fn into_record(self) -> Result<BrokerSession> {
        Ok(BrokerSession {
            id_hash: self.id_hash,
            tenant: tenant_id(&self.tenant)?,
            object_id: user_id(&self.object_id)?,
            sid: self.sid,
            auth_time: from_ts(self.auth_time)?,
            payload: self.payload,
            expires_at: from_ts(self.expires_at)?,
        })
    }
}

/// The columns of a directory user with their identities as a JSON array of `[issuer, subject]`, from `u`.
macro_rules! directory_user_select {
    () => {
        "SELECT u.tenant, u.object_id, u.display_name, u.given_name, u.surname, u.email, u.custom, u.created_at, \
         u.last_sign_in_at, u.disabled_at, \
         (SELECT json_group_array(json_array(i.issuer, i.subject)) FROM directory_identities i \
          WHERE i.tenant = u.tenant AND i.object_id = u.object_id) AS identities \
         FROM directory_users u "
    };
}

/// The stored application, read on the writer (the guard of a conditional write).
fn stored_application(
    conn: &Connection,
    tenant: &TenantId,
    client_id: &ClientId,
) -> Result<Option<BrokerApplication>> {
    query_one(
        conn,
        "SELECT tenant, client_id, secret_hash, settings, created_at \
         FROM broker_applications WHERE tenant = ?1 AND client_id = ?2",
        [tenant.as_str(), client_id.as_str()],
        ApplicationRow::read,
    )?
    .map(ApplicationRow::into_record)
    .transpose()
}

/// The stored identity provider, read on the writer (the guard of a conditional write).
fn stored_provider(
    conn: &Connection,
    tenant: &TenantId,
    provider_id: &str,
) -> Result<Option<IdentityProviderRecord>> {
    query_one(
        conn,
        "SELECT tenant, provider_id, config, client_secret_encrypted, metadata, \
         metadata_fetched_at, jwks, jwks_fetched_at, created_at, updated_at, signing_keys \
         FROM identity_providers WHERE tenant = ?1 AND provider_id = ?2",
        [tenant.as_str(), provider_id],
        ProviderRow::read,
    )?
    .map(ProviderRow::into_record)
    .transpose()
}

/// The guard of a conditional write of a directory user, on the writer: `NotFound` without the user, `Changed` if
/// `expected` is given and the stored user differs from it.
fn guard_directory_user(
    conn: &Connection,
    tenant: &TenantId,
    object_id: &UserId,
    expected: Option<&DirectoryUserRecord>,
) -> Result<()> {
    if expected.is_none() {
        return Ok(());
    }
    let current = query_one(
        conn,
        concat!(
            directory_user_select!(),
            "WHERE u.tenant = ?1 AND u.object_id = ?2"
        ),
        [tenant.as_str(), object_id.as_str()],
        DirectoryUserRow::read,
    )?
    .map(DirectoryUserRow::into_record)
    .transpose()?;
    check_expected(current.as_ref(), expected, PartialEq::eq)
}

/// The columns of a broker refresh token, as [`TokenRow`] reads them.
macro_rules! refresh_columns {
    () => {
        "tenant, token_hash, client_id, grant_id, object_id AS user_id, scope, payload, expires_at"
    };
}

fn insert_signing_key(conn: &Connection, key: &SigningKey) -> Result<()> {
    let jwk = to_json(&key.public_jwk)?;
    execute(
        conn,
        "INSERT INTO broker_signing_keys (tenant, kid, alg, private_key_encrypted, public_jwk, created_at, \
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

/// `Ok` if the user exists and is enabled; `Conflict` if disabled, `NotFound` if absent.
fn require_enabled_user(conn: &Connection, tenant: &TenantId, object_id: &UserId) -> Result<()> {
    let disabled: Option<Option<i64>> = query_one(
        conn,
        "SELECT disabled_at FROM directory_users WHERE tenant = ?1 AND object_id = ?2",
        [tenant.as_str(), object_id.as_str()],
        |row| row.get(0),
    )?;
    match disabled {
        None => Err(StoreError::NotFound),
        Some(Some(_)) => Err(StoreError::Conflict),
        Some(None) => Ok(()),
    }
}

/// Inserts a session (its user already checked).
/// Inserts a new user and their first identity (the caller's transaction makes it all or nothing).
fn insert_user_with_identity(
    conn: &Connection,
    user: &DirectoryUserRecord,
    identity: &DirectoryIdentity,
    custom: &str,
) -> Result<()> {
    let fold = |value: &Option<String>| value.as_deref().map(fold_search);
    execute(
        conn,
        "INSERT INTO directory_users (tenant, object_id, display_name, given_name, surname, email, \
         display_name_folded, given_name_folded, surname_folded, email_folded, custom, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            user.tenant.as_str(),
            user.object_id.as_str(),
            user.display_name,
            user.given_name,
            user.surname,
            user.email,
            fold(&user.display_name),
            fold(&user.given_name),
            fold(&user.surname),
            fold(&user.email),
            custom,
            ts(user.created_at),
        ],
    )?;
    execute(
        conn,
        "INSERT INTO directory_identities (tenant, issuer, subject, object_id) VALUES (?1, ?2, ?3, ?4)",
        [
            user.tenant.as_str(),
            identity.issuer.as_str(),
            identity.subject.as_str(),
            user.object_id.as_str(),
        ],
    )?;
    Ok(())
}

/// The columns of `broker_local_credentials`, in [`LocalCredentialRow`]'s order.
const LOCAL_CREDENTIAL_COLUMNS: &str = "tenant, credential_id, object_id, user_handle, public_key, alg, sign_count, \
     uv_initialized, backup_eligible, backup_state, transports, created_at, last_used_at";

struct LocalCredentialRow {
    tenant: String,
    credential_id: Vec<u8>,
    object_id: String,
    user_handle: Vec<u8>,
    public_key: Vec<u8>,
    alg: i64,
    sign_count: i64,
    uv_initialized: bool,
    backup_eligible: bool,
    backup_state: bool,
    transports: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl LocalCredentialRow {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            tenant: row.get(0)?,
            credential_id: row.get(1)?,
            object_id: row.get(2)?,
            user_handle: row.get(3)?,
            public_key: row.get(4)?,
            alg: row.get(5)?,
            sign_count: row.get(6)?,
            uv_initialized: row.get(7)?,
            backup_eligible: row.get(8)?,
            backup_state: row.get(9)?,
            transports: row.get(10)?,
            created_at: row.get(11)?,
            last_used_at: row.get(12)?,
        })
    }

    fn into_record(self) -> Result<LocalCredential> {
        Ok(LocalCredential {
            tenant: tenant_id(&self.tenant)?,
            credential_id: self.credential_id,
            object_id: user_id(&self.object_id)?,
            user_handle: self.user_handle,
            public_key: self.public_key,
            alg: self.alg,
            sign_count: u32::try_from(self.sign_count)
                .map_err(|_| StoreError::Corrupt("local credential sign count".into()))?,
            uv_initialized: self.uv_initialized,
            backup_eligible: self.backup_eligible,
            backup_state: self.backup_state,
            transports: from_json(&self.transports)?,
            created_at: from_ts(self.created_at)?,
            last_used_at: from_opt_ts(self.last_used_at)?,
        })
    }
}

/// Inserts a local account's passkey (the caller's transaction holds its user).
fn insert_local_credential(conn: &Connection, credential: &LocalCredential) -> Result<()> {
    let transports = to_json(&credential.transports)?;
    execute(
        conn,
        "INSERT INTO broker_local_credentials (tenant, credential_id, object_id, user_handle, public_key, alg, \
         sign_count, uv_initialized, backup_eligible, backup_state, transports, created_at, last_used_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            credential.tenant.as_str(),
            credential.credential_id,
            credential.object_id.as_str(),
            credential.user_handle,
            credential.public_key,
            credential.alg,
            i64::from(credential.sign_count),
            credential.uv_initialized,
            credential.backup_eligible,
            credential.backup_state,
            transports,
            ts(credential.created_at),
            credential.last_used_at.map(ts),
        ],
    )?;
    Ok(())
}

fn insert_broker_session(conn: &Connection, session: &BrokerSession) -> Result<()> {
    execute(
        conn,
        "INSERT INTO broker_sessions (tenant, id_hash, sid, object_id, auth_time, payload, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            session.tenant.as_str(),
            session.id_hash,
            session.sid,
            session.object_id.as_str(),
            ts(session.auth_time),
            session.payload,
            ts(session.expires_at),
        ],
    )?;
    Ok(())
}

/// Inserts an app's authorization code.
fn insert_broker_code(conn: &Connection, code: &AuthCode) -> Result<()> {
    execute(
        conn,
        "INSERT INTO broker_auth_codes (tenant, code_hash, client_id, grant_id, payload, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            code.tenant.as_str(),
            code.code_hash,
            code.client_id.as_str(),
            code.grant_id,
            code.payload,
            ts(code.expires_at)
        ],
    )?;
    Ok(())
}

/// Inserts a refresh token of an enabled user unless its grant was revoked (`Conflict`).
fn insert_refresh_token(conn: &Connection, token: &RefreshToken) -> Result<()> {
    require_enabled_user(conn, &token.tenant, &token.user_id)?;
    let inserted = execute(
        conn,
        "INSERT INTO broker_refresh_tokens (tenant, token_hash, client_id, grant_id, object_id, scope, payload, \
         expires_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 \
         WHERE NOT EXISTS (SELECT 1 FROM broker_revoked_grants WHERE tenant = ?1 AND grant_id = ?4)",
        params![
            token.tenant.as_str(),
            token.token_hash,
            token.client_id.as_str(),
            token.grant_id,
            token.user_id.as_str(),
            token.scope,
            token.payload,
            ts(token.expires_at),
        ],
    )?;
    if inserted == 0 {
        Err(StoreError::Conflict)
    } else {
        Ok(())
    }
}

fn revoke_grant_in(
    conn: &Connection,
    tenant: &TenantId,
    grant_id: &str,
    now: OffsetDateTime,
) -> Result<()> {
    execute(
        conn,
        "INSERT OR IGNORE INTO broker_revoked_grants (tenant, grant_id, revoked_at) VALUES (?1, ?2, ?3)",
        params![tenant.as_str(), grant_id, ts(now)],
    )?;
    execute(
        conn,
        "DELETE FROM broker_refresh_tokens WHERE tenant = ?1 AND grant_id = ?2",
        [tenant.as_str(), grant_id],
    )?;
    Ok(())
}

fn flow_exists(conn: &Connection, tenant: &TenantId, policy_key: &str) -> Result<bool> {
    exists(
        conn,
        "SELECT 1 FROM user_flows WHERE tenant = ?1 AND policy_key = ?2",
        [tenant.as_str(), policy_key],
    )
}

impl SqliteStore {
    async fn read_directory_user(
        &self,
        sql: &'static str,
        params: impl rusqlite::Params,
    ) -> Result<Option<DirectoryUserRecord>> {
        self.conns
            .read(|conn| query_one(conn, sql, params, DirectoryUserRow::read))
            .await?
            .map(DirectoryUserRow::into_record)
            .transpose()
    }
}

#[async_trait]
impl BrokerStore for SqliteStore {
    async fn create_broker_tenant(&self, tenant: &BrokerTenant, keys: &[SigningKey]) -> Result<()> {
        if keys.iter().any(|key| key.tenant != tenant.id) {
            return Err(StoreError::Conflict);
        }
        self.conns
            .write(|conn| {
                execute(
                    conn,
                    "INSERT INTO broker_tenants (id, display_name, created_at, revision) VALUES (?1, ?2, ?3, 1)",
                    params![
                        tenant.id.as_str(),
                        tenant.display_name,
                        ts(tenant.created_at)
                    ],
                )?;
                for key in keys {
                    insert_signing_key(conn, key)?;
                }
                Ok(())
            })
            .await
    }

    async fn get_broker_tenant(&self, tenant: &TenantId) -> Result<Option<BrokerTenant>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT id, display_name, created_at, revision FROM broker_tenants WHERE id = ?1",
                    [tenant.as_str()],
                    BrokerTenantRow::read,
                )
            })
            .await?
            .map(BrokerTenantRow::into_record)
            .transpose()
    }

    async fn list_broker_tenants(&self) -> Result<Vec<BrokerTenant>> {
        self.conns
            .read(|conn| {
                query_all(
                    conn,
                    "SELECT id, display_name, created_at, revision FROM broker_tenants ORDER BY id",
                    [],
                    BrokerTenantRow::read,
                )
            })
            .await?
            .into_iter()
            .map(BrokerTenantRow::into_record)
            .collect()
    }

    async fn put_broker_signing_key(&self, key: &SigningKey) -> Result<()> {
        self.conns.write(|conn| insert_signing_key(conn, key)).await
    }

    async fn list_broker_signing_keys(&self, tenant: &TenantId) -> Result<Vec<SigningKey>> {
        self.conns
            .read(|conn| {
                query_all(
                    conn,
                    "SELECT tenant, kid, alg, private_key_encrypted, public_jwk, created_at, retired_at, \
                     status \
                     FROM broker_signing_keys WHERE tenant = ?1 ORDER BY created_at, kid",
                    [tenant.as_str()],
                    SigningKeyRow::read,
                )
            })
            .await?
            .into_iter()
            .map(SigningKeyRow::into_record)
            .collect()
    }

    async fn rotate_broker_signing_keys(
        &self,
        tenant: &TenantId,
        new: &[SigningKey],
        at: OffsetDateTime,
    ) -> Result<()> {
        if new.iter().any(|key| key.tenant != *tenant) {
            return Err(StoreError::Conflict);
        }
        self.conns
            .write(|conn| {
                if !exists(
                    conn,
                    "SELECT 1 FROM broker_tenants WHERE id = ?1",
                    [tenant.as_str()],
                )? {
                    return Err(StoreError::NotFound);
                }
                if new.iter().any(|key| key.status == KeyStatus::Active) {
                    execute(
                        conn,
                        "UPDATE broker_signing_keys SET status = 'retired', retired_at = ?2 \
                         WHERE tenant = ?1 AND status <> 'retired'",
                        params![tenant.as_str(), ts(at)],
                    )?;
                }
                for key in new {
                    insert_signing_key(conn, key)?;
                }
                Ok(())
            })
            .await
    }

    async fn activate_broker_signing_key(
        &self,
        tenant: &TenantId,
        kid: &str,
        at: OffsetDateTime,
    ) -> Result<()> {
        self.conns
            .write(|conn| {
                let status: Option<String> = query_one(
                    conn,
                    "SELECT status FROM broker_signing_keys WHERE tenant = ?1 AND kid = ?2",
                    [tenant.as_str(), kid],
                    |row| row.get(0),
                )?;
                match status.as_deref() {
                    None => return Err(StoreError::NotFound),
                    Some("retired") => return Err(StoreError::Conflict),
                    Some(_) => {}
                }
                execute(
                    conn,
                    "UPDATE broker_signing_keys SET status = 'retired', retired_at = ?3 \
                     WHERE tenant = ?1 AND kid <> ?2 AND status <> 'retired' \
                     AND alg = (SELECT alg FROM broker_signing_keys WHERE tenant = ?1 AND kid = ?2) \
                     AND created_at <= (SELECT created_at FROM broker_signing_keys WHERE tenant = ?1 AND kid = ?2)",
                    params![tenant.as_str(), kid, ts(at)],
                )?;
                execute(
                    conn,
                    "UPDATE broker_signing_keys SET status = 'active' WHERE tenant = ?1 AND kid = ?2",
                    [tenant.as_str(), kid],
                )?;
                Ok(())
            })
            .await
    }

    async fn update_broker_tenant(&self, tenant: &BrokerTenant) -> Result<u64> {
        self.conns
            .write(|conn| {
                let updated: Option<i64> = query_one(
                    conn,
                    "UPDATE broker_tenants SET display_name = ?2, revision = revision + 1 \
                     WHERE id = ?1 AND revision = ?3 RETURNING revision",
                    params![
                        tenant.id.as_str(),
                        tenant.display_name,
                        revision_column(tenant.revision)
                    ],
                    |row| row.get(0),
                )?;
                if let Some(updated) = updated {
                    return revision(updated);
                }
                let known = exists(
                    conn,
                    "SELECT 1 FROM broker_tenants WHERE id = ?1",
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

    async fn delete_broker_tenant(
        &self,
        tenant: &TenantId,
        force: bool,
    ) -> Result<TenantDeletion<BrokerTenantContents>> {
        self.conns
            .write(|conn| {
                if !exists(
                    conn,
                    "SELECT 1 FROM broker_tenants WHERE id = ?1",
                    [tenant.as_str()],
                )? {
                    return Err(StoreError::NotFound);
                }
                let contents = broker_tenant_contents(conn, tenant)?;
                if !force && !contents.is_empty() {
                    return Ok(TenantDeletion::NotEmpty(contents));
                }
                for sql in BROKER_TENANT_DELETE {
                    execute(conn, sql, [tenant.as_str()])?;
                }
                execute(
                    conn,
                    "DELETE FROM broker_tenants WHERE id = ?1",
                    [tenant.as_str()],
                )?;
                Ok(TenantDeletion::Deleted(contents))
            })
            .await
    }

    async fn create_broker_application(&self, application: &BrokerApplication) -> Result<()> {
        let settings = to_json(&application.settings)?;
        self.conns
            .write(|conn| {
                execute(
                    conn,
                    "INSERT INTO broker_applications (tenant, client_id, secret_hash, settings, created_at, \
                     display_name_folded) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        application.tenant.as_str(),
                        application.client_id.as_str(),
                        application.secret_hash,
                        settings,
                        ts(application.created_at),
                        tessera_store::broker::application_name_folded(&application.settings),
                    ],
                )
            })
            .await?;
        Ok(())
    }

    async fn get_broker_application(
        &self,
        tenant: &TenantId,
        client_id: &ClientId,
    ) -> Result<Option<BrokerApplication>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT tenant, client_id, secret_hash, settings, created_at \
                     FROM broker_applications WHERE tenant = ?1 AND client_id = ?2",
                    [tenant.as_str(), client_id.as_str()],
                    ApplicationRow::read,
                )
            })
            .await?
            .map(ApplicationRow::into_record)
            .transpose()
    }

    async fn list_broker_applications(&self, tenant: &TenantId) -> Result<Vec<BrokerApplication>> {
        self.conns
            .read(|conn| {
                query_all(
                    conn,
                    "SELECT tenant, client_id, secret_hash, settings, created_at \
                     FROM broker_applications WHERE tenant = ?1 ORDER BY client_id",
                    [tenant.as_str()],
                    ApplicationRow::read,
                )
            })
            .await?
            .into_iter()
            .map(ApplicationRow::into_record)
            .collect()
    }

    async fn list_broker_applications_page(
        &self,
        tenant: &TenantId,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<BrokerApplication>, u64)> {
        let (rows, total) = self
            .conns
            .read(|conn| {
                let rows = query_all(
                    conn,
                    "SELECT tenant, client_id, secret_hash, settings, created_at \
                     FROM broker_applications WHERE tenant = ?1 ORDER BY client_id LIMIT ?2 OFFSET ?3",
                    rusqlite::params![tenant.as_str(), i64::from(limit), i64::from(offset)],
                    ApplicationRow::read,
                )?;
                let total: Option<i64> = query_one(
                    conn,
                    "SELECT COUNT(*) FROM broker_applications WHERE tenant = ?1",
                    [tenant.as_str()],
                    |row| row.get(0),
                )?;
                Ok((rows, total.unwrap_or(0)))
            })
            .await?;
        let total = u64::try_from(total)
            .map_err(|_| StoreError::Corrupt("negative application count".into()))?;
        let page = rows
            .into_iter()
            .map(ApplicationRow::into_record)
            .collect::<Result<Vec<_>>>()?;
        Ok((page, total))
    }

    async fn list_broker_applications_filtered(
        &self,
        tenant: &TenantId,
        filter: &tessera_store::ClientFilter,
        after: Option<&ClientId>,
        limit: u32,
    ) -> Result<Vec<BrokerApplication>> {
        let after = after.map(|a| a.as_str().to_owned()).unwrap_or_default();
        let (id_pattern, name_pattern, public) =
            tessera_store::filters::client_filter_binds(filter);
        self.conns
            .read(|conn| {
                // Client ids are ASCII, so `lower` folds them fully; names are matched on the form folded in Rust.
                query_all(
                    conn,
                    "SELECT tenant, client_id, secret_hash, settings, created_at \
                     FROM broker_applications WHERE tenant = ?1 AND client_id > ?2 \
                     AND (lower(client_id) LIKE ?4 ESCAPE '\\' OR display_name_folded LIKE ?5 ESCAPE '\\') \
                     AND (?6 IS NULL OR (json_extract(settings, '$.client_type') = 'public') = ?6) \
                     ORDER BY client_id LIMIT ?3",
                    rusqlite::params![
                        tenant.as_str(),
                        after,
                        i64::from(limit),
                        id_pattern,
                        name_pattern,
                        public
                    ],
                    ApplicationRow::read,
                )
            })
            .await?
            .into_iter()
            .map(ApplicationRow::into_record)
            .collect()
    }

    async fn update_broker_application(
        &self,
        application: &BrokerApplication,
        expected: Option<&BrokerApplication>,
    ) -> Result<()> {
        let settings = to_json(&application.settings)?;
        let changed = self
            .conns
            .write(|conn| {
                // On the single writer: the check and the update see the same row.
                if expected.is_some() {
                    let current =
                        stored_application(conn, &application.tenant, &application.client_id)?;
                    check_expected(current.as_ref(), expected, PartialEq::eq)?;
                }
                execute(
                    conn,
                    "UPDATE broker_applications SET secret_hash = ?3, settings = ?4, display_name_folded = ?5 \
                     WHERE tenant = ?1 AND client_id = ?2",
                    params![
                        application.tenant.as_str(),
                        application.client_id.as_str(),
                        application.secret_hash,
                        settings,
                        tessera_store::broker::application_name_folded(&application.settings),
                    ],
                )
            })
            .await?;
        affected_one(changed)
    }

    async fn delete_broker_application(
        &self,
        tenant: &TenantId,
        client_id: &ClientId,
        expected: Option<&BrokerApplication>,
    ) -> Result<()> {
        let changed = self
            .conns
            .write(|conn| {
                if expected.is_some() {
                    let current = stored_application(conn, tenant, client_id)?;
                    check_expected(current.as_ref(), expected, PartialEq::eq)?;
                }
                execute(
                    conn,
                    "DELETE FROM broker_applications WHERE tenant = ?1 AND client_id = ?2",
                    [tenant.as_str(), client_id.as_str()],
                )
            })
            .await?;
        affected_one(changed)
    }

    async fn create_identity_provider(&self, provider: &IdentityProviderRecord) -> Result<()> {
        let config = to_json(&provider.config)?;
        let metadata = to_json(&provider.cache.metadata)?;
        let jwks = to_json(&provider.cache.jwks)?;
        self.conns
            .write(|conn| {
                execute(
                    conn,
                    "INSERT INTO identity_providers (tenant, provider_id, config, client_secret_encrypted, metadata, \
                     metadata_fetched_at, jwks, jwks_fetched_at, created_at, updated_at, issuer, signing_keys, \
                     name_folded) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                    params![
                        provider.tenant.as_str(),
                        provider.provider_id,
                        config,
                        provider.client_secret_encrypted,
                        metadata,
                        ts(provider.cache.metadata_fetched_at),
                        jwks,
                        ts(provider.cache.jwks_fetched_at),
                        ts(provider.created_at),
                        ts(provider.updated_at),
                        provider.cache.issuer(),
                        provider.cache.signing_keys,
                        tessera_store::broker::provider_name_folded(&provider.config),
                    ],
                )
            })
            .await?;
        Ok(())
    }

    async fn get_identity_provider(
        &self,
        tenant: &TenantId,
        provider_id: &str,
    ) -> Result<Option<IdentityProviderRecord>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT tenant, provider_id, config, client_secret_encrypted, metadata, \
                     metadata_fetched_at, jwks, jwks_fetched_at, created_at, updated_at, signing_keys \
                     FROM identity_providers WHERE tenant = ?1 AND provider_id = ?2",
                    [tenant.as_str(), provider_id],
                    ProviderRow::read,
                )
            })
            .await?
            .map(ProviderRow::into_record)
            .transpose()
    }

    async fn list_identity_providers(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<IdentityProviderRecord>> {
        self.conns
            .read(|conn| {
                query_all(
                    conn,
                    "SELECT tenant, provider_id, config, client_secret_encrypted, metadata, \
                     metadata_fetched_at, jwks, jwks_fetched_at, created_at, updated_at, signing_keys \
                     FROM identity_providers WHERE tenant = ?1 ORDER BY provider_id",
                    [tenant.as_str()],
                    ProviderRow::read,
                )
            })
            .await?
            .into_iter()
            .map(ProviderRow::into_record)
            .collect()
    }

    async fn list_identity_provider_summaries(
        &self,
        tenant: &TenantId,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<IdentityProviderSummary>> {
        let tenant = tenant.as_str().to_owned();
        let after = after.unwrap_or("").to_owned();
        let (id_pattern, name_pattern) = tessera_store::broker::provider_prefix_binds(prefix);
        self.conns
            .read(move |conn| {
                query_all(
                    conn,
                    "SELECT provider_id, config, created_at, updated_at, metadata_fetched_at, \
                     client_secret_encrypted IS NOT NULL AS has_client_secret, issuer, signing_keys \
                     FROM identity_providers WHERE tenant = ?1 AND provider_id > ?2 \
                     AND (lower(provider_id) LIKE ?4 ESCAPE '\\' OR name_folded LIKE ?5 ESCAPE '\\') \
                     ORDER BY provider_id LIMIT ?3",
                    rusqlite::params![tenant, after, i64::from(limit), id_pattern, name_pattern],
                    ProviderSummaryRow::read,
                )
            })
            .await?
            .into_iter()
            .map(ProviderSummaryRow::into_summary)
            .collect()
    }

    async fn update_identity_provider(
        &self,
        provider: &IdentityProviderRecord,
        expected: Option<&IdentityProviderRecord>,
    ) -> Result<()> {
        let config = to_json(&provider.config)?;
        let metadata = to_json(&provider.cache.metadata)?;
        let jwks = to_json(&provider.cache.jwks)?;
        let changed = self
            .conns
            .write(|conn| {
                if expected.is_some() {
                    let current = stored_provider(conn, &provider.tenant, &provider.provider_id)?;
                    check_expected(
                        current.as_ref(),
                        expected,
                        IdentityProviderRecord::same_configuration,
                    )?;
                }
                execute(
                    conn,
                    "UPDATE identity_providers SET config = ?3, client_secret_encrypted = ?4, metadata = ?5, \
                     metadata_fetched_at = ?6, jwks = ?7, jwks_fetched_at = ?8, updated_at = ?9, issuer = ?10, \
                     signing_keys = ?11, name_folded = ?12 \
                     WHERE tenant = ?1 AND provider_id = ?2",
                    params![
                        provider.tenant.as_str(),
                        provider.provider_id,
                        config,
                        provider.client_secret_encrypted,
                        metadata,
                        ts(provider.cache.metadata_fetched_at),
                        jwks,
                        ts(provider.cache.jwks_fetched_at),
                        ts(provider.updated_at),
                        provider.cache.issuer(),
                        provider.cache.signing_keys,
                        tessera_store::broker::provider_name_folded(&provider.config),
                    ],
                )
            })
            .await?;
        affected_one(changed)
    }

    async fn refresh_provider_metadata(
        &self,
        tenant: &TenantId,
        provider_id: &str,
        cache: &ProviderCache,
    ) -> Result<()> {
        let metadata = to_json(&cache.metadata)?;
        let jwks = to_json(&cache.jwks)?;
        let changed = self
            .conns
            .write(|conn| {
                execute(
                    conn,
                    "UPDATE identity_providers SET metadata = ?3, metadata_fetched_at = ?4, jwks = ?5, \
                     jwks_fetched_at = ?6, issuer = ?7, signing_keys = ?8 WHERE tenant = ?1 AND provider_id = ?2",
                    params![
                        tenant.as_str(),
                        provider_id,
                        metadata,
                        ts(cache.metadata_fetched_at),
                        jwks,
                        ts(cache.jwks_fetched_at),
                        cache.issuer(),
                        cache.signing_keys,
                    ],
                )
            })
            .await?;
        affected_one(changed)
    }

    async fn delete_identity_provider(
        &self,
        tenant: &TenantId,
        provider_id: &str,
        expected: Option<&IdentityProviderRecord>,
    ) -> Result<()> {
        let changed = self
            .conns
            .write(|conn| {
                if expected.is_some() {
                    let current = stored_provider(conn, tenant, provider_id)?;
                    check_expected(
                        current.as_ref(),
                        expected,
                        IdentityProviderRecord::same_configuration,
                    )?;
                }
                execute(
                    conn,
                    "DELETE FROM identity_providers WHERE tenant = ?1 AND provider_id = ?2",
                    [tenant.as_str(), provider_id],
                )
            })
            .await?;
        affected_one(changed)
    }

    async fn create_flow(&self, flow: &UserFlowRecord, first: &FlowVersionRecord) -> Result<()> {
        if first.number != 1 {
            return Err(StoreError::Conflict);
        }
        let settings = to_json(&first.settings)?;
        self.conns
            .write(|conn| {
                execute(
                    conn,
                    "INSERT INTO user_flows (tenant, policy_key, policy_id, kind, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        flow.tenant.as_str(),
                        flow.policy_key,
                        flow.policy_id,
                        flow.kind,
                        ts(flow.created_at)
                    ],
                )?;
                execute(
                    conn,
                    "INSERT INTO user_flow_versions (tenant, policy_key, number, created_at, settings) \
                     VALUES (?1, ?2, 1, ?3, ?4)",
                    params![flow.tenant.as_str(), flow.policy_key, ts(first.created_at), settings],
                )?;
                Ok(())
            })
            .await
    }

    async fn get_flow(
        &self,
        tenant: &TenantId,
        policy_key: &str,
    ) -> Result<Option<UserFlowRecord>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT tenant, policy_key, policy_id, kind, created_at \
                     FROM user_flows WHERE tenant = ?1 AND policy_key = ?2",
                    [tenant.as_str(), policy_key],
                    FlowRow::read,
                )
            })
            .await?
            .map(FlowRow::into_record)
            .transpose()
    }

    async fn list_flows(&self, tenant: &TenantId) -> Result<Vec<UserFlowRecord>> {
        self.conns
            .read(|conn| {
                query_all(
                    conn,
                    "SELECT tenant, policy_key, policy_id, kind, created_at \
                     FROM user_flows WHERE tenant = ?1 ORDER BY policy_key",
                    [tenant.as_str()],
                    FlowRow::read,
                )
            })
            .await?
            .into_iter()
            .map(FlowRow::into_record)
            .collect()
    }

    async fn append_flow_version(
        &self,
        tenant: &TenantId,
        policy_key: &str,
        expected_last: u32,
        version: &FlowVersionRecord,
    ) -> Result<()> {
        if expected_last.checked_add(1) != Some(version.number) {
            return Err(StoreError::Conflict);
        }
        let settings = to_json(&version.settings)?;
        self.conns
            .write(|conn| {
                let inserted = execute(
                    conn,
                    "INSERT INTO user_flow_versions (tenant, policy_key, number, created_at, settings) \
                     SELECT ?1, ?2, ?3, ?4, ?5 WHERE (SELECT MAX(number) FROM user_flow_versions \
                                                      WHERE tenant = ?1 AND policy_key = ?2) = ?6",
                    params![
                        tenant.as_str(),
                        policy_key,
                        i64::from(version.number),
                        ts(version.created_at),
                        settings,
                        i64::from(expected_last),
                    ],
                )?;
                if inserted > 0 {
                    Ok(())
                } else if flow_exists(conn, tenant, policy_key)? {
                    Err(StoreError::Conflict)
                } else {
                    Err(StoreError::NotFound)
                }
            })
            .await
    }

    async fn get_flow_version(
        &self,
        tenant: &TenantId,
        policy_key: &str,
        number: u32,
    ) -> Result<Option<FlowVersionRecord>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT number, created_at, settings FROM user_flow_versions \
                     WHERE tenant = ?1 AND policy_key = ?2 AND number = ?3",
                    params![tenant.as_str(), policy_key, i64::from(number)],
                    FlowVersionRow::read,
                )
            })
            .await?
            .map(FlowVersionRow::into_record)
            .transpose()
    }

    async fn get_current_flow_version(
        &self,
        tenant: &TenantId,
        policy_key: &str,
    ) -> Result<Option<FlowVersionRecord>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT number, created_at, settings FROM user_flow_versions \
                     WHERE tenant = ?1 AND policy_key = ?2 ORDER BY number DESC LIMIT 1",
                    [tenant.as_str(), policy_key],
                    FlowVersionRow::read,
                )
            })
            .await?
            .map(FlowVersionRow::into_record)
            .transpose()
    }

    async fn list_flow_versions(
        &self,
        tenant: &TenantId,
        policy_key: &str,
    ) -> Result<Vec<FlowVersionRecord>> {
        self.conns
            .read(|conn| {
                query_all(
                    conn,
                    "SELECT number, created_at, settings FROM user_flow_versions \
                     WHERE tenant = ?1 AND policy_key = ?2 ORDER BY number",
                    [tenant.as_str(), policy_key],
                    FlowVersionRow::read,
                )
            })
            .await?
            .into_iter()
            .map(FlowVersionRow::into_record)
            .collect()
    }

    async fn delete_flow(&self, tenant: &TenantId, policy_key: &str) -> Result<()> {
        let changed = self
            .conns
            .write(|conn| {
                execute(
                    conn,
                    "DELETE FROM user_flow_versions WHERE tenant = ?1 AND policy_key = ?2",
                    [tenant.as_str(), policy_key],
                )?;
                execute(
                    conn,
                    "DELETE FROM user_flows WHERE tenant = ?1 AND policy_key = ?2",
                    [tenant.as_str(), policy_key],
                )
            })
            .await?;
        affected_one(changed)
    }

    /// In process memory with the ceremonies (`ephemeral`), not in the database: SQLite is the single-node store,
    /// so the provider's answer always reaches this process, and a transaction lives minutes and is taken once
    /// within a sign-in. In the table it cost two writes per federated sign-in (insert, then delete) for nothing a
    /// restart needs: a transaction interrupted by a restart is refused like an expired one and the user starts
    /// the sign-in again. (The table of migration 0010 is kept, empty, and still purged.)
    async fn put_broker_transaction(
        &self,
        tenant: &TenantId,
        state_hash: &[u8],
        payload: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        // The clock only decides which values a full map sweeps first (see `Ephemeral::put_ceremony`).
        self.ephemeral.put_ceremony(
            tenant,
            &transaction_id(state_hash),
            TRANSACTION_KIND,
            payload.to_vec(),
            expires_at,
            OffsetDateTime::now_utc(),
        )
    }

    async fn take_broker_transaction(
        &self,
        tenant: &TenantId,
        state_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>> {
        self.ephemeral
            .take_ceremony(tenant, &transaction_id(state_hash), TRANSACTION_KIND, now)
    }

    async fn put_pending_signup(
        &self,
        tenant: &TenantId,
        handle_hash: &[u8],
        payload: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        self.conns
            .write(|conn| {
                execute(
                    conn,
                    "INSERT INTO pending_signups (tenant, handle_hash, payload, expires_at) VALUES (?1, ?2, ?3, ?4)",
                    params![tenant.as_str(), handle_hash, payload, ts(expires_at)],
                )
            })
            .await?;
        Ok(())
    }

    async fn take_pending_signup(
        &self,
        tenant: &TenantId,
        handle_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>> {
        self.conns
            .write(|conn| {
                query_one(
                    conn,
                    "DELETE FROM pending_signups WHERE tenant = ?1 AND handle_hash = ?2 AND expires_at > ?3 \
                     RETURNING payload",
                    params![tenant.as_str(), handle_hash, ts(now)],
                    |row| row.get(0),
                )
            })
            .await
    }

    async fn find_user_by_identity(
        &self,
        tenant: &TenantId,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<DirectoryUserRecord>> {
        self.read_directory_user(
            concat!(
                directory_user_select!(),
                "JOIN directory_identities f ON f.tenant = u.tenant AND f.object_id = u.object_id \
                 WHERE f.tenant = ?1 AND f.issuer = ?2 AND f.subject = ?3"
            ),
            [tenant.as_str(), issuer, subject],
        )
        .await
    }

    async fn get_directory_user(
        &self,
        tenant: &TenantId,
        object_id: &UserId,
    ) -> Result<Option<DirectoryUserRecord>> {
        self.read_directory_user(
            concat!(
                directory_user_select!(),
                "WHERE u.tenant = ?1 AND u.object_id = ?2"
            ),
            [tenant.as_str(), object_id.as_str()],
        )
        .await
    }

    async fn create_user_with_identity(
        &self,
        user: &DirectoryUserRecord,
        identity: &DirectoryIdentity,
    ) -> Result<()> {
        let custom = to_json(&user.custom)?;
        self.conns
            // The store runs every write in its own savepoint: an error undoes all of it.
            .write(|conn| insert_user_with_identity(conn, user, identity, &custom))
            .await
    }

    async fn record_broker_sign_in(
        &self,
        tenant: &TenantId,
        object_id: &UserId,
        at: OffsetDateTime,
    ) -> Result<()> {
        self.conns
            .write(|conn| {
                require_enabled_user(conn, tenant, object_id)?;
                execute(
                    conn,
                    "UPDATE directory_users SET last_sign_in_at = ?3 WHERE tenant = ?1 AND object_id = ?2",
                    params![tenant.as_str(), object_id.as_str(), ts(at)],
                )?;
                Ok(())
            })
            .await
    }

    async fn search_directory_users(
        &self,
        tenant: &TenantId,
        query: &str,
        status: Option<tessera_store::AccountStatus>,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<DirectoryPage> {
        let pattern = prefix_pattern(query);
        let disabled = tessera_store::filters::status_bind(status);
        let limit = limit.max(1);
        // One row more than the page tells whether there is a next one. Ids are never empty: "" precedes them all.
        let rows = self
            .conns
            .read(|conn| {
                query_all(
                    conn,
                    concat!(
                        directory_user_select!(),
                        "WHERE u.tenant = ?1 AND u.object_id > ?2 AND (?3 = '%' \
                           OR u.email_folded LIKE ?3 ESCAPE '\\' OR u.display_name_folded LIKE ?3 ESCAPE '\\' \
                           OR u.given_name_folded LIKE ?3 ESCAPE '\\' OR u.surname_folded LIKE ?3 ESCAPE '\\') \
                         AND (?5 IS NULL OR (u.disabled_at IS NOT NULL) = ?5) \
                         ORDER BY u.object_id LIMIT ?4"
                    ),
                    params![
                        tenant.as_str(),
                        after.map_or("", UserId::as_str),
                        pattern,
                        i64::from(limit) + 1,
                        disabled
                    ],
                    DirectoryUserRow::read,
                )
            })
            .await?;
        let mut users = rows
            .into_iter()
            .map(DirectoryUserRow::into_record)
            .collect::<Result<Vec<_>>>()?;
        let more = users.len() > limit as usize;
        users.truncate(limit as usize);
        let next = if more {
            users.last().map(|user| user.object_id.clone())
        } else {
            None
        };
        Ok(DirectoryPage { users, next })
    }

    async fn disable_directory_user(
        &self,
        tenant: &TenantId,
        object_id: &UserId,
        at: OffsetDateTime,
        expected: Option<&DirectoryUserRecord>,
    ) -> Result<()> {
        let key = [tenant.as_str(), object_id.as_str()];
        self.conns
            .write(|conn| {
                // The store runs every write in its own savepoint: an error undoes all of it.
                guard_directory_user(conn, tenant, object_id, expected)?;
                affected_one(execute(
                    conn,
                    "UPDATE directory_users SET disabled_at = COALESCE(disabled_at, ?3) \
                     WHERE tenant = ?1 AND object_id = ?2",
                    params![tenant.as_str(), object_id.as_str(), ts(at)],
                )?)?;
                execute(
                    conn,
                    "DELETE FROM broker_sessions WHERE tenant = ?1 AND object_id = ?2",
                    key,
                )?;
                execute(
                    conn,
                    "DELETE FROM broker_refresh_tokens WHERE tenant = ?1 AND object_id = ?2",
                    key,
                )?;
                Ok(())
            })
            .await
    }

    async fn enable_directory_user(
        &self,
        tenant: &TenantId,
        object_id: &UserId,
        expected: Option<&DirectoryUserRecord>,
    ) -> Result<()> {
        let changed = self
            .conns
            .write(|conn| {
                guard_directory_user(conn, tenant, object_id, expected)?;
                execute(
                    conn,
                    "UPDATE directory_users SET disabled_at = NULL WHERE tenant = ?1 AND object_id = ?2",
                    [tenant.as_str(), object_id.as_str()],
                )
            })
            .await?;
        affected_one(changed)
    }

    async fn delete_directory_user(
        &self,
        tenant: &TenantId,
        object_id: &UserId,
        expected: Option<&DirectoryUserRecord>,
    ) -> Result<()> {
        let changed = self
            .conns
            .write(|conn| {
                guard_directory_user(conn, tenant, object_id, expected)?;
                // Identities, sessions and refresh tokens go with the user (ON DELETE CASCADE).
                execute(
                    conn,
                    "DELETE FROM directory_users WHERE tenant = ?1 AND object_id = ?2",
                    [tenant.as_str(), object_id.as_str()],
                )
            })
            .await?;
        affected_one(changed)
    }

    async fn create_broker_session(&self, session: &BrokerSession) -> Result<()> {
        self.conns
            .write(|conn| {
                require_enabled_user(conn, &session.tenant, &session.object_id)?;
                insert_broker_session(conn, session)
            })
            .await
    }

    async fn get_broker_session(
        &self,
        tenant: &TenantId,
        id_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<BrokerSession>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT tenant, id_hash, sid, object_id, auth_time, payload, expires_at \
                     FROM broker_sessions WHERE tenant = ?1 AND id_hash = ?2 AND expires_at > ?3",
                    params![tenant.as_str(), id_hash, ts(now)],
                    BrokerSessionRow::read,
                )
            })
            .await?
            .map(BrokerSessionRow::into_record)
            .transpose()
    }

    async fn delete_broker_session(&self, tenant: &TenantId, id_hash: &[u8]) -> Result<()> {
        self.conns
            .write(|conn| {
                execute(
                    conn,
                    "DELETE FROM broker_sessions WHERE tenant = ?1 AND id_hash = ?2",
                    params![tenant.as_str(), id_hash],
                )
            })
            .await?;
        Ok(())
    }

    async fn put_broker_auth_code(&self, code: &AuthCode) -> Result<()> {
        self.conns
            .write(|conn| insert_broker_code(conn, code))
            .await
    }

    async fn start_broker_session(
        &self,
        session: &BrokerSession,
        code: &AuthCode,
        at: OffsetDateTime,
    ) -> Result<()> {
        self.conns
            .write(|conn| {
                require_enabled_user(conn, &session.tenant, &session.object_id)?;
                execute(
                    conn,
                    "UPDATE directory_users SET last_sign_in_at = ?3 WHERE tenant = ?1 AND object_id = ?2",
                    params![session.tenant.as_str(), session.object_id.as_str(), ts(at)],
                )?;
                insert_broker_session(conn, session)?;
                insert_broker_code(conn, code)
            })
            .await
    }

    async fn sign_up_broker_user(
        &self,
        user: &DirectoryUserRecord,
        identity: &DirectoryIdentity,
        session: &BrokerSession,
        code: &AuthCode,
        at: OffsetDateTime,
    ) -> Result<()> {
        let custom = to_json(&user.custom)?;
        self.conns
            .write(|conn| {
                insert_user_with_identity(conn, user, identity, &custom)?;
                execute(
                    conn,
                    "UPDATE directory_users SET last_sign_in_at = ?3 WHERE tenant = ?1 AND object_id = ?2",
                    params![user.tenant.as_str(), user.object_id.as_str(), ts(at)],
                )?;
                insert_broker_session(conn, session)?;
                insert_broker_code(conn, code)
            })
            .await
    }

    async fn consume_broker_auth_code(
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
                    "UPDATE broker_auth_codes SET redeemed_at = ?3 \
                     WHERE tenant = ?1 AND code_hash = ?2 AND redeemed_at IS NULL AND expires_at > ?3 \
                     RETURNING tenant, code_hash, client_id, grant_id, payload, expires_at",
                    params![tenant.as_str(), code_hash, ts(now)],
                    AuthCodeRow::read,
                )?;
                if redeemed.is_some() {
                    return Ok((redeemed, None));
                }
                let spent: Option<String> = query_one(
                    conn,
                    "SELECT grant_id FROM broker_auth_codes \
                     WHERE tenant = ?1 AND code_hash = ?2 AND redeemed_at IS NOT NULL",
                    params![tenant.as_str(), code_hash],
                    |row| row.get(0),
                )?;
                Ok((None, spent))
            })
            .await?;
        Ok(match (redeemed, spent) {
            (Some(row), _) => CodeRedemption::Redeemed(row.into_record()?),
            (None, Some(grant_id)) => CodeRedemption::AlreadyRedeemed { grant_id },
            (None, None) => CodeRedemption::NotFound,
        })
    }

    async fn put_broker_refresh_token(&self, token: &RefreshToken) -> Result<()> {
        self.conns
            .write(|conn| insert_refresh_token(conn, token))
            .await
    }

    async fn get_broker_refresh_token(
        &self,
        tenant: &TenantId,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<RefreshToken>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    concat!(
                        "SELECT ",
                        refresh_columns!(),
                        " FROM broker_refresh_tokens t WHERE tenant = ?1 AND token_hash = ?2 AND expires_at > ?3 \
                         AND NOT EXISTS (SELECT 1 FROM broker_revoked_grants r \
                                         WHERE r.tenant = ?1 AND r.grant_id = t.grant_id)"
                    ),
                    params![tenant.as_str(), token_hash, ts(now)],
                    TokenRow::read,
                )
            })
            .await?
            .map(TokenRow::into_refresh)
            .transpose()
    }

    async fn rotate_broker_refresh_token(
        &self,
        tenant: &TenantId,
        old_hash: &[u8],
        new: &RefreshToken,
        now: OffsetDateTime,
    ) -> Result<RefreshRotation> {
        if new.tenant != *tenant {
            return Err(StoreError::Conflict);
        }
        let (rotated, reused) = self
            .conns
            .write(|conn| {
                // The store runs every write in its own savepoint: an error undoes all of it.
                let spent = query_one(
                    conn,
                    concat!(
                        "UPDATE broker_refresh_tokens SET rotated_at = ?3 \
                         WHERE tenant = ?1 AND token_hash = ?2 AND rotated_at IS NULL AND expires_at > ?3 \
                         RETURNING ",
                        refresh_columns!()
                    ),
                    params![tenant.as_str(), old_hash, ts(now)],
                    TokenRow::read,
                )?;
                if let Some(old) = spent {
                    insert_refresh_token(conn, new)?;
                    return Ok((Some(old), None));
                }
                let reused: Option<String> = query_one(
                    conn,
                    "SELECT grant_id FROM broker_refresh_tokens \
                     WHERE tenant = ?1 AND token_hash = ?2 AND rotated_at IS NOT NULL",
                    params![tenant.as_str(), old_hash],
                    |row| row.get(0),
                )?;
                if let Some(grant_id) = &reused {
                    revoke_grant_in(conn, tenant, grant_id, now)?;
                }
                Ok((None, reused))
            })
            .await?;
        Ok(match (rotated, reused) {
            (Some(old), _) => RefreshRotation::Rotated(old.into_refresh()?),
            (None, Some(grant_id)) => RefreshRotation::Reused { grant_id },
            (None, None) => RefreshRotation::NotFound,
        })
    }

    async fn revoke_broker_grant(
        &self,
        tenant: &TenantId,
        grant_id: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.conns
            .write(|conn| revoke_grant_in(conn, tenant, grant_id, now))
            .await
    }

    async fn sign_up_local_user(
        &self,
        user: &DirectoryUserRecord,
        identity: &DirectoryIdentity,
        credential: &LocalCredential,
        session: &BrokerSession,
        code: &AuthCode,
        at: OffsetDateTime,
    ) -> Result<()> {
        if credential.tenant != user.tenant || credential.object_id != user.object_id {
            return Err(StoreError::Conflict);
        }
        let custom = to_json(&user.custom)?;
        self.conns
            .write(|conn| {
                insert_user_with_identity(conn, user, identity, &custom)?;
                insert_local_credential(conn, credential)?;
                execute(
                    conn,
                    "UPDATE directory_users SET last_sign_in_at = ?3 WHERE tenant = ?1 AND object_id = ?2",
                    params![user.tenant.as_str(), user.object_id.as_str(), ts(at)],
                )?;
                insert_broker_session(conn, session)?;
                insert_broker_code(conn, code)
            })
            .await
    }

    async fn recover_local_account(
        &self,
        credential: &LocalCredential,
        remove_others: bool,
        session: &BrokerSession,
        code: &AuthCode,
        at: OffsetDateTime,
    ) -> Result<()> {
        if credential.tenant != session.tenant || credential.object_id != session.object_id {
            return Err(StoreError::Conflict);
        }
        self.conns
            .write(|conn| {
                require_enabled_user(conn, &session.tenant, &session.object_id)?;
                insert_local_credential(conn, credential)?;
                if remove_others {
                    execute(
                        conn,
                        "DELETE FROM broker_local_credentials \
                         WHERE tenant = ?1 AND object_id = ?2 AND credential_id <> ?3",
                        params![
                            credential.tenant.as_str(),
                            credential.object_id.as_str(),
                            credential.credential_id
                        ],
                    )?;
                }
                execute(
                    conn,
                    "UPDATE directory_users SET last_sign_in_at = ?3 WHERE tenant = ?1 AND object_id = ?2",
                    params![session.tenant.as_str(), session.object_id.as_str(), ts(at)],
                )?;
                insert_broker_session(conn, session)?;
                insert_broker_code(conn, code)
            })
            .await
    }

    async fn get_local_credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
    ) -> Result<Option<LocalCredential>> {
        let sql = format!(
            "SELECT {LOCAL_CREDENTIAL_COLUMNS} FROM broker_local_credentials \
             WHERE tenant = ?1 AND credential_id = ?2"
        );
        self.conns
            .read(move |conn| {
                query_one(
                    conn,
                    &sql,
                    params![tenant.as_str(), credential_id],
                    LocalCredentialRow::read,
                )
            })
            .await?
            .map(LocalCredentialRow::into_record)
            .transpose()
    }

    async fn list_local_credentials(
        &self,
        tenant: &TenantId,
        object_id: &UserId,
    ) -> Result<Vec<LocalCredential>> {
        let sql = format!(
            "SELECT {LOCAL_CREDENTIAL_COLUMNS} FROM broker_local_credentials \
             WHERE tenant = ?1 AND object_id = ?2 ORDER BY created_at, credential_id"
        );
        self.conns
            .read(move |conn| {
                query_all(
                    conn,
                    &sql,
                    [tenant.as_str(), object_id.as_str()],
                    LocalCredentialRow::read,
                )
            })
            .await?
            .into_iter()
            .map(LocalCredentialRow::into_record)
            .collect()
    }

    async fn record_local_credential_use(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
        expected_old: u32,
        new: u32,
        backup_state: bool,
        at: OffsetDateTime,
    ) -> Result<bool> {
        let changed = self
            .conns
            .write(|conn| {
                execute(
                    conn,
                    "UPDATE broker_local_credentials SET sign_count = ?4, backup_state = ?5, last_used_at = ?6 \
                     WHERE tenant = ?1 AND credential_id = ?2 AND sign_count = ?3",
                    params![
                        tenant.as_str(),
                        credential_id,
                        i64::from(expected_old),
                        i64::from(new),
                        backup_state,
                        ts(at)
                    ],
                )
            })
            .await?;
        Ok(changed == 1)
    }

    async fn count_code_send(
        &self,
        tenant: &TenantId,
        key_hash: &[u8],
        window: time::Duration,
        limit: u32,
        now: OffsetDateTime,
    ) -> Result<bool> {
        self.conns
            .write(|conn| {
                let current: Option<(i64, i64)> = query_one(
                    conn,
                    "SELECT sent, expires_at FROM broker_code_sends WHERE tenant = ?1 AND key_hash = ?2",
                    params![tenant.as_str(), key_hash],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )?;
                match current {
                    Some((sent, expires_at)) if expires_at > ts(now) => {
                        if sent >= i64::from(limit) {
                            return Ok(false);
                        }
                        execute(
                            conn,
                            "UPDATE broker_code_sends SET sent = sent + 1 WHERE tenant = ?1 AND key_hash = ?2",
                            params![tenant.as_str(), key_hash],
                        )?;
                        Ok(true)
                    }
                    _ if limit == 0 => Ok(false),
                    _ => {
                        execute(
                            conn,
                            "INSERT INTO broker_code_sends (tenant, key_hash, window_start, sent, expires_at) \
                             VALUES (?1, ?2, ?3, 1, ?4) \
                             ON CONFLICT (tenant, key_hash) DO UPDATE SET window_start = excluded.window_start, \
                             sent = 1, expires_at = excluded.expires_at",
                            params![tenant.as_str(), key_hash, ts(now), ts(now + window)],
                        )?;
                        Ok(true)
                    }
                }
            })
            .await
    }

    async fn purge_expired_broker(&self, now: OffsetDateTime, batch: u32) -> Result<u64> {
        let now_ts = ts(now);
        let codes_before = ts(now - REDEEMED_CODE_RETENTION);
        let grants_before = ts(now - REVOKED_GRANT_RETENTION);
        let batch = i64::from(batch);
        let statements = [
            (
                "DELETE FROM broker_transactions WHERE (tenant, state_hash) IN \
                 (SELECT tenant, state_hash FROM broker_transactions WHERE expires_at <= ?1 LIMIT ?2)",
                now_ts,
            ),
            (
                "DELETE FROM pending_signups WHERE (tenant, handle_hash) IN \
                 (SELECT tenant, handle_hash FROM pending_signups WHERE expires_at <= ?1 LIMIT ?2)",
                now_ts,
            ),
            (
                "DELETE FROM broker_sessions WHERE (tenant, id_hash) IN \
                 (SELECT tenant, id_hash FROM broker_sessions WHERE expires_at <= ?1 LIMIT ?2)",
                now_ts,
            ),
            (
                "DELETE FROM broker_auth_codes WHERE (tenant, code_hash) IN \
                 (SELECT tenant, code_hash FROM broker_auth_codes WHERE expires_at <= ?1 LIMIT ?2)",
                codes_before,
            ),
            (
                "DELETE FROM broker_refresh_tokens WHERE (tenant, token_hash) IN \
                 (SELECT tenant, token_hash FROM broker_refresh_tokens WHERE expires_at <= ?1 LIMIT ?2)",
                now_ts,
            ),
            (
                "DELETE FROM broker_revoked_grants WHERE rowid IN \
                 (SELECT rowid FROM broker_revoked_grants WHERE revoked_at <= ?1 LIMIT ?2)",
                grants_before,
            ),
            (
                "DELETE FROM broker_code_sends WHERE (tenant, key_hash) IN \
                 (SELECT tenant, key_hash FROM broker_code_sends WHERE expires_at <= ?1 LIMIT ?2)",
                now_ts,
            ),
        ];
        let transactions = self.ephemeral.purge_kind(
            TRANSACTION_KIND,
            now,
            usize::try_from(batch).unwrap_or(0),
        )?;
        Ok(transactions + self.purge_bounded(&statements, batch).await?)
    }
}
