//! ID token claims (OIDC Core §2, §3.1.3.6) and userinfo claims by scope (OIDC Core §5.4). Minting takes `amr` and
//! `acr` values from the caller; [`AuthenticationFacts`] is a separate pure mapping from what a WebAuthn ceremony
//! established to those values (RFC 8176 `amr`, OpenID EAP ACR values), so another kind of sign-in (a broker's
//! upstream provider) brings its own.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tessera_core::{ClientId, UserId};
use time::{Duration, OffsetDateTime};

use crate::error::OidcError;
use crate::jose::sign_jwt;
use crate::keys::SigningKey;

/// `acr` for a phishing-resistant authentication (OpenID EAP ACR Values 1.0): every passkey sign-in, since the
/// authenticator binds its signature to our origin.
pub const ACR_PHISHING_RESISTANT: &str = "phr";
/// `acr` for a phishing-resistant authentication with a hardware-protected key: a device-bound (not backup
/// eligible) credential whose attestation chained to a trusted root.
pub const ACR_PHISHING_RESISTANT_HARDWARE: &str = "phrh";

/// What the WebAuthn ceremony established about the sign-in, as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticationFacts {
    /// The authenticator verified the user (UV flag: PIN or biometric).
    pub user_verified: bool,
    /// The credential may be synced to other devices (BE flag): a software-held key from our point of view.
    pub backup_eligible: bool,
    /// The credential's attestation, at registration, chained to a trusted root (or MDS entry).
    pub attestation_trusted: bool,
}

impl AuthenticationFacts {
    /// RFC 8176 `amr` values: `pop` (proof of possession of a key), `hwk` for a device-bound key or `swk` for a
    /// synced one, `user` (user presence, always required), and `mfa` when the user was also verified (the key is
    /// something one has, the PIN or biometric something one knows or is).
    pub fn amr(&self) -> Vec<&'static str> {
        let mut amr = vec![
            "pop",
            if self.backup_eligible { "swk" } else { "hwk" },
            "user",
        ];
        if self.user_verified {
            amr.push("mfa");
        }
        amr
    }

    /// The `acr`: [`ACR_PHISHING_RESISTANT_HARDWARE`] for a device-bound, trusted-attested key, otherwise
    /// [`ACR_PHISHING_RESISTANT`].
    pub fn acr(&self) -> &'static str {
        if !self.backup_eligible && self.attestation_trusted {
            ACR_PHISHING_RESISTANT_HARDWARE
        } else {
            ACR_PHISHING_RESISTANT
        }
    }
}

/// The user's claims, as the directory holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProfile {
    /// Stable per tenant: the `sub`.
    pub sub: UserId,
    /// The username (`preferred_username`).
    pub username: String,
    /// Display name (`name`).
    pub name: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Whether the email address was verified.
    pub email_verified: bool,
    /// When the profile last changed (`updated_at`).
    #[serde(default, with = "time::serde::timestamp::option")]
    pub updated_at: Option<OffsetDateTime>,
}

/// Everything an ID token is made of.
#[derive(Debug, Clone, Copy)]
pub struct IdTokenInput<'a> {
    /// The tenant's issuer.
    pub issuer: &'a str,
    /// The audience.
    pub client_id: &'a ClientId,
    /// The user.
    pub user: &'a UserProfile,
    /// Granted scopes.
    pub scopes: &'a [String],
    /// The `claims` request parameter, if any (OIDC Core §5.5).
    pub claims_request: Option<&'a Value>,
    /// The authorization request's nonce (absent on refresh unless kept).
    pub nonce: Option<&'a str>,
    /// When the user authenticated.
    pub auth_time: OffsetDateTime,
    /// RFC 8176 `amr` values: how the user authenticated (for a passkey sign-in, [`AuthenticationFacts::amr`]).
    pub amr: &'a [&'a str],
    /// The `acr` value (for a passkey sign-in, [`AuthenticationFacts::acr`]).
    pub acr: &'a str,
    /// The session id (`sid`), for logout.
    pub sid: Option<&'a str>,
    /// The access token issued alongside, for `at_hash`.
    pub access_token: Option<&'a str>,
    /// Now.
    pub now: OffsetDateTime,
    /// Lifetime of the token.
    pub lifetime: Duration,
}

/// `at_hash`: base64url of the left half of SHA-256 of the access token (OIDC Core §3.1.3.6; SHA-256 for both
/// RS256 and ES256).
pub fn at_hash(access_token: &str) -> String {
    let d = digest(&SHA256, access_token.as_bytes());
    B64.encode(&d.as_ref()[..16])
}

