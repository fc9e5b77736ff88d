-- Search without reading every API (issue #17, bench/rest.sh).

-- The DevPortal's visibility of each API (PUBLIC, PRIVATE, RESTRICTED) as a column, added to the index of ids and
-- lifecycle states (migration 0012): the DevPortal counts the APIs a caller may see from that index alone instead of
-- looking up a label per API. The index still leads with the id, so that SQLite does not prefer it for a page (it
-- would then sort every visible API). The column replaces the `visibility` label and is set with the labels, from
-- the API's document (src/search.rs).
ALTER TABLE am_api ADD COLUMN visibility VARCHAR(32) NOT NULL DEFAULT 'PUBLIC';
UPDATE am_api SET visibility = UPPER(COALESCE(document::jsonb ->> 'visibility', 'PUBLIC'));
DELETE FROM am_api_label WHERE kind = 'visibility';
DROP INDEX am_api_state;
CREATE INDEX am_api_state ON am_api (id, status, visibility);

-- Tags and categories are compared without regard to case: an index on the lower-cased value finds an API's tag
-- instead of lower-casing every label of every API.
CREATE INDEX am_api_label_folded ON am_api_label (kind, LOWER(value));
