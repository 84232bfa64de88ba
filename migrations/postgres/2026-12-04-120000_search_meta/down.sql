DROP TABLE search_meta;
