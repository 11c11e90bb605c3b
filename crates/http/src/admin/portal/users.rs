//! An authenticator tenant's users (`/admin/authenticator/{tenant}/users`): the list (found by the start of the
//! username or display name, paged by a cursor), a user's page with their passkeys, "Disable" / "Enable", "Delete"
//! behind a confirmation page, and a passkey's "Rename" and "Revoke" (never the user's last one); and the loaded
//! FIDO metadata (`/admin/authenticator/{tenant}/fido-metadata`). The same `tessera_service::users` and
//! `tessera_service::metadata` calls as the API's.

use std::collections::HashMap;
use tessera_service::admin::audit::actions;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use tessera_core::TenantId;
use tessera_core::UserId;
use tessera_service::ServiceError;
use tessera_service::admin::{list_filters, members};
use tessera_service::{metadata, users};
use tessera_store::{Credential, User};

use super::authenticator::{audit_change, home_crumb, page_error};
use super::broker::{PAGE_SIZE, Submitted, page_number};
use super::views::{Button, Cell, Field, FormPage, Frame, Link, ListPage, Search, filter_query};
use super::{Ctx, ROOT, not_found, see_other};
use crate::admin::api::extract::etag_of;
use crate::admin::api::tenants::{passkey_view, user_view};
use crate::admin::api::views::rfc3339;
use crate::common::reply::PageError;
use crate::common::state::AppState;
use crate::common::views::render;

fn base(tenant: &TenantId) -> String {
    format!("{ROOT}/authenticator/{tenant}/users")
}

fn encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn user_base(tenant: &TenantId, user: &UserId) -> String {
    format!("{}/{}", base(tenant), encoded(user.as_str()))
}

fn crumbs(tenant: &TenantId, with_list: bool) -> Vec<Link> {
    let mut crumbs = home_crumb();
    crumbs.push(Link::new(
        format!("{ROOT}/authenticator/{tenant}/"),
        tenant.to_string(),
        "crumb-tenant",
    ));
    if with_list {
        crumbs.push(Link::new(base(tenant), "Users", "crumb-users"));
    }
    crumbs
}

/// A service error as a page: an unknown tenant, user or passkey is the portal's 404.
fn fail(error: ServiceError) -> Response {
    match error {
        ServiceError::UserNotFound | ServiceError::PasskeyNotFound => not_found(),
        other => page_error(other),
    }
}

fn user_json(user: &User) -> serde_json::Value {
    serde_json::to_value(user_view(user)).unwrap_or_default()
}

fn passkey_json(credential: &Credential) -> serde_json::Value {
    serde_json::to_value(passkey_view(credential)).unwrap_or_default()
}

/// The version of a user a page shows: the API's `ETag` of it (without its quotes). Forms carry it, and act only on
/// that version.
fn user_version(user: &User) -> String {
    etag_of(&user_view(user)).trim_matches('"').to_owned()
}

/// The version of a passkey a page shows (the API's `ETag`; a sign-in with it is a change too, as the store's
/// conditional write counts it).
fn passkey_version(credential: &Credential) -> String {
    etag_of(&passkey_view(credential))
        .trim_matches('"')
        .to_owned()
}

/// 409: the form was based on an older version of the user or passkey than the stored one; nothing was done.
fn changed_since_opened(what: &str, back: String) -> Response {
    PageError::new(
        StatusCode::CONFLICT,
        "Changed since you opened this page",
        &format!(
            "Someone else changed this {what} since you opened this page, so nothing was done. Look at it again \
             as it is now, and repeat the action if you still want it."
        ),
    )
    .with_link(back, "Back to the user as it is now")
    .into_response()
}

/// Whether the submitted form was based on the version `current` (a form without one is not).
fn form_is_current(form: &Submitted, current: &str) -> bool {
    !form.get("version").is_empty() && form.get("version") == current
}

fn status_text(user: &User) -> String {
    match user.disabled_at {
        Some(at) => format!("Disabled since {}", rfc3339(at)),
        None => "Enabled".into(),
    }
}

async fn load_user(app: &AppState, tenant: &TenantId, user: &str) -> Result<User, Response> {
    let store = app.provider.store.as_ref();
    members::authenticator_tenant(store, tenant)
        .await
        .map_err(page_error)?;
    let user = UserId::parse(user).map_err(|_| not_found())?;
    users::get_user(store, tenant, &user).await.map_err(fail)
}

