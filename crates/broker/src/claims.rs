//! From the provider's claims to the app's token: the claim mapping (ID token first, userinfo for what is missing),
//! the attribute page (prefill and validation of what the user typed), conditional access and MFA against the
//! upstream sign-in, and the claims of the application's tokens (Azure AD B2C's shapes: `emails`, `tfp`,
//! `newUser`, `extension_*`, ...).

use std::collections::{BTreeMap, HashSet};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tessera_core::{ClientId, TenantId};
use time::{Duration, OffsetDateTime};

use crate::config::{
    AccessAction, AccessRule, ApplicationClaim, AttributeType, ClaimMapping, FlowSettings,
    MfaSetting, PolicyId, ProviderId, UserAttribute,
};
use crate::metadata::ProviderMetadata;
use crate::upstream::ValidatedIdToken;

/// Longest value accepted for a profile field or a string attribute.
pub const MAX_ATTRIBUTE_LEN: usize = 256;

/// Why the provider's claims could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimMappingError {
    /// The claim mapped to the user id is in neither the ID token nor userinfo.
    #[error("the provider sent no {claim} claim, which is mapped to the user id")]
    UserIdMissing {
        /// The claim name.
        claim: String,
    },
    /// The user-id claim is neither a string nor an integer, or is empty or longer than 255 characters.
    #[error("the provider's {claim} claim, mapped to the user id, is not a usable identifier")]
    UserIdUnusable {
        /// The claim name.
        claim: String,
    },
}

/// What the broker learned about the user from the provider, through the claim mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamProfile {
    /// The provider's issuer: with [`UpstreamProfile::subject`], the user's identity. Returning users are found by
    /// this pair, never by email.
    pub issuer: String,
    /// The mapped user id.
    pub subject: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Surname.
    pub surname: Option<String>,
    /// Email address (not verified by the broker; the attribute page shows it for confirmation).
    pub email: Option<String>,
    /// The upstream `amr`.
    pub amr: Vec<String>,
    /// The upstream `acr`.
    pub acr: Option<String>,
    /// The upstream `auth_time`.
    #[serde(default, with = "time::serde::timestamp::option")]
    pub auth_time: Option<OffsetDateTime>,
    /// Whether the broker itself verified that the user owns `email` (a local account's one-time code). A
    /// provider's `email_verified` is not carried: the broker trusts only its own check.
    #[serde(default)]
    pub email_verified: bool,
}

/// The `idp` claim of a local account's sign-in (federated sign-ins carry the provider's issuer URL there).
pub const LOCAL_ACCOUNT_IDP: &str = "local";

/// The issuer of a broker tenant's local identities (`{issuer, subject}` with the user's object id as the subject).
/// It does not depend on the broker's public URL, so a new host or port keeps every local account.
pub fn local_issuer(tenant: &str) -> String {
    format!("{LOCAL_ISSUER_PREFIX}{tenant}")
}

/// The prefix of [`local_issuer`]: no provider's issuer can start with it (providers' issuers are `https` or
/// loopback `http` URLs).
pub const LOCAL_ISSUER_PREFIX: &str = "urn:tessera:local:";

/// The `amr` (RFC 8176) of a passkey sign-in at the broker: `pop` and `hwk` (device-bound) or `swk` (synced,
/// backup eligible), `user`, and `mfa` when the authenticator verified the user, as Tessera's authenticator
/// service reports its own.
pub fn passkey_amr(backup_eligible: bool, user_verified: bool) -> Vec<String> {
    let mut amr = vec![
        "pop".to_owned(),
        if backup_eligible { "swk" } else { "hwk" }.to_owned(),
        "user".to_owned(),
    ];
    if user_verified {
        amr.push("mfa".to_owned());
    }
    amr
}

/// The mapped claims the ID token lacks: if any, and the provider has a userinfo endpoint, the service fetches
/// userinfo and passes it to [`map_claims`].
pub fn missing_mapped_claims<'m>(
    mapping: &'m ClaimMapping,
    id_token: &ValidatedIdToken,
) -> Vec<&'m str> {
    mapped_names(mapping)
        .into_iter()
        .filter(|name| id_token.claims.get(*name).is_none_or(Value::is_null))
        .collect()
}

