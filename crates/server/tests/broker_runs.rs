//! The tutorial's runs through the identity broker (SCENARIO.md runs 1, 2, 5, 6 and 7) and the broker's security
//! rules, end to end over HTTP: an app (the test) → the broker tenant `contoso` → the authenticator service tenant
//! `acme` of the SAME application as the upstream OpenID provider (real passkeys from the test authenticator,
//! `form_post` back to `/contoso/oauth2/authresp`) → the attribute page → the app's code and tokens, verified
//! against the broker's JWKS. Every test runs on SQLite and on PostgreSQL (`TEST_PG_URL`; skipped with
//! `SKIPPED(pg): <name>` when unset).

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use tessera_broker::config::{
    AccessAction, AccessRule, ApplicationClaim, AttributeType, ClaimMapping, CollectedAttribute,
    ConditionalAccess, CustomAttribute, FlowSettings, IdentityProvider, MetadataUrl, MfaSetting,
    PolicyId, ProviderId, TokenLifetimes, UpstreamClientAuth, UserAttribute,
};
use tessera_core::{Clock, TenantId};
use tessera_oidc::keys::{JwkSet, SigningAlg, SigningKey};
use tessera_oidc::{ClientType, ResponseMode};
use tessera_service::clients::{self, ClientKind, LocalhostHttp, NewClient};
use tessera_store::BrokerStore;
use tessera_testkit::app::{HtmlForm, parse_form};
use tessera_testkit::{AppOptions, Backend, MaliciousAuthenticator, TestApp, spawn_app};

const BROKER: &str = "contoso";
const POLICY: &str = "B2C_1_signupsignin";
const REPLY: &str = "https://jwt.ms/";
const LOGOUT: &str = "https://jwt.ms/bye";

/// Runs a test body on SQLite and on PostgreSQL.
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(tessera_testkit::Backend::Sqlite).await;
                }
            )*
        }
        mod pg {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(tessera_testkit::Backend::Postgres).await;
                }
            )*
        }
    };
}

#[path = "broker_runs/admin_api.rs"]
mod admin_api;

both_stores!(
    a_burst_beyond_the_limit_at_authorize_and_token_is_answered_429_with_retry_after,
    run1_desktop_sign_up_collects_the_email_and_issues_the_flows_claims,
    run2_sign_in_of_the_same_user_skips_the_attribute_page_and_carries_amr_acr,
    run5_abandoned_sign_up_leaves_no_user,
    run6_cancel_at_the_provider_reaches_the_app_as_access_denied,
    run6_policy_requiring_mfa_refuses_a_single_factor_upstream_sign_in,
    run6_policy_requiring_phishing_resistance_refuses_a_non_phishing_resistant_upstream,
    run7_two_providers_show_the_choice_page,
    correlation_cookie_missing_or_wrong_is_refused,
    replayed_state_is_refused,
    unregistered_reply_url_is_an_error_page_without_redirect,
    wrong_pkce_verifier_is_refused,
    code_replay_is_refused_and_revokes_the_refresh_token,
    refresh_rotates_and_reuse_revokes_the_family,
    msal_shapes_tfp_query_and_lowercased_policy,
    sso_session_answers_a_second_app_request_and_prompt_login_goes_upstream,
    broken_provider_shows_an_error_page_with_a_correlation_id,
    userinfo_and_logout,
    app_form_post_and_prompt_none,
    disabled_user_loses_session_and_refresh_token_and_cannot_sign_in,
    viewer_run_start_redirects_to_the_broker_with_pkce,
    viewer_full_run_shows_the_verified_token_and_refuses_a_replay,
    viewer_form_post_run_lands_on_the_viewer,
    viewer_tampered_or_foreign_token_shows_red,
    viewer_wrong_or_missing_state_is_refused,
    viewer_unregistered_or_foreign_redirect_uri_is_refused,
    viewer_oauth_error_is_shown,
    oidc_provider_form_post_sign_up_then_sign_in,
    oidc_provider_query_mode_maps_claims_from_userinfo,
    oidc_provider_wrong_client_secret_is_an_error_page_with_a_correlation_id,
    max_age_goes_to_the_provider_and_a_stale_upstream_sign_in_is_login_required,
    an_sso_session_older_than_max_age_goes_back_to_the_provider,
    mfa_always_passes_a_user_verified_passkey_upstream,
    mfa_always_asks_the_provider_and_refuses_a_single_factor_answer,
    conditional_mfa_applies_only_where_a_require_mfa_rule_decides,
    block_and_allow_rules_decide_at_the_reply_url,
    a_provider_down_a_wrong_issuer_or_a_broken_jwks_at_sign_in_shows_the_page_and_logs_the_check,
    a_sign_in_finishes_on_the_flow_version_it_started_with,
    sso_across_two_applications_of_the_tenant,
    a_long_passkey_prompt_completes_and_one_beyond_the_transaction_lifetime_is_a_clear_error,
    authorize_by_post_is_answered_with_a_303_to_get,
    a_confidential_app_redeems_with_client_secret_basic_and_post_and_a_wrong_secret_is_invalid_client,
    an_es256_app_gets_an_es256_id_token_verified_with_the_broker_jwks,
    custom_typed_attributes_are_collected_stored_and_returned_as_extension_claims,
    run6_a_failed_passkey_upstream_reaches_the_app_as_an_oauth_error,
);

// ---------------------------------------------------------------------------------------------------------------
// The set-up: the authenticator service as the provider, the broker tenant, its provider, flow and app.

/// The running application with the broker configured as the tutorial does it.
struct Broker {
    app: TestApp,
    tenant: TenantId,
    fake: Option<FakeProvider>,
    /// The app's generated client id.
    app_id: String,
}

/// What a flow offers, for the set-up.
struct FlowOptions {
    providers: Vec<&'static str>,
    mfa: MfaSetting,
    rules: Vec<AccessRule>,
    /// The application's security settings (rate limits).
    security: tessera_http::SecuritySettings,
    /// Whether the flow also collects and returns typed custom attributes ([`CUSTOM_ATTRIBUTES`]).
    custom_attributes: bool,
}

impl Default for FlowOptions {
    fn default() -> Self {
        Self {
            providers: vec!["acme"],
            mfa: MfaSetting::Off,
            rules: Vec::new(),
            security: tessera_http::SecuritySettings::default(),
            custom_attributes: false,
        }
    }
}

/// The custom attributes of a flow with `custom_attributes`: a whole number, a checkbox and a text, all optional.
const CUSTOM_ATTRIBUTES: [(&str, AttributeType); 3] = [
    ("loyaltyNumber", AttributeType::Integer),
    ("newsletter", AttributeType::Boolean),
    ("nickname", AttributeType::String),
];

async fn broker(backend: Backend) -> Option<Broker> {
    broker_with(backend, FlowOptions::default()).await
}

async fn broker_with(backend: Backend, flow: FlowOptions) -> Option<Broker> {
    let app = spawn_app(AppOptions {
        backend,
        security: flow.security.clone(),
        ..AppOptions::default()
    })
    .await?;
    let tenant = TenantId::parse(BROKER).unwrap_or_else(|e| panic!("{e}"));
    let mut broker = Broker {
        app,
        tenant,
        fake: None,
        app_id: String::new(),
    };
    broker.create_tenant().await;
    broker.add_provider("acme", "acme").await;
    if flow.providers.contains(&"globex") {
        broker.add_op_tenant("globex").await;
        broker.add_provider("globex", "globex").await;
    }
    if flow.providers.contains(&"fake") {
        let fake = FakeProvider::start(broker.app.clock.clone()).await;
        broker.add_fake_provider(&fake).await;
        broker.fake = Some(fake);
    }
    broker.add_flow(flow).await;
    broker.add_application().await;
    Some(broker)
}

impl Broker {
    fn store(&self) -> &dyn BrokerStore {
        self.app.state.broker.store.as_ref()
    }

