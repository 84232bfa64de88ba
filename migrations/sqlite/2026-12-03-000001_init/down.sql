DROP TABLE write_lock;
DROP TABLE search_token;
DROP TABLE resource_history;
DROP TABLE resource;
