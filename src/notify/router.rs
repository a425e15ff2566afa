//! The router: one task that takes alert events from the handle, records
//! each on the alert board (a silenced one goes no further), keeps them in
//! grouping windows per meeting and channel, and hands whole messages to
//! the channels' workers. It also starts and replaces the workers when the
//! channels change, and takes back what the store kept.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, info, warn};

use crate::store::{RecordId, SavedMessage, Write};

use super::NotifySettings;
use super::channel::Built;
use super::dispatch::{Adopted, ChannelHealth, Command, Restored, Shared};
use super::grouping::{self, GroupKey, Groups, Target};
use super::message::Notification;
use super::metrics::ChannelKind;
use super::outbox::Pending;
use super::worker::{Job, Worker, alert_keys};
use qoswatch_core::alert::{AlertEvent, ChannelSpec};

/// The router's side of one channel's worker.
struct WorkerHandle {
    spec: ChannelSpec,
    kind: ChannelKind,
    queue: mpsc::UnboundedSender<Job>,
}

pub(super) struct Router {
    commands: mpsc::UnboundedReceiver<Command>,
    shared: Arc<Shared>,
    settings: NotifySettings,
    workers: HashMap<String, WorkerHandle>,
    groups: Groups<Instant, (RecordId, AlertEvent)>,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Router {
    /// Installs the channels, takes back what the store kept, and spawns the
    /// router on `tracker`.
    pub(super) fn spawn(
        commands: mpsc::UnboundedReceiver<Command>,
        shared: Arc<Shared>,
        settings: NotifySettings,
        built: Built,
        restored: Restored,
        tracker: &TaskTracker,
        cancel: CancellationToken,
    ) {
        let mut router = Router {
            commands,
            shared,
            settings,
            workers: HashMap::new(),
            groups: Groups::default(),
            tracker: tracker.clone(),
            cancel,
        };
        router.install(built);
        router.restore(restored);
        tracker.spawn(
            router
                .run()
                .instrument(tracing::info_span!("notify_router")),
        );
    }

    async fn run(mut self) {
        loop {
            let next_deadline = self.groups.next_deadline();
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => break,
                command = self.commands.recv() => match command {
                    Some(Command::Event(id, event)) => self.route(id, *event),
                    Some(Command::Flush) => self.flush(None),
                    Some(Command::Adopt(adopted)) => self.adopt(*adopted),
                    Some(Command::Reconfigure(built)) => {
                        self.flush(None);
                        self.install(built);
                    }
                    None => break,
                },
                () = sleep_until(next_deadline.unwrap_or_else(Instant::now)), if next_deadline.is_some() => {
                    self.flush(Some(Instant::now()));
                }
            }
        }
        // Shutdown: take what was already sent, hand everything to the
        // workers, and stop; the workers deliver within their grace period.
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::Event(id, event) => self.route(id, *event),
                // Left with this replica's rows: the next replica adopts them.
                Command::Flush | Command::Reconfigure(_) | Command::Adopt(_) => {}
            }
        }
        self.flush(None);
        debug!("notification router stopped");
    }

    /// Starts workers for new or changed channels; drops the handles of
    /// removed or changed ones so their workers finish their queue and stop.
    fn install(&mut self, built: Built) {
        {
            let mut health = self.shared.health.lock().unwrap_or_else(|e| e.into_inner());
            health.retain(|name, _| built.iter().any(|(c, _)| &c.name == name));
            for (channel, delivery) in &built {
                health
                    .entry(channel.name.clone())
                    .or_insert_with(|| ChannelHealth {
                        name: channel.name.clone(),
                        kind: delivery.kind().as_str(),
                        queued: 0,
                        delivered: 0,
                        failed: 0,
                        last_failure: None,
                    });
            }
        }
        let mut workers = HashMap::with_capacity(built.len());
        for (channel, delivery) in built {
            if let Some(existing) = self.workers.remove(&channel.name)
                && existing.spec == channel.spec
            {
                workers.insert(channel.name, existing);
                continue;
            }
            let kind = delivery.kind();
            let (queue, receiver) = mpsc::unbounded_channel();
            let worker = Worker::new(
                channel.name.clone(),
                delivery,
                receiver,
                Arc::clone(&self.shared),
                self.settings.clone(),
                self.cancel.clone(),
            );
            let span = tracing::info_span!("notify_channel", channel = %channel.name, kind = kind.as_str());
            self.tracker.spawn(worker.run().instrument(span));
            workers.insert(
                channel.name,
                WorkerHandle {
                    spec: channel.spec,
                    kind,
                    queue,
                },
            );
        }
        for name in self.workers.keys() {
            info!(channel = %name, "channel removed or changed; its queue is finished with the old definition");
        }
        self.workers = workers;
    }

    /// Feeds what the store kept back into the pipeline: unrouted events
    /// are routed again, grouped events are sent at once, queued messages
    /// go back to their channel's queue.
    fn restore(&mut self, restored: Restored) {
        let Restored {
            unrouted,
            grouped,
            outbox,
            status: _,
        } = restored;
        self.adopt(Adopted {
            unrouted,
            grouped,
            outbox,
        });
    }

    fn adopt(&mut self, adopted: Adopted) {
        let Adopted {
            unrouted,
            grouped,
            outbox,
        } = adopted;
        let (messages, events) = (outbox.len(), unrouted.len() + grouped.len());
        for message in outbox {
            self.restore_message(message);
        }
        for saved in grouped {
            self.shared.add_outstanding(1);
            let key = GroupKey {
                channel: saved.channel,
                meeting: saved.event.meeting.key(),
            };
            self.groups
                .add(key, Instant::now(), (saved.id, saved.event));
        }
        for (id, event) in unrouted {
            self.shared.add_outstanding(1);
            self.route(id, event);
        }
        if messages + events > 0 {
            info!(
                messages,
                events, "undelivered notifications taken back from the store"
            );
        }
    }

    fn restore_message(&mut self, message: SavedMessage) {
        let SavedMessage {
            id,
            channel,
            events,
            queued_at,
            attempts,
        } = message;
        let Some(notification) = Notification::new(events) else {
            return;
        };
        let weight = notification.events.len();
        let Some(worker) = self.workers.get(&channel) else {
            error!(
                channel = %channel,
                alert_keys = %alert_keys(&notification),
                "queued notification for a channel the rules no longer define; not delivered"
            );
            self.shared.metrics.unknown_channel.inc();
            self.shared
                .store
                .write(Write::Failed { id, at: Utc::now() });
            return;
        };
        let ago = (Utc::now() - queued_at).to_std().unwrap_or_default();
        let now = Instant::now();
        let pending = Pending {
            id,
            notification: Arc::new(notification),
            attempts,
            enqueued_at: now.checked_sub(ago).unwrap_or(now),
            due: now,
        };
        self.shared.add_outstanding(weight);
        if worker.queue.send(Job::Restored(pending)).is_err() {
            self.shared.done(weight);
        }
    }

    fn route(&mut self, id: RecordId, event: AlertEvent) {
        if self.shared.status.record(&event) {
            // Tracked and shown, not sent: routed to no channel.
            info!(alert_key = %event.key, status = event.status.tag(), "alert silenced; not sent");
            self.shared.metrics.silenced.inc();
            self.shared.store.write(Write::EventRouted {
                id,
                channels: Vec::new(),
            });
            self.shared.done(1);
            return;
        }
        let mut targets: Vec<String> = Vec::new();
        let lookup = |name: &str| {
            self.workers
                .get(name)
                .map(|w| (w.spec.send_resolved(), w.spec.needs_resolved()))
        };
        for target in grouping::targets_with(&event, lookup) {
            match target {
                Target::Send(name) => targets.push(name.to_owned()),
                Target::Unknown(name) => {
                    self.shared.metrics.unknown_channel.inc();
                    warn!(alert_key = %event.key, channel = %name, "alert routed to an undefined channel; skipped");
                }
                Target::ResolvedOff(name) => {
                    debug!(alert_key = %event.key, channel = %name, "resolved message disabled for this rule or channel");
                }
            }
        }
        debug!(alert_key = %event.key, targets = targets.len(), "alert event routed");
        self.shared.store.write(Write::EventRouted {
            id,
            channels: targets.clone(),
        });
        for name in targets {
            self.shared.add_outstanding(1);
            if self.settings.group_window.is_zero() {
                self.enqueue(name, vec![(id, event.clone())]);
                continue;
            }
            let key = GroupKey {
                channel: name,
                meeting: event.meeting.key(),
            };
            let deadline = Instant::now() + self.settings.group_window;
            self.groups.add(key, deadline, (id, event.clone()));
        }
        // The event itself is now accounted for per channel.
        self.shared.done(1);
    }

    /// Sends groups whose window ended at `now`, or all groups.
    fn flush(&mut self, now: Option<Instant>) {
        // One message per run of problems or of recoveries, in the order
        // they happened (`Groups::take_due`).
        for due in self
            .groups
            .take_due(now, |(_, event)| grouping::event_phase(event))
        {
            for run in due.runs {
                self.enqueue(due.key.channel.clone(), run);
            }
        }
    }

    fn enqueue(&mut self, channel: String, events: Vec<(RecordId, AlertEvent)>) {
        let count = events.len();
        let (grouped, events): (Vec<RecordId>, Vec<AlertEvent>) = events.into_iter().unzip();
        let Some(notification) = Notification::new(events) else {
            return;
        };
        let id = self.shared.store.next_id();
        let job = Job::New {
            id,
            notification,
            grouped,
        };
        let Some(worker) = self.workers.get(&channel) else {
            // The channel was removed while the group was open: recorded as
            // given up, so a restart does not bring the events back.
            self.shared.metrics.unknown_channel.inc();
            warn!(channel = %channel, "channel removed before its group was sent; skipped");
            if let Job::New {
                id,
                notification,
                grouped,
            } = job
            {
                let at = Utc::now();
                self.shared.store.write(Write::Queued {
                    id,
                    channel,
                    events: notification.events,
                    grouped,
                    at,
                });
                self.shared.store.write(Write::Failed { id, at });
            }
            self.shared.done(count);
            return;
        };
        // A stopped worker (shutdown) leaves the events grouped in the
        // store: the next start sends them.
        let sent = match worker.queue.send(job) {
            Ok(()) => true,
            Err(_) => {
                warn!(channel = %channel, kind = worker.kind.as_str(), "channel worker stopped; notification left in the store for the next start");
                false
            }
        };
        if !sent {
            self.shared.done(count);
        }
    }
}
