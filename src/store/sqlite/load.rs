//! Reading SQLite back at start: [`SqliteBackend::load`] reads each part of
//! the [`Snapshot`] in its own step.

use std::str::FromStr;

use chrono::NaiveDate;
use sqlx::Row;
use sqlx::sqlite::SqliteConnection;

use super::super::{
    BudgetUse, SavedGrouped, SavedMessage, SavedWatch, Snapshot, StoreError, from_millis,
};
use super::{SqliteBackend, classify, json};
use qoswatch_core::alert::{Account, AlertEvent, MeetingKey, ParticipantKey};
use qoswatch_core::subject::WatchSubject;

/// One read: the connection and the file's path (for errors).
struct Reader<'a> {
    conn: &'a mut SqliteConnection,
    path: &'a str,
}

impl SqliteBackend {
    /// Reads everything a restart needs.
    pub async fn load(&mut self) -> Result<Snapshot, StoreError> {
        let mut reader = Reader {
            conn: &mut self.connection,
            path: &self.path,
        };
        let mut snapshot = Snapshot::default();
        reader.watches(&mut snapshot).await?;
        reader.ended(&mut snapshot).await?;
        reader.unrouted(&mut snapshot).await?;
        reader.grouped(&mut snapshot).await?;
        reader.outbox(&mut snapshot).await?;
        reader.budget(&mut snapshot).await?;
        reader.silences(&mut snapshot).await?;
        // After the watches: an open alert is kept only while its
        // participant is watched.
        reader.open_alerts(&mut snapshot).await?;
        reader.last_id(&mut snapshot).await?;
        reader.watched(&mut snapshot).await?;
        Ok(snapshot)
    }
}

