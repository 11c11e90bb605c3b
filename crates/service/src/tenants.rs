//! Tenants and their authenticator policy: creation (with fresh signing keys), settings changes, and the policy's
//! parsing and checks. The `tessera idp tenant` commands, `tessera webauthn` and (later) the admin API call these.
//!
//! Each takes the store, the master key and `now` explicitly, so it runs the same from a one-shot command or a
//! request handler.

use tessera_core::text::is_disallowed_char;
use tessera_core::{Origin, RpId, TenantId};
use tessera_oidc::keys::{MasterKey, SigningAlg};
use tessera_store::{KeyStatus, Store, StoreError, Tenant, TenantContents, TenantDeletion};
use tessera_webauthn::json::UserVerificationRequirement;
use tessera_webauthn::{
    Aaguid, AttestationPolicy, AuthenticatorPolicy, CertificationLevel, SignCountPolicy,
    SyncedPasskeys,
};
use time::OffsetDateTime;

use crate::error::{Result, ServiceError};
use crate::keys::new_signing_key;

/// What a new tenant needs.
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// The path segment.
    pub id: TenantId,
    /// The WebAuthn RP ID (a registrable domain, `localhost` for local use).
    pub rp_id: RpId,
    /// Origins allowed in WebAuthn responses, compared exactly; each must be within the RP ID.
    pub origins: Vec<Origin>,
    /// Name shown to users; the id when absent.
    pub display_name: Option<String>,
}

impl NewTenant {
    /// A new tenant from an operator's text: `rp_id` parsed as an [`RpId`], each origin as an [`Origin`] within it.
    pub fn parse(
        id: TenantId,
        rp_id: &str,
        origins: &[String],
        display_name: Option<String>,
    ) -> Result<Self> {
        let rp_id = parse_rp_id(rp_id)?;
        let origins = parse_origins(&rp_id, origins)?;
        Ok(Self {
            id,
            rp_id,
            origins,
            display_name,
        })
    }
}

/// Creates a tenant with fresh RS256 and ES256 signing keys (stored encrypted under `master`) and the default
/// authenticator policy.
pub async fn create_tenant(
    store: &dyn Store,
    master: &MasterKey,
    new: NewTenant,
    now: OffsetDateTime,
) -> Result<Tenant> {
    create_tenant_with_policy(store, master, new, None, now).await
}

/// Creates a tenant as [`create_tenant`] does, with `policy` as its authenticator policy (`None`: the defaults).
pub async fn create_tenant_with_policy(
    store: &dyn Store,
    master: &MasterKey,
    new: NewTenant,
    policy: Option<&AuthenticatorPolicy>,
    now: OffsetDateTime,
) -> Result<Tenant> {
    let origins = checked_origins(&new.rp_id, &new.origins)?;
    let display_name = match &new.display_name {
        Some(name) => validate_display_name(name)?,
        None => new.id.to_string(),
    };
    let policy = match policy {
        Some(policy) => {
            validate_policy(policy)?;
            policy_json(policy)?
        }
        None => serde_json::json!({}),
    };
    let tenant = Tenant {
        display_name,
        id: new.id,
        rp_id: new.rp_id.into(),
        origins,
        policy,
        created_at: now,
        revision: Tenant::FIRST_REVISION,
        settings: serde_json::json!({}),
    };
    let mut keys = Vec::new();
    for alg in [SigningAlg::Rs256, SigningAlg::Es256] {
        keys.push(new_signing_key(master, &tenant.id, alg, KeyStatus::Active, now).await?);
    }
    // One transaction: a tenant never exists without its keys.
    store
        .create_tenant_with_keys(&tenant, &keys)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => ServiceError::TenantExists,
            other => other.into(),
        })?;
    Ok(tenant)
}

