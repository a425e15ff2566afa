//! `qoswatch backtest` end to end: the binary against the simulator as
//! Zoom (type=past, the meetings list), compared with what the real server
//! sent to a loopback Slack for the same meeting; the budget during a long
//! fetch; record then replay offline; --compare; bad recordings and
//! unknown meetings.

mod accounts;
mod bad_input;
mod harness;
mod shipped;
mod webinars;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use qoswatch_zoomsim::webhooks::WebhookSender;
use qoswatch_zoomsim::{Degradation, MeetingSpec, ParticipantSpec, SimConfig, SimHandle, Target};
use secrecy::SecretString;

use harness::{
    WEBHOOK_SECRET, backtest, eventually, path_str, server_settings, start_server, start_sim,
    temp_dir, write, zoom_env,
};
use qoswatch_testkit::FakeSlack;

/// Loss and latency rules on a Slack channel: what the live server and
/// the replay both run.
pub(crate) const RULES: &str = r#"
channels:
  it-slack:
    type: slack
    webhook_url_env: QOSWATCH_TEST_SLACK_URL
defaults:
  route:
    channels: [it-slack]
rules:
  - name: audio-loss
    metric: audio_input.avg_loss
    above: 5%
    for: 2 samples
  - name: audio-latency
    metric: audio_input.latency
    above: { warning: 300ms, critical: 1s }
    for: 2 samples
"#;

const BERLIN: &str = "Berlin (DE)";

fn meeting_spec() -> MeetingSpec {
    MeetingSpec::new("bt5AAAiAAAAAiAiAiiAii==", 84_712_639_219, "Weekly sync")
}

fn people() -> Vec<ParticipantSpec> {
    vec![
        ParticipantSpec::new("16778240", "Ann Lee").with_location(BERLIN),
        ParticipantSpec::new("16779264", "Ben Kim").with_location(BERLIN),
        ParticipantSpec::new("16780288", "Cy Dunn").with_location("Paris (FR)"),
    ]
}

/// Berlin's uplink loses packets for samples 2..6 (both fire together and
/// recover together), Cy's Wi-Fi goes bad for 4..8 (loss and latency).
fn degrade(sim: &SimHandle) {
    sim.add_degradation(Degradation::packet_loss(
        Target::Location(BERLIN.into()),
        2..6,
        12.0,
    ));
    sim.add_degradation(Degradation::bad_wifi(Target::participant("16780288"), 4..8));
}

