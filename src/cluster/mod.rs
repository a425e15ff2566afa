//! Several replicas on one PostgreSQL database (`store.url`).
//!
//! Each meeting is polled by the one replica holding its lease
//! ([`leases`]). Every `store.lease_ttl / 3` the heartbeat task here renews
//! this replica's leases, claims its fair share of free ones (a dead
//! replica's after the TTL, a stopped one's at once), and brings the
//! registry in line: the members of held meetings are watched here (with
//! their saved alert state), meetings no longer held are handed over, and
//! participants or meetings that ended through a webhook taken by another
//! replica stop here. A replica holding more than `ceil(meetings /
//! replicas) + 1` meetings hands the excess over (`Monitor::release`: stop,
//! let the state reach the store, then release the leases). It also adopts
//! the queued messages and events of replicas that are gone, and tells the
//! Zoom budget how many replicas there are, its part of the per-second
//! rate (granted in proportion to the watches each replica holds, see
//! `crate::store::leases`), its part of the work (the day's plan follows
//! it) and what the others spent today.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::logging::LogEvery;
use crate::notify::{Adopted, DispatchHandle};
use crate::quota::budget::{Budget, work_share};
pub use crate::store::leases::{Beat, Leases};
use crate::store::{REMEMBER_ENDED, millis};
use crate::watch::Monitor;

#[derive(Debug, Clone)]
struct ClusterMetrics {
    leases_held: Gauge,
    takeovers: Counter,
    handovers: Counter,
    replicas: Gauge,
    heartbeat_seconds: Histogram,
    heartbeat_errors: Counter,
    adopted_messages: Counter,
    rebalanced: Counter,
}

impl ClusterMetrics {
    fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            leases_held: Gauge::default(),
            takeovers: Counter::default(),
            handovers: Counter::default(),
            replicas: Gauge::default(),
            heartbeat_seconds: Histogram::new([
                0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            heartbeat_errors: Counter::default(),
            adopted_messages: Counter::default(),
            rebalanced: Counter::default(),
        };
        registry.register(
            "qoswatch_cluster_rebalanced",
            "Meetings this replica handed over because it held more than ceil(meetings / replicas) + 1",
            metrics.rebalanced.clone(),
        );
        registry.register(
            "qoswatch_cluster_leases_held",
            "Meetings whose lease this replica holds (it polls them)",
            metrics.leases_held.clone(),
        );
        registry.register(
            "qoswatch_cluster_takeovers",
            "Meetings this replica took over from a replica that died or stopped",
            metrics.takeovers.clone(),
        );
        registry.register(
            "qoswatch_cluster_handovers",
            "Meetings this replica stopped polling because another holds their lease",
            metrics.handovers.clone(),
        );
        registry.register(
            "qoswatch_cluster_replicas",
            "Replicas alive on the shared database, this one included",
            metrics.replicas.clone(),
        );
        registry.register(
            "qoswatch_cluster_heartbeat_seconds",
            "Time of one heartbeat transaction on the shared database",
            metrics.heartbeat_seconds.clone(),
        );
        registry.register(
            "qoswatch_cluster_heartbeat_errors",
            "Heartbeats that failed (database unreachable or refusing)",
            metrics.heartbeat_errors.clone(),
        );
        registry.register(
            "qoswatch_cluster_adopted_messages",
            "Queued messages and events adopted from replicas that are gone",
            metrics.adopted_messages.clone(),
        );
        metrics
    }
}

/// This replica's membership of the cluster.
#[derive(Debug)]
pub struct Cluster {
    leases: Arc<Leases>,
    ttl: Duration,
    heartbeat: Duration,
    metrics: ClusterMetrics,
    /// When the last heartbeat committed, and the last failure's text.
    health: Mutex<Health>,
    error_log: LogEvery,
    /// The other replicas' early signals.
    ear: signals::Ear,
}

mod signals;

#[derive(Debug)]
struct Health {
    last_ok: Instant,
    error: Option<String>,
}

