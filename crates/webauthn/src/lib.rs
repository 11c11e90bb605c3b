//! WebAuthn relying-party engine (work in progress; module map to come).

pub mod attestation;
pub mod mds;
