-- Several Zoom accounts (issue 27): two accounts may have the same meeting
-- and participant ids, so every row about a meeting (and a meeting's lease)
-- is keyed by the account's short name too, and the Zoom budget's use and
-- pause are kept per account. Rows kept before belong to the single account
-- of a deployment without `accounts:`, named 'default'.
ALTER TABLE watches ADD COLUMN account TEXT NOT NULL DEFAULT 'default';
ALTER TABLE watches DROP CONSTRAINT watches_pkey;
ALTER TABLE watches ADD PRIMARY KEY (account, meeting_uuid, user_id);
DROP INDEX watches_running;
CREATE INDEX watches_running ON watches (account, meeting_uuid) WHERE ended_at IS NULL;

ALTER TABLE ended_participants ADD COLUMN account TEXT NOT NULL DEFAULT 'default';
ALTER TABLE ended_participants DROP CONSTRAINT ended_participants_pkey;
ALTER TABLE ended_participants ADD PRIMARY KEY (account, meeting_uuid, user_id);

ALTER TABLE ended_meetings ADD COLUMN account TEXT NOT NULL DEFAULT 'default';
ALTER TABLE ended_meetings DROP CONSTRAINT ended_meetings_pkey;
ALTER TABLE ended_meetings ADD PRIMARY KEY (account, meeting_uuid);

ALTER TABLE leases ADD COLUMN account TEXT NOT NULL DEFAULT 'default';
ALTER TABLE leases DROP CONSTRAINT leases_pkey;
ALTER TABLE leases ADD PRIMARY KEY (account, meeting_uuid);

ALTER TABLE zoom_budget_use ADD COLUMN account TEXT NOT NULL DEFAULT 'default';
ALTER TABLE zoom_budget_use DROP CONSTRAINT zoom_budget_use_pkey;
ALTER TABLE zoom_budget_use ADD PRIMARY KEY (account, replica, day);

-- The one-row table becomes one row per account (its key and check go
-- with the column).
ALTER TABLE zoom_pause ADD COLUMN account TEXT NOT NULL DEFAULT 'default';
ALTER TABLE zoom_pause DROP COLUMN id;
ALTER TABLE zoom_pause ADD PRIMARY KEY (account);
