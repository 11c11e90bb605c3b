//! [`spawn_app`]: the real application (`tessera_server::Application`) on port 0 with a fresh store (SQLite in a
//! temporary directory, or PostgreSQL in a fresh schema when `TEST_PG_URL` is set and the test asks for it), a clock
//! the test controls and a tenant with four clients; and [`TestApp`], which drives it over HTTP as a relying party
//! and a browser would. Every HTTP test of the workspace starts its server here.
//!
//! A helper for tests: set-up failures panic with the reason.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tessera_core::{Clock, FixedClock, TenantId, UserId};
use tessera_http::state::AttestationSettings;
use tessera_http::{AppState, PublicUrl, SecuritySettings};
use tessera_oidc::id_token::AuthenticationFacts;
use tessera_oidc::keys::{JwkSet, MasterKey, SigningAlg};
use tessera_server::Application;
use tessera_server::trust::TrustFiles;
use tessera_service::clients::{self, ClientKind, LocalhostHttp, NewClient};
use tessera_service::tenants::{self, NewTenant};
use tessera_store::{Backend as StoreBackend, Credential, Session, User};
use tessera_store_sqlite::SqliteStore;
use time::OffsetDateTime;
use tokio::sync::oneshot;

/// Which database the app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in a temporary directory.
    Sqlite,
    /// PostgreSQL at `TEST_PG_URL`, in a fresh schema dropped by [`TestApp::stop`].
    Postgres,
}

/// How the authorization response is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Parameters in the redirect's query.
    Query,
    /// `response_mode=form_post`.
    FormPost,
}

/// A registered client as the tests use it.
#[derive(Debug, Clone)]
pub struct TestClient {
    /// Its `client_id`.
    pub id: String,
    /// Its secret, for confidential clients.
    pub secret: Option<String>,
    /// Its redirect URI ([`REDIRECT`]).
    pub redirect_uri: String,
}

/// What [`spawn_app`] starts.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// The database.
    pub backend: Backend,
    /// The tenant created with the app ([`TENANT`] by default).
    pub tenant: String,
    /// Its display name.
    pub tenant_display_name: Option<String>,
    /// The service's public URL and the tenant's one WebAuthn origin; `None`: `http://localhost:PORT`, the address
    /// the app listens on. With another URL, reach the app through [`TestApp::socket_url`].
    pub public_url: Option<String>,
    /// The clock's start; `None`: now, in whole seconds (JWT times are whole seconds, so comparisons stay exact).
    pub start: Option<OffsetDateTime>,
    /// The HTTP layer's security settings.
    pub security: SecuritySettings,
    /// Attestation trust anchors and metadata.
    pub attestation: AttestationSettings,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            backend: Backend::Sqlite,
            tenant: TENANT.into(),
            tenant_display_name: Some("Acme".into()),
            public_url: None,
            start: None,
            security: SecuritySettings::default(),
            attestation: AttestationSettings::default(),
        }
    }
}

