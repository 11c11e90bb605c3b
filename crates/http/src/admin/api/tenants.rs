//! The authenticator service's objects: tenants (with their settings), the tenant's WebAuthn policy (read,
//! change), the loaded FIDO metadata, signing keys (list, rotate), OAuth clients (secret shown once, regenerate) and
//! users' passkeys (list, rename, revoke).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use tessera_core::{ClientId, TenantId, UserId};
use tessera_oidc::keys::SigningAlg;
use tessera_service::admin::audit::Change;
use tessera_service::admin::audit::actions;
use tessera_service::{clients, keys, metadata, tenants, users};
use tessera_store::{Client, ClientFilter, Credential, SigningKey, Tenant};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::{json, record};
use super::extract::{ApiJson, Caller, PageQuery, check_if_match, etag_of, page, with_etag};
use super::filters::{ClientQuery, KeyQuery, PasskeyQuery, StatusQuery};
use super::problem::Problem;
use super::state::ApiState;
use super::views::{page_of, rfc3339};
use crate::common::state::AppState;
use tessera_service::admin::list_filters::{self, KeyFilter, PasskeyFilter};

/// The routes of this module.
pub fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(get_tenant, update_tenant, delete_tenant))
        .routes(routes!(get_policy, update_policy))
        .routes(routes!(fido_metadata))
        .routes(routes!(list_keys))
        .routes(routes!(rotate_keys))
        .routes(routes!(list_clients, create_client))
        .routes(routes!(get_client, update_client, delete_client))
        .routes(routes!(regenerate_client_secret))
        .routes(routes!(search_users))
        .routes(routes!(get_user, delete_user))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(list_passkeys))
        .routes(routes!(get_passkey, rename_passkey, revoke_passkey))
}

/// A tenant id from the path, as the caller may see it (404 otherwise).
pub fn tenant_id(caller: &Caller, text: &str) -> Result<TenantId, Problem> {
    caller.require_tenant(text)?;
    TenantId::parse(text).map_err(|_| Problem::not_found("the tenant"))
}

async fn load_tenant(state: &ApiState, id: &TenantId) -> Result<Tenant, Problem> {
    state
        .provider
        .store
        .get_tenant(id)
        .await?
        .ok_or_else(|| Problem::not_found("the tenant"))
}

// ---------------------------------------------------------------------------------------------------------------
// Tenants

/// A tenant's session and address settings (absent: the default).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSettingsView {
    /// Seconds a browser session may stay unused (default 3600).
    pub session_idle_seconds: Option<u64>,
    /// Seconds a browser session lasts at most (default: the server's).
    pub session_lifetime_seconds: Option<u64>,
    /// Whether sign-in hides whether an account exists (default `true`).
    pub hide_account_existence: Option<bool>,
    /// The tenant's own address (`https://login.contoso.com`), if it has one.
    pub public_url: Option<String>,
}

/// An authenticator-service tenant.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantView {
    /// The path segment (`mytenant`).
    pub id: String,
    /// Shown to users.
    pub display_name: String,
    /// The WebAuthn RP ID.
    pub rp_id: String,
    /// Origins allowed in WebAuthn responses.
    pub origins: Vec<String>,
    /// Its settings.
    pub settings: TenantSettingsView,
    /// Its OpenID Connect issuer.
    pub issuer: String,
    /// When it was created.
    pub created_at: String,
    /// Its revision (every change moves it).
    pub revision: u64,
}

fn tenant_view(state: &ApiState, tenant: &Tenant) -> Result<TenantView, Problem> {
    let settings = tenants::tenant_settings(tenant)?;
    Ok(TenantView {
        id: tenant.id.to_string(),
        display_name: tenant.display_name.clone(),
        rp_id: tenant.rp_id.clone(),
        origins: tenant.origins.clone(),
        issuer: settings.issuer(state.provider.public_url.as_str(), &tenant.id),
        settings: TenantSettingsView {
            session_idle_seconds: settings.session_idle_seconds,
            session_lifetime_seconds: settings.session_lifetime_seconds,
            hide_account_existence: settings.hide_account_existence,
            public_url: settings.public_url,
        },
        created_at: rfc3339(tenant.created_at),
        revision: tenant.revision,
    })
}

page_of!(TenantPage, TenantView, "tenants");

/// A new tenant.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenantBody {
    /// The path segment: lowercase letters, digits and `-`.
    pub id: String,
    /// The WebAuthn RP ID (`localhost`, `login.example.com`).
    pub rp_id: String,
    /// Origins allowed in WebAuthn responses, each within the RP ID.
    pub origins: Vec<String>,
    /// Shown to users (default: the id).
    #[serde(default)]
    pub display_name: Option<String>,
}

/// Changes to a tenant; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// Shown to users.
    pub display_name: Option<String>,
    /// Origins, replaced whole.
    pub origins: Option<Vec<String>>,
    /// Settings; each given one replaces the stored one (`null` returns it to its default).
    pub settings: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A filter by id prefix.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IdFilter {
    /// Only ids starting with this.
    pub q: Option<String>,
}

