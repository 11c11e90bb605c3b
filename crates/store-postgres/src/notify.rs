//! The notifier on PostgreSQL: `NOTIFY` to send, one `LISTEN`ing connection per node to receive.
//!
//! All topics share one channel per schema (`tessera.<schema>`, so that deployments in different schemas of one
//! database do not hear each other); a notification's text is `topic`, a newline, then the payload. Each node
//! listens once, on a connection of its own taken from the pool when the first subscription is made, and fans
//! what it hears out to its subscriptions ([`LocalHub`]). So any number of waiting subscribers cost one connection
//! per node, and `LISTEN` never needs to change while the node runs.
//!
//! `PgListener` reconnects by itself after a lost connection (notifications sent meanwhile are lost, as the notifier's
//! contract allows); a store closed ends the listener and with it every subscription.

use crate::convert::db;
use sqlx::postgres::{PgListener, PgPool};
use std::sync::Arc;
use std::time::Duration as StdDuration;
use tessera_store::notify::LocalHub;
use tessera_store::{Payload, Result, Subscription, Topic};
use tokio::sync::OnceCell;

/// How long the listener waits after a failure other than the pool closing before it listens again.
const RETRY: StdDuration = StdDuration::from_secs(1);

/// One node's notifier: the channel, the local subscriptions, and the listener once started.
#[derive(Debug)]
pub(crate) struct PgNotifier {
    channel: String,
    hub: Arc<LocalHub>,
    listening: OnceCell<()>,
}

impl PgNotifier {
    /// The notifier of the schema the pool's connections use (`current_schema()`).
    pub(crate) async fn new(pool: &PgPool) -> Result<Self> {
        let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(pool)
            .await
            .map_err(db)?;
        Ok(Self {
            channel: channel_name(schema.as_deref().unwrap_or("public")),
            hub: Arc::default(),
            listening: OnceCell::new(),
        })
    }

    pub(crate) async fn notify(
        &self,
        pool: &PgPool,
        topic: &Topic,
        payload: &Payload,
    ) -> Result<()> {
        self.hub.check_open()?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&self.channel)
            .bind(format!("{}\n{}", topic.as_str(), payload.as_str()))
            .execute(pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    pub(crate) async fn subscribe(&self, pool: &PgPool, topic: &Topic) -> Result<Subscription> {
        self.hub.check_open()?;
        // `LISTEN` is in effect before the first subscription is handed out, so nothing sent after it is missed.
        self.listening
            .get_or_try_init(|| async {
                let mut listener = PgListener::connect_with(pool).await.map_err(db)?;
                listener.listen(&self.channel).await.map_err(db)?;
                tokio::spawn(forward(listener, Arc::clone(&self.hub)));
                Ok::<_, tessera_store::StoreError>(())
            })
            .await?;
        self.hub.subscribe(topic)
    }

    /// Ends every subscription of this node.
    pub(crate) fn close(&self) {
        self.hub.close();
    }
}

/// Delivers what the node hears to its subscriptions, until the pool is closed.
async fn forward(mut listener: PgListener, hub: Arc<LocalHub>) {
    loop {
        match listener.recv().await {
            Ok(notification) => {
                if let Some((topic, payload)) = notification.payload().split_once('\n') {
                    hub.publish(topic, payload);
                }
            }
            Err(sqlx::Error::PoolClosed) => break,
            // The next `recv` reconnects and listens again.
            Err(_) => tokio::time::sleep(RETRY).await,
        }
        if hub.check_open().is_err() {
            break;
        }
    }
    hub.close();
}

/// `tessera.<schema>`, within PostgreSQL's 63-byte limit on channel names.
fn channel_name(schema: &str) -> String {
    let mut name = format!("tessera.{schema}");
    while name.len() > 63 {
        name.pop();
    }
    name
}

#[cfg(test)]
mod tests {
    use super::channel_name;

    #[test]
    fn channel_names_fit_postgresql_identifiers() {
        assert_eq!(channel_name("public"), "tessera.public");
        let long = channel_name(&"é".repeat(40));
        assert!(long.len() <= 63 && long.starts_with("tessera."));
    }
}
