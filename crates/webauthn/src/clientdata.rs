//! `CollectedClientData`: the JSON the browser signs over (through its hash), parsed as WebAuthn L3 §5.8.1 and the
//! §7.1/§7.2 steps "Let JSONtext be the result of running UTF-8 decode" and "Let C ... be the result of running an
//! implementation-specific JSON parser on JSONtext" describe.

use crate::error::WebauthnError;
use serde::Deserialize;

/// Largest clientDataJSON accepted.
pub const MAX_CLIENT_DATA_LEN: usize = 16 * 1024;

/// The ceremony a client data belongs to (`C.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyType {
    /// `webauthn.create`
    Create,
    /// `webauthn.get`
    Get,
}

impl CeremonyType {
    /// The `type` string.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "webauthn.create",
            Self::Get => "webauthn.get",
        }
    }
}

/// The fields of `CollectedClientData` a relying party checks. Unknown fields (such as `tokenBinding` or
/// `other_keys_can_be_added_here`) are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CollectedClientData {
    /// `webauthn.create` or `webauthn.get`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The challenge, base64url as the client wrote it.
    pub challenge: String,
    /// The origin of the calling document.
    pub origin: String,
    /// Whether the caller was in a cross-origin iframe.
    #[serde(default, deserialize_with = "null_as_false")]
    pub cross_origin: bool,
    /// The top-level origin when embedded.
    #[serde(default)]
    pub top_origin: Option<String>,
    /// Token Binding (WebAuthn L2; Tessera does not bind tokens). When it is an object with a `status`, the status
    /// must be one the specification defines; other shapes (some old clients send a string) are ignored.
    #[serde(default)]
    pub token_binding: Option<serde_json::Value>,
}

fn null_as_false<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(false))
}

impl CollectedClientData {
    /// Parses clientDataJSON: UTF-8 (a leading byte order mark is stripped, as the WHATWG "UTF-8 decode" does), then
    /// JSON.
    ///
    /// # Errors
    /// [`WebauthnError::ClientDataNotUtf8`], [`WebauthnError::ClientDataJsonInvalid`] or
    /// [`WebauthnError::InputTooLarge`].
    pub fn parse(bytes: &[u8]) -> Result<Self, WebauthnError> {
        if bytes.len() > MAX_CLIENT_DATA_LEN {
            return Err(WebauthnError::InputTooLarge {
                field: "clientDataJSON",
                len: bytes.len(),
                max: MAX_CLIENT_DATA_LEN,
            });
        }
        let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
        let text = std::str::from_utf8(bytes).map_err(|_| WebauthnError::ClientDataNotUtf8)?;
        let client_data: Self = serde_json::from_str(text)
            .map_err(|e| WebauthnError::ClientDataJsonInvalid(e.to_string()))?;
        if let Some(status) = client_data
            .token_binding
            .as_ref()
            .and_then(|b| b.get("status"))
            && !matches!(status.as_str(), Some("present" | "supported"))
        {
            return Err(WebauthnError::ClientDataJsonInvalid(format!(
                "tokenBinding.status {status} is not \"present\" or \"supported\""
            )));
        }
        Ok(client_data)
    }

    /// The decoded challenge bytes, if `challenge` is base64url.
    #[must_use]
    pub fn challenge_bytes(&self) -> Option<Vec<u8>> {
        crate::base64url::decode(&self.challenge).ok()
    }
}

/// Where a ceremony may run: the tenant's origins and, when it allows being embedded, the parent origins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    /// Exact origins (`https://login.example.com`, `android:apk-key-hash:...`) the RP accepts.
    pub origins: Vec<String>,
    /// Cross-origin iframe embedding.
    pub cross_origin: CrossOriginPolicy,
}

/// Whether a ceremony may run inside a cross-origin iframe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CrossOriginPolicy {
    /// `crossOrigin: true` is refused (default), and so is any `topOrigin`.
    #[default]
    Refuse,
    /// Embedding is allowed under these top-level origins only; a cross-origin ceremony must report its `topOrigin`.
    AllowFrom(Vec<String>),
}

impl OriginPolicy {
    /// Same-origin only, with these exact origins.
    #[must_use]
    pub fn new(origins: Vec<String>) -> Self {
        Self {
            origins,
            cross_origin: CrossOriginPolicy::Refuse,
        }
    }
}

/// The clientDataJSON steps shared by §7.1 and §7.2: type, challenge, origin, crossOrigin and topOrigin.
pub(crate) fn verify_client_data(
    client_data: &CollectedClientData,
    ceremony: CeremonyType,
    challenge: &[u8],
    policy: &OriginPolicy,
) -> Result<(), WebauthnError> {
    // §7.1/§7.2 step "Verify that the value of C.type is webauthn.create / webauthn.get".
    if client_data.type_ != ceremony.as_str() {
        return Err(WebauthnError::ClientDataTypeMismatch {
            expected: ceremony.as_str(),
            found: client_data.type_.clone(),
        });
    }
    // Step "Verify that the value of C.challenge equals the base64url encoding of options.challenge".
    let received = client_data
        .challenge_bytes()
        .ok_or(WebauthnError::ChallengeMismatch)?;
    if challenge.is_empty()
        || aws_lc_rs::constant_time::verify_slices_are_equal(&received, challenge).is_err()
    {
        return Err(WebauthnError::ChallengeMismatch);
    }
    // Step "Verify that the value of C.origin is an origin expected by the Relying Party" (exact match, §13.4.9).
    if !policy.origins.contains(&client_data.origin) {
        return Err(WebauthnError::OriginNotAllowed {
            origin: client_data.origin.clone(),
        });
    }
    // Step "If C.crossOrigin is present and set to true, verify that the Relying Party expects that this credential
    // would have been created within an iframe that is not same-origin with its ancestors."
    // Step "If C.topOrigin is present: verify that the Relying Party expects ... and that it matches".
    match &policy.cross_origin {
        CrossOriginPolicy::Refuse => {
            if client_data.cross_origin {
                return Err(WebauthnError::CrossOriginNotAllowed);
            }
            if let Some(top) = &client_data.top_origin {
                return Err(WebauthnError::TopOriginNotAllowed {
                    top_origin: top.clone(),
                });
            }
        }
        CrossOriginPolicy::AllowFrom(tops) => match &client_data.top_origin {
            Some(top) if tops.iter().any(|t| t == top) => {}
            Some(top) => {
                return Err(WebauthnError::TopOriginNotAllowed {
                    top_origin: top.clone(),
                });
            }
            None if client_data.cross_origin => return Err(WebauthnError::TopOriginMissing),
            None => {}
        },
    }
    Ok(())
}
