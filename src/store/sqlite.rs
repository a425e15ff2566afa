//! The SQLite backend: one file in the data directory, WAL mode, versioned
//! migrations applied at open, and a lock file so that two processes never
//! share one database.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, Row, SqlStr};

use super::{
    Backend, BudgetUse, RecordId, SavedGrouped, SavedMessage, SavedWatch, Snapshot, StoreError,
    StoreSettings, Synchronous, Write, from_millis, millis,
};
use qoswatch_core::alert::{AlertEvent, ParticipantKey};
use qoswatch_core::subject::WatchSubject;

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "qoswatch.db";

/// The migrations, in order. Never edit one that has shipped: add the next.
fn migrator() -> Migrator {
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            "initial".into(),
            MigrationType::Simple,
            SqlStr::from_static(include_str!("migrations/sqlite/0001_initial.sql")),
            false,
        ),
        Migration::new(
            2,
            "silences".into(),
            MigrationType::Simple,
            SqlStr::from_static(include_str!("migrations/sqlite/0002_silences.sql")),
            false,
        ),
    ])
}

/// The SQLite database behind a [`super::Store`].
#[derive(Debug)]
pub struct SqliteBackend {
    connection: SqliteConnection,
    path: String,
    /// Held for the life of the process: a second qoswatch on the same
    /// directory fails at start instead of corrupting the state.
    _lock: Option<File>,
}