/// Checks a tenant's WebAuthn origins: at least one, each within the RP ID (WebAuthn L3 §5.1.3 step 9: the RP ID
/// must be the origin's host or a registrable suffix of it).
fn checked_origins(rp_id: &RpId, origins: &[Origin]) -> Result<Vec<String>> {
    if origins.is_empty() {
        return Err(ServiceError::InvalidOrigin {
            reason: "at least one origin is required".into(),
        });
    }
    origins
        .iter()
        .map(|origin| {
            if !is_secure_context(origin) {
                Err(ServiceError::InvalidOrigin {
                    reason: format!(
                        "{:?}: browsers allow WebAuthn only on https origins (http only on localhost or a \
                         loopback address)",
                        origin.as_str()
                    ),
                })
            } else if origin.is_within(rp_id) {
                Ok(origin.as_str().to_owned())
            } else {
                Err(ServiceError::InvalidOrigin {
                    reason: format!(
                        "{:?} is not within the RP ID {:?}",
                        origin.as_str(),
                        rp_id.as_str()
                    ),
                })
            }
        })
        .collect()
}

/// Whether browsers treat `origin` as a secure context, where they allow WebAuthn: `https`, or `http` on
/// `localhost`, a `*.localhost` name or a loopback address (W3C Secure Contexts §3.1, "potentially trustworthy").
pub fn is_secure_context(origin: &Origin) -> bool {
    let Ok(url) = url::Url::parse(origin.as_str()) else {
        return false;
    };
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => true,
        ("http", Some(url::Host::Domain(name))) => {
            name == "localhost" || name.ends_with(".localhost")
        }
        ("http", Some(url::Host::Ipv4(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Ipv6(ip))) => ip.is_loopback(),
        _ => false,
    }
}

/// Parses origins as an operator types them, each within `rp_id`.
pub fn parse_origins(rp_id: &RpId, origins: &[String]) -> Result<Vec<Origin>> {
    origins
        .iter()
        .map(|text| {
            Origin::parse_within(text, rp_id).map_err(|e| ServiceError::InvalidOrigin {
                reason: match e {
                    tessera_core::OriginError::OutsideRpId => {
                        format!("{text:?} is not within the RP ID {:?}", rp_id.as_str())
                    }
                    other => format!("{text:?} {other}"),
                },
            })
        })
        .collect()
}

/// Parses an RP ID as an operator types it.
pub fn parse_rp_id(text: &str) -> Result<RpId> {
    RpId::parse(text).map_err(|e| ServiceError::InvalidRpId {
        reason: e.to_string(),
    })
}

/// Longest tenant display name accepted.
pub const MAX_TENANT_DISPLAY_NAME: usize = 128;

pub(crate) fn validate_display_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    let refuse = |reason: String| ServiceError::InvalidDisplayName { reason };
    if name.is_empty() {
        return Err(refuse("must not be empty".into()));
    }
    if name.chars().any(is_disallowed_char) {
        return Err(refuse(
            "must not contain control or invisible formatting characters".into(),
        ));
    }
    if name.chars().count() > MAX_TENANT_DISPLAY_NAME {
        return Err(refuse(format!(
            "may be at most {MAX_TENANT_DISPLAY_NAME} characters long"
        )));
    }
    Ok(name.to_owned())
}

/// Changes to a tenant's authenticator policy; `None` leaves a setting as it is. The `tessera idp tenant` commands,
/// `tessera webauthn` and (later) the admin API all go through it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyChange {
    /// User verification required (`true`) or only preferred (`false`).
    pub require_user_verification: Option<bool>,
    /// How much attestation registrations must carry.
    pub attestation: Option<AttestationPolicy>,
    /// The AAGUID allow-list, replaced whole (an empty list allows every model).
    pub aaguid_allow: Option<Vec<Aaguid>>,
    /// The AAGUID deny-list, replaced whole.
    pub aaguid_deny: Option<Vec<Aaguid>>,
    /// The minimum FIDO certification level (`Some(None)` removes it).
    pub minimum_certification_level: Option<Option<CertificationLevel>>,
    /// Synced (backup-eligible) passkeys allowed or refused.
    pub synced_passkeys: Option<SyncedPasskeys>,
    /// What a sign-count regression does.
    pub sign_count: Option<SignCountPolicy>,
    /// The legacy U2F AppID (`Some(None)` removes it).
    pub legacy_appid: Option<Option<String>>,
    /// The COSE algorithms accepted for new passkeys, replaced whole (at least one, each known).
    pub algorithms: Option<Vec<i64>>,
}

