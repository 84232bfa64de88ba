DROP TABLE audit_log;
DROP TABLE auth_client;
DROP TABLE auth_user;
