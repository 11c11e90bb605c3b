//! The WebAuthn Level 3 JSON serialization: ceremony options sent to the browser (`PublicKeyCredentialCreationOptionsJSON`,
//! `PublicKeyCredentialRequestOptionsJSON`) and the responses it sends back (`RegistrationResponseJSON`,
//! `AuthenticationResponseJSON`).
//!
//! Parsing is tolerant of what real browsers send: unknown fields are ignored, base64url is accepted with or without
//! padding, `clientExtensionResults` may have any shape, and optional fields may be missing or `null`.

use crate::base64url::Base64UrlBytes;
use crate::cose::CoseAlgorithm;
use crate::error::WebauthnError;
use crate::policy::{AttestationPolicy, AuthenticatorPolicy};
use serde::{Deserialize, Serialize};

/// The only credential type WebAuthn defines.
pub const PUBLIC_KEY_TYPE: &str = "public-key";

/// Largest response JSON accepted (a TPM attestation with a full chain is well under this).
pub const MAX_RESPONSE_JSON_LEN: usize = 256 * 1024;

/// How an authenticator may be reached (`AuthenticatorTransport`); unknown values are kept, not refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum AuthenticatorTransport {
    /// `usb`
    Usb,
    /// `nfc`
    Nfc,
    /// `ble`
    Ble,
    /// `smart-card`
    SmartCard,
    /// `hybrid` (a phone reached through caBLE)
    Hybrid,
    /// `internal` (a platform authenticator)
    Internal,
    /// A value this version does not know.
    Other(String),
}

impl From<String> for AuthenticatorTransport {
    fn from(value: String) -> Self {
        match value.as_str() {
            "usb" => Self::Usb,
            "nfc" => Self::Nfc,
            "ble" => Self::Ble,
            "smart-card" => Self::SmartCard,
            "hybrid" => Self::Hybrid,
            "internal" => Self::Internal,
            _ => Self::Other(value),
        }
    }
}

impl From<AuthenticatorTransport> for String {
    fn from(value: AuthenticatorTransport) -> Self {
        value.as_str().to_owned()
    }
}

impl AuthenticatorTransport {
    /// The WebAuthn string for this transport.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Usb => "usb",
            Self::Nfc => "nfc",
            Self::Ble => "ble",
            Self::SmartCard => "smart-card",
            Self::Hybrid => "hybrid",
            Self::Internal => "internal",
            Self::Other(other) => other,
        }
    }
}

/// `AuthenticatorAttachment`: platform or cross-platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthenticatorAttachment {
    /// Built into the client device.
    Platform,
    /// Roaming (security key, phone over hybrid).
    CrossPlatform,
}

impl AuthenticatorAttachment {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "platform" => Some(Self::Platform),
            "cross-platform" => Some(Self::CrossPlatform),
            _ => None,
        }
    }
}

/// `ResidentKeyRequirement`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResidentKeyRequirement {
    /// The credential must be discoverable.
    Required,
    /// Discoverable if possible.
    Preferred,
    /// Server-side credential preferred.
    Discouraged,
}

/// `UserVerificationRequirement`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserVerificationRequirement {
    /// The authenticator must verify the user.
    #[default]
    Required,
    /// Verify if possible.
    Preferred,
    /// Do not verify.
    Discouraged,
}

/// `AttestationConveyancePreference`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttestationConveyancePreference {
    /// No attestation wanted.
    #[default]
    None,
    /// The client may anonymize.
    Indirect,
    /// The authenticator's attestation as produced.
    Direct,
    /// Enterprise attestation (uniquely identifying).
    Enterprise,
}

/// `PublicKeyCredentialHint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PublicKeyCredentialHint {
    /// A physical security key.
    SecurityKey,
    /// The platform authenticator.
    ClientDevice,
    /// A general-purpose device such as a phone.
    Hybrid,
}

/// `PublicKeyCredentialRpEntity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelyingPartyEntity {
    /// The RP ID (a registrable domain suffix of the origin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A human-palatable name.
    pub name: String,
}

/// `PublicKeyCredentialUserEntityJSON`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserEntity {
    /// The user handle: opaque, at most 64 bytes, no personal data.
    pub id: Base64UrlBytes,
    /// The account name (username or email).
    pub name: String,
    /// The display name.
    pub display_name: String,
}

/// `PublicKeyCredentialParameters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyCredentialParameters {
    /// Always `public-key`.
    #[serde(rename = "type")]
    pub type_: CredentialType,
    /// The COSE algorithm identifier.
    pub alg: i64,
}