impl PolicyChange {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Applies the change to `policy`.
    pub fn apply(&self, policy: &mut AuthenticatorPolicy) {
        if let Some(required) = self.require_user_verification {
            policy.user_verification = if required {
                UserVerificationRequirement::Required
            } else {
                UserVerificationRequirement::Preferred
            };
        }
        if let Some(attestation) = self.attestation {
            policy.attestation = attestation;
        }
        if let Some(list) = &self.aaguid_allow {
            policy.aaguid_allow = dedup(list);
        }
        if let Some(list) = &self.aaguid_deny {
            policy.aaguid_deny = dedup(list);
        }
        if let Some(level) = self.minimum_certification_level {
            policy.minimum_certification_level = level;
        }
        if let Some(synced) = self.synced_passkeys {
            policy.synced_passkeys = synced;
        }
        if let Some(sign_count) = self.sign_count {
            policy.sign_count = sign_count;
        }
        if let Some(algorithms) = &self.algorithms {
            let mut out: Vec<i64> = Vec::with_capacity(algorithms.len());
            for id in algorithms {
                if !out.contains(id) {
                    out.push(*id);
                }
            }
            policy.algorithms = out;
        }
        if let Some(appid) = &self.legacy_appid {
            policy.legacy_appid = appid
                .as_deref()
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned);
        }
    }
}

fn dedup(list: &[Aaguid]) -> Vec<Aaguid> {
    let mut out: Vec<Aaguid> = Vec::with_capacity(list.len());
    for aaguid in list {
        if !out.contains(aaguid) {
            out.push(*aaguid);
        }
    }
    out
}

/// Checks a policy's settings against each other: no AAGUID both allowed and denied, at least one algorithm and
/// each one the engine knows, a legacy AppID that is an `https` URL (or `http` on localhost).
pub fn validate_policy(policy: &AuthenticatorPolicy) -> Result<()> {
    if policy.algorithms.is_empty() {
        return Err(ServiceError::InvalidPolicy {
            setting: "algorithms",
            reason: "at least one algorithm is needed, or no passkey could be created".into(),
        });
    }
    if let Some(unknown) = policy
        .algorithms
        .iter()
        .find(|id| tessera_webauthn::CoseAlgorithm::from_id(**id).is_none())
    {
        return Err(ServiceError::InvalidPolicy {
            setting: "algorithms",
            reason: format!("{unknown} is not a COSE algorithm this service verifies"),
        });
    }
    if let Some(both) = policy
        .aaguid_allow
        .iter()
        .find(|a| policy.aaguid_deny.contains(a))
    {
        return Err(ServiceError::InvalidPolicy {
            setting: "aaguid-allow",
            reason: format!("{both} is both allowed and denied; remove it from one list"),
        });
    }
    if let Some(appid) = &policy.legacy_appid {
        let ok = url::Url::parse(appid).is_ok_and(|u| {
            u.scheme() == "https" || (u.scheme() == "http" && u.host_str() == Some("localhost"))
        });
        if !ok {
            return Err(ServiceError::InvalidPolicy {
                setting: "legacy-appid",
                reason: format!(
                    "{appid:?} is not a U2F AppID like https://example.com/app-id.json"
                ),
            });
        }
    }
    Ok(())
}

