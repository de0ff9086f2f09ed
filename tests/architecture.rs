//! The shape of the code: every layer imports only from layers below it.
//!
//! `http` → `service` → {`security`, `mail`} → {`store`, `oidc`} → `config` → `domain` → the
//! ground floor (`error` on `clock` and `metrics`). `startup` puts them together; `telemetry` sets up
//! logging from the settings. A module may use any module of a lower rank, never one of its own
//! rank or above (so no two modules can import each other either). Read from the
//! `crate::…` paths of `src/` (the benchmark and unit tests left out).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Each top-level module of the library with its rank: higher ranks stand on lower ones.
const RANKS: &[(&str, u8)] = &[
    ("clock", 0),
    ("metrics", 0),
    ("error", 1),
    ("domain", 2),
    ("config", 3),
    ("telemetry", 4),
    ("oidc", 4),
    ("store", 4),
    ("security", 5),
    ("mail", 5),
    ("service", 6),
    ("http", 7),
    ("startup", 8),
];

/// Imports that still point the wrong way, each with where it stands; the list may only
/// shrink: an entry that no longer occurs fails the test too, so that it is taken out.
const KNOWN: &[(&str, &str, &str)] = &[];

fn rank(module: &str) -> u8 {
    RANKS
        .iter()
        .find(|(m, _)| *m == module)
        .unwrap_or_else(|| panic!("module {module} has no rank in tests/architecture.rs"))
        .1
}

/// Every `.rs` file under `dir`, as paths relative to `src/`.
fn sources(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "bin") {
                continue;
            }
            sources(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push(rel);
        }
    }
}

/// The top-level modules a file names through `crate::`, outside its unit tests.
fn imports(text: &str) -> BTreeSet<String> {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

#[test]
fn every_layer_imports_only_from_layers_below_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    files.sort();
    let mut wrong: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = file
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = fs::read_to_string(root.join(file)).expect("read a source");
        for used in imports(&text) {
            if used == module {
                continue;
            }
            if rank(&used) >= rank(&module) {
                wrong
                    .entry((module.clone(), used))
                    .or_default()
                    .insert(file.clone());
            }
        }
    }
    let mut unexpected = Vec::new();
    for ((from, to), in_files) in &wrong {
        for file in in_files {
            if !KNOWN.contains(&(from.as_str(), to.as_str(), file.as_str())) {
                unexpected.push(format!("{file}: {from} uses {to}"));
            }
        }
    }
    let gone: Vec<_> = KNOWN
        .iter()
        .filter(|(from, to, file)| {
            !wrong
                .get(&(from.to_string(), to.to_string()))
                .is_some_and(|f| f.contains(*file))
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "imports from a layer at or above the importer's:\n{}",
        unexpected.join("\n")
    );
    assert!(
        gone.is_empty(),
        "these known exceptions no longer occur; take them out of KNOWN: {gone:?}"
    );
}

#[test]
fn every_module_of_the_library_has_a_rank() {
    let lib = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("read lib.rs");
    let declared: BTreeSet<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    let ranked: BTreeSet<&str> = RANKS.iter().map(|(m, _)| *m).collect();
    assert_eq!(declared, ranked);
}
