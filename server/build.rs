//! Build-time inputs of the server.
//!
//! - `sqlx::migrate!` embeds `migrations/` at compile time, but cargo does not know the
//!   folder is an input: without the first line, a new migration file is missed until
//!   some source file of the server changes, and tests silently run the old set.
//! - The commit the binary is built from, as `MOMENTUM_BUILD_COMMIT`
//!   (`momentum_build_info`'s `commit` label): the variable itself when the build sets it
//!   (a Docker build, whose context has no `.git`, passes it as a build argument), else
//!   `git rev-parse`, else `unknown` (a tarball, or no git on the machine).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    println!("cargo:rerun-if-env-changed=MOMENTUM_BUILD_COMMIT");
    let commit = match std::env::var("MOMENTUM_BUILD_COMMIT") {
        Ok(commit) if !commit.trim().is_empty() => commit.trim().to_owned(),
        _ => {
            // Built again when HEAD moves (a commit, a checkout), not on every build.
            for path in ["HEAD", "logs/HEAD"] {
                if let Some(file) = git(&["rev-parse", "--git-path", path]) {
                    println!("cargo:rerun-if-changed={file}");
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned())
        }
    };
    println!("cargo:rustc-env=MOMENTUM_BUILD_COMMIT={commit}");
}
