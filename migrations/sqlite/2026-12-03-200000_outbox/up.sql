-- Transactional outbox: one row per committed change, appended in the writer's own transaction.
-- SQLite has a single writer (BEGIN IMMEDIATE), so event ids become visible in id order.
CREATE TABLE change_event (
    event_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    res_type     TEXT   NOT NULL,
    res_id       TEXT   NOT NULL,
    version      BIGINT NOT NULL,
    operation    TEXT   NOT NULL, -- create | update | delete
    committed_at BIGINT NOT NULL  -- µs since the epoch (time of the write inside the transaction)
);

-- Small named counters; 'fanout_cursor' = the last event fanned out into sync_delivery.
CREATE TABLE sync_state (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO sync_state (name, value) VALUES ('fanout_cursor', 0);
-- 'claim_lock': the row PostgreSQL claim transactions lock (one claimer at a time).
INSERT INTO sync_state (name, value) VALUES ('claim_lock', 0);

-- Per-destination delivery state. dest_id is 'Subscription/<id>' or 'mirror'.
CREATE TABLE sync_delivery (
    dest_id         TEXT    NOT NULL,
    event_id        BIGINT  NOT NULL,
    event_number    BIGINT  NOT NULL DEFAULT 0, -- per-subscription event number (backport IG)
    res_type        TEXT    NOT NULL,
    res_id          TEXT    NOT NULL,
    version         BIGINT  NOT NULL,
    operation       TEXT    NOT NULL,
    status          TEXT    NOT NULL, -- pending | in_flight | delivered | skipped | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    last_error      TEXT,
    lease_owner     TEXT,
    lease_until     BIGINT,
    created_at      BIGINT  NOT NULL,
    delivered_at    BIGINT,
    PRIMARY KEY (dest_id, event_id)
);
CREATE INDEX sync_delivery_due ON sync_delivery (status, next_attempt_at);
CREATE INDEX sync_delivery_resource ON sync_delivery (dest_id, res_type, res_id, event_id);
CREATE INDEX sync_delivery_dest_status ON sync_delivery (dest_id, status, event_id);

-- Projection of Subscription resources, maintained in the same transaction as their writes.
CREATE TABLE sync_subscription (
    sub_id          TEXT    PRIMARY KEY,
    status          TEXT    NOT NULL, -- requested | active | error | off | deleted
    criteria        TEXT    NOT NULL,
    endpoint        TEXT    NOT NULL,
    headers         TEXT    NOT NULL, -- JSON array of "Name: value"
    payload         TEXT,             -- channel.payload (MIME type) or NULL
    content         TEXT    NOT NULL, -- empty | id-only | full-resource
    events_count    BIGINT  NOT NULL DEFAULT 0,
    fail_count      INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL DEFAULT 0,
    last_error      TEXT
);

-- Last remote version we wrote per mirrored resource (skip-if-remote-newer uses it with If-Match).
CREATE TABLE sync_mirror_state (
    res_type    TEXT NOT NULL,
    res_id      TEXT NOT NULL,
    remote_etag TEXT NOT NULL,
    PRIMARY KEY (res_type, res_id)
);