async fn load_passkey(
    app: &AppState,
    tenant: &TenantId,
    user: &User,
    passkey: &str,
) -> Result<Credential, Response> {
    let raw = B64.decode(passkey).map_err(|_| not_found())?;
    users::get_passkey(app.provider.store.as_ref(), tenant, &user.id, &raw)
        .await
        .map_err(fail)
}

/// `GET /admin/authenticator/{tenant}/users[?q=][&after=]`.
pub async fn list(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let id = match ctx.see(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let store = app.provider.store.as_ref();
    if let Err(e) = members::authenticator_tenant(store, &id).await {
        return page_error(e);
    }
    let query = params.get("q").cloned().unwrap_or_default();
    let wanted = list_filters::account_status(params.get("status").map(String::as_str));
    let status_error = wanted.as_ref().err().map(|e| e.detail.clone());
    let wanted = wanted.unwrap_or_default();
    let after = params.get("after").and_then(|a| UserId::parse(a).ok());
    let page =
        match users::search_users(store, &id, &query, wanted, after.as_ref(), PAGE_SIZE as u32)
            .await
        {
            Ok(p) => p,
            Err(e) => return fail(e),
        };
    let list = format!("{}?{}", base(&id), filter_query(&params, &["q", "status"]));
    let rows = page
        .users
        .iter()
        .map(|u| {
            vec![
                Cell::link(u.username.clone(), user_base(&id, &u.id)),
                Cell::text(u.display_name.clone()),
                Cell::text(rfc3339(u.created_at)),
                Cell::text(if u.disabled_at.is_some() {
                    "Disabled"
                } else {
                    "Enabled"
                }),
            ]
        })
        .collect();
    let notice = params.get("done").map(|_| {
        "The user is deleted: their passkeys are removed, their sessions and tokens have ended."
            .to_owned()
    });
    render(
        &ListPage {
            frame: Frame::new(&ctx, "Users", crumbs(&id, false)).with_notice(notice),
            heading: format!("Users of {id}"),
            list_id: "users".into(),
            intro: vec![
                "The people who signed up at this tenant with a passkey, ordered by their id."
                    .into(),
            ],
            actions: Vec::new(),
            filters: vec![
                Search::text("q", "Username or display name (starts with)", query.clone()),
                Search::choice(
                    "status",
                    "Status",
                    params.get("status").cloned().unwrap_or_default(),
                    "Any",
                    &[("enabled", "Enabled"), ("disabled", "Disabled")],
                )
                .refused(status_error.clone()),
            ],
            columns: vec![
                "Username".into(),
                "Display name".into(),
                "Created".into(),
                "Status".into(),
            ],
            rows,
            empty: if query.trim().is_empty() && wanted.is_none() {
                "No user yet.".into()
            } else {
                "No user matches.".into()
            },
            next: page
                .next
                .map(|n| format!("{list}&after={}", encoded(n.as_str()))),
            first: after.map(|_| list.clone()),
        },
        if status_error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        ctx.set_csrf.clone(),
    )
}

/// One passkey of the user page's table.
pub struct PasskeyRow {
    /// Its name.
    pub name: String,
    /// When it was registered.
    pub created: String,
    /// When it last signed in.
    pub last_used: String,
    /// Its signature counter as last seen.
    pub sign_count: String,
    /// The authenticator model the loaded FIDO metadata names for its AAGUID.
    pub model: String,
    /// Its AAGUID.
    pub aaguid: String,
    /// Its rename page (and, with `/revoke`, where its revocation posts).
    pub href: String,
    /// The version the page shows, which its revoke form carries.
    pub version: String,
}

/// A user of the authenticator service: profile, state buttons and passkeys.
#[derive(Template)]
#[template(path = "portal/user.html")]
pub struct UserDetailPage {
    /// The frame.
    pub frame: Frame,
    /// The heading.
    pub heading: String,
    /// Label and value pairs of the profile.
    pub facts: Vec<(String, String)>,
    /// "Disable" or "Enable".
    pub buttons: Vec<Button>,
    /// The way to the delete confirmation.
    pub delete: Option<Link>,
    /// The passkeys of this page (50 a page), oldest first.
    pub passkeys: Vec<PasskeyRow>,
    /// The passkeys' filter form (name, algorithm, model).
    pub filters: Vec<Search>,
    /// What an empty list of passkeys says.
    pub empty: String,
    /// The next page of passkeys.
    pub next: Option<String>,
    /// The first page of passkeys, when not on it.
    pub first: Option<String>,
    /// Whether the administrator may change the user (rename, revoke).
    pub can_write: bool,
    /// Whether the user has only one passkey (which cannot be revoked).
    pub only_one: bool,
}

fn notice(params: &HashMap<String, String>) -> Option<String> {
    params.get("done").map(|done| {
        match done.as_str() {
            "disabled" => "Disabled: the user cannot sign in, and their sessions and tokens have ended.",
            "enabled" => "Enabled: the user signs in with their passkeys again.",
            "renamed" => "The passkey is renamed.",
            "revoked" => {
                "The passkey is revoked: the sessions signed in with it and the tokens bound to it have ended."
            }
            _ => "Done.",
        }
        .to_owned()
    })
}

/// `GET /admin/authenticator/{tenant}/users/{user}`.
pub async fn page(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, user)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let id = match ctx.see(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let user = match load_user(&app, &id, &user).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let credentials = match users::list_passkeys(app.provider.store.as_ref(), &id, &user.id).await {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let here = user_base(&id, &user.id);
    let attestation = app.provider.attestation.current();
    let blob = attestation.metadata.as_deref();
    let total = credentials.len();
    // The passkeys' filter (name, algorithm, model), applied to all of them before the page is cut.
    let get = |name: &str| params.get(name).map(String::as_str);
    let alg = list_filters::cose_alg(get("alg"));
    let model = list_filters::aaguid(get("aaguid"));
    let alg_error = alg.as_ref().err().map(|e| e.detail.clone());
    let model_error = model.as_ref().err().map(|e| e.detail.clone());
    let filter = list_filters::PasskeyFilter {
        q: list_filters::query(get("q")),
        alg: alg.unwrap_or_default(),
        aaguid: model.unwrap_or_default(),
    };
    let credentials: Vec<Credential> = credentials
        .into_iter()
        .filter(|c| filter.matches(c))
        .collect();
    let kept = filter_query(&params, &["q", "alg", "aaguid"]);
    let listed = if kept.is_empty() {
        here.clone()
    } else {
        format!("{here}?{kept}")
    };
    let (credentials, next, first) =
        super::broker::paged(credentials, page_number(&params), &listed);
    let value = |name: &str| params.get(name).cloned().unwrap_or_default();
    let filters = vec![
        Search::text("q", "Passkey name (starts with)", value("q")),
        Search::choice(
            "alg",
            "Algorithm",
            value("alg"),
            "Any",
            &[("-7", "ES256"), ("-8", "EdDSA"), ("-257", "RS256")],
        )
        .refused(alg_error.clone()),
        Search::text("aaguid", "Model (AAGUID)", value("aaguid")).refused(model_error.clone()),
    ];
    let status = if alg_error.is_some() || model_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let empty = if filter == list_filters::PasskeyFilter::default() {
        "No passkey."
    } else {
        "No passkey matches."
    }
    .to_owned();
    let passkeys = credentials
        .iter()
        .map(|c| PasskeyRow {
            name: c.nickname.clone(),
            created: rfc3339(c.created_at),
            last_used: c.last_used_at.map_or_else(|| "Never".into(), rfc3339),
            sign_count: c.sign_count.to_string(),
            model: metadata::model_name(blob, &c.aaguid).unwrap_or_else(|| {
                if c.aaguid == [0; 16] {
                    "Not told (zero AAGUID)".into()
                } else {
                    "Not in the loaded FIDO metadata".into()
                }
            }),
            aaguid: metadata::aaguid_text(&c.aaguid),
            href: format!("{here}/passkeys/{}", B64.encode(&c.credential_id)),
            version: passkey_version(c),
        })
        .collect::<Vec<_>>();
    let can_write = ctx.admin.can_write();
    let mut buttons = Vec::new();
    let mut delete = None;
    if can_write {
        // The version shown: a click based on it does nothing if the user changed meanwhile.
        let version = vec![("version".to_owned(), user_version(&user))];
        buttons.push(if user.disabled_at.is_some() {
            Button {
                action: format!("{here}/enable"),
                label: "Enable".into(),
                id: "enable-user".into(),
                hidden: version,
                danger: false,
            }
        } else {
            Button {
                action: format!("{here}/disable"),
                label: "Disable".into(),
                id: "disable-user".into(),
                hidden: version,
                danger: false,
            }
        });
        delete = Some(Link::new(
            format!("{here}/delete"),
            "Delete…",
            "delete-user",
        ));
    }
    let facts = vec![
        ("Username".into(), user.username.clone()),
        ("Display name".into(), user.display_name.clone()),
        ("Email".into(), user.email.clone().unwrap_or_default()),
        ("User id".into(), user.id.to_string()),
        ("Created".into(), rfc3339(user.created_at)),
        ("Status".into(), status_text(&user)),
    ];
    render(
        &UserDetailPage {
            frame: Frame::new(&ctx, &user.username, crumbs(&id, true)).with_notice(notice(&params)),
            heading: format!("{} ({})", user.username, user.display_name),
            facts,
            buttons,
            delete,
            only_one: total == 1,
            passkeys,
            filters,
            empty,
            next,
            first,
            can_write,
        },
        status,
        ctx.set_csrf.clone(),
    )
}

async fn set_state(
    app: AppState,
    ctx: Ctx,
    tenant: String,
    user: String,
    body: Bytes,
    disabled: bool,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    let id = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let before = match load_user(&app, &id, &user).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let here = user_base(&id, &before.id);
    if !form_is_current(&form, &user_version(&before)) {
        return changed_since_opened("user", here);
    }
    let stored = match users::set_disabled(
        app.provider.store.as_ref(),
        &id,
        &before.id,
        disabled,
        app.provider.clock.now(),
        Some(&before),
    )
    .await
    {
        Ok(u) => u,
        Err(ServiceError::Changed { .. }) => return changed_since_opened("user", here),
        Err(e) => return fail(e),
    };
    let (action, done) = if disabled {
        (actions::USER_DISABLE, "disabled")
    } else {
        (actions::USER_ENABLE, "enabled")
    };
    if let Err(r) = audit_change(
        &app,
        &ctx,
        action,
        format!("tenants/{id}/users/{}", stored.id),
        &id,
        (Some(user_json(&before)), Some(user_json(&stored))),
    )
    .await
    {
        return r;
    }
    see_other(&format!("{}?done={done}", user_base(&id, &stored.id)))
}

/// `POST /admin/authenticator/{tenant}/users/{user}/disable`: they cannot sign in; their sessions and tokens end.
pub async fn disable(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, user)): Path<(String, String)>,
    RawForm(body): RawForm,
) -> Response {
    set_state(app, ctx, tenant, user, body, true).await
}

