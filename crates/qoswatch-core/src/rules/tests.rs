//! Table-driven tests of the engine: each feeds a series of samples one
//! minute apart and compares the transitions with the ones written down.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::alert::{AlertStatus, Severity};
use crate::qos::{MetricId, QosSample, Stream, StreamQos};

fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + Duration::minutes(minute)
}

fn rules(yaml: &str) -> RuleSet {
    RuleSet::from_str("test.yaml", yaml).unwrap_or_else(|d| panic!("{d}"))
}

fn subject() -> Subject {
    Subject {
        meeting: MeetingInfo {
            account: Default::default(),
            uuid: "m1==".into(),
            id: Some("85012345678".into()),
            topic: Some("Weekly sync".into()),
            kind: Default::default(),
        },
        participant: ParticipantInfo {
            user_id: "16778240".into(),
            name: Some("Ann Lee".into()),
            email: Some("ann@example.com".into()),
            device: Some("Windows".into()),
            location: Some("Berlin (DE)".into()),
            network_type: Some("Wifi".into()),
        },
    }
}

/// A sample with one value per (stream, latency/jitter/...) given.
fn sample(minute: i64, values: &[(&str, f64)]) -> QosSample {
    let mut sample = QosSample {
        at: t(minute),
        ..QosSample::default()
    };
    for (name, value) in values {
        match MetricId::parse(name).expect(name) {
            MetricId::Stream(stream, metric) => {
                let qos: &mut StreamQos = sample.streams.entry(stream).or_default();
                match metric {
                    crate::qos::StreamMetric::Latency => qos.latency_ms = Some(*value),
                    crate::qos::StreamMetric::Jitter => qos.jitter_ms = Some(*value),
                    crate::qos::StreamMetric::AvgLoss => qos.avg_loss_pct = Some(*value),
                    crate::qos::StreamMetric::FrameRate => qos.frame_rate_fps = Some(*value),
                    other => panic!("not used in tests: {other:?}"),
                }
            }
            MetricId::Cpu(_) => sample.cpu.zoom_max_pct = Some(*value),
            MetricId::Wifi(_) => sample.wifi.avg_dbm = Some(*value),
        }
    }
    sample
}

/// One transition, reduced to what the tables compare.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    minute: i64,
    rule: String,
    status: AlertStatus,
    severity: Severity,
    previous: Option<Severity>,
}

fn step(minute: i64, rule: &str, status: AlertStatus, severity: Severity) -> Step {
    Step {
        minute,
        rule: rule.into(),
        status,
        severity,
        previous: None,
    }
}

fn reduce(events: &[crate::alert::AlertEvent]) -> Vec<Step> {
    events
        .iter()
        .map(|e| Step {
            minute: (e.at - t(0)).num_minutes(),
            rule: e.rule.clone(),
            status: e.status,
            severity: e.severity,
            previous: e.previous_severity,
        })
        .collect()
}

/// Feeds `values` of `metric` one per minute (`None` = no data); `now` is
/// the sample time.
fn run(rules: &RuleSet, metric: &str, values: &[Option<f64>]) -> Vec<Step> {
    let mut state = ParticipantState::default();
    let subject = subject();
    let mut events = Vec::new();
    for (minute, value) in values.iter().enumerate() {
        let minute = minute as i64;
        let sample = match value {
            Some(v) => sample(minute, &[(metric, *v)]),
            None => sample(minute, &[]),
        };
        events.extend(rules.evaluate(&mut state, &subject, &sample, t(minute)));
    }
    reduce(&events)
}

const LATENCY: &str = "audio_input.latency";

fn latency_rule(extra: &str) -> RuleSet {
    rules(&format!(
        "rules:\n  - name: lat\n    metric: audio_input.latency\n    above: {{ warning: 150ms, critical: 400ms }}\n{extra}"
    ))
}

use AlertStatus::{Firing, Repeat, Resolved};
use Severity::{Critical, Warning};

