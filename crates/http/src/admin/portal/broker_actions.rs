//! Three actions of the broker's pages beside the forms of [`super::broker`]:
//!
//! - "Test connection" on an identity provider's page (`POST .../identity-providers/{id}/test`): the stored
//!   configuration's metadata and JWKS fetched and checked by `tessera_service::broker::providers::test_connection`,
//!   the same call as the API's `POST .../identity-providers/test`; nothing is stored, the result is shown on the
//!   provider's page.
//! - "Regenerate secret" on a confidential application's page (`POST .../applications/{id}/secret`): a new secret,
//!   shown once, as `applications::regenerate_secret` makes it for the API's `POST .../applications/{id}/secret`.
//! - "Multi-factor authentication and conditional access" of a user flow (`.../user-flows/{policy}/mfa`): changing
//!   them after creation saves a new version of the flow (`flows::revise_user_flow`, as the API's `PUT`), from the
//!   version the form was opened at.

use axum::Router;
use axum::extract::{Path, RawForm, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tessera_broker::config::{FlowSettings, MfaSetting, PolicyId, ProviderId};
use tessera_core::{ClientId, TenantId};
use tessera_service::ServiceError;
use tessera_service::admin::audit::actions;
use tessera_service::broker::{applications, flows, providers};

use super::authenticator::audit_change;
use super::broker::{
    Submitted, app_detail, app_json, capital, crumbs, load_flow, page_error, provider_detail,
    revise_flow, tenant_base,
};
use super::views::{Choice, Field, FormPage, Frame, Link, Section, place_error};
use super::{Ctx, not_found};
use crate::common::reply::PageError;
use crate::common::state::AppState;

/// The routes of the three actions.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/broker/{tenant}/identity-providers/{id}/test",
            post(test_connection),
        )
        .route(
            "/admin/broker/{tenant}/applications/{id}/secret",
            post(regenerate_secret),
        )
        .route(
            "/admin/broker/{tenant}/user-flows/{policy}/mfa",
            get(mfa_form).post(mfa_save),
        )
}

// ---------------------------------------------------------------------------------------------------------------
// Test connection

/// `POST .../identity-providers/{id}/test`: the provider's page with what "Test connection" found.
async fn test_connection(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, id)): Path<(String, String)>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    // As the API: testing is for those who may change the provider.
    let tenant = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Ok(id) = ProviderId::parse(&id) else {
        return not_found();
    };
    let view = match providers::get_identity_provider(app.broker.store.as_ref(), &tenant, &id).await
    {
        Ok(v) => v,
        Err(e) => return page_error(e),
    };
    let (section, notice, status) =
        match providers::test_connection(&app.broker.upstream, &view.config).await {
            Ok(report) => {
                let m = report.metadata;
                let facts: Vec<(String, String)> = vec![
                    (
                        "Result".into(),
                        "Connected: the metadata and its signing keys are usable.".into(),
                    ),
                    ("Issuer".into(), m.issuer),
                    ("Authorization endpoint".into(), m.authorization_endpoint),
                    ("Token endpoint".into(), m.token_endpoint),
                    (
                        "Userinfo endpoint".into(),
                        m.userinfo_endpoint.unwrap_or_else(|| "(none)".into()),
                    ),
                    ("JWKS URL".into(), m.jwks_uri),
                    ("Signing keys".into(), report.signing_keys.to_string()),
                ];
                (
                    facts,
                    "Test connection: the provider answers and its metadata is valid.",
                    StatusCode::OK,
                )
            }
            Err(e) if e.is_internal() => return PageError::from(e).into_response(),
            Err(e) => {
                let field = e.field().map(str::to_owned);
                let mut facts: Vec<(String, String)> = vec![(
                    "Result".into(),
                    format!("Failed: {}", capital(&format!("{e}."))),
                )];
                if let Some(field) = field {
                    facts.push(("Setting at fault".into(), field));
                }
                (
                    facts,
                    "Test connection failed: see the result below. Nothing was changed.",
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
            }
        };
    provider_detail(
        &ctx,
        &tenant,
        &view,
        Some(notice.into()),
        vec![Section {
            heading: "Test connection".into(),
            id: "connection-test".into(),
            facts: section,
            ..Section::default()
        }],
        status,
    )
}

// ---------------------------------------------------------------------------------------------------------------
// An application's new secret