/// A running application.
pub struct TestApp {
    /// The public URL (`http://localhost:PORT` unless [`AppOptions::public_url`] said otherwise).
    pub base: String,
    /// The loopback address the app listens on.
    pub addr: SocketAddr,
    /// `{base}/{tenant}/oidc`.
    pub issuer: String,
    /// The tenant created with the app.
    pub tenant: TenantId,
    /// The app's clock.
    pub clock: Arc<FixedClock>,
    /// The app's state (store, keys, caches), for set-up and checks behind the HTTP interface.
    pub state: AppState,
    /// An HTTP client that follows no redirects.
    pub http: reqwest::Client,
    /// `client_secret_basic`, RS256.
    pub basic: TestClient,
    /// `client_secret_post`, RS256.
    pub post: TestClient,
    /// Public client (PKCE required).
    pub public: TestClient,
    /// `client_secret_basic`, ES256 ID tokens.
    pub es256: TestClient,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    master: MasterKey,
    options: AppOptions,
    sqlite: Option<Arc<SqliteStore>>,
    _dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

/// The default tenant.
pub const TENANT: &str = "acme";
/// The redirect URI registered for every client.
pub const REDIRECT: &str = "https://rp.example/cb";

/// Starts the real application on port 0 with a fresh store and [`AppOptions`]; `None` when PostgreSQL is asked
/// for and `TEST_PG_URL` is not set (the test is then skipped, and says so on stderr).
pub async fn spawn_app(options: AppOptions) -> Option<TestApp> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, sqlite, pg): (Arc<dyn StoreBackend>, _, _) = match options.backend {
        Backend::Sqlite => {
            let sqlite = Arc::new(
                SqliteStore::open(&dir.path().join("t.db"))
                    .await
                    .expect("sqlite"),
            );
            (sqlite.clone(), Some(sqlite), None)
        }
        Backend::Postgres => {
            let url = match std::env::var("TEST_PG_URL") {
                Ok(url) if !url.is_empty() => url,
                _ => {
                    report_pg_skip();
                    return None;
                }
            };
            let schema = fresh_schema();
            pg_exec(&url, &format!("CREATE SCHEMA {schema}")).await;
            (connect_pg(&url, &schema).await, None, Some((url, schema)))
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let base = options
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://localhost:{}", addr.port()));
    let public_url = PublicUrl::parse(&base).expect("public url");
    let start = options.start.unwrap_or_else(|| {
        OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp())
            .expect("now")
    });
    let clock = Arc::new(FixedClock::new(start));
    let master = MasterKey::generate().expect("master key");
    let tenant = TenantId::parse(&options.tenant).expect("tenant");
    tenants::create_tenant(
        store.as_ref(),
        &master,
        NewTenant::parse(
            tenant.clone(),
            "localhost",
            std::slice::from_ref(&base),
            options.tenant_display_name.clone(),
        )
        .expect("new tenant"),
        clock.now(),
    )
    .await
    .expect("tenant");
    let make = async |kind: ClientKind, alg: SigningAlg, name: &str| {
        let (client, secret) = clients::create_client(
            store.as_ref(),
            NewClient {
                tenant: tenant.clone(),
                redirect_uris: clients::parse_redirect_uris(
                    &[REDIRECT.into(), format!("{base}/demo/callback")],
                    LocalhostHttp::InsecureAllow,
                )
                .expect("redirect uris"),
                post_logout_redirect_uris: clients::parse_redirect_uris(
                    &["https://rp.example/bye".into()],
                    LocalhostHttp::InsecureAllow,
                )
                .expect("post-logout redirect uris"),
                kind,
                id_token_alg: alg,
                name: Some(name.into()),
            },
            clock.now(),
        )
        .await
        .expect("client");
        TestClient {
            id: client.client_id.to_string(),
            secret: secret.map(|s| s.expose().to_owned()),
            redirect_uri: REDIRECT.into(),
        }
    };
    let basic = make(ClientKind::ConfidentialBasic, SigningAlg::Rs256, "Basic RP").await;
    let post = make(ClientKind::ConfidentialPost, SigningAlg::Rs256, "Post RP").await;
    let public = make(ClientKind::Public, SigningAlg::Rs256, "Public RP").await;
    let es256 = make(ClientKind::ConfidentialBasic, SigningAlg::Es256, "ES256 RP").await;
    let (state, stop, server) = serve(
        listener,
        store,
        clock.clone(),
        public_url,
        master.clone(),
        &options,
        &dir.path().join("mail"),
    );
    tessera_service::broker::install_default_tls_provider();
    Some(TestApp {
        issuer: format!("{base}/{tenant}/oidc"),
        base,
        addr,
        tenant,
        clock,
        state,
        http: http_client(),
        basic,
        post,
        public,
        es256,
        stop: Some(stop),
        server: Some(server),
        master,
        options,
        sqlite,
        _dir: dir,
        pg,
    })
}

/// Connects to the schema `schema` at `url` (and brings it up to date).
async fn connect_pg(url: &str, schema: &str) -> Arc<dyn StoreBackend> {
    let connect = tessera_store_postgres::PgConnectOptions::from_str(url)
        .expect("TEST_PG_URL parses")
        .options([("search_path", schema)]);
    let store = tessera_store_postgres::PostgresStore::connect_with(connect, 4)
        .await
        .expect("pg");
    Arc::new(store)
}