/// The mapped claims worth asking userinfo for: those the ID token lacks ([`missing_mapped_claims`]) that the
/// provider may supply at all ([`ProviderMetadata::may_supply`], its `claims_supported`). A claim the provider
/// never gives is not fetched for on every sign-in; it stays empty, as userinfo would have left it.
pub fn claims_to_fetch<'m>(
    mapping: &'m ClaimMapping,
    id_token: &ValidatedIdToken,
    metadata: &ProviderMetadata,
) -> Vec<&'m str> {
    missing_mapped_claims(mapping, id_token)
        .into_iter()
        .filter(|name| metadata.may_supply(name))
        .collect()
}

fn mapped_names(mapping: &ClaimMapping) -> Vec<&str> {
    let mut names = vec![mapping.user_id.as_str()];
    for name in [
        &mapping.display_name,
        &mapping.given_name,
        &mapping.surname,
        &mapping.email,
    ]
    .into_iter()
    .flatten()
    {
        names.push(name);
    }
    names
}

/// Maps the provider's claims to a profile: each field from the ID token, or from userinfo (already checked by
/// [`crate::upstream::validate_userinfo`]) when the ID token lacks it. A user id given as an integer becomes its
/// decimal string. Optional fields of the wrong type, empty, or over [`MAX_ATTRIBUTE_LEN`] are left empty rather
/// than failing the sign-in.
pub fn map_claims(
    mapping: &ClaimMapping,
    id_token: &ValidatedIdToken,
    userinfo: Option<&Map<String, Value>>,
) -> Result<UpstreamProfile, ClaimMappingError> {
    let lookup = |name: &str| -> Option<&Value> {
        id_token
            .claims
            .get(name)
            .filter(|v| !v.is_null())
            .or_else(|| userinfo.and_then(|u| u.get(name)).filter(|v| !v.is_null()))
    };
    let subject = match lookup(&mapping.user_id) {
        None => {
            return Err(ClaimMappingError::UserIdMissing {
                claim: mapping.user_id.clone(),
            });
        }
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 255 => s.clone(),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(_) => {
            return Err(ClaimMappingError::UserIdUnusable {
                claim: mapping.user_id.clone(),
            });
        }
    };
    let text = |name: &Option<String>| -> Option<String> {
        let value = lookup(name.as_deref()?)?.as_str()?.trim();
        (!value.is_empty()
            && value.chars().count() <= MAX_ATTRIBUTE_LEN
            && !value.chars().any(char::is_control))
        .then(|| value.to_owned())
    };
    Ok(UpstreamProfile {
        issuer: id_token.issuer.clone(),
        subject,
        display_name: text(&mapping.display_name),
        given_name: text(&mapping.given_name),
        surname: text(&mapping.surname),
        email: text(&mapping.email),
        amr: id_token.amr.clone(),
        acr: id_token.acr.clone(),
        auth_time: id_token.auth_time,
        email_verified: false,
    })
}

// ---------------------------------------------------------------------------------------------------------------
// The attribute page

/// One field of the attribute page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeField {
    /// The attribute.
    pub attribute: UserAttribute,
    /// The form field name.
    pub name: String,
    /// The label to show.
    pub label: String,
    /// The type of value.
    pub data_type: AttributeType,
    /// Whether it must be filled in.
    pub required: bool,
    /// The value prefilled from the provider's claims.
    pub value: Option<String>,
}

