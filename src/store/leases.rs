//! The database side of sharing: this replica's heartbeat, meeting leases
//! (claimed with `FOR UPDATE SKIP LOCKED`, renewed by the heartbeat, free
//! once their TTL passes), and the adoption of what a dead or stopped
//! replica's dispatcher held. Every time here is the database's `now()`,
//! so replicas never compare their own clocks.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Postgres, Row, Transaction};
use tokio::sync::Notify;

use super::signals::{SharedSignal, SignalListener};
use super::{
    RecordId, SavedGrouped, SavedMessage, SavedWatch, SharedDb, database_error_text, from_millis,
};
use qoswatch_core::alert::{Account, AlertEvent, MeetingKey, ParticipantKey};

/// This replica's leases in the shared database.
#[derive(Debug)]
pub struct Leases {
    db: SharedDb,
    ttl: Duration,
    /// Woken when a webhook claimed a meeting another replica had held:
    /// the heartbeat syncs its other members at once.
    pub nudge: Notify,
}

/// What one heartbeat found.
#[derive(Debug, Default)]
pub struct Beat {
    /// This replica had missed its own TTL: the others may have taken its
    /// meetings and messages already.
    pub lapsed: bool,
    /// Meetings this replica holds now (renewed or claimed).
    pub held: BTreeSet<MeetingKey>,
    /// Of those, claimed in this beat from another (dead or stopped) replica.
    pub taken_over: usize,
    /// The running watches of the held meetings.
    pub watches: Vec<SavedWatch>,
    /// Participants and meetings that ended since the last beat's mark.
    pub ended_participants: Vec<(ParticipantKey, DateTime<Utc>)>,
    pub ended_meetings: Vec<(MeetingKey, DateTime<Utc>)>,
    /// The newest ended time seen, the next beat's mark.
    pub ended_mark: i64,
    /// Messages, unrouted and grouped events adopted from replicas that
    /// are gone.
    pub outbox: Vec<SavedMessage>,
    pub unrouted: Vec<(RecordId, AlertEvent)>,
    pub grouped: Vec<SavedGrouped>,
    /// Replicas alive (this one included).
    pub live_replicas: u32,
    /// Zoom requests the other replicas counted today (UTC), per account
    /// (an account none counted for is absent: 0).
    pub others_used_today: BTreeMap<Account, u32>,
    /// A 429 pause some replica recorded, still in force, per account.
    pub paused_until: BTreeMap<Account, DateTime<Utc>>,
    /// Meetings with running watches, over all replicas.
    pub active_meetings: u32,
    /// Held meetings above this replica's fair share, no longer in `held`:
    /// to hand over, then release (`Write::Release`) for another to claim.
    pub shed: Vec<MeetingKey>,
    /// Running watches of the held meetings, and of all meetings: this
    /// replica's part of the work (`crate::quota::budget::work_share`).
    /// Per account (Zoom's quota is per account).
    pub my_watches: BTreeMap<Account, u32>,
    pub all_watches: BTreeMap<Account, u32>,
    /// This replica's part of each account's per-second rate, granted by
    /// this beat (`rate.rs`).
    pub rate_parts: BTreeMap<Account, f64>,
    /// The other replicas' early signals of the last two lease TTLs, and this
    /// one's own meeting alerts (the fallback for a missed notification or
    /// a meeting taken over since: `super::signals`).
    pub signals: Vec<SharedSignal>,
}

/// Rows held by no live replica: no owner, or one whose heartbeat expired
/// (or whose row is gone).
macro_rules! orphan {
    () => {
        "(owner IS NULL OR NOT EXISTS \
         (SELECT 1 FROM replicas r WHERE r.id = owner AND r.expires_at > now()))"
    };
}

fn ttl_secs(ttl: Duration) -> f64 {
    ttl.as_secs_f64()
}

impl Leases {
    pub fn new(db: SharedDb, ttl: Duration) -> Self {
        Self {
            db,
            ttl,
            nudge: Notify::new(),
        }
    }

    /// This replica's id.
    pub fn replica(&self) -> &str {
        &self.db.replica
    }

