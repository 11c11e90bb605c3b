//! The built-in token viewer's use cases ("Run user flow" ending at `/jwt`): the pending run kept in a cookie
//! sealed under the master key, the code redeemed at the broker's token use case in process, and the token
//! decoded, its signature checked against the keys of one of this server's own issuers, each claim described.
//!
//! Nothing here fetches a URL: the issuer named by a token is only looked up among the server's broker user flows
//! and provider tenants ([`known_issuer`]); any other issuer is reported, never contacted.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tessera_broker::config::PolicyId;
use tessera_core::{ClientId, TenantId};
use tessera_oidc::error::OidcError;
use tessera_oidc::keys::{KeySet, MasterKey, VerifyingKey};
use tessera_store::BrokerStore;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::broker::runtime::PolicyRuntime;
use crate::broker::token::{self, EndpointError, TokenCall};
use crate::error::{Result, ServiceError};

/// How long a started run may take before its cookie is refused (and expires in the browser).
pub const RUN_LIFETIME: time::Duration = time::Duration::minutes(10);

/// The name of the cookie holding the pending run (`__Host-`: `Path=/`, `Secure`, no `Domain`).
pub const RUN_COOKIE: &str = "__Host-tessera-jwt-run";

const SEAL_CONTEXT: &[u8] = b"tessera token viewer run v1";

/// How the broker is asked to answer the viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunResponseMode {
    /// `response_mode=query`: a 303 to `/jwt?code=...&state=...`.
    Query,
    /// `response_mode=form_post`: an auto-submitted form posting to `/jwt`.
    FormPost,
}

impl RunResponseMode {
    /// Parses `query` or `form_post`; nothing given is `query`.
    pub fn parse(value: Option<&str>) -> Option<Self> {
        match value {
            None | Some("") | Some("query") => Some(Self::Query),
            Some("form_post") => Some(Self::FormPost),
            Some(_) => None,
        }
    }

    /// The protocol value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::FormPost => "form_post",
        }
    }
}

/// A run started by the viewer and not yet finished: what the answer is checked against and redeemed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRun {
    /// The broker tenant.
    pub tenant: String,
    /// The user flow.
    pub policy: String,
    /// The application's client id.
    pub client_id: String,
    /// The viewer's reply URL the code is bound to.
    pub redirect_uri: String,
    /// The `state` sent (base64url of 32 random bytes).
    pub state: String,
    /// The `nonce` sent (base64url of 32 random bytes).
    pub nonce: String,
    /// The PKCE verifier (base64url of 32 random bytes).
    pub verifier: String,
    /// The response mode asked for.
    pub response_mode: RunResponseMode,
    /// When the run stops being accepted (Unix seconds).
    pub expires_at: i64,
}

/// Why a viewer run was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// No broker tenant, flow or application of that name.
    #[error("there is no user flow {policy} with an application {client_id} in tenant {tenant}")]
    UnknownFlow {
        /// The tenant asked for.
        tenant: String,
        /// The policy asked for.
        policy: String,
        /// The client id asked for.
        client_id: String,
    },
    /// The reply URL is not the viewer's own or not registered for the application.
    #[error("{0}")]
    RedirectUri(String),
    /// A request parameter is missing or malformed.
    #[error("{0}")]
    BadRequest(String),
    /// No pending run in this browser, or it expired, or its cookie was altered.
    #[error(
        "this browser has no pending run of the user flow (it expired after 10 minutes, or was finished)"
    )]
    NoPendingRun,
    /// The answer's `state` is not the pending run's.
    #[error("the answer's state does not match the run this browser started")]
    StateMismatch,
    /// The broker refused the code (already used, expired, or a wrong verifier).
    #[error("the broker refused the code: {0}")]
    CodeRefused(String),
    /// The service failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// Fresh `state`, `nonce` and PKCE verifier, each 32 random bytes in base64url.
