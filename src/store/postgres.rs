//! The PostgreSQL backend: one database shared by several replicas.
//!
//! The data tables are the SQLite ones plus an `owner` on what a replica's
//! dispatcher holds in memory (unrouted and grouped events, queued
//! messages). What is shared beyond them (replicas, meeting leases, the
//! Zoom count per replica) is read and written by `crate::cluster` through
//! [`SharedDb`]; this file only writes the records every store writes, in
//! order, through the one writer task.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres, Row, SqlStr, Transaction};

use super::{Backend, Snapshot, StoreError, StoreSettings, Write, millis};

mod apply;

use apply::apply_one;

/// The migrations, in order. Never edit one that has shipped: add the next.
fn migrator() -> Migrator {
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            "initial".into(),
            MigrationType::Simple,
            SqlStr::from_static(include_str!("migrations/postgres/0001_initial.sql")),
            false,
        ),
        Migration::new(
            2,
            "silence uuids".into(),
            MigrationType::Simple,
            SqlStr::from_static(include_str!("migrations/postgres/0002_silence_uuids.sql")),
            false,
        ),
        Migration::new(
            3,
            "accounts".into(),
            MigrationType::Simple,
            SqlStr::from_static(include_str!("migrations/postgres/0003_accounts.sql")),
            false,
        ),
        Migration::new(
            4,
            "rate parts".into(),
            MigrationType::Simple,
            SqlStr::from_static(include_str!("migrations/postgres/0004_rate_parts.sql")),
            false,
        ),
        Migration::new(
            5,
            "early signals".into(),
            MigrationType::Simple,
            SqlStr::from_static(include_str!("migrations/postgres/0005_early_signals.sql")),
            false,
        ),
    ])
}

/// How this replica reaches the shared database, for the cluster's
/// heartbeat: the pool, its name and its number.
#[derive(Debug, Clone)]
pub struct SharedDb {
    pub pool: PgPool,
    /// This process's replica id (`replicas.id`, `leases.owner`).
    pub replica: String,
    /// Where the database is, without credentials, for logs.
    pub location: String,
}

/// The PostgreSQL database behind a [`super::Store`].
#[derive(Debug)]
pub struct PgBackend {
    shared: SharedDb,
    number: i64,
}

/// Where a connection URL points, without its password.
fn describe(options: &PgConnectOptions) -> String {
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("")
    )
}

/// A replica id: the host's name, the process and a random suffix, so a
/// restarted process is a new replica (its predecessor's leases expire).
fn replica_id(configured: Option<&str>) -> String {
    let host = configured.map(str::to_owned).unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "qoswatch".into())
    });
    format!(
        "{host}-{}-{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}

impl PgBackend {
    /// Connects, applies the migrations (under PostgreSQL's advisory lock, so
    /// replicas starting together apply them once) and registers this
    /// replica.
    pub async fn open(
        settings: &StoreSettings,
        url: &SecretString,
        password: Option<&SecretString>,
    ) -> Result<(Self, String), StoreError> {
        let mut options = PgConnectOptions::from_str(url.expose_secret()).map_err(|e| {
            StoreError::Open {
                path: "store.url".into(),
                // sqlx's message about a URL names the part it could not
                // read, never the password.
                reason: format!("not a PostgreSQL URL: {}", strip_url(&e.to_string())),
            }
        })?;
        if let Some(password) = password {
            options = options.password(password.expose_secret());
        }
        let location = describe(&options);
        // One connection first: its error says what is wrong (refused, no
        // such host, authentication, TLS), where the pool would only say it
        // timed out.
        let probe = PgConnection::connect_with(&options)
            .await
            .map_err(|e| StoreError::Open {
                path: location.clone(),
                reason: reason_of(&e),
            })?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(2))
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Open {
                path: location.clone(),
                reason: reason_of(&e),
            })?;
        migrator().run(&pool).await.map_err(|e| StoreError::Open {
            path: location.clone(),
            reason: format!("migrations failed: {}", strip_url(&e.to_string())),
        })?;
        let replica = replica_id(settings.replica_name.as_deref());
        let ttl = settings.lease_ttl.as_secs_f64();
        let number: i64 = sqlx::query_scalar(
            "INSERT INTO replicas (id, number, expires_at) \
             VALUES ($1, nextval('replica_numbers'), now() + make_interval(secs => $2)) \
             RETURNING number",
        )
        .bind(&replica)
        .bind(ttl)
        .fetch_one(&pool)
        .await
        .map_err(|e| StoreError::Open {
            path: location.clone(),
            reason: reason_of(&e),
        })?;
        let shown = format!("{location} (replica {replica})");
        Ok((
            Self {
                shared: SharedDb {
                    pool,
                    replica,
                    location,
                },
                number,
            },
            shown,
        ))
    }

    /// The pool and identity for the cluster's heartbeat.
    pub fn shared(&self) -> SharedDb {
        self.shared.clone()
    }

    /// What a replica reads at start: the silences and a pause in force.
    /// Watches come with the leases it claims, queued messages with the
    /// rows it adopts (`crate::cluster`), not from here.
    pub async fn load(&mut self) -> Result<Snapshot, StoreError> {
        let pool = &self.shared.pool;
        let read = |e: sqlx::Error| StoreError::Open {
            path: self.shared.location.clone(),
            reason: reason_of(&e),
        };
        let mut snapshot = Snapshot::default();
        for row in sqlx::query("SELECT silence FROM silences ORDER BY ends_at")
            .fetch_all(pool)
            .await
            .map_err(read)?
        {
            snapshot
                .silences
                .push(json(&self.shared.location, row.get::<&str, _>(0))?);
        }
        // Every replica's watches: the daily plan's history of demand.
        for row in sqlx::query(super::WATCHED_SPANS)
            .fetch_all(pool)
            .await
            .map_err(read)?
        {
            snapshot.watched.push((
                super::from_millis(row.get(0)),
                super::from_millis(row.get(1)),
            ));
        }
        // Record ids: this replica's number in the high 32 bits, so replicas
        // never hand out the same id and one replica's ids keep their order.
        snapshot.last_id = self.number << 32;
        Ok(snapshot)
    }
}

