//! One browser and relying party, as the load generator plays them: sign-up of the bench users and complete
//! sign-ins (authorize → sign-in page → login options → assertion signed here → verify → resume → code → `POST
//! /token` with `client_secret_basic` and PKCE → ID token checked).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use tessera_core::Secret;
use tessera_oidc::keys::JwkSet;
use tessera_testkit::{Credential, MaliciousAuthenticator};

use crate::error::BenchError;
use crate::server::{REDIRECT_URI, Target};

/// The HTTP side of the load generator: one connection pool for every virtual user.
#[derive(Clone)]
pub struct Driver {
    pub(crate) http: reqwest::Client,
    pub(crate) target: Target,
    authenticator: MaliciousAuthenticator,
    expected_alg: &'static str,
}

/// A token endpoint and the client the load generator is there, with the issuer its ID tokens must name.
pub(crate) struct TokenEndpoint<'a> {
    pub(crate) url: &'a str,
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) client_secret: &'a Secret,
}

/// An enrolled bench user: username and the passkey the software authenticator holds.
#[derive(Debug)]
pub struct BenchUser {
    /// The username.
    pub username: String,
    /// The credential (its signature counter moves with every assertion).
    pub credential: Credential,
}

/// A tiny cookie jar (name → value from `Set-Cookie`), fresh for every sign-in.
#[derive(Debug, Default)]
pub struct Jar(Vec<(String, String)>);

