//! The house rules of `src/` (see ../shared/DESIGN.md), checked on the source text so a change that breaks them fails
//! here rather than in a reviewer's head:
//! - wings in data-flow order, every dependency pointing down it: format, config -> client / mock -> compat / run ->
//!   measure -> report -> commands -> main;
//! - no import circle between files;
//! - no file over 800 lines, no function over 100 lines (test modules in their own files excepted).
//!
//! Dependencies are read from `crate::a::b` / `cutover::a::b` / `super::x` paths outside `#[cfg(test)]` modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Rank of each wing: a file may depend on its own wing or on a wing of lower rank only; wings of equal rank
/// (client and mock, compat and run) may not depend on each other.
fn rank(wing: &str) -> Option<u32> {
    Some(match wing {
        "format" => 0,
        "config" => 1,
        "client" | "mock" => 2,
        "compat" | "run" => 3,
        "measure" => 4,
        "report" => 5,
        "commands" => 6,
        "main" => 7,
        _ => return None,
    })
}

/// Files and functions still over the size limits, with the issue that splits them. An entry that is no longer
/// over its limit fails the test, so the list only shrinks.
const OVERSIZE_FILES: &[&str] = &[
    "src/report::charts", // issue 9/15: one file per chart under report/charts/
];
const OVERSIZE_FUNCTIONS: &[&str] = &[
    "report::charts::draw_cost",  // issue 15
    "report::charts::draw_panel", // issue 15
];
/// Import circles still to break, each named by its files in sorted order; the list only shrinks.
const KNOWN_CIRCLES: &[&str] = &[];

struct File {
    module: Vec<String>,
    text: String,
    lines: usize,
    is_test_file: bool,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs").to_string();
    if stem != "mod" && stem != "lib" {
        parts.push(stem);
    }
    parts
}

/// The text outside test modules: a top-level `#[cfg(test)] mod x;` line pair is dropped, and an inline
/// `#[cfg(test)] mod x { ... }` ends the text (test modules stand last in a file).
fn non_test(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.next() {
        if l == "#[cfg(test)]" {
            match lines.peek() {
                Some(n) if n.starts_with("mod ") && n.ends_with(';') => {
                    lines.next();
                    continue;
                }
                Some(n) if n.starts_with("mod ") && n.ends_with('{') => break,
                _ => {}
            }
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

fn load() -> BTreeMap<Vec<String>, File> {
    let mut paths = Vec::new();
    walk(Path::new(SRC), &mut paths);
    let mut files = BTreeMap::new();
    for p in paths {
        let rel = p.strip_prefix(SRC).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let module = module_of(rel);
        let is_test_file = module
            .last()
            .is_some_and(|m| m == "tests" || m.ends_with("_tests"))
            || rel.components().any(|c| c.as_os_str() == "tests");
        files.insert(
            module.clone(),
            File {
                module,
                lines: text.lines().count(),
                text,
                is_test_file,
            },
        );
    }
    files
}

/// Every `a::b::c` path that starts at `crate`, `cutover` or `super` (one or more), resolved to absolute segments.
fn referenced_paths(f: &File) -> Vec<Vec<String>> {
    let owned = non_test(&f.text);
    let text = owned.as_str();
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if !text.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let starts_word = i == 0 || !is_ident(bytes[i - 1]);
        let rest = &text[i..];
        let root = ["crate::", "cutover::", "super::"]
            .into_iter()
            .find(|r| starts_word && rest.starts_with(r));
        let Some(root) = root else {
            i += 1;
            continue;
        };
        // Parse `seg::seg::...` greedily.
        let mut segs: Vec<String> = Vec::new();
        let mut j = i;
        loop {
            let start = j;
            while j < bytes.len() && is_ident(bytes[j]) {
                j += 1;
            }
            if start == j {
                break;
            }
            segs.push(text[start..j].to_string());
            if text[j..].starts_with("::") {
                j += 2;
            } else {
                break;
            }
        }
        // `use super::{a, b}` / `use crate::x::{a::b, c}`: the braces name more than one path; the prefix is enough
        // to find the file, except for the children of the prefix, which are the braces' first words.
        let mut abs: Vec<String> = match root {
            "super::" => {
                // The module a `super` resolves against: a `mod.rs`/`lib.rs` file is its own module.
                let mut base = f.module.clone();
                let mut k = 0;
                while k < segs.len() && segs[k] == "super" {
                    base.pop();
                    k += 1;
                }
                base.extend(segs[k..].iter().cloned());
                base
            }
            _ => segs[1..].to_vec(),
        };
        if text[j..].starts_with('{') {
            let close = text[j..].find('}').map_or(text.len(), |c| j + c);
            for item in text[j + 1..close].split(',') {
                let first = item.trim().split("::").next().unwrap_or("").trim();
                if !first.is_empty() && first != "self" {
                    let mut p = abs.clone();
                    p.push(first.to_string());
                    out.push(p);
                }
            }
        }
        if abs.is_empty() {
            abs = Vec::new();
        }
        out.push(abs);
        i = j.max(i + 1);
    }
    out
}

/// The file (module) a path lands in: the longest module prefix of the path that is a file of `src/`.
fn file_of(files: &BTreeMap<Vec<String>, File>, path: &[String]) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| files.contains_key(m))
}