impl Cluster {
    pub fn new(
        leases: Arc<Leases>,
        ttl: Duration,
        heartbeat: Duration,
        registry: &mut Registry,
    ) -> Arc<Self> {
        Arc::new(Self {
            leases,
            ttl,
            heartbeat,
            metrics: ClusterMetrics::register(registry),
            health: Mutex::new(Health {
                last_ok: Instant::now(),
                error: None,
            }),
            error_log: LogEvery::new(Duration::from_secs(60)),
            ear: signals::Ear::new(ttl, registry),
        })
    }

    /// This replica's id in the database.
    pub fn replica(&self) -> &str {
        self.leases.replica()
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err(why)` while the database has not answered a heartbeat for a
    /// lease's TTL: this replica's leases are gone, it polls nothing.
    pub fn readiness(&self) -> Result<(), String> {
        let health = self.health();
        if health.last_ok.elapsed() < self.ttl {
            return Ok(());
        }
        Err(format!(
            "shared database unreachable for {}s: {}",
            health.last_ok.elapsed().as_secs(),
            health.error.as_deref().unwrap_or("no answer")
        ))
    }

    /// Starts the heartbeat on `tracker`; it stops on `cancel` (the hand-back
    /// itself is the store's last record, see `startup`).
    pub fn spawn(
        self: &Arc<Self>,
        monitor: Monitor,
        dispatch: Option<DispatchHandle>,
        budgets: Vec<Arc<Budget>>,
        tracker: &TaskTracker,
        cancel: CancellationToken,
    ) {
        let cluster = self.clone();
        let (listening, listen_cancel) = (monitor.clone(), cancel.clone());
        tracker.spawn(
            async move { cluster.listen(listening, listen_cancel).await }
                .instrument(tracing::info_span!("cluster")),
        );
        let cluster = self.clone();
        tracker.spawn(
            async move { cluster.run(monitor, dispatch, budgets, cancel).await }
                .instrument(tracing::info_span!("cluster")),
        );
    }

    async fn run(
        &self,
        monitor: Monitor,
        dispatch: Option<DispatchHandle>,
        budgets: Vec<Arc<Budget>>,
        cancel: CancellationToken,
    ) {
        // Every account's budget runs on the same quota clock.
        let today = || {
            budgets
                .first()
                .map_or_else(|| Utc::now().date_naive(), |b| b.today())
        };
        // The first beat reads the recently ended participants too, so a
        // late `participant_joined` retry is refused here as well.
        // Each account's requests a second, shared by the heartbeat: none
        // until the first beat grants a part (another replica may hold the
        // whole rate).
        let rates: std::collections::BTreeMap<_, _> = budgets
            .iter()
            .map(|b| (b.account().clone(), b.per_second()))
            .collect();
        for budget in &budgets {
            budget.grant_rate(0.0);
        }
        let remember = chrono::Duration::from_std(REMEMBER_ENDED).unwrap_or_default();
        let mut ended_mark = millis(Utc::now() - remember);
        let mut first = true;
        loop {
            if !first {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(self.heartbeat) => {}
                    () = self.leases.nudge.notified() => {}
                }
            }
            first = false;
            let started = Instant::now();
            let result = tokio::select! {
                () = cancel.cancelled() => break,
                result = self.leases.beat(ended_mark, today(), &rates) => result,
            };
            self.metrics
                .heartbeat_seconds
                .observe(started.elapsed().as_secs_f64());
            match result {
                Ok(mut beat) => {
                    ended_mark = beat.ended_mark;
                    {
                        let mut health = self.health();
                        if health.error.take().is_some() {
                            tracing::info!("shared database reachable again");
                        }
                        health.last_ok = Instant::now();
                    }
                    let shed = std::mem::take(&mut beat.shed);
                    self.apply(beat, &monitor, dispatch.as_ref(), &budgets);
                    if !shed.is_empty() {
                        self.metrics.rebalanced.inc_by(shed.len() as u64);
                        tracing::info!(
                            meetings = shed.len(),
                            "more than a fair share held: handing meetings over to other replicas"
                        );
                        monitor.release(shed, self.heartbeat).await;
                    }
                }
                Err(error) => self.failed(error, &monitor),
            }
        }
    }

    fn failed(&self, error: String, monitor: &Monitor) {
        self.metrics.heartbeat_errors.inc();
        let expired = {
            let mut health = self.health();
            health.error = Some(error.clone());
            health.last_ok.elapsed() >= self.ttl
        };
        if let Some(unlogged) = self.error_log.occurred(Instant::now()) {
            tracing::error!(
                %error,
                not_logged_since = unlogged,
                "heartbeat on the shared database failed; leases expire after store.lease_ttl"
            );
        }
        if expired {
            // Past the TTL another replica may hold these meetings: stop
            // polling them rather than poll twice.
            let handed = monitor.hand_over_all();
            if handed > 0 {
                self.metrics.handovers.inc_by(handed as u64);
                tracing::warn!(
                    meetings = handed,
                    "leases expired without a heartbeat: polling stopped until the database answers"
                );
            }
            self.metrics.leases_held.set(0);
        }
    }

    fn apply(
        &self,
        beat: Beat,
        monitor: &Monitor,
        dispatch: Option<&DispatchHandle>,
        budgets: &[Arc<Budget>],
    ) {
        if beat.lapsed {
            tracing::warn!(
                "this replica missed its heartbeat for longer than store.lease_ttl: others may \
                 have taken its meetings and messages (some may be polled or sent twice)"
            );
        }
        share_budgets(&beat, budgets);
        let mut handed = 0;
        for meeting in monitor.meetings() {
            if !beat.held.contains(&meeting) {
                handed += monitor.hand_over(&meeting);
            }
        }
        if handed > 0 {
            self.metrics.handovers.inc_by(handed as u64);
            tracing::info!(meetings = handed, "meetings handed over to other replicas");
        }
        monitor.ended_elsewhere(&beat.ended_participants, &beat.ended_meetings);
        let adopted = self.take_on(beat.watches, &beat.signals, monitor);
        if beat.taken_over > 0 {
            self.metrics.takeovers.inc_by(beat.taken_over as u64);
            tracing::info!(
                meetings = beat.taken_over,
                watches = adopted,
                "meetings taken over from a replica that stopped or died"
            );
        } else if adopted > 0 {
            tracing::debug!(
                watches = adopted,
                "watches taken on from the shared database"
            );
        }
        let messages = beat.outbox.len() + beat.unrouted.len() + beat.grouped.len();
        if messages > 0 {
            self.metrics.adopted_messages.inc_by(messages as u64);
            match dispatch {
                Some(dispatch) => dispatch.adopt(Adopted {
                    unrouted: beat.unrouted,
                    grouped: beat.grouped,
                    outbox: beat.outbox,
                }),
                None => tracing::warn!(
                    messages,
                    "adopted queued notifications but this replica has no rules file: \
                     they wait for one"
                ),
            }
        }
        self.metrics.leases_held.set(beat.held.len() as i64);
        self.metrics.replicas.set(i64::from(beat.live_replicas));
    }
}

/// Tells each account's budget what the beat found: the replicas alive, the
/// others' use today and a pause, its granted part of the per-second rate,
/// and its part of the work.
fn share_budgets(beat: &Beat, budgets: &[Arc<Budget>]) {
    for budget in budgets {
        let account = budget.account();
        budget.share(
            beat.live_replicas,
            beat.others_used_today.get(account).copied().unwrap_or(0),
            beat.paused_until.get(account).copied(),
        );
        // Its granted part of the per-second rate.
        if let Some(&part) = beat.rate_parts.get(account) {
            budget.grant_rate(part);
        }
        // The day's plan follows the work this replica holds of the
        // account's.
        let count = |map: &std::collections::BTreeMap<_, u32>| map.get(account).copied();
        budget.follow_work(work_share(
            count(&beat.my_watches).unwrap_or(0),
            count(&beat.all_watches).unwrap_or(0),
            beat.live_replicas,
        ));
    }
}
