//! Small CBOR and base64url helpers shared by the authenticators.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ciborium::Value;

use crate::error::TestkitError;

/// Encodes a CBOR value to bytes.
pub(crate) fn to_vec(value: &Value) -> Result<Vec<u8>, TestkitError> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).map_err(|e| TestkitError::Cbor(e.to_string()))?;
    Ok(out)
}

/// Encodes bytes as unpadded base64url, as the WebAuthn JSON serialization does.
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url, tolerating padding.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}