#[test]
fn sustain_by_duration_and_by_count() {
    // (rule lines, values, expected transitions)
    type Case<'a> = (&'a str, &'a [Option<f64>], Vec<Step>);
    let cases: &[Case] = &[
        // 2m of sample time: the third sample over the threshold fires.
        (
            "    for: 2m\n",
            &[Some(200.0), Some(200.0), Some(200.0)],
            vec![step(2, "lat", Firing, Warning)],
        ),
        ("    for: 2m\n", &[Some(200.0), Some(200.0)], vec![]),
        // A dip under the threshold restarts the count.
        (
            "    for: 2m\n",
            &[
                Some(200.0),
                Some(200.0),
                Some(100.0),
                Some(200.0),
                Some(200.0),
            ],
            vec![],
        ),
        (
            "    for: 4 samples\n",
            &[Some(200.0), Some(200.0), Some(200.0), Some(200.0)],
            vec![step(3, "lat", Firing, Warning)],
        ),
        (
            "    for: 4 samples\n",
            &[Some(200.0), Some(200.0), Some(200.0)],
            vec![],
        ),
        // No `for`: the first bad sample fires.
        (
            "",
            &[Some(100.0), Some(200.0)],
            vec![step(1, "lat", Firing, Warning)],
        ),
    ];
    for (extra, values, expected) in cases {
        assert_eq!(
            &run(&latency_rule(extra), LATENCY, values),
            expected,
            "{extra} {values:?}"
        );
    }
}

#[test]
fn hysteresis_clears_only_past_the_clear_threshold_for_long_enough() {
    let rules = latency_rule("    clear: { below: 120ms, for: 2 samples }\n");
    let v = |xs: &[f64]| xs.iter().map(|x| Some(*x)).collect::<Vec<_>>();
    // 140 is under the threshold but above the clear threshold: still firing.
    assert_eq!(
        run(&rules, LATENCY, &v(&[200.0, 140.0, 140.0, 100.0, 100.0])),
        vec![
            step(0, "lat", Firing, Warning),
            step(4, "lat", Resolved, Warning)
        ]
    );
    // One good sample is not enough with `for: 2 samples`.
    assert_eq!(
        run(&rules, LATENCY, &v(&[200.0, 100.0, 200.0, 100.0])),
        vec![step(0, "lat", Firing, Warning)]
    );
}

#[test]
fn flapping_around_the_threshold_does_not_flap_alerts() {
    let v = |xs: &[f64]| xs.iter().map(|x| Some(*x)).collect::<Vec<_>>();
    let bouncing: Vec<f64> = (0..20)
        .map(|i| if i % 2 == 0 { 160.0 } else { 140.0 })
        .collect();
    // Sustain: never two bad samples in a row, never fires.
    assert_eq!(
        run(
            &latency_rule("    for: 2 samples\n"),
            LATENCY,
            &v(&bouncing)
        ),
        vec![]
    );
    // Firing with a clear threshold under the bounce: fires once, stays.
    let rules = latency_rule("    clear: { below: 120ms }\n");
    assert_eq!(
        run(&rules, LATENCY, &v(&bouncing)),
        vec![step(0, "lat", Firing, Warning)]
    );
}

#[test]
fn escalation_and_de_escalation() {
    let rules = latency_rule("    for: 2 samples\n    clear: { below: 120ms, for: 2 samples }\n");
    let v = |xs: &[f64]| xs.iter().map(|x| Some(*x)).collect::<Vec<_>>();
    let got = run(
        &rules,
        LATENCY,
        &v(&[200.0, 200.0, 450.0, 450.0, 300.0, 300.0, 100.0, 100.0]),
    );
    let expected = vec![
        step(1, "lat", Firing, Warning),
        Step {
            previous: Some(Warning),
            ..step(3, "lat", Firing, Critical)
        },
        Step {
            previous: Some(Critical),
            ..step(5, "lat", Firing, Warning)
        },
        step(7, "lat", Resolved, Warning),
    ];
    assert_eq!(got, expected);
    // Straight to critical when both severities are sustained together.
    assert_eq!(
        run(&rules, LATENCY, &v(&[450.0, 450.0])),
        vec![step(1, "lat", Firing, Critical)]
    );
}

