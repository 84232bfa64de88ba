-- Read auditing and AuditEvent search. Columns derived from each record's event (which alone is
-- hashed into the chain) so that the log can be searched by date and action; `audit_ref` holds
-- the record's patients and agents (user, client) for `patient=` and `agent=`.
ALTER TABLE audit_log ADD COLUMN recorded BIGINT;
ALTER TABLE audit_log ADD COLUMN action TEXT;
CREATE INDEX audit_log_recorded ON audit_log (recorded);
CREATE TABLE audit_ref (
    kind  TEXT   NOT NULL,
    value TEXT   NOT NULL,
    seq   BIGINT NOT NULL,
    PRIMARY KEY (kind, value, seq)
);