pub fn new_secrets() -> Result<(String, String, String)> {
    let draw = || -> Result<String> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| ServiceError::Random)?;
        Ok(B64.encode(bytes))
    };
    Ok((draw()?, draw()?, draw()?))
}

/// The PKCE `S256` challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    B64.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ))
}

impl PendingRun {
    /// The run sealed under the master key (AES-256-GCM, bound to the viewer), as cookie-safe base64url.
    pub fn seal(&self, master: &MasterKey) -> Result<String> {
        let json =
            serde_json::to_vec(self).map_err(|e| ServiceError::Internal(format!("run: {e}")))?;
        let sealed = master
            .seal(SEAL_CONTEXT, &json)
            .map_err(|_| ServiceError::Random)?;
        Ok(B64.encode(sealed))
    }

    /// Opens a sealed run; an altered, foreign or expired one is [`RunError::NoPendingRun`].
    pub fn open(
        master: &MasterKey,
        sealed: &str,
        now: OffsetDateTime,
    ) -> std::result::Result<Self, RunError> {
        let bytes = B64.decode(sealed).map_err(|_| RunError::NoPendingRun)?;
        let plain = master
            .open(SEAL_CONTEXT, &bytes)
            .map_err(|_| RunError::NoPendingRun)?;
        let run: Self = serde_json::from_slice(&plain).map_err(|_| RunError::NoPendingRun)?;
        if now.unix_timestamp() >= run.expires_at {
            return Err(RunError::NoPendingRun);
        }
        Ok(run)
    }

    /// Whether `state` is this run's, compared in constant time.
    pub fn state_matches(&self, state: &str) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(self.state.as_bytes(), state.as_bytes())
            .is_ok()
    }
}

/// Checks a run request against the broker's configuration: the application must exist in the tenant, the flow
/// must exist, and `redirect_uri` must be `viewer_url` and registered for that application.
pub async fn check_run_request(
    store: &dyn BrokerStore,
    tenant: &str,
    policy: &str,
    client_id: &str,
    redirect_uri: &str,
    viewer_url: &str,
) -> std::result::Result<(TenantId, PolicyId), RunError> {
    let unknown = || RunError::UnknownFlow {
        tenant: tenant.to_owned(),
        policy: policy.to_owned(),
        client_id: client_id.to_owned(),
    };
    let tenant_id = TenantId::parse(tenant).map_err(|_| unknown())?;
    let policy_id = PolicyId::parse(policy).map_err(|_| unknown())?;
    let client = ClientId::parse(client_id).map_err(|_| unknown())?;
    if store
        .get_flow(&tenant_id, &policy_id.key())
        .await
        .map_err(ServiceError::from)?
        .is_none()
    {
        return Err(unknown());
    }
    let Some(application) = crate::broker::runtime::application(store, &tenant_id, &client).await?
    else {
        return Err(unknown());
    };
    if redirect_uri != viewer_url {
        return Err(RunError::RedirectUri(format!(
            "The reply URL {redirect_uri} is not this token viewer's ({viewer_url}); the viewer only receives \
             answers at its own address."
        )));
    }
    if !application.reply_url_registered(redirect_uri) {
        return Err(RunError::RedirectUri(format!(
            "The reply URL {redirect_uri} is not registered for the application {}. Add it to the \
             application's reply URLs first.",
            application.display_name
        )));
    }
    Ok((tenant_id, policy_id))
}

