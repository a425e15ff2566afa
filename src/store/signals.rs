//! Early signals between replicas (PostgreSQL only; issue 24).
//!
//! Zoom's webhooks reach any replica, but only the replica holding a
//! meeting's lease polls it. A replica that takes a `meeting.alert` for a
//! meeting it does not poll, or any `participant_left` (the rejoin signal
//! needs it wherever the rejoiner's watch starts), writes a
//! [`Write::Signal`](super::Write::Signal) record. On PostgreSQL the writer
//! inserts it into `early_signals` and, in the same statement, sends it as
//! a `NOTIFY` on [`CHANNEL`]; every replica listens ([`SignalListener`]),
//! so the holder hears of it as soon as the writer's batch commits. The
//! heartbeat reads the rows of the last two lease TTLs too ([`recent`]), so a
//! notification missed while a listener reconnected is acted on a
//! heartbeat later; the receiver drops what it saw already by `id`.
//!
//! What travels: the row id, the sending replica, the kind, the account's
//! short name, the meeting UUID and, for a leave, `who`: a meeting-scoped
//! 64-bit hash of the person (`crate::watch::signals`), never an e-mail
//! or a name. Cost: one row (and one notification, about 150 bytes) per
//! such webhook: one more statement in the writer's transaction with the
//! webhook's other records (no extra commit); nothing per poll; the heartbeat reads
//! the last two TTLs' rows (one indexed query) and deletes those older
//! than four.

use std::time::Duration;

use serde::Deserialize;
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};

use super::{SharedDb, database_error_text};
use qoswatch_core::alert::{Account, MeetingKey};

/// The `LISTEN`/`NOTIFY` channel.
pub const CHANNEL: &str = "qoswatch_early_signals";

/// Which signal, as it travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedKind {
    /// Zoom's `meeting.alert` for the meeting.
    MeetingAlert,
    /// Someone left the meeting; `who` is their meeting-scoped hash.
    Left { who: u64 },
}

impl SharedKind {
    /// The name in the table and the payload, and the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            SharedKind::MeetingAlert => "meeting_alert",
            SharedKind::Left { .. } => "left",
        }
    }

    /// Every kind's name (their series are created at 0 at start).
    pub const NAMES: [&'static str; 2] = ["meeting_alert", "left"];

    /// `who` as PostgreSQL's `BIGINT` keeps it (the same 64 bits).
    fn who_column(self) -> Option<i64> {
        match self {
            SharedKind::MeetingAlert => None,
            SharedKind::Left { who } => Some(who as i64),
        }
    }
}

/// A signal another replica sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSignal {
    /// The row's id: the same signal heard twice (notification and
    /// heartbeat) is acted on once.
    pub id: i64,
    /// The replica that sent it.
    pub from: String,
    pub meeting: MeetingKey,
    pub kind: SharedKind,
    /// How long ago it was sent, on the database's clock (zero for a
    /// notification: it comes at once).
    pub age: Duration,
}

/// The payload as the database builds it (`json_build_object` in
/// [`record`]).
#[derive(Debug, Deserialize)]
struct Payload {
    id: i64,
    from: String,
    kind: String,
    account: String,
    meeting: String,
    #[serde(default)]
    who: Option<i64>,
}

/// Why a payload or row is not a signal. Names the field, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    #[error("not a signal's JSON: {0}")]
    NotJson(String),
    #[error("unknown kind of signal")]
    UnknownKind,
    #[error("field `{0}` is missing or empty")]
    Missing(&'static str),
    #[error("field `account` is not an account's short name")]
    BadAccount,
}

