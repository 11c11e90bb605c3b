//! One-time ceremony values (WebAuthn challenges, pending authorization requests, JWT ids) kept in process memory.
//!
//! SQLite is the single-node store: every request of a deployment reaches this one process, so a ceremony never
//! needs to be seen by another node. A ceremony lives for minutes and is consumed once within a sign-in; in the
//! database it would cost two writes (insert, then delete), about a third of a sign-in's log volume, for nothing a
//! restart needs: a ceremony interrupted by a restart is refused like an expired one and the user starts again.
//! Identity providers commonly keep them this way (Keycloak holds its authentication sessions in Infinispan caches,
//! not its database). Everything a client or a user holds on to (users, credentials, sign counts, sessions,
//! authorization codes, access and refresh tokens, revoked grants) stays in the database. The PostgreSQL store,
//! shared by several nodes, keeps ceremonies in a table.
//!
//! The map is bounded ([`MAX_LIVE`]); past it, expired values are swept and, if it is still full, a new value is
//! refused with [`StoreError::Unavailable`] (a 503), never by dropping a live one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use tessera_core::TenantId;
use tessera_store::{Result, StoreError};
use time::OffsetDateTime;

/// Most values held at once: far above what rate-limited clients can start in a ceremony's lifetime, small enough
/// that a flood cannot exhaust memory.
pub(crate) const MAX_LIVE: usize = 500_000;

struct Ceremony {
    kind: String,
    payload: Vec<u8>,
    expires_at: OffsetDateTime,
}

impl Ceremony {
    fn matches(&self, kind: &str, now: OffsetDateTime) -> bool {
        self.kind == kind && self.expires_at > now
    }
}

type CeremonyKey = (TenantId, String);

/// The ceremonies of every tenant.
#[derive(Default)]
pub(crate) struct Ephemeral {
    ceremonies: Mutex<HashMap<CeremonyKey, Ceremony>>,
    closed: AtomicBool,
}

fn poisoned() -> StoreError {
    StoreError::Unavailable("in-memory table lock poisoned".into())
}

