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

/// The server in adaptive mode against a simulator making one sample per
/// `MINUTE`, with the quota ample, or under pressure at `per_second`
/// requests a second.
async fn app_with_minutes(name: &str, per_second: Option<u32>) -> TestApp {
    let rules = rules_file(name, RULES);
    let sim = SimConfig {
        sample_period: MINUTE,
        ..SimConfig::default()
    };
    spawn_app_with(sim, |settings| match per_second {
        Some(per_second) => pressed(settings, &rules, per_second),
        None => adaptive(settings, &rules),
    })
    .await
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
    // test_settings' day is one no hour can stretch: the quota is ample.
    let app = app_with_minutes("freshness-ample", None).await;
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
        .metric("qoswatch_poll_interval_seconds{account=\"default\",class=\"calm\"}")
        .await
        .unwrap_or(0.0);
    assert!(
        (calm_interval - MINUTE.as_secs_f64()).abs() < 0.01,
        "{calm_interval}"
    );
    app.stop().await;
}

/// Adaptive settings under pressure: `per_second` requests a second (half
/// of `zoom.requests_per_second`), 90 % of it planned.
fn pressed(settings: &mut Settings, rules: &std::path::Path, per_second: u32) {
    adaptive(settings, rules);
    settings.zoom.requests_per_second = per_second * 2;
    settings.zoom.rate_share = 0.5;
}

/// `n` one-person meetings of calm people, for the pressure.
async fn fillers(app: &TestApp, n: usize) {
    for i in 0..n {
        let meeting = format!("fIlLeR{i:02}00000000000000==");
        app.start_meeting(&meeting, "Filler");
        app.join(&meeting, &format!("{}", 7000 + i), "Filler").await;
    }
}

async fn calm_interval(app: &TestApp) -> f64 {
    app.metric("qoswatch_poll_interval_seconds{account=\"default\",class=\"calm\"}")
        .await
        .unwrap_or(0.0)
}

