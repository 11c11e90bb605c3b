//! Whole flows through the pure rules, named after the OpenID conformance-suite modules they mirror (Basic OP,
//! Form Post OP). The HTTP and store layers add I/O around exactly these calls.

use serde_json::Value;
use tessera_core::{ClientId, UserId};
use tessera_oidc::access_token::{
    ACCESS_TOKEN_LIFETIME, AccessTokenClaims, bearer_token, mint_access_token,
    verify_userinfo_access_token,
};
use tessera_oidc::authorize::{
    AuthorizationResponse, AuthorizeContext, LoginDecision, SessionFacts, authorization_response,
    decide_login, requested_client_id, validate_authorization,
};
use tessera_oidc::client::{ClientAuthConfig, ClientConfig, SecretHash};
use tessera_oidc::id_token::{
    AuthenticationFacts, IdTokenInput, UserProfile, mint_id_token, userinfo_claims,
};
use tessera_oidc::jose::verify_jws;
use tessera_oidc::keys::{KeySet, SigningAlg, SigningKey};
use tessera_oidc::token::{
    AuthorizationGrant, ClientAuthContext, Grant, RefreshGrant, authenticate_client,
    parse_token_request, redeem_code, redeem_refresh,
};
use tessera_oidc::{AuthorizeError, ErrorCode, OidcError};
use time::{Duration, OffsetDateTime};

const ISS: &str = "https://op.example/acme/oidc";
const CB: &str = "https://rp.example/cb";
const SECRET: &str = "client-secret-1";

struct Op {
    keys: KeySet,
    client: ClientConfig,
    user: UserProfile,
    now: OffsetDateTime,
}

impl Op {
    fn new(alg: SigningAlg) -> Self {
        Self {
            keys: KeySet::new(vec![
                SigningKey::generate(SigningAlg::Rs256).expect("rs256"),
                SigningKey::generate(SigningAlg::Es256).expect("es256"),
            ])
            .expect("keys"),
            client: ClientConfig {
                client_id: ClientId::parse("conformance-rp").expect("id"),
                redirect_uris: vec![CB.into()],
                post_logout_redirect_uris: vec![],
                auth: ClientAuthConfig::ClientSecret {
                    secret_hash: SecretHash::of(SECRET),
                },
                allowed_scopes: vec![],
                id_token_alg: alg,
            },
            user: UserProfile {
                sub: UserId::parse("user-42").expect("user"),
                username: "alice".into(),
                name: Some("Alice".into()),
                email: Some("alice@example.com".into()),
                email_verified: true,
                updated_at: None,
            },
            now: OffsetDateTime::now_utc(),
        }
    }

    fn authorize(
        &self,
        params: &[(&str, &str)],
    ) -> Result<(String, AuthorizationResponse), AuthorizeError> {
        let pairs: Vec<(String, String)> = params
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        let client_id = requested_client_id(&pairs)?;
        assert_eq!(client_id, self.client.client_id);
        let ctx = AuthorizeContext {
            issuer: ISS,
            keys: self.keys.verifying_keys(),
        };
        let request = validate_authorization(&pairs, &self.client, &ctx)?;
        let session = SessionFacts {
            user: self.user.sub.clone(),
            auth_time: self.now - Duration::seconds(20),
        };
        let (auth_time, decision) = match decide_login(&request, None, self.now) {
            LoginDecision::MustAuthenticate => (self.now, "signed in"),
            LoginDecision::UseSession => (session.auth_time, "session"),
            LoginDecision::Error(e) => return Err(e),
        };
        assert_eq!(decision, "signed in");
        let facts = AuthenticationFacts {
            user_verified: true,
            backup_eligible: true,
            attestation_trusted: false,
        };
        let grant = AuthorizationGrant::new(
            &request,
            self.user.sub.clone(),
            auth_time,
            facts,
            None,
            self.now,
        );
        let code = random_token();
        let stored = serde_json::to_string(&grant).expect("store the grant");
        let response = authorization_response(&request, ISS, &code).expect("response");
        Ok((stored, response))
    }

