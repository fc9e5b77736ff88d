-- Trigram search indexes: PostgreSQL's migration of this number adds them (pg_trgm); MariaDB has no trigram index
-- (its FULLTEXT indexes find words, not parts of words), so its name and content searches scan. This statement does
-- nothing; it keeps the three dialects' migration lists alike.
DO 0;
