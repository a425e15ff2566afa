//! The alerting half of start-up: the rules in force, the dispatcher, hot
//! reload, Zoom's meeting alerts, and where the watchers' samples go.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::EnvFn;
use crate::alerting::live_rules::{
    LiveRules, RulesMetrics, spawn_file_watcher, spawn_sighup_reloader,
};
use crate::alerting::settings::ZoomMeetingAlerts;
use crate::alerting::silences::spawn_silence_keeper;
use crate::alerting::{RulesSink, ZoomAlertRelay};
use crate::config::Settings;
use crate::intake::MeetingAlertSink;
use crate::notify::{DispatchHandle, Dispatcher, DispatcherSetup, Restored};
use crate::status::{Status, StatusTap};
use crate::store::{Snapshot, Store};
use crate::watch::{FanOutSink, LoggingSink, SampleSink};
use qoswatch_core::alert::Channel;
use qoswatch_core::rules::RuleSet;

/// The metric registry and the owners of every background task, handed to
/// each part that start-up builds.
pub(super) struct Tasks<'a> {
    pub(super) registry: &'a mut Registry,
    pub(super) tracker: &'a TaskTracker,
    pub(super) cancel: &'a CancellationToken,
}

/// What exists only when a rules file is configured.
struct Alerting {
    sink: RulesSink,
    dispatch: DispatchHandle,
    relay: Option<Arc<ZoomAlertRelay>>,
    rules: Arc<LiveRules>,
}

/// What the alerting parts are built from, besides the settings.
pub(super) struct AlertingInputs {
    pub(super) env: EnvFn,
    pub(super) console: Box<dyn Write + Send>,
    /// The embedder's channels, served beside the rules file's.
    pub(super) extra_channels: Vec<Channel>,
    pub(super) store: Store,
    pub(super) status: Status,
}

/// Where the watchers' samples go, and the parts that exist only with rules.
pub(super) struct SampleRoute {
    pub(super) sink: Arc<dyn SampleSink>,
    pub(super) dispatch: Option<DispatchHandle>,
    pub(super) meeting_alerts: Option<Arc<dyn MeetingAlertSink>>,
}

