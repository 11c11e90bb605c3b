//! Well-known attestation roots, for operators who choose to trust them (nothing here is trusted implicitly: a
//! tenant's policy or the CLI's `--trust-anchors` decides). SHA-256 fingerprints are listed so they can be checked
//! against the vendors' publications.

/// Apple WebAuthn Root CA, which anchors `apple` anonymous attestation (valid until 2045-03-15).
/// SHA-256 `0915DD5C07A28DB549D1F677BB5A75D4BFBE9561A773424327762E9E02F9BB29`.
pub const APPLE_WEBAUTHN_ROOT_CA: &[u8] = include_bytes!("roots/apple-webauthn-root-ca.der");

/// Google Hardware Attestation Root (RSA, 2019-11-22 to 2034-11-18), which anchors `android-key` attestation.
/// SHA-256 `1EF1A04B8BA58AB94589AC498C8982A783F24EA7307E0159A0C3A73B377D87CC`.
pub const GOOGLE_HARDWARE_ATTESTATION_ROOT_2019: &[u8] =
    include_bytes!("roots/google-hardware-attestation-root-2019.der");

/// Google Hardware Attestation Root (RSA, 2016-05-26 to 2026-05-24), the same key as the 2019 certificate.
/// SHA-256 `C1984A3EF45C1E2A918551DE10603C86F7051B2249C4891CAE3230EABD0C97D5`.
pub const GOOGLE_HARDWARE_ATTESTATION_ROOT_2016: &[u8] =
    include_bytes!("roots/google-hardware-attestation-root-2016.der");

/// GlobalSign Root CA (R1), which anchors the `android-safetynet` signing chain (valid until 2028-01-28).
/// SHA-256 `EBD41040E4BB3EC742C9E381D31EF2A41A48B6685C96E7CEF3C1DF6CD4331C99`.
pub const GLOBALSIGN_ROOT_CA: &[u8] = include_bytes!("roots/globalsign-root-ca.der");

/// All of the above, as owned DER for [`super::AttestationTrust::trust_anchors`].
pub fn well_known() -> Vec<Vec<u8>> {
    [
        APPLE_WEBAUTHN_ROOT_CA,
        GOOGLE_HARDWARE_ATTESTATION_ROOT_2019,
        GOOGLE_HARDWARE_ATTESTATION_ROOT_2016,
        GLOBALSIGN_ROOT_CA,
    ]
    .iter()
    .map(|der| der.to_vec())
    .collect()
}