/// The credential type (only `public-key` exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CredentialType {
    /// `public-key`
    #[default]
    #[serde(rename = "public-key")]
    PublicKey,
}

/// `PublicKeyCredentialDescriptorJSON`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyCredentialDescriptor {
    /// The credential id.
    pub id: Base64UrlBytes,
    /// Always `public-key`.
    #[serde(rename = "type")]
    pub type_: CredentialType,
    /// Transports reported at registration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transports: Vec<AuthenticatorTransport>,
}

impl PublicKeyCredentialDescriptor {
    /// A descriptor for a stored credential.
    #[must_use]
    pub fn new(id: impl Into<Vec<u8>>, transports: Vec<AuthenticatorTransport>) -> Self {
        Self {
            id: Base64UrlBytes(id.into()),
            type_: CredentialType::PublicKey,
            transports,
        }
    }
}

/// `AuthenticatorSelectionCriteria`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorSelectionCriteria {
    /// Restrict to platform or roaming authenticators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator_attachment: Option<AuthenticatorAttachment>,
    /// Discoverable credential requirement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resident_key: Option<ResidentKeyRequirement>,
    /// Level 1 spelling of `residentKey: required`, for old clients.
    #[serde(default)]
    pub require_resident_key: bool,
    /// User verification requirement.
    #[serde(default)]
    pub user_verification: UserVerificationRequirement,
}

/// Client extension inputs Tessera uses (`AuthenticationExtensionsClientInputsJSON`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionInputs {
    /// `appid`: the legacy U2F AppID under which a credential may have been registered (authentication only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    /// `credProps`: ask the client whether the credential is discoverable (registration only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cred_props: Option<bool>,
}

impl ExtensionInputs {
    fn is_empty(&self) -> bool {
        self.appid.is_none() && self.cred_props.is_none()
    }
}

/// `PublicKeyCredentialCreationOptionsJSON`: what `navigator.credentials.create()` receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyCredentialCreationOptionsJSON {
    /// The relying party.
    pub rp: RelyingPartyEntity,
    /// The user account.
    pub user: UserEntity,
    /// The one-time challenge.
    pub challenge: Base64UrlBytes,
    /// Algorithms offered, most preferred first.
    pub pub_key_cred_params: Vec<PublicKeyCredentialParameters>,
    /// Milliseconds the client may wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// Credentials the user already has (prevents registering the same authenticator twice).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_credentials: Vec<PublicKeyCredentialDescriptor>,
    /// Authenticator selection criteria.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator_selection: Option<AuthenticatorSelectionCriteria>,
    /// UI hints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<PublicKeyCredentialHint>,
    /// Attestation conveyance.
    #[serde(default)]
    pub attestation: AttestationConveyancePreference,
    /// Preferred attestation statement formats, most preferred first (L3 `attestationFormats`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attestation_formats: Vec<String>,
    /// Extension inputs.
    #[serde(default, skip_serializing_if = "ExtensionInputs::is_empty")]
    pub extensions: ExtensionInputs,
}

/// The algorithms Tessera offers by default, most preferred first: ES256, EdDSA, ES384, RS256, PS256, ML-DSA-65,
/// ML-DSA-44, ML-DSA-87.
pub const DEFAULT_ALGORITHMS: &[CoseAlgorithm] = &[
    CoseAlgorithm::Es256,
    CoseAlgorithm::EdDsa,
    CoseAlgorithm::Es384,
    CoseAlgorithm::Rs256,
    CoseAlgorithm::Ps256,
    CoseAlgorithm::MlDsa65,
    CoseAlgorithm::MlDsa44,
    CoseAlgorithm::MlDsa87,
];

impl PublicKeyCredentialCreationOptionsJSON {
    /// Starts registration options for `user` at the RP `rp_id` (named `rp_name`) with a fresh `challenge`.
    ///
    /// Defaults: [`DEFAULT_ALGORITHMS`], 5 minutes, discoverable credential preferred, user verification required,
    /// no attestation.
    pub fn builder(
        rp_id: impl Into<String>,
        rp_name: impl Into<String>,
        user: UserEntity,
        challenge: impl Into<Vec<u8>>,
    ) -> CreationOptionsBuilder {
        CreationOptionsBuilder {
            options: Self {
                rp: RelyingPartyEntity {
                    id: Some(rp_id.into()),
                    name: rp_name.into(),
                },
                user,
                challenge: Base64UrlBytes(challenge.into()),
                pub_key_cred_params: algorithm_params(DEFAULT_ALGORITHMS),
                timeout: Some(300_000),
                exclude_credentials: Vec::new(),
                authenticator_selection: Some(AuthenticatorSelectionCriteria {
                    authenticator_attachment: None,
                    resident_key: Some(ResidentKeyRequirement::Preferred),
                    require_resident_key: false,
                    user_verification: UserVerificationRequirement::Required,
                }),
                hints: Vec::new(),
                attestation: AttestationConveyancePreference::None,
                attestation_formats: Vec::new(),
                extensions: ExtensionInputs {
                    appid: None,
                    cred_props: Some(true),
                },
            },
        }
    }

