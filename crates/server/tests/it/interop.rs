//! Interoperability: the `openidconnect` crate (not written here) as the client performs discovery, the code flow
//! with PKCE, and verifies our ID tokens unmodified, RS256 and ES256; then userinfo. Also on PostgreSQL when
//! `TEST_PG_URL` is set. And the demo's built-in relying party, end to end.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

use crate::helpers::{Backend, Mode, TestApp, TestClient, parse_form, read_callback};

async fn openidconnect_flow(
    app: &TestApp,
    client: &TestClient,
    alg: CoreJwsSigningAlgorithm,
    username: &str,
) {
    let user = app.create_user(username).await;
    let cookie = app.sign_in(&user).await;
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(app.issuer.clone()).expect("issuer"),
        &app.http,
    )
    .await
    .expect("discovery accepted by openidconnect");
    let oidc = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client.id.clone()),
        client.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(client.redirect_uri.clone()).expect("redirect"));
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = oidc
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let response = app.get(url.as_str(), Some(&cookie)).await;
    let callback = read_callback(response, Mode::Query).await;
    assert_eq!(
        callback.get("state").as_deref(),
        Some(state.secret().as_str())
    );
    let tokens = oidc
        .exchange_code(AuthorizationCode::new(callback.get("code").expect("code")))
        .expect("token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&app.http)
        .await
        .expect("token response accepted by openidconnect");
    let id_token = tokens.id_token().expect("id token");
    let verifier = oidc.id_token_verifier().set_allowed_algs(vec![alg]);
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("ID token verified by openidconnect");
    assert_eq!(claims.subject().as_str(), user.as_str());
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some(username)
    );
    let signing_alg = id_token.signing_alg().expect("alg");
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        signing_alg,
        id_token.signing_key(&verifier).expect("key"),
    )
    .expect("at_hash");
    assert_eq!(claims.access_token_hash(), Some(&at_hash));
    let info: CoreUserInfoClaims = oidc
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .expect("userinfo endpoint")
        .request_async(&app.http)
        .await
        .expect("userinfo accepted by openidconnect");
    assert_eq!(info.subject(), claims.subject());
}

