-- The grant kind of a token, as WSO2's `aut` claim names it (APPLICATION for client_credentials, APPLICATION_USER
-- otherwise), so introspection of an opaque token can tell gateways what a JWT's `aut` tells them. '' for tokens
-- issued before this column.
ALTER TABLE oauth_token ADD COLUMN aut VARCHAR(20) NOT NULL DEFAULT '';