#[test]
fn repeats_follow_the_interval_on_evaluate_and_tick() {
    let rules = latency_rule("    route: { repeat: 10m }\n");
    let values: Vec<Option<f64>> = vec![Some(200.0); 25];
    let got = run(&rules, LATENCY, &values);
    assert_eq!(
        got,
        vec![
            step(0, "lat", Firing, Warning),
            step(10, "lat", Repeat, Warning),
            step(20, "lat", Repeat, Warning),
        ]
    );
    // Without new samples, tick() keeps the schedule.
    let mut state = ParticipantState::default();
    let subject = subject();
    let first = rules.evaluate(&mut state, &subject, &sample(0, &[(LATENCY, 200.0)]), t(0));
    assert_eq!(first.len(), 1);
    assert!(rules.tick(&mut state, &subject, t(9)).is_empty());
    assert_eq!(
        reduce(&rules.tick(&mut state, &subject, t(10))),
        vec![step(10, "lat", Repeat, Warning)]
    );
    assert!(rules.tick(&mut state, &subject, t(15)).is_empty());
    // No repeat configured: nothing, ever.
    let quiet = latency_rule("    route: { repeat: never }\n");
    assert_eq!(run(&quiet, LATENCY, &values).len(), 1);
}

#[test]
fn scope_and_exclusions_select_subjects() {
    let base = "rules:\n  - name: lat\n    metric: audio_input.latency\n    above: 150ms\n";
    let cases: &[(&str, bool)] = &[
        ("    scope: { meeting_topic: 'weekly*' }\n", true),
        ("    scope: { meeting_topic: 'All hands*' }\n", false),
        ("    scope: { participant: '*@example.com' }\n", true),
        ("    scope: { participant: ['Bob*', 'ann lee'] }\n", true),
        ("    scope: { device: [Mac, iOS] }\n", false),
        ("    scope: { location: '/.*\\(DE\\)/' }\n", true),
        ("    exclude: { participant: ann@example.com }\n", false),
        ("    exclude: { network_type: Wired }\n", true),
        (
            "    scope: { meeting_id: '85012345678' }\n    exclude: { device: Windows }\n",
            false,
        ),
    ];
    for (extra, fires) in cases {
        let rules = rules(&format!("{base}{extra}"));
        let got = run(&rules, LATENCY, &[Some(200.0)]);
        assert_eq!(!got.is_empty(), *fires, "{extra}");
    }
}

#[test]
fn missing_data_never_fires_and_never_resolves() {
    let rules = latency_rule("    for: 2 samples\n");
    // Gaps break the sustain.
    assert_eq!(
        run(
            &rules,
            LATENCY,
            &[Some(200.0), None, Some(200.0), None, Some(200.0)]
        ),
        vec![]
    );
    // A firing alert stays firing through any amount of missing data.
    let mut values = vec![Some(200.0), Some(200.0)];
    values.extend(std::iter::repeat_n(None, 30));
    assert_eq!(
        run(&rules, LATENCY, &values),
        vec![step(1, "lat", Firing, Warning)]
    );
    // ... and through ticks.
    let mut state = ParticipantState::default();
    let subject = subject();
    for minute in 0..2 {
        rules.evaluate(
            &mut state,
            &subject,
            &sample(minute, &[(LATENCY, 200.0)]),
            t(minute),
        );
    }
    for minute in 2..60 {
        assert!(rules.tick(&mut state, &subject, t(minute)).is_empty());
    }
    assert_eq!(state.firing(), vec![("lat".to_owned(), Warning)]);
}

#[test]
fn opt_in_missing_data_alert_fires_after_the_duration_and_clears_on_data() {
    let rules = rules(
        "rules:\n  - name: silent\n    metric: audio_output.bitrate\n    below: 1kbps\n    missing_data: { after: 5m, severity: critical }\n",
    );
    let mut state = ParticipantState::default();
    let subject = subject();
    let mut events = Vec::new();
    let mut with_data = sample(0, &[]);
    with_data.streams.insert(
        Stream::AudioOutput,
        StreamQos {
            bitrate_kbps: Some(40.0),
            ..StreamQos::default()
        },
    );
    events.extend(rules.evaluate(&mut state, &subject, &with_data, t(0)));
    for minute in 1..=4 {
        events.extend(rules.evaluate(&mut state, &subject, &sample(minute, &[]), t(minute)));
    }
    assert!(events.is_empty(), "{events:?}");
    events.extend(rules.tick(&mut state, &subject, t(5)));
    assert_eq!(reduce(&events), vec![step(5, "silent", Firing, Critical)]);
    assert_eq!(events[0].value, None);
    assert_eq!(events[0].threshold.as_deref(), Some("no data for 5m"));
    assert_eq!(events[0].started_at, t(0));
    with_data.at = t(6);
    let back = rules.evaluate(&mut state, &subject, &with_data, t(6));
    assert_eq!(reduce(&back), vec![step(6, "silent", Resolved, Critical)]);
}