    /// The COSE algorithms offered, for [`crate::RegistrationExpectation`].
    #[must_use]
    pub fn offered_algorithms(&self) -> Vec<i64> {
        self.pub_key_cred_params.iter().map(|p| p.alg).collect()
    }
}

fn algorithm_params(algorithms: &[CoseAlgorithm]) -> Vec<PublicKeyCredentialParameters> {
    algorithms
        .iter()
        .map(|alg| PublicKeyCredentialParameters {
            type_: CredentialType::PublicKey,
            alg: alg.id(),
        })
        .collect()
}

/// Builder for [`PublicKeyCredentialCreationOptionsJSON`].
#[derive(Debug, Clone)]
#[must_use]
pub struct CreationOptionsBuilder {
    options: PublicKeyCredentialCreationOptionsJSON,
}

impl CreationOptionsBuilder {
    /// Applies a tenant policy: its algorithms (in the policy's order, RS1 only if allowed), its user verification
    /// requirement, and `direct` attestation when the policy wants attestation.
    pub fn policy(mut self, policy: &AuthenticatorPolicy) -> Self {
        self.options.pub_key_cred_params = policy
            .algorithms
            .iter()
            .filter_map(|id| CoseAlgorithm::from_id(*id))
            .filter(|alg| policy.allows_algorithm(*alg))
            .map(|alg| PublicKeyCredentialParameters {
                type_: CredentialType::PublicKey,
                alg: alg.id(),
            })
            .collect();
        self.selection().user_verification = policy.user_verification;
        self.options.attestation = if policy.attestation == AttestationPolicy::None {
            AttestationConveyancePreference::None
        } else {
            AttestationConveyancePreference::Direct
        };
        self
    }
    /// Offers these algorithms, most preferred first.
    pub fn algorithms(mut self, algorithms: &[CoseAlgorithm]) -> Self {
        self.options.pub_key_cred_params = algorithm_params(algorithms);
        self
    }
    /// Sets the timeout in milliseconds (`None`: the client's default).
    pub fn timeout_ms(mut self, timeout: Option<u32>) -> Self {
        self.options.timeout = timeout;
        self
    }
    /// Lists the user's existing credentials so the same authenticator is not registered twice.
    pub fn exclude_credentials(mut self, credentials: Vec<PublicKeyCredentialDescriptor>) -> Self {
        self.options.exclude_credentials = credentials;
        self
    }
    /// Sets the discoverable-credential requirement (also sets the Level 1 `requireResidentKey`).
    pub fn resident_key(mut self, requirement: ResidentKeyRequirement) -> Self {
        let selection = self.selection();
        selection.resident_key = Some(requirement);
        selection.require_resident_key = requirement == ResidentKeyRequirement::Required;
        self
    }
    /// Sets the user verification requirement.
    pub fn user_verification(mut self, requirement: UserVerificationRequirement) -> Self {
        self.selection().user_verification = requirement;
        self
    }
    /// Restricts to platform or roaming authenticators.
    pub fn authenticator_attachment(mut self, attachment: Option<AuthenticatorAttachment>) -> Self {
        self.selection().authenticator_attachment = attachment;
        self
    }
    /// Sets the attestation conveyance preference.
    pub fn attestation(mut self, preference: AttestationConveyancePreference) -> Self {
        self.options.attestation = preference;
        self
    }
    /// Sets UI hints.
    pub fn hints(mut self, hints: Vec<PublicKeyCredentialHint>) -> Self {
        self.options.hints = hints;
        self
    }
    /// Sets the preferred attestation statement formats (`packed`, `tpm`, ...).
    pub fn attestation_formats(mut self, formats: Vec<String>) -> Self {
        self.options.attestation_formats = formats;
        self
    }
    /// Sets extension inputs.
    pub fn extensions(mut self, extensions: ExtensionInputs) -> Self {
        self.options.extensions = extensions;
        self
    }
    /// The finished options.
    #[must_use]
    pub fn build(self) -> PublicKeyCredentialCreationOptionsJSON {
        self.options
    }

