//! `tessera admin ...`: the admin REST API from the command line. It talks to the API only (never to a database),
//! with the API's nouns and verbs; the URL and token come from a profile (`tessera admin login`), or from
//! `--url` and `TESSERA_ADMIN_TOKEN`.
//!
//! Exit codes: 0 done; 1 unexpected; 2 usage or input; 3 not found; 4 not signed in or not allowed; 5 conflict
//! (exists, changed meanwhile: run again); 6 a value the API refused (the field is named); 7 the server did not
//! answer or failed.

pub mod client;
pub mod filters;
pub mod output;

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{Value, json};

use client::{Api, CliError, Profile, ProfileFile, profile_path};
use output::Format;

/// What each exit code of `tessera admin` means (shown after its `--help`).
const EXIT_CODES: &str = "Exit codes: 0 done; 1 unexpected failure; 2 usage or input (a bad flag, a secret missing on \
stdin); 3 not found; 4 not signed in or not allowed; 5 conflict (it exists, or it changed meanwhile: read and try \
again); 6 a value the API refused (the field is named); 7 the server did not answer or failed (retry later).";

/// `tessera admin`: global options and the command.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct AdminArgs {
    /// The profile to use (in the profile file; `default` unless set).
    #[arg(
        long,
        global = true,
        env = "TESSERA_ADMIN_PROFILE",
        default_value = "default"
    )]
    profile: String,
    /// The server's URL, instead of the profile's (the token then comes from `TESSERA_ADMIN_TOKEN`).
    #[arg(long, global = true, env = "TESSERA_ADMIN_URL")]
    url: Option<String>,
    /// Also trust the CA certificates in this PEM file (a server with a private certificate).
    #[arg(long, global = true, env = "TESSERA_ADMIN_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// How to print results.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Save a server's URL and an API token in a profile (the file is readable by you only).
    Login {
        /// The server's URL (`https://id.example.com`).
        #[arg(long)]
        url: String,
        /// Read the API token (`tsr_...`) from stdin.
        #[arg(long, conflicts_with = "bootstrap_stdin")]
        token_stdin: bool,
        /// Read the first start's one-time bootstrap secret (`tsb_...`) from stdin and exchange it for the first
        /// global-admin token.
        #[arg(long)]
        bootstrap_stdin: bool,
    },
    /// Forget a profile.
    Logout,
    /// Print shell completions for `tessera` (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Call any operation of the API: `tessera admin api GET /tenants` (`--data-stdin` for a JSON body).
    Api {
        /// GET, POST, PUT, PATCH or DELETE.
        method: String,
        /// The path under `/admin/api/v1`.
        path: String,
        /// Read a JSON body from stdin.
        #[arg(long)]
        data_stdin: bool,
        /// The `ETag` the change is based on.
        #[arg(long)]
        if_match: Option<String>,
    },
    /// Authenticator-service tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Authenticator-service OAuth clients (the broker's client at the authenticator service, in the tutorial).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Broker tenants.
    #[command(subcommand, name = "broker-tenant")]
    BrokerTenant(BrokerTenantCommand),
    /// Broker applications (app registrations with reply URLs).
    #[command(subcommand, name = "app")]
    App(AppCommand),
    /// Identity providers of a broker tenant ("Identity providers" → "Add" → "OpenID Connect").
    #[command(subcommand)]
    Idp(IdpCommand),
    /// User flows of a broker tenant ("User flows" → "New user flow" → "Sign up and sign in").
    #[command(subcommand)]
    Userflow(UserflowCommand),
    /// Directory users of a broker tenant.
    #[command(subcommand)]
    User(UserCommand),
    /// Accounts of an authenticator-service tenant (the people who sign in there with passkeys).
    #[command(subcommand)]
    Account(AccountCommand),
    /// Passkeys of an authenticator-service account.
    #[command(subcommand)]
    Passkey(PasskeyCommand),
    /// Signing keys of an authenticator-service tenant.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Signing keys of a broker tenant (they sign its applications' tokens).
    #[command(subcommand, name = "broker-key")]
    BrokerKey(BrokerKeyCommand),
    /// Invitations of portal administrators (global admins only).
    #[command(subcommand)]
    Invitation(InvitationCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The loaded FIDO metadata: the authenticator models the service knows (read only).
    #[command(subcommand, name = "fido-metadata")]
    FidoMetadata(FidoMetadataCommand),
}

/// Paging of a list.
#[derive(Debug, Args)]
struct Paging {
    /// At most this many per page.
    #[arg(long)]
    limit: Option<u32>,
    /// Every page, following the cursor.
    #[arg(long)]
    all: bool,
}

impl Paging {
    fn query(&self) -> Vec<(String, String)> {
        self.limit
            .map(|l| vec![("limit".to_owned(), l.to_string())])
            .unwrap_or_default()
    }
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// List tenants.
    List {
        #[command(flatten)]
        paging: Paging,
        #[command(flatten)]
        filter: filters::NameFilter,
    },
    /// Show a tenant.
    Show {
        /// The tenant id.
        id: String,
    },
    /// Create a tenant with fresh signing keys.
    Create {
        /// The tenant id (path segment).
        #[arg(long)]
        id: String,
        /// The WebAuthn RP ID.
        #[arg(long)]
        rp_id: String,
        /// An allowed WebAuthn origin (repeatable).
        #[arg(long = "origin", required = true)]
        origins: Vec<String>,
        /// Name shown to users.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Change a tenant's display name or origins.
    Update {
        /// The tenant id.
        id: String,
        /// Name shown to users.
        #[arg(long)]
        display_name: Option<String>,
        /// Replace the allowed origins (repeatable).
        #[arg(long = "origin")]
        origins: Vec<String>,
    },
    /// Delete an empty tenant (refused while it has clients or users, unless `--force`).
    Delete {
        /// The tenant id.
        id: String,
        /// Delete it with all its clients, users, passkeys, keys, sessions and tokens.
        #[arg(long)]
        force: bool,
    },
    /// A tenant's authenticator policy and session settings.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Show a tenant's authenticator policy.
    Show {
        /// The tenant id.
        id: String,
    },
    /// Change a tenant's authenticator policy and session settings (checked by the server as a whole; given
    /// lists replace the stored ones).
    Set(Box<PolicySet>),
}

/// `tenant policy set`: each flag given changes one setting.
#[derive(Debug, Args)]
struct PolicySet {
    /// The tenant id.
    id: String,
    /// User verification: `required` (passwordless) or `preferred`.
    #[arg(long, value_parser = ["required", "preferred"])]
    user_verification: Option<String>,
    /// Attestation a new passkey must carry: `none`, `any` or `trusted`.
    #[arg(long, value_parser = ["none", "any", "trusted"])]
    attestation: Option<String>,
    /// Only this authenticator model (AAGUID; repeatable; replaces the list).
    #[arg(long = "aaguid-allow")]
    aaguid_allow: Vec<String>,
    /// Empty the allow-list (every model may register).
    #[arg(long, conflicts_with = "aaguid_allow")]
    clear_aaguid_allow: bool,
    /// Refuse this authenticator model (AAGUID; repeatable; replaces the list).
    #[arg(long = "aaguid-deny")]
    aaguid_deny: Vec<String>,
    /// Empty the deny-list.
    #[arg(long, conflicts_with = "aaguid_deny")]
    clear_aaguid_deny: bool,
    /// Minimum FIDO certification level (L1, L1plus, L2, L2plus, L3, L3plus, certified; `none` removes it).
    #[arg(long)]
    min_certification_level: Option<String>,
    /// Synced passkeys: `allow` or `refuse`.
    #[arg(long, value_parser = ["allow", "refuse"])]
    synced_passkeys: Option<String>,
    /// A signature counter that went backwards: `reject-clone` or `report-only`.
    #[arg(long, value_parser = ["reject-clone", "report-only"])]
    sign_count: Option<String>,
    /// A COSE algorithm accepted for new passkeys (`-7` ES256, `-8` EdDSA, `-257` RS256; repeatable; replaces
    /// the list).
    #[arg(long = "algorithm", allow_hyphen_values = true)]
    algorithms: Vec<i64>,
    /// The legacy U2F AppID (an empty value removes it).
    #[arg(long)]
    legacy_appid: Option<String>,
    /// Seconds a sign-in may stay unused (`default`: 3600).
    #[arg(long)]
    session_idle_seconds: Option<String>,
    /// Seconds a sign-in lasts at most (`default`: the server's).
    #[arg(long)]
    session_lifetime_seconds: Option<String>,
    /// Whether sign-in hides whether an account exists (`true`, `false`, `default`: true).
    #[arg(long, value_parser = ["true", "false", "default"])]
    hide_account_existence: Option<String>,
}

impl PolicySet {
    /// The policy patch (`PATCH /tenants/{id}/policy`), empty when no policy flag is given.
    fn policy(&self) -> serde_json::Map<String, Value> {
        let mut patch = serde_json::Map::new();
        if let Some(uv) = &self.user_verification {
            patch.insert("user_verification".into(), json!(uv));
        }
        if let Some(attestation) = &self.attestation {
            patch.insert("attestation".into(), json!(attestation));
        }
        if self.clear_aaguid_allow || !self.aaguid_allow.is_empty() {
            patch.insert("aaguid_allow".into(), json!(self.aaguid_allow));
        }
        if self.clear_aaguid_deny || !self.aaguid_deny.is_empty() {
            patch.insert("aaguid_deny".into(), json!(self.aaguid_deny));
        }
        if let Some(level) = &self.min_certification_level {
            let value = if level.trim().eq_ignore_ascii_case("none") {
                Value::Null
            } else {
                json!(level)
            };
            patch.insert("minimum_certification_level".into(), value);
        }
        if let Some(synced) = &self.synced_passkeys {
            patch.insert("synced_passkeys".into(), json!(synced));
        }
        if let Some(rule) = &self.sign_count {
            patch.insert("sign_count".into(), json!(rule.replace('-', "_")));
        }
        if !self.algorithms.is_empty() {
            patch.insert("algorithms".into(), json!(self.algorithms));
        }
        if let Some(appid) = &self.legacy_appid {
            let value = if appid.trim().is_empty() {
                Value::Null
            } else {
                json!(appid)
            };
            patch.insert("legacy_appid".into(), value);
        }
        patch
    }