    /// The token endpoint: parse, authenticate, redeem, mint.
    fn token(
        &self,
        form: &[(&str, &str)],
        basic: Option<&str>,
        stored: &str,
    ) -> Result<Value, OidcError> {
        let form: Vec<(String, String)> = form
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        let request = parse_token_request(&form, basic)?;
        let ctx = ClientAuthContext {
            issuer: ISS,
            token_endpoint: &format!("{ISS}/token"),
            now: self.now,
        };
        let client = authenticate_client(&request.credentials, &self.client, &ctx)?;
        let issuance = match &request.grant {
            Grant::AuthorizationCode {
                redirect_uri,
                code_verifier,
                ..
            } => {
                let grant: AuthorizationGrant = serde_json::from_str(stored).expect("grant");
                redeem_code(
                    &grant,
                    &client,
                    redirect_uri.as_deref(),
                    code_verifier.as_deref(),
                    self.now,
                )?
            }
            Grant::RefreshToken { scope, .. } => {
                let grant: RefreshGrant = serde_json::from_str(stored).expect("refresh grant");
                redeem_refresh(&grant, &client, scope.as_deref(), self.now)?
            }
        };
        let key = self
            .keys
            .signing_key(self.client.id_token_alg)
            .expect("key");
        let access = mint_access_token(
            key,
            ISS,
            &AccessTokenClaims {
                sub: issuance.user.clone(),
                client_id: issuance.client_id.clone(),
                scopes: issuance.scopes.clone(),
                jti: random_token(),
                grant_id: None,
                sid: None,
                auth_time: issuance.auth_time,
                expires_at: self.now + ACCESS_TOKEN_LIFETIME,
            },
            self.now,
        )?;
        let id_token = mint_id_token(
            key,
            &IdTokenInput {
                issuer: ISS,
                client_id: &issuance.client_id,
                user: &self.user,
                scopes: &issuance.scopes,
                claims_request: issuance.claims_request.as_ref(),
                nonce: issuance.nonce.as_deref(),
                auth_time: issuance.auth_time,
                amr: &issuance.authentication.amr(),
                acr: issuance.authentication.acr(),
                sid: None,
                access_token: Some(&access),
                now: self.now,
                lifetime: Duration::minutes(5),
            },
        )?;
        let refresh = issuance.wants_refresh_token().then(|| {
            serde_json::to_string(&RefreshGrant::new(&issuance, self.now, Duration::days(1)))
                .expect("refresh grant")
        });
        Ok(serde_json::json!({
            "access_token": access, "token_type": "Bearer", "expires_in": 600, "id_token": id_token,
            "scope": issuance.scope_string(), "refresh_grant": refresh,
        }))
    }

    /// `PerformStandardIdTokenChecks`, abridged: signature by a JWKS key, iss, aud, times, nonce.
    fn check_id_token(&self, token: &str, nonce: Option<&str>) -> Value {
        let jwt = verify_jws(token, self.keys.verifying_keys()).expect("ValidateIdTokenSignature");
        assert_eq!(jwt.alg.as_str(), self.client.id_token_alg.as_str());
        assert_eq!(jwt.str_claim("iss"), Some(ISS));
        assert!(jwt.audience_contains("conformance-rp"));
        let now = self.now.unix_timestamp();
        let exp = jwt.time_claim("exp").expect("exp");
        let iat = jwt.time_claim("iat").expect("iat");
        assert!(exp > now && exp < now + 3600, "exp sane, in seconds");
        assert!((iat - now).abs() <= 300);
        assert!(jwt.time_claim("auth_time").expect("auth_time") <= now);
        assert_eq!(jwt.str_claim("nonce"), nonce, "ValidateIdTokenNonce");
        assert!(jwt.str_claim("sub").is_some(), "CheckForSubjectInIdToken");
        Value::Object(jwt.claims)
    }
}

