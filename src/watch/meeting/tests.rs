//! The meeting loop's decisions, without Zoom: which members are due, how
//! list rows find their members, what an answer, a delivered sample and a
//! failure do to a member. The client points at a port nothing listens on
//! and is never asked.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use prometheus_client::registry::Registry;
use qoswatch_core::qos::{MeetingQosPage, ParticipantDetails, ParticipantQos};
use qoswatch_core::subject::{StopReason, WatchSubject};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::list::{Listing, Next};
use super::{Command, Joining, MeetingHost, MeetingPoller, PollContext, PollEnd, StopRequest};
use crate::quota::PollingMode;
use crate::quota::budget::BudgetError;
use crate::store::Store;
use crate::watch::settings::PollingSettings;
use crate::watch::source::Source;
use crate::watch::test_kit::{
    RecordingSink, bare_sample, fast_settings, no_credentials, poll_context, subject,
};
use crate::zoom::client::ZoomError;

/// A host that writes down which watches ended.
#[derive(Debug, Default)]
struct FakeHost {
    finished: Mutex<Vec<(u64, StopReason)>>,
}

impl MeetingHost for FakeHost {
    fn member_finished(&self, _: &WatchSubject, id: u64, reason: StopReason) {
        self.finished.lock().unwrap().push((id, reason));
    }

    fn retire(&self, _: &mpsc::UnboundedReceiver<Command>) -> bool {
        true
    }
}

struct Fixture {
    ctx: PollContext,
    store: Store,
    host: FakeHost,
    sink: RecordingSink,
}

impl Fixture {
    async fn new(settings: PollingSettings) -> Self {
        let mut registry = Registry::default();
        let ctx = poll_context(
            settings,
            "http://127.0.0.1:9",
            "http://127.0.0.1:9/oauth/token",
            no_credentials(),
            &mut registry,
        );
        let store = Store::in_memory(&mut registry).await.expect("store");
        Self {
            ctx,
            store,
            host: FakeHost::default(),
            sink: RecordingSink::default(),
        }
    }

    /// A loop of meeting `m1` with members `user_ids` (registry ids 1, 2, …).
    fn poller(&self, user_ids: &[&str]) -> MeetingPoller<'_> {
        let mut poller = MeetingPoller::new(
            &self.ctx,
            &self.store,
            &self.host,
            &self.sink,
            7,
            "m1".into(),
        );
        for (n, user_id) in user_ids.iter().enumerate() {
            poller.apply(Command::Join(Box::new(Joining {
                subject: subject("m1", user_id),
                id: n as u64 + 1,
                resume: Default::default(),
                urgent_for: None,
            })));
        }
        poller
    }
}

fn at(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap() + TimeDelta::minutes(minute)
}

