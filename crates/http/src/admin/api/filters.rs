//! The query parameters that filter the lists (besides `limit` and `cursor`, [`super::extract::PageQuery`]). Every
//! filter is applied before the page is cut (in the store for the lists it pages, else on the whole list read from
//! it: `tessera_service::admin::list_filters`), so the next page, asked for with the same filter and the
//! `next_cursor`, neither misses nor repeats an item. A value a parameter does not take is a 422 naming it.

use serde::Deserialize;
use tessera_service::admin::list_filters::BadFilter;
use utoipa::IntoParams;

use super::problem::Problem;

impl From<BadFilter> for Problem {
    fn from(bad: BadFilter) -> Self {
        Problem::invalid_field(bad.param, bad.detail)
    }
}

/// The filters of a tenant's clients and of a broker tenant's applications.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClientQuery {
    /// The start of the client id or of the name (case-insensitive; empty: every one).
    pub q: Option<String>,
    /// `public` (no secret, PKCE) or `confidential`; anything else is 422 `client_type`.
    pub client_type: Option<String>,
}

/// The filter of an account's status, with the search of users and directory users.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// `enabled` or `disabled` (empty: both); anything else is 422 `status`.
    pub status: Option<String>,
}

/// The filters of a user's passkeys.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PasskeyQuery {
    /// The start of the passkey's name (case-insensitive).
    pub q: Option<String>,
    /// The COSE algorithm, by id (`-7`, `-8`, `-257`) or name (`ES256`, `EdDSA`, `RS256`); else 422 `alg`.
    pub alg: Option<String>,
    /// The authenticator model (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`); else 422 `aaguid`.
    pub aaguid: Option<String>,
}

/// The filters of a tenant's signing keys (either role).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyQuery {
    /// `pending` (published, not signing yet), `active` or `retired`; else 422 `status`.
    pub status: Option<String>,
    /// `RS256` or `ES256`; else 422 `alg`.
    pub alg: Option<String>,
}

/// A filter by the start of an id or a name.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NameQuery {
    /// The start of the id or of the name (case-insensitive; empty: every one).
    pub q: Option<String>,
}

/// The filters of the API tokens.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// The start of the token's name (case-insensitive).
    pub q: Option<String>,
    /// `global_admin`, `tenant_admin` or `read_only`; else 422 `role`.
    pub role: Option<String>,
}

/// The filter of the pending invitations.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoleQuery {
    /// `global_admin`, `tenant_admin` or `read_only`; else 422 `role`.
    pub role: Option<String>,
}
