//! [`BrokerStore`] on PostgreSQL: the identity broker's tables of migration 0010.
//!
//! Single-use values (transactions, pending sign-ups, codes, refresh tokens) are consumed by one conditional
//! `DELETE`/`UPDATE ... RETURNING`, which under READ COMMITTED re-checks its condition on the newest row version, so
//! one caller on any node wins. Appending a flow version relies on the key `(tenant, policy_key, number)`: two
//! appends of one number conflict. A session or refresh token is inserted only after locking its user's row
//! (`FOR SHARE`), so it cannot slip past a concurrent disable, whose `UPDATE` of that row waits for it (or it waits
//! for the disable and then sees the user disabled).

use crate::convert::db;
use crate::rows::{AuthCodeRow, SigningKeyRow, TokenRow};
use crate::{PostgresStore, affected_one};
use async_trait::async_trait;
use sqlx::postgres::PgConnection;
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

#[derive(sqlx::FromRow)]
struct BrokerTenantRow {
    id: String,
    display_name: String,
    created_at: OffsetDateTime,
    revision: i64,
}

impl BrokerTenantRow {
    fn into_record(self) -> Result<BrokerTenant> {
        Ok(BrokerTenant {
            id: tenant_id(&self.id)?,
            display_name: self.display_name,
            created_at: self.created_at,
            revision: revision(self.revision)?,
        })
    }
}

/// Everything of a broker tenant but its row, deleted with it (`$1` is the tenant).
const BROKER_TENANT_DELETE: [&str; 15] = [
    "DELETE FROM broker_transactions WHERE tenant = $1",
    "DELETE FROM broker_code_sends WHERE tenant = $1",
    "DELETE FROM broker_local_credentials WHERE tenant = $1",
    "DELETE FROM pending_signups WHERE tenant = $1",
    "DELETE FROM broker_auth_codes WHERE tenant = $1",
    "DELETE FROM broker_refresh_tokens WHERE tenant = $1",
    "DELETE FROM broker_revoked_grants WHERE tenant = $1",
    "DELETE FROM broker_sessions WHERE tenant = $1",
    "DELETE FROM directory_identities WHERE tenant = $1",
    "DELETE FROM directory_users WHERE tenant = $1",
    "DELETE FROM user_flow_versions WHERE tenant = $1",
    "DELETE FROM user_flows WHERE tenant = $1",
    "DELETE FROM identity_providers WHERE tenant = $1",
    "DELETE FROM broker_applications WHERE tenant = $1",
    "DELETE FROM broker_signing_keys WHERE tenant = $1",
];

#[derive(sqlx::FromRow)]
struct ApplicationRow {
    tenant: String,
    client_id: String,
    secret_hash: Option<Vec<u8>>,
    settings: serde_json::Value,
    created_at: OffsetDateTime,
}

