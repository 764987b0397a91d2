//! Every relative link of the Markdown guides resolves: the file (or folder) exists, and
//! an `#anchor` into a Markdown file names one of its headings, by GitHub's rules (lower
//! case, spaces to `-`, punctuation dropped, `-1`, `-2` for repeated headings). References
//! to a guide's anchor from code, scripts and configuration (`docs/api.md#search` in a
//! comment) are held to the same rule, so moving a section cannot strand a pointer.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use crate::root;

/// The Markdown files whose links must resolve, relative to the repository's root.
pub fn guides() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = [
        "README.md",
        "SECURITY.md",
        "bench/README.md",
        "migrations/README.md",
        "sdk/README.md",
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .filter_map(|path| path.strip_prefix(root()).ok().map(Path::to_path_buf))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The folders whose files may point at a guide's anchor in prose or comments.
const SOURCES: [&str; 8] = [
    "server/src",
    "server/tests",
    "contract-tests",
    "sdk/src",
    "bench/src",
    ".ci",
    "deploy",
    "migrations",
];

/// GitHub's anchor for a heading's text.
pub fn slug(heading: &str) -> String {
    plain(heading)
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// A heading's text as GitHub renders it: links reduced to their text, HTML tags dropped.
fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(['[', '<']) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if tail.starts_with('<') {
            match tail.find('>') {
                Some(end) => rest = &tail[end + 1..],
                None => {
                    out.push_str(tail);
                    rest = "";
                }
            }
            continue;
        }
        // `[text](target)`: keep the text.
        match (tail.find("]("), tail.find(')')) {
            (Some(mid), Some(end)) if mid < end => {
                out.push_str(&tail[1..mid]);
                rest = &tail[end + 1..];
            }
            _ => {
                out.push('[');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out.trim().trim_end_matches('#').trim().to_owned()
}

/// The lines of a Markdown text outside fenced code blocks, with their numbers.
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(open), Some(m)) if open == m => fence = None,
            (None, None) => out.push((i + 1, line)),
            _ => {}
        }
    }
    out
}

/// Every anchor a Markdown text defines: its headings' slugs (repeats numbered as GitHub
/// numbers them) and explicit `<a id="...">` / `<a name="...">` anchors.
pub fn anchors(text: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    for (_, line) in prose(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            let base = slug(&line[hashes..]);
            let mut anchor = base.clone();
            let mut n = 0;
            while out.contains(&anchor) {
                n += 1;
                anchor = format!("{base}-{n}");
            }
            out.insert(anchor);
        }
        for attr in ["id=\"", "name=\""] {
            let mut rest = line;
            while let Some(start) = rest.find(attr) {
                rest = &rest[start + attr.len()..];
                if let Some(end) = rest.find('"') {
                    out.insert(rest[..end].to_owned());
                }
            }
        }
    }
    out
}

/// A line with its code spans blanked out, so an example in backticks is not a link.
fn without_code(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
            out.push(' ');
        } else {
            out.push(if in_code { ' ' } else { c });
        }
    }
    out
}

/// The targets of a Markdown text's links and images (`[text](target)`, `![alt](target)`,
/// `[label]: target`), with their line numbers.
pub fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (number, line) in prose(text) {
        let line = without_code(line);
        let mut rest = line.as_str();
        while let Some(start) = rest.find("](") {
            let tail = &rest[start + 2..];
            let mut depth = 0;
            let mut end = tail.len();
            for (i, c) in tail.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' if depth == 0 => {
                        end = i;
                        break;
                    }
                    ')' => depth -= 1,
                    _ => {}
                }
            }
            let target = tail[..end].trim();
            // `<target>` and `target "title"`.
            let target = target
                .strip_prefix('<')
                .and_then(|t| t.split_once('>').map(|(t, _)| t))
                .unwrap_or_else(|| target.split_whitespace().next().unwrap_or_default());
            out.push((number, target.to_owned()));
            rest = &tail[end.min(tail.len())..];
        }
        // Reference definitions: `[label]: target`.
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            if let Some((_, target)) = trimmed.split_once("]: ") {
                let target = target.trim();
                let target = target
                    .strip_prefix('<')
                    .and_then(|t| t.split_once('>').map(|(t, _)| t))
                    .unwrap_or_else(|| target.split_whitespace().next().unwrap_or_default());
                out.push((number, target.to_owned()));
            }
        }
    }
    out
}

fn is_external(target: &str) -> bool {
    target.is_empty()
        || target.starts_with("//")
        || target.split_once(':').is_some_and(|(scheme, _)| {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        })
}

