-- Silences (issue 14): created and removed from the status page and the
-- API. Removing one ends it (ends_at moves to the removal); rows are pruned
-- once ended for longer than store.retention.
CREATE TABLE silences (
    id TEXT PRIMARY KEY NOT NULL,
    silence TEXT NOT NULL,            -- status::silence::Silence as JSON
    ends_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX silences_by_end ON silences (ends_at);