fn answer(user_id: &str, minutes: &[i64]) -> ParticipantQos {
    ParticipantQos {
        details: ParticipantDetails {
            user_id: Some(user_id.to_owned()),
            ..ParticipantDetails::default()
        },
        samples: minutes.iter().map(|m| bare_sample(at(*m))).collect(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_new_member_is_due_one_interval_after_joining_and_a_retry_waits() {
    let fixture = Fixture::new(fast_settings()).await;
    let mut poller = fixture.poller(&["a", "b"]);
    let joined = Instant::now();
    let interval = fast_settings().interval;

    let early = poller.schedule(joined);
    assert!(early.singles_due.is_empty(), "nobody is due at the join");
    assert_eq!(early.list_due, None, "fixed mode never lists");
    assert_eq!(early.wake, joined + interval);

    assert_eq!(poller.schedule(joined + interval).singles_due, vec![0, 1]);
    poller.members[1].retry_at = Some(joined + Duration::from_secs(10));
    let schedule = poller.schedule(joined + interval);
    assert_eq!(schedule.singles_due, vec![0], "b waits for its retry");
    poller.members[0].due_from = joined + interval;
    assert_eq!(
        poller.schedule(joined + interval).wake,
        joined + interval * 2,
        "the next wake is the earliest member due"
    );
}

#[tokio::test(start_paused = true)]
async fn a_meeting_alert_makes_every_member_due_at_the_fastest_pace_and_urgent() {
    let mut settings = fast_settings();
    settings.max_interval = settings.interval * 16;
    settings.max_staleness = settings.interval * 32;
    let fixture = Fixture::new(settings.clone()).await;
    let mut poller = fixture.poller(&["a", "b", "c"]);
    let interval = settings.interval;
    let urgent_for = interval * 10;
    // a polled long ago, b just now, c in back-off; all with a sample.
    let now = Instant::now();
    tokio::time::advance(interval * 5).await;
    let later = Instant::now();
    poller.members[0].due_from = now;
    poller.members[1].due_from = later;
    poller.members[2].due_from = now;
    poller.members[2].retry_at = Some(later + Duration::from_secs(30));
    for member in &mut poller.members {
        member.last_seen = Some(at(0));
    }
    assert!(poller.members.iter().all(|m| !m.urgent()));

    poller.apply(Command::Hurry { urgent_for });
    assert!(poller.members.iter().all(|m| m.urgent()));
    assert_eq!(
        poller
            .members
            .iter()
            .map(|m| m.retry_at)
            .collect::<Vec<_>>(),
        vec![
            Some(later),
            Some(later + interval),
            Some(later + Duration::from_secs(30))
        ],
        "a at once, b one interval after its poll, c keeps its back-off"
    );
    assert_eq!(poller.schedule(later).singles_due, vec![0]);
    // The urgency lasts its window, counted from the last signal.
    tokio::time::advance(urgent_for - Duration::from_millis(1)).await;
    assert!(poller.members[0].urgent());
    tokio::time::advance(Duration::from_millis(2)).await;
    assert!(!poller.members[0].urgent());
}

#[tokio::test(start_paused = true)]
async fn members_on_one_page_are_listed_together_and_a_refused_id_lists_only() {
    let adaptive = PollingSettings {
        mode: PollingMode::Adaptive,
        ..fast_settings()
    };
    let fixture = Fixture::new(adaptive).await;
    let mut poller = fixture.poller(&["a", "b", "c"]);
    let due = Instant::now() + fast_settings().interval;
    let schedule = poller.schedule(due);
    assert_eq!(
        schedule.list_due,
        Some(vec![0, 1, 2]),
        "one page for three is cheaper than three requests"
    );
    assert!(schedule.singles_due.is_empty());

    let lone = fixture.poller(&["a"]);
    assert_eq!(lone.schedule(due).singles_due, vec![0], "one alone");
    assert_eq!(lone.schedule(due).list_due, None);
    let mut lone = lone;
    lone.list_only = true;
    assert_eq!(lone.schedule(due).list_due, Some(vec![0]));
    assert!(lone.schedule(due).singles_due.is_empty());
    poller.list_only = true;
    assert_eq!(poller.schedule(due).list_due, Some(vec![0, 1, 2]));
}

#[tokio::test(start_paused = true)]
async fn list_rows_find_their_members_on_user_id() {
    let fixture = Fixture::new(fast_settings()).await;
    let mut poller = fixture.poller(&["a", "b"]);
    assert_eq!(poller.member_of_row(Some("b")), Some(1));
    assert_eq!(poller.member_of_row(Some("a")), Some(0));
    assert_eq!(poller.member_of_row(Some("B")), None, "ids are exact");
    assert_eq!(poller.member_of_row(Some("z")), None);
    assert_eq!(poller.member_of_row(None), None, "a row without an id");

    let mut listing = Listing {
        wanted: vec![0, 1],
        found: vec![false, false],
        token: None,
        restarted: false,
        page_size: 10,
    };
    let first = MeetingQosPage {
        participants: vec![answer("z", &[0]), answer("b", &[0, 1])],
        next_page_token: Some("page-2".into()),
        total_records: Some(12),
        page_size: Some(10),
    };
    assert_eq!(poller.take_page(first, &mut listing, at(2)), Next::Page);
    assert_eq!(listing.found, vec![false, true]);
    assert_eq!(listing.missing(), vec![0]);
    assert_eq!(listing.token.as_deref(), Some("page-2"));
    assert_eq!(poller.total_records, Some(12));
    assert_eq!(fixture.sink.heard().times("b"), vec![at(0), at(1)]);
    assert!(fixture.sink.heard().times("z").is_empty());

    let second = MeetingQosPage {
        participants: vec![answer("a", &[1])],
        next_page_token: Some("page-3".into()),
        ..MeetingQosPage::default()
    };
    assert_eq!(
        poller.take_page(second, &mut listing, at(2)),
        Next::Done,
        "every wanted member found: no third page"
    );
    assert_eq!(poller.total_records, Some(12), "kept when a page omits it");
}

#[tokio::test(start_paused = true)]
async fn due_members_no_page_held_wait_an_interval_and_go_stale() {
    let settings = PollingSettings {
        stale_after: Duration::from_secs(30),
        ..fast_settings()
    };
    let fixture = Fixture::new(settings).await;
    let mut poller = fixture.poller(&["a", "b"]);
    poller.members[0].retry_at = Some(Instant::now());
    tokio::time::advance(Duration::from_secs(31)).await;
    let listing = Listing {
        wanted: vec![0, 1],
        found: vec![false, true],
        token: None,
        restarted: false,
        page_size: 10,
    };
    poller.not_listed(&listing);
    assert_eq!(poller.members[0].retry_at, None);
    assert_eq!(poller.members[0].due_from, Instant::now());
    assert_eq!(poller.members[0].ending, Some(StopReason::Stale));
    assert_eq!(poller.members[1].ending, None, "found: not this step's");
    assert_eq!(fixture.sink.heard().idles, 1);
}

#[tokio::test(start_paused = true)]
async fn delivered_and_polled_samples_share_one_deduplication() {
    let fixture = Fixture::new(fast_settings()).await;
    let mut poller = fixture.poller(&["a", "b"]);
    let pushed = vec![bare_sample(at(1)), bare_sample(at(0))];
    assert_eq!(poller.delivered(1, pushed, Source::Push, at(2)), Some(2));
    assert_eq!(
        fixture.sink.heard().times("a"),
        vec![at(0), at(1)],
        "in order"
    );
    assert_eq!(poller.members[0].last_seen, Some(at(1)));
    assert_eq!(
        poller.delivered(1, vec![bare_sample(at(1))], Source::Push, at(2)),
        Some(0),
        "a repeat"
    );

    // The poll brings 1 again and 2: only 2 is new.
    poller.answered(0, answer("a", &[1, 2]), at(3));
    assert_eq!(fixture.sink.heard().times("a"), vec![at(0), at(1), at(2)]);
    assert_eq!(fixture.sink.heard().idles, 0, "the answer had a new sample");
    assert!(poller.members[0].answered_before);
    // A delivery moves no poll bookkeeping and never idles.
    let due_from = poller.members[1].due_from;
    assert_eq!(
        poller.delivered(2, vec![bare_sample(at(5))], Source::Push, at(5)),
        Some(1)
    );
    assert_eq!(poller.members[1].due_from, due_from);
    assert!(!poller.members[1].answered_before);

    assert_eq!(
        poller.delivered(9, vec![bare_sample(at(6))], Source::Push, at(6)),
        None,
        "no member has this id"
    );
    poller.members[1].ending = Some(StopReason::Left);
    assert_eq!(
        poller.delivered(2, vec![bare_sample(at(6))], Source::Push, at(6)),
        None,
        "an ending member takes nothing"
    );
    assert_eq!(fixture.sink.heard().times("b"), vec![at(5)]);
}

#[tokio::test(start_paused = true)]
async fn an_answer_without_news_idles_and_a_leave_time_ends_the_watch() {
    let fixture = Fixture::new(fast_settings()).await;
    let mut poller = fixture.poller(&["a"]);
    poller.answered(0, answer("a", &[0]), at(1));
    poller.answered(0, answer("a", &[0]), at(2));
    assert_eq!(fixture.sink.heard().idles, 1);
    let mut left = answer("a", &[1]);
    left.details.leave_time = Some(at(1));
    poller.answered(0, left, at(2));
    assert_eq!(poller.members[0].ending, Some(StopReason::LeaveTime));
    poller.answered(0, answer("a", &[2]), at(3));
    assert_eq!(
        fixture.sink.heard().times("a"),
        vec![at(0), at(1)],
        "an ending member's answers are not taken"
    );
    poller.finish_ending();
    assert!(poller.members.is_empty());
    assert_eq!(
        *fixture.host.finished.lock().unwrap(),
        vec![(1, StopReason::LeaveTime)]
    );
    assert_eq!(
        fixture.sink.heard().finished,
        vec![("a".to_owned(), StopReason::LeaveTime)]
    );
}

#[tokio::test(start_paused = true)]
async fn each_kind_of_failure_has_its_policy() {
    let fixture = Fixture::new(fast_settings()).await;
    let mut poller = fixture.poller(&["a", "b"]);
    let now = Instant::now();

    let limited = ZoomError::RateLimited {
        pause: Duration::from_secs(1),
    };
    assert_eq!(poller.failed(&[0], limited, at(0)), None);
    assert_eq!(poller.members[0].failures, 0, "a 429 is not the member's");
    assert_eq!(fixture.sink.heard().idles, 1);

    assert_eq!(
        poller.failed(&[0], ZoomError::Transient("503".into()), at(0)),
        None
    );
    assert_eq!(poller.members[0].failures, 1);
    assert!(poller.members[0].retry_at.is_some_and(|t| t > now));
    assert_eq!(
        poller.members[1].retry_at, None,
        "only the member asked for"
    );

    let quota = ZoomError::Quota(BudgetError::DailyQuotaExhausted {
        limit: 10,
        reset_in: Duration::from_secs(3600),
    });
    assert_eq!(poller.failed(&[0], quota, at(0)), None);
    for member in &poller.members {
        assert_eq!(member.retry_at, Some(now + Duration::from_secs(3600)));
    }

    let rejected = ZoomError::Rejected {
        status: 400,
        code: Some(300),
        message: "bad".into(),
    };
    assert_eq!(poller.failed(&[1], rejected, at(0)), None);
    assert_eq!(poller.members[1].ending, Some(StopReason::Rejected));
    assert_eq!(poller.members[0].ending, None);

    assert_eq!(
        poller.failed(&[0], ZoomError::NotLive, at(0)),
        Some(PollEnd::MeetingOver)
    );
    let not_entitled = ZoomError::NotEntitled {
        message: "no plan".into(),
    };
    assert_eq!(
        poller.failed(&[0], not_entitled, at(0)),
        Some(PollEnd::NotEntitled {
            message: "no plan".into()
        })
    );
}

#[test]
fn the_retry_delay_starts_at_the_interval_under_5_s_and_stops_at_max_backoff() {
    // Jittered: a random point in [step/2, step].
    let within = |d: Duration, step: Duration| d >= step / 2 && d <= step;
    let slow = PollingSettings {
        interval: Duration::from_secs(60),
        max_backoff: Duration::from_secs(300),
        ..PollingSettings::default()
    };
    let delay = |settings: &PollingSettings, n| super::failures::retry_delay(settings, n);
    assert!(
        within(delay(&slow, 1), Duration::from_secs(5)),
        "at most 5 s first"
    );
    assert!(within(delay(&slow, 2), Duration::from_secs(10)));
    assert!(within(delay(&slow, 12), Duration::from_secs(300)), "capped");
    let fast = fast_settings();
    assert!(within(delay(&fast, 1), Duration::from_millis(200)));
    assert!(within(delay(&fast, 9), Duration::from_millis(400)));
    let backoff_below_interval = PollingSettings {
        max_backoff: Duration::from_millis(50),
        ..fast_settings()
    };
    assert!(
        within(
            delay(&backoff_below_interval, 9),
            Duration::from_millis(200)
        ),
        "max_backoff is at least the interval"
    );
}

#[test]
fn the_first_stop_reason_wins_and_a_bare_cancel_is_a_shutdown() {
    let parent = CancellationToken::new();
    let stop = StopRequest::new(parent.child_token());
    parent.cancel();
    assert_eq!(stop.reason(), StopReason::Shutdown);

    let stop = StopRequest::new(CancellationToken::new());
    stop.request(StopReason::HandedOver);
    stop.request(StopReason::MeetingEnded);
    assert!(stop.cancel.is_cancelled());
    assert_eq!(stop.reason(), StopReason::HandedOver);
}

#[tokio::test]
async fn a_meeting_holds_room_for_its_members_not_for_twice_as_many() {
    let fixture = Fixture::new(PollingSettings::default()).await;
    let ten: Vec<String> = (1..=10).map(|n| format!("u{n}")).collect();
    let ten: Vec<&str> = ten.iter().map(String::as_str).collect();
    let poller = fixture.poller(&ten);
    // About 0.2 KB a member: doubling would hold 16 for 10, 1.2 KB a
    // meeting of ten more, 1.2 MB at 10,000 watches.
    assert_eq!(poller.members.len(), 10);
    assert!(
        poller.members.capacity() <= 12,
        "capacity {}",
        poller.members.capacity()
    );
    let hundred: Vec<String> = (1..=100).map(|n| format!("u{n}")).collect();
    let hundred: Vec<&str> = hundred.iter().map(String::as_str).collect();
    let poller = fixture.poller(&hundred);
    assert!(
        poller.members.capacity() <= 125,
        "{}",
        poller.members.capacity()
    );
}
