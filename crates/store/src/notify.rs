//! The notifier port: wake-ups across nodes (a phone approving a cross-device sign-in that a browser's request on
//! another node waits for).
//!
//! A notification is a wake-up, not a message queue: it reaches the subscriptions to its topic that exist when it is
//! sent, on every node sharing the store, at most once each. A subscriber that falls behind skips to the newest
//! notifications, and one sent while a node's listening connection is being re-established is lost. So a woken
//! subscriber reads the state it waits for from the store, and also rereads it after a timeout of its own.
//!
//! [`LocalHub`] fans notifications out to the subscriptions of one process; the single-node SQLite store is only that,
//! the PostgreSQL store feeds it from `LISTEN` and sends with `NOTIFY`.

use crate::{Result, StoreError};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::broadcast;

/// How many notifications a subscription holds before it skips to the newest.
const BACKLOG: usize = 16;

/// Why a topic or payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidNotification {
    /// A topic is 1 to [`Topic::MAX_LEN`] ASCII letters, digits, `.`, `_`, `:` or `-`.
    #[error("a notification topic is 1 to 64 ASCII letters, digits, '.', '_', ':' or '-'")]
    Topic,
    /// A payload is at most [`Payload::MAX_LEN`] bytes of text without NUL.
    #[error("a notification payload is at most 1024 bytes of text without NUL")]
    Payload,
}

/// What a notification is about (for example `crossdevice:<ceremony id>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topic(String);

impl Topic {
    /// The longest topic, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Parses a topic: 1 to [`Topic::MAX_LEN`] ASCII letters, digits, `.`, `_`, `:` or `-`.
    pub fn parse(value: &str) -> Result<Self, InvalidNotification> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
        if value.is_empty() || value.len() > Self::MAX_LEN || !value.chars().all(allowed) {
            return Err(InvalidNotification::Topic);
        }
        Ok(Self(value.to_owned()))
    }

    /// The topic as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a notification carries: a short hint (an id, a state name), never a secret, since on PostgreSQL every
/// node's listening connection receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload(String);

impl Payload {
    /// The longest payload, in bytes (PostgreSQL's `NOTIFY` takes at most 8,000 with the topic).
    pub const MAX_LEN: usize = 1024;

    /// Checks a payload: at most [`Payload::MAX_LEN`] bytes, no NUL (which PostgreSQL text refuses).
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidNotification> {
        let value = value.into();
        if value.len() > Self::MAX_LEN || value.contains('\0') {
            return Err(InvalidNotification::Payload);
        }
        Ok(Self(value))
    }

    /// The payload as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The notifier port, implemented by each store backend for the nodes that share it.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Wakes every subscription to `topic`, on every node sharing the store (this one included).
    /// [`StoreError::Unavailable`] when it cannot be sent.
    async fn notify(&self, topic: &Topic, payload: &Payload) -> Result<()>;
    /// Subscribes to `topic`: every notification sent after this returns reaches the subscription (see the module
    /// documentation for what may be skipped). Dropping the subscription ends it.
    async fn subscribe(&self, topic: &Topic) -> Result<Subscription>;
}

/// The notifications of one topic, for one subscriber.
#[derive(Debug)]
pub struct Subscription {
    receiver: broadcast::Receiver<String>,
}

impl Subscription {
    /// Waits for the next notification's payload; `None` once the notifier is gone (the store was closed).
    pub async fn next(&mut self) -> Option<String> {
        loop {
            match self.receiver.recv().await {
                Ok(payload) => return Some(payload),
                // Wake-ups, not messages: skipping the oldest still wakes the subscriber.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// The subscriptions of one process, by topic.
#[derive(Debug, Default)]
pub struct LocalHub {
    state: Mutex<HubState>,
}

#[derive(Debug, Default)]
struct HubState {
    topics: HashMap<String, broadcast::Sender<String>>,
    closed: bool,
}

impl LocalHub {
    fn state(&self) -> MutexGuard<'_, HubState> {
        // A panic while holding the lock leaves the state consistent (every change is one map call or one flag).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new subscription to `topic`; [`StoreError::Unavailable`] after [`LocalHub::close`].
    pub fn subscribe(&self, topic: &Topic) -> Result<Subscription> {
        let mut state = self.state();
        if state.closed {
            return Err(closed());
        }
        let sender = state
            .topics
            .entry(topic.as_str().to_owned())
            .or_insert_with(|| broadcast::channel(BACKLOG).0);
        Ok(Subscription {
            receiver: sender.subscribe(),
        })
    }

    /// Delivers `payload` to this process's subscriptions to `topic`; returns how many were woken.
    pub fn publish(&self, topic: &str, payload: &str) -> usize {
        let mut state = self.state();
        let woken = match state.topics.get(topic) {
            Some(sender) => sender.send(payload.to_owned()).unwrap_or(0),
            None => 0,
        };
        // Topics whose subscriptions were all dropped are forgotten.
        state.topics.retain(|_, sender| sender.receiver_count() > 0);
        woken
    }

    /// Ends every subscription; later subscriptions are [`StoreError::Unavailable`].
    pub fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        state.topics.clear();
    }

    /// [`StoreError::Unavailable`] after [`LocalHub::close`].
    pub fn check_open(&self) -> Result<()> {
        if self.state().closed {
            Err(closed())
        } else {
            Ok(())
        }
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str) -> Topic {
        Topic::parse(name).expect("topic")
    }

    #[test]
    fn topics_are_short_and_plain() {
        assert!(Topic::parse("crossdevice:Ab-9_x.y").is_ok());
        assert_eq!(Topic::parse(&"a".repeat(64)).map(|t| t.0.len()), Ok(64));
        for bad in ["", " ", "a b", "a\nb", "é", &"a".repeat(65)] {
            assert_eq!(
                Topic::parse(bad),
                Err(InvalidNotification::Topic),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn payloads_are_bounded_text_without_nul() {
        assert!(Payload::new("").is_ok());
        assert!(Payload::new("x".repeat(1024)).is_ok());
        assert_eq!(
            Payload::new("x".repeat(1025)),
            Err(InvalidNotification::Payload)
        );
        assert_eq!(Payload::new("a\0b"), Err(InvalidNotification::Payload));
    }

    #[tokio::test]
    async fn hub_wakes_the_topics_subscribers_only_and_forgets_dropped_ones() {
        let hub = LocalHub::default();
        let mut first = hub.subscribe(&topic("a")).expect("subscribe");
        let mut second = hub.subscribe(&topic("a")).expect("subscribe");
        let other = hub.subscribe(&topic("b")).expect("subscribe");
        assert_eq!(hub.publish("a", "one"), 2);
        assert_eq!(first.next().await.as_deref(), Some("one"));
        assert_eq!(second.next().await.as_deref(), Some("one"));
        drop(other);
        assert_eq!(hub.publish("b", "nobody"), 0);
        assert_eq!(hub.publish("c", "nobody"), 0);
        hub.close();
        assert_eq!(first.next().await, None, "closing ends the subscriptions");
        assert!(matches!(
            hub.subscribe(&topic("a")),
            Err(StoreError::Unavailable(_))
        ));
        assert_eq!(hub.publish("a", "late"), 0);
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_skips_to_the_newest() {
        let hub = LocalHub::default();
        let mut slow = hub.subscribe(&topic("a")).expect("subscribe");
        for n in 0..(BACKLOG + 5) {
            hub.publish("a", &n.to_string());
        }
        assert_eq!(slow.next().await.as_deref(), Some("5"));
    }
}
