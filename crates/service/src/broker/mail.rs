//! The broker's outgoing mail: the one-time codes that verify a local account's email address.
//!
//! Two transports, chosen by `[broker.mail]` (see `docs/configuration.md`):
//! - **SMTP** (`lettre`): `starttls` (port 587, the default), `tls` (implicit TLS, port 465) on rustls with the
//!   Mozilla roots (and the roots the operator adds), or `none`, which only a loopback server may use; optional
//!   credentials (`AUTH PLAIN`/`LOGIN`, only over TLS or to loopback).
//! - **Directory**: each message is written as an `.eml` file (RFC 5322) in a directory, which is what
//!   `tessera demo` and the tests use: nothing leaves the machine.
//!
//! The code is never logged; a failure to send is an error naming the transport, never the message.

use std::path::PathBuf;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tessera_core::secret::Secret;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with `STARTTLS`, which must succeed.
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No TLS: only to a loopback host.
    None,
}

/// The SMTP server.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// Host name (also the name the server's certificate must have).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Security.
    pub security: SmtpSecurity,
    /// Credentials, if the server wants them.
    pub username: Option<String>,
    /// The password for `username`.
    pub password: Option<Secret>,
    /// Extra trusted roots (DER), besides the Mozilla roots.
    pub extra_roots_der: Vec<Vec<u8>>,
}

/// Where messages go.
#[derive(Debug, Clone)]
pub enum MailTransport {
    /// An SMTP server.
    Smtp(SmtpSettings),
    /// A directory of `.eml` files.
    Directory(PathBuf),
}

/// `[broker.mail]`.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The `From` address.
    pub from: String,
    /// The transport.
    pub transport: MailTransport,
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The settings are wrong (bad `From`, TLS parameters, plain SMTP off loopback).
    #[error("mail settings: {0}")]
    Settings(String),
    /// The recipient address cannot be written in a message.
    #[error("recipient address refused")]
    Recipient,
    /// The transport failed.
    #[error("mail transport {transport}: {reason}")]
    Transport {
        /// `smtp://host:port` or the directory.
        transport: String,
        /// What failed.
        reason: String,
    },
}

enum Inner {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        name: String,
    },
    Directory {
        transport: AsyncFileTransport<Tokio1Executor>,
        path: PathBuf,
    },
}

/// The broker's mailer; built once from the settings, cheap to share behind an `Arc`.
pub struct Mailer {
    from: Mailbox,
    inner: Inner,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let transport = match &self.inner {
            Inner::Smtp { name, .. } => name.clone(),
            Inner::Directory { path, .. } => path.display().to_string(),
        };
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("transport", &transport)
            .finish()
    }
}

fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Mailer {
    /// Builds the mailer. Plain SMTP (`none`) is refused off loopback; a directory is created (if missing) when the
    /// first message is written.
    pub fn new(settings: &MailSettings) -> Result<Self, MailError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| MailError::Settings(format!("from: {e}")))?;
        let inner = match &settings.transport {
            MailTransport::Directory(path) => {
                if path.as_os_str().is_empty() {
                    return Err(MailError::Settings("directory: empty path".into()));
                }
                Inner::Directory {
                    transport: AsyncFileTransport::<Tokio1Executor>::new(path),
                    path: path.clone(),
                }
            }
            MailTransport::Smtp(smtp) => {
                let loopback = is_loopback_host(&smtp.host);
                if smtp.security == SmtpSecurity::None && !loopback {
                    return Err(MailError::Settings(format!(
                        "security = \"none\" is only allowed to a loopback host, not {}",
                        smtp.host
                    )));
                }
                let tls = match smtp.security {
                    SmtpSecurity::None => Tls::None,
                    SmtpSecurity::StartTls | SmtpSecurity::Tls => {
                        let mut builder = TlsParameters::builder(smtp.host.clone());
                        for der in &smtp.extra_roots_der {
                            builder = builder.add_root_certificate(
                                lettre::transport::smtp::client::Certificate::from_der(der.clone())
                                    .map_err(|e| MailError::Settings(format!("root: {e}")))?,
                            );
                        }
                        let parameters = builder
                            .build_rustls()
                            .map_err(|e| MailError::Settings(format!("tls: {e}")))?;
                        if smtp.security == SmtpSecurity::Tls {
                            Tls::Wrapper(parameters)
                        } else {
                            Tls::Required(parameters)
                        }
                    }
                };
                let mut builder =
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
                        .port(smtp.port)
                        .tls(tls)
                        .timeout(Some(std::time::Duration::from_secs(10)));
                if let Some(username) = &smtp.username {
                    let password = smtp
                        .password
                        .as_ref()
                        .map(|p| p.expose().to_owned())
                        .unwrap_or_default();
                    builder = builder.credentials(Credentials::new(username.clone(), password));
                }
                Inner::Smtp {
                    transport: builder.build(),
                    name: format!("smtp://{}:{}", smtp.host, smtp.port),
                }
            }
        };
        Ok(Self { from, inner })
    }

    /// Where messages go, for the operator (`smtp://host:port` or the directory).
    pub fn describe(&self) -> String {
        match &self.inner {
            Inner::Smtp { name, .. } => name.clone(),
            Inner::Directory { path, .. } => path.display().to_string(),
        }
    }

    /// Sends a plain-text message.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), MailError> {
        let to: Mailbox = to.parse().map_err(|_| MailError::Recipient)?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Settings(format!("message: {e}")))?;
        match &self.inner {
            Inner::Smtp { transport, name } => {
                transport
                    .send(message)
                    .await
                    .map(drop)
                    .map_err(|e| MailError::Transport {
                        transport: name.clone(),
                        reason: e.to_string(),
                    })
            }
            Inner::Directory { transport, path } => {
                let failed = |reason: String| MailError::Transport {
                    transport: path.display().to_string(),
                    reason,
                };
                std::fs::create_dir_all(path).map_err(|e| failed(e.to_string()))?;
                transport
                    .send(message)
                    .await
                    .map(drop)
                    .map_err(|e| failed(e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    #[tokio::test]
    async fn directory_sink_writes_one_eml_file_per_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mailer = Mailer::new(&MailSettings {
            from: "Contoso <no-reply@contoso.example>".into(),
            transport: MailTransport::Directory(dir.path().join("mail")),
        })
        .expect("mailer");
        mailer
            .send("ann@example.com", "Your code", "Your code is 123456".into())
            .await
            .expect("send");
        let files: Vec<_> = std::fs::read_dir(dir.path().join("mail"))
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
        let text = std::fs::read_to_string(&files[0]).expect("read");
        assert!(text.contains("To: ann@example.com"), "{text}");
        assert!(text.contains("Subject: Your code"), "{text}");
        assert!(text.contains("123456"), "{text}");
    }

    #[test]
    fn plain_smtp_off_loopback_is_refused() {
        let settings = |host: &str| MailSettings {
            from: "no-reply@contoso.example".into(),
            transport: MailTransport::Smtp(SmtpSettings {
                host: host.into(),
                port: 25,
                security: SmtpSecurity::None,
                username: None,
                password: None,
                extra_roots_der: Vec::new(),
            }),
        };
        assert!(matches!(
            Mailer::new(&settings("mail.example.com")),
            Err(MailError::Settings(_))
        ));
        assert!(Mailer::new(&settings("127.0.0.1")).is_ok());
    }

    /// A minimal SMTP sink on loopback: answers the dialogue and returns the DATA it received.
    async fn smtp_sink() -> (u16, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.expect("accept");
            let (read, mut write) = socket.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"220 sink ESMTP\r\n").await.expect("greet");
            let mut data = String::new();
            let mut in_data = false;
            while let Ok(Some(line)) = lines.next_line().await {
                if in_data {
                    if line == "." {
                        in_data = false;
                        write.write_all(b"250 queued\r\n").await.expect("queued");
                    } else {
                        data.push_str(&line);
                        data.push('\n');
                    }
                    continue;
                }
                let upper = line.to_ascii_uppercase();
                if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                    write.write_all(b"250 sink\r\n").await.expect("ehlo");
                } else if upper.starts_with("DATA") {
                    in_data = true;
                    write.write_all(b"354 go on\r\n").await.expect("data");
                } else if upper.starts_with("QUIT") {
                    write.write_all(b"221 bye\r\n").await.expect("quit");
                    break;
                } else {
                    write.write_all(b"250 ok\r\n").await.expect("ok");
                }
            }
            data
        });
        (port, task)
    }

    #[tokio::test]
    async fn smtp_to_a_loopback_sink_delivers_the_message() {
        let (port, sink) = smtp_sink().await;
        let mailer = Mailer::new(&MailSettings {
            from: "no-reply@contoso.example".into(),
            transport: MailTransport::Smtp(SmtpSettings {
                host: "127.0.0.1".into(),
                port,
                security: SmtpSecurity::None,
                username: None,
                password: None,
                extra_roots_der: Vec::new(),
            }),
        })
        .expect("mailer");
        mailer
            .send("bob@example.com", "Your code", "Your code is 654321".into())
            .await
            .expect("send");
        drop(mailer);
        let data = tokio::time::timeout(std::time::Duration::from_secs(10), sink)
            .await
            .expect("sink finished")
            .expect("join");
        assert!(data.contains("To: bob@example.com"), "{data}");
        assert!(data.contains("654321"), "{data}");
    }
}
