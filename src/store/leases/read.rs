//! What a heartbeat reads of the shared database besides the leases: the
//! held meetings' watches, what ended, the watches and the Zoom pause per
//! account.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Row, Transaction};

use super::{Beat, parse};
use crate::store::{SavedWatch, from_millis};
use qoswatch_core::alert::{Account, MeetingKey, ParticipantKey};
use qoswatch_core::subject::WatchSubject;

/// Running watches over all replicas, per account.
pub(super) async fn running_watches(
    tx: &mut Transaction<'_, Postgres>,
) -> Result<BTreeMap<Account, u32>, sqlx::Error> {
    let all: Vec<(String, i64)> = sqlx::query_as(
        "SELECT account, count(*) FROM watches WHERE ended_at IS NULL GROUP BY account",
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(all
        .into_iter()
        .map(|(account, n)| {
            (
                Account::new(account),
                u32::try_from(n.max(0)).unwrap_or(u32::MAX),
            )
        })
        .collect())
}

/// The members of the held meetings, with their alert state.
pub(super) async fn held_watches(
    tx: &mut Transaction<'_, Postgres>,
    held: &BTreeSet<MeetingKey>,
) -> Result<Vec<SavedWatch>, sqlx::Error> {
    let held: Vec<MeetingKey> = held.iter().cloned().collect();
    let (accounts, uuids) = columns(&held);
    let mut watches = Vec::new();
    for row in sqlx::query(
        "SELECT subject, started_at, last_seen, alert_state, account FROM watches \
         WHERE ended_at IS NULL AND (account, meeting_uuid) IN \
         (SELECT * FROM unnest($1::text[], $2::text[])) ORDER BY started_at",
    )
    .bind(&accounts)
    .bind(&uuids)
    .fetch_all(&mut **tx)
    .await?
    {
        let Some(mut subject) = parse::<WatchSubject>(row.get(0)) else {
            continue;
        };
        subject.set_account(Account::new(row.get::<String, _>(4)));
        watches.push(SavedWatch {
            subject,
            started_at: from_millis(row.get(1)),
            last_seen: row.get::<Option<i64>, _>(2).map(from_millis),
            alert_state: row.get::<Option<&str>, _>(3).and_then(parse),
        });
    }
    Ok(watches)
}

/// A second of overlap before the last mark covers commits that were in
/// flight at the last beat.
const ENDED_OVERLAP_MS: i64 = 1000;

/// Who left and what ended since the last mark; moves the mark to the
/// newest time seen.
pub(super) async fn ended_since(
    tx: &mut Transaction<'_, Postgres>,
    ended_mark: i64,
    beat: &mut Beat,
) -> Result<(), sqlx::Error> {
    let since = ended_mark - ENDED_OVERLAP_MS;
    beat.ended_mark = ended_mark;
    for row in sqlx::query(
        "SELECT meeting_uuid, user_id, at, account FROM ended_participants WHERE at >= $1",
    )
    .bind(since)
    .fetch_all(&mut **tx)
    .await?
    {
        let at: i64 = row.get(2);
        beat.ended_mark = beat.ended_mark.max(at);
        beat.ended_participants.push((
            ParticipantKey::in_account(
                Account::new(row.get::<String, _>(3)),
                row.get::<String, _>(0),
                row.get::<String, _>(1),
            ),
            from_millis(at),
        ));
    }
    for row in sqlx::query("SELECT meeting_uuid, at, account FROM ended_meetings WHERE at >= $1")
        .bind(since)
        .fetch_all(&mut **tx)
        .await?
    {
        let at: i64 = row.get(1);
        beat.ended_mark = beat.ended_mark.max(at);
        let meeting = meeting_key((row.get(2), row.get(0)));
        beat.ended_meetings.push((meeting, from_millis(at)));
    }
    Ok(())
}

/// The 429 pauses some replica recorded that are still in force, per account.
pub(super) async fn shared_pause(
    tx: &mut Transaction<'_, Postgres>,
) -> Result<BTreeMap<Account, DateTime<Utc>>, sqlx::Error> {
    let paused: Vec<(String, Option<i64>)> =
        sqlx::query_as("SELECT account, paused_until FROM zoom_pause")
            .fetch_all(&mut **tx)
            .await?;
    let now = Utc::now();
    Ok(paused
        .into_iter()
        .filter_map(|(account, until)| Some((Account::new(account), in_force(until, now)?)))
        .collect())
}

/// A meeting key from its `(account, meeting_uuid)` columns.
pub(super) fn meeting_key((account, uuid): (String, String)) -> MeetingKey {
    MeetingKey::new(Account::new(account), uuid)
}

/// Meeting keys as the two array parameters of
/// `(account, meeting_uuid) IN (SELECT * FROM unnest($a::text[], $b::text[]))`.
pub(crate) fn columns(meetings: &[MeetingKey]) -> (Vec<String>, Vec<String>) {
    meetings
        .iter()
        .map(|m| (m.account.as_str().to_owned(), m.uuid.clone()))
        .unzip()
}

/// A pause (in milliseconds) still running at `now`.
pub(super) fn in_force(paused_until: Option<i64>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    paused_until.map(from_millis).filter(|until| *until > now)
}
