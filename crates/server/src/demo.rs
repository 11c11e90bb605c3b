//! `tessera demo`: the product on loopback, ready to click through.
//!
//! Binds `127.0.0.1:P`, serves at `http://localhost:P` (WebAuthn needs a domain; `localhost` is one), keeps its state
//! in a data directory (SQLite, master key, `demo.json`), creates tenant `mytenant` and a confidential client the
//! first time and reuses them afterwards. A small relying party at `/demo/` signs in through the real OpenID Connect
//! flow (state, nonce, PKCE, `form_post`), redeems the code over loopback HTTP with the `openidconnect` crate and
//! shows the verified ID token claims.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Form, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use tessera_broker::config::{
    ApplicationClaim, ClaimMapping, CollectedAttribute, DEFAULT_SCOPE, FlowSettings,
    IdentityProvider, MetadataUrl, PolicyId, ProviderId, ResponseType, TokenLifetimes,
    UpstreamClientAuth, UserAttribute, parse_scope,
};
use tessera_core::secret::{Redacted, redacted_option};
use tessera_core::{Clock, SystemClock, TenantId};
use tessera_http::error::html_escape;
use tessera_http::{PublicUrl, SecuritySettings};
use tessera_oidc::keys::{MasterKey, SigningAlg};
use tessera_service::broker::applications::{self, ApplicationUpdate, NewApplication};
use tessera_service::broker::tenants as broker_tenants;
use tessera_service::broker::{UpstreamClient, flows, providers};
use tessera_service::clients::{self, ClientKind, LocalhostHttp, NewClient};
use tessera_service::tenants::{self, NewTenant};
use tessera_store::{BrokerStore, Store};

use crate::app::{self, Application};
use crate::datadir::{DataDir, write_private};
use crate::error::ServerError;

/// The demo's tenant.
pub const DEMO_TENANT: &str = "mytenant";

/// `tessera demo` options.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where the demo keeps its database, master key and demo.json.
    #[arg(long, default_value = "tessera-data")]
    pub data_dir: PathBuf,
    /// The loopback port.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Wipe the data directory first.
    #[arg(long)]
    pub reset: bool,
    /// Keep the demo's data in this PostgreSQL database (a `postgres://` URL) instead of the SQLite file of the data
    /// directory; the master key and `demo.json` stay in the data directory, and `--reset` does not empty the
    /// database.
    #[arg(long, env = "TESSERA_DEMO_STORE_URL", value_name = "URL")]
    pub store_url: Option<String>,
    /// Serve `https://localhost:P` with a certificate of a CA the demo makes for itself (kept in `DATA_DIR/tls/`;
    /// its certificate, `tls/ca.pem`, is what clients such as MSAL apps trust). Plain HTTP without it.
    #[arg(long)]
    pub tls: bool,
}

/// What `demo.json` holds (0600: it carries the demo client's secret, which the store keeps only hashed).
/// `Debug` does not show the secret.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DemoInfo {
    /// The issuer, `http://localhost:P/mytenant/oidc`.
    pub authenticator_url: String,
    /// `mytenant`.
    pub authenticator_tenant: String,
    /// The discovery document URL.
    pub discovery_url: String,
    /// The demo client's id.
    pub demo_client_id: String,
    /// The demo client's secret.
    pub demo_client_secret: String,
    /// `http://localhost:P/demo/callback`.
    pub demo_redirect_uri: String,
    /// The demo relying party's start page.
    pub demo_url: String,
    /// With `--tls`: the demo CA's certificate (PEM) to trust, e.g. `NODE_EXTRA_CA_CERTS` for an MSAL app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<String>,
    /// The folder the demo's broker mails to (one `.eml` file per one-time code: sign-up and recovery codes of
    /// local accounts), `DATA_DIR/mail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_dir: Option<String>,
    /// The identity broker's part, added once the broker is configured (after the server answers).
    #[serde(flatten)]
    pub broker: BrokerDemoInfo,
    /// The admin surfaces' part, added with the broker's.
    #[serde(flatten)]
    pub admin: AdminDemoInfo,
}

/// The admin keys of `demo.json` (absent until written; keys are only ever added).
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AdminDemoInfo {
    /// The admin portal and API base, `http://localhost:P/admin/` (the API at `admin/api/v1/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_url: Option<String>,
    /// An admin API token (`tsr_...`) scoped to the demo's tenants (`mytenant`, `contoso`), made at demo set-up and
    /// shown only here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_api_token: Option<String>,
}

impl std::fmt::Debug for AdminDemoInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminDemoInfo")
            .field("admin_url", &self.admin_url)
            .field("admin_api_token", &redacted_option(&self.admin_api_token))
            .finish()
    }
}

impl std::fmt::Debug for DemoInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoInfo")
            .field("authenticator_url", &self.authenticator_url)
            .field("authenticator_tenant", &self.authenticator_tenant)
            .field("discovery_url", &self.discovery_url)
            .field("demo_client_id", &self.demo_client_id)
            .field("demo_client_secret", &Redacted)
            .field("demo_redirect_uri", &self.demo_redirect_uri)
            .field("demo_url", &self.demo_url)
            .field("mail_dir", &self.mail_dir)
            .field("broker", &self.broker)
            .field("admin", &self.admin)
            .finish()
    }
}

