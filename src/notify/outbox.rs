//! The queue of messages waiting for delivery, one per channel.
//!
//! This is the worker's working copy of its channel's rows in the store's
//! `outbox` table: a message is written there before it enters this queue,
//! and every outcome (delivered, retry, given up) is written back. After a
//! restart the queue is filled again from the table, in the same order.

use std::sync::Arc;

use tokio::time::Instant;

use super::message::Notification;

/// Identity of one queued message: its row in the store, so ids grow in
/// queue order across restarts.
pub type MessageId = crate::store::RecordId;

/// One message waiting for delivery.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: MessageId,
    pub notification: Arc<Notification>,
    /// Delivery attempts made so far.
    pub attempts: u32,
    pub enqueued_at: Instant,
    /// Not to be attempted before this time.
    pub due: Instant,
}

/// A queue of messages for one channel, at-least-once: a message stays queued
/// until it is acknowledged or given up on.
pub trait Outbox: Send {
    /// Queues a message (new, or read back from the store).
    fn enqueue(&mut self, pending: Pending);
    /// The oldest queued message, if it is due at `now`. It stays queued.
    fn next_due(&self, now: Instant) -> Option<Pending>;
    /// When the next message becomes due, if any is queued.
    fn next_due_at(&self) -> Option<Instant>;
    /// Delivered: forget the message.
    fn ack(&mut self, id: MessageId);
    /// Failed for now: count the attempt and try again at `retry_at`.
    fn retry(&mut self, id: MessageId, retry_at: Instant);
    /// Failed for good: forget the message (the caller logs and counts it).
    fn fail(&mut self, id: MessageId);
    /// Number of queued messages.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Everything still queued, in due order (for the shutdown report).
    fn remaining(&self) -> Vec<Pending>;
}

/// The worker's queue, in memory; the store keeps the durable copy.
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    queue: Vec<Pending>,
}

impl MemoryOutbox {
    pub fn new() -> Self {
        Self::default()
    }

    /// The head of the queue: messages leave in the order they were queued.
    /// A message waiting for its retry holds back the ones behind it, so a
    /// RESOLVED message never overtakes the FIRING message it ends (they go
    /// to the same destination, which is failing anyway).
    fn earliest(&self) -> Option<&Pending> {
        self.queue.iter().min_by_key(|pending| pending.id)
    }
}

impl Outbox for MemoryOutbox {
    fn enqueue(&mut self, pending: Pending) {
        self.queue.push(pending);
    }

    fn next_due(&self, now: Instant) -> Option<Pending> {
        self.earliest()
            .filter(|pending| pending.due <= now)
            .cloned()
    }

    fn next_due_at(&self) -> Option<Instant> {
        self.earliest().map(|pending| pending.due)
    }

    fn ack(&mut self, id: MessageId) {
        self.queue.retain(|pending| pending.id != id);
    }

    fn retry(&mut self, id: MessageId, retry_at: Instant) {
        if let Some(pending) = self.queue.iter_mut().find(|pending| pending.id == id) {
            pending.attempts += 1;
            pending.due = retry_at;
        }
    }

    fn fail(&mut self, id: MessageId) {
        self.ack(id);
    }

    fn len(&self) -> usize {
        self.queue.len()
    }

    fn remaining(&self) -> Vec<Pending> {
        let mut all = self.queue.clone();
        all.sort_by_key(|pending| (pending.due, pending.id));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qoswatch_core::alert::AlertStatus;
    use std::time::Duration;

    fn notification(status: AlertStatus) -> Arc<Notification> {
        let event = crate::test_support::example_event("1", status);
        Arc::new(Notification::new(vec![event]).expect("one event"))
    }

    fn pending(id: MessageId, status: AlertStatus, now: Instant) -> Pending {
        Pending {
            id,
            notification: notification(status),
            attempts: 0,
            enqueued_at: now,
            due: now,
        }
    }

    #[test]
    fn a_message_waiting_for_its_retry_holds_back_later_ones() {
        let mut outbox = MemoryOutbox::new();
        let now = Instant::now();
        let (firing, resolved) = (7, 9);
        // Read back from the store out of order: the queue order is the id's.
        outbox.enqueue(pending(resolved, AlertStatus::Resolved, now));
        outbox.enqueue(pending(firing, AlertStatus::Firing, now));
        let head = outbox.next_due(now).expect("due");
        assert_eq!(head.id, firing);
        // The firing message fails for now and is retried in 5 s.
        outbox.retry(firing, now + Duration::from_secs(5));
        assert!(outbox.next_due(now).is_none(), "resolved must wait");
        assert_eq!(outbox.next_due_at(), Some(now + Duration::from_secs(5)));
        let later = now + Duration::from_secs(5);
        assert_eq!(outbox.next_due(later).map(|p| p.id), Some(firing));
        outbox.ack(firing);
        assert_eq!(outbox.next_due(later).map(|p| p.id), Some(resolved));
    }
}