/// Serves the application on `listener` in a task: its state, the sender that stops it and the task.
fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<dyn StoreBackend>,
    clock: Arc<FixedClock>,
    public_url: PublicUrl,
    master: MasterKey,
    options: &AppOptions,
    mail_dir: &std::path::Path,
) -> (AppState, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let app = Application::from_parts(
        listener,
        store,
        clock as Arc<dyn Clock>,
        public_url,
        options.security.clone(),
        master,
    )
    .with_attestation(TrustFiles::default(), options.attestation.clone())
    // The broker's mail (local accounts' one-time codes) goes to a directory sink: [`TestApp::mail_dir`].
    .with_mail(Some(&tessera_service::broker::mail::MailSettings {
        from: "Contoso <no-reply@contoso.example>".into(),
        transport: tessera_service::broker::mail::MailTransport::Directory(mail_dir.to_path_buf()),
    }))
    .expect("broker mail");
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = app
            .run_until_stopped(async move {
                let _ = stopped.await;
            })
            .await;
    });
    (state, stop, server)
}

/// An HTTP client that follows no redirects.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

impl TestApp {
    /// An app on SQLite with the default options.
    pub async fn spawn() -> TestApp {
        spawn_app(AppOptions::default())
            .await
            .unwrap_or_else(|| panic!("sqlite app"))
    }

    /// An app on `backend`; `None` for PostgreSQL when `TEST_PG_URL` is not set.
    pub async fn spawn_on(backend: Backend) -> Option<TestApp> {
        spawn_app(AppOptions {
            backend,
            ..AppOptions::default()
        })
        .await
    }