impl Payload {
    fn into_signal(self, age: Duration) -> Result<SharedSignal, SignalError> {
        let kind = match (self.kind.as_str(), self.who) {
            ("meeting_alert", _) => SharedKind::MeetingAlert,
            ("left", Some(who)) => SharedKind::Left { who: who as u64 },
            ("left", None) => return Err(SignalError::Missing("who")),
            _ => return Err(SignalError::UnknownKind),
        };
        if self.meeting.is_empty() {
            return Err(SignalError::Missing("meeting"));
        }
        if self.from.is_empty() {
            return Err(SignalError::Missing("from"));
        }
        if !Account::valid_name(&self.account) {
            return Err(SignalError::BadAccount);
        }
        Ok(SharedSignal {
            id: self.id,
            from: self.from,
            meeting: MeetingKey::new(Account::new(self.account), self.meeting),
            kind,
            age,
        })
    }
}

/// A notification's payload as a signal.
pub fn parse_payload(text: &str) -> Result<SharedSignal, SignalError> {
    let payload: Payload =
        serde_json::from_str(text).map_err(|e| SignalError::NotJson(e.to_string()))?;
    payload.into_signal(Duration::ZERO)
}

/// Writes one signal and notifies every listener when the writer's
/// transaction commits (PostgreSQL delivers notifications at commit).
pub(super) async fn record(
    tx: &mut Transaction<'_, Postgres>,
    me: &str,
    meeting: &MeetingKey,
    kind: SharedKind,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH s AS (INSERT INTO early_signals (replica, kind, account, meeting_uuid, who) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id, replica, kind, account, meeting_uuid, who) \
         SELECT pg_notify($6, json_build_object('id', id, 'from', replica, 'kind', kind, \
         'account', account, 'meeting', meeting_uuid, 'who', who)::text) FROM s",
    )
    .bind(me)
    .bind(kind.as_str())
    .bind(meeting.account.as_str())
    .bind(&meeting.uuid)
    .bind(kind.who_column())
    .bind(CHANNEL)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// The heartbeat's fallback: the other replicas' signals of the last two
/// `ttl`s, and this replica's own meeting alerts (for a meeting it took over
/// since: a takeover comes within a TTL and a heartbeat of the holder's
/// death), oldest first; and the rows older than four TTLs go. A row that
/// cannot be read is skipped and logged.
pub(super) async fn recent(
    tx: &mut Transaction<'_, Postgres>,
    me: &str,
    ttl: Duration,
) -> Result<Vec<SharedSignal>, sqlx::Error> {
    let secs = ttl.as_secs_f64();
    sqlx::query("DELETE FROM early_signals WHERE at < now() - make_interval(secs => $1)")
        .bind(secs * 4.0)
        .execute(&mut **tx)
        .await?;
    let rows = sqlx::query(
        "SELECT id, replica, kind, account, meeting_uuid, who, \
         greatest(EXTRACT(EPOCH FROM now() - at), 0)::float8 \
         FROM early_signals WHERE at > now() - make_interval(secs => $1) \
         AND (replica <> $2 OR kind = 'meeting_alert') \
         ORDER BY id",
    )
    .bind(secs * 2.0)
    .bind(me)
    .fetch_all(&mut **tx)
    .await?;
    let mut signals = Vec::with_capacity(rows.len());
    for row in rows {
        let payload = Payload {
            id: row.get(0),
            from: row.get(1),
            kind: row.get(2),
            account: row.get(3),
            meeting: row.get(4),
            who: row.get(5),
        };
        let age = Duration::try_from_secs_f64(row.get::<f64, _>(6)).unwrap_or_default();
        match payload.into_signal(age) {
            Ok(signal) => signals.push(signal),
            Err(error) => tracing::error!(%error, "an early signal's row cannot be read; skipped"),
        }
    }
    Ok(signals)
}

/// This replica's ear on [`CHANNEL`]: one connection of its own (not one of
/// the pool's), re-established by sqlx when it drops (what was sent
/// meanwhile comes with the heartbeat).
#[derive(Debug)]
pub struct SignalListener {
    listener: PgListener,
}

impl SignalListener {
    pub async fn connect(db: &SharedDb) -> Result<Self, String> {
        let error = |e: sqlx::Error| database_error_text(&e);
        let options = db.pool.connect_options();
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with((*options).clone());
        let mut listener = PgListener::connect_with(&pool).await.map_err(error)?;
        listener.listen(CHANNEL).await.map_err(error)?;
        Ok(Self { listener })
    }