    fn selection(&mut self) -> &mut AuthenticatorSelectionCriteria {
        self.options
            .authenticator_selection
            .get_or_insert(AuthenticatorSelectionCriteria {
                authenticator_attachment: None,
                resident_key: None,
                require_resident_key: false,
                user_verification: UserVerificationRequirement::Required,
            })
    }
}

/// `PublicKeyCredentialRequestOptionsJSON`: what `navigator.credentials.get()` receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyCredentialRequestOptionsJSON {
    /// The one-time challenge.
    pub challenge: Base64UrlBytes,
    /// Milliseconds the client may wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// The RP ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rp_id: Option<String>,
    /// The credentials acceptable for this sign-in (empty: discoverable credentials).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_credentials: Vec<PublicKeyCredentialDescriptor>,
    /// User verification requirement.
    #[serde(default)]
    pub user_verification: UserVerificationRequirement,
    /// UI hints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<PublicKeyCredentialHint>,
    /// Extension inputs (`appid` for credentials registered under a U2F AppID).
    #[serde(default, skip_serializing_if = "ExtensionInputs::is_empty")]
    pub extensions: ExtensionInputs,
}

impl PublicKeyCredentialRequestOptionsJSON {
    /// Starts sign-in options at `rp_id` with a fresh `challenge`. Defaults: 5 minutes, user verification required,
    /// no `allowCredentials` (discoverable flow).
    pub fn builder(
        rp_id: impl Into<String>,
        challenge: impl Into<Vec<u8>>,
    ) -> RequestOptionsBuilder {
        RequestOptionsBuilder {
            options: Self {
                challenge: Base64UrlBytes(challenge.into()),
                timeout: Some(300_000),
                rp_id: Some(rp_id.into()),
                allow_credentials: Vec::new(),
                user_verification: UserVerificationRequirement::Required,
                hints: Vec::new(),
                extensions: ExtensionInputs::default(),
            },
        }
    }
}

/// Builder for [`PublicKeyCredentialRequestOptionsJSON`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RequestOptionsBuilder {
    options: PublicKeyCredentialRequestOptionsJSON,
}

impl RequestOptionsBuilder {
    /// Applies a tenant policy's user verification requirement.
    pub fn policy(mut self, policy: &AuthenticatorPolicy) -> Self {
        self.options.user_verification = policy.user_verification;
        self
    }
    /// Sets the timeout in milliseconds.
    pub fn timeout_ms(mut self, timeout: Option<u32>) -> Self {
        self.options.timeout = timeout;
        self
    }
    /// Restricts the sign-in to these credentials (username-first flow).
    pub fn allow_credentials(mut self, credentials: Vec<PublicKeyCredentialDescriptor>) -> Self {
        self.options.allow_credentials = credentials;
        self
    }
    /// Sets the user verification requirement.
    pub fn user_verification(mut self, requirement: UserVerificationRequirement) -> Self {
        self.options.user_verification = requirement;
        self
    }
    /// Sets UI hints.
    pub fn hints(mut self, hints: Vec<PublicKeyCredentialHint>) -> Self {
        self.options.hints = hints;
        self
    }
    /// Asks the client to also try the legacy U2F `appid`.
    pub fn appid(mut self, appid: impl Into<String>) -> Self {
        self.options.extensions.appid = Some(appid.into());
        self
    }
    /// The finished options.
    #[must_use]
    pub fn build(self) -> PublicKeyCredentialRequestOptionsJSON {
        self.options
    }
}

/// `AuthenticatorAttestationResponseJSON`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorAttestationResponseJSON {
    /// The client data, as the client serialized it.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: Base64UrlBytes,
    /// The CBOR attestation object.
    pub attestation_object: Base64UrlBytes,
    /// A convenience copy of authData (informational; the attestation object's copy is the one verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator_data: Option<Base64UrlBytes>,
    /// Transports the client reports (informational, stored for allowCredentials hints).
    #[serde(default, deserialize_with = "null_as_default")]
    pub transports: Vec<AuthenticatorTransport>,
    /// SubjectPublicKeyInfo convenience copy (informational, never used for verification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<Base64UrlBytes>,
    /// COSE algorithm convenience copy (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_algorithm: Option<i64>,
}

