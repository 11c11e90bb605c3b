//! The portal's user forms carry the version their page showed: disable, enable and delete of an authenticator
//! user, revoke of a passkey, and disable, enable and delete of a directory user. When the object was changed
//! through the API after the page was opened, the form's action is refused with 409 "Changed since you opened this
//! page" and nothing is done; a form without a version is refused the same way. On SQLite and PostgreSQL.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::Method;
use serde_json::{Value, json};
use tessera_core::{Clock, TenantId, UserId};
use tessera_service::admin::api_tokens;
use tessera_testkit::{Backend, TestApp};

use super::users_pages::{user_with_passkeys, version_for};
use super::{app, form_of, get, portal_session, post};

both_stores!(
    stale_user_and_passkey_forms_are_refused_after_an_api_change,
    stale_directory_user_forms_are_refused_after_an_api_change,
);

/// The admin API of `app` with a global-admin token.
struct Api<'a> {
    app: &'a TestApp,
    token: String,
}

impl<'a> Api<'a> {
    async fn new(app: &'a TestApp) -> Api<'a> {
        let issued = api_tokens::issue(
            &app.state.admin_store,
            &api_tokens::Principal {
                token_id: "test".into(),
                role: api_tokens::Role::GlobalAdmin,
                tenants: Vec::new(),
            },
            &api_tokens::NewToken {
                name: "stale forms".into(),
                role: api_tokens::Role::GlobalAdmin,
                tenants: Vec::new(),
                lifetime: time::Duration::hours(1),
            },
            &api_tokens::RequestContext::default(),
            app.clock.now(),
        )
        .await
        .expect("token");
        Api {
            app,
            token: issued.secret,
        }
    }

    /// `method path` with `body`, `If-Match` the `ETag` a `GET` of `read` gives; the status.
    async fn change(&self, method: Method, path: &str, body: Option<Value>, read: &str) -> u16 {
        let url = |p: &str| format!("{}/admin/api/v1{p}", self.app.base);
        let got = self
            .app
            .http
            .get(url(read))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("read");
        assert_eq!(got.status(), 200, "{read}");
        let tag = got
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .expect("an ETag")
            .to_owned();
        let mut request = self
            .app
            .http
            .request(method, url(path))
            .bearer_auth(&self.token)
            .header("if-match", tag);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("change").status().as_u16()
    }
}

async fn page(app: &TestApp, path: &str, cookie: &str) -> String {
    let response = get(app, path, cookie).await;
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.expect("body")
}

/// Posts the form at `action` with the version `version`; asserts the 409 page and returns its text.
async fn refused(app: &TestApp, action: &str, cookies: &str, token: &str, version: &str) -> String {
    let answer = post(
        app,
        action,
        cookies,
        format!("csrf_token={token}&version={version}"),
    )
    .await;
    assert_eq!(answer.status(), 409, "{action}");
    let body = answer.text().await.expect("body");
    assert!(
        body.contains("Changed since you opened this page"),
        "{body}"
    );
    assert!(body.contains("nothing was done"), "{body}");
    body
}

async fn stale_user_and_passkey_forms_are_refused_after_an_api_change(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let api = Api::new(&app).await;
    let store = app.state.provider.store.clone();
    let ann = user_with_passkeys(&app, &app.tenant, "ann", "Ann Example", 2).await;
    let path = format!("/admin/authenticator/acme/users/{ann}");
    let api_path = format!("/tenants/acme/users/{ann}");
    let cookie = portal_session(&app, "root", "global_admin", &[]).await;
    let (cookies, token) = form_of(&app, &path, &cookie).await;

    // Disable, from a page opened before the API disabled the user: refused, and the API's change stands.
    let opened = page(&app, &path, &cookie).await;
    let disable = format!("{path}/disable");
    let stale = version_for(&opened, &disable);
    assert_eq!(
        api.change(
            Method::POST,
            &format!("{api_path}/disable"),
            None,
            &api_path
        )
        .await,
        200
    );
    refused(&app, &disable, &cookies, &token, &stale).await;
    // Enable, from the page of the disabled user opened before the API enabled it: refused as well.
    let reopened = page(&app, &path, &cookie).await;
    let enable = format!("{path}/enable");
    let shown = version_for(&reopened, &enable);
    assert_eq!(
        api.change(Method::POST, &format!("{api_path}/enable"), None, &api_path)
            .await,
        200
    );
    refused(&app, &enable, &cookies, &token, &shown).await;
    assert!(
        store
            .get_user(&app.tenant, &ann)
            .await
            .expect("store")
            .expect("ann")
            .disabled_at
            .is_none(),
        "the API's enable stands"
    );
    // A form without a version acts on nothing either.
    refused(&app, &disable, &cookies, &token, "").await;

    // Delete, confirmed on a page opened before the API disabled the user: refused, the user stays.
    let confirm = format!("{path}/delete");
    let confirmation = page(&app, &confirm, &cookie).await;
    let stale = version_for(&confirmation, &confirm);
    assert_eq!(
        api.change(
            Method::POST,
            &format!("{api_path}/disable"),
            None,
            &api_path
        )
        .await,
        200
    );
    refused(&app, &confirm, &cookies, &token, &stale).await;
    assert!(
        store
            .get_user(&app.tenant, &ann)
            .await
            .expect("store")
            .is_some(),
        "not deleted"
    );

    // Revoke a passkey from a page opened before the API renamed it: refused, the passkey stays.
    let opened = page(&app, &path, &cookie).await;
    let passkeys = store
        .list_credentials(&app.tenant, &ann)
        .await
        .expect("store");
    let passkey = B64.encode(&passkeys[0].credential_id);
    let revoke = format!("{path}/passkeys/{passkey}/revoke");
    let stale = version_for(&opened, &revoke);
    let api_passkey = format!("{api_path}/passkeys/{passkey}");
    assert_eq!(
        api.change(
            Method::PATCH,
            &api_passkey,
            Some(json!({"nickname": "renamed elsewhere"})),
            &api_passkey
        )
        .await,
        200
    );
    refused(&app, &revoke, &cookies, &token, &stale).await;
    assert_eq!(
        store
            .list_credentials(&app.tenant, &ann)
            .await
            .expect("store")
            .len(),
        2,
        "not revoked"
    );
    // From the current page, each goes through.
    let current = page(&app, &path, &cookie).await;
    let fresh = version_for(&current, &revoke);
    let revoked = post(
        &app,
        &revoke,
        &cookies,
        format!("csrf_token={token}&version={fresh}"),
    )
    .await;
    assert_eq!(revoked.status(), 303);
    let current = page(&app, &path, &cookie).await;
    let fresh = version_for(&current, &enable);
    let enabled = post(
        &app,
        &enable,
        &cookies,
        format!("csrf_token={token}&version={fresh}"),
    )
    .await;
    assert_eq!(enabled.status(), 303);
    app.stop().await;
}

async fn stale_directory_user_forms_are_refused_after_an_api_change(backend: Backend) {
    let Some((app, _)) = app(backend).await else {
        return;
    };
    let api = Api::new(&app).await;
    let contoso = TenantId::parse("contoso").expect("id");
    tessera_service::broker::tenants::create_broker_tenant(
        app.state.broker.store.as_ref(),
        &app.state.broker.master_key,
        tessera_service::broker::tenants::NewBrokerTenant {
            id: contoso.clone(),
            display_name: None,
        },
        app.clock.now(),
    )
    .await
    .expect("broker tenant");
    let object_id = UserId::parse("dana").expect("id");
    app.state
        .broker
        .store
        .create_user_with_identity(
            &tessera_store::DirectoryUserRecord {
                tenant: contoso.clone(),
                object_id: object_id.clone(),
                display_name: Some("Dana".into()),
                given_name: None,
                surname: None,
                email: Some("dana@example.com".into()),
                custom: json!({}),
                identities: Vec::new(),
                created_at: app.clock.now(),
                last_sign_in_at: None,
                disabled_at: None,
            },
            &tessera_store::DirectoryIdentity {
                issuer: "https://idp.example".into(),
                subject: "dana".into(),
            },
        )
        .await
        .expect("directory user");
    let path = "/admin/broker/contoso/users/dana";
    let api_path = "/broker/tenants/contoso/users/dana";
    let cookie = portal_session(&app, "root", "global_admin", &[]).await;
    let (cookies, token) = form_of(&app, path, &cookie).await;
    let disabled = || async {
        app.state
            .broker
            .store
            .get_directory_user(&contoso, &object_id)
            .await
            .expect("store")
            .map(|u| u.disabled_at.is_some())
    };

    // Disable and delete from a page opened before the API disabled the user.
    let opened = page(&app, path, &cookie).await;
    let disable = format!("{path}/disable");
    let delete = format!("{path}/delete");
    let stale_disable = version_for(&opened, &disable);
    let stale_delete = version_for(&opened, &delete);
    assert_eq!(
        api.change(Method::POST, &format!("{api_path}/disable"), None, api_path)
            .await,
        200
    );
    refused(&app, &disable, &cookies, &token, &stale_disable).await;
    refused(&app, &delete, &cookies, &token, &stale_delete).await;
    assert_eq!(disabled().await, Some(true), "the API's change stands");
    // Enable from a page opened before the API enabled the user.
    let opened = page(&app, path, &cookie).await;
    let enable = format!("{path}/enable");
    let stale = version_for(&opened, &enable);
    assert_eq!(
        api.change(Method::POST, &format!("{api_path}/enable"), None, api_path)
            .await,
        200
    );
    refused(&app, &enable, &cookies, &token, &stale).await;
    refused(&app, &delete, &cookies, &token, "").await;
    // From the current page, the deletion goes through.
    let current = page(&app, path, &cookie).await;
    let fresh = version_for(&current, &delete);
    let deleted = post(
        &app,
        &delete,
        &cookies,
        format!("csrf_token={token}&version={fresh}"),
    )
    .await;
    assert_eq!(deleted.status(), 303);
    assert_eq!(disabled().await, None, "deleted");
    app.stop().await;
}
