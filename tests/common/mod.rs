//! Helpers shared by the integration tests that drive the `wiremesh` binary (`mod common;` in each
//! test file: Cargo does not build `tests/common/mod.rs` as a test crate of its own).

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `wiremesh` binary built for these tests in `dir` with `args`.
pub fn wiremesh(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wiremesh")).current_dir(dir).args(args).output().expect("run wiremesh")
}

/// Runs a command that must succeed; returns its standard output.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = wiremesh(dir, args);
    assert!(out.status.success(), "wiremesh {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail with exit status 1 and an error of `code`; returns its standard error.
pub fn fails(dir: &Path, args: &[&str], code: &str) -> String {
    let out = wiremesh(dir, args);
    assert_eq!(out.status.code(), Some(1), "wiremesh {args:?} should fail");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.starts_with(&format!("wiremesh: error[{code}]: ")), "{stderr}");
    stderr
}
