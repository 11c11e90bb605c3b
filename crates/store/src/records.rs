//! The records the store keeps, as plain values.
//!
//! Binary values are `Vec<u8>`; timestamps are `time::OffsetDateTime` in UTC. Backends keep timestamps to the
//! microsecond at least; values with finer precision may come back truncated.

use serde::{Deserialize, Serialize};
use tessera_core::{ClientId, TenantId, UserId};
use time::OffsetDateTime;

/// A customer tenant of the authenticator service: its relying party and its authenticator policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    /// The tenant's path segment.
    pub id: TenantId,
    /// Name shown on pages and in passkey prompts.
    pub display_name: String,
    /// The WebAuthn relying-party id (a registrable domain).
    pub rp_id: String,
    /// Origins allowed in `clientDataJSON.origin`, compared exactly.
    pub origins: Vec<String>,
    /// The WebAuthn authenticator policy; opaque to the store.
    pub policy: serde_json::Value,
    /// When the tenant was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// How many times the tenant was written: 1 when created, one more on every update. An update names the
    /// revision it read ([`crate::TenantStore::update_tenant`]), so a change made in between is never lost.
    #[serde(default = "first_revision")]
    pub revision: u64,
    /// The tenant's settings beside the authenticator policy (session lifetimes, account-enumeration protection);
    /// opaque to the store, `{}` for every default.
    #[serde(default = "empty_settings")]
    pub settings: serde_json::Value,
}

fn empty_settings() -> serde_json::Value {
    serde_json::json!({})
}

impl Tenant {
    /// The revision of a tenant just created.
    pub const FIRST_REVISION: u64 = 1;
}

fn first_revision() -> u64 {
    Tenant::FIRST_REVISION
}

