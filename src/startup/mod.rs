//! Builds the whole service from [`Settings`] and runs it. Owns the root
//! [`CancellationToken`] and the [`TaskTracker`] of every background task.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod alerting;
mod signals;

use crate::admin::views::Sources;
use crate::admin::{AdminAuth, AdminState, ProbeState};
use crate::alerting::LiveRules;
use crate::cluster::Cluster;
use crate::config::{Settings, ZoomAccount};
use crate::intake::{
    IntakeState, MeetingAlertSink, WebhookAccount, WebhookAccounts, WebhookMetrics,
};
use crate::listener::Listener;
use crate::notify::DispatchHandle;
use crate::quota::budget::{Budget, BudgetFamilies, QuotaClock};
use crate::quota::planner::{PlanFamilies, Planner};
use crate::quota::view::BudgetSource;
use crate::status::Status;
use crate::store::leases::Leases;
use crate::store::{Snapshot, Store};
use crate::watch::{AccountPolling, Monitor, MonitorParts, SampleSink};
use crate::zoom::client::{ClientMetrics, ZoomClient};
use crate::zoom::signature::Verifier;
use alerting::{AlertingInputs, Tasks, route_samples};
use qoswatch_core::alert::Channel;

pub use signals::until_stopped_by_signal;

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
        let mut tasks = Tasks {
            registry: &mut registry,
            tracker: &tracker,
            cancel: &cancel,
        };
        // The store first: a database that cannot be opened stops the start
        // before anything else happens.
        let (store, mut snapshot) = open_store(&settings, tasks.registry).await?;
        let accounts = budgets(&settings, &extras, &store, &mut snapshot, tasks.registry);
        let status = Status::restore(
            std::mem::take(&mut snapshot.silences),
            std::mem::take(&mut snapshot.open_alerts),
        );
        let (route, rules) = route_samples(
            &settings,
            AlertingInputs {
                env: extras.env,
                console: extras.console,
                extra_channels: extras.extra_channels,
                store: store.clone(),
                status: status.clone(),
            },
            extras.sample_taps,
            &mut snapshot,
            &mut tasks,
        )?;
        let (monitor, cluster) = watching(
            &settings,
            Watching {
                sink: route.sink,
                store: store.clone(),
                accounts: accounts.clone(),
                dispatch: route.dispatch.clone(),
            },
            &mut snapshot,
            &mut tasks,
        )?;
        let listener = Listener::bind(&settings.server, tasks.registry).await?;
        let admin_listener = Listener::bind_admin(&settings.server, tasks.registry).await?;
        let intake = intake(
            &settings,
            &accounts,
            &monitor,
            route.meeting_alerts,
            tasks.registry,
        );
        let probes = ProbeState {
            monitor: monitor.clone(),
            store: store.clone(),
            cluster,
            metrics: Arc::new(registry),
            shutdown: cancel.clone(),
        };
        let router = public_router(&settings, intake, probes.clone());
        let admin = AdminState {
            status: status.clone(),
            sources: sources(&accounts, &monitor, rules, route.dispatch.clone()),
            store: store.clone(),
            shutdown: cancel.clone(),
        };
        Ok(Application {
            address: listener.address(),
            listener,
            router,
            admin_address: admin_listener.address(),
            admin_listener,
            admin_router: admin_router(&settings, admin, probes),
            status,
            tracker,
            cancel,
            monitor,
            dispatch: route.dispatch,
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

/// The store: PostgreSQL when a database URL is set (several replicas),
/// SQLite in the data directory otherwise (in memory without one), and
/// what it kept.
async fn open_store(
    settings: &Settings,
    registry: &mut Registry,
) -> anyhow::Result<(Store, Snapshot)> {
    let (store, snapshot) = match settings.database_url() {
        Some(url) => {
            Store::open_postgres(
                &settings.store,
                &url,
                settings.secrets.database_password.as_ref(),
                registry,
            )
            .await?
        }
        None => Store::open(&settings.store, registry).await?,
    };
    if !store.is_durable() {
        tracing::warn!(
            "no data directory (store.data_dir): watches, alert state and queued \
             notifications are kept in memory and lost on restart"
        );
    }
    Ok((store, snapshot))
}

/// Each account's budget (Zoom's limits are per account), taking over
/// what the store kept of it.
fn budgets(
    settings: &Settings,
    extras: &Extras,
    store: &Store,
    snapshot: &mut Snapshot,
    registry: &mut Registry,
) -> Vec<(ZoomAccount, Arc<Budget>)> {
    let families = BudgetFamilies::register(registry);
    let mut saved = std::mem::take(&mut snapshot.budgets);
    let clock = extras.quota_clock;
    settings
        .zoom_accounts()
        .into_iter()
        .map(|account| {
            let kept = saved
                .iter()
                .position(|b| b.account == account.account)
                .map(|i| saved.swap_remove(i));
            let budget = account
                .zoom
                .budget_of(account.account.clone(), clock, &families)
                .persisted(store.clone(), kept);
            (account, Arc::new(budget))
        })
        .collect()
}

/// What the watches are built from, besides the settings.
struct Watching {
    sink: Arc<dyn SampleSink>,
    store: Store,
    /// Each account with its budget.
    accounts: Vec<(ZoomAccount, Arc<Budget>)>,
    dispatch: Option<DispatchHandle>,
}

/// The Zoom client, the daily plan and the registry of watches (resumed
/// from the store); with a shared database, the leases and this replica's
/// heartbeat.
fn watching(
    settings: &Settings,
    parts: Watching,
    snapshot: &mut Snapshot,
    tasks: &mut Tasks<'_>,
) -> anyhow::Result<(Monitor, Option<Arc<Cluster>>)> {
    let plan_families = PlanFamilies::register(tasks.registry);
    let client_metrics = ClientMetrics::register(tasks.registry);
    let history = std::mem::take(&mut snapshot.watched);
    let mut accounts = Vec::new();
    for (account, budget) in &parts.accounts {
        let client = Arc::new(ZoomClient::with_metrics(
            account.zoom.client(),
            account.credentials()?,
            budget.clone(),
            &client_metrics,
        )?);
        let planner = Arc::new(
            Planner::of_account(
                settings.polling.plan(),
                account.zoom.daily_share,
                budget.clone(),
                &plan_families,
            )
            // The day's shape from the store's history of watches.
            .with_history(&history, settings.store.retention),
        );
        accounts.push(AccountPolling {
            account: account.account.clone(),
            client,
            planner,
        });
    }
    // Several replicas: the leases decide which meetings this one polls.
    let leases = parts
        .store
        .shared()
        .map(|db| Arc::new(Leases::new(db.clone(), settings.store.lease_ttl)));
    let monitor = Monitor::new(
        MonitorParts {
            accounts,
            sink: parts.sink,
            store: parts.store,
            settings: settings.polling.clone(),
            qss: settings.qss.clone(),
            leases: leases.clone(),
        },
        tasks.tracker.clone(),
        tasks.cancel.clone(),
        tasks.registry,
    );
    monitor.resume(snapshot);
    let cluster = leases.map(|leases| {
        let cluster = Cluster::new(
            leases,
            settings.store.lease_ttl,
            settings.store.heartbeat(),
            tasks.registry,
        );
        cluster.spawn(
            monitor.clone(),
            parts.dispatch,
            parts
                .accounts
                .iter()
                .map(|(_, budget)| budget.clone())
                .collect(),
            tasks.tracker,
            tasks.cancel.clone(),
        );
        tracing::info!(
            replica = cluster.replica(),
            lease_ttl_s = settings.store.lease_ttl.as_secs_f64(),
            "sharing the database with other replicas: polling the meetings whose lease \
             this replica holds"
        );
        cluster
    });
    Ok((monitor, cluster))
}

/// The public listener's router: the webhook endpoint, and for one more
/// release the probes and metrics too (deprecated).
fn public_router(settings: &Settings, intake: IntakeState, probes: ProbeState) -> axum::Router {
    let router = crate::intake::router(intake, settings.server.max_body_bytes);
    if !settings.server.legacy_public_endpoints {
        return router;
    }
    tracing::warn!(
        "server.legacy_public_endpoints is on: /metrics, /healthz and /readyz are also \
         served on the public listener; they move to the admin listener only in the next \
         release: point scrapers and probes at server.admin_listen"
    );
    router.merge(crate::admin::probes::legacy_public(probes))
}

/// The admin surface behind its token.
fn admin_router(settings: &Settings, admin: AdminState, probes: ProbeState) -> axum::Router {
    let auth = AdminAuth::new(settings.secrets.admin_token.as_ref());
    crate::admin::router(admin, auth, probes)
}

/// What the webhook endpoint needs: each account's verifier.
fn intake(
    settings: &Settings,
    accounts: &[(ZoomAccount, Arc<Budget>)],
    monitor: &Monitor,
    meeting_alerts: Option<Arc<dyn MeetingAlertSink>>,
    registry: &mut Registry,
) -> IntakeState {
    let names: Vec<_> = accounts.iter().map(|(a, _)| a.account.clone()).collect();
    let accounts = accounts
        .iter()
        .map(|(account, _)| WebhookAccount {
            account: account.account.clone(),
            // `accounts:` names each account's Zoom id: its events must
            // carry it. A deployment configured as before is not checked.
            zoom_account_id: if settings.accounts.is_empty() {
                None
            } else {
                account.account_id.clone()
            },
            verifier: Verifier::new(
                account.webhook_tokens.clone(),
                settings.webhook.replay_window,
            ),
        })
        .collect();
    IntakeState {
        accounts: Arc::new(WebhookAccounts::new(accounts)),
        monitor: monitor.clone(),
        meeting_alerts,
        webhook_metrics: WebhookMetrics::new(registry, &names),
    }
}

/// What the admin surface shows besides the board: each account's budget
/// and plan, the rules in force, the channels.
fn sources(
    accounts: &[(ZoomAccount, Arc<Budget>)],
    monitor: &Monitor,
    rules: Option<Arc<LiveRules>>,
    dispatch: Option<DispatchHandle>,
) -> Sources {
    let planners = monitor.planners();
    let budgets = accounts
        .iter()
        .filter_map(|(account, budget)| {
            let planner = planners
                .iter()
                .find(|(name, _)| *name == account.account)?
                .1
                .clone();
            Some(BudgetSource {
                budget: budget.clone(),
                planner,
                daily_limit: account.zoom.daily_limit,
                requests_per_second: account.zoom.requests_per_second,
            })
        })
        .collect();
    Sources {
        budgets,
        rules,
        dispatch,
    }
}