/// The ID token's claims.
pub fn id_token_claims(input: &IdTokenInput<'_>) -> Value {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(input.issuer));
    claims.insert("sub".into(), json!(input.user.sub.as_str()));
    claims.insert("aud".into(), json!(input.client_id.as_str()));
    claims.insert("azp".into(), json!(input.client_id.as_str()));
    claims.insert(
        "exp".into(),
        json!((input.now + input.lifetime).unix_timestamp()),
    );
    claims.insert("iat".into(), json!(input.now.unix_timestamp()));
    claims.insert("auth_time".into(), json!(input.auth_time.unix_timestamp()));
    if let Some(nonce) = input.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    claims.insert("amr".into(), json!(input.amr));
    claims.insert("acr".into(), json!(input.acr));
    if let Some(sid) = input.sid {
        claims.insert("sid".into(), json!(sid));
    }
    if let Some(token) = input.access_token {
        claims.insert("at_hash".into(), json!(at_hash(token)));
    }
    add_profile_claims(
        &mut claims,
        input.user,
        input.scopes,
        requested_claims(input.claims_request, "id_token"),
    );
    Value::Object(claims)
}

/// Builds and signs an ID token with `key`.
pub fn mint_id_token(key: &SigningKey, input: &IdTokenInput<'_>) -> Result<String, OidcError> {
    sign_jwt(key, &id_token_claims(input))
}

/// Userinfo claims (OIDC Core §5.3.2): `sub` (the same as in the ID token) and the claims the scopes and the
/// `claims` request parameter's `userinfo` member release.
pub fn userinfo_claims(
    user: &UserProfile,
    scopes: &[String],
    claims_request: Option<&Value>,
) -> Value {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(user.sub.as_str()));
    add_profile_claims(
        &mut claims,
        user,
        scopes,
        requested_claims(claims_request, "userinfo"),
    );
    Value::Object(claims)
}

