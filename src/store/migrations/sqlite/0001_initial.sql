-- qoswatch's durable state. Times are Unix milliseconds (UTC); JSON columns
-- hold the service's own serde shapes.

-- Every watch, running (ended_at IS NULL) or finished (kept for the retention).
CREATE TABLE watches (
    meeting_uuid TEXT NOT NULL,
    user_id TEXT NOT NULL,
    subject TEXT NOT NULL,            -- WatchSubject as JSON
    started_at INTEGER NOT NULL,
    last_seen INTEGER,                -- date_time of the newest sample seen
    alert_state TEXT,                 -- SavedState as JSON
    ended_at INTEGER,
    end_reason TEXT,
    PRIMARY KEY (meeting_uuid, user_id)
) WITHOUT ROWID;
CREATE INDEX watches_by_end ON watches (ended_at);

-- Participants and meetings that ended, so a late participant_joined
-- retry starts nothing.
CREATE TABLE ended_participants (
    meeting_uuid TEXT NOT NULL,
    user_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (meeting_uuid, user_id)
) WITHOUT ROWID;
CREATE TABLE ended_meetings (
    meeting_uuid TEXT PRIMARY KEY NOT NULL,
    at INTEGER NOT NULL
) WITHOUT ROWID;

-- Every alert transition, written with the alert state that produced it.
-- routed = 0: not yet handed to the channels (re-routed after a restart).
CREATE TABLE alert_events (
    id INTEGER PRIMARY KEY,
    alert_key TEXT NOT NULL,
    status TEXT NOT NULL,
    at INTEGER NOT NULL,
    event TEXT NOT NULL,              -- AlertEvent as JSON
    routed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX alert_events_unrouted ON alert_events (routed) WHERE routed = 0;
CREATE INDEX alert_events_by_time ON alert_events (at);

-- Events routed to a channel and waiting in its grouping window.
CREATE TABLE grouped (
    event_id INTEGER NOT NULL,
    channel TEXT NOT NULL,
    PRIMARY KEY (event_id, channel)
) WITHOUT ROWID;

-- One row per message per channel: queued until delivered or given up.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    events TEXT NOT NULL,             -- [AlertEvent] as JSON
    queued_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'delivered', 'failed')),
    done_at INTEGER
);
CREATE INDEX outbox_queued ON outbox (channel, id) WHERE state = 'queued';
CREATE INDEX outbox_by_done ON outbox (done_at);

-- Today's Zoom request count and a 429 pause in force: one row.
CREATE TABLE zoom_budget (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    day TEXT NOT NULL,                -- UTC date, YYYY-MM-DD
    used INTEGER NOT NULL,
    paused_until INTEGER
);
