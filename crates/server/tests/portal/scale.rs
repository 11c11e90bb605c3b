//! The portal at 1,000 objects of each kind: AS clients, AS users (and one user with 1,000 passkeys), AS signing
//! keys, broker applications, identity providers, user flows, directory users, broker signing keys, API tokens,
//! administrators and audit events.
//!
//! - `portal_pages_render_at_1000_objects_fifty_rows_a_page` (SQLite, every run): each list page answers with 50
//!   rows and a link to the next page, the next page answers too, searches and object pages answer. It asserts no
//!   time: speed is measured, not tested.
//! - `portal_page_times_at_1000_objects` (ignored; `scripts/bench-portal` runs it): the measurement behind
//!   docs/benchmarks.md ("no page over 50 ms server time at 1,000 objects"): each page fetched 20 times after two
//!   warm-ups over loopback HTTP, its median and maximum printed as a Markdown table.

use tessera_broker::config::{
    ClaimMapping, FlowSettings, IdentityProvider, LocalAccounts, MetadataUrl, PolicyId, ProviderId,
    TokenLifetimes, UpstreamClientAuth,
};
use tessera_core::{Clock, TenantId, UserId};
use tessera_oidc::keys::SigningAlg;
use tessera_oidc::{ClientType, ResponseMode};
use tessera_service::admin::api_tokens::{self, NewToken, RequestContext, Role};
use tessera_service::broker::{applications, flows, providers, tenants as broker_tenants};
use tessera_store::{AdminMember, AuditEvent};
use tessera_testkit::{Backend, TestApp};

use super::users_pages::user_with_passkeys;
use super::{app, get, portal_session};

/// How many of each object.
const N: usize = 1000;

/// The pages of the seeded app: lists (paged, 50 rows) and the rest (searches, object pages).
struct Seeded {
    lists: Vec<String>,
    others: Vec<String>,
}

