//! The filters of the admin lists that are applied in the store, before paging: a page of a filtered list holds
//! only matching rows, so following the cursor neither misses nor repeats one.

/// A client's kind, as the admin lists filter it: with a secret (confidential) or without (public, PKCE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    /// No secret: `token_endpoint_auth_method` `none`.
    Public,
    /// Holds a secret.
    Confidential,
}

/// Which of a tenant's clients a page holds: every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientFilter {
    /// The client id or display name starts with this (case-insensitive: Unicode lowercase on both sides); empty
    /// or `None`: every client.
    pub prefix: Option<String>,
    /// Only clients of this kind.
    pub client_type: Option<ClientType>,
}

/// Whether an account (an authenticator-service user, a directory user) may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    /// Not disabled.
    Enabled,
    /// Disabled (`disabled_at` is set).
    Disabled,
}

impl AccountStatus {
    /// Whether an account disabled (or not) has this status.
    pub fn holds(self, disabled: bool) -> bool {
        match self {
            Self::Enabled => !disabled,
            Self::Disabled => disabled,
        }
    }
}

/// The SQL `LIKE` pattern of values starting with `folded` (already folded): `%`, `_` and `\` escaped with `\`.
pub fn like_prefix(folded: &str) -> String {
    let mut pattern = String::with_capacity(folded.len() + 1);
    for c in folded.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The SQL filter values of a [`ClientFilter`]: the id pattern (ASCII lowercase: client ids are ASCII), the name
/// pattern (Unicode lowercase, as [`crate::fold_display_name`] stores it) and the kind (`Some(true)`: public only,
/// `Some(false)`: confidential only).
pub fn client_filter_binds(filter: &ClientFilter) -> (String, String, Option<bool>) {
    let prefix = filter.prefix.as_deref().unwrap_or_default().trim();
    (
        like_prefix(&prefix.to_ascii_lowercase()),
        like_prefix(&crate::fold_display_name(prefix)),
        filter.client_type.map(|t| t == ClientType::Public),
    )
}

/// `Some(true)`: disabled ones only, `Some(false)`: enabled ones only (the SQL bind of a status filter).
pub fn status_bind(status: Option<AccountStatus>) -> Option<bool> {
    status.map(|s| s == AccountStatus::Disabled)
}
