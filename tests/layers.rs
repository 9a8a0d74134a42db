//! Layers point one way (DESIGN.md, "Layers and their rooms"): the graph of
//! `crate::…` references between the library's top-level modules has no
//! cycle, and nothing in the library imports `commands` (the subcommands
//! sit on top; only `main.rs` calls them).
//!
//! The graph is read from the source text: every `crate::<module>` in code
//! (comments and doc comments are skipped, so intra-doc links do not count).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Top-level module of a file under `src/` (`src/risk/gate.rs` → `risk`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_owned())
}

/// `crate::<name>` references in code, comments removed.
fn references(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let preceded = rest[..i].chars().last().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            if !name.is_empty() && !preceded {
                found.insert(name);
            }
            rest = after;
        }
    }
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else { continue };
        let text = std::fs::read_to_string(&file).unwrap();
        let deps = edges.entry(module.clone()).or_default();
        for r in references(&text) {
            if r != module {
                deps.insert(r);
            }
        }
    }
    edges
}

/// Every cycle's modules (strongly connected components of size > 1).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let nodes: Vec<&String> = edges.keys().collect();
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(n) = stack.pop() {
            for d in edges.get(&n).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    stack.push(d.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> = nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for n in &nodes {
        if done.contains(*n) {
            continue;
        }
        let scc: Vec<String> = nodes
            .iter()
            .filter(|m| **m == *n || (reaches[*n].contains(**m) && reaches[**m].contains(*n)))
            .map(|m| (*m).clone())
            .collect();
        done.extend(scc.iter().cloned());
        if scc.len() > 1 {
            out.push(scc);
        }
    }
    out
}

#[test]
fn module_imports_form_no_cycle() {
    let edges = graph();
    assert!(edges.len() > 15, "read too few modules: {edges:?}");
    let found = cycles(&edges);
    let detail: Vec<String> = found
        .iter()
        .map(|scc| {
            let inner: Vec<String> = scc
                .iter()
                .flat_map(|a| edges[a].iter().filter(|b| scc.contains(b)).map(move |b| format!("{a} → {b}")))
                .collect();
            inner.join(", ")
        })
        .collect();
    assert!(found.is_empty(), "import cycles between modules: {}", detail.join("; "));
}

#[test]
fn nothing_in_the_library_imports_the_subcommands() {
    let edges = graph();
    let offenders: Vec<&String> =
        edges.iter().filter(|(m, d)| *m != "commands" && d.contains("commands")).map(|(m, _)| m).collect();
    assert!(offenders.is_empty(), "modules importing commands: {offenders:?}");
}

#[test]
fn the_reader_sees_references_and_skips_comments() {
    let text = "use crate::fixed::Price;\n//! [`crate::journal`]\nlet x = my_crate::book; // crate::risk\nf(crate::venue::Venue)";
    let refs: Vec<String> = references(text).into_iter().collect();
    assert_eq!(refs, ["fixed", "venue"]);
    let mut g = BTreeMap::new();
    g.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    g.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    g.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    g.insert("d".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(cycles(&g), vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]);
}
