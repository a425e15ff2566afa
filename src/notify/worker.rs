//! A channel's worker: one task per channel that owns the channel's outbox
//! and delivers with retries, back-off, `Retry-After` pauses and pacing,
//! whatever the channel's kind. It writes every outcome to the store and
//! counts it by the kind's label.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::backoff::Backoff;
use crate::store::{RecordId, Write};

use super::channel::Deliver;
use super::dispatch::{DeliveryFailure, Shared};
use super::message::Notification;
use super::metrics::ChannelKind;
use super::outbox::{MemoryOutbox, Outbox, Pending};
use super::{DeliveryError, NotifySettings};

/// What the router hands a channel's worker.
pub(super) enum Job {
    /// A new message, made of the events `grouped` (to be written to the
    /// store before it is sent).
    New {
        id: RecordId,
        notification: Notification,
        grouped: Vec<RecordId>,
    },
    /// A message read back from the store.
    Restored(Pending),
}

pub(super) struct Worker {
    channel: String,
    kind: ChannelKind,
    delivery: Box<dyn Deliver>,
    outbox: MemoryOutbox,
    queue: mpsc::UnboundedReceiver<Job>,
    shared: Arc<Shared>,
    settings: NotifySettings,
    cancel: CancellationToken,
    /// Pacing and server-requested pauses: nothing is sent before this.
    not_before: Instant,
}

