//! The queue from the lifecycle service to the publisher, and the bookkeeping the bus face
//! needs around it: how many changes were reported and published (so a handler replies only
//! once the signals of what it changed are out, and `ListSessions` knows when its rows are
//! stale), and round trips that prove the publisher is alive (the watchdog's health check).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::lifecycle::{ChangeSink, DomainEvent};

/// What travels to the publisher.
// Changes are the traffic and barriers are rare: boxing every change to shrink the rare
// variant's slot would cost an allocation per change.
#[allow(clippy::large_enum_variant)]
pub enum Queued {
    /// A change to publish.
    Change(DomainEvent),
    /// Answered once everything queued before it has been published.
    Barrier(oneshot::Sender<()>),
}

/// The sending side, given to the lifecycle service as its `ChangeSink`.
pub struct EventQueue {
    tx: mpsc::UnboundedSender<Queued>,
    reported: AtomicU64,
    published: AtomicU64,
}

impl EventQueue {
    pub fn new() -> (Arc<Self>, mpsc::UnboundedReceiver<Queued>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queue = EventQueue {
            tx,
            reported: AtomicU64::new(0),
            published: AtomicU64::new(0),
        };
        (Arc::new(queue), rx)
    }

    /// How many changes were reported so far: equal counts mean equal state.
    pub fn reported(&self) -> u64 {
        self.reported.load(Ordering::SeqCst)
    }

    /// The publisher has published one more change.
    pub(super) fn published_one(&self) {
        self.published.fetch_add(1, Ordering::SeqCst);
    }

    /// Waits until every change reported so far is published; free when it already is.
    pub async fn caught_up(&self) {
        if self.published.load(Ordering::SeqCst) >= self.reported.load(Ordering::SeqCst) {
            return;
        }
        self.round_trip().await;
    }

    /// A round trip through the publisher, whatever is pending: proof that it is alive.
    pub async fn round_trip(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Queued::Barrier(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

impl ChangeSink for EventQueue {
    fn report(&self, event: DomainEvent) {
        self.reported.fetch_add(1, Ordering::SeqCst);
        // The publisher is gone only when the daemon is shutting down.
        let _ = self.tx.send(Queued::Change(event));
    }
}
