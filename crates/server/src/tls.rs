//! `[server.tls]`: the certificate chain and private key (PEM files) `tessera serve` listens with, loaded and checked
//! at start into a rustls acceptor (aws-lc-rs provider, TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`).

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, ServerConfig};

use crate::error::ServerError;

const CERT_KEY: &str = "server.tls.cert";
const KEY_KEY: &str = "server.tls.key";

fn pem_problem(path: &Path, what: &str, error: &pem::Error) -> String {
    match error {
        pem::Error::Io(io) => format!("cannot read {}: {io}", path.display()),
        pem::Error::NoItemsFound => format!("{} holds no PEM {what}", path.display()),
        other => format!("{} is not a readable PEM {what}: {other}", path.display()),
    }
}

/// Loads the certificate chain (`cert`, leaf first) and its private key (`key`: PKCS#8, PKCS#1 or SEC1) and builds
/// the acceptor.
///
/// # Errors
/// [`ServerError::Invalid`] naming `server.tls.cert` or `server.tls.key`: a file that is missing or unreadable, holds
/// no certificate or key, or a key that does not belong to the certificate.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServerError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|items| items.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ServerError::Invalid {
            key: CERT_KEY,
            message: pem_problem(cert, "certificate", &e),
        })?;
    if chain.is_empty() {
        return Err(ServerError::Invalid {
            key: CERT_KEY,
            message: format!("{} holds no PEM certificate", cert.display()),
        });
    }
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| ServerError::Invalid {
        key: KEY_KEY,
        message: pem_problem(key, "private key", &e),
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Invalid {
            key: CERT_KEY,
            message: format!("TLS set-up failed: {e}"),
        })?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                ServerError::Invalid {
                    key: KEY_KEY,
                    message: format!(
                        "{} does not belong to the certificate in {} ({CERT_KEY})",
                        key.display(),
                        cert.display()
                    ),
                }
            }
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
                ServerError::Invalid {
                    key: CERT_KEY,
                    message: format!("{}: {e}", cert.display()),
                }
            }
            other => ServerError::Invalid {
                key: KEY_KEY,
                message: format!(
                    "{} cannot be used with the certificate: {other}",
                    key.display()
                ),
            },
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