/// `POST .../applications/{id}/secret`: a new client secret, shown once on the application's page; the old one
/// stops working at once.
async fn regenerate_secret(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, id)): Path<(String, String)>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    let tenant = match ctx.write(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Ok(id) = ClientId::parse(&id) else {
        return not_found();
    };
    match applications::regenerate_secret(app.broker.store.as_ref(), &tenant, &id).await {
        Ok((application, secret)) => {
            app.broker.cache.invalidate(&tenant);
            if let Err(r) = audit_change(
                &app,
                &ctx,
                actions::BROKER_APPLICATION_SECRET_REGENERATE,
                format!("broker/{tenant}/applications/{id}"),
                &tenant,
                (None, Some(app_json(&application))),
            )
            .await
            {
                return r;
            }
            app_detail(
                &app,
                &ctx,
                &tenant,
                &application,
                Some(secret.expose().to_owned()),
                Some("New secret made: the old one no longer works.".into()),
            )
        }
        Err(ServiceError::InvalidInput(_)) => PageError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "No secret to regenerate",
            "This is a public application: it has no secret and proves itself with PKCE.",
        )
        .with_link(
            format!("{}/applications/{id}", tenant_base(&tenant)),
            "Back to the application",
        )
        .into_response(),
        Err(e) => page_error(e),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// A user flow's multi-factor authentication and conditional access

fn mfa_fields(settings: &FlowSettings, version: u32) -> Vec<Field> {
    let on = |m: MfaSetting| settings.mfa == m;
    vec![
        Field::text(
            "mfa",
            "Multi-factor authentication",
            "",
            "The broker judges the identity provider's sign-in (amr).",
        )
        .choices(
            "radios",
            vec![
                Choice::new("off", "Off", on(MfaSetting::Off)),
                Choice::new("always", "Always on", on(MfaSetting::Always)),
                Choice::new("conditional", "Conditional", on(MfaSetting::Conditional)),
            ],
        ),
        Field::text(
            "conditional_access",
            "Enforce conditional access policies",
            if settings.conditional_access.enforced {
                "true"
            } else {
                ""
            },
            "",
        )
        .kind("checkbox"),
        Field::text("based_on", "", &version.to_string(), "").kind("hidden"),
    ]
}

fn mfa_page(
    ctx: &Ctx,
    tenant: &TenantId,
    policy: &PolicyId,
    fields: Vec<Field>,
    form_error: Option<String>,
    status: Option<StatusCode>,
) -> Response {
    let base = format!("{}/user-flows/{policy}", tenant_base(tenant));
    let mut crumbs = crumbs(tenant);
    crumbs.push(Link::new(
        format!("{}/user-flows", tenant_base(tenant)),
        "User flows",
        "crumb-flows",
    ));
    crumbs.push(Link::new(base.clone(), policy.to_string(), "crumb-flow"));
    let heading = "Multi-factor authentication and conditional access";
    let page = FormPage {
        frame: Frame::new(ctx, heading, crumbs),
        heading: heading.into(),
        intro: vec![
            "What the identity provider's sign-in must show before the broker issues tokens.".into(),
            "Saving makes a new version of the user flow; sign-ins already running finish on theirs.".into(),
        ],
        form_id: "mfa-form".into(),
        action: format!("{base}/mfa"),
        fields,
        form_error,
        submit: "Save".into(),
        submit_id: "mfa-save".into(),
        cancel: Some(base),
    };
    match status {
        Some(status) => crate::common::views::render(&page, status, ctx.set_csrf.clone()),
        None => page.respond(ctx.set_csrf.clone()),
    }
}

/// `GET .../user-flows/{policy}/mfa`: the form, at the flow's current version.
async fn mfa_form(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, policy)): Path<(String, String)>,
) -> Response {
    match load_flow(&app, &ctx, &tenant, &policy).await {
        Ok((tenant, flow)) => {
            let current = flow.current();
            mfa_page(
                &ctx,
                &tenant,
                flow.policy(),
                mfa_fields(current.settings(), current.number()),
                None,
                None,
            )
        }
        Err(r) => *r,
    }
}

/// `POST .../user-flows/{policy}/mfa`: the flow's next version with these settings, if nobody saved one since
/// the form was opened; otherwise the form again with the current settings (409).
async fn mfa_save(
    State(app): State<AppState>,
    ctx: Ctx,
    Path((tenant, policy)): Path<(String, String)>,
    RawForm(body): RawForm,
) -> Response {
    let form = Submitted::parse(&body);
    if let Err(r) = ctx.verify_form(form.csrf()) {
        return *r;
    }
    let (tenant, flow) = match load_flow(&app, &ctx, &tenant, &policy).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let current = flow.current();
    let before = current.settings().clone();
    let mut settings = before.clone();
    settings.mfa = match form.get("mfa").as_str() {
        "off" => MfaSetting::Off,
        "always" => MfaSetting::Always,
        "conditional" => MfaSetting::Conditional,
        _ => {
            let mut fields = mfa_fields(&settings, current.number());
            fields[0].error = Some("Choose Off, Always on or Conditional.".into());
            return mfa_page(&ctx, &tenant, flow.policy(), fields, None, None);
        }
    };
    settings.conditional_access.enforced = form.get("conditional_access") == "true";
    // A missing or garbled version is no version this page showed.
    let based_on = form.get("based_on").parse::<u32>().unwrap_or(0);
    let policy = flow.policy().clone();
    match revise_flow(
        &app,
        &ctx,
        &tenant,
        &policy,
        based_on,
        &before,
        settings.clone(),
    )
    .await
    {
        Ok(saved) => saved,
        Err(ServiceError::FlowChanged { .. }) => {
            match flows::get_user_flow(app.broker.store.as_ref(), &tenant, &policy).await {
                Ok(now) => {
                    let latest = now.current();
                    mfa_page(
                        &ctx,
                        &tenant,
                        &policy,
                        mfa_fields(latest.settings(), latest.number()),
                        Some(
                            "Someone else saved a new version of this user flow since you opened this page, so \
                             nothing was saved. The form now shows the current settings: make your change again \
                             and save."
                                .into(),
                        ),
                        Some(StatusCode::CONFLICT),
                    )
                }
                Err(e) => page_error(e),
            }
        }
        Err(e) => {
            let mut fields = mfa_fields(&settings, current.number());
            match place_error(&mut fields, e) {
                Ok(form_error) => mfa_page(&ctx, &tenant, &policy, fields, form_error, None),
                Err(page) => (*page).into_response(),
            }
        }
    }
}