async fn seed(app: &TestApp) -> Seeded {
    let now = app.clock.now();
    let provider_store = app.state.provider.store.as_ref();
    let broker_store = app.state.broker.store.as_ref();
    let acme = app.tenant.clone();

    // The authenticator service: clients, users (the last with 1,000 passkeys) and, in a second tenant, keys.
    for n in 0..N {
        provider_store
            .create_client(&tessera_store::Client {
                tenant: acme.clone(),
                client_id: tessera_core::ClientId::parse(&format!("client-{n:04}")).expect("id"),
                display_name: format!("App {n}"),
                secret_hash: Some(vec![7; 32]),
                redirect_uris: vec![format!("{}/contoso/oauth2/authresp", app.base)],
                post_logout_redirect_uris: Vec::new(),
                token_endpoint_auth_method: "client_secret_basic".into(),
                id_token_signed_response_alg: "RS256".into(),
                jwks: None,
                allowed_scopes: vec!["openid".into()],
                created_at: now,
            })
            .await
            .expect("client");
    }
    let (client, secret) = tessera_service::clients::create_client(
        provider_store,
        tessera_service::clients::NewClient {
            tenant: acme.clone(),
            redirect_uris: tessera_service::clients::parse_redirect_uris(
                &[format!("{}/contoso/oauth2/authresp", app.base)],
                tessera_service::clients::LocalhostHttp::InsecureAllow,
            )
            .expect("uris"),
            post_logout_redirect_uris: Vec::new(),
            kind: tessera_service::clients::ClientKind::ConfidentialBasic,
            id_token_alg: SigningAlg::Es256,
            name: Some("Broker".into()),
        },
        now,
    )
    .await
    .expect("broker client");
    let (client_id, client_secret) = (client.client_id.to_string(), secret.expect("secret"));
    let mut last_user = None;
    for n in 0..N {
        let passkeys = if n == N - 1 { N } else { 1 };
        last_user = Some(
            user_with_passkeys(
                app,
                &acme,
                &format!("user{n:04}"),
                &format!("Person {n}"),
                passkeys,
            )
            .await,
        );
    }
    let last_user = last_user.expect("users");
    let keyed = TenantId::parse("keyed").expect("id");
    tessera_service::tenants::create_tenant(
        provider_store,
        &app.state.provider.master_key,
        tessera_service::tenants::NewTenant::parse(
            keyed.clone(),
            "localhost",
            std::slice::from_ref(&app.base),
            None,
        )
        .expect("new tenant"),
        now,
    )
    .await
    .expect("tenant");
    for n in 0..N {
        provider_store
            .put_signing_key(&old_key(&keyed, n, now))
            .await
            .expect("key");
    }

    // The broker: applications, identity providers, user flows, directory users and signing keys.
    let contoso = TenantId::parse("contoso").expect("id");
    broker_tenants::create_broker_tenant(
        broker_store,
        &app.state.broker.master_key,
        broker_tenants::NewBrokerTenant {
            id: contoso.clone(),
            display_name: None,
        },
        now,
    )
    .await
    .expect("broker tenant");
    let mut last_app = None;
    for n in 0..N {
        let (application, _) = applications::create_application(
            broker_store,
            &contoso,
            applications::NewApplication {
                display_name: format!("app {n}"),
                client_type: ClientType::Public,
                reply_urls: vec![format!("https://app{n}.example/cb")],
                logout_urls: Vec::new(),
                token_lifetimes: TokenLifetimes::default(),
                id_token_signing_alg: SigningAlg::Rs256,
            },
            now,
        )
        .await
        .expect("application");
        last_app = Some(application.client_id);
        providers::save_identity_provider(
            broker_store,
            &app.state.provider.master_key,
            &app.state.broker.upstream,
            &contoso,
            IdentityProvider {
                id: ProviderId::parse(&format!("idp-{n:04}")).expect("id"),
                name: format!("Provider {n}"),
                metadata_url: MetadataUrl::parse(&format!(
                    "{}/acme/oidc/.well-known/openid-configuration",
                    app.base
                ))
                .expect("url"),
                client_id: client_id.clone(),
                client_auth: UpstreamClientAuth::ClientSecretBasic,
                scope: vec!["openid".into(), "email".into()],
                response_type: Default::default(),
                response_mode: ResponseMode::FormPost,
                claim_mapping: ClaimMapping::default(),
                domain_hint: None,
            },
            tessera_core::Secret::new(client_secret.expose()),
            now,
        )
        .await
        .expect("provider");
        flows::create_user_flow(
            broker_store,
            &contoso,
            PolicyId::from_name(&format!("flow{n:04}")).expect("policy"),
            FlowSettings {
                local_accounts: LocalAccounts::Email,
                identity_providers: vec![ProviderId::parse("idp-0000").expect("id")],
                ..FlowSettings::default()
            },
            now,
        )
        .await
        .expect("flow");
        broker_store
            .create_user_with_identity(
                &tessera_store::DirectoryUserRecord {
                    tenant: contoso.clone(),
                    object_id: UserId::parse(&format!("user-{n:04}")).expect("id"),
                    display_name: Some(format!("User {n}")),
                    given_name: None,
                    surname: None,
                    email: Some(format!("user{n}@example.com")),
                    custom: serde_json::json!({}),
                    identities: Vec::new(),
                    created_at: now,
                    last_sign_in_at: None,
                    disabled_at: None,
                },
                &tessera_store::DirectoryIdentity {
                    issuer: "https://idp.example".into(),
                    subject: format!("s{n}"),
                },
            )
            .await
            .expect("directory user");
        broker_store
            .put_broker_signing_key(&old_key(&contoso, n, now))
            .await
            .expect("broker key");
    }
    let last_app = last_app.expect("applications");

    // The admin side: API tokens, administrators and audit events.
    for n in 0..N {
        api_tokens::issue_by_operator(
            &app.state.admin_store,
            &NewToken {
                name: format!("token {n}"),
                role: Role::ReadOnly,
                tenants: Vec::new(),
                lifetime: time::Duration::days(30),
            },
            &RequestContext::default(),
            now,
        )
        .await
        .expect("token");
        app.state
            .admin_store
            .put_admin_member(
                &AdminMember {
                    user_id: format!("admin-{n:04}"),
                    username: format!("admin{n:04}"),
                    role: "tenant_admin".into(),
                    tenants: vec!["contoso".into()],
                    created_by: "test".into(),
                    created_at: now,
                },
                &AuditEvent {
                    id: format!("ev-{n:04}"),
                    at: now,
                    actor: "test".into(),
                    action: "admin.member.create".into(),
                    target: format!("admins/admin-{n:04}"),
                    tenant: Some("contoso".into()),
                    before: None,
                    after: Some(serde_json::json!({"username": format!("admin{n:04}")})),
                    request_id: Some(format!("req-{n}")),
                    client_address: Some("192.0.2.1".into()),
                },
            )
            .await
            .expect("admin");
    }
    let mut lists = [
        "/admin/authenticator/acme/clients",
        "/admin/authenticator/acme/users",
        "/admin/authenticator/keyed/keys",
        "/admin/broker/contoso/applications",
        "/admin/broker/contoso/identity-providers",
        "/admin/broker/contoso/user-flows",
        "/admin/broker/contoso/users",
        "/admin/broker/contoso/keys",
        "/admin/api-tokens",
        "/admin/audit",
    ]
    .map(str::to_owned)
    .to_vec();
    // A user with 1,000 passkeys: their page lists them 50 at a time.
    lists.push(format!("/admin/authenticator/acme/users/{last_user}"));
    let others = vec![
        "/admin/".to_owned(),
        "/admin/authenticator/".to_owned(),
        "/admin/authenticator/acme/".to_owned(),
        "/admin/authenticator/acme/clients?q=app+99".to_owned(),
        "/admin/authenticator/acme/clients/client-0999".to_owned(),
        "/admin/authenticator/acme/clients/client-0999?edit=1".to_owned(),
        "/admin/authenticator/acme/policy".to_owned(),
        "/admin/authenticator/acme/edit".to_owned(),
        "/admin/authenticator/acme/users?q=user09".to_owned(),
        "/admin/authenticator/acme/users?q=person+99".to_owned(),
        "/admin/authenticator/acme/fido-metadata".to_owned(),
        "/admin/broker/contoso/".to_owned(),
        format!("/admin/broker/contoso/applications/{last_app}"),
        "/admin/broker/contoso/identity-providers/idp-0999".to_owned(),
        "/admin/broker/contoso/user-flows/B2C_1_flow0999".to_owned(),
        "/admin/broker/contoso/user-flows/B2C_1_flow0999/identity-providers".to_owned(),
        "/admin/broker/contoso/user-flows/new/signup-signin".to_owned(),
        // The provider picker's searches: by id (one store page), by a word of the name, and one that matches
        // nothing (every summary read).
        "/admin/broker/contoso/user-flows/new/signup-signin?name=x&identity_providers=idp-0000&identity_providers_q=idp-09&picker=identity_providers".to_owned(),
        "/admin/broker/contoso/user-flows/B2C_1_flow0999/identity-providers?based_on=1&identity_providers=idp-0000&identity_providers_q=provider+99&picker=identity_providers".to_owned(),
        "/admin/broker/contoso/user-flows/B2C_1_flow0999/identity-providers?based_on=1&identity_providers_q=zzz&picker=identity_providers".to_owned(),
        "/admin/broker/contoso/users?q=user9".to_owned(),
        "/admin/broker/contoso/users/user-0999".to_owned(),
        "/admin/admins".to_owned(),
        "/admin/audit?tenant=contoso&action=admin.".to_owned(),
        "/admin/audit?since=2000-01-01&until=2100-01-01".to_owned(),
        // The lists' filters, each read before the page is cut.
        "/admin/authenticator/acme/clients?q=client-09&client_type=confidential".to_owned(),
        "/admin/authenticator/acme/users?q=user09&status=enabled".to_owned(),
        "/admin/authenticator/keyed/keys?status=retired&alg=ES256".to_owned(),
        format!("/admin/authenticator/acme/users/{last_user}?alg=-7&q=passkey"),
        "/admin/broker/contoso/applications?q=app&client_type=public".to_owned(),
        "/admin/broker/contoso/identity-providers?q=idp-09".to_owned(),
        "/admin/broker/contoso/user-flows?q=b2c_1_flow09".to_owned(),
        "/admin/broker/contoso/users?q=user9&status=enabled".to_owned(),
        "/admin/broker/contoso/keys?status=retired".to_owned(),
        "/admin/api-tokens?q=token&role=read_only".to_owned(),
    ];
    Seeded { lists, others }
}

