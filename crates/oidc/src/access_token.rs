//! Access tokens as JWTs (RFC 9068, `typ: at+jwt`), verified by the userinfo endpoint without a store lookup, and
//! the bearer-token extraction rules of RFC 6750 §2.
//!
//! Revocation (a reused code, a logout) is the caller's: keep the `jti` or grant id of revoked tokens until they
//! expire, and keep access-token lifetimes short.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_core::{ClientId, UserId};
use time::{Duration, OffsetDateTime};

use crate::error::OidcError;
use crate::jose::{sign_jwt_typed, verify_jws};
use crate::keys::{SigningKey, VerifyingKey};

/// The JWT `typ` of access tokens (RFC 9068 §2.1), which keeps an ID token from being used as one.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// The user.
    pub sub: UserId,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Unique id, for revocation lists.
    pub jti: String,
    /// The grant (code or refresh family) it came from, for revoking everything a reused code issued.
    pub grant_id: Option<String>,
    /// The session id.
    pub sid: Option<String>,
    /// When the user authenticated.
    #[serde(with = "time::serde::timestamp")]
    pub auth_time: OffsetDateTime,
    /// Expiry.
    #[serde(with = "time::serde::timestamp")]
    pub expires_at: OffsetDateTime,
}

impl AccessTokenClaims {
    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Signs an access token for `claims`, issued now by `issuer`, whose audience is the issuer itself (its userinfo
/// endpoint is the only resource it serves).
pub fn mint_access_token(
    key: &SigningKey,
    issuer: &str,
    claims: &AccessTokenClaims,
    now: OffsetDateTime,
) -> Result<String, OidcError> {
    let mut body = json!({
        "iss": issuer,
        "aud": issuer,
        "sub": claims.sub.as_str(),
        "client_id": claims.client_id.as_str(),
        "scope": claims.scopes.join(" "),
        "jti": claims.jti,
        "iat": now.unix_timestamp(),
        "exp": claims.expires_at.unix_timestamp(),
        "auth_time": claims.auth_time.unix_timestamp(),
    });
    if let Some(obj) = body.as_object_mut() {
        if let Some(gid) = &claims.grant_id {
            obj.insert("gid".into(), json!(gid));
        }
        if let Some(sid) = &claims.sid {
            obj.insert("sid".into(), json!(sid));
        }
    }
    sign_jwt_typed(key, ACCESS_TOKEN_TYP, &body)
}

/// The standard lifetime of an access token.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::minutes(10);

/// Verifies an access token: signature by one of the issuer's keys, `typ=at+jwt`, `iss` and `aud` equal to the
/// issuer, not expired.
pub fn verify_access_token(
    token: &str,
    keys: &[VerifyingKey],
    issuer: &str,
    now: OffsetDateTime,
) -> Result<AccessTokenClaims, OidcError> {
    let jwt = verify_jws(token, keys)?;
    if jwt.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
        return Err(OidcError::JwtTypeMismatch);
    }
    if jwt.str_claim("iss") != Some(issuer) {
        return Err(OidcError::JwtIssuerMismatch);
    }
    if !jwt.audience_contains(issuer) {
        return Err(OidcError::JwtAudienceMismatch);
    }
    let exp = jwt.time_claim("exp").ok_or(OidcError::MalformedJwt)?;
    if exp <= now.unix_timestamp() {
        return Err(OidcError::JwtExpired);
    }
    let time = |name: &str| -> Result<OffsetDateTime, OidcError> {
        OffsetDateTime::from_unix_timestamp(jwt.time_claim(name).ok_or(OidcError::MalformedJwt)?)
            .map_err(|_| OidcError::MalformedJwt)
    };
    let str_claim = |name: &str| jwt.str_claim(name).ok_or(OidcError::MalformedJwt);
    Ok(AccessTokenClaims {
        sub: UserId::parse(str_claim("sub")?).map_err(|_| OidcError::MalformedJwt)?,
        client_id: ClientId::parse(str_claim("client_id")?).map_err(|_| OidcError::MalformedJwt)?,
        scopes: str_claim("scope")?
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        jti: str_claim("jti")?.to_owned(),
        grant_id: jwt.str_claim("gid").map(str::to_owned),
        sid: jwt.str_claim("sid").map(str::to_owned),
        auth_time: time("auth_time")?,
        expires_at: time("exp")?,
    })
}

/// Verifies an access token for the userinfo endpoint, which also needs the `openid` scope (OIDC Core §5.3).
pub fn verify_userinfo_access_token(
    token: &str,
    keys: &[VerifyingKey],
    issuer: &str,
    now: OffsetDateTime,
) -> Result<AccessTokenClaims, OidcError> {
    let claims = verify_access_token(token, keys, issuer, now)?;
    if !claims.has_scope("openid") {
        return Err(OidcError::AccessTokenLacksOpenid);
    }
    Ok(claims)
}

/// The bearer token of a request (RFC 6750 §2): from `Authorization: Bearer` or, for a form-encoded POST body, the
/// `access_token` parameter; more than one method is refused. The URI query method is not supported (RFC 9700 §4.3):
/// pass only body pairs as `form`.
pub fn bearer_token<'a>(
    authorization: Option<&'a str>,
    form: &'a [(String, String)],
) -> Result<&'a str, OidcError> {
    let from_header = match authorization {
        None => None,
        Some(h) => {
            let (scheme, token) = h
                .trim()
                .split_once(' ')
                .ok_or(OidcError::AccessTokenMissing)?;
            if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
                return Err(OidcError::AccessTokenMissing);
            }
            Some(token.trim())
        }
    };
    let mut from_body = form
        .iter()
        .filter(|(n, _)| n == "access_token")
        .map(|(_, v)| v.as_str());
    let body = from_body.next();
    if from_body.next().is_some() {
        return Err(OidcError::MultipleAccessTokens);
    }
    match (from_header, body) {
        (Some(_), Some(_)) => Err(OidcError::MultipleAccessTokens),
        (Some(t), None) => Ok(t),
        (None, Some(t)) if !t.is_empty() => Ok(t),
        _ => Err(OidcError::AccessTokenMissing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::sign_jwt;
    use crate::keys::SigningAlg;

    const ISS: &str = "https://op.example/acme/oidc";
    const NOW: OffsetDateTime = time::macros::datetime!(2026-06-01 12:00 UTC);

    fn claims() -> AccessTokenClaims {
        AccessTokenClaims {
            sub: UserId::parse("u1").expect("u"),
            client_id: ClientId::parse("rp").expect("c"),
            scopes: vec!["openid".into(), "email".into()],
            jti: "j1".into(),
            grant_id: Some("g1".into()),
            sid: None,
            auth_time: NOW - Duration::seconds(5),
            expires_at: NOW + ACCESS_TOKEN_LIFETIME,
        }
    }

    #[test]
    fn oidcc_userinfo_get_access_token_round_trips() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let token = mint_access_token(&key, ISS, &claims(), NOW).expect("mint");
        let back = verify_userinfo_access_token(
            &token,
            std::slice::from_ref(key.verifying_key()),
            ISS,
            NOW,
        )
        .expect("verify");
        assert_eq!(back, claims());
    }

    #[test]
    fn expired_access_token_refused() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let token = mint_access_token(&key, ISS, &claims(), NOW).expect("mint");
        let later = NOW + ACCESS_TOKEN_LIFETIME;
        assert_eq!(
            verify_access_token(
                &token,
                std::slice::from_ref(key.verifying_key()),
                ISS,
                later
            )
            .err(),
            Some(OidcError::JwtExpired)
        );
    }

    #[test]
    fn id_token_is_not_an_access_token() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let id_token = sign_jwt(
            &key,
            &json!({"iss": ISS, "aud": ISS, "sub": "u1", "exp": NOW.unix_timestamp() + 60}),
        )
        .expect("sign");
        assert_eq!(
            verify_access_token(
                &id_token,
                std::slice::from_ref(key.verifying_key()),
                ISS,
                NOW
            )
            .err(),
            Some(OidcError::JwtTypeMismatch)
        );
    }

    #[test]
    fn access_token_of_another_issuer_refused() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let token =
            mint_access_token(&key, "https://op.example/other/oidc", &claims(), NOW).expect("mint");
        assert_eq!(
            verify_access_token(&token, std::slice::from_ref(key.verifying_key()), ISS, NOW).err(),
            Some(OidcError::JwtIssuerMismatch)
        );
    }

    #[test]
    fn userinfo_needs_openid_scope() {
        let key = SigningKey::generate(SigningAlg::Es256).expect("key");
        let mut c = claims();
        c.scopes = vec!["email".into()];
        let token = mint_access_token(&key, ISS, &c, NOW).expect("mint");
        assert_eq!(
            verify_userinfo_access_token(
                &token,
                std::slice::from_ref(key.verifying_key()),
                ISS,
                NOW
            )
            .err(),
            Some(OidcError::AccessTokenLacksOpenid)
        );
    }

    #[test]
    fn oidcc_userinfo_post_header_and_body() {
        let empty: Vec<(String, String)> = vec![];
        assert_eq!(bearer_token(Some("Bearer abc"), &empty), Ok("abc"));
        assert_eq!(bearer_token(Some("bearer  abc "), &empty), Ok("abc"));
        let body = vec![("access_token".to_owned(), "xyz".to_owned())];
        assert_eq!(bearer_token(None, &body), Ok("xyz"));
    }

    #[test]
    fn bearer_token_sent_twice_refused() {
        let body = vec![("access_token".to_owned(), "xyz".to_owned())];
        assert_eq!(
            bearer_token(Some("Bearer abc"), &body),
            Err(OidcError::MultipleAccessTokens)
        );
        let twice = vec![
            ("access_token".to_owned(), "a".to_owned()),
            ("access_token".to_owned(), "b".to_owned()),
        ];
        assert_eq!(
            bearer_token(None, &twice),
            Err(OidcError::MultipleAccessTokens)
        );
    }

    #[test]
    fn missing_or_non_bearer_token_refused() {
        let empty: Vec<(String, String)> = vec![];
        assert_eq!(
            bearer_token(None, &empty),
            Err(OidcError::AccessTokenMissing)
        );
        assert_eq!(
            bearer_token(Some("Basic abc"), &empty),
            Err(OidcError::AccessTokenMissing)
        );
    }
}