/// The attribute page's fields, in the flow's order, prefilled from the provider's claims.
pub fn attribute_fields(settings: &FlowSettings, profile: &UpstreamProfile) -> Vec<AttributeField> {
    settings
        .user_attributes
        .iter()
        .map(|collected| {
            let (label, data_type, value) = match &collected.attribute {
                UserAttribute::Email => (
                    "Email address".to_owned(),
                    AttributeType::String,
                    profile.email.clone(),
                ),
                UserAttribute::DisplayName => (
                    "Display name".to_owned(),
                    AttributeType::String,
                    profile.display_name.clone(),
                ),
                UserAttribute::GivenName => (
                    "Given name".to_owned(),
                    AttributeType::String,
                    profile.given_name.clone(),
                ),
                UserAttribute::Surname => (
                    "Surname".to_owned(),
                    AttributeType::String,
                    profile.surname.clone(),
                ),
                UserAttribute::Custom(name) => {
                    let definition = settings.custom_attribute(name);
                    (
                        definition
                            .and_then(|d| d.label.clone())
                            .unwrap_or_else(|| name.clone()),
                        definition.map_or(AttributeType::String, |d| d.data_type),
                        None,
                    )
                }
            };
            AttributeField {
                name: collected.attribute.form_field(),
                attribute: collected.attribute.clone(),
                label,
                data_type,
                required: collected.required,
                value,
            }
        })
        .collect()
}

/// A custom attribute's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttributeValue {
    /// `true` / `false`.
    Boolean(bool),
    /// An integer.
    Integer(i64),
    /// Text.
    String(String),
}

impl AttributeValue {
    fn to_json(&self) -> Value {
        match self {
            Self::Boolean(b) => json!(b),
            Self::Integer(i) => json!(i),
            Self::String(s) => json!(s),
        }
    }
}

/// What the user entered on the attribute page, validated.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CollectedAttributes {
    /// Email address.
    pub email: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Surname.
    pub surname: Option<String>,
    /// Custom attributes by name.
    pub custom: BTreeMap<String, AttributeValue>,
}

/// A problem with one field of the attribute page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttributeError {
    /// A required field is empty.
    #[error("{field}: this field is required")]
    Required {
        /// The form field.
        field: String,
    },
    /// Not an email address.
    #[error("{field}: not a valid email address")]
    InvalidEmail {
        /// The form field.
        field: String,
    },
    /// Too long.
    #[error("{field}: at most {max} characters")]
    TooLong {
        /// The form field.
        field: String,
        /// The limit.
        max: usize,
    },
    /// Contains a control character.
    #[error("{field}: must not contain control characters")]
    ControlCharacter {
        /// The form field.
        field: String,
    },
    /// A boolean attribute with another value than `true` / `false`.
    #[error("{field}: must be true or false")]
    NotABoolean {
        /// The form field.
        field: String,
    },
    /// An integer attribute with another value.
    #[error("{field}: must be a whole number")]
    NotAnInteger {
        /// The form field.
        field: String,
    },
    /// The field was sent twice.
    #[error("{field}: sent twice")]
    Duplicate {
        /// The form field.
        field: String,
    },
}

impl AttributeError {
    /// The form field the error belongs to.
    pub fn field(&self) -> &str {
        match self {
            Self::Required { field }
            | Self::InvalidEmail { field }
            | Self::TooLong { field, .. }
            | Self::ControlCharacter { field }
            | Self::NotABoolean { field }
            | Self::NotAnInteger { field }
            | Self::Duplicate { field } => field,
        }
    }
}