/// Parses a FIDO certification level as operators write it: `L1`, `L1plus`, `L2`, `L2plus`, `L3`, `L3plus`,
/// `certified` (functional certification), or the MDS3 status name (`FIDO_CERTIFIED_L1`); case does not matter.
pub fn parse_certification_level(text: &str) -> Result<CertificationLevel> {
    let upper = text.trim().to_ascii_uppercase();
    let short = upper.strip_prefix("FIDO_CERTIFIED").unwrap_or(&upper);
    let short = short.strip_prefix('_').unwrap_or(short);
    let level = match short {
        "" | "CERTIFIED" => CertificationLevel::FidoCertified,
        "L1" => CertificationLevel::FidoCertifiedL1,
        "L1PLUS" | "L1+" => CertificationLevel::FidoCertifiedL1plus,
        "L2" => CertificationLevel::FidoCertifiedL2,
        "L2PLUS" | "L2+" => CertificationLevel::FidoCertifiedL2plus,
        "L3" => CertificationLevel::FidoCertifiedL3,
        "L3PLUS" | "L3+" => CertificationLevel::FidoCertifiedL3plus,
        _ => {
            return Err(ServiceError::InvalidPolicy {
                setting: "min-certification-level",
                reason: format!(
                    "{text:?} is not one of L1, L1plus, L2, L2plus, L3, L3plus, certified"
                ),
            });
        }
    };
    Ok(level)
}

/// The authenticator policy stored with a tenant (an empty or absent policy is the default one).
pub fn tenant_policy(tenant: &Tenant) -> Result<AuthenticatorPolicy> {
    if tenant.policy.is_null() {
        return Ok(AuthenticatorPolicy::default());
    }
    serde_json::from_value(tenant.policy.clone()).map_err(|e| {
        ServiceError::Corrupt(format!(
            "tenant {} has an unreadable policy: {e}",
            tenant.id
        ))
    })
}

fn policy_json(policy: &AuthenticatorPolicy) -> Result<serde_json::Value> {
    serde_json::to_value(policy)
        .map_err(|e| ServiceError::Internal(format!("policy serialization: {e}")))
}

/// Changes to a tenant's settings; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantUpdate {
    /// Name shown to users.
    pub display_name: Option<String>,
    /// Allowed WebAuthn origins, replaced whole (each checked against the tenant's RP ID).
    pub origins: Option<Vec<String>>,
    /// Authenticator policy changes.
    pub policy: PolicyChange,
    /// Session and account-enumeration settings.
    pub settings: SettingsChange,
}

/// How long a session may stay unused before it ends, unless the tenant says otherwise.
pub const DEFAULT_SESSION_IDLE: time::Duration = time::Duration::hours(1);
/// The shortest idle timeout or session lifetime a tenant may set.
pub const MIN_SESSION_SETTING: time::Duration = time::Duration::minutes(1);
/// The longest session lifetime a tenant may set.
pub const MAX_SESSION_LIFETIME: time::Duration = time::Duration::days(30);

/// A tenant's settings beside its authenticator policy, stored as JSON in [`Tenant::settings`]; an absent key is its
/// default.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TenantSettings {
    /// Seconds a browser session may stay unused before it ends ([`DEFAULT_SESSION_IDLE`] when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_idle_seconds: Option<u64>,
    /// Seconds a browser session lasts at most, however busy (the server's `security.session_ttl` when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_lifetime_seconds: Option<u64>,
    /// Whether sign-in hides whether an account exists (`true` when absent): username-first options for an unknown
    /// name look like a real account's, and a refused passkey is answered the same whatever the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hide_account_existence: Option<bool>,
    /// The tenant's own address (`https://login.contoso.com`): requests whose `Host` is this one are the tenant's,
    /// at paths without the tenant segment, and its issuer is `{public_url}/oidc`. Absent: the tenant is served under
    /// the service's address at `/{tenant}/...`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

impl TenantSettings {
    /// The idle timeout.
    pub fn session_idle(&self) -> time::Duration {
        self.session_idle_seconds
            .and_then(|s| i64::try_from(s).ok())
            .map_or(DEFAULT_SESSION_IDLE, time::Duration::seconds)
    }

    /// The absolute session lifetime; `server_default` when the tenant sets none.
    pub fn session_lifetime(&self, server_default: time::Duration) -> time::Duration {
        self.session_lifetime_seconds
            .and_then(|s| i64::try_from(s).ok())
            .map_or(server_default, time::Duration::seconds)
    }