/// Redeems the run's code at the broker's token use case (in process, with the run's verifier); returns the ID
/// token. The broker makes the code single-use.
pub async fn redeem(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    policy: &PolicyRuntime,
    keys: &KeySet,
    run: &PendingRun,
    code: &str,
    now: OffsetDateTime,
) -> std::result::Result<String, RunError> {
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", run.redirect_uri.as_str()),
        ("code_verifier", run.verifier.as_str()),
        ("client_id", run.client_id.as_str()),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    // Read from the store, not a cache: the viewer's runs are rare and follow configuration changes.
    let uncached = crate::broker::runtime::ConfigCache::new(std::time::Duration::ZERO);
    let body = token::token(TokenCall {
        store,
        config: &uncached,
        tenant,
        policy,
        keys,
        pairs: &pairs,
        authorization: None,
        now,
    })
    .await
    .map_err(|e| match e {
        EndpointError::Refused(e) => {
            RunError::CodeRefused(format!("{} ({})", e.description(), e.code().as_str()))
        }
        EndpointError::Service(e) => RunError::Service(e),
    })?;
    body.get("id_token")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| RunError::CodeRefused("the token response has no id_token".into()))
}

/// One of this server's own issuers, named by a token's `iss`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KnownIssuer {
    /// A broker user flow: `{base}/{tenant}/{policy}/v2.0`.
    Broker {
        /// The broker tenant.
        tenant: TenantId,
        /// The user flow.
        policy: PolicyId,
    },
    /// An authenticator service tenant: `{base}/{tenant}/oidc`.
    Provider {
        /// The tenant.
        tenant: TenantId,
    },
}

/// Which of this server's issuers `iss` names, by its shape under `base` (the public URL); `None` for any other.
/// The caller still confirms that the tenant or flow exists and that its issuer is exactly `iss`.
pub fn known_issuer(base: &str, iss: &str) -> Option<KnownIssuer> {
    let rest = iss
        .strip_prefix(base.trim_end_matches('/'))?
        .strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [tenant, "oidc"] => Some(KnownIssuer::Provider {
            tenant: TenantId::parse(tenant).ok()?,
        }),
        [tenant, policy, "v2.0"] => Some(KnownIssuer::Broker {
            tenant: TenantId::parse(tenant).ok()?,
            policy: PolicyId::parse(policy).ok()?,
        }),
        _ => None,
    }
}

/// A header field or claim, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimView {
    /// The name.
    pub name: String,
    /// The value as JSON text (strings without quotes).
    pub value: String,
    /// For numeric dates, the time in UTC (`2026-12-02 01:05:00 UTC`).
    pub time: Option<String>,
    /// What the claim means, in plain words.
    pub description: String,
}

/// A token decoded for display (nothing in it trusted yet).
#[derive(Debug, Clone)]
pub struct DecodedToken {
    /// The JOSE header fields.
    pub header: Vec<ClaimView>,
    /// The claims.
    pub claims: Vec<ClaimView>,
    /// The `iss` claim, if a string.
    pub issuer: Option<String>,
    /// The `nonce` claim, if a string.
    pub nonce: Option<String>,
}

/// Decodes a compact JWS for display, without checking anything. A token that is not a JWS with JSON header and
/// claims is [`RunError::BadRequest`].
pub fn decode(token: &str) -> std::result::Result<DecodedToken, RunError> {
    let (header, claims) = tessera_oidc::jose::peek_unverified(token).map_err(|_| {
        RunError::BadRequest("this is not a signed JWT (three base64url parts with JSON)".into())
    })?;
    let issuer = claims.get("iss").and_then(Value::as_str).map(str::to_owned);
    let nonce = claims
        .get("nonce")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(DecodedToken {
        header: views(&header, header_description),
        claims: views(&claims, claim_description),
        issuer,
        nonce,
    })
}

fn views(object: &Map<String, Value>, describe: fn(&str) -> String) -> Vec<ClaimView> {
    object
        .iter()
        .map(|(name, value)| ClaimView {
            name: name.clone(),
            value: match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
            time: if is_time_claim(name) {
                value.as_i64().and_then(utc_text)
            } else {
                None
            },
            description: describe(name),
        })
        .collect()
}

fn is_time_claim(name: &str) -> bool {
    matches!(name, "exp" | "iat" | "nbf" | "auth_time")
}

fn utc_text(seconds: i64) -> Option<String> {
    let at = OffsetDateTime::from_unix_timestamp(seconds).ok()?;
    let text = at.format(&Rfc3339).ok()?;
    Some(format!(
        "{} UTC",
        text.trim_end_matches('Z').replace('T', " ")
    ))
}

