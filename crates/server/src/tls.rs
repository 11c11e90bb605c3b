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
const ROOTS_KEY: &str = "broker.trust_roots_file";
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

/// Loads `[broker] trust_roots_file`: the PEM root certificates the broker trusts, besides the Mozilla roots, when it
/// calls identity providers.
///
/// # Errors
/// [`ServerError::Invalid`] naming `broker.trust_roots_file`: a file that is missing or unreadable, holds no
/// certificate, or a certificate that cannot be a trust root.
pub fn upstream_roots(file: &Path) -> Result<Vec<CertificateDer<'static>>, ServerError> {
    let roots = CertificateDer::pem_file_iter(file)
        .and_then(|items| items.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ServerError::Invalid {
            key: ROOTS_KEY,
            message: pem_problem(file, "certificate", &e),
        })?;
    if roots.is_empty() {
        return Err(ServerError::Invalid {
            key: ROOTS_KEY,
            message: format!("{} holds no PEM certificate", file.display()),
        });
    }
    tessera_service::broker::UpstreamClient::with_extra_roots(&roots).map_err(|e| {
        ServerError::Invalid {
            key: ROOTS_KEY,
            message: format!("{}: {e}", file.display()),
        }
    })?;
    Ok(roots)
}

/// The demo's TLS files in `{data dir}/tls/`: a certificate authority of its own and a `localhost` certificate it
/// signed (`tessera demo --tls`).
#[derive(Debug, Clone)]
pub struct DemoCertificates {
    /// The demo CA's certificate (PEM): what a client trusts, e.g. `NODE_EXTRA_CA_CERTS`.
    pub ca: std::path::PathBuf,
    /// The `localhost` certificate chain (PEM, leaf first).
    pub cert: std::path::PathBuf,
    /// Its private key (PEM, PKCS#8, 0600).
    pub key: std::path::PathBuf,
}

impl DemoCertificates {
    /// The files in `dir` when all three are there, else three new ones (a new CA, whose key is not kept: the next
    /// certificate comes with a new CA).
    ///
    /// # Errors
    /// [`ServerError::Io`] when the directory or a file cannot be written, [`ServerError::Demo`] when the
    /// certificates cannot be made.
    pub fn load_or_create(dir: &Path) -> Result<Self, ServerError> {
        let files = Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("localhost.pem"),
            key: dir.join("localhost-key.pem"),
        };
        if files.ca.exists() && files.cert.exists() && files.key.exists() {
            return Ok(files);
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| ServerError::io(format!("cannot create {}", dir.display()), e))?;
        let made = |e: rcgen::Error| ServerError::Demo(format!("demo TLS certificate: {e}"));
        let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(made)?;
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(made)?;
        ca.distinguished_name.push(
            rcgen::DnType::CommonName,
            "Tessera demo CA (this machine only)",
        );
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        ca.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca_cert = ca.self_signed(&ca_key).map_err(made)?;
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let leaf_key =
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(made)?;
        let mut leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).map_err(made)?;
        leaf.subject_alt_names.push(rcgen::SanType::IpAddress(
            std::net::Ipv4Addr::LOCALHOST.into(),
        ));
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        leaf.is_ca = rcgen::IsCa::ExplicitNoCa;
        leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(made)?;
        crate::datadir::write_private(&files.key, leaf_key.serialize_pem().as_bytes())?;
        std::fs::write(&files.cert, leaf_cert.pem())
            .map_err(|e| ServerError::io(format!("cannot write {}", files.cert.display()), e))?;
        std::fs::write(&files.ca, ca_cert.pem())
            .map_err(|e| ServerError::io(format!("cannot write {}", files.ca.display()), e))?;
        Ok(files)
    }

    /// The demo CA's certificate, for the clients that must trust it (the broker's, the demo relying party's).
    ///
    /// # Errors
    /// As [`upstream_roots`], naming the CA file.
    pub fn ca_certificates(&self) -> Result<Vec<CertificateDer<'static>>, ServerError> {
        upstream_roots(&self.ca)
    }
}