/// The broker's keys of `demo.json` (each absent until the broker is configured; keys are only ever added).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BrokerDemoInfo {
    /// The broker's issuer for the demo flow, `http://localhost:P/contoso/B2C_1_signupsignin/v2.0` (written once the
    /// broker is configured, after the server answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_url: Option<String>,
    /// The broker's discovery document for the demo flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_discovery_url: Option<String>,
    /// The broker tenant, `contoso`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_tenant: Option<String>,
    /// The user flow, `B2C_1_signupsignin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The "JWT" application's client id at the broker (a public client: PKCE, no secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_client_id: Option<String>,
    /// The "JWT" application's reply URL, `http://localhost:P/jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_redirect_uri: Option<String>,
    /// The token viewer's "Run user flow" URL of the demo flow, `http://localhost:P/jwt/run?...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_viewer_url: Option<String>,
    /// "Run user flow" of the demo flow for the `jwt-viewer` application with the token viewer as reply URL (the
    /// same run the portal's user flow page starts): `http://localhost:P/jwt/run?...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_user_flow_url: Option<String>,
}

/// Runs the demo until Ctrl-C.
pub async fn run(args: DemoArgs) -> Result<(), ServerError> {
    let started = Instant::now();
    let shutdown = app::shutdown_signal();
    if args.reset {
        println!("{}", crate::datadir::reset(&args.data_dir)?);
    } else if args.data_dir.join("tessera.db").exists() {
        println!(
            "Reusing the data directory {} (tenant {DEMO_TENANT}, its users and the demo client from the last run; \
             --reset starts over).",
            args.data_dir.display()
        );
    }
    let dir = DataDir::open(&args.data_dir)?;
    let master = MasterKey::from_bytes(&dir.master_key()?).map_err(|e| ServerError::Invalid {
        key: "keys.master_key_file",
        message: e.to_string(),
    })?;
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
            .await
            .map_err(|e| {
                let other = format!("--port {}", args.port.wrapping_add(1).max(1024));
                ServerError::bind(format!("cannot bind 127.0.0.1:{}", args.port), e, &other)
            })?;
    let port = listener
        .local_addr()
        .map_err(|e| ServerError::io("listener address", e))?
        .port();
    tracing::info!(
        ready_ms = started.elapsed().as_millis() as u64,
        "accepting connections"
    );
    let tls = if args.tls {
        Some(crate::tls::DemoCertificates::load_or_create(
            &dir.root().join("tls"),
        )?)
    } else {
        None
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public_url = PublicUrl::parse(&format!("{scheme}://localhost:{port}")).map_err(|e| {
        ServerError::Invalid {
            key: "server.public_url",
            message: e.to_string(),
        }
    })?;
    let store = match &args.store_url {
        Some(url) => {
            app::open_store(&crate::config::StoreConfig::Postgres {
                url: url.clone(),
                max_connections: 4,
            })
            .await?
        }
        None => app::open_sqlite(&dir.database()).await?,
    };
    let mut info = prepare(store.as_ref(), &master, &public_url, &dir).await?;
    let (acceptor, trusted) = match &tls {
        Some(files) => {
            info.tls_ca_file = Some(files.ca.display().to_string());
            write_info(&dir.root().join("demo.json"), &info)?;
            (
                Some(crate::tls::acceptor(&files.cert, &files.key)?),
                files.ca_certificates()?,
            )
        }
        None => (None, Vec::new()),
    };

    println!();
    println!(
        "Tessera demo is running (a development setup: loopback only, data in {}).",
        dir.root().display()
    );
    println!("  Start here:    {}", public_url.join("/"));
    println!("  Try it:        {}", info.demo_url);
    println!("  Issuer:        {}", info.authenticator_url);
    println!("  Discovery:     {}", info.discovery_url);
    println!(
        "  Sign-up page:  {}",
        public_url.join(&format!("/{DEMO_TENANT}/signup"))
    );
    println!(
        "  Account page:  {}",
        public_url.join(&format!("/{DEMO_TENANT}/account"))
    );
    println!("  Client id:     {}", info.demo_client_id);
    if let Some(ca) = &info.tls_ca_file {
        println!("  TLS CA:        {ca} (trust it in clients, e.g. NODE_EXTRA_CA_CERTS={ca})");
    }
    println!(
        "  Settings:      {}",
        dir.root().join("demo.json").display()
    );
    println!(
        "  Broker mail:   {} (one .eml file per one-time code)",
        mail_dir(&dir).display()
    );
    println!("Press Ctrl-C to stop.");
    println!();

    let run_user_flow = Arc::new(std::sync::OnceLock::new());
    let landing = tessera_http::pages::landing::router(tessera_http::pages::landing::Landing {
        store: store.clone(),
        public_url: public_url.clone(),
        demo_url: Some(info.demo_url.clone()),
        run_user_flow: run_user_flow.clone(),
    });
    let rp = relying_party(info.clone(), reqwest_client_trusting(&trusted)?);
    let app = Application::from_parts(
        listener,
        store,
        Arc::new(SystemClock),
        public_url,
        SecuritySettings::default(),
        master,
    )
    .with_listener(crate::listener::ListenerLimits::default(), acceptor)
    .with_upstream_roots(&trusted)?
    .with_mail(Some(&tessera_service::broker::mail::MailSettings {
        from: "Contoso <no-reply@contoso.example>".into(),
        transport: tessera_service::broker::mail::MailTransport::Directory(mail_dir(&dir)),
    }))?
    .merge(rp)
    .merge(landing);
    app::print_bootstrap(app.state(), app::BootstrapNotice::Console).await?;
    println!(
        "  Admin portal:  {}",
        app.state().provider.public_url.join("/admin/")
    );
    let broker = tokio::spawn(configure_broker_when_ready(
        app.state().clone(),
        dir,
        info,
        run_user_flow,
    ));
    let served = app.run_until_stopped(shutdown).await;
    broker.abort();
    served
}

/// Creates (first run) or reuses the demo tenant and client, and writes `demo.json`.
pub async fn prepare(
    store: &dyn Store,
    master: &MasterKey,
    public_url: &PublicUrl,
    dir: &DataDir,
) -> Result<DemoInfo, ServerError> {
    let tenant_id = TenantId::parse(DEMO_TENANT)
        .map_err(|e| ServerError::Demo(format!("demo tenant id refused: {e}")))?;
    let origin = public_url.origin();
    let now = SystemClock.now();
    match store.get_tenant(&tenant_id).await? {
        None => {
            tenants::create_tenant(
                store,
                master,
                NewTenant::parse(
                    tenant_id.clone(),
                    "localhost",
                    std::slice::from_ref(&origin),
                    Some("My Tenant".into()),
                )?,
                now,
            )
            .await?;
        }
        Some(mut tenant) if !tenant.origins.contains(&origin) => {
            // Another port than last time: allow its origin too.
            tenant.origins.push(origin.clone());
            store.update_tenant(&tenant).await?;
        }
        Some(_) => {}
    }
    let redirect_uri = public_url.join("/demo/callback");
    let path = dir.root().join("demo.json");
    let previous: Option<DemoInfo> = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let reusable = match &previous {
        Some(p) if p.demo_redirect_uri == redirect_uri => {
            match tessera_core::ClientId::parse(&p.demo_client_id) {
                Ok(id) => store.get_client(&tenant_id, &id).await?.is_some(),
                Err(_) => false,
            }
        }
        _ => false,
    };
    let previous_broker = previous.clone();
    let (client_id, client_secret) = match previous {
        Some(p) if reusable => (p.demo_client_id, p.demo_client_secret),
        _ => {
            let (client, secret) = clients::create_client(
                store,
                NewClient {
                    tenant: tenant_id.clone(),
                    redirect_uris: vec![clients::parse_redirect_uri(
                        &redirect_uri,
                        LocalhostHttp::InsecureAllow,
                    )?],
                    post_logout_redirect_uris: vec![clients::parse_redirect_uri(
                        &public_url.join("/demo/"),
                        LocalhostHttp::InsecureAllow,
                    )?],
                    kind: ClientKind::ConfidentialBasic,
                    id_token_alg: SigningAlg::Rs256,
                    name: Some("Tessera demo app".into()),
                },
                now,
            )
            .await?;
            let secret = secret
                .ok_or_else(|| ServerError::Demo("confidential client without a secret".into()))?;
            (client.client_id.to_string(), secret.expose().to_owned())
        }
    };
    let issuer = public_url.issuer(&tenant_id);
    let info = DemoInfo {
        discovery_url: format!("{issuer}/.well-known/openid-configuration"),
        authenticator_url: issuer,
        authenticator_tenant: DEMO_TENANT.into(),
        demo_client_id: client_id,
        demo_client_secret: client_secret,
        demo_redirect_uri: redirect_uri,
        demo_url: public_url.join("/demo/"),
        tls_ca_file: None,
        mail_dir: Some(mail_dir(dir).display().to_string()),
        // The broker's and admin parts are kept from the last run until `prepare_broker` and `prepare_admin`
        // confirm or replace them.
        admin: previous_broker
            .as_ref()
            .map(|p| p.admin.clone())
            .unwrap_or_default(),
        broker: previous_broker.map(|p| p.broker).unwrap_or_default(),
    };
    write_info(&path, &info)?;
    Ok(info)
}

/// The folder the demo's broker mails to (`demo.json`'s `mail_dir`).
fn mail_dir(dir: &DataDir) -> std::path::PathBuf {
    dir.root().join("mail")
}

fn write_info(path: &std::path::Path, info: &DemoInfo) -> Result<(), ServerError> {
    let json = serde_json::to_vec_pretty(info).map_err(|e| ServerError::Demo(e.to_string()))?;
    write_private(path, &json)
}

/// The demo's broker tenant.
pub const DEMO_BROKER_TENANT: &str = "contoso";
/// The demo's user flow.
pub const DEMO_POLICY: &str = "B2C_1_signupsignin";

/// The demo's user flow with local accounts only.
pub const DEMO_LOCAL_POLICY: &str = "B2C_1_local";
/// The demo's identity provider id at the broker.
pub const DEMO_PROVIDER: &str = "noknok";

/// Configures the broker as the tutorial does, once the server answers (the identity provider is added by its
/// metadata URL, which the broker fetches): broker tenant `contoso`; an OIDC client at `mytenant` whose redirect URI
/// is the broker's `/contoso/oauth2/authresp`; the identity provider "Nok Nok Authentication Provider"; the user
/// flow `B2C_1_signupsignin` offering it, collecting the email address and returning email, display name, identity
/// provider, object id and the new-user flag; and the application "JWT" (`jwt-viewer`) replying to `/jwt`. What
/// exists is reused (a new port updates the URLs); the broker's keys are added to `demo.json`.
pub async fn prepare_broker(
    store: &dyn Store,
    broker: &dyn BrokerStore,
    master: &MasterKey,
    upstream: &UpstreamClient,
    public_url: &PublicUrl,
    dir: &DataDir,
    info: &DemoInfo,
) -> Result<DemoInfo, ServerError> {
    let now = SystemClock.now();
    let tenant = TenantId::parse(DEMO_BROKER_TENANT)
        .map_err(|e| ServerError::Demo(format!("demo broker tenant id refused: {e}")))?;
    if broker.get_broker_tenant(&tenant).await?.is_none() {
        broker_tenants::create_broker_tenant(
            broker,
            master,
            broker_tenants::NewBrokerTenant {
                id: tenant.clone(),
                display_name: Some("Contoso".into()),
            },
            now,
        )
        .await?;
    }
    let provider_id = ProviderId::parse(DEMO_PROVIDER)
        .map_err(|e| ServerError::Demo(format!("demo provider id: {e}")))?;
    let metadata_url = MetadataUrl::parse(&info.discovery_url)
        .map_err(|e| ServerError::Demo(format!("demo metadata URL: {e}")))?;
    let authresp = public_url.join(&format!("/{DEMO_BROKER_TENANT}/oauth2/authresp"));
    let authenticator = TenantId::parse(DEMO_TENANT)
        .map_err(|e| ServerError::Demo(format!("demo tenant id refused: {e}")))?;
    let existing = broker
        .get_identity_provider(&tenant, provider_id.as_str())
        .await?;
    let current = match &existing {
        Some(record) => {
            let config: IdentityProvider = serde_json::from_value(record.config.clone())
                .map_err(|e| ServerError::Demo(format!("stored demo provider: {e}")))?;
            let client_ok = match tessera_core::ClientId::parse(&config.client_id) {
                Ok(id) => store
                    .get_client(&authenticator, &id)
                    .await?
                    .is_some_and(|c| c.redirect_uris.contains(&authresp)),
                Err(_) => false,
            };
            client_ok && config.metadata_url == metadata_url
        }
        None => false,
    };
    if !current {
        let (client, secret) = clients::create_client(
            store,
            NewClient {
                tenant: authenticator.clone(),
                redirect_uris: vec![clients::parse_redirect_uri(
                    &authresp,
                    LocalhostHttp::InsecureAllow,
                )?],
                post_logout_redirect_uris: Vec::new(),
                kind: ClientKind::ConfidentialBasic,
                id_token_alg: SigningAlg::Rs256,
                name: Some("Contoso (identity broker)".into()),
            },
            now,
        )
        .await?;
        let secret = secret
            .ok_or_else(|| ServerError::Demo("confidential client without a secret".into()))?;
        let config = IdentityProvider {
            id: provider_id.clone(),
            name: "Nok Nok Authentication Provider".into(),
            metadata_url,
            client_id: client.client_id.to_string(),
            client_auth: UpstreamClientAuth::ClientSecretBasic,
            scope: parse_scope(DEFAULT_SCOPE),
            response_type: ResponseType::Code,
            response_mode: tessera_oidc::ResponseMode::FormPost,
            claim_mapping: ClaimMapping::default(),
            domain_hint: None,
        };
        if existing.is_some() {
            providers::update_identity_provider(
                broker,
                master,
                upstream,
                &tenant,
                config,
                Some(secret),
                now,
                None,
            )
            .await?;
        } else {
            providers::save_identity_provider(
                broker, master, upstream, &tenant, config, secret, now,
            )
            .await?;
        }
    }
    let policy =
        PolicyId::parse(DEMO_POLICY).map_err(|e| ServerError::Demo(format!("demo policy: {e}")))?;
    if broker.get_flow(&tenant, &policy.key()).await?.is_none() {
        flows::create_user_flow(broker, &tenant, policy.clone(), demo_flow(provider_id), now)
            .await?;
    }
    // A second flow with local accounts only (email verified by a one-time code in `D/mail/`, a passkey at the
    // broker), beside the tutorial's.
    let local_policy = PolicyId::parse(DEMO_LOCAL_POLICY)
        .map_err(|e| ServerError::Demo(format!("demo policy: {e}")))?;
    if broker
        .get_flow(&tenant, &local_policy.key())
        .await?
        .is_none()
    {
        let mut settings = demo_flow(ProviderId::local());
        settings.identity_providers.clear();
        settings.local_accounts = tessera_broker::config::LocalAccounts::Email;
        flows::create_user_flow(broker, &tenant, local_policy, settings, now).await?;
    }
    let reply_url = public_url.join("/jwt");
    let application = match &info.broker.application_client_id {
        Some(id) => match tessera_core::ClientId::parse(id) {
            Ok(id) => broker
                .get_broker_application(&tenant, &id)
                .await?
                .map(|_| id),
            Err(_) => None,
        },
        None => None,
    };
    let application_id = match application {
        Some(id) => {
            let app = applications::get_application(broker, &tenant, &id).await?;
            if app.reply_urls != [reply_url.clone()] {
                applications::update_application(
                    broker,
                    &tenant,
                    &id,
                    ApplicationUpdate {
                        display_name: app.display_name,
                        reply_urls: vec![reply_url.clone()],
                        logout_urls: vec![reply_url.clone()],
                        token_lifetimes: app.token_lifetimes,
                        id_token_signing_alg: app.id_token_signing_alg,
                    },
                    None,
                )
                .await?;
            }
            id
        }
        None => {
            let (app, _) = applications::create_application(
                broker,
                &tenant,
                NewApplication {
                    display_name: "jwt-viewer".into(),
                    client_type: tessera_oidc::ClientType::Public,
                    reply_urls: vec![reply_url.clone()],
                    logout_urls: vec![reply_url.clone()],
                    token_lifetimes: TokenLifetimes::default(),
                    id_token_signing_alg: SigningAlg::Rs256,
                },
                now,
            )
            .await?;
            app.client_id
        }
    };
    let issuer = public_url.join(&format!("/{DEMO_BROKER_TENANT}/{DEMO_POLICY}/v2.0"));
    let updated = DemoInfo {
        broker: BrokerDemoInfo {
            broker_discovery_url: Some(format!("{issuer}/.well-known/openid-configuration")),
            broker_url: Some(issuer),
            broker_tenant: Some(DEMO_BROKER_TENANT.into()),
            policy: Some(DEMO_POLICY.into()),
            application_client_id: Some(application_id.to_string()),
            application_redirect_uri: Some(reply_url),
            token_viewer_url: Some(tessera_http::admin::token_viewer::run_url(
                public_url.as_str(),
                DEMO_BROKER_TENANT,
                DEMO_POLICY,
                application_id.as_str(),
            )),
            run_user_flow_url: Some(tessera_http::admin::token_viewer::run_url(
                public_url.as_str(),
                DEMO_BROKER_TENANT,
                DEMO_POLICY,
                application_id.as_str(),
            )),
        },
        ..info.clone()
    };
    write_info(&dir.root().join("demo.json"), &updated)?;
    Ok(updated)
}

/// The admin part of `demo.json`: the admin URL and an API token scoped to the demo's tenants. The token of the
/// last run is kept while it works; otherwise a new one is made (by the operator, 90 days).
pub async fn prepare_admin(
    admin: &Arc<dyn tessera_store::AdminStore>,
    public_url: &PublicUrl,
    dir: &DataDir,
    info: &DemoInfo,
) -> Result<DemoInfo, ServerError> {
    use tessera_service::admin::api_tokens;
    let now = SystemClock.now();
    let working = match &info.admin.admin_api_token {
        Some(secret) => match api_tokens::authenticate(admin, secret, now).await {
            Ok(_) => Some(secret.clone()),
            Err(tessera_service::ServiceError::InvalidBearerToken) => None,
            Err(other) => return Err(other.into()),
        },
        None => None,
    };
    let token = match working {
        Some(token) => token,
        None => {
            let spec = api_tokens::NewToken {
                name: "tessera demo".into(),
                role: api_tokens::Role::TenantAdmin,
                tenants: vec![DEMO_TENANT.into(), DEMO_BROKER_TENANT.into()],
                lifetime: time::Duration::days(90),
            };
            api_tokens::issue_by_operator(admin, &spec, &api_tokens::RequestContext::default(), now)
                .await?
                .secret
        }
    };
    let updated = DemoInfo {
        admin: AdminDemoInfo {
            admin_url: Some(public_url.join("/admin/")),
            admin_api_token: Some(token),
        },
        ..info.clone()
    };
    write_info(&dir.root().join("demo.json"), &updated)?;
    Ok(updated)
}

/// The tutorial's user flow: the one provider (so the broker goes straight there), the email address collected at
/// sign-up, and the claims the token viewer shows.
fn demo_flow(provider: ProviderId) -> FlowSettings {
    FlowSettings {
        identity_providers: vec![provider],
        user_attributes: vec![CollectedAttribute {
            attribute: UserAttribute::Email,
            required: true,
        }],
        application_claims: vec![
            ApplicationClaim::Email,
            ApplicationClaim::DisplayName,
            ApplicationClaim::IdentityProvider,
            ApplicationClaim::ObjectId,
            ApplicationClaim::NewUser,
        ],
        ..FlowSettings::default()
    }
}

/// Waits until the server answers the authenticator's discovery document (the broker fetches it), then configures
/// the broker ([`prepare_broker`]) and prints where it is.
async fn configure_broker_when_ready(
    state: tessera_http::AppState,
    dir: DataDir,
    info: DemoInfo,
    run_user_flow: Arc<std::sync::OnceLock<tessera_http::pages::landing::RunUserFlow>>,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while state
        .broker
        .upstream
        .get_json(&info.discovery_url)
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            eprintln!(
                "The identity broker was not configured: the server did not answer {}",
                info.discovery_url
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    match prepare_broker(
        state.provider.store.as_ref(),
        state.broker.store.as_ref(),
        &state.provider.master_key,
        &state.broker.upstream,
        &state.provider.public_url,
        &dir,
        &info,
    )
    .await
    {
        Ok(done) => {
            if let Some(url) = &done.broker.token_viewer_url {
                println!("  Run user flow: {url}");
                let _ = run_user_flow.set(tessera_http::pages::landing::RunUserFlow {
                    policy: DEMO_POLICY.into(),
                    url: url.clone(),
                });
            }
            println!(
                "  Broker:        {} (tenant {DEMO_BROKER_TENANT}, user flow {DEMO_POLICY}, application {})",
                done.broker.broker_url.clone().unwrap_or_default(),
                done.broker
                    .application_client_id
                    .clone()
                    .unwrap_or_default()
            );
            match prepare_admin(&state.admin_store, &state.provider.public_url, &dir, &done).await {
                Ok(admin) => println!(
                    "  Admin API:     {}api/v1/ (token scoped to the demo tenants: admin_api_token in demo.json)",
                    admin.admin.admin_url.unwrap_or_default()
                ),
                Err(e) => eprintln!("The demo's admin API token was not made: {e}"),
            }
        }
        Err(e) => eprintln!("The identity broker was not configured: {e}"),
    }
}

/// An HTTP client for loopback calls that never follows redirects (an OAuth client must not).
pub fn reqwest_client() -> Result<reqwest::Client, ServerError> {
    reqwest_client_trusting(&[])
}

/// The same client trusting `roots` besides the Mozilla roots (the demo's own CA under `--tls`).
pub fn reqwest_client_trusting(
    roots: &[rustls_pki_types::CertificateDer<'static>],
) -> Result<reqwest::Client, ServerError> {
    tessera_service::broker::install_default_tls_provider();
    let mut builder = reqwest::Client::builder();
    for root in roots {
        let certificate = reqwest::Certificate::from_der(root)
            .map_err(|e| ServerError::Demo(format!("demo CA certificate: {e}")))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| ServerError::Demo(format!("http client: {e}")))
}

struct Pending {
    nonce: Nonce,
    verifier: PkceCodeVerifier,
    created: Instant,
}

#[derive(Clone)]
struct Rp {
    info: Arc<DemoInfo>,
    http: reqwest::Client,
    pending: Arc<Mutex<HashMap<String, Pending>>>,
}

const PENDING_LIMIT: usize = 1000;
const PENDING_TTL: Duration = Duration::from_secs(600);
const STATE_COOKIE: &str = "tessera_demo_state";

/// The demo relying party's routes (`/demo/`, `/demo/login`, `/demo/callback`).
pub fn relying_party(info: DemoInfo, http: reqwest::Client) -> Router {
    let rp = Rp {
        info: Arc::new(info),
        http,
        pending: Arc::default(),
    };
    Router::new()
        .route("/demo/", get(home))
        .route("/demo", get(|| async { Redirect::to("/demo/") }))
        .route("/demo/login", get(login))
        .route("/demo/callback", post(callback).get(callback_query))
        .with_state(rp)
}

/// A page of the demo application, in the pages' style and under their CSP (no inline script: the copy button is
/// wired by the pages' own script).
fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>{t}</title>\
         <link rel=\"icon\" href=\"/favicon.ico\">\
         <link rel=\"stylesheet\" href=\"{css}\"><script src=\"{js}\" defer></script></head>\
         <body data-page=\"demo\"><header class=\"tenant\"><p>Tessera demo app</p></header>\
         <main class=\"wide\"><h1>{t}</h1>{body}\
         <p id=\"status\" class=\"status\" role=\"status\" aria-live=\"polite\"></p></main></body></html>",
        t = html_escape(title),
        css = tessera_http::assets::style_src(),
        js = tessera_http::assets::script_src(),
    );
    let mut response = Html(html).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// What the demo says about itself on every start page.
const DEVELOPMENT_NOTE: &str = "<p id=\"demo-dev\" class=\"notice-dev\">This is a development setup: \
    <code>tessera demo</code> runs the identity service and this small application in one process on loopback, \
    with its data in a local directory. Use <code>tessera serve</code> with a configuration file for anything real.</p>";

/// The demo's own address (`localhost:P`), or a page saying where to open it when the browser came by another one
/// (`127.0.0.1:P`): there the state cookie would be set for one host and the callback arrive at the other, and the
/// passkeys of `localhost` are not offered.
fn wrong_address(rp: &Rp, headers: &HeaderMap) -> Option<Response> {
    let host = headers
        .get(header::HOST)?
        .to_str()
        .ok()?
        .to_ascii_lowercase();
    let expected = url::Url::parse(&rp.info.demo_url).ok()?;
    let authority = match expected.port() {
        Some(port) => format!("{}:{port}", expected.host_str()?),
        None => expected.host_str()?.to_owned(),
    };
    if host == authority {
        return None;
    }
    let mut response = page(
        &format!("Open the demo at {}", rp.info.demo_url),
        &format!(
            "<p id=\"wrong-address\">You opened the demo at <code>{host}</code>. Passkeys for this demo belong to \
             <code>{authority}</code>, and the sign-in comes back there, so open it at its own address:</p>\
             <p><a id=\"right-address\" href=\"{url}\">{url}</a></p>",
            host = html_escape(&host),
            authority = html_escape(&authority),
            url = html_escape(&rp.info.demo_url),
        ),
    );
    *response.status_mut() = StatusCode::MISDIRECTED_REQUEST;
    Some(response)
}

/// The `state` the demo sends with its sign-out request; the provider echoes it back to `/demo/`.
const SIGNED_OUT_STATE: &str = "signed-out";

async fn home(State(rp): State<Rp>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    if let Some(wrong) = wrong_address(&rp, &headers) {
        return wrong;
    }
    let signed_out = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(k, v)| k == "state" && v == SIGNED_OUT_STATE);
    let notice = if signed_out {
        "<p id=\"notice\" class=\"notice\" role=\"status\">You are signed out of the demo app and of Tessera.</p>"
    } else {
        ""
    };
    page(
        "Tessera demo app",
        &format!(
            "{notice}{DEVELOPMENT_NOTE}<p>This is a tiny OpenID Connect relying party. It signs you in with a passkey \
             at <code>{issuer}</code> (authorization code flow with PKCE, nonce and form_post) and shows the \
             verified ID token.</p><p><a id=\"demo-sign-in\" href=\"/demo/login\">Sign in with passkey</a></p>\
             <p>No account yet? The sign-in page offers to create one.</p>\
             <p><a href=\"{discovery}\">Discovery document</a> · <a href=\"/\">Everything this server runs</a></p>",
            issuer = html_escape(&rp.info.authenticator_url),
            discovery = html_escape(&rp.info.discovery_url),
        ),
    )
}

async fn oidc_client(
    rp: &Rp,
) -> Result<
    openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    String,
> {
    let issuer = IssuerUrl::new(rp.info.authenticator_url.clone()).map_err(|e| e.to_string())?;
    let metadata = CoreProviderMetadata::discover_async(issuer, &rp.http)
        .await
        .map_err(|e| e.to_string())?;
    let redirect =
        RedirectUrl::new(rp.info.demo_redirect_uri.clone()).map_err(|e| e.to_string())?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.info.demo_client_id.clone()),
        Some(ClientSecret::new(rp.info.demo_client_secret.clone())),
    )
    .set_redirect_uri(redirect))
}