    /// Whether account existence is hidden (on by default).
    pub fn hides_account_existence(&self) -> bool {
        self.hide_account_existence.unwrap_or(true)
    }

    /// The tenant's issuer: `{public_url}/oidc` on its own address, else `{service_url}/{tenant}/oidc`.
    pub fn issuer(&self, service_url: &str, tenant: &TenantId) -> String {
        match &self.public_url {
            Some(own) => format!("{own}/oidc"),
            None => format!("{service_url}/{tenant}/oidc"),
        }
    }
}

/// Changes to a tenant's [`TenantSettings`]; `None` leaves a setting as it is, `Some(None)` returns it to its
/// default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsChange {
    /// The idle timeout, in seconds.
    pub session_idle_seconds: Option<Option<u64>>,
    /// The absolute lifetime, in seconds.
    pub session_lifetime_seconds: Option<Option<u64>>,
    /// Account-enumeration protection.
    pub hide_account_existence: Option<Option<bool>>,
    /// The tenant's own address ([`TenantSettings::public_url`]); `Some(None)` serves it under the service's again.
    pub public_url: Option<Option<String>>,
}

/// The tenant's settings; stored settings that do not parse fail closed.
pub fn tenant_settings(tenant: &Tenant) -> Result<TenantSettings> {
    if tenant.settings.is_null() {
        return Ok(TenantSettings::default());
    }
    serde_json::from_value(tenant.settings.clone()).map_err(|e| {
        ServiceError::Corrupt(format!("tenant {} has unreadable settings: {e}", tenant.id))
    })
}

/// Checks settings against each other: each duration at least [`MIN_SESSION_SETTING`], a lifetime at most
/// [`MAX_SESSION_LIFETIME`], an idle timeout no longer than the lifetime it sits in.
pub fn validate_settings(settings: &TenantSettings) -> Result<()> {
    let refuse = |setting, reason: String| Err(ServiceError::InvalidPolicy { setting, reason });
    let min = MIN_SESSION_SETTING.whole_seconds().unsigned_abs();
    let max = MAX_SESSION_LIFETIME.whole_seconds().unsigned_abs();
    if let Some(idle) = settings.session_idle_seconds
        && idle < min
    {
        return refuse("session-idle-seconds", format!("must be at least {min}"));
    }
    if let Some(lifetime) = settings.session_lifetime_seconds {
        if !(min..=max).contains(&lifetime) {
            return refuse(
                "session-lifetime-seconds",
                format!("must be between {min} and {max}"),
            );
        }
        if settings
            .session_idle_seconds
            .is_some_and(|idle| idle > lifetime)
        {
            return refuse(
                "session-idle-seconds",
                "must not exceed the session lifetime".into(),
            );
        }
    }
    Ok(())
}

/// Checks a tenant's own address ([`TenantSettings::public_url`]) and returns it in its canonical form: a bare
/// origin (`scheme://host[:port]`, no path), `https` (or `http` on `localhost`, `*.localhost` or a loopback address),
/// one of the tenant's WebAuthn origins (so its passkeys work there) and within its RP ID.
pub fn checked_public_url(tenant: &Tenant, url: &str) -> Result<String> {
    let refuse = |reason: String| {
        Err(ServiceError::InvalidPolicy {
            setting: "public-url",
            reason,
        })
    };
    let trimmed = url.trim_end_matches('/');
    let origin = match Origin::parse(trimmed) {
        Ok(origin) => origin,
        Err(e) => return refuse(format!("{url} {e}")),
    };
    let parsed = url::Url::parse(origin.as_str()).map_err(|e| ServiceError::InvalidPolicy {
        setting: "public-url",
        reason: format!("{url}: {e}"),
    })?;
    match parsed.scheme() {
        "https" => {}
        "http" if tessera_core::web::is_loopback_host(&parsed) => {}
        _ => {
            return refuse(format!(
                "{url} must use https (http only on localhost, *.localhost or a loopback address)"
            ));
        }
    }
    let rp_id = RpId::parse(&tenant.rp_id)
        .map_err(|e| ServiceError::Corrupt(format!("tenant {} rp_id: {e}", tenant.id)))?;
    if !origin.is_within(&rp_id) {
        return refuse(format!(
            "{url} is outside the tenant's RP ID {}: passkeys of {} would not work there",
            tenant.rp_id, tenant.rp_id
        ));
    }
    if !tenant.origins.iter().any(|o| o == origin.as_str()) {
        return refuse(format!(
            "{origin} is not one of the tenant's origins ({}); add it with --origin first",
            tenant.origins.join(", ")
        ));
    }
    Ok(origin.as_str().to_owned())
}

