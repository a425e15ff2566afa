//! Builds the whole service from [`Settings`] and runs it. Owns the root
//! [`CancellationToken`] and the [`TaskTracker`] of every background task.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::views::Sources;
use crate::admin::{AdminAuth, AdminState, ProbeState};
use crate::alerting::live_rules::{
    LiveRules, RulesMetrics, spawn_file_watcher, spawn_sighup_reloader,
};
use crate::alerting::silences::spawn_silence_keeper;
use crate::alerting::{RulesSink, ZoomAlertRelay};
use crate::cluster::Cluster;
use crate::config::Settings;
use crate::intake::{IntakeState, MeetingAlertSink, WebhookMetrics};
use crate::listener::Listener;
use crate::notify::{DispatchHandle, Dispatcher, Restored};
use crate::quota::Planner;
use crate::quota::budget::QuotaClock;
use crate::quota::view::BudgetSource;
use crate::status::{Status, StatusTap};
use crate::store::leases::Leases;
use crate::store::{Snapshot, Store};
use crate::watch::{FanOutSink, LoggingSink, Monitor, MonitorParts, SampleSink};
use crate::zoom::client::ZoomClient;
use crate::zoom::signature::Verifier;
use qoswatch_core::alert::Channel;

/// Looks up environment variables (the Slack webhook variables named in the
/// rules file). The process environment in `main`, a map in tests.
pub type EnvFn = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What an embedder (tests, the demo) may plug in besides [`Settings`].
pub struct Extras {
    pub env: EnvFn,
    /// Where the console channel writes its JSON lines.
    pub console: Box<dyn Write + Send>,
    /// Further observers of every watch, next to the rules.
    pub sample_taps: Vec<Arc<dyn SampleSink>>,
    /// Channels added to those of the rules file; every alert goes to them
    /// too (the demo's Slack and e-mail when the user set them up).
    pub extra_channels: Vec<Channel>,
    /// The clock of the daily quota: the wall clock, except in the quota
    /// benchmark's accelerated day.
    pub quota_clock: QuotaClock,
}

impl std::fmt::Debug for Extras {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extras")
            .field("sample_taps", &self.sample_taps.len())
            .finish_non_exhaustive()
    }
}

impl Default for Extras {
    fn default() -> Self {
        Self {
            env: Arc::new(crate::config::process_env),
            console: Box::new(std::io::stdout()),
            sample_taps: Vec::new(),
            extra_channels: Vec::new(),
            quota_clock: QuotaClock::Wall,
        }
    }
}

/// A built, bound, not yet running qoswatch.
#[derive(Debug)]
pub struct Application {
    listener: Listener,
    router: axum::Router,
    address: SocketAddr,
    admin_listener: Listener,
    admin_router: axum::Router,
    admin_address: SocketAddr,
    status: Status,
    tracker: TaskTracker,
    cancel: CancellationToken,
    monitor: Monitor,
    dispatch: Option<DispatchHandle>,
    store: Store,
    settings: Settings,
}

