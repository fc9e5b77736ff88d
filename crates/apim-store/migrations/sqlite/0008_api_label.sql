-- Lookup rows derived from each API's document and written with it in the same transaction (src/search.rs): its
-- tags, categories and visible roles as the document spells them, and its DevPortal visibility, so searches, tag
-- lists and DevPortal pages are filtered and paged in SQL.
CREATE TABLE am_api_label (
    api_id VARCHAR(36) NOT NULL,
    kind VARCHAR(16) NOT NULL,
    value VARCHAR(255) NOT NULL,
    PRIMARY KEY (api_id, kind, value)
);
CREATE INDEX am_api_label_value ON am_api_label (kind, value);

-- The labels of the APIs stored before this table.
INSERT OR IGNORE INTO am_api_label (api_id, kind, value) SELECT a.id, 'tag', TRIM(j.value) FROM am_api a, json_each(a.document, '$.tags') j WHERE j.type = 'text' AND TRIM(j.value) <> '' AND LENGTH(j.value) <= 255;
INSERT OR IGNORE INTO am_api_label (api_id, kind, value) SELECT a.id, 'category', TRIM(j.value) FROM am_api a, json_each(a.document, '$.categories') j WHERE j.type = 'text' AND TRIM(j.value) <> '' AND LENGTH(j.value) <= 255;
INSERT OR IGNORE INTO am_api_label (api_id, kind, value) SELECT a.id, 'role', TRIM(j.value) FROM am_api a, json_each(a.document, '$.visibleRoles') j WHERE j.type = 'text' AND TRIM(j.value) <> '' AND LENGTH(j.value) <= 255;
INSERT OR IGNORE INTO am_api_label (api_id, kind, value) SELECT id, 'visibility', UPPER(COALESCE(json_extract(document, '$.visibility'), 'PUBLIC')) FROM am_api;
