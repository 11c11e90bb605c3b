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
    AccessRule, Application, ApplicationClaim, ClaimMapping, CollectedAttribute, ConditionalAccess,
    FlowSettings, IdentityProvider, MetadataUrl, MfaSetting, PolicyId, ProviderId, TokenLifetimes,
    UpstreamClientAuth, UserAttribute,
};
use tessera_broker::metadata::validate_provider_metadata;
use tessera_core::{ClientId, Clock, TenantId};
use tessera_oidc::keys::{JwkSet, SigningAlg, SigningKey};
use tessera_oidc::{ClientType, ResponseMode};
use tessera_service::clients::{self, ClientKind, LocalhostHttp, NewClient};
use tessera_store::{
    BrokerApplication, BrokerStore, BrokerTenant, FlowVersionRecord, IdentityProviderRecord,
    KeyStatus, ProviderCache, UserFlowRecord,
};
use tessera_testkit::app::{HtmlForm, parse_form};
use tessera_testkit::{AppOptions, Backend, MaliciousAuthenticator, TestApp, spawn_app};

const BROKER: &str = "contoso";
const POLICY: &str = "B2C_1_signupsignin";
const APP_ID: &str = "jwt-viewer";
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

both_stores!(
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
);

// ---------------------------------------------------------------------------------------------------------------
// The set-up: the authenticator service as the provider, the broker tenant, its provider, flow and app.

/// The running application with the broker configured as the tutorial does it.
struct Broker {
    app: TestApp,
    tenant: TenantId,
}

/// What a flow offers, for the set-up.
struct FlowOptions {
    providers: Vec<&'static str>,
    mfa: MfaSetting,
    rules: Vec<AccessRule>,
}

impl Default for FlowOptions {
    fn default() -> Self {
        Self {
            providers: vec!["acme"],
            mfa: MfaSetting::Off,
            rules: Vec::new(),
        }
    }
}

async fn broker(backend: Backend) -> Option<Broker> {
    broker_with(backend, FlowOptions::default()).await
}

async fn broker_with(backend: Backend, flow: FlowOptions) -> Option<Broker> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let app = spawn_app(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await?;
    let tenant = TenantId::parse(BROKER).unwrap_or_else(|e| panic!("{e}"));
    let broker = Broker { app, tenant };
    broker.create_tenant().await;
    broker.add_provider("acme", "acme").await;
    if flow.providers.contains(&"globex") {
        broker.add_op_tenant("globex").await;
        broker.add_provider("globex", "globex").await;
    }
    broker.add_flow(flow).await;
    broker.add_application().await;
    Some(broker)
}

impl Broker {
    fn store(&self) -> &dyn BrokerStore {
        self.app.state.store.as_ref()
    }

