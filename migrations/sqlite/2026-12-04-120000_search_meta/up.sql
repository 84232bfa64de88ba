-- What the search index was built with: `index_zone` (where dates without an offset were read)
-- and `index_format` (version of the extraction rules). A database that already holds resources
-- was indexed in UTC with format 1; an empty one gets the configured values at first start.
CREATE TABLE search_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO search_meta (name, value)
    SELECT 'index_zone', 'UTC' WHERE EXISTS (SELECT 1 FROM resource);
INSERT INTO search_meta (name, value)
    SELECT 'index_format', '1' WHERE EXISTS (SELECT 1 FROM resource);
