//! Writing records to SQLite: [`apply_one`] hands each kind of [`Write`] to
//! the function that owns its SQL. All run inside the writer's transaction.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteConnection;

use super::super::{BudgetUse, RecordId, StoreError, Write, millis};
use super::{opt_millis, to_json, write_error};
use qoswatch_core::alert::{AlertEvent, MeetingKey, ParticipantKey};
use qoswatch_core::rules::SavedState;
use qoswatch_core::silence::Silence;
use qoswatch_core::subject::{StopReason, WatchSubject};

type Tx = SqliteConnection;

/// Applies one record, by its kind.
pub(super) async fn apply_one(tx: &mut Tx, write: &Write) -> Result<(), StoreError> {
    match write {
        Write::WatchStarted { subject, at } => watch_started(tx, subject, *at).await,
        Write::WatchProgress {
            key,
            last_seen,
            alert_state,
            events,
        } => watch_progress(tx, key, *last_seen, alert_state.as_ref(), events).await,
        Write::WatchEnded { key, reason, at } => watch_ended(tx, key, reason, *at).await,
        Write::ParticipantEnded { key, at } => participant_ended(tx, key, *at).await,
        Write::MeetingEnded { meeting, at } => meeting_ended(tx, meeting, *at).await,
        Write::Event { id, event } => insert_event(tx, *id, event).await,
        Write::EventRouted { id, channels } => event_routed(tx, *id, channels).await,
        Write::Queued {
            id,
            channel,
            events,
            grouped,
            at,
        } => queued(tx, *id, channel, events, grouped, *at).await,
        Write::Delivered { id, at } => finish_message(tx, *id, "delivered", *at).await,
        Write::Failed { id, at } => finish_message(tx, *id, "failed", *at).await,
        Write::Retry { id, attempts, due } => retry(tx, *id, *attempts, *due).await,
        Write::Silence(silence) => save_silence(tx, silence).await,
        Write::HandBack | Write::Release { .. } | Write::Signal { .. } => Ok(()),
        Write::Budget(budget) => save_budget(tx, budget).await,
    }
}

/// A watch begins, or begins again for the same participant: its row
/// starts afresh.
async fn watch_started(
    tx: &mut Tx,
    subject: &WatchSubject,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO watches (account, meeting_uuid, user_id, subject, started_at) \
         VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (account, meeting_uuid, user_id) DO UPDATE SET subject = excluded.subject, \
         started_at = excluded.started_at, last_seen = NULL, alert_state = NULL, \
         ended_at = NULL, end_reason = NULL",
    )
    .bind(subject.key.account.as_str())
    .bind(&subject.key.meeting_uuid)
    .bind(&subject.key.user_id)
    .bind(to_json(subject)?)
    .bind(millis(at))
    .execute(&mut *tx)
    .await
    .map_err(write_error)?;
    Ok(())
}

/// The newest sample time and alert state of a watch (each kept when
/// `None`), with the events the state change produced.
async fn watch_progress(
    tx: &mut Tx,
    key: &ParticipantKey,
    last_seen: Option<DateTime<Utc>>,
    alert_state: Option<&SavedState>,
    events: &[(RecordId, AlertEvent)],
) -> Result<(), StoreError> {
    let state = alert_state.map(to_json).transpose()?;
    sqlx::query(
        "UPDATE watches SET last_seen = COALESCE(?, last_seen), \
         alert_state = COALESCE(?, alert_state) \
         WHERE account = ? AND meeting_uuid = ? AND user_id = ?",
    )
    .bind(opt_millis(last_seen))
    .bind(state)
    .bind(key.account.as_str())
    .bind(&key.meeting_uuid)
    .bind(&key.user_id)
    .execute(&mut *tx)
    .await
    .map_err(write_error)?;
    for (id, event) in events {
        insert_event(tx, *id, event).await?;
    }
    Ok(())
}

async fn watch_ended(
    tx: &mut Tx,
    key: &ParticipantKey,
    reason: &StopReason,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        // The alert state is read back only for running watches:
        // dropping it keeps a finished watch's row on its page
        // (about half the file after a day, BENCHMARKS.md).
        "UPDATE watches SET ended_at = ?, end_reason = ?, alert_state = NULL \
         WHERE account = ? AND meeting_uuid = ? AND user_id = ?",
    )
    .bind(millis(at))
    .bind(reason.to_string())
    .bind(key.account.as_str())
    .bind(&key.meeting_uuid)
    .bind(&key.user_id)
    .execute(&mut *tx)
    .await
    .map_err(write_error)?;
    Ok(())
}

