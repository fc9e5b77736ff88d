-- Documents in SQLite's trigram index one row each: SQLite's migration of this number (MariaDB has no such index,
-- migration 0015). The Publisher lists APIs and API products apart (by `api_type`, src/search.rs): the index a
-- count of what a caller may see reads (migration 0014) carries the type too. Re-runnable, as MariaDB's DDL is not
-- transactional.
DROP INDEX IF EXISTS am_api_state ON am_api;
CREATE INDEX am_api_state ON am_api (id, status, visibility, api_type);
