//! The dispatcher: a router task that groups events per meeting and channel,
//! and one worker task per channel that owns the channel's outbox and
//! delivers with retries, back-off and pacing.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, info, warn};

use chrono::Utc;

use crate::backoff::Backoff;
use crate::status::Status;
use crate::store::{RecordId, SavedGrouped, SavedMessage, Store, Write};

use super::console::{ConsoleChannel, ConsoleWriter};
use super::email::{EmailChannel, Mailer};
use super::grouping::{self, GroupKey, Groups, Target};
use super::message::Notification;
use super::metrics::{ChannelKind, NotifyMetrics};
use super::outbox::{MemoryOutbox, Outbox, Pending};
use super::slack::{SlackChannel, WebhookUrl};
use super::{DeliveryError, NotifyError, NotifySettings, SmtpSettings};
use qoswatch_core::alert::{AlertEvent, Channel, ChannelSpec};

/// A built, ready-to-deliver channel.
#[derive(Debug, Clone)]
enum Delivery {
    Slack(SlackChannel),
    Email(EmailChannel),
    Console(ConsoleChannel),
}

impl Delivery {
    fn kind(&self) -> ChannelKind {
        match self {
            Delivery::Slack(_) => ChannelKind::Slack,
            Delivery::Email(_) => ChannelKind::Email,
            Delivery::Console(_) => ChannelKind::Console,
        }
    }

    async fn deliver(&self, notification: &Notification) -> Result<(), DeliveryError> {
        match self {
            Delivery::Slack(slack) => slack.deliver(notification).await,
            Delivery::Email(email) => email.deliver(notification).await,
            Delivery::Console(console) => console.deliver(notification),
        }
    }
}

/// What channels are built from: the shared clients.
struct Factory {
    http: reqwest::Client,
    mailer: Option<Mailer>,
    console: ConsoleWriter,
}

impl Factory {
    fn build(
        &self,
        channels: &[Channel],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<(Channel, Delivery)>, NotifyError> {
        let mut built: Vec<(Channel, Delivery)> = Vec::with_capacity(channels.len());
        for channel in channels {
            if built.iter().any(|(c, _)| c.name == channel.name) {
                return Err(NotifyError::DuplicateChannel {
                    channel: channel.name.clone(),
                });
            }
            let delivery = match &channel.spec {
                ChannelSpec::Slack {
                    webhook_url_env,
                    show_email,
                    ..
                } => {
                    let value = env(webhook_url_env)
                        .filter(|value| !value.trim().is_empty())
                        .ok_or_else(|| NotifyError::MissingWebhookEnv {
                            channel: channel.name.clone(),
                            variable: webhook_url_env.clone(),
                        })?;
                    let url = WebhookUrl::parse(webhook_url_env, &value)?;
                    Delivery::Slack(SlackChannel::new(url, *show_email, self.http.clone()))
                }
                ChannelSpec::Email { to, show_email, .. } => {
                    let mailer = self
                        .mailer
                        .clone()
                        .ok_or_else(|| NotifyError::MissingSmtp {
                            channel: channel.name.clone(),
                        })?;
                    Delivery::Email(EmailChannel::new(&channel.name, mailer, to, *show_email)?)
                }
                ChannelSpec::Console { .. } => {
                    Delivery::Console(ConsoleChannel::new(&channel.name, self.console.clone()))
                }
            };
            built.push((channel.clone(), delivery));
        }
        Ok(built)
    }
}

enum Command {
    /// An alert event, already in the store under its id.
    Event(RecordId, Box<AlertEvent>),
    /// Send every open group now (drain, shutdown).
    Flush,
    Reconfigure(Vec<(Channel, Delivery)>),
    /// Another replica's rows, adopted by the cluster heartbeat.
    Adopt(Box<Adopted>),
}

/// How one channel is doing, for the status page.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelHealth {
    pub name: String,
    pub kind: &'static str,
    /// Messages waiting to be delivered (retries included).
    pub queued: usize,
    pub delivered: u64,
    pub failed: u64,
    pub last_failure: Option<DeliveryFailure>,
}