fn requested_claims<'a>(claims_request: Option<&'a Value>, member: &str) -> Vec<&'a str> {
    claims_request
        .and_then(|c| c.get(member))
        .and_then(Value::as_object)
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn add_profile_claims(
    claims: &mut Map<String, Value>,
    user: &UserProfile,
    scopes: &[String],
    extra: Vec<&str>,
) {
    let scope = |s: &str| scopes.iter().any(|g| g == s);
    let wanted = |claim: &str, by_scope: &str| scope(by_scope) || extra.contains(&claim);
    if wanted("preferred_username", "profile") {
        claims.insert("preferred_username".into(), json!(user.username));
    }
    if let Some(name) = user.name.as_ref().filter(|_| wanted("name", "profile")) {
        claims.insert("name".into(), json!(name));
    }
    if let Some(updated) = user.updated_at.filter(|_| wanted("updated_at", "profile")) {
        claims.insert("updated_at".into(), json!(updated.unix_timestamp()));
    }
    if let Some(email) = &user.email {
        if wanted("email", "email") {
            claims.insert("email".into(), json!(email));
        }
        if wanted("email_verified", "email") {
            claims.insert("email_verified".into(), json!(user.email_verified));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserProfile {
        UserProfile {
            sub: UserId::parse("u-123").expect("user"),
            username: "alice".into(),
            name: Some("Alice Liddell".into()),
            email: Some("alice@example.com".into()),
            email_verified: true,
            updated_at: None,
        }
    }

    const NOW: OffsetDateTime = time::macros::datetime!(2026-06-01 12:00 UTC);

    fn input<'a>(
        user: &'a UserProfile,
        client: &'a ClientId,
        scopes: &'a [String],
        facts: &'a (Vec<&'static str>, &'static str),
    ) -> IdTokenInput<'a> {
        IdTokenInput {
            issuer: "https://op.example/acme/oidc",
            client_id: client,
            user,
            scopes,
            claims_request: None,
            nonce: Some("n1"),
            auth_time: NOW - Duration::seconds(30),
            amr: &facts.0,
            acr: facts.1,
            sid: Some("s1"),
            access_token: Some("access"),
            now: NOW,
            lifetime: Duration::minutes(5),
        }
    }

    #[test]
    fn at_hash_is_left_half_of_sha256() {
        // OIDC Core §A.3 example: access token and at_hash.
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn amr_values_are_registered_rfc8176_values() {
        // The IANA "Authentication Method Reference Values" registry: RFC 8176 §2, plus `pop` (OpenID EAP ACR
        // Values 1.0 §5).
        const REGISTERED: [&str; 21] = [
            "face", "fpt", "geo", "hwk", "iris", "kba", "mca", "mfa", "otp", "pin", "pwd", "rba",
            "retina", "sc", "sms", "swk", "tel", "user", "vbm", "wia", "pop",
        ];
        for bits in 0u8..8 {
            let f = AuthenticationFacts {
                user_verified: bits & 1 != 0,
                backup_eligible: bits & 2 != 0,
                attestation_trusted: bits & 4 != 0,
            };
            for value in f.amr() {
                assert!(REGISTERED.contains(&value), "{value}");
            }
            assert_eq!(f.amr().contains(&"hwk"), !f.backup_eligible);
            assert_eq!(f.amr().contains(&"swk"), f.backup_eligible);
        }
    }

    #[test]
    fn amr_synced_passkey_with_uv() {
        let f = AuthenticationFacts {
            user_verified: true,
            backup_eligible: true,
            attestation_trusted: false,
        };
        assert_eq!(f.amr(), vec!["pop", "swk", "user", "mfa"]);
        assert_eq!(f.acr(), "phr");
    }

    #[test]
    fn amr_device_bound_without_uv_is_not_mfa() {
        let f = AuthenticationFacts {
            user_verified: false,
            backup_eligible: false,
            attestation_trusted: true,
        };
        assert_eq!(f.amr(), vec!["pop", "hwk", "user"]);
        assert_eq!(f.acr(), "phrh");
    }

    #[test]
    fn acr_phrh_requires_trusted_attestation() {
        let f = AuthenticationFacts {
            user_verified: true,
            backup_eligible: false,
            attestation_trusted: false,
        };
        assert_eq!(f.acr(), "phr");
    }

    #[test]
    fn oidcc_server_id_token_has_the_required_claims() {
        let (u, c) = (user(), ClientId::parse("rp").expect("id"));
        let scopes = vec!["openid".to_owned()];
        let facts = AuthenticationFacts {
            user_verified: true,
            backup_eligible: true,
            attestation_trusted: false,
        };
        let facts = (facts.amr(), facts.acr());
        let claims = id_token_claims(&input(&u, &c, &scopes, &facts));
        assert_eq!(claims["iss"], "https://op.example/acme/oidc");
        assert_eq!(claims["sub"], "u-123");
        assert_eq!(claims["aud"], "rp");
        assert_eq!(claims["azp"], "rp");
        assert_eq!(claims["iat"], NOW.unix_timestamp());
        assert_eq!(claims["exp"], NOW.unix_timestamp() + 300);
        assert_eq!(claims["auth_time"], NOW.unix_timestamp() - 30);
        assert_eq!(claims["nonce"], "n1");
        assert_eq!(claims["sid"], "s1");
        assert_eq!(claims["at_hash"], at_hash("access"));
        assert_eq!(claims["acr"], "phr");
        assert!(
            claims.get("email").is_none(),
            "no email without the email scope"
        );
        assert!(
            claims.get("name").is_none(),
            "no name without the profile scope"
        );
    }

    #[test]
    fn oidcc_scope_profile_and_email() {
        let (u, c) = (user(), ClientId::parse("rp").expect("id"));
        let scopes = vec![
            "openid".to_owned(),
            "profile".to_owned(),
            "email".to_owned(),
        ];
        let facts = AuthenticationFacts {
            user_verified: true,
            backup_eligible: true,
            attestation_trusted: false,
        };
        let facts = (facts.amr(), facts.acr());
        let claims = id_token_claims(&input(&u, &c, &scopes, &facts));
        assert_eq!(claims["name"], "Alice Liddell");
        assert_eq!(claims["preferred_username"], "alice");
        assert_eq!(claims["email"], "alice@example.com");
        assert_eq!(claims["email_verified"], true);
        let info = userinfo_claims(&u, &scopes, None);
        assert_eq!(info["sub"], claims["sub"]);
        assert_eq!(info["email"], "alice@example.com");
    }

    #[test]
    fn userinfo_without_scopes_gives_only_sub() {
        let info = userinfo_claims(&user(), &["openid".to_owned()], None);
        assert_eq!(info, json!({"sub": "u-123"}));
    }

    #[test]
    fn oidcc_claims_essential_releases_name() {
        let req = json!({"userinfo": {"name": {"essential": true}}, "id_token": {"email": null}});
        let info = userinfo_claims(&user(), &["openid".to_owned()], Some(&req));
        assert_eq!(info["name"], "Alice Liddell");
        let (u, c) = (user(), ClientId::parse("rp").expect("id"));
        let scopes = vec!["openid".to_owned()];
        let facts = AuthenticationFacts {
            user_verified: true,
            backup_eligible: true,
            attestation_trusted: false,
        };
        let facts = (facts.amr(), facts.acr());
        let mut i = input(&u, &c, &scopes, &facts);
        i.claims_request = Some(&req);
        let claims = id_token_claims(&i);
        assert_eq!(claims["email"], "alice@example.com");
        assert!(claims.get("name").is_none());
    }
}
