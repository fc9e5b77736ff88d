-- Written to run again safely (IF NOT EXISTS, ON DUPLICATE KEY UPDATE): MariaDB commits DDL as it goes, so a
-- migration a crash cut short is run again whole (src/migrate.rs).
-- The grant kind of a token, as WSO2's `aut` claim names it (APPLICATION for client_credentials, APPLICATION_USER
-- otherwise), so introspection of an opaque token can tell gateways what a JWT's `aut` tells them. '' for tokens
-- issued before this column.
ALTER TABLE oauth_token ADD COLUMN IF NOT EXISTS aut VARCHAR(20) NOT NULL DEFAULT '';