impl Application {
    /// Builds every part and binds the listener (port 0 picks a free port).
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        Self::build_with(settings, Extras::default()).await
    }

    /// Like [`Application::build`], with the embedder's [`Extras`].
    pub async fn build_with(settings: Settings, extras: Extras) -> anyhow::Result<Application> {
        let mut registry = Registry::default();
        let tracker = TaskTracker::new();
        let cancel = CancellationToken::new();

        // The store first: a database that cannot be opened stops the start
        // before anything else happens.
        let (store, mut snapshot) = match settings.database_url() {
            Some(url) => {
                Store::open_postgres(
                    &settings.store,
                    &url,
                    settings.secrets.database_password.as_ref(),
                    &mut registry,
                )
                .await?
            }
            None => Store::open(&settings.store, &mut registry).await?,
        };
        if !store.is_durable() {
            tracing::warn!(
                "no data directory (store.data_dir): watches, alert state and queued \
                 notifications are kept in memory and lost on restart"
            );
        }
        let budget = Arc::new(
            settings
                .zoom
                .budget(extras.quota_clock, &mut registry)
                .persisted(store.clone(), snapshot.budget.take()),
        );
        let client = Arc::new(ZoomClient::new(
            settings.zoom.client(),
            settings.secrets.zoom_credentials()?,
            budget.clone(),
            &mut registry,
        )?);
        let status = Status::restore(
            std::mem::take(&mut snapshot.silences),
            std::mem::take(&mut snapshot.open_alerts),
        );
        let alerting = build_alerting(
            &settings,
            extras.env,
            extras.console,
            extras.extra_channels,
            &mut registry,
            &tracker,
            &cancel,
            (&store, &mut snapshot, &status),
        )?;
        let rules = alerting.as_ref().map(|a| a.3.clone());
        let mut taps = extras.sample_taps;
        taps.push(Arc::new(StatusTap::new(status.clone())));
        let SampleRoute {
            sink,
            dispatch,
            meeting_alerts,
        } = sample_route(alerting, taps, &mut registry);
        spawn_silence_keeper(
            status.clone(),
            dispatch.clone(),
            store.clone(),
            settings.store.retention,
            &tracker,
            cancel.clone(),
        );
        let planner = Arc::new(Planner::new(
            settings.polling.plan(),
            settings.zoom.daily_share,
            budget.clone(),
            &mut registry,
        ));
        // Several replicas: the leases decide which meetings this one polls.
        let leases = store
            .shared()
            .map(|db| Arc::new(Leases::new(db.clone(), settings.store.lease_ttl)));
        let monitor = Monitor::new(
            MonitorParts {
                client,
                sink,
                store: store.clone(),
                planner,
                settings: settings.polling.clone(),
                leases: leases.clone(),
            },
            tracker.clone(),
            cancel.clone(),
            &mut registry,
        );
        monitor.resume(&mut snapshot);
        let cluster = leases.map(|leases| {
            let cluster = Cluster::new(
                leases,
                settings.store.lease_ttl,
                settings.store.heartbeat(),
                &mut registry,
            );
            cluster.spawn(
                monitor.clone(),
                dispatch.clone(),
                budget.clone(),
                &tracker,
                cancel.clone(),
            );
            tracing::info!(
                replica = cluster.replica(),
                lease_ttl_s = settings.store.lease_ttl.as_secs_f64(),
                "sharing the database with other replicas: polling the meetings whose lease \
                 this replica holds"
            );
            cluster
        });
        let verifier = Arc::new(Verifier::new(
            settings.secrets.webhook_secret_tokens.clone(),
            settings.webhook.replay_window,
        ));
        let webhook_metrics = WebhookMetrics::new(&mut registry);
        let listener = Listener::bind(&settings.server, &mut registry).await?;
        let admin_listener = Listener::bind_admin(&settings.server, &mut registry).await?;
        let intake = IntakeState {
            verifier,
            monitor: monitor.clone(),
            meeting_alerts,
            webhook_metrics,
        };
        let probes = ProbeState {
            monitor: monitor.clone(),
            store: store.clone(),
            cluster: cluster.clone(),
            metrics: Arc::new(registry),
            shutdown: cancel.clone(),
        };
        let mut router = crate::intake::router(intake, settings.server.max_body_bytes);
        if settings.server.legacy_public_endpoints {
            tracing::warn!(
                "server.legacy_public_endpoints is on: /metrics, /healthz and /readyz are also \
                 served on the public listener; they move to the admin listener only in the next \
                 release: point scrapers and probes at server.admin_listen"
            );
            router = router.merge(crate::admin::probes::legacy_public(probes.clone()));
        }
        let admin_router = crate::admin::router(
            AdminState {
                status: status.clone(),
                sources: Sources {
                    budget: Some(BudgetSource {
                        budget,
                        planner: monitor.planner().clone(),
                        daily_limit: settings.zoom.daily_limit,
                        requests_per_second: settings.zoom.requests_per_second,
                    }),
                    rules,
                    dispatch: dispatch.clone(),
                },
                store: store.clone(),
                shutdown: cancel.clone(),
            },
            AdminAuth::new(settings.secrets.admin_token.as_ref()),
            probes,
        );
        let address = listener.address();
        let admin_address = admin_listener.address();
        Ok(Application {
            listener,
            router,
            address,
            admin_listener,
            admin_router,
            admin_address,
            status,
            tracker,
            cancel,
            monitor,
            dispatch,
            store,
            settings,
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The admin listener's bound address: the status page is at
    /// `http://{admin_address}/`.
    pub fn admin_address(&self) -> SocketAddr {
        self.admin_address
    }

    /// The admin router (page, API, metrics, probes), for tests that call
    /// it without a socket.
    pub fn admin_router(&self) -> axum::Router {
        self.admin_router.clone()
    }

    /// The alert board, silences and watched participants.
    pub fn status(&self) -> Status {
        self.status.clone()
    }

    /// Cancelling this token stops the service gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// The application's router, sharing its state, for tests that call it
    /// without a socket (`tower::ServiceExt::oneshot`).
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// The watcher registry, for tests and embedding.
    pub fn monitor(&self) -> Monitor {
        self.monitor.clone()
    }

    /// The alert dispatcher, when a rules file is configured.
    pub fn dispatch(&self) -> Option<DispatchHandle> {
        self.dispatch.clone()
    }

    /// Serves until the shutdown token is cancelled. Then, within
    /// `server.shutdown_grace` of it whatever clients do: stops accepting,
    /// cancels every task, lets requests in progress finish while the
    /// tasks wind down (queued notifications get their own grace), cuts
    /// the connections still open at the deadline, and closes the store.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let cancel = self.cancel.clone();
        tracing::info!(
            address = %self.address,
            max_connections = self.listener.max_connections(),
            "qoswatch listening"
        );
        tracing::info!(
            address = %self.admin_address,
            page = %format!("http://{}/", self.admin_address),
            token_required = self.settings.secrets.admin_token.is_some(),
            "admin listener: status page, API, metrics"
        );
        let (draining, admin_draining) = tokio::join!(
            self.listener.serve(self.router, cancel.clone()),
            self.admin_listener.serve(self.admin_router, cancel.clone())
        );
        // The listener has stopped accepting; make sure everything else stops too.
        cancel.cancel();
        self.tracker.close();
        let grace = self.settings.server.shutdown_grace;
        let deadline = tokio::time::Instant::now() + grace - store_close_margin(grace);
        let connections = async {
            tokio::join!(
                draining.finish_by(deadline),
                admin_draining.finish_by(deadline)
            )
        };
        let tasks = async {
            if tokio::time::timeout_at(deadline, self.tracker.wait())
                .await
                .is_err()
            {
                tracing::warn!(
                    still_running = self.tracker.len(),
                    grace_s = grace.as_secs(),
                    "tasks still running after the shutdown grace period"
                );
            }
        };
        tokio::join!(connections, tasks);
        // Everything that stopped has written its state. With a shared
        // database, give this replica's meetings and queued messages back
        // after those writes (the writer keeps their order), so another
        // replica takes them at its next heartbeat instead of after the
        // lease's TTL. Then commit and close.
        if self.store.shared().is_some() {
            match self
                .store
                .write_durably(crate::store::Write::HandBack)
                .await
            {
                Ok(()) => tracing::info!("leases and queued messages handed back"),
                Err(error) => tracing::warn!(
                    %error,
                    "leases not handed back: other replicas take over after store.lease_ttl"
                ),
            }
        }
        self.store.close().await;
        tracing::info!("qoswatch stopped");
        Ok(())
    }
}

/// Time kept at the end of `server.shutdown_grace` for the store's last
/// commit, so the process is gone within the grace.
fn store_close_margin(grace: std::time::Duration) -> std::time::Duration {
    (grace / 10).min(std::time::Duration::from_millis(250))
}

type Alerting = (
    RulesSink,
    DispatchHandle,
    Option<Arc<ZoomAlertRelay>>,
    Arc<LiveRules>,
);

/// Where the watchers' samples go, and the parts that exist only with rules.
struct SampleRoute {
    sink: Arc<dyn SampleSink>,
    dispatch: Option<DispatchHandle>,
    meeting_alerts: Option<Arc<dyn MeetingAlertSink>>,
}

/// The rules (or a logging sink without a rules file) plus the embedder's
/// taps; with the dispatcher and the relay of Zoom's meeting alerts when
/// rules are configured.
fn sample_route(
    alerting: Option<Alerting>,
    taps: Vec<Arc<dyn SampleSink>>,
    registry: &mut Registry,
) -> SampleRoute {
    let mut sinks: Vec<Arc<dyn SampleSink>> = Vec::new();
    let mut dispatch = None;
    let mut meeting_alerts: Option<Arc<dyn MeetingAlertSink>> = None;
    match alerting {
        Some((rules_sink, handle, relay, _)) => {
            sinks.push(Arc::new(rules_sink));
            meeting_alerts = relay.map(|r| r as Arc<dyn MeetingAlertSink>);
            dispatch = Some(handle);
        }
        None => sinks.push(Arc::new(LoggingSink::new(registry))),
    }
    sinks.extend(taps);
    let sink: Arc<dyn SampleSink> = if sinks.len() == 1 {
        sinks.remove(0)
    } else {
        Arc::new(FanOutSink::new(sinks))
    };
    SampleRoute {
        sink,
        dispatch,
        meeting_alerts,
    }
}

/// Rules, dispatcher, hot reload and Zoom's meeting alerts, when a rules
/// file is configured.
#[allow(clippy::too_many_arguments)]
fn build_alerting(
    settings: &Settings,
    env: EnvFn,
    console: Box<dyn Write + Send>,
    extra_channels: Vec<Channel>,
    registry: &mut Registry,
    tracker: &TaskTracker,
    cancel: &CancellationToken,
    (store, snapshot, status): (&Store, &mut Snapshot, &Status),
) -> anyhow::Result<Option<Alerting>> {
    let zoom_alerts = &settings.alerts.zoom_meeting_alerts;
    let Some(path) = &settings.rules.file else {
        if !snapshot.outbox.is_empty() || !snapshot.grouped.is_empty() {
            tracing::warn!(
                queued = snapshot.outbox.len() + snapshot.grouped.len(),
                "notifications are queued in the store but no rules file defines channels; \
                 they stay queued until one does"
            );
        }
        if zoom_alerts.enabled {
            anyhow::bail!(
                "alerts.zoom_meeting_alerts is enabled but no rules file (rules.file) defines its channels"
            );
        }
        return Ok(None);
    };
    let live = LiveRules::load(path, RulesMetrics::register(registry))
        .map_err(|diagnostics| anyhow::anyhow!("invalid rules file:\n{diagnostics}"))?;
    let live = Arc::new(live);
    let rules = live.current();
    let channels = channels_with(&rules, &extra_channels);
    let dispatch = Dispatcher::start(
        &channels,
        settings.alerts.smtp.clone(),
        settings.alerts.dispatch.clone(),
        &*env,
        console,
        registry,
        tracker,
        cancel.clone(),
        store.clone(),
        Restored {
            unrouted: std::mem::take(&mut snapshot.unrouted),
            grouped: std::mem::take(&mut snapshot.grouped),
            outbox: std::mem::take(&mut snapshot.outbox),
            status: status.clone(),
        },
    )
    .context("cannot set up the notification channels")?;
    tracing::info!(
        path = %path.display(),
        rules = rules.len(),
        channels = rules.channels().len(),
        "rules loaded"
    );
    if zoom_alerts.enabled {
        for name in &zoom_alerts.channels {
            if !channels.iter().any(|c| &c.name == name) {
                anyhow::bail!(
                    "alerts.zoom_meeting_alerts.channels names `{name}`, which the rules file does not define"
                );
            }
        }
    }
    spawn_file_watcher(live.clone(), tracker, cancel.clone())
        .context("cannot watch the rules file for changes")?;
    spawn_sighup_reloader(live.clone(), tracker, cancel.clone())
        .context("cannot listen for SIGHUP")?;
    let extra_names: Vec<String> = extra_channels.iter().map(|c| c.name.clone()).collect();
    follow_channel_changes(
        &live,
        dispatch.clone(),
        env,
        extra_channels,
        tracker,
        cancel.clone(),
    );
    let relay = zoom_alerts.enabled.then(|| {
        let mut settings = zoom_alerts.clone();
        for name in &extra_names {
            if !settings.channels.contains(name) {
                settings.channels.push(name.clone());
            }
        }
        Arc::new(ZoomAlertRelay::new(settings, dispatch.clone(), registry))
    });
    let sink = RulesSink::new(live.clone(), dispatch.clone(), extra_names, registry);
    Ok(Some((sink, dispatch, relay, live)))
}

/// The rules file's channels plus the embedder's extra ones: what the
/// dispatcher serves, at start-up and after every reload.
fn channels_with(rules: &qoswatch_core::rules::RuleSet, extra: &[Channel]) -> Vec<Channel> {
    let mut channels = rules.channels().to_vec();
    channels.extend(extra.iter().cloned());
    channels
}

/// Keeps the dispatcher's channels in step with reloaded rules. A reload
/// whose channels cannot be built (a Slack variable not set) keeps the old
/// channels and says why.
fn follow_channel_changes(
    live: &LiveRules,
    dispatch: DispatchHandle,
    env: EnvFn,
    extra_channels: Vec<Channel>,
    tracker: &TaskTracker,
    cancel: CancellationToken,
) {
    let mut changes = live.subscribe();
    let mut channels = channels_with(&live.current(), &extra_channels);
    tracker.spawn(async move {
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                changed = changes.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
            let next = channels_with(&changes.borrow_and_update(), &extra_channels);
            if next == channels {
                continue;
            }
            match dispatch.reconfigure(&next, &*env) {
                Ok(()) => {
                    tracing::info!(channels = next.len(), "notification channels reconfigured");
                    channels = next;
                }
                Err(error) => tracing::error!(
                    %error,
                    "reloaded rules define channels that cannot be set up; the previous channels stay"
                ),
            }
        }
    });
}

