//! The admin API's errors, in the document and on the wire: every operation's OpenAPI entry lists the problems it
//! can answer (by what it takes: a body, query or path parameters, `If-Match`, a token), each as
//! `application/problem+json` with the `Problem` schema, under a unique operation id; and what the framework
//! refuses before a handler runs — a body that is not JSON, of another media type or too large, a query or path
//! parameter that does not parse, a method the path does not answer — is problem+json with its status too.

use reqwest::Method;
use serde_json::{Value, json};
use tessera_testkit::{AppOptions, Backend, spawn_app};

use super::{Answer, Api, admin};

both_stores!(framework_rejections_are_problems_with_their_status);

/// The statuses the operation documents.
fn documented(operation: &Value) -> Vec<String> {
    operation["responses"]
        .as_object()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn openapi_lists_every_error_each_operation_can_answer() {
    let document = tessera_http::admin::api::document();
    let doc = serde_json::to_value(&document).unwrap_or_else(|e| panic!("{e}"));
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    let mut ids = std::collections::BTreeSet::new();
    let mut checked = 0;
    for (path, item) in &paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            checked += 1;
            let at = format!("{method} {path}");
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{at}: an operationId"));
            assert!(ids.insert(id.to_owned()), "{at}: operationId {id} twice");
            let codes = documented(operation);
            let has = |code: &str| codes.iter().any(|c| c == code);
            for (code, response) in operation["responses"].as_object().into_iter().flatten() {
                if code.starts_with('4') || code.starts_with('5') {
                    assert!(
                        response["content"]["application/problem+json"]["schema"]["$ref"]
                            .as_str()
                            .is_some_and(|r| r == "#/components/schemas/Problem"),
                        "{at} {code}: a problem+json with the Problem schema"
                    );
                    assert_eq!(
                        response["content"].as_object().map(|c| c.len()),
                        Some(1),
                        "{at} {code}: problem+json only"
                    );
                }
            }
            if path.ends_with("/openapi.json") {
                // Served from memory: nothing can fail.
                assert_eq!(codes, ["200"], "{at}");
                continue;
            }
            assert!(has("503"), "{at}: 503 (store unavailable)");
            assert!(has("500"), "{at}: 500");
            let parameters = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let takes = |place: &str| parameters.iter().any(|p| p["in"] == place);
            if operation.get("requestBody").is_some() {
                for code in ["400", "413", "415", "422"] {
                    assert!(has(code), "{at} takes a body: {code}");
                }
            }
            if takes("query") {
                for code in ["400", "422"] {
                    assert!(has(code), "{at} takes a query: {code}");
                }
            }
            if takes("path") {
                for code in ["400", "404"] {
                    assert!(has(code), "{at} takes a path parameter: {code}");
                }
            }
            if parameters
                .iter()
                .any(|p| p["in"] == "header" && p["name"] == "If-Match")
            {
                for code in ["412", "428"] {
                    assert!(has(code), "{at} takes If-Match: {code}");
                }
            }
            if operation.get("security").is_some() {
                for code in ["401", "403"] {
                    assert!(has(code), "{at} is authenticated: {code}");
                }
                if method != "get" {
                    assert!(has("409"), "{at} changes something: 409");
                }
            }
        }
    }
    assert!(checked > 60, "{checked} operations");
    for id in [
        "get_tenant",
        "broker_get_tenant",
        "list_api_tokens",
        "list_audit_events",
    ] {
        assert!(ids.contains(id), "{id} in {ids:?}");
    }
}

/// A request with a raw body and content type.
async fn raw(
    api: &Api<'_>,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    let url = format!("{}/admin/api/v1{path}", api.app.base);
    let mut request = api.app.http.request(method, url);
    if let Some(token) = &api.token {
        request = request.bearer_auth(token);
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
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

async fn framework_rejections_are_problems_with_their_status(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    let json_type = Some("application/json");
    // Malformed JSON: 400, nothing created.
    let malformed = raw(
        &api,
        Method::POST,
        "/broker/tenants",
        json_type,
        b"{\"id\": \"x".to_vec(),
    )
    .await;
    malformed.problem(400);
    assert_eq!(
        malformed.body["type"],
        "urn:tessera:problem:malformed-request"
    );
    // Not JSON at all, or no body.
    raw(&api, Method::POST, "/broker/tenants", json_type, Vec::new())
        .await
        .problem(400);
    // JSON of the wrong shape: 422 naming the field.
    let shape = raw(
        &api,
        Method::POST,
        "/broker/tenants",
        json_type,
        br#"{"id": 7}"#.to_vec(),
    )
    .await;
    assert_eq!(shape.problem(422), ["id"], "{}", shape.text);
    // Another media type, or none: 415.
    let form = raw(
        &api,
        Method::POST,
        "/broker/tenants",
        Some("application/x-www-form-urlencoded"),
        b"id=x".to_vec(),
    )
    .await;
    form.problem(415);
    assert_eq!(
        form.body["type"],
        "urn:tessera:problem:unsupported-media-type"
    );
    raw(
        &api,
        Method::POST,
        "/broker/tenants",
        None,
        br#"{"id":"x"}"#.to_vec(),
    )
    .await
    .problem(415);
    // Larger than the body limit (64 KiB): 413, before any handler.
    let mut big = br#"{"id":"x","display_name":""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 70 * 1024));
    big.extend(br#""}"#);
    let large = raw(&api, Method::POST, "/broker/tenants", json_type, big).await;
    large.problem(413);
    assert_eq!(large.body["type"], "urn:tessera:problem:payload-too-large");
    // A query parameter that does not parse: 400 naming it; one out of range: 422 naming it.
    let query = api.get("/broker/tenants?limit=many").await;
    assert_eq!(query.problem(400), ["limit"], "{}", query.text);
    assert_eq!(query.body["type"], "urn:tessera:problem:malformed-query");
    let force = api
        .call(
            Method::DELETE,
            "/tenants/acme?force=maybe",
            None,
            Some("\"x\""),
        )
        .await;
    assert_eq!(force.problem(400), ["force"], "{}", force.text);
    assert_eq!(
        api.get("/broker/tenants?limit=0").await.problem(422),
        ["limit"]
    );
    // A path parameter that is not UTF-8 once decoded: 400.
    let path = api.get("/tenants/%FF/clients").await;
    path.problem(400);
    assert_eq!(path.body["type"], "urn:tessera:problem:malformed-request");
    // A method the path does not answer: 405 with `Allow`.
    let method = api
        .call(Method::PUT, "/broker/tenants", Some(&json!({})), None)
        .await;
    method.problem(405);
    let allow = method
        .headers
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    // An unknown operation: 404.
    api.get("/broker/nothing-here").await.problem(404);
    // Nothing of the above made a tenant.
    let tenants = api.get("/broker/tenants").await;
    assert_eq!(tenants.body["items"], json!([]), "{}", tenants.text);
    // Beside the API, the framework's answers are left as they are (the portal's pages are not problem+json).
    let outside = app
        .http
        .put(format!("{}/admin/signin", app.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(
        outside
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
        "application/problem+json"
    );
    app.stop().await;
}

#[tokio::test]
async fn without_a_token_a_bad_body_is_a_401_problem() {
    let Some(app) = spawn_app(AppOptions::default()).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: None,
    };
    // The token is checked before the body is read: 401, as problem+json.
    raw(
        &api,
        Method::POST,
        "/broker/tenants",
        Some("text/plain"),
        b"x".to_vec(),
    )
    .await
    .problem(401);
    app.stop().await;
}