    async fn create_tenant(&self) {
        tessera_service::broker::tenants::create_broker_tenant(
            self.store(),
            &self.app.state.provider.master_key,
            tessera_service::broker::tenants::NewBrokerTenant {
                id: self.tenant.clone(),
                display_name: Some("Contoso".into()),
            },
            self.app.clock.now(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// A second tenant of the authenticator service (a second provider for the choice page).
    async fn add_op_tenant(&self, name: &str) {
        let tenant = TenantId::parse(name).unwrap_or_else(|e| panic!("{e}"));
        tessera_service::tenants::create_tenant(
            self.app.state.provider.store.as_ref(),
            &self.app.state.provider.master_key,
            tessera_service::tenants::NewTenant::parse(
                tenant,
                "localhost",
                std::slice::from_ref(&self.app.base),
                Some("Globex".into()),
            )
            .unwrap_or_else(|e| panic!("{e}")),
            self.app.clock.now(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Registers the broker as a client of the authenticator service tenant `op` (redirect URI: the broker's
    /// `authresp`) and adds that tenant as identity provider `id`, as the tutorial's form does.
    async fn add_provider(&self, id: &str, op: &str) {
        let op_tenant = TenantId::parse(op).unwrap_or_else(|e| panic!("{e}"));
        let authresp = format!("{}/{BROKER}/oauth2/authresp", self.app.base);
        let (client, secret) = clients::create_client(
            self.app.state.provider.store.as_ref(),
            NewClient {
                tenant: op_tenant,
                redirect_uris: clients::parse_redirect_uris(
                    &[authresp],
                    LocalhostHttp::InsecureAllow,
                )
                .unwrap_or_else(|e| panic!("{e}")),
                post_logout_redirect_uris: Vec::new(),
                kind: ClientKind::ConfidentialBasic,
                id_token_alg: SigningAlg::Es256,
                name: Some("Contoso broker".into()),
            },
            self.app.clock.now(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let secret = secret.unwrap_or_else(|| panic!("confidential client has a secret"));
        let metadata_url = format!(
            "{}/{op}/oidc/.well-known/openid-configuration",
            self.app.base
        );
        let provider = IdentityProvider {
            id: ProviderId::parse(id).unwrap_or_else(|e| panic!("{e}")),
            name: format!("{op} Authentication Provider"),
            metadata_url: MetadataUrl::parse(&metadata_url).unwrap_or_else(|e| panic!("{e}")),
            client_id: client.client_id.to_string(),
            client_auth: UpstreamClientAuth::ClientSecretBasic,
            scope: vec!["openid".into(), "profile".into(), "email".into()],
            response_type: Default::default(),
            response_mode: ResponseMode::FormPost,
            claim_mapping: ClaimMapping::default(),
            domain_hint: Some(format!("{op}.example")),
        };
        self.save_provider(&provider, secret.expose()).await;
    }

    async fn save_provider(&self, provider: &IdentityProvider, secret: &str) {
        tessera_service::broker::providers::save_identity_provider(
            self.store(),
            &self.app.state.provider.master_key,
            &self.app.state.broker.upstream,
            &self.tenant,
            provider.clone(),
            tessera_core::Secret::new(secret),
            self.app.clock.now(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }

    async fn add_flow(&self, flow: FlowOptions) {
        let mut settings = FlowSettings {
            identity_providers: flow
                .providers
                .iter()
                .map(|p| ProviderId::parse(p).unwrap_or_else(|e| panic!("{e}")))
                .collect(),
            mfa: flow.mfa,
            conditional_access: ConditionalAccess {
                enforced: !flow.rules.is_empty(),
                rules: flow.rules,
            },
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
        };
        if flow.custom_attributes {
            for (name, data_type) in CUSTOM_ATTRIBUTES {
                settings.custom_attributes.push(CustomAttribute {
                    name: name.into(),
                    label: Some(format!("Your {name}")),
                    data_type,
                });
                settings.user_attributes.push(CollectedAttribute {
                    attribute: UserAttribute::Custom(name.into()),
                    required: false,
                });
                settings
                    .application_claims
                    .push(ApplicationClaim::Custom(name.into()));
            }
        }
        tessera_service::broker::flows::create_user_flow(
            self.store(),
            &self.tenant,
            PolicyId::parse(POLICY).unwrap_or_else(|e| panic!("{e}")),
            settings,
            self.app.clock.now(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Registers the app (a public client: the token viewer) and returns its generated client id.
    async fn add_application(&mut self) {
        let (application, _) = tessera_service::broker::applications::create_application(
            self.store(),
            &self.tenant,
            tessera_service::broker::applications::NewApplication {
                display_name: "JWT viewer".into(),
                client_type: ClientType::Public,
                reply_urls: vec![REPLY.into(), format!("{}/jwt", self.app.base)],
                logout_urls: vec![LOGOUT.into()],
                token_lifetimes: TokenLifetimes::default(),
                id_token_signing_alg: SigningAlg::Rs256,
            },
            self.app.clock.now(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        self.app_id = application.client_id.to_string();
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.base)
    }

    /// Registers another application of the tenant (reply URL [`REPLY`]); returns its client id and, for a
    /// confidential one, its secret.
    async fn register_app(
        &self,
        name: &str,
        client_type: ClientType,
        alg: SigningAlg,
    ) -> (String, Option<String>) {
        let (application, secret) = tessera_service::broker::applications::create_application(
            self.store(),
            &self.tenant,
            tessera_service::broker::applications::NewApplication {
                display_name: name.into(),
                client_type,
                reply_urls: vec![REPLY.into()],
                logout_urls: Vec::new(),
                token_lifetimes: TokenLifetimes::default(),
                id_token_signing_alg: alg,
            },
            self.app.clock.now(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        (
            application.client_id.to_string(),
            secret.map(|s| s.expose().to_owned()),
        )
    }
}

// ---------------------------------------------------------------------------------------------------------------
// A browser: cookies by name, no redirects followed.

#[derive(Default, Clone)]
struct Browser {
    cookies: HashMap<String, String>,
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    fn location(&self) -> String {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn form(&self) -> HtmlForm {
        parse_form(&self.body)
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect()
    }
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, app: &TestApp, request: reqwest::RequestBuilder) -> Reply {
        let mut request = request.header("origin", app.base.as_str());
        if !self.cookies.is_empty() {
            request = request.header("cookie", self.cookie_header());
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
        let reply = Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap_or_default(),
        };
        for cookie in reply.set_cookies() {
            let first = cookie.split(';').next().unwrap_or_default();
            if let Some((name, value)) = first.split_once('=') {
                if value.is_empty() || cookie.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        reply
    }

    async fn get(&mut self, app: &TestApp, url: &str) -> Reply {
        let url = absolute(app, url);
        self.send(app, app.http.get(url)).await
    }

    async fn post_form(&mut self, app: &TestApp, url: &str, fields: &[(String, String)]) -> Reply {
        let url = absolute(app, url);
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let request = app
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(app, request).await
    }

    async fn post_json(&mut self, app: &TestApp, url: &str, body: &Value) -> Reply {
        let url = absolute(app, url);
        // The CSRF cookie is per tenant: `__Host-tessera-csrf-{tenant}`, the URL's first path segment.
        let tenant = url::Url::parse(&url)
            .ok()
            .and_then(|u| u.path_segments()?.next().map(str::to_owned))
            .unwrap_or_default();
        let csrf = self
            .cookies
            .get(&format!("__Host-tessera-csrf-{tenant}"))
            .cloned()
            .unwrap_or_default();
        let request = app
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("x-csrf-token", csrf)
            .body(body.to_string());
        self.send(app, request).await
    }

    /// Submits the page's form with its hidden fields plus `extra` (the CSRF token comes from the page).
    async fn submit(&mut self, app: &TestApp, page: &Reply, extra: &[(&str, &str)]) -> Reply {
        let form = page.form();
        let mut fields = form.fields.clone();
        for (name, value) in extra {
            fields.retain(|(k, _)| k != name);
            fields.push(((*name).to_owned(), (*value).to_owned()));
        }
        self.post_form(app, &form.action, &fields).await
    }
}

fn absolute(app: &TestApp, url: &str) -> String {
    if url.starts_with("http") {
        url.to_owned()
    } else {
        format!("{}{url}", app.base)
    }
}

/// The page's Content-Security-Policy.
fn csp_of(reply: &Reply) -> String {
    reply
        .headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn query_of(location: &str) -> HashMap<String, String> {
    url::Url::parse(location)
        .unwrap_or_else(|e| panic!("{e}: {location}"))
        .query_pairs()
        .into_owned()
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// The app's side: PKCE, the authorization request, the token request.

struct AppRequest {
    verifier: String,
    url: String,
}

fn app_request(b: &Broker, path_prefix: &str, extra: &[(&str, &str)]) -> AppRequest {
    request_for(&b.app_id, path_prefix, extra)
}

/// The authorization request of the application `client_id` (reply URL [`REPLY`], state `app-state`).
fn request_for(client_id: &str, path_prefix: &str, extra: &[(&str, &str)]) -> AppRequest {
    let verifier = tessera_testkit::app::random(64);
    let challenge = B64.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ));
    let mut pairs = vec![
        ("client_id", client_id),
        ("redirect_uri", REPLY),
        ("response_type", "code"),
        ("scope", "openid offline_access"),
        ("state", "app-state"),
        ("nonce", "app-nonce"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let separator = if path_prefix.contains('?') { "&" } else { "?" };
    AppRequest {
        url: format!("{path_prefix}{separator}{query}"),
        verifier,
    }
}

fn authorize_path() -> String {
    format!("/{BROKER}/{POLICY}/oauth2/v2.0/authorize")
}

async fn token(b: &Broker, form: &[(&str, &str)]) -> Reply {
    let mut browser = Browser::default();
    let mut fields: Vec<(String, String)> = form
        .iter()
        .map(|(a, v)| ((*a).to_owned(), (*v).to_owned()))
        .collect();
    fields.push(("client_id".into(), b.app_id.clone()));
    browser
        .post_form(
            &b.app,
            &format!("/{BROKER}/{POLICY}/oauth2/v2.0/token"),
            &fields,
        )
        .await
}

async fn redeem(b: &Broker, code: &str, verifier: &str) -> Reply {
    token(
        b,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REPLY),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// How a confidential application authenticates at the token endpoint: `client_secret_basic` or
/// `client_secret_post` (RFC 6749 §2.3.1).
#[derive(Clone, Copy)]
enum ClientAuth<'a> {
    Basic { id: &'a str, secret: &'a str },
    Post { id: &'a str, secret: &'a str },
}

/// Redeems `code` as the application authenticating with `auth`.
async fn redeem_as(b: &Broker, auth: ClientAuth<'_>, code: &str, verifier: &str) -> Reply {
    let mut fields: Vec<(String, String)> = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REPLY),
        ("code_verifier", verifier),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let url = b.url(&format!("/{BROKER}/{POLICY}/oauth2/v2.0/token"));
    let mut request = b
        .app
        .http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded");
    match auth {
        ClientAuth::Basic { id, secret } => {
            let encode =
                |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                encode(id),
                encode(secret)
            ));
            request = request.header("authorization", format!("Basic {credentials}"));
        }
        ClientAuth::Post { id, secret } => {
            fields.push(("client_id".into(), id.into()));
            fields.push(("client_secret".into(), secret.into()));
        }
    }
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&fields)
        .finish();
    let response = request
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.unwrap_or_default(),
    }
}

/// Verifies a broker ID token against the broker's published JWKS; returns its claims.
async fn verified_claims(b: &Broker, id_token: &str) -> Value {
    let jwks = b
        .app
        .http
        .get(b.url(&format!("/{BROKER}/{POLICY}/discovery/v2.0/keys")))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let jwks = JwkSet::from_json(&jwks).unwrap_or_else(|e| panic!("{e}"));
    let verified = tessera_oidc::jose::verify_jws(id_token, &jwks.verifying_keys())
        .unwrap_or_else(|e| panic!("the broker's ID token verifies with its JWKS: {e}"));
    Value::Object(verified.claims)
}

// ---------------------------------------------------------------------------------------------------------------
// The user's side at the authenticator service: a real passkey sign-up and sign-in.

/// The user with their authenticator and passkey at the authenticator service.
struct Person {
    authenticator: MaliciousAuthenticator,
    credential: Option<tessera_testkit::Credential>,
    username: String,
}

impl Person {
    fn new(username: &str) -> Self {
        Self {
            authenticator: MaliciousAuthenticator::new(),
            credential: None,
            username: username.into(),
        }
    }
}

/// Follows the broker's redirect to the provider; at its sign-in page, signs up (first time) or signs in with the
/// passkey; returns the provider's `form_post` page addressed to the broker.
async fn at_provider(
    b: &Broker,
    browser: &mut Browser,
    location: &str,
    person: &mut Person,
) -> Reply {
    let at_op = browser.get(&b.app, location).await;
    if at_op.status == 200 {
        return at_op;
    }
    assert_eq!(at_op.status, 303, "{}", at_op.body);
    let login = at_op.location();
    let (op_base, authz) = login
        .split_once("/login?authz=")
        .unwrap_or_else(|| panic!("the provider's sign-in page: {login}"));
    let op_base = op_base.to_owned();
    let authz = authz.to_owned();
    let next = if person.credential.is_none() {
        let page = browser
            .get(&b.app, &format!("{op_base}/signup?authz={authz}"))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        let options = browser
            .post_json(
                &b.app,
                &format!("{op_base}/webauthn/register/options"),
                &json!({"username": person.username, "display_name": "Ann Example", "authz": authz}),
            )
            .await;
        assert_eq!(options.status, 200, "{}", options.body);
        let options = options.json();
        let (response, credential) = person
            .authenticator
            .register(&options["publicKey"].to_string(), &b.app.base)
            .unwrap_or_else(|e| panic!("{e}"));
        person.credential = Some(credential);
        browser
            .post_json(
                &b.app,
                &format!("{op_base}/webauthn/register/verify"),
                &json!({"ceremony": options["ceremony"], "credential": serde_json::from_str::<Value>(&response).unwrap_or_default()}),
            )
            .await
    } else {
        let page = browser.get(&b.app, &login).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let options = browser
            .post_json(
                &b.app,
                &format!("{op_base}/webauthn/login/options"),
                &json!({"username": person.username, "authz": authz}),
            )
            .await;
        assert_eq!(options.status, 200, "{}", options.body);
        let options = options.json();
        let credential = person
            .credential
            .as_ref()
            .unwrap_or_else(|| panic!("credential"));
        let response = person
            .authenticator
            .authenticate(&options["publicKey"].to_string(), &b.app.base, credential)
            .unwrap_or_else(|e| panic!("{e}"));
        browser
            .post_json(
                &b.app,
                &format!("{op_base}/webauthn/login/verify"),
                &json!({"ceremony": options["ceremony"], "credential": serde_json::from_str::<Value>(&response).unwrap_or_default()}),
            )
            .await
    };
    assert_eq!(next.status, 200, "{}", next.body);
    let next = next.json()["next"]
        .as_str()
        .unwrap_or_else(|| panic!("next"))
        .to_owned();
    let posted = browser.get(&b.app, &next).await;
    assert_eq!(
        posted.status, 200,
        "the provider's form_post page: {}",
        posted.body
    );
    posted
}

/// The app's request → the broker → the provider → back at the broker's `authresp`; returns the broker's answer.
async fn through_provider(
    b: &Broker,
    browser: &mut Browser,
    request: &AppRequest,
    person: &mut Person,
) -> Reply {
    let start = browser.get(&b.app, &request.url).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let location = start.location();
    assert!(
        location.starts_with(&format!("{}/acme/oidc/authorize?", b.app.base))
            || location.starts_with(&format!("{}/globex/oidc/authorize?", b.app.base)),
        "{location}"
    );
    let correlation = start
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-tessera_corr_"))
        .unwrap_or_else(|| panic!("a correlation cookie"));
    assert!(correlation.contains("SameSite=None"), "{correlation}");
    assert!(correlation.contains("Secure") && correlation.contains("HttpOnly"));
    let posted = at_provider(b, browser, &location, person).await;
    let form = posted.form();
    assert_eq!(form.action, b.url(&format!("/{BROKER}/oauth2/authresp")));
    browser.post_form(&b.app, &form.action, &form.fields).await
}

/// The code delivered to the app's reply URL (303 with query).
fn code_at_reply_url(reply: &Reply) -> String {
    assert_eq!(reply.status, 303, "{}", reply.body);
    let location = reply.location();
    assert!(location.starts_with(REPLY), "{location}");
    let query = query_of(&location);
    assert_eq!(query.get("state").map(String::as_str), Some("app-state"));
    query
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("code in {location}"))
}

/// Through the provider to the attribute page, then the email: the code at the app's reply URL.
async fn code_after_sign_up(
    b: &Broker,
    browser: &mut Browser,
    request: &AppRequest,
    person: &mut Person,
) -> String {
    let page = through_provider(b, browser, request, person).await;
    assert!(page.body.contains("id=\"attribute-form\""), "{}", page.body);
    let done = browser
        .submit(&b.app, &page, &[("email", "ann@example.com")])
        .await;
    code_at_reply_url(&done)
}

/// Run 1 up to the app's token response: sign-up at the provider, the attribute page (email), the code.
async fn sign_up(b: &Broker, browser: &mut Browser, person: &mut Person) -> (Value, String) {
    let request = app_request(b, &authorize_path(), &[]);
    let code = code_after_sign_up(b, browser, &request, person).await;
    let tokens = redeem(b, &code, &request.verifier).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    (tokens.json(), code)
}

async fn user_count(b: &Broker) -> usize {
    b.store()
        .search_directory_users(&b.tenant, "", None, None, 100)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .users
        .len()
}

// ---------------------------------------------------------------------------------------------------------------
// A second OpenID provider, not Tessera's: a few routes on loopback whose ID tokens the test shapes (a password
// sign-in that is not phishing-resistant, a broken signature, a rotated key).

/// How the fake provider signs its next ID token.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Signing {
    /// With the key its JWKS publishes.
    Honest,
    /// With a key it does not publish (a bad signature under a known `kid`).
    Forged,
    /// With a new key, published from now on (a key rotation the broker has not seen).
    Rotated,
}

/// What the fake provider does on its next answers, set by each test.
#[derive(Clone)]
struct FakeBehaviour {
    /// The ID token's `amr`.
    amr: Vec<&'static str>,
    /// The ID token's `auth_time`, that many seconds ago; no `auth_time` when `None`.
    auth_time_ago: Option<i64>,
    /// The ID token's `iss` instead of the provider's own (a wrong issuer).
    issuer: Option<String>,
    /// The JWKS is not a key set (a broken document, seen when the broker refetches it).
    jwks_broken: bool,
}

impl Default for FakeBehaviour {
    fn default() -> Self {
        Self {
            amr: vec!["pwd"],
            auth_time_ago: None,
            issuer: None,
            jwks_broken: false,
        }
    }
}

/// The multi-factor `acr` value (OpenID PAPE) the fake provider advertises.
const PAPE_MFA: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";

struct FakeState {
    base: String,
    clock: std::sync::Arc<tessera_core::FixedClock>,
    key: SigningKey,
    forged: SigningKey,
    rotated: SigningKey,
    signing: std::sync::Mutex<Signing>,
    behaviour: std::sync::Mutex<FakeBehaviour>,
    codes: std::sync::Mutex<HashMap<String, String>>,
    /// The query of every authorization request received, in order.
    requests: std::sync::Mutex<Vec<HashMap<String, String>>>,
}

struct FakeProvider {
    state: std::sync::Arc<FakeState>,
    shutdown: std::sync::Arc<tokio::sync::Notify>,
    server: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl FakeProvider {
    async fn start(clock: std::sync::Arc<tessera_core::FixedClock>) -> Self {
        use axum::routing::{get, post};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let base = format!(
            "http://127.0.0.1:{}",
            listener
                .local_addr()
                .unwrap_or_else(|e| panic!("{e}"))
                .port()
        );
        let key = || SigningKey::generate(SigningAlg::Rs256).unwrap_or_else(|e| panic!("{e}"));
        let state = std::sync::Arc::new(FakeState {
            base,
            clock,
            key: key(),
            forged: key(),
            rotated: key(),
            signing: std::sync::Mutex::new(Signing::Honest),
            behaviour: std::sync::Mutex::new(FakeBehaviour::default()),
            codes: std::sync::Mutex::new(HashMap::new()),
            requests: std::sync::Mutex::new(Vec::new()),
        });
        let shared = state.clone();
        let discovery = move || {
            let s = shared.clone();
            async move {
                axum::Json(json!({
                    "issuer": s.base,
                    "authorization_endpoint": format!("{}/authorize", s.base),
                    "token_endpoint": format!("{}/token", s.base),
                    "jwks_uri": format!("{}/jwks", s.base),
                    "response_types_supported": ["code"],
                    "response_modes_supported": ["query"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_post"],
                    "acr_values_supported": ["phr", PAPE_MFA],
                }))
            }
        };
        let shared = state.clone();
        let jwks = move || {
            let s = shared.clone();
            async move {
                if s.behaviour
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .jwks_broken
                {
                    return axum::Json(json!({"keys": "none today"}));
                }
                let mut keys = vec![s.key.public_jwk().clone()];
                if *s.signing.lock().unwrap_or_else(|p| p.into_inner()) == Signing::Rotated {
                    keys.push(s.rotated.public_jwk().clone());
                }
                axum::Json(serde_json::to_value(JwkSet { keys }).unwrap_or_default())
            }
        };
        let shared = state.clone();
        let authorize = move |axum::extract::Query(q): axum::extract::Query<
            HashMap<String, String>,
        >| {
            let s = shared.clone();
            async move {
                s.requests
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(q.clone());
                let code = tessera_testkit::app::random(20);
                s.codes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(code.clone(), q.get("nonce").cloned().unwrap_or_default());
                let mut back = url::Url::parse(q.get("redirect_uri").map_or("", String::as_str))
                    .unwrap_or_else(|e| panic!("{e}"));
                back.query_pairs_mut()
                    .append_pair("code", &code)
                    .append_pair("state", q.get("state").map_or("", String::as_str));
                axum::response::Redirect::to(back.as_str())
            }
        };
        let shared = state.clone();
        let token = move |axum::extract::Form(f): axum::extract::Form<HashMap<String, String>>| {
            let s = shared.clone();
            async move {
                let nonce = s
                    .codes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(f.get("code").map_or("", String::as_str))
                    .unwrap_or_default();
                let behaviour = s
                    .behaviour
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                let now = tessera_core::Clock::now(s.clock.as_ref()).unix_timestamp();
                let mut claims = json!({
                    "iss": behaviour.issuer.clone().unwrap_or_else(|| s.base.clone()),
                    "aud": f.get("client_id"),
                    "sub": "pat-1",
                    "iat": now,
                    "exp": now + 300,
                    "nonce": nonce,
                    "amr": behaviour.amr,
                    "name": "Pat Password",
                    "email": "pat@example.com",
                });
                if let Some(ago) = behaviour.auth_time_ago {
                    claims["auth_time"] = json!(now - ago);
                }
                let signing = *s.signing.lock().unwrap_or_else(|p| p.into_inner());
                let key = match signing {
                    Signing::Honest => &s.key,
                    Signing::Forged => {
                        // A known kid with another key's signature.
                        let header = json!({"alg": "RS256", "kid": s.key.kid(), "typ": "JWT"});
                        let signed = tessera_oidc::jose::sign_jwt(&s.forged, &claims)
                            .unwrap_or_else(|e| panic!("{e}"));
                        let parts: Vec<&str> = signed.split('.').collect();
                        let token = format!(
                            "{}.{}.{}",
                            B64.encode(header.to_string()),
                            parts[1],
                            parts[2]
                        );
                        return axum::Json(json!({
                            "access_token": "at", "token_type": "Bearer", "id_token": token,
                        }));
                    }
                    Signing::Rotated => &s.rotated,
                };
                let id_token =
                    tessera_oidc::jose::sign_jwt(key, &claims).unwrap_or_else(|e| panic!("{e}"));
                axum::Json(
                    json!({"access_token": "at", "token_type": "Bearer", "id_token": id_token}),
                )
            }
        };
        let router = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token));
        let shutdown = std::sync::Arc::new(tokio::sync::Notify::new());
        let stop = shutdown.clone();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.notified().await })
                .await;
        });
        Self {
            state,
            shutdown,
            server: std::sync::Mutex::new(Some(server)),
        }
    }

    fn set_signing(&self, signing: Signing) {
        *self.state.signing.lock().unwrap_or_else(|p| p.into_inner()) = signing;
    }

    fn behave(&self, change: impl FnOnce(&mut FakeBehaviour)) {
        change(
            &mut self
                .state
                .behaviour
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
    }

    /// The last authorization request's query.
    fn last_request(&self) -> HashMap<String, String> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last()
            .cloned()
            .unwrap_or_else(|| panic!("the fake provider saw no authorization request"))
    }

    /// Takes the provider down: it stops listening and closes its connections.
    async fn go_down(&self) {
        self.shutdown.notify_one();
        let server = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(server) = server {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), server).await;
        }
    }
}

impl Broker {
    /// Adds the fake provider as identity provider `fake` (response mode `query`, `client_secret_post`).
    async fn add_fake_provider(&self, fake: &FakeProvider) {
        let provider = IdentityProvider {
            id: ProviderId::parse("fake").unwrap_or_else(|e| panic!("{e}")),
            name: "Password Provider".into(),
            metadata_url: MetadataUrl::parse(&format!(
                "{}/.well-known/openid-configuration",
                fake.state.base
            ))
            .unwrap_or_else(|e| panic!("{e}")),
            client_id: "broker-at-fake".into(),
            client_auth: UpstreamClientAuth::ClientSecretPost,
            scope: vec!["openid".into()],
            response_type: Default::default(),
            response_mode: ResponseMode::Query,
            claim_mapping: ClaimMapping::default(),
            domain_hint: None,
        };
        self.save_provider(&provider, "fake-secret").await;
    }
}

/// Through the fake provider (query response mode): the broker's answer at `authresp`.
async fn through_fake(b: &Broker, browser: &mut Browser, request: &AppRequest) -> Reply {
    let start = browser.get(&b.app, &request.url).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let back = browser.get(&b.app, &start.location()).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let authresp = back.location();
    assert!(
        authresp.starts_with(&b.url(&format!("/{BROKER}/oauth2/authresp?"))),
        "{authresp}"
    );
    browser.get(&b.app, &authresp).await
}

// ---------------------------------------------------------------------------------------------------------------
// The runs.

/// The broker's authorization and token endpoints are limited per client address with the provider's rules
/// (`challenge_rate`, `token_rate`): within the burst, requests are answered as usual (a sign-in goes upstream, a bad
/// code is `invalid_grant`); past it, 429 with `Retry-After`; another endpoint of the flow stays open.
async fn a_burst_beyond_the_limit_at_authorize_and_token_is_answered_429_with_retry_after(
    backend: Backend,
) {
    let flow = FlowOptions {
        security: tessera_http::SecuritySettings {
            challenge_rate: tessera_http::RateRule::per_minute(1, 3),
            token_rate: tessera_http::RateRule::per_minute(1, 2),
            ..tessera_http::SecuritySettings::default()
        },
        ..FlowOptions::default()
    };
    let Some(b) = broker_with(backend, flow).await else {
        return;
    };
    let limited = |reply: &Reply, what: &str| {
        assert_eq!(reply.status, 429, "{what}: {}", reply.body);
        let wait: u64 = reply
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{what}: no Retry-After"));
        assert!(wait >= 1, "{what}: Retry-After {wait}");
        assert!(
            reply.body.contains("too_many_requests"),
            "{what}: {}",
            reply.body
        );
    };
    for attempt in 1..=3 {
        let request = app_request(&b, &authorize_path(), &[]);
        let reply = Browser::default().get(&b.app, &request.url).await;
        assert_eq!(reply.status, 303, "authorize {attempt}: {}", reply.body);
        assert!(
            reply.location().contains("/acme/oidc/authorize"),
            "authorize {attempt} goes upstream: {}",
            reply.location()
        );
    }
    let request = app_request(&b, &authorize_path(), &[]);
    limited(
        &Browser::default().get(&b.app, &request.url).await,
        "authorize past the burst",
    );
    for attempt in 1..=2 {
        let reply = redeem(&b, "not-a-code", "verifier").await;
        assert_eq!(reply.status, 400, "token {attempt}: {}", reply.body);
        assert!(
            reply.body.contains("invalid_grant"),
            "token {attempt}: {}",
            reply.body
        );
    }
    limited(
        &redeem(&b, "not-a-code", "verifier").await,
        "token past the burst",
    );
    // The flow's documents are not limited.
    let discovery = Browser::default()
        .get(
            &b.app,
            &format!("/{BROKER}/{POLICY}/v2.0/.well-known/openid-configuration"),
        )
        .await;
    assert_eq!(discovery.status, 200, "{}", discovery.body);
}

async fn run1_desktop_sign_up_collects_the_email_and_issues_the_flows_claims(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let request = app_request(&b, &authorize_path(), &[]);
    let page = through_provider(&b, &mut browser, &request, &mut ann).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Complete your profile"));
    assert!(page.body.contains("JWT viewer"), "the app's name is shown");
    assert_eq!(
        user_count(&b).await,
        0,
        "nothing is written before the form"
    );
    // The provider knew no email: the required field is empty, and an empty or bad one is refused with a message.
    let refused = browser
        .submit(&b.app, &page, &[("email", "not-an-email")])
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("Enter an email address like name@example.com.")
    );
    assert!(
        refused.body.contains("value=\"not-an-email\""),
        "what was typed stays"
    );
    assert_eq!(user_count(&b).await, 0);
    let done = browser
        .submit(&b.app, &refused, &[("email", "ann@example.com")])
        .await;
    let code = code_at_reply_url(&done);
    assert!(
        done.set_cookies()
            .iter()
            .any(|c| c.starts_with("__Host-tessera_broker_contoso=") && c.contains("SameSite=Lax")),
        "a broker session starts"
    );
    let tokens = redeem(&b, &code, &request.verifier).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let tokens = tokens.json();
    let claims = verified_claims(&b, tokens["id_token"].as_str().unwrap_or_default()).await;
    assert_eq!(
        claims["iss"],
        b.url(&format!("/{BROKER}/{POLICY}/v2.0")),
        "{claims}"
    );
    assert_eq!(claims["aud"], b.app_id);
    assert_eq!(claims["tfp"], POLICY);
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["nonce"], "app-nonce");
    assert_eq!(claims["emails"], json!(["ann@example.com"]));
    assert_eq!(claims["name"], "Ann Example");
    assert_eq!(claims["idp"], b.url("/acme/oidc"));
    assert_eq!(claims["newUser"], true);
    assert_eq!(claims["sub"], claims["oid"]);
    assert_eq!(
        claims["acr"], "phr",
        "a passkey sign-in upstream stays phishing-resistant"
    );
    assert!(
        claims["amr"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("pop"))),
        "{claims}"
    );
    assert!(tokens["refresh_token"].is_string());
    // The directory holds the user with the provider's identity.
    let users = b
        .store()
        .search_directory_users(&b.tenant, "ann@", None, None, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .users;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].object_id.as_str(), claims["oid"]);
    assert_eq!(users[0].identities.len(), 1);
    assert_eq!(users[0].identities[0].issuer, b.url("/acme/oidc"));
    b.app.stop().await;
}

async fn run2_sign_in_of_the_same_user_skips_the_attribute_page_and_carries_amr_acr(
    backend: Backend,
) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut ann = Person::new("ann");
    let (first, _) = sign_up(&b, &mut Browser::default(), &mut ann).await;
    let first = verified_claims(&b, first["id_token"].as_str().unwrap_or_default()).await;
    b.app.clock.advance(time::Duration::minutes(30));
    // Another day, another browser: no session anywhere, a passkey sign-in at the provider.
    let mut browser = Browser::default();
    let request = app_request(&b, &authorize_path(), &[]);
    let answer = through_provider(&b, &mut browser, &request, &mut ann).await;
    let code = code_at_reply_url(&answer);
    let tokens = redeem(&b, &code, &request.verifier).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let claims = verified_claims(&b, tokens.json()["id_token"].as_str().unwrap_or_default()).await;
    assert_eq!(claims["oid"], first["oid"], "the same directory user");
    assert!(claims.get("newUser").is_none(), "{claims}");
    assert_eq!(claims["emails"], json!(["ann@example.com"]));
    assert_eq!(claims["acr"], "phr");
    assert!(
        claims["amr"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("pop")))
    );
    assert_eq!(
        claims["auth_time"],
        json!(b.app.clock.now().unix_timestamp()),
        "the provider's auth_time"
    );
    assert_eq!(user_count(&b).await, 1);
    b.app.stop().await;
}

async fn run5_abandoned_sign_up_leaves_no_user(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let request = app_request(&b, &authorize_path(), &[]);
    let page = through_provider(&b, &mut browser, &request, &mut ann).await;
    assert!(page.body.contains("id=\"attribute-form\""));
    // The user closes the tab. Nothing is in the directory, and after the transaction's lifetime the page's form
    // is dead.
    assert_eq!(user_count(&b).await, 0);
    b.app.clock.advance(time::Duration::minutes(16));
    let late = browser
        .submit(&b.app, &page, &[("email", "ann@example.com")])
        .await;
    assert_eq!(late.status, 400, "{}", late.body);
    assert!(
        late.body.contains("This sign-in has expired"),
        "{}",
        late.body
    );
    assert!(late.location().is_empty());
    assert_eq!(user_count(&b).await, 0);
    b.app.stop().await;
}

async fn run6_cancel_at_the_provider_reaches_the_app_as_access_denied(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    let request = app_request(&b, &authorize_path(), &[]);
    let start = browser.get(&b.app, &request.url).await;
    let at_op = browser.get(&b.app, &start.location()).await;
    let login = at_op.location();
    let (op_base, authz) = login.split_once("/login?authz=").unwrap_or_default();
    // The user presses "Cancel" on the provider's sign-in page.
    let posted = browser
        .get(
            &b.app,
            &format!("{op_base}/oidc/authorize/resume?authz={authz}&error=access_denied"),
        )
        .await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    let form = posted.form();
    assert!(
        form.fields
            .iter()
            .any(|(k, v)| k == "error" && v == "access_denied")
    );
    let answer = browser.post_form(&b.app, &form.action, &form.fields).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let location = answer.location();
    assert!(location.starts_with(REPLY), "{location}");
    let query = query_of(&location);
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["state"], "app-state");
    assert!(!query.contains_key("code"));
    assert_eq!(user_count(&b).await, 0);
    b.app.stop().await;
}

async fn run6_policy_requiring_mfa_refuses_a_single_factor_upstream_sign_in(backend: Backend) {
    let Some(b) = broker_with(
        backend,
        FlowOptions {
            mfa: MfaSetting::Always,
            ..FlowOptions::default()
        },
    )
    .await
    else {
        return;
    };
    // The provider's session comes from a passkey that did not verify the user (a tenant whose policy lets UV be
    // skipped): single-factor upstream, no `mfa` in amr.
    let user = b.app.create_user("ann").await;
    let facts = tessera_oidc::id_token::AuthenticationFacts {
        user_verified: false,
        backup_eligible: true,
        attestation_trusted: false,
    };
    let (cookie, _) = b.app.sign_in_with(&user, facts).await;
    let mut browser = Browser::default();
    if let Some((name, value)) = cookie.split_once('=') {
        browser.cookies.insert(name.to_owned(), value.to_owned());
    }
    let mut ann = Person::new("ann");
    let request = app_request(&b, &authorize_path(), &[]);
    let answer = through_provider(&b, &mut browser, &request, &mut ann).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let query = query_of(&answer.location());
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["state"], "app-state");
    assert_eq!(user_count(&b).await, 0);
    b.app.stop().await;
}