/// An OAuth 2.0 / OpenID Connect client registered with a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Client {
    /// The tenant the client belongs to.
    pub tenant: TenantId,
    /// The client identifier, unique per tenant.
    pub client_id: ClientId,
    /// Name shown to users.
    pub display_name: String,
    /// SHA-256 of the client secret (a high-entropy random value); `None` for a public client.
    #[serde(default, skip_serializing)]
    pub secret_hash: Option<Vec<u8>>,
    /// Registered redirect URIs, compared exactly.
    pub redirect_uris: Vec<String>,
    /// Registered post-logout redirect URIs, compared exactly.
    pub post_logout_redirect_uris: Vec<String>,
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt` or `none`.
    pub token_endpoint_auth_method: String,
    /// The ID token signing algorithm (`RS256` or `ES256`).
    pub id_token_signed_response_alg: String,
    /// The client's JWK Set, for `private_key_jwt`.
    pub jwks: Option<serde_json::Value>,
    /// Scopes the client may request.
    pub allowed_scopes: Vec<String>,
    /// When the client was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A user of a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// The tenant the user belongs to.
    pub tenant: TenantId,
    /// Stable identifier (the ID token's `sub`).
    pub id: UserId,
    /// The sign-in name, unique per tenant when compared case-insensitively (Unicode lowercase).
    pub username: String,
    /// Name shown on pages.
    pub display_name: String,
    /// Email address, if given.
    pub email: Option<String>,
    /// Whether the email address was verified.
    pub email_verified: bool,
    /// The WebAuthn `user.id` (user handle), unique per tenant.
    pub user_handle: Vec<u8>,
    /// When the user signed up.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When an operator disabled the user (`None`: active); a disabled user cannot sign in.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub disabled_at: Option<OffsetDateTime>,
}

/// A WebAuthn credential record (WebAuthn L3 §7.1 "create the credential record").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credential {
    /// The tenant the credential belongs to.
    pub tenant: TenantId,
    /// The credential id, unique per tenant.
    pub credential_id: Vec<u8>,
    /// The owning user.
    pub user_id: UserId,
    /// The credential public key, COSE-encoded.
    pub public_key: Vec<u8>,
    /// The COSE algorithm of the key.
    pub alg: i64,
    /// The last signature counter seen.
    pub sign_count: u32,
    /// Whether user verification was performed at registration.
    pub uv_initialized: bool,
    /// The BE flag at registration.
    pub backup_eligible: bool,
    /// The BS flag at the last ceremony.
    pub backup_state: bool,
    /// Transports the client reported.
    pub transports: Vec<String>,
    /// The authenticator's AAGUID (all zeros when unknown).
    pub aaguid: [u8; 16],
    /// The attestation statement format at registration (`none`, `packed`, ...).
    pub attestation_format: String,
    /// Whether the attestation at registration chained to a trusted root (a configured anchor or an MDS entry).
    #[serde(default)]
    pub attestation_trusted: bool,
    /// The user's name for this passkey.
    pub nickname: String,
    /// When the credential was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the credential was last used to sign in.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// The counter update of a verified assertion, for [`crate::GrantStore::record_sign_in`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignCountBump {
    /// The credential that signed.
    pub credential_id: Vec<u8>,
    /// The counter the caller read before verifying.
    pub expected_old: u32,
    /// The counter in the assertion.
    pub new: u32,
    /// The assertion's backup state (BS flag).
    pub backup_state: bool,
    /// When the credential was used.
    pub used_at: OffsetDateTime,
}

impl SignCountBump {
    /// The sign-count rule (WebAuthn L3 §7.2 step "If authData.signCount is nonzero or storedSignCount is
    /// nonzero"): the counter must increase, unless the authenticator keeps none (both zero). A bump that does not
    /// move forward is a clone signal (or a concurrent sign-in moved the counter first) and changes nothing; the
    /// backends make their conditional update only when this holds.
    pub fn moves_forward(&self) -> bool {
        self.new > self.expected_old || (self.new == 0 && self.expected_old == 0)
    }
}

/// What [`crate::GrantStore::record_sign_in`] does when the counter did not move forward (the tenant's
/// sign-count policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignCountRegression {
    /// Refuse the sign-in: no session is started and nothing changes.
    Refuse,
    /// Accept the sign-in anyway (the counter stays as it was) and start the session.
    Accept,
}

/// Outcome of the counter update of [`crate::GrantStore::record_sign_in`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignCountUpdate {
    /// The counter (and backup state, last use) were updated.
    Updated,
    /// The stored counter was not `expected_old`, or the new counter does not exceed it (and both are not zero):
    /// a possible cloned authenticator or a concurrent use. Nothing was changed.
    Regressed,
}

/// The passkey a grant was issued from (by a session signed in with it) and when. Revoking that passkey at or after
/// `granted_at` revokes the grant: its codes and tokens are refused from then on ([`crate::UserStore::delete_credential`],
/// a disabled or deleted user). The store keeps no bond row per grant; each code and token row carries its grant's
/// passkey, checked against the store's revoked passkeys when used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantPasskey {
    /// The credential id of the passkey.
    pub credential_id: Vec<u8>,
    /// When the grant was issued (its authorization code).
    pub granted_at: OffsetDateTime,
}

/// An authorization code, stored by the hash of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    /// SHA-256 of the code value.
    pub code_hash: Vec<u8>,
    /// The tenant that issued the code.
    pub tenant: TenantId,
    /// The client the code was issued to.
    pub client_id: ClientId,
    /// The grant the code starts; tokens issued from it carry the same grant id.
    pub grant_id: String,
    /// The grant, as opaque JSON (user, scope, nonce, PKCE challenge, redirect URI, auth_time, amr, acr).
    pub payload: Vec<u8>,
    /// When the code stops being redeemable.
    pub expires_at: OffsetDateTime,
    /// The passkey the grant was issued from, if any: revoking it revokes this code. Tokens of a code's grant
    /// carry the code's.
    pub passkey: Option<GrantPasskey>,
}

/// Outcome of [`crate::GrantStore::consume_auth_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedemption {
    /// First redemption of a live code.
    Redeemed(AuthCode),
    /// The code was redeemed before: the caller must refuse and revoke the grant's tokens.
    AlreadyRedeemed {
        /// The grant to revoke.
        grant_id: String,
    },
    /// No such code for this tenant, or it expired unredeemed.
    NotFound,
}

