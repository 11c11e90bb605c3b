//! [`ServiceError`]: what went wrong in a use case, one variant per failed check. It carries no HTTP status; the
//! HTTP layer and the CLI each map it to their own answer.

use tessera_broker::config::ConfigError;
use tessera_broker::metadata::{JwksError, MetadataError};
use tessera_store::StoreError;
use tessera_webauthn::WebauthnError;

use crate::broker::UpstreamError;

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The tenant does not exist.
    #[error("unknown tenant")]
    TenantNotFound,
    /// A tenant with this id exists already.
    #[error("tenant already exists")]
    TenantExists,
    /// The client does not exist.
    #[error("unknown client")]
    ClientNotFound,
    /// A client with this id exists already.
    #[error("client already exists")]
    ClientExists,
    /// The RP ID is not a domain name.
    #[error("rp-id: {reason}")]
    InvalidRpId {
        /// What is wrong with it.
        reason: String,
    },
    /// A WebAuthn origin is not a bare origin within the RP ID.
    #[error("origin: {reason}")]
    InvalidOrigin {
        /// What is wrong with it.
        reason: String,
    },
    /// A tenant display name is empty, too long or contains invisible characters.
    #[error("display-name: {reason}")]
    InvalidDisplayName {
        /// What is wrong with it.
        reason: String,
    },
    /// A redirect URI (or post-logout redirect URI) cannot be registered.
    #[error("redirect-uri: {reason}")]
    InvalidRedirectUri {
        /// What is wrong with it.
        reason: String,
    },
    /// An authenticator policy setting is unusable; `setting` names it as the CLI spells it.
    #[error("{setting}: {reason}")]
    InvalidPolicy {
        /// `aaguid-allow`, `legacy-appid`, `min-certification-level`, ...
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A value typed by a user (username, display name, email, passkey name) was refused; the message says why in
    /// words people understand.
    #[error("{0}")]
    InvalidInput(String),
    /// Accounts of this tenant (the admin tenant) are made only from an invitation or the bootstrap link.
    #[error(
        "Accounts here are made by invitation only. Open the invitation link a global admin gave you; the first administrator uses the bootstrap link the server printed at its first start."
    )]
    SignUpByInvitationOnly,
    /// The username is taken (at sign-up).
    #[error("This username is taken. Choose another one, or sign in.")]
    UsernameTaken,
    /// The username or the passkey was registered by someone else while the sign-up was in progress.
    #[error(
        "This username was taken a moment ago, or this passkey is already registered. Choose another username and try again, or sign in."
    )]
    SignUpRaced,
    /// No account has this username (username-first sign-in).
    #[error("There is no account with this username. Check the spelling, or create an account.")]
    UnknownUsername,
    /// The account has no passkey to sign in with.
    #[error(
        "This account has no passkey any more. Create a new account, or ask the site's administrator for help."
    )]
    NoPasskey,
    /// The operation needs a signed-in user and there is none (or the user is gone).
    #[error("sign-in required")]
    SignInRequired,
    /// The ceremony (challenge or pending authorization) is unknown, used, expired or of another kind.
    #[error("this sign-in attempt expired or was already used")]
    CeremonyExpired,
    /// The ceremony was started by another browser than the one finishing it.
    #[error(
        "This passkey request was started in another browser window. Reload this page and try again."
    )]
    CeremonyFromOtherBrowser,
    /// The WebAuthn verification engine refused the response.
    #[error("passkey refused: {0}")]
    PasskeyRefused(#[from] WebauthnError),
    /// A passkey refused by a rule of the service (`rule` as the engine names rules, e.g. `credential-unknown`).
    #[error("passkey refused ({rule}): {reason}")]
    PasskeyRule {
        /// The rule's stable name.
        rule: &'static str,
        /// Why, in a few words.
        reason: &'static str,
    },
    /// An OAuth rule refused a token, revocation or client authentication request; the rule gives the error code
    /// (`invalid_client` for a client that did not authenticate as registered).
    #[error("oauth: {0}")]
    OAuth(tessera_oidc::error::OidcError),
    /// A bearer token is unknown, expired, revoked or does not grant what is asked (RFC 6750 §3.1).
    #[error("invalid bearer token")]
    InvalidBearerToken,
    /// A sensitive account action needs a user verification more recent than the session's.
    #[error("a recent confirmation with a passkey is needed")]
    ReauthRequired,
    /// The passkey is the user's only one and cannot be deleted.
    #[error("this is the only passkey of the account")]
    LastPasskey,
    /// The passkey does not exist or is not the user's.
    #[error("passkey not found")]
    PasskeyNotFound,
    /// The passkey is registered already (in this tenant or in another tenant with the same RP ID).
    #[error("This passkey is already registered.")]
    PasskeyAlreadyRegistered,
    /// The tenant still has clients or users, and the deletion was not forced.
    #[error(
        "the tenant still has {}; delete them first, or force the deletion to remove everything of the tenant",
        what_remains(&[("client", *clients), ("user", *users)])
    )]
    TenantNotEmpty {
        /// How many OAuth clients it has.
        clients: u64,
        /// How many users it has.
        users: u64,
    },
    /// The broker tenant does not exist.
    #[error("unknown broker tenant")]
    BrokerTenantNotFound,
    /// The broker tenant still has applications, identity providers, user flows or directory users, and the
    /// deletion was not forced.
    #[error(
        "the broker tenant still has {}; delete them first, or force the deletion to remove everything of the tenant",
        what_remains(&[
            ("application", *applications),
            ("identity provider", *identity_providers),
            ("user flow", *user_flows),
            ("directory user", *directory_users),
        ])
    )]
    BrokerTenantNotEmpty {
        /// How many applications it has.
        applications: u64,
        /// How many identity providers it has.
        identity_providers: u64,
        /// How many user flows it has.
        user_flows: u64,
        /// How many directory users it has.
        directory_users: u64,
    },
    /// Someone changed the object (`what`: "client", "application", ...) since the version this change was based
    /// on; nothing was written. The caller reads it again (HTTP 412).
    #[error("the {what} was changed meanwhile; reload it and apply the change again")]
    Changed {
        /// What changed, in words.
        what: &'static str,
    },
    /// Someone changed the broker tenant since the version this change was based on.
    #[error("the broker tenant was changed meanwhile; reload it and apply the change again")]
    BrokerTenantChanged,
    /// A broker tenant with this id exists already.
    #[error("broker tenant already exists")]
    BrokerTenantExists,
    /// The broker tenant id is one of the reserved path segments (`tfp`, `admin`, `demo`, `static`).
    #[error("id: {name} is reserved for the broker's own URLs; choose another tenant id")]
    ReservedTenantName {
        /// The refused id.
        name: String,
    },
    /// A broker configuration object (application, identity provider, user flow) was refused; the error names
    /// the field (`ConfigError::field`).
    #[error("{0}")]
    BrokerConfig(#[from] ConfigError),
    /// The broker application does not exist.
    #[error("unknown application")]
    ApplicationNotFound,
    /// The identity provider does not exist.
    #[error("unknown identity provider")]
    ProviderNotFound,
    /// An identity provider with this id exists already in the tenant.
    #[error("id: identity provider {id} already exists")]
    ProviderExists {
        /// The provider id.
        id: String,
    },
    /// The identity provider is offered by user flows (their current versions) and cannot be deleted.
    #[error(
        "identity provider {provider} is offered by the user flow(s) {}; remove it from them first",
        flows.join(", ")
    )]
    ProviderInUse {
        /// The provider id.
        provider: String,
        /// The policy ids of the flows offering it.
        flows: Vec<String>,
    },
    /// A new identity provider needs its client secret.
    #[error("client_secret: the identity provider's client secret is required")]
    ProviderSecretRequired,
    /// Fetching the provider's discovery document (`metadata_url`) or JWK Set (`jwks_uri`) failed.
    #[error("{field}: {error}")]
    ProviderFetch {
        /// `metadata_url` or `jwks_uri`.
        field: &'static str,
        /// What failed.
        error: UpstreamError,
    },
    /// The provider's discovery document was refused.
    #[error("metadata_url: {url}: {error}")]
    ProviderMetadata {
        /// The metadata URL.
        url: String,
        /// What is wrong with the document.
        error: MetadataError,
    },
    /// The provider's JWK Set was refused.
    #[error("jwks_uri: {url}: {error}")]
    ProviderJwks {
        /// The JWKS URL.
        url: String,
        /// What is wrong with the document.
        error: JwksError,
    },
    /// The user flow does not exist.
    #[error("unknown user flow")]
    FlowNotFound,
    /// A user flow with this policy id exists already (policy ids compare case-insensitively).
    #[error("name: user flow {policy} already exists")]
    FlowExists {
        /// The policy id.
        policy: String,
    },
    /// The user flow has no such version.
    #[error("user flow version {number} does not exist")]
    FlowVersionNotFound {
        /// The version asked for.
        number: u32,
    },
    /// Someone saved another version of the flow since the one this change was based on.
    #[error(
        "the user flow was changed meanwhile (now at version {current}); reload it and apply the change again"
    )]
    FlowChanged {
        /// The flow's current version number.
        current: u32,
    },
    /// The directory user does not exist.
    #[error("unknown user")]
    DirectoryUserNotFound,
    /// The authenticator service's user does not exist.
    #[error("unknown user")]
    UserNotFound,
    /// The account was disabled by an administrator: it cannot sign in.
    #[error("this account is disabled")]
    UserDisabled,
    /// The store could not do what was asked.
    #[error("store: {0}")]
    Store(StoreError),
    /// The store holds data that cannot be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Generating, encrypting or decrypting signing keys failed.
    #[error("signing keys: {0}")]
    Keys(String),
    /// The system random generator failed.
    #[error("random generator failed")]
    Random,
    /// Any other server-side fault (serialization, a background task); logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Corrupt(message) => Self::Corrupt(message),
            StoreError::Changed => Self::Changed { what: "object" },
            other => Self::Store(other),
        }
    }
}

