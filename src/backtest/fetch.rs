//! Fetching the past from Zoom: the meetings (by id, or listed by range in
//! windows of at most a month), then each meeting's participants' QoS,
//! page by page. Every request goes through the client, hence the shared
//! budget (rate, daily cap, 429 pause with `Retry-After`); a 429 waits for
//! the budget's pause and asks again, a transient failure is retried with
//! the one back-off policy, anything else is a [`Problem`] of that meeting
//! and the others go on.

use std::time::Duration;

use chrono::{Months, NaiveDate, TimeDelta};
use serde_json::Value as Json;
use tokio_util::sync::CancellationToken;

use super::progress::Progress;
use super::replay::MeetingData;
use crate::backoff::Backoff;
use crate::zoom::client::{Call, PastMeeting, ZoomClient, ZoomError};
use qoswatch_core::alert::CallKind;

/// Participants per page of the past QoS list (Zoom's cap is believed 10).
const QOS_PAGE_SIZE: u32 = 10;
/// Meetings per page of the meetings list (Zoom's cap is 300).
const MEETINGS_PAGE_SIZE: u32 = 300;
/// Attempts at one request that fails transiently before giving up.
const ATTEMPTS: u32 = 5;

/// The fields of a participant's QoS object a recording keeps: what the
/// rules and the parser read. No IP addresses, machine names, MAC or disk
/// ids; Zoom's QoS answers carry no e-mail.
pub const KEPT_PARTICIPANT_FIELDS: &[&str] = &[
    "user_id",
    "user_name",
    "device",
    "location",
    "network_type",
    "data_center",
    "version",
    "join_time",
    "leave_time",
    "user_qos",
];

/// What was asked for and could not be had.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// The meeting as asked for (`--meeting`), its UUID, or the range.
    pub what: String,
    pub reason: String,
}

/// How a fetch went (the meetings themselves went to its callback).
#[derive(Debug, Default)]
pub struct Fetched {
    pub meetings: usize,
    pub problems: Vec<Problem>,
}

/// Where the meetings come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Meetings and webinars by UUID or number.
    Meetings(Vec<(CallKind, String)>),
    /// The meetings (or the webinars) that started in a range of days.
    Range {
        from: NaiveDate,
        to: NaiveDate,
        kind: CallKind,
    },
}

/// Fetches `source`; `on_meeting` gets each complete meeting (to record
/// and replay it), which is then dropped: memory holds one meeting's
/// samples at a time.
pub async fn fetch(
    client: &ZoomClient,
    source: &Source,
    progress: &mut Progress,
    cancel: &CancellationToken,
    mut on_meeting: impl FnMut(&MeetingData) -> anyhow::Result<()>,
) -> anyhow::Result<Fetched> {
    let mut fetched = Fetched::default();
    let meetings = match source {
        Source::Meetings(ids) => {
            let mut meetings = Vec::new();
            for (index, (kind, id)) in ids.iter().enumerate() {
                progress.note(&format!("looking up {kind} {id}"));
                let call = Call {
                    kind: *kind,
                    uuid: id,
                };
                match retried(cancel, || client.past_meeting(call)).await {
                    Ok(meeting) => meetings.push(meeting),
                    Err(error) => {
                        fetched.problems.push(Problem {
                            what: format!("{kind} {id}"),
                            reason: explain(&error),
                        });
                        if stops_everything(&error) {
                            give_up(&mut fetched, ids.len() - index - 1 + meetings.len(), &error);
                            return Ok(fetched);
                        }
                    }
                }
            }
            meetings
        }
        Source::Range { from, to, kind } => {
            let range = (*kind, *from, *to);
            list_range(client, range, progress, cancel, &mut fetched).await
        }
    };
    progress.start_meetings(meetings.len());
    let total = meetings.len();
    for (index, meeting) in meetings.into_iter().enumerate() {
        if cancel.is_cancelled() {
            fetched.problems.push(Problem {
                what: meeting_label(&meeting),
                reason: "interrupted".to_owned(),
            });
            continue;
        }
        match participants(client, &meeting, progress, cancel).await {
            Ok(participants) => {
                let data = MeetingData {
                    meeting,
                    participants,
                };
                on_meeting(&data)?;
                progress.meeting_done(&meeting_label(&data.meeting), data.participants.len());
                fetched.meetings += 1;
            }
            Err(error) => {
                progress.meeting_done(&meeting_label(&meeting), 0);
                fetched.problems.push(Problem {
                    what: meeting_label(&meeting),
                    reason: explain(&error),
                });
                if stops_everything(&error) {
                    give_up(&mut fetched, total - index - 1, &error);
                    break;
                }
            }
        }
    }
    progress.finish();
    Ok(fetched)
}

