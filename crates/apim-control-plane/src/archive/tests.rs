use std::io::Write;

use super::*;

/// A ZIP of `(name, content)` entries, deflated.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(true);
    for (name, content) in entries {
        w.start_file(*name, options).expect("start");
        w.write_all(content).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

const MASTER: &str = "openapi: 3.0.1\ninfo: {title: Zipped, version: '1'}\npaths:\n  /pets:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: 'schemas/pet.yaml#/Pet'}\n  /owners:\n    $ref: paths/owners.yaml\ncomponents:\n  schemas:\n    Local: {type: string}\n";
const PET: &str =
    "Pet:\n  type: object\n  properties:\n    name: {$ref: '#/Name'}\n    tag: {$ref: '../schemas/common.json'}\nName: {type: string}\n";
const OWNERS: &str = "get:\n  responses:\n    '200': {description: owners, content: {application/json: {schema: {$ref: '../openapi.yaml#/components/schemas/Local'}}}}\n";
const COMMON: &str = r#"{"type": "string", "maxLength": 10}"#;

/// The definition without its reference to `schemas/pet.yaml`: only `paths/owners.yaml` is referenced.
fn solo() -> String {
    MASTER.replace("{$ref: 'schemas/pet.yaml#/Pet'}", "{type: object}")
}

fn description(e: ApiError) -> String {
    assert_eq!(e.fields[0].0, "file", "{}", e.description);
    e.description
}

#[test]
fn references_across_files_are_inlined() {
    for dir in ["", "petstore/"] {
        let zip = zip_of(&[
            (&format!("{dir}openapi.yaml"), MASTER.as_bytes()),
            (&format!("{dir}schemas/pet.yaml"), PET.as_bytes()),
            (&format!("{dir}schemas/common.json"), COMMON.as_bytes()),
            (&format!("{dir}paths/owners.yaml"), OWNERS.as_bytes()),
            (&format!("{dir}logo.png"), b"\x89PNG\r\n\x1a\n\xff\xfe"),
        ]);
        assert!(is_zip(None, None, &zip));
        let doc = definition(&zip).expect("definition");
        let pet = &doc["paths"]["/pets"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(pet["properties"]["name"], serde_json::json!({"type": "string"}), "{doc}");
        assert_eq!(pet["properties"]["tag"]["maxLength"], 10, "{doc}");
        // A path item from another file, which refers back into the definition; the definition's own local
        // references stay.
        let owners = &doc["paths"]["/owners"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(owners, &serde_json::json!({"type": "string"}), "{doc}");
        assert!(crate::openapi::summarize("file", &doc).is_ok());
    }
}

#[test]
fn unsafe_archives_are_refused_naming_the_problem() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (zip_of(&[("openapi.yaml", MASTER.as_bytes()), ("../x.yaml", b"a: 1")]), "`..`"),
        (zip_of(&[("/etc/openapi.yaml", MASTER.as_bytes())]), "absolute"),
        (zip_of(&[("notes.txt", b"hello")]), "no definition"),
        (zip_of(&[("openapi.yaml", solo().replace("paths/owners.yaml", "../owners.yaml").as_bytes())]), "leaves the archive"),
        (zip_of(&[("openapi.yaml", solo().replace("paths/owners.yaml", "https://evil.test/x.yaml").as_bytes())]), "URL"),
        (zip_of(&[("openapi.yaml", solo().as_bytes())]), "not in the archive"),
        (
            zip_of(&[("openapi.yaml", solo().replace("paths/owners.yaml", "loop.yaml").as_bytes()), ("loop.yaml", b"$ref: loop.yaml")]),
            "circular",
        ),
        (b"PK\x03\x04 definitely not a zip".to_vec(), "not a readable ZIP"),
    ];
    for (zip, needle) in cases {
        let d = description(definition(&zip).expect_err(needle));
        assert!(d.contains(needle), "{needle}: {d}");
    }
}

#[test]
fn a_zip_bomb_stops_at_the_bound() {
    let zeros = vec![0u8; (INFLATED_MAX + 1) as usize];
    let zip = zip_of(&[("openapi.yaml", MASTER.as_bytes()), ("bomb.bin", &zeros)]);
    assert!(zip.len() < 200_000, "{}", zip.len());
    assert!(description(definition(&zip).expect_err("bomb")).contains("inflates to more than"));
}

#[test]
fn references_that_multiply_are_bounded() {
    // Each level references the next ten times: 10^5 expansions from a few hundred bytes.
    let mut entries: Vec<(String, String)> = vec![("openapi.yaml".into(), solo().replace("paths/owners.yaml", "l0.yaml"))];
    for level in 0..5 {
        let refs: Vec<String> = (0..10).map(|i| format!("k{i}: {{$ref: l{}.yaml}}", level + 1)).collect();
        entries.push((format!("l{level}.yaml"), refs.join("\n")));
    }
    entries.push(("l5.yaml".into(), "get: {responses: {'200': {description: x}}}".into()));
    let borrowed: Vec<(&str, &[u8])> = entries.iter().map(|(n, c)| (n.as_str(), c.as_bytes())).collect();
    let d = description(definition(&zip_of(&borrowed)).expect_err("expansion"));
    assert!(d.contains("references"), "{d}");
}

#[test]
fn paths_are_joined_inside_the_archive() {
    assert_eq!(join("a/b/openapi.yaml", "../c.yaml").as_deref(), Some("a/c.yaml"));
    assert_eq!(join("openapi.yaml", "./x/y.json").as_deref(), Some("x/y.json"));
    assert_eq!(join("openapi.yaml", "../y.json"), None);
    assert_eq!(join("openapi.yaml", "/etc/passwd"), None);
    assert_eq!(decode_pointer("/paths/~1pets%7Bid%7D"), "/paths/~1pets{id}");
}

#[test]
fn a_big_file_referenced_many_times_is_bounded() {
    // 1 MiB of text referenced 100 times: within the reference count, beyond the expanded size.
    let big = format!("description: \"{}\"\n", "x".repeat(1 << 20));
    let refs: Vec<String> = (0..100).map(|i| format!("k{i}: {{$ref: big.yaml}}")).collect();
    let zip = zip_of(&[
        ("openapi.yaml", solo().replace("paths/owners.yaml", "many.yaml").as_bytes()),
        ("many.yaml", refs.join("\n").as_bytes()),
        ("big.yaml", big.as_bytes()),
    ]);
    let d = description(definition(&zip).expect_err("expansion"));
    assert!(d.contains("expands to more than"), "{d}");
}
