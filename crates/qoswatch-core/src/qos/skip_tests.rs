//! Reading an answer from its end (`tail.rs`) against reading it whole:
//! the same samples and reports wherever the answer is in Zoom's shape, and
//! the documented differences where it is not.

use chrono::{DateTime, Timelike, Utc};
use proptest::prelude::*;

use super::parse::{page_whole, participant_whole};
use super::*;

fn minute(m: u32) -> DateTime<Utc> {
    let base: DateTime<Utc> = "2021-06-24T20:00:00Z".parse().expect("time");
    base + chrono::Duration::minutes(i64::from(m))
}

/// One entry: its minute, a latency that says which entry it is, and
/// optionally a bad value.
fn entry(m: u32, tag: usize, bad: bool) -> String {
    let at = minute(m).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let jitter = if bad { "banana" } else { "3 ms" };
    format!(
        r#"{{"date_time":"{at}","audio_input":{{"latency":"{tag} ms","jitter":"{jitter}"}},"cpu_usage":{{"zoom_avg_cpu_usage":"12%"}}}}"#
    )
}

fn participant(user_id: &str, entries: &[String], ws: &str) -> String {
    format!(
        r#"{{"id":"x","user_id":"{user_id}",{ws}"user_name":"N","join_time":"2021-06-24T20:00:00Z","user_qos":[{ws}{}{ws}]{ws}}}"#,
        entries.join(&format!(",{ws}"))
    )
}

fn page(participants: &[String], ws: &str) -> String {
    format!(
        r#"{{"page_count":1,"page_size":10,{ws}"total_records":{},"next_page_token":"t","participants":[{ws}{}{ws}]}}{ws}"#,
        participants.len(),
        participants.join(&format!(",{ws}"))
    )
}

fn minutes_of(qos: &ParticipantQos) -> Vec<u32> {
    qos.samples.iter().map(|s| s.at.minute()).collect()
}

fn single(body: &str, max: usize, after: Option<u32>) -> (ParticipantQos, ParseReport) {
    parse_participant_qos_since(body.as_bytes(), max, after.map(minute)).expect("parses")
}

fn single_whole(body: &str, max: usize, after: Option<u32>) -> (ParticipantQos, ParseReport) {
    participant_whole(body.as_bytes(), max, after.map(minute)).expect("parses")
}

