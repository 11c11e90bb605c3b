//! The one error type of the testkit.

use crate::keys::KeyAlg;

/// Why a test authenticator or helper could not do what it was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestkitError {
    /// The ceremony options are not JSON, or not a JSON object.
    #[error("ceremony options are not a JSON object: {0}")]
    OptionsNotJson(String),
    /// A field the ceremony needs is missing from the options.
    #[error("ceremony options lack `{0}`")]
    MissingOption(&'static str),
    /// A field of the options that must be base64url is not.
    #[error("ceremony option `{0}` is not base64url")]
    OptionNotBase64url(&'static str),
    /// The origin given to the authenticator is not a URL with a host.
    #[error("origin `{0}` is not a URL with a host")]
    BadOrigin(String),
    /// None of the algorithms in `pubKeyCredParams` is one this authenticator can make keys for.
    #[error("no algorithm offered in pubKeyCredParams is supported by this authenticator")]
    NoSupportedAlgorithm,
    /// The crypto backend failed to generate a key.
    #[error("could not generate a {0:?} key")]
    KeyGeneration(KeyAlg),
    /// The crypto backend failed to sign.
    #[error("signing with a {0:?} key failed")]
    Signing(KeyAlg),
    /// CBOR encoding failed.
    #[error("CBOR encoding failed: {0}")]
    Cbor(String),
    /// A test certificate could not be made.
    #[error("test certificate: {0}")]
    Certificate(String),
    /// The 1Password software authenticator refused the ceremony.
    #[error("software authenticator refused the ceremony: {0}")]
    SoftAuthenticator(String),
    /// A file-system operation of a helper failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
