//! A guard on how secrets are compared: never with `==` or `!=`, which return at the first
//! differing byte and so leak, through timing, how much of a guess was right. Secrets are
//! hashed and compared with `subtle::ConstantTimeEq` (`credential::PresentedKey::matches`, the QR poll
//! secret), and the SDK checks signatures with `hmac`'s constant-time `verify_slice`. This
//! test reads the sources and fails on an `==`/`!=` that touches a value named like a
//! secret, so a new comparison has to use `ct_eq` or say here why it is not a secret.

use std::path::Path;

use crate::source_files::rust_files;

/// Words that name secret material in this code base.
const SECRET_WORDS: &[&str] = &["secret", "hash", "signature", "token", "password"];

/// Comparisons that touch such a name but compare no secret, and why.
const ALLOWED: &[(&str, &str)] = &[
    (
        "secret.len() == SECRET_BYTES * 2",
        "a length check of the key's format; the length of an API key is public",
    ),
    (
        "token.v != 1",
        "a cursor's version: cursors are not secrets",
    ),
    (
        "caller.user_id == Some(token_user)",
        "a session token's owner, a user id: who may revoke it, not the token itself",
    ),
    (
        "token.sort != sort.name() || token.desc != descending",
        "a cursor's sort order: cursors are not secrets",
    ),
    (
        "caller.kind == Kind::SessionToken",
        "the kind of credential that called (an enum), not the credential itself",
    ),
];

/// The lines of `src` with an `==`/`!=` next to a secret-like name, as `(line, text)`.
fn offences(src: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in src.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        if !(code.contains("==") || code.contains("!=")) {
            continue;
        }
        let lower = code.to_ascii_lowercase();
        if !SECRET_WORDS.iter().any(|w| lower.contains(w)) {
            continue;
        }
        if ALLOWED.iter().any(|(allowed, _)| code.contains(allowed)) {
            continue;
        }
        found.push((n + 1, code.trim().to_owned()));
    }
    found
}

#[test]
fn no_secret_is_compared_with_eq() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = rust_files(&manifest.join("src"));
    files.extend(rust_files(&manifest.join("../sdk/src")));
    assert!(files.len() > 20, "the source trees were not found");
    let mut bad = Vec::new();
    for file in files {
        // The generated client compares no secrets, and this file quotes what it refuses.
        if file.ends_with("auth/ct_guard.rs") || file.ends_with("generated.rs") {
            continue;
        }
        let src = std::fs::read_to_string(&file).expect("read a source file");
        for (line, text) in offences(&src) {
            bad.push(format!("{}:{line}: {text}", file.display()));
        }
    }
    assert!(
        bad.is_empty(),
        "secret-like values compared with ==/!= (use subtle's ct_eq, or add a reasoned entry \
         to ALLOWED):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_guard_catches_a_plain_comparison() {
    let src = "if hash_secret(given) == row.secret_hash {\n    ok()\n}";
    assert_eq!(
        offences(src),
        vec![(1, "if hash_secret(given) == row.secret_hash {".to_owned())]
    );
    assert_eq!(offences("if presented_token != stored {").len(), 1);
    assert!(offences("if hash_secret(given).ct_eq(&row.secret_hash).into() {").is_empty());
    assert!(offences("if count == 3 {").is_empty());
    assert!(offences("// a == on a secret in a comment").is_empty());
}