/// `POST /admin/authenticator/{tenant}/users/{user}/enable`.
pub async fn enable(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, user)): Path<(String, String)>,
    RawForm(body): RawForm,
) -> Response {
    set_state(app, ctx, tenant, user, body, false).await
}

/// `GET /admin/authenticator/{tenant}/users/{user}/delete`: the confirmation.
pub async fn confirm_delete(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, user)): Path<(String, String)>,
) -> Response {
    let id = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let user = match load_user(&app, &id, &user).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let here = user_base(&id, &user.id);
    let mut crumbs = crumbs(&id, true);
    crumbs.push(Link::new(here.clone(), user.username.clone(), "crumb-user"));
    FormPage {
        frame: Frame::new(&ctx, "Delete user", crumbs),
        heading: format!("Delete the user {}?", user.username),
        intro: vec![
            "Their passkeys are removed, their sessions end and their access and refresh tokens stop working at once. This cannot be undone; signing up again with the same username makes a new user."
                .into(),
        ],
        form_id: "delete-user-form".into(),
        action: format!("{here}/delete"),
        fields: vec![Field::text("version", "", &user_version(&user), "").kind("hidden")],
        form_error: None,
        submit: "Yes, delete the user".into(),
        submit_id: "delete-confirm".into(),
        cancel: Some(here),
    }
    .respond(ctx.set_csrf.clone())
}