/// `a/b/../c` as `a/c`, without touching the file system.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// What is wrong with a link to `target` from the file `from` (relative to `root`), if
/// anything.
pub fn check(root: &Path, from: &Path, target: &str) -> Option<String> {
    if is_external(target) {
        return None;
    }
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    let file = if path.is_empty() {
        from.to_path_buf()
    } else {
        normalise(&from.parent().unwrap_or(Path::new("")).join(path))
    };
    let full = root.join(&file);
    if !full.exists() {
        return Some(format!("{} does not exist", file.display()));
    }
    match anchor {
        Some(anchor) if file.extension().is_some_and(|e| e == "md") => {
            let text = std::fs::read_to_string(&full).unwrap_or_default();
            (!anchors(&text).contains(anchor))
                .then(|| format!("{} has no heading for #{anchor}", file.display()))
        }
        _ => None,
    }
}

/// The broken links of the guides, as `file:line: target: what is wrong`.
pub fn broken_in_guides(root: &Path, files: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            out.push(format!("{}: cannot be read", file.display()));
            continue;
        };
        for (line, target) in links(&text) {
            if let Some(problem) = check(root, file, &target) {
                out.push(format!("{}:{line}: ({target}): {problem}", file.display()));
            }
        }
    }
    out
}

/// References such as `docs/api.md#search` or `SECURITY.md#operator-key` in a source
/// file's text: a guide's path from the repository's root, then an anchor.
pub fn anchored_references(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find(".md#") {
            let before = &rest[..at];
            let start = before
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || "/_.-".contains(c)))
                .map_or(0, |p| p + 1);
            let after = &rest[at + 4..];
            let end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(after.len());
            if start < at {
                out.push((i + 1, format!("{}.md#{}", &before[start..], &after[..end])));
            }
            rest = &after[end..];
        }
    }
    out
}

/// The broken anchored references of the source folders' files.
pub fn broken_in_sources(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            // Installed tools (`.ci/node`, ignored by git) are not ours to check.
            let installed = path
                .file_name()
                .is_some_and(|n| n == "node" || n == "node_modules");
            if path.is_dir() && !installed {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for folder in SOURCES {
        walk(&root.join(folder), &mut files);
    }
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // not text
        };
        let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        for (line, reference) in anchored_references(&text) {
            // Relative to the repository's root, as prose names files.
            if let Some(problem) = check(root, Path::new(""), &reference) {
                out.push(format!(
                    "{}:{line}: {reference}: {problem}",
                    relative.display()
                ));
            }
        }
    }
    out
}

/// The names a guide gives in backticks in snake_case, four words at least (test names,
/// mostly; `*` for a part that varies), with their line numbers.
pub fn named_tests(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for (n, span) in line.split('`').enumerate() {
            let name_like = span
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '*');
            if n % 2 == 1 && name_like && span.matches('_').count() >= 3 {
                out.push((i + 1, span.to_owned()));
            }
        }
    }
    out
}

/// Every word (a run of letters, digits and `_`) of the workspace's Rust and SQL files,
/// and their names: test functions, and what else a guide names in backticks (SQL
/// functions, metrics, fields, migrations).
pub fn source_words(root: &Path) -> HashSet<String> {
    fn walk(dir: &Path, out: &mut HashSet<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("target") {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs" || e == "sql") {
                if let Some(stem) = path.file_stem() {
                    out.insert(stem.to_string_lossy().into_owned());
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                out.extend(
                    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .filter(|w| w.contains('_'))
                        .map(str::to_owned),
                );
            }
        }
    }
    let mut out = HashSet::new();
    for folder in [
        "server",
        "contract-tests",
        "sdk",
        "xtask",
        "bench",
        "migrations",
    ] {
        walk(&root.join(folder), &mut out);
    }
    out
}

/// Whether `pattern` (with `*` for any run of characters) names one of `names`.
fn names_one(pattern: &str, names: &HashSet<String>) -> bool {
    match pattern.split_once('*') {
        None => names.contains(pattern),
        Some((head, tail)) => names
            .iter()
            .any(|n| n.len() > head.len() + tail.len() && n.starts_with(head) && n.ends_with(tail)),
    }
}

/// The tests (and other long snake_case names) `file` names that no source holds.
pub fn missing_names(root: &Path, file: &str, words: &HashSet<String>) -> Vec<String> {
    let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
    named_tests(&text)
        .into_iter()
        .filter(|(_, name)| !names_one(name, words))
        .map(|(line, name)| format!("{file}:{line}: {name}"))
        .collect()
}

