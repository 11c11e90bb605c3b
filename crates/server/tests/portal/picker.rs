//! The identity provider picker of the two flow forms that choose providers ("New user flow" → "Sign up and sign
//! in", and a flow's "Identity providers"), on SQLite and PostgreSQL. The forms show the chosen providers ticked and
//! a search box, never every provider: the search (a second submit button of the form, sent by GET to the form's
//! own page) finds providers by the start of their id, name or a word of the name, at most 25, and the page comes
//! back with every other input as it was sent. The CSRF token a search sends is taken out of the address (303), a
//! save still needs it, a provider the tenant does not have is refused next to the field, a stale version is
//! refused, and another tenant's admin gets 404.

use tessera_broker::config::{
    ClaimMapping, FlowSettings, IdentityProvider, LocalAccounts, MetadataUrl, MfaSetting, PolicyId,
    ProviderId, UpstreamClientAuth,
};
use tessera_core::{Clock, TenantId};
use tessera_oidc::ResponseMode;
use tessera_oidc::keys::SigningAlg;
use tessera_service::broker::{flows, providers, tenants as broker_tenants};
use tessera_service::clients::{self, ClientKind, LocalhostHttp, NewClient};
use tessera_testkit::{Backend, TestApp};

use super::{app, form_of, get, location, portal_session, post};

both_stores!(flow_provider_picker_searches_keeps_the_form_and_saves_what_is_ticked);

/// Broker tenant `contoso` with providers `idp-00` … `idp-29` ("Provider N"), `nok-nok` ("Nok Nok Authentication
/// Provider") and `partner` ("Partner passkeys"), all at the app's authenticator tenant `acme`.
async fn seed(app: &TestApp) -> TenantId {
    let tenant = TenantId::parse("contoso").expect("id");
    let now = app.clock.now();
    broker_tenants::create_broker_tenant(
        app.state.broker.store.as_ref(),
        &app.state.broker.master_key,
        broker_tenants::NewBrokerTenant {
            id: tenant.clone(),
            display_name: None,
        },
        now,
    )
    .await
    .expect("broker tenant");
    let (client, secret) = clients::create_client(
        app.state.provider.store.as_ref(),
        NewClient {
            tenant: app.tenant.clone(),
            redirect_uris: clients::parse_redirect_uris(
                &[format!("{}/contoso/oauth2/authresp", app.base)],
                LocalhostHttp::InsecureAllow,
            )
            .expect("uris"),
            post_logout_redirect_uris: Vec::new(),
            kind: ClientKind::ConfidentialBasic,
            id_token_alg: SigningAlg::Es256,
            name: Some("Broker".into()),
        },
        now,
    )
    .await
    .expect("client");
    let secret = secret.expect("secret");
    let mut named: Vec<(String, String)> = (0..30)
        .map(|n| (format!("idp-{n:02}"), format!("Provider {n}")))
        .collect();
    named.push(("nok-nok".into(), "Nok Nok Authentication Provider".into()));
    named.push(("partner".into(), "Partner passkeys".into()));
    for (id, name) in named {
        providers::save_identity_provider(
            app.state.broker.store.as_ref(),
            &app.state.provider.master_key,
            &app.state.broker.upstream,
            &tenant,
            IdentityProvider {
                id: ProviderId::parse(&id).expect("id"),
                name,
                metadata_url: MetadataUrl::parse(&format!(
                    "{}/{}/oidc/.well-known/openid-configuration",
                    app.base, app.tenant
                ))
                .expect("url"),
                client_id: client.client_id.to_string(),
                client_auth: UpstreamClientAuth::ClientSecretBasic,
                scope: vec!["openid".into(), "email".into()],
                response_type: Default::default(),
                response_mode: ResponseMode::FormPost,
                claim_mapping: ClaimMapping::default(),
                domain_hint: None,
            },
            tessera_core::Secret::new(secret.expose()),
            now,
        )
        .await
        .expect("provider");
    }
    tenant
}

/// The provider checkboxes of a page: (id, ticked), in page order.
fn boxes(html: &str) -> Vec<(String, bool)> {
    html.split("<input type=\"checkbox\" id=\"field-identity_providers-")
        .skip(1)
        .map(|rest| {
            let tag = rest.split('>').next().unwrap_or_default();
            let id = tag.split('"').next().unwrap_or_default().to_owned();
            (id, tag.contains(" checked"))
        })
        .collect()
}

fn ticked(html: &str) -> Vec<String> {
    boxes(html)
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(id, _)| id)
        .collect()
}

