//! The guides' links hold: every relative link of README.md, SECURITY.md, the crates'
//! READMEs and `docs/*.md` names a file (or folder) that exists, and every `#anchor` names a
//! heading of its file by GitHub's rules (lower case, spaces to `-`, other punctuation
//! dropped, `-1`, `-2` for repeats). And the tests docs/testing.md and SECURITY.md name are
//! in the code, so renaming a test cannot leave a promise pointing at nothing.
//!
//! Hand-written rather than a Markdown parser: the guides use inline links, reference
//! definitions, ATX headings and fenced code, and those few rules fit in this file, where
//! a parser would be a new dependency (pulldown-cmark is not in the tree).

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

/// The Markdown files whose links must resolve, relative to the repository's root.
pub fn guides(root: &Path) -> Vec<PathBuf> {
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
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| Path::new("docs").join(entry.file_name()))
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The guides whose named tests must exist.
pub const NAMING_TESTS: [&str; 2] = ["docs/testing.md", "SECURITY.md"];

/// GitHub's anchor for a heading's text: links reduced to their text, HTML tags dropped,
/// lower case, spaces to `-`, every other character but letters, digits, `-` and `_`
/// dropped.
pub fn slug(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading.trim().trim_end_matches('#');
    while let Some(start) = rest.find(['[', '<']) {
        text.push_str(&rest[..start]);
        let tail = &rest[start..];
        let skip = if tail.starts_with('<') {
            tail.find('>').map(|end| (String::new(), end + 1))
        } else {
            // `[text](target)`: keep the text.
            match (tail.find("]("), tail.find(')')) {
                (Some(mid), Some(end)) if mid < end => Some((tail[1..mid].to_owned(), end + 1)),
                _ => None,
            }
        };
        let (kept, skipped) = skip.unwrap_or_else(|| (tail[..1].to_owned(), 1));
        text.push_str(&kept);
        rest = &tail[skipped..];
    }
    text.push_str(rest);
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The lines of a Markdown text outside fenced code blocks, numbered from 1.
fn prose(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut fence: Option<&str> = None;
    text.lines().enumerate().filter_map(move |(i, line)| {
        let marker = ["```", "~~~"]
            .into_iter()
            .find(|m| line.trim_start().starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(open), Some(m)) if open == m => fence = None,
            (None, None) => return Some((i + 1, line)),
            _ => {}
        }
        None
    })
}

/// Every anchor a Markdown text defines: its headings' slugs, repeats numbered as GitHub
/// numbers them, and explicit `<a id="...">` / `<a name="...">` anchors.
pub fn anchors(text: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    for (_, line) in prose(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            let base = slug(&line[hashes..]);
            let mut anchor = base.clone();
            for n in 1.. {
                if !out.contains(&anchor) {
                    break;
                }
                anchor = format!("{base}-{n}");
            }
            out.insert(anchor);
        }
        for attr in ["id=\"", "name=\""] {
            for (at, _) in line.match_indices(attr) {
                let value = &line[at + attr.len()..];
                if let Some(end) = value.find('"') {
                    out.insert(value[..end].to_owned());
                }
            }
        }
    }
    out
}

/// `<target>` or `target "title"`: the target alone.
fn bare(target: &str) -> String {
    let target = target.trim();
    target
        .strip_prefix('<')
        .and_then(|t| t.split_once('>').map(|(t, _)| t))
        .unwrap_or_else(|| target.split_whitespace().next().unwrap_or_default())
        .to_owned()
}

/// The targets of a Markdown text's links and images (`[text](target)`, `![alt](target)`,
/// `[label]: target`) outside code, with their line numbers.
pub fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (number, line) in prose(text) {
        // Code spans blanked out, so an example in backticks is not a link.
        let line: String = line
            .split('`')
            .enumerate()
            .map(|(i, part)| {
                if i % 2 == 0 {
                    part.to_owned()
                } else {
                    " ".repeat(part.len() + 2)
                }
            })
            .collect();
        let mut rest = line.as_str();
        while let Some(start) = rest.find("](") {
            let tail = &rest[start + 2..];
            // The target ends at the `)` that closes it; URLs may hold balanced parentheses.
            let mut depth = 0;
            let end = tail
                .char_indices()
                .find(|&(_, c)| {
                    depth += i32::from(c == '(') - i32::from(c == ')');
                    depth < 0
                })
                .map_or(tail.len(), |(i, _)| i);
            out.push((number, bare(&tail[..end])));
            rest = &tail[end..];
        }
        if let Some((_, target)) = line
            .trim_start()
            .strip_prefix('[')
            .and_then(|l| l.split_once("]: "))
        {
            out.push((number, bare(target)));
        }
    }
    out
}

