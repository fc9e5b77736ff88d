-- The API lists' order and the DevPortal's filter in indexes (issue #17, bench/rest.sh): both portals list the
-- newest APIs first, which without an index on created_at sorted every API (its document with it) for each page;
-- and the DevPortal's count of the APIs a caller may see reads each API's lifecycle state and id from an index
-- instead of from every row.
CREATE INDEX am_api_created ON am_api (created_at);
CREATE INDEX am_api_status ON am_api (status, id);
