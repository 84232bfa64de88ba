-- OAuth2 in builtin mode: apps (authorization code + PKCE, refresh tokens) and backend services
-- (private_key_jwt). Times are Unix seconds. Codes and refresh tokens are stored only as SHA-256
-- hashes. A client without a secret has secret_hash = '' (public app, or key-based).
ALTER TABLE auth_client ADD COLUMN redirect_uris TEXT;
ALTER TABLE auth_client ADD COLUMN jwks TEXT;
ALTER TABLE auth_client ADD COLUMN jwks_url TEXT;
-- Authorization codes: single use (used = TRUE once exchanged), short-lived.
CREATE TABLE auth_code (
    code_hash      TEXT    PRIMARY KEY,
    client_id      TEXT    NOT NULL,
    subject        TEXT    NOT NULL,
    redirect_uri   TEXT    NOT NULL,
    code_challenge TEXT    NOT NULL,
    scope          TEXT    NOT NULL,
    patient        TEXT,
    family         TEXT    NOT NULL,
    expires_at     BIGINT  NOT NULL,
    used           BOOLEAN NOT NULL DEFAULT FALSE
);
-- Refresh tokens, rotated on use; all tokens of one grant share a family.
CREATE TABLE auth_refresh (
    token_hash TEXT    PRIMARY KEY,
    family     TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    patient    TEXT,
    expires_at BIGINT  NOT NULL,
    used       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX auth_refresh_family ON auth_refresh (family);
-- Revoked grant families and access-token ids, kept until their tokens would have expired.
CREATE TABLE auth_revoked (
    id         TEXT   PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
-- Client-assertion ids already seen (private_key_jwt replay protection), until they expire.
CREATE TABLE auth_assertion_jti (
    client_id  TEXT   NOT NULL,
    jti        TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
