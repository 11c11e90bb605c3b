//! Start-up as a value: bind first (so connections are accepted at once), open the store, build the state, then
//! serve until a shutdown signal, with the background maintenance task beside it.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tessera_core::{Clock, SystemClock};
use tessera_http::{AppState, PublicUrl, SecuritySettings};
use tessera_oidc::keys::MasterKey;
use tessera_service::broker::providers::RefreshBackoff;
use tessera_store::Backend;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Config, StoreConfig};
use crate::error::ServerError;
use crate::listener::ListenerLimits;
use crate::trust::{self, TrustFiles};
use std::time::SystemTime;
use tessera_http::state::AttestationSettings;
use tokio_rustls::TlsAcceptor;

/// How many rows the maintenance task deletes per table per round, and how many rounds it runs per tick.
const PURGE_BATCH: u32 = 500;
const PURGE_ROUNDS_PER_TICK: u32 = 20;
/// How often the maintenance task runs.
const MAINTENANCE_PERIOD: Duration = Duration::from_secs(60);

/// A bound, ready-to-serve Tessera.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    extra: Option<Router>,
    trust_files: TrustFiles,
    limits: ListenerLimits,
    tls: Option<TlsAcceptor>,
    roles: tessera_http::Roles,
}

impl Application {
    /// Binds `config.listen`, opens the configured store and builds the application state.
    pub async fn build(config: &Config) -> Result<Self, ServerError> {
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            ServerError::bind(
                format!("server.listen: cannot bind {}", config.listen),
                e,
                "server.listen (or the environment variable TESSERA__SERVER__LISTEN)",
            )
        })?;
        let store = open_store(&config.store).await?;
        let master = master_key(&config.master_key)?;
        Self::from_parts(
            listener,
            store,
            Arc::new(SystemClock),
            config.public_url.clone(),
            config.security.clone(),
            master,
        )
        .with_attestation(config.trust_files.clone(), config.attestation.clone())
        .with_listener(config.limits, config.tls.clone())
        .with_roles(config.roles)
        .with_upstream_roots(&config.upstream_roots)?
        .with_mail(config.mail.as_ref())
    }

    /// The broker sends local accounts' one-time codes as `settings` say (`None`: no mail, no local sign-up).
    ///
    /// # Errors
    /// [`ServerError::Invalid`] naming `broker.mail` when the mailer cannot be built.
    pub fn with_mail(
        mut self,
        settings: Option<&tessera_service::broker::mail::MailSettings>,
    ) -> Result<Self, ServerError> {
        if let Some(settings) = settings {
            let mailer = tessera_service::broker::mail::Mailer::new(settings).map_err(|e| {
                ServerError::Invalid {
                    key: "broker.mail",
                    message: e.to_string(),
                }
            })?;
            tracing::info!(transport = %mailer.describe(), "broker mail");
            self.state = self.state.with_mailer(Arc::new(mailer));
        }
        Ok(self)
    }

    /// The broker trusts `roots` besides the Mozilla roots when it calls identity providers (none: only those).
    ///
    /// # Errors
    /// [`ServerError::Invalid`] naming `broker.trust_roots_file` when a certificate cannot be a trust root.
    pub fn with_upstream_roots(
        mut self,
        roots: &[rustls_pki_types::CertificateDer<'static>],
    ) -> Result<Self, ServerError> {
        if roots.is_empty() {
            return Ok(self);
        }
        let upstream =
            tessera_service::broker::UpstreamClient::with_extra_roots(roots).map_err(|e| {
                ServerError::Invalid {
                    key: "broker.trust_roots_file",
                    message: e.to_string(),
                }
            })?;
        self.state = self.state.with_upstream(upstream);
        Ok(self)
    }

    /// Serves only these roles' routes (`[server] roles`).
    #[must_use]
    pub fn with_roles(mut self, roles: tessera_http::Roles) -> Self {
        self.roles = roles;
        self
    }

    /// Serves with these timeouts and connection cap, and with TLS when `tls` is given.
    #[must_use]
    pub fn with_listener(mut self, limits: ListenerLimits, tls: Option<TlsAcceptor>) -> Self {
        self.limits = limits;
        self.tls = tls;
        self
    }

    /// Verifies registrations' attestations with `settings` (loaded from `files`); the maintenance task reloads the
    /// MDS BLOB when its file changes.
    #[must_use]
    pub fn with_attestation(mut self, files: TrustFiles, settings: AttestationSettings) -> Self {
        self.state = self.state.with_attestation(settings);
        self.trust_files = files;
        self
    }

    /// Assembles an application from parts (tests bind port 0 and pass a fixed clock).
    pub fn from_parts(
        listener: TcpListener,
        store: Arc<dyn Backend>,
        clock: Arc<dyn Clock>,
        public_url: PublicUrl,
        security: SecuritySettings,
        master_key: MasterKey,
    ) -> Self {
        let state = AppState::new(store, clock, public_url, security, master_key);
        Self {
            listener,
            state,
            extra: None,
            trust_files: TrustFiles::default(),
            limits: ListenerLimits::default(),
            tls: None,
            roles: tessera_http::Roles::ALL,
        }
    }

    /// Adds routes served beside Tessera's own (the demo's relying party).
    pub fn merge(mut self, router: Router) -> Self {
        self.extra = Some(match self.extra.take() {
            Some(existing) => existing.merge(router),
            None => router,
        });
        self
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        self.listener
            .local_addr()
            .map_err(|e| ServerError::io("listener address", e))
    }

    /// The shared state (store, clock, keys cache).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and stops the maintenance task.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        if let Err(e) = self
            .state
            .provider
            .hosts
            .refresh(self.state.provider.store.as_ref())
            .await
        {
            tracing::warn!(error = %e, "loading the tenants' own addresses failed; retried by maintenance");
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let maintenance = tokio::spawn(maintenance(
            self.state.clone(),
            self.trust_files.clone(),
            stop_rx,
        ));
        let mut app = tessera_http::router_with_roles(self.state.clone(), self.roles);
        if let Some(extra) = self.extra {
            app = app.merge(tessera_http::security::apply(
                extra,
                self.state.provider.security.body_limit,
            ));
        }
        let served =
            crate::listener::serve(self.listener, app, self.limits, self.tls, shutdown).await;
        let _ = stop_tx.send(true);
        let _ = maintenance.await;
        served.map_err(|e| ServerError::io("serving", e))
    }
}

