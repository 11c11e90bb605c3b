//! Tessera's WebAuthn relying-party engine: pure verification of WebAuthn Level 3 ceremonies (no I/O, no clock of its
//! own), step by step after §7.1 "Registering a New Credential" and §7.2 "Verifying an Authentication Assertion".
//!
//! - [`json`]: the WebAuthn JSON serialization: options sent to the browser (with builders) and responses parsed
//!   tolerantly.
//! - [`clientdata`]: `clientDataJSON` parsing and the type/challenge/origin/crossOrigin/topOrigin checks.
//! - [`authdata`]: authenticator data (flags, sign count, attested credential data, extensions), parsed strictly.
//! - [`cose`]: COSE public keys (ES256/384/512, EdDSA, RS256, PS256, ML-DSA-44/65/87) and signature verification.
//! - [`policy`]: a tenant's [`AuthenticatorPolicy`] (UV, attestation, AAGUID lists, certification, synced passkeys).
//! - [`registration`]: [`verify_registration`] (§7.1).
//! - [`authentication`]: [`verify_authentication`] (§7.2) and the stored [`CredentialRecord`].
//! - [`challenge`]: random challenges.
//! - [`canonical_cbor`]: the CTAP2 canonical-CBOR check run on authenticator CBOR before it is decoded.
//! - [`base64url`]: the tolerant base64url codec of the JSON serialization.
//! - [`attestation`]: attestation statement formats and trust paths.
//! - [`mds`]: FIDO Metadata Service (MDS3) BLOBs.
//! - [`error`]: [`WebauthnError`], one variant per failed rule.

pub mod attestation;
pub mod authdata;
pub mod authentication;
pub mod base64url;
pub mod canonical_cbor;
pub mod challenge;
pub mod clientdata;
pub mod cose;
pub mod error;
pub mod json;
pub mod mds;
pub mod policy;
pub mod registration;

pub use authdata::{AttestedCredentialData, AuthenticatorData, AuthenticatorFlags};
pub use authentication::{
    AuthenticationExpectation, CredentialRecord, UserIdentification, VerifiedAuthentication,
    verify_authentication,
};
pub use base64url::Base64UrlBytes;
pub use challenge::generate_challenge;
pub use clientdata::{CollectedClientData, CrossOriginPolicy, OriginPolicy};
pub use cose::{CoseAlgorithm, CoseKey, CoseKeyParams};
pub use error::WebauthnError;
pub use json::{
    AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON,
    PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON,
};
pub use policy::{
    Aaguid, AttestationPolicy, AuthenticatorPolicy, CertificationLevel, SignCountPolicy,
    SyncedPasskeys,
};
pub use registration::{
    Mediation, RegistrationExpectation, VerifiedRegistration, verify_registration,
};