impl Jar {
    /// Takes the `Set-Cookie` headers of a response; an empty value or `Max-Age=0` removes the cookie.
    pub fn absorb(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let Some((name, rest)) = text.split_once('=') else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or_default().trim();
            self.0.retain(|(n, _)| n != name);
            let removed = value.is_empty() || text.to_ascii_lowercase().contains("max-age=0");
            if !removed {
                self.0.push((name.trim().to_owned(), value.to_owned()));
            }
        }
    }

    /// The `Cookie` header value.
    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The value of cookie `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What one sign-in hands back to the caller (for checks outside the hot loop).
#[derive(Debug)]
pub struct SignedIn {
    /// The ID token.
    pub id_token: String,
}

impl Driver {
    /// A driver for `target` whose ID tokens must carry `expected_alg` (`ES256` or `RS256`).
    pub fn new(target: Target, expected_alg: &'static str) -> Result<Driver, BenchError> {
        let host = format!("localhost:{}", target.addr.port());
        tessera_service::broker::install_default_tls_provider();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve(&host, target.addr)
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| BenchError::Failed(format!("HTTP client: {e}")))?;
        Ok(Driver {
            http,
            target,
            authenticator: MaliciousAuthenticator::new(),
            expected_alg,
        })
    }

    /// Signs a new user up through the sign-up JSON endpoints and completes the code flow once (untimed).
    pub async fn enrol(&self, username: &str) -> Result<BenchUser, BenchError> {
        let mut jar = Jar::default();
        let pkce = Pkce::new()?;
        let authz = self.authorize(&mut jar, &pkce).await?;
        let t = &self.target.tenant;
        self.page(
            &mut jar,
            &format!("/{t}/signup?authz={authz}"),
            "sign-up page",
        )
        .await?;
        let options = self
            .call(
                &mut jar,
                &format!("/{t}/webauthn/register/options"),
                json!({"username": username, "display_name": format!("Bench {username}"),
                       "email": format!("{username}@bench.invalid"), "authz": authz}),
                "register options",
            )
            .await?;
        let (response, credential) = self
            .authenticator
            .register(&options["publicKey"].to_string(), &self.target.base)
            .map_err(|e| BenchError::Failed(format!("authenticator register: {e}")))?;
        let response: Value = serde_json::from_str(&response)
            .map_err(|e| BenchError::Failed(format!("authenticator output: {e}")))?;
        let done = self
            .call(
                &mut jar,
                &format!("/{t}/webauthn/register/verify"),
                json!({"ceremony": options["ceremony"], "credential": response}),
                "register verify",
            )
            .await?;
        let code = self.resume(&mut jar, &done, &pkce).await?;
        self.token(&code, &pkce, None).await?;
        Ok(BenchUser {
            username: username.to_owned(),
            credential,
        })
    }

    /// One complete sign-in of `user` with a fresh cookie jar; with `jwks`, the ID token's signature is verified
    /// too (claims and algorithm are always checked).
    pub async fn sign_in(
        &self,
        user: &BenchUser,
        jwks: Option<&JwkSet>,
    ) -> Result<SignedIn, BenchError> {
        let mut jar = Jar::default();
        let pkce = Pkce::new()?;
        let authz = self.authorize(&mut jar, &pkce).await?;
        let done = self.passkey(&mut jar, &authz, user).await?;
        let code = self.resume(&mut jar, &done, &pkce).await?;
        let id_token = self.token(&code, &pkce, jwks).await?;
        Ok(SignedIn { id_token })
    }

    /// The provider's part of a sign-in for the pending authorization `authz`: the sign-in page, the login options,
    /// the assertion signed by the software authenticator and the verify call; returns the verify reply.
    pub(crate) async fn passkey(
        &self,
        jar: &mut Jar,
        authz: &str,
        user: &BenchUser,
    ) -> Result<Value, BenchError> {
        let t = &self.target.tenant;
        self.page(jar, &format!("/{t}/login?authz={authz}"), "sign-in page")
            .await?;
        let options = self
            .call(
                jar,
                &format!("/{t}/webauthn/login/options"),
                json!({"username": user.username, "authz": authz}),
                "login options",
            )
            .await?;
        let assertion = self
            .authenticator
            .authenticate(
                &options["publicKey"].to_string(),
                &self.target.base,
                &user.credential,
            )
            .map_err(|e| BenchError::Failed(format!("authenticator sign: {e}")))?;
        let assertion: Value = serde_json::from_str(&assertion)
            .map_err(|e| BenchError::Failed(format!("authenticator output: {e}")))?;
        self.call(
            jar,
            &format!("/{t}/webauthn/login/verify"),
            json!({"ceremony": options["ceremony"], "credential": assertion}),
            "login verify",
        )
        .await
    }

    /// The tenant's published JWK Set.
    pub async fn jwks(&self) -> Result<JwkSet, BenchError> {
        self.jwks_at(&format!("{}/jwks", self.target.issuer)).await
    }

    /// The JWK Set at `url`.
    pub(crate) async fn jwks_at(&self, url: &str) -> Result<JwkSet, BenchError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(step_error("jwks"))?;
        let status = response.status();
        let text = response.text().await.map_err(step_error("jwks"))?;
        if !status.is_success() {
            return Err(BenchError::Failed(format!("jwks: status {status}")));
        }
        JwkSet::from_json(&text).map_err(|e| BenchError::Failed(format!("jwks: {e}")))
    }

    /// `GET /authorize` without a session: expects a 303 to a page carrying `authz=`; returns that id.
    async fn authorize(&self, jar: &mut Jar, pkce: &Pkce) -> Result<String, BenchError> {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", self.target.client_id.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("scope", "openid profile"),
                ("state", pkce.state.as_str()),
                ("nonce", pkce.nonce.as_str()),
                ("code_challenge", pkce.challenge.as_str()),
                ("code_challenge_method", "S256"),
            ])
            .finish();
        let response = self
            .http
            .get(format!("{}/authorize?{query}", self.target.issuer))
            .send()
            .await
            .map_err(step_error("authorize"))?;
        jar.absorb(response.headers());
        let location = see_other(&response, "authorize")?;
        authz_of(&location)
            .map(str::to_owned)
            .ok_or_else(|| BenchError::Failed(format!("authorize: no authz in {location}")))
    }

    /// `GET` of a page (for its CSRF cookie), expecting 200.
    async fn page(&self, jar: &mut Jar, path: &str, step: &'static str) -> Result<(), BenchError> {
        let response = self
            .http
            .get(format!("{}{path}", self.target.base))
            .header("cookie", jar.header())
            .send()
            .await
            .map_err(step_error(step))?;
        jar.absorb(response.headers());
        let status = response.status();
        // Read the body as a browser would.
        let _ = response.bytes().await.map_err(step_error(step))?;
        if status != reqwest::StatusCode::OK {
            return Err(BenchError::Failed(format!("{step}: status {status}")));
        }
        Ok(())
    }

    /// A JSON call of the pages' script: same origin, CSRF header from the cookie; expects 2xx JSON.
    async fn call(
        &self,
        jar: &mut Jar,
        path: &str,
        body: Value,
        step: &'static str,
    ) -> Result<Value, BenchError> {
        let cookie = format!(
            "{}{}",
            tessera_http::csrf::CSRF_COOKIE_PREFIX,
            self.target.tenant
        );
        let csrf = jar
            .get(&cookie)
            .ok_or_else(|| BenchError::Failed(format!("{step}: no CSRF cookie")))?
            .to_owned();
        let response = self
            .http
            .post(format!("{}{path}", self.target.base))
            .header("origin", self.target.base.as_str())
            .header("cookie", jar.header())
            .header(tessera_http::csrf::CSRF_HEADER, csrf)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(step_error(step))?;
        jar.absorb(response.headers());
        let status = response.status();
        let text = response.text().await.map_err(step_error(step))?;
        if !status.is_success() {
            return Err(BenchError::Failed(format!(
                "{step}: status {status}: {}",
                truncate(&text)
            )));
        }
        serde_json::from_str(&text).map_err(|e| BenchError::Failed(format!("{step}: {e}")))
    }

    /// Follows the verify reply's `next` (the authorization resume) to the redirect URI; returns the code after
    /// checking `state` and `iss`.
    async fn resume(&self, jar: &mut Jar, done: &Value, pkce: &Pkce) -> Result<String, BenchError> {
        let next = done["next"]
            .as_str()
            .ok_or_else(|| BenchError::Failed("verify: no next".into()))?;
        let response = self
            .http
            .get(format!("{}{next}", self.target.base))
            .header("cookie", jar.header())
            .send()
            .await
            .map_err(step_error("resume"))?;
        jar.absorb(response.headers());
        let location = see_other(&response, "resume")?;
        code_of(&location, &pkce.state, &self.target.issuer, "resume")
    }

    /// `POST /token` (authorization_code, PKCE verifier, client_secret_basic); checks the ID token's algorithm and
    /// claims, and its signature against `jwks` when given. Returns the ID token.
    async fn token(
        &self,
        code: &str,
        pkce: &Pkce,
        jwks: Option<&JwkSet>,
    ) -> Result<String, BenchError> {
        let url = format!("{}/token", self.target.issuer);
        let endpoint = TokenEndpoint {
            url: &url,
            issuer: &self.target.issuer,
            client_id: &self.target.client_id,
            client_secret: &self.target.client_secret,
        };
        self.token_at(&endpoint, code, pkce, jwks).await
    }

    /// `POST` to `endpoint` (authorization_code, PKCE verifier, client_secret_basic); checks the ID token as
    /// [`Driver::check_id_token`] does, for that endpoint's issuer and client. Returns the ID token.
    pub(crate) async fn token_at(
        &self,
        endpoint: &TokenEndpoint<'_>,
        code: &str,
        pkce: &Pkce,
        jwks: Option<&JwkSet>,
    ) -> Result<String, BenchError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", pkce.verifier.as_str()),
            ])
            .finish();
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let response = self
            .http
            .post(endpoint.url)
            .basic_auth(
                enc(endpoint.client_id),
                Some(enc(endpoint.client_secret.expose())),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(step_error("token"))?;
        let status = response.status();
        let text = response.text().await.map_err(step_error("token"))?;
        if !status.is_success() {
            return Err(BenchError::Failed(format!(
                "token: status {status}: {}",
                truncate(&text)
            )));
        }
        let tokens: Value =
            serde_json::from_str(&text).map_err(|e| BenchError::Failed(format!("token: {e}")))?;
        let id_token = tokens["id_token"]
            .as_str()
            .ok_or_else(|| BenchError::Failed("token: no id_token".into()))?;
        self.check_id_token_of(
            id_token,
            &pkce.nonce,
            jwks,
            endpoint.issuer,
            endpoint.client_id,
        )?;
        Ok(id_token.to_owned())
    }

    /// The ID token's `alg`, `iss`, `aud` and `nonce` (and its signature, with `jwks`).
    pub fn check_id_token(
        &self,
        id_token: &str,
        nonce: &str,
        jwks: Option<&JwkSet>,
    ) -> Result<(), BenchError> {
        self.check_id_token_of(
            id_token,
            nonce,
            jwks,
            &self.target.issuer,
            &self.target.client_id,
        )
    }

    /// The checks of [`Driver::check_id_token`] for the tokens of `issuer` to `client_id`.
    fn check_id_token_of(
        &self,
        id_token: &str,
        nonce: &str,
        jwks: Option<&JwkSet>,
        issuer: &str,
        client_id: &str,
    ) -> Result<(), BenchError> {
        let (header, claims) = tessera_oidc::jose::peek_unverified(id_token)
            .map_err(|e| BenchError::Failed(format!("id_token: {e}")))?;
        if header.get("alg").and_then(Value::as_str) != Some(self.expected_alg) {
            return Err(BenchError::Failed(format!(
                "id_token: alg {:?}, expected {}",
                header.get("alg"),
                self.expected_alg
            )));
        }
        if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
            return Err(BenchError::Failed("id_token: wrong iss".into()));
        }
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => a == client_id,
            Some(Value::Array(list)) => list.iter().any(|a| a == client_id),
            _ => false,
        };
        if !aud_ok {
            return Err(BenchError::Failed("id_token: wrong aud".into()));
        }
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(BenchError::Failed("id_token: wrong nonce".into()));
        }
        if let Some(jwks) = jwks {
            tessera_oidc::jose::verify_jws(id_token, &jwks.verifying_keys())
                .map_err(|e| BenchError::Failed(format!("id_token signature: {e}")))?;
        }
        Ok(())
    }
}

/// The PKCE verifier and challenge, `state` and `nonce` of one authorization.
pub(crate) struct Pkce {
    verifier: String,
    pub(crate) challenge: String,
    pub(crate) state: String,
    pub(crate) nonce: String,
}

impl Pkce {
    pub(crate) fn new() -> Result<Pkce, BenchError> {
        let mut bytes = [0u8; 48];
        aws_lc_rs::rand::fill(&mut bytes)
            .map_err(|_| BenchError::Failed("random generation failed".into()))?;
        let verifier = B64.encode(&bytes[..32]);
        let challenge = B64.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            verifier.as_bytes(),
        ));
        Ok(Pkce {
            verifier,
            challenge,
            state: B64.encode(&bytes[32..40]),
            nonce: B64.encode(&bytes[40..48]),
        })
    }
}

/// The code of an authorization response delivered to the bench client's redirect URI at `location`, after checking
/// its `state` and its `iss` (RFC 9207).
pub(crate) fn code_of(
    location: &str,
    state: &str,
    issuer: &str,
    step: &'static str,
) -> Result<String, BenchError> {
    if !location.starts_with(REDIRECT_URI) {
        return Err(BenchError::Failed(format!(
            "{step}: redirected to {location}"
        )));
    }
    let url = url::Url::parse(location)
        .map_err(|e| BenchError::Failed(format!("{step}: {location}: {e}")))?;
    let (mut code, mut got_state, mut iss) = (None, None, None);
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "state" => got_state = Some(v.into_owned()),
            "iss" => iss = Some(v.into_owned()),
            _ => {}
        }
    }
    if got_state.as_deref() != Some(state) {
        return Err(BenchError::Failed(format!("{step}: state mismatch")));
    }
    if iss.as_deref() != Some(issuer) {
        return Err(BenchError::Failed(format!("{step}: iss mismatch")));
    }
    code.ok_or_else(|| BenchError::Failed(format!("{step}: no code in {location}")))
}

/// The `Location` of a 302/303 response.
pub(crate) fn see_other(
    response: &reqwest::Response,
    step: &'static str,
) -> Result<String, BenchError> {
    let status = response.status();
    if status != reqwest::StatusCode::SEE_OTHER && status != reqwest::StatusCode::FOUND {
        return Err(BenchError::Failed(format!(
            "{step}: status {status}, expected a redirect"
        )));
    }
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| BenchError::Failed(format!("{step}: redirect without Location")))
}

/// The `authz` parameter of a sign-in page location.
pub fn authz_of(location: &str) -> Option<&str> {
    let (_, query) = location.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("authz="))
        .filter(|v| !v.is_empty())
}

pub(crate) fn step_error(step: &'static str) -> impl Fn(reqwest::Error) -> BenchError {
    move |e| BenchError::Failed(format!("{step}: {e}"))
}

fn truncate(text: &str) -> &str {
    match text.char_indices().nth(200) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn jar_keeps_the_latest_value_and_drops_cleared_cookies() {
        let mut headers = HeaderMap::new();
        headers.append(
            SET_COOKIE,
            HeaderValue::from_static("a=1; Path=/; HttpOnly"),
        );
        headers.append(SET_COOKIE, HeaderValue::from_static("b=2; Path=/"));
        let mut jar = Jar::default();
        jar.absorb(&headers);
        assert_eq!(jar.header(), "a=1; b=2");
        let mut clear = HeaderMap::new();
        clear.append(SET_COOKIE, HeaderValue::from_static("a=; Max-Age=0"));
        clear.append(SET_COOKIE, HeaderValue::from_static("b=3"));
        jar.absorb(&clear);
        assert_eq!(jar.get("a"), None);
        assert_eq!(jar.get("b"), Some("3"));
    }

    #[test]
    fn authz_is_read_from_the_sign_in_location() {
        assert_eq!(authz_of("/bench/login?authz=abc"), Some("abc"));
        assert_eq!(authz_of("/bench/login?x=1&authz=abc&y=2"), Some("abc"));
        assert_eq!(authz_of("/bench/login?authz="), None);
        assert_eq!(authz_of("/bench/login"), None);
    }

    #[test]
    fn pkce_challenge_is_the_s256_of_the_verifier() {
        let p = Pkce::new().expect("random");
        let expected = B64.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            p.verifier.as_bytes(),
        ));
        assert_eq!(p.challenge, expected);
        assert_eq!(p.verifier.len(), 43);
    }

    fn driver() -> Driver {
        let target = Target {
            base: "http://localhost:18099".into(),
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 18099)),
            tenant: "bench".into(),
            issuer: "http://localhost:18099/bench/oidc".into(),
            client_id: "client-1".into(),
            client_secret: tessera_core::Secret::new("secret"),
        };
        Driver::new(target, "ES256").expect("driver")
    }

    /// An unsigned JWT-shaped token (the claim checks read it without verifying).
    fn token(header: Value, claims: Value) -> String {
        format!(
            "{}.{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string()),
            B64.encode("sig")
        )
    }

    fn good_claims() -> Value {
        json!({"iss": "http://localhost:18099/bench/oidc", "aud": "client-1", "nonce": "n1", "sub": "u"})
    }

    #[test]
    fn id_token_with_expected_alg_iss_aud_and_nonce_passes_the_claim_checks() {
        let d = driver();
        let t = token(json!({"alg": "ES256"}), good_claims());
        assert!(d.check_id_token(&t, "n1", None).is_ok());
        let mut list = good_claims();
        list["aud"] = json!(["other", "client-1"]);
        assert!(
            d.check_id_token(&token(json!({"alg": "ES256"}), list), "n1", None)
                .is_ok()
        );
    }

    #[test]
    fn id_token_with_another_alg_is_refused() {
        let t = token(json!({"alg": "RS256"}), good_claims());
        assert!(driver().check_id_token(&t, "n1", None).is_err());
    }

    #[test]
    fn id_token_for_another_audience_issuer_or_nonce_is_refused() {
        let d = driver();
        for (key, value) in [
            ("aud", json!("client-2")),
            ("iss", json!("http://evil")),
            ("nonce", json!("n2")),
        ] {
            let mut claims = good_claims();
            claims[key] = value;
            let t = token(json!({"alg": "ES256"}), claims);
            assert!(d.check_id_token(&t, "n1", None).is_err(), "{key}");
        }
        let mut missing = good_claims();
        missing.as_object_mut().map(|m| m.remove("aud"));
        assert!(
            d.check_id_token(&token(json!({"alg": "ES256"}), missing), "n1", None)
                .is_err()
        );
    }

    #[test]
    fn id_token_with_a_bad_signature_is_refused_when_the_jwks_is_given() {
        let jwks = JwkSet::from_json(r#"{"keys":[]}"#).expect("empty set");
        let t = token(json!({"alg": "ES256", "kid": "k"}), good_claims());
        assert!(driver().check_id_token(&t, "n1", Some(&jwks)).is_err());
    }

    #[test]
    fn malformed_id_token_is_an_error_not_a_panic() {
        let d = driver();
        for t in ["", "a.b", "a.b.c", "..", "\u{0}.\u{0}.x"] {
            assert!(d.check_id_token(t, "n1", None).is_err(), "{t:?}");
        }
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        let long = "é".repeat(300);
        assert_eq!(truncate(&long).chars().count(), 200);
        assert_eq!(truncate("short"), "short");
    }
}