#[tokio::test]
async fn openidconnect_client_verifies_rs256_id_tokens() {
    let app = TestApp::spawn().await;
    openidconnect_flow(
        &app,
        &app.basic.clone(),
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        "bob",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn openidconnect_client_verifies_es256_id_tokens() {
    let app = TestApp::spawn().await;
    openidconnect_flow(
        &app,
        &app.es256.clone(),
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        "eve",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn openidconnect_public_client_with_pkce() {
    let app = TestApp::spawn().await;
    openidconnect_flow(
        &app,
        &app.public.clone(),
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        "bob",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn openidconnect_flow_on_postgres() {
    let Some(app) = TestApp::spawn_on(Backend::Postgres).await else {
        return;
    };
    openidconnect_flow(
        &app,
        &app.basic.clone(),
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        "bob",
    )
    .await;
    openidconnect_flow(
        &app,
        &app.es256.clone(),
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        "eve",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn demo_relying_party_signs_in_through_form_post() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().expect("dir");
    let data = tessera_server::datadir::DataDir::open(dir.path()).expect("data dir");
    let public_url = tessera_http::PublicUrl::parse(&app.base).expect("url");
    let info = tessera_server::demo::prepare(
        app.state.provider.store.as_ref(),
        &app.state.provider.master_key,
        &public_url,
        &data,
    )
    .await
    .expect("demo prepared");
    // The relying party runs beside the app, talking to it over loopback HTTP.
    let rp = tessera_server::demo::relying_party(info.clone(), app.http.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let rp_base = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    tokio::spawn(async move { axum::serve(listener, rp).await });
    // demo.json carries what a newcomer needs.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("demo.json")).expect("demo.json"))
            .expect("json");
    for key in [
        "authenticator_url",
        "authenticator_tenant",
        "demo_client_id",
        "demo_client_secret",
        "demo_redirect_uri",
        "discovery_url",
    ] {
        assert!(json[key].as_str().is_some_and(|v| !v.is_empty()), "{key}");
    }
    // The relying party listens on its own port here; the browser is at the demo's own address, which the
    // demo checks (any other host gets a page saying where to open it, tested below).
    let demo_host = info
        .demo_url
        .trim_start_matches("http://")
        .trim_end_matches("/demo/")
        .to_owned();
    let wrong = app
        .http
        .get(format!("{rp_base}/demo/"))
        .send()
        .await
        .expect("demo at another host");
    assert_eq!(wrong.status(), 421);
    let html = wrong.text().await.expect("html");
    assert!(
        html.contains(&format!("href=\"{}\"", info.demo_url)) && !html.contains("/demo/login"),
        "the page links to the demo's own address and offers no sign-in: {html}"
    );
    let home = app
        .http
        .get(format!("{rp_base}/demo/"))
        .header("host", &demo_host)
        .send()
        .await
        .expect("demo home");
    assert_eq!(home.status(), 200);
    assert!(
        home.text()
            .await
            .expect("html")
            .contains("development setup")
    );
    // The demo tenant keys are not the test tenant's; the demo client belongs to `mytenant`.
    let user = app.create_user("carol").await;
    let _ = user;
    let login = app
        .http
        .get(format!("{rp_base}/demo/login"))
        .header("host", &demo_host)
        .send()
        .await
        .expect("login");
    if login.status() != 303 {
        panic!("{}", login.text().await.unwrap_or_default());
    }
    let state_cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let authorize_url = login.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(authorize_url.starts_with(&info.authenticator_url));
    assert!(authorize_url.contains("response_mode=form_post"));
    assert!(authorize_url.contains("code_challenge_method=S256"));
    assert!(authorize_url.contains("nonce="));
    // Sign in at the demo tenant (a session as the pages would create), then authorize.
    let demo_tenant = tessera_core::TenantId::parse("mytenant").expect("tenant");
    let demo_user = tessera_core::UserId::parse("demo-user-1").expect("id");
    let now = tessera_core::Clock::now(app.clock.as_ref());
    let store = app.state.provider.store.clone();
    store
        .create_user_with_credential(
            &tessera_store::User {
                tenant: demo_tenant.clone(),
                id: demo_user.clone(),
                username: "dora".into(),
                display_name: "Dora".into(),
                email: None,
                email_verified: false,
                user_handle: vec![9; 16],
                created_at: now,
                disabled_at: None,
            },
            &tessera_store::Credential {
                tenant: demo_tenant.clone(),
                credential_id: vec![8; 16],
                user_id: demo_user.clone(),
                public_key: vec![1],
                alg: -7,
                sign_count: 0,
                uv_initialized: true,
                backup_eligible: false,
                backup_state: false,
                transports: vec![],
                aaguid: [0; 16],
                attestation_format: "none".into(),
                attestation_trusted: false,
                nickname: "key".into(),
                created_at: now,
                last_used_at: None,
            },
        )
        .await
        .expect("demo user");
    let token = "A".repeat(43);
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec();
    store
        .create_session(&tessera_store::Session {
            id_hash: hash,
            tenant: demo_tenant.clone(),
            user_id: demo_user.clone(),
            sid: "demo-session".into(),
            auth_time: now,
            user_verified: true,
            backup_eligible: false,
            attestation_trusted: false,
            credential_id: None,
            last_seen_at: now,
            expires_at: now + time::Duration::hours(1),
        })
        .await
        .expect("session");
    let cookie = format!(
        "{}={token}",
        tessera_http::session::cookie_name(&demo_tenant)
    );
    let page = app.get(&authorize_url, Some(&cookie)).await;
    assert_eq!(page.status(), 200);
    let form = parse_form(&page.text().await.expect("html"));
    assert_eq!(form.method, "post");
    assert_eq!(form.action, info.demo_redirect_uri);
    // The browser posts the form to the relying party's callback (same origin as the rp here).
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form.fields)
        .finish();
    let callback = app
        .http
        .post(format!("{rp_base}/demo/callback"))
        .header("host", &demo_host)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", state_cookie)
        .body(body)
        .send()
        .await
        .expect("callback");
    let status = callback.status();
    let html = callback.text().await.expect("html");
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Signed in") && html.contains("demo-user-1"),
        "{html}"
    );
    // Times are also shown for people, and the raw token is there to copy.
    assert!(
        html.contains("<th>auth_time</th>") && html.contains(" UTC)</span>"),
        "{html}"
    );
    assert!(html.contains("id=\"raw-token\"") && html.contains("data-copy=\"raw-token\""));
    assert!(
        html.contains("state=signed-out"),
        "sign-out asks to be told: {html}"
    );
    app.stop().await;
}

#[tokio::test]
async fn demo_configures_the_broker_with_the_provider_added_by_its_metadata_url() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().expect("dir");
    let data = tessera_server::datadir::DataDir::open(dir.path()).expect("data dir");
    let public_url = tessera_http::PublicUrl::parse(&app.base).expect("url");
    let state = &app.state;
    let info = tessera_server::demo::prepare(
        state.provider.store.as_ref(),
        &state.provider.master_key,
        &public_url,
        &data,
    )
    .await
    .expect("demo prepared");
    let configure = |info: tessera_server::demo::DemoInfo| {
        let public_url = public_url.clone();
        let data = &data;
        async move {
            tessera_server::demo::prepare_broker(
                state.provider.store.as_ref(),
                state.broker.store.as_ref(),
                &state.provider.master_key,
                &state.broker.upstream,
                &public_url,
                data,
                &info,
            )
            .await
        }
    };
    let done = configure(info.clone()).await.expect("broker configured");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("demo.json")).expect("demo.json"))
            .expect("json");
    assert_eq!(
        json["broker_url"],
        format!("{}/contoso/B2C_1_signupsignin/v2.0", app.base)
    );
    assert_eq!(json["broker_tenant"], "contoso");
    assert_eq!(json["policy"], "B2C_1_signupsignin");
    assert_eq!(
        json["application_redirect_uri"],
        format!("{}/jwt", app.base)
    );
    let app_id = json["application_client_id"]
        .as_str()
        .expect("application id")
        .to_owned();
    assert!(!app_id.starts_with('-'));
    for key in ["demo_client_id", "demo_client_secret", "authenticator_url"] {
        assert!(
            json[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key} kept"
        );
    }

    // The provider was stored with the metadata the broker fetched from the authenticator service and validated.
    let tenant = tessera_core::TenantId::parse("contoso").expect("tenant");
    let noknok = tessera_broker::config::ProviderId::parse("noknok").expect("id");
    let provider = tessera_service::broker::providers::get_identity_provider(
        state.broker.store.as_ref(),
        &tenant,
        &noknok,
    )
    .await
    .expect("provider");
    assert_eq!(provider.config.name, "Nok Nok Authentication Provider");
    assert_eq!(provider.config.metadata_url.as_str(), info.discovery_url);
    // The second flow offers local accounts only.
    let local = state
        .broker
        .store
        .get_current_flow_version(&tenant, "b2c_1_local")
        .await
        .expect("flow version")
        .expect("B2C_1_local exists");
    let settings: tessera_broker::config::FlowSettings =
        serde_json::from_value(local.settings).expect("settings");
    assert!(settings.identity_providers.is_empty());
    assert_eq!(
        settings.local_accounts,
        tessera_broker::config::LocalAccounts::Email
    );
    assert_eq!(provider.metadata.issuer, info.authenticator_url);
    assert_eq!(
        provider.metadata.token_endpoint,
        format!("{}/token", info.authenticator_url)
    );
    assert!(
        provider.signing_keys >= 2,
        "the tenant's RS256 and ES256 keys"
    );
    assert_eq!(provider.config.scope_string(), "openid profile email");
    assert_eq!(
        provider.config.response_mode,
        tessera_oidc::ResponseMode::FormPost
    );
    // Its client at the authenticator service replies to the broker's authresp.
    let idp_client = state
        .provider
        .store
        .get_client(
            &tessera_core::TenantId::parse("mytenant").expect("tenant"),
            &tessera_core::ClientId::parse(&provider.config.client_id).expect("client id"),
        )
        .await
        .expect("read")
        .expect("the broker's client at mytenant");
    assert_eq!(
        idp_client.redirect_uris,
        [format!("{}/contoso/oauth2/authresp", app.base)]
    );
    let ready = tessera_service::broker::providers::load_provider_for_sign_in(
        state.broker.store.as_ref(),
        &state.provider.master_key,
        &tenant,
        &noknok,
    )
    .await
    .expect("ready for a sign-in");
    assert!(
        idp_client.secret_hash.as_deref().is_some_and(
            |h| h == tessera_oidc::SecretHash::of(ready.client_secret.expose()).as_bytes()
        ),
        "the sealed secret is the client's"
    );
    let flow = tessera_service::broker::flows::get_user_flow(
        state.broker.store.as_ref(),
        &tenant,
        &tessera_broker::config::PolicyId::parse("b2c_1_signupsignin").expect("policy"),
    )
    .await
    .expect("flow");
    assert_eq!(
        flow.current().settings().identity_providers.as_slice(),
        std::slice::from_ref(&noknok)
    );

    // Running again (demo.json read back by `prepare`) reuses everything.
    let rerun = tessera_server::demo::prepare(
        state.provider.store.as_ref(),
        &state.provider.master_key,
        &public_url,
        &data,
    )
    .await
    .expect("demo prepared again");
    assert_eq!(rerun.broker, done.broker, "the broker's keys are kept");
    let again = configure(rerun).await.expect("again");
    assert_eq!(
        again.broker.application_client_id.as_deref(),
        Some(app_id.as_str())
    );
    let same = tessera_service::broker::providers::get_identity_provider(
        state.broker.store.as_ref(),
        &tenant,
        &noknok,
    )
    .await
    .expect("provider");
    assert_eq!(same.config.client_id, provider.config.client_id);
    assert_eq!(done.broker, again.broker);
    app.stop().await;
}

/// rp-key-rotation-op-sign-key against Tessera's own provider: the broker holds the authenticator tenant's keys;
/// the tenant rotates them at once; the maintenance round a day later fetches the new JWKS and the broker holds the
/// new keys only.
#[tokio::test]
async fn the_maintenance_round_refreshes_a_providers_rotated_keys() {
    let app = TestApp::spawn().await;
    let state = &app.state;
    let now = tessera_core::Clock::now(app.clock.as_ref());
    let broker_tenant = tessera_core::TenantId::parse("contoso").expect("tenant");
    tessera_service::broker::tenants::create_broker_tenant(
        state.broker.store.as_ref(),
        &state.provider.master_key,
        tessera_service::broker::tenants::NewBrokerTenant {
            id: broker_tenant.clone(),
            display_name: None,
        },
        now,
    )
    .await
    .expect("broker tenant");
    let id = tessera_broker::config::ProviderId::parse("acme").expect("id");
    let config = tessera_broker::config::IdentityProvider {
        id: id.clone(),
        name: "Acme".into(),
        metadata_url: tessera_broker::config::MetadataUrl::parse(&format!(
            "{}/.well-known/openid-configuration",
            app.issuer
        ))
        .expect("metadata url"),
        client_id: app.basic.id.clone(),
        client_auth: Default::default(),
        scope: tessera_broker::config::parse_scope("openid profile email"),
        response_type: Default::default(),
        response_mode: tessera_oidc::ResponseMode::FormPost,
        claim_mapping: Default::default(),
        domain_hint: None,
    };
    tessera_service::broker::providers::save_identity_provider(
        state.broker.store.as_ref(),
        &state.provider.master_key,
        &state.broker.upstream,
        &broker_tenant,
        config,
        tessera_core::Secret::new(app.basic.secret.clone().expect("secret")),
        now,
    )
    .await
    .expect("the provider at the test tenant");
    let kids = |keys: &tessera_broker::metadata::ProviderKeys| -> Vec<String> {
        let mut kids: Vec<String> = keys
            .keys()
            .iter()
            .filter_map(|k| k.kid().map(str::to_owned))
            .collect();
        kids.sort();
        kids
    };
    let load = || {
        tessera_service::broker::providers::load_provider_for_sign_in(
            state.broker.store.as_ref(),
            &state.provider.master_key,
            &broker_tenant,
            &id,
        )
    };
    let before = kids(&load().await.expect("load").keys);

    let new_kids = tessera_service::keys::rotate_keys(
        state.provider.store.as_ref(),
        &state.provider.master_key,
        &app.tenant,
        tessera_service::keys::Rotation::Immediate,
        now,
    )
    .await
    .expect("rotate");
    state.provider.tenants.invalidate(&app.tenant);
    // Past the retired keys' grace and the refresh interval: the provider publishes the new keys only.
    app.clock.advance(time::Duration::hours(25));
    tessera_server::app::maintenance_round(state).await;
    let after = kids(&load().await.expect("load").keys);
    let mut expected = new_kids.clone();
    expected.sort();
    assert_eq!(
        after, expected,
        "the new keys, and not the old ones {before:?}"
    );
    app.stop().await;
}
