//! Tenants on their own address, routed by `Host`: two tenants on `north.localhost` and `south.localhost` beside the
//! path-based one, each with its own RP ID, origins and issuer; a whole passkey sign-up and code flow on one of them
//! at paths without the tenant segment; the service's address and the other tenant's address do not serve it; its
//! passkeys are refused on the other's pages.

use serde_json::{Value, json};
use tessera_core::{Clock, TenantId};
use tessera_service::clients::{self, ClientKind, LocalhostHttp, NewClient};
use tessera_service::tenants::{self, NewTenant, SettingsChange, TenantUpdate};
use tessera_testkit::SoftAuthenticator;

use crate::helpers::{Backend, REDIRECT, TestApp};

/// A tenant on its own address: its id, public base URL (`https`, as behind a proxy that ends TLS: the software
/// authenticator, like a browser, allows plain `http` only on `localhost` itself), the address the test reaches
/// it at (`http://{name}.localhost:PORT`, the same `Host`) and one confidential client.
struct HostTenant {
    id: TenantId,
    base: String,
    reach: String,
    client_id: String,
    secret: String,
}

async fn host_tenant(app: &TestApp, name: &str) -> HostTenant {
    let id = TenantId::parse(name).expect("tenant id");
    let base = format!("https://{name}.localhost:{}", app.addr.port());
    let reach = format!("http://{name}.localhost:{}", app.addr.port());
    let store = app.state.provider.store.as_ref();
    tenants::create_tenant(
        store,
        &app.state.provider.master_key,
        NewTenant::parse(
            id.clone(),
            &format!("{name}.localhost"),
            std::slice::from_ref(&base),
            Some(format!("{name} Inc")),
        )
        .expect("new tenant"),
        app.clock.now(),
    )
    .await
    .expect("tenant");
    tenants::update_tenant(
        store,
        &id,
        &TenantUpdate {
            settings: SettingsChange {
                public_url: Some(Some(base.clone())),
                ..SettingsChange::default()
            },
            ..TenantUpdate::default()
        },
    )
    .await
    .expect("own address");
    let (client, secret) = clients::create_client(
        store,
        NewClient {
            tenant: id.clone(),
            redirect_uris: clients::parse_redirect_uris(&[REDIRECT.into()], LocalhostHttp::Refuse)
                .expect("redirect"),
            post_logout_redirect_uris: Vec::new(),
            kind: ClientKind::ConfidentialBasic,
            id_token_alg: tessera_oidc::keys::SigningAlg::Es256,
            name: Some(format!("{name} RP")),
        },
        app.clock.now(),
    )
    .await
    .expect("client");
    HostTenant {
        id,
        base,
        reach,
        client_id: client.client_id.to_string(),
        secret: secret.expect("secret").expose().to_owned(),
    }
}

/// A client that reaches `*.localhost` at the app's socket, as a browser does, and follows no redirects.
fn browser_client(app: &TestApp) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve("north.localhost", app.addr)
        .resolve("south.localhost", app.addr)
        .build()
        .expect("client")
}

struct Page<'a> {
    http: &'a reqwest::Client,
    tenant: &'a HostTenant,
    cookies: Vec<(String, String)>,
}

impl Page<'_> {
    fn absorb(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().expect("ascii");
            let (name, rest) = text.split_once('=').expect("cookie");
            let value = rest.split(';').next().unwrap_or_default().to_owned();
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() && !text.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value));
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn get(&mut self, url: &str) -> reqwest::Response {
        let response = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("get");
        self.absorb(&response);
        response
    }

    /// A JSON call of the pages' script from `origin`; the answer's status and body.
    async fn call(&mut self, path: &str, origin: &str, body: Value) -> (u16, Value) {
        let csrf_name = tessera_http::csrf::cookie_name(&self.tenant.id);
        let csrf = self
            .cookies
            .iter()
            .find(|(n, _)| *n == csrf_name)
            .map(|(_, v)| v.clone())
            .expect("csrf cookie");
        let response = self
            .http
            .post(format!("{}{path}", self.tenant.reach))
            .header("origin", origin)
            .header("cookie", self.cookie_header())
            .header(tessera_http::csrf::CSRF_HEADER, csrf)
            .json(&body)
            .send()
            .await
            .expect("call");
        self.absorb(&response);
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

fn authorize_query(tenant: &HostTenant) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", tenant.client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "openid profile"),
            ("state", "st-host"),
            ("nonce", "n-host"),
        ])
        .finish()
}

