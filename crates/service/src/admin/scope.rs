//! Tenant scopes of API tokens, administrators and invitations. A scope names a tenant, optionally qualified by the
//! role whose tenant it is:
//!
//! - `authenticator:contoso`: only the authenticator service's tenant `contoso`;
//! - `broker:contoso`: only the broker's tenant `contoso`;
//! - `contoso`: the tenants `contoso` of both roles (the meaning scopes had before they could be qualified, kept).
//!
//! A tenant the scopes do not cover does not exist for its holder (404, never 403), in the API and in the portal.

use std::fmt;

use tessera_core::TenantId;

use crate::{Result, ServiceError};

/// The role a tenant belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The authenticator service (`/tenants/{t}` in the API, `/admin/authenticator/{t}` in the portal).
    Authenticator,
    /// The identity broker (`/broker/tenants/{t}`, `/admin/broker/{t}`).
    Broker,
}

impl Side {
    /// The prefix that qualifies a scope (`authenticator`, `broker`).
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Authenticator => "authenticator",
            Self::Broker => "broker",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix())
    }
}

/// A parsed scope: the role it is limited to (`None`: both) and the tenant id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    /// The role whose tenant it names; `None` for both roles' tenants of that id.
    pub side: Option<Side>,
    /// The tenant id.
    pub tenant: &'a str,
}

impl<'a> Scope<'a> {
    /// Parses `authenticator:T`, `broker:T` or `T`. The error says what is wrong, for a field's message.
    pub fn parse(text: &'a str) -> std::result::Result<Self, String> {
        let (side, tenant) = match text.split_once(':') {
            None => (None, text),
            Some(("authenticator", tenant)) => (Some(Side::Authenticator), tenant),
            Some(("broker", tenant)) => (Some(Side::Broker), tenant),
            Some((prefix, _)) => {
                return Err(format!(
                    "{prefix:?} is not a role: write `authenticator:TENANT`, `broker:TENANT` or `TENANT` (both)"
                ));
            }
        };
        TenantId::parse(tenant).map_err(|e| format!("{tenant:?}: {e}"))?;
        Ok(Self { side, tenant })
    }

    /// Whether this scope covers `tenant` of `side` (`None`: a question about the id under either role, such as
    /// the audit trail's `tenant` filter).
    pub fn covers(&self, side: Option<Side>, tenant: &str) -> bool {
        self.tenant == tenant
            && match (self.side, side) {
                (None, _) | (_, None) => true,
                (Some(mine), Some(asked)) => mine == asked,
            }
    }

    /// Whether this scope grants at least what `other` does (a token cannot grant more than its creator holds).
    pub fn includes(&self, other: &Scope<'_>) -> bool {
        self.tenant == other.tenant && (self.side.is_none() || self.side == other.side)
    }
}

/// Whether any of `scopes` covers `tenant` of `side` (a stored scope that does not parse covers nothing).
pub fn covers(scopes: &[String], side: Option<Side>, tenant: &str) -> bool {
    scopes
        .iter()
        .filter_map(|s| Scope::parse(s).ok())
        .any(|s| s.covers(side, tenant))
}

/// Whether every one of `wanted` is within one of `granted`.
pub fn within(granted: &[String], wanted: &[String]) -> bool {
    wanted.iter().all(|w| {
        Scope::parse(w).is_ok_and(|w| {
            granted
                .iter()
                .filter_map(|g| Scope::parse(g).ok())
                .any(|g| g.includes(&w))
        })
    })
}

/// Checks every scope of a new token, administrator or invitation; the error names the field at fault
/// (`tenants[1]: ...`), so the API's 422 and the portal's form point at it.
pub fn check(scopes: &[String]) -> Result<()> {
    for (i, scope) in scopes.iter().enumerate() {
        Scope::parse(scope)
            .map_err(|reason| ServiceError::InvalidInput(format!("tenants[{i}]: {reason}")))?;
    }
    Ok(())
}

/// The side of an audit event, from its target (`broker/...` is the broker's; `tenants/...` the authenticator
/// service's); `None` for events of neither (tokens, administrators).
pub fn side_of_target(target: &str) -> Option<Side> {
    if target.starts_with("broker/") {
        Some(Side::Broker)
    } else if target.starts_with("tenants/") {
        Some(Side::Authenticator)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_qualified_scope_covers_only_its_roles_tenant() {
        let broker = scopes(&["broker:contoso"]);
        assert!(covers(&broker, Some(Side::Broker), "contoso"));
        assert!(!covers(&broker, Some(Side::Authenticator), "contoso"));
        assert!(!covers(&broker, Some(Side::Broker), "fabrikam"));
        assert!(covers(&broker, None, "contoso"));
        let authenticator = scopes(&["authenticator:contoso"]);
        assert!(covers(&authenticator, Some(Side::Authenticator), "contoso"));
        assert!(!covers(&authenticator, Some(Side::Broker), "contoso"));
    }

    #[test]
    fn a_plain_scope_covers_both_roles_tenants() {
        let both = scopes(&["contoso"]);
        assert!(covers(&both, Some(Side::Broker), "contoso"));
        assert!(covers(&both, Some(Side::Authenticator), "contoso"));
        assert!(!covers(&both, Some(Side::Broker), "fabrikam"));
    }

    #[test]
    fn a_bad_prefix_or_tenant_names_the_field() {
        assert!(check(&scopes(&["contoso", "broker:contoso", "authenticator:x"])).is_ok());
        let error = check(&scopes(&["contoso", "brokr:contoso"])).map_err(|e| e.to_string());
        assert!(
            error.as_ref().is_err_and(|e| e.starts_with("tenants[1]: ")),
            "{error:?}"
        );
        assert!(check(&scopes(&["broker:"])).is_err());
        assert!(check(&scopes(&["broker:Not A Tenant"])).is_err());
        assert!(!covers(&scopes(&["brokr:contoso"]), None, "contoso"));
    }

    #[test]
    fn a_scope_grants_no_more_than_its_holder_has() {
        let plain = scopes(&["contoso"]);
        assert!(within(&plain, &scopes(&["broker:contoso", "contoso"])));
        let broker = scopes(&["broker:contoso"]);
        assert!(within(&broker, &scopes(&["broker:contoso"])));
        assert!(!within(&broker, &scopes(&["contoso"])));
        assert!(!within(&broker, &scopes(&["authenticator:contoso"])));
        assert!(!within(&broker, &scopes(&["broker:fabrikam"])));
    }
}