/// The last failed attempt of a channel. The reason is the error's kind
/// (no URL, no address).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeliveryFailure {
    pub at: chrono::DateTime<Utc>,
    pub reason: String,
    pub permanent: bool,
}

/// State shared by the handle, the router and the workers.
struct Shared {
    commands: mpsc::UnboundedSender<Command>,
    /// Alert events (per channel) accepted and not yet delivered or given up on.
    outstanding: watch::Sender<usize>,
    metrics: NotifyMetrics,
    factory: Factory,
    store: Store,
    /// Asked for every routed event whether a silence covers it.
    status: Status,
    health: Mutex<BTreeMap<String, ChannelHealth>>,
}

impl Shared {
    fn health(&self, channel: &str, update: impl FnOnce(&mut ChannelHealth)) {
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = health.get_mut(channel) {
            update(entry);
        }
    }

    fn add_outstanding(&self, n: usize) {
        self.outstanding.send_modify(|count| *count += n);
        self.show_pending();
    }

    fn done(&self, n: usize) {
        self.outstanding
            .send_modify(|count| *count = count.saturating_sub(n));
        self.show_pending();
    }

    fn show_pending(&self) {
        let pending = *self.outstanding.borrow();
        self.metrics
            .pending
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
    }
}

/// Starts the notification pipeline.
#[derive(Debug)]
pub struct Dispatcher;

/// What the store kept of the pipeline: events not yet routed, events in
/// grouping windows and queued messages, each in order.
#[derive(Debug, Default)]
pub struct Restored {
    pub unrouted: Vec<(RecordId, AlertEvent)>,
    pub grouped: Vec<SavedGrouped>,
    pub outbox: Vec<SavedMessage>,
    /// The alert board with the stored silences: the router records every
    /// event there and does not send silenced ones.
    pub status: Status,
}

/// What a replica adopts at run time from replicas that are gone (several
/// replicas on one database): as [`Restored`], without the board.
#[derive(Debug, Default)]
pub struct Adopted {
    pub unrouted: Vec<(RecordId, AlertEvent)>,
    pub grouped: Vec<SavedGrouped>,
    pub outbox: Vec<SavedMessage>,
}

impl Dispatcher {
    /// Builds every channel (failing on a missing webhook variable or missing
    /// SMTP settings) and spawns the router and one worker per channel on
    /// `tracker`. They stop on `cancel`, after delivering what they can
    /// within `settings.shutdown_grace`. Must be called within a Tokio runtime.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        channels: &[Channel],
        smtp: Option<SmtpSettings>,
        settings: NotifySettings,
        env: &dyn Fn(&str) -> Option<String>,
        console: Box<dyn io::Write + Send>,
        registry: &mut Registry,
        tracker: &TaskTracker,
        cancel: CancellationToken,
        store: Store,
        restored: Restored,
    ) -> Result<DispatchHandle, NotifyError> {
        let http = reqwest::Client::builder()
            .timeout(settings.http_timeout)
            .connect_timeout(settings.http_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| NotifyError::HttpClient)?;
        let mailer = smtp.as_ref().map(Mailer::new).transpose()?;
        let settings_grace = settings.shutdown_grace;
        let smtp_timeout = smtp.as_ref().map(|s| s.timeout).unwrap_or_default();
        let factory = Factory {
            http,
            mailer,
            console: Arc::new(Mutex::new(console)),
        };
        let built = factory.build(channels, env)?;
        let metrics = NotifyMetrics::register(registry);
        let (commands, receiver) = mpsc::unbounded_channel();
        let (outstanding, _) = watch::channel(0usize);
        let shared = Arc::new(Shared {
            commands,
            outstanding,
            metrics,
            factory,
            store,
            status: restored.status.clone(),
            health: Mutex::new(BTreeMap::new()),
        });
        let mut router = Router {
            commands: receiver,
            shared: Arc::clone(&shared),
            settings,
            workers: HashMap::new(),
            groups: Groups::default(),
            tracker: tracker.clone(),
            cancel,
        };
        router.install(built);
        router.restore(restored);
        let closing = router.cancel.clone();
        tracker.spawn(
            router
                .run()
                .instrument(tracing::info_span!("notify_router")),
        );
        if let Some(mailer) = shared.factory.mailer.clone() {
            // Close the SMTP pool once the workers are done (or should be).
            let mut outstanding = shared.outstanding.subscribe();
            let bound = settings_grace + smtp_timeout;
            tracker.spawn(
                async move {
                    closing.cancelled().await;
                    let _ = tokio::time::timeout(bound, outstanding.wait_for(|count| *count == 0))
                        .await;
                    mailer.shutdown().await;
                }
                .instrument(tracing::info_span!("notify_smtp_close")),
            );
        }
        Ok(DispatchHandle { shared })
    }
}