/// Refuses an own address already taken by another tenant: one address serves one tenant.
async fn refuse_shared_address(store: &dyn Store, tenant: &Tenant) -> Result<()> {
    let own = tenant_settings(tenant)?.public_url;
    for other in store.list_tenants().await? {
        if other.id == tenant.id {
            continue;
        }
        if tenant_settings(&other).ok().and_then(|s| s.public_url) == own {
            return Err(ServiceError::InvalidPolicy {
                setting: "public-url",
                reason: format!(
                    "{} already serves tenant {}",
                    own.unwrap_or_default(),
                    other.id
                ),
            });
        }
    }
    Ok(())
}

/// Deletes a tenant with everything of it (clients, users and their passkeys, signing keys, sessions, codes and
/// tokens) in one transaction and returns what it held. Unless `force`, a tenant with clients or users is kept:
/// [`ServiceError::TenantNotEmpty`] counts them. A server in the same process should then call
/// `state.tenants.invalidate(id)`.
pub async fn delete_tenant(
    store: &dyn Store,
    id: &TenantId,
    force: bool,
) -> Result<TenantContents> {
    match store.delete_tenant(id, force).await {
        Ok(TenantDeletion::Deleted(held)) => Ok(held),
        Ok(TenantDeletion::NotEmpty(held)) => Err(ServiceError::TenantNotEmpty {
            clients: held.clients,
            users: held.users,
        }),
        Err(StoreError::NotFound) => Err(ServiceError::TenantNotFound),
        Err(other) => Err(other.into()),
    }
}

/// How often [`update_tenant`] reapplies a change that lost a race with another writer of the tenant.
const TENANT_UPDATE_ATTEMPTS: usize = 3;

/// Updates a tenant's display name, origins and authenticator policy (validated as at creation) and returns the
/// stored tenant. A server in the same process should then call `state.tenants.invalidate(id)`; other processes pick
/// the change up when their cache entry expires (`tenant_cache_ttl`, a minute).
///
/// The store writes the tenant only if nobody changed it since it was read (its revision); otherwise the change is
/// applied again to the newer tenant, so that neither writer's change is lost.
pub async fn update_tenant(
    store: &dyn Store,
    id: &TenantId,
    update: &TenantUpdate,
) -> Result<Tenant> {
    for _ in 0..TENANT_UPDATE_ATTEMPTS {
        let mut tenant = store
            .get_tenant(id)
            .await?
            .ok_or(ServiceError::TenantNotFound)?;
        apply_tenant_update(&mut tenant, update)?;
        if let Some(Some(_)) = &update.settings.public_url {
            refuse_shared_address(store, &tenant).await?;
        }
        match store.update_tenant(&tenant).await {
            Ok(revision) => {
                tenant.revision = revision;
                return Ok(tenant);
            }
            Err(StoreError::Conflict) => continue,
            Err(StoreError::NotFound) => return Err(ServiceError::TenantNotFound),
            Err(other) => return Err(other.into()),
        }
    }
    Err(ServiceError::Store(StoreError::Conflict))
}

