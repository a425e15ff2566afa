//! Hearing the other replicas' early signals (`crate::store::signals`):
//! at once by PostgreSQL's `LISTEN`, and at every heartbeat from the table
//! in case a notification was missed. Each signal is acted on once
//! (`Monitor::signal_from_elsewhere`): the same row id heard twice is
//! dropped, and so is this replica's own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Cluster;
use crate::logging::LogEvery;
use crate::store::SavedWatch;
use crate::store::signals::{SharedKind, SharedSignal};
use crate::watch::Monitor;

/// How a signal was heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    Notify,
    Heartbeat,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Notify => "notify",
            Via::Heartbeat => "heartbeat",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HeardLabels {
    signal: &'static str,
    via: &'static str,
}

/// The signals heard, and the ids already acted on.
#[derive(Debug)]
pub(super) struct Ear {
    heard: Family<HeardLabels, Counter>,
    /// Row ids done with, with when: kept for twice the heartbeat's
    /// look-back (two lease TTLs) and one more, so a row is never acted on
    /// twice.
    seen: Mutex<HashMap<i64, Instant>>,
    keep: Duration,
    error_log: LogEvery,
}

impl Ear {
    pub(super) fn new(ttl: Duration, registry: &mut Registry) -> Self {
        let heard = Family::<HeardLabels, Counter>::default();
        registry.register(
            "qoswatch_cluster_early_signals_heard",
            "Early signals acted on here that another replica took (Zoom's meeting alerts for meetings it did not poll, participants who left), or this one for a meeting it took over since; by how they came (notify: at once; heartbeat: read from the database, a notification missed or a meeting taken over)",
            heard.clone(),
        );
        for signal in SharedKind::NAMES {
            for via in [Via::Notify, Via::Heartbeat] {
                let _ = heard.get_or_create(&HeardLabels {
                    signal,
                    via: via.as_str(),
                });
            }
        }
        Self {
            heard,
            seen: Mutex::new(HashMap::new()),
            keep: ttl * 3,
            error_log: LogEvery::new(Duration::from_secs(60)),
        }
    }

    /// Whether to act on `signal`, heard `via`: not if it was acted on
    /// before, nor if it is this replica's own notification (it was written
    /// because this replica did not poll the meeting; its own meeting
    /// alerts come back with the heartbeat, in case it took the meeting
    /// over since). Forgets what is older than `keep`.
    pub(super) fn to_act(&self, me: &str, signal: &SharedSignal, via: Via, now: Instant) -> bool {
        if signal.from == me && via == Via::Notify {
            return false;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, at| now.saturating_duration_since(*at) < self.keep);
        !seen.contains_key(&signal.id)
    }

    /// `signal` is done with here: never acted on again.
    pub(super) fn done(&self, signal: &SharedSignal, now: Instant) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.entry(signal.id).or_insert(now);
    }
}

impl Cluster {
    /// Acts on a signal heard `via`. A leave is done with once heard (it
    /// is remembered here, or too old to matter); a meeting alert once it
    /// hurried a meeting polled here: until then a later heartbeat may find
    /// the meeting taken over (its holder died after Zoom's alert).
    pub(super) fn heard(&self, signal: &SharedSignal, via: Via, monitor: &Monitor) {
        let now = Instant::now();
        if !self.ear.to_act(self.replica(), signal, via, now) {
            return;
        }
        let acted = monitor.signal_from_elsewhere(signal);
        if acted || matches!(signal.kind, SharedKind::Left { .. }) {
            self.ear.done(signal, now);
        }
        if acted {
            self.ear
                .heard
                .get_or_create(&HeardLabels {
                    signal: signal.kind.as_str(),
                    via: via.as_str(),
                })
                .inc();
        }
    }

