-- WSO2's role for CI/CD pipelines (apictl): import/export scopes, see apim_domain::scopes. Safe to run again.
INSERT IGNORE INTO um_role (name) VALUES ('Internal/devops');
