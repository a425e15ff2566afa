//! Writing records to PostgreSQL: [`apply_one`] hands each kind of
//! [`Write`] to the function that owns its SQL. All run inside the writer's
//! transaction; `me` is this replica's id, the `owner` of what its
//! dispatcher holds.

use chrono::{DateTime, Utc};

use super::super::{BudgetUse, RecordId, StoreError, Write, millis};
use super::{Tx, to_json, write_error};
use qoswatch_core::alert::{AlertEvent, MeetingKey, ParticipantKey};
use qoswatch_core::rules::SavedState;
use qoswatch_core::silence::Silence;
use qoswatch_core::subject::{StopReason, WatchSubject};

/// Applies one record, by its kind.
pub(super) async fn apply_one(tx: &mut Tx<'_>, me: &str, write: &Write) -> Result<(), StoreError> {
    match write {
        Write::WatchStarted { subject, at } => watch_started(tx, subject, *at).await,
        Write::WatchProgress {
            key,
            last_seen,
            alert_state,
            events,
        } => watch_progress(tx, me, key, *last_seen, alert_state.as_ref(), events).await,
        Write::WatchEnded { key, reason, at } => watch_ended(tx, key, reason, *at).await,
        Write::ParticipantEnded { key, at } => participant_ended(tx, key, *at).await,
        Write::MeetingEnded { meeting, at } => meeting_ended(tx, meeting, *at).await,
        Write::Event { id, event } => insert_event(tx, me, *id, event).await,
        Write::EventRouted { id, channels } => event_routed(tx, me, *id, channels).await,
        Write::Queued {
            id,
            channel,
            events,
            grouped,
            at,
        } => queued(tx, me, *id, channel, events, grouped, *at).await,
        Write::Delivered { id, at } => finish_message(tx, *id, "delivered", *at).await,
        Write::Failed { id, at } => finish_message(tx, *id, "failed", *at).await,
        Write::Retry { id, attempts, due } => retry(tx, *id, *attempts, *due).await,
        Write::Silence(silence) => save_silence(tx, silence).await,
        Write::Budget(budget) => save_budget(tx, me, budget).await,
        Write::HandBack => hand_back(tx, me).await,
        Write::Release { meetings } => release(tx, me, meetings).await,
        Write::Signal { meeting, kind } => super::super::signals::record(tx, me, meeting, *kind)
            .await
            .map_err(write_error),
    }
}

/// A watch begins. A duplicate `participant_joined` (on any replica) must
/// not wipe a running watch's state: only an ended one starts again.
async fn watch_started(
    tx: &mut Tx<'_>,
    subject: &WatchSubject,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO watches (meeting_uuid, user_id, subject, started_at, account) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (account, meeting_uuid, user_id) DO UPDATE SET subject = excluded.subject, \
         started_at = excluded.started_at, last_seen = NULL, alert_state = NULL, \
         ended_at = NULL, end_reason = NULL WHERE watches.ended_at IS NOT NULL",
    )
    .bind(&subject.key.meeting_uuid)
    .bind(&subject.key.user_id)
    .bind(to_json(subject)?)
    .bind(millis(at))
    .bind(subject.key.account.as_str())
    .execute(&mut **tx)
    .await
    .map_err(write_error)?;
    Ok(())
}

/// The newest sample time and alert state of a watch (each kept when
/// `None`), with the events the state change produced.
async fn watch_progress(
    tx: &mut Tx<'_>,
    me: &str,
    key: &ParticipantKey,
    last_seen: Option<DateTime<Utc>>,
    alert_state: Option<&SavedState>,
    events: &[(RecordId, AlertEvent)],
) -> Result<(), StoreError> {
    let state = alert_state.map(to_json).transpose()?;
    sqlx::query(
        "UPDATE watches SET last_seen = COALESCE($1, last_seen), \
         alert_state = COALESCE($2, alert_state) \
         WHERE meeting_uuid = $3 AND user_id = $4 AND account = $5",
    )
    .bind(last_seen.map(millis))
    .bind(state)
    .bind(&key.meeting_uuid)
    .bind(&key.user_id)
    .bind(key.account.as_str())
    .execute(&mut **tx)
    .await
    .map_err(write_error)?;
    for (id, event) in events {
        insert_event(tx, me, *id, event).await?;
    }
    Ok(())
}

async fn watch_ended(
    tx: &mut Tx<'_>,
    key: &ParticipantKey,
    reason: &StopReason,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE watches SET ended_at = $1, end_reason = $2, alert_state = NULL \
         WHERE meeting_uuid = $3 AND user_id = $4 AND account = $5",
    )
    .bind(millis(at))
    .bind(reason.to_string())
    .bind(&key.meeting_uuid)
    .bind(&key.user_id)
    .bind(key.account.as_str())
    .execute(&mut **tx)
    .await
    .map_err(write_error)?;
    Ok(())
}

async fn participant_ended(
    tx: &mut Tx<'_>,
    key: &ParticipantKey,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ended_participants (meeting_uuid, user_id, at, account) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (account, meeting_uuid, user_id) DO UPDATE SET at = excluded.at",
    )
    .bind(&key.meeting_uuid)
    .bind(&key.user_id)
    .bind(millis(at))
    .bind(key.account.as_str())
    .execute(&mut **tx)
    .await
    .map_err(write_error)?;
    Ok(())
}

async fn meeting_ended(
    tx: &mut Tx<'_>,
    meeting: &MeetingKey,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ended_meetings (meeting_uuid, at, account) VALUES ($1, $2, $3) \
         ON CONFLICT (account, meeting_uuid) DO UPDATE SET at = excluded.at",
    )
    .bind(&meeting.uuid)
    .bind(millis(at))
    .bind(meeting.account.as_str())
    .execute(&mut **tx)
    .await
    .map_err(write_error)?;
    Ok(())
}

