//! The admin REST API (`/admin/api/v1`) over HTTP with a real client, on SQLite and on PostgreSQL: the tutorial's
//! configuration made through the API and then a sign-in through it; the token, role, `If-Match`, validation and
//! secret rules, one negative test each; and the OpenAPI document against the router.

use reqwest::Method;
use serde_json::{Value, json};
use tessera_service::admin::api_tokens;
use tessera_testkit::{AppOptions, Backend, TestApp, spawn_app};

use super::{BROKER, Broker, Browser, POLICY, Person, REPLY, sign_up, verified_claims};

#[path = "admin_lifecycle.rs"]
mod lifecycle;

#[path = "admin_errors.rs"]
mod errors;

#[path = "admin_providers_page.rs"]
mod providers_page;

#[path = "admin_scopes.rs"]
mod scopes;

#[path = "admin_filters.rs"]
mod filters;

both_stores!(
    tutorial_configuration_through_the_api_then_a_sign_in_works,
    missing_unknown_and_revoked_tokens_are_401_with_a_bearer_challenge,
    bootstrap_secret_works_once,
    read_only_token_reads_but_every_write_is_403,
    tenant_admin_sees_another_tenant_as_404,
    stale_if_match_is_412_and_missing_if_match_is_428,
    invalid_field_is_a_problem_naming_the_field,
    secrets_are_shown_once_and_never_in_the_audit_trail,
    audit_events_filter_and_page_with_a_cursor,
    tenant_policy_changes_with_if_match_and_is_checked_as_a_whole,
    every_updatable_resource_refuses_a_stale_or_missing_etag,
    two_writes_from_one_etag_have_exactly_one_winner,
    tenant_admin_gets_404_for_every_resource_type_of_another_tenant,
    api_and_portal_share_one_audit_vocabulary,
    regenerated_client_secret_is_shown_once_and_the_old_one_stops_working,
    invitations_are_for_global_admins_and_their_link_is_shown_once,
    pending_invitations_are_listed_without_links_and_withdrawn,
);

/// A reply of the API.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
    text: String,
}

