//! Golden files: what `apim config check` makes of every seed and of a few files of our own (every section with
//! every key, and files with errors in every section), as recorded in `tests/golden/`. A change to how a section
//! is read shows here as a difference; `APIM_GOLDEN_UPDATE=1` rewrites the files after a deliberate change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use apim_config::{LoadOptions, Source, load_str};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// The typed configuration (secrets masked by their `Debug`), the effective TOML and the warnings, or every
/// error rendered: everything a reader decides.
fn describe(name: &str, text: &str, opts: &LoadOptions) -> String {
    let env = |name: &str| (name == "APIM_GOLDEN_ENV").then(|| "from-env".to_string());
    let out = match load_str(Source::new(name, text), opts, &env) {
        Ok(loaded) => {
            let mut out = String::from("== effective ==\n");
            out.push_str(&loaded.effective_toml());
            out.push_str("\n== warnings ==\n");
            for w in &loaded.warnings {
                out.push_str(&format!("{}\n", w.render(&loaded.source)));
            }
            out.push_str(&format!("\n== config ==\n{:#?}\n", loaded.config));
            out
        }
        Err(e) => format!("== errors ==\n{e}\n"),
    };
    let cwd = std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default();
    if cwd.is_empty() { out } else { out.replace(&cwd, "<cwd>") }
}

#[test]
fn every_seed_and_golden_input_reads_as_recorded() {
    let seeds = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/seed-configs");
    let mut cases = Vec::new();
    for file in toml_files(&seeds).into_iter().chain(toml_files(&golden_dir().join("inputs"))) {
        let name = file.file_name().and_then(|n| n.to_str()).expect("utf-8 name").to_string();
        let text = std::fs::read_to_string(&file).expect("read");
        cases.push((name.trim_end_matches(".toml").to_string(), name.clone(), text.clone(), LoadOptions::default()));
        // The same file under -DportOffset.
        let sys = BTreeMap::from([("portOffset".to_string(), "5".to_string())]);
        let opts = LoadOptions { sys, ..LoadOptions::default() };
        cases.push((format!("{}.offset5", name.trim_end_matches(".toml")), name, text, opts));
    }
    assert!(cases.len() >= 24, "expected the 12 seeds and ours, found {}", cases.len() / 2);
    let update = std::env::var_os("APIM_GOLDEN_UPDATE").is_some();
    let mut differ = Vec::new();
    for (golden, name, text, opts) in cases {
        let actual = describe(&name, &text, &opts);
        let path = golden_dir().join(format!("{golden}.txt"));
        if update {
            std::fs::write(&path, &actual).expect("write golden file");
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if expected != actual {
            let line = expected.lines().zip(actual.lines()).position(|(a, b)| a != b).unwrap_or(0);
            differ.push(format!(
                "{golden}: first difference at line {}:\n  recorded: {}\n  now:      {}",
                line + 1,
                expected.lines().nth(line).unwrap_or("<end>"),
                actual.lines().nth(line).unwrap_or("<end>")
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
