//! Attestation trust from configuration files: PEM trust anchors and a FIDO MDS3 BLOB verified against its root.
//!
//! Loaded once at start (a bad file refuses to start, naming the key), and the BLOB again by the maintenance task
//! when its file changes (a bad new one is logged and the loaded one kept).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use tessera_http::state::AttestationSettings;
use tessera_webauthn::attestation::pem::{CertificateFileError, certificates_from_pem_or_der};
use tessera_webauthn::mds::MetadataBlob;
use time::OffsetDateTime;

use crate::error::ServerError;

/// The `[webauthn]` files, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustFiles {
    /// `webauthn.trust_anchors_file`: PEM certificates trusted as attestation roots.
    pub trust_anchors_file: Option<PathBuf>,
    /// `webauthn.mds_blob_file` and `webauthn.mds_root_file`: a FIDO MDS3 BLOB and the PEM (or DER) root its
    /// signing chain must reach.
    pub mds: Option<MdsFiles>,
}

/// A FIDO MDS3 BLOB file and its root certificate file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdsFiles {
    /// The BLOB (compact JWS) as downloaded from the FIDO Alliance.
    pub blob: PathBuf,
    /// The root certificate (PEM or DER).
    pub root: PathBuf,
}

fn invalid(key: &'static str, message: impl Into<String>) -> ServerError {
    ServerError::Invalid {
        key,
        message: message.into(),
    }
}

fn read(path: &Path, key: &'static str) -> Result<Vec<u8>, ServerError> {
    std::fs::read(path).map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))
}

/// Every certificate of a PEM file (or one DER certificate), as DER; each must parse as X.509.
pub fn certificates(path: &Path, key: &'static str) -> Result<Vec<Vec<u8>>, ServerError> {
    let data = read(path, key)?;
    certificates_from_pem_or_der(&data).map_err(|e| match e {
        CertificateFileError::NotX509 { number } => invalid(
            key,
            format!("certificate {number} of {} is not X.509", path.display()),
        ),
        e => invalid(key, format!("{} {e}", path.display())),
    })
}

/// Reads and verifies the MDS3 BLOB at `now`.
pub fn load_mds(files: &MdsFiles, now: OffsetDateTime) -> Result<MetadataBlob, ServerError> {
    let roots = certificates(&files.root, "webauthn.mds_root_file")?;
    let jws = read(&files.blob, "webauthn.mds_blob_file")?;
    // A root file may hold more than one certificate (a rollover): the BLOB must chain to one of them.
    MetadataBlob::from_jws_with_roots(&jws, &roots, now).map_err(|e| {
        invalid(
            "webauthn.mds_blob_file",
            format!("{} was refused: {} ({e})", files.blob.display(), e.rule()),
        )
    })
}

/// Loads every configured source at `now`.
pub fn load(files: &TrustFiles, now: OffsetDateTime) -> Result<AttestationSettings, ServerError> {
    let trust_anchors = match &files.trust_anchors_file {
        Some(path) => certificates(path, "webauthn.trust_anchors_file")?,
        None => Vec::new(),
    };
    let metadata = match &files.mds {
        Some(mds) => Some(Arc::new(load_mds(mds, now)?)),
        None => None,
    };
    Ok(AttestationSettings {
        trust_anchors,
        metadata,
    })
}

/// The modification time of a file, to notice a replaced BLOB.
pub fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
