//! `tessera serve` with `[server.tls]` as an operator configures it (PEM files named in the configuration file), and
//! `[broker] trust_roots_file`, the roots the broker trusts besides the Mozilla ones when it calls identity providers
//! on a private PKI. The certificates are made by the test: a CA and a `localhost` certificate it signed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tessera_service::broker::{UpstreamClient, UpstreamError};

const MASTER_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

struct ChildServer(Child);

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// A CA and a `localhost` certificate it signed, as PEM files in `dir`.
fn pki(dir: &Path) -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PKCS_ECDSA_P256_SHA256,
    };
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.distinguished_name
        .push(DnType::CommonName, "Tessera Test Private Root");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("leaf key");
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).expect("leaf params");
    leaf.is_ca = IsCa::ExplicitNoCa;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).expect("leaf");
    let files = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&files.ca, ca_cert.pem()).expect("write ca");
    std::fs::write(&files.cert, leaf_cert.pem()).expect("write cert");
    std::fs::write(&files.key, leaf_key.serialize_pem()).expect("write key");
    files
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn config(dir: &Path, port: u16, pki: &Pki, extra: &str) -> PathBuf {
    let path = dir.join("tessera.toml");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"https://localhost:{port}\"\n\
         [server.tls]\ncert = \"{}\"\nkey = \"{}\"\n\
         [store]\nkind = \"sqlite\"\npath = \"{}\"\n\
         [keys]\nmaster_key = \"{MASTER_KEY}\"\n{extra}",
        pki.cert.display(),
        pki.key.display(),
        dir.join("tessera.db").display()
    );
    std::fs::write(&path, text).expect("config");
    path
}

fn tessera(args: &[&str], config: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .output()
        .expect("tessera")
}

fn serve(config: &Path, log: &Path) -> ChildServer {
    let log = std::fs::File::create(log).expect("log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log));
    for (name, _) in std::env::vars() {
        if name.starts_with("TESSERA__") {
            command.env_remove(name);
        }
    }
    ChildServer(command.spawn().expect("tessera serve"))
}

fn client_trusting(ca: Option<&Path>) -> reqwest::Client {
    tessera_service::broker::install_default_tls_provider();
    let mut builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(5));
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).expect("ca");
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"));
    }
    builder.build().expect("client")
}

async fn wait_until_up(client: &reqwest::Client, url: &str, log: &Path) {
    let started = Instant::now();
    loop {
        if let Ok(response) = client.get(url).send().await
            && response.status().is_success()
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server did not answer {url}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_listens_with_the_configured_certificate_and_the_broker_trusts_the_configured_roots()
{
    let dir = tempfile::tempdir().expect("dir");
    let pki = pki(dir.path());
    let port = free_port();
    let config = config(
        dir.path(),
        port,
        &pki,
        &format!("[broker]\ntrust_roots_file = \"{}\"\n", pki.ca.display()),
    );
    let created = tessera(
        &[
            "idp",
            "tenant",
            "create",
            "--id",
            "acme",
            "--rp-id",
            "localhost",
            "--origin",
            &format!("https://localhost:{port}"),
        ],
        &config,
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let log = dir.path().join("server.log");
    let _server = serve(&config, &log);
    let discovery = format!("https://localhost:{port}/acme/oidc/.well-known/openid-configuration");
    let trusting = client_trusting(Some(&pki.ca));
    wait_until_up(&trusting, &discovery, &log).await;

    // The document is the issuer's, over TLS with the configured certificate.
    let document: serde_json::Value = trusting
        .get(&discovery)
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(
        document["issuer"],
        format!("https://localhost:{port}/acme/oidc")
    );

    // A client that does not trust the CA is refused by the certificate check, and plain HTTP gets no answer.
    let refused = client_trusting(None)
        .get(&discovery)
        .send()
        .await
        .expect_err("an unknown CA must be refused");
    assert!(
        format!("{refused:?}")
            .to_lowercase()
            .contains("certificate"),
        "{refused:?}"
    );
    let plain = reqwest::Client::new()
        .get(format!(
            "http://localhost:{port}/acme/oidc/.well-known/openid-configuration"
        ))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP to the TLS port: {plain:?}");

    // The broker's client with the configured roots reaches a provider on that PKI; without them it refuses it.
    let roots: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pki.ca)
        .expect("ca")
        .collect::<Result<_, _>>()
        .expect("ca");
    let upstream = UpstreamClient::with_extra_roots(&roots).expect("roots");
    let fetched = upstream
        .get_json(&discovery)
        .await
        .expect("trusted provider");
    assert_eq!(
        fetched.json()["issuer"],
        format!("https://localhost:{port}/acme/oidc")
    );
    match UpstreamClient::new().get_json(&discovery).await {
        Err(UpstreamError::Unreachable { reason, .. }) => {
            assert!(reason.to_lowercase().contains("certificate"), "{reason}");
        }
        other => panic!("a private CA must be refused without trust_roots_file: {other:?}"),
    }
}

#[test]
fn a_trust_roots_file_that_is_missing_or_holds_no_certificate_refuses_to_start_naming_the_key() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = pki(dir.path());
    let port = free_port();
    for (file, expected) in [
        (dir.path().join("absent.pem"), "cannot read"),
        (pki.key.clone(), "holds no PEM certificate"),
    ] {
        let config = config(
            dir.path(),
            port,
            &pki,
            &format!("[broker]\ntrust_roots_file = \"{}\"\n", file.display()),
        );
        let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .output()
            .expect("tessera serve");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "started with {}", file.display());
        assert!(
            stderr.contains("broker.trust_roots_file") && stderr.contains(expected),
            "{stderr}"
        );
    }
}
