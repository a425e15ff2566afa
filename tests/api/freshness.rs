//! Freshness first (issue 24): with the quota ample every watched
//! participant is polled at `polling.interval`, so a calm participant's
//! degradation is found within one interval; the calm stretch only under
//! pressure. Counted and timed at the simulator, alerts read from the
//! running server's `/api/v1/alerts`.

use std::time::Duration;

use qoswatch::config::{PollingMode, Settings};
use qoswatch_zoomsim::{Degradation, Endpoint, SimConfig, Target};
use tokio::time::Instant;

use crate::helpers::*;

/// One simulated minute, and the fastest interval: Zoom's sample minute.
const MINUTE: Duration = Duration::from_millis(300);
const RULES: &str =
    "rules:\n  - name: audio-latency\n    metric: audio_input.latency\n    above: 150ms\n";

fn adaptive(settings: &mut Settings, rules: &std::path::Path) {
    settings.polling.mode = PollingMode::Adaptive;
    settings.polling.interval = MINUTE;
    // The stretch the old default took after four calm answers.
    settings.polling.max_interval = MINUTE * 16;
    settings.polling.max_staleness = MINUTE * 32;
    settings.polling.stale_after = MINUTE * 60;
    settings.rules.file = Some(rules.to_owned());
    settings.alerts.dispatch.group_window = Duration::ZERO;
}

/// When each listing of `meeting` arrived at the simulator.
fn listings(app: &TestApp) -> Vec<Instant> {
    app.sim
        .log()
        .requests()
        .filter(|r| matches!(r.endpoint, Endpoint::ListQos { .. }))
        .map(|r| r.arrived_at)
        .collect()
}

async fn firing_for(app: &TestApp, user_id: &str) -> bool {
    let (status, alerts) = app.admin("GET", "/api/v1/alerts?active=true", None).await;
    assert_eq!(status, 200, "{alerts}");
    alerts
        .as_array()
        .is_some_and(|alerts| alerts.iter().any(|a| a.to_string().contains(user_id)))
}

#[tokio::test]
async fn a_calm_participant_s_degradation_is_found_within_one_interval_when_the_quota_is_ample() {
    let rules = rules_file("freshness-ample", RULES);
    let sim = SimConfig {
        sample_period: MINUTE,
        ..SimConfig::default()
    };
    // test_settings' day is one no hour can stretch: the quota is ample.
    let app = spawn_app_with(sim, |settings| adaptive(settings, &rules)).await;
    let meeting = "fReShNeSs00000000000000==";
    app.start_meeting(meeting, "Three calm people");
    // The third participant's Wi-Fi turns bad at their 20th sample, after
    // a long calm spell in which the old default stretched them to
    // max_interval (16 minutes here).
    const BAD_FROM: u32 = 20;
    app.sim.add_degradation(Degradation::bad_wifi(
        Target::participant("3003"),
        BAD_FROM..10_000,
    ));
    let joined = Instant::now();
    for (user, name) in [("1001", "Ann"), ("2002", "Bo"), ("3003", "Cy")] {
        app.join(meeting, user, name).await;
    }
    // The bad sample exists from BAD_FROM minutes after the join at the
    // latest one minute later; until then nobody fires.
    let bad_sample_by = joined + MINUTE * (BAD_FROM + 1);
    let mut found = None;
    while Instant::now() < bad_sample_by + MINUTE * 40 {
        if firing_for(&app, "3003").await {
            found = Some(Instant::now());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let found = found.expect("the degradation was never alerted");
    let delay = found.saturating_duration_since(bad_sample_by);
    assert!(
        found >= joined + MINUTE * BAD_FROM,
        "fired before the degradation"
    );
    // One interval, and slack for two busy cores.
    assert!(
        delay <= MINUTE + Duration::from_millis(900),
        "found {delay:?} after the bad sample: more than one interval ({MINUTE:?})"
    );
    // Every listing of the calm spell followed the one before within about
    // an interval: nobody was stretched while the quota was ample.
    let times = listings(&app);
    let calm_spell: Vec<&Instant> = times
        .iter()
        .filter(|t| **t > joined + MINUTE * 3 && **t < joined + MINUTE * BAD_FROM)
        .collect();
    assert!(calm_spell.len() >= 10, "{} listings", calm_spell.len());
    let widest = calm_spell
        .windows(2)
        .map(|w| w[1].saturating_duration_since(*w[0]))
        .max()
        .unwrap_or_default();
    assert!(
        widest <= MINUTE * 4,
        "a calm spell's listings {widest:?} apart, with the quota ample"
    );
    assert_eq!(app.sim.request_counts().rate_limited, 0);
    let calm_interval = app
        .metric("qoswatch_poll_interval_seconds{class=\"calm\"}")
        .await
        .unwrap_or(0.0);
    assert!(
        (calm_interval - MINUTE.as_secs_f64()).abs() < 0.01,
        "{calm_interval}"
    );
    app.stop().await;
}
