//! [`AdminStore`] on SQLite: the admin tables of migrations 0020, 0021 and 0025. Each write runs on the writer
//! connection in its own savepoint, so a token with its audit event, the bootstrap exchange or an invitation's
//! redemption is all or nothing.

use crate::convert::{from_json, from_opt_ts, from_ts, to_json, ts};
use crate::{SqliteStore, affected_one, execute, query_all, query_one};
use async_trait::async_trait;
use rusqlite::{Connection, params};
use tessera_store::{
    AdminInvitation, AdminMember, AdminStore, ApiTokenRecord, AuditEvent, AuditFilter, AuditPage,
    InvitationCursor, InvitationPage, Result, StoreError,
};
use time::OffsetDateTime;

struct TokenRow {
    id: String,
    token_hash: Vec<u8>,
    name: String,
    role: String,
    tenants: String,
    created_by: String,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl TokenRow {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            token_hash: row.get("token_hash")?,
            name: row.get("name")?,
            role: row.get("role")?,
            tenants: row.get("tenants")?,
            created_by: row.get("created_by")?,
            created_at: row.get("created_at")?,
            expires_at: row.get("expires_at")?,
            revoked_at: row.get("revoked_at")?,
            last_used_at: row.get("last_used_at")?,
        })
    }

    fn into_record(self) -> Result<ApiTokenRecord> {
        Ok(ApiTokenRecord {
            id: self.id,
            token_hash: self.token_hash,
            name: self.name,
            role: self.role,
            tenants: from_json(&self.tenants)?,
            created_by: self.created_by,
            created_at: from_ts(self.created_at)?,
            expires_at: from_ts(self.expires_at)?,
            revoked_at: from_opt_ts(self.revoked_at)?,
            last_used_at: from_opt_ts(self.last_used_at)?,
        })
    }
}

struct AuditRow {
    id: String,
    at: i64,
    actor: String,
    action: String,
    target: String,
    tenant: Option<String>,
    before_json: Option<String>,
    after_json: Option<String>,
    request_id: Option<String>,
    client_address: Option<String>,
}

impl AuditRow {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            at: row.get("at")?,
            actor: row.get("actor")?,
            action: row.get("action")?,
            target: row.get("target")?,
            tenant: row.get("tenant")?,
            before_json: row.get("before_json")?,
            after_json: row.get("after_json")?,
            request_id: row.get("request_id")?,
            client_address: row.get("client_address")?,
        })
    }

    fn into_record(self) -> Result<AuditEvent> {
        Ok(AuditEvent {
            id: self.id,
            at: from_ts(self.at)?,
            actor: self.actor,
            action: self.action,
            target: self.target,
            tenant: self.tenant,
            before: self.before_json.as_deref().map(from_json).transpose()?,
            after: self.after_json.as_deref().map(from_json).transpose()?,
            request_id: self.request_id,
            client_address: self.client_address,
        })
    }
}

fn insert_token(conn: &Connection, token: &ApiTokenRecord) -> Result<()> {
    let tenants = to_json(&token.tenants)?;
    execute(
        conn,
        "INSERT INTO admin_api_tokens (id, token_hash, name, role, tenants, created_by, created_at, expires_at, \
         revoked_at, last_used_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            token.id,
            token.token_hash,
            token.name,
            token.role,
            tenants,
            token.created_by,
            ts(token.created_at),
            ts(token.expires_at),
            token.revoked_at.map(ts),
            token.last_used_at.map(ts),
        ],
    )?;
    Ok(())
}

fn insert_audit(conn: &Connection, event: &AuditEvent) -> Result<()> {
    let before = event.before.as_ref().map(to_json).transpose()?;
    let after = event.after.as_ref().map(to_json).transpose()?;
    execute(
        conn,
        "INSERT INTO admin_audit_events (id, at, actor, action, target, tenant, before_json, after_json, request_id, \
         client_address) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            event.id,
            ts(event.at),
            event.actor,
            event.action,
            event.target,
            event.tenant,
            before,
            after,
            event.request_id,
            event.client_address,
        ],
    )?;
    Ok(())
}

struct MemberRow {
    user_id: String,
    username: String,
    role: String,
    tenants: String,
    created_by: String,
    created_at: i64,
}

