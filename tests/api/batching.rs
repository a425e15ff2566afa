//! Adaptive polling end to end: meetings listed page by page where that is
//! cheaper, Zoom's list quirks, the fallback to the list, adaptive
//! intervals and the daily plan, all counted at the simulator.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use qoswatch::config::{PollingMode, Settings};
use qoswatch::quota::budget::QuotaClock;
use qoswatch::startup::Extras;
use qoswatch_zoomsim::{Degradation, Endpoint, Fault, SimConfig, Target};
use tokio::time::Instant;

use crate::helpers::*;

const MEETING: &str = "bAtChMeEtInG0000000000==";
const WAIT: Duration = Duration::from_secs(15);

fn adaptive(settings: &mut Settings) {
    settings.polling.mode = PollingMode::Adaptive;
    // test_settings gives a day no hour can stretch; the daily plan's own
    // test brings an accelerated day of its own.
    settings.polling.interval = Duration::from_millis(200);
    settings.polling.max_interval = Duration::from_millis(1600);
    settings.polling.max_staleness = Duration::from_secs(4);
}

fn key(user_id: &str) -> qoswatch_core::alert::ParticipantKey {
    qoswatch_core::alert::ParticipantKey::new(MEETING, user_id)
}

fn list_requests(app: &TestApp) -> Vec<qoswatch_zoomsim::RecordedRequest> {
    app.sim
        .log()
        .requests()
        .filter(|r| matches!(r.endpoint, Endpoint::ListQos { .. }))
        .cloned()
        .collect()
}

fn has_page_token(request: &qoswatch_zoomsim::RecordedRequest) -> bool {
    request
        .raw_query
        .as_deref()
        .is_some_and(|q| q.contains("next_page_token=") && !q.contains("next_page_token=&"))
}

#[tokio::test]
async fn a_meeting_with_many_watched_participants_is_listed_page_by_page() {
    let app = spawn_app_with(SimConfig::default(), adaptive).await;
    app.start_meeting(MEETING, "All hands");
    for n in 0..25 {
        app.join(MEETING, &format!("{}", 1000 + n), "Someone").await;
    }
    assert!(eventually(WAIT, || app.monitor.active() == 25).await);
    // 25 participants on pages of 10: three pages a round, the later two
    // asked for with the token of the one before.
    assert!(
        app.sim
            .wait_until(
                |log| log
                    .requests()
                    .filter(|r| matches!(r.endpoint, Endpoint::ListQos { .. }))
                    .count()
                    >= 9,
                WAIT
            )
            .await
    );
    let lists = list_requests(&app);
    let first_pages = lists.iter().filter(|r| !has_page_token(r)).count();
    let later_pages = lists.iter().filter(|r| has_page_token(r)).count();
    assert!(first_pages >= 2, "{first_pages} listings");
    assert!(
        later_pages >= 2 * (first_pages - 1),
        "{first_pages} first pages, {later_pages} later ones"
    );
    for request in &lists {
        let query = request.raw_query.as_deref().unwrap_or("");
        assert!(
            query.contains("type=live") && query.contains("page_size=10"),
            "{query}"
        );
    }
    assert_eq!(
        app.sim.request_counts().participant_qos,
        0,
        "nobody asked for alone: the list is cheaper for everybody"
    );
    // Every participant's samples arrive through the pages.
    let samples = app
        .metric_reaches("qoswatch_samples_total", 25.0)
        .await
        .unwrap_or(0.0);
    assert!(samples >= 25.0, "{samples} samples");
    let listed = app
        .metric("qoswatch_zoom_qos_requests_total{endpoint=\"list\"}")
        .await
        .unwrap_or(0.0);
    assert!(listed >= 9.0, "{listed}");
    app.stop().await;
}

#[tokio::test]
async fn a_lone_participant_is_polled_on_its_own() {
    let app = spawn_app_with(SimConfig::default(), adaptive).await;
    app.start_meeting(MEETING, "One on one");
    app.join(MEETING, "16778240", "Jill Chill").await;
    assert!(app.wait_for_polls("16778240", 3).await);
    assert_eq!(app.sim.request_counts().list_qos, 0);
    app.stop().await;
}