    /// The heartbeat's watches of held meetings, taken on, and the signals
    /// it read: leaves before the new members (a rejoin among them is
    /// recognised), meeting alerts after (their meetings are polled here
    /// by then). Returns how many watches were taken on.
    pub(super) fn take_on(
        &self,
        watches: Vec<SavedWatch>,
        signals: &[SharedSignal],
        monitor: &Monitor,
    ) -> usize {
        let (leaves, alerts): (Vec<_>, Vec<_>) = signals
            .iter()
            .partition(|s| matches!(s.kind, SharedKind::Left { .. }));
        for signal in leaves {
            self.heard(signal, Via::Heartbeat, monitor);
        }
        let mut adopted = 0;
        for saved in watches {
            if !monitor.is_watching(&saved.subject.key) && monitor.adopt(saved) {
                adopted += 1;
            }
        }
        for signal in alerts {
            self.heard(signal, Via::Heartbeat, monitor);
        }
        adopted
    }

    /// Listens until `cancel`; when the database cannot be reached, tries
    /// again every heartbeat (the heartbeat reads what was missed).
    pub(super) async fn listen(&self, monitor: Monitor, cancel: CancellationToken) {
        let mut listener = None;
        loop {
            let failed = match &mut listener {
                None => tokio::select! {
                    () = cancel.cancelled() => return,
                    connected = self.leases.listen() => match connected {
                        Ok(connected) => {
                            listener = Some(connected);
                            None
                        }
                        Err(error) => Some(error),
                    },
                },
                Some(ear) => tokio::select! {
                    () = cancel.cancelled() => return,
                    received = ear.recv() => match received {
                        Ok(Ok(signal)) => {
                            self.heard(&signal, Via::Notify, &monitor);
                            None
                        }
                        Ok(Err(error)) => {
                            self.listen_error(&error.to_string(), "a notification is not an early signal; ignored");
                            None
                        }
                        Err(error) => Some(error),
                    },
                },
            };
            if let Some(error) = failed {
                self.listen_error(
                    &error,
                    "not listening for the other replicas' early signals; the heartbeat reads them",
                );
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(self.heartbeat) => {}
                }
            }
        }
    }

    fn listen_error(&self, error: &str, message: &'static str) {
        if let Some(unlogged) = self.ear.error_log.occurred(Instant::now()) {
            tracing::warn!(%error, not_logged_since = unlogged, "{message}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qoswatch_core::alert::MeetingKey;

    fn signal(id: i64, from: &str) -> SharedSignal {
        SharedSignal {
            id,
            from: from.into(),
            meeting: MeetingKey::new(Default::default(), "m"),
            kind: SharedKind::MeetingAlert,
            age: Duration::ZERO,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_signal_is_acted_on_once_however_it_is_heard_and_its_own_only_from_the_heartbeat() {
        let ttl = Duration::from_secs(30);
        let ear = Ear::new(ttl, &mut Registry::default());
        let now = Instant::now();
        let other = signal(1, "other");
        assert!(ear.to_act("me", &other, Via::Notify, now));
        assert!(
            ear.to_act("me", &other, Via::Heartbeat, now),
            "not done yet"
        );
        ear.done(&other, now);
        assert!(
            !ear.to_act("me", &other, Via::Heartbeat, now + ttl),
            "read again at a heartbeat within the look-back"
        );
        assert!(ear.to_act("me", &signal(2, "other"), Via::Heartbeat, now + ttl));
        let own = signal(3, "me");
        assert!(
            !ear.to_act("me", &own, Via::Notify, now),
            "its own notification"
        );
        assert!(
            ear.to_act("me", &own, Via::Heartbeat, now),
            "its own alert, for a meeting it may have taken over"
        );
        // Done twice: the first time counts.
        ear.done(&other, now + ttl);
        // Forgotten after three TTLs, when no heartbeat reads the row any
        // more (they read two).
        assert!(!ear.to_act(
            "me",
            &other,
            Via::Notify,
            now + ttl * 3 - Duration::from_millis(1)
        ));
        assert!(ear.to_act("me", &other, Via::Notify, now + ttl * 3));
    }
}
