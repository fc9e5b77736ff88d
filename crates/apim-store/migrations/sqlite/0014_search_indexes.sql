-- Search without reading every API (issue #17, bench/rest.sh).

-- The DevPortal's visibility of each API (PUBLIC, PRIVATE, RESTRICTED) as a column, added to the index of ids and
-- lifecycle states (migration 0012): the DevPortal counts the APIs a caller may see from that index alone instead of
-- looking up a label per API. The index still leads with the id, so that SQLite does not prefer it for a page (it
-- would then sort every visible API). The column replaces the `visibility` label and is set with the labels, from
-- the API's document (src/search.rs).
ALTER TABLE am_api ADD COLUMN visibility VARCHAR(32) NOT NULL DEFAULT 'PUBLIC';
UPDATE am_api SET visibility = UPPER(COALESCE(json_extract(document, '$.visibility'), 'PUBLIC'));
DELETE FROM am_api_label WHERE kind = 'visibility';
DROP INDEX am_api_state;
CREATE INDEX am_api_state ON am_api (id, status, visibility);

-- Tags and categories are compared without regard to case: an index on the lower-cased value finds an API's tag
-- instead of lower-casing every label of every API.
CREATE INDEX am_api_label_folded ON am_api_label (kind, LOWER(value));

-- Name and content terms (`name:`, `content:`) look for a part of a text. A trigram index (FTS5's `trigram`
-- tokenizer, case-insensitive) finds the APIs whose text holds every three-character run of the term, so a
-- search reads the matching APIs only; terms of one or two characters still scan (src/search.rs). The index keeps
-- no copy of the text (contentless) and is kept by the triggers below on every write of an API or a document,
-- whatever writes it. `am_api_text` gives each API the integer row id the index needs: an INTEGER PRIMARY KEY,
-- which VACUUM keeps.
-- Columns: the API's name; its document as content search reads it (without the backend credentials that answers
-- never show, so a search cannot tell whether a guess is one of them); its documents' DTOs and inline texts
-- (what only the Publisher's content search reads).
CREATE TABLE am_api_text (
    n INTEGER PRIMARY KEY,
    api_id VARCHAR(36) NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE am_api_text_index USING fts5(name, body, docs, content = '', contentless_delete = 1, tokenize = 'trigram');

-- The source of an API's row in the index: its name, its document as content search reads it, and its documents.
CREATE VIEW am_api_text_source AS
    SELECT t.n AS n, a.id AS api_id, a.name AS name,
           JSON_REMOVE(a.document, '$.endpointConfig.endpoint_security', '$.endpointConfig.amznSecretKey') AS body,
           COALESCE((SELECT group_concat(d.document || char(10) || COALESCE(d.inline_text, ''), char(10))
                     FROM am_api_doc d WHERE d.api_id = a.id), '') AS docs
    FROM am_api a JOIN am_api_text t ON t.api_id = a.id;

-- Each trigger removes the affected APIs' rows from the index and adds them again from the source (an API that is
-- gone has no source row).
CREATE TRIGGER am_api_text_api_insert AFTER INSERT ON am_api BEGIN
    INSERT OR IGNORE INTO am_api_text (api_id) VALUES (new.id);
    DELETE FROM am_api_text_index WHERE rowid = (SELECT n FROM am_api_text WHERE api_id = new.id);
    INSERT INTO am_api_text_index (rowid, name, body, docs) SELECT n, name, body, docs FROM am_api_text_source WHERE api_id = new.id;
END;

CREATE TRIGGER am_api_text_api_update AFTER UPDATE OF name, document ON am_api BEGIN
    DELETE FROM am_api_text_index WHERE rowid = (SELECT n FROM am_api_text WHERE api_id = new.id);
    INSERT INTO am_api_text_index (rowid, name, body, docs) SELECT n, name, body, docs FROM am_api_text_source WHERE api_id = new.id;
END;

CREATE TRIGGER am_api_text_api_delete AFTER DELETE ON am_api BEGIN
    DELETE FROM am_api_text_index WHERE rowid = (SELECT n FROM am_api_text WHERE api_id = old.id);
    DELETE FROM am_api_text WHERE api_id = old.id;
END;

CREATE TRIGGER am_api_text_doc_insert AFTER INSERT ON am_api_doc BEGIN
    DELETE FROM am_api_text_index WHERE rowid = (SELECT n FROM am_api_text WHERE api_id = new.api_id);
    INSERT INTO am_api_text_index (rowid, name, body, docs) SELECT n, name, body, docs FROM am_api_text_source WHERE api_id = new.api_id;
END;

CREATE TRIGGER am_api_text_doc_update AFTER UPDATE OF api_id, document, inline_text ON am_api_doc BEGIN
    DELETE FROM am_api_text_index WHERE rowid IN (SELECT n FROM am_api_text WHERE api_id IN (old.api_id, new.api_id));
    INSERT INTO am_api_text_index (rowid, name, body, docs)
        SELECT n, name, body, docs FROM am_api_text_source WHERE api_id IN (old.api_id, new.api_id);
END;

CREATE TRIGGER am_api_text_doc_delete AFTER DELETE ON am_api_doc BEGIN
    DELETE FROM am_api_text_index WHERE rowid = (SELECT n FROM am_api_text WHERE api_id = old.api_id);
    INSERT INTO am_api_text_index (rowid, name, body, docs) SELECT n, name, body, docs FROM am_api_text_source WHERE api_id = old.api_id;
END;

-- The APIs stored before this migration.
INSERT INTO am_api_text (api_id) SELECT id FROM am_api;
INSERT INTO am_api_text_index (rowid, name, body, docs) SELECT n, name, body, docs FROM am_api_text_source;