/// The guides whose named tests must exist.
pub const NAMING_TESTS: [&str; 2] = ["docs/testing.md", "SECURITY.md"];

/// Everything `cargo xtask links` reports: broken links, stale anchored references, and
/// tests named in the docs that are gone.
pub fn problems(root: &Path) -> Vec<String> {
    let mut out = broken_in_guides(root, &guides());
    out.extend(broken_in_sources(root));
    let words = source_words(root);
    for file in NAMING_TESTS {
        out.extend(missing_names(root, file, &words));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_relative_link_of_the_guides_resolves() {
        let broken = broken_in_guides(&root(), &guides());
        assert!(
            broken.is_empty(),
            "broken links (a file that moved, or a heading that was renamed: fix the link, \
             or the heading):\n{}",
            broken.join("\n")
        );
    }

    #[test]
    fn every_reference_to_a_guides_anchor_from_the_code_resolves() {
        let broken = broken_in_sources(&root());
        assert!(
            broken.is_empty(),
            "references to a guide's section that no longer exists:\n{}",
            broken.join("\n")
        );
    }

    /// The tests docs/testing.md and SECURITY.md name (and any other long snake_case name
    /// they give) are in the code, so a renamed or removed test cannot leave a promise
    /// pointing at nothing.
    #[test]
    fn every_test_testing_md_names_exists() {
        let words = source_words(&root());
        let missing: Vec<String> = NAMING_TESTS
            .into_iter()
            .flat_map(|file| missing_names(&root(), file, &words))
            .collect();
        assert!(
            missing.is_empty(),
            "tests named in the docs that no longer exist (renamed or removed: fix the \
             docs):\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn anchors_follow_githubs_rules() {
        assert_eq!(
            slug(" Running several instances: shutdown, rolling upgrades, periodic work"),
            "running-several-instances-shutdown-rolling-upgrades-periodic-work"
        );
        assert_eq!(
            slug(" Behind PgBouncer (transaction pooling)"),
            "behind-pgbouncer-transaction-pooling"
        );
        assert_eq!(
            slug(" The operator key (`MOMENTUM_SECRET_KEY`)"),
            "the-operator-key-momentum_secret_key"
        );
        assert_eq!(slug(" 1. Tenant isolation"), "1-tenant-isolation");
        assert_eq!(slug(" See [the API](api.md) — now"), "see-the-api--now");
        let text = "# A\n\n```\n# not a heading\n```\n\n## A\n\n<a id=\"here\"></a>\n";
        let found = anchors(text);
        for anchor in ["a", "a-1", "here"] {
            assert!(found.contains(anchor), "{anchor} in {found:?}");
        }
        assert!(!found.contains("not-a-heading"));
    }

    #[test]
    fn links_are_found_outside_code_and_checked() {
        let text = "See [a](a.md#x), ![c](c.svg \"title\") and `[no](code.md)`.\n\
                    [ref]: <b.md>\n```\n[in](fence.md)\n```\n[web](https://example.com/(x))";
        let targets: Vec<String> = links(text).into_iter().map(|(_, t)| t).collect();
        assert_eq!(
            targets,
            ["a.md#x", "c.svg", "b.md", "https://example.com/(x)"]
        );

        let dir = std::env::temp_dir().join(format!("xtask-links-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("docs")).unwrap();
        std::fs::write(dir.join("README.md"), "# Top\n\n## Two words\n").unwrap();
        std::fs::write(
            dir.join("docs/guide.md"),
            "# Guide\n\n[ok](../README.md#two-words) [self](#guide) \
             [gone](../README.md#three-words) [missing](nowhere.md) [dir](../docs)\n",
        )
        .unwrap();
        let broken = broken_in_guides(&dir, &[PathBuf::from("docs/guide.md")]);
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(
            broken,
            [
                "docs/guide.md:3: (../README.md#three-words): README.md has no heading for #three-words",
                "docs/guide.md:3: (nowhere.md): docs/nowhere.md does not exist",
            ]
        );
    }

    #[test]
    fn anchored_references_in_code_are_found() {
        let text = "// see docs/operations.md#rolling-upgrades, and (SECURITY.md#operator-key).";
        let found: Vec<String> = anchored_references(text)
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        assert_eq!(
            found,
            [
                "docs/operations.md#rolling-upgrades",
                "SECURITY.md#operator-key"
            ]
        );
    }
}
