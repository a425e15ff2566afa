//! The Dashboard endpoints: the checks every request passes (faults, token,
//! its account's rate limits, `type`); for the two QoS endpoints, single
//! participant and list, which meeting a raw `{meetingId}` names (one of
//! the token's account, a live one for `type=live`, an ended one for
//! `type=past`) and a participant's object in Zoom's shape with its samples
//! (cached per degradations version). The meetings list and a meeting's
//! details are in `past`.
//!
//! A token sees its own account's meetings only: another account's meeting
//! answers as a meeting that does not exist (404 / code 3001).

use axum::http::StatusCode;
use axum::response::Response;
use chrono::SecondsFormat;
use percent_encoding::percent_decode_str;
use serde_json::json;
use tokio::time::Instant;

use super::answers::{invalid_token, json_body, meeting_not_found, splice_array, zoom_error};
use super::limits::{apply_fault, count_daily, over_qps_limit, random_429, with_daily_headers};
use super::paging::list_participants;
use super::past::{meeting_details, past_meetings};
use super::request::{form_pairs, form_value};
use crate::LeftParticipant;
use crate::log::Endpoint;
use crate::protocol::uuid_is_double_encoded;
use crate::samples::{Degradation, sample_json};
use crate::state::{Meeting, Participant, Shared, State};

/// Which data a request asks for: `type=live` (the default of the QoS
/// endpoints) or `type=past` (meetings that ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Live,
    Past,
}

impl Kind {
    /// Whether `meeting` is one this kind of request can name.
    pub(super) fn admits(self, meeting: &Meeting) -> bool {
        match self {
            Kind::Live => meeting.ended_at.is_none(),
            Kind::Past => meeting.ended_at.is_some(),
        }
    }
}

/// What a Dashboard request can see: the token's account's calls, live or
/// ended (`kind`), meetings or webinars (`webinar`: which endpoints were asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Asked {
    pub(super) account: usize,
    pub(super) kind: Kind,
    pub(super) webinar: bool,
}

impl Asked {
    /// Whether the request can name `meeting`.
    pub(super) fn admits(self, meeting: &Meeting) -> bool {
        meeting.account == self.account
            && self.kind.admits(meeting)
            && meeting.spec.webinar == self.webinar
    }
}

/// Both QoS endpoints: faults, auth, rate limits, then the answer.
pub(super) async fn qos(
    shared: &Shared,
    endpoint: &Endpoint,
    webinar: bool,
    raw_query: Option<&str>,
    bearer_token: Option<&str>,
) -> Response {
    let (fault, token_account) = {
        let mut state = shared.lock();
        (state.faults.pop_front(), state.token_account(bearer_token))
    };
    if let Some(fault) = fault
        && let Some(response) = apply_fault(shared, token_account, fault).await
    {
        return response;
    }
    let now = Instant::now();
    let mut state = shared.lock();
    let Some(account) = valid_token_account(&state, bearer_token, now) else {
        return invalid_token();
    };
    if let Some(response) = over_qps_limit(shared, &mut state.accounts[account], now) {
        return response;
    }
    if let Some(response) = random_429(&mut state, account) {
        return response;
    }
    let daily = match count_daily(&mut state.accounts[account]) {
        Ok(daily) => daily,
        Err(refused) => return *refused,
    };
    let pairs = form_pairs(raw_query.unwrap_or(""));
    // Zoom's default `type` for these endpoints is `live`.
    let kind = match form_value(&pairs, "type") {
        None | Some("live") => Kind::Live,
        Some("past") => Kind::Past,
        Some(_) => {
            return zoom_error(
                StatusCode::BAD_REQUEST,
                300,
                "The simulator serves type=live and type=past.",
            );
        }
    };
    let asked = Asked {
        account,
        kind,
        webinar,
    };
    let response = match endpoint {
        Endpoint::ParticipantQos {
            raw_meeting_id,
            participant_id,
        } => single_participant(
            shared,
            &mut state,
            asked,
            raw_meeting_id,
            participant_id,
            now,
        ),
        Endpoint::ListQos { raw_meeting_id } => {
            list_participants(shared, &mut state, asked, raw_meeting_id, &pairs, now)
        }
        Endpoint::Meetings => past_meetings(shared, &mut state, asked, &pairs, now),
        Endpoint::Meeting { raw_meeting_id } => {
            meeting_details(shared, &state, asked, raw_meeting_id)
        }
        Endpoint::Token | Endpoint::Other => zoom_error(StatusCode::NOT_FOUND, 404, "Not Found"),
    };
    with_daily_headers(response, daily)
}