fn old_key(tenant: &TenantId, n: usize, now: time::OffsetDateTime) -> tessera_store::SigningKey {
    tessera_store::SigningKey {
        tenant: tenant.clone(),
        kid: format!("old-{n:04}"),
        alg: "ES256".into(),
        private_key_encrypted: vec![0; 32],
        public_jwk: serde_json::json!({"kty": "EC", "kid": format!("old-{n:04}")}),
        created_at: now,
        retired_at: Some(now),
        status: tessera_store::KeyStatus::Retired,
    }
}

/// The rows of a list page's table (its header row aside).
fn rows(html: &str) -> usize {
    html.matches("<tr>").count().saturating_sub(1) + html.matches("<tr id=\"event-").count()
}

/// The `href` of the element with id `id`.
fn href_of(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\" href=\"");
    let start = html.find(&marker)? + marker.len();
    html[start..]
        .split('"')
        .next()
        .map(|h| h.replace("&amp;", "&").replace("&#38;", "&"))
}

#[tokio::test]
async fn portal_pages_render_at_1000_objects_fifty_rows_a_page() {
    let Some((app, _)) = app(Backend::Sqlite).await else {
        return;
    };
    let seeded = seed(&app).await;
    let cookie = portal_session(&app, "root", "global_admin", &[]).await;
    for path in &seeded.lists {
        let response = get(&app, path, &cookie).await;
        assert_eq!(response.status(), 200, "{path}");
        let html = response.text().await.expect("body");
        assert_eq!(rows(&html), 50, "{path}: a page has 50 rows");
        let next = href_of(&html, "next-page").unwrap_or_else(|| panic!("{path}: a next page"));
        let second = get(&app, &next, &cookie).await;
        assert_eq!(second.status(), 200, "{next}");
        let html = second.text().await.expect("body");
        assert_eq!(rows(&html), 50, "{next}: the next 50");
        assert!(
            href_of(&html, "first-page").is_some(),
            "{next}: a link back to the first page"
        );
    }
    for path in &seeded.others {
        let response = get(&app, path, &cookie).await;
        assert_eq!(response.status(), 200, "{path}");
        let body = response.text().await.expect("body");
        assert!(
            body.len() < 400_000,
            "{path} stays small at 1,000 objects ({} bytes)",
            body.len()
        );
        // The forms that choose identity providers offer at most 25 and the chosen ones, never all 1,000.
        if path.contains("signup-signin")
            || path.contains("/identity-providers?")
            || path.ends_with("/identity-providers") && path.contains("user-flows")
        {
            let boxes = body.matches("name=\"identity_providers\"").count();
            assert!(boxes <= 26, "{path}: {boxes} provider checkboxes");
            assert!(body.len() < 60_000, "{path}: {} bytes", body.len());
        }
    }
    app.stop().await;
}

/// The measurement behind docs/benchmarks.md; `scripts/bench-portal` runs it (`--ignored --nocapture`).
#[tokio::test]
#[ignore = "a measurement, not a test: scripts/bench-portal runs it"]
async fn portal_page_times_at_1000_objects() {
    let Some((app, _)) = app(Backend::Sqlite).await else {
        return;
    };
    let seeded = seed(&app).await;
    let cookie = portal_session(&app, "root", "global_admin", &[]).await;
    println!("| page | median ms | max ms | bytes |");
    println!("|---|---:|---:|---:|");
    for path in seeded.lists.iter().chain(&seeded.others) {
        for _ in 0..2 {
            let _ = get(&app, path, &cookie).await.text().await;
        }
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..20 {
            let started = std::time::Instant::now();
            let response = get(&app, path, &cookie).await;
            assert_eq!(response.status(), 200, "{path}");
            bytes = response.text().await.expect("body").len();
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let median = f64::midpoint(times[9], times[10]);
        let max = times[19];
        println!("| `{path}` | {median:.1} | {max:.1} | {bytes} |");
    }
    app.stop().await;
}