/// sqlx error texts about connections can quote the URL; keep only what
/// precedes a `://`.
fn strip_url(text: &str) -> String {
    match text.find("://") {
        Some(at) => format!("{} (URL not shown)", text[..at].trim_end()),
        None => text.to_owned(),
    }
}

/// A connection or query error as an operator reads it, without
/// credentials.
pub fn reason_of(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => strip_url(db.message()),
        sqlx::Error::Io(io) => format!("cannot reach the database: {io}"),
        sqlx::Error::Tls(_) => "TLS with the database failed (check sslmode and the CA)".into(),
        sqlx::Error::PoolTimedOut => "no database connection within 5 s".into(),
        other => strip_url(&other.to_string()),
    }
}

fn json<T: serde::de::DeserializeOwned>(location: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        path: location.into(),
        reason: format!("a stored record cannot be read ({e})"),
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Write(e.to_string()))
}

fn write_error(error: sqlx::Error) -> StoreError {
    StoreError::Write(reason_of(&error))
}

type Tx<'a> = Transaction<'a, Postgres>;

impl Backend for PgBackend {
    async fn apply(&mut self, batch: &[Write]) -> Result<(), StoreError> {
        let mut tx = self.shared.pool.begin().await.map_err(write_error)?;
        for write in batch {
            apply_one(&mut tx, &self.shared.replica, write).await?;
        }
        tx.commit().await.map_err(write_error)
    }

    async fn prune(
        &mut self,
        before: DateTime<Utc>,
        ended_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let (before_ms, ended_ms) = (millis(before), millis(ended_before));
        let mut tx = self.shared.pool.begin().await.map_err(write_error)?;
        let mut deleted = 0;
        for (sql, bound) in [
            (
                "DELETE FROM watches WHERE ended_at IS NOT NULL AND ended_at < $1",
                before_ms,
            ),
            (
                "DELETE FROM outbox WHERE state != 'queued' AND done_at < $1",
                before_ms,
            ),
            (
                "DELETE FROM alert_events WHERE routed AND at < $1 \
                 AND id NOT IN (SELECT event_id FROM grouped)",
                before_ms,
            ),
            ("DELETE FROM silences WHERE ends_at < $1", before_ms),
            ("DELETE FROM ended_participants WHERE at < $1", ended_ms),
            ("DELETE FROM ended_meetings WHERE at < $1", ended_ms),
        ] {
            deleted += sqlx::query(sql)
                .bind(bound)
                .execute(&mut *tx)
                .await
                .map_err(write_error)?
                .rows_affected();
        }
        let day: NaiveDate = Utc::now().date_naive() - chrono::Days::new(2);
        deleted += sqlx::query("DELETE FROM zoom_budget_use WHERE day < $1")
            .bind(day.to_string())
            .execute(&mut *tx)
            .await
            .map_err(write_error)?
            .rows_affected();
        // Leases of meetings nobody watches any more, and replicas gone for
        // a day (whatever they held was adopted long since).
        deleted += sqlx::query(
            "DELETE FROM leases l WHERE (l.owner IS NULL OR l.expires_at < now()) \
             AND NOT EXISTS (SELECT 1 FROM watches w WHERE w.account = l.account \
             AND w.meeting_uuid = l.meeting_uuid AND w.ended_at IS NULL)",
        )
        .execute(&mut *tx)
        .await
        .map_err(write_error)?
        .rows_affected();
        deleted += sqlx::query("DELETE FROM replicas WHERE expires_at < now() - interval '1 day'")
            .execute(&mut *tx)
            .await
            .map_err(write_error)?
            .rows_affected();
        tx.commit().await.map_err(write_error)?;
        Ok(deleted)
    }

    async fn size(&mut self) -> Result<u64, StoreError> {
        let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
            .fetch_one(&self.shared.pool)
            .await
            .map_err(write_error)?;
        Ok(u64::try_from(size).unwrap_or(0))
    }

    async fn close(self) {
        self.shared.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_never_carry_the_url() {
        let text = strip_url(
            "error with configuration: invalid port in postgres://qw:s3cret@db:x/qoswatch",
        );
        assert!(!text.contains("s3cret") && !text.contains("db:x"), "{text}");
        assert!(text.starts_with("error with configuration: invalid port in postgres"));
        assert_eq!(
            strip_url("relation \"leases\" does not exist"),
            "relation \"leases\" does not exist"
        );
    }

    #[test]
    fn the_location_shown_in_logs_has_no_password() {
        let options =
            PgConnectOptions::from_str("postgres://qoswatch:s3cret@db.internal:5433/qw").unwrap();
        assert_eq!(
            describe(&options),
            "postgres://qoswatch@db.internal:5433/qw"
        );
    }

    #[test]
    fn replica_ids_are_unique_per_process_start() {
        let (one, two) = (replica_id(Some("web-1")), replica_id(Some("web-1")));
        assert!(
            one.starts_with(&format!("web-1-{}-", std::process::id())),
            "{one}"
        );
        // A random suffix: two ids of one process differ (1 in 65,536 not).
        assert!(one != two || replica_id(Some("web-1")) != one);
    }
}
