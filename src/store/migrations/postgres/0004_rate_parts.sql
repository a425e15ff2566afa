-- The per-second rate follows the work (issue 24): each replica's part of
-- an account's Zoom rate, granted by its heartbeat under a lock on this
-- table, so that the parts of the live replicas never sum to more than
-- the rate. A replica's rows go with its row in `replicas` (a clean stop
-- deletes it; a dead one's is removed a day after it lapsed), and the
-- parts of replicas whose heartbeat expired are not counted.
CREATE TABLE zoom_rate_parts (
    account TEXT NOT NULL,
    replica TEXT NOT NULL REFERENCES replicas (id) ON DELETE CASCADE,
    part DOUBLE PRECISION NOT NULL CHECK (part >= 0 AND part <= 1),
    PRIMARY KEY (account, replica)
);
