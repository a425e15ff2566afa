//! The watchers' Prometheus series. Never labelled by meeting or
//! participant: the only label is the stop reason, a fixed set.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use qoswatch_core::alert::Account;

use crate::quota::AccountLabel;

use super::ended::Ended;
use super::source::Source;
use super::subject::StopReason;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Where samples came from: [`Source::as_str`], a fixed set.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: &'static str,
}

/// The `kind` label of the memory of ended participants and meetings:
/// [`ENDED_PARTICIPANTS`] or [`ENDED_MEETINGS`].
/// An early signal that made a meeting's or a participant's polling
/// urgent: [`super::signals::Signal::as_str`], a fixed set.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignalLabel {
    signal: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

/// The `to` label of the QSS switches: `push` (events arrive, polling
/// stops) or `poll` (events stopped, polling takes over).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SwitchLabel {
    to: &'static str,
}

pub(super) const ENDED_PARTICIPANTS: &str = "participant";
pub(super) const ENDED_MEETINGS: &str = "meeting";

/// Cheap to clone: every series is shared.
#[derive(Debug, Clone, Default)]
pub(super) struct WatchMetrics {
    pub(super) active: Gauge,
    /// `active` by Zoom account (the configured names only).
    by_account: Family<AccountLabel, Gauge>,
    pub(super) started: Counter,
    pub(super) duplicates: Counter,
    pub(super) refused: Counter,
    stopped: Family<ReasonLabel, Counter>,
    pub(super) samples: Counter,
    samples_by_source: Family<SourceLabel, Counter>,
    samples_repeated: Family<SourceLabel, Counter>,
    samples_not_watched: Family<SourceLabel, Counter>,
    pub(super) samples_dropped: Counter,
    pub(super) bad_values: Counter,
    pub(super) poll_errors: Counter,
    pub(super) polling_disabled: Gauge,
    remembered_ended: Family<KindLabel, Gauge>,
    forgotten_early: Family<KindLabel, Counter>,
    early_signals: Family<SignalLabel, Counter>,
    qss_switches: Family<SwitchLabel, Counter>,
}

impl WatchMetrics {
    /// The watches of `account`: created at 0 for each configured account,
    /// moved by one as a watch starts or ends.
    pub(super) fn account_watchers(&self, account: &Account) -> Gauge {
        self.by_account
            .get_or_create(&AccountLabel::of(account))
            .clone()
    }

