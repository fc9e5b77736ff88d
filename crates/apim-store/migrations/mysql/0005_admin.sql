-- Written to run again safely (IF NOT EXISTS, ON DUPLICATE KEY UPDATE): MariaDB commits DDL as it goes, so a
-- migration a crash cut short is run again whole (src/migrate.rs).
-- Admin objects kept as WSO2 DTO documents: block conditions (deny policies), gateway environments created
-- through the Admin API, and external key managers.
CREATE TABLE IF NOT EXISTS am_admin_object (
    kind VARCHAR(32) NOT NULL,
    id VARCHAR(36) NOT NULL,
    name VARCHAR(255) NOT NULL,
    document TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id),
    UNIQUE (kind, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
