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
INSERT INTO am_api_label (api_id, kind, value) SELECT a.id, k.kind, TRIM(e.item #>> '{}') FROM am_api a CROSS JOIN (VALUES ('tag', 'tags'), ('category', 'categories'), ('role', 'visibleRoles')) AS k(kind, field) CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(a.document::jsonb -> k.field) = 'array' THEN a.document::jsonb -> k.field ELSE '[]'::jsonb END) AS e(item) WHERE jsonb_typeof(e.item) = 'string' AND TRIM(e.item #>> '{}') <> '' AND length(e.item #>> '{}') <= 255 ON CONFLICT DO NOTHING;
INSERT INTO am_api_label (api_id, kind, value) SELECT id, 'visibility', UPPER(COALESCE(document::jsonb ->> 'visibility', 'PUBLIC')) FROM am_api ON CONFLICT DO NOTHING;