    /// Listens for the other replicas' early signals (`super::signals`).
    pub async fn listen(&self) -> Result<SignalListener, String> {
        SignalListener::connect(&self.db).await
    }

    /// Claims the lease of `meeting` for this replica if it is free
    /// (no row, no owner, or expired) or already ours. `Ok(false)`: a live
    /// replica holds it and will pick the new watch up at its next beat.
    pub async fn claim(&self, meeting: &MeetingKey) -> Result<bool, String> {
        let error = |e: sqlx::Error| database_error_text(&e);
        let mut tx = self.db.pool.begin().await.map_err(error)?;
        relaxed(&mut tx).await.map_err(error)?;
        let row = sqlx::query(
            "INSERT INTO leases (meeting_uuid, owner, expires_at, account) \
             VALUES ($1, $2, now() + make_interval(secs => $3), $4) \
             ON CONFLICT (account, meeting_uuid) DO UPDATE SET owner = excluded.owner, \
             expires_at = excluded.expires_at, \
             taken_over = leases.taken_over + \
               (leases.owner IS NOT NULL AND leases.owner <> excluded.owner)::int \
             WHERE leases.owner IS NULL OR leases.owner = excluded.owner \
               OR leases.expires_at < now() \
             RETURNING (xmax <> 0) AS existed",
        )
        .bind(&meeting.uuid)
        .bind(&self.db.replica)
        .bind(ttl_secs(self.ttl))
        .bind(meeting.account.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(error)?;
        tx.commit().await.map_err(error)?;
        let Some(row) = row else {
            return Ok(false);
        };
        if row.get::<bool, _>(0) {
            // An existing lease: there may be other members to sync.
            self.nudge.notify_one();
        }
        Ok(true)
    }

    /// One heartbeat, in one transaction: stay alive, renew, claim a fair
    /// share of the free meetings, read their watches and what ended, adopt
    /// orphaned messages, and read the Zoom budget's shared figures.
    /// `rates`: each account's requests a second, to share.
    pub async fn beat(
        &self,
        ended_mark: i64,
        today: NaiveDate,
        rates: &BTreeMap<Account, u32>,
    ) -> Result<Beat, String> {
        let error = |e: sqlx::Error| database_error_text(&e);
        let mut tx = self.db.pool.begin().await.map_err(error)?;
        relaxed(&mut tx).await.map_err(error)?;
        let mut beat = self
            .beat_in(&mut tx, ended_mark, today)
            .await
            .map_err(error)?;
        // Last: its lock is held only until the commit just below.
        beat.rate_parts = rate::share_rate(&mut tx, &self.db.replica, rates, &beat.my_watches)
            .await
            .map_err(error)?;
        tx.commit().await.map_err(error)?;
        Ok(beat)
    }

    /// The steps of one heartbeat, in this order (each sees what the ones
    /// before it wrote).
    async fn beat_in(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        ended_mark: i64,
        today: NaiveDate,
    ) -> Result<Beat, sqlx::Error> {
        let mut beat = Beat {
            lapsed: self.alive(tx).await?,
            ..Beat::default()
        };
        beat.held.extend(self.renew(tx).await?);
        lease_unleased_watches(tx).await?;
        self.claim_fair_share(tx, &mut beat).await?;
        beat.shed = shed_excess(&mut beat.held, beat.active_meetings, beat.live_replicas);
        beat.watches = held_watches(tx, &beat.held).await?;
        for watch in &beat.watches {
            *beat
                .my_watches
                .entry(watch.subject.key.account.clone())
                .or_default() += 1;
        }
        beat.all_watches = running_watches(tx).await?;
        ended_since(tx, ended_mark, &mut beat).await?;
        beat.outbox = self.adopt_outbox(tx).await?;
        beat.unrouted = self.adopt_unrouted(tx).await?;
        beat.grouped = self.adopt_grouped(tx).await?;
        beat.others_used_today = self.others_used(tx, today).await?;
        beat.paused_until = shared_pause(tx).await?;
        beat.signals = super::signals::recent(tx, &self.db.replica, self.ttl).await?;
        Ok(beat)
    }

    /// Keeps this replica's row alive; `true` when it had lapsed (or was
    /// gone), so the others may already have adopted what it held: then
    /// its expired leases are let go.
    async fn alive(&self, tx: &mut Transaction<'_, Postgres>) -> Result<bool, sqlx::Error> {
        let me = self.db.replica.as_str();
        let ttl = ttl_secs(self.ttl);
        let lapsed: Option<bool> = sqlx::query_scalar(
            "UPDATE replicas r SET expires_at = now() + make_interval(secs => $2) \
             FROM (SELECT id, expires_at < now() AS lapsed FROM replicas WHERE id = $1 FOR UPDATE) old \
             WHERE r.id = old.id RETURNING old.lapsed",
        )
        .bind(me)
        .bind(ttl)
        .fetch_optional(&mut **tx)
        .await?;
        let lapsed = match lapsed {
            Some(lapsed) => lapsed,
            None => {
                // Removed (a day after lapsing): come back as a new row.
                sqlx::query(
                    "INSERT INTO replicas (id, number, expires_at) \
                     VALUES ($1, nextval('replica_numbers'), now() + make_interval(secs => $2))",
                )
                .bind(me)
                .bind(ttl)
                .execute(&mut **tx)
                .await?;
                true
            }
        };
        if lapsed {
            // Start afresh: whatever this replica held may be another's now.
            sqlx::query("UPDATE leases SET owner = NULL WHERE owner = $1 AND expires_at < now()")
                .bind(me)
                .execute(&mut **tx)
                .await?;
        }
        Ok(lapsed)
    }

    /// Renews the meetings that still have running watches and gives back
    /// the others; returns the renewed ones.
    async fn renew(
        &self,
        tx: &mut Transaction<'_, Postgres>,
    ) -> Result<Vec<MeetingKey>, sqlx::Error> {
        let me = self.db.replica.as_str();
        let renewed: Vec<(String, String)> = sqlx::query_as(
            "UPDATE leases l SET expires_at = now() + make_interval(secs => $2) \
             WHERE l.owner = $1 AND EXISTS (SELECT 1 FROM watches w \
               WHERE w.account = l.account AND w.meeting_uuid = l.meeting_uuid \
               AND w.ended_at IS NULL) \
             RETURNING l.account, l.meeting_uuid",
        )
        .bind(me)
        .bind(ttl_secs(self.ttl))
        .fetch_all(&mut **tx)
        .await?;
        sqlx::query(
            "UPDATE leases l SET owner = NULL, expires_at = now() WHERE l.owner = $1 \
             AND NOT EXISTS (SELECT 1 FROM watches w \
               WHERE w.account = l.account AND w.meeting_uuid = l.meeting_uuid \
               AND w.ended_at IS NULL)",
        )
        .bind(me)
        .execute(&mut **tx)
        .await?;
        Ok(renewed.into_iter().map(meeting_key).collect())
    }

    /// Counts the live replicas and the meetings with running watches, and
    /// claims this replica's fair share of the free ones (no owner, or an
    /// expired one), noting how many it took over from another replica.
    async fn claim_fair_share(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        beat: &mut Beat,
    ) -> Result<(), sqlx::Error> {
        let me = self.db.replica.as_str();
        let live: i64 =
            sqlx::query_scalar("SELECT count(*) FROM replicas WHERE expires_at > now()")
                .fetch_one(&mut **tx)
                .await?;
        beat.live_replicas = u32::try_from(live.max(1)).unwrap_or(1);
        let active: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM leases l WHERE EXISTS (SELECT 1 FROM watches w \
             WHERE w.account = l.account AND w.meeting_uuid = l.meeting_uuid \
             AND w.ended_at IS NULL)",
        )
        .fetch_one(&mut **tx)
        .await?;
        beat.active_meetings = u32::try_from(active.max(0)).unwrap_or(u32::MAX);
        let want = to_claim(active, live, beat.held.len());
        if want == 0 {
            return Ok(());
        }
        let claimed: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT account, meeting_uuid, owner FROM leases l \
             WHERE (l.owner IS NULL OR l.expires_at < now()) AND EXISTS \
               (SELECT 1 FROM watches w WHERE w.account = l.account \
                AND w.meeting_uuid = l.meeting_uuid AND w.ended_at IS NULL) \
             ORDER BY l.expires_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(want)
        .fetch_all(&mut **tx)
        .await?;
        if claimed.is_empty() {
            return Ok(());
        }
        let claimed: Vec<(MeetingKey, Option<String>)> = claimed
            .into_iter()
            .map(|(account, uuid, owner)| (meeting_key((account, uuid)), owner))
            .collect();
        let keys: Vec<MeetingKey> = claimed.iter().map(|(key, _)| key.clone()).collect();
        let (accounts, uuids) = columns(&keys);
        sqlx::query(
            "UPDATE leases SET owner = $1, expires_at = now() + make_interval(secs => $2), \
             taken_over = taken_over + (owner IS NOT NULL)::int \
             WHERE (account, meeting_uuid) IN (SELECT * FROM unnest($3::text[], $4::text[]))",
        )
        .bind(me)
        .bind(ttl_secs(self.ttl))
        .bind(&accounts)
        .bind(&uuids)
        .execute(&mut **tx)
        .await?;
        beat.taken_over = taken_from_others(&claimed, me);
        beat.held.extend(keys);
        Ok(())
    }