/// `POST /admin/authenticator/{tenant}/users/{user}/delete`.
pub async fn delete(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, user)): Path<(String, String)>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    let id = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let before = match load_user(&app, &id, &user).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let here = user_base(&id, &before.id);
    if !form_is_current(&form, &user_version(&before)) {
        return changed_since_opened("user", here);
    }
    match users::delete_user(
        app.provider.store.as_ref(),
        &id,
        &before.id,
        app.provider.clock.now(),
        Some(&before),
    )
    .await
    {
        Ok(()) => {}
        Err(ServiceError::Changed { .. }) => return changed_since_opened("user", here),
        Err(e) => return fail(e),
    }
    if let Err(r) = audit_change(
        &app,
        &ctx,
        actions::USER_DELETE,
        format!("tenants/{id}/users/{}", before.id),
        &id,
        (Some(user_json(&before)), None),
    )
    .await
    {
        return r;
    }
    see_other(&format!("{}?done=deleted", base(&id)))
}

fn rename_page(
    ctx: &Ctx,
    tenant: &TenantId,
    user: &User,
    credential: &Credential,
    field: Field,
    form_error: Option<String>,
) -> Response {
    let here = user_base(tenant, &user.id);
    let mut crumbs = crumbs(tenant, true);
    crumbs.push(Link::new(here.clone(), user.username.clone(), "crumb-user"));
    FormPage {
        frame: Frame::new(ctx, "Rename passkey", crumbs),
        heading: format!(
            "Rename the passkey “{}” of {}",
            credential.nickname, user.username
        ),
        intro: Vec::new(),
        form_id: "rename-passkey-form".into(),
        action: format!("{here}/passkeys/{}", B64.encode(&credential.credential_id)),
        // The name the form was opened with: a save from a name someone else changed meanwhile is refused.
        fields: vec![
            field,
            Field::text("version", "", &credential.nickname, "").kind("hidden"),
        ],
        form_error,
        submit: "Rename".into(),
        submit_id: "rename-passkey".into(),
        cancel: Some(here),
    }
    .respond(ctx.set_csrf.clone())
}

