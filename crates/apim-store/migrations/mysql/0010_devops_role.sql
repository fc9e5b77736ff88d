-- WSO2's role for CI/CD pipelines (apictl): import/export scopes, see apim_domain::scopes.
INSERT INTO um_role (name) VALUES ('Internal/devops');