/// The producers' side: cheap to clone, never blocks.
#[derive(Clone)]
pub struct DispatchHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for DispatchHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispatchHandle")
            .field("outstanding", &*self.shared.outstanding.borrow())
            .finish_non_exhaustive()
    }
}

/// `drain` ran out of time with messages still queued (waiting for a retry,
/// most likely).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{pending} notifications still pending")]
pub struct NotDrained {
    pub pending: usize,
}

impl DispatchHandle {
    /// Hands an alert event to the dispatcher, writing it to the store
    /// first. Never waits and never drops while the dispatcher runs; after
    /// shutdown the event is logged and counted.
    pub fn send(&self, event: AlertEvent) {
        let id = self.shared.store.next_id();
        self.shared.store.write(Write::Event {
            id,
            event: Box::new(event.clone()),
        });
        self.send_recorded(id, event);
    }

    /// Hands over an alert event the caller already wrote to the store
    /// under `id` (with the alert state that produced it).
    pub fn send_recorded(&self, id: RecordId, event: AlertEvent) {
        self.shared.add_outstanding(1);
        if let Err(mpsc::error::SendError(command)) = self
            .shared
            .commands
            .send(Command::Event(id, Box::new(event)))
        {
            self.shared.done(1);
            self.shared.metrics.dropped_after_shutdown.inc();
            if let Command::Event(_, event) = command {
                error!(alert_key = %event.key, "alert event received after the dispatcher stopped; it stays in the store for the next start");
            }
        }
    }

    /// Takes on what another replica's dispatcher held (it stopped or
    /// died): routed, grouped and queued as if restored at start.
    pub fn adopt(&self, adopted: Adopted) {
        let _ = self.shared.commands.send(Command::Adopt(Box::new(adopted)));
    }

    /// The store the dispatcher records its queue in.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Sends open groups now and waits until everything queued so far is
    /// delivered or given up on, at most `within`.
    pub async fn drain(&self, within: Duration) -> Result<(), NotDrained> {
        let mut outstanding = self.shared.outstanding.subscribe();
        // Without a router (stopped) there is nothing left to flush.
        let _ = self.shared.commands.send(Command::Flush);
        let wait = outstanding.wait_for(|count| *count == 0);
        match tokio::time::timeout(within, wait).await {
            Ok(_) => Ok(()),
            Err(_) => Err(NotDrained {
                pending: *self.shared.outstanding.borrow(),
            }),
        }
    }

    /// Replaces the channel definitions (rules reload). Unchanged channels keep
    /// their queue; removed or changed ones finish their queue with the old
    /// definition. On error nothing changes.
    pub fn reconfigure(
        &self,
        channels: &[Channel],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), NotifyError> {
        let built = self.shared.factory.build(channels, env)?;
        self.shared
            .commands
            .send(Command::Reconfigure(built))
            .map_err(|_| NotifyError::Stopped)
    }

    /// Notifications (counted per alert event and channel) not yet delivered
    /// or given up on.
    pub fn pending(&self) -> usize {
        *self.shared.outstanding.borrow()
    }