async fn login(State(rp): State<Rp>, headers: HeaderMap) -> Response {
    if let Some(wrong) = wrong_address(&rp, &headers) {
        return wrong;
    }
    let client = match oidc_client(&rp).await {
        Ok(client) => client,
        Err(e) => return failure(&format!("discovery failed: {e}")),
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .add_extra_param("response_mode", "form_post")
        .url();
    {
        let mut pending = rp.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, p| p.created.elapsed() < PENDING_TTL);
        if pending.len() >= PENDING_LIMIT {
            return failure("too many sign-ins in progress; try again in a few minutes");
        }
        pending.insert(
            state.secret().clone(),
            Pending {
                nonce,
                verifier,
                created: Instant::now(),
            },
        );
    }
    let cookie = format!(
        "{STATE_COOKIE}={}; Path=/demo; HttpOnly; SameSite=Lax; Max-Age=600",
        state.secret()
    );
    let mut response = Redirect::to(url.as_str()).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The form_post callback's fields. `Debug` does not show the code.
#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callback")
            .field("code", &redacted_option(&self.code))
            .field("state", &self.state)
            .field("iss", &self.iss)
            .field("error", &self.error)
            .field("error_description", &self.error_description)
            .finish()
    }
}

async fn callback_query() -> Response {
    failure("this demo asks for response_mode=form_post: the callback must be a POST")
}

