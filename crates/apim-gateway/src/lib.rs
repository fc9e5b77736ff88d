//! Gateway role: the API traffic path. Requests run WSO2's chain (DESIGN §6): CORS → API status →
//! authentication → subscription and scope → blocking conditions → throttling → upstream → response, against
//! one immutable runtime snapshot swapped atomically when the control plane's state changes.
//!
//! **Architecture Invariant:** the gateway links neither axum nor sqlx: it learns state as `RuntimeState`
//! (in-process from the control plane, or from the event hub) and reaches key managers through
//! `apim_domain::scopes::TokenAuthority`. The request path takes no lock held across an await and does no I/O
//! but the upstream call, the key manager's introspection on an opaque-token cache miss, a JWKS refresh on an
//! unknown `kid` (at most once a second), and the interceptor calls of operation policies.

#![forbid(unsafe_code)]

pub mod analytics;
mod auth;
mod body;
mod convert;
pub mod export;
mod gateway;
#[cfg(test)]
mod harness;
pub mod http1;
pub mod inbound;
mod keymanager;
mod mediate;
mod mediation;
mod metrics;
mod mock;
mod pool;
mod proxy;
mod reject;
mod reply;
mod router;
mod schema;
mod shard;
mod snapshot;
pub mod target;
mod throttle;
mod trace;
mod upstream;
pub mod worker;
mod ws;

pub use body::{Body, BoxError, RequestBody};
pub use gateway::{Config, Gateway};
pub use proxy::Peer;
pub use reply::not_ready;

/// The layers, checked from the source: modules use each other without a cycle, and the bottom layers use
/// nothing else of the crate (so they can be tested and fuzzed alone).
#[cfg(test)]
mod layering {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// Module → the crate modules its non-test code names (`crate::x`); a file under `x/` belongs to `x`.
    fn uses() -> BTreeMap<String, BTreeSet<String>> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut stack = vec![src.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("src dir").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let rel = path.strip_prefix(&src).expect("under src");
                let module = rel.components().next().and_then(|c| c.as_os_str().to_str()).unwrap_or("").trim_end_matches(".rs").to_string();
                if module == "lib" {
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("source");
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                let used = out.entry(module.clone()).or_default();
                for (i, _) in code.match_indices("crate::") {
                    let rest = &code[i + "crate::".len()..];
                    let names: Vec<&str> = match rest.strip_prefix('{') {
                        Some(group) => {
                            group.split('}').next().unwrap_or("").split(',').map(|n| n.trim().split("::").next().unwrap_or("")).collect()
                        }
                        None => vec![rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("")],
                    };
                    for n in names.into_iter().filter(|n| !n.is_empty() && *n != module) {
                        used.insert(n.to_string());
                    }
                }
            }
        }
        out
    }

    #[test]
    fn modules_use_each_other_without_a_cycle() {
        let graph = uses();
        for (m, used) in &graph {
            for u in used {
                assert!(graph.contains_key(u), "`{m}` names `crate::{u}`, which is not a module: name the module that defines it");
            }
        }
        // Depth-first search; a module met again while on the path closes a cycle.
        fn visit<'g>(m: &'g str, g: &'g BTreeMap<String, BTreeSet<String>>, path: &mut Vec<&'g str>, done: &mut BTreeSet<&'g str>) {
            if let Some(at) = path.iter().position(|p| *p == m) {
                panic!("import cycle: {} → {m}", path[at..].join(" → "));
            }
            if !done.insert(m) {
                return;
            }
            path.push(m);
            for u in g.get(m).into_iter().flatten() {
                visit(u, g, path, done);
            }
            path.pop();
        }
        let mut done = BTreeSet::new();
        for m in graph.keys() {
            visit(m, &graph, &mut Vec::new(), &mut done);
        }
    }

    #[test]
    fn bottom_layers_use_nothing_else_of_the_crate() {
        let graph = uses();
        for leaf in ["body", "http1", "target", "router", "ws", "mediation", "schema", "convert", "shard"] {
            assert_eq!(graph.get(leaf).map(BTreeSet::len), Some(0), "`{leaf}` uses {:?}", graph.get(leaf));
        }
        // The counters are per thread, and nothing else.
        let metrics: Vec<&str> = graph.get("metrics").into_iter().flatten().map(String::as_str).collect();
        assert_eq!(metrics, ["shard"], "`metrics` uses {metrics:?}");
    }
}