impl SqliteBackend {
    /// Opens the database of `settings`; returns it with a description of
    /// where it is, for logs.
    pub async fn open(settings: &StoreSettings) -> Result<(Self, String), StoreError> {
        let Some(dir) = &settings.data_dir else {
            let options = SqliteConnectOptions::from_str("sqlite::memory:")
                .map_err(|e| open_error("memory", &e))?;
            let connection = connect(options, "memory").await?;
            let backend = Self::migrated(connection, "memory".into(), None).await?;
            return Ok((backend, "in memory (lost on restart)".into()));
        };
        let path = dir.join(DATABASE_FILE);
        let shown = path.display().to_string();
        let lock = lock_data_dir(dir, &path)?;
        let mut options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match settings.synchronous {
                Synchronous::Full => SqliteSynchronous::Full,
                Synchronous::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        if let Some(max) = settings.max_size_bytes {
            // SQLite's pages are 4 KiB by default; it answers SQLITE_FULL
            // past the last page, exactly as on a full disk.
            options = options.pragma("max_page_count", (max / 4096).max(16).to_string());
        }
        let connection = connect(options, &shown).await?;
        let backend = Self::migrated(connection, shown.clone(), Some(lock)).await?;
        Ok((backend, shown))
    }

    async fn migrated(
        mut connection: SqliteConnection,
        path: String,
        lock: Option<File>,
    ) -> Result<Self, StoreError> {
        migrator()
            .run(&mut connection)
            .await
            .map_err(|error| match error {
                sqlx::migrate::MigrateError::Execute(error) => classify(&path, &error),
                other => StoreError::Corrupt {
                    path: path.clone(),
                    reason: format!("{other}; restore a backup or move the file away"),
                },
            })?;
        Ok(Self {
            connection,
            path,
            _lock: lock,
        })
    }

    /// Reads everything a restart needs.
    pub async fn load(&mut self) -> Result<Snapshot, StoreError> {
        let path = self.path.clone();
        let read = |e: sqlx::Error| classify(&path, &e);
        let conn = &mut self.connection;
        let mut snapshot = Snapshot::default();
        let rows = sqlx::query(
            "SELECT subject, started_at, last_seen, alert_state FROM watches \
             WHERE ended_at IS NULL ORDER BY started_at",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(read)?;
        for row in rows {
            let subject: WatchSubject = json(&path, row.get::<&str, _>(0))?;
            let alert_state = row
                .get::<Option<&str>, _>(3)
                .map(|text| json(&path, text))
                .transpose()?;
            snapshot.watches.push(SavedWatch {
                subject,
                started_at: from_millis(row.get(1)),
                last_seen: row.get::<Option<i64>, _>(2).map(from_millis),
                alert_state,
            });
        }
        for row in sqlx::query("SELECT meeting_uuid, user_id, at FROM ended_participants")
            .fetch_all(&mut *conn)
            .await
            .map_err(read)?
        {
            let key = ParticipantKey {
                meeting_uuid: row.get(0),
                user_id: row.get(1),
            };
            snapshot
                .ended_participants
                .push((key, from_millis(row.get(2))));
        }
        for row in sqlx::query("SELECT meeting_uuid, at FROM ended_meetings")
            .fetch_all(&mut *conn)
            .await
            .map_err(read)?
        {
            snapshot
                .ended_meetings
                .push((row.get(0), from_millis(row.get(1))));
        }
        for row in sqlx::query("SELECT id, event FROM alert_events WHERE routed = 0 ORDER BY id")
            .fetch_all(&mut *conn)
            .await
            .map_err(read)?
        {
            let event: AlertEvent = json(&path, row.get::<&str, _>(1))?;
            snapshot.unrouted.push((row.get(0), event));
        }
        for row in sqlx::query(
            "SELECT g.event_id, g.channel, e.event FROM grouped g \
             JOIN alert_events e ON e.id = g.event_id ORDER BY g.event_id, g.channel",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(read)?
        {
            snapshot.grouped.push(SavedGrouped {
                id: row.get(0),
                channel: row.get(1),
                event: json(&path, row.get::<&str, _>(2))?,
            });
        }
        for row in sqlx::query(
            "SELECT id, channel, events, queued_at, attempts FROM outbox \
             WHERE state = 'queued' ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(read)?
        {
            snapshot.outbox.push(SavedMessage {
                id: row.get(0),
                channel: row.get(1),
                events: json(&path, row.get::<&str, _>(2))?,
                queued_at: from_millis(row.get(3)),
                attempts: u32::try_from(row.get::<i64, _>(4)).unwrap_or(0),
            });
        }
        if let Some(row) = sqlx::query("SELECT day, used, paused_until FROM zoom_budget")
            .fetch_optional(&mut *conn)
            .await
            .map_err(read)?
        {
            let day: &str = row.get(0);
            if let Ok(day) = NaiveDate::from_str(day) {
                snapshot.budget = Some(BudgetUse {
                    day,
                    used: u32::try_from(row.get::<i64, _>(1)).unwrap_or(u32::MAX),
                    paused_until: row.get::<Option<i64>, _>(2).map(from_millis),
                });
            }
        }
        for row in sqlx::query("SELECT silence FROM silences ORDER BY ends_at")
            .fetch_all(&mut *conn)
            .await
            .map_err(read)?
        {
            snapshot.silences.push(json(&path, row.get::<&str, _>(0))?);
        }
        // The newest event of each alert, when it is not a RESOLVED and its
        // participant is still watched.
        for row in sqlx::query(
            "SELECT e.event FROM alert_events e \
             JOIN (SELECT alert_key, MAX(id) AS id FROM alert_events GROUP BY alert_key) newest \
             ON newest.id = e.id WHERE e.status != 'RESOLVED' ORDER BY e.id",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(read)?
        {
            let event: AlertEvent = json(&path, row.get::<&str, _>(0))?;
            let watched = event.participant.as_ref().is_some_and(|p| {
                snapshot.watches.iter().any(|w| {
                    w.subject.key.meeting_uuid == event.meeting.uuid
                        && w.subject.key.user_id == p.user_id
                })
            });
            if watched {
                snapshot.open_alerts.push(event);
            }
        }
        snapshot.last_id = sqlx::query_scalar(
            "SELECT MAX(COALESCE((SELECT MAX(id) FROM alert_events), 0), \
                        COALESCE((SELECT MAX(id) FROM outbox), 0))",
        )
        .fetch_one(&mut *conn)
        .await
        .map_err(read)?;
        Ok(snapshot)
    }
}

/// Creates the data directory if needed, checks it is writable, and takes
/// the lock file beside the database.
fn lock_data_dir(dir: &Path, database: &Path) -> Result<File, StoreError> {
    let dir_error = |reason: String| StoreError::DataDir {
        path: dir.display().to_string(),
        reason,
    };
    std::fs::create_dir_all(dir).map_err(|e| dir_error(format!("cannot create it: {e}")))?;
    if !dir.is_dir() {
        return Err(dir_error("is not a directory".into()));
    }
    let lock_path = dir.join(format!("{DATABASE_FILE}.lock"));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| dir_error(format!("is not writable: {e}")))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: database.display().to_string(),
            lock: lock_path.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(dir_error(format!(
            "cannot lock {}: {e}",
            lock_path.display()
        ))),
    }
}

async fn connect(
    options: SqliteConnectOptions,
    path: &str,
) -> Result<SqliteConnection, StoreError> {
    let mut connection = SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| classify(path, &e))?;
    // Reading the schema is the first thing to touch the file's contents: a
    // file that is not a database fails here with a clear message.
    sqlx::query("SELECT COUNT(*) FROM sqlite_master")
        .fetch_one(&mut connection)
        .await
        .map_err(|e| classify(path, &e))?;
    Ok(connection)
}

fn open_error(path: &str, error: &dyn std::fmt::Display) -> StoreError {
    StoreError::Open {
        path: path.into(),
        reason: error.to_string(),
    }
}

/// Turns a database error at open into a message for the operator.
fn classify(path: &str, error: &sqlx::Error) -> StoreError {
    let code = match error {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    };
    // SQLite's primary result codes: 11 CORRUPT, 26 NOTADB, 5 BUSY, 8 READONLY, 14 CANTOPEN.
    let primary = code
        .as_deref()
        .and_then(|c| c.parse::<i32>().ok())
        .map(|c| c & 0xff);
    match primary {
        Some(11) | Some(26) => StoreError::Corrupt {
            path: path.into(),
            reason: format!(
                "{error}: the file is damaged or not a qoswatch database; \
                 restore a backup or move it away to start empty"
            ),
        },
        Some(5) => StoreError::Locked {
            path: path.into(),
            lock: format!("{path} (SQLite reports it busy)"),
        },
        _ => open_error(path, error),
    }
}

fn json<T: serde::de::DeserializeOwned>(path: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        path: path.into(),
        reason: format!(
            "a stored record cannot be read ({e}); restore a backup or move the file away"
        ),
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Write(e.to_string()))
}

fn write_error(error: sqlx::Error) -> StoreError {
    StoreError::Write(error.to_string())
}

fn opt_millis(at: Option<DateTime<Utc>>) -> Option<i64> {
    at.map(millis)
}

async fn apply_one(tx: &mut SqliteConnection, write: &Write) -> Result<(), StoreError> {
    match write {
        Write::WatchStarted { subject, at } => {
            sqlx::query(
                "INSERT INTO watches (meeting_uuid, user_id, subject, started_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (meeting_uuid, user_id) DO UPDATE SET subject = excluded.subject, \
                 started_at = excluded.started_at, last_seen = NULL, alert_state = NULL, \
                 ended_at = NULL, end_reason = NULL",
            )
            .bind(&subject.key.meeting_uuid)
            .bind(&subject.key.user_id)
            .bind(to_json(subject)?)
            .bind(millis(*at))
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
        }
        Write::WatchProgress {
            key,
            last_seen,
            alert_state,
            events,
        } => {
            let state = alert_state.as_ref().map(to_json).transpose()?;
            sqlx::query(
                "UPDATE watches SET last_seen = COALESCE(?, last_seen), \
                 alert_state = COALESCE(?, alert_state) WHERE meeting_uuid = ? AND user_id = ?",
            )
            .bind(opt_millis(*last_seen))
            .bind(state)
            .bind(&key.meeting_uuid)
            .bind(&key.user_id)
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
            for (id, event) in events {
                insert_event(tx, *id, event).await?;
            }
        }
        Write::WatchEnded { key, reason, at } => {
            sqlx::query(
                // The alert state is read back only for running watches:
                // dropping it keeps a finished watch's row on its page
                // (about half the file after a day, BENCHMARKS.md).
                "UPDATE watches SET ended_at = ?, end_reason = ?, alert_state = NULL \
                 WHERE meeting_uuid = ? AND user_id = ?",
            )
            .bind(millis(*at))
            .bind(reason.to_string())
            .bind(&key.meeting_uuid)
            .bind(&key.user_id)
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
        }
        Write::ParticipantEnded { key, at } => {
            sqlx::query(
                "INSERT INTO ended_participants (meeting_uuid, user_id, at) VALUES (?, ?, ?) \
                 ON CONFLICT (meeting_uuid, user_id) DO UPDATE SET at = excluded.at",
            )
            .bind(&key.meeting_uuid)
            .bind(&key.user_id)
            .bind(millis(*at))
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
        }
        Write::MeetingEnded { uuid, at } => {
            sqlx::query(
                "INSERT INTO ended_meetings (meeting_uuid, at) VALUES (?, ?) \
                 ON CONFLICT (meeting_uuid) DO UPDATE SET at = excluded.at",
            )
            .bind(uuid)
            .bind(millis(*at))
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
        }
        Write::Event { id, event } => insert_event(tx, *id, event).await?,
        Write::EventRouted { id, channels } => {
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
        }
        Write::Queued {
            id,
            channel,
            events,
            grouped,
            at,
        } => {
            sqlx::query(
                "INSERT INTO outbox (id, channel, events, queued_at, due_at) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(channel)
            .bind(to_json(events)?)
            .bind(millis(*at))
            .bind(millis(*at))
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
        }
        Write::Delivered { id, at } => finish_message(tx, *id, "delivered", *at).await?,
        Write::Failed { id, at } => finish_message(tx, *id, "failed", *at).await?,
        Write::Retry { id, attempts, due } => {
            sqlx::query("UPDATE outbox SET attempts = ?, due_at = ? WHERE id = ?")
                .bind(i64::from(*attempts))
                .bind(millis(*due))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(write_error)?;
        }
        Write::Silence(silence) => {
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
        }
        Write::HandBack => {}
        Write::Budget(budget) => {
            sqlx::query(
                "INSERT INTO zoom_budget (id, day, used, paused_until) VALUES (1, ?, ?, ?) \
                 ON CONFLICT (id) DO UPDATE SET day = excluded.day, used = excluded.used, \
                 paused_until = excluded.paused_until",
            )
            .bind(budget.day.to_string())
            .bind(i64::from(budget.used))
            .bind(opt_millis(budget.paused_until))
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
        }
    }
    Ok(())
}

async fn insert_event(
    tx: &mut SqliteConnection,
    id: RecordId,
    event: &AlertEvent,
) -> Result<(), StoreError> {
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

async fn finish_message(
    tx: &mut SqliteConnection,
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

impl Backend for SqliteBackend {
    async fn apply(&mut self, batch: &[Write]) -> Result<(), StoreError> {
        let mut tx = self.connection.begin().await.map_err(write_error)?;
        for write in batch {
            apply_one(&mut tx, write).await?;
        }
        tx.commit().await.map_err(write_error)
    }

    async fn prune(
        &mut self,
        before: DateTime<Utc>,
        ended_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let before = millis(before);
        let ended_before = millis(ended_before);
        let mut tx = self.connection.begin().await.map_err(write_error)?;
        let mut deleted = 0;
        for (sql, bound) in [
            (
                "DELETE FROM watches WHERE ended_at IS NOT NULL AND ended_at < ?",
                before,
            ),
            (
                "DELETE FROM outbox WHERE state != 'queued' AND done_at < ?",
                before,
            ),
            (
                "DELETE FROM alert_events WHERE routed = 1 AND at < ? \
                 AND id NOT IN (SELECT event_id FROM grouped)",
                before,
            ),
            ("DELETE FROM silences WHERE ends_at < ?", before),
            ("DELETE FROM ended_participants WHERE at < ?", ended_before),
            ("DELETE FROM ended_meetings WHERE at < ?", ended_before),
        ] {
            deleted += sqlx::query(sql)
                .bind(bound)
                .execute(&mut *tx)
                .await
                .map_err(write_error)?
                .rows_affected();
        }
        tx.commit().await.map_err(write_error)?;
        Ok(deleted)
    }

    async fn size(&mut self) -> Result<u64, StoreError> {
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&mut self.connection)
            .await
            .map_err(write_error)?;
        let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&mut self.connection)
            .await
            .map_err(write_error)?;
        Ok(u64::try_from(pages * page_size).unwrap_or(0))
    }

    async fn close(self) {
        if let Err(error) = self.connection.close().await {
            tracing::warn!(%error, "closing the database failed");
        }
    }
}
