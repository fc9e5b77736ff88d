-- Name and content search without reading every API (issue #17): trigram indexes (the `pg_trgm` extension) on the
-- texts `name:` and `content:` terms match with LIKE '%…%' (src/search.rs), the same expressions the queries use.
-- An API's text as content search reads it (its document without backend credentials, lower case) is a stored
-- column: a trigram index only narrows the candidates, and checking each against the document itself meant
-- parsing its JSON again (about 0.25 ms an API).
-- The extension ships with PostgreSQL's contrib package and is "trusted" (a database owner may create it), but a
-- server may lack it or a role may not be allowed to: then this migration creates nothing and those searches scan,
-- as before; a later run of it would not retry (create the extension and the indexes by hand then).
ALTER TABLE am_api ADD COLUMN search_text TEXT GENERATED ALWAYS AS (
    LOWER((document::jsonb #- '{endpointConfig,endpoint_security}' #- '{endpointConfig,amznSecretKey}')::text)) STORED;

DO $migration$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'pg_trgm not created (%): name and content search scan', SQLERRM;
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX am_api_name_trgm ON am_api USING gin (LOWER(name) gin_trgm_ops);
        CREATE INDEX am_api_content_trgm ON am_api USING gin (search_text gin_trgm_ops);
        CREATE INDEX am_api_doc_document_trgm ON am_api_doc USING gin (LOWER(document) gin_trgm_ops);
        CREATE INDEX am_api_doc_text_trgm ON am_api_doc USING gin (LOWER(inline_text) gin_trgm_ops);
    END IF;
END
$migration$;
