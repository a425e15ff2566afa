//! The rules in force while the server runs, reloaded without a restart
//! when the file changes or on SIGHUP. An invalid new file is rejected with
//! the same messages `check-rules` prints, and the last good rules stay.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use notify_debouncer_full::notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use qoswatch_core::rules::{Diagnostics, RuleSet};

/// How long the watcher waits for a burst of file events to settle.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Reload counters and the number of loaded rules.
#[derive(Debug, Clone, Default)]
pub struct RulesMetrics {
    reload_success: Counter,
    reload_failures: Counter,
    loaded_rules: Gauge,
}

impl RulesMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "qoswatch_rules_reload_success",
            "Rule file reloads that took effect",
            metrics.reload_success.clone(),
        );
        registry.register(
            "qoswatch_rules_reload_failures",
            "Rule file reloads rejected (the last good rules stayed in force)",
            metrics.reload_failures.clone(),
        );
        registry.register(
            "qoswatch_rules_loaded",
            "Enabled rules currently in force",
            metrics.loaded_rules.clone(),
        );
        metrics
    }

    pub fn reload_failures(&self) -> u64 {
        self.reload_failures.get()
    }

    pub fn reload_successes(&self) -> u64 {
        self.reload_success.get()
    }

    pub fn loaded_rules(&self) -> i64 {
        self.loaded_rules.get()
    }
}

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The file's content is what was last loaded (or last rejected).
    Unchanged,
    /// New rules are in force.
    Reloaded { rules: usize },
}

/// The last reload that did something (new rules, or a rejected file),
/// for the status page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReloadReport {
    pub at: chrono::DateTime<chrono::Utc>,
    pub ok: bool,
    /// `3 rules in force`, or the first problem found.
    pub result: String,
}

impl ReloadReport {
    fn of(outcome: &Result<ReloadOutcome, Diagnostics>) -> Option<Self> {
        let result = match outcome {
            Ok(ReloadOutcome::Unchanged) => return None,
            Ok(ReloadOutcome::Reloaded { rules }) => format!("{rules} rules in force"),
            Err(diagnostics) => {
                let text = diagnostics.to_string();
                let first = text.lines().next().unwrap_or_default();
                format!("rejected, the last good rules stay: {first}")
            }
        };
        Some(Self {
            at: chrono::Utc::now(),
            ok: outcome.is_ok(),
            result,
        })
    }
}

#[derive(Debug)]
struct LastAttempt {
    hash: [u8; 32],
    rejected: Option<Diagnostics>,
}

/// The current rule set of the server, swapped atomically on reload.
#[derive(Debug)]
pub struct LiveRules {
    path: PathBuf,
    current: ArcSwap<RuleSet>,
    /// Announces every rule set put in force, for parts that must follow
    /// (the dispatcher's channels).
    changes: tokio::sync::watch::Sender<Arc<RuleSet>>,
    last: Mutex<LastAttempt>,
    last_report: Mutex<Option<ReloadReport>>,
    metrics: RulesMetrics,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl LiveRules {
    /// Loads the file once; start-up fails on an invalid file.
    pub fn load(path: impl Into<PathBuf>, metrics: RulesMetrics) -> Result<Self, Diagnostics> {
        let path = path.into();
        let name = path.display().to_string();
        let bytes = std::fs::read(&path).map_err(|error| {
            Diagnostics::whole_file(&name, format!("cannot read the rules file: {error}"))
        })?;
        let rules = RuleSet::from_bytes(&name, &bytes)?;
        metrics.loaded_rules.set(rules.len() as i64);
        let rules = Arc::new(rules);
        let (changes, _) = tokio::sync::watch::channel(rules.clone());
        Ok(Self {
            path,
            current: ArcSwap::new(rules),
            changes,
            last: Mutex::new(LastAttempt {
                hash: digest(&bytes),
                rejected: None,
            }),
            last_report: Mutex::new(None),
            metrics,
        })
    }

    /// The rules in force now. Cheap; call it per evaluation.
    pub fn current(&self) -> Arc<RuleSet> {
        self.current.load_full()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A receiver that sees every rule set put in force by a reload.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Arc<RuleSet>> {
        self.changes.subscribe()
    }

    pub fn metrics(&self) -> &RulesMetrics {
        &self.metrics
    }

    /// Re-reads the file. Unchanged content is a no-op; an invalid file is
    /// rejected (counted once per distinct content) and the rules in force stay.
    pub fn reload(&self) -> Result<ReloadOutcome, Diagnostics> {
        let name = self.path.display().to_string();
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) => {
                self.metrics.reload_failures.inc();
                return Err(Diagnostics::whole_file(
                    &name,
                    format!("cannot read the rules file: {error}"),
                ));
            }
        };
        let hash = digest(&bytes);
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.hash == hash {
            return match &last.rejected {
                Some(diagnostics) => Err(diagnostics.clone()),
                None => Ok(ReloadOutcome::Unchanged),
            };
        }
        last.hash = hash;
        match RuleSet::from_bytes(&name, &bytes) {
            Ok(rules) => {
                let count = rules.len();
                let rules = Arc::new(rules);
                self.current.store(rules.clone());
                self.changes.send_replace(rules);
                last.rejected = None;
                self.metrics.reload_success.inc();
                self.metrics.loaded_rules.set(count as i64);
                Ok(ReloadOutcome::Reloaded { rules: count })
            }
            Err(diagnostics) => {
                last.rejected = Some(diagnostics.clone());
                self.metrics.reload_failures.inc();
                Err(diagnostics)
            }
        }
    }

