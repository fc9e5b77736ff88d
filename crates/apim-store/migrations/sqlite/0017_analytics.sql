-- Per-minute analytics from the gateways (one row per gateway node, process run, minute, API, resource,
-- application, key type and status class). `row_key` is the SHA-256 of those, so a batch a gateway sends again
-- is stored once. Latency sketches are JSON text that merge by adding bucket counts.
CREATE TABLE analytics_minute (
    row_key CHAR(64) NOT NULL PRIMARY KEY,
    minute INTEGER NOT NULL,
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
    requests INTEGER NOT NULL,
    throttled INTEGER NOT NULL,
    gateway_errors INTEGER NOT NULL,
    latency TEXT NOT NULL,
    backend_latency TEXT NOT NULL
);
CREATE INDEX analytics_minute_api ON analytics_minute (api_id, minute);
CREATE INDEX analytics_minute_app ON analytics_minute (app_id, minute);
CREATE INDEX analytics_minute_time ON analytics_minute (minute);
