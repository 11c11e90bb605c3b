//! The admin API's deletions, broker tenant update and broker key rotation, over HTTP on SQLite and PostgreSQL:
//! a tenant of either role is kept (409 naming what remains) until `?force=true`; a deleted user flow ends the
//! sign-ins in progress on it with a clear page; `PATCH /broker/tenants/{tenant}` needs the current `ETag`; a
//! rotation publishes the new and the old keys and tokens signed by the new key verify; a staged one (the default)
//! publishes the new keys while the old ones still sign, until the maintenance task activates them. A tenant's
//! clients come in pages the store cuts, in client id (byte) order, with the API's cursor. Role rules (another tenant's
//! admin: 404; read-only: 403) and an audit event for each change.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::Method;
use serde_json::{Value, json};
use tessera_service::admin::api_tokens;
use tessera_testkit::{Backend, TestApp};

use super::super::{
    BROKER, Broker, Browser, POLICY, Person, app_request, at_provider, authorize_path, broker,
    sign_up, token, verified_claims,
};
use super::{Api, admin};

both_stores!(
    tenant_deletes_are_refused_while_not_empty_unless_forced,
    tenant_deletes_follow_the_role_rules,
    broker_tenant_update_needs_the_current_etag,
    deleted_user_flow_ends_sign_ins_in_progress_with_a_clear_page,
    broker_key_rotation_publishes_new_and_old_keys_and_new_tokens_verify,
    staged_broker_key_rotation_publishes_first_and_signs_after_activation,
    clients_come_in_store_pages_with_the_api_cursor,
);

