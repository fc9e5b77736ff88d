-- Written to run again safely (IF NOT EXISTS, ON DUPLICATE KEY UPDATE): MariaDB commits DDL as it goes, so a
-- migration a crash cut short is run again whole (src/migrate.rs).
-- User store (WSO2 database_unique_id): users keep an immutable unique id.
CREATE TABLE IF NOT EXISTS um_user (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    username VARCHAR(255) NOT NULL UNIQUE,
    password_hash VARCHAR(255) NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS um_role (
    name VARCHAR(255) NOT NULL PRIMARY KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS um_user_role (
    user_id VARCHAR(36) NOT NULL,
    role_name VARCHAR(255) NOT NULL,
    PRIMARY KEY (user_id, role_name),
    FOREIGN KEY (user_id) REFERENCES um_user (id) ON DELETE CASCADE,
    FOREIGN KEY (role_name) REFERENCES um_role (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT INTO um_role (name) VALUES ('admin') ON DUPLICATE KEY UPDATE name = name;
INSERT INTO um_role (name) VALUES ('Internal/creator') ON DUPLICATE KEY UPDATE name = name;
INSERT INTO um_role (name) VALUES ('Internal/publisher') ON DUPLICATE KEY UPDATE name = name;
INSERT INTO um_role (name) VALUES ('Internal/subscriber') ON DUPLICATE KEY UPDATE name = name;