    /// The next notification: `Err` when the database cannot be reached
    /// (try again later), `Ok(Err)` for a payload that is not a signal.
    pub async fn recv(&mut self) -> Result<Result<SharedSignal, SignalError>, String> {
        let notification = self
            .listener
            .recv()
            .await
            .map_err(|e| database_error_text(&e))?;
        Ok(parse_payload(notification.payload()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload exactly as PostgreSQL 15's `json_build_object(...)::text`
    /// writes it (captured from `psql`).
    const LEFT: &str = r#"{"id" : 42, "from" : "web-1-417-0a3f", "kind" : "left", "account" : "globex", "meeting" : "4444AAAiAAAAAiAiAiiAii==", "who" : -6917529027641081856}"#;
    const ALERT: &str = r#"{"id" : 7, "from" : "r1", "kind" : "meeting_alert", "account" : "default", "meeting" : "a/b+c==", "who" : null}"#;

    #[test]
    fn a_leave_payload_names_the_meeting_in_its_account_and_the_hash_bit_for_bit() {
        let signal = parse_payload(LEFT).expect("parses");
        assert_eq!(signal.id, 42);
        assert_eq!(signal.from, "web-1-417-0a3f");
        assert_eq!(
            signal.meeting,
            MeetingKey::new(Account::new("globex"), "4444AAAiAAAAAiAiAiiAii==")
        );
        // BIGINT -6917529027641081856 is 0xa000_0000_0000_0000.
        assert_eq!(
            signal.kind,
            SharedKind::Left {
                who: 0xa000_0000_0000_0000
            }
        );
        assert_eq!(signal.kind.who_column(), Some(-6_917_529_027_641_081_856));
        assert_eq!(signal.age, Duration::ZERO);
    }

    #[test]
    fn a_meeting_alert_payload_needs_no_person() {
        let signal = parse_payload(ALERT).expect("parses");
        assert_eq!(signal.kind, SharedKind::MeetingAlert);
        assert_eq!(signal.kind.who_column(), None);
        assert_eq!(signal.meeting.uuid, "a/b+c==");
        assert!(signal.meeting.account.is_default());
    }

    #[test]
    fn payloads_that_are_not_signals_are_refused_naming_the_field_not_the_value() {
        let cases = [
            ("", "not a signal's JSON"),
            (
                r#"{"id":1,"from":"r","kind":"joined","account":"default","meeting":"m"}"#,
                "unknown kind",
            ),
            (
                r#"{"id":1,"from":"r","kind":"left","account":"default","meeting":"m"}"#,
                "`who`",
            ),
            (
                r#"{"id":1,"from":"r","kind":"meeting_alert","account":"default","meeting":""}"#,
                "`meeting`",
            ),
            (
                r#"{"id":1,"from":"","kind":"meeting_alert","account":"default","meeting":"m"}"#,
                "`from`",
            ),
            (
                r#"{"id":1,"from":"r","kind":"meeting_alert","account":"Not An Account!","meeting":"m"}"#,
                "`account`",
            ),
            (
                r#"{"from":"r","kind":"meeting_alert","account":"default","meeting":"m"}"#,
                "not a signal's JSON",
            ),
        ];
        for (payload, expected) in cases {
            let error = parse_payload(payload).expect_err(payload).to_string();
            assert!(error.contains(expected), "{payload}: {error}");
            assert!(!error.contains("Not An Account"), "{error}");
        }
    }

    #[test]
    fn every_kind_is_named_in_the_metric_s_fixed_set() {
        for kind in [SharedKind::MeetingAlert, SharedKind::Left { who: 1 }] {
            assert!(SharedKind::NAMES.contains(&kind.as_str()));
        }
        assert_ne!(
            SharedKind::MeetingAlert.as_str(),
            SharedKind::Left { who: 1 }.as_str()
        );
    }
}
