//! Rows as SQLite returns them, and their conversion into records.

use crate::convert::{from_json, from_opt_ts, from_ts};
use tessera_store::convert::{aaguid, client_id, revision, sign_count, tenant_id, user_id};
use tessera_store::{
    AccessToken, AuthCode, Client, Credential, GrantPasskey, KeyStatus, RefreshToken, Session,
    SigningKey, StoreError, Tenant, User,
};

type Result<T> = std::result::Result<T, StoreError>;

/// Column `index` of `row`, which must be named `name`. Rows are read by position: a lookup by name compares the
/// name with every column's, for every field of every row (about 3 % of a sign-in's instructions). Debug builds,
/// hence every test, check that the query lists the fields in the struct's order.
pub(crate) fn column<T: rusqlite::types::FromSql>(
    row: &rusqlite::Row<'_>,
    index: usize,
    name: &str,
) -> rusqlite::Result<T> {
    debug_assert_eq!(
        row.as_ref().column_name(index).ok(),
        Some(name),
        "column {index} of the query is not `{name}`"
    );
    row.get(index)
}

/// Declares a row struct and its reader, which takes the fields from the query's columns in order (each column
/// named as its field: [`column`]).
macro_rules! row_struct {
    ($name:ident { $($field:ident: $ty:ty,)* }) => {
        pub(crate) struct $name {
            $($field: $ty,)*
        }

        impl $name {
            #[allow(unused_assignments)]
            pub(crate) fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                let mut index = 0;
                Ok(Self {
                    $($field: {
                        let value = $crate::rows::column(row, index, stringify!($field))?;
                        index += 1;
                        value
                    },)*
                })
            }
        }
    };
}

row_struct!(TenantRow {
    id: String,
    display_name: String,
    rp_id: String,
    origins: String,
    policy: String,
    created_at: i64,
    revision: i64,
    settings: String,
});

impl TenantRow {
    pub(crate) fn into_record(self) -> Result<Tenant> {
        Ok(Tenant {
            id: tenant_id(&self.id)?,
            display_name: self.display_name,
            rp_id: self.rp_id,
            origins: from_json(&self.origins)?,
            policy: from_json(&self.policy)?,
            created_at: from_ts(self.created_at)?,
            revision: revision(self.revision)?,
            settings: from_json(&self.settings)?,
        })
    }
}

row_struct!(ClientRow {
    tenant: String,
    client_id: String,
    display_name: String,
    secret_hash: Option<Vec<u8>>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    token_endpoint_auth_method: String,
    id_token_signed_response_alg: String,
    jwks: Option<String>,
    allowed_scopes: String,
    created_at: i64,
});

impl ClientRow {
    pub(crate) fn into_record(self) -> Result<Client> {
        Ok(Client {
            tenant: tenant_id(&self.tenant)?,
            client_id: client_id(&self.client_id)?,
            display_name: self.display_name,
            secret_hash: self.secret_hash,
            redirect_uris: from_json(&self.redirect_uris)?,
            post_logout_redirect_uris: from_json(&self.post_logout_redirect_uris)?,
            token_endpoint_auth_method: self.token_endpoint_auth_method,
            id_token_signed_response_alg: self.id_token_signed_response_alg,
            jwks: self.jwks.as_deref().map(from_json).transpose()?,
            allowed_scopes: from_json(&self.allowed_scopes)?,
            created_at: from_ts(self.created_at)?,
        })
    }
}

row_struct!(UserRow {
    tenant: String,
    id: String,
    username: String,
    display_name: String,
    email: Option<String>,
    email_verified: bool,
    user_handle: Vec<u8>,
    created_at: i64,
    disabled_at: Option<i64>,
});

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
            created_at: from_ts(self.created_at)?,
            disabled_at: self.disabled_at.map(from_ts).transpose()?,
        })
    }
}

row_struct!(CredentialRow {
    tenant: String,
    credential_id: Vec<u8>,
    user_id: String,
    public_key: Vec<u8>,
    alg: i64,
    sign_count: i64,
    uv_initialized: bool,
    backup_eligible: bool,
    backup_state: bool,
    transports: String,
    aaguid: Vec<u8>,
    attestation_format: String,
    nickname: String,
    created_at: i64,
    last_used_at: Option<i64>,
    attestation_trusted: bool,
});

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
            transports: from_json(&self.transports)?,
            aaguid: aaguid(&self.aaguid)?,
            attestation_format: self.attestation_format,
            attestation_trusted: self.attestation_trusted,
            nickname: self.nickname,
            created_at: from_ts(self.created_at)?,
            last_used_at: from_opt_ts(self.last_used_at)?,
        })
    }
}