/// The alert keys of a message, for logs.
pub(super) fn alert_keys(notification: &Notification) -> String {
    notification
        .events
        .iter()
        .map(|event| event.key.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// What follows a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Attempts or age used up: give the message up.
    GiveUp,
    /// Try again after `delay`; with `pause`, nothing else goes to the
    /// channel before then either (the server asked the whole endpoint to
    /// wait).
    Retry { delay: Duration, pause: bool },
}

/// After failed attempt number `attempts` of a message `age` old: give up
/// when either limit is reached, else wait what the server asked or the
/// back-off.
fn after_transient(
    attempts: u32,
    age: Duration,
    retry_after: Option<Duration>,
    settings: &NotifySettings,
) -> Next {
    if attempts >= settings.max_attempts || age >= settings.max_age {
        return Next::GiveUp;
    }
    match retry_after {
        Some(delay) => Next::Retry { delay, pause: true },
        None => Next::Retry {
            delay: Backoff::new(settings.initial_backoff, settings.max_backoff).delay(attempts),
            pause: false,
        },
    }
}

impl Worker {
    pub(super) fn new(
        channel: String,
        delivery: Box<dyn Deliver>,
        queue: mpsc::UnboundedReceiver<Job>,
        shared: Arc<Shared>,
        settings: NotifySettings,
        cancel: CancellationToken,
    ) -> Self {
        Worker {
            channel,
            kind: delivery.kind(),
            delivery,
            outbox: MemoryOutbox::new(),
            queue,
            shared,
            settings,
            cancel,
            not_before: Instant::now(),
        }
    }

    pub(super) async fn run(mut self) {
        let mut closed = false;
        let mut deadline: Option<Instant> = None;
        let refresh_every = self.delivery.refresh_every();
        // The first round at once: what a restart took up is sent now.
        let mut next_refresh = refresh_every.map(|_| Instant::now());
        loop {
            if closed && self.outbox.is_empty() {
                break;
            }
            let now = Instant::now();
            if deadline.is_some_and(|deadline| now >= deadline) {
                break;
            }
            if now >= self.not_before
                && let Some(pending) = self.outbox.next_due(now)
            {
                self.attempt(pending).await;
                continue;
            }
            let wake = self
                .outbox
                .next_due_at()
                .map(|due| due.max(self.not_before));
            let wake = match (wake, deadline) {
                (Some(wake), Some(deadline)) => Some(wake.min(deadline)),
                (wake, None) => wake,
                (None, deadline) => deadline,
            };
            tokio::select! {
                biased;
                () = self.cancel.cancelled(), if deadline.is_none() => {
                    deadline = Some(Instant::now() + self.settings.shutdown_grace);
                }
                job = self.queue.recv(), if !closed => match job {
                    Some(job) => self.take(job).await,
                    None => closed = true,
                },
                () = sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {}
                () = sleep_until(next_refresh.unwrap_or_else(Instant::now)),
                    if next_refresh.is_some() && deadline.is_none() => {
                    self.delivery.refresh().await;
                    next_refresh = refresh_every.map(|every| Instant::now() + every);
                }
            }
        }
        self.report_remaining();
        debug!("notification channel worker stopped");
    }

    /// At shutdown: what is still queued stays in a durable store for the
    /// next start; without one it is lost, and counted as failed.
    fn report_remaining(&self) {
        let durable = self.shared.store.is_durable();
        for pending in self.outbox.remaining() {
            if durable {
                warn!(
                    alert_keys = %alert_keys(&pending.notification),
                    attempts = pending.attempts,
                    "notification not delivered before shutdown; kept in the store for the next start"
                );
            } else {
                error!(
                    alert_keys = %alert_keys(&pending.notification),
                    attempts = pending.attempts,
                    "notification not delivered before shutdown"
                );
                self.shared.metrics.failed(self.kind);
            }
            self.shared.done(pending.notification.events.len());
        }
    }

    /// Puts a message in the queue; a new one is written to the store first,
    /// so that a crash from here on cannot lose it.
    async fn take(&mut self, job: Job) {
        let now = Instant::now();
        let pending = match job {
            Job::Restored(pending) => pending,
            Job::New {
                id,
                notification,
                grouped,
            } => {
                let written = self
                    .shared
                    .store
                    .write_durably(Write::Queued {
                        id,
                        channel: self.channel.clone(),
                        events: notification.events.clone(),
                        grouped,
                        at: Utc::now(),
                    })
                    .await;
                if let Err(error) = written {
                    warn!(%error, alert_keys = %alert_keys(&notification), "notification not saved; it is sent but would not survive a restart");
                }
                Pending {
                    id,
                    notification: Arc::new(notification),
                    attempts: 0,
                    enqueued_at: now,
                    due: now,
                }
            }
        };
        self.outbox.enqueue(pending);
        self.show_queue();
    }

    fn show_queue(&self) {
        let queued = self.outbox.len();
        self.shared.health(&self.channel, |h| h.queued = queued);
    }

    fn note_failure(&self, reason: &str, permanent: bool) {
        let failure = DeliveryFailure {
            at: Utc::now(),
            reason: reason.to_owned(),
            permanent,
        };
        self.shared
            .health(&self.channel, |h| h.last_failure = Some(failure));
    }

    /// A message that will not be delivered: out of the queue, counted as
    /// failed, its alerts no longer pending (the caller logs why).
    fn give_up(&mut self, pending: &Pending) {
        self.outbox.fail(pending.id);
        self.shared.store.write(Write::Failed {
            id: pending.id,
            at: Utc::now(),
        });
        self.shared.metrics.failed(self.kind);
        self.shared.health(&self.channel, |h| h.failed += 1);
        self.shared.done(pending.notification.events.len());
    }

    async fn attempt(&mut self, pending: Pending) {
        self.attempt_once(pending).await;
        self.show_queue();
    }

    async fn attempt_once(&mut self, pending: Pending) {
        let result = self.delivery.deliver(&pending.notification).await;
        let now = Instant::now();
        if let Some(interval) = self.delivery.min_interval() {
            self.not_before = self.not_before.max(now + interval);
        }
        let attempts = pending.attempts + 1;
        match result {
            Ok(()) => self.delivered(&pending, attempts),
            Err(DeliveryError::Permanent { reason }) => {
                self.note_failure(&reason, true);
                self.give_up(&pending);
                error!(
                    alert_keys = %alert_keys(&pending.notification),
                    attempts,
                    reason = %reason,
                    "notification failed permanently; not retried"
                );
            }
            Err(DeliveryError::Transient {
                retry_after,
                reason,
            }) => self.failed_transiently(&pending, attempts, now, retry_after, &reason),
        }
    }

    fn delivered(&mut self, pending: &Pending, attempts: u32) {
        let weight = pending.notification.events.len();
        self.outbox.ack(pending.id);
        self.shared.store.write(Write::Delivered {
            id: pending.id,
            at: Utc::now(),
        });
        self.shared.metrics.sent(self.kind);
        self.shared.health(&self.channel, |h| h.delivered += 1);
        self.shared.done(weight);
        info!(
            alert_keys = %alert_keys(&pending.notification),
            alerts = weight,
            attempts,
            "notification delivered"
        );
    }

    fn failed_transiently(
        &mut self,
        pending: &Pending,
        attempts: u32,
        now: Instant,
        retry_after: Option<Duration>,
        reason: &str,
    ) {
        self.note_failure(reason, false);
        let age = now.saturating_duration_since(pending.enqueued_at);
        let delay = match after_transient(attempts, age, retry_after, &self.settings) {
            Next::GiveUp => {
                self.give_up(pending);
                error!(
                    alert_keys = %alert_keys(&pending.notification),
                    attempts,
                    age_s = age.as_secs(),
                    reason = %reason,
                    "notification failed; retries exhausted"
                );
                return;
            }
            Next::Retry { delay, pause } => {
                if pause {
                    self.not_before = self.not_before.max(now + delay);
                }
                delay
            }
        };
        self.outbox.retry(pending.id, now + delay);
        self.shared.store.write(Write::Retry {
            id: pending.id,
            attempts,
            due: Utc::now() + delay,
        });
        self.shared.metrics.retried(self.kind);
        warn!(
            alert_keys = %alert_keys(&pending.notification),
            attempts,
            retry_in_ms = delay.as_millis() as u64,
            reason = %reason,
            "notification delivery failed; will retry"
        );
    }
}

#[cfg(test)]
mod tests;
