DROP TABLE audit_ref;
DROP INDEX audit_log_recorded;
ALTER TABLE audit_log DROP COLUMN action;
ALTER TABLE audit_log DROP COLUMN recorded;
