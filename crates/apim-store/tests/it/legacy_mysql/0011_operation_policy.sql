-- Written to run again safely (IF NOT EXISTS): MariaDB commits DDL as it goes, so a migration a crash cut short is
-- run again whole (src/migrate.rs).
-- Operation policies uploaded to the Publisher (WSO2's common and API-specific ones; the built-in common policies
-- are the gateway's own table, not rows). `api_id` is '' for a common policy, so that (api_id, name, version) is
-- unique for both kinds. The specification is WSO2's OperationPolicyData as JSON; the Synapse and Choreo Connect
-- definitions are kept as uploaded, for export only: the gateway runs the policy of that name itself.
CREATE TABLE IF NOT EXISTS am_operation_policy (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    api_id VARCHAR(36) NOT NULL DEFAULT '',
    name VARCHAR(255) NOT NULL,
    version VARCHAR(64) NOT NULL,
    specification MEDIUMTEXT NOT NULL,
    synapse_definition MEDIUMTEXT,
    cc_definition MEDIUMTEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (api_id, name, version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
