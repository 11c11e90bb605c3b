//! The admin API's identity-provider list, on SQLite and PostgreSQL: pages the store cuts from the providers'
//! summaries (no secret, metadata or JWKS read), in id order with the API's cursor, each item what a read of the
//! provider shows (issuer, signing keys, whether a secret is stored, times).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use tessera_testkit::Backend;

use super::super::BROKER;
use super::{Api, admin};

both_stores!(identity_providers_come_in_store_pages_as_reads_show_them);

async fn identity_providers_come_in_store_pages_as_reads_show_them(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    let base = app.base.clone();
    assert_eq!(
        api.post("/broker/tenants", &json!({"id": BROKER}))
            .await
            .status,
        201
    );
    let client = api
        .post(
            "/tenants/acme/clients",
            &json!({"name": "broker", "redirect_uris": [format!("{base}/{BROKER}/oauth2/authresp")]}),
        )
        .await;
    assert_eq!(client.status, 201, "{}", client.text);
    let client_id = client.body["client"]["client_id"].clone();
    let secret = client.body["client_secret"].clone();
    let metadata_url = format!("{base}/acme/oidc/.well-known/openid-configuration");
    // Five providers, added out of order; "b-1" sorts before "b0" in byte order.
    for id in ["c", "b0", "a", "b-1", "d"] {
        let added = api
            .post(
                &format!("/broker/tenants/{BROKER}/identity-providers"),
                &json!({"id": id, "name": format!("Provider {id}"), "metadata_url": metadata_url,
                        "client_id": client_id, "client_secret": secret, "response_mode": "form_post"}),
            )
            .await;
        assert_eq!(added.status, 201, "{}", added.text);
    }
    let list = format!("/broker/tenants/{BROKER}/identity-providers");
    let mut seen: Vec<Value> = Vec::new();
    let mut pages = 0;
    let mut cursor = String::new();
    loop {
        let page = api.get(&format!("{list}?limit=2{cursor}")).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let items = page.body["items"].as_array().cloned().unwrap_or_default();
        pages += 1;
        assert!(items.len() <= 2, "{}", page.text);
        seen.extend(items);
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let ids: Vec<&str> = seen.iter().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(
        ids,
        ["a", "b-1", "b0", "c", "d"],
        "id (byte) order, no repeats"
    );
    // Each item is what a read of the provider shows.
    for item in &seen {
        let id = item["id"].as_str().unwrap_or_default();
        let read = api.get(&format!("{list}/{id}")).await;
        assert_eq!(&read.body, item, "the list's {id} is its read");
        assert_eq!(item["issuer"], format!("{base}/acme/oidc"));
        assert!(
            item["signing_keys"].as_u64().unwrap_or_default() >= 1,
            "{item}"
        );
        assert_eq!(item["has_client_secret"], true);
        assert!(item.get("client_secret").is_none());
    }
    // A cursor that names no provider id is refused; a page past the end is empty.
    let bad = B64.encode("Not An Id");
    assert_eq!(
        api.get(&format!("{list}?cursor={bad}")).await.problem(422),
        ["cursor"]
    );
    let beyond = B64.encode("zzz");
    let empty = api.get(&format!("{list}?cursor={beyond}")).await;
    assert_eq!(empty.body["items"], json!([]), "{}", empty.text);
    assert!(empty.body["next_cursor"].is_null());
    // Another tenant's list is 404, not an empty page.
    api.get("/broker/tenants/nobody/identity-providers")
        .await
        .problem(404);
    app.stop().await;
}