/// Whether `error` will be the answer for every other meeting too: the
/// credentials, the plan, the daily quota. Asking on would only repeat it.
fn stops_everything(error: &ZoomError) -> bool {
    matches!(
        error,
        ZoomError::BadCredentials { .. }
            | ZoomError::Unauthorized
            | ZoomError::NotEntitled { .. }
            | ZoomError::Quota(_)
    )
}

/// The meetings not asked for after an error that stops everything.
fn give_up(fetched: &mut Fetched, left: usize, error: &ZoomError) {
    if left > 0 {
        fetched.problems.push(Problem {
            what: format!("{left} more meetings"),
            reason: format!("not asked for after: {error}"),
        });
    }
}

/// The meetings that started between `from` and `to`, asked for in windows
/// of at most a month (Zoom's limit), each listed page by page.
async fn list_range(
    client: &ZoomClient,
    (kind, from, to): (CallKind, NaiveDate, NaiveDate),
    progress: &mut Progress,
    cancel: &CancellationToken,
    fetched: &mut Fetched,
) -> Vec<PastMeeting> {
    let mut meetings: Vec<PastMeeting> = Vec::new();
    for (start, end) in month_windows(from, to) {
        let mut token: Option<String> = None;
        loop {
            progress.note(&format!(
                "listing {} {start} to {end}: {} so far",
                kind.path(),
                meetings.len()
            ));
            let page = retried(cancel, || {
                client.past_meetings_page(kind, start, end, MEETINGS_PAGE_SIZE, token.as_deref())
            })
            .await;
            match page {
                Ok(page) => {
                    for meeting in page.meetings {
                        if !meetings.iter().any(|known| known.uuid == meeting.uuid) {
                            meetings.push(meeting);
                        }
                    }
                    if page.unreadable_rows > 0 {
                        fetched.problems.push(Problem {
                            what: format!("{} {start} to {end}", kind.path()),
                            reason: format!("{} rows without a UUID skipped", page.unreadable_rows),
                        });
                    }
                    match page.next_page_token {
                        Some(next) => token = Some(next),
                        None => break,
                    }
                }
                Err(error) => {
                    fetched.problems.push(Problem {
                        what: format!("{} {start} to {end}", kind.path()),
                        reason: explain(&error),
                    });
                    break;
                }
            }
        }
    }
    meetings.sort_by(|a, b| {
        a.start_time
            .cmp(&b.start_time)
            .then_with(|| a.uuid.cmp(&b.uuid))
    });
    meetings
}

/// `[from, to]` cut into windows whose end is less than a month after
/// their start.
pub fn month_windows(from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    let mut windows = Vec::new();
    let mut start = from;
    while start <= to {
        let limit = start
            .checked_add_months(Months::new(1))
            .and_then(|d| d.checked_sub_signed(TimeDelta::days(1)))
            .unwrap_or(to);
        let end = limit.min(to);
        windows.push((start, end));
        match end.succ_opt() {
            Some(next) => start = next,
            None => break,
        }
    }
    windows
}

/// Every participant object of a past meeting, reduced to
/// [`KEPT_PARTICIPANT_FIELDS`]. A refused page token (it lives 15 minutes)
/// starts the listing again once.
async fn participants(
    client: &ZoomClient,
    meeting: &PastMeeting,
    progress: &mut Progress,
    cancel: &CancellationToken,
) -> Result<Vec<Json>, ZoomError> {
    let mut restarted = false;
    'listing: loop {
        let mut kept = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = retried(cancel, || {
                let call = Call {
                    kind: meeting.kind,
                    uuid: &meeting.uuid,
                };
                client.past_qos_page(call, QOS_PAGE_SIZE, token.as_deref())
            })
            .await;
            let body = match page {
                Ok(body) => body,
                Err(ZoomError::Rejected {
                    code: Some(300), ..
                }) if token.is_some() && !restarted => {
                    restarted = true;
                    continue 'listing;
                }
                Err(error) => return Err(error),
            };
            progress.page();
            let page: Json = serde_json::from_slice(&body)
                .map_err(|_| ZoomError::Transient("past QoS page unreadable".to_owned()))?;
            if let Some(objects) = page.get("participants").and_then(Json::as_array) {
                kept.extend(objects.iter().map(reduced));
            }
            token = page
                .get("next_page_token")
                .and_then(Json::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                return Ok(kept);
            }
        }
    }
}

/// A participant object with only the kept fields.
pub fn reduced(object: &Json) -> Json {
    let mut kept = serde_json::Map::new();
    if let Some(fields) = object.as_object() {
        for name in KEPT_PARTICIPANT_FIELDS {
            if let Some(value) = fields.get(*name) {
                kept.insert((*name).to_owned(), value.clone());
            }
        }
    }
    Json::Object(kept)
}

