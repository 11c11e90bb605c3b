//! Tessera's storage: role-shaped traits with intent-named atomic operations, and the contract every backend passes.
//!
//! - [`TenantStore`] (`tenants`): tenants, their clients and signing keys; a tenant and its keys are created in one
//!   transaction, and a tenant update is guarded by the revision it was read at (no lost updates).
//! - [`UserStore`] (`users`): users and their WebAuthn credentials; sign-up is one transaction
//!   (`create_user_with_credential`).
//! - [`GrantStore`] (`grants`): browser sessions, authorization codes, access and refresh tokens; a sign-in's
//!   counter update and its session are one transaction (`record_sign_in`); one-time values are consumed atomically
//!   (`consume_auth_code`, `rotate_refresh_token`); the background purge.
//! - [`CeremonyStore`] (`ceremonies`): WebAuthn challenges and pending authorization requests, taken once
//!   (`take_ceremony`). Never find-then-delete.
//! - [`HealthStore`] (`health`): a cheap write through the real write path, for readiness.
//! - [`Notifier`] (`notify`): the port for wake-ups across the nodes sharing a store (`notify`, `subscribe`):
//!   in-process on SQLite, PostgreSQL's `LISTEN`/`NOTIFY` on PostgreSQL.
//! - [`AdminStore`] (`admin`): API tokens, the bootstrap token and the audit trail of the admin surfaces.
//! - [`Store`]: the umbrella of all roles, implemented for every type that implements them, so the application
//!   holds one `Arc<dyn Store>`. `use tessera_store::prelude::*;` brings every role's methods into scope.
//! - [`records`]: the plain records stored ([`Tenant`], [`Client`], [`User`], [`Credential`], [`AuthCode`], tokens,
//!   [`Session`], [`SigningKey`]), the outcomes of the atomic operations, and the rules both backends share (the
//!   sign-count rule [`SignCountBump::moves_forward`], [`fold_username`]).
//! - [`convert`]: decoding of stored identifiers and numbers, shared by the backends (undecodable is `Corrupt`).
//! - [`error`]: [`StoreError`] — `NotFound | Conflict | Changed | Unavailable | Corrupt`. `Unavailable` fails closed;
//!   `Changed` answers a conditional write (an `expected` value) whose row changed since it was read.
//! - `contract` (feature `contract`): one async test function per behaviour, by area, run by each backend's tests
//!   through `store_contract_tests!`. (Load measurements are the bench crate's: `tessera_bench::store_load`.)
//!
//! Every tenant-scoped method takes the tenant first. Time is the caller's: operations that depend on it take `now`.
//!
//! More roles come as their features do, each a trait of its own beside these and added to [`Store`]'s bounds:
//! the identity broker's (upstream providers, federated identities, its own sessions) and the admin surfaces'
//! (user listing and editing, audit), so that a router mounted alone needs only the roles it uses.
//!
//! Implementations: `tessera-store-sqlite` (default, embedded) and `tessera-store-postgres` (multi-node).

pub mod admin;
pub mod broker;
pub mod broker_records;
pub mod ceremonies;
pub mod convert;
pub mod error;
pub mod filters;
pub mod grants;
pub mod health;
pub mod metrics;
pub mod notify;
pub mod records;
pub mod tenants;
pub mod users;

#[cfg(feature = "contract")]
pub mod contract;
#[cfg(feature = "contract")]
pub mod contract_admin;
#[cfg(feature = "contract")]
pub mod contract_admin_invitations;
#[cfg(feature = "contract")]
pub mod contract_admin_members;
#[cfg(feature = "contract")]
pub mod contract_broker;

pub use admin::{
    AdminInvitation, AdminMember, AdminStore, ApiTokenRecord, AuditEvent, AuditFilter, AuditPage,
    InvitationCursor, InvitationPage,
};
pub use broker::BrokerStore;
pub use broker_records::{
    BrokerApplication, BrokerSession, BrokerTenant, BrokerTenantContents, DirectoryIdentity,
    DirectoryPage, DirectoryUserRecord, FlowVersionRecord, IdentityProviderRecord,
    IdentityProviderSummary, LocalCredential, ProviderCache, UserFlowRecord,
};
pub use ceremonies::CeremonyStore;
pub use error::{Result, StoreError, check_expected};
pub use filters::{AccountStatus, ClientFilter, ClientType};
pub use grants::GrantStore;
pub use health::HealthStore;
pub use notify::{Notifier, Payload, Subscription, Topic};
pub use records::{
    AccessToken, AuthCode, Client, CodeRedemption, Credential, GrantPasskey, KeyStatus,
    RefreshRotation, RefreshToken, Session, SignCountBump, SignCountRegression, SignCountUpdate,
    SigningKey, Tenant, TenantContents, TenantDeletion, User, fold_display_name, fold_username,
};
pub use tenants::TenantStore;
pub use users::UserStore;

use time::Duration;

/// The role traits, for callers that hold an `Arc<dyn Store>`: `use tessera_store::prelude::*;`.
pub mod prelude {
    pub use crate::{
        CeremonyStore, GrantStore, HealthStore, Notifier, Store, TenantStore, UserStore,
    };
}

/// How long a redeemed authorization code is kept after its expiry, so that a late reuse is still recognised
/// (and the grant revoked) rather than reported as unknown.
pub const REDEEMED_CODE_RETENTION: Duration = Duration::hours(1);

/// How long a revoked grant is remembered, so that tokens from a redemption racing the revocation are refused.
pub const REVOKED_GRANT_RETENTION: Duration = Duration::days(1);

/// How long a revoked passkey is remembered: longer than any grant issued before the revocation can live (its code's
/// lifetime and then its refresh tokens', [`MAX_GRANT_LIFETIME`]), so that every code and token of such a grant is
/// refused until it expires.
pub const REVOKED_PASSKEY_RETENTION: Duration = Duration::days(400);

/// The longest a grant may live (refresh token lifetime): the server refuses a configuration above it.
pub const MAX_GRANT_LIFETIME: Duration = Duration::days(366);

/// Tessera's storage: every role at once. Implementations are cheap to share (`Arc<dyn Store>`) and safe to call
/// concurrently, also from several processes on one database (PostgreSQL).
///
/// Lookups return `Ok(None)` when nothing matches; mutations of a missing row return [`StoreError::NotFound`].
/// A database failure is always [`StoreError::Unavailable`], never `None` or `NotFound`.
pub trait Store:
    TenantStore + UserStore + GrantStore + CeremonyStore + Notifier + HealthStore
{
}

impl<T: TenantStore + UserStore + GrantStore + CeremonyStore + Notifier + HealthStore + ?Sized>
    Store for T
{
}

/// A backend that holds the authenticator service's [`Store`], the broker's [`BrokerStore`] and the admin surfaces'
/// [`AdminStore`] (both shipped backends do). The server opens one and hands it out as each: `Arc<dyn Backend>` coerces to `Arc<dyn Store>` and
/// to `Arc<dyn BrokerStore>`.
pub trait Backend: Store + BrokerStore + AdminStore {}

impl<T: Store + BrokerStore + AdminStore + ?Sized> Backend for T {}