/// A global-admin API token for an app set up without the bootstrap exchange.
async fn global_token(app: &TestApp) -> String {
    api_tokens::issue(
        &app.state.admin_store,
        &api_tokens::Principal {
            token_id: "test".into(),
            role: api_tokens::Role::GlobalAdmin,
            tenants: Vec::new(),
        },
        &api_tokens::NewToken {
            name: "lifecycle".into(),
            role: api_tokens::Role::GlobalAdmin,
            tenants: Vec::new(),
            lifetime: time::Duration::hours(1),
        },
        &api_tokens::RequestContext::default(),
        tessera_core::Clock::now(app.clock.as_ref()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .secret
}

/// The audit events of `action`.
async fn audited(api: &Api<'_>, action: &str) -> Vec<Value> {
    let events = api.get(&format!("/audit-events?action={action}")).await;
    assert_eq!(events.status, 200, "{}", events.text);
    events.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

async fn tenant_deletes_are_refused_while_not_empty_unless_forced(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    // A broker tenant with an application: kept, and the problem names what remains.
    assert_eq!(
        api.post("/broker/tenants", &json!({"id": "fabrikam"}))
            .await
            .status,
        201
    );
    let created = api
        .post(
            "/broker/tenants/fabrikam/applications",
            &json!({"display_name": "Web", "client_type": "public", "reply_urls": ["https://jwt.ms/"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let path = "/broker/tenants/fabrikam";
    let read = api.get(path).await;
    assert_eq!(read.status, 200, "{}", read.text);
    api.delete(path, None).await.problem(428);
    let refused = api.delete(path, Some(&read.etag())).await;
    refused.problem(409);
    assert_eq!(
        refused.body["type"], "urn:tessera:problem:tenant-not-empty",
        "{}",
        refused.text
    );
    let detail = refused.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("1 application"), "{detail}");
    assert!(
        api.get("/broker/tenants/fabrikam/applications").await.body["items"]
            .as_array()
            .is_some_and(|a| a.len() == 1),
        "nothing was deleted"
    );
    let forced = api
        .delete(&format!("{path}?force=true"), Some(&read.etag()))
        .await;
    assert_eq!(forced.status, 204, "{}", forced.text);
    api.get(path).await.problem(404);
    api.get("/broker/tenants/fabrikam/applications")
        .await
        .problem(404);
    let events = audited(&api, "broker.tenant.delete.force").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["before"]["deleted_with_it"]["applications"], 1);
    // The id is free again, and an empty broker tenant goes without force.
    assert_eq!(
        api.post("/broker/tenants", &json!({"id": "fabrikam"}))
            .await
            .status,
        201
    );
    let empty = api.get(path).await;
    let deleted = api.delete(path, Some(&empty.etag())).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert_eq!(audited(&api, "broker.tenant.delete").await.len(), 1);

    // An authenticator tenant with a client: the same rules.
    let base = app.base.clone();
    let made = api
        .post(
            "/tenants",
            &json!({"id": "globex", "rp_id": "localhost", "origins": [base]}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let client = api
        .post(
            "/tenants/globex/clients",
            &json!({"name": "App", "redirect_uris": ["https://app.example/cb"],
                    "token_endpoint_auth_method": "none"}),
        )
        .await;
    assert_eq!(client.status, 201, "{}", client.text);
    let read = api.get("/tenants/globex").await;
    let refused = api.delete("/tenants/globex", Some(&read.etag())).await;
    refused.problem(409);
    let detail = refused.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("1 client"), "{detail}");
    assert_eq!(
        api.get("/tenants/globex/clients").await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let forced = api
        .delete("/tenants/globex?force=true", Some(&read.etag()))
        .await;
    assert_eq!(forced.status, 204, "{}", forced.text);
    api.get("/tenants/globex").await.problem(404);
    api.get("/tenants/globex/clients").await.problem(404);
    assert_eq!(audited(&api, "tenant.delete.force").await.len(), 1);
    app.stop().await;
}

async fn tenant_deletes_follow_the_role_rules(backend: Backend) {
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
    let (tenant_admin, _) = api
        .token(json!({"name": "contoso admin", "role": "tenant_admin", "tenants": ["contoso"]}))
        .await;
    let (read_only, _) = api
        .token(json!({"name": "auditor", "role": "read_only"}))
        .await;
    let contoso = api.with(&tenant_admin);
    let auditor = api.with(&read_only);
    let own = api.get("/broker/tenants/contoso").await.etag();
    let other = api.get("/broker/tenants/fabrikam").await.etag();
    // Another tenant's admin does not see it; its own tenant it may not delete (global admins only).
    contoso
        .delete("/broker/tenants/fabrikam?force=true", Some(&other))
        .await
        .problem(404);
    contoso
        .delete("/broker/tenants/contoso", Some(&own))
        .await
        .problem(403);
    contoso
        .call(
            Method::PATCH,
            "/broker/tenants/fabrikam",
            Some(&json!({"display_name": "Mine"})),
            Some(&other),
        )
        .await
        .problem(404);
    contoso
        .post("/broker/tenants/fabrikam/keys/rotate", &json!({}))
        .await
        .problem(404);
    contoso
        .get("/broker/tenants/fabrikam/keys")
        .await
        .problem(404);
    contoso
        .delete("/tenants/acme", Some("*"))
        .await
        .problem(404);
    // A read-only token reads the keys but changes nothing.
    assert_eq!(
        auditor.get("/broker/tenants/fabrikam/keys").await.status,
        200
    );
    auditor
        .delete("/broker/tenants/fabrikam", Some(&other))
        .await
        .problem(403);
    auditor
        .post("/broker/tenants/fabrikam/keys/rotate", &json!({}))
        .await
        .problem(403);
    auditor
        .call(
            Method::PATCH,
            "/broker/tenants/fabrikam",
            Some(&json!({"display_name": "Read only"})),
            Some(&other),
        )
        .await
        .problem(403);
    auditor
        .delete("/tenants/acme?force=true", Some("*"))
        .await
        .problem(403);
    // Nothing of it happened.
    assert_eq!(api.get("/broker/tenants/fabrikam").await.etag(), other);
    assert_eq!(api.get("/tenants/acme").await.status, 200);
    assert_eq!(
        api.get("/broker/tenants/fabrikam/keys").await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    app.stop().await;
}

async fn broker_tenant_update_needs_the_current_etag(backend: Backend) {
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
    let path = format!("/broker/tenants/{BROKER}");
    let read = api.get(&path).await;
    let first = read.etag();
    assert_eq!(read.body["revision"], 1);
    let patch = |name: &str| json!({ "display_name": name });
    api.call(Method::PATCH, &path, Some(&patch("No tag")), None)
        .await
        .problem(428);
    let fields = api
        .call(Method::PATCH, &path, Some(&patch("  ")), Some(&first))
        .await
        .problem(422);
    assert_eq!(fields, ["display_name"]);
    let fields = api
        .call(
            Method::PATCH,
            &path,
            Some(&json!({"id": "other"})),
            Some(&first),
        )
        .await
        .problem(422);
    assert_eq!(fields.len(), 1, "{fields:?}");
    let alice = api
        .call(Method::PATCH, &path, Some(&patch("Alice's")), Some(&first))
        .await;
    assert_eq!(alice.status, 200, "{}", alice.text);
    assert_eq!(alice.body["display_name"], "Alice's");
    assert_eq!(alice.body["revision"], 2);
    assert_ne!(alice.etag(), first);
    // Bob read before Alice's change: his write is refused, and Alice's stays.
    api.call(Method::PATCH, &path, Some(&patch("Bob's")), Some(&first))
        .await
        .problem(412);
    let now = api.get(&path).await;
    assert_eq!(now.body["display_name"], "Alice's");
    assert_eq!(now.etag(), alice.etag());
    let events = audited(&api, "broker.tenant.update").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["before"]["display_name"], BROKER);
    assert_eq!(events[0]["after"]["display_name"], "Alice's");
    app.stop().await;
}

async fn deleted_user_flow_ends_sign_ins_in_progress_with_a_clear_page(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let secret = global_token(&b.app).await;
    let api = Api {
        app: &b.app,
        token: Some(secret),
    };
    // A sign-in starts and reaches the provider, whose answer is on its way back to the broker.
    let mut browser = Browser::default();
    let mut ann = Person::new("ann");
    let request = app_request(&b, &authorize_path(), &[]);
    let start = browser.get(&b.app, &request.url).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let posted = at_provider(&b, &mut browser, &start.location(), &mut ann).await;
    // Meanwhile an admin deletes the flow, from the version they read.
    let path = format!("/broker/tenants/{BROKER}/user-flows/{POLICY}");
    let v1 = api.get(&path).await;
    assert_eq!(v1.status, 200, "{}", v1.text);
    let v2 = api
        .put(
            &path,
            &json!({"settings": v1.body["settings"]}),
            Some(&v1.etag()),
        )
        .await;
    assert_eq!(v2.status, 200, "{}", v2.text);
    api.delete(&path, None).await.problem(428);
    api.delete(&path, Some(&v1.etag())).await.problem(412);
    let deleted = api.delete(&path, Some(&v2.etag())).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    api.get(&path).await.problem(404);
    api.get(&format!("{path}/versions/1")).await.problem(404);
    let events = audited(&api, "broker.user_flow.delete").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["before"]["current_version"], 2);
    // The sign-in in progress ends with the broker's page, not a fault; a new one finds no flow.
    let form = posted.form();
    let answer = browser.post_form(&b.app, &form.action, &form.fields).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert!(
        answer.body.contains("Unknown sign-in page"),
        "{}",
        answer.body
    );
    let again = browser
        .get(&b.app, &app_request(&b, &authorize_path(), &[]).url)
        .await;
    assert_eq!(again.status, 404, "{}", again.body);
    b.app.stop().await;
}

/// The `kid` in a JWT's header.
fn kid_of(jwt: &str) -> String {
    let header = jwt.split('.').next().unwrap_or_default();
    let bytes = B64.decode(header).unwrap_or_else(|e| panic!("{e}"));
    let header: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}"));
    header["kid"].as_str().unwrap_or_default().to_owned()
}

async fn broker_key_rotation_publishes_new_and_old_keys_and_new_tokens_verify(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let secret = global_token(&b.app).await;
    let api = Api {
        app: &b.app,
        token: Some(secret),
    };
    let mut ann = Person::new("ann");
    let (tokens, _) = sign_up(&b, &mut Browser::default(), &mut ann).await;
    let old_token = tokens["id_token"].as_str().unwrap_or_default().to_owned();
    let old_kid = kid_of(&old_token);
    let keys_path = format!("/broker/tenants/{BROKER}/keys");
    let before = api.get(&keys_path).await;
    assert_eq!(before.status, 200, "{}", before.text);
    let listed = before.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 2, "{}", before.text);
    assert!(listed.iter().all(|k| k["status"] == "active"));
    assert!(listed.iter().any(|k| k["kid"] == old_kid.as_str()));
    assert!(
        !before.text.contains("private") && !before.text.contains("\"d\""),
        "no private key material: {}",
        before.text
    );

    let rotated = api
        .post(&format!("{keys_path}/rotate"), &json!({"immediate": true}))
        .await;
    assert_eq!(rotated.status, 201, "{}", rotated.text);
    let new_kids: Vec<String> = rotated.body["kids"]
        .as_array()
        .map(|k| {
            k.iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(new_kids.len(), 2, "{}", rotated.text);
    let after = api.get(&keys_path).await;
    let listed = after.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 4, "{}", after.text);
    for key in &listed {
        let kid = key["kid"].as_str().unwrap_or_default();
        let expected = if new_kids.iter().any(|k| k == kid) {
            "active"
        } else {
            "retired"
        };
        assert_eq!(key["status"], expected, "{key}");
    }
    // The JWKS publishes the new keys and the old ones.
    let jwks: Value = b
        .app
        .http
        .get(b.url(&format!("/{BROKER}/{POLICY}/discovery/v2.0/keys")))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let published: Vec<&str> = jwks["keys"]
        .as_array()
        .map(|k| k.iter().filter_map(|k| k["kid"].as_str()).collect())
        .unwrap_or_default();
    for kid in new_kids.iter().chain(std::iter::once(&old_kid)) {
        assert!(published.contains(&kid.as_str()), "{kid} in {jwks}");
    }
    // A token issued now is signed by a new key and verifies; the old token still verifies.
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
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let new_token = refreshed.json()["id_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        new_kids.contains(&kid_of(&new_token)),
        "signed by a new key"
    );
    let claims = verified_claims(&b, &new_token).await;
    assert_eq!(claims["emails"], json!(["ann@example.com"]));
    verified_claims(&b, &old_token).await;
    let events = audited(&api, "broker.tenant.keys.rotate").await;
    assert_eq!(events.len(), 1, "{events:?}");
    b.app.stop().await;
}

/// The kids the broker tenant's JWKS publishes.
async fn published_kids(b: &Broker) -> Vec<String> {
    let jwks: Value = b
        .app
        .http
        .get(b.url(&format!("/{BROKER}/{POLICY}/discovery/v2.0/keys")))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    jwks["keys"]
        .as_array()
        .map(|k| {
            k.iter()
                .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Refreshes with `refresh_token`; returns the new ID token and refresh token.
async fn refreshed(b: &Broker, refresh_token: &str) -> (String, String) {
    let reply = token(
        b,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    (
        body["id_token"].as_str().unwrap_or_default().to_owned(),
        body["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn staged_broker_key_rotation_publishes_first_and_signs_after_activation(backend: Backend) {
    let Some(b) = broker(backend).await else {
        return;
    };
    let secret = global_token(&b.app).await;
    let api = Api {
        app: &b.app,
        token: Some(secret),
    };
    let mut ann = Person::new("ann");
    let (tokens, _) = sign_up(&b, &mut Browser::default(), &mut ann).await;
    let old_kid = kid_of(tokens["id_token"].as_str().unwrap_or_default());
    let keys_path = format!("/broker/tenants/{BROKER}/keys");
    // A body with an unknown field is refused, naming the field at fault; nothing is made.
    let fields = api
        .post(
            &format!("{keys_path}/rotate"),
            &json!({"immediately": true}),
        )
        .await
        .problem(422);
    assert_eq!(fields.len(), 1, "{fields:?}");
    assert_eq!(
        api.get(&keys_path).await.body["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    let rotated = api.post(&format!("{keys_path}/rotate"), &json!({})).await;
    assert_eq!(rotated.status, 201, "{}", rotated.text);
    let new_kids: Vec<String> = rotated.body["kids"]
        .as_array()
        .map(|k| {
            k.iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(new_kids.len(), 2, "{}", rotated.text);
    let listed = api.get(&keys_path).await.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for key in &listed {
        let new = new_kids.iter().any(|k| key["kid"] == k.as_str());
        assert_eq!(
            key["status"],
            if new { "pending" } else { "active" },
            "{key}"
        );
    }
    // Published at once, while the old key still signs.
    let published = published_kids(&b).await;
    for kid in new_kids.iter().chain(std::iter::once(&old_kid)) {
        assert!(published.contains(kid), "{kid} in {published:?}");
    }
    let refresh = tokens["refresh_token"].as_str().unwrap_or_default();
    let (early_token, refresh) = refreshed(&b, refresh).await;
    assert_eq!(kid_of(&early_token), old_kid, "the old key still signs");
    // Not due yet: the maintenance task changes nothing.
    tessera_server::app::maintenance_round(&b.app.state).await;
    let (still_old, refresh) = refreshed(&b, &refresh).await;
    assert_eq!(kid_of(&still_old), old_kid);

    // Once published long enough, the maintenance task activates them: new tokens carry a new kid and verify.
    b.app
        .clock
        .advance(tessera_service::keys::KEY_PUBLICATION_DELAY + time::Duration::seconds(1));
    tessera_server::app::maintenance_round(&b.app.state).await;
    let (late_token, _) = refreshed(&b, &refresh).await;
    assert!(
        new_kids.contains(&kid_of(&late_token)),
        "signed by a new key"
    );
    let claims = verified_claims(&b, &late_token).await;
    assert_eq!(claims["emails"], json!(["ann@example.com"]));
    verified_claims(&b, &early_token).await;
    let listed = api.get(&keys_path).await.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for key in &listed {
        let new = new_kids.iter().any(|k| key["kid"] == k.as_str());
        assert_eq!(
            key["status"],
            if new { "active" } else { "retired" },
            "{key}"
        );
    }
    assert!(
        published_kids(&b).await.contains(&old_kid),
        "the old key stays published"
    );
    let events = audited(&api, "broker.tenant.keys.rotate").await;
    assert_eq!(events.len(), 1, "{events:?}");
    b.app.stop().await;
}

async fn clients_come_in_store_pages_with_the_api_cursor(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    let tenant = tessera_core::TenantId::parse("acme").unwrap_or_else(|e| panic!("{e}"));
    let now = tessera_core::Clock::now(app.clock.as_ref());
    for id in ["Zed", "app-1", "app.3", "app_2", "zz"] {
        app.state
            .provider
            .store
            .create_client(&tessera_store::Client {
                tenant: tenant.clone(),
                client_id: tessera_core::ClientId::parse(id).unwrap_or_else(|e| panic!("{e}")),
                display_name: format!("App {id}"),
                secret_hash: None,
                redirect_uris: vec!["https://app.example/cb".into()],
                post_logout_redirect_uris: Vec::new(),
                token_endpoint_auth_method: "none".into(),
                id_token_signed_response_alg: "RS256".into(),
                jwks: None,
                allowed_scopes: vec!["openid".into()],
                created_at: now,
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let ids = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|c| c["client_id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let whole = api.get("/tenants/acme/clients?limit=200").await;
    assert_eq!(whole.status, 200, "{}", whole.text);
    assert!(whole.body["next_cursor"].is_null(), "{}", whole.text);
    let all = ids(&whole.body);
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "client id (byte) order");
    for id in ["Zed", "app-1", "app.3", "app_2", "zz"] {
        assert!(all.iter().any(|c| c == id), "{id} in {all:?}");
    }
    // Page by page, each cursor the previous page's last id: the same clients, none twice.
    let mut paged = Vec::new();
    let mut path = "/tenants/acme/clients?limit=2".to_owned();
    loop {
        let page = api.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let items = ids(&page.body);
        assert!(items.len() <= 2, "{}", page.text);
        paged.extend(items.iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(cursor) => {
                assert_eq!(
                    cursor,
                    B64.encode(items.last().map(String::as_str).unwrap_or_default()),
                    "the cursor is the last id, as before"
                );
                path = format!("/tenants/acme/clients?limit=2&cursor={cursor}");
            }
            None => break,
        }
    }
    assert_eq!(paged, all);
    let fields = api
        .get(&format!(
            "/tenants/acme/clients?cursor={}",
            B64.encode("not a client id")
        ))
        .await
        .problem(422);
    assert_eq!(fields, ["cursor"]);
    let fields = api.get("/tenants/acme/clients?limit=0").await.problem(422);
    assert_eq!(fields, ["limit"]);
    api.get("/tenants/nosuch/clients").await.problem(404);
    app.stop().await;
}
