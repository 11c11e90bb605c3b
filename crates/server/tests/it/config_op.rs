//! The "Config OP" plan (`oidcc-config-certification-test-plan`): `oidcc-discovery-endpoint-verification`.

use serde_json::Value;

use crate::helpers::TestApp;

/// Metadata names OIDC Discovery §3, RFC 8414 §2 and RP-Initiated Logout define; nothing else may appear.
const KNOWN_METADATA: &[&str] = &[
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "registration_endpoint",
    "revocation_endpoint_auth_methods_supported",
    "scopes_supported",
    "response_types_supported",
    "response_modes_supported",
    "grant_types_supported",
    "acr_values_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
    "id_token_encryption_alg_values_supported",
    "id_token_encryption_enc_values_supported",
    "userinfo_signing_alg_values_supported",
    "userinfo_encryption_alg_values_supported",
    "userinfo_encryption_enc_values_supported",
    "request_object_signing_alg_values_supported",
    "request_object_encryption_alg_values_supported",
    "request_object_encryption_enc_values_supported",
    "token_endpoint_auth_methods_supported",
    "token_endpoint_auth_signing_alg_values_supported",
    "display_values_supported",
    "claim_types_supported",
    "claims_supported",
    "service_documentation",
    "claims_locales_supported",
    "ui_locales_supported",
    "claims_parameter_supported",
    "request_parameter_supported",
    "request_uri_parameter_supported",
    "require_request_uri_registration",
    "op_policy_uri",
    "op_tos_uri",
    "code_challenge_methods_supported",
    "end_session_endpoint",
    "authorization_response_iss_parameter_supported",
    "revocation_endpoint",
    "introspection_endpoint",
    "prompt_values_supported",
    "frontchannel_logout_supported",
    "backchannel_logout_supported",
];

#[tokio::test]
async fn oidcc_discovery_endpoint_verification() {
    let app = TestApp::spawn().await;
    let url = format!("{}/.well-known/openid-configuration", app.issuer);
    let response = app.http.get(&url).send().await.expect("discovery");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .is_ok_and(|v| v.starts_with("application/json"))
    );
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .is_ok_and(|v| v.contains("max-age"))
    );
    let doc: Value = response.json().await.expect("json");
    // The issuer equals the discovery URL prefix, exactly.
    assert_eq!(doc["issuer"], app.issuer.as_str());
    assert!(url.starts_with(doc["issuer"].as_str().expect("issuer")));
    for endpoint in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
    ] {
        let value = doc[endpoint]
            .as_str()
            .unwrap_or_else(|| panic!("{endpoint} present"));
        assert!(
            value.starts_with(&app.issuer),
            "{endpoint} under the issuer"
        );
    }
    let array_has = |name: &str, value: &str| {
        doc[name]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == value))
    };
    assert!(array_has("scopes_supported", "openid"));
    assert!(array_has("response_types_supported", "code"));
    assert!(
        !array_has("response_types_supported", "token"),
        "no implicit flow"
    );
    assert!(array_has("response_modes_supported", "form_post"));
    assert!(array_has("subject_types_supported", "public"));
    assert!(array_has("id_token_signing_alg_values_supported", "RS256"));
    assert!(array_has("id_token_signing_alg_values_supported", "ES256"));
    assert!(!array_has("id_token_signing_alg_values_supported", "none"));
    assert!(array_has("grant_types_supported", "authorization_code"));
    assert!(array_has("grant_types_supported", "refresh_token"));
    assert!(array_has("code_challenge_methods_supported", "S256"));
    assert!(!array_has("code_challenge_methods_supported", "plain"));
    assert!(array_has(
        "token_endpoint_auth_methods_supported",
        "client_secret_basic"
    ));
    assert!(
        doc["claims_supported"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "sub"))
    );
    assert_eq!(doc["request_parameter_supported"], false);
    assert_eq!(doc["request_uri_parameter_supported"], false);
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    for (name, _) in doc.as_object().expect("object") {
        assert!(
            KNOWN_METADATA.contains(&name.as_str()),
            "unexpected metadata {name}"
        );
    }
    // jwks_uri is fetchable with usable, distinctly identified keys.
    let jwks = app.jwks().await;
    assert!(jwks.keys.len() >= 2, "RS256 and ES256 keys");
    assert_eq!(
        jwks.verifying_keys().len(),
        jwks.keys.len(),
        "every key is usable"
    );
    app.stop().await;
}

#[tokio::test]
async fn discovery_and_jwks_allow_cors_but_authorize_does_not() {
    let app = TestApp::spawn().await;
    let with_origin = |path: String| app.http.get(path).header("origin", "https://spa.example");
    let discovery = with_origin(format!("{}/.well-known/openid-configuration", app.issuer))
        .send()
        .await
        .expect("d");
    assert_eq!(discovery.headers()["access-control-allow-origin"], "*");
    let jwks = with_origin(format!("{}/jwks", app.issuer))
        .send()
        .await
        .expect("jwks");
    assert_eq!(jwks.headers()["access-control-allow-origin"], "*");
    let authorize = with_origin(format!("{}/authorize", app.issuer))
        .send()
        .await
        .expect("authorize");
    assert!(
        authorize
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "RFC 9700 §2.6: no CORS on authorize"
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_tenant_is_not_found() {
    let app = TestApp::spawn().await;
    let response = app
        .get("/nobody/oidc/.well-known/openid-configuration", None)
        .await;
    assert_eq!(response.status(), 404);
    let response = app.get("/Bad%20Tenant/oidc/jwks", None).await;
    assert_eq!(response.status(), 404);
    app.stop().await;
}
