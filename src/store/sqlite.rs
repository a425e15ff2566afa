//! The SQLite backend: one file in the data directory, WAL mode, versioned
//! migrations applied at open, and a lock file so that two processes never
//! share one database.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, SqlStr};

use super::{Backend, StoreError, StoreSettings, Synchronous, Write, millis};

mod apply;
mod load;

use apply::apply_one;

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "qoswatch.db";

/// The migrations, in order. Never edit one that has shipped: add the next.
fn migrator() -> Migrator {
    Migrator::with_migrations(migrations())
}

/// The migrations up to `version`: a database as an older release left it.
#[cfg(test)]
pub(super) fn migrator_until(version: i64) -> Migrator {
    let older = migrations().into_iter().filter(|m| m.version <= version);
    Migrator::with_migrations(older.collect())
}

fn migrations() -> Vec<Migration> {
    vec![
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
        Migration::new(
            3,
            "silence uuids".into(),
            MigrationType::Simple,
            SqlStr::from_static(include_str!("migrations/sqlite/0003_silence_uuids.sql")),
            false,
        ),
        Migration::new(
            4,
            "accounts".into(),
            MigrationType::Simple,
            SqlStr::from_static(include_str!("migrations/sqlite/0004_accounts.sql")),
            false,
        ),
    ]
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
