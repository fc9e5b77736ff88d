use super::*;

fn api(id: &str, text: &str) -> DeployedApi {
    DeployedApi {
        id: id.into(),
        status: "PUBLISHED".into(),
        environment: "Default".into(),
        vhost: "localhost".into(),
        revision_id: format!("{id}-r1"),
        definition: Definition::from_json(text),
    }
}

#[test]
fn definitions_travel_as_their_text() {
    let s = RuntimeState { seq: 7, apis: vec![api("a", r#"{"context":"/a","version":"1"}"#)], ..RuntimeState::default() };
    let wire = serde_json::to_string(&s).expect("serialize");
    assert!(wire.contains(r#""definition":{"context":"/a","version":"1"}"#), "{wire}");
    let back: RuntimeState = serde_json::from_str(&wire).expect("parse");
    assert_eq!(back, s);
    assert_eq!(back.apis[0].definition.parse().expect("json")["context"], "/a");
    assert_eq!(Definition::from_json("not json").text(), "null");
}

#[test]
fn a_patch_replaces_only_the_sections_it_holds() {
    let mut whole = RuntimeState {
        seq: 10,
        apis: vec![api("a", "{}"), api("b", "{}")],
        applications: vec![RuntimeApplication { id: "x".into(), name: "X".into(), owner: "o".into(), policy: "p".into() }],
        ..RuntimeState::default()
    };
    // API `a` was undeployed, `c` deployed; the rest untouched.
    let part = RuntimeState {
        seq: 12,
        apis: vec![api("c", "{}")],
        partial: Some(Partial { api_ids: vec!["a".into(), "c".into()], rest: false }),
        ..RuntimeState::default()
    };
    whole.patch(part);
    let ids: Vec<&str> = whole.apis.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, vec!["b", "c"]);
    assert_eq!(whole.applications.len(), 1, "not in the part: kept");
    let rest = RuntimeState { partial: Some(Partial { api_ids: vec![], rest: true }), ..RuntimeState::default() };
    whole.patch(rest);
    assert!(whole.applications.is_empty(), "the rest was replaced");
    assert_eq!(whole.apis.len(), 2, "APIs kept");
}