/// An access token, stored by the hash of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// SHA-256 of the token value.
    pub token_hash: Vec<u8>,
    /// The issuing tenant.
    pub tenant: TenantId,
    /// The client the token was issued to.
    pub client_id: ClientId,
    /// The grant the token belongs to.
    pub grant_id: String,
    /// The user the token is about.
    pub user_id: UserId,
    /// Granted scope (space-separated).
    pub scope: String,
    /// Opaque JSON the token endpoint wants back at userinfo.
    pub payload: Vec<u8>,
    /// Expiry.
    pub expires_at: OffsetDateTime,
    /// The passkey the grant was issued from, if any: revoking it revokes this token. Tokens of a code's grant
    /// carry the code's.
    pub passkey: Option<GrantPasskey>,
}

/// A refresh token, stored by the hash of its value; one grant is one rotation family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// SHA-256 of the token value.
    pub token_hash: Vec<u8>,
    /// The issuing tenant.
    pub tenant: TenantId,
    /// The client the token is bound to.
    pub client_id: ClientId,
    /// The grant (rotation family) the token belongs to.
    pub grant_id: String,
    /// The user the token is about.
    pub user_id: UserId,
    /// Granted scope (space-separated).
    pub scope: String,
    /// Opaque JSON of the rotation family's grant (user, scopes, auth_time, authentication facts, ...), the same
    /// for every token of the family, so that a refresh learns everything from the token it is given.
    pub payload: Vec<u8>,
    /// Expiry.
    pub expires_at: OffsetDateTime,
    /// The passkey the grant was issued from, if any: revoking it revokes this token. Tokens of a code's grant
    /// carry the code's.
    pub passkey: Option<GrantPasskey>,
}

/// Outcome of [`crate::GrantStore::rotate_refresh_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshRotation {
    /// The old token was live; it is now spent and the new one stored. Holds the old record.
    Rotated(RefreshToken),
    /// The old token was already rotated: reuse. The caller must revoke the grant.
    Reused {
        /// The grant (family) to revoke.
        grant_id: String,
    },
    /// No such live token for this tenant (unknown, expired or revoked).
    NotFound,
}

/// A browser session, stored by the hash of its cookie value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the session cookie value.
    pub id_hash: Vec<u8>,
    /// The tenant signed in to.
    pub tenant: TenantId,
    /// The signed-in user.
    pub user_id: UserId,
    /// The session's public handle (the ID token's `sid`): random, unique per tenant, and not the cookie secret.
    pub sid: String,
    /// When the user last authenticated.
    pub auth_time: OffsetDateTime,
    /// The authenticator verified the user (UV flag) in that authentication.
    pub user_verified: bool,
    /// The credential used is backup eligible (BE flag): a synced passkey.
    pub backup_eligible: bool,
    /// The credential's attestation at registration chained to a trusted root.
    pub attestation_trusted: bool,
    /// The passkey the session was signed in with (`None` for sessions made otherwise): deleting it ends the
    /// session.
    pub credential_id: Option<Vec<u8>>,
    /// When the session was last used (its start, then [`crate::GrantStore::touch_session`]), for the idle timeout.
    pub last_seen_at: OffsetDateTime,
    /// Expiry (the absolute lifetime).
    pub expires_at: OffsetDateTime,
}

/// Whether a signing key signs, is only published, or is on its way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Published in JWKS ahead of use, not yet signing.
    Pending,
    /// Signs new tokens; published.
    Active,
    /// No longer signs; published until tokens it signed have expired.
    Retired,
}

impl KeyStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(Self::Pending),
            "active" => Some(Self::Active),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

