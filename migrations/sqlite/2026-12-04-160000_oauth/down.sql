DROP TABLE auth_assertion_jti;
DROP TABLE auth_revoked;
DROP TABLE auth_refresh;
DROP TABLE auth_code;
ALTER TABLE auth_client DROP COLUMN jwks_url;
ALTER TABLE auth_client DROP COLUMN jwks;
ALTER TABLE auth_client DROP COLUMN redirect_uris;