/// The meeting as Zoom's webhooks tell it to the server, the simulator
/// serving its QoS: joins, `minutes` simulated minutes once the server
/// polled past them, leaves and the end.
async fn play_meeting(sim: &SimHandle, sender: &WebhookSender, minutes: i64) -> DateTime<Utc> {
    let meeting = meeting_spec();
    sim.add_meeting(meeting.clone()).expect("meeting");
    let start = sim.sim_now();
    sender
        .meeting_started(&meeting, start)
        .await
        .expect("started");
    for person in people() {
        let joined = sim
            .add_participant(&meeting.uuid, person.clone())
            .expect("join");
        let answer = sender
            .participant_joined(&meeting, start, &person, joined)
            .await
            .expect("joined");
        assert_eq!(answer.status, 200);
    }
    let until = start + chrono::TimeDelta::minutes(minutes);
    assert!(
        eventually(Duration::from_secs(30), || sim.sim_now() >= until).await,
        "the simulated meeting runs"
    );
    // Every participant polled after the last minute: the server saw it all.
    let polled: Vec<usize> = people()
        .iter()
        .map(|p| sim.qos_requests_for(&p.user_id))
        .collect();
    assert!(
        eventually(Duration::from_secs(10), || {
            people()
                .iter()
                .zip(&polled)
                .all(|(p, before)| sim.qos_requests_for(&p.user_id) >= before + 2)
        })
        .await,
        "every participant polled again"
    );
    for person in people() {
        let left = sim
            .participant_leaves(&meeting.uuid, &person.user_id)
            .expect("leave");
        sender
            .participant_left(&meeting, start, &person, left, "left the meeting")
            .await
            .expect("left");
    }
    let ended = sim.end_meeting(&meeting.uuid).expect("end");
    sender
        .meeting_ended(&meeting, start, ended)
        .await
        .expect("ended");
    start
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_sends_what_the_live_server_sent_message_by_message() {
    let dir = temp_dir("live");
    let rules = write(&dir, "rules.yaml", RULES);
    let sim = start_sim(SimConfig {
        sample_period: Duration::from_millis(700),
        ..SimConfig::default()
    })
    .await;
    degrade(&sim);
    let mut slack = FakeSlack::start(Vec::new()).await;
    let slack_env = HashMap::from([(
        "QOSWATCH_TEST_SLACK_URL".to_owned(),
        slack.url("T000/B000/live"),
    )]);
    // Same-minute events arrive within a poll or two (100 ms); the next
    // minute's 700 ms later: a 300 ms window groups as a 30 s one does on
    // Zoom's one-minute samples.
    let window = Duration::from_millis(300);
    let app = start_server(server_settings(&sim, &rules, window), slack_env.clone()).await;
    let address = app.address();
    let monitor = app.monitor();
    let dispatch = app.dispatch().expect("rules give a dispatcher");
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    let sender = WebhookSender::new(
        &format!("http://{address}/webhooks/zoom"),
        SecretString::from(WEBHOOK_SECRET.to_owned()),
    )
    .expect("sender");

    play_meeting(&sim, &sender, 11).await;
    assert!(
        eventually(Duration::from_secs(10), || monitor.active() == 0).await,
        "every watch ended"
    );
    dispatch
        .drain(Duration::from_secs(10))
        .await
        .expect("every message delivered");
    let live: Vec<serde_json::Value> = slack.received().into_iter().map(|r| r.body).collect();
    shutdown.cancel();
    server
        .await
        .expect("server task")
        .expect("server stops cleanly");
    // The story the degradations tell, whoever replays it.
    assert_eq!(live.len(), 4, "two FIRING, two RESOLVED: {live:#?}");

    // The backtest of the same meeting, by its number, from type=past.
    let recording = dir.join("weekly.jsonl.gz");
    let mut env = zoom_env(&sim, 20);
    env.insert("QOSWATCH_ALERT_GROUP_WINDOW".into(), "300ms".into());
    env.extend(slack_env);
    let run = backtest(
        &[
            path_str(&rules),
            "--meeting",
            "84712639219",
            "--record",
            path_str(&recording),
            "--format",
            "json",
        ],
        &env,
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["complete"], true);
    assert_eq!(report["participants"], 3);
    assert_eq!(report["rules"]["messages"]["it-slack"], live.len());

    // Message by message, as Slack would have received them.
    let recorded = qoswatch::backtest::recording::read_all(&recording).expect("recording reads");
    let rule_set = qoswatch_core::rules::RuleSet::load(&rules).expect("rules");
    let replay = qoswatch::backtest::replay::replay(&recorded.meetings, &rule_set, window);
    let replayed: Vec<serde_json::Value> = replay.meetings[0]
        .messages
        .iter()
        .filter(|m| m.channel == "it-slack")
        .map(|m| qoswatch::notify::slack::render(&m.notification, false))
        .collect();
    assert_eq!(replayed, live);
    // The grouped Berlin message names its shared cause.
    assert!(live[0].to_string().contains("Berlin"), "{}", live[0]);
    sim.shutdown().await;
}

/// A simulator whose minutes pass every 40 ms, for meetings that need no
/// live server.
async fn fast_sim() -> SimHandle {
    start_sim(SimConfig {
        sample_period: Duration::from_millis(40),
        clock_start: Some(morning()),
        ..SimConfig::default()
    })
    .await
}

/// Today 08:00 UTC: a simulated clock started there runs the tests' hours
/// of meetings within the day (started near midnight, the meetings of
/// `--from DAY --to DAY` would cross into the next day).
pub(crate) fn morning() -> DateTime<Utc> {
    let today = Utc::now().date_naive();
    today.and_hms_opt(8, 0, 0).expect("08:00").and_utc()
}

/// `people` in a meeting for `minutes` simulated minutes, then its end.
async fn played(sim: &SimHandle, meeting: MeetingSpec, people: &[ParticipantSpec], minutes: i64) {
    sim.add_meeting(meeting.clone()).expect("meeting");
    let start = sim.sim_now();
    for person in people {
        sim.add_participant(&meeting.uuid, person.clone())
            .expect("join");
    }
    let until = start + chrono::TimeDelta::minutes(minutes);
    assert!(
        eventually(Duration::from_secs(30), || sim.sim_now() >= until).await,
        "the simulated meeting runs"
    );
    sim.end_meeting(&meeting.uuid).expect("end");
}

/// The day the simulator's clock shows, for --from/--to.
fn sim_day(sim: &SimHandle) -> String {
    sim.sim_now().format("%Y-%m-%d").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_fetch_keeps_to_the_budget_and_waits_out_a_429() {
    let dir = temp_dir("budget");
    let rules = write(&dir, "rules.yaml", RULES);
    let sim = fast_sim().await;
    // Zoom refuses more than 5 a second; qoswatch is told the same.
    sim.set_qps_limit(Some(5));
    let crowd: Vec<ParticipantSpec> = (0..25)
        .map(|n| ParticipantSpec::new(format!("{}", 16_800_000 + n), format!("Person {n}")))
        .collect();
    for n in 0..4_u64 {
        let meeting = MeetingSpec::new(
            format!("bud{n}AAAiAAAAAiAiAiiA=="),
            900 + n,
            format!("Town hall {n}"),
        );
        played(&sim, meeting, &crowd, 5).await;
    }
    let day = sim_day(&sim);
    // One 429 with Retry-After: 1 s on the first request.
    sim.push_fault(qoswatch_zoomsim::Fault::rate_limited_seconds(1));
    let env = zoom_env(&sim, 5);
    let run = backtest(&[path_str(&rules), "--from", &day, "--to", &day], &env).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("4 meetings, 100 participants"),
        "{}",
        run.stdout
    );
    // Plain progress lines on a pipe.
    assert!(
        run.stderr.contains("backtest: 4 meetings to fetch"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("backtest: 4/4 Town hall 3"),
        "{}",
        run.stderr
    );

    let counts = sim.request_counts();
    assert_eq!(counts.rate_limited, 1, "only the injected 429");
    // The list twice (the 429, then its answer), three pages per meeting.
    assert_eq!((counts.meetings, counts.list_qos), (2, 12));
    let log = sim.log();
    let times: Vec<tokio::time::Instant> = log
        .requests()
        .filter(|r| r.endpoint.is_dashboard())
        .map(|r| r.arrived_at)
        .collect();
    assert!(
        times[1] - times[0] >= Duration::from_millis(950),
        "the retry waited for Retry-After: {:?}",
        times[1] - times[0]
    );
    // Zoom's own check (5 per second at the simulator) refused nothing but
    // the injected 429 (above); over the fetch, the rate is the budget's.
    let span = *times.last().expect("requests") - times[1];
    let rate = (times.len() - 2) as f64 / span.as_secs_f64();
    eprintln!(
        "budget: {} requests after the 429 in {span:?} ({rate:.2}/s, budget 5/s)",
        times.len() - 1
    );
    assert!(rate <= 5.0, "{rate:.2} requests a second");
    sim.shutdown().await;
}

/// Ann and Ben lose 12 % of their packets (samples 2..6), Cy 20 % (3..7).
async fn lossy_meeting(sim: &SimHandle) {
    sim.add_degradation(Degradation::packet_loss(
        Target::Location(BERLIN.into()),
        2..6,
        12.0,
    ));
    sim.add_degradation(Degradation::packet_loss(
        Target::participant("16780288"),
        3..7,
        20.0,
    ));
    played(sim, meeting_spec(), &people(), 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_replays_offline_to_the_same_report() {
    let dir = temp_dir("record");
    let rules = write(&dir, "rules.yaml", RULES);
    let sim = fast_sim().await;
    lossy_meeting(&sim).await;
    let recording = dir.join("past.jsonl.gz");
    let env = zoom_env(&sim, 20);
    let uuid = meeting_spec().uuid;
    let fetched = backtest(
        &[
            path_str(&rules),
            "--meeting",
            &uuid,
            "--record",
            path_str(&recording),
        ],
        &env,
    )
    .await;
    assert_eq!(fetched.code, 0, "{}\n{}", fetched.stdout, fetched.stderr);
    assert!(fetched.stdout.contains("audio-loss"), "{}", fetched.stdout);
    let requests = sim.request_counts();
    sim.shutdown().await;

    // Zoom is gone: the recording is all there is.
    let offline = backtest(&[path_str(&rules), "--input", path_str(&recording)], &env).await;
    assert_eq!(offline.code, 0, "{}", offline.stderr);
    assert_eq!(offline.stdout, fetched.stdout);
    assert_eq!(offline.stderr, "", "no progress, no request");
    let json = |args: &[&str]| {
        let env = env.clone();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            backtest(&args, &env).await
        }
    };
    let offline_json = json(&[
        path_str(&rules),
        "--input",
        path_str(&recording),
        "--format",
        "json",
    ])
    .await;
    assert_eq!(offline_json.code, 0);
    let report = offline_json.json();
    assert_eq!(report["rules"]["rules"][0]["rule"], "audio-loss");
    assert_eq!(report["rules"]["rules"][0]["alerts"], 3);
    assert_eq!(report["rules"]["rules"][0]["participants"], 3);
    assert_eq!(requests.rate_limited, 0);

    // What the recording keeps: names, no e-mail, no IP, no machine name.
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&recording).expect("file")),
        &mut text,
    )
    .expect("gzip text");
    assert!(
        text.starts_with("{\"format\":\"qoswatch-backtest-recording\",\"version\":1"),
        "{text:.200}"
    );
    assert!(text.contains("Ann Lee"));
    for absent in [
        "@example.com",
        "192.0.2.",
        "198.51.100.",
        "'s PC",
        "Sim Host",
    ] {
        assert!(!text.contains(absent), "{absent} is in the recording");
    }

    // An existing recording is never overwritten.
    let before = std::fs::read(&recording).expect("recording");
    let again = backtest(
        &[
            path_str(&rules),
            "--meeting",
            &uuid,
            "--record",
            path_str(&recording),
        ],
        &env,
    )
    .await;
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    assert_eq!(std::fs::read(&recording).expect("recording"), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_lists_the_alerts_each_rules_file_has_and_the_other_lacks() {
    let dir = temp_dir("compare");
    let loose = write(&dir, "loose.yaml", RULES);
    let strict = write(
        &dir,
        "strict.yaml",
        &RULES.replace("above: 5%", "above: 15%"),
    );
    let sim = fast_sim().await;
    lossy_meeting(&sim).await;
    let env = zoom_env(&sim, 20);
    let run = backtest(
        &[
            path_str(&loose),
            "--compare",
            path_str(&strict),
            "--meeting",
            &meeting_spec().uuid,
            "--format",
            "json",
        ],
        &env,
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    let comparison = &report["comparison"];
    let who = |list: &serde_json::Value| -> Vec<String> {
        list.as_array()
            .expect("list")
            .iter()
            .map(|a| {
                format!(
                    "{} {}",
                    a["rule"].as_str().expect("rule"),
                    a["participant"].as_str().expect("name")
                )
            })
            .collect()
    };
    // 12 % is over 5 % and under 15 %: Berlin only in the loose file; Cy's
    // 20 % in both.
    let mut only_loose = who(&comparison["only_in_rules"]);
    only_loose.sort();
    assert_eq!(only_loose, ["audio-loss Ann Lee", "audio-loss Ben Kim"]);
    assert_eq!(who(&comparison["only_in_compare"]), Vec::<String>::new());
    assert_eq!(comparison["in_both"], 1);
    assert_eq!(report["compare"]["rules_file"], path_str(&strict));

    let text = backtest(
        &[
            path_str(&loose),
            "--compare",
            path_str(&strict),
            "--meeting",
            &meeting_spec().uuid,
        ],
        &env,
    )
    .await;
    assert!(
        text.stdout.contains(&format!(
            "Compared: 1 alert in both, 2 only in {}, 0 only in {}",
            path_str(&loose),
            path_str(&strict)
        )),
        "{}",
        text.stdout
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_or_running_meeting_is_reported_and_the_run_is_incomplete() {
    let dir = temp_dir("unknown");
    let rules = write(&dir, "rules.yaml", RULES);
    let sim = fast_sim().await;
    lossy_meeting(&sim).await;
    sim.add_meeting(MeetingSpec::new("runAAAiAAAAAiAiAiiAii==", 555, "Still on"))
        .expect("meeting");
    let env = zoom_env(&sim, 20);
    let run = backtest(
        &[
            path_str(&rules),
            "--meeting",
            "999000999",
            "--meeting",
            &meeting_spec().uuid,
            "--meeting",
            "555",
        ],
        &env,
    )
    .await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("Backtest: 1 meeting, 3 participants"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Incomplete: 2 not fetched"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("meeting 999000999: Zoom has no past data for it (code 3001)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("meeting 555: Zoom has no past data"),
        "{}",
        run.stdout
    );
    let json = backtest(
        &[
            path_str(&rules),
            "--meeting",
            "999000999",
            "--format",
            "json",
        ],
        &env,
    )
    .await;
    assert_eq!(json.code, 1);
    assert_eq!(json.json()["complete"], false);
    assert_eq!(json.json()["problems"][0]["what"], "meeting 999000999");

    // Refused credentials are the answer for every meeting: asked once.
    let mut wrong = env.clone();
    wrong.insert("ZOOM_CLIENT_SECRET".into(), "not-the-secret".into());
    let tokens_before = sim.token_requests();
    let uuid = meeting_spec().uuid;
    let run = backtest(
        &[
            path_str(&rules),
            "--meeting",
            &uuid,
            "--meeting",
            "555",
            "--meeting",
            "556",
        ],
        &wrong,
    )
    .await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("Incomplete: 2 not fetched"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "2 more meetings: not asked for after: Zoom's token endpoint refused the credentials"
        ),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("not-the-secret") && !run.stderr.contains("not-the-secret"));
    assert_eq!(sim.token_requests() - tokens_before, 1);
    sim.shutdown().await;
}