async fn run6_policy_requiring_phishing_resistance_refuses_a_non_phishing_resistant_upstream(
    backend: Backend,
) {
    let Some(b) = broker_with(
        backend,
        FlowOptions {
            providers: vec!["acme", "fake"],
            rules: vec![AccessRule {
                name: "phishing-resistant only".into(),
                applications: Vec::new(),
                identity_providers: Vec::new(),
                action: tessera_broker::config::AccessAction::RequirePhishingResistant,
            }],
            ..FlowOptions::default()
        },
    )
    .await
    else {
        return;
    };
    // A password sign-in at the other provider (amr ["pwd"]): refused, at the app's reply URL with its state.
    let mut browser = Browser::default();
    let request = app_request(&b, &authorize_path(), &[("idp", "fake")]);
    let answer = through_fake(&b, &mut browser, &request).await;
    let fake = b.fake.as_ref().unwrap_or_else(|| panic!("fake provider"));
    assert_eq!(
        fake.last_request().get("acr_values").map(String::as_str),
        Some("phr"),
        "the provider was asked for the phishing-resistant class it advertises"
    );
    assert_eq!(answer.status, 303, "{}", answer.body);
    let location = answer.location();
    assert!(location.starts_with(REPLY), "{location}");
    let query = query_of(&location);
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["state"], "app-state");
    assert!(
        query["error_description"].contains("phishing-resistant"),
        "{location}"
    );
    assert_eq!(user_count(&b).await, 0);
    // A passkey sign-in at the authenticator service passes the same rule.
    let mut ann = Person::new("ann");
    let request = app_request(&b, &authorize_path(), &[("idp", "acme")]);
    let page = through_provider(&b, &mut browser, &request, &mut ann).await;
    assert!(page.body.contains("id=\"attribute-form\""), "{}", page.body);
    b.app.stop().await;
}

async fn run7_two_providers_show_the_choice_page(backend: Backend) {
    let Some(b) = broker_with(
        backend,
        FlowOptions {
            providers: vec!["acme", "globex"],
            ..FlowOptions::default()
        },
    )
    .await
    else {
        return;
    };
    let mut browser = Browser::default();
    let request = app_request(&b, &authorize_path(), &[]);
    let page = browser.get(&b.app, &request.url).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Choose how you want to sign in"));
    assert!(page.body.contains("acme Authentication Provider"));
    assert!(page.body.contains("globex Authentication Provider"));
    // Choosing answers with a redirect to the provider, which browsers hold to the page's form-action.
    assert!(
        csp_of(&page).contains(&format!("form-action 'self' {};", b.app.base)),
        "{}",
        csp_of(&page)
    );
    let chosen = browser
        .submit(&b.app, &page, &[("provider", "globex")])
        .await;
    assert_eq!(chosen.status, 303, "{}", chosen.body);
    assert!(
        chosen
            .location()
            .starts_with(&b.url("/globex/oidc/authorize?")),
        "{}",
        chosen.location()
    );
    // The choice page's form is single use.
    let again = browser.submit(&b.app, &page, &[("provider", "acme")]).await;
    assert_eq!(again.status, 400, "{}", again.body);
    // A domain hint or an idp hint skips the page.
    let hinted = app_request(&b, &authorize_path(), &[("domain_hint", "globex.example")]);
    let skip = browser.get(&b.app, &hinted.url).await;
    assert_eq!(skip.status, 303, "{}", skip.body);
    assert!(
        skip.location()
            .starts_with(&b.url("/globex/oidc/authorize?"))
    );
    let hinted = app_request(&b, &authorize_path(), &[("idp", "ACME")]);
    let skip = browser.get(&b.app, &hinted.url).await;
    assert!(skip.location().starts_with(&b.url("/acme/oidc/authorize?")));
    // The whole run through the chosen provider.
    let mut gina = Person::new("gina");
    let posted = at_provider(&b, &mut browser, &chosen.location(), &mut gina).await;
    let form = posted.form();
    let answer = browser.post_form(&b.app, &form.action, &form.fields).await;
    assert!(
        answer.body.contains("id=\"attribute-form\""),
        "{}",
        answer.body
    );
    b.app.stop().await;
}

// ---------------------------------------------------------------------------------------------------------------
// Negative tests.

async fn correlation_cookie_missing_or_wrong_is_refused(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut ann = Person::new("ann");
    for tamper in ["missing", "wrong"] {
        let mut browser = Browser::default();
        let request = app_request(&b, &authorize_path(), &[]);
        let start = browser.get(&b.app, &request.url).await;
        let posted = at_provider(&b, &mut browser, &start.location(), &mut ann).await;
        let name = browser
            .cookies
            .keys()
            .find(|k| k.starts_with("__Host-tessera_corr_"))
            .cloned()
            .unwrap_or_default();
        if tamper == "missing" {
            browser.cookies.remove(&name);
        } else {
            browser.cookies.insert(name, "A".repeat(43));
        }
        let form = posted.form();
        let answer = browser.post_form(&b.app, &form.action, &form.fields).await;
        assert_eq!(answer.status, 400, "{tamper}: {}", answer.body);
        assert!(
            answer.body.contains("Sign-in started elsewhere"),
            "{}",
            answer.body
        );
        assert!(
            answer.location().is_empty(),
            "{tamper}: no redirect to the app"
        );
        assert!(answer.body.contains("Reference: "), "a correlation id");
    }
    assert_eq!(user_count(&b).await, 0);
    b.app.stop().await;
}

