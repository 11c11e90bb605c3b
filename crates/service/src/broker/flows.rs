//! User flows of a broker tenant ("sign up and sign in", policy ids `B2C_1_<name>`), with immutable versions: a
//! change is saved as a new version, and a sign-in in progress finishes on the version it started with.

use serde_json::json;
use tessera_broker::config::{FlowSettings, PolicyId, ProviderId, UserFlow, UserFlowVersion};
use tessera_core::TenantId;
use tessera_store::{BrokerStore, FlowVersionRecord, StoreError, UserFlowRecord};
use time::OffsetDateTime;

use super::providers::provider_ids;
use super::tenants::require_tenant;
use crate::error::{Result, ServiceError};

/// The stored kind of a "sign up and sign in" flow.
const SIGN_UP_SIGN_IN: &str = "sign_up_sign_in";

/// A flow in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSummary {
    /// The policy id as configured.
    pub policy: PolicyId,
    /// The current version's number.
    pub current_version: u32,
    /// When the flow was created.
    pub created_at: OffsetDateTime,
}

/// Creates a user flow with its first version; the settings are checked against the tenant's providers.
pub async fn create_user_flow(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    policy: PolicyId,
    settings: FlowSettings,
    now: OffsetDateTime,
) -> Result<UserFlow> {
    require_tenant(store, tenant).await?;
    let providers = provider_ids(store, tenant).await?;
    let flow = UserFlow::create(policy, settings, &providers, now)?;
    let record = UserFlowRecord {
        tenant: tenant.clone(),
        policy_key: flow.policy().key(),
        policy_id: flow.policy().to_string(),
        kind: SIGN_UP_SIGN_IN.into(),
        created_at: now,
    };
    store
        .create_flow(&record, &version_record(flow.current())?)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => ServiceError::FlowExists {
                policy: flow.policy().to_string(),
            },
            StoreError::NotFound => ServiceError::BrokerTenantNotFound,
            other => other.into(),
        })?;
    Ok(flow)
}

/// Saves changed settings as the flow's next version and returns the flow. `based_on` is the version the change
/// was made from: if another version was saved since, nothing is saved and [`ServiceError::FlowChanged`] says so
/// (two administrators saving from one version: the second gets it too, from the store's conditional append).
pub async fn revise_user_flow(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    policy: &PolicyId,
    based_on: u32,
    settings: FlowSettings,
    now: OffsetDateTime,
) -> Result<UserFlow> {
    let mut flow = get_user_flow(store, tenant, policy).await?;
    let current = flow.current().number();
    if current != based_on {
        return Err(ServiceError::FlowChanged { current });
    }
    let providers = provider_ids(store, tenant).await?;
    let version = version_record(flow.revise(settings, &providers, now)?)?;
    store
        .append_flow_version(tenant, &policy.key(), current, &version)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => ServiceError::FlowChanged {
                current: current + 1,
            },
            StoreError::NotFound => ServiceError::FlowNotFound,
            other => other.into(),
        })?;
    Ok(flow)
}

/// Reads a flow with all its versions (`current()` is what new sign-ins use, `version(n)` what a sign-in that
/// started on version n finishes with). The policy compares case-insensitively.
pub async fn get_user_flow(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    policy: &PolicyId,
) -> Result<UserFlow> {
    require_tenant(store, tenant).await?;
    let key = policy.key();
    let record = store
        .get_flow(tenant, &key)
        .await?
        .ok_or(ServiceError::FlowNotFound)?;
    let versions = store.list_flow_versions(tenant, &key).await?;
    decode_flow(&record, &versions)
}

/// Deletes a user flow with all its versions. Sign-ins in progress on it fail at their next step with "unknown user
/// flow", and its refresh tokens stop working; the HTTP layer then invalidates its cache entry for the tenant.
pub async fn delete_user_flow(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    policy: &PolicyId,
) -> Result<()> {
    require_tenant(store, tenant).await?;
    store
        .delete_flow(tenant, &policy.key())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ServiceError::FlowNotFound,
            other => other.into(),
        })
}