fn name_field(value: &str) -> Field {
    Field::text(
        "nickname",
        "Name",
        value,
        &format!(
            "1 to {} characters; the user sees it on their account page.",
            users::MAX_PASSKEY_NAME
        ),
    )
    .required()
}

/// `GET /admin/authenticator/{tenant}/users/{user}/passkeys/{passkey}`: the rename form.
pub async fn rename_form(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, user, passkey)): Path<(String, String, String)>,
) -> Response {
    let id = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let user = match load_user(&app, &id, &user).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let credential = match load_passkey(&app, &id, &user, &passkey).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    rename_page(
        &ctx,
        &id,
        &user,
        &credential,
        name_field(&credential.nickname),
        None,
    )
}

/// Shown next to a passkey's rename form saved from a name someone else changed meanwhile.
const PASSKEY_CHANGED: &str = "Someone else changed this passkey since you opened this page, so nothing was saved. \
     The form now shows its current name: reload it, check it and save again if you still want the change.";

/// `POST /admin/authenticator/{tenant}/users/{user}/passkeys/{passkey}`: renames it.
pub async fn rename(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, user, passkey)): Path<(String, String, String)>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    let id = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let user = match load_user(&app, &id, &user).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let before = match load_passkey(&app, &id, &user, &passkey).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let typed = form.get("nickname");
    if form.get("version") != before.nickname {
        let field = name_field(&before.nickname);
        return rename_page(
            &ctx,
            &id,
            &user,
            &before,
            field,
            Some(PASSKEY_CHANGED.into()),
        );
    }
    let renamed = match users::rename_passkey(
        app.provider.store.as_ref(),
        &id,
        &user.id,
        &before.credential_id,
        &typed,
        Some(&before),
    )
    .await
    {
        Ok(c) => c,
        Err(ServiceError::InvalidInput(message)) => {
            let mut field = name_field(&typed);
            field.error = Some(message);
            return rename_page(&ctx, &id, &user, &before, field, None);
        }
        Err(ServiceError::Changed { .. }) => {
            // Changed between this check and the write (a sign-in with it counts too): show it as it is now.
            let current = match load_passkey(&app, &id, &user, &passkey).await {
                Ok(c) => c,
                Err(r) => return r,
            };
            let field = name_field(&current.nickname);
            return rename_page(
                &ctx,
                &id,
                &user,
                &current,
                field,
                Some(PASSKEY_CHANGED.into()),
            );
        }
        Err(e) => return fail(e),
    };
    if let Err(r) = audit_change(
        &app,
        &ctx,
        actions::USER_PASSKEY_RENAME,
        format!("tenants/{id}/users/{}/passkeys/{passkey}", user.id),
        &id,
        (Some(passkey_json(&before)), Some(passkey_json(&renamed))),
    )
    .await
    {
        return r;
    }
    see_other(&format!("{}?done=renamed", user_base(&id, &user.id)))
}

