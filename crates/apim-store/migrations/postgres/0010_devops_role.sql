-- WSO2's role for CI/CD pipelines (apictl): import/export scopes, see apim_domain::scopes. Safe to run again.
INSERT INTO um_role (name) VALUES ('Internal/devops') ON CONFLICT DO NOTHING;