/// `RegistrationResponseJSON`: what `PublicKeyCredential.toJSON()` returns after `create()`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationResponseJSON {
    /// The credential id, base64url.
    pub id: String,
    /// The credential id.
    pub raw_id: Base64UrlBytes,
    /// The authenticator's response.
    pub response: AuthenticatorAttestationResponseJSON,
    /// `platform` or `cross-platform`, if the client says.
    #[serde(default, deserialize_with = "null_as_default")]
    pub authenticator_attachment: Option<String>,
    /// Client extension outputs, of any shape (reported, never trusted).
    #[serde(default)]
    pub client_extension_results: serde_json::Value,
    /// Must be `public-key`.
    #[serde(rename = "type")]
    pub type_: String,
}

/// `AuthenticatorAssertionResponseJSON`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorAssertionResponseJSON {
    /// The client data, as the client serialized it.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: Base64UrlBytes,
    /// The authenticator data.
    pub authenticator_data: Base64UrlBytes,
    /// The assertion signature.
    pub signature: Base64UrlBytes,
    /// The user handle (`null` or absent for non-discoverable credentials).
    #[serde(default, deserialize_with = "null_as_default")]
    pub user_handle: Option<Base64UrlBytes>,
}

/// `AuthenticationResponseJSON`: what `PublicKeyCredential.toJSON()` returns after `get()`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationResponseJSON {
    /// The credential id, base64url.
    pub id: String,
    /// The credential id.
    pub raw_id: Base64UrlBytes,
    /// The authenticator's response.
    pub response: AuthenticatorAssertionResponseJSON,
    /// `platform` or `cross-platform`, if the client says.
    #[serde(default, deserialize_with = "null_as_default")]
    pub authenticator_attachment: Option<String>,
    /// Client extension outputs, of any shape (reported, never trusted; `appid` is read from here).
    #[serde(default)]
    pub client_extension_results: serde_json::Value,
    /// Must be `public-key`.
    #[serde(rename = "type")]
    pub type_: String,
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn parse_json<'a, T: Deserialize<'a>>(json: &'a [u8]) -> Result<T, WebauthnError> {
    if json.len() > MAX_RESPONSE_JSON_LEN {
        return Err(WebauthnError::InputTooLarge {
            field: "response",
            len: json.len(),
            max: MAX_RESPONSE_JSON_LEN,
        });
    }
    serde_json::from_slice(json).map_err(|e| WebauthnError::ResponseJsonInvalid(e.to_string()))
}

impl RegistrationResponseJSON {
    /// Parses a registration response from its JSON text.
    ///
    /// # Errors
    /// [`WebauthnError::ResponseJsonInvalid`] or [`WebauthnError::InputTooLarge`].
    pub fn from_json(json: &[u8]) -> Result<Self, WebauthnError> {
        parse_json(json)
    }

    /// `authenticatorAttachment`, when it is a known value.
    #[must_use]
    pub fn attachment(&self) -> Option<AuthenticatorAttachment> {
        self.authenticator_attachment
            .as_deref()
            .and_then(AuthenticatorAttachment::parse)
    }
}

impl AuthenticationResponseJSON {
    /// Parses an authentication response from its JSON text.
    ///
    /// # Errors
    /// [`WebauthnError::ResponseJsonInvalid`] or [`WebauthnError::InputTooLarge`].
    pub fn from_json(json: &[u8]) -> Result<Self, WebauthnError> {
        parse_json(json)
    }

    /// `authenticatorAttachment`, when it is a known value.
    #[must_use]
    pub fn attachment(&self) -> Option<AuthenticatorAttachment> {
        self.authenticator_attachment
            .as_deref()
            .and_then(AuthenticatorAttachment::parse)
    }

    /// Whether the client reports that it used the `appid` extension (`clientExtensionResults.appid == true`).
    #[must_use]
    pub fn appid_used(&self) -> bool {
        self.client_extension_results.get("appid") == Some(&serde_json::Value::Bool(true))
    }
}

/// Checks `type == "public-key"` and that `id` is the base64url of `rawId`; returns the credential id.
pub(crate) fn check_credential_identity<'a>(
    id: &str,
    raw_id: &'a Base64UrlBytes,
    type_: &str,
) -> Result<&'a [u8], WebauthnError> {
    if type_ != PUBLIC_KEY_TYPE {
        return Err(WebauthnError::CredentialTypeInvalid {
            found: type_.to_owned(),
        });
    }
    let decoded = crate::base64url::decode(id).map_err(|_| WebauthnError::CredentialIdMismatch)?;
    if decoded != raw_id.as_slice() {
        return Err(WebauthnError::CredentialIdMismatch);
    }
    Ok(raw_id.as_slice())
}
