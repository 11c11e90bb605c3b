//! Local accounts of the identity broker, end to end over HTTP, passwordless: "Sign up with email" (a one-time code
//! mailed to the directory sink of the test app, then a passkey registered with the broker itself from the test
//! authenticator, then the attribute page) and "Sign in with a passkey" (discoverable, no username), the app's code
//! and tokens, and the rules: wrong, expired, reused codes, too many attempts, the send limit, a wrong origin, a
//! replayed challenge, user verification per flow, an abandoned sign-up. Every test runs on SQLite and on
//! PostgreSQL (`TEST_PG_URL`; skipped with `SKIPPED(pg): <name>` when unset).

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use tessera_broker::claims::local_issuer;
use tessera_broker::config::{
    AccessAction, AccessRule, ApplicationClaim, ClaimMapping, CollectedAttribute,
    ConditionalAccess, FlowSettings, IdentityProvider, LocalAccounts, MetadataUrl, MfaSetting,
    PolicyId, ProviderId, TokenLifetimes, UpstreamClientAuth, UserAttribute,
};
use tessera_core::{Clock, TenantId};
use tessera_oidc::keys::SigningAlg;
use tessera_oidc::{ClientType, ResponseMode};
use tessera_service::clients::{self, ClientKind, LocalhostHttp, NewClient};
use tessera_store::BrokerStore;
use tessera_testkit::{
    AppOptions, Backend, MaliciousAuthenticator, Overrides, SoftAuthenticator, TestApp, spawn_app,
};

const BROKER: &str = "contoso";
const POLICY: &str = "B2C_1_signupsignin";
const REPLY: &str = "https://jwt.ms/";

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
    local_sign_up_verifies_the_email_registers_a_passkey_then_signs_in_with_it,
    wrong_expired_and_reused_codes_and_too_many_attempts_are_refused,
    code_sends_are_limited_per_email_address,
    a_passkey_from_another_origin_and_a_replayed_challenge_are_refused,
    a_flow_that_always_requires_mfa_requires_user_verification,
    abandoned_local_sign_up_leaves_no_user_and_no_passkey,
    choice_page_lists_local_accounts_beside_providers_and_hints_still_work,
    a_local_passkey_satisfies_require_phishing_resistant,
    a_wrong_rp_id_hash_and_a_counter_that_went_back_are_refused,
    email_first_sign_in_offers_the_accounts_passkeys_and_a_stable_decoy_otherwise,
);

// ---------------------------------------------------------------------------------------------------------------
// Set-up.

struct Broker {
    app: TestApp,
    tenant: TenantId,
    app_id: String,
}

struct Flow {
    providers: bool,
    mfa: MfaSetting,
    rules: Vec<AccessRule>,
}

impl Default for Flow {
    fn default() -> Self {
        Self {
            providers: false,
            mfa: MfaSetting::Off,
            rules: Vec::new(),
        }
    }
}