async fn tenants_on_their_own_hosts(app: &TestApp) {
    let north = host_tenant(app, "north").await;
    let south = host_tenant(app, "south").await;
    app.state
        .provider
        .hosts
        .refresh(app.state.provider.store.as_ref())
        .await
        .expect("hosts");
    let http = browser_client(app);

    // Discovery at the tenant's own address names its own issuer and endpoints, without the tenant segment.
    let discovery: Value = http
        .get(format!(
            "{}/oidc/.well-known/openid-configuration",
            north.reach
        ))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    let issuer = format!("{}/oidc", north.base);
    let reach_issuer = format!("{}/oidc", north.reach);
    assert_eq!(discovery["issuer"], issuer.as_str());
    assert_eq!(
        discovery["authorization_endpoint"],
        format!("{issuer}/authorize").as_str()
    );
    assert_eq!(
        discovery["token_endpoint"],
        format!("{issuer}/token").as_str()
    );

    // The service's address does not serve it: GETs move to its address, anything else is not found.
    let moved = app
        .http
        .get(format!(
            "{}/north/oidc/.well-known/openid-configuration",
            app.base
        ))
        .send()
        .await
        .expect("moved");
    assert_eq!(moved.status(), 308);
    assert_eq!(
        location(&moved),
        format!("{}/oidc/.well-known/openid-configuration", north.base)
    );
    let token_there = app
        .http
        .post(format!("{}/north/oidc/token", app.base))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .expect("token");
    assert_eq!(token_there.status(), 404);
    // Nor does the other tenant's address.
    let crossed = http
        .get(format!(
            "{}/north/oidc/.well-known/openid-configuration",
            south.reach
        ))
        .send()
        .await
        .expect("crossed");
    assert_eq!(crossed.status(), 404);
    // The pages' script and style sheet are served at the tenant's address too.
    let script = http
        .get(format!(
            "{}{}",
            north.reach,
            tessera_http::assets::SCRIPT_PATH
        ))
        .send()
        .await
        .expect("script");
    assert_eq!(script.status(), 200);
    // The path-based tenant is served as before.
    let path_based = app
        .http
        .get(format!("{}/.well-known/openid-configuration", app.issuer))
        .send()
        .await
        .expect("acme");
    assert_eq!(path_based.status(), 200);

    // A passkey sign-up and the code flow, on the tenant's address at paths without its segment.
    let authenticator = SoftAuthenticator::new();
    let mut page = Page {
        http: &http,
        tenant: &north,
        cookies: Vec::new(),
    };
    let authorize = page
        .get(&format!(
            "{reach_issuer}/authorize?{}",
            authorize_query(&north)
        ))
        .await;
    assert_eq!(authorize.status(), 303);
    let login = location(&authorize);
    let authz = login.split("authz=").nth(1).expect("authz").to_owned();
    let signup = page
        .get(&format!("{}/signup?authz={authz}", north.reach))
        .await;
    assert_eq!(signup.status(), 200, "the sign-up page at the bare path");
    let (status, options) = page
        .call(
            "/webauthn/register/options",
            &north.base,
            json!({"username": "nora", "display_name": "Nora", "authz": authz}),
        )
        .await;
    assert_eq!(status, 200, "{options}");
    assert_eq!(options["publicKey"]["rp"]["id"], "north.localhost");
    let credential = authenticator
        .register(&options["publicKey"].to_string(), &north.base)
        .expect("passkey");
    let (status, done) = page
        .call(
            "/webauthn/register/verify",
            &north.base,
            json!({"ceremony": options["ceremony"], "credential": serde_json::from_str::<Value>(&credential).expect("json")}),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    let next = done["next"].as_str().expect("next");
    let resumed = page.get(&format!("{}{next}", north.reach)).await;
    assert_eq!(resumed.status(), 303);
    let callback = url::Url::parse(&location(&resumed)).expect("callback");
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let tokens: Value = http
        .post(format!("{reach_issuer}/token"))
        .basic_auth(&north.client_id, Some(&north.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let id_token = tokens["id_token"].as_str().expect("id token");
    let payload = id_token.split('.').nth(1).expect("payload");
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .expect("base64"),
    )
    .expect("claims");
    assert_eq!(claims["iss"], issuer.as_str(), "the tenant's own issuer");
    assert_eq!(claims["preferred_username"], "nora");

    // North's passkey, used on south's pages (a look-alike at another address), is refused: its origin is not
    // south's and its RP ID is north's.
    let mut other = Page {
        http: &http,
        tenant: &south,
        cookies: Vec::new(),
    };
    let authorize = other
        .get(&format!(
            "{}/oidc/authorize?{}",
            south.reach,
            authorize_query(&south)
        ))
        .await;
    let authz = location(&authorize)
        .split("authz=")
        .nth(1)
        .expect("authz")
        .to_owned();
    other
        .get(&format!("{}/login?authz={authz}", south.reach))
        .await;
    let (status, options) = other
        .call(
            "/webauthn/login/options",
            &south.base,
            json!({"authz": authz}),
        )
        .await;
    assert_eq!(status, 200, "{options}");
    assert_eq!(options["publicKey"]["rpId"], "south.localhost");

    // North's passkey, answering south's challenge at north's origin (what a relaying page could obtain), is
    // refused by south: another RP ID, another origin, a credential it never registered.
    let mut relay = Page {
        http: &http,
        tenant: &north,
        cookies: Vec::new(),
    };
    let authorize = relay
        .get(&format!(
            "{reach_issuer}/authorize?{}&prompt=login",
            authorize_query(&north)
        ))
        .await;
    let north_authz = location(&authorize)
        .split("authz=")
        .nth(1)
        .expect("authz")
        .to_owned();
    relay
        .get(&format!("{}/login?authz={north_authz}", north.reach))
        .await;
    let (status, north_options) = relay
        .call(
            "/webauthn/login/options",
            &north.base,
            json!({"username": "nora", "authz": north_authz}),
        )
        .await;
    assert_eq!(status, 200, "{north_options}");
    let mut challenged = north_options["publicKey"].clone();
    challenged["challenge"] = options["publicKey"]["challenge"].clone();
    let relayed = authenticator
        .authenticate(&challenged.to_string(), &north.base)
        .expect("north's passkey signs at north's origin");
    let (status, refused) = other
        .call(
            "/webauthn/login/verify",
            &south.base,
            json!({"ceremony": options["ceremony"], "credential": serde_json::from_str::<Value>(&relayed).expect("json")}),
        )
        .await;
    assert!(
        (400..500).contains(&status),
        "north's passkey on south: {status} {refused}"
    );
}

#[tokio::test]
async fn tenants_on_their_own_hosts_have_their_own_issuer_and_passkeys() {
    let app = TestApp::spawn().await;
    tenants_on_their_own_hosts(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn tenants_on_their_own_hosts_on_postgres() {
    let Some(app) = TestApp::spawn_on(Backend::Postgres).await else {
        return;
    };
    tenants_on_their_own_hosts(&app).await;
    app.stop().await;
}
