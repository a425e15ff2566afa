//! The `alertmanager` channel against a real Alertmanager (Debian's
//! `prometheus-alertmanager`, started on loopback), checked through its own
//! API with `amtool`.

use std::time::Duration;

use qoswatch_core::alert::{Channel, ChannelSpec};
use serde_json::Value;

use super::super::amtool::{RealAlertmanager, alert_query};
use super::{Running, fast_settings, firing, jill, resolved};

#[tokio::test]
async fn a_real_alertmanager_receives_firing_and_resolved() {
    let alertmanager = RealAlertmanager::start().await;
    let channel = Channel {
        name: "am".into(),
        spec: ChannelSpec::Alertmanager {
            url: format!("{}/", alertmanager.url),
            send_resolved: true,
        },
    };
    let mut settings = fast_settings();
    settings.page_url = Some("https://qoswatch.example.com/".into());
    let running = Running::start(&[channel], None, settings, &Default::default()).await;

    let mut event = firing(Some(jill()), &["am"]);
    // An Alertmanager gets every RESOLVED, even of a rule that sends none.
    event.route.send_resolved = false;
    running.handle.send(event.clone());
    running.handle.drain(Duration::from_secs(5)).await.unwrap();
    let mut alerts = Vec::new();
    qoswatch_testkit::wait_for("the alert in Alertmanager", Duration::from_secs(10), || {
        alerts = alert_query(&alertmanager.url, &["alertname=high-audio-latency"]);
        !alerts.is_empty()
    })
    .await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    let labels = &alert["labels"];
    assert_eq!(labels["source"], "qoswatch");
    assert_eq!(labels["participant"], "Jill Chill");
    assert_eq!(labels["meeting"], "1234567890");
    assert_eq!(labels["topic"], "Weekly sync");
    assert_eq!(labels["location"], "Amsterdam (NL)");
    assert_eq!(labels["severity"], "warning");
    assert_eq!(alert["annotations"]["summary"], "High audio latency");
    assert_eq!(alert["annotations"]["value"], "420 ms");
    assert_eq!(alert["annotations"]["threshold"], "> 300 ms");
    assert_eq!(
        alert["annotations"]["runbook"],
        "https://wiki.example.com/runbooks/audio-latency?a=1&b=2"
    );
    assert_eq!(alert["generatorURL"], "https://qoswatch.example.com/");
    assert_eq!(alert["status"]["state"], "active");
    let starts = chrono::DateTime::parse_from_rfc3339(alert["startsAt"].as_str().unwrap()).unwrap();
    assert_eq!(starts, event.started_at);
    assert_eq!(counter(&running), 1);

    // RESOLVED: Alertmanager no longer lists it as an alert.
    let mut cleared = resolved(&event);
    cleared.at = chrono::Utc::now() - chrono::Duration::seconds(1);
    running.handle.send(cleared);
    running.handle.drain(Duration::from_secs(5)).await.unwrap();
    let mut left: Vec<Value> = Vec::new();
    qoswatch_testkit::wait_for("the alert to resolve", Duration::from_secs(10), || {
        left = alert_query(&alertmanager.url, &["alertname=high-audio-latency"]);
        left.is_empty()
    })
    .await;
    assert_eq!(counter(&running), 2);
    running.shutdown().await;
}

fn counter(running: &Running) -> u64 {
    running.counter("messages_sent_total{kind=\"alertmanager\"}")
}

/// After a restart, an alert still firing on the restored board is sent to
/// Alertmanager again at once, without a new transition.
#[tokio::test]
async fn after_a_restart_a_firing_alert_is_sent_to_alertmanager_again() {
    use prometheus_client::registry::Registry;
    use qoswatch::notify::{Dispatcher, DispatcherSetup, Restored};
    use qoswatch::status::Status;
    use qoswatch::store::Store;
    use tokio_util::sync::CancellationToken;
    use tokio_util::task::TaskTracker;

    let alertmanager = RealAlertmanager::start().await;
    let channel = Channel {
        name: "am".into(),
        spec: ChannelSpec::Alertmanager {
            url: alertmanager.url.clone(),
            send_resolved: true,
        },
    };
    let event = firing(Some(jill()), &["am"]);
    let elsewhere = firing(
        Some(super::super::notify::person(
            "2", "Ann Lee", "Berlin", "Wifi",
        )),
        &["other"],
    );
    let tracker = TaskTracker::new();
    let cancel = CancellationToken::new();
    let _handle = Dispatcher::start(
        DispatcherSetup {
            channels: &[channel],
            smtp: None,
            settings: fast_settings(),
            env: &|_| None,
            console: Box::new(std::io::sink()),
            store: Store::in_memory(&mut Registry::default())
                .await
                .expect("store"),
            restored: Restored {
                status: Status::restore(Vec::new(), vec![event.clone(), elsewhere]),
                ..Restored::default()
            },
        },
        &mut Registry::default(),
        &tracker,
        cancel.clone(),
    )
    .expect("dispatcher starts");
    let mut alerts = Vec::new();
    qoswatch_testkit::wait_for(
        "the resumed alert in Alertmanager",
        Duration::from_secs(10),
        || {
            alerts = alert_query(&alertmanager.url, &[]);
            !alerts.is_empty()
        },
    )
    .await;
    assert_eq!(alerts.len(), 1, "only the alert routed to it: {alerts:?}");
    assert_eq!(alerts[0]["labels"]["participant"], "Jill Chill");
    cancel.cancel();
    tracker.close();
    tracker.wait().await;
}