async fn callback(
    State(rp): State<Rp>,
    headers: HeaderMap,
    Form(form): Form<Callback>,
) -> Response {
    let cookie_state = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == STATE_COOKIE)
        .map(|(_, v)| v.to_owned());
    let Some(state) = form.state.clone() else {
        return failure("the response has no state");
    };
    // The state must be the one this browser started with (CSRF on the client side, RFC 9700 §2.1).
    if cookie_state.as_deref() != Some(state.as_str()) {
        return failure("the state does not belong to this browser; start again");
    }
    let Some(pending) = rp
        .pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&state)
    else {
        return failure("unknown or used state; start again");
    };
    // RFC 9207: the authorization response names its issuer; it must be ours.
    if form
        .iss
        .as_deref()
        .is_some_and(|iss| iss != rp.info.authenticator_url)
    {
        return failure("the response comes from another issuer");
    }
    if let Some(error) = form.error {
        return failure(&format!(
            "the provider answered {}: {}",
            error,
            form.error_description.unwrap_or_default()
        ));
    }
    let Some(code) = form.code else {
        return failure("the response has no code");
    };
    let client = match oidc_client(&rp).await {
        Ok(client) => client,
        Err(e) => return failure(&format!("discovery failed: {e}")),
    };
    let request = match client.exchange_code(AuthorizationCode::new(code)) {
        Ok(request) => request,
        Err(e) => return failure(&format!("no token endpoint: {e}")),
    };
    let tokens = match request
        .set_pkce_verifier(pending.verifier)
        .request_async(&rp.http)
        .await
    {
        Ok(tokens) => tokens,
        Err(e) => return failure(&format!("token request failed: {e}")),
    };
    let Some(id_token) = tokens.id_token() else {
        return failure("the token response has no ID token");
    };
    let claims = match id_token.claims(&client.id_token_verifier(), &pending.nonce) {
        Ok(claims) => claims,
        Err(e) => return failure(&format!("the ID token did not verify: {e}")),
    };
    let json = serde_json::to_value(claims).unwrap_or_default();
    let rows = claim_rows(&json);
    let raw_token = id_token.to_string();
    let logout = format!(
        "{}/logout?id_token_hint={}&post_logout_redirect_uri={}&client_id={}&state={SIGNED_OUT_STATE}",
        rp.info.authenticator_url,
        urlencode(&raw_token),
        urlencode(&rp.info.demo_url),
        urlencode(&rp.info.demo_client_id),
    );
    let account = format!(
        "/{}/account?client_id={}",
        rp.info.authenticator_tenant,
        urlencode(&rp.info.demo_client_id)
    );
    let _ = tokens.access_token();
    page(
        "Signed in",
        &format!(
            "<p>The ID token's signature, issuer, audience, expiry and nonce were verified by the \
             <code>openidconnect</code> crate. Its claims:</p><table id=\"claims\" class=\"claims\">{rows}</table>\
             <h2>The ID token</h2><label for=\"raw-token\">As the token endpoint returned it (a signed JWT)</label>\
             <textarea id=\"raw-token\" class=\"token\" rows=\"6\" readonly spellcheck=\"false\">{token}</textarea>\
             <button type=\"button\" id=\"copy-token\" class=\"secondary\" data-copy=\"raw-token\">Copy the ID token</button>\
             <nav class=\"links\"><a id=\"demo-back\" href=\"/demo/\">Back</a>\
             <a id=\"demo-account\" href=\"{account}\">Manage your passkeys</a>\
             <a id=\"demo-sign-out\" href=\"{logout}\">Sign out</a></nav>",
            token = html_escape(&raw_token),
            account = html_escape(&account),
            logout = html_escape(&logout),
        ),
    )
}

