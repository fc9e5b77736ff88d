-- What the portals show of an API besides its definition: its documents (WSO2's Document DTO as JSON, with inline or
-- markdown text or an uploaded file) and its thumbnail. Both go with the API when it is deleted.
CREATE TABLE am_api_doc (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    api_id VARCHAR(36) NOT NULL,
    name VARCHAR(255) NOT NULL,
    document TEXT NOT NULL,
    inline_text TEXT,
    file_content BLOB,
    media_type VARCHAR(255),
    file_name VARCHAR(255),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (api_id, name)
);

CREATE TABLE am_api_thumbnail (
    api_id VARCHAR(36) NOT NULL PRIMARY KEY,
    media_type VARCHAR(100) NOT NULL,
    content BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);