impl ServiceError {
    /// The input field a refused broker configuration names (`reply_urls[1]`, `metadata_url`, `jwks_uri`, `scope`,
    /// `client_secret`, `id`, `name`), for showing the error next to it.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::BrokerConfig(error) => Some(error.field()),
            Self::ProviderFetch { field, .. } => Some(field),
            Self::ProviderMetadata { .. } => Some("metadata_url"),
            Self::ProviderJwks { .. } => Some("jwks_uri"),
            Self::ProviderSecretRequired => Some("client_secret"),
            Self::ReservedTenantName { .. } | Self::ProviderExists { .. } => Some("id"),
            Self::FlowExists { .. } => Some("name"),
            _ => None,
        }
    }

    /// Whether the fault is the service's (or its store's), not the caller's: such errors are logged and answered
    /// with a generic message.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Self::Store(_) | Self::Corrupt(_) | Self::Keys(_) | Self::Random | Self::Internal(_)
        )
    }
}

/// "2 applications and 1 user flow": the non-zero counts of `items`, each with its noun.
fn what_remains(items: &[(&str, u64)]) -> String {
    let parts: Vec<String> = items
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(noun, n)| format!("{n} {noun}{}", if *n == 1 { "" } else { "s" }))
        .collect();
    match parts.as_slice() {
        [] => "nothing".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The result type of the use cases.
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_store_data_stays_corrupt_and_other_store_errors_stay_store_errors() {
        assert!(matches!(
            ServiceError::from(StoreError::Corrupt("x".into())),
            ServiceError::Corrupt(_)
        ));
        assert!(matches!(
            ServiceError::from(StoreError::Unavailable("pool closed".into())),
            ServiceError::Store(StoreError::Unavailable(_))
        ));
        assert!(ServiceError::from(StoreError::NotFound).is_internal());
    }

    #[test]
    fn a_refused_tenant_deletion_names_what_still_exists() {
        let error = ServiceError::BrokerTenantNotEmpty {
            applications: 2,
            identity_providers: 0,
            user_flows: 1,
            directory_users: 3,
        };
        assert!(
            error.to_string().starts_with(
                "the broker tenant still has 2 applications, 1 user flow and 3 directory users;"
            ),
            "{error}"
        );
        let error = ServiceError::TenantNotEmpty {
            clients: 1,
            users: 0,
        };
        assert!(
            error
                .to_string()
                .starts_with("the tenant still has 1 client;"),
            "{error}"
        );
    }

    #[test]
    fn operator_errors_name_the_argument_at_fault() {
        let error = ServiceError::InvalidRedirectUri {
            reason: "fragment".into(),
        };
        assert_eq!(error.to_string(), "redirect-uri: fragment");
        assert!(!error.is_internal());
        assert_eq!(
            ServiceError::TenantExists.to_string(),
            "tenant already exists"
        );
    }
}