async fn replayed_state_is_refused(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let request = app_request(&b, &authorize_path(), &[]);
    let start = browser.get(&b.app, &request.url).await;
    let posted = at_provider(&b, &mut browser, &start.location(), &mut ann).await;
    let form = posted.form();
    let cookies = browser.cookies.clone();
    let first = browser.post_form(&b.app, &form.action, &form.fields).await;
    assert_eq!(first.status, 200, "{}", first.body);
    browser.cookies = cookies;
    let replay = browser.post_form(&b.app, &form.action, &form.fields).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(replay.body.contains("This sign-in has expired"));
    b.app.stop().await;
}

async fn unregistered_reply_url_is_an_error_page_without_redirect(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    let request = app_request(&b, &authorize_path(), &[]);
    let url = request
        .url
        .replace("https%3A%2F%2Fjwt.ms%2F", "https%3A%2F%2Fevil.example%2F");
    let reply = browser.get(&b.app, &url).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.location().is_empty());
    assert!(reply.body.contains("has not registered"), "{}", reply.body);
    assert!(!reply.body.contains("evil.example"));
    // An unknown application: also a page.
    let unknown = browser
        .get(
            &b.app,
            &request
                .url
                .replace(&format!("client_id={}", b.app_id), "client_id=nope"),
        )
        .await;
    assert_eq!(unknown.status, 400);
    assert!(unknown.body.contains("Unknown application"));
    // An unknown policy: a 404 page.
    let url = request.url.replace(POLICY, "B2C_1_nothing");
    let missing = browser.get(&b.app, &url).await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    b.app.stop().await;
}

async fn wrong_pkce_verifier_is_refused(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let request = app_request(&b, &authorize_path(), &[]);
    let code = code_after_sign_up(&b, &mut browser, &request, &mut ann).await;
    let wrong = redeem(&b, &code, &tessera_testkit::app::random(64)).await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert_eq!(wrong.json()["error"], "invalid_grant");
    // The code is spent by the failed attempt.
    let late = redeem(&b, &code, &request.verifier).await;
    assert_eq!(late.json()["error"], "invalid_grant");
    b.app.stop().await;
}

async fn code_replay_is_refused_and_revokes_the_refresh_token(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let request = app_request(&b, &authorize_path(), &[]);
    let code = code_after_sign_up(&b, &mut browser, &request, &mut ann).await;
    let first = redeem(&b, &code, &request.verifier).await;
    assert_eq!(first.status, 200);
    let refresh = first.json()["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let replay = redeem(&b, &code, &request.verifier).await;
    assert_eq!(replay.status, 400);
    assert_eq!(replay.json()["error"], "invalid_grant");
    let refreshed = token(
        &b,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(
        refreshed.status, 400,
        "the first redemption's refresh token is revoked"
    );
    b.app.stop().await;
}

async fn refresh_rotates_and_reuse_revokes_the_family(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut ann = Person::new("ann");
    let (tokens, _) = sign_up(&b, &mut Browser::default(), &mut ann).await;
    let first = tokens["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let rotated = token(
        &b,
        &[("grant_type", "refresh_token"), ("refresh_token", &first)],
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let rotated = rotated.json();
    let second = rotated["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(first, second);
    let claims = verified_claims(&b, rotated["id_token"].as_str().unwrap_or_default()).await;
    assert_eq!(claims["emails"], json!(["ann@example.com"]));
    // Reusing the spent token revokes the family: the new one stops working too.
    let reuse = token(
        &b,
        &[("grant_type", "refresh_token"), ("refresh_token", &first)],
    )
    .await;
    assert_eq!(reuse.status, 400);
    assert_eq!(reuse.json()["error"], "invalid_grant");
    let after = token(
        &b,
        &[("grant_type", "refresh_token"), ("refresh_token", &second)],
    )
    .await;
    assert_eq!(after.status, 400, "{}", after.body);
    b.app.stop().await;
}

async fn msal_shapes_tfp_query_and_lowercased_policy(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let expected_issuer = b.url(&format!("/{BROKER}/{POLICY}/v2.0"));
    for path in [
        format!("/{BROKER}/{POLICY}/v2.0/.well-known/openid-configuration"),
        format!("/tfp/{BROKER}/{POLICY}/v2.0/.well-known/openid-configuration"),
        format!("/{BROKER}/b2c_1_signupsignin/v2.0/.well-known/openid-configuration"),
        format!("/{BROKER}/v2.0/.well-known/openid-configuration?p={POLICY}"),
        "/TFP/Contoso/B2C_1_SIGNUPSIGNIN/v2.0/.well-known/openid-configuration".to_owned(),
    ] {
        let reply = b
            .app
            .http
            .get(b.url(&path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reply.status(), 200, "{path}");
        assert_eq!(
            reply
                .headers()
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some("*")
        );
        let document: Value = reply.json().await.unwrap_or_default();
        assert_eq!(document["issuer"], expected_issuer, "{path}");
        for member in [
            "authorization_endpoint",
            "token_endpoint",
            "end_session_endpoint",
            "jwks_uri",
        ] {
            assert!(document[member].is_string(), "{path}: {member}");
        }
    }
    let mut browser = Browser::default();
    for prefix in [
        format!("/tfp/{BROKER}/{POLICY}/oauth2/v2.0/authorize"),
        format!("/{BROKER}/oauth2/v2.0/authorize?p={POLICY}"),
        format!("/{BROKER}/b2c_1_signupsignin/oauth2/v2.0/authorize"),
    ] {
        let request = app_request(&b, &prefix, &[]);
        let reply = browser.get(&b.app, &request.url).await;
        assert_eq!(reply.status, 303, "{prefix}: {}", reply.body);
        assert!(
            reply
                .location()
                .starts_with(&b.url("/acme/oidc/authorize?"))
        );
    }
    // A conflicting p is refused; an unknown shape is a 404.
    let conflict = browser
        .get(
            &b.app,
            &format!("/{BROKER}/{POLICY}/oauth2/v2.0/authorize?p=B2C_1_other"),
        )
        .await;
    assert_eq!(conflict.status, 400);
    let unknown = browser
        .get(&b.app, &format!("/{BROKER}/{POLICY}/nothing"))
        .await;
    assert_eq!(unknown.status, 404);
    // The whole sign-in under /tfp/; client_info=1 (MSAL) adds B2C's client_info to the token response.
    let mut ann = Person::new("ann");
    let mut browser = Browser::default();
    let request = app_request(
        &b,
        &format!("/tfp/{BROKER}/{POLICY}/oauth2/v2.0/authorize"),
        &[],
    );
    let code = code_after_sign_up(&b, &mut browser, &request, &mut ann).await;
    let tokens = token(
        &b,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REPLY),
            ("code_verifier", &request.verifier),
            ("client_info", "1"),
        ],
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let tokens = tokens.json();
    let claims = verified_claims(&b, tokens["id_token"].as_str().unwrap_or_default()).await;
    let info = B64
        .decode(tokens["client_info"].as_str().unwrap_or_default())
        .unwrap_or_default();
    let info: Value = serde_json::from_slice(&info).unwrap_or_default();
    assert_eq!(
        info["uid"],
        format!(
            "{}-b2c_1_signupsignin",
            claims["oid"].as_str().unwrap_or_default()
        )
    );
    assert_eq!(info["utid"], BROKER);
    b.app.stop().await;
}

async fn sso_session_answers_a_second_app_request_and_prompt_login_goes_upstream(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let request = app_request(&b, &authorize_path(), &[]);
    let _ = code_after_sign_up(&b, &mut browser, &request, &mut ann).await;
    // The broker session answers at once.
    let again = app_request(&b, &authorize_path(), &[]);
    let reply = browser.get(&b.app, &again.url).await;
    let code = code_at_reply_url(&reply);
    let tokens = redeem(&b, &code, &again.verifier).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    // prompt=login goes back to the provider, with prompt=login.
    let fresh = app_request(&b, &authorize_path(), &[("prompt", "login")]);
    let reply = browser.get(&b.app, &fresh.url).await;
    assert_eq!(reply.status, 303);
    let location = reply.location();
    assert!(
        location.starts_with(&b.url("/acme/oidc/authorize?")),
        "{location}"
    );
    assert_eq!(query_of(&location)["prompt"], "login");
    b.app.stop().await;
}

/// The broker's page for a broken provider: 502, no redirect (the app gets nothing), human words and the request id
/// as the reference.
fn assert_broken_provider_page(answer: &Reply) {
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert!(answer.location().is_empty(), "the app gets nothing");
    assert!(
        answer.body.contains("We could not sign you in"),
        "{}",
        answer.body
    );
    let id = answer
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        !id.is_empty() && answer.body.contains(id),
        "the reference is the request id"
    );
}

async fn broken_provider_shows_an_error_page_with_a_correlation_id(backend: Backend) {
    let Some(b) = broker_with(
        backend,
        FlowOptions {
            providers: vec!["fake"],
            ..FlowOptions::default()
        },
    )
    .await
    else {
        return;
    };
    let fake = b.fake.as_ref().unwrap_or_else(|| panic!("fake provider"));
    // A bad signature under a known kid: a page with a correlation id, never the app's reply URL.
    fake.set_signing(Signing::Forged);
    let mut browser = Browser::default();
    let request = app_request(&b, &authorize_path(), &[]);
    let answer = through_fake(&b, &mut browser, &request).await;
    assert_broken_provider_page(&answer);
    // A key rotation the broker has not seen: the JWKS is refetched once (its copy is over a minute old) and the
    // sign-in goes on.
    fake.set_signing(Signing::Rotated);
    b.app.clock.advance(time::Duration::minutes(2));
    let request = app_request(&b, &authorize_path(), &[]);
    let answer = through_fake(&b, &mut browser, &request).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.contains("value=\"pat@example.com\""),
        "prefilled from the provider"
    );
    b.app.stop().await;
}

async fn userinfo_and_logout(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let request = app_request(&b, &authorize_path(), &[]);
    let code = code_after_sign_up(&b, &mut browser, &request, &mut ann).await;
    let tokens = redeem(&b, &code, &request.verifier).await.json();
    let access = tokens["access_token"].as_str().unwrap_or_default();
    let info = b
        .app
        .http
        .get(b.url(&format!("/{BROKER}/{POLICY}/openid/v2.0/userinfo")))
        .bearer_auth(access)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.status(), 200);
    let info: Value = info.json().await.unwrap_or_default();
    assert_eq!(info["emails"], json!(["ann@example.com"]));
    let no_token = b
        .app
        .http
        .get(b.url(&format!("/{BROKER}/{POLICY}/openid/v2.0/userinfo")))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(no_token.status(), 401);
    // Logout to an unregistered URL: signed out, not redirected.
    let evil = browser
        .get(
            &b.app,
            &format!(
                "/{BROKER}/{POLICY}/oauth2/v2.0/logout?client_id={}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F",
                b.app_id
            ),
        )
        .await;
    assert_eq!(evil.status, 200, "{}", evil.body);
    assert!(evil.location().is_empty());
    assert!(evil.body.contains("You are signed out"));
    // The session is gone: the next request goes to the provider again.
    let next = app_request(&b, &authorize_path(), &[]);
    let reply = browser.get(&b.app, &next.url).await;
    assert!(
        reply
            .location()
            .starts_with(&b.url("/acme/oidc/authorize?"))
    );
    // Logout to the registered URL, with state.
    let good = browser
        .get(
            &b.app,
            &format!(
                "/{BROKER}/{POLICY}/oauth2/v2.0/logout?client_id={}&post_logout_redirect_uri=https%3A%2F%2Fjwt.ms%2Fbye&state=s1",
                b.app_id
            ),
        )
        .await;
    assert_eq!(good.status, 303);
    assert_eq!(good.location(), "https://jwt.ms/bye?state=s1");
    b.app.stop().await;
}

async fn app_form_post_and_prompt_none(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    // prompt=none without a broker session: login_required at the reply URL with the app's state, no page.
    let mut browser = Browser::default();
    let silent = app_request(&b, &authorize_path(), &[("prompt", "none")]);
    let reply = browser.get(&b.app, &silent.url).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    let query = query_of(&reply.location());
    assert_eq!(query["error"], "login_required");
    assert_eq!(query["state"], "app-state");
    // An app asking for form_post gets its code in an auto-submitting form, never in a URL.
    let mut ann = Person::new("ann");
    let request = app_request(&b, &authorize_path(), &[("response_mode", "form_post")]);
    let page = through_provider(&b, &mut browser, &request, &mut ann).await;
    let done = browser
        .submit(&b.app, &page, &[("email", "ann@example.com")])
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.location().is_empty());
    let form = done.form();
    assert_eq!(form.action, REPLY);
    assert_eq!(form.method, "post");
    let field = |name: &str| {
        form.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(field("state"), "app-state");
    assert_eq!(field("iss"), b.url(&format!("/{BROKER}/{POLICY}/v2.0")));
    let tokens = redeem(&b, &field("code"), &request.verifier).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    // With the session, prompt=none answers at once.
    let silent = app_request(&b, &authorize_path(), &[("prompt", "none")]);
    let reply = browser.get(&b.app, &silent.url).await;
    let _ = code_at_reply_url(&reply);
    b.app.stop().await;
}

async fn disabled_user_loses_session_and_refresh_token_and_cannot_sign_in(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let (tokens, _) = sign_up(&b, &mut browser, &mut ann).await;
    let claims = verified_claims(&b, tokens["id_token"].as_str().unwrap_or_default()).await;
    let oid = tessera_core::UserId::parse(claims["oid"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    tessera_service::broker::directory::disable_user(
        b.store(),
        &b.tenant,
        &oid,
        b.app.clock.now(),
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    // The refresh token is gone.
    let refreshed = token(
        &b,
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                tokens["refresh_token"].as_str().unwrap_or_default(),
            ),
        ],
    )
    .await;
    assert_eq!(refreshed.status, 400, "{}", refreshed.body);
    assert_eq!(refreshed.json()["error"], "invalid_grant");
    // The broker session is gone: the next request goes to the provider, and the provider's answer is refused at the
    // app's reply URL.
    let request = app_request(&b, &authorize_path(), &[]);
    let answer = through_provider(&b, &mut browser, &request, &mut ann).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let query = query_of(&answer.location());
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["state"], "app-state");
    // The access token no longer reads userinfo.
    let info = b
        .app
        .http
        .get(b.url(&format!("/{BROKER}/{POLICY}/openid/v2.0/userinfo")))
        .bearer_auth(tokens["access_token"].as_str().unwrap_or_default())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.status(), 401);
    b.app.stop().await;
}

// ---------------------------------------------------------------------------------------------------------------
// The operator's log lines, captured as JSON from the process's one subscriber (as `log.format = "json"` writes
// them); tests pick their own lines by the request id they got.

#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    /// The lines with `message` logged for the request whose correlation id is `correlation`.
    fn lines(&self, message: &str, correlation: &str) -> Vec<Value> {
        let text =
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["message"] == message && l["correlation"] == correlation)
            .collect()
    }
}

/// The process's one subscriber (the first caller installs it).
fn captured() -> Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let _ = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter("info")
            .with_writer(logs.clone())
            .try_init();
        logs
    })
    .clone()
}

/// The broken-provider page, then its one log line: the tenant, the provider and the failed check.
fn assert_provider_check_logged(logs: &Captured, answer: &Reply, check: &str) {
    assert_broken_provider_page(answer);
    let correlation = answer
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let lines = logs.lines("identity provider check failed", correlation);
    assert_eq!(lines.len(), 1, "one line for {correlation}: {lines:?}");
    let line = &lines[0];
    assert_eq!(line["level"], "WARN", "{line}");
    assert_eq!(line["tenant"], BROKER, "{line}");
    assert_eq!(line["provider"], "fake", "{line}");
    let logged = line["check"].as_str().unwrap_or_default();
    assert!(logged.contains(check), "the check {check:?} in {line}");
}

// ---------------------------------------------------------------------------------------------------------------
// max_age and prompt=login (OIDC Core §3.1.2.1): passed to the provider, its auth_time checked on return.

/// The app's answer at its reply URL: the OAuth error and its description, with the app's state.
fn error_at_reply_url(reply: &Reply, error: &str) -> String {
    assert_eq!(reply.status, 303, "{}", reply.body);
    let location = reply.location();
    assert!(location.starts_with(REPLY), "{location}");
    let query = query_of(&location);
    assert_eq!(
        query.get("error").map(String::as_str),
        Some(error),
        "{location}"
    );
    assert_eq!(query["state"], "app-state");
    assert!(!query.contains_key("code"));
    query.get("error_description").cloned().unwrap_or_default()
}