/// Where [`print_bootstrap`] shows the bootstrap link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootstrapNotice {
    /// Printed lines on stdout (`tessera demo`, a person at a terminal).
    Console,
    /// One warning of the server's log (`tessera serve`, whose output may be JSON lines).
    Log,
}

/// Makes sure the admin tenant and the portal's client exist (for this public URL), and on a fresh install (no
/// administrator, no API token) shows the one-time bootstrap link that enrols the first administrator's passkey.
/// Returns the link when one was shown. The link is a short-lived, single-use secret: it is shown because the
/// operator needs it, and stops working once used or after 30 minutes.
pub async fn print_bootstrap(
    state: &AppState,
    notice: BootstrapNotice,
) -> Result<Option<String>, ServerError> {
    let now = state.provider.clock.now();
    let url = state.provider.public_url.clone();
    match tessera_service::admin::members::ensure_admin_tenant(
        state.provider.store.as_ref(),
        &state.provider.master_key,
        url.as_str(),
        now,
    )
    .await
    {
        Ok(()) => {}
        // Passkeys need a domain name: on an address such as `http://127.0.0.1:8080` the server runs, without the
        // portal's sign-in.
        Err(
            e @ (tessera_service::ServiceError::InvalidRpId { .. }
            | tessera_service::ServiceError::InvalidOrigin { .. }),
        ) => {
            tracing::warn!(error = %e, public_url = url.as_str(), "the admin portal needs a public_url with a domain name (passkeys do not work on an IP address); it is not available");
            return Ok(None);
        }
        Err(other) => return Err(other.into()),
    }
    state
        .provider
        .tenants
        .invalidate(&tessera_service::admin::members::admin_tenant()?);
    let Some(secret) =
        tessera_service::admin::api_tokens::bootstrap_if_fresh(&state.admin_store, now).await?
    else {
        return Ok(None);
    };
    let link = url.join(&format!("/admin/bootstrap?token={secret}"));
    match notice {
        BootstrapNotice::Console => {
            println!();
            println!(
                "No administrator yet. Open this link within 30 minutes to enrol the first administrator's passkey"
            );
            println!("(it works once; a restart before then prints a new one):");
            println!("  Admin bootstrap: {link}");
            println!();
        }
        BootstrapNotice::Log => tracing::warn!(
            bootstrap_link = %link,
            portal = %url.join("/admin/"),
            "no administrator yet: open the bootstrap link within 30 minutes to enrol the first administrator's \
             passkey (it works once; a restart before then makes a new one)"
        ),
    }
    Ok(Some(link))
}

