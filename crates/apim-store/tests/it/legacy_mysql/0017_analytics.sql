-- Written to run again safely (IF NOT EXISTS): MariaDB commits DDL as it goes, so a migration a crash cut short
-- is run again whole (src/migrate.rs).
-- Per-minute analytics from the gateways (one row per gateway node, process run, minute, API, resource,
-- application, key type and status class). `row_key` is the SHA-256 of those, so a batch a gateway sends again
-- is stored once. Latency sketches are JSON text that merge by adding bucket counts.
CREATE TABLE IF NOT EXISTS analytics_minute (
    row_key CHAR(64) NOT NULL PRIMARY KEY,
    minute BIGINT NOT NULL,
    node VARCHAR(255) NOT NULL,
    api_id VARCHAR(64) NOT NULL,
    api_name VARCHAR(255) NOT NULL,
    api_version VARCHAR(64) NOT NULL,
    resource VARCHAR(1024) NOT NULL,
    method VARCHAR(16) NOT NULL,
    app_id VARCHAR(64) NOT NULL,
    app_name VARCHAR(255) NOT NULL,
    app_owner VARCHAR(255) NOT NULL,
    key_type VARCHAR(16) NOT NULL,
    status_class SMALLINT NOT NULL,
    requests BIGINT NOT NULL,
    throttled BIGINT NOT NULL,
    gateway_errors BIGINT NOT NULL,
    latency TEXT NOT NULL,
    backend_latency TEXT NOT NULL,
    INDEX analytics_minute_api (api_id, minute),
    INDEX analytics_minute_app (app_id, minute),
    INDEX analytics_minute_time (minute)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