/// Whether a target leaves the repository (`https:`, `mailto:`, `//host`) or is empty.
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

/// What is wrong with a link to `target` from the file `from` (both relative to `root`),
/// if anything.
pub fn check(root: &Path, from: &Path, target: &str) -> Option<String> {
    if is_external(target) {
        return None;
    }
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    let mut file = PathBuf::new();
    let joined = from.parent().unwrap_or(Path::new("")).join(path);
    for component in (if path.is_empty() { from } else { &joined }).components() {
        match component {
            Component::ParentDir => {
                file.pop();
            }
            Component::CurDir => {}
            other => file.push(other),
        }
    }
    if !root.join(&file).exists() {
        return Some(format!("{} does not exist", file.display()));
    }
    let anchor = anchor.filter(|_| file.extension().is_some_and(|e| e == "md"))?;
    let text = std::fs::read_to_string(root.join(&file)).unwrap_or_default();
    (!anchors(&text).contains(anchor))
        .then(|| format!("{} has no heading for #{anchor}", file.display()))
}

/// The broken links of `files`, as `file:line: (target): what is wrong`.
pub fn broken(root: &Path, files: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
        for (line, target) in links(&text) {
            if let Some(problem) = check(root, file, &target) {
                out.push(format!("{}:{line}: ({target}): {problem}", file.display()));
            }
        }
    }
    out
}

/// The names a guide gives in backticks in snake_case with three underscores at least
/// (test names, mostly; `*` for a part that varies), with their line numbers.
pub fn named_tests(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for span in line.split('`').skip(1).step_by(2) {
            let name_like = span
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_*".contains(c));
            if name_like && span.matches('_').count() >= 3 {
                out.push((i + 1, span.to_owned()));
            }
        }
    }
    out
}

/// Every word with an `_` in the workspace's Rust and SQL files, and their names: test
/// functions, and what else a guide names in backticks (SQL functions, metrics, fields,
/// migrations).
pub fn source_words(root: &Path) -> HashSet<String> {
    fn walk(dir: &Path, out: &mut HashSet<String>) {
        for path in std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
        {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs" || e == "sql") {
                // A migration is named by its file.
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

/// The names `file` gives that no source holds, as `file:line: name`.
pub fn missing_names(root: &Path, file: &str, words: &HashSet<String>) -> Vec<String> {
    let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
    named_tests(&text)
        .into_iter()
        .filter(|(_, name)| match name.split_once('*') {
            None => !words.contains(name),
            Some((head, tail)) => !words.iter().any(|w| {
                w.len() > head.len() + tail.len() && w.starts_with(head) && w.ends_with(tail)
            }),
        })
        .map(|(line, name)| format!("{file}:{line}: {name}"))
        .collect()
}

/// Everything `cargo xtask links` reports: broken links and tests named that are gone.
pub fn problems(root: &Path) -> Vec<String> {
    let mut out = broken(root, &guides(root));
    let words = source_words(root);
    for file in NAMING_TESTS {
        out.extend(missing_names(root, file, &words));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root;

    #[test]
    fn every_relative_link_of_the_guides_resolves() {
        let broken = broken(&root(), &guides(&root()));
        assert!(
            broken.is_empty(),
            "broken links (a file that moved, or a heading that was renamed: fix the link \
             or the heading):\n{}",
            broken.join("\n")
        );
    }

    #[test]
    fn every_test_the_guides_name_exists() {
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
        assert_eq!(slug(" a < b"), "a--b");
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
        let found = broken(&dir, &[PathBuf::from("docs/guide.md")]);
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(
            found,
            [
                "docs/guide.md:3: (../README.md#three-words): README.md has no heading for \
                 #three-words",
                "docs/guide.md:3: (nowhere.md): docs/nowhere.md does not exist",
            ]
        );
    }

    #[test]
    fn test_names_are_found_in_backticks_and_matched_with_wildcards() {
        let text =
            "| `a_test_that_exists` | `one_*_per_interval` | `short_name` | `Not_A_Test_x` |";
        let names: Vec<String> = named_tests(text).into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, ["a_test_that_exists", "one_*_per_interval"]);
        let words: HashSet<String> = ["a_test_that_exists", "one_round_per_interval"]
            .map(str::to_owned)
            .into();
        let dir = std::env::temp_dir().join(format!("xtask-names-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("t.md"), format!("{text}\n`a_test_that_is_gone`\n")).unwrap();
        let missing = missing_names(&dir, "t.md", &words);
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(missing, ["t.md:2: a_test_that_is_gone"]);
    }
}
