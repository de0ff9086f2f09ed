//! The shape of the code: every layer imports only from layers below it.
//!
//! `http` → `service` → {`security`, `mail`} → {`store`, `oidc`} → `config` → `domain` → the
//! ground floor (`error` on `clock` and `metrics`). `startup` puts them together, and `admin` (the
//! shell commands) stands beside it on `http`'s views; `telemetry` sets up
//! logging from the settings. A module may use any module of a lower rank, never one of its own
//! rank or above (so no two modules can import each other either). Within a layer, no two
//! files may reach each other either: the file-level graph has no cycle. Read from the
//! `crate::…`, `super::…` and (in a `mod.rs`) child paths of `src/`, comments and unit tests
//! left out.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Each top-level module of the library with its rank: higher ranks stand on lower ones.
const RANKS: &[(&str, u8)] = &[
    ("clock", 0),
    ("metrics", 0),
    ("origin", 0),
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
    ("admin", 8),
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

/// A file's code without its unit tests and comments.
fn code_of(text: &str) -> String {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    code.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a file names through `crate::`.
fn imports(text: &str) -> BTreeSet<String> {
    let code = code_of(text);
    let code = code.as_str();
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

/// The module path of a file under `src/`: `service/users.rs` is `service::users`,
/// `service/mod.rs` is `service`.
fn module_of(file: &str) -> String {
    let path = file.trim_end_matches(".rs");
    let path = path.strip_suffix("/mod").unwrap_or(path);
    path.replace('/', "::")
}

/// Each path `prefix` starts in `code` (`crate::a::b::Item` gives `a::b::Item`).
fn paths_after<'a>(code: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let head: Vec<&str> = rest[..end].split("::").filter(|s| !s.is_empty()).collect();
        // `prefix::{a, b::C}` names each of its items.
        match rest[end..]
            .strip_prefix('{')
            .and_then(|r| r.split_once('}'))
        {
            Some((group, _)) if rest[..end].ends_with("::") || end == 0 => {
                // A group wrapped over lines ends with a comma: no item after it.
                for item in group.split(',').filter(|item| !item.trim().is_empty()) {
                    let item: Vec<&str> = item.trim().split("::").collect();
                    found.push(head.iter().copied().chain(item).collect());
                }
            }
            _ => found.push(head),
        }
    }
    found
}

#[test]
fn no_two_files_reach_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    let modules: BTreeMap<String, String> = files
        .iter()
        .filter(|f| f.as_str() != "lib.rs" && f.as_str() != "main.rs")
        .map(|f| (module_of(f), f.clone()))
        .collect();
    // The longest module named by a path, if any.
    let named = |path: &[&str]| {
        (1..=path.len())
            .rev()
            .map(|k| path[..k].join("::"))
            .find(|m| modules.contains_key(m))
    };
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, file) in &modules {
        let code = code_of(&fs::read_to_string(root.join(file)).expect("read a source"));
        let parent: Vec<&str> = module.rsplit_once("::").map_or(vec![], |(p, _)| vec![p]);
        let mut targets = BTreeSet::new();
        for path in paths_after(&code, "crate::") {
            targets.extend(named(&path));
        }
        for path in paths_after(&code, "super::") {
            let full: Vec<&str> = parent.iter().copied().chain(path).collect();
            targets.extend(named(&full));
        }
        if file.ends_with("mod.rs") {
            // A parent names its children by their own names; its `pub use` lines only show
            // them to the outside (a facade, not a use of its own).
            let own: String = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("pub use "))
                .collect::<Vec<_>>()
                .join("\n");
            for child in modules
                .keys()
                .filter_map(|m| m.strip_prefix(&format!("{module}::")))
            {
                if !child.contains("::") && own.contains(&format!("{child}::")) {
                    targets.insert(format!("{module}::{child}"));
                }
            }
        }
        targets.remove(module);
        edges.insert(module.clone(), targets);
    }
    // A depth-first walk finds any cycle, and names it.
    fn walk(
        at: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        trail: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = trail.iter().position(|m| m == at) {
            let mut cycle = trail[i..].to_vec();
            cycle.push(at.to_string());
            return Some(cycle);
        }
        if done.contains(at) {
            return None;
        }
        trail.push(at.to_string());
        for next in edges.get(at).into_iter().flatten() {
            if let Some(cycle) = walk(next, edges, trail, done) {
                return Some(cycle);
            }
        }
        trail.pop();
        done.insert(at.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for module in edges.keys() {
        let cycle = walk(module, &edges, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "files that reach each other: {}",
            cycle.unwrap().join(" → ")
        );
    }
}

#[test]
fn every_change_of_the_service_goes_through_the_unit_of_work() {
    // Only `service/change.rs` opens, audits and commits: everything else asks it to. The
    // counters of the abuse limits are written below this layer on purpose (a count is no
    // change of anyone's account, and must stand even when the request fails), in
    // `security::limits` and `store::limits`, which this test does not cover.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root.join("service"), &mut files);
    for file in files.iter().filter(|f| f.as_str() != "service/change.rs") {
        let code = code_of(&fs::read_to_string(root.join(file)).expect("read a source"));
        for by_hand in [
            "store.write()",
            "store::audit::record",
            "tx.commit()",
            "outbox::enqueue",
        ] {
            assert!(
                !code.contains(by_hand),
                "{file} calls {by_hand} by hand; open a service::change::Change instead"
            );
        }
    }
}
