-- Documents in the trigram index one row each (issue #18, bench/import_export.sh). Migration 0014 put all of an
-- API's documents in the API's one row, so writing any document indexed all of them again: an import that replaces
-- ten documents of 16 KiB indexed up to 160 KiB twenty times (about 100 of the 116 ms it took). Now the API's row
-- holds its name and document only, each document has its own row, and the Publisher's content search looks in
-- both (src/search.rs). `am_doc_text` gives each document the integer row id the index needs (an INTEGER PRIMARY
-- KEY, which VACUUM keeps).
DROP TRIGGER am_api_text_doc_insert;
DROP TRIGGER am_api_text_doc_update;
DROP TRIGGER am_api_text_doc_delete;
DROP VIEW am_api_text_source;
CREATE VIEW am_api_text_source AS
    SELECT t.n AS n, a.id AS api_id, a.name AS name,
           JSON_REMOVE(a.document, '$.endpointConfig.endpoint_security', '$.endpointConfig.amznSecretKey') AS body,
           '' AS docs
    FROM am_api a JOIN am_api_text t ON t.api_id = a.id;
INSERT INTO am_api_text_index (am_api_text_index) VALUES ('delete-all');
INSERT INTO am_api_text_index (rowid, name, body, docs) SELECT n, name, body, docs FROM am_api_text_source;

CREATE TABLE am_doc_text (
    n INTEGER PRIMARY KEY,
    doc_id VARCHAR(36) NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE am_doc_text_index USING fts5(text, content = '', contentless_delete = 1, tokenize = 'trigram');

-- A document's text as content search reads it: its DTO and its inline text.
CREATE TRIGGER am_doc_text_insert AFTER INSERT ON am_api_doc BEGIN
    INSERT OR IGNORE INTO am_doc_text (doc_id) VALUES (new.id);
    INSERT INTO am_doc_text_index (rowid, text)
        SELECT n, new.document || char(10) || COALESCE(new.inline_text, '') FROM am_doc_text WHERE doc_id = new.id;
END;

CREATE TRIGGER am_doc_text_update AFTER UPDATE OF document, inline_text ON am_api_doc BEGIN
    DELETE FROM am_doc_text_index WHERE rowid = (SELECT n FROM am_doc_text WHERE doc_id = new.id);
    INSERT INTO am_doc_text_index (rowid, text)
        SELECT n, new.document || char(10) || COALESCE(new.inline_text, '') FROM am_doc_text WHERE doc_id = new.id;
END;

CREATE TRIGGER am_doc_text_delete AFTER DELETE ON am_api_doc BEGIN
    DELETE FROM am_doc_text_index WHERE rowid = (SELECT n FROM am_doc_text WHERE doc_id = old.id);
    DELETE FROM am_doc_text WHERE doc_id = old.id;
END;

-- The documents stored before this migration.
INSERT INTO am_doc_text (doc_id) SELECT id FROM am_api_doc;
INSERT INTO am_doc_text_index (rowid, text)
    SELECT t.n, d.document || char(10) || COALESCE(d.inline_text, '') FROM am_api_doc d JOIN am_doc_text t ON t.doc_id = d.id;

-- The Publisher lists APIs and API products apart (by `api_type`, src/search.rs): the index a count of what a caller
-- may see reads (migration 0014) carries the type too, so counting the APIs without the products reads no row.
DROP INDEX am_api_state;
CREATE INDEX am_api_state ON am_api (id, status, visibility, api_type);
