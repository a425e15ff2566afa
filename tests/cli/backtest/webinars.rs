//! `qoswatch backtest` for webinars: `--webinar` and `--webinars` with a
//! range fetch from the webinars' Dashboard endpoints (`type=past`), and
//! the report names the call a webinar.

use qoswatch_zoomsim::{Degradation, MeetingSpec, ParticipantSpec, Target};

use super::harness::{backtest, path_str, temp_dir, write, zoom_env};
use super::{RULES, fast_sim, played, sim_day};

const WEBINAR: &str = "wbtAAAiAAAAAiAiAiiAii==";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_webinars_are_fetched_from_the_webinars_endpoints() {
    let dir = temp_dir("webinars");
    let rules = write(&dir, "rules.yaml", RULES);
    let sim = fast_sim().await;
    let attendees = [
        ParticipantSpec::new("16790001", "Ann Lee"),
        ParticipantSpec::new("16790002", "Ben Kim"),
    ];
    sim.add_degradation(Degradation::packet_loss(
        Target::participant("16790001"),
        2..6,
        15.0,
    ));
    let town_hall = MeetingSpec::new(WEBINAR, 91_234_567_890, "Town hall").as_webinar();
    played(&sim, town_hall, &attendees, 8).await;
    // A meeting the same day, with its own loss: not a webinar, not listed.
    sim.add_degradation(Degradation::packet_loss(
        Target::participant("16790003"),
        2..6,
        15.0,
    ));
    let meeting = MeetingSpec::new("mbtAAAiAAAAAiAiAiiAii==", 84_000_000_001, "Weekly sync");
    played(
        &sim,
        meeting,
        &[ParticipantSpec::new("16790003", "Cy Dunn")],
        8,
    )
    .await;
    let env = zoom_env(&sim, 20);
    let day = sim_day(&sim);

    let listed = backtest(
        &[path_str(&rules), "--from", &day, "--to", &day, "--webinars"],
        &env,
    )
    .await;
    assert_eq!(listed.code, 0, "{}\n{}", listed.stdout, listed.stderr);
    assert!(
        listed
            .stdout
            .contains("Backtest: 1 meeting, 2 participants"),
        "{}",
        listed.stdout
    );
    assert!(
        listed.stdout.contains("Town hall (webinar)"),
        "{}",
        listed.stdout
    );
    assert!(listed.stdout.contains("audio-loss"), "{}", listed.stdout);
    assert!(!listed.stdout.contains("Weekly sync"), "{}", listed.stdout);
    let requests = sim.log().requests().cloned().collect::<Vec<_>>();
    let dashboard: Vec<_> = requests
        .iter()
        .filter(|r| r.endpoint.is_dashboard())
        .collect();
    assert!(!dashboard.is_empty());
    for request in &dashboard {
        assert!(
            request.raw_path.starts_with("/v2/metrics/webinars"),
            "{}",
            request.raw_path
        );
        assert!(
            request
                .raw_query
                .as_deref()
                .unwrap_or("")
                .contains("type=past"),
            "{:?}",
            request.raw_query
        );
    }

    // By id: the webinar found at its own endpoints; a webinar's UUID
    // asked for as a meeting is unknown there.
    let by_id = backtest(&[path_str(&rules), "--webinar", WEBINAR], &env).await;
    assert_eq!(by_id.code, 0, "{}\n{}", by_id.stdout, by_id.stderr);
    assert!(
        by_id.stdout.contains("Town hall (webinar)"),
        "{}",
        by_id.stdout
    );
    let as_meeting = backtest(&[path_str(&rules), "--meeting", WEBINAR], &env).await;
    assert_eq!(as_meeting.code, 1, "{}", as_meeting.stdout);
    assert!(
        as_meeting
            .stdout
            .contains(&format!("meeting {WEBINAR}: Zoom has no past data")),
        "{}",
        as_meeting.stdout
    );
}
