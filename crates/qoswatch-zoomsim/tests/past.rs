//! `type=past`: the meetings list, a meeting's details and the QoS of a
//! meeting that ended (every sample from the join to the leave, no live
//! window), under paused time.

mod common;

use std::time::Duration;

use common::{
    PLAIN_SEGMENT, PLAIN_UUID, get, http, meeting, sample_times, start_paused_sim, token,
};
use qoswatch_zoomsim::{MeetingSpec, ParticipantSpec};
use serde_json::Value as Json;

fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("time")
        .with_timezone(&chrono::Utc)
}

#[tokio::test(start_paused = true)]
async fn an_ended_meeting_serves_every_sample_as_past_and_none_as_live() {
    let sim = start_paused_sim(at("2026-03-02T10:00:00Z")).await;
    let http = http();
    let token = token(&sim, &http).await;
    sim.add_meeting(meeting(PLAIN_UUID)).expect("meeting");
    sim.add_participant(PLAIN_UUID, ParticipantSpec::new("1", "Ann"))
        .expect("join");
    let list = |kind: &str| {
        format!(
            "{}/metrics/meetings/{PLAIN_SEGMENT}/participants/qos?type={kind}",
            sim.api_base()
        )
    };

    // Running: no past data yet.
    let (status, _, body) = get(&http, &list("past"), &token).await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(3001)));

    // 45 minutes, more than the 30-minute live window, then the end.
    tokio::time::advance(Duration::from_secs(45 * 60)).await;
    sim.end_meeting(PLAIN_UUID).expect("end");
    let (status, _, body) = get(&http, &list("live"), &token).await;
    assert_eq!((status, body["code"].as_i64()), (404, Some(3001)));

    let (status, _, body) = get(&http, &list("past"), &token).await;
    assert_eq!(status, 200, "{body}");
    let participant = &body["participants"][0];
    let times = sample_times(participant);
    assert_eq!(times.len(), 45, "every minute from join to end");
    assert_eq!(times[0], "2026-03-02T10:01:00Z");
    assert_eq!(times[44], "2026-03-02T10:45:00Z");
    assert_eq!(participant["leave_time"], "2026-03-02T10:45:00Z");

    // The single endpoint and the meeting number serve the same.
    let single = format!(
        "{}/metrics/meetings/1234567890/participants/1/qos?type=past",
        sim.api_base()
    );
    let (status, _, body) = get(&http, &single, &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sample_times(&body).len(), 45);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_meetings_list_pages_the_meetings_that_started_in_the_range() {
    let sim = start_paused_sim(at("2026-03-02T23:00:00Z")).await;
    let http = http();
    // Three meetings on 2 March, one on 3 March (UTC), one still running.
    for (n, uuid) in ["m1==", "m2==", "m3=="].into_iter().enumerate() {
        sim.add_meeting(MeetingSpec::new(uuid, 100 + n as u64, format!("Sync {n}")))
            .expect("meeting");
        tokio::time::advance(Duration::from_secs(10 * 60)).await;
        sim.end_meeting(uuid).expect("end");
    }
    tokio::time::advance(Duration::from_secs(60 * 60)).await;
    sim.add_meeting(MeetingSpec::new("m4==", 200, "Next day"))
        .expect("meeting");
    tokio::time::advance(Duration::from_secs(5 * 60)).await;
    sim.end_meeting("m4==").expect("end");
    sim.add_meeting(MeetingSpec::new("m5==", 300, "Running"))
        .expect("meeting");
    let token = token(&sim, &http).await;

    let url = |query: &str| format!("{}/metrics/meetings?type=past&{query}", sim.api_base());
    let (status, _, first) = get(
        &http,
        &url("from=2026-03-02&to=2026-03-02&page_size=2"),
        &token,
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["total_records"], 3);
    assert_eq!(first["from"], "2026-03-02");
    let uuids = |page: &Json| -> Vec<String> {
        page["meetings"]
            .as_array()
            .expect("meetings")
            .iter()
            .map(|m| m["uuid"].as_str().expect("uuid").to_owned())
            .collect()
    };
    assert_eq!(uuids(&first), ["m1==", "m2=="]);
    assert_eq!(first["meetings"][0]["start_time"], "2026-03-02T23:00:00Z");
    assert_eq!(first["meetings"][0]["end_time"], "2026-03-02T23:10:00Z");
    assert_eq!(first["meetings"][0]["duration"], "00:10:00");
    let token_param = first["next_page_token"].as_str().expect("token").to_owned();
    let (_, _, second) = get(
        &http,
        &url(&format!(
            "from=2026-03-02&to=2026-03-02&page_size=2&next_page_token={token_param}"
        )),
        &token,
    )
    .await;
    assert_eq!(uuids(&second), ["m3=="]);
    assert_eq!(second["next_page_token"], "");

    let (_, _, both_days) = get(&http, &url("from=2026-03-01&to=2026-03-31"), &token).await;
    assert_eq!(uuids(&both_days), ["m1==", "m2==", "m3==", "m4=="]);

    // Zoom's limits: both dates, at most a month.
    for bad in [
        "from=2026-03-01",
        "from=2026-03-01&to=2026-04-02",
        "from=2026-03-03&to=2026-03-02",
    ] {
        let (status, _, body) = get(&http, &url(bad), &token).await;
        assert_eq!(
            (status, body["code"].as_i64()),
            (400, Some(300)),
            "{bad}: {body}"
        );
    }

    // Details by number: the latest instance that ended.
    let (status, _, details) = get(
        &http,
        &format!("{}/metrics/meetings/200?type=past", sim.api_base()),
        &token,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(details["uuid"], "m4==");
    assert_eq!(details["topic"], "Next day");
    let (status, _, _) = get(
        &http,
        &format!("{}/metrics/meetings/300?type=past", sim.api_base()),
        &token,
    )
    .await;
    assert_eq!(status, 404, "a running meeting has no past details");
    assert_eq!(sim.request_counts().meetings, 8);
    sim.shutdown().await;
}
