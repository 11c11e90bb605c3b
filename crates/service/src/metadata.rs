//! The loaded FIDO metadata (an MDS3 BLOB) as operators look at it: its authenticator models, found by description
//! or AAGUID, and the model a passkey's AAGUID names.

use tessera_webauthn::mds::{MetadataBlob, MetadataEntry};

/// An authenticator model of the FIDO metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FidoModel {
    /// Its AAGUID (FIDO2), as a UUID.
    pub aaguid: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// Its latest status (`FIDO_CERTIFIED_L1`, `REVOKED`, ...).
    pub status: Option<String>,
}

/// An AAGUID written as a UUID (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lowercase).
pub fn aaguid_text(bytes: &[u8; 16]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn model(entry: &MetadataEntry) -> FidoModel {
    FidoModel {
        aaguid: entry.aaguid.as_ref().map(aaguid_text),
        description: entry.description.clone(),
        status: entry
            .status_reports
            .last()
            .map(|r| r.status.as_str().to_owned()),
    }
}

/// The models of `blob` whose description contains `query` or whose AAGUID contains it (case-insensitively, the
/// AAGUID with or without its dashes; an empty query: every model), in the BLOB's order.
pub fn models(blob: &MetadataBlob, query: &str) -> Vec<FidoModel> {
    let query = query.trim().to_lowercase();
    let bare = query.replace('-', "");
    blob.entries()
        .iter()
        .map(model)
        .filter(|m| {
            query.is_empty()
                || m.description
                    .as_deref()
                    .is_some_and(|d| d.to_lowercase().contains(&query))
                || m.aaguid.as_deref().is_some_and(|a| {
                    a.contains(&query) || (!bare.is_empty() && a.replace('-', "").contains(&bare))
                })
        })
        .collect()
}

/// The description of the model `aaguid` names, when the loaded metadata knows it.
pub fn model_name(blob: Option<&MetadataBlob>, aaguid: &[u8; 16]) -> Option<String> {
    blob.and_then(|b| b.entry(aaguid))
        .and_then(|e| e.description.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aaguids_are_written_as_lowercase_uuids() {
        let mut bytes = [0u8; 16];
        bytes[0] = 0xAB;
        bytes[15] = 0x01;
        assert_eq!(aaguid_text(&bytes), "ab000000-0000-0000-0000-000000000001");
    }
}