impl MemberRow {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            user_id: row.get("user_id")?,
            username: row.get("username")?,
            role: row.get("role")?,
            tenants: row.get("tenants")?,
            created_by: row.get("created_by")?,
            created_at: row.get("created_at")?,
        })
    }

    fn into_record(self) -> Result<AdminMember> {
        Ok(AdminMember {
            user_id: self.user_id,
            username: self.username,
            role: self.role,
            tenants: from_json(&self.tenants)?,
            created_by: self.created_by,
            created_at: from_ts(self.created_at)?,
        })
    }
}

fn upsert_member(conn: &Connection, member: &AdminMember) -> Result<()> {
    let tenants = to_json(&member.tenants)?;
    execute(
        conn,
        "INSERT INTO admin_members (user_id, username, role, tenants, created_by, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (user_id) DO UPDATE SET username = excluded.username, \
         role = excluded.role, tenants = excluded.tenants",
        params![
            member.user_id,
            member.username,
            member.role,
            tenants,
            member.created_by,
            ts(member.created_at),
        ],
    )?;
    Ok(())
}

struct InvitationRow {
    id: String,
    token_hash: Vec<u8>,
    role: String,
    tenants: String,
    created_by: String,
    created_at: i64,
    expires_at: i64,
}

impl InvitationRow {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            token_hash: row.get("token_hash")?,
            role: row.get("role")?,
            tenants: row.get("tenants")?,
            created_by: row.get("created_by")?,
            created_at: row.get("created_at")?,
            expires_at: row.get("expires_at")?,
        })
    }

    fn into_record(self) -> Result<AdminInvitation> {
        Ok(AdminInvitation {
            id: self.id,
            token_hash: self.token_hash,
            role: self.role,
            tenants: from_json(&self.tenants)?,
            created_by: self.created_by,
            created_at: from_ts(self.created_at)?,
            expires_at: from_ts(self.expires_at)?,
        })
    }
}

#[async_trait]
impl AdminStore for SqliteStore {
    async fn create_api_token(&self, token: &ApiTokenRecord, audit: &AuditEvent) -> Result<()> {
        self.conns
            .write(|conn| {
                insert_token(conn, token)?;
                insert_audit(conn, audit)
            })
            .await
    }