    /// The directory where the broker's mail goes (one `.eml` file per message).
    pub fn mail_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("mail")
    }

    /// The SQLite database file of the running app (`None` on PostgreSQL), for tests that damage it.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        self.sqlite.as_ref().map(|_| self._dir.path().join("t.db"))
    }

    /// Closes the SQLite store under the running app, so that every store call fails (`Unavailable`).
    pub async fn close_store(&self) {
        self.sqlite
            .as_ref()
            .expect("close_store needs the SQLite backend")
            .close()
            .await;
    }

    /// The `Host` a browser sends for the app's public URL (`localhost:8080`), for requests made at
    /// [`TestApp::socket_url`].
    pub fn public_host(&self) -> String {
        let without_scheme = self
            .base
            .split_once("://")
            .map_or(self.base.as_str(), |(_, rest)| rest);
        without_scheme
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// The URL of `path` at the app's socket (`http://127.0.0.1:PORT/path`), whatever the public URL is.
    pub fn socket_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Restarts the server as a new process would start on the same data dir: the server stops (in-flight requests
    /// finish), the store is closed and opened again (SQLite: the same database file, so what the old process kept
    /// in memory, such as its ceremonies, is gone; PostgreSQL: a new pool on the same schema), and a new
    /// application with empty caches serves on the same address, with the same clock, master key and options.
    pub async fn restart(mut self) -> TestApp {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(std::time::Duration::from_secs(10), server)
                .await
                .expect("the server stops within 10 s")
                .expect("the server task ends");
        }
        let store: Arc<dyn StoreBackend> = match (&self.sqlite, &self.pg) {
            (Some(old), _) => {
                old.close().await;
                let reopened = Arc::new(
                    SqliteStore::open(&self._dir.path().join("t.db"))
                        .await
                        .expect("reopen sqlite"),
                );
                self.sqlite = Some(reopened.clone());
                reopened
            }
            (None, Some((url, schema))) => connect_pg(url, schema).await,
            (None, None) => panic!("an app has a store"),
        };
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("bind the same address again");
        let (state, stop, server) = serve(
            listener,
            store,
            self.clock.clone(),
            PublicUrl::parse(&self.base).expect("public url"),
            self.master.clone(),
            &self.options,
            &self._dir.path().join("mail"),
        );
        self.state = state;
        self.stop = Some(stop);
        self.server = Some(server);
        self.http = http_client();
        self
    }

    /// Stops the server (and drops the PostgreSQL schema).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some((url, schema)) = self.pg.take() {
            pg_exec(&url, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
        }
    }

    /// Creates a user with one (fabricated) passkey record, as sign-up would.
    pub async fn create_user(&self, username: &str) -> UserId {
        let id = UserId::parse(&format!("u-{}", random(9))).expect("user id");
        let user = User {
            tenant: self.tenant.clone(),
            id: id.clone(),
            username: username.into(),
            display_name: format!("{username} Example"),
            email: Some(format!("{username}@example.com")),
            email_verified: false,
            user_handle: random(16).into_bytes(),
            created_at: self.clock.now(),
            disabled_at: None,
        };
        let credential = Credential {
            tenant: self.tenant.clone(),
            credential_id: random(16).into_bytes(),
            user_id: id.clone(),
            public_key: vec![1, 2, 3],
            alg: -7,
            sign_count: 0,
            uv_initialized: true,
            backup_eligible: true,
            backup_state: true,
            transports: vec!["internal".into()],
            aaguid: [0; 16],
            attestation_format: "none".into(),
            attestation_trusted: false,
            nickname: "test".into(),
            created_at: self.clock.now(),
            last_used_at: None,
        };
        self.state
            .provider
            .store
            .create_user_with_credential(&user, &credential)
            .await
            .expect("user");
        id
    }

    /// Signs `user` in as the passkey pages would (a session created now), returning the `Cookie` header value.
    pub async fn sign_in(&self, user: &UserId) -> String {
        let facts = AuthenticationFacts {
            user_verified: true,
            backup_eligible: true,
            attestation_trusted: false,
        };
        self.sign_in_with(user, facts).await.0
    }

    /// Signs `user` in with a session holding `facts`; returns the `Cookie` header value and the session's `sid`.
    pub async fn sign_in_with(
        &self,
        user: &UserId,
        facts: AuthenticationFacts,
    ) -> (String, String) {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).expect("random");
        let token = B64.encode(bytes);
        let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
            .as_ref()
            .to_vec();
        let now = self.clock.now();
        let sid = random(22);
        // Signed in with the user's first passkey, as a sign-in through the pages would record it.
        let credential_id = self
            .state
            .provider
            .store
            .list_credentials(&self.tenant, user)
            .await
            .expect("credentials")
            .first()
            .map(|c| c.credential_id.clone());
        self.state
            .provider
            .store
            .create_session(&Session {
                id_hash: hash,
                tenant: self.tenant.clone(),
                user_id: user.clone(),
                sid: sid.clone(),
                auth_time: now,
                user_verified: facts.user_verified,
                backup_eligible: facts.backup_eligible,
                attestation_trusted: facts.attestation_trusted,
                credential_id,
                last_seen_at: now,
                expires_at: now + time::Duration::hours(12),
            })
            .await
            .expect("session");
        let cookie = format!(
            "{}={token}",
            tessera_http::session::cookie_name(&self.tenant)
        );
        (cookie, sid)
    }

    /// The standard authorization parameters for `client`.
    pub fn params(&self, client: &TestClient, mode: Mode) -> Vec<(String, String)> {
        let mut p = vec![
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("scope", "openid profile email"),
            ("state", "st-123"),
            ("nonce", "n-456"),
        ];
        if mode == Mode::FormPost {
            p.push(("response_mode", "form_post"));
        }
        p.into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect()
    }

    /// `GET /authorize` with `params` (and a session cookie), without following redirects.
    pub async fn authorize(
        &self,
        params: &[(String, String)],
        cookie: Option<&str>,
    ) -> reqwest::Response {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let mut request = self.http.get(format!("{}/authorize?{query}", self.issuer));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.expect("authorize")
    }

    /// GET on a path relative to the base URL (following nothing).
    pub async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut request = self.http.get(url);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.expect("get")
    }

    /// Runs the authorization request with a session and returns the response parameters (from the redirect's
    /// query or from the form_post page), checking the delivery rules of `mode`.
    pub async fn authorize_ok(
        &self,
        params: &[(String, String)],
        cookie: &str,
        mode: Mode,
    ) -> Callback {
        let response = self.authorize(params, Some(cookie)).await;
        read_callback(response, mode).await
    }

    /// A token request with `client`'s registered authentication.
    pub async fn token(&self, client: &TestClient, form: &[(&str, &str)]) -> reqwest::Response {
        let mut form: Vec<(String, String)> = form
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        let mut request = self.http.post(format!("{}/token", self.issuer));
        if client.id == self.post.id {
            form.push(("client_id".into(), client.id.clone()));
            form.push((
                "client_secret".into(),
                client.secret.clone().unwrap_or_default(),
            ));
        } else if let Some(secret) = &client.secret {
            request = request.basic_auth(encode(&client.id), Some(encode(secret)));
        } else {
            form.push(("client_id".into(), client.id.clone()));
        }
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&form)
            .finish();
        request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("token")
    }

    /// Redeems `code` for `client`.
    pub async fn redeem(&self, client: &TestClient, code: &str) -> reqwest::Response {
        self.token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &client.redirect_uri),
            ],
        )
        .await
    }

    /// The JWK Set.
    pub async fn jwks(&self) -> JwkSet {
        let text = self
            .get(&format!("/{TENANT}/oidc/jwks"), None)
            .await
            .text()
            .await
            .expect("jwks");
        JwkSet::from_json(&text).expect("jwks parses")
    }

    /// Verifies an ID token's signature against the published JWKS and returns its header and claims.
    pub async fn verify_id_token(&self, token: &str) -> (Value, Value) {
        let jwks = self.jwks().await;
        let verified = tessera_oidc::jose::verify_jws(token, &jwks.verifying_keys())
            .expect("signature verifies");
        let (header, claims) = tessera_oidc::jose::peek_unverified(token).expect("parts");
        let _ = verified;
        (Value::Object(header), Value::Object(claims))
    }

    /// A full sign-in and code redemption for `client`; returns the token response JSON.
    pub async fn full_flow(&self, client: &TestClient, cookie: &str, mode: Mode) -> Value {
        let callback = self
            .authorize_ok(&self.params(client, mode), cookie, mode)
            .await;
        let code = callback.get("code").expect("code");
        let response = self.redeem(client, &code).await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("json")
    }
}