async fn max_age_goes_to_the_provider_and_a_stale_upstream_sign_in_is_login_required(
    backend: Backend,
) {
    let Some(b) = broker_with(
        backend,
        FlowOptions {
            providers: vec!["fake"],
            ..FlowOptions::default()
        },
    )
    .await
    else {
        return;
    };
    let fake = b.fake.as_ref().unwrap_or_else(|| panic!("fake provider"));
    let mut browser = Browser::default();
    // A provider that sends no auth_time though max_age was asked: refused (OIDC Core §3.1.2.1 requires it).
    let request = app_request(&b, &authorize_path(), &[("max_age", "60")]);
    let answer = through_fake(&b, &mut browser, &request).await;
    assert_eq!(
        fake.last_request()["max_age"],
        "60",
        "max_age goes upstream"
    );
    assert!(!fake.last_request().contains_key("prompt"));
    let description = error_at_reply_url(&answer, "login_required");
    assert!(description.contains("max_age"), "{description}");
    // An upstream sign-in an hour old, beyond max_age and the skew: refused.
    fake.behave(|f| f.auth_time_ago = Some(3600));
    let request = app_request(&b, &authorize_path(), &[("max_age", "60")]);
    let answer = through_fake(&b, &mut browser, &request).await;
    error_at_reply_url(&answer, "login_required");
    // prompt=login and an upstream sign-in from before the redirect: refused too.
    let request = app_request(&b, &authorize_path(), &[("prompt", "login")]);
    let answer = through_fake(&b, &mut browser, &request).await;
    assert_eq!(fake.last_request()["prompt"], "login");
    error_at_reply_url(&answer, "login_required");
    assert_eq!(user_count(&b).await, 0);
    // A fresh upstream sign-in passes: the attribute page of the new user.
    fake.behave(|f| f.auth_time_ago = Some(5));
    let request = app_request(&b, &authorize_path(), &[("max_age", "60")]);
    let answer = through_fake(&b, &mut browser, &request).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.contains("id=\"attribute-form\""),
        "{}",
        answer.body
    );
    b.app.stop().await;
}

async fn an_sso_session_older_than_max_age_goes_back_to_the_provider(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let request = app_request(&b, &authorize_path(), &[]);
    let _ = code_after_sign_up(&b, &mut browser, &request, &mut ann).await;
    b.app.clock.advance(time::Duration::minutes(10));
    // A session ten minutes old answers a max_age of an hour at once...
    let within = app_request(&b, &authorize_path(), &[("max_age", "3600")]);
    let _ = code_at_reply_url(&browser.get(&b.app, &within.url).await);
    // ...but not a max_age of five minutes: back to the provider, with the max_age.
    let beyond = app_request(&b, &authorize_path(), &[("max_age", "300")]);
    let reply = browser.get(&b.app, &beyond.url).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    let location = reply.location();
    assert!(
        location.starts_with(&b.url("/acme/oidc/authorize?")),
        "{location}"
    );
    assert_eq!(query_of(&location)["max_age"], "300");
    // The provider's own session is as old: it asks for the passkey again, and the app's token shows the new
    // sign-in.
    let posted = at_provider(&b, &mut browser, &location, &mut ann).await;
    let form = posted.form();
    let answer = browser.post_form(&b.app, &form.action, &form.fields).await;
    let code = code_at_reply_url(&answer);
    let tokens = redeem(&b, &code, &beyond.verifier).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let claims = verified_claims(&b, tokens.json()["id_token"].as_str().unwrap_or_default()).await;
    assert_eq!(
        claims["auth_time"],
        json!(b.app.clock.now().unix_timestamp()),
        "{claims}"
    );
    b.app.stop().await;
}

// ---------------------------------------------------------------------------------------------------------------
// MFA and conditional access over HTTP.

async fn mfa_always_passes_a_user_verified_passkey_upstream(backend: Backend) {
    let Some(b) = broker_with(
        backend,
        FlowOptions {
            mfa: MfaSetting::Always,
            ..FlowOptions::default()
        },
    )
    .await
    else {
        return;
    };
    // The test authenticator verifies the user (UV): Tessera's amr is pop, hwk/swk, user, mfa.
    let mut ann = Person::new("ann");
    let (tokens, _) = sign_up(&b, &mut Browser::default(), &mut ann).await;
    let claims = verified_claims(&b, tokens["id_token"].as_str().unwrap_or_default()).await;
    assert!(
        claims["amr"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("mfa"))),
        "{claims}"
    );
    assert_eq!(user_count(&b).await, 1);
    b.app.stop().await;
}

async fn mfa_always_asks_the_provider_and_refuses_a_single_factor_answer(backend: Backend) {
    let Some(b) = broker_with(
        backend,
        FlowOptions {
            providers: vec!["fake"],
            mfa: MfaSetting::Always,
            ..FlowOptions::default()
        },
    )
    .await
    else {
        return;
    };
    let fake = b.fake.as_ref().unwrap_or_else(|| panic!("fake provider"));
    let mut browser = Browser::default();
    // The provider is asked for its multi-factor class and answers with a password only: refused at the reply URL.
    let request = app_request(&b, &authorize_path(), &[]);
    let answer = through_fake(&b, &mut browser, &request).await;
    assert_eq!(
        fake.last_request().get("acr_values").map(String::as_str),
        Some(PAPE_MFA)
    );
    let description = error_at_reply_url(&answer, "access_denied");
    assert!(description.contains("multi-factor"), "{description}");
    assert_eq!(user_count(&b).await, 0);
    // A password and a one-time code are two factors: accepted.
    fake.behave(|f| f.amr = vec!["pwd", "otp"]);
    let request = app_request(&b, &authorize_path(), &[]);
    let answer = through_fake(&b, &mut browser, &request).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.contains("id=\"attribute-form\""),
        "{}",
        answer.body
    );
    b.app.stop().await;
}

/// Signs `ann` in at the authenticator service with a passkey that did not verify the user (single-factor
/// upstream: amr without `mfa`), and puts the provider's session cookie in a new browser.
async fn browser_with_single_factor_provider_session(b: &Broker) -> Browser {
    let user = b.app.create_user("ann").await;
    let facts = tessera_oidc::id_token::AuthenticationFacts {
        user_verified: false,
        backup_eligible: true,
        attestation_trusted: false,
    };
    let (cookie, _) = b.app.sign_in_with(&user, facts).await;
    let mut browser = Browser::default();
    if let Some((name, value)) = cookie.split_once('=') {
        browser.cookies.insert(name.to_owned(), value.to_owned());
    }
    browser
}

async fn conditional_mfa_applies_only_where_a_require_mfa_rule_decides(backend: Backend) {
    let Some(b) = broker_with(
        backend,
        FlowOptions {
            providers: vec!["acme", "fake"],
            mfa: MfaSetting::Conditional,
            rules: vec![AccessRule {
                name: "password provider needs mfa".into(),
                applications: Vec::new(),
                identity_providers: vec![
                    ProviderId::parse("fake").unwrap_or_else(|e| panic!("{e}")),
                ],
                action: AccessAction::RequireMfa,
            }],
            ..FlowOptions::default()
        },
    )
    .await
    else {
        return;
    };
    let fake = b.fake.as_ref().unwrap_or_else(|| panic!("fake provider"));
    // The rule matches the password provider: asked, then refused.
    let mut browser = Browser::default();
    let request = app_request(&b, &authorize_path(), &[("idp", "fake")]);
    let answer = through_fake(&b, &mut browser, &request).await;
    assert_eq!(
        fake.last_request().get("acr_values").map(String::as_str),
        Some(PAPE_MFA)
    );
    let description = error_at_reply_url(&answer, "access_denied");
    assert!(description.contains("multi-factor"), "{description}");
    // No rule matches the authenticator service: a single-factor sign-in there passes (conditional is not always).
    let mut browser = browser_with_single_factor_provider_session(&b).await;
    let mut ann = Person::new("ann");
    let request = app_request(&b, &authorize_path(), &[("idp", "acme")]);
    let start = browser.get(&b.app, &request.url).await;
    assert!(
        !query_of(&start.location()).contains_key("acr_values"),
        "nothing asked where no rule requires it: {}",
        start.location()
    );
    let page = through_provider(&b, &mut browser, &request, &mut ann).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"attribute-form\""), "{}", page.body);
    b.app.stop().await;
}

async fn block_and_allow_rules_decide_at_the_reply_url(backend: Backend) {
    let Some(b) = broker_with(
        backend,
        FlowOptions {
            providers: vec!["acme", "fake"],
            rules: vec![
                AccessRule {
                    name: "passkeys welcome".into(),
                    applications: Vec::new(),
                    identity_providers: vec![
                        ProviderId::parse("acme").unwrap_or_else(|e| panic!("{e}")),
                    ],
                    action: AccessAction::Allow,
                },
                AccessRule {
                    name: "nothing else".into(),
                    applications: Vec::new(),
                    identity_providers: Vec::new(),
                    action: AccessAction::Block,
                },
            ],
            ..FlowOptions::default()
        },
    )
    .await
    else {
        return;
    };
    let mut browser = Browser::default();
    let request = app_request(&b, &authorize_path(), &[("idp", "fake")]);
    let answer = through_fake(&b, &mut browser, &request).await;
    let description = error_at_reply_url(&answer, "access_denied");
    assert!(description.contains("nothing else"), "{description}");
    assert_eq!(user_count(&b).await, 0);
    // The allow rule comes first for the authenticator service: the sign-in goes on.
    let mut ann = Person::new("ann");
    let request = app_request(&b, &authorize_path(), &[("idp", "acme")]);
    let code = code_after_sign_up(&b, &mut browser, &request, &mut ann).await;
    assert_eq!(redeem(&b, &code, &request.verifier).await.status, 200);
    // The session answers later requests, and the rules still apply to them: the allow rule again.
    let again = app_request(&b, &authorize_path(), &[]);
    let _ = code_at_reply_url(&browser.get(&b.app, &again.url).await);
    b.app.stop().await;
}

// ---------------------------------------------------------------------------------------------------------------
// A broken provider at sign-in: the page with a correlation id and one log line naming the check.

async fn a_provider_down_a_wrong_issuer_or_a_broken_jwks_at_sign_in_shows_the_page_and_logs_the_check(
    backend: Backend,
) {
    let logs = captured();
    let Some(b) = broker_with(
        backend,
        FlowOptions {
            providers: vec!["fake"],
            ..FlowOptions::default()
        },
    )
    .await
    else {
        return;
    };
    let fake = b.fake.as_ref().unwrap_or_else(|| panic!("fake provider"));
    let mut browser = Browser::default();
    // An ID token from another issuer.
    fake.behave(|f| f.issuer = Some("https://evil.example".into()));
    let request = app_request(&b, &authorize_path(), &[]);
    let answer = through_fake(&b, &mut browser, &request).await;
    assert_provider_check_logged(
        &logs,
        &answer,
        "the ID token's iss https://evil.example is not",
    );
    fake.behave(|f| f.issuer = None);
    // A new key the broker has not seen, and the provider's key document broken when the broker fetches it again.
    fake.set_signing(Signing::Rotated);
    fake.behave(|f| f.jwks_broken = true);
    b.app.clock.advance(time::Duration::minutes(2));
    let request = app_request(&b, &authorize_path(), &[]);
    let answer = through_fake(&b, &mut browser, &request).await;
    assert_provider_check_logged(
        &logs,
        &answer,
        "the JWKS is not a JSON object with a keys array",
    );
    fake.set_signing(Signing::Honest);
    fake.behave(|f| f.jwks_broken = false);
    // The provider goes down while the user is there: its token endpoint does not answer.
    let request = app_request(&b, &authorize_path(), &[]);
    let start = browser.get(&b.app, &request.url).await;
    let back = browser.get(&b.app, &start.location()).await;
    assert_eq!(back.status, 303, "{}", back.body);
    fake.go_down().await;
    let answer = browser.get(&b.app, &back.location()).await;
    assert_provider_check_logged(&logs, &answer, "/token: ");
    assert_eq!(user_count(&b).await, 0);
    b.app.stop().await;
}

// ---------------------------------------------------------------------------------------------------------------
// Existing behaviour, end to end.

async fn a_sign_in_finishes_on_the_flow_version_it_started_with(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let policy = PolicyId::parse(POLICY).unwrap_or_else(|e| panic!("{e}"));
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let request = app_request(&b, &authorize_path(), &[]);
    let start = browser.get(&b.app, &request.url).await;
    // While the user is at the provider, the operator revises the flow: collect the display name instead of the
    // email, and put neither the email nor the object id in tokens.
    let v1 = tessera_service::broker::flows::get_user_flow(b.store(), &b.tenant, &policy)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut v2 = v1.current().settings().clone();
    v2.user_attributes = vec![CollectedAttribute {
        attribute: UserAttribute::DisplayName,
        required: true,
    }];
    v2.application_claims = vec![ApplicationClaim::DisplayName];
    tessera_service::broker::flows::revise_user_flow(
        b.store(),
        &b.tenant,
        &policy,
        1,
        v2,
        b.app.clock.now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    // As the admin API does after a change: this node reads the flow again.
    b.app.state.broker.cache.invalidate(&b.tenant);
    let posted = at_provider(&b, &mut browser, &start.location(), &mut ann).await;
    let form = posted.form();
    let page = browser.post_form(&b.app, &form.action, &form.fields).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("name=\"email\""),
        "version 1's attributes: {}",
        page.body
    );
    assert!(
        !page.body.contains("name=\"display_name\""),
        "{}",
        page.body
    );
    let done = browser
        .submit(&b.app, &page, &[("email", "ann@example.com")])
        .await;
    let code = code_at_reply_url(&done);
    let tokens = redeem(&b, &code, &request.verifier).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let claims = verified_claims(&b, tokens.json()["id_token"].as_str().unwrap_or_default()).await;
    assert_eq!(
        claims["emails"],
        json!(["ann@example.com"]),
        "version 1's claims"
    );
    assert!(claims["oid"].is_string(), "{claims}");
    // A sign-in started now runs on version 2.
    let mut bob = Person::new("bob");
    let request = app_request(&b, &authorize_path(), &[]);
    let page = through_provider(&b, &mut Browser::default(), &request, &mut bob).await;
    assert!(page.body.contains("name=\"display_name\""), "{}", page.body);
    assert!(!page.body.contains("name=\"email\""), "{}", page.body);
    b.app.stop().await;
}

async fn sso_across_two_applications_of_the_tenant(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let (second, _) = b
        .register_app("Second app", ClientType::Public, SigningAlg::Rs256)
        .await;
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let (first, _) = sign_up(&b, &mut browser, &mut ann).await;
    let first = verified_claims(&b, first["id_token"].as_str().unwrap_or_default()).await;
    // The second app's request is answered from the broker session: a code at once, no provider.
    let request = request_for(&second, &authorize_path(), &[]);
    let reply = browser.get(&b.app, &request.url).await;
    let code = code_at_reply_url(&reply);
    let mut fields = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REPLY),
        ("code_verifier", request.verifier.as_str()),
        ("client_id", second.as_str()),
    ];
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields.drain(..))
        .finish();
    let tokens = b
        .app
        .http
        .post(b.url(&format!("/{BROKER}/{POLICY}/oauth2/v2.0/token")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tokens.status(), 200);
    let tokens: Value = tokens.json().await.unwrap_or_default();
    let claims = verified_claims(&b, tokens["id_token"].as_str().unwrap_or_default()).await;
    assert_eq!(claims["aud"], second.as_str());
    assert_eq!(claims["sub"], first["sub"], "the same directory user");
    assert!(claims.get("newUser").is_none(), "{claims}");
    // The first app's code cannot be redeemed by the second app.
    let other = request_for(&second, &authorize_path(), &[]);
    let code = code_at_reply_url(&browser.get(&b.app, &other.url).await);
    let stolen = redeem(&b, &code, &other.verifier).await;
    assert_eq!(stolen.status, 400, "{}", stolen.body);
    assert_eq!(stolen.json()["error"], "invalid_grant");
    b.app.stop().await;
}