impl ApplicationRow {
    fn into_record(self) -> Result<BrokerApplication> {
        Ok(BrokerApplication {
            tenant: tenant_id(&self.tenant)?,
            client_id: client_id(&self.client_id)?,
            secret_hash: self.secret_hash,
            settings: self.settings,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ProviderRow {
    tenant: String,
    provider_id: String,
    config: serde_json::Value,
    client_secret_encrypted: Option<Vec<u8>>,
    metadata: serde_json::Value,
    metadata_fetched_at: OffsetDateTime,
    jwks: serde_json::Value,
    jwks_fetched_at: OffsetDateTime,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    signing_keys: Option<i32>,
}

/// A stored key count (never negative; a damaged one is corrupt, not zero).
fn key_count(stored: Option<i32>) -> Result<Option<u32>> {
    stored
        .map(|n| {
            u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("signing key count {n}")))
        })
        .transpose()
}

/// A key count as stored.
fn stored_key_count(count: Option<u32>) -> Result<Option<i32>> {
    count
        .map(|n| {
            i32::try_from(n).map_err(|_| StoreError::Corrupt(format!("signing key count {n}")))
        })
        .transpose()
}

impl ProviderRow {
    fn into_record(self) -> Result<IdentityProviderRecord> {
        Ok(IdentityProviderRecord {
            tenant: tenant_id(&self.tenant)?,
            provider_id: self.provider_id,
            config: self.config,
            client_secret_encrypted: self.client_secret_encrypted,
            cache: ProviderCache {
                metadata: self.metadata,
                metadata_fetched_at: self.metadata_fetched_at,
                jwks: self.jwks,
                jwks_fetched_at: self.jwks_fetched_at,
                signing_keys: key_count(self.signing_keys)?,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ProviderSummaryRow {
    provider_id: String,
    config: serde_json::Value,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    metadata_fetched_at: OffsetDateTime,
    has_client_secret: bool,
    issuer: Option<String>,
    signing_keys: Option<i32>,
}

impl ProviderSummaryRow {
    fn into_summary(self) -> Result<IdentityProviderSummary> {
        Ok(IdentityProviderSummary {
            provider_id: self.provider_id,
            config: self.config,
            created_at: self.created_at,
            updated_at: self.updated_at,
            metadata_fetched_at: self.metadata_fetched_at,
            has_client_secret: self.has_client_secret,
            issuer: self.issuer,
            signing_keys: key_count(self.signing_keys)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct FlowRow {
    tenant: String,
    policy_key: String,
    policy_id: String,
    kind: String,
    created_at: OffsetDateTime,
}

impl FlowRow {
    fn into_record(self) -> Result<UserFlowRecord> {
        Ok(UserFlowRecord {
            tenant: tenant_id(&self.tenant)?,
            policy_key: self.policy_key,
            policy_id: self.policy_id,
            kind: self.kind,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct FlowVersionRow {
    number: i64,
    created_at: OffsetDateTime,
    settings: serde_json::Value,
}

impl FlowVersionRow {
    fn into_record(self) -> Result<FlowVersionRecord> {
        Ok(FlowVersionRecord {
            number: u32::try_from(self.number).map_err(|_| {
                StoreError::Corrupt(format!("flow version {} out of range", self.number))
            })?,
            created_at: self.created_at,
            settings: self.settings,
        })
    }
}

/// `SELECT` of the columns of `broker_local_credentials`, in [`LocalCredentialRow`]'s order.
macro_rules! local_credential_select {
    () => {
        "SELECT tenant, credential_id, object_id, user_handle, public_key, alg, sign_count, uv_initialized, \
         backup_eligible, backup_state, transports, created_at, last_used_at FROM broker_local_credentials "
    };
}

#[derive(sqlx::FromRow)]
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
    transports: serde_json::Value,
    created_at: OffsetDateTime,
    last_used_at: Option<OffsetDateTime>,
}

impl LocalCredentialRow {
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
            transports: serde_json::from_value(self.transports)
                .map_err(|e| StoreError::Corrupt(format!("transports: {e}")))?,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct DirectoryUserRow {
    tenant: String,
    object_id: String,
    display_name: Option<String>,
    given_name: Option<String>,
    surname: Option<String>,
    email: Option<String>,
    custom: serde_json::Value,
    identities: serde_json::Value,
    created_at: OffsetDateTime,
    last_sign_in_at: Option<OffsetDateTime>,
    disabled_at: Option<OffsetDateTime>,
}

impl DirectoryUserRow {
    fn into_record(self) -> Result<DirectoryUserRecord> {
        let pairs: Vec<(String, String)> = serde_json::from_value(self.identities)
            .map_err(|e| StoreError::Corrupt(format!("identities: {e}")))?;
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
            custom: self.custom,
            identities,
            created_at: self.created_at,
            last_sign_in_at: self.last_sign_in_at,
            disabled_at: self.disabled_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct BrokerSessionRow {
    tenant: String,
    id_hash: Vec<u8>,
    sid: String,
    object_id: String,
    auth_time: OffsetDateTime,
    payload: Vec<u8>,
    expires_at: OffsetDateTime,
}

impl BrokerSessionRow {
    fn into_record(self) -> Result<BrokerSession> {
        Ok(BrokerSession {
            id_hash: self.id_hash,
            tenant: tenant_id(&self.tenant)?,
            object_id: user_id(&self.object_id)?,
            sid: self.sid,
            auth_time: self.auth_time,
            payload: self.payload,
            expires_at: self.expires_at,
        })
    }
}

/// The columns of a directory user with their identities as a JSON array of `[issuer, subject]`, from `u`.
macro_rules! directory_user_select {
    () => {
        "SELECT u.tenant, u.object_id, u.display_name, u.given_name, u.surname, u.email, u.custom, u.created_at, \
         u.last_sign_in_at, u.disabled_at, \
         (SELECT COALESCE(jsonb_agg(jsonb_build_array(i.issuer, i.subject)), '[]'::jsonb) \
          FROM directory_identities i WHERE i.tenant = u.tenant AND i.object_id = u.object_id) AS identities \
         FROM directory_users u "
    };
}

/// The columns of a broker refresh token, as [`TokenRow`] reads them.
macro_rules! refresh_columns {
    () => {
        "tenant, token_hash, client_id, grant_id, object_id AS user_id, scope, payload, expires_at"
    };
}

async fn insert_signing_key(conn: &mut PgConnection, key: &SigningKey) -> Result<()> {
    sqlx::query(
        "INSERT INTO broker_signing_keys (tenant, kid, alg, private_key_encrypted, public_jwk, created_at, \
         retired_at, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(key.tenant.as_str())
    .bind(&key.kid)
    .bind(&key.alg)
    .bind(&key.private_key_encrypted)
    .bind(&key.public_jwk)
    .bind(key.created_at)
    .bind(key.retired_at)
    .bind(key.status.as_str())
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// The stored application, locked until the transaction ends (the guard of a conditional write).
async fn locked_application(
    conn: &mut PgConnection,
    tenant: &TenantId,
    client_id: &ClientId,
) -> Result<Option<BrokerApplication>> {
    sqlx::query_as::<_, ApplicationRow>(
        "SELECT * FROM broker_applications WHERE tenant = $1 AND client_id = $2 FOR UPDATE",
    )
    .bind(tenant.as_str())
    .bind(client_id.as_str())
    .fetch_optional(conn)
    .await
    .map_err(db)?
    .map(ApplicationRow::into_record)
    .transpose()
}

/// The stored identity provider, locked until the transaction ends (the guard of a conditional write).
async fn locked_provider(
    conn: &mut PgConnection,
    tenant: &TenantId,
    provider_id: &str,
) -> Result<Option<IdentityProviderRecord>> {
    sqlx::query_as::<_, ProviderRow>(
        "SELECT * FROM identity_providers WHERE tenant = $1 AND provider_id = $2 FOR UPDATE",
    )
    .bind(tenant.as_str())
    .bind(provider_id)
    .fetch_optional(conn)
    .await
    .map_err(db)?
    .map(ProviderRow::into_record)
    .transpose()
}

/// The guard of a conditional write of a directory user: locks the user's row until the transaction ends, then
/// `NotFound` without the user, `Changed` if `expected` is given and the stored user differs from it.
async fn guard_directory_user(
    conn: &mut PgConnection,
    tenant: &TenantId,
    object_id: &UserId,
    expected: Option<&DirectoryUserRecord>,
) -> Result<()> {
    if expected.is_none() {
        return Ok(());
    }
    let locked = sqlx::query(
        "SELECT 1 FROM directory_users WHERE tenant = $1 AND object_id = $2 FOR UPDATE",
    )
    .bind(tenant.as_str())
    .bind(object_id.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    if locked.is_none() {
        return Err(StoreError::NotFound);
    }
    let current = sqlx::query_as::<_, DirectoryUserRow>(concat!(
        directory_user_select!(),
        "WHERE u.tenant = $1 AND u.object_id = $2"
    ))
    .bind(tenant.as_str())
    .bind(object_id.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?
    .map(DirectoryUserRow::into_record)
    .transpose()?;
    check_expected(current.as_ref(), expected, PartialEq::eq)
}

/// Locks the user's row against a concurrent disable (`FOR SHARE`) and checks that they are enabled: `Conflict` if
/// disabled, `NotFound` if absent.
async fn lock_enabled_user(
    conn: &mut PgConnection,
    tenant: &TenantId,
    object_id: &UserId,
) -> Result<()> {
    let disabled: Option<Option<OffsetDateTime>> = sqlx::query_scalar(
        "SELECT disabled_at FROM directory_users WHERE tenant = $1 AND object_id = $2 FOR SHARE",
    )
    .bind(tenant.as_str())
    .bind(object_id.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    match disabled {
        None => Err(StoreError::NotFound),
        Some(Some(_)) => Err(StoreError::Conflict),
        Some(None) => Ok(()),
    }
}

/// Inserts a refresh token (its user already locked) unless its grant was revoked (`Conflict`).
async fn insert_refresh_token(conn: &mut PgConnection, token: &RefreshToken) -> Result<()> {
    let done = sqlx::query(
        "INSERT INTO broker_refresh_tokens (tenant, token_hash, client_id, grant_id, object_id, scope, payload, \
         expires_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
         WHERE NOT EXISTS (SELECT 1 FROM broker_revoked_grants WHERE tenant = $1 AND grant_id = $4)",
    )
    .bind(token.tenant.as_str())
    .bind(&token.token_hash)
    .bind(token.client_id.as_str())
    .bind(&token.grant_id)
    .bind(token.user_id.as_str())
    .bind(&token.scope)
    .bind(&token.payload)
    .bind(token.expires_at)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    if done.rows_affected() == 0 {
        Err(StoreError::Conflict)
    } else {
        Ok(())
    }
}

async fn revoke_grant_on(
    conn: &mut PgConnection,
    tenant: &TenantId,
    grant_id: &str,
    now: OffsetDateTime,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO broker_revoked_grants (tenant, grant_id, revoked_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(tenant.as_str())
    .bind(grant_id)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    sqlx::query("DELETE FROM broker_refresh_tokens WHERE tenant = $1 AND grant_id = $2")
        .bind(tenant.as_str())
        .bind(grant_id)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(())
}

#[async_trait]
impl BrokerStore for PostgresStore {
    async fn create_broker_tenant(&self, tenant: &BrokerTenant, keys: &[SigningKey]) -> Result<()> {
        if keys.iter().any(|key| key.tenant != tenant.id) {
            return Err(StoreError::Conflict);
        }
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO broker_tenants (id, display_name, created_at) VALUES ($1, $2, $3)",
        )
        .bind(tenant.id.as_str())
        .bind(&tenant.display_name)
        .bind(tenant.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        for key in keys {
            insert_signing_key(&mut tx, key).await?;
        }
        tx.commit().await.map_err(db)
    }

    async fn get_broker_tenant(&self, tenant: &TenantId) -> Result<Option<BrokerTenant>> {
        sqlx::query_as::<_, BrokerTenantRow>("SELECT * FROM broker_tenants WHERE id = $1")
            .bind(tenant.as_str())
            .fetch_optional(self.timed()?)
            .await
            .map_err(db)?
            .map(BrokerTenantRow::into_record)
            .transpose()
    }

    async fn list_broker_tenants(&self) -> Result<Vec<BrokerTenant>> {
        sqlx::query_as::<_, BrokerTenantRow>("SELECT * FROM broker_tenants ORDER BY id")
            .fetch_all(self.timed()?)
            .await
            .map_err(db)?
            .into_iter()
            .map(BrokerTenantRow::into_record)
            .collect()
    }

    async fn put_broker_signing_key(&self, key: &SigningKey) -> Result<()> {
        let mut conn = self.pool()?.acquire().await.map_err(db)?;
        insert_signing_key(&mut conn, key).await
    }

    async fn list_broker_signing_keys(&self, tenant: &TenantId) -> Result<Vec<SigningKey>> {
        sqlx::query_as::<_, SigningKeyRow>(
            "SELECT * FROM broker_signing_keys WHERE tenant = $1 ORDER BY created_at, kid",
        )
        .bind(tenant.as_str())
        .fetch_all(self.timed()?)
        .await
        .map_err(db)?
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
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        // The tenant's row, locked: a concurrent rotation waits, then retires what this one added.
        let known = sqlx::query("SELECT 1 FROM broker_tenants WHERE id = $1 FOR UPDATE")
            .bind(tenant.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if known.is_none() {
            return Err(StoreError::NotFound);
        }
        if new.iter().any(|key| key.status == KeyStatus::Active) {
            sqlx::query(
                "UPDATE broker_signing_keys SET status = 'retired', retired_at = $2 \
                 WHERE tenant = $1 AND status <> 'retired'",
            )
            .bind(tenant.as_str())
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        for key in new {
            insert_signing_key(&mut tx, key).await?;
        }
        tx.commit().await.map_err(db)
    }

    async fn activate_broker_signing_key(
        &self,
        tenant: &TenantId,
        kid: &str,
        at: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        // The key's row, locked: a concurrent activation or rotation of it waits.
        let status: Option<String> = sqlx::query_scalar(
            "SELECT status FROM broker_signing_keys WHERE tenant = $1 AND kid = $2 FOR UPDATE",
        )
        .bind(tenant.as_str())
        .bind(kid)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        match status.as_deref() {
            None => return Err(StoreError::NotFound),
            Some("retired") => return Err(StoreError::Conflict),
            Some(_) => {}
        }
        sqlx::query(
            "UPDATE broker_signing_keys SET status = 'retired', retired_at = $3 \
             WHERE tenant = $1 AND kid <> $2 AND status <> 'retired' \
             AND alg = (SELECT alg FROM broker_signing_keys WHERE tenant = $1 AND kid = $2) \
             AND created_at <= (SELECT created_at FROM broker_signing_keys WHERE tenant = $1 AND kid = $2)",
        )
        .bind(tenant.as_str())
        .bind(kid)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "UPDATE broker_signing_keys SET status = 'active' WHERE tenant = $1 AND kid = $2",
        )
        .bind(tenant.as_str())
        .bind(kid)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn update_broker_tenant(&self, tenant: &BrokerTenant) -> Result<u64> {
        // One conditional update: of two updates from one revision exactly one matches (READ COMMITTED re-checks
        // the condition on the newest row version).
        let updated: Option<i64> = sqlx::query_scalar(
            "UPDATE broker_tenants SET display_name = $2, revision = revision + 1 \
             WHERE id = $1 AND revision = $3 RETURNING revision",
        )
        .bind(tenant.id.as_str())
        .bind(&tenant.display_name)
        .bind(revision_column(tenant.revision))
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?;
        if let Some(updated) = updated {
            return revision(updated);
        }
        let known = sqlx::query("SELECT 1 FROM broker_tenants WHERE id = $1")
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

    async fn delete_broker_tenant(
        &self,
        tenant: &TenantId,
        force: bool,
    ) -> Result<TenantDeletion<BrokerTenantContents>> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        // The tenant's row, locked: rows referring to it (applications, providers, flows, users) cannot be added
        // until this transaction ends, so the counts hold.
        let known = sqlx::query("SELECT 1 FROM broker_tenants WHERE id = $1 FOR UPDATE")
            .bind(tenant.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if known.is_none() {
            return Err(StoreError::NotFound);
        }
        let (applications, identity_providers, user_flows, directory_users): (i64, i64, i64, i64) =
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM broker_applications WHERE tenant = $1), \
                        (SELECT COUNT(*) FROM identity_providers WHERE tenant = $1), \
                        (SELECT COUNT(*) FROM user_flows WHERE tenant = $1), \
                        (SELECT COUNT(*) FROM directory_users WHERE tenant = $1)",
            )
            .bind(tenant.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let contents = BrokerTenantContents {
            applications: count(applications),
            identity_providers: count(identity_providers),
            user_flows: count(user_flows),
            directory_users: count(directory_users),
        };
        if !force && !contents.is_empty() {
            return Ok(TenantDeletion::NotEmpty(contents));
        }
        for sql in BROKER_TENANT_DELETE {
            sqlx::query(sql)
                .bind(tenant.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        sqlx::query("DELETE FROM broker_tenants WHERE id = $1")
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(TenantDeletion::Deleted(contents))
    }

    async fn create_broker_application(&self, application: &BrokerApplication) -> Result<()> {
        sqlx::query(
            "INSERT INTO broker_applications (tenant, client_id, secret_hash, settings, created_at, \
             display_name_folded) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(application.tenant.as_str())
        .bind(application.client_id.as_str())
        .bind(application.secret_hash.as_deref())
        .bind(&application.settings)
        .bind(application.created_at)
        .bind(tessera_store::broker::application_name_folded(
            &application.settings,
        ))
        .execute(self.timed()?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn get_broker_application(
        &self,
        tenant: &TenantId,
        client_id: &ClientId,
    ) -> Result<Option<BrokerApplication>> {
        sqlx::query_as::<_, ApplicationRow>(
            "SELECT * FROM broker_applications WHERE tenant = $1 AND client_id = $2",
        )
        .bind(tenant.as_str())
        .bind(client_id.as_str())
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?
        .map(ApplicationRow::into_record)
        .transpose()
    }

    async fn list_broker_applications(&self, tenant: &TenantId) -> Result<Vec<BrokerApplication>> {
        sqlx::query_as::<_, ApplicationRow>(
            "SELECT * FROM broker_applications WHERE tenant = $1 ORDER BY client_id",
        )
        .bind(tenant.as_str())
        .fetch_all(self.timed()?)
        .await
        .map_err(db)?
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
        let rows = sqlx::query_as::<_, ApplicationRow>(
            "SELECT * FROM broker_applications WHERE tenant = $1 ORDER BY client_id LIMIT $2 OFFSET $3",
        )
        .bind(tenant.as_str())
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(self.timed()?)
        .await
        .map_err(db)?;
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM broker_applications WHERE tenant = $1")
                .bind(tenant.as_str())
                .fetch_one(self.timed()?)
                .await
                .map_err(db)?;
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
        let (id_pattern, name_pattern, public) =
            tessera_store::filters::client_filter_binds(filter);
        // Byte order (`COLLATE "C"`), whatever the database's collation: the order the cursors assume. Client ids
        // are ASCII, so `lower` folds them fully; names are matched on the form folded in Rust.
        sqlx::query_as::<_, ApplicationRow>(
            "SELECT * FROM broker_applications WHERE tenant = $1 AND client_id COLLATE \"C\" > $2 \
             AND (lower(client_id) LIKE $4 ESCAPE '\\' OR display_name_folded LIKE $5 ESCAPE '\\') \
             AND ($6::boolean IS NULL OR ((settings->>'client_type') = 'public') = $6) \
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
        .map(ApplicationRow::into_record)
        .collect()
    }

    async fn update_broker_application(
        &self,
        application: &BrokerApplication,
        expected: Option<&BrokerApplication>,
    ) -> Result<()> {
        // The row is locked before the check: a concurrent conditional write waits, then sees this one's result.
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        if expected.is_some() {
            let current =
                locked_application(&mut tx, &application.tenant, &application.client_id).await?;
            check_expected(current.as_ref(), expected, PartialEq::eq)?;
        }
        let done = sqlx::query(
            "UPDATE broker_applications SET secret_hash = $3, settings = $4, display_name_folded = $5 \
             WHERE tenant = $1 AND client_id = $2",
        )
        .bind(application.tenant.as_str())
        .bind(application.client_id.as_str())
        .bind(application.secret_hash.as_deref())
        .bind(&application.settings)
        .bind(tessera_store::broker::application_name_folded(
            &application.settings,
        ))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        affected_one(done.rows_affected())?;
        tx.commit().await.map_err(db)
    }

    async fn delete_broker_application(
        &self,
        tenant: &TenantId,
        client_id: &ClientId,
        expected: Option<&BrokerApplication>,
    ) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        if expected.is_some() {
            let current = locked_application(&mut tx, tenant, client_id).await?;
            check_expected(current.as_ref(), expected, PartialEq::eq)?;
        }
        let done =
            sqlx::query("DELETE FROM broker_applications WHERE tenant = $1 AND client_id = $2")
                .bind(tenant.as_str())
                .bind(client_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        affected_one(done.rows_affected())?;
        tx.commit().await.map_err(db)
    }

    async fn create_identity_provider(&self, provider: &IdentityProviderRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO identity_providers (tenant, provider_id, config, client_secret_encrypted, metadata, \
             metadata_fetched_at, jwks, jwks_fetched_at, created_at, updated_at, issuer, signing_keys, name_folded) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(provider.tenant.as_str())
        .bind(&provider.provider_id)
        .bind(&provider.config)
        .bind(provider.client_secret_encrypted.as_deref())
        .bind(&provider.cache.metadata)
        .bind(provider.cache.metadata_fetched_at)
        .bind(&provider.cache.jwks)
        .bind(provider.cache.jwks_fetched_at)
        .bind(provider.created_at)
        .bind(provider.updated_at)
        .bind(provider.cache.issuer())
        .bind(stored_key_count(provider.cache.signing_keys)?)
        .bind(tessera_store::broker::provider_name_folded(&provider.config))
        .execute(self.timed()?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn get_identity_provider(
        &self,
        tenant: &TenantId,
        provider_id: &str,
    ) -> Result<Option<IdentityProviderRecord>> {
        sqlx::query_as::<_, ProviderRow>(
            "SELECT * FROM identity_providers WHERE tenant = $1 AND provider_id = $2",
        )
        .bind(tenant.as_str())
        .bind(provider_id)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?
        .map(ProviderRow::into_record)
        .transpose()
    }

    async fn list_identity_providers(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<IdentityProviderRecord>> {
        sqlx::query_as::<_, ProviderRow>(
            "SELECT * FROM identity_providers WHERE tenant = $1 ORDER BY provider_id",
        )
        .bind(tenant.as_str())
        .fetch_all(self.timed()?)
        .await
        .map_err(db)?
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
        let (id_pattern, name_pattern) = tessera_store::broker::provider_prefix_binds(prefix);
        // Byte order (`COLLATE "C"`), whatever the database's collation: the order SQLite and the cursors use.
        Ok(sqlx::query_as::<_, ProviderSummaryRow>(
            "SELECT provider_id, config, created_at, updated_at, metadata_fetched_at, \
             client_secret_encrypted IS NOT NULL AS has_client_secret, issuer, signing_keys \
             FROM identity_providers WHERE tenant = $1 AND provider_id COLLATE \"C\" > $2 \
             AND (lower(provider_id) LIKE $4 ESCAPE '\\' OR name_folded LIKE $5 ESCAPE '\\') \
             ORDER BY provider_id COLLATE \"C\" LIMIT $3",
        )
        .bind(tenant.as_str())
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .bind(id_pattern)
        .bind(name_pattern)
        .fetch_all(self.timed()?)
        .await
        .map_err(db)?
        .into_iter()
        .map(ProviderSummaryRow::into_summary)
        .collect::<Result<_>>()?)
    }

    async fn update_identity_provider(
        &self,
        provider: &IdentityProviderRecord,
        expected: Option<&IdentityProviderRecord>,
    ) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        if expected.is_some() {
            let current = locked_provider(&mut tx, &provider.tenant, &provider.provider_id).await?;
            check_expected(
                current.as_ref(),
                expected,
                IdentityProviderRecord::same_configuration,
            )?;
        }
        let done = sqlx::query(
            "UPDATE identity_providers SET config = $3, client_secret_encrypted = $4, metadata = $5, \
             metadata_fetched_at = $6, jwks = $7, jwks_fetched_at = $8, updated_at = $9, issuer = $10, \
             signing_keys = $11, name_folded = $12 WHERE tenant = $1 AND provider_id = $2",
        )
        .bind(provider.tenant.as_str())
        .bind(&provider.provider_id)
        .bind(&provider.config)
        .bind(provider.client_secret_encrypted.as_deref())
        .bind(&provider.cache.metadata)
        .bind(provider.cache.metadata_fetched_at)
        .bind(&provider.cache.jwks)
        .bind(provider.cache.jwks_fetched_at)
        .bind(provider.updated_at)
        .bind(provider.cache.issuer())
        .bind(stored_key_count(provider.cache.signing_keys)?)
        .bind(tessera_store::broker::provider_name_folded(&provider.config))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        affected_one(done.rows_affected())?;
        tx.commit().await.map_err(db)
    }

    async fn refresh_provider_metadata(
        &self,
        tenant: &TenantId,
        provider_id: &str,
        cache: &ProviderCache,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE identity_providers SET metadata = $3, metadata_fetched_at = $4, jwks = $5, jwks_fetched_at = $6, \
             issuer = $7, signing_keys = $8 WHERE tenant = $1 AND provider_id = $2",
        )
        .bind(tenant.as_str())
        .bind(provider_id)
        .bind(&cache.metadata)
        .bind(cache.metadata_fetched_at)
        .bind(&cache.jwks)
        .bind(cache.jwks_fetched_at)
        .bind(cache.issuer())
        .bind(stored_key_count(cache.signing_keys)?)
        .execute(self.timed()?)
        .await
        .map_err(db)?;
        affected_one(done.rows_affected())
    }

    async fn delete_identity_provider(
        &self,
        tenant: &TenantId,
        provider_id: &str,
        expected: Option<&IdentityProviderRecord>,
    ) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        if expected.is_some() {
            let current = locked_provider(&mut tx, tenant, provider_id).await?;
            check_expected(
                current.as_ref(),
                expected,
                IdentityProviderRecord::same_configuration,
            )?;
        }
        let done =
            sqlx::query("DELETE FROM identity_providers WHERE tenant = $1 AND provider_id = $2")
                .bind(tenant.as_str())
                .bind(provider_id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        affected_one(done.rows_affected())?;
        tx.commit().await.map_err(db)
    }

    async fn create_flow(&self, flow: &UserFlowRecord, first: &FlowVersionRecord) -> Result<()> {
        if first.number != 1 {
            return Err(StoreError::Conflict);
        }
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO user_flows (tenant, policy_key, policy_id, kind, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(flow.tenant.as_str())
        .bind(&flow.policy_key)
        .bind(&flow.policy_id)
        .bind(&flow.kind)
        .bind(flow.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "INSERT INTO user_flow_versions (tenant, policy_key, number, created_at, settings) \
             VALUES ($1, $2, 1, $3, $4)",
        )
        .bind(flow.tenant.as_str())
        .bind(&flow.policy_key)
        .bind(first.created_at)
        .bind(&first.settings)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn get_flow(
        &self,
        tenant: &TenantId,
        policy_key: &str,
    ) -> Result<Option<UserFlowRecord>> {
        sqlx::query_as::<_, FlowRow>(
            "SELECT * FROM user_flows WHERE tenant = $1 AND policy_key = $2",
        )
        .bind(tenant.as_str())
        .bind(policy_key)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?
        .map(FlowRow::into_record)
        .transpose()
    }

    async fn list_flows(&self, tenant: &TenantId) -> Result<Vec<UserFlowRecord>> {
        sqlx::query_as::<_, FlowRow>(
            "SELECT * FROM user_flows WHERE tenant = $1 ORDER BY policy_key",
        )
        .bind(tenant.as_str())
        .fetch_all(self.timed()?)
        .await
        .map_err(db)?
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
        // Two concurrent appends both see the same last number and insert the same key: the second one waits for
        // the first and fails on the key (`Conflict`).
        let done = sqlx::query(
            "INSERT INTO user_flow_versions (tenant, policy_key, number, created_at, settings) \
             SELECT $1, $2, $3, $4, $5 WHERE (SELECT MAX(number) FROM user_flow_versions \
                                              WHERE tenant = $1 AND policy_key = $2) = $6",
        )
        .bind(tenant.as_str())
        .bind(policy_key)
        .bind(i64::from(version.number))
        .bind(version.created_at)
        .bind(&version.settings)
        .bind(i64::from(expected_last))
        .execute(self.timed()?)
        .await
        .map_err(db)?;
        if done.rows_affected() > 0 {
            return Ok(());
        }
        let flow = sqlx::query("SELECT 1 FROM user_flows WHERE tenant = $1 AND policy_key = $2")
            .bind(tenant.as_str())
            .bind(policy_key)
            .fetch_optional(self.timed()?)
            .await
            .map_err(db)?;
        Err(if flow.is_some() {
            StoreError::Conflict
        } else {
            StoreError::NotFound
        })
    }

    async fn get_flow_version(
        &self,
        tenant: &TenantId,
        policy_key: &str,
        number: u32,
    ) -> Result<Option<FlowVersionRecord>> {
        sqlx::query_as::<_, FlowVersionRow>(
            "SELECT number, created_at, settings FROM user_flow_versions \
             WHERE tenant = $1 AND policy_key = $2 AND number = $3",
        )
        .bind(tenant.as_str())
        .bind(policy_key)
        .bind(i64::from(number))
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?
        .map(FlowVersionRow::into_record)
        .transpose()
    }

    async fn get_current_flow_version(
        &self,
        tenant: &TenantId,
        policy_key: &str,
    ) -> Result<Option<FlowVersionRecord>> {
        sqlx::query_as::<_, FlowVersionRow>(
            "SELECT number, created_at, settings FROM user_flow_versions \
             WHERE tenant = $1 AND policy_key = $2 ORDER BY number DESC LIMIT 1",
        )
        .bind(tenant.as_str())
        .bind(policy_key)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?
        .map(FlowVersionRow::into_record)
        .transpose()
    }

    async fn list_flow_versions(
        &self,
        tenant: &TenantId,
        policy_key: &str,
    ) -> Result<Vec<FlowVersionRecord>> {
        sqlx::query_as::<_, FlowVersionRow>(
            "SELECT number, created_at, settings FROM user_flow_versions \
             WHERE tenant = $1 AND policy_key = $2 ORDER BY number",
        )
        .bind(tenant.as_str())
        .bind(policy_key)
        .fetch_all(self.timed()?)
        .await
        .map_err(db)?
        .into_iter()
        .map(FlowVersionRow::into_record)
        .collect()
    }

    async fn delete_flow(&self, tenant: &TenantId, policy_key: &str) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        sqlx::query("DELETE FROM user_flow_versions WHERE tenant = $1 AND policy_key = $2")
            .bind(tenant.as_str())
            .bind(policy_key)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let deleted = sqlx::query("DELETE FROM user_flows WHERE tenant = $1 AND policy_key = $2")
            .bind(tenant.as_str())
            .bind(policy_key)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(db)
    }

    async fn put_broker_transaction(
        &self,
        tenant: &TenantId,
        state_hash: &[u8],
        payload: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO broker_transactions (tenant, state_hash, payload, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant.as_str())
        .bind(state_hash)
        .bind(payload)
        .bind(expires_at)
        .execute(self.timed()?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn take_broker_transaction(
        &self,
        tenant: &TenantId,
        state_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar(
            "DELETE FROM broker_transactions WHERE tenant = $1 AND state_hash = $2 AND expires_at > $3 \
             RETURNING payload",
        )
        .bind(tenant.as_str())
        .bind(state_hash)
        .bind(now)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)
    }

    async fn put_pending_signup(
        &self,
        tenant: &TenantId,
        handle_hash: &[u8],
        payload: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO pending_signups (tenant, handle_hash, payload, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant.as_str())
        .bind(handle_hash)
        .bind(payload)
        .bind(expires_at)
        .execute(self.timed()?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn take_pending_signup(
        &self,
        tenant: &TenantId,
        handle_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar(
            "DELETE FROM pending_signups WHERE tenant = $1 AND handle_hash = $2 AND expires_at > $3 \
             RETURNING payload",
        )
        .bind(tenant.as_str())
        .bind(handle_hash)
        .bind(now)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)
    }

    async fn find_user_by_identity(
        &self,
        tenant: &TenantId,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<DirectoryUserRecord>> {
        sqlx::query_as::<_, DirectoryUserRow>(concat!(
            directory_user_select!(),
            "JOIN directory_identities f ON f.tenant = u.tenant AND f.object_id = u.object_id \
             WHERE f.tenant = $1 AND f.issuer = $2 AND f.subject = $3"
        ))
        .bind(tenant.as_str())
        .bind(issuer)
        .bind(subject)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?
        .map(DirectoryUserRow::into_record)
        .transpose()
    }

    async fn get_directory_user(
        &self,
        tenant: &TenantId,
        object_id: &UserId,
    ) -> Result<Option<DirectoryUserRecord>> {
        sqlx::query_as::<_, DirectoryUserRow>(concat!(
            directory_user_select!(),
            "WHERE u.tenant = $1 AND u.object_id = $2"
        ))
        .bind(tenant.as_str())
        .bind(object_id.as_str())
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?
        .map(DirectoryUserRow::into_record)
        .transpose()
    }

    async fn create_user_with_identity(
        &self,
        user: &DirectoryUserRecord,
        identity: &DirectoryIdentity,
    ) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        insert_user_with_identity(&mut tx, user, identity).await?;
        tx.commit().await.map_err(db)
    }

    async fn record_broker_sign_in(
        &self,
        tenant: &TenantId,
        object_id: &UserId,
        at: OffsetDateTime,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE directory_users SET last_sign_in_at = $3 \
             WHERE tenant = $1 AND object_id = $2 AND disabled_at IS NULL",
        )
        .bind(tenant.as_str())
        .bind(object_id.as_str())
        .bind(at)
        .execute(self.timed()?)
        .await
        .map_err(db)?;
        if done.rows_affected() > 0 {
            return Ok(());
        }
        let known =
            sqlx::query("SELECT 1 FROM directory_users WHERE tenant = $1 AND object_id = $2")
                .bind(tenant.as_str())
                .bind(object_id.as_str())
                .fetch_optional(self.timed()?)
                .await
                .map_err(db)?;
        Err(if known.is_some() {
            StoreError::Conflict
        } else {
            StoreError::NotFound
        })
    }

    async fn search_directory_users(
        &self,
        tenant: &TenantId,
        query: &str,
        status: Option<tessera_store::AccountStatus>,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<DirectoryPage> {
        let limit = limit.max(1);
        // One row more than the page tells whether there is a next one. Ids are never empty: "" precedes them all.
        let rows = sqlx::query_as::<_, DirectoryUserRow>(concat!(
            directory_user_select!(),
            "WHERE u.tenant = $1 AND u.object_id COLLATE \"C\" > $2 AND ($3 = '%' \
               OR u.email_folded LIKE $3 ESCAPE '\\' OR u.display_name_folded LIKE $3 ESCAPE '\\' \
               OR u.given_name_folded LIKE $3 ESCAPE '\\' OR u.surname_folded LIKE $3 ESCAPE '\\') \
             AND ($5::boolean IS NULL OR (u.disabled_at IS NOT NULL) = $5) \
             ORDER BY u.object_id COLLATE \"C\" LIMIT $4"
        ))
        .bind(tenant.as_str())
        .bind(after.map_or("", UserId::as_str))
        .bind(prefix_pattern(query))
        .bind(i64::from(limit) + 1)
        .bind(tessera_store::filters::status_bind(status))
        .fetch_all(self.timed()?)
        .await
        .map_err(db)?;
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
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        guard_directory_user(&mut tx, tenant, object_id, expected).await?;
        let done = sqlx::query(
            "UPDATE directory_users SET disabled_at = COALESCE(disabled_at, $3) WHERE tenant = $1 AND object_id = $2",
        )
        .bind(tenant.as_str())
        .bind(object_id.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        affected_one(done.rows_affected())?;
        sqlx::query("DELETE FROM broker_sessions WHERE tenant = $1 AND object_id = $2")
            .bind(tenant.as_str())
            .bind(object_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM broker_refresh_tokens WHERE tenant = $1 AND object_id = $2")
            .bind(tenant.as_str())
            .bind(object_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn enable_directory_user(
        &self,
        tenant: &TenantId,
        object_id: &UserId,
        expected: Option<&DirectoryUserRecord>,
    ) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        guard_directory_user(&mut tx, tenant, object_id, expected).await?;
        let done = sqlx::query(
            "UPDATE directory_users SET disabled_at = NULL WHERE tenant = $1 AND object_id = $2",
        )
        .bind(tenant.as_str())
        .bind(object_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        affected_one(done.rows_affected())?;
        tx.commit().await.map_err(db)
    }

    async fn delete_directory_user(
        &self,
        tenant: &TenantId,
        object_id: &UserId,
        expected: Option<&DirectoryUserRecord>,
    ) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        guard_directory_user(&mut tx, tenant, object_id, expected).await?;
        // Identities, sessions and refresh tokens go with the user (ON DELETE CASCADE), in this one statement.
        let done = sqlx::query("DELETE FROM directory_users WHERE tenant = $1 AND object_id = $2")
            .bind(tenant.as_str())
            .bind(object_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        affected_one(done.rows_affected())?;
        tx.commit().await.map_err(db)
    }

    async fn create_broker_session(&self, session: &BrokerSession) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        lock_enabled_user(&mut tx, &session.tenant, &session.object_id).await?;
        sqlx::query(
            "INSERT INTO broker_sessions (tenant, id_hash, sid, object_id, auth_time, payload, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(session.tenant.as_str())
        .bind(&session.id_hash)
        .bind(&session.sid)
        .bind(session.object_id.as_str())
        .bind(session.auth_time)
        .bind(&session.payload)
        .bind(session.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn get_broker_session(
        &self,
        tenant: &TenantId,
        id_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<BrokerSession>> {
        sqlx::query_as::<_, BrokerSessionRow>(
            "SELECT * FROM broker_sessions WHERE tenant = $1 AND id_hash = $2 AND expires_at > $3",
        )
        .bind(tenant.as_str())
        .bind(id_hash)
        .bind(now)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?
        .map(BrokerSessionRow::into_record)
        .transpose()
    }

    async fn delete_broker_session(&self, tenant: &TenantId, id_hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM broker_sessions WHERE tenant = $1 AND id_hash = $2")
            .bind(tenant.as_str())
            .bind(id_hash)
            .execute(self.timed()?)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn put_broker_auth_code(&self, code: &AuthCode) -> Result<()> {
        sqlx::query(
            "INSERT INTO broker_auth_codes (tenant, code_hash, client_id, grant_id, payload, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(code.tenant.as_str())
        .bind(&code.code_hash)
        .bind(code.client_id.as_str())
        .bind(&code.grant_id)
        .bind(&code.payload)
        .bind(code.expires_at)
        .execute(self.timed()?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn start_broker_session(
        &self,
        session: &BrokerSession,
        code: &AuthCode,
        at: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        // The conditional update locks the user's row (a concurrent disable waits for this transaction) without
        // the share lock of `lock_enabled_user`, which two sign-ins of one user would both hold and then deadlock
        // upgrading.
        let recorded = sqlx::query(
            "UPDATE directory_users SET last_sign_in_at = $3 \
             WHERE tenant = $1 AND object_id = $2 AND disabled_at IS NULL",
        )
        .bind(session.tenant.as_str())
        .bind(session.object_id.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if recorded.rows_affected() == 0 {
            let known =
                sqlx::query("SELECT 1 FROM directory_users WHERE tenant = $1 AND object_id = $2")
                    .bind(session.tenant.as_str())
                    .bind(session.object_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
            return Err(if known.is_some() {
                StoreError::Conflict
            } else {
                StoreError::NotFound
            });
        }
        insert_session_and_code(&mut tx, session, code).await?;
        tx.commit().await.map_err(db)
    }

    async fn sign_up_broker_user(
        &self,
        user: &DirectoryUserRecord,
        identity: &DirectoryIdentity,
        session: &BrokerSession,
        code: &AuthCode,
        at: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        insert_user_with_identity(&mut tx, user, identity).await?;
        sqlx::query(
            "UPDATE directory_users SET last_sign_in_at = $3 WHERE tenant = $1 AND object_id = $2",
        )
        .bind(user.tenant.as_str())
        .bind(user.object_id.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        insert_session_and_code(&mut tx, session, code).await?;
        tx.commit().await.map_err(db)
    }

    async fn consume_broker_auth_code(
        &self,
        tenant: &TenantId,
        code_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<CodeRedemption> {
        let redeemed = sqlx::query_as::<_, AuthCodeRow>(
            "UPDATE broker_auth_codes SET redeemed_at = $3 \
             WHERE tenant = $1 AND code_hash = $2 AND redeemed_at IS NULL AND expires_at > $3 \
             RETURNING tenant, code_hash, client_id, grant_id, payload, expires_at",
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
            "SELECT grant_id FROM broker_auth_codes \
             WHERE tenant = $1 AND code_hash = $2 AND redeemed_at IS NOT NULL",
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

    async fn put_broker_refresh_token(&self, token: &RefreshToken) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        lock_enabled_user(&mut tx, &token.tenant, &token.user_id).await?;
        insert_refresh_token(&mut tx, token).await?;
        tx.commit().await.map_err(db)
    }

    async fn get_broker_refresh_token(
        &self,
        tenant: &TenantId,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<RefreshToken>> {
        sqlx::query_as::<_, TokenRow>(concat!(
            "SELECT ",
            refresh_columns!(),
            " FROM broker_refresh_tokens t WHERE tenant = $1 AND token_hash = $2 AND expires_at > $3 \
             AND NOT EXISTS (SELECT 1 FROM broker_revoked_grants r WHERE r.tenant = $1 AND r.grant_id = t.grant_id)"
        ))
        .bind(tenant.as_str())
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?
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
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        match lock_enabled_user(&mut tx, tenant, &new.user_id).await {
            // A disabled or deleted user's tokens are gone.
            Err(StoreError::Conflict | StoreError::NotFound) => {
                return Ok(RefreshRotation::NotFound);
            }
            other => other?,
        }
        let spent = sqlx::query_as::<_, TokenRow>(concat!(
            "UPDATE broker_refresh_tokens SET rotated_at = $3 \
             WHERE tenant = $1 AND token_hash = $2 AND rotated_at IS NULL AND expires_at > $3 \
             AND NOT EXISTS (SELECT 1 FROM broker_revoked_grants r \
                             WHERE r.tenant = $1 AND r.grant_id = broker_refresh_tokens.grant_id) \
             RETURNING ",
            refresh_columns!()
        ))
        .bind(tenant.as_str())
        .bind(old_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(old) = spent {
            insert_refresh_token(&mut tx, new).await?;
            tx.commit().await.map_err(db)?;
            return Ok(RefreshRotation::Rotated(old.into_refresh()?));
        }
        let reused: Option<String> = sqlx::query_scalar(
            "SELECT grant_id FROM broker_refresh_tokens WHERE tenant = $1 AND token_hash = $2 AND rotated_at IS NOT NULL",
        )
        .bind(tenant.as_str())
        .bind(old_hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(grant_id) = &reused {
            revoke_grant_on(&mut tx, tenant, grant_id, now).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(match reused {
            Some(grant_id) => RefreshRotation::Reused { grant_id },
            None => RefreshRotation::NotFound,
        })
    }

    async fn revoke_broker_grant(
        &self,
        tenant: &TenantId,
        grant_id: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        revoke_grant_on(&mut tx, tenant, grant_id, now).await?;
        tx.commit().await.map_err(db)
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
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        insert_user_with_identity(&mut tx, user, identity).await?;
        sqlx::query(
            "INSERT INTO broker_local_credentials (tenant, credential_id, object_id, user_handle, public_key, alg, \
             sign_count, uv_initialized, backup_eligible, backup_state, transports, created_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(credential.tenant.as_str())
        .bind(&credential.credential_id)
        .bind(credential.object_id.as_str())
        .bind(&credential.user_handle)
        .bind(&credential.public_key)
        .bind(credential.alg)
        .bind(i64::from(credential.sign_count))
        .bind(credential.uv_initialized)
        .bind(credential.backup_eligible)
        .bind(credential.backup_state)
        .bind(serde_json::json!(credential.transports))
        .bind(credential.created_at)
        .bind(credential.last_used_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "UPDATE directory_users SET last_sign_in_at = $3 WHERE tenant = $1 AND object_id = $2",
        )
        .bind(user.tenant.as_str())
        .bind(user.object_id.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        insert_session_and_code(&mut tx, session, code).await?;
        tx.commit().await.map_err(db)
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
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        // The conditional update locks the user's row first (a concurrent disable waits for this transaction).
        let recorded = sqlx::query(
            "UPDATE directory_users SET last_sign_in_at = $3 \
             WHERE tenant = $1 AND object_id = $2 AND disabled_at IS NULL",
        )
        .bind(session.tenant.as_str())
        .bind(session.object_id.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if recorded.rows_affected() == 0 {
            let known =
                sqlx::query("SELECT 1 FROM directory_users WHERE tenant = $1 AND object_id = $2")
                    .bind(session.tenant.as_str())
                    .bind(session.object_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
            return Err(if known.is_some() {
                StoreError::Conflict
            } else {
                StoreError::NotFound
            });
        }
        sqlx::query(
            "INSERT INTO broker_local_credentials (tenant, credential_id, object_id, user_handle, public_key, alg, \
             sign_count, uv_initialized, backup_eligible, backup_state, transports, created_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(credential.tenant.as_str())
        .bind(&credential.credential_id)
        .bind(credential.object_id.as_str())
        .bind(&credential.user_handle)
        .bind(&credential.public_key)
        .bind(credential.alg)
        .bind(i64::from(credential.sign_count))
        .bind(credential.uv_initialized)
        .bind(credential.backup_eligible)
        .bind(credential.backup_state)
        .bind(serde_json::json!(credential.transports))
        .bind(credential.created_at)
        .bind(credential.last_used_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if remove_others {
            sqlx::query(
                "DELETE FROM broker_local_credentials \
                 WHERE tenant = $1 AND object_id = $2 AND credential_id <> $3",
            )
            .bind(credential.tenant.as_str())
            .bind(credential.object_id.as_str())
            .bind(&credential.credential_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        insert_session_and_code(&mut tx, session, code).await?;
        tx.commit().await.map_err(db)
    }

    async fn get_local_credential(
        &self,
        tenant: &TenantId,
        credential_id: &[u8],
    ) -> Result<Option<LocalCredential>> {
        sqlx::query_as::<_, LocalCredentialRow>(concat!(
            local_credential_select!(),
            "WHERE tenant = $1 AND credential_id = $2"
        ))
        .bind(tenant.as_str())
        .bind(credential_id)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?
        .map(LocalCredentialRow::into_record)
        .transpose()
    }

    async fn list_local_credentials(
        &self,
        tenant: &TenantId,
        object_id: &UserId,
    ) -> Result<Vec<LocalCredential>> {
        sqlx::query_as::<_, LocalCredentialRow>(concat!(
            local_credential_select!(),
            "WHERE tenant = $1 AND object_id = $2 ORDER BY created_at, credential_id"
        ))
        .bind(tenant.as_str())
        .bind(object_id.as_str())
        .fetch_all(self.timed()?)
        .await
        .map_err(db)?
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
        let done = sqlx::query(
            "UPDATE broker_local_credentials SET sign_count = $4, backup_state = $5, last_used_at = $6 \
             WHERE tenant = $1 AND credential_id = $2 AND sign_count = $3",
        )
        .bind(tenant.as_str())
        .bind(credential_id)
        .bind(i64::from(expected_old))
        .bind(i64::from(new))
        .bind(backup_state)
        .bind(at)
        .execute(self.timed()?)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn count_code_send(
        &self,
        tenant: &TenantId,
        key_hash: &[u8],
        window: time::Duration,
        limit: u32,
        now: OffsetDateTime,
    ) -> Result<bool> {
        if limit == 0 {
            return Ok(false);
        }
        // One statement: a new or ended window starts at 1; a live one counts up to the limit. Under READ
        // COMMITTED the conflicting update re-reads the newest row, so concurrent sends never pass the limit.
        let counted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO broker_code_sends AS c (tenant, key_hash, window_start, sent, expires_at) \
             VALUES ($1, $2, $3, 1, $4) \
             ON CONFLICT (tenant, key_hash) DO UPDATE SET \
               window_start = CASE WHEN c.expires_at <= $3 THEN excluded.window_start ELSE c.window_start END, \
               sent = CASE WHEN c.expires_at <= $3 THEN 1 ELSE c.sent + 1 END, \
               expires_at = CASE WHEN c.expires_at <= $3 THEN excluded.expires_at ELSE c.expires_at END \
             WHERE c.expires_at <= $3 OR c.sent < $5 \
             RETURNING sent",
        )
        .bind(tenant.as_str())
        .bind(key_hash)
        .bind(now)
        .bind(now + window)
        .bind(i64::from(limit))
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?;
        Ok(counted.is_some())
    }

    async fn purge_expired_broker(&self, now: OffsetDateTime, batch: u32) -> Result<u64> {
        let codes_before = now - REDEEMED_CODE_RETENTION;
        let grants_before = now - REVOKED_GRANT_RETENTION;
        let batch = i64::from(batch);
        // One bounded statement per table, each its own short transaction; several nodes may purge at once.
        let statements = [
            (
                sqlx::query(
                    "DELETE FROM broker_transactions WHERE ctid IN \
                     (SELECT ctid FROM broker_transactions WHERE expires_at <= $1 LIMIT $2)",
                ),
                now,
            ),
            (
                sqlx::query(
                    "DELETE FROM pending_signups WHERE ctid IN \
                     (SELECT ctid FROM pending_signups WHERE expires_at <= $1 LIMIT $2)",
                ),
                now,
            ),
            (
                sqlx::query(
                    "DELETE FROM broker_sessions WHERE ctid IN \
                     (SELECT ctid FROM broker_sessions WHERE expires_at <= $1 LIMIT $2)",
                ),
                now,
            ),
            (
                sqlx::query(
                    "DELETE FROM broker_auth_codes WHERE ctid IN \
                     (SELECT ctid FROM broker_auth_codes WHERE expires_at <= $1 LIMIT $2)",
                ),
                codes_before,
            ),
            (
                sqlx::query(
                    "DELETE FROM broker_refresh_tokens WHERE ctid IN \
                     (SELECT ctid FROM broker_refresh_tokens WHERE expires_at <= $1 LIMIT $2)",
                ),
                now,
            ),
            (
                sqlx::query(
                    "DELETE FROM broker_revoked_grants WHERE ctid IN \
                     (SELECT ctid FROM broker_revoked_grants WHERE revoked_at <= $1 LIMIT $2)",
                ),
                grants_before,
            ),
            (
                sqlx::query(
                    "DELETE FROM broker_code_sends WHERE ctid IN \
                     (SELECT ctid FROM broker_code_sends WHERE expires_at <= $1 LIMIT $2)",
                ),
                now,
            ),
        ];
        self.purge_bounded(statements, batch).await
    }
}

/// Inserts a new user and their first identity in the caller's transaction.
async fn insert_user_with_identity(
    tx: &mut sqlx::PgConnection,
    user: &DirectoryUserRecord,
    identity: &DirectoryIdentity,
) -> Result<()> {
    let fold = |value: &Option<String>| value.as_deref().map(fold_search);
    sqlx::query(
        "INSERT INTO directory_users (tenant, object_id, display_name, given_name, surname, email, \
         display_name_folded, given_name_folded, surname_folded, email_folded, custom, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(user.tenant.as_str())
    .bind(user.object_id.as_str())
    .bind(user.display_name.as_deref())
    .bind(user.given_name.as_deref())
    .bind(user.surname.as_deref())
    .bind(user.email.as_deref())
    .bind(fold(&user.display_name))
    .bind(fold(&user.given_name))
    .bind(fold(&user.surname))
    .bind(fold(&user.email))
    .bind(&user.custom)
    .bind(user.created_at)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    sqlx::query(
        "INSERT INTO directory_identities (tenant, issuer, subject, object_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(user.tenant.as_str())
    .bind(&identity.issuer)
    .bind(&identity.subject)
    .bind(user.object_id.as_str())
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    Ok(())
}

/// Inserts a broker session and the app's code in the caller's transaction.
async fn insert_session_and_code(
    tx: &mut sqlx::PgConnection,
    session: &BrokerSession,
    code: &AuthCode,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO broker_sessions (tenant, id_hash, sid, object_id, auth_time, payload, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(session.tenant.as_str())
    .bind(&session.id_hash)
    .bind(&session.sid)
    .bind(session.object_id.as_str())
    .bind(session.auth_time)
    .bind(&session.payload)
    .bind(session.expires_at)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    sqlx::query(
        "INSERT INTO broker_auth_codes (tenant, code_hash, client_id, grant_id, payload, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(code.tenant.as_str())
    .bind(&code.code_hash)
    .bind(code.client_id.as_str())
    .bind(&code.grant_id)
    .bind(&code.payload)
    .bind(code.expires_at)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    Ok(())
}