/// A series in Zoom's order: ascending minutes, some repeated.
fn ascending(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(0u32..3, len).prop_map(|steps| {
        let mut at = 0;
        steps
            .into_iter()
            .map(|step| {
                at += step;
                at
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn read_from_the_end_is_read_whole(
        minutes in ascending(0..40),
        bad in prop::collection::vec(any::<bool>(), 40),
        after in prop::option::of(0u32..90),
        max in 0usize..45,
        ws in prop::sample::select(vec!["", " ", "\n  "]),
    ) {
        let entries: Vec<String> = minutes
            .iter()
            .enumerate()
            .map(|(i, m)| entry(*m, i, bad[i]))
            .collect();
        let body = participant("1", &entries, ws);
        prop_assert_eq!(single(&body, max, after), single_whole(&body, max, after));
    }

    #[test]
    fn a_page_read_from_the_ends_is_read_whole(
        series in prop::collection::vec((ascending(0..12), prop::option::of(0u32..30)), 0..5),
        max in 0usize..14,
        ws in prop::sample::select(vec!["", " ", "\n  "]),
    ) {
        let participants: Vec<String> = series
            .iter()
            .enumerate()
            .map(|(p, (minutes, _))| {
                let entries: Vec<String> =
                    minutes.iter().enumerate().map(|(i, m)| entry(*m, i, false)).collect();
                participant(&format!("u{p}"), &entries, ws)
            })
            .collect();
        let body = page(&participants, ws);
        let after = |user_id: &str| {
            let p: usize = user_id.strip_prefix('u')?.parse().ok()?;
            series.get(p)?.1.map(minute)
        };
        let fast = parse_meeting_qos_page(body.as_bytes(), max, after).expect("parses");
        let whole = page_whole(body.as_bytes(), max, after).expect("parses");
        prop_assert_eq!(fast, whole);
    }
}

#[test]
fn samples_with_the_time_last_seen_are_old_and_later_ties_are_all_new() {
    let entries: Vec<String> = [1, 2, 2, 3, 3, 3]
        .iter()
        .enumerate()
        .map(|(i, m)| entry(*m, i, false))
        .collect();
    let body = participant("1", &entries, "");
    let (qos, report) = single(&body, 10, Some(2));
    assert_eq!(minutes_of(&qos), [3, 3, 3]);
    assert_eq!(report, ParseReport::default());
    let latency = MetricId::parse("audio_input.latency").expect("metric");
    let tags: Vec<_> = qos.samples.iter().map(|s| s.get(latency)).collect();
    assert_eq!(tags, [Some(3.0), Some(4.0), Some(5.0)], "Zoom's order");
    let (qos, report) = single(&body, 2, Some(2));
    assert_eq!(minutes_of(&qos), [3, 3]);
    assert_eq!(report.samples_dropped, 1);
    assert_eq!((qos, report), single_whole(&body, 2, Some(2)));
    assert!(single(&body, 10, Some(3)).0.samples.is_empty());
}

#[test]
fn new_samples_out_of_order_are_read_whole() {
    // Zoom's order broken among the new samples: seen, so the whole answer
    // is read, and the result is the whole read's.
    for minutes in [[1, 2, 5, 4], [2, 5, 4, 6], [1, 3, 6, 5]] {
        let entries: Vec<String> = minutes
            .iter()
            .enumerate()
            .map(|(i, m)| entry(*m, i, false))
            .collect();
        let body = participant("1", &entries, "");
        let (qos, report) = single(&body, 10, Some(3));
        let new: Vec<u32> = minutes.into_iter().filter(|m| *m > 3).collect();
        assert_eq!(minutes_of(&qos), new, "{minutes:?}");
        assert_eq!((qos, report), single_whole(&body, 10, Some(3)));
    }
}

#[test]
fn an_entry_without_a_time_among_the_new_ones_is_reported_as_in_a_whole_read() {
    let body = participant(
        "1",
        &[
            entry(1, 0, false),
            r#"{"date_time":"soon"}"#.to_owned(),
            entry(3, 2, false),
        ],
        "",
    );
    let (qos, report) = single(&body, 10, Some(1));
    assert_eq!(minutes_of(&qos), [3]);
    assert_eq!(
        report.bad_values,
        [("user_qos[1].date_time".to_owned(), "soon".to_owned())]
    );
    assert_eq!((qos, report), single_whole(&body, 10, Some(1)));
}

#[test]
fn what_lies_before_the_newest_seen_is_not_read() {
    // Decision (tail.rs): an old entry is not read at all. Its bad values,
    // a missing time, broken JSON, even a newer time against Zoom's order
    // are left where they are; a whole read sees them.
    let old_bad = [
        r#"{"date_time":"soon"}"#,
        r#"{"date_time": 12, "audio_input": {"latency": "banana"}}"#,
        r#"{"date_time":"2021-06-24T20:09:00Z"}"#,
        r#"{"date_time": [}"#,
    ];
    for old in old_bad {
        let body = participant(
            "1",
            &[old.to_owned(), entry(1, 1, false), entry(2, 2, false)],
            "",
        );
        let (qos, report) = single(&body, 10, Some(1));
        assert_eq!(minutes_of(&qos), [2], "{old}");
        assert_eq!(report, ParseReport::default(), "{old}");
    }
    // A whole read of the same answers: the time-less entry is reported,
    // the misplaced newer one read, the broken one fails the answer.
    let whole = |old: &str| {
        let body = participant(
            "1",
            &[old.to_owned(), entry(1, 1, false), entry(2, 2, false)],
            "",
        );
        participant_whole(body.as_bytes(), 10, Some(minute(1)))
    };
    assert_eq!(whole(old_bad[0]).expect("parses").1.bad_value_count, 1);
    assert_eq!(minutes_of(&whole(old_bad[2]).expect("parses").0), [9, 2]);
    assert!(whole(old_bad[3]).is_err());
}

#[test]
fn answers_not_in_zooms_shape_are_read_whole() {
    let two = [entry(1, 0, false), entry(2, 1, false)];
    let last_member_not_user_qos = format!(
        r#"{{"user_id":"1","user_qos":[{}],"leave_time":""}}"#,
        two.join(",")
    );
    let entries_not_objects = r#"{"user_id":"1","user_qos":[1,2,3]}"#.to_owned();
    let user_qos_not_an_array = r#"{"user_id":"1","user_qos":{"a":[]}}"#.to_owned();
    let no_user_qos = r#"{"user_id":"1"}"#.to_owned();
    let empty = r#"{"user_id":"1","user_qos":[ ]}"#.to_owned();
    let trailing_garbage = format!(r#"{}]"#, participant("1", &two, ""));
    for body in [
        last_member_not_user_qos,
        entries_not_objects,
        user_qos_not_an_array,
        no_user_qos,
        empty,
    ] {
        let fast = single(&body, 10, Some(1));
        assert_eq!(fast, single_whole(&body, 10, Some(1)), "{body}");
    }
    assert!(parse_participant_qos_since(trailing_garbage.as_bytes(), 10, Some(minute(1))).is_err());
    let fast = single(
        &format!(
            r#"{{"user_id":"1","user_qos":[{}],"leave_time":""}}"#,
            two.join(",")
        ),
        10,
        Some(1),
    );
    assert_eq!(minutes_of(&fast.0), [2]);
}

#[test]
fn details_before_user_qos_are_read_and_a_repeated_one_wins_last() {
    let body = format!(
        r#"{{"user_id":"1","user_id":"2","leave_time":"not a time","user_qos":[{}]}}"#,
        [entry(1, 0, false), entry(2, 1, false)].join(",")
    );
    let (qos, report) = single(&body, 10, Some(1));
    assert_eq!(qos.details.user_id.as_deref(), Some("2"));
    assert_eq!(minutes_of(&qos), [2]);
    assert_eq!(
        report.bad_values,
        [("leave_time".to_owned(), "not a time".to_owned())]
    );
}

#[test]
fn each_participant_of_a_page_gets_its_own_new_samples_from_the_end() {
    let series = |user_id: &str, minutes: &[u32]| {
        let entries: Vec<String> = minutes
            .iter()
            .enumerate()
            .map(|(i, m)| entry(*m, i, false))
            .collect();
        participant(user_id, &entries, " ")
    };
    // Old entries that a whole read would report: only a read from the
    // ends can leave them out, so this also shows that the ends were read.
    let with_old_garbage = |user_id: &str| {
        participant(
            user_id,
            &[
                r#"{"date_time":"soon"}"#.to_owned(),
                entry(1, 1, false),
                entry(2, 2, false),
            ],
            "",
        )
    };
    let body = page(
        &[
            with_old_garbage("a"),
            series("b", &[1, 2, 3]),
            with_old_garbage("c"),
        ],
        "\n",
    );
    let after = |user_id: &str| match user_id {
        "a" | "c" => Some(minute(1)),
        "b" => Some(minute(2)),
        _ => None,
    };
    let (fast, report) = parse_meeting_qos_page(body.as_bytes(), 10, after).expect("parses");
    let got: Vec<(Option<String>, Vec<u32>)> = fast
        .participants
        .iter()
        .map(|p| (p.details.user_id.clone(), minutes_of(p)))
        .collect();
    assert_eq!(
        got,
        [
            (Some("a".to_owned()), vec![2]),
            (Some("b".to_owned()), vec![3]),
            (Some("c".to_owned()), vec![2]),
        ]
    );
    assert_eq!(report, ParseReport::default(), "nothing old was read");
    assert_eq!(fast.next_page_token.as_deref(), Some("t"));
    assert_eq!(fast.total_records, Some(3));
    let (whole, report) = page_whole(body.as_bytes(), 10, after).expect("parses");
    assert_eq!(whole.participants, fast.participants);
    assert_eq!(report.bad_value_count, 2);
}

#[test]
fn pages_not_in_zooms_shape_are_read_whole() {
    let p = |user_id: &str| participant(user_id, &[entry(1, 0, false), entry(2, 1, false)], "");
    let escaped_name = p("a").replace(r#""user_name":"N""#, r#""user_name":"N \"Q\"""#);
    let escaped_key = p("b").replace(r#""user_qos""#, r#""user_\u0071os""#);
    let bodies = [
        // A backslash where participants are searched for.
        page(&[p("a"), escaped_name.clone(), p("c")], ""),
        page(&[p("a"), escaped_key, p("c")], ""),
        // A participant that is not an object, one whose last member is
        // not user_qos, one without user_qos.
        page(&[p("a"), "7".to_owned(), p("c")], ""),
        page(&[p("a"), p("b").replace("]}", r#"],"x":1}"#), p("c")], ""),
        page(&[p("a"), r#"{"user_id":"b"}"#.to_owned(), p("c")], ""),
        // The page's own fields after the participants; no participants.
        format!(r#"{{"participants":[{}],"next_page_token":"t"}}"#, p("a")),
        r#"{"participants":[]}"#.to_owned(),
        r#"{"participants":{}}"#.to_owned(),
        r#"{"next_page_token":""}"#.to_owned(),
    ];
    let after = |_: &str| Some(minute(1));
    for body in &bodies {
        let fast = parse_meeting_qos_page(body.as_bytes(), 10, after).expect(body);
        let whole = page_whole(body.as_bytes(), 10, after).expect(body);
        assert_eq!(fast, whole, "{body}");
    }
    // The escaped name is still read (whole).
    let (fast, _) = parse_meeting_qos_page(bodies[0].as_bytes(), 10, after).expect("parses");
    assert_eq!(
        fast.participants[1].details.user_name.as_deref(),
        Some("N \"Q\"")
    );
    assert_eq!(minutes_of(&fast.participants[1]), [2]);
    // A key "user_qos" inside a sample is not taken for a participant.
    let nested = participant(
        "a",
        &[
            entry(1, 0, false),
            r#"{"date_time":"2021-06-24T20:02:00Z","user_qos":[]}"#.to_owned(),
            entry(3, 2, false),
        ],
        "",
    );
    let body = page(&[nested, p("b")], "");
    let fast = parse_meeting_qos_page(body.as_bytes(), 10, after).expect("parses");
    assert_eq!(
        fast,
        page_whole(body.as_bytes(), 10, after).expect("parses")
    );
    assert_eq!(minutes_of(&fast.0.participants[0]), [2, 3]);
}