fn header_description(name: &str) -> String {
    match name {
        "alg" => "The signature algorithm.",
        "kid" => "The id of the key that signed the token, looked up in the issuer's JWKS.",
        "typ" => "The token type.",
        _ => "A header field.",
    }
    .to_owned()
}

/// What a claim of a broker or provider ID token means, in plain words.
pub fn claim_description(name: &str) -> String {
    let text = match name {
        "iss" => "Issuer: who made and signed this token (the user flow's or tenant's issuer URL).",
        "sub" => "Subject: the user this token is about, stable for this application.",
        "aud" => "Audience: the application (client id) this token is meant for.",
        "exp" => "Expires: the token must not be accepted after this time.",
        "iat" => "Issued at: when the token was made.",
        "nbf" => "Not before: the token must not be accepted before this time.",
        "auth_time" => "When the user last actually signed in.",
        "nonce" => {
            "The random value the application sent, echoed back so it can tell this token answers its own request."
        }
        "oid" => "Object id: the user's id in the broker's directory.",
        "tfp" => "Trust framework policy: the user flow that issued this token.",
        "acr" => {
            "Authentication context: how strongly the user was authenticated (phr: phishing-resistant)."
        }
        "amr" => {
            "Authentication methods used (pop: a possession factor such as a passkey; mfa: more than one factor)."
        }
        "idp" => "Identity provider: where the user actually signed in.",
        "emails" => "The user's email addresses.",
        "email" => "The user's email address.",
        "name" => "The user's display name.",
        "given_name" => "The user's given name.",
        "family_name" => "The user's family name.",
        "newUser" => "True when this sign-in created the user (a sign-up).",
        "ver" => "The token format version.",
        "at_hash" => "Access token hash: binds this ID token to the access token issued with it.",
        "c_hash" => "Code hash: binds this ID token to the authorization code issued with it.",
        "sid" => "Session id: the sign-in session this token belongs to.",
        "azp" => "Authorized party: the application the token was issued to.",
        "preferred_username" => "The name the user signs in with.",
        _ if name.starts_with("extension_") => {
            return format!(
                "A custom user attribute ({}) collected or returned by the user flow.",
                name.trim_start_matches("extension_")
            );
        }
        _ => "A claim this viewer has no description for.",
    };
    text.to_owned()
}

/// The outcome of the signature check, said plainly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// The signature verified with a key of one of this server's issuers.
    Verified {
        /// The key id.
        kid: String,
        /// The issuer.
        issuer: String,
    },
    /// It did not: why.
    Failed(String),
}