async fn a_long_passkey_prompt_completes_and_one_beyond_the_transaction_lifetime_is_a_clear_error(
    backend: Backend,
) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut ann = Person::new("ann");
    // Five minutes at the provider (a slow passkey prompt): the sign-in goes on.
    let mut browser = Browser::default();
    let request = app_request(&b, &authorize_path(), &[]);
    let start = browser.get(&b.app, &request.url).await;
    b.app.clock.advance(time::Duration::minutes(5));
    let posted = at_provider(&b, &mut browser, &start.location(), &mut ann).await;
    let form = posted.form();
    let page = browser.post_form(&b.app, &form.action, &form.fields).await;
    assert!(page.body.contains("id=\"attribute-form\""), "{}", page.body);
    let done = browser
        .submit(&b.app, &page, &[("email", "ann@example.com")])
        .await;
    let _ = code_at_reply_url(&done);
    // Sixteen minutes, beyond the broker's 15-minute transaction: a clear page, nothing for the app.
    let mut browser = Browser::default();
    let request = app_request(&b, &authorize_path(), &[]);
    let start = browser.get(&b.app, &request.url).await;
    b.app.clock.advance(time::Duration::minutes(16));
    let posted = at_provider(&b, &mut browser, &start.location(), &mut ann).await;
    let form = posted.form();
    let late = browser.post_form(&b.app, &form.action, &form.fields).await;
    assert_eq!(late.status, 400, "{}", late.body);
    assert!(
        late.body.contains("This sign-in has expired"),
        "{}",
        late.body
    );
    assert!(late.location().is_empty());
    b.app.stop().await;
}

async fn authorize_by_post_is_answered_with_a_303_to_get(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let request = app_request(&b, &authorize_path(), &[]);
    let query = request
        .url
        .split_once('?')
        .map(|(_, q)| q.to_owned())
        .unwrap_or_default();
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let mut browser = Browser::default();
    let posted = browser.post_form(&b.app, &authorize_path(), &fields).await;
    assert_eq!(posted.status, 303, "{}", posted.body);
    let location = posted.location();
    assert!(location.starts_with(&authorize_path()), "{location}");
    let carried = query_of(&absolute(&b.app, &location));
    assert_eq!(carried["client_id"], b.app_id);
    assert_eq!(carried["state"], "app-state");
    assert_eq!(carried["redirect_uri"], REPLY);
    // Following it is the GET sign-in: to the provider.
    let next = browser.get(&b.app, &location).await;
    assert_eq!(next.status, 303, "{}", next.body);
    assert!(
        next.location().starts_with(&b.url("/acme/oidc/authorize?")),
        "{}",
        next.location()
    );
    b.app.stop().await;
}

async fn a_confidential_app_redeems_with_client_secret_basic_and_post_and_a_wrong_secret_is_invalid_client(
    backend: Backend,
) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let (id, secret) = b
        .register_app("Web app", ClientType::Confidential, SigningAlg::Rs256)
        .await;
    let secret = secret.unwrap_or_else(|| panic!("a confidential app has a secret"));
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let request = request_for(&id, &authorize_path(), &[]);
    let code = code_after_sign_up(&b, &mut browser, &request, &mut ann).await;
    // A wrong secret, either way: invalid_client, 401.
    for auth in [
        ClientAuth::Basic {
            id: &id,
            secret: "wrong",
        },
        ClientAuth::Post {
            id: &id,
            secret: "wrong",
        },
    ] {
        let refused = redeem_as(&b, auth, &code, &request.verifier).await;
        assert_eq!(refused.status, 401, "{}", refused.body);
        assert_eq!(refused.json()["error"], "invalid_client");
    }
    let tokens = redeem_as(
        &b,
        ClientAuth::Basic {
            id: &id,
            secret: &secret,
        },
        &code,
        &request.verifier,
    )
    .await;
    assert_eq!(tokens.status, 200, "client_secret_basic: {}", tokens.body);
    let claims = verified_claims(&b, tokens.json()["id_token"].as_str().unwrap_or_default()).await;
    assert_eq!(claims["aud"], id.as_str());
    let again = request_for(&id, &authorize_path(), &[]);
    let code = code_at_reply_url(&browser.get(&b.app, &again.url).await);
    let tokens = redeem_as(
        &b,
        ClientAuth::Post {
            id: &id,
            secret: &secret,
        },
        &code,
        &again.verifier,
    )
    .await;
    assert_eq!(tokens.status, 200, "client_secret_post: {}", tokens.body);
    // Without any secret, a confidential app's code is not redeemed.
    let third = request_for(&id, &authorize_path(), &[]);
    let code = code_at_reply_url(&browser.get(&b.app, &third.url).await);
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REPLY),
            ("code_verifier", third.verifier.as_str()),
            ("client_id", id.as_str()),
        ])
        .finish();
    let bare = b
        .app
        .http
        .post(b.url(&format!("/{BROKER}/{POLICY}/oauth2/v2.0/token")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bare.status(), 401);
    b.app.stop().await;
}

async fn an_es256_app_gets_an_es256_id_token_verified_with_the_broker_jwks(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let (id, secret) = b
        .register_app("ES256 app", ClientType::Confidential, SigningAlg::Es256)
        .await;
    let secret = secret.unwrap_or_else(|| panic!("secret"));
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let request = request_for(&id, &authorize_path(), &[]);
    let code = code_after_sign_up(&b, &mut browser, &request, &mut ann).await;
    let tokens = redeem_as(
        &b,
        ClientAuth::Basic {
            id: &id,
            secret: &secret,
        },
        &code,
        &request.verifier,
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let id_token = tokens.json()["id_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let header = id_token.split('.').next().unwrap_or_default();
    let header: Value =
        serde_json::from_slice(&B64.decode(header).unwrap_or_default()).unwrap_or_default();
    assert_eq!(header["alg"], "ES256", "{header}");
    let claims = verified_claims(&b, &id_token).await;
    assert_eq!(claims["aud"], id.as_str());
    // The key that verified it is the JWKS's EC key named by the header.
    let jwks: Value = b
        .app
        .http
        .get(b.url(&format!("/{BROKER}/{POLICY}/discovery/v2.0/keys")))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    let key = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == header["kid"]))
        .cloned()
        .unwrap_or_else(|| panic!("the kid {} in {jwks}", header["kid"]));
    assert_eq!(key["kty"], "EC", "{key}");
    assert_eq!(key["crv"], "P-256", "{key}");
    b.app.stop().await;
}

async fn custom_typed_attributes_are_collected_stored_and_returned_as_extension_claims(
    backend: Backend,
) {
    let Some(b) = broker_with(
        backend,
        FlowOptions {
            custom_attributes: true,
            ..FlowOptions::default()
        },
    )
    .await
    else {
        return;
    };
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let request = app_request(&b, &authorize_path(), &[]);
    let page = through_provider(&b, &mut browser, &request, &mut ann).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for expected in [
        "type=\"number\" id=\"field-extension_loyaltyNumber\" name=\"extension_loyaltyNumber\"",
        "type=\"checkbox\" id=\"field-extension_newsletter\" name=\"extension_newsletter\" value=\"true\"",
        "type=\"text\" id=\"field-extension_nickname\" name=\"extension_nickname\"",
        "Your loyaltyNumber",
    ] {
        assert!(page.body.contains(expected), "{expected}: {}", page.body);
    }
    // Not a whole number, not true/false: refused, each named.
    let refused = browser
        .submit(
            &b.app,
            &page,
            &[
                ("email", "ann@example.com"),
                ("extension_loyaltyNumber", "forty-two"),
                ("extension_newsletter", "yes"),
                ("extension_nickname", "Annie"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("Your loyaltyNumber must be a whole number."),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("Tick or untick Your newsletter."));
    assert_eq!(user_count(&b).await, 0);
    let done = browser
        .submit(
            &b.app,
            &refused,
            &[
                ("email", "ann@example.com"),
                ("extension_loyaltyNumber", "42"),
                ("extension_newsletter", "true"),
                ("extension_nickname", "Annie"),
            ],
        )
        .await;
    let code = code_at_reply_url(&done);
    let tokens = redeem(&b, &code, &request.verifier).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let claims = verified_claims(&b, tokens.json()["id_token"].as_str().unwrap_or_default()).await;
    assert_eq!(claims["extension_loyaltyNumber"], json!(42), "{claims}");
    assert_eq!(claims["extension_newsletter"], json!(true), "{claims}");
    assert_eq!(claims["extension_nickname"], json!("Annie"), "{claims}");
    // Stored typed in the directory.
    let users = b
        .store()
        .search_directory_users(&b.tenant, "ann@", None, None, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .users;
    assert_eq!(users.len(), 1);
    let custom = &users[0].custom;
    assert_eq!(custom["loyaltyNumber"], json!(42), "{custom}");
    assert_eq!(custom["newsletter"], json!(true), "{custom}");
    assert_eq!(custom["nickname"], json!("Annie"), "{custom}");
    b.app.stop().await;
}

async fn run6_a_failed_passkey_upstream_reaches_the_app_as_an_oauth_error(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    // Ann signed up earlier; today her authenticator's signature does not verify.
    let mut ann = Person::new("ann");
    let _ = sign_up(&b, &mut Browser::default(), &mut ann).await;
    ann.authenticator =
        ann.authenticator
            .clone()
            .with_overrides(tessera_testkit::malicious::Overrides {
                corrupt_signature: true,
                ..Default::default()
            });
    let mut browser = Browser::default();
    let request = app_request(&b, &authorize_path(), &[]);
    let start = browser.get(&b.app, &request.url).await;
    let at_op = browser.get(&b.app, &start.location()).await;
    assert_eq!(at_op.status, 303, "{}", at_op.body);
    let login = at_op.location();
    let (op_base, authz) = login
        .split_once("/login?authz=")
        .unwrap_or_else(|| panic!("the provider's sign-in page: {login}"));
    let (op_base, authz) = (op_base.to_owned(), authz.to_owned());
    let page = browser.get(&b.app, &login).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("error=access_denied"),
        "the page lets the user give up: {}",
        page.body
    );
    let options = browser
        .post_json(
            &b.app,
            &format!("{op_base}/webauthn/login/options"),
            &json!({"username": "ann", "authz": authz}),
        )
        .await;
    assert_eq!(options.status, 200, "{}", options.body);
    let options = options.json();
    let credential = ann
        .credential
        .as_ref()
        .unwrap_or_else(|| panic!("credential"));
    let response = ann
        .authenticator
        .authenticate(&options["publicKey"].to_string(), &b.app.base, credential)
        .unwrap_or_else(|e| panic!("{e}"));
    let failed = browser
        .post_json(
            &b.app,
            &format!("{op_base}/webauthn/login/verify"),
            &json!({"ceremony": options["ceremony"], "credential": serde_json::from_str::<Value>(&response).unwrap_or_default()}),
        )
        .await;
    assert!(
        (400..500).contains(&failed.status),
        "the assertion is refused: {} {}",
        failed.status,
        failed.body
    );
    // Resuming without a sign-in does not pass: back to the provider's sign-in page (with a fresh ceremony).
    let resumed = browser
        .get(
            &b.app,
            &format!("{op_base}/oidc/authorize/resume?authz={authz}"),
        )
        .await;
    assert_eq!(
        resumed.status, 303,
        "no form_post to the broker: {}",
        resumed.body
    );
    let again = resumed.location();
    let (_, authz) = again
        .split_once("/login?authz=")
        .unwrap_or_else(|| panic!("back at the sign-in page: {again}"));
    // The user gives up: the app hears access_denied at its reply URL, with its state.
    let posted = browser
        .get(
            &b.app,
            &format!("{op_base}/oidc/authorize/resume?authz={authz}&error=access_denied"),
        )
        .await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    let form = posted.form();
    let answer = browser.post_form(&b.app, &form.action, &form.fields).await;
    error_at_reply_url(&answer, "access_denied");
    b.app.stop().await;
}

// ---------------------------------------------------------------------------------------------------------------
// Federation with an OpenID provider not written here: panva's `oidc-provider` from npm
// (`e2e/fixtures/oidc-provider-upstream.mjs`), started by the test on loopback, its own login and consent pages
// driven over HTTP.

/// The npm package `package` and node are installed (`npm ci` in e2e/); prints `SKIPPED(node-deps)` otherwise.
fn node_deps(test: &str, package: &str) -> bool {
    let modules = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../e2e/node_modules")
        .join(package);
    let node = std::process::Command::new("node").arg("--version").output();
    if node.is_ok_and(|o| o.status.success()) && modules.exists() {
        return true;
    }
    eprintln!("SKIPPED(node-deps): {test} (needs node and `npm ci` in e2e/)");
    false
}

/// A running `oidc-provider`; killed (by its pid) when dropped.
struct OidcProvider {
    child: std::process::Child,
    issuer: String,
    metadata_url: String,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the upstream client is set up, for [`OidcProvider::start`].
struct UpstreamSetup {
    secret_at_provider: &'static str,
    auth: UpstreamClientAuth,
    /// `id_token`: the scopes' claims are in the ID token; `userinfo`: only in userinfo.
    claims_in: &'static str,
}

const UPSTREAM_CLIENT: &str = "tessera-broker";
const UPSTREAM_SECRET: &str = "upstream-secret-0123456789abcdef";

impl OidcProvider {
    async fn start(b: &Broker, setup: &UpstreamSetup) -> Self {
        use std::io::BufRead;
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../e2e/fixtures/oidc-provider-upstream.mjs"
        );
        let auth = match setup.auth {
            UpstreamClientAuth::ClientSecretPost => "client_secret_post",
            _ => "client_secret_basic",
        };
        let mut child = std::process::Command::new("node")
            .arg(script)
            .env("UPSTREAM_CLIENT_ID", UPSTREAM_CLIENT)
            .env("UPSTREAM_CLIENT_SECRET", setup.secret_at_provider)
            .env(
                "UPSTREAM_REDIRECT_URI",
                b.url(&format!("/{BROKER}/oauth2/authresp")),
            )
            .env("UPSTREAM_AUTH_METHOD", auth)
            .env("UPSTREAM_CLAIMS_IN", setup.claims_in)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("node: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("stdout"));
        let line = tokio::task::spawn_blocking(move || {
            let mut reader = std::io::BufReader::new(stdout);
            let mut line = String::new();
            let read = reader.read_line(&mut line).map(|_| line);
            // The pipe stays open (a write to a closed stdout would end node with EPIPE): drained until node ends.
            std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
            read
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("oidc-provider's first line: {e}"));
        let started: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("oidc-provider did not start ({e}): {line:?}"));
        Self {
            child,
            issuer: started["issuer"].as_str().unwrap_or_default().to_owned(),
            metadata_url: started["metadata_url"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }
    }

    /// How often the broker called the provider's userinfo and token endpoints.
    async fn stats(&self, b: &Broker) -> Value {
        b.app
            .http
            .get(format!("{}/_test/stats", self.issuer))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// The broker with tenant `contoso`, `oidc-provider` saved as identity provider `upstream` by its metadata URL (the
/// secret the broker holds: [`UPSTREAM_SECRET`]), a flow offering only it, and the app.
/// `None` (the test returns) without node and `npm ci` in e2e/, or without PostgreSQL for `Backend::Postgres`.
async fn broker_with_oidc_provider(
    test: &str,
    backend: Backend,
    setup: UpstreamSetup,
    response_mode: ResponseMode,
) -> Option<(Broker, OidcProvider)> {
    if !node_deps(test, "oidc-provider") {
        return None;
    }
    let app = spawn_app(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await?;
    let mut b = Broker {
        app,
        tenant: TenantId::parse(BROKER).unwrap_or_else(|e| panic!("{e}")),
        fake: None,
        app_id: String::new(),
    };
    b.create_tenant().await;
    let upstream = OidcProvider::start(&b, &setup).await;
    let provider = IdentityProvider {
        id: ProviderId::parse("upstream").unwrap_or_else(|e| panic!("{e}")),
        name: "oidc-provider".into(),
        metadata_url: MetadataUrl::parse(&upstream.metadata_url).unwrap_or_else(|e| panic!("{e}")),
        client_id: UPSTREAM_CLIENT.into(),
        client_auth: setup.auth,
        scope: vec!["openid".into(), "profile".into(), "email".into()],
        response_type: Default::default(),
        response_mode,
        claim_mapping: ClaimMapping::default(),
        domain_hint: None,
    };
    b.save_provider(&provider, UPSTREAM_SECRET).await;
    b.add_flow(FlowOptions {
        providers: vec!["upstream"],
        ..FlowOptions::default()
    })
    .await;
    b.add_application().await;
    Some((b, upstream))
}

/// `location` resolved against `base` (oidc-provider sends relative `Location`s).
fn resolve(base: &str, location: &str) -> String {
    url::Url::parse(base)
        .and_then(|u| u.join(location))
        .unwrap_or_else(|e| panic!("{e}: {location}"))
        .to_string()
}

/// From the broker's redirect to oidc-provider through its login page (as `login`) and its consent page, to its
/// answer addressed to the broker: the `form_post` page (200) or the redirect to `authresp` (303). `browser` holds
/// the cookies of the provider's host only, as a browser keeps them apart from the broker's.
async fn at_oidc_provider(b: &Broker, browser: &mut Browser, start: &str, login: &str) -> Reply {
    let authresp = b.url(&format!("/{BROKER}/oauth2/authresp"));
    let mut url = start.to_owned();
    let mut prompts = Vec::new();
    for _ in 0..12 {
        let reply = browser.get(&b.app, &url).await;
        match reply.status {
            302 | 303 => {
                let next = resolve(&url, &reply.location());
                if next.starts_with(&authresp) {
                    return reply;
                }
                url = next;
            }
            200 if reply.body.contains(&format!("action=\"{authresp}\"")) => return reply,
            200 => {
                let form = reply.form();
                let prompt = form
                    .fields
                    .iter()
                    .find(|(k, _)| k == "prompt")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| panic!("an interaction page: {}", reply.body));
                let mut fields = form.fields.clone();
                if prompt == "login" {
                    fields.push(("login".into(), login.into()));
                    fields.push(("password".into(), "any password".into()));
                }
                prompts.push(prompt);
                let action = resolve(&url, &form.action);
                let posted = browser.post_form(&b.app, &action, &fields).await;
                assert!(
                    matches!(posted.status, 302 | 303),
                    "{}: {}",
                    posted.status,
                    posted.body
                );
                url = resolve(&action, &posted.location());
            }
            status => panic!("oidc-provider answered {status}: {}", reply.body),
        }
    }
    panic!("no answer for the broker after the prompts {prompts:?}");
}

/// The app's request → the broker → oidc-provider's pages → the broker's answer at `authresp`.
async fn through_oidc_provider(
    b: &Broker,
    browser: &mut Browser,
    upstream: &OidcProvider,
    request: &AppRequest,
    login: &str,
) -> Reply {
    let start = browser.get(&b.app, &request.url).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let location = start.location();
    assert!(
        location.starts_with(&format!("{}/auth?", upstream.issuer)),
        "straight to the one provider: {location}"
    );
    let query = query_of(&location);
    assert_eq!(query["client_id"], UPSTREAM_CLIENT);
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(query.contains_key("nonce") && query.contains_key("state"));
    let mut at_provider = Browser::default();
    let answer = at_oidc_provider(b, &mut at_provider, &location, login).await;
    if answer.status == 200 {
        let form = answer.form();
        assert_eq!(form.method, "post");
        assert!(
            form.fields
                .iter()
                .any(|(k, v)| k == "iss" && *v == upstream.issuer),
            "RFC 9207 iss in the response: {:?}",
            form.fields
        );
        browser.post_form(&b.app, &form.action, &form.fields).await
    } else {
        let authresp = answer.location();
        assert_eq!(query_of(&authresp)["iss"], upstream.issuer);
        browser.get(&b.app, &authresp).await
    }
}

/// A fresh browser (no broker or provider session) through oidc-provider as `login`: the app's request, the browser
/// and the broker's answer.
async fn fresh_sign_in(
    b: &Broker,
    upstream: &OidcProvider,
    login: &str,
) -> (AppRequest, Browser, Reply) {
    let mut browser = Browser::default();
    let request = app_request(b, &authorize_path(), &[]);
    let answer = through_oidc_provider(b, &mut browser, upstream, &request, login).await;
    (request, browser, answer)
}

/// The code at the app's reply URL, redeemed: the verified claims of the app's ID token.
async fn app_claims(b: &Broker, at_reply_url: &Reply, request: &AppRequest) -> Value {
    let code = code_at_reply_url(at_reply_url);
    let tokens = redeem(b, &code, &request.verifier).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    verified_claims(b, tokens.json()["id_token"].as_str().unwrap_or_default()).await
}

async fn oidc_provider_form_post_sign_up_then_sign_in(backend: Backend) {
    let setup = UpstreamSetup {
        secret_at_provider: UPSTREAM_SECRET,
        auth: UpstreamClientAuth::ClientSecretBasic,
        claims_in: "id_token",
    };
    let Some((b, upstream)) = broker_with_oidc_provider(
        "oidc_provider_form_post_sign_up_then_sign_in",
        backend,
        setup,
        ResponseMode::FormPost,
    )
    .await
    else {
        return;
    };
    // Sign-up: the attribute page, prefilled from the provider's ID token; nothing written before it is sent.
    let (request, mut browser, page) = fresh_sign_in(&b, &upstream, "alice").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Complete your profile"), "{}", page.body);
    assert!(
        page.body.contains("value=\"alice@upstream.example\""),
        "the email is prefilled from the provider: {}",
        page.body
    );
    assert_eq!(user_count(&b).await, 0);
    // The form's answer redirects to the app (another origin), which browsers hold to the page's form-action.
    assert!(
        csp_of(&page).contains("form-action 'self' https://jwt.ms;"),
        "{}",
        csp_of(&page)
    );
    let done = browser.submit(&b.app, &page, &[]).await;
    let claims = app_claims(&b, &done, &request).await;
    assert_eq!(claims["idp"], upstream.issuer, "{claims}");
    assert_eq!(claims["emails"], json!(["alice@upstream.example"]));
    assert_eq!(claims["name"], "Alice Upstream");
    assert_eq!(claims["newUser"], true);
    assert_eq!(claims["sub"], claims["oid"]);
    assert_eq!(claims["nonce"], "app-nonce");
    assert_eq!(claims["tfp"], POLICY);
    let users = b
        .store()
        .search_directory_users(&b.tenant, "alice@", None, None, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .users;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].object_id.as_str(), claims["oid"]);
    assert_eq!(users[0].identities[0].issuer, upstream.issuer);
    assert_eq!(users[0].identities[0].subject, "alice");
    assert_eq!(
        upstream.stats(&b).await,
        json!({"userinfo": 0, "token": 1}),
        "every mapped claim was in the ID token: no userinfo call"
    );

    // Sign-in later, in a fresh browser (no broker or provider session): no attribute page, the same user.
    let (request, _, answer) = fresh_sign_in(&b, &upstream, "alice").await;
    let again = app_claims(&b, &answer, &request).await;
    assert_eq!(again["oid"], claims["oid"], "the same directory user");
    assert_eq!(again["idp"], upstream.issuer);
    assert_eq!(again["emails"], json!(["alice@upstream.example"]));
    assert_eq!(
        again["newUser"],
        Value::Null,
        "new-user flag on sign-up only"
    );
    assert_eq!(user_count(&b).await, 1);
    b.app.stop().await;
}

async fn oidc_provider_query_mode_maps_claims_from_userinfo(backend: Backend) {
    let setup = UpstreamSetup {
        secret_at_provider: UPSTREAM_SECRET,
        auth: UpstreamClientAuth::ClientSecretPost,
        claims_in: "userinfo",
    };
    let Some((b, upstream)) = broker_with_oidc_provider(
        "oidc_provider_query_mode_maps_claims_from_userinfo",
        backend,
        setup,
        ResponseMode::Query,
    )
    .await
    else {
        return;
    };
    let (request, mut browser, page) = fresh_sign_in(&b, &upstream, "bob").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("value=\"bob@upstream.example\""),
        "the email, only in userinfo, is prefilled: {}",
        page.body
    );
    assert_eq!(
        upstream.stats(&b).await,
        json!({"userinfo": 1, "token": 1}),
        "the ID token lacked the mapped claims: one userinfo call"
    );
    let done = browser.submit(&b.app, &page, &[]).await;
    let claims = app_claims(&b, &done, &request).await;
    assert_eq!(
        claims["emails"],
        json!(["bob@upstream.example"]),
        "{claims}"
    );
    assert_eq!(claims["name"], "Bob Upstream");
    assert_eq!(claims["idp"], upstream.issuer);
    assert_eq!(claims["newUser"], true);
    b.app.stop().await;
}

async fn oidc_provider_wrong_client_secret_is_an_error_page_with_a_correlation_id(
    backend: Backend,
) {
    // The provider knows another secret than the one the broker holds: its token endpoint refuses the broker.
    let setup = UpstreamSetup {
        secret_at_provider: "the-provider-knows-another-secret",
        auth: UpstreamClientAuth::ClientSecretBasic,
        claims_in: "id_token",
    };
    let Some((b, upstream)) = broker_with_oidc_provider(
        "oidc_provider_wrong_client_secret_is_an_error_page_with_a_correlation_id",
        backend,
        setup,
        ResponseMode::FormPost,
    )
    .await
    else {
        return;
    };
    let (_, _, answer) = fresh_sign_in(&b, &upstream, "carol").await;
    assert_broken_provider_page(&answer);
    assert!(!answer.body.contains("code="), "no code for the app");
    assert_eq!(
        upstream.stats(&b).await["token"],
        1,
        "the broker tried once"
    );
    assert_eq!(user_count(&b).await, 0);
    b.app.stop().await;
}

// ---------------------------------------------------------------------------------------------------------------
// MSAL interop: Microsoft's @azure/msal-node, configured exactly as for a B2C tenant, signs in through the broker.

/// A CA and a `localhost` certificate it signed (Node trusts the CA through `NODE_EXTRA_CA_CERTS`).
fn test_pki(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PKCS_ECDSA_P256_SHA256,
    };
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap_or_else(|e| panic!("{e}"));
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
    ca.distinguished_name
        .push(DnType::CommonName, "Tessera Test TLS Root");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap_or_else(|e| panic!("{e}"));
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap_or_else(|e| panic!("{e}"));
    let mut leaf =
        CertificateParams::new(vec!["localhost".to_owned()]).unwrap_or_else(|e| panic!("{e}"));
    leaf.is_ca = IsCa::ExplicitNoCa;
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .unwrap_or_else(|e| panic!("{e}"));
    let (ca_path, cert_path, key_path) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&ca_path, ca_cert.pem()).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&cert_path, leaf_cert.pem()).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&key_path, leaf_key.serialize_pem()).unwrap_or_else(|e| panic!("{e}"));
    (ca_path, cert_path, key_path)
}