/// The rules in force (when a rules file is configured) and where every
/// watch's samples go: through the rules to the dispatcher, to the status
/// board, to the embedder's taps. Also starts the silence keeper.
pub(super) fn route_samples(
    settings: &Settings,
    inputs: AlertingInputs,
    mut taps: Vec<Arc<dyn SampleSink>>,
    snapshot: &mut Snapshot,
    tasks: &mut Tasks<'_>,
) -> anyhow::Result<(SampleRoute, Option<Arc<LiveRules>>)> {
    let status = inputs.status.clone();
    let store = inputs.store.clone();
    let alerting = build_alerting(settings, inputs, snapshot, tasks)?;
    let rules = alerting.as_ref().map(|a| a.rules.clone());
    taps.push(Arc::new(StatusTap::new(status.clone())));
    let route = sample_route(alerting, taps, tasks.registry);
    spawn_silence_keeper(
        status,
        route.dispatch.clone(),
        store,
        settings.store.retention,
        tasks.tracker,
        tasks.cancel.clone(),
    );
    Ok((route, rules))
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
        Some(alerting) => {
            sinks.push(Arc::new(alerting.sink));
            meeting_alerts = alerting.relay.map(|r| r as Arc<dyn MeetingAlertSink>);
            dispatch = Some(alerting.dispatch);
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
fn build_alerting(
    settings: &Settings,
    inputs: AlertingInputs,
    snapshot: &mut Snapshot,
    tasks: &mut Tasks<'_>,
) -> anyhow::Result<Option<Alerting>> {
    let zoom_alerts = &settings.alerts.zoom_meeting_alerts;
    let Some(path) = &settings.rules.file else {
        without_rules(zoom_alerts, snapshot)?;
        return Ok(None);
    };
    let live = LiveRules::load(path, RulesMetrics::register(tasks.registry))
        .map_err(|diagnostics| anyhow::anyhow!("invalid rules file:\n{diagnostics}"))?;
    let live = Arc::new(live);
    let rules = live.current();
    let channels = channels_with(&rules, &inputs.extra_channels);
    let dispatch = Dispatcher::start(
        DispatcherSetup {
            channels: &channels,
            smtp: settings.alerts.smtp.clone(),
            settings: settings.alerts.dispatch.clone(),
            env: &*inputs.env,
            console: inputs.console,
            store: inputs.store.clone(),
            restored: Restored {
                unrouted: std::mem::take(&mut snapshot.unrouted),
                grouped: std::mem::take(&mut snapshot.grouped),
                outbox: std::mem::take(&mut snapshot.outbox),
                status: inputs.status.clone(),
            },
        },
        tasks.registry,
        tasks.tracker,
        tasks.cancel.clone(),
    )
    .context("cannot set up the notification channels")?;
    tracing::info!(
        path = %path.display(),
        rules = rules.len(),
        channels = rules.channels().len(),
        "rules loaded"
    );
    check_zoom_alert_channels(zoom_alerts, &channels)?;
    spawn_file_watcher(live.clone(), tasks.tracker, tasks.cancel.clone())
        .context("cannot watch the rules file for changes")?;
    spawn_sighup_reloader(live.clone(), tasks.tracker, tasks.cancel.clone())
        .context("cannot listen for SIGHUP")?;
    let extra_names: Vec<String> = inputs
        .extra_channels
        .iter()
        .map(|c| c.name.clone())
        .collect();
    follow_channel_changes(
        &live,
        dispatch.clone(),
        inputs.env,
        inputs.extra_channels,
        tasks,
    );
    let relay = zoom_alerts.enabled.then(|| {
        let settings = with_extra_channels(zoom_alerts, &extra_names);
        Arc::new(ZoomAlertRelay::new(
            settings,
            dispatch.clone(),
            tasks.registry,
        ))
    });
    let sink = RulesSink::new(live.clone(), dispatch.clone(), extra_names, tasks.registry);
    Ok(Some(Alerting {
        sink,
        dispatch,
        relay,
        rules: live,
    }))
}

/// Without a rules file: queued messages wait, and Zoom's meeting alerts
/// have no channel to go to.
fn without_rules(zoom_alerts: &ZoomMeetingAlerts, snapshot: &Snapshot) -> anyhow::Result<()> {
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
    Ok(())
}

/// Every channel Zoom's meeting alerts name must exist.
fn check_zoom_alert_channels(
    zoom_alerts: &ZoomMeetingAlerts,
    channels: &[Channel],
) -> anyhow::Result<()> {
    if !zoom_alerts.enabled {
        return Ok(());
    }
    for name in &zoom_alerts.channels {
        if !channels.iter().any(|c| &c.name == name) {
            anyhow::bail!(
                "alerts.zoom_meeting_alerts.channels names `{name}`, which the rules file does not define"
            );
        }
    }
    Ok(())
}

/// Zoom's meeting alerts go to the embedder's channels too.
fn with_extra_channels(zoom_alerts: &ZoomMeetingAlerts, extra: &[String]) -> ZoomMeetingAlerts {
    let mut settings = zoom_alerts.clone();
    for name in extra {
        if !settings.channels.contains(name) {
            settings.channels.push(name.clone());
        }
    }
    settings
}

/// The rules file's channels plus the embedder's extra ones: what the
/// dispatcher serves, at start-up and after every reload.
fn channels_with(rules: &RuleSet, extra: &[Channel]) -> Vec<Channel> {
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
    tasks: &Tasks<'_>,
) {
    let mut changes = live.subscribe();
    let mut channels = channels_with(&live.current(), &extra_channels);
    let cancel = tasks.cancel.clone();
    tasks.tracker.spawn(async move {
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