fn code_of(response: &AuthorizationResponse) -> (String, Vec<(String, String)>) {
    match response {
        AuthorizationResponse::Redirect { location } => {
            let url = url::Url::parse(location).expect("location");
            let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
            let code = pairs
                .iter()
                .find(|(n, _)| n == "code")
                .map(|(_, v)| v.clone())
                .expect("code");
            (code, pairs)
        }
        AuthorizationResponse::FormPost { .. } => panic!("expected a redirect"),
    }
}

fn basic() -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("conformance-rp:{SECRET}"))
    )
}

const AUTHZ: [(&str, &str); 6] = [
    ("response_type", "code"),
    ("client_id", "conformance-rp"),
    ("redirect_uri", CB),
    ("scope", "openid profile email offline_access"),
    ("state", "xyz"),
    ("nonce", "n-1"),
];

const TOKEN_FORM: [(&str, &str); 3] = [
    ("grant_type", "authorization_code"),
    ("code", "(stored)"),
    ("redirect_uri", CB),
];

#[test]
fn oidcc_server() {
    let op = Op::new(SigningAlg::Rs256);
    let (stored, response) = op.authorize(&AUTHZ).expect("authorize");
    let (_, pairs) = code_of(&response);
    assert!(
        pairs.contains(&("state".into(), "xyz".into())),
        "state echoed"
    );
    assert!(pairs.contains(&("iss".into(), ISS.into())), "RFC 9207 iss");
    let tokens = op
        .token(&TOKEN_FORM, Some(&basic()), &stored)
        .expect("token");
    let claims = op.check_id_token(tokens["id_token"].as_str().expect("id_token"), Some("n-1"));
    assert_eq!(claims["email"], "alice@example.com");
    assert!(
        claims["amr"]
            .as_array()
            .is_some_and(|a| a.contains(&"mfa".into()))
    );
}

#[test]
fn oidcc_server_client_secret_post() {
    let op = Op::new(SigningAlg::Rs256);
    let (stored, _) = op.authorize(&AUTHZ).expect("authorize");
    let mut form = TOKEN_FORM.to_vec();
    form.push(("client_id", "conformance-rp"));
    form.push(("client_secret", SECRET));
    let tokens = op.token(&form, None, &stored).expect("token");
    op.check_id_token(tokens["id_token"].as_str().expect("id_token"), Some("n-1"));
}

#[test]
fn oidcc_idtoken_signature_defaults_to_rs256_and_es256_on_request() {
    for alg in [SigningAlg::Rs256, SigningAlg::Es256] {
        let op = Op::new(alg);
        let (stored, _) = op.authorize(&AUTHZ).expect("authorize");
        let tokens = op
            .token(&TOKEN_FORM, Some(&basic()), &stored)
            .expect("token");
        op.check_id_token(tokens["id_token"].as_str().expect("id_token"), Some("n-1"));
    }
}

#[test]
fn oidcc_userinfo_get() {
    let op = Op::new(SigningAlg::Es256);
    let (stored, _) = op.authorize(&AUTHZ).expect("authorize");
    let tokens = op
        .token(&TOKEN_FORM, Some(&basic()), &stored)
        .expect("token");
    let header = format!("Bearer {}", tokens["access_token"].as_str().expect("at"));
    let token = bearer_token(Some(&header), &[]).expect("bearer");
    let at =
        verify_userinfo_access_token(token, op.keys.verifying_keys(), ISS, op.now).expect("valid");
    let info = userinfo_claims(&op.user, &at.scopes, None);
    let id = op.check_id_token(tokens["id_token"].as_str().expect("id_token"), Some("n-1"));
    assert_eq!(info["sub"], id["sub"], "same sub in userinfo and ID token");
    assert_eq!(info["preferred_username"], "alice");
}

