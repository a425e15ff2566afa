-- Several Zoom accounts (issue 27): two accounts may have the same meeting
-- and participant ids, so every row about a meeting is keyed by the
-- account's short name too, and the Zoom budget is kept per account. Rows
-- kept before belong to the single account of a deployment without
-- `accounts:`, named 'default'. SQLite cannot change a primary key: each
-- table is copied into its new shape.
CREATE TABLE watches_by_account (
    account TEXT NOT NULL,
    meeting_uuid TEXT NOT NULL,
    user_id TEXT NOT NULL,
    subject TEXT NOT NULL,            -- WatchSubject as JSON
    started_at INTEGER NOT NULL,
    last_seen INTEGER,                -- date_time of the newest sample seen
    alert_state TEXT,                 -- SavedState as JSON
    ended_at INTEGER,
    end_reason TEXT,
    PRIMARY KEY (account, meeting_uuid, user_id)
) WITHOUT ROWID;
INSERT INTO watches_by_account
SELECT 'default', meeting_uuid, user_id, subject, started_at, last_seen, alert_state,
       ended_at, end_reason
FROM watches;
DROP TABLE watches;
ALTER TABLE watches_by_account RENAME TO watches;
CREATE INDEX watches_by_end ON watches (ended_at);

CREATE TABLE ended_participants_by_account (
    account TEXT NOT NULL,
    meeting_uuid TEXT NOT NULL,
    user_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (account, meeting_uuid, user_id)
) WITHOUT ROWID;
INSERT INTO ended_participants_by_account
SELECT 'default', meeting_uuid, user_id, at FROM ended_participants;
DROP TABLE ended_participants;
ALTER TABLE ended_participants_by_account RENAME TO ended_participants;

CREATE TABLE ended_meetings_by_account (
    account TEXT NOT NULL,
    meeting_uuid TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (account, meeting_uuid)
) WITHOUT ROWID;
INSERT INTO ended_meetings_by_account SELECT 'default', meeting_uuid, at FROM ended_meetings;
DROP TABLE ended_meetings;
ALTER TABLE ended_meetings_by_account RENAME TO ended_meetings;

CREATE TABLE zoom_budgets (
    account TEXT PRIMARY KEY NOT NULL,
    day TEXT NOT NULL,                -- UTC date, YYYY-MM-DD
    used INTEGER NOT NULL,
    paused_until INTEGER
) WITHOUT ROWID;
INSERT INTO zoom_budgets SELECT 'default', day, used, paused_until FROM zoom_budget;
DROP TABLE zoom_budget;
