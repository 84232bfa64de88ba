-- Builtin authentication: people (argon2id password + TOTP) and system clients (hashed secret).
-- Times are Unix seconds. Secrets are stored only as hashes, except the TOTP seed, which the
-- server needs in clear to compute codes.
CREATE TABLE auth_user (
    username        TEXT    PRIMARY KEY,
    password_hash   TEXT    NOT NULL,
    totp_secret     TEXT,
    -- Last accepted TOTP time step: a code is accepted once (RFC 6238 §5.2).
    totp_last_step  BIGINT,
    scope           TEXT    NOT NULL,
    patient         TEXT,
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until    BIGINT
);
CREATE TABLE auth_client (
    client_id   TEXT    PRIMARY KEY,
    secret_hash TEXT    NOT NULL,
    scope       TEXT    NOT NULL,
    disabled    BOOLEAN NOT NULL DEFAULT FALSE,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until    BIGINT
);
-- Hash-chained audit log: one AuditEvent per create/update/delete, written in the write's own
-- transaction. hash = SHA-256(prev_hash || canonical JSON of event), hex; the first prev_hash is ''.
CREATE TABLE audit_log (
    seq       BIGSERIAL PRIMARY KEY,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL,
    event     TEXT NOT NULL
);
