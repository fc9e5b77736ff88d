-- Written to run again safely (IF NOT EXISTS): MariaDB commits DDL as it goes, so a migration a crash cut short is
-- run again whole (src/migrate.rs).
-- The API lists' order and the DevPortal's filter in indexes (issue #17, bench/rest.sh). Both portals list the
-- newest APIs first: an index in exactly that order (the last three columns break ties, as the queries do) lets a
-- page read its 25 rows instead of sorting every API with its document. The DevPortal's count of the APIs a caller
-- may see reads each API's id and lifecycle state from the second index instead of from every row; it leads with
-- the id so that SQLite does not prefer it to the first for a page (it would then sort every visible API).
CREATE INDEX IF NOT EXISTS am_api_order ON am_api (created_at DESC, name, version, id);
CREATE INDEX IF NOT EXISTS am_api_state ON am_api (id, status);