async fn broker(backend: Backend, flow: Flow) -> Option<Broker> {
    let app = spawn_app(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await?;
    let tenant = TenantId::parse(BROKER).unwrap_or_else(|e| panic!("{e}"));
    let mut b = Broker {
        app,
        tenant,
        app_id: String::new(),
    };
    tessera_service::broker::tenants::create_broker_tenant(
        b.store(),
        &b.app.state.provider.master_key,
        tessera_service::broker::tenants::NewBrokerTenant {
            id: b.tenant.clone(),
            display_name: Some("Contoso".into()),
        },
        b.app.clock.now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    if flow.providers {
        b.add_provider().await;
    }
    let settings = FlowSettings {
        identity_providers: if flow.providers {
            vec![ProviderId::parse("acme").unwrap_or_else(|e| panic!("{e}"))]
        } else {
            Vec::new()
        },
        local_accounts: LocalAccounts::Email,
        mfa: flow.mfa,
        conditional_access: ConditionalAccess {
            enforced: !flow.rules.is_empty(),
            rules: flow.rules,
        },
        user_attributes: vec![
            CollectedAttribute {
                attribute: UserAttribute::Email,
                required: true,
            },
            CollectedAttribute {
                attribute: UserAttribute::DisplayName,
                required: true,
            },
        ],
        application_claims: vec![
            ApplicationClaim::Email,
            ApplicationClaim::DisplayName,
            ApplicationClaim::IdentityProvider,
            ApplicationClaim::ObjectId,
            ApplicationClaim::NewUser,
        ],
        ..FlowSettings::default()
    };
    tessera_service::broker::flows::create_user_flow(
        b.store(),
        &b.tenant,
        PolicyId::parse(POLICY).unwrap_or_else(|e| panic!("{e}")),
        settings,
        b.app.clock.now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let (application, _) = tessera_service::broker::applications::create_application(
        b.store(),
        &b.tenant,
        tessera_service::broker::applications::NewApplication {
            display_name: "JWT viewer".into(),
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
    b.app_id = application.client_id.to_string();
    Some(b)
}

impl Broker {
    fn store(&self) -> &dyn BrokerStore {
        self.app.state.broker.store.as_ref()
    }

    /// The authenticator service tenant `acme` as identity provider `acme` (for the choice page).
    async fn add_provider(&self) {
        let authresp = format!("{}/{BROKER}/oauth2/authresp", self.app.base);
        let (client, secret) = clients::create_client(
            self.app.state.provider.store.as_ref(),
            NewClient {
                tenant: self.app.tenant.clone(),
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
        let secret = secret.unwrap_or_else(|| panic!("secret"));
        let provider = IdentityProvider {
            id: ProviderId::parse("acme").unwrap_or_else(|e| panic!("{e}")),
            name: "Acme Authentication Provider".into(),
            metadata_url: MetadataUrl::parse(&format!(
                "{}/acme/oidc/.well-known/openid-configuration",
                self.app.base
            ))
            .unwrap_or_else(|e| panic!("{e}")),
            client_id: client.client_id.to_string(),
            client_auth: UpstreamClientAuth::ClientSecretBasic,
            scope: vec!["openid".into(), "profile".into(), "email".into()],
            response_type: Default::default(),
            response_mode: ResponseMode::FormPost,
            claim_mapping: ClaimMapping::default(),
            domain_hint: Some("acme.example".into()),
        };
        tessera_service::broker::providers::save_identity_provider(
            self.store(),
            &self.app.state.provider.master_key,
            &self.app.state.broker.upstream,
            &self.tenant,
            provider,
            tessera_core::Secret::new(secret.expose()),
            self.app.clock.now(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The one-time codes mailed so far, oldest first, with their recipients.
    fn mailed_codes(&self) -> Vec<(String, String)> {
        let Ok(entries) = std::fs::read_dir(self.app.mail_dir()) else {
            return Vec::new();
        };
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .map(|e| {
                let modified = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::SystemTime::UNIX_EPOCH);
                (modified, e.path())
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|(_, path)| {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let to = text
                    .lines()
                    .find_map(|l| l.strip_prefix("To: "))
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
                let at = text.find("code for").unwrap_or(0);
                let code = text[at..]
                    .split(|c: char| !c.is_ascii_digit())
                    .find(|s| s.len() == 6)
                    .unwrap_or_else(|| panic!("no code in {text}"))
                    .to_owned();
                (to, code)
            })
            .collect()
    }

    fn last_code(&self) -> String {
        self.mailed_codes()
            .pop()
            .unwrap_or_else(|| panic!("no mail"))
            .1
    }
}

// ---------------------------------------------------------------------------------------------------------------
// A browser: cookies by name, no redirects followed; forms found by id.

#[derive(Default)]
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

    /// The form with this id: its action, its inputs' names and values, and its attributes.
    fn form(&self, id: &str) -> Form {
        let start = self
            .body
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no form {id} in {}", self.body));
        let open = self.body[..start].rfind("<form").expect("form tag");
        let end = self.body[open..].find("</form>").expect("form end") + open;
        let html = &self.body[open..end];
        let tag_end = html.find('>').expect("tag end");
        let tag = &html[..tag_end];
        let mut fields = Vec::new();
        let mut rest = &html[tag_end..];
        while let Some(i) = rest.find("<input") {
            let close = rest[i..].find('>').expect("input end") + i;
            let input = &rest[i..close];
            if let Some(name) = attr(input, "name") {
                fields.push((name, attr(input, "value").unwrap_or_default()));
            }
            rest = &rest[close..];
        }
        Form {
            action: attr(tag, "action").unwrap_or_default(),
            tag: tag.to_owned(),
            fields,
        }
    }
}

struct Form {
    action: String,
    tag: String,
    fields: Vec<(String, String)>,
}

impl Form {
    fn attr(&self, name: &str) -> String {
        attr(&self.tag, name).unwrap_or_default()
    }

    fn with(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut fields = self.fields.clone();
        for (name, value) in extra {
            fields.retain(|(k, _)| k != name);
            fields.push(((*name).to_owned(), (*value).to_owned()));
        }
        fields
    }
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(
        tag[start..end]
            .replace("&#34;", "\"")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

impl Browser {
    async fn send(&mut self, app: &TestApp, request: reqwest::RequestBuilder) -> Reply {
        let mut request = request.header("origin", app.base.as_str());
        if !self.cookies.is_empty() {
            let header = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request = request.header("cookie", header);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
        let reply = Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap_or_default(),
        };
        for cookie in reply.headers.get_all("set-cookie") {
            let cookie = cookie.to_str().unwrap_or_default();
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

    async fn get(&mut self, app: &TestApp, path: &str) -> Reply {
        let url = format!("{}{path}", app.base);
        self.send(app, app.http.get(url)).await
    }

    async fn post(&mut self, app: &TestApp, path: &str, fields: &[(String, String)]) -> Reply {
        let url = format!("{}{path}", app.base);
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

    async fn post_json(&mut self, app: &TestApp, path: &str, body: &Value) -> Reply {
        let url = format!("{}{path}", app.base);
        let csrf = self
            .cookies
            .get(&format!("__Host-tessera-csrf-{BROKER}"))
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

    async fn submit(
        &mut self,
        app: &TestApp,
        page: &Reply,
        form: &str,
        extra: &[(&str, &str)],
    ) -> Reply {
        let form = page.form(form);
        self.post(app, &form.action, &form.with(extra)).await
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The app's side.

struct AppRequest {
    verifier: String,
    url: String,
}

fn app_request(b: &Broker, extra: &[(&str, &str)]) -> AppRequest {
    let verifier = tessera_testkit::app::random(64);
    let challenge = B64.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ));
    let mut pairs = vec![
        ("client_id", b.app_id.as_str()),
        ("redirect_uri", REPLY),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "app-state"),
        ("nonce", "app-nonce"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    AppRequest {
        url: format!("/{BROKER}/{POLICY}/oauth2/v2.0/authorize?{query}"),
        verifier,
    }
}

fn query_of(location: &str) -> HashMap<String, String> {
    url::Url::parse(location)
        .unwrap_or_else(|e| panic!("{e}: {location}"))
        .query_pairs()
        .into_owned()
        .collect()
}

/// Redeems the code at the reply URL `location` and returns the ID token's claims (signature checked with the
/// broker's JWKS).
async fn redeem(b: &Broker, location: &str, verifier: &str) -> Value {
    assert!(location.starts_with(REPLY), "not the app: {location}");
    let query = query_of(location);
    assert_eq!(query.get("state").map(String::as_str), Some("app-state"));
    let code = query
        .get("code")
        .unwrap_or_else(|| panic!("no code: {location}"));
    let fields = vec![
        ("grant_type".to_owned(), "authorization_code".to_owned()),
        ("code".to_owned(), code.clone()),
        ("redirect_uri".to_owned(), REPLY.to_owned()),
        ("code_verifier".to_owned(), verifier.to_owned()),
        ("client_id".to_owned(), b.app_id.clone()),
    ];
    let reply = Browser::default()
        .post(
            &b.app,
            &format!("/{BROKER}/{POLICY}/oauth2/v2.0/token"),
            &fields,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body: Value = serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("{e}"));
    let token = body["id_token"].as_str().unwrap_or_default();
    let jwks = tessera_oidc::keys::JwkSet::from_json(
        &Browser::default()
            .get(&b.app, &format!("/{BROKER}/{POLICY}/discovery/v2.0/keys"))
            .await
            .body,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let verified = tessera_oidc::jose::verify_jws(token, &jwks.verifying_keys())
        .unwrap_or_else(|e| panic!("signature: {e}"));
    Value::Object(verified.claims)
}

/// From the app's request to the code page: the local page, then "Sign up with email".
async fn start_sign_up(b: &Broker, browser: &mut Browser, email: &str) -> (AppRequest, Reply) {
    let request = app_request(b, &[]);
    let page = browser.get(&b.app, &request.url).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let code_page = browser
        .submit(&b.app, &page, "local-signup-form", &[("email", email)])
        .await;
    assert_eq!(code_page.status, 200, "{}", code_page.body);
    assert!(
        code_page.body.contains("Check your email"),
        "{}",
        code_page.body
    );
    (request, code_page)
}

/// The registration page's passkey, made by `authenticator` at `origin`, sent with the page's form.
async fn register(
    b: &Broker,
    browser: &mut Browser,
    page: &Reply,
    authenticator: &SoftAuthenticator,
    origin: &str,
) -> Reply {
    let form = page.form("local-register-form");
    let options = form.attr("data-options");
    let credential = authenticator
        .register(&options, origin)
        .unwrap_or_else(|e| panic!("{e}"));
    browser
        .post(
            &b.app,
            &form.action,
            &form.with(&[("credential", &credential)]),
        )
        .await
}

/// A whole local sign-up as `email` with `authenticator`: returns the app request and the answer at the reply URL.
async fn sign_up(
    b: &Broker,
    authenticator: &SoftAuthenticator,
    email: &str,
) -> (AppRequest, Reply) {
    let mut browser = Browser::default();
    let (request, code_page) = start_sign_up(b, &mut browser, email).await;
    let code = b.last_code();
    let register_page = browser
        .submit(&b.app, &code_page, "local-code-form", &[("code", &code)])
        .await;
    assert_eq!(register_page.status, 200, "{}", register_page.body);
    let attributes = register(b, &mut browser, &register_page, authenticator, &b.app.base).await;
    assert_eq!(attributes.status, 200, "{}", attributes.body);
    let answer = browser
        .submit(
            &b.app,
            &attributes,
            "attribute-form",
            &[("display_name", "Ann Lee")],
        )
        .await;
    (request, answer)
}

/// "Sign in with a passkey" on the page of `request` with `authenticator`; returns the broker's answer.
async fn passkey_sign_in(
    b: &Broker,
    browser: &mut Browser,
    request: &AppRequest,
    authenticator: &SoftAuthenticator,
) -> Reply {
    let page = browser.get(&b.app, &request.url).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let form = page.form("local-passkey-form");
    let options = browser
        .post_json(
            &b.app,
            &format!("/{BROKER}/broker/local/passkey/options"),
            &json!({ "handle": form.attr("data-handle") }),
        )
        .await;
    assert_eq!(options.status, 200, "{}", options.body);
    let options: Value = serde_json::from_str(&options.body).unwrap_or_else(|e| panic!("{e}"));
    let assertion = authenticator
        .authenticate(&options["publicKey"].to_string(), &b.app.base)
        .unwrap_or_else(|e| panic!("{e}"));
    let ceremony = options["ceremony"].as_str().unwrap_or_default();
    browser
        .post(
            &b.app,
            &form.action,
            &form.with(&[("ceremony", ceremony), ("credential", &assertion)]),
        )
        .await
}

async fn user_count(b: &Broker) -> usize {
    tessera_service::broker::directory::search_users(b.store(), &b.tenant, "", None, None, 100)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .users
        .len()
}

// ---------------------------------------------------------------------------------------------------------------
// Tests.

async fn local_sign_up_verifies_the_email_registers_a_passkey_then_signs_in_with_it(
    backend: Backend,
) {
    let Some(b) = broker(backend, Flow::default()).await else {
        return;
    };
    let authenticator = SoftAuthenticator::new();
    // A local-only flow goes straight to the local page: no provider to choose.
    let mut browser = Browser::default();
    let (_, code_page) = start_sign_up(&b, &mut browser, "ann@example.com").await;
    assert!(!code_page.body.contains("provider-"));
    let mailed = b.mailed_codes();
    assert_eq!(mailed.len(), 1);
    assert_eq!(mailed[0].0, "ann@example.com");
    let register_page = browser
        .submit(
            &b.app,
            &code_page,
            "local-code-form",
            &[("code", &mailed[0].1)],
        )
        .await;
    assert_eq!(register_page.status, 200, "{}", register_page.body);
    let options: Value = serde_json::from_str(
        &register_page
            .form("local-register-form")
            .attr("data-options"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // The broker is the relying party: its host, a discoverable credential.
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(options["user"]["name"], "ann@example.com");
    let attributes = register(
        &b,
        &mut browser,
        &register_page,
        &authenticator,
        &b.app.base,
    )
    .await;
    assert_eq!(attributes.status, 200, "{}", attributes.body);
    // The attribute page shows the verified address, read-only.
    let form = attributes.form("attribute-form");
    assert!(
        form.fields
            .iter()
            .any(|(k, v)| k == "email" && v == "ann@example.com"),
        "{:?}",
        form.fields
    );
    assert!(attributes.body.contains("readonly"));
    assert_eq!(
        user_count(&b).await,
        0,
        "nothing written before the attribute page's answer"
    );
    // A changed address in the form is not taken: the verified one is the account's.
    let answer = browser
        .submit(
            &b.app,
            &attributes,
            "attribute-form",
            &[
                ("email", "mallory@example.com"),
                ("display_name", "Ann Lee"),
            ],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let oid = {
        let query = query_of(&answer.location());
        assert!(query.contains_key("code"), "{}", answer.location());
        let users = tessera_service::broker::directory::search_users(
            b.store(),
            &b.tenant,
            "",
            None,
            None,
            10,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .users;
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].email.as_deref(), Some("ann@example.com"));
        assert_eq!(users[0].display_name.as_deref(), Some("Ann Lee"));
        users[0].object_id.clone()
    };
    let found = b
        .store()
        .find_user_by_identity(&b.tenant, &local_issuer(BROKER), oid.as_str())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        found.is_some(),
        "the local identity is (local issuer, object id)"
    );
    let passkeys = b
        .store()
        .list_local_credentials(&b.tenant, &oid)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(passkeys.len(), 1);
    assert_eq!(
        Some(passkeys[0].credential_id.clone()),
        authenticator.credential_ids().first().cloned()
    );

    // Sign-up through the whole path again for a second user, and redeem: the new user's token.
    let other = SoftAuthenticator::new();
    let (request, answer) = sign_up(&b, &other, "bob@example.com").await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let claims = redeem(&b, &answer.location(), &request.verifier).await;
    assert_eq!(claims["emails"], json!(["bob@example.com"]));
    assert_eq!(claims["email_verified"], json!(true));
    assert_eq!(claims["idp"], json!("local"));
    assert_eq!(claims["newUser"], json!(true));
    assert_eq!(claims["name"], json!("Ann Lee"));
    assert_eq!(claims["nonce"], json!("app-nonce"));
    let amr: Vec<String> = serde_json::from_value(claims["amr"].clone()).unwrap_or_default();
    assert!(
        amr.contains(&"pop".to_owned()) && amr.contains(&"mfa".to_owned()),
        "{amr:?}"
    );
    assert_eq!(claims["acr"], json!("phr"));

    // Sign-in with the first passkey in a fresh browser: discoverable, no username; the same object id.
    let mut browser = Browser::default();
    let request = app_request(&b, &[]);
    let answer = passkey_sign_in(&b, &mut browser, &request, &authenticator).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let claims = redeem(&b, &answer.location(), &request.verifier).await;
    assert_eq!(claims["sub"], json!(oid.as_str()));
    assert_eq!(claims["oid"], json!(oid.as_str()));
    assert_eq!(claims["idp"], json!("local"));
    assert!(claims.get("newUser").is_none());
    assert_eq!(claims["emails"], json!(["ann@example.com"]));
    assert_eq!(claims["acr"], json!("phr"));
    let used = b
        .store()
        .get_local_credential(&b.tenant, &passkeys[0].credential_id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("passkey"));
    assert!(used.last_used_at.is_some());

    // The broker session answers the next request without a prompt.
    let request = app_request(&b, &[]);
    let answer = browser.get(&b.app, &request.url).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let claims = redeem(&b, &answer.location(), &request.verifier).await;
    assert_eq!(claims["sub"], json!(oid.as_str()));
    b.app.stop().await;
}

async fn wrong_expired_and_reused_codes_and_too_many_attempts_are_refused(backend: Backend) {
    let Some(b) = broker(backend, Flow::default()).await else {
        return;
    };
    // A wrong code: the page again (422) with the attempts left; then the right one goes on.
    let mut browser = Browser::default();
    let (_, code_page) = start_sign_up(&b, &mut browser, "ann@example.com").await;
    let code = b.last_code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let again = browser
        .submit(&b.app, &code_page, "local-code-form", &[("code", wrong)])
        .await;
    assert_eq!(again.status, 422, "{}", again.body);
    assert!(again.body.contains("not right"), "{}", again.body);
    assert!(again.body.contains("4 attempts left"), "{}", again.body);
    let ok = browser
        .submit(&b.app, &again, "local-code-form", &[("code", &code)])
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body.contains("local-register-form"));
    // The same code again (the same form sent twice): single use.
    let reused = browser
        .submit(&b.app, &again, "local-code-form", &[("code", &code)])
        .await;
    assert_eq!(reused.status, 400, "{}", reused.body);
    assert!(reused.body.contains("expired"), "{}", reused.body);

    // An expired code: ten minutes later it no longer works.
    let mut browser = Browser::default();
    let (_, code_page) = start_sign_up(&b, &mut browser, "bob@example.com").await;
    let code = b.last_code();
    b.app.clock.advance(time::Duration::minutes(10));
    let late = browser
        .submit(&b.app, &code_page, "local-code-form", &[("code", &code)])
        .await;
    assert_eq!(late.status, 400, "{}", late.body);
    assert!(late.body.contains("expired"), "{}", late.body);

    // Five wrong codes end the attempt: even the right one is refused afterwards.
    let mut browser = Browser::default();
    let (_, mut page) = start_sign_up(&b, &mut browser, "carol@example.com").await;
    let code = b.last_code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for attempt in 1..=5 {
        let next = browser
            .submit(&b.app, &page, "local-code-form", &[("code", wrong)])
            .await;
        if attempt < 5 {
            assert_eq!(next.status, 422, "attempt {attempt}: {}", next.body);
            page = next;
        } else {
            assert_eq!(next.status, 400, "{}", next.body);
            assert!(next.body.contains("Too many wrong codes"), "{}", next.body);
        }
    }
    let after = browser
        .submit(&b.app, &page, "local-code-form", &[("code", &code)])
        .await;
    assert_eq!(after.status, 400, "{}", after.body);

    // A code from another browser (another CSRF token) is refused.
    let mut browser = Browser::default();
    let (_, page) = start_sign_up(&b, &mut browser, "dave@example.com").await;
    let code = b.last_code();
    let mut thief = Browser::default();
    let _ = thief.get(&b.app, &app_request(&b, &[]).url).await;
    let form = page.form("local-code-form");
    let mut fields = form.with(&[("code", &code)]);
    let token = thief
        .cookies
        .get(&format!("__Host-tessera-csrf-{BROKER}"))
        .cloned()
        .unwrap_or_default();
    fields.retain(|(k, _)| k != "csrf_token");
    fields.push(("csrf_token".into(), token));
    let stolen = thief.post(&b.app, &form.action, &fields).await;
    assert_eq!(stolen.status, 400, "{}", stolen.body);
    assert_eq!(user_count(&b).await, 0);
    b.app.stop().await;
}

async fn code_sends_are_limited_per_email_address(backend: Backend) {
    let Some(b) = broker(backend, Flow::default()).await else {
        return;
    };
    for _ in 0..5 {
        let mut browser = Browser::default();
        start_sign_up(&b, &mut browser, "Ann@Example.com").await;
    }
    let mut browser = Browser::default();
    let request = app_request(&b, &[]);
    let page = browser.get(&b.app, &request.url).await;
    let refused = browser
        .submit(
            &b.app,
            &page,
            "local-signup-form",
            &[("email", "ann@example.com")],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("Too many codes"), "{}", refused.body);
    assert_eq!(b.mailed_codes().len(), 5, "no sixth message");
    // Another address still gets its code.
    let other = browser
        .submit(
            &b.app,
            &refused,
            "local-signup-form",
            &[("email", "bob@example.com")],
        )
        .await;
    assert_eq!(other.status, 200, "{}", other.body);
    // An invalid address is refused on the page, and nothing is sent.
    let page = browser.get(&b.app, &request.url).await;
    let invalid = browser
        .submit(
            &b.app,
            &page,
            "local-signup-form",
            &[("email", "not an address")],
        )
        .await;
    assert_eq!(invalid.status, 422, "{}", invalid.body);
    assert!(invalid.body.contains("aria-invalid"), "{}", invalid.body);
    assert_eq!(b.mailed_codes().len(), 6);
    // An hour later the limit starts again.
    b.app.clock.advance(time::Duration::minutes(61));
    let mut browser = Browser::default();
    start_sign_up(&b, &mut browser, "ann@example.com").await;
    b.app.stop().await;
}

async fn a_passkey_from_another_origin_and_a_replayed_challenge_are_refused(backend: Backend) {
    let Some(b) = broker(backend, Flow::default()).await else {
        return;
    };
    // Registration answered for another origin (same host, another port): refused, nothing written.
    let mut browser = Browser::default();
    let (_, code_page) = start_sign_up(&b, &mut browser, "ann@example.com").await;
    let code = b.last_code();
    let register_page = browser
        .submit(&b.app, &code_page, "local-code-form", &[("code", &code)])
        .await;
    let authenticator = SoftAuthenticator::new();
    let refused = register(
        &b,
        &mut browser,
        &register_page,
        &authenticator,
        "http://localhost:1",
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("Passkey not accepted"),
        "{}",
        refused.body
    );
    assert_eq!(user_count(&b).await, 0);

    // A real sign-up, then a sign-in whose assertion is sent twice: the second finds no challenge.
    let authenticator = SoftAuthenticator::new();
    let (_, answer) = sign_up(&b, &authenticator, "bob@example.com").await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let mut browser = Browser::default();
    let request = app_request(&b, &[]);
    let page = browser.get(&b.app, &request.url).await;
    let form = page.form("local-passkey-form");
    let options_path = format!("/{BROKER}/broker/local/passkey/options");
    let options = browser
        .post_json(
            &b.app,
            &options_path,
            &json!({ "handle": form.attr("data-handle") }),
        )
        .await;
    let options: Value = serde_json::from_str(&options.body).unwrap_or_else(|e| panic!("{e}"));
    let assertion = authenticator
        .authenticate(&options["publicKey"].to_string(), &b.app.base)
        .unwrap_or_else(|e| panic!("{e}"));
    let fields = form.with(&[
        ("ceremony", options["ceremony"].as_str().unwrap_or_default()),
        ("credential", &assertion),
    ]);
    let first = browser.post(&b.app, &form.action, &fields).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let replay = Browser {
        cookies: browser.cookies.clone(),
    }
    .post(&b.app, &form.action, &fields)
    .await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(replay.body.contains("expired"), "{}", replay.body);

    // An assertion for another origin is refused.
    let mut browser = Browser::default();
    let page = browser.get(&b.app, &request.url).await;
    let form = page.form("local-passkey-form");
    let options = browser
        .post_json(
            &b.app,
            &options_path,
            &json!({ "handle": form.attr("data-handle") }),
        )
        .await;
    let options: Value = serde_json::from_str(&options.body).unwrap_or_else(|e| panic!("{e}"));
    let assertion = authenticator
        .authenticate(&options["publicKey"].to_string(), "http://localhost:1")
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = browser
        .post(
            &b.app,
            &form.action,
            &form.with(&[
                ("ceremony", options["ceremony"].as_str().unwrap_or_default()),
                ("credential", &assertion),
            ]),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("Passkey not accepted"),
        "{}",
        refused.body
    );

    // A challenge older than five minutes is refused.
    let mut browser = Browser::default();
    let page = browser.get(&b.app, &request.url).await;
    let form = page.form("local-passkey-form");
    let options = browser
        .post_json(
            &b.app,
            &options_path,
            &json!({ "handle": form.attr("data-handle") }),
        )
        .await;
    let options: Value = serde_json::from_str(&options.body).unwrap_or_else(|e| panic!("{e}"));
    let assertion = authenticator
        .authenticate(&options["publicKey"].to_string(), &b.app.base)
        .unwrap_or_else(|e| panic!("{e}"));
    b.app.clock.advance(time::Duration::minutes(6));
    let late = browser
        .post(
            &b.app,
            &form.action,
            &form.with(&[
                ("ceremony", options["ceremony"].as_str().unwrap_or_default()),
                ("credential", &assertion),
            ]),
        )
        .await;
    assert_eq!(late.status, 400, "{}", late.body);
    // Without the CSRF header the options are refused.
    let mut browser = Browser::default();
    let page = browser.get(&b.app, &request.url).await;
    let form = page.form("local-passkey-form");
    browser
        .cookies
        .remove(&format!("__Host-tessera-csrf-{BROKER}"));
    let refused = browser
        .post_json(
            &b.app,
            &options_path,
            &json!({ "handle": form.attr("data-handle") }),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    b.app.stop().await;
}

async fn a_flow_that_always_requires_mfa_requires_user_verification(backend: Backend) {
    let Some(b) = broker(
        backend,
        Flow {
            mfa: MfaSetting::Always,
            ..Flow::default()
        },
    )
    .await
    else {
        return;
    };
    let mut browser = Browser::default();
    let (_, code_page) = start_sign_up(&b, &mut browser, "ann@example.com").await;
    let code = b.last_code();
    let register_page = browser
        .submit(&b.app, &code_page, "local-code-form", &[("code", &code)])
        .await;
    let options: Value = serde_json::from_str(
        &register_page
            .form("local-register-form")
            .attr("data-options"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    // An authenticator that cannot verify its user, behind a client that asks for no verification: the broker
    // still requires it.
    let no_uv = SoftAuthenticator::without_user_verification();
    let mut lowered = options.clone();
    lowered["authenticatorSelection"]["userVerification"] = json!("discouraged");
    let credential = no_uv
        .register(&lowered.to_string(), &b.app.base)
        .unwrap_or_else(|e| panic!("{e}"));
    let form = register_page.form("local-register-form");
    let refused = browser
        .post(
            &b.app,
            &form.action,
            &form.with(&[("credential", &credential)]),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("user-verification"),
        "{}",
        refused.body
    );
    assert_eq!(user_count(&b).await, 0);
    // A user-verifying authenticator signs up.
    let (_, answer) = sign_up(&b, &SoftAuthenticator::new(), "bob@example.com").await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert!(query_of(&answer.location()).contains_key("code"));
    b.app.stop().await;
}

async fn abandoned_local_sign_up_leaves_no_user_and_no_passkey(backend: Backend) {
    let Some(b) = broker(backend, Flow::default()).await else {
        return;
    };
    let authenticator = SoftAuthenticator::new();
    let mut browser = Browser::default();
    let (_, code_page) = start_sign_up(&b, &mut browser, "ann@example.com").await;
    let code = b.last_code();
    let register_page = browser
        .submit(&b.app, &code_page, "local-code-form", &[("code", &code)])
        .await;
    let attributes = register(
        &b,
        &mut browser,
        &register_page,
        &authenticator,
        &b.app.base,
    )
    .await;
    assert_eq!(attributes.status, 200, "{}", attributes.body);
    // The user leaves on the attribute page: nothing is in the directory, and the passkey signs no one in.
    assert_eq!(user_count(&b).await, 0);
    let credential = authenticator
        .credential_ids()
        .first()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        b.store().get_local_credential(&b.tenant, &credential).await,
        Ok(None)
    );
    b.app.clock.advance(time::Duration::minutes(16));
    let _ = b
        .store()
        .purge_expired_broker(b.app.clock.now(), 1000)
        .await;
    let mut browser = Browser::default();
    let request = app_request(&b, &[]);
    let refused = passkey_sign_in(&b, &mut browser, &request, &authenticator).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(user_count(&b).await, 0);
    b.app.stop().await;
}

async fn choice_page_lists_local_accounts_beside_providers_and_hints_still_work(backend: Backend) {
    let Some(b) = broker(
        backend,
        Flow {
            providers: true,
            ..Flow::default()
        },
    )
    .await
    else {
        return;
    };
    let mut browser = Browser::default();
    let page = browser.get(&b.app, &app_request(&b, &[]).url).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"provider-acme\""), "{}", page.body);
    assert!(page.body.contains("Sign in with a passkey"));
    assert!(page.body.contains("Sign up with email"));
    // The passkey sign-in's form is answered with a redirect to the app: the page's form-action allows its origin.
    let csp = page
        .headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(csp.contains("https://jwt.ms"), "{csp}");
    // The provider's button and the local forms share the page's sign-in.
    assert_eq!(
        page.form("choice-form")
            .fields
            .iter()
            .find(|(k, _)| k == "handle")
            .map(|(_, v)| v.clone()),
        Some(page.form("local-passkey-form").attr("data-handle"))
    );
    // `idp=local` shows the local page only; `idp=acme` and `domain_hint` go straight to the provider.
    let local = browser
        .get(&b.app, &app_request(&b, &[("idp", "local")]).url)
        .await;
    assert_eq!(local.status, 200, "{}", local.body);
    assert!(!local.body.contains("provider-acme"));
    assert!(local.body.contains("local-signup-form"));
    for hint in [("idp", "acme"), ("domain_hint", "acme.example")] {
        let upstream = browser.get(&b.app, &app_request(&b, &[hint]).url).await;
        assert_eq!(upstream.status, 303, "{hint:?}: {}", upstream.body);
        assert!(
            upstream.location().contains("/acme/oidc/authorize"),
            "{}",
            upstream.location()
        );
    }
    // Choosing the provider still works from the page that offers local accounts.
    let chosen = browser
        .submit(&b.app, &page, "choice-form", &[("provider", "acme")])
        .await;
    assert_eq!(chosen.status, 303, "{}", chosen.body);
    b.app.stop().await;
}

async fn a_local_passkey_satisfies_require_phishing_resistant(backend: Backend) {
    let Some(b) = broker(
        backend,
        Flow {
            rules: vec![AccessRule {
                name: "phishing-resistant only".into(),
                applications: Vec::new(),
                identity_providers: Vec::new(),
                action: AccessAction::RequirePhishingResistant,
            }],
            ..Flow::default()
        },
    )
    .await
    else {
        return;
    };
    let authenticator = SoftAuthenticator::new();
    let (request, answer) = sign_up(&b, &authenticator, "ann@example.com").await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let claims = redeem(&b, &answer.location(), &request.verifier).await;
    assert_eq!(claims["acr"], json!("phr"));
    let mut browser = Browser::default();
    let request = app_request(&b, &[]);
    let answer = passkey_sign_in(&b, &mut browser, &request, &authenticator).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert!(
        query_of(&answer.location()).contains_key("code"),
        "{}",
        answer.location()
    );
    b.app.stop().await;
}

/// Sign-in options for the page of a fresh request, and the passkey form to answer them with.
async fn sign_in_options(b: &Broker, browser: &mut Browser) -> (Form, Value) {
    let page = browser.get(&b.app, &app_request(b, &[]).url).await;
    let form = page.form("local-passkey-form");
    let options = browser
        .post_json(
            &b.app,
            &format!("/{BROKER}/broker/local/passkey/options"),
            &json!({ "handle": form.attr("data-handle") }),
        )
        .await;
    assert_eq!(options.status, 200, "{}", options.body);
    let options = serde_json::from_str(&options.body).unwrap_or_else(|e| panic!("{e}"));
    (form, options)
}

async fn a_wrong_rp_id_hash_and_a_counter_that_went_back_are_refused(backend: Backend) {
    let Some(b) = broker(backend, Flow::default()).await else {
        return;
    };
    let evil = || Overrides {
        rp_id: Some("evil.example".into()),
        ..Overrides::default()
    };
    // A registration whose authenticator data names another RP: refused, nothing written.
    let mut browser = Browser::default();
    let (_, code_page) = start_sign_up(&b, &mut browser, "ann@example.com").await;
    let code = b.last_code();
    let page = browser
        .submit(&b.app, &code_page, "local-code-form", &[("code", &code)])
        .await;
    let form = page.form("local-register-form");
    let (response, _) = MaliciousAuthenticator::new()
        .with_overrides(evil())
        .register(&form.attr("data-options"), &b.app.base)
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = browser
        .post(
            &b.app,
            &form.action,
            &form.with(&[("credential", &response)]),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("rp-id"), "{}", refused.body);
    assert_eq!(user_count(&b).await, 0);

    // An honest registration with the same kind of authenticator.
    let mut browser = Browser::default();
    let (_, code_page) = start_sign_up(&b, &mut browser, "bob@example.com").await;
    let code = b.last_code();
    let page = browser
        .submit(&b.app, &code_page, "local-code-form", &[("code", &code)])
        .await;
    let form = page.form("local-register-form");
    let (response, credential) = MaliciousAuthenticator::new()
        .register(&form.attr("data-options"), &b.app.base)
        .unwrap_or_else(|e| panic!("{e}"));
    let attributes = browser
        .post(
            &b.app,
            &form.action,
            &form.with(&[("credential", &response)]),
        )
        .await;
    assert_eq!(attributes.status, 200, "{}", attributes.body);
    let answer = browser
        .submit(
            &b.app,
            &attributes,
            "attribute-form",
            &[("display_name", "Bob Ray")],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);

    // A sign-in whose authenticator data names another RP is refused.
    let mut browser = Browser::default();
    let (form, options) = sign_in_options(&b, &mut browser).await;
    let assertion = MaliciousAuthenticator::new()
        .with_overrides(evil())
        .authenticate(&options["publicKey"].to_string(), &b.app.base, &credential)
        .unwrap_or_else(|e| panic!("{e}"));
    let ceremony = options["ceremony"].as_str().unwrap_or_default().to_owned();
    let refused = browser
        .post(
            &b.app,
            &form.action,
            &form.with(&[("ceremony", &ceremony), ("credential", &assertion)]),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("rp-id"), "{}", refused.body);

    // An honest sign-in moves the counter; an assertion with an older counter (a clone) is refused.
    let (form, options) = sign_in_options(&b, &mut browser).await;
    let assertion = MaliciousAuthenticator::new()
        .authenticate(&options["publicKey"].to_string(), &b.app.base, &credential)
        .unwrap_or_else(|e| panic!("{e}"));
    let ceremony = options["ceremony"].as_str().unwrap_or_default().to_owned();
    let signed_in = browser
        .post(
            &b.app,
            &form.action,
            &form.with(&[("ceremony", &ceremony), ("credential", &assertion)]),
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let stored = b
        .store()
        .get_local_credential(&b.tenant, &credential.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("passkey"));
    assert!(stored.sign_count > 0);
    let mut browser = Browser::default();
    let (form, options) = sign_in_options(&b, &mut browser).await;
    let clone = MaliciousAuthenticator::new().with_overrides(Overrides {
        sign_count: Some(stored.sign_count),
        ..Overrides::default()
    });
    let assertion = clone
        .authenticate(&options["publicKey"].to_string(), &b.app.base, &credential)
        .unwrap_or_else(|e| panic!("{e}"));
    let ceremony = options["ceremony"].as_str().unwrap_or_default().to_owned();
    let refused = browser
        .post(
            &b.app,
            &form.action,
            &form.with(&[("ceremony", &ceremony), ("credential", &assertion)]),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("sign-count"), "{}", refused.body);
    b.app.stop().await;
}

async fn email_first_sign_in_offers_the_accounts_passkeys_and_a_stable_decoy_otherwise(
    backend: Backend,
) {
    let Some(b) = broker(backend, Flow::default()).await else {
        return;
    };
    let authenticator = SoftAuthenticator::new();
    let (_, answer) = sign_up(&b, &authenticator, "ann@example.com").await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let credential = authenticator
        .credential_ids()
        .first()
        .cloned()
        .unwrap_or_default();
    let options_for = async |browser: &mut Browser, email: &str| {
        let request = app_request(&b, &[]);
        let page = browser.get(&b.app, &request.url).await;
        let form = page.form("local-passkey-form");
        let reply = browser
            .post_json(
                &b.app,
                &format!("/{BROKER}/broker/local/passkey/options"),
                &json!({ "handle": form.attr("data-handle"), "email": email }),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let options: Value = serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("{e}"));
        (request, form, options)
    };
    let allowed = |options: &Value| -> Vec<String> {
        options["publicKey"]["allowCredentials"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|d| d["id"].as_str().map(str::to_owned))
            .collect()
    };
    // The account's passkey, whatever the case of the address.
    let mut browser = Browser::default();
    let (request, form, options) = options_for(&mut browser, " ANN@example.com ").await;
    assert_eq!(allowed(&options), vec![B64.encode(&credential)]);
    let assertion = authenticator
        .authenticate(&options["publicKey"].to_string(), &b.app.base)
        .unwrap_or_else(|e| panic!("{e}"));
    let ceremony = options["ceremony"].as_str().unwrap_or_default().to_owned();
    let answer = browser
        .post(
            &b.app,
            &form.action,
            &form.with(&[("ceremony", &ceremony), ("credential", &assertion)]),
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let claims = redeem(&b, &answer.location(), &request.verifier).await;
    assert_eq!(claims["emails"], json!(["ann@example.com"]));

    // An unknown address gets one decoy passkey, the same each time, so the answer tells nothing.
    let mut browser = Browser::default();
    let (_, _, first) = options_for(&mut browser, "nobody@example.com").await;
    let (_, _, second) = options_for(&mut browser, "Nobody@Example.com").await;
    let decoy = allowed(&first);
    assert_eq!(decoy.len(), 1);
    assert_eq!(decoy, allowed(&second));
    assert_ne!(decoy, vec![B64.encode(&credential)]);
    assert_eq!(decoy[0].len(), B64.encode([0u8; 32]).len());

    // A passkey that is not among those offered for the address (another account's) is refused.
    let other = SoftAuthenticator::new();
    let (_, answer) = sign_up(&b, &other, "bob@example.com").await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let mut browser = Browser::default();
    let (_, form, options) = options_for(&mut browser, "ann@example.com").await;
    let mut discoverable = options["publicKey"].clone();
    discoverable["allowCredentials"] = json!([]);
    let assertion = other
        .authenticate(&discoverable.to_string(), &b.app.base)
        .unwrap_or_else(|e| panic!("{e}"));
    let ceremony = options["ceremony"].as_str().unwrap_or_default().to_owned();
    let refused = browser
        .post(
            &b.app,
            &form.action,
            &form.with(&[("ceremony", &ceremony), ("credential", &assertion)]),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    b.app.stop().await;
}