    /// Every channel's queue and last failure, by name.
    pub fn channel_health(&self) -> Vec<ChannelHealth> {
        self.shared
            .health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

struct WorkerHandle {
    spec: ChannelSpec,
    kind: ChannelKind,
    queue: mpsc::UnboundedSender<Job>,
}

/// What the router hands a channel's worker.
enum Job {
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

struct Router {
    commands: mpsc::UnboundedReceiver<Command>,
    shared: Arc<Shared>,
    settings: NotifySettings,
    workers: HashMap<String, WorkerHandle>,
    groups: Groups<Instant, (RecordId, AlertEvent)>,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Router {
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
    fn install(&mut self, built: Vec<(Channel, Delivery)>) {
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
            let worker = Worker {
                channel: channel.name.clone(),
                kind,
                delivery,
                outbox: MemoryOutbox::new(),
                queue: receiver,
                shared: Arc::clone(&self.shared),
                settings: self.settings.clone(),
                cancel: self.cancel.clone(),
                not_before: Instant::now(),
            };
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
                meeting: saved.event.meeting.uuid.clone(),
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
        let lookup = |name: &str| self.workers.get(name).map(|w| w.spec.send_resolved());
        for target in grouping::targets(&event, lookup) {
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
                meeting: event.meeting.uuid.clone(),
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

struct Worker {
    channel: String,
    kind: ChannelKind,
    delivery: Delivery,
    outbox: MemoryOutbox,
    queue: mpsc::UnboundedReceiver<Job>,
    shared: Arc<Shared>,
    settings: NotifySettings,
    cancel: CancellationToken,
    /// Pacing and server-requested pauses: nothing is sent before this.
    not_before: Instant,
}

fn alert_keys(notification: &Notification) -> String {
    notification
        .events
        .iter()
        .map(|event| event.key.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

impl Worker {
    async fn run(mut self) {
        let mut closed = false;
        let mut deadline: Option<Instant> = None;
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
            }
        }
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
        debug!("notification channel worker stopped");
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
        let notification = &pending.notification;
        let weight = notification.events.len();
        let result = self.delivery.deliver(notification).await;
        let now = Instant::now();
        if self.kind == ChannelKind::Slack {
            self.not_before = self.not_before.max(now + self.settings.slack_min_interval);
        }
        let attempts = pending.attempts + 1;
        match result {
            Ok(()) => {
                self.outbox.ack(pending.id);
                self.shared.store.write(Write::Delivered {
                    id: pending.id,
                    at: Utc::now(),
                });
                self.shared.metrics.sent(self.kind);
                self.shared.health(&self.channel, |h| h.delivered += 1);
                self.shared.done(weight);
                info!(
                    alert_keys = %alert_keys(notification),
                    alerts = weight,
                    attempts,
                    "notification delivered"
                );
            }
            Err(DeliveryError::Permanent { reason }) => {
                self.note_failure(&reason, true);
                self.give_up(&pending);
                error!(
                    alert_keys = %alert_keys(notification),
                    attempts,
                    reason = %reason,
                    "notification failed permanently; not retried"
                );
            }
            Err(DeliveryError::Transient {
                retry_after,
                reason,
            }) => {
                self.note_failure(&reason, false);
                let age = now.saturating_duration_since(pending.enqueued_at);
                if attempts >= self.settings.max_attempts || age >= self.settings.max_age {
                    self.give_up(&pending);
                    error!(
                        alert_keys = %alert_keys(notification),
                        attempts,
                        age_s = age.as_secs(),
                        reason = %reason,
                        "notification failed; retries exhausted"
                    );
                    return;
                }
                let delay = match retry_after {
                    Some(retry_after) => {
                        // The server asked the whole webhook to pause.
                        self.not_before = self.not_before.max(now + retry_after);
                        retry_after
                    }
                    None => Backoff::new(self.settings.initial_backoff, self.settings.max_backoff)
                        .delay(attempts),
                };
                self.outbox.retry(pending.id, now + delay);
                self.shared.store.write(Write::Retry {
                    id: pending.id,
                    attempts,
                    due: Utc::now() + delay,
                });
                self.shared.metrics.retried(self.kind);
                warn!(
                    alert_keys = %alert_keys(notification),
                    attempts,
                    retry_in_ms = delay.as_millis() as u64,
                    reason = %reason,
                    "notification delivery failed; will retry"
                );
            }
        }
    }
}
