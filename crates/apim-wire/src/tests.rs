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
fn packed_definitions_keep_their_text_and_travel_the_same() {
    let doc = |i: usize| {
        format!(
            r#"{{"name":"Svc{i}","context":"/svc{i}","version":"1.0.0","endpointConfig":{{"endpoint_type":"http","production_endpoints":{{"url":"http://127.0.0.1:8080/bytes/1024"}}}},"operations":[{{"target":"/*","verb":"GET","authType":"Application & Application User","throttlingPolicy":"Unlimited","scopes":[]}},{{"target":"/items/{{id}}","verb":"GET","authType":"Application & Application User","throttlingPolicy":"Unlimited","scopes":["é\u0001"]}}]}}"#
        )
    };
    let mut s = RuntimeState { seq: 3, apis: (0..50).map(|i| api(&format!("a{i}"), &doc(i))).collect(), ..RuntimeState::default() };
    let plain = s.clone();
    let mut dictionary = None;
    s.pack_definitions(&mut dictionary);
    assert!(dictionary.is_some(), "the first definition became the dictionary");
    for (packed, text) in s.apis.iter().zip(&plain.apis) {
        assert!(matches!(&*packed.definition.0, Stored::Packed { .. }), "{}", packed.id);
        assert_eq!(packed.definition.text(), text.definition.text());
        assert_eq!(packed.definition.parse().expect("json")["name"], text.definition.parse().expect("json")["name"]);
    }
    let packed_bytes: usize = s
        .apis
        .iter()
        .map(|a| match &*a.definition.0 {
            Stored::Packed { deflated, .. } => deflated.len(),
            Stored::Text(raw) => raw.get().len(),
        })
        .sum();
    let text_bytes: usize = plain.apis.iter().map(|a| a.definition.text().len()).sum();
    assert!(packed_bytes * 4 < text_bytes, "{packed_bytes} packed bytes for {text_bytes} of text");
    // The same JSON on the wire (and in the saved state) as before packing, and packing twice changes nothing.
    assert_eq!(serde_json::to_string(&s).expect("serialize"), serde_json::to_string(&plain).expect("serialize"));
    assert_eq!(s, plain);
    let again = s.apis[1].definition.packed(dictionary.as_ref().expect("dictionary"));
    assert_eq!(again.text(), plain.apis[1].definition.text());
    // A document the dictionary does not help still round-trips (or stays as text).
    let odd = Definition::from_json(r#"{"x":[1,2,3,"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"]}"#);
    assert_eq!(odd.packed(dictionary.as_ref().expect("dictionary")).text(), odd.text());
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