/// Lists the tenants the caller may see.
#[utoipa::path(get, path = "/tenants", tag = "tenants",
    params(IdFilter, PageQuery),
    responses(
        (status = 200, description = "A page of tenants", body = TenantPage),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_tenants(
    State(state): State<ApiState>,
    caller: Caller,
    Query(filter): Query<IdFilter>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<TenantPage>, Problem> {
    let mut views = Vec::new();
    for tenant in state.provider.store.list_tenants().await? {
        let id = tenant.id.as_str();
        if caller.sees_tenant(id) && filter.q.as_deref().is_none_or(|q| id.starts_with(q)) {
            views.push(tenant_view(&state, &tenant)?);
        }
    }
    let (items, next_cursor) = page(views, |t| t.id.clone(), &paging)?;
    Ok(Json(TenantPage { items, next_cursor }))
}

/// Creates a tenant with fresh signing keys and the default policy (global admins only).
#[utoipa::path(post, path = "/tenants", tag = "tenants",
    request_body = NewTenantBody,
    responses(
        (status = 201, description = "The tenant", body = TenantView),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a global admin token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_tenant(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewTenantBody>,
) -> Result<Response, Problem> {
    caller.require_global()?;
    let id = TenantId::parse(&body.id).map_err(|e| Problem::invalid_field("id", e.to_string()))?;
    let new = tenants::NewTenant::parse(id, &body.rp_id, &body.origins, body.display_name)?;
    let tenant = tenants::create_tenant(
        state.provider.store.as_ref(),
        &state.provider.master_key,
        new,
        state.now(),
    )
    .await?;
    let view = tenant_view(&state, &tenant)?;
    record(
        &state,
        &caller,
        Change {
            action: actions::TENANT_CREATE,
            target: format!("tenants/{}", view.id),
            tenant: Some(view.id.clone()),
            before: None,
            after: json(&view),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, with_etag(view)).into_response())
}

/// Reads a tenant (with its `ETag`).
#[utoipa::path(get, path = "/tenants/{tenant}", tag = "tenants",
    params(("tenant" = String, Path, description = "The tenant id")),
    responses(
        (status = 200, description = "The tenant", body = TenantView, headers(("ETag" = String, description = "The version, for `If-Match`"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant (or not the caller's)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_tenant(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let tenant = load_tenant(&state, &id).await?;
    Ok(with_etag(tenant_view(&state, &tenant)?))
}

fn settings_change(
    settings: &serde_json::Map<String, serde_json::Value>,
) -> Result<tenants::SettingsChange, Problem> {
    let mut change = tenants::SettingsChange::default();
    for (name, value) in settings {
        let field = format!("settings.{name}");
        let number = |v: &serde_json::Value| -> Result<Option<u64>, Problem> {
            match v {
                serde_json::Value::Null => Ok(None),
                v => v
                    .as_u64()
                    .map(Some)
                    .ok_or_else(|| Problem::invalid_field(&field, "a number of seconds or null")),
            }
        };
        match name.as_str() {
            "session_idle_seconds" => change.session_idle_seconds = Some(number(value)?),
            "session_lifetime_seconds" => change.session_lifetime_seconds = Some(number(value)?),
            "hide_account_existence" => {
                change.hide_account_existence = Some(match value {
                    serde_json::Value::Null => None,
                    serde_json::Value::Bool(b) => Some(*b),
                    _ => return Err(Problem::invalid_field(&field, "true, false or null")),
                })
            }
            "public_url" => {
                change.public_url = Some(match value {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s.clone()),
                    _ => return Err(Problem::invalid_field(&field, "a URL or null")),
                })
            }
            _ => return Err(Problem::invalid_field(&field, "unknown setting")),
        }
    }
    Ok(change)
}

/// Changes a tenant's name, origins or settings (`If-Match` required).
#[utoipa::path(patch, path = "/tenants/{tenant}", tag = "tenants",
    params(("tenant" = String, Path, description = "The tenant id"),
           ("If-Match" = String, Header, description = "The `ETag` of the version read")),
    request_body = TenantPatch,
    responses(
        (status = 200, description = "The changed tenant", body = TenantView, headers(("ETag" = String, description = "The new version"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The tenant changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update_tenant(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<TenantPatch>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let read = load_tenant(&state, &id).await?;
    let before = tenant_view(&state, &read)?;
    check_if_match(&headers, &etag_of(&before))?;
    let update = tenants::TenantUpdate {
        display_name: body.display_name,
        origins: body.origins,
        policy: tenants::PolicyChange::default(),
        settings: match &body.settings {
            Some(settings) => settings_change(settings)?,
            None => tenants::SettingsChange::default(),
        },
    };
    // From the revision read with the checked `ETag`: a change saved in between is a 412, never overwritten.
    let changed =
        tenants::update_tenant_from(state.provider.store.as_ref(), &id, read.revision, &update)
            .await?;
    state.provider.tenants.invalidate(&id);
    let after = tenant_view(&state, &changed)?;
    record(
        &state,
        &caller,
        Change {
            action: actions::TENANT_UPDATE,
            target: format!("tenants/{id}"),
            tenant: Some(id.to_string()),
            before: json(&before),
            after: json(&after),
        },
    )
    .await?;
    Ok(with_etag(after))
}

/// `?force=true` of a tenant's deletion.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ForceQuery {
    /// Delete the tenant with everything it still holds (default: refuse while it holds anything).
    #[serde(default)]
    pub force: bool,
}

/// Deletes a tenant (global admins only, `If-Match` required). Refused (409, naming what remains) while it has
/// clients or users, unless `?force=true`: then its clients, users, passkeys, signing keys, sessions, codes and
/// tokens go with it, in one transaction.
#[utoipa::path(delete, path = "/tenants/{tenant}", tag = "tenants",
    params(("tenant" = String, Path, description = "The tenant id"), ForceQuery,
           ("If-Match" = String, Header, description = "The `ETag` of the version read")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a global admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant (or not the caller's)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant still has clients or users (the detail counts them)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The tenant changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_tenant(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(query): Query<ForceQuery>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    caller.require_global()?;
    let before = tenant_view(&state, &load_tenant(&state, &id).await?)?;
    check_if_match(&headers, &etag_of(&before))?;
    let held = tenants::delete_tenant(state.provider.store.as_ref(), &id, query.force).await?;
    state.provider.tenants.invalidate(&id);
    let mut before = json(&before);
    if let Some(serde_json::Value::Object(fields)) = before.as_mut() {
        fields.insert(
            "deleted_with_it".into(),
            serde_json::json!({ "clients": held.clients, "users": held.users }),
        );
    }
    record(
        &state,
        &caller,
        Change {
            action: if query.force {
                actions::TENANT_DELETE_FORCE
            } else {
                actions::TENANT_DELETE
            },
            target: format!("tenants/{id}"),
            tenant: Some(id.to_string()),
            before,
            after: None,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant's WebAuthn (authenticator) policy.
#[utoipa::path(get, path = "/tenants/{tenant}/policy", tag = "tenants",
    params(("tenant" = String, Path, description = "The tenant id")),
    responses(
        (status = 200, description = "The policy: user verification, attestation, AAGUID lists, certification level, synced passkeys, sign-count rule", body = Object),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_policy(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let tenant = load_tenant(&state, &id).await?;
    Ok(with_etag(policy_value(&tenant)?))
}

fn double<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// User verification a tenant demands.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserVerificationName {
    /// The authenticator must verify the user (PIN, biometrics): passwordless means it.
    Required,
    /// Verify when the authenticator can.
    Preferred,
}

/// Attestation a tenant demands at registration.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttestationName {
    /// Any response, `none` included.
    None,
    /// A self or certified attestation statement.
    Any,
    /// A statement chaining to a trust anchor or FIDO metadata root.
    Trusted,
}

/// Whether synced passkeys may register.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncedName {
    /// Allowed.
    Allow,
    /// Only device-bound passkeys.
    Refuse,
}

/// What a signature counter that went backwards does.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignCountName {
    /// Refuse the sign-in.
    RejectClone,
    /// Accept it and report the signal.
    ReportOnly,
}

/// Changes to a tenant's WebAuthn policy; absent fields stay, lists are replaced whole. The names and values are
/// those `GET /tenants/{tenant}/policy` answers with.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyPatch {
    /// `required` or `preferred`.
    pub user_verification: Option<UserVerificationName>,
    /// `none`, `any` or `trusted`.
    pub attestation: Option<AttestationName>,
    /// Only these authenticator models (AAGUIDs as UUIDs; empty: every model).
    pub aaguid_allow: Option<Vec<String>>,
    /// Refuse these authenticator models.
    pub aaguid_deny: Option<Vec<String>>,
    /// The minimum FIDO certification level (`L1` ... `L3plus`, `certified`, or the MDS3 name); `null` removes it.
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>, nullable)]
    pub minimum_certification_level: Option<Option<String>>,
    /// `allow` or `refuse`.
    pub synced_passkeys: Option<SyncedName>,
    /// `reject_clone` or `report_only`.
    pub sign_count: Option<SignCountName>,
    /// COSE algorithm identifiers accepted for new passkeys (`-7` ES256, `-8` EdDSA, `-257` RS256, ...).
    pub algorithms: Option<Vec<i64>>,
    /// The legacy U2F AppID; `null` removes it.
    #[serde(default, deserialize_with = "double")]
    #[schema(value_type = Option<String>, nullable)]
    pub legacy_appid: Option<Option<String>>,
}

fn aaguids(field: &str, list: &[String]) -> Result<Vec<tessera_webauthn::Aaguid>, Problem> {
    list.iter()
        .enumerate()
        .map(|(i, text)| {
            text.trim().parse().map_err(|e| {
                Problem::invalid_field(&format!("{field}[{i}]"), format!("{text:?}: {e}"))
            })
        })
        .collect()
}

impl PolicyPatch {
    /// The service's form of the change (each value parsed; the policy as a whole is checked by the service).
    pub fn change(&self) -> Result<tenants::PolicyChange, Problem> {
        use tessera_webauthn::{AttestationPolicy, SignCountPolicy, SyncedPasskeys};
        let minimum_certification_level = match &self.minimum_certification_level {
            None => None,
            Some(None) => Some(None),
            Some(Some(text)) => Some(Some(tenants::parse_certification_level(text).map_err(
                |e| match e {
                    tessera_service::ServiceError::InvalidPolicy { reason, .. } => {
                        Problem::invalid_field("minimum_certification_level", reason)
                    }
                    other => other.into(),
                },
            )?)),
        };
        Ok(tenants::PolicyChange {
            require_user_verification: self
                .user_verification
                .map(|uv| matches!(uv, UserVerificationName::Required)),
            attestation: self.attestation.map(|a| match a {
                AttestationName::None => AttestationPolicy::None,
                AttestationName::Any => AttestationPolicy::Any,
                AttestationName::Trusted => AttestationPolicy::Trusted,
            }),
            aaguid_allow: self
                .aaguid_allow
                .as_deref()
                .map(|l| aaguids("aaguid_allow", l))
                .transpose()?,
            aaguid_deny: self
                .aaguid_deny
                .as_deref()
                .map(|l| aaguids("aaguid_deny", l))
                .transpose()?,
            minimum_certification_level,
            synced_passkeys: self.synced_passkeys.map(|s| match s {
                SyncedName::Allow => SyncedPasskeys::Allow,
                SyncedName::Refuse => SyncedPasskeys::Refuse,
            }),
            sign_count: self.sign_count.map(|s| match s {
                SignCountName::RejectClone => SignCountPolicy::RejectClone,
                SignCountName::ReportOnly => SignCountPolicy::ReportOnly,
            }),
            algorithms: self.algorithms.clone(),
            legacy_appid: self.legacy_appid.as_ref().map(|a| {
                a.as_deref()
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
            }),
        })
    }
}

fn policy_value(tenant: &Tenant) -> Result<serde_json::Value, Problem> {
    let policy = tenants::tenant_policy(tenant)?;
    serde_json::to_value(&policy).map_err(|e| Problem::internal(&e, false))
}

/// Changes a tenant's WebAuthn policy (`If-Match`: the policy's `ETag`). Checked as a whole as the offline
/// `tessera idp tenant update` checks it (no AAGUID both allowed and denied, known algorithms, an `https` AppID).
#[utoipa::path(patch, path = "/tenants/{tenant}/policy", tag = "tenants",
    params(("tenant" = String, Path, description = "The tenant id"),
           ("If-Match" = String, Header, description = "The `ETag` of the policy as read")),
    request_body = PolicyPatch,
    responses(
        (status = 200, description = "The changed policy", body = Object, headers(("ETag" = String, description = "The new version"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The policy changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update_policy(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PolicyPatch>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let read = load_tenant(&state, &id).await?;
    let before = policy_value(&read)?;
    check_if_match(&headers, &etag_of(&before))?;
    let update = tenants::TenantUpdate {
        policy: body.change()?,
        ..tenants::TenantUpdate::default()
    };
    let changed =
        tenants::update_tenant_from(state.provider.store.as_ref(), &id, read.revision, &update)
            .await
            .map_err(|e| match e {
                tessera_service::ServiceError::InvalidPolicy {
                    setting: "min-certification-level",
                    reason,
                } => Problem::invalid_field("minimum_certification_level", reason),
                other => other.into(),
            })?;
    state.provider.tenants.invalidate(&id);
    let after = policy_value(&changed)?;
    record(
        &state,
        &caller,
        Change {
            action: actions::TENANT_POLICY_UPDATE,
            target: format!("tenants/{id}/policy"),
            tenant: Some(id.to_string()),
            before: Some(before),
            after: Some(after.clone()),
        },
    )
    .await?;
    Ok(with_etag(after))
}

/// The FIDO metadata (MDS3 BLOB) the service verifies registrations with.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FidoMetadataView {
    /// Whether a verified BLOB is loaded.
    pub loaded: bool,
    /// Its serial number.
    pub number: Option<u64>,
    /// When the publisher's next BLOB is due (`YYYY-MM-DD`).
    pub next_update: Option<String>,
    /// How many authenticator models it describes.
    pub entries: usize,
    /// How many configured trust anchors there are beside it.
    pub trust_anchors: usize,
    /// The models (AAGUID and description), up to 500.
    pub models: Vec<FidoModel>,
}

/// An authenticator model of the FIDO metadata.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FidoModel {
    /// Its AAGUID (FIDO2), as a UUID.
    pub aaguid: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// Its latest status (`FIDO_CERTIFIED_L1`, `REVOKED`, ...).
    pub status: Option<String>,
}

/// The loaded FIDO metadata.
#[utoipa::path(get, path = "/fido-metadata", tag = "tenants",
    responses(
        (status = 200, description = "What is loaded", body = FidoMetadataView),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn fido_metadata(
    State(state): State<ApiState>,
    _caller: Caller,
) -> Json<FidoMetadataView> {
    let current = state.provider.attestation.current();
    let blob = current.metadata.as_deref();
    Json(FidoMetadataView {
        loaded: blob.is_some(),
        number: blob.map(|b| b.no()),
        next_update: blob.map(|b| b.next_update().to_string()),
        entries: blob.map_or(0, |b| b.entries().len()),
        trust_anchors: current.trust_anchors.len(),
        models: blob
            .map(|b| {
                metadata::models(b, "")
                    .into_iter()
                    .take(500)
                    .map(|m| FidoModel {
                        aaguid: m.aaguid,
                        description: m.description,
                        status: m.status,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Signing keys

/// A signing key (public part only).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyView {
    /// Its key id.
    pub kid: String,
    /// `RS256` or `ES256`.
    pub alg: String,
    /// `pending` (published, not yet signing), `active` or `retired`.
    pub status: String,
    /// When it was made.
    pub created_at: String,
    /// When it was retired.
    pub retired_at: Option<String>,
    /// Its public JWK.
    pub public_jwk: serde_json::Value,
}

/// The API's view of a signing key.
pub fn key_view(key: &SigningKey) -> KeyView {
    KeyView {
        kid: key.kid.clone(),
        alg: key.alg.clone(),
        status: key.status.as_str().to_owned(),
        created_at: rfc3339(key.created_at),
        retired_at: key.retired_at.map(rfc3339),
        public_jwk: key.public_jwk.clone(),
    }
}

page_of!(KeyPage, KeyView, "signing keys");

/// Lists a tenant's signing keys.
#[utoipa::path(get, path = "/tenants/{tenant}/keys", tag = "tenants",
    params(("tenant" = String, Path, description = "The tenant id"), KeyQuery, PageQuery),
    responses(
        (status = 200, description = "A page of keys", body = KeyPage),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_keys(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(filter): Query<KeyQuery>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<KeyPage>, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let filter = KeyFilter::parse(filter.status.as_deref(), filter.alg.as_deref())?;
    let views = keys::list_keys(state.provider.store.as_ref(), &id)
        .await?
        .iter()
        .filter(|k| filter.matches(k))
        .map(key_view)
        .collect();
    let (items, next_cursor) = page(views, |k: &KeyView| k.kid.clone(), &paging)?;
    Ok(Json(KeyPage { items, next_cursor }))
}

/// How to rotate.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// Sign with the new keys at once (a suspected compromise); by default they are published first and sign
    /// after seven minutes.
    #[serde(default)]
    pub immediate: bool,
}

/// The new keys.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Rotated {
    /// Their key ids.
    pub kids: Vec<String>,
}

/// Rotates a tenant's signing keys (a new RS256 and ES256 key).
#[utoipa::path(post, path = "/tenants/{tenant}/keys/rotate", tag = "tenants",
    params(("tenant" = String, Path, description = "The tenant id")),
    request_body = RotateBody,
    responses(
        (status = 201, description = "The new keys", body = Rotated),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn rotate_keys(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<RotateBody>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let rotation = if body.immediate {
        keys::Rotation::Immediate
    } else {
        keys::Rotation::Staged
    };
    let kids = keys::rotate_keys(
        state.provider.store.as_ref(),
        &state.provider.master_key,
        &id,
        rotation,
        state.now(),
    )
    .await?;
    state.provider.tenants.invalidate(&id);
    record(
        &state,
        &caller,
        Change {
            action: actions::TENANT_KEYS_ROTATE,
            target: format!("tenants/{id}/keys"),
            tenant: Some(id.to_string()),
            before: None,
            after: Some(serde_json::json!({ "kids": kids, "immediate": body.immediate })),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(Rotated { kids })).into_response())
}

// ---------------------------------------------------------------------------------------------------------------
// Clients

/// An OAuth client of a tenant (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientView {
    /// Its client id.
    pub client_id: String,
    /// Shown to users.
    pub name: String,
    /// Redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// `client_secret_basic`, `client_secret_post` or `none`.
    pub token_endpoint_auth_method: String,
    /// `RS256` or `ES256`.
    pub id_token_signed_response_alg: String,
    /// Whether it has a secret.
    pub has_secret: bool,
    /// When it was registered.
    pub created_at: String,
}

/// The API's view of a client (its `ETag` is the portal's version too).
pub fn client_view(client: &Client) -> ClientView {
    ClientView {
        client_id: client.client_id.to_string(),
        name: client.display_name.clone(),
        redirect_uris: client.redirect_uris.clone(),
        post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
        token_endpoint_auth_method: client.token_endpoint_auth_method.clone(),
        id_token_signed_response_alg: client.id_token_signed_response_alg.clone(),
        has_secret: client.secret_hash.is_some(),
        created_at: rfc3339(client.created_at),
    }
}

page_of!(ClientPage, ClientView, "clients");

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthName {
    /// A secret by HTTP Basic (the default).
    #[default]
    ClientSecretBasic,
    /// A secret in the form body.
    ClientSecretPost,
    /// None: a public client (PKCE required).
    None,
}

/// An ID token signing algorithm.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema)]
pub enum AlgName {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    #[default]
    #[serde(rename = "RS256")]
    Rs256,
    /// ECDSA P-256 with SHA-256.
    #[serde(rename = "ES256")]
    Es256,
}

impl From<AlgName> for SigningAlg {
    fn from(alg: AlgName) -> Self {
        match alg {
            AlgName::Rs256 => SigningAlg::Rs256,
            AlgName::Es256 => SigningAlg::Es256,
        }
    }
}

/// A new client.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClientBody {
    /// Shown to users (default: from the first redirect URI).
    #[serde(default)]
    pub name: Option<String>,
    /// Redirect URIs (at least one), matched exactly.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// How it authenticates.
    #[serde(default)]
    pub token_endpoint_auth_method: ClientAuthName,
    /// How its ID tokens are signed.
    #[serde(default)]
    pub id_token_signed_response_alg: AlgName,
}

/// A client just registered: its secret, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IssuedClient {
    /// The client.
    pub client: ClientView,
    /// Its secret (confidential clients), not stored and never shown again.
    pub client_secret: Option<String>,
}

/// Changes to a client; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    /// Shown to users.
    pub name: Option<String>,
    /// Redirect URIs, replaced whole.
    pub redirect_uris: Option<Vec<String>>,
    /// Post-logout redirect URIs, replaced whole.
    pub post_logout_redirect_uris: Option<Vec<String>>,
}

/// Loopback `http` redirect URIs are accepted where the service itself runs on loopback `http` (the demo, tests).
fn localhost_http(state: &ApiState) -> clients::LocalhostHttp {
    if state.provider.public_url.is_https() {
        clients::LocalhostHttp::default()
    } else {
        clients::LocalhostHttp::InsecureAllow
    }
}

fn uris(
    state: &ApiState,
    field: &str,
    list: &[String],
) -> Result<Vec<tessera_core::RedirectUri>, Problem> {
    list.iter()
        .enumerate()
        .map(|(i, uri)| {
            clients::parse_redirect_uri(uri, localhost_http(state)).map_err(|e| {
                let detail = match e {
                    tessera_service::ServiceError::InvalidRedirectUri { reason } => reason,
                    other => other.to_string(),
                };
                Problem::invalid_field(&format!("{field}[{i}]"), detail)
            })
        })
        .collect()
}

fn client_id(text: &str) -> Result<ClientId, Problem> {
    ClientId::parse(text).map_err(|_| Problem::not_found("the client"))
}

/// Lists a tenant's clients.
#[utoipa::path(get, path = "/tenants/{tenant}/clients", tag = "clients",
    params(("tenant" = String, Path, description = "The tenant id"), ClientQuery, PageQuery),
    responses(
        (status = 200, description = "A page of clients", body = ClientPage),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_clients(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(filter): Query<ClientQuery>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<ClientPage>, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    load_tenant(&state, &id).await?;
    let filter = ClientFilter {
        prefix: list_filters::query(filter.q.as_deref()),
        client_type: list_filters::client_type(filter.client_type.as_deref())?,
    };
    let limit = paging.limit()?;
    let after = paging
        .after()?
        .map(|a| {
            ClientId::parse(&a)
                .map_err(|_| Problem::invalid_field("cursor", "not a cursor of this API"))
        })
        .transpose()?;
    let found = clients::list_clients_page(
        state.provider.store.as_ref(),
        &id,
        &filter,
        after.as_ref(),
        limit,
    )
    .await?;
    Ok(Json(ClientPage {
        items: found.clients.iter().map(client_view).collect(),
        next_cursor: found
            .next
            .map(|last| super::extract::cursor_of(last.as_str())),
    }))
}

/// Registers a client; a confidential client's secret is in this answer only.
#[utoipa::path(post, path = "/tenants/{tenant}/clients", tag = "clients",
    params(("tenant" = String, Path, description = "The tenant id")),
    request_body = NewClientBody,
    responses(
        (status = 201, description = "The client and its secret", body = IssuedClient),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_client(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<NewClientBody>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    if body.redirect_uris.is_empty() {
        return Err(Problem::invalid_field(
            "redirect_uris",
            "at least one is required",
        ));
    }
    let new = clients::NewClient {
        tenant: id.clone(),
        redirect_uris: uris(&state, "redirect_uris", &body.redirect_uris)?,
        post_logout_redirect_uris: uris(
            &state,
            "post_logout_redirect_uris",
            &body.post_logout_redirect_uris,
        )?,
        kind: match body.token_endpoint_auth_method {
            ClientAuthName::ClientSecretBasic => clients::ClientKind::ConfidentialBasic,
            ClientAuthName::ClientSecretPost => clients::ClientKind::ConfidentialPost,
            ClientAuthName::None => clients::ClientKind::Public,
        },
        id_token_alg: body.id_token_signed_response_alg.into(),
        name: body.name,
    };
    let (client, secret) =
        clients::create_client(state.provider.store.as_ref(), new, state.now()).await?;
    let view = client_view(&client);
    record(
        &state,
        &caller,
        Change {
            action: actions::CLIENT_CREATE,
            target: format!("tenants/{id}/clients/{}", view.client_id),
            tenant: Some(id.to_string()),
            before: None,
            after: json(&view),
        },
    )
    .await?;
    let body = IssuedClient {
        client: view,
        client_secret: secret.map(|s| s.expose().to_owned()),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn load_client(state: &ApiState, tenant: &TenantId, id: &str) -> Result<ClientView, Problem> {
    Ok(load_client_record(state, tenant, id).await?.1)
}

/// A client as stored and as the API shows it (the record is what a conditional write is based on).
async fn load_client_record(
    state: &ApiState,
    tenant: &TenantId,
    id: &str,
) -> Result<(tessera_store::Client, ClientView), Problem> {
    let id = client_id(id)?;
    let client = clients::get_client(state.provider.store.as_ref(), tenant, &id).await?;
    let view = client_view(&client);
    Ok((client, view))
}

/// Reads a client (with its `ETag`).
#[utoipa::path(get, path = "/tenants/{tenant}/clients/{client_id}", tag = "clients",
    params(("tenant" = String, Path, description = "The tenant id"), ("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 200, description = "The client", body = ClientView, headers(("ETag" = String, description = "The version, for `If-Match`"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_client(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, client)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    Ok(with_etag(load_client(&state, &id, &client).await?))
}

/// Changes a client's name or redirect URIs (`If-Match` required).
#[utoipa::path(patch, path = "/tenants/{tenant}/clients/{client_id}", tag = "clients",
    params(("tenant" = String, Path, description = "The tenant id"), ("client_id" = String, Path, description = "The client id"),
           ("If-Match" = String, Header, description = "The `ETag` of the version read")),
    request_body = ClientPatch,
    responses(
        (status = 200, description = "The changed client", body = ClientView, headers(("ETag" = String, description = "The new version"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The client changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update_client(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, client)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ClientPatch>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let (read, before) = load_client_record(&state, &id, &client).await?;
    check_if_match(&headers, &etag_of(&before))?;
    let update = clients::ClientUpdate {
        name: body.name,
        redirect_uris: body
            .redirect_uris
            .as_deref()
            .map(|u| uris(&state, "redirect_uris", u))
            .transpose()?,
        post_logout_redirect_uris: body
            .post_logout_redirect_uris
            .as_deref()
            .map(|u| uris(&state, "post_logout_redirect_uris", u))
            .transpose()?,
    };
    let changed = clients::update_client(
        state.provider.store.as_ref(),
        &id,
        &client_id(&client)?,
        update,
        Some(&read),
    )
    .await?;
    let after = client_view(&changed);
    record(
        &state,
        &caller,
        Change {
            action: actions::CLIENT_UPDATE,
            target: format!("tenants/{id}/clients/{client}"),
            tenant: Some(id.to_string()),
            before: json(&before),
            after: json(&after),
        },
    )
    .await?;
    Ok(with_etag(after))
}

/// Gives a confidential client a new secret (shown in this answer only); the old one stops working at once.
#[utoipa::path(post, path = "/tenants/{tenant}/clients/{client_id}/secret", tag = "clients",
    params(("tenant" = String, Path, description = "The tenant id"), ("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 201, description = "The client and its new secret", body = IssuedClient),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A public client has no secret", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn regenerate_client_secret(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, client)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let (changed, secret) =
        clients::regenerate_secret(state.provider.store.as_ref(), &id, &client_id(&client)?)
            .await?;
    let view = client_view(&changed);
    record(
        &state,
        &caller,
        Change {
            action: actions::CLIENT_SECRET_REGENERATE,
            target: format!("tenants/{id}/clients/{client}"),
            tenant: Some(id.to_string()),
            before: None,
            after: json(&view),
        },
    )
    .await?;
    let body = IssuedClient {
        client: view,
        client_secret: Some(secret.expose().to_owned()),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Deletes a client and everything it was issued (`If-Match` required).
#[utoipa::path(delete, path = "/tenants/{tenant}/clients/{client_id}", tag = "clients",
    params(("tenant" = String, Path, description = "The tenant id"), ("client_id" = String, Path, description = "The client id"),
           ("If-Match" = String, Header, description = "The `ETag` of the version read")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The client changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_client(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, client)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let (read, before) = load_client_record(&state, &id, &client).await?;
    check_if_match(&headers, &etag_of(&before))?;
    clients::delete_client(
        state.provider.store.as_ref(),
        &id,
        &client_id(&client)?,
        Some(&read),
    )
    .await?;
    record(
        &state,
        &caller,
        Change {
            action: actions::CLIENT_DELETE,
            target: format!("tenants/{id}/clients/{client}"),
            tenant: Some(id.to_string()),
            before: json(&before),
            after: None,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------------------------
// Users and passkeys

/// A user of the authenticator service.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    /// The user id.
    pub id: String,
    /// The username.
    pub username: String,
    /// The display name.
    pub display_name: String,
    /// The email address, if given.
    pub email: Option<String>,
    /// When the account was created.
    pub created_at: String,
    /// When an administrator disabled the user (RFC 3339); absent: active.
    pub disabled_at: Option<String>,
}

/// A passkey (never its key material).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PasskeyView {
    /// The credential id (base64url).
    pub id: String,
    /// The name the user or an admin gave it.
    pub nickname: String,
    /// The authenticator model's AAGUID.
    pub aaguid: String,
    /// Its COSE algorithm (`-7` ES256, `-8` EdDSA, `-257` RS256).
    pub alg: i64,
    /// Whether it may be synced (backup eligible) and is backed up.
    pub backup_eligible: bool,
    /// Whether it is backed up now.
    pub backup_state: bool,
    /// The attestation format it was registered with.
    pub attestation_format: String,
    /// Whether its attestation chained to a trusted root.
    pub attestation_trusted: bool,
    /// When it was registered.
    pub created_at: String,
    /// When it last signed in.
    pub last_used_at: Option<String>,
}

/// The API's view of a passkey.
pub fn passkey_view(c: &Credential) -> PasskeyView {
    PasskeyView {
        id: B64.encode(&c.credential_id),
        nickname: c.nickname.clone(),
        aaguid: metadata::aaguid_text(&c.aaguid),
        alg: c.alg,
        backup_eligible: c.backup_eligible,
        backup_state: c.backup_state,
        attestation_format: c.attestation_format.clone(),
        attestation_trusted: c.attestation_trusted,
        created_at: rfc3339(c.created_at),
        last_used_at: c.last_used_at.map(rfc3339),
    }
}

page_of!(PasskeyPage, PasskeyView, "passkeys");

async fn load_user(
    state: &ApiState,
    caller: &Caller,
    tenant: &str,
    user: &str,
) -> Result<(TenantId, UserId, UserView), Problem> {
    let id = tenant_id(caller, tenant)?;
    let user_id = UserId::parse(user).map_err(|_| Problem::not_found("the user"))?;
    let user = users::get_user(state.provider.store.as_ref(), &id, &user_id).await?;
    Ok((id, user_id, user_view(&user)))
}

/// A user as stored and as the API shows it (the record is what a conditional write is based on).
async fn load_user_record(
    state: &ApiState,
    caller: &Caller,
    tenant: &str,
    user: &str,
) -> Result<(TenantId, tessera_store::User, UserView), Problem> {
    let id = tenant_id(caller, tenant)?;
    let user_id = UserId::parse(user).map_err(|_| Problem::not_found("the user"))?;
    let user = users::get_user(state.provider.store.as_ref(), &id, &user_id).await?;
    let view = user_view(&user);
    Ok((id, user, view))
}

/// The API's view of a user.
pub fn user_view(user: &tessera_store::User) -> UserView {
    UserView {
        id: user.id.to_string(),
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        email: user.email.clone(),
        created_at: rfc3339(user.created_at),
        disabled_at: user.disabled_at.map(rfc3339),
    }
}

page_of!(UserPage, UserView, "users");

/// The user search.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// The start of the username or display name (case-insensitive; empty: everyone).
    pub q: Option<String>,
}

/// Searches a tenant's users by the start of their username or display name, ordered by id.
#[utoipa::path(get, path = "/tenants/{tenant}/users", tag = "users",
    params(("tenant" = String, Path, description = "The tenant id"), UserQuery, StatusQuery, PageQuery),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is invalid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn search_users(
    State(state): State<ApiState>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(search): Query<UserQuery>,
    Query(status): Query<StatusQuery>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<UserPage>, Problem> {
    let id = tenant_id(&caller, &tenant)?;
    let status = list_filters::account_status(status.status.as_deref())?;
    let limit = paging.limit()?;
    let after = paging
        .after()?
        .map(|a| {
            UserId::parse(&a)
                .map_err(|_| Problem::invalid_field("cursor", "not a cursor of this API"))
        })
        .transpose()?;
    let found = users::search_users(
        state.provider.store.as_ref(),
        &id,
        search.q.as_deref().unwrap_or_default(),
        status,
        after.as_ref(),
        limit,
    )
    .await?;
    Ok(Json(UserPage {
        items: found.users.iter().map(user_view).collect(),
        next_cursor: found
            .next
            .map(|last| super::extract::cursor_of(last.as_str())),
    }))
}

/// Reads a user (with its `ETag`).
#[utoipa::path(get, path = "/tenants/{tenant}/users/{user_id}", tag = "users",
    params(("tenant" = String, Path, description = "The tenant id"), ("user_id" = String, Path, description = "The user id")),
    responses(
        (status = 200, description = "The user", body = UserView, headers(("ETag" = String, description = "The version, for `If-Match`"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_user(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, user)): Path<(String, String)>,
) -> Result<Response, Problem> {
    Ok(with_etag(
        load_user(&state, &caller, &tenant, &user).await?.2,
    ))
}

/// Deletes a user (`If-Match` required): their passkeys go, their sessions end and their tokens stop working at
/// once.
#[utoipa::path(delete, path = "/tenants/{tenant}/users/{user_id}", tag = "users",
    params(("tenant" = String, Path, description = "The tenant id"), ("user_id" = String, Path, description = "The user id"),
           ("If-Match" = String, Header, description = "The `ETag` of the version read")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The user changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_user(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let (id, read, before) = load_user_record(&state, &caller, &tenant, &user).await?;
    check_if_match(&headers, &etag_of(&before))?;
    let user_id = read.id.clone();
    users::delete_user(
        state.provider.store.as_ref(),
        &id,
        &user_id,
        state.now(),
        Some(&read),
    )
    .await?;
    record(
        &state,
        &caller,
        Change {
            action: actions::USER_DELETE,
            target: format!("tenants/{id}/users/{user_id}"),
            tenant: Some(id.to_string()),
            before: json(&before),
            after: None,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Disables or enables a user from the version the `If-Match` names (428 without, 412 if it changed since, also
/// between this read and the write).
async fn set_disabled(
    state: &ApiState,
    caller: &Caller,
    headers: &HeaderMap,
    (tenant, user): (&str, &str),
    disabled: bool,
) -> Result<Response, Problem> {
    let (id, read, before) = load_user_record(state, caller, tenant, user).await?;
    check_if_match(headers, &etag_of(&before))?;
    let user_id = read.id.clone();
    let stored = users::set_disabled(
        state.provider.store.as_ref(),
        &id,
        &user_id,
        disabled,
        state.now(),
        Some(&read),
    )
    .await?;
    let after = user_view(&stored);
    record(
        state,
        caller,
        Change {
            action: if disabled {
                actions::USER_DISABLE
            } else {
                actions::USER_ENABLE
            },
            target: format!("tenants/{id}/users/{user_id}"),
            tenant: Some(id.to_string()),
            before: json(&before),
            after: json(&after),
        },
    )
    .await?;
    Ok(with_etag(after))
}

/// Disables a user: they cannot sign in, and their sessions end and their access and refresh tokens stop working
/// at once (their passkeys stay, for `enable`).
#[utoipa::path(post, path = "/tenants/{tenant}/users/{user_id}/disable", tag = "users",
    params(("tenant" = String, Path, description = "The tenant id"), ("user_id" = String, Path, description = "The user id"),
           ("If-Match" = String, Header, description = "The `ETag` of the user as read")),
    responses(
        (status = 200, description = "The user, disabled", body = UserView, headers(("ETag" = String, description = "The version, for `If-Match`"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The user changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn disable_user(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    set_disabled(&state, &caller, &headers, (&tenant, &user), true).await
}

/// Enables a disabled user again (they sign in with their passkeys as before).
#[utoipa::path(post, path = "/tenants/{tenant}/users/{user_id}/enable", tag = "users",
    params(("tenant" = String, Path, description = "The tenant id"), ("user_id" = String, Path, description = "The user id"),
           ("If-Match" = String, Header, description = "The `ETag` of the user as read")),
    responses(
        (status = 200, description = "The user, active", body = UserView, headers(("ETag" = String, description = "The version, for `If-Match`"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The user changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn enable_user(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    set_disabled(&state, &caller, &headers, (&tenant, &user), false).await
}

/// Lists a user's passkeys.
#[utoipa::path(get, path = "/tenants/{tenant}/users/{user_id}/passkeys", tag = "users",
    params(("tenant" = String, Path, description = "The tenant id"), ("user_id" = String, Path, description = "The user id"), PasskeyQuery, PageQuery),
    responses(
        (status = 200, description = "A page of passkeys", body = PasskeyPage),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_passkeys(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, user)): Path<(String, String)>,
    Query(filter): Query<PasskeyQuery>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<PasskeyPage>, Problem> {
    let (id, user_id, _) = load_user(&state, &caller, &tenant, &user).await?;
    let filter = PasskeyFilter::parse(
        filter.q.as_deref(),
        filter.alg.as_deref(),
        filter.aaguid.as_deref(),
    )?;
    let views = users::list_passkeys(state.provider.store.as_ref(), &id, &user_id)
        .await?
        .iter()
        .filter(|p| filter.matches(p))
        .map(passkey_view)
        .collect();
    let (items, next_cursor) = page(views, |p: &PasskeyView| p.id.clone(), &paging)?;
    Ok(Json(PasskeyPage { items, next_cursor }))
}

/// A passkey's new name.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRename {
    /// 1 to 64 characters.
    pub nickname: String,
}

async fn load_passkey(
    state: &ApiState,
    id: &TenantId,
    user_id: &UserId,
    passkey: &str,
) -> Result<(tessera_store::Credential, PasskeyView), Problem> {
    let raw = B64
        .decode(passkey)
        .map_err(|_| Problem::not_found("the passkey"))?;
    let credential = users::get_passkey(state.provider.store.as_ref(), id, user_id, &raw).await?;
    let view = passkey_view(&credential);
    Ok((credential, view))
}

/// Reads one of a user's passkeys (with its `ETag`).
#[utoipa::path(get, path = "/tenants/{tenant}/users/{user_id}/passkeys/{passkey_id}", tag = "users",
    params(("tenant" = String, Path, description = "The tenant id"), ("user_id" = String, Path, description = "The user id"),
           ("passkey_id" = String, Path, description = "The credential id (base64url)")),
    responses(
        (status = 200, description = "The passkey", body = PasskeyView, headers(("ETag" = String, description = "The version, for `If-Match`"))),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such passkey", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_passkey(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, user, passkey)): Path<(String, String, String)>,
) -> Result<Response, Problem> {
    let (id, user_id, _) = load_user(&state, &caller, &tenant, &user).await?;
    let (_, view) = load_passkey(&state, &id, &user_id, &passkey).await?;
    Ok(with_etag(view))
}

/// Renames a passkey (`If-Match` required).
#[utoipa::path(patch, path = "/tenants/{tenant}/users/{user_id}/passkeys/{passkey_id}", tag = "users",
    params(("tenant" = String, Path, description = "The tenant id"), ("user_id" = String, Path, description = "The user id"),
           ("passkey_id" = String, Path, description = "The credential id (base64url)"),
           ("If-Match" = String, Header, description = "The `ETag` of the passkey as read")),
    request_body = PasskeyRename,
    responses(
        (status = 200, description = "The renamed passkey", body = PasskeyView),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such passkey", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The passkey changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn rename_passkey(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, user, passkey)): Path<(String, String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PasskeyRename>,
) -> Result<Response, Problem> {
    let (id, user_id, _) = load_user(&state, &caller, &tenant, &user).await?;
    let (read, before) = load_passkey(&state, &id, &user_id, &passkey).await?;
    check_if_match(&headers, &etag_of(&before))?;
    let renamed = users::rename_passkey(
        state.provider.store.as_ref(),
        &id,
        &user_id,
        &read.credential_id,
        &body.nickname,
        Some(&read),
    )
    .await
    .map_err(|e| match e {
        tessera_service::ServiceError::InvalidInput(_) => {
            Problem::invalid_field("nickname", "1 to 64 printable characters")
        }
        other => other.into(),
    })?;
    let after = passkey_view(&renamed);
    record(
        &state,
        &caller,
        Change {
            action: actions::USER_PASSKEY_RENAME,
            target: format!("tenants/{id}/users/{user_id}/passkeys/{passkey}"),
            tenant: Some(id.to_string()),
            before: json(&before),
            after: json(&after),
        },
    )
    .await?;
    Ok(with_etag(after))
}

/// Revokes a passkey: the sessions signed in with it end and the tokens bound to it are revoked at once. The
/// user's last passkey cannot be revoked (409).
#[utoipa::path(delete, path = "/tenants/{tenant}/users/{user_id}/passkeys/{passkey_id}", tag = "users",
    params(("tenant" = String, Path, description = "The tenant id"), ("user_id" = String, Path, description = "The user id"),
           ("passkey_id" = String, Path, description = "The credential id (base64url)"),
           ("If-Match" = String, Header, description = "The `ETag` of the passkey as read")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid API token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such passkey", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The user's last passkey", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The passkey changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No `If-Match`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn revoke_passkey(
    State(state): State<ApiState>,
    caller: Caller,
    Path((tenant, user, passkey)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let (id, user_id, _) = load_user(&state, &caller, &tenant, &user).await?;
    let (read, before) = load_passkey(&state, &id, &user_id, &passkey).await?;
    check_if_match(&headers, &etag_of(&before))?;
    users::revoke_passkey(
        state.provider.store.as_ref(),
        &id,
        &user_id,
        &read.credential_id,
        state.now(),
        Some(&read),
    )
    .await
    .map_err(|e| match e {
        tessera_service::ServiceError::LastPasskey => {
            Problem::conflict(None, "this is the user's only passkey")
        }
        other => other.into(),
    })?;
    record(
        &state,
        &caller,
        Change {
            action: actions::USER_PASSKEY_REVOKE,
            target: format!("tenants/{id}/users/{user_id}/passkeys/{passkey}"),
            tenant: Some(id.to_string()),
            before: json(&before),
            after: None,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