fn offered(html: &str) -> Vec<String> {
    boxes(html)
        .into_iter()
        .filter(|(_, on)| !*on)
        .map(|(id, _)| id)
        .collect()
}

async fn page(app: &TestApp, path: &str, cookie: &str) -> String {
    let response = get(app, path, cookie).await;
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.expect("body")
}

async fn flow_provider_picker_searches_keeps_the_form_and_saves_what_is_ticked(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let tenant = seed(&app).await;
    let store = app.state.broker.store.as_ref();
    let root = portal_session(&app, "root", "global_admin", &[]).await;
    let new = "/admin/broker/contoso/user-flows/new/signup-signin";

    // A first visit: the first provider chosen, the next 25 offered, never all 32; a labelled search box.
    let (cookies, csrf) = form_of(&app, new, &root).await;
    let html = page(&app, new, &cookies).await;
    assert_eq!(ticked(&html), ["idp-00"]);
    let first: Vec<String> = (1..=25).map(|n| format!("idp-{n:02}")).collect();
    assert_eq!(offered(&html), first, "25 to add, in id order");
    assert!(html.contains("search to find the others"), "{html}");
    assert!(html.contains("<legend>Identity providers</legend>"));
    assert!(html.contains("<label for=\"field-identity_providers_q\">Find an identity provider"));
    assert!(html.contains("id=\"identity_providers-summary\" aria-live=\"polite\""));
    assert!(html.contains(
        "formmethod=\"get\" formaction=\"/admin/broker/contoso/user-flows/new/signup-signin#identity_providers-matches\""
    ));

    // The search sends the whole form by GET: its CSRF token is taken out of the address, the rest kept.
    let sent = format!(
        "{new}?csrf_token={csrf}&name=signupsignin&identity_providers=idp-00&local_accounts=true&mfa=always\
         &collect=email&collect=given_name&claims=email&identity_providers_q=Authentication&picker=identity_providers"
    );
    let answer = get(&app, &sent, &cookies).await;
    assert_eq!(answer.status(), 303);
    let clean = location(&answer);
    assert!(!clean.contains("csrf_token"), "{clean}");
    assert!(clean.starts_with(new), "{clean}");
    let html = page(&app, &clean, &cookies).await;
    assert!(
        html.contains("name=\"name\" value=\"signupsignin\""),
        "the name kept"
    );
    assert!(html.contains("id=\"field-mfa-always\" name=\"mfa\" value=\"always\" checked"));
    assert!(
        html.contains("id=\"field-local_accounts\" name=\"local_accounts\" value=\"true\" checked")
    );
    assert!(html.contains("name=\"collect\" value=\"given_name\" checked"));
    assert!(!html.contains("name=\"collect\" value=\"display_name\" checked"));
    assert!(html.contains("name=\"claims\" value=\"email\" checked"));
    assert!(
        !html.contains("name=\"claims\" value=\"object_id\" checked"),
        "unticked stays unticked"
    );
    assert!(
        html.contains("value=\"Authentication\""),
        "the query kept in the box"
    );
    assert_eq!(ticked(&html), ["idp-00"]);
    assert_eq!(offered(&html), ["nok-nok"], "a word of the name, any case");
    assert!(
        html.contains("1 identity provider matches “Authentication”"),
        "{html}"
    );
    assert!(html.contains("Nok Nok Authentication Provider (nok-nok)"));

    // By the start of the id, of the name; none; more than 25.
    let search = |q: &str| {
        format!(
            "{new}?identity_providers=idp-00&identity_providers_q={q}&picker=identity_providers"
        )
    };
    let html = page(&app, &search("idp-1"), &cookies).await;
    let teens: Vec<String> = (10..20).map(|n| format!("idp-{n}")).collect();
    assert_eq!(offered(&html), teens);
    let html = page(&app, &search("PARTNER"), &cookies).await;
    assert_eq!(offered(&html), ["partner"]);
    let html = page(&app, &search("zzz"), &cookies).await;
    assert!(offered(&html).is_empty());
    assert!(html.contains("No other identity provider matches “zzz”"));
    let html = page(&app, &search("provider"), &cookies).await;
    assert_eq!(offered(&html).len(), 25, "at most 25");
    assert!(
        !offered(&html).contains(&"idp-00".to_owned()),
        "a chosen one is not offered again"
    );
    assert!(
        html.contains("type more of the name or identifier"),
        "{html}"
    );

    // Create with what is ticked: the chosen one and a match.
    let created = post(
        &app,
        new,
        &cookies,
        format!(
            "csrf_token={csrf}&name=signupsignin&identity_providers=idp-00&identity_providers=nok-nok&mfa=off\
             &collect=email&claims=email&identity_providers_q=nok"
        ),
    )
    .await;
    assert_eq!(
        created.status(),
        303,
        "{}",
        created.text().await.unwrap_or_default()
    );
    let policy = PolicyId::from_name("signupsignin").expect("policy");
    let flow = flows::get_user_flow(store, &tenant, &policy)
        .await
        .expect("flow");
    let ids: Vec<&str> = flow
        .current()
        .settings()
        .identity_providers
        .iter()
        .map(ProviderId::as_str)
        .collect();
    assert_eq!(ids, ["idp-00", "nok-nok"]);

    // A provider the tenant does not have: shown as such, and refused next to the field; no flow made.
    let html = page(
        &app,
        &format!("{new}?name=other&identity_providers=gone&identity_providers_q=&picker=identity_providers"),
        &cookies,
    )
    .await;
    assert!(html.contains("gone (not an identity provider of this tenant)"));
    let refused = post(
        &app,
        new,
        &cookies,
        format!("csrf_token={csrf}&name=other&identity_providers=gone&mfa=off"),
    )
    .await;
    assert_eq!(refused.status(), 422);
    let body = refused.text().await.expect("body");
    assert!(body.contains("id=\"error-identity_providers\""), "{body}");
    assert!(
        flows::get_user_flow(
            store,
            &tenant,
            &PolicyId::from_name("other").expect("policy")
        )
        .await
        .is_err(),
        "no flow"
    );

    // The flow's "Identity providers": its providers ticked; a search keeps the version the form was opened at.
    let path = "/admin/broker/contoso/user-flows/B2C_1_signupsignin/identity-providers";
    let html = page(&app, path, &cookies).await;
    assert_eq!(ticked(&html), ["idp-00", "nok-nok"]);
    assert_eq!(offered(&html).len(), 25);
    let searched = page(
        &app,
        &format!("{path}?based_on=1&identity_providers=nok-nok&identity_providers_q=part&picker=identity_providers"),
        &cookies,
    )
    .await;
    assert_eq!(
        ticked(&searched),
        ["nok-nok"],
        "idp-00 unticked before the search"
    );
    assert_eq!(offered(&searched), ["partner"]);
    assert!(searched.contains("name=\"based_on\" value=\"1\""));

    // Someone saves meanwhile: the form's version is stale, nothing is saved.
    let current = flow.current().settings().clone();
    flows::revise_user_flow(
        store,
        &tenant,
        &policy,
        1,
        FlowSettings {
            mfa: MfaSetting::Always,
            ..current
        },
        app.clock.now(),
    )
    .await
    .expect("revised");
    let save = |based_on: u32| {
        format!(
            "csrf_token={csrf}&based_on={based_on}&identity_providers=nok-nok&identity_providers=partner\
             &identity_providers_q=part"
        )
    };
    let stale = post(&app, path, &cookies, save(1)).await;
    assert_eq!(stale.status(), 409, "saved from version 1, now at 2");
    let no_token = post(
        &app,
        path,
        &cookies,
        "based_on=2&identity_providers=nok-nok".into(),
    )
    .await;
    assert_eq!(no_token.status(), 403, "no CSRF token");
    let saved = post(&app, path, &cookies, save(2)).await;
    assert_eq!(saved.status(), 303);
    let flow = flows::get_user_flow(store, &tenant, &policy)
        .await
        .expect("flow");
    assert_eq!(flow.versions().count(), 3);
    let settings = flow.current().settings();
    let ids: Vec<&str> = settings
        .identity_providers
        .iter()
        .map(ProviderId::as_str)
        .collect();
    assert_eq!(ids, ["nok-nok", "partner"]);
    assert_eq!(settings.mfa, MfaSetting::Always, "the other settings kept");
    assert_eq!(settings.local_accounts, LocalAccounts::None);

    // Another tenant's admin: 404, searching too.
    let other = portal_session(&app, "fab", "tenant_admin", &["fabrikam"]).await;
    assert_eq!(get(&app, &search("nok"), &other).await.status(), 404);
    assert_eq!(
        get(
            &app,
            &format!("{path}?identity_providers_q=nok&picker=identity_providers"),
            &other
        )
        .await
        .status(),
        404
    );
    app.stop().await;
}
