-- Written to run again safely (IF NOT EXISTS, INSERT IGNORE): MariaDB commits DDL as it goes, so a migration a
-- crash cut short is run again whole (src/migrate.rs).
-- Lookup rows derived from each API's document and written with it in the same transaction (src/search.rs): its
-- tags, categories and visible roles as the document spells them, and its DevPortal visibility, so searches, tag
-- lists and DevPortal pages are filtered and paged in SQL.
CREATE TABLE IF NOT EXISTS am_api_label (
    api_id VARCHAR(36) NOT NULL,
    kind VARCHAR(16) NOT NULL,
    value VARCHAR(255) NOT NULL,
    PRIMARY KEY (api_id, kind, value)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX IF NOT EXISTS am_api_label_value ON am_api_label (kind, value);

-- The labels of the APIs stored before this table.
INSERT IGNORE INTO am_api_label (api_id, kind, value) SELECT a.id, 'tag', TRIM(j.v) FROM am_api a, JSON_TABLE(a.document, '$.tags[*]' COLUMNS (v VARCHAR(1024) PATH '$')) AS j WHERE j.v IS NOT NULL AND TRIM(j.v) <> '' AND CHAR_LENGTH(j.v) <= 255;
INSERT IGNORE INTO am_api_label (api_id, kind, value) SELECT a.id, 'category', TRIM(j.v) FROM am_api a, JSON_TABLE(a.document, '$.categories[*]' COLUMNS (v VARCHAR(1024) PATH '$')) AS j WHERE j.v IS NOT NULL AND TRIM(j.v) <> '' AND CHAR_LENGTH(j.v) <= 255;
INSERT IGNORE INTO am_api_label (api_id, kind, value) SELECT a.id, 'role', TRIM(j.v) FROM am_api a, JSON_TABLE(a.document, '$.visibleRoles[*]' COLUMNS (v VARCHAR(1024) PATH '$')) AS j WHERE j.v IS NOT NULL AND TRIM(j.v) <> '' AND CHAR_LENGTH(j.v) <= 255;
INSERT IGNORE INTO am_api_label (api_id, kind, value) SELECT id, 'visibility', UPPER(COALESCE(JSON_VALUE(document, '$.visibility'), 'PUBLIC')) FROM am_api;