/// The account of `bearer_token` if it was issued and has not expired (nor
/// been revoked).
fn valid_token_account(state: &State, bearer_token: Option<&str>, now: Instant) -> Option<usize> {
    bearer_token
        .and_then(|token| state.tokens.get(token))
        .filter(|issued| now < issued.expires_at)
        .map(|issued| issued.account)
}

/// Finds the meeting of the asking account and `kind` (live or ended) a raw
/// `{meetingId}` segment names; its index. A meeting number names its
/// latest instance.
///
/// Decoded once, the segment must be a known UUID that does not need double
/// encoding, or the meeting number. Otherwise it must decode twice to a
/// known UUID (what Zoom requires for UUIDs that start with `/` or contain
/// `//`; accepted for the others too). A UUID that needs double encoding
/// but came encoded once finds nothing: Zoom answers that with code 3001.
///
/// `webinar` says which endpoints were asked (`/metrics/webinars/…`): each
/// knows its own calls only, and a webinar asked for at the meetings'
/// endpoints is not found, as on Zoom.
pub(super) fn resolve_meeting(state: &State, asked: Asked, raw_meeting_id: &str) -> Option<usize> {
    let admits = |m: &Meeting| asked.admits(m);
    let live = |uuid: &str| {
        state
            .meetings
            .iter()
            .position(|m| m.spec.uuid == uuid && admits(m))
    };
    let once = percent_decode_str(raw_meeting_id).decode_utf8().ok()?;
    if !uuid_is_double_encoded(&once)
        && let Some(meeting) = live(&once)
    {
        return Some(meeting);
    }
    if !once.is_empty() && once.bytes().all(|b| b.is_ascii_digit()) {
        return state
            .meetings
            .iter()
            .rposition(|m| m.spec.id.to_string() == *once && admits(m));
    }
    // A correctly double-encoded UUID has no raw `/` after one decoding.
    if once.contains('/') {
        return None;
    }
    let twice = percent_decode_str(&once).decode_utf8().ok()?;
    if twice == once {
        return None;
    }
    live(&twice)
}

fn single_participant(
    shared: &Shared,
    state: &mut State,
    asked: Asked,
    raw_meeting_id: &str,
    participant_id: &str,
    now: Instant,
) -> Response {
    let kind = asked.kind;
    let Some(index) = resolve_meeting(state, asked, raw_meeting_id) else {
        return meeting_not_found();
    };
    let State {
        meetings,
        degradations,
        degradations_version,
        ..
    } = state;
    let Some(participant) = meetings[index]
        .participants
        .iter_mut()
        .find(|p| p.spec.user_id == participant_id)
    else {
        return meeting_not_found();
    };
    if kind == Kind::Live
        && participant.left_at.is_some()
        && shared.config.left_participant == LeftParticipant::NotFound
    {
        return meeting_not_found();
    }
    json_body(participant_json(
        shared,
        (degradations, *degradations_version),
        asked.account,
        participant,
        kind,
        now,
    ))
}

