//! The Dashboard's *List meetings* (`GET /metrics/meetings`) and *Get
//! meeting details* (`GET /metrics/meetings/{meetingId}`), as
//! `docs/ZOOM.md` describes them: `type=past` lists the meetings that
//! ended, `type=live` those still running. The list takes `from` and `to`
//! (`yyyy-mm-dd`, UTC, both required, at most one month apart), pages of
//! `page_size` (default 30, at most 300) and `next_page_token`s that expire
//! after 15 minutes. A meeting is listed when its start falls in the range.
//!
//! Unsettled, so the simulator chooses: a range longer than a month, a
//! missing or malformed date and `to` before `from` answer 400 / code 300.

use axum::response::Response;
use chrono::{DateTime, Months, NaiveDate, SecondsFormat, Utc};
use serde_json::{Value as Json, json};
use tokio::time::Instant;

use super::answers::{json_body, meeting_not_found};
use super::paging::{Invalid, issue_page_token, page_offset, page_size};
use super::qos::{Asked, resolve_meeting};
use super::request::form_value;
use crate::state::{Meeting, Shared, State};

const DEFAULT_PAGE_SIZE: usize = 30;
const MAX_PAGE_SIZE: usize = 300;

/// `GET /metrics/meetings?type=…&from=…&to=…`: one page of the asking
/// account's meetings that started within the range.
pub(super) fn past_meetings(
    shared: &Shared,
    state: &mut State,
    asked: Asked,
    pairs: &[(String, String)],
    now: Instant,
) -> Response {
    let (from, to) = match date_range(pairs) {
        Ok(range) => range,
        Err(invalid) => return invalid.answer(),
    };
    let page_size = match page_size(pairs, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE) {
        Ok(size) => size,
        Err(invalid) => return invalid.answer(),
    };
    // Page tokens of this listing are scoped to its account, kind and range.
    let scope = format!(
        "meetings:{}:{:?}:{}:{from}:{to}",
        asked.account, asked.kind, asked.webinar
    );
    state
        .page_tokens
        .retain(|_, cursor| cursor.expires_at > now);
    let offset = match page_offset(state, pairs, &scope) {
        Ok(offset) => offset,
        Err(invalid) => return invalid.answer(),
    };
    let listed: Vec<&Meeting> = state
        .meetings
        .iter()
        .filter(|meeting| asked.admits(meeting))
        .filter(|meeting| {
            let day = shared.sim_utc(meeting.started_at).date_naive();
            from <= day && day <= to
        })
        .collect();
    let total_records = listed.len();
    let rows: Vec<Json> = listed
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|meeting| meeting_row(shared, meeting, now))
        .collect();
    let next_offset = offset + rows.len();
    let next_page_token = if next_offset < total_records {
        issue_page_token(
            &mut state.page_tokens,
            scope,
            next_offset,
            now + shared.config.page_token_lifetime,
        )
    } else {
        String::new()
    };
    json_body(
        json!({
            "from": from.to_string(),
            "to": to.to_string(),
            "page_count": total_records.div_ceil(page_size),
            "page_size": page_size,
            "total_records": total_records,
            "next_page_token": next_page_token,
            // `GET /metrics/webinars` lists under `webinars`.
            (if asked.webinar { "webinars" } else { "meetings" }): rows,
        })
        .to_string(),
    )
}

/// `GET /metrics/meetings/{meetingId}?type=…`: the meeting's row, as in
/// the list. A meeting number names its latest instance.
pub(super) fn meeting_details(
    shared: &Shared,
    state: &State,
    asked: Asked,
    raw_meeting_id: &str,
) -> Response {
    match resolve_meeting(state, asked, raw_meeting_id) {
        Some(index) => {
            json_body(meeting_row(shared, &state.meetings[index], Instant::now()).to_string())
        }
        None => meeting_not_found(),
    }
}

/// `from` and `to`, both required, `to` not before `from`, at most one
/// month apart.
fn date_range(pairs: &[(String, String)]) -> Result<(NaiveDate, NaiveDate), Invalid> {
    let date = |name: &str, invalid: &'static str| {
        form_value(pairs, name)
            .and_then(|raw| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
            .ok_or(Invalid(invalid))
    };
    let from = date("from", "Invalid field: from.")?;
    let to = date("to", "Invalid field: to.")?;
    if to < from {
        return Err(Invalid("The to date must not be before the from date."));
    }
    if from
        .checked_add_months(Months::new(1))
        .is_none_or(|limit| to > limit)
    {
        return Err(Invalid("The date range must be within one month."));
    }
    Ok((from, to))
}

/// A meeting as the list and the details endpoint show it. The host's
/// e-mail is there as on Zoom, so a test can check qoswatch does not keep it.
fn meeting_row(shared: &Shared, meeting: &Meeting, now: Instant) -> Json {
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let start = shared.sim_utc(meeting.started_at);
    let end = shared.sim_utc(meeting.ended_at.unwrap_or(now));
    let seconds = (end - start).num_seconds().max(0);
    json!({
        "uuid": meeting.spec.uuid,
        "id": meeting.spec.id,
        "topic": meeting.spec.topic,
        "host": "Sim Host",
        "email": "host@example.com",
        "user_type": "Licensed",
        "start_time": time(start),
        "end_time": meeting.ended_at.map(|_| time(end)).unwrap_or_default(),
        "duration": format!("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60),
        "participants": meeting.participants.len(),
        "has_pstn": false,
        "has_voip": true,
        "has_3rd_party_audio": false,
        "has_video": true,
        "has_screen_share": false,
        "has_recording": false,
        "has_sip": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_range_is_required_ordered_and_at_most_a_month() {
        let ok = date_range(&pairs(&[("from", "2026-01-31"), ("to", "2026-02-28")]));
        assert!(ok.is_ok());
        let day = date_range(&pairs(&[("from", "2026-03-01"), ("to", "2026-03-01")]));
        assert!(day.is_ok());
        for bad in [
            pairs(&[("to", "2026-03-01")]),
            pairs(&[("from", "2026-03-01")]),
            pairs(&[("from", "01/03/2026"), ("to", "2026-03-02")]),
            pairs(&[("from", "2026-03-02"), ("to", "2026-03-01")]),
            pairs(&[("from", "2026-01-31"), ("to", "2026-03-01")]),
            pairs(&[("from", "2026-03-01"), ("to", "2026-04-02")]),
        ] {
            assert!(date_range(&bad).is_err(), "{bad:?}");
        }
    }
}
