-- Written to run again safely (IF NOT EXISTS): MariaDB commits DDL as it goes, so a migration a crash cut short is
-- run again whole (src/migrate.rs).
-- What the portals show of an API besides its definition: its documents (WSO2's Document DTO as JSON, with inline or
-- markdown text or an uploaded file) and its thumbnail. Both go with the API when it is deleted.
CREATE TABLE IF NOT EXISTS am_api_doc (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    api_id VARCHAR(36) NOT NULL,
    name VARCHAR(255) NOT NULL,
    document TEXT NOT NULL,
    inline_text MEDIUMTEXT,
    file_content MEDIUMBLOB,
    media_type VARCHAR(255),
    file_name VARCHAR(255),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (api_id, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS am_api_thumbnail (
    api_id VARCHAR(36) NOT NULL PRIMARY KEY,
    media_type VARCHAR(100) NOT NULL,
    content MEDIUMBLOB NOT NULL,
    updated_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
