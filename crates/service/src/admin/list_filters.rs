//! The filters of the admin lists, shared by the REST API, the portal and (through the API) the CLI: parsing a
//! parameter's value (an unknown one is a [`BadFilter`] naming the parameter) and matching.
//!
//! Where the store pages a list (clients, users, directory users, invitations, audit events, broker applications,
//! identity providers) the filter goes into the store's query ([`tessera_store::ClientFilter`], [`AccountStatus`],
//! ...). The other lists are read whole from the store (a tenant's signing keys, a user's passkeys, user flows, the
//! broker tenants, the API tokens) and are filtered here, whole, before the page is cut: never one page
//! after it was cut, so following the cursor neither misses nor repeats an item.

use tessera_store::{AccountStatus, ApiTokenRecord, ClientType, Credential, KeyStatus, SigningKey};

use super::api_tokens::Role;

/// A filter parameter with a value it does not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFilter {
    /// The query parameter (`status`, `alg`, ...).
    pub param: &'static str,
    /// What it takes.
    pub detail: String,
}

impl std::fmt::Display for BadFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.param, self.detail)
    }
}

impl std::error::Error for BadFilter {}

/// A parameter's value, trimmed; an empty one (an empty form field) is no filter.
fn given(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

fn one_of<T: Copy>(
    param: &'static str,
    value: Option<&str>,
    choices: &[(&str, T)],
) -> Result<Option<T>, BadFilter> {
    let Some(value) = given(value) else {
        return Ok(None);
    };
    choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value))
        .map(|(_, v)| Some(*v))
        .ok_or_else(|| BadFilter {
            param,
            detail: format!(
                "one of {}",
                choices
                    .iter()
                    .map(|(name, _)| *name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// `status` of users and directory users: `enabled` or `disabled`.
pub fn account_status(value: Option<&str>) -> Result<Option<AccountStatus>, BadFilter> {
    one_of(
        "status",
        value,
        &[
            ("enabled", AccountStatus::Enabled),
            ("disabled", AccountStatus::Disabled),
        ],
    )
}

/// `client_type` of clients and applications: `public` or `confidential`.
pub fn client_type(value: Option<&str>) -> Result<Option<ClientType>, BadFilter> {
    one_of(
        "client_type",
        value,
        &[
            ("public", ClientType::Public),
            ("confidential", ClientType::Confidential),
        ],
    )
}

/// `status` of signing keys: `pending` (published, not signing yet), `active` or `retired`.
pub fn key_status(value: Option<&str>) -> Result<Option<KeyStatus>, BadFilter> {
    one_of(
        "status",
        value,
        &[
            ("pending", KeyStatus::Pending),
            ("active", KeyStatus::Active),
            ("retired", KeyStatus::Retired),
        ],
    )
}

/// `alg` of signing keys: `RS256` or `ES256` (the JOSE name, any case); the stored name.
pub fn key_alg(value: Option<&str>) -> Result<Option<&'static str>, BadFilter> {
    one_of("alg", value, &[("RS256", "RS256"), ("ES256", "ES256")])
}

/// `alg` of passkeys: a COSE algorithm by id (`-7`, `-8`, `-257`) or name (`ES256`, `EdDSA`, `RS256`).
pub fn cose_alg(value: Option<&str>) -> Result<Option<i64>, BadFilter> {
    one_of(
        "alg",
        value,
        &[
            ("-7", -7),
            ("ES256", -7),
            ("-8", -8),
            ("EdDSA", -8),
            ("-257", -257),
            ("RS256", -257),
        ],
    )
}

/// `aaguid` of passkeys: the authenticator model, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex, any case).
pub fn aaguid(value: Option<&str>) -> Result<Option<[u8; 16]>, BadFilter> {
    let Some(value) = given(value) else {
        return Ok(None);
    };
    tessera_webauthn::mds::parse_aaguid(&value.to_ascii_lowercase())
        .map(Some)
        .ok_or_else(|| BadFilter {
            param: "aaguid",
            detail: "an AAGUID such as 08987058-cadc-4b81-b6e1-30de50dcbe96".into(),
        })
}

/// `role` of API tokens and invitations: `global_admin`, `tenant_admin` or `read_only` (`-` for `_` too).
pub fn role(value: Option<&str>) -> Result<Option<Role>, BadFilter> {
    let value = given(value).map(|v| v.replace('-', "_"));
    one_of(
        "role",
        value.as_deref(),
        &[
            ("global_admin", Role::GlobalAdmin),
            ("tenant_admin", Role::TenantAdmin),
            ("read_only", Role::ReadOnly),
        ],
    )
}

/// The `q` of a list: trimmed and folded (Unicode lowercase); `None` when empty (everything matches).
pub fn query(value: Option<&str>) -> Option<String> {
    given(value).map(str::to_lowercase)
}

/// Whether one of `values` starts with the folded query `q` (compared Unicode-lowercase); no query matches all.
pub fn starts_with_any<'a>(q: Option<&str>, values: impl IntoIterator<Item = &'a str>) -> bool {
    match q {
        None => true,
        Some(q) => values
            .into_iter()
            .any(|value| value.to_lowercase().starts_with(q)),
    }
}

/// The filter of a tenant's signing keys (either role).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFilter {
    /// Only keys with this status.
    pub status: Option<KeyStatus>,
    /// Only keys of this algorithm (`RS256`, `ES256`).
    pub alg: Option<&'static str>,
}

impl KeyFilter {
    /// From the `status` and `alg` parameters.
    pub fn parse(status: Option<&str>, alg: Option<&str>) -> Result<Self, BadFilter> {
        Ok(Self {
            status: key_status(status)?,
            alg: key_alg(alg)?,
        })
    }

    /// Whether `key` passes.
    pub fn matches(&self, key: &SigningKey) -> bool {
        self.status.is_none_or(|s| key.status == s) && self.alg.is_none_or(|a| key.alg == a)
    }
}

/// The filter of a user's passkeys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasskeyFilter {
    /// The start of the name, folded.
    pub q: Option<String>,
    /// The COSE algorithm.
    pub alg: Option<i64>,
    /// The authenticator model.
    pub aaguid: Option<[u8; 16]>,
}

