//! An authenticator tenant's policy page (`/admin/authenticator/{tenant}/policy`): what passkeys it accepts (user
//! verification, attestation, authenticator models, certification level, synced passkeys, algorithms, the
//! signature counter, the legacy AppID) and its sessions (idle timeout, lifetime, hiding whether an account exists).
//! Saving goes through `tenants::update_tenant_from`, which checks the policy as the API and the offline
//! `tessera idp tenant update` do; a refusal lands next to its field. The form carries the tenant's revision: a save
//! based on an older one is refused with the current settings shown again.

use axum::extract::{Path, RawForm, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tessera_core::TenantId;
use tessera_service::ServiceError;
use tessera_service::admin::audit::actions;
use tessera_service::admin::members;
use tessera_service::tenants::{self, PolicyChange, SettingsChange, TenantUpdate};
use tessera_store::Tenant;
use tessera_webauthn::json::UserVerificationRequirement;
use tessera_webauthn::{
    AttestationPolicy, AuthenticatorPolicy, CoseAlgorithm, SignCountPolicy, SyncedPasskeys,
};

use super::authenticator::{audit_change, home_crumb, lines, page_error};
use super::broker::Submitted;
use super::views::{Choice, Field, FormPage, Frame, Link, place_error};
use super::{Ctx, ROOT, see_other};
use crate::common::state::AppState;
use crate::common::views::render;

/// The certification levels offered, as the service parses them (`parse_certification_level`).
const LEVELS: &[(&str, &str)] = &[
    ("", "None required"),
    ("certified", "FIDO Certified (functional)"),
    ("L1", "Level 1"),
    ("L1plus", "Level 1+"),
    ("L2", "Level 2"),
    ("L2plus", "Level 2+"),
    ("L3", "Level 3"),
    ("L3plus", "Level 3+"),
];

fn level_value(level: Option<tessera_webauthn::CertificationLevel>) -> String {
    use tessera_webauthn::CertificationLevel as L;
    match level {
        None | Some(L::NotFidoCertified) => "",
        Some(L::FidoCertified) => "certified",
        Some(L::FidoCertifiedL1) => "L1",
        Some(L::FidoCertifiedL1plus) => "L1plus",
        Some(L::FidoCertifiedL2) => "L2",
        Some(L::FidoCertifiedL2plus) => "L2plus",
        Some(L::FidoCertifiedL3) => "L3",
        Some(L::FidoCertifiedL3plus) => "L3plus",
    }
    .to_owned()
}

/// The form's values, as text: from the stored tenant, or as submitted.
struct Values(Submitted);

impl Values {
    fn of(tenant: &Tenant) -> Result<Self, ServiceError> {
        let policy = tenants::tenant_policy(tenant)?;
        let settings = tenants::tenant_settings(tenant)?;
        let mut pairs: Vec<(String, String)> = vec![
            ("version".into(), tenant.revision.to_string()),
            (
                "user_verification".into(),
                if policy.user_verification == UserVerificationRequirement::Required {
                    "required"
                } else {
                    "preferred"
                }
                .into(),
            ),
            (
                "attestation".into(),
                match policy.attestation {
                    AttestationPolicy::None => "none",
                    AttestationPolicy::Any => "any",
                    AttestationPolicy::Trusted => "trusted",
                }
                .into(),
            ),
            ("aaguid_allow".into(), join(&policy.aaguid_allow)),
            ("aaguid_deny".into(), join(&policy.aaguid_deny)),
            (
                "min_certification_level".into(),
                level_value(policy.minimum_certification_level),
            ),
            (
                "synced_passkeys".into(),
                match policy.synced_passkeys {
                    SyncedPasskeys::Allow => "allow",
                    SyncedPasskeys::Refuse => "refuse",
                }
                .into(),
            ),
            (
                "sign_count".into(),
                match policy.sign_count {
                    SignCountPolicy::RejectClone => "reject_clone",
                    SignCountPolicy::ReportOnly => "report_only",
                }
                .into(),
            ),
            (
                "legacy_appid".into(),
                policy.legacy_appid.clone().unwrap_or_default(),
            ),
            (
                "session_idle_seconds".into(),
                settings
                    .session_idle_seconds
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
            ),
            (
                "session_lifetime_seconds".into(),
                settings
                    .session_lifetime_seconds
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
            ),
            (
                "hide_account_existence".into(),
                if settings.hides_account_existence() {
                    "on"
                } else {
                    "off"
                }
                .into(),
            ),
        ];
        pairs.extend(
            policy
                .algorithms
                .iter()
                .map(|id| ("algorithms".to_owned(), id.to_string())),
        );
        Ok(Self(Submitted::from_pairs(pairs)))
    }

    fn get(&self, name: &str) -> String {
        self.0.get(name)
    }
}

fn join(list: &[tessera_webauthn::Aaguid]) -> String {
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn radios(name: &str, label: &str, hint: &str, current: &str, options: &[(&str, &str)]) -> Field {
    Field::text(name, label, "", hint).choices(
        "radios",
        options
            .iter()
            .map(|(value, text)| Choice::new(*value, *text, current == *value))
            .collect(),
    )
}

fn fields(values: &Values) -> Vec<Field> {
    let chosen: Vec<String> = values.0.all("algorithms");
    let algorithms = CoseAlgorithm::ALL
        .iter()
        .map(|alg| {
            let id = alg.id().to_string();
            let label = if *alg == CoseAlgorithm::InsecureRs1 {
                format!("{} ({id}, insecure: old TPMs only)", alg.name())
            } else {
                format!("{} ({id})", alg.name())
            };
            Choice::new(id.clone(), label, chosen.contains(&id))
        })
        .collect();
    vec![
        Field::text("version", "", &values.get("version"), "").kind("hidden"),
        radios(
            "user_verification",
            "User verification",
            "Whether the authenticator must check it is the user (PIN, fingerprint, face). Passwordless means required.",
            &values.get("user_verification"),
            &[
                ("required", "Required"),
                ("preferred", "Preferred (only when the authenticator can)"),
            ],
        ),
        radios(
            "attestation",
            "Attestation",
            "What a new passkey must prove about the authenticator that made it.",
            &values.get("attestation"),
            &[
                ("none", "None: any passkey"),
                ("any", "Any attestation statement"),
                (
                    "trusted",
                    "Trusted: chains to a trust anchor or the FIDO metadata",
                ),
            ],
        ),
        Field::text(
            "aaguid_allow",
            "Allowed authenticator models",
            &values.get("aaguid_allow"),
            "AAGUIDs, one per line; empty allows every model. A list needs trusted attestation to mean anything.",
        )
        .kind("textarea"),
        Field::text(
            "aaguid_deny",
            "Refused authenticator models",
            &values.get("aaguid_deny"),
            "AAGUIDs, one per line.",
        )
        .kind("textarea"),
        Field::text(
            "min_certification_level",
            "Minimum FIDO certification level",
            "",
            "Checked against the loaded FIDO metadata.",
        )
        .choices(
            "select",
            LEVELS
                .iter()
                .map(|(value, text)| {
                    Choice::new(
                        *value,
                        *text,
                        values.get("min_certification_level") == *value,
                    )
                })
                .collect(),
        ),
        radios(
            "synced_passkeys",
            "Synced passkeys",
            "Passkeys a password manager or platform copies between devices.",
            &values.get("synced_passkeys"),
            &[
                ("allow", "Allowed"),
                ("refuse", "Refused: only passkeys bound to one device"),
            ],
        ),
        Field::text(
            "algorithms",
            "Signature algorithms",
            "",
            "The algorithms a new passkey may use; at least one.",
        )
        .choices("checkboxes", algorithms),
        radios(
            "sign_count",
            "Signature counter that went backwards",
            "A sign that the passkey may have been copied.",
            &values.get("sign_count"),
            &[
                ("reject_clone", "Refuse the sign-in"),
                ("report_only", "Accept it and report it"),
            ],
        ),
        Field::text(
            "legacy_appid",
            "Legacy U2F AppID",
            &values.get("legacy_appid"),
            "Only for security keys registered before WebAuthn, e.g. https://example.com/app-id.json.",
        ),
        Field::text(
            "session_idle_seconds",
            "Session idle timeout (seconds)",
            &values.get("session_idle_seconds"),
            "A sign-in ends after this long unused; empty: 3600.",
        ),
        Field::text(
            "session_lifetime_seconds",
            "Session lifetime (seconds)",
            &values.get("session_lifetime_seconds"),
            "A sign-in ends after this long however busy; empty: the server's setting.",
        ),
        radios(
            "hide_account_existence",
            "Hide whether an account exists",
            "Sign-in answers an unknown username as it answers a real one.",
            &values.get("hide_account_existence"),
            &[("on", "Hide (recommended)"), ("off", "Show")],
        ),
    ]
}

fn field_error(fields: &mut [Field], name: &str, message: String) {
    if let Some(field) = fields.iter_mut().find(|f| f.name == name) {
        field.error = Some(message);
    }
}

fn form_page(
    ctx: &Ctx,
    id: &TenantId,
    fields: Vec<Field>,
    form_error: Option<String>,
    status: Option<StatusCode>,
) -> Response {
    let mut crumbs = home_crumb();
    crumbs.push(Link::new(
        format!("{ROOT}/authenticator/{id}/"),
        id.to_string(),
        "crumb-tenant",
    ));
    let writable = ctx.admin.can_write();
    let page = FormPage {
        frame: Frame::new(ctx, "Authenticator policy", crumbs),
        heading: format!("Authenticator policy of {id}"),
        intro: vec![if writable {
            "Which passkeys this tenant accepts, and how long its sign-ins last. Changes apply to new \
             registrations and sign-ins at once."
                .into()
        } else {
            "Which passkeys this tenant accepts, and how long its sign-ins last. Your role may look but not \
             change."
                .into()
        }],
        form_id: "policy-form".into(),
        action: format!("{ROOT}/authenticator/{id}/policy"),
        fields,
        form_error,
        submit: "Save".into(),
        submit_id: "policy-save".into(),
        cancel: Some(format!("{ROOT}/authenticator/{id}/")),
    };
    match status {
        Some(status) => render(&page, status, ctx.set_csrf.clone()),
        None => page.respond(ctx.set_csrf.clone()),
    }
}

/// `GET /admin/authenticator/{tenant}/policy`.
pub async fn page(State(app): State<AppState>, ctx: Ctx, Path(tenant): Path<String>) -> Response {
    let id = match ctx.see(&tenant) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let tenant = match members::authenticator_tenant(app.provider.store.as_ref(), &id).await {
        Ok(t) => t,
        Err(e) => return page_error(e),
    };
    match Values::of(&tenant) {
        Ok(values) => form_page(&ctx, &id, fields(&values), None, None),
        Err(e) => page_error(e),
    }
}

fn seconds(form: &Submitted, name: &str, fields: &mut [Field]) -> Option<Option<u64>> {
    let text = form.get(name);
    if text.is_empty() {
        return Some(None);
    }
    match text.parse::<u64>() {
        Ok(n) => Some(Some(n)),
        Err(_) => {
            field_error(
                fields,
                name,
                "Enter a whole number of seconds, or leave it empty for the default.".into(),
            );
            None
        }
    }
}

fn aaguids(
    form: &Submitted,
    name: &str,
    fields: &mut [Field],
) -> Option<Vec<tessera_webauthn::Aaguid>> {
    let mut out = Vec::new();
    for (n, line) in lines(&form.get(name)).iter().enumerate() {
        match line.parse() {
            Ok(aaguid) => out.push(aaguid),
            Err(e) => {
                field_error(fields, name, format!("Line {}: {line:?} {e}.", n + 1));
                return None;
            }
        }
    }
    Some(out)
}

/// The change the form asks for, or `None` with the errors set on `fields`.
fn change_of(form: &Submitted, fields: &mut [Field]) -> Option<TenantUpdate> {
    let allow = aaguids(form, "aaguid_allow", fields);
    let deny = aaguids(form, "aaguid_deny", fields);
    let level = match form.get("min_certification_level").as_str() {
        "" => Some(None),
        text => match tenants::parse_certification_level(text) {
            Ok(level) => Some(Some(level)),
            Err(_) => {
                field_error(
                    fields,
                    "min_certification_level",
                    "Choose one of the levels offered.".into(),
                );
                None
            }
        },
    };
    let mut algorithms = Vec::new();
    for text in form.all("algorithms") {
        match text.parse::<i64>() {
            Ok(id) => algorithms.push(id),
            Err(_) => {
                field_error(
                    fields,
                    "algorithms",
                    "Choose among the algorithms offered.".into(),
                );
                return None;
            }
        }
    }
    let idle = seconds(form, "session_idle_seconds", fields);
    let lifetime = seconds(form, "session_lifetime_seconds", fields);
    let (Some(allow), Some(deny), Some(level), Some(idle), Some(lifetime)) =
        (allow, deny, level, idle, lifetime)
    else {
        return None;
    };
    let appid = form.get("legacy_appid");
    Some(TenantUpdate {
        policy: PolicyChange {
            require_user_verification: Some(form.get("user_verification") != "preferred"),
            attestation: Some(match form.get("attestation").as_str() {
                "any" => AttestationPolicy::Any,
                "trusted" => AttestationPolicy::Trusted,
                _ => AttestationPolicy::None,
            }),
            aaguid_allow: Some(allow),
            aaguid_deny: Some(deny),
            minimum_certification_level: Some(level),
            synced_passkeys: Some(if form.get("synced_passkeys") == "refuse" {
                SyncedPasskeys::Refuse
            } else {
                SyncedPasskeys::Allow
            }),
            sign_count: Some(if form.get("sign_count") == "report_only" {
                SignCountPolicy::ReportOnly
            } else {
                SignCountPolicy::RejectClone
            }),
            legacy_appid: Some((!appid.is_empty()).then_some(appid)),
            algorithms: Some(algorithms),
        },
        settings: SettingsChange {
            session_idle_seconds: Some(idle),
            session_lifetime_seconds: Some(lifetime),
            hide_account_existence: Some(match form.get("hide_account_existence").as_str() {
                "off" => Some(false),
                _ => None,
            }),
            public_url: None,
        },
        ..TenantUpdate::default()
    })
}

fn snapshot(tenant: &Tenant) -> serde_json::Value {
    serde_json::json!({
        "policy": tenants::tenant_policy(tenant).ok().and_then(|p: AuthenticatorPolicy| serde_json::to_value(p).ok()),
        "settings": tenant.settings,
    })
}

/// `POST /admin/authenticator/{tenant}/policy`.
pub async fn save(
    State(app): State<AppState>,
    ctx: Ctx,
    Path(tenant): Path<String>,
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
    let current = match members::authenticator_tenant(app.provider.store.as_ref(), &id).await {
        Ok(t) => t,
        Err(e) => return page_error(e),
    };
    if form.get("version") != current.revision.to_string() {
        return changed_meanwhile(&ctx, &id, &current);
    }
    let submitted = Values(form);
    let mut shown = fields(&submitted);
    let Some(update) = change_of(&submitted.0, &mut shown) else {
        return form_page(&ctx, &id, shown, None, None);
    };
    // From the form's revision: a change saved since the check above is refused too, never overwritten.
    match tenants::update_tenant_from(app.provider.store.as_ref(), &id, current.revision, &update)
        .await
    {
        Ok(changed) => {
            app.provider.tenants.invalidate(&id);
            if let Err(r) = audit_change(
                &app,
                &ctx,
                actions::TENANT_POLICY_UPDATE,
                format!("tenants/{id}/policy"),
                &id,
                (Some(snapshot(&current)), Some(snapshot(&changed))),
            )
            .await
            {
                return r;
            }
            see_other(&format!("{ROOT}/authenticator/{id}/?done=policy"))
        }
        Err(ServiceError::Changed { .. }) => {
            match members::authenticator_tenant(app.provider.store.as_ref(), &id).await {
                Ok(now) => changed_meanwhile(&ctx, &id, &now),
                Err(e) => page_error(e),
            }
        }
        Err(e) => match place_error(&mut shown, e) {
            Ok(form_error) => form_page(&ctx, &id, shown, form_error, None),
            Err(page) => (*page).into_response(),
        },
    }
}

/// The form with the tenant's current settings and, next to it, why nothing was saved.
fn changed_meanwhile(ctx: &Ctx, id: &TenantId, current: &Tenant) -> Response {
    match Values::of(current) {
        Ok(values) => form_page(
            ctx,
            id,
            fields(&values),
            Some(
                "Someone else changed this tenant since you opened this page. The form now shows the current \
                 settings: make your change again and save."
                    .into(),
            ),
            Some(StatusCode::CONFLICT),
        ),
        Err(e) => page_error(e),
    }
}