/// `POST /admin/authenticator/{tenant}/users/{user}/passkeys/{passkey}/revoke`: never the user's last passkey.
pub async fn revoke(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, user, passkey)): Path<(String, String, String)>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    let id = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let user = match load_user(&app, &id, &user).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let before = match load_passkey(&app, &id, &user, &passkey).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let here = user_base(&id, &user.id);
    if !form_is_current(&form, &passkey_version(&before)) {
        return changed_since_opened("passkey", here);
    }
    match users::revoke_passkey(
        app.provider.store.as_ref(),
        &id,
        &user.id,
        &before.credential_id,
        app.provider.clock.now(),
        Some(&before),
    )
    .await
    {
        Ok(()) => {}
        Err(ServiceError::LastPasskey) => {
            return PageError::new(
                StatusCode::CONFLICT,
                "This passkey cannot be revoked",
                "It is this user's only passkey: without it they could not sign in any more. Nothing was \
                 changed. They can add another passkey first, or you can disable or delete the user.",
            )
            .with_link(here, "Back to the user")
            .into_response();
        }
        Err(ServiceError::Changed { .. }) => return changed_since_opened("passkey", here),
        Err(e) => return fail(e),
    }
    if let Err(r) = audit_change(
        &app,
        &ctx,
        actions::USER_PASSKEY_REVOKE,
        format!("tenants/{id}/users/{}/passkeys/{passkey}", user.id),
        &id,
        (Some(passkey_json(&before)), None),
    )
    .await
    {
        return r;
    }
    see_other(&format!("{here}?done=revoked"))
}

/// `GET /admin/authenticator/{tenant}/fido-metadata[?q=][&page=]`: the authenticator models of the loaded FIDO
/// metadata, found by description or AAGUID.
pub async fn fido_metadata(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let id = match ctx.see(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    if let Err(e) = members::authenticator_tenant(app.provider.store.as_ref(), &id).await {
        return page_error(e);
    }
    let attestation = app.provider.attestation.current();
    let blob = attestation.metadata.as_deref();
    let query = params.get("q").cloned().unwrap_or_default();
    let found = blob
        .map(|b| metadata::models(b, &query))
        .unwrap_or_default();
    let page = page_number(&params);
    let start = (page - 1).saturating_mul(PAGE_SIZE);
    let here = format!(
        "{ROOT}/authenticator/{id}/fido-metadata?q={}",
        encoded(query.trim())
    );
    let next = (start + PAGE_SIZE < found.len()).then(|| format!("{here}&page={}", page + 1));
    let first = (page > 1).then(|| here.clone());
    let rows = found
        .into_iter()
        .skip(start)
        .take(PAGE_SIZE)
        .map(|m| {
            vec![
                Cell::text(m.description.unwrap_or_else(|| "(no description)".into())),
                Cell::text(m.aaguid.unwrap_or_else(|| "(none: U2F)".into())),
                Cell::text(m.status.unwrap_or_default()),
            ]
        })
        .collect();
    let intro = match blob {
        Some(b) => vec![format!(
            "FIDO metadata BLOB number {}, next update {}: {} authenticator models, and {} trust anchors configured beside it. It is the service's, shared by every tenant.",
            b.no(),
            b.next_update(),
            b.entries().len(),
            attestation.trust_anchors.len()
        )],
        None => vec![format!(
            "No FIDO metadata is loaded (webauthn.mds_blob_file and webauthn.mds_root_file in the configuration); {} trust anchors are configured.",
            attestation.trust_anchors.len()
        )],
    };
    render(
        &ListPage {
            frame: Frame::new(&ctx, "FIDO metadata", crumbs(&id, false)),
            heading: "FIDO metadata".into(),
            list_id: "fido-models".into(),
            intro,
            actions: Vec::new(),
            filters: vec![Search::text("q", "Description or AAGUID", query.clone())],
            columns: vec!["Description".into(), "AAGUID".into(), "Status".into()],
            rows,
            empty: if blob.is_none() {
                "No FIDO metadata is loaded.".into()
            } else {
                "No authenticator model matches.".into()
            },
            next,
            first,
        },
        StatusCode::OK,
        ctx.set_csrf.clone(),
    )
}
