//! The server's architecture rules (ARCHITECTURE.md, "Invariants"), checked on its source so a
//! change that breaks one fails here rather than in review:
//!
//! - only `http/` and the domains' `http.rs` files name `axum` or `callside_proto`;
//! - services never reach into the edge (`crate::http`, `crate::app`) — they are given what they
//!   need;
//! - the domains depend on each other without cycles;
//! - no task is spawned except by the supervisor, and no channel is unbounded;
//! - no source file is over 1,000 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    walk(&root, &mut out);
    out.into_iter()
        .map(|(p, t)| (p.strip_prefix(&root).unwrap().to_owned(), t))
        .collect()
}

/// The code of a file without its unit tests (they may use anything).
fn without_tests(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    }
}

/// Lines of code, not comments.
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.trim_start().starts_with("//"))
}

fn is_edge(path: &Path) -> bool {
    path.starts_with("http") || path.file_name().is_some_and(|f| f == "http.rs")
}

/// The top-level module a file belongs to (`sessions` for `sessions/cache.rs`).
fn module_of(path: &Path) -> String {
    let first = path
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// Modules that build or serve the others and may depend on any of them.
const ROOTS: [&str; 4] = ["lib", "app", "http", "housekeeping"];

#[test]
fn only_the_edge_names_axum_or_the_wire_types() {
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|(p, _)| !is_edge(p))
        .filter(|(_, t)| {
            code_lines(without_tests(t)).any(|l| {
                l.contains("axum") || l.contains("callside_proto") || l.contains("proto::")
            })
        })
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "name axum or proto outside the edge: {offenders:?}"
    );
}

#[test]
fn services_are_given_what_they_need_and_do_not_reach_into_the_edge() {
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|(p, _)| !is_edge(p) && !ROOTS.contains(&module_of(p).as_str()))
        .filter(|(_, t)| {
            code_lines(without_tests(t)).any(|l| {
                l.contains("crate::http") || l.contains("crate::app") || l.contains("AppState")
            })
        })
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "services using the app or the edge: {offenders:?}"
    );
}

/// `crate::<module>` references in a file's code.
fn references(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in code_lines(without_tests(text)) {
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                out.insert(name);
            }
        }
    }
    out
}

#[test]
fn the_domains_depend_on_each_other_without_cycles() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in sources() {
        let from = module_of(&path);
        if is_edge(&path) || ROOTS.contains(&from.as_str()) {
            continue;
        }
        let deps = graph.entry(from.clone()).or_default();
        for to in references(&text) {
            if to != from && !ROOTS.contains(&to.as_str()) {
                deps.insert(to);
            }
        }
    }
    assert!(
        graph.get("sessions").is_some_and(|d| d.contains("hub")),
        "the scan sees dependencies at all: {graph:?}"
    );
    // Depth-first search for a back edge.
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(n) {
            return;
        }
        if let Some(i) = path.iter().position(|p| p == n) {
            panic!("a cycle of imports: {} → {n}", path[i..].join(" → "));
        }
        path.push(n.to_owned());
        for m in graph.get(n).into_iter().flatten() {
            visit(m, graph, path, done);
        }
        path.pop();
        done.insert(n.to_owned());
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        visit(n, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn tasks_are_spawned_by_the_supervisor_and_channels_are_bounded() {
    for (path, text) in sources() {
        let code: Vec<&str> = code_lines(without_tests(&text)).collect();
        let spawns = code.iter().filter(|l| l.contains("tokio::spawn")).count();
        let allowed = usize::from(path == Path::new("supervisor.rs"));
        assert!(spawns <= allowed, "{} spawns a task itself", path.display());
        assert!(
            !code.iter().any(|l| l.contains("unbounded")),
            "{} uses an unbounded channel",
            path.display()
        );
    }
}

#[test]
fn no_source_file_is_over_a_thousand_lines() {
    for (path, text) in sources() {
        let n = text.lines().count();
        assert!(n <= 1000, "{} has {n} lines", path.display());
    }
}