/// Opens the configured store (migrations included): the authenticator service's and the broker's tables.
pub async fn open_store(config: &StoreConfig) -> Result<Arc<dyn Backend>, ServerError> {
    match config {
        StoreConfig::Sqlite { path } => open_sqlite(path).await,
        StoreConfig::Postgres {
            url,
            max_connections,
        } => {
            let store =
                tessera_store_postgres::PostgresStore::connect(url, *max_connections).await?;
            Ok(Arc::new(store))
        }
    }
}

/// Opens (creating if needed) an SQLite store at `path`.
pub async fn open_sqlite(path: &Path) -> Result<Arc<dyn Backend>, ServerError> {
    let store = tessera_store_sqlite::SqliteStore::open(path).await?;
    Ok(Arc::new(store))
}

fn master_key(bytes: &[u8; 32]) -> Result<MasterKey, ServerError> {
    MasterKey::from_bytes(bytes).map_err(|e| ServerError::Invalid {
        key: "keys.master_key",
        message: e.to_string(),
    })
}

/// Purges expired rows in bounded batches, switches to due pending keys, deletes retired keys past their grace,
/// refreshes identity providers' metadata and the tenants' own addresses, trims rate limiters, and reloads the `[webauthn]` trust files when they changed.
async fn maintenance(state: AppState, files: TrustFiles, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(MAINTENANCE_PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut trust_seen = TrustWatch::new(&files);
    let mut backoff = RefreshBackoff::default();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        maintenance_round_with(&state, &mut backoff).await;
        trust_seen.reload_if_changed(&state, &files);
        warn_if_metadata_stale(&state);
    }
}

/// FIDO metadata past its `nextUpdate` still serves (its roots and status reports are the best known), but new
/// compromises are missing from it: say so, once a tick, until a newer BLOB replaces it.
fn warn_if_metadata_stale(state: &AppState) {
    let current = state.provider.attestation.current();
    if let Some(blob) = &current.metadata
        && blob.next_update() < state.provider.clock.now().date()
    {
        tracing::warn!(
            no = blob.no(),
            next_update = %blob.next_update(),
            "the FIDO metadata BLOB is past its nextUpdate: download a newer one to webauthn.mds_blob_file"
        );
    }
}

/// The modification times of the `[webauthn]` files last loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustWatch {
    seen: Vec<Option<SystemTime>>,
}

fn trust_file_times(files: &TrustFiles) -> Vec<Option<SystemTime>> {
    let mut paths: Vec<&Path> = Vec::new();
    if let Some(anchors) = &files.trust_anchors_file {
        paths.push(anchors);
    }
    if let Some(mds) = &files.mds {
        paths.push(&mds.blob);
        paths.push(&mds.root);
    }
    paths.into_iter().map(trust::modified).collect()
}

impl TrustWatch {
    /// Remembers the files' current modification times (the state was loaded from them at start).
    pub fn new(files: &TrustFiles) -> Self {
        Self {
            seen: trust_file_times(files),
        }
    }

    /// When a trust-anchor, MDS BLOB or MDS root file changed since last seen, loads and verifies them all again
    /// and replaces the state's attestation settings; refused files are logged and the loaded settings kept (a bad
    /// download never removes trust data the service runs with). Returns whether the settings were replaced.
    pub fn reload_if_changed(&mut self, state: &AppState, files: &TrustFiles) -> bool {
        let now = trust_file_times(files);
        if now.is_empty() || self.seen == now {
            return false;
        }
        self.seen = now;
        match trust::load(files, state.provider.clock.now()) {
            Ok(settings) => {
                tracing::info!(
                    anchors = settings.trust_anchors.len(),
                    metadata_no = settings.metadata.as_ref().map(|m| m.no()),
                    "attestation trust files reloaded"
                );
                state.provider.attestation.replace(settings);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "changed attestation trust files were refused; keeping the loaded ones");
                false
            }
        }
    }
}

/// One maintenance round, retrying every failing identity provider that is due; public for tests.
pub async fn maintenance_round(state: &AppState) {
    maintenance_round_with(state, &mut RefreshBackoff::default()).await;
}

