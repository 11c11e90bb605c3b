//! The authenticator service's use cases (the FIDO2 server that is an OpenID provider).
//!
//! - [`runtime`]: a tenant's runtime entry (record, decrypted keys, discovery and JWKS documents), loaded once and
//!   cached by the HTTP layer.

pub mod runtime;