async fn participant_ended(
    tx: &mut Tx,
    key: &ParticipantKey,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ended_participants (account, meeting_uuid, user_id, at) \
         VALUES (?, ?, ?, ?) \
         ON CONFLICT (account, meeting_uuid, user_id) DO UPDATE SET at = excluded.at",
    )
    .bind(key.account.as_str())
    .bind(&key.meeting_uuid)
    .bind(&key.user_id)
    .bind(millis(at))
    .execute(&mut *tx)
    .await
    .map_err(write_error)?;
    Ok(())
}

async fn meeting_ended(
    tx: &mut Tx,
    meeting: &MeetingKey,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ended_meetings (account, meeting_uuid, at) VALUES (?, ?, ?) \
         ON CONFLICT (account, meeting_uuid) DO UPDATE SET at = excluded.at",
    )
    .bind(meeting.account.as_str())
    .bind(&meeting.uuid)
    .bind(millis(at))
    .execute(&mut *tx)
    .await
    .map_err(write_error)?;
    Ok(())
}

async fn insert_event(tx: &mut Tx, id: RecordId, event: &AlertEvent) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO alert_events (id, alert_key, status, at, event) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(event.key.as_str())
    .bind(event.status.tag())
    .bind(millis(event.at))
    .bind(to_json(event)?)
    .execute(&mut *tx)
    .await
    .map_err(write_error)?;
    Ok(())
}

/// Event `id` waits in the grouping windows of `channels`; it is routed.
async fn event_routed(tx: &mut Tx, id: RecordId, channels: &[String]) -> Result<(), StoreError> {
    for channel in channels {
        sqlx::query("INSERT OR IGNORE INTO grouped (event_id, channel) VALUES (?, ?)")
            .bind(id)
            .bind(channel)
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
    }
    sqlx::query("UPDATE alert_events SET routed = 1 WHERE id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(write_error)?;
    Ok(())
}

/// A message enters `channel`'s outbox; the events it is made of leave
/// that channel's grouping window.
async fn queued(
    tx: &mut Tx,
    id: RecordId,
    channel: &str,
    events: &[AlertEvent],
    grouped: &[RecordId],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox (id, channel, events, queued_at, due_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(channel)
    .bind(to_json(&events)?)
    .bind(millis(at))
    .bind(millis(at))
    .execute(&mut *tx)
    .await
    .map_err(write_error)?;
    for event_id in grouped {
        sqlx::query("DELETE FROM grouped WHERE event_id = ? AND channel = ?")
            .bind(event_id)
            .bind(channel)
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
    }
    Ok(())
}

async fn finish_message(
    tx: &mut Tx,
    id: RecordId,
    state: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE outbox SET state = ?, done_at = ? WHERE id = ?")
        .bind(state)
        .bind(millis(at))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(write_error)?;
    Ok(())
}

async fn retry(
    tx: &mut Tx,
    id: RecordId,
    attempts: u32,
    due: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE outbox SET attempts = ?, due_at = ? WHERE id = ?")
        .bind(i64::from(attempts))
        .bind(millis(due))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(write_error)?;
    Ok(())
}

async fn save_silence(tx: &mut Tx, silence: &Silence) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO silences (id, silence, ends_at) VALUES (?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET silence = excluded.silence, ends_at = excluded.ends_at",
    )
    .bind(&silence.id)
    .bind(to_json(silence)?)
    .bind(millis(silence.ends_at))
    .execute(&mut *tx)
    .await
    .map_err(write_error)?;
    Ok(())
}

async fn save_budget(tx: &mut Tx, budget: &BudgetUse) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO zoom_budgets (account, day, used, paused_until) VALUES (?, ?, ?, ?) \
         ON CONFLICT (account) DO UPDATE SET day = excluded.day, used = excluded.used, \
         paused_until = excluded.paused_until",
    )
    .bind(budget.account.as_str())
    .bind(budget.day.to_string())
    .bind(i64::from(budget.used))
    .bind(opt_millis(budget.paused_until))
    .execute(&mut *tx)
    .await
    .map_err(write_error)?;
    Ok(())
}
