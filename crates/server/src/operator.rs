//! The operator commands (`tessera idp ...`, `tessera keys ...`): flags in, a `tessera_service` use case, and the
//! answer as human text or, with `--output json`, one JSON document with the stable keys of `docs/operator.md`.
//! Errors always go to stderr as text with a non-zero exit status.

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

use tessera_core::{ClientId, Clock, SystemClock, TenantId};
use tessera_oidc::keys::{MasterKey, SigningAlg};
use tessera_server::ServerError;
use tessera_server::app;
use tessera_server::config::{Config, StoreConfig};
use tessera_server::datadir::DataDir;
use tessera_service::clients::{self, ClientKind, ClientUpdate, LocalhostHttp, NewClient};
use tessera_service::keys::{self, Rotation};
use tessera_service::tenants::{self, NewTenant};
use tessera_store::{Client, Store, Tenant};

/// What every offline `tessera idp ...` command's help ends with: it works on the database, not a running server.
pub const OFFLINE_IDP: &str = "Offline: works on the database directly (the store and master key named by --config \
or --data-dir), without a running server, for bootstrap and recovery. Day-to-day administration goes through a \
running server's admin API: `tessera admin tenant ...` and `tessera admin client ...` (see `tessera admin --help`).";

/// What every offline `tessera keys ...` command's help ends with.
pub const OFFLINE_KEYS: &str = "Offline: works on the database directly (the store and master key named by \
--config or --data-dir), without a running server, for bootstrap and recovery. Day-to-day rotation goes through a \
running server's admin API: `tessera admin key rotate` (authenticator tenants) and `tessera admin broker-key rotate` \
(broker tenants).";

/// What `tessera store ...` help ends with.
pub const OFFLINE_STORE: &str = "Offline: works on the database directly, without a running server, for \
bootstrap and recovery; everything else is administered through a running server with `tessera admin`.";

/// How a command prints its answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Lines for people (the default).
    #[default]
    Text,
    /// One JSON document on stdout, with stable keys (docs/operator.md).
    Json,
}

/// Where an operator command finds the store and master key, and how it answers.
#[derive(Debug, Args)]
pub struct Target {
    /// The server's configuration file.
    #[arg(long, conflicts_with = "data_dir")]
    config: Option<PathBuf>,
    /// A data directory (SQLite + master key), as `tessera demo` uses.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// `text` (default) or `json` (stable keys, for scripts).
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Debug, Subcommand)]
pub enum IdpCommand {
    /// Tenants.
    #[command(subcommand)]
    #[command(after_help = OFFLINE_IDP)]
    Tenant(TenantCommand),
    /// OAuth / OpenID Connect clients.
    #[command(subcommand)]
    #[command(after_help = OFFLINE_IDP)]
    Client(ClientCommand),
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant with fresh signing keys.
    #[command(after_help = OFFLINE_IDP)]
    Create {
        /// The tenant id (path segment).
        #[arg(long)]
        id: String,
        /// The WebAuthn RP ID, e.g. `localhost` or `id.example.com`.
        #[arg(long)]
        rp_id: String,
        /// An allowed WebAuthn origin (repeatable), e.g. `http://localhost:8080`.
        #[arg(long = "origin", required = true)]
        origins: Vec<String>,
        /// Name shown to users.
        #[arg(long)]
        display_name: Option<String>,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        target: Target,
    },
    /// Change a tenant's display name, origins or authenticator policy (flags not given are kept).
    #[command(after_help = OFFLINE_IDP)]
    Update {
        /// The tenant id.
        #[arg(long)]
        id: String,
        /// Replace the allowed WebAuthn origins (repeatable).
        #[arg(long = "origin")]
        origins: Vec<String>,
        /// Name shown to users.
        #[arg(long)]
        display_name: Option<String>,
        /// Serve the tenant on its own address (`https://login.example.com`, one of its origins, within its RP
        /// ID): routed by `Host`, issuer `{public-url}/oidc`.
        #[arg(long, conflicts_with = "no_public_url")]
        public_url: Option<String>,
        /// Serve the tenant under the service's address again (`/{tenant}/...`).
        #[arg(long)]
        no_public_url: bool,
        /// Seconds a browser session may stay unused before it ends, or `default` (one hour).
        #[arg(long, value_name = "SECONDS|default", value_parser = parse_setting::<u64>)]
        session_idle_seconds: Option<Setting<u64>>,
        /// Seconds a browser session lasts at most, however busy, or `default` (the server's `security.session_ttl`).
        #[arg(long, value_name = "SECONDS|default", value_parser = parse_setting::<u64>)]
        session_lifetime_seconds: Option<Setting<u64>>,
        /// Whether sign-in hides whether an account exists (`true`, `false`, or `default`: on).
        #[arg(long, value_name = "true|false|default", value_parser = parse_setting::<bool>)]
        hide_account_existence: Option<Setting<bool>>,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        target: Target,
    },
    /// Print a tenant's settings and authenticator policy.
    #[command(after_help = OFFLINE_IDP)]
    Show {
        /// The tenant id.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        target: Target,
    },
    /// List tenants.
    #[command(after_help = OFFLINE_IDP)]
    List {
        #[command(flatten)]
        target: Target,
    },
}

