//! Shared vocabulary of Tessera: identifiers, the clock, and secret wrappers.
//!
//! - [`ids`]: newtypes for tenants, users, clients and credentials, each with a `parse` that is the only way in.
//! - [`clock`]: the [`Clock`] trait that every protocol core takes `now` from, and its system and fixed implementations.
//! - [`secret`]: [`Secret`], a string whose `Debug` never shows its content.
//! - [`text`]: [`Username`] and [`Email`], typed text people enter, and the characters no name may contain.
//! - [`web`]: [`RedirectUri`], [`Issuer`], [`RpId`] and [`Origin`], parsed web identities.
//!
//! This crate performs no I/O.

pub mod clock;
pub mod ids;
pub mod secret;
pub mod text;
pub mod web;

pub use clock::{Clock, FixedClock, SystemClock};
pub use ids::{CeremonyId, ClientId, IdError, TenantId, UserId};
pub use secret::Secret;
pub use text::{Email, EmailError, Username, UsernameError};
pub use web::{
    Issuer, IssuerError, Origin, OriginError, RedirectUri, RedirectUriError, RpId, RpIdError,
};
