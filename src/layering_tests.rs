//! The import graph runs one way: infrastructure ← domains ← http ← app (docs/ARCHITECTURE.md).
//! Each top-level module is given a layer; a module may name (`crate::x`) only modules of a
//! lower layer, or of its own layer when that layer is ordered (the domains). Read from the
//! source, so a new import that turns the graph back fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules, lowest layer first. Within a layer, a module may use the ones before
/// it (so the infrastructure and the domains have an order too, and no cycle).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "infrastructure",
        &[
            "time",
            "crypto",
            "files",
            "names",
            "personal",
            "net",
            "config",
            "server_key",
            "error",
            "list",
            "query",
            "db",
            "clock",
            "cache",
            "mail",
            "state",
            "audit",
            "api",
        ],
    ),
    ("domains", &["identity", "orgs", "commerce", "exports"]),
    ("http", &["http", "system"]),
    ("app", &["jobs", "app", "logging", "main", "lib"]),
];

fn rank(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .flat_map(|(_, modules)| modules.iter())
        .position(|m| *m == module)
}

fn top_level(file: &Path, src: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("a component");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a source text names through `crate::`.
fn named_modules(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let name = item.trim().split("::").next().unwrap_or("").trim();
                    if !name.is_empty() {
                        names.insert(name.to_string());
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    names.insert(name);
                }
            }
        }
    }
    names
}

/// Files compiled only for tests (`#[cfg(test)] mod x;`): a test may reach any layer.
fn test_only(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).expect("read");
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            let declared = pair[1]
                .strip_prefix("mod ")
                .or_else(|| pair[1].strip_prefix("pub mod "))
                .and_then(|rest| rest.strip_suffix(';'));
            if let (true, Some(name)) = (pair[0] == "#[cfg(test)]", declared) {
                let stem = file.file_stem().unwrap().to_string_lossy();
                let dir = if stem == "mod" || stem == "lib" {
                    file.parent().unwrap().to_path_buf()
                } else {
                    file.with_extension("")
                };
                roots.push(dir.join(format!("{name}.rs")));
                roots.push(dir.join(name));
            }
        }
    }
    roots
}

#[test]
fn imports_run_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let tests = test_only(&files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files
        .iter()
        .filter(|f| !tests.iter().any(|t| f.starts_with(t)))
    {
        let from = top_level(file, &src);
        let text = std::fs::read_to_string(file).expect("read");
        for to in named_modules(&text) {
            if to != from && rank(&to).is_some() {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    let mut wrong = Vec::new();
    for (from, tos) in &edges {
        let Some(from_rank) = rank(from) else {
            wrong.push(format!("`{from}` has no layer in LAYERS"));
            continue;
        };
        for to in tos {
            if rank(to).is_some_and(|r| r >= from_rank) {
                wrong.push(format!("{from} → {to}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_top_level_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&src).expect("read src") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if name.ends_with("_tests") {
            continue;
        }
        assert!(rank(&name).is_some(), "give `{name}` a layer in LAYERS");
    }
}