#[test]
fn scoped_missing_data_rules_alert_only_inside_their_scope() {
    // A participant who never sends QoS: only tick() runs for them.
    let base = "rules:\n  - name: silent\n    metric: audio_output.bitrate\n    below: 1kbps\n    missing_data: { after: 5m, severity: critical }\n";
    let cases: &[(&str, bool)] = &[
        ("", true),
        ("    scope: { meeting_topic: 'weekly*' }\n", true),
        ("    scope: { device: [Mac, iOS] }\n", false),
        ("    exclude: { device: Windows }\n", false),
        ("    exclude: { network_type: Wired }\n", true),
    ];
    for (extra, fires) in cases {
        let rules = rules(&format!("{base}{extra}"));
        let mut state = ParticipantState::default();
        let subject = subject();
        let mut events = Vec::new();
        for minute in 0..=6 {
            events.extend(rules.tick(&mut state, &subject, t(minute)));
        }
        let expected = if *fires {
            vec![step(5, "silent", Firing, Critical)]
        } else {
            vec![]
        };
        assert_eq!(reduce(&events), expected, "{extra}");
        let firing = if *fires {
            vec![("silent".to_owned(), Critical)]
        } else {
            vec![]
        };
        assert_eq!(state.firing(), firing, "{extra}");
    }
}

#[test]
fn single_stream_rules_name_no_stream() {
    let rules = rules(
        "rules:\n  - name: lat\n    metric: audio_input.latency\n    above: 150ms\n  - name: jitter\n    metric: any_audio.jitter\n    above: 30ms\n    for: 2 samples\n",
    );
    let mut state = ParticipantState::default();
    let subject = subject();
    let bad = |minute| sample(minute, &[(LATENCY, 200.0), ("audio_output.jitter", 52.0)]);
    let first = rules.evaluate(&mut state, &subject, &bad(0), t(0));
    assert_eq!(reduce(&first), vec![step(0, "lat", Firing, Warning)]);
    // The event and the firing state of a one-metric rule carry no stream,
    // even though its metric belongs to one.
    assert_eq!(first[0].metric, "audio_input.latency");
    assert_eq!(first[0].stream, None);
    assert_eq!(state.firing_stream("lat"), None);
    // A multi-stream rule that is not firing yet has no stream to report.
    assert_eq!(state.firing_stream("jitter"), None);
    assert_eq!(state.firing_stream("no such rule"), None);
    let second = rules.evaluate(&mut state, &subject, &bad(1), t(1));
    assert_eq!(reduce(&second), vec![step(1, "jitter", Firing, Warning)]);
    assert_eq!(second[0].stream.as_deref(), Some("audio_output"));
    assert_eq!(
        state.firing_stream("jitter").as_deref(),
        Some("audio_output")
    );
    assert_eq!(state.firing_stream("lat"), None);
}

#[test]
fn multi_stream_rules_name_the_worst_stream() {
    let rules = rules(
        "rules:\n  - name: jitter\n    metric: any_audio.jitter\n    above: 30ms\n    summary: '{participant}: {stream} jitter {value} ({threshold})'\n",
    );
    let mut state = ParticipantState::default();
    let events = rules.evaluate(
        &mut state,
        &subject(),
        &sample(
            0,
            &[("audio_input.jitter", 35.0), ("audio_output.jitter", 52.0)],
        ),
        t(0),
    );
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.stream.as_deref(), Some("audio_output"));
    assert_eq!(event.metric, "audio_output.jitter");
    assert_eq!(event.value.as_deref(), Some("52 ms"));
    assert_eq!(event.summary, "Ann Lee: audio out jitter 52 ms (> 30 ms)");
}