/// The parameters of an authorization response.
#[derive(Debug, Clone)]
pub struct Callback(pub Vec<(String, String)>);

impl Callback {
    /// The value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// Reads an authorization response delivered per `mode` (303 with query, or 200 form_post page).
pub async fn read_callback(response: reqwest::Response, mode: Mode) -> Callback {
    match mode {
        Mode::Query => {
            assert_eq!(response.status(), 303, "expected a redirect to the client");
            let location = response
                .headers()
                .get("location")
                .expect("location")
                .to_str()
                .expect("ascii")
                .to_owned();
            assert!(
                location.starts_with(REDIRECT) || location.contains("/demo/callback"),
                "{location}"
            );
            let url = url::Url::parse(&location).expect("absolute");
            Callback(url.query_pairs().into_owned().collect())
        }
        Mode::FormPost => {
            assert_eq!(response.status(), 200, "expected the form_post page");
            // RejectAuthCodeInUrlQuery / RejectErrorInUrlQuery: nothing in a Location.
            assert!(response.headers().get("location").is_none());
            let html = response.text().await.expect("html");
            let form = parse_form(&html);
            assert!(form.action.starts_with(REDIRECT) || form.action.contains("/demo/callback"));
            assert!(
                !form.action.contains("code="),
                "the code must not be in the action URL"
            );
            assert_eq!(form.method, "post");
            Callback(form.fields)
        }
    }
}

/// A form found in an HTML page.
#[derive(Debug)]
pub struct HtmlForm {
    /// The `action` attribute.
    pub action: String,
    /// The `method` attribute, lowercase.
    pub method: String,
    /// The hidden inputs' names and values.
    pub fields: Vec<(String, String)>,
}

/// A minimal parser for the form_post page (one form, hidden inputs).
pub fn parse_form(html: &str) -> HtmlForm {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let needle = format!("{name}=\"");
        let start = tag.find(&needle)? + needle.len();
        let end = tag[start..].find('"')? + start;
        Some(unescape(&tag[start..end]))
    };
    let form_start = html.find("<form").expect("a form");
    let form_tag_end = html[form_start..].find('>').expect("form tag") + form_start;
    let form_tag = &html[form_start..form_tag_end];
    let mut fields = Vec::new();
    let mut rest = &html[form_tag_end..];
    while let Some(i) = rest.find("<input") {
        let end = rest[i..].find('>').expect("input end") + i;
        let tag = &rest[i..end];
        if let (Some(name), Some(value)) = (attr(tag, "name"), attr(tag, "value")) {
            fields.push((name, value));
        }
        rest = &rest[end..];
    }
    HtmlForm {
        action: attr(form_tag, "action").unwrap_or_default(),
        method: attr(form_tag, "method").unwrap_or_default().to_lowercase(),
        fields,
    }
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Random URL-safe text of `n` characters.
pub fn random(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes).expect("random");
    let text = B64.encode(bytes);
    text.chars().take(n).collect()
}

