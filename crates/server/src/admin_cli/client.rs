//! The admin API client: the profile file (URL and token, written 0600), the HTTP calls, and the exit codes that
//! tell a script what happened.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use reqwest::{Method, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where the API lives under a server's URL.
pub const API_BASE: &str = "/admin/api/v1";

/// What went wrong, and the exit code that says so.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad or missing input on the command line or stdin (exit 2, as for a usage error).
    #[error("{0}")]
    Usage(String),
    /// 401 or 403 (exit 4).
    #[error("{0}")]
    Denied(String),
    /// 404 (exit 3).
    #[error("{0}")]
    NotFound(String),
    /// 409, 412, 428: the object changed or exists (exit 5).
    #[error("{0}")]
    Conflict(String),
    /// 400, 422: the API refused a value (exit 6).
    #[error("{0}")]
    Invalid(String),
    /// The server did not answer, or answered 5xx (exit 7).
    #[error("{0}")]
    Unavailable(String),
    /// Anything else (exit 1).
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Other(_) => 1,
            CliError::Usage(_) => 2,
            CliError::NotFound(_) => 3,
            CliError::Denied(_) => 4,
            CliError::Conflict(_) => 5,
            CliError::Invalid(_) => 6,
            CliError::Unavailable(_) => 7,
        })
    }
}

/// One server and its token, as kept in the profile file.
#[derive(Clone, Serialize, Deserialize)]
pub struct Profile {
    /// The server's URL (`https://id.example.com`).
    pub url: String,
    /// The API token (`tsr_...`).
    pub token: String,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("url", &self.url)
            .field("token", &"[redacted]")
            .finish()
    }
}

