//! Role-qualified tenant scopes of API tokens and invitations, over HTTP on SQLite and PostgreSQL:
//! `broker:acme` is only the broker's tenant `acme`, `authenticator:acme` only the authenticator service's, plain
//! `acme` both; the other role's tenant of the same id does not exist for the token (404, never 403), in every
//! resource and in the audit trail; a bad role prefix is a 422 naming the field; a token cannot widen its scope.

use reqwest::Method;
use serde_json::json;
use tessera_testkit::Backend;

use super::{Api, admin};

both_stores!(
    role_qualified_scopes_see_only_their_roles_tenant,
    scopes_are_checked_when_tokens_and_invitations_are_made,
);

/// Paths of the broker's tenant `acme` and of the authenticator service's tenant `acme`.
const BROKER_PATHS: [&str; 5] = [
    "/broker/tenants/acme",
    "/broker/tenants/acme/applications",
    "/broker/tenants/acme/identity-providers",
    "/broker/tenants/acme/user-flows",
    "/broker/tenants/acme/users",
];
const AUTHENTICATOR_PATHS: [&str; 5] = [
    "/tenants/acme",
    "/tenants/acme/clients",
    "/tenants/acme/users",
    "/tenants/acme/policy",
    "/tenants/acme/keys",
];

fn ids(page: &serde_json::Value) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn role_qualified_scopes_see_only_their_roles_tenant(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    // A broker tenant with the id of the authenticator tenant `acme`, and a change on each side.
    let created = api
        .post(
            "/broker/tenants",
            &json!({"id": "acme", "display_name": "Acme broker"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let client = api
        .post(
            "/tenants/acme/clients",
            &json!({"name": "app", "redirect_uris": ["https://app.example/cb"]}),
        )
        .await;
    assert_eq!(client.status, 201, "{}", client.text);
    let (broker_only, _) = api
        .token(json!({"name": "broker acme", "role": "tenant_admin", "tenants": ["broker:acme"]}))
        .await;
    let (authenticator_only, _) = api
        .token(json!({"name": "authenticator acme", "role": "tenant_admin",
                      "tenants": ["authenticator:acme"]}))
        .await;
    let (both, _) = api
        .token(json!({"name": "acme", "role": "read_only", "tenants": ["acme"]}))
        .await;
    for (secret, sees_broker, sees_authenticator) in [
        (&broker_only, true, false),
        (&authenticator_only, false, true),
        (&both, true, true),
    ] {
        let as_it = api.with(secret);
        for path in BROKER_PATHS {
            let answer = as_it.get(path).await;
            if sees_broker {
                assert_eq!(answer.status, 200, "{path}: {}", answer.text);
            } else {
                answer.problem(404);
            }
        }
        for path in AUTHENTICATOR_PATHS {
            let answer = as_it.get(path).await;
            if sees_authenticator {
                assert_eq!(answer.status, 200, "{path}: {}", answer.text);
            } else {
                answer.problem(404);
            }
        }
        // The lists show the tenant on its role's side only.
        let brokers = ids(&as_it.get("/broker/tenants").await.body);
        assert_eq!(
            brokers.contains(&"acme".to_owned()),
            sees_broker,
            "{brokers:?}"
        );
        let authenticators = ids(&as_it.get("/tenants").await.body);
        assert_eq!(
            authenticators.contains(&"acme".to_owned()),
            sees_authenticator,
            "{authenticators:?}"
        );
        // The audit trail: only the events of the sides it sees.
        let trail = as_it.get("/audit-events").await;
        assert_eq!(trail.status, 200, "{}", trail.text);
        let targets: Vec<String> = trail.body["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["target"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            targets.iter().any(|t| t.starts_with("broker/")),
            sees_broker,
            "{targets:?}"
        );
        assert_eq!(
            targets.iter().any(|t| t.starts_with("tenants/")),
            sees_authenticator,
            "{targets:?}"
        );
    }
    // A write on the other side is 404 too, and changes nothing.
    let renamed = api
        .with(&authenticator_only)
        .call(
            Method::PATCH,
            "/broker/tenants/acme",
            Some(&json!({"display_name": "taken over"})),
            Some(&created.etag()),
        )
        .await;
    renamed.problem(404);
    assert_eq!(
        api.get("/broker/tenants/acme").await.body["display_name"],
        "Acme broker"
    );
    let broker = api.with(&broker_only);
    let renamed = broker
        .call(
            Method::PATCH,
            "/broker/tenants/acme",
            Some(&json!({"display_name": "Acme"})),
            Some(&created.etag()),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    broker
        .post(
            "/tenants/acme/clients",
            &json!({"name": "x", "redirect_uris": ["https://x.example/cb"]}),
        )
        .await
        .problem(404);
    app.stop().await;
}

async fn scopes_are_checked_when_tokens_and_invitations_are_made(backend: Backend) {
    let Some((app, token)) = admin(backend).await else {
        return;
    };
    let api = Api {
        app: &app,
        token: Some(token),
    };
    for bad in [
        "brokr:acme",
        "Broker:acme",
        "broker:",
        "broker:Not A Tenant",
    ] {
        let made = api
            .post(
                "/api-tokens",
                &json!({"name": "x", "role": "tenant_admin", "tenants": ["acme", bad]}),
            )
            .await;
        assert_eq!(made.problem(422), ["tenants[1]"], "{bad}: {}", made.text);
        let invited = api
            .post(
                "/invitations",
                &json!({"role": "tenant_admin", "tenants": [bad]}),
            )
            .await;
        assert_eq!(
            invited.problem(422),
            ["tenants[0]"],
            "{bad}: {}",
            invited.text
        );
    }
    // Both qualified forms are accepted, and kept as written.
    let invited = api
        .post(
            "/invitations",
            &json!({"role": "tenant_admin", "tenants": ["broker:acme", "authenticator:acme"]}),
        )
        .await;
    assert_eq!(invited.status, 201, "{}", invited.text);
    let pending = api.get("/invitations").await;
    assert_eq!(
        pending.body["items"][0]["tenants"],
        json!(["broker:acme", "authenticator:acme"]),
        "{}",
        pending.text
    );
    // A token limited to the broker's acme cannot make one for both roles' acme, or the other role's.
    let (broker_only, _) = api
        .token(json!({"name": "broker acme", "role": "tenant_admin", "tenants": ["broker:acme"]}))
        .await;
    let broker = api.with(&broker_only);
    for wider in ["acme", "authenticator:acme"] {
        broker
            .post(
                "/api-tokens",
                &json!({"name": "wider", "role": "tenant_admin", "tenants": [wider]}),
            )
            .await
            .problem(422);
    }
    let same = broker
        .post(
            "/api-tokens",
            &json!({"name": "same", "role": "read_only", "tenants": ["broker:acme"]}),
        )
        .await;
    assert_eq!(same.status, 201, "{}", same.text);
    // A plain-scoped token may hand out either role's part of it.
    let (plain, _) = api
        .token(json!({"name": "acme", "role": "tenant_admin", "tenants": ["acme"]}))
        .await;
    let narrower = api
        .with(&plain)
        .post(
            "/api-tokens",
            &json!({"name": "narrower", "role": "tenant_admin", "tenants": ["broker:acme"]}),
        )
        .await;
    assert_eq!(narrower.status, 201, "{}", narrower.text);
    app.stop().await;
}
