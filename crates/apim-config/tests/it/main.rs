//! Loads every seed configuration and broken variants of them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use apim_config::{LoadOptions, Severity, Source, load_file, load_str};

mod golden;

fn seed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/seed-configs")
}

fn seeds() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(seed_dir())
        .expect("fixtures/seed-configs in the repository")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn load_text(name: &str, text: &str) -> Result<apim_config::Loaded, apim_config::ConfigError> {
    load_str(Source::new(name, text), &LoadOptions::default(), &no_env)
}

#[test]
fn every_seed_config_loads() {
    let files = seeds();
    assert!(files.len() >= 12, "expected the 12 seed samples, found {}", files.len());
    for file in files {
        let loaded = load_file(&file, &LoadOptions::default()).unwrap_or_else(|e| panic!("{} failed:\n{e}", file.display()));
        let printed = loaded.effective_toml();
        // No password or secret value is ever printed.
        for line in printed.lines() {
            let lower = line.to_ascii_lowercase();
            if lower.contains("password") && line.contains('=') {
                assert!(line.ends_with("\"********\""), "{}: unmasked line `{line}`", file.display());
            }
        }
        assert!(!printed.contains("wso2carbon\"\n") || !printed.contains("password = \"wso2carbon\""));
        for w in &loaded.warnings {
            assert_eq!(w.severity, Severity::Warning);
        }
    }
}

#[test]
fn ha_control_plane_resolves_base_path_and_refs() {
    let loaded = load_file(&seed_dir().join("001-control-plane-ha.toml"), &LoadOptions::default()).expect("loads");
    assert_eq!(loaded.config.server.base_path.as_deref(), Some("https://api.am.wso2.com:9443"));
    let printed = loaded.effective_toml();
    assert!(printed.contains("base_path = \"https://api.am.wso2.com:9443\""), "{printed}");
    assert!(!printed.contains("apimadmin\"\n") || printed.contains("username = \"apimadmin\""));
    let hub = loaded.config.event_hub.as_ref().expect("event hub");
    assert_eq!(hub.username.as_deref(), Some("admin"));
    assert_eq!(hub.publish_url_groups.len(), 2);
    assert_eq!(loaded.config.transport.https_proxy_port, Some(443));
    let listener = &loaded.config.event_listeners[0];
    assert_eq!(listener.notification_endpoint.as_deref(), Some("https://localhost:9443/internal/data/v1/notify"));
    assert_eq!(listener.headers, vec![("X-WSO2-KEY-MANAGER".to_string(), "default".to_string())]);
}

#[test]
fn seed_databases_and_roles_map() {
    let cp = load_file(&seed_dir().join("001-control-plane-single.toml"), &LoadOptions::default()).expect("loads");
    let db = cp.config.apim_db.as_ref().expect("apim_db");
    assert_eq!(db.address(), "db.wso2.com:3306");
    assert_eq!(db.kind, apim_config::DbKind::MySql);
    let tm = load_file(&seed_dir().join("000-traffic-manager.toml"), &LoadOptions::default()).expect("loads");
    let shared = tm.config.shared_db.as_ref().expect("shared_db");
    assert_eq!(shared.target, apim_config::DbTarget::File("./repository/database/WSO2SHARED_DB.db".into()));
    assert_eq!(tm.config.server.roles, vec![apim_domain::NodeRole::TrafficManager]);
    let km = load_file(&seed_dir().join("000-key-manager.toml"), &LoadOptions::default()).expect("loads");
    assert_eq!(km.config.server.roles, vec![apim_domain::NodeRole::KeyManager]);
    // [service_provider] and [[event_handler]] are not implemented: one warning each, with a line.
    let keys: Vec<&str> = km.warnings.iter().map(|w| w.key_path.as_str()).collect();
    assert!(keys.contains(&"service_provider") && keys.contains(&"event_handler"), "{keys:?}");
    assert!(km.warnings.iter().all(|w| w.span.is_some()));
}

