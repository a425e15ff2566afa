-- qoswatch's shared state on PostgreSQL (several replicas). The data tables
-- mirror the SQLite schema (times are Unix milliseconds, JSON columns hold
-- the service's serde shapes); replicas, leases and the per-replica Zoom
-- count are what sharing adds. Lease times are the database's clock, so
-- replicas never compare their own clocks.

-- Every replica that is or was running: its lease on life.
CREATE TABLE replicas (
    id TEXT PRIMARY KEY,
    number BIGINT NOT NULL UNIQUE,       -- high bits of its record ids
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE SEQUENCE replica_numbers;

-- Which replica polls a meeting. owner NULL or expires_at past: free.
CREATE TABLE leases (
    meeting_uuid TEXT PRIMARY KEY,
    owner TEXT,
    expires_at TIMESTAMPTZ NOT NULL,
    taken_over INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX leases_by_owner ON leases (owner);

CREATE TABLE watches (
    meeting_uuid TEXT NOT NULL,
    user_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    last_seen BIGINT,
    alert_state TEXT,
    ended_at BIGINT,
    end_reason TEXT,
    PRIMARY KEY (meeting_uuid, user_id)
);
CREATE INDEX watches_by_end ON watches (ended_at);
CREATE INDEX watches_running ON watches (meeting_uuid) WHERE ended_at IS NULL;

CREATE TABLE ended_participants (
    meeting_uuid TEXT NOT NULL,
    user_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (meeting_uuid, user_id)
);
CREATE INDEX ended_participants_by_time ON ended_participants (at);
CREATE TABLE ended_meetings (
    meeting_uuid TEXT PRIMARY KEY,
    at BIGINT NOT NULL
);
CREATE INDEX ended_meetings_by_time ON ended_meetings (at);

-- owner: the replica whose dispatcher holds the event (NULL: nobody's,
-- adopted by the next heartbeat of a live replica).
CREATE TABLE alert_events (
    id BIGINT PRIMARY KEY,
    alert_key TEXT NOT NULL,
    status TEXT NOT NULL,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    routed BOOLEAN NOT NULL DEFAULT false,
    owner TEXT
);
CREATE INDEX alert_events_unrouted ON alert_events (owner) WHERE NOT routed;
CREATE INDEX alert_events_by_time ON alert_events (at);
CREATE INDEX alert_events_by_key ON alert_events (alert_key, id);

CREATE TABLE grouped (
    event_id BIGINT NOT NULL,
    channel TEXT NOT NULL,
    owner TEXT,
    PRIMARY KEY (event_id, channel)
);

CREATE TABLE outbox (
    id BIGINT PRIMARY KEY,
    channel TEXT NOT NULL,
    events TEXT NOT NULL,
    queued_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'delivered', 'failed')),
    done_at BIGINT,
    owner TEXT
);
CREATE INDEX outbox_queued ON outbox (owner, id) WHERE state = 'queued';
CREATE INDEX outbox_by_done ON outbox (done_at);

-- Each replica's Zoom requests per UTC day; the sum is the account's use.
CREATE TABLE zoom_budget_use (
    replica TEXT NOT NULL,
    day TEXT NOT NULL,                -- UTC date, YYYY-MM-DD
    used BIGINT NOT NULL,
    PRIMARY KEY (replica, day)
);
-- A 429 pause, for every replica: one row.
CREATE TABLE zoom_pause (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    paused_until BIGINT
);

CREATE TABLE silences (
    id TEXT PRIMARY KEY,
    silence TEXT NOT NULL,
    ends_at BIGINT NOT NULL
);
CREATE INDEX silences_by_end ON silences (ends_at);