#[test]
fn events_carry_key_text_route_and_times() {
    let rules = rules(
        "channels:\n  ops: { type: email, to: [ops@example.com] }\nrules:\n  - name: lat\n    metric: audio_input.latency\n    above: { warning: 150ms, critical: 400ms }\n    for: 1m\n    summary: '{severity} {rule}: {participant} in {meeting} ({meeting_id}) on {device} at {location}: {metric} {value} {threshold}'\n    runbook: 'https://wiki.example.com/{rule}'\n    route: { channels: [console], critical: [console, ops], repeat: 15m, send_resolved: false }\n",
    );
    let mut state = ParticipantState::default();
    let subject = subject();
    rules.evaluate(&mut state, &subject, &sample(0, &[(LATENCY, 420.0)]), t(0));
    let events = rules.evaluate(&mut state, &subject, &sample(1, &[(LATENCY, 450.0)]), t(1));
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.key.as_str(), "lat|m1==|16778240");
    assert_eq!(
        e.summary,
        "critical lat: Ann Lee in Weekly sync (85012345678) on Windows at Berlin (DE): audio_input.latency 450 ms > 400 ms"
    );
    assert_eq!(e.runbook.as_deref(), Some("https://wiki.example.com/lat"));
    assert_eq!(e.threshold.as_deref(), Some("> 400 ms"));
    assert_eq!(e.started_at, t(0));
    assert_eq!(e.at, t(1));
    assert_eq!(e.route.channels, ["console", "ops"]);
    assert_eq!(
        e.route.repeat_interval,
        Some(std::time::Duration::from_secs(900))
    );
    assert!(!e.route.send_resolved);
    assert_eq!(
        e.participant.as_ref().map(|p| p.user_id.as_str()),
        Some("16778240")
    );
}

#[test]
fn finish_resolves_whatever_fires() {
    let rules = latency_rule("");
    let mut state = ParticipantState::default();
    let subject = subject();
    rules.evaluate(&mut state, &subject, &sample(0, &[(LATENCY, 500.0)]), t(0));
    let events = rules.finish(&mut state, &subject, t(3));
    assert_eq!(reduce(&events), vec![step(3, "lat", Resolved, Critical)]);
    assert!(rules.finish(&mut state, &subject, t(4)).is_empty());
}

#[test]
fn reload_keeps_state_of_unchanged_rules_and_resolves_changed_ones() {
    let before = rules(
        "rules:\n  - { name: lat, metric: audio_input.latency, above: 150ms, for: 2 samples }\n  - { name: jit, metric: audio_input.jitter, above: 30ms }\n  - { name: gone, metric: audio_input.avg_loss, above: 5% }\n",
    );
    let after = rules(
        "rules:\n  - { name: lat, metric: audio_input.latency, above: 150ms, for: 2 samples }\n  - { name: jit, metric: audio_input.jitter, above: 40ms }\n  - { name: new, metric: cpu_usage.zoom_max_cpu_usage, above: 80% }\n",
    );
    let subject = subject();
    let mut state = ParticipantState::default();
    let bad = |minute| {
        sample(
            minute,
            &[
                (LATENCY, 200.0),
                ("audio_input.jitter", 50.0),
                ("audio_input.avg_loss", 9.0),
            ],
        )
    };
    let first = reduce(&before.evaluate(&mut state, &subject, &bad(0), t(0)));
    assert_eq!(
        first,
        vec![
            step(0, "jit", Firing, Warning),
            step(0, "gone", Firing, Warning)
        ]
    );
    // `lat` is pending (1 of 2 samples); after the reload its count goes on.
    let second = reduce(&after.evaluate(&mut state, &subject, &bad(1), t(1)));
    assert_eq!(
        second,
        vec![
            step(1, "jit", Resolved, Warning),
            step(1, "gone", Resolved, Warning),
            step(1, "lat", Firing, Warning),
            step(1, "jit", Firing, Warning),
        ]
    );
    // Unchanged again: a reload of identical content changes nothing.
    let same = rules(
        "rules:\n  - { name: lat, metric: audio_input.latency, above: 150ms, for: 2 samples }\n  - { name: jit, metric: audio_input.jitter, above: 40ms }\n  - { name: new, metric: cpu_usage.zoom_max_cpu_usage, above: 80% }\n",
    );
    assert!(
        same.evaluate(&mut state, &subject, &bad(2), t(2))
            .is_empty()
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    const EXAMPLE: &str = include_str!("../../../../rules.example.yaml");

    proptest! {
        #[test]
        fn parser_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = RuleSet::from_bytes("fuzz.yaml", &bytes);
        }

        #[test]
        fn parser_never_panics_on_yamlish_text(text in "[a-z_:.{}\\[\\], \n\"'*%#&!|>-]{0,300}") {
            let _ = RuleSet::from_str("fuzz.yaml", &text);
        }

        #[test]
        fn parser_never_panics_on_mutated_example(at in 0..EXAMPLE.len(), cut in 0..40usize, insert in "[ -~\n]{0,12}") {
            let mut text = EXAMPLE.as_bytes().to_vec();
            let end = (at + cut).min(text.len());
            text.splice(at..end, insert.bytes());
            if let Err(d) = RuleSet::from_bytes("fuzz.yaml", &text) {
                prop_assert!(!d.items.is_empty());
            }
        }

        #[test]
        fn evaluation_is_deterministic(values in proptest::collection::vec(proptest::option::of(0.0f64..800.0), 1..60)) {
            let rules = latency_rule("    for: 2 samples\n    clear: { below: 120ms, for: 2m }\n    route: { repeat: 5m }\n");
            let first = run(&rules, LATENCY, &values);
            let second = run(&rules, LATENCY, &values);
            prop_assert_eq!(first, second);
        }
    }
}

