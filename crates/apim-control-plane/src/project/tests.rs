use std::io::Write;

use super::*;

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default()).expect("start");
        w.write_all(content).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

const API: &[u8] = b"type: api\nversion: v4.2.0\ndata:\n  name: A\n  context: /a\n  version: 1.0.0\n";

fn field(e: &ApiError) -> &str {
    e.fields.first().map(|(f, _)| f.as_str()).unwrap_or("")
}

#[test]
fn envelopes_must_be_of_their_kind_and_a_4x_version() {
    assert!(envelope("api.yaml", API, "api").expect("v4.2.0")["name"] == "A");
    assert!(envelope("api.json", br#"{"type": "api", "version": "v4", "data": {}}"#, "api").is_ok());
    for (text, words) in [
        (b"type: api\nversion: v3.2.0\ndata: {}\n".as_slice(), "`v3.2.0` is not supported"),
        (b"type: api\nversion: 4\ndata: {}\n", "`4` is not supported"),
        (b"type: api\ndata: {}\n", "version is required"),
        (b"type: document\nversion: v4.2.0\ndata: {}\n", "type `document` is not `api`"),
        (b"version: v4.2.0\ndata: {}\n", "type is required"),
        (b"- a list\n", "{type, version, data}"),
        (b"type: [unclosed\n", "invalid YAML"),
    ] {
        let e = envelope("api.yaml", text, "api").expect_err("refused");
        assert_eq!(field(&e), "api.yaml");
        assert!(e.description.contains(words), "{}: {}", String::from_utf8_lossy(text), e.description);
    }
}

#[test]
fn the_one_top_folder_is_taken_off_and_documents_find_their_content() {
    let doc = |name: &str, source: &str, extra: &str| {
        format!("type: document\nversion: v4.2.0\ndata:\n  name: {name}\n  type: HOWTO\n  sourceType: {source}\n{extra}").into_bytes()
    };
    let (file_doc, named_doc, lone_doc) =
        (doc("Spec", "FILE", "  fileName: spec.pdf\n"), doc("Guide Book", "INLINE", ""), doc("Notes", "MARKDOWN", ""));
    let zip = zip_of(&[
        ("A-1.0.0/api.yaml", API),
        ("A-1.0.0/Docs/Spec/document.yaml", &file_doc),
        ("A-1.0.0/Docs/Spec/other.txt", b"not this"),
        ("A-1.0.0/Docs/Spec/spec.pdf", b"%PDF"),
        ("A-1.0.0/Docs/Guide Book/document.yaml", &named_doc),
        ("A-1.0.0/Docs/Guide Book/Guide Book", b"<p>guide</p>"),
        ("A-1.0.0/Docs/Notes/document.yaml", &lone_doc),
        ("A-1.0.0/Docs/Notes/notes.md", b"# notes"),
        ("A-1.0.0/Image/icon.png", b"\x89PNG"),
        ("A-1.0.0/Policies/p_v1.yaml", b"x"),
    ]);
    let p = read(&zip, Kind::Api).expect("project");
    assert_eq!((p.api["name"].as_str(), p.api_file.as_str()), (Some("A"), "api.yaml"));
    let content = |name: &str| {
        let d = p.docs.iter().find(|d| d.data["name"] == name).expect(name);
        d.content.clone().map(|(n, b)| (n, String::from_utf8_lossy(&b).into_owned()))
    };
    assert_eq!(content("Spec"), Some(("spec.pdf".into(), "%PDF".into())));
    assert_eq!(content("Guide Book"), Some(("Guide Book".into(), "<p>guide</p>".into())));
    assert_eq!(content("Notes"), Some(("notes.md".into(), "# notes".into())));
    assert_eq!(p.thumbnail.as_ref().map(|(path, _)| path.as_str()), Some("Image/icon.png"));
    assert!(p.deployments.is_none() && p.params.is_none() && p.policies.contains_key("p_v1.yaml"));
}

#[test]
fn the_params_form_reads_the_source_archive_and_the_params_beside_or_under_deployment() {
    let source = zip_of(&[("SourceArchive/api.yaml", API)]);
    for params_path in ["A-1.0.0/intermediate_params.yaml", "A-1.0.0/Deployment/intermediate_params.yaml"] {
        let zip = zip_of(&[("A-1.0.0/SourceArchive.zip", &source), (params_path, b"policies: [Gold]\n")]);
        let p = read(&zip, Kind::Api).expect("project");
        assert_eq!(p.api["context"], "/a");
        assert_eq!(p.params.expect("params")["policies"][0], "Gold", "{params_path}");
    }
    // The project inside is read with the same bounds and checks.
    let bad = zip_of(&[("SourceArchive/../api.yaml", API)]);
    let e = read(&zip_of(&[("A/SourceArchive.zip", &bad)]), Kind::Api).expect_err("refused");
    assert_eq!(field(&e), "SourceArchive.zip");
}

#[test]
fn what_is_not_an_api_project_is_refused_naming_the_file() {
    for (entries, want) in [
        (vec![("P/api_product.yaml", API)], "file"),
        (vec![("P/README.md", b"hello".as_slice())], "file"),
        (vec![("P/api.yaml", API), ("P/Definitions/schema.graphql", b"type Query { a: Int }")], "Definitions/schema.graphql"),
        (vec![("P/api.yaml", b"type: api\nversion: v4.2.0\ndata: [1]\n".as_slice())], "api.yaml"),
        (
            vec![("P/api.yaml", API), ("P/deployment_environments.yaml", b"type: deployment_environments\nversion: v4.2.0\ndata: {}\n")],
            "deployment_environments.yaml",
        ),
    ] {
        let e = read(&zip_of(&entries), Kind::Api).expect_err("refused");
        assert_eq!(field(&e), want, "{}", e.description);
    }
}

#[test]
fn written_projects_sit_in_one_folder_and_read_back() {
    let api = enveloped("api", json!({"name": "A", "context": "/a", "version": "1.0.0"}), Format::Json).expect("json");
    let zip = write("A-1.0.0", &[("api.json".into(), api)]).expect("zip");
    let p = read(&zip, Kind::Api).expect("project");
    assert_eq!((p.api["name"].as_str(), p.api_file.as_str()), (Some("A"), "api.json"));
    assert_eq!(segment("a/b\\c"), "a_b_c");
    assert_eq!(segment(".."), "_");
}