fn edges(files: &BTreeMap<Vec<String>, File>) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut g: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (m, f) in files {
        if f.is_test_file {
            continue;
        }
        let deps = g.entry(m.clone()).or_default();
        for p in referenced_paths(f) {
            if let Some(target) = file_of(files, &p) {
                if &target != m && !files[&target].is_test_file {
                    deps.insert(target);
                }
            }
        }
    }
    g
}

fn name(m: &[String]) -> String {
    if m.is_empty() {
        "lib".into()
    } else {
        m.join("::")
    }
}

#[test]
fn dependencies_point_down_the_data_flow() {
    let files = load();
    let g = edges(&files);
    let mut wrong = Vec::new();
    for (from, deps) in &g {
        let Some(wf) = from.first() else { continue };
        let Some(rf) = rank(wf) else {
            wrong.push(format!(
                "{}: wing `{wf}` has no place in the data flow",
                name(from)
            ));
            continue;
        };
        for to in deps {
            let Some(wt) = to.first() else { continue };
            let rt = rank(wt).unwrap_or(u32::MAX);
            if wf != wt && rt >= rf {
                wrong.push(format!("{} -> {}", name(from), name(to)));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies against the data flow:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_import_circle_between_files() {
    let files = load();
    let g = edges(&files);
    // Tarjan's strongly connected components.
    struct T<'a> {
        g: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<Vec<String>, usize>,
        low: BTreeMap<Vec<String>, usize>,
        stack: Vec<Vec<String>>,
        on: BTreeSet<Vec<String>>,
        next: usize,
        sccs: Vec<Vec<Vec<String>>>,
    }
    fn visit(t: &mut T, v: &Vec<String>) {
        t.index.insert(v.clone(), t.next);
        t.low.insert(v.clone(), t.next);
        t.next += 1;
        t.stack.push(v.clone());
        t.on.insert(v.clone());
        let deps: Vec<Vec<String>> =
            t.g.get(v)
                .map(|d| d.iter().cloned().collect())
                .unwrap_or_default();
        for w in &deps {
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low[v];
                t.low.insert(v.clone(), lv.min(lw));
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low[v];
                t.low.insert(v.clone(), lv.min(iw));
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            loop {
                let w = t.stack.pop().unwrap();
                t.on.remove(&w);
                let done = &w == v;
                scc.push(w);
                if done {
                    break;
                }
            }
            if scc.len() > 1 {
                t.sccs.push(scc);
            }
        }
    }
    let mut t = T {
        g: &g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        sccs: Vec::new(),
    };
    let nodes: Vec<Vec<String>> = g.keys().cloned().collect();
    for v in &nodes {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    let circles: BTreeSet<String> = t
        .sccs
        .iter()
        .map(|s| {
            let mut names: Vec<String> = s.iter().map(|m| name(m)).collect();
            names.sort();
            names.join(" <-> ")
        })
        .collect();
    let known: BTreeSet<String> = KNOWN_CIRCLES.iter().map(|s| s.to_string()).collect();
    let new: Vec<&String> = circles.difference(&known).collect();
    let gone: Vec<&String> = known.difference(&circles).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "import circles: {new:#?}\nknown circles no longer there (remove them from KNOWN_CIRCLES): {gone:#?}"
    );
}

/// (name, first line, line count) of every `fn` outside test modules, by brace matching from its signature.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let owned = non_test(text);
    let lines: Vec<&str> = owned.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        let sig = [
            "fn ",
            "pub fn ",
            "pub(crate) fn ",
            "pub(super) fn ",
            "async fn ",
            "pub async fn ",
        ]
        .iter()
        .chain(
            [
                "pub(crate) async fn ",
                "pub(super) async fn ",
                "const fn ",
                "pub const fn ",
            ]
            .iter(),
        )
        .find_map(|p| t.strip_prefix(p));
        let Some(sig) = sig else { continue };
        let fname: String = sig
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // Find the opening brace of the body (skip declarations ending in `;`).
        let mut depth = 0i64;
        let mut opened = false;
        let mut end = None;
        'scan: for (k, line) in lines.iter().enumerate().skip(i) {
            let mut in_str = false;
            let mut prev = ' ';
            for c in line.chars() {
                if c == '"' && prev != '\\' {
                    in_str = !in_str;
                }
                if !in_str {
                    if c == '/' && prev == '/' {
                        break;
                    }
                    if c == '{' {
                        depth += 1;
                        opened = true;
                    } else if c == '}' {
                        depth -= 1;
                        if opened && depth == 0 {
                            end = Some(k);
                            break 'scan;
                        }
                    } else if c == ';' && !opened {
                        break 'scan;
                    }
                }
                prev = c;
            }
        }
        if let Some(e) = end {
            out.push((fname, i + 1, e - i + 1));
        }
    }
    out
}

