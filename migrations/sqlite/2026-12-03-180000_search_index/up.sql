-- One wide index table for every search parameter kind. Each row carries the columns of its kind:
-- string (s_norm, s_exact), token (system, code, s_norm = display/text), date (lo, hi: µs, [lo, hi)),
-- number/quantity (num, system, code), reference (ref_type, ref_id, uri), uri (uri).
-- Composite parameters store one row per component with the same (param, grp) and pos = component.
DROP TABLE search_token;
CREATE TABLE search_index (
    rid      BIGINT NOT NULL REFERENCES resource (rid),
    res_type TEXT   NOT NULL,
    param    TEXT   NOT NULL,
    grp      INTEGER,
    pos      INTEGER,
    s_norm   TEXT,
    s_exact  TEXT,
    system   TEXT,
    code     TEXT,
    lo       BIGINT,
    hi       BIGINT,
    num      DOUBLE PRECISION,
    ref_type TEXT,
    ref_id   TEXT,
    uri      TEXT
);
CREATE INDEX search_index_rid ON search_index (rid);
CREATE INDEX search_index_string ON search_index (res_type, param, s_norm);
CREATE INDEX search_index_token ON search_index (res_type, param, code, system);
CREATE INDEX search_index_date ON search_index (res_type, param, lo, hi);
CREATE INDEX search_index_number ON search_index (res_type, param, num);
CREATE INDEX search_index_reference ON search_index (ref_id, ref_type, param);
CREATE INDEX search_index_uri ON search_index (res_type, param, uri);

-- A per-database secret that signs paging cursors, shared by every node on the same database.
CREATE TABLE server_secret (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