/// A tenant's token signing key; the private part is encrypted by the caller under the master key.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningKey {
    /// The tenant whose tokens the key signs.
    pub tenant: TenantId,
    /// Key id, unique per tenant.
    pub kid: String,
    /// JWS algorithm (`RS256`, `ES256`).
    pub alg: String,
    /// The private key, encrypted under the master key.
    pub private_key_encrypted: Vec<u8>,
    /// The public key as a JWK.
    pub public_jwk: serde_json::Value,
    /// When the key was created.
    pub created_at: OffsetDateTime,
    /// When the key was retired.
    pub retired_at: Option<OffsetDateTime>,
    /// The key's status.
    pub status: KeyStatus,
}

/// Folds a username for uniqueness and lookup: Unicode lowercase. Both backends store and compare this form.
pub fn fold_username(username: &str) -> String {
    username.to_lowercase()
}

/// Folds a user's display name for the operators' search by its start: Unicode lowercase, as usernames are. Both
/// backends store this form beside the display name.
pub fn fold_display_name(display_name: &str) -> String {
    display_name.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_fold_ignores_case_beyond_ascii() {
        assert_eq!(fold_username("Émile"), fold_username("éMILE"));
        assert_eq!(fold_username("ALICE"), "alice");
        assert_ne!(fold_username("alice"), fold_username("alice "));
    }

    fn bump(expected_old: u32, new: u32) -> SignCountBump {
        SignCountBump {
            credential_id: vec![1],
            expected_old,
            new,
            backup_state: false,
            used_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn sign_count_must_increase_unless_both_are_zero() {
        assert!(bump(4, 5).moves_forward());
        assert!(bump(0, 0).moves_forward());
        assert!(bump(0, 1).moves_forward());
        assert!(!bump(5, 5).moves_forward(), "an unchanged nonzero counter");
        assert!(!bump(5, 4).moves_forward(), "a counter that went back");
        assert!(!bump(5, 0).moves_forward(), "a counter reset to zero");
    }

    #[test]
    fn tenant_without_a_stored_revision_reads_as_the_first() {
        let json = serde_json::json!({
            "id": "t", "display_name": "T", "rp_id": "t.example", "origins": [], "policy": {},
            "created_at": "2026-01-01T00:00:00Z",
        });
        let tenant: Tenant = serde_json::from_value(json).expect("tenant");
        assert_eq!(tenant.revision, Tenant::FIRST_REVISION);
    }

    #[test]
    fn key_status_names_round_trip_and_unknown_is_refused() {
        for status in [KeyStatus::Pending, KeyStatus::Active, KeyStatus::Retired] {
            assert_eq!(KeyStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(KeyStatus::parse("Active"), None);
        assert_eq!(KeyStatus::parse(""), None);
    }

    #[test]
    fn client_secret_hash_is_never_serialized() {
        let client = Client {
            tenant: TenantId::parse("t").expect("tenant"),
            client_id: ClientId::parse("c").expect("client"),
            display_name: "C".into(),
            secret_hash: Some(vec![1, 2, 3]),
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            token_endpoint_auth_method: "client_secret_basic".into(),
            id_token_signed_response_alg: "RS256".into(),
            jwks: None,
            allowed_scopes: vec![],
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        let json = serde_json::to_value(&client).expect("serialize");
        assert!(json.get("secret_hash").is_none());
    }
}

/// What an authenticator-service tenant still holds, counted when it is deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantContents {
    /// Its OAuth clients.
    pub clients: u64,
    /// Its users.
    pub users: u64,
}

impl TenantContents {
    /// Whether the tenant holds none of them.
    pub fn is_empty(&self) -> bool {
        self.clients == 0 && self.users == 0
    }
}

/// The outcome of deleting a tenant (of either role) with its contents `C`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantDeletion<C> {
    /// The tenant and everything of it are gone; what it still held.
    Deleted(C),
    /// The tenant was kept because it still holds these (and the deletion was not forced); nothing changed.
    NotEmpty(C),
}
