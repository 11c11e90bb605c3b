//! The filter flags of the `list` verbs: each is sent to the API as the list's query parameter of the same meaning
//! (docs/admin-api.md, "Lists"), which filters before the page is cut; `--all` follows the cursor with the same
//! filter. A value the API does not take is exit 6 naming the parameter.

use clap::Args;

/// Pushes `name=value` when the flag is given.
fn push(query: &mut Vec<(String, String)>, name: &str, value: Option<&String>) {
    if let Some(value) = value {
        query.push((name.to_owned(), value.clone()));
    }
}

/// `--q`: the start of an id or a name.
#[derive(Debug, Args)]
pub struct NameFilter {
    /// Only those whose id or name starts with this (case-insensitive).
    #[arg(long)]
    pub q: Option<String>,
}

impl NameFilter {
    /// Adds the flags given to `query`.
    pub fn add_to(&self, query: &mut Vec<(String, String)>) {
        push(query, "q", self.q.as_ref());
    }
}

/// `--q` and `--client-type` of clients and applications.
#[derive(Debug, Args)]
pub struct ClientFilter {
    /// Only those whose client id or name starts with this (case-insensitive).
    #[arg(long)]
    pub q: Option<String>,
    /// Only `public` ones (no secret, PKCE) or only `confidential` ones.
    #[arg(long)]
    pub client_type: Option<String>,
}

impl ClientFilter {
    /// Adds the flags given to `query`.
    pub fn add_to(&self, query: &mut Vec<(String, String)>) {
        push(query, "q", self.q.as_ref());
        push(query, "client_type", self.client_type.as_ref());
    }
}

/// `--status` of accounts and directory users.
#[derive(Debug, Args)]
pub struct StatusFilter {
    /// Only `enabled` or only `disabled` ones.
    #[arg(long)]
    pub status: Option<String>,
}

impl StatusFilter {
    /// Adds the flags given to `query`.
    pub fn add_to(&self, query: &mut Vec<(String, String)>) {
        push(query, "status", self.status.as_ref());
    }
}

/// `--status` and `--alg` of signing keys.
#[derive(Debug, Args)]
pub struct KeyFilter {
    /// Only keys that are `pending` (published, not signing yet), `active` or `retired`.
    #[arg(long)]
    pub status: Option<String>,
    /// Only `RS256` or only `ES256` keys.
    #[arg(long)]
    pub alg: Option<String>,
}

impl KeyFilter {
    /// Adds the flags given to `query`.
    pub fn add_to(&self, query: &mut Vec<(String, String)>) {
        push(query, "status", self.status.as_ref());
        push(query, "alg", self.alg.as_ref());
    }
}

/// `--q`, `--alg` and `--aaguid` of passkeys.
#[derive(Debug, Args)]
pub struct PasskeyFilter {
    /// Only passkeys whose name starts with this (case-insensitive).
    #[arg(long)]
    pub q: Option<String>,
    /// Only passkeys of this COSE algorithm: `ES256` (-7), `EdDSA` (-8) or `RS256` (-257).
    #[arg(long, allow_hyphen_values = true)]
    pub alg: Option<String>,
    /// Only passkeys of this authenticator model (its AAGUID).
    #[arg(long)]
    pub aaguid: Option<String>,
}

impl PasskeyFilter {
    /// Adds the flags given to `query`.
    pub fn add_to(&self, query: &mut Vec<(String, String)>) {
        push(query, "q", self.q.as_ref());
        push(query, "alg", self.alg.as_ref());
        push(query, "aaguid", self.aaguid.as_ref());
    }
}

/// `--q` and `--role` of API tokens.
#[derive(Debug, Args)]
pub struct TokenFilter {
    /// Only tokens whose name starts with this (case-insensitive).
    #[arg(long)]
    pub q: Option<String>,
    /// Only tokens of this role: `global-admin`, `tenant-admin` or `read-only`.
    #[arg(long)]
    pub role: Option<String>,
}

impl TokenFilter {
    /// Adds the flags given to `query`.
    pub fn add_to(&self, query: &mut Vec<(String, String)>) {
        push(query, "q", self.q.as_ref());
        push(query, "role", self.role.as_ref());
    }
}

/// `--role` of invitations.
#[derive(Debug, Args)]
pub struct RoleFilter {
    /// Only invitations to this role: `global-admin`, `tenant-admin` or `read-only`.
    #[arg(long)]
    pub role: Option<String>,
}

impl RoleFilter {
    /// Adds the flags given to `query`.
    pub fn add_to(&self, query: &mut Vec<(String, String)>) {
        push(query, "role", self.role.as_ref());
    }
}
