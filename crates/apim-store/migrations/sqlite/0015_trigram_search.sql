-- Trigram search indexes: PostgreSQL's migration of this number adds them (pg_trgm); SQLite has its FTS5 trigram
-- index since migration 0014. This statement does nothing; it keeps the three dialects' migration lists alike.
SELECT 1;
