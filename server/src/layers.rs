//! A guard on the direction of imports inside the server. DESIGN.md §1 orders the
//! modules top to bottom — `startup`/`config`, then `api/` (HTTP only), then the
//! application layer, then events, `webhooks/`, `ratelimit/` and `auth/`, then `db/` (SQL
//! only), then `domain/` and `error.rs` — and imports run only down. An import that runs
//! back up closes a cycle, and the modules in a cycle can no longer be read, tested or
//! changed one without the other. This test reads every file under `src`, collects the
//! module paths each names, builds the graph between the top-level modules and the graph
//! between the submodules of `db/`, and fails on a cycle in either, printing the cycle
//! and the lines that make each of its arrows.
//!
//! What counts as an arrow from a file's module: a `crate::…` or `super::…` path in its
//! code (in a `use` tree, grouped or not, or written inline), tests included — a test
//! that needs a module above its own is an arrow up too. Comments and string literals
//! are skipped. A submodule's path through a name its parent re-exports
//! (`super::TenantTx`, which `db/mod.rs` takes from `tenant_tx`) counts as an arrow to the
//! submodule that defines it; the parent's own items (`db::connect`) and the parent
//! itself are not a node, since a parent declares every child and would otherwise close a
//! cycle with each. Not seen: a path that goes through a name an earlier `use` brought
//! into scope (`use crate::db;` then `db::leads::…` shows as an arrow to `db`, not to
//! `db::leads`), and paths built by macros from pieces.
//!
//! It must never be weakened to pass: break the cycle instead (move the shared piece
//! down, or pass it in from above).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::source_files::rust_files;

/// The folder modules whose submodules must not form a cycle either.
const WITHIN: &[&str] = &["db"];

/// An arrow between two modules, with the places (`file:line`) that make it.
type Graph = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// `src` with comments, string literals and character literals replaced by spaces, line
/// breaks kept: what is left is code, on the same lines.
fn code_only(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let start = i;
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some(pounds) = raw_string_start(&chars, i) {
            // r"…", r#"…"#, br#"…"#: no escapes; ends at a quote and as many pounds.
            i += usize::from(c == 'b') + 1 + pounds + 1;
            while i < chars.len() {
                let closes = chars[i] == '"'
                    && chars.len() > i + pounds
                    && chars[i + 1..=i + pounds].iter().all(|&h| h == '#');
                i += 1;
                if closes {
                    i += pounds;
                    break;
                }
            }
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A character literal ('"', '\'', '\u{7f}'); any other quote opens a lifetime.
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else {
            out.push(c);
            i += 1;
            continue;
        }
        let end = i.min(chars.len());
        out.extend(
            chars[start..end]
                .iter()
                .map(|&c| if c == '\n' { '\n' } else { ' ' }),
        );
        i = end;
    }
    out
}

/// The number of `#` after `r` when a raw string literal starts at `i`.
fn raw_string_start(chars: &[char], i: usize) -> Option<usize> {
    let ident = |c: &char| c.is_alphanumeric() || *c == '_';
    let after_prefix = match chars[i] {
        'r' => i + 1,
        'b' if chars.get(i + 1) == Some(&'r') => i + 2,
        _ => return None,
    };
    if i > 0 && ident(&chars[i - 1]) {
        return None;
    }
    let pounds = chars[after_prefix..]
        .iter()
        .take_while(|&&c| c == '#')
        .count();
    (chars.get(after_prefix + pounds) == Some(&'"')).then_some(pounds)
}