/// Updates a tenant as [`update_tenant`] does, but only if it is still at revision `based_on` (the revision the
/// caller read, whose `ETag` or form version it checked): one conditional write, never reapplied. If anyone changed
/// the tenant since, nothing is written and [`ServiceError::Changed`] says so; of two changes based on one
/// revision exactly one is saved. The admin API and the portal use this; [`update_tenant`] is for callers that read
/// nothing first (the offline CLI).
pub async fn update_tenant_from(
    store: &dyn Store,
    id: &TenantId,
    based_on: u64,
    update: &TenantUpdate,
) -> Result<Tenant> {
    let mut tenant = store
        .get_tenant(id)
        .await?
        .ok_or(ServiceError::TenantNotFound)?;
    if tenant.revision != based_on {
        return Err(ServiceError::Changed { what: "tenant" });
    }
    apply_tenant_update(&mut tenant, update)?;
    if let Some(Some(_)) = &update.settings.public_url {
        refuse_shared_address(store, &tenant).await?;
    }
    match store.update_tenant(&tenant).await {
        Ok(revision) => {
            tenant.revision = revision;
            Ok(tenant)
        }
        Err(StoreError::Conflict) => Err(ServiceError::Changed { what: "tenant" }),
        Err(StoreError::NotFound) => Err(ServiceError::TenantNotFound),
        Err(other) => Err(other.into()),
    }
}