impl Ephemeral {
    /// Drops every value; later operations fail with [`StoreError::Unavailable`], like the closed database.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Ok(mut ceremonies) = self.ceremonies.lock() {
            ceremonies.clear();
        }
    }

    fn open(&self) -> Result<MutexGuard<'_, HashMap<CeremonyKey, Ceremony>>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable("the store is closed".into()));
        }
        self.ceremonies.lock().map_err(|_| poisoned())
    }

    /// Stores a ceremony value under `id`; `Conflict` if a value (even an expired one not yet purged) holds the id.
    pub(crate) fn put_ceremony(
        &self,
        tenant: &TenantId,
        id: &str,
        kind: &str,
        payload: Vec<u8>,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut live = self.open()?;
        if live.len() >= MAX_LIVE {
            live.retain(|_, c| c.expires_at > now);
            if live.len() >= MAX_LIVE {
                return Err(StoreError::Unavailable(
                    "too many sign-ins in progress".into(),
                ));
            }
        }
        let key = (tenant.clone(), id.to_owned());
        if live.contains_key(&key) {
            return Err(StoreError::Conflict);
        }
        live.insert(
            key,
            Ceremony {
                kind: kind.to_owned(),
                payload,
                expires_at,
            },
        );
        Ok(())
    }

    /// Removes and returns the value if it is of `kind` and live at `now`; otherwise leaves it where it is.
    pub(crate) fn take_ceremony(
        &self,
        tenant: &TenantId,
        id: &str,
        kind: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>> {
        let mut live = self.open()?;
        let key = (tenant.clone(), id.to_owned());
        if !live.get(&key).is_some_and(|c| c.matches(kind, now)) {
            return Ok(None);
        }
        Ok(live.remove(&key).map(|c| c.payload))
    }

    /// Returns a copy of the value if it is of `kind` and live at `now`.
    pub(crate) fn peek_ceremony(
        &self,
        tenant: &TenantId,
        id: &str,
        kind: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>> {
        let live = self.open()?;
        Ok(live
            .get(&(tenant.clone(), id.to_owned()))
            .filter(|c| c.matches(kind, now))
            .map(|c| c.payload.clone()))
    }

    /// Deletes ceremonies expired at `now`, at most `batch`; returns how many.
    pub(crate) fn purge(&self, now: OffsetDateTime, batch: usize) -> Result<u64> {
        self.purge_where(now, batch, |_| true)
    }

    /// Deletes ceremonies of `kind` expired at `now`, at most `batch`; returns how many.
    pub(crate) fn purge_kind(&self, kind: &str, now: OffsetDateTime, batch: usize) -> Result<u64> {
        self.purge_where(now, batch, |c| c.kind == kind)
    }

    fn purge_where(
        &self,
        now: OffsetDateTime,
        batch: usize,
        of_kind: impl Fn(&Ceremony) -> bool,
    ) -> Result<u64> {
        let mut live = self.open()?;
        let expired: Vec<CeremonyKey> = live
            .iter()
            .filter(|(_, c)| c.expires_at <= now && of_kind(c))
            .map(|(key, _)| key.clone())
            .take(batch)
            .collect();
        for key in &expired {
            live.remove(key);
        }
        Ok(expired.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    fn tenant() -> TenantId {
        TenantId::parse("acme").expect("tenant id")
    }

    #[test]
    fn full_table_sweeps_expired_values_then_refuses_rather_than_evicting() {
        let table = Ephemeral::default();
        let t = tenant();
        {
            let mut live = table.ceremonies.lock().expect("lock");
            for i in 0..MAX_LIVE {
                let expires_at = if i == 0 {
                    T0
                } else {
                    T0 + Duration::minutes(5)
                };
                live.insert(
                    (t.clone(), format!("v{i}")),
                    Ceremony {
                        kind: "k".into(),
                        payload: Vec::new(),
                        expires_at,
                    },
                );
            }
        }
        let later = T0 + Duration::seconds(1);
        let expires = later + Duration::minutes(5);
        table
            .put_ceremony(&t, "new-1", "k", vec![1], expires, later)
            .expect("the one expired value is swept to make room");
        assert!(matches!(
            table.put_ceremony(&t, "new-2", "k", vec![2], expires, later),
            Err(StoreError::Unavailable(_))
        ));
        assert_eq!(
            table.peek_ceremony(&t, "v1", "k", later).expect("peek"),
            Some(Vec::new()),
            "live values are never evicted"
        );
    }

    #[test]
    fn purge_deletes_only_expired_ceremonies_up_to_the_batch() {
        let table = Ephemeral::default();
        let t = tenant();
        let earlier = T0 - Duration::minutes(1);
        for i in 0..5 {
            table
                .put_ceremony(&t, &format!("old{i}"), "k", vec![], T0, earlier)
                .expect("put");
        }
        table
            .put_ceremony(&t, "live", "k", vec![9], T0 + Duration::minutes(5), T0)
            .expect("put");
        assert_eq!(table.purge(T0, 3).expect("purge"), 3);
        assert_eq!(table.purge(T0, 10).expect("purge"), 2);
        assert_eq!(table.purge(T0, 10).expect("purge"), 0);
        assert_eq!(
            table.take_ceremony(&t, "live", "k", T0).expect("take"),
            Some(vec![9])
        );
    }

    #[test]
    fn closed_table_refuses_every_operation() {
        let table = Ephemeral::default();
        let earlier = T0 - Duration::minutes(1);
        table
            .put_ceremony(&tenant(), "c1", "k", vec![1], T0, earlier)
            .expect("put");
        table.close();
        assert!(matches!(
            table.take_ceremony(&tenant(), "c1", "k", earlier),
            Err(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            table.put_ceremony(&tenant(), "x", "k", vec![], T0, T0),
            Err(StoreError::Unavailable(_))
        ));
    }
}