/// A tenant setting's new value on the command line: a value, or `default` to return to the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting<T> {
    /// Set to this value.
    Value(T),
    /// Return to the default.
    Default,
}

impl<T> Setting<T> {
    /// The service layer's form: `Some(value)`, or `None` for the default.
    fn into_change(self) -> Option<T> {
        match self {
            Setting::Value(value) => Some(value),
            Setting::Default => None,
        }
    }
}

fn parse_setting<T: std::str::FromStr>(text: &str) -> Result<Setting<T>, String>
where
    T::Err: std::fmt::Display,
{
    if text.eq_ignore_ascii_case("default") {
        return Ok(Setting::Default);
    }
    text.parse()
        .map(Setting::Value)
        .map_err(|e| format!("{e} (or `default`)"))
}

/// A tenant's authenticator policy, as flags (`tessera_service::tenants::PolicyChange`).
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Require user verification (the default).
    #[arg(long, overrides_with = "no_require_uv")]
    require_uv: bool,
    /// Only prefer user verification.
    #[arg(long, overrides_with = "require_uv")]
    no_require_uv: bool,
    /// How much attestation a registration must carry.
    #[arg(long, value_enum)]
    attestation: Option<AttestationArg>,
    /// Only these authenticator models (AAGUID, repeatable; replaces the list; needs trusted attestation).
    #[arg(long = "aaguid-allow", value_parser = parse_aaguid)]
    aaguid_allow: Vec<tessera_webauthn::Aaguid>,
    /// Refuse these authenticator models (AAGUID, repeatable; replaces the list).
    #[arg(long = "aaguid-deny", value_parser = parse_aaguid)]
    aaguid_deny: Vec<tessera_webauthn::Aaguid>,
    /// Empty the AAGUID allow-list.
    #[arg(long, conflicts_with = "aaguid_allow")]
    clear_aaguid_allow: bool,
    /// Empty the AAGUID deny-list.
    #[arg(long, conflicts_with = "aaguid_deny")]
    clear_aaguid_deny: bool,
    /// Minimum FIDO certification level (L1, L1plus, L2, L2plus, L3, L3plus, certified; `none` removes it).
    #[arg(long)]
    min_certification_level: Option<String>,
    /// Synced (backup-eligible) passkeys.
    #[arg(long, value_enum)]
    synced_passkeys: Option<AllowDeny>,
    /// What a signature counter that went backwards does.
    #[arg(long, value_enum)]
    sign_count: Option<SignCountArg>,
    /// The legacy U2F AppID of credentials registered before WebAuthn (an empty value removes it).
    #[arg(long)]
    legacy_appid: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AttestationArg {
    /// Any response, `none` included.
    None,
    /// A self or certified attestation statement.
    Any,
    /// A statement chaining to a configured trust anchor or FIDO metadata root.
    Trusted,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AllowDeny {
    /// Allowed.
    Allow,
    /// Refused.
    Deny,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SignCountArg {
    /// Refuse the sign-in (the default).
    Reject,
    /// Accept it and log the signal.
    Report,
}

pub fn parse_aaguid(text: &str) -> Result<tessera_webauthn::Aaguid, String> {
    text.trim().parse().map_err(|e| format!("{e}"))
}

impl PolicyArgs {
    fn change(&self) -> Result<tenants::PolicyChange, ServerError> {
        use tessera_webauthn::{AttestationPolicy, SignCountPolicy, SyncedPasskeys};
        let minimum_certification_level = match self.min_certification_level.as_deref() {
            None => None,
            Some(text) if text.trim().eq_ignore_ascii_case("none") => Some(None),
            Some(text) => Some(Some(tenants::parse_certification_level(text)?)),
        };
        let list = |values: &[tessera_webauthn::Aaguid], clear: bool| {
            if clear {
                Some(Vec::new())
            } else if values.is_empty() {
                None
            } else {
                Some(values.to_vec())
            }
        };
        Ok(tenants::PolicyChange {
            require_user_verification: match (self.require_uv, self.no_require_uv) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
            attestation: self.attestation.map(|a| match a {
                AttestationArg::None => AttestationPolicy::None,
                AttestationArg::Any => AttestationPolicy::Any,
                AttestationArg::Trusted => AttestationPolicy::Trusted,
            }),
            aaguid_allow: list(&self.aaguid_allow, self.clear_aaguid_allow),
            aaguid_deny: list(&self.aaguid_deny, self.clear_aaguid_deny),
            minimum_certification_level,
            synced_passkeys: self.synced_passkeys.map(|s| match s {
                AllowDeny::Allow => SyncedPasskeys::Allow,
                AllowDeny::Deny => SyncedPasskeys::Refuse,
            }),
            sign_count: self.sign_count.map(|s| match s {
                SignCountArg::Reject => SignCountPolicy::RejectClone,
                SignCountArg::Report => SignCountPolicy::ReportOnly,
            }),
            legacy_appid: self
                .legacy_appid
                .as_ref()
                .map(|a| Some(a.trim().to_owned()).filter(|a| !a.is_empty())),
            algorithms: None,
        })
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AuthMethod {
    /// HTTP Basic (default).
    Basic,
    /// Secret in the form body.
    Post,
}

/// Redirect URI flags shared by `client create` and `client update`.
#[derive(Debug, Args)]
pub struct RedirectArgs {
    /// A redirect URI (repeatable), compared exactly: `https`, `http` on 127.0.0.1 or [::1], or a private-use
    /// scheme (`com.example.app:/cb`).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// A post-logout redirect URI (repeatable).
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// Also accept `http://localhost` URIs (RFC 8252 §8.3 advises the loopback IP; for development clients).
    #[arg(long)]
    allow_localhost_http: bool,
}

impl RedirectArgs {
    fn localhost(&self) -> LocalhostHttp {
        if self.allow_localhost_http {
            LocalhostHttp::InsecureAllow
        } else {
            LocalhostHttp::Refuse
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its id and (once) its secret.
    #[command(after_help = OFFLINE_IDP)]
    Create {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        redirects: RedirectArgs,
        /// A public client (no secret; PKCE required).
        #[arg(long)]
        public: bool,
        /// ID token signing algorithm.
        #[arg(long, default_value = "RS256", value_parser = ["RS256", "ES256"])]
        id_token_alg: String,
        /// Client authentication method for a confidential client.
        #[arg(long, value_enum, default_value = "basic")]
        auth_method: AuthMethod,
        /// Name shown to users (default: the host of the first redirect URI, e.g. `app.example.com`).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// List a tenant's clients.
    #[command(after_help = OFFLINE_IDP)]
    List {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        target: Target,
    },
    /// Print a client's registration (never its secret, which only its hash is kept of).
    #[command(after_help = OFFLINE_IDP)]
    Show {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The client id.
        #[arg(long = "client-id", allow_hyphen_values = true)]
        client_id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Change a client's name or redirect URIs (each given list replaces the stored one; the rest is kept).
    #[command(after_help = OFFLINE_IDP)]
    Update {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The client id.
        #[arg(long = "client-id", allow_hyphen_values = true)]
        client_id: String,
        #[command(flatten)]
        redirects: RedirectArgs,
        /// Remove every post-logout redirect URI.
        #[arg(long, conflicts_with = "post_logout_redirect_uris")]
        clear_post_logout_redirect_uris: bool,
        /// Name shown to users.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Delete a client and what it was issued (codes, access and refresh tokens).
    #[command(after_help = OFFLINE_IDP)]
    Delete {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The client id.
        #[arg(long = "client-id", allow_hyphen_values = true)]
        client_id: String,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Start signing with new keys; old keys stay published until their tokens expire. Safe while a server runs on
    /// the same store: it publishes the new keys within a minute (its tenant cache) and signs with them on time.
    #[command(after_help = OFFLINE_KEYS)]
    Rotate {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// Sign with the new keys at once (suspected compromise) instead of publishing them first.
        #[arg(long)]
        immediately: bool,
        #[command(flatten)]
        target: Target,
    },
}

/// Store administration.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Start a new, empty SQLite store where one was and its database is missing or was replaced (restore from a
    /// backup first if you can: every user, passkey and token of the old store is gone). A store that is in place is
    /// opened and left as it is. PostgreSQL needs no initialising: its schema is created on first start.
    #[command(after_help = OFFLINE_STORE)]
    Init {
        #[command(flatten)]
        target: Target,
    },
}

/// Runs a `store` command.
pub async fn run_store(command: StoreCommand) -> Result<(), ServerError> {
    let StoreCommand::Init { target } = command;
    let path = match target_store(&target)?.0 {
        StoreConfig::Sqlite { path } => path,
        StoreConfig::Postgres { .. } => {
            return Err(ServerError::Invalid {
                key: "store.kind",
                message: "`tessera store init` is for SQLite stores; a PostgreSQL store is created on first start"
                    .into(),
            });
        }
    };
    let existed = path.exists();
    tessera_store_sqlite::SqliteStore::open_initialising(&path).await?;
    let shown = json!({
        "path": path.display().to_string(),
        "created": !existed,
    });
    print(target.output, &shown, || {
        if existed {
            format!(
                "the store at {} is in place: nothing changed",
                path.display()
            )
        } else {
            format!(
                "initialised a new, empty store at {} (servers may start on it now)",
                path.display()
            )
        }
    })
}

/// Runs an `idp` command.
pub async fn run_idp(command: IdpCommand) -> Result<(), ServerError> {
    match command {
        IdpCommand::Tenant(command) => run_tenant(command).await,
        IdpCommand::Client(command) => run_client(command).await,
    }
}

async fn run_tenant(command: TenantCommand) -> Result<(), ServerError> {
    match command {
        TenantCommand::Create {
            id,
            rp_id,
            origins,
            display_name,
            policy,
            target,
        } => {
            let change = policy.change()?;
            let (store, master) = open_target(&target).await?;
            let id = parse_tenant(&id)?;
            let mut chosen = tessera_webauthn::AuthenticatorPolicy::default();
            change.apply(&mut chosen);
            let tenant = tenants::create_tenant_with_policy(
                store.as_ref(),
                &master,
                NewTenant::parse(id, &rp_id, &origins, display_name)?,
                (!change.is_empty()).then_some(&chosen),
                SystemClock.now(),
            )
            .await?;
            let shown = tenant_json(&tenant)?;
            print(target.output, &shown, || {
                format!(
                    "created tenant {} (rp id {}, origins {})",
                    tenant.id,
                    tenant.rp_id,
                    tenant.origins.join(" ")
                )
            })
        }
        TenantCommand::Update {
            id,
            origins,
            display_name,
            public_url,
            no_public_url,
            session_idle_seconds,
            session_lifetime_seconds,
            hide_account_existence,
            policy,
            target,
        } => {
            let update = tenants::TenantUpdate {
                display_name,
                origins: (!origins.is_empty()).then_some(origins),
                policy: policy.change()?,
                settings: tenants::SettingsChange {
                    public_url: match (public_url, no_public_url) {
                        (Some(url), _) => Some(Some(url)),
                        (None, true) => Some(None),
                        (None, false) => None,
                    },
                    session_idle_seconds: session_idle_seconds.map(Setting::into_change),
                    session_lifetime_seconds: session_lifetime_seconds.map(Setting::into_change),
                    hide_account_existence: hide_account_existence.map(Setting::into_change),
                },
            };
            if update == tenants::TenantUpdate::default() {
                return Err(nothing_to_change());
            }
            let (store, _) = open_target(&target).await?;
            let tenant =
                tenants::update_tenant(store.as_ref(), &parse_tenant(&id)?, &update).await?;
            let shown = tenant_json(&tenant)?;
            print(target.output, &shown, || {
                format!(
                    "updated tenant {} (running servers apply it within a minute)\n{}",
                    tenant.id,
                    tenant_text(&shown)
                )
            })
        }
        TenantCommand::Show { id, target } => {
            let (store, _) = open_target(&target).await?;
            let tenant = store
                .get_tenant(&parse_tenant(&id)?)
                .await?
                .ok_or(tessera_service::ServiceError::TenantNotFound)?;
            let shown = tenant_json(&tenant)?;
            print(target.output, &shown, || tenant_text(&shown))
        }
        TenantCommand::List { target } => {
            let (store, _) = open_target(&target).await?;
            let tenants = store.list_tenants().await?;
            let shown = tenants
                .iter()
                .map(tenant_json)
                .collect::<Result<Vec<_>, _>>()?;
            print(target.output, &Value::Array(shown), || {
                table(tenants.iter().map(|t| {
                    vec![
                        t.id.to_string(),
                        t.rp_id.clone(),
                        t.origins.join(","),
                        t.display_name.clone(),
                    ]
                }))
            })
        }
    }
}

async fn run_client(command: ClientCommand) -> Result<(), ServerError> {
    match command {
        ClientCommand::Create {
            tenant,
            redirects,
            public,
            id_token_alg,
            auth_method,
            name,
            target,
        } => {
            if redirects.redirect_uris.is_empty() {
                return Err(ServerError::Invalid {
                    key: "redirect-uri",
                    message: format!(
                        "give at least one --redirect-uri; {}",
                        clients::REDIRECT_URI_RULES
                    ),
                });
            }
            let kind = match (public, auth_method) {
                (true, _) => ClientKind::Public,
                (false, AuthMethod::Basic) => ClientKind::ConfidentialBasic,
                (false, AuthMethod::Post) => ClientKind::ConfidentialPost,
            };
            let id_token_alg =
                SigningAlg::parse(&id_token_alg).ok_or_else(|| ServerError::Invalid {
                    key: "id-token-alg",
                    message: format!("{id_token_alg:?} is not RS256 or ES256"),
                })?;
            let new = NewClient {
                tenant: parse_tenant(&tenant)?,
                redirect_uris: clients::parse_redirect_uris(
                    &redirects.redirect_uris,
                    redirects.localhost(),
                )?,
                post_logout_redirect_uris: clients::parse_redirect_uris(
                    &redirects.post_logout_redirect_uris,
                    redirects.localhost(),
                )?,
                kind,
                id_token_alg,
                name,
            };
            let (store, _) = open_target(&target).await?;
            let (client, secret) =
                clients::create_client(store.as_ref(), new, SystemClock.now()).await?;
            let mut shown = client_json(&client);
            shown["client_secret"] = secret
                .as_ref()
                .map_or(Value::Null, |s| Value::String(s.expose().to_owned()));
            print(target.output, &shown, || {
                let mut text = format!(
                    "client_id: {}\nname: {}",
                    client.client_id, client.display_name
                );
                if let Some(secret) = &secret {
                    text.push_str(&format!(
                        "\nclient_secret: {}\n(the secret is shown only now; Tessera keeps only its hash)",
                        secret.expose()
                    ));
                }
                text
            })
        }
        ClientCommand::List { tenant, target } => {
            let (store, _) = open_target(&target).await?;
            let listed = clients::list_clients(store.as_ref(), &parse_tenant(&tenant)?).await?;
            let shown = Value::Array(listed.iter().map(client_json).collect());
            print(target.output, &shown, || {
                table(listed.iter().map(|c| {
                    vec![
                        c.client_id.to_string(),
                        c.token_endpoint_auth_method.clone(),
                        c.redirect_uris.join(","),
                        c.display_name.clone(),
                    ]
                }))
            })
        }
        ClientCommand::Show {
            tenant,
            client_id,
            target,
        } => {
            let (store, _) = open_target(&target).await?;
            let client = clients::get_client(
                store.as_ref(),
                &parse_tenant(&tenant)?,
                &parse_client(&client_id)?,
            )
            .await?;
            let shown = client_json(&client);
            print(target.output, &shown, || client_text(&client))
        }
        ClientCommand::Update {
            tenant,
            client_id,
            redirects,
            clear_post_logout_redirect_uris,
            name,
            target,
        } => {
            let localhost = redirects.localhost();
            let update = ClientUpdate {
                name,
                redirect_uris: match redirects.redirect_uris.as_slice() {
                    [] => None,
                    uris => Some(clients::parse_redirect_uris(uris, localhost)?),
                },
                post_logout_redirect_uris: match redirects.post_logout_redirect_uris.as_slice() {
                    [] if clear_post_logout_redirect_uris => Some(Vec::new()),
                    [] => None,
                    uris => Some(clients::parse_redirect_uris(uris, localhost)?),
                },
            };
            if update.is_empty() {
                return Err(nothing_to_change());
            }
            let (store, _) = open_target(&target).await?;
            let client = clients::update_client(
                store.as_ref(),
                &parse_tenant(&tenant)?,
                &parse_client(&client_id)?,
                update,
                None,
            )
            .await?;
            let shown = client_json(&client);
            print(target.output, &shown, || {
                format!(
                    "updated client {} (in effect at once)\n{}",
                    client.client_id,
                    client_text(&client)
                )
            })
        }
        ClientCommand::Delete {
            tenant,
            client_id,
            target,
        } => {
            let (store, _) = open_target(&target).await?;
            let tenant = parse_tenant(&tenant)?;
            let id = parse_client(&client_id)?;
            clients::delete_client(store.as_ref(), &tenant, &id, None).await?;
            let shown =
                json!({ "tenant": tenant.as_str(), "client_id": id.as_str(), "deleted": true });
            print(target.output, &shown, || {
                format!(
                    "deleted client {id} of tenant {tenant}, with its codes and tokens (its users' sessions \
                     and passkeys stay)"
                )
            })
        }
    }
}

/// Runs a `keys` command.
pub async fn run_keys(command: KeysCommand) -> Result<(), ServerError> {
    let KeysCommand::Rotate {
        tenant,
        immediately,
        target,
    } = command;
    let (store, master) = open_target(&target).await?;
    let tenant = parse_tenant(&tenant)?;
    let rotation = if immediately {
        Rotation::Immediate
    } else {
        Rotation::Staged
    };
    let now = SystemClock.now();
    let kids = keys::rotate_keys(store.as_ref(), &master, &tenant, rotation, now).await?;
    let signs_from = match rotation {
        Rotation::Staged => now + keys::KEY_PUBLICATION_DELAY,
        Rotation::Immediate => now,
    };
    let shown = json!({
        "tenant": tenant.as_str(),
        "kids": kids,
        "rotation": if immediately { "immediate" } else { "staged" },
        "signs_from": rfc3339(signs_from),
    });
    print(target.output, &shown, || {
        let when = match rotation {
            Rotation::Staged => format!(
                "they are published now and start signing in about {} minutes; the old keys stay published \
                 until their tokens expire",
                keys::KEY_PUBLICATION_DELAY.whole_minutes() + 1
            ),
            Rotation::Immediate => {
                "running servers sign with them within a minute; the old keys stay \
                                    published until their tokens expire"
                    .to_owned()
            }
        };
        format!("new signing keys for {tenant}: {}\n{when}", kids.join(", "))
    })
}

fn nothing_to_change() -> ServerError {
    ServerError::Invalid {
        key: "update",
        message: "nothing to change: give at least one setting (see --help)".into(),
    }
}

/// Prints `json` (pretty, one document) or the text `human` makes.
fn print(output: Output, json: &Value, human: impl FnOnce() -> String) -> Result<(), ServerError> {
    match output {
        Output::Json => {
            let text = serde_json::to_string_pretty(json)
                .map_err(|e| ServerError::Parse(format!("output: {e}")))?;
            println!("{text}");
        }
        Output::Text => println!("{}", human()),
    }
    Ok(())
}

/// Rows joined by tabs, one line each (nothing for no rows).
fn table(rows: impl Iterator<Item = Vec<String>>) -> String {
    rows.map(|row| row.join("\t"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// A tenant's settings and policy (as stored, defaults filled in): keys `id`, `display_name`, `rp_id`, `origins`,
/// `policy`.
fn tenant_json(tenant: &Tenant) -> Result<Value, ServerError> {
    let policy = tenants::tenant_policy(tenant)?;
    let settings = tenants::tenant_settings(tenant)?;
    Ok(json!({
        "id": tenant.id.to_string(),
        "display_name": tenant.display_name,
        "rp_id": tenant.rp_id,
        "origins": tenant.origins,
        "public_url": settings.public_url,
        "settings": {
            "session_idle_seconds": settings.session_idle().whole_seconds(),
            "session_lifetime_seconds": settings.session_lifetime_seconds,
            "hide_account_existence": settings.hides_account_existence(),
        },
        "policy": policy,
    }))
}

fn tenant_text(shown: &Value) -> String {
    let field = |key: &str| shown[key].as_str().unwrap_or_default().to_owned();
    let origins = shown["origins"]
        .as_array()
        .map(|o| {
            o.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let address = shown["public_url"]
        .as_str()
        .map_or_else(|| "(the service's, at /{tenant})".to_owned(), str::to_owned);
    let settings = &shown["settings"];
    let lifetime = settings["session_lifetime_seconds"].as_u64().map_or_else(
        || "the server's session_ttl".to_owned(),
        |s| format!("{s} s"),
    );
    let mut text = format!(
        "id: {}\ndisplay name: {}\nrp id: {}\norigins: {origins}\naddress: {address}\n\
         session idle timeout: {} s\nsession lifetime: {lifetime}\nhide account existence: {}\npolicy:",
        field("id"),
        field("display_name"),
        field("rp_id"),
        settings["session_idle_seconds"],
        settings["hide_account_existence"],
    );
    if let Some(policy) = shown["policy"].as_object() {
        for (key, value) in policy {
            let value = match value {
                Value::String(s) => s.clone(),
                Value::Null => "-".into(),
                other => other.to_string(),
            };
            text.push_str(&format!("\n  {key}: {value}"));
        }
    }
    text
}

/// A client's registration: keys `tenant`, `client_id`, `name`, `public`, `token_endpoint_auth_method`,
/// `id_token_signed_response_alg`, `redirect_uris`, `post_logout_redirect_uris`, `allowed_scopes`, `created_at`.
fn client_json(client: &Client) -> Value {
    json!({
        "tenant": client.tenant.as_str(),
        "client_id": client.client_id.as_str(),
        "name": client.display_name,
        "public": client.secret_hash.is_none(),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "allowed_scopes": client.allowed_scopes,
        "created_at": rfc3339(client.created_at),
    })
}

fn client_text(client: &Client) -> String {
    let list = |uris: &[String]| {
        if uris.is_empty() {
            "-".to_owned()
        } else {
            uris.join(" ")
        }
    };
    format!(
        "client_id: {}\ntenant: {}\nname: {}\nkind: {}\nauth method: {}\nid token alg: {}\nredirect uris: {}\n\
         post-logout redirect uris: {}\nscopes: {}\ncreated: {}",
        client.client_id,
        client.tenant,
        client.display_name,
        if client.secret_hash.is_none() {
            "public"
        } else {
            "confidential"
        },
        client.token_endpoint_auth_method,
        client.id_token_signed_response_alg,
        list(&client.redirect_uris),
        list(&client.post_logout_redirect_uris),
        client.allowed_scopes.join(" "),
        rfc3339(client.created_at),
    )
}

/// The store and master key a command's flags name (`--config`, `--data-dir`, else the default configuration).
fn target_store(target: &Target) -> Result<(StoreConfig, [u8; 32]), ServerError> {
    Ok(match (&target.config, &target.data_dir) {
        (Some(file), _) => {
            let config = Config::load(Some(file))?;
            (config.store, config.master_key)
        }
        (None, Some(dir)) => {
            let dir = DataDir::open(dir)?;
            (
                StoreConfig::Sqlite {
                    path: dir.database(),
                },
                dir.master_key()?,
            )
        }
        (None, None) => {
            let config = Config::load(None)?;
            (config.store, config.master_key)
        }
    })
}

async fn open_target(target: &Target) -> Result<(Arc<dyn Store>, MasterKey), ServerError> {
    let (store_config, key) = target_store(target)?;
    let store = app::open_store(&store_config).await?;
    let master = MasterKey::from_bytes(&key).map_err(|e| ServerError::Invalid {
        key: "keys.master_key",
        message: e.to_string(),
    })?;
    Ok((store, master))
}

fn parse_tenant(id: &str) -> Result<TenantId, ServerError> {
    TenantId::parse(id).map_err(|e| ServerError::Invalid {
        key: "tenant",
        message: e.to_string(),
    })
}

fn parse_client(id: &str) -> Result<ClientId, ServerError> {
    ClientId::parse(id).map_err(|e| ServerError::Invalid {
        key: "client-id",
        message: e.to_string(),
    })
}
