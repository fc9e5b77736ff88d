-- User store (WSO2 database_unique_id): users keep an immutable unique id.
CREATE TABLE um_user (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    username VARCHAR(255) NOT NULL UNIQUE,
    password_hash VARCHAR(255) NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE um_role (
    name VARCHAR(255) NOT NULL PRIMARY KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE um_user_role (
    user_id VARCHAR(36) NOT NULL,
    role_name VARCHAR(255) NOT NULL,
    PRIMARY KEY (user_id, role_name),
    FOREIGN KEY (user_id) REFERENCES um_user (id) ON DELETE CASCADE,
    FOREIGN KEY (role_name) REFERENCES um_role (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT INTO um_role (name) VALUES ('admin');
INSERT INTO um_role (name) VALUES ('Internal/creator');
INSERT INTO um_role (name) VALUES ('Internal/publisher');
INSERT INTO um_role (name) VALUES ('Internal/subscriber');
