-- Written to run again safely (IF NOT EXISTS, ON DUPLICATE KEY UPDATE): MariaDB commits DDL as it goes, so a
-- migration a crash cut short is run again whole (src/migrate.rs).
-- Control plane: APIs, lifecycle history, revisions, deployments, throttling policies, and the event log (outbox).
CREATE TABLE IF NOT EXISTS am_api (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    version VARCHAR(64) NOT NULL,
    context VARCHAR(255) NOT NULL,
    provider VARCHAR(255) NOT NULL,
    status VARCHAR(32) NOT NULL,
    api_type VARCHAR(16) NOT NULL,
    -- the API as WSO2's publisher DTO (JSON); the columns above are copies for lookups and uniqueness
    document TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (name, version),
    UNIQUE (context, version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS am_api_lc_event (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    api_id VARCHAR(36) NOT NULL,
    previous_state VARCHAR(32) NOT NULL,
    new_state VARCHAR(32) NOT NULL,
    username VARCHAR(255) NOT NULL,
    event_time BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX IF NOT EXISTS am_api_lc_event_api ON am_api_lc_event (api_id);

CREATE TABLE IF NOT EXISTS am_revision (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    api_id VARCHAR(36) NOT NULL,
    number INTEGER NOT NULL,
    description TEXT NOT NULL,
    document TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (api_id, number)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS am_deployment (
    api_id VARCHAR(36) NOT NULL,
    environment VARCHAR(255) NOT NULL,
    revision_id VARCHAR(36) NOT NULL,
    vhost VARCHAR(255) NOT NULL,
    display_on_devportal INTEGER NOT NULL,
    deployed_at BIGINT NOT NULL,
    PRIMARY KEY (api_id, environment)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS am_throttle_policy (
    level VARCHAR(16) NOT NULL,
    name VARCHAR(255) NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (level, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Every mutation writes its event here in the same transaction; the event hub streams it by seq.
CREATE TABLE IF NOT EXISTS am_event (
    seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event_type VARCHAR(64) NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT INTO am_throttle_policy (level, name, document) VALUES ('subscription', 'Gold', '{"policyId":"sub-Gold","policyName":"Gold","displayName":"Gold","description":"Allows 5000 requests per minute","isDeployed":true,"type":"SubscriptionThrottlePolicy","defaultLimit":{"type":"REQUESTCOUNTLIMIT","requestCount":{"timeUnit":"min","unitTime":1,"requestCount":5000}},"rateLimitCount":0,"stopOnQuotaReach":true,"billingPlan":"FREE"}') ON DUPLICATE KEY UPDATE name = name;
INSERT INTO am_throttle_policy (level, name, document) VALUES ('subscription', 'Silver', '{"policyId":"sub-Silver","policyName":"Silver","displayName":"Silver","description":"Allows 2000 requests per minute","isDeployed":true,"type":"SubscriptionThrottlePolicy","defaultLimit":{"type":"REQUESTCOUNTLIMIT","requestCount":{"timeUnit":"min","unitTime":1,"requestCount":2000}},"rateLimitCount":0,"stopOnQuotaReach":true,"billingPlan":"FREE"}') ON DUPLICATE KEY UPDATE name = name;
INSERT INTO am_throttle_policy (level, name, document) VALUES ('subscription', 'Bronze', '{"policyId":"sub-Bronze","policyName":"Bronze","displayName":"Bronze","description":"Allows 1000 requests per minute","isDeployed":true,"type":"SubscriptionThrottlePolicy","defaultLimit":{"type":"REQUESTCOUNTLIMIT","requestCount":{"timeUnit":"min","unitTime":1,"requestCount":1000}},"rateLimitCount":0,"stopOnQuotaReach":true,"billingPlan":"FREE"}') ON DUPLICATE KEY UPDATE name = name;
INSERT INTO am_throttle_policy (level, name, document) VALUES ('subscription', 'Unauthenticated', '{"policyId":"sub-Unauthenticated","policyName":"Unauthenticated","displayName":"Unauthenticated","description":"Allows 500 request per minute","isDeployed":true,"type":"SubscriptionThrottlePolicy","defaultLimit":{"type":"REQUESTCOUNTLIMIT","requestCount":{"timeUnit":"min","unitTime":1,"requestCount":500}},"rateLimitCount":0,"stopOnQuotaReach":true,"billingPlan":"FREE"}') ON DUPLICATE KEY UPDATE name = name;
INSERT INTO am_throttle_policy (level, name, document) VALUES ('subscription', 'Unlimited', '{"policyId":"sub-Unlimited","policyName":"Unlimited","displayName":"Unlimited","description":"Allows unlimited requests","isDeployed":true,"type":"SubscriptionThrottlePolicy","defaultLimit":{"type":"REQUESTCOUNTLIMIT","requestCount":{"timeUnit":"min","unitTime":1,"requestCount":2147483647}},"rateLimitCount":0,"stopOnQuotaReach":true,"billingPlan":"FREE"}') ON DUPLICATE KEY UPDATE name = name;
INSERT INTO am_throttle_policy (level, name, document) VALUES ('application', '10PerMin', '{"policyId":"app-10PerMin","policyName":"10PerMin","displayName":"10PerMin","description":"Allows 10 requests per minute","isDeployed":true,"type":"ApplicationThrottlePolicy","defaultLimit":{"type":"REQUESTCOUNTLIMIT","requestCount":{"timeUnit":"min","unitTime":1,"requestCount":10}}}') ON DUPLICATE KEY UPDATE name = name;
INSERT INTO am_throttle_policy (level, name, document) VALUES ('application', '20PerMin', '{"policyId":"app-20PerMin","policyName":"20PerMin","displayName":"20PerMin","description":"Allows 20 requests per minute","isDeployed":true,"type":"ApplicationThrottlePolicy","defaultLimit":{"type":"REQUESTCOUNTLIMIT","requestCount":{"timeUnit":"min","unitTime":1,"requestCount":20}}}') ON DUPLICATE KEY UPDATE name = name;
INSERT INTO am_throttle_policy (level, name, document) VALUES ('application', '50PerMin', '{"policyId":"app-50PerMin","policyName":"50PerMin","displayName":"50PerMin","description":"Allows 50 requests per minute","isDeployed":true,"type":"ApplicationThrottlePolicy","defaultLimit":{"type":"REQUESTCOUNTLIMIT","requestCount":{"timeUnit":"min","unitTime":1,"requestCount":50}}}') ON DUPLICATE KEY UPDATE name = name;
INSERT INTO am_throttle_policy (level, name, document) VALUES ('application', 'Unlimited', '{"policyId":"app-Unlimited","policyName":"Unlimited","displayName":"Unlimited","description":"Allows unlimited requests","isDeployed":true,"type":"ApplicationThrottlePolicy","defaultLimit":{"type":"REQUESTCOUNTLIMIT","requestCount":{"timeUnit":"min","unitTime":1,"requestCount":2147483647}}}') ON DUPLICATE KEY UPDATE name = name;
INSERT INTO am_throttle_policy (level, name, document) VALUES ('api', '10KPerMin', '{"policyId":"api-10KPerMin","policyName":"10KPerMin","displayName":"10KPerMin","description":"Allows 10000 requests per minute","isDeployed":true,"type":"AdvancedThrottlePolicy","defaultLimit":{"type":"REQUESTCOUNTLIMIT","requestCount":{"timeUnit":"min","unitTime":1,"requestCount":10000}},"conditionalGroups":[]}') ON DUPLICATE KEY UPDATE name = name;
INSERT INTO am_throttle_policy (level, name, document) VALUES ('api', '20KPerMin', '{"policyId":"api-20KPerMin","policyName":"20KPerMin","displayName":"20KPerMin","description":"Allows 20000 requests per minute","isDeployed":true,"type":"AdvancedThrottlePolicy","defaultLimit":{"type":"REQUESTCOUNTLIMIT","requestCount":{"timeUnit":"min","unitTime":1,"requestCount":20000}},"conditionalGroups":[]}') ON DUPLICATE KEY UPDATE name = name;
INSERT INTO am_throttle_policy (level, name, document) VALUES ('api', '50KPerMin', '{"policyId":"api-50KPerMin","policyName":"50KPerMin","displayName":"50KPerMin","description":"Allows 50000 requests per minute","isDeployed":true,"type":"AdvancedThrottlePolicy","defaultLimit":{"type":"REQUESTCOUNTLIMIT","requestCount":{"timeUnit":"min","unitTime":1,"requestCount":50000}},"conditionalGroups":[]}') ON DUPLICATE KEY UPDATE name = name;
INSERT INTO am_throttle_policy (level, name, document) VALUES ('api', 'Unlimited', '{"policyId":"api-Unlimited","policyName":"Unlimited","displayName":"Unlimited","description":"Allows unlimited requests","isDeployed":true,"type":"AdvancedThrottlePolicy","defaultLimit":{"type":"REQUESTCOUNTLIMIT","requestCount":{"timeUnit":"min","unitTime":1,"requestCount":2147483647}},"conditionalGroups":[]}') ON DUPLICATE KEY UPDATE name = name;