    async fn get_api_token(&self, id: &str) -> Result<Option<ApiTokenRecord>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT * FROM admin_api_tokens WHERE id = ?1",
                    [id],
                    TokenRow::read,
                )
            })
            .await?
            .map(TokenRow::into_record)
            .transpose()
    }

    async fn find_api_token(&self, token_hash: &[u8]) -> Result<Option<ApiTokenRecord>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT * FROM admin_api_tokens WHERE token_hash = ?1",
                    [token_hash],
                    TokenRow::read,
                )
            })
            .await?
            .map(TokenRow::into_record)
            .transpose()
    }

    async fn list_api_tokens(&self) -> Result<Vec<ApiTokenRecord>> {
        self.conns
            .read(|conn| {
                query_all(
                    conn,
                    "SELECT * FROM admin_api_tokens ORDER BY created_at, id",
                    [],
                    TokenRow::read,
                )
            })
            .await?
            .into_iter()
            .map(TokenRow::into_record)
            .collect()
    }

    async fn revoke_api_token(
        &self,
        id: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<()> {
        self.conns
            .write(|conn| {
                affected_one(execute(
                    conn,
                    "UPDATE admin_api_tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                    params![id, ts(at)],
                )?)?;
                insert_audit(conn, audit)
            })
            .await
    }

    async fn touch_api_token(&self, id: &str, at: OffsetDateTime) -> Result<()> {
        self.conns
            .write(|conn| {
                affected_one(execute(
                    conn,
                    "UPDATE admin_api_tokens SET last_used_at = MAX(COALESCE(last_used_at, ?2), ?2) WHERE id = ?1",
                    params![id, ts(at)],
                )?)
            })
            .await
    }

    async fn count_api_tokens(&self) -> Result<u64> {
        let count: Option<i64> = self
            .conns
            .read(|conn| {
                query_one(conn, "SELECT COUNT(*) FROM admin_api_tokens", [], |row| {
                    row.get(0)
                })
            })
            .await?;
        u64::try_from(count.unwrap_or(0))
            .map_err(|_| StoreError::Corrupt("negative token count".into()))
    }

    async fn put_bootstrap_token(
        &self,
        token_hash: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        self.conns
            .write(|conn| {
                execute(
                    conn,
                    "INSERT INTO admin_bootstrap (id, token_hash, expires_at) VALUES (1, ?1, ?2) \
                     ON CONFLICT (id) DO UPDATE SET token_hash = excluded.token_hash, expires_at = excluded.expires_at",
                    params![token_hash, ts(expires_at)],
                )?;
                Ok(())
            })
            .await
    }

    async fn redeem_bootstrap_token(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
        first: &ApiTokenRecord,
        audit: &AuditEvent,
    ) -> Result<bool> {
        self.conns
            .write(|conn| {
                let spent = execute(
                    conn,
                    "DELETE FROM admin_bootstrap WHERE id = 1 AND token_hash = ?1 AND expires_at > ?2",
                    params![token_hash, ts(now)],
                )?;
                if spent == 0 {
                    return Ok(false);
                }
                insert_token(conn, first)?;
                insert_audit(conn, audit)?;
                Ok(true)
            })
            .await
    }

    async fn bootstrap_token_is_live(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<bool> {
        let found: Option<i64> = self
            .conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT 1 FROM admin_bootstrap WHERE id = 1 AND token_hash = ?1 AND expires_at > ?2",
                    params![token_hash, ts(now)],
                    |row| row.get(0),
                )
            })
            .await?;
        Ok(found.is_some())
    }

    async fn redeem_bootstrap_for_member(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
        first: &AdminMember,
        audit: &AuditEvent,
    ) -> Result<bool> {
        self.conns
            .write(|conn| {
                let spent = execute(
                    conn,
                    "DELETE FROM admin_bootstrap WHERE id = 1 AND token_hash = ?1 AND expires_at > ?2",
                    params![token_hash, ts(now)],
                )?;
                if spent == 0 {
                    return Ok(false);
                }
                upsert_member(conn, first)?;
                insert_audit(conn, audit)?;
                Ok(true)
            })
            .await
    }

    async fn get_admin_member(&self, user_id: &str) -> Result<Option<AdminMember>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT * FROM admin_members WHERE user_id = ?1",
                    [user_id],
                    MemberRow::read,
                )
            })
            .await?
            .map(MemberRow::into_record)
            .transpose()
    }

    async fn list_admin_members(&self) -> Result<Vec<AdminMember>> {
        self.conns
            .read(|conn| {
                query_all(
                    conn,
                    "SELECT * FROM admin_members ORDER BY created_at, user_id",
                    [],
                    MemberRow::read,
                )
            })
            .await?
            .into_iter()
            .map(MemberRow::into_record)
            .collect()
    }

    async fn count_admin_members(&self) -> Result<u64> {
        let count: Option<i64> = self
            .conns
            .read(|conn| {
                query_one(conn, "SELECT COUNT(*) FROM admin_members", [], |row| {
                    row.get(0)
                })
            })
            .await?;
        u64::try_from(count.unwrap_or(0))
            .map_err(|_| StoreError::Corrupt("negative member count".into()))
    }

    async fn put_admin_member(&self, member: &AdminMember, audit: &AuditEvent) -> Result<()> {
        self.conns
            .write(|conn| {
                upsert_member(conn, member)?;
                insert_audit(conn, audit)
            })
            .await
    }

    async fn delete_admin_member(&self, user_id: &str, audit: &AuditEvent) -> Result<()> {
        self.conns
            .write(|conn| {
                affected_one(execute(
                    conn,
                    "DELETE FROM admin_members WHERE user_id = ?1",
                    [user_id],
                )?)?;
                insert_audit(conn, audit)
            })
            .await
    }

    async fn create_admin_invitation(
        &self,
        invitation: &AdminInvitation,
        audit: &AuditEvent,
    ) -> Result<()> {
        let tenants = to_json(&invitation.tenants)?;
        self.conns
            .write(|conn| {
                execute(
                    conn,
                    "INSERT INTO admin_invitations (id, token_hash, role, tenants, created_by, created_at, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        invitation.id,
                        invitation.token_hash,
                        invitation.role,
                        tenants,
                        invitation.created_by,
                        ts(invitation.created_at),
                        ts(invitation.expires_at),
                    ],
                )?;
                insert_audit(conn, audit)
            })
            .await
    }

    async fn find_admin_invitation(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<AdminInvitation>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT * FROM admin_invitations WHERE token_hash = ?1 AND expires_at > ?2",
                    params![token_hash, ts(now)],
                    InvitationRow::read,
                )
            })
            .await?
            .map(InvitationRow::into_record)
            .transpose()
    }

    async fn get_admin_invitation(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<AdminInvitation>> {
        self.conns
            .read(|conn| {
                query_one(
                    conn,
                    "SELECT * FROM admin_invitations WHERE id = ?1 AND expires_at > ?2",
                    params![id, ts(now)],
                    InvitationRow::read,
                )
            })
            .await?
            .map(InvitationRow::into_record)
            .transpose()
    }

    async fn list_admin_invitations(
        &self,
        now: OffsetDateTime,
        role: Option<&str>,
        after: Option<&InvitationCursor>,
        limit: u32,
    ) -> Result<InvitationPage> {
        let fetch = i64::from(limit) + 1;
        let after_at = after.map(|cursor| ts(cursor.created_at));
        let after_id = after.map(|cursor| cursor.id.as_str());
        let rows = self
            .conns
            .read(|conn| {
                query_all(
                    conn,
                    "SELECT * FROM admin_invitations WHERE expires_at > ?1 \
                     AND (?2 IS NULL OR (created_at, id) > (?2, ?3)) AND (?5 IS NULL OR role = ?5) \
                     ORDER BY created_at, id LIMIT ?4",
                    params![ts(now), after_at, after_id, fetch, role],
                    InvitationRow::read,
                )
            })
            .await?;
        let mut invitations = rows
            .into_iter()
            .map(InvitationRow::into_record)
            .collect::<Result<Vec<_>>>()?;
        let next = if invitations.len() > limit as usize {
            invitations.truncate(limit as usize);
            invitations.last().map(|last| InvitationCursor {
                created_at: last.created_at,
                id: last.id.clone(),
            })
        } else {
            None
        };
        Ok(InvitationPage { invitations, next })
    }

    async fn redeem_admin_invitation(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
        member: &AdminMember,
        audit: &AuditEvent,
    ) -> Result<bool> {
        self.conns
            .write(|conn| {
                let spent = execute(
                    conn,
                    "DELETE FROM admin_invitations WHERE token_hash = ?1 AND expires_at > ?2",
                    params![token_hash, ts(now)],
                )?;
                if spent == 0 {
                    return Ok(false);
                }
                upsert_member(conn, member)?;
                insert_audit(conn, audit)?;
                Ok(true)
            })
            .await
    }

    async fn withdraw_admin_invitation(
        &self,
        id: &str,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool> {
        self.conns
            .write(|conn| {
                let withdrawn = execute(
                    conn,
                    "DELETE FROM admin_invitations WHERE id = ?1 AND expires_at > ?2",
                    params![id, ts(now)],
                )?;
                if withdrawn == 0 {
                    return Ok(false);
                }
                insert_audit(conn, audit)?;
                Ok(true)
            })
            .await
    }

    async fn purge_expired_admin(&self, now: OffsetDateTime, batch: u32) -> Result<u64> {
        self.purge_bounded(
            &[(
                "DELETE FROM admin_invitations WHERE id IN \
                 (SELECT id FROM admin_invitations WHERE expires_at <= ?1 LIMIT ?2)",
                ts(now),
            )],
            i64::from(batch),
        )
        .await
    }

    async fn record_audit_event(&self, event: &AuditEvent) -> Result<()> {
        self.conns.write(|conn| insert_audit(conn, event)).await
    }

    async fn list_audit_events(
        &self,
        filter: &AuditFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<AuditPage> {
        let tenants = filter.tenants.as_ref().map(to_json).transpose()?;
        let fetch = i64::from(limit) + 1;
        let rows = self
            .conns
            .read(|conn| {
                query_all(
                    conn,
                    "SELECT * FROM admin_audit_events WHERE (?1 IS NULL OR actor = ?1) \
                     AND (?2 IS NULL OR substr(action, 1, length(?2)) = ?2) AND (?3 IS NULL OR tenant = ?3) \
                     AND (?4 IS NULL OR tenant IN (SELECT value FROM json_each(?4))) \
                     AND (?5 IS NULL OR at >= ?5) AND (?6 IS NULL OR at < ?6) AND (?7 IS NULL OR id < ?7) \
                     ORDER BY id DESC LIMIT ?8",
                    params![
                        filter.actor,
                        filter.action_prefix,
                        filter.tenant,
                        tenants,
                        filter.since.map(ts),
                        filter.until.map(ts),
                        after,
                        fetch,
                    ],
                    AuditRow::read,
                )
            })
            .await?;
        let mut events = rows
            .into_iter()
            .map(AuditRow::into_record)
            .collect::<Result<Vec<_>>>()?;
        let next = if events.len() > limit as usize {
            events.truncate(limit as usize);
            events.last().map(|event| event.id.clone())
        } else {
            None
        };
        Ok(AuditPage { events, next })
    }
}
