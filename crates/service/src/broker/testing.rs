//! Test fixtures of the broker's use cases: an SQLite store in a temporary directory, a fixed master key and time,
//! and [`Upstream`], a real OpenID provider's discovery document and JWK Set served on a loopback port, whose
//! documents a test can replace (broken, rotated) while it runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tessera_broker::config::{
    ClaimMapping, IdentityProvider, MetadataUrl, ProviderId, ResponseType, UpstreamClientAuth,
    parse_scope,
};
use tessera_core::TenantId;
use tessera_oidc::ResponseMode;
use tessera_oidc::keys::{JwkSet, MasterKey, SigningAlg, SigningKey};
use tessera_store_sqlite::SqliteStore;
use time::OffsetDateTime;
use time::macros::datetime;

use super::upstream_client::UpstreamClient;

/// The fixed "now" of the tests.
pub const T0: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

/// A fixed master key.
pub fn master() -> MasterKey {
    MasterKey::from_bytes(&[7u8; 32]).expect("master key")
}

/// A tenant id.
pub fn tenant_id(id: &str) -> TenantId {
    TenantId::parse(id).expect("tenant id")
}

/// A fresh SQLite store; keep the directory alive as long as the store.
pub async fn sqlite() -> (Arc<SqliteStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("broker.db"))
        .await
        .expect("sqlite");
    (Arc::new(store), dir)
}

/// A fresh PostgreSQL store in its own schema of `TEST_PG_URL`, or `None` (after printing
/// `SKIPPED(pg): <test>`, which `scripts/test` counts) when the variable is not set.
pub async fn postgres() -> Option<PgFixture> {
    use sqlx::Connection;
    let url = match std::env::var("TEST_PG_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            use std::io::Write;
            let line = format!(
                "SKIPPED(pg): {} (TEST_PG_URL is not set)\n",
                std::thread::current()
                    .name()
                    .unwrap_or("a broker service test")
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
            return None;
        }
    };
    let schema = format!(
        "t_svc_{}",
        crate::handles::random_token(8)
            .expect("random")
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    let mut admin = sqlx::PgConnection::connect(&url)
        .await
        .expect("connect TEST_PG_URL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .expect("create schema");
    let options = <tessera_store_postgres::PgConnectOptions as std::str::FromStr>::from_str(&url)
        .expect("TEST_PG_URL parses")
        .options([("search_path", schema.as_str())]);
    let store = tessera_store_postgres::PostgresStore::connect_with(options, 4)
        .await
        .expect("connect");
    Some(PgFixture {
        store: Arc::new(store),
        url,
        schema,
    })
}

/// A PostgreSQL store in a schema dropped by [`PgFixture::teardown`].
pub struct PgFixture {
    /// The store.
    pub store: Arc<tessera_store_postgres::PostgresStore>,
    url: String,
    schema: String,
}

impl PgFixture {
    /// Closes the store and drops its schema.
    pub async fn teardown(self) {
        use sqlx::Connection;
        self.store.close().await;
        let mut admin = sqlx::PgConnection::connect(&self.url)
            .await
            .expect("connect");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            self.schema
        )))
        .execute(&mut admin)
        .await
        .expect("drop schema");
    }
}

/// A client with short limits, for loopback providers.
pub fn client() -> UpstreamClient {
    UpstreamClient::with_limits(
        std::time::Duration::from_secs(2),
        std::time::Duration::from_secs(3),
        64 * 1024,
    )
}

#[derive(Clone, Default)]
struct Documents {
    discovery: Arc<Mutex<Vec<u8>>>,
    jwks: Arc<Mutex<Vec<u8>>>,
    jwks_fetches: Arc<AtomicUsize>,
}

/// An upstream OpenID provider on a loopback port: issuer `{base}/idp`, discovery at
/// `{base}/idp/.well-known/openid-configuration`, keys at `{base}/idp/jwks`.
pub struct Upstream {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    documents: Documents,
}

impl Upstream {
    /// Starts a provider serving a valid discovery document and a JWKS of one ES256 key.
    pub async fn start() -> Self {
        let documents = Documents::default();
        let router = Router::new()
            .route("/idp/.well-known/openid-configuration", get(discovery))
            .route("/idp/jwks", get(jwks))
            .with_state(documents.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let upstream = Self { base, documents };
        upstream.set_discovery(&upstream.discovery());
        upstream.set_jwks(&jwks_of(&[
            SigningKey::generate(SigningAlg::Es256).expect("key")
        ]));
        upstream
    }

    /// The issuer.
    pub fn issuer(&self) -> String {
        format!("{}/idp", self.base)
    }

    /// The metadata URL.
    pub fn metadata_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer())
    }

    /// A valid discovery document for this provider (form_post, code, RS256 and ES256, basic and post).
    pub fn discovery(&self) -> Value {
        let issuer = self.issuer();
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "userinfo_endpoint": format!("{issuer}/userinfo"),
            "jwks_uri": format!("{issuer}/jwks"),
            "end_session_endpoint": format!("{issuer}/logout"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "authorization_response_iss_parameter_supported": true,
        })
    }

    /// Serves `document` as the discovery document from now on.
    pub fn set_discovery(&self, document: &Value) {
        *self.documents.discovery.lock().expect("lock") =
            serde_json::to_vec(document).expect("json");
    }

    /// Serves these bytes as the discovery document (not necessarily JSON).
    pub fn set_discovery_bytes(&self, body: &[u8]) {
        *self.documents.discovery.lock().expect("lock") = body.to_vec();
    }

    /// Serves `document` as the JWKS from now on.
    pub fn set_jwks(&self, document: &Value) {
        *self.documents.jwks.lock().expect("lock") = serde_json::to_vec(document).expect("json");
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.documents.jwks_fetches.load(Ordering::SeqCst)
    }

    /// The configuration of an identity provider for this upstream, as the tutorial enters it.
    pub fn provider(&self, id: &str) -> IdentityProvider {
        IdentityProvider {
            id: ProviderId::parse(id).expect("provider id"),
            name: "Nok Nok Authentication Provider".into(),
            metadata_url: MetadataUrl::parse(&self.metadata_url()).expect("metadata url"),
            client_id: "broker-at-idp".into(),
            client_auth: UpstreamClientAuth::ClientSecretBasic,
            scope: parse_scope("openid profile email"),
            response_type: ResponseType::Code,
            response_mode: ResponseMode::FormPost,
            claim_mapping: ClaimMapping::default(),
            domain_hint: None,
        }
    }
}

/// The JWKS publishing `keys`' public parts.
pub fn jwks_of(keys: &[SigningKey]) -> Value {
    serde_json::to_value(JwkSet {
        keys: keys.iter().map(|k| k.public_jwk().clone()).collect(),
    })
    .expect("jwks")
}

fn served(body: Vec<u8>) -> Response {
    if body.is_empty() {
        return StatusCode::NOT_FOUND.into_response();
    }
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn discovery(State(documents): State<Documents>) -> Response {
    served(documents.discovery.lock().expect("lock").clone())
}

async fn jwks(State(documents): State<Documents>) -> Response {
    documents.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    served(documents.jwks.lock().expect("lock").clone())
}