/// Checks `token`'s signature against `keys`, the current keys of `issuer` (one of this server's).
pub fn check_signature(token: &str, issuer: &str, keys: &[VerifyingKey]) -> SignatureCheck {
    match tessera_oidc::jose::verify_jws(token, keys) {
        Ok(verified) => SignatureCheck::Verified {
            kid: verified.kid.unwrap_or_else(|| "(no kid)".into()),
            issuer: issuer.to_owned(),
        },
        Err(OidcError::JwtKeyNotFound) => SignatureCheck::Failed(format!(
            "No key of {issuer} matches the token's kid: it was not signed by this issuer's current keys."
        )),
        Err(OidcError::JwtAlgorithmNotAllowed | OidcError::JwtAlgorithmMismatch) => {
            SignatureCheck::Failed(format!(
                "The token's algorithm is not one the key of {issuer} is pinned to."
            ))
        }
        Err(OidcError::JwtSignatureInvalid) => SignatureCheck::Failed(format!(
            "The signature does not match the token's contents: it was changed after {issuer} signed it, or \
             signed by someone else."
        )),
        Err(_) => SignatureCheck::Failed("The token is malformed.".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_oidc::keys::{SigningAlg, SigningKey};

    fn run(expires_at: i64) -> PendingRun {
        let (state, nonce, verifier) = new_secrets().unwrap_or_else(|e| panic!("{e}"));
        PendingRun {
            tenant: "contoso".into(),
            policy: "B2C_1_signupsignin".into(),
            client_id: "app".into(),
            redirect_uri: "http://localhost:8080/jwt".into(),
            state,
            nonce,
            verifier,
            response_mode: RunResponseMode::Query,
            expires_at,
        }
    }

    #[test]
    fn a_sealed_run_opens_only_unchanged_unexpired_and_under_its_key() {
        let master = MasterKey::generate().unwrap_or_else(|e| panic!("{e}"));
        let now = OffsetDateTime::now_utc();
        let pending = run(now.unix_timestamp() + 600);
        let sealed = pending.seal(&master).unwrap_or_else(|e| panic!("{e}"));
        let opened = PendingRun::open(&master, &sealed, now).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(opened, pending);
        assert!(opened.state_matches(&pending.state));
        assert!(!opened.state_matches("other"));
        let mut bytes = B64.decode(&sealed).unwrap_or_default();
        bytes[20] ^= 1;
        assert!(PendingRun::open(&master, &B64.encode(bytes), now).is_err());
        let other = MasterKey::generate().unwrap_or_else(|e| panic!("{e}"));
        assert!(PendingRun::open(&other, &sealed, now).is_err());
        assert!(PendingRun::open(&master, &sealed, now + RUN_LIFETIME).is_err());
    }

    #[test]
    fn secrets_are_32_random_bytes() {
        let (a, b, c) = new_secrets().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(B64.decode(&a).map(|v| v.len()).ok(), Some(32));
        assert!(a != b && b != c);
    }

    #[test]
    fn only_this_servers_issuer_shapes_are_known() {
        let base = "http://localhost:8080";
        assert!(matches!(
            known_issuer(
                base,
                "http://localhost:8080/contoso/B2C_1_signupsignin/v2.0"
            ),
            Some(KnownIssuer::Broker { .. })
        ));
        assert!(matches!(
            known_issuer(base, "http://localhost:8080/mytenant/oidc"),
            Some(KnownIssuer::Provider { .. })
        ));
        assert_eq!(
            known_issuer(base, "https://evil.example/mytenant/oidc"),
            None
        );
        assert_eq!(
            known_issuer(base, "http://localhost:8080.evil/mytenant/oidc"),
            None
        );
        assert_eq!(known_issuer(base, "http://localhost:8080/a/b/c/v2.0"), None);
    }

    #[test]
    fn decoding_describes_claims_and_times_and_a_changed_token_fails_the_check() {
        let key = SigningKey::generate(SigningAlg::Rs256).unwrap_or_else(|e| panic!("{e}"));
        let token = tessera_oidc::jose::sign_jwt(
            &key,
            &serde_json::json!({"iss": "x", "exp": 0, "emails": ["a@example.com"], "extension_Team": "blue"}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let decoded = decode(&token).unwrap_or_else(|e| panic!("{e}"));
        let exp = decoded.claims.iter().find(|c| c.name == "exp");
        assert_eq!(
            exp.and_then(|c| c.time.clone()).as_deref(),
            Some("1970-01-01 00:00:00 UTC")
        );
        assert!(
            decoded
                .claims
                .iter()
                .any(|c| c.name == "emails" && c.value == "[\"a@example.com\"]")
        );
        assert!(claim_description("extension_Team").contains("Team"));
        let keys = [key.verifying_key().clone()];
        assert!(matches!(
            check_signature(&token, "x", &keys),
            SignatureCheck::Verified { .. }
        ));
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = B64.encode(br#"{"iss":"x","emails":["mallory@example.com"]}"#);
        let changed = parts.join(".");
        assert!(matches!(
            check_signature(&changed, "x", &keys),
            SignatureCheck::Failed(_)
        ));
    }
}