/// The paths of a `use` tree (or an inline path) starting at `at`, just after its
/// leading `crate::` or `super::`: `db::{self, leads::Lead}` gives `[db, self]` and
/// `[db, leads, Lead]`.
fn path_tree(code: &[u8], at: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let mut i = skip_space(code, at);
    if code.get(i) == Some(&b'{') {
        i += 1;
        loop {
            i = skip_space(code, i);
            while code.get(i) == Some(&b',') {
                i = skip_space(code, i + 1);
            }
            match code.get(i) {
                Some(b'}') => return i + 1,
                None => return i,
                Some(_) => {
                    let before = i;
                    i = path_tree(code, i, prefix.clone(), out);
                    if i == before {
                        // Not a path: stop here rather than loop.
                        return i;
                    }
                    // `as alias`
                    let after = skip_space(code, i);
                    if code[after..].starts_with(b"as ") {
                        i = word_end(code, skip_space(code, after + 3));
                    }
                }
            }
        }
    }
    let end = if code.get(i) == Some(&b'*') {
        i + 1
    } else {
        word_end(code, i)
    };
    if end == i {
        if !prefix.is_empty() {
            out.push(prefix);
        }
        return i;
    }
    let mut path = prefix;
    path.push(String::from_utf8_lossy(&code[i..end]).into_owned());
    let after = skip_space(code, end);
    if code[after..].starts_with(b"::") {
        let next = skip_space(code, after + 2);
        if code
            .get(next)
            .is_some_and(|&b| b == b'{' || b == b'*' || is_ident(b))
        {
            return path_tree(code, next, path, out);
        }
    }
    out.push(path);
    end
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn skip_space(code: &[u8], mut i: usize) -> usize {
    while code.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

fn word_end(code: &[u8], mut i: usize) -> usize {
    while code.get(i).copied().is_some_and(is_ident) {
        i += 1;
    }
    i
}

/// One module path named in a file: the module of the place that names it (the file's,
/// or an inline `mod` inside it), the path resolved from the crate root, and its line.
#[derive(Debug, PartialEq)]
struct Named {
    from: Vec<String>,
    path: Vec<String>,
    line: usize,
}

/// Every `crate::…` and `super::…` path in `src`, the source of the module `module`
/// (`["db", "leads"]` for `src/db/leads.rs`), resolved from the crate root.
fn named_paths(module: &[String], src: &str) -> Vec<Named> {
    let code = code_only(src);
    let code = code.as_bytes();
    let mut found = Vec::new();
    // Inline modules open at the brace depth given, inside this file.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < code.len() {
        match code[i] {
            b'{' => depth += 1,
            b'}' => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            b if is_ident(b) && (i == 0 || !is_ident(code[i - 1])) => {
                let end = word_end(code, i);
                let word = &code[i..end];
                let after_path = i >= 2 && &code[i - 2..i] == b"::";
                if word == b"mod" {
                    let name_at = skip_space(code, end);
                    let name_end = word_end(code, name_at);
                    let brace = skip_space(code, name_end);
                    if name_end > name_at && code.get(brace) == Some(&b'{') {
                        let name = String::from_utf8_lossy(&code[name_at..name_end]);
                        inline.push((name.into_owned(), depth + 1));
                        i = brace;
                        continue;
                    }
                } else if (word == b"crate" || word == b"super")
                    && !after_path
                    && code[end..].starts_with(b"::")
                {
                    let mut here: Vec<String> = module.to_vec();
                    here.extend(inline.iter().map(|(name, _)| name.clone()));
                    let line = code[..i].iter().filter(|&&b| b == b'\n').count() + 1;
                    let mut paths = Vec::new();
                    let first = String::from_utf8_lossy(word).into_owned();
                    path_tree(code, end + 2, vec![first], &mut paths);
                    for path in paths {
                        let mut rest = path.into_iter();
                        // `crate::x` from the root; `super::x` (and `super::super::x`) one
                        // level up from here per `super`.
                        let mut resolved = match rest.next().as_deref() {
                            Some("crate") => Vec::new(),
                            _ => here[..here.len().saturating_sub(1)].to_vec(),
                        };
                        let mut rest = rest.peekable();
                        while rest.next_if(|s| s == "super").is_some() {
                            resolved.pop();
                        }
                        resolved.extend(rest);
                        found.push(Named {
                            from: here.clone(),
                            path: resolved,
                            line,
                        });
                    }
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// The names a folder module's `mod.rs` takes from its children (`pub use
/// tenant_tx::TenantTx;`), mapped to the child that defines them. A private `use` counts
/// too: children reach it as `super::Name` all the same.
fn reexports(folder: &str, mod_rs: &str, children: &BTreeSet<String>) -> BTreeMap<String, String> {
    let code = code_only(mod_rs);
    let code = code.as_bytes();
    let mut out = BTreeMap::new();
    let mut at = 0;
    while let Some(found) = find(code, b"use ", at) {
        at = found + 1;
        if found > 0 && is_ident(code[found - 1]) {
            continue;
        }
        let mut paths = Vec::new();
        path_tree(code, found + b"use ".len(), Vec::new(), &mut paths);
        for path in paths {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            let path = path
                .strip_prefix(&["self"])
                .or_else(|| path.strip_prefix(&["crate", folder]))
                .unwrap_or(&path);
            if let [child, _, ..] = path {
                if children.contains(*child) {
                    let name = path[path.len() - 1];
                    out.insert(name.to_owned(), (*child).to_owned());
                }
            }
        }
    }
    out
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The modules a file or folder under `dir` makes: `x.rs` and `x/` give `x`.
fn children(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("read a source folder") {
        let path = entry.expect("a folder entry").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.is_dir() || path.extension().is_some_and(|e| e == "rs") {
            out.insert(stem.to_owned());
        }
    }
    out.remove("mod");
    out.remove("lib");
    out.remove("main");
    out
}

/// The module a source file is (`db/leads.rs` → `["db", "leads"]`, `api/mod.rs` →
/// `["api"]`); `None` for the crate roots, which only declare modules.
fn module_of(relative: &Path) -> Option<Vec<String>> {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    match parts.as_slice() {
        [root] if root == "lib" || root == "main" => None,
        _ => Some(parts),
    }
}

/// The arrows between the top-level modules, and within each folder of [`WITHIN`].
fn graphs(src_dir: &Path) -> (Graph, BTreeMap<&'static str, Graph>) {
    let top = children(src_dir);
    let folders: BTreeMap<&str, (BTreeSet<String>, BTreeMap<String, String>)> = WITHIN
        .iter()
        .map(|&folder| {
            let dir = src_dir.join(folder);
            let kids = children(&dir);
            let mod_rs = std::fs::read_to_string(dir.join("mod.rs")).expect("read a mod.rs");
            let names = reexports(folder, &mod_rs, &kids);
            (folder, (kids, names))
        })
        .collect();
    let mut top_graph = Graph::new();
    let mut within: BTreeMap<&'static str, Graph> =
        WITHIN.iter().map(|&f| (f, Graph::new())).collect();
    let add = |graph: &mut Graph, from: &str, to: &str, at: String| {
        if from != to {
            let places = graph
                .entry(from.to_owned())
                .or_default()
                .entry(to.to_owned())
                .or_default();
            // A grouped `use` names a module once per item: one place is enough.
            if places.last() != Some(&at) {
                places.push(at);
            }
        }
    };
    for file in rust_files(src_dir) {
        let relative = file.strip_prefix(src_dir).expect("a file under src");
        let Some(module) = module_of(relative) else {
            continue;
        };
        let src = std::fs::read_to_string(&file).expect("read a source file");
        for named in named_paths(&module, &src) {
            let at = format!("{}:{}", relative.display(), named.line);
            let (Some(from), Some(to)) = (named.from.first(), named.path.first()) else {
                continue;
            };
            if !top.contains(to) {
                continue;
            }
            add(&mut top_graph, from, to, at.clone());
            for (&folder, (kids, names)) in &folders {
                if from != folder || to != folder {
                    continue;
                }
                // The parent itself (its `mod.rs`, inline modules in it) is not a node.
                let Some(from_child) = named.from.get(1).filter(|c| kids.contains(*c)) else {
                    continue;
                };
                let to_child = match named.path.get(1) {
                    Some(name) if kids.contains(name) => name,
                    Some(name) => match names.get(name) {
                        Some(child) => child,
                        None => continue,
                    },
                    None => continue,
                };
                let graph = within.get_mut(folder).expect("a folder of WITHIN");
                add(graph, from_child, to_child, at.clone());
            }
        }
    }
    (top_graph, within)
}

/// Every elementary cycle of `graph`, each listed from its smallest node, at most `cap`.
fn cycles(graph: &Graph, cap: usize) -> Vec<Vec<String>> {
    fn walk(
        graph: &Graph,
        start: &str,
        path: &mut Vec<String>,
        out: &mut Vec<Vec<String>>,
        cap: usize,
    ) {
        let last = path.last().expect("a path starts somewhere").clone();
        for next in graph
            .get(&last)
            .into_iter()
            .flat_map(|arrows| arrows.keys())
        {
            if out.len() >= cap {
                return;
            }
            if next == start {
                out.push(path.clone());
            } else if next.as_str() > start && !path.contains(next) {
                path.push(next.clone());
                walk(graph, start, path, out, cap);
                path.pop();
            }
        }
    }
    let mut out = Vec::new();
    for start in graph.keys() {
        walk(graph, start, &mut vec![start.clone()], &mut out, cap);
    }
    out
}

/// A report of `graph`'s cycles: each cycle, then every arrow in one, with where it is
/// written. Empty when there is none.
fn report(graph: &Graph) -> String {
    const CAP: usize = 50;
    let found = cycles(graph, CAP);
    if found.is_empty() {
        return String::new();
    }
    let mut text = String::new();
    if found.len() == CAP {
        text.push_str(&format!("  (the first {CAP} cycles)\n"));
    }
    let mut arrows = BTreeSet::new();
    for cycle in &found {
        text.push_str(&format!(
            "  cycle: {} -> {}\n",
            cycle.join(" -> "),
            cycle[0]
        ));
        for (i, from) in cycle.iter().enumerate() {
            arrows.insert((from.clone(), cycle[(i + 1) % cycle.len()].clone()));
        }
    }
    text.push_str("  the arrows in them, and the lines that make each:\n");
    for (from, to) in arrows {
        let places = &graph[&from][&to];
        let shown: Vec<&str> = places.iter().take(6).map(String::as_str).collect();
        let more = places.len().saturating_sub(shown.len());
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        text.push_str(&format!("    {from} -> {to}: {}{more}\n", shown.join(", ")));
    }
    text
}

fn src_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn the_top_level_modules_import_one_another_without_a_cycle() {
    let (top, _) = graphs(&src_dir());
    // The reader must actually see the tree's imports, or it proves nothing.
    for (from, to) in [
        ("api", "app"),
        ("app", "db"),
        ("db", "domain"),
        ("startup", "api"),
    ] {
        assert!(
            top.get(from).is_some_and(|arrows| arrows.contains_key(to)),
            "the reader did not see {from} -> {to}: {top:?}"
        );
    }
    let found = report(&top);
    assert!(
        found.is_empty(),
        "imports between the top-level modules of server/src form cycles; DESIGN.md §1 \
         has them run one way, top to bottom (move the shared piece down, or pass it in \
         from above):\n{found}"
    );
}

#[test]
fn the_submodules_of_db_import_one_another_without_a_cycle() {
    let (_, within) = graphs(&src_dir());
    for (folder, graph) in within {
        assert!(
            graph.len() > 5,
            "the reader saw almost nothing in {folder}/: {graph:?}"
        );
        let found = report(&graph);
        assert!(
            found.is_empty(),
            "imports between the submodules of {folder}/ form cycles (move the shared \
             piece into the lower one, or into a module of its own):\n{found}"
        );
    }
}

#[test]
fn the_reader_sees_grouped_relative_and_inline_paths_and_skips_the_rest() {
    let module = |s: &str| s.split('/').map(str::to_owned).collect::<Vec<_>>();
    let src = r##"
use crate::db::{self, leads::{Lead, LeadRow as Row}, TenantTx};
use super::pipelines::StageRow;
// use crate::api::not_a_dependency;
/* crate::webhooks::neither /* nested */ crate::webhooks::nor */
const TEXT: &str = "crate::startup::not_code";
const RAW: &str = r#"crate::config::not_code"#;
const QUOTE: char = '"';
fn f<'a>(x: &'a str) { crate::error::AppError::bad_request(x); }
#[cfg(test)]
mod tests {
    use super::*;
    use super::super::stages;
}
"##;
    let found: Vec<(String, String, usize)> = named_paths(&module("db/leads"), src)
        .into_iter()
        .map(|n| (n.from.join("::"), n.path.join("::"), n.line))
        .collect();
    let expect = |from: &str, path: &str, line: usize| (from.to_owned(), path.to_owned(), line);
    assert_eq!(
        found,
        vec![
            expect("db::leads", "db::self", 2),
            expect("db::leads", "db::leads::Lead", 2),
            expect("db::leads", "db::leads::LeadRow", 2),
            expect("db::leads", "db::TenantTx", 2),
            expect("db::leads", "db::pipelines::StageRow", 3),
            expect("db::leads", "error::AppError::bad_request", 9),
            expect("db::leads::tests", "db::leads::*", 12),
            expect("db::leads::tests", "db::stages", 13),
        ]
    );
}

#[test]
fn a_parent_s_reexports_count_as_arrows_to_the_child_that_defines_them() {
    let kids: BTreeSet<String> = ["statements", "tenant_tx"].map(str::to_owned).into();
    let mod_rs = "pub mod statements;\npub use statements::{\n    query, query_as,\n};\n\
                  use tenant_tx::TenantTx;\npub use sqlx::PgPool;\n\
                  pub use crate::db::statements::prepared_statements;\n";
    let names = reexports("db", mod_rs, &kids);
    assert_eq!(names["query_as"], "statements");
    assert_eq!(names["TenantTx"], "tenant_tx");
    assert_eq!(names["prepared_statements"], "statements");
    assert!(!names.contains_key("PgPool"));
}

#[test]
fn a_cycle_is_found_and_printed_with_the_lines_that_make_it() {
    let mut graph = Graph::new();
    for (from, to, at) in [
        ("api", "startup", "api/x.rs:3"),
        ("startup", "api", "startup.rs:9"),
        ("startup", "db", "startup.rs:10"),
        ("db", "domain", "db/y.rs:1"),
    ] {
        graph
            .entry(from.into())
            .or_default()
            .insert(to.into(), vec![at.into()]);
    }
    assert_eq!(cycles(&graph, 10), vec![vec!["api", "startup"]]);
    let text = report(&graph);
    assert!(text.contains("cycle: api -> startup -> api"), "{text}");
    assert!(text.contains("api -> startup: api/x.rs:3"), "{text}");
    assert!(text.contains("startup -> api: startup.rs:9"), "{text}");
    assert!(!text.contains("domain"), "{text}");
    graph.get_mut("startup").expect("startup").remove("api");
    assert!(report(&graph).is_empty());
}

/// The files of `api/` that still reach `db/` themselves, until their handlers move to
/// `app/`. The list may only shrink.
const API_FILES_STILL_NAMING_DB: &[&str] = &[
    "api/associations.rs",
    "api/batch.rs",
    "api/companies.rs",
    "api/custom_fields.rs",
    "api/events.rs",
    "api/merging.rs",
    "api/search.rs",
    "api/webhooks.rs",
];

#[test]
fn the_api_reaches_the_database_only_through_the_application_layer() {
    let (top, _) = graphs(&src_dir());
    let mut files: BTreeSet<&str> = BTreeSet::new();
    for place in top
        .get("api")
        .and_then(|arrows| arrows.get("db"))
        .into_iter()
        .flatten()
    {
        files.insert(place.split(':').next().unwrap_or(place));
    }
    let unexpected: Vec<&&str> = files
        .iter()
        .filter(|f| !API_FILES_STILL_NAMING_DB.contains(f))
        .collect();
    assert!(
        unexpected.is_empty(),
        "api/ is HTTP only: its handlers call app/, which owns transactions and reaches db/ \
         (re-export from app/ a row type the wire renders); these files name crate::db: \
         {unexpected:?}\n{:?}",
        top["api"].get("db")
    );
    let done: Vec<&&str> = API_FILES_STILL_NAMING_DB
        .iter()
        .filter(|f| !files.contains(**f))
        .collect();
    assert!(
        done.is_empty(),
        "these files no longer name crate::db: take them off API_FILES_STILL_NAMING_DB: {done:?}"
    );
}

#[test]
fn the_application_layer_knows_no_http() {
    let app = src_dir().join("app");
    let mut offenders = Vec::new();
    for file in rust_files(&app) {
        let src = std::fs::read_to_string(&file).expect("read a source file");
        for (n, line) in code_only(&src).lines().enumerate() {
            if line.contains("poem") || line.contains("crate::api") {
                offenders.push(format!("{}:{}", file.display(), n + 1));
            }
        }
    }
    assert!(rust_files(&app).len() > 2, "app/ was not found");
    assert!(
        offenders.is_empty(),
        "app/ takes domain values and returns what it wrote; poem and the wire types stay in \
         api/: {offenders:?}"
    );
}