/// One participant object in Zoom's shape, serialized: with the samples up
/// to now (live: at most the live window's worth; past: every one from the
/// join to the leave).
pub(super) fn participant_json(
    shared: &Shared,
    degradations: Degradations<'_>,
    account: usize,
    participant: &mut Participant,
    kind: Kind,
    now: Instant,
) -> String {
    let window = match kind {
        Kind::Live => Some(shared.config.live_window),
        Kind::Past => None,
    };
    let samples = samples_until(shared, degradations, account, participant, window, now);
    let spec = &participant.spec;
    let time = |t: Instant| shared.sim_utc(t).to_rfc3339_opts(SecondsFormat::Secs, true);
    // The fields of Zoom's own typings (zoom/rivet-javascript,
    // `DashboardsGetMeetingParticipantQoSResponse`), no more: qoswatch must
    // not come to rely on fields the real answer lacks.
    let head = json!({
        "id": spec.id,
        "user_id": spec.user_id,
        "user_name": spec.user_name,
        "device": spec.device,
        "ip_address": participant.ip_address,
        "internal_ip_addresses": [participant.internal_ip_address],
        "location": spec.location,
        "join_time": time(participant.joined_at),
        "leave_time": participant.left_at.map(time).unwrap_or_default(),
        "pc_name": format!("{}'s PC", spec.user_name),
        "domain": "",
        "mac_addr": "",
        "harddisk_id": "",
        "version": "6.2.11.50000",
    });
    splice_array(&head, "user_qos", &samples)
}

/// The samples (Dashboard-shaped `user_qos[]` entries, serialized) that
/// participant `user_id` of account `account`'s live call `meeting_uuid`
/// has now, within the live window: what a QSS event reports from. `None`
/// for a participant who is not in a live call.
pub(crate) fn live_samples(
    shared: &Shared,
    account: usize,
    meeting_uuid: &str,
    user_id: &str,
) -> Option<Vec<String>> {
    let now = Instant::now();
    let mut state = shared.lock();
    let State {
        meetings,
        degradations,
        degradations_version,
        ..
    } = &mut *state;
    let meeting = meetings
        .iter_mut()
        .find(|m| m.account == account && m.spec.uuid == meeting_uuid && m.ended_at.is_none())?;
    let participant = meeting
        .participants
        .iter_mut()
        .find(|p| p.spec.user_id == user_id && p.left_at.is_none())?;
    Some(samples_until(
        shared,
        (degradations, *degradations_version),
        account,
        participant,
        Some(shared.config.live_window),
        now,
    ))
}

/// The scripted degradations with the account each applies in, and their
/// version (see `State::degradations_version`).
pub(super) type Degradations<'a> = (&'a [(usize, Degradation)], u64);

/// The serialized samples a participant of account number `account` has up
/// to now (or their leave), at most `window` minutes' worth when given. Samples are generated once
/// per degradations version and kept, so polling costs a string copy, not
/// a rebuild. Live answers forget the samples before their window; a past
/// answer (the meeting ended, nothing is forgotten any more) keeps every one.
fn samples_until(
    shared: &Shared,
    (degradations, degradations_version): Degradations<'_>,
    account: usize,
    participant: &mut Participant,
    window: Option<u32>,
    now: Instant,
) -> Vec<String> {
    let end = participant.left_at.map_or(now, |left| left.min(now));
    let join_minute = shared.sim_minute(participant.joined_at);
    let available = shared.sim_minute(end).saturating_sub(join_minute);
    let first = window.map_or(0, |window| available.saturating_sub(u64::from(window)));
    if participant.samples_version != degradations_version {
        participant.samples.clear();
        participant.samples_version = degradations_version;
    }
    let first_index = u32::try_from(first).unwrap_or(u32::MAX);
    participant.samples = participant.samples.split_off(&first_index);
    let spec = &participant.spec;
    let mut samples = Vec::new();
    for index in first..available {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let sample = participant.samples.entry(index).or_insert_with(|| {
            let applying: Vec<&Degradation> = degradations
                .iter()
                .filter(|(applies_in, _)| *applies_in == account)
                .map(|(_, degradation)| degradation)
                .filter(|d| d.applies(&spec.user_id, &spec.location, index))
                .collect();
            let date_time = shared.minute_utc(join_minute + u64::from(index) + 1);
            sample_json(&spec.profile, index, date_time, &applying).to_string()
        });
        samples.push(sample.clone());
    }
    samples
}