    async fn create_tenant(&self) {
        let now = self.app.clock.now();
        let master = &self.app.state.master_key;
        let keys: Vec<tessera_store::SigningKey> = [SigningAlg::Rs256, SigningAlg::Es256]
            .into_iter()
            .map(|alg| {
                let key = SigningKey::generate(alg).unwrap_or_else(|e| panic!("{e}"));
                let encrypted = key
                    .encrypt(master, &self.tenant)
                    .unwrap_or_else(|e| panic!("{e}"));
                tessera_store::SigningKey {
                    tenant: self.tenant.clone(),
                    kid: key.kid().to_owned(),
                    alg: alg.as_str().to_owned(),
                    private_key_encrypted: serde_json::to_vec(&encrypted)
                        .unwrap_or_else(|e| panic!("{e}")),
                    public_jwk: serde_json::to_value(key.public_jwk())
                        .unwrap_or_else(|e| panic!("{e}")),
                    created_at: now,
                    retired_at: None,
                    status: KeyStatus::Active,
                }
            })
            .collect();
        self.store()
            .create_broker_tenant(
                &BrokerTenant {
                    id: self.tenant.clone(),
                    display_name: "Contoso".into(),
                    created_at: now,
                },
                &keys,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// A second tenant of the authenticator service (a second provider for the choice page).
    async fn add_op_tenant(&self, name: &str) {
        let tenant = TenantId::parse(name).unwrap_or_else(|e| panic!("{e}"));
        tessera_service::tenants::create_tenant(
            self.app.state.store.as_ref(),
            &self.app.state.master_key,
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
            self.app.state.store.as_ref(),
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
        let now = self.app.clock.now();
        let document = self
            .app
            .http
            .get(provider.metadata_url.as_str())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let metadata =
            validate_provider_metadata(provider, &document).unwrap_or_else(|e| panic!("{e}"));
        let jwks: Value = self
            .app
            .http
            .get(&metadata.jwks_uri)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        self.store()
            .create_identity_provider(&IdentityProviderRecord {
                tenant: self.tenant.clone(),
                provider_id: provider.id.to_string(),
                config: serde_json::to_value(provider).unwrap_or_else(|e| panic!("{e}")),
                client_secret_encrypted: Some(
                    self.app
                        .state
                        .master_key
                        .seal(
                            format!("broker-idp-secret\0{BROKER}\0{}", provider.id).as_bytes(),
                            secret.as_bytes(),
                        )
                        .unwrap_or_else(|e| panic!("{e}")),
                ),
                cache: ProviderCache {
                    metadata: serde_json::to_value(&metadata).unwrap_or_else(|e| panic!("{e}")),
                    metadata_fetched_at: now,
                    jwks,
                    jwks_fetched_at: now,
                },
                created_at: now,
                updated_at: now,
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    async fn add_flow(&self, flow: FlowOptions) {
        let now = self.app.clock.now();
        let settings = FlowSettings {
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
        let policy = PolicyId::parse(POLICY).unwrap_or_else(|e| panic!("{e}"));
        self.store()
            .create_flow(
                &UserFlowRecord {
                    tenant: self.tenant.clone(),
                    policy_key: policy.key(),
                    policy_id: policy.as_str().to_owned(),
                    kind: "sign_up_sign_in".into(),
                    created_at: now,
                },
                &FlowVersionRecord {
                    number: 1,
                    created_at: now,
                    settings: serde_json::to_value(&settings).unwrap_or_else(|e| panic!("{e}")),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    async fn add_application(&self) {
        let application = Application {
            display_name: "JWT viewer".into(),
            client_id: ClientId::parse(APP_ID).unwrap_or_else(|e| panic!("{e}")),
            client_type: ClientType::Public,
            secret_hash: None,
            reply_urls: vec![REPLY.into()],
            logout_urls: vec![LOGOUT.into()],
            token_lifetimes: TokenLifetimes::default(),
            id_token_signing_alg: SigningAlg::Rs256,
        };
        application.validate().unwrap_or_else(|e| panic!("{e}"));
        let mut settings = serde_json::to_value(&application).unwrap_or_else(|e| panic!("{e}"));
        if let Some(obj) = settings.as_object_mut() {
            obj.remove("secret_hash");
        }
        self.store()
            .create_broker_application(&BrokerApplication {
                tenant: self.tenant.clone(),
                client_id: application.client_id.clone(),
                secret_hash: None,
                settings,
                created_at: self.app.clock.now(),
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.base)
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
        let csrf = self
            .cookies
            .get("__Host-tessera-csrf")
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

fn app_request(path_prefix: &str, extra: &[(&str, &str)]) -> AppRequest {
    let verifier = tessera_testkit::app::random(64);
    let challenge = B64.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ));
    let mut pairs = vec![
        ("client_id", APP_ID),
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
    fields.push(("client_id".into(), APP_ID.into()));
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

/// Run 1 up to the app's token response: sign-up at the provider, the attribute page (email), the code.
async fn sign_up(b: &Broker, browser: &mut Browser, person: &mut Person) -> (Value, String) {
    let request = app_request(&authorize_path(), &[]);
    let page = through_provider(b, browser, &request, person).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"attribute-form\""), "{}", page.body);
    let done = browser
        .submit(&b.app, &page, &[("email", "ann@example.com")])
        .await;
    let code = code_at_reply_url(&done);
    let tokens = redeem(b, &code, &request.verifier).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    (tokens.json(), code)
}

async fn user_count(b: &Broker) -> usize {
    b.store()
        .search_directory_users(&b.tenant, "", None, 100)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .users
        .len()
}

// ---------------------------------------------------------------------------------------------------------------
// The runs.

async fn run1_desktop_sign_up_collects_the_email_and_issues_the_flows_claims(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let request = app_request(&authorize_path(), &[]);
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
    assert_eq!(claims["aud"], APP_ID);
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
        .search_directory_users(&b.tenant, "ann@", None, 10)
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
    let request = app_request(&authorize_path(), &[]);
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
    let request = app_request(&authorize_path(), &[]);
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
    let request = app_request(&authorize_path(), &[]);
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
    let request = app_request(&authorize_path(), &[]);
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
    let _ = backend;
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
    let request = app_request(&authorize_path(), &[]);
    let page = browser.get(&b.app, &request.url).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Choose how you want to sign in"));
    assert!(page.body.contains("acme Authentication Provider"));
    assert!(page.body.contains("globex Authentication Provider"));
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
    let hinted = app_request(&authorize_path(), &[("domain_hint", "globex.example")]);
    let skip = browser.get(&b.app, &hinted.url).await;
    assert_eq!(skip.status, 303, "{}", skip.body);
    assert!(
        skip.location()
            .starts_with(&b.url("/globex/oidc/authorize?"))
    );
    let hinted = app_request(&authorize_path(), &[("idp", "ACME")]);
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
        let request = app_request(&authorize_path(), &[]);
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
    let request = app_request(&authorize_path(), &[]);
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
    let request = app_request(&authorize_path(), &[]);
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
                .replace("client_id=jwt-viewer", "client_id=nope"),
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
    let request = app_request(&authorize_path(), &[]);
    let page = through_provider(&b, &mut browser, &request, &mut ann).await;
    let done = browser
        .submit(&b.app, &page, &[("email", "ann@example.com")])
        .await;
    let code = code_at_reply_url(&done);
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
    let request = app_request(&authorize_path(), &[]);
    let page = through_provider(&b, &mut browser, &request, &mut ann).await;
    let done = browser
        .submit(&b.app, &page, &[("email", "ann@example.com")])
        .await;
    let code = code_at_reply_url(&done);
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
        let request = app_request(&prefix, &[]);
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
        &format!("/tfp/{BROKER}/{POLICY}/oauth2/v2.0/authorize"),
        &[],
    );
    let page = through_provider(&b, &mut browser, &request, &mut ann).await;
    let done = browser
        .submit(&b.app, &page, &[("email", "ann@example.com")])
        .await;
    let code = code_at_reply_url(&done);
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
    let request = app_request(&authorize_path(), &[]);
    let page = through_provider(&b, &mut browser, &request, &mut ann).await;
    let done = browser
        .submit(&b.app, &page, &[("email", "ann@example.com")])
        .await;
    let _ = code_at_reply_url(&done);
    // The broker session answers at once.
    let again = app_request(&authorize_path(), &[]);
    let reply = browser.get(&b.app, &again.url).await;
    let code = code_at_reply_url(&reply);
    let tokens = redeem(&b, &code, &again.verifier).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    // prompt=login goes back to the provider, with prompt=login.
    let fresh = app_request(&authorize_path(), &[("prompt", "login")]);
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

async fn broken_provider_shows_an_error_page_with_a_correlation_id(backend: Backend) {
    let _ = backend;
}

async fn userinfo_and_logout(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let request = app_request(&authorize_path(), &[]);
    let page = through_provider(&b, &mut browser, &request, &mut ann).await;
    let done = browser
        .submit(&b.app, &page, &[("email", "ann@example.com")])
        .await;
    let code = code_at_reply_url(&done);
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
                "/{BROKER}/{POLICY}/oauth2/v2.0/logout?client_id={APP_ID}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"
            ),
        )
        .await;
    assert_eq!(evil.status, 200, "{}", evil.body);
    assert!(evil.location().is_empty());
    assert!(evil.body.contains("You are signed out"));
    // The session is gone: the next request goes to the provider again.
    let next = app_request(&authorize_path(), &[]);
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
                "/{BROKER}/{POLICY}/oauth2/v2.0/logout?client_id={APP_ID}&post_logout_redirect_uri=https%3A%2F%2Fjwt.ms%2Fbye&state=s1"
            ),
        )
        .await;
    assert_eq!(good.status, 303);
    assert_eq!(good.location(), "https://jwt.ms/bye?state=s1");
    b.app.stop().await;
}
