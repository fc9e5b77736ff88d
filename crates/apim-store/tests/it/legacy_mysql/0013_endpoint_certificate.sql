-- Written to run again safely (IF NOT EXISTS): MariaDB commits DDL as it goes, so a migration a crash cut short is
-- run again whole (src/migrate.rs).
-- Endpoint certificates uploaded to the Publisher (WSO2's `/endpoint-certificates`): gateways trust each for TLS to
-- backends on its endpoint's host and port, beside the truststore. The PEM is kept as uploaded (what it says is read
-- from it when it is shown).
CREATE TABLE IF NOT EXISTS am_endpoint_certificate (
    alias VARCHAR(255) NOT NULL PRIMARY KEY,
    endpoint VARCHAR(2048) NOT NULL,
    certificate MEDIUMTEXT NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