    /// The last reload that changed something or was rejected.
    pub fn last_reload(&self) -> Option<ReloadReport> {
        self.last_report
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Reloads and logs the outcome once, here at the boundary.
    fn reload_and_log(&self, trigger: &'static str) {
        let outcome = self.reload();
        if let Some(report) = ReloadReport::of(&outcome) {
            *self
                .last_report
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(report);
        }
        match outcome {
            Ok(ReloadOutcome::Unchanged) => {}
            Ok(ReloadOutcome::Reloaded { rules }) => {
                info!(trigger, path = %self.path.display(), rules, "rules reloaded");
            }
            Err(diagnostics) => {
                warn!(
                    trigger,
                    path = %self.path.display(),
                    problems = %diagnostics.to_string().trim_end(),
                    "rules reload rejected; the last good rules stay in force"
                );
            }
        }
    }
}

/// The file watcher could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch the directory of the rules file {path}: {source}")]
pub struct WatchError {
    path: String,
    #[source]
    source: notify_debouncer_full::notify::Error,
}

/// Watches the rules file's parent directory (editors save by rename, which
/// blinds a watch on the file itself) and reloads when an event names the
/// file. The task ends when `cancel` fires.
pub fn spawn_file_watcher(
    live: Arc<LiveRules>,
    tracker: &TaskTracker,
    cancel: CancellationToken,
) -> Result<(), WatchError> {
    let path = live.path().to_path_buf();
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path.file_name().map(|n| n.to_os_string());
    let watch_error = |source| WatchError {
        path: path.display().to_string(),
        source,
    };
    // Capacity 1: a burst of changes collapses into one pending reload.
    let (changed_tx, mut changed_rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut debouncer =
        new_debouncer(
            DEBOUNCE,
            None,
            move |result: DebounceEventResult| match result {
                Ok(events) => {
                    // Kubernetes updates a mounted ConfigMap by swapping the
                    // `..data` symlink: no event names the file itself. The
                    // content hash makes a spurious reload a no-op.
                    let ours = events.iter().any(|event| {
                        event.paths.iter().any(|p| {
                            let name = p.file_name().map(|n| n.to_os_string());
                            name == file_name || name.as_deref() == Some("..data".as_ref())
                        })
                    });
                    if ours {
                        let _ = changed_tx.try_send(());
                    }
                }
                Err(errors) => {
                    for error in errors {
                        warn!(error = %error, "rules file watcher error");
                    }
                }
            },
        )
        .map_err(watch_error)?;
    debouncer
        .watch(&directory, RecursiveMode::NonRecursive)
        .map_err(watch_error)?;
    tracker.spawn(async move {
        // The debouncer stops watching when dropped: keep it in the task.
        let _debouncer = debouncer;
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                changed = changed_rx.recv() => {
                    if changed.is_none() {
                        break;
                    }
                    live.reload_and_log("file change");
                }
            }
        }
    });
    Ok(())
}

/// Reloads the rules on SIGHUP. The task ends when `cancel` fires.
pub fn spawn_sighup_reloader(
    live: Arc<LiveRules>,
    tracker: &TaskTracker,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tracker.spawn(async move {
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                received = hangup.recv() => {
                    if received.is_none() {
                        break;
                    }
                    live.reload_and_log("SIGHUP");
                }
            }
        }
    });
    Ok(())
}
