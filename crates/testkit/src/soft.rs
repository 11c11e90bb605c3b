//! A valid software authenticator on 1Password's `passkey` crates (a WebAuthn client and a CTAP2
//! authenticator with discoverable credentials), answering ceremony options JSON with WebAuthn JSON.

use std::collections::HashMap;
use std::sync::Mutex;

use passkey_authenticator::{
    Authenticator, CredentialStore, DiscoverabilitySupport, StoreInfo, UiHint, UserCheck,
    UserValidationMethod,
};
use passkey_client::{Client, DefaultClientData};
use passkey_crypto::aws_lc_rs::AwsLcRsBackend;
use passkey_types::Passkey;
use passkey_types::ctap2::make_credential::{
    Options, PublicKeyCredentialRpEntity, PublicKeyCredentialUserEntity,
};
use passkey_types::ctap2::{Aaguid, Ctap2Error, StatusCode};
use passkey_types::webauthn::{
    CredentialCreationOptions, CredentialRequestOptions, PublicKeyCredentialCreationOptions,
    PublicKeyCredentialDescriptor, PublicKeyCredentialRequestOptions,
};
use serde_json::json;

use crate::cbor::b64url;
use crate::error::TestkitError;
use crate::options::options_object;

/// The AAGUID the soft authenticator reports.
pub const SOFT_AAGUID: [u8; 16] = *b"tessera-softauth";

/// Discoverable credentials in memory: with an empty allow list, every credential of the RP matches.
#[derive(Default)]
struct DiscoverableStore(HashMap<Vec<u8>, Passkey>);

#[async_trait::async_trait]
impl CredentialStore for DiscoverableStore {
    type PasskeyItem = Passkey;

    async fn find_credentials(
        &self,
        ids: Option<&[PublicKeyCredentialDescriptor]>,
        rp_id: &str,
        _user_handle: Option<&[u8]>,
    ) -> Result<Vec<Passkey>, StatusCode> {
        let found: Vec<Passkey> = match ids {
            Some(ids) if !ids.is_empty() => ids
                .iter()
                .filter_map(|d| self.0.get(&*d.id))
                .filter(|p| p.rp_id == rp_id)
                .cloned()
                .collect(),
            _ => self
                .0
                .values()
                .filter(|p| p.rp_id == rp_id)
                .cloned()
                .collect(),
        };
        if found.is_empty() {
            Err(Ctap2Error::NoCredentials.into())
        } else {
            Ok(found)
        }
    }

    async fn save_credential(
        &mut self,
        credential: Passkey,
        _user: PublicKeyCredentialUserEntity,
        _rp: PublicKeyCredentialRpEntity,
        _options: Options,
    ) -> Result<(), StatusCode> {
        self.0.insert(credential.credential_id.to_vec(), credential);
        Ok(())
    }

    async fn update_credential(&mut self, credential: &Passkey) -> Result<(), StatusCode> {
        self.0
            .insert(credential.credential_id.to_vec(), credential.clone());
        Ok(())
    }

    async fn get_info(&self) -> StoreInfo {
        StoreInfo {
            discoverability: DiscoverabilitySupport::ForcedDiscoverable,
        }
    }
}

/// The person at the authenticator: always present, verified when `verifies` is true.
struct User {
    verifies: bool,
}

#[async_trait::async_trait]
impl UserValidationMethod for User {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Passkey>,
        presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence,
            verification: verification && self.verifies,
        })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(self.verifies)
    }
}

type PasskeyClient =
    Client<DiscoverableStore, User, AwsLcRsBackend, public_suffix::PublicSuffixList, ()>;

/// A valid platform authenticator (ES256, EdDSA and ML-DSA keys; `none` attestation; discoverable
/// credentials kept in memory). `http://localhost` origins are allowed, as browsers allow them.
pub struct SoftAuthenticator {
    client: Mutex<PasskeyClient>,
}

impl std::fmt::Debug for SoftAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftAuthenticator").finish_non_exhaustive()
    }
}

impl Default for SoftAuthenticator {
    fn default() -> Self {
        SoftAuthenticator::new()
    }
}

impl SoftAuthenticator {
    /// An authenticator that verifies its user (UV set when asked for).
    pub fn new() -> SoftAuthenticator {
        SoftAuthenticator::build(true)
    }

