//! `qoswatch demo` end to end: the simulator's signed webhooks reach the real
//! endpoint, the watchers poll the simulator, the shipped rules fire, and the
//! console channel reports. Asserts on the alerts the demo saw.

use std::time::Duration;

use qoswatch::demo::{DemoArgs, DemoSummary, SharedOutput, run};
use tokio_util::sync::CancellationToken;

/// Runs the demo with no environment, its story into `out`, to its own end
/// (which must come within `within`).
async fn run_to_end(args: DemoArgs, out: &SharedOutput, within: Duration) -> DemoSummary {
    let no_env = |_: &str| None;
    tokio::time::timeout(
        within,
        run(
            args,
            &no_env,
            Box::new(out.clone()),
            CancellationToken::new(),
        ),
    )
    .await
    .expect("the demo ends by itself")
    .expect("the demo runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_demo_alerts_on_the_degraded_participants_only() {
    let out = SharedOutput::default();
    let args = DemoArgs {
        sample_period: Duration::from_millis(400),
        ..DemoArgs::default()
    };
    let summary = run_to_end(args, &out, Duration::from_secs(60)).await;
    let text = out.text();

    assert_eq!(summary.participants.len(), 7, "{text}");
    assert_eq!(summary.webhook_failures, 0);
    assert!(
        summary.webhooks_sent >= 16,
        "joins, leaves, alert, end: {}",
        summary.webhooks_sent
    );
    assert!(summary.samples > 50);

    let fired = |who: &str, rule: &str| {
        summary.alerts.iter().position(|a| {
            a.status == "firing" && a.rule == rule && a.participant.as_deref() == Some(who)
        })
    };
    let resolved = |who: &str, rule: &str| {
        summary.alerts.iter().position(|a| {
            a.status == "resolved" && a.rule == rule && a.participant.as_deref() == Some(who)
        })
    };
    // Ana's Wi-Fi goes bad first (samples 4..9), and recovers.
    for rule in ["audio-latency", "audio-jitter", "audio-loss"] {
        let fire = fired("Ana Alvarez", rule).unwrap_or_else(|| panic!("Ana {rule}:\n{text}"));
        let clear =
            resolved("Ana Alvarez", rule).unwrap_or_else(|| panic!("Ana {rule} resolved:\n{text}"));
        assert!(fire < clear, "{rule} resolved before it fired:\n{text}");
    }
    // The Berlin office loses packets together (samples 6..11): one message
    // names the shared location.
    let berlin = ["Bernd Becker", "Birgit Braun", "Bao Bui"];
    for who in berlin {
        let fire = fired(who, "audio-loss").unwrap_or_else(|| panic!("{who}:\n{text}"));
        assert!(
            fire > fired("Ana Alvarez", "audio-latency").unwrap_or(usize::MAX),
            "Ana's Wi-Fi went bad before Berlin's uplink:\n{text}"
        );
    }
    assert!(
        summary.alerts.iter().any(|a| a.status == "firing"
            && berlin.contains(&a.participant.as_deref().unwrap_or(""))
            && a.shared_cause.as_deref() == Some("same location: Berlin (DE)")),
        "a grouped Berlin message names the office:\n{text}"
    );
    // Carl's CPU pegs.
    assert!(fired("Carl Czerny", "zoom-cpu").is_some(), "{text}");
    // Zoom's own meeting alert is relayed.
    assert!(
        summary
            .alerts
            .iter()
            .any(|a| a.participant.is_none() && a.summary.contains("Unstable audio quality")),
        "{text}"
    );
    // Nothing for the healthy ones.
    for who in ["Dana Dietz", "Eve Ek"] {
        assert!(
            !summary
                .alerts
                .iter()
                .any(|a| a.participant.as_deref() == Some(who)),
            "{who} is healthy:\n{text}"
        );
    }
    // The terminal told the story.
    assert!(text.contains("Ana Alvarez joined"));
    assert!(
        text.contains("Watch it live in a browser: http://127.0.0.1:"),
        "the demo prints the status page's address:\n{text}"
    );
    assert!(text.contains("quality at a glance"));
    assert!(text.contains("Summary"));
    assert!(summary.zoom_rate_limited >= 1, "the scripted 429 happened");
}

/// `--record FILE` leaves the demo's meeting as a backtest recording (the
/// file README's backtest example replays), and never overwrites a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_record_saves_the_meeting_for_backtest_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("demo.jsonl.gz");
    let args = DemoArgs {
        sample_period: Duration::from_millis(300),
        record: Some(path.clone()),
        ..DemoArgs::default()
    };
    let out = SharedOutput::default();
    run_to_end(args.clone(), &out, Duration::from_secs(90)).await;
    assert!(
        out.text().contains(&format!("--input {}", path.display())),
        "{}",
        out.text()
    );
    let recorded = qoswatch::backtest::recording::read_all(&path).expect("a recording");
    assert_eq!(recorded.meetings.len(), 1);
    let meeting = &recorded.meetings[0];
    assert_eq!(meeting.meeting.topic.as_deref(), Some("Q3 planning"));
    assert_eq!(meeting.participants.len(), 7);
    assert!(recorded.problems.is_empty());
    let samples: usize = meeting
        .participants
        .iter()
        .map(|p| p["user_qos"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(samples > 50, "{samples}");

    // Again with the same file: refused before the demo starts.
    let before = std::fs::read(&path).expect("read");
    let no_env = |_: &str| None;
    let again = run(
        args,
        &no_env,
        Box::new(SharedOutput::default()),
        CancellationToken::new(),
    )
    .await
    .expect_err("the file exists");
    assert!(again.to_string().contains("already exists"), "{again:#}");
    assert_eq!(std::fs::read(&path).expect("read"), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_qss_demo_alerts_with_no_dashboard_request() {
    let out = SharedOutput::default();
    let args = DemoArgs {
        sample_period: Duration::from_millis(400),
        qss: true,
        ..DemoArgs::default()
    };
    let summary = run_to_end(args, &out, Duration::from_secs(60)).await;
    let text = out.text();
    assert_eq!(summary.webhook_failures, 0, "{text}");
    assert!(summary.samples > 50, "{text}");
    assert!(
        summary
            .alerts
            .iter()
            .any(|a| a.status == "firing" && a.participant.as_deref() == Some("Ana Alvarez")),
        "{text}"
    );
    assert_eq!(
        summary.zoom_requests, 0,
        "every sample came by QSS:\n{text}"
    );
    assert!(
        text.contains("QSS"),
        "the demo says where samples come from:\n{text}"
    );
}