/// PKCE pair (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    let verifier = random(64);
    let challenge = B64.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ));
    (verifier, challenge)
}

static SCHEMAS: AtomicU64 = AtomicU64::new(0);

fn fresh_schema() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u64(SCHEMAS.fetch_add(1, Ordering::Relaxed));
    format!("it_{:016x}", hasher.finish())
}

async fn pg_exec(url: &str, sql: &str) {
    let mut admin = PgConnection::connect(url)
        .await
        .expect("connect TEST_PG_URL");
    sqlx::query(AssertSqlSafe(sql.to_owned()))
        .execute(&mut admin)
        .await
        .expect("schema DDL");
    let _ = admin.close().await;
}

/// A fresh, empty schema of `TEST_PG_URL` for a server process the test starts itself (`tessera demo
/// --store-url`), dropped by [`PgSchema::drop_schema`].
#[derive(Debug)]
pub struct PgSchema {
    url: String,
    schema: String,
}

impl PgSchema {
    /// Creates the schema; `None` (after `SKIPPED(pg): <test>` on stderr) when `TEST_PG_URL` is not set.
    pub async fn create() -> Option<PgSchema> {
        let url = match std::env::var("TEST_PG_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                report_pg_skip();
                return None;
            }
        };
        let schema = fresh_schema();
        pg_exec(&url, &format!("CREATE SCHEMA {schema}")).await;
        Some(PgSchema { url, schema })
    }

    /// `TEST_PG_URL` with this schema as the `search_path` of every connection.
    pub fn url(&self) -> String {
        let joint = if self.url.contains('?') { '&' } else { '?' };
        format!(
            "{}{joint}options=-c%20search_path%3D{}",
            self.url, self.schema
        )
    }

    /// Drops the schema and everything in it.
    pub async fn drop_schema(self) {
        pg_exec(
            &self.url,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema),
        )
        .await;
    }
}

/// Sets one pair in a parameter list (replacing it if present).
pub fn set(params: &mut Vec<(String, String)>, name: &str, value: &str) {
    params.retain(|(k, _)| k != name);
    params.push((name.to_owned(), value.to_owned()));
}

/// Removes a parameter.
pub fn remove(params: &mut Vec<(String, String)>, name: &str) {
    params.retain(|(k, _)| k != name);
}

/// Says on the real stderr (not the captured test output) that this test was skipped for lack of `TEST_PG_URL`, as
/// `SKIPPED(pg): <test>`: `scripts/test` counts these lines, so a skipped test is not mistaken for a passed one.
fn report_pg_skip() {
    use std::io::Write;
    let thread = std::thread::current();
    let line = format!(
        "SKIPPED(pg): {} (TEST_PG_URL is not set)\n",
        thread.name().unwrap_or("a PostgreSQL flow test")
    );
    // One write, so that the line is not interleaved with the test runner's own output.
    let _ = std::io::stderr().write_all(line.as_bytes());
}
