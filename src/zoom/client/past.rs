//! The backtest's calls: the Dashboard's past meetings (or webinars) and
//! their QoS.

use chrono::{DateTime, NaiveDate, Utc};

use qoswatch_core::alert::{Account, CallKind};

use super::{Call, QosEndpoint, ZoomClient, ZoomError};
use crate::zoom::encode_meeting_uuid;

/// A meeting as the Dashboard's meetings list and details show it, reduced
/// to what qoswatch uses: no host name or e-mail, no participant count.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PastMeeting {
    /// The instance UUID: the identity.
    pub uuid: String,
    /// The meeting number people type in.
    pub id: Option<String>,
    pub topic: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    /// A meeting or a webinar: which endpoints it was found at. Absent in
    /// older recordings: a meeting.
    #[serde(default, skip_serializing_if = "CallKind::is_meeting")]
    pub kind: CallKind,
    /// The account it was fetched in (`backtest --account`); absent in
    /// recordings of a single account.
    #[serde(default, skip_serializing_if = "Account::is_default")]
    pub account: Account,
}

impl PastMeeting {
    /// A row of Zoom's answer; `None` without a UUID. `id` may be a number
    /// or a string, times are RFC 3339 (an empty `end_time` is none).
    pub(super) fn from_json(row: &serde_json::Value) -> Option<PastMeeting> {
        let text = |key: &str| {
            row.get(key)
                .and_then(serde_json::Value::as_str)
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        let time = |key: &str| {
            text(key)
                .and_then(|value| DateTime::parse_from_rfc3339(&value).ok())
                .map(|time| time.with_timezone(&Utc))
        };
        let id = match row.get("id") {
            Some(serde_json::Value::Number(number)) => Some(number.to_string()),
            _ => text("id"),
        };
        Some(PastMeeting {
            account: Default::default(),
            uuid: text("uuid")?,
            id,
            topic: text("topic"),
            start_time: time("start_time"),
            end_time: time("end_time"),
            kind: CallKind::Meeting,
        })
    }
}

/// One page of the Dashboard's meetings list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PastMeetingsPage {
    pub meetings: Vec<PastMeeting>,
    /// Rows without a UUID, skipped.
    pub unreadable_rows: usize,
    pub next_page_token: Option<String>,
    pub total_records: Option<u64>,
}

impl ZoomClient {
    /// One page of `GET /metrics/meetings?type=past&from=&to=` (or
    /// `/metrics/webinars`, whose rows come under `webinars`): calls of
    /// `kind` that started between `from` and `to` (UTC days, at most a
    /// month apart: the caller splits longer ranges).
    pub async fn past_meetings_page(
        &self,
        kind: CallKind,
        from: NaiveDate,
        to: NaiveDate,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<PastMeetingsPage, ZoomError> {
        let url = format!(
            "{}/metrics/{}",
            self.settings.api_base.trim_end_matches('/'),
            kind.path(),
        );
        let (from, to) = (from.to_string(), to.to_string());
        let page_size = page_size.max(1).to_string();
        let mut query = vec![
            ("type", "past"),
            ("from", from.as_str()),
            ("to", to.as_str()),
            ("page_size", page_size.as_str()),
        ];
        if let Some(token) = page_token {
            query.push(("next_page_token", token));
        }
        let _slot = self.slot().await;
        let body = self
            .qos_request(QosEndpoint::Meetings, &url, &query)
            .await?;
        let answer: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| ZoomError::Transient("meetings list unreadable".to_owned()))?;
        let rows = answer
            .get(kind.path())
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let meetings: Vec<PastMeeting> = rows
            .iter()
            .filter_map(PastMeeting::from_json)
            .map(|meeting| PastMeeting { kind, ..meeting })
            .collect();
        Ok(PastMeetingsPage {
            unreadable_rows: rows.len() - meetings.len(),
            meetings,
            next_page_token: answer
                .get("next_page_token")
                .and_then(serde_json::Value::as_str)
                .filter(|token| !token.is_empty())
                .map(str::to_owned),
            total_records: answer
                .get("total_records")
                .and_then(serde_json::Value::as_u64),
        })
    }

    /// `GET /metrics/meetings/{meetingId}?type=past` (`/metrics/webinars/…`
    /// for a webinar): a call that ended, by UUID or by number (Zoom
    /// answers for its latest instance).
    pub async fn past_meeting(&self, call: Call<'_>) -> Result<PastMeeting, ZoomError> {
        let url = format!(
            "{}/metrics/{}/{}",
            self.settings.api_base.trim_end_matches('/'),
            call.kind.path(),
            encode_meeting_uuid(call.uuid),
        );
        let _slot = self.slot().await;
        let body = self
            .qos_request(QosEndpoint::Meetings, &url, &[("type", "past")])
            .await?;
        let answer: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| ZoomError::Transient("meeting details unreadable".to_owned()))?;
        let meeting = PastMeeting::from_json(&answer)
            .ok_or_else(|| ZoomError::Transient("meeting details without a UUID".to_owned()))?;
        Ok(PastMeeting {
            kind: call.kind,
            ..meeting
        })
    }

    /// One page of `GET /metrics/meetings/{uuid}/participants/qos?type=past`
    /// (`/metrics/webinars/…` for a webinar), as Zoom sent it (under
    /// `zoom.max_answer_bytes`): the caller keeps what it needs of each
    /// participant and parses it with the live endpoints' parser.
    pub async fn past_qos_page(
        &self,
        call: Call<'_>,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<Vec<u8>, ZoomError> {
        let url = format!(
            "{}/metrics/{}/{}/participants/qos",
            self.settings.api_base.trim_end_matches('/'),
            call.kind.path(),
            encode_meeting_uuid(call.uuid),
        );
        let page_size = page_size.max(1).to_string();
        let mut query = vec![("type", "past"), ("page_size", page_size.as_str())];
        if let Some(token) = page_token {
            query.push(("next_page_token", token));
        }
        let _slot = self.slot().await;
        self.qos_request(QosEndpoint::PastList, &url, &query).await
    }
}
