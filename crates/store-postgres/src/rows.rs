//! Rows as PostgreSQL returns them, and their conversion into records.

use tessera_store::convert::{aaguid, client_id, revision, sign_count, tenant_id, user_id};
use tessera_store::{
    AccessToken, AuthCode, Client, Credential, GrantPasskey, KeyStatus, RefreshToken, Session,
    SigningKey, StoreError, Tenant, User,
};
use time::OffsetDateTime;

type Result<T> = std::result::Result<T, StoreError>;

#[derive(sqlx::FromRow)]
pub(crate) struct TenantRow {
    id: String,
    display_name: String,
    rp_id: String,
    origins: Vec<String>,
    policy: serde_json::Value,
    created_at: OffsetDateTime,
    revision: i64,
    settings: serde_json::Value,
}

impl TenantRow {
    pub(crate) fn into_record(self) -> Result<Tenant> {
        Ok(Tenant {
            id: tenant_id(&self.id)?,
            display_name: self.display_name,
            rp_id: self.rp_id,
            origins: self.origins,
            policy: self.policy,
            created_at: self.created_at,
            revision: revision(self.revision)?,
            settings: self.settings,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClientRow {
    tenant: String,
    client_id: String,
    display_name: String,
    secret_hash: Option<Vec<u8>>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    token_endpoint_auth_method: String,
    id_token_signed_response_alg: String,
    jwks: Option<serde_json::Value>,
    allowed_scopes: Vec<String>,
    created_at: OffsetDateTime,
}

impl ClientRow {
    pub(crate) fn into_record(self) -> Result<Client> {
        Ok(Client {
            tenant: tenant_id(&self.tenant)?,
            client_id: client_id(&self.client_id)?,
            display_name: self.display_name,
            secret_hash: self.secret_hash,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            token_endpoint_auth_method: self.token_endpoint_auth_method,
            id_token_signed_response_alg: self.id_token_signed_response_alg,
            jwks: self.jwks,
            allowed_scopes: self.allowed_scopes,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    tenant: String,
    id: String,
    username: String,
    display_name: String,
    email: Option<String>,
    email_verified: bool,
    user_handle: Vec<u8>,
    created_at: OffsetDateTime,
    disabled_at: Option<OffsetDateTime>,
}

impl UserRow {
    pub(crate) fn into_record(self) -> Result<User> {
        Ok(User {
            tenant: tenant_id(&self.tenant)?,
            id: user_id(&self.id)?,
            username: self.username,
            display_name: self.display_name,
            email: self.email,
            email_verified: self.email_verified,
            user_handle: self.user_handle,
            created_at: self.created_at,
            disabled_at: self.disabled_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CredentialRow {
    tenant: String,
    credential_id: Vec<u8>,
    user_id: String,
    public_key: Vec<u8>,
    alg: i64,
    sign_count: i64,
    uv_initialized: bool,
    backup_eligible: bool,
    backup_state: bool,
    transports: Vec<String>,
    aaguid: Vec<u8>,
    attestation_format: String,
    nickname: String,
    created_at: OffsetDateTime,
    last_used_at: Option<OffsetDateTime>,
    attestation_trusted: bool,
}

impl CredentialRow {
    pub(crate) fn into_record(self) -> Result<Credential> {
        Ok(Credential {
            tenant: tenant_id(&self.tenant)?,
            credential_id: self.credential_id,
            user_id: user_id(&self.user_id)?,
            public_key: self.public_key,
            alg: self.alg,
            sign_count: sign_count(self.sign_count)?,
            uv_initialized: self.uv_initialized,
            backup_eligible: self.backup_eligible,
            backup_state: self.backup_state,
            transports: self.transports,
            aaguid: aaguid(&self.aaguid)?,
            attestation_format: self.attestation_format,
            attestation_trusted: self.attestation_trusted,
            nickname: self.nickname,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuthCodeRow {
    tenant: String,
    code_hash: Vec<u8>,
    client_id: String,
    grant_id: String,
    payload: Vec<u8>,
    expires_at: OffsetDateTime,
}

impl AuthCodeRow {
    pub(crate) fn into_record(self) -> Result<AuthCode> {
        Ok(AuthCode {
            code_hash: self.code_hash,
            tenant: tenant_id(&self.tenant)?,
            client_id: client_id(&self.client_id)?,
            grant_id: self.grant_id,
            payload: self.payload,
            expires_at: self.expires_at,
            passkey: None,
        })
    }
}

/// The grant's passkey of a provider code or token row (both `NULL` for a grant not issued from a passkey); broker
/// rows have no such columns.
#[derive(sqlx::FromRow)]
pub(crate) struct PasskeyCols {
    credential_id: Option<Vec<u8>>,
    granted_at: Option<OffsetDateTime>,
}

impl PasskeyCols {
    fn into_passkey(self) -> Option<GrantPasskey> {
        match (self.credential_id, self.granted_at) {
            (Some(credential_id), Some(granted_at)) => Some(GrantPasskey {
                credential_id,
                granted_at,
            }),
            _ => None,
        }
    }
}

/// A provider code row: the code's columns, then `credential_id` and `granted_at`.
#[derive(sqlx::FromRow)]
pub(crate) struct ProviderCodeRow {
    #[sqlx(flatten)]
    code: AuthCodeRow,
    #[sqlx(flatten)]
    passkey: PasskeyCols,
}

impl ProviderCodeRow {
    pub(crate) fn into_record(self) -> Result<AuthCode> {
        Ok(AuthCode {
            passkey: self.passkey.into_passkey(),
            ..self.code.into_record()?
        })
    }
}

/// A provider token row: the token's columns, then `credential_id` and `granted_at`.
#[derive(sqlx::FromRow)]
pub(crate) struct ProviderTokenRow {
    #[sqlx(flatten)]
    token: TokenRow,
    #[sqlx(flatten)]
    passkey: PasskeyCols,
}

impl ProviderTokenRow {
    pub(crate) fn into_access(self) -> Result<AccessToken> {
        Ok(AccessToken {
            passkey: self.passkey.into_passkey(),
            ..self.token.into_access()?
        })
    }

    pub(crate) fn into_refresh(self) -> Result<RefreshToken> {
        Ok(RefreshToken {
            passkey: self.passkey.into_passkey(),
            ..self.token.into_refresh()?
        })
    }
}

/// Access and refresh tokens share their columns.
#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    tenant: String,
    token_hash: Vec<u8>,
    client_id: String,
    grant_id: String,
    user_id: String,
    scope: String,
    payload: Vec<u8>,
    expires_at: OffsetDateTime,
}

impl TokenRow {
    pub(crate) fn into_access(self) -> Result<AccessToken> {
        Ok(AccessToken {
            token_hash: self.token_hash,
            tenant: tenant_id(&self.tenant)?,
            client_id: client_id(&self.client_id)?,
            grant_id: self.grant_id,
            user_id: user_id(&self.user_id)?,
            scope: self.scope,
            payload: self.payload,
            expires_at: self.expires_at,
            passkey: None,
        })
    }

    pub(crate) fn into_refresh(self) -> Result<RefreshToken> {
        Ok(RefreshToken {
            token_hash: self.token_hash,
            tenant: tenant_id(&self.tenant)?,
            client_id: client_id(&self.client_id)?,
            grant_id: self.grant_id,
            user_id: user_id(&self.user_id)?,
            scope: self.scope,
            payload: self.payload,
            expires_at: self.expires_at,
            passkey: None,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    tenant: String,
    id_hash: Vec<u8>,
    sid: String,
    user_id: String,
    auth_time: OffsetDateTime,
    user_verified: bool,
    backup_eligible: bool,
    attestation_trusted: bool,
    credential_id: Option<Vec<u8>>,
    last_seen_at: Option<OffsetDateTime>,
    expires_at: OffsetDateTime,
}

impl SessionRow {
    pub(crate) fn into_record(self) -> Result<Session> {
        Ok(Session {
            id_hash: self.id_hash,
            tenant: tenant_id(&self.tenant)?,
            user_id: user_id(&self.user_id)?,
            sid: self.sid,
            auth_time: self.auth_time,
            user_verified: self.user_verified,
            backup_eligible: self.backup_eligible,
            attestation_trusted: self.attestation_trusted,
            credential_id: self.credential_id,
            last_seen_at: self.last_seen_at.unwrap_or(self.auth_time),
            expires_at: self.expires_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SigningKeyRow {
    tenant: String,
    kid: String,
    alg: String,
    private_key_encrypted: Vec<u8>,
    public_jwk: serde_json::Value,
    created_at: OffsetDateTime,
    retired_at: Option<OffsetDateTime>,
    status: String,
}

impl SigningKeyRow {
    pub(crate) fn into_record(self) -> Result<SigningKey> {
        Ok(SigningKey {
            tenant: tenant_id(&self.tenant)?,
            kid: self.kid,
            alg: self.alg,
            private_key_encrypted: self.private_key_encrypted,
            public_jwk: self.public_jwk,
            created_at: self.created_at,
            retired_at: self.retired_at,
            status: KeyStatus::parse(&self.status)
                .ok_or_else(|| StoreError::Corrupt(format!("key status {:?}", self.status)))?,
        })
    }
}
