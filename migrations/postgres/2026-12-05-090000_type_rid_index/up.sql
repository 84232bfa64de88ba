-- Search plans that walk one type's rows in rid order (store::search_sql::Plan::Ordered) read this
-- index instead of the whole table.
CREATE INDEX IF NOT EXISTS resource_type_rid ON resource (res_type, rid);