#[test]
fn oidcc_refresh_token() {
    let op = Op::new(SigningAlg::Es256);
    let (stored, _) = op.authorize(&AUTHZ).expect("authorize");
    let tokens = op
        .token(&TOKEN_FORM, Some(&basic()), &stored)
        .expect("token");
    let refresh_grant = tokens["refresh_grant"]
        .as_str()
        .expect("offline_access gives a refresh token");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", "(stored)"),
    ];
    let refreshed = op
        .token(&form, Some(&basic()), refresh_grant)
        .expect("refresh");
    let claims = op.check_id_token(refreshed["id_token"].as_str().expect("id_token"), None);
    assert_eq!(claims["sub"], "user-42");

    // Bound to the client: another client presenting it is refused.
    let mut other = Op::new(SigningAlg::Es256);
    other.client.client_id = ClientId::parse("other-rp").expect("id");
    let other_basic = {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("other-rp:{SECRET}"))
        )
    };
    assert_eq!(
        other.token(&form, Some(&other_basic), refresh_grant).err(),
        Some(OidcError::RefreshClientMismatch)
    );
}

#[test]
fn oidcc_ensure_registered_redirect_uri() {
    let op = Op::new(SigningAlg::Rs256);
    let mut params = AUTHZ.to_vec();
    params[2] = ("redirect_uri", "https://rp.example/cb/other");
    assert!(matches!(
        op.authorize(&params),
        Err(AuthorizeError::NoRedirect { .. })
    ));
}

#[test]
fn oidcc_codereuse_rules_refuse_a_code_for_another_redirect_uri_or_client() {
    let op = Op::new(SigningAlg::Rs256);
    let (stored, _) = op.authorize(&AUTHZ).expect("authorize");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "c"),
        ("redirect_uri", "https://rp.example/x"),
    ];
    assert_eq!(
        op.token(&form, Some(&basic()), &stored).err(),
        Some(OidcError::RedirectUriMismatch)
    );
    let wrong = {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("conformance-rp:wrong")
        )
    };
    assert_eq!(
        op.token(&TOKEN_FORM, Some(&wrong), &stored).err(),
        Some(OidcError::ClientSecretMismatch)
    );
    assert_eq!(
        OidcError::ClientSecretMismatch.code(),
        ErrorCode::InvalidClient
    );
}

#[test]
fn oidcc_ensure_request_with_valid_pkce_succeeds() {
    let op = Op::new(SigningAlg::Rs256);
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let mut params = AUTHZ.to_vec();
    params.push((
        "code_challenge",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    ));
    params.push(("code_challenge_method", "S256"));
    let (stored, _) = op.authorize(&params).expect("authorize");
    let mut form = TOKEN_FORM.to_vec();
    form.push(("code_verifier", verifier));
    assert!(op.token(&form, Some(&basic()), &stored).is_ok());
    assert_eq!(
        op.token(&TOKEN_FORM, Some(&basic()), &stored).err(),
        Some(OidcError::PkceVerifierMissing)
    );
}

#[test]
fn oidcc_formpost_server_nothing_in_the_query() {
    let op = Op::new(SigningAlg::Rs256);
    let mut params = AUTHZ.to_vec();
    params.push(("response_mode", "form_post"));
    let (_, response) = op.authorize(&params).expect("authorize");
    match response {
        AuthorizationResponse::FormPost {
            html,
            content_security_policy,
        } => {
            assert!(
                html.contains(&format!("<form method=\"post\" action=\"{CB}\">")),
                "RejectAuthCodeInUrlQuery"
            );
            assert!(html.contains("name=\"state\" value=\"xyz\""));
            assert!(html.contains("name=\"iss\""));
            assert!(content_security_policy.contains("script-src 'sha256-"));
        }
        AuthorizationResponse::Redirect { .. } => panic!("form_post must not redirect"),
    }
}

#[test]
fn oidcc_formpost_error_nothing_in_the_query() {
    let op = Op::new(SigningAlg::Rs256);
    let mut params = AUTHZ.to_vec();
    params[0] = ("response_type", "token");
    params.push(("response_mode", "form_post"));
    let err = op.authorize(&params).expect_err("refused");
    match tessera_oidc::authorize::error_response(&err, ISS) {
        Some(Ok(AuthorizationResponse::FormPost { html, .. })) => {
            assert!(
                html.contains("value=\"unsupported_response_type\""),
                "RejectErrorInUrlQuery"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// A fresh random token for the tests (what the service issues as codes and assertion ids).
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("random");
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
}
