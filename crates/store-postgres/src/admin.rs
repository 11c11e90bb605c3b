//! [`AdminStore`] on PostgreSQL: the admin tables of migrations 0020, 0021 and 0025. The bootstrap exchange and an
//! invitation's redemption are each one transaction whose conditional `DELETE` lets exactly one caller on any node
//! spend the token.

use crate::convert::db;
use crate::{PostgresStore, affected_one};
use async_trait::async_trait;
use sqlx::postgres::PgConnection;
use tessera_store::{
    AdminInvitation, AdminMember, AdminStore, ApiTokenRecord, AuditEvent, AuditFilter, AuditPage,
    InvitationCursor, InvitationPage, Result, StoreError,
};
use time::OffsetDateTime;

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: String,
    token_hash: Vec<u8>,
    name: String,
    role: String,
    tenants: serde_json::Value,
    created_by: String,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    revoked_at: Option<OffsetDateTime>,
    last_used_at: Option<OffsetDateTime>,
}

impl TokenRow {
    fn into_record(self) -> Result<ApiTokenRecord> {
        Ok(ApiTokenRecord {
            id: self.id,
            token_hash: self.token_hash,
            name: self.name,
            role: self.role,
            tenants: serde_json::from_value(self.tenants)
                .map_err(|e| StoreError::Corrupt(format!("token tenants: {e}")))?,
            created_by: self.created_by,
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            last_used_at: self.last_used_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: String,
    at: OffsetDateTime,
    actor: String,
    action: String,
    target: String,
    tenant: Option<String>,
    before_json: Option<serde_json::Value>,
    after_json: Option<serde_json::Value>,
    request_id: Option<String>,
    client_address: Option<String>,
}

impl AuditRow {
    fn into_record(self) -> AuditEvent {
        AuditEvent {
            id: self.id,
            at: self.at,
            actor: self.actor,
            action: self.action,
            target: self.target,
            tenant: self.tenant,
            before: self.before_json,
            after: self.after_json,
            request_id: self.request_id,
            client_address: self.client_address,
        }
    }
}

async fn insert_token(conn: &mut PgConnection, token: &ApiTokenRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO admin_api_tokens (id, token_hash, name, role, tenants, created_by, created_at, expires_at, \
         revoked_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&token.id)
    .bind(&token.token_hash)
    .bind(&token.name)
    .bind(&token.role)
    .bind(serde_json::json!(token.tenants))
    .bind(&token.created_by)
    .bind(token.created_at)
    .bind(token.expires_at)
    .bind(token.revoked_at)
    .bind(token.last_used_at)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

async fn insert_audit(conn: &mut PgConnection, event: &AuditEvent) -> Result<()> {
    sqlx::query(
        "INSERT INTO admin_audit_events (id, at, actor, action, target, tenant, before_json, after_json, request_id, \
         client_address) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&event.id)
    .bind(event.at)
    .bind(&event.actor)
    .bind(&event.action)
    .bind(&event.target)
    .bind(&event.tenant)
    .bind(&event.before)
    .bind(&event.after)
    .bind(&event.request_id)
    .bind(&event.client_address)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    user_id: String,
    username: String,
    role: String,
    tenants: serde_json::Value,
    created_by: String,
    created_at: OffsetDateTime,
}

impl MemberRow {
    fn into_record(self) -> Result<AdminMember> {
        Ok(AdminMember {
            user_id: self.user_id,
            username: self.username,
            role: self.role,
            tenants: serde_json::from_value(self.tenants)
                .map_err(|e| StoreError::Corrupt(format!("member tenants: {e}")))?,
            created_by: self.created_by,
            created_at: self.created_at,
        })
    }
}

async fn upsert_member(conn: &mut PgConnection, member: &AdminMember) -> Result<()> {
    sqlx::query(
        "INSERT INTO admin_members (user_id, username, role, tenants, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO UPDATE SET username = excluded.username, \
         role = excluded.role, tenants = excluded.tenants",
    )
    .bind(&member.user_id)
    .bind(&member.username)
    .bind(&member.role)
    .bind(serde_json::json!(member.tenants))
    .bind(&member.created_by)
    .bind(member.created_at)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct InvitationRow {
    id: String,
    token_hash: Vec<u8>,
    role: String,
    tenants: serde_json::Value,
    created_by: String,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

impl InvitationRow {
    fn into_record(self) -> Result<AdminInvitation> {
        Ok(AdminInvitation {
            id: self.id,
            token_hash: self.token_hash,
            role: self.role,
            tenants: serde_json::from_value(self.tenants)
                .map_err(|e| StoreError::Corrupt(format!("invitation tenants: {e}")))?,
            created_by: self.created_by,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

#[async_trait]
impl AdminStore for PostgresStore {
    async fn create_api_token(&self, token: &ApiTokenRecord, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        insert_token(&mut tx, token).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn get_api_token(&self, id: &str) -> Result<Option<ApiTokenRecord>> {
        sqlx::query_as::<_, TokenRow>("SELECT * FROM admin_api_tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(self.timed()?)
            .await
            .map_err(db)?
            .map(TokenRow::into_record)
            .transpose()
    }

    async fn find_api_token(&self, token_hash: &[u8]) -> Result<Option<ApiTokenRecord>> {
        sqlx::query_as::<_, TokenRow>("SELECT * FROM admin_api_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(self.timed()?)
            .await
            .map_err(db)?
            .map(TokenRow::into_record)
            .transpose()
    }

    async fn list_api_tokens(&self) -> Result<Vec<ApiTokenRecord>> {
        sqlx::query_as::<_, TokenRow>("SELECT * FROM admin_api_tokens ORDER BY created_at, id")
            .fetch_all(self.timed()?)
            .await
            .map_err(db)?
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
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        let done = sqlx::query(
            "UPDATE admin_api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
        )
        .bind(id)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        affected_one(done.rows_affected())?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn touch_api_token(&self, id: &str, at: OffsetDateTime) -> Result<()> {
        let done = sqlx::query(
            "UPDATE admin_api_tokens SET last_used_at = GREATEST(COALESCE(last_used_at, $2), $2) WHERE id = $1",
        )
        .bind(id)
        .bind(at)
        .execute(self.timed()?)
        .await
        .map_err(db)?;
        affected_one(done.rows_affected())
    }

    async fn count_api_tokens(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admin_api_tokens")
            .fetch_one(self.timed()?)
            .await
            .map_err(db)?;
        u64::try_from(count).map_err(|_| StoreError::Corrupt("negative token count".into()))
    }

    async fn put_bootstrap_token(
        &self,
        token_hash: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO admin_bootstrap (id, token_hash, expires_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET token_hash = excluded.token_hash, expires_at = excluded.expires_at",
        )
        .bind(token_hash)
        .bind(expires_at)
        .execute(self.timed()?)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn redeem_bootstrap_token(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
        first: &ApiTokenRecord,
        audit: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        let spent = sqlx::query(
            "DELETE FROM admin_bootstrap WHERE id = 1 AND token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if spent.rows_affected() == 0 {
            tx.rollback().await.map_err(db)?;
            return Ok(false);
        }
        insert_token(&mut tx, first).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn bootstrap_token_is_live(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<bool> {
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM admin_bootstrap WHERE id = 1 AND token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?;
        Ok(found.is_some())
    }

    async fn redeem_bootstrap_for_member(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
        first: &AdminMember,
        audit: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        let spent = sqlx::query(
            "DELETE FROM admin_bootstrap WHERE id = 1 AND token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if spent.rows_affected() == 0 {
            tx.rollback().await.map_err(db)?;
            return Ok(false);
        }
        upsert_member(&mut tx, first).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn get_admin_member(&self, user_id: &str) -> Result<Option<AdminMember>> {
        sqlx::query_as::<_, MemberRow>("SELECT * FROM admin_members WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(self.timed()?)
            .await
            .map_err(db)?
            .map(MemberRow::into_record)
            .transpose()
    }

    async fn list_admin_members(&self) -> Result<Vec<AdminMember>> {
        sqlx::query_as::<_, MemberRow>("SELECT * FROM admin_members ORDER BY created_at, user_id")
            .fetch_all(self.timed()?)
            .await
            .map_err(db)?
            .into_iter()
            .map(MemberRow::into_record)
            .collect()
    }

    async fn count_admin_members(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admin_members")
            .fetch_one(self.timed()?)
            .await
            .map_err(db)?;
        u64::try_from(count).map_err(|_| StoreError::Corrupt("negative member count".into()))
    }

    async fn put_admin_member(&self, member: &AdminMember, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        upsert_member(&mut tx, member).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn delete_admin_member(&self, user_id: &str, audit: &AuditEvent) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        let gone = sqlx::query("DELETE FROM admin_members WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if gone.rows_affected() == 0 {
            tx.rollback().await.map_err(db)?;
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn create_admin_invitation(
        &self,
        invitation: &AdminInvitation,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO admin_invitations (id, token_hash, role, tenants, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&invitation.id)
        .bind(&invitation.token_hash)
        .bind(&invitation.role)
        .bind(serde_json::json!(invitation.tenants))
        .bind(&invitation.created_by)
        .bind(invitation.created_at)
        .bind(invitation.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn find_admin_invitation(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<AdminInvitation>> {
        sqlx::query_as::<_, InvitationRow>(
            "SELECT * FROM admin_invitations WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?
        .map(InvitationRow::into_record)
        .transpose()
    }

    async fn get_admin_invitation(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<AdminInvitation>> {
        sqlx::query_as::<_, InvitationRow>(
            "SELECT * FROM admin_invitations WHERE id = $1 AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(self.timed()?)
        .await
        .map_err(db)?
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
        let mut invitations = sqlx::query_as::<_, InvitationRow>(
            "SELECT * FROM admin_invitations WHERE expires_at > $1 \
             AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::text)) \
             AND ($5::text IS NULL OR role = $5) ORDER BY created_at, id LIMIT $4",
        )
        .bind(now)
        .bind(after.map(|cursor| cursor.created_at))
        .bind(after.map(|cursor| cursor.id.as_str()))
        .bind(i64::from(limit) + 1)
        .bind(role)
        .fetch_all(self.timed()?)
        .await
        .map_err(db)?
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
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        let spent =
            sqlx::query("DELETE FROM admin_invitations WHERE token_hash = $1 AND expires_at > $2")
                .bind(token_hash)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        if spent.rows_affected() == 0 {
            tx.rollback().await.map_err(db)?;
            return Ok(false);
        }
        upsert_member(&mut tx, member).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn withdraw_admin_invitation(
        &self,
        id: &str,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.pool()?.begin().await.map_err(db)?;
        let withdrawn =
            sqlx::query("DELETE FROM admin_invitations WHERE id = $1 AND expires_at > $2")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        if withdrawn.rows_affected() == 0 {
            tx.rollback().await.map_err(db)?;
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn purge_expired_admin(&self, now: OffsetDateTime, batch: u32) -> Result<u64> {
        self.purge_bounded(
            [(
                sqlx::query(
                    "DELETE FROM admin_invitations WHERE ctid IN \
                     (SELECT ctid FROM admin_invitations WHERE expires_at <= $1 LIMIT $2)",
                ),
                now,
            )],
            i64::from(batch),
        )
        .await
    }

    async fn record_audit_event(&self, event: &AuditEvent) -> Result<()> {
        let mut conn = self.pool()?.acquire().await.map_err(db)?;
        insert_audit(&mut conn, event).await
    }

    async fn list_audit_events(
        &self,
        filter: &AuditFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<AuditPage> {
        let mut events = sqlx::query_as::<_, AuditRow>(
            "SELECT * FROM admin_audit_events WHERE ($1::text IS NULL OR actor = $1) \
             AND ($2::text IS NULL OR starts_with(action, $2)) AND ($3::text IS NULL OR tenant = $3) \
             AND ($4::text[] IS NULL OR tenant = ANY($4)) \
             AND ($5::timestamptz IS NULL OR at >= $5) AND ($6::timestamptz IS NULL OR at < $6) \
             AND ($7::text IS NULL OR id < $7) ORDER BY id DESC LIMIT $8",
        )
        .bind(&filter.actor)
        .bind(&filter.action_prefix)
        .bind(&filter.tenant)
        .bind(&filter.tenants)
        .bind(filter.since)
        .bind(filter.until)
        .bind(after)
        .bind(i64::from(limit) + 1)
        .fetch_all(self.timed()?)
        .await
        .map_err(db)?
        .into_iter()
        .map(AuditRow::into_record)
        .collect::<Vec<_>>();
        let next = if events.len() > limit as usize {
            events.truncate(limit as usize);
            events.last().map(|event| event.id.clone())
        } else {
            None
        };
        Ok(AuditPage { events, next })
    }
}
