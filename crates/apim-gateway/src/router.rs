//! Routing: `/{context}/{version}/…` (and `/{context}/…` for the default version) to an API, then the
//! remainder to one of its resources. The API lookup is one hash probe per `/` in the path, so its cost grows
//! with the path's length, not with the number of APIs.

use std::collections::HashMap;
use std::sync::Arc;

use crate::snapshot::{Api, Resource};

#[derive(Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
    /// `*`: the rest of the path, possibly empty.
    Rest,
}

/// A WSO2 URI template: `/menu`, `/order/{orderId}`, `/*`, `/{id}/items/*`.
#[derive(Debug)]
pub struct Template {
    segments: Vec<Segment>,
    /// Ranks matches: more literal segments first, then more segments, then without a wildcard.
    specificity: (usize, usize, bool),
}

impl Template {
    pub fn parse(t: &str) -> Template {
        let segments: Vec<Segment> = t
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s == "*" {
                    Segment::Rest
                } else if s.starts_with('{') && s.ends_with('}') {
                    Segment::Param
                } else {
                    Segment::Literal(s.to_string())
                }
            })
            .collect();
        let literals = segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count();
        let rest = segments.last() == Some(&Segment::Rest);
        let fixed = segments.len() - usize::from(rest);
        Template { segments, specificity: (literals, fixed, !rest) }
    }

    /// `path` is the part after the API's prefix, without the query, starting with `/` or empty.
    pub fn matches(&self, path: &str) -> bool {
        let mut parts = path.split('/').filter(|s| !s.is_empty());
        for seg in &self.segments {
            match seg {
                Segment::Rest => return true,
                Segment::Param => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Segment::Literal(l) => {
                    if parts.next() != Some(l.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }
}

/// The result of routing a request path.
pub enum Route<'a> {
    /// No API has this prefix.
    NoApi,
    /// The API exists but none of its resources matches the path and method.
    NoResource(&'a Arc<Api>),
    Found {
        api: &'a Arc<Api>,
        resource: &'a Resource,
        prefix_len: usize,
    },
}

#[derive(Default)]
pub struct Router {
    /// `/ctx/ver` and, for default versions, `/ctx` → API.
    by_prefix: HashMap<String, Arc<Api>, foldhash::fast::RandomState>,
    by_id: HashMap<String, Arc<Api>, foldhash::fast::RandomState>,
}

impl Router {
    pub fn build(apis: Vec<Arc<Api>>) -> Router {
        let mut r = Router::default();
        // Default versions first, so an explicit `/ctx/ver` of another API always wins over them.
        for api in &apis {
            if !api.default_version || api.context.contains("{version}") {
                continue;
            }
            let ctx = api.context.trim_end_matches('/');
            r.by_prefix.entry(ctx.to_string()).or_insert_with(|| api.clone());
        }
        for api in apis {
            let key = if api.context.contains("{version}") {
                api.context.replace("{version}", &api.version)
            } else {
                format!("{}/{}", api.context.trim_end_matches('/'), api.version)
            };
            r.by_prefix.insert(key, api.clone());
            r.by_id.insert(api.id.clone(), api);
        }
        r
    }

    pub fn api_by_id(&self, id: &str) -> Option<&Arc<Api>> {
        self.by_id.get(id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Longest API prefix of `path` (no query), then the most specific resource for `method`.
    pub fn route<'a>(&'a self, path: &str, method: &str) -> Route<'a> {
        let mut end = path.len();
        loop {
            let candidate = &path[..end];
            if let Some(api) = self.by_prefix.get(candidate) {
                let rest = &path[end..];
                let best =
                    api.resources.iter().filter(|r| r.verb == method && r.template.matches(rest)).max_by_key(|r| r.template.specificity);
                return match best {
                    Some(resource) => Route::Found { api, resource, prefix_len: end },
                    None => Route::NoResource(api),
                };
            }
            match candidate.rfind('/') {
                Some(0) | None => return Route::NoApi,
                Some(i) => end = i,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_and_rank() {
        let t = Template::parse("/order/{orderId}");
        assert!(t.matches("/order/42"));
        assert!(!t.matches("/order"));
        assert!(!t.matches("/order/42/x"));
        assert!(Template::parse("/*").matches(""));
        assert!(Template::parse("/*").matches("/a/b"));
        assert!(Template::parse("/{id}/items/*").matches("/7/items"));
        assert!(Template::parse("/{id}/items/*").matches("/7/items/3/x"));
        assert!(!Template::parse("/{id}/items/*").matches("/7/other"));
        assert!(Template::parse("/menu").specificity > Template::parse("/{x}").specificity);
        assert!(Template::parse("/{x}").specificity > Template::parse("/*").specificity);
        assert!(Template::parse("/a/{x}").specificity > Template::parse("/a/*").specificity);
    }
}