#[test]
fn strict_turns_unsupported_keys_into_errors() {
    let opts = LoadOptions { strict: true, ..LoadOptions::default() };
    let err = load_file(&seed_dir().join("000-key-manager.toml"), &opts).expect_err("strict fails");
    let text = err.to_string();
    assert!(text.contains("(key `service_provider`)"), "{text}");
    assert!(text.contains("000-key-manager.toml:"), "{text}");
}

#[test]
fn offset_applies_to_built_ins() {
    let loaded = load_text("x.toml", "[server]\noffset = 3\n").expect("loads");
    assert_eq!(loaded.config.transport.https_port(), 9446);
}

fn error_of(text: &str) -> String {
    load_text("deployment.toml", text).expect_err("must fail").to_string()
}

#[test]
fn broken_variants_name_line_and_key() {
    let base = std::fs::read_to_string(seed_dir().join("001-control-plane-single.toml")).expect("seed");

    let e = error_of(&base.replace("offset=0", "offset = \"x\""));
    assert!(e.contains("(key `server.offset`)") && e.contains("expected an integer, found string \"x\""), "{e}");
    assert!(e.contains("deployment.toml:6:10"), "{e}");

    let e = error_of(&base.replace("[server]", "[server"));
    assert!(e.contains("malformed TOML") && e.contains("deployment.toml:2:"), "{e}");

    let e = error_of(&base.replacen("type = \"mysql\"", "type = \"oracle\"", 1));
    assert!(e.contains("unknown database type `oracle`") && e.contains("(key `database.apim_db.type`)"), "{e}");

    let e = error_of(&base.replace("offset=0", "offset=60000"));
    assert!(e.contains("offset 60000 puts transport.https.properties.port at 69443"), "{e}");
    assert!(e.contains("(key `server.offset`)"), "{e}");

    let e = error_of(&base.replace("$ref{super_admin.username}", "$ref{super_admin.user}"));
    assert!(e.contains("`$ref{super_admin.user}` names no key") && e.contains("(key `apim.key_manager.username`)"), "{e}");

    let e = error_of(&base.replace("${admin.username}", "${admin.nobody}"));
    assert!(e.contains("unknown built-in `${admin.nobody}`"), "{e}");

    let e = error_of(&base.replace("tcp://cp.wso2.com:5672", "tcp://cp.wso2.com"));
    assert!(e.contains("has no port") && e.contains("apim.event_hub.event_listening_endpoints"), "{e}");

    let e = error_of("[server]\nserver_role = \"bogus\"\n");
    assert!(e.contains("unknown server_role `bogus`"), "{e}");

    let e = error_of("[a]\nx = \"$ref{b.y}\"\n[b]\ny = \"$ref{a.x}\"\n");
    assert!(e.contains("placeholder cycle"), "{e}");
}

#[test]
fn skip_list_accepts_both_spellings() {
    for key in ["local-entries", "local_entries"] {
        let text = format!(
            "[apim.sync_runtime_artifacts.gateway]\ngateway_labels = [\"A\"]\n[apim.sync_runtime_artifacts.gateway.skip_list]\napis = [\"api1.xml\"]\n{key} = [\"file.xml\"]\n"
        );
        let loaded = load_text("x.toml", &text).expect("loads");
        assert_eq!(loaded.config.gateway_sync.skip_local_entries, vec!["file.xml".to_string()]);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }
}

#[test]
fn port_offset_system_property() {
    let mut sys = BTreeMap::new();
    sys.insert("portOffset".to_string(), "7".to_string());
    let opts = LoadOptions { sys, ..LoadOptions::default() };
    let loaded = load_str(Source::new("x.toml", "[server]\noffset = 1\n"), &opts, &no_env).expect("loads");
    assert_eq!(loaded.config.transport.https_port(), 9450);
    assert_eq!(loaded.config.transport.http_port(), 9770);
}

#[test]
fn embedded_default_loads() {
    let opts = LoadOptions { data_dir: "/tmp/apim-x".into(), ..LoadOptions::default() };
    let loaded = apim_config::embedded_default(&opts).expect("loads");
    assert!(loaded.warnings.is_empty());
    let db = loaded.config.apim_db.expect("apim_db");
    assert_eq!(db.target, apim_config::DbTarget::File("/tmp/apim-x/apim_db.db".into()));
}