    /// An authenticator that can test presence but cannot verify its user (UV never set).
    pub fn without_user_verification() -> SoftAuthenticator {
        SoftAuthenticator::build(false)
    }

    fn build(verifies: bool) -> SoftAuthenticator {
        let authenticator = Authenticator::new(
            Aaguid::from(SOFT_AAGUID),
            DiscoverableStore::default(),
            User { verifies },
            AwsLcRsBackend,
        );
        let client = Client::new(authenticator).allows_insecure_localhost(true);
        SoftAuthenticator {
            client: Mutex::new(client),
        }
    }

    /// Answers `navigator.credentials.create()` (options JSON, bare or under `publicKey`) from
    /// `origin`; returns the `RegistrationResponseJSON` text. The credential stays in this authenticator.
    pub fn register(
        &self,
        creation_options_json: &str,
        origin: &str,
    ) -> Result<String, TestkitError> {
        let options: PublicKeyCredentialCreationOptions =
            serde_json::from_value(options_object(creation_options_json)?)
                .map_err(|e| TestkitError::OptionsNotJson(e.to_string()))?;
        let origin = parse_origin(origin)?;
        let mut client = self.lock();
        let created = pollster::block_on(client.register(
            &origin,
            CredentialCreationOptions {
                public_key: options,
            },
            DefaultClientData,
        ))
        .map_err(|e| TestkitError::SoftAuthenticator(format!("{e:?}")))?;
        let r = &created.response;
        let mut response = json!({
            "clientDataJSON": b64url(&*r.client_data_json),
            "attestationObject": b64url(&*r.attestation_object),
            "authenticatorData": b64url(&*r.authenticator_data),
            "publicKeyAlgorithm": r.public_key_algorithm,
            "transports": serde_json::to_value(r.transports.clone().unwrap_or_default())
                .unwrap_or_else(|_| json!([])),
        });
        if let (Some(key), Some(map)) = (&r.public_key, response.as_object_mut()) {
            map.insert("publicKey".into(), json!(b64url(&**key)));
        }
        Ok(json!({
            "id": created.id,
            "rawId": b64url(&*created.raw_id),
            "type": "public-key",
            "response": response,
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        })
        .to_string())
    }

    /// Answers `navigator.credentials.get()` from `origin`; returns the `AuthenticationResponseJSON`
    /// text. With an empty `allowCredentials` it uses a discoverable credential of the RP.
    pub fn authenticate(
        &self,
        request_options_json: &str,
        origin: &str,
    ) -> Result<String, TestkitError> {
        let options: PublicKeyCredentialRequestOptions =
            serde_json::from_value(options_object(request_options_json)?)
                .map_err(|e| TestkitError::OptionsNotJson(e.to_string()))?;
        let origin = parse_origin(origin)?;
        let mut client = self.lock();
        let asserted = pollster::block_on(client.authenticate(
            &origin,
            CredentialRequestOptions {
                public_key: options,
            },
            DefaultClientData,
        ))
        .map_err(|e| TestkitError::SoftAuthenticator(format!("{e:?}")))?;
        let r = &asserted.response;
        let mut response = json!({
            "clientDataJSON": b64url(&*r.client_data_json),
            "authenticatorData": b64url(&*r.authenticator_data),
            "signature": b64url(&*r.signature),
        });
        if let (Some(handle), Some(map)) = (&r.user_handle, response.as_object_mut()) {
            map.insert("userHandle".into(), json!(b64url(&**handle)));
        }
        Ok(json!({
            "id": asserted.id,
            "rawId": b64url(&*asserted.raw_id),
            "type": "public-key",
            "response": response,
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        })
        .to_string())
    }

    /// The ids of the credentials this authenticator holds.
    pub fn credential_ids(&self) -> Vec<Vec<u8>> {
        self.lock()
            .authenticator()
            .store()
            .0
            .keys()
            .cloned()
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PasskeyClient> {
        // A panic while holding the lock leaves a usable store; take it back.
        self.client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn parse_origin(origin: &str) -> Result<url::Url, TestkitError> {
    url::Url::parse(origin).map_err(|_| TestkitError::BadOrigin(origin.to_owned()))
}