/// One maintenance round; `backoff` (kept across rounds) spaces out the refreshes of failing identity providers.
async fn maintenance_round_with(state: &AppState, backoff: &mut RefreshBackoff) {
    for _ in 0..PURGE_ROUNDS_PER_TICK {
        match state
            .provider
            .store
            .purge_expired(state.provider.clock.now(), PURGE_BATCH)
            .await
        {
            Ok(n) if n < u64::from(PURGE_BATCH) => break,
            Ok(_) => tokio::task::yield_now().await,
            Err(e) => {
                tracing::warn!(error = %e, "purging expired rows failed");
                break;
            }
        }
    }
    for _ in 0..PURGE_ROUNDS_PER_TICK {
        match state
            .broker
            .store
            .purge_expired_broker(state.provider.clock.now(), PURGE_BATCH)
            .await
        {
            Ok(n) if n < u64::from(PURGE_BATCH) => break,
            Ok(_) => tokio::task::yield_now().await,
            Err(e) => {
                tracing::warn!(error = %e, "purging expired broker rows failed");
                break;
            }
        }
    }
    for _ in 0..PURGE_ROUNDS_PER_TICK {
        match state
            .admin_store
            .purge_expired_admin(state.provider.clock.now(), PURGE_BATCH)
            .await
        {
            Ok(n) if n < u64::from(PURGE_BATCH) => break,
            Ok(_) => tokio::task::yield_now().await,
            Err(e) => {
                tracing::warn!(error = %e, "purging expired administrator invitations failed");
                break;
            }
        }
    }
    let grace = tessera_service::keys::retired_key_grace(state.provider.security.access_token_ttl);
    match state.provider.store.list_tenants().await {
        Ok(tenants) => {
            state.provider.hosts.replace(&tenants);
            for tenant in tenants {
                match tessera_service::keys::activate_due_keys(
                    state.provider.store.as_ref(),
                    &tenant.id,
                    state.provider.clock.now(),
                )
                .await
                {
                    Ok(true) => {
                        tracing::info!(tenant = %tenant.id, "new signing keys are now signing");
                        state.provider.tenants.invalidate(&tenant.id);
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, tenant = %tenant.id, "activating keys failed")
                    }
                }
                if let Err(e) = state
                    .provider
                    .store
                    .delete_retired_signing_keys(&tenant.id, state.provider.clock.now() - grace)
                    .await
                {
                    tracing::warn!(error = %e, tenant = %tenant.id, "deleting retired keys failed");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "listing tenants for key cleanup failed"),
    }
    activate_due_broker_keys(state).await;
    refresh_identity_providers(state, backoff).await;
    state.trim_rate_limiters();
}

/// Switches every broker tenant whose staged keys have been published long enough to them (see
/// `tessera_service::broker::tenants::activate_due_broker_keys`), dropping its cached entry so the new keys sign.
async fn activate_due_broker_keys(state: &AppState) {
    let tenants = match state.broker.store.list_broker_tenants().await {
        Ok(tenants) => tenants,
        Err(e) => {
            tracing::warn!(error = %e, "listing broker tenants for key activation failed");
            return;
        }
    };
    for tenant in tenants {
        match tessera_service::broker::tenants::activate_due_broker_keys(
            state.broker.store.as_ref(),
            &tenant.id,
            state.provider.clock.now(),
        )
        .await
        {
            Ok(true) => {
                tracing::info!(tenant = %tenant.id, "new broker signing keys are now signing");
                state.broker.cache.invalidate(&tenant.id);
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, tenant = %tenant.id, "activating broker keys failed")
            }
        }
    }
}

/// Fetches again the metadata and JWKS of the broker's identity providers whose documents are a day old; a
/// provider whose new documents fail keeps its old ones, and is tried again after a growing pause.
async fn refresh_identity_providers(state: &AppState, backoff: &mut RefreshBackoff) {
    match tessera_service::broker::providers::refresh_due_providers(
        state.broker.store.as_ref(),
        &state.broker.upstream,
        backoff,
        state.provider.clock.now(),
    )
    .await
    {
        Ok(report) => {
            if report.refreshed > 0 {
                // The sign-ins' cached providers hold the old documents.
                state.broker.cache.config.clear();
                tracing::info!(
                    providers = report.refreshed,
                    "identity provider metadata refreshed"
                );
            }
            for (tenant, provider, error) in report.failed {
                tracing::warn!(%tenant, %provider, %error, "refreshing an identity provider's metadata failed; keeping the cached documents");
            }
        }
        Err(e) => tracing::warn!(error = %e, "listing identity providers for refresh failed"),
    }
}

/// A future that completes on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled, so call it first thing: a signal that arrives during start-up still stops the server
/// gracefully.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {},
                () = wait(terminate) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down");
    }
}