/// The profile file: named profiles.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ProfileFile {
    /// Profiles by name (`default` unless `--profile` says otherwise).
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// The profile file's path: `$TESSERA_ADMIN_PROFILES`, else `$XDG_CONFIG_HOME/tessera/admin.json`, else
/// `~/.config/tessera/admin.json`.
pub fn profile_path() -> Result<PathBuf, CliError> {
    if let Some(path) = std::env::var_os("TESSERA_ADMIN_PROFILES") {
        return Ok(PathBuf::from(path));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
        .ok_or_else(|| {
            CliError::Usage(
                "no HOME or XDG_CONFIG_HOME: set TESSERA_ADMIN_PROFILES to a file path".into(),
            )
        })?;
    Ok(config.join("tessera").join("admin.json"))
}

impl ProfileFile {
    /// Reads the file (empty when it does not exist).
    pub fn load(path: &Path) -> Result<Self, CliError> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| CliError::Other(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(CliError::Other(format!("{}: {e}", path.display()))),
        }
    }

    /// Writes the file readable by its owner only (0600), replacing it atomically.
    pub fn save(&self, path: &Path) -> Result<(), CliError> {
        let fail = |e: std::io::Error| CliError::Other(format!("{}: {e}", path.display()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let text =
            serde_json::to_string_pretty(self).map_err(|e| CliError::Other(e.to_string()))?;
        let mut staged = path.as_os_str().to_owned();
        staged.push(".tmp");
        let staged = PathBuf::from(staged);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&staged)
            .map_err(fail)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(fail)?;
        file.write_all(text.as_bytes()).map_err(fail)?;
        file.sync_all().map_err(fail)?;
        std::fs::rename(&staged, path).map_err(fail)
    }
}

/// A connection to one server's admin API.
pub struct Api {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
}

/// An answer: its JSON body and its `ETag`.
pub struct Answer {
    /// The body (`Null` for 204).
    pub body: Value,
    /// The `ETag` header, for `If-Match`.
    pub etag: Option<String>,
}

impl Api {
    /// A client for `url`, trusting the system's web roots and, if given, the CA certificates in `ca_file` (PEM).
    pub fn new(url: &str, token: Option<String>, ca_file: Option<&Path>) -> Result<Self, CliError> {
        let url = url.trim_end_matches('/').to_owned();
        let parsed =
            url::Url::parse(&url).map_err(|e| CliError::Usage(format!("--url {url}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(CliError::Usage(format!("--url {url}: not an http(s) URL")));
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("tessera-admin/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(60));
        if let Some(file) = ca_file {
            let pem = std::fs::read(file)
                .map_err(|e| CliError::Usage(format!("--ca-file {}: {e}", file.display())))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| CliError::Usage(format!("--ca-file {}: {e}", file.display())))?;
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let http = builder
            .build()
            .map_err(|e| CliError::Other(format!("HTTP client: {e}")))?;
        Ok(Self { http, url, token })
    }

    /// The server's URL (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` on `path` (under [`API_BASE`]) with an optional JSON body and `If-Match`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Answer, CliError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{API_BASE}{path}", self.url))
            .header(header::ACCEPT, "application/json, application/problem+json");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(tag) = if_match {
            request = request.header(header::IF_MATCH, tag);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            CliError::Unavailable(format!(
                "{method} {}{API_BASE}{path}: {}",
                self.url,
                describe(e)
            ))
        })?;
        let status = response.status();
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.map_err(|e| {
            CliError::Unavailable(format!(
                "{method} {path}: reading the answer: {}",
                describe(e)
            ))
        })?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_success() {
            Ok(Answer { body, etag })
        } else {
            Err(problem(status, &body))
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Answer, CliError> {
        self.call(Method::GET, path, None, None).await
    }

    /// Deletes the object at `path` in the version just read (its `ETag` as `If-Match`), so that a change made
    /// meanwhile by someone else is a conflict, not silently lost.
    pub async fn delete(&self, path: &str) -> Result<(), CliError> {
        let current = self.get(path).await?;
        self.call(Method::DELETE, path, None, current.etag.as_deref())
            .await
            .map(drop)
    }

    /// Posts the action `verb` (`disable`, `enable`) on the object at `path` in the version just read (its `ETag`
    /// as `If-Match`), as [`Api::delete`] does.
    pub async fn act(&self, path: &str, verb: &str) -> Result<Answer, CliError> {
        let current = self.get(path).await?;
        self.call(
            Method::POST,
            &format!("{path}/{verb}"),
            None,
            current.etag.as_deref(),
        )
        .await
    }

    /// Every item of a cursor-paged list (`{items, next_cursor}`), following the cursor when `all`.
    pub async fn list(
        &self,
        path: &str,
        query: &[(String, String)],
        all: bool,
    ) -> Result<Value, CliError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut pairs = url::form_urlencoded::Serializer::new(String::new());
            for (key, value) in query {
                pairs.append_pair(key, value);
            }
            if let Some(cursor) = &cursor {
                pairs.append_pair("cursor", cursor);
            }
            let query = pairs.finish();
            let full = if query.is_empty() {
                path.to_owned()
            } else {
                format!("{path}?{query}")
            };
            let page = self.get(&full).await?.body;
            if let Some(page_items) = page["items"].as_array() {
                items.extend(page_items.iter().cloned());
            }
            cursor = page["next_cursor"].as_str().map(str::to_owned);
            if !all || cursor.is_none() {
                break;
            }
        }
        Ok(Value::Array(items))
    }
}

/// The reason a request failed, without the URL reqwest repeats.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The error an RFC 9457 problem (or any error answer) means, with its title, detail and field errors.
fn problem(status: StatusCode, body: &Value) -> CliError {
    let mut text = format!("{}", status.as_u16());
    let title = body["title"].as_str();
    let detail = body["detail"].as_str();
    match (title, detail) {
        (Some(title), Some(detail)) => text.push_str(&format!(" {title}: {detail}")),
        (Some(one), None) | (None, Some(one)) => text.push_str(&format!(" {one}")),
        (None, None) => {
            if let Some(reason) = status.canonical_reason() {
                text.push_str(&format!(" {reason}"));
            }
        }
    }
    if let Some(errors) = body["errors"].as_array() {
        for error in errors {
            let field = error["field"].as_str().unwrap_or("?");
            let detail = error["detail"].as_str().unwrap_or("");
            text.push_str(&format!("\n  {field}: {detail}"));
        }
    }
    match status.as_u16() {
        401 | 403 => CliError::Denied(text),
        404 => CliError::NotFound(text),
        409 | 412 | 428 => CliError::Conflict(text),
        400 | 422 => CliError::Invalid(text),
        500..=599 => CliError::Unavailable(text),
        _ => CliError::Other(text),
    }
}