/// What a restart does: the state goes through JSON (as in the store) and
/// comes back as a fresh `ParticipantState`.
fn through_the_store(state: &ParticipantState) -> ParticipantState {
    let json = serde_json::to_string(&state.save()).expect("serializable");
    ParticipantState::restore(serde_json::from_str(&json).expect("readable"))
}

#[test]
fn restored_state_keeps_firing_and_pending_alerts_and_resolves_once() {
    let rules = rules(
        "rules:\n  - { name: lat, metric: audio_input.latency, above: 150ms, for: 2 samples, clear: { below: 100ms, for: 2 samples } }\n  - { name: jit, metric: audio_input.jitter, above: 30ms, for: 2 samples }\n",
    );
    let subject = subject();
    let mut state = ParticipantState::default();
    let bad = |minute| sample(minute, &[(LATENCY, 200.0), ("audio_input.jitter", 20.0)]);
    assert!(reduce(&rules.evaluate(&mut state, &subject, &bad(0), t(0))).is_empty());
    assert_eq!(
        reduce(&rules.evaluate(&mut state, &subject, &bad(1), t(1))),
        vec![step(1, "lat", Firing, Warning)]
    );
    // jitter is one sample into its run when the process dies.
    let pending = sample(2, &[(LATENCY, 200.0), ("audio_input.jitter", 50.0)]);
    assert!(reduce(&rules.evaluate(&mut state, &subject, &pending, t(2))).is_empty());
    assert_eq!(state.firing(), [("lat".to_string(), Warning)]);
    let mut state = through_the_store(&state);
    // Still bad: no second FIRING for lat; jit completes its run of 2.
    let still_bad = sample(3, &[(LATENCY, 200.0), ("audio_input.jitter", 50.0)]);
    assert_eq!(
        reduce(&rules.evaluate(&mut state, &subject, &still_bad, t(3))),
        vec![step(3, "jit", Firing, Warning)]
    );
    // lat clears after two good samples, once.
    let good = |minute| sample(minute, &[(LATENCY, 50.0), ("audio_input.jitter", 50.0)]);
    assert!(reduce(&rules.evaluate(&mut state, &subject, &good(4), t(4))).is_empty());
    assert_eq!(
        reduce(&rules.evaluate(&mut state, &subject, &good(5), t(5))),
        vec![step(5, "lat", Resolved, Warning)]
    );
    assert!(reduce(&rules.evaluate(&mut state, &subject, &good(6), t(6))).is_empty());
}

