//! WSO2's URI templates, matched against the part of a path after an API's prefix (the prefix map itself is
//! `snapshot::Router`). Imports nothing else from the crate.

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
        let mut segments: Vec<Segment> = t
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
        // Collected from a filter, the vector reserved room for four; thousands of templates are kept.
        segments.shrink_to_fit();
        let literals = segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count();
        let rest = segments.last() == Some(&Segment::Rest);
        let fixed = segments.len() - usize::from(rest);
        Template { segments, specificity: (literals, fixed, !rest) }
    }

    /// Ranks matches: more literal segments first, then more segments, then without a wildcard.
    pub fn specificity(&self) -> (usize, usize, bool) {
        self.specificity
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
