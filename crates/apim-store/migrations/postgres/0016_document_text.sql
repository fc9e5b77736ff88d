-- Documents in SQLite's trigram index one row each: SQLite's migration of this number (PostgreSQL indexes each
-- document's text already, migration 0015). The Publisher lists APIs and API products apart (by `api_type`,
-- src/search.rs): the index a count of what a caller may see reads (migration 0014) carries the type too.
DROP INDEX am_api_state;
CREATE INDEX am_api_state ON am_api (id, status, visibility, api_type);