/// Waits until the calm are stretched to at least `seconds`.
async fn calm_stretched_to(app: &TestApp, seconds: f64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while calm_interval(app).await < seconds {
        assert!(
            Instant::now() < deadline,
            "the calm never stretched to {seconds} s: {}",
            calm_interval(app).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn zoom_s_meeting_alert_polls_the_meeting_at_once_under_pressure() {
    // One request a second for six calm meetings that want 3.3 each: the
    // calm stretch to about 6.7 s (22 intervals).
    let app = app_with_minutes("freshness-alert", Some(1)).await;
    // The meeting of the fixture's meeting.alert, three people, listed.
    let meeting = "4444AAAiAAAAAiAiAiiAii==";
    app.start_meeting(meeting, "My Meeting");
    for (user, name) in [("1001", "Ann"), ("2002", "Bo"), ("3003", "Cy")] {
        app.join(meeting, user, name).await;
    }
    fillers(&app, 5).await;
    calm_stretched_to(&app, 5.0).await;
    let listings_of_meeting = || {
        app.sim
            .log()
            .requests()
            .filter(|r| matches!(&r.endpoint, Endpoint::ListQos { raw_meeting_id } if raw_meeting_id.starts_with("4444")))
            .map(|r| r.arrived_at)
            .collect::<Vec<_>>()
    };
    // Right after one of its listings, Zoom says the meeting has trouble.
    let before = listings_of_meeting().len();
    assert!(
        eventually(Duration::from_secs(15), || listings_of_meeting().len()
            > before)
        .await,
        "the meeting is not listed"
    );
    let alerted = Instant::now();
    let response = app.post_webhook(&fixture("meeting.alert.json")).await;
    assert_eq!(response.status(), 200);
    // Its next listing comes at the fastest pace (one interval after the
    // last, plus the wait for a request slot), not a calm stretch later.
    assert!(
        eventually(Duration::from_secs(15), || listings_of_meeting().len()
            > before + 1)
        .await,
        "never listed again"
    );
    let next = listings_of_meeting()[before + 1];
    let waited = next.saturating_duration_since(alerted);
    assert!(
        waited <= Duration::from_secs(2),
        "listed {waited:?} after Zoom's meeting alert (calm interval {} s)",
        calm_interval(&app).await
    );
    assert_eq!(
        app.metric("qoswatch_poll_early_signals_total{signal=\"meeting_alert\"}")
            .await,
        Some(1.0)
    );
    assert_eq!(app.sim.request_counts().rate_limited, 0);
    app.stop().await;
}

/// When each QoS request for meeting `prefix…` (listed or one by one)
/// arrived at the simulator.
fn polls_of_meeting(app: &TestApp, prefix: &str) -> Vec<Instant> {
    app.sim
        .log()
        .requests()
        .filter(|r| match &r.endpoint {
            Endpoint::ListQos { raw_meeting_id }
            | Endpoint::ParticipantQos { raw_meeting_id, .. } => raw_meeting_id.starts_with(prefix),
            _ => false,
        })
        .map(|r| r.arrived_at)
        .collect()
}

#[tokio::test]
async fn when_the_pressure_eases_a_stretched_participant_is_polled_at_the_fastest_pace_at_once() {
    // 4.5 requests a second planned: 31 calm people want 103, stretched
    // to about 6.9 s (23 intervals); one alone wants 3.3 and is polled
    // every interval.
    let app = app_with_minutes("freshness-eased", Some(5)).await;
    let meeting = "eAsEd0000000000000000000==";
    app.start_meeting(meeting, "Stays on");
    app.join(meeting, "6001", "Staying Sam").await;
    fillers(&app, 30).await;
    calm_stretched_to(&app, 5.0).await;
    // Right after one of Sam's polls, every other meeting ends.
    let before = polls_of_meeting(&app, "eAsEd").len();
    assert!(
        eventually(Duration::from_secs(20), || polls_of_meeting(&app, "eAsEd")
            .len()
            > before)
        .await,
        "Sam is not polled"
    );
    let eased = Instant::now();
    for i in 0..30 {
        let filler = format!("fIlLeR{i:02}00000000000000==");
        let response = app
            .post_webhook(&left_body(&filler, &format!("{}", 7000 + i)))
            .await;
        assert_eq!(response.status(), 200);
    }
    assert!(eventually(Duration::from_secs(10), || app.monitor.active() == 1).await);
    // His next poll comes within a replan (at most a second after the
    // last leave) and an interval, not at the stretched wake.
    assert!(
        eventually(Duration::from_secs(20), || polls_of_meeting(&app, "eAsEd")
            .len()
            > before + 1)
        .await,
        "never polled again"
    );
    let next = polls_of_meeting(&app, "eAsEd")[before + 1];
    let waited = next.saturating_duration_since(eased);
    assert!(
        waited <= Duration::from_secs(3),
        "polled {waited:?} after the pressure eased (calm interval now {} s)",
        calm_interval(&app).await
    );
    assert_eq!(calm_interval(&app).await, MINUTE.as_secs_f64());
    assert_eq!(app.sim.request_counts().rate_limited, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_participant_who_rejoins_shortly_after_leaving_is_polled_as_urgent() {
    // 4.5 requests a second planned: seven calm people at 1.6 s, but one
    // urgent person takes 3.3 and stretches the other six to max_interval.
    let app = app_with_minutes("freshness-rejoin", Some(5)).await;
    let meeting = "rEjOiN000000000000000000==";
    app.start_meeting(meeting, "Flaky line");
    app.join(meeting, "5001", "Dropped Dee").await;
    fillers(&app, 6).await;
    calm_stretched_to(&app, 1.0).await;
    // Dee's call drops; she is back a moment later with a new user_id.
    let response = app.post_webhook(&left_body(meeting, "5001")).await;
    assert_eq!(response.status(), 200);
    assert!(eventually(Duration::from_secs(5), || app.monitor.active() == 6).await);
    let rejoined = Instant::now();
    app.join(meeting, "5002", "Dropped Dee").await;
    // The signal keeps her urgent for 10 intervals: polled at the fastest
    // pace from one interval after the join (no sample exists earlier),
    // about 8 times in 9 intervals. Without it she would be calm after her
    // first sample, polled every 1.6 s: 3 times at most.
    tokio::time::sleep_until(rejoined + MINUTE * 9).await;
    let polls = app.sim.qos_requests_for("5002");
    assert!(
        polls >= 6,
        "{polls} polls of the rejoined participant in 9 intervals (calm interval {} s)",
        calm_interval(&app).await
    );
    assert_eq!(
        app.metric("qoswatch_poll_early_signals_total{signal=\"rejoin\"}")
            .await,
        Some(1.0)
    );
    assert_eq!(app.sim.request_counts().rate_limited, 0);
    app.stop().await;
}

#[tokio::test]
async fn the_plan_follows_the_day_s_shape_from_the_stored_history() {
    use chrono::{TimeDelta, TimeZone, Utc};
    use qoswatch::quota::budget::QuotaClock;
    use qoswatch::startup::Extras;
    use qoswatch::store::{Store, StoreSettings, Write};
    use qoswatch_core::alert::ParticipantKey;
    use qoswatch_core::subject::{StopReason, WatchSubject};

    // A week ago, Wednesday 10:00-11:00 UTC, 100 people were watched; the
    // store has nothing else. Today is Wednesday, 10:00 on the quota clock.
    let today = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap();
    let week_ago = today - TimeDelta::days(7);
    let dir = tempfile::tempdir().expect("data dir");
    let store_settings = StoreSettings {
        data_dir: Some(dir.path().to_owned()),
        // The history is older than the wall clock's week: keep it.
        retention: Duration::from_secs(3650 * 86_400),
        ..StoreSettings::default()
    };
    let mut registry = prometheus_client::registry::Registry::default();
    let (store, _) = Store::open(&store_settings, &mut registry)
        .await
        .expect("store opens");
    for n in 0..100 {
        let key = ParticipantKey::new("hIsToRy0000000000000000==", format!("{}", 9000 + n));
        let subject = WatchSubject::of_key(key.clone());
        store.write(Write::WatchStarted {
            subject: Box::new(subject),
            at: week_ago,
        });
        store
            .write_durably(Write::WatchEnded {
                key,
                reason: StopReason::Left,
                at: week_ago + TimeDelta::hours(1),
            })
            .await
            .expect("written");
    }
    store.close().await;

    let clock = QuotaClock::Accelerated {
        at: today,
        since: Instant::now(),
        speed: 1,
    };
    let data_dir = dir.path().to_owned();
    let app = spawn_app_with_extras(
        SimConfig::default(),
        |settings| {
            settings.store = store_settings.clone();
            settings.store.data_dir = Some(data_dir);
        },
        Extras {
            quota_clock: clock,
            ..Extras::default()
        },
    )
    .await;
    // The rest of today: this hour (6000 participant-minutes a week ago)
    // and 13 quiet ones, each a tenth of the week's average hour
    // (6000 / 168): 6000 x 14 / (6000 + 13 x 3.57) = 13.9 times the flat
    // pace now, to spend what is left where the demand was.
    let pace = app
        .metric_reaches("qoswatch_zoom_budget_day_pace{account=\"default\"}", 2.0)
        .await
        .expect("the pace is published");
    assert!((pace - 13.9).abs() < 0.1, "pace {pace}");
    app.stop().await;
}

#[tokio::test]
async fn a_long_first_answer_saves_the_alert_state_once_not_per_sample() {
    use qoswatch::store::{Store, StoreSettings};
    use qoswatch_core::rules::SavedState;

    // Joined 30 minutes ago: the first answer brings 30 samples, all
    // healthy, each moving the rule's state (its calm run, the last
    // observation). The state goes to the store once for the answer; it
    // went once per sample before (the 10,000-watcher run's queue,
    // BENCHMARKS.md, issue 24).
    let rules = rules_file("freshness-one-save", RULES);
    let sim = SimConfig {
        sample_period: MINUTE,
        history_minutes: 30,
        live_window: 30,
        ..SimConfig::default()
    };
    let dir = tempfile::tempdir().expect("data dir");
    let app = spawn_app_with(sim, |settings| {
        adaptive(settings, &rules);
        settings.store.data_dir = Some(dir.path().to_owned());
    })
    .await;
    let meeting = "oNeSaVe00000000000000000==";
    app.start_meeting(meeting, "Long call");
    app.join(meeting, "6001", "Patient Pat").await;
    assert!(
        app.metric_reaches("qoswatch_samples_total", 30.0)
            .await
            .is_some_and(|samples| samples >= 30.0),
        "the first answer's samples never came"
    );
    // A join is written durably before its answer: everything queued
    // before it is committed by then, and counted.
    app.join(meeting, "6002", "Late Lee").await;
    let writes = app
        .metric("qoswatch_store_writes_total")
        .await
        .unwrap_or(0.0);
    assert!(
        writes < 20.0,
        "{writes} store writes for two joins and one first answer of 30 samples"
    );
    app.stop().await;
    // But it is written: the answer's calm run is in the store for a
    // restart to carry on (no alert transition wrote it).
    let (_, snapshot) = Store::open(
        &StoreSettings {
            data_dir: Some(dir.path().to_owned()),
            ..StoreSettings::default()
        },
        &mut prometheus_client::registry::Registry::default(),
    )
    .await
    .expect("store reopens");
    let pat = snapshot
        .watches
        .iter()
        .find(|w| w.subject.key.user_id == "6001")
        .expect("Pat's watch kept");
    assert!(
        pat.alert_state
            .as_ref()
            .is_some_and(|state| *state != SavedState::default()),
        "the answer's rule state was never saved: {:?}",
        pat.alert_state
    );
}
