//! Contract: the notifier ([`crate::Notifier`]), across two nodes sharing the store (on a single-node backend both
//! are the same store).

use super::*;
use crate::{Payload, Subscription, Topic};

/// How long a subscriber may take to be woken before the test fails.
const WAKE_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

fn topic(name: &str) -> Topic {
    Topic::parse(name).expect("valid topic")
}

fn payload(text: &str) -> Payload {
    Payload::new(text).expect("valid payload")
}

async fn woken(subscription: &mut Subscription) -> Option<String> {
    tokio::time::timeout(WAKE_WITHIN, subscription.next())
        .await
        .expect("the subscriber is woken in time")
}

/// A notification sent on one node wakes every subscriber of its topic: on the other node and on its own.
pub async fn notify_wakes_subscribers_on_every_node(store: Arc<dyn Store>, other: Arc<dyn Store>) {
    let t = topic("crossdevice:ceremony-1");
    let mut first = store.subscribe(&t).await.expect("subscribe");
    let mut second = store.subscribe(&t).await.expect("subscribe");
    let mut on_sender = other.subscribe(&t).await.expect("subscribe");
    other
        .notify(&t, &payload("approved"))
        .await
        .expect("notify");
    assert_eq!(woken(&mut first).await.as_deref(), Some("approved"));
    assert_eq!(woken(&mut second).await.as_deref(), Some("approved"));
    assert_eq!(woken(&mut on_sender).await.as_deref(), Some("approved"));

    store.notify(&t, &payload("again")).await.expect("notify");
    assert_eq!(woken(&mut on_sender).await.as_deref(), Some("again"));
}

/// A notification wakes only its own topic's subscribers, and one that nobody listens to is no error.
pub async fn notify_reaches_only_its_topic(store: Arc<dyn Store>, other: Arc<dyn Store>) {
    let (a, b) = (topic("crossdevice:a"), topic("crossdevice:b"));
    let mut on_a = store.subscribe(&a).await.expect("subscribe");
    other
        .notify(&topic("crossdevice:nobody"), &payload("unheard"))
        .await
        .expect("a notification without subscribers");
    other.notify(&b, &payload("for b")).await.expect("notify");
    other.notify(&a, &payload("for a")).await.expect("notify");
    // Sent in that order by one node: had `b`'s reached `a`'s subscriber, it would come first.
    assert_eq!(woken(&mut on_a).await.as_deref(), Some("for a"));
}
