use super::*;
use crate::alert::{AlertStatus, Severity};
use chrono::TimeZone;

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 10, minute, 0)
        .single()
        .expect("time")
}

fn labels() -> Labels {
    Labels {
        topic: "Weekly sync".into(),
        participant: "Ana Alvarez".into(),
        location: "Berlin (DE)".into(),
        rule: "audio-latency".into(),
        severity: "critical".into(),
        account: "acme".into(),
    }
}

fn spec(name: &str, value: &str, is_regex: bool) -> MatcherSpec {
    MatcherSpec {
        name: name.into(),
        value: value.into(),
        is_regex,
    }
}

fn matcher(name: &str, value: &str, is_regex: bool) -> Matcher {
    Matcher::compile(&spec(name, value, is_regex), "m").expect("valid matcher")
}

fn request(matchers: Vec<MatcherSpec>, duration: &str) -> SilenceRequest {
    SilenceRequest {
        matchers,
        duration: duration.into(),
        created_by: "ana".into(),
        comment: "Berlin link being fixed".into(),
    }
}

#[test]
fn every_field_matches_its_own_label_exactly() {
    let l = labels();
    for (name, value) in [
        ("topic", "Weekly sync"),
        ("participant", "Ana Alvarez"),
        ("location", "Berlin (DE)"),
        ("rule", "audio-latency"),
        ("severity", "critical"),
    ] {
        assert!(matcher(name, value, false).matches(&l), "{name}");
        // Another field with the same value does not match.
        for (other, _) in Field::ALL {
            if other != Field::parse(name).expect("field") {
                let spec = spec(Field::ALL[other as usize].1, value, false);
                if let Ok(m) = Matcher::compile(&spec, "m") {
                    assert!(!m.matches(&l), "{name} value under {other:?}");
                }
            }
        }
    }
    assert!(!matcher("topic", "Weekly", false).matches(&l));
    assert!(!matcher("participant", "ana alvarez", false).matches(&l));
}

#[test]
fn regex_matchers_are_anchored() {
    let l = labels();
    assert!(matcher("location", "Berlin.*", true).matches(&l));
    assert!(!matcher("location", "erlin.*", true).matches(&l));
    assert!(!matcher("location", "Berlin", true).matches(&l));
    assert!(matcher("topic", "Weekly sync|Board", true).matches(&l));
    assert!(matcher("severity", "warning|critical", true).matches(&l));
    // A regex's special characters are literal in an exact matcher.
    assert!(!matcher("location", "Berlin.*", false).matches(&l));
    assert!(matcher("location", "Berlin (DE)", false).matches(&l));
}

#[test]
fn a_silence_needs_every_matcher() {
    let now = at(0);
    let silence = request(
        vec![
            spec("rule", "audio-latency", false),
            spec("location", "Berlin.*", true),
        ],
        "1h",
    )
    .into_silence("s1".into(), now)
    .expect("valid");
    assert!(silence.matches(&labels()));
    let mut elsewhere = labels();
    elsewhere.location = "Paris".into();
    assert!(!silence.matches(&elsewhere));
    let mut other_rule = labels();
    other_rule.rule = "video-fps".into();
    assert!(!silence.matches(&other_rule));
}

#[test]
fn a_silence_is_in_force_until_it_ends_or_is_removed() {
    let mut silence = request(vec![spec("rule", "x", false)], "30m")
        .into_silence("s1".into(), at(0))
        .expect("valid");
    assert_eq!(silence.starts_at, at(0));
    assert_eq!(silence.ends_at, at(30));
    assert!(silence.is_active(at(0)));
    assert!(silence.is_active(at(29)));
    assert!(!silence.is_active(at(30)));
    silence.remove(at(10));
    assert_eq!(silence.ends_at, at(10));
    assert_eq!(silence.removed_at, Some(at(10)));
    assert!(!silence.is_active(at(10)));
    // Removing an ended silence changes nothing.
    silence.remove(at(20));
    assert_eq!(silence.ends_at, at(10));
    assert_eq!(silence.removed_at, Some(at(10)));
}

#[test]
fn bad_requests_name_the_problem() {
    let now = at(0);
    let refused = |r: SilenceRequest| r.into_silence("x".into(), now).unwrap_err();
    assert_eq!(
        refused(request(vec![], "1h")),
        "matchers: at least one matcher is needed"
    );
    let error = refused(request(vec![spec("email", "a@b.c", false)], "1h"));
    assert!(
        error.starts_with("matchers[0].name: unknown field `email`; one of topic, participant"),
        "{error}"
    );
    let error = refused(request(
        vec![spec("rule", "x", false), spec("topic", "(", true)],
        "1h",
    ));
    assert!(
        error.starts_with("matchers[1].value: not a valid regular expression"),
        "{error}"
    );
    let error = refused(request(vec![spec("severity", "urgent", false)], "1h"));
    assert!(
        error.contains("severity is `warning` or `critical`"),
        "{error}"
    );
    for duration in ["-5m", "soon", "", "5"] {
        let error = refused(request(vec![spec("rule", "x", false)], duration));
        assert!(error.starts_with("duration: `"), "{duration}: {error}");
    }
    assert_eq!(
        refused(request(vec![spec("rule", "x", false)], "0s")),
        "duration: must be at least 1s"
    );
    assert!(
        refused(request(vec![spec("rule", "x", false)], "31d")).starts_with("duration: at most")
    );
    let mut no_author = request(vec![spec("rule", "x", false)], "1h");
    no_author.created_by = "  ".into();
    assert_eq!(refused(no_author), "createdBy: must not be empty");
    let mut no_comment = request(vec![spec("rule", "x", false)], "1h");
    no_comment.comment = String::new();
    assert_eq!(refused(no_comment), "comment: must not be empty");
    let mut long = request(vec![spec("rule", "x", false)], "1h");
    long.comment = "x".repeat(MAX_COMMENT_CHARS + 1);
    assert!(refused(long).starts_with("comment: longer than"));
    let mut two_lines = request(vec![spec("rule", "x", false)], "1h");
    two_lines.created_by = "ana\nbob".into();
    assert_eq!(refused(two_lines), "createdBy: must be one line");
    let many = (0..=MAX_MATCHERS)
        .map(|_| spec("rule", "x", false))
        .collect();
    assert_eq!(refused(request(many, "1h")), "matchers: at most 16");
    let long_value = "x".repeat(MAX_VALUE_CHARS + 1);
    assert!(
        refused(request(vec![spec("rule", &long_value, false)], "1h"))
            .starts_with("matchers[0].value: longer than")
    );
}