    /// Adopts the queued messages of replicas that are gone, in order.
    async fn adopt_outbox(
        &self,
        tx: &mut Transaction<'_, Postgres>,
    ) -> Result<Vec<SavedMessage>, sqlx::Error> {
        let mut outbox = Vec::new();
        for row in sqlx::query(concat!(
            "UPDATE outbox SET owner = $1 WHERE id IN (SELECT id FROM outbox \
             WHERE state = 'queued' AND ",
            orphan!(),
            " ORDER BY id FOR UPDATE SKIP LOCKED) \
             RETURNING id, channel, events, queued_at, attempts"
        ))
        .bind(&self.db.replica)
        .fetch_all(&mut **tx)
        .await?
        {
            let Some(events) = parse::<Vec<AlertEvent>>(row.get(2)) else {
                continue;
            };
            outbox.push(SavedMessage {
                id: row.get(0),
                channel: row.get(1),
                events,
                queued_at: from_millis(row.get(3)),
                attempts: u32::try_from(row.get::<i32, _>(4)).unwrap_or(0),
            });
        }
        outbox.sort_by_key(|m| m.id);
        Ok(outbox)
    }

    /// Adopts the events replicas that are gone had not routed, in order.
    async fn adopt_unrouted(
        &self,
        tx: &mut Transaction<'_, Postgres>,
    ) -> Result<Vec<(RecordId, AlertEvent)>, sqlx::Error> {
        let mut unrouted = Vec::new();
        for row in sqlx::query(concat!(
            "UPDATE alert_events SET owner = $1 WHERE id IN (SELECT id FROM alert_events \
             WHERE NOT routed AND ",
            orphan!(),
            " ORDER BY id FOR UPDATE SKIP LOCKED) RETURNING id, event"
        ))
        .bind(&self.db.replica)
        .fetch_all(&mut **tx)
        .await?
        {
            if let Some(event) = parse::<AlertEvent>(row.get(1)) {
                unrouted.push((row.get(0), event));
            }
        }
        unrouted.sort_by_key(|(id, _)| *id);
        Ok(unrouted)
    }

