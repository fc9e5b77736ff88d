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

/// Keeps the scopes the user's roles allow (see `apim_domain::scopes::role_allows`).
pub fn allowed_for(requested: Vec<String>, roles: &[String]) -> Vec<String> {
    requested.into_iter().filter(|s| apim_domain::scopes::role_allows(s, roles)).collect()
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