#[test]
fn files_and_functions_stay_small() {
    let files = load();
    let mut big_files = BTreeSet::new();
    let mut big_fns = BTreeSet::new();
    for (m, f) in &files {
        if f.is_test_file {
            continue;
        }
        let file = format!("src/{}", name(m));
        if f.lines > 800 {
            big_files.insert(format!("{file} ({} lines)", f.lines));
        }
        for (fname, line, n) in functions(&f.text) {
            if n > 100 {
                big_fns.insert(format!("{}::{fname} (line {line}, {n} lines)", name(m)));
            }
        }
    }
    let strip = |s: &String| s.split(" (").next().unwrap().to_string();
    let over_files: BTreeSet<String> = big_files.iter().map(strip).collect();
    let over_fns: BTreeSet<String> = big_fns.iter().map(strip).collect();
    let allowed_files: BTreeSet<String> = OVERSIZE_FILES.iter().map(|s| s.to_string()).collect();
    let allowed_fns: BTreeSet<String> = OVERSIZE_FUNCTIONS.iter().map(|s| s.to_string()).collect();
    let new_files: Vec<&String> = big_files
        .iter()
        .filter(|f| !allowed_files.contains(&strip(f)))
        .collect();
    let new_fns: Vec<&String> = big_fns
        .iter()
        .filter(|f| !allowed_fns.contains(&strip(f)))
        .collect();
    let stale: Vec<&String> = allowed_files
        .difference(&over_files)
        .chain(allowed_fns.difference(&over_fns))
        .collect();
    assert!(
        new_files.is_empty() && new_fns.is_empty() && stale.is_empty(),
        "files over 800 lines: {new_files:#?}\nfunctions over 100 lines: {new_fns:#?}\nallow-list entries no longer needed: {stale:#?}"
    );
}

#[test]
fn the_checker_sees_what_it_should() {
    // The checks above would pass vacuously if the parser found nothing: pin a few known facts of the tree.
    let files = load();
    let g = edges(&files);
    let runner = vec!["run".to_string(), "runner".to_string()];
    let deps = &g[&runner];
    assert!(
        deps.contains(&vec!["run".to_string(), "record".to_string()]),
        "{deps:?}"
    );
    assert!(
        deps.contains(&vec!["config".to_string(), "scenario".to_string()]),
        "{deps:?}"
    );
    let f = functions("fn a() {\n    let s = \"}\";\n    if x { y }\n}\nfn b();\n");
    assert_eq!(f, vec![("a".to_string(), 1, 4)]);
}
