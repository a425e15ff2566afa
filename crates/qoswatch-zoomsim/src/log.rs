//! The simulator's record of every request it answered, for tests to assert
//! on and to wait for (never a fixed sleep).

use std::collections::VecDeque;

use tokio::time::Instant;

/// Which endpoint a request hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /oauth/token`.
    Token,
    /// `GET /v2/metrics/meetings/{meetingId}/participants/{participantId}/qos`.
    ParticipantQos {
        /// The `{meetingId}` segment as sent (still percent-encoded).
        raw_meeting_id: String,
        /// The `{participantId}` segment, decoded once.
        participant_id: String,
    },
    /// `GET /v2/metrics/meetings/{meetingId}/participants/qos`.
    ListQos {
        /// The `{meetingId}` segment as sent (still percent-encoded).
        raw_meeting_id: String,
    },
    /// `GET /v2/metrics/meetings`: the Dashboard's list of meetings.
    Meetings,
    /// `GET /v2/metrics/meetings/{meetingId}`: one meeting's details.
    Meeting {
        /// The `{meetingId}` segment as sent (still percent-encoded).
        raw_meeting_id: String,
    },
    /// Anything else (answered 404 or 405).
    Other,
}

impl Endpoint {
    /// Either QoS endpoint.
    pub fn is_qos(&self) -> bool {
        matches!(
            self,
            Endpoint::ParticipantQos { .. } | Endpoint::ListQos { .. }
        )
    }

    /// Any Dashboard endpoint (QoS, the meetings list, a meeting's
    /// details): the ones that count against the rate limits.
    pub fn is_dashboard(&self) -> bool {
        self.is_qos() || matches!(self, Endpoint::Meetings | Endpoint::Meeting { .. })
    }
}

/// Requests answered since the start, by endpoint: unlike the log, never
/// dropped, so a day-long run can be counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// `POST /oauth/token`.
    pub token: u64,
    /// The single-participant QoS endpoint, every answer.
    pub participant_qos: u64,
    /// The list endpoint, every answer (one per page).
    pub list_qos: u64,
    /// The meetings list and meeting details endpoints, every answer.
    pub meetings: u64,
    /// Dashboard requests (QoS, meetings list, meeting details) answered 429.
    pub rate_limited: u64,
}

impl RequestCounts {
    /// Requests to either QoS endpoint.
    pub fn qos(&self) -> u64 {
        self.participant_qos + self.list_qos
    }

    pub(crate) fn count(&mut self, endpoint: &Endpoint, status: u16) {
        match endpoint {
            Endpoint::Token => self.token += 1,
            Endpoint::ParticipantQos { .. } => self.participant_qos += 1,
            Endpoint::ListQos { .. } => self.list_qos += 1,
            Endpoint::Meetings | Endpoint::Meeting { .. } => self.meetings += 1,
            Endpoint::Other => {}
        }
        if endpoint.is_dashboard() && status == 429 {
            self.rate_limited += 1;
        }
    }
}

/// One request as it arrived on the wire and the status it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path exactly as on the wire, percent-encoding untouched.
    pub raw_path: String,
    /// The query string exactly as on the wire, without `?`.
    pub raw_query: Option<String>,
    pub endpoint: Endpoint,
    /// The bearer token of `Authorization: Bearer …`, if any.
    pub bearer_token: Option<String>,
    /// The account the request is attributed to: a Dashboard request's
    /// token's account (expired or not; `None` for a token the simulator
    /// never issued or revoked, or no token), a token request's account
    /// when a token was issued (`None` when refused).
    pub account_id: Option<String>,
    /// The status the simulator answered.
    pub status: u16,
    /// When the request arrived (tokio time, so paused-time tests can use it).
    pub arrived_at: Instant,
}

/// Requests in arrival-completion order, bounded: the oldest are dropped
/// beyond the capacity so a long demo run does not grow without limit.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    requests: VecDeque<RecordedRequest>,
    capacity: usize,
    dropped: u64,
}

impl RequestLog {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            requests: VecDeque::new(),
            capacity: capacity.max(1),
            dropped: 0,
        }
    }

    pub(crate) fn push(&mut self, request: RecordedRequest) {
        if self.requests.len() == self.capacity {
            self.requests.pop_front();
            self.dropped += 1;
        }
        self.requests.push_back(request);
    }

    /// Every retained request, oldest first.
    pub fn requests(&self) -> impl Iterator<Item = &RecordedRequest> {
        self.requests.iter()
    }

    /// How many requests were dropped because the log was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn len(&self) -> usize {
        self.requests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// How many `POST /oauth/token` requests arrived (whatever the answer).
    pub fn token_requests(&self) -> usize {
        self.requests
            .iter()
            .filter(|r| r.endpoint == Endpoint::Token)
            .count()
    }

    /// Requests to either QoS endpoint, oldest first.
    pub fn qos_requests(&self) -> Vec<RecordedRequest> {
        self.requests
            .iter()
            .filter(|r| r.endpoint.is_qos())
            .cloned()
            .collect()
    }

    /// Requests to either QoS endpoint attributed to account `account_id`,
    /// oldest first.
    pub fn qos_requests_of(&self, account_id: &str) -> Vec<RecordedRequest> {
        self.requests
            .iter()
            .filter(|r| r.endpoint.is_qos() && r.account_id.as_deref() == Some(account_id))
            .cloned()
            .collect()
    }

    /// How many tokens were issued to account `account_id`.
    pub fn tokens_issued_to(&self, account_id: &str) -> usize {
        self.requests
            .iter()
            .filter(|r| {
                r.endpoint == Endpoint::Token && r.account_id.as_deref() == Some(account_id)
            })
            .count()
    }

    /// How many single-participant QoS requests named this participant id.
    pub fn qos_requests_for(&self, user_id: &str) -> usize {
        self.requests
            .iter()
            .filter(|r| {
                matches!(&r.endpoint,
                    Endpoint::ParticipantQos { participant_id, .. } if participant_id == user_id)
            })
            .count()
    }

    /// How many requests were answered with this status.
    pub fn with_status(&self, status: u16) -> usize {
        self.requests.iter().filter(|r| r.status == status).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(endpoint: Endpoint, status: u16) -> RecordedRequest {
        RecordedRequest {
            method: "GET".into(),
            raw_path: "/x".into(),
            raw_query: None,
            endpoint,
            bearer_token: None,
            account_id: (status == 200).then(|| "acct".to_owned()),
            status,
            arrived_at: Instant::now(),
        }
    }

    #[test]
    fn counts_by_endpoint_and_drops_the_oldest_when_full() {
        let mut log = RequestLog::with_capacity(3);
        log.push(request(Endpoint::Token, 200));
        log.push(request(
            Endpoint::ParticipantQos {
                raw_meeting_id: "m".into(),
                participant_id: "1".into(),
            },
            200,
        ));
        log.push(request(
            Endpoint::ListQos {
                raw_meeting_id: "m".into(),
            },
            429,
        ));
        assert_eq!(log.token_requests(), 1);
        assert_eq!(log.qos_requests().len(), 2);
        assert_eq!(log.qos_requests_for("1"), 1);
        assert_eq!(log.qos_requests_for("2"), 0);
        assert_eq!(log.qos_requests_of("acct").len(), 1);
        assert_eq!(log.qos_requests_of("other").len(), 0);
        assert_eq!(log.tokens_issued_to("acct"), 1);
        assert_eq!(log.with_status(429), 1);
        log.push(request(Endpoint::Other, 404));
        assert_eq!(log.len(), 3);
        assert_eq!(log.dropped(), 1);
        assert_eq!(log.token_requests(), 0);
    }
}
