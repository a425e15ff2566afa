//! Hot reload against the real file system: the watcher sees a save by
//! rename, rejects an invalid file and keeps the last good rules; SIGHUP
//! reloads too.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use qoswatch::alerting::live_rules::{
    LiveRules, RulesMetrics, spawn_file_watcher, spawn_sighup_reloader,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const ONE_RULE: &str = "rules:\n  - { name: lat, metric: audio_input.latency, above: 150ms }\n";
const TWO_RULES: &str = "rules:\n  - { name: lat, metric: audio_input.latency, above: 150ms }\n  - { name: jit, metric: audio_input.jitter, above: 30ms }\n";
const THREE_RULES: &str = "rules:\n  - { name: lat, metric: audio_input.latency, above: 150ms }\n  - { name: jit, metric: audio_input.jitter, above: 30ms }\n  - { name: cpu, metric: cpu_usage.zoom_max_cpu_usage, above: 80% }\n";
const INVALID: &str = "rules:\n  - { name: lat, metric: audio_input.latncy, above: 7fps }\n";

fn unique_dir(tag: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("qoswatch-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Saves like an editor: write a temporary file, rename it over the target.
fn save_by_rename(path: &Path, text: &str) {
    let temp = path.with_extension("yaml.swp");
    std::fs::write(&temp, text).expect("write temp");
    std::fs::rename(&temp, path).expect("rename");
}

async fn wait_until(what: &str, condition: impl FnMut() -> bool) {
    qoswatch_testkit::wait_for(what, Duration::from_secs(15), condition).await;
}

fn exposition(registry: &Registry) -> String {
    let mut text = String::new();
    encode(&mut text, registry).expect("encode");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_reloads_on_rename_and_keeps_last_good_rules_on_invalid_file() {
    let dir = unique_dir("reload");
    let path = dir.join("rules.yaml");
    std::fs::write(&path, ONE_RULE).expect("write");
    let mut registry = Registry::default();
    let metrics = RulesMetrics::register(&mut registry);
    let live = Arc::new(LiveRules::load(&path, metrics).expect("valid rules"));
    assert_eq!(live.current().len(), 1);
    let tracker = TaskTracker::new();
    let cancel = CancellationToken::new();
    spawn_file_watcher(Arc::clone(&live), &tracker, cancel.clone()).expect("watcher");

    save_by_rename(&path, TWO_RULES);
    wait_until("the new rules", || live.current().len() == 2).await;
    assert_eq!(live.metrics().reload_successes(), 1);

    save_by_rename(&path, INVALID);
    wait_until("the rejection", || live.metrics().reload_failures() == 1).await;
    assert_eq!(live.current().len(), 2, "last good rules stay");
    let text = exposition(&registry);
    assert!(
        text.contains("qoswatch_rules_reload_failures_total 1"),
        "{text}"
    );
    assert!(
        text.contains("qoswatch_rules_reload_success_total 1"),
        "{text}"
    );
    assert!(text.contains("qoswatch_rules_loaded 2"), "{text}");

    // The rejection's messages are the ones check-rules prints.
    let error = live.reload().expect_err("still invalid");
    assert!(
        error
            .to_string()
            .contains("unknown metric `audio_input.latncy`"),
        "{error}"
    );

    // A plain in-place write is seen as well; a second save of the same
    // content is not counted again.
    std::fs::write(&path, THREE_RULES).expect("write");
    wait_until("in-place write", || live.current().len() == 3).await;
    assert_eq!(live.metrics().reload_failures(), 1);

    cancel.cancel();
    tracker.close();
    tokio::time::timeout(Duration::from_secs(5), tracker.wait())
        .await
        .expect("watcher stops on cancel");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads() {
    let dir = unique_dir("sighup");
    let path = dir.join("rules.yaml");
    std::fs::write(&path, ONE_RULE).expect("write");
    let mut registry = Registry::default();
    let live =
        Arc::new(LiveRules::load(&path, RulesMetrics::register(&mut registry)).expect("valid"));
    let tracker = TaskTracker::new();
    let cancel = CancellationToken::new();
    spawn_sighup_reloader(Arc::clone(&live), &tracker, cancel.clone()).expect("signal handler");
    // No file watcher here: only the signal can make the change visible.
    std::fs::write(&path, TWO_RULES).expect("write");
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    wait_until("the SIGHUP reload", || live.current().len() == 2).await;
    cancel.cancel();
    tracker.close();
    tokio::time::timeout(Duration::from_secs(5), tracker.wait())
        .await
        .expect("reloader stops on cancel");
    std::fs::remove_dir_all(&dir).ok();
}