/// Drives `work` to its end, cancelling `cancel` when SIGTERM or SIGINT
/// arrives so that `work` winds down by itself. The signal handlers are
/// installed before `work` first runs (a SIGTERM right after start-up must
/// not meet the default disposition, which kills the process), and are
/// awaited inside this future, not in a spawned task: nothing outlives the
/// command.
pub async fn until_stopped_by_signal<F: std::future::Future>(
    cancel: CancellationToken,
    work: F,
) -> F::Output {
    let signals = ShutdownSignals::install();
    let mut work = std::pin::pin!(work);
    tokio::select! {
        output = &mut work => return output,
        () = signals.received() => cancel.cancel(),
    }
    work.await
}

/// SIGTERM and SIGINT, listened for from the moment of [`install`](Self::install).
struct ShutdownSignals {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(stream) => Some(stream),
                Err(error) => {
                    tracing::warn!(%error, signal = name, "cannot listen for the signal");
                    None
                }
            };
            Self {
                terminate: listen(SignalKind::terminate(), "SIGTERM"),
                interrupt: listen(SignalKind::interrupt(), "SIGINT"),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Resolves on the first SIGTERM or SIGINT.
    async fn received(mut self) {
        #[cfg(unix)]
        {
            async fn next(stream: &mut Option<tokio::signal::unix::Signal>) {
                match stream {
                    Some(stream) => {
                        stream.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                () = next(&mut self.interrupt) => tracing::info!("SIGINT received: shutting down"),
                () = next(&mut self.terminate) => tracing::info!("SIGTERM received: shutting down"),
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            tracing::info!("Ctrl-C received: shutting down");
        }
    }
}
