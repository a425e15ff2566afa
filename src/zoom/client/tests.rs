use super::answers::{ZoomErrorBody, classify_refusal, daily_remaining};
use super::*;

fn body(code: i64, message: &str) -> Option<ZoomErrorBody> {
    Some(ZoomErrorBody {
        code: Some(code),
        message: Some(message.to_owned()),
    })
}

#[test]
fn refusals_map_to_the_policy_zoom_documents() {
    let not_live = classify_refusal(StatusCode::NOT_FOUND, None);
    assert!(matches!(not_live, ZoomError::NotLive), "{not_live:?}");
    let not_live = classify_refusal(
        StatusCode::BAD_REQUEST,
        body(3001, "Meeting does not exist"),
    );
    assert!(matches!(not_live, ZoomError::NotLive), "{not_live:?}");
    match classify_refusal(StatusCode::BAD_REQUEST, body(200, "No permission.")) {
        ZoomError::NotEntitled { message } => assert_eq!(message, "No permission."),
        other => panic!("{other:?}"),
    }
    let busy = classify_refusal(StatusCode::SERVICE_UNAVAILABLE, body(0, "x"));
    assert!(matches!(busy, ZoomError::Transient(_)), "{busy:?}");
    match classify_refusal(StatusCode::BAD_REQUEST, body(300, "Invalid meeting id")) {
        ZoomError::Rejected {
            status,
            code,
            message,
        } => assert_eq!(
            (status, code, message.as_str()),
            (400, Some(300), "Invalid meeting id")
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_daily_remaining_is_read_unless_the_headers_speak_of_the_per_second_limit() {
    use reqwest::header::{HeaderMap, HeaderValue};
    let headers = |pairs: &[(&'static str, &'static str)]| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    };
    let ordinary = headers(&[
        ("x-ratelimit-category", "Heavy"),
        ("x-ratelimit-limit", "60000"),
        ("x-ratelimit-remaining", " 59000 "),
    ]);
    assert_eq!(daily_remaining(&ordinary), Some(59000));
    let daily = headers(&[
        ("x-ratelimit-type", "Daily-limit"),
        ("x-ratelimit-remaining", "0"),
    ]);
    assert_eq!(daily_remaining(&daily), Some(0));
    let qps = headers(&[("x-ratelimit-type", "QPS"), ("x-ratelimit-remaining", "3")]);
    assert_eq!(daily_remaining(&qps), None);
    assert_eq!(daily_remaining(&headers(&[])), None);
    assert_eq!(
        daily_remaining(&headers(&[("x-ratelimit-remaining", "lots")])),
        None
    );
    assert_eq!(QosEndpoint::Participant.label(), "participant");
    assert_eq!(QosEndpoint::List.label(), "list");
    assert_eq!(QosEndpoint::PastList.label(), "past_list");
    assert_eq!(QosEndpoint::Meetings.label(), "meetings");
}

#[test]
fn a_meeting_row_keeps_the_ids_topic_and_times_and_nothing_personal() {
    let row = serde_json::json!({
        "uuid": "m1==", "id": 84712639219_u64, "topic": "Weekly sync",
        "host": "Jill Chill", "email": "jill@example.com",
        "start_time": "2026-03-02T10:00:00Z", "end_time": "",
    });
    let meeting = PastMeeting::from_json(&row).expect("a row with a UUID");
    assert_eq!(meeting.id.as_deref(), Some("84712639219"));
    assert_eq!(meeting.topic.as_deref(), Some("Weekly sync"));
    assert_eq!(
        meeting.start_time.map(|t| t.to_rfc3339()),
        Some("2026-03-02T10:00:00+00:00".to_owned())
    );
    assert_eq!(meeting.end_time, None);
    let kept = serde_json::to_string(&meeting).expect("serializes");
    assert!(!kept.contains("jill"), "{kept}");
    let string_id = serde_json::json!({"uuid": "m2==", "id": "123"});
    let meeting = PastMeeting::from_json(&string_id).expect("row");
    assert_eq!(meeting.id.as_deref(), Some("123"));
    assert_eq!(PastMeeting::from_json(&serde_json::json!({"id": 1})), None);
}

#[test]
fn code_200_without_400_is_a_plain_rejection() {
    let forbidden = classify_refusal(StatusCode::FORBIDDEN, body(200, "x"));
    assert!(
        matches!(forbidden, ZoomError::Rejected { status: 403, .. }),
        "{forbidden:?}"
    );
}

#[test]
fn long_messages_are_cut() {
    let long = "é".repeat(500);
    match classify_refusal(StatusCode::BAD_REQUEST, body(300, &long)) {
        ZoomError::Rejected { message, .. } => assert_eq!(message.chars().count(), 200),
        other => panic!("{other:?}"),
    }
}