    /// Adopts the events waiting in the grouping windows of replicas that
    /// are gone, in order.
    async fn adopt_grouped(
        &self,
        tx: &mut Transaction<'_, Postgres>,
    ) -> Result<Vec<SavedGrouped>, sqlx::Error> {
        let mut grouped = Vec::new();
        for row in sqlx::query(concat!(
            "WITH taken AS (UPDATE grouped SET owner = $1 WHERE (event_id, channel) IN \
               (SELECT event_id, channel FROM grouped WHERE ",
            orphan!(),
            " FOR UPDATE SKIP LOCKED) RETURNING event_id, channel) \
             SELECT t.event_id, t.channel, e.event FROM taken t \
             JOIN alert_events e ON e.id = t.event_id ORDER BY t.event_id, t.channel"
        ))
        .bind(&self.db.replica)
        .fetch_all(&mut **tx)
        .await?
        {
            if let Some(event) = parse::<AlertEvent>(row.get(2)) {
                grouped.push(SavedGrouped {
                    id: row.get(0),
                    channel: row.get(1),
                    event,
                });
            }
        }
        Ok(grouped)
    }

    /// Zoom requests the other replicas counted on `today`, per account.
    async fn others_used(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        today: NaiveDate,
    ) -> Result<BTreeMap<Account, u32>, sqlx::Error> {
        let others: Vec<(String, i64)> = sqlx::query_as(
            "SELECT account, COALESCE(SUM(used), 0)::bigint FROM zoom_budget_use \
             WHERE day = $1 AND replica <> $2 GROUP BY account",
        )
        .bind(today.to_string())
        .bind(&self.db.replica)
        .fetch_all(&mut **tx)
        .await?;
        Ok(others
            .into_iter()
            .map(|(account, used)| {
                (
                    Account::new(account),
                    u32::try_from(used).unwrap_or(u32::MAX),
                )
            })
            .collect())
    }
}