/// The claims that hold a time (seconds since the epoch, RFC 7519 §2 `NumericDate`).
const TIME_CLAIMS: [&str; 4] = ["iat", "exp", "auth_time", "nbf"];

/// One table row per claim; times also as a UTC date for people.
fn claim_rows(claims: &serde_json::Value) -> String {
    let mut rows = String::new();
    let Some(map) = claims.as_object() else {
        return rows;
    };
    for (name, value) in map {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let readable = value
            .as_i64()
            .filter(|_| TIME_CLAIMS.contains(&name.as_str()))
            .and_then(readable_time)
            .map(|t| format!(" <span class=\"hint\">({})</span>", html_escape(&t)))
            .unwrap_or_default();
        rows.push_str(&format!(
            "<tr><th>{}</th><td><span class=\"claim-value\">{}</span>{readable}</td></tr>",
            html_escape(name),
            html_escape(&text)
        ));
    }
    rows
}

/// `1764620000` → `2025-12-01 20:13:20 UTC`.
fn readable_time(epoch: i64) -> Option<String> {
    let time = time::OffsetDateTime::from_unix_timestamp(epoch).ok()?;
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time.format(&format).ok()
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn failure(message: &str) -> Response {
    let mut response = page(
        "Sign-in did not complete",
        &format!(
            "<p>{}</p><p><a href=\"/demo/\">Start again</a></p>",
            html_escape(message)
        ),
    );
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_the_demo_info_does_not_show_the_client_secret() {
        let info = DemoInfo {
            authenticator_url: "http://localhost:8080/mytenant/oidc".into(),
            authenticator_tenant: "mytenant".into(),
            discovery_url: "http://localhost:8080/mytenant/oidc/.well-known/openid-configuration"
                .into(),
            demo_client_id: "demo".into(),
            demo_client_secret: "client-SECRET".into(),
            demo_redirect_uri: "http://localhost:8080/demo/callback".into(),
            demo_url: "http://localhost:8080/demo/".into(),
            tls_ca_file: None,
            mail_dir: None,
            broker: BrokerDemoInfo::default(),
            admin: AdminDemoInfo {
                admin_url: Some("http://localhost:8080/admin/".into()),
                admin_api_token: Some("tsr_TOKEN-SECRET".into()),
            },
        };
        let shown = format!("{info:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(
            shown.contains("admin_api_token: Some([redacted])"),
            "{shown}"
        );
        assert!(shown.contains("demo_client_secret: [redacted]"), "{shown}");
    }

    #[test]
    fn a_demo_json_of_an_earlier_version_still_reads_and_broker_keys_appear_only_when_set() {
        let old = r#"{"authenticator_url":"a","authenticator_tenant":"mytenant","discovery_url":"d",
            "demo_client_id":"c","demo_client_secret":"s","demo_redirect_uri":"r","demo_url":"u"}"#;
        let info: DemoInfo = serde_json::from_str(old).expect("an earlier demo.json");
        assert_eq!(info.broker, BrokerDemoInfo::default());
        let json = serde_json::to_value(&info).expect("json");
        assert!(json.get("broker_url").is_none() && json.get("broker").is_none());
        let configured = DemoInfo {
            broker: BrokerDemoInfo {
                broker_url: Some("http://localhost:8080/contoso/B2C_1_signupsignin/v2.0".into()),
                ..BrokerDemoInfo::default()
            },
            ..info
        };
        let json = serde_json::to_value(&configured).expect("json");
        assert_eq!(
            json["broker_url"], "http://localhost:8080/contoso/B2C_1_signupsignin/v2.0",
            "flattened into the top level"
        );
    }

    #[test]
    fn debug_of_a_callback_does_not_show_the_code() {
        let callback = Callback {
            code: Some("code-SECRET".into()),
            state: Some("st".into()),
            iss: None,
            error: None,
            error_description: None,
        };
        let shown = format!("{callback:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("st"), "{shown}");
    }

    #[test]
    fn epoch_times_are_shown_as_utc_dates() {
        assert_eq!(
            readable_time(1_764_620_000).as_deref(),
            Some("2025-12-01 20:13:20 UTC")
        );
    }

    #[test]
    fn only_time_claims_get_a_readable_date() {
        let rows = claim_rows(&serde_json::json!({"auth_time": 0, "sub": "1764620000"}));
        assert!(rows.contains("1970-01-01 00:00:00 UTC"), "{rows}");
        assert_eq!(rows.matches(" UTC)").count(), 1, "{rows}");
    }
}