impl Reader<'_> {
    fn error(&self, error: sqlx::Error) -> StoreError {
        classify(self.path, &error)
    }

    async fn all(&mut self, sql: &'static str) -> Result<Vec<sqlx::sqlite::SqliteRow>, StoreError> {
        let rows = sqlx::query(sql).fetch_all(&mut *self.conn).await;
        rows.map_err(|e| self.error(e))
    }

    /// The running watches, oldest first.
    async fn watches(&mut self, snapshot: &mut Snapshot) -> Result<(), StoreError> {
        let rows = self
            .all(
                "SELECT subject, started_at, last_seen, alert_state, account FROM watches \
                 WHERE ended_at IS NULL ORDER BY started_at",
            )
            .await?;
        for row in rows {
            let mut subject: WatchSubject = json(self.path, row.get::<&str, _>(0))?;
            subject.set_account(Account::new(row.get::<String, _>(4)));
            let alert_state = row
                .get::<Option<&str>, _>(3)
                .map(|text| json(self.path, text))
                .transpose()?;
            snapshot.watches.push(SavedWatch {
                subject,
                started_at: from_millis(row.get(1)),
                last_seen: row.get::<Option<i64>, _>(2).map(from_millis),
                alert_state,
            });
        }
        Ok(())
    }

    /// When every watch kept ran: the daily plan's history.
    async fn watched(&mut self, snapshot: &mut Snapshot) -> Result<(), StoreError> {
        for row in self.all(super::super::WATCHED_SPANS).await? {
            snapshot
                .watched
                .push((from_millis(row.get(0)), from_millis(row.get(1))));
        }
        Ok(())
    }

    /// Participants and meetings that ended (within the retention).
    async fn ended(&mut self, snapshot: &mut Snapshot) -> Result<(), StoreError> {
        for row in self
            .all("SELECT account, meeting_uuid, user_id, at FROM ended_participants")
            .await?
        {
            let key = ParticipantKey::in_account(
                Account::new(row.get::<String, _>(0)),
                row.get::<String, _>(1),
                row.get::<String, _>(2),
            );
            snapshot
                .ended_participants
                .push((key, from_millis(row.get(3))));
        }
        for row in self
            .all("SELECT account, meeting_uuid, at FROM ended_meetings")
            .await?
        {
            let meeting = MeetingKey::new(
                Account::new(row.get::<String, _>(0)),
                row.get::<String, _>(1),
            );
            snapshot
                .ended_meetings
                .push((meeting, from_millis(row.get(2))));
        }
        Ok(())
    }

    /// Events the dispatcher had not routed yet, in order.
    async fn unrouted(&mut self, snapshot: &mut Snapshot) -> Result<(), StoreError> {
        for row in self
            .all("SELECT id, event FROM alert_events WHERE routed = 0 ORDER BY id")
            .await?
        {
            let event: AlertEvent = json(self.path, row.get::<&str, _>(1))?;
            snapshot.unrouted.push((row.get(0), event));
        }
        Ok(())
    }

    /// Events waiting in grouping windows, in order.
    async fn grouped(&mut self, snapshot: &mut Snapshot) -> Result<(), StoreError> {
        for row in self
            .all(
                "SELECT g.event_id, g.channel, e.event FROM grouped g \
                 JOIN alert_events e ON e.id = g.event_id ORDER BY g.event_id, g.channel",
            )
            .await?
        {
            snapshot.grouped.push(SavedGrouped {
                id: row.get(0),
                channel: row.get(1),
                event: json(self.path, row.get::<&str, _>(2))?,
            });
        }
        Ok(())
    }

    /// Messages still queued, in order.
    async fn outbox(&mut self, snapshot: &mut Snapshot) -> Result<(), StoreError> {
        for row in self
            .all(
                "SELECT id, channel, events, queued_at, attempts FROM outbox \
                 WHERE state = 'queued' ORDER BY id",
            )
            .await?
        {
            snapshot.outbox.push(SavedMessage {
                id: row.get(0),
                channel: row.get(1),
                events: json(self.path, row.get::<&str, _>(2))?,
                queued_at: from_millis(row.get(3)),
                attempts: u32::try_from(row.get::<i64, _>(4)).unwrap_or(0),
            });
        }
        Ok(())
    }

    /// Each account's Zoom budget: the day count and pause (a day that
    /// cannot be read counts as none).
    async fn budget(&mut self, snapshot: &mut Snapshot) -> Result<(), StoreError> {
        for row in self
            .all("SELECT account, day, used, paused_until FROM zoom_budgets ORDER BY account")
            .await?
        {
            let day: &str = row.get(1);
            if let Ok(day) = NaiveDate::from_str(day) {
                snapshot.budgets.push(BudgetUse {
                    account: Account::new(row.get::<String, _>(0)),
                    day,
                    used: u32::try_from(row.get::<i64, _>(2)).unwrap_or(u32::MAX),
                    paused_until: row.get::<Option<i64>, _>(3).map(from_millis),
                });
            }
        }
        Ok(())
    }

    async fn silences(&mut self, snapshot: &mut Snapshot) -> Result<(), StoreError> {
        for row in self
            .all("SELECT silence FROM silences ORDER BY ends_at")
            .await?
        {
            snapshot
                .silences
                .push(json(self.path, row.get::<&str, _>(0))?);
        }
        Ok(())
    }

    /// The newest event of each alert, when it is not a RESOLVED and its
    /// participant is still watched.
    async fn open_alerts(&mut self, snapshot: &mut Snapshot) -> Result<(), StoreError> {
        for row in self
            .all(
                "SELECT e.event FROM alert_events e \
                 JOIN (SELECT alert_key, MAX(id) AS id FROM alert_events GROUP BY alert_key) newest \
                 ON newest.id = e.id WHERE e.status != 'RESOLVED' ORDER BY e.id",
            )
            .await?
        {
            let event: AlertEvent = json(self.path, row.get::<&str, _>(0))?;
            let watched = event.participant.as_ref().is_some_and(|p| {
                snapshot.watches.iter().any(|w| {
                    w.subject.key.meeting_uuid == event.meeting.uuid
                        && w.subject.key.account == event.meeting.account
                        && w.subject.key.user_id == p.user_id
                })
            });
            if watched {
                snapshot.open_alerts.push(event);
            }
        }
        Ok(())
    }

    /// The highest record id in use, events and messages together.
    async fn last_id(&mut self, snapshot: &mut Snapshot) -> Result<(), StoreError> {
        let last = sqlx::query_scalar(
            "SELECT MAX(COALESCE((SELECT MAX(id) FROM alert_events), 0), \
                        COALESCE((SELECT MAX(id) FROM outbox), 0))",
        )
        .fetch_one(&mut *self.conn)
        .await;
        snapshot.last_id = last.map_err(|e| self.error(e))?;
        Ok(())
    }
}