/// Validates the attribute page's form against the flow version: every collected field is checked (all problems
/// are returned at once, so the page can mark each), values are trimmed, emails must be valid, required fields
/// filled in, typed custom attributes parse. Fields the flow does not collect are ignored.
pub fn validate_attribute_form(
    settings: &FlowSettings,
    form: &[(String, String)],
) -> Result<CollectedAttributes, Vec<AttributeError>> {
    let mut errors = Vec::new();
    let mut collected = CollectedAttributes::default();
    for attribute in &settings.user_attributes {
        let field = attribute.attribute.form_field();
        let mut values = form
            .iter()
            .filter(|(k, _)| *k == field)
            .map(|(_, v)| v.trim());
        let value = match (values.next(), values.next()) {
            (_, Some(_)) => {
                errors.push(AttributeError::Duplicate { field });
                continue;
            }
            (Some(v), None) if !v.is_empty() => v,
            _ => {
                if attribute.required {
                    errors.push(AttributeError::Required { field });
                }
                continue;
            }
        };
        if value.chars().any(char::is_control) {
            errors.push(AttributeError::ControlCharacter { field });
            continue;
        }
        if value.chars().count() > MAX_ATTRIBUTE_LEN {
            errors.push(AttributeError::TooLong {
                field,
                max: MAX_ATTRIBUTE_LEN,
            });
            continue;
        }
        match &attribute.attribute {
            UserAttribute::Email => {
                if is_valid_email(value) {
                    collected.email = Some(value.into());
                } else {
                    errors.push(AttributeError::InvalidEmail { field });
                }
            }
            UserAttribute::DisplayName => collected.display_name = Some(value.into()),
            UserAttribute::GivenName => collected.given_name = Some(value.into()),
            UserAttribute::Surname => collected.surname = Some(value.into()),
            UserAttribute::Custom(name) => {
                let data_type = settings
                    .custom_attribute(name)
                    .map_or(AttributeType::String, |d| d.data_type);
                let parsed = match data_type {
                    AttributeType::String => Ok(AttributeValue::String(value.into())),
                    AttributeType::Boolean => match value {
                        "true" => Ok(AttributeValue::Boolean(true)),
                        "false" => Ok(AttributeValue::Boolean(false)),
                        _ => Err(AttributeError::NotABoolean { field }),
                    },
                    AttributeType::Integer => value
                        .parse()
                        .map(AttributeValue::Integer)
                        .map_err(|_| AttributeError::NotAnInteger { field }),
                };
                match parsed {
                    Ok(v) => {
                        collected.custom.insert(name.clone(), v);
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(collected)
    } else {
        Err(errors)
    }
}

/// Whether `value` is a "valid email address" as HTML defines it for `<input type=email>` (WHATWG HTML §4.10.5.1.5):
/// `1*( atext / "." ) "@" label *( "." label )`, each label 1 to 63 letters, digits or `-`, not starting or ending with
/// `-`. Also at most 254 characters (RFC 5321 §4.5.3.1.3).
pub fn is_valid_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".!#$%&'*+/=?^_`{|}~-".contains(&b));
    let domain_ok = !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    value.len() <= 254 && local_ok && domain_ok
}

// ---------------------------------------------------------------------------------------------------------------
// Conditional access and MFA

/// Whether the upstream sign-in was phishing-resistant: `acr` is `phr` or `phrh` (OpenID EAP ACR Values), or
/// `amr` (RFC 8176) shows proof of possession of a key (`pop`) held in hardware (`hwk`) or software (`swk`), as a
/// passkey sign-in at Tessera's authenticator service reports. The broker trusts the provider's claims: it is a
/// provider the tenant chose to federate with.
pub fn is_phishing_resistant(amr: &[String], acr: Option<&str>) -> bool {
    let has = |v: &str| amr.iter().any(|a| a == v);
    matches!(acr, Some("phr" | "phrh")) || (has("pop") && (has("hwk") || has("swk")))
}

/// Whether the upstream sign-in was multi-factor, from its `amr` (RFC 8176): `mfa`, or methods of two different
/// kinds among something held (`hwk`, `swk`, `pop`, `sc`, `otp`, `sms`, `tel`), something known (`pwd`, `pin`,
/// `kba`) and something one is (`fpt`, `face`, `iris`, `retina`, `vbm`). `user` is a user-presence test, not
/// verification, so a passkey without user verification (`pop hwk user`, as Tessera's authenticator service reports
/// it) is single-factor, and a user-verified one (`pop hwk user mfa`, or a provider's `hwk pin`) is multi-factor.
pub fn is_multi_factor(amr: &[String]) -> bool {
    const HELD: &[&str] = &["hwk", "swk", "pop", "sc", "otp", "sms", "tel"];
    const KNOWN: &[&str] = &["pwd", "pin", "kba"];
    const INHERENT: &[&str] = &["fpt", "face", "iris", "retina", "vbm"];
    let kind = |values: &[&str]| amr.iter().any(|a| values.contains(&a.as_str()));
    amr.iter().any(|a| a == "mfa")
        || [kind(HELD), kind(KNOWN), kind(INHERENT)]
            .into_iter()
            .filter(|k| *k)
            .count()
            >= 2
}

/// `acr_values` the broker asks a provider for when a flow requires a phishing-resistant sign-in (OpenID EAP ACR
/// Values: hardware-protected first), sent only when the provider advertises them.
pub const PHISHING_RESISTANT_ACR_VALUES: &[&str] = &["phrh", "phr"];

/// `acr_values` the broker asks a provider for when a flow requires a multi-factor sign-in (the OpenID PAPE
/// multi-factor policies, used by Auth0 and others, and the bare `mfa` some providers advertise), sent only when
/// the provider advertises them.
pub const MULTI_FACTOR_ACR_VALUES: &[&str] = &[
    "http://schemas.openid.net/pape/policies/2007/06/multi-factor-physical",
    "http://schemas.openid.net/pape/policies/2007/06/multi-factor",
    "mfa",
];

/// What the flow will require of the upstream sign-in of `application` through `provider`, known before the user
/// is sent there, so that the broker can ask for it (`acr_values`) rather than only refuse afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpstreamRequirements {
    /// Multi-factor: MFA `always`, or `conditional` with a deciding `require_mfa` rule.
    pub multi_factor: bool,
    /// Phishing-resistant: a deciding `require_phishing_resistant` rule.
    pub phishing_resistant: bool,
}

impl UpstreamRequirements {
    /// The `acr_values` to send, in order of preference: the phishing-resistant values, then the multi-factor
    /// ones, each only if the provider advertises it (`acr_values_supported`). `None` when nothing is required or
    /// the provider advertises none of them; the sign-in is then judged afterwards only.
    pub fn acr_values(&self, metadata: &ProviderMetadata) -> Option<String> {
        let mut wanted: Vec<&str> = Vec::new();
        if self.phishing_resistant {
            wanted.extend(PHISHING_RESISTANT_ACR_VALUES);
        }
        if self.multi_factor {
            wanted.extend(MULTI_FACTOR_ACR_VALUES);
        }
        let values = metadata.supported_acr_values(&wanted);
        (!values.is_empty()).then(|| values.join(" "))
    }
}

/// Why conditional access or the MFA setting refused a sign-in (the app receives `access_denied`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// A rule blocks it.
    #[error("conditional access rule {rule} blocks this sign-in")]
    Blocked {
        /// The rule's name.
        rule: String,
    },
    /// A rule requires a phishing-resistant method and the upstream sign-in was not.
    #[error("conditional access rule {rule} requires a phishing-resistant sign-in")]
    PhishingResistanceRequired {
        /// The rule's name.
        rule: String,
    },
    /// MFA is `always`, or `conditional` with a deciding `require_mfa` rule, and the upstream sign-in was
    /// single-factor.
    #[error("the user flow requires multi-factor authentication and the sign-in was single-factor")]
    MfaRequired,
}