impl Answer {
    fn etag(&self) -> String {
        self.headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("an ETag: {}", self.text))
            .to_owned()
    }

    fn content_type(&self) -> String {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// Asserts a problem+json answer with `status` and returns its fields at fault.
    fn problem(&self, status: u16) -> Vec<String> {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "{}",
            self.text
        );
        assert_eq!(self.body["status"], status);
        assert!(
            self.body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("urn:tessera:problem:"))
        );
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        self.body["errors"]
            .as_array()
            .map(|e| {
                e.iter()
                    .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The API of a running app, with a token.
struct Api<'a> {
    app: &'a TestApp,
    token: Option<String>,
}

impl<'a> Api<'a> {
    fn with(&self, token: &str) -> Api<'a> {
        Api {
            app: self.app,
            token: Some(token.to_owned()),
        }
    }

    fn anonymous(&self) -> Api<'a> {
        Api {
            app: self.app,
            token: None,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Answer {
        let url = format!("{}/admin/api/v1{path}", self.app.base);
        let mut request = self.app.http.request(method, url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Answer {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None, None).await
    }

    async fn post(&self, path: &str, body: &Value) -> Answer {
        self.call(Method::POST, path, Some(body), None).await
    }

    async fn put(&self, path: &str, body: &Value, tag: Option<&str>) -> Answer {
        self.call(Method::PUT, path, Some(body), tag).await
    }

    async fn delete(&self, path: &str, tag: Option<&str>) -> Answer {
        self.call(Method::DELETE, path, None, tag).await
    }

    /// Creates a token; returns its secret and id.
    async fn token(&self, body: Value) -> (String, String) {
        let created = self.post("/api-tokens", &body).await;
        assert_eq!(created.status, 201, "{}", created.text);
        (
            created.body["secret"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            created.body["token"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }
}

/// The app and the first global-admin token, from the bootstrap exchange as an operator does it.
async fn admin(backend: Backend) -> Option<(TestApp, String)> {
    let app = spawn_app(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await?;
    let secret = api_tokens::bootstrap_if_fresh(
        &app.state.admin_store,
        tessera_core::Clock::now(app.clock.as_ref()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .unwrap_or_else(|| panic!("a fresh install has a bootstrap secret"));
    let api = Api {
        app: &app,
        token: None,
    };
    let first = api
        .post(
            "/bootstrap",
            &json!({"bootstrap_token": secret, "name": "ci"}),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.body["token"]["role"], "global_admin");
    let token = first.body["secret"].as_str().unwrap_or_default().to_owned();
    assert!(token.starts_with("tsr_"));
    Some((app, token))
}

/// The tutorial's configuration through the API: the broker tenant, the broker as a client of the authenticator
/// service's tenant, the identity provider by its metadata URL (client id and secret, scope, code, form_post),
/// its claim mapping, the user flow `B2C_1_signupsignin` collecting the email and returning it, and the
/// application with its reply URL. Returns the application's client id.
async fn configure_tutorial(api: &Api<'_>) -> String {
    let base = api.app.base.clone();
    // A time with a fraction of a second, as a real clock has: the ETag of a change's answer must still be the one
    // the next change needs (the stores keep times at their own precision).
    api.app.clock.advance(time::Duration::milliseconds(1_234));
    let tenant = api
        .post(
            "/broker/tenants",
            &json!({"id": BROKER, "display_name": "Contoso"}),
        )
        .await;
    assert_eq!(tenant.status, 201, "{}", tenant.text);
    let client = api
        .post(
            "/tenants/acme/clients",
            &json!({
                "name": "Contoso broker",
                "redirect_uris": [format!("{base}/{BROKER}/oauth2/authresp")],
                "token_endpoint_auth_method": "client_secret_basic",
                "id_token_signed_response_alg": "ES256",
            }),
        )
        .await;
    assert_eq!(client.status, 201, "{}", client.text);
    let client_id = client.body["client"]["client_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let client_secret = client.body["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!client_secret.is_empty());
    let metadata_url = format!("{base}/acme/oidc/.well-known/openid-configuration");
    let provider = json!({
        "id": "acme",
        "name": "Nok Nok Authentication Provider",
        "metadata_url": metadata_url,
        "client_id": client_id,
        "client_secret": client_secret,
        "scope": "openid profile email",
        "response_type": "code",
        "response_mode": "form_post",
    });
    let tested = api
        .post(
            &format!("/broker/tenants/{BROKER}/identity-providers/test"),
            &provider,
        )
        .await;
    assert_eq!(tested.status, 200, "{}", tested.text);
    assert_eq!(tested.body["issuer"], format!("{base}/acme/oidc"));
    assert!(tested.body["signing_keys"].as_u64().unwrap_or_default() >= 1);
    let added = api
        .post(
            &format!("/broker/tenants/{BROKER}/identity-providers"),
            &provider,
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(added.body["has_client_secret"], true);
    let mapped = api
        .put(
            &format!("/broker/tenants/{BROKER}/identity-providers/acme/claim-mapping"),
            &json!({"user_id": "sub", "display_name": "name", "given_name": "given_name",
                    "surname": "family_name", "email": "email"}),
            Some(&added.etag()),
        )
        .await;
    assert_eq!(mapped.status, 200, "{}", mapped.text);
    let flow = api
        .post(
            &format!("/broker/tenants/{BROKER}/user-flows"),
            &json!({
                "name": POLICY,
                "settings": {
                    "identity_providers": ["acme"],
                    "user_attributes": [{"attribute": "email", "required": true}],
                    "application_claims": ["email", "display_name", "identity_provider", "object_id", "new_user"],
                },
            }),
        )
        .await;
    assert_eq!(flow.status, 201, "{}", flow.text);
    assert_eq!(flow.body["current_version"], 1);
    let application = api
        .post(
            &format!("/broker/tenants/{BROKER}/applications"),
            &json!({
                "display_name": "JWT viewer",
                "client_type": "public",
                "reply_urls": [REPLY, format!("{base}/jwt")],
            }),
        )
        .await;
    assert_eq!(application.status, 201, "{}", application.text);
    assert!(application.body["client_secret"].is_null());
    application.body["application"]["client_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn tutorial_configuration_through_the_api_then_a_sign_in_works(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let global = token.clone();
    let api = Api {
        app: &app,
        token: Some(token),
    };
    let app_id = configure_tutorial(&api).await;
    // A change of the flow makes version 2; version 1 stays readable.
    let flow_path = format!("/broker/tenants/{BROKER}/user-flows/{POLICY}");
    let v1 = api.get(&flow_path).await;
    let mut settings = v1.body["settings"].clone();
    settings["application_claims"] = json!([
        "email",
        "display_name",
        "identity_provider",
        "object_id",
        "new_user",
        "given_name"
    ]);
    let v2 = api
        .put(&flow_path, &json!({"settings": settings}), Some(&v1.etag()))
        .await;
    assert_eq!(v2.status, 200, "{}", v2.text);
    assert_eq!(v2.body["current_version"], 2);
    api.put(&flow_path, &json!({"settings": settings}), Some(&v1.etag()))
        .await
        .problem(412);
    let versions = api.get(&format!("{flow_path}/versions")).await;
    assert_eq!(
        versions.body["items"].as_array().map(Vec::len),
        Some(2),
        "{}",
        versions.text
    );
    let first = api.get(&format!("{flow_path}/versions/1")).await;
    assert_eq!(
        first.body["settings"]["application_claims"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );
    // Signing keys: listed, and a rotation adds a new key of each algorithm.
    let keys = api.get("/tenants/acme/keys").await;
    let before = keys.body["items"]
        .as_array()
        .map(Vec::len)
        .unwrap_or_default();
    let rotated = api.post("/tenants/acme/keys/rotate", &json!({})).await;
    assert_eq!(rotated.status, 201, "{}", rotated.text);
    let after = api.get("/tenants/acme/keys").await;
    assert_eq!(
        after.body["items"].as_array().map(Vec::len),
        Some(before + 2)
    );
    // What was configured reads back as configured.
    let flow = api
        .get(&format!("/broker/tenants/{BROKER}/user-flows/{POLICY}"))
        .await;
    assert_eq!(flow.status, 200, "{}", flow.text);
    assert_eq!(flow.body["settings"]["application_claims"][0], "email");
    let providers = api
        .get(&format!("/broker/tenants/{BROKER}/identity-providers"))
        .await;
    assert_eq!(providers.body["items"][0]["response_mode"], "form_post");
    assert_eq!(
        providers.body["items"][0]["name"],
        "Nok Nok Authentication Provider"
    );
    drop(api);
    let tenant = tessera_core::TenantId::parse(BROKER).unwrap_or_else(|e| panic!("{e}"));
    let b = Broker {
        app,
        tenant,
        fake: None,
        app_id,
    };
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let (tokens, _) = sign_up(&b, &mut browser, &mut ann).await;
    let claims = verified_claims(&b, tokens["id_token"].as_str().unwrap_or_default()).await;
    assert_eq!(claims["emails"], json!(["ann@example.com"]));
    assert_eq!(claims["tfp"], POLICY);
    assert_eq!(claims["aud"], b.app_id);
    assert_eq!(claims["idp"], b.url("/acme/oidc"));
    // The directory user the sign-up made is visible, searchable and can be disabled through the API.
    let secret = {
        let api = Api {
            app: &b.app,
            token: None,
        };
        let first = api_tokens::issue(
            &b.app.state.admin_store,
            &api_tokens::Principal {
                token_id: "test".into(),
                role: api_tokens::Role::GlobalAdmin,
                tenants: Vec::new(),
            },
            &api_tokens::NewToken {
                name: "directory".into(),
                role: api_tokens::Role::TenantAdmin,
                tenants: vec![BROKER.into()],
                lifetime: time::Duration::hours(1),
            },
            &api_tokens::RequestContext::default(),
            tessera_core::Clock::now(b.app.clock.as_ref()),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        drop(api);
        first.secret
    };
    let api = Api {
        app: &b.app,
        token: Some(secret),
    };
    let found = api
        .get(&format!("/broker/tenants/{BROKER}/users?q=ann@"))
        .await;
    assert_eq!(found.status, 200, "{}", found.text);
    let oid = found.body["items"][0]["object_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(oid, claims["oid"]);
    // Disabling changes the user: it needs the version read (428 without), and that version is stale after.
    let directory_user = format!("/broker/tenants/{BROKER}/users/{oid}");
    api.call(
        Method::POST,
        &format!("{directory_user}/disable"),
        None,
        None,
    )
    .await
    .problem(428);
    let read = api.get(&directory_user).await;
    let disabled = api
        .call(
            Method::POST,
            &format!("{directory_user}/disable"),
            None,
            Some(&read.etag()),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.text);
    api.call(
        Method::POST,
        &format!("{directory_user}/enable"),
        None,
        Some(&read.etag()),
    )
    .await
    .problem(412);
    assert!(disabled.body["disabled_at"].is_string());
    let refreshed = super::token(
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
    assert_eq!(
        refreshed.status, 400,
        "a disabled user's refresh token ends at once: {}",
        refreshed.body
    );
    // The user's passkey at the authenticator service: listed, renamed with If-Match, and (being the last one)
    // not revocable.
    let subject = found.body["items"][0]["identities"][0]["subject"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let admin = Api {
        app: &b.app,
        token: Some(global.clone()),
    };
    let user = admin.get(&format!("/tenants/acme/users/{subject}")).await;
    assert_eq!(user.status, 200, "{}", user.text);
    assert_eq!(user.body["username"], "ann");
    let passkeys = admin
        .get(&format!("/tenants/acme/users/{subject}/passkeys"))
        .await;
    assert_eq!(
        passkeys.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        passkeys.text
    );
    let passkey = passkeys.body["items"][0].clone();
    let passkey_path = format!(
        "/tenants/acme/users/{subject}/passkeys/{}",
        passkey["id"].as_str().unwrap_or_default()
    );
    let read = admin.get(&passkey_path).await;
    assert_eq!(read.body, passkey, "the passkey reads as listed");
    let tag = read.etag();
    let renamed = admin
        .call(
            Method::PATCH,
            &passkey_path,
            Some(&json!({"nickname": "Work laptop"})),
            Some(&tag),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(renamed.body["nickname"], "Work laptop");
    admin
        .call(
            Method::PATCH,
            &passkey_path,
            Some(&json!({"nickname": "Again"})),
            Some(&tag),
        )
        .await
        .problem(412);
    admin
        .delete(&passkey_path, Some(&renamed.etag()))
        .await
        .problem(409);
    // The user is found by username and deleted with If-Match; then they and their passkeys are gone.
    let search = admin.get("/tenants/acme/users?q=AN").await;
    assert_eq!(search.status, 200, "{}", search.text);
    assert_eq!(search.body["items"][0]["id"], subject.as_str());
    let user_path = format!("/tenants/acme/users/{subject}");
    admin.delete(&user_path, None).await.problem(428);
    // Disabling needs the version read too; a delete from the version before it is stale.
    admin
        .call(Method::POST, &format!("{user_path}/disable"), None, None)
        .await
        .problem(428);
    let disabled = admin
        .call(
            Method::POST,
            &format!("{user_path}/disable"),
            None,
            Some(&user.etag()),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.text);
    assert!(disabled.body["disabled_at"].is_string());
    admin
        .delete(&user_path, Some(&user.etag()))
        .await
        .problem(412);
    let deleted = admin.delete(&user_path, Some(&disabled.etag())).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    admin.get(&user_path).await.problem(404);
    admin
        .get(&format!("{user_path}/passkeys"))
        .await
        .problem(404);
    // A tenant admin of the broker tenant does not see the authenticator tenant's users.
    api.get(&format!("/tenants/acme/users/{subject}"))
        .await
        .problem(404);
    drop(api);
    drop(admin);
    b.app.stop().await;
}

async fn missing_unknown_and_revoked_tokens_are_401_with_a_bearer_challenge(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    let missing = api.anonymous().get("/tenants").await;
    missing.problem(401);
    assert_eq!(
        missing.headers["www-authenticate"],
        "Bearer realm=\"tessera-admin\""
    );
    let unknown = api.with("tsr_not-a-token").get("/tenants").await;
    unknown.problem(401);
    assert!(
        unknown.headers["www-authenticate"]
            .to_str()
            .is_ok_and(|v| v.starts_with("Bearer") && v.contains("error=\"invalid_token\""))
    );
    let (secret, id) = api
        .token(json!({"name": "soon revoked", "role": "read_only"}))
        .await;
    assert_eq!(api.with(&secret).get("/tenants").await.status, 200);
    let revoked = api.delete(&format!("/api-tokens/{id}"), None).await;
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    let after = api.with(&secret).get("/tenants").await;
    after.problem(401);
    assert!(after.headers.contains_key("www-authenticate"));
    let listed = api.get(&format!("/api-tokens/{id}")).await;
    assert!(listed.body["revoked_at"].is_string(), "{}", listed.text);
    app.stop().await;
}

async fn bootstrap_secret_works_once(backend: Backend) {
    let Some(app) = spawn_app(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await
    else {
        return;
    };
    let now = tessera_core::Clock::now(app.clock.as_ref());
    let secret = api_tokens::bootstrap_if_fresh(&app.state.admin_store, now)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("bootstrap secret"));
    let api = Api {
        app: &app,
        token: None,
    };
    let wrong = api
        .post("/bootstrap", &json!({"bootstrap_token": "tsb_wrong"}))
        .await;
    wrong.problem(401);
    let first = api
        .post("/bootstrap", &json!({"bootstrap_token": secret}))
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = api
        .post("/bootstrap", &json!({"bootstrap_token": secret}))
        .await;
    again.problem(401);
    let token = first.body["secret"].as_str().unwrap_or_default();
    assert_eq!(api.with(token).get("/tenants").await.status, 200);
    assert!(
        api_tokens::bootstrap_if_fresh(&app.state.admin_store, now)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none(),
        "an installation with a token makes no new bootstrap secret"
    );
    app.stop().await;
}

async fn read_only_token_reads_but_every_write_is_403(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    let (secret, _) = api
        .token(json!({"name": "auditor", "role": "read_only"}))
        .await;
    let reader = api.with(&secret);
    let read = reader.get("/tenants/acme").await;
    assert_eq!(read.status, 200, "{}", read.text);
    let tag = read.etag();
    reader
        .post("/broker/tenants", &json!({"id": "fabrikam"}))
        .await
        .problem(403);
    reader
        .call(
            Method::PATCH,
            "/tenants/acme",
            Some(&json!({"display_name": "Hacked"})),
            Some(&tag),
        )
        .await
        .problem(403);
    reader
        .post(
            "/api-tokens",
            &json!({"name": "escalate", "role": "global_admin"}),
        )
        .await
        .problem(403);
    reader
        .post("/tenants/acme/keys/rotate", &json!({}))
        .await
        .problem(403);
    assert_eq!(api.get("/tenants/acme").await.body["display_name"], "Acme");
    assert_eq!(api.get("/broker/tenants").await.body["items"], json!([]));
    app.stop().await;
}

async fn tenant_admin_sees_another_tenant_as_404(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    for id in ["contoso", "fabrikam"] {
        assert_eq!(
            api.post("/broker/tenants", &json!({"id": id})).await.status,
            201
        );
    }
    let (secret, _) = api
        .token(json!({"name": "contoso admin", "role": "tenant_admin", "tenants": ["contoso"]}))
        .await;
    let contoso = api.with(&secret);
    assert_eq!(contoso.get("/broker/tenants/contoso").await.status, 200);
    contoso.get("/broker/tenants/fabrikam").await.problem(404);
    contoso
        .get("/broker/tenants/fabrikam/applications")
        .await
        .problem(404);
    contoso
        .post(
            "/broker/tenants/fabrikam/applications",
            &json!({"display_name": "x", "client_type": "public", "reply_urls": ["https://jwt.ms/"]}),
        )
        .await
        .problem(404);
    contoso.get("/tenants/acme").await.problem(404);
    let listed = contoso.get("/broker/tenants").await;
    assert_eq!(
        listed.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        listed.text
    );
    assert_eq!(listed.body["items"][0]["id"], "contoso");
    // A tenant admin cannot make a token for a tenant it does not hold.
    contoso
        .post(
            "/api-tokens",
            &json!({"name": "x", "role": "tenant_admin", "tenants": ["fabrikam"]}),
        )
        .await
        .problem(422);
    app.stop().await;
}

async fn stale_if_match_is_412_and_missing_if_match_is_428(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    assert_eq!(
        api.post("/broker/tenants", &json!({"id": BROKER}))
            .await
            .status,
        201
    );
    let created = api
        .post(
            &format!("/broker/tenants/{BROKER}/applications"),
            &json!({"display_name": "Web", "client_type": "confidential", "reply_urls": ["https://app.example/cb"]}),
        )
        .await;
    let id = created.body["application"]["client_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let path = format!("/broker/tenants/{BROKER}/applications/{id}");
    let read = api.get(&path).await;
    let first_tag = read.etag();
    let change =
        |name: &str| json!({"display_name": name, "reply_urls": ["https://app.example/cb"]});
    api.put(&path, &change("No tag"), None).await.problem(428);
    let ok = api.put(&path, &change("Alice's"), Some(&first_tag)).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_ne!(ok.etag(), first_tag);
    // Bob read before Alice's change: his write is refused, and Alice's stays.
    api.put(&path, &change("Bob's"), Some(&first_tag))
        .await
        .problem(412);
    api.delete(&path, Some(&first_tag)).await.problem(412);
    api.delete(&path, None).await.problem(428);
    assert_eq!(api.get(&path).await.body["display_name"], "Alice's");
    let patch = api
        .call(
            Method::PATCH,
            "/tenants/acme",
            Some(&json!({"display_name": "Acme 2"})),
            None,
        )
        .await;
    patch.problem(428);
    let tenant = api.get("/tenants/acme").await;
    let renamed = api
        .call(
            Method::PATCH,
            "/tenants/acme",
            Some(&json!({"display_name": "Acme 2"})),
            Some(&tenant.etag()),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    api.call(
        Method::PATCH,
        "/tenants/acme",
        Some(&json!({"display_name": "Acme 3"})),
        Some(&tenant.etag()),
    )
    .await
    .problem(412);
    app.stop().await;
}

async fn invalid_field_is_a_problem_naming_the_field(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    assert_eq!(
        api.post("/broker/tenants", &json!({"id": BROKER}))
            .await
            .status,
        201
    );
    let bad_url = api
        .post(
            &format!("/broker/tenants/{BROKER}/applications"),
            &json!({"display_name": "x", "client_type": "public", "reply_urls": ["javascript:alert(1)"]}),
        )
        .await;
    let fields = bad_url.problem(422);
    assert!(
        fields.iter().any(|f| f.starts_with("reply_urls")),
        "{}",
        bad_url.text
    );
    let lifetimes = api
        .post(
            &format!("/broker/tenants/{BROKER}/applications"),
            &json!({"display_name": "x", "client_type": "public", "reply_urls": ["https://jwt.ms/"],
                    "token_lifetimes": {"access_token_minutes": 1, "id_token_minutes": 60, "refresh_token_days": 14,
                                        "refresh_sliding_window_days": 90}}),
        )
        .await;
    assert_eq!(
        lifetimes.problem(422),
        vec!["token_lifetimes.access_token_minutes".to_owned()],
        "{}",
        lifetimes.text
    );
    let metadata = api
        .post(
            &format!("/broker/tenants/{BROKER}/identity-providers"),
            &json!({"id": "x", "name": "X", "metadata_url": "https://idp.example/no-well-known",
                    "client_id": "c", "client_secret": "s", "response_mode": "form_post"}),
        )
        .await;
    assert_eq!(
        metadata.problem(422),
        vec!["metadata_url".to_owned()],
        "{}",
        metadata.text
    );
    let mode = api
        .post(
            &format!("/broker/tenants/{BROKER}/identity-providers/test"),
            &json!({"id": "x", "name": "X", "metadata_url": "https://idp.example/.well-known/openid-configuration",
                    "client_id": "c", "response_mode": "fragment"}),
        )
        .await;
    assert_eq!(
        mode.problem(422),
        vec!["response_mode".to_owned()],
        "{}",
        mode.text
    );
    let missing = api
        .post(
            &format!("/broker/tenants/{BROKER}/user-flows"),
            &json!({"settings": {}}),
        )
        .await;
    assert_eq!(
        missing.problem(422),
        vec!["name".to_owned()],
        "{}",
        missing.text
    );
    let unknown_provider = api
        .post(
            &format!("/broker/tenants/{BROKER}/user-flows"),
            &json!({"name": POLICY, "settings": {"identity_providers": ["nobody"]}}),
        )
        .await;
    assert_eq!(
        unknown_provider.problem(422),
        vec!["settings.identity_providers[0]".to_owned()],
        "{}",
        unknown_provider.text
    );
    let limit = api.get("/tenants?limit=0").await;
    assert_eq!(limit.problem(422), vec!["limit".to_owned()]);
    let not_json = api.call(Method::POST, "/broker/tenants", None, None).await;
    assert_eq!(not_json.status, 415, "{}", not_json.text);
    // Nothing was half-written.
    assert_eq!(
        api.get(&format!("/broker/tenants/{BROKER}/applications"))
            .await
            .body["items"],
        json!([])
    );
    app.stop().await;
}

async fn secrets_are_shown_once_and_never_in_the_audit_trail(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token.clone()),
    };
    configure_tutorial(&api).await;
    let web = api
        .post(
            &format!("/broker/tenants/{BROKER}/applications"),
            &json!({"display_name": "Web", "client_type": "confidential", "reply_urls": ["https://app.example/cb"]}),
        )
        .await;
    let app_secret = web.body["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(app_secret.len() >= 32);
    let app_id = web.body["application"]["client_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let regenerated = api
        .post(
            &format!("/broker/tenants/{BROKER}/applications/{app_id}/secret"),
            &json!({}),
        )
        .await;
    assert_eq!(regenerated.status, 201, "{}", regenerated.text);
    let new_secret = regenerated.body["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(new_secret, app_secret);
    let client = api
        .post(
            "/tenants/acme/clients",
            &json!({"redirect_uris": ["https://rp.example/cb"]}),
        )
        .await;
    let client_secret = client.body["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (token_secret, _) = api.token(json!({"name": "ci", "role": "read_only"})).await;
    let mut secrets = vec![token, app_secret, new_secret, client_secret, token_secret];
    // The identity provider's client secret (the one issued at `acme` in the tutorial set-up) is never returned.
    let provider = api
        .get(&format!("/broker/tenants/{BROKER}/identity-providers/acme"))
        .await;
    assert_eq!(provider.body["has_client_secret"], true);
    assert!(provider.body.get("client_secret").is_none());
    let mut everything = String::new();
    for path in [
        "/api-tokens".to_owned(),
        "/tenants/acme/clients".to_owned(),
        format!("/broker/tenants/{BROKER}/applications"),
        format!("/broker/tenants/{BROKER}/applications/{app_id}"),
        format!("/broker/tenants/{BROKER}/identity-providers"),
    ] {
        everything.push_str(&api.get(&path).await.text);
    }
    let mut cursor = String::new();
    loop {
        let page = api.get(&format!("/audit-events?limit=5{cursor}")).await;
        assert_eq!(page.status, 200, "{}", page.text);
        everything.push_str(&page.text);
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert!(
        everything.contains("broker.provider.create"),
        "{everything}"
    );
    assert!(everything.contains("broker.application.secret.regenerate"));
    for secret in secrets.drain(..) {
        assert!(!secret.is_empty());
        assert!(!everything.contains(&secret), "a secret was shown again");
    }
    assert!(!everything.contains("secret_hash") && !everything.contains("token_hash"));
    app.stop().await;
}

async fn audit_events_filter_and_page_with_a_cursor(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    for id in ["t1", "t2", "t3"] {
        assert_eq!(
            api.post("/broker/tenants", &json!({"id": id})).await.status,
            201
        );
        app.clock.advance(time::Duration::seconds(1));
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = api
            .get(&format!(
                "/audit-events?action=broker.tenant.&limit=2{cursor}"
            ))
            .await;
        assert_eq!(page.status, 200, "{}", page.text);
        for event in page.body["items"].as_array().cloned().unwrap_or_default() {
            assert_eq!(event["action"], "broker.tenant.create");
            assert!(
                event["actor"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("token:tok_"))
            );
            assert!(event["request_id"].is_string(), "{event}");
            assert!(event["client_address"].is_string(), "{event}");
            seen.push(event["tenant"].as_str().unwrap_or_default().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["t3", "t2", "t1"], "newest first, no repeats");
    let one = api.get("/audit-events?tenant=t2").await;
    assert_eq!(one.body["items"].as_array().map(Vec::len), Some(1));
    let (secret, _) = api
        .token(json!({"name": "t1 admin", "role": "tenant_admin", "tenants": ["t1"]}))
        .await;
    let mine = api.with(&secret).get("/audit-events").await;
    let tenants: Vec<&str> = mine.body["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["tenant"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(tenants, ["t1"], "{}", mine.text);
    api.get("/audit-events?since=yesterday").await.problem(422);
    app.stop().await;
}

/// Every documented operation is routed (and answers 401 without a token where it says it needs one), every other
/// method on a documented path is 405, and every route of the API is registered through the documented list.
#[tokio::test]
async fn openapi_document_and_router_match() {
    let Some(app) = spawn_app(AppOptions::default()).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: None,
    };
    let document = api.get("/openapi.json").await;
    assert_eq!(document.status, 200);
    let doc = document.body;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // The document describes this API, not the library that generates it.
    assert_eq!(doc["info"]["title"], "Tessera admin API");
    assert_eq!(doc["info"]["version"], "1");
    assert_eq!(doc["info"]["license"]["name"], "Apache-2.0");
    assert!(doc["info"].get("contact").is_none(), "{}", doc["info"]);
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    let mut operations = 0;
    for (path, item) in &paths {
        assert!(path.starts_with("/admin/api/v1/"), "{path}");
        let concrete = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let url = format!("{}{concrete}", app.base);
        for method in ["get", "post", "put", "patch", "delete"] {
            let answer = app
                .http
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap_or(Method::GET),
                    &url,
                )
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let status = answer.status().as_u16();
            match item.get(method) {
                Some(operation) => {
                    operations += 1;
                    assert!(
                        status != 404 && status != 405,
                        "{method} {path} is documented but not routed"
                    );
                    let secured = operation.get("security").is_some();
                    assert_eq!(
                        secured,
                        status == 401,
                        "{method} {path}: security documented as it behaves"
                    );
                    let responses = operation["responses"]
                        .as_object()
                        .cloned()
                        .unwrap_or_default();
                    for (code, response) in responses.iter().filter(|(c, _)| c.starts_with('4')) {
                        assert!(
                            response["content"]["application/problem+json"]["schema"]["$ref"]
                                .as_str()
                                .is_some_and(|r| r.ends_with("/Problem")),
                            "{method} {path} {code}: errors are documented as problem+json"
                        );
                    }
                }
                None => assert_eq!(status, 405, "{method} {path} is routed but not documented"),
            }
        }
    }
    // Every route is registered with `routes!` (which documents it): the API's sources hold one other route, the
    // problem+json fallback, and as many documented handlers as the document has operations.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../http/src/admin/api");
    let mut annotated = 0;
    let mut plain_routes = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{e}")) {
        let source = std::fs::read_to_string(entry.unwrap_or_else(|e| panic!("{e}")).path())
            .unwrap_or_default();
        annotated += source.matches("#[utoipa::path(").count();
        plain_routes +=
            source.matches(".route(").count() + source.matches(".route_service(").count();
    }
    assert_eq!(
        annotated, operations,
        "every documented handler is in the document"
    );
    assert_eq!(plain_routes, 1, "no route bypasses the documented list");
    let unknown = api.get("/no-such-thing").await;
    unknown.problem(404);
    app.stop().await;
}

async fn tenant_policy_changes_with_if_match_and_is_checked_as_a_whole(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    let path = "/tenants/acme/policy";
    let read = api.get(path).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.body["attestation"], "none");
    let tag = read.etag();
    let model = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
    let change = json!({
        "user_verification": "preferred",
        "attestation": "trusted",
        "aaguid_allow": [model],
        "minimum_certification_level": "L1",
        "synced_passkeys": "refuse",
        "sign_count": "report_only",
        "algorithms": [-7, -257],
    });
    api.call(Method::PATCH, path, Some(&change), None)
        .await
        .problem(428);
    let changed = api
        .call(Method::PATCH, path, Some(&change), Some(&tag))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_ne!(changed.etag(), tag);
    let now = api.get(path).await.body;
    assert_eq!(now["user_verification"], "preferred");
    assert_eq!(now["attestation"], "trusted");
    assert_eq!(now["aaguid_allow"], json!([model]));
    assert_eq!(now["minimum_certification_level"], "FIDO_CERTIFIED_L1");
    assert_eq!(now["synced_passkeys"], "refuse");
    assert_eq!(now["sign_count"], "report_only");
    assert_eq!(now["algorithms"], json!([-7, -257]));
    // The new policy is what a sign-up at the tenant is offered: attestation asked for, only these algorithms.
    let page = app
        .http
        .get(format!("{}/acme/signup", app.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let csrf_name = tessera_http::csrf::cookie_name(
        &tessera_core::TenantId::parse("acme").unwrap_or_else(|e| panic!("{e}")),
    );
    let csrf_cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{csrf_name}=")))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
        .unwrap_or_else(|| panic!("a CSRF cookie"));
    let csrf_value = csrf_cookie
        .split_once('=')
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default();
    let options: Value = app
        .http
        .post(format!("{}/acme/webauthn/register/options", app.base))
        .header("origin", app.base.clone())
        .header("cookie", csrf_cookie)
        .header(tessera_http::csrf::CSRF_HEADER, csrf_value)
        .json(&json!({"username": "polly", "display_name": "Polly"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(options["publicKey"]["attestation"], "direct", "{options}");
    let algs: Vec<i64> = options["publicKey"]["pubKeyCredParams"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["alg"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(algs, [-7, -257], "{options}");
    // A stale version is refused and changes nothing.
    api.call(
        Method::PATCH,
        path,
        Some(&json!({"attestation": "none"})),
        Some(&tag),
    )
    .await
    .problem(412);
    assert_eq!(api.get(path).await.body["attestation"], "trusted");
    // Each refusal names its field; nothing is half-written.
    let current = api.get(path).await.etag();
    for (body, field) in [
        (json!({"aaguid_deny": [model]}), "aaguid_allow"),
        (json!({"algorithms": []}), "algorithms"),
        (json!({"algorithms": [12345]}), "algorithms"),
        (json!({"aaguid_allow": ["not-a-uuid"]}), "aaguid_allow[0]"),
        (
            json!({"minimum_certification_level": "L9"}),
            "minimum_certification_level",
        ),
        (json!({"legacy_appid": "ftp://old.example"}), "legacy_appid"),
        (
            json!({"user_verification": "discouraged"}),
            "user_verification",
        ),
    ] {
        let refused = api
            .call(Method::PATCH, path, Some(&body), Some(&current))
            .await;
        let fields = refused.problem(422);
        assert!(
            fields.iter().any(|f| f == field),
            "{body}: {fields:?} {}",
            refused.text
        );
    }
    assert_eq!(api.get(path).await.etag(), current, "nothing changed");
    let removed = api
        .call(
            Method::PATCH,
            path,
            Some(&json!({"minimum_certification_level": null})),
            Some(&current),
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert_eq!(removed.body["minimum_certification_level"], Value::Null);
    let (reader, _) = api
        .token(json!({"name": "auditor", "role": "read_only"}))
        .await;
    api.with(&reader)
        .call(
            Method::PATCH,
            path,
            Some(&json!({"attestation": "none"})),
            Some(&removed.etag()),
        )
        .await
        .problem(403);
    let events = api
        .get("/audit-events?action=tenant.policy.update")
        .await
        .body;
    let items = events["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2, "{events}");
    assert!(
        items
            .iter()
            .any(|e| e["before"]["attestation"] == "none" && e["after"]["attestation"] == "trusted"),
        "{events}"
    );
    app.stop().await;
}

async fn regenerated_client_secret_is_shown_once_and_the_old_one_stops_working(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    let created = api
        .post(
            "/tenants/acme/clients",
            &json!({"name": "Web", "redirect_uris": ["https://rp.example/cb"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["client"]["client_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let old = created.body["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let regenerated = api
        .post(&format!("/tenants/acme/clients/{id}/secret"), &json!({}))
        .await;
    assert_eq!(regenerated.status, 201, "{}", regenerated.text);
    let new = regenerated.body["client_secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(new.len() >= 32 && new != old);
    assert_eq!(regenerated.body["client"]["has_secret"], true);
    assert!(
        !api.get(&format!("/tenants/acme/clients/{id}"))
            .await
            .text
            .contains(&new),
        "never shown again"
    );
    // The token endpoint authenticates the client before it looks at the code: the old secret is invalid_client.
    let token_with = |secret: String| {
        let id = id.clone();
        let app = &app;
        async move {
            app.http
                .post(app.socket_url("/acme/oidc/token"))
                .basic_auth(&id, Some(secret))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", "not-a-code"),
                    ("redirect_uri", "https://rp.example/cb"),
                ])
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    let with_old = token_with(old.clone()).await;
    assert_eq!(with_old.status().as_u16(), 401);
    let with_new = token_with(new.clone()).await;
    assert_eq!(
        with_new.status().as_u16(),
        400,
        "authenticated; the code is what fails"
    );
    let body: Value = with_new.json().await.unwrap_or_default();
    assert_eq!(body["error"], "invalid_grant");
    let public = api
        .post(
            "/tenants/acme/clients",
            &json!({"redirect_uris": ["https://spa.example/cb"], "token_endpoint_auth_method": "none"}),
        )
        .await;
    let public_id = public.body["client"]["client_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let fields = api
        .post(
            &format!("/tenants/acme/clients/{public_id}/secret"),
            &json!({}),
        )
        .await
        .problem(422);
    assert_eq!(fields, ["secret"]);
    api.post("/tenants/acme/clients/nosuch/secret", &json!({}))
        .await
        .problem(404);
    let trail = api.get("/audit-events?action=client.secret").await.text;
    assert!(trail.contains("client.secret.regenerate"), "{trail}");
    assert!(!trail.contains(&new) && !trail.contains(&old));
    app.stop().await;
}

async fn invitations_are_for_global_admins_and_their_link_is_shown_once(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    let issued = api
        .post(
            "/invitations",
            &json!({"role": "tenant_admin", "tenants": ["acme"], "expires_in_minutes": 60}),
        )
        .await;
    assert_eq!(issued.status, 201, "{}", issued.text);
    let link = issued.body["invitation_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        link.starts_with(&format!("{}/admin/invitation?token=tsi_", app.base)),
        "{link}"
    );
    assert_eq!(issued.body["role"], "tenant_admin");
    let secret = link.split("token=").nth(1).unwrap_or_default().to_owned();
    // The link opens the admin tenant's sign-up page, through the portal's sign-in (the server makes the admin
    // tenant at its start).
    tessera_service::admin::members::ensure_admin_tenant(
        app.state.provider.store.as_ref(),
        &app.state.provider.master_key,
        &app.base,
        tessera_core::Clock::now(app.clock.as_ref()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let opened = app
        .http
        .get(link.replace(&app.base, &app.socket_url("")))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(opened.status().as_u16(), 303);
    let location = opened
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        location.contains("/tessera-admin/oidc/authorize?") && location.contains("prompt=create"),
        "{location}"
    );
    for (body, field) in [
        (json!({"role": "tenant_admin"}), "tenants"),
        (
            json!({"role": "global_admin", "tenants": ["acme"]}),
            "tenants",
        ),
        (
            json!({"role": "read_only", "expires_in_minutes": 1}),
            "expires_in_minutes",
        ),
        (
            json!({"role": "read_only", "expires_in_minutes": 20000}),
            "expires_in_minutes",
        ),
        (json!({"role": "owner"}), "role"),
    ] {
        let fields = api.post("/invitations", &body).await.problem(422);
        assert!(fields.iter().any(|f| f == field), "{body}: {fields:?}");
    }
    let (tenant_admin, _) = api
        .token(json!({"name": "acme admin", "role": "tenant_admin", "tenants": ["acme"]}))
        .await;
    api.with(&tenant_admin)
        .post("/invitations", &json!({"role": "global_admin"}))
        .await
        .problem(403);
    let trail = api.get("/audit-events?action=admin.invitation").await;
    let items = trail.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{}", trail.text);
    assert_eq!(items[0]["after"]["role"], "tenant_admin");
    assert!(
        !trail.text.contains(&secret),
        "the secret is never in the trail"
    );
    app.stop().await;
}

async fn pending_invitations_are_listed_without_links_and_withdrawn(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    tessera_service::admin::members::ensure_admin_tenant(
        app.state.provider.store.as_ref(),
        &app.state.provider.master_key,
        &app.base,
        tessera_core::Clock::now(app.clock.as_ref()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let mut secrets = Vec::new();
    let mut ids = Vec::new();
    for body in [
        json!({"role": "tenant_admin", "tenants": ["acme"], "expires_in_minutes": 60}),
        json!({"role": "read_only"}),
        json!({"role": "global_admin", "expires_in_minutes": 5}),
    ] {
        let issued = api.post("/invitations", &body).await;
        assert_eq!(issued.status, 201, "{}", issued.text);
        ids.push(issued.body["id"].as_str().unwrap_or_default().to_owned());
        let link = issued.body["invitation_url"].as_str().unwrap_or_default();
        secrets.push(link.split("token=").nth(1).unwrap_or_default().to_owned());
    }
    let listed = api.get("/invitations").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let items = listed.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 3, "{}", listed.text);
    let first = items
        .iter()
        .find(|i| i["id"] == ids[0].as_str())
        .unwrap_or_else(|| panic!("{}", listed.text));
    assert_eq!(first["role"], "tenant_admin");
    assert_eq!(first["tenants"], json!(["acme"]));
    assert!(
        first["created_by"]
            .as_str()
            .is_some_and(|c| c.starts_with("token:tok_")),
        "{first}"
    );
    assert!(
        first["created_at"].is_string() && first["expires_at"].is_string(),
        "{first}"
    );
    for secret in &secrets {
        assert!(
            !listed.text.contains(secret.as_str()),
            "no secret in the list"
        );
    }
    assert!(
        !listed.text.contains("token=") && !listed.text.contains("invitation_url"),
        "no link in the list: {}",
        listed.text
    );
    // Cursor-paged: two pages of at most two.
    let page1 = api.get("/invitations?limit=2").await;
    let cursor = page1.body["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(page1.body["items"].as_array().map(Vec::len), Some(2));
    assert!(!cursor.is_empty(), "{}", page1.text);
    let page2 = api
        .get(&format!("/invitations?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(
        page2.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        page2.text
    );
    assert!(page2.body["next_cursor"].is_null());
    let mut paged: Vec<String> = page1.body["items"]
        .as_array()
        .into_iter()
        .chain(page2.body["items"].as_array())
        .flatten()
        .map(|i| i["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    paged.sort();
    let mut all = ids.clone();
    all.sort();
    assert_eq!(paged, all);
    // A cursor this API did not give ("nope", and a time that is no number) names the field.
    for wrong in ["bm9wZQ", "eHg6aW52XzE"] {
        let refused = api.get(&format!("/invitations?cursor={wrong}")).await;
        assert_eq!(refused.problem(422), ["cursor"], "{}", refused.text);
    }

    // Only a global admin lists or withdraws: a tenant admin and a read-only token get 403, nothing changes.
    let (tenant_admin, _) = api
        .token(json!({"name": "acme admin", "role": "tenant_admin", "tenants": ["acme"]}))
        .await;
    let (reader, _) = api
        .token(json!({"name": "reader", "role": "read_only"}))
        .await;
    for other in [&tenant_admin, &reader] {
        api.with(other).get("/invitations").await.problem(403);
        api.with(other)
            .delete(&format!("/invitations/{}", ids[0]), None)
            .await
            .problem(403);
    }
    api.anonymous().get("/invitations").await.problem(401);

    // Withdrawn: gone from the list, its link refused like an expired one, an audit event without the secret.
    let withdrawn = api.delete(&format!("/invitations/{}", ids[0]), None).await;
    assert_eq!(withdrawn.status, 204, "{}", withdrawn.text);
    api.delete(&format!("/invitations/{}", ids[0]), None)
        .await
        .problem(404);
    api.delete("/invitations/inv_nosuch", None)
        .await
        .problem(404);
    let after = api.get("/invitations").await;
    let left: Vec<&str> = after.body["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(left.len(), 2, "{}", after.text);
    assert!(!left.contains(&ids[0].as_str()));
    let opened = app
        .http
        .get(app.socket_url(&format!("/admin/invitation?token={}", secrets[0])))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(opened.status().as_u16(), 404);
    let page = opened.text().await.unwrap_or_default();
    assert!(page.contains("This invitation does not work"), "{page}");
    let still = app
        .http
        .get(app.socket_url(&format!("/admin/invitation?token={}", secrets[1])))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(still.status().as_u16(), 303, "the others still work");
    let trail = api
        .get("/audit-events?action=admin.invitation.withdraw")
        .await;
    let events = trail.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 1, "{}", trail.text);
    assert_eq!(
        events[0]["target"],
        format!("admins/invitations/{}", ids[0])
    );
    assert_eq!(events[0]["before"]["role"], "tenant_admin");
    assert!(events[0]["after"].is_null());
    assert!(!trail.text.contains(secrets[0].as_str()));

    // An expired invitation is no longer pending.
    app.clock.advance(time::Duration::minutes(6));
    let later = api.get("/invitations").await;
    let left: Vec<&str> = later.body["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(left, [ids[1].as_str()], "{}", later.text);
    api.delete(&format!("/invitations/{}", ids[2]), None)
        .await
        .problem(404);
    app.stop().await;
}

/// A confidential client of `acme` made through the API; returns its path.
async fn new_client(api: &Api<'_>, name: &str) -> String {
    let created = api
        .post(
            "/tenants/acme/clients",
            &json!({
                "name": name,
                "redirect_uris": ["https://rp.example/cb"],
                "token_endpoint_auth_method": "client_secret_basic",
                "id_token_signed_response_alg": "ES256",
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    format!(
        "/tenants/acme/clients/{}",
        created.body["client"]["client_id"]
            .as_str()
            .unwrap_or_default()
    )
}

/// A confidential application of the broker tenant made through the API; returns its path.
async fn new_application(api: &Api<'_>, tenant: &str) -> String {
    let created = api
        .post(
            &format!("/broker/tenants/{tenant}/applications"),
            &json!({"display_name": "Web", "client_type": "confidential", "reply_urls": ["https://app.example/cb"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    format!(
        "/broker/tenants/{tenant}/applications/{}",
        created.body["application"]["client_id"]
            .as_str()
            .unwrap_or_default()
    )
}

async fn every_updatable_resource_refuses_a_stale_or_missing_etag(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    configure_tutorial(&api).await;
    // Each resource: read (tag), change with it (ok), change again with the same tag (412), without one (428),
    // and delete from the stale tag (412). The object stays as the first change left it.
    let client = new_client(&api, "First").await;
    let read = api.get(&client).await;
    let rename = |name: &str| json!({"name": name});
    api.call(Method::PATCH, &client, Some(&rename("No tag")), None)
        .await
        .problem(428);
    let ok = api
        .call(
            Method::PATCH,
            &client,
            Some(&rename("Alice's")),
            Some(&read.etag()),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    api.call(
        Method::PATCH,
        &client,
        Some(&rename("Bob's")),
        Some(&read.etag()),
    )
    .await
    .problem(412);
    api.delete(&client, Some(&read.etag())).await.problem(412);
    api.delete(&client, None).await.problem(428);
    assert_eq!(api.get(&client).await.body["name"], "Alice's");
    let gone = api.delete(&client, Some(&ok.etag())).await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    // The tenant policy.
    let policy = api.get("/tenants/acme/policy").await;
    let change = json!({"user_verification": "preferred"});
    api.call(Method::PATCH, "/tenants/acme/policy", Some(&change), None)
        .await
        .problem(428);
    let changed = api
        .call(
            Method::PATCH,
            "/tenants/acme/policy",
            Some(&change),
            Some(&policy.etag()),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    api.call(
        Method::PATCH,
        "/tenants/acme/policy",
        Some(&json!({"user_verification": "required"})),
        Some(&policy.etag()),
    )
    .await
    .problem(412);
    assert_eq!(
        api.get("/tenants/acme/policy").await.body["user_verification"],
        "preferred"
    );
    // The identity provider and its claim mapping.
    let provider = format!("/broker/tenants/{BROKER}/identity-providers/acme");
    let read = api.get(&provider).await;
    let mapping = |email: &str| json!({"user_id": "sub", "email": email});
    let mapped = api
        .put(
            &format!("{provider}/claim-mapping"),
            &mapping("mail"),
            Some(&read.etag()),
        )
        .await;
    assert_eq!(mapped.status, 200, "{}", mapped.text);
    api.put(
        &format!("{provider}/claim-mapping"),
        &mapping("email_address"),
        Some(&read.etag()),
    )
    .await
    .problem(412);
    api.put(
        &format!("{provider}/claim-mapping"),
        &mapping("email_address"),
        None,
    )
    .await
    .problem(428);
    api.delete(&provider, Some(&read.etag())).await.problem(412);
    api.delete(&provider, None).await.problem(428);
    assert_eq!(
        api.get(&provider).await.body["claim_mapping"]["email"],
        "mail"
    );
    // The application.
    let application = new_application(&api, BROKER).await;
    let read = api.get(&application).await;
    let body = |name: &str| json!({"display_name": name, "reply_urls": ["https://app.example/cb"]});
    let saved = api
        .put(&application, &body("Alice's"), Some(&read.etag()))
        .await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    api.put(&application, &body("Bob's"), Some(&read.etag()))
        .await
        .problem(412);
    api.delete(&application, Some(&read.etag()))
        .await
        .problem(412);
    assert_eq!(api.get(&application).await.body["display_name"], "Alice's");
    app.stop().await;
}

/// Sends four changes at once, all based on the same read (`tag`); returns their statuses.
async fn race(api: &Api<'_>, method: Method, path: &str, bodies: &[Value], tag: &str) -> Vec<u16> {
    let call = |n: usize| api.call(method.clone(), path, Some(&bodies[n]), Some(tag));
    let (a, b, c, d) = tokio::join!(call(0), call(1), call(2), call(3));
    [a, b, c, d].iter().map(|answer| answer.status).collect()
}

fn one_winner(statuses: &[u16], what: &str) {
    let won = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 412).count();
    assert_eq!(
        (won, refused),
        (1, statuses.len() - 1),
        "{what}: exactly one of the writes from one ETag wins, the others get 412: {statuses:?}"
    );
}

async fn two_writes_from_one_etag_have_exactly_one_winner(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    assert_eq!(
        api.post("/broker/tenants", &json!({"id": BROKER}))
            .await
            .status,
        201
    );
    let client = new_client(&api, "Raced").await;
    let application = new_application(&api, BROKER).await;
    for round in 0..3 {
        let names: Vec<Value> = (0..4)
            .map(|n| json!({"name": format!("Admin {n} round {round}")}))
            .collect();
        let tag = api.get(&client).await.etag();
        one_winner(
            &race(&api, Method::PATCH, &client, &names, &tag).await,
            "client",
        );
        let names: Vec<Value> = (0..4)
            .map(|n| json!({"display_name": format!("Admin {n} round {round}")}))
            .collect();
        let tag = api.get("/tenants/acme").await.etag();
        one_winner(
            &race(&api, Method::PATCH, "/tenants/acme", &names, &tag).await,
            "tenant",
        );
        let bodies: Vec<Value> = (0..4)
            .map(|n| json!({"display_name": format!("Admin {n} round {round}"), "reply_urls": ["https://app.example/cb"]}))
            .collect();
        let tag = api.get(&application).await.etag();
        one_winner(
            &race(&api, Method::PUT, &application, &bodies, &tag).await,
            "application",
        );
    }
    app.stop().await;
}

async fn tenant_admin_gets_404_for_every_resource_type_of_another_tenant(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    // The other tenants' objects exist: an authenticator tenant `acme` with a client, a broker tenant `fabrikam`
    // with an application.
    for id in ["contoso", "fabrikam"] {
        assert_eq!(
            api.post("/broker/tenants", &json!({"id": id})).await.status,
            201
        );
    }
    let client = new_client(&api, "Acme web").await;
    let application = new_application(&api, "fabrikam").await;
    let (secret, _) = api
        .token(json!({"name": "contoso admin", "role": "tenant_admin", "tenants": ["contoso"]}))
        .await;
    let contoso = api.with(&secret);
    // What the global admin reads with 200, the tenant admin does not see at all.
    let reads = [
        "/tenants/acme".to_owned(),
        "/tenants/acme/clients".to_owned(),
        client.clone(),
        "/tenants/acme/users".to_owned(),
        "/tenants/acme/policy".to_owned(),
        "/tenants/acme/keys".to_owned(),
        "/broker/tenants/fabrikam".to_owned(),
        "/broker/tenants/fabrikam/applications".to_owned(),
        application.clone(),
        "/broker/tenants/fabrikam/identity-providers".to_owned(),
        "/broker/tenants/fabrikam/user-flows".to_owned(),
        "/broker/tenants/fabrikam/users".to_owned(),
        "/broker/tenants/fabrikam/keys".to_owned(),
        "/audit-events?tenant=acme".to_owned(),
        "/audit-events?tenant=fabrikam".to_owned(),
    ];
    for path in &reads {
        let seen = api.get(path).await;
        assert_eq!(seen.status, 200, "{path}: {}", seen.text);
        let hidden = contoso.get(path).await;
        assert_eq!(
            hidden.status, 404,
            "{path} is 404, not 403: {}",
            hidden.text
        );
    }
    // Objects under another tenant's paths that may or may not exist: 404 as well, never 403.
    for path in [
        "/tenants/acme/users/u1",
        "/tenants/acme/users/u1/passkeys",
        "/tenants/acme/users/u1/passkeys/AAAA",
        "/broker/tenants/fabrikam/identity-providers/acme",
        "/broker/tenants/fabrikam/user-flows/B2C_1_x",
        "/broker/tenants/fabrikam/user-flows/B2C_1_x/versions",
        "/broker/tenants/fabrikam/users/u1",
    ] {
        contoso.get(path).await.problem(404);
    }
    // Writes with the tag the global admin read: 404 too, and nothing changes.
    let tag = api.get(&client).await.etag();
    contoso
        .call(
            Method::PATCH,
            &client,
            Some(&json!({"name": "Hijacked"})),
            Some(&tag),
        )
        .await
        .problem(404);
    contoso.delete(&client, Some(&tag)).await.problem(404);
    let tag = api.get(&application).await.etag();
    contoso
        .put(
            &application,
            &json!({"display_name": "Hijacked", "reply_urls": ["https://evil.example/cb"]}),
            Some(&tag),
        )
        .await
        .problem(404);
    contoso.delete(&application, Some(&tag)).await.problem(404);
    for path in [
        "/tenants/acme/keys/rotate",
        "/broker/tenants/fabrikam/keys/rotate",
        "/tenants/acme/users/u1/disable",
        "/broker/tenants/fabrikam/users/u1/disable",
    ] {
        contoso.post(path, &json!({})).await.problem(404);
    }
    assert_eq!(api.get(&client).await.body["name"], "Acme web");
    assert_eq!(api.get(&application).await.body["display_name"], "Web");
    app.stop().await;
}

async fn api_and_portal_share_one_audit_vocabulary(backend: Backend) {
    use tessera_service::admin::audit::actions;
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    configure_tutorial(&api).await;
    // The names the API records are the shared constants: a filter by one of them finds the change.
    for (action, target) in [
        (actions::BROKER_TENANT_CREATE, format!("broker/{BROKER}")),
        (actions::CLIENT_CREATE, String::new()),
        (
            actions::BROKER_PROVIDER_CREATE,
            format!("broker/{BROKER}/identity-providers/acme"),
        ),
        (
            actions::BROKER_PROVIDER_CLAIMS_UPDATE,
            format!("broker/{BROKER}/identity-providers/acme"),
        ),
        (
            actions::BROKER_USER_FLOW_CREATE,
            format!("broker/{BROKER}/user-flows/{POLICY}"),
        ),
        (actions::BROKER_APPLICATION_CREATE, String::new()),
    ] {
        let events = api.get(&format!("/audit-events?action={action}")).await;
        let items = events.body["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), 1, "{action}: {}", events.text);
        assert_eq!(items[0]["action"], action);
        if !target.is_empty() {
            assert_eq!(items[0]["target"], target.as_str(), "{action}");
        }
    }
    // The portal's sources record only the shared constants (no action spelled as a string there).
    let portal = concat!(env!("CARGO_MANIFEST_DIR"), "/../http/src/admin/portal");
    for entry in std::fs::read_dir(portal).unwrap_or_else(|e| panic!("{portal}: {e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let source = std::fs::read_to_string(&path).unwrap_or_default();
        for old in [
            "\"authenticator.",
            "\"broker.userflow.",
            "/userflows/",
            "/providers/{",
        ] {
            assert!(
                !source.contains(old),
                "{}: an audit name or target outside the shared vocabulary ({old})",
                path.display()
            );
        }
    }
    app.stop().await;
}