fn apply_tenant_update(tenant: &mut Tenant, update: &TenantUpdate) -> Result<()> {
    if let Some(name) = &update.display_name {
        tenant.display_name = validate_display_name(name)?;
    }
    if let Some(origins) = &update.origins {
        let rp_id = RpId::parse(&tenant.rp_id)
            .map_err(|e| ServiceError::Corrupt(format!("tenant {} rp_id: {e}", tenant.id)))?;
        tenant.origins = checked_origins(&rp_id, &parse_origins(&rp_id, origins)?)?;
    }
    if !update.policy.is_empty() {
        let mut policy = tenant_policy(tenant)?;
        update.policy.apply(&mut policy);
        validate_policy(&policy)?;
        tenant.policy = policy_json(&policy)?;
    }
    if update.settings != SettingsChange::default() {
        let mut settings = tenant_settings(tenant)?;
        let change = &update.settings;
        if let Some(idle) = change.session_idle_seconds {
            settings.session_idle_seconds = idle;
        }
        if let Some(lifetime) = change.session_lifetime_seconds {
            settings.session_lifetime_seconds = lifetime;
        }
        if let Some(hide) = change.hide_account_existence {
            settings.hide_account_existence = hide;
        }
        if let Some(own) = &change.public_url {
            settings.public_url = own
                .as_deref()
                .map(|url| checked_public_url(tenant, url))
                .transpose()?;
        }
        validate_settings(&settings)?;
        tenant.settings = serde_json::to_value(&settings)
            .map_err(|e| ServiceError::Internal(format!("settings serialization: {e}")))?;
    }
    if update.origins.is_some()
        && let Some(own) = tenant_settings(tenant)?.public_url
    {
        // The tenant's own address must stay one of its origins.
        checked_public_url(tenant, &own)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(rp: &str, list: &[&str]) -> Result<Vec<String>> {
        let rp_id = parse_rp_id(rp)?;
        let list: Vec<String> = list.iter().map(|o| (*o).to_owned()).collect();
        checked_origins(&rp_id, &parse_origins(&rp_id, &list)?)
    }

    fn tenant_with(rp_id: &str, origins: &[&str]) -> Tenant {
        Tenant {
            id: TenantId::parse("north").expect("id"),
            display_name: "North".into(),
            rp_id: rp_id.into(),
            origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            policy: serde_json::json!({}),
            created_at: OffsetDateTime::UNIX_EPOCH,
            revision: Tenant::FIRST_REVISION,
            settings: serde_json::json!({}),
        }
    }

    #[test]
    fn a_tenants_own_address_is_one_of_its_secure_origins_within_its_rp_id() {
        let tenant = tenant_with(
            "login.north.example",
            &[
                "https://login.north.example",
                "https://eu.login.north.example",
            ],
        );
        assert_eq!(
            checked_public_url(&tenant, "https://login.north.example/").expect("own address"),
            "https://login.north.example",
            "a trailing slash is dropped"
        );
        let local = tenant_with("north.localhost", &["http://north.localhost:8080"]);
        assert!(checked_public_url(&local, "http://north.localhost:8080").is_ok());
        for (tenant, url, says) in [
            (
                &tenant,
                "https://other.example",
                "outside the tenant's RP ID",
            ),
            (
                &tenant,
                "https://x.login.north.example",
                "not one of the tenant's origins",
            ),
            (&tenant, "https://login.north.example/oidc", "bare origin"),
            (&tenant, "http://login.north.example", "must use https"),
            (
                &local,
                "https://south.localhost:8080",
                "outside the tenant's RP ID",
            ),
            (
                &local,
                "http://north.localhost:9090",
                "not one of the tenant's origins",
            ),
        ] {
            let refused = checked_public_url(tenant, url);
            assert!(
                matches!(&refused, Err(ServiceError::InvalidPolicy { setting: "public-url", reason }) if reason.contains(says)),
                "{url}: {refused:?}"
            );
        }
    }

    #[test]
    fn the_issuer_follows_the_tenants_address() {
        let id = TenantId::parse("north").expect("id");
        let shared = TenantSettings::default();
        assert_eq!(
            shared.issuer("http://localhost:8080", &id),
            "http://localhost:8080/north/oidc"
        );
        let own = TenantSettings {
            public_url: Some("https://login.north.example".into()),
            ..TenantSettings::default()
        };
        assert_eq!(
            own.issuer("http://localhost:8080", &id),
            "https://login.north.example/oidc"
        );
    }

    #[test]
    fn tenant_configuration_refuses_origins_browsers_will_not_allow_for_webauthn() {
        for (rp, origin) in [
            ("shop.example", "http://shop.example"),
            ("shop.example", "http://login.shop.example:8080"),
            ("shop.example", "https://evil.example"),
            ("shop.example", "https://shop.example.evil.example"),
        ] {
            let refused = origins(rp, &[origin]);
            assert!(
                matches!(refused, Err(ServiceError::InvalidOrigin { .. })),
                "{origin} under {rp}: {refused:?}"
            );
        }
        let plain = origins("shop.example", &["http://shop.example"]);
        assert!(
            plain.is_err_and(|e| e.to_string().contains("https")),
            "the message says why"
        );
        for (rp, origin) in [
            ("shop.example", "https://shop.example"),
            ("shop.example", "https://login.shop.example:8443"),
            ("localhost", "http://localhost:8080"),
        ] {
            assert!(origins(rp, &[origin]).is_ok(), "{origin} under {rp}");
        }
    }

    #[test]
    fn secure_contexts_are_https_or_loopback_http() {
        for (text, secure) in [
            ("https://a.example", true),
            ("http://localhost", true),
            ("http://app.localhost:3000", true),
            ("http://127.0.0.1:8080", true),
            ("http://[::1]:8080", true),
            ("http://a.example", false),
            ("http://10.0.0.1", false),
        ] {
            let origin = Origin::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(is_secure_context(&origin), secure, "{text}");
        }
    }

    #[test]
    fn tenant_settings_default_to_hiding_accounts_and_an_hour_of_idleness() {
        let settings = TenantSettings::default();
        assert!(settings.hides_account_existence());
        assert_eq!(settings.session_idle(), DEFAULT_SESSION_IDLE);
        let server = time::Duration::hours(12);
        assert_eq!(settings.session_lifetime(server), server);
        let bad = TenantSettings {
            session_idle_seconds: Some(7200),
            session_lifetime_seconds: Some(3600),
            ..TenantSettings::default()
        };
        assert!(validate_settings(&bad).is_err());
        assert!(
            validate_settings(&TenantSettings {
                session_idle_seconds: Some(5),
                ..TenantSettings::default()
            })
            .is_err()
        );
    }
}