/// The conditional-access rule that decides a sign-in of `application` through `provider`: the first whose
/// conditions match (empty lists match all); none when conditional access is not enforced.
fn deciding_rule<'s>(
    settings: &'s FlowSettings,
    application: &ClientId,
    provider: &ProviderId,
) -> Option<&'s AccessRule> {
    if !settings.conditional_access.enforced {
        return None;
    }
    settings.conditional_access.rules.iter().find(|rule| {
        (rule.applications.is_empty() || rule.applications.contains(application))
            && (rule.identity_providers.is_empty() || rule.identity_providers.contains(provider))
    })
}

/// What the flow requires of the upstream sign-in (see [`UpstreamRequirements`]).
pub fn upstream_requirements(
    settings: &FlowSettings,
    application: &ClientId,
    provider: &ProviderId,
) -> UpstreamRequirements {
    let action = deciding_rule(settings, application, provider).map(|rule| rule.action);
    UpstreamRequirements {
        multi_factor: match settings.mfa {
            MfaSetting::Off => false,
            MfaSetting::Always => true,
            MfaSetting::Conditional => action == Some(AccessAction::RequireMfa),
        },
        phishing_resistant: action == Some(AccessAction::RequirePhishingResistant),
    }
}

/// Judges the upstream sign-in against the flow: a deciding `block` rule refuses; then multi-factor is required
/// with MFA `always`, or `conditional` and a deciding `require_mfa` rule ([`is_multi_factor`]); then a deciding
/// `require_phishing_resistant` rule requires [`is_phishing_resistant`]. No deciding rule, or `allow`, adds
/// nothing to the MFA setting.
pub fn evaluate_access(
    settings: &FlowSettings,
    application: &ClientId,
    provider: &ProviderId,
    profile: &UpstreamProfile,
) -> Result<(), AccessError> {
    let rule = deciding_rule(settings, application, provider);
    if let Some(rule) = rule
        && rule.action == AccessAction::Block
    {
        return Err(AccessError::Blocked {
            rule: rule.name.clone(),
        });
    }
    let required = upstream_requirements(settings, application, provider);
    if required.multi_factor && !is_multi_factor(&profile.amr) {
        return Err(AccessError::MfaRequired);
    }
    if let Some(rule) = rule
        && required.phishing_resistant
        && !is_phishing_resistant(&profile.amr, profile.acr.as_deref())
    {
        return Err(AccessError::PhishingResistanceRequired {
            rule: rule.name.clone(),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Application tokens

/// A user as the broker's directory holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryUser {
    /// The object id: the app tokens' `sub` and `oid`.
    pub object_id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Surname.
    pub surname: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Custom attributes by name.
    #[serde(default)]
    pub custom: BTreeMap<String, AttributeValue>,
}

impl DirectoryUser {
    /// A new user from the provider's profile and what the attribute page collected (collected values win).
    pub fn new(
        object_id: String,
        profile: &UpstreamProfile,
        collected: CollectedAttributes,
    ) -> Self {
        Self {
            object_id,
            display_name: collected
                .display_name
                .or_else(|| profile.display_name.clone()),
            given_name: collected.given_name.or_else(|| profile.given_name.clone()),
            surname: collected.surname.or_else(|| profile.surname.clone()),
            email: collected.email.or_else(|| profile.email.clone()),
            custom: collected.custom,
        }
    }
}

/// The `ver` claim of app tokens, as Azure AD B2C sets it.
pub const TOKEN_VERSION: &str = "1.0";

/// Everything an application ID token is made of.
#[derive(Debug, Clone, Copy)]
pub struct AppTokenInput<'a> {
    /// The broker's issuer for this tenant and policy.
    pub issuer: &'a str,
    /// The application.
    pub audience: &'a ClientId,
    /// The flow's policy id, as configured (`tfp`).
    pub policy: &'a PolicyId,
    /// The flow version the sign-in ran on.
    pub settings: &'a FlowSettings,
    /// The user.
    pub user: &'a DirectoryUser,
    /// The upstream sign-in.
    pub upstream: &'a UpstreamProfile,
    /// Whether this sign-in created the user.
    pub new_user: bool,
    /// The app's `nonce`.
    pub nonce: Option<&'a str>,
    /// When the user signed in at the broker (used for `auth_time` when the provider sent none).
    pub signed_in_at: OffsetDateTime,
    /// Now.
    pub now: OffsetDateTime,
    /// The token's lifetime.
    pub lifetime: Duration,
}

/// The claims of an application's ID token.
///
/// Always: `iss`, `aud`, `exp`, `iat`, `nbf`, `sub` (the object id), `tfp` (the policy), `ver` (`1.0`),
/// `auth_time` (the provider's, else the broker's), `acr`, and `amr` when the provider sent one; `nonce` when the
/// app sent one. `acr` is the provider's when it sent one (so a passkey sign-in stays `phr`/`phrh`), else `phr`
/// when the provider's `amr` shows a phishing-resistant method, else the policy id in lowercase, as Azure AD B2C
/// sets `acr`. By the flow's application claims: `oid`, `idp` (the provider's issuer, or `local`), `newUser` (only `true`, on
/// sign-up), `emails` (an array), `name`, `given_name`, `family_name`, `extension_<name>`.
pub fn app_token_claims(input: &AppTokenInput<'_>) -> Map<String, Value> {
    let mut claims = Map::new();
    let user = input.user;
    let upstream = input.upstream;
    claims.insert("iss".into(), json!(input.issuer));
    claims.insert("aud".into(), json!(input.audience.as_str()));
    claims.insert(
        "exp".into(),
        json!((input.now + input.lifetime).unix_timestamp()),
    );
    claims.insert("iat".into(), json!(input.now.unix_timestamp()));
    claims.insert("nbf".into(), json!(input.now.unix_timestamp()));
    claims.insert("sub".into(), json!(user.object_id));
    claims.insert("tfp".into(), json!(input.policy.as_str()));
    claims.insert("ver".into(), json!(TOKEN_VERSION));
    let auth_time = upstream.auth_time.unwrap_or(input.signed_in_at);
    claims.insert("auth_time".into(), json!(auth_time.unix_timestamp()));
    let acr = match &upstream.acr {
        Some(acr) => acr.clone(),
        None if is_phishing_resistant(&upstream.amr, None) => "phr".into(),
        None => input.policy.key(),
    };
    claims.insert("acr".into(), json!(acr));
    if !upstream.amr.is_empty() {
        claims.insert("amr".into(), json!(upstream.amr));
    }
    if let Some(nonce) = input.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    let mut emitted = HashSet::new();
    for claim in &input.settings.application_claims {
        if !emitted.insert(claim) {
            continue;
        }
        match claim {
            ApplicationClaim::ObjectId => {
                claims.insert("oid".into(), json!(user.object_id));
            }
            ApplicationClaim::IdentityProvider => {
                if upstream.issuer.starts_with(LOCAL_ISSUER_PREFIX) {
                    claims.insert("idp".into(), json!(LOCAL_ACCOUNT_IDP));
                } else {
                    claims.insert("idp".into(), json!(upstream.issuer));
                }
            }
            ApplicationClaim::NewUser => {
                if input.new_user {
                    claims.insert("newUser".into(), json!(true));
                }
            }
            ApplicationClaim::Email => {
                if let Some(email) = &user.email {
                    claims.insert("emails".into(), json!([email]));
                    // Only an address the broker verified itself (a local account's one-time code).
                    if upstream.email_verified && upstream.email.as_ref() == Some(email) {
                        claims.insert("email_verified".into(), json!(true));
                    }
                }
            }
            ApplicationClaim::DisplayName => {
                if let Some(name) = &user.display_name {
                    claims.insert("name".into(), json!(name));
                }
            }
            ApplicationClaim::GivenName => {
                if let Some(name) = &user.given_name {
                    claims.insert("given_name".into(), json!(name));
                }
            }
            ApplicationClaim::Surname => {
                if let Some(name) = &user.surname {
                    claims.insert("family_name".into(), json!(name));
                }
            }
            ApplicationClaim::Custom(name) => {
                let value = user
                    .custom
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v);
                if let Some(value) = value {
                    claims.insert(format!("extension_{name}"), value.to_json());
                }
            }
        }
    }
    claims
}

/// The `client_info` member of a token response, which MSAL asks for with `client_info=1` and uses as the account's
/// home id (`{uid}.{utid}`): base64url of `{"uid": "<object id>-<policy in lowercase>", "utid": "<tenant>"}`, the
/// shape Azure AD B2C returns.
pub fn msal_client_info(object_id: &str, policy: &PolicyId, tenant: &TenantId) -> String {
    let info = json!({
        "uid": format!("{object_id}-{}", policy.key()),
        "utid": tenant.as_str(),
    });
    B64.encode(info.to_string())
}
