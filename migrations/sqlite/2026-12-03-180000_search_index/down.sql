DROP TABLE server_secret;
DROP TABLE search_index;
CREATE TABLE search_token (
    rid      BIGINT NOT NULL REFERENCES resource (rid),
    res_type TEXT   NOT NULL,
    param    TEXT   NOT NULL,
    system   TEXT,
    code     TEXT   NOT NULL
);