#[test]
fn restored_state_of_changed_or_removed_rules_resolves_their_alerts() {
    let before = rules(
        "channels:\n  ops: { type: console }\nrules:\n  - { name: jit, metric: audio_input.jitter, above: 30ms }\n  - { name: gone, metric: audio_input.avg_loss, above: 5%, route: { channels: [ops] } }\n",
    );
    let after = rules("rules:\n  - { name: jit, metric: audio_input.jitter, above: 40ms }\n");
    let subject = subject();
    let mut state = ParticipantState::default();
    let bad = sample(
        0,
        &[("audio_input.jitter", 50.0), ("audio_input.avg_loss", 9.0)],
    );
    assert_eq!(
        reduce(&before.evaluate(&mut state, &subject, &bad, t(0))).len(),
        2
    );
    let mut restored = through_the_store(&state);
    let events = after.tick(&mut restored, &subject, t(1));
    let mut resolved: Vec<_> = events
        .iter()
        .map(|e| (e.rule.as_str(), e.status, e.route.channels.clone()))
        .collect();
    resolved.sort_by_key(|r| r.0);
    assert_eq!(
        resolved,
        vec![
            ("gone", Resolved, vec!["ops".to_string()]),
            ("jit", Resolved, vec!["console".to_string()]),
        ]
    );
    let gone = events.iter().find(|e| e.rule == "gone").expect("gone");
    assert!(
        gone.summary.contains("no longer in the rules file"),
        "{}",
        gone.summary
    );
    assert_eq!(
        gone.key,
        crate::alert::AlertKey::in_account(&Default::default(), "gone", "m1==", Some("16778240"))
    );
    // Nothing is left to resolve, and the changed rule starts afresh.
    assert!(after.finish(&mut restored, &subject, t(2)).is_empty());
}

#[test]
fn a_watch_ending_before_its_restored_state_met_the_rules_still_resolves() {
    let rules = latency_rule("");
    let subject = subject();
    let mut state = ParticipantState::default();
    rules.evaluate(&mut state, &subject, &sample(0, &[(LATENCY, 500.0)]), t(0));
    let mut restored = through_the_store(&state);
    assert_eq!(
        reduce(&rules.finish(&mut restored, &subject, t(3))),
        vec![step(3, "lat", Resolved, Critical)]
    );
}

#[test]
fn attention_rises_from_calm_to_near_pending_and_firing_and_falls_back() {
    let rules = rules(
        "rules:\n  - name: latency\n    metric: audio_input.latency\n    above: 150ms\n    for: 3 samples\n  - name: fps\n    metric: video_input.frame_rate\n    below: 10fps\n",
    );
    let mut state = ParticipantState::default();
    let subject = subject();
    assert_eq!(state.attention(), Attention::Calm, "nothing seen yet");
    let feed = |state: &mut ParticipantState, minute: i64, latency: f64, fps: f64| {
        let sample = sample(
            minute,
            &[
                ("audio_input.latency", latency),
                ("video_input.frame_rate", fps),
            ],
        );
        rules.evaluate(state, &subject, &sample, t(minute));
        state.attention()
    };
    assert_eq!(feed(&mut state, 0, 100.0, 25.0), Attention::Calm);
    // 150 ms - 20 % = 120 ms: above it is near, at it is not.
    assert_eq!(feed(&mut state, 1, 120.0, 25.0), Attention::Calm);
    assert_eq!(feed(&mut state, 2, 121.0, 25.0), Attention::Near);
    // A "below" rule is near above its threshold: 10 fps + 20 % = 12 fps.
    assert_eq!(feed(&mut state, 3, 100.0, 11.9), Attention::Near);
    assert_eq!(feed(&mut state, 4, 100.0, 12.0), Attention::Calm);
    assert_eq!(feed(&mut state, 5, 151.0, 25.0), Attention::Pending);
    assert_eq!(feed(&mut state, 6, 151.0, 25.0), Attention::Pending);
    assert_eq!(feed(&mut state, 7, 151.0, 25.0), Attention::Firing);
    assert_eq!(
        feed(&mut state, 8, 100.0, 25.0),
        Attention::Calm,
        "resolved"
    );
    // The most pressing rule wins.
    assert_eq!(feed(&mut state, 9, 130.0, 5.0), Attention::Firing);
    assert!(Attention::Calm < Attention::Near && Attention::Near < Attention::Pending);
    assert!(Attention::Pending < Attention::Firing);
}
