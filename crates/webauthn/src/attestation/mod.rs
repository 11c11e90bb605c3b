//! Attestation statement formats (being written).
