-- Search without reading every API (issue #17, bench/rest.sh).
-- Written to run again safely (IF NOT EXISTS): MariaDB commits DDL as it goes, so a migration a crash cut short is
-- run again whole (src/migrate.rs).
-- The DevPortal's visibility of each API (PUBLIC, PRIVATE, RESTRICTED) as a column, added to the index of ids and
-- lifecycle states (migration 0012): the DevPortal counts the APIs a caller may see from that index alone instead of
-- looking up a label per API. The index still leads with the id, so that SQLite does not prefer it for a page (it
-- would then sort every visible API). The column replaces the `visibility` label and is set with the labels, from
-- the API's document (src/search.rs).
ALTER TABLE am_api ADD COLUMN IF NOT EXISTS visibility VARCHAR(32) NOT NULL DEFAULT 'PUBLIC';
UPDATE am_api SET visibility = UPPER(COALESCE(JSON_VALUE(document, '$.visibility'), 'PUBLIC'));
DELETE FROM am_api_label WHERE kind = 'visibility';
DROP INDEX IF EXISTS am_api_state ON am_api;
CREATE INDEX am_api_state ON am_api (id, status, visibility);
-- Tags and categories need no index of their own here, unlike on SQLite and PostgreSQL: the labels' collation
-- already compares without regard to case, so the (kind, value) index of migration 0008 serves those terms.
