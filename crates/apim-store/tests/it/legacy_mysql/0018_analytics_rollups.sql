-- Written to run again safely (IF NOT EXISTS): MariaDB commits DDL as it goes, so a migration a crash cut short
-- is run again whole (src/migrate.rs).
-- Rollups of analytics_minute made by the control plane: per hour and per day, one row per gateway node, bucket,
-- API, resource, application, key type and status class (a node's process runs merged), `minute` the bucket's
-- start. A month's query reads these instead of every minute's rows. `blocked`: requests refused by a block
-- condition, counted apart from throttled ones.
ALTER TABLE analytics_minute ADD COLUMN IF NOT EXISTS blocked BIGINT NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS analytics_hour (
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
    blocked BIGINT NOT NULL DEFAULT 0,
    gateway_errors BIGINT NOT NULL,
    latency TEXT NOT NULL,
    backend_latency TEXT NOT NULL,
    INDEX analytics_hour_api (api_id, minute),
    INDEX analytics_hour_app (app_id, minute),
    INDEX analytics_hour_time (minute)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE IF NOT EXISTS analytics_day (
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
    blocked BIGINT NOT NULL DEFAULT 0,
    gateway_errors BIGINT NOT NULL,
    latency TEXT NOT NULL,
    backend_latency TEXT NOT NULL,
    INDEX analytics_day_api (api_id, minute),
    INDEX analytics_day_app (app_id, minute),
    INDEX analytics_day_time (minute)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
