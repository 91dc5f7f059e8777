//! Build script: stamp the binary with the git commit it was built from, for `cutover --version`.
//!
//! Outside a git checkout (a Docker build context without `.git`, a crates tarball) or without git installed, the
//! commit is "unknown". Cargo reruns this when HEAD moves: `.git/HEAD` (another branch checked out) and the file of
//! the branch it points to (a new commit), found through git itself so worktrees work too.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CUTOVER_GIT_COMMIT={commit}");
    // Only files that exist: cargo reruns the script on every build when a watched path is missing.
    let mut watch = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.push(git(&["rev-parse", "--git-path", &branch]));
        watch.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    }
    for p in watch.into_iter().flatten() {
        if std::path::Path::new(&p).exists() {
            println!("cargo:rerun-if-changed={p}");
        }
    }
}