#[tokio::test]
async fn an_expired_page_token_restarts_the_listing_and_nobody_is_dropped() {
    let sim = SimConfig {
        page_token_lifetime: Duration::ZERO,
        ..SimConfig::default()
    };
    let app = spawn_app_with(sim, adaptive).await;
    app.start_meeting(MEETING, "All hands");
    for n in 0..15 {
        app.join(MEETING, &format!("{}", 1000 + n), "Someone").await;
    }
    // Every second page is refused (code 300): qoswatch lists again from
    // the first page instead of giving up.
    assert!(
        app.sim
            .wait_until(
                |log| {
                    let lists: Vec<_> = log
                        .requests()
                        .filter(|r| matches!(r.endpoint, Endpoint::ListQos { .. }))
                        .collect();
                    lists.windows(2).any(|pair| {
                        pair[0].status == 400 && has_page_token(pair[0]) && !has_page_token(pair[1])
                    })
                },
                WAIT
            )
            .await,
        "no listing started again after a refused page token"
    );
    // A refused token is no reason to stop watching anybody.
    assert!(app.wait_for_lists(6).await);
    assert_eq!(app.monitor.active(), 15);
    app.stop().await;
}

#[tokio::test]
async fn a_participant_missing_from_the_list_keeps_its_watch_until_it_goes_stale() {
    let app = spawn_app_with(SimConfig::default(), |settings| {
        adaptive(settings);
        settings.polling.stale_after = Duration::from_secs(3);
    })
    .await;
    app.start_meeting(MEETING, "Team");
    for n in 0..3 {
        app.join(MEETING, &format!("{}", 1000 + n), "Someone").await;
    }
    // Zoom lists nobody by this id: a webhook for a participant it does not show.
    let response = app
        .post_webhook(&joined_body(MEETING, "4040", "Ghost"))
        .await;
    assert_eq!(response.status(), 200);
    assert!(app.wait_for_lists(3).await);
    assert!(
        app.monitor.is_watching(&key("4040")),
        "kept while not stale"
    );
    let started = Instant::now();
    assert!(eventually(WAIT, || !app.monitor.is_watching(&key("4040"))).await);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "it should have stayed until stale_after"
    );
    assert_eq!(app.monitor.active(), 3, "the others stay");
    app.stop().await;
}