#[test]
fn limits_are_inclusive() {
    let now = at(0);
    let longest = request(vec![spec("rule", "x", false)], "30d")
        .into_silence("x".into(), now)
        .expect("30 days is allowed");
    assert_eq!(
        longest.ends_at - longest.starts_at,
        chrono::Duration::days(30)
    );
    assert!(
        request(vec![spec("rule", "x", false)], "1s")
            .into_silence("x".into(), now)
            .is_ok()
    );
    let sixteen = (0..MAX_MATCHERS)
        .map(|_| spec("rule", "x", false))
        .collect();
    assert!(request(sixteen, "1h").into_silence("x".into(), now).is_ok());
    let mut full = request(
        vec![spec("rule", &"x".repeat(MAX_VALUE_CHARS), false)],
        "1h",
    );
    full.created_by = "a".repeat(MAX_AUTHOR_CHARS);
    full.comment = "c".repeat(MAX_COMMENT_CHARS);
    assert!(full.into_silence("x".into(), now).is_ok());
}

#[test]
fn a_silence_survives_json_as_the_store_keeps_it() {
    let silence = request(
        vec![
            spec("location", "Berlin.*", true),
            spec("severity", "critical", false),
        ],
        "2h",
    )
    .into_silence("abc".into(), at(0))
    .expect("valid");
    let text = serde_json::to_string(&silence).expect("json");
    assert!(text.contains(r#""isRegex":true"#), "{text}");
    let back: Silence = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back, silence);
    assert!(back.matches(&labels()));
    assert!(!back.end_announced);
    let mut announced = silence.clone();
    announced.end_announced = true;
    let back: Silence =
        serde_json::from_str(&serde_json::to_string(&announced).expect("json")).expect("back");
    assert!(back.end_announced);
    // A stored matcher that no longer compiles makes the record unreadable.
    let broken = text.replace("Berlin.*", "(");
    assert!(serde_json::from_str::<Silence>(&broken).is_err());
}

#[test]
fn filters_read_like_alertmanagers() {
    let l = labels();
    assert!(
        parse_filter(r#"rule="audio-latency""#)
            .expect("f")
            .matches(&l)
    );
    assert!(parse_filter("rule=audio-latency").expect("f").matches(&l));
    assert!(parse_filter(r#"location=~"Ber.*""#).expect("f").matches(&l));
    assert!(!parse_filter(r#"location=~"Par.*""#).expect("f").matches(&l));
    assert!(!parse_filter(r#"location="Ber.*""#).expect("f").matches(&l));
    assert!(
        parse_filter(" topic = \"Weekly sync\" ")
            .expect("f")
            .matches(&l)
    );
    let error = parse_filter("rule").unwrap_err();
    assert!(error.starts_with("filter: `rule` is not"), "{error}");
    let error = parse_filter("ip=1.2.3.4").unwrap_err();
    assert!(
        error.starts_with("filter.name: unknown field `ip`"),
        "{error}"
    );
}

#[test]
fn labels_of_an_event() {
    let mut event = crate::testing::example_event("u1", AlertStatus::Firing);
    event.severity = Severity::Critical;
    event.meeting.topic = Some("Board".into());
    if let Some(p) = event.participant.as_mut() {
        p.name = Some("Ana".into());
        p.location = Some("Lisbon".into());
        p.email = Some("ana@example.com".into());
    }
    assert_eq!(
        Labels::of(&event),
        Labels {
            topic: "Board".into(),
            participant: "Ana".into(),
            location: "Lisbon".into(),
            rule: "latency".into(),
            severity: "critical".into(),
            account: "default".into(),
        }
    );
    event.participant = None;
    event.meeting.topic = None;
    let bare = Labels::of(&event);
    assert_eq!(bare.participant, "");
    assert_eq!(bare.location, "");
    assert_eq!(bare.topic, "");
}

#[test]
fn matchers_are_equal_by_field_value_and_kind() {
    assert_eq!(matcher("rule", "x", false), matcher("rule", "x", false));
    assert_eq!(matcher("rule", "x.*", true), matcher("rule", "x.*", true));
    assert_ne!(matcher("rule", "x", false), matcher("topic", "x", false));
    assert_ne!(matcher("rule", "x", false), matcher("rule", "y", false));
    assert_ne!(matcher("rule", "x", false), matcher("rule", "x", true));
}

#[test]
fn a_silence_or_a_filter_can_keep_to_one_account() {
    let acme = Matcher::compile(&spec("account", "acme", false), "filter").expect("valid");
    let globex = Matcher::compile(&spec("account", "globex", false), "filter").expect("valid");
    assert!(acme.matches(&labels()));
    assert!(!globex.matches(&labels()));
}
