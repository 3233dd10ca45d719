//! Helpers shared by the CLI tests: the repository root and running the built `gatehouse`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (the tests run the binary from there, as the docs do).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs the built `gatehouse` with `args` from the repository root.
pub fn gatehouse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

/// Exit code, standard output and standard error, as one text for a snapshot.
pub fn transcript(o: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        o.status.code().unwrap(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `gatehouse` and returns its exit code and [`transcript`].
pub fn run(args: &[&str]) -> (i32, String) {
    let o = gatehouse(args);
    (o.status.code().unwrap(), transcript(&o))
}

/// Runs `gatehouse` and returns its exit code.
pub fn code(args: &[&str]) -> i32 {
    gatehouse(args).status.code().unwrap()
}

/// Compiles `policies/` (at 2026-06-01) into `dir/table.json` and returns that path.
pub fn compiled_policies(dir: &Path) -> String {
    compiled(dir, "policies")
}

/// Compiles the policy directory `policy` (relative to the repository root, at 2026-06-01)
/// into `dir/table.json` and returns that path.
pub fn compiled(dir: &Path, policy: &str) -> String {
    let out = dir.join("table.json");
    let o = gatehouse(&[
        "compile",
        policy,
        "-o",
        out.to_str().unwrap(),
        "--now",
        "2026-06-01T00:00:00Z",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out.to_str().unwrap().to_string()
}