#[tokio::test]
async fn a_listing_that_finds_the_meeting_over_stops_its_watches() {
    let app = spawn_app_with(SimConfig::default(), adaptive).await;
    app.start_meeting(MEETING, "Team");
    for n in 0..4 {
        app.join(MEETING, &format!("{}", 1000 + n), "Someone").await;
    }
    assert!(app.wait_for_lists(2).await);
    // The meeting ends at Zoom without a webhook: the list answers 3001.
    app.sim.end_meeting(MEETING).expect("ended");
    assert!(eventually(WAIT, || app.monitor.active() == 0).await);
    let late = app
        .post_webhook(&joined_body(MEETING, "1009", "Late"))
        .await;
    assert_eq!(late.status(), 200);
    assert!(
        !app.monitor.is_watching(&key("1009")),
        "a join for a meeting Zoom said is over starts nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_refused_participant_id_falls_back_to_the_list() {
    let app = spawn_app_with(SimConfig::default(), adaptive).await;
    app.start_meeting(MEETING, "One on one");
    app.join(MEETING, "16778240", "Jill Chill").await;
    assert!(app.wait_for_polls("16778240", 1).await);
    app.sim.push_fault(Fault::Refusal {
        status: 400,
        code: 300,
        message: "Invalid participant id.".into(),
    });
    assert!(app.wait_for_lists(3).await, "no listing after the refusal");
    assert!(app.monitor.is_watching(&key("16778240")));
    app.stop().await;
}

/// Requests per participant in `users`, one by one and listed, at the simulator.
fn polls_of(app: &TestApp, user_id: &str) -> usize {
    app.sim.qos_requests_for(user_id)
}

#[tokio::test]
async fn under_pressure_a_degraded_participant_keeps_its_pace_and_a_healthy_one_stretches() {
    let rules = std::env::temp_dir().join(format!(
        "qoswatch-batching-{}-rules.yaml",
        std::process::id()
    ));
    std::fs::write(
        &rules,
        "rules:\n  - name: audio-latency\n    metric: audio_input.latency\n    above: 150ms\n",
    )
    .expect("rules");
    let app = spawn_app_with(SimConfig::default(), |settings| {
        adaptive(settings);
        settings.rules.file = Some(rules.clone());
        // 6.5 requests a second (90 % of 80 % of 9) for two participants who want
        // 5 each: the calm one stretches, the degraded one keeps its pace.
        // With the quota ample both would be polled every interval
        // (freshness.rs).
        settings.zoom.requests_per_second = 9;
    })
    .await;
    // Two one-person meetings: each polled on its own.
    app.start_meeting(MEETING, "Calm");
    app.start_meeting("dEgRaDeD00000000000000==", "Bad wifi");
    app.sim.add_degradation(Degradation::bad_wifi(
        Target::participant("2002"),
        0..10_000,
    ));
    app.join(MEETING, "1001", "Calm Carl").await;
    app.join("dEgRaDeD00000000000000==", "2002", "Wobbly Wendy")
        .await;
    let deadline = Instant::now() + Duration::from_secs(6);
    assert!(eventually(WAIT, || polls_of(&app, "2002") >= 20).await);
    tokio::time::sleep_until(deadline).await;
    let (calm, degraded) = (polls_of(&app, "1001"), polls_of(&app, "2002"));
    assert!(
        degraded >= 2 * calm,
        "degraded {degraded} polls, calm {calm}: the calm should stretch"
    );
    assert!(calm >= 3, "the calm one is still polled: {calm}");
    let calm_interval = app
        .metric("qoswatch_poll_interval_seconds{account=\"default\",class=\"calm\"}")
        .await
        .unwrap_or(0.0);
    assert!(
        calm_interval > 0.4 && calm_interval <= 1.6,
        "the calm stretch, within max_interval: {calm_interval}"
    );
    let urgent_interval = app
        .metric("qoswatch_poll_interval_seconds{account=\"default\",class=\"urgent\"}")
        .await
        .unwrap_or(0.0);
    assert!((urgent_interval - 0.2).abs() < 0.01, "{urgent_interval}");
    app.stop().await;
}

#[tokio::test]
async fn the_daily_plan_makes_the_quota_last_until_midnight_without_a_429() {
    // A quota day that ends 12 real seconds from now: 2 quota minutes at
    // 10x. 120 requests for the day, the simulator refuses the 121st.
    let allowance = 120;
    let sim = SimConfig {
        daily_limit: Some(allowance),
        ..SimConfig::default()
    };
    let clock = QuotaClock::Accelerated {
        at: Utc.with_ymd_and_hms(2026, 11, 30, 23, 58, 0).unwrap(),
        since: Instant::now(),
        speed: 10,
    };
    let app = spawn_app_with_extras(
        sim,
        |settings| {
            adaptive(settings);
            settings.zoom.daily_limit = allowance;
            settings.zoom.daily_share = 1.0;
        },
        Extras {
            quota_clock: clock,
            ..Extras::default()
        },
    )
    .await;
    let started = Instant::now();
    // Eight one-person meetings at 5 requests a second each: 40 a second
    // wanted, 10 affordable.
    for n in 0..8 {
        let meeting = format!("dAyPlAn{n:02}00000000000000==");
        app.start_meeting(&meeting, "Daily");
        app.join(&meeting, &format!("{}", 3000 + n), "Someone")
            .await;
    }
    let until_midnight = Duration::from_secs(11);
    tokio::time::sleep_until(started + until_midnight * 2 / 3).await;
    let two_thirds = app.sim.request_counts().qos();
    tokio::time::sleep_until(started + until_midnight).await;
    let counts = app.sim.request_counts();
    assert_eq!(counts.rate_limited, 0, "qoswatch caused a 429");
    assert!(
        counts.qos() <= u64::from(allowance),
        "{} requests for a quota of {allowance}",
        counts.qos()
    );
    assert!(
        counts.qos() > two_thirds,
        "polling stopped before midnight: {two_thirds} by two thirds, {} at the end",
        counts.qos()
    );
    let forecast = app
        .metric("qoswatch_zoom_budget_forecast_today{account=\"default\"}")
        .await
        .unwrap_or(f64::MAX);
    assert!(forecast <= f64::from(allowance), "forecast {forecast}");
    app.stop().await;
}

#[tokio::test]
async fn under_pressure_every_participant_is_still_polled() {
    // 1 request a second for 8 one-person meetings that want 5 each.
    let app = spawn_app_with(SimConfig::default(), |settings| {
        adaptive(settings);
        settings.zoom.requests_per_second = 2;
        settings.zoom.rate_share = 0.5;
    })
    .await;
    for n in 0..8 {
        let meeting = format!("pReSsUrE{n:02}0000000000000==");
        app.start_meeting(&meeting, "Busy");
        app.join(&meeting, &format!("{}", 4000 + n), "Someone")
            .await;
    }
    let everybody_twice = || (0..8).all(|n| polls_of(&app, &format!("{}", 4000 + n)) >= 2);
    assert!(
        eventually(Duration::from_secs(40), everybody_twice).await,
        "someone starved: {:?}",
        (0..8)
            .map(|n| polls_of(&app, &format!("{}", 4000 + n)))
            .collect::<Vec<_>>()
    );
    assert_eq!(app.sim.request_counts().rate_limited, 0);
    let bound = app
        .metric("qoswatch_poll_staleness_bound_seconds{account=\"default\"}")
        .await
        .unwrap_or(0.0);
    assert!(
        bound >= 4.0,
        "the plan's bound covers the pressure: {bound}"
    );
    app.stop().await;
}

#[tokio::test]
async fn fixed_mode_polls_everybody_alone_and_never_lists() {
    let app = spawn_app_with(SimConfig::default(), |settings| {
        adaptive(settings);
        settings.polling.mode = PollingMode::Fixed;
    })
    .await;
    app.start_meeting(MEETING, "All hands");
    for n in 0..12 {
        app.join(MEETING, &format!("{}", 1000 + n), "Someone").await;
    }
    for n in 0..12 {
        assert!(app.wait_for_polls(&format!("{}", 1000 + n), 3).await);
    }
    assert_eq!(app.sim.request_counts().list_qos, 0);
    let calm_interval = app
        .metric("qoswatch_poll_interval_seconds{account=\"default\",class=\"calm\"}")
        .await
        .unwrap_or(0.0);
    assert!(
        (calm_interval - 0.2).abs() < 0.01,
        "fixed never stretches: {calm_interval}"
    );
    app.stop().await;
}

#[tokio::test]
async fn list_pages_shrink_when_a_long_meeting_outgrows_the_answer_cap() {
    // Four samples of ten participants do not fit into 16 KiB; two
    // participants' do. Without smaller pages every listing would be
    // dropped unread from then on, and nobody would be refreshed again.
    let sim = SimConfig {
        live_window: 4,
        ..SimConfig::default()
    };
    let app = spawn_app_with(sim, |settings| {
        adaptive(settings);
        settings.zoom.max_answer_bytes = 16 * 1024;
    })
    .await;
    app.start_meeting(MEETING, "Long all hands");
    for n in 0..10 {
        app.join(MEETING, &format!("{}", 1000 + n), "Someone").await;
    }
    assert!(eventually(WAIT, || app.monitor.active() == 10).await);
    let too_large = "qoswatch_zoom_answers_too_large_total{answer=\"qos\"}";
    assert!(
        app.metric_reaches(too_large, 1.0)
            .await
            .is_some_and(|n| n >= 1.0),
        "the pages never outgrew the cap"
    );
    // Smaller pages are asked for, and every participant keeps getting
    // new samples through them: eight simulated minutes each, where the
    // window holds four.
    let samples = app
        .metric_reaches("qoswatch_samples_total", 80.0)
        .await
        .unwrap_or(0.0);
    assert!(samples >= 80.0, "{samples} samples");
    let sizes: Vec<u32> = list_requests(&app)
        .iter()
        .filter_map(|r| {
            let query = r.raw_query.as_deref()?;
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("page_size="))?
                .parse()
                .ok()
        })
        .collect();
    let last = *sizes.last().expect("listed");
    assert!((1..10).contains(&last), "page sizes asked: {sizes:?}");
    assert!(
        sizes.windows(2).all(|pair| pair[1] <= pair[0]),
        "pages never grow back: {sizes:?}"
    );
    // Once small enough, no more answers are dropped.
    let dropped = app.metric(too_large).await;
    assert!(app.wait_for_lists(10).await);
    assert_eq!(app.metric(too_large).await, dropped);
    assert_eq!(app.monitor.active(), 10);
    app.stop().await;
}
