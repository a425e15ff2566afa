//! The dispatcher's front: [`Dispatcher::start`] builds the channels and
//! starts the router (`router.rs`) and one worker per channel
//! (`worker.rs`); [`DispatchHandle`] is what producers hold; [`Shared`] is
//! the state the three have in common (pending count, metrics, store,
//! board, channel health).

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, error};

use crate::status::Status;
use crate::status::silence::Labels;
use crate::store::{RecordId, SavedGrouped, SavedMessage, Store, Write};

use super::channel::{self, Built, Clients};
use super::metrics::NotifyMetrics;
use super::router::Router;
use super::{NotifyError, NotifySettings, SmtpSettings};
use qoswatch_core::alert::{AlertEvent, Channel};

/// What the handle tells the router.
pub(super) enum Command {
    /// An alert event, already in the store under its id.
    Event(RecordId, Box<AlertEvent>),
    /// Send every open group now (drain, shutdown).
    Flush,
    Reconfigure(Built),
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
pub(super) struct Shared {
    commands: mpsc::UnboundedSender<Command>,
    /// Alert events (per channel) accepted and not yet delivered or given up on.
    outstanding: watch::Sender<usize>,
    pub(super) metrics: NotifyMetrics,
    clients: Clients,
    pub(super) store: Store,
    /// Asked for every routed event whether a silence covers it.
    pub(super) status: Status,
    pub(super) health: Mutex<BTreeMap<String, ChannelHealth>>,
}

impl Shared {
    pub(super) fn health(&self, channel: &str, update: impl FnOnce(&mut ChannelHealth)) {
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = health.get_mut(channel) {
            update(entry);
        }
    }

    pub(super) fn add_outstanding(&self, n: usize) {
        self.outstanding.send_modify(|count| *count += n);
        self.show_pending();
    }

    pub(super) fn done(&self, n: usize) {
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

/// What a dispatcher is built from.
pub struct DispatcherSetup<'a> {
    /// The channels to serve (the rules file's and the embedder's).
    pub channels: &'a [Channel],
    /// The SMTP relay, needed when a channel is e-mail.
    pub smtp: Option<SmtpSettings>,
    pub settings: NotifySettings,
    /// Looks up the environment variables channels name (secrets).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Where the console channel writes its JSON lines.
    pub console: Box<dyn io::Write + Send>,
    pub store: Store,
    /// What the store kept from the last run.
    pub restored: Restored,
}

impl std::fmt::Debug for DispatcherSetup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispatcherSetup")
            .field("channels", &self.channels.len())
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// Builds every channel (failing on a missing webhook variable or missing
    /// SMTP settings) and spawns the router and one worker per channel on
    /// `tracker`. They stop on `cancel`, after delivering what they can
    /// within `settings.shutdown_grace`. Must be called within a Tokio runtime.
    pub fn start(
        setup: DispatcherSetup<'_>,
        registry: &mut Registry,
        tracker: &TaskTracker,
        cancel: CancellationToken,
    ) -> Result<DispatchHandle, NotifyError> {
        let DispatcherSetup {
            channels,
            smtp,
            settings,
            env,
            console,
            store,
            restored,
        } = setup;
        let settings_grace = settings.shutdown_grace;
        let smtp_timeout = smtp.as_ref().map(|s| s.timeout).unwrap_or_default();
        let clients = Clients::new(&settings, smtp.as_ref(), console)?;
        let built = channel::build(channels, env, &clients)?;
        resume(&built, &restored.status);
        let metrics = NotifyMetrics::register(registry);
        for (_, delivery) in &built {
            metrics.announce(delivery.kind());
        }
        let (commands, receiver) = mpsc::unbounded_channel();
        let (outstanding, _) = watch::channel(0usize);
        let shared = Arc::new(Shared {
            commands,
            outstanding,
            metrics,
            clients,
            store,
            status: restored.status.clone(),
            health: Mutex::new(BTreeMap::new()),
        });
        let closing = cancel.clone();
        Router::spawn(
            receiver,
            Arc::clone(&shared),
            settings,
            built,
            restored,
            tracker,
            cancel,
        );
        if let Some(mailer) = shared.clients.mailer.clone() {
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

/// Hands each channel the restored board's firing alerts (not silenced)
/// that were routed to it: a kind that must keep a receiver told of them
/// (Alertmanager) takes them up.
fn resume(built: &Built, status: &Status) {
    let now = Utc::now();
    let firing: Vec<AlertEvent> = status.read(|board, _| {
        board
            .firing()
            .filter(|f| !board.is_silenced(&Labels::of(&f.event), now))
            .map(|f| f.event.clone())
            .collect()
    });
    for (channel, delivery) in built {
        let routed: Vec<AlertEvent> = firing
            .iter()
            .filter(|event| event.route.channels.contains(&channel.name))
            .cloned()
            .collect();
        if !routed.is_empty() {
            delivery.resume(&routed);
        }
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
        let built = channel::build(channels, env, &self.shared.clients)?;
        for (_, delivery) in &built {
            self.shared.metrics.announce(delivery.kind());
        }
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
