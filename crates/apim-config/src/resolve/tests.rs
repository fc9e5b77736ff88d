use std::collections::BTreeMap;

use super::*;
use crate::tree::from_toml;

fn run(text: &str, sys: &[(&str, &str)]) -> (Table, Vec<Diagnostic>) {
    let parsed = toml::de::DeTable::parse(text).expect("valid toml");
    let mut tree = from_toml(parsed.get_ref());
    let sys: BTreeMap<String, String> = sys.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let env = |name: &str| (name == "APIM_TEST_VAR").then(|| "from-env".to_string());
    let inputs = Inputs { sys: &sys, env: &env, home: "/opt/apim".into() };
    let diags = resolve(&mut tree, &inputs);
    (tree, diags)
}

fn text(t: &Table, path: &[&str]) -> String {
    match &t.lookup(path).expect("key").value {
        Value::String(s) => s.clone(),
        other => panic!("not a string: {other:?}"),
    }
}

#[test]
fn resolves_refs_built_ins_env_and_sys() {
    let (t, d) = run(
        r#"
[server]
hostname = "api.am.wso2.com"
offset = 2
base_path = "${carbon.protocol}://${carbon.host}:${carbon.management.port}"
[super_admin]
username = "root"
password = "pw"
[a]
u = "$ref{super_admin.username}"
p = "${admin.password}"
e = "$env{APIM_TEST_VAR}"
s = "$sys{my.prop}"
n = "${http.nio.port}/${https.nio.port}/${mgt.transport.http.port}"
"#,
        &[("my.prop", "sysval")],
    );
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(text(&t, &["server", "base_path"]), "https://api.am.wso2.com:9445");
    assert_eq!(text(&t, &["a", "u"]), "root");
    assert_eq!(text(&t, &["a", "p"]), "pw");
    assert_eq!(text(&t, &["a", "e"]), "from-env");
    assert_eq!(text(&t, &["a", "s"]), "sysval");
    assert_eq!(text(&t, &["a", "n"]), "8282/8245/9765");
}

#[test]
fn port_offset_system_property_overrides_file() {
    let (t, d) = run("[server]\noffset = 0\n[x]\np = \"${mgt.transport.https.port}\"\n", &[("portOffset", "10")]);
    assert!(d.is_empty());
    assert_eq!(text(&t, &["x", "p"]), "9453");
}

#[test]
fn chained_refs_and_whole_value_arrays() {
    let (t, d) =
        run("[a]\nx = \"$ref{b.y}\"\nl = \"$ref{b.list}\"\n[b]\ny = \"$ref{c.z}\"\nlist = [\"p\", \"q\"]\n[c]\nz = \"deep\"\n", &[]);
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(text(&t, &["a", "x"]), "deep");
    assert!(matches!(&t.lookup(&["a", "l"]).expect("l").value, Value::Array(items) if items.len() == 2));
}

#[test]
fn cycles_name_the_chain_and_the_key() {
    let (_, d) = run("[a]\nx = \"$ref{b.y}\"\n[b]\ny = \"$ref{a.x}\"\n", &[]);
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].key_path, "a.x");
    assert!(d[0].message.contains("placeholder cycle: b.y -> a.x -> b.y"), "{}", d[0].message);
}

#[test]
fn unresolvable_names_are_errors() {
    let (_, d) = run(
        "[a]\nr = \"$ref{nope.key}\"\nb = \"${no.such}\"\ne = \"$env{APIM_UNSET_VAR_XYZ}\"\ns = \"$sys{absent}\"\nu = \"${admin.username\"\nv = \"$secret{k}\"\n",
        &[],
    );
    let msgs: Vec<String> = d.iter().map(|d| format!("{}: {}", d.key_path, d.message)).collect();
    assert_eq!(d.len(), 6, "{msgs:?}");
    assert!(msgs[0].starts_with("a.r: `$ref{nope.key}` names no key"));
    assert!(msgs[1].contains("unknown built-in `${no.such}`"));
    assert!(msgs[2].contains("APIM_UNSET_VAR_XYZ"));
    assert!(msgs[3].contains("-Dabsent=VALUE"));
    assert!(msgs[4].contains("unterminated"));
    assert!(msgs[5].contains("secure vault"));
}

#[test]
fn plain_dollars_stay() {
    let (t, d) = run("[a]\nx = \"costs $5 and ${\"\n", &[]);
    assert_eq!(d.len(), 1);
    let (t2, d2) = run("[a]\nx = \"costs $5\"\n", &[]);
    assert!(d2.is_empty());
    assert_eq!(text(&t2, &["a", "x"]), "costs $5");
    drop(t);
}
