//! The admin surfaces' use cases: what the REST API at `/admin/api/v1/...`, the portal at `/admin/` and the CLI
//! client share beyond [`crate::tenants`], [`crate::clients`] and [`crate::keys`].
//!
//! - [`api_tokens`]: roles, API tokens (issue, authenticate, revoke), the bootstrap token and audit events.
//! - [`audit`]: recording changes and listing the audit trail as a token may see it.
//! - [`list_filters`]: the admin lists' filters (parsing their parameters, matching the lists read whole).
//! - [`members`]: the portal's administrators (users of the admin tenant with a role), the admin tenant and the
//!   portal's sessions.
//! - [`scope`]: tenant scopes (`authenticator:T`, `broker:T`, or `T` for both roles' tenants `T`).
//! - [`token_viewer`]: the built-in token viewer at `/jwt`.

pub mod api_tokens;
pub mod audit;
pub mod list_filters;
pub mod members;
pub mod scope;
pub mod token_viewer;
