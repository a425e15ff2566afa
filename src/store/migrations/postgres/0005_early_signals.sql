-- Early signals for the replica that polls a meeting (issue 24): Zoom's
-- meeting.alert, or a participant who left (for the rejoin signal), taken
-- by a replica that does not hold the meeting's lease. Each row is also
-- sent as a NOTIFY on channel qoswatch_early_signals when it commits; the
-- heartbeat reads the rows of the last two lease TTLs in case a
-- notification was missed or the meeting was taken over since. `who` is a meeting-scoped hash of the person: no e-mail or
-- name is kept here. Rows are pruned by the heartbeat.
CREATE TABLE early_signals (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    replica TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('meeting_alert', 'left')),
    account TEXT NOT NULL,
    meeting_uuid TEXT NOT NULL,
    who BIGINT
);
CREATE INDEX early_signals_at ON early_signals (at);