/// One request, asked again after a 429 (the budget holds it until the
/// pause ends) and after transient failures (with back-off, at most
/// [`ATTEMPTS`] times). Cancelled: the last error, or `Transient`.
async fn retried<T, F, Fut>(cancel: &CancellationToken, mut request: F) -> Result<T, ZoomError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ZoomError>>,
{
    let backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let mut failures = 0;
    loop {
        let outcome = tokio::select! {
            outcome = request() => outcome,
            () = cancel.cancelled() => return Err(ZoomError::Transient("interrupted".to_owned())),
        };
        let error = match outcome {
            Ok(value) => return Ok(value),
            // The budget is paused until Zoom's Retry-After: the next
            // request waits for it.
            Err(ZoomError::RateLimited { .. }) => continue,
            Err(error @ (ZoomError::Transient(_) | ZoomError::AnswerTooLarge { .. })) => error,
            Err(error) => return Err(error),
        };
        failures += 1;
        if failures >= ATTEMPTS {
            return Err(error);
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.delay(failures)) => {}
            () = cancel.cancelled() => return Err(error),
        }
    }
}

/// The meeting as people know it, with its UUID.
pub fn meeting_label(meeting: &PastMeeting) -> String {
    match (&meeting.topic, &meeting.id) {
        (Some(topic), _) => format!("{topic} ({})", meeting.uuid),
        (None, Some(id)) => format!("meeting {id} ({})", meeting.uuid),
        (None, None) => meeting.uuid.clone(),
    }
}

/// An error as a reason a person can act on.
fn explain(error: &ZoomError) -> String {
    match error {
        ZoomError::NotLive => "Zoom has no past data for it (code 3001): an unknown id, a \
                               meeting still running, or older than the Dashboard keeps"
            .to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn only_credentials_plan_and_quota_stop_the_whole_fetch() {
        use crate::quota::budget::BudgetError;
        let quota = ZoomError::Quota(BudgetError::DailyQuotaExhausted {
            limit: 1,
            reset_in: Duration::from_secs(1),
        });
        let bad = ZoomError::BadCredentials {
            status: 400,
            reason: "invalid client".into(),
        };
        let entitled = ZoomError::NotEntitled {
            message: "no".into(),
        };
        for error in [quota, bad, entitled, ZoomError::Unauthorized] {
            assert!(stops_everything(&error), "{error:?}");
        }
        for error in [
            ZoomError::NotLive,
            ZoomError::Transient("x".into()),
            ZoomError::RateLimited {
                pause: Duration::from_secs(1),
            },
        ] {
            assert!(!stops_everything(&error), "{error:?}");
        }
        let mut fetched = Fetched::default();
        give_up(&mut fetched, 0, &ZoomError::Unauthorized);
        assert!(fetched.problems.is_empty());
        give_up(&mut fetched, 3, &ZoomError::Unauthorized);
        assert_eq!(fetched.problems[0].what, "3 more meetings");
    }

    #[test]
    fn a_range_is_cut_into_windows_of_less_than_a_month() {
        let windows = month_windows(day("2026-01-31"), day("2026-03-31"));
        assert_eq!(
            windows,
            [
                (day("2026-01-31"), day("2026-02-27")),
                (day("2026-02-28"), day("2026-03-27")),
                (day("2026-03-28"), day("2026-03-31")),
            ]
        );
        assert_eq!(
            month_windows(day("2026-03-02"), day("2026-03-02")),
            [(day("2026-03-02"), day("2026-03-02"))]
        );
        assert!(month_windows(day("2026-03-02"), day("2026-03-01")).is_empty());
    }

    #[test]
    fn a_reduced_participant_keeps_what_the_rules_read_and_nothing_personal() {
        let object = serde_json::json!({
            "user_id": "16778240", "user_name": "Jill", "device": "Mac",
            "ip_address": "192.0.2.1", "internal_ip_addresses": ["198.51.100.1"],
            "pc_name": "Jill's Mac", "mac_addr": "aa", "harddisk_id": "bb",
            "email": "jill@example.com", "location": "Berlin (DE)",
            "leave_time": "2026-03-02T10:45:00Z", "user_qos": [{"date_time": "2026-03-02T10:01:00Z"}],
        });
        let kept = reduced(&object);
        let text = kept.to_string();
        for absent in [
            "192.0.2",
            "198.51",
            "Jill's Mac",
            "jill@",
            "\"aa\"",
            "\"bb\"",
        ] {
            assert!(!text.contains(absent), "{absent} in {text}");
        }
        assert_eq!(kept["user_name"], "Jill");
        assert_eq!(kept["location"], "Berlin (DE)");
        assert_eq!(kept["user_qos"][0]["date_time"], "2026-03-02T10:01:00Z");
        assert_eq!(reduced(&serde_json::json!([1])), serde_json::json!({}));
    }
}
