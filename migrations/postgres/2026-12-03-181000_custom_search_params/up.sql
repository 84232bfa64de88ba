-- SearchParameter resources created through the API. New writes are indexed for them at once;
-- existing resources only after `hms reindex`, which records its progress here.
CREATE TABLE custom_search_param (
    url        TEXT   PRIMARY KEY,
    res_id     TEXT   NOT NULL,
    code       TEXT   NOT NULL,
    bases      TEXT   NOT NULL, -- comma-separated resource types
    kind       TEXT   NOT NULL,
    expression TEXT   NOT NULL,
    status     TEXT   NOT NULL, -- pending | reindexing | active | retired
    done_rid   BIGINT NOT NULL DEFAULT 0, -- reindex cursor: every resource with rid <= done_rid is indexed
    done       BIGINT NOT NULL DEFAULT 0,
    total      BIGINT NOT NULL DEFAULT 0
);
