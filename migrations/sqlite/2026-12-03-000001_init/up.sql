-- Current version of every resource. Content lives in resource_history only (one copy per version).
CREATE TABLE resource (
    rid          INTEGER PRIMARY KEY AUTOINCREMENT,
    res_type     TEXT    NOT NULL,
    res_id       TEXT    NOT NULL,
    version      BIGINT  NOT NULL,
    last_updated BIGINT  NOT NULL, -- microseconds since the Unix epoch, UTC
    deleted      SMALLINT NOT NULL DEFAULT 0,
    UNIQUE (res_type, res_id)
);
CREATE INDEX resource_type_updated ON resource (res_type, last_updated);

-- Every version ever written, deletions included. seq orders system/type history.
CREATE TABLE resource_history (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    rid          BIGINT  NOT NULL REFERENCES resource (rid),
    res_type     TEXT    NOT NULL,
    res_id       TEXT    NOT NULL,
    version      BIGINT  NOT NULL,
    last_updated BIGINT  NOT NULL,
    deleted      SMALLINT NOT NULL DEFAULT 0,
    method       TEXT    NOT NULL, -- POST | PUT | PATCH | DELETE
    encoding     TEXT    NOT NULL, -- how content is stored: 'json' today; compression/encryption tags later
    content      BLOB,             -- NULL for a deletion
    UNIQUE (rid, version)
);
CREATE INDEX resource_history_type_seq ON resource_history (res_type, seq);
CREATE INDEX resource_history_updated ON resource_history (last_updated);

-- Token search index (current versions only).
CREATE TABLE search_token (
    rid      BIGINT NOT NULL REFERENCES resource (rid),
    res_type TEXT   NOT NULL,
    param    TEXT   NOT NULL,
    system   TEXT,
    code     TEXT   NOT NULL
);
CREATE INDEX search_token_lookup ON search_token (res_type, param, code, system);
CREATE INDEX search_token_rid ON search_token (rid);

-- Serialises writers that must not race (conditional create/update on the same criteria).
CREATE TABLE write_lock (
    lock_key TEXT   PRIMARY KEY,
    taken    BIGINT NOT NULL
);
