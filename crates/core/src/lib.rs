//! Shared vocabulary of Tessera: identifiers, the clock, and secret wrappers.
//!
//! - [`ids`]: newtypes for tenants, users, clients and credentials, each with a `parse` that is the only way in.
//! - [`clock`]: the [`Clock`] trait that every protocol core takes `now` from, and its system and fixed implementations.
//! - [`secret`]: [`Secret`], a string whose `Debug` never shows its content.
//!
//! This crate performs no I/O.

pub mod clock;
pub mod ids;
pub mod secret;

pub use clock::{Clock, FixedClock, SystemClock};
pub use ids::{ClientId, IdError, TenantId, UserId};
pub use secret::Secret;
