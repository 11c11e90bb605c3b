//! [`ApiState`]: what the admin API needs — both roles' states (their stores, keys, caches and the client toward
//! identity providers) and the admin store — taken from [`AppState`] with `FromRef`.

use std::sync::Arc;

use axum::extract::FromRef;
use tessera_store::AdminStore;

use crate::common::state::{AppState, BrokerState, ProviderState};

/// The admin API's state.
#[derive(Clone)]
pub struct ApiState {
    /// The authenticator service's state (its store, master key, clock, tenant cache, FIDO metadata).
    pub provider: ProviderState,
    /// The broker's state (its store, the upstream client, its cache).
    pub broker: BrokerState,
    /// API tokens, the bootstrap token and the audit trail.
    pub admin: Arc<dyn AdminStore>,
}

impl FromRef<AppState> for ApiState {
    fn from_ref(app: &AppState) -> Self {
        Self {
            provider: app.provider.clone(),
            broker: app.broker.clone(),
            admin: app.admin_store.clone(),
        }
    }
}

impl ApiState {
    /// The time now.
    pub fn now(&self) -> time::OffsetDateTime {
        self.provider.clock.now()
    }
}