    pub(super) fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        metrics.register_qss(registry);
        registry.register(
            "qoswatch_watchers_active",
            "Participants being watched",
            metrics.active.clone(),
        );
        registry.register(
            "qoswatch_account_watchers",
            "Participants being watched, by Zoom account",
            metrics.by_account.clone(),
        );
        registry.register(
            "qoswatch_watchers_started",
            "Watches started",
            metrics.started.clone(),
        );
        registry.register(
            "qoswatch_watch_duplicate_starts",
            "participant_joined for an already watched participant",
            metrics.duplicates.clone(),
        );
        registry.register(
            "qoswatch_watch_refused",
            "Watches not started (capacity, polling disabled, shutdown)",
            metrics.refused.clone(),
        );
        registry.register(
            "qoswatch_watchers_stopped",
            "Watches ended, by reason",
            metrics.stopped.clone(),
        );
        metrics.register_samples(registry);
        registry.register(
            "qoswatch_polling_disabled",
            "1 while Zoom says the account cannot use the Dashboard API (code 200)",
            metrics.polling_disabled.clone(),
        );
        registry.register(
            "qoswatch_poll_errors",
            "Failed polls (retried with back-off)",
            metrics.poll_errors.clone(),
        );
        registry.register(
            "qoswatch_remembered_ended",
            "Participants who left and meetings that ended, remembered so that late joins start nothing",
            metrics.remembered_ended.clone(),
        );
        registry.register(
            "qoswatch_remembered_ended_forgotten_early",
            "Ended participants or meetings forgotten before their time because polling.max_remembered_ended was reached",
            metrics.forgotten_early.clone(),
        );
        metrics.register_early_signals(registry);
        metrics
    }

    /// The samples' series: evaluated, by source, repeated, not watched,
    /// dropped, unreadable values.
    fn register_samples(&self, registry: &mut Registry) {
        registry.register(
            "qoswatch_samples",
            "New QoS samples handed to the rules",
            self.samples.clone(),
        );
        registry.register(
            "qoswatch_samples_by_source",
            "New QoS samples handed to the rules, by source (poll: the Dashboard poller; push: delivered by another source)",
            self.samples_by_source.clone(),
        );
        registry.register(
            "qoswatch_samples_repeated",
            "QoS samples not evaluated because the watch already had one as new (same date_time), by source",
            self.samples_repeated.clone(),
        );
        registry.register(
            "qoswatch_samples_not_watched",
            "QoS samples delivered for a participant not watched here (not evaluated), by source",
            self.samples_not_watched.clone(),
        );
        registry.register(
            "qoswatch_samples_dropped",
            "QoS samples left out because one answer held more than are taken from it (the oldest)",
            self.samples_dropped.clone(),
        );
        registry.register(
            "qoswatch_qos_bad_values",
            "QoS values that could not be parsed (treated as no data)",
            self.bad_values.clone(),
        );
    }

    fn register_early_signals(&self, registry: &mut Registry) {
        // Scraped from the start, at 0 (dashboards and `increase()` see the
        // first one too).
        for signal in super::signals::Signal::ALL {
            self.early_signals
                .get_or_create(&SignalLabel {
                    signal: signal.as_str(),
                })
                .inc_by(0);
        }
        registry.register(
            "qoswatch_poll_early_signals",
            "Early signals that made watched participants urgent and polled at once (meeting_alert: Zoom's meeting.alert for a polled meeting; rejoin: a participant back shortly after leaving)",
            self.early_signals.clone(),
        );
    }

    /// An early signal was acted on.
    pub(super) fn early_signal(&self, signal: super::signals::Signal) {
        self.early_signals
            .get_or_create(&SignalLabel {
                signal: signal.as_str(),
            })
            .inc();
    }

    pub(super) fn remembered_ended(&self, ended: &Ended) {
        for (kind, len) in [
            (ENDED_PARTICIPANTS, ended.participants.len()),
            (ENDED_MEETINGS, ended.meetings.len()),
        ] {
            self.remembered_ended
                .get_or_create(&KindLabel { kind })
                .set(len as i64);
        }
    }

    pub(super) fn forgotten_early(&self, kind: &'static str, count: usize) {
        self.forgotten_early
            .get_or_create(&KindLabel { kind })
            .inc_by(count as u64);
    }

    /// `count` new samples from `source` went to an observer.
    pub(super) fn taken(&self, source: Source, count: usize) {
        self.samples_by_source
            .get_or_create(&SourceLabel {
                source: source.as_str(),
            })
            .inc_by(count as u64);
    }

    /// The series of the QSS switch.
    fn register_qss(&self, registry: &mut Registry) {
        for to in [Source::Push, Source::Poll] {
            self.qss_switches
                .get_or_create(&SwitchLabel { to: to.as_str() })
                .inc_by(0);
        }
        registry.register(
            "qoswatch_qss_switches",
            "Participants switched between QSS push and polling, by the source switched to (push: events arrive, not polled; poll: events stopped for qss.fallback_after)",
            self.qss_switches.clone(),
        );
    }

    /// A participant's samples switched source: to `push` (QSS events
    /// feed it, no polling) or to `poll` (its events stopped).
    pub(super) fn switched(&self, to: Source) {
        self.qss_switches
            .get_or_create(&SwitchLabel { to: to.as_str() })
            .inc();
    }

    /// A sample from `source` was not newer than the watch's last.
    pub(super) fn repeated(&self, source: Source) {
        self.samples_repeated
            .get_or_create(&SourceLabel {
                source: source.as_str(),
            })
            .inc();
    }

    /// `count` samples from `source` came for a participant not watched.
    pub(super) fn not_watched(&self, source: Source, count: usize) {
        self.samples_not_watched
            .get_or_create(&SourceLabel {
                source: source.as_str(),
            })
            .inc_by(count as u64);
    }

    pub(super) fn stopped(&self, reason: StopReason) {
        self.stopped
            .get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            })
            .inc();
    }
}