/// Running watches whose meeting has no lease row at all (the replica that
/// took the webhook died before claiming) get a free one.
async fn lease_unleased_watches(tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO leases (account, meeting_uuid, owner, expires_at) \
         SELECT DISTINCT w.account, w.meeting_uuid, NULL::text, now() FROM watches w \
         WHERE w.ended_at IS NULL AND NOT EXISTS \
           (SELECT 1 FROM leases l WHERE l.account = w.account \
            AND l.meeting_uuid = w.meeting_uuid) \
         ON CONFLICT DO NOTHING",
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How many free meetings to claim: a fair share is the active meetings
/// divided by the live replicas, rounded up (the shares cover them all, so
/// none is left over), less what this replica holds already.
fn to_claim(active: i64, live: i64, held: usize) -> i64 {
    let fair = (active + live - 1) / live.max(1);
    (fair - held as i64).max(0)
}

/// The held meetings above the fair share, when this replica holds more
/// than one over it (`ceil(active / live) + 1`): down to the fair share,
/// the last by id first (so successive beats pick the same ones). The
/// others claim them once released; the slack of one keeps meetings from
/// moving back and forth as they start and end.
fn shed_excess(held: &mut BTreeSet<MeetingKey>, active: u32, live: u32) -> Vec<MeetingKey> {
    let fair = active.div_ceil(live.max(1)) as usize;
    if held.len() <= fair + 1 {
        return Vec::new();
    }
    let mut shed = Vec::new();
    while held.len() > fair {
        match held.pop_last() {
            Some(uuid) => shed.push(uuid),
            None => break,
        }
    }
    shed
}

/// Of the claimed leases, those another replica had held.
fn taken_from_others(claimed: &[(MeetingKey, Option<String>)], me: &str) -> usize {
    claimed
        .iter()
        .filter(|(_, owner)| owner.as_deref().is_some_and(|o| o != me))
        .count()
}

/// Leases are soft state: a claim or a renewal lost to a crash of the
/// database is made again by the next heartbeat. So their transactions do
/// not wait for the WAL to reach the disk (PostgreSQL's
/// `synchronous_commit = off`, for this transaction only); they keep their
/// atomicity and isolation, and the watches, events and messages stay
/// durable (the writer's transactions are untouched).
async fn relaxed(tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
    sqlx::query("SET LOCAL synchronous_commit TO OFF")
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// A stored JSON record; one that cannot be read is skipped (and the
/// others still adopted) rather than stopping every heartbeat.
fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    match serde_json::from_str(text) {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::error!(%error, "a shared record cannot be read; skipped");
            None
        }
    }
}

mod rate;
mod read;

pub(crate) use read::columns;
#[cfg(test)]
use read::in_force;
use read::{ended_since, held_watches, meeting_key, running_watches, shared_pause};

#[cfg(test)]
mod tests;