    /// The settings patch (`settings` of `PATCH /tenants/{id}`), empty when no session flag is given.
    fn settings(&self) -> Result<serde_json::Map<String, Value>, CliError> {
        let mut settings = serde_json::Map::new();
        for (name, value) in [
            ("session_idle_seconds", &self.session_idle_seconds),
            ("session_lifetime_seconds", &self.session_lifetime_seconds),
        ] {
            if let Some(text) = value {
                let value = if text.eq_ignore_ascii_case("default") {
                    Value::Null
                } else {
                    json!(text.parse::<u64>().map_err(|_| CliError::Usage(format!(
                        "--{}: a number of seconds or `default`",
                        name.replace('_', "-")
                    )))?)
                };
                settings.insert(name.into(), value);
            }
        }
        if let Some(hide) = &self.hide_account_existence {
            let value = match hide.as_str() {
                "default" => Value::Null,
                other => json!(other == "true"),
            };
            settings.insert("hide_account_existence".into(), value);
        }
        Ok(settings)
    }
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// List a tenant's clients.
    List {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        paging: Paging,
        #[command(flatten)]
        filter: filters::ClientFilter,
    },
    /// Show a client.
    Show {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The client id.
        id: String,
    },
    /// Register a client (a confidential client's secret is printed once).
    Create {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// A redirect URI (repeatable; exact match).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Name shown to users.
        #[arg(long)]
        name: Option<String>,
        /// A public client (no secret; PKCE).
        #[arg(long)]
        public: bool,
    },
    /// Change a client's name or redirect URIs (each list given replaces the stored one; the rest is kept).
    Update {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The client id.
        id: String,
        /// Name shown to users.
        #[arg(long)]
        name: Option<String>,
        /// A redirect URI (repeatable; replaces the list).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A post-logout redirect URI (repeatable; replaces the list).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// Remove every post-logout redirect URI.
        #[arg(long, conflicts_with = "post_logout_redirect_uris")]
        clear_post_logout_redirect_uris: bool,
    },
    /// Make a new client secret (printed once; the old one stops working at once).
    Secret {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The client id.
        id: String,
    },
    /// Delete a client.
    Delete {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The client id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum BrokerTenantCommand {
    /// List broker tenants.
    List {
        #[command(flatten)]
        paging: Paging,
        #[command(flatten)]
        filter: filters::NameFilter,
    },
    /// Show a broker tenant.
    Show {
        /// The tenant id.
        id: String,
    },
    /// Create a broker tenant with fresh signing keys.
    Create {
        /// The tenant id (`contoso`).
        #[arg(long)]
        id: String,
        /// Name shown to users.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Change a broker tenant's display name.
    Update {
        /// The tenant id.
        id: String,
        /// Name shown to users.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Delete an empty broker tenant (refused while it has applications, identity providers, user flows or
    /// directory users, unless `--force`).
    Delete {
        /// The tenant id.
        id: String,
        /// Delete it with everything it holds, keys, sessions and tokens included.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BrokerKeyCommand {
    /// List a broker tenant's signing keys.
    List {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        filter: filters::KeyFilter,
    },
    /// Start signing with new keys (published first unless `--immediately`); the old ones are retired when the new
    /// ones sign and stay published for a day.
    Rotate {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// Sign with the new keys at once (suspected compromise).
        #[arg(long, visible_alias = "immediate")]
        immediately: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AppCommand {
    /// List a broker tenant's applications.
    List {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        paging: Paging,
        #[command(flatten)]
        filter: filters::ClientFilter,
    },
    /// Show an application.
    Show {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The client id.
        id: String,
    },
    /// Register an application (a confidential one's secret is printed once).
    Create {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// A reply URL (repeatable; exact match).
        #[arg(long = "reply-url", required = true)]
        reply_urls: Vec<String>,
        /// A public client (single-page or native app: no secret, PKCE).
        #[arg(long)]
        public: bool,
    },
    /// Replace an application's reply URLs (and, if given, its name).
    Update {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The client id.
        id: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// A reply URL (repeatable; replaces the list).
        #[arg(long = "reply-url")]
        reply_urls: Vec<String>,
    },
    /// Make a new client secret (printed once; the old one stops working).
    Secret {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The client id.
        id: String,
    },
    /// Delete an application.
    Delete {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The client id.
        id: String,
    },
}

/// How the provider answers the broker.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ResponseMode {
    /// An auto-submitted form (the tutorial's choice).
    #[value(name = "form_post", alias = "form-post")]
    FormPost,
    /// The query string.
    Query,
}

/// The only response type: the authorization code flow.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ResponseType {
    /// `code`.
    Code,
}

/// Where each profile field comes from (claims of the provider's ID token or userinfo).
#[derive(Debug, Args)]
struct ClaimArgs {
    /// The user id claim (default `sub`).
    #[arg(long)]
    user_id: Option<String>,
    /// The display name claim (default `name`).
    #[arg(long)]
    display_name: Option<String>,
    /// The given name claim (default `given_name`).
    #[arg(long)]
    given_name: Option<String>,
    /// The surname claim (default `family_name`).
    #[arg(long)]
    surname: Option<String>,
    /// The email claim (default `email`).
    #[arg(long)]
    email: Option<String>,
}

impl ClaimArgs {
    fn mapping(&self, base: &Value) -> Value {
        let pick = |given: &Option<String>, key: &str, default: &str| {
            given
                .clone()
                .map(Value::String)
                .or_else(|| base.get(key).cloned().filter(|v| !v.is_null()))
                .unwrap_or_else(|| Value::String(default.into()))
        };
        json!({
            "user_id": pick(&self.user_id, "user_id", "sub"),
            "display_name": pick(&self.display_name, "display_name", "name"),
            "given_name": pick(&self.given_name, "given_name", "given_name"),
            "surname": pick(&self.surname, "surname", "family_name"),
            "email": pick(&self.email, "email", "email"),
        })
    }
}

#[derive(Debug, Subcommand)]
enum IdpCommand {
    /// List a broker tenant's identity providers.
    List {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        paging: Paging,
        #[command(flatten)]
        filter: filters::NameFilter,
    },
    /// Show an identity provider (never its secret).
    Show {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The provider's id.
        id: String,
    },
    /// Add an OpenID Connect identity provider by its metadata URL (fetched and checked now).
    Create {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// Display name ("Nok Nok Authentication Provider").
        #[arg(long)]
        name: String,
        /// Its id within the tenant (default: from the name).
        #[arg(long)]
        id: Option<String>,
        /// The provider's discovery document URL.
        #[arg(long)]
        metadata_url: String,
        /// The client id the provider issued to the broker.
        #[arg(long)]
        client_id: String,
        /// Read the client secret from stdin (never a command-line argument: it would show in `ps`).
        #[arg(long)]
        client_secret_stdin: bool,
        /// Scope values, space-separated.
        #[arg(long, default_value = "openid profile email")]
        scope: String,
        /// The response type.
        #[arg(long, value_enum, default_value_t = ResponseType::Code)]
        response_type: ResponseType,
        /// How the provider answers.
        #[arg(long, value_enum, default_value_t = ResponseMode::FormPost)]
        response_mode: ResponseMode,
        #[command(flatten)]
        claims: ClaimArgs,
    },
    /// Change an identity provider's connection (its metadata is fetched and checked again); flags not given are
    /// kept, and so is the stored client secret unless `--client-secret-stdin`.
    Update {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The provider's id.
        id: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// The provider's discovery document URL.
        #[arg(long)]
        metadata_url: Option<String>,
        /// The client id the provider issued to the broker.
        #[arg(long)]
        client_id: Option<String>,
        /// Read a new client secret from stdin.
        #[arg(long)]
        client_secret_stdin: bool,
        /// Scope values, space-separated.
        #[arg(long)]
        scope: Option<String>,
        /// How the provider answers.
        #[arg(long, value_enum)]
        response_mode: Option<ResponseMode>,
    },
    /// Fetch and check a metadata URL without saving anything ("test connection"); with `--id`, the stored
    /// configuration of that provider (its metadata URL unless `--metadata-url` is given).
    Test {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The discovery document URL.
        #[arg(long, required_unless_present = "id")]
        metadata_url: Option<String>,
        /// A stored provider whose configuration to test.
        #[arg(long)]
        id: Option<String>,
        /// The client id to test with (default: the stored provider's, or a placeholder).
        #[arg(long)]
        client_id: Option<String>,
        /// How the provider would answer (default: the stored provider's, or `form_post`).
        #[arg(long, value_enum)]
        response_mode: Option<ResponseMode>,
    },
    /// Claim mapping ("Map this identity provider's claims").
    #[command(subcommand)]
    Claims(IdpClaimsCommand),
    /// Remove an identity provider.
    Delete {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The provider's id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum IdpClaimsCommand {
    /// Set where each profile field comes from (flags not given are kept).
    Set {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The provider's id.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        claims: ClaimArgs,
    },
}

/// A user attribute a flow collects, or a claim it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Attribute {
    /// Email address.
    Email,
    /// Display name.
    #[value(alias = "display_name")]
    DisplayName,
    /// Given name.
    #[value(alias = "given_name")]
    GivenName,
    /// Surname.
    Surname,
}

/// A claim a flow puts in the application's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Claim {
    /// Email addresses.
    Email,
    /// Display name.
    #[value(alias = "display_name")]
    DisplayName,
    /// Given name.
    #[value(alias = "given_name")]
    GivenName,
    /// Surname.
    Surname,
    /// The identity provider.
    #[value(alias = "identity_provider")]
    IdentityProvider,
    /// The user's object id.
    #[value(alias = "object_id")]
    ObjectId,
    /// Whether the user just signed up.
    #[value(alias = "new_user")]
    NewUser,
}

fn snake(value: impl ValueEnum) -> Value {
    let name = value
        .to_possible_value()
        .map(|v| v.get_name().replace('-', "_"))
        .unwrap_or_default();
    Value::String(name)
}

/// A user flow's multi-factor setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mfa {
    /// No requirement.
    Off,
    /// Every sign-in must have been multi-factor at the provider.
    Always,
    /// Only what conditional-access rules require.
    Conditional,
}

#[derive(Debug, Subcommand)]
enum UserflowCommand {
    /// List a broker tenant's user flows.
    List {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        paging: Paging,
        #[command(flatten)]
        filter: filters::NameFilter,
    },
    /// Show a user flow's current version.
    Show {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The policy id (`B2C_1_signupsignin`) or its name (`signupsignin`).
        name: String,
    },
    /// Create a "sign up and sign in" user flow (policy `B2C_1_<name>`).
    Create {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The flow's name (`signupsignin`); the policy id is `B2C_1_<name>`.
        #[arg(long)]
        name: String,
        /// An identity provider offered (its id; repeatable).
        #[arg(long = "idp", required = true)]
        idps: Vec<String>,
        /// A user attribute to collect at sign-up (repeatable).
        #[arg(long = "attribute", value_enum)]
        attributes: Vec<Attribute>,
        /// An application claim to return (repeatable).
        #[arg(long = "claim", value_enum)]
        claims: Vec<Claim>,
        /// Multi-factor authentication: what the provider's sign-in (`amr`) must show.
        #[arg(long, value_enum, default_value_t = Mfa::Off)]
        mfa: Mfa,
        /// "Enforce conditional access policies".
        #[arg(long)]
        conditional_access: bool,
    },
    /// Delete a user flow with all its versions (sign-ins in progress on it fail).
    Delete {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The policy id or name.
        name: String,
    },
    /// The flow's versions (each change makes one).
    Versions {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The policy id or name.
        name: String,
    },
    /// Show one version of a flow (what a sign-in started on it finishes with).
    Version {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The policy id or name.
        name: String,
        /// The version number (1 is the first).
        number: u32,
    },
    /// Change a flow's identity providers, multi-factor authentication or conditional access (a new version;
    /// flags not given are kept).
    Update {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The policy id or name.
        name: String,
        /// An identity provider offered (its id; repeatable; replaces the list).
        #[arg(long = "idp")]
        idps: Vec<String>,
        /// Multi-factor authentication: what the provider's sign-in (`amr`) must show.
        #[arg(long, value_enum)]
        mfa: Option<Mfa>,
        /// "Enforce conditional access policies" (`true` or `false`).
        #[arg(long)]
        conditional_access: Option<bool>,
    },
    /// "User attributes": the attributes collected at sign-up (a new version).
    #[command(subcommand)]
    Attributes(FlowListCommand<Attribute>),
    /// "Application claims": the claims returned in tokens (a new version).
    #[command(subcommand)]
    Claims(FlowListCommand<Claim>),
    /// Print the URL that runs the flow for an application ("Run user flow"); with the built-in token viewer as the
    /// reply URL (the default), the run ends at the decoded token.
    Run {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The policy id or name.
        #[arg(long)]
        name: String,
        /// The application's client id.
        #[arg(long)]
        app: String,
        /// The reply URL (default: the token viewer, `{url}/jwt`).
        #[arg(long)]
        reply_url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum FlowListCommand<T: ValueEnum + Clone + Send + Sync + 'static> {
    /// Replace the list.
    Set {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The policy id or name.
        #[arg(long)]
        name: String,
        /// The values (repeatable).
        #[arg(long = "value", value_enum, required = true)]
        values: Vec<T>,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Search a broker tenant's directory (by email or name).
    List {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// Only users whose email, display name, given name or surname starts with this (case-insensitive).
        #[arg(long = "q", visible_alias = "search")]
        search: Option<String>,
        #[command(flatten)]
        paging: Paging,
        #[command(flatten)]
        filter: filters::StatusFilter,
    },
    /// Show a directory user.
    Show {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The object id.
        id: String,
    },
    /// Disable a user (sessions and refresh tokens end at once).
    Disable {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The object id.
        id: String,
    },
    /// Enable a disabled user.
    Enable {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The object id.
        id: String,
    },
    /// Delete a user.
    Delete {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The object id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum AccountCommand {
    /// List or search a tenant's accounts (by the start of the username or display name).
    List {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// Only accounts whose username or display name starts with this (case-insensitive).
        #[arg(long = "q", visible_alias = "search")]
        search: Option<String>,
        #[command(flatten)]
        paging: Paging,
        #[command(flatten)]
        filter: filters::StatusFilter,
    },
    /// Show an account.
    Show {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The user id.
        id: String,
    },
    /// Disable an account (its sessions end and its tokens stop working at once; its passkeys stay).
    Disable {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The user id.
        id: String,
    },
    /// Enable a disabled account.
    Enable {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The user id.
        id: String,
    },
    /// Delete an account with its passkeys (its sessions end and its tokens stop working at once).
    Delete {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The user id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum PasskeyCommand {
    /// List an account's passkeys.
    List {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The user id.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        filter: filters::PasskeyFilter,
    },
    /// Rename a passkey.
    Rename {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The user id.
        #[arg(long)]
        user: String,
        /// The passkey (credential) id, base64url.
        id: String,
        /// The new name (1 to 64 characters).
        #[arg(long)]
        name: String,
    },
    /// Revoke a passkey (sessions signed in with it end; an account's last passkey cannot be revoked).
    Revoke {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// The user id.
        #[arg(long)]
        user: String,
        /// The passkey (credential) id, base64url.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum InvitationCommand {
    /// List pending invitations (not used, withdrawn or expired); never their links.
    List {
        #[command(flatten)]
        paging: Paging,
        #[command(flatten)]
        filter: filters::RoleFilter,
    },
    /// Invite an administrator: prints a single-use link to the admin tenant's sign-up page (shown once).
    Create {
        /// The role the invited person gets.
        #[arg(long, value_enum)]
        role: TokenRole,
        /// A tenant of the role (repeatable; required for tenant-admin): `broker:T` (only the broker's tenant T),
        /// `authenticator:T` (only the authenticator service's), or `T` (both roles' tenants T).
        #[arg(long = "tenant")]
        tenants: Vec<String>,
        /// Minutes until the link stops working (5 to 10080; default a day).
        #[arg(long)]
        expires_in_minutes: Option<u32>,
    },
    /// Withdraw a pending invitation: its link stops working at once.
    Withdraw {
        /// The invitation's id (`inv_...`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// List a tenant's signing keys.
    List {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        filter: filters::KeyFilter,
    },
    /// Start signing with new keys (published first unless `--immediately`).
    Rotate {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// Sign with the new keys at once (suspected compromise).
        #[arg(long)]
        immediately: bool,
    },
}

/// The role of a new API token.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum TokenRole {
    /// Everything on every tenant.
    #[value(alias = "global_admin")]
    GlobalAdmin,
    /// Everything on its tenants.
    #[value(alias = "tenant_admin")]
    TenantAdmin,
    /// Reading only.
    #[value(alias = "read_only")]
    ReadOnly,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// List API tokens (never their secrets).
    List {
        #[command(flatten)]
        paging: Paging,
        #[command(flatten)]
        filter: filters::TokenFilter,
    },
    /// Create an API token (its secret is printed once).
    Create {
        /// A name for people.
        #[arg(long)]
        name: String,
        /// Its role.
        #[arg(long, value_enum)]
        role: TokenRole,
        /// A tenant it is limited to (repeatable; required for tenant-admin): `broker:T` (only the broker's tenant
        /// T), `authenticator:T` (only the authenticator service's), or `T` (both roles' tenants T).
        #[arg(long = "tenant")]
        tenants: Vec<String>,
        /// Days until it expires (default 90).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Revoke an API token.
    Revoke {
        /// The token's id (`tok_...`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum FidoMetadataCommand {
    /// What is loaded: the BLOB's serial number, when the next is due, how many models, the trust anchors.
    Show,
    /// The loaded authenticator models (AAGUID, description, latest status), optionally filtered.
    List {
        /// Only models whose description or AAGUID contains this (case-insensitive).
        #[arg(long)]
        search: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// List audit events, newest first.
    List {
        /// Only this actor (`token:tok_...`).
        #[arg(long)]
        actor: Option<String>,
        /// Only actions starting with this (`broker.identity_provider`).
        #[arg(long)]
        action: Option<String>,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// From this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Until this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
}

/// Runs `tessera admin ...` (its own exit code).
pub async fn run<C: CommandFactory>(args: AdminArgs) -> ExitCode {
    match dispatch::<C>(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

fn read_stdin_line(what: &str) -> Result<String, CliError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Usage(format!("reading {what} from stdin: {e}")))?;
    let line = line.trim().to_owned();
    if line.is_empty() {
        return Err(CliError::Usage(format!("no {what} on stdin")));
    }
    Ok(line)
}

fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `B2C_1_<name>` unless the name is a policy id already.
fn policy_id(name: &str) -> String {
    if name.len() > 6 && name[..6].eq_ignore_ascii_case("b2c_1_") {
        name.to_owned()
    } else {
        format!("B2C_1_{name}")
    }
}

/// An identity provider id from its display name: lowercase letters and digits, words joined by `-`.
fn id_from_name(name: &str) -> String {
    let mut id = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.is_empty() && !id.ends_with('-') {
            id.push('-');
        }
    }
    id.trim_end_matches('-').chars().take(64).collect()
}

fn connect(args: &AdminArgs) -> Result<Api, CliError> {
    let env_token = std::env::var("TESSERA_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    if let Some(url) = &args.url {
        let token = match env_token {
            Some(token) => Some(token),
            None => ProfileFile::load(&profile_path()?)?
                .profiles
                .get(&args.profile)
                .filter(|p| p.url.trim_end_matches('/') == url.trim_end_matches('/'))
                .map(|p| p.token.clone()),
        };
        return Api::new(url, token, args.ca_file.as_deref());
    }
    let file = ProfileFile::load(&profile_path()?)?;
    let profile = file.profiles.get(&args.profile).ok_or_else(|| {
        CliError::Denied(format!(
            "no profile `{}`: run `tessera admin login --url URL --token-stdin` (or give --url and TESSERA_ADMIN_TOKEN)",
            args.profile
        ))
    })?;
    Api::new(
        &profile.url,
        env_token.or_else(|| Some(profile.token.clone())),
        args.ca_file.as_deref(),
    )
}

async fn dispatch<C: CommandFactory>(args: AdminArgs) -> Result<(), CliError> {
    let out = args.output;
    match &args.command {
        AdminCommand::Completions { shell } => {
            let mut command = C::command();
            let name = command.get_name().to_owned();
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut command, name, &mut script);
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
            Ok(())
        }
        AdminCommand::Login {
            url,
            token_stdin,
            bootstrap_stdin,
        } => login(&args, url, *token_stdin, *bootstrap_stdin).await,
        AdminCommand::Logout => {
            let path = profile_path()?;
            let mut file = ProfileFile::load(&path)?;
            if file.profiles.remove(&args.profile).is_none() {
                return Err(CliError::NotFound(format!("no profile `{}`", args.profile)));
            }
            file.save(&path)?;
            println!("forgot profile `{}`", args.profile);
            Ok(())
        }
        AdminCommand::Api {
            method,
            path,
            data_stdin,
            if_match,
        } => {
            let api = connect(&args)?;
            let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                .map_err(|_| CliError::Usage(format!("not an HTTP method: {method}")))?;
            let body = if *data_stdin {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                    .map_err(|e| CliError::Usage(format!("stdin: {e}")))?;
                Some(
                    serde_json::from_str(&text)
                        .map_err(|e| CliError::Usage(format!("stdin is not JSON: {e}")))?,
                )
            } else {
                None
            };
            let path = if path.starts_with('/') {
                path.clone()
            } else {
                format!("/{path}")
            };
            let answer = api
                .call(method, &path, body.as_ref(), if_match.as_deref())
                .await?;
            if let Some(tag) = &answer.etag {
                eprintln!("etag: {tag}");
            }
            output::object(out, &answer.body)
        }
        AdminCommand::Tenant(command) => tenant(&connect(&args)?, out, command).await,
        AdminCommand::Client(command) => client(&connect(&args)?, out, command).await,
        AdminCommand::BrokerTenant(command) => broker_tenant(&connect(&args)?, out, command).await,
        AdminCommand::App(command) => app(&connect(&args)?, out, command).await,
        AdminCommand::Idp(command) => idp(&connect(&args)?, out, command).await,
        AdminCommand::Userflow(command) => userflow(&connect(&args)?, out, command).await,
        AdminCommand::User(command) => user(&connect(&args)?, out, command).await,
        AdminCommand::Key(command) => key(&connect(&args)?, out, command).await,
        AdminCommand::BrokerKey(command) => broker_key(&connect(&args)?, out, command).await,
        AdminCommand::Account(command) => account(&connect(&args)?, out, command).await,
        AdminCommand::Passkey(command) => passkey(&connect(&args)?, out, command).await,
        AdminCommand::Invitation(command) => invitation(&connect(&args)?, out, command).await,
        AdminCommand::Token(command) => token(&connect(&args)?, out, command).await,
        AdminCommand::Audit(command) => audit(&connect(&args)?, out, command).await,
        AdminCommand::FidoMetadata(command) => fido_metadata(&connect(&args)?, out, command).await,
    }
}

async fn login(
    args: &AdminArgs,
    url: &str,
    token_stdin: bool,
    bootstrap_stdin: bool,
) -> Result<(), CliError> {
    let token = if bootstrap_stdin {
        let secret = read_stdin_line("bootstrap secret")?;
        let api = Api::new(url, None, args.ca_file.as_deref())?;
        let issued = api
            .call(
                Method::POST,
                "/bootstrap",
                Some(&json!({ "bootstrap_token": secret, "name": "tessera admin login" })),
                None,
            )
            .await?
            .body;
        issued["secret"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| CliError::Other("the bootstrap answer has no token".into()))?
    } else if token_stdin {
        read_stdin_line("API token")?
    } else {
        std::env::var("TESSERA_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                CliError::Usage(
                    "give --token-stdin, --bootstrap-stdin or TESSERA_ADMIN_TOKEN".into(),
                )
            })?
    };
    // The token must work before it is saved.
    let api = Api::new(url, Some(token.clone()), args.ca_file.as_deref())?;
    api.get("/audit-events?limit=1").await?;
    let path = profile_path()?;
    let mut file = ProfileFile::load(&path)?;
    file.profiles.insert(
        args.profile.clone(),
        Profile {
            url: api.url().to_owned(),
            token,
        },
    );
    file.save(&path)?;
    println!(
        "signed in to {} as profile `{}` (saved in {}, readable by you only)",
        api.url(),
        args.profile,
        path.display()
    );
    Ok(())
}

async fn tenant(api: &Api, out: Format, command: &TenantCommand) -> Result<(), CliError> {
    match command {
        TenantCommand::List { paging, filter } => {
            let mut query = paging.query();
            filter.add_to(&mut query);
            let items = api.list("/tenants", &query, paging.all).await?;
            output::list(out, &items, &["id", "rp_id", "origins", "display_name"])
        }
        TenantCommand::Show { id } => output::object(
            out,
            &api.get(&format!("/tenants/{}", segment(id))).await?.body,
        ),
        TenantCommand::Create {
            id,
            rp_id,
            origins,
            display_name,
        } => {
            let body = json!({ "id": id, "rp_id": rp_id, "origins": origins, "display_name": display_name });
            let created = api
                .call(Method::POST, "/tenants", Some(&body), None)
                .await?;
            output::object(out, &created.body)
        }
        TenantCommand::Update {
            id,
            display_name,
            origins,
        } => {
            let path = format!("/tenants/{}", segment(id));
            let mut patch = serde_json::Map::new();
            if let Some(name) = display_name {
                patch.insert("display_name".into(), json!(name));
            }
            if !origins.is_empty() {
                patch.insert("origins".into(), json!(origins));
            }
            if patch.is_empty() {
                return Err(CliError::Usage(
                    "nothing to change: give --display-name or --origin".into(),
                ));
            }
            let current = api.get(&path).await?;
            let updated = api
                .call(
                    Method::PATCH,
                    &path,
                    Some(&Value::Object(patch)),
                    current.etag.as_deref(),
                )
                .await?;
            output::object(out, &updated.body)
        }
        TenantCommand::Delete { id, force } => {
            delete_tenant(api, &format!("/tenants/{}", segment(id)), *force).await?;
            println!("deleted tenant {id}");
            Ok(())
        }
        TenantCommand::Policy(PolicyCommand::Show { id }) => output::object(
            out,
            &api.get(&format!("/tenants/{}/policy", segment(id)))
                .await?
                .body,
        ),
        TenantCommand::Policy(PolicyCommand::Set(set)) => {
            let policy = set.policy();
            let settings = set.settings()?;
            if policy.is_empty() && settings.is_empty() {
                return Err(CliError::Usage(
                    "nothing to change: give a policy or session flag (see --help)".into(),
                ));
            }
            let path = format!("/tenants/{}/policy", segment(&set.id));
            if !settings.is_empty() {
                let tenant_path = format!("/tenants/{}", segment(&set.id));
                let current = api.get(&tenant_path).await?;
                api.call(
                    Method::PATCH,
                    &tenant_path,
                    Some(&json!({ "settings": settings })),
                    current.etag.as_deref(),
                )
                .await?;
            }
            let shown = if policy.is_empty() {
                api.get(&path).await?
            } else {
                let current = api.get(&path).await?;
                api.call(
                    Method::PATCH,
                    &path,
                    Some(&Value::Object(policy)),
                    current.etag.as_deref(),
                )
                .await?
            };
            output::object(out, &shown.body)
        }
    }
}

fn account_path(tenant: &str, rest: &str) -> String {
    format!("/tenants/{}/users{rest}", segment(tenant))
}

async fn account(api: &Api, out: Format, command: &AccountCommand) -> Result<(), CliError> {
    let columns = ["id", "username", "display_name", "email", "disabled_at"];
    match command {
        AccountCommand::List {
            tenant,
            search,
            paging,
            filter,
        } => {
            let mut query = paging.query();
            if let Some(q) = search {
                query.push(("q".into(), q.clone()));
            }
            filter.add_to(&mut query);
            let items = api
                .list(&account_path(tenant, ""), &query, paging.all)
                .await?;
            output::list(out, &items, &columns)
        }
        AccountCommand::Show { tenant, id } => output::object(
            out,
            &api.get(&account_path(tenant, &format!("/{}", segment(id))))
                .await?
                .body,
        ),
        AccountCommand::Disable { tenant, id } | AccountCommand::Enable { tenant, id } => {
            let verb = if matches!(command, AccountCommand::Disable { .. }) {
                "disable"
            } else {
                "enable"
            };
            let path = account_path(tenant, &format!("/{}", segment(id)));
            output::object(out, &api.act(&path, verb).await?.body)
        }
        AccountCommand::Delete { tenant, id } => {
            api.delete(&account_path(tenant, &format!("/{}", segment(id))))
                .await?;
            println!("deleted account {id}");
            Ok(())
        }
    }
}

async fn passkey(api: &Api, out: Format, command: &PasskeyCommand) -> Result<(), CliError> {
    let path = |tenant: &str, user: &str, rest: &str| {
        account_path(tenant, &format!("/{}/passkeys{rest}", segment(user)))
    };
    match command {
        PasskeyCommand::List {
            tenant,
            user,
            filter,
        } => {
            let mut query = Vec::new();
            filter.add_to(&mut query);
            let items = api.list(&path(tenant, user, ""), &query, true).await?;
            output::list(
                out,
                &items,
                &[
                    "id",
                    "nickname",
                    "alg",
                    "aaguid",
                    "created_at",
                    "last_used_at",
                ],
            )
        }
        PasskeyCommand::Rename {
            tenant,
            user,
            id,
            name,
        } => {
            let one = path(tenant, user, &format!("/{}", segment(id)));
            let current = api.get(&one).await?;
            let renamed = api
                .call(
                    Method::PATCH,
                    &one,
                    Some(&json!({ "nickname": name })),
                    current.etag.as_deref(),
                )
                .await?;
            output::object(out, &renamed.body)
        }
        PasskeyCommand::Revoke { tenant, user, id } => {
            api.delete(&path(tenant, user, &format!("/{}", segment(id))))
                .await?;
            println!("revoked passkey {id}");
            Ok(())
        }
    }
}

async fn invitation(api: &Api, out: Format, command: &InvitationCommand) -> Result<(), CliError> {
    match command {
        InvitationCommand::List { paging, filter } => {
            let mut query = paging.query();
            filter.add_to(&mut query);
            let items = api.list("/invitations", &query, paging.all).await?;
            output::list(
                out,
                &items,
                &[
                    "id",
                    "role",
                    "tenants",
                    "created_by",
                    "created_at",
                    "expires_at",
                ],
            )
        }
        InvitationCommand::Withdraw { id } => {
            api.call(
                Method::DELETE,
                &format!("/invitations/{}", segment(id)),
                None,
                None,
            )
            .await?;
            println!("withdrew invitation {id}");
            Ok(())
        }
        InvitationCommand::Create {
            role,
            tenants,
            expires_in_minutes,
        } => {
            let body = json!({
                "role": snake(*role),
                "tenants": tenants,
                "expires_in_minutes": expires_in_minutes,
            });
            let issued = api
                .call(Method::POST, "/invitations", Some(&body), None)
                .await?;
            output::object(out, &issued.body)
        }
    }
}

async fn client(api: &Api, out: Format, command: &ClientCommand) -> Result<(), CliError> {
    match command {
        ClientCommand::List {
            tenant,
            paging,
            filter,
        } => {
            let mut query = paging.query();
            filter.add_to(&mut query);
            let items = api
                .list(
                    &format!("/tenants/{}/clients", segment(tenant)),
                    &query,
                    paging.all,
                )
                .await?;
            output::list(
                out,
                &items,
                &[
                    "client_id",
                    "token_endpoint_auth_method",
                    "redirect_uris",
                    "name",
                ],
            )
        }
        ClientCommand::Show { tenant, id } => output::object(
            out,
            &api.get(&format!(
                "/tenants/{}/clients/{}",
                segment(tenant),
                segment(id)
            ))
            .await?
            .body,
        ),
        ClientCommand::Create {
            tenant,
            redirect_uris,
            name,
            public,
        } => {
            let mut body = json!({ "redirect_uris": redirect_uris, "name": name });
            if *public {
                body["token_endpoint_auth_method"] = json!("none");
            }
            let created = api
                .call(
                    Method::POST,
                    &format!("/tenants/{}/clients", segment(tenant)),
                    Some(&body),
                    None,
                )
                .await?;
            output::object(out, &created.body)
        }
        ClientCommand::Update {
            tenant,
            id,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            clear_post_logout_redirect_uris,
        } => {
            let mut body = serde_json::Map::new();
            if let Some(name) = name {
                body.insert("name".into(), json!(name));
            }
            if !redirect_uris.is_empty() {
                body.insert("redirect_uris".into(), json!(redirect_uris));
            }
            if !post_logout_redirect_uris.is_empty() || *clear_post_logout_redirect_uris {
                body.insert(
                    "post_logout_redirect_uris".into(),
                    json!(post_logout_redirect_uris),
                );
            }
            if body.is_empty() {
                return Err(CliError::Usage(
                    "nothing to change: give --name, --redirect-uri or --post-logout-redirect-uri"
                        .into(),
                ));
            }
            let path = format!("/tenants/{}/clients/{}", segment(tenant), segment(id));
            let current = api.get(&path).await?;
            let updated = api
                .call(
                    Method::PATCH,
                    &path,
                    Some(&Value::Object(body)),
                    current.etag.as_deref(),
                )
                .await?;
            output::object(out, &updated.body)
        }
        ClientCommand::Secret { tenant, id } => {
            let path = format!(
                "/tenants/{}/clients/{}/secret",
                segment(tenant),
                segment(id)
            );
            output::object(out, &api.call(Method::POST, &path, None, None).await?.body)
        }
        ClientCommand::Delete { tenant, id } => {
            let path = format!("/tenants/{}/clients/{}", segment(tenant), segment(id));
            api.delete(&path).await?;
            println!("deleted client {id}");
            Ok(())
        }
    }
}

async fn broker_tenant(
    api: &Api,
    out: Format,
    command: &BrokerTenantCommand,
) -> Result<(), CliError> {
    match command {
        BrokerTenantCommand::List { paging, filter } => {
            let mut query = paging.query();
            filter.add_to(&mut query);
            let items = api.list("/broker/tenants", &query, paging.all).await?;
            output::list(out, &items, &["id", "display_name", "created_at"])
        }
        BrokerTenantCommand::Show { id } => output::object(
            out,
            &api.get(&format!("/broker/tenants/{}", segment(id)))
                .await?
                .body,
        ),
        BrokerTenantCommand::Create { id, display_name } => {
            let body = json!({ "id": id, "display_name": display_name });
            output::object(
                out,
                &api.call(Method::POST, "/broker/tenants", Some(&body), None)
                    .await?
                    .body,
            )
        }
        BrokerTenantCommand::Update { id, display_name } => {
            let Some(name) = display_name else {
                return Err(CliError::Usage(
                    "nothing to change: give --display-name".into(),
                ));
            };
            let path = format!("/broker/tenants/{}", segment(id));
            let current = api.get(&path).await?;
            let body = json!({ "display_name": name });
            let updated = api
                .call(Method::PATCH, &path, Some(&body), current.etag.as_deref())
                .await?;
            output::object(out, &updated.body)
        }
        BrokerTenantCommand::Delete { id, force } => {
            delete_tenant(api, &format!("/broker/tenants/{}", segment(id)), *force).await?;
            println!("deleted broker tenant {id}");
            Ok(())
        }
    }
}

/// Deletes the tenant at `path` in the version just read (its `ETag` as `If-Match`), with everything it holds when
/// `force`.
async fn delete_tenant(api: &Api, path: &str, force: bool) -> Result<(), CliError> {
    let current = api.get(path).await?;
    let target = if force {
        format!("{path}?force=true")
    } else {
        path.to_owned()
    };
    api.call(Method::DELETE, &target, None, current.etag.as_deref())
        .await
        .map(drop)
}

async fn broker_key(api: &Api, out: Format, command: &BrokerKeyCommand) -> Result<(), CliError> {
    match command {
        BrokerKeyCommand::List { tenant, filter } => {
            let mut query = Vec::new();
            filter.add_to(&mut query);
            let items = api.list(&broker_path(tenant, "keys"), &query, true).await?;
            output::list(out, &items, &["kid", "alg", "status", "created_at"])
        }
        BrokerKeyCommand::Rotate {
            tenant,
            immediately,
        } => {
            let body = json!({ "immediate": immediately });
            let rotated = api
                .call(
                    Method::POST,
                    &broker_path(tenant, "keys/rotate"),
                    Some(&body),
                    None,
                )
                .await?;
            output::object(out, &rotated.body)
        }
    }
}

fn broker_path(tenant: &str, rest: &str) -> String {
    format!("/broker/tenants/{}/{rest}", segment(tenant))
}

async fn app(api: &Api, out: Format, command: &AppCommand) -> Result<(), CliError> {
    match command {
        AppCommand::List {
            tenant,
            paging,
            filter,
        } => {
            let mut query = paging.query();
            filter.add_to(&mut query);
            let items = api
                .list(&broker_path(tenant, "applications"), &query, paging.all)
                .await?;
            output::list(
                out,
                &items,
                &["client_id", "display_name", "client_type", "reply_urls"],
            )
        }
        AppCommand::Show { tenant, id } => output::object(
            out,
            &api.get(&broker_path(
                tenant,
                &format!("applications/{}", segment(id)),
            ))
            .await?
            .body,
        ),
        AppCommand::Create {
            tenant,
            name,
            reply_urls,
            public,
        } => {
            let body = json!({
                "display_name": name,
                "client_type": if *public { "public" } else { "confidential" },
                "reply_urls": reply_urls,
            });
            let created = api
                .call(
                    Method::POST,
                    &broker_path(tenant, "applications"),
                    Some(&body),
                    None,
                )
                .await?;
            output::object(out, &created.body)
        }
        AppCommand::Update {
            tenant,
            id,
            name,
            reply_urls,
        } => {
            let path = broker_path(tenant, &format!("applications/{}", segment(id)));
            let current = api.get(&path).await?;
            let mut body = json!({
                "display_name": current.body["display_name"],
                "reply_urls": current.body["reply_urls"],
                "logout_urls": current.body["logout_urls"],
                "token_lifetimes": current.body["token_lifetimes"],
                "id_token_signing_alg": current.body["id_token_signing_alg"],
            });
            if let Some(name) = name {
                body["display_name"] = json!(name);
            }
            if !reply_urls.is_empty() {
                body["reply_urls"] = json!(reply_urls);
            }
            let updated = api
                .call(Method::PUT, &path, Some(&body), current.etag.as_deref())
                .await?;
            output::object(out, &updated.body)
        }
        AppCommand::Secret { tenant, id } => {
            let path = broker_path(tenant, &format!("applications/{}/secret", segment(id)));
            output::object(out, &api.call(Method::POST, &path, None, None).await?.body)
        }
        AppCommand::Delete { tenant, id } => {
            let path = broker_path(tenant, &format!("applications/{}", segment(id)));
            api.delete(&path).await?;
            println!("deleted application {id}");
            Ok(())
        }
    }
}

async fn idp(api: &Api, out: Format, command: &IdpCommand) -> Result<(), CliError> {
    match command {
        IdpCommand::List {
            tenant,
            paging,
            filter,
        } => {
            let mut query = paging.query();
            filter.add_to(&mut query);
            let items = api
                .list(
                    &broker_path(tenant, "identity-providers"),
                    &query,
                    paging.all,
                )
                .await?;
            output::list(
                out,
                &items,
                &["id", "name", "issuer", "response_mode", "scope"],
            )
        }
        IdpCommand::Show { tenant, id } => output::object(
            out,
            &api.get(&broker_path(
                tenant,
                &format!("identity-providers/{}", segment(id)),
            ))
            .await?
            .body,
        ),
        IdpCommand::Create {
            tenant,
            name,
            id,
            metadata_url,
            client_id,
            client_secret_stdin,
            scope,
            response_type,
            response_mode,
            claims,
        } => {
            let secret = if *client_secret_stdin {
                Some(read_stdin_line("client secret")?)
            } else {
                None
            };
            let id = id.clone().unwrap_or_else(|| id_from_name(name));
            let body = json!({
                "id": id,
                "name": name,
                "metadata_url": metadata_url,
                "client_id": client_id,
                "client_secret": secret,
                "scope": scope,
                "response_type": snake(*response_type),
                "response_mode": snake(*response_mode),
                "claim_mapping": claims.mapping(&Value::Null),
            });
            let created = api
                .call(
                    Method::POST,
                    &broker_path(tenant, "identity-providers"),
                    Some(&body),
                    None,
                )
                .await?;
            output::object(out, &created.body)
        }
        IdpCommand::Update {
            tenant,
            id,
            name,
            metadata_url,
            client_id,
            client_secret_stdin,
            scope,
            response_mode,
        } => {
            let path = broker_path(tenant, &format!("identity-providers/{}", segment(id)));
            let current = api.get(&path).await?;
            let mut body = provider_body(&current.body);
            let given = [
                ("name", name.clone().map(Value::String)),
                ("metadata_url", metadata_url.clone().map(Value::String)),
                ("client_id", client_id.clone().map(Value::String)),
                ("scope", scope.clone().map(Value::String)),
                ("response_mode", response_mode.map(snake)),
            ];
            let mut changed = false;
            for (key, value) in given {
                if let Some(value) = value {
                    body[key] = value;
                    changed = true;
                }
            }
            if *client_secret_stdin {
                body["client_secret"] = json!(read_stdin_line("client secret")?);
                changed = true;
            }
            if !changed {
                return Err(CliError::Usage(
                    "nothing to change: give --name, --metadata-url, --client-id, --client-secret-stdin, --scope or --response-mode".into(),
                ));
            }
            let updated = api
                .call(Method::PUT, &path, Some(&body), current.etag.as_deref())
                .await?;
            output::object(out, &updated.body)
        }
        IdpCommand::Test {
            tenant,
            metadata_url,
            id,
            client_id,
            response_mode,
        } => {
            let mut body = match id {
                Some(id) => provider_body(
                    &api.get(&broker_path(
                        tenant,
                        &format!("identity-providers/{}", segment(id)),
                    ))
                    .await?
                    .body,
                ),
                // Nothing is stored: a placeholder id, name and client id are enough to fetch and check.
                None => json!({
                    "id": "test-connection",
                    "name": "Test connection",
                    "client_id": "test-connection",
                    "response_mode": "form_post",
                }),
            };
            if let Some(url) = metadata_url {
                body["metadata_url"] = json!(url);
            }
            if let Some(client_id) = client_id {
                body["client_id"] = json!(client_id);
            }
            if let Some(mode) = response_mode {
                body["response_mode"] = snake(*mode);
            }
            let report = api
                .call(
                    Method::POST,
                    &broker_path(tenant, "identity-providers/test"),
                    Some(&body),
                    None,
                )
                .await?;
            output::object(out, &report.body)
        }
        IdpCommand::Claims(IdpClaimsCommand::Set { tenant, id, claims }) => {
            let path = broker_path(tenant, &format!("identity-providers/{}", segment(id)));
            let current = api.get(&path).await?;
            let mapping = claims.mapping(&current.body["claim_mapping"]);
            let updated = api
                .call(
                    Method::PUT,
                    &format!("{path}/claim-mapping"),
                    Some(&mapping),
                    current.etag.as_deref(),
                )
                .await?;
            output::object(out, &updated.body)
        }
        IdpCommand::Delete { tenant, id } => {
            let path = broker_path(tenant, &format!("identity-providers/{}", segment(id)));
            api.delete(&path).await?;
            println!("deleted identity provider {id}");
            Ok(())
        }
    }
}

/// The writable part of an identity provider as the API shows it (the body of its `PUT` and of `/test`).
fn provider_body(view: &Value) -> Value {
    let mut body = serde_json::Map::new();
    for key in [
        "id",
        "name",
        "metadata_url",
        "client_id",
        "client_auth",
        "scope",
        "response_type",
        "response_mode",
        "claim_mapping",
        "domain_hint",
    ] {
        if let Some(value) = view.get(key).filter(|v| !v.is_null()) {
            body.insert(key.into(), value.clone());
        }
    }
    Value::Object(body)
}

fn collected(attributes: &[Attribute]) -> Value {
    Value::Array(
        attributes
            .iter()
            .map(|a| json!({ "attribute": snake(*a), "required": true }))
            .collect(),
    )
}

fn claims_of(claims: &[Claim]) -> Value {
    Value::Array(claims.iter().map(|c| snake(*c)).collect())
}

async fn revise_flow(
    api: &Api,
    tenant: &str,
    name: &str,
    change: impl FnOnce(&mut Value),
) -> Result<Value, CliError> {
    let path = broker_path(tenant, &format!("user-flows/{}", segment(&policy_id(name))));
    let current = api.get(&path).await?;
    let mut settings = current.body["settings"].clone();
    change(&mut settings);
    let body = json!({ "settings": settings });
    Ok(api
        .call(Method::PUT, &path, Some(&body), current.etag.as_deref())
        .await?
        .body)
}

async fn userflow(api: &Api, out: Format, command: &UserflowCommand) -> Result<(), CliError> {
    match command {
        UserflowCommand::List {
            tenant,
            paging,
            filter,
        } => {
            let mut query = paging.query();
            filter.add_to(&mut query);
            let items = api
                .list(&broker_path(tenant, "user-flows"), &query, paging.all)
                .await?;
            output::list(
                out,
                &items,
                &[
                    "name",
                    "kind",
                    "current_version",
                    "settings.identity_providers",
                ],
            )
        }
        UserflowCommand::Show { tenant, name } => output::object(
            out,
            &api.get(&broker_path(
                tenant,
                &format!("user-flows/{}", segment(&policy_id(name))),
            ))
            .await?
            .body,
        ),
        UserflowCommand::Create {
            tenant,
            name,
            idps,
            attributes,
            claims,
            mfa,
            conditional_access,
        } => {
            let body = json!({
                "name": policy_id(name),
                "settings": {
                    "identity_providers": idps,
                    "mfa": snake(*mfa),
                    "conditional_access": { "enforced": conditional_access },
                    "user_attributes": collected(attributes),
                    "application_claims": claims_of(claims),
                },
            });
            let created = api
                .call(
                    Method::POST,
                    &broker_path(tenant, "user-flows"),
                    Some(&body),
                    None,
                )
                .await?;
            output::object(out, &created.body)
        }
        UserflowCommand::Delete { tenant, name } => {
            let policy = policy_id(name);
            api.delete(&broker_path(
                tenant,
                &format!("user-flows/{}", segment(&policy)),
            ))
            .await?;
            println!("deleted user flow {policy}");
            Ok(())
        }
        UserflowCommand::Versions { tenant, name } => {
            let path = broker_path(
                tenant,
                &format!("user-flows/{}/versions", segment(&policy_id(name))),
            );
            let items = api.list(&path, &[], true).await?;
            output::list(
                out,
                &items,
                &["number", "created_at", "settings.application_claims"],
            )
        }
        UserflowCommand::Version {
            tenant,
            name,
            number,
        } => output::object(
            out,
            &api.get(&broker_path(
                tenant,
                &format!("user-flows/{}/versions/{number}", segment(&policy_id(name))),
            ))
            .await?
            .body,
        ),
        UserflowCommand::Update {
            tenant,
            name,
            idps,
            mfa,
            conditional_access,
        } => {
            if idps.is_empty() && mfa.is_none() && conditional_access.is_none() {
                return Err(CliError::Usage(
                    "nothing to change: give --idp, --mfa or --conditional-access".into(),
                ));
            }
            let revised = revise_flow(api, tenant, name, |s| {
                if !idps.is_empty() {
                    s["identity_providers"] = json!(idps);
                }
                if let Some(mfa) = mfa {
                    s["mfa"] = snake(*mfa);
                }
                if let Some(enforced) = conditional_access {
                    s["conditional_access"]["enforced"] = json!(enforced);
                }
            })
            .await?;
            output::object(out, &revised)
        }
        UserflowCommand::Attributes(FlowListCommand::Set {
            tenant,
            name,
            values,
        }) => {
            let revised = revise_flow(api, tenant, name, |s| {
                s["user_attributes"] = collected(values)
            })
            .await?;
            output::object(out, &revised)
        }
        UserflowCommand::Claims(FlowListCommand::Set {
            tenant,
            name,
            values,
        }) => {
            let revised = revise_flow(api, tenant, name, |s| {
                s["application_claims"] = claims_of(values)
            })
            .await?;
            output::object(out, &revised)
        }
        UserflowCommand::Run {
            tenant,
            name,
            app,
            reply_url,
        } => {
            let policy = policy_id(name);
            // Both must exist (and be visible to this token) before a URL is handed out.
            api.get(&broker_path(
                tenant,
                &format!("user-flows/{}", segment(&policy)),
            ))
            .await?;
            let application = api
                .get(&broker_path(
                    tenant,
                    &format!("applications/{}", segment(app)),
                ))
                .await?
                .body;
            let viewer = format!("{}/jwt", api.url());
            let reply = reply_url.clone().unwrap_or(viewer.clone());
            let registered = application["reply_urls"]
                .as_array()
                .is_some_and(|urls| urls.iter().any(|u| u.as_str() == Some(reply.as_str())));
            if !registered {
                return Err(CliError::Invalid(format!(
                    "{reply} is not a reply URL of application {app}: add it with `tessera admin app update --reply-url`"
                )));
            }
            let url = if reply == viewer {
                tessera_http::admin::token_viewer::run_url(api.url(), tenant, &policy, app)
            } else {
                let query: String = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("client_id", app)
                    .append_pair("redirect_uri", &reply)
                    .append_pair("response_type", "code")
                    .append_pair("scope", "openid")
                    .append_pair("response_mode", "form_post")
                    .finish();
                format!(
                    "{}/{}/{policy}/oauth2/v2.0/authorize?{query}",
                    api.url(),
                    segment(tenant)
                )
            };
            match out {
                Format::Table => println!("{url}"),
                other => output::object(other, &json!({ "run_url": url }))?,
            }
            Ok(())
        }
    }
}

async fn user(api: &Api, out: Format, command: &UserCommand) -> Result<(), CliError> {
    let user_path = |tenant: &str, id: &str| broker_path(tenant, &format!("users/{}", segment(id)));
    match command {
        UserCommand::List {
            tenant,
            search,
            paging,
            filter,
        } => {
            let mut query = paging.query();
            if let Some(q) = search {
                query.push(("q".into(), q.clone()));
            }
            filter.add_to(&mut query);
            let items = api
                .list(&broker_path(tenant, "users"), &query, paging.all)
                .await?;
            output::list(
                out,
                &items,
                &[
                    "object_id",
                    "email",
                    "display_name",
                    "last_sign_in_at",
                    "disabled_at",
                ],
            )
        }
        UserCommand::Show { tenant, id } => {
            output::object(out, &api.get(&user_path(tenant, id)).await?.body)
        }
        UserCommand::Disable { tenant, id } => {
            let done = api.act(&user_path(tenant, id), "disable").await?;
            output::object(out, &done.body)
        }
        UserCommand::Enable { tenant, id } => {
            let done = api.act(&user_path(tenant, id), "enable").await?;
            output::object(out, &done.body)
        }
        UserCommand::Delete { tenant, id } => {
            let path = user_path(tenant, id);
            api.delete(&path).await?;
            println!("deleted user {id}");
            Ok(())
        }
    }
}

async fn key(api: &Api, out: Format, command: &KeyCommand) -> Result<(), CliError> {
    match command {
        KeyCommand::List { tenant, filter } => {
            let mut query = Vec::new();
            filter.add_to(&mut query);
            let items = api
                .list(&format!("/tenants/{}/keys", segment(tenant)), &query, true)
                .await?;
            output::list(out, &items, &["kid", "alg", "status", "created_at"])
        }
        KeyCommand::Rotate {
            tenant,
            immediately,
        } => {
            let body = json!({ "immediate": immediately });
            let rotated = api
                .call(
                    Method::POST,
                    &format!("/tenants/{}/keys/rotate", segment(tenant)),
                    Some(&body),
                    None,
                )
                .await?;
            output::object(out, &rotated.body)
        }
    }
}

async fn token(api: &Api, out: Format, command: &TokenCommand) -> Result<(), CliError> {
    match command {
        TokenCommand::List { paging, filter } => {
            let mut query = paging.query();
            filter.add_to(&mut query);
            let items = api.list("/api-tokens", &query, paging.all).await?;
            output::list(
                out,
                &items,
                &["id", "name", "role", "tenants", "expires_at", "revoked_at"],
            )
        }
        TokenCommand::Create {
            name,
            role,
            tenants,
            expires_in_days,
        } => {
            let body = json!({
                "name": name,
                "role": snake(*role),
                "tenants": tenants,
                "expires_in_days": expires_in_days,
            });
            output::object(
                out,
                &api.call(Method::POST, "/api-tokens", Some(&body), None)
                    .await?
                    .body,
            )
        }
        TokenCommand::Revoke { id } => {
            let done = api
                .call(
                    Method::DELETE,
                    &format!("/api-tokens/{}", segment(id)),
                    None,
                    None,
                )
                .await?;
            if done.body.is_null() {
                println!("revoked token {id}");
                Ok(())
            } else {
                output::object(out, &done.body)
            }
        }
    }
}

async fn fido_metadata(
    api: &Api,
    out: Format,
    command: &FidoMetadataCommand,
) -> Result<(), CliError> {
    let loaded = api.get("/fido-metadata").await?.body;
    match command {
        FidoMetadataCommand::Show => {
            let mut summary = loaded.clone();
            if let Some(object) = summary.as_object_mut() {
                object.remove("models");
            }
            output::object(out, &summary)
        }
        FidoMetadataCommand::List { search } => {
            let needle = search.as_deref().map(str::to_lowercase);
            let models: Vec<Value> = loaded["models"]
                .as_array()
                .map(|models| {
                    models
                        .iter()
                        .filter(|m| {
                            needle.as_deref().is_none_or(|needle| {
                                ["description", "aaguid"].iter().any(|key| {
                                    m[*key]
                                        .as_str()
                                        .is_some_and(|v| v.to_lowercase().contains(needle))
                                })
                            })
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            output::list(
                out,
                &Value::Array(models),
                &["aaguid", "description", "status"],
            )
        }
    }
}

async fn audit(api: &Api, out: Format, command: &AuditCommand) -> Result<(), CliError> {
    let AuditCommand::List {
        actor,
        action,
        tenant,
        since,
        until,
        paging,
    } = command;
    let mut query = paging.query();
    for (key, value) in [
        ("actor", actor),
        ("action", action),
        ("tenant", tenant),
        ("since", since),
        ("until", until),
    ] {
        if let Some(value) = value {
            query.push((key.into(), value.clone()));
        }
    }
    let items = api.list("/audit-events", &query, paging.all).await?;
    output::list(out, &items, &["at", "actor", "action", "target", "tenant"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_ids_and_provider_ids_follow_the_portal() {
        assert_eq!(policy_id("signupsignin"), "B2C_1_signupsignin");
        assert_eq!(policy_id("B2C_1_signupsignin"), "B2C_1_signupsignin");
        assert_eq!(policy_id("b2c_1_x"), "b2c_1_x");
        assert_eq!(
            id_from_name("Nok Nok Authentication Provider"),
            "nok-nok-authentication-provider"
        );
        assert_eq!(id_from_name("  Okta (EU) "), "okta-eu");
    }

    #[test]
    fn claim_flags_keep_what_is_not_given() {
        let args = ClaimArgs {
            user_id: None,
            display_name: Some("preferred_username".into()),
            given_name: None,
            surname: None,
            email: None,
        };
        let mapping = args.mapping(&json!({ "user_id": "oid", "email": "mail" }));
        assert_eq!(mapping["user_id"], "oid");
        assert_eq!(mapping["display_name"], "preferred_username");
        assert_eq!(mapping["email"], "mail");
        assert_eq!(mapping["surname"], "family_name");
    }

    #[test]
    fn profile_file_is_written_for_its_owner_only() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("nested").join("admin.json");
        let mut file = ProfileFile::default();
        file.profiles.insert(
            "default".into(),
            Profile {
                url: "https://id.example.com".into(),
                token: "tsr_secret".into(),
            },
        );
        file.save(&path).expect("save");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = ProfileFile::load(&path).expect("load");
        assert_eq!(loaded.profiles["default"].token, "tsr_secret");
        assert!(!format!("{:?}", loaded.profiles["default"]).contains("tsr_secret"));
    }
}
