//! The list endpoint's paging: `page_size` (default and cap 10), and
//! `next_page_token`s that remember where the next page of which meeting
//! starts and expire after 15 minutes, as Zoom's do.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use tokio::time::Instant;

use super::answers::{json_body, meeting_not_found, splice_array, zoom_error};
use super::qos::{Asked, participant_json, resolve_meeting};
use super::request::form_value;
use crate::random_token;
use crate::state::{PageCursor, Shared, State};

const DEFAULT_PAGE_SIZE: usize = 10;
const MAX_PAGE_SIZE: usize = 10;

/// `GET /metrics/meetings/{meetingId}/participants/qos`: one page of the
/// meeting's participants, with a token for the next page if there is one.
pub(super) fn list_participants(
    shared: &Shared,
    state: &mut State,
    asked: Asked,
    raw_meeting_id: &str,
    pairs: &[(String, String)],
    now: Instant,
) -> Response {
    let Some(index) = resolve_meeting(state, asked, raw_meeting_id) else {
        return meeting_not_found();
    };
    // Page tokens are scoped to the account's meeting: another account's
    // meeting of the same UUID does not take them.
    let meeting_uuid = format!("{}:{}", asked.account, state.meetings[index].spec.uuid);
    let page_size = match page_size(pairs, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE) {
        Ok(size) => size,
        Err(invalid) => return invalid.answer(),
    };
    state
        .page_tokens
        .retain(|_, cursor| cursor.expires_at > now);
    let offset = match page_offset(state, pairs, &meeting_uuid) {
        Ok(offset) => offset,
        Err(invalid) => return invalid.answer(),
    };
    let State {
        meetings,
        degradations,
        degradations_version,
        page_tokens,
        ..
    } = state;
    let meeting = &mut meetings[index];
    let total_records = meeting.participants.len();
    let participants: Vec<String> = meeting
        .participants
        .iter_mut()
        .skip(offset)
        .take(page_size)
        .map(|p| {
            participant_json(
                shared,
                (degradations, *degradations_version),
                asked.account,
                p,
                asked.kind,
                now,
            )
        })
        .collect();
    let next_offset = offset + participants.len();
    let next_page_token = if next_offset < total_records {
        issue_page_token(
            page_tokens,
            meeting_uuid,
            next_offset,
            now + shared.config.page_token_lifetime,
        )
    } else {
        String::new()
    };
    let head = json!({
        "page_count": total_records.div_ceil(page_size),
        "page_size": page_size,
        "total_records": total_records,
        "next_page_token": next_page_token,
    });
    json_body(splice_array(&head, "participants", &participants))
}

/// A paging parameter Zoom refuses: 400 / code 300 with this message.
pub(super) struct Invalid(pub(super) &'static str);

impl Invalid {
    pub(super) fn answer(self) -> Response {
        zoom_error(StatusCode::BAD_REQUEST, 300, self.0)
    }
}

/// The requested `page_size` (`default` when none); an oversized one is
/// capped at `max`, as Zoom does rather than failing.
pub(super) fn page_size(
    pairs: &[(String, String)],
    default: usize,
    max: usize,
) -> Result<usize, Invalid> {
    match form_value(pairs, "page_size") {
        None | Some("") => Ok(default),
        Some(raw) => match raw.parse::<usize>() {
            Ok(size) if size >= 1 => Ok(size.min(max)),
            _ => Err(Invalid("Invalid field: page_size.")),
        },
    }
}

/// Where the page starts: 0, or where `next_page_token` says, if it is a
/// live token of this meeting (or of this listing: `meeting_uuid` is then
/// the listing's own scope).
pub(super) fn page_offset(
    state: &State,
    pairs: &[(String, String)],
    meeting_uuid: &str,
) -> Result<usize, Invalid> {
    match form_value(pairs, "next_page_token") {
        None | Some("") => Ok(0),
        Some(token) => match state.page_tokens.get(token) {
            Some(cursor) if cursor.meeting_uuid == meeting_uuid => Ok(cursor.offset),
            _ => Err(Invalid("The next page token is invalid or expired.")),
        },
    }
}

/// A new page token for the page at `offset` of the meeting, valid until
/// `expires_at`.
pub(super) fn issue_page_token(
    page_tokens: &mut HashMap<String, PageCursor>,
    meeting_uuid: String,
    offset: usize,
    expires_at: Instant,
) -> String {
    let token = random_token(32);
    page_tokens.insert(
        token.clone(),
        PageCursor {
            meeting_uuid,
            offset,
            expires_at,
        },
    );
    token
}