impl PasskeyFilter {
    /// From the `q`, `alg` and `aaguid` parameters.
    pub fn parse(
        q: Option<&str>,
        alg: Option<&str>,
        model: Option<&str>,
    ) -> Result<Self, BadFilter> {
        Ok(Self {
            q: query(q),
            alg: cose_alg(alg)?,
            aaguid: aaguid(model)?,
        })
    }

    /// Whether `passkey` passes.
    pub fn matches(&self, passkey: &Credential) -> bool {
        starts_with_any(self.q.as_deref(), [passkey.nickname.as_str()])
            && self.alg.is_none_or(|a| passkey.alg == a)
            && self.aaguid.is_none_or(|a| passkey.aaguid == a)
    }
}

/// The filter of the API tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenFilter {
    /// The start of the name, folded.
    pub q: Option<String>,
    /// Only tokens of this role.
    pub role: Option<Role>,
}

impl TokenFilter {
    /// From the `q` and `role` parameters.
    pub fn parse(q: Option<&str>, role_name: Option<&str>) -> Result<Self, BadFilter> {
        Ok(Self {
            q: query(q),
            role: role(role_name)?,
        })
    }

    /// Whether `token` passes.
    pub fn matches(&self, token: &ApiTokenRecord) -> bool {
        starts_with_any(self.q.as_deref(), [token.name.as_str()])
            && self.role.is_none_or(|r| token.role == r.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_and_empty_is_no_filter() {
        assert_eq!(
            account_status(Some("Disabled")),
            Ok(Some(AccountStatus::Disabled))
        );
        assert_eq!(account_status(Some("  ")), Ok(None));
        assert_eq!(account_status(None), Ok(None));
        assert_eq!(account_status(Some("gone")).unwrap_err().param, "status");
        assert_eq!(client_type(Some("public")), Ok(Some(ClientType::Public)));
        assert_eq!(client_type(Some("x")).unwrap_err().param, "client_type");
        assert_eq!(key_status(Some("retired")), Ok(Some(KeyStatus::Retired)));
        assert_eq!(key_alg(Some("es256")), Ok(Some("ES256")));
        assert_eq!(key_alg(Some("HS256")).unwrap_err().param, "alg");
        assert_eq!(cose_alg(Some("-257")), Ok(Some(-257)));
        assert_eq!(cose_alg(Some("eddsa")), Ok(Some(-8)));
        assert_eq!(cose_alg(Some("-9")).unwrap_err().param, "alg");
        assert_eq!(role(Some("tenant-admin")), Ok(Some(Role::TenantAdmin)));
        assert_eq!(role(Some("root")).unwrap_err().param, "role");
        assert_eq!(
            aaguid(Some("08987058-CADC-4B81-B6E1-30DE50DCBE96"))
                .unwrap()
                .map(|a| a[0]),
            Some(0x08)
        );
        assert_eq!(aaguid(Some("0898")).unwrap_err().param, "aaguid");
    }

    #[test]
    fn prefix_matching_folds_unicode() {
        let q = query(Some(" ÉMI "));
        assert_eq!(q.as_deref(), Some("émi"));
        assert!(starts_with_any(q.as_deref(), ["x", "Émile"]));
        assert!(!starts_with_any(q.as_deref(), ["emile"]));
        assert!(starts_with_any(None, ["anything"]));
    }
}