/// Reads one version of a flow.
pub async fn get_user_flow_version(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    policy: &PolicyId,
    number: u32,
) -> Result<UserFlowVersion> {
    let flow = get_user_flow(store, tenant, policy).await?;
    flow.version(number)
        .cloned()
        .ok_or(ServiceError::FlowVersionNotFound { number })
}

/// Lists a tenant's flows, ordered by policy key.
pub async fn list_user_flows(
    store: &dyn BrokerStore,
    tenant: &TenantId,
) -> Result<Vec<FlowSummary>> {
    require_tenant(store, tenant).await?;
    let mut summaries = Vec::new();
    for record in store.list_flows(tenant).await? {
        let current = store
            .get_current_flow_version(tenant, &record.policy_key)
            .await?
            .ok_or_else(|| {
                ServiceError::Corrupt(format!("user flow {} has no version", record.policy_id))
            })?;
        summaries.push(FlowSummary {
            policy: decode_policy(&record)?,
            current_version: current.number,
            created_at: record.created_at,
        });
    }
    Ok(summaries)
}

/// The policy ids of the flows whose current version offers `provider`.
pub(crate) async fn flows_offering(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    provider: &ProviderId,
) -> Result<Vec<String>> {
    let mut using = Vec::new();
    for record in store.list_flows(tenant).await? {
        let Some(current) = store
            .get_current_flow_version(tenant, &record.policy_key)
            .await?
        else {
            continue;
        };
        let settings: FlowSettings = decode_settings(&record, &current)?;
        if settings.identity_providers.contains(provider) {
            using.push(record.policy_id);
        }
    }
    Ok(using)
}

fn version_record(version: &UserFlowVersion) -> Result<FlowVersionRecord> {
    Ok(FlowVersionRecord {
        number: version.number(),
        created_at: version.created_at(),
        settings: serde_json::to_value(version.settings())
            .map_err(|e| ServiceError::Internal(format!("serialization: {e}")))?,
    })
}

fn decode_policy(record: &UserFlowRecord) -> Result<PolicyId> {
    PolicyId::parse(&record.policy_id)
        .map_err(|e| ServiceError::Corrupt(format!("user flow {:?}: {e}", record.policy_id)))
}

fn decode_settings(record: &UserFlowRecord, version: &FlowVersionRecord) -> Result<FlowSettings> {
    serde_json::from_value(version.settings.clone()).map_err(|e| {
        ServiceError::Corrupt(format!(
            "user flow {} version {}: {e}",
            record.policy_id, version.number
        ))
    })
}

/// Rebuilds a flow from its stored versions through the broker's own stored shape, which checks that they are
/// numbered 1, 2, 3, ...
fn decode_flow(record: &UserFlowRecord, versions: &[FlowVersionRecord]) -> Result<UserFlow> {
    let versions: Vec<serde_json::Value> = versions
        .iter()
        .map(|v| {
            json!({
                "number": v.number,
                "created_at": v.created_at.unix_timestamp(),
                "settings": v.settings,
            })
        })
        .collect();
    serde_json::from_value(json!({
        "policy": record.policy_id,
        "kind": record.kind,
        "versions": versions,
    }))
    .map_err(|e| ServiceError::Corrupt(format!("user flow {}: {e}", record.policy_id)))
}

