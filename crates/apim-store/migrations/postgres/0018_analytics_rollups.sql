-- Rollups of analytics_minute made by the control plane: per hour and per day, one row per gateway node, bucket,
-- API, resource, application, key type and status class (a node's process runs merged), `minute` the bucket's
-- start. A month's query reads these instead of every minute's rows. `blocked`: requests refused by a block
-- condition, counted apart from throttled ones.
ALTER TABLE analytics_minute ADD COLUMN IF NOT EXISTS blocked BIGINT NOT NULL DEFAULT 0;
CREATE TABLE analytics_hour (
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
    backend_latency TEXT NOT NULL
);
CREATE INDEX analytics_hour_api ON analytics_hour (api_id, minute);
CREATE INDEX analytics_hour_app ON analytics_hour (app_id, minute);
CREATE INDEX analytics_hour_time ON analytics_hour (minute);
CREATE TABLE analytics_day (
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
    backend_latency TEXT NOT NULL
);
CREATE INDEX analytics_day_api ON analytics_day (api_id, minute);
CREATE INDEX analytics_day_app ON analytics_day (app_id, minute);
CREATE INDEX analytics_day_time ON analytics_day (minute);