async fn insert_event(
    tx: &mut Tx<'_>,
    me: &str,
    id: RecordId,
    event: &AlertEvent,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO alert_events (id, alert_key, status, at, event, owner) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(event.key.as_str())
    .bind(event.status.tag())
    .bind(millis(event.at))
    .bind(to_json(event)?)
    .bind(me)
    .execute(&mut **tx)
    .await
    .map_err(write_error)?;
    Ok(())
}

/// Event `id` waits in the grouping windows of `channels`, held by this
/// replica; it is routed.
async fn event_routed(
    tx: &mut Tx<'_>,
    me: &str,
    id: RecordId,
    channels: &[String],
) -> Result<(), StoreError> {
    for channel in channels {
        sqlx::query(
            "INSERT INTO grouped (event_id, channel, owner) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(channel)
        .bind(me)
        .execute(&mut **tx)
        .await
        .map_err(write_error)?;
    }
    sqlx::query("UPDATE alert_events SET routed = true WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(write_error)?;
    Ok(())
}

/// A message enters `channel`'s outbox, held by this replica; the events
/// it is made of leave that channel's grouping window.
async fn queued(
    tx: &mut Tx<'_>,
    me: &str,
    id: RecordId,
    channel: &str,
    events: &[AlertEvent],
    grouped: &[RecordId],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox (id, channel, events, queued_at, due_at, owner) \
         VALUES ($1, $2, $3, $4, $4, $5)",
    )
    .bind(id)
    .bind(channel)
    .bind(to_json(&events)?)
    .bind(millis(at))
    .bind(me)
    .execute(&mut **tx)
    .await
    .map_err(write_error)?;
    sqlx::query("DELETE FROM grouped WHERE event_id = ANY($1) AND channel = $2")
        .bind(grouped)
        .bind(channel)
        .execute(&mut **tx)
        .await
        .map_err(write_error)?;
    Ok(())
}

async fn finish_message(
    tx: &mut Tx<'_>,
    id: RecordId,
    state: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE outbox SET state = $1, done_at = $2 WHERE id = $3")
        .bind(state)
        .bind(millis(at))
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(write_error)?;
    Ok(())
}

async fn retry(
    tx: &mut Tx<'_>,
    id: RecordId,
    attempts: u32,
    due: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE outbox SET attempts = $1, due_at = $2 WHERE id = $3")
        .bind(i64::from(attempts))
        .bind(millis(due))
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(write_error)?;
    Ok(())
}

async fn save_silence(tx: &mut Tx<'_>, silence: &Silence) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO silences (id, silence, ends_at) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET silence = excluded.silence, \
         ends_at = excluded.ends_at",
    )
    .bind(&silence.id)
    .bind(to_json(silence)?)
    .bind(millis(silence.ends_at))
    .execute(&mut **tx)
    .await
    .map_err(write_error)?;
    Ok(())
}

/// This replica's own Zoom count of an account (the heartbeat adds the
/// others'), and the account's pause shared by all (the later one wins).
async fn save_budget(tx: &mut Tx<'_>, me: &str, budget: &BudgetUse) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO zoom_budget_use (replica, day, used, account) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (account, replica, day) \
         DO UPDATE SET used = GREATEST(zoom_budget_use.used, excluded.used)",
    )
    .bind(me)
    .bind(budget.day.to_string())
    .bind(i64::from(budget.used))
    .bind(budget.account.as_str())
    .execute(&mut **tx)
    .await
    .map_err(write_error)?;
    if let Some(until) = budget.paused_until {
        sqlx::query(
            "INSERT INTO zoom_pause (account, paused_until) VALUES ($1, $2) \
             ON CONFLICT (account) DO UPDATE SET \
             paused_until = GREATEST(zoom_pause.paused_until, excluded.paused_until)",
        )
        .bind(budget.account.as_str())
        .bind(millis(until))
        .execute(&mut **tx)
        .await
        .map_err(write_error)?;
    }
    Ok(())
}

/// After the tasks of `meetings` stopped and their last writes (the writer
/// applies in order): their leases are free for the next heartbeat.
async fn release(tx: &mut Tx<'_>, me: &str, meetings: &[MeetingKey]) -> Result<(), StoreError> {
    let (accounts, uuids) = crate::store::leases::columns(meetings);
    sqlx::query(
        "UPDATE leases SET owner = NULL, expires_at = now() \
         WHERE owner = $1 AND (account, meeting_uuid) IN \
         (SELECT * FROM unnest($2::text[], $3::text[]))",
    )
    .bind(me)
    .bind(accounts)
    .bind(uuids)
    .execute(&mut **tx)
    .await
    .map_err(write_error)?;
    Ok(())
}

/// After this replica's last writes (the writer applies in order): its
/// meetings and everything its dispatcher held go to whoever's heartbeat
/// comes first.
async fn hand_back(tx: &mut Tx<'_>, me: &str) -> Result<(), StoreError> {
    for sql in [
        "UPDATE leases SET owner = NULL, expires_at = now() WHERE owner = $1",
        "UPDATE outbox SET owner = NULL WHERE owner = $1 AND state = 'queued'",
        "UPDATE alert_events SET owner = NULL WHERE owner = $1 AND NOT routed",
        "UPDATE grouped SET owner = NULL WHERE owner = $1",
        "DELETE FROM replicas WHERE id = $1",
    ] {
        sqlx::query(sql)
            .bind(me)
            .execute(&mut **tx)
            .await
            .map_err(write_error)?;
    }
    Ok(())
}