/// One page of a tenant's flows (ordered by policy key): `limit` flows from `offset`, and how many there are; with
/// `q` (folded: [`crate::admin::list_filters::query`]), of the flows whose policy name starts with it, filtered
/// before the page is cut. Only the page's flows have their current version read, so a page costs the same at 10
/// flows as at 10,000.
pub async fn list_user_flows_page(
    store: &dyn BrokerStore,
    tenant: &TenantId,
    q: Option<&str>,
    offset: usize,
    limit: usize,
) -> Result<(Vec<FlowSummary>, usize)> {
    require_tenant(store, tenant).await?;
    let mut records = store.list_flows(tenant).await?;
    // The policy key is the policy id folded the same way as the query.
    records.retain(|r| crate::admin::list_filters::starts_with_any(q, [r.policy_key.as_str()]));
    let total = records.len();
    let mut summaries = Vec::new();
    for record in records.iter().skip(offset).take(limit) {
        let current = store
            .get_current_flow_version(tenant, &record.policy_key)
            .await?
            .ok_or_else(|| {
                ServiceError::Corrupt(format!("user flow {} has no version", record.policy_id))
            })?;
        summaries.push(FlowSummary {
            policy: decode_policy(record)?,
            current_version: current.number,
            created_at: record.created_at,
        });
    }
    Ok((summaries, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::providers::{delete_identity_provider, save_identity_provider};
    use crate::broker::tenants::{NewBrokerTenant, create_broker_tenant};
    use crate::broker::testing::{T0, Upstream, client, master, sqlite, tenant_id};
    use tessera_broker::config::{
        ApplicationClaim, CollectedAttribute, LocalAccounts, UserAttribute,
    };
    use tessera_core::Secret;

    #[tokio::test]
    async fn a_deleted_flow_leaves_no_version_for_a_sign_in_to_finish_on() {
        let (store, _dir) = sqlite().await;
        let tenant = tenant_id("contoso");
        create_broker_tenant(
            store.as_ref(),
            &master(),
            NewBrokerTenant {
                id: tenant.clone(),
                display_name: None,
            },
            T0,
        )
        .await
        .expect("tenant");
        let policy = PolicyId::from_name("signupsignin").expect("policy");
        let local = FlowSettings {
            local_accounts: LocalAccounts::Email,
            ..FlowSettings::default()
        };
        create_user_flow(store.as_ref(), &tenant, policy.clone(), local, T0)
            .await
            .expect("flow");
        delete_user_flow(store.as_ref(), &tenant, &policy)
            .await
            .expect("delete");
        assert!(matches!(
            get_user_flow(store.as_ref(), &tenant, &policy).await,
            Err(ServiceError::FlowNotFound)
        ));
        assert!(
            crate::broker::runtime::flow_version(store.as_ref(), &tenant, &policy, 1)
                .await
                .expect("read")
                .is_none(),
            "a sign-in that started on version 1 finds nothing to finish on"
        );
        assert!(matches!(
            delete_user_flow(store.as_ref(), &tenant, &policy).await,
            Err(ServiceError::FlowNotFound)
        ));
        assert!(matches!(
            delete_user_flow(store.as_ref(), &tenant_id("nowhere"), &policy).await,
            Err(ServiceError::BrokerTenantNotFound)
        ));
    }

    fn offering(providers: &[&str]) -> FlowSettings {
        FlowSettings {
            identity_providers: providers
                .iter()
                .map(|p| ProviderId::parse(p).expect("id"))
                .collect(),
            user_attributes: vec![CollectedAttribute {
                attribute: UserAttribute::Email,
                required: true,
            }],
            application_claims: vec![
                ApplicationClaim::Email,
                ApplicationClaim::DisplayName,
                ApplicationClaim::IdentityProvider,
                ApplicationClaim::ObjectId,
                ApplicationClaim::NewUser,
            ],
            ..FlowSettings::default()
        }
    }

    #[tokio::test]
    async fn flows_keep_every_version_and_a_stale_revision_changes_nothing() {
        let (store, _dir) = sqlite().await;
        let tenant = tenant_id("contoso");
        create_broker_tenant(
            store.as_ref(),
            &master(),
            NewBrokerTenant {
                id: tenant.clone(),
                display_name: None,
            },
            T0,
        )
        .await
        .expect("tenant");
        let upstream = Upstream::start().await;
        save_identity_provider(
            store.as_ref(),
            &master(),
            &client(),
            &tenant,
            upstream.provider("noknok"),
            Secret::new("s"),
            T0,
        )
        .await
        .expect("provider");
        let policy = PolicyId::from_name("signupsignin").expect("policy");
        let flow = create_user_flow(
            store.as_ref(),
            &tenant,
            policy.clone(),
            offering(&["noknok"]),
            T0,
        )
        .await
        .expect("create");
        assert_eq!(flow.policy().as_str(), "B2C_1_signupsignin");
        assert_eq!(flow.current().number(), 1);

        // The policy id compares case-insensitively: MSAL.js lowercases the authority.
        let lower = PolicyId::parse("b2c_1_SIGNUPSIGNIN").expect("policy");
        assert!(matches!(
            create_user_flow(
                store.as_ref(),
                &tenant,
                lower.clone(),
                offering(&["noknok"]),
                T0
            )
            .await,
            Err(ServiceError::FlowExists { .. })
        ));
        let read = get_user_flow(store.as_ref(), &tenant, &lower)
            .await
            .expect("read");
        assert_eq!(
            read.policy().as_str(),
            "B2C_1_signupsignin",
            "kept as configured"
        );
        assert_eq!(read, flow);

        let later = T0 + time::Duration::hours(1);
        let mut local = offering(&["noknok"]);
        local.local_accounts = LocalAccounts::Email;
        let revised = revise_user_flow(store.as_ref(), &tenant, &policy, 1, local.clone(), later)
            .await
            .expect("revise");
        assert_eq!(revised.current().number(), 2);
        let first = get_user_flow_version(store.as_ref(), &tenant, &policy, 1)
            .await
            .expect("version 1");
        assert_eq!(
            first.settings(),
            &offering(&["noknok"]),
            "version 1 unchanged"
        );
        let second = get_user_flow_version(store.as_ref(), &tenant, &policy, 2)
            .await
            .expect("version 2");
        assert_eq!(second.settings(), &local);
        assert!(matches!(
            get_user_flow_version(store.as_ref(), &tenant, &policy, 3).await,
            Err(ServiceError::FlowVersionNotFound { number: 3 })
        ));

        // An administrator who edited version 1 while version 2 was saved.
        assert!(matches!(
            revise_user_flow(
                store.as_ref(),
                &tenant,
                &policy,
                1,
                offering(&["noknok"]),
                later
            )
            .await,
            Err(ServiceError::FlowChanged { current: 2 })
        ));
        // A revision naming a provider the tenant lacks is refused, naming the field.
        let error = revise_user_flow(
            store.as_ref(),
            &tenant,
            &policy,
            2,
            offering(&["google"]),
            later,
        )
        .await
        .expect_err("unknown provider");
        assert_eq!(error.field(), Some("identity_providers[0]"), "{error}");
        assert_eq!(
            get_user_flow(store.as_ref(), &tenant, &policy)
                .await
                .expect("read")
                .current()
                .number(),
            2,
            "refused revisions change nothing"
        );
        let listed = list_user_flows(store.as_ref(), &tenant)
            .await
            .expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].current_version, 2);

        // The provider cannot be deleted while the flow offers it; once the flow no longer does, it can.
        let noknok = ProviderId::parse("noknok").expect("id");
        let error = delete_identity_provider(store.as_ref(), &tenant, &noknok, None)
            .await
            .expect_err("in use");
        assert!(
            matches!(&error, ServiceError::ProviderInUse { flows, .. } if flows == &["B2C_1_signupsignin"]),
            "{error:?}"
        );
        assert!(error.to_string().contains("B2C_1_signupsignin"), "{error}");
        let mut local_only = FlowSettings {
            local_accounts: LocalAccounts::Email,
            ..offering(&[])
        };
        local_only.identity_providers.clear();
        revise_user_flow(store.as_ref(), &tenant, &policy, 2, local_only, later)
            .await
            .expect("revise");
        delete_identity_provider(store.as_ref(), &tenant, &noknok, None)
            .await
            .expect("delete");
        assert!(matches!(
            delete_identity_provider(store.as_ref(), &tenant, &noknok, None).await,
            Err(ServiceError::ProviderNotFound)
        ));

        assert!(matches!(
            create_user_flow(store.as_ref(), &tenant, PolicyId::from_name("empty").expect("id"), FlowSettings::default(), T0).await,
            Err(ServiceError::BrokerConfig(e)) if e.field() == "identity_providers"
        ));
        assert!(matches!(
            get_user_flow(
                store.as_ref(),
                &tenant,
                &PolicyId::from_name("absent").expect("id")
            )
            .await,
            Err(ServiceError::FlowNotFound)
        ));
    }
}
