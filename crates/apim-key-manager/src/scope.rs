//! Scope syntax (RFC 6749 §3.3) and which user roles may hold WSO2's REST API scopes.

use crate::error::OAuthError;

/// Parses a space-separated scope list; an invalid scope-token is `invalid_scope`.
pub fn parse(scope: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for s in scope.unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        if !s.chars().all(|c| c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c)) {
            return Err(OAuthError::invalid_scope(format!("`{s}` is not a valid scope")));
        }
        if !out.iter().any(|x| x == s) {
            out.push(s.to_string());
        }
    }
    Ok(out)
}

/// Keeps the scopes the user's roles allow. `apim:*` scopes are WSO2's REST API scopes: admin holds all,
/// creators manage APIs, publishers publish, subscribers use the DevPortal. Other scopes are API scopes,
/// enforced by the gateway, and pass.
pub fn allowed_for(requested: Vec<String>, roles: &[String]) -> Vec<String> {
    let has = |r: &str| roles.iter().any(|x| x == r);
    requested
        .into_iter()
        .filter(|s| {
            let Some(name) = s.strip_prefix("apim:") else { return true };
            if has("admin") {
                return true;
            }
            match name {
                "api_view"
                | "api_create"
                | "api_delete"
                | "api_manage"
                | "api_import_export"
                | "api_product_import_export"
                | "document_create"
                | "document_manage"
                | "mediationPolicyView"
                | "mediation_policy_view"
                | "mediation_policy_create"
                | "mediation_policy_manage"
                | "client_certificates_view"
                | "client_certificates_add"
                | "client_certificates_update"
                | "ep_certificates_view"
                | "ep_certificates_add"
                | "ep_certificates_update"
                | "shared_scope_manage"
                | "api_definition_view"
                | "comment_view"
                | "comment_write"
                | "threat_protection_policy_create"
                | "threat_protection_policy_manage"
                | "common_operation_policy_view" => has("Internal/creator") || (name.ends_with("_view") && has("Internal/publisher")),
                "api_publish" | "subscription_view" | "subscription_block" | "subscription_manage" | "pub_alert_manage" | "tier_view" => {
                    has("Internal/publisher") || (name == "tier_view" && has("Internal/creator"))
                }
                "subscribe" | "app_manage" | "sub_manage" | "api_key" | "app_import_export" | "store_settings" | "sub_alert_manage"
                | "admin_tier_view" | "devportal_api_view" => has("Internal/subscriber"),
                _ => false,
            }
        })
        .collect()
}

/// The issued scope string: WSO2 issues `default` when nothing else remains.
pub fn issued(scopes: &[String]) -> String {
    if scopes.is_empty() { "default".to_string() } else { scopes.join(" ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_and_roles() {
        assert!(parse(Some("a b\"c")).is_err());
        assert_eq!(parse(Some("a  b a")).expect("ok"), vec!["a", "b"]);
        let creator = vec!["Internal/creator".to_string()];
        let got = allowed_for(vec!["apim:api_create".into(), "apim:admin".into(), "read".into(), "apim:subscribe".into()], &creator);
        assert_eq!(got, vec!["apim:api_create", "read"]);
        let admin = vec!["admin".to_string()];
        assert_eq!(allowed_for(vec!["apim:admin".into()], &admin), vec!["apim:admin"]);
        assert_eq!(issued(&[]), "default");
    }
}
