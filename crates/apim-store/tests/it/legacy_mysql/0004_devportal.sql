-- Developer portal: applications, their OAuth keys (one client per key type), and subscriptions.
CREATE TABLE am_application (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    owner VARCHAR(255) NOT NULL,
    throttling_policy VARCHAR(255) NOT NULL,
    token_type VARCHAR(16) NOT NULL,
    -- the application as WSO2's devportal DTO (JSON)
    document TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (owner, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE am_key_mapping (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    application_id VARCHAR(36) NOT NULL,
    key_type VARCHAR(16) NOT NULL,
    key_manager VARCHAR(255) NOT NULL,
    consumer_key VARCHAR(255) NOT NULL,
    document TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (application_id, key_type, key_manager)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE am_subscription (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    api_id VARCHAR(36) NOT NULL,
    application_id VARCHAR(36) NOT NULL,
    policy VARCHAR(255) NOT NULL,
    status VARCHAR(32) NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (api_id, application_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX am_subscription_app ON am_subscription (application_id);