row_struct!(AuthCodeRow {
    tenant: String,
    code_hash: Vec<u8>,
    client_id: String,
    grant_id: String,
    payload: Vec<u8>,
    expires_at: i64,
});

impl AuthCodeRow {
    pub(crate) fn into_record(self) -> Result<AuthCode> {
        Ok(AuthCode {
            code_hash: self.code_hash,
            tenant: tenant_id(&self.tenant)?,
            client_id: client_id(&self.client_id)?,
            grant_id: self.grant_id,
            payload: self.payload,
            expires_at: from_ts(self.expires_at)?,
            passkey: None,
        })
    }
}

/// The grant's passkey of a provider code or token row: columns `credential_id` and `granted_at` from `index` on
/// (both `NULL` for a grant not issued from a passkey). Broker rows have no such columns.
pub(crate) fn passkey_at(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<PasskeyCols> {
    Ok(PasskeyCols {
        credential_id: column(row, index, "credential_id")?,
        granted_at: column(row, index + 1, "granted_at")?,
    })
}

/// The two passkey columns as read ([`passkey_at`]).
pub(crate) struct PasskeyCols {
    credential_id: Option<Vec<u8>>,
    granted_at: Option<i64>,
}

impl PasskeyCols {
    pub(crate) fn into_passkey(self) -> Result<Option<GrantPasskey>> {
        match (self.credential_id, self.granted_at) {
            (Some(credential_id), Some(granted_at)) => Ok(Some(GrantPasskey {
                credential_id,
                granted_at: from_ts(granted_at)?,
            })),
            _ => Ok(None),
        }
    }
}

// Access and refresh tokens share their columns.
row_struct!(TokenRow {
    tenant: String,
    token_hash: Vec<u8>,
    client_id: String,
    grant_id: String,
    user_id: String,
    scope: String,
    payload: Vec<u8>,
    expires_at: i64,
});

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
            expires_at: from_ts(self.expires_at)?,
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
            expires_at: from_ts(self.expires_at)?,
            passkey: None,
        })
    }
}

row_struct!(SessionRow {
    tenant: String,
    id_hash: Vec<u8>,
    sid: String,
    user_id: String,
    auth_time: i64,
    user_verified: bool,
    backup_eligible: bool,
    attestation_trusted: bool,
    credential_id: Option<Vec<u8>>,
    last_seen_at: Option<i64>,
    expires_at: i64,
});

impl SessionRow {
    pub(crate) fn into_record(self) -> Result<Session> {
        Ok(Session {
            id_hash: self.id_hash,
            tenant: tenant_id(&self.tenant)?,
            user_id: user_id(&self.user_id)?,
            sid: self.sid,
            auth_time: from_ts(self.auth_time)?,
            user_verified: self.user_verified,
            backup_eligible: self.backup_eligible,
            attestation_trusted: self.attestation_trusted,
            credential_id: self.credential_id,
            last_seen_at: from_ts(self.last_seen_at.unwrap_or(self.auth_time))?,
            expires_at: from_ts(self.expires_at)?,
        })
    }
}

row_struct!(SigningKeyRow {
    tenant: String,
    kid: String,
    alg: String,
    private_key_encrypted: Vec<u8>,
    public_jwk: String,
    created_at: i64,
    retired_at: Option<i64>,
    status: String,
});

impl SigningKeyRow {
    pub(crate) fn into_record(self) -> Result<SigningKey> {
        Ok(SigningKey {
            tenant: tenant_id(&self.tenant)?,
            kid: self.kid,
            alg: self.alg,
            private_key_encrypted: self.private_key_encrypted,
            public_jwk: from_json(&self.public_jwk)?,
            created_at: from_ts(self.created_at)?,
            retired_at: from_opt_ts(self.retired_at)?,
            status: KeyStatus::parse(&self.status)
                .ok_or_else(|| StoreError::Corrupt(format!("key status {:?}", self.status)))?,
        })
    }
}