/// Runs the MSAL app (`e2e/lib/msal_node_app.mjs`) and parses what it prints.
fn msal_node(env: &[(&str, String)], args: &[&str]) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../e2e/lib/msal_node_app.mjs"
    );
    let output = std::process::Command::new("node")
        .arg(script)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap_or_else(|e| panic!("node: {e}"));
    assert!(
        output.status.success(),
        "msal-node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

/// The server on a TLS listener (a certificate from [`test_pki`]), with the broker configured as the tutorial does
/// (the provider: [`FakeProvider`], `query` response mode) and a public application whose reply URL is `redirect`.
struct TlsBroker {
    /// Holds the certificates and the database.
    dir: tempfile::TempDir,
    /// The test CA's PEM file.
    ca: std::path::PathBuf,
    /// `https://localhost:PORT`.
    base: String,
    port: u16,
    /// The application's client id.
    client_id: String,
    /// Stops the server.
    stop: tokio::sync::oneshot::Sender<()>,
    /// The upstream provider, serving while this is alive.
    fake: FakeProvider,
}

async fn tls_broker(redirect: &str) -> TlsBroker {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (ca, cert, key) = test_pki(dir.path());
    let store = tessera_server::app::open_sqlite(&dir.path().join("t.db"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    let base = format!("https://localhost:{port}");
    let start =
        time::OffsetDateTime::from_unix_timestamp(time::OffsetDateTime::now_utc().unix_timestamp())
            .unwrap_or_else(|e| panic!("{e}"));
    let clock = std::sync::Arc::new(tessera_core::FixedClock::new(start));
    let master = tessera_oidc::keys::MasterKey::generate().unwrap_or_else(|e| panic!("{e}"));
    let app = tessera_server::Application::from_parts(
        listener,
        store.clone(),
        clock.clone(),
        tessera_http::PublicUrl::parse(&base).unwrap_or_else(|e| panic!("{e}")),
        tessera_http::SecuritySettings::default(),
        master,
    )
    .with_listener(
        tessera_server::listener::ListenerLimits::default(),
        Some(tessera_server::tls::acceptor(&cert, &key).unwrap_or_else(|e| panic!("{e}"))),
    );
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = app
            .run_until_stopped(async move {
                let _ = stopped.await;
            })
            .await;
    });

    // The broker configured as the tutorial does, with a provider on loopback.
    let broker = state.broker.store.as_ref();
    let now = tessera_core::Clock::now(clock.as_ref());
    let tenant = TenantId::parse(BROKER).unwrap_or_else(|e| panic!("{e}"));
    tessera_service::broker::tenants::create_broker_tenant(
        broker,
        &state.provider.master_key,
        tessera_service::broker::tenants::NewBrokerTenant {
            id: tenant.clone(),
            display_name: Some("Contoso".into()),
        },
        now,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let fake = FakeProvider::start(clock.clone()).await;
    let provider = IdentityProvider {
        id: ProviderId::parse("fake").unwrap_or_else(|e| panic!("{e}")),
        name: "Password Provider".into(),
        metadata_url: MetadataUrl::parse(&format!(
            "{}/.well-known/openid-configuration",
            fake.state.base
        ))
        .unwrap_or_else(|e| panic!("{e}")),
        client_id: "broker-at-fake".into(),
        client_auth: UpstreamClientAuth::ClientSecretPost,
        scope: vec!["openid".into()],
        response_type: Default::default(),
        response_mode: ResponseMode::Query,
        claim_mapping: ClaimMapping::default(),
        domain_hint: None,
    };
    tessera_service::broker::providers::save_identity_provider(
        broker,
        &state.provider.master_key,
        &state.broker.upstream,
        &tenant,
        provider,
        tessera_core::Secret::new("fake-secret"),
        now,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    tessera_service::broker::flows::create_user_flow(
        broker,
        &tenant,
        PolicyId::parse(POLICY).unwrap_or_else(|e| panic!("{e}")),
        FlowSettings {
            identity_providers: vec![ProviderId::parse("fake").unwrap_or_else(|e| panic!("{e}"))],
            user_attributes: vec![CollectedAttribute {
                attribute: UserAttribute::Email,
                required: true,
            }],
            application_claims: vec![
                ApplicationClaim::Email,
                ApplicationClaim::DisplayName,
                ApplicationClaim::ObjectId,
                ApplicationClaim::IdentityProvider,
            ],
            ..FlowSettings::default()
        },
        now,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let (application, _) = tessera_service::broker::applications::create_application(
        broker,
        &tenant,
        tessera_service::broker::applications::NewApplication {
            display_name: "MSAL Node app".into(),
            client_type: ClientType::Public,
            reply_urls: vec![redirect.into()],
            logout_urls: Vec::new(),
            token_lifetimes: TokenLifetimes::default(),
            id_token_signing_alg: SigningAlg::Rs256,
        },
        now,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    TlsBroker {
        dir,
        ca,
        base,
        port,
        client_id: application.client_id.to_string(),
        stop,
        fake,
    }
}

#[tokio::test]
async fn msal_node_signs_in_through_the_broker() {
    let modules = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../e2e/node_modules/@azure/msal-node"
    );
    let node = std::process::Command::new("node").arg("--version").output();
    if node.is_err() || !std::path::Path::new(modules).exists() {
        eprintln!(
            "SKIPPED(msal): msal_node_signs_in_through_the_broker (needs node and `npm ci` in e2e/)"
        );
        return;
    }
    let redirect = "http://localhost/msal-redirect";
    let TlsBroker {
        dir: _dir,
        ca,
        base,
        port,
        client_id,
        stop,
        fake: _fake,
    } = tls_broker(redirect).await;

    // MSAL, as for B2C: only the authority differs.
    let env = [
        ("MSAL_AUTHORITY", format!("{base}/{BROKER}/{POLICY}")),
        ("MSAL_KNOWN_AUTHORITY", format!("localhost:{port}")),
        ("MSAL_CLIENT_ID", client_id.clone()),
        ("MSAL_REDIRECT_URI", redirect.to_owned()),
        ("NODE_EXTRA_CA_CERTS", ca.display().to_string()),
    ];
    let start = tokio::task::spawn_blocking({
        let env = env.clone();
        move || msal_node(&env, &["url"])
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let url = start["url"].as_str().unwrap_or_default().to_owned();
    assert!(url.contains("/oauth2/v2.0/authorize?"), "{url}");

    // The browser: trusts the test CA, follows nothing, keeps cookies by hand.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap_or_default())
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut jar: HashMap<String, String> = HashMap::new();
    let keep = |jar: &mut HashMap<String, String>, response: &reqwest::Response| {
        for cookie in response.headers().get_all("set-cookie") {
            let text = cookie.to_str().unwrap_or_default();
            if let Some((name, value)) = text.split(';').next().unwrap_or_default().split_once('=')
            {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
    };
    let to_broker = http
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(to_broker.status(), 303, "{:?}", to_broker.text().await);
    keep(&mut jar, &to_broker);
    let at_provider = to_broker.headers()["location"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    let back = http
        .get(&at_provider)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let authresp = back.headers()["location"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    let cookie_header = |jar: &HashMap<String, String>| {
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let page = http
        .get(&authresp)
        .header("cookie", cookie_header(&jar))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.status(), 200);
    keep(&mut jar, &page);
    let form = parse_form(&page.text().await.unwrap_or_default());
    let mut fields = form.fields.clone();
    fields.retain(|(k, _)| k != "email");
    fields.push(("email".into(), "pat@example.com".into()));
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&fields)
        .finish();
    let done = http
        .post(format!("{base}{}", form.action))
        .header("cookie", cookie_header(&jar))
        .header("origin", base.as_str())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.status(), 303);
    let back_at_app = done.headers()["location"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(back_at_app.starts_with(redirect), "{back_at_app}");
    let query = query_of(&back_at_app);
    assert_eq!(query["state"], "msal-state");

    // MSAL redeems the code and reads the claims it expects.
    let code = query["code"].clone();
    let verifier = start["verifier"].as_str().unwrap_or_default().to_owned();
    let result =
        tokio::task::spawn_blocking(move || msal_node(&env, &["redeem", &code, &verifier]))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    let claims = &result["idTokenClaims"];
    assert_eq!(claims["tfp"], POLICY, "{result}");
    assert_eq!(claims["emails"], json!(["pat@example.com"]));
    assert_eq!(claims["name"], "Pat Password");
    let oid = claims["oid"].as_str().unwrap_or_default();
    assert!(!oid.is_empty());
    let account = &result["account"];
    assert_eq!(
        account["homeAccountId"],
        format!("{oid}-b2c_1_signupsignin.{BROKER}"),
        "MSAL keys its cache by B2C's client_info: {result}"
    );
    assert_eq!(account["localAccountId"], oid);
    let _ = stop.send(());
}

#[tokio::test]
async fn msal_browser_signs_in_through_the_broker() {
    const NAME: &str = "msal_browser_signs_in_through_the_broker";
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !node_deps(NAME, "@azure/msal-browser") || !node_deps(NAME, "playwright-core") {
        return;
    }
    if !std::path::Path::new(&chromium).exists() {
        eprintln!("SKIPPED(chromium): {NAME} (needs {chromium})");
        return;
    }
    // The app's page on a free loopback port; its URL is the registered reply URL.
    let page_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    let redirect = format!("http://localhost:{page_port}/");
    let TlsBroker {
        dir: _dir,
        base,
        port,
        client_id,
        stop,
        fake: _fake,
        ..
    } = tls_broker(&redirect).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../e2e/lib/msal_browser_app.mjs"
    );
    let env = [
        ("MSAL_AUTHORITY", format!("{base}/{BROKER}/{POLICY}")),
        ("MSAL_KNOWN_AUTHORITY", format!("localhost:{port}")),
        ("MSAL_CLIENT_ID", client_id),
        ("MSAL_PAGE_PORT", page_port.to_string()),
        ("MSAL_EMAIL", "spa@example.com".to_owned()),
        ("CHROMIUM", chromium),
    ];
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(script)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .unwrap_or_else(|e| panic!("node: {e}"));
    assert!(
        output.status.success(),
        "msal-browser failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    let claims = &result["idTokenClaims"];
    assert_eq!(claims["tfp"], POLICY, "{result}");
    assert_eq!(claims["iss"], format!("{base}/{BROKER}/{POLICY}/v2.0"));
    assert_eq!(claims["emails"], json!(["spa@example.com"]));
    assert_eq!(claims["name"], "Pat Password");
    let oid = claims["oid"].as_str().unwrap_or_default();
    assert!(!oid.is_empty(), "{result}");
    let account = &result["account"];
    assert_eq!(
        account["homeAccountId"],
        format!("{oid}-b2c_1_signupsignin.{BROKER}"),
        "MSAL keys its cache by B2C's client_info: {result}"
    );
    assert_eq!(account["localAccountId"], oid);
    let _ = stop.send(());
}

// ---------------------------------------------------------------------------------------------------------------
// The built-in token viewer: `/jwt/run` starts a run, `/jwt` redeems the code and shows the token.

const RUN_COOKIE: &str = "__Host-tessera-jwt-run";

fn run_path(b: &Broker, extra: &[(&str, &str)]) -> String {
    let viewer = b.url("/jwt");
    let mut pairs = vec![
        ("tenant", BROKER),
        ("policy", POLICY),
        ("client_id", b.app_id.as_str()),
        ("redirect_uri", viewer.as_str()),
    ];
    for (name, value) in extra {
        pairs.retain(|(k, _)| k != name);
        pairs.push((name, value));
    }
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("/jwt/run?{query}")
}

/// Starts a run in `browser`; returns the broker's authorize URL it was sent to.
async fn start_run(b: &Broker, browser: &mut Browser, extra: &[(&str, &str)]) -> String {
    let start = browser.get(&b.app, &run_path(b, extra)).await;
    assert_eq!(start.status, 303, "{}", start.body);
    start.location()
}

/// A run through the broker and the provider up to the broker's answer addressed to the viewer.
async fn run_to_viewer(
    b: &Broker,
    browser: &mut Browser,
    person: &mut Person,
    extra: &[(&str, &str)],
) -> Reply {
    let location = start_run(b, browser, extra).await;
    let request = AppRequest {
        verifier: String::new(),
        url: location,
    };
    let page = through_provider(b, browser, &request, person).await;
    assert!(page.body.contains("id=\"attribute-form\""), "{}", page.body);
    browser
        .submit(&b.app, &page, &[("email", "ann@example.com")])
        .await
}

async fn viewer_run_start_redirects_to_the_broker_with_pkce(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    let start = browser.get(&b.app, &run_path(&b, &[])).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let location = start.location();
    assert!(
        location.starts_with(&b.url(&authorize_path())),
        "{location}"
    );
    let query = query_of(&location);
    assert_eq!(query["client_id"], b.app_id);
    assert_eq!(query["redirect_uri"], b.url("/jwt"));
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["response_mode"], "query");
    assert_eq!(query["scope"], "openid");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43, "a SHA-256 challenge");
    assert_eq!(query["state"].len(), 43, "32 random bytes");
    assert_eq!(query["nonce"].len(), 43, "32 random bytes");
    let cookie = start
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with(RUN_COOKIE))
        .unwrap_or_else(|| panic!("the run cookie"));
    for part in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=600",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(
        !cookie.contains(&query["state"]) && !cookie.contains(&query["nonce"]),
        "the run is sealed, not readable: {cookie}"
    );
    let form_post = start_run(&b, &mut browser, &[("response_mode", "form_post")]).await;
    assert_eq!(query_of(&form_post)["response_mode"], "form_post");
    let bad = browser
        .get(&b.app, &run_path(&b, &[("response_mode", "fragment")]))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    b.app.stop().await;
}

async fn viewer_full_run_shows_the_verified_token_and_refuses_a_replay(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let done = run_to_viewer(&b, &mut browser, &mut ann, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let answer = done.location();
    assert!(answer.starts_with(&b.url("/jwt?")), "{answer}");
    let run_cookie = browser.cookies.get(RUN_COOKIE).cloned();
    assert!(run_cookie.is_some(), "the run cookie is still there");
    let page = browser.get(&b.app, &answer).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let issuer = b.url(&format!("/{BROKER}/{POLICY}/v2.0"));
    assert!(
        page.body.contains("Signature verified with key"),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("<code>{issuer}</code>")));
    assert!(page.body.contains("ann@example.com"), "the email claim");
    assert!(page.body.contains("id=\"claim-emails\""));
    assert!(
        page.body.contains("The user&#39;s email addresses.")
            || page.body.contains("email addresses")
    );
    assert!(page.body.contains("The nonce is the one this run sent."));
    assert!(page.body.contains(" UTC"), "times are shown in UTC");
    assert!(page.body.contains("id=\"raw-token\""));
    assert!(
        page.body.contains("data-copy=\"raw-token\""),
        "a copy button"
    );
    assert!(page.body.contains("id=\"run-again\""));
    assert!(!page.body.contains("<script>"), "no inline script");
    let csp = page
        .headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(
        page.set_cookies()
            .iter()
            .any(|c| c.starts_with(RUN_COOKIE) && c.contains("Max-Age=0")),
        "the run is single use"
    );
    assert!(!browser.cookies.contains_key(RUN_COOKIE));
    // The same answer again: no pending run in this browser.
    let again = browser.get(&b.app, &answer).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again.body.contains("no pending run"), "{}", again.body);
    // With the old cookie put back, the broker refuses the used code.
    if let Some(cookie) = run_cookie {
        browser.cookies.insert(RUN_COOKIE.into(), cookie);
    }
    let replayed = browser.get(&b.app, &answer).await;
    assert_eq!(replayed.status, 400, "{}", replayed.body);
    assert!(
        replayed.body.contains("The code could not be redeemed"),
        "{}",
        replayed.body
    );
    b.app.stop().await;
}

async fn viewer_form_post_run_lands_on_the_viewer(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let done = run_to_viewer(
        &b,
        &mut browser,
        &mut ann,
        &[("response_mode", "form_post")],
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let form = done.form();
    assert_eq!(form.action, b.url("/jwt"));
    let page = browser.post_form(&b.app, &form.action, &form.fields).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Signature verified with key"),
        "{}",
        page.body
    );
    assert!(page.body.contains("ann@example.com"));
    b.app.stop().await;
}

async fn viewer_tampered_or_foreign_token_shows_red(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let (tokens, _) = sign_up(&b, &mut browser, &mut ann).await;
    let id_token = tokens["id_token"].as_str().unwrap_or_default().to_owned();
    let post = |token: String| {
        let fields = vec![("id_token".to_owned(), token)];
        let mut browser = Browser::default();
        let app = &b.app;
        async move { browser.post_form(app, "/jwt", &fields).await }
    };
    let good = post(id_token.clone()).await;
    assert_eq!(good.status, 200, "{}", good.body);
    assert!(
        good.body.contains("Signature verified with key"),
        "{}",
        good.body
    );
    let parts: Vec<&str> = id_token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&B64.decode(parts[1]).unwrap_or_default()).unwrap_or_default();
    claims["emails"] = json!(["mallory@example.com"]);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(claims.to_string()),
        parts[2]
    );
    let red = post(tampered).await;
    assert_eq!(red.status, 200, "{}", red.body);
    assert!(red.body.contains("Signature NOT verified"), "{}", red.body);
    assert!(
        red.body.contains("does not match the token"),
        "{}",
        red.body
    );
    assert!(!red.body.contains("Signature verified with key"));
    // A token naming an issuer that is not this server's: never fetched, shown red.
    let key = SigningKey::generate(SigningAlg::Rs256).unwrap_or_else(|e| panic!("{e}"));
    let foreign = tessera_oidc::jose::sign_jwt(
        &key,
        &json!({"iss": "https://evil.example/contoso/B2C_1_signupsignin/v2.0", "sub": "x"}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let foreign = post(foreign).await;
    assert!(
        foreign.body.contains("Signature NOT verified"),
        "{}",
        foreign.body
    );
    assert!(
        foreign.body.contains("is not one of this server"),
        "{}",
        foreign.body
    );
    // Signed by another key but naming the broker's issuer.
    let forged = tessera_oidc::jose::sign_jwt(
        &key,
        &json!({"iss": b.url(&format!("/{BROKER}/{POLICY}/v2.0")), "sub": "x"}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let forged = post(forged).await;
    assert!(
        forged.body.contains("Signature NOT verified"),
        "{}",
        forged.body
    );
    let garbage = post("not-a-token".into()).await;
    assert_eq!(garbage.status, 400, "{}", garbage.body);
    b.app.stop().await;
}

async fn viewer_wrong_or_missing_state_is_refused(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let done = run_to_viewer(&b, &mut browser, &mut ann, &[]).await;
    let answer = done.location();
    let query = query_of(&answer);
    let code = query["code"].clone();
    let cookie = browser.cookies.get(RUN_COOKIE).cloned().unwrap_or_default();
    let original = cookie.clone();
    // Another state with the right cookie: refused, and the run is over.
    let wrong = browser
        .get(&b.app, &format!("/jwt?code={code}&state=someone-elses"))
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(
        wrong.body.contains("state does not match"),
        "{}",
        wrong.body
    );
    assert!(!browser.cookies.contains_key(RUN_COOKIE));
    // No state at all.
    browser.cookies.insert(RUN_COOKIE.into(), cookie.clone());
    let missing = browser.get(&b.app, &format!("/jwt?code={code}")).await;
    assert_eq!(missing.status, 400, "{}", missing.body);
    // The right answer in another browser (no cookie), or with an altered cookie.
    let mut other = Browser::default();
    let elsewhere = other.get(&b.app, &answer).await;
    assert_eq!(elsewhere.status, 400, "{}", elsewhere.body);
    assert!(
        elsewhere.body.contains("no pending run"),
        "{}",
        elsewhere.body
    );
    let mut altered = cookie.into_bytes();
    altered[10] = if altered[10] == b'A' { b'B' } else { b'A' };
    other.cookies.insert(
        RUN_COOKIE.into(),
        String::from_utf8(altered).unwrap_or_default(),
    );
    let forged = other.get(&b.app, &answer).await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    // None of these spent the code: the right browser with the right state still gets its token.
    browser.cookies.insert(RUN_COOKIE.into(), original);
    let page = browser.get(&b.app, &answer).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Signature verified with key"),
        "{}",
        page.body
    );
    b.app.stop().await;
}

async fn viewer_unregistered_or_foreign_redirect_uri_is_refused(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    // Registered for the app, but not the viewer's own URL.
    let foreign = browser
        .get(&b.app, &run_path(&b, &[("redirect_uri", REPLY)]))
        .await;
    assert_eq!(foreign.status, 400, "{}", foreign.body);
    assert!(
        foreign.body.contains("not this token viewer"),
        "{}",
        foreign.body
    );
    assert!(foreign.headers.get("location").is_none());
    assert!(
        foreign
            .set_cookies()
            .iter()
            .all(|c| !c.starts_with(RUN_COOKIE))
    );
    // The viewer's URL, for an application that did not register it.
    let (other, _) = tessera_service::broker::applications::create_application(
        b.store(),
        &b.tenant,
        tessera_service::broker::applications::NewApplication {
            display_name: "Other app".into(),
            client_type: ClientType::Public,
            reply_urls: vec![REPLY.into()],
            logout_urls: Vec::new(),
            token_lifetimes: TokenLifetimes::default(),
            id_token_signing_alg: SigningAlg::Rs256,
        },
        b.app.clock.now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let other_id = other.client_id.to_string();
    let unregistered = browser
        .get(&b.app, &run_path(&b, &[("client_id", other_id.as_str())]))
        .await;
    assert_eq!(unregistered.status, 400, "{}", unregistered.body);
    assert!(
        unregistered
            .body
            .contains("is not registered for the application Other app"),
        "{}",
        unregistered.body
    );
    // An unknown flow or application.
    let unknown = browser
        .get(&b.app, &run_path(&b, &[("policy", "B2C_1_nothing")]))
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    b.app.stop().await;
}

async fn viewer_oauth_error_is_shown(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    start_run(&b, &mut browser, &[]).await;
    let page = browser
        .get(
            &b.app,
            "/jwt?error=access_denied&error_description=AADB2C90091%3A+The+user+has+cancelled&state=x",
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("The user flow answered with an error"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<code id=\"viewer-error-code\">access_denied</code>")
    );
    assert!(page.body.contains("AADB2C90091: The user has cancelled"));
    assert!(!browser.cookies.contains_key(RUN_COOKIE), "the run is over");
    let empty = browser.get(&b.app, "/jwt").await;
    assert_eq!(empty.status, 200);
    assert!(empty.body.contains("id=\"viewer-empty\""));
    b.app.stop().await;
}
