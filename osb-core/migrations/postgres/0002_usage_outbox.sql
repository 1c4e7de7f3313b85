-- The usage outbox (osb_core::managed::UsageOutbox): records waiting to be reported, rejected
-- records kept for inspection, once-per-window collection claims, and named cursors.
-- `record_key` is the record's identity (for IBM metering: its duplicate key), fixed at enqueue;
-- `not_before` is when the entry is next due (a sender's lease moves it forward); a rejected
-- entry has `rejected_at` and `reason` set and is never due. Times are Unix milliseconds.

CREATE TABLE osb_usage_outbox (
    record_key  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    payload     TEXT   NOT NULL,
    enqueued_at BIGINT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  BIGINT NOT NULL,
    rejected_at BIGINT,
    reason      TEXT
);
CREATE INDEX osb_usage_outbox_due ON osb_usage_outbox (not_before)
    WHERE rejected_at IS NULL;
CREATE INDEX osb_usage_outbox_age ON osb_usage_outbox (enqueued_at)
    WHERE rejected_at IS NULL;

CREATE TABLE osb_usage_collections (
    collection_key TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    owner          TEXT    NOT NULL,
    lease_until    BIGINT  NOT NULL,
    done           BOOLEAN NOT NULL DEFAULT FALSE,
    retain_until   BIGINT  NOT NULL
);
CREATE INDEX osb_usage_collections_retain_until ON osb_usage_collections (retain_until);

CREATE TABLE osb_usage_cursors (
    name  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    value BIGINT NOT NULL
);
